/* Unit tests for core/ratelimit_hdr.c: the IETF RateLimit forms, the
 * split RateLimit-* and X-RateLimit-* headers, the reset epoch rule and the
 * pause decision. Table-driven: each row is one cmocka test named after its
 * input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "core/ratelimit_hdr.h"

/* 2025-12-31 23:58:00 GMT; 2026-01-01 00:00:00 GMT is 120 s later. */
#define NOW_MS  UINT64_C(1767225480000)
#define HOUR_MS UINT64_C(3600000)
#define U       PACER_RATELIMIT_UNKNOWN

struct row {
  const char *name;                 /* the input and the expectation */
  struct pacer_ratelimit_headers h; /* received headers */
  uint64_t now_ms;                  /* wall clock, ms since the epoch */
  int rc;                           /* expected return */
  struct pacer_ratelimit want;      /* expected output */
  const char *msg;                  /* expected err.msg when rc != 0 */
};

#define SRC_IETF  PACER_RATELIMIT_SRC_IETF
#define SRC_DICT  PACER_RATELIMIT_SRC_IETF_DICT
#define SRC_SPLIT PACER_RATELIMIT_SRC_IETF_SPLIT
#define SRC_X     PACER_RATELIMIT_SRC_X
#define SRC_NONE  PACER_RATELIMIT_SRC_NONE

