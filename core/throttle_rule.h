/* Throttle rules: responses that mean "slow down" whatever their status,
 * with the limit they pause and where their delay comes from. The
 * "throttle_rules" list of the configuration (docs/LIMITS.md "Throttle
 * rules"); presets for well-known APIs are core/throttle_preset.c.
 *
 *   "throttle_rules": [
 *     {"name": "ads-account",
 *      "match": {"status": [400, 403], "host": "graph.example",
 *                "path_prefix": "/v1/",
 *                "headers": {"X-Usage": {"present": true}},
 *                "body": {"/error/code": {"one_of": [17, 80004]},
 *                         "/error/message": {"contains": "limit"}}},
 *      "pause": "acct",
 *      "delay": [{"header": "Retry-After", "unit": "retry_after"},
 *                {"body": "/error/retryDelay", "unit": "duration"},
 *                {"header": "X-Usage", "pointer": "/0/regain",
 *                 "unit": "minutes"},
 *                {"fixed": "1.5s"}]},
 *     {"preset": "google-ads", "limits": {"developer": "gads-dev"}}]
 *
 * A response matches a rule when every given part matches: its status is
 * in the list, its URL host and path match, every header condition and
 * every body condition holds (a pointer that selects several values holds
 * when one of them does). The first matching rule wins. Its delay is the
 * largest value any delay source yields (0 when none does: the key's
 * backoff applies, core/backoff.h). Pure: text and values in, decisions
 * out; any thread.
 */
#ifndef PACER_CORE_THROTTLE_RULE_H
#define PACER_CORE_THROTTLE_RULE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "core/limits.h"

#define PACER_TR_MAX          64 /* rules per configuration, presets included */
#define PACER_TR_NAME_MAX     64 /* rule name, bytes */
#define PACER_TR_STATUSES_MAX 16 /* statuses per rule */
#define PACER_TR_CONDS_MAX    16 /* header and body conditions per rule */
#define PACER_TR_DELAYS_MAX   8  /* delay sources per rule */

/** How a condition compares the values it selects. */
enum pacer_tr_op {
  PACER_TR_PRESENT = 0, /* the header or the value exists */
  PACER_TR_EQUALS,      /* equal JSON values (a header's text is a string;
                           a number also equals its decimal text) */
  PACER_TR_ONE_OF,      /* equal to one of a list */
  PACER_TR_CONTAINS     /* a string holding the text, or an array holding
                           an equal element */
};

/** One condition on a response header or on the body. */
struct pacer_tr_cond {
  char *header;        /* lower-case header name, owned, or NULL: body */
  char *pointer;       /* RFC 6901 pointer (core/json_pointer.h) into
                          the body or the header's JSON value, owned, or
                          NULL: a header's whole text */
  enum pacer_tr_op op; /* comparison */
  cJSON *values;       /* owned: EQUALS and CONTAINS one value, ONE_OF
                          an array; NULL for PRESENT */
};

/** Units a delay value is read in. */
enum pacer_tr_unit {
  PACER_TR_SECONDS = 0, /* a delay in seconds (fractions round up) */
  PACER_TR_MS,          /* a delay in milliseconds */
  PACER_TR_MINUTES,     /* a delay in minutes */
  PACER_TR_EPOCH_S,     /* a unix time in seconds: the delay is until then */
  PACER_TR_EPOCH_MS,    /* a unix time in milliseconds */
  PACER_TR_HTTP_DATE,   /* an HTTP-date (RFC 9110 §5.6.7) */
  PACER_TR_RETRY_AFTER, /* delay-seconds or HTTP-date (RFC 9110 §10.2.3) */
  PACER_TR_DURATION     /* "40591s", "1.5s", "250ms", "PT47M": see
                           pacer_tr_duration_ms; a number is seconds */
};

/** One place a delay comes from. */
struct pacer_tr_delay {
  char *header;            /* lower-case header name, owned, or NULL */
  char *pointer;           /* pointer into the body (header NULL) or into
                              the header's JSON value, owned, or NULL: the
                              header's text */
  enum pacer_tr_unit unit; /* how the value reads */
  uint64_t fixed_ms;       /* "fixed": this delay, ms (header and pointer
                              NULL) */
};

