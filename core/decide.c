/* The retry decision (core/decide.h): every rule the scheduler applies to
 * the outcome of one attempt, with no I/O, so tests/unit/test_decide.c can
 * run each branch on a virtual clock. */
#include "core/decide.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "core/backoff.h"
#include "core/retry_after.h"
#include "core/www_auth.h"

static uint64_t
clamp(uint64_t v, uint64_t max)
{
  return v < max ? v : max;
}

int
pacer_decide_hint(const struct pacer_resp_headers *hdr, uint64_t now_unix_ms,
                  struct pacer_pause_plan *plan)
{
  struct pacer_ratelimit rl;
  uint64_t ra = 0, pause_ms = 0;
  int have_ra;
  enum pacer_ratelimit_pause kind;

  memset(plan, 0, sizeof(*plan));
  if (hdr == NULL)
    return PACER_ENOTFOUND;
  have_ra = hdr->rl.retry_after != NULL &&
            pacer_retry_after_parse(&hdr->rl.retry_after, 1, hdr->rl.date,
                                    now_unix_ms, &ra, NULL) == 0;
  if (pacer_ratelimit_parse(&hdr->rl, now_unix_ms, &rl, NULL) != 0) {
    /* Nothing usable: neither "remaining 0" nor a reset. (Zeroing it
     * read as "exhausted, reset now": a junk Retry-After meant a 0 ms
     * pause instead of backoff.) */
    memset(&rl, 0, sizeof(rl));
    rl.source = PACER_RATELIMIT_SRC_NONE;
    rl.remaining = PACER_RATELIMIT_UNKNOWN;
    rl.reset_ms = PACER_RATELIMIT_UNKNOWN;
  }
  kind = pacer_ratelimit_pause_ms(have_ra ? &ra : NULL, &rl, &pause_ms);
  if (kind == PACER_RATELIMIT_PAUSE_RETRY_AFTER) {
    plan->cause = PACER_PAUSE_RETRY_AFTER;
    plan->ms = pause_ms;
    snprintf(plan->why, sizeof(plan->why), "Retry-After %" PRIu64 " ms",
             pause_ms);
    return 0;
  }
  if (kind == PACER_RATELIMIT_PAUSE_EXHAUSTED) {
    plan->cause = PACER_PAUSE_RATELIMIT;
    plan->ms = pause_ms;
    snprintf(plan->why, sizeof(plan->why),
             "%s remaining 0, reset in %" PRIu64 " ms",
             pacer_ratelimit_source_name(rl.source), pause_ms);
    return 0;
  }
  return PACER_ENOTFOUND;
}

/* By enum pacer_limit_key_kind: the more specific, the higher. */
static const int key_ranks[] = {
    [PACER_LIMIT_KEY_GLOBAL] = 0,     [PACER_LIMIT_KEY_HOST] = 1,
    [PACER_LIMIT_KEY_CREDENTIAL] = 2, [PACER_LIMIT_KEY_LIMIT_KEY] = 3,
    [PACER_LIMIT_KEY_HEADER] = 4,
};

_Static_assert(sizeof(key_ranks) / sizeof(key_ranks[0]) ==
                   PACER_LIMIT_KEY_HEADER + 1,
               "one rank per enum pacer_limit_key_kind (HEADER is the last)");

static int
key_rank(enum pacer_limit_key_kind k)
{
  if ((unsigned)k >= sizeof(key_ranks) / sizeof(key_ranks[0]))
    return -1; /* never indexes past the table */
  return key_ranks[k];
}

const struct pacer_limit_ref *
pacer_decide_pause_target(const struct pacer_limit_ref *refs, size_t nrefs)
{
  const struct pacer_limit_ref *best = NULL;
  size_t i;

  for (i = 0; i < nrefs; i++) {
    const struct pacer_limit_ref *r = &refs[i];

    if (!r->cfg->pause_on_429)
      continue;
    if (best == NULL || key_rank(r->cfg->key) >= key_rank(best->cfg->key))
      best = r;
  }
  return best;
}

