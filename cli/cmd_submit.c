/* `pacer submit`: queue JSONL jobs into the intake stream of their
 * priority and, with --wait, follow <prefix>results until every queued job
 * has finished.
 *
 *   FILE.jsonl -> pacer_submit_stream (cli/submit_queue.c: checked,
 *                 then XADDs pipelined 256 a round)
 *   "priority": "high" -> <prefix>jobs:high, "normal" or none -> <prefix>jobs,
 *               "low"  -> <prefix>jobs:low   (docs/REDIS.md)
 *
 *   --wait (store/results.h):
 *            XINFO STREAM results   last-generated-id, entries-added
 *                                    (before the first XADD)
 *            XREAD COUNT 500 BLOCK 1000 STREAMS results <last>  (loop)
 *            an entry counts when its `id` is still in the batch's id set
 *            XINFO STREAM results   after each XREAD: were results trimmed
 *                                    (MAXLEN ~ results_maxlen) unread?
 *            connection lost -> reconnect with backoff (100 ms doubling to
 *            2 s) for up to 30 s, then XREAD again from <last>
 */
#include "cli/cmd.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "cli/run_report.h"
#include "common/clock.h"
#include "core/job.h"
#include "core/progress.h"
#include "core/result_fmt.h"
#include "store/redis_sync.h"
#include "store/results.h"
#include "store/stats_view.h"
#include "store/submit.h"

#define VIEW_MS        1000u  /* period of the buckets read for the ETA, ms */
#define BUCKETS_VIEWED 64     /* buckets the ETA looks at */
#define BLOCK_MS       1000   /* XREAD BLOCK, ms */
#define RECONNECT_MS   30000u /* reconnect attempts after a loss, ms */
#define BACKOFF_MIN_MS 100u   /* first wait between reconnects, ms */
#define BACKOFF_MAX_MS 2000u  /* cap of the doubling wait, ms */

/* Exit statuses. */
#define EXIT_ALL_OK      0
#define EXIT_SOME_FAILED 1
#define EXIT_USAGE       2
#define EXIT_TIMEOUT     3
#define EXIT_TRIMMED     4 /* results trimmed from the stream before read */

static void
errno_text(int errnum, char *buf, size_t size)
{
  if (strerror_r(errnum, buf, size) != 0)
    snprintf(buf, size, "error %d", errnum);
}

/* ------------------------------------------------------------------------
 * Waiting for results
 * ------------------------------------------------------------------------ */

/* Where submit stands in <prefix>results. Each result added since the
 * start (entries-added - added_base, Redis >= 7) was read (nread), is
 * still in the stream unread, or was trimmed (XADD MAXLEN ~
 * results_maxlen) or deleted before submit read it:
 *
 *   lost = entries-added - added_base - nread - unread
 *
 *   stream:  [first-entry ...................... last-generated-id]
 *     last <  first-entry:        everything left is unread (length)
 *     last == last-generated-id:  caught up, nothing unread
 *     otherwise unread is not known from XINFO: ask again later
 *
 * Comparing first-entry with last alone would miss a gap that the next
 * XREAD has already skipped (it reads on from the new first entry).
 */
struct results_pos {
  char last[64];      /* id of the newest entry read; XREAD from here */
  int64_t added_base; /* entries-added at the start; -1 = unknown */
  uint64_t nread;     /* entries read since the start */
};

