/* Scheduler: intake -> validate -> ready FIFO -> workers -> decide ->
 * atomic Redis write. Runs entirely on the scheduler thread; the worker pool
 * and Redis call back on this thread only. */
#include "scheduler/sched.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "core/backoff.h"
#include "core/decide.h"
#include "core/job.h"
#include "core/lane.h"
#include "core/scrub.h"
#include "scheduler/cred.h"
#include "scheduler/metrics.h"
#include "scheduler/snapshot.h"
#include "store/keys.h"
#include "store/limiter.h"
#include "store/queue.h"
#include "workers/pacer_http.h"

#define MAX_FIELDS         32u     /* strings in one XADD field list */
#define EXCERPT_BYTES      512u    /* response excerpt in a dead letter */
#define DEAD_JOB_BYTES     65536u  /* job text kept in a dead letter */
#define TAKE_HORIZON_US    250000u /* slots reserved at most this far, us */
#define SLOT_STALE_US      20000u  /* a slot this late is dropped, us */
#define TAKE_RETRY_MS      500u    /* after a failed take, ms */
#define REPLAY_INTERVAL_MS 1000u   /* resend unknown-outcome writes, ms */
#define FORCE_CLOSE_MS     5000u   /* after the grace period, ms */
#define PERMIT_LEASE_MS    60000u  /* in-flight permit lease, ms */
#define PERMIT_SLACK_MS    10000u  /* lease beyond a request's timeout, ms */
#define PERMIT_RETRY_MS    20u     /* a full max_in_flight: ask again, ms */
#define LANESTAT_EVERY_MS  1000u   /* lane snapshot for pacer stats, ms */
#define LANESTAT_TTL_MS    3000u   /* snapshot outlives its process, ms */
#define LANESTAT_MAX       500u    /* lanes per snapshot */
#define JOB_FIELDS_MAX     640u    /* job=.. lane=.. attempt=.. status=.. */

/* An owned XADD field list. */
struct fieldbuf {
  char *argv[MAX_FIELDS];
  const char *view[MAX_FIELDS]; /* the same pointers, for pacer_fields */
  size_t lens[MAX_FIELDS];
  size_t n;
};

enum entry_state {
  ENTRY_READY = 0, /* in the ready FIFO */
  ENTRY_RUNNING,   /* request in a worker */
  ENTRY_CRED_WAIT, /* waits for its credential's token (s->cred_wait) */
  ENTRY_WRITING    /* a Redis script decides its fate */
};

enum entry_op { OP_NONE = 0, OP_FINISH, OP_DEFER, OP_REQUEUE };

/* One held stream entry. */
struct entry {
  struct pacer_lane_node node; /* in its lane while ENTRY_READY */
  struct pacer_lane *lane;     /* set once the job is valid */
  unsigned throttled;          /* 429s seen */
  uint64_t ready_mono_us;      /* when it last entered its lane */
  uint64_t wait_ms;            /* total time spent waiting in lanes, ms */
  struct pacer_sched *s;       /* owner */
  struct entry *prev, *next;   /* held list */
  struct entry *rnext;         /* ready FIFO or replay list */
  char sid[48];                /* stream entry id */
  char *text;                  /* job JSON text, owned */
  size_t text_len;             /* bytes */
  char *given_id;              /* stream field "id", owned, or NULL */
  unsigned attempt;            /* attempts made so far */
  long status;                 /* last HTTP status, 0 = none yet (logs) */
  int promoted;
  int ack_required;      /* 0 only for payload_lost from XAUTOCLAIM */
  struct pacer_job *job; /* parsed job, or NULL when invalid */
  char *host;            /* job->url's host, parsed once (curl_free), or
                            NULL */
  char *path;            /* job->url's path, likewise */
  enum entry_state state;
  /* The pending Redis write, kept until Redis confirms it, so it can be
   * replayed after an "outcome unknown" (C17). */
  enum entry_op op;
  int ok;       /* OP_FINISH: state ok */
  int mx_state; /* OP_FINISH: enum pacer_metrics_job_state */
  struct fieldbuf res;
  struct fieldbuf dead;
  uint64_t due_unix_ms; /* OP_DEFER */
  char *member;         /* OP_DEFER, owned */
  size_t member_len;
  uint64_t cred_gen;     /* token generation the last request carried */
  uint64_t gen_401;      /* generation of the first 401 invalid_token */
  unsigned auth_replays; /* 401 invalid_token replays (no attempt used) */
  unsigned refusals;     /* refused-stream re-sends (no attempt used) */
  char permit[PACER_LIMITER_TOKEN_SIZE]; /* in-flight permit held while running,
                                            "" = none */
};

struct pacer_sched {
  uv_loop_t *loop;
  const struct pacer_config *cfg;
  struct pacer_queue *queue;
  struct pacer_pool *pool;
  struct entry *held_head, *held_tail;
  struct pacer_lanes lanes;
  uv_timer_t pump_timer; /* next reserved slot or lane wait, one timer */
  uv_timer_t stat_timer; /* publishes the lane snapshot */
  uint64_t pump_at_us;   /* when pump_timer fires, mono us, 0 = idle */
  struct entry *replay_head;
  struct pacer_sched_stats st;
  uint64_t prng;
  char consumer[128];        /* this process's consumer name */
  uint64_t permit_seq;       /* permit tokens: "<consumer>:<seq>" */
  size_t acquiring;          /* permit acquires outstanding */
  struct pacer_creds *creds; /* OAuth2 credentials (issue 4) */
  struct entry *cred_wait;   /* entries waiting for a token, via rnext */
  size_t ncred_wait;
  uv_timer_t replay_timer;
  uv_timer_t grace_timer;
  uv_timer_t stop_timer; /* re-checks stop progress from a clean stack */
  int stopping;
  int canceled;     /* pool cancel requested */
  int pool_stopped; /* pacer_pool_stop has run */
  int closing;      /* queue/pool teardown begun */
  int pending_closes;
  pacer_sched_terminal_cb on_terminal;
  void *terminal_arg;
  void (*on_stopped)(void *arg);
  void *stopped_arg;
  struct pacer_metrics *mx;       /* counters (issue 6), owned */
  pacer_sched_publish_cb publish; /* metrics snapshot receiver, or NULL */
  void *publish_arg;
  int mx_reading; /* a snapshot's Redis reads are out */
};

static void pump(struct pacer_sched *s);
static void send_op(struct pacer_sched *s, struct entry *e);
static void check_stop(struct pacer_sched *s);

/* ------------------------------------------------------------------ */
/* Field lists */

static int
fb_add(struct fieldbuf *fb, const char *name, const char *val, size_t len)
{
  char *n, *v;

  assert(fb->n + 2 <= MAX_FIELDS);
  n = strdup(name);
  v = malloc(len + 1);
  if (n == NULL || v == NULL) {
    free(n);
    free(v);
    return PACER_ENOMEM;
  }
  memcpy(v, val, len);
  v[len] = '\0';
  fb->argv[fb->n] = n;
  fb->view[fb->n] = n;
  fb->lens[fb->n++] = strlen(name);
  fb->argv[fb->n] = v;
  fb->view[fb->n] = v;
  fb->lens[fb->n++] = len;
  return 0;
}

static int
fb_adds(struct fieldbuf *fb, const char *name, const char *val)
{
  return fb_add(fb, name, val, strlen(val));
}

static int
fb_addu(struct fieldbuf *fb, const char *name, uint64_t v)
{
  char buf[24];
  int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

  return fb_add(fb, name, buf, (size_t)n);
}

static void
fb_clear(struct fieldbuf *fb)
{
  size_t i;

  for (i = 0; i < fb->n; i++)
    free(fb->argv[i]);
  fb->n = 0;
}

static struct pacer_fields
fb_view(struct fieldbuf *fb)
{
  struct pacer_fields f;

  f.argv = fb->view;
  f.lens = fb->lens;
  f.n = fb->n;
  return f;
}

/* ------------------------------------------------------------------ */
/* Entries */

static const char *
entry_id(const struct entry *e)
{
  if (e->job != NULL)
    return e->job->id;
  if (e->given_id != NULL)
    return e->given_id;
  return e->sid;
}