/* clang-format off */
static struct row rows[] = {
  /* 1. draft -08+: RateLimit list and RateLimit-Policy. */
  {"RateLimit \"default\";r=0;t=30 is exhausted for 30 s",
   {.ratelimit = "\"default\";r=0;t=30"}, NOW_MS, 0,
   {SRC_IETF, 0, 30000, U, U}, NULL},
  {"RateLimit with RateLimit-Policy \"default\";q=100;w=60 gives quota and "
   "window",
   {.ratelimit = "\"default\";r=0;t=30",
    .ratelimit_policy = "\"default\";q=100;w=60"}, NOW_MS, 0,
   {SRC_IETF, 0, 30000, 100, 60000}, NULL},
  {"RateLimit \"default\";r=50;t=30 has 50 left",
   {.ratelimit = "\"default\";r=50;t=30",
    .ratelimit_policy = "\"default\";q=100;w=60"}, NOW_MS, 0,
   {SRC_IETF, 50, 30000, 100, 60000}, NULL},
  {"RateLimit with two policies binds the one with least remaining",
   {.ratelimit = "\"permin\";r=5;t=20, \"perhr\";r=0;t=1800",
    .ratelimit_policy = "\"permin\";q=50;w=60,\"perhr\";q=1000;w=3600"},
   NOW_MS, 0, {SRC_IETF, 0, 1800000, 1000, 3600000}, NULL},
  {"RateLimit policies tied on remaining bind the latest reset",
   {.ratelimit = "\"a\";r=0;t=10, \"b\";r=0;t=40"}, NOW_MS, 0,
   {SRC_IETF, 0, 40000, U, U}, NULL},
  {"RateLimit with a token name default;r=3;t=5 is accepted",
   {.ratelimit = "default;r=3;t=5"}, NOW_MS, 0,
   {SRC_IETF, 3, 5000, U, U}, NULL},
  {"RateLimit without t and with pk has an unknown reset",
   {.ratelimit = "\"default\";r=999;pk=:dHJpYWwxMjEzMjM=:"}, NOW_MS, 0,
   {SRC_IETF, 999, U, U, U}, NULL},
  {"RateLimit-Policy of another name gives no quota",
   {.ratelimit = "\"a\";r=1;t=2", .ratelimit_policy = "\"b\";q=10;w=60"},
   NOW_MS, 0, {SRC_IETF, 1, 2000, U, U}, NULL},
  {"RateLimit with unknown parameters ignores them",
   {.ratelimit = "\"default\";r=0;t=30;acme-burst=5;comment=\"x\";f=?1"},
   NOW_MS, 0, {SRC_IETF, 0, 30000, U, U}, NULL},
  {"RateLimit with spaces ' \"default\"; r=0; t=30 ' is accepted",
   {.ratelimit = " \"default\"; r=0; t=30 "}, NOW_MS, 0,
   {SRC_IETF, 0, 30000, U, U}, NULL},
  {"RateLimit repeated identically, joined by the worker, is one policy",
   {.ratelimit = "\"default\";r=5;t=30, \"default\";r=5;t=30"}, NOW_MS, 0,
   {SRC_IETF, 5, 30000, U, U}, NULL},
  {"RateLimit-Policy alone gives quota and window only",
   {.ratelimit_policy = "\"default\";q=100;w=60"}, NOW_MS, 0,
   {SRC_IETF, U, U, 100, 60000}, NULL},
  {"RateLimit r=-1 is not a remaining count",
   {.ratelimit = "\"default\";r=-1;t=30"}, NOW_MS, PACER_EINVAL,
   {SRC_NONE, U, U, U, U},
   "RateLimit: \"\"default\";r=-1;t=30\" has no policy item with an "
   "integer \"r\" parameter"},
  {"RateLimit r=1.5 is not a remaining count",
   {.ratelimit = "\"default\";r=1.5"}, NOW_MS, PACER_EINVAL,
   {SRC_NONE, U, U, U, U},
   "RateLimit: \"\"default\";r=1.5\" has no policy item with an integer "
   "\"r\" parameter"},
  {"RateLimit with an unterminated string is discarded",
   {.ratelimit = "\"default;r=0;t=30"}, NOW_MS, PACER_EINVAL,
   {SRC_NONE, U, U, U, U},
   "RateLimit: \"\"default;r=0;t=30\" is neither a Structured Field List "
   "nor a Dictionary"},
  {"RateLimit with a trailing comma is discarded",
   {.ratelimit = "\"default\";r=0;t=30,"}, NOW_MS, PACER_EINVAL,
   {SRC_NONE, U, U, U, U},
   "RateLimit: \"\"default\";r=0;t=30,\" is neither a Structured Field "
   "List nor a Dictionary"},
  {"RateLimit r with 16 digits is discarded (RFC 9651 Integer range)",
   {.ratelimit = "\"default\";r=1234567890123456"}, NOW_MS, PACER_EINVAL,
   {SRC_NONE, U, U, U, U},
   "RateLimit: \"\"default\";r=1234567890123456\" is neither a Structured "
   "Field List nor a Dictionary"},
  {"RateLimit t=999999999999999 saturates at PACER_RATELIMIT_MAX_MS",
   {.ratelimit = "\"default\";r=0;t=999999999999999"}, NOW_MS, 0,
   {SRC_IETF, 0, PACER_RATELIMIT_MAX_MS, U, U}, NULL},
  /* 2. draft -07: RateLimit dictionary. */
  {"RateLimit limit=100, remaining=0, reset=30 (draft -07)",
   {.ratelimit = "limit=100, remaining=0, reset=30"}, NOW_MS, 0,
   {SRC_DICT, 0, 30000, 100, U}, NULL},
  {"RateLimit dictionary with RateLimit-Policy 100;w=60 gives the window",
   {.ratelimit = "limit=100, remaining=0, reset=30",
    .ratelimit_policy = "100;w=60"}, NOW_MS, 0,
   {SRC_DICT, 0, 30000, 100, 60000}, NULL},
  {"RateLimit dictionary picks the policy whose quota is its limit",
   {.ratelimit = "limit=100, remaining=7, reset=5",
    .ratelimit_policy = "10;w=1, 100;w=60"}, NOW_MS, 0,
   {SRC_DICT, 7, 5000, 100, 60000}, NULL},
  {"RateLimit dictionary without remaining has it unknown",
   {.ratelimit = "limit=100, reset=30"}, NOW_MS, 0,
   {SRC_DICT, U, 30000, 100, U}, NULL},
  /* 3. drafts -00..-06: split fields. */
  {"RateLimit-Limit 100, RateLimit-Remaining 0, RateLimit-Reset 30",
   {.ratelimit_limit = "100", .ratelimit_remaining = "0",
    .ratelimit_reset = "30"}, NOW_MS, 0,
   {SRC_SPLIT, 0, 30000, 100, U}, NULL},
  {"Docker Hub ratelimit-limit 100;w=21600 and remaining 76;w=21600",
   {.ratelimit_limit = "100;w=21600", .ratelimit_remaining = "76;w=21600"},
   NOW_MS, 0, {SRC_SPLIT, 76, U, 100, 21600000}, NULL},
  {"RateLimit-Limit '10, 10;w=1' takes the window of the matching policy",
   {.ratelimit_limit = "10, 10;w=1, 50;w=60", .ratelimit_remaining = "3"},
   NOW_MS, 0, {SRC_SPLIT, 3, U, 10, 1000}, NULL},
  {"GitLab RateLimit-Reset as epoch seconds 1767225600 is 120 s away",
   {.ratelimit_remaining = "0", .ratelimit_reset = "1767225600"}, NOW_MS, 0,
   {SRC_SPLIT, 0, 120000, U, U}, NULL},
  {"RateLimit-Reset 1.5 as a Decimal is 1500 ms",
   {.ratelimit_remaining = "0", .ratelimit_reset = "1.5"}, NOW_MS, 0,
   {SRC_SPLIT, 0, 1500, U, U}, NULL},
  /* 4. X-RateLimit-*. */
  {"X-RateLimit-Limit 100, Remaining 0, Reset 30 (delta seconds)",
   {.x_limit = "100", .x_remaining = "0", .x_reset = "30"}, NOW_MS, 0,
   {SRC_X, 0, 30000, 100, U}, NULL},
  {"X-RateLimit-Reset epoch seconds 1767225600 is 120 s away",
   {.x_remaining = "0", .x_reset = "1767225600"}, NOW_MS, 0,
   {SRC_X, 0, 120000, U, U}, NULL},
  {"X-RateLimit-Reset epoch is measured from Date, cancelling 1 h skew",
   {.x_remaining = "0", .x_reset = "1767225600",
    .date = "Wed, 31 Dec 2025 23:58:00 GMT"}, NOW_MS + HOUR_MS, 0,
   {SRC_X, 0, 120000, U, U}, NULL},
  {"X-RateLimit-Reset epoch with a junk Date falls back to now",
   {.x_remaining = "0", .x_reset = "1767225600", .date = "soon"},
   NOW_MS + 60000, 0, {SRC_X, 0, 60000, U, U}, NULL},
  {"X-RateLimit-Reset epoch in the past resets now",
   {.x_remaining = "0", .x_reset = "1767225000"}, NOW_MS, 0,
   {SRC_X, 0, 0, U, U}, NULL},
  {"X-RateLimit-Reset epoch milliseconds 1767225600000 is 120 s away",
   {.x_remaining = "0", .x_reset = "1767225600000"}, NOW_MS, 0,
   {SRC_X, 0, 120000, U, U}, NULL},
  {"X-RateLimit-Reset epoch seconds with fraction .0004 rounds up a ms",
   {.x_remaining = "0", .x_reset = "1767225600.0004"}, NOW_MS, 0,
   {SRC_X, 0, 120001, U, U}, NULL},
  {"X-RateLimit-Reset 999999999 is still delta seconds",
   {.x_remaining = "0", .x_reset = "999999999"}, NOW_MS, 0,
   {SRC_X, 0, UINT64_C(999999999000), U, U}, NULL},
  {"X-RateLimit-Reset 1000000000 is epoch (2001), so already past",
   {.x_remaining = "0", .x_reset = "1000000000"}, NOW_MS, 0,
   {SRC_X, 0, 0, U, U}, NULL},
  {"X-RateLimit-Reset 0.0001 rounds up to 1 ms",
   {.x_remaining = "0", .x_reset = "0.0001"}, NOW_MS, 0,
   {SRC_X, 0, 1, U, U}, NULL},
  {"X-RateLimit-Reset with 40 digits saturates at PACER_RATELIMIT_MAX_MS",
   {.x_remaining = "0",
    .x_reset = "9999999999999999999999999999999999999999"}, NOW_MS, 0,
   {SRC_X, 0, PACER_RATELIMIT_MAX_MS, U, U}, NULL},
  {"X-RateLimit-Remaining ' 10 , 10 ' joined identically is 10",
   {.x_remaining = " 10 , 10 "}, NOW_MS, 0, {SRC_X, 10, U, U, U}, NULL},
  {"X-RateLimit-Remaining '10, 9' conflicting is unusable",
   {.x_remaining = "10, 9"}, NOW_MS, PACER_EINVAL, {SRC_NONE, U, U, U, U},
   "X-RateLimit-Remaining: \"10, 9\" holds conflicting values"},
  {"X-RateLimit-Remaining 'lots' is unusable",
   {.x_remaining = "lots"}, NOW_MS, PACER_EINVAL, {SRC_NONE, U, U, U, U},
   "X-RateLimit-Remaining: \"lots\" is not a non-negative integer"},
  {"X-RateLimit-Remaining -1 is unusable",
   {.x_remaining = "-1"}, NOW_MS, PACER_EINVAL, {SRC_NONE, U, U, U, U},
   "X-RateLimit-Remaining: \"-1\" is not a non-negative integer"},
  {"X-RateLimit-Remaining 1.5 is unusable",
   {.x_remaining = "1.5"}, NOW_MS, PACER_EINVAL, {SRC_NONE, U, U, U, U},
   "X-RateLimit-Remaining: \"1.5\" is not a non-negative integer"},
  {"X-RateLimit-Reset nan is unusable",
   {.x_reset = "nan"}, NOW_MS, PACER_EINVAL, {SRC_NONE, U, U, U, U},
   "X-RateLimit-Reset: \"nan\" is not a non-negative number of seconds"},
  {"X-RateLimit-Remaining junk with a valid reset keeps the reset",
   {.x_remaining = "lots", .x_reset = "30"}, NOW_MS, 0,
   {SRC_X, U, 30000, U, U}, NULL},
  {"X-RateLimit-Limit alone gives the quota only",
   {.x_limit = "100"}, NOW_MS, 0, {SRC_X, U, U, 100, U}, NULL},
  /* Precedence between families, and absence. */
  {"RateLimit wins over X-RateLimit-* when both appear",
   {.ratelimit = "\"default\";r=0;t=30", .x_remaining = "7",
    .x_reset = "5"}, NOW_MS, 0, {SRC_IETF, 0, 30000, U, U}, NULL},
  {"invalid RateLimit falls back to X-RateLimit-*",
   {.ratelimit = "\"oops", .x_remaining = "7", .x_reset = "5"}, NOW_MS, 0,
   {SRC_X, 7, 5000, U, U}, NULL},
  {"RateLimit-Policy alone loses to X-RateLimit-Remaining",
   {.ratelimit_policy = "\"default\";q=100;w=60", .x_remaining = "0",
    .x_reset = "9"}, NOW_MS, 0, {SRC_X, 0, 9000, U, U}, NULL},
  {"no rate-limit header is not found", {.date = "x", .retry_after = "5"},
   NOW_MS, PACER_ENOTFOUND, {SRC_NONE, U, U, U, U},
   "rate-limit headers: absent"},
};
/* clang-format on */

