/* The scheduler: owns every held job and every decision about it, on one
 * thread (the loop it was created on).
 *
 *   Redis intake --on_entry--> parse --invalid--> finish(failed, dead letter)
 *                                   --not_before in future--> defer (delayed)
 *                                   --ready--> FIFO --dispatch--> worker pool
 *   worker outcome --> decide: ok | failed | retry (defer with backoff)
 *                  --> finish/defer script (atomic, replayed if unknown)
 *
 * Holds at most concurrency + prefetch_extra jobs; everything else stays in
 * Redis.
 */
#ifndef PACER_SCHEDULER_SCHED_H
#define PACER_SCHEDULER_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "core/config.h"

struct pacer_sched;

/** Counters, read on the scheduler thread. */
struct pacer_sched_stats {
  size_t held;         /* jobs held in memory (any state) */
  size_t ready;        /* waiting for a request slot */
  size_t in_flight;    /* requests running in workers */
  uint64_t ok;         /* results written with state ok */
  uint64_t failed;     /* results written with state failed */
  uint64_t deferred;   /* jobs moved to the delayed set */
  uint64_t retried;    /* retries scheduled */
  uint64_t duplicates; /* entries of a job id that already finished
                          (done-marker) or was queued or running (claim),
                          dropped unsent */
};

/** Called once a job's terminal result is durably in Redis (or Redis says
 *  another consumer finished it). id borrowed for the call. Scheduler
 *  thread. */
typedef void (*pacer_sched_terminal_cb)(void *arg, const char *id, int ok);

/** Creates a scheduler on loop (borrowed) with cfg (borrowed; must outlive
 *  it). Returns 0 and *out (owned; stop with pacer_sched_stop), or a
 *  negative code with err set. Scheduler thread. */
int pacer_sched_new(uv_loop_t *loop, const struct pacer_config *cfg,
                    struct pacer_sched **out, struct pacer_error *err);

/** Sets the terminal-result observer (may be NULL). */
void pacer_sched_set_observer(struct pacer_sched *s, pacer_sched_terminal_cb cb,
                              void *arg);

/** Starts the worker threads and the Redis queue. Returns 0 or a negative
 *  code with err set. */
int pacer_sched_start(struct pacer_sched *s, struct pacer_error *err);

/** Graceful stop: stops intake, hands unstarted jobs back to the stream at
 *  once, lets in-flight requests finish until cfg->shutdown_grace_ms, then
 *  cancels the rest (handed back too), waits for Redis writes, closes
 *  everything and frees s; on_stopped (may be NULL) runs last with arg.
 *  Jobs whose hand-back cannot reach Redis return through the lease.
 *  Calling it twice does nothing more. Scheduler thread. */
void pacer_sched_stop(struct pacer_sched *s, void (*on_stopped)(void *arg),
                      void *arg);

/** Receives a metrics snapshot about once a second: the
 *  Prometheus text metrics[0..metrics_len) and the /api/state JSON
 *  state[0..state_len) (docs/METRICS.md), both NUL-terminated and
 *  borrowed for the call: copy what you keep. Scheduler thread. */
typedef void (*pacer_sched_publish_cb)(void *arg, const char *metrics,
                                       size_t metrics_len, const char *state,
                                       size_t state_len);

/** Sets the metrics publisher (cb NULL: none, the default). The
 *  scheduler then reads queue depths, dead letters and bucket state from
 *  Redis every second, renders them with its counters and calls cb with
 *  the result. Scheduler thread. */
void pacer_sched_set_publisher(struct pacer_sched *s, pacer_sched_publish_cb cb,
                               void *arg);

/** Fills *st. Scheduler thread. */
void pacer_sched_get_stats(const struct pacer_sched *s,
                           struct pacer_sched_stats *st);

#endif
