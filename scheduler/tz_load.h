/* Loads a time zone for schedules (core/tz.h) from the IANA database:
 * $TZDIR/<name>, else /usr/share/zoneinfo/<name> (Debian's tzdata).
 * Used by `pacer worker` (scheduler/cron_tick.c) and `pacer schedule`. */
#ifndef PACER_SCHEDULER_TZ_LOAD_H
#define PACER_SCHEDULER_TZ_LOAD_H

#include "common/err.h"
#include "core/tz.h"

/** Loads zone name (borrowed; checked with pacer_tz_name_check). "UTC" and
 *  "Etc/UTC" give *out NULL (no file needed). Returns 0 with *out owned
 *  (pacer_tz_free), or PACER_EINVAL / PACER_EIO with err "--tz <name>:
 *  <reason>". Any thread. */
int pacer_tz_load(const char *name, struct pacer_tz **out,
                  struct pacer_error *err);

#endif