static void
ratelimit_row(void **state)
{
  const struct row *r = *state;
  struct pacer_ratelimit got;
  struct pacer_error err;
  int rc;

  memset(&got, 0x5a, sizeof(got)); /* must be fully written */
  rc = pacer_ratelimit_parse(&r->h, r->now_ms, &got, &err);
  assert_int_equal(rc, r->rc);
  assert_int_equal(err.code, r->rc);
  assert_string_equal(err.msg, r->rc == 0 ? "" : r->msg);
  assert_int_equal(got.source, r->want.source);
  assert_int_equal(got.remaining, r->want.remaining);
  assert_int_equal(got.reset_ms, r->want.reset_ms);
  assert_int_equal(got.limit, r->want.limit);
  assert_int_equal(got.window_ms, r->want.window_ms);
  assert_int_equal(pacer_ratelimit_parse(&r->h, r->now_ms, &got, NULL), r->rc);
}

/* ------------------------------------------------------------------------
 * Header collection
 * ------------------------------------------------------------------------ */

static void
header_names_match_case_insensitively_with_aliases(void **state)
{
  struct pacer_ratelimit_headers h = {0};

  (void)state;
  assert_int_equal(pacer_ratelimit_headers_set(&h, "RateLimit", "a"), 1);
  assert_int_equal(pacer_ratelimit_headers_set(&h, "ratelimit-policy", "b"), 1);
  assert_int_equal(
      pacer_ratelimit_headers_set(&h, "X-RATELIMIT-REMAINING", "c"), 1);
  assert_int_equal(pacer_ratelimit_headers_set(&h, "x-rate-limit-reset", "d"),
                   1);
  assert_int_equal(pacer_ratelimit_headers_set(&h, "retry-after", "e"), 1);
  assert_int_equal(pacer_ratelimit_headers_set(&h, "date", "f"), 1);
  assert_int_equal(pacer_ratelimit_headers_set(&h, "content-type", "g"), 0);
  assert_int_equal(pacer_ratelimit_headers_set(&h, "ratelimit-policyx", "g"),
                   0);
  assert_int_equal(pacer_ratelimit_headers_set(&h, "ratelimi", "g"), 0);
  assert_string_equal(h.ratelimit, "a");
  assert_string_equal(h.ratelimit_policy, "b");
  assert_string_equal(h.x_remaining, "c");
  assert_string_equal(h.x_reset, "d");
  assert_string_equal(h.retry_after, "e");
  assert_string_equal(h.date, "f");
  assert_null(h.x_limit);
}

