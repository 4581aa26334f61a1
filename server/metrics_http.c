/* The worker's metrics endpoint on libmicrohttpd. See metrics_http.h. */
#include "server/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "common/clock.h"
#include "core/config.h"
#include "dashboard_html.h" /* generated from dashboard.html (embed.cmake) */
#include "login_html.h"     /* generated from login.html (embed.cmake) */
#include "server/dash_api.h"
#include "server/dash_session.h"
#include "server/metrics_int.h"

#define CONN_LIMIT     64           /* connections at once */
#define CONN_TIMEOUT_S 10           /* idle connection timeout, s */
#define BODY_MAX       (256 * 1024) /* bytes of a POST body */
#define COOKIE_NAME    "pacer_session"
#define READY_STALE_MS                                                         \
  5000 /* /readyz: no readiness report for this long                           \
          means the scheduler loop is stuck, ms */

struct pacer_metrics_http {
  struct MHD_Daemon *d;
  pthread_mutex_t mu; /* guards the snapshot below */
  char *metrics;      /* Prometheus text, owned, or NULL before the first */
  size_t metrics_len; /* bytes */
  char *state;        /* /api/state JSON, owned, or NULL */
  size_t state_len;   /* bytes */
  char *token;        /* bearer token, owned and wiped, or NULL */
  size_t token_len;   /* bytes */
  unsigned port;
  int ready;                  /* the scheduler's last readiness report */
  char why[160];              /* why not ready, "" when ready */
  uint64_t ready_at_mono_ms;  /* when it came, 0 = never */
  struct pacer_dash_api *api; /* actions; NULL until set (under mu) */
  /* HTTP thread only: */
  struct pacer_dash_sessions sessions;   /* browser logins (dash_session.h) */
  char csrf[PACER_DASH_SESSION_HEX + 1]; /* CSRF token without a metrics
                                            token (no sessions then) */
};

/* One request's state: the POST body read so far. */
struct req {
  char *body; /* owned, NUL-terminated, or NULL */
  size_t len; /* bytes */
  int too_big;
};

/* How a request proved who it is. */
enum auth {
  AUTH_NO = 0, /* a token is needed and none (or a wrong one) came */
  AUTH_OPEN,   /* no token configured: loopback only */
  AUTH_BEARER, /* Authorization: Bearer (scripts, Prometheus) */
  AUTH_SESSION /* the session cookie of a browser login */
};

/* ------------------------------------------------------------------ */
/* Requests (HTTP thread) */

/* RFC 6750 §2.1: "Authorization: Bearer <b64token>"; the scheme is
 * case-insensitive (RFC 9110 §11.1). Compared in constant time. */
static int
bearer_ok(const struct pacer_metrics_http *h, const char *v)
{
  size_t n;

  if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
    return 0;
  v += 7;
  while (*v == ' ')
    v++;
  n = strlen(v);
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  return n == h->token_len && sodium_memcmp(v, h->token, n) == 0;
}

/* Who the request is: a bearer header wins over a session cookie (a
 * wrong bearer is refused even with a good cookie). *sess is set for
 * AUTH_SESSION. */
static enum auth
authenticate(struct pacer_metrics_http *h, struct MHD_Connection *conn,
             const struct pacer_dash_session **sess)
{
  const char *v;

  *sess = NULL;
  if (h->token == NULL)
    return AUTH_OPEN;
  v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                  MHD_HTTP_HEADER_AUTHORIZATION);
  if (v != NULL)
    return bearer_ok(h, v) ? AUTH_BEARER : AUTH_NO;
  v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE_NAME);
  *sess = pacer_dash_session_find(&h->sessions, v, pacer_clock_mono_ms());
  return *sess != NULL ? AUTH_SESSION : AUTH_NO;
}

/* Without a token only loopback names may be in Host: a page of another
 * site whose name was rebound to 127.0.0.1 (DNS rebinding) is refused. */
static int
host_local(struct MHD_Connection *conn)
{
  const char *v =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  size_t n;

  if (v == NULL)
    return 1; /* HTTP/1.0 without Host: not a browser */
  n = strcspn(v, ":");
  if (v[0] == '[')
    return strncmp(v, "[::1]", 5) == 0 && (v[5] == '\0' || v[5] == ':');
  if (n == 9 && strncasecmp(v, "localhost", 9) == 0)
    return 1;
  if (strncmp(v, "127.", 4) != 0)
    return 0;
  return strspn(v, "0123456789.") == n;
}

