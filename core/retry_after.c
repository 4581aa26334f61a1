/* Retry-After and HTTP-date parsing. See retry_after.h for the contract.
 *
 * A field value is split into list elements, but an HTTP-date is recognised
 * *before* splitting on commas, because two of its three forms contain one:
 *
 *   "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT"
 *    `------------ date -----------'  `------------ date -----------'
 *   "120, 120"  ->  "120" | "120"
 *
 * Every element must parse and all must give the same delay; anything else
 * makes the whole field count as absent.
 */
#include "core/retry_after.h"

#include <assert.h>
#include <string.h>

#define MAX_S      (PACER_RETRY_AFTER_MAX_MS / 1000) /* s */
#define MSG_MAX    64 /* bytes of a header value quoted in a message */
#define YEAR_MAX   9999
#define DAY_S      86400    /* s */
#define DAY_MS     86400000 /* ms */
#define SECOND_MAX 60       /* RFC 9110 §5.6.7: 00:00:00 - 23:59:60 */

/* ------------------------------------------------------------------------
 * Characters
 * ------------------------------------------------------------------------ */

static int
is_ows(char c)
{
  return c == ' ' || c == '\t'; /* RFC 9110 §5.6.3: OWS = *( SP / HTAB ) */
}

static int
is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static const char *
skip_ows(const char *p, const char *end)
{
  while (p < end && is_ows(*p))
    p++;
  return p;
}

static const char *
trim_end(const char *p, const char *end)
{
  while (end > p && is_ows(end[-1]))
    end--;
  return end;
}

static int
quote_len(const char *p, const char *end)
{
  return (int)(end - p > MSG_MAX ? MSG_MAX : end - p);
}

/* ------------------------------------------------------------------------
 * Calendar: proleptic Gregorian, pure integer maths (no gmtime/timegm)
 * ------------------------------------------------------------------------ */

static int
is_leap(int64_t y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
days_in_month(int64_t y, unsigned m)
{
  static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30,
                                          31, 31, 30, 31, 30, 31};

  assert(m >= 1 && m <= 12);
  return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* Days since 1970-01-01 of y-m-d. Hinnant's days_from_civil: eras of 400
 * years (146097 days) starting on March 1st, so the leap day is last. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
  int64_t era;
  unsigned yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);                       /* [0, 399] */
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
  return era * 146097 + (int64_t)doe - 719468;
}

/* Civil year of day z since 1970-01-01 (Hinnant's civil_from_days). */
static int64_t
year_from_days(int64_t z)
{
  int64_t era;
  unsigned doe, yoe, doy, mp;

  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
  mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
  return (int64_t)yoe + era * 400 + (mp >= 10);
}

/* ------------------------------------------------------------------------
 * HTTP-date syntax (RFC 9110 §5.6.7). Scanners check the grammar only and
 * return the bytes matched (0: no match); hdate_to_unix checks the ranges.
 * ------------------------------------------------------------------------ */

struct hdate {
  int64_t year;       /* full year, or 0..99 when two_digit_year */
  unsigned mon;       /* 1..12 */
  unsigned day;       /* as written, 0..99 */
  unsigned hour;      /* as written, 0..99 */
  unsigned min;       /* as written, 0..99 */
  unsigned sec;       /* as written, 0..99 */
  int two_digit_year; /* rfc850-date */
};

static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu",
                                         "Fri", "Sat", "Sun"};
static const char *const day_names_l[7] = {"Monday",   "Tuesday", "Wednesday",
                                           "Thursday", "Friday",  "Saturday",
                                           "Sunday"};
static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr",
                                            "May", "Jun", "Jul", "Aug",
                                            "Sep", "Oct", "Nov", "Dec"};

/* Matches one of names at *pp (case-sensitive: "HTTP-date is case
 * sensitive"); returns its index + 1, or 0. */
static unsigned
name(const char **pp, const char *end, const char *const *names, unsigned n)
{
  unsigned i;

  for (i = 0; i < n; i++) {
    size_t len = strlen(names[i]);

    if ((size_t)(end - *pp) >= len && memcmp(*pp, names[i], len) == 0) {
      *pp += len;
      return i + 1;
    }
  }
  return 0;
}

