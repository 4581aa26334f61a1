/* `pacer run`'s report: results as JSON lines and the summary figures.
 * See run_report.h. */
#include "cli/run_report.h"
#include "cli/run_bodies.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "core/progress.h"
#include "core/result_fmt.h"
#include "store/results.h"

/* ------------------------------------------------------------------ */
/* Results -> JSON lines or CSV rows */

/* True when the field name n (len bytes) is exactly name (len counts, so
 * a name with a NUL byte never matches a shorter name). */
static int
is_field(const char *n, size_t len, const char *name)
{
  return len == strlen(name) && memcmp(n, name, len) == 0;
}

int
pacer_run_format_parse(const char *s, enum pacer_run_format *fmt,
                       struct pacer_error *err)
{
  if (strcmp(s, "jsonl") == 0 || strcmp(s, "json") == 0)
    *fmt = PACER_RUN_JSONL;
  else if (strcmp(s, "csv") == 0)
    *fmt = PACER_RUN_CSV;
  else
    return pacer_error_set(err, PACER_EINVAL,
                           "--format: \"%s\" is not a format; use jsonl or "
                           "csv",
                           s);
  return 0;
}

int
pacer_run_write_line(FILE *out, enum pacer_run_format fmt,
                     const struct pacer_results_field *f, size_t nfields)
{
  struct pacer_result_field stack[64] = {{0}}, *cf = stack;
  char *line;
  size_t i;

  if (fmt != PACER_RUN_CSV) {
    line = pacer_run_entry_json(f, nfields);
    if (line == NULL)
      return PACER_ENOMEM;
    fputs(line, out);
    fputc('\n', out);
    cJSON_free(line);
    return 0;
  }
  if (nfields > 64 && (cf = malloc(nfields * sizeof(*cf))) == NULL)
    return PACER_ENOMEM;
  for (i = 0; i < nfields; i++) {
    cf[i].name = f[i].name;
    cf[i].name_len = f[i].name_len;
    cf[i].value = f[i].value;
    cf[i].value_len = f[i].value_len;
  }
  line = pacer_result_csv(cf, nfields);
  if (cf != stack)
    free(cf);
  if (line == NULL)
    return PACER_ENOMEM;
  fputs(line, out);
  fputs("\r\n", out); /* RFC 4180 §2 */
  free(line);
  return 0;
}

char *
pacer_run_entry_json(const struct pacer_results_field *f, size_t nfields)
{
  struct pacer_result_field stack[64] = {{0}}, *cf = stack;
  char *line;
  size_t i;

  if (nfields > 64 && (cf = malloc(nfields * sizeof(*cf))) == NULL)
    return NULL;
  for (i = 0; i < nfields; i++) {
    cf[i].name = f[i].name;
    cf[i].name_len = f[i].name_len;
    cf[i].value = f[i].value;
    cf[i].value_len = f[i].value_len;
  }
  line = pacer_result_json(cf, nfields);
  if (cf != stack)
    free(cf);
  return line;
}

/* Counts one exported result into t: its 429s, retries and, when it did
 * not end ok, its reason. */
