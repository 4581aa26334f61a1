/* `pacer run --merge` (cli/run_merge.h). */
#include "cli/run_merge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/json_pointer.h"
#include "store/results.h"

struct merge_ctx {
  cJSON *ptrs; /* object: first job id -> items pointer */
  FILE *out;
  size_t *items, *pages;
  struct pacer_error *err;
};

static const struct pacer_results_field *
field(const struct pacer_results_field *f, size_t n, const char *name)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0)
      return &f[i];
  return NULL;
}

/* One results entry: a page of a chain we merge (a
 * pacer_results_entry_cb). */
static int
merge_entry(void *arg, const char *entry_id,
            const struct pacer_results_field *f, size_t nfields)
{
  struct merge_ctx *m = arg;
  const struct pacer_results_field *parent = field(f, nfields, "parent");
  const struct pacer_results_field *id = field(f, nfields, "id");
  const struct pacer_results_field *body = field(f, nfields, "body");
  const struct pacer_results_field *cut = field(f, nfields, "body_truncated");
  const struct pacer_results_field *state = field(f, nfields, "state");
  const cJSON *ptr, *arr, *it;
  cJSON *doc;

  (void)entry_id;
  if (parent == NULL || id == NULL || body == NULL)
    return 0;
  ptr = cJSON_GetObjectItemCaseSensitive(m->ptrs, parent->value);
  if (!cJSON_IsString(ptr) ||
      (state != NULL && strcmp(state->value, "ok") != 0))
    return 0;
  if (cut != NULL && strcmp(cut->value, "1") == 0)
    return pacer_error_set(m->err, PACER_EINVAL,
                           "--merge: %s: the body was cut at "
                           "result_body_max_bytes",
                           id->value);
  doc = cJSON_ParseWithLength(body->value, body->value_len);
  arr = doc != NULL ? pacer_json_pointer_get(doc, ptr->valuestring) : NULL;
  if (!cJSON_IsArray(arr)) {
    cJSON_Delete(doc);
    return 0; /* a page without items (the chain counted 0) */
  }
  cJSON_ArrayForEach(it, arr)
  {
    char *line = cJSON_PrintUnformatted(it);

    if (line == NULL) {
      cJSON_Delete(doc);
      return pacer_error_set(m->err, PACER_ENOMEM, "--merge: out of memory");
    }
    fputs(line, m->out);
    fputc('\n', m->out);
    cJSON_free(line);
    (*m->items)++;
  }
  (*m->pages)++;
  cJSON_Delete(doc);
  return 0;
}

int
pacer_run_merge(redisContext *c, const char *key, const char *after, FILE *in,
                FILE *out, size_t *items, size_t *pages,
                struct pacer_error *err)
{
  struct merge_ctx m = {NULL, out, items, pages, err};
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc;

  *items = *pages = 0;
  m.ptrs = cJSON_CreateObject();
  if (m.ptrs == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "--merge: out of memory");
  rewind(in);
  while ((n = getline(&line, &cap, in)) > 0) {
    cJSON *job = cJSON_ParseWithLength(line, (size_t)n);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(job, "id");
    const cJSON *pg = cJSON_GetObjectItemCaseSensitive(job, "paginate");
    const cJSON *ptr = cJSON_GetObjectItemCaseSensitive(pg, "items");

    if (cJSON_IsString(id) && cJSON_IsString(ptr))
      cJSON_AddStringToObject(m.ptrs, id->valuestring, ptr->valuestring);
    cJSON_Delete(job);
  }
  free(line);
  rc = pacer_results_range(c, key, after, merge_entry, &m, err);
  cJSON_Delete(m.ptrs);
  return rc;
}

int
pacer_run_merge_open(const char *path, FILE *in, FILE **merged,
                     struct pacer_config *cfg)
{
  char reason[128];

  *merged = NULL;
  if (path == NULL)
    return 0;
  if (in == stdin) {
    fprintf(stderr, "run: --merge needs FILE.jsonl, not standard input\n");
    return -1;
  }
  *merged = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
  if (*merged == NULL) {
    if (strerror_r(errno, reason, sizeof(reason)) != 0)
      snprintf(reason, sizeof(reason), "error %d", errno);
    fprintf(stderr, "run: --merge %s: cannot write: %s\n", path, reason);
    return -1;
  }
  /* whole pages, so the items can be read back */
  cfg->result_body_max_bytes = cfg->response_max_bytes;
  return 0;
}

int
pacer_run_merge_finish(redisContext *c, const char *key, const char *after,
                       FILE *in, FILE *merged, const char *path)
{
  struct pacer_error err;
  size_t items = 0, pages = 0;
  char reason[128];

  if (pacer_run_merge(c, key, after, in, merged, &items, &pages, &err) != 0) {
    fprintf(stderr, "run: %s\n", err.msg);
    return -1;
  }
  if (fflush(merged) != 0 || ferror(merged)) {
    if (strerror_r(errno, reason, sizeof(reason)) != 0)
      snprintf(reason, sizeof(reason), "error %d", errno);
    fprintf(stderr, "run: --merge %s: write failed: %s\n", path, reason);
    return -1;
  }
  fprintf(stderr, "run: merged %zu item(s) of %zu page(s) into %s\n", items,
          pages, strcmp(path, "-") == 0 ? "stdout" : path);
  return 0;
}
