/* The credential state machine. See cred_fsm.h for the states and
 * docs/CREDENTIALS.md for the protocol across processes. */
#include "core/cred_fsm.h"

#include <stddef.h>

#include "common/err.h"
#include "core/backoff.h"

static void try_script(struct pacer_cred_fsm *f, int need);

void
pacer_cred_fsm_init(struct pacer_cred_fsm *f, uint32_t refresh_skew_s,
                    const struct pacer_cred_fsm_ops *ops, void *arg)
{
  *f = (struct pacer_cred_fsm){0};
  f->ops = ops;
  f->arg = arg;
  f->refresh_skew_s = refresh_skew_s;
  f->st = PACER_CRED_FSM_UNKNOWN;
  f->stale_gen = PACER_CRED_FSM_NO_GEN;
}

const char *
pacer_cred_fsm_state_name(enum pacer_cred_fsm_state st)
{
  static const char *const names[] = {
      "unknown", "ok", "loading", "refreshing", "waiting", "reauth_required"};

  return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st]
                                                         : "unknown";
}

int
pacer_cred_fsm_busy(const struct pacer_cred_fsm *f)
{
  return f->script_out || f->fence_out || f->http_out;
}

void
pacer_cred_fsm_close(struct pacer_cred_fsm *f)
{
  f->closing = 1;
}

/* Leaves the waiting states: the held jobs go (or park). */
static void
settle(struct pacer_cred_fsm *f, enum pacer_cred_fsm_state st)
{
  f->st = st;
  f->ops->keepalive(f->arg, 0);
  if (!f->closing)
    f->ops->settled(f->arg);
}

static void
timer_in(struct pacer_cred_fsm *f, uint64_t ms)
{
  f->ops->arm_timer(f->arg, ms);
}

/* ------------------------------------------------------------------ */
/* Fenced writes: the commit and the failure record */

static void
run_commit(struct pacer_cred_fsm *f, void *rec)
{
  if (f->ops->run_commit(f->arg, rec, f->lock_gen) == 0) {
    f->script_out = 1;
    return;
  }
  /* Redis away: keep it and write it again, never refresh again; the
   * script finds its own commit after a lost reply. */
  f->pending = rec;
  f->pending_commit = 1;
  timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
}

static int
run_fail(struct pacer_cred_fsm *f, void *rec)
{
  int rc = f->ops->run_fail(f->arg, rec, f->lock_gen);

  if (rc == 0)
    f->script_out = 1;
  return rc;
}

/* Records a failure in the hash (fenced by our lock). A reauth record is
 * kept until Redis has it; a note on a retry is not worth keeping. */
static void
record_failure(struct pacer_cred_fsm *f, int reauth, const char *why,
               int release, int known)
{
  void *rec = f->ops->new_fail(f->arg, reauth, why, release, known);

  if (rec == NULL)
    return;
  if (run_fail(f, rec) == 0)
    return;
  if (reauth) {
    f->pending = rec;
    f->pending_commit = 0;
    timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
  } else {
    f->ops->free_rec(f->arg, rec);
  }
}

static void
retry_pending(struct pacer_cred_fsm *f)
{
  void *rec = f->pending;
  int rc;

  f->pending = NULL;
  if (f->pending_commit) {
    run_commit(f, rec);
    return;
  }
  rc = run_fail(f, rec);
  if (rc != 0) {
    f->pending = rec;
    timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
  }
}

void
pacer_cred_fsm_commit_reply(struct pacer_cred_fsm *f, void *rec,
                            enum pacer_cred_fsm_reply kind, int64_t value,
                            uint64_t expires_unix_ms, uint64_t lifetime_s)
{
  f->script_out = 0;
  if (f->closing) {
    f->ops->free_rec(f->arg, rec);
    return;
  }
  if (kind == PACER_CRED_FSM_REPLY_LOST) {
    run_commit(f, rec); /* replay: the script finds its own commit */
    return;
  }
  if (kind != PACER_CRED_FSM_REPLY_INT) {
    /* An error (Redis restarting): write it again later. */
    f->pending = rec;
    f->pending_commit = 1;
    timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
    return;
  }
  f->ops->free_rec(f->arg, rec);
  if (value < 0) {
    /* The generation moved: another token or `pacer cred set` won. */
    f->stale_gen = PACER_CRED_FSM_NO_GEN;
    f->st = PACER_CRED_FSM_WAITING;
    f->ops->keepalive(f->arg, 0);
    try_script(f, 1);
    return;
  }
  f->has_token = 1;
  f->gen = (uint64_t)value;
  f->expires_unix_ms = expires_unix_ms;
  f->lifetime_s = lifetime_s;
  settle(f, PACER_CRED_FSM_OK);
}

