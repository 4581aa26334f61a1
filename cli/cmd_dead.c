/* `pacer dead list|show|retry|delete|purge`: dead letters. The work is
 * store/dead.h's; the original job (secrets intact) that a retry queues
 * again never leaves Redis and is never printed: list and show print the
 * dead letter, whose job is redacted (docs/REDIS.md "Dead letters"). */
#include "cli/cmd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli/run_report.h"
#include "common/clock.h"
#include "core/job.h"
#include "store/dead.h"

#define EXIT_OK      0
#define EXIT_PARTIAL 1 /* some id had no dead letter or kept original */
#define EXIT_USAGE   2 /* usage, config or Redis error (as every command) */

#define LIST_DEFAULT 50 /* letters `dead list` prints by default */

static void
usage(FILE *out)
{
  fputs("usage: pacer dead list [--reason R] [--since T] [--limit N] [--json]\n"
        "       pacer dead show ID [--json]\n"
        "       pacer dead retry ID... | --all [--reason R] [--since T]\n"
        "       pacer dead delete ID...\n"
        "       pacer dead purge\n"
        "       (each with [--config FILE] [--redis URL])\n"
        "\n"
        "list    dead letters, newest first (default the last 50): when the\n"
        "        job failed, id, reason, status, attempts, and whether its\n"
        "        original is kept for a retry (for dead_ttl_ms, default 7 d)\n"
        "show    one dead letter: reason, error, the job with its secrets\n"
        "        redacted and an excerpt of the last response\n"
        "retry   queues the original job again (secrets intact, never shown)\n"
        "        under the same id, in its priority's stream, with its\n"
        "        attempts counted afresh, and deletes its dead letter; each\n"
        "        dead letter is retried once. --all retries every kept one\n"
        "        (or those matching --reason and --since); they run at the\n"
        "        pace of their limits like any other job\n"
        "delete  deletes the dead letters of the ids and their originals\n"
        "purge   deletes every dead letter and every kept original\n"
        "\n"
        "options:\n"
        "  --reason R     only letters whose reason is R (e.g. http_404)\n"
        "  --since T      only letters of the last T (e.g. 30m, 2h, 7d)\n"
        "  --limit N      list at most N letters (0 = all)\n"
        "  --json         one JSON object per line\n"
        "  --config FILE  the JSON config (for prefix and redis_url)\n"
        "  --redis URL    Redis to use; overrides PACER_REDIS_URL, which\n"
        "                 overrides redis_url from the config\n"
        "\n"
        "exit status: 0 ok, 1 some id had no dead letter (retry: no kept\n"
        "original), 2 usage, config or Redis error.\n",
        out);
}

/* What the subcommand was given. */
struct dead_args {
  const char *config_path, *redis_url, *reason;
  uint64_t since_ms;   /* 0 = no --since */
  uint64_t cutoff_ms;  /* failed_unix_ms >= this, with --since */
  unsigned long limit; /* list: letters to print, 0 = all */
  int json, all;
  const char **ids; /* positional ids, borrowed from argv */
  size_t nids;
};

static int
parse_args(int argc, char **argv, struct dead_args *a)
{
  struct pacer_error err;
  const char *since = NULL, *limit = NULL;
  int i, rc;

  pacer_error_clear(&err);
  a->limit = LIST_DEFAULT;
  a->ids = calloc((size_t)argc, sizeof(*a->ids));
  if (a->ids == NULL) {
    fprintf(stderr, "pacer dead: out of memory\n");
    return EXIT_USAGE;
  }
  for (i = 2; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return EXIT_OK + 100;
    } else if (strcmp(arg, "--json") == 0) {
      a->json = 1;
    } else if (strcmp(arg, "--all") == 0) {
      a->all = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--config",
                                         &a->config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis",
                                         &a->redis_url, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--reason", &a->reason,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--since", &since,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--limit", &limit,
                                         &err)) != 0) {
      if (rc < 0) {
        fprintf(stderr, "pacer dead: %s\n", err.msg);
        return EXIT_USAGE;
      }
    } else if (arg[0] == '-' && arg[1] != '\0') {
      fprintf(stderr, "pacer dead: %.*s: unknown option\n",
              (int)strcspn(arg, "="), arg);
      usage(stderr);
      return EXIT_USAGE;
    } else if (pacer_job_id_check(arg, &err) != 0) {
      fprintf(stderr, "pacer dead: %s\n", err.msg);
      return EXIT_USAGE;
    } else {
      a->ids[a->nids++] = arg;
    }
  }
  if (since != NULL) {
    if (pacer_cli_duration_ms(since, "--since", &a->since_ms, &err) != 0) {
      fprintf(stderr, "pacer dead: %s\n", err.msg);
      return EXIT_USAGE;
    }
    a->cutoff_ms = pacer_clock_unix_ms() - a->since_ms;
  }
  if (limit != NULL) {
    char *end;

    a->limit = strtoul(limit, &end, 10);
    if (limit[0] < '0' || limit[0] > '9' || *end != '\0' ||
        a->limit > 10000000ul) {
      fprintf(stderr,
              "pacer dead: --limit: \"%.20s\" is not a count from 0 to "
              "10000000\n",
              limit);
      return EXIT_USAGE;
    }
  }
  return 0;
}