/* The fields every job log line starts with (issue 6 §3): job id, lane
 * ("-" while it has none), attempts made and the last HTTP status (0 =
 * none yet), as logfmt. Ids and lane ids hold no secret (secret header
 * values are hashed into lane keys). Returns buf. */
static const char *
job_fields(const struct entry *e, char *buf, size_t size)
{
  char id[2 * PACER_JOB_ID_MAX + 8], lane[256];

  snprintf(buf, size, "job=%s lane=%s attempt=%u status=%ld",
           pacer_log_value(id, sizeof(id), entry_id(e)),
           e->lane != NULL ? pacer_log_value(lane, sizeof(lane), e->lane->id)
                           : "-",
           e->attempt, e->status);
  return buf;
}

static void
held_link(struct pacer_sched *s, struct entry *e)
{
  e->prev = s->held_tail;
  e->next = NULL;
  if (s->held_tail)
    s->held_tail->next = e;
  else
    s->held_head = e;
  s->held_tail = e;
  s->st.held++;
}

static void
entry_free(struct pacer_sched *s, struct entry *e)
{
  if (e->prev)
    e->prev->next = e->next;
  else
    s->held_head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    s->held_tail = e->prev;
  s->st.held--;
  pacer_job_free(e->job);
  curl_free(e->host);
  curl_free(e->path);
  free(e->text);
  free(e->given_id);
  free(e->member);
  fb_clear(&e->res);
  fb_clear(&e->dead);
  free(e);
}

static size_t
held_list(void *arg, const char **sids, size_t max)
{
  struct pacer_sched *s = arg;
  struct entry *e;
  size_t n = 0;

  for (e = s->held_head; e != NULL && n < max; e = e->next)
    sids[n++] = e->sid;
  return n;
}

/* ------------------------------------------------------------------ */
/* Redis writes with replay */

static void
on_replay_timer(uv_timer_t *t)
{
  struct pacer_sched *s =
      PACER_CONTAINER_OF(t, struct pacer_sched, replay_timer);
  struct entry *list = s->replay_head, *e;

  s->replay_head = NULL;
  while (list != NULL) {
    e = list;
    list = e->rnext;
    e->rnext = NULL;
    send_op(s, e);
  }
}

static void
replay_later(struct pacer_sched *s, struct entry *e)
{
  e->rnext = s->replay_head;
  s->replay_head = e;
  if (!uv_is_active((uv_handle_t *)&s->replay_timer))
    uv_timer_start(&s->replay_timer, on_replay_timer, REPLAY_INTERVAL_MS, 0);
}

static void
on_op_done(struct pacer_queue *q, int status, int applied, void *privdata)
{
  struct entry *e = privdata;
  struct pacer_sched *s = e->s;

  (void)q;
  if (s->closing) {
    entry_free(s, e); /* teardown: Redis keeps it pending for the lease */
    return;
  }
  if (status != 0) {
    /* Unknown outcome or error reply: the scripts only act while the entry
     * is pending, so sending again is safe. */
    replay_later(s, e);
    return;
  }
  if (e->op == OP_FINISH) {
    if (applied) {
      if (e->ok)
        s->st.ok++;
      else
        s->st.failed++;
      pacer_metrics_job(s->mx, (enum pacer_metrics_job_state)e->mx_state);
    }
    if (s->on_terminal != NULL)
      s->on_terminal(s->terminal_arg, entry_id(e), e->ok);
  } else if (e->op == OP_DEFER && applied) {
    s->st.deferred++;
  }
  entry_free(s, e);
  pacer_queue_poke(s->queue);
  check_stop(s);
}

static void
send_op(struct pacer_sched *s, struct entry *e)
{
  struct pacer_fields res, dead;
  int rc = PACER_EINVAL;

  switch (e->op) {
  case OP_FINISH:
    res = fb_view(&e->res);
    dead = fb_view(&e->dead);
    rc = pacer_queue_finish(s->queue, e->sid, e->ack_required, &res,
                            e->dead.n ? &dead : NULL, on_op_done, e);
    break;
  case OP_DEFER:
    rc = pacer_queue_defer(s->queue, e->sid, e->due_unix_ms, e->member,
                           e->member_len, on_op_done, e);
    break;
  case OP_REQUEUE:
    res = fb_view(&e->res);
    rc = pacer_queue_requeue(s->queue, e->sid, &res, on_op_done, e);
    break;
  case OP_NONE:
    break;
  }
  if (rc != 0) {
    if (s->closing) {
      entry_free(s, e);
      return;
    }
    replay_later(s, e); /* not connected: resent after reconnect */
  }
}

/* ------------------------------------------------------------------ */
/* Outcomes -> Redis records */

static char *
redacted_job(const struct entry *e, size_t *len)
{
  char *r;

  if (e->text == NULL) {
    *len = 0;
    return NULL;
  }
  r = pacer_job_redact(e->text, e->text_len, DEAD_JOB_BYTES);
  *len = r ? strlen(r) : 0;
  return r;
}

/* Writes the terminal record of e with state st, the reason (r, with
 * status for http_<status>) and error; every state but ok also gets a dead
 * letter. headers_json and body may be NULL. now_unix_ms stamps it. */
static void
finish_state(struct pacer_sched *s, struct entry *e, enum pacer_job_state st,
             long status, enum pacer_reason r, const char *error,
             uint64_t duration_ms, const char *headers_json, const char *body,
             size_t body_len, uint64_t now_unix_ms)
{
  int ok = st == PACER_JOB_OK;
  size_t keep, hlen = 0;
  uint64_t now = now_unix_ms;
  int rc = 0, failed = 0;
  char *sbody = NULL, *sheaders = NULL;
  char jf[JOB_FIELDS_MAX], reason[PACER_REASON_TEXT_MAX];
  const char *state = pacer_job_state_name(st);

  pacer_reason_format(r, status, reason, sizeof(reason));
  /* An upstream that echoes the request back (C21) must not carry the
   * credential's token into the result or the dead letter. */
  if (e->job != NULL && e->job->credential != NULL) {
    struct pacer_cred *c = pacer_creds_get(s->creds, e->job->credential);
    const char *tok = c != NULL ? pacer_cred_held_token(c) : NULL;

    if (tok != NULL && body != NULL) {
      sbody = pacer_scrub_secret(body, body_len, tok, &body_len, &failed);
      if (sbody != NULL)
        body = sbody;
      else if (failed)
        body = NULL, body_len = 0;
    }
    if (tok != NULL && headers_json != NULL) {
      sheaders = pacer_scrub_secret(headers_json, strlen(headers_json), tok,
                                    &hlen, &failed);
      if (sheaders != NULL)
        headers_json = sheaders;
      else if (failed)
        headers_json = NULL;
    }
  }
  if (e->job != NULL && (body != NULL || headers_json != NULL))
    pacer_scrub_job_secrets(e->job, &body, &body_len, &sbody, &headers_json,
                            &sheaders);
  keep = body_len;

  e->state = ENTRY_WRITING;
  e->op = OP_FINISH;
  e->ok = ok;
  e->mx_state = ok                                ? PACER_MX_JOB_OK
                : st == PACER_JOB_OUTCOME_UNKNOWN ? PACER_MX_JOB_UNKNOWN
                                                  : PACER_MX_JOB_FAILED;
  fb_clear(&e->res);
  fb_clear(&e->dead);
  if (keep > s->cfg->result_body_max_bytes)
    keep = body != NULL ? pacer_utf8_cut_len(body, body_len,
                                             s->cfg->result_body_max_bytes)
                        : 0; /* never cut a UTF-8 character in two */
  rc |= fb_adds(&e->res, "id", entry_id(e));
  rc |= fb_adds(&e->res, "state", state);
  rc |= fb_addu(&e->res, "status", (uint64_t)(status > 0 ? status : 0));
  rc |= fb_adds(&e->res, "reason", reason);
  rc |= fb_adds(&e->res, "error", error);
  rc |= fb_addu(&e->res, "attempts", e->attempt);
  rc |= fb_addu(&e->res, "duration_ms", duration_ms);
  rc |= fb_addu(&e->res, "throttled", e->throttled);
  rc |= fb_addu(&e->res, "wait_ms", e->wait_ms);
  rc |= fb_addu(&e->res, "finished_unix_ms", now);
  rc |= fb_adds(&e->res, "headers", headers_json ? headers_json : "{}");
  rc |= fb_add(&e->res, "body", body ? body : "", body ? keep : 0);
  rc |= fb_adds(&e->res, "body_truncated", keep < body_len ? "1" : "0");
  if (e->job != NULL && e->job->meta_json != NULL)
    rc |= fb_adds(&e->res, "meta", e->job->meta_json);
  if (!ok) {
    size_t jlen, ex = body_len < EXCERPT_BYTES ? body_len : EXCERPT_BYTES;
    char *job = redacted_job(e, &jlen);

    rc |= fb_adds(&e->dead, "id", entry_id(e));
    rc |= fb_adds(&e->dead, "reason", reason);
    rc |= fb_adds(&e->dead, "error", error);
    rc |= fb_addu(&e->dead, "status", (uint64_t)(status > 0 ? status : 0));
    rc |= fb_addu(&e->dead, "attempts", e->attempt);
    rc |= fb_addu(&e->dead, "failed_unix_ms", now);
    rc |= fb_adds(&e->dead, "stream_id", e->sid);
    rc |= fb_add(&e->dead, "job", job ? job : "", jlen);
    rc |= fb_add(&e->dead, "excerpt", body ? body : "", body ? ex : 0);
    free(job);
  }
  free(sbody); /* the field list holds copies */
  free(sheaders);
  e->status = status > 0 ? status : 0;
  if (rc != 0) {
    /* Out of memory: leave the entry pending; the lease brings it back. */
    pacer_log(PACER_LOG_ERROR, "sched",
              "msg=\"out of memory writing result\" %s",
              job_fields(e, jf, sizeof(jf)));
    return;
  }
  pacer_log(ok ? PACER_LOG_DEBUG : PACER_LOG_INFO, "sched",
            "msg=\"job finished\" %s state=%s reason=%s lane_wait_ms=%" PRIu64
            " throttled=%u",
            job_fields(e, jf, sizeof(jf)), state, reason[0] ? reason : "-",
            e->wait_ms, e->throttled);
  send_op(s, e);
}

