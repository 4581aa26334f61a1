/* Scheduler, the write side: an entry's result, dead letter, delayed-set
 * member or requeue as a field list, sent to Redis (store/queue.c) and
 * replayed until Redis confirms it, because the scripts only act while
 * the entry is pending (docs/REDIS.md). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include <curl/curl.h>

#include "common/clock.h"
#include "core/job.h"
#include "core/scrub.h"
#include "scheduler/cancel.h"
#include "scheduler/chain.h"
#include "scheduler/cred.h"
#include "scheduler/metrics.h"
#include "store/queue.h"

#include "scheduler/sched_int.h"

#define EXCERPT_BYTES      512u   /* response excerpt in a dead letter */
#define DEAD_JOB_BYTES     65536u /* job text kept in a dead letter */
#define REPLAY_INTERVAL_MS 1000u  /* resend unknown-outcome writes, ms */

static void send_op(struct pacer_sched *s, struct pacer_entry *e);

/* ------------------------------------------------------------------ */
/* Field lists */

static int
fb_add(struct pacer_fieldbuf *fb, const char *name, const char *val, size_t len)
{
  size_t i, off;

  assert(fb->n + 2 <= PACER_SCHED_MAX_FIELDS);
  if (len >= SIZE_MAX / 2 - fb->used)
    return PACER_ENOMEM;
  if (fb->used + len + 1 > fb->cap) {
    size_t cap = fb->cap ? fb->cap : 512;
    char *nb;

    while (cap < fb->used + len + 1)
      cap *= 2;
    nb = realloc(fb->buf, cap);
    if (nb == NULL)
      return PACER_ENOMEM;
    fb->buf = nb;
    fb->cap = cap;
    /* the values lie one after the other, each with its NUL */
    for (i = 1, off = 0; i < fb->n; off += fb->lens[i] + 1, i += 2)
      fb->view[i] = fb->buf + off;
  }
  memcpy(fb->buf + fb->used, val, len);
  fb->buf[fb->used + len] = '\0';
  fb->view[fb->n] = name;
  fb->lens[fb->n++] = strlen(name);
  fb->view[fb->n] = fb->buf + fb->used;
  fb->lens[fb->n++] = len;
  fb->used += len + 1;
  return 0;
}

static int
fb_adds(struct pacer_fieldbuf *fb, const char *name, const char *val)
{
  return fb_add(fb, name, val, strlen(val));
}

static int
fb_addu(struct pacer_fieldbuf *fb, const char *name, uint64_t v)
{
  char buf[24];
  int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

  return fb_add(fb, name, buf, (size_t)n);
}

static void
fb_clear(struct pacer_fieldbuf *fb)
{
  free(fb->buf);
  fb->buf = NULL;
  fb->n = fb->used = fb->cap = 0;
}

static struct pacer_fields
fb_view(struct pacer_fieldbuf *fb)
{
  struct pacer_fields f;

  f.argv = fb->view;
  f.lens = fb->lens;
  f.n = fb->n;
  return f;
}

/* ------------------------------------------------------------------ */
/* Entries */

const char *
pacer_sched_entry_id(const struct pacer_entry *e)
{
  if (e->job != NULL)
    return e->job->id;
  if (e->given_id != NULL)
    return e->given_id;
  return e->sid;
}

/* The fields every job log line starts with (README.md, logs): job id, lane
 * ("-" while it has none), attempts made and the last HTTP status (0 =
 * none yet), as logfmt. Ids and lane ids hold no secret (secret header
 * values are hashed into lane keys). Returns buf. */
const char *
pacer_sched_job_fields(const struct pacer_entry *e, char *buf, size_t size)
{
  char id[2 * PACER_JOB_ID_MAX + 8], lane[256];

  snprintf(buf, size, "job=%s lane=%s attempt=%u status=%ld",
           pacer_log_value(id, sizeof(id), pacer_sched_entry_id(e)),
           e->lane != NULL ? pacer_log_value(lane, sizeof(lane), e->lane->id)
                           : "-",
           e->attempt, e->status);
  return buf;
}

void
pacer_sched_held_link(struct pacer_sched *s, struct pacer_entry *e)
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

void
pacer_sched_entry_free(struct pacer_sched *s, struct pacer_entry *e)
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
  pacer_sched_chain_free(e->chain);
  free(e);
}

size_t
pacer_sched_held_list(void *arg, const char **sids, size_t max)
{
  struct pacer_sched *s = arg;
  struct pacer_entry *e;
  size_t n = 0;

  for (e = s->held_head; e != NULL && n < max; e = e->next)
    sids[n++] = e->sid;
  return n;
}

