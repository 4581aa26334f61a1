/* `pacer stats`: queue depths and consumers, read in one pipeline.
 *
 *   XLEN     <prefix>jobs                 jobs in the intake stream
 *   XPENDING <prefix>jobs pacer           delivered, not yet acknowledged
 *   ZCARD    <prefix>delayed              retries and deferred jobs
 *   XLEN     <prefix>results
 *   XLEN     <prefix>dead
 *   XINFO CONSUMERS <prefix>jobs pacer    name, pending, idle ms
 *
 * Before the first worker starts there is no group "pacer": XPENDING then
 * answers NOGROUP and XINFO answers NOGROUP or "ERR no such key"; both are
 * shown as 0 with "group not created yet".
 */
#include "cmd.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define GROUP "pacer" /* consumer group name (DESIGN: Redis layout) */

enum reply_slot {
  R_JOBS = 0,
  R_PENDING,
  R_DELAYED,
  R_RESULTS,
  R_DEAD,
  R_CONSUMERS,
  R_COUNT
};

struct consumer {
  char *name;
  long long pending;
  long long idle_ms;
};

struct stats {
  long long jobs, pending, delayed, results, dead; /* entries */
  int group_exists;
  struct consumer *consumers; /* cap entries, nconsumers filled */
  size_t nconsumers;
  size_t cap;
};

static void
usage(FILE *out)
{
  fputs("usage: pacer stats [--config FILE] [--redis URL] [--json]\n"
        "\n"
        "Show queue depths: jobs in <prefix>jobs, pending (delivered, not yet\n"
        "finished), delayed, results, dead letters, and the consumers of\n"
        "group \"" GROUP "\" with their pending count and idle time.\n"
        "\n"
        "options:\n"
        "  --config FILE  read settings from the JSON config FILE\n"
        "  --redis URL    Redis to use; overrides PACER_REDIS_URL, which\n"
        "                 overrides redis_url from the config\n"
        "  --json         print one JSON object instead of text\n"
        "  -h, --help     show this help\n"
        "\n"
        "exit status: 0 ok, 2 usage, config or Redis error.\n",
        out);
}

static int
is_no_group(const redisReply *r)
{
  return r->type == REDIS_REPLY_ERROR &&
         (strncmp(r->str, "NOGROUP", 7) == 0 ||
          strncmp(r->str, "ERR no such key", 15) == 0);
}

static int
integer(const redisReply *r, const char *op, long long *out,
        struct pacer_error *err)
{
  if (r->type == REDIS_REPLY_ERROR)
    return pacer_error_set(err, PACER_EREDIS, "redis: %s: %s", op, r->str);
  if (r->type != REDIS_REPLY_INTEGER)
    return pacer_error_set(err, PACER_EREDIS,
                           "redis: %s: unexpected reply type %d", op, r->type);
  *out = r->integer;
  return 0;
}

/* XINFO CONSUMERS in RESP2: [[name, n, pending, n, idle, ms, ...], ...] */
static int
read_consumers(const redisReply *r, struct stats *st, struct pacer_error *err)
{
  size_t i, j;

  if (r->type != REDIS_REPLY_ARRAY)
    return pacer_error_set(err, PACER_EREDIS,
                           "redis: XINFO CONSUMERS: unexpected reply type %d",
                           r->type);
  if (r->elements == 0)
    return 0;
  st->consumers = calloc(r->elements, sizeof(*st->consumers));
  if (st->consumers == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "stats: out of memory");
  st->cap = r->elements;
  for (i = 0; i < r->elements; i++) {
    const redisReply *c = r->element[i];
    struct consumer *out = &st->consumers[st->nconsumers];

    if (c->type != REDIS_REPLY_ARRAY)
      continue;
    for (j = 0; j + 1 < c->elements; j += 2) {
      const redisReply *k = c->element[j], *v = c->element[j + 1];

      if (k->type != REDIS_REPLY_STRING)
        continue;
      if (strcmp(k->str, "name") == 0 && v->type == REDIS_REPLY_STRING) {
        free(out->name);
        out->name = strdup(v->str);
        if (out->name == NULL)
          return pacer_error_set(err, PACER_ENOMEM, "stats: out of memory");
      } else if (strcmp(k->str, "pending") == 0 &&
                 v->type == REDIS_REPLY_INTEGER) {
        out->pending = v->integer;
      } else if (strcmp(k->str, "idle") == 0 &&
                 v->type == REDIS_REPLY_INTEGER) {
        out->idle_ms = v->integer;
      }
    }
    if (out->name != NULL)
      st->nconsumers++;
  }
  return 0;
}

