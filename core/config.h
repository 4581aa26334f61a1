/* Process configuration: one JSON file, every field optional.
 *
 *   {"redis_url": "redis://127.0.0.1:6379/0", "prefix": "pacer:",
 *    "workers": 2, "concurrency": 256, "prefetch_extra": 32,
 *    "lease_ms": 60000, "job_max_bytes": 1048576,
 *    "response_max_bytes": 8388608, "result_body_max_bytes": 65536,
 *    "results_maxlen": 100000, "dead_maxlen": 100000,
 *    "connect_timeout_ms": 10000, "default_timeout_ms": 30000,
 *    "shutdown_grace_ms": 30000, "retry_after_max_ms": 3600000,
 *    "defer_after_ms": 2000,
 *    "destination_policy": "public_only",
 *    "destination_allow": ["10.1.0.0/16", "fd00:1::/32"],
 *    "log_level": "info", "log": "all", "log_format": "logfmt",
 *    "metrics_listen": "127.0.0.1:9464",
 *    "metrics_token_file": "secrets/metrics.token",
 *    "limits": [{"name": "ads-token", "key": "header:Authorization",
 *                "match": {"host": "*.ads.example", "path_prefix": "/v1/",
 *                          "methods": ["GET", "POST"]},
 *                "rate": "10/s", "burst": 0, "max_in_flight": 8, "cost": 1,
 *                "adaptive": true, "pause_on_429": true}],
 *    "credentials": {"acme": {"token_url": "https://idp.example/token",
 *                             "client_id": "pacer",
 *                             "client_secret_env": "ACME_CLIENT_SECRET",
 *                             "refresh_token_file": "secrets/acme.rt",
 *                             "auth_method": "client_secret_basic",
 *                             "scope": "ads.read", "hosts": ["api.example"],
 *                             "refresh_skew_s": 300, "scheme": "Bearer",
 *                             "lifetime_default_s": 3600}}}
 *
 * Unknown fields and impossible values are errors naming the field
 * (limits[2].rate: "10/fortnight" is not N/s, N/min or N/h).
 * PACER_REDIS_URL in the environment overrides redis_url (applied by the
 * caller, see pacer_config_apply_env). Pure core: no I/O except
 * pacer_config_load, which reads the file, and
 * pacer_config_resolve_secrets, which reads the environment and secret
 * files.
 *
 * Secrets (client secrets, refresh tokens) are owned strings that are
 * wiped with sodium_memzero before they are freed, and no error message
 * ever quotes one (field case C21).
 */
#ifndef PACER_CORE_CONFIG_H
#define PACER_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/dest_policy.h"
#include "core/gcra.h"
#include "core/oauth_token.h"

#define PACER_LIMITS_MAX            256    /* limits per configuration */
#define PACER_LIMIT_NAME_MAX        64     /* bytes, excl. NUL */
#define PACER_LIMIT_HOST_MAX        253    /* match.host, bytes, excl. NUL */
#define PACER_LIMIT_PATH_PREFIX_MAX 255    /* bytes, excl. NUL */
#define PACER_LIMIT_HEADER_MAX      64     /* "header:<Name>" name, bytes */
#define PACER_LIMIT_BURST_MAX       100000 /* requests beyond one */
#define PACER_LIMIT_IN_FLIGHT_MAX   100000 /* requests, as concurrency */
#define PACER_LIMIT_KEY_VALUE_MAX   128    /* encoded key value, bytes */
#define PACER_LIMIT_KEY_SIZE                                                   \
  (PACER_LIMIT_NAME_MAX + 1 + PACER_LIMIT_KEY_VALUE_MAX + 1) /* bytes */

