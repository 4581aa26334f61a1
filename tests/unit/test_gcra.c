/* Unit tests for core/gcra.c on a virtual clock: conformance at the
 * boundaries, burst, cost, clock steps, extreme rates, all-or-nothing
 * takes, AIMD scaling and the C10 sliding-window property.
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

#define S_US   UINT64_C(1000000)          /* one second, us */
#define MIN_US (60 * S_US)                /* one minute, us */
#define H_US   (3600 * S_US)              /* one hour, us */
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
drain(const struct pacer_gcra_limit *l, uint64_t *tat, uint64_t start_us,
      size_t pending, uint32_t cost, uint64_t *out)
{
  uint64_t now = start_us, wait;
  size_t granted = 0, limited = 0;

  while (granted < pending) {
    int rc = pacer_gcra_take(l, tat, now, cost, &wait);

    if (rc == 0) {
      assert_int_equal(wait, 0);
      out[granted++] = now;
    } else {
      assert_int_equal(rc, PACER_ELIMIT);
      assert_true(wait > 0 && wait <= cost * l->interval_us);
      now += wait;
      limited++;
    }
  }
  return limited;
}

/* ------------------------------------------------------------------------
 * Building limits
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

/* ------------------------------------------------------------------------
 * Conformance
 * ------------------------------------------------------------------------ */

static void
ten_per_second_conforms_exactly_every_100ms(void **state)
{
  static const uint64_t bases[] = {0, T0_US};
  struct pacer_gcra_limit l = limit(10, S_US, 0);
  size_t b;
  uint64_t i;

  (void)state;
  for (b = 0; b < PACER_ARRAY_SIZE(bases); b++) {
    uint64_t tat = 0, wait = 99;

    for (i = 0; i < 50; i++) {
      uint64_t now = bases[b] + i * 100000;

      if (i > 0) {
        /* 99.999 ms after the previous one: 1 us early */
        assert_int_equal(pacer_gcra_take(&l, &tat, now - 1, 1, &wait),
                         PACER_ELIMIT);
        assert_int_equal(wait, 1);
      }
      assert_int_equal(pacer_gcra_take(&l, &tat, now, 1, &wait), 0);
      assert_int_equal(wait, 0);
      assert_int_equal(tat, now + 100000);
    }
  }
}

static void
limited_take_leaves_tat_unchanged_and_reports_the_exact_wait(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 0);
  uint64_t tat = 0, before, wait = 0;

  (void)state;
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 1, NULL), 0);
  before = tat;
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + 37000, 1, &wait),
                   PACER_ELIMIT);
  assert_int_equal(wait, 63000);
  assert_int_equal(tat, before);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + 37000 + wait - 1, 1, NULL),
                   PACER_ELIMIT);
  assert_int_equal(tat, before);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + 37000 + wait, 1, &wait),
                   0);
  assert_int_equal(wait, 0);
}

static void
burst_allows_b_plus_one_at_once_then_one_per_interval(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 4);
  uint64_t tat = 0, wait = 0;
  int i;

  (void)state;
  for (i = 0; i < 5; i++)
    assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 1, &wait), 0);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 100000);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + 99999, 1, &wait),
                   PACER_ELIMIT);
  assert_int_equal(wait, 1);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + 100000, 1, &wait), 0);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + 100000, 1, &wait),
                   PACER_ELIMIT);
  assert_int_equal(wait, 100000);
}

static void
idle_bucket_refills_to_the_burst_and_no_further(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 4);
  uint64_t tat = 0, now = T0_US + H_US;
  int i;

  (void)state;
  for (i = 0; i < 5; i++)
    assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 1, NULL), 0);
  /* an hour idle banks nothing beyond the burst */
  for (i = 0; i < 5; i++)
    assert_int_equal(pacer_gcra_take(&l, &tat, now, 1, NULL), 0);
  assert_int_equal(pacer_gcra_take(&l, &tat, now, 1, NULL), PACER_ELIMIT);
  /* 250 ms later: two intervals have passed, two more conform */
  now += 250000;
  assert_int_equal(pacer_gcra_take(&l, &tat, now, 1, NULL), 0);
  assert_int_equal(pacer_gcra_take(&l, &tat, now, 1, NULL), 0);
  assert_int_equal(pacer_gcra_take(&l, &tat, now, 1, NULL), PACER_ELIMIT);
}