/* Moves e to the delayed set, due at due_unix_ms, recording attempts. */
static void
defer(struct pacer_sched *s, struct entry *e, uint64_t due_unix_ms)
{
  const char *id = entry_id(e);
  char head[PACER_JOB_ID_MAX + 32], jf[JOB_FIELDS_MAX];
  /* The 429 count travels along ("<attempts>.<429s>"), so
   * PACER_DECIDE_THROTTLED_MAX holds across pauses spent in the delayed set. */
  int n = e->throttled > 0
              ? snprintf(head, sizeof(head), "%s\n%u.%u\n", id, e->attempt,
                         e->throttled < 9999u ? e->throttled : 9999u)
              : snprintf(head, sizeof(head), "%s\n%u\n", id, e->attempt);
  size_t hl = (size_t)n;

  e->state = ENTRY_WRITING;
  e->op = OP_DEFER;
  e->due_unix_ms = due_unix_ms;
  free(e->member);
  e->member = malloc(hl + e->text_len + 1);
  if (e->member == NULL) {
    pacer_log(PACER_LOG_ERROR, "sched", "msg=\"out of memory deferring\" %s",
              job_fields(e, jf, sizeof(jf)));
    return;
  }
  memcpy(e->member, head, hl);
  memcpy(e->member + hl, e->text, e->text_len);
  e->member_len = hl + e->text_len;
  e->member[e->member_len] = '\0';
  send_op(s, e);
}

/* Hands an unstarted job back to the stream for any consumer. */
static void
requeue(struct pacer_sched *s, struct entry *e)
{
  int rc = 0;

  e->state = ENTRY_WRITING;
  e->op = OP_REQUEUE;
  fb_clear(&e->res);
  rc |= fb_add(&e->res, "job", e->text ? e->text : "", e->text_len);
  rc |= fb_adds(&e->res, "id", entry_id(e));
  if (e->throttled > 0) {
    char at[32];

    snprintf(at, sizeof(at), "%u.%u", e->attempt,
             e->throttled < 9999u ? e->throttled : 9999u);
    rc |= fb_adds(&e->res, "attempt", at);
  } else {
    rc |= fb_addu(&e->res, "attempt", e->attempt);
  }
  if (e->promoted)
    rc |= fb_adds(&e->res, "promoted", "1");
  if (rc != 0)
    return; /* out of memory: the lease brings it back */
  send_op(s, e);
}

/* ------------------------------------------------------------------ */
/* Intake */

static size_t
capacity(struct pacer_queue *q, void *arg)
{
  struct pacer_sched *s = arg;
  size_t limit = (size_t)s->cfg->concurrency + s->cfg->prefetch_extra;

  (void)q;
  if (s->stopping)
    return 0;
  return s->st.held >= limit ? 0 : limit - s->st.held;
}

static uint64_t
mono_us(void)
{
  return uv_hrtime() / 1000u;
}

static const char *
job_header(void *ctx, const char *name)
{
  return pacer_job_header_get(ctx, name);
}

/* Parses the URL of e's valid job once, for its lane and its credential's
 * hosts. A part that cannot be read stays NULL (out of memory: the job
 * then matches no host or path rule, as before). */
static void
url_parts(struct entry *e)
{
  CURLU *u = curl_url();

  if (u != NULL &&
      curl_url_set(u, CURLUPART_URL, e->job->url, 0) == CURLUE_OK) {
    if (curl_url_get(u, CURLUPART_HOST, &e->host, 0) != CURLUE_OK)
      e->host = NULL;
    if (curl_url_get(u, CURLUPART_PATH, &e->path, 0) != CURLUE_OK)
      e->path = NULL;
  }
  curl_url_cleanup(u);
}

/* Finds the lane of a valid job: the buckets of every limit that matches
 * it, all or nothing (issue 3 §1). Jobs that no limit covers share lanes
 * by limit_key, so tenants still take turns for the request slots. */
static struct pacer_lane *
lane_for(struct pacer_sched *s, const struct entry *e)
{
  const struct pacer_job *job = e->job;
  struct pacer_limit_ref refs[PACER_LIMITER_MAX_REFS];
  char id[PACER_LANE_ID_MAX + 1];
  const char *host = e->host, *path = e->path;
  size_t n = 0, used = 0, i;

  id[0] = '\0';
  for (i = 0; i < s->cfg->nlimits && n < PACER_LIMITER_MAX_REFS; i++) {
    const struct pacer_limit_cfg *l = &s->cfg->limits[i];
    int w;

    if (!pacer_limit_matches(l, pacer_method_name(job->method), host, path))
      continue;
    if (pacer_limit_key(l, host, job->credential, job->limit_key, job_header,
                        (void *)(uintptr_t)job, refs[n].key,
                        sizeof(refs[n].key)) != 0)
      continue;
    refs[n].cfg = l;
    w = snprintf(id + used, sizeof(id) - used, "%s%s", n ? "|" : "",
                 refs[n].key);
    if (w < 0 || (size_t)w >= sizeof(id) - used)
      break;
    used += (size_t)w;
    n++;
  }
  if (n == 0)
    snprintf(id, sizeof(id), "~%s", job->limit_key ? job->limit_key : "");
  return pacer_lanes_get(&s->lanes, id, refs, n);
}

/* Puts a valid job in its lane (front: put back after a 429), at
 * now_unix_ms. */