static int
lit(const char **pp, const char *end, const char *s)
{
  size_t len = strlen(s);

  if ((size_t)(end - *pp) < len || memcmp(*pp, s, len) != 0)
    return 0;
  *pp += len;
  return 1;
}

/* Exactly n digits. */
static int
num(const char **pp, const char *end, unsigned n, unsigned *out)
{
  unsigned v = 0, i;

  if ((size_t)(end - *pp) < n)
    return 0;
  for (i = 0; i < n; i++) {
    if (!is_digit((*pp)[i]))
      return 0;
    v = v * 10 + (unsigned)((*pp)[i] - '0');
  }
  *pp += n;
  *out = v;
  return 1;
}

/* time-of-day = hour ":" minute ":" second */
static int
time_of_day(const char **pp, const char *end, struct hdate *t)
{
  return num(pp, end, 2, &t->hour) && lit(pp, end, ":") &&
         num(pp, end, 2, &t->min) && lit(pp, end, ":") &&
         num(pp, end, 2, &t->sec);
}

/* IMF-fixdate = day-name "," SP day SP month SP year SP time-of-day SP GMT */
static size_t
scan_imf(const char *p, const char *end, struct hdate *t)
{
  const char *q = p;
  unsigned year;

  if (!name(&q, end, day_names, 7) || !lit(&q, end, ", ") ||
      !num(&q, end, 2, &t->day) || !lit(&q, end, " "))
    return 0;
  if (!(t->mon = name(&q, end, month_names, 12)))
    return 0;
  if (!lit(&q, end, " ") || !num(&q, end, 4, &year) || !lit(&q, end, " ") ||
      !time_of_day(&q, end, t) || !lit(&q, end, " GMT"))
    return 0;
  t->year = year;
  t->two_digit_year = 0;
  return (size_t)(q - p);
}

/* rfc850-date = day-name-l "," SP day "-" month "-" 2DIGIT SP time-of-day
 *               SP GMT */
static size_t
scan_rfc850(const char *p, const char *end, struct hdate *t)
{
  const char *q = p;
  unsigned year;

  if (!name(&q, end, day_names_l, 7) || !lit(&q, end, ", ") ||
      !num(&q, end, 2, &t->day) || !lit(&q, end, "-"))
    return 0;
  if (!(t->mon = name(&q, end, month_names, 12)))
    return 0;
  if (!lit(&q, end, "-") || !num(&q, end, 2, &year) || !lit(&q, end, " ") ||
      !time_of_day(&q, end, t) || !lit(&q, end, " GMT"))
    return 0;
  t->year = year;
  t->two_digit_year = 1;
  return (size_t)(q - p);
}

/* asctime-date = day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP
 *                time-of-day SP year */
static size_t
scan_asctime(const char *p, const char *end, struct hdate *t)
{
  const char *q = p;
  unsigned year;

  if (!name(&q, end, day_names, 7) || !lit(&q, end, " "))
    return 0;
  if (!(t->mon = name(&q, end, month_names, 12)))
    return 0;
  if (!lit(&q, end, " "))
    return 0;
  if (lit(&q, end, " ") ? !num(&q, end, 1, &t->day) : !num(&q, end, 2, &t->day))
    return 0;
  if (!lit(&q, end, " ") || !time_of_day(&q, end, t) || !lit(&q, end, " ") ||
      !num(&q, end, 4, &year))
    return 0;
  t->year = year;
  t->two_digit_year = 0;
  return (size_t)(q - p);
}

static size_t
scan_date(const char *p, const char *end, struct hdate *t)
{
  size_t n;

  if ((n = scan_imf(p, end, t)) > 0)
    return n;
  if ((n = scan_rfc850(p, end, t)) > 0)
    return n;
  return scan_asctime(p, end, t);
}

/* Checks the ranges of *t and converts it; on failure *why says what is
 * wrong. now_unix_ms anchors the century of a two-digit year. */
