/* Differential test: the GCRA that runs against the GCRA that is tested.
 *
 * The production scripts (store/lua/limit_take.lua and limit_pause.lua,
 * the very text pacer embeds) run in the fixture redis-server with an
 * injected virtual clock (their optional trailing now_us argument); the
 * reference model (core/gcra.c) runs on the same clock. On seeded random
 * sequences of takes (random buckets, costs, slot counts and horizons),
 * pauses (429s, so AIMD halving and recovery) and time steps (the same
 * instant, multiples of 20 ms where Lua's doubles round down, idle gaps
 * beyond a period for warm-up, gaps beyond the state TTL, small steps
 * back), every reply and every stored hash field must agree exactly.
 *
 * Redis expires a hash on its own (real-time) clock, so the test expires
 * it on the virtual one: a key whose TTL (as the model says the script set
 * it, and as PTTL confirms) has passed in virtual time is deleted on both
 * sides, as production would find it gone.
 *
 * The take script's last key, the operator pause of every bucket
 * (<prefix>oppause), is passed but never set: it is not modelled, and
 * test oppause_lua checks it.
 *
 * GCRA_DIFF_SEED=<n> replays one seed; GCRA_DIFF_STEPS=<n> sets the steps
 * per seed. Needs REDIS_SOCK (tests/integration/CMakeLists.txt).
 */
/* cmocka.h needs these four first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "fixture_conn.h"

#include "common/util.h"
#include "core/backoff.h"
#include "core/gcra.h"
#include "store/lua_scripts.h"

#define NBUCKETS    6                          /* buckets per run */
#define T0_US       UINT64_C(1700000000000000) /* virtual start, unix us */
#define S_US        UINT64_C(1000000)          /* one second, us */
#define STEPS_DEF   5000                       /* steps per seed */
#define REASON_SIZE 48                         /* pause reason, bytes */

struct bucket {
  char key[96];
  struct pacer_gcra_args args;
  uint64_t aimd_window_us; /* limit_pause.lua's; 0 when not adaptive */
  struct pacer_gcra_state st;
  char reason[REASON_SIZE]; /* pause_reason as stored; "" when absent */
  uint64_t expire_unix_us;  /* virtual expiry of the hash; 0: none */
};

struct run {
  redisContext *c;
  uint64_t prng;
  uint64_t seed;
  uint64_t now_us;    /* the virtual clock, unix us */
  uint64_t latest_us; /* the latest now_us so far, unix us */
  unsigned step;
  struct bucket b[NBUCKETS];
  char allkey[96];   /* <prefix>oppause: never set here (not modelled) */
  char last_op[512]; /* the step being checked, for failure reports */
};

/* What the sequences covered, summed over seeds: the test fails if a
 * kind of step never happened, so it cannot pass by checking nothing. */
enum cover {
  C_GRANTED, /* takes that reserved slots */
  C_MULTI,   /* ... more than one */
  C_BUSY,    /* takes answered with a wait */
  C_HOLE,    /* ... within the horizon: no hole in a faster bucket */
  C_PAUSED,  /* takes answered with a pause and its reason */
  C_WARM,    /* takes that started a warm-up (since = now) */
  C_SHARE,   /* takes on a lowered AIMD share */
  C_ROUNDED, /* ... where Lua's recovery rounds down */
  C_BEFORE,  /* ... read before its aimd_at (clock stepped back) */
  C_PAUSES,  /* pauses */
  C_HALVED,  /* pauses that halved the share */
  C_FLOOR,   /* ... to the floor */
  C_EXPIRED, /* hashes expired */
  C_BACK,    /* steps back in time */
  C_COUNT
};

static const char *const cover_names[C_COUNT] = {"granted",
                                                 "multi-slot",
                                                 "busy",
                                                 "busy: no hole",
                                                 "paused",
                                                 "warm-up",
                                                 "lowered share",
                                                 "recovery rounded down",
                                                 "share before aimd_at",
                                                 "pauses",
                                                 "halved",
                                                 "at floor",
                                                 "expired",
                                                 "steps back"};
static unsigned long covered[C_COUNT];

static uint64_t
rnd(struct run *r, uint64_t n)
{
  return n ? pacer_prng_next(&r->prng) % n : 0;
}