/** One rule. Owned strings; free with pacer_throttle_rules_free. */
struct pacer_throttle_rule {
  char name[PACER_TR_NAME_MAX + 1];         /* for stats, metrics and logs */
  unsigned statuses[PACER_TR_STATUSES_MAX]; /* 100..599 */
  size_t nstatuses;                         /* 0 = any status */
  char host[PACER_LIMIT_HOST_MAX + 1];      /* "" = any; as limits */
  char path_prefix[PACER_LIMIT_PATH_PREFIX_MAX + 1]; /* "" = any */
  struct pacer_tr_cond conds[PACER_TR_CONDS_MAX];
  size_t nconds;
  char pause[PACER_LIMIT_NAME_MAX + 1]; /* limit to pause, by name; "" =
                                           the lane's 429 bucket */
  struct pacer_tr_delay delays[PACER_TR_DELAYS_MAX];
  size_t ndelays;
};

/** One response, as the rules see it. All borrowed. */
struct pacer_tr_response {
  long status;          /* HTTP status */
  const char *host;     /* URL host, may be NULL */
  const char *path;     /* URL path, may be NULL ("/") */
  const cJSON *headers; /* object of lower-case names to string values,
                           may be NULL (workers/pacer_http.h) */
  const char *body;     /* body bytes, may be NULL */
  size_t body_len;      /* bytes */
};

#define PACER_TR_WHY_MAX 160 /* match description, bytes */

/** What matched. */
struct pacer_tr_match {
  const struct pacer_throttle_rule *rule; /* borrowed, NULL: none */
  int have_delay;                         /* a delay source yielded a value */
  uint64_t delay_ms;                      /* the largest, ms (0 for a time
                                             already passed) */
  char why[PACER_TR_WHY_MAX];             /* "rule <name>: ..." */
};

/** Matches response r (borrowed) against rules[0..n) (borrowed) at
 *  now_unix_ms (wall ms: epoch and date delays count from it). Fills *m
 *  (zeroed when nothing matched). The body is parsed at most once, and
 *  only when a rule with a body condition or body delay got that far.
 *  Returns 1 when a rule matched, else 0. Pure; any thread. */
int pacer_throttle_rules_match(const struct pacer_throttle_rule *rules,
                               size_t n, const struct pacer_tr_response *r,
                               uint64_t now_unix_ms, struct pacer_tr_match *m);

/** Parses a duration s (borrowed): "<decimal>s", "<decimal>ms",
 *  "<decimal>m", "<decimal>h" (Google's JSON Duration is "40591s",
 *  "1.5s") or ISO 8601 "P[nD][T[nH][nM][n[.n]S]]" ("PT47M", "P1DT2H").
 *  Fractions of a millisecond round up. Returns 0 with *ms, or -1 for
 *  anything else (signs, years, months, weeks, junk, over 10^15 ms).
 *  Source: ISO 8601-1:2019 §5.5.2.4 (durations); protobuf
 *  google.protobuf.Duration JSON mapping. Pure; any thread. */
int pacer_tr_duration_ms(const char *s, uint64_t *ms);

/** Parses the "throttle_rules" list item (borrowed) into *out (a new owned
 *  array, *n entries), expanding presets. Returns 0, or PACER_ECONFIG /
 *  PACER_ENOMEM with err naming the field, e.g.
 *  "throttle_rules[1].delay[0].unit: \"sec\" is not one of ...". Pure. */
int pacer_throttle_rules_parse(const cJSON *item,
                               struct pacer_throttle_rule **out, size_t *n,
                               struct pacer_error *err);

/** Checks that every rule's pause names one of limits[0..nlimits)
 *  (borrowed). Returns 0 or PACER_ECONFIG: "throttle_rules (<rule
 *  name>).pause: no limit is named \"x\"". Pure. */
int pacer_throttle_rules_check(const struct pacer_throttle_rule *rules,
                               size_t n, const struct pacer_limit_cfg *limits,
                               size_t nlimits, struct pacer_error *err);

/** Frees rules[0..n) (owned, may be NULL) and the array. */
void pacer_throttle_rules_free(struct pacer_throttle_rule *rules, size_t n);

/** Returns the preset rule list called name as JSON text (static), or
 *  NULL when there is none. Roles a preset pauses are written "@role";
 *  core/throttle_preset.c, docs/LIMITS.md "Presets". */
const char *pacer_throttle_preset(const char *name);

/** Returns the preset names, comma-separated, static. */
const char *pacer_throttle_preset_names(void);

#endif
