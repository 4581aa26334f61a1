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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "scheduler/sched.h"

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

/* What the run saw of one limit bucket, from the scheduler's 1 s snapshot
 * (the /api/state JSON of docs/METRICS.md). */
struct run_bucket {
  char bucket[80];       /* bucket key, e.g. "acct:act_1001" */
  char limit[40];        /* the limit's name */
  double limit_per_s;    /* configured rate, requests/s */
  uint64_t requests;     /* requests started on it */
  uint64_t throttled;    /* 429s charged to it */
  double send_max_per_s; /* highest 5 s send rate seen, requests/s */
};

#define RUN_BUCKETS_MAX 32    /* buckets listed in the summary */
#define RUN_CREDS_MAX   8     /* credentials listed in the summary */
#define RUN_REASONS_MAX 16    /* failure reasons counted */
#define RUN_NOTE_BYTES  160   /* the "lanes:" line under the progress */
#define FINAL_WAIT_MS   2500u /* longest wait for the last snapshot, ms */

struct run_cred {
  char name[64];
  uint64_t refresh_ok;      /* token endpoint answers with a new token */
  uint64_t refresh_failed;  /* failures that were retried */
  uint64_t refresh_refused; /* invalid_grant */
};

/* The run's figures for the summary: limits and credentials from the
 * snapshot, 429s and failures from the exported results. */
struct run_tally {
  struct run_bucket buckets[RUN_BUCKETS_MAX];
  size_t nbuckets;
  size_t buckets_total; /* buckets in the snapshot, listed or not */
  struct run_cred creds[RUN_CREDS_MAX];
  size_t ncreds;
  int snapshots;      /* snapshots received */
  uint64_t throttled; /* sum of the results' throttled */
  uint64_t retried;   /* attempts beyond the first, summed */
  struct {
    char reason[40];
    size_t n;
  } reasons[RUN_REASONS_MAX];
  size_t nreasons;
  size_t reasons_other; /* failures past RUN_REASONS_MAX reasons */
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
  int wait_final; /* limits or credentials: the summary needs the snapshot
                     taken after the last job */
  int all_done;   /* every job terminal: waiting for that snapshot */
  uint64_t done_mono_ms;     /* when the last job finished */
  char note[RUN_NOTE_BYTES]; /* why lanes wait, "" when none does */
  uint64_t note_mono_ms;     /* when note was last printed */
  int note_drawn;            /* a terminal shows a note under the bar */
  struct run_tally tally;
};

static void
usage(FILE *out)
{
  fputs("usage: pacer run FILE.jsonl [--out FILE] [--redis URL]\n"
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
     * ECONNREFUSED (issue 17, e2e_run under load). */
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
/* Results -> JSON lines */

/* Returns a NUL-terminated copy of the len bytes at s (borrowed) that is
 * well-formed UTF-8 without NUL bytes: ill-formed sequences and NULs become
 * U+FFFD, because a cJSON string ends at its first NUL and JSON text must
 * be UTF-8 (RFC 8259 §8.1). Owned (free with free); NULL when out of
 * memory. */
static char *
clean_text(const char *s, size_t len)
{
  size_t n, i, o = 0, nuls = 0;
  char *clean = pacer_utf8_sanitize(s, len, &n), *text;

  if (clean == NULL)
    return NULL;
  for (i = 0; i < n; i++)
    nuls += clean[i] == '\0';
  if (nuls == 0)
    return clean;
  text = nuls <= (SIZE_MAX - 1 - n) / 2 ? malloc(n + 2 * nuls + 1) : NULL;
  if (text != NULL) {
    for (i = 0; i < n; i++) {
      if (clean[i] == '\0') {
        memcpy(text + o, "\xef\xbf\xbd", 3); /* U+FFFD */
        o += 3;
      } else {
        text[o++] = clean[i];
      }
    }
    text[o] = '\0';
  }
  free(clean);
  return text;
}

/* True when the Redis string r is exactly name (r->len counts, so a value
 * with a NUL byte never matches a shorter name). */
static int
is_field(const redisReply *r, const char *name)
{
  return r->len == strlen(name) && memcmp(r->str, name, r->len) == 0;
}

/* Converts one results entry to a JSON object line: "headers" and "meta"
 * are embedded as JSON, numbers as numbers, everything else as strings.
 * Every name and value is read with its length (Redis values may hold NUL
 * bytes) and made well-formed UTF-8 first. Returns owned text (free with
 * cJSON_free), or NULL when out of memory. */
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
    char *name, *text;

    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      continue;
    name = clean_text(k->str, k->len);
    text = clean_text(v->str, v->len);
    if (name == NULL || text == NULL) {
      free(name);
      free(text);
      goto fail;
    }
    if (is_field(k, "headers") || is_field(k, "meta")) {
      item = cJSON_ParseWithLength(text, strlen(text));
    } else if (is_field(k, "status") || is_field(k, "attempts") ||
               is_field(k, "duration_ms") || is_field(k, "finished_unix_ms")) {
      item = cJSON_CreateNumber(strtod(text, NULL));
    } else if (is_field(k, "body_truncated")) {
      item = cJSON_CreateBool(text[0] == '1');
    }
    if (item == NULL)
      item = cJSON_CreateString(text);
    free(text);
    if (item == NULL || !cJSON_AddItemToObject(o, name, item)) {
      cJSON_Delete(item);
      free(name);
      goto fail;
    }
    free(name);
  }
  out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return out;
fail:
  cJSON_Delete(o);
  return NULL;
}