/* Reports where the model and the script part, then fails. */
static void
disagree(struct run *r, const char *what, ...)
{
  va_list ap;

  fprintf(stderr, "gcra_diff: seed %" PRIu64 " step %u now %" PRIu64 ": ",
          r->seed, r->step, r->now_us);
  va_start(ap, what);
  vfprintf(stderr, what, ap);
  va_end(ap);
  fprintf(stderr, "\n  op: %s\n  replay: GCRA_DIFF_SEED=%" PRIu64 "\n",
          r->last_op, r->seed);
  fail();
}

static redisReply *
command(struct run *r, int argc, const char **argv)
{
  redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);

  if (rep == NULL)
    disagree(r, "redis: %s", r->c->errstr);
  if (rep->type == REDIS_REPLY_ERROR)
    disagree(r, "redis error: %s", rep->str);
  return rep;
}

/* ------------------------------------------------------------------------
 * Random buckets
 * ------------------------------------------------------------------------ */

static void
configure(struct run *r, struct bucket *b)
{
  static const struct {
    uint64_t count, period_us;
  } rates[] = {{10, S_US},          {100, S_US},      {3, S_US},
               {1000, S_US},        {600, 60 * S_US}, {7, 60 * S_US},
               {5000, 3600 * S_US}, {1, 3600 * S_US}, {50, S_US}};
  struct pacer_gcra_limit l;
  size_t k = (size_t)rnd(r, PACER_ARRAY_SIZE(rates));
  uint64_t burst = rnd(r, 8) == 0 ? 100 : rnd(r, 6);
  uint32_t cost = 1 + (uint32_t)rnd(r, burst + 1 < 3 ? burst + 1 : 3);

  assert_int_equal(
      pacer_gcra_limit_init(&l, rates[k].count, rates[k].period_us, burst), 0);
  pacer_gcra_args_init(&b->args, &l, rates[k].period_us, cost,
                       (int)rnd(r, 3) != 0);
  b->aimd_window_us = b->args.adaptive ? pacer_gcra_aimd_window_us(&l) : 0;
}

/* ------------------------------------------------------------------------
 * Comparing the stored hash
 * ------------------------------------------------------------------------ */

/* Field `name` of reply h (an HGETALL reply) must read as v: absent when
 * v is 0 (the scripts read an absent field as 0), else exactly v in
 * decimal. */
static void
check_field(struct run *r, const struct bucket *b, const redisReply *h,
            const char *name, uint64_t v)
{
  char want[24];
  size_t i;

  snprintf(want, sizeof(want), "%" PRIu64, v);
  for (i = 0; i + 1 < h->elements; i += 2) {
    if (strcmp(h->element[i]->str, name) != 0)
      continue;
    if (strcmp(h->element[i + 1]->str, want) != 0 &&
        !(v == 0 && strcmp(h->element[i + 1]->str, "0") == 0))
      disagree(r, "%s %s: script stored %s, model %s", b->key, name,
               h->element[i + 1]->str, want);
    return;
  }
  if (v != 0)
    disagree(r, "%s %s: script stored nothing, model %s", b->key, name, want);
}

static void
check_bucket(struct run *r, const struct bucket *b)
{
  static const char *const known[] = {"tat",      "since",   "pause_until",
                                      "permille", "aimd_at", "last_429",
                                      "quick",    "taker",   "pause_reason"};
  const char *argv[] = {"HGETALL", b->key};
  redisReply *h = command(r, 2, argv);
  const char *reason = "";
  size_t i, k;

  assert_int_equal(h->type, REDIS_REPLY_ARRAY);
  for (i = 0; i + 1 < h->elements; i += 2) {
    for (k = 0; k < PACER_ARRAY_SIZE(known); k++) {
      if (strcmp(h->element[i]->str, known[k]) == 0)
        break;
    }
    if (k == PACER_ARRAY_SIZE(known))
      disagree(r, "%s: unexpected field %s", b->key, h->element[i]->str);
    if (k == PACER_ARRAY_SIZE(known) - 1)
      reason = h->element[i + 1]->str;
  }
  check_field(r, b, h, "tat", b->st.tat_unix_us);
  check_field(r, b, h, "since", b->st.since_unix_us);
  check_field(r, b, h, "pause_until", b->st.pause_until_unix_us);
  check_field(r, b, h, "permille", b->st.permille);
  check_field(r, b, h, "aimd_at", b->st.aimd_at_unix_us);
  check_field(r, b, h, "last_429", b->st.last_429_unix_us);
  check_field(r, b, h, "quick", b->st.quick);
  check_field(r, b, h, "taker", b->st.taker);
  if (strcmp(reason, b->reason) != 0)
    disagree(r, "%s pause_reason: script \"%s\", model \"%s\"", b->key, reason,
             b->reason);
  freeReplyObject(h);
}

