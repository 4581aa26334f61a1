/* The dashboard's state document, GET /api/state (JSON, docs/METRICS.md).
 * See metrics.h. Pure. */
#include "scheduler/metrics.h"

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/util.h"
#include "scheduler/metrics_int.h"

static int
num(cJSON *o, const char *name, double v)
{
  return cJSON_AddNumberToObject(o, name, v) != NULL ? 0 : -1;
}

static int
str(cJSON *o, const char *name, const char *v)
{
  return cJSON_AddStringToObject(o, name, v) != NULL ? 0 : -1;
}

static cJSON *
push_object(cJSON *arr)
{
  cJSON *o = cJSON_CreateObject();

  if (o != NULL && !cJSON_AddItemToArray(arr, o)) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static int
json_process(cJSON *root, const struct pacer_metrics *m,
             const struct pacer_metrics_view *v)
{
  cJSON *p = cJSON_AddObjectToObject(root, "process"), *j;
  int rc = 0;

  if (p == NULL)
    return -1;
  rc |= num(p, "workers", v->workers);
  rc |= num(p, "concurrency", v->concurrency);
  rc |= num(p, "held", (double)v->held);
  rc |= num(p, "ready", (double)v->ready);
  rc |= num(p, "in_flight", (double)v->in_flight);
  rc |= num(p, "cred_waiting", (double)v->cred_waiting);
  rc |= num(p, "retried", (double)v->retried);
  rc |= num(p, "deferred", (double)v->deferred);
  rc |= num(p, "sent", (double)m->sent);
  rc |= num(p, "throttled", (double)m->throttled);
  /* held past their send slot and not sent (docs/LIMITS.md) */
  rc |= num(p, "missed_slots", (double)m->errors[PACER_HTTP_MISSED_SLOT]);
  j = cJSON_AddObjectToObject(p, "jobs");
  if (j == NULL)
    return -1;
  rc |= num(j, "ok", (double)m->jobs[PACER_MX_JOB_OK]);
  rc |= num(j, "failed", (double)m->jobs[PACER_MX_JOB_FAILED]);
  rc |= num(j, "outcome_unknown", (double)m->jobs[PACER_MX_JOB_UNKNOWN]);
  rc |= num(p, "latency_count", (double)m->latency.count);
  rc |= num(p, "latency_sum_s", (double)m->latency.sum_us / 1e6);
  return rc;
}

static int
json_queue(cJSON *root, const struct pacer_metrics_redis *r)
{
  cJSON *q = cJSON_AddObjectToObject(root, "queue");
  int rc = 0;

  if (q == NULL)
    return -1;
  if (cJSON_AddBoolToObject(q, "valid", r->valid) == NULL)
    return -1;
  rc |= num(q, "at_ms", (double)r->at_unix_ms);
  rc |= num(q, "jobs_high", (double)r->jobs[0]);
  rc |= num(q, "jobs", (double)r->jobs[1]);
  rc |= num(q, "jobs_low", (double)r->jobs[2]);
  rc |= num(q, "pending", (double)r->pending);
  rc |= num(q, "delayed", (double)r->delayed);
  rc |= num(q, "parked", (double)r->parked);
  rc |= num(q, "results", (double)r->results);
  rc |= num(q, "dead", (double)r->dead);
  /* the operator pause of every bucket: its end, unix ms; 0 = none */
  rc |= num(q, "all_paused_until_ms", (double)r->all_paused_until_unix_ms);
  return rc;
}

static int
json_lanes(cJSON *root, const struct pacer_metrics_view *v)
{
  cJSON *arr = cJSON_AddArrayToObject(root, "lanes");
  size_t i;
  int rc = 0;

  if (arr == NULL)
    return -1;
  for (i = 0; i < v->nlanes && rc == 0; i++) {
    const struct pacer_metrics_lane_view *l = &v->lanes[i];
    cJSON *o = push_object(arr);

    if (o == NULL)
      return -1;
    rc |= str(o, "lane", l->id);
    rc |= num(o, "queued", (double)l->queued);
    rc |= num(o, "in_flight", (double)l->in_flight);
    rc |= num(o, "deferred", (double)l->deferred);
    rc |= str(o, "wait", pacer_wait_name(l->wait));
    rc |= num(o, "wait_ms", (double)l->wait_ms);
    rc |= str(o, "why", l->text);
    rc |= num(o, "rate_per_s", (double)l->rate_milli_per_s / 1000.0);
    rc |= num(o, "limit_per_s", l->limit_per_s);
    rc |= str(o, "binding", l->binding != NULL ? l->binding : "");
  }
  rc |= num(root, "lanes_total", (double)v->lanes_total);
  return rc;
}

static int
json_buckets(cJSON *root, const struct pacer_metrics *m,
             const struct pacer_metrics_view *v)
{
  cJSON *arr = cJSON_AddArrayToObject(root, "buckets");
  const struct pacer_metrics_bucket *b;
  size_t i;
  int rc = 0;

  if (arr == NULL)
    return -1;
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    cJSON *o = push_object(arr);
    uint64_t left = pacer_mx_pause_left_ms(b, v->now_unix_ms);

    if (o == NULL)
      return -1;
    rc |= str(o, "bucket", b->key);
    rc |= str(o, "limit", pacer_mx_bucket_limit(b));
    rc |= num(o, "rate_per_s", pacer_mx_conf_rate(b));
    rc |= num(o, "effective_per_s",
              pacer_mx_conf_rate(b) * (double)b->permille / 1000.0);
    rc |= num(o, "send_per_s", (double)b->rate_milli_per_s / 1000.0);
    rc |= num(o, "queued", (double)b->queued);
    rc |= num(o, "in_flight", (double)b->in_flight);
    rc |= num(o, "deferred", (double)b->deferred);
    rc |= num(o, "requests", (double)b->sent);
    rc |= num(o, "throttled", (double)b->throttled);
    rc |= num(
        o, "pauses",
        (double)(b->pauses[0] + b->pauses[1] + b->pauses[2] + b->pauses[3]));
    rc |= num(o, "paused_ms", (double)left);
    rc |= str(o, "pause_reason", left > 0 ? b->pause_reason : "");
    if (rc != 0)
      return -1;
  }
  return rc;
}

