/* Rate limits: the "limits" entries of the configuration, which requests
 * each one covers (pacer_limit_matches) and the bucket a request takes
 * from (pacer_limit_key). docs/LIMITS.md is the user's view. Pure; any
 * thread.
 */
#ifndef PACER_CORE_LIMITS_H
#define PACER_CORE_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/gcra.h"

#define PACER_LIMITS_MAX            256    /* limits per configuration */
#define PACER_LIMIT_NAME_MAX        64     /* bytes, excl. NUL */
#define PACER_LIMIT_HOST_MAX        253    /* match.host, bytes, excl. NUL */
#define PACER_LIMIT_PATH_PREFIX_MAX 255    /* bytes, excl. NUL */
#define PACER_LIMIT_HEADER_MAX      64     /* "header:<Name>" name, bytes */
#define PACER_LIMIT_BURST_MAX       100000 /* requests beyond one */
#define PACER_LIMIT_IN_FLIGHT_MAX   100000 /* requests, as concurrency */
#define PACER_LIMIT_KEY_VALUE_MAX   128    /* encoded key value, bytes */
#define PACER_LIMIT_KEY_NONE                                                   \
  "(none)" /* the value of a request without one (pacer_limit_key) */
#define PACER_LIMIT_KEY_SIZE                                                   \
  (PACER_LIMIT_NAME_MAX + 1 + PACER_LIMIT_KEY_VALUE_MAX + 1) /* bytes */

/** What splits one limit into separate buckets ("key" in the config).
 *  Each kind is one row of the kinds[] table in core/limits.c (its name
 *  in the config and where a request's value comes from): a new kind is a
 *  constant here and a row there; docs/LIMITS.md lists them for users. */
enum pacer_limit_key_kind {
  PACER_LIMIT_KEY_GLOBAL = 0, /* "global": one bucket for all (default) */
  PACER_LIMIT_KEY_HOST,       /* "host": one per URL host, lower-cased */
  PACER_LIMIT_KEY_CREDENTIAL, /* "credential": one per job credential */
  PACER_LIMIT_KEY_LIMIT_KEY,  /* "limit_key": one per job limit_key */
  PACER_LIMIT_KEY_HEADER,     /* "header:<Name>": one per header value */
  PACER_LIMIT_KEY_KINDS       /* how many kinds there are (not a kind) */
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

/** Looks up request header name (borrowed) for pacer_limit_key. Returns
 *  its value (borrowed from ctx, valid until pacer_limit_key returns) or
 *  NULL when absent. Matching the name case-insensitively is the
 *  callback's job (RFC 9110 §5.1). */
typedef const char *(*pacer_limit_header_cb)(void *ctx, const char *name);

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
 *  pacer stats; docs/CREDENTIALS.md) or when escaped it exceeds
 * PACER_LIMIT_KEY_VALUE_MAX bytes. The hash is no MAC; a collision only makes
 * two values share a bucket (stricter, never looser). A missing or empty value
 * gives "<name>:(none)" (PACER_LIMIT_KEY_NONE; "(" of a real value is
 * escaped, so none can look like it), one shared bucket named visibly,
 * so such requests are still limited (docs/LIMITS.md).
 *  host, credential, limit_key and header may be NULL; all borrowed.
 *  Returns 0, or PACER_ETOOLARGE when size is too small (out is then ""
 *  when size > 0); PACER_LIMIT_KEY_SIZE bytes always suffice.
 *  Pure; any thread. */
int pacer_limit_key(const struct pacer_limit_cfg *l, const char *host,
                    const char *credential, const char *limit_key,
                    pacer_limit_header_cb header, void *header_ctx, char *out,
                    size_t size);

#define PACER_LIMIT_HASH_KEY_BYTES 32 /* lane-name hash key, bytes */

/** As pacer_limit_key, but a value from a header that carries a secret is
 *  hashed with BLAKE2b keyed with hash_key (PACER_LIMIT_HASH_KEY_BYTES
 *  bytes, borrowed; the deployment's key, store/queue.h
 *  pacer_queue_lane_key), 64 bits as 16 hex digits, so the names in
 *  Redis, stats and metrics cannot be checked against guessed values
 *  without the key. hash_key NULL: the unkeyed hash, as pacer_limit_key.
 *  Pure; any thread. Source: RFC 7693 (BLAKE2), libsodium
 *  crypto_generichash. */
int pacer_limit_key_keyed(const struct pacer_limit_cfg *l, const char *host,
                          const char *credential, const char *limit_key,
                          pacer_limit_header_cb header, void *header_ctx,
                          const unsigned char *hash_key, char *out,
                          size_t size);

/** Writes the "key" text of l (borrowed) as the configuration spells it
 *  ("global", "host", "header:X-Account-Id") into out[0..size). Returns 0,
 *  or PACER_ETOOLARGE (out then "" when size > 0);
 *  PACER_LIMIT_HEADER_MAX + 16 bytes always suffice. Pure; any thread. */
int pacer_limit_key_kind_format(const struct pacer_limit_cfg *l, char *out,
                                size_t size);

#endif
