/* Scheduler: intake -> validate -> lane -> workers -> decide -> atomic
 * Redis write (scheduler/sched_int.h names the file of each step). This
 * file holds the lifecycle, the stop sequence and the snapshots for
 * `pacer stats` and /metrics. Runs entirely on the scheduler thread; the
 * worker pool and Redis call back on this thread only. */
#include "scheduler/sched.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include <cjson/cJSON.h>

#include "core/backoff.h"
#include "core/job.h"
#include "scheduler/cancel.h"
#include "scheduler/cred.h"
#include "scheduler/metrics.h"
#include "scheduler/snapshot.h"
#include "store/queue.h"

#include "scheduler/cron_tick.h"
#include "scheduler/sched_int.h"

#define FORCE_CLOSE_MS    5000u /* after the grace period, ms */
#define LANESTAT_EVERY_MS 1000u /* lane snapshot for pacer stats, ms */
#define LANESTAT_TTL_MS   3000u /* snapshot outlives its process, ms */
#define LANESTAT_MAX      500u  /* lanes per snapshot */

/* ------------------------------------------------------------------ */
/* Lifecycle */

int
pacer_sched_new(uv_loop_t *loop, const struct pacer_config *cfg,
                struct pacer_sched **out, struct pacer_error *err)
{
  struct pacer_sched *s;
  struct pacer_queue_cbs cbs;
  char host[64], consumer[128];
  uint64_t seed;
  int rc;

  *out = NULL;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "scheduler: out of memory");
  s->loop = loop;
  s->cfg = cfg;
  s->mx = pacer_metrics_new(pacer_clock_unix_ms());
  if (s->mx == NULL) {
    free(s);
    return pacer_error_set(err, PACER_ENOMEM, "scheduler: out of memory");
  }
  seed = pacer_clock_mono_ms() ^ ((uint64_t)getpid() << 32) ^
         pacer_clock_unix_ms();
  s->prng = seed ? seed : 0x9e3779b97f4a7c15u;
  if (gethostname(host, sizeof(host)) != 0)
    snprintf(host, sizeof(host), "host");
  host[sizeof(host) - 1] = '\0';
  /* One consumer name per process, never reused, so a restart never
   * inherits (or deletes) a dead process's pending entries by accident. */
  snprintf(consumer, sizeof(consumer), "%s-%ld-%04x", host, (long)getpid(),
           (unsigned)(pacer_prng_next(&s->prng) & 0xffffu));
  snprintf(s->consumer, sizeof(s->consumer), "%s", consumer);
  {
    /* FNV-1a of the consumer name: this process in the limiter's blocks */
    const char *c;
    uint64_t h = UINT64_C(14695981039346656037);

    for (c = consumer; *c != '\0'; c++)
      h = (h ^ (unsigned char)*c) * UINT64_C(1099511628211);
    s->taker = h % (UINT64_C(1) << 52) + 1u;
  }
  memset(&cbs, 0, sizeof(cbs));
  cbs.on_entry = pacer_sched_on_entry;
  cbs.on_connected = pacer_sched_on_connected;
  cbs.capacity = pacer_sched_capacity;
  rc = pacer_queue_new(loop, cfg, consumer, &cbs, s, &s->queue, err);
  if (rc != 0) {
    pacer_metrics_free(s->mx);
    free(s);
    return rc;
  }
  pacer_queue_set_held(s->queue, pacer_sched_held_list, s);
  rc = pacer_creds_new(loop, cfg, s->queue, pacer_sched_submit_token_request,
                       pacer_sched_on_cred_changed, s, &s->creds);
  if (rc != 0) {
    pacer_queue_close(s->queue, NULL, NULL);
    pacer_metrics_free(s->mx);
    free(s);
    return pacer_error_set(err, rc, "scheduler: out of memory");
  }
  uv_timer_init(loop, &s->replay_timer);
  uv_timer_init(loop, &s->grace_timer);
  uv_timer_init(loop, &s->stop_timer);
  uv_timer_init(loop, &s->pump_timer);
  uv_timer_init(loop, &s->stat_timer);
  uv_timer_init(loop, &s->cancel_timer);
  uv_timer_init(loop, &s->cron_timer);
  pacer_lanes_init(&s->lanes);
  s->throttles.on_shared = pacer_sched_on_throttle_shared;
  s->throttles.arg = s;
  *out = s;
  return 0;
}

void
pacer_sched_set_observer(struct pacer_sched *s, pacer_sched_terminal_cb cb,
                         void *arg)
{
  s->on_terminal = cb;
  s->terminal_arg = arg;
}

static void
on_stat_reply(struct pacer_queue *q, const struct redisReply *reply,
              void *privdata)
{
  (void)q;
  (void)reply;
  (void)privdata;
}

