/* `pacer jobs [--state S] [--lane L] [--limit N] [--json]`: what waits and
 * why, read from Redis (store/job_list.h). The job text is read to find
 * each job's lane (the limits of --config, as scheduler/intake.c picks
 * it) and is never printed: it may hold secrets. */
#include "cli/cmd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/clock.h"
#include "core/job.h"
#include "core/lane.h"
#include "core/limits.h"
#include "store/job_list.h"

#define EXIT_OK    0
#define EXIT_USAGE 2 /* usage, config or Redis error (as every command) */

#define LIMIT_DEFAULT 50 /* rows printed by default */
#define PAUSE_CACHE   32 /* bucket pauses looked up per run */

static void
usage(FILE *out)
{
  fputs("usage: pacer jobs [--state queued|delayed|in_flight|parked]\n"
        "                  [--lane L] [--limit N] [--json]\n"
        "                  [--config FILE] [--redis URL]\n"
        "\n"
        "Lists jobs that wait, and why: queued (in a stream, not read by a\n"
        "worker yet), in_flight (held by a worker: waiting in its lane for a\n"
        "slot, or running), delayed (retries, not_before, deferred by their\n"
        "limits: with the due time) and parked (their credential needs\n"
        "`pacer cred set`), with lane, attempts, 429s met, and a pause of\n"
        "the lane's buckets (by the upstream or an operator). The lane is\n"
        "computed from the limits of --config; without it, \"-\".\n"
        "\n"
        "options:\n"
        "  --state S      only jobs in state S\n"
        "  --lane L       only jobs of lane L, or of a lane taking from\n"
        "                 bucket L (e.g. acct:act_1001)\n"
        "  --limit N      print at most N jobs (default 50)\n"
        "  --json         one JSON object per line\n"
        "  --config FILE  the JSON config (prefix, redis_url, limits)\n"
        "  --redis URL    Redis to use; overrides PACER_REDIS_URL, which\n"
        "                 overrides redis_url from the config\n"
        "\n"
        "exit status: 0 ok, 2 usage, config or Redis error.\n",
        out);
}

/* The walk's state. */
struct jobs_ctx {
  redisContext *c;
  const struct pacer_config *cfg;
  const char *lane; /* --lane, or NULL */
  unsigned long limit;
  unsigned long shown;
  int json;
  uint64_t now_ms;
  struct {
    char bucket[128];
    uint64_t left_ms;
    char why[160];
  } pauses[PAUSE_CACHE];
  size_t npauses;
  struct pacer_error *err;
  unsigned char lane_key[PACER_LIMIT_HASH_KEY_BYTES]; /* <prefix>lanekey */
  int have_lane_key;
};

static const char *
state_name(enum pacer_job_list_state st)
{
  return st == PACER_JOB_LIST_QUEUED      ? "queued"
         : st == PACER_JOB_LIST_IN_FLIGHT ? "in_flight"
         : st == PACER_JOB_LIST_DELAYED   ? "delayed"
                                          : "parked";
}

static const char *
header_cb(void *ctx, const char *name)
{
  return pacer_job_header_get(ctx, name);
}

/* The lane id of job (as scheduler/intake.c lane_for builds it, with the
 * deployment's lane-name key hash_key, or NULL) into id (PACER_LANE_ID_MAX
 * + 1 bytes); "-" when there are no limits. */
static void
lane_of(const struct pacer_config *cfg, const struct pacer_job *job,
        const unsigned char *hash_key, char *id, size_t size)
{
  char *host = NULL, *path = NULL, key[256];
  CURLU *u = curl_url();
  size_t i, used = 0, n = 0;

  snprintf(id, size, "-");
  if (u != NULL && curl_url_set(u, CURLUPART_URL, job->url, 0) == CURLUE_OK) {
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
      host = NULL;
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
      path = NULL;
  }
  curl_url_cleanup(u);
  for (i = 0; i < cfg->nlimits && n < PACER_LIMITER_MAX_REFS; i++) {
    const struct pacer_limit_cfg *l = &cfg->limits[i];
    int w;

    if (!pacer_limit_matches(l, pacer_method_name(job->method), host, path) ||
        pacer_limit_key_keyed(l, host, job->credential, job->limit_key,
                              header_cb, (void *)(uintptr_t)job, hash_key, key,
                              sizeof(key)) != 0)
      continue;
    w = snprintf(id + used, size - used, "%s%s", n ? "|" : "", key);
    if (w < 0 || (size_t)w >= size - used)
      break;
    used += (size_t)w;
    n++;
  }
  if (n == 0)
    snprintf(id, size, "~%s", job->limit_key ? job->limit_key : "");
  curl_free(host);
  curl_free(path);
}