/* The script set the hash's TTL to ttl_ms just now (real time): PTTL is
 * at most that and not far below. Then the virtual expiry is set. */
static void
check_ttl(struct run *r, struct bucket *b, uint64_t ttl_ms)
{
  const char *argv[] = {"PTTL", b->key};
  redisReply *t = command(r, 2, argv);

  if (t->type != REDIS_REPLY_INTEGER || t->integer > (long long)ttl_ms ||
      t->integer < (long long)ttl_ms - 5000)
    disagree(r, "%s: PTTL %lld, model set %" PRIu64 " ms", b->key,
             t->type == REDIS_REPLY_INTEGER ? t->integer : -99, ttl_ms);
  freeReplyObject(t);
  b->expire_unix_us = r->now_us + ttl_ms * 1000u;
}

/* ------------------------------------------------------------------------
 * Steps
 * ------------------------------------------------------------------------ */

static void
step_take(struct run *r)
{
  static const uint64_t horizons[] = {0, 20000, 250000, 250000, 2000000};
  static const uint64_t leads[] = {0, 0, 15000, 300000};
  static const uint64_t guards[] = {0, 0, 4000, 50000};
  char numbuf[2 + 6 * 3 + 4][24];
  const char *argv[3 + 3 + 1 + 2 + 6 * 3 + 4];
  struct pacer_gcra_args a[3];
  struct pacer_gcra_state st[3];
  struct pacer_gcra_take_result m;
  struct bucket *pick[3];
  size_t n = 1 + (size_t)rnd(r, 3), i, na = 0, nnum = 0, len;
  unsigned nslots = rnd(r, 3) == 0 ? 1 : 1 + (unsigned)rnd(r, 32);
  uint64_t horizon = horizons[rnd(r, PACER_ARRAY_SIZE(horizons))];
  uint64_t lead = leads[rnd(r, PACER_ARRAY_SIZE(leads))];
  uint64_t guard = guards[rnd(r, PACER_ARRAY_SIZE(guards))];
  uint64_t taker = rnd(r, 4); /* 0: none, sent as "" */
  redisReply *rep;
  int rc;

  if (horizon == 2000000)
    horizon = rnd(r, 2000000);
  /* n distinct buckets */
  for (i = 0; i < n; i++) {
    size_t k;

    do {
      size_t j;

      k = (size_t)rnd(r, NBUCKETS);
      for (j = 0; j < i && pick[j] != &r->b[k]; j++)
        ;
      if (j == i)
        break;
    } while (1);
    pick[i] = &r->b[k];
    a[i] = pick[i]->args;
    st[i] = pick[i]->st;
  }
  argv[na++] = "EVAL";
  argv[na++] = pacer_lua_limit_take;
  snprintf(numbuf[nnum], sizeof(numbuf[0]), "%zu", n + 1);
  argv[na++] = numbuf[nnum++];
  for (i = 0; i < n; i++)
    argv[na++] = pick[i]->key;
  argv[na++] = r->allkey; /* the buckets, then the pause of all */
  snprintf(numbuf[nnum], sizeof(numbuf[0]), "%u", nslots);
  argv[na++] = numbuf[nnum++];
  snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu64, horizon);
  argv[na++] = numbuf[nnum++];
  len = (size_t)snprintf(r->last_op, sizeof(r->last_op),
                         "take nslots=%u horizon_us=%" PRIu64, nslots, horizon);
  for (i = 0; i < n; i++) {
    const struct pacer_gcra_args *g = &a[i];

    /* the per-key arguments, in store/limiter.c's order */
    snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu64, g->interval_us);
    argv[na++] = numbuf[nnum++];
    snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu64, g->tolerance_us);
    argv[na++] = numbuf[nnum++];
    snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu32, g->cost);
    argv[na++] = numbuf[nnum++];
    argv[na++] = g->adaptive ? "1" : "0";
    snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu64, g->warm_interval_us);
    argv[na++] = numbuf[nnum++];
    snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu64, g->period_us);
    argv[na++] = numbuf[nnum++];
    if (len < sizeof(r->last_op))
      len += (size_t)snprintf(
          r->last_op + len, sizeof(r->last_op) - len,
          " [%s T=%" PRIu64 " tau=%" PRIu64 " cost=%" PRIu32 " aimd=%d"
          " warmT=%" PRIu64 " period=%" PRIu64 "]",
          pick[i]->key, g->interval_us, g->tolerance_us, g->cost, g->adaptive,
          g->warm_interval_us, g->period_us);
  }
  snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu64, r->now_us);
  argv[na++] = numbuf[nnum++];
  /* the optional lead, guard and taker after now: absent (as 0, 0, "")
   * or given */
  if (lead != 0 || guard != 0 || taker != 0 || rnd(r, 2) == 0) {
    snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu64, lead);
    argv[na++] = numbuf[nnum++];
    snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu64, guard);
    argv[na++] = numbuf[nnum++];
    if (taker != 0)
      snprintf(numbuf[nnum], sizeof(numbuf[0]), "%" PRIu64, taker);
    else
      numbuf[nnum][0] = '\0';
    argv[na++] = numbuf[nnum++];
    if (len < sizeof(r->last_op))
      len += (size_t)snprintf(r->last_op + len, sizeof(r->last_op) - len,
                              " lead_us=%" PRIu64 " guard_us=%" PRIu64
                              " taker=%" PRIu64,
                              lead, guard, taker);
  }

  for (i = 0; i < n; i++) {
    int64_t d = (int64_t)r->now_us - (int64_t)st[i].aimd_at_unix_us;

    covered[C_BEFORE] += a[i].adaptive && st[i].permille != 0 && d < 0 &&
                         st[i].pause_until_unix_us <= r->now_us;
    if (a[i].adaptive && st[i].permille != 0 &&
        pacer_gcra_permille(st[i].permille, st[i].aimd_at_unix_us, r->now_us) <
            1000) {
      covered[C_SHARE]++;
      if (d > 0 && d % 20000 == 0 &&
          pacer_gcra_permille(st[i].permille, st[i].aimd_at_unix_us,
                              r->now_us) < st[i].permille + d / 20000)
        covered[C_ROUNDED]++;
    }
  }
  rc = pacer_gcra_take_ext(a, st, n, nslots, horizon, lead, guard, taker,
                           r->now_us, &m);
  if (rc != 0)
    disagree(r, "model declined: %s", pacer_err_name(rc));
  rep = command(r, (int)na, argv);
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
      rep->element[0]->type != REDIS_REPLY_INTEGER)
    disagree(r, "take: script reply is not {n, ...}");
  if (m.nslots > 0) {
    if (rep->element[0]->integer != (long long)m.nslots ||
        rep->elements != m.nslots + 2)
      disagree(r, "take: script granted %lld slots, model %u",
               rep->element[0]->integer, m.nslots);
    /* the reply ends with the script's now, the injected one */
    if (rep->element[m.nslots + 1]->type != REDIS_REPLY_INTEGER ||
        rep->element[m.nslots + 1]->integer != (long long)r->now_us)
      disagree(r, "take: script says now is %lld us, injected %" PRIu64,
               rep->element[m.nslots + 1]->integer, r->now_us);
    for (i = 0; i < m.nslots; i++) {
      if (rep->element[i + 1]->type != REDIS_REPLY_INTEGER ||
          rep->element[i + 1]->integer != (long long)m.slot_us[i])
        disagree(r, "take: slot %zu at %lld us, model %" PRIu64, i,
                 rep->element[i + 1]->integer, m.slot_us[i]);
    }
  } else {
    const char *want = m.paused_by == SIZE_MAX ? "" : pick[m.paused_by]->reason;

    if (rep->element[0]->integer != 0 || rep->elements != 3 ||
        rep->element[1]->type != REDIS_REPLY_INTEGER ||
        rep->element[2]->type != REDIS_REPLY_STRING)
      disagree(r, "take: script granted %lld slots, model waits %" PRIu64,
               rep->element[0]->integer, m.wait_us);
    if (rep->element[1]->integer != (long long)m.wait_us)
      disagree(r, "take: script waits %lld us, model %" PRIu64,
               rep->element[1]->integer, m.wait_us);
    if (strcmp(rep->element[2]->str, want) != 0)
      disagree(r, "take: script reason \"%s\", model \"%s\"",
               rep->element[2]->str, want);
  }
  freeReplyObject(rep);
  covered[m.nslots > 0              ? C_GRANTED
          : m.paused_by != SIZE_MAX ? C_PAUSED
                                    : C_BUSY]++;
  covered[C_MULTI] += m.nslots > 1;
  /* a busy wait within the horizon: the first slot would leave a faster
   * bucket a hole (a wait beyond the horizon is the slot's own) */
  covered[C_HOLE] +=
      m.nslots == 0 && m.paused_by == SIZE_MAX && m.wait_us <= horizon;
  for (i = 0; i < n; i++) {
    covered[C_WARM] += m.nslots > 0 && st[i].since_unix_us == r->now_us &&
                       pick[i]->st.since_unix_us != r->now_us;
    pick[i]->st = st[i];
    if (m.ttl_ms != 0)
      check_ttl(r, pick[i], m.ttl_ms);
    check_bucket(r, pick[i]);
  }
}

