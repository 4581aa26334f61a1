/* Unit tests for core/cred_fsm.c, the credential state machine, on a
 * virtual clock. Each scenario is a table of steps: an event, the actions
 * the machine must take in answer (a trace of the ops it calls, in order)
 * and the state it must be in afterwards. The ops are a mock that records
 * its calls, keeps one timer on the virtual clock, and re-enters the
 * machine from settled as the scheduler does (it asks for the token). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "core/backoff.h"
#include "core/cred_fsm.h"

#define T0_MS  1700000000000ull /* virtual unix ms at the start */
#define SKEW_S 300u             /* refresh_skew_s of the credential */
#define RND    7u               /* random value passed in: jitter 7 ms */

struct rec {
  int commit;
  int reauth;
  int release;
  int known;
};

struct mock {
  struct pacer_cred_fsm f;
  char trace[1024];
  uint64_t now_ms;
  int timer_on;
  uint64_t timer_at_ms;
  int rc_try, rc_send, rc_commit, rc_fail, rc_fence; /* what ops return */
  int recs;                                          /* records alive */
  struct rec *last_commit, *last_fail;               /* the last ones run */
};

static void
note(struct mock *m, const char *fmt, ...)
{
  size_t len = strlen(m->trace);
  va_list ap;

  if (len > 0 && len + 1 < sizeof(m->trace))
    m->trace[len++] = ' ';
  va_start(ap, fmt);
  vsnprintf(m->trace + len, sizeof(m->trace) - len, fmt, ap);
  va_end(ap);
}

static const char *
use_name(enum pacer_cred_fsm_use u)
{
  return u == PACER_CRED_FSM_READY  ? "=READY"
         : u == PACER_CRED_FSM_WAIT ? "=WAIT"
                                    : "=PARK";
}

static void
op_new_lockval(void *arg)
{
  note(arg, "lockval");
}

static int
op_run_try(void *arg, int need, int64_t stale_gen)
{
  struct mock *m = arg;

  note(m, "try(%s,%lld)%s", need ? "need" : "sync", (long long)stale_gen,
       m->rc_try ? "!" : "");
  return m->rc_try;
}

static int
op_run_fence(void *arg, unsigned attempt, int known)
{
  struct mock *m = arg;

  note(m, "fence(%u,%d)%s", attempt, known, m->rc_fence ? "!" : "");
  return m->rc_fence;
}

static int
op_send(void *arg, unsigned attempt, int replay)
{
  struct mock *m = arg;

  note(m, "send(%u)%s%s", attempt, replay ? "replay" : "",
       m->rc_send ? "!" : "");
  return m->rc_send;
}

static int
op_run_commit(void *arg, void *rec, uint64_t lock_gen)
{
  struct mock *m = arg;

  note(m, "commit(lg=%llu)%s", (unsigned long long)lock_gen,
       m->rc_commit ? "!" : "");
  m->last_commit = rec;
  return m->rc_commit;
}

static int
op_run_fail(void *arg, void *rec, uint64_t lock_gen)
{
  struct mock *m = arg;
  struct rec *x = rec;

  (void)lock_gen;
  note(m, "fail(%s%s)%s", x->reauth ? "reauth" : "note",
       x->known ? "" : ",unknown", m->rc_fail ? "!" : "");
  m->last_fail = rec;
  return m->rc_fail;
}

static void *
op_new_fail(void *arg, int reauth, const char *why, int release, int known)
{
  struct mock *m = arg;
  struct rec *x = calloc(1, sizeof(*x));

  assert_non_null(x);
  assert_non_null(why);
  assert_int_equal(release, reauth); /* a reauth record drops the lock */
  x->reauth = reauth;
  x->release = release;
  x->known = known;
  m->recs++;
  return x;
}

static void
op_free_rec(void *arg, void *rec)
{
  struct mock *m = arg;

  note(m, "free");
  if (rec == m->last_commit)
    m->last_commit = NULL;
  if (rec == m->last_fail)
    m->last_fail = NULL;
  free(rec);
  m->recs--;
}

static void
op_arm_timer(void *arg, uint64_t ms)
{
  struct mock *m = arg;

  note(m, "timer(%llu)", (unsigned long long)ms);
  m->timer_on = 1;
  m->timer_at_ms = m->now_ms + ms;
}

static void
op_stop_timer(void *arg)
{
  struct mock *m = arg;

  note(m, "stop");
  m->timer_on = 0;
}

static void
op_keepalive(void *arg, int on)
{
  note(arg, "ka(%d)", on);
}

static void
op_settled(void *arg)
{
  struct mock *m = arg;

  note(m, "settled");
  /* The scheduler asks again to release or park the jobs it holds. */
  note(m, "%s", use_name(pacer_cred_fsm_token(&m->f, m->now_ms)));
}

static const struct pacer_cred_fsm_ops mock_ops = {
    .new_lockval = op_new_lockval,
    .run_try = op_run_try,
    .run_fence = op_run_fence,
    .send = op_send,
    .run_commit = op_run_commit,
    .run_fail = op_run_fail,
    .new_fail = op_new_fail,
    .free_rec = op_free_rec,
    .arm_timer = op_arm_timer,
    .stop_timer = op_stop_timer,
    .keepalive = op_keepalive,
    .settled = op_settled,
};

/* ------------------------------------------------------------------ */
/* Scenarios */

enum ev {
  E_END = 0,
  E_TOKEN,    /* a job needs the token now */
  E_INVALID,  /* a: generation of a 401 invalid_token */
  E_ADVANCE,  /* a: ms on the virtual clock; fires the timer when due */
  E_TRY,      /* a: need, b: code, c: gen or pttl, d: lifetime_s,
                 e: token expires in ms (code 3; 0 = not adopted) */
  E_TRY_LOST, /* a: need */
  E_COMMIT,   /* a: reply kind, b: value, c: lifetime_s */
  E_FAIL,     /* a: reply kind, b: value (the last failure record) */
  E_ANSWER,   /* a: answer, b: retry hint ms, c: rnd */
  E_REMOTE,   /* a: plain, b: generation */
  E_RESUB,    /* resubscribed */
  E_RC,       /* a: 't' try, 's' send, 'c' commit, 'f' fail, 'g' fence;
                 b: rc */
  E_CLOSE,    /* stop */
  E_BUSY,     /* notes busy=0|1 */
  E_FENCE,    /* a: reply kind, b: value */
};

