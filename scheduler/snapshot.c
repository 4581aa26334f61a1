/* The 1 s metrics snapshot: Redis reads and view assembly. See snapshot.h.
 */
#include "scheduler/snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/util.h"
#include "core/gcra.h"
#include "store/keys.h"
#include "store/lua_scripts.h"

#define GROUP         "pacer" /* consumer group (DESIGN) */
#define KEYS_PER_EVAL 60u     /* bucket keys per script (queue's MAX_ARGS 64) */
#define DEAD_COUNT    "20"    /* PACER_METRICS_DEAD_MAX */
#define KEY_BYTES_MAX (PACER_LIMIT_KEY_SIZE + 300) /* prefix + "limit:" */

/* The scripts: store/lua/stats_depths.lua and stats_buckets.lua. */

/* One snapshot's reads in flight. */
struct read_ctx {
  struct pacer_metrics *m;
  void (*done)(void *arg);
  void *arg;
  int outstanding; /* replies still to come */
};

/* One bucket script: rows first .. first + n - 1 of m->buckets. */
struct bucket_call {
  struct read_ctx *r;
  size_t first, n;
};

/* ------------------------------------------------------------------ */
/* Reply parsing */

static uint64_t
reply_u64(const redisReply *r)
{
  if (r->type == REDIS_REPLY_INTEGER)
    return r->integer > 0 ? (uint64_t)r->integer : 0;
  if (r->type == REDIS_REPLY_STRING && r->len > 0)
    return strtoull(r->str, NULL, 10);
  return 0;
}

static int64_t
reply_i64(const redisReply *r)
{
  return r->type == REDIS_REPLY_INTEGER ? (int64_t)r->integer : -1;
}

static void
reply_str(const redisReply *r, char *out, size_t size)
{
  size_t n = 0;

  if (r->type == REDIS_REPLY_STRING) {
    n = r->len < size - 1 ? r->len : size - 1;
    memcpy(out, r->str, n);
  }
  out[n] = '\0';
}

/* Redis TIME {sec, usec} as unix us, or 0. */
static uint64_t
reply_time_us(const redisReply *r)
{
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
    return 0;
  return reply_u64(r->element[0]) * 1000000u + reply_u64(r->element[1]);
}

static void
read_finished(struct read_ctx *r)
{
  if (--r->outstanding > 0)
    return;
  r->done(r->arg);
  free(r);
}

static void
on_depths(struct pacer_queue *q, const struct redisReply *reply, void *arg)
{
  struct read_ctx *r = arg;
  struct pacer_metrics_redis *d = &r->m->redis;
  const redisReply *dead;
  size_t i;

  (void)q;
  if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
      reply->elements == 11 && reply->element[10]->type == REDIS_REPLY_ARRAY) {
    d->at_unix_ms = reply_time_us(reply) / 1000u;
    for (i = 0; i < 3; i++)
      d->jobs[i] = reply_i64(reply->element[2 + i]);
    d->pending = reply_i64(reply->element[5]);
    d->delayed = reply_i64(reply->element[6]);
    d->parked = reply_i64(reply->element[7]);
    d->results = reply_i64(reply->element[8]);
    d->dead = reply_i64(reply->element[9]);
    dead = reply->element[10];
    d->ndead = 0;
    for (i = 0; i < dead->elements && d->ndead < PACER_METRICS_DEAD_MAX; i++) {
      const redisReply *e = dead->element[i];
      struct pacer_metrics_dead *o = &d->dead_letters[d->ndead];

      if (e->type != REDIS_REPLY_ARRAY || e->elements != 7)
        continue;
      reply_str(e->element[0], o->sid, sizeof(o->sid));
      reply_str(e->element[1], o->id, sizeof(o->id));
      reply_str(e->element[2], o->reason, sizeof(o->reason));
      reply_str(e->element[3], o->error, sizeof(o->error));
      o->status = reply_u64(e->element[4]);
      o->attempts = reply_u64(e->element[5]);
      o->failed_unix_ms = reply_u64(e->element[6]);
      d->ndead++;
    }
    d->valid = 1;
  }
  read_finished(r);
}