/* A pause of min_ms to max_ms (max_ms 0: up to a minute, mostly
 * shorter). */
static void
step_pause(struct run *r, struct bucket *b, uint64_t min_ms, uint64_t max_ms)
{
  static const uint64_t spans_ms[] = {0, 100, 1000, 5000, 60000};
  uint64_t pause_ms =
      max_ms ? min_ms + rnd(r, max_ms - min_ms + 1)
             : rnd(r, spans_ms[rnd(r, PACER_ARRAY_SIZE(spans_ms))] + 1);
  uint64_t before = b->st.pause_until_unix_us, ttl_ms = 0;
  char ms[24], tol[24], win[24], now[24], reason[REASON_SIZE];
  const char *argv[] = {
      "EVAL", pacer_lua_limit_pause, "1", b->key, ms, reason, tol, win, now};
  redisReply *rep;
  int rc;

  snprintf(ms, sizeof(ms), "%" PRIu64, pause_ms);
  snprintf(tol, sizeof(tol), "%" PRIu64, b->args.tolerance_us);
  snprintf(win, sizeof(win), "%" PRIu64, b->aimd_window_us);
  snprintf(now, sizeof(now), "%" PRIu64, r->now_us);
  snprintf(reason, sizeof(reason), "Retry-After %" PRIu64 " ms (step %u %s)",
           pause_ms, r->step, strrchr(b->key, ':') + 1);
  snprintf(r->last_op, sizeof(r->last_op),
           "pause %s pause_ms=%s tau=%s aimd_window=%s", b->key, ms, tol, win);
  covered[C_PAUSES]++;
  rc = pacer_gcra_pause(&b->st, pause_ms, b->args.tolerance_us,
                        b->aimd_window_us, r->now_us, &ttl_ms);
  if (b->st.aimd_at_unix_us == r->now_us) {
    covered[C_HALVED]++;
    covered[C_FLOOR] += b->st.permille == PACER_GCRA_PERMILLE_MIN;
  }
  if (rc != 0)
    disagree(r, "model declined: %s", pacer_err_name(rc));
  /* the script writes the reason exactly when pause_until moves */
  if (b->st.pause_until_unix_us != before)
    snprintf(b->reason, sizeof(b->reason), "%s", reason);
  rep = command(r, (int)PACER_ARRAY_SIZE(argv), argv);
  if (rep->type != REDIS_REPLY_INTEGER || rep->integer != 1)
    disagree(r, "pause: script reply is not 1");
  freeReplyObject(rep);
  check_ttl(r, b, ttl_ms);
  check_bucket(r, b);
}

