/* Scheduler, request building: a job (and its credential's token) as the
 * worker request of workers/pacer_http.h. */
#include <stdlib.h>
#include <string.h>

#include "core/job.h"

#include "scheduler/sched_int.h"

static char *
xstrdup_fmt2(const char *a, const char *sep, const char *b)
{
  size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
  char *r = malloc(la + ls + lb + 1);

  if (r == NULL)
    return NULL;
  memcpy(r, a, la);
  memcpy(r + la, sep, ls);
  memcpy(r + la + ls, b, lb + 1);
  return r;
}

/* The job's "http_version" as the worker's request field. */
static enum pacer_http_version
request_http_version(enum pacer_job_http v)
{
  switch (v) {
  case PACER_JOB_HTTP_1_1:
    return PACER_HTTP_VERSION_1_1;
  case PACER_JOB_HTTP_2:
    return PACER_HTTP_VERSION_2;
  case PACER_JOB_HTTP_2_PRIOR_KNOWLEDGE:
    return PACER_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  case PACER_JOB_HTTP_DEFAULT:
    break;
  }
  return PACER_HTTP_VERSION_DEFAULT;
}

struct pacer_http_request *
pacer_sched_build_request(struct pacer_sched *s, struct pacer_entry *e,
                          const char *scheme, const char *token)
{
  const struct pacer_job *job = e->job;
  struct pacer_http_request *req = calloc(1, sizeof(*req));
  size_t i, n = 0;
  int add_ct = job->body != NULL && job->body_is_json &&
               pacer_job_header_get(job, "Content-Type") == NULL;

  if (req == NULL)
    return NULL;
  req->tag = (uint64_t)(uintptr_t)e;
  req->method = strdup(pacer_method_name(job->method));
  req->url = strdup(job->url);
  req->headers = calloc(job->nheaders + 3, sizeof(char *));
  if (req->method == NULL || req->url == NULL || req->headers == NULL)
    goto fail;
  for (i = 0; i < job->nheaders; i++) {
    /* curl drops "Name:" with nothing after it; "Name;" sends it empty. */
    if (job->headers[i].value[0] == '\0')
      req->headers[n] = xstrdup_fmt2(job->headers[i].name, ";", "");
    else
      req->headers[n] =
          xstrdup_fmt2(job->headers[i].name, ": ", job->headers[i].value);
    if (req->headers[n++] == NULL)
      goto fail;
  }
  if (add_ct) {
    req->headers[n] = strdup("Content-Type: application/json");
    if (req->headers[n++] == NULL)
      goto fail;
  }
  if (token != NULL) {
    /* RFC 6750 §2.1; the job itself may not carry Authorization. */
    req->headers[n] = xstrdup_fmt2("Authorization: ", scheme, " ");
    if (req->headers[n] != NULL) {
      char *line = xstrdup_fmt2(req->headers[n], "", token);

      explicit_bzero(req->headers[n], strlen(req->headers[n]));
      free(req->headers[n]);
      req->headers[n] = line;
    }
    if (req->headers[n++] == NULL)
      goto fail;
  }
  /* No "Expect: 100-continue" round trip for large bodies. */
  req->headers[n] = strdup("Expect:");
  if (req->headers[n++] == NULL)
    goto fail;
  req->nheaders = n;
  if (job->body != NULL) {
    req->body = malloc(job->body_len ? job->body_len : 1);
    if (req->body == NULL)
      goto fail;
    memcpy(req->body, job->body, job->body_len);
    req->body_len = job->body_len;
  }
  /* libcurl drops only Authorization and Cookie on a cross-host redirect:
   * a job with any other secret header does not follow redirects. */
  /* A job with a credential never follows one either: its token goes to
   * the credential's hosts only, never to another scheme, host or port
   * (docs/CREDENTIALS.md). */
  req->follow_redirects = token == NULL;
  for (i = 0; i < job->nheaders; i++) {
    if (pacer_header_is_secret(job->headers[i].name))
      req->follow_redirects = 0;
  }
  /* libcurl may re-send a request whose reused connection died: never for
   * a POST/PATCH that the server cannot deduplicate. */
  req->forbid_reuse =
      (job->method == PACER_METHOD_POST || job->method == PACER_METHOD_PATCH) &&
      pacer_job_header_get(job, "Idempotency-Key") == NULL &&
      !job->retry_unsafe;
  req->http_version = request_http_version(job->http_version);
  req->connect_timeout_ms = s->cfg->connect_timeout_ms;
  req->timeout_ms = job->timeout_ms;
  req->body_cap_bytes = s->cfg->response_max_bytes;
  /* README.md destination_policy: every address this job connects to, on every
   * hop, is checked by the worker (token requests are the operator's own). */
  if (s->cfg->dest_policy.mode != PACER_DEST_ANY)
    req->dest_policy = &s->cfg->dest_policy;
  req->abort_flag = &e->abort_flag; /* `pacer cancel` (scheduler/cancel.h) */
  return req;
fail:
  req->nheaders = n;
  pacer_http_request_free(req);
  return NULL;
}
