/* Time zones from TZif files (RFC 8536), for schedules in local time
 * (core/cron.h). Bytes in, offsets out: reading the file is the caller's
 * (scheduler/cron_tick.c, cli/cmd_schedule.c). Pure. */
#ifndef PACER_CORE_TZ_H
#define PACER_CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define PACER_TZ_NAME_MAX  64     /* bytes, e.g. "America/Argentina/Salta" */
#define PACER_TZ_FILE_MAX  65536u /* bytes of a TZif file */
#define PACER_TZ_TRANS_MAX 4096u  /* transitions kept */

/** A zone: UTC offsets from each transition on. Owned; pacer_tz_free. */
struct pacer_tz {
  char name[PACER_TZ_NAME_MAX + 1];
  int64_t *at;  /* transition times, unix s, ascending */
  int32_t *off; /* UTC offset from at[i] on, s */
  size_t n;     /* transitions */
  int32_t off0; /* offset before the first transition, s */
};

/** Checks a zone name (borrowed): "UTC", or Area/Location made of
 *  [A-Za-z0-9_+-] parts joined by "/", never ".." or a leading "/".
 *  Returns 0 or PACER_EINVAL with err "--tz: <reason>". Pure. */
int pacer_tz_name_check(const char *name, struct pacer_error *err);

/** Parses a TZif file b[0..len) (borrowed; version 2 or later: the 64-bit
 *  block) of zone name (borrowed). Times after the last transition keep
 *  its offset (Debian's files list transitions up to 2037). Returns 0 with
 *  *out owned, or PACER_EINVAL with err "--tz <name>: <reason>", or
 *  PACER_ENOMEM. Pure. Source: RFC 8536 §3. */
int pacer_tz_parse(const char *name, const unsigned char *b, size_t len,
                   struct pacer_tz **out, struct pacer_error *err);

/** The UTC offset in s of tz (borrowed; NULL is UTC) at unix_s. Pure. */
int32_t pacer_tz_offset(const struct pacer_tz *tz, int64_t unix_s);

/** Frees tz. NULL does nothing. */
void pacer_tz_free(struct pacer_tz *tz);

#endif
