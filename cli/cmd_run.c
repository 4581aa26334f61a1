/* `pacer run FILE.jsonl`: one-shot batch on an embedded, private
 * redis-server (unix socket in a temp dir), scheduler and workers in this
 * process, until every job is terminal. */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "common/clock.h"
#include "common/log.h"
#include "scheduler/sched.h"

#define REDIS_START_MS 10000u /* wait for the private redis socket, ms */

struct embedded_redis {
  pid_t pid;
  char dir[64];   /* mkdtemp directory */
  char sock[128]; /* unix socket path */
};

struct run_ctx {
  struct pacer_sched *sched;
  struct pacer_idset *ids;  /* submitted, not yet terminal */
  struct pacer_idset *done; /* terminal in this run, for the export */
  struct pacer_progress progress;
  uv_timer_t tick;
  uv_signal_t sigint, sigterm;
  int interrupted;
  int stopping;
};

static void
usage(FILE *out)
{
  fputs("usage: pacer run FILE.jsonl [--out FILE] [--redis URL]\n"
        "                 [--config FILE] [--workers N] [--concurrency N]\n"
        "                 [--log-level L] [--log SPEC]\n"
        "\n"
        "Runs every job in FILE.jsonl to a terminal result on this machine:\n"
        "starts a private redis-server on a unix socket in a temp dir\n"
        "(unless --redis is given), queues the jobs, runs the scheduler and\n"
        "workers in this process with a progress display, writes one JSON\n"
        "result per line, prints a summary and stops the private Redis.\n"
        "\n"
        "options:\n"
        "  --out FILE        results as JSON lines (default\n"
        "                    pacer-results.jsonl; - for stdout)\n"
        "  --redis URL       use this Redis instead of a private one\n"
        "  --config FILE     JSON config (see README \"Configuration\")\n"
        "  --workers N       worker threads (default: online CPUs)\n"
        "  --concurrency N   requests in flight (default 256)\n"
        "  --log-level L     debug, info, warn (default for run), error\n"
        "  --log SPEC        components to log, e.g. all,-redis\n"
        "  -h, --help        show this help\n"
        "\n"
        "exit status: 0 every job finished ok; 1 some failed or lines were\n"
        "rejected; 2 usage, config or Redis error; 130 interrupted.\n",
        out);
}

/* ------------------------------------------------------------------ */
/* Embedded redis-server */

static int
redis_start(struct embedded_redis *r, struct pacer_error *err)
{
  char logf[128];
  uint64_t deadline;
  int status;

  memset(r, 0, sizeof(*r));
  snprintf(r->dir, sizeof(r->dir), "/tmp/pacer-run-XXXXXX");
  if (mkdtemp(r->dir) == NULL)
    return pacer_error_set(err, PACER_EIO,
                           "run: cannot create a temp dir "
                           "in /tmp: errno %d",
                           errno);
  snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
  snprintf(logf, sizeof(logf), "%s/redis.log", r->dir);
  r->pid = fork();
  if (r->pid < 0)
    return pacer_error_set(err, PACER_EIO, "run: fork failed: errno %d", errno);
  if (r->pid == 0) {
    int devnull = open("/dev/null", O_RDWR);

    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
    }
    execlp("redis-server", "redis-server", "--port", "0", "--unixsocket",
           r->sock, "--unixsocketperm", "700", "--save", "", "--appendonly",
           "no", "--dir", r->dir, "--logfile", logf, "--daemonize", "no",
           "--maxmemory-policy", "noeviction", (char *)NULL);
    fprintf(stderr, "run: cannot start redis-server: it is not installed "
                    "(apt-get install -y redis-server) or not on PATH\n");
    _exit(127);
  }
  deadline = pacer_clock_mono_ms() + REDIS_START_MS;
  for (;;) {
    struct stat sb;
    struct timespec ts = {0, 10 * 1000 * 1000};

    if (stat(r->sock, &sb) == 0)
      return 0;
    if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
      r->pid = 0;
      return pacer_error_set(err, PACER_EIO,
                             "run: redis-server exited before it was ready "
                             "(see %s)",
                             logf);
    }
    if (pacer_clock_mono_ms() > deadline)
      return pacer_error_set(err, PACER_ETIMEDOUT,
                             "run: redis-server did not create %s within "
                             "%u ms",
                             r->sock, REDIS_START_MS);
    nanosleep(&ts, NULL); /* polling a condition with a deadline */
  }
}

