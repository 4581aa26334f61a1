/* curl_uv: libcurl's multi_socket interface on a libuv loop, and the
 * transfers that run on it. Shape of curl's docs/examples/multi-uv.c, minus
 * its shortcuts: every return value checked, a socket context freed only in
 * its close callback, no libcurl call from inside a libcurl callback, and
 * uv_poll_init failures turned into a failed transfer instead of a hang.
 *
 * Transfer lifetime:
 *
 *   pacer_curl_uv_start --> check_request, set_options
 *       --> curl_multi_add_handle --> (running)
 *   (running) --CURLMSG_DONE / doomed / cancel--> finish:
 *       getinfo --> curl_multi_remove_handle --> xfer_free --> done_cb
 *
 * A transfer is "doomed" when its socket could not be watched (uv_poll_init
 * or uv_poll_start failed inside SOCKETFUNCTION). The socket callback only
 * marks it; the next drain, which runs right after curl_multi_socket_action
 * returns, removes it and reports PACER_HTTP_TRANSPORT.
 */
#include "workers/curl_uv.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/utf8.h"

#define CURL_UV_MAXCONNECTS 1024L /* idle connections kept per worker */
#define BUF_FIRST_BYTES     16384 /* first response buffer, bytes */
#define BUF_SLACK_BYTES     65536 /* unused tail kept in a finished body, bytes */
#define HEADER_MAX_BYTES    4096     /* one captured header value, bytes */
#define CURL_MIN_VERSION    0x075500 /* 7.85.0: CURLOPT_PROTOCOLS_STR */
#define CURL_H2C_REUSE      0x080000 /* 8.0.0: reuses h2c (curl PR #10643) */
#define CURL_GOAWAY_RETRY   0x080500 /* 8.5.0: retries GOAWAY'd streams */
/* The errbuf text libcurl 7.88 leaves when Curl_retry_request gives up
 * (lib/transfer.c, CONN_MAX_RETRIES 5). */
#define CURL_GAVE_UP_TEXT   "Connection died, tried 5 times before giving up"
#define CAP_MAX_BYTES                                                          \
  ((size_t)INT64_MAX < SIZE_MAX - 1 ? (size_t)INT64_MAX : SIZE_MAX - 1)

/* Response headers passed to the scheduler, lower-case, JSON key order. */
static const char *const kept_names[] = {"content-type",
                                         "date",
                                         "retry-after",
                                         "ratelimit",
                                         "ratelimit-policy",
                                         "x-ratelimit-limit",
                                         "x-ratelimit-remaining",
                                         "x-ratelimit-reset",
                                         "location",
                                         "etag",
                                         "www-authenticate"};
#define NKEPT PACER_ARRAY_SIZE(kept_names)

/* One curl socket: a uv_poll_t watching fd. Freed in its close callback. */
struct pacer_sock {
  uv_poll_t poll;
  curl_socket_t fd;
  struct pacer_curl_uv *cu; /* borrowed owner */
  struct pacer_sock *prev;
  struct pacer_sock *next;
};

/* One request in the multi handle (STYLE 11). */
struct pacer_xfer {
  struct pacer_curl_uv *cu; /* borrowed owner */
  struct pacer_xfer *prev;
  struct pacer_xfer *next;
  struct pacer_http_outcome *outcome; /* owned; outcome->req is the request */
  CURL *easy;                         /* owned; PRIVATE points back here */
  struct curl_slist *headers;         /* owned request header list */
  char *buf;                          /* decoded response body, owned */
  size_t len;                         /* bytes used in buf */
  size_t alloc_bytes;                 /* bytes allocated for buf */
  size_t cap_bytes;                   /* body cap, bytes */
  char *kept[NKEPT];                  /* latest response's kept headers */
  int too_large;                      /* write callback hit cap_bytes */
  int nomem;                          /* write callback could not grow buf */
  int doomed_rc;                      /* UV_E* from a socket callback */
  int own_conn;                       /* FRESH_CONNECT + FORBID_REUSE set */
  /* On a connection of its own before libcurl 8.5.0 (on_debug), for the
   * latest try only (on_prereq starts a try): */
  uint32_t goaway_last; /* last_stream_id of the GOAWAY received */
  int goaway_seen;      /* the try's connection received a GOAWAY */
  const struct pacer_dest_policy *policy; /* borrowed from the request */
  char blocked[PACER_DEST_WHY_MAX];       /* why the policy refused an
                                             address, or "" */
  char errbuf[CURL_ERROR_SIZE];
};