/* Writes a random state into a bucket's hash, on both sides: states the
 * scripts do not reach on their own today (a lowered share read before
 * its aimd_at with no pause, a TAT far ahead) must agree as well. */
static void
step_inject(struct run *r, struct bucket *b)
{
  char v[7][24];
  const char *del[] = {"DEL", b->key};
  const char *argv[] = {"HSET",        b->key, "tat",      v[0],
                        "since",       v[1],   "permille", v[2],
                        "aimd_at",     v[3],   "last_429", v[4],
                        "pause_until", v[5],   "quick",    v[6]};

  b->st.tat_unix_us = r->now_us - 2 * S_US + rnd(r, 6 * S_US);
  b->st.taker = 0; /* the DEL drops it */
  b->st.since_unix_us = r->now_us - rnd(r, 3 * S_US);
  b->st.permille = PACER_GCRA_PERMILLE_MIN + (uint32_t)rnd(r, 951);
  b->st.aimd_at_unix_us = r->now_us - 3 * S_US + rnd(r, 6 * S_US);
  b->st.last_429_unix_us = b->st.aimd_at_unix_us;
  b->st.pause_until_unix_us = rnd(r, 2) ? 0 : r->now_us - rnd(r, S_US);
  b->st.quick = (uint32_t)rnd(r, PACER_GCRA_AIMD_QUICK + 1);
  b->reason[0] = '\0';
  snprintf(v[0], sizeof(v[0]), "%" PRIu64, b->st.tat_unix_us);
  snprintf(v[1], sizeof(v[1]), "%" PRIu64, b->st.since_unix_us);
  snprintf(v[2], sizeof(v[2]), "%" PRIu32, b->st.permille);
  snprintf(v[3], sizeof(v[3]), "%" PRIu64, b->st.aimd_at_unix_us);
  snprintf(v[4], sizeof(v[4]), "%" PRIu64, b->st.last_429_unix_us);
  snprintf(v[5], sizeof(v[5]), "%" PRIu64, b->st.pause_until_unix_us);
  snprintf(v[6], sizeof(v[6]), "%" PRIu32, b->st.quick);
  snprintf(r->last_op, sizeof(r->last_op), "inject %s", b->key);
  freeReplyObject(command(r, 2, del));
  freeReplyObject(command(r, (int)PACER_ARRAY_SIZE(argv), argv));
  b->expire_unix_us = 0; /* no TTL until a script sets one */
  check_bucket(r, b);
}