/* Parses the stream id "ms-seq" into *ms and *seq. Returns 0 or -1. */
static int
parse_stream_id(const char *s, uint64_t *ms, uint64_t *seq)
{
  char *end;

  if (s[0] < '0' || s[0] > '9')
    return -1;
  errno = 0;
  *ms = strtoull(s, &end, 10);
  if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
    return -1;
  *seq = strtoull(end + 1, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  return 0;
}

/* True when stream id a is newer than b (compared as numbers, ms then
 * seq); false when either does not parse. */
static int
stream_id_after(const char *a, const char *b)
{
  uint64_t ams, aseq, bms, bseq;

  if (parse_stream_id(a, &ams, &aseq) != 0 ||
      parse_stream_id(b, &bms, &bseq) != 0)
    return 0;
  return ams > bms || (ams == bms && aseq > bseq);
}

/* Sets pos to the end of key, before the first XADD, so that no result of
 * this batch can be missed: last = last-generated-id ("0-0" when the
 * stream is missing), added_base = entries-added (0 when missing, -1 when
 * this Redis does not report it). */
static int
results_start(redisContext *c, const char *key, struct results_pos *pos,
              struct pacer_error *err)
{
  struct pacer_results_info info;
  int rc;

  rc = pacer_results_info(c, key, &info, err);
  if (rc < 0)
    return rc;
  snprintf(pos->last, sizeof(pos->last), "%s",
           rc == 1 && info.last_generated[0] != '\0' ? info.last_generated
                                                     : "0-0");
  pos->added_base = rc == 1 ? info.added : 0;
  pos->nread = 0;
  return 0;
}

/* Returns how many results added since the start were trimmed or deleted
 * before submit read them, with *unread set to the results still in the
 * stream after pos->last; 0 when none, or when that cannot be told (Redis
 * before 7 has no entries-added; the stream was recreated; the check
 * failed, which the next XREAD reports). */
static uint64_t
results_lost(redisContext *c, const char *key, const struct results_pos *pos,
             uint64_t *unread)
{
  struct pacer_results_info info;
  struct pacer_error ierr;
  uint64_t added;

  if (pos->added_base < 0 || pacer_results_info(c, key, &info, &ierr) != 1 ||
      info.added < 0 || info.length < 0 || info.added < pos->added_base)
    return 0;
  if (info.first_entry[0] == '\0' ||
      stream_id_after(info.first_entry, pos->last))
    *unread = (uint64_t)info.length;
  else if (info.last_generated[0] != '\0' &&
           !stream_id_after(info.last_generated, pos->last))
    *unread = 0;
  else
    return 0;
  added = (uint64_t)(info.added - pos->added_base);
  if (added <= pos->nread + *unread)
    return 0;
  return added - pos->nread - *unread;
}

/* What follow_results counts into, for each entry read. */
struct count_ctx {
  struct pacer_idset *ids;
  struct pacer_progress *p;
  char *last; /* advanced to each entry read */
  size_t size;
  struct pacer_run_tally *tally; /* 429s, waits, failures by reason */
  FILE *out;                     /* --out: each result as it arrives, or NULL */
  enum pacer_run_format fmt;     /* --format */
  int out_failed;                /* a write to out failed (out of memory) */
};

/* Counts one results entry (a pacer_results_entry_cb). */
static int
count_entry(void *arg, const char *entry_id,
            const struct pacer_results_field *f, size_t nfields)
{
  struct count_ctx *cc = arg;
  const char *id = NULL, *state = NULL;
  size_t i;

  snprintf(cc->last, cc->size, "%s", entry_id);
  for (i = 0; i < nfields; i++) {
    if (strcmp(f[i].name, "id") == 0)
      id = f[i].value;
    else if (strcmp(f[i].name, "state") == 0)
      state = f[i].value;
  }
  /* First sight only: a retried or duplicated result is not counted twice. */
  if (id == NULL || pacer_idset_remove(cc->ids, id) != 1)
    return 0;
  if (state != NULL && strcmp(state, "ok") == 0)
    cc->p->ok++;
  else
    cc->p->failed++;
  pacer_run_tally_result(cc->tally, f, nfields);
  cc->p->throttled = cc->tally->throttled;
  if (cc->out != NULL && pacer_run_write_line(cc->out, cc->fmt, f, nfields))
    cc->out_failed = 1;
  return 0;
}

/* Ends a progress bar line on a terminal, so a message starts on a line of
 * its own. */
static void
break_bar(const struct pacer_progress *p)
{
  if (p->tty)
    fputc('\n', stderr);
}

/* Replaces *cp, whose connection was lost (lost_err is why), with a new
 * connection to cfg's Redis (cfg borrowed). Tries until lost_since_mono_ms
 * + RECONNECT_MS or deadline_mono_ms (0 = none), waiting BACKOFF_MIN_MS
 * doubling to BACKOFF_MAX_MS between attempts. Returns 0 with *cp owned,
 * PACER_ETIMEDOUT when deadline_mono_ms passed first, or PACER_EREDIS with
 * err set and *cp NULL. */
static int
reconnect(redisContext **cp, const struct pacer_config *cfg,
          const char *lost_err, uint64_t lost_since_mono_ms,
          uint64_t deadline_mono_ms, const struct pacer_progress *p,
          struct pacer_error *err)
{
  uint64_t give_up = lost_since_mono_ms + RECONNECT_MS;
  uint64_t wait_ms = BACKOFF_MIN_MS;
  struct pacer_error cerr;

  break_bar(p);
  fprintf(stderr, "submit: %s; reconnecting (for up to %u s)\n", lost_err,
          RECONNECT_MS / 1000);
  redisFree(*cp);
  *cp = NULL;
  pacer_error_clear(&cerr);
  for (;;) {
    uint64_t now;
    struct timespec ts;

    *cp = pacer_cli_redis_connect(cfg, &cerr);
    if (*cp != NULL) {
      fprintf(stderr, "submit: reconnected to redis\n");
      return 0;
    }
    now = pacer_clock_mono_ms();
    if (deadline_mono_ms != 0 && now >= deadline_mono_ms)
      return PACER_ETIMEDOUT;
    if (now >= give_up)
      return pacer_error_set(err, PACER_EREDIS,
                             "%s; no connection for %u s, giving up", cerr.msg,
                             RECONNECT_MS / 1000);
    if (wait_ms > give_up - now)
      wait_ms = give_up - now;
    if (deadline_mono_ms != 0 && wait_ms > deadline_mono_ms - now)
      wait_ms = deadline_mono_ms - now;
    ts.tv_sec = (time_t)(wait_ms / 1000);
    ts.tv_nsec = (long)(wait_ms % 1000) * 1000000L;
    nanosleep(&ts, NULL); /* backoff before the next connect */
    wait_ms = wait_ms * 2 < BACKOFF_MAX_MS ? wait_ms * 2 : BACKOFF_MAX_MS;
  }
}

/* Sets p's ETA from the limit buckets' rates and pauses in Redis (every
 * process's lanes, store/stats_view.h; rates from cfg, borrowed) and
 * writes the pause note into note ("" when no bucket is paused). Without
 * a configured rate the completion rate's ETA stays. */
static void
view_buckets(redisContext *c, const struct pacer_config *cfg,
             struct pacer_progress *p, uint64_t now_mono_ms, char *note,
             size_t size)
{
  struct pacer_progress_bucket b[BUCKETS_VIEWED];
  struct pacer_stats_buckets bs;
  struct pacer_progress_in in;
  uint64_t done = (uint64_t)p->ok + p->failed, eta = 0;
  size_t i, n = 0;

  note[0] = '\0';
  if (pacer_stats_buckets_read(c, cfg, &bs) == 0) {
    for (i = 0; i < bs.n && n < BUCKETS_VIEWED; i++, n++) {
      const struct pacer_stats_bucket *sb = &bs.b[i];

      b[n].name = sb->key;
      b[n].rate_per_s = sb->conf_rate * sb->permille / 1000.0;
      b[n].jobs = (uint64_t)(sb->queued + sb->in_flight + sb->deferred);
      b[n].paused_ms = sb->paused_ms > 0 ? (uint64_t)sb->paused_ms : 0;
      b[n].pause_reason = sb->reason;
    }
    memset(&in, 0, sizeof(in));
    in.remaining = p->total > done ? p->total - done : 0;
    in.done = done;
    in.elapsed_ms =
        now_mono_ms > p->start_mono_ms ? now_mono_ms - p->start_mono_ms : 1;
    in.buckets = b;
    in.nbuckets = n;
    if (pacer_progress_eta_ms(&in, &eta) && n > 0)
      pacer_progress_set_eta(p, 1, eta, now_mono_ms);
    pacer_progress_pause_note(b, n, note, size);
  }
  pacer_stats_buckets_free(&bs);
}

/* Follows key from pos->last until ids is empty or deadline_mono_ms (0 =
 * none) passes. A lost connection (*cp) is replaced by reconnect() and the
 * read goes on from pos->last; *cp may therefore change, and is NULL when
 * Redis stayed unreachable. After each XREAD, results_lost() tells whether
 * results were trimmed before they were read: those ids would never be
 * seen, so waiting stops once what is left in the stream has been read (or
 * an XREAD after the loss came back short, so a busy stream cannot keep
 * it going). Returns 0, PACER_ETIMEDOUT, PACER_ENOTFOUND with
 * *nlost set (results trimmed unread), or PACER_EREDIS with err set. */
static int
follow_results(redisContext **cp, const struct pacer_config *cfg,
               const char *key, struct results_pos *pos,
               struct pacer_idset *ids, struct pacer_progress *p,
               uint32_t block_ms, uint64_t deadline_mono_ms, uint64_t *nlost,
               FILE *out, enum pacer_run_format fmt,
               struct pacer_run_tally *tally, struct pacer_error *err)
{
  struct count_ctx cc = {ids,   p,   pos->last, sizeof(pos->last),
                         tally, out, fmt,       0};
  uint64_t view_mono_ms = 0;
  char note[160] = "";
  uint64_t lost_since = 0; /* first failure since the last good reply */
  int lost_seen = 0;       /* results_lost() found a loss before */

  pacer_progress_update(p, pacer_clock_mono_ms(), 1);
  while (pacer_idset_count(ids) > 0) {
    struct pacer_error rerr;
    uint64_t now = pacer_clock_mono_ms(), wait_ms = block_ms;
    size_t got = 0;
    uint64_t unread = 0;
    int rc;

    if (deadline_mono_ms != 0) {
      if (now >= deadline_mono_ms)
        return PACER_ETIMEDOUT;
      /* Never block past the deadline (BLOCK 0 would mean forever). */
      if (deadline_mono_ms - now < wait_ms)
        wait_ms = deadline_mono_ms - now;
    }
    pacer_error_clear(&rerr);
    rc = pacer_results_read(*cp, key, pos->last, wait_ms, count_entry, &cc,
                            &got, &rerr);
    if (rc == PACER_ENOMEM)
      return pacer_error_set(err, PACER_ENOMEM, "%s", rerr.msg);
    if (rc == PACER_EIO) {
      if (lost_since == 0)
        lost_since = pacer_clock_mono_ms();
      rc = reconnect(cp, cfg, rerr.msg, lost_since, deadline_mono_ms, p, err);
      if (rc != 0)
        return rc;
      continue; /* XREAD again from last */
    }
    lost_since = 0;
    if (rc != 0)
      return pacer_error_set(err, PACER_EREDIS, "%s", rerr.msg);
    pos->nread += got;
    /* Results reach --out as they arrive, not at the end of the batch. */
    if (out != NULL && (cc.out_failed || fflush(out) != 0 || ferror(out)))
      return pacer_error_set(err, PACER_EIO, "--out: write failed%s",
                             cc.out_failed ? ": out of memory" : "");
    now = pacer_clock_mono_ms();
    if (now - view_mono_ms >= VIEW_MS) {
      view_mono_ms = now;
      view_buckets(*cp, cfg, p, now, note, sizeof(note));
    }
    pacer_progress_update(p, now, 0);
    if (p->last_print_mono_ms == now && note[0] != '\0')
      fprintf(stderr, p->tty ? "\n  %.76s\033[K\033[A\r" : "  %s\n", note);
    if (pacer_idset_count(ids) == 0)
      break;
    *nlost = results_lost(*cp, key, pos, &unread);
    if (*nlost > 0 &&
        (unread == 0 || (lost_seen && got < PACER_RESULTS_READ_COUNT)))
      return PACER_ENOTFOUND;
    lost_seen = *nlost > 0;
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------ */

static void
usage(FILE *out)
{
  fputs(
      "usage: pacer submit [--config FILE] [--redis URL] [--wait] "
      "[--timeout S]\n"
      "                    [--out FILE [--format jsonl|csv]] FILE.jsonl|-\n"
      "\n"
      "Queue one job per line of FILE.jsonl (or standard input for -) into\n"
      "the stream of its \"priority\": <prefix>jobs:high, <prefix>jobs\n"
      "(normal, the default) or <prefix>jobs:low. Blank lines and lines\n"
      "starting with '#' are skipped.\n"
      "Each line is checked first; a bad line is reported on stderr as\n"
      "FILE:LINE: reason and not queued. A job without an \"id\" is given\n"
      "one, RANDOM-LINE, sent as the stream field `id`.\n"
      "\n"
      "options:\n"
      "  --config FILE  read settings from the JSON config FILE\n"
      "                 (prefix, redis_url, job_max_bytes, ...)\n"
      "  --redis URL    Redis to use: redis://[[user]:pass@]host[:port][/db]\n"
      "                 or unix://[[user]:pass@]/path.sock[?db=N];\n"
      "                 overrides PACER_REDIS_URL, which overrides\n"
      "                 redis_url from the config\n"
      "  --wait         after queueing, follow <prefix>results and show\n"
      "                 progress until every queued job has finished\n"
      "  --timeout S    give up waiting S seconds after the batch started\n"
      "                 (whole seconds; implies --wait)\n"
      "  --out FILE     write each result of the batch to FILE as it\n"
      "                 arrives (- for stdout; implies --wait)\n"
      "  --format F     jsonl (default: one JSON object a line, README\n"
      "                 \"Result entry\") or csv (the flat fields, RFC 4180)\n"
      "  -h, --help     show this help\n"
      "\n"
      "exit status: 0 all queued (with --wait: all finished ok), 1 some lines\n"
      "rejected or jobs failed, 2 usage, config or Redis error, 3 --timeout\n"
      "expired with jobs unfinished, 4 results were trimmed from\n"
      "<prefix>results (results_maxlen) before --wait read them, so some\n"
      "jobs cannot be accounted for.\n",
      out);
}

static int
parse_seconds(const char *s, uint64_t *out)
{
  char *end;
  unsigned long long v;

  if (s[0] < '0' || s[0] > '9')
    return PACER_EINVAL;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0 || v > 30ull * 24 * 3600)
    return PACER_EINVAL;
  *out = (uint64_t)v;
  return 0;
}

int
pacer_cmd_submit(int argc, char **argv)
{
  struct pacer_config cfg;
  struct pacer_error err;
  struct pacer_submit_stats stats;
  struct pacer_progress progress;
  struct pacer_idset *ids = NULL;
  redisContext *c = NULL;
  FILE *in = NULL;
  const char *config_path = NULL, *redis_url = NULL, *file = NULL;
  const char *timeout_arg = NULL, *path, *out_path = NULL;
  const char *format = "jsonl";
  enum pacer_run_format fmt = PACER_RUN_JSONL;
  FILE *out = NULL;
  char *results_key = NULL;
  struct results_pos pos;
  struct pacer_run_tally tally;
  uint64_t timeout_s = 0, start_mono_ms;
  int wait = 0, status = EXIT_USAGE, rc, i, only_files = 0;

  memset(&cfg, 0, sizeof(cfg));
  memset(&tally, 0, sizeof(tally));
  pacer_error_clear(&err);
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (only_files || strcmp(arg, "-") == 0 || arg[0] != '-') {
      if (file != NULL) {
        fprintf(stderr, "submit: %s: only one FILE.jsonl is accepted\n", arg);
        return EXIT_USAGE;
      }
      file = arg;
    } else if (strcmp(arg, "--") == 0) {
      only_files = 1;
    } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(arg, "--wait") == 0) {
      wait = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--config",
                                         &config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis", &redis_url,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--timeout",
                                         &timeout_arg, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--out", &out_path,
                                         &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--format", &format,
                                         &err)) != 0) {
      if (rc < 0) {
        fprintf(stderr, "submit: %s\n", err.msg);
        usage(stderr);
        return EXIT_USAGE;
      }
    } else {
      fprintf(stderr, "submit: %s: unknown option\n", arg);
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  if (file == NULL) {
    fprintf(stderr, "submit: FILE.jsonl: missing (use - for stdin)\n");
    usage(stderr);
    return EXIT_USAGE;
  }
  if (timeout_arg != NULL) {
    if (parse_seconds(timeout_arg, &timeout_s) != 0) {
      fprintf(stderr,
              "submit: --timeout: \"%s\" is not a whole number of seconds "
              "between 1 and 2592000\n",
              timeout_arg);
      return EXIT_USAGE;
    }
    wait = 1;
  }
  if (pacer_run_format_parse(format, &fmt, &err) != 0) {
    fprintf(stderr, "submit: %s\n", err.msg);
    return EXIT_USAGE;
  }
  if (out_path != NULL)
    wait = 1;

  if (pacer_cli_config_load(&cfg, config_path, redis_url, &err) != 0) {
    fprintf(stderr, "submit: %s\n", err.msg);
    goto out;
  }
  if (strcmp(file, "-") == 0) {
    in = stdin;
    path = "<stdin>";
  } else {
    in = fopen(file, "r");
    path = file;
    if (in == NULL) {
      char reason[128];

      errno_text(errno, reason, sizeof(reason));
      fprintf(stderr, "submit: %s: %s\n", file, reason);
      goto out;
    }
  }
  if (out_path != NULL) {
    out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
    if (out == NULL) {
      char reason[128];

      errno_text(errno, reason, sizeof(reason));
      fprintf(stderr, "submit: --out %s: cannot write: %s\n", out_path, reason);
      goto out;
    }
    if (fmt == PACER_RUN_CSV)
      fprintf(out, "%s\r\n", pacer_result_csv_header());
  }
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL) {
    fprintf(stderr, "submit: %s\n", err.msg);
    goto out;
  }

  start_mono_ms = pacer_clock_mono_ms();
  if (wait) {
    results_key = pacer_results_key_new(cfg.prefix);
    ids = pacer_idset_new(1024);
    if (results_key == NULL || ids == NULL) {
      fprintf(stderr, "submit: out of memory\n");
      goto out;
    }
    /* Before the first XADD, so no result of this batch can be missed. */
    if (results_start(c, results_key, &pos, &err) != 0) {
      fprintf(stderr, "submit: %s\n", err.msg);
      goto out;
    }
  }

  rc = pacer_submit_stream(c, &cfg, in, path, ids, &stats, &err);
  if (rc != 0) {
    fprintf(stderr, "submit: %s (%zu job(s) were queued before this)\n",
            err.msg, stats.queued);
    goto out;
  }
  fprintf(stderr, "submit: queued %zu job(s), rejected %zu\n", stats.queued,
          stats.rejected);
  if (stats.queued > 0) {
    /* What a failover may lose: docs/REDIS.md "Sentinel". */
    long long nrep, acked;
    uint32_t wait_ms =
        cfg.connect_timeout_ms > 0 ? cfg.connect_timeout_ms / 2 : 5000;

    if (pacer_redis_sync_wait_replicas(c, wait_ms > 5000 ? 5000 : wait_ms,
                                       &nrep, &acked) == 0 &&
        acked < nrep)
      fprintf(stderr,
              "submit: warning: %lld of %lld replica(s) have the jobs after "
              "WAIT; a failover now may lose them (docs/REDIS.md)\n",
              acked, nrep);
  }
  if (stats.finished > 0)
    fprintf(stderr,
            "submit: %zu job(s) not queued: their id already finished ok "
            "within done_ttl_ms (%" PRIu64 " ms; see docs/REDIS.md)\n",
            stats.finished, cfg.done_ttl_ms);
  status = stats.rejected > 0 ? EXIT_SOME_FAILED : EXIT_ALL_OK;
  if (!wait || stats.queued == 0)
    goto out;

  {
    uint32_t block_ms = BLOCK_MS;
    uint64_t lost = 0;
    uint64_t deadline = timeout_s > 0 ? start_mono_ms + timeout_s * 1000 : 0;

    /* BLOCK must end well within the per-command socket timeout. */
    if (cfg.connect_timeout_ms > 0 && cfg.connect_timeout_ms < 2 * BLOCK_MS)
      block_ms =
          cfg.connect_timeout_ms / 2 > 0 ? cfg.connect_timeout_ms / 2 : 1;
    pacer_progress_start(&progress, pacer_idset_count(ids), start_mono_ms);
    rc = follow_results(&c, &cfg, results_key, &pos, ids, &progress, block_ms,
                        deadline, &lost, out, fmt, &tally, &err);
    if (rc == PACER_ENOTFOUND) {
      /* Those ids can never be counted: waiting on would never end. */
      break_bar(&progress);
      fprintf(stderr,
              "submit: stopped waiting: %zu of %zu job(s) unaccounted for "
              "(read so far: ok %zu, failed %zu): %" PRIu64 " result(s) "
              "were trimmed from %s before they were read; raise "
              "results_maxlen in the workers' config, or read results by id "
              "from the stream sooner\n",
              pacer_idset_count(ids), progress.total, progress.ok,
              progress.failed, lost, results_key);
      status = EXIT_TRIMMED;
      goto out;
    }
    if (rc != 0 && rc != PACER_ETIMEDOUT) {
      /* No "done:" line: the batch did not finish, it was lost sight of. */
      break_bar(&progress);
      fprintf(stderr,
              "submit: %s\n"
              "submit: stopped waiting: %zu of %zu job(s) still unfinished "
              "(ok %zu, failed %zu so far; they stay queued; check `pacer "
              "stats`)\n",
              err.msg, pacer_idset_count(ids), progress.total, progress.ok,
              progress.failed);
      status = EXIT_USAGE;
      goto out;
    }
    pacer_progress_finish(&progress, pacer_clock_mono_ms());
    pacer_run_print_tally(stdout, &tally, pacer_clock_mono_ms() - start_mono_ms,
                          stats.rejected);
    if (rc == PACER_ETIMEDOUT) {
      fprintf(stderr,
              "submit: --timeout %" PRIu64 " s expired: %zu of %zu job(s) "
              "still unfinished (they stay queued; check `pacer stats`)\n",
              timeout_s, pacer_idset_count(ids), progress.total);
      status = EXIT_TIMEOUT;
    } else if (progress.failed > 0) {
      status = EXIT_SOME_FAILED;
    }
  }

out:
  if (out != NULL && out != stdout && fclose(out) != 0) {
    fprintf(stderr, "submit: --out %s: write failed\n", out_path);
    status = EXIT_USAGE;
  }
  if (in != NULL && in != stdin)
    fclose(in);
  if (c != NULL)
    redisFree(c);
  pacer_idset_free(ids);
  free(results_key);
  pacer_config_free(&cfg);
  return status;
}