/* Checks a state-changing request against cross-site request forgery
 * (OWASP CSRF cheat sheet): an Origin other than this server's
 * ("http://" + Host, RFC 6454 §7) or a Sec-Fetch-Site other than
 * same-origin/none (Fetch Metadata) is refused; a request authenticated
 * by cookie or by nothing (no token) must also carry the session's token
 * in X-Pacer-CSRF (with_token). Returns NULL when fine, else why. */
static const char *
csrf_refused(const struct pacer_metrics_http *h, struct MHD_Connection *conn,
             enum auth auth, const struct pacer_dash_session *sess,
             int with_token)
{
  const char *origin =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
  const char *site =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
  const char *host =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  const char *tok, *want;

  if (origin != NULL && (host == NULL || strncmp(origin, "http://", 7) != 0 ||
                         strcasecmp(origin + 7, host) != 0))
    return "403 forbidden: the Origin is not this dashboard's\n";
  if (site != NULL && strcmp(site, "same-origin") != 0 &&
      strcmp(site, "none") != 0)
    return "403 forbidden: a cross-site request (Sec-Fetch-Site)\n";
  if (auth == AUTH_BEARER || !with_token)
    return NULL;
  want = auth == AUTH_SESSION ? sess->csrf : h->csrf;
  tok = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Pacer-CSRF");
  if (tok == NULL || strlen(tok) != PACER_DASH_SESSION_HEX ||
      sodium_memcmp(tok, want, PACER_DASH_SESSION_HEX) != 0)
    return "403 forbidden: missing or wrong X-Pacer-CSRF token (GET "
           "/api/session gives it)\n";
  return NULL;
}

/* Sends a response with the usual headers and extra (name, value pairs,
 * NULL-terminated, or NULL). */
static enum MHD_Result
reply_hdrs(struct MHD_Connection *conn, unsigned status, const char *type,
           const void *body, size_t len, enum MHD_ResponseMemoryMode mode,
           const char *const *extra)
{
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, mode);
  enum MHD_Result ok;

  if (r == NULL)
    return MHD_NO;
  /* Live figures: never cached. nosniff keeps a JSON body from being
   * taken for a page. */
  if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) !=
          MHD_YES ||
      MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") !=
          MHD_YES ||
      MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") !=
          MHD_YES) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  if (status == MHD_HTTP_UNAUTHORIZED &&
      MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                              "Bearer realm=\"pacer\"") != MHD_YES) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
      MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST") !=
          MHD_YES) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  /* Referrer-Policy same-origin, not no-referrer: under no-referrer
   * Chromium sends "Origin: null" with the login form's POST, which the
   * CSRF check must refuse. */
  if (strncmp(type, "text/html", 9) == 0 &&
      (MHD_add_response_header(
           r, "Content-Security-Policy",
           "default-src 'none'; script-src 'unsafe-inline'; style-src "
           "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
           "form-action 'self'; frame-ancestors 'none'") != MHD_YES ||
       MHD_add_response_header(r, "Referrer-Policy", "same-origin") !=
           MHD_YES)) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  for (; extra != NULL && extra[0] != NULL; extra += 2)
    if (MHD_add_response_header(r, extra[0], extra[1]) != MHD_YES) {
      MHD_destroy_response(r);
      return MHD_NO;
    }
  ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type,
      const void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
  return reply_hdrs(conn, status, type, body, len, mode, NULL);
}

static enum MHD_Result
text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
  return reply(conn, status, "text/plain; charset=utf-8", msg, strlen(msg),
               MHD_RESPMEM_PERSISTENT);
}

/* Serves a copy of the snapshot in *buf, made under the mutex. */
static enum MHD_Result
snapshot(struct pacer_metrics_http *h, struct MHD_Connection *conn,
         char *const *buf, const size_t *len, const char *type)
{
  enum MHD_Result r;

  pthread_mutex_lock(&h->mu);
  if (*buf == NULL) {
    pthread_mutex_unlock(&h->mu);
    return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                "no snapshot yet: the worker publishes one every second\n");
  }
  r = reply(conn, MHD_HTTP_OK, type, *buf, *len, MHD_RESPMEM_MUST_COPY);
  pthread_mutex_unlock(&h->mu);
  return r;
}

