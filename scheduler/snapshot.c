/* The 1 s metrics snapshot: Redis reads and view assembly. See snapshot.h.
 */
#include "scheduler/snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "store/keys.h"
#include "store/stats_view.h"

/* One snapshot's reads in flight. */
struct read_ctx {
  struct pacer_metrics *m;
  void (*done)(void *arg);
  void *arg;
  int outstanding; /* replies still to come */
};

/* One bucket read: rows first .. first + n - 1 of m->buckets. */
struct bucket_call {
  struct read_ctx *r;
  size_t first;
};

static void
read_finished(struct read_ctx *r)
{
  if (--r->outstanding > 0)
    return;
  r->done(r->arg);
  free(r);
}

static void
on_depths(const struct pacer_stats_depths *sd, void *arg)
{
  struct read_ctx *r = arg;
  struct pacer_metrics_redis *d = &r->m->redis;
  size_t i;

  if (sd != NULL) {
    d->at_unix_ms = sd->at_unix_ms;
    for (i = 0; i < 3; i++)
      d->jobs[i] = sd->jobs[i];
    d->pending = sd->pending;
    d->delayed = sd->delayed;
    d->parked = sd->parked;
    d->results = sd->results;
    d->dead = sd->dead;
    d->all_paused_until_unix_ms = sd->all_paused_until_unix_ms;
    d->ndead = 0;
    for (i = 0; i < sd->ndead && d->ndead < PACER_METRICS_DEAD_MAX; i++) {
      const struct pacer_stats_dead *e = &sd->dead_letters[i];
      struct pacer_metrics_dead *o = &d->dead_letters[d->ndead++];

      snprintf(o->sid, sizeof(o->sid), "%s", e->sid);
      snprintf(o->id, sizeof(o->id), "%s", e->id);
      snprintf(o->reason, sizeof(o->reason), "%s", e->reason);
      snprintf(o->error, sizeof(o->error), "%s", e->error);
      o->status = e->status;
      o->attempts = e->attempts;
      o->failed_unix_ms = e->failed_unix_ms;
    }
    d->valid = 1;
  }
  read_finished(r);
}

static void
on_pauses(const struct pacer_stats_pause *p, size_t n, void *arg)
{
  struct bucket_call *c = arg;
  struct pacer_metrics *m = c->r->m;
  struct read_ctx *r;
  size_t i;

  for (i = 0; p != NULL && i < n; i++) {
    struct pacer_metrics_bucket *b = &m->buckets[c->first + i];

    if (!p[i].valid)
      continue;
    b->pause_until_unix_ms = p[i].pause_until_unix_ms;
    snprintf(b->pause_reason, sizeof(b->pause_reason), "%s", p[i].pause_reason);
    b->permille = p[i].permille;
    b->redis_valid = 1;
  }
  r = c->r;
  free(c);
  read_finished(r);
}

/* ------------------------------------------------------------------ */
/* Reads */

static int
send_buckets(struct pacer_queue *q, const struct pacer_config *cfg,
             struct read_ctx *r, size_t first, size_t n)
{
  const char *keys[PACER_STATS_PAUSES_MAX];
  struct bucket_call *c = malloc(sizeof(*c));
  size_t i;
  int rc;

  if (c == NULL)
    return PACER_ENOMEM;
  for (i = 0; i < n; i++)
    keys[i] = r->m->buckets[first + i].key;
  c->r = r;
  c->first = first;
  rc = pacer_stats_pauses_read(q, cfg->prefix, keys, n, on_pauses, c);
  if (rc != 0)
    free(c);
  return rc;
}

int
pacer_snapshot_read(struct pacer_queue *q, const struct pacer_config *cfg,
                    struct pacer_metrics *m, void (*done)(void *arg), void *arg)
{
  struct read_ctx *r;
  size_t first;
  int rc;

