/* Unit tests for core/retry_after.c: every Retry-After form (HTTP-date,
 * fractional, junk, huge), HTTP-date calendar edges and duplicate handling.
 * Table-driven: each row is one cmocka test named after its input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "core/retry_after.h"

/* Sun, 06 Nov 1994 08:49:37 GMT, the RFC 9110 example instant. */
#define NOW_MS  UINT64_C(784111777000)
#define MIN_MS  UINT64_C(60000)
#define HOUR_MS UINT64_C(3600000)
#define DAY_MS  UINT64_C(86400000)
#define KEEP_MS UINT64_C(0xdead) /* sentinel: *delay_ms must stay untouched */

struct row {
  const char *name;      /* test name: the input and the expectation */
  const char *values[2]; /* header values as received */
  size_t nvalues;        /* 0: header absent */
  const char *date;      /* response Date, or NULL */
  uint64_t now_ms;       /* wall clock, ms since the epoch */
  int rc;                /* expected return */
  uint64_t delay_ms;     /* expected delay when rc == 0 */
  const char *msg;       /* expected err.msg when rc != 0, or NULL */
};

#define OK(n, v, ms)                                                           \
  {                                                                            \
    n, {v, NULL}, 1, NULL, NOW_MS, 0, ms, NULL                                 \
  }
#define BAD(n, v, m)                                                           \
  {                                                                            \
    n, {v, NULL}, 1, NULL, NOW_MS, PACER_EINVAL, 0, m                          \
  }