static int
hdate_to_unix(const struct hdate *t, uint64_t now_unix_ms, int64_t *unix_s,
              const char **why)
{
  int64_t year = t->year;

  if (t->two_digit_year) {
    int64_t now_year = year_from_days((int64_t)(now_unix_ms / DAY_MS));

    /* RFC 9110 §5.6.7: a two-digit year "more than 50 years in the future"
     * is the most recent past year with the same last two digits. */
    year += now_year - now_year % 100;
    if (year > now_year + 50)
      year -= 100;
    else if (year <= now_year - 50)
      year += 100;
    if (year > YEAR_MAX) {
      *why = "year is past 9999";
      return -1;
    }
  }
  if (t->day < 1 || t->day > days_in_month(year, t->mon)) {
    *why = "no such day in that month";
    return -1;
  }
  if (t->hour > 23 || t->min > 59 || t->sec > SECOND_MAX) {
    *why = "time of day out of range";
    return -1;
  }
  *unix_s = days_from_civil(year, t->mon, t->day) * DAY_S +
            (int64_t)(t->hour * 3600 + t->min * 60 + t->sec);
  return 0;
}

/* ------------------------------------------------------------------------
 * List elements
 * ------------------------------------------------------------------------ */

struct elem {
  const char *p;     /* element text, OWS trimmed */
  const char *end;   /* one past the element text */
  int is_date;       /* p..end matched an HTTP-date form */
  struct hdate date; /* valid when is_date */
};

/* Takes the next non-empty element of *cur..end into *e and advances *cur
 * past its comma. Returns 1, or 0 when no element is left. */
static int
next_elem(const char **cur, const char *end, struct elem *e)
{
  const char *p = *cur, *q;
  size_t n;

  for (;;) {
    p = skip_ows(p, end);
    if (p == end) {
      *cur = p;
      return 0;
    }
    if (*p != ',')
      break;
    p++; /* RFC 9110 §5.6.1.2: recipients ignore empty list elements */
  }
  /* Dates first: IMF-fixdate and rfc850-date contain a comma. */
  n = scan_date(p, end, &e->date);
  if (n > 0) {
    q = skip_ows(p + n, end);
    if (q == end || *q == ',') {
      e->p = p;
      e->end = p + n;
      e->is_date = 1;
      *cur = q == end ? q : q + 1;
      return 1;
    }
  }
  q = memchr(p, ',', (size_t)(end - p));
  if (q == NULL)
    q = end;
  e->p = p;
  e->end = trim_end(p, q);
  e->is_date = 0;
  *cur = q == end ? q : q + 1;
  return 1;
}

/* ------------------------------------------------------------------------
 * Retry-After
 * ------------------------------------------------------------------------ */

/* RFC 9110 §10.2.3: delay-seconds = 1*DIGIT. Extended, for servers that
 * send them, to 1*DIGIT "." 1*DIGIT, rounded up to a whole second so
 * the wait is never shorter than stated. */
static int
seconds_delay(const struct elem *e, uint64_t *delay_ms, struct pacer_error *err)
{
  const char *p = e->p;
  uint64_t s = 0;
  int ndigits = 0, round_up = 0;

  if (p < e->end && *p == '-')
    return pacer_error_set(err, PACER_EINVAL,
                           "Retry-After: \"%.*s\" is negative",
                           quote_len(p, e->end), p);
  if (p < e->end && *p == '+')
    return pacer_error_set(err, PACER_EINVAL,
                           "Retry-After: \"%.*s\" has a sign, delay-seconds "
                           "are digits only",
                           quote_len(p, e->end), p);
  for (; p < e->end && is_digit(*p); p++, ndigits++) {
    /* Saturate, do not wrap: only leading zeros may follow MAX_S. */
    if (s <= MAX_S)
      s = s * 10 + (uint64_t)(*p - '0');
  }
  if (ndigits > 0 && p < e->end && *p == '.' && p + 1 < e->end &&
      is_digit(p[1])) {
    for (p++; p < e->end && is_digit(*p); p++)
      round_up |= *p != '0';
  }
  if (ndigits == 0 || p != e->end)
    return pacer_error_set(err, PACER_EINVAL,
                           "Retry-After: \"%.*s\" is neither delay-seconds "
                           "nor an HTTP-date",
                           quote_len(e->p, e->end), e->p);
  s += (uint64_t)round_up;
  *delay_ms = s >= MAX_S ? PACER_RETRY_AFTER_MAX_MS : s * 1000;
  return 0;
}

