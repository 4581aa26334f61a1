/* Scheduler, outcomes: each response goes through core/decide.c once;
 * apply() carries the decision out (bucket pause, metrics, logs, then the
 * lane or a Redis record). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

#include "core/decide.h"
#include "core/resp_headers.h"
#include "scheduler/cancel.h"
#include "scheduler/chain.h"
#include "scheduler/cred.h"
#include "scheduler/metrics.h"
#include "store/limiter.h"
#include "store/queue.h"

#include "scheduler/sched_int.h"

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
      [PACER_PAUSE_RULE] = PACER_MX_PAUSE_RULE,
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

struct pacer_lane *
pacer_sched_host_lane(struct pacer_sched *s, const char *tkey)
{
  struct pacer_lane *l = pacer_lanes_get(&s->lanes, tkey, NULL, 0);
  struct pacer_backoff_state st = pacer_throttles_get(&s->throttles, tkey);
  uint64_t now_unix_ms = pacer_clock_unix_ms(), until;

  if (l == NULL)
    return NULL;
  l->max_in_flight = st.streak > 0 ? 1u : 0u; /* local: one probe at a time */
  if (st.until_unix_ms > now_unix_ms) {
    /* the key's pause (wall time, shared) on this process's clock */
    until = pacer_sched_mono_us() + (st.until_unix_ms - now_unix_ms) * 1000u;
    if (l->wait_until_us < until)
      l->wait_until_us = until;
  }
  return l;
}

/* A throttle of a request no limit covers, or a success that paid its
 * host's throttles back, or the shared state of the host's key from Redis
 * (another process's throttles): the host's lane, if any, takes the key's
 * state (docs/LIMITS.md "Throttles"). own is the outcome's lane, which the
 * caller releases. */
static void
host_throttle(struct pacer_sched *s, const char *tkey, const char *why,
              const struct pacer_lane *own)
{
  struct pacer_lane *l = pacer_sched_host_lane(s, tkey);

  if (l == NULL)
    return;
  if (why != NULL)
    snprintf(l->pause_reason, sizeof(l->pause_reason), "%.*s",
             (int)sizeof(l->pause_reason) - 1, why);
  if (l != own)
    (void)pacer_lanes_release(&s->lanes, l); /* kept while it has work */
}

void
pacer_sched_on_throttle_shared(void *arg, const char *key,
                               const struct pacer_backoff_state *st)
{
  struct pacer_sched *s = arg;

  (void)st; /* already the key's copy */
  if (strncmp(key, "(host):", 7) == 0 && !s->closing)
    host_throttle(s, key, NULL, NULL);
}

/* Matches o against the configured throttle rules (config
 * "throttle_rules", docs/LIMITS.md). Returns the bucket to pause: the
 * lane's bucket of the limit the matched rule names, or def (the lane's
 * 429 bucket) when the rule names none or the limit does not cover this
 * request. */
static const struct pacer_limit_ref *
rule_target(struct pacer_sched *s, const struct pacer_entry *e,
            const struct pacer_http_outcome *o,
            const struct pacer_resp_headers *hdr, uint64_t now_unix_ms,
            struct pacer_tr_match *m, const struct pacer_limit_ref *def)
{
  const struct pacer_lane *l = e->lane;
  struct pacer_tr_response r;
  cJSON *own = NULL;
  size_t i;
  int hit;

  memset(&r, 0, sizeof(r));
  r.status = o->status;
  r.host = e->host;
  r.path = e->path;
  r.headers = hdr->root;
  if (r.headers == NULL && o->headers_json != NULL) /* none hdr reads */
    r.headers = own = cJSON_Parse(o->headers_json);
  r.body = o->body;
  r.body_len = o->body_len;
  hit = pacer_throttle_rules_match(s->cfg->throttle_rules,
                                   s->cfg->nthrottle_rules, &r, now_unix_ms, m);
  cJSON_Delete(own);
  if (!hit || m->rule->pause[0] == '\0')
    return def;
  for (i = 0; i < l->nrefs; i++) {
    if (strcmp(l->refs[i].cfg->name, m->rule->pause) == 0)
      return &l->refs[i];
  }
  return def;
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
  pacer_sched_check_stop(s);
}

