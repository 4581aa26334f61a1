/* Recurring schedules (docs/CHAINS.md "Schedules"): a schedule's stored
 * definition and the jobs of one tick. Pure: no clock, no I/O.
 *
 *   definition: {"cron": "0 * * * *", "tz": "UTC", "missed": "run_once",
 *                "paused": false, "jobs": [<job>, ...]}
 *   job ids of tick T (unix ms): "<name>@<T>" for a schedule of one job,
 *   "<name>@<T>:<job id or its index>" for several. */
#ifndef PACER_CORE_SCHEDULE_H
#define PACER_CORE_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/cron.h"

#define PACER_SCHEDULE_NAME_MAX      64   /* bytes */
#define PACER_SCHEDULE_JOBS_MAX      1000 /* jobs per tick */
/* A missed tick older than this is not run under "missed": "skip". */
#define PACER_SCHEDULE_SKIP_GRACE_MS 10000u /* ms */

/** What to do with a tick missed while no worker ran. */
enum pacer_schedule_missed {
  PACER_SCHEDULE_RUN_ONCE = 0, /* run the latest missed tick once */
  PACER_SCHEDULE_SKIP          /* run only ticks at most the grace old */
};

/** A parsed definition. Owned; free with pacer_schedule_def_free. */
struct pacer_schedule_def {
  struct pacer_cron cron;
  char cron_text[PACER_CRON_EXPR_MAX + 1];
  char tz[PACER_TZ_NAME_MAX + 1]; /* the zone's name, "UTC" by default */
  enum pacer_schedule_missed missed;
  int paused;
  char **jobs;    /* job JSON texts as given (no id change), owned */
  char **job_ids; /* each job's own "id", or NULL, owned */
  size_t njobs;
};

/** Checks a schedule name (borrowed): 1..64 bytes of [A-Za-z0-9_.-].
 *  Returns 0, or PACER_EINVAL with err "schedule: <reason>". Pure. */
int pacer_schedule_name_check(const char *name, struct pacer_error *err);

/** Builds a definition text from its parts (all borrowed): cron (checked),
 *  tz (a zone name, pacer_tz_name_check, or NULL for UTC), missed ("run_once",
 * "skip" or NULL), and jobs, the JSON texts of 1..PACER_SCHEDULE_JOBS_MAX jobs,
 * each checked with the id it gets (pacer_job_parse); name names them. Returns
 * 0 with *out owned (free with free()), or PACER_EINVAL / PACER_EJOB with err
 * naming the option or the job ("jobs[2]: url: ..."), or PACER_ENOMEM. Pure. */
int pacer_schedule_def_build(const char *name, const char *cron, const char *tz,
                             const char *missed, const char *const *jobs,
                             size_t njobs, char **out, struct pacer_error *err);

/** Parses a stored definition json[0..len) (borrowed). Returns 0 with *out
 *  owned, or PACER_EINVAL with err set, or PACER_ENOMEM. Pure. */
int pacer_schedule_def_parse(const char *json, size_t len,
                             struct pacer_schedule_def **out,
                             struct pacer_error *err);

/** Returns a copy of the definition text json (borrowed) with "paused" set
 *  to paused, owned (free with free()), or NULL when it is not an object
 *  or out of memory. Pure. */
char *pacer_schedule_def_set_paused(const char *json, int paused);

/** Frees d. NULL does nothing. */
void pacer_schedule_def_free(struct pacer_schedule_def *d);

/** Writes into out (size bytes) the id of job ix of d (borrowed) in tick
 *  tag (a tick's unix ms, or any other text such as "now-<ms>"): see the
 *  drawing above. Returns 0, or PACER_EINVAL when it does not fit. */
int pacer_schedule_job_id(const char *name, const char *tag,
                          const struct pacer_schedule_def *d, size_t ix,
                          char *out, size_t size);

/** Returns job ix of d with its "id" set to id (borrowed), as owned JSON
 *  text (free with free()), or NULL when out of memory. Pure. */
char *pacer_schedule_job_text(const struct pacer_schedule_def *d, size_t ix,
                              const char *id);

/** The tick to run at now_unix_ms: the last cron tick at or before now
 *  in zone tz (borrowed, d->tz loaded; NULL = UTC), unless the definition
 *  is paused, or "skip" and it is older than the grace. Returns 1 with
 *  *tick_unix_ms, or 0 when there is none. Pure. */
int pacer_schedule_due(const struct pacer_schedule_def *d,
                       const struct pacer_tz *tz, uint64_t now_unix_ms,
                       uint64_t *tick_unix_ms);

#endif
