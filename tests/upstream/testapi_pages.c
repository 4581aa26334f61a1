/* Reporting endpoints of pacer-testapi (tests/upstream/README.md):
 * paginated stats in three styles and asynchronous reports.
 *
 *   GET /v1/pages/body?n=N&per=K[&page=P][&fail=F]
 *       {"data": [K items], "paging": {"next": "http://<host>/...page=P+1"}}
 *   GET /v1/pages/link?...   the same data, next page in
 *       Link: </v1/pages/link?...&page=P+1>; rel="next" (RFC 8288)
 *   GET /v1/pages/cursor?n=N&per=K[&after=C][&fail=F]
 *       {"data": [...], "paging": {"cursors": {"after": "c<P+1>"}}}
 *   The last page (P = N) has no next link or cursor; page F answers 500;
 *   &next_host=H puts host H into body next links (another origin).
 *   Items are {"page": P, "i": I}; "account" is counted like elsewhere.
 *
 *   POST /v1/reports?polls=N[&fail=1][&rows=R]
 *       202 {"report_id": "r<k>", "status_url":
 * "http://<host>/v1/reports/r<k>"} with Location: /v1/reports/r<k> GET
 * /v1/reports/r<k>   202 {"status": "pending"} + Retry-After: 1 for the first N
 * polls, then 200 {"status": "done", "url":
 *       "http://<host>/v1/reports/r<k>/file"} (or {"status": "failed"})
 *   GET /v1/reports/r<k>/file   200 text/csv "row,r<k>\n" x R (default 3)
 */
#include "testapi_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORTS_MAX 256 /* reports kept; older ones are forgotten */

struct report {
  unsigned polls_left; /* 202s still to give */
  int fail;            /* ends "failed" */
  unsigned polled;     /* status requests seen */
  unsigned rows;       /* rows in the file */
};

static pthread_mutex_t reports_mu = PTHREAD_MUTEX_INITIALIZER;
static struct report reports[REPORTS_MAX];
static unsigned nreports; /* reports created; id k lives at k % MAX */

static unsigned
arg_u(struct MHD_Connection *conn, const char *name, unsigned dflt)
{
  const char *v =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
  char *end;
  unsigned long n;

  if (v == NULL || *v == '\0')
    return dflt;
  n = strtoul(v, &end, 10);
  return *end == '\0' && n < 1000000ul ? (unsigned)n : dflt;
}

static struct MHD_Response *
text_resp(const char *s, const char *type)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(s), (void *)(uintptr_t)s, MHD_RESPMEM_MUST_COPY);

  if (r != NULL &&
      MHD_add_response_header(r, "Content-Type", type) != MHD_YES) {
    MHD_destroy_response(r);
    return NULL;
  }
  return r;
}

static struct MHD_Response *
doc_resp(cJSON *doc)
{
  char *s = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;
  struct MHD_Response *r = s != NULL ? text_resp(s, "application/json") : NULL;

  cJSON_free(s);
  cJSON_Delete(doc);
  return r;
}

static const char *
host_of(struct MHD_Connection *conn)
{
  const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");

  return h != NULL ? h : "127.0.0.1";
}

/* The query of page p of style (n, per, fail and account kept). */
static void
page_query(struct MHD_Connection *conn, unsigned p, char *out, size_t size)
{
  const char *acct =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "account");
  unsigned fail = arg_u(conn, "fail", 0);
  int n = snprintf(out, size, "n=%u&per=%u&page=%u", arg_u(conn, "n", 3),
                   arg_u(conn, "per", 2), p);

  if (fail != 0 && n > 0 && (size_t)n < size)
    n += snprintf(out + n, size - (size_t)n, "&fail=%u", fail);
  if (acct != NULL && n > 0 && (size_t)n < size)
    snprintf(out + n, size - (size_t)n, "&account=%.60s", acct);
}

static struct MHD_Response *
on_page(struct MHD_Connection *conn, const char *style, unsigned *status)
{
  unsigned n = arg_u(conn, "n", 3), per = arg_u(conn, "per", 2);
  unsigned p = arg_u(conn, "page", 1), i;
  const char *after =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
  cJSON *doc = cJSON_CreateObject(), *data, *paging;
  char q[256], link[512];
  int is_cursor = strcmp(style, "cursor") == 0;
  struct MHD_Response *r;

  if (is_cursor)
    p = after != NULL && after[0] == 'c'
            ? (unsigned)strtoul(after + 1, NULL, 10)
            : 1;
  if (p == 0 || p > n) {
    *status = 404;
    cJSON_Delete(doc);
    return text_resp("{\"error\":\"no_such_page\"}", "application/json");
  }
  if (p == arg_u(conn, "fail", 0)) {
    *status = 500;
    cJSON_Delete(doc);
    return text_resp("{\"error\":\"page_failed\"}", "application/json");
  }
  *status = 200;
  data = cJSON_AddArrayToObject(doc, "data");
  paging = cJSON_AddObjectToObject(doc, "paging");
  for (i = 0; data != NULL && i < per; i++) {
    cJSON *it = cJSON_CreateObject();

    cJSON_AddNumberToObject(it, "page", p);
    cJSON_AddNumberToObject(it, "i", i);
    cJSON_AddItemToArray(data, it);
  }
  page_query(conn, p + 1, q, sizeof(q));
  if (p < n && strcmp(style, "body") == 0) {
    const char *nh =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "next_host");

    snprintf(link, sizeof(link), "http://%.100s/v1/pages/body?%s",
             nh != NULL ? nh : host_of(conn), q);
    cJSON_AddStringToObject(paging, "next", link);
  } else if (p < n && is_cursor) {
    cJSON *cur = cJSON_AddObjectToObject(paging, "cursors");

    snprintf(link, sizeof(link), "c%u", p + 1);
    cJSON_AddStringToObject(cur, "after", link);
  }
  r = doc_resp(doc);
  if (r != NULL && p < n && strcmp(style, "link") == 0) {
    /* relative, as RFC 8288 §3.2 allows: resolved against the request */
    snprintf(link, sizeof(link), "</v1/pages/link?%s>; rel=\"next\"", q);
    MHD_add_response_header(r, "Link", link);
  }
  return r;
}

