/* Scheduler, deferrals: how many jobs each lane has in the delayed set
 * that are not due yet (lane->deferred, the gauge
 * pacer_bucket_deferred_jobs and the DEFERRED column of pacer stats). A
 * min-heap of (due time, lane) drops each deferral when it falls due, so
 * the count falls as jobs come back instead of counting every deferral
 * until the lane's last one is due (docs/METRICS.md). */
#include <stdlib.h>

#include "scheduler/sched_int.h"

static void
swap(struct pacer_deferral *a, struct pacer_deferral *b)
{
  struct pacer_deferral t = *a;

  *a = *b;
  *b = t;
}

void
pacer_sched_deferred_add(struct pacer_sched *s, struct pacer_lane *l,
                         uint64_t due_unix_ms)
{
  struct pacer_deferrals *h = &s->deferrals;
  size_t i;

  l->deferred++;
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    struct pacer_deferral *v = realloc(h->v, cap * sizeof(*v));

    if (v == NULL)
      return; /* counted until the lane's last deferral is due */
    h->v = v;
    h->cap = cap;
  }
  i = h->n++;
  h->v[i].due_unix_ms = due_unix_ms;
  h->v[i].lane = l;
  while (i > 0 && h->v[(i - 1) / 2].due_unix_ms > h->v[i].due_unix_ms) {
    swap(&h->v[(i - 1) / 2], &h->v[i]);
    i = (i - 1) / 2;
  }
}

void
pacer_sched_deferred_expire(struct pacer_sched *s, uint64_t now_unix_ms)
{
  struct pacer_deferrals *h = &s->deferrals;

  while (h->n > 0 && h->v[0].due_unix_ms <= now_unix_ms) {
    size_t i = 0;

    if (h->v[0].lane->deferred > 0)
      h->v[0].lane->deferred--;
    h->v[0] = h->v[--h->n];
    for (;;) {
      size_t c = 2 * i + 1;

      if (c >= h->n)
        break;
      if (c + 1 < h->n && h->v[c + 1].due_unix_ms < h->v[c].due_unix_ms)
        c++;
      if (h->v[i].due_unix_ms <= h->v[c].due_unix_ms)
        break;
      swap(&h->v[i], &h->v[c]);
      i = c;
    }
  }
}

void
pacer_sched_deferred_free(struct pacer_sched *s)
{
  free(s->deferrals.v);
  s->deferrals.v = NULL;
  s->deferrals.n = s->deferrals.cap = 0;
}
