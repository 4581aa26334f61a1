/* Metrics: the counters and histograms the scheduler keeps, and their two
 * renderings, Prometheus text (/metrics) and the dashboard's JSON
 * (/api/state). Pure core: no clock, no I/O; times are passed in.
 *
 *   scheduler thread                         HTTP thread
 *   hooks: pacer_metrics_job/request/...     (never reads these)
 *   every 1 s: view (lanes, creds, Redis) --render--> text + JSON
 *                                         --publish--> copy under a mutex
 *
 * Label values are bounded: job states, status classes, result kinds, limit
 * names from the config, and bucket keys ("<limit>[:<value>]", at most
 * PACER_METRICS_BUCKETS_MAX of them, then "other"). Never a job id, a URL
 * or a header value: a bucket key's header value is always a hash, "#"
 * and 16 hex digits (docs/METRICS.md "Labels are bounded"; test_config
 * limit_key_hashes_secret_headers_and_long_values).
 *
 * Files: metrics.c the counters, their updates, the lane wait reasons and
 * the tick; metrics_prom.c the text exposition; metrics_json.c the JSON.
 * Docs: docs/METRICS.md.
 */
#ifndef PACER_SCHEDULER_METRICS_H
#define PACER_SCHEDULER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"
#include "core/config.h"
#include "core/lane.h"
#include "core/result.h"

#define PACER_METRICS_BUCKETS_MAX 256 /* bucket keys tracked, then "other" */
#define PACER_METRICS_RATE_TICKS  6   /* samples in the rate window (5 s) */
#define PACER_METRICS_HISTORY     300 /* 1 s samples kept for the page */
#define PACER_METRICS_DEAD_MAX    20  /* dead letters shown */
#define PACER_METRICS_LANES_MAX   200 /* lanes shown in /api/state */
#define PACER_METRICS_REASON_MAX  192 /* wait text, bytes incl. NUL */

/** Growable text buffer. Zero-initialise; free with pacer_text_free. After
 *  an allocation failure `failed` is set and further appends do nothing. */
struct pacer_text {
  char *buf;  /* NUL-terminated once anything was appended, owned */
  size_t len; /* bytes, excl. NUL */
  size_t cap; /* bytes allocated */
  int failed; /* out of memory at some append */
};

