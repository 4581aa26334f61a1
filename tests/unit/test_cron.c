/* Unit tests for core/cron.c: crontab(5) expressions, with seconds, and
 * the next and previous ticks in UTC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cron.h"
#include "core/schedule.h"

/* Sunday 2026-12-06 23:10:30 UTC and friends, unix ms */
#define T_231030 1796598630000ull
#define T_231031 1796598631000ull
#define T_231032 1796598632000ull
#define T_2300   1796598000000ull
#define T_0700   1796601600000ull /* 2026-12-07 00:00 */
#define T_MAR1   1772323200000ull /* 2026-03-01 */
#define T_LEAP   1835395200000ull /* 2028-02-29 */
#define T_SAT10  1796464800000ull /* 2026-12-05 10:00, Saturday */
#define T_MON9   1796634000000ull /* 2026-12-07 09:00, Monday */
#define T_FRI13  1794528000000ull /* 2026-11-13, Friday */
#define T_FRI20  1795132800000ull /* 2026-11-20, Friday */
#define T_NYE    1798761599000ull /* 2026-12-31 23:59:59 */
#define T_NY     1798761600000ull /* 2027-01-01 */

static struct pacer_cron
parse(const char *e)
{
  struct pacer_cron c;
  struct pacer_error err;

  if (pacer_cron_parse(e, &c, &err) != 0)
    fail_msg("%s: %s", e, err.msg);
  return c;
}

static uint64_t
next(const char *e, uint64_t after)
{
  struct pacer_cron c = parse(e);
  uint64_t t = 0;

  assert_int_equal(pacer_cron_next(&c, NULL, after, &t), 0);
  return t;
}

static uint64_t
prev(const char *e, uint64_t at)
{
  struct pacer_cron c = parse(e);
  uint64_t t = 0;

  assert_int_equal(pacer_cron_prev(&c, NULL, at, &t), 0);
  return t;
}

static void
rejected(const char *e, const char *msg)
{
  struct pacer_cron c;
  struct pacer_error err;

  assert_int_equal(pacer_cron_parse(e, &c, &err), PACER_EINVAL);
  assert_string_equal(err.msg, msg);
}

static void
next_ticks_follow_crontab(void **state)
{
  (void)state;
  assert_int_equal(next("0 * * * *", T_231030), T_0700);
  assert_int_equal(next("@hourly", T_231030), T_0700);
  assert_int_equal(next("@daily", T_231030), T_0700);
  assert_int_equal(next("*/2 * * * * *", T_231030), T_231032);
  assert_int_equal(next("* * * * * *", T_231030), T_231031);
  assert_int_equal(next("0 0 29 2 *", T_MAR1), T_LEAP);
  assert_int_equal(next("0 9 * * mon-fri", T_SAT10), T_MON9);
  assert_int_equal(next("0 9 * * 1-5", T_SAT10), T_MON9);
  /* both day fields restricted: either matches (crontab(5)) */
  assert_int_equal(next("0 0 13 * fri", T_FRI13), T_FRI20);
  assert_int_equal(next("0 0 13 * 5", T_FRI13 - 1000), T_FRI13);
  assert_int_equal(next("0 0 1 jan *", T_NYE), T_NY);
  assert_int_equal(next("59 23 31 12 *", T_NYE - 59000 - 1000), T_NYE - 59000);
  /* 7 is Sunday too */
  assert_int_equal(next("10 23 * * 7", T_231030 - 60000), T_231030 - 30000);
}

static void
prev_ticks_are_at_or_before(void **state)
{
  (void)state;
  assert_int_equal(prev("0 * * * *", T_231030), T_2300);
  assert_int_equal(prev("0 * * * *", T_2300), T_2300);
  assert_int_equal(prev("*/2 * * * * *", T_231031), T_231030);
  assert_int_equal(prev("0 0 13 * fri", T_FRI20 - 1000), T_FRI13);
  assert_int_equal(prev("0 0 29 2 *", T_LEAP + 5000), T_LEAP);
  assert_int_equal(prev("0 9 * * mon-fri", T_MON9 - 1000) / 1000 % 86400,
                   9 * 3600);
}