/* Why finish() ends a transfer. */
enum end_reason {
  END_DONE,     /* libcurl reported CURLMSG_DONE */
  END_CANCELED, /* pacer_curl_uv_cancel_all */
  END_DOOMED    /* its socket could not be watched */
};

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

/* Copies src into dst (n + 1 bytes) replacing every byte that is not part
 * of a well-formed UTF-8 sequence with '?', so headers_json is valid JSON
 * text whatever bytes the upstream sent (RFC 8259 §8.1). Returns the
 * length written. */
static size_t
copy_utf8(char *dst, const char *src, size_t n)
{
  size_t i = 0, o = 0;

  while (i < n) {
    size_t ok = pacer_utf8_valid_prefix_len(src + i, n - i);

    memcpy(dst + o, src + i, ok);
    o += ok;
    i += ok;
    if (i < n) {
      dst[o++] = '?'; /* one byte of an ill-formed sequence */
      i++;
    }
  }
  dst[o] = '\0';
  return o;
}

/* Returns the headers kept from the final response as a JSON object in a
 * malloc'd string (free with free), or NULL when out of memory. */
static char *
headers_json(const struct pacer_xfer *x)
{
  cJSON *obj = cJSON_CreateObject();
  char *printed, *out = NULL;
  size_t i;

  if (obj == NULL)
    return NULL;
  for (i = 0; i < NKEPT; i++) {
    if (x->kept[i] != NULL &&
        cJSON_AddStringToObject(obj, kept_names[i], x->kept[i]) == NULL)
      goto done;
  }
  printed = cJSON_PrintUnformatted(obj);
  if (printed != NULL) {
    /* Outcome fields are all malloc'd so pacer_http_outcome_free can use
     * free(); cJSON's memory goes back through cJSON_free (STYLE 18). */
    out = strdup(printed);
    cJSON_free(printed);
  }
done:
  cJSON_Delete(obj);
  return out;
}

/* ------------------------------------------------------------------ */
/* Transfer callbacks (called by libcurl; they never call libcurl) */

static int
grow(struct pacer_xfer *x, size_t need)
{
  size_t n = x->alloc_bytes ? x->alloc_bytes : BUF_FIRST_BYTES;
  char *p;

  while (n < need)
    n = n > SIZE_MAX / 2 ? need : n * 2;
  if (n > x->cap_bytes + 1)
    n = x->cap_bytes + 1; /* never more than the cap plus the NUL */
  assert(n >= need);
  p = realloc(x->buf, n);
  if (p == NULL)
    return PACER_ENOMEM;
  x->buf = p;
  x->alloc_bytes = n;
  return 0;
}

static size_t
on_write(char *data, size_t size, size_t nmemb, void *userp)
{
  struct pacer_xfer *x = userp;
  size_t n = size * nmemb; /* size is always 1 */

  /* CASES C22: count decoded bytes and stop at the cap, so a gzip bomb or
   * a body without Content-Length costs at most cap + one curl buffer.
   * Returning less than n makes libcurl fail with CURLE_WRITE_ERROR. */
  if (n > x->cap_bytes - x->len) {
    x->too_large = 1;
    return 0;
  }
  if (x->len + n + 1 > x->alloc_bytes && grow(x, x->len + n + 1) != 0) {
    x->nomem = 1;
    return 0;
  }
  memcpy(x->buf + x->len, data, n);
  x->len += n;
  return n;
}

static void
forget_headers(struct pacer_xfer *x)
{
  size_t i;

  for (i = 0; i < NKEPT; i++) {
    free(x->kept[i]);
    x->kept[i] = NULL;
  }
}

static size_t
kept_index(const char *name, size_t len)
{
  size_t i;

  for (i = 0; i < NKEPT; i++) {
    if (strlen(kept_names[i]) == len &&
        strncasecmp(kept_names[i], name, len) == 0)
      return i;
  }
  return NKEPT;
}

