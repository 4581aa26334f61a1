/* `pacer run FILE.jsonl`: one-shot batch on an embedded, private
 * redis-server (unix socket in a temp dir), scheduler and workers in this
 * process, until every job is terminal. */
#include "cli/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "cli/run_bodies.h"
#include "cli/run_merge.h"
#include "cli/run_report.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "scheduler/sched.h"
#include "store/results.h"

#define REDIS_START_MS 10000u /* wait for the private redis socket, ms */
#define REDIS_STOP_MS  3000u  /* SIGTERM grace before SIGKILL, ms */
#define LOG_TAIL_BYTES 4096   /* redis.log read back on a failed start */
#define LOG_TAIL_LINES 10     /* lines of it shown */

struct embedded_redis {
  pid_t pid;      /* redis-server, 0 when not running */
  char dir[64];   /* mkdtemp directory, "" when removed */
  char sock[128]; /* unix socket path */
  char log[128];  /* redis.log path */
};

/* The private redis-server. Static, because the second-signal path in
 * on_signal() must stop it and remove its files before _exit, which skips
 * the cleanup at the end of pacer_cmd_run. One `pacer run` per process. */
static struct embedded_redis private_redis;

#define RUN_NOTE_BYTES 160   /* the "lanes:" line under the progress */
#define FINAL_WAIT_MS  2500u /* longest wait for the last snapshot, ms */

struct run_ctx {
  struct pacer_sched *sched;
  struct pacer_idset *ids;  /* submitted, not yet terminal */
  struct pacer_idset *done; /* terminal in this run, for the export */
  struct pacer_progress progress;
  uv_timer_t tick;
  uv_signal_t sigint, sigterm;
  int interrupted;
  int stopping;
  int wait_final; /* limits or credentials: the summary needs the snapshot
                     taken after the last job */
  int all_done;   /* every job terminal: waiting for that snapshot */
  uint64_t done_mono_ms;     /* when the last job finished */
  char note[RUN_NOTE_BYTES]; /* why lanes wait, "" when none does */
  uint64_t note_mono_ms;     /* when note was last printed */
  int note_drawn;            /* a terminal shows a note under the bar */
  struct pacer_run_tally tally;
};

static void
usage(FILE *out)
{
  fputs("usage: pacer run FILE.jsonl [--out FILE] [--redis URL]\n"
        "                 [--merge FILE] [--out-dir DIR] [--format jsonl|csv]\n"
        "                 [--config FILE] [--workers N] [--concurrency N]\n"
        "                 [--log-level L] [--log SPEC]\n"
        "                 [--log-format logfmt|json]\n"
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
        "  --merge FILE      also the items of every paginate chain's pages,\n"
        "                    one JSON line each (docs/CHAINS.md)\n"
        "  --out-dir DIR     bodies over 64 KiB go to DIR/<id>.body, named\n"
        "                    by the result's \"body_file\"\n"
        "  --format F        jsonl (default) or csv (flat fields, RFC 4180)\n"
        "  --redis URL       use this Redis instead of a private one\n"
        "  --config FILE     JSON config (see README \"Configuration\")\n"
        "  --workers N       worker threads (default: online CPUs)\n"
        "  --concurrency N   requests in flight (default 256)\n"
        "  --log-level L     debug, info, warn (default for run), error, off\n"
        "  --log SPEC        components to log, e.g. all,-redis (also\n"
        "                    --log-components SPEC)\n"
        "  --log-format F    logfmt (default) or json (one object a line)\n"
        "  -h, --help        show this help\n"
        "\n"
        "exit status: 0 every job finished ok; 1 some failed or lines were\n"
        "rejected; 2 usage, config or Redis error; 130 interrupted.\n",
        out);
}

/* ------------------------------------------------------------------ */
/* Embedded redis-server */

static void
errno_text(int errnum, char *buf, size_t size)
{
  if (strerror_r(errnum, buf, size) != 0)
    snprintf(buf, size, "error %d", errnum);
}

/* Runs in the forked child; never returns. Exit 127: redis-server is not
 * on PATH; 126: found but could not be executed; 125: setup failed. */