/* clang-format off */
static struct row rows[] = {
  /* the three HTTP-date forms, 120 s ahead. */
  OK("IMF-fixdate 120 s ahead waits 120 s",
     "Sun, 06 Nov 1994 08:51:37 GMT", 120000),
  OK("RFC 850 date 120 s ahead waits 120 s",
     "Sunday, 06-Nov-94 08:51:37 GMT", 120000),
  OK("asctime date 'Sun Nov  6 08:51:37 1994' waits 120 s",
     "Sun Nov  6 08:51:37 1994", 120000),
  OK("asctime date with two-digit day 'Nov 06' waits 120 s",
     "Sun Nov 06 08:51:37 1994", 120000),
  OK("IMF-fixdate whose weekday does not match the date is still used",
     "Mon, 06 Nov 1994 08:51:37 GMT", 120000),
  /* fractions round up, never shorten the wait. */
  OK("2.5 rounds up to 3 s", "2.5", 3000),
  OK("299.997 rounds up to 300 s", "299.997", 300000),
  OK("0.4 rounds up to 1 s", "0.4", 1000),
  OK("2.000 stays 2 s", "2.000", 2000),
  OK("1.000000000000000000001 rounds up to 2 s",
     "1.000000000000000000001", 2000),
  OK("' 120 ' with surrounding spaces waits 120 s", " 120 ", 120000),
  OK("tab-surrounded 120 waits 120 s", "\t120\t", 120000),
  OK("0 means retry now, and is present", "0", 0),
  OK("leading zeros 000000000000000000000000000000120 wait 120 s",
     "000000000000000000000000000000120", 120000),
  /* negative, junk and non-finite values count as absent. */
  BAD("-3 is negative so absent", "-3",
      "Retry-After: \"-3\" is negative"),
  BAD("+5 has a sign so absent", "+5",
      "Retry-After: \"+5\" has a sign, delay-seconds are digits only"),
  BAD("abc is junk so absent", "abc",
      "Retry-After: \"abc\" is neither delay-seconds nor an HTTP-date"),
  BAD("1e10000 is not delay-seconds so absent", "1e10000",
      "Retry-After: \"1e10000\" is neither delay-seconds nor an HTTP-date"),
  BAD("nan is absent", "nan",
      "Retry-After: \"nan\" is neither delay-seconds nor an HTTP-date"),
  BAD("inf is absent", "inf",
      "Retry-After: \"inf\" is neither delay-seconds nor an HTTP-date"),
  BAD("hex 0x10 is absent", "0x10",
      "Retry-After: \"0x10\" is neither delay-seconds nor an HTTP-date"),
  BAD("'1 20' with an inner space is absent", "1 20",
      "Retry-After: \"1 20\" is neither delay-seconds nor an HTTP-date"),
  BAD(".5 without a leading digit is absent", ".5",
      "Retry-After: \".5\" is neither delay-seconds nor an HTTP-date"),
  BAD("5. without a fraction digit is absent", "5.",
      "Retry-After: \"5.\" is neither delay-seconds nor an HTTP-date"),
  BAD("empty value is absent", "", "Retry-After: empty value"),
  BAD("whitespace-only value is absent", "   ", "Retry-After: empty value"),
  {"header not received is absent", {NULL, NULL}, 0, NULL, NOW_MS,
   PACER_ENOTFOUND, 0, "Retry-After: absent"},
  {"NULL header value is absent", {NULL, NULL}, 1, NULL, NOW_MS,
   PACER_ENOTFOUND, 0, "Retry-After: absent"},
  /* repeated header. */
  OK("repeated identical '120, 120' as joined by the worker waits 120 s",
     "120, 120", 120000),
  {"repeated identical 120 on two header lines waits 120 s", {"120", "120"},
   2, NULL, NOW_MS, 0, 120000, NULL},
  BAD("repeated conflicting '120, 60' is absent", "120, 60",
      "Retry-After: conflicting values \"120\" and \"60\""),
  {"repeated conflicting 120 and 60 on two header lines is absent",
   {"120", "60"}, 2, NULL, NOW_MS, PACER_EINVAL, 0,
   "Retry-After: conflicting values \"120\" and \"60\""},
  BAD("repeated '120, abc' with one junk copy is absent", "120, abc",
      "Retry-After: \"abc\" is neither delay-seconds nor an HTTP-date"),
  OK("repeated identical IMF-fixdates joined with ', ' wait 120 s",
     "Sun, 06 Nov 1994 08:51:37 GMT, Sun, 06 Nov 1994 08:51:37 GMT",
     120000),
  BAD("repeated conflicting IMF-fixdates are absent",
      "Sun, 06 Nov 1994 08:51:37 GMT, Sun, 06 Nov 1994 08:52:37 GMT",
      "Retry-After: conflicting values \"Sun, 06 Nov 1994 08:51:37 GMT\" "
      "and \"Sun, 06 Nov 1994 08:52:37 GMT\""),
  OK("IMF-fixdate and delay-seconds naming the same instant agree",
     "Sun, 06 Nov 1994 08:51:37 GMT, 120", 120000),
  OK("trailing empty list element '120,' is ignored", "120,", 120000),
  /* huge values in 64-bit ms, saturating, never wrapping. */
  OK("2147484 s is 2147484000 ms, past 2^31 ms", "2147484",
     UINT64_C(2147484000)),
  OK("9999999999 s is 9999999999000 ms", "9999999999",
     UINT64_C(9999999999000)),
  OK("86400 s is one day", "86400", DAY_MS),
  OK("IMF-fixdate 24 h ahead waits one day",
     "Mon, 07 Nov 1994 08:49:37 GMT", DAY_MS),
  OK("very long digit string saturates at PACER_RETRY_AFTER_MAX_MS",
     "99999999999999999999999999999999999999999999999999",
     PACER_RETRY_AFTER_MAX_MS),
  OK("1000000000000 s saturates at exactly PACER_RETRY_AFTER_MAX_MS",
     "1000000000000", PACER_RETRY_AFTER_MAX_MS),
  OK("IMF-fixdate in year 9999 stays exact",
     "Fri, 31 Dec 9999 23:59:59 GMT", UINT64_C(252618189022000)),
  /* Date header cancels skew; past dates mean now. */
  {"Date header cancels our clock running 1 h fast",
   {"Sun, 06 Nov 1994 08:51:37 GMT", NULL}, 1,
   "Sun, 06 Nov 1994 08:49:37 GMT", NOW_MS + HOUR_MS, 0, 120000, NULL},
  {"Date header cancels our clock running 10 min slow",
   {"Sun, 06 Nov 1994 08:51:37 GMT", NULL}, 1,
   "Sun, 06 Nov 1994 08:49:37 GMT", NOW_MS - 10 * MIN_MS, 0, 120000, NULL},
  {"Date header in RFC 850 form also cancels skew",
   {"Sun, 06 Nov 1994 08:51:37 GMT", NULL}, 1,
   "Sunday, 06-Nov-94 08:49:37 GMT", NOW_MS + HOUR_MS, 0, 120000, NULL},
  {"junk Date header falls back to now",
   {"Sun, 06 Nov 1994 08:51:37 GMT", NULL}, 1, "yesterday",
   NOW_MS + MIN_MS, 0, MIN_MS, NULL},
  {"Date header does not change delay-seconds", {"120", NULL}, 1,
   "Sun, 06 Nov 1994 07:49:37 GMT", NOW_MS, 0, 120000, NULL},
  {"retry date before the Date header waits 0",
   {"Sun, 06 Nov 1994 08:48:37 GMT", NULL}, 1,
   "Sun, 06 Nov 1994 08:49:37 GMT", NOW_MS - HOUR_MS, 0, 0, NULL},
  OK("IMF-fixdate in the past waits 0, not absent",
     "Sun, 06 Nov 1994 08:00:00 GMT", 0),
  OK("IMF-fixdate before 1970 waits 0", "Mon, 01 Jan 1900 00:00:00 GMT", 0),
  {"huge now with a date does not wrap",
   {"Sun, 06 Nov 1994 08:51:37 GMT", NULL}, 1, NULL, UINT64_MAX, 0, 0,
   NULL},
  /* Calendar. */
  BAD("Feb 30 is absent", "Sat, 30 Feb 2019 00:00:00 GMT",
      "Retry-After: \"Sat, 30 Feb 2019 00:00:00 GMT\" is not a valid date: "
      "no such day in that month"),
  {"leap day Thu, 29 Feb 2024 is valid", {"Thu, 29 Feb 2024 00:00:00 GMT",
   NULL}, 1, NULL, UINT64_C(1709164800000) - MIN_MS, 0, MIN_MS, NULL},
  BAD("Feb 29 2023 is absent", "Wed, 29 Feb 2023 00:00:00 GMT",
      "Retry-After: \"Wed, 29 Feb 2023 00:00:00 GMT\" is not a valid date: "
      "no such day in that month"),
  {"Feb 29 2000 is valid by the 400-year rule",
   {"Tue, 29 Feb 2000 12:00:00 GMT", NULL}, 1, NULL,
   UINT64_C(951825600000) - 30000, 0, 30000, NULL},
  BAD("Feb 29 2100 is absent by the 100-year rule",
      "Mon, 29 Feb 2100 00:00:00 GMT",
      "Retry-After: \"Mon, 29 Feb 2100 00:00:00 GMT\" is not a valid date: "
      "no such day in that month"),
  BAD("day 00 is absent", "Sun, 00 Nov 1994 08:51:37 GMT",
      "Retry-After: \"Sun, 00 Nov 1994 08:51:37 GMT\" is not a valid date: "
      "no such day in that month"),
  BAD("hour 24 is absent", "Sun, 06 Nov 1994 24:00:00 GMT",
      "Retry-After: \"Sun, 06 Nov 1994 24:00:00 GMT\" is not a valid date: "
      "time of day out of range"),
  {"leap second 23:59:60 is the next midnight",
   {"Sun, 06 Nov 1994 23:59:60 GMT", NULL}, 1,
   "Sun, 06 Nov 1994 23:59:00 GMT", NOW_MS, 0, MIN_MS, NULL},
  BAD("invalid day name 'Sux' is absent", "Sux, 06 Nov 1994 08:51:37 GMT",
      "Retry-After: \"Sux\" is neither delay-seconds nor an HTTP-date"),
  BAD("invalid month name 'Nox' is absent", "Sun, 06 Nox 1994 08:51:37 GMT",
      "Retry-After: \"Sun\" is neither delay-seconds nor an HTTP-date"),
  BAD("lower-case 'gmt' is absent: HTTP-date is case-sensitive",
      "Sun, 06 Nov 1994 08:51:37 gmt",
      "Retry-After: \"Sun\" is neither delay-seconds nor an HTTP-date"),
  BAD("IMF-fixdate with one-digit day '6 Nov' is absent",
      "Sun, 6 Nov 1994 08:51:37 GMT",
      "Retry-After: \"Sun\" is neither delay-seconds nor an HTTP-date"),
  BAD("asctime with unpadded day 'Nov 6' is absent",
      "Sun Nov 6 08:51:37 1994",
      "Retry-After: \"Sun Nov 6 08:51:37 1994\" is neither delay-seconds "
      "nor an HTTP-date"),
  BAD("RFC 850 date with a short day name is absent",
      "Sun, 06-Nov-94 08:51:37 GMT",
      "Retry-After: \"Sun\" is neither delay-seconds nor an HTTP-date"),
  BAD("IMF-fixdate followed by junk is absent",
      "Sun, 06 Nov 1994 08:51:37 GMT x",
      "Retry-After: \"Sun\" is neither delay-seconds nor an HTTP-date"),
  /* RFC 9110 §5.6.7: two-digit years. */
  {"RFC 850 year 94 seen from 2025 is 1994, in the past",
   {"Sunday, 06-Nov-94 08:51:37 GMT", NULL}, 1, NULL,
   UINT64_C(1767225480000), 0, 0, NULL},
  {"RFC 850 year 26 seen from the end of 2025 is 2026",
   {"Thursday, 01-Jan-26 00:00:00 GMT", NULL}, 1, NULL,
   UINT64_C(1767225480000), 0, 120000, NULL},
  {"RFC 850 year 00 seen from the end of 2099 is 2100",
   {"Friday, 01-Jan-00 00:00:00 GMT", NULL}, 1, NULL,
   UINT64_C(4102444680000), 0, 120000, NULL},
};
/* clang-format on */

