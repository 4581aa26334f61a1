/* Metrics counters, their updates, the lane wait reasons and the tick
 * that moves the rate windows and history. See metrics.h; the renderings
 * are in metrics_prom.c and metrics_json.c. */
#include "scheduler/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "scheduler/metrics_int.h"
#include "store/keys.h"

#define SLOTS       512u /* index slots, power of two > 2 x buckets */
#define CLASS_OTHER 5u   /* requests[] index: a status outside 1xx..5xx */
#define CLASS_NONE  6u   /* requests[] index: no response */

_Static_assert(sizeof(((struct pacer_metrics *)0)->errors) ==
                   PACER_HTTP_RESULTS * sizeof(uint64_t),
               "one error counter per enum pacer_http_result value");

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
      snprintf(b->key, sizeof(b->key), "%s", PACER_MX_OTHER_KEY);
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
pacer_metrics_unsent(struct pacer_metrics *m,
                     const struct pacer_limit_ref *refs, size_t nrefs)
{
  size_t i;

  if (m->sent > 0)
    m->sent--;
  for (i = 0; i < nrefs; i++) {
    struct pacer_metrics_bucket *b =
        pacer_metrics_bucket(m, refs[i].key, refs[i].cfg);

    if (b->sent > 0)
      b->sent--;
  }
}

void
pacer_metrics_request(struct pacer_metrics *m, int result, long status,
                      uint64_t total_us)
{
  unsigned cls;

  if (result == PACER_HTTP_MISSED_SLOT) {
    /* nothing was sent (docs/LIMITS.md): an error kind, not a request */
    m->errors[result]++;
    return;
  }
  if (status >= 100 && status <= 599)
    cls = (unsigned)(status / 100) - 1u;
  else
    cls = status > 0 ? CLASS_OTHER : CLASS_NONE;
  m->requests[cls]++;
  if (result > 0 && (unsigned)result < PACER_HTTP_RESULTS)
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
   * up, and the text names the bucket key and the header that paused it
   * (docs/METRICS.md "Why is this job waiting?"; test_metrics
   * lane_wait_names_the_pause_and_its_header). */
  if (pause_ms > 0 && pause_reason != NULL &&
      strcmp(pause_reason, PACER_KEYS_OP_REASON) == 0) {
    /* An operator pause until `pacer resume` ends in 2112
     * (PACER_KEYS_OP_FOREVER_US): no count of ms for it. */
    *wait_ms = pause_ms;
    if (pause_ms > 100000000000ull)
      snprintf(text, size, "%s on %s, until resumed", pause_reason,
               pause_bucket != NULL ? pause_bucket : "?");
    else
      snprintf(text, size, "%s on %s; %" PRIu64 " ms left", pause_reason,
               pause_bucket != NULL ? pause_bucket : "?", pause_ms);
    return PACER_WAIT_PAUSED;
  }
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