struct step {
  enum ev ev;
  int64_t a, b, c, d, e;
  const char *want; /* the trace of ops, space separated */
  int st;           /* state afterwards; -1: not checked */
};

#define INT_   PACER_CRED_FSM_REPLY_INT
#define LOST_  PACER_CRED_FSM_REPLY_LOST
#define OTHER_ PACER_CRED_FSM_REPLY_OTHER
#define UNK    PACER_CRED_FSM_UNKNOWN
#define OK     PACER_CRED_FSM_OK
#define TRYING PACER_CRED_FSM_TRYING
#define REFR   PACER_CRED_FSM_REFRESHING
#define WAITG  PACER_CRED_FSM_WAITING
#define REAUTH PACER_CRED_FSM_REAUTH

/* Loads a token another process stored: generation 4, one hour left. */
#define LOAD_GEN4                                                              \
  {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},              \
  {                                                                            \
    E_TRY, 1, 3, 4, 3600, 3600000, "stop ka(0) settled =READY", OK             \
  }

/* Takes the lock with no token stored, passes the send fence and sends
 * the token request. */
#define TAKE_LOCK                                                              \
  {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},              \
      {E_TRY, 1, 1, 0, 0, 0, "fence(1,0)", REFR},                              \
  {                                                                            \
    E_FENCE, INT_, 1, 0, 0, 0, "send(1) ka(1)", REFR                           \
  }

struct scenario {
  const char *name;
  struct step steps[24];
};

