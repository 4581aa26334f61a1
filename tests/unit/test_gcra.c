/* Unit tests for core/gcra.c, the reference model of the limiter scripts
 * (store/lua/limit_take.lua, limit_pause.lua), on a virtual clock:
 * conformance at the boundaries, burst, cost, slots within a horizon,
 * warm-up, pauses, AIMD, the Lua roundings, extreme rates, all-or-nothing
 * takes and the sliding-window property. Test gcra_diff checks the
 * model against the scripts themselves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "core/backoff.h"
#include "core/gcra.h"

#define S_US   UINT64_C(1000000) /* one second, us */
#define MIN_US (60 * S_US)       /* one minute, us */
#define H_US   (3600 * S_US)     /* one hour, us */
#define W_US   UINT64_C(160000)  /* AIMD window of 100/s: 16 x 10 ms, us */
#define T0_US  UINT64_C(1700000000000000) /* 2023-11-14T22:13:20Z, unix us */

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static struct pacer_gcra_limit
limit(uint64_t count, uint64_t period_us, uint64_t burst)
{
  struct pacer_gcra_limit l = {0, 0};

  assert_int_equal(pacer_gcra_limit_init(&l, count, period_us, burst), 0);
  return l;
}

/* A bucket with the configured interval, no spacing margin and no
 * warm-up: the classic GCRA, whose properties then hold exactly. */
static struct pacer_gcra_args
plain(uint64_t count, uint64_t period_us, uint64_t burst)
{
  struct pacer_gcra_limit l = limit(count, period_us, burst);
  struct pacer_gcra_args a;

  memset(&a, 0, sizeof(a));
  a.interval_us = l.interval_us;
  a.warm_interval_us = l.interval_us;
  a.tolerance_us = burst * l.interval_us;
  a.cost = 1;
  a.period_us = period_us;
  return a;
}

/* One slot, no horizon: 0 when granted at now, else PACER_ELIMIT with
 * *wait_us (may be NULL) set. A limited take must change nothing. */
static int
take1(const struct pacer_gcra_args *a, struct pacer_gcra_state *st,
      uint64_t now, uint32_t cost, uint64_t *wait_us)
{
  struct pacer_gcra_args c = *a;
  struct pacer_gcra_state before = *st;
  struct pacer_gcra_take_result r;

  c.cost = cost;
  assert_int_equal(pacer_gcra_take(&c, st, 1, 1, 0, now, &r), 0);
  if (wait_us != NULL)
    *wait_us = r.wait_us;
  if (r.nslots == 1) {
    assert_int_equal(r.slot_us[0], 0);
    assert_int_equal(r.wait_us, 0);
    assert_int_equal(r.ttl_ms, PACER_GCRA_STATE_TTL_MS);
    return 0;
  }
  assert_int_equal(r.nslots, 0);
  assert_true(r.wait_us > 0);
  assert_int_equal(r.ttl_ms, 0);
  assert_memory_equal(st, &before, sizeof(before));
  return PACER_ELIMIT;
}

/* Largest number of times t[0..n) (ascending) inside any half-open window
 * of window_us: the window (t[i] - window_us, t[i]] for the best i. */
static size_t
max_in_window(const uint64_t *t, size_t n, uint64_t window_us)
{
  size_t i, j = 0, best = 0;

  for (i = 0; i < n; i++) {
    assert_true(i == 0 || t[i] >= t[i - 1]);
    while (t[j] + window_us <= t[i])
      j++;
    if (i - j + 1 > best)
      best = i - j + 1;
  }
  return best;
}

/* A dispatcher with `pending` requests ready at start_us: takes as soon as
 * the limiter allows, jumping the virtual clock by each reported wait.
 * Grant times go to out[0..pending). Returns the number of limited tries. */
static size_t
drain(const struct pacer_gcra_args *a, struct pacer_gcra_state *st,
      uint64_t start_us, size_t pending, uint32_t cost, uint64_t *out)
{
  uint64_t now = start_us, wait;
  size_t granted = 0, limited = 0;

  while (granted < pending) {
    if (take1(a, st, now, cost, &wait) == 0) {
      out[granted++] = now;
    } else {
      assert_true(wait <= cost * (a->interval_us > a->warm_interval_us
                                      ? a->interval_us
                                      : a->warm_interval_us));
      now += wait;
      limited++;
    }
  }
  return limited;
}

/* math.floor(d / 1000000 * 50) as Lua computes it, in C doubles (SSE2:
 * the same IEEE 754 operations). */
static int64_t
lua_floor_recovery(int64_t d)
{
  double v = (double)d / 1000000.0 * 50.0;
  int64_t t = (int64_t)v;

  return (double)t > v ? t - 1 : t;
}

/* ------------------------------------------------------------------------
 * Building limits and arguments
 * ------------------------------------------------------------------------ */

static void
limit_init_rounds_the_interval_up(void **state)
{
  (void)state;
  assert_int_equal(limit(10, S_US, 0).interval_us, 100000);
  assert_int_equal(limit(600, MIN_US, 0).interval_us, 100000);
  assert_int_equal(limit(5000, H_US, 7).interval_us, 720000);
  assert_int_equal(limit(5000, H_US, 7).burst, 7);
  assert_int_equal(limit(3, S_US, 0).interval_us, 333334); /* not 333333 */
  assert_int_equal(limit(7, MIN_US, 0).interval_us, 8571429);
  assert_int_equal(limit(1000000, S_US, 0).interval_us, 1);
  assert_int_equal(limit(60000000, MIN_US, 0).interval_us, 1);
  assert_int_equal(limit(1, H_US, 0).interval_us, H_US);
}

static void
limit_init_rejects_impossible_rates(void **state)
{
  struct pacer_gcra_limit l = {42, 43};

  (void)state;
  assert_int_equal(pacer_gcra_limit_init(&l, 0, S_US, 0), PACER_EINVAL);
  assert_int_equal(pacer_gcra_limit_init(&l, 10, 0, 0), PACER_EINVAL);
  /* faster than one per microsecond */
  assert_int_equal(pacer_gcra_limit_init(&l, 1000001, S_US, 0), PACER_EINVAL);
  assert_int_equal(pacer_gcra_limit_init(&l, UINT64_MAX, S_US, 0),
                   PACER_EINVAL);
  assert_int_equal(
      pacer_gcra_limit_init(&l, 10, S_US, PACER_GCRA_BURST_MAX + 1),
      PACER_EINVAL);
  assert_int_equal(pacer_gcra_limit_init(&l, 1, UINT64_MAX, 0), PACER_EINVAL);
  /* (burst + 1) * interval beyond the span bound: 1/h with 1e6 burst */
  assert_int_equal(pacer_gcra_limit_init(&l, 1, H_US, PACER_GCRA_BURST_MAX),
                   PACER_EINVAL);
  assert_int_equal(l.interval_us, 42); /* untouched on failure */
  assert_int_equal(l.burst, 43);
  assert_int_equal(pacer_gcra_limit_init(&l, 1, PACER_GCRA_SPAN_MAX_US, 0), 0);
}

