/* Scheduler, chains (scheduler/chain.h, docs/CHAINS.md).
 *
 *   page n's response --core/paginate.c--> next URL | end reason
 *     next: page n+1's job = page n's job with url, id "<root>#<n+1>",
 *           parent, page and chain set (secrets dropped for another host)
 *     end:  the summary result under the first job's id
 *   --store/lua/chain_step.lua (once per page)--> then the page's result
 *     (store/lua/queue_finish.lua) under "<root>#<n>"
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/log.h"
#include "core/job.h"
#include "core/paginate.h"
#include "core/poll.h"
#include "scheduler/chain.h"
#include "store/queue_chain.h"

#include "scheduler/sched_int.h"

void
pacer_sched_chain_free(struct pacer_sched_chain *c)
{
  size_t i;

  if (c == NULL)
    return;
  free(c->result_id);
  free(c->root_id);
  free(c->chain);
  free(c->next_job);
  free(c->next_id);
  for (i = 0; i < c->nsummary; i++)
    free(c->summary[i]);
  free(c);
}

const char *
pacer_sched_result_id(const struct pacer_entry *e)
{
  return e->chain != NULL ? e->chain->result_id : pacer_sched_entry_id(e);
}

static int
sum_add(struct pacer_sched_chain *c, const char *name, const char *val)
{
  char *n = strdup(name), *v = strdup(val);

  if (n == NULL || v == NULL ||
      c->nsummary + 2 > PACER_SCHED_CHAIN_SUMMARY_MAX) {
    free(n);
    free(v);
    return PACER_ENOMEM;
  }
  c->summary_lens[c->nsummary] = strlen(n);
  c->summary_view[c->nsummary] = n;
  c->summary[c->nsummary++] = n;
  c->summary_lens[c->nsummary] = strlen(v);
  c->summary_view[c->nsummary] = v;
  c->summary[c->nsummary++] = v;
  return 0;
}

static int
sum_addu(struct pacer_sched_chain *c, const char *name, uint64_t v)
{
  char buf[24];

  snprintf(buf, sizeof(buf), "%" PRIu64, v);
  return sum_add(c, name, buf);
}

/* The summary result of a chain that ended after page c->page: the usual
 * result fields (README.md "Result entry") with "summary" 1 and "ended";
 * chain_step.lua adds "pages" and "items". */
static int
build_summary(struct pacer_sched_chain *c, const struct pacer_entry *e,
              enum pacer_page_end end, enum pacer_job_state st,
              const char *reason, const char *error, uint64_t now_unix_ms)
{
  int rc = 0;

  c->summary_ok = end != PACER_PAGE_END_ERROR;
  rc |= sum_add(c, "id", c->root_id);
  rc |= sum_add(c, "state", c->summary_ok ? "ok" : pacer_job_state_name(st));
  rc |= sum_add(c, "status", "0");
  rc |= sum_add(c, "reason", c->summary_ok ? "" : reason);
  rc |= sum_add(c, "error", error);
  rc |= sum_add(c, "attempts", "0");
  rc |= sum_add(c, "duration_ms", "0");
  rc |= sum_addu(c, "finished_unix_ms", now_unix_ms);
  rc |= sum_add(c, "headers", "{}");
  rc |= sum_add(c, "body", "");
  rc |= sum_add(c, "summary", "1");
  rc |= sum_add(c, "ended", pacer_page_end_name(end));
  if (e->job->meta_json != NULL)
    rc |= sum_add(c, "meta", e->job->meta_json);
  return rc != 0 ? PACER_ENOMEM : 0;
}

/* Scheme, host and port of url, for the same-origin test. Returns 0. */
static int
origin_of(CURLU *u, char **scheme, char **host, char **port)
{
  *scheme = *host = *port = NULL;
  if (curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) != CURLUE_OK)
    return -1;
  return 0;
}

/* Resolves ref against base (RFC 3986 §5.2) into *out (curl_free) and
 * says whether it leaves base's origin. Returns 0, or -1 when either is
 * not a URL curl accepts. */
