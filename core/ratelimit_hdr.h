/* Rate-limit response headers: what quota is left and when it resets.
 *
 * Pure core: no clock, no I/O, no allocation, no JSON library.
 * The worker hands response headers over as a JSON object with lower-case
 * names; the glue feeds each name/value to pacer_ratelimit_headers_set and
 * then calls pacer_ratelimit_parse. Understood families, first one that
 * yields a remaining count or a reset wins (fields are never mixed across
 * families, whose windows may differ):
 *
 *   1. RateLimit (draft-ietf-httpapi-ratelimit-headers-08 and later, a
 *      Structured Fields List) with RateLimit-Policy:
 *        RateLimit: "default";r=0;t=30
 *        RateLimit-Policy: "default";q=100;w=60
 *      With several policies the binding one is the least remaining, then
 *      the latest reset. q and w come from the policy of the same name.
 *   2. RateLimit as a Dictionary (draft -07) with RateLimit-Policy "q;w=":
 *        RateLimit: limit=100, remaining=0, reset=30
 *        RateLimit-Policy: 100;w=60
 *   3. RateLimit-Limit / -Remaining / -Reset (drafts -00 to -06; also
 *      GitLab, Docker Hub "76;w=21600").
 *   4. X-RateLimit-Limit / -Remaining / -Reset (and X-Rate-Limit-*).
 *
 * Reset rule for families 3 and 4, which are seen both as delta seconds and
 * as Unix epoch: v < 10^9 is delta seconds; 10^9 <= v < 10^12 is epoch
 * seconds (10^9 s is 2001-09-09, and no window lasts 31 years); v >= 10^12
 * is epoch milliseconds. An epoch is measured from the response Date when it
 * is valid (skew cancels), else from now. Families 1 and 2 are delta
 * seconds, as their drafts say.
 */
#ifndef PACER_CORE_RATELIMIT_HDR_H
#define PACER_CORE_RATELIMIT_HDR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/retry_after.h"

#define PACER_RATELIMIT_UNKNOWN UINT64_MAX /* any field: not stated */
#define PACER_RATELIMIT_MAX_MS  PACER_RETRY_AFTER_MAX_MS /* ms, saturation */
#define PACER_RATELIMIT_EPOCH_S UINT64_C(1000000000) /* reset >= : epoch s */
#define PACER_RATELIMIT_EPOCH_MS                                               \
  UINT64_C(1000000000000) /* reset >= : epoch ms */

/** Response header values, as borrowed NUL-terminated strings (NULL: not
 *  received). Repeated header lines must already be joined with ", " (RFC
 *  9110 §5.3), as the worker does. Zero-initialise, then fill directly or
 *  through pacer_ratelimit_headers_set. */
struct pacer_ratelimit_headers {
  const char *ratelimit;           /* RateLimit */
  const char *ratelimit_policy;    /* RateLimit-Policy */
  const char *ratelimit_limit;     /* RateLimit-Limit (drafts -00..-06) */
  const char *ratelimit_remaining; /* RateLimit-Remaining */
  const char *ratelimit_reset;     /* RateLimit-Reset */
  const char *x_limit;             /* X-RateLimit-Limit */
  const char *x_remaining;         /* X-RateLimit-Remaining */
  const char *x_reset;             /* X-RateLimit-Reset */
  const char *retry_after; /* Retry-After, for pacer_retry_after_parse */
  const char *date;        /* Date, anchors epoch resets */
};

/** Which header family a struct pacer_ratelimit came from. */
enum pacer_ratelimit_source {
  PACER_RATELIMIT_SRC_NONE = 0,
  PACER_RATELIMIT_SRC_IETF,       /* RateLimit list, draft -08+ */
  PACER_RATELIMIT_SRC_IETF_DICT,  /* RateLimit dictionary, draft -07 */
  PACER_RATELIMIT_SRC_IETF_SPLIT, /* RateLimit-Limit/-Remaining/-Reset */
  PACER_RATELIMIT_SRC_X           /* X-RateLimit-* */
};

/** What the server said about the quota. Each quantity is
 *  PACER_RATELIMIT_UNKNOWN when not stated or not valid. */
