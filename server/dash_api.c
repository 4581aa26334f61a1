/* The dashboard's actions and look-ups. See dash_api.h. */
#include "server/dash_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "common/clock.h"
#include "core/job.h"
#include "core/redis_url.h"
#include "store/cancel.h"
#include "store/control.h"
#include "store/dead.h"
#include "store/job_index.h"
#include "store/job_list.h"
#include "store/redis_sync.h"

#define IDS_MAX       1000  /* ids one request may name */
#define RETRY_ALL_MAX 10000 /* dead letters one "retry all" queues */
#define DEAD_LIST_MAX 100   /* dead letters GET /api/dead returns */
#define WAIT_SCAN_MAX 10000 /* jobs per state looked at for GET /api/job */
#define WAIT_ROWS_MAX 4     /* places one id is shown waiting in */
#define REQUEST_MAX   65536 /* bytes of a redacted request shown */
#define BUCKET_MAX    256   /* bytes of a bucket name */
#define PAUSE_MAX_MS                                                           \
  (30ull * 24 * 3600 * 1000) /* longest pause, ms: as                          \
                                 the CLI's --for */

struct pacer_dash_api {
  char *url; /* redis URL, may hold a password: wiped on free */
  char *prefix;
  uint32_t timeout_ms;
  redisContext *c; /* NULL until first use and after an error */
};

int
pacer_dash_api_new(const char *redis_url, const char *prefix,
                   uint32_t timeout_ms, struct pacer_dash_api **out,
                   struct pacer_error *err)
{
  struct pacer_dash_api *a = calloc(1, sizeof(*a));

  *out = NULL;
  if (a == NULL || (a->url = strdup(redis_url)) == NULL ||
      (a->prefix = strdup(prefix)) == NULL) {
    pacer_dash_api_free(a);
    return pacer_error_set(err, PACER_ENOMEM, "dashboard: out of memory");
  }
  a->timeout_ms = timeout_ms;
  *out = a;
  return 0;
}

void
pacer_dash_api_free(struct pacer_dash_api *a)
{
  if (a == NULL)
    return;
  if (a->c != NULL)
    redisFree(a->c);
  if (a->url != NULL)
    sodium_memzero(a->url, strlen(a->url));
  free(a->url);
  free(a->prefix);
  free(a);
}

/* The connection, opened when needed. NULL with err set. */
static redisContext *
conn(struct pacer_dash_api *a, struct pacer_error *err)
{
  struct pacer_redis_addr addr;

  if (a->c != NULL && a->c->err == 0)
    return a->c;
  if (a->c != NULL)
    redisFree(a->c);
  a->c = NULL;
  if (pacer_redis_addr_parse(a->url, &addr, err) == 0 &&
      pacer_redis_addr_route(&addr, a->prefix, err) == 0)
    a->c = pacer_redis_sync_connect(&addr, a->timeout_ms, err);
  sodium_memzero(addr.password, sizeof(addr.password));
  return a->c;
}

/* After a failed store call: a Redis error drops the connection. */
static void
failed(struct pacer_dash_api *a, int rc)
{
  if (rc == PACER_EREDIS && a->c != NULL) {
    redisFree(a->c);
    a->c = NULL;
  }
}

/* ------------------------------------------------------------------ */
/* Answers */

static cJSON *
error_obj(unsigned *status, unsigned code, const char *msg)
{
  cJSON *o = cJSON_CreateObject();

  *status = code;
  if (o != NULL)
    cJSON_AddStringToObject(o, "error", msg);
  return o;
}

static cJSON *
redis_error(struct pacer_dash_api *a, unsigned *status, int rc,
            const struct pacer_error *err)
{
  failed(a, rc);
  return error_obj(status, rc == PACER_ENOMEM ? 500 : 503, err->msg);
}

/* Adds the fields f[0..n) to o as strings. Returns 0 or -1. */
static int
add_fields(cJSON *o, const struct pacer_results_field *f, size_t n)
{
  char name[64];
  size_t i;

  for (i = 0; i < n; i++) {
    char *v = malloc(f[i].value_len + 1);

    if (v == NULL)
      return -1;
    memcpy(v, f[i].value, f[i].value_len);
    v[f[i].value_len] = '\0';
    snprintf(name, sizeof(name), "%.*s", (int)f[i].name_len, f[i].name);
    cJSON_DeleteItemFromObjectCaseSensitive(o, name);
    if (cJSON_AddStringToObject(o, name, v) == NULL) {
      free(v);
      return -1;
    }
    free(v);
  }
  return 0;
}