static int
resolve(const char *base, const char *ref, char **out, int *other_origin)
{
  CURLU *u = curl_url();
  char *s0 = NULL, *h0 = NULL, *p0 = NULL, *s1 = NULL, *h1 = NULL, *p1 = NULL;
  int rc = -1;

  *out = NULL;
  if (u == NULL)
    return -1;
  if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
      origin_of(u, &s0, &h0, &p0) != 0 ||
      curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK ||
      origin_of(u, &s1, &h1, &p1) != 0 ||
      curl_url_get(u, CURLUPART_URL, out, 0) != CURLUE_OK)
    goto done;
  /* The redirect rule (docs/WORKERS.md): secrets go to the same scheme,
   * host and port only. */
  *other_origin =
      strcmp(s0, s1) != 0 || strcasecmp(h0, h1) != 0 || strcmp(p0, p1) != 0;
  rc = 0;
done:
  curl_free(s0);
  curl_free(h0);
  curl_free(p0);
  curl_free(s1);
  curl_free(h1);
  curl_free(p1);
  curl_url_cleanup(u);
  return rc;
}

/* What the next job keeps of this one. */
struct keep {
  int method;     /* method and body (else GET without a body) */
  int headers;    /* headers */
  int credential; /* credential */
  int limit_key;  /* limit_key */
  int poll_phase; /* report chains: the next job's phase, else 0 */
  uint64_t poll_since_unix_ms;
};

/* Job c->page + 1's text from job c->page's (e->text), at url. */
static int
build_next(struct pacer_sched_chain *c, const struct pacer_entry *e,
           const char *url, int other_origin, const struct keep *k, char *why,
           size_t why_size)
{
  cJSON *root = cJSON_ParseWithLength(e->text, e->text_len), *h, *x;
  char id[PACER_JOB_ID_MAX + 1];
  struct pacer_job *check = NULL;
  struct pacer_error err;
  int rc = PACER_ENOMEM;

  if (root == NULL)
    return PACER_ENOMEM; /* it parsed at intake, so only memory fails */
  snprintf(id, sizeof(id), "%s#%" PRIu32, c->root_id, c->page + 1);
  cJSON_DeleteItemFromObjectCaseSensitive(root, "id");
  cJSON_DeleteItemFromObjectCaseSensitive(root, "url");
  cJSON_DeleteItemFromObjectCaseSensitive(root, "parent");
  cJSON_DeleteItemFromObjectCaseSensitive(root, "page");
  cJSON_DeleteItemFromObjectCaseSensitive(root, "chain");
  cJSON_DeleteItemFromObjectCaseSensitive(root, "not_before");
  cJSON_DeleteItemFromObjectCaseSensitive(root, "poll_phase");
  cJSON_DeleteItemFromObjectCaseSensitive(root, "poll_since");
  if (!k->method) {
    /* a next link is fetched like a link: GET, no body */
    cJSON_DeleteItemFromObjectCaseSensitive(root, "method");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "body");
  }
  if (!k->headers)
    cJSON_DeleteItemFromObjectCaseSensitive(root, "headers");
  if (!k->credential || other_origin)
    cJSON_DeleteItemFromObjectCaseSensitive(root, "credential");
  if (!k->limit_key)
    cJSON_DeleteItemFromObjectCaseSensitive(root, "limit_key");
  h = cJSON_GetObjectItemCaseSensitive(root, "headers");
  if (other_origin && cJSON_IsObject(h)) {
    for (x = h->child; x != NULL;) {
      cJSON *nx = x->next;

      if (pacer_header_is_secret(x->string))
        cJSON_Delete(cJSON_DetachItemViaPointer(h, x));
      x = nx;
    }
  }
  if (cJSON_AddStringToObject(root, "id", id) == NULL ||
      cJSON_AddStringToObject(root, "url", url) == NULL ||
      cJSON_AddStringToObject(root, "parent", c->root_id) == NULL ||
      cJSON_AddNumberToObject(root, "page", c->page + 1) == NULL ||
      cJSON_AddStringToObject(root, "chain", c->chain) == NULL ||
      (k->poll_phase != 0 &&
       (cJSON_AddStringToObject(root, "poll_phase",
                                k->poll_phase == PACER_POLL_STATUS
                                    ? "status"
                                    : "download") == NULL ||
        cJSON_AddNumberToObject(root, "poll_since",
                                (double)k->poll_since_unix_ms) == NULL)))
    goto done;
  c->next_id = strdup(id);
  if (c->next_id == NULL)
    goto done;
  c->next_job = cJSON_PrintUnformatted(root);
  if (c->next_job == NULL)
    goto done;
  c->next_len = strlen(c->next_job);
  c->next_prio = (int)e->job->priority;
  /* the next page must be a job intake accepts (an upstream's next link
   * could be an ftp:// URL) */
  rc = pacer_job_parse(c->next_job, c->next_len, NULL, NULL, &check, &err);
  pacer_job_free(check);
  if (rc == PACER_EJOB || rc == PACER_ETOOLARGE) {
    snprintf(why, why_size, "next page: %s", err.msg);
    free(c->next_job);
    c->next_job = NULL;
    rc = PACER_EJOB;
  }
