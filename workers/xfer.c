/* xfer: one transfer, from pacer_curl_uv_start to its outcome. Checks the
 * request, builds the easy handle and its options (the callbacks are in
 * workers/xfer_cb.c), adds it to the multi handle, and when it ends
 * (pacer_xfer_finish) turns what libcurl and the callbacks left into a
 * struct pacer_http_outcome, including telling a request the upstream
 * refused unprocessed (RFC 9113 §8.7) from one it may have processed.
 *
 * Transfer lifetime:
 *
 *   pacer_curl_uv_start --> check_request, set_options
 *       --> curl_multi_add_handle --> (running)
 *   (running) --CURLMSG_DONE / doomed / cancel--> pacer_xfer_finish:
 *       getinfo --> curl_multi_remove_handle --> xfer_free --> done_cb
 *   xfer_free keeps the easy handle of a completed transfer, reset, in
 *   cu->idle; pacer_curl_uv_start takes one from there before creating one.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "workers/curl_uv_int.h"

#define BUF_SLACK_BYTES   65536 /* unused tail kept in a finished body, bytes */
#define CURL_H2C_REUSE    0x080000 /* 8.0.0: reuses h2c (curl PR #10643) */
#define CURL_GOAWAY_RETRY 0x080500 /* 8.5.0: retries GOAWAY'd streams */
/* The errbuf text libcurl 7.88 leaves when Curl_retry_request gives up
 * (lib/transfer.c, CONN_MAX_RETRIES 5). */
#define CURL_GAVE_UP_TEXT "Connection died, tried 5 times before giving up"
#define CAP_MAX_BYTES                                                          \
  ((size_t)INT64_MAX < SIZE_MAX - 1 ? (size_t)INT64_MAX : SIZE_MAX - 1)

/* ------------------------------------------------------------------ */
/* Outcomes */

void
pacer_curl_uv_outcome_fail(struct pacer_http_outcome *o,
                           enum pacer_http_result r, const char *msg)
{
  o->result = r;
  if (msg != o->error)
    snprintf(o->error, sizeof(o->error), "%s", msg != NULL ? msg : "");
  if (o->body == NULL) {
    o->body = calloc(1, 1);
    o->body_len = 0;
  }
  if (o->headers_json == NULL)
    o->headers_json = strdup("{}");
}

/* ------------------------------------------------------------------ */
/* Transfers */

/* Frees x. With keep, its easy handle (already removed from the multi
 * handle after a transfer that completed) is reset and kept for the next
 * transfer instead, while there is room: curl_easy_reset clears every
 * option (URL, headers list, callbacks, PRIVATE) and keeps only the
 * caches; the connections live in the multi handle either way. */
static void
xfer_free(struct pacer_xfer *x, int keep)
{
  struct curl_slist *l;

  if (x == NULL)
    return;
  if (x->easy != NULL && keep && !x->cu->closing &&
      x->cu->nidle < PACER_CURL_UV_IDLE_MAX) {
    curl_easy_reset(x->easy);
    x->cu->idle[x->cu->nidle++] = x->easy;
  } else if (x->easy != NULL) {
    curl_easy_cleanup(x->easy);
  }
  /* libcurl's copies of the header lines hold Authorization: wipe them
   * before freeing (docs/WORKERS.md, Secrets) */
  for (l = x->headers; l != NULL; l = l->next)
    explicit_bzero(l->data, strlen(l->data));
  curl_slist_free_all(x->headers);
  pacer_xfer_forget_headers(x);
  free(x->buf);
  free(x);
}

static void
unlink_xfer(struct pacer_xfer *x)
{
  struct pacer_curl_uv *cu = x->cu;

  if (x->prev != NULL)
    x->prev->next = x->next;
  else
    cu->xfers = x->next;
  if (x->next != NULL)
    x->next->prev = x->prev;
  x->prev = x->next = NULL;
  cu->nxfers--;
}

