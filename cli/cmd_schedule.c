/* `pacer schedule add|list|show|remove|pause|resume|run-now`: recurring
 * schedules stored in Redis (docs/CHAINS.md "Schedules"); every `pacer
 * worker` runs each tick exactly once (scheduler/cron_tick.c). */
#include "cli/cmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/clock.h"
#include "common/file.h"
#include "core/config.h"
#include "core/job.h"
#include "core/schedule.h"
#include "scheduler/tz_load.h"
#include "store/queue_schedule.h"

#define JOBS_MAX_BYTES (16u * 1024u * 1024u) /* a schedule's job file */

static void
usage(FILE *out)
{
  fputs("usage: pacer schedule add NAME --cron EXPR [--tz ZONE]\n"
        "                          [--missed run_once|skip] [--replace]\n"
        "                          FILE.jsonl|JOB.json\n"
        "       pacer schedule list|show [NAME] [--json]\n"
        "       pacer schedule remove|pause|resume|run-now NAME\n"
        "       (each also takes [--config FILE] [--redis URL])\n"
        "\n"
        "A schedule queues its jobs at every tick of its cron expression\n"
        "(5 fields, or 6 with seconds first; in --tz, an IANA zone such as\n"
        "Europe/Paris, default UTC), once per tick however\n"
        "many workers run. Job ids are NAME@TICK (unix ms), with \":ID\"\n"
        "for a file of several jobs. --missed: a tick missed while no\n"
        "worker ran is run once when one starts (run_once, default) or\n"
        "skipped (skip).\n",
        out);
}

struct args {
  const char *verb, *name, *cron, *tz, *missed, *file, *config, *redis;
  int replace, json;
};

/* The jobs of path: a JSON object (JOB.json), or JSON lines. */
static int
read_jobs(const char *path, char ***jobs, size_t *n, struct pacer_error *err)
{
  char *text = NULL, *p, *line;
  size_t len = 0, cap = 0;
  cJSON *one;
  int rc;

  *jobs = NULL;
  *n = 0;
  rc = pacer_file_read(path, "schedule", JOBS_MAX_BYTES, 0, PACER_EINVAL, &text,
                       &len, NULL, err);
  if (rc != 0)
    return rc;
  one = cJSON_ParseWithLength(text, len);
  if (cJSON_IsObject(one)) {
    *jobs = malloc(sizeof(**jobs));
    if (*jobs != NULL && ((*jobs)[0] = cJSON_PrintUnformatted(one)) != NULL)
      *n = 1;
    cJSON_Delete(one);
    free(text);
    return *n == 1 ? 0 : PACER_ENOMEM;
  }
  cJSON_Delete(one);
  for (p = text; (line = strsep(&p, "\n")) != NULL;) {
    char **grown;

    line += strspn(line, " \t\r");
    if (*line == '\0')
      continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      grown = realloc(*jobs, cap * sizeof(**jobs));
      if (grown == NULL) {
        rc = PACER_ENOMEM;
        break;
      }
      *jobs = grown;
    }
    if (((*jobs)[*n] = strdup(line)) == NULL) {
      rc = PACER_ENOMEM;
      break;
    }
    (*n)++;
  }
  free(text);
  if (rc != 0)
    pacer_error_set(err, rc, "schedule: out of memory");
  return rc;
}

static void
free_jobs(char **jobs, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    free(jobs[i]);
  free(jobs);
}

static int
cmd_add(redisContext *c, const struct pacer_config *cfg, const struct args *a)
{
  struct pacer_error err;
  struct pacer_cron cr;
  struct pacer_tz *tz = NULL;
  char **jobs = NULL, *def = NULL;
  size_t n = 0;
  uint64_t start = 0;
  int rc;

  if (a->cron == NULL || a->file == NULL) {
    fprintf(stderr, "schedule add: --cron EXPR and a job file are required\n");
    return 2;
  }
  rc = pacer_tz_load(a->tz != NULL ? a->tz : "UTC", &tz, &err);
  if (rc == 0)
    rc = read_jobs(a->file, &jobs, &n, &err);
  if (rc == 0)
    rc = pacer_schedule_def_build(a->name, a->cron, a->tz, a->missed,
                                  (const char *const *)jobs, n, &def, &err);
  /* the tick due now counts as run: the first run is the next tick */
  if (rc == 0 && pacer_cron_parse(a->cron, &cr, &err) == 0 &&
      pacer_cron_prev(&cr, tz, pacer_clock_unix_ms(), &start) != 0)
    start = 0;
  if (rc == 0)
    rc = pacer_schedule_store_add(c, cfg->prefix, a->name, def, start,
                                  a->replace, &err);
  free_jobs(jobs, n);
  free(def);
  if (rc != 0) {
    pacer_tz_free(tz);
    fprintf(stderr, "schedule add: %s\n", err.msg);
    return rc == PACER_EREDIS ? 2 : 1;
  }
  if (pacer_cron_next(&cr, tz, pacer_clock_unix_ms(), &start) == 0)
    printf("schedule %s: %zu job(s), cron \"%s\" %s, next tick %" PRIu64
           " (unix ms)\n",
           a->name, n, a->cron, a->tz != NULL ? a->tz : "UTC", start);
  pacer_tz_free(tz);
  return 0;
}

