/* pacer-testapi-h2: a cleartext HTTP/2 test upstream (h2c with prior
 * knowledge, RFC 9113 §3.3) on libnghttp2, for e2e_h2: a server that ends
 * each connection with GOAWAY after N streams, or refuses every stream. See
 * --help for flags and tests/upstream/README.md for the endpoints.
 *
 * One thread, one poll() loop. SIGINT/SIGTERM write a byte into a pipe
 * that the loop watches, so the loop ends between two events and exits 0.
 *
 * A request stream goes through:
 *
 *   HEADERS complete --control path-------------------------> answer now
 *        |  --refuse-all--> RST_STREAM(REFUSED_STREAM)         "refused"
 *        |  --id > GOAWAY last_stream_id--> never processed    "ignored"
 *        v
 *   END_STREAM --> processed (counted, logged) --delay--> 200 "processed"
 *
 * With --goaway-after N the Nth counted stream of a connection makes the
 * server send GOAWAY(last_stream_id = that stream's id, NO_ERROR); the
 * connection closes once every stream up to that id has been answered.
 * nghttp2 closes the streams above it without processing them (RFC 9113
 * §6.8: "not processed"), and so does this file for any that completed
 * before the GOAWAY left.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define CONN_MAX           1024u  /* concurrent connections */
#define LISTEN_BACKLOG     1024   /* pending accepts */
#define READ_BYTES         16384u /* one read() */
#define PATH_MAX_BYTES     1024u  /* :path kept, bytes incl. NUL */
#define KEY_MAX_BYTES      256u   /* idempotency-key kept, bytes incl. NUL */
#define COUNT_KEYS_MAX     65536u /* distinct paths/keys counted */
#define DELAY_MAX_MS       60000u /* --delay-ms cap */
#define STREAMS_DEFAULT    100u   /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define POLL_MAX_MS        1000   /* longest poll() wait */
#define HEAD_MAX_BYTES     16384u /* HTTP/1.1 Upgrade request head */
#define UP_BODY_MAX        (1u << 20) /* HTTP/1.1 Upgrade request body, bytes */
#define SETTINGS_MAX_BYTES 120u       /* decoded HTTP2-Settings, 20 settings */
#define H2_PREFACE         "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN     24u
#define LINGER_MS          2000u /* read-and-drop time after the last answer */

static const char usage[] =
    "usage: pacer-testapi-h2 [options]\n"
    "\n"
    "A cleartext HTTP/2 (h2c) test upstream on 127.0.0.1: prior knowledge\n"
    "or an HTTP/1.1 request with \"Upgrade: h2c\".\n"
    "Prints \"listening port=N\" first; SIGTERM/SIGINT exit 0.\n"
    "\n"
    "  --port N            port, 0 = pick a free one (default 0)\n"
    "  --goaway-after N    after the Nth request stream of a connection,\n"
    "                      GOAWAY(last_stream_id = its id), then close once\n"
    "                      answered; higher streams are never processed\n"
    "  --goaway-refuse-every K  on every Kth connection, answer the first\n"
    "                      request stream with GOAWAY(last_stream_id = 0):\n"
    "                      nothing on it is processed\n"
    "  --refuse-all        RST_STREAM(REFUSED_STREAM) every request stream\n"
    "  --delay-ms N        answer processed requests after N ms (default 0)\n"
    "  --max-streams N     SETTINGS_MAX_CONCURRENT_STREAMS (default 100)\n"
    "  --log FILE          append one JSON line per request stream\n"
    "  --help              this text\n"
    "\n"
    "Endpoints (any method, any other path): 200 JSON {conn,stream,method,\n"
    "path,idempotency_key,body_bytes}. Control, never counted, refused or\n"
    "delayed: GET /stats (counters), POST /admin/reset (zero them).\n";

/* ------------------------------------------------------------------ */
/* State */

/* One request stream; nghttp2's stream user data. */
struct stream {
  struct conn *conn;
  struct stream *prev, *next; /* conn->streams */
  int32_t id;
  char method[16];
  char path[PATH_MAX_BYTES];
  char key[KEY_MAX_BYTES]; /* idempotency-key, "" = none */
  int has_key;
  size_t body_bytes; /* request body received, bytes */
  int control;       /* /stats or /admin/reset */
  int refused;       /* RST_STREAM(REFUSED_STREAM) submitted */
  int processed;     /* counted and logged as processed */
  int answered;      /* response submitted */
  uint64_t due_ms;   /* answer at (mono ms) once processed */
  char *resp;        /* response body, owned */
  size_t resp_len, resp_off;
};

