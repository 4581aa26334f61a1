/* Asynchronous reports (core/poll.h, docs/CHAINS.md "Reports"). */
#include "core/poll.h"
#include "core/json_int.h"
#include "core/json_pointer.h"
#include "core/retry_after.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
nomem(struct pacer_error *err)
{
  return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
}

static int
get_ptr(const cJSON *v, const char *name, const char *text, char **out,
        struct pacer_error *err)
{
  char field[48];
  int rc;

  snprintf(field, sizeof(field), "poll.%s", name);
  if (text == NULL) {
    if (!cJSON_IsString(v))
      return pacer_error_set(err, PACER_EJOB,
                             "%s: must be a JSON pointer string", field);
    text = v->valuestring;
  }
  if ((rc = pacer_json_pointer_check(text, field, err)) != 0) {
    if (err != NULL)
      err->code = PACER_EJOB; /* a job field, not the config */
    return PACER_EJOB;
  }
  *out = strdup(text);
  return *out != NULL ? 0 : nomem(err);
}

/* A value list: a string or number, or an array of them (1..16). */
static int
get_values(const cJSON *v, const char *name, char **out, size_t *n,
           struct pacer_error *err)
{
  const cJSON *x;
  const cJSON *one = v;

  if (cJSON_IsArray(v)) {
    if (cJSON_GetArraySize(v) < 1 ||
        cJSON_GetArraySize(v) > PACER_POLL_VALUES_MAX)
      return pacer_error_set(err, PACER_EJOB,
                             "poll.%s: must hold 1 to %d values", name,
                             PACER_POLL_VALUES_MAX);
    one = NULL;
  }
  for (x = one != NULL ? one : v->child; x != NULL;
       x = one != NULL ? NULL : x->next) {
    char buf[32];
    const char *s = NULL;

    if (cJSON_IsString(x))
      s = x->valuestring;
    else if (cJSON_IsNumber(x) &&
             x->valuedouble == (double)(int64_t)x->valuedouble) {
      snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)x->valuedouble);
      s = buf;
    } else if (cJSON_IsBool(x)) {
      s = cJSON_IsTrue(x) ? "true" : "false";
    }
    if (s == NULL || strlen(s) > PACER_POLL_VALUE_MAX)
      return pacer_error_set(err, PACER_EJOB,
                             "poll.%s: values must be strings of at most "
                             "%d bytes, integers or booleans",
                             name, PACER_POLL_VALUE_MAX);
    out[*n] = strdup(s);
    if (out[*n] == NULL)
      return nomem(err);
    (*n)++;
  }
  return 0;
}

static int
member(struct pacer_poll *p, const cJSON *v, struct pacer_error *err)
{
  const char *k = v->string;
  int64_t n = 0;
  int rc;

  if (strcmp(k, "url") == 0) {
    if (cJSON_IsString(v) && strcmp(v->valuestring, "location") == 0) {
      p->from_location = 1;
      return 0;
    }
    if (cJSON_IsString(v) && strncmp(v->valuestring, "body:", 5) == 0)
      return get_ptr(v, "url", v->valuestring + 5, &p->url_ptr, err);
    return pacer_error_set(err, PACER_EJOB,
                           "poll.url: must be \"location\" or \"body:<JSON "
                           "pointer>\"");
  }
  if (strcmp(k, "status") == 0)
    return get_ptr(v, "status", NULL, &p->status_ptr, err);
  if (strcmp(k, "download") == 0)
    return get_ptr(v, "download", NULL, &p->download_ptr, err);
  if (strcmp(k, "done") == 0)
    return get_values(v, "done", p->done, &p->ndone, err);
  if (strcmp(k, "failed") == 0)
    return get_values(v, "failed", p->failed, &p->nfailed, err);
  if (strcmp(k, "interval_ms") == 0) {
    rc = pacer_json_get_int(v, "poll.interval_ms", 100, 3600000, PACER_EJOB, &n,
                            err);
    p->interval_ms = (uint32_t)n;
    return rc;
  }
  if (strcmp(k, "max_interval_ms") == 0) {
    rc = pacer_json_get_int(v, "poll.max_interval_ms", 100, 86400000,
                            PACER_EJOB, &n, err);
    p->max_interval_ms = (uint32_t)n;
    return rc;
  }
  if (strcmp(k, "deadline_ms") == 0) {
    rc = pacer_json_get_int(v, "poll.deadline_ms", 1000,
                            (int64_t)PACER_POLL_DEADLINE_MAX, PACER_EJOB, &n,
                            err);
    p->deadline_ms = (uint64_t)n;
    return rc;
  }
  if (strcmp(k, "backoff") == 0) {
    /* a factor with up to three decimals, kept in permille (integers only) */
    if (!cJSON_IsNumber(v) || v->valuedouble < 1.0 || v->valuedouble > 10.0)
      return pacer_error_set(err, PACER_EJOB,
                             "poll.backoff: must be a number from 1 to 10");
    p->backoff_permille = (uint32_t)(v->valuedouble * 1000.0 + 0.5);
    return 0;
  }
  return pacer_error_set(err, PACER_EJOB,
                         "poll.%.40s: unknown field (use url, status, done, "
                         "failed, interval_ms, backoff, max_interval_ms, "
                         "deadline_ms or download)",
                         k);
}

