/* Retry-After parsing: delay-seconds and the three HTTP-date forms.
 *
 * Pure core: no clock, no I/O, no allocation, no locale, no
 * gmtime/timegm. The current time is an argument; calendar maths is integer
 * days-from-civil. Every form, junk and huge values are pinned by
 * tests/unit/test_retry_after.c.
 *
 * What a value becomes:
 *   "120", " 120 ", "0120"         120 s (surrounding OWS allowed)
 *   "2.5", "299.997", "0.4"        3 s, 300 s, 1 s (fractions round UP)
 *   "0"                            0 s (present: retry now)
 *   "9999999999", 40 digits        64-bit ms, saturating at
 *                                  PACER_RETRY_AFTER_MAX_MS
 *   IMF-fixdate, RFC 850, asctime  that instant minus the response Date
 *                                  (or minus now without a valid Date);
 *                                  an instant in the past gives 0
 *   "-3", "+5", "abc", "0x10",     absent: any negative return; the caller
 *   "1e3", "nan", "inf", "",       falls back to its default backoff
 *   ".5", "5.", "1 20",
 *   "Sat, 30 Feb 2019 ..."
 *   "120, 120"                     120 s (identical duplicates agree)
 *   "120, 60", "120, abc"          absent (conflicting duplicates)
 */
#ifndef PACER_CORE_RETRY_AFTER_H
#define PACER_CORE_RETRY_AFTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Largest delay either parser reports: 10^15 ms (about 31,700 years). Exact
 * in a double (Lua, JSON) and now_unix_ms + it cannot wrap a uint64_t, so the
 * caller can cap it without further overflow checks. */
#define PACER_RETRY_AFTER_MAX_MS UINT64_C(1000000000000000) /* ms */

/** Parses the Retry-After field into a delay from now in ms.
 *
 *  values[0..nvalues) are the field values as received (borrowed,
 *  NUL-terminated; NULL entries are skipped). Each may hold several
 *  comma-joined instances ("120, 120", as the worker joins repeated header
 *  lines); a comma inside an IMF-fixdate or RFC 850 date is recognised as
 *  part of the date, not as a separator. Empty list elements are ignored.
 *  All instances must be valid and give the same delay, else the field
 *  counts as absent.
 *
 *  date_value is the response's Date field (borrowed, may be NULL). When it
 *  is a valid HTTP-date, an HTTP-date Retry-After is measured from it, which
 *  cancels clock skew between server and us; otherwise from now_unix_ms
 *  (wall clock, ms since the Unix epoch). now_unix_ms also anchors the
 *  century of RFC 850 two-digit years. Delay-seconds ignore both.
 *
 *  On success *delay_ms (borrowed) is the delay in ms, never shorter than
 *  the server stated: fractional seconds round up to the next whole second;
 *  a date in the past gives 0; values above PACER_RETRY_AFTER_MAX_MS
 *  saturate to it (RFC 9111 §1.2.2 does the same for delta-seconds). The
 *  caller applies its own configured cap. *delay_ms is untouched on error.
 *
 *  Returns 0; PACER_ENOTFOUND when no value was given (nvalues 0 or only
 *  NULLs); PACER_EINVAL when a value is empty, negative, signed, not a
 *  number or HTTP-date (junk, "nan", "inf", "1e10000", "0x10"), an
 *  impossible date (Feb 30, hour 24) or when duplicates disagree. Every
 *  negative return means "treat as absent". err (borrowed, may be NULL)
 *  gets "Retry-After: <reason>" naming the offending value.
 *
 *  Pure; any thread.
 *  Source: RFC 9110 §10.2.3 (Retry-After = HTTP-date / delay-seconds),
 *  §5.6.7 (HTTP-date; recipients accept all three forms; two-digit years
 *  more than 50 years ahead are in the past century), §5.3 (combining
 *  field lines with ", "); days-from-civil after H. Hinnant,
 *  "chrono-Compatible Low-Level Date Algorithms". */
int pacer_retry_after_parse(const char *const *values, size_t nvalues,
                            const char *date_value, uint64_t now_unix_ms,
                            uint64_t *delay_ms, struct pacer_error *err);

/** Parses an HTTP-date field value such as Date into seconds since the Unix
 *  epoch (negative before 1970).
 *
 *  value (borrowed, NUL-terminated) may carry surrounding OWS and identical
 *  comma-joined duplicates. Accepts IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
 *  GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov
 *  6 08:49:37 1994"), case-sensitively as the grammar says. The weekday name
 *  must be a valid name but is not checked against the date. Second 60 (a
 *  leap second) is accepted and counts as the next minute's second 0.
 *  now_unix_ms (wall clock, ms) picks the century of an RFC 850 year: the
 *  year within 50 years either side of now, a later one being taken as the
 *  past century.
 *
 *  On success sets *unix_s (borrowed). Returns 0; PACER_ENOTFOUND when value
 *  is NULL or only OWS; PACER_EINVAL for any other text, an impossible date
 *  or disagreeing duplicates, with err (borrowed, may be NULL) set to
 *  "HTTP-date: <reason>".
 *
 *  Pure; any thread. Source: RFC 9110 §5.6.7. */
int pacer_retry_after_parse_date(const char *value, uint64_t now_unix_ms,
                                 int64_t *unix_s, struct pacer_error *err);

#endif