/* Counts one exported result into t: its 429s, retries and, when it did
 * not end ok, its reason. */
static void
tally_result(struct run_tally *t, const redisReply *f)
{
  const char *state = NULL, *reason = NULL;
  size_t j, k;

  for (j = 0; j + 1 < f->elements; j += 2) {
    const redisReply *n = f->element[j], *v = f->element[j + 1];

    if (n->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      continue;
    if (is_field(n, "state"))
      state = v->str;
    else if (is_field(n, "reason"))
      reason = v->str;
    else if (is_field(n, "throttled"))
      t->throttled += strtoull(v->str, NULL, 10);
    else if (is_field(n, "attempts") && strtoull(v->str, NULL, 10) > 1)
      t->retried += strtoull(v->str, NULL, 10) - 1;
  }
  if (state == NULL || strcmp(state, "ok") == 0)
    return;
  if (reason == NULL || reason[0] == '\0')
    reason = state;
  for (k = 0; k < t->nreasons; k++) {
    if (strcmp(t->reasons[k].reason, reason) == 0) {
      t->reasons[k].n++;
      return;
    }
  }
  if (t->nreasons == RUN_REASONS_MAX) {
    t->reasons_other++;
    return;
  }
  snprintf(t->reasons[t->nreasons].reason, sizeof(t->reasons[0].reason), "%s",
           reason);
  t->reasons[t->nreasons++].n = 1;
}

static int
write_results(redisContext *c, const char *key, const char *after,
              struct pacer_idset *want, FILE *out, size_t *written,
              struct run_tally *tally, struct pacer_error *err)
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
        if (f->element[j]->type == REDIS_REPLY_STRING &&
            f->element[j + 1]->type == REDIS_REPLY_STRING &&
            is_field(f->element[j], "id"))
          id = f->element[j + 1]->str;
      }
      /* One line per job of this batch (first result wins). */
      if (id == NULL || pacer_idset_remove(want, id) != 1)
        continue;
      tally_result(tally, f);
      line = entry_json(f);
      if (line == NULL) {
        freeReplyObject(r);
        return pacer_error_set(err, PACER_ENOMEM, "results: out of memory");
      }
      fputs(line, out);
      fputc('\n', out);
      cJSON_free(line);
      (*written)++;
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
/* The scheduler's snapshot: why lanes wait, limits, credentials */

static void stop(struct run_ctx *rc);