/* Where a connection is (see "Connections" below). */
enum phase {
  PHASE_SNIFF = 0, /* first bytes: h2 preface or an HTTP/1.1 request? */
  PHASE_BODY,      /* reading the body of an HTTP/1.1 Upgrade request */
  PHASE_H2,        /* HTTP/2 frames */
  PHASE_CLOSING,   /* an HTTP/1.1 error is being sent, then close */
  PHASE_LINGER     /* write side shut: read and drop until EOF */
};

struct conn {
  int fd;
  unsigned seq; /* connection number, from 1 */
  enum phase phase;
  nghttp2_session *session; /* from PHASE_H2 on */
  struct stream *streams;   /* open streams */
  unsigned counted;         /* request streams toward --goaway-after */
  unsigned open;            /* open streams now */
  int32_t goaway_last;      /* last_stream_id sent, -1 = none */
  int dead;                 /* EOF or error: free on the next pass */
  char *in;                 /* bytes read before HTTP/2 starts, owned */
  size_t in_len;            /* bytes */
  struct stream *up;        /* the HTTP/1.1 Upgrade request (stream 1) */
  size_t body_left;         /* its body bytes still to come */
  uint8_t settings[SETTINGS_MAX_BYTES]; /* decoded HTTP2-Settings */
  size_t settings_len;                  /* bytes */
  uint64_t linger_until_ms; /* PHASE_LINGER: close at the latest then */
  char out[256];            /* HTTP/1.1 bytes to send before anything else */
  size_t out_len, out_off;  /* bytes */
};

/* A counter per distinct string (path or idempotency key). */
struct tally {
  char **keys;
  unsigned *counts;
  size_t n, cap;
};

static struct {
  unsigned goaway_after; /* 0 = off */
  unsigned refuse_every; /* 0 = off */
  int refuse_all;
  unsigned delay_ms;
  unsigned max_streams;
  FILE *log;
} opt = {0, 0, 0, 0, STREAMS_DEFAULT, NULL};

static struct {
  uint64_t requests;   /* processed */
  uint64_t refused;    /* RST_STREAM(REFUSED_STREAM) */
  uint64_t ignored;    /* above a GOAWAY's last_stream_id */
  uint64_t incomplete; /* closed by the client before END_STREAM */
  uint64_t streams;    /* request streams whose headers arrived */
  uint64_t connections;
  uint64_t goaways;
  unsigned max_open_streams; /* most streams open on one connection */
  struct tally by_path, by_key;
} st;

static struct conn *conns[CONN_MAX];
static unsigned nconns;
static unsigned conn_seq;
static int sig_pipe[2] = {-1, -1};

static uint64_t
mono_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
tally_add(struct tally *t, const char *key)
{
  size_t i;

  for (i = 0; i < t->n; i++) {
    if (strcmp(t->keys[i], key) == 0) {
      t->counts[i]++;
      return;
    }
  }
  if (t->n == COUNT_KEYS_MAX)
    return;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    char **k = realloc(t->keys, cap * sizeof(*k));
    unsigned *c;

    if (k == NULL)
      return;
    t->keys = k;
    c = realloc(t->counts, cap * sizeof(*c));
    if (c == NULL)
      return;
    t->counts = c;
    t->cap = cap;
  }
  t->keys[t->n] = strdup(key);
  if (t->keys[t->n] == NULL)
    return;
  t->counts[t->n++] = 1;
}

static void
tally_clear(struct tally *t)
{
  size_t i;

  for (i = 0; i < t->n; i++)
    free(t->keys[i]);
  free(t->keys);
  free(t->counts);
  memset(t, 0, sizeof(*t));
}

static cJSON *
tally_json(const struct tally *t)
{
  cJSON *o = cJSON_CreateObject();
  size_t i;

  for (i = 0; o != NULL && i < t->n; i++)
    cJSON_AddNumberToObject(o, t->keys[i], t->counts[i]);
  return o;
}

/* One JSON line per request stream, flushed so a test may read it live. */
static void
log_stream(const struct stream *s, const char *outcome)
{
  cJSON *o;
  char *line;

  if (opt.log == NULL || s->control)
    return;
  o = cJSON_CreateObject();
  if (o == NULL)
    return;
  cJSON_AddNumberToObject(o, "conn", s->conn->seq);
  cJSON_AddNumberToObject(o, "stream", s->id);
  cJSON_AddStringToObject(o, "method", s->method);
  cJSON_AddStringToObject(o, "path", s->path);
  if (s->has_key)
    cJSON_AddStringToObject(o, "idempotency_key", s->key);
  else
    cJSON_AddNullToObject(o, "idempotency_key");
  cJSON_AddNumberToObject(o, "body_bytes", (double)s->body_bytes);
  cJSON_AddStringToObject(o, "outcome", outcome);
  line = cJSON_PrintUnformatted(o);
  if (line != NULL) {
    fprintf(opt.log, "%s\n", line);
    fflush(opt.log);
    cJSON_free(line);
  }
  cJSON_Delete(o);
}