/* Adds lane l to the snapshot array; returns 0 or -1 (out of memory). */
static int
lanestat_add(cJSON *arr, const struct pacer_lane *l, uint64_t now_unix_ms)
{
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL && cJSON_AddItemToArray(arr, o);
  const char *binding = NULL;
  uint64_t binding_iv = 0;
  size_t i;

  if (!ok) {
    cJSON_Delete(o);
    return -1;
  }
  /* Stacked limits: the one with the longest spacing sets the pace
   * (pacer stats names it, docs/LIMITS.md "Visibility"). */
  for (i = 0; i < l->nrefs; i++) {
    uint64_t iv = l->refs[i].cfg->gcra.interval_us *
                  (l->refs[i].cfg->cost ? l->refs[i].cfg->cost : 1u);

    if (binding == NULL || iv > binding_iv) {
      binding = l->refs[i].key;
      binding_iv = iv;
    }
  }
  /* cJSON numbers are doubles: exact below 2^53. */
  ok = (l->nrefs < 2 ||
        cJSON_AddStringToObject(o, "binding", binding) != NULL) &&
       cJSON_AddStringToObject(o, "lane", l->id) != NULL &&
       cJSON_AddNumberToObject(o, "queued", (double)l->queued) != NULL &&
       cJSON_AddNumberToObject(o, "in_flight", (double)l->in_flight) != NULL &&
       cJSON_AddNumberToObject(o, "deferred", (double)l->deferred) != NULL &&
       cJSON_AddNumberToObject(o, "deferred_until_ms",
                               (double)(l->defer_until_unix_ms > now_unix_ms
                                            ? l->defer_until_unix_ms
                                            : 0)) != NULL;
  return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Metrics snapshot (docs/METRICS.md): built here every second, on this thread;
 * the HTTP thread only ever sees the rendered copy the publisher takes. */

static void
metrics_publish(struct pacer_sched *s)
{
  size_t waiting[PACER_CREDS_MAX];
  struct pacer_snapshot_in in;
  struct pacer_text text, json;
  struct pacer_entry *e;
  size_t i;

  memset(waiting, 0, sizeof(waiting));
  for (e = s->cred_wait; e != NULL; e = e->rnext) {
    for (i = 0; i < s->cfg->ncreds && i < PACER_CREDS_MAX; i++) {
      if (strcmp(s->cfg->creds[i].name, e->job->credential) == 0) {
        waiting[i]++;
        break;
      }
    }
  }
  memset(&in, 0, sizeof(in));
  memset(&text, 0, sizeof(text));
  memset(&json, 0, sizeof(json));
  in.cfg = s->cfg;
  in.lanes = &s->lanes;
  in.creds = s->creds;
  in.q = s->queue;
  in.consumer = s->consumer;
  in.held = s->st.held;
  in.ready = s->st.ready;
  in.in_flight = s->st.in_flight;
  in.retried = s->st.retried;
  in.deferred = s->st.deferred;
  in.cred_waiting = waiting;
  in.cred_waiting_total = s->ncred_wait;
  in.now_mono_us = pacer_sched_mono_us();
  in.now_unix_ms = pacer_clock_unix_ms();
  if (pacer_snapshot_build(s->mx, &in, &text, &json) == 0)
    s->publish(s->publish_arg, text.buf, text.len, json.buf, json.len);
  else
    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"out of memory building the metrics snapshot\"");
  pacer_text_free(&text);
  pacer_text_free(&json);
}

static void
on_metrics_read(void *arg)
{
  struct pacer_sched *s = arg;

  s->mx_reading = 0;
  if (!s->closing)
    metrics_publish(s);
}

/* Reads the Redis side of the snapshot, then publishes; publishes at once
 * (without fresh depths) while Redis is away, so /metrics shows it. */
static void
metrics_tick(struct pacer_sched *s)
{
  if (s->publish == NULL || s->closing || s->mx_reading)
    return;
  if (s->queue != NULL &&
      pacer_snapshot_read(s->queue, s->cfg, s->mx, on_metrics_read, s) == 0) {
    s->mx_reading = 1;
    return;
  }
  metrics_publish(s);
}

void
pacer_sched_set_publisher(struct pacer_sched *s, pacer_sched_publish_cb cb,
                          void *arg)
{
  s->publish = cb;
  s->publish_arg = arg;
}

/* Every LANESTAT_EVERY_MS: forgets deferrals that are due, frees idle
 * lanes, and publishes what this process holds per lane to
 * <prefix>lanestat:<consumer> (a string with a TTL, read by `pacer stats`;
 * docs/LIMITS.md). Lane ids are bucket keys, never secrets
 * (docs/CREDENTIALS.md). */
