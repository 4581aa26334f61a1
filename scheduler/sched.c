/* Scheduler: intake -> validate -> ready FIFO -> workers -> decide ->
 * atomic Redis write. Runs entirely on the scheduler thread; the worker pool
 * and Redis call back on this thread only. */
#include "sched.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "scheduler/backoff.h"
#include "scheduler/job.h"
#include "scheduler/queue_redis.h"
#include "workers/pacer_http.h"

#define MAX_FIELDS         32u    /* strings in one XADD field list */
#define EXCERPT_BYTES      512u   /* response excerpt in a dead letter */
#define DEAD_JOB_BYTES     65536u /* job text kept in a dead letter */
#define RETRY_BASE_MS      500u   /* first retry ceiling, ms */
#define RETRY_CAP_MS       30000u /* retry ceiling cap, ms */
#define REPLAY_INTERVAL_MS 1000u  /* resend unknown-outcome writes, ms */
#define FORCE_CLOSE_MS     5000u  /* after the grace period, ms */

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
  ENTRY_WRITING    /* a Redis script decides its fate */
};

enum entry_op { OP_NONE = 0, OP_FINISH, OP_DEFER, OP_REQUEUE };

/* One held stream entry. */
struct entry {
  struct pacer_sched *s;     /* owner */
  struct entry *prev, *next; /* held list */
  struct entry *rnext;       /* ready FIFO or replay list */
  char sid[48];              /* stream entry id */
  char *text;                /* job JSON text, owned */
  size_t text_len;           /* bytes */
  char *given_id;            /* stream field "id", owned, or NULL */
  unsigned attempt;          /* attempts made so far */
  int promoted;
  int ack_required;      /* 0 only for payload_lost from XAUTOCLAIM */
  struct pacer_job *job; /* parsed job, or NULL when invalid */
  enum entry_state state;
  /* The pending Redis write, kept until Redis confirms it, so it can be
   * replayed after an "outcome unknown" (C17). */
  enum entry_op op;
  int ok; /* OP_FINISH: state ok */
  struct fieldbuf res;
  struct fieldbuf dead;
  uint64_t due_unix_ms; /* OP_DEFER */
  char *member;         /* OP_DEFER, owned */
  size_t member_len;
};

struct pacer_sched {
  uv_loop_t *loop;
  const struct pacer_config *cfg;
  struct pacer_queue *queue;
  struct pacer_pool *pool;
  struct entry *held_head, *held_tail;
  struct entry *ready_head, *ready_tail;
  struct entry *replay_head;
  struct pacer_sched_stats st;
  uint64_t prng;
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
};

static void dispatch(struct pacer_sched *s);
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

/* Writes the terminal record. body may be NULL. */
static void
finish(struct pacer_sched *s, struct entry *e, int ok, long status,
       const char *reason, const char *error, uint64_t duration_ms,
       const char *headers_json, const char *body, size_t body_len)
{
  size_t keep = body_len;
  uint64_t now = pacer_clock_unix_ms();
  int rc = 0;

  e->state = ENTRY_WRITING;
  e->op = OP_FINISH;
  e->ok = ok;
  fb_clear(&e->res);
  fb_clear(&e->dead);
  if (keep > s->cfg->result_body_max_bytes)
    keep = s->cfg->result_body_max_bytes;
  rc |= fb_adds(&e->res, "id", entry_id(e));
  rc |= fb_adds(&e->res, "state", ok ? "ok" : "failed");
  rc |= fb_addu(&e->res, "status", (uint64_t)(status > 0 ? status : 0));
  rc |= fb_adds(&e->res, "reason", reason);
  rc |= fb_adds(&e->res, "error", error);
  rc |= fb_addu(&e->res, "attempts", e->attempt);
  rc |= fb_addu(&e->res, "duration_ms", duration_ms);
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
  if (rc != 0) {
    /* Out of memory: leave the entry pending; the lease brings it back. */
    pacer_log(PACER_LOG_ERROR, "sched",
              "msg=\"out of memory writing result\" "
              "job=%s",
              entry_id(e));
    return;
  }
  pacer_log(ok ? PACER_LOG_DEBUG : PACER_LOG_INFO, "sched",
            "msg=\"job finished\" job=%s state=%s status=%ld reason=%s "
            "attempt=%u",
            entry_id(e), ok ? "ok" : "failed", status, reason[0] ? reason : "-",
            e->attempt);
  send_op(s, e);
}