static int
json_creds(cJSON *root, const struct pacer_metrics_view *v)
{
  cJSON *arr = cJSON_AddArrayToObject(root, "credentials");
  size_t i;
  int rc = 0;

  if (arr == NULL)
    return -1;
  for (i = 0; i < v->ncreds && rc == 0; i++) {
    const struct pacer_metrics_cred_view *c = &v->creds[i];
    cJSON *o = push_object(arr);

    if (o == NULL)
      return -1;
    rc |= str(o, "name", c->name);
    rc |= str(o, "status", c->status);
    rc |= num(o, "generation", (double)c->generation);
    rc |= num(o, "expires_ms", (double)c->expires_unix_ms);
    rc |= num(o, "waiting", (double)c->waiting);
    rc |= num(o, "refresh_ok", (double)c->refresh_ok);
    rc |= num(o, "refresh_failed", (double)c->refresh_failed);
    rc |= num(o, "refresh_refused", (double)c->refresh_refused);
  }
  return rc;
}

static int
json_dead(cJSON *root, const struct pacer_metrics_redis *r)
{
  cJSON *arr = cJSON_AddArrayToObject(root, "dead_letters");
  size_t i;
  int rc = 0;

  if (arr == NULL)
    return -1;
  for (i = 0; i < r->ndead && rc == 0; i++) {
    const struct pacer_metrics_dead *d = &r->dead_letters[i];
    cJSON *o = push_object(arr);

    if (o == NULL)
      return -1;
    rc |= str(o, "entry", d->sid);
    rc |= str(o, "id", d->id);
    rc |= str(o, "reason", d->reason);
    rc |= str(o, "error", d->error);
    rc |= num(o, "status", (double)d->status);
    rc |= num(o, "attempts", (double)d->attempts);
    rc |= num(o, "failed_ms", (double)d->failed_unix_ms);
  }
  return rc;
}