static void
impossible_days_have_no_tick(void **state)
{
  struct pacer_cron c = parse("0 0 30 2 *");
  uint64_t t;

  (void)state;
  assert_int_equal(pacer_cron_next(&c, NULL, T_MAR1, &t), PACER_ENOTFOUND);
  assert_int_equal(pacer_cron_prev(&c, NULL, T_MAR1, &t), PACER_ENOTFOUND);
}

static void
bad_expressions_name_the_field(void **state)
{
  (void)state;
  rejected("* * * *", "cron: 4 fields, want 5 (minute hour day-of-month "
                      "month day-of-week) or 6 (seconds first)");
  rejected("* * * * * * *", "cron: 7 fields, want 5 (minute hour "
                            "day-of-month month day-of-week) or 6 (seconds "
                            "first)");
  rejected("60 * * * *", "cron: minute: \"60\" is outside 0-59");
  rejected("* 24 * * *", "cron: hour: \"24\" is outside 0-23");
  rejected("* * 0 * *", "cron: day-of-month: \"0\" is outside 1-31");
  rejected("* * * foo *",
           "cron: month: \"foo\" is not a number or a month name");
  rejected("* * * * xyz",
           "cron: day-of-week: \"xyz\" is not a number or a day name");
  rejected("*/0 * * * *",
           "cron: minute: \"*/0\": a step must be a number of 1 or more");
  rejected("5-2 * * * *", "cron: minute: \"5-2\" is outside 0-59");
  rejected("1-* * * * *", "cron: minute: \"1-*\": a range needs an end");
  rejected("1;2 * * * *", "cron: minute: \"1;2\": unexpected \";\"");
  rejected("61 * * * * *", "cron: second: \"61\" is outside 0-59");
  rejected("@often", "cron: unknown \"@often\" (use @yearly, @monthly, "
                     "@weekly, @daily or @hourly)");
}

static void
lists_ranges_and_steps_set_bits(void **state)
{
  struct pacer_cron c = parse("0,30 8-18/2 1,15 */3 sun,sat");

  (void)state;
  assert_true(c.min == ((1ull << 0) | (1ull << 30)));
  assert_true(c.hour == ((1u << 8) | (1u << 10) | (1u << 12) | (1u << 14) |
                         (1u << 16) | (1u << 18)));
  assert_true(c.mon == ((1u << 1) | (1u << 4) | (1u << 7) | (1u << 10)));
  assert_true(c.dow == ((1u << 0) | (1u << 6)));
  assert_true(c.sec == 1);
  c = parse("5/20 * * * *");
  assert_true(c.min == ((1ull << 5) | (1ull << 25) | (1ull << 45)));
}

static void
schedule_definitions_and_tick_ids(void **state)
{
  const char *jobs[] = {"{\"id\":\"a\",\"url\":\"https://x/1\"}",
                        "{\"url\":\"https://x/2\"}"};
  const char *bad[] = {"{\"url\":\"https://x/1\",\"method\":\"GET!\"}"};
  struct pacer_schedule_def *d = NULL;
  struct pacer_error err;
  char *def = NULL, id[160], *text;
  uint64_t tick;

  (void)state;
  assert_int_equal(pacer_schedule_def_build("daily", "0 6 * * *", NULL, "skip",
                                            jobs, 2, &def, &err),
                   0);
  assert_int_equal(pacer_schedule_def_parse(def, strlen(def), &d, &err), 0);
  assert_int_equal(d->njobs, 2);
  assert_int_equal(d->missed, PACER_SCHEDULE_SKIP);
  assert_int_equal(
      pacer_schedule_job_id("daily", "1796598000000", d, 0, id, sizeof(id)), 0);
  assert_string_equal(id, "daily@1796598000000:a");
  assert_int_equal(
      pacer_schedule_job_id("daily", "1796598000000", d, 1, id, sizeof(id)), 0);
  assert_string_equal(id, "daily@1796598000000:1");
  text = pacer_schedule_job_text(d, 1, id);
  assert_non_null(strstr(text, "\"id\":\"daily@1796598000000:1\""));
  free(text);
  /* skip: a tick more than the grace old is not run */
  assert_int_equal(pacer_schedule_due(d, NULL, T_MON9 - 3600000 + 5000, &tick),
                   0);
  assert_int_equal(pacer_schedule_due(d, NULL, T_MON9 - 10800000 + 5000, &tick),
                   1);
  assert_int_equal(tick, T_MON9 - 10800000);
  pacer_schedule_def_free(d);
  free(def);
  assert_int_equal(pacer_schedule_def_build("daily", "0 6 * * *", NULL, NULL,
                                            bad, 1, &def, &err),
                   PACER_EJOB);
  assert_string_equal(err.msg, "jobs[0]: method: \"GET!\" is not supported, "
                               "use GET, POST, PUT, PATCH, DELETE or HEAD");
  assert_int_equal(pacer_schedule_def_build("daily", "0 6 * * *", NULL, "later",
                                            jobs, 1, &def, &err),
                   PACER_EINVAL);
  assert_string_equal(err.msg, "--missed: must be run_once or skip");
  assert_int_equal(pacer_schedule_name_check("a b", &err), PACER_EINVAL);
}