/* Moves the virtual clock: mostly small steps, some exact multiples of
 * 20 ms (where Lua's recovery rounds down), idle gaps beyond a period,
 * now and then beyond the state TTL, and small steps back. */
static void
advance(struct run *r)
{
  uint64_t k = rnd(r, 100);

  if (k < 25)
    return; /* the same instant */
  if (k < 35 && k >= 30) {
    /* exactly at (or 1 us around) one of a bucket's boundaries, where an
     * off-by-one in a comparison would show */
    const struct bucket *b = &r->b[rnd(r, NBUCKETS)];
    uint64_t edges[7], t;

    edges[0] = b->st.tat_unix_us + b->args.period_us;
    edges[1] = b->st.since_unix_us + b->args.period_us;
    edges[2] = b->st.pause_until_unix_us;
    edges[3] = b->st.aimd_at_unix_us + PACER_GCRA_AIMD_GAP_US;
    edges[4] = b->st.pause_until_unix_us + b->aimd_window_us;
    edges[5] = b->st.tat_unix_us - b->args.tolerance_us;
    edges[6] = b->st.last_429_unix_us;
    t = edges[rnd(r, 7)] + rnd(r, 3) - 1;
    if (t > r->latest_us - S_US && t < r->latest_us + 600 * S_US) {
      r->now_us = t;
      return;
    }
  }
  if (k < 30) {
    /* a whole number of 20 ms steps after a bucket's last halving, where
     * Lua's recovery can round down (core/gcra.c) */
    const struct bucket *b = &r->b[rnd(r, NBUCKETS)];
    uint64_t at = b->st.aimd_at_unix_us;

    if (at != 0 && at <= r->now_us) {
      r->now_us = at + 20000 * ((r->now_us - at) / 20000 + rnd(r, 60));
      return;
    }
  }
  if (k < 60)
    r->now_us += 1 + rnd(r, 30000);
  else if (k < 75)
    r->now_us += 20000 * (1 + rnd(r, 60));
  else if (k < 88)
    r->now_us += rnd(r, 3 * S_US);
  else if (k < 94)
    r->now_us += S_US + rnd(r, 120 * S_US);
  else if (k < 95)
    r->now_us += 3000 * S_US + rnd(r, 1200 * S_US);
  else {
    r->now_us -= rnd(r, 3 * S_US); /* Redis' clock stepped back */
    covered[C_BACK]++;
  }
  /* never more than 5 s behind the latest time */
  if (r->now_us > r->latest_us)
    r->latest_us = r->now_us;
  if (r->now_us < r->latest_us - 5 * S_US)
    r->now_us = r->latest_us - 5 * S_US;
}