static void
lane_enqueue(struct pacer_sched *s, struct entry *e, int front,
             uint64_t now_unix_ms)
{
  char jf[JOB_FIELDS_MAX];

  if (e->lane == NULL)
    e->lane = lane_for(s, e);
  if (e->lane == NULL) {
    pacer_log(PACER_LOG_ERROR, "sched", "msg=\"out of memory\" %s",
              job_fields(e, jf, sizeof(jf)));
    requeue(s, e);
    return;
  }
  if (!front && e->lane->nrefs > 0) {
    /* A job that would wait longer than defer_after_ms for its lane goes to
     * the delayed set, due when the lane will have room, spread at the
     * lane's pace (issue 3 §4): a backlog stays in Redis, and another
     * tenant's jobs can still be read past it. */
    uint64_t iv_ms = 0, now = now_unix_ms, ahead_ms, due;
    size_t i;

    for (i = 0; i < e->lane->nrefs; i++) {
      const struct pacer_gcra_limit *g = &e->lane->refs[i].cfg->gcra;
      uint64_t iv =
          g->interval_us *
          (e->lane->refs[i].cfg->cost ? e->lane->refs[i].cfg->cost : 1u);

      if (iv / 1000u > iv_ms)
        iv_ms = iv / 1000u;
    }
    ahead_ms = (uint64_t)e->lane->queued * iv_ms;
    /* No lane may fill more than half of what this process holds, or a
     * backlog read first would shut other tenants out of the intake. */
    if (ahead_ms > s->cfg->defer_after_ms ||
        e->lane->queued >=
            ((size_t)s->cfg->concurrency + s->cfg->prefetch_extra) / 2) {
      due = now + ahead_ms;
      if (e->lane->defer_until_unix_ms + iv_ms > due)
        due = e->lane->defer_until_unix_ms + iv_ms;
      e->lane->defer_until_unix_ms = due;
      e->lane->deferred++;
      pacer_log(PACER_LOG_DEBUG, "sched",
                "msg=\"deferred\" %s wait_reason=lane_backlog "
                "wait_ms=%" PRIu64 " queued=%zu",
                job_fields(e, jf, sizeof(jf)), due - now, e->lane->queued);
      defer(s, e, due);
      return;
    }
  }
  e->state = ENTRY_READY;
  e->node.priority = (int)e->job->priority;
  e->ready_mono_us = mono_us();
  pacer_lane_push(&s->lanes, e->lane, &e->node, front);
  s->st.ready++;
}

/* A job naming a credential: it must be configured, the job must not set
 * Authorization itself, and its URL host must be one the credential's
 * token may go to (issue 4 §1, `hosts`). */
static int
cred_check(struct pacer_sched *s, const struct entry *e,
           struct pacer_error *err)
{
  const struct pacer_job *job = e->job;
  struct pacer_cred *c = pacer_creds_get(s->creds, job->credential);

  if (c == NULL)
    return pacer_error_set(err, PACER_EJOB,
                           "credential: \"%s\" is not in the config's "
                           "credentials",
                           job->credential);
  if (pacer_job_header_get(job, "Authorization") != NULL)
    return pacer_error_set(err, PACER_EJOB,
                           "headers: Authorization must not be set when "
                           "\"credential\" is (pacer adds it)");
  if (e->host == NULL || !pacer_cred_host_allowed(pacer_cred_cfg(c), e->host))
    return pacer_error_set(err, PACER_EJOB,
                           "credential: \"%s\" may not be sent to this URL's "
                           "host (not in its \"hosts\")",
                           job->credential);
  return 0;
}

/* The duplicate check's answer (docs/REDIS.md, done-markers): a job id
 * that already finished ok within done_ttl_ms was acked and deleted unsent;
 * anything else (no marker, a lost reply) runs, and the finish script
 * still keeps its result single. */
static void
on_done_checked(struct pacer_queue *q, int status, int applied, void *privdata)
{
  struct entry *e = privdata;
  struct pacer_sched *s = e->s;

  (void)q;
  if (s->closing) {
    entry_free(s, e); /* teardown: Redis keeps it pending for the lease */
    return;
  }
  if (status == 0 && applied) {
    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"job id already finished (done-marker); skipped unsent\" "
              "job=%s sid=%s",
              entry_id(e), e->sid);
    s->st.duplicates++;
    if (s->on_terminal != NULL)
      s->on_terminal(s->terminal_arg, entry_id(e), 1);
    entry_free(s, e);
    pacer_queue_poke(s->queue);
    check_stop(s);
    return;
  }
  if (s->stopping) {
    requeue(s, e);
    return;
  }
  lane_enqueue(s, e, 0, pacer_clock_unix_ms());
  pump(s);
}

static void
on_entry(struct pacer_queue *q, const struct pacer_queue_entry *qe, void *arg)
{
  struct pacer_sched *s = arg;
  struct pacer_job_limits lim;
  struct pacer_error err;
  struct entry *e;
  uint64_t now_unix_ms = pacer_clock_unix_ms();
  int rc, id_rc = 0;

  (void)q;
  /* Always initialised: every path below that writes err.msg into a
   * result has set it, and no other path may read it. */
  pacer_error_clear(&err);
  e = calloc(1, sizeof(*e));
  if (e == NULL)
    return; /* stays pending; the lease brings it back */
  snprintf(e->sid, sizeof(e->sid), "%s", qe->sid);
  e->attempt = qe->attempt + (qe->claimed ? 1u : 0u);
  e->throttled = qe->throttled;
  e->promoted = qe->promoted;
  e->ack_required = qe->claimed != 2;
  if (qe->id != NULL) {
    id_rc = pacer_job_id_check(qe->id, &err);
    if (id_rc == 0 && (e->given_id = strdup(qe->id)) == NULL)
      goto nomem; /* not the job's fault: never an invalid_job result */
  }
  if (qe->job != NULL) {
    e->text = malloc(qe->job_len + 1);
    if (e->text == NULL)
      goto nomem;
    memcpy(e->text, qe->job, qe->job_len);
    e->text[qe->job_len] = '\0';
    e->text_len = qe->job_len;
  }
  e->s = s;
  held_link(s, e);
  if (qe->job == NULL) {
    /* C15: the entry was trimmed away while pending. */
    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"pending entry lost its payload\" sid=%s", e->sid);
    finish_state(s, e, PACER_JOB_FAILED, 0, PACER_REASON_PAYLOAD_LOST,
                 "job: the stream entry was trimmed or deleted while pending",
                 0, NULL, NULL, 0, now_unix_ms);
    return;
  }
  if (s->stopping) {
    requeue(s, e);
    return;
  }
  pacer_job_limits_default(&lim);
  lim.max_bytes = s->cfg->job_max_bytes;
  lim.default_timeout_ms = s->cfg->default_timeout_ms;
  if (id_rc != 0) {
    /* err holds the id check's reason (never logged with the raw id). */
    rc = id_rc;
  } else if (qe->no_job_field) {
    rc = pacer_error_set(&err, PACER_EJOB,
                         "job: the stream entry has no \"job\" field (XADD "
                         "<prefix>jobs * job '<json>')");
  } else if (qe->bad_attempt) {
    rc = pacer_error_set(&err, PACER_EJOB,
                         "attempt: the stream field must be a whole number "
                         "from 0 to %d",
                         PACER_QUEUE_ATTEMPT_MAX);
  } else {
    rc = pacer_job_parse(e->text, e->text_len,
                         e->given_id ? e->given_id : e->sid, &lim, &e->job,
                         &err);
  }
  if (rc != 0) {
    char peek[PACER_JOB_ID_MAX + 1];

    /* The result still carries the client's id when one can be read. */
    if (e->given_id == NULL &&
        pacer_job_peek_id(e->text, e->text_len, peek, sizeof(peek)) == 0)
      e->given_id = strdup(peek);
    char quoted[300], jf[JOB_FIELDS_MAX];

    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"invalid job\" %s sid=%s reason=invalid_job "
              "error=\"%s\"",
              job_fields(e, jf, sizeof(jf)), e->sid,
              pacer_log_quote(quoted, sizeof(quoted), err.msg));
    finish_state(s, e, PACER_JOB_FAILED, 0, PACER_REASON_INVALID_JOB, err.msg,
                 0, NULL, NULL, 0, now_unix_ms);
    return;
  }
  url_parts(e);
  if (e->job->credential != NULL && cred_check(s, e, &err) != 0) {
    char quoted[300], jf[JOB_FIELDS_MAX];

    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"invalid job\" %s reason=invalid_job error=\"%s\"",
              job_fields(e, jf, sizeof(jf)),
              pacer_log_quote(quoted, sizeof(quoted), err.msg));
    finish_state(s, e, PACER_JOB_FAILED, 0, PACER_REASON_INVALID_JOB, err.msg,
                 0, NULL, NULL, 0, now_unix_ms);
    return;
  }
  /* Taken over from a consumer that died or lost its lease: it may have
   * sent this request already. A POST/PATCH the server cannot deduplicate
   * is not sent again on our own, as after a timeout (docs/REDIS.md). */
  if (qe->claimed == 1 &&
      (e->job->method == PACER_METHOD_POST ||
       e->job->method == PACER_METHOD_PATCH) &&
      pacer_job_header_get(e->job, "Idempotency-Key") == NULL &&
      !e->job->retry_unsafe) {
    finish_state(s, e, PACER_JOB_OUTCOME_UNKNOWN, 0, PACER_REASON_TAKEN_OVER,
                 "the worker that held this request stopped (crash or lost "
                 "lease) and may have sent it; not sent again without an "
                 "Idempotency-Key header or retry_unsafe",
                 0, NULL, NULL, 0, now_unix_ms);
    return;
  }
  if (!e->promoted && e->job->not_before_unix_ms > now_unix_ms) {
    char jf[JOB_FIELDS_MAX];

    pacer_log(PACER_LOG_DEBUG, "sched",
              "msg=\"deferred\" %s wait_reason=not_before wait_ms=%" PRIu64,
              job_fields(e, jf, sizeof(jf)),
              e->job->not_before_unix_ms - now_unix_ms);
    defer(s, e, e->job->not_before_unix_ms);
    return;
  }
  if (s->cfg->done_ttl_ms > 0 && e->ack_required &&
      pacer_queue_drop_if_done(s->queue, e->sid, entry_id(e), on_done_checked,
                               e) == 0)
    return; /* on_done_checked goes on */
  lane_enqueue(s, e, 0, now_unix_ms);
  pump(s);
  return;
