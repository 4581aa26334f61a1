/* GCRA, the generic cell rate algorithm: integer-only, clock-free.
 *
 * A limit of `count` requests per `period` with burst b becomes an emission
 * interval T = ceil(period / count) microseconds. Its whole state is one
 * integer, the theoretical arrival time (TAT), in unix microseconds, so it
 * can live in Redis and be compared with Redis TIME from any process.
 *
 *      allowed from here              TAT                      time (unix us)
 *   ----------|-------------------------|-------------------------------->
 *             |<--- tau = b * T ------->|
 *
 * A request of cost n at `now` conforms when
 *     max(TAT, now) + n * T <= now + (b + 1) * T
 * and then TAT becomes max(TAT, now) + n * T. For n = 1 this is the
 * virtual scheduling form of ITU-T I.371: conforming when now >= TAT - tau.
 * At most b + 1 requests go at once, then one per T. Any N conforming
 * requests satisfy (N - 1) * T <= (last - first) + tau, so a half-open
 * window of length W holds at most ceil(W / T) + b of them: at most
 * count + b per period, in every sliding period (field case C10).
 *
 * T is rounded up, so the granted rate never exceeds the configured one
 * (3/s gives T = 333334 us: never 4 in one second). All values stay below
 * 2^53 for now < PACER_GCRA_NOW_MAX_US, so a Lua copy of this maths in Redis
 * (doubles) is exact too.
 *
 * Pure core: no clock, no I/O, no allocation, no global state. The caller
 * passes `now`. Any thread.
 */
#ifndef PACER_CORE_GCRA_H
#define PACER_CORE_GCRA_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define PACER_GCRA_BURST_MAX     UINT64_C(1000000) /* requests beyond one */
#define PACER_GCRA_SPAN_MAX_US   UINT64_C(1000000000000000) /* (b+1)*T, us */
#define PACER_GCRA_NOW_MAX_US    (UINT64_C(1) << 53) /* ~ year 2255, us */
#define PACER_GCRA_PERMILLE_MIN  1u                  /* slowest scale, 1/1000 */
#define PACER_GCRA_PERMILLE_FULL 1000u               /* the configured rate */

/** One rate limit. Plain value; build it with pacer_gcra_limit_init or
 *  pacer_gcra_scale. Valid when 1 <= interval_us, burst <=
 *  PACER_GCRA_BURST_MAX and (burst + 1) * interval_us <=
 *  PACER_GCRA_SPAN_MAX_US. Source: GCRA (ITU-T I.371). */
struct pacer_gcra_limit {
  uint64_t interval_us; /* emission interval T, us per unit of cost */
  uint64_t burst;       /* units allowed beyond one at once; tau = b * T */
};

/** Builds *l for `count` requests per period_us microseconds with `burst`
 *  extra requests allowed at once. interval_us = ceil(period_us / count):
 *  the rate may be rounded down, never up.
 *  Borrows nothing; writes *l only on success.
 *  Returns 0, or PACER_EINVAL when count or period_us is 0, count >
 *  period_us (faster than one per microsecond), burst > PACER_GCRA_BURST_MAX
 *  or (burst + 1) * interval exceeds PACER_GCRA_SPAN_MAX_US.
 *  Pure; any thread. Source: GCRA (ITU-T I.371). */
int pacer_gcra_limit_init(struct pacer_gcra_limit *l, uint64_t count,
                          uint64_t period_us, uint64_t burst);

/** Builds *out, the limit *l (borrowed, valid) slowed to permille / 1000 of
 *  its rate, for AIMD: out->interval_us = ceil(interval_us * 1000 /
 *  permille), burst unchanged. permille is clamped to
 *  [PACER_GCRA_PERMILLE_MIN, PACER_GCRA_PERMILLE_FULL] (never faster than
 *  configured), and the interval is capped so that (burst + 1) * interval
 *  stays within PACER_GCRA_SPAN_MAX_US. out may equal l.
 *  Returns 0, or PACER_EINVAL when *l is not valid (*out unchanged).
 *  Pure; any thread. */