static double
num_of(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

  return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static const char *
str_of(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

  return cJSON_IsString(v) ? v->valuestring : "";
}

static void
snap_buckets(struct run_tally *t, const cJSON *buckets)
{
  const cJSON *b;

  t->buckets_total = 0;
  cJSON_ArrayForEach(b, buckets)
  {
    const char *key = str_of(b, "bucket");
    struct run_bucket *rb = NULL;
    size_t i;

    t->buckets_total++;
    for (i = 0; i < t->nbuckets; i++) {
      if (strcmp(t->buckets[i].bucket, key) == 0)
        rb = &t->buckets[i];
    }
    if (rb == NULL) {
      if (t->nbuckets == RUN_BUCKETS_MAX)
        continue;
      rb = &t->buckets[t->nbuckets++];
      snprintf(rb->bucket, sizeof(rb->bucket), "%s", key);
      snprintf(rb->limit, sizeof(rb->limit), "%s", str_of(b, "limit"));
    }
    rb->limit_per_s = num_of(b, "rate_per_s");
    rb->requests = (uint64_t)num_of(b, "requests");
    rb->throttled = (uint64_t)num_of(b, "throttled");
    if (num_of(b, "send_per_s") > rb->send_max_per_s)
      rb->send_max_per_s = num_of(b, "send_per_s");
  }
}

static void
snap_creds(struct run_tally *t, const cJSON *creds)
{
  const cJSON *c;

  t->ncreds = 0;
  cJSON_ArrayForEach(c, creds)
  {
    struct run_cred *rc;

    if (t->ncreds == RUN_CREDS_MAX)
      break;
    rc = &t->creds[t->ncreds++];
    snprintf(rc->name, sizeof(rc->name), "%s", str_of(c, "name"));
    rc->refresh_ok = (uint64_t)num_of(c, "refresh_ok");
    rc->refresh_failed = (uint64_t)num_of(c, "refresh_failed");
    rc->refresh_refused = (uint64_t)num_of(c, "refresh_refused");
  }
}

/* The progress display's second line: how many lanes wait for what, and
 * the most telling reason (an upstream pause first, then a rate limit),
 * e.g. "lanes: paused 1, rate 7 | acct:act_1003: paused by the upstream:
 * Retry-After 2000 ms; 640 ms left". */
static void
snap_note(struct run_ctx *rc, const cJSON *state)
{
  static const char *const kinds[] = {"paused",    "rate",   "concurrency",
                                      "in_flight", "permit", "deferred"};
  const cJSON *lanes = cJSON_GetObjectItemCaseSensitive(state, "lanes");
  const cJSON *proc = cJSON_GetObjectItemCaseSensitive(state, "process");
  const cJSON *l, *shown = NULL;
  size_t counts[PACER_ARRAY_SIZE(kinds)] = {0}, i, off = 0;
  int n;

  cJSON_ArrayForEach(l, lanes)
  {
    const char *w = str_of(l, "wait");

    for (i = 0; i < PACER_ARRAY_SIZE(kinds); i++) {
      if (strcmp(w, kinds[i]) == 0) {
        counts[i]++;
        if (shown == NULL ||
            (i == 0 && strcmp(str_of(shown, "wait"), "paused") != 0))
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
  if (num_of(proc, "cred_waiting") > 0) {
    n = snprintf(rc->note + off, sizeof(rc->note) - off,
                 "%sjobs waiting for a token %.0f", off == 0 ? "" : ", ",
                 num_of(proc, "cred_waiting"));
    if (n < 0 || (size_t)n >= sizeof(rc->note) - off)
      return;
    off += (size_t)n;
  }
  /* A pause's reason names its bucket already. */
  if (shown != NULL && strcmp(str_of(shown, "wait"), "paused") == 0)
    snprintf(rc->note + off, sizeof(rc->note) - off, " | %s",
             str_of(shown, "why"));
  else if (shown != NULL)
    snprintf(rc->note + off, sizeof(rc->note) - off, " | %s: %s",
             str_of(shown, "lane"), str_of(shown, "why"));
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
    rc->tally.snapshots++;
    snap_buckets(&rc->tally, cJSON_GetObjectItemCaseSensitive(doc, "buckets"));
    snap_creds(&rc->tally,
               cJSON_GetObjectItemCaseSensitive(doc, "credentials"));
    snap_note(rc, doc);
    cJSON_Delete(doc);
  }
  if (rc->all_done)
    stop(rc);
}

/* The summary's figures beyond "done:", on out. wall_ms: the batch's
 * time, for the average rates. */
static void
print_tally(FILE *out, const struct run_tally *t, uint64_t wall_ms,
            size_t rejected)
{
  double wall_s = wall_ms > 0 ? (double)wall_ms / 1000.0 : 0.001;
  size_t i;

  if (t->nbuckets > 0) {
    fprintf(out,
            "limits: requests per limit bucket over the %.1f s run (PEAK: "
            "the highest 5 s send rate)\n",
            wall_s);
    fprintf(out, "  %-8s %-24s %8s %9s %9s %9s %6s\n", "LIMIT", "BUCKET",
            "REQUESTS", "AVG/S", "PEAK/S", "LIMIT/S", "429S");
    for (i = 0; i < t->nbuckets; i++) {
      const struct run_bucket *b = &t->buckets[i];

      fprintf(out, "  %-8s %-24s %8" PRIu64 " %9.1f %9.1f %9.1f %6" PRIu64 "\n",
              b->limit, b->bucket, b->requests, (double)b->requests / wall_s,
              b->send_max_per_s, b->limit_per_s, b->throttled);
    }
    if (t->buckets_total > t->nbuckets)
      fprintf(out, "  (%zu more buckets not listed)\n",
              t->buckets_total - t->nbuckets);
  } else if (t->snapshots > 0) {
    fprintf(out, "limits: none configured (\"limits\" in --config)\n");
  }
  fprintf(out,
          "429s: %" PRIu64 " (429, or 503 with Retry-After: each paused its "
          "lane, and the job was sent again without spending an attempt)\n",
          t->throttled);
  fprintf(out, "retries after errors: %" PRIu64 "\n", t->retried);
  for (i = 0; i < t->ncreds; i++) {
    const struct run_cred *c = &t->creds[i];

    fprintf(out,
            "credential %s: %" PRIu64 " refresh(es) (%" PRIu64
            " token(s) fetched in all), %" PRIu64 " failed, %" PRIu64
            " refused\n",
            c->name, c->refresh_ok > 0 ? c->refresh_ok - 1 : 0, c->refresh_ok,
            c->refresh_failed, c->refresh_refused);
  }
  if (t->nreasons == 0) {
    fprintf(out, "failed by reason: none\n");
  } else {
    fprintf(out, "failed by reason:");
    for (i = 0; i < t->nreasons; i++)
      fprintf(out, "%s %s %zu", i > 0 ? "," : "", t->reasons[i].reason,
              t->reasons[i].n);
    if (t->reasons_other > 0)
      fprintf(out, ", other %zu", t->reasons_other);
    fputc('\n', out);
  }
  if (rejected > 0)
    fprintf(out, "rejected: %zu line(s) never queued (reasons above)\n",
            rejected);
  fflush(out);
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

/* Opens the results file path ("-" = stdout) for writing into *out, or
 * prints why not. It must not be the input file in (borrowed), which
 * opening for writing would empty before a line is read. Returns 0 or -1. */
static int
open_out(const char *path, FILE *in, FILE **out)
{
  struct stat in_sb, out_sb;
  char reason[128];

  *out = NULL;
  if (strcmp(path, "-") == 0) {
    *out = stdout;
    return 0;
  }
  if (stat(path, &out_sb) == 0 && fstat(fileno(in), &in_sb) == 0 &&
      out_sb.st_dev == in_sb.st_dev && out_sb.st_ino == in_sb.st_ino) {
    fprintf(stderr, "run: --out %s: is the input file; choose another\n", path);
    return -1;
  }
  *out = fopen(path, "w");
  if (*out == NULL) {
    errno_text(errno, reason, sizeof(reason));
    fprintf(stderr, "run: --out %s: cannot write: %s\n", path, reason);
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
  const char *file = NULL, *out_path = "pacer-results.jsonl";
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
    errno_text(errno, reason, sizeof(reason));
    fprintf(stderr, "run: %s: cannot open: %s\n", file, reason);
    goto out;
  }
  /* Before anything runs: a results file that cannot be written would
   * otherwise be found out only after the whole batch. */
  if (open_out(out_path, in, &out) != 0)
    goto out;
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
  r = write_results(c, results_key, last, want, out, &written, &rc.tally, &err);
  if (r != 0)
    fprintf(stderr, "run: %s\n", err.msg);
  if (fflush(out) != 0 || ferror(out)) {
    errno_text(errno, reason, sizeof(reason));
    fprintf(stderr, "run: --out %s: write failed: %s\n", out_path, reason);
    r = PACER_EIO;
  }
  print_tally(rc.progress.summary ? rc.progress.summary : stdout, &rc.tally,
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