int
pacer_poll_parse(const cJSON *item, struct pacer_poll **out,
                 struct pacer_error *err)
{
  struct pacer_poll *p;
  const cJSON *v;
  int rc = 0;

  *out = NULL;
  if (!cJSON_IsObject(item))
    return pacer_error_set(err, PACER_EJOB, "poll: must be an object");
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    return nomem(err);
  p->interval_ms = PACER_POLL_INTERVAL_DEFAULT;
  p->max_interval_ms = PACER_POLL_MAX_INTERVAL_DEF;
  p->deadline_ms = PACER_POLL_DEADLINE_DEFAULT;
  p->backoff_permille = PACER_POLL_BACKOFF_DEFAULT;
  cJSON_ArrayForEach(v, item)
  {
    if ((rc = member(p, v, err)) != 0)
      goto fail;
  }
  if (!p->from_location && p->url_ptr == NULL)
    rc = pacer_error_set(err, PACER_EJOB,
                         "poll.url: required (\"location\" or \"body:<JSON "
                         "pointer>\")");
  else if (p->status_ptr == NULL)
    rc = pacer_error_set(err, PACER_EJOB,
                         "poll.status: required (the JSON pointer of the "
                         "report's status)");
  else if (p->ndone == 0)
    rc = pacer_error_set(err, PACER_EJOB,
                         "poll.done: required (the status values that mean "
                         "done)");
  else if (p->max_interval_ms < p->interval_ms)
    rc = pacer_error_set(err, PACER_EJOB,
                         "poll.max_interval_ms: must not be below "
                         "interval_ms");
  if (rc != 0)
    goto fail;
  *out = p;
  return 0;
fail:
  pacer_poll_free(p);
  return rc;
}

void
pacer_poll_free(struct pacer_poll *p)
{
  size_t i;

  if (p == NULL)
    return;
  free(p->url_ptr);
  free(p->status_ptr);
  free(p->download_ptr);
  for (i = 0; i < p->ndone; i++)
    free(p->done[i]);
  for (i = 0; i < p->nfailed; i++)
    free(p->failed[i]);
  free(p);
}

uint64_t
pacer_poll_wait_ms(const struct pacer_poll *p, uint32_t n)
{
  uint64_t w = p->interval_ms;
  uint32_t i;

  for (i = 1; i < n && w < p->max_interval_ms; i++)
    w = w * p->backoff_permille / 1000u;
  return w < p->max_interval_ms ? w : p->max_interval_ms;
}

void
pacer_poll_step_clear(struct pacer_poll_step *s)
{
  free(s->url);
  memset(s, 0, sizeof(*s));
}

static int
in_list(char *const *list, size_t n, const char *v)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (strcmp(list[i], v) == 0)
      return 1;
  return 0;
}

/* The value at ptr as text (strings as they are, integers and booleans
 * spelled as in JSON), or NULL. */
