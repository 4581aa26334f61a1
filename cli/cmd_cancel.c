/* `pacer cancel ID... [--timeout S]`: ends queued, delayed, parked or
 * running jobs with state cancelled (store/cancel.h, scheduler/cancel.h),
 * and waits for each one's terminal result to say how it ended. */
#include "cli/cmd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "core/job.h"
#include "store/cancel.h"
#include "store/job_index.h"
#include "store/job_list.h"

#define EXIT_OK      0
#define EXIT_PARTIAL 1 /* some job was not there, or ended otherwise */
#define EXIT_USAGE   2 /* usage, config or Redis error (as every command) */
#define EXIT_TIMEOUT 3 /* some cancel had not taken effect by --timeout */

#define TIMEOUT_DEFAULT_S 10
#define POLL_MS           100

static void
usage(FILE *out)
{
  fputs("usage: pacer cancel ID... [--timeout S] [--config FILE] [--redis "
        "URL]\n"
        "\n"
        "Cancels each job ID that waits (queued, delayed, parked) or runs:\n"
        "it ends with state cancelled and one result, like any job. A\n"
        "running transfer is aborted; a POST/PATCH without Idempotency-Key\n"
        "that may have reached the server ends outcome_unknown instead. A\n"
        "job that finishes first keeps its own result. Waits up to S\n"
        "seconds (default 10) for each result and prints how it ended.\n"
        "\n"
        "options:\n"
        "  --timeout S    seconds to wait for the results (1..3600)\n"
        "  --config FILE  the JSON config (for prefix and redis_url)\n"
        "  --redis URL    Redis to use; overrides PACER_REDIS_URL, which\n"
        "                 overrides redis_url from the config\n"
        "\n"
        "exit status: 0 every job ended cancelled (or outcome_unknown), 1\n"
        "some job was not waiting or running, or finished first, 2 usage,\n"
        "config or Redis error, 3 some cancel had not taken effect when S\n"
        "passed (it stays asked for 24 h: the job ends when a worker takes\n"
        "it).\n",
        out);
}

/* One id's progress. */
struct target {
  const char *id;
  char before[64]; /* results entry id of its result before, "" if none */
  char state[32];  /* its new result's state, "" while none */
  char error[160];
  int found; /* waiting or running when asked */
  int done;
};

/* Captures a result's entry id, state and error (a
 * pacer_results_entry_cb). */
struct seen {
  char entry[64], state[32], error[160];
};

static int
seen_cb(void *arg, const char *entry_id, const struct pacer_results_field *f,
        size_t n)
{
  struct seen *sn = arg;
  size_t i;

  snprintf(sn->entry, sizeof(sn->entry), "%s", entry_id);
  for (i = 0; i < n; i++) {
    if (strcmp(f[i].name, "state") == 0)
      snprintf(sn->state, sizeof(sn->state), "%s", f[i].value);
    else if (strcmp(f[i].name, "error") == 0)
      snprintf(sn->error, sizeof(sn->error), "%s", f[i].value);
  }
  return 0;
}

/* pacer_job_list callback: marks the targets that wait or run. */
struct find {
  struct target *t;
  size_t n;
};

static int
find_cb(void *arg, const struct pacer_job_list_row *row)
{
  struct find *fd = arg;
  char id[PACER_JOB_ID_MAX + 1];
  size_t i;

  if (row->id_len > 0) {
    snprintf(id, sizeof(id), "%.*s", (int)row->id_len, row->id);
  } else if (pacer_job_peek_id(row->job, row->job_len, id, sizeof(id)) != 0) {
    return 0;
  }
  for (i = 0; i < fd->n; i++)
    if (strcmp(fd->t[i].id, id) == 0)
      fd->t[i].found = 1;
  return 0;
}

static void
nap_ms(unsigned ms)
{
  struct timespec ts = {0, (long)ms * 1000000L};

  nanosleep(&ts, NULL);
}

