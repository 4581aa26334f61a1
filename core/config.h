/* Process configuration: one JSON file, every field optional.
 *
 *   {"redis_url": "redis://127.0.0.1:6379/0", "prefix": "pacer:",
 *    "workers": 2, "concurrency": 256, "prefetch_extra": 32,
 *    "lease_ms": 60000, "job_max_bytes": 1048576,
 *    "response_max_bytes": 8388608, "result_body_max_bytes": 65536,
 *    "results_maxlen": 100000, "dead_maxlen": 100000,
 *    "connect_timeout_ms": 10000, "default_timeout_ms": 30000,
 *    "shutdown_grace_ms": 30000, "retry_after_max_ms": 3600000,
 *    "defer_after_ms": 2000, "default_deadline_ms": 86400000,
 *    "throttle_backoff_base_ms": 1000, "throttle_backoff_cap_ms": 300000,
 *    "throttle_backoff_floor_ms": 1000,
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
 *    "throttle_rules": [{"preset": "google-ads",
 *                        "limits": {"developer": "ads-token"}}],
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
 * caller, see pacer_config_apply_env). Pure core: text in, struct out; no
 * file, environment or clock. Reading the file and the secrets it names
 * (files, environment variables) is scheduler/config_load.h's job, which
 * hands the bytes to pacer_config_parse_file and pacer_config_fill_secrets.
 * The "limits" entries are core/limits.h, the Redis address
 * core/redis_url.h.
 *
 * Secrets (client secrets, refresh tokens) are owned strings that are
 * wiped with sodium_memzero before they are freed, and no error message
 * ever quotes one (docs/CREDENTIALS.md).
 */
#ifndef PACER_CORE_CONFIG_H
#define PACER_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/dest_policy.h"
#include "core/gcra.h"
#include "core/limits.h"
#include "core/oauth_token.h"
#include "core/redis_url.h"
#include "core/throttle_rule.h"

#define PACER_CREDS_MAX           256   /* credentials per configuration */
#define PACER_CRED_NAME_MAX       64    /* bytes, excl. NUL */
#define PACER_CRED_HOSTS_MAX      64    /* hosts per credential */
#define PACER_CRED_SCHEME_MAX     32    /* auth scheme token, bytes */
#define PACER_CRED_URL_MAX        2048  /* token_url, bytes */
#define PACER_CRED_CLIENT_ID_MAX  255   /* client_id, bytes */
#define PACER_CRED_SCOPE_MAX      1024  /* scope, bytes */
#define PACER_CRED_SKEW_DEFAULT_S 300   /* refresh_skew_s default, s */
#define PACER_CRED_SKEW_MAX_S     86400 /* refresh_skew_s maximum, s */

/* token_timeout_ms and lock_ttl_ms (docs/CREDENTIALS.md): lock_ttl_ms is
 * at least token_timeout_ms + LOCK_MIN_MARGIN, by default + LOCK_MARGIN. */
#define PACER_CRED_TIMEOUT_DEF_MS     60000   /* token_timeout_ms default */
#define PACER_CRED_TIMEOUT_MIN_MS     1000    /* token_timeout_ms minimum */
#define PACER_CRED_TIMEOUT_MAX_MS     600000  /* token_timeout_ms maximum */
#define PACER_CRED_LOCK_MARGIN_MS     15000   /* default lock margin, ms */
#define PACER_CRED_LOCK_MIN_MARGIN_MS 1000    /* least lock margin, ms */
#define PACER_CRED_LOCK_TTL_MAX_MS    3600000 /* lock_ttl_ms maximum */

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
 *  and by pacer_config_fill_secrets for env and file secrets (NULL
 *  until then). Never log value. Source: RFC 6749 §2.3.1 (client secret),
 *  §6 (refresh token); docs/CREDENTIALS.md. */
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
  uint32_t token_timeout_ms;   /* a token request's total timeout, ms,
                                  default 60000, 1000..600000 */
  uint32_t lock_ttl_ms;        /* refresh lock lease, ms, renewed every
                                  third of it; at least token_timeout_ms +
                                  1000, default token_timeout_ms + 15000 */
  char *authorize_url;         /* authorization endpoint for `pacer cred
                                  authorize` (RFC 6749 §3.1), or NULL */
  char *scopes;                /* scopes to ask for there, joined by
                                  spaces, or NULL (then scope) */
  uint16_t redirect_port;      /* loopback redirect port, 0 = any free one
                                  (RFC 8252 §7.3) */
  char *environment;           /* e.g. "production", or NULL: a 401 from a
                                  host that never accepted a token ends
                                  credential_environment_mismatch */
};

