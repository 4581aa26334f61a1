/* The retry decision: what the scheduler does with a job after one HTTP
 * attempt. Pure (no clock, no I/O): the outcome, the job's counters, the
 * lane's limits, now and a PRNG go in; one decision comes out. The
 * scheduler (scheduler/outcome.c) applies it: Redis writes, bucket pauses,
 * metrics and logs. The rules are docs/LIMITS.md ("Retries", 429 pauses)
 * and docs/CREDENTIALS.md (401 refresh); tests/unit/test_decide.c pins
 * every branch.
 *
 *   outcome                                   decision
 *   -------------------------------------     ------------------------------
 *   canceled, request on its own conn         FINISH outcome_unknown canceled
 *   canceled                                  REQUEUE (no attempt)
 *   refused stream, < REFUSALS_MAX times      REPLAY (no attempt)
 *   2xx                                       FINISH ok (+ pause if the
 *                                               headers say remaining 0)
 *   a throttle rule matched (any status)      as a 429, the rule's delay
 *                                               as the hint
 *   429, or 503 with Retry-After              PAUSE (no attempt) for the
 *                                               larger of the hint and the
 *                                               key's backoff; FINISH
 *                                               deadline_exceeded when the
 *                                               pause outlasts the deadline,
 *                                               rate_limited past
 *                                               THROTTLED_MAX (a backstop)
 *   401 with a credential                     REFRESH (no attempt), or FINISH
 *                                               unauthorized[_after_refresh]
 *   401/403 Bearer insufficient_scope         FINISH insufficient_scope
 *   retryable, attempts left                  RETRY at now + backoff, or
 *                                               FINISH deadline_exceeded
 *   too many redirects                        FINISH too_many_redirects
 *   timeout/reset of POST/PATCH without key   FINISH outcome_unknown
 *   anything else                             FINISH failed
 */
#ifndef PACER_CORE_DECIDE_H
#define PACER_CORE_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/job.h"
#include "core/limit_ref.h"
#include "core/resp_headers.h"
#include "core/result.h"
#include "core/throttle_rule.h"

#define PACER_DECIDE_RETRY_BASE_MS    500u   /* first retry ceiling, ms */
#define PACER_DECIDE_RETRY_CAP_MS     60000u /* retry ceiling cap, ms */
/* Throttles one job may meet before it fails rate_limited: a backstop
 * only, as the deadline ends a throttled job first (README "Deadlines"). */
#define PACER_DECIDE_THROTTLED_MAX    1000u
#define PACER_DECIDE_REFUSALS_MAX     3u  /* free refused-stream re-sends */
#define PACER_DECIDE_AUTH_REPLAYS_MAX 3u  /* 401 invalid_token replays */
#define PACER_DECIDE_WHY_MAX          160 /* pause description, bytes */
#define PACER_DECIDE_ERROR_MAX        512 /* result "error" text, bytes */

/** What one attempt came back with. */
struct pacer_attempt {
  enum pacer_http_result result;
  long status;  /* HTTP status, 0 when none */
  int own_conn; /* the request went out on a connection of its own
                   (forbid_reuse): a POST/PATCH without Idempotency-Key */
  const struct pacer_resp_headers *hdr; /* parsed once, borrowed; NULL =
                                           none */
  const char *error; /* transport error text, borrowed; NULL or "" = none */
  const struct pacer_tr_match *rule; /* a throttle rule this response
                                        matched (pacer_throttle_rules_match),
                                        borrowed; NULL or rule->rule NULL =
                                        none */
};

/** A job's counters, before the attempt (input) and after it (output). */
struct pacer_job_counts {
  unsigned attempt;      /* attempts spent so far */
  unsigned throttled;    /* 429s (and 503s with Retry-After) seen */
  unsigned refusals;     /* refused-stream re-sends (no attempt spent) */
  unsigned auth_replays; /* 401 replays (no attempt spent) */
  uint64_t cred_gen;     /* token generation the attempt carried */
  uint64_t gen_401;      /* generation of the first 401 */
};

/** What the decision knows about the job. */
struct pacer_decide_job {
  enum pacer_method method;
  int idempotency_key;       /* the job sets an Idempotency-Key header */
  int retry_unsafe;          /* the job allows re-sending a POST/PATCH anyway */
  unsigned max_attempts;     /* >= 1 */
  int credential;            /* it names a configured credential */
  uint64_t deadline_unix_ms; /* done by then or deadline_exceeded, wall
                                ms; 0 = none (pacer_job_deadline_unix_ms) */
  const char *cred_scheme;   /* that credential's auth scheme, borrowed;
                                NULL = "Bearer" */
  struct pacer_job_counts counts;
};

/** What the decision knows about the job's lane and the config. */
struct pacer_decide_limits {
  int pause_target;            /* the lane has a bucket that pauses on 429 */
  uint64_t retry_after_max_ms; /* longest pause a hint may ask for, ms */
  uint64_t defer_after_ms;     /* longer waits go to Redis's delayed set, ms */
  struct pacer_backoff_cfg backoff; /* throttle backoff settings */
  struct pacer_backoff_state key;   /* the throttle key's backoff state
                                       before this response (the pause
                                       target's bucket, or the host's) */
};