static const struct scenario scenarios[] = {
    {"first use adopts a token another process stored",
     {LOAD_GEN4, {E_TOKEN, 0, 0, 0, 0, 0, "=READY", OK}}},
    {"first use with nothing stored refreshes and commits",
     {TAKE_LOCK,
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "commit(lg=0)", REFR},
      {E_COMMIT, INT_, 1, 3600, 0, 0, "free ka(0) settled =READY", OK},
      {E_TOKEN, 0, 0, 0, 0, 0, "=READY", OK}}},
    {"a token is renewed refresh_skew_s before it expires",
     {LOAD_GEN4,
      {E_ADVANCE, 3600000 - 300000 - 1, 0, 0, 0, 0, "", OK},
      {E_TOKEN, 0, 0, 0, 0, 0, "=READY", OK},
      {E_ADVANCE, 1, 0, 0, 0, 0, "", OK},
      {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,4) =WAIT", TRYING},
      /* another process renewed first: adopt its generation 5 */
      {E_TRY, 1, 3, 5, 3600, 3600000, "stop ka(0) settled =READY", OK}}},
    {"the skew is at most half the lifetime of a short-lived token",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 3, 2, 60, 60000, "stop ka(0) settled =READY", OK},
      {E_ADVANCE, 29999, 0, 0, 0, 0, "", OK},
      {E_TOKEN, 0, 0, 0, 0, 0, "=READY", OK},
      {E_ADVANCE, 1, 0, 0, 0, 0, "", OK},
      {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,2) =WAIT", TRYING}}},
    {"a 401 for the current generation refreshes once",
     {LOAD_GEN4,
      {E_INVALID, 4, 0, 0, 0, 0, "lockval try(need,4) =1", TRYING},
      {E_INVALID, 4, 0, 0, 0, 0, "=0", TRYING}, /* already under way */
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", TRYING},
      {E_TRY, 1, 1, 4, 3600, 0, "fence(1,0)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1) ka(1)", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "commit(lg=4)", REFR},
      {E_COMMIT, INT_, 5, 3600, 0, 0, "free ka(0) settled =READY", OK},
      {E_INVALID, 4, 0, 0, 0, 0, "=0", OK}}}, /* older now: just replay */
    {"a 401 for an older generation only replays",
     {LOAD_GEN4, {E_INVALID, 3, 0, 0, 0, 0, "=0", OK}}},
    {"a busy lock waits for the publish, then adopts",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 0, 5000, 0, 0, "timer(5057)", WAITG},
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", WAITG},
      {E_REMOTE, 1, 5, 0, 0, 0, "try(sync,-1)", WAITG},
      {E_TRY, 0, 3, 5, 3600, 3600000, "stop ka(0) settled =READY", OK}}},
    {"a busy lock that expires is taken over with the same lock value",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 0, 0, 0, 0, "timer(157)", WAITG}, /* PTTL gone: 100 ms */
      {E_ADVANCE, 156, 0, 0, 0, 0, "", WAITG},
      {E_ADVANCE, 1, 0, 0, 0, 0, "fire try(need,-1)", WAITG},
      {E_TRY, 1, 1, 7, 0, 0, "fence(1,0)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1) ka(1)", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "commit(lg=7)", REFR}}},
    {"the holder gave up without a token: try ourselves",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 0, 9000, 0, 0, "timer(9057)", WAITG},
      {E_REMOTE, 0, 3, 0, 0, 0, "try(sync,-1)", WAITG},
      {E_TRY, 0, 4, 3, 0, 0, "try(need,-1)", WAITG}}},
    {"429 with Retry-After backs off at least that long, keeps the lock",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_RETRY, 30000, RND, 0, 0,
       "fail(note) timer(30000) delay=30000", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", REFR},
      {E_ADVANCE, 29999, 0, 0, 0, 0, "", REFR},
      {E_ADVANCE, 1, 0, 0, 0, 0, "fire fence(2,1)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(2) ka(1)", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "commit(lg=0)", REFR},
      {E_COMMIT, INT_, 1, 3600, 0, 0, "free ka(0) settled =READY", OK}}},
    {"a lost note on a retry is not written again",
     {TAKE_LOCK,
      {E_RC, 'f', PACER_EREDIS, 0, 0, 0, "", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_RETRY, 5000, RND, 0, 0,
       "fail(note)! free timer(5000) delay=5000", REFR}}},
    {"invalid_grant marks reauth_required, then parks",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_REAUTH, 0, 0, 0, 0, "fail(reauth)",
       REFR},
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", REFR}, /* not before Redis has it */
      {E_FAIL, INT_, 0, 0, 0, 0, "free ka(0) settled =PARK", REAUTH},
      {E_TOKEN, 0, 0, 0, 0, 0, "=PARK", REAUTH},
      {E_ADVANCE, 3600000, 0, 0, 0, 0, "", REAUTH}}}, /* no token calls */
    {"cred set releases parked jobs: the next need loads",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_REAUTH, 0, 0, 0, 0, "fail(reauth)",
       REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free ka(0) settled =PARK", REAUTH},
      {E_REMOTE, 0, 1, 0, 0, 0, "try(sync,-1)", REAUTH},
      {E_TRY, 0, 6, 1, 0, 0, "ka(0) settled lockval try(need,-1) =WAIT",
       TRYING},
      {E_TRY, 1, 1, 1, 0, 0, "fence(1,0)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1) ka(1)", REFR}}},
    {"cred set seen as nothing newer also leaves reauth_required",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 2, 3, 0, 0, "ka(0) settled =PARK", REAUTH},
      {E_RESUB, 0, 0, 0, 0, 0, "try(sync,-1)", REAUTH},
      {E_TRY, 0, 4, 4, 0, 0, "ka(0) settled lockval try(need,-1) =WAIT",
       TRYING}}},
    {"cred set during a refused refresh wins over the refusal",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_REAUTH, 0, 0, 0, 0, "fail(reauth)",
       REFR},
      {E_FAIL, INT_, -2, 0, 0, 0,
       "free stop ka(0) settled lockval try(need,-1) =WAIT", TRYING}}},
    {"a reauth record whose lock expired asks what the holder got",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_REAUTH, 0, 0, 0, 0, "fail(reauth)",
       REFR},
      {E_FAIL, INT_, -1, 0, 0, 0, "free timer(200)", WAITG},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire try(need,-1)", WAITG}}},
    {"a reauth record is written again until Redis has it",
     {TAKE_LOCK,
      {E_RC, 'f', PACER_EREDIS, 0, 0, 0, "", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_REAUTH, 0, 0, 0, 0,
       "fail(reauth)! timer(200)", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire fail(reauth)! timer(200)", REFR},
      {E_RC, 'f', 0, 0, 0, 0, "", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire fail(reauth)", REFR},
      {E_FAIL, LOST_, 0, 0, 0, 0, "fail(reauth)", REFR}, /* replayed */
      {E_FAIL, INT_, 1, 0, 0, 0, "free ka(0) settled =PARK", REAUTH}}},
    {"no refresh token at all is reauth_required",
     {{E_RC, 's', PACER_EAUTH, 0, 0, 0, "", UNK},
      {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 1, 0, 0, 0, "fence(1,0)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1)! fail(reauth)", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free ka(0) settled =PARK", REAUTH}}},
    {"a request that cannot be sent is sent again after the base delay",
     {{E_RC, 's', PACER_EIO, 0, 0, 0, "", UNK},
      {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 1, 0, 0, 0, "fence(1,0)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1)! timer(1000)", REFR},
      {E_RC, 's', 0, 0, 0, 0, "", REFR},
      {E_ADVANCE, 999, 0, 0, 0, 0, "", REFR},
      {E_ADVANCE, 1, 0, 0, 0, 0, "fire fence(1,0)", REFR},
      /* the fence answers the same attempt again: counted once */
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1) ka(1)", REFR}}},
    {"a commit whose reply is lost is replayed, never refreshed again",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "commit(lg=0)", REFR},
      {E_COMMIT, LOST_, 0, 0, 0, 0, "commit(lg=0)", REFR},
      {E_COMMIT, OTHER_, 0, 0, 0, 0, "timer(200)", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire commit(lg=0)", REFR},
      {E_COMMIT, INT_, 1, 3600, 0, 0, "free ka(0) settled =READY", OK}}},
    {"a commit Redis cannot take now is kept and written again",
     {TAKE_LOCK,
      {E_RC, 'c', PACER_EREDIS, 0, 0, 0, "", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0,
       "commit(lg=0)! timer(200)", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire commit(lg=0)! timer(200)", REFR},
      {E_RC, 'c', 0, 0, 0, 0, "", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire commit(lg=0)", REFR},
      {E_COMMIT, INT_, 1, 3600, 0, 0, "free ka(0) settled =READY", OK}}},
    {"generation fence: a commit after cred set is dropped, then reload",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "commit(lg=0)", REFR},
      {E_COMMIT, INT_, -2, 0, 0, 0, "free ka(0) try(need,-1)", WAITG},
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", WAITG},
      {E_TRY, 1, 3, 2, 3600, 3600000, "stop ka(0) settled =READY", OK}}},
    {"a need behind an outstanding sync moves to trying at once",
     {LOAD_GEN4,
      {E_REMOTE, 0, 4, 0, 0, 0, "try(sync,4)", OK},
      {E_INVALID, 4, 0, 0, 0, 0, "lockval =1", TRYING},
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", TRYING}, /* bad token not handed out */
      {E_TRY, 0, 4, 4, 0, 0, "try(need,4)", TRYING},
      {E_TRY, 1, 1, 4, 0, 0, "fence(1,0)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1) ka(1)", REFR}}},
    {"a need behind a sync that adopts a newer generation is answered",
     {LOAD_GEN4,
      {E_REMOTE, 1, 5, 0, 0, 0, "try(sync,4)", OK},
      {E_INVALID, 4, 0, 0, 0, 0, "lockval =1", TRYING},
      {E_TRY, 0, 3, 5, 3600, 3600000, "stop ka(0) settled =READY try(sync,5)",
       OK}}},
    {"an expiring token found by a sync is renewed",
     {LOAD_GEN4,
      {E_REMOTE, 0, 4, 0, 0, 0, "try(sync,4)", OK},
      {E_TRY, 0, 6, 4, 0, 0, "lockval try(need,4)", TRYING}}},
    {"our own commit's publish and unknown credentials read nothing",
     {{E_REMOTE, 1, 1, 0, 0, 0, "", UNK},
      {E_RESUB, 0, 0, 0, 0, 0, "", UNK},
      LOAD_GEN4,
      {E_REMOTE, 1, 4, 0, 0, 0, "", OK},
      {E_RESUB, 0, 0, 0, 0, 0, "try(sync,4)", OK},
      {E_TRY, 0, 4, 4, 0, 0, "", OK}}},
    {"events while we refresh are ignored",
     {TAKE_LOCK,
      {E_REMOTE, 0, 1, 0, 0, 0, "", REFR},
      {E_RESUB, 0, 0, 0, 0, 0, "", REFR},
      {E_INVALID, 0, 0, 0, 0, 0, "=0", REFR}}},
    {"a lost need is asked again with the same lock value",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY_LOST, 1, 0, 0, 0, 0, "timer(200)", TRYING},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire try(need,-1)", TRYING},
      {E_TRY, 1, 1, 0, 0, 0, "fence(1,0)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1) ka(1)", REFR}}},
    {"a lost sync in OK is not asked again",
     {LOAD_GEN4,
      {E_RESUB, 0, 0, 0, 0, 0, "try(sync,4)", OK},
      {E_TRY_LOST, 0, 0, 0, 0, 0, "", OK}}},
    {"Redis away: the need is tried again after 200 ms",
     {{E_RC, 't', PACER_EREDIS, 0, 0, 0, "", UNK},
      {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1)! timer(200) =WAIT", UNK},
      {E_RC, 't', 0, 0, 0, 0, "", UNK},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire lockval try(need,-1)", TRYING}}},
    {"out of memory for a script gives up without a retry",
     {{E_RC, 't', PACER_ENOMEM, 0, 0, 0, "", UNK},
      {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1)! =WAIT", UNK}}},
    {"an adopt reply without a token retries when none is held",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 3, 4, 3600, 0, "stop timer(200)", TRYING},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire try(need,-1)", TRYING}}},
    {"a timer that fires while a sync is out turns its follow-up into a need",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 0, 1000, 0, 0, "timer(1057)", WAITG},
      {E_REMOTE, 0, 0, 0, 0, 0, "try(sync,-1)", WAITG},
      {E_ADVANCE, 1057, 0, 0, 0, 0, "fire", WAITG},
      {E_TRY, 0, 4, 0, 0, 0, "try(need,-1)", WAITG},
      {E_TRY, 1, 1, 0, 0, 0, "fence(1,0)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1) ka(1)", REFR}}},
    {"another process's refusal seen by a sync parks the jobs",
     {LOAD_GEN4,
      {E_REMOTE, 0, 4, 0, 0, 0, "try(sync,4)", OK},
      {E_TRY, 0, 2, 4, 0, 0, "ka(0) settled =PARK", REAUTH}}},
    {"an adopted token without a lifetime keeps the known one",
     {LOAD_GEN4,
      {E_REMOTE, 1, 5, 0, 0, 0, "try(sync,4)", OK},
      {E_TRY, 0, 3, 5, 0, 600000, "stop ka(0) settled =READY", OK},
      /* skew 300 s still applies: the lifetime is still 3600 s */
      {E_ADVANCE, 300000, 0, 0, 0, 0, "", OK},
      {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,5) =WAIT", TRYING}}},
    {"a lost reauth record that cannot be replayed is kept",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_REAUTH, 0, 0, 0, 0, "fail(reauth)",
       REFR},
      {E_RC, 'f', PACER_EREDIS, 0, 0, 0, "", REFR},
      {E_FAIL, LOST_, 0, 0, 0, 0, "fail(reauth)! timer(200)", REFR},
      {E_RC, 'f', 0, 0, 0, 0, "", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire fail(reauth)", REFR},
      {E_FAIL, OTHER_, 0, 0, 0, 0, "free", REFR}}}, /* an error reply */
    {"a lost note that cannot be replayed is dropped",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_RETRY, 5000, RND, 0, 0,
       "fail(note) timer(5000) delay=5000", REFR},
      {E_RC, 'f', PACER_EREDIS, 0, 0, 0, "", REFR},
      {E_FAIL, LOST_, 0, 0, 0, 0, "fail(note)! free", REFR},
      {E_ADVANCE, 5000, 0, 0, 0, 0, "fire fence(2,1)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(2) ka(1)", REFR}}},
    {"a cancelled token request ends quietly",
     {TAKE_LOCK,
      {E_BUSY, 0, 0, 0, 0, 0, "busy=1", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_CANCELED, 0, 0, 0, 0, "", REFR},
      {E_BUSY, 0, 0, 0, 0, 0, "busy=0", REFR}}},
    {"after close, nothing starts",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 0, 1000, 0, 0, "timer(1057)", WAITG},
      {E_CLOSE, 0, 0, 0, 0, 0, "", WAITG},
      {E_ADVANCE, 1057, 0, 0, 0, 0, "fire", WAITG},
      {E_REMOTE, 0, 0, 0, 0, 0, "", WAITG},
      {E_TRY, 1, 3, 4, 3600, 0, "", WAITG}}},
    {"after close, a failure record or an answer only frees",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_REAUTH, 0, 0, 0, 0, "fail(reauth)",
       REFR},
      {E_CLOSE, 0, 0, 0, 0, 0, "", REFR},
      {E_FAIL, INT_, 1, 0, 0, 0, "free", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "free", REFR},
      {E_BUSY, 0, 0, 0, 0, 0, "busy=0", REFR}}},
    {"after close, replies free their records and nothing runs",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "commit(lg=0)", REFR},
      {E_CLOSE, 0, 0, 0, 0, 0, "", REFR},
      {E_COMMIT, INT_, 1, 3600, 0, 0, "free", REFR},
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", REFR}}},
    /* One refresh token, one POST (docs/CREDENTIALS.md). */
    {"a holder stopped past its lock's lease never sends (fence -1)",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_RETRY, 30000, RND, 0, 0,
       "fail(note) timer(30000) delay=30000", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 30000, 0, 0, 0, 0, "fire fence(2,1)", REFR},
      {E_FENCE, INT_, -1, 0, 0, 0, "ka(0) lockval timer(200)", WAITG},
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", WAITG},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire try(need,-1)", WAITG},
      {E_TRY, 1, 0, 5000, 0, 0, "timer(5057)", WAITG},
      {E_REMOTE, 1, 1, 0, 0, 0, "try(sync,-1)", WAITG},
      {E_TRY, 0, 3, 1, 3600, 3600000, "stop ka(0) settled =READY", OK},
      {E_BUSY, 0, 0, 0, 0, 0, "busy=0", OK}}},
    {"outcome unknown after token_timeout_ms: re-read, then replay once",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 0, 0, 0, 0,
       "fail(note,unknown) timer(0) delay=0", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", REFR},
      {E_ADVANCE, 0, 0, 0, 0, 0, "fire try(need,0)", REFR},
      {E_TRY, 1, 1, 0, 0, 0, "fence(2,0)", REFR},
      {E_FENCE, INT_, 2, 0, 0, 0, "send(2)replay ka(1)", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "commit(lg=0)", REFR},
      {E_COMMIT, INT_, 1, 3600, 0, 0, "free ka(0) settled =READY", OK}}},
    {"a reset before token_timeout_ms waits out the rest before re-reading",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 57000, 0, 0, 0,
       "fail(note,unknown) timer(57000) delay=57000", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 56999, 0, 0, 0, 0, "", REFR},
      {E_ADVANCE, 1, 0, 0, 0, 0, "fire try(need,0)", REFR}}},
    {"the re-read finds a token another process stored: no replay",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 0, 0, 0, 0,
       "fail(note,unknown) timer(0) delay=0", REFR},
      {E_FAIL, INT_, -1, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 0, 0, 0, 0, 0, "fire try(need,0)", REFR},
      {E_TRY, 1, 3, 1, 3600, 3600000, "stop ka(0) settled =READY", OK}}},
    {"the re-read finds reauth_required: park, no replay",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 0, 0, 0, 0,
       "fail(note,unknown) timer(0) delay=0", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 0, 0, 0, 0, 0, "fire try(need,0)", REFR},
      {E_TRY, 1, 2, 0, 0, 0, "ka(0) settled =PARK", REAUTH}}},
    {"the re-read finds another holder: wait for it",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 0, 0, 0, 0,
       "fail(note,unknown) timer(0) delay=0", REFR},
      {E_FAIL, INT_, -1, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 0, 0, 0, 0, 0, "fire try(need,0)", REFR},
      {E_TRY, 1, 0, 3000, 0, 0, "ka(0) timer(3057)", WAITG}}},
    {"a lost re-read is re-read, never skipped",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 0, 0, 0, 0,
       "fail(note,unknown) timer(0) delay=0", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 0, 0, 0, 0, 0, "fire try(need,0)", REFR},
      {E_TRY_LOST, 1, 0, 0, 0, 0, "timer(200)", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire try(need,0)", REFR}}},
    {"a re-read that cannot be sent is asked again",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 0, 0, 0, 0,
       "fail(note,unknown) timer(0) delay=0", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_RC, 't', PACER_EREDIS, 0, 0, 0, "", REFR},
      {E_ADVANCE, 0, 0, 0, 0, 0, "fire try(need,0)! timer(200)", REFR},
      {E_RC, 't', 0, 0, 0, 0, "", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire fence(2,0)", REFR}}},
    {"a second unknown outcome parks instead of a third send",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 0, 0, 0, 0,
       "fail(note,unknown) timer(0) delay=0", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 0, 0, 0, 0, 0, "fire try(need,0)", REFR},
      {E_TRY, 1, 1, 0, 0, 0, "fence(2,0)", REFR},
      {E_FENCE, INT_, 2, 0, 0, 0, "send(2)replay ka(1)", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 0, 0, 0, 0,
       "fail(note,unknown) timer(0) delay=0", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 0, 0, 0, 0, 0, "fire try(need,0)", REFR},
      {E_TRY, 1, 1, 0, 0, 0, "fence(3,0)", REFR},
      {E_FENCE, INT_, -3, 0, 0, 0, "fail(reauth,unknown)", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free ka(0) settled =PARK", REAUTH},
      {E_ADVANCE, 3600000, 0, 0, 0, 0, "", REAUTH}}},
    {"a known answer after an unknown one restarts the count",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 0, 0, 0, 0,
       "fail(note,unknown) timer(0) delay=0", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 0, 0, 0, 0, 0, "fire try(need,0)", REFR},
      {E_TRY, 1, 1, 0, 0, 0, "fence(2,0)", REFR},
      {E_FENCE, INT_, 2, 0, 0, 0, "send(2)replay ka(1)", REFR},
      {E_ANSWER, PACER_CRED_FSM_ANSWER_RETRY, 2000, RND, 0, 0,
       "fail(note) timer(2000) delay=2000", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR},
      {E_ADVANCE, 2000, 0, 0, 0, 0, "fire fence(3,1)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(3) ka(1)", REFR}}},
    {"a lost fence reply asks again for the same attempt",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 1, 0, 0, 0, "fence(1,0)", REFR},
      {E_BUSY, 0, 0, 0, 0, 0, "busy=1", REFR},
      {E_FENCE, LOST_, 0, 0, 0, 0, "timer(200)", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire fence(1,0)", REFR},
      {E_FENCE, OTHER_, 0, 0, 0, 0, "timer(200)", REFR},
      {E_RC, 'g', PACER_EREDIS, 0, 0, 0, "", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire fence(1,0)! timer(200)", REFR},
      {E_RC, 'g', 0, 0, 0, 0, "", REFR},
      {E_ADVANCE, 200, 0, 0, 0, 0, "fire fence(1,0)", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "send(1) ka(1)", REFR}}},
    {"a commit refused because the lock is not ours is dropped",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_OK, 0, 0, 0, 0, "commit(lg=0)", REFR},
      {E_COMMIT, INT_, -1, 0, 0, 0, "free ka(0) try(need,-1)", WAITG},
      {E_TRY, 1, 0, 4000, 0, 0, "timer(4057)", WAITG}}},
    {"reauth_required is sticky: events and time do not leave it",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 2, 3, 0, 0, "ka(0) settled =PARK", REAUTH},
      {E_REMOTE, 0, 3, 0, 0, 0, "try(sync,-1)", REAUTH},
      {E_TRY, 0, 2, 3, 0, 0, "ka(0) settled =PARK", REAUTH},
      {E_INVALID, 3, 0, 0, 0, 0, "=0", REAUTH},
      {E_ADVANCE, 3600000, 0, 0, 0, 0, "", REAUTH},
      {E_TOKEN, 0, 0, 0, 0, 0, "=PARK", REAUTH}}},
    {"after close, a fence reply sends nothing",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 1, 0, 0, 0, "fence(1,0)", REFR},
      {E_CLOSE, 0, 0, 0, 0, 0, "", REFR},
      {E_FENCE, INT_, 1, 0, 0, 0, "", REFR},
      {E_BUSY, 0, 0, 0, 0, 0, "busy=0", REFR}}},
};