/** Parsed configuration. Strings are owned; free with pacer_config_free. */
struct pacer_config {
  char *redis_url;                /* redis://[user:pass@]host:port[/db] or
                                     unix://[user:pass@]/to.sock[?db=N] */
  char *redis_tls;                /* "redis_tls" object as rediss:// query
                                     parameters, or NULL (core/redis_url.h) */
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
                                     header gets, ms, 3600000 (docs/LIMITS.md) */
  uint32_t defer_after_ms;        /* a job whose lane has no room for longer
                                     waits in the delayed set, ms, 2000 */
  uint64_t done_ttl_ms;           /* life of a job id's done-marker, ms,
                                     86400000; 0 = none (docs/REDIS.md) */
  uint64_t result_ttl_ms;         /* life of a job id's result index entry
                                     (`pacer result`), ms, 86400000; 0 =
                                     none (docs/REDIS.md) */
  uint64_t dead_ttl_ms;           /* life of a dead job's original text kept
                                     for `pacer dead retry`, ms, 604800000;
                                     0 = not kept (docs/REDIS.md) */
  char *log_level;                /* "debug" | "info" | "warn" | "error" */
  char *log;                      /* component spec, e.g. "all,-redis" */
  char *log_format;               /* "logfmt" (default) | "json" */
  char *metrics_listen;           /* "host:port" of the metrics endpoint
                                     (docs/METRICS.md), or NULL: none */
  char *metrics_token;            /* its bearer token, inline (a secret,
                                     wiped), or NULL */
  char *metrics_token_file;       /* file holding the token, or NULL */
  int eviction_refuse;            /* "redis_eviction": "refuse" (1, default) or
                                     "warn" (0): what pacer worker does when Redis'
                                     maxmemory-policy is not noeviction (e2e_eviction) */
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
                                     the operator's own (docs/WORKERS.md) */
  /* A job without deadline_ms must be done this long after its first
   * enqueue, ms, default 86400000 (24 h); 0 = none (docs/LIMITS.md
   * "Deadlines"). */
  uint64_t default_deadline_ms;
  /* Throttle backoff (docs/LIMITS.md "Throttles"), ms: the first pause's
   * ceiling (default 1000), the ceiling's cap (300000) and the shortest
   * pause (1000). */
  uint32_t throttle_backoff_base_ms;
  uint32_t throttle_backoff_cap_ms;
  uint32_t throttle_backoff_floor_ms;
  /* "throttle_rules": responses that mean "slow down" whatever their
   * status, presets expanded (core/throttle_rule.h), owned, or NULL. */
  struct pacer_throttle_rule *throttle_rules;
  size_t nthrottle_rules;
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

#define PACER_CONFIG_MAX_BYTES (1024u * 1024u) /* config text, bytes */

/** Like pacer_config_parse, for text read from a config file whose
 *  st_mode is file_mode: an inline "client_secret", "refresh_token" or
 *  "metrics_token" is refused when group or others may read the file
 *  (file_mode & 044): "credentials.<name>.client_secret: inline secret in
 *  a config file readable by group or others (mode 0644); use
 *  client_secret_env or client_secret_file, or chmod 600 the file".
 *  (pacer_config_parse has no file to check and accepts inline secrets.)
 *  Secrets given as *_env or *_file stay unread: see
 *  pacer_config_fill_secrets. Any thread. */
int pacer_config_parse_file(struct pacer_config *cfg, const char *json,
                            size_t len, unsigned file_mode,
                            struct pacer_error *err);

/* A secret file is read up to this many bytes: one more than a secret and
 * its trailing white space may take, so a longer file is noticed. */
#define PACER_CRED_SECRET_READ_MAX (PACER_OAUTH_TOKEN_MAX + 64) /* bytes */

/** Fetches the bytes of one secret for pacer_config_fill_secrets: the
 *  value of environment variable ref (source PACER_SECRET_ENV) or the
 *  content of the file at path ref (PACER_SECRET_FILE; already joined to
 *  the base directory), ref borrowed. field (borrowed) names the setting
 *  for messages, e.g. "credentials.acme.refresh_token_file". Returns 0
 *  with *value (owned by the caller from then on, malloc'd, NUL at
 *  [*len], wiped before it is freed) and *len, or *value NULL when the
 *  variable is not set; a file is read up to PACER_CRED_SECRET_READ_MAX
 *  bytes. Errors (a file that cannot be read, is not a regular file, or
 *  that group or others may read) return a negative code with err naming
 *  field and the path, never the content. */
typedef int (*pacer_secret_fetch_cb)(void *ctx, enum pacer_secret_source source,
                                     const char *ref, const char *field,
                                     char **value, size_t *len,
                                     struct pacer_error *err);

/** Fills every credential secret given as *_env or *_file with the bytes
 *  fetch(ctx, ...) returns, replacing (and wiping) any earlier value,
 *  after checking them: an environment variable must be set and
 *  non-empty; a file's trailing white space (a final newline) is dropped,
 *  then it must be non-empty and at most PACER_OAUTH_TOKEN_MAX bytes.
 *  Values must be %x20-7E. A file path not starting with "/" is joined to
 *  base_dir (borrowed; NULL or "": left as it is) before fetch sees it.
 *  Returns 0, fetch's error, PACER_ECONFIG with err naming the field and
 *  the variable or path, e.g. "credentials.acme.refresh_token_env:
 *  environment variable ACME_RT is not set" (never the secret), or
 *  PACER_ENOMEM. Buffers that held secrets are wiped. Pure but for what
 *  fetch does; the thread fetch allows. */
int pacer_config_fill_secrets(struct pacer_config *cfg, const char *base_dir,
                              pacer_secret_fetch_cb fetch, void *ctx,
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
 *  non-empty (PACER_REDIS_URL), with the options of "redis_tls" added when
 *  value is a rediss:// URL (its own query parameters win). Returns 0 or
 *  PACER_ENOMEM. */
int pacer_config_apply_env(struct pacer_config *cfg, const char *value);

/** Frees the strings and the limits and credentials arrays in cfg (not
 *  cfg itself), wiping secrets first, NULLs them and sets nlimits and
 *  ncreds to 0. */
void pacer_config_free(struct pacer_config *cfg);

#endif