nomem:
  free(e->given_id);
  free(e);
  /* stays pending; the lease brings it back */
}

static void
on_connected(struct pacer_queue *q, void *arg)
{
  struct pacer_sched *s = arg;

  (void)q;
  /* Replay writes whose outcome the old connection never told us. */
  if (s->replay_head != NULL)
    on_replay_timer(&s->replay_timer);
}

/* ------------------------------------------------------------------ */
/* Dispatch and outcomes */

static char *
xstrdup_fmt2(const char *a, const char *sep, const char *b)
{
  size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
  char *r = malloc(la + ls + lb + 1);

  if (r == NULL)
    return NULL;
  memcpy(r, a, la);
  memcpy(r + la, sep, ls);
  memcpy(r + la + ls, b, lb + 1);
  return r;
}

/* The job's "http_version" as the worker's request field. */
static enum pacer_http_version
request_http_version(enum pacer_job_http v)
{
  switch (v) {
  case PACER_JOB_HTTP_1_1:
    return PACER_HTTP_VERSION_1_1;
  case PACER_JOB_HTTP_2:
    return PACER_HTTP_VERSION_2;
  case PACER_JOB_HTTP_2_PRIOR_KNOWLEDGE:
    return PACER_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  case PACER_JOB_HTTP_DEFAULT:
    break;
  }
  return PACER_HTTP_VERSION_DEFAULT;
}

static struct pacer_http_request *
build_request(struct pacer_sched *s, struct entry *e, const char *scheme,
              const char *token)
{
  const struct pacer_job *job = e->job;
  struct pacer_http_request *req = calloc(1, sizeof(*req));
  size_t i, n = 0;
  int add_ct = job->body != NULL && job->body_is_json &&
               pacer_job_header_get(job, "Content-Type") == NULL;

  if (req == NULL)
    return NULL;
  req->tag = (uint64_t)(uintptr_t)e;
  req->method = strdup(pacer_method_name(job->method));
  req->url = strdup(job->url);
  req->headers = calloc(job->nheaders + 3, sizeof(char *));
  if (req->method == NULL || req->url == NULL || req->headers == NULL)
    goto fail;
  for (i = 0; i < job->nheaders; i++) {
    /* curl drops "Name:" with nothing after it; "Name;" sends it empty. */
    if (job->headers[i].value[0] == '\0')
      req->headers[n] = xstrdup_fmt2(job->headers[i].name, ";", "");
    else
      req->headers[n] =
          xstrdup_fmt2(job->headers[i].name, ": ", job->headers[i].value);
    if (req->headers[n++] == NULL)
      goto fail;
  }
  if (add_ct) {
    req->headers[n] = strdup("Content-Type: application/json");
    if (req->headers[n++] == NULL)
      goto fail;
  }
  if (token != NULL) {
    /* RFC 6750 §2.1; the job itself may not carry Authorization. */
    req->headers[n] = xstrdup_fmt2("Authorization: ", scheme, " ");
    if (req->headers[n] != NULL) {
      char *line = xstrdup_fmt2(req->headers[n], "", token);

      explicit_bzero(req->headers[n], strlen(req->headers[n]));
      free(req->headers[n]);
      req->headers[n] = line;
    }
    if (req->headers[n++] == NULL)
      goto fail;
  }
  /* No "Expect: 100-continue" round trip for large bodies. */
  req->headers[n] = strdup("Expect:");
  if (req->headers[n++] == NULL)
    goto fail;
  req->nheaders = n;
  if (job->body != NULL) {
    req->body = malloc(job->body_len ? job->body_len : 1);
    if (req->body == NULL)
      goto fail;
    memcpy(req->body, job->body, job->body_len);
    req->body_len = job->body_len;
  }
  /* libcurl drops only Authorization and Cookie on a cross-host redirect:
   * a job with any other secret header does not follow redirects. */
  /* A job with a credential never follows one either: its token goes to
   * the credential's hosts only, never to another scheme, host or port
   * (issue 4 §5). */
  req->follow_redirects = token == NULL;
  for (i = 0; i < job->nheaders; i++) {
    if (pacer_header_is_secret(job->headers[i].name))
      req->follow_redirects = 0;
  }
  /* libcurl may re-send a request whose reused connection died: never for
   * a POST/PATCH that the server cannot deduplicate. */
  req->forbid_reuse =
      (job->method == PACER_METHOD_POST || job->method == PACER_METHOD_PATCH) &&
      pacer_job_header_get(job, "Idempotency-Key") == NULL &&
      !job->retry_unsafe;
  req->http_version = request_http_version(job->http_version);
  req->connect_timeout_ms = s->cfg->connect_timeout_ms;
  req->timeout_ms = job->timeout_ms;
  req->body_cap_bytes = s->cfg->response_max_bytes;
  /* CASES C20: every address this job connects to, on every hop, is
   * checked by the worker (token requests are the operator's own). */
  if (s->cfg->dest_policy.mode != PACER_DEST_ANY)
    req->dest_policy = &s->cfg->dest_policy;
  return req;
fail:
  req->nheaders = n;
  pacer_http_request_free(req);
  return NULL;
}

static void
on_permit_extended(void *arg, int status, int granted)
{
  (void)arg;
  (void)status;
  (void)granted;
}

/* Gives back a lane's unused permit (its lane has nothing left to send). */
static void
lane_drop_permit(struct pacer_sched *s, struct pacer_lane *l)
{
  if (l->permit[0] == '\0')
    return;
  (void)pacer_limiter_release(s->queue, l->refs, l->nrefs, l->permit);
  l->permit[0] = '\0';
}

struct permit_req {
  struct pacer_sched *s;
  struct pacer_lane *l;
  char token[PACER_LIMITER_TOKEN_SIZE];
};

static void
on_permit(void *arg, int status, int granted)
{
  struct permit_req *p = arg;
  struct pacer_sched *s = p->s;
  struct pacer_lane *l = p->l;

  l->acquiring = 0;
  s->acquiring--;
  if (s->closing) {
    free(p);
    return;
  }
  if (status != 0) {
    /* Unknown: the permit may be held; give it back, ask again later. */
    (void)pacer_limiter_release(s->queue, l->refs, l->nrefs, p->token);
    l->permit_wait_until_us = mono_us() + TAKE_RETRY_MS * 1000u;
  } else if (!granted) {
    l->permit_wait_until_us = mono_us() + PERMIT_RETRY_MS * 1000u;
  } else if (l->queued == 0 || s->stopping) {
    (void)pacer_limiter_release(s->queue, l->refs, l->nrefs, p->token);
  } else {
    memcpy(l->permit, p->token, sizeof(l->permit));
  }
  free(p);
  if (l->queued == 0)
    pacer_lanes_release(&s->lanes, l);
  pump(s);
  check_stop(s);
}

