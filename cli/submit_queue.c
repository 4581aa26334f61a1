/* `pacer submit` and `pacer run`: queueing JSONL jobs into the intake
 * stream of their priority (pacer_submit_stream, cli/cmd.h).
 *
 *   FILE.jsonl --getline--> pacer_job_parse --ok--> pacer_submit_append
 *                                  |              (store/submit.h: XADD,
 *                                  |              pipelined, 256 a round)
 *                                  \--reject--> stderr "PATH:LINE: msg"
 */
#include "cli/cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "core/job.h"
#include "store/submit.h"

#define BATCH_JOBS      256                 /* XADDs per pipeline round */
#define BATCH_MAX_BYTES (16u * 1024 * 1024) /* job text per round, bytes */
#define RAND_HEX_LEN    8                   /* hex digits in generated ids */

/* ------------------------------------------------------------------------
 * Queueing
 * ------------------------------------------------------------------------ */

/* One pipeline round: the ids whose XADD replies are outstanding, kept so
 * that only jobs Redis accepted go into the id set. */
struct batch {
  char ids[BATCH_JOBS][PACER_JOB_ID_MAX + 1];
  size_t n;     /* commands appended, not yet answered */
  size_t bytes; /* job text appended this round, bytes */
};

static void
errno_text(int errnum, char *buf, size_t size)
{
  if (strerror_r(errnum, buf, size) != 0)
    snprintf(buf, size, "error %d", errnum);
}

/* Fills hex with RAND_HEX_LEN random hex digits and a NUL. */
static int
random_hex(char *hex, struct pacer_error *err)
{
  unsigned char b[RAND_HEX_LEN / 2];
  size_t got = 0, i;

  while (got < sizeof(b)) {
    ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  if (got < sizeof(b)) { /* old kernel without getrandom(2) */
    FILE *f = fopen("/dev/urandom", "rb");

    if (f == NULL || fread(b, 1, sizeof(b), f) != sizeof(b)) {
      char reason[128];

      errno_text(errno, reason, sizeof(reason));
      if (f != NULL)
        fclose(f);
      return pacer_error_set(err, PACER_EIO, "random id: /dev/urandom: %s",
                             reason);
    }
    fclose(f);
  }
  for (i = 0; i < sizeof(b); i++)
    snprintf(hex + 2 * i, 3, "%02x", b[i]);
  return 0;
}

/* Reads the replies of the round; adds the accepted ids to ids. Returns 0,
 * or PACER_EREDIS for an I/O failure (the context is then unusable) or the
 * first error reply (the remaining replies are still read and counted). */
static int
flush(redisContext *c, struct batch *b, struct pacer_idset *ids,
      struct pacer_submit_stats *stats, size_t *dup_ids,
      struct pacer_error *err)
{
  int rc = 0;
  size_t i;

  for (i = 0; i < b->n; i++) {
    struct pacer_error rerr;
    int r;

    pacer_error_clear(&rerr);
    r = pacer_submit_reply(c, &rerr);
    if (r == PACER_EIO) {
      b->n = 0;
      return pacer_error_set(err, PACER_EREDIS, "%s", rerr.msg);
    }
    if (r < 0) {
      if (rc == 0)
        rc = pacer_error_set(err, r, "%s", rerr.msg);
    } else if (r == 0) {
      stats->finished++; /* the id already finished: not queued */
    } else {
      stats->queued++;
      if (ids != NULL) {
        int added = pacer_idset_add(ids, b->ids[i]);

        if (added < 0 && rc == 0)
          rc = pacer_error_set(err, added, "submit: id set: %s",
                               pacer_strerror(added));
        else if (added == 0)
          (*dup_ids)++;
      }
    }
  }
  b->n = 0;
  b->bytes = 0;
  return rc;
}

/* True when line[0..len) is only white space or a '#' comment. */
static int
is_skipped(const char *line, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++) {
    if (line[i] == '#')
      return 1;
    if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
      return 0;
  }
  return 1;
}