/* ------------------------------------------------------------------ */
/* Redis writes with replay */

void
pacer_sched_on_replay_timer(uv_timer_t *t)
{
  struct pacer_sched *s =
      PACER_CONTAINER_OF(t, struct pacer_sched, replay_timer);
  struct pacer_entry *list = s->replay_head, *e;

  s->replay_head = NULL;
  while (list != NULL) {
    e = list;
    list = e->rnext;
    e->rnext = NULL;
    send_op(s, e);
  }
}

static void
replay_later(struct pacer_sched *s, struct pacer_entry *e)
{
  e->rnext = s->replay_head;
  s->replay_head = e;
  if (!uv_is_active((uv_handle_t *)&s->replay_timer))
    uv_timer_start(&s->replay_timer, pacer_sched_on_replay_timer,
                   REPLAY_INTERVAL_MS, 0);
}

static void
on_op_done(struct pacer_queue *q, int status, int applied, void *privdata)
{
  struct pacer_entry *e = privdata;
  struct pacer_sched *s = e->s;

  (void)q;
  if (s->closing) {
    pacer_sched_entry_free(
        s, e); /* teardown: Redis keeps it pending for the lease */
    return;
  }
  if (status != 0) {
    /* Unknown outcome or error reply: the scripts only act while the entry
     * is pending, so sending again is safe. */
    replay_later(s, e);
    return;
  }
  if (e->op == PACER_OP_FINISH && e->chain != NULL && !e->chain->stepped) {
    e->chain->stepped = 1; /* the chain step is in: now the page's result */
    if (!e->chain->acks) {
      send_op(s, e);
      return;
    }
  }
  if (e->op == PACER_OP_FINISH) {
    if (applied) {
      if (e->ok)
        s->st.ok++;
      else
        s->st.failed++;
      pacer_metrics_job(s->mx, (enum pacer_metrics_job_state)e->mx_state);
    }
    if (s->on_terminal != NULL && e->chain == NULL)
      s->on_terminal(s->terminal_arg, pacer_sched_entry_id(e), e->ok);
    else if (s->on_terminal != NULL && e->chain->ended)
      s->on_terminal(s->terminal_arg, e->chain->root_id, e->chain->summary_ok);
  } else if (e->op == PACER_OP_DEFER && applied) {
    s->st.deferred++;
  }
  pacer_sched_entry_free(s, e);
  pacer_queue_poke(s->queue);
  pacer_sched_check_stop(s);
}

static void
send_op(struct pacer_sched *s, struct pacer_entry *e)
{
  struct pacer_fields res, dead;
  int rc = PACER_EINVAL;

  switch (e->op) {
  case PACER_OP_FINISH:
    if (e->chain != NULL && !e->chain->stepped) {
      rc = pacer_sched_chain_send(s, e, on_op_done);
      break;
    }
    res = fb_view(&e->res);
    dead = fb_view(&e->dead);
    rc = pacer_queue_finish(s->queue, e->sid, e->ack_required, &res,
                            e->dead.n ? &dead : NULL, on_op_done, e);
    break;
  case PACER_OP_DEFER:
    rc = pacer_queue_defer(s->queue, e->sid, e->due_unix_ms, e->member,
                           e->member_len, pacer_sched_entry_id(e), on_op_done,
                           e);
    break;
  case PACER_OP_REQUEUE:
    res = fb_view(&e->res);
    rc = pacer_queue_requeue(s->queue, e->sid, &res, on_op_done, e);
    break;
  case PACER_OP_NONE:
    break;
  }
  if (rc != 0) {
    if (s->closing) {
      pacer_sched_entry_free(s, e);
      return;
    }
    replay_later(s, e); /* not connected: resent after reconnect */
  }
}

/* ------------------------------------------------------------------ */
/* Outcomes -> Redis records */