/** Appends printf-style text. Any thread (t is not shared). */
void pacer_text_printf(struct pacer_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Frees t->buf and zeroes t. */
void pacer_text_free(struct pacer_text *t);

/** Writes value escaped for a Prometheus label value (backslash, double
 *  quote and line feed become \\, \" and \n) into out[0..size). Returns
 *  the length, or -1 when it does not fit (out then ""). Pure. Source:
 *  Prometheus text exposition format 0.0.4. */
int pacer_prom_label_escape(char *out, size_t size, const char *value);

/** Terminal job states, as in the results stream. */
enum pacer_metrics_job_state {
  PACER_MX_JOB_OK = 0,
  PACER_MX_JOB_FAILED,
  PACER_MX_JOB_UNKNOWN, /* outcome_unknown */
  PACER_MX_JOB_STATES
};

/** What caused a bucket pause. */
enum pacer_metrics_pause_cause {
  PACER_MX_PAUSE_RETRY_AFTER = 0, /* a Retry-After header */
  PACER_MX_PAUSE_RATELIMIT,       /* rate-limit headers: remaining 0 */
  PACER_MX_PAUSE_BACKOFF,         /* 429 without a usable hint */
  PACER_MX_PAUSE_RULE,            /* a throttle rule matched (config
                                     "throttle_rules") */
  PACER_MX_PAUSE_CAUSES
};

/** Per bucket key: counters kept by the scheduler, and what the last
 *  snapshot read from the lanes and from Redis. */
struct pacer_metrics_bucket {
  char key[PACER_LIMIT_KEY_SIZE];         /* "<limit>[:<value>]" or "other" */
  const struct pacer_limit_cfg *cfg;      /* borrowed from the config, or NULL
                                             for "other" */
  uint64_t sent;                          /* requests started */
  uint64_t throttled;                     /* 429s (and 503 + Retry-After) */
  uint64_t pauses[PACER_MX_PAUSE_CAUSES]; /* pauses this process set */
  uint64_t ring_sent[PACER_METRICS_RATE_TICKS];    /* sent at tick i */
  uint64_t ring_mono_ms[PACER_METRICS_RATE_TICKS]; /* tick times, ms */
  unsigned ring_n, ring_i;                         /* samples held, next slot */
  uint64_t rate_milli_per_s;    /* measured send rate, 1/1000 req/s */
  size_t queued, in_flight;     /* jobs in lanes on it, last tick */
  size_t deferred;              /* jobs its lanes deferred, not due yet */
  int redis_valid;              /* the fields below were read */
  uint32_t permille;            /* AIMD share of the configured rate */
  uint64_t pause_until_unix_ms; /* 0 = not paused */
  char pause_reason[128];       /* the header that caused the pause */
};

/** One 1 s sample for the page's plots. Depths are -1 when unknown. */
struct pacer_metrics_sample {
  uint64_t unix_ms;
  int64_t jobs_high, jobs, jobs_low; /* XLEN of the intake streams */
  int64_t delayed;                   /* ZCARD delayed */
  uint64_t held, in_flight;          /* this process */
  uint32_t sent, throttled;          /* requests and 429s in that second */
};

/** A dead letter as shown on the page: never the job or the excerpt. */
struct pacer_metrics_dead {
  char sid[48]; /* dead stream entry id */
  char id[129]; /* job id */
  char reason[64];
  char error[256];
  uint64_t status, attempts, failed_unix_ms;
};

/** What the last Redis read found (cluster-wide). */
struct pacer_metrics_redis {
  int valid;             /* a read has completed */
  uint64_t at_unix_ms;   /* Redis TIME of that read */
  int64_t jobs[3];       /* XLEN jobs:high, jobs, jobs:low */
  int64_t pending;       /* delivered, not finished, all three */
  int64_t delayed;       /* ZCARD delayed (incl. parked) */
  int64_t parked;        /* delayed at the park score (re-authorisation) */
  int64_t results, dead; /* XLEN */
  size_t ndead;          /* entries in dead[], newest first */
  struct pacer_metrics_dead dead_letters[PACER_METRICS_DEAD_MAX];
  /* End of the operator pause of every bucket (`pacer pause --all`),
   * unix ms; 0 = none on */
  uint64_t all_paused_until_unix_ms;
};

/** Every counter the scheduler keeps. Create with pacer_metrics_new. */
struct pacer_metrics {
  uint64_t jobs[PACER_MX_JOB_STATES]; /* results written, by state */
  uint64_t requests[7]; /* by class: 1xx..5xx, other, none (no reply) */
  /* by enum pacer_http_result (0 unused) */
  uint64_t errors[PACER_HTTP_RESULTS];
  uint64_t sent;                        /* requests started, all lanes */
  uint64_t throttled;                   /* 429s, all lanes */
  struct pacer_hist latency;            /* request duration */
  struct pacer_metrics_bucket *buckets; /* nbuckets used, owned */
  size_t nbuckets;
  uint16_t *slots; /* open-addressing index: bucket index + 1, 0 = free */
  struct pacer_metrics_redis redis;
  struct pacer_metrics_sample history[PACER_METRICS_HISTORY];
  size_t hist_n, hist_i;        /* samples held, next slot */
  uint64_t last_sent, last_429; /* totals at the previous sample */
  uint64_t start_unix_ms;       /* process start */
};

/** Returns a new zeroed set (owned; free with pacer_metrics_free) with
 *  start_unix_ms set, or NULL on out of memory. */
struct pacer_metrics *pacer_metrics_new(uint64_t start_unix_ms);

/** Frees m. NULL does nothing. */
void pacer_metrics_free(struct pacer_metrics *m);

/** Returns the row for bucket key (borrowed) of limit cfg (borrowed; NULL
 *  for an unknown limit), creating it; past PACER_METRICS_BUCKETS_MAX keys
 *  the shared "other" row. Never NULL. Scheduler thread. */
struct pacer_metrics_bucket *
pacer_metrics_bucket(struct pacer_metrics *m, const char *key,
                     const struct pacer_limit_cfg *cfg);

/** Counts a result written with state. */
void pacer_metrics_job(struct pacer_metrics *m,
                       enum pacer_metrics_job_state state);

/** Counts a request started on buckets refs[0..nrefs) (borrowed). */
void pacer_metrics_sent(struct pacer_metrics *m,
                        const struct pacer_limit_ref *refs, size_t nrefs);

/** Takes back a pacer_metrics_sent on buckets refs[0..nrefs) (borrowed)
 *  for a request that was never sent: it missed its send slot and takes a
 *  new one (docs/LIMITS.md), so pacer_bucket_requests_total keeps counting
 *  what reached the upstream. Loop thread, as pacer_metrics_sent. */
void pacer_metrics_unsent(struct pacer_metrics *m,
                          const struct pacer_limit_ref *refs, size_t nrefs);

/** Counts a finished request: result is an enum pacer_http_result
 *  (0 = a response arrived), status its HTTP status (0 = none), total_us
 *  the transfer time. A PACER_HTTP_MISSED_SLOT was never sent: it counts
 *  only as that error kind, in no status class and not in the latency
 *  histogram, which hold what reached the upstream. */
void pacer_metrics_request(struct pacer_metrics *m, int result, long status,
                           uint64_t total_us);

/** Counts a 429 on the bucket ref (borrowed; NULL: no bucket). */
void pacer_metrics_throttled(struct pacer_metrics *m,
                             const struct pacer_limit_ref *ref);

/** Counts a pause of bucket ref (borrowed) for cause. */
void pacer_metrics_paused(struct pacer_metrics *m,
                          const struct pacer_limit_ref *ref,
                          enum pacer_metrics_pause_cause cause);

/** Why a lane's jobs wait. */
enum pacer_wait {
  PACER_WAIT_IDLE = 0,    /* nothing queued or running */
  PACER_WAIT_RUNNING,     /* nothing queued, requests running */
  PACER_WAIT_DEFERRED,    /* jobs wait in the delayed set */
  PACER_WAIT_SENDING,     /* a slot is due: sending now */
  PACER_WAIT_PAUSED,      /* a bucket is paused by the upstream */
  PACER_WAIT_RATE,        /* the next rate slot is ahead */
  PACER_WAIT_SLOTS,       /* asking Redis for rate slots */
  PACER_WAIT_IN_FLIGHT,   /* the lane's max_in_flight is reached */
  PACER_WAIT_PERMIT,      /* waiting for a cluster-wide in-flight permit */
  PACER_WAIT_CONCURRENCY, /* the process runs `concurrency` requests */
  PACER_WAIT_KINDS
};

/** Returns the short name of w ("paused", "rate", ...), static. */
const char *pacer_wait_name(enum pacer_wait w);

/** Decides why lane l (borrowed) waits at now_mono_us / now_unix_ms:
 *  process_full is non-zero when the process has `concurrency` requests
 *  running; pause_ms, pause_bucket and pause_reason (borrowed, may be
 *  NULL) describe the longest Redis pause among its buckets (0 = none).
 *  Writes a sentence to text[0..size) and the expected wait to *wait_ms
 *  (0 when unknown). Pure. */
enum pacer_wait
pacer_metrics_lane_wait(const struct pacer_lane *l, uint64_t now_mono_us,
                        int process_full, uint64_t pause_ms,
                        const char *pause_bucket, const char *pause_reason,
                        uint64_t *wait_ms, char *text, size_t size);

/** One lane, as the snapshot shows it. */
struct pacer_metrics_lane_view {
  const char *id; /* lane id, borrowed: bucket keys joined by "|" */
  size_t queued, in_flight, deferred;
  enum pacer_wait wait;
  uint64_t wait_ms;
  char text[PACER_METRICS_REASON_MAX];
  uint64_t rate_milli_per_s; /* slowest measured rate of its buckets */
  double limit_per_s;        /* lowest effective limit of its buckets,
                                0 = unlimited */
  const char *binding;       /* the bucket key of that lowest limit, the
                                one that sets the lane's pace among its
                                stacked limits, borrowed; NULL without
                                limits */
};

/** One credential, as the snapshot shows it (never a token). */
struct pacer_metrics_cred_view {
  const char *name;   /* borrowed */
  const char *status; /* "ok", "refreshing", ..., static */
  uint64_t generation;
  uint64_t expires_unix_ms; /* 0 = unknown */
  size_t waiting;           /* jobs held waiting for its token */
  uint64_t refresh_ok, refresh_failed, refresh_refused;
};

/** Everything besides the counters that a snapshot renders. All pointers
 *  borrowed for the render call. */
struct pacer_metrics_view {
  const char *consumer;
  uint64_t now_unix_ms;
  unsigned workers, concurrency;
  size_t held, ready, in_flight, cred_waiting;
  uint64_t retried, deferred; /* totals since start */
  const struct pacer_metrics_lane_view *lanes;
  size_t nlanes, lanes_total;
  const struct pacer_metrics_cred_view *creds;
  size_t ncreds;
  const struct pacer_hist *redis_rtt; /* may be NULL */
  uint64_t redis_reconnects[2];       /* intake, command connection */
  int redis_connected[2];
};

/** Moves the per-bucket rate windows and appends a history sample at
 *  now_mono_ms / now_unix_ms with v's held and in-flight counts. Call once
 *  per tick before rendering. */
void pacer_metrics_tick(struct pacer_metrics *m,
                        const struct pacer_metrics_view *v,
                        uint64_t now_mono_ms);

/** Renders the Prometheus text exposition of m and v (borrowed) into out.
 *  Returns 0 or PACER_ENOMEM. Source: Prometheus text format 0.0.4. */
int pacer_metrics_render_text(const struct pacer_metrics *m,
                              const struct pacer_metrics_view *v,
                              struct pacer_text *out);

/** Renders /api/state (JSON, docs/METRICS.md) into out. Returns 0 or
 *  PACER_ENOMEM. */
int pacer_metrics_render_json(const struct pacer_metrics *m,
                              const struct pacer_metrics_view *v,
                              struct pacer_text *out);

#endif