/* /readyz: 200 while the scheduler reports Redis reachable, intake running
 * and not draining, at least every READY_STALE_MS; else 503 with why. */
static enum MHD_Result
readyz(struct pacer_metrics_http *h, struct MHD_Connection *conn)
{
  char body[200];
  uint64_t now = pacer_clock_mono_ms();
  int ok;

  pthread_mutex_lock(&h->mu);
  ok = h->ready && h->ready_at_mono_ms > 0 &&
       now - h->ready_at_mono_ms <= READY_STALE_MS;
  if (ok)
    snprintf(body, sizeof(body), "ready\n");
  else if (h->ready_at_mono_ms == 0)
    snprintf(body, sizeof(body), "not ready: starting\n");
  else if (now - h->ready_at_mono_ms > READY_STALE_MS)
    snprintf(body, sizeof(body),
             "not ready: no report from the scheduler for %llu ms\n",
             (unsigned long long)(now - h->ready_at_mono_ms));
  else
    snprintf(body, sizeof(body), "not ready: %s\n", h->why);
  pthread_mutex_unlock(&h->mu);
  return reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
               "text/plain; charset=utf-8", body, strlen(body),
               MHD_RESPMEM_MUST_COPY);
}

void
pacer_metrics_http_set_ready(struct pacer_metrics_http *h, int ready,
                             const char *why)
{
  pthread_mutex_lock(&h->mu);
  h->ready = ready;
  snprintf(h->why, sizeof(h->why), "%s", why != NULL ? why : "");
  h->ready_at_mono_ms = pacer_clock_mono_ms();
  pthread_mutex_unlock(&h->mu);
}

/* The login form's "token" field (application/x-www-form-urlencoded,
 * WHATWG URL §5): '+' is a space, %XX a byte. Decoded in place into body;
 * returns it with white space trimmed, or NULL when absent. */
static char *
form_token(char *body)
{
  char *p = body, *v = NULL, *amp, *q;
  size_t n;

  while (p != NULL && *p != '\0') {
    amp = strchr(p, '&');
    if (amp != NULL)
      *amp = '\0';
    if (strncmp(p, "token=", 6) == 0)
      v = p + 6;
    p = amp != NULL ? amp + 1 : NULL;
  }
  if (v == NULL)
    return NULL;
  for (q = v; *q != '\0'; q++)
    if (*q == '+')
      *q = ' ';
  n = MHD_http_unescape(v);
  while (n > 0 && strchr(" \t\r\n", v[n - 1]) != NULL)
    v[--n] = '\0';
  while (*v != '\0' && strchr(" \t\r\n", *v) != NULL)
    v++;
  return v;
}

/* POST /login: a form with the metrics token opens a session whose id
 * goes into an HttpOnly SameSite=Strict cookie (never the token). */
static enum MHD_Result
login(struct pacer_metrics_http *h, struct MHD_Connection *conn, struct req *rq)
{
  static const char *const retry[] = {MHD_HTTP_HEADER_LOCATION,
                                      "/login?failed=1", NULL};
  const struct pacer_dash_session *s;
  const char *why;
  char cookie[160], *tok;
  const char *hdrs[5];

  if (h->token == NULL)
    return text(conn, MHD_HTTP_NOT_FOUND,
                "404 not found: this dashboard has no token to log in "
                "with; open /\n");
  if ((why = csrf_refused(h, conn, AUTH_NO, NULL, 0)) != NULL)
    return text(conn, MHD_HTTP_FORBIDDEN, why);
  tok = rq->body != NULL ? form_token(rq->body) : NULL;
  if (tok == NULL || strlen(tok) != h->token_len ||
      sodium_memcmp(tok, h->token, h->token_len) != 0) {
    if (rq->body != NULL)
      sodium_memzero(rq->body, rq->len);
    return reply_hdrs(conn, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8",
                      "wrong token\n", 12, MHD_RESPMEM_PERSISTENT, retry);
  }
  sodium_memzero(rq->body, rq->len);
  s = pacer_dash_session_open(&h->sessions, pacer_clock_mono_ms());
  snprintf(cookie, sizeof(cookie),
           COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%llu",
           s->id, (unsigned long long)(PACER_DASH_SESSION_TTL_MS / 1000));
  hdrs[0] = MHD_HTTP_HEADER_SET_COOKIE;
  hdrs[1] = cookie;
  hdrs[2] = MHD_HTTP_HEADER_LOCATION;
  hdrs[3] = "/";
  hdrs[4] = NULL;
  return reply_hdrs(conn, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8",
                    "logged in\n", 10, MHD_RESPMEM_PERSISTENT, hdrs);
}