/* ------------------------------------------------------------------ */
/* Responses */

static ssize_t
read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
          size_t length, uint32_t *data_flags, nghttp2_data_source *source,
          void *user_data)
{
  struct stream *s = source->ptr;
  size_t n = s->resp_len - s->resp_off;

  (void)session;
  (void)stream_id;
  (void)user_data;
  if (n > length)
    n = length;
  memcpy(buf, s->resp + s->resp_off, n);
  s->resp_off += n;
  if (s->resp_off == s->resp_len)
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static char *
stats_json(void)
{
  cJSON *o = cJSON_CreateObject();
  char *printed, *out = NULL;

  if (o == NULL)
    return NULL;
  cJSON_AddNumberToObject(o, "requests", (double)st.requests);
  cJSON_AddNumberToObject(o, "refused", (double)st.refused);
  cJSON_AddNumberToObject(o, "ignored", (double)st.ignored);
  cJSON_AddNumberToObject(o, "incomplete", (double)st.incomplete);
  cJSON_AddNumberToObject(o, "streams", (double)st.streams);
  cJSON_AddNumberToObject(o, "connections", (double)st.connections);
  cJSON_AddNumberToObject(o, "open_connections", nconns);
  cJSON_AddNumberToObject(o, "goaways", (double)st.goaways);
  cJSON_AddNumberToObject(o, "max_open_streams", st.max_open_streams);
  cJSON_AddItemToObject(o, "by_path", tally_json(&st.by_path));
  cJSON_AddItemToObject(o, "by_idempotency_key", tally_json(&st.by_key));
  printed = cJSON_PrintUnformatted(o);
  if (printed != NULL) {
    out = strdup(printed);
    cJSON_free(printed);
  }
  cJSON_Delete(o);
  return out;
}

static char *
echo_json(const struct stream *s)
{
  cJSON *o = cJSON_CreateObject();
  char *printed, *out = NULL;

  if (o == NULL)
    return NULL;
  cJSON_AddNumberToObject(o, "conn", s->conn->seq);
  cJSON_AddNumberToObject(o, "stream", s->id);
  cJSON_AddStringToObject(o, "method", s->method);
  cJSON_AddStringToObject(o, "path", s->path);
  if (s->has_key)
    cJSON_AddStringToObject(o, "idempotency_key", s->key);
  else
    cJSON_AddNullToObject(o, "idempotency_key");
  cJSON_AddNumberToObject(o, "body_bytes", (double)s->body_bytes);
  printed = cJSON_PrintUnformatted(o);
  if (printed != NULL) {
    out = strdup(printed);
    cJSON_free(printed);
  }
  cJSON_Delete(o);
  return out;
}

static void
reset_stats(void)
{
  tally_clear(&st.by_path);
  tally_clear(&st.by_key);
  memset(&st, 0, sizeof(st));
}

/* Submits the response to s: 200 with a JSON body (500 when out of
 * memory). Returns 0 or a fatal nghttp2 error. */
static int
answer(struct stream *s)
{
  static const char ctype[] = "application/json";
  nghttp2_nv hdrs[2] = {
      {(uint8_t *)(uintptr_t) ":status", (uint8_t *)(uintptr_t) "200", 7, 3,
       NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)(uintptr_t) "content-type", (uint8_t *)(uintptr_t)ctype, 12,
       sizeof(ctype) - 1, NGHTTP2_NV_FLAG_NONE}};
  nghttp2_data_provider prd;
  int rv;

  s->answered = 1;
  if (s->control && strcmp(s->path, "/admin/reset") == 0) {
    reset_stats();
    s->resp = strdup("{\"ok\":true}");
  } else if (s->control) {
    s->resp = stats_json();
  } else {
    s->resp = echo_json(s);
  }
  if (s->resp == NULL)
    hdrs[0].value = (uint8_t *)(uintptr_t) "500";
  s->resp_len = s->resp != NULL ? strlen(s->resp) : 0;
  prd.source.ptr = s;
  prd.read_callback = read_body;
  rv = nghttp2_submit_response(s->conn->session, s->id, hdrs, 2, &prd);
  return nghttp2_is_fatal(rv) ? rv : 0;
}

/* The request in s is complete: process it unless it was refused or lies
 * above the connection's GOAWAY (then it never is: RFC 9113 §6.8). */