/* The ids of body {"ids":[...]}: *ids (owned array of borrowed strings
 * into root), or an error answer. */
static cJSON *
parse_ids(const cJSON *root, const char ***ids, size_t *n, unsigned *status)
{
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "ids"), *it;
  struct pacer_error perr;
  char msg[300];
  size_t k = 0;

  *ids = NULL;
  *n = 0;
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
    return error_obj(status, 400,
                     "body: give \"ids\": a non-empty array of job ids, or "
                     "\"all\": true");
  if (cJSON_GetArraySize(arr) > IDS_MAX)
    return error_obj(status, 400, "body: \"ids\": at most 1000 ids");
  *ids = calloc((size_t)cJSON_GetArraySize(arr), sizeof(**ids));
  if (*ids == NULL)
    return error_obj(status, 500, "out of memory");
  cJSON_ArrayForEach(it, arr)
  {
    if (!cJSON_IsString(it) || pacer_job_id_check(it->valuestring, &perr)) {
      snprintf(msg, sizeof(msg), "body: \"ids\"[%zu]: %s", k,
               cJSON_IsString(it) ? perr.msg : "not a string");
      free(*ids);
      *ids = NULL;
      return error_obj(status, 400, msg);
    }
    (*ids)[k++] = it->valuestring;
  }
  *n = k;
  return NULL;
}

static int
want_all(const cJSON *root)
{
  return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "all"));
}

/* ------------------------------------------------------------------ */
/* Dead letters */

struct collect {
  char **ids;
  size_t n, cap, max;
  cJSON *arr; /* GET /api/dead rows, or NULL */
  int more;
};

static int
field(const struct pacer_results_field *f, size_t n, const char *name,
      char *out, size_t size)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (strlen(name) == f[i].name_len &&
        memcmp(f[i].name, name, f[i].name_len) == 0) {
      snprintf(out, size, "%.*s", (int)f[i].value_len, f[i].value);
      return 1;
    }
  out[0] = '\0';
  return 0;
}

static int
collect_cb(void *arg, const char *entry_id, const struct pacer_results_field *f,
           size_t n, long long kept_ttl_ms)
{
  struct collect *cl = arg;
  char id[PACER_JOB_ID_MAX + 1];

  if (cl->n >= cl->max) {
    cl->more = 1;
    return 1;
  }
  if (cl->arr != NULL) {
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
      return PACER_ENOMEM;
    cJSON_AddItemToArray(cl->arr, o);
    if (cJSON_AddStringToObject(o, "entry", entry_id) == NULL ||
        add_fields(o, f, n) != 0)
      return PACER_ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "job"); /* shown by id */
    if (cJSON_AddNumberToObject(o, "kept_ttl_ms", (double)kept_ttl_ms) == NULL)
      return PACER_ENOMEM;
    cl->n++;
    return 0;
  }
  if (!field(f, n, "id", id, sizeof(id)) || id[0] == '\0')
    return 0;
  if (cl->n == cl->cap) {
    size_t cap = cl->cap ? cl->cap * 2 : 64;
    char **p = realloc(cl->ids, cap * sizeof(*p));

    if (p == NULL)
      return PACER_ENOMEM;
    cl->ids = p;
    cl->cap = cap;
  }
  if ((cl->ids[cl->n] = strdup(id)) == NULL)
    return PACER_ENOMEM;
  cl->n++;
  return 0;
}

static void
collect_free(struct collect *cl)
{
  size_t i;

  for (i = 0; i < cl->n && cl->ids != NULL; i++)
    free(cl->ids[i]);
  free(cl->ids);
}

static cJSON *
dead_list(struct pacer_dash_api *a, redisContext *c, unsigned *status)
{
  struct pacer_error err;
  struct collect cl;
  cJSON *o = cJSON_CreateObject();
  int rc;

  memset(&cl, 0, sizeof(cl));
  cl.max = DEAD_LIST_MAX;
  if (o == NULL || (cl.arr = cJSON_AddArrayToObject(o, "dead")) == NULL) {
    cJSON_Delete(o);
    return error_obj(status, 500, "out of memory");
  }
  pacer_error_clear(&err);
  rc = pacer_dead_list(c, a->prefix, 1, collect_cb, &cl, &err);
  if (rc < 0) {
    cJSON_Delete(o);
    if (rc == PACER_ENOMEM && err.msg[0] == '\0')
      pacer_error_set(&err, rc, "out of memory");
    return redis_error(a, status, rc, &err);
  }
  cJSON_AddBoolToObject(o, "more", cl.more);
  *status = 200;
  return o;
}