static void
retry_after_row(void **state)
{
  const struct row *r = *state;
  struct pacer_error err;
  uint64_t delay_ms = KEEP_MS;
  int rc;

  rc = pacer_retry_after_parse(r->values, r->nvalues, r->date, r->now_ms,
                               &delay_ms, &err);
  assert_int_equal(rc, r->rc);
  assert_int_equal(err.code, r->rc);
  if (r->rc == 0) {
    assert_int_equal(delay_ms, r->delay_ms);
    assert_string_equal(err.msg, "");
  } else {
    assert_int_equal(delay_ms, KEEP_MS);
    assert_string_equal(err.msg, r->msg);
  }
  /* The same answer without an error buffer. */
  delay_ms = KEEP_MS;
  assert_int_equal(pacer_retry_after_parse(r->values, r->nvalues, r->date,
                                           r->now_ms, &delay_ms, NULL),
                   r->rc);
  assert_int_equal(delay_ms, r->rc == 0 ? r->delay_ms : KEEP_MS);
}

/* ------------------------------------------------------------------------
 * pacer_retry_after_parse_date
 * ------------------------------------------------------------------------ */

static void
date_parses_all_three_forms_to_the_same_second(void **state)
{
  static const char *const forms[] = {
      "Sun, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37 GMT",
      "Sun Nov  6 08:49:37 1994",
      "  Sun, 06 Nov 1994 08:49:37 GMT  ",
  };
  size_t i;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(forms); i++) {
    int64_t s = 0;

    assert_int_equal(pacer_retry_after_parse_date(forms[i], NOW_MS, &s, NULL),
                     0);
    assert_int_equal(s, 784111777);
  }
}