static int
complete(struct stream *s)
{
  struct conn *c = s->conn;

  if (s->refused || s->processed)
    return 0;
  if (c->goaway_last >= 0 && s->id > c->goaway_last)
    return 0; /* nghttp2 closes it once the GOAWAY is out: "ignored" */
  if (s->control)
    return answer(s);
  s->processed = 1;
  st.requests++;
  tally_add(&st.by_path, s->path);
  if (s->has_key)
    tally_add(&st.by_key, s->key);
  log_stream(s, "processed");
  s->due_ms = mono_ms() + opt.delay_ms;
  return opt.delay_ms == 0 ? answer(s) : 0;
}

/* All header fields of s are in. */
static int
headers_done(struct stream *s)
{
  struct conn *c = s->conn;
  int rv;

  s->control =
      (strcmp(s->method, "GET") == 0 && strcmp(s->path, "/stats") == 0) ||
      (strcmp(s->method, "POST") == 0 && strcmp(s->path, "/admin/reset") == 0);
  if (s->control)
    return 0;
  st.streams++;
  if (c->goaway_last >= 0 && s->id > c->goaway_last)
    return 0;
  if (opt.refuse_all) {
    /* RFC 9113 §8.7: REFUSED_STREAM = closed before any processing */
    s->refused = 1;
    st.refused++;
    log_stream(s, "refused");
    rv = nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id,
                                   NGHTTP2_REFUSED_STREAM);
    return nghttp2_is_fatal(rv) ? rv : 0;
  }
  if (opt.refuse_every > 0 && c->seq % opt.refuse_every == 0) {
    /* GOAWAY(last_stream_id = 0): nothing on this connection is processed
     * (RFC 9113 §6.8), so the client may send it all again elsewhere. */
    c->goaway_last = 0;
    st.goaways++;
    rv = nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, 0,
                               NGHTTP2_NO_ERROR, NULL, 0);
    return nghttp2_is_fatal(rv) ? rv : 0;
  }
  c->counted++;
  if (opt.goaway_after > 0 && c->counted == opt.goaway_after) {
    /* RFC 9113 §6.8: streams up to last_stream_id may be processed; the
     * ones above it are not, and the client may retry them elsewhere. */
    c->goaway_last = s->id;
    st.goaways++;
    rv = nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, s->id,
                               NGHTTP2_NO_ERROR, NULL, 0);
    if (nghttp2_is_fatal(rv))
      return rv;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks */

static ssize_t
on_send(nghttp2_session *session, const uint8_t *data, size_t length, int flags,
        void *user_data)
{
  struct conn *c = user_data;
  ssize_t n;

  (void)session;
  (void)flags;
  do {
    n = send(c->fd, data, length, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK
               ? NGHTTP2_ERR_WOULDBLOCK
               : NGHTTP2_ERR_CALLBACK_FAILURE;
  return n;
}

/* A new stream object for id on c, linked into c->streams; NULL when out
 * of memory. */
static struct stream *
stream_new(struct conn *c, int32_t id)
{
  struct stream *s = calloc(1, sizeof(*s));

  if (s == NULL)
    return NULL;
  s->conn = c;
  s->id = id;
  s->next = c->streams;
  if (c->streams != NULL)
    c->streams->prev = s;
  c->streams = s;
  c->open++;
  if (c->open > st.max_open_streams)
    st.max_open_streams = c->open;
  return s;
}

static int
on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame,
                 void *user_data)
{
  struct stream *s;

  if (frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  s = stream_new(user_data, frame->hd.stream_id);
  if (s == NULL)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  return nghttp2_session_set_stream_user_data(session, s->id, s) == 0
             ? 0
             : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static void
copy_value(char *dst, size_t size, const uint8_t *v, size_t n)
{
  if (n >= size)
    n = size - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
}

static int
on_header(nghttp2_session *session, const nghttp2_frame *frame,
          const uint8_t *name, size_t namelen, const uint8_t *value,
          size_t valuelen, uint8_t flags, void *user_data)
{
  struct stream *s;

  (void)flags;
  (void)user_data;
  if (frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
  if (s == NULL)
    return 0;
  /* RFC 9113 §8.2: field names arrive in lower case */
  if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
    copy_value(s->method, sizeof(s->method), value, valuelen);
  } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
    copy_value(s->path, sizeof(s->path), value, valuelen);
  } else if (namelen == 15 && memcmp(name, "idempotency-key", 15) == 0) {
    copy_value(s->key, sizeof(s->key), value, valuelen);
    s->has_key = 1;
  }
  return 0;
}

static int
on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
              const uint8_t *data, size_t len, void *user_data)
{
  struct stream *s = nghttp2_session_get_stream_user_data(session, stream_id);

  (void)flags;
  (void)data;
  (void)user_data;
  if (s != NULL)
    s->body_bytes += len;
  return 0;
}

static int
on_frame(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  struct stream *s;
  int rv = 0;

  (void)user_data;
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
    return 0;
  s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
  if (s == NULL)
    return 0;
  if (frame->hd.type == NGHTTP2_HEADERS &&
      frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    rv = headers_done(s);
  if (rv == 0 && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    rv = complete(s);
  return rv == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static void
stream_free(struct stream *s)
{
  struct conn *c = s->conn;

  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    c->streams = s->next;
  if (s->next != NULL)
    s->next->prev = s->prev;
  c->open--;
  free(s->resp);
  free(s);
}

static int
on_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
         void *user_data)
{
  struct stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
  struct conn *c = user_data;

  (void)error_code;
  if (s == NULL)
    return 0;
  if (!s->control && !s->processed && !s->refused) {
    if (c->goaway_last >= 0 && s->id > c->goaway_last) {
      st.ignored++;
      log_stream(s, "ignored");
    } else {
      st.incomplete++;
      log_stream(s, "incomplete");
    }
  }
  stream_free(s);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Connections
 *
 *   accept --first 24 bytes are the HTTP/2 preface------> PHASE_H2
 *     |                                 (prior knowledge, RFC 9113 §3.3)
 *     +--HTTP/1.1 request with "Upgrade: h2c" and HTTP2-Settings
 *     |     --> PHASE_BODY (read Content-Length bytes)
 *     |     --> "101 Switching Protocols" --> PHASE_H2, the request is
 *     |         stream 1 (RFC 7540 §3.2; libcurl 7.88 needs it, see
 *     |         README.md)
 *     +--anything else --> PHASE_CLOSING: 400/413/431/505, then close
 */

static nghttp2_session_callbacks *callbacks;

static void
conn_free(struct conn *c)
{
  if (c->session != NULL)
    nghttp2_session_del(c->session); /* calls no stream-close callbacks */
  while (c->streams != NULL)
    stream_free(c->streams);
  free(c->in);
  close(c->fd);
  free(c);
}

static void
conn_accept(int lfd)
{
  for (;;) {
    struct conn *c;
    int fd = accept(lfd, NULL, NULL);

    if (fd < 0)
      return; /* EAGAIN, or a transient error: poll() tells us again */
    if (nconns == CONN_MAX || fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
      close(fd);
      continue;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->fd = fd;
    c->seq = ++conn_seq;
    c->goaway_last = -1;
    st.connections++;
    conns[nconns++] = c;
  }
}

/* Queues an HTTP/1.1 response line and headers in c->out. */
static void
queue_h1(struct conn *c, const char *text)
{
  size_t n = strlen(text);

  if (n > sizeof(c->out) - c->out_len)
    n = sizeof(c->out) - c->out_len;
  memcpy(c->out + c->out_len, text, n);
  c->out_len += n;
}

/* Answers an HTTP/1.1 request this server will not upgrade, then closes. */
static void
h1_fail(struct conn *c, const char *status)
{
  char line[160];

  snprintf(line, sizeof(line),
           "HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
           status);
  queue_h1(c, line);
  c->phase = PHASE_CLOSING;
  if (c->up != NULL)
    stream_free(c->up);
  c->up = NULL;
}

/* Sends what is left of c->out. Returns 0 or -1 when the peer is gone. */
static int
flush_out(struct conn *c)
{
  while (c->out_off < c->out_len) {
    ssize_t n =
        send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    c->out_off += (size_t)n;
  }
  return 0;
}

/* Drops the first n bytes of c->in. */
static void
consume(struct conn *c, size_t n)
{
  memmove(c->in, c->in + n, c->in_len - n);
  c->in_len -= n;
}

/* RFC 4648 §5 base64url without padding into out (size bytes). Returns the
 * decoded length, or -1. */
static long
base64url_decode(const char *in, size_t n, uint8_t *out, size_t size)
{
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint32_t acc = 0;
  unsigned bits = 0;
  size_t i, o = 0;

  for (i = 0; i < n && in[i] != '='; i++) {
    const char *p = in[i] != '\0' ? strchr(abc, in[i]) : NULL;

    if (p == NULL)
      return -1;
    acc = (acc << 6) | (uint32_t)(p - abc);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o == size)
        return -1;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return (long)o;
}

/* Case-insensitive: does s (n bytes) hold token? */
static int
has_token(const char *s, size_t n, const char *token)
{
  size_t t = strlen(token), i;

  for (i = 0; i + t <= n; i++) {
    if (strncasecmp(s + i, token, t) == 0)
      return 1;
  }
  return 0;
}

/* Parses the HTTP/1.1 request head c->in[0..len) (ends with CRLF CRLF)
 * into c->up. Returns NULL, or the status line to fail with. */
static const char *
parse_upgrade(struct conn *c, size_t len)
{
  const char *p = c->in, *end = c->in + len, *eol, *sp1, *sp2;
  int upgrade = 0, settings = 0;
  struct stream *s;

  eol = memchr(p, '\r', (size_t)(end - p));
  sp1 = memchr(p, ' ', (size_t)(eol - p));
  sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
  if (sp1 == NULL || sp2 == NULL || (size_t)(sp1 - p) >= 16 ||
      (size_t)(sp2 - sp1 - 1) >= PATH_MAX_BYTES ||
      (size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.1", 8) != 0)
    return "400 Bad Request";
  s = stream_new(c, 1); /* RFC 7540 §3.2: the upgraded request is stream 1 */
  if (s == NULL)
    return "500 Internal Server Error";
  c->up = s;
  memcpy(s->method, p, (size_t)(sp1 - p));
  memcpy(s->path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
  for (p = eol + 2; p < end - 2; p = eol + 2) {
    const char *colon, *v;
    size_t nlen, vlen;

    eol = memchr(p, '\r', (size_t)(end - p));
    colon = memchr(p, ':', (size_t)(eol - p));
    if (colon == NULL)
      return "400 Bad Request";
    nlen = (size_t)(colon - p);
    for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
      continue;
    vlen = (size_t)(eol - v);
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
      vlen--;
    if (nlen == 7 && strncasecmp(p, "upgrade", 7) == 0) {
      upgrade = has_token(v, vlen, "h2c");
    } else if (nlen == 14 && strncasecmp(p, "http2-settings", 14) == 0) {
      long n = base64url_decode(v, vlen, c->settings, sizeof(c->settings));

      if (n < 0)
        return "400 Bad Request";
      c->settings_len = (size_t)n;
      settings = 1;
    } else if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0) {
      char num[24];
      char *stop;
      unsigned long long cl;

      if (vlen == 0 || vlen >= sizeof(num))
        return "400 Bad Request";
      memcpy(num, v, vlen);
      num[vlen] = '\0';
      cl = strtoull(num, &stop, 10);
      if (*stop != '\0' || num[0] == '-')
        return "400 Bad Request";
      if (cl > UP_BODY_MAX)
        return "413 Content Too Large";
      c->body_left = (size_t)cl;
    } else if (nlen == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
      return "400 Bad Request"; /* only Content-Length bodies */
    } else if (nlen == 15 && strncasecmp(p, "idempotency-key", 15) == 0) {
      copy_value(s->key, sizeof(s->key), (const uint8_t *)v, vlen);
      s->has_key = 1;
    }
  }
  /* RFC 7540 §3.2.1: no upgrade without exactly one HTTP2-Settings */
  if (!upgrade || !settings)
    return "505 HTTP Version Not Supported";
  return NULL;
}

/* Starts HTTP/2 on c and feeds it what c->in still holds. After an
 * Upgrade, c->up becomes stream 1. Returns 0 or -1. */
static int
h2_start(struct conn *c)
{
  nghttp2_settings_entry iv[1] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opt.max_streams}};
  struct stream *up = c->up;

  if (nghttp2_session_server_new(&c->session, callbacks, c) != 0)
    return -1;
  c->phase = PHASE_H2;
  c->up = NULL;
  if (up != NULL &&
      (nghttp2_session_upgrade2(c->session, c->settings, c->settings_len,
                                strcmp(up->method, "HEAD") == 0, NULL) != 0 ||
       nghttp2_session_set_stream_user_data(c->session, 1, up) != 0))
    return -1;
  if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 1) != 0)
    return -1;
  if (up != NULL && (headers_done(up) != 0 || complete(up) != 0))
    return -1;
  if (c->in_len > 0 &&
      nghttp2_session_mem_recv(c->session, (const uint8_t *)c->in, c->in_len) !=
          (ssize_t)c->in_len)
    return -1;
  free(c->in);
  c->in = NULL;
  c->in_len = 0;
  return 0;
}

/* Acts on c->in before HTTP/2 has started. Returns 0 or -1. */
static int
pre_h2(struct conn *c)
{
  if (c->phase == PHASE_SNIFF) {
    size_t n = c->in_len < H2_PREFACE_LEN ? c->in_len : H2_PREFACE_LEN;
    size_t i;

    if (memcmp(c->in, H2_PREFACE, n) == 0)
      return c->in_len < H2_PREFACE_LEN ? 0 : h2_start(c);
    for (i = 0; i + 4 <= c->in_len; i++) {
      if (memcmp(c->in + i, "\r\n\r\n", 4) == 0)
        break;
    }
    if (i + 4 > c->in_len) {
      if (c->in_len > HEAD_MAX_BYTES)
        h1_fail(c, "431 Request Header Fields Too Large");
      return 0;
    }
    {
      const char *why = parse_upgrade(c, i + 4);

      if (why != NULL) {
        h1_fail(c, why);
        return 0;
      }
    }
    consume(c, i + 4);
    c->phase = PHASE_BODY;
  }
  if (c->phase == PHASE_BODY) {
    size_t n = c->in_len < c->body_left ? c->in_len : c->body_left;

    c->up->body_bytes += n;
    c->body_left -= n;
    consume(c, n);
    if (c->body_left > 0)
      return 0;
    queue_h1(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                "Upgrade: h2c\r\n\r\n");
    return h2_start(c);
  }
  return 0;
}

/* Answers the delayed requests of c that are due by now_ms; returns the
 * earliest pending due time in *next_ms (unchanged when none). */
static int
conn_due(struct conn *c, uint64_t now_ms, uint64_t *next_ms)
{
  struct stream *s;

  for (s = c->streams; s != NULL; s = s->next) {
    if (!s->processed || s->answered)
      continue;
    if (s->due_ms <= now_ms) {
      if (answer(s) != 0)
        return -1;
    } else if (s->due_ms < *next_ms) {
      *next_ms = s->due_ms;
    }
  }
  return 0;
}

/* Reads what c has and acts on it. Returns -1 when c is done (EOF, error,
 * protocol error). */
static int
conn_read(struct conn *c)
{
  uint8_t buf[READ_BYTES];

  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    if (n == 0)
      return -1;
    if (c->phase == PHASE_H2) {
      if (nghttp2_session_mem_recv(c->session, buf, (size_t)n) != n)
        return -1;
    } else if (c->phase != PHASE_CLOSING && c->phase != PHASE_LINGER) {
      char *p = realloc(c->in, c->in_len + (size_t)n);

      if (p == NULL)
        return -1;
      c->in = p;
      memcpy(c->in + c->in_len, buf, (size_t)n);
      c->in_len += (size_t)n;
      if (pre_h2(c) != 0)
        return -1;
    }
  }
}

/* ------------------------------------------------------------------ */
/* Main */

static void
on_signal(int sig)
{
  int saved = errno;
  char b = (char)sig;

  if (write(sig_pipe[1], &b, 1) < 0)
    (void)0; /* the pipe is full: a stop is already pending */
  errno = saved;
}

static int
parse_uint(const char *s, unsigned max, unsigned *out)
{
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
    return -1;
  *out = (unsigned)v;
  return 0;
}

static int
parse_args(int argc, char **argv, unsigned *port)
{
  int i;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;

    if (strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      exit(0);
    } else if (strcmp(a, "--refuse-all") == 0) {
      opt.refuse_all = 1;
      continue;
    }
    if (v == NULL)
      goto bad;
    i++;
    if (strcmp(a, "--port") == 0) {
      if (parse_uint(v, 65535, port) != 0)
        goto bad;
    } else if (strcmp(a, "--goaway-after") == 0) {
      if (parse_uint(v, INT_MAX, &opt.goaway_after) != 0 ||
          opt.goaway_after == 0)
        goto bad;
    } else if (strcmp(a, "--goaway-refuse-every") == 0) {
      if (parse_uint(v, INT_MAX, &opt.refuse_every) != 0 ||
          opt.refuse_every == 0)
        goto bad;
    } else if (strcmp(a, "--delay-ms") == 0) {
      if (parse_uint(v, DELAY_MAX_MS, &opt.delay_ms) != 0)
        goto bad;
    } else if (strcmp(a, "--max-streams") == 0) {
      if (parse_uint(v, INT_MAX, &opt.max_streams) != 0 || opt.max_streams == 0)
        goto bad;
    } else if (strcmp(a, "--log") == 0) {
      opt.log = fopen(v, "a");
      if (opt.log == NULL) {
        fprintf(stderr, "pacer-testapi-h2: --log %s: cannot open\n", v);
        exit(2);
      }
    } else {
      goto bad;
    }
  }
  return 0;
bad:
  fprintf(stderr, "pacer-testapi-h2: bad option %s\n%s", argv[i], usage);
  return -1;
}

static int
listen_on(unsigned port, unsigned *bound)
{
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  if (fd < 0)
    return -1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      listen(fd, LISTEN_BACKLOG) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) != 0 ||
      fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
    close(fd);
    return -1;
  }
  *bound = ntohs(a.sin_port);
  return fd;
}