/* The value of field name among f, or "". */
static const char *
field(const struct pacer_results_field *f, size_t n, const char *name)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0)
      return f[i].value;
  return "";
}

/* "2026-12-06T22:30:00Z" for unix ms v, into buf (at least 24 bytes). */
static void
utc_text(uint64_t v, char *buf, size_t size)
{
  time_t t = (time_t)(v / 1000u);
  struct tm tm;

  if (v == 0 || gmtime_r(&t, &tm) == NULL ||
      strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, size, "-");
}

/* "6d23h", "59m", "12s" or "-" (not kept) for a kept original's time
 * left. */
static void
kept_text(long long ttl_ms, char *buf, size_t size)
{
  long long s = ttl_ms / 1000;

  if (ttl_ms == -2)
    snprintf(buf, size, "-");
  else if (ttl_ms < 0)
    snprintf(buf, size, "kept");
  else if (s >= 86400)
    snprintf(buf, size, "%lldd%lldh", s / 86400, s % 86400 / 3600);
  else if (s >= 3600)
    snprintf(buf, size, "%lldh%lldm", s / 3600, s % 3600 / 60);
  else if (s >= 60)
    snprintf(buf, size, "%lldm", s / 60);
  else
    snprintf(buf, size, "%llds", s);
}

/* 1 when the letter passes --reason and --since. */
static int
matches(const struct dead_args *a, const struct pacer_results_field *f,
        size_t n)
{
  if (a->reason != NULL && strcmp(field(f, n, "reason"), a->reason) != 0)
    return 0;
  if (a->since_ms > 0 &&
      strtoull(field(f, n, "failed_unix_ms"), NULL, 10) < a->cutoff_ms)
    return 0;
  return 1;
}

/* Prints one letter as a JSON line, with "retry_kept_ms" added. */
static int
print_json(const char *entry_id, const struct pacer_results_field *f, size_t n,
           long long ttl_ms)
{
  char *line = pacer_run_entry_json(f, n);
  cJSON *o = line != NULL ? cJSON_Parse(line) : NULL;
  char *out = NULL;

  cJSON_free(line);
  if (o != NULL && cJSON_AddStringToObject(o, "entry", entry_id) != NULL &&
      (ttl_ms == -2 ? cJSON_AddNullToObject(o, "retry_kept_ms")
                    : cJSON_AddNumberToObject(o, "retry_kept_ms",
                                              (double)ttl_ms)) != NULL)
    out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (out == NULL)
    return PACER_ENOMEM;
  printf("%s\n", out);
  cJSON_free(out);
  return 0;
}

/* `dead list`: the walk's state. */
struct list_ctx {
  const struct dead_args *a;
  unsigned long shown;
};

#define STOP 1

static int
list_cb(void *arg, const char *entry_id, const struct pacer_results_field *f,
        size_t n, long long ttl_ms)
{
  struct list_ctx *lc = arg;
  char when[32], kept[24];
  int rc;

  if (!matches(lc->a, f, n))
    return 0;
  if (lc->a->limit > 0 && lc->shown >= lc->a->limit)
    return STOP;
  lc->shown++;
  if (lc->a->json) {
    rc = print_json(entry_id, f, n, ttl_ms);
    return rc;
  }
  utc_text(strtoull(field(f, n, "failed_unix_ms"), NULL, 10), when,
           sizeof(when));
  kept_text(ttl_ms, kept, sizeof(kept));
  printf("%-20s  %-24s  %-22s  %6s  %8s  %s\n", when, field(f, n, "id"),
         field(f, n, "reason"), field(f, n, "status"), field(f, n, "attempts"),
         kept);
  return 0;
}