static void
cost_above_one_takes_that_many_intervals(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 4);
  uint64_t tat = 0, wait = 0;

  (void)state;
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 3, &wait), 0);
  assert_int_equal(tat, T0_US + 300000);
  /* 2 units left of 5: a cost of 3 waits one interval */
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 3, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 100000);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 2, &wait), 0);
  assert_int_equal(tat, T0_US + 500000);
  /* empty: a cost of 5 (= burst + 1) waits the whole span */
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 5, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 500000);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + 500000, 5, &wait), 0);
}

static void
cost_above_burst_plus_one_never_conforms(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 2);
  uint64_t tat = 0, wait = 7;

  (void)state;
  /* an error, not a wait: even a fresh bucket cannot give 4 units */
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 4, &wait), PACER_ETOOLARGE);
  assert_int_equal(wait, 0);
  assert_int_equal(tat, 0);
  assert_int_equal(pacer_gcra_peek(&l, tat, T0_US + H_US, 4, &wait),
                   PACER_ETOOLARGE);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, UINT32_MAX, &wait),
                   PACER_ETOOLARGE);
  assert_int_equal(tat, 0);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 3, &wait), 0);
}

static void
invalid_arguments_are_rejected_without_change(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 0);
  struct pacer_gcra_limit zero = {0, 0};
  struct pacer_gcra_limit wide = {PACER_GCRA_SPAN_MAX_US / 2 + 1, 1};
  struct pacer_gcra_limit deep = {1, PACER_GCRA_BURST_MAX + 1};
  uint64_t tat = 5, wait = 7;

  (void)state;
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 0, &wait), PACER_EINVAL);
  assert_int_equal(wait, 0);
  assert_int_equal(pacer_gcra_take(&zero, &tat, T0_US, 1, &wait), PACER_EINVAL);
  assert_int_equal(pacer_gcra_take(&wide, &tat, T0_US, 1, &wait), PACER_EINVAL);
  assert_int_equal(pacer_gcra_take(&deep, &tat, T0_US, 1, &wait), PACER_EINVAL);
  assert_int_equal(
      pacer_gcra_take(&l, &tat, PACER_GCRA_NOW_MAX_US + 1, 1, &wait),
      PACER_EINVAL);
  assert_int_equal(tat, 5);
  assert_int_equal(pacer_gcra_take(&l, &tat, PACER_GCRA_NOW_MAX_US, 1, &wait),
                   0);
  assert_int_equal(tat, PACER_GCRA_NOW_MAX_US + 100000);
}

static void
peek_predicts_take_without_changing_state(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 1);
  uint64_t tat = 0, now = T0_US, pw = 0, tw = 0;
  int i;

  (void)state;
  for (i = 0; i < 200; i++) {
    uint64_t before = tat;
    int prc = pacer_gcra_peek(&l, tat, now, 1, &pw);

    assert_int_equal(tat, before);
    assert_int_equal(pacer_gcra_peek(&l, tat, now, 1, NULL), prc);
    assert_int_equal(pacer_gcra_take(&l, &tat, now, 1, &tw), prc);
    assert_int_equal(pw, tw);
    now += 37000; /* not a divisor of the interval */
  }
}

/* ------------------------------------------------------------------------
 * Clock steps
 * ------------------------------------------------------------------------ */