static int
json_history(cJSON *root, const struct pacer_metrics *m)
{
  static const char *const names[] = {"t",         "jobs_high", "jobs",
                                      "jobs_low",  "delayed",   "held",
                                      "in_flight", "sent",      "throttled"};
  cJSON *h = cJSON_AddObjectToObject(root, "history");
  cJSON *arr[PACER_ARRAY_SIZE(names)];
  size_t i, k, start;

  if (h == NULL)
    return -1;
  for (k = 0; k < PACER_ARRAY_SIZE(names); k++) {
    arr[k] = cJSON_AddArrayToObject(h, names[k]);
    if (arr[k] == NULL)
      return -1;
  }
  start =
      (m->hist_i + PACER_METRICS_HISTORY - m->hist_n) % PACER_METRICS_HISTORY;
  for (i = 0; i < m->hist_n; i++) {
    const struct pacer_metrics_sample *s =
        &m->history[(start + i) % PACER_METRICS_HISTORY];
    double vals[PACER_ARRAY_SIZE(names)];

    vals[0] = (double)s->unix_ms;
    vals[1] = (double)s->jobs_high;
    vals[2] = (double)s->jobs;
    vals[3] = (double)s->jobs_low;
    vals[4] = (double)s->delayed;
    vals[5] = (double)s->held;
    vals[6] = (double)s->in_flight;
    vals[7] = (double)s->sent;
    vals[8] = (double)s->throttled;
    for (k = 0; k < PACER_ARRAY_SIZE(names); k++) {
      cJSON *n = cJSON_CreateNumber(vals[k]);

      if (n == NULL || !cJSON_AddItemToArray(arr[k], n)) {
        cJSON_Delete(n);
        return -1;
      }
    }
  }
  return 0;
}

int
pacer_metrics_render_json(const struct pacer_metrics *m,
                          const struct pacer_metrics_view *v,
                          struct pacer_text *out)
{
  cJSON *root = cJSON_CreateObject(), *r;
  char *text = NULL;
  int rc = root != NULL ? 0 : -1;

  /* cJSON numbers are doubles: exact for counts below 2^53. */
  rc = rc != 0 ? rc : str(root, "version", PACER_VERSION);
  rc = rc != 0 ? rc : str(root, "consumer", v->consumer);
  rc = rc != 0 ? rc : num(root, "now_ms", (double)v->now_unix_ms);
  rc = rc != 0 ? rc : num(root, "start_ms", (double)m->start_unix_ms);
  rc = rc != 0 ? rc : json_process(root, m, v);
  rc = rc != 0 ? rc : json_queue(root, &m->redis);
  rc = rc != 0 ? rc : json_lanes(root, v);
  rc = rc != 0 ? rc : json_buckets(root, m, v);
  rc = rc != 0 ? rc : json_creds(root, v);
  rc = rc != 0 ? rc : json_dead(root, &m->redis);
  rc = rc != 0 ? rc : json_history(root, m);
  if (rc == 0) {
    r = cJSON_AddObjectToObject(root, "redis");
    rc =
        r == NULL ||
        cJSON_AddBoolToObject(r, "intake_up", v->redis_connected[0]) == NULL ||
        cJSON_AddBoolToObject(r, "command_up", v->redis_connected[1]) == NULL ||
        num(r, "reconnects",
            (double)(v->redis_reconnects[0] + v->redis_reconnects[1])) != 0;
  }
  if (rc == 0)
    text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (text == NULL)
    return PACER_ENOMEM;
  pacer_text_printf(out, "%s", text);
  cJSON_free(text);
  return out->failed ? PACER_ENOMEM : 0;
}