static void
date_counts_days_across_eras(void **state)
{
  int64_t s = 0;

  (void)state;
  assert_int_equal(pacer_retry_after_parse_date("Thu, 01 Jan 1970 00:00:00 GMT",
                                                0, &s, NULL),
                   0);
  assert_int_equal(s, 0);
  assert_int_equal(pacer_retry_after_parse_date("Sat, 01 Jan 0000 00:00:00 GMT",
                                                0, &s, NULL),
                   0);
  assert_int_equal(s, INT64_C(-62167219200));
  assert_int_equal(pacer_retry_after_parse_date("Fri, 31 Dec 9999 23:59:59 GMT",
                                                0, &s, NULL),
                   0);
  assert_int_equal(s, INT64_C(253402300799));
  assert_int_equal(pacer_retry_after_parse_date("Wed, 31 Dec 1969 23:59:59 GMT",
                                                0, &s, NULL),
                   0);
  assert_int_equal(s, -1);
}

static void
date_rejects_junk_with_a_message(void **state)
{
  struct pacer_error err;
  int64_t s = 42;

  (void)state;
  assert_int_equal(pacer_retry_after_parse_date("120", NOW_MS, &s, &err),
                   PACER_EINVAL);
  assert_string_equal(err.msg, "HTTP-date: \"120\" is not an HTTP-date");
  assert_int_equal(pacer_retry_after_parse_date("Sun, 31 Nov 1994 08:49:37 GMT",
                                                NOW_MS, &s, &err),
                   PACER_EINVAL);
  assert_string_equal(err.msg, "HTTP-date: \"Sun, 31 Nov 1994 08:49:37 GMT\" "
                               "is not a valid date: no such day in that "
                               "month");
  assert_int_equal(pacer_retry_after_parse_date(NULL, NOW_MS, &s, &err),
                   PACER_ENOTFOUND);
  assert_string_equal(err.msg, "HTTP-date: absent");
  assert_int_equal(pacer_retry_after_parse_date(" ", NOW_MS, &s, &err),
                   PACER_ENOTFOUND);
  assert_int_equal(s, 42);
}