struct list_ctx {
  int json;
  cJSON *arr;
  uint64_t now;
};

static int
list_one(void *arg, const char *name, const char *def, uint64_t last)
{
  struct list_ctx *lc = arg;
  struct pacer_schedule_def *d = NULL;
  struct pacer_tz *tz = NULL;
  struct pacer_error err;
  uint64_t next = 0;

  if (pacer_schedule_def_parse(def, strlen(def), &d, &err) != 0) {
    printf("%-24s (unreadable: %s)\n", name, err.msg);
    return 0;
  }
  if (pacer_tz_load(d->tz, &tz, &err) != 0 ||
      pacer_cron_next(&d->cron, tz, lc->now, &next) != 0)
    next = 0;
  pacer_tz_free(tz);
  if (lc->json) {
    cJSON *o = cJSON_Parse(def);

    if (o == NULL)
      return PACER_ENOMEM;
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "last_tick_unix_ms", (double)last);
    cJSON_AddNumberToObject(o, "next_tick_unix_ms", (double)next);
    cJSON_AddItemToArray(lc->arr, o);
  } else {
    printf("%-24s %-20s %-16s %-8s %-8s jobs=%zu last=%" PRIu64 " next=%" PRIu64
           "\n",
           name, d->cron_text, d->tz, d->paused ? "paused" : "active",
           d->missed == PACER_SCHEDULE_SKIP ? "skip" : "run_once", d->njobs,
           last, next);
  }
  pacer_schedule_def_free(d);
  return 0;
}

static int
cmd_list(redisContext *c, const struct pacer_config *cfg, const struct args *a)
{
  struct list_ctx lc = {a->json, cJSON_CreateArray(), pacer_clock_unix_ms()};
  struct pacer_error err;
  char *def = NULL;
  uint64_t last = 0;
  int rc;

  if (lc.arr == NULL)
    return 2;
  if (a->name != NULL) {
    rc = pacer_schedule_store_get(c, cfg->prefix, a->name, &def, &last, &err);
    if (rc == 0)
      rc = list_one(&lc, a->name, def, last);
    free(def);
  } else {
    rc = pacer_schedule_store_each(c, cfg->prefix, list_one, &lc, &err);
  }
  if (rc == 0 && a->json) {
    char *s = cJSON_PrintUnformatted(lc.arr);

    if (s != NULL)
      puts(s);
    cJSON_free(s);
  }
  cJSON_Delete(lc.arr);
  if (rc != 0) {
    fprintf(stderr, "schedule %s: %s\n", a->verb, err.msg);
    return rc == PACER_ENOTFOUND ? 1 : 2;
  }
  return 0;
}

static int
cmd_pause(redisContext *c, const struct pacer_config *cfg, const struct args *a,
          int paused)
{
  struct pacer_error err;
  int tries, rc = 0;

  for (tries = 0; tries < 5; tries++) {
    char *def = NULL, *nd;
    uint64_t last;

    rc = pacer_schedule_store_get(c, cfg->prefix, a->name, &def, &last, &err);
    if (rc != 0)
      break;
    nd = pacer_schedule_def_set_paused(def, paused);
    rc = nd != NULL
             ? pacer_schedule_store_swap(c, cfg->prefix, a->name, def, nd, &err)
             : pacer_error_set(&err, PACER_ENOMEM, "out of memory");
    free(def);
    free(nd);
    if (rc != 0)
      break; /* 1 = swapped; 0 = changed meanwhile: again */
  }
  if (rc == 1) {
    printf("schedule %s: %s\n", a->name, paused ? "paused" : "resumed");
    return 0;
  }
  fprintf(stderr, "schedule %s: %s\n", a->verb,
          rc == 0 ? "the schedule keeps changing; try again" : err.msg);
  return rc == PACER_ENOTFOUND ? 1 : 2;
}