static int
setup_callbacks(void)
{
  if (nghttp2_session_callbacks_new(&callbacks) != 0)
    return -1;
  nghttp2_session_callbacks_set_send_callback(callbacks, on_send);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks,
                                                          on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                            on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
  return 0;
}

/* Ends an HTTP/2 connection that has nothing left to say: shut the write
 * side (FIN after the last frame), then read and drop until the peer
 * closes. A close() with unread input would send RST, and the peer could
 * lose responses and the GOAWAY still in flight (nginx lingering_close). */
static void
linger(struct conn *c, uint64_t now_ms)
{
  c->phase = PHASE_LINGER;
  c->linger_until_ms = now_ms + LINGER_MS;
  if (shutdown(c->fd, SHUT_WR) != 0)
    c->dead = 1;
}

/* One pass over every connection: send HTTP/1.1 bytes first, then answer
 * due requests and send frames; drop the finished (c->dead, an HTTP/1.1
 * error sent, a lingering close over). Returns the poll() timeout in ms. */
static int
service(uint64_t now_ms)
{
  uint64_t next_ms = now_ms + POLL_MAX_MS;
  unsigned i = 0;

  while (i < nconns) {
    struct conn *c = conns[i];
    int done = c->dead || flush_out(c) != 0;
    int flushed = c->out_off == c->out_len;

    if (!done && c->phase == PHASE_CLOSING && flushed)
      done = 1;
    if (!done && c->phase == PHASE_H2 && flushed) {
      done = conn_due(c, now_ms, &next_ms) != 0 ||
             nghttp2_session_send(c->session) != 0;
      /* After a GOAWAY, nghttp2 wants neither once the processed streams
       * are answered: the connection is over. */
      if (!done && !nghttp2_session_want_read(c->session) &&
          !nghttp2_session_want_write(c->session))
        linger(c, now_ms);
    }
    if (!done && c->phase == PHASE_LINGER) {
      if (c->dead || now_ms >= c->linger_until_ms)
        done = 1;
      else if (c->linger_until_ms < next_ms)
        next_ms = c->linger_until_ms;
    }
    if (done) {
      conn_free(c);
      conns[i] = conns[--nconns];
      continue;
    }
    i++;
  }
  return (int)(next_ms - now_ms);
}