int pacer_gcra_scale(const struct pacer_gcra_limit *l, uint32_t permille,
                     struct pacer_gcra_limit *out);

/** Takes `cost` units from the bucket whose TAT is *tat_unix_us at
 *  now_unix_us (unix us, e.g. Redis TIME; 0 <= now_unix_us <=
 *  PACER_GCRA_NOW_MAX_US). A stored TAT of 0 means a fresh, full bucket.
 *  A TAT further ahead than the horizon now + (burst + 1) * interval can
 *  only come from a clock that stepped back (or a rate that rose). It is
 *  pulled back to the horizon, the strictest state a conforming history
 *  leaves: nothing extra is granted, the wait stays bounded, and the
 *  bucket drains on the new clock instead of waiting for the old one.
 *  Borrows l and tat_unix_us; wait_us may be NULL.
 *  Returns 0 when conforming: *tat_unix_us advanced, *wait_us = 0.
 *  PACER_ELIMIT when not yet: nothing taken, *wait_us = microseconds until
 *  the same request would conform (> 0, <= cost * interval_us). TAT is
 *  unchanged, except that a TAT beyond the horizon is stored pulled back.
 *  PACER_ETOOLARGE when cost > burst + 1, which can never conform (a
 *  configuration error, not a wait): TAT unchanged, *wait_us = 0.
 *  PACER_EINVAL for cost 0, an invalid *l or now beyond
 *  PACER_GCRA_NOW_MAX_US: TAT unchanged, *wait_us = 0.
 *  Pure; any thread (the caller serialises access to *tat_unix_us).
 *  Source: GCRA virtual scheduling (ITU-T I.371); nginx limit_req,
 *  redis-cell, throttled. */
int pacer_gcra_take(const struct pacer_gcra_limit *l, uint64_t *tat_unix_us,
                    uint64_t now_unix_us, uint32_t cost, uint64_t *wait_us);

/** Like pacer_gcra_take but never changes anything: returns what a take
 *  of `cost` at now_unix_us would return, with *wait_us (may be NULL) set
 *  the same way. tat_unix_us is the stored TAT. Right after a backward
 *  clock step (stored TAT beyond the horizon) a take at now + wait would
 *  still be limited, because only a take stores the pulled-back TAT.
 *  Pure; any thread. Source: GCRA (ITU-T I.371). */
int pacer_gcra_peek(const struct pacer_gcra_limit *l, uint64_t tat_unix_us,
                    uint64_t now_unix_us, uint32_t cost, uint64_t *wait_us);

/** Takes costs[i] from bucket i (limits[i], tats_unix_us[i]) for every
 *  i < n, all or nothing: either every bucket conforms and every TAT
 *  advances, or nothing is taken from any (TATs beyond their horizon are
 *  still pulled back, as in pacer_gcra_take). n = 0 conforms. Each bucket
 *  must appear once (the same TAT twice would be checked against its old
 *  value).
 *  Borrows all arrays; wait_us may be NULL.
 *  Returns 0 (all taken, *wait_us = 0); PACER_EINVAL or PACER_ETOOLARGE as
 *  pacer_gcra_take for the first bucket that is invalid or can never
 *  conform (nothing taken, *wait_us = 0), in preference to PACER_ELIMIT;
 *  else PACER_ELIMIT with *wait_us the longest wait among the buckets that
 *  do not conform (the earliest time all of them could).
 *  Pure; any thread (the caller serialises access to the TATs).
 *  Source: GCRA (ITU-T I.371). */
int pacer_gcra_take_all(const struct pacer_gcra_limit *limits,
                        uint64_t *tats_unix_us, const uint32_t *costs, size_t n,
                        uint64_t now_unix_us, uint64_t *wait_us);

#endif