/* Applies decision d (core/decide.c) about e after outcome o: counters,
 * bucket pause, metrics, logs, then the Redis write or the lane. ref is
 * the lane's 429 bucket or NULL; c the job's credential or NULL. */
static void
apply(struct pacer_sched *s, struct pacer_entry *e,
      struct pacer_http_outcome *o, const struct pacer_decision *d,
      const struct pacer_limit_ref *ref, struct pacer_cred *c,
      uint64_t now_unix_ms, uint64_t now_mono_us)
{
  char jf[PACER_SCHED_JOB_FIELDS_MAX], bucket[200], wr[200];
  char reason[PACER_REASON_TEXT_MAX], why[512];
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
              "wait_ms=%" PRIu64 " throttled=%u streak=%" PRIu32,
              pacer_sched_job_fields(e, jf, sizeof(jf)),
              ref ? pacer_log_value(bucket, sizeof(bucket), ref->key) : "-",
              pacer_log_value(wr, sizeof(wr), d->pause.why), d->wait_ms,
              e->throttled, d->key.streak);
  }
  if (d->pause.cause != PACER_PAUSE_NONE && ref != NULL)
    pause_bucket(s, ref, &d->pause, now_mono_us);
  if (c != NULL && o->result == PACER_HTTP_OK && o->status == 401 &&
      (d->kind == PACER_DECIDE_REFRESH ||
       d->reason == PACER_REASON_UNAUTHORIZED_AFTER_REFRESH) &&
      pacer_cred_environment_mismatch(c, e->host, e->cred_gen,
                                      d->kind == PACER_DECIDE_FINISH, why,
                                      sizeof(why))) {
    /* A token from another environment: no refresh can fix it
     * (docs/CREDENTIALS.md, Environments). */
    e->attempt += d->kind == PACER_DECIDE_REFRESH;
    pacer_sched_finish(s, e, PACER_JOB_FAILED, 401,
                       PACER_REASON_CREDENTIAL_ENVIRONMENT_MISMATCH, why,
                       dur_ms, NULL, NULL, 0, now_unix_ms);
    return;
  }
  switch (d->kind) {
  case PACER_DECIDE_FINISH:
    /* scheduler/chain.c: pacer_sched_finish, after a chain's next step */
    pacer_sched_chain_finish(s, e, o, d->state, d->status, d->reason, d->error,
                             dur_ms, d->keep_response, now_unix_ms);
    break;
  case PACER_DECIDE_RETRY:
    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"retrying\" %s reason=%s wait_reason=%s wait_ms=%" PRIu64,
              pacer_sched_job_fields(e, jf, sizeof(jf)),
              pacer_reason_format(d->reason, d->status, reason, sizeof(reason)),
              pacer_log_value(wr, sizeof(wr), d->wait_reason), d->wait_ms);
    s->st.retried++;
    pacer_sched_defer(s, e, d->at_unix_ms);
    break;
  case PACER_DECIDE_PAUSE:
    if (d->at_unix_ms == 0) /* first in line when the pause ends */
      pacer_sched_lane_enqueue(s, e, 1, now_unix_ms);
    else
      pacer_sched_defer(s, e, d->at_unix_ms);
    break;
  case PACER_DECIDE_REPLAY:
    /* Refused stream (RFC 9113 §8.7): again now, first in its lane, on a
     * new connection, without spending an attempt. A missed send slot
     * (docs/LIMITS.md "Against a strict limiter"): a new slot, the same. */
    if (o->result == PACER_HTTP_MISSED_SLOT) {
      e->missed++;
      pacer_metrics_unsent(s->mx, e->lane->refs, e->lane->nrefs);
      pacer_log(PACER_LOG_DEBUG, "sched",
                "msg=\"missed its send slot, taking a new one\" %s "
                "missed=%u",
                pacer_sched_job_fields(e, jf, sizeof(jf)), e->missed);
    } else {
      pacer_log(PACER_LOG_INFO, "sched",
                "msg=\"stream refused, sending again\" %s refusals=%u",
                pacer_sched_job_fields(e, jf, sizeof(jf)), e->refusals);
    }
    pacer_sched_lane_enqueue(s, e, 1, now_unix_ms);
    break;
  case PACER_DECIDE_REFRESH:
    assert(c != NULL);
    pacer_cred_invalid(c, e->cred_gen);
    pacer_sched_lane_enqueue(s, e, 1, now_unix_ms);
    break;
  case PACER_DECIDE_REQUEUE:
    pacer_sched_requeue(s, e); /* shutdown cut it short: no attempt counted */
    break;
  }
}