static int
cmd_list(redisContext *c, const char *prefix, const struct dead_args *a,
         struct pacer_error *err)
{
  struct list_ctx lc = {a, 0};
  int rc;

  if (!a->json)
    printf("%-20s  %-24s  %-22s  %6s  %8s  %s\n", "FAILED (UTC)", "ID",
           "REASON", "STATUS", "ATTEMPTS", "RETRY KEPT");
  rc = pacer_dead_list(c, prefix, 1, list_cb, &lc, err);
  if (rc == STOP)
    rc = 0;
  if (rc == 0 && !a->json && lc.shown == 0)
    printf("(no dead letters%s)\n",
           a->reason != NULL || a->since_ms > 0 ? " match" : "");
  return rc;
}

static int
show_cb(void *arg, const char *entry_id, const struct pacer_results_field *f,
        size_t n, long long ttl_ms)
{
  const struct dead_args *a = arg;
  char kept[24];
  size_t i;

  if (a->json)
    return print_json(entry_id, f, n, ttl_ms);
  for (i = 0; i < n; i++) {
    if (strcmp(f[i].name, "excerpt") == 0)
      continue;
    printf("%-15s %.*s\n", f[i].name, (int)f[i].value_len, f[i].value);
  }
  printf("%-15s %s\n", "entry", entry_id);
  kept_text(ttl_ms, kept, sizeof(kept));
  if (ttl_ms == -2)
    printf("%-15s not possible: the original job is not kept (dead_ttl_ms "
           "passed, or 0)\n",
           "retry");
  else
    printf("%-15s possible: original kept for %s (`pacer dead retry %s`)\n",
           "retry", kept, field(f, n, "id"));
  printf("excerpt:\n%.*s\n", (int)strlen(field(f, n, "excerpt")),
         field(f, n, "excerpt"));
  return 0;
}

/* `dead retry --all`: the ids of the matching letters, oldest first. */
struct collect {
  const struct dead_args *a;
  char **ids;
  size_t n, cap, not_kept;
};

static int
collect_cb(void *arg, const char *entry_id, const struct pacer_results_field *f,
           size_t n, long long ttl_ms)
{
  struct collect *cl = arg;
  const char *id = field(f, n, "id");

  (void)entry_id;
  if (!matches(cl->a, f, n) || id[0] == '\0')
    return 0;
  if (ttl_ms == -2) {
    cl->not_kept++;
    return 0;
  }
  if (cl->n == cl->cap) {
    size_t cap = cl->cap ? 2 * cl->cap : 64;
    char **v = realloc(cl->ids, cap * sizeof(*v));

    if (v == NULL)
      return PACER_ENOMEM;
    cl->ids = v;
    cl->cap = cap;
  }
  cl->ids[cl->n] = strdup(id);
  if (cl->ids[cl->n] == NULL)
    return PACER_ENOMEM;
  cl->n++;
  return 0;
}

static int
cmd_retry(redisContext *c, const char *prefix, const struct dead_args *a,
          int *status, struct pacer_error *err)
{
  struct collect cl = {a, NULL, 0, 0, 0};
  const char *const *ids = a->ids;
  size_t n = a->nids, i, queued = 0;
  int *ok = NULL, rc = 0;

  if (a->all) {
    rc = pacer_dead_list(c, prefix, 0, collect_cb, &cl, err);
    ids = (const char *const *)cl.ids;
    n = cl.n;
  }
  if (rc == 0 && n > 0) {
    ok = calloc(n, sizeof(*ok));
    rc = ok == NULL ? pacer_error_set(err, PACER_ENOMEM, "out of memory")
                    : pacer_dead_retry(c, prefix, ids, n, ok, err);
  }
  for (i = 0; rc == 0 && i < n; i++) {
    if (ok[i]) {
      queued++;
      if (!a->all)
        printf("queued %s\n", ids[i]);
    } else {
      fprintf(stderr,
              "pacer dead retry: %s: not queued: no kept original (no dead "
              "letter, already retried, or older than dead_ttl_ms)\n",
              ids[i]);
      *status = EXIT_PARTIAL;
    }
  }
  if (rc == 0)
    printf("retried %zu of %zu dead letter(s)\n", queued,
           a->all ? n + cl.not_kept : n);
  if (rc == 0 && cl.not_kept > 0) {
    fprintf(stderr,
            "pacer dead retry: %zu matching dead letter(s) have no kept "
            "original (older than dead_ttl_ms): not retried\n",
            cl.not_kept);
    *status = EXIT_PARTIAL;
  }
  for (i = 0; i < cl.n; i++)
    free(cl.ids[i]);
  free(cl.ids);
  free(ok);
  return rc;
}