  if (!pacer_queue_connected(q))
    return PACER_EREDIS;
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return PACER_ENOMEM;
  r->m = m;
  r->done = done;
  r->arg = arg;
  /* One reference for the issuing itself, so done never runs inside this
   * call even when every reply came back synchronously. */
  r->outstanding = 1;
  rc = pacer_stats_depths_read(q, cfg->prefix, on_depths, r);
  if (rc != 0) {
    free(r);
    return rc;
  }
  r->outstanding++;
  /* Rows with a real limit only ("other" has no hash); the table only
   * grows, so the indices stay valid until the replies come. */
  for (first = 0; first < m->nbuckets; first += PACER_STATS_PAUSES_MAX) {
    size_t n = m->nbuckets - first;

    if (n > PACER_STATS_PAUSES_MAX)
      n = PACER_STATS_PAUSES_MAX;
    if (send_buckets(q, cfg, r, first, n) == 0)
      r->outstanding++;
  }
  r->outstanding--; /* the issuing reference; replies are still due */
  return 0;
}

/* ------------------------------------------------------------------ */
/* Build */

static int
lane_cmp(const void *a, const void *b)
{
  const struct pacer_metrics_lane_view *x = a, *y = b;

  return strcmp(x->id, y->id);
}

/* Fills lane view lv for lane l and adds the lane's counts to its buckets. */
static void
lane_view(struct pacer_metrics *m, const struct pacer_snapshot_in *in,
          const struct pacer_lane *l, struct pacer_metrics_lane_view *lv)
{
  const struct pacer_metrics_bucket *paused = NULL;
  const char *binding = NULL, *pause_bucket, *pause_reason;
  uint64_t all_until = m->redis.all_paused_until_unix_ms;
  uint64_t pause_ms = 0, rate = UINT64_MAX;
  double limit = 0;
  size_t i;

  for (i = 0; i < l->nrefs; i++) {
    struct pacer_metrics_bucket *b =
        pacer_metrics_bucket(m, l->refs[i].key, l->refs[i].cfg);
    uint64_t left = b->redis_valid && b->pause_until_unix_ms > in->now_unix_ms
                        ? b->pause_until_unix_ms - in->now_unix_ms
                        : 0;
    const struct pacer_limit_cfg *c = l->refs[i].cfg;
    double eff = (double)c->rate_count * 1e6 / (double)c->rate_period_us *
                 (double)b->permille / 1000.0 / (c->cost ? c->cost : 1u);

    b->queued += l->queued;
    b->in_flight += l->in_flight;
    b->deferred += l->deferred;
    if (left > pause_ms) {
      pause_ms = left;
      paused = b;
    }
    if (b->rate_milli_per_s < rate)
      rate = b->rate_milli_per_s;
    if (limit == 0 || eff < limit) {
      limit = eff;
      binding = l->refs[i].key;
    }
  }
  if (lv == NULL)
    return;
  pause_bucket = paused != NULL ? paused->key : NULL;
  pause_reason = paused != NULL ? paused->pause_reason : NULL;
  /* The operator pause of every bucket (pacer pause --all) holds a lane
   * whose buckets have no state yet too, so it is named as such. */
  if (l->nrefs > 0 && all_until > in->now_unix_ms &&
      all_until - in->now_unix_ms >= pause_ms) {
    pause_ms = all_until - in->now_unix_ms;
    pause_bucket = "all buckets (pause --all)";
    pause_reason = PACER_KEYS_OP_REASON;
  }
  lv->id = l->id;
  lv->queued = l->queued;
  lv->in_flight = l->in_flight;
  lv->deferred = l->deferred;
  lv->rate_milli_per_s = rate == UINT64_MAX ? 0 : rate;
  lv->limit_per_s = limit;
  lv->wait = pacer_metrics_lane_wait(
      l, in->now_mono_us, in->in_flight >= in->cfg->concurrency, pause_ms,
      pause_bucket, pause_reason, &lv->wait_ms, lv->text, sizeof(lv->text));
  lv->binding = binding;
  /* Stacked limits: say which one sets the pace (docs/METRICS.md). */
  if (l->nrefs > 1 && binding != NULL &&
      (lv->wait == PACER_WAIT_RATE || lv->wait == PACER_WAIT_SENDING ||
       lv->wait == PACER_WAIT_SLOTS)) {
    size_t n = strlen(lv->text);

    snprintf(lv->text + n, sizeof(lv->text) - n,
             "; %s binds at %.4g/s (the lowest of %zu stacked limits)", binding,
             limit, l->nrefs);
  }
}

