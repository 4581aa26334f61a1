/* Shared rate limits in Redis: one Lua script checks and takes from every
 * bucket a request belongs to, atomically, on Redis TIME, so N processes on
 * M machines share one limit.
 *
 *   pacer:limit:<name>[:<value>]   hash
 *     tat            GCRA theoretical arrival time, unix us
 *     pause_until    no slot before this, unix us (429 / Retry-After)
 *     pause_reason   why ("retry-after 30 s from api.up.test", ...)
 *     permille       AIMD effective rate, 1..1000 of the configured rate
 *     aimd_at        when permille was last lowered, unix us
 *     last_429       when the last 429 paused it, unix us
 *     quick          429s in a row that came right after a pause ended
 *     since          start of the current busy spell (warm-up), unix us
 *     op_until       operator pause of this bucket, unix us (control.h)
 *
 *   pacer:oppause  string: operator pause of every bucket, unix us
 *                  (control.h); the take script reads it on every take
 *
 *   pacer:inflight:<name>[:<value>]   sorted set (limits with max_in_flight)
 *     member = permit token "<consumer>:<n>", score = lease expiry, unix ms
 *
 * A take reserves up to n future send slots within a short horizon: slot j
 * is the earliest time every bucket conforms after slots 1..j-1 (GCRA per
 * ITU-T I.371), so the cluster-wide rate stays within rate + burst in
 * every sliding window even when processes lease slots in batches (no
 * double burst at a window edge).
 * core/gcra.h is the reference model of the take and pause scripts; test
 * gcra_diff checks that they agree (docs/LIMITS.md).
 */
#ifndef PACER_STORE_LIMITER_H
#define PACER_STORE_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/limit_ref.h"
#include "store/queue.h"

/** Take callback: status 0 with *g filled, or PACER_EUNKNOWN/PACER_EREDIS
 *  (nothing known; ask again later). g borrowed for the call. Scheduler
 *  thread. */
typedef void (*pacer_limiter_take_cb)(void *arg, int status,
                                      const struct pacer_limiter_grant *g);

/** Reserves up to nslots (1..PACER_LIMITER_MAX_SLOTS) send slots within
 *  horizon_us from every bucket in refs[0..nrefs) (borrowed), all or
 *  nothing per slot, none before Redis' now + lead_us (the reply's
 *  latency must not make the first slot late). With guard_us > 0 the
 *  slots form a block that keeps guard_us from slots another taker
 *  (taker: the caller's id, 1..2^52; 0: none) reserved ahead
 *  (pacer_gcra_take_ext). While an operator pause is on (a bucket's
 *  op_until, or <prefix>oppause for every bucket: store/control.h) no
 *  slot is given and g->reason is PACER_KEYS_OP_REASON. Returns 0 (cb runs
 *  once) or a negative code (cb will not run). Scheduler thread. Source:
 *  GCRA (ITU-T I.371). */
int pacer_limiter_take(struct pacer_queue *q,
                       const struct pacer_limit_ref *refs, size_t nrefs,
                       unsigned nslots, uint64_t horizon_us, uint64_t lead_us,
                       uint64_t guard_us, uint64_t taker,
                       pacer_limiter_take_cb cb, void *arg);

/** Pauses the bucket ref (borrowed) for pause_ms from Redis' now (a longer
 *  existing pause stands), recording reason (borrowed; never a secret). The
 *  bucket resumes at its pace without a burst. With ref->cfg->adaptive a
 *  second 429 within 30 s of the previous one halves the effective rate
 *  (at most once a second, never below 5%; an isolated 429 is taken for
 *  send jitter at an exact limit and only pauses), and the rate
 *  recovers by 5% of the configured rate per second (AIMD). Fire and
 *  forget: returns 0 or a negative code. Scheduler thread. Source: RFC 6585
 *  §4 (429), RFC 9110 §10.2.3 (Retry-After). */
int pacer_limiter_pause(struct pacer_queue *q,
                        const struct pacer_limit_ref *ref, uint64_t pause_ms,
                        const char *reason);

/** Permit callback: status 0 and granted 1 (the token now holds a permit
 *  in every capped bucket) or 0 (some bucket is at its max_in_flight);
 *  PACER_EUNKNOWN/PACER_EREDIS when nothing is known (the token may hold a
 *  permit: release it). Scheduler thread. */
typedef void (*pacer_limiter_permit_cb)(void *arg, int status, int granted);

/** Acquires an in-flight permit named token (borrowed, unique per process
 *  and request, e.g. "<consumer>:<n>") in every bucket of refs[0..nrefs)
 *  that has max_in_flight, all or nothing, leased for lease_ms from Redis'
 *  now: a process that dies gives its permits back when the lease ends.
 *  A token that already holds its permits only has its lease extended
 *  (idempotent, so a replay is safe). The count is cluster-wide: every
 *  process sharing the Redis sees the same sorted set. Returns 0 (cb runs
 *  once) or a negative code (cb will not run). Scheduler thread. Source: a
 *  counting semaphore with leases, as in Redis' documented ZSET pattern. */
int pacer_limiter_acquire(struct pacer_queue *q,
                          const struct pacer_limit_ref *refs, size_t nrefs,
                          const char *token, uint64_t lease_ms,
                          pacer_limiter_permit_cb cb, void *arg);

/** Gives token's permits back in every capped bucket of refs (fire and
 *  forget; if the reply is lost the lease ends it). Returns 0 or a
 *  negative code. Scheduler thread. */
int pacer_limiter_release(struct pacer_queue *q,
                          const struct pacer_limit_ref *refs, size_t nrefs,
                          const char *token);

#endif