/** What splits one limit into separate buckets ("key" in the config). */
enum pacer_limit_key_kind {
  PACER_LIMIT_KEY_GLOBAL = 0, /* "global": one bucket for all (default) */
  PACER_LIMIT_KEY_HOST,       /* "host": one per URL host, lower-cased */
  PACER_LIMIT_KEY_CREDENTIAL, /* "credential": one per job credential */
  PACER_LIMIT_KEY_LIMIT_KEY,  /* "limit_key": one per job limit_key */
  PACER_LIMIT_KEY_HEADER      /* "header:<Name>": one per header value */
};

/** One entry of the "limits" list: which requests it applies to, how they
 *  are split into buckets, and the rate of each bucket. Plain value, no
 *  pointers (all strings are in-struct). Empty match fields match every
 *  request. Source: GCRA (ITU-T I.371) for the rate; RFC 6585 §4 (429). */
struct pacer_limit_cfg {
  char name[PACER_LIMIT_NAME_MAX + 1];       /* unique, [A-Za-z0-9_.-]{1,64} */
  char match_host[PACER_LIMIT_HOST_MAX + 1]; /* "" = any; exact host or
                                                "*.domain", lower-case */
  char match_path_prefix[PACER_LIMIT_PATH_PREFIX_MAX + 1]; /* "" = any;
                                                              "/..." */
  unsigned match_methods;        /* bit 1u << enum pacer_method; 0 = any */
  enum pacer_limit_key_kind key; /* bucket split, default global */
  char key_header[PACER_LIMIT_HEADER_MAX + 1]; /* Name of "header:<Name>" */
  uint64_t rate_count;          /* requests per rate_period_us, >= 1 */
  uint64_t rate_period_us;      /* 1 s, 1 min or 1 h, us */
  struct pacer_gcra_limit gcra; /* interval from the rate; burst, def 0 */
  uint32_t max_in_flight;       /* requests at once per bucket, 0 = no cap */
  uint32_t cost;                /* units per request, 1..burst + 1, def 1 */
  int adaptive;                 /* AIMD after a 429, default 1 */
  int pause_on_429;             /* pause the bucket on 429, default 1 */
};

#define PACER_CREDS_MAX           256   /* credentials per configuration */
#define PACER_CRED_NAME_MAX       64    /* bytes, excl. NUL */
#define PACER_CRED_HOSTS_MAX      64    /* hosts per credential */
#define PACER_CRED_SCHEME_MAX     32    /* auth scheme token, bytes */
#define PACER_CRED_URL_MAX        2048  /* token_url, bytes */
#define PACER_CRED_CLIENT_ID_MAX  255   /* client_id, bytes */
#define PACER_CRED_SCOPE_MAX      1024  /* scope, bytes */
#define PACER_CRED_SKEW_DEFAULT_S 300   /* refresh_skew_s default, s */
#define PACER_CRED_SKEW_MAX_S     86400 /* refresh_skew_s maximum, s */

/** Where a credential's secret comes from. */
enum pacer_secret_source {
  PACER_SECRET_NONE = 0, /* not configured */
  PACER_SECRET_INLINE,   /* "client_secret"/"refresh_token" in the file */
  PACER_SECRET_ENV,      /* "*_env": an environment variable's value */
  PACER_SECRET_FILE      /* "*_file": a file's content, trailing white
                            space removed */
};

/** One secret of a credential and where it came from. value is owned and
 *  wiped before it is freed; it is set at parse time for an inline secret
 *  and by pacer_config_resolve_secrets for env and file secrets (NULL
 *  until then). Never log value. Source: RFC 6749 §2.3.1 (client secret),
 *  §6 (refresh token); field case C21. */
struct pacer_cred_secret {
  enum pacer_secret_source source;
  char *ref;   /* env variable name or file path (not secret), owned, or
                  NULL for inline and none */
  char *value; /* the secret, 1..PACER_OAUTH_TOKEN_MAX bytes of %x20-7E,
                  owned, or NULL */
};

/** One entry of the "credentials" map: an OAuth2 client whose access
 *  token pacer renews with the refresh_token grant and attaches to
 *  requests for `hosts`. Strings owned by the configuration; free with
 *  pacer_config_free. Source: RFC 6749 §6 (refresh), §2.3.1 (client
 *  authentication), §3.3 (scope); RFC 6750 §2.1 (Authorization header). */