void
pacer_cred_fsm_fail_reply(struct pacer_cred_fsm *f, void *rec, int reauth,
                          enum pacer_cred_fsm_reply kind, int64_t value)
{
  f->script_out = 0;
  if (f->closing) {
    f->ops->free_rec(f->arg, rec);
    return;
  }
  if (kind == PACER_CRED_FSM_REPLY_LOST) {
    if (run_fail(f, rec) == 0)
      return; /* replayed */
    if (reauth) {
      f->pending = rec; /* write it once Redis is back */
      f->pending_commit = 0;
      timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
      return;
    }
    f->ops->free_rec(f->arg, rec);
    return;
  }
  f->ops->free_rec(f->arg, rec);
  if (kind != PACER_CRED_FSM_REPLY_INT)
    return;
  if (value >= 0 && reauth) {
    settle(f, PACER_CRED_FSM_REAUTH);
  } else if (value == -1 && reauth) {
    /* Our lock expired meanwhile: find out what the holder got. */
    f->st = PACER_CRED_FSM_WAITING;
    timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
  } else if (value == -2) {
    /* `pacer cred set` stored a new refresh token while ours failed: use
     * it instead of reporting the old one refused. */
    f->ops->stop_timer(f->arg);
    f->st = PACER_CRED_FSM_UNKNOWN;
    f->stale_gen = PACER_CRED_FSM_NO_GEN;
    settle(f, PACER_CRED_FSM_UNKNOWN);
  }
}

/* ------------------------------------------------------------------ */
/* Token request */

/* Asks the fence before a token request (cred_fsm.h): the request goes
 * out only once Redis said the lock is still ours. */
static void
send_token_request(struct pacer_cred_fsm *f)
{
  if (f->http_out || f->fence_out || f->closing)
    return;
  if (f->ops->run_fence(f->arg, f->attempt + 1,
                        f->attempt > 0 && f->last_known) != 0) {
    timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
    return;
  }
  f->fence_out = 1;
}

void
pacer_cred_fsm_fence_reply(struct pacer_cred_fsm *f,
                           enum pacer_cred_fsm_reply kind, int64_t value)
{
  int rc;

  f->fence_out = 0;
  if (f->closing || f->st != PACER_CRED_FSM_REFRESHING)
    return;
  if (kind != PACER_CRED_FSM_REPLY_INT) {
    /* Asked again with the same attempt: counted once. */
    timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
    return;
  }
  if (value == -1) {
    /* The lock expired while we were stopped or cut off, and may be
     * someone else's now: never send, never write; find out what the
     * holder got, with a new lock value. */
    f->n_lock_lost++;
    f->ops->keepalive(f->arg, 0);
    f->ops->new_lockval(f->arg);
    f->st = PACER_CRED_FSM_WAITING;
    timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
    return;
  }
  if (value < 0) {
    /* The one replay after an unknown outcome is spent: a third send of
     * the same refresh token is not made. */
    record_failure(f, 1,
                   "token endpoint gave no answer to the refresh token "
                   "twice (outcome unknown); re-authorise",
                   1, 0);
    return;
  }
  rc = f->ops->send(f->arg, f->attempt + 1, value >= 2);
  if (rc == PACER_EAUTH) {
    /* No refresh token: REAUTH once Redis has it (fail_reply). */
    record_failure(f, 1, "no refresh token", 1, 1);
    return;
  }
  if (rc != 0) {
    timer_in(f, PACER_CRED_FSM_RETRY_BASE_MS);
    return;
  }
  f->http_out = 1;
  f->attempt++;
  f->ops->keepalive(f->arg, 1);
}

uint64_t
pacer_cred_fsm_answer(struct pacer_cred_fsm *f,
                      enum pacer_cred_fsm_answer answer, void *commit_rec,
                      const char *why, uint64_t retry_hint_ms, uint64_t rnd)
{
  uint64_t delay;

  f->http_out = 0;
  if (f->closing || answer == PACER_CRED_FSM_ANSWER_CANCELED) {
    if (commit_rec != NULL)
      f->ops->free_rec(f->arg, commit_rec);
    return 0;
  }
  if (answer == PACER_CRED_FSM_ANSWER_OK) {
    f->n_ok++;
    /* The new refresh token is durable in Redis before any job uses the
     * new access token: the commit runs until Redis has it. */
    if (commit_rec != NULL)
      run_commit(f, commit_rec);
    return 0;
  }
  if (answer == PACER_CRED_FSM_ANSWER_REAUTH) {
    f->n_refused++;
    /* REAUTH once Redis has it (fail_reply): a refresh token stored by
     * `pacer cred set` meanwhile wins, and no job is parked after the
     * command released the parked ones. */
    record_failure(f, 1, why, 1, 1);
    return 0;
  }
  if (answer == PACER_CRED_FSM_ANSWER_UNKNOWN) {
    /* Keep the lock; once token_timeout_ms has passed since the send,
     * re-read the stored state, then replay once (the fence counts). */
    f->n_unknown++;
    f->last_known = 0;
    f->reread = 1;
    record_failure(f, 0, why, 0, 0);
    timer_in(f, retry_hint_ms);
    return retry_hint_ms;
  }
  f->n_failed++;
  delay = pacer_backoff_full_jitter_ms(f->attempt > 0 ? f->attempt - 1 : 0,
                                       PACER_CRED_FSM_RETRY_BASE_MS,
                                       PACER_CRED_FSM_RETRY_CAP_MS, &rnd);
  if (retry_hint_ms > delay) /* RFC 9110 §10.2.3: Retry-After is a floor */
    delay = retry_hint_ms;
  f->last_known = 1;
  record_failure(f, 0, why, 0, 1); /* keep the lock, note why */
  timer_in(f, delay);
  return delay;
}