/* GET /api/session: the CSRF token the page sends back with each POST. */
static enum MHD_Result
session_info(struct pacer_metrics_http *h, struct MHD_Connection *conn,
             enum auth auth, const struct pacer_dash_session *sess)
{
  static const char *const names[] = {"none", "open", "bearer", "session"};
  char body[256];
  int actions;

  pthread_mutex_lock(&h->mu);
  actions = h->api != NULL;
  pthread_mutex_unlock(&h->mu);
  snprintf(body, sizeof(body),
           "{\"auth\":\"%s\",\"csrf\":\"%s\",\"actions\":%s}", names[auth],
           auth == AUTH_SESSION ? sess->csrf : h->csrf,
           actions ? "true" : "false");
  return reply(conn, MHD_HTTP_OK, "application/json; charset=utf-8", body,
               strlen(body), MHD_RESPMEM_MUST_COPY);
}

/* The action and look-up API (dash_api.h). */
static enum MHD_Result
api(struct pacer_metrics_http *h, struct MHD_Connection *conn, const char *url,
    const char *method, struct req *rq)
{
  struct pacer_dash_api *a;
  char *out = NULL;
  unsigned status = 500;
  enum MHD_Result r;
  int rc;

  pthread_mutex_lock(&h->mu);
  a = h->api;
  pthread_mutex_unlock(&h->mu);
  if (a == NULL)
    return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                "503: this server has no Redis connection for actions\n");
  rc = pacer_dash_api_handle(
      a, strcmp(method, "POST") == 0 ? "POST" : "GET", url,
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id"),
      rq->body != NULL ? rq->body : "", rq->len, &status, &out);
  if (rc == PACER_ENOTFOUND)
    return text(conn, MHD_HTTP_NOT_FOUND, "404 not found\n");
  if (rc != 0)
    return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "500: out of memory\n");
  r = reply(conn, status, "application/json; charset=utf-8", out, strlen(out),
            MHD_RESPMEM_MUST_COPY);
  free(out);
  return r;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
  struct req *rq = *req_cls;

  (void)cls;
  (void)conn;
  (void)toe;
  if (rq == NULL)
    return;
  if (rq->body != NULL)
    sodium_memzero(rq->body, rq->len); /* may hold a login token */
  free(rq->body);
  free(rq);
  *req_cls = NULL;
}

