/* `pacer stats`: argument parsing and printing of what the read-only
 * stats view (store/stats_view.h) reads: queue depths and consumers, read
 * in one pipeline.
 *
 * Then, per limit bucket:
 * configured and effective (AIMD) rate, next free slot, jobs queued in
 * lanes, in flight (cluster-wide permits for max_in_flight limits),
 * deferred to the delayed set, pause left and which header caused it.
 *
 * Then the OAuth2 credentials of the configuration (cred_state.h, shared
 * with `pacer cred show`): status, generation, expiry, parked jobs and
 * refresh lock. Tokens are never read, only whether one is stored.
 *
 * Before the first worker starts there is no consumer group: depths and
 * consumers are shown as 0 with "group not created yet".
 */
#include "cli/cmd.h"
#include "cli/stats_limits.h"
#include "store/cred_state.h"
#include "store/keys.h"
#include "store/stats_view.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/clock.h"
#include "common/utf8.h"

static void
usage(FILE *out)
{
  fputs(
      "usage: pacer stats [--config FILE] [--redis URL] [--json]\n"
      "       pacer stats --watch [--interval S] [--count N] [--json]\n"
      "                   [--config FILE] [--redis URL]\n"
      "\n"
      "Show queue depths: jobs in <prefix>jobs, pending (delivered, not yet\n"
      "finished), delayed, results, dead letters, and the consumers of\n"
      "group \"" PACER_KEYS_GROUP
      "\" with their pending count and idle time; per limit\n"
      "bucket (lane) the rate, queued, in flight, deferred and any pause\n"
      "with its reason; the OAuth2 credentials and their status.\n"
      "\n"
      "options:\n"
      "  --config FILE   read settings from the JSON config FILE\n"
      "  --redis URL     Redis to use; overrides PACER_REDIS_URL, which\n"
      "                  overrides redis_url from the config\n"
      "  --json          print one JSON object instead of text (with\n"
      "                  --watch: one object per refresh, JSON Lines)\n"
      "  -w, --watch     refresh until interrupted: on a terminal a\n"
      "                  compact table redrawn in place, otherwise plain\n"
      "                  snapshots appended\n"
      "  --interval S    seconds between refreshes (default 1; 0.05 ..\n"
      "                  86400; decimals allowed)\n"
      "  --count N       stop after N refreshes\n"
      "  -h, --help      show this help\n"
      "\n"
      "exit status: 0 ok (also when --watch ends on SIGINT/SIGTERM), 2 usage,\n"
      "config or Redis error.\n",
      out);
}