static void
run_step(struct mock *m, const struct step *s)
{
  struct pacer_cred_fsm_try t;
  uint64_t d;
  void *rec;

  m->trace[0] = '\0';
  switch (s->ev) {
  case E_TOKEN:
    note(m, "%s", use_name(pacer_cred_fsm_token(&m->f, m->now_ms)));
    break;
  case E_INVALID:
    note(m, "=%d", pacer_cred_fsm_invalid(&m->f, (uint64_t)s->a));
    break;
  case E_ADVANCE:
    m->now_ms += (uint64_t)s->a;
    if (m->timer_on && m->timer_at_ms <= m->now_ms) {
      m->timer_on = 0;
      note(m, "fire");
      pacer_cred_fsm_timer(&m->f);
    }
    break;
  case E_TRY:
    memset(&t, 0, sizeof(t));
    t.code = (int)s->b;
    t.gen = (uint64_t)s->c;
    t.lifetime_s = (uint64_t)s->d;
    t.adopted = s->e > 0;
    t.expires_unix_ms = s->e > 0 ? m->now_ms + (uint64_t)s->e : 0;
    pacer_cred_fsm_try_reply(&m->f, (int)s->a, &t, RND);
    break;
  case E_TRY_LOST:
    pacer_cred_fsm_try_reply(&m->f, (int)s->a, NULL, RND);
    break;
  case E_COMMIT:
    assert_non_null(m->last_commit);
    pacer_cred_fsm_commit_reply(
        &m->f, m->last_commit, (enum pacer_cred_fsm_reply)s->a, s->b,
        m->now_ms + (uint64_t)s->c * 1000u, (uint64_t)s->c);
    break;
  case E_FAIL:
    assert_non_null(m->last_fail);
    pacer_cred_fsm_fail_reply(&m->f, m->last_fail, m->last_fail->reauth,
                              (enum pacer_cred_fsm_reply)s->a, s->b);
    break;
  case E_ANSWER:
    rec = NULL;
    if (s->a == PACER_CRED_FSM_ANSWER_OK) {
      struct rec *x = calloc(1, sizeof(*x));

      assert_non_null(x);
      x->commit = 1;
      m->recs++;
      rec = x;
    }
    d = pacer_cred_fsm_answer(&m->f, (enum pacer_cred_fsm_answer)s->a, rec,
                              "token endpoint failed: HTTP 503", (uint64_t)s->b,
                              (uint64_t)s->c);
    if (s->a == PACER_CRED_FSM_ANSWER_RETRY ||
        s->a == PACER_CRED_FSM_ANSWER_UNKNOWN)
      note(m, "delay=%llu", (unsigned long long)d);
    break;
  case E_REMOTE:
    pacer_cred_fsm_remote(&m->f, (int)s->a, (uint64_t)s->b);
    break;
  case E_RESUB:
    pacer_cred_fsm_resubscribed(&m->f);
    break;
  case E_RC:
    if (s->a == 't')
      m->rc_try = (int)s->b;
    else if (s->a == 's')
      m->rc_send = (int)s->b;
    else if (s->a == 'c')
      m->rc_commit = (int)s->b;
    else if (s->a == 'g')
      m->rc_fence = (int)s->b;
    else
      m->rc_fail = (int)s->b;
    break;
  case E_CLOSE:
    pacer_cred_fsm_close(&m->f);
    break;
  case E_BUSY:
    note(m, "busy=%d", pacer_cred_fsm_busy(&m->f));
    break;
  case E_FENCE:
    pacer_cred_fsm_fence_reply(&m->f, (enum pacer_cred_fsm_reply)s->a, s->b);
    break;
  case E_END:
    break;
  }
}