/* Asks for a cluster-wide in-flight permit for the lane's next request
 * (issue 3 §1, max_in_flight shared through Redis). */
static void
lane_acquire(struct pacer_sched *s, struct pacer_lane *l)
{
  struct permit_req *p = malloc(sizeof(*p));

  if (p == NULL)
    return;
  p->s = s;
  p->l = l;
  snprintf(p->token, sizeof(p->token), "%s:%" PRIu64, s->consumer,
           ++s->permit_seq);
  if (pacer_limiter_acquire(s->queue, l->refs, l->nrefs, p->token,
                            PERMIT_LEASE_MS, on_permit, p) != 0) {
    free(p);
    l->permit_wait_until_us = mono_us() + TAKE_RETRY_MS * 1000u;
    return;
  }
  l->acquiring = 1;
  s->acquiring++;
}

/* Starts e's request now. */
/* A job whose credential needs re-authorisation waits in the delayed set
 * at a score that is never due, until `pacer cred set` releases it
 * (issue 4 §4): not failed, not lost, its lease released. */
static void
park(struct pacer_sched *s, struct entry *e)
{
  char jf[JOB_FIELDS_MAX];

  pacer_log(PACER_LOG_WARN, "sched",
            "msg=\"parked: credential needs re-authorisation\" %s "
            "wait_reason=reauth_required credential=%s",
            job_fields(e, jf, sizeof(jf)), e->job->credential);
  defer(s, e, (uint64_t)PACER_KEYS_PARK_SCORE_MS);
}

static void
cred_wait_push(struct pacer_sched *s, struct entry *e)
{
  e->state = ENTRY_CRED_WAIT;
  e->rnext = s->cred_wait;
  s->cred_wait = e;
  s->ncred_wait++;
}

/* A credential left its waiting state: release (or park) its jobs. */
static void
on_cred_changed(void *arg, struct pacer_cred *c)
{
  struct pacer_sched *s = arg;
  struct entry **pp = &s->cred_wait, *e;
  enum pacer_cred_state st;
  const char *tok;
  uint64_t gen, now_unix_ms = pacer_clock_unix_ms();

  if (s->closing)
    return;
  st = pacer_cred_token(c, &tok, &gen);
  if (st == PACER_CRED_WAIT)
    return;
  while ((e = *pp) != NULL) {
    if (strcmp(e->job->credential, pacer_cred_name(c)) != 0) {
      pp = &e->rnext;
      continue;
    }
    *pp = e->rnext;
    e->rnext = NULL;
    s->ncred_wait--;
    if (st == PACER_CRED_REAUTH)
      park(s, e);
    else
      lane_enqueue(s, e, 1, now_unix_ms);
  }
  pump(s);
}

static int
submit_token_request(void *arg, struct pacer_http_request *req)
{
  struct pacer_sched *s = arg;

  if (s->pool == NULL || s->stopping)
    return PACER_EINVAL;
  return pacer_pool_submit(s->pool, req);
}

static void
start(struct pacer_sched *s, struct entry *e)
{
  struct pacer_http_request *req;
  struct pacer_lane *l = e->lane;
  const char *token = NULL, *scheme = NULL;
  char jf[JOB_FIELDS_MAX];

  if (e->job->credential != NULL) {
    struct pacer_cred *c = pacer_creds_get(s->creds, e->job->credential);
    uint64_t gen = 0;

    switch (c != NULL ? pacer_cred_token(c, &token, &gen) : PACER_CRED_WAIT) {
    case PACER_CRED_READY:
      e->cred_gen = gen;
      scheme = pacer_cred_cfg(c)->scheme;
      break;
    case PACER_CRED_REAUTH:
      park(s, e);
      if (l->queued == 0)
        lane_drop_permit(s, l);
      return;
    default:
      /* Paused while the credential refreshes, here or elsewhere. The
       * lane may be freed meanwhile: it is found again on release. */
      pacer_log(PACER_LOG_DEBUG, "sched",
                "msg=\"waiting for credential\" %s "
                "wait_reason=credential_refresh credential=%s",
                job_fields(e, jf, sizeof(jf)), e->job->credential);
      cred_wait_push(s, e);
      e->lane = NULL;
      if (l->queued == 0)
        lane_drop_permit(s, l);
      return;
    }
  }
  req = build_request(s, e, scheme, token);

  e->wait_ms += (mono_us() - e->ready_mono_us) / 1000u;
  if (req == NULL || pacer_pool_submit(s->pool, req) != 0) {
    if (req == NULL)
      pacer_log(PACER_LOG_ERROR, "sched", "msg=\"out of memory\" %s",
                job_fields(e, jf, sizeof(jf)));
    pacer_http_request_free(req);
    requeue(s, e);
    if (l->queued == 0)
      lane_drop_permit(s, l);
    return;
  }
  e->state = ENTRY_RUNNING;
  e->lane->in_flight++;
  s->st.in_flight++;
  pacer_metrics_sent(s->mx, e->lane->refs, e->lane->nrefs);
  if (e->lane->permit[0] != '\0') {
    uint64_t need = (uint64_t)e->job->timeout_ms + PERMIT_SLACK_MS;

    memcpy(e->permit, e->lane->permit, sizeof(e->permit));
    e->lane->permit[0] = '\0';
    /* A request that may outlive the lease keeps its permit longer. */
    if (need > PERMIT_LEASE_MS)
      (void)pacer_limiter_acquire(s->queue, e->lane->refs, e->lane->nrefs,
                                  e->permit, need, on_permit_extended, NULL);
  }
}

static struct entry *
lane_pop_entry(struct pacer_sched *s, struct pacer_lane *l)
{
  struct pacer_lane_node *n = pacer_lane_pop(&s->lanes, l);

  if (n == NULL)
    return NULL;
  s->st.ready--;
  return PACER_CONTAINER_OF(n, struct entry, node);
}

/* A lane must wait wait_us before its next slot. Beyond defer_after_ms its
 * queued jobs go to the delayed set, spread over the lane's pace, releasing
 * their lease and memory (issue 3 §4). */
static void
lane_wait(struct pacer_sched *s, struct pacer_lane *l, uint64_t wait_us)
{
  uint64_t now_unix = pacer_clock_unix_ms(), step_ms = 0;
  struct entry *e;
  size_t k = 0, i;
  char jf[JOB_FIELDS_MAX], why[200];

  l->wait_until_us = mono_us() + wait_us;
  if (wait_us / 1000u <= s->cfg->defer_after_ms)
    return;
  for (i = 0; i < l->nrefs; i++) {
    uint64_t iv = l->refs[i].cfg->gcra.interval_us / 1000u;

    if (iv > step_ms)
      step_ms = iv;
  }
  while ((e = lane_pop_entry(s, l)) != NULL) {
    uint64_t due = now_unix + wait_us / 1000u + k++ * step_ms;

    e->wait_ms += (mono_us() - e->ready_mono_us) / 1000u;
    pacer_log(
        PACER_LOG_DEBUG, "sched",
        "msg=\"deferred\" %s wait_reason=%s wait_ms=%" PRIu64,
        job_fields(e, jf, sizeof(jf)),
        pacer_log_value(why, sizeof(why),
                        l->pause_reason[0] ? l->pause_reason : "rate_limit"),
        due - now_unix);
    defer(s, e, due);
    l->deferred++;
    if (due > l->defer_until_unix_ms)
      l->defer_until_unix_ms = due;
  }
  lane_drop_permit(s, l);
}

static void on_take(void *arg, int status, const struct pacer_limiter_grant *g);

struct take_req {
  struct pacer_sched *s;
  struct pacer_lane *l;
};