void
pacer_run_tally_result(struct pacer_run_tally *t,
                       const struct pacer_results_field *f, size_t nfields)
{
  const char *state = NULL, *reason = NULL;
  size_t j, k;

  t->results++;
  for (j = 0; j < nfields; j++) {
    const char *n = f[j].name, *v = f[j].value;
    size_t nl = f[j].name_len;

    if (is_field(n, nl, "state"))
      state = v;
    else if (is_field(n, nl, "reason"))
      reason = v;
    else if (is_field(n, nl, "throttled"))
      t->throttled += strtoull(v, NULL, 10);
    else if (is_field(n, nl, "wait_ms"))
      t->wait_ms += strtoull(v, NULL, 10);
    else if (is_field(n, nl, "attempts") && strtoull(v, NULL, 10) > 1)
      t->retried += strtoull(v, NULL, 10) - 1;
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
  if (t->nreasons == PACER_RUN_REASONS_MAX) {
    t->reasons_other++;
    return;
  }
  snprintf(t->reasons[t->nreasons].reason, sizeof(t->reasons[0].reason), "%s",
           reason);
  t->reasons[t->nreasons++].n = 1;
}

/* What write_results writes into, for each entry read. */
struct write_ctx {
  struct pacer_idset *want;
  struct pacer_idset *done_ids; /* ids of this batch written */
  FILE *out;
  size_t *written;
  struct pacer_run_tally *tally;
  struct pacer_error *err;
  const char *out_dir; /* --out-dir: large bodies to files, or NULL */
  enum pacer_run_format fmt;
};

/* Is id in set? (idset has no lookup of its own: remove and put back.) */
static int
has(struct pacer_idset *set, const char *id)
{
  if (pacer_idset_remove(set, id) != 1)
    return 0;
  return pacer_idset_add(set, id) >= 0;
}

static int
page_failed(const struct pacer_results_field *f, size_t nfields)
{
  size_t j;

  for (j = 0; j < nfields; j++)
    if (is_field(f[j].name, f[j].name_len, "state"))
      return strcmp(f[j].value, "ok") != 0;
  return 0;
}

/* Writes one results entry of this batch as a JSON line (a
 * pacer_results_entry_cb). */
static int
write_entry(void *arg, const char *entry_id,
            const struct pacer_results_field *f, size_t nfields)
{
  struct write_ctx *wc = arg;
  const char *id = NULL, *parent = NULL;
  size_t j;
  int r;

  (void)entry_id;
  for (j = 0; j < nfields; j++) {
    if (is_field(f[j].name, f[j].name_len, "id"))
      id = f[j].value;
    else if (is_field(f[j].name, f[j].name_len, "parent"))
      parent = f[j].value;
  }
  if (parent != NULL) {
    /* A page of a chain of this batch (docs/CHAINS.md): written with its
     * chain, whose summary (under the first job's id) comes before the
     * last page; its failure is counted once, by the summary. */
    if (!has(wc->want, parent) && !has(wc->done_ids, parent))
      return 0;
    if (!page_failed(f, nfields))
      pacer_run_tally_result(wc->tally, f, nfields);
  } else {
    /* One line per job of this batch (first result wins). */
    if (id == NULL || pacer_idset_remove(wc->want, id) != 1)
      return 0;
    if (pacer_idset_add(wc->done_ids, id) < 0)
      return pacer_error_set(wc->err, PACER_ENOMEM, "results: out of memory");
    pacer_run_tally_result(wc->tally, f, nfields);
  }
  if (wc->out_dir != NULL) {
    struct pacer_results_field moved[64];
    char path[4096];
    size_t nm = 0;

    r = nfields < 64 ? pacer_run_body_to_file(wc->out_dir, f, nfields, moved,
                                              &nm, path, sizeof(path), wc->err)
                     : 0;

    if (r < 0)
      return r;
    r = r == 1 ? pacer_run_write_line(wc->out, wc->fmt, moved, nm)
               : pacer_run_write_line(wc->out, wc->fmt, f, nfields);
  } else {
    r = pacer_run_write_line(wc->out, wc->fmt, f, nfields);
  }
  if (r != 0)
    return pacer_error_set(wc->err, PACER_ENOMEM, "results: out of memory");
  (*wc->written)++;
  return 0;
}

int
pacer_run_write_results(redisContext *c, const char *key, const char *after,
                        struct pacer_idset *want, FILE *out,
                        const char *out_dir, enum pacer_run_format fmt,
                        size_t *written, struct pacer_run_tally *tally,
                        struct pacer_error *err)
{
  struct write_ctx wc = {want, NULL, out, written, tally, err, out_dir, fmt};
  int rc;

  *written = 0;
  if (fmt == PACER_RUN_CSV)
    fprintf(out, "%s\r\n", pacer_result_csv_header());
  wc.done_ids = pacer_idset_new(pacer_idset_count(want) + 16);
  if (wc.done_ids == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "results: out of memory");
  rc = pacer_results_range(c, key, after, write_entry, &wc, err);
  pacer_idset_free(wc.done_ids);
  return rc;
}

double
pacer_run_json_num(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

  return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

const char *
pacer_run_json_str(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

  return cJSON_IsString(v) ? v->valuestring : "";
}

static void
snap_buckets(struct pacer_run_tally *t, const cJSON *buckets)
{
  const cJSON *b;

  t->buckets_total = 0;
  cJSON_ArrayForEach(b, buckets)
  {
    const char *key = pacer_run_json_str(b, "bucket");
    struct pacer_run_bucket *rb = NULL;
    size_t i;

    t->buckets_total++;
    for (i = 0; i < t->nbuckets; i++) {
      if (strcmp(t->buckets[i].bucket, key) == 0)
        rb = &t->buckets[i];
    }
    if (rb == NULL) {
      if (t->nbuckets == PACER_RUN_BUCKETS_MAX)
        continue;
      rb = &t->buckets[t->nbuckets++];
      snprintf(rb->bucket, sizeof(rb->bucket), "%s", key);
      snprintf(rb->limit, sizeof(rb->limit), "%s",
               pacer_run_json_str(b, "limit"));
    }
    rb->limit_per_s = pacer_run_json_num(b, "rate_per_s");
    rb->requests = (uint64_t)pacer_run_json_num(b, "requests");
    rb->throttled = (uint64_t)pacer_run_json_num(b, "throttled");
    rb->pauses = (uint64_t)pacer_run_json_num(b, "pauses");
    if (pacer_run_json_num(b, "send_per_s") > rb->send_max_per_s)
      rb->send_max_per_s = pacer_run_json_num(b, "send_per_s");
  }
}

static void
snap_creds(struct pacer_run_tally *t, const cJSON *creds)
{
  const cJSON *c;

  t->ncreds = 0;
  cJSON_ArrayForEach(c, creds)
  {
    struct pacer_run_cred *rc;

    if (t->ncreds == PACER_RUN_CREDS_MAX)
      break;
    rc = &t->creds[t->ncreds++];
    snprintf(rc->name, sizeof(rc->name), "%s", pacer_run_json_str(c, "name"));
    rc->refresh_ok = (uint64_t)pacer_run_json_num(c, "refresh_ok");
    rc->refresh_failed = (uint64_t)pacer_run_json_num(c, "refresh_failed");
    rc->refresh_refused = (uint64_t)pacer_run_json_num(c, "refresh_refused");
  }
}

size_t
pacer_run_progress_snapshot(struct pacer_progress *p, const cJSON *state,
                            uint64_t now_mono_ms, char *note, size_t size)
{
  struct pacer_progress_bucket b[PACER_RUN_BUCKETS_MAX];
  const cJSON *proc = cJSON_GetObjectItemCaseSensitive(state, "process");
  const cJSON *o;
  struct pacer_progress_in in;
  uint64_t done = (uint64_t)p->ok + p->failed, eta = 0;
  size_t n = 0, paused = 0;
  int known;

  cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(state, "buckets"))
  {
    if (n == PACER_RUN_BUCKETS_MAX)
      break;
    b[n].name = pacer_run_json_str(o, "bucket");
    b[n].rate_per_s = pacer_run_json_num(o, "effective_per_s");
    b[n].jobs = (uint64_t)(pacer_run_json_num(o, "queued") +
                           pacer_run_json_num(o, "in_flight") +
                           pacer_run_json_num(o, "deferred"));
    b[n].paused_ms = (uint64_t)pacer_run_json_num(o, "paused_ms");
    b[n].pause_reason = pacer_run_json_str(o, "pause_reason");
    n++;
  }
  memset(&in, 0, sizeof(in));
  in.remaining = p->total > done ? p->total - done : 0;
  in.done = done;
  in.elapsed_ms =
      now_mono_ms > p->start_mono_ms ? now_mono_ms - p->start_mono_ms : 1;
  in.held = (uint64_t)pacer_run_json_num(proc, "held");
  in.buckets = b;
  in.nbuckets = n;
  known = pacer_progress_eta_ms(&in, &eta);
  pacer_progress_set_eta(p, known, eta, now_mono_ms);
  p->throttled = (uint64_t)pacer_run_json_num(proc, "throttled");
  paused = pacer_progress_pause_note(b, n, note, size);
  return paused;
}

void
pacer_run_tally_snapshot(struct pacer_run_tally *t, const cJSON *state)
{
  t->snapshots++;
  snap_buckets(t, cJSON_GetObjectItemCaseSensitive(state, "buckets"));
  snap_creds(t, cJSON_GetObjectItemCaseSensitive(state, "credentials"));
}

/* The summary's figures beyond "done:", on out. wall_ms: the batch's
 * time, for the average rates. */
void
pacer_run_print_tally(FILE *out, const struct pacer_run_tally *t,
                      uint64_t wall_ms, size_t rejected)
{
  double wall_s = wall_ms > 0 ? (double)wall_ms / 1000.0 : 0.001;
  uint64_t pauses = 0;
  char d[32];
  size_t i, shown = 0;

  if (t->nbuckets > 0) {
    fprintf(out,
            "limits: requests per limit bucket over the %.1f s run (PEAK: "
            "the highest 5 s send rate)\n",
            wall_s);
    fprintf(out, "  %-8s %-24s %8s %9s %9s %9s %6s\n", "LIMIT", "BUCKET",
            "REQUESTS", "AVG/S", "PEAK/S", "LIMIT/S", "429S");
    for (i = 0; i < t->nbuckets; i++) {
      const struct pacer_run_bucket *b = &t->buckets[i];

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
  for (i = 0; i < t->nbuckets; i++)
    pauses += t->buckets[i].pauses;
  if (t->snapshots > 0) {
    fprintf(out, "pauses: %" PRIu64, pauses);
    for (i = 0; i < t->nbuckets; i++)
      if (t->buckets[i].pauses > 0)
        fprintf(out, "%s%s %" PRIu64, shown++ > 0 ? ", " : " (",
                t->buckets[i].bucket, t->buckets[i].pauses);
    fputs(pauses > 0 ? ")\n" : "\n", out);
  }
  pacer_progress_duration(t->wait_ms, d, sizeof(d));
  fprintf(out,
          "waiting for limits: %s summed over %zu job(s) (%" PRIu64
          " ms a job on average)\n",
          d, t->results, t->results > 0 ? t->wait_ms / t->results : 0);
  fprintf(out, "retries after errors: %" PRIu64 "\n", t->retried);
  for (i = 0; i < t->ncreds; i++) {
    const struct pacer_run_cred *c = &t->creds[i];

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