static void
run_scenario(const struct scenario *sc)
{
  struct mock *m = calloc(1, sizeof(*m));
  size_t i;

  assert_non_null(m);
  m->now_ms = T0_MS;
  pacer_cred_fsm_init(&m->f, SKEW_S, &mock_ops, m);
  for (i = 0; i < sizeof(sc->steps) / sizeof(sc->steps[0]); i++) {
    const struct step *s = &sc->steps[i];

    if (s->ev == E_END)
      break;
    run_step(m, s);
    if (getenv("CRED_FSM_DUMP") != NULL && strcmp(s->want, "?") == 0) {
      printf("DUMP %s | \"%s\" %s\n", sc->name, m->trace,
             pacer_cred_fsm_state_name(m->f.st));
      continue;
    }
    if (strcmp(m->trace, s->want) != 0 ||
        (s->st >= 0 && (int)m->f.st != s->st)) {
      print_error("%s, step %zu:\n  want \"%s\" in %s\n  got  \"%s\" in %s\n",
                  sc->name, i + 1, s->want,
                  pacer_cred_fsm_state_name((enum pacer_cred_fsm_state)s->st),
                  m->trace, pacer_cred_fsm_state_name(m->f.st));
      fail();
    }
  }
  /* Every record is freed exactly once, or still pending for the caller. */
  if (m->f.pending != NULL) {
    free(m->f.pending);
    m->recs--;
  }
  if (m->last_commit != NULL && m->f.script_out) {
    free(m->last_commit);
    m->recs--;
  }
  assert_int_equal(m->recs, 0);
  free(m);
}

