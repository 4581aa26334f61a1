/* What a batch's progress display says beyond its counts: when the rest
 * will be done, estimated from the limit buckets' rates (not from the
 * recent completion rate, which says "2 s" while a bucket is paused or
 * crawls at 1 request/s), and which bucket is paused, by whom and for how
 * long. Pure: the caller passes what the scheduler's snapshot
 * (docs/METRICS.md "/api/state") or `pacer stats`' read of Redis
 * (store/stats_view.h) says. Used by `pacer run` and `pacer submit
 * --wait`; tests/unit/test_progress.c.
 */
#ifndef PACER_CORE_PROGRESS_H
#define PACER_CORE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/** One limit bucket as the display sees it. */
struct pacer_progress_bucket {
  const char *name;         /* bucket key, e.g. "acct:a1"; borrowed */
  double rate_per_s;        /* effective rate, requests/s; 0 = unknown */
  uint64_t jobs;            /* queued + in flight + deferred on it */
  uint64_t paused_ms;       /* pause left, ms; 0 = not paused */
  const char *pause_reason; /* why ("Retry-After 4000 ms", "operator"),
                               "" or NULL when unknown; borrowed */
};

/** Everything the estimate uses. */
struct pacer_progress_in {
  uint64_t remaining;  /* jobs of the batch not finished yet */
  uint64_t done;       /* jobs of the batch finished */
  uint64_t elapsed_ms; /* since the batch started, ms */
  uint64_t held;       /* jobs the schedulers hold (in lanes), 0 = unknown */
  const struct pacer_progress_bucket *buckets; /* borrowed, nbuckets */
  size_t nbuckets;
};

/** Estimates the time until the batch is done, in ms, into *eta_ms.
 *
 *  A bucket with a rate and jobs needs paused_ms + jobs / rate_per_s; the
 *  jobs not yet in any lane are assumed to split between limited and
 *  unlimited lanes as the held ones do (limited share = bucket jobs /
 *  held, 1 when held is unknown), and the limited part of the remaining
 *  jobs needs the longest pause + jobs / (the summed rates). The
 *  unlimited part goes at the batch's completion rate so far (done /
 *  elapsed_ms). The estimate is the longest of these.
 *  Returns 1 with *eta_ms set, 0 when nothing is known yet (no bucket
 *  with a rate and no job done). */
int pacer_progress_eta_ms(const struct pacer_progress_in *in, uint64_t *eta_ms);

/** Writes why the batch is held back into buf (size bytes, always
 *  NUL-terminated): the bucket with jobs and the longest pause, as
 *  "paused by upstream on acct:a1, 4 s left (Retry-After 4000 ms)" or
 *  "paused by an operator on acct:a1, until resumed", with " (+N more
 *  paused)" when other buckets are paused too. Writes "" and returns 0
 *  when no bucket is paused; returns the number of paused buckets. */
size_t pacer_progress_pause_note(const struct pacer_progress_bucket *b,
                                 size_t n, char *buf, size_t size);

/** Formats ms as a short duration into buf (size bytes): "850 ms" below
 *  1 s, "12 s", "1 min", "3 min 5 s", "2 h 10 min". */
void pacer_progress_duration(uint64_t ms, char *buf, size_t size);

#endif
