/* Scheduler, schedules (docs/CHAINS.md "Schedules"): every
 * PACER_SCHED_CRON_POLL_MS each worker reads the definitions, works out
 * each schedule's due tick (core/schedule.c) and claims it; the claim
 * script (store/lua/schedule_claim.lua) lets one worker in a tick queue
 * its jobs, whatever the number of workers. Job ids come from the
 * schedule and the tick, so a tick's results can be found and its jobs are
 * never queued twice. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "core/backoff.h"
#include "core/job.h"
#include "core/schedule.h"
#include "scheduler/cron_tick.h"
#include "scheduler/tz_load.h"
#include "store/queue_schedule.h"

#include "scheduler/sched_int.h"

/* A zone loaded for the schedules (NULL tz: UTC, or it failed to load). */
struct tz_entry {
  char name[PACER_TZ_NAME_MAX + 1];
  struct pacer_tz *tz;
  int failed;
  struct tz_entry *next;
};

/* The zone name of a schedule, loaded once per process. Returns 0 with
 * *tz (borrowed; NULL for UTC), or -1 when it cannot be loaded (logged
 * once). */
static int
zone(struct pacer_sched *s, const char *name, const struct pacer_tz **tz)
{
  struct tz_entry *e;
  struct pacer_error err;

  for (e = s->cron_tz; e != NULL; e = e->next)
    if (strcmp(e->name, name) == 0)
      break;
  if (e == NULL) {
    e = calloc(1, sizeof(*e));
    if (e == NULL)
      return -1;
    snprintf(e->name, sizeof(e->name), "%s", name);
    if (pacer_tz_load(name, &e->tz, &err) != 0) {
      e->failed = 1;
      pacer_log(PACER_LOG_ERROR, "sched",
                "msg=\"schedule zone cannot be loaded; its schedules do not "
                "run\" error=\"%s\"",
                err.msg);
    }
    e->next = s->cron_tz;
    s->cron_tz = e;
  }
  *tz = e->tz;
  return e->failed ? -1 : 0;
}

struct claim_ctx {
  struct pacer_sched *s;
  char name[PACER_SCHEDULE_NAME_MAX + 1];
  uint64_t tick_unix_ms;
};

static void
on_claimed(struct pacer_queue *q, int status, int applied, void *privdata)
{
  struct claim_ctx *cc = privdata;

  (void)q;
  if (status != 0 && !cc->s->closing) {
    /* unknown or refused: try the tick again on the next read */
    const cJSON *seen =
        cJSON_GetObjectItemCaseSensitive(cc->s->cron_seen, cc->name);

    if (cJSON_IsNumber(seen) && seen->valuedouble == (double)cc->tick_unix_ms)
      cJSON_DeleteItemFromObjectCaseSensitive(cc->s->cron_seen, cc->name);
  }
  if (status == 0 && applied && !cc->s->closing)
    pacer_log(PACER_LOG_INFO, "sched",
              "msg=\"schedule tick queued\" schedule=%s tick_unix_ms=%" PRIu64,
              cc->name, cc->tick_unix_ms);
  free(cc);
}

static int
priority_of(const char *text)
{
  cJSON *j = cJSON_Parse(text);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "priority");
  int prio = PACER_PRIORITY_NORMAL;

  if (cJSON_IsString(p) && strcmp(p->valuestring, "high") == 0)
    prio = PACER_PRIORITY_HIGH;
  else if (cJSON_IsString(p) && strcmp(p->valuestring, "low") == 0)
    prio = PACER_PRIORITY_LOW;
  cJSON_Delete(j);
  return prio;
}

