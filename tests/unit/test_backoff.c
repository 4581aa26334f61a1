/* Unit tests for core/backoff.c: full-jitter bounds, cap, overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/backoff.h"

static void
first_retry_stays_within_base(void **state)
{
  uint64_t prng = 42, max = 0;
  int i;

  (void)state;
  for (i = 0; i < 10000; i++) {
    uint64_t d = pacer_backoff_full_jitter_ms(0, 500, 30000, &prng);

    assert_true(d <= 500);
    if (d > max)
      max = d;
  }
  assert_true(max > 400); /* the range is actually used */
}

static void
ceiling_doubles_per_attempt_until_the_cap(void **state)
{
  uint64_t prng = 7, max3 = 0;
  int i;

  (void)state;
  for (i = 0; i < 10000; i++) {
    uint64_t d = pacer_backoff_full_jitter_ms(3, 500, 30000, &prng);

    assert_true(d <= 4000);
    if (d > max3)
      max3 = d;
  }
  assert_true(max3 > 3000);
  for (i = 0; i < 10000; i++)
    assert_true(pacer_backoff_full_jitter_ms(20, 500, 30000, &prng) <= 30000);
}

static void
huge_attempt_counts_do_not_overflow(void **state)
{
  uint64_t prng = 99;
  int i;

  (void)state;
  for (i = 0; i < 1000; i++) {
    uint64_t d = pacer_backoff_full_jitter_ms(4000000000u, UINT64_MAX / 3,
                                              UINT64_MAX / 2, &prng);

    assert_true(d <= UINT64_MAX / 2);
  }
}

static void
two_generators_with_different_seeds_do_not_move_in_lockstep(void **state)
{
  uint64_t a = 1, b = 2;
  int same = 0, i;

  (void)state;
  /* no two workers share a delay sequence (no synchronised retries). */
  for (i = 0; i < 100; i++)
    same += pacer_backoff_full_jitter_ms(5, 500, 30000, &a) ==
            pacer_backoff_full_jitter_ms(5, 500, 30000, &b);
  assert_true(same < 5);
}

static void
full_range_cap_does_not_divide_by_zero(void **state)
{
  uint64_t prng = 11;

  (void)state;
  (void)pacer_backoff_full_jitter_ms(70, UINT64_MAX, UINT64_MAX, &prng);
  assert_true(pacer_backoff_full_jitter_ms(0, 1, UINT64_MAX, &prng) <= 1);
}

static void
zero_base_means_no_wait(void **state)
{
  uint64_t prng = 5;

  (void)state;
  assert_int_equal(pacer_backoff_full_jitter_ms(3, 0, 0, &prng), 0);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(first_retry_stays_within_base),
      cmocka_unit_test(ceiling_doubles_per_attempt_until_the_cap),
      cmocka_unit_test(huge_attempt_counts_do_not_overflow),
      cmocka_unit_test(
          two_generators_with_different_seeds_do_not_move_in_lockstep),
      cmocka_unit_test(full_range_cap_does_not_divide_by_zero),
      cmocka_unit_test(zero_base_means_no_wait),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
