/* The Redis address of "redis_url" and PACER_REDIS_URL: redis://,
 * rediss:// (TLS), unix:// (the redis-py form) or a bare socket path, parsed
 * into a plain struct the connection modules in store/ use. Pure; any thread.
 */
#ifndef PACER_CORE_REDIS_URL_H
#define PACER_CORE_REDIS_URL_H

#include <stddef.h>

#include "common/err.h"

/** TLS options of a rediss:// address (docs/REDIS.md "TLS"). Paths are
 *  used as given (relative to the working directory). */
struct pacer_redis_tls {
  int on;                /* 1 for rediss://, else 0 and the rest empty */
  int insecure;          /* 1: no certificate or name check (tests only;
                            logged as a warning at every connect) */
  char ca_file[256];     /* PEM CA bundle to verify the server with, or "":
                            the system's trust store */
  char cert_file[256];   /* PEM client certificate (chain), or "" */
  char key_file[256];    /* PEM key of cert_file, or "" (needs cert_file) */
  char server_name[256]; /* name the certificate must carry and SNI, or "":
                            host */
};

#define PACER_REDIS_SEEDS_MAX     8     /* sentinels or cluster nodes */
#define PACER_REDIS_SENTINEL_PORT 26379 /* a sentinel's default port */
#define PACER_REDIS_SLOTS         16384 /* Redis Cluster hash slots */

/** One node asked first: a sentinel of a redis-sentinel:// address or a
 *  cluster node of a redis-cluster:// one. */
struct pacer_redis_seed {
  char host[256]; /* name or address */
  int port;       /* default PACER_REDIS_SENTINEL_PORT or 6379 */
};

/** Parsed Redis address. */
struct pacer_redis_addr {
  char host[256];             /* host name or address; "" for a unix socket */
  int port;                   /* TCP port, default 6379 */
  char path[256];             /* unix socket path, or "" */
  char user[128];             /* ACL user, or "" */
  char password[256];         /* password, or "" (a secret: never log) */
  int db;                     /* database index, default 0 */
  struct pacer_redis_tls tls; /* rediss:// options */
  /* redis-sentinel:// (master set) and redis-cluster:// (cluster == 1):
   * the nodes to ask, in order; host and port are then empty until store/
   * asks them (docs/REDIS.md "Sentinel", "Redis Cluster"). nseeds == 0
   * for other schemes. */
  int nseeds;
  struct pacer_redis_seed seeds[PACER_REDIS_SEEDS_MAX];
  char master[128]; /* redis-sentinel://: the master's name */
  int cluster;      /* 1 for redis-cluster:// */
  int slot;         /* cluster: the slot of the key prefix's hash tag, set
                       by pacer_redis_addr_route; -1 before */
};

/** Parses url (borrowed): "redis://[[user]:pass@]host[:port][/db]",
 *  "redis-sentinel://[[user]:pass@]host[:port][,host[:port]...]/name[/db]"
 *  (up to 8 sentinels, default port 26379; the password is the master's),
 *  "redis-cluster://[[user]:pass@]host[:port][,host[:port]...][/]" (up
 *  to 8 nodes to ask for the slot map, default port 6379),
 *  "rediss://..." (the same over TLS, default port 6379, with the query
 *  parameters ca_file, cert_file, key_file, server_name and insecure=1),
 *  "unix://[[user]:pass@]/path.sock[?db=N]" (the redis-py form) or a bare
 *  "/path.sock"; user, pass and query values are percent-decoded. Query
 *  parameters are "&"-separated; db is accepted everywhere, the TLS ones
 *  only with rediss://. Returns 0 or PACER_ECONFIG with err
 *  "redis_url: <reason>" (the password never appears in err). */
int pacer_redis_addr_parse(const char *url, struct pacer_redis_addr *addr,
                           struct pacer_error *err);

/** The Redis Cluster hash slot of key[0..n): CRC16 (XMODEM) mod 16384 of
 *  the key, or of the text between the first "{" and the next "}" when
 *  that text is not empty (the hash tag). Pure; any thread. Source:
 *  Redis Cluster specification, "Keys distribution model" and "Hash
 *  tags". */
unsigned pacer_redis_key_slot(const char *key, size_t n);

/** Ties addr (a parsed address) to the key prefix prefix (borrowed):
 *  with redis-cluster://, prefix must hold a hash tag ("{pacer}:"), so
 *  every key of the queue shares one slot, and addr->slot is set to it;
 *  other schemes are left as they are. Returns 0 or PACER_ECONFIG with
 *  err naming the prefix. Pure; any thread. */
int pacer_redis_addr_route(struct pacer_redis_addr *addr, const char *prefix,
                           struct pacer_error *err);

#endif