int
pacer_cmd_cancel(int argc, char **argv)
{
  const char *config_path = NULL, *redis_url = NULL, *timeout = NULL;
  struct pacer_config cfg;
  struct pacer_error err;
  struct target *t = NULL;
  struct find fd;
  redisContext *c = NULL;
  uint64_t timeout_ms = TIMEOUT_DEFAULT_S * 1000u, deadline, last_move = 0;
  size_t n = 0, i, moved, left;
  int rc = 0, status = EXIT_OK;

  pacer_error_clear(&err);
  t = calloc((size_t)argc, sizeof(*t));
  if (t == NULL) {
    fprintf(stderr, "pacer cancel: out of memory\n");
    return EXIT_USAGE;
  }
  for (i = 1; i < (size_t)argc; i++) {
    int j = (int)i;

    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      free(t);
      return EXIT_OK;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &j, "--config",
                                         &config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &j, "--redis", &redis_url,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &j, "--timeout", &timeout,
                                         &err)) != 0) {
      i = (size_t)j;
      if (rc < 0)
        goto usage_error;
    } else if (argv[i][0] == '-') {
      pacer_error_set(&err, PACER_EINVAL, "%.*s: unknown option",
                      (int)strcspn(argv[i], "="), argv[i]);
      goto usage_error;
    } else if (pacer_job_id_check(argv[i], &err) != 0) {
      goto usage_error;
    } else {
      t[n++].id = argv[i];
    }
  }
  rc = 0;
  if (n == 0) {
    pacer_error_set(&err, PACER_EINVAL, "give at least one job ID");
    goto usage_error;
  }
  if (timeout != NULL) {
    char *end;
    unsigned long s = strtoul(timeout, &end, 10);

    if (timeout[0] < '1' || timeout[0] > '9' || *end != '\0' || s > 3600) {
      pacer_error_set(&err, PACER_EINVAL,
                      "--timeout: \"%.20s\" is not a number of seconds from 1 "
                      "to 3600",
                      timeout);
      goto usage_error;
    }
    timeout_ms = s * 1000u;
  }
  rc = pacer_cli_config_load_names(&cfg, config_path, redis_url, &err);
  if (rc == 0 && (c = pacer_cli_redis_connect(&cfg, &err)) == NULL)
    rc = err.code != 0 ? err.code : PACER_EREDIS;
  /* The ids' results so far, then which ids wait or run now: in this
   * order, so a job that finishes between the two reads shows as a new
   * result below rather than as the one before (which would leave the
   * command waiting for a result that already came). */
  for (i = 0; rc == 0 && i < n; i++) {
    struct seen sn = {"", "", ""};

    rc = pacer_job_index_result(c, cfg.prefix, t[i].id, seen_cb, &sn, &err);
    if (rc >= 0) {
      snprintf(t[i].before, sizeof(t[i].before), "%s", sn.entry);
      rc = 0;
    }
  }
  fd.t = t;
  fd.n = n;
  if (rc == 0)
    rc = pacer_job_list(c, cfg.prefix, 0xf, 1000000, find_cb, &fd, &err);
  for (i = 0; rc == 0 && i < n; i++) {
    struct seen sn = {"", "", ""};

    if (!t[i].found) { /* its latest result, for the message */
      rc = pacer_job_index_result(c, cfg.prefix, t[i].id, seen_cb, &sn, &err);
      rc = rc < 0 ? rc : 0;
    }
    if (rc == 0 && !t[i].found) {
      t[i].done = 1;
      status = EXIT_PARTIAL;
      if (sn.state[0] != '\0')
        fprintf(stderr,
                "pacer cancel: %s: not waiting or running: it finished "
                "(state %s)\n",
                t[i].id, sn.state);
      else
        fprintf(stderr,
                "pacer cancel: %s: not waiting or running (unknown id, or "
                "finished longer ago than result_ttl_ms)\n",
                t[i].id);
    } else if (rc == 0) {
      rc = pacer_cancel_request(c, cfg.prefix, t[i].id, 0, &moved, &err);
    }
  }
  deadline = pacer_clock_mono_ms() + timeout_ms;
  last_move = pacer_clock_mono_ms();
  for (left = n; rc == 0;) {
    left = 0;
    for (i = 0; rc == 0 && i < n; i++) {
      struct seen sn = {"", "", ""};

      if (t[i].done)
        continue;
      rc = pacer_job_index_result(c, cfg.prefix, t[i].id, seen_cb, &sn, &err);
      if (rc < 0)
        break;
      rc = 0;
      if (sn.entry[0] != '\0' && strcmp(sn.entry, t[i].before) != 0) {
        t[i].done = 1;
        snprintf(t[i].state, sizeof(t[i].state), "%s", sn.state);
        snprintf(t[i].error, sizeof(t[i].error), "%s", sn.error);
        if (strcmp(sn.state, "cancelled") == 0) {
          printf("%s: cancelled\n", t[i].id);
        } else if (strcmp(sn.state, "outcome_unknown") == 0) {
          printf("%s: outcome_unknown: %s\n", t[i].id, sn.error);
        } else {
          printf("%s: finished %s before the cancel took effect\n", t[i].id,
                 sn.state);
          status = EXIT_PARTIAL;
          /* Unanswered, the request would cancel a later job of this id
           * for 24 h. */
          rc = pacer_cancel_withdraw(c, cfg.prefix, t[i].id, &err);
        }
      } else {
        left++;
      }
    }
    if (rc != 0 || left == 0 || pacer_clock_mono_ms() >= deadline)
      break;
    /* Once the workers have polled the request (every 500 ms,
     * scheduler/cancel.c), make the id's delayed or parked members due,
     * so a worker takes and cancels them; again each second, for a job
     * deferred meanwhile (idempotent). */
    if (pacer_clock_mono_ms() - last_move >= 1000) {
      last_move = pacer_clock_mono_ms();
      for (i = 0; rc == 0 && i < n; i++)
        if (!t[i].done)
          rc = pacer_cancel_request(c, cfg.prefix, t[i].id, 1, &moved, &err);
    }
    nap_ms(POLL_MS);
  }
  if (rc == 0 && left > 0) {
    for (i = 0; i < n; i++)
      if (!t[i].done)
        printf("%s: cancel requested, not yet taken effect (no worker has "
               "taken the job within %llu s; it ends cancelled when one "
               "does)\n",
               t[i].id, (unsigned long long)(timeout_ms / 1000u));
    status = EXIT_TIMEOUT;
  }
  if (rc < 0) {
    fprintf(stderr, "pacer cancel: %s\n",
            err.msg[0] != '\0' ? err.msg : pacer_strerror(rc));
    status = EXIT_USAGE;
  }
  if (c != NULL)
    redisFree(c);
  pacer_config_free(&cfg);
  free(t);
  return status;
usage_error:
  fprintf(stderr, "pacer cancel: %s\n", err.msg);
  free(t);
  return EXIT_USAGE;
}
