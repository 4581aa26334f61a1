/* Metrics counters and their renderings. See metrics.h. */
#include "scheduler/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/util.h"
#include "workers/pacer_http.h"

#define SLOTS        512u /* index slots, power of two > 2 x buckets */
#define OTHER_KEY    "(other)"
#define CLASS_OTHER  5u /* requests[] index: a status outside 1xx..5xx */
#define CLASS_NONE   6u /* requests[] index: no response */
#define RESULT_KINDS 8u /* enum pacer_http_result values */

_Static_assert(PACER_HTTP_CANCELED + 1 == RESULT_KINDS,
               "error_names must follow enum pacer_http_result");
_Static_assert(sizeof(((struct pacer_metrics *)0)->errors) ==
                   RESULT_KINDS * sizeof(uint64_t),
               "one error counter per enum pacer_http_result value");

#define HIST_LABEL_MAX 32 /* "0.005" and the like, bytes */

/* ------------------------------------------------------------------ */
/* Text buffer */

void
pacer_text_printf(struct pacer_text *t, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (t->failed)
    return;
  for (;;) {
    size_t room = t->cap - t->len;

    va_start(ap, fmt);
    n = t->buf != NULL ? vsnprintf(t->buf + t->len, room, fmt, ap) : -2;
    va_end(ap);
    if (n == -1) {
      t->failed = 1;
      return;
    }
    if (n >= 0 && (size_t)n < room) {
      t->len += (size_t)n;
      return;
    }
    {
      size_t need = t->len + (n > 0 ? (size_t)n : 0) + 1;
      size_t cap = t->cap ? t->cap : 4096;
      char *nb;

      while (cap < need)
        cap *= 2;
      nb = realloc(t->buf, cap);
      if (nb == NULL) {
        t->failed = 1;
        return;
      }
      if (t->buf == NULL)
        nb[0] = '\0';
      t->buf = nb;
      t->cap = cap;
    }
  }
}

void
pacer_text_free(struct pacer_text *t)
{
  free(t->buf);
  memset(t, 0, sizeof(*t));
}

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

/* ------------------------------------------------------------------ */
/* Counters */

struct pacer_metrics *
pacer_metrics_new(uint64_t start_unix_ms)
{
  struct pacer_metrics *m = calloc(1, sizeof(*m));

  if (m == NULL)
    return NULL;
  /* One more row than the cap: "other" takes the overflow. */
  m->buckets = calloc(PACER_METRICS_BUCKETS_MAX + 1, sizeof(*m->buckets));
  m->slots = calloc(SLOTS, sizeof(*m->slots));
  if (m->buckets == NULL || m->slots == NULL) {
    pacer_metrics_free(m);
    return NULL;
  }
  pacer_hist_init_request(&m->latency);
  m->start_unix_ms = start_unix_ms;
  return m;
}

void
pacer_metrics_free(struct pacer_metrics *m)
{
  if (m == NULL)
    return;
  free(m->buckets);
  free(m->slots);
  free(m);
}

static uint32_t
fnv1a(const char *s)
{
  uint32_t h = 2166136261u;

  for (; *s != '\0'; s++) {
    h ^= (unsigned char)*s;
    h *= 16777619u;
  }
  return h;
}

struct pacer_metrics_bucket *
pacer_metrics_bucket(struct pacer_metrics *m, const char *key,
                     const struct pacer_limit_cfg *cfg)
{
  uint32_t i = fnv1a(key) & (SLOTS - 1u);
  struct pacer_metrics_bucket *b;

  /* Linear probing; the table is never more than half full. */
  while (m->slots[i] != 0) {
    b = &m->buckets[m->slots[i] - 1u];
    if (strcmp(b->key, key) == 0)
      return b;
    i = (i + 1u) & (SLOTS - 1u);
  }
  if (m->nbuckets >= PACER_METRICS_BUCKETS_MAX ||
      strlen(key) >= sizeof(b->key)) {
    b = &m->buckets[PACER_METRICS_BUCKETS_MAX];
    if (b->key[0] == '\0')
      snprintf(b->key, sizeof(b->key), "%s", OTHER_KEY);
    return b;
  }
  b = &m->buckets[m->nbuckets];
  snprintf(b->key, sizeof(b->key), "%s", key);
  b->cfg = cfg;
  b->permille = 1000;
  m->slots[i] = (uint16_t)(++m->nbuckets);
  return b;
}

void
pacer_metrics_job(struct pacer_metrics *m, enum pacer_metrics_job_state state)
{
  if ((unsigned)state < PACER_MX_JOB_STATES)
    m->jobs[state]++;
}

