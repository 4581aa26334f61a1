/* Scheduler, intake: a stream entry becomes a held entry; its job is
 * validated (invalid jobs finish at once), its URL parsed once, and it
 * goes to its lane, or to the delayed set when it must wait. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include <curl/curl.h>

#include "core/job.h"
#include "scheduler/cancel.h"
#include "scheduler/cred.h"
#include "store/limiter.h"
#include "store/queue.h"

#include "scheduler/sched_int.h"

size_t
pacer_sched_capacity(struct pacer_queue *q, void *arg)
{
  struct pacer_sched *s = arg;
  size_t limit = (size_t)s->cfg->concurrency + s->cfg->prefetch_extra;

  (void)q;
  if (s->stopping)
    return 0;
  return s->st.held >= limit ? 0 : limit - s->st.held;
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
url_parts(struct pacer_entry *e)
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
 * it, all or nothing (docs/LIMITS.md). Jobs that no limit covers share lanes
 * by limit_key, so tenants still take turns for the request slots. */
static struct pacer_lane *
lane_for(struct pacer_sched *s, const struct pacer_entry *e)
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
    if (pacer_limit_key_keyed(l, host, job->credential, job->limit_key,
                              job_header, (void *)(uintptr_t)job,
                              pacer_queue_lane_key(s->queue), refs[n].key,
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
  if (n == 0) {
    char tkey[PACER_THROTTLE_KEY_MAX];

    /* No limit covers it: while its host is throttled it waits in the
     * host's own lane, one request at a time (docs/LIMITS.md
     * "Throttles"). */
    pacer_throttle_key_of(NULL, host, tkey);
    if (pacer_throttles_probation(&s->throttles, tkey))
      return pacer_sched_host_lane(s, tkey);
    snprintf(id, sizeof(id), "~%s", job->limit_key ? job->limit_key : "");
  }
  return pacer_lanes_get(&s->lanes, id, refs, n);
}

/* Puts a valid job in its lane (front: put back after a 429), at
 * now_unix_ms. */
void
pacer_sched_lane_enqueue(struct pacer_sched *s, struct pacer_entry *e,
                         int front, uint64_t now_unix_ms)
{
  char jf[PACER_SCHED_JOB_FIELDS_MAX];

  if (e->lane == NULL)
    e->lane = lane_for(s, e);
  if (e->lane == NULL) {
    pacer_log(PACER_LOG_ERROR, "sched", "msg=\"out of memory\" %s",
              pacer_sched_job_fields(e, jf, sizeof(jf)));
    pacer_sched_requeue(s, e);
    return;
  }
  if (!front && e->lane->nrefs > 0) {
    /* A job that would wait longer than defer_after_ms for its lane goes to
     * the delayed set, due when the lane will have room, spread at the
     * lane's pace (docs/LIMITS.md): a backlog stays in Redis, and another
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
      pacer_sched_deferred_add(s, e->lane, due);
      pacer_log(PACER_LOG_DEBUG, "sched",
                "msg=\"deferred\" %s wait_reason=lane_backlog "
                "wait_ms=%" PRIu64 " queued=%zu",
                pacer_sched_job_fields(e, jf, sizeof(jf)), due - now,
                e->lane->queued);
      pacer_sched_defer(s, e, due);
      return;
    }
  }
  e->state = PACER_ENTRY_READY;
  e->node.priority = (int)e->job->priority;
  e->ready_mono_us = pacer_sched_mono_us();
  pacer_lane_push(&s->lanes, e->lane, &e->node, front);
  s->st.ready++;
}

/* A job naming a credential: it must be configured, the job must not set
 * Authorization itself, and its URL host must be one the credential's
 * token may go to (docs/CREDENTIALS.md, `hosts`). */
static int
cred_check(struct pacer_sched *s, const struct pacer_entry *e,
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

void
pacer_sched_finish_invalid(struct pacer_sched *s, struct pacer_entry *e,
                           const char *msg, uint64_t now_unix_ms)
{
  char quoted[2 * sizeof(((struct pacer_error *)0)->msg) + 2];
  char jf[PACER_SCHED_JOB_FIELDS_MAX];

  pacer_log(PACER_LOG_WARN, "sched",
            "msg=\"invalid job\" %s reason=invalid_job error=\"%s\"",
            pacer_sched_job_fields(e, jf, sizeof(jf)),
            pacer_log_quote(quoted, sizeof(quoted), msg));
  pacer_sched_finish(s, e, PACER_JOB_FAILED, 0, PACER_REASON_INVALID_JOB, msg,
                     0, NULL, NULL, 0, now_unix_ms);
}

/* Taken over from a consumer that died or lost its lease: it may have
 * sent this request already. A POST/PATCH the server cannot deduplicate
 * is not sent again on our own, as after a timeout (docs/REDIS.md): it
 * ends outcome_unknown. Asked only after the intake check, so a copy of a
 * job id that another entry runs, or that finished, is folded or dropped
 * instead of writing a second result (e2e_drop_replay). Returns 1 when e
 * ended here. */
static int
taken_over_unsafe(struct pacer_sched *s, struct pacer_entry *e)
{
  if (!e->taken_over ||
      (e->job->method != PACER_METHOD_POST &&
       e->job->method != PACER_METHOD_PATCH) ||
      pacer_job_header_get(e->job, "Idempotency-Key") != NULL ||
      e->job->retry_unsafe)
    return 0;
  pacer_sched_finish(s, e, PACER_JOB_OUTCOME_UNKNOWN, 0,
                     PACER_REASON_TAKEN_OVER,
                     "the worker that held this request stopped (crash or "
                     "lost lease) and may have sent it; not sent again "
                     "without an Idempotency-Key header or retry_unsafe",
                     0, NULL, NULL, 0, pacer_clock_unix_ms());
  return 1;
}

/* The duplicate check's answer (docs/REDIS.md, done-markers and "One job
 * id at a time"): a job id that already finished ok within done_ttl_ms
 * (applied 1), or whose other entry is queued or running (applied 3: this
 * entry is folded into it), was acked and deleted unsent; an entry no
 * longer pending here is left alone; one whose own check Redis refused
 * waits in the delayed set; anything else (no marker, our claim, an error
 * of the whole call) runs, and the finish script still keeps its result
 * single. */
static void
on_done_checked(struct pacer_queue *q, int status, int applied, void *privdata)
{
  struct pacer_entry *e = privdata;
  struct pacer_sched *s = e->s;

  (void)q;
  if (s->closing) {
    pacer_sched_entry_free(
        s, e); /* teardown: Redis keeps it pending for the lease */
    return;
  }
  if (status == 0 && applied == PACER_QUEUE_DROP_NOT_OURS) {
    /* Dropped or folded by this check's first run, whose reply was lost,
     * or taken over by another consumer: not ours to run. */
    pacer_log(PACER_LOG_DEBUG, "sched",
              "msg=\"entry no longer pending here; left alone\" job=%s "
              "sid=%s",
              pacer_sched_entry_id(e), e->sid);
    pacer_sched_entry_free(s, e);
    pacer_queue_poke(s->queue);
    pacer_sched_check_stop(s);
    return;
  }
  if (status == PACER_EREDIS && applied == PACER_QUEUE_DROP_REFUSED) {
    /* Redis refused this entry's check (logged: a key of the job id of
     * the wrong type): its claim is not taken, so running it could send
     * a second copy of the id. It waits in the delayed set and is
     * checked again, until the key is fixed (test_wrongtype.sh). */
    char jf[PACER_SCHED_JOB_FIELDS_MAX];

    pacer_log(PACER_LOG_ERROR, "sched",
              "msg=\"duplicate check refused by Redis (error above); job "
              "not sent, checked again later\" %s retry_in_ms=%u",
              pacer_sched_job_fields(e, jf, sizeof(jf)),
              PACER_SCHED_RECHECK_MS);
    if (s->stopping)
      pacer_sched_requeue(s, e);
    else
      pacer_sched_defer(s, e, pacer_clock_unix_ms() + PACER_SCHED_RECHECK_MS);
    return;
  }
  if (status == 0 && applied == 3) {
    /* No result of its own: the running entry's result answers it. */
    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"job id already queued or running; duplicate entry "
              "folded into it unsent\" job=%s sid=%s",
              pacer_sched_entry_id(e), e->sid);
    s->st.duplicates++;
    pacer_sched_entry_free(s, e);
    pacer_queue_poke(s->queue);
    pacer_sched_check_stop(s);
    return;
  }
  if (status == 0 && applied) {
    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"job id already finished (done-marker); skipped unsent\" "
              "job=%s sid=%s",
              pacer_sched_entry_id(e), e->sid);
    s->st.duplicates++;
    if (s->on_terminal != NULL)
      s->on_terminal(s->terminal_arg, pacer_sched_entry_id(e), 1);
    pacer_sched_entry_free(s, e);
    pacer_queue_poke(s->queue);
    pacer_sched_check_stop(s);
    return;
  }
  if (taken_over_unsafe(s, e))
    return; /* before a requeue, which would forget it was taken over */
  if (s->stopping) {
    pacer_sched_requeue(s, e);
    return;
  }
  pacer_sched_lane_enqueue(s, e, 0, pacer_clock_unix_ms());
  pacer_sched_pump(s);
}

/* 1 when this scheduler holds an entry of stream id sid (borrowed). A walk
 * of the held list: only for entries taken over by XAUTOCLAIM, which are
 * rare. */
static int
held_here(const struct pacer_sched *s, const char *sid)
{
  const struct pacer_entry *e;

  for (e = s->held_head; e != NULL; e = e->next)
    if (strcmp(e->sid, sid) == 0)
      return 1;
  return 0;
}

void
pacer_sched_on_entry(struct pacer_queue *q, const struct pacer_queue_entry *qe,
                     void *arg)
{
  struct pacer_sched *s = arg;
  struct pacer_job_limits lim;
  struct pacer_error err;
  struct pacer_entry *e;
  uint64_t now_unix_ms = pacer_clock_unix_ms();
  int rc, id_rc = 0;

  (void)q;
  /* Always initialised: every path below that writes err.msg into a
   * result has set it, and no other path may read it. */
  pacer_error_clear(&err);
  if (qe->claimed == 1 && held_here(s, qe->sid)) {
    /* Our own entry, taken over from ourselves: its lease lapsed while
     * the connection was down (no renewal got through), and it is still
     * being checked, waiting or running here. A second entry for it
     * would write a second result (e2e_drop_replay). XAUTOCLAIM has
     * renewed its lease. */
    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"entry taken over from this consumer itself; already "
              "held here\" sid=%s",
              qe->sid);
    return;
  }
  e = calloc(1, sizeof(*e));
  if (e == NULL)
    return; /* stays pending; the lease brings it back */
  snprintf(e->sid, sizeof(e->sid), "%s", qe->sid);
  e->attempt = qe->attempt + (qe->claimed ? 1u : 0u);
  e->throttled = qe->throttled;
  e->enqueued_unix_ms =
      qe->enqueued_unix_ms != 0 ? qe->enqueued_unix_ms : now_unix_ms;
  e->promoted = qe->promoted;
  e->ack_required = qe->claimed != 2;
  e->taken_over = qe->claimed == 1;
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
  pacer_sched_held_link(s, e);
  if (qe->job == NULL) {
    /* The entry was trimmed away while pending (docs/REDIS.md). */
    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"pending entry lost its payload\" sid=%s", e->sid);
    pacer_sched_finish(
        s, e, PACER_JOB_FAILED, 0, PACER_REASON_PAYLOAD_LOST,
        "job: the stream entry was trimmed or deleted while pending", 0, NULL,
        NULL, 0, now_unix_ms);
    return;
  }
  if (s->stopping) {
    pacer_sched_requeue(s, e);
    return;
  }
  pacer_job_limits_default(&lim);
  lim.max_bytes = s->cfg->job_max_bytes;
  lim.default_timeout_ms = s->cfg->default_timeout_ms;
  if (id_rc != 0) {
    /* err holds the id check's reason (never logged with the raw id). */
    rc = id_rc;
  } else if (qe->dup_job_field) {
    rc = pacer_error_set(&err, PACER_EJOB,
                         "job: the stream entry has the field \"job\" more "
                         "than once; send one job per entry");
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
    char quoted[300], jf[PACER_SCHED_JOB_FIELDS_MAX];

    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"invalid job\" %s sid=%s reason=invalid_job "
              "error=\"%s\"",
              pacer_sched_job_fields(e, jf, sizeof(jf)), e->sid,
              pacer_log_quote(quoted, sizeof(quoted), err.msg));
    pacer_sched_finish(s, e, PACER_JOB_FAILED, 0, PACER_REASON_INVALID_JOB,
                       err.msg, 0, NULL, NULL, 0, now_unix_ms);
    return;
  }
  if (pacer_sched_cancel_wanted(s, pacer_sched_entry_id(e))) {
    pacer_sched_cancel_finish(s, e, now_unix_ms); /* `pacer cancel` */
    return;
  }
  url_parts(e);
  if (e->job->credential != NULL && cred_check(s, e, &err) != 0) {
    pacer_sched_finish_invalid(s, e, err.msg, now_unix_ms);
    return;
  }
  /* A job whose deadline passed while it waited is not sent at all
   * (docs/LIMITS.md "Deadlines"). */
  e->deadline_unix_ms = pacer_job_deadline_unix_ms(e->job, e->enqueued_unix_ms,
                                                   s->cfg->default_deadline_ms);
  if (e->deadline_unix_ms != 0 && now_unix_ms >= e->deadline_unix_ms) {
    pacer_sched_finish(s, e, PACER_JOB_FAILED, 0,
                       PACER_REASON_DEADLINE_EXCEEDED,
                       "the deadline passed before the job could be sent", 0,
                       NULL, NULL, 0, now_unix_ms);
    return;
  }
  if (!e->promoted && e->job->not_before_unix_ms > now_unix_ms) {
    char jf[PACER_SCHED_JOB_FIELDS_MAX];

    pacer_log(PACER_LOG_DEBUG, "sched",
              "msg=\"deferred\" %s wait_reason=not_before wait_ms=%" PRIu64,
              pacer_sched_job_fields(e, jf, sizeof(jf)),
              e->job->not_before_unix_ms - now_unix_ms);
    pacer_sched_defer(s, e, e->job->not_before_unix_ms);
    return;
  }
  if (e->ack_required &&
      pacer_queue_drop_if_done(s->queue, e->sid, pacer_sched_entry_id(e),
                               on_done_checked, e) == 0)
    return; /* on_done_checked goes on */
  if (taken_over_unsafe(s, e))
    return;
  pacer_sched_lane_enqueue(s, e, 0, now_unix_ms);
  pacer_sched_pump(s);
  return;
nomem:
  free(e->given_id);
  free(e);
  /* stays pending; the lease brings it back */
}

void
pacer_sched_on_connected(struct pacer_queue *q, void *arg)
{
  struct pacer_sched *s = arg;

  (void)q;
  /* Replay writes whose outcome the old connection never told us. */
  if (s->replay_head != NULL)
    pacer_sched_on_replay_timer(&s->replay_timer);
}