static void
on_buckets(struct pacer_queue *q, const struct redisReply *reply, void *arg)
{
  struct bucket_call *c = arg;
  struct pacer_metrics *m = c->r->m;
  struct read_ctx *r;
  uint64_t now_us;
  size_t i;

  (void)q;
  if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
      reply->elements == c->n + 2) {
    now_us = reply_time_us(reply);
    for (i = 0; i < c->n; i++) {
      const redisReply *h = reply->element[2 + i];
      struct pacer_metrics_bucket *b = &m->buckets[c->first + i];

      if (h->type != REDIS_REPLY_ARRAY || h->elements != 4)
        continue;
      b->pause_until_unix_ms = reply_u64(h->element[0]) / 1000u;
      reply_str(h->element[1], b->pause_reason, sizeof(b->pause_reason));
      /* the share the take script applies now (AIMD recovery) */
      b->permille = pacer_gcra_permille(
          h->element[2]->len > 0 ? (uint32_t)reply_u64(h->element[2]) : 0u,
          reply_u64(h->element[3]), now_us);
      b->redis_valid = 1;
    }
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
  char *keys[KEYS_PER_EVAL];
  const char *kp[KEYS_PER_EVAL];
  struct bucket_call *c = malloc(sizeof(*c));
  size_t i;
  int rc = PACER_ENOMEM;

  if (c == NULL)
    return PACER_ENOMEM;
  memset(keys, 0, sizeof(keys));
  for (i = 0; i < n; i++) {
    keys[i] = malloc(KEY_BYTES_MAX);
    if (keys[i] == NULL)
      goto out;
    snprintf(keys[i], KEY_BYTES_MAX, "%slimit:%s", cfg->prefix,
             r->m->buckets[first + i].key);
    kp[i] = keys[i];
  }
  c->r = r;
  c->first = first;
  c->n = n;
  rc = pacer_queue_eval_reply(q, pacer_lua_stats_buckets, (int)n, kp, 0, NULL,
                              NULL, on_buckets, c);
out:
  for (i = 0; i < n; i++)
    free(keys[i]);
  if (rc != 0)
    free(c);
  return rc;
}

int
pacer_snapshot_read(struct pacer_queue *q, const struct pacer_config *cfg,
                    struct pacer_metrics *m, void (*done)(void *arg), void *arg)
{
  static const char *const names[6] = {"jobs:high", "jobs",    "jobs:low",
                                       "delayed",   "results", "dead"};
  char keys[6][300];
  const char *kp[6];
  const char *args[3] = {GROUP, PACER_KEYS_PARK_SCORE_TEXT, DEAD_COUNT};
  struct read_ctx *r;
  size_t i, first;
  int rc;

  if (!pacer_queue_connected(q))
    return PACER_EREDIS;
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return PACER_ENOMEM;
  r->m = m;
  r->done = done;
  r->arg = arg;
  for (i = 0; i < 6; i++) {
    snprintf(keys[i], sizeof(keys[i]), "%s%s", cfg->prefix, names[i]);
    kp[i] = keys[i];
  }
  /* One reference for the issuing itself, so done never runs inside this
   * call even when every reply came back synchronously. */
  r->outstanding = 1;
  rc = pacer_queue_eval_reply(q, pacer_lua_stats_depths, 6, kp, 3, args, NULL,
                              on_depths, r);
  if (rc != 0) {
    free(r);
    return rc;
  }
  r->outstanding++;
  /* Rows with a real limit only ("other" has no hash); the table only
   * grows, so the indices stay valid until the replies come. */
  for (first = 0; first < m->nbuckets; first += KEYS_PER_EVAL) {
    size_t n = m->nbuckets - first;

    if (n > KEYS_PER_EVAL)
      n = KEYS_PER_EVAL;
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
    if (limit == 0 || eff < limit)
      limit = eff;
  }
  if (lv == NULL)
    return;
  lv->id = l->id;
  lv->queued = l->queued;
  lv->in_flight = l->in_flight;
  lv->deferred = l->deferred;
  lv->rate_milli_per_s = rate == UINT64_MAX ? 0 : rate;
  lv->limit_per_s = limit;
  lv->wait = pacer_metrics_lane_wait(
      l, in->now_mono_us, in->in_flight >= in->cfg->concurrency, pause_ms,
      paused != NULL ? paused->key : NULL,
      paused != NULL ? paused->pause_reason : NULL, &lv->wait_ms, lv->text,
      sizeof(lv->text));
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