/* Moves e to the delayed set, due at due_unix_ms, recording attempts. */
static void
defer(struct pacer_sched *s, struct entry *e, uint64_t due_unix_ms)
{
  const char *id = entry_id(e);
  char head[PACER_JOB_ID_MAX + 32];
  int n = snprintf(head, sizeof(head), "%s\n%u\n", id, e->attempt);
  size_t hl = (size_t)n;

  e->state = ENTRY_WRITING;
  e->op = OP_DEFER;
  e->due_unix_ms = due_unix_ms;
  free(e->member);
  e->member = malloc(hl + e->text_len + 1);
  if (e->member == NULL) {
    pacer_log(PACER_LOG_ERROR, "sched",
              "msg=\"out of memory deferring\" "
              "job=%s",
              id);
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
  rc |= fb_addu(&e->res, "attempt", e->attempt);
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

static void
ready_push(struct pacer_sched *s, struct entry *e)
{
  e->state = ENTRY_READY;
  e->rnext = NULL;
  if (s->ready_tail)
    s->ready_tail->rnext = e;
  else
    s->ready_head = e;
  s->ready_tail = e;
  s->st.ready++;
}

static void
on_entry(struct pacer_queue *q, const struct pacer_queue_entry *qe, void *arg)
{
  struct pacer_sched *s = arg;
  struct pacer_job_limits lim;
  struct pacer_error err;
  struct entry *e;
  int rc;

  (void)q;
  e = calloc(1, sizeof(*e));
  if (e == NULL)
    return; /* stays pending; the lease brings it back */
  snprintf(e->sid, sizeof(e->sid), "%s", qe->sid);
  e->attempt = qe->attempt + (qe->claimed ? 1u : 0u);
  e->promoted = qe->promoted;
  e->ack_required = qe->claimed != 2;
  if (qe->id != NULL && pacer_job_id_check(qe->id, &err) == 0)
    e->given_id = strdup(qe->id);
  if (qe->job != NULL) {
    e->text = malloc(qe->job_len + 1);
    if (e->text != NULL) {
      memcpy(e->text, qe->job, qe->job_len);
      e->text[qe->job_len] = '\0';
      e->text_len = qe->job_len;
    }
  }
  e->s = s;
  held_link(s, e);
  if (qe->job == NULL) {
    /* C15: the entry was trimmed away while pending. */
    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"pending entry lost its payload\" sid=%s", e->sid);
    finish(s, e, 0, 0, "payload_lost",
           "job: the stream entry was trimmed or deleted while pending", 0,
           NULL, NULL, 0);
    return;
  }
  if (s->stopping) {
    requeue(s, e);
    return;
  }
  pacer_job_limits_default(&lim);
  lim.max_bytes = s->cfg->job_max_bytes;
  lim.default_timeout_ms = s->cfg->default_timeout_ms;
  if (qe->id != NULL && e->given_id == NULL) {
    /* err holds the id check's reason (never logged with the raw id). */
    rc = PACER_EJOB;
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
    char quoted[300];

    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"invalid job\" sid=%s reason=invalid_job error=\"%s\"",
              e->sid, pacer_log_quote(quoted, sizeof(quoted), err.msg));
    finish(s, e, 0, 0, "invalid_job", err.msg, 0, NULL, NULL, 0);
    return;
  }
  if (!e->promoted && e->job->not_before_unix_ms > pacer_clock_unix_ms()) {
    defer(s, e, e->job->not_before_unix_ms);
    return;
  }
  ready_push(s, e);
  dispatch(s);
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

static struct pacer_http_request *
build_request(struct pacer_sched *s, struct entry *e)
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
  req->headers = calloc(job->nheaders + 2, sizeof(char *));
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
  req->connect_timeout_ms = s->cfg->connect_timeout_ms;
  req->timeout_ms = job->timeout_ms;
  req->body_cap_bytes = s->cfg->response_max_bytes;
  return req;
fail:
  req->nheaders = n;
  pacer_http_request_free(req);
  return NULL;
}