/* Takes a chunk of the body into rq (up to BODY_MAX). */
static void
take_body(struct req *rq, const char *upload, size_t n)
{
  char *p;

  if (rq->too_big || rq->len + n > BODY_MAX) {
    rq->too_big = 1;
    return;
  }
  p = realloc(rq->body, rq->len + n + 1);
  if (p == NULL) {
    rq->too_big = 1;
    return;
  }
  memcpy(p + rq->len, upload, n);
  rq->len += n;
  p[rq->len] = '\0';
  rq->body = p;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **req_cls)
{
  struct pacer_metrics_http *h = cls;
  struct req *rq = *req_cls;
  const struct pacer_dash_session *sess;
  const char *why;
  int post, get;
  enum auth auth;

  (void)version;
  if (rq == NULL) {
    /* Answer once MHD knows the request is whole. */
    if ((rq = calloc(1, sizeof(*rq))) == NULL)
      return MHD_NO;
    *req_cls = rq;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    take_body(rq, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
  get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
        strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  /* Probes (systemd, Kubernetes) carry no token: the health paths say
   * only "ok" or "ready" / why not, and answer without one. */
  if (strcmp(url, "/healthz") == 0)
    return text(conn, MHD_HTTP_OK, "ok\n");
  if (strcmp(url, "/readyz") == 0)
    return readyz(h, conn);
  if (h->token == NULL && !host_local(conn))
    return text(conn, MHD_HTTP_FORBIDDEN,
                "403 forbidden: without a metrics token the Host must be "
                "127.0.0.1, localhost or [::1]\n");
  if (rq->too_big)
    return text(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                "413: the body is over 256 KiB\n");
  if (strcmp(url, "/login") == 0 && get)
    return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8",
                 pacer_login_html, sizeof(pacer_login_html) - 1,
                 MHD_RESPMEM_PERSISTENT);
  if (strcmp(url, "/login") == 0 && post)
    return login(h, conn, rq);
  /* Authentication before anything else: a caller without the token
   * learns nothing, not even which paths exist. A browser gets the login
   * form. */
  auth = authenticate(h, conn, &sess);
  if (auth == AUTH_NO) {
    if (get && (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0))
      return reply(conn, MHD_HTTP_UNAUTHORIZED, "text/html; charset=utf-8",
                   pacer_login_html, sizeof(pacer_login_html) - 1,
                   MHD_RESPMEM_PERSISTENT);
    return text(conn, MHD_HTTP_UNAUTHORIZED,
                "401 unauthorized: send Authorization: Bearer <token>, or "
                "log in at /login\n");
  }
  if (post && strcmp(url, "/logout") != 0 &&
      strcmp(url, "/api/dead/retry") != 0 &&
      strcmp(url, "/api/dead/delete") != 0 && strcmp(url, "/api/cancel") != 0 &&
      strcmp(url, "/api/pause") != 0 && strcmp(url, "/api/resume") != 0)
    return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                "405 method not allowed: POST only to /login, /logout and "
                "the actions of /api (docs/METRICS.md)\n");
  if (post) {
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);

    if ((why = csrf_refused(h, conn, auth, sess, 1)) != NULL)
      return text(conn, MHD_HTTP_FORBIDDEN, why);
    if (strcmp(url, "/logout") == 0) {
      static const char *const gone[] = {
          MHD_HTTP_HEADER_SET_COOKIE,
          COOKIE_NAME "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", NULL};

      if (sess != NULL)
        pacer_dash_session_close(&h->sessions, sess->id);
      return reply_hdrs(conn, MHD_HTTP_OK, "application/json; charset=utf-8",
                        "{}", 2, MHD_RESPMEM_PERSISTENT, gone);
    }
    /* A JSON body: a cross-site form cannot send one without a CORS
     * preflight, which this server never grants. */
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
      return text(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                  "415: send Content-Type: application/json\n");
    return api(h, conn, url, method, rq);
  }
  if (!get)
    return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                "405 method not allowed: GET, HEAD or POST\n");
  if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
    return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8",
                 pacer_dashboard_html, sizeof(pacer_dashboard_html) - 1,
                 MHD_RESPMEM_PERSISTENT);
  if (strcmp(url, "/metrics") == 0)
    return snapshot(h, conn, &h->metrics, &h->metrics_len,
                    "text/plain; version=0.0.4; charset=utf-8");
  if (strcmp(url, "/api/state") == 0)
    return snapshot(h, conn, &h->state, &h->state_len,
                    "application/json; charset=utf-8");
  if (strcmp(url, "/api/session") == 0)
    return session_info(h, conn, auth, sess);
  if (strcmp(url, "/api/dead") == 0 || strcmp(url, "/api/job") == 0)
    return api(h, conn, url, method, rq);
  return text(conn, MHD_HTTP_NOT_FOUND,
              "404 not found: try /, /metrics, /api/state, /healthz or "
              "/readyz\n");
}

int
pacer_metrics_http_set_store(struct pacer_metrics_http *h,
                             const char *redis_url, const char *prefix,
                             uint32_t timeout_ms, struct pacer_error *err)
{
  struct pacer_dash_api *a, *old;
  int rc = pacer_dash_api_new(redis_url, prefix, timeout_ms, &a, err);

  if (rc != 0)
    return rc;
  pthread_mutex_lock(&h->mu);
  old = h->api;
  h->api = old != NULL ? old : a;
  pthread_mutex_unlock(&h->mu);
  if (old != NULL)
    pacer_dash_api_free(a); /* set once: the HTTP thread may hold old */
  return 0;
}