static cJSON *
dead_retry(struct pacer_dash_api *a, redisContext *c, const cJSON *root,
           unsigned *status)
{
  struct pacer_error err;
  struct collect cl;
  const char **ids = NULL;
  int *queued = NULL, rc = 0;
  size_t n = 0, i, q = 0;
  cJSON *o = NULL, *missing;

  memset(&cl, 0, sizeof(cl));
  pacer_error_clear(&err);
  if (want_all(root)) {
    cl.max = RETRY_ALL_MAX;
    rc = pacer_dead_list(c, a->prefix, 0, collect_cb, &cl, &err);
    if (rc < 0) {
      collect_free(&cl);
      return redis_error(a, status, rc, &err);
    }
    n = cl.n;
    ids = calloc(n + 1, sizeof(*ids));
    for (i = 0; ids != NULL && i < n; i++)
      ids[i] = cl.ids[i];
  } else if ((o = parse_ids(root, &ids, &n, status)) != NULL) {
    return o;
  }
  queued = calloc(n + 1, sizeof(*queued));
  if (ids == NULL || queued == NULL) {
    o = error_obj(status, 500, "out of memory");
    goto done;
  }
  if (n > 0 &&
      (rc = pacer_dead_retry(c, a->prefix, ids, n, queued, &err)) < 0) {
    o = redis_error(a, status, rc, &err);
    goto done;
  }
  o = cJSON_CreateObject();
  missing = o != NULL ? cJSON_AddArrayToObject(o, "not_kept") : NULL;
  for (i = 0; missing != NULL && i < n; i++) {
    if (queued[i])
      q++;
    else if (cJSON_GetArraySize(missing) < 100)
      cJSON_AddItemToArray(missing, cJSON_CreateString(ids[i]));
  }
  if (o != NULL) {
    cJSON_AddNumberToObject(o, "queued", (double)q);
    cJSON_AddBoolToObject(o, "more", cl.more); /* over RETRY_ALL_MAX */
  }
  *status = 200;
done:
  free(queued);
  free(ids);
  collect_free(&cl);
  return o;
}

static cJSON *
dead_delete(struct pacer_dash_api *a, redisContext *c, const cJSON *root,
            unsigned *status)
{
  struct pacer_error err;
  const char **ids = NULL;
  size_t n = 0, deleted = 0;
  long long letters = 0, kept = 0;
  cJSON *o;
  int rc;

  pacer_error_clear(&err);
  if (want_all(root)) {
    rc = pacer_dead_purge(c, a->prefix, &letters, &kept, &err);
    if (rc < 0)
      return redis_error(a, status, rc, &err);
    o = cJSON_CreateObject();
    if (o != NULL) {
      cJSON_AddNumberToObject(o, "deleted", (double)letters);
      cJSON_AddNumberToObject(o, "kept_deleted", (double)kept);
    }
    *status = 200;
    return o;
  }
  if ((o = parse_ids(root, &ids, &n, status)) != NULL)
    return o;
  rc = pacer_dead_delete(c, a->prefix, ids, n, &deleted, &err);
  free(ids);
  if (rc < 0)
    return redis_error(a, status, rc, &err);
  o = cJSON_CreateObject();
  if (o != NULL)
    cJSON_AddNumberToObject(o, "deleted", (double)deleted);
  *status = 200;
  return o;
}

/* ------------------------------------------------------------------ */
/* Cancel, pause, resume */

static cJSON *
cancel(struct pacer_dash_api *a, redisContext *c, const cJSON *root,
       unsigned *status)
{
  struct pacer_error err;
  const char **ids = NULL;
  size_t n = 0, i, moved, total = 0;
  int move = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "move")), rc;
  cJSON *o;

  pacer_error_clear(&err);
  if ((o = parse_ids(root, &ids, &n, status)) != NULL)
    return o;
  for (i = 0; i < n; i++) {
    rc = pacer_cancel_request(c, a->prefix, ids[i], move, &moved, &err);
    if (rc < 0) {
      free(ids);
      return redis_error(a, status, rc, &err);
    }
    total += moved;
  }
  free(ids);
  o = cJSON_CreateObject();
  if (o != NULL) {
    cJSON_AddNumberToObject(o, "asked", (double)n);
    cJSON_AddNumberToObject(o, "moved", (double)total);
  }
  *status = 200;
  return o;
}