/* A hash whose TTL ran out in virtual time is gone, as in production. */
static void
expire(struct run *r)
{
  size_t i;

  for (i = 0; i < NBUCKETS; i++) {
    struct bucket *b = &r->b[i];
    const char *argv[] = {"DEL", b->key};

    if (b->expire_unix_us == 0 || r->now_us < b->expire_unix_us)
      continue;
    freeReplyObject(command(r, 2, argv));
    covered[C_EXPIRED]++;
    memset(&b->st, 0, sizeof(b->st));
    b->reason[0] = '\0';
    b->expire_unix_us = 0;
  }
}

static void
run_seed(redisContext *c, uint64_t seed, unsigned steps)
{
  struct run *r = calloc(1, sizeof(*r));
  size_t i;

  assert_non_null(r);
  r->c = c;
  r->seed = seed;
  r->prng = seed * 0x9E3779B97F4A7C15u + 1u;
  r->now_us = T0_US + rnd(r, 1000 * S_US);
  snprintf(r->allkey, sizeof(r->allkey),
           "pacer-gcra-diff:%ld:%" PRIu64 ":oppause", (long)getpid(), seed);
  for (i = 0; i < NBUCKETS; i++) {
    const char *argv[] = {"DEL", r->b[i].key};

    snprintf(r->b[i].key, sizeof(r->b[i].key),
             "pacer-gcra-diff:%ld:%" PRIu64 ":limit:b%zu", (long)getpid(), seed,
             i);
    configure(r, &r->b[i]);
    freeReplyObject(command(r, 2, argv));
  }
  for (r->step = 0; r->step < steps; r->step++) {
    uint64_t k = rnd(r, 100);

    expire(r);
    if (k < 72) {
      step_take(r);
    } else if (k < 93) {
      step_pause(r, &r->b[rnd(r, NBUCKETS)], 0, 0);
    } else if (k < 96) {
      /* two buckets paused for the same span at the same instant: a take
       * over both must name the first one's reason */
      struct bucket *b1 = &r->b[rnd(r, NBUCKETS)];
      struct bucket *b2 = &r->b[rnd(r, NBUCKETS)];
      uint64_t prng = r->prng;

      step_pause(r, b1, 0, 0);
      r->prng = prng; /* the same pause_ms */
      step_pause(r, b2, 0, 0);
    } else if (k < 98) {
      /* a 429 storm on one bucket: each 429 comes soon after the pause
       * before it ended (mostly within the AIMD window: the share halves
       * each time, down to the floor) or while it stands; takes between */
      struct bucket *b = &r->b[rnd(r, NBUCKETS)];
      unsigned j, n = 4 + (unsigned)rnd(r, 14);
      /* exact: Retry-After 1 and the 429 within 10 ms of its end, so the
       * share recovers 50 between halvings and reaches the floor */
      int exact_1s = (int)rnd(r, 2);

      for (j = 0; j < n; j++) {
        uint64_t w = b->aimd_window_us + b->aimd_window_us / 4;

        if (w > 2 * S_US)
          w = 2 * S_US;
        if (exact_1s && w > 10000)
          w = 10000;
        step_pause(r, b, 1000, exact_1s ? 1000 : 1500);
        if (!exact_1s && rnd(r, 5) == 0)
          r->now_us += rnd(r, 200000); /* maybe still paused */
        else
          r->now_us = b->st.pause_until_unix_us + rnd(r, w + 1);
        if (rnd(r, 2))
          step_take(r);
      }
    } else if (k < 99) {
      configure(r, &r->b[rnd(r, NBUCKETS)]); /* a config reload */
    } else {
      step_inject(r, &r->b[rnd(r, NBUCKETS)]);
    }
    advance(r);
  }
  for (i = 0; i < NBUCKETS; i++) {
    const char *argv[] = {"DEL", r->b[i].key};

    check_bucket(r, &r->b[i]);
    freeReplyObject(command(r, 2, argv));
  }
  free(r);
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void
script_and_model_agree_on_random_sequences(void **state)
{
  const char *one = getenv("GCRA_DIFF_SEED");
  const char *steps_env = getenv("GCRA_DIFF_STEPS");
  unsigned steps = steps_env ? (unsigned)strtoul(steps_env, NULL, 10) : 0;
  redisContext *c = fixture_connect("gcra_diff");
  uint64_t seed;
  size_t k;

  (void)state;
  if (steps == 0)
    steps = STEPS_DEF;
  if (one != NULL && one[0] != '\0') {
    run_seed(c, strtoull(one, NULL, 10), steps);
  } else {
    for (seed = 1; seed <= 3; seed++)
      run_seed(c, seed, steps);
  }
  redisFree(c);
  for (k = 0; k < C_COUNT; k++) {
    fprintf(stderr, "gcra_diff: %-22s %lu\n", cover_names[k], covered[k]);
    if (covered[k] == 0) {
      fprintf(stderr, "gcra_diff: no step covered \"%s\"\n", cover_names[k]);
      fail();
    }
  }
}

static void
scripts_without_now_use_redis_time(void **state)
{
  /* The production call: no trailing now_us, so Redis TIME. */
  redisContext *c = fixture_connect("gcra_diff");
  char key[96], pkey[96], akey[96];
  const char *del[] = {"DEL", key, pkey};
  const char *time_argv[] = {"TIME"};
  const char *take[] = {"EVAL",   pacer_lua_limit_take,
                        "2",      key,
                        akey,     "4",
                        "250000", "102000",
                        "0",      "1",
                        "1",      "106000",
                        "1000000"};
  const char *pause[] = {"EVAL", pacer_lua_limit_pause, "1", pkey,
                         "2000", "Retry-After 2 s",     "0", "160000"};
  const char *hget[] = {"HMGET", key, "since", "tat"};
  const char *phget[] = {"HMGET", pkey, "pause_until", "last_429"};
  redisReply *t, *rep;
  uint64_t before, since, tat;

  (void)state;
  snprintf(key, sizeof(key), "pacer-gcra-diff:%ld:limit:time", (long)getpid());
  snprintf(pkey, sizeof(pkey), "pacer-gcra-diff:%ld:limit:ptime",
           (long)getpid());
  snprintf(akey, sizeof(akey), "pacer-gcra-diff:%ld:oppause", (long)getpid());
  freeReplyObject(redisCommandArgv(c, 3, del, NULL));
  t = redisCommandArgv(c, 1, time_argv, NULL);
  assert_non_null(t);
  before = strtoull(t->element[0]->str, NULL, 10) * S_US +
           strtoull(t->element[1]->str, NULL, 10);
  freeReplyObject(t);
  rep = redisCommandArgv(c, (int)PACER_ARRAY_SIZE(take), take, NULL);
  assert_non_null(rep);
  assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
  /* a fresh bucket in warm-up: slots at 0, 106 and 212 ms */
  assert_int_equal(rep->element[0]->integer, 3);
  assert_int_equal(rep->element[2]->integer, 106000);
  freeReplyObject(rep);
  rep = redisCommandArgv(c, 4, hget, NULL);
  assert_non_null(rep);
  since = strtoull(rep->element[0]->str, NULL, 10);
  tat = strtoull(rep->element[1]->str, NULL, 10);
  freeReplyObject(rep);
  /* since is Redis' now: not before TIME above, within a minute of it */
  assert_true(since >= before && since < before + 60 * S_US);
  assert_int_equal(tat, since + 318000);
  rep = redisCommandArgv(c, (int)PACER_ARRAY_SIZE(pause), pause, NULL);
  assert_non_null(rep);
  assert_int_equal(rep->integer, 1);
  freeReplyObject(rep);
  rep = redisCommandArgv(c, 4, phget, NULL);
  assert_non_null(rep);
  since = strtoull(rep->element[1]->str, NULL, 10);
  assert_true(since >= before && since < before + 60 * S_US);
  assert_int_equal(strtoull(rep->element[0]->str, NULL, 10), since + 2 * S_US);
  freeReplyObject(rep);
  freeReplyObject(redisCommandArgv(c, 3, del, NULL));
  redisFree(c);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(scripts_without_now_use_redis_time),
      cmocka_unit_test(script_and_model_agree_on_random_sequences),
  };

  return cmocka_run_group_tests_name("gcra_diff", tests, NULL, NULL) != 0;
}
