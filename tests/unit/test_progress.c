/* Unit tests for core/progress.c: the ETA comes from the buckets' rates
 * and pauses, and the pause note names bucket, cause and time left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/progress.h"

static void
eta_follows_the_bucket_rate_not_the_completion_rate(void **state)
{
  /* 100 done in 1 s (fast at first), but the 50 left sit in a bucket at
   * 2/s: 25 s, not the 0.5 s the completion rate would say. */
  struct pacer_progress_bucket b[] = {{"acct:a1", 2.0, 50, 0, ""}};
  struct pacer_progress_in in = {50, 100, 1000, 50, b, 1};
  uint64_t eta = 0;

  (void)state;
  assert_int_equal(pacer_progress_eta_ms(&in, &eta), 1);
  assert_int_equal(eta, 25000);
}

static void
a_pause_adds_its_time_left(void **state)
{
  struct pacer_progress_bucket b[] = {
      {"acct:a1", 10.0, 20, 4000, "Retry-After 4000 ms"},
      {"acct:a2", 10.0, 10, 0, ""}};
  struct pacer_progress_in in = {30, 10, 1000, 30, b, 2};
  uint64_t eta = 0;

  (void)state;
  assert_int_equal(pacer_progress_eta_ms(&in, &eta), 1);
  /* a1: 4 s paused + 2 s; all 30 at 20/s after the pause: 5.5 s */
  assert_int_equal(eta, 6000);
}

static void
jobs_not_yet_in_a_lane_split_like_the_held_ones(void **state)
{
  /* 1000 left, 100 held of which 50 in a 5/s bucket: 500 limited jobs
   * need 100 s; the other 500 go at 100 jobs/s (5 s). */
  struct pacer_progress_bucket b[] = {{"acct:a1", 5.0, 50, 0, NULL}};
  struct pacer_progress_in in = {1000, 100, 1000, 100, b, 1};
  uint64_t eta = 0;

  (void)state;
  assert_int_equal(pacer_progress_eta_ms(&in, &eta), 1);
  assert_int_equal(eta, 100000);
}

static void
without_limits_the_completion_rate_is_used(void **state)
{
  struct pacer_progress_in in = {300, 100, 2000, 0, NULL, 0};
  struct pacer_progress_in none = {300, 0, 2000, 0, NULL, 0};
  uint64_t eta = 1;

  (void)state;
  assert_int_equal(pacer_progress_eta_ms(&in, &eta), 1);
  assert_int_equal(eta, 6000);
  assert_int_equal(pacer_progress_eta_ms(&none, &eta), 0);
  in.remaining = 0;
  assert_int_equal(pacer_progress_eta_ms(&in, &eta), 1);
  assert_int_equal(eta, 0);
}

static void
pause_note_names_bucket_cause_and_time_left(void **state)
{
  struct pacer_progress_bucket b[] = {
      {"acct:a0", 10.0, 0, 9000, "Retry-After 9000 ms"},
      {"acct:a1", 10.0, 5, 3500, "Retry-After 4000 ms"},
      {"acct:a2", 10.0, 5, 0, ""},
      {"acct:a3", 10.0, 5, 60000, "paused by an operator"}};
  char note[160];

  (void)state;
  assert_int_equal(pacer_progress_pause_note(b, 2, note, sizeof(note)), 2);
  assert_string_equal(note, "paused by upstream on acct:a1, 4 s left "
                            "(Retry-After 4000 ms) (+1 more paused)");
  assert_int_equal(pacer_progress_pause_note(b + 2, 2, note, sizeof(note)), 1);
  assert_string_equal(note, "paused by an operator on acct:a3, 1 min left");
  assert_int_equal(pacer_progress_pause_note(b + 2, 1, note, sizeof(note)), 0);
  assert_string_equal(note, "");
}

static void
an_operator_pause_until_resumed_has_no_eta(void **state)
{
  struct pacer_progress_bucket b[] = {
      {"acct:a1", 5.0, 10, 2706998777853ull, "paused by an operator"}};
  struct pacer_progress_in in = {10, 5, 1000, 10, b, 1};
  uint64_t eta = 7;
  char note[160];

  (void)state;
  assert_int_equal(pacer_progress_eta_ms(&in, &eta), 0);
  assert_int_equal(pacer_progress_pause_note(b, 1, note, sizeof(note)), 1);
  assert_string_equal(note, "paused by an operator on acct:a1, until resumed");
}

static void
durations_read_well(void **state)
{
  char d[32];

  (void)state;
  pacer_progress_duration(850, d, sizeof(d));
  assert_string_equal(d, "850 ms");
  pacer_progress_duration(4000, d, sizeof(d));
  assert_string_equal(d, "4 s");
  pacer_progress_duration(185000, d, sizeof(d));
  assert_string_equal(d, "3 min 5 s");
  pacer_progress_duration(7800000, d, sizeof(d));
  assert_string_equal(d, "2 h 10 min");
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(eta_follows_the_bucket_rate_not_the_completion_rate),
      cmocka_unit_test(a_pause_adds_its_time_left),
      cmocka_unit_test(jobs_not_yet_in_a_lane_split_like_the_held_ones),
      cmocka_unit_test(without_limits_the_completion_rate_is_used),
      cmocka_unit_test(pause_note_names_bucket_cause_and_time_left),
      cmocka_unit_test(an_operator_pause_until_resumed_has_no_eta),
      cmocka_unit_test(durations_read_well),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
