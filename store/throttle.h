/* Shared throttle backoff state: one small hash per throttle key, so every
 * worker of every process grows and shrinks the same streak
 * (core/backoff.h is the rule; docs/LIMITS.md "Throttles").
 *
 *   <prefix>throttle:<key>   hash
 *     streak   consecutive throttles not yet paid back by successes
 *     until    the key's current pause ends, unix ms
 *
 * The scheduler decides on its own copy (scheduler/throttle.c) and sends
 * each change here; the reply, which merges every process's changes, is
 * its copy from then on. The pause itself is the bucket's (store/limiter.h),
 * which every process reads before it sends.
 */
#ifndef PACER_STORE_THROTTLE_H
#define PACER_STORE_THROTTLE_H

#include "core/backoff.h"
#include "store/queue.h"

/** Reply of a note: status 0 with *st the shared state after it, or
 *  PACER_EUNKNOWN/PACER_EREDIS (st NULL). arg as given. Scheduler
 *  thread. */
typedef void (*pacer_throttle_cb)(void *arg, int status,
                                  const struct pacer_backoff_state *st);

/** Notes one throttle (throttle non-zero: the shared state becomes the
 *  larger streak and the later end of its own and *st) or one success (the
 *  shared streak drops by one; st ignored) of key (borrowed, a bucket key
 *  or "(host):<host>"). cb (may be NULL) runs once with the result. Returns
 *  0 or a negative code (cb will not run). Scheduler thread. */
int pacer_throttle_note(struct pacer_queue *q, const char *key, int throttle,
                        const struct pacer_backoff_state *st,
                        pacer_throttle_cb cb, void *arg);

#endif