static void
every_scenario_takes_its_actions(void **state)
{
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
    run_scenario(&scenarios[i]);
}

/* ------------------------------------------------------------------ */
/* Every event that can arrive at any time, in every state */

/* The states, each reached by a prefix of steps (checked as it runs). */
static const struct scenario setups[] = {
    {"unknown", {{E_END, 0, 0, 0, 0, 0, NULL, 0}}},
    {"ok", {LOAD_GEN4}},
    {"trying",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING}}},
    {"refreshing, fence out",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 1, 4, 0, 0, "fence(1,0)", REFR}}},
    {"refreshing, request out", {TAKE_LOCK}},
    {"refreshing, backoff",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_RETRY, 5000, RND, 0, 0,
       "fail(note) timer(5000) delay=5000", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR}}},
    {"refreshing, outcome unknown",
     {TAKE_LOCK,
      {E_ANSWER, PACER_CRED_FSM_ANSWER_UNKNOWN, 5000, 0, 0, 0,
       "fail(note,unknown) timer(5000) delay=5000", REFR},
      {E_FAIL, INT_, 0, 0, 0, 0, "free", REFR}}},
    {"waiting",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 0, 5000, 0, 0, "timer(5057)", WAITG}}},
    {"reauth_required",
     {{E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING},
      {E_TRY, 1, 2, 4, 0, 0, "ka(0) settled =PARK", REAUTH}}},
};