static struct MHD_Response *
on_report_create(struct MHD_Connection *conn, unsigned *status)
{
  char id[32], url[300];
  cJSON *doc = cJSON_CreateObject();
  struct MHD_Response *r;
  unsigned k;

  pthread_mutex_lock(&reports_mu);
  k = ++nreports;
  reports[k % REPORTS_MAX].polls_left = arg_u(conn, "polls", 2);
  reports[k % REPORTS_MAX].fail = arg_u(conn, "fail", 0) != 0;
  reports[k % REPORTS_MAX].polled = 0;
  reports[k % REPORTS_MAX].rows = arg_u(conn, "rows", 3);
  pthread_mutex_unlock(&reports_mu);
  snprintf(id, sizeof(id), "r%u", k);
  snprintf(url, sizeof(url), "http://%s/v1/reports/%s", host_of(conn), id);
  cJSON_AddStringToObject(doc, "report_id", id);
  cJSON_AddStringToObject(doc, "status_url", url);
  *status = 202;
  r = doc_resp(doc);
  snprintf(url, sizeof(url), "/v1/reports/%s", id);
  if (r != NULL)
    MHD_add_response_header(r, "Location", url);
  return r;
}

static struct MHD_Response *
on_report_status(struct MHD_Connection *conn, unsigned k, unsigned *status)
{
  struct report *rp = &reports[k % REPORTS_MAX];
  cJSON *doc = cJSON_CreateObject();
  struct MHD_Response *r;
  char url[300];
  int pending, fail;

  pthread_mutex_lock(&reports_mu);
  rp->polled++;
  pending = rp->polls_left > 0;
  if (pending)
    rp->polls_left--;
  fail = rp->fail;
  pthread_mutex_unlock(&reports_mu);
  if (pending) {
    *status = 202;
    cJSON_AddStringToObject(doc, "status", "pending");
    r = doc_resp(doc);
    if (r != NULL)
      MHD_add_response_header(r, "Retry-After", "1");
    return r;
  }
  *status = 200;
  cJSON_AddStringToObject(doc, "status", fail ? "failed" : "done");
  if (!fail) {
    snprintf(url, sizeof(url), "http://%s/v1/reports/r%u/file", host_of(conn),
             k);
    cJSON_AddStringToObject(doc, "url", url);
  }
  return doc_resp(doc);
}

/* The report's file: "row,r<k>\n" rows times. */
static struct MHD_Response *
file_resp(unsigned k, unsigned *status)
{
  char row[32];
  unsigned n, i;
  size_t rl;
  char *buf;
  struct MHD_Response *r;

  pthread_mutex_lock(&reports_mu);
  n = reports[k % REPORTS_MAX].rows;
  pthread_mutex_unlock(&reports_mu);
  rl = (size_t)snprintf(row, sizeof(row), "row,r%u\n", k);
  buf = malloc(rl * n + 1);
  if (buf == NULL)
    return NULL;
  for (i = 0; i < n; i++)
    memcpy(buf + rl * i, row, rl);
  r = MHD_create_response_from_buffer(rl * n, buf, MHD_RESPMEM_MUST_FREE);
  if (r == NULL) {
    free(buf);
    return NULL;
  }
  MHD_add_response_header(r, "Content-Type", "text/csv");
  *status = 200;
  return r;
}

static int
known(unsigned k)
{
  int ok;

  pthread_mutex_lock(&reports_mu);
  ok = k >= 1 && k <= nreports && k + REPORTS_MAX > nreports;
  pthread_mutex_unlock(&reports_mu);
  return ok;
}

struct MHD_Response *
pacer_testapi_pages(struct MHD_Connection *conn, const char *path,
                    const char *method, unsigned *status)
{
  unsigned k;
  int used = 0;

  *status = 404;
  if (strncmp(path, "/v1/pages/", 10) == 0) {
    const char *style = path + 10;

    if (strcmp(method, "GET") != 0) {
      *status = 405;
      return text_resp("{\"error\":\"method_not_allowed\"}",
                       "application/json");
    }
    if (strcmp(style, "body") == 0 || strcmp(style, "link") == 0 ||
        strcmp(style, "cursor") == 0)
      return on_page(conn, style, status);
  } else if (strcmp(path, "/v1/reports") == 0) {
    if (strcmp(method, "POST") == 0)
      return on_report_create(conn, status);
    *status = 405;
    return text_resp("{\"error\":\"method_not_allowed\"}", "application/json");
  } else if (sscanf(path, "/v1/reports/r%u%n", &k, &used) == 1 && known(k)) {
    if (path[used] == '\0')
      return on_report_status(conn, k, status);
    if (strcmp(path + used, "/file") == 0)
      return file_resp(k, status);
  }
  return text_resp("{\"error\":\"not_found\"}", "application/json");
}