/* Did libcurl give up on a request that the upstream never
 * processed? libcurl 7.88 re-sends a request whose HTTP/2 stream was
 * refused (RST_STREAM REFUSED_STREAM, or a stream above a GOAWAY's
 * last_stream_id, which nghttp2 closes as REFUSED_STREAM) on a new
 * connection up to 5 times (Curl_retry_request), then fails with
 * CURLE_RECV_ERROR, or CURLE_SEND_ERROR when the request could not even
 * start on a connection that had received GOAWAY, and CURL_GAVE_UP_TEXT.
 * errbuf keeps the first failf() of the whole transfer, so that exact text
 * means no try failed in any other way.
 *
 * The same retry also re-sends a request whose reused connection died
 * before any response byte: over HTTP/1.1 that may follow a request the
 * server did process. So it counts only on a connection of the transfer's
 * own (FRESH_CONNECT: libcurl never reuses one, so only a refused stream
 * can lead to a retry; the scheduler sets it for POST/PATCH without
 * Idempotency-Key) or when libcurl spoke HTTP/2, and never after a
 * redirect (the first hop was processed). Everything else, such as a
 * GOAWAY'd stream that 7.88 reports as CURLE_HTTP2 with no text, stays a
 * transport error: "may have been processed". docs/WORKERS.md, GOAWAY and
 * REFUSED_STREAM; pinned by test_pool and e2e_h2. */
static int
never_processed(struct pacer_xfer *x, CURLcode cc, long status)
{
  long header_bytes = 1, redirects = 1, version = 0;
  int gave_up = (cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR) &&
                strcmp(x->errbuf, CURL_GAVE_UP_TEXT) == 0;
  /* Before 8.5.0 libcurl ends the last stream of a session that a GOAWAY
   * emptied with CURLE_HTTP2, no text and no retry (lib/http2.c
   * h2_process_pending_input). The code alone does not say the stream was
   * refused: any session that ended under the transfer gives it. Only on
   * a connection of its own is the GOAWAY that pacer_xfer_on_debug saw this
   * try's, and there the request is the connection's first stream, id 1 (RFC
   * 9113 §5.1.1; an h2c upgrade's request is stream 1 too, RFC 7540
   * §3.2), so it lies above the GOAWAY's last_stream_id, and was not
   * processed (RFC 9113 §6.8), exactly when that id is 0. */
  int goaway = cc == CURLE_HTTP2 && x->errbuf[0] == '\0' && x->own_conn &&
               x->goaway_seen && x->goaway_last < 1u;

  if ((!gave_up && !goaway) || status != 0 || x->len != 0)
    return 0;
  if (curl_easy_getinfo(x->easy, CURLINFO_HEADER_SIZE, &header_bytes) !=
          CURLE_OK ||
      header_bytes != 0 ||
      curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_COUNT, &redirects) !=
          CURLE_OK ||
      redirects != 0)
    return 0;
  if (x->own_conn || goaway)
    return 1;
  return curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &version) ==
             CURLE_OK &&
         version == CURL_HTTP_VERSION_2_0;
}

/* Sets result and error text of o from how x ended. */
static void
classify(struct pacer_xfer *x, CURLcode cc, enum pacer_xfer_end why,
         struct pacer_http_outcome *o)
{
  o->error[0] = '\0';
  if (why == PACER_XFER_END_CANCELED) {
    o->result = PACER_HTTP_CANCELED;
    snprintf(o->error, sizeof(o->error),
             "pool: stopped before the transfer completed");
  } else if (why == PACER_XFER_END_DOOMED) {
    o->result = PACER_HTTP_TRANSPORT;
    snprintf(o->error, sizeof(o->error), "poll: cannot watch socket: %s",
             uv_strerror(x->doomed_rc));
  } else if (x->missed_us != 0 && cc == CURLE_ABORTED_BY_CALLBACK) {
    o->result = PACER_HTTP_MISSED_SLOT;
    snprintf(o->error, sizeof(o->error),
             "pacing: would have left %" PRIu64 " us after its slot, more "
             "than the %" PRIu64 " us allowed; not sent",
             x->missed_us, o->req->late_max_us);
  } else if (x->blocked[0] != '\0' &&
             (cc == CURLE_COULDNT_CONNECT || cc == CURLE_ABORTED_BY_CALLBACK)) {
    /* Every address was refused (or refused and unreachable), or the
     * peer of a reused connection was: say which address and why. */
    o->result = PACER_HTTP_BLOCKED;
    snprintf(o->error, sizeof(o->error), "%s", x->blocked);
  } else if (x->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
    o->result = PACER_HTTP_TOO_LARGE;
    snprintf(o->error, sizeof(o->error), "response: body exceeds %zu bytes",
             x->cap_bytes);
  } else if (x->nomem) {
    o->result = PACER_HTTP_TRANSPORT;
    snprintf(o->error, sizeof(o->error), "response: out of memory");
  } else if (never_processed(x, cc, o->status)) {
    o->result = PACER_HTTP_REFUSED;
    snprintf(o->error, sizeof(o->error), "%s",
             "http2: the upstream refused the request on each of libcurl's "
             "6 tries (REFUSED_STREAM, or above a GOAWAY's last_stream_id), "
             "so it was never processed (RFC 9113 section 8.7)");
  } else {
    switch (cc) {
    case CURLE_OK:
      o->result = PACER_HTTP_OK;
      return;
    case CURLE_OPERATION_TIMEDOUT:
      o->result = PACER_HTTP_TIMEOUT;
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      o->result = PACER_HTTP_CONNECT;
      break;
    case CURLE_TOO_MANY_REDIRECTS:
      o->result = PACER_HTTP_TOO_MANY_REDIRECTS;
      break;
    default:
      o->result = PACER_HTTP_TRANSPORT;
      break;
    }
    /* errbuf holds libcurl's own text; it never contains request headers. */
    snprintf(o->error, sizeof(o->error), "%s",
             x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(cc));
  }
}