static void
print_text(const struct pacer_stats_queue *st, const char *prefix)
{
  const char *nogroup = st->group_exists ? "" : "  (group not created yet)";
  size_t i, width = 4;

  printf("%-10s %lld  (%sjobs)\n", "jobs", st->jobs, prefix);
  printf("%-10s %lld  (%sjobs:high)\n", "high", st->jobs_high, prefix);
  printf("%-10s %lld  (%sjobs:low)\n", "low", st->jobs_low, prefix);
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

/* Returns the JSON object of one snapshot (owned, free with cJSON_Delete),
 * or NULL when out of memory. */
static cJSON *
build_json(const struct pacer_stats_queue *st, const char *prefix,
           const struct pacer_stats_buckets *bs,
           const struct pacer_cli_creds *cs)
{
  cJSON *o = cJSON_CreateObject(), *arr;
  size_t i;
  int ok = o != NULL;

  /* cJSON numbers are doubles: exact for counts below 2^53. */
  ok = ok && cJSON_AddStringToObject(o, "prefix", prefix) != NULL;
  ok = ok && cJSON_AddNumberToObject(o, "jobs", (double)st->jobs) != NULL;
  ok = ok &&
       cJSON_AddNumberToObject(o, "jobs_high", (double)st->jobs_high) != NULL;
  ok = ok &&
       cJSON_AddNumberToObject(o, "jobs_low", (double)st->jobs_low) != NULL;
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
  ok = ok && pacer_cli_limits_add_json(o, bs) == 0;
  ok = ok && pacer_cli_creds_add_json(o, cs) == 0;
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* Prints o (borrowed; NULL = out of memory) as one line of JSON. */
static int
print_json_object(const cJSON *o, struct pacer_error *err)
{
  char *text = o != NULL ? cJSON_PrintUnformatted(o) : NULL;

  if (text == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "stats: json: out of memory");
  printf("%s\n", text);
  cJSON_free(text);
  return 0;
}

static int
print_json(const struct pacer_stats_queue *st, const char *prefix,
           const struct pacer_stats_buckets *bs,
           const struct pacer_cli_creds *cs, struct pacer_error *err)
{
  cJSON *o = build_json(st, prefix, bs, cs);
  int rc = print_json_object(o, err);

  cJSON_Delete(o);
  return rc;
}

/* ------------------------------------------------------------------ */
/* One snapshot: everything `pacer stats` shows, read in one pass. Both
 * the one-shot output and --watch use it. */

struct snapshot {
  struct pacer_stats_queue st;
  struct pacer_stats_buckets bs;
  struct pacer_cli_creds cs;
};

static void
snapshot_free(struct snapshot *sn)
{
  pacer_stats_queue_free(&sn->st);
  pacer_stats_buckets_free(&sn->bs);
  pacer_cli_creds_free(&sn->cs);
  memset(sn, 0, sizeof(*sn));
}

/* Reads a snapshot into sn (zeroed first). Returns 0, or a negative code
 * with err set; free sn with snapshot_free in either case. */
static int
gather(redisContext *c, const struct pacer_config *cfg, struct snapshot *sn,
       struct pacer_error *err)
{
  int rc;

  memset(sn, 0, sizeof(*sn));
  if ((rc = pacer_stats_queue_read(c, cfg->prefix, &sn->st, err)) != 0)
    return rc;
  if (pacer_stats_buckets_read(c, cfg, &sn->bs) != 0)
    return pacer_error_set(err, PACER_EREDIS, "redis: cannot read the limits");
  return pacer_cli_creds_collect(c, cfg, NULL, &sn->cs, err);
}

/* ------------------------------------------------------------------ */
/* --watch: the same snapshot every --interval seconds.
 *
 *   terminal   one compact frame redrawn in place (cursor home, each line
 *              ends with erase-to-end-of-line, then erase-below), cut to
 *              the terminal's width and height
 *   otherwise  plain frames appended, each after a "--- <time>" line
 *   --json     one JSON object per refresh (JSON Lines), on any output
 *
 * SIGINT and SIGTERM end the loop between refreshes (exit 0). A Redis
 * error is shown in place of that refresh and the next one reconnects. */

#define WATCH_INTERVAL_MIN_S 0.05    /* s */
#define WATCH_INTERVAL_MAX_S 86400.0 /* s */
#define WATCH_COUNT_MAX      1000000000L
#define WATCH_LINE_MAX       1024 /* bytes of one text line */

static volatile sig_atomic_t watch_stop;

static void
on_watch_signal(int signum)
{
  (void)signum;
  watch_stop = 1;
}

struct watch {
  const struct pacer_config *cfg;
  double interval_s; /* between refreshes, s */
  long count;        /* refreshes to show, 0 = until a signal */
  int json;
  int tty;                        /* stdout is a terminal: redraw in place */
  unsigned cols;                  /* terminal width, 0 = do not cut */
  unsigned rows;                  /* terminal height, 0 = do not cut */
  FILE *frame;                    /* the frame being built (memory stream) */
  unsigned lines;                 /* lines in the frame so far */
  struct pacer_stats_bucket **by; /* display order, PACER_STATS_BUCKETS_MAX */
};

/* Appends one line to the frame: cut to the terminal's width, and on a
 * terminal ended with "erase to end of line" so a shorter line leaves no
 * trace of the previous frame. */
static void watch_line(struct watch *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
watch_line(struct watch *w, const char *fmt, ...)
{
  char line[WATCH_LINE_MAX];
  size_t n;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  n = strlen(line);
  if (w->cols > 0 && n > w->cols)
    n = pacer_utf8_cut_len(line, n, w->cols);
  fwrite(line, 1, n, w->frame);
  fputs(w->tty ? "\033[K\n" : "\n", w->frame);
  w->lines++;
}

/* "HH:MM:SSZ" of a unix time in ms. */
static void
clock_text(char *buf, size_t size, double unix_ms)
{
  time_t t = (time_t)(unix_ms / 1000.0);
  struct tm tm;

  if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%H:%M:%SZ", &tm) == 0)
    snprintf(buf, size, "-");
}

/* A rate in requests/s, short: "0.5", "12.0", "1500". */
static void
rate_text(char *buf, size_t size, double per_s)
{
  snprintf(buf, size, per_s >= 100 ? "%.0f" : "%.1f", per_s);
}

/* Paused buckets first, then the busiest, then by name. */
static int
bucket_order(const void *pa, const void *pb)
{
  const struct pacer_stats_bucket *a =
      *(const struct pacer_stats_bucket *const *)pa;
  const struct pacer_stats_bucket *b =
      *(const struct pacer_stats_bucket *const *)pb;
  long long wa = a->queued + a->in_flight + a->deferred;
  long long wb = b->queued + b->in_flight + b->deferred;

  if ((a->paused_ms > 0) != (b->paused_ms > 0))
    return a->paused_ms > 0 ? -1 : 1;
  if (wa != wb)
    return wa > wb ? -1 : 1;
  return strcmp(a->key, b->key);
}

/* The lane table. room: lines it may use on a terminal, 0 = no bound.
 * The reason goes at the end of the row when the terminal is wide enough
 * (or is not a terminal), else on a line of its own under a paused lane. */
#define LANE_ROW_FMT   "%-22s %12s %7s %8s %8s  %-16s"
#define LANE_ROW_BYTES 79 /* the row above, without the reason */
#define REASON_SHOWN   24 /* reason bytes an inline column needs */

static void
watch_lanes(struct watch *w, const struct pacer_stats_buckets *bs,
            unsigned room)
{
  int inline_reason = w->cols == 0 || w->cols >= LANE_ROW_BYTES + REASON_SHOWN;
  unsigned used = 1;
  size_t i;

  if (bs->n == 0) {
    watch_line(w, "no limit buckets yet (they appear once a worker takes "
                  "a slot)");
    return;
  }
  for (i = 0; i < bs->n; i++)
    w->by[i] = &bs->b[i];
  qsort(w->by, bs->n, sizeof(w->by[0]), bucket_order);
  watch_line(w, LANE_ROW_FMT "%s", "LANE", "RATE/LIMIT/S", "QUEUED", "INFLIGHT",
             "DEFERRED", "PAUSED_UNTIL", inline_reason ? " REASON" : "");
  for (i = 0; i < bs->n; i++) {
    const struct pacer_stats_bucket *b = w->by[i];
    const char *why = b->paused_ms > 0 && b->reason[0] ? b->reason : "-";
    char eff[16], conf[16], rl[40], inf[32], que[24], def[24], until[40];
    char at[16];
    unsigned need = 1 + (!inline_reason && why[0] != '-');

    /* Keep one line for "... more" when not every lane fits. */
    if (room > 0 && used + need + (i + 1 < bs->n) > room)
      break;
    used += need;
    rate_text(eff, sizeof(eff), b->conf_rate * b->permille / 1000.0);
    rate_text(conf, sizeof(conf), b->conf_rate);
    snprintf(rl, sizeof(rl), "%s/%s", eff, conf);
    if (b->permits >= 0)
      snprintf(inf, sizeof(inf), "%lld/%u", b->permits, b->max_in_flight);
    else
      snprintf(inf, sizeof(inf), "%lld", b->in_flight);
    snprintf(que, sizeof(que), "%lld", b->queued);
    snprintf(def, sizeof(def), "%lld", b->deferred);
    if (b->paused_ms > PACER_CLI_PAUSE_FOREVER_MS) {
      snprintf(until, sizeof(until), "until resumed"); /* `pacer pause` */
    } else if (b->paused_ms > 0) {
      clock_text(at, sizeof(at), bs->now_us / 1e3 + b->paused_ms);
      snprintf(until, sizeof(until), "%s +%.1fs", at, b->paused_ms / 1e3);
    } else {
      snprintf(until, sizeof(until), "-");
    }
    if (inline_reason) {
      watch_line(w, LANE_ROW_FMT " %s", b->key, rl, que, inf, def, until, why);
    } else {
      watch_line(w, LANE_ROW_FMT, b->key, rl, que, inf, def, until);
      if (why[0] != '-')
        watch_line(w, "  paused: %s", why);
    }
  }
  if (i < bs->n)
    watch_line(w, "... %zu more lanes (pacer stats --json lists all)",
               bs->n - i);
}

static void
watch_creds(struct watch *w, const struct pacer_cli_creds *cs)
{
  size_t i;

  if (cs->n == 0)
    return;
  watch_line(w, "%-24s %-15s %6s %10s %7s  %s", "CREDENTIAL", "STATUS", "GEN",
             "EXPIRES_IN", "PARKED", "REFRESH_LOCK");
  for (i = 0; i < cs->n; i++) {
    const struct pacer_cli_cred *cr = &cs->v[i];
    char exp[PACER_CLI_CRED_CELL], lock[PACER_CLI_CRED_CELL];

    pacer_cli_cred_cells(cr, exp, lock);
    watch_line(w, "%-24s %-15s %6lld %10s %7lld  %s", cr->name, cr->status,
               cr->generation, exp, cr->parked, lock);
  }
}

/* Builds one text frame of sn (NULL: the refresh failed with err). */
static void
watch_text(struct watch *w, const struct snapshot *sn,
           const struct pacer_error *err, double now_unix_ms)
{
  char at[16], line[160];
  unsigned room = 0;

  clock_text(at, sizeof(at), now_unix_ms);
  w->lines = 0;
  if (!w->tty)
    watch_line(w, "--- %s", at);
  watch_line(w, "pacer stats  prefix %s  %s  every %gs%s", w->cfg->prefix, at,
             w->interval_s, w->tty ? "  (Ctrl-C quits)" : "");
  if (sn == NULL) {
    watch_line(w, "stats: %s (retrying)", err->msg);
    return;
  }
  watch_line(w,
             "jobs %lld (high %lld, low %lld)  pending %lld  delayed %lld  "
             "results %lld  dead %lld",
             sn->st.jobs, sn->st.jobs_high, sn->st.jobs_low, sn->st.pending,
             sn->st.delayed, sn->st.results, sn->st.dead);
  watch_line(
      w, "consumers %zu%s  worker processes reporting %lld", sn->st.nconsumers,
      sn->st.group_exists ? "" : " (group not created yet)", sn->bs.processes);
  pacer_cli_all_paused_text(&sn->bs, line, sizeof(line));
  if (line[0] != '\0')
    watch_line(w, "%s", line);
  if (w->tty && w->rows > 0) {
    /* What is left after the header lines, the credentials (title and
     * rows) and one spare line, for the lane table and its title. */
    unsigned fixed = w->lines + (sn->cs.n ? (unsigned)sn->cs.n + 1 : 0) + 1;

    room = w->rows > fixed + 2 ? w->rows - fixed : 2;
  }
  watch_lanes(w, &sn->bs, room);
  watch_creds(w, &sn->cs);
}

/* One JSON line for sn (NULL: the refresh failed with err), with the time
 * of the refresh and its number. */
static int
watch_json(const struct watch *w, const struct snapshot *sn,
           const struct pacer_error *err, double now_unix_ms, long refresh)
{
  struct pacer_error jerr;
  cJSON *o = sn != NULL ? build_json(&sn->st, w->cfg->prefix, &sn->bs, &sn->cs)
                        : cJSON_CreateObject();
  int ok = o != NULL, rc;

  ok = ok && cJSON_AddNumberToObject(o, "time_unix_ms",
                                     (double)(long long)now_unix_ms) != NULL;
  ok = ok && cJSON_AddNumberToObject(o, "refresh", (double)refresh) != NULL;
  if (sn == NULL)
    ok = ok && cJSON_AddStringToObject(o, "prefix", w->cfg->prefix) != NULL &&
         cJSON_AddStringToObject(o, "error", err->msg) != NULL;
  pacer_error_clear(&jerr);
  rc = print_json_object(ok ? o : NULL, &jerr);
  cJSON_Delete(o);
  return rc;
}

/* Sleeps until due_mono_ms or a signal. */
static void
sleep_until(uint64_t due_mono_ms)
{
  while (!watch_stop) {
    uint64_t now = pacer_clock_mono_ms();
    struct timespec ts;

    if (now >= due_mono_ms)
      return;
    ts.tv_sec = (time_t)((due_mono_ms - now) / 1000u);
    ts.tv_nsec = (long)((due_mono_ms - now) % 1000u) * 1000000L;
    (void)nanosleep(&ts, NULL); /* EINTR on a signal: the loop checks */
  }
}

static void
term_size(struct watch *w)
{
  struct winsize ws;

  w->cols = 0;
  w->rows = 0;
  if (w->tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    w->cols = ws.ws_col;
    w->rows = ws.ws_row;
  } else if (w->tty) {
    w->cols = 80;
    w->rows = 24;
  }
}

/* Runs the watch loop on connection *c (may be NULL or replaced). Returns
 * the exit status. */
static int
watch_run(struct watch *w, redisContext **c)
{
  struct sigaction sa, old_int, old_term;
  uint64_t start = pacer_clock_mono_ms();
  char *buf = NULL;
  size_t len = 0;
  long k;
  int status = 0;

  w->by = calloc(PACER_STATS_BUCKETS_MAX, sizeof(*w->by));
  if (w->by == NULL) {
    fprintf(stderr, "stats: out of memory\n");
    return 2;
  }
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_watch_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: a signal ends the sleep at once */
  watch_stop = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  if (w->tty && !w->json)
    fputs("\033[?25l\033[2J", stdout); /* hide the cursor, clear */
  for (k = 1; !watch_stop && (w->count == 0 || k <= w->count); k++) {
    struct snapshot sn;
    struct pacer_error err;
    double now_ms = (double)pacer_clock_unix_ms();
    int rc;

    pacer_error_clear(&err);
    if (*c == NULL)
      *c = pacer_cli_redis_connect(w->cfg, &err);
    rc = *c != NULL ? gather(*c, w->cfg, &sn, &err) : -1;
    if (*c != NULL && rc == 0 && sn.bs.now_us > 0)
      now_ms = sn.bs.now_us / 1e3; /* Redis TIME, as the pauses use */
    if (rc != 0 && *c != NULL && (*c)->err != 0) {
      redisFree(*c); /* reconnect on the next refresh */
      *c = NULL;
    }
    if (w->json) {
      if (watch_json(w, rc == 0 ? &sn : NULL, &err, now_ms, k) != 0)
        status = 2;
    } else {
      term_size(w);
      w->frame = open_memstream(&buf, &len);
      if (w->frame == NULL) {
        status = 2;
      } else {
        watch_text(w, rc == 0 ? &sn : NULL, &err, now_ms);
        if (fclose(w->frame) == 0) {
          if (w->tty)
            fputs("\033[H", stdout);
          fwrite(buf, 1, len, stdout);
          if (w->tty)
            fputs("\033[J", stdout);
          else
            fputs("\n", stdout);
        } else {
          status = 2;
        }
        w->frame = NULL;
        free(buf);
        buf = NULL;
      }
    }
    if (rc != 0 && !w->tty)
      fprintf(stderr, "stats: %s\n", err.msg);
    snapshot_free(&sn);
    if (fflush(stdout) != 0 || status != 0) {
      status = 2; /* e.g. the reader of a pipe went away */
      break;
    }
    if (w->count == 0 || k < w->count)
      sleep_until(start + (uint64_t)((double)k * w->interval_s * 1000.0));
  }
  if (w->tty && !w->json)
    fputs("\033[?25h", stdout); /* the cursor back */
  fflush(stdout);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  free(w->by);
  w->by = NULL;
  return status;
}

static int
parse_interval(const char *v, double *out, struct pacer_error *err)
{
  char *end;
  double d = strtod(v, &end);

  if (*v == '\0' || *end != '\0' || !(d >= WATCH_INTERVAL_MIN_S) ||
      d > WATCH_INTERVAL_MAX_S)
    return pacer_error_set(err, PACER_EINVAL,
                           "--interval: \"%s\" is not a number of seconds "
                           "from %g to %g",
                           v, WATCH_INTERVAL_MIN_S, WATCH_INTERVAL_MAX_S);
  *out = d;
  return 0;
}

static int
parse_watch_count(const char *v, long *out, struct pacer_error *err)
{
  char *end;
  long n = strtol(v, &end, 10);

  if (*v == '\0' || *end != '\0' || n < 1 || n > WATCH_COUNT_MAX)
    return pacer_error_set(err, PACER_EINVAL,
                           "--count: \"%s\" is not a whole number from 1 to "
                           "%ld",
                           v, WATCH_COUNT_MAX);
  *out = n;
  return 0;
}

int
pacer_cmd_stats(int argc, char **argv)
{
  struct pacer_config cfg;
  struct pacer_error err;
  struct snapshot sn;
  struct watch w;
  redisContext *c = NULL;
  const char *config_path = NULL, *redis_url = NULL, *v = NULL;
  const char *interval = NULL, *count = NULL;
  int json = 0, watch = 0, status = 2, rc, i;

  memset(&cfg, 0, sizeof(cfg));
  memset(&sn, 0, sizeof(sn));
  memset(&w, 0, sizeof(w));
  w.interval_s = 1.0;
  pacer_error_clear(&err);
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(arg, "--json") == 0) {
      json = 1;
    } else if (strcmp(arg, "--watch") == 0 || strcmp(arg, "-w") == 0) {
      watch = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--config",
                                         &config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis", &redis_url,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--interval",
                                         &interval, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--count", &count,
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
  v = interval != NULL ? "--interval" : count != NULL ? "--count" : NULL;
  if (v != NULL && !watch) {
    fprintf(stderr, "stats: %s: only with --watch\n", v);
    usage(stderr);
    return 2;
  }
  if ((interval != NULL && parse_interval(interval, &w.interval_s, &err)) ||
      (count != NULL && parse_watch_count(count, &w.count, &err))) {
    fprintf(stderr, "stats: %s\n", err.msg);
    return 2;
  }

  if (pacer_cli_config_load(&cfg, config_path, redis_url, &err) != 0)
    goto fail;
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL)
    goto fail; /* a wrong address is an error at once, --watch or not */
  if (watch) {
    w.cfg = &cfg;
    w.json = json;
    w.tty = isatty(STDOUT_FILENO) && getenv("TERM") != NULL &&
            strcmp(getenv("TERM"), "dumb") != 0;
    status = watch_run(&w, &c);
    goto out;
  }
  if (gather(c, &cfg, &sn, &err) != 0)
    goto fail;
  if (json) {
    if (print_json(&sn.st, cfg.prefix, &sn.bs, &sn.cs, &err) != 0)
      goto fail;
  } else {
    print_text(&sn.st, cfg.prefix);
    pacer_cli_limits_print(&sn.bs);
    if (sn.cs.n > 0) {
      printf("credentials\n");
      pacer_cli_creds_print_text(stdout, &sn.cs, "  ");
    }
  }
  status = fflush(stdout) == 0 ? 0 : 2;
  goto out;

fail:
  fprintf(stderr, "stats: %s\n", err.msg);
out:
  snapshot_free(&sn);
  if (c != NULL)
    redisFree(c);
  pacer_config_free(&cfg);
  return status;
}