static void
on_stat_timer(uv_timer_t *t)
{
  struct pacer_sched *s = PACER_CONTAINER_OF(t, struct pacer_sched, stat_timer);
  uint64_t now = pacer_clock_unix_ms();
  cJSON *o, *arr, *lim;
  char *text = NULL;
  size_t b, n = 0;

  pacer_sched_deferred_expire(s, now); /* before the snapshot reads it */
  metrics_tick(s); /* before the Redis check: /metrics shows an outage */
  if (s->closing || s->queue == NULL || !pacer_queue_connected(s->queue))
    return;
  o = cJSON_CreateObject();
  arr = o != NULL ? cJSON_AddArrayToObject(o, "lanes") : NULL;
  for (b = 0; b < 256; b++) {
    struct pacer_lane *l = s->lanes.buckets[b], *next;

    for (; l != NULL; l = next) {
      next = l->hnext;
      if (l->defer_until_unix_ms <= now)
        l->deferred = 0;
      if (l->deferred == 0 && pacer_lanes_release(&s->lanes, l))
        continue;
      if (arr != NULL && n < LANESTAT_MAX && lanestat_add(arr, l, now) == 0)
        n++;
    }
  }
  /* The effective limits, so `pacer stats` without the config file shows
   * the configured rates (store/stats_view.c). */
  if (arr != NULL && (lim = cJSON_AddArrayToObject(o, "limits")) != NULL) {
    for (b = 0; b < s->cfg->nlimits; b++) {
      const struct pacer_limit_cfg *lc = &s->cfg->limits[b];
      cJSON *e = cJSON_CreateObject();

      if (e == NULL || !cJSON_AddItemToArray(lim, e)) {
        cJSON_Delete(e);
        break;
      }
      cJSON_AddStringToObject(e, "name", lc->name);
      cJSON_AddNumberToObject(e, "rate_per_s",
                              (double)lc->rate_count * 1e6 /
                                  (double)lc->rate_period_us);
      cJSON_AddNumberToObject(e, "max_in_flight", lc->max_in_flight);
    }
  }
  if (arr != NULL && cJSON_AddNumberToObject(o, "at_ms", (double)now) != NULL &&
      cJSON_AddNumberToObject(o, "lanes_total", (double)s->lanes.count) != NULL)
    text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (text == NULL)
    return;
  (void)pacer_queue_lanestat_set(s->queue, text, strlen(text), LANESTAT_TTL_MS,
                                 on_stat_reply, NULL);
  cJSON_free(text);
}

int
pacer_sched_start(struct pacer_sched *s, struct pacer_error *err)
{
  int rc = pacer_pool_start(s->loop, s->cfg->workers, "pacer/" PACER_VERSION,
                            pacer_sched_on_outcome, s, &s->pool);

  if (rc != 0)
    return pacer_error_set(err, rc, "workers: cannot start: %s",
                           pacer_strerror(rc));
  pacer_log(PACER_LOG_INFO, "sched",
            "msg=\"started\" workers=%u concurrency=%u prefix=%s",
            s->cfg->workers, s->cfg->concurrency, s->cfg->prefix);
  pacer_queue_start(s->queue);
  pacer_creds_start(s->creds);
  uv_timer_start(&s->stat_timer, on_stat_timer, LANESTAT_EVERY_MS,
                 LANESTAT_EVERY_MS);
  pacer_sched_cancel_start(s);
  pacer_sched_cron_start(s);
  return 0;
}

void
pacer_sched_get_stats(const struct pacer_sched *s, struct pacer_sched_stats *st)
{
  *st = s->st;
}

static void
on_sched_handle_closed(uv_handle_t *h)
{
  struct pacer_sched *s = h->data;
  void (*fn)(void *);
  void *arg;

  if (--s->pending_closes > 0)
    return;
  fn = s->on_stopped;
  arg = s->stopped_arg;
  pacer_pool_free(s->pool);
  pacer_metrics_free(s->mx);
  free(s);
  if (fn != NULL)
    fn(arg);
}

static void
on_queue_closed(void *arg)
{
  struct pacer_sched *s = arg;

  s->queue = NULL;
  s->replay_timer.data = s;
  s->grace_timer.data = s;
  s->stop_timer.data = s;
  s->pump_timer.data = s;
  s->stat_timer.data = s;
  s->cancel_timer.data = s;
  s->cron_timer.data = s;
  pacer_sched_cron_free(s);
  /* Every take callback has run (the queue closed): lanes can go. */
  pacer_lanes_free_all(&s->lanes);
  pacer_sched_deferred_free(s);
  pacer_throttles_free(&s->throttles);
  pacer_creds_close(s->creds);
  s->creds = NULL;
  s->pending_closes = 7;
  uv_close((uv_handle_t *)&s->cancel_timer, on_sched_handle_closed);
  uv_close((uv_handle_t *)&s->cron_timer, on_sched_handle_closed);
  uv_close((uv_handle_t *)&s->stat_timer, on_sched_handle_closed);
  uv_close((uv_handle_t *)&s->pump_timer, on_sched_handle_closed);
  uv_close((uv_handle_t *)&s->replay_timer, on_sched_handle_closed);
  uv_close((uv_handle_t *)&s->grace_timer, on_sched_handle_closed);
  uv_close((uv_handle_t *)&s->stop_timer, on_sched_handle_closed);
}