static void
spaced_interval_absorbs_the_jitter_margin_per_period(void **state)
{
  struct pacer_gcra_limit l10 = limit(10, S_US, 0);
  struct pacer_gcra_limit l600 = limit(600, MIN_US, 0);
  struct pacer_gcra_limit l3 = limit(3, S_US, 0);

  (void)state;
  /* 2% at /s, 6% in the warm-up period (docs/LIMITS.md "Margin") */
  assert_int_equal(pacer_gcra_spaced_us(&l10, S_US, PACER_GCRA_JITTER_US),
                   102000);
  assert_int_equal(pacer_gcra_spaced_us(&l10, S_US, PACER_GCRA_JITTER_WARM_US),
                   106000);
  /* 0.03% and 0.1% at /min, rounded up */
  assert_int_equal(pacer_gcra_spaced_us(&l600, MIN_US, PACER_GCRA_JITTER_US),
                   100034);
  assert_int_equal(
      pacer_gcra_spaced_us(&l600, MIN_US, PACER_GCRA_JITTER_WARM_US), 100100);
  assert_int_equal(pacer_gcra_spaced_us(&l3, S_US, PACER_GCRA_JITTER_US),
                   340001);
  assert_int_equal(pacer_gcra_spaced_us(&l10, 0, 0), 100000);
}

static void
args_are_what_the_limiter_sends(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 4);
  struct pacer_gcra_args a;

  (void)state;
  pacer_gcra_args_init(&a, &l, S_US, 0, 7);
  assert_int_equal(a.interval_us, 102000);
  assert_int_equal(a.tolerance_us, 400000); /* burst * configured T */
  assert_int_equal(a.cost, 1);              /* 0 counts as 1 */
  assert_int_equal(a.adaptive, 1);
  assert_int_equal(a.warm_interval_us, 106000);
  assert_int_equal(a.period_us, S_US);
  pacer_gcra_args_init(&a, &l, S_US, 3, 0);
  assert_int_equal(a.cost, 3);
  assert_int_equal(a.adaptive, 0);
}

/* ------------------------------------------------------------------------
 * Conformance
 * ------------------------------------------------------------------------ */

static void
ten_per_second_conforms_exactly_every_100ms(void **state)
{
  static const uint64_t bases[] = {S_US, T0_US};
  struct pacer_gcra_args a = plain(10, S_US, 0);
  size_t b;
  uint64_t i;

  (void)state;
  for (b = 0; b < PACER_ARRAY_SIZE(bases); b++) {
    struct pacer_gcra_state st;
    uint64_t wait = 99;

    memset(&st, 0, sizeof(st));
    for (i = 0; i < 50; i++) {
      uint64_t now = bases[b] + i * 100000;

      if (i > 0) {
        /* 99.999 ms after the previous one: 1 us early */
        assert_int_equal(take1(&a, &st, now - 1, 1, &wait), PACER_ELIMIT);
        assert_int_equal(wait, 1);
      }
      assert_int_equal(take1(&a, &st, now, 1, &wait), 0);
      assert_int_equal(st.tat_unix_us, now + 100000);
    }
  }
}