const char *
pacer_pause_cause_name(enum pacer_pause_cause c)
{
  switch (c) {
  case PACER_PAUSE_RETRY_AFTER:
    return "retry_after";
  case PACER_PAUSE_RATELIMIT:
    return "ratelimit";
  case PACER_PAUSE_BACKOFF:
    return "backoff";
  case PACER_PAUSE_RULE:
    return "rule";
  case PACER_PAUSE_NONE:
    break;
  }
  return "none";
}

static void
finish(struct pacer_decision *d, enum pacer_job_state st, enum pacer_reason r,
       long status, const char *error)
{
  d->kind = PACER_DECIDE_FINISH;
  d->state = st;
  d->reason = r;
  d->status = status;
  d->keep_response = 1;
  if (error[0] != '\0') /* d was zeroed: "" needs no copy (the ok path) */
    snprintf(d->error, sizeof(d->error), "%s", error);
}

/* POST and PATCH are not idempotent (RFC 9110 §9.2.2): after a timeout or
 * a reset the request may have been processed, so it is sent again only
 * with an Idempotency-Key or retry_unsafe. */
static int
unsafe_to_resend(const struct pacer_decide_job *job)
{
  return (job->method == PACER_METHOD_POST ||
          job->method == PACER_METHOD_PATCH) &&
         !job->idempotency_key && !job->retry_unsafe;
}

/* The retry rule for everything but 429. Returns 1 when the failure may
 * be retried; *unknown 1 when it may have been processed and must not. */
static int
retryable(const struct pacer_attempt *a, const struct pacer_decide_job *job,
          int *unknown)
{
  *unknown = 0;
  switch (a->result) {
  case PACER_HTTP_CONNECT:
    return 1; /* nothing reached the server */
  case PACER_HTTP_REFUSED:
    return 1; /* RFC 9113 §8.7: never processed, safe even for POST */
  case PACER_HTTP_TIMEOUT:
  case PACER_HTTP_TRANSPORT:
    if (unsafe_to_resend(job)) {
      *unknown = 1;
      return 0;
    }
    return 1;
  case PACER_HTTP_OK:
    return a->status == 408 || a->status == 500 || a->status == 502 ||
           a->status == 503 || a->status == 504;
  case PACER_HTTP_BLOCKED:
    return 0; /* the policy gives the same answer every time */
  default:
    return 0; /* response_too_large: the same body comes back */
  }
}

/* The job would still be waiting at its deadline: end it. */
static int
past_deadline(const struct pacer_decide_job *job, uint64_t at_unix_ms)
{
  return job->deadline_unix_ms != 0 && at_unix_ms >= job->deadline_unix_ms;
}

/* 429 (or 503 with Retry-After): pause the bucket for the larger of the
 * hint and the key's backoff, and run the job again after the pause
 * without spending max_attempts (RFC 6585 §4). A hint of 0 or a time
 * already passed never means "now" (docs/LIMITS.md "Throttles"). */
