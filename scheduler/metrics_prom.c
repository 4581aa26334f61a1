/* Prometheus text exposition (format 0.0.4) of the metrics: GET /metrics.
 * See metrics.h and docs/METRICS.md. Pure. */
#include "scheduler/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "core/result.h"
#include "scheduler/metrics_int.h"

#define HIST_LABEL_MAX 32 /* "0.005" and the like, bytes */

int
pacer_prom_label_escape(char *out, size_t size, const char *value)
{
  size_t o = 0;
  const char *p;

  if (size == 0)
    return -1;
  for (p = value; *p != '\0'; p++) {
    const char *rep = NULL;
    size_t n;

    /* Text format 0.0.4: label values escape \, " and line feed. */
    if (*p == '\\')
      rep = "\\\\";
    else if (*p == '"')
      rep = "\\\"";
    else if (*p == '\n')
      rep = "\\n";
    n = rep != NULL ? 2 : 1;
    if (o + n >= size) {
      out[0] = '\0';
      return -1;
    }
    if (rep != NULL)
      memcpy(out + o, rep, 2);
    else
      out[o] = *p;
    o += n;
  }
  out[o] = '\0';
  return (int)o;
}

static const char *const job_state_names[PACER_MX_JOB_STATES] = {
    "ok", "failed", "outcome_unknown"};
static const char *const class_names[7] = {"1xx", "2xx",   "3xx", "4xx",
                                           "5xx", "other", "none"};
static const char *const cause_names[PACER_MX_PAUSE_CAUSES] = {
    "retry_after", "ratelimit_headers", "backoff", "rule"};
static const char *const cred_states[] = {
    "unknown", "loading", "ok", "refreshing", "waiting", "reauth_required"};
