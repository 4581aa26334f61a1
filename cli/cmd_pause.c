/* `pacer pause BUCKET...|--all [--for DURATION]` and `pacer resume
 * BUCKET...|--all`: an operator pause of limit buckets for every worker in
 * every process, kept in Redis (store/control.h), so it survives worker
 * restarts; shown as "paused by an operator" by `pacer stats`, /metrics
 * and the dashboard (docs/LIMITS.md "Operator pause"). */
#include "cli/cmd.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "store/control.h"

#define EXIT_OK      0
#define EXIT_PARTIAL 1 /* resume: some bucket had no pause of its own */
#define EXIT_USAGE   2 /* usage, config or Redis error (as every command) */

#define BUCKET_MAX 512 /* bucket name, bytes */

static void
usage(FILE *out)
{
  fputs("usage: pacer pause BUCKET... | --all [--for DURATION]\n"
        "       pacer resume BUCKET... | --all\n"
        "       (each with [--config FILE] [--redis URL])\n"
        "\n"
        "pause   stops every worker of every process from sending requests\n"
        "        that take from BUCKET (a limit bucket as `pacer stats` lists\n"
        "        it, e.g. acct:act_1001), until `pacer resume` or for\n"
        "        DURATION (e.g. 90s, 15m, 2h). Jobs wait; none is dropped.\n"
        "        Requests already sent finish. The pause is kept in Redis:\n"
        "        it survives worker restarts. `pacer stats` shows it with the\n"
        "        cause \"paused by an operator\".\n"
        "resume  ends the operator pause (a pause the upstream asked for with\n"
        "        429 / Retry-After stays)\n"
        "\n"
        "options:\n"
        "  --all          pause: every request that takes from any limit\n"
        "                 bucket, also from buckets first used after the\n"
        "                 pause (one pause of all; buckets' own pauses stay\n"
        "                 as they are). A later pause --all replaces it.\n"
        "                 Requests that match no limit are not paused.\n"
        "                 resume: ends the pause of all and the own pause\n"
        "                 of every bucket. `resume BUCKET` ends only that\n"
        "                 bucket's own pause, never the pause of all.\n"
        "  --for D        pause for D only: N followed by ms, s, m, h or d\n"
        "  --config FILE  the JSON config (prefix, redis_url, and its limits:\n"
        "                 a bucket of a configured limit can be paused\n"
        "                 before its first use)\n"
        "  --redis URL    Redis to use; overrides PACER_REDIS_URL, which\n"
        "                 overrides redis_url from the config\n"
        "\n"
        "exit status: 0 ok, 1 resume: some bucket had no pause of its own,\n"
        "2 usage, config or Redis error (an unknown bucket).\n",
        out);
}

/* 1 when bucket is a configured limit's name, or "<name>:<value>". */
static int
configured(const struct pacer_config *cfg, const char *bucket)
{
  size_t i, n = strcspn(bucket, ":");

  for (i = 0; i < cfg->nlimits; i++) {
    const struct pacer_limit_cfg *l = &cfg->limits[i];

    if (strlen(l->name) != n || memcmp(l->name, bucket, n) != 0)
      continue;
    if ((l->key == PACER_LIMIT_KEY_GLOBAL) == (bucket[n] == '\0'))
      return 1;
  }
  return 0;
}

/* The names of the buckets in Redis, for the message about an unknown
 * one: "a, b, c" cut at size. */
struct names {
  char buf[400];
  size_t used, n;
};

static int
name_cb(void *arg, const char *bucket)
{
  struct names *nm = arg;
  int w;

  nm->n++;
  if (nm->used + 8 >= sizeof(nm->buf))
    return 0;
  w = snprintf(nm->buf + nm->used, sizeof(nm->buf) - nm->used, "%s%s",
               nm->used > 0 ? ", " : "", bucket);
  if (w > 0)
    nm->used += (size_t)w < sizeof(nm->buf) - nm->used
                    ? (size_t)w
                    : sizeof(nm->buf) - nm->used - 1;
  return 0;
}

/* What each bucket of --all gets. */
struct apply {
  redisContext *c;
  const char *prefix;
  int resume;
  uint64_t for_ms;
  size_t n, changed;
  struct pacer_error *err;
};

static int
apply_one(void *arg, const char *bucket)
{
  struct apply *ap = arg;
  char until[80];
  int rc;

  ap->n++;
  if (ap->resume) {
    rc = pacer_control_resume(ap->c, ap->prefix, bucket, ap->err);
    if (rc < 0)
      return rc;
    if (rc == 1) {
      ap->changed++;
      printf("resumed %s\n", bucket);
    } else if (ap->n > 0) {
      fprintf(stderr,
              "pacer resume: %s was not paused by an operator on its own\n",
              bucket);
    }
    return 0;
  }
  rc = pacer_control_pause(ap->c, ap->prefix, bucket, ap->for_ms, ap->err);
  if (rc < 0)
    return rc;
  ap->changed++;
  pacer_cli_pause_text(ap->for_ms, pacer_clock_unix_ms() + ap->for_ms, "",
                       until, sizeof(until));
  printf("paused %s %s\n", bucket, until);
  return 0;
}

static int
resumed_cb(void *arg, const char *bucket)
{
  ((struct apply *)arg)->changed++;
  printf("resumed %s\n", bucket);
  return 0;
}