/* ------------------------------------------------------------------ */
/* The try script */

/* Runs the try script: need 1 may take the lock, 0 only syncs. */
static void
try_script(struct pacer_cred_fsm *f, int need)
{
  int64_t stale;
  int rc;

  if (f->closing || f->st == PACER_CRED_FSM_REFRESHING)
    return;
  if (f->script_out) {
    /* One script at a time. A need must not be lost behind a sync that
     * is out (a 401 while an event's sync runs): remember it, and stop
     * handing out the token we know is bad meanwhile. */
    f->sync_again = 1;
    if (need) {
      f->need_again = 1;
      if (f->st != PACER_CRED_FSM_TRYING && f->st != PACER_CRED_FSM_WAITING) {
        f->ops->new_lockval(f->arg);
        f->st = PACER_CRED_FSM_TRYING;
      }
    }
    return;
  }
  /* A retry keeps its lock value, so a lock a lost call took is ours. */
  if (need && f->st != PACER_CRED_FSM_TRYING && f->st != PACER_CRED_FSM_WAITING)
    f->ops->new_lockval(f->arg);
  if (!need && f->has_token)
    stale = (int64_t)f->gen; /* sync: what we hold */
  else if (!need || f->stale_gen == PACER_CRED_FSM_NO_GEN)
    stale = -1;
  else
    stale = (int64_t)f->stale_gen;
  rc = f->ops->run_try(f->arg, need, stale);
  if (rc == PACER_ENOMEM)
    return;
  if (rc != 0) {
    timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
    return;
  }
  f->script_out = 1;
  if (need && f->st != PACER_CRED_FSM_WAITING)
    f->st = PACER_CRED_FSM_TRYING;
}

void
pacer_cred_fsm_try_reply(struct pacer_cred_fsm *f, int need,
                         const struct pacer_cred_fsm_try *r, uint64_t rnd)
{
  f->script_out = 0;
  if (f->closing)
    return;
  if (r == NULL) {
    /* Lost or failed: ask again with the same lock value (a lock taken
     * by the lost call is found to be ours). A lost re-read is re-read. */
    if (f->st == PACER_CRED_FSM_REFRESHING)
      f->reread = 1;
    if (need || f->st == PACER_CRED_FSM_TRYING)
      timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
    return;
  }
  switch (r->code) {
  case 1: /* we hold the lock (or still do, after a re-read) */
    f->lock_gen = r->gen;
    if (r->lifetime_s > 0)
      f->lifetime_s = r->lifetime_s;
    if (f->st != PACER_CRED_FSM_REFRESHING) {
      f->attempt = 0;
      f->last_known = 0;
    }
    f->st = PACER_CRED_FSM_REFRESHING;
    send_token_request(f);
    break;
  case 0: /* someone else refreshes: wait for the event or the lock */
    if (f->st == PACER_CRED_FSM_REFRESHING)
      f->ops->keepalive(f->arg, 0); /* a re-read found our lock gone */
    f->st = PACER_CRED_FSM_WAITING;
    timer_in(f, (r->gen > 0 ? r->gen : 100u) + 50u +
                    rnd % PACER_CRED_FSM_WAIT_JITTER_MS);
    break;
  case 2: /* reauth_required */
    settle(f, PACER_CRED_FSM_REAUTH);
    break;
  case 3: /* adopt a token another process got */
    if (r->adopted) {
      f->has_token = 1;
      f->gen = r->gen;
      f->expires_unix_ms = r->expires_unix_ms;
      if (r->lifetime_s > 0)
        f->lifetime_s = r->lifetime_s;
    }
    f->ops->stop_timer(f->arg);
    if (f->has_token)
      settle(f, PACER_CRED_FSM_OK);
    else
      timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
    break;
  case 6: /* expiring, or a new refresh token with no access token yet
           * (`pacer cred refresh`, `pacer cred set`): renew now */
    if (f->st == PACER_CRED_FSM_OK || f->st == PACER_CRED_FSM_WAITING) {
      f->stale_gen = f->gen;
      try_script(f, 1);
    } else if (f->st == PACER_CRED_FSM_REAUTH) {
      settle(f, PACER_CRED_FSM_UNKNOWN); /* jobs come back, load */
    }
    break;
  default: /* 4: nothing newer (sync) */
    if (f->st == PACER_CRED_FSM_REAUTH) {
      /* `pacer cred set` cleared it: load on the next need. */
      settle(f, PACER_CRED_FSM_UNKNOWN);
    } else if (f->st == PACER_CRED_FSM_WAITING ||
               f->st == PACER_CRED_FSM_TRYING) {
      /* The holder gave up without a token: try ourselves. */
      try_script(f, 1);
    }
    break;
  }
  if (f->sync_again && !f->script_out) {
    /* A need that came meanwhile still stands unless this reply already
     * answered it (a newer generation adopted) or nothing can (reauth). */
    int again =
        f->st == PACER_CRED_FSM_WAITING || f->st == PACER_CRED_FSM_UNKNOWN ||
        f->st == PACER_CRED_FSM_TRYING ||
        (f->need_again && f->st == PACER_CRED_FSM_OK && f->gen == f->stale_gen);

    f->sync_again = 0;
    f->need_again = 0;
    try_script(f, again);
  }
}