static void
throttled(const struct pacer_attempt *a, const struct pacer_decide_job *job,
          const struct pacer_decide_limits *lim, uint64_t now_unix_ms,
          uint64_t *prng, struct pacer_decision *d)
{
  struct pacer_pause_plan *p = &d->pause;
  char detail[PACER_DECIDE_ERROR_MAX], hint_why[PACER_DECIDE_WHY_MAX];
  uint64_t hint_ms = 0;

  d->throttled = 1;
  d->counts.throttled++;
  if (a->rule != NULL && a->rule->rule != NULL) {
    /* A throttle rule: its delay is the hint, else the headers' */
    if (a->rule->have_delay)
      hint_ms = clamp(a->rule->delay_ms, lim->retry_after_max_ms);
    else if (pacer_decide_hint(a->hdr, now_unix_ms, p) == 0)
      hint_ms = clamp(p->ms, lim->retry_after_max_ms);
    p->cause = PACER_PAUSE_RULE;
    snprintf(p->why, sizeof(p->why), "%s", a->rule->why);
  } else if (pacer_decide_hint(a->hdr, now_unix_ms, p) == 0) {
    hint_ms = clamp(p->ms, lim->retry_after_max_ms);
  } else {
    p->cause = PACER_PAUSE_BACKOFF;
    snprintf(p->why, sizeof(p->why), "HTTP %ld without a usable Retry-After",
             a->status);
  }
  d->key = lim->key;
  d->key_changed = 1;
  d->wait_ms = pacer_backoff_throttle(&d->key, &lim->backoff, hint_ms,
                                      now_unix_ms, prng, &d->key_grew);
  if (d->wait_ms > hint_ms && p->cause != PACER_PAUSE_BACKOFF) {
    /* The hint asked for less than the key's backoff: the backoff wins
     * (a rule stays the cause: it said what the response was). */
    snprintf(hint_why, sizeof(hint_why), "%s", p->why);
    if (p->cause != PACER_PAUSE_RULE)
      p->cause = PACER_PAUSE_BACKOFF;
    snprintf(p->why, sizeof(p->why),
             "backoff %" PRIu64 " ms (throttle %u in a row) over %.100s",
             d->wait_ms, d->key.streak, hint_why);
  } else if (p->cause == PACER_PAUSE_BACKOFF) {
    snprintf(hint_why, sizeof(hint_why), "%s", p->why);
    snprintf(p->why, sizeof(p->why),
             "backoff %" PRIu64 " ms (throttle %u in a row): %.100s",
             d->wait_ms, d->key.streak, hint_why);
  }
  /* A longer ask is capped; the job then waits in Redis, below. */
  d->wait_ms = clamp(d->wait_ms, lim->retry_after_max_ms);
  p->ms = d->wait_ms;
  if (!lim->pause_target)
    p->cause = PACER_PAUSE_NONE; /* no shared bucket to pause */
  if (past_deadline(job, now_unix_ms + d->wait_ms)) {
    snprintf(detail, sizeof(detail),
             "the deadline passes before the upstream lets the job through "
             "(%u responses asked to slow down); last: %s",
             d->counts.throttled, p->why);
    finish(d, PACER_JOB_FAILED, PACER_REASON_DEADLINE_EXCEEDED, a->status,
           detail);
    return;
  }
  if (d->counts.throttled > PACER_DECIDE_THROTTLED_MAX) {
    snprintf(detail, sizeof(detail),
             "%u responses asked to slow down; last: %s", d->counts.throttled,
             p->why);
    finish(d, PACER_JOB_FAILED, PACER_REASON_RATE_LIMITED, a->status, detail);
    return;
  }
  d->kind = PACER_DECIDE_PAUSE;
  if (lim->pause_target && d->wait_ms <= lim->defer_after_ms)
    return; /* first in line when the pause ends */
  /* Long pause (or no shared bucket): wait in Redis, jittered so a crowd
   * of throttled jobs does not return at one instant. */
  d->at_unix_ms = now_unix_ms + d->wait_ms +
                  pacer_prng_next(prng) % (d->wait_ms / 10u + 1u);
}

/* A 401 for a job with a credential. invalid_token (RFC 6750 §3.1): the
 * first one refreshes (single flight) and replays with the new token
 * without spending an attempt; a 401 for an older generation just
 * replays. Any 401 after a refreshed replay, or a second 401 without
 * invalid_token, ends the job: a refresh cannot fix it. A 401 without
 * invalid_token gets one refresh and one replay too (docs/REFRESH.md). */
static void
auth_rejected(const struct pacer_attempt *a, const struct pacer_decide_job *job,
              struct pacer_decision *d)
{
  struct pacer_bearer_challenge ch;
  struct pacer_job_counts *c = &d->counts;
  char why[PACER_BEARER_DESC_MAX + 128];
  const char *v = a->hdr != NULL ? a->hdr->www_authenticate : NULL;
  int invalid;