static void
stats_free(struct stats *st)
{
  size_t i;

  for (i = 0; i < st->cap; i++)
    free(st->consumers[i].name);
  free(st->consumers);
  st->consumers = NULL;
  st->cap = 0;
  st->nconsumers = 0;
}

/* Appends a command of argc (<= 4) arguments to the pipeline. */
static int
append(redisContext *c, int argc, const char *a0, const char *a1,
       const char *a2, const char *a3, struct pacer_error *err)
{
  const char *argv[4] = {a0, a1, a2, a3};
  size_t argvlen[4] = {0, 0, 0, 0};
  int i;

  for (i = 0; i < argc; i++)
    argvlen[i] = strlen(argv[i]);
  if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK)
    return pacer_error_set(err, PACER_ENOMEM, "redis: %s: %s", a0,
                           c->errstr[0] != '\0' ? c->errstr : "out of memory");
  return 0;
}

/* Runs the six commands in one round trip and fills st. */
static int
collect(redisContext *c, const char *prefix, struct stats *st,
        struct pacer_error *err)
{
  static const char *const names[] = {"jobs", "delayed", "results", "dead"};
  char *keys[4] = {NULL, NULL, NULL, NULL};
  redisReply *r[R_COUNT] = {NULL};
  int rc = 0, i;

  for (i = 0; i < 4; i++) {
    size_t n = strlen(prefix) + strlen(names[i]) + 1;

    keys[i] = malloc(n);
    if (keys[i] == NULL) {
      rc = pacer_error_set(err, PACER_ENOMEM, "stats: out of memory");
      goto out;
    }
    snprintf(keys[i], n, "%s%s", prefix, names[i]);
  }

  if ((rc = append(c, 2, "XLEN", keys[0], NULL, NULL, err)) != 0 ||
      (rc = append(c, 3, "XPENDING", keys[0], GROUP, NULL, err)) != 0 ||
      (rc = append(c, 2, "ZCARD", keys[1], NULL, NULL, err)) != 0 ||
      (rc = append(c, 2, "XLEN", keys[2], NULL, NULL, err)) != 0 ||
      (rc = append(c, 2, "XLEN", keys[3], NULL, NULL, err)) != 0 ||
      (rc = append(c, 4, "XINFO", "CONSUMERS", keys[0], GROUP, err)) != 0)
    goto out;

  for (i = 0; i < R_COUNT; i++) {
    if (redisGetReply(c, (void **)&r[i]) != REDIS_OK || r[i] == NULL) {
      rc = pacer_error_set(err, PACER_EREDIS, "redis: stats: %s",
                           c->errstr[0] != '\0' ? c->errstr : "no reply");
      goto out;
    }
  }

  if ((rc = integer(r[R_JOBS], "XLEN jobs", &st->jobs, err)) != 0 ||
      (rc = integer(r[R_DELAYED], "ZCARD delayed", &st->delayed, err)) != 0 ||
      (rc = integer(r[R_RESULTS], "XLEN results", &st->results, err)) != 0 ||
      (rc = integer(r[R_DEAD], "XLEN dead", &st->dead, err)) != 0)
    goto out;