int
pacer_submit_stream(redisContext *c, const struct pacer_config *cfg, FILE *in,
                    const char *path, struct pacer_idset *ids,
                    struct pacer_submit_stats *stats, struct pacer_error *err)
{
  struct pacer_job_limits limits;
  struct batch *b = NULL;
  char *line = NULL;
  char rnd[RAND_HEX_LEN + 1];
  size_t cap = 0, lineno = 0, dup_ids = 0;
  ssize_t got;
  int rc, read_errno = 0;

  memset(stats, 0, sizeof(*stats));
  pacer_job_limits_default(&limits);
  if (cfg->job_max_bytes > 0)
    limits.max_bytes = cfg->job_max_bytes;
  if (cfg->default_timeout_ms > 0)
    limits.default_timeout_ms = cfg->default_timeout_ms;

  /* One random part per run; the line number makes each id unique in it. */
  rc = random_hex(rnd, err);
  if (rc != 0)
    return rc;
  b = calloc(1, sizeof(*b));
  if (b == NULL) {
    rc = pacer_error_set(err, PACER_ENOMEM, "submit: out of memory");
    goto fail;
  }

  for (;;) {
    struct pacer_job *job = NULL;
    struct pacer_submit_job sj;
    struct pacer_error jerr;
    char gen_id[PACER_JOB_ID_MAX + 1];
    size_t len;

    errno = 0;
    got = getline(&line, &cap, in);
    if (got < 0) {
      read_errno = errno; /* 0 at end of file */
      break;
    }
    len = (size_t)got;
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      len--;
    if (is_skipped(line, len))
      continue;
    stats->lines++;

    snprintf(gen_id, sizeof(gen_id), "%s-%zu", rnd, lineno);
    pacer_error_clear(&jerr);
    if (pacer_job_parse(line, len, gen_id, &limits, &job, &jerr) != 0) {
      if (jerr.code == PACER_ENOMEM) {
        rc = pacer_error_set(err, PACER_ENOMEM, "%s:%zu: out of memory", path,
                             lineno);
        goto fail;
      }
      fprintf(stderr, "%s:%zu: %s\n", path, lineno, jerr.msg);
      stats->rejected++;
      continue;
    }

    /* The job's priority picks its intake stream (docs/REDIS.md). */
    sj.priority = (int)job->priority;
    sj.job_id = job->id;
    sj.text = line;
    sj.len = len;
    /* REDIS.md: `id` is sent only when the JSON has none. */
    sj.gen_id = strcmp(job->id, gen_id) == 0 ? gen_id : NULL;
    snprintf(b->ids[b->n], sizeof(b->ids[b->n]), "%s", job->id);
    rc = pacer_submit_append(c, cfg->prefix, cfg->done_ttl_ms, &sj, err);
    pacer_job_free(job);
    if (rc != 0)
      goto fail;
    b->n++;
    b->bytes += len;
    if (b->n == BATCH_JOBS || b->bytes >= BATCH_MAX_BYTES) {
      rc = flush(c, b, ids, stats, &dup_ids, err);
      if (rc != 0)
        goto fail;
    }
  }
  if (ferror(in) || read_errno == ENOMEM) {
    char reason[128];

    errno_text(read_errno != 0 ? read_errno : EIO, reason, sizeof(reason));
    rc = pacer_error_set(err, PACER_EIO, "%s: read: %s", path, reason);
    /* Count what Redis took before the read failed; rc already says why
     * we stop. */
    (void)flush(c, b, ids, stats, &dup_ids, NULL);
    goto fail;
  }
  rc = flush(c, b, ids, stats, &dup_ids, err);
  if (rc != 0)
    goto fail;
  if (dup_ids > 0)
    fprintf(stderr,
            "%s: %zu job(s) reuse an id from earlier in this batch; --wait "
            "counts each id once\n",
            path, dup_ids);

fail:
  free(line);
  free(b);
  return rc;
}
