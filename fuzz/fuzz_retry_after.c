/* libFuzzer target: Retry-After and HTTP-date parsing
 * (core/retry_after.h).
 *
 * Input, one item per line (fuzz_util.h): "now:<ms>", "Date:<value>", and
 * any other line is one Retry-After field line (at most MAX_VALUES).
 *
 * Invariants checked beyond memory safety and UB:
 *   - the return is 0, PACER_ENOTFOUND (no value at all) or PACER_EINVAL;
 *     err mirrors it; *delay_ms is untouched on error and never above
 *     PACER_RETRY_AFTER_MAX_MS on success; a NULL err changes nothing;
 *   - several field lines give what each gives alone when they all agree,
 *     and are refused when two disagree (RFC 9110 §5.3);
 *   - an HTTP-date is within years 0..9999, prints back to an IMF-fixdate
 *     that parses to the same second, and as a Retry-After it waits exactly
 *     until that second measured from Date (or from now without one).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/retry_after.h"
#include "fuzz/fuzz_util.h"

#define MAX_VALUES 8
#define KEEP_MS    UINT64_C(0xdeadbeef)  /* sentinel: must stay untouched */
#define DAY_S      INT64_C(86400)        /* s */
#define YEAR0_S    INT64_C(-62167219200) /* 0000-01-01 00:00:00, unix s */
#define YEAR10K_S  INT64_C(253402300800) /* 10000-01-01 00:00:00, unix s */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Hinnant's civil_from_days: day z since 1970-01-01 to y-m-d. */
static void
civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
  int64_t era;
  unsigned doe, yoe, doy, mp;

  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Prints unix_s as an IMF-fixdate into buf (size bytes). Returns 0, or -1
 * for a year that needs more than four digits. */
static int
imf_fixdate(int64_t unix_s, char *buf, size_t size)
{
  static const char *const wday[7] = {"Thu", "Fri", "Sat", "Sun",
                                      "Mon", "Tue", "Wed"};
  static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int64_t days = unix_s / DAY_S, secs = unix_s % DAY_S, y;
  unsigned m, d;

  if (secs < 0) {
    secs += DAY_S;
    days--;
  }
  civil(days, &y, &m, &d);
  if (y < 0 || y > 9999)
    return -1;
  snprintf(buf, size, "%s, %02u %s %04" PRId64 " %02u:%02u:%02u GMT",
           wday[((days % 7) + 7) % 7], d, mon[m - 1], y,
           (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60),
           (unsigned)(secs % 60));
  return 0;
}

/* Parses values[0..n) and checks the contract common to every call.
 * Returns rc; *delay_ms gets the delay (or KEEP_MS). */
static int
parse_checked(const char *const *values, size_t n, const char *date,
              uint64_t now_ms, uint64_t *delay_ms)
{
  struct pacer_error err;
  uint64_t again = KEEP_MS;
  int rc;

  *delay_ms = KEEP_MS;
  memset(&err, 0x5a, sizeof(err));
  rc = pacer_retry_after_parse(values, n, date, now_ms, delay_ms, &err);
  PACER_FUZZ_CHECK(rc == 0 || rc == PACER_ENOTFOUND || rc == PACER_EINVAL);
  PACER_FUZZ_CHECK(err.code == rc);
  PACER_FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
  if (rc == 0) {
    PACER_FUZZ_CHECK(err.msg[0] == '\0');
    PACER_FUZZ_CHECK(*delay_ms <= PACER_RETRY_AFTER_MAX_MS);
  } else {
    PACER_FUZZ_CHECK(*delay_ms == KEEP_MS);
    PACER_FUZZ_CHECK(strncmp(err.msg, "Retry-After: ", 13) == 0);
  }
  PACER_FUZZ_CHECK(
      pacer_retry_after_parse(values, n, date, now_ms, &again, NULL) == rc);
  PACER_FUZZ_CHECK(again == *delay_ms);
  return rc;
}

/* Parses value as an HTTP-date field and checks range and round trip.
 * Returns rc; *unix_s set on success. */