void
pacer_xfer_finish(struct pacer_xfer *x, CURLcode cc, enum pacer_xfer_end why)
{
  struct pacer_curl_uv *cu = x->cu;
  struct pacer_http_outcome *o = x->outcome;
  long status = 0;
  curl_off_t total_us = 0;
  CURLMcode mc;

  if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
    status = 0;
  if (curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total_us) != CURLE_OK)
    total_us = 0;
  mc = curl_multi_remove_handle(cu->multi, x->easy);
  if (mc != CURLM_OK)
    pacer_log(PACER_LOG_WARN, "http",
              "msg=\"curl_multi_remove_handle failed\" error=\"%s\"",
              curl_multi_strerror(mc));
  if (x->doomed_rc != 0)
    cu->ndoomed--;
  unlink_xfer(x);

  o->status = status;
  o->total_us = total_us > 0 ? (uint64_t)total_us : 0;
  classify(x, cc, why, o);
  if (x->buf != NULL && x->alloc_bytes - x->len > BUF_SLACK_BYTES) {
    char *p = realloc(x->buf, x->len + 1); /* give back the growth slack */

    if (p != NULL)
      x->buf = p;
  }
  if (x->buf != NULL) {
    x->buf[x->len] = '\0';
    o->body = x->buf;
    o->body_len = x->len;
    x->buf = NULL;
  }
  o->headers_json = pacer_xfer_headers_json(x);
  if (o->body == NULL || o->headers_json == NULL)
    pacer_curl_uv_outcome_fail(o, o->result, o->error);
  x->outcome = NULL;
  /* Only a handle whose transfer ran to its end is kept: one cut short
   * (cancelled, doomed, a resolver thread still running) is freed. */
  xfer_free(x, why == PACER_XFER_END_DONE && cc == CURLE_OK && mc == CURLM_OK);
  cu->done_cb(cu, o);
}

/* RFC 9110 §5.6.2 token: what CURLOPT_CUSTOMREQUEST may carry without
 * letting a method smuggle a second request line. */
static int
is_token(const char *s)
{
  static const char extra[] = "!#$%&'*+-.^_`|~";

  if (*s == '\0')
    return 0;
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;

    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || strchr(extra, c) != NULL))
      return 0;
  }
  return 1;
}

/* Returns 0 when req can be handed to libcurl, or PACER_EINVAL with
 * o->error naming the field. Header text is never copied into the error:
 * it may be an Authorization line (test_pool,
 * invalid_requests_fail_without_echoing_header_text). */
static int
check_request(const struct pacer_http_request *req,
              struct pacer_http_outcome *o)
{
  size_t i;

