/* See hist.h. */
#include "common/hist.h"

#include <string.h>

#include "common/util.h"

static const uint64_t request_bounds_us[] = {
    5000,    10000,   25000,   50000,    100000,   250000,  500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
static const uint64_t redis_bounds_us[] = {100,   250,    500,    1000,
                                           2500,  5000,   10000,  25000,
                                           50000, 100000, 250000, 1000000};

static void
hist_init(struct pacer_hist *h, const uint64_t *bounds, size_t n)
{
  memset(h, 0, sizeof(*h));
  h->bounds_us = bounds;
  h->nbounds = n;
}

void
pacer_hist_init_request(struct pacer_hist *h)
{
  hist_init(h, request_bounds_us, PACER_ARRAY_SIZE(request_bounds_us));
}

void
pacer_hist_init_redis(struct pacer_hist *h)
{
  hist_init(h, redis_bounds_us, PACER_ARRAY_SIZE(redis_bounds_us));
}

void
pacer_hist_observe(struct pacer_hist *h, uint64_t v_us)
{
  size_t i = 0;

  while (i < h->nbounds && v_us > h->bounds_us[i])
    i++;
  h->counts[i]++;
  h->count++;
  h->sum_us += v_us;
}