int
main(int argc, char **argv)
{
  static struct pollfd pfds[CONN_MAX + 2];
  struct sigaction sa;
  unsigned port = 0, bound = 0, i;
  int lfd, timeout_ms = POLL_MAX_MS;

  if (parse_args(argc, argv, &port) != 0)
    return 2;
  if (pipe(sig_pipe) != 0 || fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK) != 0 ||
      setup_callbacks() != 0) {
    fprintf(stderr, "pacer-testapi-h2: setup failed\n");
    return 1;
  }
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
      signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    fprintf(stderr, "pacer-testapi-h2: signal setup failed\n");
    return 1;
  }
  lfd = listen_on(port, &bound);
  if (lfd < 0) {
    fprintf(stderr, "pacer-testapi-h2: cannot listen on 127.0.0.1:%u\n", port);
    return 1;
  }
  printf("listening port=%u\n", bound);
  fflush(stdout);

  for (;;) {
    unsigned npolled = nconns;
    int n;

    pfds[0] = (struct pollfd){sig_pipe[0], POLLIN, 0};
    pfds[1] = (struct pollfd){lfd, POLLIN, 0};
    for (i = 0; i < npolled; i++) {
      const struct conn *c = conns[i];
      short ev = POLLIN; /* EOF must be seen even when nghttp2 is done */

      if (c->out_off < c->out_len ||
          (c->phase == PHASE_H2 && nghttp2_session_want_write(c->session)))
        ev |= POLLOUT;
      pfds[i + 2] = (struct pollfd){conns[i]->fd, ev, 0};
    }
    n = poll(pfds, npolled + 2, timeout_ms);
    if (n < 0 && errno != EINTR) {
      fprintf(stderr, "pacer-testapi-h2: poll failed\n");
      break;
    }
    if (n > 0 && (pfds[0].revents & POLLIN))
      break;
    /* conns[] is unchanged since the poll() call, so pfds[i + 2] is
     * conns[i]'s; service() may reorder it afterwards. */
    for (i = 0; n > 0 && i < npolled; i++) {
      if (pfds[i + 2].revents & (POLLIN | POLLHUP | POLLERR))
        conns[i]->dead = conns[i]->dead || conn_read(conns[i]) != 0;
    }
    if (n > 0 && (pfds[1].revents & POLLIN))
      conn_accept(lfd);
    timeout_ms = service(mono_ms());
  }
  fprintf(stderr, "pacer-testapi-h2: stopping\n");
  while (nconns > 0)
    conn_free(conns[--nconns]);
  close(lfd);
  nghttp2_session_callbacks_del(callbacks);
  reset_stats();
  if (opt.log != NULL)
    fclose(opt.log);
  return 0;
}
