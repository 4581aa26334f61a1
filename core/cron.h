/* Cron expressions for recurring schedules (docs/CHAINS.md "Schedules"):
 * five fields "min hour day-of-month month day-of-week" as in crontab(5),
 * or six with seconds first; "*", lists, ranges, steps ("*\/15",
 * "1-30/2"), month and weekday names (jan..dec, sun..sat; 7 is Sunday
 * too), and @yearly @annually @monthly @weekly @daily @midnight @hourly.
 * When both day fields are restricted, a day matches either (Vixie cron).
 * Ticks are wall-clock times of a zone (core/tz.h; NULL is UTC). On the
 * day a zone's clocks change, a wall time that does not exist is not run
 * and one that happens twice runs once.
 *
 * Written here because Debian ships no C cron expression library (only Go,
 * Perl, PHP and Node ones). Pure: no clock, no I/O. */
#ifndef PACER_CORE_CRON_H
#define PACER_CORE_CRON_H

#include <stdint.h>

#include "common/err.h"
#include "core/tz.h"

#define PACER_CRON_EXPR_MAX 256 /* bytes */

/** A parsed expression: one bit per allowed value. */
struct pacer_cron {
  uint64_t sec;  /* bits 0..59 */
  uint64_t min;  /* bits 0..59 */
  uint32_t hour; /* bits 0..23 */
  uint32_t dom;  /* bits 1..31 */
  uint32_t mon;  /* bits 1..12 */
  uint32_t dow;  /* bits 0..6, Sunday 0 */
  int dom_any;   /* the day-of-month field was "*" */
  int dow_any;   /* the day-of-week field was "*" */
};

/** Parses expr (borrowed). Returns 0 with *out filled, or PACER_EINVAL with
 *  err "cron: <field>: <reason>". Pure; any thread. Source: crontab(5). */
int pacer_cron_parse(const char *expr, struct pacer_cron *out,
                     struct pacer_error *err);

/** The first tick after after_unix_ms (exclusive), in unix ms (whole
 *  seconds), in zone tz (borrowed; NULL = UTC). Returns 0, or
 *  PACER_ENOTFOUND when there is none within eight years (an impossible
 *  day such as 30 February). Pure. */
int pacer_cron_next(const struct pacer_cron *c, const struct pacer_tz *tz,
                    uint64_t after_unix_ms, uint64_t *tick_unix_ms);

/** The last tick at or before at_unix_ms, in unix ms, in zone tz
 *  (borrowed; NULL = UTC). Returns 0, or
 *  PACER_ENOTFOUND (none within eight years, or before 1970). Pure. */
int pacer_cron_prev(const struct pacer_cron *c, const struct pacer_tz *tz,
                    uint64_t at_unix_ms, uint64_t *tick_unix_ms);

#endif
