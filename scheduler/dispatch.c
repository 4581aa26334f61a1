/* Scheduler, dispatch: in-flight permits, rate-limit slots (store/
 * limiter.c) and the pump that starts each lane's next request when its
 * slot comes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

#include "core/job.h"
#include "scheduler/cred.h"
#include "scheduler/metrics.h"
#include "store/keys.h"
#include "store/limiter.h"
#include "store/queue.h"

#include "scheduler/sched_int.h"

#define TAKE_HORIZON_US      250000u /* slots reserved at most this far, us */
#define SLOT_STALE_US        20000u  /* a slot this late is dropped, us */
#define SLOT_STALE_STRICT_US 4000u   /* the same with a burst-0 limit, us */
#define SLOT_LEAD_US         5000u   /* handed to a worker this early, us */
#define TAKE_LEAD_US         15000u  /* no slot sooner after a take, us */
#define TAKE_GUARD_US        4000u   /* between two processes' blocks, us */
#define TAKE_AHEAD_US        10000u  /* a take's reply latency allowed, us */
#define MISSED_MAX           3u      /* missed slots, then sent late, per job */
#define TAKE_RETRY_MS        500u    /* after a failed take, ms */
#define PERMIT_LEASE_MS      60000u  /* in-flight permit lease, ms */
#define PERMIT_SLACK_MS      10000u  /* lease beyond a request's timeout, ms */
#define PERMIT_RETRY_MS      20u     /* a full max_in_flight: ask again, ms */

static void
on_permit_extended(void *arg, int status, int granted)
{
  (void)arg;
  (void)status;
  (void)granted;
}

/* Gives back a lane's unused permit (its lane has nothing left to send). */
void
pacer_sched_lane_drop_permit(struct pacer_sched *s, struct pacer_lane *l)
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
    l->permit_wait_until_us = pacer_sched_mono_us() + TAKE_RETRY_MS * 1000u;
  } else if (!granted) {
    l->permit_wait_until_us = pacer_sched_mono_us() + PERMIT_RETRY_MS * 1000u;
  } else if (l->queued == 0 || s->stopping) {
    (void)pacer_limiter_release(s->queue, l->refs, l->nrefs, p->token);
  } else {
    memcpy(l->permit, p->token, sizeof(l->permit));
  }
  free(p);
  if (l->queued == 0)
    pacer_lanes_release(&s->lanes, l);
  pacer_sched_pump(s);
  pacer_sched_check_stop(s);
}

/* Asks for a cluster-wide in-flight permit for the lane's next request
 * (docs/LIMITS.md, max_in_flight shared through Redis), at now_mono_us. */
static void
lane_acquire(struct pacer_sched *s, struct pacer_lane *l, uint64_t now_mono_us)
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
    l->permit_wait_until_us = now_mono_us + TAKE_RETRY_MS * 1000u;
    return;
  }
  l->acquiring = 1;
  s->acquiring++;
}

/* Starts e's request now. */
/* A job whose credential needs re-authorisation waits in the delayed set
 * at a score that is never due, until `pacer cred set` releases it
 * (docs/CREDENTIALS.md): not failed, not lost, its lease released. */
static void
park(struct pacer_sched *s, struct pacer_entry *e)
{
  char jf[PACER_SCHED_JOB_FIELDS_MAX];

  pacer_log(PACER_LOG_WARN, "sched",
            "msg=\"parked: credential needs re-authorisation\" %s "
            "wait_reason=reauth_required credential=%s",
            pacer_sched_job_fields(e, jf, sizeof(jf)), e->job->credential);
  pacer_sched_defer(s, e, (uint64_t)PACER_KEYS_PARK_SCORE_MS);
}

static void
cred_wait_push(struct pacer_sched *s, struct pacer_entry *e)
{
  e->state = PACER_ENTRY_CRED_WAIT;
  e->rnext = s->cred_wait;
  s->cred_wait = e;
  s->ncred_wait++;
}

/* A credential left its waiting state: release (or park) its jobs. */
void
pacer_sched_on_cred_changed(void *arg, struct pacer_cred *c)
{
  struct pacer_sched *s = arg;
  struct pacer_entry **pp = &s->cred_wait, *e;
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
      pacer_sched_lane_enqueue(s, e, 1, now_unix_ms);
  }
  pacer_sched_pump(s);
}

int
pacer_sched_submit_token_request(void *arg, struct pacer_http_request *req)
{
  struct pacer_sched *s = arg;

  if (s->pool == NULL || s->stopping)
    return PACER_EINVAL;
  return pacer_pool_submit(s->pool, req);
}

/* Ends e, whose credential may no longer go to its URL's host, as an
 * invalid job: nothing is sent. */