  if (req->method == NULL || !is_token(req->method))
    goto fail_method;
  if (req->url == NULL || req->url[0] == '\0') {
    snprintf(o->error, sizeof(o->error), "request.url: missing");
    return PACER_EINVAL;
  }
  if (req->nheaders > PACER_HTTP_MAX_HEADERS) {
    snprintf(o->error, sizeof(o->error),
             "request.headers: %zu lines, at most %d allowed", req->nheaders,
             PACER_HTTP_MAX_HEADERS);
    return PACER_EINVAL;
  }
  for (i = 0; i < req->nheaders; i++) {
    if (req->headers == NULL || req->headers[i] == NULL ||
        strpbrk(req->headers[i], "\r\n") != NULL) {
      snprintf(o->error, sizeof(o->error),
               "request.headers[%zu]: missing or contains CR/LF", i);
      return PACER_EINVAL;
    }
  }
  if ((unsigned)req->http_version >
      (unsigned)PACER_HTTP_VERSION_2_PRIOR_KNOWLEDGE) {
    snprintf(o->error, sizeof(o->error), "request.http_version: %u unknown",
             (unsigned)req->http_version);
    return PACER_EINVAL;
  }
  if (req->body == NULL && req->body_len != 0) {
    snprintf(o->error, sizeof(o->error), "request.body: NULL with body_len %zu",
             req->body_len);
    return PACER_EINVAL;
  }
  return 0;
fail_method:
  snprintf(o->error, sizeof(o->error), "request.method: not an HTTP token");
  return PACER_EINVAL;
}

static int
has_header(const struct pacer_http_request *req, const char *name)
{
  size_t i, n = strlen(name);

  for (i = 0; i < req->nheaders; i++) {
    const char *h = req->headers[i];

    if (strncasecmp(h, name, n) == 0 && (h[n] == ':' || h[n] == ';'))
      return 1;
  }
  return 0;
}

static int
build_headers(struct pacer_xfer *x, const struct pacer_http_request *req,
              int sends_body)
{
  struct curl_slist *l;
  size_t i;

  for (i = 0; i < req->nheaders; i++) {
    l = curl_slist_append(x->headers, req->headers[i]);
    if (l == NULL)
      return PACER_ENOMEM;
    x->headers = l;
  }
  if (!sends_body)
    return 0;
  /* Send the body exactly as prepared: libcurl would otherwise add its
   * form Content-Type and an "Expect: 100-continue" round trip. A line
   * "Name:" with no value removes libcurl's own header. */
  if (!has_header(req, "content-type")) {
    l = curl_slist_append(x->headers, "Content-Type:");
    if (l == NULL)
      return PACER_ENOMEM;
    x->headers = l;
  }
  if (!has_header(req, "expect")) {
    l = curl_slist_append(x->headers, "Expect:");
    if (l == NULL)
      return PACER_ENOMEM;
    x->headers = l;
  }
  return 0;
}

static CURLcode
set_method(struct pacer_xfer *x, const struct pacer_http_request *req)
{
  CURL *e = x->easy;
  const char *m = req->method;
  CURLcode cc = CURLE_OK;

  if (strcmp(m, "HEAD") == 0)
    return curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  if (req->body != NULL || strcmp(m, "POST") == 0) {
    /* POSTFIELDS sends a body with any method; for POST itself no
     * CUSTOMREQUEST, so libcurl's redirect rules for POST still apply. Never
     * CURLOPT_UPLOAD: it would read the body through a read callback. */
    cc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                          (curl_off_t)req->body_len);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                            req->body != NULL ? req->body : "");
    if (cc == CURLE_OK && strcmp(m, "POST") != 0)
      cc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    return cc;
  }
  if (strcmp(m, "GET") != 0)
    cc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
  return cc;
}