done:
  cJSON_Delete(root);
  return rc;
}

static int
prepare_pages(struct pacer_entry *e, const struct pacer_http_outcome *o,
              enum pacer_job_state st, enum pacer_reason r, long status,
              const char *error, uint64_t now_unix_ms)
{
  const struct pacer_job *j = e->job;
  struct pacer_sched_chain *c;
  struct pacer_page_step step;
  char reason[PACER_REASON_TEXT_MAX], why[300], jf[PACER_SCHED_JOB_FIELDS_MAX];
  char *next = NULL;
  size_t n;
  int rc = PACER_ENOMEM, other = 0;

  memset(&step, 0, sizeof(step));
  pacer_sched_chain_free(e->chain);
  e->chain = c = calloc(1, sizeof(*c));
  if (c == NULL)
    goto fail;
  c->page = j->page != 0 ? j->page : 1;
  c->root_id = strdup(j->parent != NULL ? j->parent : j->id);
  c->chain = strdup(j->chain != NULL ? j->chain : e->sid);
  n = strlen(c->root_id ? c->root_id : "") + 16;
  c->result_id = malloc(n);
  if (c->root_id == NULL || c->chain == NULL || c->result_id == NULL)
    goto fail;
  snprintf(c->result_id, n, "%s#%" PRIu32, c->root_id, c->page);
  pacer_reason_format(r, status, reason, sizeof(reason));
  why[0] = '\0';
  if (st != PACER_JOB_OK) {
    int same = strcmp(error, reason) == 0 || error[0] == '\0';

    step.end = PACER_PAGE_END_ERROR;
    step.items = j->paginate->items_ptr != NULL ? 0 : -1;
    snprintf(why, sizeof(why), "page %" PRIu32 " failed: %s%s%s", c->page,
             reason, same ? "" : ": ", same ? "" : error);
  } else if (pacer_paginate_step(j->paginate, c->page, j->url, o->headers_json,
                                 o->body, o->body_len, &step) != 0) {
    goto fail;
  } else if (step.end == PACER_PAGE_END_ERROR) {
    snprintf(why, sizeof(why), "page %" PRIu32 ": %s", c->page, step.error);
  }
  c->items = step.items;
  if (step.end == PACER_PAGE_MORE) {
    if (step.next_is_ref) {
      if (resolve(j->url, step.next, &next, &other) != 0) {
        step.end = PACER_PAGE_END_ERROR;
        snprintf(why, sizeof(why),
                 "page %" PRIu32 ": the next link is not a URL", c->page);
      }
    }
    if (step.end == PACER_PAGE_MORE) {
      struct keep k = {j->paginate->kind == PACER_PAGINATE_CURSOR,
                       j->paginate->keep_headers,
                       j->paginate->keep_credential,
                       j->paginate->keep_limit_key,
                       0,
                       0};

      rc = build_next(c, e, next != NULL ? next : step.next, other, &k, why,
                      sizeof(why));
      if (rc == PACER_EJOB)
        step.end = PACER_PAGE_END_ERROR;
      else if (rc != 0)
        goto fail;
    }
  }
  if (step.end != PACER_PAGE_MORE) {
    c->ended = 1;
    if (build_summary(
            c, e, step.end, st == PACER_JOB_OK ? PACER_JOB_FAILED : st,
            st == PACER_JOB_OK ? "chain_error" : reason, why, now_unix_ms) != 0)
      goto fail;
    pacer_log(c->summary_ok ? PACER_LOG_DEBUG : PACER_LOG_INFO, "sched",
              "msg=\"chain ended\" %s page=%" PRIu32 " ended=%s",
              pacer_sched_job_fields(e, jf, sizeof(jf)), c->page,
              pacer_page_end_name(step.end));
  }
  curl_free(next);
  pacer_page_step_clear(&step);
  return 0;
fail:
  curl_free(next);
  pacer_page_step_clear(&step);
  pacer_sched_chain_free(e->chain);
  e->chain = NULL;
  pacer_log(PACER_LOG_ERROR, "sched",
            "msg=\"out of memory preparing the next page\" %s",
            pacer_sched_job_fields(e, jf, sizeof(jf)));
  return PACER_ENOMEM;
}