/* Claims tick of schedule name (definition def, parsed d). */
static void
claim(struct pacer_sched *s, const char *name, const char *def,
      const struct pacer_schedule_def *d, uint64_t tick)
{
  char **texts = calloc(d->njobs, sizeof(*texts));
  int *prios = calloc(d->njobs, sizeof(*prios));
  struct claim_ctx *cc = calloc(1, sizeof(*cc));
  char id[PACER_JOB_ID_MAX + 1], tag[24];
  size_t i, n = 0;

  if (texts == NULL || prios == NULL || cc == NULL)
    goto out;
  snprintf(tag, sizeof(tag), "%" PRIu64, tick);
  for (; n < d->njobs; n++) {
    if (pacer_schedule_job_id(name, tag, d, n, id, sizeof(id)) != 0)
      goto out;
    texts[n] = pacer_schedule_job_text(d, n, id);
    if (texts[n] == NULL)
      goto out;
    prios[n] = priority_of(texts[n]);
  }
  cc->s = s;
  snprintf(cc->name, sizeof(cc->name), "%s", name);
  cc->tick_unix_ms = tick;
  if (pacer_queue_schedule_claim(s->queue, name, def, tick,
                                 (const char *const *)texts, prios, n,
                                 on_claimed, cc) == 0)
    cc = NULL; /* on_claimed frees it */
out:
  for (i = 0; i < n; i++)
    free(texts[i]);
  free(texts);
  free(prios);
  free(cc);
}

static void
on_list(struct pacer_queue *q, const struct redisReply *r, void *privdata)
{
  struct pacer_sched *s = privdata;
  uint64_t now = pacer_clock_unix_ms();
  size_t i;

  (void)q;
  s->cron_busy = 0;
  if (s->closing || r == NULL || r->type != REDIS_REPLY_ARRAY)
    return;
  for (i = 0; i + 1 < r->elements; i += 2) {
    const char *name = r->element[i]->str, *def = r->element[i + 1]->str;
    struct pacer_schedule_def *d = NULL;
    struct pacer_error err;
    const cJSON *seen;
    const struct pacer_tz *tz = NULL;
    uint64_t tick;

    if (name == NULL || def == NULL ||
        pacer_schedule_def_parse(def, r->element[i + 1]->len, &d, &err) != 0)
      continue;
    seen = cJSON_GetObjectItemCaseSensitive(s->cron_seen, name);
    /* a tick this process saw claimed (by anyone) is not tried again */
    if (zone(s, d->tz, &tz) == 0 && pacer_schedule_due(d, tz, now, &tick) &&
        !(cJSON_IsNumber(seen) && seen->valuedouble >= (double)tick)) {
      claim(s, name, def, d, tick);
      cJSON_DeleteItemFromObjectCaseSensitive(s->cron_seen, name);
      cJSON_AddNumberToObject(s->cron_seen, name, (double)tick);
    }
    pacer_schedule_def_free(d);
  }
}

static void on_cron_timer(uv_timer_t *t);

/* The next read in PACER_SCHED_CRON_POLL_MS +-20 %: workers started
 * together would otherwise read in the same order every time, and the
 * same one would claim every tick. */
static void
arm(struct pacer_sched *s)
{
  uint64_t j = pacer_prng_next(&s->prng) % (PACER_SCHED_CRON_POLL_MS * 2 / 5);

  uv_timer_start(&s->cron_timer, on_cron_timer,
                 PACER_SCHED_CRON_POLL_MS * 4 / 5 + j, 0);
}

static void
on_cron_timer(uv_timer_t *t)
{
  struct pacer_sched *s = PACER_CONTAINER_OF(t, struct pacer_sched, cron_timer);

  if (s->closing)
    return;
  arm(s);
  if (s->cron_busy || !pacer_queue_connected(s->queue))
    return;
  if (s->cron_seen == NULL && (s->cron_seen = cJSON_CreateObject()) == NULL)
    return;
  s->cron_busy = 1;
  if (pacer_queue_schedule_list(s->queue, on_list, s) != 0)
    s->cron_busy = 0;
}

void
pacer_sched_cron_start(struct pacer_sched *s)
{
  arm(s);
}

void
pacer_sched_cron_free(struct pacer_sched *s)
{
  struct tz_entry *e = s->cron_tz, *next;

  cJSON_Delete(s->cron_seen);
  s->cron_seen = NULL;
  for (; e != NULL; e = next) {
    next = e->next;
    pacer_tz_free(e->tz);
    free(e);
  }
  s->cron_tz = NULL;
}
