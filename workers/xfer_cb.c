/* xfer_cb: the callbacks libcurl calls during one transfer (body,
 * headers, sockets, tries, debug text) and the kept response headers they
 * fill. They never call libcurl; workers/xfer.c sets them on the easy
 * handle and reads what they left when the transfer ends.
 */
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
#include "workers/curl_uv_int.h"

#define BUF_FIRST_BYTES  16384 /* first response buffer, bytes */
#define HEADER_MAX_BYTES 4096  /* one captured header value, bytes */

/* Response headers passed to the scheduler, lower-case, JSON key order.
 * The last three are read by throttle rules (core/throttle_rule_parse.c
 * keeps the same list). */
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
                                         "www-authenticate",
                                         "x-business-use-case-usage",
                                         "x-ad-account-usage",
                                         "x-app-usage",
                                         "link"}; /* RFC 8288, paginate */
#define NKEPT PACER_ARRAY_SIZE(kept_names)
_Static_assert(NKEPT == PACER_XFER_NKEPT, "PACER_XFER_NKEPT is stale");

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

char *
pacer_xfer_headers_json(const struct pacer_xfer *x)
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
     * free(); cJSON's memory goes back through cJSON_free, its own allocator.
     */
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

size_t
pacer_xfer_on_write(char *data, size_t size, size_t nmemb, void *userp)
{
  struct pacer_xfer *x = userp;
  size_t n = size * nmemb; /* size is always 1 */

  /* Count decoded bytes and stop at the cap, so a gzip bomb or
   * a body without Content-Length costs at most cap + one curl buffer.
   * Returning less than n makes libcurl fail with CURLE_WRITE_ERROR
   * (docs/WORKERS.md, Response body cap; test_pool, e2e_hostile). */
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

void
pacer_xfer_forget_headers(struct pacer_xfer *x)
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
 * lines and can treat the conflict as junk (RFC 9110 §10.2.3; test_pool
 * kept_response_headers_are_lower_case_json_joined_and_escaped). Values are
 * bounded by HEADER_MAX_BYTES; a header that does not fit is dropped. */
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

size_t
pacer_xfer_on_header(char *data, size_t size, size_t nitems, void *userp)
{
  struct pacer_xfer *x = userp;
  size_t n = size * nitems;
  const char *colon, *v, *end;
  size_t i;

  /* A status line starts a new response (1xx, each redirect hop): only the
   * final response's headers are reported. */
  if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
    pacer_xfer_forget_headers(x);
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

/* CURLOPT_OPENSOCKETFUNCTION, set only under a destination policy
 * (docs/WORKERS.md, Destination policy; e2e_destination). libcurl calls it
 * instead of socket() with each resolved address it is about to connect to, for
 * the first request and for every redirect hop. A refused address gets no
 * socket, so nothing is ever connected to it; libcurl tries the next address of
 * the name, or fails the transfer with CURLE_COULDNT_CONNECT. The socket is
 * made exactly as libcurl's default would make it. */
curl_socket_t
pacer_xfer_on_open_socket(void *clientp, curlsocktype purpose,
                          struct curl_sockaddr *a)
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

/* 1 when this try opened the connection it is about to send on
 * (CURLINFO_NUM_CONNECTS counts the connections made for this transfer),
 * 0 when it reuses one or the count cannot be read. */
static int
new_connection(const struct pacer_xfer *x)
{
  long n = 0;

  return curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK &&
         n > 0;
}

/* CURLOPT_PREREQFUNCTION, set under a destination policy, for paced
 * requests (it reports the moment they leave) and wherever
 * pacer_xfer_on_debug is: runs before each request is sent, on a new or a
 * reused connection, so once per try. A connection that another transfer
 * opened without a policy (a token request) is never checked by
 * pacer_xfer_on_open_socket, so its peer is checked here before this
 * transfer sends anything on it. A GOAWAY that an earlier try's connection
 * received is not about this try (docs/WORKERS.md, GOAWAY and
 * REFUSED_STREAM). */
int
pacer_xfer_on_prereq(void *clientp, char *primary_ip, char *local_ip,
                     int primary_port, int local_port)
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
  if (!x->sent_once && !new_connection(x)) {
    /* Late past its slot by more than the lane allows (another process's
     * slots may follow): not sent, it takes a new slot. Only before the
     * first try: a later try of a request already sent is not paced. Not
     * on a connection this try opened: its handshake made it late, and
     * an abort closes an HTTP/1.1 connection, so every retake would open
     * one again and be as late (docs/LIMITS.md). */
    x->missed_us =
        pacer_http_request_missed_us(x->outcome->req, uv_hrtime() / 1000u);
    if (x->missed_us != 0)
      return CURL_PREREQFUNC_ABORT;
  }
  x->sent_once = 1;
  if (x->outcome->req->pace_key != 0 && x->cu->sent_cb != NULL)
    x->cu->sent_cb(x->cu, x->outcome->req);
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
 * GOAWAY and REFUSED_STREAM): such a libcurl ends it as a bare CURLE_HTTP2, the
 * same code it gives any transfer whose HTTP/2 session ended under it
 * (lib/http2.c cf_h2_recv), processed or not, and the GOAWAY's last_stream_id
 * reaches the application only as this info line. It reads CURLINFO_TEXT lines
 * of one fixed shape (pacer_curl_uv_goaway_text) and copies nothing else: other
 * text lines carry request headers ("h2h3 [authorization: ...]"), and header
 * and data blocks are never read, as they may hold secrets (docs/WORKERS.md,
 * Secrets). libcurl prints nothing when a debug function is set. */
int
pacer_xfer_on_debug(CURL *easy, curl_infotype type, char *data, size_t n,
                    void *userp)
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