  /* XPENDING summary: [count, smallest id, greatest id, [[name, n], ...]] */
  st->group_exists = !is_no_group(r[R_PENDING]);
  if (st->group_exists) {
    const redisReply *p = r[R_PENDING];

    if (p->type == REDIS_REPLY_ERROR) {
      rc = pacer_error_set(err, PACER_EREDIS, "redis: XPENDING: %s", p->str);
      goto out;
    }
    if (p->type != REDIS_REPLY_ARRAY || p->elements < 1 ||
        p->element[0]->type != REDIS_REPLY_INTEGER) {
      rc = pacer_error_set(err, PACER_EREDIS,
                           "redis: XPENDING: unexpected reply");
      goto out;
    }
    st->pending = p->element[0]->integer;
  }
  if (!is_no_group(r[R_CONSUMERS])) {
    if (r[R_CONSUMERS]->type == REDIS_REPLY_ERROR) {
      rc = pacer_error_set(err, PACER_EREDIS, "redis: XINFO CONSUMERS: %s",
                           r[R_CONSUMERS]->str);
      goto out;
    }
    rc = read_consumers(r[R_CONSUMERS], st, err);
  }

out:
  for (i = 0; i < R_COUNT; i++) {
    if (r[i] != NULL)
      freeReplyObject(r[i]);
  }
  for (i = 0; i < 4; i++)
    free(keys[i]);
  return rc;
}

static void
print_text(const struct stats *st, const char *prefix)
{
  const char *nogroup = st->group_exists ? "" : "  (group not created yet)";
  size_t i, width = 4;

  printf("%-10s %lld  (%sjobs)\n", "jobs", st->jobs, prefix);
  printf("%-10s %lld%s\n", "pending", st->pending, nogroup);
  printf("%-10s %lld\n", "delayed", st->delayed);
  printf("%-10s %lld\n", "results", st->results);
  printf("%-10s %lld\n", "dead", st->dead);
  printf("%-10s %zu%s\n", "consumers", st->nconsumers, nogroup);
  if (st->nconsumers == 0)
    return;
  for (i = 0; i < st->nconsumers; i++) {
    size_t n = strlen(st->consumers[i].name);

    if (n > width)
      width = n;
  }
  printf("  %-*s %10s %12s\n", (int)width, "NAME", "PENDING", "IDLE_MS");
  for (i = 0; i < st->nconsumers; i++)
    printf("  %-*s %10lld %12lld\n", (int)width, st->consumers[i].name,
           st->consumers[i].pending, st->consumers[i].idle_ms);
}

static int
print_json(const struct stats *st, const char *prefix, struct pacer_error *err)
{
  cJSON *o = cJSON_CreateObject(), *arr;
  char *text = NULL;
  size_t i;
  int ok = o != NULL;

  /* cJSON numbers are doubles: exact for counts below 2^53. */
  ok = ok && cJSON_AddStringToObject(o, "prefix", prefix) != NULL;
  ok = ok && cJSON_AddNumberToObject(o, "jobs", (double)st->jobs) != NULL;
  ok = ok && cJSON_AddNumberToObject(o, "pending", (double)st->pending) != NULL;
  ok =
      ok && cJSON_AddBoolToObject(o, "group_created", st->group_exists) != NULL;
  ok = ok && cJSON_AddNumberToObject(o, "delayed", (double)st->delayed) != NULL;
  ok = ok && cJSON_AddNumberToObject(o, "results", (double)st->results) != NULL;
  ok = ok && cJSON_AddNumberToObject(o, "dead", (double)st->dead) != NULL;
  arr = ok ? cJSON_AddArrayToObject(o, "consumers") : NULL;
  ok = ok && arr != NULL;
  for (i = 0; ok && i < st->nconsumers; i++) {
    cJSON *c = cJSON_CreateObject();

    ok = c != NULL && cJSON_AddItemToArray(arr, c);
    if (!ok) {
      cJSON_Delete(c);
      break;
    }
    ok = cJSON_AddStringToObject(c, "name", st->consumers[i].name) != NULL &&
         cJSON_AddNumberToObject(c, "pending",
                                 (double)st->consumers[i].pending) != NULL &&
         cJSON_AddNumberToObject(c, "idle_ms",
                                 (double)st->consumers[i].idle_ms) != NULL;
  }
  if (ok)
    text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (text == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "stats: json: out of memory");
  printf("%s\n", text);
  cJSON_free(text);
  return 0;
}

/* Prints the shared limit buckets (<prefix>limit:*): effective rate
 * (AIMD), when the next slot is free, pause left and its reason. Bounded:
 * at most LIMITS_SHOWN buckets. */