static void
lane_take(struct pacer_sched *s, struct pacer_lane *l)
{
  struct take_req *t = malloc(sizeof(*t));
  unsigned n = l->queued < PACER_LIMITER_MAX_SLOTS ? (unsigned)l->queued
                                                   : PACER_LIMITER_MAX_SLOTS;

  if (t == NULL)
    return;
  t->s = s;
  t->l = l;
  if (pacer_limiter_take(s->queue, l->refs, l->nrefs, n, TAKE_HORIZON_US,
                         on_take, t) != 0) {
    free(t);
    l->wait_until_us = mono_us() + TAKE_RETRY_MS * 1000u;
    return;
  }
  l->taking = 1;
}

static void
on_take(void *arg, int status, const struct pacer_limiter_grant *g)
{
  struct take_req *t = arg;
  struct pacer_sched *s = t->s;
  struct pacer_lane *l = t->l;

  free(t);
  l->taking = 0;
  if (s->closing)
    return;
  if (status != 0) {
    l->wait_until_us = mono_us() + TAKE_RETRY_MS * 1000u;
  } else if (g->nslots > 0) {
    pacer_lane_add_slots(l, mono_us(), g->slot_us, g->nslots);
  } else {
    if (g->reason[0] != '\0')
      snprintf(l->pause_reason, sizeof(l->pause_reason), "%s", g->reason);
    lane_wait(s, l, g->wait_us);
  }
  pump(s);
}

static void
on_pump_timer(uv_timer_t *t)
{
  struct pacer_sched *s = PACER_CONTAINER_OF(t, struct pacer_sched, pump_timer);

  s->pump_at_us = 0;
  pump(s);
}

/* Serves the lanes round-robin, one request per lane per round, while
 * request slots are free: a lane sends only on a slot it reserved from the
 * shared limiter (or at once when no limit covers it). */
static void
pump(struct pacer_sched *s)
{
  uint64_t now = mono_us(), wake = UINT64_MAX;
  int progress = 1;

  if (s->closing || s->canceled)
    return;
  while (progress && s->st.in_flight < s->cfg->concurrency &&
         s->lanes.ring != NULL) {
    struct pacer_lane *l = s->lanes.ring, *next;
    size_t nring = 0, k;

    /* Only the lane being served can leave the ring during a round, and
     * its successor was read first, so walking nring steps is safe. */
    do {
      nring++;
      l = l->rnext;
    } while (l != s->lanes.ring);
    progress = 0;
    for (k = 0; k < nring; k++) {
      uint64_t at;

      next = l->rnext;
      if (l->queued == 0 || s->st.in_flight >= s->cfg->concurrency)
        goto next_lane;
      if (l->max_in_flight != 0 && l->in_flight >= l->max_in_flight)
        goto next_lane;
      if (l->nrefs == 0) {
        start(s, lane_pop_entry(s, l));
        progress = 1;
        goto next_lane;
      }
      if (l->max_in_flight != 0 && l->permit[0] == '\0') {
        /* Capped across processes: a permit first, then a slot. */
        if (!l->acquiring) {
          if (now >= l->permit_wait_until_us)
            lane_acquire(s, l);
          else if (l->permit_wait_until_us < wake)
            wake = l->permit_wait_until_us;
        }
        goto next_lane;
      }
      if (pacer_lane_take_slot(l, now, SLOT_STALE_US, &at)) {
        start(s, lane_pop_entry(s, l));
        progress = 1;
        goto next_lane;
      }
      if (at != UINT64_MAX) {
        if (at < wake)
          wake = at;
      } else if (!l->taking) {
        if (now >= l->wait_until_us)
          lane_take(s, l);
        else if (l->wait_until_us < wake)
          wake = l->wait_until_us;
      }
    next_lane:
      l = next;
    }
    if (s->lanes.ring != NULL)
      s->lanes.ring = s->lanes.ring->rnext; /* rotate: fair start */
  }
  if (wake != UINT64_MAX && (s->pump_at_us == 0 || wake < s->pump_at_us)) {
    uint64_t ms = wake > now ? (wake - now + 999u) / 1000u : 0;

    s->pump_at_us = wake;
    uv_timer_start(&s->pump_timer, on_pump_timer, ms, 0);
  }
}

/* Pauses ref everywhere (Redis) and here: every local lane on that bucket
 * drops its reserved slots and waits until now_mono_us + p->ms. */
static void
pause_bucket(struct pacer_sched *s, const struct pacer_limit_ref *ref,
             const struct pacer_pause_plan *p, uint64_t now_mono_us)
{
  static const enum pacer_metrics_pause_cause mx_cause[] = {
      [PACER_PAUSE_NONE] = PACER_MX_PAUSE_BACKOFF,
      [PACER_PAUSE_RETRY_AFTER] = PACER_MX_PAUSE_RETRY_AFTER,
      [PACER_PAUSE_RATELIMIT] = PACER_MX_PAUSE_RATELIMIT,
      [PACER_PAUSE_BACKOFF] = PACER_MX_PAUSE_BACKOFF,
  };
  uint64_t until = now_mono_us + p->ms * 1000u;
  size_t b, i;

  assert((unsigned)p->cause < PACER_ARRAY_SIZE(mx_cause));
  pacer_limiter_pause(s->queue, ref, p->ms, p->why);
  pacer_metrics_paused(s->mx, ref, mx_cause[p->cause]);
  for (b = 0; b < 256; b++) {
    struct pacer_lane *l;

    for (l = s->lanes.buckets[b]; l != NULL; l = l->hnext) {
      for (i = 0; i < l->nrefs; i++) {
        if (strcmp(l->refs[i].key, ref->key) != 0)
          continue;
        pacer_lane_clear_slots(l);
        if (l->wait_until_us < until)
          l->wait_until_us = until;
        snprintf(l->pause_reason, sizeof(l->pause_reason), "%.*s",
                 (int)sizeof(l->pause_reason) - 1, p->why);
      }
    }
  }
}

/* An outcome for a credential's token request: the credential decides,
 * with the pause the response's headers ask for as a hint. */
static void
on_token_outcome(struct pacer_sched *s, struct pacer_http_outcome *o,
                 const struct pacer_resp_headers *hdr, uint64_t now_unix_ms)
{
  struct pacer_pause_plan hint;

  if (pacer_decide_hint(hdr, now_unix_ms, &hint) != 0)
    hint.ms = 0;
  pacer_creds_on_outcome(s->creds, o,
                         hint.ms < s->cfg->retry_after_max_ms
                             ? hint.ms
                             : s->cfg->retry_after_max_ms);
  check_stop(s);
}

/* Applies decision d (core/decide.c) about e after outcome o: counters,
 * bucket pause, metrics, logs, then the Redis write or the lane. ref is
 * the lane's 429 bucket or NULL; c the job's credential or NULL. */
static void
apply(struct pacer_sched *s, struct entry *e, struct pacer_http_outcome *o,
      const struct pacer_decision *d, const struct pacer_limit_ref *ref,
      struct pacer_cred *c, uint64_t now_unix_ms, uint64_t now_mono_us)
{
  char jf[JOB_FIELDS_MAX], bucket[200], wr[200];
  char reason[PACER_REASON_TEXT_MAX];
  uint64_t dur_ms = o->total_us / 1000u;

