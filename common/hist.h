/* Cumulative histograms with fixed upper bounds, as Prometheus exposes
 * them: request latencies (scheduler/metrics.c) and Redis round trips
 * (store/queue.c). Plain counters, no I/O, no clock.
 */
#ifndef PACER_COMMON_HIST_H
#define PACER_COMMON_HIST_H

#include <stddef.h>
#include <stdint.h>

#define PACER_HIST_BOUNDS_MAX 16 /* finite histogram buckets */

/** A cumulative histogram with fixed upper bounds (microseconds). */
struct pacer_hist {
  const uint64_t *bounds_us;                  /* ascending, static */
  size_t nbounds;                             /* <= PACER_HIST_BOUNDS_MAX */
  uint64_t counts[PACER_HIST_BOUNDS_MAX + 1]; /* per bucket, last = +Inf;
                                                 not cumulative */
  uint64_t count;                             /* observations */
  uint64_t sum_us;                            /* their sum, us */
};

/** Sets h up for request latencies (5 ms .. 60 s). */
void pacer_hist_init_request(struct pacer_hist *h);

/** Sets h up for Redis round trips (100 us .. 1 s). */
void pacer_hist_init_redis(struct pacer_hist *h);

/** Records one observation of v_us microseconds. */
void pacer_hist_observe(struct pacer_hist *h, uint64_t v_us);

#endif