/* ------------------------------------------------------------------ */
/* Publishing (scheduler thread) */

static char *
copy(const char *s, size_t len)
{
  char *d = malloc(len + 1);

  if (d != NULL) {
    memcpy(d, s, len);
    d[len] = '\0';
  }
  return d;
}

void
pacer_metrics_http_publish(void *arg, const char *metrics, size_t metrics_len,
                           const char *state, size_t state_len)
{
  struct pacer_metrics_http *h = arg;
  char *m = copy(metrics, metrics_len), *s = copy(state, state_len);
  char *old_m, *old_s;

  if (m == NULL || s == NULL) {
    free(m);
    free(s);
    return;
  }
  pthread_mutex_lock(&h->mu);
  old_m = h->metrics;
  old_s = h->state;
  h->metrics = m;
  h->metrics_len = metrics_len;
  h->state = s;
  h->state_len = state_len;
  pthread_mutex_unlock(&h->mu);
  free(old_m); /* outside the lock: requests copy under it */
  free(old_s);
}

/* ------------------------------------------------------------------ */
/* Start and stop */

int
pacer_metrics_http_start(const char *listen, const char *token,
                         struct pacer_metrics_http **out,
                         struct pacer_error *err)
{
  struct pacer_metrics_http *h;
  struct addrinfo *ai = NULL;
  const union MHD_DaemonInfo *info;
  sigset_t block, old;
  unsigned flags;
  int rc;

  *out = NULL;
  if (sodium_init() < 0)
    return pacer_error_set(err, PACER_EIO, "metrics: libsodium: no init");
  if ((rc = pacer_metrics_resolve(listen, &ai, err)) != 0)
    return rc;
  if ((token == NULL || token[0] == '\0') &&
      !pacer_metrics_is_loopback(ai->ai_addr)) {
    freeaddrinfo(ai);
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics: %s is not a loopback address: anyone "
                           "who can reach it would see the queue; give a "
                           "bearer token (metrics_token_file in the config, "
                           "or --metrics-token-file FILE), or listen on "
                           "127.0.0.1",
                           listen);
  }
  h = calloc(1, sizeof(*h));
  if (h == NULL || pthread_mutex_init(&h->mu, NULL) != 0) {
    free(h);
    freeaddrinfo(ai);
    return pacer_error_set(err, PACER_ENOMEM, "metrics: out of memory");
  }
  if (token != NULL && token[0] != '\0') {
    h->token_len = strlen(token);
    h->token = copy(token, h->token_len);
    if (h->token == NULL) {
      pacer_metrics_http_stop(h);
      freeaddrinfo(ai);
      return pacer_error_set(err, PACER_ENOMEM, "metrics: out of memory");
    }
  }
  pacer_dash_random_hex(h->csrf);
  flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
  if (ai->ai_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  /* The server thread inherits this mask: SIGINT/SIGTERM stay with the
   * scheduler loop's signal handles. */
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  h->d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  freeaddrinfo(ai);
  if (h->d == NULL) {
    pacer_metrics_http_stop(h);
    return pacer_error_set(err, PACER_EIO,
                           "metrics: cannot listen on %s (address in use, or "
                           "not an address of this machine?)",
                           listen);
  }
  info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info != NULL ? info->port : 0;
  *out = h;
  return 0;
}

unsigned
pacer_metrics_http_port(const struct pacer_metrics_http *h)
{
  return h->port;
}

void
pacer_metrics_http_stop(struct pacer_metrics_http *h)
{
  if (h == NULL)
    return;
  if (h->d != NULL)
    MHD_stop_daemon(h->d); /* joins the thread */
  h->d = NULL;
  pacer_dash_api_free(h->api);
  pacer_dash_sessions_wipe(&h->sessions);
  sodium_memzero(h->csrf, sizeof(h->csrf));
  pthread_mutex_destroy(&h->mu);
  free(h->metrics);
  free(h->state);
  if (h->token != NULL)
    sodium_memzero(h->token, h->token_len);
  free(h->token);
  free(h);
}
