/* Cron expressions (core/cron.h). Civil dates from days since the epoch
 * after H. Hinnant, "chrono-Compatible Low-Level Date Algorithms". */
#include "core/cron.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STEPS_MAX 200000 /* search steps: > 8 years of days, hours, minutes */

static const char *const field_names[] = {
    "second", "minute", "hour", "day-of-month", "month", "day-of-week"};
static const int lo_of[] = {0, 0, 0, 1, 1, 0};
static const int hi_of[] = {59, 59, 23, 31, 12, 7};
static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const days[] = {"sun", "mon", "tue", "wed",
                                   "thu", "fri", "sat"};

/* A number or (months, weekdays) a name at *p. Returns 0 and advances. */
static int
value(const char **p, int f, int *out)
{
  const char *s = *p;
  int i;

  if (*s >= '0' && *s <= '9') {
    long v = 0;

    while (*s >= '0' && *s <= '9' && v < 1000)
      v = v * 10 + (*s++ - '0');
    *out = (int)v;
    *p = s;
    return 0;
  }
  for (i = 0; f == 4 && i < 12; i++) {
    if (strncasecmp(s, months[i], 3) == 0) {
      *out = i + 1;
      *p = s + 3;
      return 0;
    }
  }
  for (i = 0; f == 5 && i < 7; i++) {
    if (strncasecmp(s, days[i], 3) == 0) {
      *out = i;
      *p = s + 3;
      return 0;
    }
  }
  return -1;
}

/* One field's text s[0..n) into *bits; f indexes field_names. */
static int
field(const char *s, size_t n, int f, uint64_t *bits, int *any,
      struct pacer_error *err)
{
  char buf[PACER_CRON_EXPR_MAX + 1];
  const char *p = buf;
  int lo = lo_of[f], hi = hi_of[f];

  memcpy(buf, s, n);
  buf[n] = '\0';
  *bits = 0;
  *any = strcmp(buf, "*") == 0 || strcmp(buf, "?") == 0;
  for (;;) {
    int a, b, step = 1, v, single = 0;

    if (*p == '*' || (*p == '?' && (f == 3 || f == 5))) {
      a = lo;
      b = f == 5 ? 6 : hi;
      p++;
    } else {
      if (value(&p, f, &a) != 0)
        return pacer_error_set(err, PACER_EINVAL,
                               "cron: %s: \"%s\" is not a number%s",
                               field_names[f], buf,
                               f == 4   ? " or a month name"
                               : f == 5 ? " or a day name"
                                        : "");
      b = a;
      single = *p != '-';
      if (*p == '-') {
        p++;
        if (value(&p, f, &b) != 0)
          return pacer_error_set(err, PACER_EINVAL,
                                 "cron: %s: \"%s\": a range needs an end",
                                 field_names[f], buf);
      }
    }
    if (*p == '/') {
      p++;
      if (value(&p, -1, &step) != 0 || step < 1)
        return pacer_error_set(err, PACER_EINVAL,
                               "cron: %s: \"%s\": a step must be a number "
                               "of 1 or more",
                               field_names[f], buf);
      if (single)
        b = f == 5 ? 6 : hi; /* "5/15" means 5-max/15 */
    }
    if (a < lo || b > hi || a > b)
      return pacer_error_set(err, PACER_EINVAL,
                             "cron: %s: \"%s\" is outside %d-%d",
                             field_names[f], buf, lo, hi);
    for (v = a; v <= b; v += step)
      *bits |= 1ull << (f == 5 && v == 7 ? 0 : v); /* 7 is Sunday too */
    if (*p == '\0')
      return 0;
    if (*p != ',')
      return pacer_error_set(err, PACER_EINVAL,
                             "cron: %s: \"%s\": unexpected \"%c\"",
                             field_names[f], buf, *p);
    p++;
  }
}

int
pacer_cron_parse(const char *expr, struct pacer_cron *out,
                 struct pacer_error *err)
{
  static const struct {
    const char *name, *expr;
  } macros[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                {"@hourly", "0 * * * *"}};
  const char *starts[7];
  size_t lens[7], i, nf = 0;
  const char *s = expr;
  uint64_t bits[6];
  int any[6], f0, rc;