static const char *
value_text(const cJSON *root, const char *ptr, char *buf, size_t size)
{
  const cJSON *v = root != NULL ? pacer_json_pointer_get(root, ptr) : NULL;

  if (cJSON_IsString(v))
    return v->valuestring;
  if (cJSON_IsBool(v))
    return cJSON_IsTrue(v) ? "true" : "false";
  if (cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble) {
    snprintf(buf, size, "%" PRId64, (int64_t)v->valuedouble);
    return buf;
  }
  return NULL;
}

static const char *
header(const cJSON *h, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, name);

  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
fail_with(struct pacer_poll_step *out, enum pacer_poll_next n, const char *msg)
{
  out->next = n;
  snprintf(out->error, sizeof(out->error), "%s", msg);
}

int
pacer_poll_step(const struct pacer_poll *p, enum pacer_poll_phase ph,
                uint32_t polls, uint64_t since_unix_ms, long status,
                const char *headers_json, const char *body, size_t body_len,
                uint64_t now_unix_ms, struct pacer_poll_step *out)
{
  cJSON *root = NULL, *h = NULL;
  const char *end = NULL, *v, *ra;
  char buf[32];
  uint64_t wait, hint = 0;
  int rc = 0;

  memset(out, 0, sizeof(*out));
  if (ph == PACER_POLL_DOWNLOAD) {
    out->next = PACER_POLL_DONE;
    return 0;
  }
  if (body != NULL && body_len > 0)
    root = cJSON_ParseWithLengthOpts(body, body_len, &end, 0);
  h = headers_json != NULL ? cJSON_Parse(headers_json) : NULL;
  if (ph == PACER_POLL_CREATE) {
    /* RFC 9110 §10.2.2: Location names the status resource */
    v = p->from_location ? header(h, "location")
                         : value_text(root, p->url_ptr, buf, sizeof(buf));
    if (v == NULL || v[0] == '\0') {
      fail_with(out, PACER_POLL_FAILED,
                p->from_location
                    ? "poll.url: the response has no Location header"
                    : "poll.url: no status URL in the response body");
      goto done;
    }
    out->url = strdup(v);
    if (out->url == NULL) {
      rc = PACER_ENOMEM;
      goto done;
    }
    out->url_is_ref = 1;
  } else {
    v = value_text(root, p->status_ptr, buf, sizeof(buf));
    if (v != NULL && in_list(p->done, p->ndone, v)) {
      if (p->download_ptr == NULL) {
        out->next = PACER_POLL_DONE;
        goto done;
      }
      v = value_text(root, p->download_ptr, buf, sizeof(buf));
      if (v == NULL || v[0] == '\0') {
        fail_with(out, PACER_POLL_FAILED,
                  "poll.download: the report is done but has no download "
                  "URL");
        goto done;
      }
      out->url = strdup(v);
      out->url_is_ref = 1;
      out->next = PACER_POLL_FETCH;
      rc = out->url != NULL ? 0 : PACER_ENOMEM;
      goto done;
    }
    if (v != NULL && in_list(p->failed, p->nfailed, v)) {
      out->next = PACER_POLL_FAILED;
      snprintf(out->error, sizeof(out->error),
               "poll: the report failed (status \"%.*s\")",
               PACER_POLL_VALUE_MAX, v);
      goto done;
    }
    /* pending: poll the same URL again (the caller keeps it) */
  }
  /* RFC 9110 §10.2.3: a Retry-After on a 202 says when to ask again */
  ra = status == 202 ? header(h, "retry-after") : NULL;
  if (ra != NULL && pacer_retry_after_parse(&ra, 1, header(h, "date"),
                                            now_unix_ms, &hint, NULL) != 0)
    hint = 0;
  wait = pacer_poll_wait_ms(p, polls + 1);
  if (hint > wait)
    wait = hint;
  if (now_unix_ms + wait > since_unix_ms + p->deadline_ms) {
    free(out->url);
    out->url = NULL;
    out->next = PACER_POLL_EXPIRED;
    snprintf(out->error, sizeof(out->error),
             "poll: the report was not done within deadline_ms %" PRIu64,
             p->deadline_ms);
    goto done;
  }
  out->next = PACER_POLL_WAIT;
  out->due_unix_ms = now_unix_ms + wait;
done:
  cJSON_Delete(root);
  cJSON_Delete(h);
  if (rc != 0)
    pacer_poll_step_clear(out);
  return rc;
}