static void
family(struct pacer_text *t, const char *name, const char *type,
       const char *help)
{
  pacer_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes name{k1="v1",...} with escaped values (kv: nkv name/value pairs);
 * the caller appends the value. */
static void
series(struct pacer_text *t, const char *name, const char *const *kv,
       size_t nkv)
{
  char esc[2 * PACER_LIMIT_KEY_SIZE + 8];
  size_t i;

  pacer_text_printf(t, "%s", name);
  for (i = 0; i < nkv; i++) {
    if (pacer_prom_label_escape(esc, sizeof(esc), kv[2 * i + 1]) < 0)
      snprintf(esc, sizeof(esc), "%s", PACER_MX_OTHER_KEY);
    pacer_text_printf(t, "%s%s=\"%s\"", i == 0 ? "{" : ",", kv[2 * i], esc);
  }
  if (nkv > 0)
    pacer_text_printf(t, "}");
}

static void
u64_line(struct pacer_text *t, const char *name, const char *const *kv,
         size_t nkv, uint64_t v)
{
  series(t, name, kv, nkv);
  pacer_text_printf(t, " %" PRIu64 "\n", v);
}

static void
i64_line(struct pacer_text *t, const char *name, const char *const *kv,
         size_t nkv, int64_t v)
{
  series(t, name, kv, nkv);
  pacer_text_printf(t, " %" PRId64 "\n", v);
}

static void
dbl_line(struct pacer_text *t, const char *name, const char *const *kv,
         size_t nkv, double v)
{
  series(t, name, kv, nkv);
  pacer_text_printf(t, " %.15g\n", v);
}

/* A whole histogram family in seconds. */
static void
hist_family(struct pacer_text *t, const char *name, const char *help,
            const struct pacer_hist *h)
{
  char bname[96], le[HIST_LABEL_MAX];
  const char *kv[2] = {"le", le};
  uint64_t cum = 0;
  size_t i;

  family(t, name, "histogram", help);
  snprintf(bname, sizeof(bname), "%s_bucket", name);
  for (i = 0; i < h->nbounds; i++) {
    cum += h->counts[i];
    snprintf(le, sizeof(le), "%.6g", (double)h->bounds_us[i] / 1e6);
    u64_line(t, bname, kv, 1, cum);
  }
  cum += h->counts[h->nbounds];
  snprintf(le, sizeof(le), "+Inf");
  u64_line(t, bname, kv, 1, cum);
  snprintf(bname, sizeof(bname), "%s_sum", name);
  dbl_line(t, bname, NULL, 0, (double)h->sum_us / 1e6);
  snprintf(bname, sizeof(bname), "%s_count", name);
  u64_line(t, bname, NULL, 0, h->count);
}

static void
render_buckets(struct pacer_text *t, const struct pacer_metrics *m,
               const struct pacer_metrics_view *v)
{
  const struct pacer_metrics_bucket *b;
  const char *kv[6];
  size_t i, c;

  kv[0] = "limit";
  kv[2] = "bucket";
  kv[4] = "cause";
#define BUCKET_KV(b) (kv[1] = pacer_mx_bucket_limit(b), kv[3] = (b)->key)
  family(t, "pacer_bucket_requests_total", "counter",
         "Requests started on the bucket by this process.");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_requests_total", kv, 2, b->sent);
  }
  family(t, "pacer_bucket_throttled_total", "counter",
         "429 responses (and 503 with Retry-After) attributed to the bucket.");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_throttled_total", kv, 2, b->throttled);
  }
  family(t, "pacer_bucket_pauses_total", "counter",
         "Pauses this process put on the bucket, by what caused them.");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    for (c = 0; c < PACER_MX_PAUSE_CAUSES; c++) {
      kv[5] = cause_names[c];
      u64_line(t, "pacer_bucket_pauses_total", kv, 3, b->pauses[c]);
    }
  }
  family(t, "pacer_bucket_rate_limit", "gauge",
         "Configured rate of the bucket, requests per second.");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    dbl_line(t, "pacer_bucket_rate_limit", kv, 2, pacer_mx_conf_rate(b));
  }
  family(t, "pacer_bucket_effective_rate_limit", "gauge",
         "Rate the bucket allows now after AIMD slow-down, requests per "
         "second (read from Redis).");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    dbl_line(t, "pacer_bucket_effective_rate_limit", kv, 2,
             pacer_mx_conf_rate(b) * (double)b->permille / 1000.0);
  }
  family(t, "pacer_bucket_send_rate", "gauge",
         "Requests per second this process started on the bucket, over the "
         "last 5 seconds.");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    dbl_line(t, "pacer_bucket_send_rate", kv, 2,
             (double)b->rate_milli_per_s / 1000.0);
  }
  family(t, "pacer_bucket_queued_jobs", "gauge",
         "Jobs waiting in this process's lanes on the bucket (lane depth).");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_queued_jobs", kv, 2, b->queued);
  }
  family(t, "pacer_bucket_in_flight_requests", "gauge",
         "Requests running on the bucket in this process.");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_in_flight_requests", kv, 2, b->in_flight);
  }
  family(t, "pacer_bucket_deferred_jobs", "gauge",
         "Jobs the bucket's lanes moved to the delayed set that are not due "
         "yet.");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_deferred_jobs", kv, 2, b->deferred);
  }
  family(t, "pacer_bucket_pause_remaining_seconds", "gauge",
         "Time left of the bucket's pause (shared through Redis), 0 when not "
         "paused.");
  PACER_MX_FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    dbl_line(t, "pacer_bucket_pause_remaining_seconds", kv, 2,
             (double)pacer_mx_pause_left_ms(b, v->now_unix_ms) / 1000.0);
  }
#undef BUCKET_KV
}

static void
render_queue(struct pacer_text *t, const struct pacer_metrics_redis *r)
{
  static const char *const streams[3] = {"high", "normal", "low"};
  const char *kv[2] = {"stream", NULL};
  size_t i;

  if (!r->valid)
    return;
  family(t, "pacer_queue_stream_entries", "gauge",
         "Entries in an intake stream (XLEN), cluster-wide.");
  for (i = 0; i < 3; i++) {
    kv[1] = streams[i];
    i64_line(t, "pacer_queue_stream_entries", kv, 1, r->jobs[i]);
  }
  family(t, "pacer_queue_pending_jobs", "gauge",
         "Jobs delivered to a worker and not finished yet, cluster-wide.");
  i64_line(t, "pacer_queue_pending_jobs", NULL, 0, r->pending);
  family(t, "pacer_queue_delayed_jobs", "gauge",
         "Jobs in the delayed set (retries, not_before, deferred by limits, "
         "parked), cluster-wide.");
  i64_line(t, "pacer_queue_delayed_jobs", NULL, 0, r->delayed);
  family(t, "pacer_queue_parked_jobs", "gauge",
         "Jobs parked until a credential is re-authorised, cluster-wide.");
  i64_line(t, "pacer_queue_parked_jobs", NULL, 0, r->parked);
  family(t, "pacer_queue_results_entries", "gauge",
         "Entries in the results stream.");
  i64_line(t, "pacer_queue_results_entries", NULL, 0, r->results);
  family(t, "pacer_queue_dead_entries", "gauge",
         "Entries in the dead-letter stream.");
  i64_line(t, "pacer_queue_dead_entries", NULL, 0, r->dead);
  family(t, "pacer_paused_all", "gauge",
         "1 while every limit bucket is paused by an operator (pacer pause "
         "--all), cluster-wide.");
  u64_line(t, "pacer_paused_all", NULL, 0,
           r->all_paused_until_unix_ms > r->at_unix_ms);
}