struct each_bucket {
  struct pacer_dash_api *a;
  redisContext *c;
  int resume;
  uint64_t for_ms;
  size_t changed;
  struct pacer_error *err;
};

static int
bucket_cb(void *arg, const char *bucket)
{
  struct each_bucket *eb = arg;
  int rc;

  if (eb->resume) {
    rc = pacer_control_resume(eb->c, eb->a->prefix, bucket, eb->err);
    if (rc > 0)
      eb->changed++;
    return rc < 0 ? rc : 0;
  }
  rc = pacer_control_pause(eb->c, eb->a->prefix, bucket, eb->for_ms, eb->err);
  if (rc == 0)
    eb->changed++;
  return rc;
}

/* pacer_control_resume_all's callback: bucket's own pause has ended. */
static int
resumed_cb(void *arg, const char *bucket)
{
  (void)bucket;
  ((struct each_bucket *)arg)->changed++;
  return 0;
}

static cJSON *
pause_resume(struct pacer_dash_api *a, redisContext *c, const cJSON *root,
             int resume, unsigned *status)
{
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "bucket");
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "for_ms");
  struct pacer_error err;
  struct each_bucket eb;
  char msg[400];
  const char *s;
  uint64_t until_us = 0, now_us = 0;
  int rc, all = want_all(root), was_all = 0;
  cJSON *o;

  pacer_error_clear(&err);
  memset(&eb, 0, sizeof(eb));
  eb.a = a;
  eb.c = c;
  eb.resume = resume;
  eb.err = &err;
  if (resume && f != NULL && !cJSON_IsNull(f))
    return error_obj(status, 400,
                     "body: \"for_ms\": a resume takes none (it ends the "
                     "pause now)");
  if (!resume && f != NULL && !cJSON_IsNull(f)) {
    /* a whole number: 0.5 would have been cut to 0, "until resumed" */
    if (!cJSON_IsNumber(f) || f->valuedouble < 0 ||
        f->valuedouble > (double)PAUSE_MAX_MS ||
        f->valuedouble != (double)(uint64_t)f->valuedouble)
      return error_obj(status, 400,
                       "body: \"for_ms\": a whole number of ms, 0 (until "
                       "resumed) or 1 to 2592000000 (30 days)");
    eb.for_ms = (uint64_t)f->valuedouble;
  }
  if (all == (b != NULL))
    return error_obj(status, 400,
                     "body: give \"bucket\": NAME or \"all\": true (not "
                     "both)");
  if (all && resume) {
    rc =
        pacer_control_resume_all(c, a->prefix, resumed_cb, &eb, &was_all, &err);
  } else if (all) {
    rc = pacer_control_pause_all(c, a->prefix, eb.for_ms, &until_us, &now_us,
                                 &err);
  } else {
    if (!cJSON_IsString(b) || b->valuestring[0] == '\0' ||
        strlen(b->valuestring) > BUCKET_MAX)
      return error_obj(status, 400,
                       "body: \"bucket\": a bucket name of 1 to 256 bytes, "
                       "e.g. acct:act_1001");
    for (s = b->valuestring; *s != '\0'; s++)
      if ((unsigned char)*s < 0x20 || *s == 0x7f)
        return error_obj(status, 400,
                         "body: \"bucket\": control characters are not "
                         "allowed");
    rc = pacer_control_bucket_exists(c, a->prefix, b->valuestring, &err);
    if (rc == 0) {
      snprintf(msg, sizeof(msg),
               "no limit bucket \"%.256s\" in Redis: names look like "
               "LIMIT:KEY, as in the bucket table",
               b->valuestring);
      return error_obj(status, 404, msg);
    }
    if (rc > 0)
      rc = bucket_cb(&eb, b->valuestring);
    /* Resuming one bucket never ends the pause of all: say it stays. */
    if (rc >= 0 && resume)
      rc = pacer_control_paused_all(c, a->prefix, &until_us, &now_us, &err);
  }
  if (rc < 0)
    return redis_error(a, status, rc, &err);
  /* pause one: paused; pause all: paused_all, all_paused_until_ms;
   * resume one: resumed, all_paused_until_ms (0: no pause of all);
   * resume all: resumed (buckets' own pauses), resumed_all */
  o = cJSON_CreateObject();
  if (o != NULL && (resume || !all))
    cJSON_AddNumberToObject(o, resume ? "resumed" : "paused",
                            (double)eb.changed);
  if (o != NULL && all)
    cJSON_AddBoolToObject(o, resume ? "resumed_all" : "paused_all",
                          resume ? was_all : 1);
  if (o != NULL && all != resume)
    cJSON_AddNumberToObject(o, "all_paused_until_ms",
                            (double)(until_us / 1000u));
  *status = 200;
  return o;
}