int
pacer_sched_chain_send(struct pacer_sched *s, struct pacer_entry *e,
                       pacer_queue_done_cb cb)
{
  struct pacer_sched_chain *c = e->chain;
  struct pacer_chain_step_args a;
  struct pacer_fields f, d;

  memset(&a, 0, sizeof(a));
  a.root_id = c->root_id;
  a.chain = c->chain;
  a.page = c->page;
  a.items = c->items;
  a.ack = c->acks;
  a.count_name = c->acks ? "requests" : "pages";
  if (c->next_job != NULL) {
    a.next_job = c->next_job;
    a.next_len = c->next_len;
    a.next_prio = c->next_prio;
    a.next_id = c->next_id;
    a.next_due_ms = c->next_due_unix_ms;
  } else if (c->acks) {
    /* a report chain's one result: this response's, scrubbed and cut by
     * pacer_sched_finish, under the first job's id */
    f.argv = e->res.view;
    f.lens = e->res.lens;
    f.n = e->res.n;
    a.summary = &f;
    a.summary_ok = e->ok;
    d.argv = e->dead.view;
    d.lens = e->dead.lens;
    d.n = e->dead.n;
    a.dead = d.n > 0 ? &d : NULL;
  } else {
    f.argv = c->summary_view;
    f.lens = c->summary_lens;
    f.n = c->nsummary;
    a.summary = &f;
    a.summary_ok = c->summary_ok;
  }
  return pacer_queue_chain_step(s->queue, e->sid, &a, cb, e);
}

/* A report chain's step (docs/CHAINS.md "Reports"): after request c->page,
 * the next poll (delayed), the download (now), or the end; *st, *r and
 * *error may turn into a failure the response itself did not show. */