struct pacer_cred_cfg {
  char name[PACER_CRED_NAME_MAX + 1];     /* map key, [A-Za-z0-9_.-]{1,64} */
  char *token_url;                        /* http(s) URL without user:pass@ or
                                             #fragment (RFC 6749 §3.2) */
  char *client_id;                        /* 1..255 bytes of %x20-7E */
  struct pacer_cred_secret client_secret; /* NONE for a public client */
  struct pacer_cred_secret refresh_token; /* NONE: the token must come from
                                             the shared state or `pacer cred
                                             set` */
  enum pacer_oauth_auth auth_method;      /* BASIC (default), POST, or NONE when
                                             no client secret is configured */
  char *scope;                            /* requested scope, or NULL */
  char **hosts;                           /* nhosts lower-cased names or
                                             "*.domain", owned */
  size_t nhosts;                          /* 1..PACER_CRED_HOSTS_MAX */
  uint32_t refresh_skew_s;                /* renew this long before expiry, s,
                                             default 300, 0..86400 */
  char scheme[PACER_CRED_SCHEME_MAX + 1]; /* header scheme, "Bearer" */
  uint32_t lifetime_default_s; /* s, lifetime when nothing else says, 0 =
                                  PACER_OAUTH_LIFETIME_DEFAULT_S */
};

/** Looks up request header name (borrowed) for pacer_limit_key. Returns
 *  its value (borrowed from ctx, valid until pacer_limit_key returns) or
 *  NULL when absent. Matching the name case-insensitively is the
 *  callback's job (RFC 9110 §5.1). */
typedef const char *(*pacer_limit_header_cb)(void *ctx, const char *name);

/** Parsed configuration. Strings are owned; free with pacer_config_free. */
struct pacer_config {
  char *redis_url;                /* redis://[user:pass@]host:port[/db] or
                                     unix://[user:pass@]/to.sock[?db=N] */
  char *prefix;                   /* Redis key prefix, default "pacer:" */
  unsigned workers;               /* worker threads, default online CPUs */
  unsigned concurrency;           /* in-flight requests per process, def 256 */
  unsigned prefetch_extra;        /* jobs held beyond concurrency, def 32 */
  uint32_t lease_ms;              /* pending idle before takeover, ms, 60000 */
  size_t job_max_bytes;           /* bytes, default 1 MiB */
  size_t response_max_bytes;      /* decoded response body cap, bytes, 8 MiB */
  size_t result_body_max_bytes;   /* body bytes copied into a result, 65536 */
  uint64_t results_maxlen;        /* MAXLEN ~ for results stream, 100000 */
  uint64_t dead_maxlen;           /* MAXLEN ~ for dead stream, 100000 */
  uint32_t connect_timeout_ms;    /* ms, default 10000 */
  uint32_t default_timeout_ms;    /* job timeout when absent, ms, 30000 */
  uint32_t shutdown_grace_ms;     /* in-flight drain deadline, ms, 30000 */
  uint32_t retry_after_max_ms;    /* longest pause a Retry-After or reset
                                     header gets, ms, 3600000 (C08) */
  uint32_t defer_after_ms;        /* a job whose lane has no room for longer
                                     waits in the delayed set, ms, 2000 */
  uint64_t done_ttl_ms;           /* life of a job id's done-marker, ms,
                                     86400000; 0 = none (docs/REDIS.md) */
  char *log_level;                /* "debug" | "info" | "warn" | "error" */
  char *log;                      /* component spec, e.g. "all,-redis" */
  char *log_format;               /* "logfmt" (default) | "json" */
  char *metrics_listen;           /* "host:port" of the metrics endpoint
                                     (issue 6), or NULL: none */
  char *metrics_token;            /* its bearer token, inline (a secret,
                                     wiped), or NULL */
  char *metrics_token_file;       /* file holding the token, or NULL */
  int eviction_refuse;            /* "redis_eviction": "refuse" (1, default) or
                                     "warn" (0): what pacer worker does when Redis'
                                     maxmemory-policy is not noeviction (C14) */
  struct pacer_limit_cfg *limits; /* array of nlimits, owned, or NULL */
  size_t nlimits;                 /* entries in limits, <= PACER_LIMITS_MAX */
  struct pacer_cred_cfg *creds;   /* array of ncreds, owned, or NULL */
  size_t ncreds;                  /* entries in creds, <= PACER_CREDS_MAX */
  struct pacer_dest_policy dest_policy; /* "destination_policy": "any"
                                     (default) or "public_only", and
                                     "destination_allow": up to
                                     PACER_DEST_ALLOW_MAX CIDRs permitted
                                     under public_only (only there: with
                                     "any" an allow list is an error). Job
                                     requests only; token_url requests are
                                     the operator's own (CASES C20) */
};