/* Europe/Paris from Debian's tzdata (scripts/deps.sh), through
 * core/tz.c: CET +1 in winter, CEST +2 from the last Sunday of March. */
static struct pacer_tz *
paris(void)
{
  static unsigned char buf[PACER_TZ_FILE_MAX];
  struct pacer_tz *tz = NULL;
  struct pacer_error err;
  FILE *f = fopen("/usr/share/zoneinfo/Europe/Paris", "rb");
  size_t n;

  if (f == NULL)
    fail_msg("no /usr/share/zoneinfo/Europe/Paris: install tzdata");
  n = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  if (pacer_tz_parse("Europe/Paris", buf, n, &tz, &err) != 0)
    fail_msg("%s", err.msg);
  return tz;
}

static void
local_times_follow_the_zone_and_its_clock_changes(void **state)
{
  struct pacer_tz *tz = paris();
  struct pacer_cron c = parse("0 9 * * *");
  struct pacer_error err;
  uint64_t t;

  (void)state;
  assert_int_equal(pacer_tz_offset(tz, (int64_t)(T_231030 / 1000)), 3600);
  /* 09:00 CET is 08:00 UTC in December */
  assert_int_equal(pacer_cron_next(&c, tz, T_231030, &t), 0);
  assert_int_equal(t, T_0700 + 8 * 3600000ull);
  /* ... and 07:00 UTC in July (2027-07-01 00:00 UTC = 1814400000) */
  assert_int_equal(pacer_cron_next(&c, tz, 1814400000000ull, &t), 0);
  assert_int_equal(t, 1814400000000ull + 7 * 3600000ull);
  assert_int_equal(pacer_cron_prev(&c, tz, 1814400000000ull, &t), 0);
  assert_int_equal(t, 1814400000000ull - 86400000ull + 7 * 3600000ull);
  /* 2027-03-28 02:30 does not exist in Paris (02:00 -> 03:00): the next
   * 02:30 is on the 29th, 00:30 UTC. 2027-03-27 12:00 UTC = 1806148800. */
  c = parse("30 2 * * *");
  assert_int_equal(pacer_cron_next(&c, tz, 1806148800000ull, &t), 0);
  assert_int_equal(t, 1806148800000ull + 86400000ull + 12 * 3600000ull +
                          1800000ull);
  pacer_tz_free(tz);
  assert_int_equal(
      pacer_tz_parse("X", (const unsigned char *)"nope", 4, &tz, &err),
      PACER_EINVAL);
  assert_string_equal(err.msg, "--tz X: not a TZif file of version 2 or later");
  assert_int_equal(pacer_tz_name_check("../etc/passwd", &err), PACER_EINVAL);
  assert_string_equal(err.msg, "--tz: an IANA zone name such as Europe/Paris");
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(next_ticks_follow_crontab),
      cmocka_unit_test(prev_ticks_are_at_or_before),
      cmocka_unit_test(impossible_days_have_no_tick),
      cmocka_unit_test(bad_expressions_name_the_field),
      cmocka_unit_test(lists_ranges_and_steps_set_bits),
      cmocka_unit_test(schedule_definitions_and_tick_ids),
      cmocka_unit_test(local_times_follow_the_zone_and_its_clock_changes),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