/* 1 when lane (a|b|c) is want or takes from bucket want. */
static int
lane_matches(const char *lane, const char *want)
{
  size_t n = strlen(want);
  const char *p = lane;

  if (strcmp(lane, want) == 0)
    return 1;
  while (p != NULL && *p != '\0') {
    if (strncmp(p, want, n) == 0 && (p[n] == '|' || p[n] == '\0'))
      return 1;
    p = strchr(p, '|');
    p = p != NULL ? p + 1 : NULL;
  }
  return 0;
}

/* Appends the longest pause among lane's buckets to why. */
static int
lane_pause(struct jobs_ctx *jc, const char *lane, char *why, size_t size)
{
  char b[PACER_LANE_ID_MAX + 1], *save = NULL, *tok;
  uint64_t best = 0;
  const char *best_why = NULL, *best_bucket = NULL;
  size_t i;

  if (lane[0] == '-' || lane[0] == '~')
    return 0;
  snprintf(b, sizeof(b), "%s", lane);
  for (tok = strtok_r(b, "|", &save); tok != NULL;
       tok = strtok_r(NULL, "|", &save)) {
    for (i = 0; i < jc->npauses; i++)
      if (strcmp(jc->pauses[i].bucket, tok) == 0)
        break;
    if (i == jc->npauses) {
      if (jc->npauses == PAUSE_CACHE)
        continue;
      snprintf(jc->pauses[i].bucket, sizeof(jc->pauses[i].bucket), "%s", tok);
      if (pacer_job_list_bucket_pause(jc->c, jc->cfg->prefix, tok,
                                      &jc->pauses[i].left_ms, jc->pauses[i].why,
                                      sizeof(jc->pauses[i].why), jc->err) != 0)
        return PACER_EREDIS;
      jc->npauses++;
    }
    if (jc->pauses[i].left_ms > best) {
      best = jc->pauses[i].left_ms;
      best_why = jc->pauses[i].why;
      best_bucket = jc->pauses[i].bucket;
    }
  }
  if (best_why != NULL) {
    size_t used = strlen(why);

    if (best > 100000000000ull)
      snprintf(why + used, size - used, "; bucket %s %s (until resumed)",
               best_bucket, best_why);
    else
      snprintf(why + used, size - used, "; bucket %s %s, %.1f s left",
               best_bucket, best_why, best / 1e3);
  }
  return 0;
}

static int
row_cb(void *arg, const struct pacer_job_list_row *row)
{
  struct jobs_ctx *jc = arg;
  char lane[PACER_LANE_ID_MAX + 1], why[512], id[PACER_JOB_ID_MAX + 1];
  struct pacer_job_limits lim;
  struct pacer_job *job = NULL;
  struct pacer_error perr;
  int rc;

  if (jc->shown >= jc->limit)
    return 1; /* stop */
  snprintf(id, sizeof(id), "%.*s", (int)row->id_len, row->id);
  pacer_job_limits_default(&lim);
  lim.max_bytes = jc->cfg->job_max_bytes;
  snprintf(lane, sizeof(lane), "-");
  if (pacer_job_parse(row->job, row->job_len, id[0] ? id : NULL, &lim, &job,
                      &perr) == 0) {
    if (id[0] == '\0')
      snprintf(id, sizeof(id), "%s", job->id);
    if (jc->cfg->nlimits > 0)
      lane_of(jc->cfg, job, jc->have_lane_key ? jc->lane_key : NULL, lane,
              sizeof(lane));
  }
  if (jc->lane != NULL && !lane_matches(lane, jc->lane)) {
    pacer_job_free(job);
    return 0;
  }
  switch (row->state) {
  case PACER_JOB_LIST_QUEUED:
    snprintf(why, sizeof(why), "in a stream, not read by a worker yet");
    break;
  case PACER_JOB_LIST_IN_FLIGHT:
    snprintf(why, sizeof(why), "held by %s (last active %.1f s ago)",
             row->consumer, row->idle_ms / 1e3);
    break;
  case PACER_JOB_LIST_DELAYED:
    if (row->due_unix_ms > jc->now_ms)
      snprintf(why, sizeof(why), "due in %.1f s",
               (row->due_unix_ms - jc->now_ms) / 1e3);
    else
      snprintf(why, sizeof(why), "due now");
    break;
  default:
    snprintf(why, sizeof(why), "credential %s needs `pacer cred set %s`",
             job != NULL && job->credential ? job->credential : "?",
             job != NULL && job->credential ? job->credential : "NAME");
    break;
  }
  pacer_job_free(job);
  if (row->state != PACER_JOB_LIST_PARKED &&
      (rc = lane_pause(jc, lane, why, sizeof(why))) != 0)
    return rc;
  jc->shown++;
  if (jc->json) {
    cJSON *o = cJSON_CreateObject();
    char *line = NULL;

    if (o != NULL &&
        cJSON_AddStringToObject(o, "state", state_name(row->state)) != NULL &&
        cJSON_AddStringToObject(o, "id", id) != NULL &&
        cJSON_AddStringToObject(o, "lane", lane) != NULL &&
        cJSON_AddNumberToObject(o, "attempts", row->attempts) != NULL &&
        cJSON_AddNumberToObject(o, "throttled", row->throttled) != NULL &&
        (row->due_unix_ms > 0
             ? cJSON_AddNumberToObject(o, "due_unix_ms",
                                       (double)row->due_unix_ms)
             : cJSON_AddNullToObject(o, "due_unix_ms")) != NULL &&
        cJSON_AddStringToObject(o, "why", why) != NULL)
      line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line == NULL)
      return PACER_ENOMEM;
    printf("%s\n", line);
    cJSON_free(line);
  } else {
    printf("%-10s %-24s %-24s %8u %5u  %s\n", state_name(row->state), id, lane,
           row->attempts, row->throttled, why);
  }
  return 0;
}