static void
dispatch(struct pacer_sched *s)
{
  while (s->ready_head != NULL && !s->canceled &&
         s->st.in_flight < s->cfg->concurrency) {
    struct entry *e = s->ready_head;
    struct pacer_http_request *req;

    s->ready_head = e->rnext;
    if (s->ready_head == NULL)
      s->ready_tail = NULL;
    e->rnext = NULL;
    s->st.ready--;
    req = build_request(s, e);
    if (req == NULL) {
      pacer_log(PACER_LOG_ERROR, "sched", "msg=\"out of memory\" job=%s",
                entry_id(e));
      requeue(s, e);
      continue;
    }
    if (pacer_pool_submit(s->pool, req) != 0) {
      pacer_http_request_free(req);
      requeue(s, e);
      continue;
    }
    e->state = ENTRY_RUNNING;
    s->st.in_flight++;
  }
}

static int
retryable(const struct pacer_http_outcome *o)
{
  switch (o->result) {
  case PACER_HTTP_TIMEOUT:
  case PACER_HTTP_CONNECT:
  case PACER_HTTP_TRANSPORT:
    return 1;
  case PACER_HTTP_OK:
    /* DESIGN "Backoff": 5xx, 408 and 429 retry; other 4xx do not. */
    return o->status == 408 || o->status == 429 || o->status >= 500;
  default:
    return 0;
  }
}

static void
on_outcome(struct pacer_pool *pool, struct pacer_http_outcome *o, void *arg)
{
  struct pacer_sched *s = arg;
  struct entry *e = (struct entry *)(uintptr_t)o->req->tag;
  char reason[32];
  uint64_t dur_ms = o->total_us / 1000u;
  int ok;

  (void)pool;
  assert(e->state == ENTRY_RUNNING);
  s->st.in_flight--;
  if (o->result == PACER_HTTP_CANCELED) {
    /* Shutdown cut it short: hand it back without counting an attempt. */
    requeue(s, e);
    goto done;
  }
  e->attempt++;
  ok = o->result == PACER_HTTP_OK && o->status >= 200 && o->status < 300;
  if (ok) {
    finish(s, e, 1, o->status, "", "", dur_ms, o->headers_json, o->body,
           o->body_len);
    goto done;
  }
  if (o->result == PACER_HTTP_OK)
    snprintf(reason, sizeof(reason), "http_%ld", o->status);
  else
    snprintf(reason, sizeof(reason), "%s", pacer_http_result_name(o->result));
  if (retryable(o) && e->attempt < e->job->max_attempts) {
    uint64_t delay = pacer_backoff_full_jitter_ms(e->attempt - 1, RETRY_BASE_MS,
                                                  RETRY_CAP_MS, &s->prng);

    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"retrying\" job=%s reason=%s attempt=%u wait_ms=%" PRIu64,
              entry_id(e), reason, e->attempt, delay);
    s->st.retried++;
    defer(s, e, pacer_clock_unix_ms() + delay);
    goto done;
  }
  finish(s, e, 0, o->status, reason, o->error[0] ? o->error : reason, dur_ms,
         o->headers_json, o->body, o->body_len);
done:
  pacer_http_outcome_free(o);
  dispatch(s);
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
  memset(&cbs, 0, sizeof(cbs));
  cbs.on_entry = on_entry;
  cbs.on_connected = on_connected;
  cbs.capacity = capacity;
  rc = pacer_queue_new(loop, cfg, consumer, &cbs, s, &s->queue, err);
  if (rc != 0) {
    free(s);
    return rc;
  }
  pacer_queue_set_held(s->queue, held_list, s);
  uv_timer_init(loop, &s->replay_timer);
  uv_timer_init(loop, &s->grace_timer);
  uv_timer_init(loop, &s->stop_timer);
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
  s->pending_closes = 3;
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
  if (s->st.held == 0 && s->st.in_flight == 0 &&
      !pacer_queue_reading(s->queue)) {
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
  while ((e = s->ready_head) != NULL) {
    s->ready_head = e->rnext;
    e->rnext = NULL;
    s->st.ready--;
    requeue(s, e);
  }
  s->ready_tail = NULL;
  uv_timer_start(&s->grace_timer, on_grace_timer, s->cfg->shutdown_grace_ms, 0);
  check_stop(s);
}