static char *
redacted_job(const struct pacer_entry *e, size_t *len)
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
void
pacer_sched_finish(struct pacer_sched *s, struct pacer_entry *e,
                   enum pacer_job_state st, long status, enum pacer_reason r,
                   const char *error, uint64_t duration_ms,
                   const char *headers_json, const char *body, size_t body_len,
                   uint64_t now_unix_ms)
{
  int ok = st == PACER_JOB_OK;
  size_t keep, hlen = 0;
  uint64_t now = now_unix_ms;
  int rc = 0, failed = 0;
  char *sbody = NULL, *sheaders = NULL;
  char jf[PACER_SCHED_JOB_FIELDS_MAX], reason[PACER_REASON_TEXT_MAX];
  const char *state = pacer_job_state_name(st);

  pacer_reason_format(r, status, reason, sizeof(reason));
  /* An upstream that echoes the request back (README.md "Result entry") must
   * not carry the credential's token into the result or the dead letter. */
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

  e->state = PACER_ENTRY_WRITING;
  e->op = PACER_OP_FINISH;
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
  rc |= fb_adds(&e->res, "id", pacer_sched_result_id(e));
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
  if (e->chain != NULL) {
    rc |= fb_adds(&e->res, "parent", e->chain->root_id);
    rc |= fb_addu(&e->res, "page", e->chain->page);
  }
  if (!ok) {
    size_t jlen, ex = body_len < EXCERPT_BYTES ? body_len : EXCERPT_BYTES;
    char *job = redacted_job(e, &jlen);

    rc |= fb_adds(&e->dead, "id", pacer_sched_result_id(e));
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
              pacer_sched_job_fields(e, jf, sizeof(jf)));
    return;
  }
  pacer_log(ok ? PACER_LOG_DEBUG : PACER_LOG_INFO, "sched",
            "msg=\"job finished\" %s state=%s reason=%s lane_wait_ms=%" PRIu64
            " throttled=%u",
            pacer_sched_job_fields(e, jf, sizeof(jf)), state,
            reason[0] ? reason : "-", e->wait_ms, e->throttled);
  send_op(s, e);
}

/* Writes "<id>\n<attempt field>\n" (id non-NULL) or the attempt field
 * alone into buf: "<attempts>", or "<attempts>.<429s>.<first enqueue ms>"
 * once either is known. Returns its length. */
static int
attempt_field(const struct pacer_entry *e, char *buf, size_t size,
              const char *id)
{
  unsigned t = e->throttled < 9999u ? e->throttled : 9999u;

  if (e->throttled == 0 && e->enqueued_unix_ms == 0)
    return snprintf(buf, size, "%s%s%u%s", id ? id : "", id ? "\n" : "",
                    e->attempt, id ? "\n" : "");
  return snprintf(buf, size, "%s%s%u.%u.%" PRIu64 "%s", id ? id : "",
                  id ? "\n" : "", e->attempt, t, e->enqueued_unix_ms,
                  id ? "\n" : "");
}

/* Moves e to the delayed set, due at due_unix_ms, recording attempts. */
void
pacer_sched_defer(struct pacer_sched *s, struct pacer_entry *e,
                  uint64_t due_unix_ms)
{
  const char *id = pacer_sched_entry_id(e);
  char head[PACER_JOB_ID_MAX + 32], jf[PACER_SCHED_JOB_FIELDS_MAX];
  /* The 429 count and the first enqueue travel along
   * ("<attempts>.<429s>.<ms>", store/keys.h), so PACER_DECIDE_THROTTLED_MAX
   * and a relative deadline hold across pauses in the delayed set. */
  int n = attempt_field(e, head, sizeof(head), id);
  size_t hl = (size_t)n;

  /* `pacer cancel` asked: it ends here instead of waiting in delayed. */
  if (pacer_sched_cancel_wanted(s, id)) {
    pacer_sched_cancel_finish(s, e, pacer_clock_unix_ms());
    return;
  }
  e->state = PACER_ENTRY_WRITING;
  e->op = PACER_OP_DEFER;
  e->due_unix_ms = due_unix_ms;
  free(e->member);
  e->member = malloc(hl + e->text_len + 1);
  if (e->member == NULL) {
    pacer_log(PACER_LOG_ERROR, "sched", "msg=\"out of memory deferring\" %s",
              pacer_sched_job_fields(e, jf, sizeof(jf)));
    return;
  }
  memcpy(e->member, head, hl);
  memcpy(e->member + hl, e->text, e->text_len);
  e->member_len = hl + e->text_len;
  e->member[e->member_len] = '\0';
  send_op(s, e);
}

/* Hands an unstarted job back to the stream for any consumer. */
void
pacer_sched_requeue(struct pacer_sched *s, struct pacer_entry *e)
{
  int rc = 0;

  e->state = PACER_ENTRY_WRITING;
  e->op = PACER_OP_REQUEUE;
  fb_clear(&e->res);
  rc |= fb_add(&e->res, "job", e->text ? e->text : "", e->text_len);
  rc |= fb_adds(&e->res, "id", pacer_sched_entry_id(e));
  {
    char at[48];

    (void)attempt_field(e, at, sizeof(at), NULL);
    rc |= fb_adds(&e->res, "attempt", at);
  }
  if (e->promoted)
    rc |= fb_adds(&e->res, "promoted", "1");
  if (rc != 0)
    return; /* out of memory: the lease brings it back */
  send_op(s, e);
}