  memset(out, 0, sizeof(*out));
  if (strlen(expr) > PACER_CRON_EXPR_MAX)
    return pacer_error_set(err, PACER_EINVAL, "cron: longer than %d bytes",
                           PACER_CRON_EXPR_MAX);
  for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
    if (strcmp(expr, macros[i].name) == 0)
      s = macros[i].expr;
  if (s[0] == '@')
    return pacer_error_set(err, PACER_EINVAL,
                           "cron: unknown \"%.20s\" (use @yearly, @monthly, "
                           "@weekly, @daily or @hourly)",
                           s);
  while (*s != '\0') {
    while (*s == ' ' || *s == '\t')
      s++;
    if (*s == '\0')
      break;
    if (nf == 7)
      break;
    starts[nf] = s;
    while (*s != '\0' && *s != ' ' && *s != '\t')
      s++;
    lens[nf] = (size_t)(s - starts[nf]);
    nf++;
  }
  if (nf != 5 && nf != 6)
    return pacer_error_set(err, PACER_EINVAL,
                           "cron: %zu fields, want 5 (minute hour "
                           "day-of-month month day-of-week) or 6 (seconds "
                           "first)",
                           nf);
  f0 = nf == 5 ? 1 : 0;
  bits[0] = 1; /* five fields: at second 0 */
  any[0] = 0;
  for (i = 0; i < nf; i++) {
    rc = field(starts[i], lens[i], f0 + (int)i, &bits[f0 + i], &any[f0 + i],
               err);
    if (rc != 0)
      return rc;
  }
  out->sec = bits[0];
  out->min = bits[1];
  out->hour = (uint32_t)bits[2];
  out->dom = (uint32_t)bits[3];
  out->mon = (uint32_t)bits[4];
  out->dow = (uint32_t)bits[5];
  out->dom_any = any[3];
  out->dow_any = any[5];
  return 0;
}

/* ------------------------------------------------------------------ */
/* Civil time */

struct civil {
  int64_t y;
  unsigned m, d, hh, mm, ss, wd; /* wd: 0 = Sunday */
};

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
  int64_t era;
  unsigned yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void
to_civil(int64_t t, struct civil *c)
{
  int64_t z = (t >= 0 ? t : t - 86399) / 86400, era;
  int64_t s = t - z * 86400;
  unsigned doe, yoe, doy, mp;

  c->hh = (unsigned)(s / 3600);
  c->mm = (unsigned)(s / 60 % 60);
  c->ss = (unsigned)(s % 60);
  c->wd = (unsigned)((z % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  c->d = doy - (153 * mp + 2) / 5 + 1;
  c->m = mp < 10 ? mp + 3 : mp - 9;
  c->y = (int64_t)yoe + era * 400 + (c->m <= 2);
}

static int
day_ok(const struct pacer_cron *cr, const struct civil *c)
{
  int dom = (cr->dom >> c->d) & 1, dow = (cr->dow >> c->wd) & 1;

  /* crontab(5): with both restricted, either one matches */
  if (!cr->dom_any && !cr->dow_any)
    return dom || dow;
  return dom && dow;
}

/* The start of the local month of c, in local seconds. */
static int64_t
month_start(const struct civil *c)
{
  return days_from_civil(c->y, c->m, 1) * 86400;
}

/* Both searches step in local time (t + off) and map each step back with
 * the offset in force where they stood; at a change of offset the next
 * round sees the new one. */
int
pacer_cron_next(const struct pacer_cron *cr, const struct pacer_tz *tz,
                uint64_t after_unix_ms, uint64_t *tick_unix_ms)
{
  int64_t t = (int64_t)(after_unix_ms / 1000) + 1, l, nl;
  struct civil c;
  int i;

  for (i = 0; i < STEPS_MAX; i++) {
    int32_t off = pacer_tz_offset(tz, t);

    l = t + off;
    to_civil(l, &c);
    if (!((cr->mon >> c.m) & 1))
      nl = c.m == 12 ? days_from_civil(c.y + 1, 1, 1) * 86400
                     : days_from_civil(c.y, c.m + 1, 1) * 86400;
    else if (!day_ok(cr, &c))
      nl = (l / 86400 + 1) * 86400;
    else if (!((cr->hour >> c.hh) & 1))
      nl = (l / 3600 + 1) * 3600;
    else if (!((cr->min >> c.mm) & 1))
      nl = (l / 60 + 1) * 60;
    else if (!((cr->sec >> c.ss) & 1))
      nl = l + 1;
    else {
      *tick_unix_ms = (uint64_t)t * 1000u;
      return 0;
    }
    t = nl - off > t ? nl - off : t + 1;
  }
  return PACER_ENOTFOUND;
}

int
pacer_cron_prev(const struct pacer_cron *cr, const struct pacer_tz *tz,
                uint64_t at_unix_ms, uint64_t *tick_unix_ms)
{
  int64_t t = (int64_t)(at_unix_ms / 1000), l, nl;
  struct civil c;
  int i;

  for (i = 0; i < STEPS_MAX && t >= 0; i++) {
    int32_t off = pacer_tz_offset(tz, t);

    l = t + off;
    to_civil(l, &c);
    if (!((cr->mon >> c.m) & 1))
      nl = month_start(&c) - 1;
    else if (!day_ok(cr, &c))
      nl = l / 86400 * 86400 - 1;
    else if (!((cr->hour >> c.hh) & 1))
      nl = l / 3600 * 3600 - 1;
    else if (!((cr->min >> c.mm) & 1))
      nl = l / 60 * 60 - 1;
    else if (!((cr->sec >> c.ss) & 1))
      nl = l - 1;
    else {
      *tick_unix_ms = (uint64_t)t * 1000u;
      return 0;
    }
    t = nl - off < t ? nl - off : t - 1;
  }
  return PACER_ENOTFOUND;
}