static void
date_accepts_identical_duplicates_only(void **state)
{
  struct pacer_error err;
  int64_t s = 0;

  (void)state;
  assert_int_equal(
      pacer_retry_after_parse_date(
          "Sun, 06 Nov 1994 08:49:37 GMT, Sun Nov  6 08:49:37 1994", NOW_MS, &s,
          &err),
      0);
  assert_int_equal(s, 784111777);
  assert_int_equal(
      pacer_retry_after_parse_date("Sun, 06 Nov 1994 08:49:37 GMT, "
                                   "Sun, 06 Nov 1994 08:49:38 GMT",
                                   NOW_MS, &s, &err),
      PACER_EINVAL);
  assert_string_equal(err.msg, "HTTP-date: conflicting values");
}

static void
long_values_are_quoted_truncated_in_messages(void **state)
{
  static const char long_junk[] =
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
  const char *values[] = {long_junk};
  struct pacer_error err;
  uint64_t ms = 0;

  (void)state;
  assert_int_equal(pacer_retry_after_parse(values, 1, NULL, NOW_MS, &ms, &err),
                   PACER_EINVAL);
  assert_true(strlen(err.msg) < sizeof(err.msg) - 1);
  assert_non_null(strstr(err.msg, "is neither delay-seconds"));
}

#define EXTRA 5

int
main(void)
{
  struct CMUnitTest tests[PACER_ARRAY_SIZE(rows) + EXTRA] = {
      cmocka_unit_test(date_parses_all_three_forms_to_the_same_second),
      cmocka_unit_test(date_counts_days_across_eras),
      cmocka_unit_test(date_rejects_junk_with_a_message),
      cmocka_unit_test(date_accepts_identical_duplicates_only),
      cmocka_unit_test(long_values_are_quoted_truncated_in_messages),
  };
  size_t i;

  for (i = 0; i < PACER_ARRAY_SIZE(rows); i++) {
    struct CMUnitTest *t = &tests[EXTRA + i];

    t->name = rows[i].name;
    t->test_func = retry_after_row;
    t->setup_func = NULL;
    t->teardown_func = NULL;
    t->initial_state = &rows[i];
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
