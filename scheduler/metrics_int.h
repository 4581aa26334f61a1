/* What the metrics files share but do not export: the "other" bucket's
 * key, the bucket walk and the per-bucket figures both renderings show.
 * Only scheduler/metrics*.c include this. Pure. */
#ifndef PACER_SCHEDULER_METRICS_INT_H
#define PACER_SCHEDULER_METRICS_INT_H

#include <stdint.h>

#include "scheduler/metrics.h"

/* The key of the row that takes every bucket past
 * PACER_METRICS_BUCKETS_MAX, and the label value written when a value
 * does not fit the escape buffer. */
#define PACER_MX_OTHER_KEY "(other)"

/* Every bucket row of m in use, in creation order, "other" last: b is set
 * to each row, i is the loop index (size_t). */
#define PACER_MX_FOR_EACH_BUCKET(m, b, i)                                      \
  for ((i) = 0; (i) <= PACER_METRICS_BUCKETS_MAX; (i)++)                       \
    if (((b) = &(m)->buckets[(i)])->key[0] != '\0')

/* Returns the name of b's limit, or PACER_MX_OTHER_KEY for the "other"
 * row or an unknown limit. Borrowed from the config. */
static inline const char *
pacer_mx_bucket_limit(const struct pacer_metrics_bucket *b)
{
  return b->cfg != NULL ? b->cfg->name : PACER_MX_OTHER_KEY;
}

/* Returns b's configured rate in requests per second (0 = none). */
static inline double
pacer_mx_conf_rate(const struct pacer_metrics_bucket *b)
{
  if (b->cfg == NULL || b->cfg->rate_period_us == 0)
    return 0;
  return (double)b->cfg->rate_count * 1e6 / (double)b->cfg->rate_period_us;
}

/* Returns the ms left of b's Redis pause at now_unix_ms, 0 when none was
 * read or it has ended. */
static inline uint64_t
pacer_mx_pause_left_ms(const struct pacer_metrics_bucket *b,
                       uint64_t now_unix_ms)
{
  if (!b->redis_valid || b->pause_until_unix_ms <= now_unix_ms)
    return 0;
  return b->pause_until_unix_ms - now_unix_ms;
}

#endif