/* ------------------------------------------------------------------ */
/* One job */

static int
fields_cb(void *arg, const char *entry_id, const struct pacer_results_field *f,
          size_t n)
{
  cJSON *o = cJSON_CreateObject();

  if (o == NULL || cJSON_AddStringToObject(o, "entry", entry_id) == NULL ||
      add_fields(o, f, n) != 0) {
    cJSON_Delete(o);
    return PACER_ENOMEM;
  }
  *(cJSON **)arg = o;
  return 0;
}

static int
dead_cb(void *arg, const char *entry_id, const struct pacer_results_field *f,
        size_t n, long long kept_ttl_ms)
{
  int rc = fields_cb(arg, entry_id, f, n);

  if (rc == 0)
    cJSON_AddNumberToObject(*(cJSON **)arg, "kept_ttl_ms", (double)kept_ttl_ms);
  return rc;
}

struct wait_find {
  const char *id;
  cJSON *arr;
  uint64_t now_ms;
};

static const char *
state_name(enum pacer_job_list_state s)
{
  switch (s) {
  case PACER_JOB_LIST_QUEUED:
    return "queued";
  case PACER_JOB_LIST_IN_FLIGHT:
    return "in_flight";
  case PACER_JOB_LIST_DELAYED:
    return "delayed";
  default:
    return "parked";
  }
}

static int
wait_cb(void *arg, const struct pacer_job_list_row *row)
{
  struct wait_find *wf = arg;
  char id[PACER_JOB_ID_MAX + 1], why[300];
  char *req;
  cJSON *o, *parsed;

  if (row->id_len > 0)
    snprintf(id, sizeof(id), "%.*s", (int)row->id_len, row->id);
  else if (pacer_job_peek_id(row->job, row->job_len, id, sizeof(id)) != 0)
    return 0;
  if (strcmp(id, wf->id) != 0)
    return 0;
  switch (row->state) {
  case PACER_JOB_LIST_QUEUED:
    snprintf(why, sizeof(why), "in a stream, not read by a worker yet");
    break;
  case PACER_JOB_LIST_IN_FLIGHT:
    snprintf(why, sizeof(why),
             "held by %s (last active %.1f s ago): waiting in its lane "
             "(see the lane table) or running",
             row->consumer != NULL ? row->consumer : "?", row->idle_ms / 1e3);
    break;
  case PACER_JOB_LIST_DELAYED:
    if (row->due_unix_ms > wf->now_ms)
      snprintf(why, sizeof(why),
               "delayed (a retry, not_before, or deferred by its limits): "
               "due in %.1f s",
               (row->due_unix_ms - wf->now_ms) / 1e3);
    else
      snprintf(why, sizeof(why), "delayed: due now");
    break;
  default:
    snprintf(why, sizeof(why), "parked: its credential needs `pacer cred set`");
    break;
  }
  o = cJSON_CreateObject();
  if (o == NULL)
    return PACER_ENOMEM;
  cJSON_AddItemToArray(wf->arr, o);
  req = pacer_job_redact(row->job, row->job_len, REQUEST_MAX);
  if (req == NULL)
    return PACER_ENOMEM;
  if ((parsed = cJSON_Parse(req)) != NULL &&
      !cJSON_AddItemToObject(o, "request", parsed)) {
    cJSON_Delete(parsed);
    free(req);
    return PACER_ENOMEM;
  }
  if (cJSON_AddStringToObject(o, "state", state_name(row->state)) == NULL ||
      cJSON_AddStringToObject(o, "why", why) == NULL ||
      cJSON_AddNumberToObject(o, "attempts", row->attempts) == NULL ||
      cJSON_AddNumberToObject(o, "throttled", row->throttled) == NULL ||
      (row->due_unix_ms > 0 &&
       cJSON_AddNumberToObject(o, "due_unix_ms", (double)row->due_unix_ms) ==
           NULL) ||
      (row->consumer != NULL &&
       cJSON_AddStringToObject(o, "consumer", row->consumer) == NULL) ||
      (parsed == NULL && cJSON_AddStringToObject(o, "request", req) == NULL)) {
    free(req);
    return PACER_ENOMEM;
  }
  free(req);
  return cJSON_GetArraySize(wf->arr) >= WAIT_ROWS_MAX;
}