static void
hosts_refused(struct pacer_sched *s, struct pacer_entry *e)
{
  char msg[PACER_CRED_NAME_MAX + 96];

  snprintf(msg, sizeof(msg),
           "credential: \"%s\" may not be sent to this URL's host (not in "
           "its \"hosts\" since a reload)",
           e->job->credential);
  pacer_sched_finish_invalid(s, e, msg, pacer_clock_unix_ms());
}

static uint64_t take_guard_us(const struct pacer_lane *l);

/* How late after its slot e's request may leave (pacer_http_request
 * late_max_us): the lane's block guard, so a late request never lands on
 * the first slot of another process's block; later it is not sent and
 * takes a new slot (PACER_HTTP_MISSED_SLOT). Only for a paced (burst-0)
 * lane; 0 (no limit) where a missed slot would not help: a lane without
 * blocks, or a job that missed MISSED_MAX already. Also where the interval
 * is shorter than the guard: a thread that much late gives back the slots
 * that passed meanwhile and goes on at the slot that is due, instead of
 * pushing the rest of its block, spaced from the late one, onto the next
 * process's (bench/limits.sh at 1,000/s with four processes: 12-19% of
 * the limit with 11-27 429s per 1,000 before, 40-68% with 0.2-1.4 after). */
static uint64_t
late_max_us(const struct pacer_lane *l, const struct pacer_entry *e)
{
  uint64_t g = take_guard_us(l);

  if (g == 0 || e->missed >= MISSED_MAX)
    return 0;
  return g;
}

/* Starts e's request: at once (slot_mono_us 0), or handed to a worker
 * that releases it at slot_mono_us (send-time pacing, workers/pace.h). */