void
pacer_metrics_sent(struct pacer_metrics *m, const struct pacer_limit_ref *refs,
                   size_t nrefs)
{
  size_t i;

  m->sent++;
  for (i = 0; i < nrefs; i++)
    pacer_metrics_bucket(m, refs[i].key, refs[i].cfg)->sent++;
}

void
pacer_metrics_request(struct pacer_metrics *m, int result, long status,
                      uint64_t total_us)
{
  unsigned cls;

  if (status >= 100 && status <= 599)
    cls = (unsigned)(status / 100) - 1u;
  else
    cls = status > 0 ? CLASS_OTHER : CLASS_NONE;
  m->requests[cls]++;
  if (result > 0 && (unsigned)result < RESULT_KINDS)
    m->errors[result]++;
  pacer_hist_observe(&m->latency, total_us);
}

void
pacer_metrics_throttled(struct pacer_metrics *m,
                        const struct pacer_limit_ref *ref)
{
  m->throttled++;
  if (ref != NULL)
    pacer_metrics_bucket(m, ref->key, ref->cfg)->throttled++;
}

void
pacer_metrics_paused(struct pacer_metrics *m, const struct pacer_limit_ref *ref,
                     enum pacer_metrics_pause_cause cause)
{
  if (ref != NULL && (unsigned)cause < PACER_MX_PAUSE_CAUSES)
    pacer_metrics_bucket(m, ref->key, ref->cfg)->pauses[cause]++;
}

/* ------------------------------------------------------------------ */
/* Why a lane waits */

static const char *const wait_names[PACER_WAIT_KINDS] = {
    "idle", "running", "deferred",  "sending", "paused",
    "rate", "slots",   "in_flight", "permit",  "concurrency"};

const char *
pacer_wait_name(enum pacer_wait w)
{
  return (unsigned)w < PACER_WAIT_KINDS ? wait_names[w] : "unknown";
}

/* The lane's next reserved slot, mono us, or 0 when it holds none. */
static uint64_t
next_slot_us(const struct pacer_lane *l)
{
  if (l->nslots == 0)
    return 0;
  return l->slots_us[l->slot_head % PACER_LIMITER_MAX_SLOTS];
}

enum pacer_wait
pacer_metrics_lane_wait(const struct pacer_lane *l, uint64_t now_mono_us,
                        int process_full, uint64_t pause_ms,
                        const char *pause_bucket, const char *pause_reason,
                        uint64_t *wait_ms, char *text, size_t size)
{
  uint64_t at;

  *wait_ms = 0;
  if (l->queued == 0) {
    if (l->in_flight > 0) {
      snprintf(text, size, "running: %zu request(s) in flight", l->in_flight);
      return PACER_WAIT_RUNNING;
    }
    if (l->deferred > 0) {
      snprintf(text, size,
               "deferred: %zu job(s) wait in the delayed set, due when the "
               "lane has room",
               l->deferred);
      return PACER_WAIT_DEFERRED;
    }
    snprintf(text, size, "idle");
    return PACER_WAIT_IDLE;
  }
  /* The upstream's word first: a paused bucket holds every other reason
   * up (issue 6: which key, which limit, which pause, which header). */
  if (pause_ms > 0) {
    *wait_ms = pause_ms;
    snprintf(text, size,
             "paused by the upstream on %s: %s; %" PRIu64 " ms left",
             pause_bucket != NULL ? pause_bucket : "?",
             pause_reason != NULL && pause_reason[0] ? pause_reason : "429",
             pause_ms);
    return PACER_WAIT_PAUSED;
  }
  if (process_full) {
    snprintf(text, size,
             "process concurrency reached: every request slot is in use");
    return PACER_WAIT_CONCURRENCY;
  }
  if (l->max_in_flight != 0 && l->in_flight >= l->max_in_flight) {
    snprintf(text, size,
             "max_in_flight reached: %zu of %" PRIu32 " requests running",
             l->in_flight, l->max_in_flight);
    return PACER_WAIT_IN_FLIGHT;
  }
  if (l->max_in_flight != 0 && l->permit[0] == '\0') {
    if (l->permit_wait_until_us > now_mono_us)
      *wait_ms = (l->permit_wait_until_us - now_mono_us + 999u) / 1000u;
    snprintf(text, size,
             "max_in_flight: waiting for an in-flight permit shared by every "
             "process");
    return PACER_WAIT_PERMIT;
  }
  at = next_slot_us(l);
  if (at > now_mono_us) {
    *wait_ms = (at - now_mono_us + 999u) / 1000u;
    snprintf(text, size, "rate limit: next reserved slot in %" PRIu64 " ms",
             *wait_ms);
    return PACER_WAIT_RATE;
  }
  if (at != 0) {
    snprintf(text, size, "sending: a reserved slot is due");
    return PACER_WAIT_SENDING;
  }
  if (l->taking) {
    snprintf(text, size, "asking Redis for send slots");
    return PACER_WAIT_SLOTS;
  }
  if (l->wait_until_us > now_mono_us) {
    *wait_ms = (l->wait_until_us - now_mono_us + 999u) / 1000u;
    snprintf(text, size,
             "rate limit: the bucket is full, next slot in %" PRIu64 " ms",
             *wait_ms);
    return PACER_WAIT_RATE;
  }
  snprintf(text, size, "sending");
  return PACER_WAIT_SENDING;
}