static int
cmd_run_now(redisContext *c, const struct pacer_config *cfg,
            const struct args *a)
{
  struct pacer_schedule_def *d = NULL;
  struct pacer_error err;
  char *def = NULL, **texts = NULL, id[PACER_SCHEDULE_NAME_MAX + 160];
  char tag[32];
  int *prios = NULL;
  size_t i, n = 0;
  uint64_t last;
  int rc;

  rc = pacer_schedule_store_get(c, cfg->prefix, a->name, &def, &last, &err);
  if (rc == 0)
    rc = pacer_schedule_def_parse(def, strlen(def), &d, &err);
  if (rc == 0) {
    texts = calloc(d->njobs, sizeof(*texts));
    prios = calloc(d->njobs, sizeof(*prios));
    rc = texts != NULL && prios != NULL ? 0 : PACER_ENOMEM;
  }
  /* "now-<unix ms>": ids of their own, apart from every tick's */
  snprintf(tag, sizeof(tag), "now-%" PRIu64, pacer_clock_unix_ms());
  for (; rc == 0 && n < d->njobs; n++) {
    if (pacer_schedule_job_id(a->name, tag, d, n, id, sizeof(id)) != 0 ||
        (texts[n] = pacer_schedule_job_text(d, n, id)) == NULL)
      rc = pacer_error_set(&err, PACER_ENOMEM, "out of memory");
    prios[n] = PACER_PRIORITY_NORMAL;
  }
  if (rc == 0)
    rc = pacer_schedule_store_queue(c, cfg->prefix, (const char *const *)texts,
                                    prios, n, &err);
  if (rc == 0)
    printf("schedule %s: queued %zu job(s) as %s@%s\n", a->name, n, a->name,
           tag);
  else
    fprintf(stderr, "schedule run-now: %s\n", err.msg);
  for (i = 0; texts != NULL && i < n; i++)
    free(texts[i]);
  free(texts);
  free(prios);
  free(def);
  pacer_schedule_def_free(d);
  return rc == 0 ? 0 : rc == PACER_ENOTFOUND ? 1 : 2;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
  struct pacer_error err;
  int i, rc;

  memset(a, 0, sizeof(*a));
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return 100;
    }
    if (strcmp(arg, "--json") == 0) {
      a->json = 1;
    } else if (strcmp(arg, "--replace") == 0) {
      a->replace = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--cron", &a->cron,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--tz", &a->tz,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--missed", &a->missed,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--config", &a->config,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis", &a->redis,
                                         &err)) != 0) {
      if (rc < 0) {
        fprintf(stderr, "schedule: %s\n", err.msg);
        return 2;
      }
    } else if (arg[0] == '-') {
      fprintf(stderr, "schedule: %s: unknown option\n", arg);
      return 2;
    } else if (a->verb == NULL) {
      a->verb = arg;
    } else if (a->name == NULL) {
      a->name = arg;
    } else if (a->file == NULL) {
      a->file = arg;
    } else {
      fprintf(stderr, "schedule: %s: unexpected argument\n", arg);
      return 2;
    }
  }
  if (a->verb == NULL) {
    usage(stderr);
    return 2;
  }
  if (a->name == NULL && strcmp(a->verb, "list") != 0) {
    fprintf(stderr, "schedule %s: NAME is required\n", a->verb);
    return 2;
  }
  if (a->name != NULL && pacer_schedule_name_check(a->name, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 2;
  }
  return 0;
}

int
pacer_cmd_schedule(int argc, char **argv)
{
  struct pacer_config cfg;
  struct pacer_error err;
  struct args a;
  redisContext *c = NULL;
  int rc = parse_args(argc, argv, &a);

  if (rc != 0)
    return rc == 100 ? 0 : rc;
  memset(&cfg, 0, sizeof(cfg));
  if (pacer_cli_config_load_names(&cfg, a.config, a.redis, &err) != 0 ||
      (c = pacer_cli_redis_connect(&cfg, &err)) == NULL) {
    fprintf(stderr, "schedule: %s\n", err.msg);
    pacer_config_free(&cfg);
    return 2;
  }
  if (strcmp(a.verb, "add") == 0)
    rc = cmd_add(c, &cfg, &a);
  else if (strcmp(a.verb, "list") == 0 || strcmp(a.verb, "show") == 0)
    rc = cmd_list(c, &cfg, &a);
  else if (strcmp(a.verb, "pause") == 0 || strcmp(a.verb, "resume") == 0)
    rc = cmd_pause(c, &cfg, &a, strcmp(a.verb, "pause") == 0);
  else if (strcmp(a.verb, "run-now") == 0)
    rc = cmd_run_now(c, &cfg, &a);
  else if (strcmp(a.verb, "remove") == 0) {
    rc = pacer_schedule_store_remove(c, cfg.prefix, a.name, &err);
    if (rc == 0)
      printf("schedule %s: removed\n", a.name);
    else
      fprintf(stderr, "schedule remove: %s\n", err.msg);
    rc = rc == 0 ? 0 : rc == PACER_ENOTFOUND ? 1 : 2;
  } else {
    fprintf(stderr,
            "schedule: %s: unknown; use add, list, show, remove, pause, "
            "resume or run-now\n",
            a.verb);
    rc = 2;
  }
  redisFree(c);
  pacer_config_free(&cfg);
  return rc;
}