static void
clock_stepping_back_pulls_the_tat_back_to_the_horizon(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 2);
  uint64_t tat = 0, wait = 0, back = T0_US - 10 * S_US;
  int i;

  (void)state;
  for (i = 0; i < 3; i++)
    assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 1, NULL), 0);
  /* ten seconds back: the bucket reads as just emptied, not as owing ten
   * seconds; the wait is one interval and the repair is stored */
  assert_int_equal(pacer_gcra_peek(&l, tat, back, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 100000);
  assert_int_equal(tat, T0_US + 300000);
  assert_int_equal(pacer_gcra_take(&l, &tat, back, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 100000);
  assert_int_equal(tat, back + 300000);
  assert_int_equal(pacer_gcra_take(&l, &tat, back + 99999, 1, &wait),
                   PACER_ELIMIT);
  assert_int_equal(wait, 1);
  assert_int_equal(pacer_gcra_take(&l, &tat, back + 100000, 1, &wait), 0);
  assert_int_equal(tat, back + 400000);
  assert_int_equal(pacer_gcra_take(&l, &tat, back + 100000, 1, &wait),
                   PACER_ELIMIT);
  /* 50 ms back with the bucket empty: pulled back again, and the next
   * grant comes exactly one interval after the last in real time */
  assert_int_equal(pacer_gcra_take(&l, &tat, back + 50000, 1, &wait),
                   PACER_ELIMIT);
  assert_int_equal(wait, 100000);
  assert_int_equal(tat, back + 350000);
  assert_int_equal(pacer_gcra_take(&l, &tat, back + 150000, 1, &wait), 0);
}

static void
corrupt_far_future_tat_is_pulled_back_without_overflow(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 2);
  uint64_t tat = UINT64_MAX, wait = 0;

  (void)state;
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 3, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 300000);
  assert_int_equal(tat, T0_US + 300000);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + 300000, 3, &wait), 0);
}

static void
clock_stepping_back_never_grants_extra(void **state)
{
  /* Real time only moves forward; the limiter's clock is real time plus
   * an offset that now and then steps back by up to 2 s. Counted in real
   * time, the grants must still respect count + burst per second. */
  struct pacer_gcra_limit l = limit(10, S_US, 2);
  uint64_t *grants = calloc(4000, sizeof(*grants));
  uint64_t prng = 12345, real_us = 0, offset_us = T0_US, tat = 0, wait;
  uint64_t next_step_us = 0;
  size_t n = 0;

  (void)state;
  assert_non_null(grants);
  while (n < 4000) {
    int rc;

    if (real_us >= next_step_us) {
      offset_us -= pacer_prng_next(&prng) % (2 * S_US);
      next_step_us = real_us + pacer_prng_next(&prng) % S_US;
    }
    rc = pacer_gcra_take(&l, &tat, real_us + offset_us, 1, &wait);
    if (rc == 0) {
      grants[n++] = real_us;
    } else {
      assert_int_equal(rc, PACER_ELIMIT);
      assert_true(wait > 0 && wait <= l.interval_us);
      real_us += wait;
    }
  }
  assert_true(max_in_window(grants, n, S_US) <= 10 + 2);
  free(grants);
}

/* ------------------------------------------------------------------------
 * Extreme rates
 * ------------------------------------------------------------------------ */

static void
one_million_per_second_grants_one_per_microsecond(void **state)
{
  struct pacer_gcra_limit l = limit(1000000, S_US, 0);
  uint64_t tat = 0, now, wait = 0, granted = 0;

  (void)state;
  for (now = T0_US; now < T0_US + S_US; now++) {
    assert_int_equal(pacer_gcra_take(&l, &tat, now, 1, NULL), 0);
    granted++;
    assert_int_equal(pacer_gcra_take(&l, &tat, now, 1, &wait), PACER_ELIMIT);
    assert_int_equal(wait, 1);
  }
  assert_int_equal(granted, 1000000);
  assert_int_equal(tat, T0_US + S_US);
}

static void
one_per_hour_with_a_large_burst_does_not_overflow(void **state)
{
  struct pacer_gcra_limit l = limit(1, H_US, 100000);
  uint64_t tat = 0, wait = 0;

  (void)state;
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 100001, &wait), 0);
  assert_int_equal(tat, T0_US + 100001 * H_US);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US, 1, &wait), PACER_ELIMIT);
  assert_int_equal(wait, H_US);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + H_US - 1, 1, &wait),
                   PACER_ELIMIT);
  assert_int_equal(wait, 1);
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + H_US, 1, &wait), 0);
  /* a 100001-unit request owes 100001 hours: still exact */
  assert_int_equal(pacer_gcra_take(&l, &tat, T0_US + H_US, 100001, &wait),
                   PACER_ELIMIT);
  assert_int_equal(wait, 100001 * H_US);
}