static void
redis_stop(struct embedded_redis *r)
{
  char path[160];
  int status;

  if (r->pid > 0) {
    kill(r->pid, SIGTERM);
    waitpid(r->pid, &status, 0);
    r->pid = 0;
  }
  if (r->dir[0] != '\0') {
    snprintf(path, sizeof(path), "%s/redis.log", r->dir);
    unlink(path);
    unlink(r->sock);
    rmdir(r->dir);
    r->dir[0] = '\0';
  }
}

/* ------------------------------------------------------------------ */
/* Results -> JSON lines */

/* Converts one results entry to a JSON object line: "headers" and "meta"
 * are embedded as JSON, numbers as numbers, everything else as strings. */
static char *
entry_json(const redisReply *fields)
{
  cJSON *o = cJSON_CreateObject();
  char *out;
  size_t i;

  if (o == NULL)
    return NULL;
  for (i = 0; i + 1 < fields->elements; i += 2) {
    const redisReply *k = fields->element[i], *v = fields->element[i + 1];
    cJSON *item = NULL;

    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      continue;
    if (strcmp(k->str, "headers") == 0 || strcmp(k->str, "meta") == 0) {
      item = cJSON_ParseWithLength(v->str, v->len);
    } else if (strcmp(k->str, "status") == 0 ||
               strcmp(k->str, "attempts") == 0 ||
               strcmp(k->str, "duration_ms") == 0 ||
               strcmp(k->str, "finished_unix_ms") == 0) {
      item = cJSON_CreateNumber(strtod(v->str, NULL));
    } else if (strcmp(k->str, "body_truncated") == 0) {
      item = cJSON_CreateBool(v->str[0] == '1');
    }
    if (item == NULL) {
      /* Strings with a length: a body may hold NUL bytes; cJSON stops
       * there, which is acceptable for a JSONL view. */
      item = cJSON_CreateString(v->str);
    }
    cJSON_AddItemToObject(o, k->str, item);
  }
  out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return out;
}

static int
write_results(redisContext *c, const char *key, const char *after,
              struct pacer_idset *want, FILE *out, size_t *written,
              struct pacer_error *err)
{
  char start[80];

  *written = 0;
  snprintf(start, sizeof(start), "(%s", after);
  for (;;) {
    const char *argv[] = {"XRANGE", key, start, "+", "COUNT", "1000"};
    size_t lens[] = {6, strlen(key), strlen(start), 1, 5, 4};
    redisReply *r = redisCommandArgv(c, 6, argv, lens);
    size_t i;

    if (r == NULL)
      return pacer_error_set(err, PACER_EREDIS, "redis: XRANGE %s: %s", key,
                             c->errstr);
    if (r->type != REDIS_REPLY_ARRAY) {
      freeReplyObject(r);
      return pacer_error_set(err, PACER_EREDIS, "redis: XRANGE %s: bad reply",
                             key);
    }
    if (r->elements == 0) {
      freeReplyObject(r);
      return 0;
    }
    for (i = 0; i < r->elements; i++) {
      const redisReply *e = r->element[i];
      const redisReply *f;
      const char *id = NULL;
      size_t j;
      char *line;

      if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
        continue;
      snprintf(start, sizeof(start), "(%s", e->element[0]->str);
      f = e->element[1];
      if (f->type != REDIS_REPLY_ARRAY)
        continue;
      for (j = 0; j + 1 < f->elements; j += 2) {
        if (strcmp(f->element[j]->str, "id") == 0)
          id = f->element[j + 1]->str;
      }
      /* One line per job of this batch (first result wins). */
      if (id == NULL || pacer_idset_remove(want, id) != 1)
        continue;
      line = entry_json(f);
      if (line != NULL) {
        fputs(line, out);
        fputc('\n', out);
        cJSON_free(line);
        (*written)++;
      }
    }
    freeReplyObject(r);
  }
}