void
pacer_sched_on_outcome(struct pacer_pool *pool, struct pacer_http_outcome *o,
                       void *arg)
{
  struct pacer_sched *s = arg;
  struct pacer_resp_headers hdr;
  struct pacer_attempt a;
  struct pacer_decide_job job;
  struct pacer_decide_limits lim;
  struct pacer_decision d;
  const struct pacer_limit_ref *ref;
  struct pacer_cred *c = NULL;
  struct pacer_entry *e;
  struct pacer_lane *lane;
  char tkey[PACER_THROTTLE_KEY_MAX];
  struct pacer_tr_match rule;
  /* one clock read of each kind per outcome, passed down */
  uint64_t now_unix_ms = pacer_clock_unix_ms(),
           now_mono_us = pacer_sched_mono_us();

  (void)pool;
  /* the response headers, parsed once for every rule that reads them */
  (void)pacer_resp_headers_parse(o->headers_json, &hdr);
  if (o->req->tag & PACER_CRED_TAG_BIT) {
    on_token_outcome(s, o, &hdr, now_unix_ms);
    pacer_resp_headers_free(&hdr);
    return;
  }
  e = (struct pacer_entry *)(uintptr_t)o->req->tag;
  lane = e->lane;
  assert(e->state == PACER_ENTRY_RUNNING);
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
  if (e->cancel && pacer_sched_cancel_outcome(s, e, o, now_unix_ms)) {
    pacer_resp_headers_free(&hdr);
    pacer_http_outcome_free(o);
    pacer_lanes_release(&s->lanes, lane);
    pacer_sched_pump(s);
    pacer_sched_check_stop(s);
    return;
  }
  ref = pacer_decide_pause_target(lane->refs, lane->nrefs);
  memset(&rule, 0, sizeof(rule));
  if (o->result == PACER_HTTP_OK && s->cfg->nthrottle_rules > 0)
    ref = rule_target(s, e, o, &hdr, now_unix_ms, &rule, ref);
  if (e->job->credential != NULL)
    c = pacer_creds_get(s->creds, e->job->credential);
  if (c != NULL && o->result == PACER_HTTP_OK &&
      (o->status < 400 || o->status == 403))
    pacer_cred_accepted(c, e->host);
  memset(&a, 0, sizeof(a));
  a.result = o->result;
  a.status = o->status;
  a.own_conn = o->req->forbid_reuse;
  a.hdr = &hdr;
  a.error = o->error;
  a.rule = &rule;
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
  job.deadline_unix_ms = e->deadline_unix_ms;
  memset(&lim, 0, sizeof(lim));
  lim.pause_target = ref != NULL;
  lim.retry_after_max_ms = s->cfg->retry_after_max_ms;
  lim.defer_after_ms = s->cfg->defer_after_ms;
  lim.backoff.base_ms = s->cfg->throttle_backoff_base_ms;
  lim.backoff.cap_ms = s->cfg->throttle_backoff_cap_ms;
  lim.backoff.floor_ms = s->cfg->throttle_backoff_floor_ms;
  pacer_throttle_key_of(ref, e->host, tkey);
  lim.key = pacer_throttles_get(&s->throttles, tkey);
  pacer_decide(&a, &job, &lim, now_unix_ms, &s->prng, &d);
  if (d.key_changed)
    pacer_throttles_note(&s->throttles, s->queue, tkey, d.throttled, &d.key);
  if (ref == NULL && (d.throttled || d.key_changed))
    host_throttle(s, tkey, d.throttled ? d.pause.why : NULL, lane);
  apply(s, e, o, &d, ref, c, now_unix_ms, now_mono_us);
  pacer_resp_headers_free(&hdr);
  pacer_http_outcome_free(o);
  pacer_lanes_release(&s->lanes, lane); /* kept while it has work */
  pacer_sched_pump(s);
  pacer_queue_poke(s->queue);
  pacer_sched_check_stop(s);
}