static int
date_delay(const struct elem *e, const int64_t *base_s, uint64_t now_unix_ms,
           uint64_t *delay_ms, struct pacer_error *err)
{
  const char *why = NULL;
  int64_t at_s, at_ms;

  if (hdate_to_unix(&e->date, now_unix_ms, &at_s, &why) != 0)
    return pacer_error_set(err, PACER_EINVAL,
                           "Retry-After: \"%.*s\" is not a valid date: %s",
                           quote_len(e->p, e->end), e->p, why);
  /* Years 0..9999: |at_s| < 2^38, so ms fit an int64_t comfortably. */
  at_ms = at_s * 1000;
  if (base_s != NULL) {
    /* Measured on the server's own clock: skew cancels out. */
    int64_t d = at_ms - *base_s * 1000;

    *delay_ms = d > 0 ? (uint64_t)d : 0;
  } else if (at_ms <= 0 || (uint64_t)at_ms <= now_unix_ms) {
    *delay_ms = 0; /* in the past: retry now, the value was still valid */
  } else {
    *delay_ms = (uint64_t)at_ms - now_unix_ms;
  }
  if (*delay_ms > PACER_RETRY_AFTER_MAX_MS)
    *delay_ms = PACER_RETRY_AFTER_MAX_MS;
  return 0;
}

int
pacer_retry_after_parse(const char *const *values, size_t nvalues,
                        const char *date_value, uint64_t now_unix_ms,
                        uint64_t *delay_ms, struct pacer_error *err)
{
  struct elem e, first = {0};
  int64_t base_s;
  int have_base, rc;
  size_t i, nseen = 0, nelems = 0;
  uint64_t agreed = 0;

  have_base =
      pacer_retry_after_parse_date(date_value, now_unix_ms, &base_s, NULL) == 0;
  for (i = 0; i < nvalues; i++) {
    const char *cur, *end;

    if (values[i] == NULL)
      continue;
    nseen++;
    cur = values[i];
    end = cur + strlen(cur);
    while (next_elem(&cur, end, &e)) {
      uint64_t ms = 0;

      rc = e.is_date ? date_delay(&e, have_base ? &base_s : NULL, now_unix_ms,
                                  &ms, err)
                     : seconds_delay(&e, &ms, err);
      if (rc != 0)
        return rc;
      /* RFC 9110 §5.3: Retry-After is a singleton; duplicates are only
       * trusted when they agree. */
      if (nelems > 0 && ms != agreed)
        return pacer_error_set(
            err, PACER_EINVAL,
            "Retry-After: conflicting values \"%.*s\" and \"%.*s\"",
            quote_len(first.p, first.end), first.p, quote_len(e.p, e.end), e.p);
      if (nelems++ == 0)
        first = e;
      agreed = ms;
    }
  }
  if (nseen == 0)
    return pacer_error_set(err, PACER_ENOTFOUND, "Retry-After: absent");
  if (nelems == 0)
    return pacer_error_set(err, PACER_EINVAL, "Retry-After: empty value");
  *delay_ms = agreed;
  pacer_error_clear(err);
  return 0;
}

/* ------------------------------------------------------------------------
 * HTTP-date field values (Date)
 * ------------------------------------------------------------------------ */

int
pacer_retry_after_parse_date(const char *value, uint64_t now_unix_ms,
                             int64_t *unix_s, struct pacer_error *err)
{
  struct elem e;
  const char *cur, *end, *why = NULL;
  int64_t agreed = 0, s;
  size_t nelems = 0;

  if (value == NULL)
    return pacer_error_set(err, PACER_ENOTFOUND, "HTTP-date: absent");
  cur = value;
  end = cur + strlen(cur);
  while (next_elem(&cur, end, &e)) {
    if (!e.is_date)
      return pacer_error_set(err, PACER_EINVAL,
                             "HTTP-date: \"%.*s\" is not an HTTP-date",
                             quote_len(e.p, e.end), e.p);
    if (hdate_to_unix(&e.date, now_unix_ms, &s, &why) != 0)
      return pacer_error_set(err, PACER_EINVAL,
                             "HTTP-date: \"%.*s\" is not a valid date: %s",
                             quote_len(e.p, e.end), e.p, why);
    if (nelems++ > 0 && s != agreed)
      return pacer_error_set(err, PACER_EINVAL,
                             "HTTP-date: conflicting values");
    agreed = s;
  }
  if (nelems == 0)
    return pacer_error_set(err, PACER_ENOTFOUND, "HTTP-date: empty value");
  *unix_s = agreed;
  pacer_error_clear(err);
  return 0;
}