/* pause --all / resume --all (store/control.h: the pause of all). */
static int
apply_all(struct apply *ap)
{
  uint64_t until_us, now_us;
  char until[80];
  int was, rc;

  if (ap->resume) {
    rc = pacer_control_resume_all(ap->c, ap->prefix, resumed_cb, ap, &was,
                                  ap->err);
    if (rc == 0 && was)
      printf("resumed all limit buckets (the pause of all)\n");
    else if (rc == 0 && ap->changed == 0)
      printf("no operator pause was on: nothing to resume\n");
    return rc;
  }
  rc = pacer_control_pause_all(ap->c, ap->prefix, ap->for_ms, &until_us,
                               &now_us, ap->err);
  if (rc != 0)
    return rc;
  pacer_cli_pause_text(ap->for_ms, until_us / 1000u, " --all", until,
                       sizeof(until));
  printf("paused all limit buckets, also those first used later, %s\n", until);
  return 0;
}

/* resume BUCKET while the pause of all is on: that pause stays. */
static int
note_pause_all(struct apply *ap)
{
  uint64_t until_us, now_us;
  char until[80];
  int rc =
      pacer_control_paused_all(ap->c, ap->prefix, &until_us, &now_us, ap->err);

  if (rc != 0 || until_us <= now_us)
    return rc;
  pacer_cli_pause_text((until_us - now_us + 999u) / 1000u, until_us / 1000u,
                       " --all", until, sizeof(until));
  fprintf(stderr,
          "pacer resume: all limit buckets stay paused by an operator %s "
          "(`pacer pause --all`; `pacer resume --all` ends it)\n",
          until);
  return 0;
}

int
pacer_cmd_pause(int argc, char **argv)
{
  const char *config_path = NULL, *redis_url = NULL, *for_arg = NULL;
  const char *cmd = argv[0];
  int resume = strcmp(argv[0], "resume") == 0, all = 0, i, rc;
  int nb = 0, status = EXIT_OK;
  struct pacer_config cfg;
  struct pacer_error err;
  struct apply ap;
  redisContext *c = NULL;

  pacer_error_clear(&err);
  memset(&ap, 0, sizeof(ap));
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return EXIT_OK;
    } else if (strcmp(arg, "--all") == 0) {
      all = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--config",
                                         &config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis", &redis_url,
                                         &err)) != 0 ||
               (!resume && (rc = pacer_cli_opt_value(argc, argv, &i, "--for",
                                                     &for_arg, &err)) != 0)) {
      if (rc < 0) {
        fprintf(stderr, "pacer %s: %s\n", cmd, err.msg);
        return EXIT_USAGE;
      }
    } else if (arg[0] == '-') {
      fprintf(stderr, "pacer %s: %.*s: unknown option\n", cmd,
              (int)strcspn(arg, "="), arg);
      usage(stderr);
      return EXIT_USAGE;
    } else if (arg[0] == '\0' || strlen(arg) > BUCKET_MAX) {
      fprintf(stderr, "pacer %s: a bucket name has 1 to %d bytes\n", cmd,
              BUCKET_MAX);
      return EXIT_USAGE;
    } else {
      nb++;
    }
  }
  if ((nb == 0) == !all) {
    fprintf(stderr, "pacer %s: give BUCKET names or --all (not both)\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
  }
  if (for_arg != NULL &&
      pacer_cli_duration_ms(for_arg, "--for", &ap.for_ms, &err) != 0) {
    fprintf(stderr, "pacer %s: %s\n", cmd, err.msg);
    return EXIT_USAGE;
  }
  rc = pacer_cli_config_load_names(&cfg, config_path, redis_url, &err);
  if (rc == 0 && (c = pacer_cli_redis_connect(&cfg, &err)) == NULL)
    rc = err.code != 0 ? err.code : PACER_EREDIS;
  ap.c = c;
  ap.prefix = cfg.prefix;
  ap.resume = resume;
  ap.err = &err;
  /* Every named bucket must exist (or belong to a configured limit)
   * before any is changed: a typo changes nothing. */
  for (i = 1; rc == 0 && i < argc; i++) {
    const char *arg = argv[i];
    struct names nm = {"", 0, 0};

    if (arg[0] == '-') {
      if (strchr(arg, '=') == NULL && strcmp(arg, "--all") != 0)
        i++;
      continue;
    }
    rc = pacer_control_bucket_exists(c, cfg.prefix, arg, &err);
    if (rc == 1 || (rc == 0 && configured(&cfg, arg))) {
      rc = 0;
      continue;
    }
    if (rc == 0 &&
        pacer_control_buckets(c, cfg.prefix, name_cb, &nm, &err) == 0)
      rc = pacer_error_set(
          &err, PACER_ENOTFOUND, "%s: no such limit bucket in Redis (%s%s)%s",
          arg, nm.n > 0 ? "known: " : "none yet", nm.buf,
          config_path == NULL ? "; pass --config to name a bucket of a "
                                "configured limit before its first use"
                              : "");
  }
  for (i = 1; rc == 0 && !all && i < argc; i++) {
    const char *arg = argv[i];

    if (arg[0] == '-') {
      if (strchr(arg, '=') == NULL && strcmp(arg, "--all") != 0)
        i++;
      continue;
    }
    rc = apply_one(&ap, arg);
  }
  if (rc == 0 && all)
    rc = apply_all(&ap);
  if (rc == 0 && resume && !all)
    rc = note_pause_all(&ap);
  if (rc == 0 && resume && ap.changed < ap.n && !all)
    status = EXIT_PARTIAL;
  if (rc < 0) {
    fprintf(stderr, "pacer %s: %s\n", cmd,
            err.msg[0] != '\0' ? err.msg : pacer_strerror(rc));
    status = EXIT_USAGE;
  }
  if (c != NULL)
    redisFree(c);
  pacer_config_free(&cfg);
  return status;
}