static void
start(struct pacer_sched *s, struct pacer_entry *e, uint64_t now_mono_us,
      uint64_t slot_mono_us)
{
  struct pacer_http_request *req;
  struct pacer_lane *l = e->lane;
  const char *token = NULL, *scheme = NULL;
  char jf[PACER_SCHED_JOB_FIELDS_MAX];
  uint64_t now_unix_ms = pacer_clock_unix_ms();

  /* Checked at intake, and again here: a job held in its lane (an
   * operator pause answers a wait of at most 1 s, so its jobs stay in
   * memory) is not sent past its deadline (README "Deadlines";
   * e2e_ops_pause G). */
  if (e->deadline_unix_ms != 0 && now_unix_ms >= e->deadline_unix_ms) {
    pacer_sched_finish(s, e, PACER_JOB_FAILED, 0,
                       PACER_REASON_DEADLINE_EXCEEDED,
                       "the deadline passed before the job could be sent", 0,
                       NULL, NULL, 0, now_unix_ms);
    if (l->queued == 0)
      pacer_sched_lane_drop_permit(s, l);
    return;
  }
  if (e->job->credential != NULL) {
    struct pacer_cred *c = pacer_creds_get(s->creds, e->job->credential);
    uint64_t gen = 0;

    /* Checked at intake, and again here: a reload may have taken this
     * host out of the credential's hosts since (docs/CREDENTIALS.md
     * "Reload"; tests/integration/test_reload.sh, H). */
    if (c != NULL && (e->host == NULL ||
                      !pacer_cred_host_allowed(pacer_cred_cfg(c), e->host))) {
      hosts_refused(s, e);
      if (l->queued == 0)
        pacer_sched_lane_drop_permit(s, l);
      return;
    }
    switch (c != NULL ? pacer_cred_token(c, &token, &gen) : PACER_CRED_WAIT) {
    case PACER_CRED_READY:
      e->cred_gen = gen;
      scheme = pacer_cred_cfg(c)->scheme;
      break;
    case PACER_CRED_REAUTH:
      park(s, e);
      if (l->queued == 0)
        pacer_sched_lane_drop_permit(s, l);
      return;
    default:
      /* Paused while the credential refreshes, here or elsewhere. The
       * lane may be freed meanwhile: it is found again on release. */
      pacer_log(PACER_LOG_DEBUG, "sched",
                "msg=\"waiting for credential\" %s "
                "wait_reason=credential_refresh credential=%s",
                pacer_sched_job_fields(e, jf, sizeof(jf)), e->job->credential);
      cred_wait_push(s, e);
      e->lane = NULL;
      if (l->queued == 0)
        pacer_sched_lane_drop_permit(s, l);
      return;
    }
  }
  req = pacer_sched_build_request(s, e, scheme, token);
  if (req != NULL && l->nrefs > 0) {
    req->send_at_mono_us = slot_mono_us;
    pacer_lane_pace(l, &req->pace_key, &req->pace_gap_us);
    pacer_lane_pace_second(l, &req->pace_key2, &req->pace_gap2_us);
    /* a burst-0 limit (a pace gap; every lane has a pace_key): a bursty
     * one absorbs lateness, and its slots may be due at once */
    if (req->pace_gap_us != 0)
      req->late_max_us = late_max_us(l, e);
  }

  if (now_mono_us > e->ready_mono_us) /* now was read before it came */
    e->wait_ms += (now_mono_us - e->ready_mono_us) / 1000u;
  if (req == NULL || pacer_pool_submit(s->pool, req) != 0) {
    if (req == NULL)
      pacer_log(PACER_LOG_ERROR, "sched", "msg=\"out of memory\" %s",
                pacer_sched_job_fields(e, jf, sizeof(jf)));
    pacer_http_request_free(req);
    pacer_sched_requeue(s, e);
    if (l->queued == 0)
      pacer_sched_lane_drop_permit(s, l);
    return;
  }
  e->state = PACER_ENTRY_RUNNING;
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

struct pacer_entry *
pacer_sched_lane_pop_entry(struct pacer_sched *s, struct pacer_lane *l)
{
  struct pacer_lane_node *n = pacer_lane_pop(&s->lanes, l);

  if (n == NULL)
    return NULL;
  s->st.ready--;
  return PACER_CONTAINER_OF(n, struct pacer_entry, node);
}

/* A lane must wait wait_us before its next slot. Beyond defer_after_ms its
 * queued jobs go to the delayed set, spread over the lane's pace, releasing
 * their lease and memory (docs/LIMITS.md). */
static void
lane_wait(struct pacer_sched *s, struct pacer_lane *l, uint64_t wait_us,
          uint64_t now_mono_us)
{
  uint64_t now_unix = pacer_clock_unix_ms(), step_ms = 0;
  struct pacer_entry *e;
  size_t k = 0, i;
  char jf[PACER_SCHED_JOB_FIELDS_MAX], why[200];

  l->wait_until_us = now_mono_us + wait_us;
  if (wait_us / 1000u <= s->cfg->defer_after_ms)
    return;
  for (i = 0; i < l->nrefs; i++) {
    uint64_t iv = l->refs[i].cfg->gcra.interval_us / 1000u;

    if (iv > step_ms)
      step_ms = iv;
  }
  while ((e = pacer_sched_lane_pop_entry(s, l)) != NULL) {
    uint64_t due = now_unix + wait_us / 1000u + k++ * step_ms;

    if (now_mono_us > e->ready_mono_us)
      e->wait_ms += (now_mono_us - e->ready_mono_us) / 1000u;
    pacer_log(
        PACER_LOG_DEBUG, "sched",
        "msg=\"deferred\" %s wait_reason=%s wait_ms=%" PRIu64,
        pacer_sched_job_fields(e, jf, sizeof(jf)),
        pacer_log_value(why, sizeof(why),
                        l->pause_reason[0] ? l->pause_reason : "rate_limit"),
        due - now_unix);
    pacer_sched_defer(s, e, due);
    pacer_sched_deferred_add(s, l, due);
    if (due > l->defer_until_unix_ms)
      l->defer_until_unix_ms = due;
  }
  pacer_sched_lane_drop_permit(s, l);
}

static void on_take(void *arg, int status, const struct pacer_limiter_grant *g);

struct take_req {
  struct pacer_sched *s;
  struct pacer_lane *l;
};

/* The gap a block of slots keeps from another process's block: its send
 * jitter (docs/LIMITS.md "Against a strict limiter"), the same at every
 * rate: a descheduled process is as late at 1,000/s as at 100/s, and a
 * guard of one 1 ms interval let a late block end land on the next
 * block's first slot. 0 (no blocks) for a lane of stacked limits: one
 * bucket's TAT cannot keep the holes a block leaves in a bucket it shares
 * with other lanes, so blocks would serialise those lanes (e2e_limits E). */
static uint64_t
take_guard_us(const struct pacer_lane *l)
{
  return l->nrefs == 1 ? TAKE_GUARD_US : 0;
}

/* A lane with a burst-0 limit gets no slot sooner than TAKE_LEAD_US after
 * a take, so the reply's latency cannot make it late; a bursty one sends
 * at once (its burst absorbs lateness, and a burst should not wait). */
static uint64_t
take_lead_us(const struct pacer_lane *l)
{
  uint64_t key, gap;

  pacer_lane_pace(l, &key, &gap);
  return gap > 0 ? TAKE_LEAD_US : 0;
}

/* Asks Redis for n (1..PACER_LIMITER_MAX_SLOTS) more send slots; n 0:
 * none. */
static void
lane_take(struct pacer_sched *s, struct pacer_lane *l, size_t n,
          uint64_t now_mono_us)
{
  struct take_req *t;

  if (n == 0)
    return;
  t = malloc(sizeof(*t));
  if (t == NULL)
    return;
  t->s = s;
  t->l = l;
  if (pacer_limiter_take(s->queue, l->refs, l->nrefs, (unsigned)n,
                         TAKE_HORIZON_US, take_lead_us(l), take_guard_us(l),
                         s->taker, on_take, t) != 0) {
    free(t);
    l->wait_until_us = now_mono_us + TAKE_RETRY_MS * 1000u;
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
  uint64_t now_mono_us = pacer_sched_mono_us();

  free(t);
  l->taking = 0;
  if (s->closing)
    return;
  if (status != 0) {
    l->wait_until_us = now_mono_us + TAKE_RETRY_MS * 1000u;
  } else if (g->nslots > 0) {
    uint64_t base = now_mono_us;

    /* the slots are offsets from Redis' now: place them on this
     * process's clock by the quickest replies seen, not this one's */
    if (g->now_unix_us != 0)
      base = pacer_lane_clock_map(&s->redis_clock, now_mono_us, g->now_unix_us);
    pacer_lane_add_slots(l, base, g->slot_us, g->nslots);
  } else {
    if (g->reason[0] != '\0')
      snprintf(l->pause_reason, sizeof(l->pause_reason), "%s", g->reason);
    lane_wait(s, l, g->wait_us, now_mono_us);
  }
  pacer_sched_pump(s);
}

/* A lane whose takes lead asks for its next block while its last slots
 * are still ahead, so the block follows on without the lead's gap
 * (pacer_lane_slots_wanted). */
static void
lane_take_ahead(struct pacer_sched *s, struct pacer_lane *l, uint64_t now)
{
  uint64_t lead = take_lead_us(l);
  size_t n;

  if (lead == 0 || l->taking || now < l->wait_until_us)
    return;
  n = pacer_lane_slots_wanted(l, now, lead + TAKE_AHEAD_US);
  if (n > 0)
    lane_take(s, l, n, now);
}

/* How late a reserved slot may still be used. Sent late next to another
 * process's slot on time, it would squeeze two requests closer than a
 * burst-0 limit allows: such lanes drop it sooner and take a new one. */
static uint64_t
slot_stale_us(const struct pacer_lane *l)
{
  uint64_t key, gap;

  pacer_lane_pace(l, &key, &gap);
  return gap > 0 ? SLOT_STALE_STRICT_US : SLOT_STALE_US;
}

static void
on_pump_timer(uv_timer_t *t)
{
  struct pacer_sched *s = PACER_CONTAINER_OF(t, struct pacer_sched, pump_timer);

  s->pump_at_us = 0;
  pacer_sched_pump(s);
}

/* Serves the lanes round-robin, one request per lane per round, while
 * request slots are free: a lane sends only on a slot it reserved from the
 * shared limiter (or at once when no limit covers it). */
void
pacer_sched_pump(struct pacer_sched *s)
{
  uint64_t now = pacer_sched_mono_us(), wake = UINT64_MAX;
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
      uint64_t at, slot;

      next = l->rnext;
      if (l->queued == 0 || s->st.in_flight >= s->cfg->concurrency)
        goto next_lane;
      if (l->max_in_flight != 0 && l->in_flight >= l->max_in_flight)
        goto next_lane;
      if (l->nrefs == 0) {
        if (now < l->wait_until_us) { /* a throttled host (outcome.c) */
          if (l->wait_until_us < wake)
            wake = l->wait_until_us;
          goto next_lane;
        }
        start(s, pacer_sched_lane_pop_entry(s, l), now, 0);
        progress = 1;
        goto next_lane;
      }
      if (l->max_in_flight != 0 && l->permit[0] == '\0') {
        /* Capped across processes: a permit first, then a slot. */
        if (!l->acquiring) {
          if (now >= l->permit_wait_until_us)
            lane_acquire(s, l, now);
          else if (l->permit_wait_until_us < wake)
            wake = l->permit_wait_until_us;
        }
        goto next_lane;
      }
      if (pacer_lane_take_slot_ahead(l, now, SLOT_LEAD_US, slot_stale_us(l),
                                     &slot, &at)) {
        start(s, pacer_sched_lane_pop_entry(s, l), now, slot);
        lane_take_ahead(s, l, now);
        progress = 1;
        goto next_lane;
      }
      if (at != UINT64_MAX) {
        lane_take_ahead(s, l, now);
        at = at > SLOT_LEAD_US ? at - SLOT_LEAD_US : 0;
        if (at < wake)
          wake = at;
      } else if (!l->taking) {
        if (now >= l->wait_until_us)
          lane_take(s, l, pacer_lane_slots_wanted(l, now, 0), now);
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