static int
last_result_id(redisContext *c, const char *key, char *last, size_t size)
{
  const char *argv[] = {"XREVRANGE", key, "+", "-", "COUNT", "1"};
  size_t lens[] = {9, strlen(key), 1, 1, 5, 1};
  redisReply *r = redisCommandArgv(c, 6, argv, lens);

  snprintf(last, size, "0-0");
  if (r == NULL)
    return PACER_EREDIS;
  if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
      r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements > 0)
    snprintf(last, size, "%s", r->element[0]->element[0]->str);
  freeReplyObject(r);
  return 0;
}

/* ------------------------------------------------------------------ */
/* The loop */

static void
on_stopped(void *arg)
{
  struct run_ctx *rc = arg;

  rc->sched = NULL;
  uv_close((uv_handle_t *)&rc->tick, NULL);
  uv_close((uv_handle_t *)&rc->sigint, NULL);
  uv_close((uv_handle_t *)&rc->sigterm, NULL);
}

static void
stop(struct run_ctx *rc)
{
  if (rc->stopping || rc->sched == NULL)
    return;
  rc->stopping = 1;
  pacer_sched_stop(rc->sched, on_stopped, rc);
}

static void
on_terminal(void *arg, const char *id, int ok)
{
  struct run_ctx *rc = arg;

  if (pacer_idset_remove(rc->ids, id) != 1)
    return;
  if (pacer_idset_add(rc->done, id) < 0)
    pacer_log(PACER_LOG_ERROR, "main", "msg=\"out of memory\"");
  if (ok)
    rc->progress.ok++;
  else
    rc->progress.failed++;
  if (pacer_idset_count(rc->ids) == 0)
    stop(rc);
}

static void
on_tick(uv_timer_t *t)
{
  struct run_ctx *rc = t->data;

  pacer_progress_update(&rc->progress, pacer_clock_mono_ms(), 0);
}

static void
on_signal(uv_signal_t *h, int signum)
{
  struct run_ctx *rc = h->data;

  (void)signum;
  if (rc->interrupted++)
    _exit(130);
  fprintf(stderr, "\nrun: interrupted, stopping (again to exit now)\n");
  stop(rc);
}

static void
print_usage_figures(uint64_t wall_ms, size_t jobs)
{
  struct rusage ru;
  double cpu;

  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return;
  cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
        ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
  fprintf(stderr,
          "run: cpu %.2f s (%.3f s per 1000 jobs), peak rss %ld KiB, "
          "wall %.2f s\n",
          cpu, jobs ? cpu * 1000.0 / (double)jobs : 0.0, ru.ru_maxrss,
          (double)wall_ms / 1000.0);
}

