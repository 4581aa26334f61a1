/* A batch's ETA from the buckets' rates, and its pause note: see
 * progress.h. */
#include "core/progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A pause this long has no end to count down: an operator's pause until
 * `pacer resume` (as scheduler/metrics.c). */
#define UNTIL_RESUMED_MS 100000000000ull

/* ms needed for jobs at rate_per_s (> 0), rounded up. */
static uint64_t
ms_for(double jobs, double rate_per_s)
{
  double ms = jobs * 1000.0 / rate_per_s;

  return ms > 1e15 ? (uint64_t)1e15 : (uint64_t)(ms + 0.999);
}

int
pacer_progress_eta_ms(const struct pacer_progress_in *in, uint64_t *eta_ms)
{
  uint64_t eta = 0, in_buckets = 0, longest_pause = 0;
  double sum_rate = 0.0, share, limited;
  size_t i;
  int known = 0;

  *eta_ms = 0;
  if (in->remaining == 0)
    return 1;
  for (i = 0; i < in->nbuckets; i++) {
    const struct pacer_progress_bucket *b = &in->buckets[i];
    uint64_t t;

    if (b->rate_per_s <= 0.0 || b->jobs == 0)
      continue;
    if (b->paused_ms > UNTIL_RESUMED_MS)
      return 0; /* no ETA while jobs wait for `pacer resume` */
    known = 1;
    t = b->paused_ms + ms_for((double)b->jobs, b->rate_per_s);
    if (t > eta)
      eta = t;
    if (b->paused_ms > longest_pause)
      longest_pause = b->paused_ms;
    sum_rate += b->rate_per_s;
    in_buckets += b->jobs;
  }
  /* The share of jobs that go through a limit, as among the held ones. */
  share = 0.0;
  if (known)
    share = in->held > 0 && in_buckets < in->held
                ? (double)in_buckets / (double)in->held
                : 1.0;
  limited = (double)in->remaining * share;
  if (known && longest_pause + ms_for(limited, sum_rate) > eta)
    eta = longest_pause + ms_for(limited, sum_rate);
  if (in->done > 0 && share < 1.0) {
    double rest = (double)in->remaining - limited;
    uint64_t t = (uint64_t)(rest * (double)in->elapsed_ms / (double)in->done);

    known = 1;
    if (t > eta)
      eta = t;
  }
  *eta_ms = eta;
  return known;
}

size_t
pacer_progress_pause_note(const struct pacer_progress_bucket *b, size_t n,
                          char *buf, size_t size)
{
  const struct pacer_progress_bucket *shown = NULL;
  size_t i, paused = 0;
  char left[48], d[32];
  int off;

  if (size > 0)
    buf[0] = '\0';
  for (i = 0; i < n; i++) {
    if (b[i].paused_ms == 0)
      continue;
    paused++;
    /* The one that holds jobs back longest; with no jobs, any. */
    if (shown == NULL || (b[i].jobs > 0 && shown->jobs == 0) ||
        ((b[i].jobs > 0) == (shown->jobs > 0) &&
         b[i].paused_ms > shown->paused_ms))
      shown = &b[i];
  }
  if (shown == NULL || size == 0)
    return paused;
  pacer_progress_duration(shown->paused_ms, d, sizeof(d));
  if (shown->paused_ms > UNTIL_RESUMED_MS)
    snprintf(left, sizeof(left), "until resumed");
  else
    snprintf(left, sizeof(left), "%s left", d);
  if (shown->pause_reason != NULL &&
      strstr(shown->pause_reason, "operator") != NULL)
    off = snprintf(buf, size, "paused by an operator on %s, %s", shown->name,
                   left);
  else if (shown->pause_reason != NULL && shown->pause_reason[0] != '\0')
    off = snprintf(buf, size, "paused by upstream on %s, %s (%s)", shown->name,
                   left, shown->pause_reason);
  else
    off =
        snprintf(buf, size, "paused by upstream on %s, %s", shown->name, left);
  if (paused > 1 && off > 0 && (size_t)off < size)
    snprintf(buf + off, size - (size_t)off, " (+%zu more paused)", paused - 1);
  return paused;
}

void
pacer_progress_duration(uint64_t ms, char *buf, size_t size)
{
  uint64_t s = (ms + 999) / 1000;

  if (ms < 1000)
    snprintf(buf, size, "%" PRIu64 " ms", ms);
  else if (s < 60)
    snprintf(buf, size, "%" PRIu64 " s", s);
  else if (s < 3600 && s % 60 == 0)
    snprintf(buf, size, "%" PRIu64 " min", s / 60);
  else if (s < 3600)
    snprintf(buf, size, "%" PRIu64 " min %" PRIu64 " s", s / 60, s % 60);
  else
    snprintf(buf, size, "%" PRIu64 " h %" PRIu64 " min", s / 3600,
             s % 3600 / 60);
}