/* Stores v (n bytes) as kept header i. A repeated header is joined with
 * ", " (RFC 9110 §5.3), so a scheduler sees "120, 120" for two Retry-After
 * lines and can treat the conflict as junk (CASES C07). Values are bounded
 * by HEADER_MAX_BYTES; a header that does not fit is dropped. */
static void
keep_header(struct pacer_xfer *x, size_t i, const char *v, size_t n)
{
  char *old = x->kept[i];
  size_t oldlen = old != NULL ? strlen(old) : 0;
  size_t sep = old != NULL ? 2 : 0;
  char *p;

  if (n > HEADER_MAX_BYTES)
    n = HEADER_MAX_BYTES;
  if (oldlen + sep + n > HEADER_MAX_BYTES)
    return;
  p = realloc(old, oldlen + sep + n + 1);
  if (p == NULL)
    return; /* headers are advisory: keep what we have */
  if (sep != 0)
    memcpy(p + oldlen, ", ", 2);
  copy_utf8(p + oldlen + sep, v, n);
  x->kept[i] = p;
}

static size_t
on_header(char *data, size_t size, size_t nitems, void *userp)
{
  struct pacer_xfer *x = userp;
  size_t n = size * nitems;
  const char *colon, *v, *end;
  size_t i;

  /* A status line starts a new response (1xx, each redirect hop): only the
   * final response's headers are reported. */
  if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
    forget_headers(x);
    return n;
  }
  /* RFC 9112 §5.2: obs-fold continuation lines are not kept */
  if (n == 0 || data[0] == ' ' || data[0] == '\t')
    return n;
  colon = memchr(data, ':', n);
  if (colon == NULL)
    return n;
  i = kept_index(data, (size_t)(colon - data));
  if (i == NKEPT)
    return n;
  v = colon + 1;
  end = data + n;
  /* RFC 9110 §5.5: leading and trailing whitespace is not part of a value */
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
                     end[-1] == '\t'))
    end--;
  keep_header(x, i, v, (size_t)(end - v));
  return n;
}

/* Keeps the first refusal: it names the address the job asked for. */
static void
note_blocked(struct pacer_xfer *x, const char *why)
{
  char quoted[PACER_DEST_WHY_MAX + 16];

  pacer_log(PACER_LOG_DEBUG, "http",
            "msg=\"connect refused by policy\" error=%s",
            pacer_log_value(quoted, sizeof(quoted), why));
  if (x->blocked[0] == '\0')
    snprintf(x->blocked, sizeof(x->blocked), "%s", why);
}

/* CURLOPT_OPENSOCKETFUNCTION, set only under a destination policy (CASES
 * C20). libcurl calls it instead of socket() with each resolved address it
 * is about to connect to, for the first request and for every redirect
 * hop. A refused address gets no socket, so nothing is ever connected to
 * it; libcurl tries the next address of the name, or fails the transfer
 * with CURLE_COULDNT_CONNECT. The socket is made exactly as libcurl's
 * default would make it. */