static void
header_set_twice_is_refused_not_overwritten(void **state)
{
  struct pacer_ratelimit_headers h = {0};

  (void)state;
  assert_int_equal(pacer_ratelimit_headers_set(&h, "retry-after", "120"), 1);
  assert_int_equal(pacer_ratelimit_headers_set(&h, "Retry-After", "60"),
                   PACER_EINVAL);
  assert_string_equal(h.retry_after, "120");
}

/* ------------------------------------------------------------------------
 * Pause decision
 * ------------------------------------------------------------------------ */

static const struct pacer_ratelimit exhausted_30s = {SRC_X, 0, 30000, 100, U};

static void
pause_retry_after_wins_even_when_shorter_than_reset(void **state)
{
  uint64_t ra = 5000, pause = 1;

  (void)state;
  assert_int_equal(pacer_ratelimit_pause_ms(&ra, &exhausted_30s, &pause),
                   PACER_RATELIMIT_PAUSE_RETRY_AFTER);
  assert_int_equal(pause, 5000);
}

static void
pause_retry_after_zero_still_wins(void **state)
{
  uint64_t ra = 0, pause = 1;

  (void)state;
  assert_int_equal(pacer_ratelimit_pause_ms(&ra, &exhausted_30s, &pause),
                   PACER_RATELIMIT_PAUSE_RETRY_AFTER);
  assert_int_equal(pause, 0);
}