static long
curl_http_version(enum pacer_http_version v)
{
  switch (v) {
  case PACER_HTTP_VERSION_1_1:
    return (long)CURL_HTTP_VERSION_1_1;
  case PACER_HTTP_VERSION_2:
    return (long)CURL_HTTP_VERSION_2_0;
  case PACER_HTTP_VERSION_2_PRIOR_KNOWLEDGE:
    return (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  case PACER_HTTP_VERSION_DEFAULT:
    break;
  }
  return (long)CURL_HTTP_VERSION_2TLS;
}

/* Returns 1 when req gets a fresh connection that is closed afterwards:
 * forbid_reuse, or cleartext HTTP/2 on a libcurl that cannot reuse it.
 * 7.88 adds a second HTTP/2 layer to a reused prior-knowledge connection,
 * so every transfer after the first fails with CURLE_HTTP2 before sending
 * (curl issue #10634, fixed in 8.0.0); and it multiplexes transfers onto a
 * connection still in its "Upgrade: h2c" exchange, which interleaves
 * requests on the wire (seen with pacer-testapi-h2). */
static int
own_connection(const struct pacer_http_request *req)
{
  const curl_version_info_data *v;

  if (req->forbid_reuse)
    return 1;
  if ((req->http_version != PACER_HTTP_VERSION_2 &&
       req->http_version != PACER_HTTP_VERSION_2_PRIOR_KNOWLEDGE) ||
      strncasecmp(req->url, "http:", 5) != 0)
    return 0;
  v = curl_version_info(CURLVERSION_NOW);
  return v == NULL || v->version_num < CURL_H2C_REUSE;
}

/* Returns 1 when req may end up on HTTP/2: https unless 1.1 was asked
 * for, or cleartext HTTP/2 asked for. */
static int
may_be_h2(const struct pacer_http_request *req)
{
  if (strncasecmp(req->url, "https:", 6) == 0)
    return req->http_version != PACER_HTTP_VERSION_1_1;
  return req->http_version == PACER_HTTP_VERSION_2 ||
         req->http_version == PACER_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
}

/* Returns 1 when libcurl reports a GOAWAY'd stream as a bare CURLE_HTTP2
 * instead of retrying it (before 8.5.0). */
static int
goaway_blind(void)
{
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

  return v == NULL || v->version_num < CURL_GOAWAY_RETRY;
}

/* CURLOPT_XFERINFOFUNCTION: a non-zero return aborts the transfer when
 * the scheduler raised the request's abort_flag (scheduler/cancel.c). */
static int
on_xferinfo(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
            curl_off_t ulnow)
{
  const struct pacer_xfer *x = p;

  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  return atomic_load(x->outcome->req->abort_flag) != 0;
}

static CURLcode
set_options(struct pacer_xfer *x, const struct pacer_http_request *req)
{
  CURL *e = x->easy;
  CURLcode cc;

  cc = curl_easy_setopt(e, CURLOPT_URL, req->url);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
  /* Removing a transfer whose lookup is still running must not
   * join the resolver thread, which would block the whole loop until
   * getaddrinfo returns. With QUICK_EXIT the thread is detached and frees
   * its own data when the lookup ends (asyn-thread.c; docs/WORKERS.md,
   * DNS; e2e_dns). */
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
#endif
  /* http and https only, for the first request and every hop
   * (docs/WORKERS.md, Protocols) */
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  /* The destination policy sees every address libcurl would
   * connect to, after DNS, on every hop. Through a proxy it would see only
   * the proxy, so proxy environment variables are ignored ("" = none);
   * CURLOPT_CONNECT_TO and CURLOPT_RESOLVE are never set
   * (docs/WORKERS.md, Destination policy; e2e_destination). */
  if (cc == CURLE_OK && x->policy != NULL &&
      x->policy->mode != PACER_DEST_ANY) {
    cc = curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
                          pacer_xfer_on_open_socket);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, pacer_xfer_on_prereq);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PROXY, "");
  }
  /* A paced request tells the pacer when it really leaves, so the next one
   * of its key is spaced from that moment (workers/pace.h). */
  if (cc == CURLE_OK && (req->pace_key != 0 || req->late_max_us != 0)) {
    cc = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, pacer_xfer_on_prereq);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
  }
  /* libcurl drops only Authorization and Cookie when a hop changes host;
   * any other secret header would go along, so the scheduler turns
   * following off for those jobs and gets the 3xx itself. */
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION,
                          req->follow_redirects ? 1L : 0L);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)PACER_HTTP_MAX_REDIRECTS);
  /* A request on a reused connection that dies before any response byte is
   * re-sent by libcurl on a new connection, unseen by the scheduler. A fresh
   * connection is never retried that way, so a non-idempotent request goes
   * out at most once per attempt. */
  x->own_conn = own_connection(req);
  if (cc == CURLE_OK && x->own_conn)
    cc = curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  if (cc == CURLE_OK && x->own_conn)
    cc = curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                          curl_http_version(req->http_version));
  /* Tells a GOAWAY'd stream apart: see pacer_xfer_on_debug (before 8.5.0, curl
   * PR #12054). Never without the debug function, which keeps libcurl from
   * printing anything (request headers included). */
  if (cc == CURLE_OK && x->own_conn && may_be_h2(req) && goaway_blind()) {
    cc = curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, pacer_xfer_on_debug);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_DEBUGDATA, x);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, pacer_xfer_on_prereq);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
  }
  /* Wait for a connection that may multiplex rather than open another.
   * For https, and for prior knowledge, where libcurl marks the connection
   * multiplexed as soon as the first request starts. Not for the default
   * over http: a cleartext connection is then always HTTP/1.1, yet libcurl
   * 7.88 learns that only from the first response's status line, so
   * PIPEWAIT would hold every other transfer to that host until the first
   * (possibly slow) response begins. */
  if (cc == CURLE_OK &&
      (strncasecmp(req->url, "https:", 6) == 0 ||
       req->http_version == PACER_HTTP_VERSION_2_PRIOR_KNOWLEDGE))
    cc = curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  /* "" offers every encoding libcurl can decode; the body cap counts the
   * decoded bytes (docs/WORKERS.md, Response body cap). */
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  if (cc == CURLE_OK && x->cu->user_agent != NULL)
    cc = curl_easy_setopt(e, CURLOPT_USERAGENT, x->cu->user_agent);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, pacer_xfer_on_write);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, pacer_xfer_on_header);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  if (cc == CURLE_OK && req->connect_timeout_ms > 0)
    cc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                          (long)req->connect_timeout_ms);
  if (cc == CURLE_OK && req->timeout_ms > 0)
    cc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
  /* A Content-Length above the cap fails before any body byte is read. A
   * HEAD response's Content-Length describes a body that never comes. */
  if (cc == CURLE_OK && strcmp(req->method, "HEAD") != 0)
    cc = curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                          (curl_off_t)x->cap_bytes);
  if (cc == CURLE_OK && x->headers != NULL)
    cc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
  if (cc == CURLE_OK && req->abort_flag != NULL) {
    cc = curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  }
  if (cc == CURLE_OK)
    cc = set_method(x, req);
  return cc;
}