/* ------------------------------------------------------------------ */
/* Tick */

void
pacer_metrics_tick(struct pacer_metrics *m, const struct pacer_metrics_view *v,
                   uint64_t now_mono_ms)
{
  struct pacer_metrics_sample *s = &m->history[m->hist_i];
  size_t i;

  for (i = 0; i <= PACER_METRICS_BUCKETS_MAX; i++) {
    struct pacer_metrics_bucket *b = &m->buckets[i];
    unsigned oldest;

    if (b->key[0] == '\0')
      continue;
    b->ring_sent[b->ring_i] = b->sent;
    b->ring_mono_ms[b->ring_i] = now_mono_ms;
    b->ring_i = (b->ring_i + 1u) % PACER_METRICS_RATE_TICKS;
    if (b->ring_n < PACER_METRICS_RATE_TICKS)
      b->ring_n++;
    /* The oldest sample held: ring_i when the ring is full, else 0. */
    oldest = b->ring_n == PACER_METRICS_RATE_TICKS ? b->ring_i : 0;
    if (b->ring_n > 1 && now_mono_ms > b->ring_mono_ms[oldest])
      b->rate_milli_per_s = (b->sent - b->ring_sent[oldest]) * 1000000u /
                            (now_mono_ms - b->ring_mono_ms[oldest]);
    else
      b->rate_milli_per_s = 0;
  }
  memset(s, 0, sizeof(*s));
  s->unix_ms = v->now_unix_ms;
  s->jobs_high = m->redis.valid ? m->redis.jobs[0] : -1;
  s->jobs = m->redis.valid ? m->redis.jobs[1] : -1;
  s->jobs_low = m->redis.valid ? m->redis.jobs[2] : -1;
  s->delayed = m->redis.valid ? m->redis.delayed : -1;
  s->held = v->held;
  s->in_flight = v->in_flight;
  s->sent = (uint32_t)(m->sent - m->last_sent);
  s->throttled = (uint32_t)(m->throttled - m->last_429);
  m->last_sent = m->sent;
  m->last_429 = m->throttled;
  m->hist_i = (m->hist_i + 1u) % PACER_METRICS_HISTORY;
  if (m->hist_n < PACER_METRICS_HISTORY)
    m->hist_n++;
}

/* ------------------------------------------------------------------ */
/* Prometheus text */

static const char *const job_state_names[PACER_MX_JOB_STATES] = {
    "ok", "failed", "outcome_unknown"};
static const char *const class_names[7] = {"1xx", "2xx",   "3xx", "4xx",
                                           "5xx", "other", "none"};
/* In enum pacer_http_result order (workers/pacer_http.h); the names are
 * the result reasons (pacer_http_result_name). */
static const char *const error_names[RESULT_KINDS] = {"",
                                                      "response_too_large",
                                                      "timeout",
                                                      "connect_error",
                                                      "transport_error",
                                                      "blocked_destination",
                                                      "refused_stream",
                                                      "canceled"};
static const char *const cause_names[PACER_MX_PAUSE_CAUSES] = {
    "retry_after", "ratelimit_headers", "backoff"};
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
      snprintf(esc, sizeof(esc), "%s", OTHER_KEY);
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

static const char *
bucket_limit(const struct pacer_metrics_bucket *b)
{
  return b->cfg != NULL ? b->cfg->name : OTHER_KEY;
}

static double
conf_rate(const struct pacer_metrics_bucket *b)
{
  if (b->cfg == NULL || b->cfg->rate_period_us == 0)
    return 0;
  return (double)b->cfg->rate_count * 1e6 / (double)b->cfg->rate_period_us;
}