#define PACER_METRICS_TOKEN_MIN 16  /* metrics bearer token, characters */
#define PACER_METRICS_TOKEN_MAX 256 /* ... at most */

/** Returns 1 when token (borrowed, may be NULL) can be the metrics
 *  endpoint's bearer token: an RFC 6750 §2.1 b64token of
 *  PACER_METRICS_TOKEN_MIN..PACER_METRICS_TOKEN_MAX characters, else 0.
 *  Pure; any thread. */
int pacer_config_metrics_token_ok(const char *token);

/** Fills cfg with defaults (allocating the default strings). workers
 *  defaults to online CPUs (passed in as ncpu, >= 1). Returns 0 or
 *  PACER_ENOMEM. Free with pacer_config_free. */
int pacer_config_defaults(struct pacer_config *cfg, unsigned ncpu);

/** Parses JSON text json[0..len) (borrowed) over the values already in cfg
 *  (call pacer_config_defaults first). Returns 0, or PACER_ECONFIG with err
 *  set to "<field>: <reason>" (unknown field, wrong type, out of range). On
 *  failure cfg keeps valid (possibly partly updated) values. A "limits"
 *  list replaces the previous one whole, or on failure leaves it as it
 *  was. Rates are "N/s", "N/min" or "N/h" with 1 <= N and at most one
 *  request per microsecond ("N/m" is refused as ambiguous). Any thread. */
int pacer_config_parse(struct pacer_config *cfg, const char *json, size_t len,
                       struct pacer_error *err);

/** Reads path (borrowed) and parses it like pacer_config_parse, then
 *  resolves credential secrets with pacer_config_resolve_secrets, relative
 *  secret file paths being taken from the config file's directory. File
 *  errors come back as PACER_ECONFIG with "config: <path>: <strerror>".
 *  An inline "client_secret" or "refresh_token" in a file that group or
 *  others may read (mode & 044) is refused: "credentials.<name>.
 *  client_secret: inline secret in a config file readable by group or
 *  others (mode 0644); use client_secret_env or client_secret_file, or
 *  chmod 600 the file". (pacer_config_parse has no file to check and
 *  accepts inline secrets.) The file buffer and the JSON tree are wiped.
 *  Reads the environment: call before threads start. */
int pacer_config_load(struct pacer_config *cfg, const char *path,
                      struct pacer_error *err);

/** Reads every credential secret given as *_env or *_file into its
 *  value, replacing (and wiping) any earlier value. Environment variables
 *  must be set and non-empty. A file path not starting with "/" is taken
 *  relative to base_dir (borrowed; NULL: the working directory); the file
 *  must be a regular file that neither group nor others may read (mode &
 *  044 == 0), at most PACER_OAUTH_TOKEN_MAX bytes once trailing white
 *  space (a final newline) is dropped, non-empty. Values must be %x20-7E.
 *  Returns 0, PACER_ECONFIG with err naming the field and the variable or
 *  path, e.g. "credentials.acme.refresh_token_file: /etc/pacer/rt is
 *  readable by group or others (mode 0640); chmod 600 /etc/pacer/rt" (never
 *  the secret), or PACER_ENOMEM. Buffers that held file content are
 *  wiped. getenv is not thread-safe against setenv: call before threads
 *  start. Not pure (environment and files). */