enum { S_UNK, S_OK, S_TRY, S_FENCE, S_HTTP, S_BACKOFF, S_UNKN, S_WAIT, S_RA };

/* One event in one state: the actions and the state afterwards. */
struct cell {
  int setup;
  struct step ev;
};

static const struct cell matrix[] = {
    {S_UNK, {E_TOKEN, 0, 0, 0, 0, 0, "lockval try(need,-1) =WAIT", TRYING}},
    {S_UNK, {E_INVALID, 4, 0, 0, 0, 0, "=0", UNK}},
    {S_UNK, {E_ADVANCE, 10000, 0, 0, 0, 0, "", UNK}},
    {S_UNK, {E_REMOTE, 1, 5, 0, 0, 0, "", UNK}},
    {S_UNK, {E_REMOTE, 0, 4, 0, 0, 0, "", UNK}},
    {S_UNK, {E_RESUB, 0, 0, 0, 0, 0, "", UNK}},
    {S_UNK, {E_CLOSE, 0, 0, 0, 0, 0, "", UNK}},
    {S_OK, {E_TOKEN, 0, 0, 0, 0, 0, "=READY", OK}},
    {S_OK, {E_INVALID, 4, 0, 0, 0, 0, "lockval try(need,4) =1", TRYING}},
    {S_OK, {E_ADVANCE, 10000, 0, 0, 0, 0, "", OK}},
    {S_OK, {E_REMOTE, 1, 5, 0, 0, 0, "try(sync,4)", OK}},
    {S_OK, {E_REMOTE, 0, 4, 0, 0, 0, "try(sync,4)", OK}},
    {S_OK, {E_RESUB, 0, 0, 0, 0, 0, "try(sync,4)", OK}},
    {S_OK, {E_CLOSE, 0, 0, 0, 0, 0, "", OK}},
    {S_TRY, {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", TRYING}},
    {S_TRY, {E_INVALID, 4, 0, 0, 0, 0, "=0", TRYING}},
    {S_TRY, {E_ADVANCE, 10000, 0, 0, 0, 0, "", TRYING}},
    {S_TRY, {E_REMOTE, 1, 5, 0, 0, 0, "", TRYING}},
    {S_TRY, {E_REMOTE, 0, 4, 0, 0, 0, "", TRYING}},
    {S_TRY, {E_RESUB, 0, 0, 0, 0, 0, "", TRYING}},
    {S_TRY, {E_CLOSE, 0, 0, 0, 0, 0, "", TRYING}},
    {S_FENCE, {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", REFR}},
    {S_FENCE, {E_INVALID, 4, 0, 0, 0, 0, "=0", REFR}},
    {S_FENCE, {E_ADVANCE, 10000, 0, 0, 0, 0, "", REFR}},
    {S_FENCE, {E_REMOTE, 1, 5, 0, 0, 0, "", REFR}},
    {S_FENCE, {E_REMOTE, 0, 4, 0, 0, 0, "", REFR}},
    {S_FENCE, {E_RESUB, 0, 0, 0, 0, 0, "", REFR}},
    {S_FENCE, {E_CLOSE, 0, 0, 0, 0, 0, "", REFR}},
    {S_HTTP, {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", REFR}},
    {S_HTTP, {E_INVALID, 4, 0, 0, 0, 0, "=0", REFR}},
    {S_HTTP, {E_ADVANCE, 10000, 0, 0, 0, 0, "", REFR}},
    {S_HTTP, {E_REMOTE, 1, 5, 0, 0, 0, "", REFR}},
    {S_HTTP, {E_REMOTE, 0, 4, 0, 0, 0, "", REFR}},
    {S_HTTP, {E_RESUB, 0, 0, 0, 0, 0, "", REFR}},
    {S_HTTP, {E_CLOSE, 0, 0, 0, 0, 0, "", REFR}},
    {S_BACKOFF, {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", REFR}},
    {S_BACKOFF, {E_INVALID, 4, 0, 0, 0, 0, "=0", REFR}},
    {S_BACKOFF, {E_ADVANCE, 10000, 0, 0, 0, 0, "fire fence(2,1)", REFR}},
    {S_BACKOFF, {E_REMOTE, 1, 5, 0, 0, 0, "", REFR}},
    {S_BACKOFF, {E_REMOTE, 0, 4, 0, 0, 0, "", REFR}},
    {S_BACKOFF, {E_RESUB, 0, 0, 0, 0, 0, "", REFR}},
    {S_BACKOFF, {E_CLOSE, 0, 0, 0, 0, 0, "", REFR}},
    {S_UNKN, {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", REFR}},
    {S_UNKN, {E_INVALID, 4, 0, 0, 0, 0, "=0", REFR}},
    {S_UNKN, {E_ADVANCE, 10000, 0, 0, 0, 0, "fire try(need,0)", REFR}},
    {S_UNKN, {E_REMOTE, 1, 5, 0, 0, 0, "", REFR}},
    {S_UNKN, {E_REMOTE, 0, 4, 0, 0, 0, "", REFR}},
    {S_UNKN, {E_RESUB, 0, 0, 0, 0, 0, "", REFR}},
    {S_UNKN, {E_CLOSE, 0, 0, 0, 0, 0, "", REFR}},
    {S_WAIT, {E_TOKEN, 0, 0, 0, 0, 0, "=WAIT", WAITG}},
    {S_WAIT, {E_INVALID, 4, 0, 0, 0, 0, "=0", WAITG}},
    {S_WAIT, {E_ADVANCE, 10000, 0, 0, 0, 0, "fire try(need,-1)", WAITG}},
    {S_WAIT, {E_REMOTE, 1, 5, 0, 0, 0, "try(sync,-1)", WAITG}},
    {S_WAIT, {E_REMOTE, 0, 4, 0, 0, 0, "try(sync,-1)", WAITG}},
    {S_WAIT, {E_RESUB, 0, 0, 0, 0, 0, "try(sync,-1)", WAITG}},
    {S_WAIT, {E_CLOSE, 0, 0, 0, 0, 0, "", WAITG}},
    {S_RA, {E_TOKEN, 0, 0, 0, 0, 0, "=PARK", REAUTH}},
    {S_RA, {E_INVALID, 4, 0, 0, 0, 0, "=0", REAUTH}},
    {S_RA, {E_ADVANCE, 10000, 0, 0, 0, 0, "", REAUTH}},
    {S_RA, {E_REMOTE, 1, 5, 0, 0, 0, "try(sync,-1)", REAUTH}},
    {S_RA, {E_REMOTE, 0, 4, 0, 0, 0, "try(sync,-1)", REAUTH}},
    {S_RA, {E_RESUB, 0, 0, 0, 0, 0, "try(sync,-1)", REAUTH}},
    {S_RA, {E_CLOSE, 0, 0, 0, 0, 0, "", REAUTH}},
};

static void
every_event_in_every_state(void **state)
{
  size_t i, j;
  int seen[sizeof(setups) / sizeof(setups[0])][E_FENCE + 1];

  (void)state;
  memset(seen, 0, sizeof(seen));
  for (i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
    const struct cell *c = &matrix[i];
    struct scenario sc;
    size_t n = 0;

    memset(&sc, 0, sizeof(sc));
    sc.name = setups[c->setup].name;
    for (j = 0; j < sizeof(sc.steps) / sizeof(sc.steps[0]) - 2 &&
                setups[c->setup].steps[j].ev != E_END;
         j++)
      sc.steps[n++] = setups[c->setup].steps[j];
    sc.steps[n++] = c->ev;
    run_scenario(&sc);
    seen[c->setup][c->ev.ev] = 1;
  }
  /* The table is complete: each of these events in each state. */
  for (i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
    static const enum ev anytime[] = {E_TOKEN,  E_INVALID, E_ADVANCE,
                                      E_REMOTE, E_RESUB,   E_CLOSE};

    for (j = 0; j < sizeof(anytime) / sizeof(anytime[0]); j++) {
      if (!seen[i][anytime[j]])
        print_error("missing: event %d in %s\n", (int)anytime[j],
                    setups[i].name);
      assert_true(seen[i][anytime[j]]);
    }
  }
}

/* The backoff after a 429/5xx without Retry-After: full jitter from 1 s,
 * doubling per attempt, capped at 60 s, and never below a hint. */
static void
token_endpoint_backoff_grows_to_its_cap(void **state)
{
  uint64_t rnd = 12345, max[8] = {0};
  unsigned attempt;
  int i;

  (void)state;
  for (i = 0; i < 2000; i++) {
    struct mock *m = calloc(1, sizeof(*m));

    assert_non_null(m);
    m->now_ms = T0_MS;
    pacer_cred_fsm_init(&m->f, SKEW_S, &mock_ops, m);
    m->f.st = PACER_CRED_FSM_REFRESHING;
    for (attempt = 1; attempt <= 8; attempt++) {
      uint64_t d, ceiling = 1000u << (attempt - 1);

      m->f.attempt = attempt;
      m->f.http_out = 1;
      d = pacer_cred_fsm_answer(&m->f, PACER_CRED_FSM_ANSWER_RETRY, NULL,
                                "transport", 0, pacer_prng_next(&rnd));
      if (ceiling > 60000)
        ceiling = 60000;
      assert_true(d <= ceiling);
      if (d > max[attempt - 1])
        max[attempt - 1] = d;
      assert_int_equal(m->f.http_out, 0);
      assert_int_equal(m->f.n_failed, attempt);
      assert_int_equal(
          m->f.pending != NULL || m->last_fail != NULL || m->recs == 0, 1);
      if (m->last_fail != NULL) {
        free(m->last_fail);
        m->last_fail = NULL;
        m->recs--;
      }
    }
    free(m);
  }
  assert_true(max[0] > 900);    /* the range is used */
  assert_true(max[6] > 50000);  /* 64 s ceiling capped at 60 s */
  assert_true(max[7] <= 60000); /* the cap */
}

static void
state_names_are_the_metrics_names(void **state)
{
  (void)state;
  assert_string_equal(pacer_cred_fsm_state_name(UNK), "unknown");
  assert_string_equal(pacer_cred_fsm_state_name(OK), "ok");
  assert_string_equal(pacer_cred_fsm_state_name(TRYING), "loading");
  assert_string_equal(pacer_cred_fsm_state_name(REFR), "refreshing");
  assert_string_equal(pacer_cred_fsm_state_name(WAITG), "waiting");
  assert_string_equal(pacer_cred_fsm_state_name(REAUTH), "reauth_required");
  assert_string_equal(pacer_cred_fsm_state_name((enum pacer_cred_fsm_state)99),
                      "unknown");
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_scenario_takes_its_actions),
      cmocka_unit_test(every_event_in_every_state),
      cmocka_unit_test(token_endpoint_backoff_grows_to_its_cap),
      cmocka_unit_test(state_names_are_the_metrics_names),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