static void
render_creds(struct pacer_text *t, const struct pacer_metrics_view *v)
{
  const char *kv[4] = {"credential", NULL, "status", NULL};
  size_t i, k;

  if (v->ncreds == 0)
    return;
  family(t, "pacer_credential_status", "gauge",
         "1 for the credential's current status in this process, else 0.");
  for (i = 0; i < v->ncreds; i++) {
    kv[1] = v->creds[i].name;
    for (k = 0; k < PACER_ARRAY_SIZE(cred_states); k++) {
      kv[3] = cred_states[k];
      u64_line(t, "pacer_credential_status", kv, 2,
               strcmp(v->creds[i].status, cred_states[k]) == 0);
    }
  }
  family(t, "pacer_credential_refreshes_total", "counter",
         "Token refresh requests this process made, by outcome.");
  kv[2] = "outcome";
  for (i = 0; i < v->ncreds; i++) {
    kv[1] = v->creds[i].name;
    kv[3] = "ok";
    u64_line(t, "pacer_credential_refreshes_total", kv, 2,
             v->creds[i].refresh_ok);
    kv[3] = "failed";
    u64_line(t, "pacer_credential_refreshes_total", kv, 2,
             v->creds[i].refresh_failed);
    kv[3] = "refused";
    u64_line(t, "pacer_credential_refreshes_total", kv, 2,
             v->creds[i].refresh_refused);
  }
  family(t, "pacer_credential_expiry_timestamp_seconds", "gauge",
         "When the credential's access token expires, unix seconds (0 = "
         "unknown).");
  for (i = 0; i < v->ncreds; i++) {
    kv[1] = v->creds[i].name;
    dbl_line(t, "pacer_credential_expiry_timestamp_seconds", kv, 1,
             (double)v->creds[i].expires_unix_ms / 1000.0);
  }
  family(t, "pacer_credential_waiting_jobs", "gauge",
         "Jobs held waiting for the credential's token.");
  for (i = 0; i < v->ncreds; i++) {
    kv[1] = v->creds[i].name;
    u64_line(t, "pacer_credential_waiting_jobs", kv, 1, v->creds[i].waiting);
  }
}

int
pacer_metrics_render_text(const struct pacer_metrics *m,
                          const struct pacer_metrics_view *v,
                          struct pacer_text *out)
{
  static const char *const conns[2] = {"intake", "command"};
  const char *kv[2];
  size_t i, w;
  size_t lanes_by_wait[PACER_WAIT_KINDS];

  family(out, "pacer_build_info", "gauge", "pacer's version; always 1.");
  kv[0] = "version";
  kv[1] = PACER_VERSION;
  u64_line(out, "pacer_build_info", kv, 1, 1);
  family(out, "pacer_start_time_seconds", "gauge",
         "When this worker process started, unix seconds.");
  dbl_line(out, "pacer_start_time_seconds", NULL, 0,
           (double)m->start_unix_ms / 1000.0);