static uint64_t
pause_left_ms(const struct pacer_metrics_bucket *b, uint64_t now_unix_ms)
{
  if (!b->redis_valid || b->pause_until_unix_ms <= now_unix_ms)
    return 0;
  return b->pause_until_unix_ms - now_unix_ms;
}

/* Every bucket row in use, in creation order, "other" last. */
#define FOR_EACH_BUCKET(m, b, i)                                               \
  for ((i) = 0; (i) <= PACER_METRICS_BUCKETS_MAX; (i)++)                       \
    if (((b) = &(m)->buckets[(i)])->key[0] != '\0')

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
#define BUCKET_KV(b) (kv[1] = bucket_limit(b), kv[3] = (b)->key)
  family(t, "pacer_bucket_requests_total", "counter",
         "Requests started on the bucket by this process.");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_requests_total", kv, 2, b->sent);
  }
  family(t, "pacer_bucket_throttled_total", "counter",
         "429 responses (and 503 with Retry-After) attributed to the bucket.");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_throttled_total", kv, 2, b->throttled);
  }
  family(t, "pacer_bucket_pauses_total", "counter",
         "Pauses this process put on the bucket, by what caused them.");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    for (c = 0; c < PACER_MX_PAUSE_CAUSES; c++) {
      kv[5] = cause_names[c];
      u64_line(t, "pacer_bucket_pauses_total", kv, 3, b->pauses[c]);
    }
  }
  family(t, "pacer_bucket_rate_limit", "gauge",
         "Configured rate of the bucket, requests per second.");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    dbl_line(t, "pacer_bucket_rate_limit", kv, 2, conf_rate(b));
  }
  family(t, "pacer_bucket_effective_rate_limit", "gauge",
         "Rate the bucket allows now after AIMD slow-down, requests per "
         "second (read from Redis).");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    dbl_line(t, "pacer_bucket_effective_rate_limit", kv, 2,
             conf_rate(b) * (double)b->permille / 1000.0);
  }
  family(t, "pacer_bucket_send_rate", "gauge",
         "Requests per second this process started on the bucket, over the "
         "last 5 seconds.");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    dbl_line(t, "pacer_bucket_send_rate", kv, 2,
             (double)b->rate_milli_per_s / 1000.0);
  }
  family(t, "pacer_bucket_queued_jobs", "gauge",
         "Jobs waiting in this process's lanes on the bucket (lane depth).");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_queued_jobs", kv, 2, b->queued);
  }
  family(t, "pacer_bucket_in_flight_requests", "gauge",
         "Requests running on the bucket in this process.");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_in_flight_requests", kv, 2, b->in_flight);
  }
  family(t, "pacer_bucket_deferred_jobs", "gauge",
         "Jobs the bucket's lanes moved to the delayed set that are not due "
         "yet.");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    u64_line(t, "pacer_bucket_deferred_jobs", kv, 2, b->deferred);
  }
  family(t, "pacer_bucket_pause_remaining_seconds", "gauge",
         "Time left of the bucket's pause (shared through Redis), 0 when not "
         "paused.");
  FOR_EACH_BUCKET(m, b, i)
  {
    BUCKET_KV(b);
    dbl_line(t, "pacer_bucket_pause_remaining_seconds", kv, 2,
             (double)pause_left_ms(b, v->now_unix_ms) / 1000.0);
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
  for (i = 1; i < RESULT_KINDS - 1; i++) {
    kv[1] = error_names[i];
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
    kv[1] = wait_names[w];
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

/* ------------------------------------------------------------------ */
/* /api/state JSON */

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
  FOR_EACH_BUCKET(m, b, i)
  {
    cJSON *o = push_object(arr);
    uint64_t left = pause_left_ms(b, v->now_unix_ms);

    if (o == NULL)
      return -1;
    rc |= str(o, "bucket", b->key);
    rc |= str(o, "limit", bucket_limit(b));
    rc |= num(o, "rate_per_s", conf_rate(b));
    rc |=
        num(o, "effective_per_s", conf_rate(b) * (double)b->permille / 1000.0);
    rc |= num(o, "send_per_s", (double)b->rate_milli_per_s / 1000.0);
    rc |= num(o, "queued", (double)b->queued);
    rc |= num(o, "in_flight", (double)b->in_flight);
    rc |= num(o, "deferred", (double)b->deferred);
    rc |= num(o, "requests", (double)b->sent);
    rc |= num(o, "throttled", (double)b->throttled);
    rc |=
        num(o, "pauses", (double)(b->pauses[0] + b->pauses[1] + b->pauses[2]));
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