#define LIMITS_SHOWN 200
static void
print_limits(redisContext *c, const char *prefix)
{
  char pattern[256], cursor[32] = "0";
  redisReply *t = redisCommand(c, "TIME");
  double now_us;
  size_t shown = 0, rounds = 0;

  if (t == NULL || t->type != REDIS_REPLY_ARRAY || t->elements != 2) {
    if (t != NULL)
      freeReplyObject(t);
    return;
  }
  now_us =
      strtod(t->element[0]->str, NULL) * 1e6 + strtod(t->element[1]->str, NULL);
  freeReplyObject(t);
  snprintf(pattern, sizeof(pattern), "%slimit:*", prefix);
  do {
    const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
    size_t lens[] = {4, strlen(cursor), 5, strlen(pattern), 5, 4};
    redisReply *r = redisCommandArgv(c, 6, argv, lens);
    size_t i;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      if (r != NULL)
        freeReplyObject(r);
      return;
    }
    snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
    for (i = 0; i < r->element[1]->elements && shown < LIMITS_SHOWN; i++) {
      const redisReply *k = r->element[1]->element[i];
      const char *hargv[] = {"HMGET",       k->str,     "tat",
                             "pause_until", "permille", "pause_reason"};
      size_t hlens[] = {5, k->len, 3, 11, 8, 12};
      redisReply *h = redisCommandArgv(c, 6, hargv, hlens);
      double tat, pause;
      const char *pm, *why;

      if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements != 4) {
        if (h != NULL)
          freeReplyObject(h);
        continue;
      }
      if (shown++ == 0)
        printf("limits\n  %-40s %6s %12s %10s  %s\n", "BUCKET", "RATE%",
               "NEXT_SLOT_MS", "PAUSED_MS", "REASON");
      tat = h->element[0]->str ? strtod(h->element[0]->str, NULL) : 0;
      pause = h->element[1]->str ? strtod(h->element[1]->str, NULL) : 0;
      pm = h->element[2]->str ? h->element[2]->str : "1000";
      why = pause > now_us && h->element[3]->str ? h->element[3]->str : "";
      printf("  %-40s %6.1f %12.0f %10.0f  %s\n", k->str + strlen(prefix) + 6,
             strtod(pm, NULL) / 10.0, tat > now_us ? (tat - now_us) / 1e3 : 0,
             pause > now_us ? (pause - now_us) / 1e3 : 0, why);
      freeReplyObject(h);
    }
    freeReplyObject(r);
  } while (strcmp(cursor, "0") != 0 && ++rounds < 100 && shown < LIMITS_SHOWN);
}

int
pacer_cmd_stats(int argc, char **argv)
{
  struct pacer_config cfg;
  struct pacer_error err;
  struct stats st;
  redisContext *c = NULL;
  const char *config_path = NULL, *redis_url = NULL;
  int json = 0, status = 2, rc, i;

  memset(&cfg, 0, sizeof(cfg));
  memset(&st, 0, sizeof(st));
  pacer_error_clear(&err);
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(arg, "--json") == 0) {
      json = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--config",
                                         &config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis", &redis_url,
                                         &err)) != 0) {
      if (rc < 0) {
        fprintf(stderr, "stats: %s\n", err.msg);
        usage(stderr);
        return 2;
      }
    } else {
      fprintf(stderr, "stats: %s: unknown argument\n", arg);
      usage(stderr);
      return 2;
    }
  }

  if (pacer_cli_config_load(&cfg, config_path, redis_url, &err) != 0)
    goto fail;
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL)
    goto fail;
  if (collect(c, cfg.prefix, &st, &err) != 0)
    goto fail;
  if (json) {
    if (print_json(&st, cfg.prefix, &err) != 0)
      goto fail;
  } else {
    print_text(&st, cfg.prefix);
    print_limits(c, cfg.prefix);
  }
  status = fflush(stdout) == 0 ? 0 : 2;
  goto out;

fail:
  fprintf(stderr, "stats: %s\n", err.msg);
out:
  stats_free(&st);
  if (c != NULL)
    redisFree(c);
  pacer_config_free(&cfg);
  return status;
}