static void
limited_take_changes_nothing_and_reports_the_exact_wait(void **state)
{
  struct pacer_gcra_args a = plain(10, S_US, 0);
  struct pacer_gcra_state st;
  uint64_t before, wait = 0;

  (void)state;
  memset(&st, 0, sizeof(st));
  assert_int_equal(take1(&a, &st, T0_US, 1, NULL), 0);
  before = st.tat_unix_us;
  assert_int_equal(take1(&a, &st, T0_US + 37000, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 63000);
  assert_int_equal(st.tat_unix_us, before);
  assert_int_equal(take1(&a, &st, T0_US + 37000 + wait - 1, 1, NULL),
                   PACER_ELIMIT);
  assert_int_equal(take1(&a, &st, T0_US + 37000 + wait, 1, &wait), 0);
}

static void
burst_allows_b_plus_one_at_once_then_one_per_interval(void **state)
{
  struct pacer_gcra_args a = plain(10, S_US, 4);
  struct pacer_gcra_state st;
  uint64_t wait = 0;
  int i;

  (void)state;
  memset(&st, 0, sizeof(st));
  for (i = 0; i < 5; i++)
    assert_int_equal(take1(&a, &st, T0_US, 1, &wait), 0);
  assert_int_equal(take1(&a, &st, T0_US, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 100000);
  assert_int_equal(take1(&a, &st, T0_US + 99999, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 1);
  assert_int_equal(take1(&a, &st, T0_US + 100000, 1, &wait), 0);
  assert_int_equal(take1(&a, &st, T0_US + 100000, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 100000);
}

static void
idle_bucket_refills_to_the_burst_and_no_further(void **state)
{
  struct pacer_gcra_args a = plain(10, S_US, 4);
  struct pacer_gcra_state st;
  uint64_t now = T0_US + H_US;
  int i;

  (void)state;
  memset(&st, 0, sizeof(st));
  for (i = 0; i < 5; i++)
    assert_int_equal(take1(&a, &st, T0_US, 1, NULL), 0);
  /* an hour idle banks nothing beyond the burst */
  for (i = 0; i < 5; i++)
    assert_int_equal(take1(&a, &st, now, 1, NULL), 0);
  assert_int_equal(take1(&a, &st, now, 1, NULL), PACER_ELIMIT);
  /* 250 ms later: two intervals have passed, two more conform */
  now += 250000;
  assert_int_equal(take1(&a, &st, now, 1, NULL), 0);
  assert_int_equal(take1(&a, &st, now, 1, NULL), 0);
  assert_int_equal(take1(&a, &st, now, 1, NULL), PACER_ELIMIT);
}

static void
cost_above_one_takes_that_many_intervals(void **state)
{
  struct pacer_gcra_args a = plain(10, S_US, 4);
  struct pacer_gcra_state st;
  uint64_t wait = 0;

  (void)state;
  memset(&st, 0, sizeof(st));
  assert_int_equal(take1(&a, &st, T0_US, 3, &wait), 0);
  assert_int_equal(st.tat_unix_us, T0_US + 300000);
  /* 2 units left of 5: a cost of 3 waits one interval */
  assert_int_equal(take1(&a, &st, T0_US, 3, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 100000);
  assert_int_equal(take1(&a, &st, T0_US, 2, &wait), 0);
  assert_int_equal(st.tat_unix_us, T0_US + 500000);
  /* empty: a cost of 5 (= burst + 1) waits the whole span */
  assert_int_equal(take1(&a, &st, T0_US, 5, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 500000);
  assert_int_equal(take1(&a, &st, T0_US + 500000, 5, &wait), 0);
}

static void
clock_stepping_back_keeps_the_tat_and_waits_for_it(void **state)
{
  /* The script does not pull a TAT back to the horizon: after Redis' clock
   * steps back, a bucket waits for the TAT it stored (a limited take
   * writes nothing). Strict, never extra; the state expires after
   * PACER_GCRA_STATE_TTL_MS idle. */
  struct pacer_gcra_args a = plain(10, S_US, 2);
  struct pacer_gcra_state st;
  uint64_t wait = 0, back = T0_US - 10 * S_US;
  int i;

  (void)state;
  memset(&st, 0, sizeof(st));
  for (i = 0; i < 3; i++)
    assert_int_equal(take1(&a, &st, T0_US, 1, NULL), 0);
  assert_int_equal(take1(&a, &st, back, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 10 * S_US + 100000);
  assert_int_equal(st.tat_unix_us, T0_US + 300000);
  assert_int_equal(take1(&a, &st, back + wait, 1, &wait), 0);
}

static void
values_beyond_two_to_the_53_are_declined_unchanged(void **state)
{
  struct pacer_gcra_args a = plain(10, S_US, 2);
  struct pacer_gcra_state st, before;
  struct pacer_gcra_take_result r;

  (void)state;
  memset(&st, 0, sizeof(st));
  st.tat_unix_us = UINT64_MAX; /* corrupt: Lua's doubles would round */
  before = st;
  assert_int_equal(pacer_gcra_take(&a, &st, 1, 1, 0, T0_US, &r),
                   PACER_ETOOLARGE);
  assert_memory_equal(&st, &before, sizeof(st));
  memset(&st, 0, sizeof(st));
  assert_int_equal(pacer_gcra_take(&a, &st, 1, 1, 0, PACER_GCRA_EXACT_MAX, &r),
                   PACER_ETOOLARGE);
  assert_int_equal(
      pacer_gcra_take(&a, &st, 1, 1, PACER_GCRA_EXACT_MAX - T0_US, T0_US, &r),
      PACER_ETOOLARGE);
  assert_int_equal(
      pacer_gcra_pause(&st, PACER_GCRA_EXACT_MAX / 1000u, 0, W_US, T0_US, NULL),
      PACER_ETOOLARGE);
  assert_int_equal(st.tat_unix_us, 0);
  assert_int_equal(st.tat_unix_us, 0);
}

static void
invalid_arguments_are_rejected(void **state)
{
  struct pacer_gcra_args a[17];
  struct pacer_gcra_state st[17];
  struct pacer_gcra_take_result r;
  size_t i;

  (void)state;
  memset(st, 0, sizeof(st));
  for (i = 0; i < 17; i++)
    a[i] = plain(10, S_US, 0);
  assert_int_equal(pacer_gcra_take(a, st, 1, 0, 0, T0_US, &r), PACER_EINVAL);
  assert_int_equal(
      pacer_gcra_take(a, st, 1, PACER_GCRA_SLOTS_MAX + 1, 0, T0_US, &r),
      PACER_EINVAL);
  assert_int_equal(pacer_gcra_take(a, st, 17, 1, 0, T0_US, &r), PACER_EINVAL);
  a[1].cost = 0;
  assert_int_equal(pacer_gcra_take(a, st, 2, 1, 0, T0_US, &r), PACER_EINVAL);
  assert_int_equal(st[0].tat_unix_us, 0);
  assert_int_equal(pacer_gcra_take(a, st, 16, 1, 0, T0_US, &r), PACER_EINVAL);
  a[1].cost = 1;
  assert_int_equal(
      pacer_gcra_take(a, st, 16, PACER_GCRA_SLOTS_MAX, 0, T0_US, &r), 0);
  assert_int_equal(r.nslots, 1);
}

/* ------------------------------------------------------------------------
 * Extreme rates
 * ------------------------------------------------------------------------ */

static void
one_million_per_second_grants_one_per_microsecond(void **state)
{
  struct pacer_gcra_args a = plain(1000000, S_US, 0);
  struct pacer_gcra_state st;
  uint64_t now, wait = 0, granted = 0;

  (void)state;
  memset(&st, 0, sizeof(st));
  for (now = T0_US; now < T0_US + S_US; now++) {
    assert_int_equal(take1(&a, &st, now, 1, NULL), 0);
    granted++;
    assert_int_equal(take1(&a, &st, now, 1, &wait), PACER_ELIMIT);
    assert_int_equal(wait, 1);
  }
  assert_int_equal(granted, 1000000);
  assert_int_equal(st.tat_unix_us, T0_US + S_US);
}

static void
one_per_hour_with_a_large_burst_stays_exact(void **state)
{
  struct pacer_gcra_args a = plain(1, H_US, 100000);
  struct pacer_gcra_state st;
  uint64_t wait = 0;

  (void)state;
  memset(&st, 0, sizeof(st));
  assert_int_equal(take1(&a, &st, T0_US, 100001, &wait), 0);
  assert_int_equal(st.tat_unix_us, T0_US + 100001 * H_US);
  assert_int_equal(take1(&a, &st, T0_US, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, H_US);
  assert_int_equal(take1(&a, &st, T0_US + H_US - 1, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 1);
  assert_int_equal(take1(&a, &st, T0_US + H_US, 1, &wait), 0);
  /* a 100001-unit request owes 100001 hours: still exact */
  assert_int_equal(take1(&a, &st, T0_US + H_US, 100001, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 100001 * H_US);
}

static void
three_per_second_never_puts_four_in_one_second(void **state)
{
  struct pacer_gcra_args a = plain(3, S_US, 0);
  struct pacer_gcra_state st;
  uint64_t grants[300];

  (void)state;
  memset(&st, 0, sizeof(st));
  drain(&a, &st, T0_US, PACER_ARRAY_SIZE(grants), 1, grants);
  assert_int_equal(max_in_window(grants, PACER_ARRAY_SIZE(grants), S_US), 3);
  /* and the rate is used: 300 grants take 99.7 s, not 101 */
  assert_true(grants[299] - grants[0] <= 299 * 333334);
}

/* ------------------------------------------------------------------------
 * Slots, horizons, all-or-nothing takes
 * ------------------------------------------------------------------------ */

/* docs/LIMITS.md "Against a strict limiter": a lead keeps the first slot
 * off `now`; a guard keeps one taker's block off another's. */
static void
take_ext_leads_and_guards_blocks_of_other_takers(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 0);
  struct pacer_gcra_args a;
  struct pacer_gcra_state st;
  struct pacer_gcra_take_result r;

  (void)state;
  pacer_gcra_args_init(&a, &l, S_US, 1, 0);
  memset(&st, 0, sizeof(st));
  /* taker 1, fresh bucket (warm-up: 106 ms): from now + 15 ms, a block of
   * 250 ms from its first slot */
  assert_int_equal(
      pacer_gcra_take_ext(&a, &st, 1, 32, 250000, 15000, 4000, 1, T0_US, &r),
      0);
  assert_int_equal(r.nslots, 3);
  assert_int_equal(r.slot_us[0], 15000);
  assert_int_equal(r.slot_us[1], 121000);
  assert_int_equal(r.slot_us[2], 227000);
  assert_int_equal(st.taker, 1);
  assert_int_equal(st.tat_unix_us, T0_US + 333000);
  /* taker 2: 4 ms after taker 1's slots, and its block reaches 250 ms
   * past its own first slot */
  assert_int_equal(pacer_gcra_take_ext(&a, &st, 1, 32, 250000, 15000, 4000, 2,
                                       T0_US + 100000, &r),
                   0);
  assert_int_equal(r.nslots, 3);
  assert_int_equal(r.slot_us[0], 237000);
  assert_int_equal(r.slot_us[1], 343000);
  assert_int_equal(r.slot_us[2], 449000);
  assert_int_equal(st.taker, 2);
  /* taker 2 again: after its own block, no guard; beyond the horizon */
  assert_int_equal(pacer_gcra_take_ext(&a, &st, 1, 32, 250000, 15000, 4000, 2,
                                       T0_US + 200000, &r),
                   0);
  assert_int_equal(r.nslots, 0);
  assert_int_equal(r.wait_us, 455000);
  /* a lead beyond the horizon grants nothing: the wait is the lead */
  memset(&st, 0, sizeof(st));
  assert_int_equal(
      pacer_gcra_take_ext(&a, &st, 1, 32, 10000, 15000, 0, 0, T0_US, &r), 0);
  assert_int_equal(r.nslots, 0);
  assert_int_equal(r.wait_us, 15000);
}

static void
take_reserves_the_slots_within_the_horizon_only(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 0);
  struct pacer_gcra_args a;
  struct pacer_gcra_state st, before;
  struct pacer_gcra_take_result r;

  (void)state;
  pacer_gcra_args_init(&a, &l, S_US, 1, 0);
  memset(&st, 0, sizeof(st));
  /* a fresh bucket is in warm-up: 106 ms apart, 3 slots in 250 ms */
  assert_int_equal(pacer_gcra_take(&a, &st, 1, 32, 250000, T0_US, &r), 0);
  assert_int_equal(r.nslots, 3);
  assert_int_equal(r.slot_us[0], 0);
  assert_int_equal(r.slot_us[1], 106000);
  assert_int_equal(r.slot_us[2], 212000);
  assert_int_equal(r.ttl_ms, PACER_GCRA_STATE_TTL_MS);
  assert_int_equal(st.tat_unix_us, T0_US + 318000);
  assert_int_equal(st.since_unix_us, T0_US);
  /* nslots caps it too */
  assert_int_equal(pacer_gcra_take(&a, &st, 1, 1, 250000, T0_US + 100000, &r),
                   0);
  assert_int_equal(r.nslots, 1);
  assert_int_equal(r.slot_us[0], 218000);
  assert_int_equal(st.tat_unix_us, T0_US + 424000);
  /* nothing within the horizon: the wait, and nothing written */
  before = st;
  assert_int_equal(pacer_gcra_take(&a, &st, 1, 32, 250000, T0_US + 100000, &r),
                   0);
  assert_int_equal(r.nslots, 0);
  assert_int_equal(r.wait_us, 324000);
  assert_int_equal(r.paused_by, SIZE_MAX);
  assert_int_equal(r.ttl_ms, 0);
  assert_memory_equal(&st, &before, sizeof(st));
}

static void
take_all_takes_from_every_bucket_or_none(void **state)
{
  /* 20/s per app and 10/s per token, stacked */
  struct pacer_gcra_args a[2];
  struct pacer_gcra_state st[2], copy[2];
  struct pacer_gcra_take_result r;

  (void)state;
  a[0] = plain(20, S_US, 0);
  a[1] = plain(10, S_US, 0);
  memset(st, 0, sizeof(st));
  assert_int_equal(pacer_gcra_take(a, st, 2, 1, 0, T0_US, &r), 0);
  assert_int_equal(r.nslots, 1);
  assert_int_equal(st[0].tat_unix_us, T0_US + 50000);
  assert_int_equal(st[1].tat_unix_us, T0_US + 100000);
  memcpy(copy, st, sizeof(copy));
  /* the app bucket alone would conform at 50 ms; the token one would not */
  assert_int_equal(take1(&a[0], &copy[0], T0_US + 50000, 1, NULL), 0);
  memcpy(copy, st, sizeof(copy));
  assert_int_equal(pacer_gcra_take(a, st, 2, 1, 0, T0_US + 50000, &r), 0);
  assert_int_equal(r.nslots, 0);
  assert_int_equal(r.wait_us, 50000);
  assert_memory_equal(st, copy, sizeof(copy));
  /* at the token's slot, up to 5 in 150 ms: one, and both buckets
   * advance; the next (token at 200 ms) would leave the app bucket a
   * whole interval unused (150 ms), so it is not taken */
  assert_int_equal(pacer_gcra_take(a, st, 2, 5, 150000, T0_US + 100000, &r), 0);
  assert_int_equal(r.nslots, 1);
  assert_int_equal(r.slot_us[0], 0);
  assert_int_equal(st[0].tat_unix_us, T0_US + 150000);
  assert_int_equal(st[1].tat_unix_us, T0_US + 200000);
  /* with two slower buckets of one pace, two slots: no hole either time */
  a[0] = plain(10, S_US, 0);
  memset(st, 0, sizeof(st));
  assert_int_equal(pacer_gcra_take(a, st, 2, 5, 150000, T0_US, &r), 0);
  assert_int_equal(r.nslots, 2);
  assert_int_equal(r.slot_us[1], 100000);
  assert_int_equal(st[0].tat_unix_us, T0_US + 200000);
  assert_int_equal(st[1].tat_unix_us, T0_US + 200000);
}

/* Stacked lanes share a faster bucket: 8 accounts at 20/s each (one lane
 * and bucket each) under one app limit of 100/s, every lane with work,
 * each taking again as soon as its slot is used or its wait ends (as
 * dispatch.c does, horizon 250 ms). A slot an account bucket puts later
 * than the app bucket could give one is not taken until it is due, so
 * the app bucket's TAT keeps no hole and the lanes fill it: 2 s give at
 * least 190 slots (200 now), never two app slots closer than 10 ms nor
 * two of one account closer than 50 ms. Reserving each lane's next
 * account slots at once gave 66: the lanes took turns. */
static void
stacked_lanes_fill_the_shared_bucket(void **state)
{
  enum { LANES = 8, MAXS = 1000 };
  struct pacer_gcra_args a[2];
  struct pacer_gcra_state app, acct[LANES], st[2];
  struct pacer_gcra_take_result r;
  uint64_t next[LANES], last[LANES], slots[MAXS], end = T0_US + 2 * S_US;
  size_t nslots = 0, i, k;

  (void)state;
  a[0] = plain(100, S_US, 0);
  a[1] = plain(20, S_US, 0);
  memset(&app, 0, sizeof(app));
  memset(acct, 0, sizeof(acct));
  for (k = 0; k < LANES; k++) {
    next[k] = T0_US + k; /* the lanes wake in turn */
    last[k] = 0;
  }
  for (;;) {
    size_t m = 0;

    for (k = 1; k < LANES; k++)
      if (next[k] < next[m])
        m = k;
    if (next[m] >= end)
      break;
    st[0] = app;
    st[1] = acct[m];
    assert_int_equal(
        pacer_gcra_take(a, st, 2, PACER_GCRA_SLOTS_MAX, 250000, next[m], &r),
        0);
    app = st[0];
    acct[m] = st[1];
    if (r.nslots == 0) {
      assert_true(r.wait_us > 0);
      next[m] += r.wait_us;
      continue;
    }
    for (i = 0; i < r.nslots; i++) {
      uint64_t t = next[m] + r.slot_us[i];

      assert_true(last[m] == 0 || t - last[m] >= 50000);
      last[m] = t;
      if (t < end) {
        assert_true(nslots < MAXS);
        slots[nslots++] = t;
      }
    }
    next[m] = last[m]; /* its last slot used: it takes again */
  }
  /* sorted, then no two app slots closer than 10 ms */
  for (i = 1; i < nslots; i++)
    for (k = i; k > 0 && slots[k - 1] > slots[k]; k--) {
      uint64_t t = slots[k];

      slots[k] = slots[k - 1];
      slots[k - 1] = t;
    }
  for (i = 1; i < nslots; i++)
    assert_true(slots[i] - slots[i - 1] >= 10000);
  assert_true(nslots >= 190);
}

static void
take_all_waits_for_the_slowest_bucket(void **state)
{
  struct pacer_gcra_args a[3];
  struct pacer_gcra_state st[3];
  struct pacer_gcra_take_result r;

  (void)state;
  memset(st, 0, sizeof(st));
  a[0] = plain(100, S_US, 0); /* 10 ms */
  a[1] = plain(50, S_US, 1);  /* 20 ms, cost 2 */
  a[1].cost = 2;
  a[2] = plain(40, S_US, 0); /* 25 ms */
  st[0].tat_unix_us = T0_US + 10000;
  st[1].tat_unix_us = T0_US + 40000;
  st[2].tat_unix_us = T0_US + 25000;
  assert_int_equal(pacer_gcra_take(a, st, 3, 1, 0, T0_US, &r), 0);
  assert_int_equal(r.nslots, 0);
  assert_int_equal(r.wait_us, 40000);
  assert_int_equal(pacer_gcra_take(a, st, 3, 1, 0, T0_US + 39999, &r), 0);
  assert_int_equal(r.wait_us, 1);
  assert_int_equal(pacer_gcra_take(a, st, 3, 1, 0, T0_US + 40000, &r), 0);
  assert_int_equal(r.nslots, 1);
  assert_int_equal(st[1].tat_unix_us, T0_US + 80000);
}

static void
take_of_no_buckets_grants_every_slot_now(void **state)
{
  struct pacer_gcra_take_result r;

  (void)state;
  assert_int_equal(pacer_gcra_take(NULL, NULL, 0, 3, 0, T0_US, &r), 0);
  assert_int_equal(r.nslots, 3);
  assert_int_equal(r.slot_us[2], 0);
}

/* ------------------------------------------------------------------------
 * Warm-up
 * ------------------------------------------------------------------------ */

static void
warm_up_spaces_the_first_period_wider_then_steady(void **state)
{
  static const uint64_t want[] = {0,       106000,  212000, 318000, 424000,
                                  530000,  636000,  742000, 848000, 954000,
                                  1060000, 1162000, 1264000};
  struct pacer_gcra_limit l = limit(10, S_US, 0);
  struct pacer_gcra_args a;
  struct pacer_gcra_state st;
  uint64_t grants[PACER_ARRAY_SIZE(want)];
  size_t i;

  (void)state;
  pacer_gcra_args_init(&a, &l, S_US, 1, 0);
  memset(&st, 0, sizeof(st));
  drain(&a, &st, T0_US, PACER_ARRAY_SIZE(want), 1, grants);
  for (i = 0; i < PACER_ARRAY_SIZE(want); i++)
    assert_int_equal(grants[i] - T0_US, want[i]);
  assert_int_equal(st.since_unix_us, T0_US);
}

static void
bucket_idle_for_a_whole_period_warms_up_again(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 0);
  struct pacer_gcra_args a;
  struct pacer_gcra_state st, two;
  uint64_t idle;

  (void)state;
  pacer_gcra_args_init(&a, &l, S_US, 1, 0);
  memset(&st, 0, sizeof(st));
  st.since_unix_us = T0_US - 10 * S_US; /* busy for 10 s */
  st.tat_unix_us = T0_US;
  two = st;
  /* idle for exactly one period: still the same spell, steady spacing */
  idle = T0_US + S_US;
  assert_int_equal(take1(&a, &st, idle, 1, NULL), 0);
  assert_int_equal(st.since_unix_us, T0_US - 10 * S_US);
  assert_int_equal(st.tat_unix_us, idle + 102000);
  /* 1 us more: a new spell starts now, spaced for warm-up */
  assert_int_equal(take1(&a, &two, idle + 1, 1, NULL), 0);
  assert_int_equal(two.since_unix_us, idle + 1);
  assert_int_equal(two.tat_unix_us, idle + 1 + 106000);
}

/* ------------------------------------------------------------------------
 * Pauses
 * ------------------------------------------------------------------------ */

static void
pause_blocks_takes_with_the_longest_pause_and_its_bucket(void **state)
{
  struct pacer_gcra_args a[3];
  struct pacer_gcra_state st[3], copy[3];
  struct pacer_gcra_take_result r;
  uint64_t ttl = 0;

  (void)state;
  memset(st, 0, sizeof(st));
  a[0] = plain(10, S_US, 0);
  a[1] = plain(10, S_US, 0);
  a[2] = plain(10, S_US, 0);
  assert_int_equal(pacer_gcra_pause(&st[1], 5000, 0, 0, T0_US, &ttl), 0);
  assert_int_equal(ttl, 5000 + PACER_GCRA_STATE_TTL_MS);
  assert_int_equal(st[1].pause_until_unix_us, T0_US + 5 * S_US);
  assert_int_equal(st[1].last_429_unix_us, T0_US);
  assert_int_equal(pacer_gcra_pause(&st[2], 7000, 0, 0, T0_US, NULL), 0);
  memcpy(copy, st, sizeof(copy));
  assert_int_equal(pacer_gcra_take(a, st, 3, 4, S_US, T0_US + S_US, &r), 0);
  assert_int_equal(r.nslots, 0);
  assert_int_equal(r.wait_us, 6 * S_US);
  assert_int_equal(r.paused_by, 2);
  assert_int_equal(r.ttl_ms, 0);
  assert_memory_equal(st, copy, sizeof(copy));
  /* bucket 1 alone: its own pause */
  assert_int_equal(pacer_gcra_take(&a[1], &st[1], 1, 4, 0, T0_US + S_US, &r),
                   0);
  assert_int_equal(r.wait_us, 4 * S_US);
  assert_int_equal(r.paused_by, 0);
}

static void
pause_resumes_at_pace_without_a_burst(void **state)
{
  struct pacer_gcra_args a = plain(10, S_US, 4);
  struct pacer_gcra_state st;
  uint64_t wait = 0;

  (void)state;
  memset(&st, 0, sizeof(st));
  assert_int_equal(pacer_gcra_pause(&st, 1000, a.tolerance_us, 0, T0_US, NULL),
                   0);
  assert_int_equal(st.tat_unix_us, T0_US + S_US + 400000);
  assert_int_equal(take1(&a, &st, T0_US + S_US - 1, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 1);
  assert_int_equal(take1(&a, &st, T0_US + S_US, 1, &wait), 0);
  /* one at once, not burst + 1 */
  assert_int_equal(take1(&a, &st, T0_US + S_US, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 100000);
}

static void
a_longer_pause_stands_against_a_shorter_one(void **state)
{
  struct pacer_gcra_state st;

  (void)state;
  memset(&st, 0, sizeof(st));
  assert_int_equal(pacer_gcra_pause(&st, 5000, 0, 0, T0_US, NULL), 0);
  assert_int_equal(pacer_gcra_pause(&st, 1000, 0, 0, T0_US + S_US, NULL), 0);
  assert_int_equal(st.pause_until_unix_us, T0_US + 5 * S_US);
  assert_int_equal(st.tat_unix_us, T0_US + 5 * S_US);
  assert_int_equal(st.last_429_unix_us, T0_US + S_US);
  assert_int_equal(pacer_gcra_pause(&st, 9000, 0, 0, T0_US + S_US, NULL), 0);
  assert_int_equal(st.pause_until_unix_us, T0_US + 10 * S_US);
}

/* ------------------------------------------------------------------------
 * AIMD
 * ------------------------------------------------------------------------ */

static void
aimd_window_is_16_intervals_within_its_bounds(void **state)
{
  struct pacer_gcra_limit l;

  (void)state;
  assert_int_equal(pacer_gcra_limit_init(&l, 100, S_US, 0), 0);
  assert_int_equal(pacer_gcra_aimd_window_us(&l), W_US);
  assert_int_equal(pacer_gcra_limit_init(&l, 20, S_US, 5), 0);
  assert_int_equal(pacer_gcra_aimd_window_us(&l), 800000);
  /* 1,000/s: 16 ms, raised to the 50 ms floor */
  assert_int_equal(pacer_gcra_limit_init(&l, 1000, S_US, 0), 0);
  assert_int_equal(pacer_gcra_aimd_window_us(&l),
                   PACER_GCRA_AIMD_RESUME_MIN_US);
  /* 1/h: capped at 10 min */
  assert_int_equal(pacer_gcra_limit_init(&l, 1, H_US, 0), 0);
  assert_int_equal(pacer_gcra_aimd_window_us(&l),
                   PACER_GCRA_AIMD_RESUME_MAX_US);
}

static void
an_isolated_429_only_pauses(void **state)
{
  struct pacer_gcra_state st;

  (void)state;
  memset(&st, 0, sizeof(st));
  /* 1 s pauses: the first 429 has no pause before it */
  assert_int_equal(pacer_gcra_pause(&st, 1000, 0, W_US, T0_US, NULL), 0);
  assert_int_equal(st.permille, 0);
  /* one at the window's edge after the pause ended (a second 429 from
   * send jitter, 1.16 s after the first: within 3 s) only pauses */
  assert_int_equal(
      pacer_gcra_pause(&st, 1000, 0, W_US, T0_US + S_US + W_US, NULL), 0);
  assert_int_equal(st.permille, 0);
  assert_int_equal(st.aimd_at_unix_us, 0);
  assert_int_equal(st.last_429_unix_us, T0_US + S_US + W_US);
  /* one while the pause stands (a request sent before it) only pauses */
  assert_int_equal(
      pacer_gcra_pause(&st, 1000, 0, W_US, T0_US + 2 * S_US + W_US - 1, NULL),
      0);
  assert_int_equal(st.permille, 0);
  assert_int_equal(st.pause_until_unix_us, T0_US + 3 * S_US + W_US - 1);
  /* one right after that pause: quick, but the first in a row (send
   * jitter right after a pause, as CI saw it: 98 ms after) */
  assert_int_equal(pacer_gcra_pause(&st, 1000, 0, W_US,
                                    T0_US + 3 * S_US + W_US + 98000, NULL),
                   0);
  assert_int_equal(st.quick, 1);
  assert_int_equal(st.permille, 0);
  /* the next one long after its pause: not quick, the count starts over */
  assert_int_equal(pacer_gcra_pause(&st, 1000, 0, W_US, T0_US + 9 * S_US, NULL),
                   0);
  assert_int_equal(st.quick, 0);
  assert_int_equal(st.permille, 0);
}

static void
quick_429s_in_a_row_halve_at_most_once_a_second_down_to_5_percent(void **state)
{
  static const uint32_t want[] = {275, 162, 106, 78, 64, 57, 53, 51, 50, 50};
  struct pacer_gcra_state st, plain_st;
  uint64_t now = T0_US;
  size_t i;

  (void)state;
  memset(&st, 0, sizeof(st));
  plain_st = st;
  assert_int_equal(pacer_gcra_pause(&st, 1000, 0, W_US, now, NULL), 0);
  /* the first request after the pause is refused: quick, one in a row */
  now += S_US + W_US - 1;
  assert_int_equal(pacer_gcra_pause(&st, 1000, 0, W_US, now, NULL), 0);
  assert_int_equal(st.quick, 1);
  assert_int_equal(st.permille, 0);
  /* and after the next pause too: the 429s keep coming, halve */
  now += S_US + 10;
  assert_int_equal(pacer_gcra_pause(&st, 1000, 0, W_US, now, NULL), 0);
  assert_int_equal(st.quick, PACER_GCRA_AIMD_QUICK);
  assert_int_equal(st.permille, 500);
  assert_int_equal(st.aimd_at_unix_us, now);
  /* not adaptive: pauses only */
  assert_int_equal(pacer_gcra_pause(&plain_st, 1000, 0, 0, T0_US, NULL), 0);
  assert_int_equal(pacer_gcra_pause(&plain_st, 1000, 0, 0, T0_US + S_US, NULL),
                   0);
  assert_int_equal(
      pacer_gcra_pause(&plain_st, 1000, 0, 0, T0_US + 2 * S_US + 10, NULL), 0);
  assert_int_equal(plain_st.permille, 0);
  assert_int_equal(plain_st.quick, 0);
  /* within a second of the last halving: no change */
  assert_int_equal(pacer_gcra_pause(&st, 1, 0, W_US, now + 999999, NULL), 0);
  assert_int_equal(st.permille, 500);
  assert_int_equal(st.last_429_unix_us, now + 999999);
  /* then each 1 ms after the pause before it ended, about once a second:
   * recovered share (+50) halved, floor 50 */
  for (i = 0; i < PACER_ARRAY_SIZE(want); i++) {
    now = st.pause_until_unix_us + 1000;
    assert_int_equal(pacer_gcra_pause(&st, 1000, 0, W_US, now, NULL), 0);
    assert_int_equal(st.permille, want[i]);
    assert_int_equal(st.aimd_at_unix_us, now);
  }
}

static void
permille_recovers_50_per_second_with_the_scripts_rounding(void **state)
{
  uint64_t prng = 4242;
  int i;

  (void)state;
  assert_int_equal(pacer_gcra_permille(0, 0, T0_US), 1000);
  assert_int_equal(pacer_gcra_permille(500, T0_US, T0_US), 500);
  assert_int_equal(pacer_gcra_permille(500, T0_US, T0_US + S_US), 550);
  assert_int_equal(pacer_gcra_permille(500, T0_US, T0_US + 10 * S_US), 1000);
  assert_int_equal(pacer_gcra_permille(500, T0_US, T0_US + H_US), 1000);
  assert_int_equal(pacer_gcra_permille(100, T0_US, T0_US + 19999), 100);
  assert_int_equal(pacer_gcra_permille(100, T0_US, T0_US + 20000), 101);
  /* 0.58 s: 0.58 * 50 is 28.999999999999996 in doubles */
  assert_int_equal(pacer_gcra_permille(100, T0_US, T0_US + 580000), 128);
  assert_int_equal(pacer_gcra_permille(100, T0_US, T0_US + 600000), 130);
  /* a clock that stepped back recovers nothing, and loses nothing */
  assert_int_equal(pacer_gcra_permille(100, T0_US, T0_US - 1), 100);
  assert_int_equal(pacer_gcra_permille(50, T0_US, T0_US - 2 * S_US), 50);
  /* every multiple of 20 ms up to 30 min, and random elapsed times up to
   * 2^50 us, against the doubles */
  for (i = 0; i < 90000; i++) {
    int64_t d = (int64_t)i * 20000, f = lua_floor_recovery(d);

    assert_int_equal(pacer_gcra_permille(50, T0_US, T0_US + (uint64_t)d),
                     50 + (f > 950 ? 950 : f));
  }
  for (i = 0; i < 200000; i++) {
    uint64_t r = pacer_prng_next(&prng);
    int64_t d = (int64_t)(r >> (14 + r % 40)), f;
    uint64_t at = UINT64_C(1) << 51;

    if (r & 2u)
      d -= d % 20000;
    f = lua_floor_recovery(d);
    assert_int_equal(pacer_gcra_permille(50, at, at + (uint64_t)d),
                     50 + (f > 950 ? 950 : f));
  }
}

static void
share_read_before_its_halving_is_the_stored_share(void **state)
{
  /* Redis' clock behind aimd_at: no recovery, and no loss either (a share
   * of 0 or below would make the interval infinite or negative). Today a
   * pause always covers that time (pause_until >= aimd_at), so a take
   * answers with the pause first; the share stays defined regardless. */
  struct pacer_gcra_args a = plain(10, S_US, 0);
  struct pacer_gcra_state st;
  struct pacer_gcra_take_result r;

  (void)state;
  memset(&st, 0, sizeof(st));
  st.permille = 50;
  st.aimd_at_unix_us = T0_US + 2 * S_US;
  a.adaptive = 1;
  assert_int_equal(pacer_gcra_take(&a, &st, 1, 4, 250000, T0_US, &r), 0);
  assert_int_equal(r.nslots, 1);
  assert_int_equal(st.tat_unix_us, T0_US + 2 * S_US); /* 20 x 100 ms */
  assert_int_equal(pacer_gcra_take(&a, &st, 1, 4, 250000, T0_US, &r), 0);
  assert_int_equal(r.nslots, 0);
  assert_int_equal(r.wait_us, 2 * S_US);
}

static void
adaptive_take_divides_the_interval_by_the_share(void **state)
{
  struct pacer_gcra_args a = plain(10, S_US, 0);
  struct pacer_gcra_state st, copy;

  (void)state;
  memset(&st, 0, sizeof(st));
  st.permille = 500;
  st.aimd_at_unix_us = T0_US;
  copy = st;
  a.adaptive = 1;
  assert_int_equal(take1(&a, &st, T0_US, 1, NULL), 0);
  assert_int_equal(st.tat_unix_us, T0_US + 200000);
  /* a second later the share is 550: ceil(1e8 / 550) */
  assert_int_equal(take1(&a, &st, T0_US + S_US, 1, NULL), 0);
  assert_int_equal(st.tat_unix_us, T0_US + S_US + 181819);
  assert_int_equal(st.permille, 500); /* the take stores no share */
  /* not adaptive: the stored share is ignored */
  a.adaptive = 0;
  assert_int_equal(take1(&a, &copy, T0_US, 1, NULL), 0);
  assert_int_equal(copy.tat_unix_us, T0_US + 100000);
}

/* ------------------------------------------------------------------------
 * No double burst at a window edge
 * ------------------------------------------------------------------------ */

static void
c10_hundred_requests_at_950ms_stay_within_the_limit_per_second(void **state)
{
  static const uint64_t bursts[] = {0, 3};
  size_t i;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(bursts); i++) {
    struct pacer_gcra_args a = plain(10, S_US, bursts[i]);
    struct pacer_gcra_state st;
    uint64_t grants[100], start = T0_US + 950000;

    memset(&st, 0, sizeof(st));
    drain(&a, &st, start, 100, 1, grants);
    assert_int_equal(max_in_window(grants, 100, S_US), 10 + bursts[i]);
    /* the quota is used in full: b + 1 at once, then one per 100 ms */
    assert_int_equal(grants[bursts[i]], start);
    assert_int_equal(grants[99], start + (99 - bursts[i]) * 100000);
    /* no fixed-window edge: the second after 1.0 s gets no fresh quota */
    assert_true(max_in_window(grants, 100, S_US / 10) <= 1 + bursts[i]);
  }
}

static void
c10_four_processes_sharing_one_bucket_stay_within_the_limit(void **state)
{
  /* Four clients poll one shared bucket (as the Redis script does), each
   * at its own next-try time plus up to 1 ms of jitter, with costs 1 or 2,
   * with the production spacing and warm-up. */
  struct pacer_gcra_limit l = limit(10, S_US, 2);
  struct pacer_gcra_args a;
  struct pacer_gcra_state st;
  uint64_t next_us[4], prng = 777, wait;
  uint64_t *grants = calloc(1000, sizeof(*grants));
  size_t n = 0, c;

  (void)state;
  assert_non_null(grants);
  pacer_gcra_args_init(&a, &l, S_US, 1, 0);
  memset(&st, 0, sizeof(st));
  for (c = 0; c < 4; c++)
    next_us[c] = T0_US + 950000 + pacer_prng_next(&prng) % 1000;
  while (n < 990) {
    uint32_t cost = 1 + (uint32_t)(pacer_prng_next(&prng) % 2);
    size_t k = 0;

    for (c = 1; c < 4; c++) {
      if (next_us[c] < next_us[k])
        k = c;
    }
    if (take1(&a, &st, next_us[k], cost, &wait) == 0) {
      while (cost-- > 0)
        grants[n++] = next_us[k]; /* a cost of 2 is two requests' worth */
    } else {
      next_us[k] += wait + pacer_prng_next(&prng) % 1000;
    }
  }
  assert_true(max_in_window(grants, n, S_US) <= 10 + 2);
  /* and the shared quota is nearly all used: 2% margin, ~101 s */
  assert_true(grants[n - 1] - grants[0] < 103 * S_US);
  free(grants);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(limit_init_rounds_the_interval_up),
      cmocka_unit_test(limit_init_rejects_impossible_rates),
      cmocka_unit_test(spaced_interval_absorbs_the_jitter_margin_per_period),
      cmocka_unit_test(args_are_what_the_limiter_sends),
      cmocka_unit_test(ten_per_second_conforms_exactly_every_100ms),
      cmocka_unit_test(limited_take_changes_nothing_and_reports_the_exact_wait),
      cmocka_unit_test(burst_allows_b_plus_one_at_once_then_one_per_interval),
      cmocka_unit_test(idle_bucket_refills_to_the_burst_and_no_further),
      cmocka_unit_test(cost_above_one_takes_that_many_intervals),
      cmocka_unit_test(clock_stepping_back_keeps_the_tat_and_waits_for_it),
      cmocka_unit_test(values_beyond_two_to_the_53_are_declined_unchanged),
      cmocka_unit_test(invalid_arguments_are_rejected),
      cmocka_unit_test(one_million_per_second_grants_one_per_microsecond),
      cmocka_unit_test(one_per_hour_with_a_large_burst_stays_exact),
      cmocka_unit_test(three_per_second_never_puts_four_in_one_second),
      cmocka_unit_test(take_reserves_the_slots_within_the_horizon_only),
      cmocka_unit_test(take_ext_leads_and_guards_blocks_of_other_takers),
      cmocka_unit_test(take_all_takes_from_every_bucket_or_none),
      cmocka_unit_test(take_all_waits_for_the_slowest_bucket),
      cmocka_unit_test(stacked_lanes_fill_the_shared_bucket),
      cmocka_unit_test(take_of_no_buckets_grants_every_slot_now),
      cmocka_unit_test(warm_up_spaces_the_first_period_wider_then_steady),
      cmocka_unit_test(bucket_idle_for_a_whole_period_warms_up_again),
      cmocka_unit_test(
          pause_blocks_takes_with_the_longest_pause_and_its_bucket),
      cmocka_unit_test(pause_resumes_at_pace_without_a_burst),
      cmocka_unit_test(a_longer_pause_stands_against_a_shorter_one),
      cmocka_unit_test(aimd_window_is_16_intervals_within_its_bounds),
      cmocka_unit_test(an_isolated_429_only_pauses),
      cmocka_unit_test(
          quick_429s_in_a_row_halve_at_most_once_a_second_down_to_5_percent),
      cmocka_unit_test(
          permille_recovers_50_per_second_with_the_scripts_rounding),
      cmocka_unit_test(adaptive_take_divides_the_interval_by_the_share),
      cmocka_unit_test(share_read_before_its_halving_is_the_stored_share),
      cmocka_unit_test(
          c10_hundred_requests_at_950ms_stay_within_the_limit_per_second),
      cmocka_unit_test(
          c10_four_processes_sharing_one_bucket_stay_within_the_limit),
  };

  return cmocka_run_group_tests_name("gcra", tests, NULL, NULL) != 0;
}