int
pacer_curl_uv_start(struct pacer_curl_uv *cu, struct pacer_http_outcome *o)
{
  const struct pacer_http_request *req = o->req;
  struct pacer_xfer *x = NULL;
  int sends_body;
  CURLcode cc;
  CURLMcode mc;
  int rc;

  assert(!cu->closing);
  rc = check_request(req, o);
  if (rc != 0)
    goto fail;
  x = calloc(1, sizeof(*x));
  if (x == NULL)
    goto fail_nomem;
  x->cu = cu;
  x->policy = req->dest_policy;
  /* 0 means the default cap, as 0 means libcurl's default for timeouts */
  x->cap_bytes = req->body_cap_bytes != 0 ? req->body_cap_bytes
                                          : PACER_HTTP_BODY_CAP_DEFAULT;
  if (x->cap_bytes > CAP_MAX_BYTES)
    x->cap_bytes = CAP_MAX_BYTES; /* room for the NUL; fits a curl_off_t */
  sends_body = strcmp(req->method, "HEAD") != 0 &&
               (req->body != NULL || strcmp(req->method, "POST") == 0);
  if (build_headers(x, req, sends_body) != 0)
    goto fail_nomem;
  x->easy = cu->nidle > 0 ? cu->idle[--cu->nidle] : curl_easy_init();
  if (x->easy == NULL)
    goto fail_nomem;
  cc = set_options(x, req);
  if (cc != CURLE_OK) {
    rc = PACER_EHTTP;
    snprintf(o->error, sizeof(o->error), "request: %s", curl_easy_strerror(cc));
    goto fail;
  }
  mc = curl_multi_add_handle(cu->multi, x->easy);
  if (mc != CURLM_OK) {
    rc = mc == CURLM_OUT_OF_MEMORY ? PACER_ENOMEM : PACER_EHTTP;
    snprintf(o->error, sizeof(o->error), "curl_multi_add_handle: %s",
             curl_multi_strerror(mc));
    goto fail;
  }
  x->outcome = o;
  x->next = cu->xfers;
  if (cu->xfers != NULL)
    cu->xfers->prev = x;
  cu->xfers = x;
  cu->nxfers++;
  return 0;

fail_nomem:
  rc = PACER_ENOMEM;
  snprintf(o->error, sizeof(o->error), "worker: out of memory");
fail:
  xfer_free(x, 0); /* never added to the multi handle */
  pacer_curl_uv_outcome_fail(o, PACER_HTTP_TRANSPORT, o->error);
  return rc;
}