static void
stop_pool(struct pacer_sched *s)
{
  if (s->pool_stopped || s->pool == NULL)
    return;
  s->pool_stopped = 1;
  /* Outcomes still undelivered arrive synchronously from here. */
  pacer_pool_stop(s->pool, 1);
}

static void
teardown(struct pacer_sched *s)
{
  struct pacer_entry *e;

  stop_pool(s); /* before closing: cancelled jobs are handed back first */
  s->closing = 1;
  uv_timer_stop(&s->grace_timer);
  uv_timer_stop(&s->replay_timer);
  uv_timer_stop(&s->stop_timer);
  uv_timer_stop(&s->pump_timer);
  uv_timer_stop(&s->stat_timer);
  pacer_sched_cancel_stop(s);
  uv_timer_stop(&s->cron_timer);
  /* Anything Redis never confirmed returns to other consumers through the
   * lease: nothing is lost, it may run again. */
  if (s->st.held > 0)
    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"stopping with unconfirmed jobs; they return after the "
              "lease\" n=%zu",
              s->st.held);
  /* Entries waiting for a replay are freed here; those with a write in
   * flight are freed by its callback, which the queue close runs. */
  while ((e = s->replay_head) != NULL) {
    s->replay_head = e->rnext;
    pacer_sched_entry_free(s, e);
  }
  pacer_queue_close(s->queue, on_queue_closed, s);
}

/* Tears down once nothing is held or running and no intake read is still
 * out (its entries would otherwise wait for the lease). Always runs from
 * the timer, never inside a pool or hiredis callback. */
static void
on_stop_timer(uv_timer_t *t)
{
  struct pacer_sched *s = PACER_CONTAINER_OF(t, struct pacer_sched, stop_timer);

  if (!s->stopping || s->closing)
    return;
  if (s->st.held == 0 && s->st.in_flight == 0 && s->acquiring == 0 &&
      !pacer_creds_busy(s->creds) && !pacer_queue_reading(s->queue)) {
    teardown(s);
    return;
  }
  uv_timer_start(&s->stop_timer, on_stop_timer, 20, 0);
}

void
pacer_sched_check_stop(struct pacer_sched *s)
{
  if (!s->stopping || s->closing)
    return;
  if (!uv_is_active((uv_handle_t *)&s->stop_timer))
    uv_timer_start(&s->stop_timer, on_stop_timer, 0, 0);
}

static void
on_grace_timer(uv_timer_t *t)
{
  struct pacer_sched *s =
      PACER_CONTAINER_OF(t, struct pacer_sched, grace_timer);

  if (s->closing)
    return;
  if (!s->canceled) {
    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"shutdown grace period over, cancelling in-flight "
              "requests\" n=%zu",
              s->st.in_flight);
    s->canceled = 1;
    /* Cancelled outcomes come back synchronously and are handed back. */
    stop_pool(s);
    uv_timer_start(&s->grace_timer, on_grace_timer, FORCE_CLOSE_MS, 0);
    pacer_sched_check_stop(s);
    return;
  }
  teardown(s); /* Redis unreachable: stop anyway */
}

void
pacer_sched_stop(struct pacer_sched *s, void (*on_stopped)(void *arg),
                 void *arg)
{
  struct pacer_entry *e;

  if (s->stopping)
    return;
  s->stopping = 1;
  s->on_stopped = on_stopped;
  s->stopped_arg = arg;
  pacer_log(PACER_LOG_INFO, "sched", "msg=\"stopping\" in_flight=%zu held=%zu",
            s->st.in_flight, s->st.held);
  pacer_queue_stop_intake(s->queue);
  /* Unstarted jobs go back to the stream now, not after a lease. */
  while (s->lanes.ring != NULL) {
    struct pacer_lane *l = s->lanes.ring;

    while ((e = pacer_sched_lane_pop_entry(s, l)) != NULL)
      pacer_sched_requeue(s, e);
    pacer_sched_lane_drop_permit(s, l);
  }
  while ((e = s->cred_wait) != NULL) {
    s->cred_wait = e->rnext;
    e->rnext = NULL;
    s->ncred_wait--;
    pacer_sched_requeue(s, e);
  }
  uv_timer_start(&s->grace_timer, on_grace_timer, s->cfg->shutdown_grace_ms, 0);
  pacer_sched_check_stop(s);
}
