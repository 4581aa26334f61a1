/* What `pacer run` reports: the results exported as JSON lines, and the
 * summary's figures (limits and credentials from the scheduler's 1 s
 * snapshot, docs/METRICS.md; 429s, retries and failures by reason from the
 * results). Main thread of `pacer run`. */
#ifndef PACER_CLI_RUN_REPORT_H
#define PACER_CLI_RUN_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "cli/cmd.h"
#include "store/results.h"

/* What the run saw of one limit bucket, from the scheduler's 1 s snapshot
 * (the /api/state JSON of docs/METRICS.md). */
struct pacer_run_bucket {
  char bucket[80];       /* bucket key, e.g. "acct:act_1001" */
  char limit[40];        /* the limit's name */
  double limit_per_s;    /* configured rate, requests/s */
  uint64_t requests;     /* requests started on it */
  uint64_t throttled;    /* 429s charged to it */
  uint64_t pauses;       /* pauses of the bucket (by the upstream) */
  double send_max_per_s; /* highest 5 s send rate seen, requests/s */
};

#define PACER_RUN_BUCKETS_MAX 32 /* buckets listed in the summary */
#define PACER_RUN_CREDS_MAX   8  /* credentials listed in the summary */
#define PACER_RUN_REASONS_MAX 16 /* failure reasons counted */

struct pacer_run_cred {
  char name[64];
  uint64_t refresh_ok;      /* token endpoint answers with a new token */
  uint64_t refresh_failed;  /* failures that were retried */
  uint64_t refresh_refused; /* invalid_grant */
};

/* The run's figures for the summary: limits and credentials from the
 * snapshot, 429s and failures from the exported results. */
struct pacer_run_tally {
  struct pacer_run_bucket buckets[PACER_RUN_BUCKETS_MAX];
  size_t nbuckets;
  size_t buckets_total; /* buckets in the snapshot, listed or not */
  struct pacer_run_cred creds[PACER_RUN_CREDS_MAX];
  size_t ncreds;
  int snapshots;      /* snapshots received */
  uint64_t throttled; /* sum of the results' throttled */
  uint64_t retried;   /* attempts beyond the first, summed */
  uint64_t wait_ms;   /* the results' wait_ms (lane waits), summed */
  size_t results;     /* results counted */
  struct {
    char reason[40];
    size_t n;
  } reasons[PACER_RUN_REASONS_MAX];
  size_t nreasons;
  size_t reasons_other; /* failures past PACER_RUN_REASONS_MAX reasons */
};

/* How results are written: JSON lines, or CSV rows of the flat fields
 * (core/result_fmt.h). */
enum pacer_run_format { PACER_RUN_JSONL = 0, PACER_RUN_CSV };

/** Parses the value of --format (borrowed): "jsonl" or "json" (JSON
 *  lines), "csv". Returns 0 with *fmt set, or PACER_EINVAL with err set
 *  ("--format: ..."). */
int pacer_run_format_parse(const char *s, enum pacer_run_format *fmt,
                           struct pacer_error *err);

/** Writes the result entry f[0..nfields) (borrowed) to out (borrowed) as
 *  one line in fmt (core/result_fmt.h: a JSON object and "\n", or a CSV
 *  row and "\r\n"). Returns 0 or PACER_ENOMEM. */
int pacer_run_write_line(FILE *out, enum pacer_run_format fmt,
                         const struct pacer_results_field *f, size_t nfields);

/** Reads the results stream key (borrowed) after entry id after (borrowed)
 *  through store/results.h, and writes each entry whose id is in want
 *  (borrowed; removed from it) as one line in fmt to out (borrowed; a CSV
 *  header row first), first result per id only; counts it into tally.
 *  *written is set to the results written. With out_dir (borrowed, or
 *  NULL), bodies over PACER_RUN_BODY_FILE_MIN go to files there
 *  (cli/run_bodies.h). Returns 0, or a negative code with err set
 *  ("redis: ...", "results: out of memory"). */
int pacer_run_write_results(redisContext *c, const char *key, const char *after,
                            struct pacer_idset *want, FILE *out,
                            const char *out_dir, enum pacer_run_format fmt,
                            size_t *written, struct pacer_run_tally *tally,
                            struct pacer_error *err);

/** Converts one results entry (f, nfields, borrowed) to one line of JSON
 *  text, as `pacer run` writes it (core/result_fmt.h): "headers" and
 *  "meta" embedded as JSON, counts as numbers, "body_truncated" a
 *  boolean, a JSON body as "body_json", the rest strings.
 *  Returns owned text (free with cJSON_free), or NULL when out of
 *  memory. */
char *pacer_run_entry_json(const struct pacer_results_field *f, size_t nfields);

/** Counts one result entry f[0..nfields) (borrowed) into t: its 429s,
 *  retries, lane wait and, when it did not end ok, its reason. */
void pacer_run_tally_result(struct pacer_run_tally *t,
                            const struct pacer_results_field *f,
                            size_t nfields);

/** Takes the limit buckets and credentials of one /api/state snapshot
 *  (state, borrowed: docs/METRICS.md) into t, and counts the snapshot. */
void pacer_run_tally_snapshot(struct pacer_run_tally *t, const cJSON *state);

/** Updates the progress display p from one /api/state snapshot (state,
 *  borrowed: docs/METRICS.md) taken at now_mono_ms: the ETA from the
 *  buckets' rates and pauses (core/progress.h) and the 429 count; writes
 *  the pause note ("paused by upstream on acct:a1, 4 s left ...", or "")
 *  into note (size bytes). Returns the number of paused buckets. */
size_t pacer_run_progress_snapshot(struct pacer_progress *p, const cJSON *state,
                                   uint64_t now_mono_ms, char *note,
                                   size_t size);

/** Returns the number member name of JSON object o (borrowed), 0 when it
 *  is absent or not a number. */
double pacer_run_json_num(const cJSON *o, const char *name);

/** Returns the string member name of JSON object o (borrowed; the result
 *  is borrowed from o), "" when it is absent or not a string. */
const char *pacer_run_json_str(const cJSON *o, const char *name);

/** Prints the summary's figures beyond "done:" to out: requests per limit
 *  bucket against the limit (wall_ms, the batch's time in ms, gives the
 *  averages), 429s, pauses, time spent waiting for limits, retries, token
 *  refreshes per credential, failures by reason and the rejected line
 *  count. */
void pacer_run_print_tally(FILE *out, const struct pacer_run_tally *t,
                           uint64_t wall_ms, size_t rejected);

#endif