  e->attempt = d->counts.attempt;
  e->throttled = d->counts.throttled;
  e->refusals = d->counts.refusals;
  e->auth_replays = d->counts.auth_replays;
  e->gen_401 = d->counts.gen_401;
  if (d->throttled) {
    pacer_metrics_throttled(s->mx, ref);
    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"slowed down by upstream\" %s bucket=%s wait_reason=%s "
              "wait_ms=%" PRIu64 " throttled=%u",
              job_fields(e, jf, sizeof(jf)),
              ref ? pacer_log_value(bucket, sizeof(bucket), ref->key) : "-",
              pacer_log_value(wr, sizeof(wr), d->pause.why), d->wait_ms,
              e->throttled);
  }
  if (d->pause.cause != PACER_PAUSE_NONE && ref != NULL)
    pause_bucket(s, ref, &d->pause, now_mono_us);
  switch (d->kind) {
  case PACER_DECIDE_FINISH:
    finish_state(s, e, d->state, d->status, d->reason, d->error, dur_ms,
                 d->keep_response ? o->headers_json : NULL,
                 d->keep_response ? o->body : NULL,
                 d->keep_response ? o->body_len : 0, now_unix_ms);
    break;
  case PACER_DECIDE_RETRY:
    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"retrying\" %s reason=%s wait_reason=%s wait_ms=%" PRIu64,
              job_fields(e, jf, sizeof(jf)),
              pacer_reason_format(d->reason, d->status, reason, sizeof(reason)),
              pacer_log_value(wr, sizeof(wr), d->wait_reason), d->wait_ms);
    s->st.retried++;
    defer(s, e, d->at_unix_ms);
    break;
  case PACER_DECIDE_PAUSE:
    if (d->at_unix_ms == 0)
      lane_enqueue(s, e, 1, now_unix_ms); /* first when the pause ends */
    else
      defer(s, e, d->at_unix_ms);
    break;
  case PACER_DECIDE_REPLAY:
    /* Refused stream (RFC 9113 §8.7): again now, first in its lane, on a
     * new connection, without spending an attempt. */
    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"stream refused, sending again\" %s refusals=%u",
              job_fields(e, jf, sizeof(jf)), e->refusals);
    lane_enqueue(s, e, 1, now_unix_ms);
    break;
  case PACER_DECIDE_REFRESH:
    assert(c != NULL);
    pacer_cred_invalid(c, e->cred_gen);
    lane_enqueue(s, e, 1, now_unix_ms);
    break;
  case PACER_DECIDE_REQUEUE:
    requeue(s, e); /* shutdown cut it short: no attempt counted */
    break;
  }
}

static void
on_outcome(struct pacer_pool *pool, struct pacer_http_outcome *o, void *arg)
{
  struct pacer_sched *s = arg;
  struct pacer_resp_headers hdr;
  struct pacer_attempt a;
  struct pacer_decide_job job;
  struct pacer_decide_limits lim;
  struct pacer_decision d;
  const struct pacer_limit_ref *ref;
  struct pacer_cred *c = NULL;
  struct entry *e;
  struct pacer_lane *lane;
  /* one clock read of each kind per outcome, passed down */
  uint64_t now_unix_ms = pacer_clock_unix_ms(), now_mono_us = mono_us();

  (void)pool;
  /* the response headers, parsed once for every rule that reads them */
  (void)pacer_resp_headers_parse(o->headers_json, &hdr);
  if (o->req->tag & PACER_CRED_TAG_BIT) {
    on_token_outcome(s, o, &hdr, now_unix_ms);
    pacer_resp_headers_free(&hdr);
    return;
  }
  e = (struct entry *)(uintptr_t)o->req->tag;
  lane = e->lane;
  assert(e->state == ENTRY_RUNNING);
  s->st.in_flight--;
  lane->in_flight--;
  if (e->permit[0] != '\0') {
    (void)pacer_limiter_release(s->queue, lane->refs, lane->nrefs, e->permit);
    e->permit[0] = '\0';
  }
  if (o->result != PACER_HTTP_CANCELED) {
    e->status = o->result == PACER_HTTP_OK ? o->status : 0;
    pacer_metrics_request(s->mx, (int)o->result,
                          o->result == PACER_HTTP_OK ? o->status : 0,
                          o->total_us);
  }
  ref = pacer_decide_pause_target(lane->refs, lane->nrefs);
  if (e->job->credential != NULL)
    c = pacer_creds_get(s->creds, e->job->credential);
  memset(&a, 0, sizeof(a));
  a.result = o->result;
  a.status = o->status;
  a.own_conn = o->req->forbid_reuse;
  a.hdr = &hdr;
  a.error = o->error;
  memset(&job, 0, sizeof(job));
  job.method = e->job->method;
  job.idempotency_key = pacer_job_header_get(e->job, "Idempotency-Key") != NULL;
  job.retry_unsafe = e->job->retry_unsafe;
  job.max_attempts = e->job->max_attempts;
  job.credential = c != NULL;
  job.cred_scheme = c != NULL ? pacer_cred_cfg(c)->scheme : NULL;
  job.counts.attempt = e->attempt;
  job.counts.throttled = e->throttled;
  job.counts.refusals = e->refusals;
  job.counts.auth_replays = e->auth_replays;
  job.counts.cred_gen = e->cred_gen;
  job.counts.gen_401 = e->gen_401;
  lim.pause_target = ref != NULL;
  lim.retry_after_max_ms = s->cfg->retry_after_max_ms;
  lim.defer_after_ms = s->cfg->defer_after_ms;
  pacer_decide(&a, &job, &lim, now_unix_ms, &s->prng, &d);
  apply(s, e, o, &d, ref, c, now_unix_ms, now_mono_us);
  pacer_resp_headers_free(&hdr);
  pacer_http_outcome_free(o);
  pacer_lanes_release(&s->lanes, lane); /* kept while it has work */
  pump(s);
  pacer_queue_poke(s->queue);
  check_stop(s);
}

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
  memset(&cbs, 0, sizeof(cbs));
  cbs.on_entry = on_entry;
  cbs.on_connected = on_connected;
  cbs.capacity = capacity;
  rc = pacer_queue_new(loop, cfg, consumer, &cbs, s, &s->queue, err);
  if (rc != 0) {
    pacer_metrics_free(s->mx);
    free(s);
    return rc;
  }
  pacer_queue_set_held(s->queue, held_list, s);
  rc = pacer_creds_new(loop, cfg, s->queue, submit_token_request,
                       on_cred_changed, s, &s->creds);
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
  pacer_lanes_init(&s->lanes);
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

  if (!ok) {
    cJSON_Delete(o);
    return -1;
  }
  /* cJSON numbers are doubles: exact below 2^53. */
  ok = cJSON_AddStringToObject(o, "lane", l->id) != NULL &&
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
/* Metrics snapshot (issue 6): built here every second, on this thread;
 * the HTTP thread only ever sees the rendered copy the publisher takes. */

static void
metrics_publish(struct pacer_sched *s)
{
  size_t waiting[PACER_CREDS_MAX];
  struct pacer_snapshot_in in;
  struct pacer_text text, json;
  struct entry *e;
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
  in.now_mono_us = mono_us();
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
 * issue 3 §7). Lane ids are bucket keys, never secrets (C21). */
static void
on_stat_timer(uv_timer_t *t)
{
  struct pacer_sched *s = PACER_CONTAINER_OF(t, struct pacer_sched, stat_timer);
  uint64_t now = pacer_clock_unix_ms();
  cJSON *o, *arr;
  char *text = NULL;
  size_t b, n = 0;

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
                            on_outcome, s, &s->pool);

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
  /* Every take callback has run (the queue closed): lanes can go. */
  pacer_lanes_free_all(&s->lanes);
  pacer_creds_close(s->creds);
  s->creds = NULL;
  s->pending_closes = 5;
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
  struct entry *e;

  stop_pool(s); /* before closing: cancelled jobs are handed back first */
  s->closing = 1;
  uv_timer_stop(&s->grace_timer);
  uv_timer_stop(&s->replay_timer);
  uv_timer_stop(&s->stop_timer);
  uv_timer_stop(&s->pump_timer);
  uv_timer_stop(&s->stat_timer);
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
    entry_free(s, e);
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

static void
check_stop(struct pacer_sched *s)
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
    check_stop(s);
    return;
  }
  teardown(s); /* Redis unreachable: stop anyway */
}

void
pacer_sched_stop(struct pacer_sched *s, void (*on_stopped)(void *arg),
                 void *arg)
{
  struct entry *e;

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

    while ((e = lane_pop_entry(s, l)) != NULL)
      requeue(s, e);
    lane_drop_permit(s, l);
  }
  while ((e = s->cred_wait) != NULL) {
    s->cred_wait = e->rnext;
    e->rnext = NULL;
    s->ncred_wait--;
    requeue(s, e);
  }
  uv_timer_start(&s->grace_timer, on_grace_timer, s->cfg->shutdown_grace_ms, 0);
  check_stop(s);
}