  if (v == NULL ||
      pacer_www_auth_bearer(v, strlen(v), job->cred_scheme, &ch) != 0)
    memset(&ch, 0, sizeof(ch));
  invalid = ch.code == PACER_BEARER_ERR_INVALID_TOKEN;
  if ((c->auth_replays > 0 && c->cred_gen > c->gen_401) ||
      c->auth_replays >= (invalid ? PACER_DECIDE_AUTH_REPLAYS_MAX : 1u)) {
    snprintf(why, sizeof(why),
             "the upstream answered 401 again after a token refresh: a "
             "refresh cannot fix this%s%s",
             ch.error_description[0] ? ": " : "", ch.error_description);
    finish(d, PACER_JOB_FAILED,
           invalid ? PACER_REASON_UNAUTHORIZED_AFTER_REFRESH
                   : PACER_REASON_UNAUTHORIZED,
           a->status, why);
    return;
  }
  if (c->auth_replays == 0)
    c->gen_401 = c->cred_gen;
  c->auth_replays++;
  d->kind = PACER_DECIDE_REFRESH;
}

/* A 401 or 403 whose Bearer challenge says insufficient_scope: a refresh
 * cannot fix a missing scope; say which (RFC 6750 §3.1). */
static int
scope_missing(const struct pacer_attempt *a, struct pacer_decision *d)
{
  struct pacer_bearer_challenge ch;
  const char *v = a->hdr != NULL ? a->hdr->www_authenticate : NULL;
  char why[PACER_DECIDE_WHY_MAX];

  if (v == NULL || pacer_www_auth_bearer(v, strlen(v), NULL, &ch) != 0 ||
      ch.code != PACER_BEARER_ERR_INSUFFICIENT_SCOPE)
    return 0;
  snprintf(why, sizeof(why), "insufficient_scope: required scope \"%.80s\"",
           ch.scope);
  finish(d, PACER_JOB_FAILED, PACER_REASON_INSUFFICIENT_SCOPE, a->status, why);
  return 1;
}