/** What the decision does with the job. */
enum pacer_decision_kind {
  PACER_DECIDE_FINISH = 0, /* write the result: state, reason, error */
  PACER_DECIDE_RETRY,      /* delayed set until at_unix_ms, attempt spent */
  PACER_DECIDE_PAUSE,      /* wait out a slow-down without spending an
                              attempt: first in its lane (at_unix_ms 0) or
                              the delayed set until at_unix_ms */
  PACER_DECIDE_REPLAY,     /* refused stream: first in its lane now */
  PACER_DECIDE_REFRESH,    /* 401: invalidate the token the attempt carried
                              (counts.cred_gen), first in its lane */
  PACER_DECIDE_REQUEUE     /* canceled by shutdown: back to the stream */
};

/** Why a bucket pauses (metrics label "cause"). */
enum pacer_pause_cause {
  PACER_PAUSE_NONE = 0,    /* no bucket pause */
  PACER_PAUSE_RETRY_AFTER, /* a Retry-After header */
  PACER_PAUSE_RATELIMIT,   /* rate-limit headers: remaining 0 until reset */
  PACER_PAUSE_BACKOFF,     /* 429 without a usable hint: jittered backoff */
  PACER_PAUSE_RULE         /* a throttle rule matched (core/throttle_rule.h) */
};

/** A pause of the lane's 429 bucket that goes with any decision. */
struct pacer_pause_plan {
  enum pacer_pause_cause cause;   /* PACER_PAUSE_NONE: nothing to pause */
  uint64_t ms;                    /* how long, ms, <= retry_after_max_ms */
  char why[PACER_DECIDE_WHY_MAX]; /* short description for stats, logs */
};

/** One decision. Fields a kind does not use are zero. */
struct pacer_decision {
  enum pacer_decision_kind kind;
  struct pacer_job_counts counts; /* the job's counters after the attempt */
  int throttled;   /* this response asked to slow down (429, or 503
                      with Retry-After) */
  int key_changed; /* key holds the throttle key's new backoff state:
                      store it (a throttle, or a success that shrank it) */
  int key_grew;    /* the throttle grew the key's streak */
  struct pacer_backoff_state key;
  struct pacer_pause_plan pause; /* bucket pause to apply (any kind; only
                                    with limits.pause_target) */
  uint64_t at_unix_ms;           /* RETRY, deferred PAUSE: due time, wall ms */
  uint64_t wait_ms;              /* RETRY, PAUSE: the wait before jitter, ms */
  char wait_reason[PACER_DECIDE_WHY_MAX]; /* RETRY: "backoff" or the hint
                                             that set the floor (logs) */
  /* FINISH */
  enum pacer_job_state state;
  enum pacer_reason reason;
  long status;                        /* the result's status, 0 = none */
  int keep_response;                  /* the result carries headers and body */
  char error[PACER_DECIDE_ERROR_MAX]; /* the result's "error" text */
};

/** Decides what to do with job after attempt a, at now_unix_ms (wall
 *  clock, ms: Retry-After dates and due times are wall time). All
 *  arguments borrowed; *prng (non-zero xorshift64* state) is advanced by
 *  the draws of backoff and jitter. Fills *d. Pure: reads no clock,
 *  allocates nothing; any thread.
 *  Source: RFC 9110 §10.2.3 (Retry-After), §9.2.2 (idempotent methods);
 *  RFC 6585 §4 (429); RFC 6750 §3.1 (invalid_token, insufficient_scope);
 *  RFC 9113 §8.7 (refused streams). */
void pacer_decide(const struct pacer_attempt *a,
                  const struct pacer_decide_job *job,
                  const struct pacer_decide_limits *lim, uint64_t now_unix_ms,
                  uint64_t *prng, struct pacer_decision *d);

/** The pause a response's headers ask for (hdr borrowed, may be NULL), at
 *  now_unix_ms: Retry-After (RFC 9110 §10.2.3), else a rate-limit header
 *  with nothing remaining until its reset. Returns 0 with *plan set (ms
 *  unclamped, cause RETRY_AFTER or RATELIMIT, why filled), or
 *  PACER_ENOTFOUND (plan zeroed). Pure; any thread. */
int pacer_decide_hint(const struct pacer_resp_headers *hdr,
                      uint64_t now_unix_ms, struct pacer_pause_plan *plan);

/** Returns the bucket a "slow down" applies to among refs[0..nrefs) (the
 *  buckets of one lane, borrowed): the most specific limit that pauses on
 *  429, by key kind (global < host < credential < limit_key < header),
 *  later refs winning ties; a key kind out of range ranks below all.
 *  NULL when none pauses on 429. Pure; any thread. Source:
 *  docs/LIMITS.md. */
const struct pacer_limit_ref *
pacer_decide_pause_target(const struct pacer_limit_ref *refs, size_t nrefs);

/** Returns the name of a pause cause ("retry_after", "ratelimit",
 *  "backoff", "rule", "none"), static. Any thread. */
const char *pacer_pause_cause_name(enum pacer_pause_cause c);

#endif