static curl_socket_t
on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
  struct pacer_xfer *x = clientp;
  char why[PACER_DEST_WHY_MAX];

  if (purpose != CURLSOCKTYPE_IPCXN) {
    note_blocked(x, "destination: a socket that is not an outgoing "
                    "connection, blocked by destination_policy public_only");
    return CURL_SOCKET_BAD;
  }
  if (pacer_dest_check(x->policy, &a->addr, a->addrlen, why, sizeof(why)) !=
      0) {
    note_blocked(x, why);
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

/* CURLOPT_PREREQFUNCTION, set under a destination policy and wherever
 * on_debug is: runs before each request is sent, on a new or a reused
 * connection, so once per try. A connection that another transfer opened
 * without a policy (a token request) is never checked by on_open_socket,
 * so its peer is checked here before this transfer sends anything on it.
 * A GOAWAY that an earlier try's connection received is not about this
 * try (docs/WORKERS.md, GOAWAY). */
static int
on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
          int local_port)
{
  struct pacer_xfer *x = clientp;
  char why[PACER_DEST_WHY_MAX];

  (void)local_ip;
  (void)primary_port;
  (void)local_port;
  x->goaway_seen = 0;
  if (x->policy != NULL && x->policy->mode != PACER_DEST_ANY &&
      pacer_dest_check_text(x->policy, primary_ip, why, sizeof(why)) != 0) {
    note_blocked(x, why);
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

/* Reads the decimal number at data[*i..n) into *out (at most 2^31 - 1,
 * an HTTP/2 stream id) and moves *i past it. Returns 0, or -1 when no
 * digit is there or it is too large. */
static int
read_u31(const char *data, size_t n, size_t *i, uint32_t *out)
{
  uint64_t v = 0;
  size_t start = *i;

  while (*i < n && data[*i] >= '0' && data[*i] <= '9') {
    v = v * 10u + (uint64_t)(data[*i] - '0');
    if (v > INT32_MAX)
      return -1;
    (*i)++;
  }
  if (*i == start)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

/* Skips the literal lit at data[*i..n). Returns 0, or -1 when absent. */
static int
skip_lit(const char *data, size_t n, size_t *i, const char *lit)
{
  size_t len = strlen(lit);

  if (n - *i < len || memcmp(data + *i, lit, len) != 0)
    return -1;
  *i += len;
  return 0;
}

int
pacer_curl_uv_goaway_text(const char *data, size_t n, uint32_t *last)
{
  uint32_t error_code;
  size_t i = 0;

  /* One lower-case word: libcurl 7.88 and 8.0 spell it "recveived", 8.1
   * to 8.4 "received" (lib/http2.c on_frame_recv). */
  while (i < n && data[i] >= 'a' && data[i] <= 'z')
    i++;
  if (i == 0 || skip_lit(data, n, &i, " GOAWAY, error=") != 0 ||
      read_u31(data, n, &i, &error_code) != 0 ||
      skip_lit(data, n, &i, ", last_stream=") != 0 ||
      read_u31(data, n, &i, last) != 0)
    return -1;
  /* what may follow is only the line's end */
  while (i < n && (data[i] == '\n' || data[i] == '\r'))
    i++;
  return i == n ? 0 : -1;
}

/* CURLOPT_DEBUGFUNCTION, set with CURLOPT_VERBOSE only on a transfer that
 * has a connection of its own on a libcurl before 8.5.0 (see set_options),
 * so that a stream refused by GOAWAY can be told apart (docs/WORKERS.md,
 * GOAWAY): such a libcurl ends it as a bare CURLE_HTTP2, the same code it gives
 * any transfer whose HTTP/2 session ended under it (lib/http2.c cf_h2_recv),
 * processed or not, and the GOAWAY's last_stream_id reaches the
 * application only as this info line. It reads CURLINFO_TEXT lines of
 * one fixed shape (pacer_curl_uv_goaway_text) and copies nothing else:
 * other text lines carry request headers ("h2h3 [authorization: ...]"),
 * and header and data blocks are never read (STYLE 21). libcurl prints
 * nothing when a debug function is set. */
static int
on_debug(CURL *easy, curl_infotype type, char *data, size_t n, void *userp)
{
  struct pacer_xfer *x = userp;
  uint32_t last;

  (void)easy;
  if (type != CURLINFO_TEXT)
    return 0;
  if (pacer_curl_uv_goaway_text(data, n, &last) == 0) {
    /* lib/http2.c, in the transfer reading the connection, which is this
     * one on a connection of its own */
    x->goaway_last = last;
    x->goaway_seen = 1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Transfers */

static void
xfer_free(struct pacer_xfer *x)
{
  struct curl_slist *l;

  if (x == NULL)
    return;
  if (x->easy != NULL)
    curl_easy_cleanup(x->easy);
  /* libcurl's copies of the header lines hold Authorization (STYLE 18) */
  for (l = x->headers; l != NULL; l = l->next)
    explicit_bzero(l->data, strlen(l->data));
  curl_slist_free_all(x->headers);
  forget_headers(x);
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

/* CASES C19: did libcurl give up on a request that the upstream never
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
 * transport error: "may have been processed". */
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
   * a connection of its own is the GOAWAY that on_debug saw this try's,
   * and there the request is the connection's first stream, id 1 (RFC
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
classify(struct pacer_xfer *x, CURLcode cc, enum end_reason why,
         struct pacer_http_outcome *o)
{
  o->error[0] = '\0';
  if (why == END_CANCELED) {
    o->result = PACER_HTTP_CANCELED;
    snprintf(o->error, sizeof(o->error),
             "pool: stopped before the transfer completed");
  } else if (why == END_DOOMED) {
    o->result = PACER_HTTP_TRANSPORT;
    snprintf(o->error, sizeof(o->error), "poll: cannot watch socket: %s",
             uv_strerror(x->doomed_rc));
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
    default:
      o->result = PACER_HTTP_TRANSPORT;
      break;
    }
    /* errbuf holds libcurl's own text; it never contains request headers. */
    snprintf(o->error, sizeof(o->error), "%s",
             x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(cc));
  }
}

/* Ends x: reads its figures, removes it from the multi handle, hands the
 * outcome to done_cb and frees x. Never called from a libcurl callback. */
static void
finish(struct pacer_xfer *x, CURLcode cc, enum end_reason why)
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
  o->headers_json = headers_json(x);
  if (o->body == NULL || o->headers_json == NULL)
    pacer_curl_uv_outcome_fail(o, o->result, o->error);
  x->outcome = NULL;
  xfer_free(x);
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
 * it may be an Authorization line (CASES C21). */
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
  /* CASES C18: removing a transfer whose lookup is still running must not
   * join the resolver thread, which would block the whole loop until
   * getaddrinfo returns. With QUICK_EXIT the thread is detached and frees
   * its own data when the lookup ends (asyn-thread.c). */
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
#endif
  /* CASES C20: http and https only, for the first request and every hop */
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  /* CASES C20: the destination policy sees every address libcurl would
   * connect to, after DNS, on every hop. Through a proxy it would see only
   * the proxy, so proxy environment variables are ignored ("" = none);
   * CURLOPT_CONNECT_TO and CURLOPT_RESOLVE are never set. */
  if (cc == CURLE_OK && x->policy != NULL &&
      x->policy->mode != PACER_DEST_ANY) {
    cc = curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PROXY, "");
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
  /* CASES C19: see on_debug (before 8.5.0, curl PR #12054). Never without
   * the debug function, which keeps libcurl from printing anything (request
   * headers included). */
  if (cc == CURLE_OK && x->own_conn && may_be_h2(req) && goaway_blind()) {
    cc = curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_DEBUGDATA, x);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
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
   * decoded bytes (CASES C22). */
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  if (cc == CURLE_OK && x->cu->user_agent != NULL)
    cc = curl_easy_setopt(e, CURLOPT_USERAGENT, x->cu->user_agent);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
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
  x->easy = curl_easy_init();
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
  xfer_free(x); /* never added to the multi handle */
  pacer_curl_uv_outcome_fail(o, PACER_HTTP_TRANSPORT, o->error);
  return rc;
}

void
pacer_curl_uv_cancel_all(struct pacer_curl_uv *cu)
{
  while (cu->xfers != NULL)
    finish(cu->xfers, CURLE_OK, END_CANCELED);
}

size_t
pacer_curl_uv_running(const struct pacer_curl_uv *cu)
{
  return cu->nxfers;
}

/* ------------------------------------------------------------------ */
/* Driving the multi handle */

/* Reports every finished transfer. Runs after each
 * curl_multi_socket_action (STYLE 10). */
static void
drain(struct pacer_curl_uv *cu)
{
  struct pacer_xfer *x, *next;
  CURLMsg *m;
  int left;

  while ((m = curl_multi_info_read(cu->multi, &left)) != NULL) {
    char *priv = NULL;
    CURLcode cc;

    if (m->msg != CURLMSG_DONE)
      continue;
    cc = m->data.result; /* m is invalid after curl_multi_remove_handle */
    if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv) !=
            CURLE_OK ||
        priv == NULL)
      continue;
    finish((struct pacer_xfer *)(void *)priv, cc, END_DONE);
  }
  for (x = cu->xfers; cu->ndoomed > 0 && x != NULL; x = next) {
    next = x->next;
    if (x->doomed_rc != 0)
      finish(x, CURLE_OK, END_DOOMED);
  }
}

static void
drive(struct pacer_curl_uv *cu, curl_socket_t fd, int flags)
{
  int running = 0;
  CURLMcode mc = curl_multi_socket_action(cu->multi, fd, flags, &running);

  if (mc != CURLM_OK)
    pacer_log(PACER_LOG_WARN, "http",
              "msg=\"curl_multi_socket_action failed\" error=\"%s\"",
              curl_multi_strerror(mc));
  drain(cu);
}

static void
on_timeout(uv_timer_t *t)
{
  struct pacer_curl_uv *cu = PACER_CONTAINER_OF(t, struct pacer_curl_uv, timer);

  drive(cu, CURL_SOCKET_TIMEOUT, 0);
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
  struct pacer_sock *s = PACER_CONTAINER_OF(h, struct pacer_sock, poll);
  int flags = 0;

  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  /* s may be closed by the call; its memory lives until the close cb. */
  drive(s->cu, s->fd, flags);
}

static void
on_sock_closed(uv_handle_t *h)
{
  struct pacer_sock *s =
      PACER_CONTAINER_OF((uv_poll_t *)h, struct pacer_sock, poll);

  free(s);
}

static void
sock_close(struct pacer_sock *s)
{
  struct pacer_curl_uv *cu = s->cu;

  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    cu->socks = s->next;
  if (s->next != NULL)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
  uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static int
sock_new(struct pacer_curl_uv *cu, curl_socket_t fd, struct pacer_sock **out)
{
  struct pacer_sock *s = calloc(1, sizeof(*s));
  int rc;

  *out = NULL;
  if (s == NULL)
    return UV_ENOMEM;
  rc = uv_poll_init_socket(cu->loop, &s->poll, fd);
  if (rc != 0) {
    free(s); /* a failed init leaves no handle to close */
    return rc;
  }
  s->fd = fd;
  s->cu = cu;
  s->next = cu->socks;
  if (cu->socks != NULL)
    cu->socks->prev = s;
  cu->socks = s;
  *out = s;
  return 0;
}

/* Marks the transfer behind easy as failed; drain() ends it once libcurl
 * has returned. */
static void
doom(struct pacer_curl_uv *cu, CURL *easy, curl_socket_t fd, int rc)
{
  char *priv = NULL;
  struct pacer_xfer *x;

  pacer_log(PACER_LOG_WARN, "http",
            "msg=\"cannot watch socket\" fd=%d error=%s", (int)fd,
            uv_err_name(rc));
  if (easy == NULL ||
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
      priv == NULL)
    return;
  x = (struct pacer_xfer *)(void *)priv;
  if (x->doomed_rc == 0) {
    x->doomed_rc = rc;
    cu->ndoomed++;
  }
}

/* CURLMOPT_SOCKETFUNCTION: only (un)watches sockets, never calls back into
 * libcurl except curl_multi_assign, which exists for this. */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
  struct pacer_curl_uv *cu = userp;
  struct pacer_sock *s = socketp;
  int events = 0;
  int rc;

  if (what == CURL_POLL_REMOVE) {
    /* libcurl drops its own entry for fd right after this returns, so
     * there is nothing to curl_multi_assign back. */
    if (s != NULL)
      sock_close(s);
    return 0;
  }
  if (what & CURL_POLL_IN)
    events |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    events |= UV_WRITABLE;
  if (s == NULL) {
    CURLMcode mc;

    rc = sock_new(cu, fd, &s);
    if (rc != 0) {
      doom(cu, easy, fd, rc);
      return 0;
    }
    mc = curl_multi_assign(cu->multi, fd, s);
    if (mc != CURLM_OK) {
      sock_close(s);
      doom(cu, easy, fd, UV_EINVAL);
      return 0;
    }
  }
  rc = uv_poll_start(&s->poll, events, on_poll);
  if (rc != 0)
    doom(cu, easy, fd, rc);
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the one timer; n >= 0 (re)arms it for n
 * ms, so 0 runs curl_multi_socket_action from the loop, not from here
 * (CASES C16). libuv before 1.45 runs a 0 ms timer that is re-armed inside
 * its own callback again in the same timer phase instead of the next loop
 * iteration; that is a loop, not recursion (the stack unwinds between the
 * calls), and it ends because libcurl asks for 0 only while it has work
 * that is due now. */
static int
on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
  struct pacer_curl_uv *cu = userp;
  int rc;

  (void)multi;
  if (timeout_ms < 0)
    rc = uv_timer_stop(&cu->timer);
  else
    rc = uv_timer_start(&cu->timer, on_timeout, (uint64_t)timeout_ms, 0);
  return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Lifecycle */

int
pacer_curl_uv_check_features(void)
{
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

  if (v == NULL || (v->features & CURL_VERSION_ASYNCHDNS) == 0) {
    pacer_log(PACER_LOG_ERROR, "http",
              "msg=\"libcurl has no threaded resolver; one slow DNS answer "
              "would stall a worker: apt-get install -y libcurl4\"");
    return PACER_ECONFIG;
  }
  if (v->version_num < CURL_MIN_VERSION) {
    pacer_log(PACER_LOG_ERROR, "http",
              "msg=\"libcurl %s is older than 7.85.0, which pacer needs for "
              "protocol allow-lists: upgrade libcurl4\"",
              v->version);
    return PACER_ECONFIG;
  }
  return 0;
}

int
pacer_curl_uv_init(uv_loop_t *loop, struct pacer_curl_uv *cu,
                   const char *user_agent, pacer_curl_uv_done_cb done)
{
  CURLMcode mc;
  int rc;

  memset(cu, 0, sizeof(*cu));
  cu->loop = loop;
  cu->user_agent = user_agent;
  cu->done_cb = done;
  cu->multi = curl_multi_init();
  if (cu->multi == NULL)
    return PACER_ENOMEM;
  mc = curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  if (mc == CURLM_OK)
    mc = curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu);
  if (mc == CURLM_OK)
    mc = curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
  if (mc == CURLM_OK)
    mc = curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu);
  /* HTTP/2 streams share one connection per host when offered (the
   * default since 7.62, set so the intent is written down). */
  if (mc == CURLM_OK)
    mc = curl_multi_setopt(cu->multi, CURLMOPT_PIPELINING,
                           (long)CURLPIPE_MULTIPLEX);
  /* Unset, libcurl sizes its connection cache at 4 x the transfers added
   * right now and closes idle connections whenever in-flight dips: a batch
   * reconnected hundreds of times (bench/README.md). Keep enough. */
  if (mc == CURLM_OK)
    mc = curl_multi_setopt(cu->multi, CURLMOPT_MAXCONNECTS,
                           (long)CURL_UV_MAXCONNECTS);
  if (mc != CURLM_OK) {
    rc = mc == CURLM_OUT_OF_MEMORY ? PACER_ENOMEM : PACER_EHTTP;
    goto fail;
  }
  rc = uv_timer_init(loop, &cu->timer);
  if (rc != 0)
    goto fail;
  return 0;
fail:
  curl_multi_cleanup(cu->multi);
  cu->multi = NULL;
  return rc;
}

static void
on_timer_closed(uv_handle_t *h)
{
  struct pacer_curl_uv *cu =
      PACER_CONTAINER_OF((uv_timer_t *)h, struct pacer_curl_uv, timer);

  if (cu->close_cb != NULL)
    cu->close_cb(cu);
}

void
pacer_curl_uv_close(struct pacer_curl_uv *cu, pacer_curl_uv_close_cb cb)
{
  CURLMcode mc;

  assert(!cu->closing);
  assert(cu->nxfers == 0);
  cu->closing = 1;
  cu->close_cb = cb;
  /* Closes cached connections; libcurl may call on_socket(REMOVE) here. */
  mc = curl_multi_cleanup(cu->multi);
  if (mc != CURLM_OK)
    pacer_log(PACER_LOG_WARN, "http",
              "msg=\"curl_multi_cleanup failed\" error=\"%s\"",
              curl_multi_strerror(mc));
  cu->multi = NULL;
  /* libcurl owes no more callbacks: close any socket it did not remove. */
  while (cu->socks != NULL)
    sock_close(cu->socks);
  uv_close((uv_handle_t *)&cu->timer, on_timer_closed);
}