static void
widest_limit_at_the_latest_time_stays_exact(void **state)
{
  struct pacer_gcra_limit l = {PACER_GCRA_SPAN_MAX_US /
                                   (PACER_GCRA_BURST_MAX + 1),
                               PACER_GCRA_BURST_MAX};
  uint64_t tat = 0, wait = 0, now = PACER_GCRA_NOW_MAX_US;

  (void)state;
  assert_int_equal(
      pacer_gcra_take(&l, &tat, now, (uint32_t)PACER_GCRA_BURST_MAX + 1, &wait),
      0);
  assert_int_equal(tat, now + (PACER_GCRA_BURST_MAX + 1) * l.interval_us);
  assert_int_equal(pacer_gcra_take(&l, &tat, now, 2, &wait), PACER_ELIMIT);
  assert_int_equal(wait, 2 * l.interval_us);
}

static void
three_per_second_never_puts_four_in_one_second(void **state)
{
  struct pacer_gcra_limit l = limit(3, S_US, 0);
  uint64_t tat = 0, grants[300];

  (void)state;
  drain(&l, &tat, T0_US, PACER_ARRAY_SIZE(grants), 1, grants);
  assert_int_equal(max_in_window(grants, PACER_ARRAY_SIZE(grants), S_US), 3);
  /* and the rate is used: 300 grants take 99.7 s, not 101 */
  assert_true(grants[299] - grants[0] <= 299 * 333334);
}

/* ------------------------------------------------------------------------
 * All-or-nothing takes
 * ------------------------------------------------------------------------ */

static void
take_all_takes_from_every_bucket_or_none(void **state)
{
  /* 20/s per app and 10/s per token, stacked (issue 3) */
  struct pacer_gcra_limit ls[2];
  uint64_t tats[2] = {0, 0}, copy[2], wait = 0;
  const uint32_t costs[2] = {1, 1};

  (void)state;
  ls[0] = limit(20, S_US, 0);
  ls[1] = limit(10, S_US, 0);
  assert_int_equal(pacer_gcra_take_all(ls, tats, costs, 2, T0_US, &wait), 0);
  assert_int_equal(wait, 0);
  assert_int_equal(tats[0], T0_US + 50000);
  assert_int_equal(tats[1], T0_US + 100000);
  memcpy(copy, tats, sizeof(copy));
  /* the app bucket alone would conform at 50 ms; the token one would not */
  assert_int_equal(pacer_gcra_peek(&ls[0], tats[0], T0_US + 50000, 1, NULL), 0);
  assert_int_equal(
      pacer_gcra_take_all(ls, tats, costs, 2, T0_US + 50000, &wait),
      PACER_ELIMIT);
  assert_int_equal(wait, 50000);
  assert_memory_equal(tats, copy, sizeof(copy));
  assert_int_equal(
      pacer_gcra_take_all(ls, tats, costs, 2, T0_US + 100000, &wait), 0);
  assert_int_equal(tats[0], T0_US + 150000);
  assert_int_equal(tats[1], T0_US + 200000);
}

static void
take_all_waits_for_the_slowest_bucket(void **state)
{
  struct pacer_gcra_limit ls[3];
  uint64_t tats[3], wait = 0;
  const uint32_t costs[3] = {1, 2, 1};

  (void)state;
  ls[0] = limit(100, S_US, 0); /* 10 ms */
  ls[1] = limit(50, S_US, 1);  /* 20 ms, cost 2 */
  ls[2] = limit(40, S_US, 0);  /* 25 ms */
  tats[0] = T0_US + 10000;
  tats[1] = T0_US + 40000;
  tats[2] = T0_US + 25000;
  assert_int_equal(pacer_gcra_take_all(ls, tats, costs, 3, T0_US, &wait),
                   PACER_ELIMIT);
  assert_int_equal(wait, 40000);
  assert_int_equal(
      pacer_gcra_take_all(ls, tats, costs, 3, T0_US + 39999, &wait),
      PACER_ELIMIT);
  assert_int_equal(wait, 1);
  assert_int_equal(pacer_gcra_take_all(ls, tats, costs, 3, T0_US + 40000, NULL),
                   0);
  assert_int_equal(tats[1], T0_US + 80000);
}