static void
exec_redis(const struct embedded_redis *r, pid_t parent)
{
  int fd;

  /* A session of its own: the terminal's Ctrl-C (SIGINT to the foreground
   * process group) is for pacer, which still needs Redis to drain and to
   * export the results, and stops it afterwards. */
  if (setsid() < 0)
    _exit(125);
  /* Die with pacer even when pacer is SIGKILLed. If pacer died before the
   * prctl, the parent is already someone else: leave now. */
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
    _exit(125);
  fd = open("/dev/null", O_RDWR);
  if (fd >= 0) {
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    if (fd > STDERR_FILENO)
      close(fd);
  }
  /* What redis-server says before --logfile takes over (a bad option, a
   * fatal config error) lands in the same log. */
  fd = open(r->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd >= 0) {
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
      close(fd);
  }
  execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", r->sock,
         "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir",
         r->dir, "--logfile", r->log, "--daemonize", "no", "--maxmemory-policy",
         "noeviction", (char *)NULL);
  _exit(errno == ENOENT ? 127 : 126);
}

/* Prints the last LOG_TAIL_LINES lines of path on stderr, indented, so a
 * failed start is explained before redis_stop removes the log. */
static void
print_log_tail(const char *path)
{
  char buf[LOG_TAIL_BYTES + 1];
  FILE *f = fopen(path, "r");
  size_t n, start, lines = 0;
  long size;

  if (f == NULL)
    return;
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0, SEEK_SET) !=
          0) {
    fclose(f);
    return;
  }
  n = fread(buf, 1, LOG_TAIL_BYTES, f);
  fclose(f);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    n--;
  if (n == 0)
    return;
  buf[n] = '\0';
  for (start = n; start > 0; start--) {
    if (buf[start - 1] == '\n' && ++lines == LOG_TAIL_LINES)
      break;
  }
  fprintf(stderr, "run: redis-server log (last lines):\n");
  while (start < n) {
    const char *nl = memchr(buf + start, '\n', n - start);
    size_t len = nl != NULL ? (size_t)(nl - (buf + start)) : n - start;

    fprintf(stderr, "  %.*s\n", (int)len, buf + start);
    start += len + 1;
  }
}

/* True when a connection to the unix socket at path is accepted. */
static int
socket_accepts(const char *path)
{
  struct sockaddr_un sa;
  int fd, ok;

  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(sa.sun_path))
    return 1; /* cannot probe it here: let the real connect say why */
  memcpy(sa.sun_path, path, strlen(path) + 1);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 1;
  ok = connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0;
  close(fd);
  return ok;
}