int
pacer_cmd_dead(int argc, char **argv)
{
  struct dead_args a;
  struct pacer_config cfg;
  struct pacer_error err;
  redisContext *c = NULL;
  const char *sub = argc > 1 ? argv[1] : NULL;
  int rc, status = EXIT_OK;

  memset(&a, 0, sizeof(a));
  pacer_error_clear(&err);
  if (sub == NULL || strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
    usage(sub == NULL ? stderr : stdout);
    return sub == NULL ? EXIT_USAGE : EXIT_OK;
  }
  if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 &&
      strcmp(sub, "retry") != 0 && strcmp(sub, "delete") != 0 &&
      strcmp(sub, "purge") != 0) {
    if (sub[0] == '-')
      fprintf(stderr, "pacer dead: put the subcommand first, e.g. pacer dead "
                      "list --config FILE\n");
    else
      fprintf(stderr,
              "pacer dead: %.40s: unknown subcommand (list, show, retry, "
              "delete, purge)\n",
              sub);
    return EXIT_USAGE;
  }
  rc = parse_args(argc, argv, &a);
  if (rc != 0) {
    free(a.ids);
    return rc == EXIT_OK + 100 ? EXIT_OK : rc;
  }
  if ((strcmp(sub, "show") == 0 && a.nids != 1) ||
      (strcmp(sub, "retry") == 0 && (a.nids == 0) == !a.all) ||
      (strcmp(sub, "delete") == 0 && a.nids == 0) ||
      ((strcmp(sub, "list") == 0 || strcmp(sub, "purge") == 0) && a.nids > 0)) {
    fprintf(stderr, "pacer dead %s: %s\n", sub,
            strcmp(sub, "show") == 0     ? "give exactly one job ID"
            : strcmp(sub, "retry") == 0  ? "give job IDs or --all (not both)"
            : strcmp(sub, "delete") == 0 ? "give at least one job ID"
                                         : "takes no job ID");
    free(a.ids);
    return EXIT_USAGE;
  }
  if ((a.reason != NULL || a.since_ms > 0) && strcmp(sub, "list") != 0 &&
      !a.all) {
    fprintf(stderr,
            "pacer dead %s: --reason and --since go with list or "
            "retry --all\n",
            sub);
    free(a.ids);
    return EXIT_USAGE;
  }
  rc = pacer_cli_config_load_names(&cfg, a.config_path, a.redis_url, &err);
  if (rc == 0 && (c = pacer_cli_redis_connect(&cfg, &err)) == NULL)
    rc = err.code != 0 ? err.code : PACER_EREDIS;
  if (rc == 0) {
    if (strcmp(sub, "list") == 0) {
      rc = cmd_list(c, cfg.prefix, &a, &err);
    } else if (strcmp(sub, "show") == 0) {
      rc = pacer_dead_find(c, cfg.prefix, a.ids[0], show_cb, &a, &err);
      if (rc == 0) {
        fprintf(stderr, "pacer dead show: %s: no dead letter\n", a.ids[0]);
        status = EXIT_PARTIAL;
      }
      rc = rc == 1 ? 0 : rc;
    } else if (strcmp(sub, "retry") == 0) {
      rc = cmd_retry(c, cfg.prefix, &a, &status, &err);
    } else if (strcmp(sub, "delete") == 0) {
      size_t deleted = 0;

      rc = pacer_dead_delete(c, cfg.prefix, a.ids, a.nids, &deleted, &err);
      if (rc == 0) {
        printf("deleted the dead letters of %zu of %zu job id(s)\n", deleted,
               a.nids);
        if (deleted < a.nids)
          status = EXIT_PARTIAL;
      }
    } else {
      long long letters = 0, kept = 0;

      rc = pacer_dead_purge(c, cfg.prefix, &letters, &kept, &err);
      if (rc == 0)
        printf("purged %lld dead letter(s) and %lld kept original(s)\n",
               letters, kept);
    }
  }
  if (rc < 0) {
    fprintf(stderr, "pacer dead %s: %s\n", sub,
            err.msg[0] != '\0' ? err.msg : pacer_strerror(rc));
    status = EXIT_USAGE;
  }
  if (c != NULL)
    redisFree(c);
  pacer_config_free(&cfg);
  free(a.ids);
  return status;
}