static void
take_all_refuses_a_bucket_that_can_never_conform(void **state)
{
  struct pacer_gcra_limit ls[3];
  uint64_t tats[3] = {0, 0, 0}, wait = 9;
  const uint32_t costs[3] = {1, 1, 3};
  const uint32_t zero[3] = {1, 0, 1};

  (void)state;
  ls[0] = limit(10, S_US, 0);
  ls[1] = limit(10, S_US, 5);
  ls[2] = limit(10, S_US, 1); /* cost 3 > burst + 1 */
  tats[0] = T0_US + S_US;     /* limited as well */
  assert_int_equal(pacer_gcra_take_all(ls, tats, costs, 3, T0_US, &wait),
                   PACER_ETOOLARGE);
  assert_int_equal(wait, 0);
  assert_int_equal(tats[0], T0_US + S_US);
  assert_int_equal(tats[1], 0);
  assert_int_equal(tats[2], 0);
  assert_int_equal(pacer_gcra_take_all(ls, tats, zero, 3, T0_US, &wait),
                   PACER_EINVAL);
  assert_int_equal(tats[1], 0);
}

static void
take_all_limited_still_pulls_back_a_stepped_clock(void **state)
{
  struct pacer_gcra_limit ls[2];
  uint64_t tats[2], wait = 0;
  const uint32_t costs[2] = {1, 1};

  (void)state;
  ls[0] = limit(10, S_US, 0);
  ls[1] = limit(10, S_US, 0);
  tats[0] = T0_US + 50000; /* limited, 50 ms */
  tats[1] = T0_US + H_US;  /* written by a clock an hour ahead */
  assert_int_equal(pacer_gcra_take_all(ls, tats, costs, 2, T0_US, &wait),
                   PACER_ELIMIT);
  assert_int_equal(wait, 100000);
  assert_int_equal(tats[0], T0_US + 50000); /* nothing taken */
  assert_int_equal(tats[1], T0_US + 100000);
  assert_int_equal(
      pacer_gcra_take_all(ls, tats, costs, 2, T0_US + 100000, &wait), 0);
  assert_int_equal(tats[0], T0_US + 200000);
  assert_int_equal(tats[1], T0_US + 200000);
}

static void
take_all_of_no_buckets_conforms(void **state)
{
  uint64_t wait = 5;

  (void)state;
  assert_int_equal(pacer_gcra_take_all(NULL, NULL, NULL, 0, T0_US, &wait), 0);
  assert_int_equal(wait, 0);
}

/* ------------------------------------------------------------------------
 * AIMD scaling
 * ------------------------------------------------------------------------ */

static void
scale_slows_the_rate_by_permille(void **state)
{
  struct pacer_gcra_limit l = limit(10, S_US, 3), out = {0, 0};

  (void)state;
  assert_int_equal(pacer_gcra_scale(&l, 500, &out), 0);
  assert_int_equal(out.interval_us, 200000);
  assert_int_equal(out.burst, 3);
  assert_int_equal(pacer_gcra_scale(&l, 1000, &out), 0);
  assert_int_equal(out.interval_us, 100000);
  assert_int_equal(pacer_gcra_scale(&l, 333, &out), 0);
  assert_int_equal(out.interval_us, 300301); /* 300300.3 rounded up */
  /* never faster than configured, never slower than 1/1000 */
  assert_int_equal(pacer_gcra_scale(&l, 5000, &out), 0);
  assert_int_equal(out.interval_us, 100000);
  assert_int_equal(pacer_gcra_scale(&l, 0, &out), 0);
  assert_int_equal(out.interval_us, 100000000);
  /* in place */
  out = l;
  assert_int_equal(pacer_gcra_scale(&out, 250, &out), 0);
  assert_int_equal(out.interval_us, 400000);
}

static void
scale_stays_within_the_span_bound(void **state)
{
  struct pacer_gcra_limit l = limit(1, H_US, 100000), out = {0, 0};
  struct pacer_gcra_limit bad = {0, 1};
  uint64_t tat = 0;

  (void)state;
  assert_int_equal(pacer_gcra_scale(&l, 1, &out), 0);
  assert_int_equal(out.interval_us, PACER_GCRA_SPAN_MAX_US / 100001);
  assert_true((out.burst + 1) * out.interval_us <= PACER_GCRA_SPAN_MAX_US);
  assert_int_equal(pacer_gcra_take(&out, &tat, T0_US, 1, NULL), 0);
  assert_int_equal(pacer_gcra_scale(&bad, 500, &out), PACER_EINVAL);
  assert_int_equal(out.interval_us, PACER_GCRA_SPAN_MAX_US / 100001);
}