/* ------------------------------------------------------------------ */
/* Use */

uint64_t
pacer_cred_fsm_skew_ms(const struct pacer_cred_fsm *f)
{
  uint64_t skew = (uint64_t)f->refresh_skew_s * 1000u;

  if (f->lifetime_s > 0 && skew > f->lifetime_s * 500u)
    skew = f->lifetime_s * 500u;
  return skew;
}

enum pacer_cred_fsm_use
pacer_cred_fsm_token(struct pacer_cred_fsm *f, uint64_t now_unix_ms)
{
  switch (f->st) {
  case PACER_CRED_FSM_OK:
    if (f->has_token &&
        now_unix_ms + pacer_cred_fsm_skew_ms(f) < f->expires_unix_ms)
      return PACER_CRED_FSM_READY;
    /* Proactive: renew skew before expiry, single flight. */
    f->stale_gen = f->gen;
    try_script(f, 1);
    return PACER_CRED_FSM_WAIT;
  case PACER_CRED_FSM_UNKNOWN:
    try_script(f, 1);
    return PACER_CRED_FSM_WAIT;
  case PACER_CRED_FSM_REAUTH:
    return PACER_CRED_FSM_PARK;
  default:
    return PACER_CRED_FSM_WAIT;
  }
}

int
pacer_cred_fsm_invalid(struct pacer_cred_fsm *f, uint64_t generation)
{
  if (f->st != PACER_CRED_FSM_OK || generation != f->gen)
    return 0; /* older generation, or a refresh is already under way */
  f->stale_gen = generation;
  try_script(f, 1);
  return 1;
}

void
pacer_cred_fsm_timer(struct pacer_cred_fsm *f)
{
  if (f->closing)
    return;
  if (f->pending != NULL) {
    retry_pending(f);
    return;
  }
  if (f->st == PACER_CRED_FSM_REFRESHING && f->reread && !f->script_out) {
    /* An unknown outcome's wait is over: re-read before the replay. */
    f->reread = 0;
    if (f->ops->run_try(f->arg, 1, (int64_t)f->lock_gen) == 0)
      f->script_out = 1;
    else
      timer_in(f, PACER_CRED_FSM_SCRIPT_RETRY_MS);
  } else if (f->st == PACER_CRED_FSM_REFRESHING) {
    send_token_request(f); /* backoff over */
  } else {
    try_script(f, f->st == PACER_CRED_FSM_WAITING ||
                      f->st == PACER_CRED_FSM_UNKNOWN ||
                      f->st == PACER_CRED_FSM_TRYING);
  }
}

/* ------------------------------------------------------------------ */
/* Events from other processes */

void
pacer_cred_fsm_remote(struct pacer_cred_fsm *f, int plain, uint64_t gen)
{
  if (f->st == PACER_CRED_FSM_REFRESHING || f->st == PACER_CRED_FSM_UNKNOWN)
    return;
  /* A new token's generation we already hold (our own commit comes back
   * too): nothing to read. "<gen>:<status>" is a state change. */
  if (f->st == PACER_CRED_FSM_OK && plain && gen == f->gen)
    return;
  try_script(f, 0);
}

void
pacer_cred_fsm_resubscribed(struct pacer_cred_fsm *f)
{
  if (f->st != PACER_CRED_FSM_UNKNOWN && f->st != PACER_CRED_FSM_REFRESHING)
    try_script(f, 0);
}