static int
redis_start(struct embedded_redis *r, struct pacer_error *err)
{
  char reason[128];
  pid_t parent = getpid();
  uint64_t deadline;
  int status;

  memset(r, 0, sizeof(*r));
  snprintf(r->dir, sizeof(r->dir), "/tmp/pacer-run-XXXXXX");
  if (mkdtemp(r->dir) == NULL) {
    errno_text(errno, reason, sizeof(reason));
    r->dir[0] = '\0';
    return pacer_error_set(err, PACER_EIO,
                           "run: cannot create a temp dir in /tmp: %s", reason);
  }
  snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
  snprintf(r->log, sizeof(r->log), "%s/redis.log", r->dir);
  r->pid = fork();
  if (r->pid < 0) {
    errno_text(errno, reason, sizeof(reason));
    r->pid = 0;
    return pacer_error_set(err, PACER_EIO, "run: fork: %s", reason);
  }
  if (r->pid == 0)
    exec_redis(r, parent);
  deadline = pacer_clock_mono_ms() + REDIS_START_MS;
  for (;;) {
    struct stat sb;
    struct timespec ts = {0, 10 * 1000 * 1000};

    /* redis-server creates the socket file at bind(), before listen():
     * ready means a connect succeeds, or the first command can meet
     * ECONNREFUSED (seen in e2e_run under load). */
    if (stat(r->sock, &sb) == 0 && socket_accepts(r->sock))
      return 0;
    if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
      r->pid = 0;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return pacer_error_set(err, PACER_EIO,
                               "run: cannot start redis-server: it is not "
                               "installed (apt-get install -y redis-server) "
                               "or not on PATH; or pass --redis URL");
      if (WIFEXITED(status) && WEXITSTATUS(status) == 126)
        return pacer_error_set(err, PACER_EIO,
                               "run: cannot start redis-server: it is on "
                               "PATH but cannot be executed");
      print_log_tail(r->log);
      if (WIFEXITED(status))
        return pacer_error_set(err, PACER_EIO,
                               "run: redis-server exited with status %d "
                               "before it was ready",
                               WEXITSTATUS(status));
      return pacer_error_set(err, PACER_EIO,
                             "run: redis-server was killed by signal %d "
                             "before it was ready",
                             WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    if (pacer_clock_mono_ms() > deadline) {
      print_log_tail(r->log);
      return pacer_error_set(err, PACER_ETIMEDOUT,
                             "run: redis-server did not create %s within "
                             "%u ms",
                             r->sock, REDIS_START_MS);
    }
    nanosleep(&ts, NULL); /* polling a condition with a deadline */
  }
}

/* Stops redis-server (SIGTERM, then SIGKILL after REDIS_STOP_MS) and
 * removes its socket, log and temp dir. Does nothing the second time. */
static void
redis_stop(struct embedded_redis *r)
{
  int status;

  if (r->pid > 0) {
    uint64_t deadline = pacer_clock_mono_ms() + REDIS_STOP_MS;
    pid_t got;

    kill(r->pid, SIGTERM);
    while ((got = waitpid(r->pid, &status, WNOHANG)) == 0) {
      struct timespec ts = {0, 5 * 1000 * 1000};

      if (pacer_clock_mono_ms() > deadline) {
        kill(r->pid, SIGKILL);
        got = waitpid(r->pid, &status, 0);
        break;
      }
      nanosleep(&ts, NULL); /* polling a condition with a deadline */
    }
    if (got < 0 && errno != ECHILD)
      pacer_log(PACER_LOG_WARN, "main",
                "msg=\"cannot reap redis-server\" pid=%ld", (long)r->pid);
    r->pid = 0;
  }
  if (r->dir[0] != '\0') {
    unlink(r->log);
    unlink(r->sock);
    rmdir(r->dir);
    r->dir[0] = '\0';
  }
}

/* ------------------------------------------------------------------ */
/* The scheduler's snapshot: why lanes wait, limits, credentials */

static void stop(struct run_ctx *rc);

/* The progress display's second line: how many lanes wait for what, and
 * the most telling reason (an upstream pause first, then a rate limit),
 * e.g. "lanes waiting: paused 1 | paused by upstream on acct:act_1003,
 * 2 s left (Retry-After 2000 ms)"; also the bar's ETA and 429 count. */
static void
snap_note(struct run_ctx *rc, const cJSON *state)
{
  static const char *const kinds[] = {"paused",    "rate",   "concurrency",
                                      "in_flight", "permit", "deferred"};
  const cJSON *lanes = cJSON_GetObjectItemCaseSensitive(state, "lanes");
  const cJSON *proc = cJSON_GetObjectItemCaseSensitive(state, "process");
  const cJSON *l, *shown = NULL;
  size_t counts[PACER_ARRAY_SIZE(kinds)] = {0}, i, off = 0;
  char pause[160];
  int n;

  cJSON_ArrayForEach(l, lanes)
  {
    const char *w = pacer_run_json_str(l, "wait");

    for (i = 0; i < PACER_ARRAY_SIZE(kinds); i++) {
      if (strcmp(w, kinds[i]) == 0) {
        counts[i]++;
        if (shown == NULL ||
            (i == 0 &&
             strcmp(pacer_run_json_str(shown, "wait"), "paused") != 0))
          shown = l;
      }
    }
  }
  rc->note[0] = '\0';
  for (i = 0; i < PACER_ARRAY_SIZE(kinds); i++) {
    if (counts[i] == 0)
      continue;
    n = snprintf(rc->note + off, sizeof(rc->note) - off, "%s%s %zu",
                 off == 0 ? "lanes waiting: " : ", ", kinds[i], counts[i]);
    if (n < 0 || (size_t)n >= sizeof(rc->note) - off)
      return;
    off += (size_t)n;
  }
  if (pacer_run_json_num(proc, "cred_waiting") > 0) {
    n = snprintf(rc->note + off, sizeof(rc->note) - off,
                 "%sjobs waiting for a token %.0f", off == 0 ? "" : ", ",
                 pacer_run_json_num(proc, "cred_waiting"));
    if (n < 0 || (size_t)n >= sizeof(rc->note) - off)
      return;
    off += (size_t)n;
  }
  if (pacer_run_progress_snapshot(&rc->progress, state, pacer_clock_mono_ms(),
                                  pause, sizeof(pause)) > 0) /* who, how long */
    snprintf(rc->note + off, sizeof(rc->note) - off, "%s%s",
             off == 0 ? "" : " | ", pause);
  else if (shown != NULL)
    snprintf(rc->note + off, sizeof(rc->note) - off, " | %s: %s",
             pacer_run_json_str(shown, "lane"),
             pacer_run_json_str(shown, "why"));
}

/* pacer_sched_publish_cb: the 1 s snapshot. After the last job it is the
 * summary's source, so the run stops once one has arrived. */
static void
on_publish(void *arg, const char *metrics, size_t metrics_len,
           const char *state, size_t state_len)
{
  struct run_ctx *rc = arg;
  cJSON *doc = cJSON_ParseWithLengthOpts(state, state_len, NULL, 0);

  (void)metrics;
  (void)metrics_len;
  if (doc != NULL) {
    pacer_run_tally_snapshot(&rc->tally, doc);
    snap_note(rc, doc);
    cJSON_Delete(doc);
  }
  if (rc->all_done)
    stop(rc);
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
  if (pacer_idset_count(rc->ids) == 0 && !rc->wait_final) {
    stop(rc);
  } else if (pacer_idset_count(rc->ids) == 0 && !rc->all_done) {
    /* With limits or credentials, the summary reads the next snapshot
     * (at most 1 s away): it has the final counters. on_tick stops
     * anyway after FINAL_WAIT_MS. */
    rc->all_done = 1;
    rc->done_mono_ms = pacer_clock_mono_ms();
    pacer_progress_update(&rc->progress, rc->done_mono_ms, 1);
  }
}

static void
on_tick(uv_timer_t *t)
{
  struct run_ctx *rc = t->data;
  uint64_t now = pacer_clock_mono_ms();

  if (rc->all_done) {
    if (now - rc->done_mono_ms > FINAL_WAIT_MS)
      stop(rc);
    return;
  }
  pacer_progress_update(&rc->progress, now, 0);
  /* The lanes line follows a redraw. On a terminal it is the line under
   * the bar, redrawn with it: written, then the cursor goes back up to
   * the bar's line (cut to 78 columns so it never wraps). Otherwise it is
   * a line of its own once a second, after the progress line. */
  if (rc->progress.last_print_mono_ms != now)
    return;
  if (rc->progress.tty) {
    if (rc->note[0] == '\0' && !rc->note_drawn)
      return;
    fprintf(stderr, "\n  %.76s\033[K\033[A\r", rc->note);
    rc->note_drawn = rc->note[0] != '\0';
    fflush(stderr);
  } else if (rc->note[0] != '\0' && now - rc->note_mono_ms >= 1000) {
    rc->note_mono_ms = now;
    fprintf(stderr, "  %s\n", rc->note);
    fflush(stderr);
  }
}

/* Clears the terminal's lanes line before the bar's last redraw, so the
 * summary does not land on top of it. */
static void
clear_note(struct run_ctx *rc)
{
  if (rc->progress.tty && rc->note_drawn) {
    fputs("\n\033[K\033[A\r", stderr);
    rc->note_drawn = 0;
  }
}

static void
on_signal(uv_signal_t *h, int signum)
{
  struct run_ctx *rc = h->data;

  (void)signum;
  if (rc->interrupted++) {
    /* _exit skips the cleanup at the end of pacer_cmd_run: stop the
     * private redis-server and remove its files here. */
    redis_stop(&private_redis);
    _exit(130);
  }
  fprintf(stderr, "\nrun: interrupted, stopping (again to exit now)\n");
  stop(rc);
}

/* Opens a temporary file next to the results file path ("-" = stdout)
 * for writing into *out, its name in *tmp (owned; NULL for stdout), or
 * prints why not. The run renames it over path only once the results are
 * written, so a run that fails early leaves an existing file as it was.
 * path must not be the input file in (borrowed). Returns 0 or -1. */
static int
open_out(const char *path, FILE *in, FILE **out, char **tmp)
{
  struct stat in_sb, out_sb;
  char reason[128];
  mode_t mask;
  int fd;

  *out = NULL;
  *tmp = NULL;
  if (strcmp(path, "-") == 0) {
    *out = stdout;
    return 0;
  }
  if (stat(path, &out_sb) == 0 && fstat(fileno(in), &in_sb) == 0 &&
      out_sb.st_dev == in_sb.st_dev && out_sb.st_ino == in_sb.st_ino) {
    fprintf(stderr, "run: --out %s: is the input file; choose another\n", path);
    return -1;
  }
  if ((*tmp = malloc(strlen(path) + 16)) == NULL) {
    fprintf(stderr, "run: out of memory\n");
    return -1;
  }
  snprintf(*tmp, strlen(path) + 16, "%s.tmp.XXXXXX", path);
  fd = mkstemp(*tmp);
  mask = umask(0);
  umask(mask);
  if (fd >= 0 && fchmod(fd, 0666 & ~mask) == 0)
    *out = fdopen(fd, "w");
  if (*out == NULL) {
    errno_text(errno, reason, sizeof(reason));
    fprintf(stderr, "run: --out %s: cannot write: %s\n", path, reason);
    if (fd >= 0) {
      close(fd);
      unlink(*tmp);
    }
    free(*tmp);
    *tmp = NULL;
    return -1;
  }
  return 0;
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
  struct run_ctx rc;
  struct pacer_idset *want = NULL;
  redisContext *c = NULL;
  FILE *in = NULL, *out = NULL;
  const char *file = NULL, *out_path = "pacer-results.jsonl", *merge = NULL;
  FILE *merged = NULL;
  char *tmp_path = NULL; /* results written here, renamed at the end */
  int wfail;
  const char *out_dir = NULL;
  const char *format = "jsonl";
  enum pacer_run_format fmt = PACER_RUN_JSONL;
  char *results_key = NULL;
  char last[64], url[160], reason[128];
  uint64_t start;
  size_t written = 0, total;
  int i, r, status = 2;
  uv_loop_t *loop;

  memset(&opts, 0, sizeof(opts));
  memset(&cfg, 0, sizeof(cfg));
  memset(&private_redis, 0, sizeof(private_redis));
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
      r = pacer_cli_opt_value(argc, argv, &i, "--merge", &merge, &err);
    if (r == 0)
      r = pacer_cli_opt_value(argc, argv, &i, "--out-dir", &out_dir, &err);
    if (r == 0)
      r = pacer_cli_opt_value(argc, argv, &i, "--format", &format, &err);
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
  if (pacer_run_format_parse(format, &fmt, &err) != 0 ||
      pacer_cli_setup(&cfg, &opts, &err) != 0) {
    fprintf(stderr, "run: %s\n", err.msg);
    goto out;
  }
  in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
  if (in == NULL) {
    errno_text(errno, reason, sizeof(reason));
    fprintf(stderr, "run: %s: cannot open: %s\n", file, reason);
    goto out;
  }
  /* Before anything runs: a results file that cannot be written would
   * otherwise be found out only after the whole batch. */
  if (open_out(out_path, in, &out, &tmp_path) != 0 ||
      pacer_run_merge_open(merge, in, &merged, &cfg) != 0)
    goto out;
  if (out_dir != NULL && pacer_run_bodies_check(out_dir, &err) != 0) {
    fprintf(stderr, "run: %s\n", err.msg);
    goto out;
  }
  if (out_dir != NULL) /* whole bodies, so large ones can be written out */
    cfg.result_body_max_bytes = cfg.response_max_bytes;
  if (opts.redis == NULL) {
    if (redis_start(&private_redis, &err) != 0) {
      fprintf(stderr, "%s\n", err.msg);
      goto out;
    }
    snprintf(url, sizeof(url), "unix://%s", private_redis.sock);
    pacer_config_apply_env(&cfg, url);
  }
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL) {
    fprintf(stderr, "run: %s\n", err.msg);
    goto out;
  }
  results_key = pacer_results_key_new(cfg.prefix);
  rc.ids = pacer_idset_new(4096);
  want = pacer_idset_new(4096);
  rc.done = want;
  if (results_key == NULL || rc.ids == NULL || want == NULL) {
    fprintf(stderr, "run: out of memory\n");
    goto out;
  }
  pacer_results_last_id(c, results_key, last, sizeof(last));
  start = pacer_clock_mono_ms();
  if (pacer_submit_stream(c, &cfg, in, file, rc.ids, &stats, &err) != 0) {
    fprintf(stderr, "run: %s\n", err.msg);
    goto out;
  }
  total = pacer_idset_count(rc.ids);
  fprintf(stderr, "run: queued %zu job(s), rejected %zu line(s)\n", total,
          stats.rejected);

  /* The export reads the results stream at the end: keep it long enough
   * to hold the whole batch (the stream is capped with MAXLEN ~). */
  if (cfg.results_maxlen < (uint64_t)total + 1024u)
    cfg.results_maxlen = (uint64_t)total + 1024u;
  if (total > 0) {
    loop = uv_default_loop();
    if (pacer_sched_new(loop, &cfg, &rc.sched, &err) != 0 ||
        pacer_sched_start(rc.sched, &err) != 0) {
      fprintf(stderr, "run: %s\n", err.msg);
      goto out;
    }
    pacer_sched_set_observer(rc.sched, on_terminal, &rc);
    pacer_sched_set_publisher(rc.sched, on_publish, &rc);
    rc.wait_final = cfg.nlimits > 0 || cfg.ncreds > 0;
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
    clear_note(&rc);
    pacer_progress_finish(&rc.progress, rc.all_done ? rc.done_mono_ms
                                                    : pacer_clock_mono_ms());
  }

  /* Export this batch's results: every job of this batch that finished,
   * once. */
  r = pacer_run_write_results(c, results_key, last, want, out, out_dir, fmt,
                              &written, &rc.tally, &err);
  if (r != 0)
    fprintf(stderr, "run: %s\n", err.msg);
  wfail = fflush(out) != 0 || ferror(out);
  if (tmp_path != NULL) {
    wfail |= fclose(out) != 0;
    out = NULL;
    /* Only a complete export replaces the old file. */
    if (!wfail && r == 0 && rename(tmp_path, out_path) != 0)
      wfail = 1;
    if (!wfail && r == 0) {
      free(tmp_path); /* renamed: nothing to remove */
      tmp_path = NULL;
    }
  }
  if (wfail) {
    errno_text(errno, reason, sizeof(reason));
    fprintf(stderr, "run: --out %s: write failed: %s\n", out_path, reason);
    r = PACER_EIO;
  }
  if (r == 0 && merged != NULL &&
      pacer_run_merge_finish(c, results_key, last, in, merged, merge) != 0)
    r = PACER_EIO;
  pacer_run_print_tally(
      rc.progress.summary ? rc.progress.summary : stdout, &rc.tally,
      (rc.all_done ? rc.done_mono_ms : pacer_clock_mono_ms()) -
          rc.progress.start_mono_ms,
      stats.rejected);
  print_usage_figures(pacer_clock_mono_ms() - start, total);
  fprintf(stderr, "run: wrote %zu result(s) to %s\n", written,
          strcmp(out_path, "-") == 0 ? "stdout" : out_path);
  if (r == 0 && written < rc.progress.ok + rc.progress.failed) {
    /* Trimmed away by another writer on a shared Redis: say so. */
    fprintf(stderr,
            "run: %zu finished result(s) were no longer in %s; raise "
            "results_maxlen\n",
            rc.progress.ok + rc.progress.failed - written, results_key);
    r = PACER_EIO;
  }
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
  if (tmp_path != NULL) {
    unlink(tmp_path); /* the old results file stays as it was */
    free(tmp_path);
  }
  if (merged != NULL && merged != stdout)
    fclose(merged);
  if (in != NULL && in != stdin)
    fclose(in);
  if (c != NULL)
    redisFree(c);
  redis_stop(&private_redis);
  pacer_idset_free(rc.ids);
  pacer_idset_free(want);
  free(results_key);
  pacer_config_free(&cfg);
  return status;
}