int pacer_config_resolve_secrets(struct pacer_config *cfg, const char *base_dir,
                                 struct pacer_error *err);

/** Returns the credential called name (borrowed, compared exactly), owned
 *  by cfg (borrowed) and valid until cfg is freed or re-parsed, or NULL
 *  when there is none or name is NULL. Pure; any thread. */
const struct pacer_cred_cfg *
pacer_config_credential(const struct pacer_config *cfg, const char *name);

/** Returns 1 when credential c (borrowed) may send its token to host
 *  (borrowed, a URL host without port; may be NULL), else 0. Matching is
 *  as for limits: case-insensitive, one trailing dot ignored, "*.domain"
 *  covering every name below domain but not domain itself. Pure; any
 *  thread. Source: RFC 6750 §5.3 (do not send tokens to other servers). */
int pacer_cred_host_allowed(const struct pacer_cred_cfg *c, const char *host);

/** Replaces redis_url with value (borrowed, copied) when non-NULL and
 *  non-empty (PACER_REDIS_URL). Returns 0 or PACER_ENOMEM. */
int pacer_config_apply_env(struct pacer_config *cfg, const char *value);

/** Frees the strings and the limits and credentials arrays in cfg (not
 *  cfg itself), wiping secrets first, NULLs them and sets nlimits and
 *  ncreds to 0. */
void pacer_config_free(struct pacer_config *cfg);

/** Returns 1 when the request method, host and path (all borrowed, each
 *  may be NULL) fall under limit l (borrowed), else 0. Methods compare
 *  case-sensitively (RFC 9110 §9.1), hosts case-insensitively with one
 *  trailing dot ignored; "*.example.com" matches every name below
 *  example.com at any depth, not example.com itself. path_prefix is a
 *  plain byte prefix of the path (so "/v1" also covers "/v10"; write "/v1/"
 *  for a segment); a NULL or empty path is "/". A NULL value never matches
 *  a constrained field. Pure; any thread. */
int pacer_limit_matches(const struct pacer_limit_cfg *l, const char *method,
                        const char *host, const char *path);

/** Writes the bucket key of a request under limit l (borrowed) into
 *  out[0..size): "<name>" for key global, else "<name>:<value>", where the
 *  value is the URL host (lower-cased, trailing dot dropped), the job's
 *  credential or limit_key, or the value header(header_ctx, key_header)
 *  returns. The key is Redis- and log-safe: bytes outside A-Z a-z 0-9
 *  - . _ ~ are %XX-escaped, so it never holds spaces, control bytes or the
 *  "{}" of a cluster hash tag. The value is replaced by "#" and 16 hex
 *  digits of a 64-bit hash when it comes from a header that carries a
 *  secret (pacer_header_is_secret: the key shows up in Redis and in
 *  pacer stats, C21) or when escaped it exceeds PACER_LIMIT_KEY_VALUE_MAX
 *  bytes. The hash is no MAC; a collision only makes two values share a
 *  bucket (stricter, never looser). A missing or empty value gives
 *  "<name>:", one shared bucket, so such requests are still limited.
 *  host, credential, limit_key and header may be NULL; all borrowed.
 *  Returns 0, or PACER_ETOOLARGE when size is too small (out is then ""
 *  when size > 0); PACER_LIMIT_KEY_SIZE bytes always suffice.
 *  Pure; any thread. */
int pacer_limit_key(const struct pacer_limit_cfg *l, const char *host,
                    const char *credential, const char *limit_key,
                    pacer_limit_header_cb header, void *header_ctx, char *out,
                    size_t size);

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
