/* `pacer cancel` inside the scheduler: see cancel.h. */
#include "scheduler/cancel.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "store/cancel.h"

#define CANCEL_POLL_MS 500 /* how often the requests are read, ms */

static const char cancel_text[] = "cancelled by an operator (pacer cancel)";

static int
cmp_id(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int
pacer_sched_cancel_wanted(const struct pacer_sched *s, const char *id)
{
  return s->ncancel_ids > 0 && bsearch(&id, s->cancel_ids, s->ncancel_ids,
                                       sizeof(char *), cmp_id) != NULL;
}

void
pacer_sched_cancel_finish(struct pacer_sched *s, struct pacer_entry *e,
                          uint64_t now_unix_ms)
{
  char jf[PACER_SCHED_JOB_FIELDS_MAX];

  pacer_log(PACER_LOG_INFO, "sched", "msg=\"cancelled\" %s",
            pacer_sched_job_fields(e, jf, sizeof(jf)));
  pacer_sched_finish(s, e, PACER_JOB_CANCELLED, 0,
                     PACER_REASON_CANCELLED_BY_OPERATOR, cancel_text, 0, NULL,
                     NULL, 0, now_unix_ms);
}

int
pacer_sched_cancel_outcome(struct pacer_sched *s, struct pacer_entry *e,
                           const struct pacer_http_outcome *o,
                           uint64_t now_unix_ms)
{
  long status = o->result == PACER_HTTP_OK ? o->status : 0;
  int maybe_sent;
  char jf[PACER_SCHED_JOB_FIELDS_MAX];

  if (status >= 200 && status < 300)
    return 0; /* it succeeded before the abort: that is its result */
  e->attempt++;
  /* A POST/PATCH without Idempotency-Key (a connection of its own) that got
   * past connecting may have reached the server: never "cancelled". */
  maybe_sent = o->req->forbid_reuse && o->result != PACER_HTTP_CONNECT &&
               o->result != PACER_HTTP_BLOCKED &&
               o->result != PACER_HTTP_MISSED_SLOT;
  pacer_log(PACER_LOG_INFO, "sched",
            "msg=\"cancelled while running\" %s maybe_sent=%d",
            pacer_sched_job_fields(e, jf, sizeof(jf)), maybe_sent);
  pacer_sched_finish(
      s, e, maybe_sent ? PACER_JOB_OUTCOME_UNKNOWN : PACER_JOB_CANCELLED,
      status, PACER_REASON_CANCELLED_BY_OPERATOR,
      maybe_sent ? "cancelled by an operator (pacer cancel) "
                   "while the request was under way; it may "
                   "have reached the server"
                 : cancel_text,
      o->total_us / 1000u, NULL, NULL, 0, now_unix_ms);
  return 1;
}

/* Takes e out of its lane: pops the lane's entries and puts back the
 * others in the order they had. Returns 1 when e was there. */
static int
lane_remove(struct pacer_sched *s, struct pacer_entry *e)
{
  struct pacer_lane *l = e->lane;
  struct pacer_entry *keep = NULL, **tail = &keep, *x;
  int found = 0;

  while ((x = pacer_sched_lane_pop_entry(s, l)) != NULL) {
    if (x == e) {
      found = 1;
      continue;
    }
    x->rnext = NULL;
    *tail = x;
    tail = &x->rnext;
  }
  while ((x = keep) != NULL) {
    keep = x->rnext;
    x->rnext = NULL;
    pacer_lane_push(&s->lanes, l, &x->node, 0);
    s->st.ready++;
  }
  return found;
}

static void
cancel_entry(struct pacer_sched *s, struct pacer_entry *e, uint64_t now)
{
  struct pacer_entry **pp;
  char jf[PACER_SCHED_JOB_FIELDS_MAX];

  switch (e->state) {
  case PACER_ENTRY_READY:
    /* Not in a lane yet (its done-marker check is out): the next poll. */
    if (e->lane != NULL && lane_remove(s, e))
      pacer_sched_cancel_finish(s, e, now);
    break;
  case PACER_ENTRY_CRED_WAIT:
    for (pp = &s->cred_wait; *pp != NULL && *pp != e; pp = &(*pp)->rnext)
      ;
    if (*pp == NULL)
      return;
    *pp = e->rnext;
    e->rnext = NULL;
    s->ncred_wait--;
    pacer_sched_cancel_finish(s, e, now);
    break;
  case PACER_ENTRY_RUNNING:
    if (e->cancel)
      return;
    e->cancel = 1;
    atomic_store(&e->abort_flag, 1);
    if (s->pool != NULL)
      pacer_pool_wake_aborts(s->pool);
    pacer_log(PACER_LOG_INFO, "sched", "msg=\"aborting for cancel\" %s",
              pacer_sched_job_fields(e, jf, sizeof(jf)));
    break;
  case PACER_ENTRY_WRITING:
    break; /* its fate is being written already */
  }
}

static void
ids_free(struct pacer_sched *s)
{
  size_t i;

  for (i = 0; i < s->ncancel_ids; i++)
    free(s->cancel_ids[i]);
  free(s->cancel_ids);
  s->cancel_ids = NULL;
  s->ncancel_ids = 0;
}

static void
on_poll(void *arg, int status, const char *const *ids, size_t n)
{
  struct pacer_sched *s = arg;
  struct pacer_entry *e, *next;
  char **v;
  size_t i, k = 0;

  s->cancel_polling = 0;
  if (status != 0 || s->closing)
    return;
  v = n > 0 ? calloc(n, sizeof(*v)) : NULL;
  if (n > 0 && v == NULL)
    return; /* out of memory: keep the last set */
  for (i = 0; i < n; i++)
    if ((v[k] = strdup(ids[i])) != NULL)
      k++;
  if (k > 1)
    qsort(v, k, sizeof(*v), cmp_id);
  ids_free(s);
  s->cancel_ids = v;
  s->ncancel_ids = k;
  if (k == 0)
    return;
  for (e = s->held_head; e != NULL; e = next) {
    next = e->next; /* a finish may free nothing now, but keep it safe */
    if (pacer_sched_cancel_wanted(s, pacer_sched_entry_id(e)))
      cancel_entry(s, e, pacer_clock_unix_ms());
  }
  pacer_sched_pump(s);
}

static void
on_cancel_timer(uv_timer_t *t)
{
  struct pacer_sched *s =
      PACER_CONTAINER_OF(t, struct pacer_sched, cancel_timer);

  if (s->cancel_polling || s->closing || s->queue == NULL ||
      !pacer_queue_connected(s->queue))
    return;
  if (pacer_cancel_poll(s->queue, on_poll, s) == 0)
    s->cancel_polling = 1;
}

void
pacer_sched_cancel_start(struct pacer_sched *s)
{
  uv_timer_start(&s->cancel_timer, on_cancel_timer, 0, CANCEL_POLL_MS);
}

void
pacer_sched_cancel_stop(struct pacer_sched *s)
{
  uv_timer_stop(&s->cancel_timer);
  ids_free(s);
}