int
pacer_cmd_jobs(int argc, char **argv)
{
  const char *config_path = NULL, *redis_url = NULL, *state = NULL;
  const char *limit = NULL;
  struct pacer_config cfg;
  struct pacer_error err;
  struct jobs_ctx jc;
  unsigned mask = 0xf;
  int i, rc;

  memset(&jc, 0, sizeof(jc));
  pacer_error_clear(&err);
  jc.limit = LIMIT_DEFAULT;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return EXIT_OK;
    } else if (strcmp(argv[i], "--json") == 0) {
      jc.json = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--config",
                                         &config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis", &redis_url,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--state", &state,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--lane", &jc.lane,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--limit", &limit,
                                         &err)) != 0) {
      if (rc < 0) {
        fprintf(stderr, "pacer jobs: %s\n", err.msg);
        return EXIT_USAGE;
      }
    } else {
      fprintf(stderr, "pacer jobs: %.*s: unknown %s\n",
              (int)strcspn(argv[i], "="), argv[i],
              argv[i][0] == '-' ? "option" : "argument");
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  if (state != NULL) {
    mask = strcmp(state, "queued") == 0      ? PACER_JOB_LIST_QUEUED
           : strcmp(state, "in_flight") == 0 ? PACER_JOB_LIST_IN_FLIGHT
           : strcmp(state, "delayed") == 0   ? PACER_JOB_LIST_DELAYED
           : strcmp(state, "parked") == 0    ? PACER_JOB_LIST_PARKED
                                             : 0;
    if (mask == 0) {
      fprintf(stderr,
              "pacer jobs: --state: \"%.40s\" is not queued, delayed, "
              "in_flight or parked\n",
              state);
      return EXIT_USAGE;
    }
  }
  if (limit != NULL) {
    char *end;

    jc.limit = strtoul(limit, &end, 10);
    if (limit[0] < '1' || limit[0] > '9' || *end != '\0' ||
        jc.limit > 1000000ul) {
      fprintf(stderr,
              "pacer jobs: --limit: \"%.20s\" is not a count from 1 to "
              "1000000\n",
              limit);
      return EXIT_USAGE;
    }
  }
  rc = pacer_cli_config_load_names(&cfg, config_path, redis_url, &err);
  if (rc == 0 && (jc.c = pacer_cli_redis_connect(&cfg, &err)) == NULL)
    rc = err.code != 0 ? err.code : PACER_EREDIS;
  if (rc == 0) {
    jc.cfg = &cfg;
    jc.err = &err;
    jc.now_ms = pacer_clock_unix_ms();
    rc = pacer_job_list_lane_key(jc.c, cfg.prefix, jc.lane_key, &err);
    jc.have_lane_key = rc == 1;
    rc = rc < 0 ? rc : 0;
  }
  if (rc == 0) {
    if (!jc.json)
      printf("%-10s %-24s %-24s %8s %5s  %s\n", "STATE", "ID", "LANE",
             "ATTEMPTS", "429S", "WHY");
    /* With --lane, rows are filtered after the read: read more of each. */
    rc = pacer_job_list(jc.c, cfg.prefix, mask,
                        jc.lane != NULL ? 100000 : jc.limit, row_cb, &jc, &err);
    if (rc == 1)
      rc = 0;
    if (rc == 0 && !jc.json && jc.shown == 0)
      printf("(nothing waits%s)\n", jc.lane != NULL ? " in that lane" : "");
  }
  if (rc < 0)
    fprintf(stderr, "pacer jobs: %s\n",
            err.msg[0] != '\0' ? err.msg : pacer_strerror(rc));
  if (jc.c != NULL)
    redisFree(jc.c);
  pacer_config_free(&cfg);
  return rc < 0 ? EXIT_USAGE : EXIT_OK;
}