static int
date_checked(const char *value, uint64_t now_ms, int64_t *unix_s)
{
  struct pacer_error err;
  char buf[64];
  int64_t again = 0;
  int rc;

  rc = pacer_retry_after_parse_date(value, now_ms, unix_s, &err);
  PACER_FUZZ_CHECK(rc == 0 || rc == PACER_ENOTFOUND || rc == PACER_EINVAL);
  PACER_FUZZ_CHECK(err.code == rc);
  PACER_FUZZ_CHECK(rc == 0 || strncmp(err.msg, "HTTP-date: ", 11) == 0);
  if (rc != 0)
    return rc;
  /* Second 60 of 9999-12-31 23:59 is the first second of year 10000. */
  PACER_FUZZ_CHECK(*unix_s >= YEAR0_S && *unix_s <= YEAR10K_S);
  if (imf_fixdate(*unix_s, buf, sizeof(buf)) == 0) {
    PACER_FUZZ_CHECK(pacer_retry_after_parse_date(buf, now_ms, &again, NULL) ==
                     0);
    PACER_FUZZ_CHECK(again == *unix_s);
  }
  return 0;
}

/* The delay the contract promises for a Retry-After date at_s. */
static uint64_t
expected_date_delay(int64_t at_s, const int64_t *base_s, uint64_t now_ms)
{
  int64_t at_ms = at_s * 1000;
  uint64_t ms;

  if (base_s != NULL) {
    int64_t d = at_ms - *base_s * 1000;

    ms = d > 0 ? (uint64_t)d : 0;
  } else {
    ms = at_ms > 0 && (uint64_t)at_ms > now_ms ? (uint64_t)at_ms - now_ms : 0;
  }
  return ms > PACER_RETRY_AFTER_MAX_MS ? PACER_RETRY_AFTER_MAX_MS : ms;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *values[MAX_VALUES];
  const char *date = NULL, *line, *cur, *v;
  uint64_t now_ms = PACER_FUZZ_NOW_MS, delay_ms, one_ms, agreed = 0;
  int64_t base_s = 0, at_s = 0;
  size_t n = 0, i, nok = 0;
  int rc, have_base, all_ok = 1, disagree = 0;
  char *buf = pacer_fuzz_lines(data, size);

  cur = buf;
  while ((line = pacer_fuzz_next_line(&cur, buf, size)) != NULL) {
    if ((v = pacer_fuzz_after(line, "now:")) != NULL)
      now_ms = pacer_fuzz_u64(v);
    else if ((v = pacer_fuzz_after(line, "Date:")) != NULL)
      date = v;
    else if (n < MAX_VALUES)
      values[n++] = line;
  }

  rc = parse_checked(values, n, date, now_ms, &delay_ms);
  PACER_FUZZ_CHECK((rc == PACER_ENOTFOUND) == (n == 0));
  have_base = date_checked(date, now_ms, &base_s) == 0;

  for (i = 0; i < n; i++) {
    int rc1 = parse_checked(&values[i], 1, date, now_ms, &one_ms);

    if (rc1 == 0) {
      if (nok++ > 0 && one_ms != agreed)
        disagree = 1;
      agreed = one_ms;
    } else {
      struct pacer_error err;

      /* A line of only commas and OWS adds nothing to the field. */
      (void)pacer_retry_after_parse(&values[i], 1, date, now_ms, &one_ms, &err);
      if (strcmp(err.msg, "Retry-After: empty value") != 0)
        all_ok = 0;
    }
    /* An HTTP-date waits exactly until that second. */
    if (date_checked(values[i], now_ms, &at_s) == 0) {
      PACER_FUZZ_CHECK(rc1 == 0);
      PACER_FUZZ_CHECK(one_ms == expected_date_delay(
                                     at_s, have_base ? &base_s : NULL, now_ms));
    }
  }
  /* RFC 9110 §5.3: the lines combine as one list; it holds when every
   * line holds and all agree, and only then. */
  if (n > 0) {
    if (all_ok && nok > 0 && !disagree) {
      PACER_FUZZ_CHECK(rc == 0);
      PACER_FUZZ_CHECK(delay_ms == agreed);
    } else {
      PACER_FUZZ_CHECK(rc != 0);
    }
  }
  free(buf);
  return 0;
}