  family(out, "pacer_jobs_total", "counter",
         "Results this process wrote, by terminal state.");
  kv[0] = "state";
  for (i = 0; i < PACER_MX_JOB_STATES; i++) {
    kv[1] = job_state_names[i];
    u64_line(out, "pacer_jobs_total", kv, 1, m->jobs[i]);
  }
  family(out, "pacer_requests_total", "counter",
         "Finished HTTP requests of jobs, by status class (none: no "
         "response).");
  kv[0] = "class";
  for (i = 0; i < 7; i++) {
    kv[1] = class_names[i];
    u64_line(out, "pacer_requests_total", kv, 1, m->requests[i]);
  }
  family(out, "pacer_request_errors_total", "counter",
         "Requests that ended without a complete response, by kind.");
  kv[0] = "kind";
  /* Every transfer result but OK (a response) and CANCELED (shutdown),
   * labelled with its result name from core/result.h. */
  for (i = PACER_HTTP_OK + 1; i < PACER_HTTP_CANCELED; i++) {
    kv[1] = pacer_http_result_name((enum pacer_http_result)i);
    u64_line(out, "pacer_request_errors_total", kv, 1, m->errors[i]);
  }
  family(out, "pacer_throttled_total", "counter",
         "429 responses (and 503 with Retry-After), on any lane.");
  u64_line(out, "pacer_throttled_total", NULL, 0, m->throttled);
  family(out, "pacer_retries_total", "counter",
         "Retries scheduled (5xx, 408, transport errors), 429s not counted.");
  u64_line(out, "pacer_retries_total", NULL, 0, v->retried);
  family(out, "pacer_deferred_total", "counter",
         "Jobs this process moved to the delayed set (limits, retries, "
         "not_before, 429 pauses).");
  u64_line(out, "pacer_deferred_total", NULL, 0, v->deferred);
  hist_family(out, "pacer_request_duration_seconds",
              "Transfer time of job requests.", &m->latency);

  family(out, "pacer_jobs_held", "gauge",
         "Jobs this process holds in memory, in any state.");
  u64_line(out, "pacer_jobs_held", NULL, 0, v->held);
  family(out, "pacer_jobs_ready", "gauge",
         "Jobs waiting in this process's lanes for a send slot.");
  u64_line(out, "pacer_jobs_ready", NULL, 0, v->ready);
  family(out, "pacer_jobs_credential_waiting", "gauge",
         "Jobs waiting for a credential's token refresh.");
  u64_line(out, "pacer_jobs_credential_waiting", NULL, 0, v->cred_waiting);
  family(out, "pacer_requests_in_flight", "gauge",
         "Requests running in the worker threads.");
  u64_line(out, "pacer_requests_in_flight", NULL, 0, v->in_flight);
  family(out, "pacer_concurrency", "gauge",
         "Configured requests in flight per process.");
  u64_line(out, "pacer_concurrency", NULL, 0, v->concurrency);
  family(out, "pacer_worker_threads", "gauge", "Worker threads.");
  u64_line(out, "pacer_worker_threads", NULL, 0, v->workers);

  memset(lanes_by_wait, 0, sizeof(lanes_by_wait));
  for (i = 0; i < v->nlanes; i++)
    lanes_by_wait[v->lanes[i].wait]++;
  family(out, "pacer_lanes", "gauge",
         "Lanes in this process by why their jobs wait (first 200 lanes).");
  kv[0] = "wait";
  for (w = 0; w < PACER_WAIT_KINDS; w++) {
    kv[1] = pacer_wait_name((enum pacer_wait)w);
    u64_line(out, "pacer_lanes", kv, 1, lanes_by_wait[w]);
  }

  render_buckets(out, m, v);
  render_queue(out, &m->redis);
  render_creds(out, v);

  if (v->redis_rtt != NULL)
    hist_family(out, "pacer_redis_command_duration_seconds",
                "Round trip of Redis scripts on the command connection.",
                v->redis_rtt);
  family(out, "pacer_redis_reconnects_total", "counter",
         "Redis connections re-established after a loss.");
  kv[0] = "conn";
  for (i = 0; i < 2; i++) {
    kv[1] = conns[i];
    u64_line(out, "pacer_redis_reconnects_total", kv, 1,
             v->redis_reconnects[i]);
  }
  family(out, "pacer_redis_connected", "gauge",
         "1 while the Redis connection is up.");
  for (i = 0; i < 2; i++) {
    kv[1] = conns[i];
    u64_line(out, "pacer_redis_connected", kv, 1, v->redis_connected[i] != 0);
  }
  return out->failed ? PACER_ENOMEM : 0;
}