static cJSON *
job(struct pacer_dash_api *a, redisContext *c, const char *id, unsigned *status)
{
  static const char *const idx[] = {"none", "found", "trimmed"};
  struct pacer_error err;
  struct wait_find wf;
  cJSON *o, *res = NULL, *dl = NULL;
  char msg[300];
  int rc;

  pacer_error_clear(&err);
  if (id == NULL || pacer_job_id_check(id, &err) != 0) {
    snprintf(msg, sizeof(msg), "id: %s",
             id == NULL ? "give ?id=JOB_ID" : err.msg);
    return error_obj(status, 400, msg);
  }
  o = cJSON_CreateObject();
  if (o == NULL || cJSON_AddStringToObject(o, "id", id) == NULL) {
    cJSON_Delete(o);
    return error_obj(status, 500, "out of memory");
  }
  rc = pacer_job_index_result(c, a->prefix, id, fields_cb, &res, &err);
  if (rc < 0)
    goto fail;
  cJSON_AddStringToObject(o, "result_index", idx[rc <= 2 ? rc : 0]);
  cJSON_AddItemToObject(o, "result", res != NULL ? res : cJSON_CreateNull());
  rc = pacer_dead_find(c, a->prefix, id, dead_cb, &dl, &err);
  if (rc < 0)
    goto fail;
  cJSON_AddItemToObject(o, "dead", dl != NULL ? dl : cJSON_CreateNull());
  memset(&wf, 0, sizeof(wf));
  wf.id = id;
  wf.now_ms = pacer_clock_unix_ms();
  wf.arr = cJSON_AddArrayToObject(o, "waiting");
  if (wf.arr == NULL) {
    rc = PACER_ENOMEM;
    goto fail;
  }
  rc = pacer_job_list(c, a->prefix,
                      PACER_JOB_LIST_QUEUED | PACER_JOB_LIST_IN_FLIGHT |
                          PACER_JOB_LIST_DELAYED | PACER_JOB_LIST_PARKED,
                      WAIT_SCAN_MAX, wait_cb, &wf, &err);
  if (rc < 0)
    goto fail;
  *status = 200;
  return o;
fail:
  cJSON_Delete(o);
  if (err.msg[0] == '\0')
    pacer_error_set(&err, rc, "out of memory");
  return redis_error(a, status, rc, &err);
}

/* ------------------------------------------------------------------ */

int
pacer_dash_api_handle(struct pacer_dash_api *a, const char *method,
                      const char *path, const char *id, const char *body,
                      size_t len, unsigned *status, char **out)
{
  int post = strcmp(method, "POST") == 0;
  struct pacer_error err;
  redisContext *c;
  cJSON *root = NULL, *o;

  *out = NULL;
  if (strcmp(path, "/api/dead") != 0 && strcmp(path, "/api/job") != 0 &&
      strcmp(path, "/api/dead/retry") != 0 &&
      strcmp(path, "/api/dead/delete") != 0 &&
      strcmp(path, "/api/cancel") != 0 && strcmp(path, "/api/pause") != 0 &&
      strcmp(path, "/api/resume") != 0)
    return PACER_ENOTFOUND;
  pacer_error_clear(&err);
  if (post !=
      (strcmp(path, "/api/dead") != 0 && strcmp(path, "/api/job") != 0)) {
    o = error_obj(status, 405, post ? "405: use GET" : "405: use POST");
  } else if (post && ((root = cJSON_ParseWithLength(body, len)) == NULL ||
                      !cJSON_IsObject(root))) {
    o = error_obj(status, 400, "body: not a JSON object");
  } else if ((c = conn(a, &err)) == NULL) {
    o = error_obj(status, 503, err.msg);
  } else if (strcmp(path, "/api/dead") == 0) {
    o = dead_list(a, c, status);
  } else if (strcmp(path, "/api/job") == 0) {
    o = job(a, c, id, status);
  } else if (strcmp(path, "/api/dead/retry") == 0) {
    o = dead_retry(a, c, root, status);
  } else if (strcmp(path, "/api/dead/delete") == 0) {
    o = dead_delete(a, c, root, status);
  } else if (strcmp(path, "/api/cancel") == 0) {
    o = cancel(a, c, root, status);
  } else {
    o = pause_resume(a, c, root, strcmp(path, "/api/resume") == 0, status);
  }
  cJSON_Delete(root);
  if (o == NULL)
    return PACER_ENOMEM;
  *out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return *out != NULL ? 0 : PACER_ENOMEM;
}