static void
pause_remaining_zero_waits_for_the_reset(void **state)
{
  uint64_t pause = 1;

  (void)state;
  assert_int_equal(pacer_ratelimit_pause_ms(NULL, &exhausted_30s, &pause),
                   PACER_RATELIMIT_PAUSE_EXHAUSTED);
  assert_int_equal(pause, 30000);
}

static void
pause_none_without_a_known_reset_or_with_quota_left(void **state)
{
  struct pacer_ratelimit no_reset = {SRC_X, 0, U, U, U};
  struct pacer_ratelimit left = {SRC_X, 1, 30000, U, U};
  struct pacer_ratelimit unknown = {SRC_NONE, U, U, U, U};
  uint64_t pause = 1;

  (void)state;
  assert_int_equal(pacer_ratelimit_pause_ms(NULL, &no_reset, &pause),
                   PACER_RATELIMIT_PAUSE_NONE);
  assert_int_equal(pause, 0);
  pause = 1;
  assert_int_equal(pacer_ratelimit_pause_ms(NULL, &left, &pause),
                   PACER_RATELIMIT_PAUSE_NONE);
  assert_int_equal(pause, 0);
  assert_int_equal(pacer_ratelimit_pause_ms(NULL, &unknown, &pause),
                   PACER_RATELIMIT_PAUSE_NONE);
  assert_int_equal(pacer_ratelimit_pause_ms(NULL, NULL, &pause),
                   PACER_RATELIMIT_PAUSE_NONE);
}