int
pacer_snapshot_build(struct pacer_metrics *m,
                     const struct pacer_snapshot_in *in,
                     struct pacer_text *text, struct pacer_text *json)
{
  struct pacer_metrics_lane_view *lanes;
  struct pacer_metrics_cred_view *creds = NULL;
  struct pacer_metrics_view v;
  size_t i, b, nlanes = 0;
  int rc;

  lanes = calloc(PACER_METRICS_LANES_MAX, sizeof(*lanes));
  if (in->cfg->ncreds > 0)
    creds = calloc(in->cfg->ncreds, sizeof(*creds));
  if (lanes == NULL || (in->cfg->ncreds > 0 && creds == NULL)) {
    free(lanes);
    free(creds);
    return PACER_ENOMEM;
  }
  for (i = 0; i <= PACER_METRICS_BUCKETS_MAX; i++) {
    m->buckets[i].queued = 0;
    m->buckets[i].in_flight = 0;
    m->buckets[i].deferred = 0;
  }
  for (b = 0; b < PACER_ARRAY_SIZE(in->lanes->buckets); b++) {
    const struct pacer_lane *l;

    for (l = in->lanes->buckets[b]; l != NULL; l = l->hnext) {
      /* Unlimited lanes ("~<limit_key>") show too: they answer "why is
       * this job waiting" with the process's own reasons. */
      lane_view(m, in, l,
                nlanes < PACER_METRICS_LANES_MAX ? &lanes[nlanes] : NULL);
      if (nlanes < PACER_METRICS_LANES_MAX)
        nlanes++;
    }
  }
  qsort(lanes, nlanes, sizeof(*lanes), lane_cmp);
  for (i = 0; i < in->cfg->ncreds; i++) {
    const struct pacer_cred *c =
        pacer_creds_get(in->creds, in->cfg->creds[i].name);
    struct pacer_cred_metrics cm;

    creds[i].name = in->cfg->creds[i].name;
    creds[i].status = "unknown";
    creds[i].waiting = in->cred_waiting != NULL ? in->cred_waiting[i] : 0;
    if (c == NULL)
      continue;
    pacer_cred_get_metrics(c, &cm);
    creds[i].status = cm.status;
    creds[i].generation = cm.generation;
    creds[i].expires_unix_ms = cm.expires_unix_ms;
    creds[i].refresh_ok = cm.refresh_ok;
    creds[i].refresh_failed = cm.refresh_failed;
    creds[i].refresh_refused = cm.refresh_refused;
  }
  memset(&v, 0, sizeof(v));
  v.consumer = in->consumer;
  v.now_unix_ms = in->now_unix_ms;
  v.workers = in->cfg->workers;
  v.concurrency = in->cfg->concurrency;
  v.held = in->held;
  v.ready = in->ready;
  v.in_flight = in->in_flight;
  v.cred_waiting = in->cred_waiting_total;
  v.retried = in->retried;
  v.deferred = in->deferred;
  v.lanes = lanes;
  v.nlanes = nlanes;
  v.lanes_total = in->lanes->count;
  v.creds = creds;
  v.ncreds = in->cfg->ncreds;
  if (in->q != NULL) {
    v.redis_rtt = pacer_queue_rtt(in->q);
    pacer_queue_conn_stats(in->q, v.redis_reconnects, v.redis_connected);
  }
  pacer_metrics_tick(m, &v, in->now_mono_us / 1000u);
  rc = pacer_metrics_render_text(m, &v, text);
  if (rc == 0)
    rc = pacer_metrics_render_json(m, &v, json);
  free(lanes);
  free(creds);
  return rc;
}