int
pacer_cmd_run(int argc, char **argv)
{
  struct pacer_cli_opts opts;
  struct pacer_config cfg;
  struct pacer_error err;
  struct pacer_submit_stats stats;
  struct embedded_redis redis;
  struct run_ctx rc;
  struct pacer_idset *want = NULL;
  redisContext *c = NULL;
  FILE *in = NULL, *out = NULL;
  const char *file = NULL, *out_path = "pacer-results.jsonl";
  char *results_key = NULL;
  char last[64], url[160];
  uint64_t start;
  size_t written = 0, total;
  int i, r, status = 2;
  uv_loop_t *loop;

  memset(&opts, 0, sizeof(opts));
  memset(&cfg, 0, sizeof(cfg));
  memset(&redis, 0, sizeof(redis));
  memset(&rc, 0, sizeof(rc));
  opts.log_level = "warn"; /* keep the progress display readable */
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
      if (file != NULL) {
        fprintf(stderr, "run: %s: only one FILE.jsonl is accepted\n", argv[i]);
        return 2;
      }
      file = argv[i];
      continue;
    }
    r = pacer_cli_opt_value(argc, argv, &i, "--out", &out_path, &err);
    if (r == 0)
      r = pacer_cli_common_opt(argc, argv, &i, &opts, &err);
    if (r < 0) {
      fprintf(stderr, "run: %s\n", err.msg);
      return 2;
    }
    if (r == 0) {
      fprintf(stderr, "run: %s: unknown option\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (file == NULL) {
    fprintf(stderr, "run: FILE.jsonl: missing\n");
    usage(stderr);
    return 2;
  }
  if (pacer_cli_setup(&cfg, &opts, &err) != 0) {
    fprintf(stderr, "run: %s\n", err.msg);
    goto out;
  }
  in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
  if (in == NULL) {
    fprintf(stderr, "run: %s: cannot open: errno %d\n", file, errno);
    goto out;
  }
  if (opts.redis == NULL) {
    if (redis_start(&redis, &err) != 0) {
      fprintf(stderr, "%s\n", err.msg);
      goto out;
    }
    snprintf(url, sizeof(url), "unix://%s", redis.sock);
    pacer_config_apply_env(&cfg, url);
  }
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL) {
    fprintf(stderr, "run: %s\n", err.msg);
    goto out;
  }
  results_key = malloc(strlen(cfg.prefix) + 8);
  rc.ids = pacer_idset_new(4096);
  want = pacer_idset_new(4096);
  rc.done = want;
  if (results_key == NULL || rc.ids == NULL || want == NULL) {
    fprintf(stderr, "run: out of memory\n");
    goto out;
  }
  snprintf(results_key, strlen(cfg.prefix) + 8, "%sresults", cfg.prefix);
  last_result_id(c, results_key, last, sizeof(last));
  start = pacer_clock_mono_ms();
  if (pacer_submit_stream(c, &cfg, in, file, rc.ids, &stats, &err) != 0) {
    fprintf(stderr, "run: %s\n", err.msg);
    goto out;
  }
  total = pacer_idset_count(rc.ids);
  fprintf(stderr, "run: queued %zu job(s), rejected %zu line(s)\n", total,
          stats.rejected);

  if (total > 0) {
    loop = uv_default_loop();
    if (pacer_sched_new(loop, &cfg, &rc.sched, &err) != 0 ||
        pacer_sched_start(rc.sched, &err) != 0) {
      fprintf(stderr, "run: %s\n", err.msg);
      goto out;
    }
    pacer_sched_set_observer(rc.sched, on_terminal, &rc);
    pacer_progress_start(&rc.progress, total, start);
    if (strcmp(out_path, "-") == 0)
      rc.progress.summary = stderr; /* stdout carries the results */
    uv_timer_init(loop, &rc.tick);
    rc.tick.data = &rc;
    uv_timer_start(&rc.tick, on_tick, 100, 100);
    uv_signal_init(loop, &rc.sigint);
    uv_signal_init(loop, &rc.sigterm);
    rc.sigint.data = &rc;
    rc.sigterm.data = &rc;
    uv_signal_start(&rc.sigint, on_signal, SIGINT);
    uv_signal_start(&rc.sigterm, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    if (uv_loop_close(loop) != 0)
      pacer_log(PACER_LOG_WARN, "main", "msg=\"loop not empty at exit\"");
    pacer_progress_finish(&rc.progress, pacer_clock_mono_ms());
  }

  /* Export this batch's results, one line per job id. */
  out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
  if (out == NULL) {
    fprintf(stderr, "run: %s: cannot write: errno %d\n", out_path, errno);
    goto out;
  }
  /* Every job of this batch that finished is exported once. */
  r = write_results(c, results_key, last, want, out, &written, &err);
  if (r != 0)
    fprintf(stderr, "run: %s\n", err.msg);
  print_usage_figures(pacer_clock_mono_ms() - start, total);
  fprintf(stderr, "run: wrote %zu result(s) to %s\n", written,
          strcmp(out_path, "-") == 0 ? "stdout" : out_path);
  if (rc.interrupted)
    status = 130;
  else if (r != 0)
    status = 2;
  else
    status = (rc.progress.failed > 0 || stats.rejected > 0 ||
              pacer_idset_count(rc.ids) > 0)
                 ? 1
                 : 0;
out:
  if (out != NULL && out != stdout)
    fclose(out);
  if (in != NULL && in != stdin)
    fclose(in);
  if (c != NULL)
    redisFree(c);
  redis_stop(&redis);
  pacer_idset_free(rc.ids);
  pacer_idset_free(want);
  free(results_key);
  pacer_config_free(&cfg);
  return status;
}