struct pacer_ratelimit {
  enum pacer_ratelimit_source source; /* family the fields came from */
  uint64_t remaining;                 /* quota units left in the window */
  uint64_t reset_ms;  /* ms from now until the quota resets, saturating */
  uint64_t limit;     /* quota units per window */
  uint64_t window_ms; /* window length, ms */
};

/** Why pacer_ratelimit_pause_ms paused. */
enum pacer_ratelimit_pause {
  PACER_RATELIMIT_PAUSE_NONE = 0,    /* no pause: use the normal pace */
  PACER_RATELIMIT_PAUSE_RETRY_AFTER, /* Retry-After said so */
  PACER_RATELIMIT_PAUSE_EXHAUSTED    /* remaining 0 until the reset */
};

/** Stores value (borrowed; must outlive *h) in the field of *h (borrowed)
 *  that matches header name (ASCII case-insensitive; "x-rate-limit-*" is an
 *  alias of "x-ratelimit-*").
 *
 *  Returns 1 when stored, 0 when name is not a header this module reads,
 *  PACER_EINVAL when that field is already set (join repeated lines with
 *  ", " first, so a conflicting duplicate is not silently lost). Pure; any
 *  thread. Source: RFC 9110 §5.1 (field names are case-insensitive). */
int pacer_ratelimit_headers_set(struct pacer_ratelimit_headers *h,
                                const char *name, const char *value);

/** Parses the rate-limit headers in *h (borrowed) into *out (borrowed;
 *  always fully written, all UNKNOWN on failure).
 *
 *  now_unix_ms is the wall clock (ms since the Unix epoch) at which the
 *  response arrived; it only serves epoch resets without a valid Date.
 *  reset_ms never comes out shorter than stated: fractional seconds round
 *  up to the next ms. A Structured Field that does not parse (RFC 9651
 *  §4.2) and a plain value that is not a non-negative decimal make that
 *  field unknown; comma-joined duplicates of a plain value count only when
 *  they agree.
 *
 *  Plain counts beyond 10^18 saturate there.
 *
 *  Returns 0 when some family stated anything usable (quota and window
 *  alone included); PACER_ENOTFOUND when none of the headers is present;
 * PACER_EINVAL when present but unusable, with err (borrowed, may be NULL)
 * naming the header, e.g. "X-RateLimit-Remaining: \"lots\" is not a
 * non-negative integer". Pure; any thread. Source:
 * draft-ietf-httpapi-ratelimit-headers-08 §3.1 (RateLimit-Policy q, w) and §4.1
 * (RateLimit r, t); -07 §3.1-§3.5 (dictionary form, integer policies); -06
 * (RateLimit-Limit/-Remaining/-Reset); RFC 9651 §4.2 (parsing Structured
 * Fields: a failure discards the whole field). */
int pacer_ratelimit_parse(const struct pacer_ratelimit_headers *h,
                          uint64_t now_unix_ms, struct pacer_ratelimit *out,
                          struct pacer_error *err);

/** Decides how long to stop sending on the key the response belongs to.
 *
 *  retry_after_ms (borrowed, NULL when Retry-After was absent or invalid) is
 *  the result of pacer_retry_after_parse; rl (borrowed, may be NULL) that of
 *  pacer_ratelimit_parse. Retry-After wins whenever present, even when it is
 *  shorter than the reset. Otherwise a remaining count of 0 with a known
 *  reset pauses until the reset; anything else does not pause. Sets
 *  *pause_ms (borrowed) to the pause in ms (0 for NONE); the caller applies
 *  its configured cap to huge pauses.
 *
 *  Returns which rule applied. Pure; any thread.
 *  Source: RFC 9110 §10.2.3; RFC 6585 §4; draft-ietf-httpapi-ratelimit-
 *  headers-08 §4.1 (r: remaining quota units; t: seconds until reset). */
enum pacer_ratelimit_pause
pacer_ratelimit_pause_ms(const uint64_t *retry_after_ms,
                         const struct pacer_ratelimit *rl, uint64_t *pause_ms);

/** Returns the source's name for logs and stats ("RateLimit",
 *  "X-RateLimit", ...), static storage, never NULL. Any thread. */
const char *pacer_ratelimit_source_name(enum pacer_ratelimit_source source);

#endif
