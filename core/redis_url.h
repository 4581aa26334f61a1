/* The Redis address of "redis_url" and PACER_REDIS_URL: redis://,
 * unix:// (the redis-py form) or a bare socket path, parsed into a plain
 * struct the connection modules in store/ use. Pure; any thread.
 */
#ifndef PACER_CORE_REDIS_URL_H
#define PACER_CORE_REDIS_URL_H

#include "common/err.h"

/** Parsed Redis address. */
struct pacer_redis_addr {
  char host[256];     /* host name or address; "" for a unix socket */
  int port;           /* TCP port, default 6379 */
  char path[256];     /* unix socket path, or "" */
  char user[128];     /* ACL user, or "" */
  char password[256]; /* password, or "" (a secret: never log) */
  int db;             /* database index, default 0 */
};

/** Parses url (borrowed): "redis://[[user]:pass@]host[:port][/db]",
 *  "unix://[[user]:pass@]/path.sock[?db=N]" (the redis-py form) or a bare
 *  "/path.sock"; user and pass are percent-decoded. "rediss://" is refused
 *  (this hiredis has no TLS; run through a TLS tunnel). Returns 0 or
 *  PACER_ECONFIG with err "redis_url: <reason>" (the password never appears
 *  in err). */
int pacer_redis_addr_parse(const char *url, struct pacer_redis_addr *addr,
                           struct pacer_error *err);

#endif