/* ------------------------------------------------------------------------
 * Field case C10: no double burst at a window edge
 * ------------------------------------------------------------------------ */

static void
c10_hundred_requests_at_950ms_stay_within_the_limit_per_second(void **state)
{
  static const uint64_t bursts[] = {0, 3};
  size_t i;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(bursts); i++) {
    struct pacer_gcra_limit l = limit(10, S_US, bursts[i]);
    uint64_t tat = 0, grants[100], start = T0_US + 950000;

    drain(&l, &tat, start, 100, 1, grants);
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
  /* Four clients poll one shared TAT (as the Redis script would), each at
   * its own next-try time plus up to 1 ms of jitter, with costs 1 or 2. */
  struct pacer_gcra_limit l = limit(10, S_US, 2);
  uint64_t next_us[4], prng = 777, tat = 0, wait;
  uint64_t *grants = calloc(1000, sizeof(*grants));
  size_t n = 0, c;

  (void)state;
  assert_non_null(grants);
  for (c = 0; c < 4; c++)
    next_us[c] = T0_US + 950000 + pacer_prng_next(&prng) % 1000;
  while (n < 990) {
    uint32_t cost = 1 + (uint32_t)(pacer_prng_next(&prng) % 2);
    size_t k = 0;
    int rc;

    for (c = 1; c < 4; c++) {
      if (next_us[c] < next_us[k])
        k = c;
    }
    rc = pacer_gcra_take(&l, &tat, next_us[k], cost, &wait);
    if (rc == 0) {
      while (cost-- > 0)
        grants[n++] = next_us[k]; /* a cost of 2 is two requests' worth */
    } else {
      assert_int_equal(rc, PACER_ELIMIT);
      next_us[k] += wait + pacer_prng_next(&prng) % 1000;
    }
  }
  assert_true(max_in_window(grants, n, S_US) <= 10 + 2);
  /* and the shared quota is nearly all used: ~99 s for 990 units */
  assert_true(grants[n - 1] - grants[0] < 101 * S_US);
  free(grants);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(limit_init_rounds_the_interval_up),
      cmocka_unit_test(limit_init_rejects_impossible_rates),
      cmocka_unit_test(ten_per_second_conforms_exactly_every_100ms),
      cmocka_unit_test(
          limited_take_leaves_tat_unchanged_and_reports_the_exact_wait),
      cmocka_unit_test(burst_allows_b_plus_one_at_once_then_one_per_interval),
      cmocka_unit_test(idle_bucket_refills_to_the_burst_and_no_further),
      cmocka_unit_test(cost_above_one_takes_that_many_intervals),
      cmocka_unit_test(cost_above_burst_plus_one_never_conforms),
      cmocka_unit_test(invalid_arguments_are_rejected_without_change),
      cmocka_unit_test(peek_predicts_take_without_changing_state),
      cmocka_unit_test(clock_stepping_back_pulls_the_tat_back_to_the_horizon),
      cmocka_unit_test(corrupt_far_future_tat_is_pulled_back_without_overflow),
      cmocka_unit_test(clock_stepping_back_never_grants_extra),
      cmocka_unit_test(one_million_per_second_grants_one_per_microsecond),
      cmocka_unit_test(one_per_hour_with_a_large_burst_does_not_overflow),
      cmocka_unit_test(widest_limit_at_the_latest_time_stays_exact),
      cmocka_unit_test(three_per_second_never_puts_four_in_one_second),
      cmocka_unit_test(take_all_takes_from_every_bucket_or_none),
      cmocka_unit_test(take_all_waits_for_the_slowest_bucket),
      cmocka_unit_test(take_all_refuses_a_bucket_that_can_never_conform),
      cmocka_unit_test(take_all_limited_still_pulls_back_a_stepped_clock),
      cmocka_unit_test(take_all_of_no_buckets_conforms),
      cmocka_unit_test(scale_slows_the_rate_by_permille),
      cmocka_unit_test(scale_stays_within_the_span_bound),
      cmocka_unit_test(
          c10_hundred_requests_at_950ms_stay_within_the_limit_per_second),
      cmocka_unit_test(
          c10_four_processes_sharing_one_bucket_stay_within_the_limit),
  };

  return cmocka_run_group_tests_name("gcra", tests, NULL, NULL) != 0;
}
