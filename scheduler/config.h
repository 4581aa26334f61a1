/* Process configuration: one JSON file, every field optional.
 *
 *   {"redis_url": "redis://127.0.0.1:6379/0", "prefix": "pacer:",
 *    "workers": 2, "concurrency": 256, "prefetch_extra": 32,
 *    "lease_ms": 60000, "job_max_bytes": 1048576,
 *    "response_max_bytes": 8388608, "result_body_max_bytes": 65536,
 *    "results_maxlen": 100000, "dead_maxlen": 100000,
 *    "connect_timeout_ms": 10000, "default_timeout_ms": 30000,
 *    "shutdown_grace_ms": 30000, "log_level": "info", "log": "all"}
 *
 * Unknown fields and impossible values are errors naming the field.
 * PACER_REDIS_URL in the environment overrides redis_url (applied by the
 * caller, see pacer_config_apply_env). Pure core: no I/O except
 * pacer_config_load, which reads the file.
 */
#ifndef PACER_SCHEDULER_CONFIG_H
#define PACER_SCHEDULER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/** Parsed configuration. Strings are owned; free with pacer_config_free. */
struct pacer_config {
  char *redis_url;              /* redis://[user:pass@]host:port[/db] or
                                   unix:///path/to.sock[?db=N] */
  char *prefix;                 /* Redis key prefix, default "pacer:" */
  unsigned workers;             /* worker threads, default online CPUs */
  unsigned concurrency;         /* in-flight requests per process, def 256 */
  unsigned prefetch_extra;      /* jobs held beyond concurrency, def 32 */
  uint32_t lease_ms;            /* pending idle before takeover, ms, 60000 */
  size_t job_max_bytes;         /* bytes, default 1 MiB */
  size_t response_max_bytes;    /* decoded response body cap, bytes, 8 MiB */
  size_t result_body_max_bytes; /* body bytes copied into a result, 65536 */
  uint64_t results_maxlen;      /* MAXLEN ~ for results stream, 100000 */
  uint64_t dead_maxlen;         /* MAXLEN ~ for dead stream, 100000 */
  uint32_t connect_timeout_ms;  /* ms, default 10000 */
  uint32_t default_timeout_ms;  /* job timeout when absent, ms, 30000 */
  uint32_t shutdown_grace_ms;   /* in-flight drain deadline, ms, 30000 */
  char *log_level;              /* "debug" | "info" | "warn" | "error" */
  char *log;                    /* component spec, e.g. "all,-redis" */
};

/** Fills cfg with defaults (allocating the default strings). workers
 *  defaults to online CPUs (passed in as ncpu, >= 1). Returns 0 or
 *  PACER_ENOMEM. Free with pacer_config_free. */
int pacer_config_defaults(struct pacer_config *cfg, unsigned ncpu);

/** Parses JSON text json[0..len) (borrowed) over the values already in cfg
 *  (call pacer_config_defaults first). Returns 0, or PACER_ECONFIG with err
 *  set to "<field>: <reason>" (unknown field, wrong type, out of range). On
 *  failure cfg keeps valid (possibly partly updated) values. Any thread. */
int pacer_config_parse(struct pacer_config *cfg, const char *json, size_t len,
                       struct pacer_error *err);

/** Reads path (borrowed) and parses it like pacer_config_parse. File
 *  errors come back as PACER_ECONFIG with "config: <path>: <strerror>". */
int pacer_config_load(struct pacer_config *cfg, const char *path,
                      struct pacer_error *err);

/** Replaces redis_url with value (borrowed, copied) when non-NULL and
 *  non-empty (PACER_REDIS_URL). Returns 0 or PACER_ENOMEM. */
int pacer_config_apply_env(struct pacer_config *cfg, const char *value);

/** Frees the strings in cfg (not cfg itself) and NULLs them. */
void pacer_config_free(struct pacer_config *cfg);

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
 *  "unix:///path.sock[?db=N]" or a bare "/path.sock". "rediss://" is
 *  refused (this hiredis has no TLS; run through a TLS tunnel). Returns 0 or
 *  PACER_ECONFIG with err "redis_url: <reason>" (the password never appears
 *  in err). */
int pacer_redis_addr_parse(const char *url, struct pacer_redis_addr *addr,
                           struct pacer_error *err);

#endif