static int
prepare_poll(struct pacer_entry *e, const struct pacer_http_outcome *o,
             enum pacer_job_state *st, enum pacer_reason *r, const char **error,
             char *why, size_t why_size, uint64_t now_unix_ms)
{
  const struct pacer_job *j = e->job;
  struct pacer_sched_chain *c;
  struct pacer_poll_step step;
  struct keep k = {0, 1, 1, 1, 0, 0};
  char jf[PACER_SCHED_JOB_FIELDS_MAX], *next = NULL;
  int other = 0, rc;

  memset(&step, 0, sizeof(step));
  pacer_sched_chain_free(e->chain);
  e->chain = c = calloc(1, sizeof(*c));
  if (c == NULL)
    goto fail;
  c->acks = 1;
  c->items = -1;
  c->page = j->page != 0 ? j->page : 1;
  c->root_id = strdup(j->parent != NULL ? j->parent : j->id);
  c->chain = strdup(j->chain != NULL ? j->chain : e->sid);
  c->result_id = c->root_id != NULL ? strdup(c->root_id) : NULL;
  if (c->root_id == NULL || c->chain == NULL || c->result_id == NULL)
    goto fail;
  k.poll_since_unix_ms =
      j->poll_since_unix_ms != 0 ? j->poll_since_unix_ms : now_unix_ms;
  if (*st != PACER_JOB_OK) {
    c->ended = 1; /* the failing response is the chain's result */
    c->summary_ok = 0;
    return 0;
  }
  if (pacer_poll_step(j->poll, (enum pacer_poll_phase)j->poll_phase,
                      c->page - 1, k.poll_since_unix_ms, o->status,
                      o->headers_json, o->body, o->body_len, now_unix_ms,
                      &step) != 0)
    goto fail;
  switch (step.next) {
  case PACER_POLL_WAIT:
  case PACER_POLL_FETCH:
    k.poll_phase =
        step.next == PACER_POLL_WAIT ? PACER_POLL_STATUS : PACER_POLL_DOWNLOAD;
    c->next_due_unix_ms = step.next == PACER_POLL_WAIT ? step.due_unix_ms : 0;
    if (step.url != NULL && resolve(j->url, step.url, &next, &other) != 0) {
      *st = PACER_JOB_FAILED;
      *r = PACER_REASON_REPORT_FAILED;
      snprintf(why, why_size, "poll: the %s URL is not a URL",
               step.next == PACER_POLL_WAIT ? "status" : "download");
      *error = why;
      c->ended = 1;
      break;
    }
    rc = build_next(c, e, next != NULL ? next : j->url, other, &k, why,
                    why_size);
    if (rc == PACER_EJOB) {
      *st = PACER_JOB_FAILED;
      *r = PACER_REASON_REPORT_FAILED;
      *error = why;
      c->ended = 1;
    } else if (rc != 0) {
      goto fail;
    }
    break;
  case PACER_POLL_DONE:
    c->ended = 1;
    break;
  case PACER_POLL_FAILED:
  case PACER_POLL_EXPIRED:
    *st = PACER_JOB_FAILED;
    *r = step.next == PACER_POLL_FAILED ? PACER_REASON_REPORT_FAILED
                                        : PACER_REASON_POLL_DEADLINE;
    snprintf(why, why_size, "%s", step.error);
    *error = why;
    c->ended = 1;
    break;
  }
  c->summary_ok = *st == PACER_JOB_OK; /* for pacer run's count */
  if (c->ended)
    pacer_log(PACER_LOG_DEBUG, "sched",
              "msg=\"report chain ended\" %s requests=%" PRIu32,
              pacer_sched_job_fields(e, jf, sizeof(jf)), c->page);
  curl_free(next);
  pacer_poll_step_clear(&step);
  return 0;
fail:
  curl_free(next);
  pacer_poll_step_clear(&step);
  pacer_sched_chain_free(e->chain);
  e->chain = NULL;
  pacer_log(PACER_LOG_ERROR, "sched",
            "msg=\"out of memory preparing the next poll\" %s",
            pacer_sched_job_fields(e, jf, sizeof(jf)));
  return PACER_ENOMEM;
}

void
pacer_sched_chain_finish(struct pacer_sched *s, struct pacer_entry *e,
                         const struct pacer_http_outcome *o,
                         enum pacer_job_state st, long status,
                         enum pacer_reason r, const char *error,
                         uint64_t duration_ms, int keep_response,
                         uint64_t now_unix_ms)
{
  const struct pacer_job *j = e->job;
  char why[300];

  if (j != NULL && j->paginate != NULL &&
      prepare_pages(e, o, st, r, status, error, now_unix_ms) != 0)
    return; /* out of memory: left pending, the lease brings it back */
  if (j != NULL && j->poll != NULL &&
      prepare_poll(e, o, &st, &r, &error, why, sizeof(why), now_unix_ms) != 0)
    return;
  pacer_sched_finish(s, e, st, status, r, error, duration_ms,
                     keep_response ? o->headers_json : NULL,
                     keep_response ? o->body : NULL,
                     keep_response ? o->body_len : 0, now_unix_ms);
}