void
pacer_decide(const struct pacer_attempt *a, const struct pacer_decide_job *job,
             const struct pacer_decide_limits *lim, uint64_t now_unix_ms,
             uint64_t *prng, struct pacer_decision *d)
{
  const int http = a->result == PACER_HTTP_OK;
  struct pacer_job_counts *c = &d->counts;
  enum pacer_reason reason;
  char rtext[PACER_REASON_TEXT_MAX];
  int unknown;

  memset(d, 0, sizeof(*d));
  *c = job->counts;
  if (a->result == PACER_HTTP_CANCELED) {
    if (a->own_conn) {
      /* A POST/PATCH without Idempotency-Key may have reached the server
       * before shutdown cut it: never send it again on our own. */
      c->attempt++;
      finish(d, PACER_JOB_OUTCOME_UNKNOWN, PACER_REASON_CANCELED, 0,
             "shutdown cut the request short; it may have reached the "
             "server; not retried without an Idempotency-Key header or "
             "retry_unsafe");
      d->keep_response = 0;
      return;
    }
    d->kind = PACER_DECIDE_REQUEUE; /* no attempt counted */
    return;
  }
  if (a->result == PACER_HTTP_MISSED_SLOT) {
    /* The worker held it past its slot by more than the lane allows and
     * did not send it: sent that late it would land on another process's
     * slot at a strict limiter (docs/LIMITS.md "Against a strict
     * limiter"). First in its lane for a new slot, no attempt spent;
     * past its deadline it ends. */
    if (past_deadline(job, now_unix_ms)) {
      finish(d, PACER_JOB_FAILED, PACER_REASON_DEADLINE_EXCEEDED, 0,
             "the deadline passed while the job waited for a send slot");
      return;
    }
    d->kind = PACER_DECIDE_REPLAY;
    return;
  }
  if (a->result == PACER_HTTP_REFUSED &&
      c->refusals < PACER_DECIDE_REFUSALS_MAX) {
    /* The upstream never processed it (RFC 9113 §8.7; libcurl has already
     * re-sent it 5 times): send it again now, first in its lane, on a new
     * connection, without spending an attempt. After REFUSALS_MAX the
     * retry rule below applies: an attempt, then backoff. */
    c->refusals++;
    d->kind = PACER_DECIDE_REPLAY;
    return;
  }
  if (http && a->rule != NULL && a->rule->rule != NULL) {
    throttled(a, job, lim, now_unix_ms, prng, d); /* spends no attempt */
    return;
  }
  if (http && a->status >= 200 && a->status < 300) {
    /* "remaining 0" on a success pauses the bucket until the reset. */
    if (lim->pause_target &&
        pacer_decide_hint(a->hdr, now_unix_ms, &d->pause) == 0 &&
        d->pause.ms > 0)
      d->pause.ms = clamp(d->pause.ms, lim->retry_after_max_ms);
    else
      memset(&d->pause, 0, sizeof(d->pause));
    d->key = lim->key;
    d->key_changed = pacer_backoff_success(&d->key);
    c->attempt++;
    finish(d, PACER_JOB_OK, PACER_REASON_NONE, a->status, "");
    return;
  }
  if (http && (a->status == 429 || (a->status == 503 && a->hdr != NULL &&
                                    a->hdr->rl.retry_after != NULL))) {
    throttled(a, job, lim, now_unix_ms, prng, d); /* spends no attempt */
    return;
  }
  if (http && a->status == 401 && job->credential) {
    auth_rejected(a, job, d); /* before the scope check: may be refreshed */
    if (d->kind == PACER_DECIDE_FINISH)
      c->attempt++; /* a 401 for an expired token is not the job's failure */
    return;
  }
  c->attempt++;
  if (http && (a->status == 401 || a->status == 403) && scope_missing(a, d))
    return;
  reason = pacer_reason_of_result(a->result);
  pacer_reason_format(reason, a->status, rtext, sizeof(rtext));
  if (retryable(a, job, &unknown) && c->attempt < job->max_attempts) {
    struct pacer_pause_plan hint;
    uint64_t delay =
        pacer_backoff_full_jitter_ms(c->attempt - 1, PACER_DECIDE_RETRY_BASE_MS,
                                     PACER_DECIDE_RETRY_CAP_MS, prng);

    snprintf(d->wait_reason, sizeof(d->wait_reason), "backoff");
    /* Server hints set the minimum wait (docs/LIMITS.md "Retries"). */
    if (pacer_decide_hint(a->hdr, now_unix_ms, &hint) == 0 && hint.ms > delay) {
      delay = clamp(hint.ms, lim->retry_after_max_ms);
      snprintf(d->wait_reason, sizeof(d->wait_reason), "%s", hint.why);
    }
    if (past_deadline(job, now_unix_ms + delay)) {
      char detail[PACER_DECIDE_ERROR_MAX];

      snprintf(detail, sizeof(detail),
               "the deadline passes before the next attempt; last: %.400s",
               a->error != NULL && a->error[0] != '\0' ? a->error : rtext);
      finish(d, PACER_JOB_FAILED, PACER_REASON_DEADLINE_EXCEEDED, a->status,
             detail);
      return;
    }
    d->kind = PACER_DECIDE_RETRY;
    d->reason = reason;
    d->status = a->status;
    d->wait_ms = delay;
    d->at_unix_ms = now_unix_ms + delay;
    return;
  }
  if (unknown) {
    finish(d, PACER_JOB_OUTCOME_UNKNOWN, reason, a->status,
           "the request may have reached the server; not retried without "
           "an Idempotency-Key header or retry_unsafe");
    return;
  }
  finish(d, PACER_JOB_FAILED, reason, a->status,
         a->error != NULL && a->error[0] != '\0' ? a->error : rtext);
}