/* A 429 as the worker reports it: lower-case names, joined duplicates. */
static void
lower_case_429_headers_flow_to_a_retry_after_pause(void **state)
{
  static const char *const names[] = {"content-type", "retry-after",
                                      "x-ratelimit-remaining",
                                      "x-ratelimit-reset", "date"};
  static const char *const values[] = {"application/json", "30, 30", "0",
                                       "1767225600",
                                       "Wed, 31 Dec 2025 23:58:00 GMT"};
  struct pacer_ratelimit_headers h = {0};
  struct pacer_ratelimit rl;
  uint64_t ra = 0, pause = 0;
  size_t i;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(names); i++)
    assert_true(pacer_ratelimit_headers_set(&h, names[i], values[i]) >= 0);
  assert_int_equal(pacer_ratelimit_parse(&h, NOW_MS, &rl, NULL), 0);
  assert_int_equal(rl.reset_ms, 120000);
  assert_int_equal(
      pacer_retry_after_parse(&h.retry_after, 1, h.date, NOW_MS, &ra, NULL), 0);
  assert_int_equal(pacer_ratelimit_pause_ms(&ra, &rl, &pause),
                   PACER_RATELIMIT_PAUSE_RETRY_AFTER);
  assert_int_equal(pause, 30000);
  /* Without a usable Retry-After the exhausted quota decides. */
  h.retry_after = "soon";
  assert_true(pacer_retry_after_parse(&h.retry_after, 1, h.date, NOW_MS, &ra,
                                      NULL) < 0);
  assert_int_equal(pacer_ratelimit_pause_ms(NULL, &rl, &pause),
                   PACER_RATELIMIT_PAUSE_EXHAUSTED);
  assert_int_equal(pause, 120000);
}

static void
source_names_are_static_strings(void **state)
{
  (void)state;
  assert_string_equal(pacer_ratelimit_source_name(SRC_IETF), "RateLimit");
  assert_string_equal(pacer_ratelimit_source_name(SRC_X), "X-RateLimit");
  assert_string_equal(pacer_ratelimit_source_name(SRC_NONE), "none");
  assert_non_null(pacer_ratelimit_source_name(SRC_DICT));
  assert_non_null(pacer_ratelimit_source_name(SRC_SPLIT));
}

#define EXTRA 8

int
main(void)
{
  struct CMUnitTest tests[PACER_ARRAY_SIZE(rows) + EXTRA] = {
      cmocka_unit_test(header_names_match_case_insensitively_with_aliases),
      cmocka_unit_test(header_set_twice_is_refused_not_overwritten),
      cmocka_unit_test(pause_retry_after_wins_even_when_shorter_than_reset),
      cmocka_unit_test(pause_retry_after_zero_still_wins),
      cmocka_unit_test(pause_remaining_zero_waits_for_the_reset),
      cmocka_unit_test(pause_none_without_a_known_reset_or_with_quota_left),
      cmocka_unit_test(lower_case_429_headers_flow_to_a_retry_after_pause),
      cmocka_unit_test(source_names_are_static_strings),
  };
  size_t i;

  for (i = 0; i < PACER_ARRAY_SIZE(rows); i++) {
    struct CMUnitTest *t = &tests[EXTRA + i];

    t->name = rows[i].name;
    t->test_func = ratelimit_row;
    t->setup_func = NULL;
    t->teardown_func = NULL;
    t->initial_state = &rows[i];
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
