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

#define CONN_LIMIT     64   /* connections at once */
#define CONN_TIMEOUT_S 10   /* idle connection timeout, s */
#define HOST_MAX       256  /* host part of the listen address, bytes */
#define TOKEN_FILE_MAX 1024 /* bytes read from a token file */
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
  int ready;                 /* the scheduler's last readiness report */
  char why[160];             /* why not ready, "" when ready */
  uint64_t ready_at_mono_ms; /* when it came, 0 = never */
};

/* ------------------------------------------------------------------ */
/* Requests (HTTP thread) */

/* RFC 6750 §2.1: "Authorization: Bearer <b64token>"; the scheme is
 * case-insensitive (RFC 9110 §11.1). Compared in constant time. */
static int
authorized(const struct pacer_metrics_http *h, struct MHD_Connection *conn)
{
  const char *v;
  size_t n;

  if (h->token == NULL)
    return 1;
  v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                  MHD_HTTP_HEADER_AUTHORIZATION);
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

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type,
      const void *body, size_t len, enum MHD_ResponseMemoryMode mode)
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
      MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") !=
          MHD_YES) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  if (strncmp(type, "text/html", 9) == 0 &&
      (MHD_add_response_header(
           r, "Content-Security-Policy",
           "default-src 'none'; script-src 'unsafe-inline'; style-src "
           "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
           "frame-ancestors 'none'") != MHD_YES ||
       MHD_add_response_header(r, "Referrer-Policy", "no-referrer") !=
           MHD_YES)) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
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

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **req_cls)
{
  static int started; /* marks a request whose headers were seen */
  struct pacer_metrics_http *h = cls;

  (void)version;
  (void)upload;
  if (*req_cls == NULL) {
    /* Answer on the next call, once MHD knows the request is whole. */
    *req_cls = &started;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    *upload_size = 0; /* a body is not wanted; drop it */
    return MHD_YES;
  }
  /* Probes (systemd, Kubernetes) carry no token: the health paths say
   * only "ok" or "ready" / why not, and answer without one. */
  if (strcmp(url, "/healthz") == 0)
    return text(conn, MHD_HTTP_OK, "ok\n");
  if (strcmp(url, "/readyz") == 0)
    return readyz(h, conn);
  /* Authentication before anything else: a caller without the token
   * learns nothing, not even which paths exist. */
  if (!authorized(h, conn))
    return text(conn, MHD_HTTP_UNAUTHORIZED,
                "401 unauthorized: send Authorization: Bearer <token>\n");
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                "405 method not allowed: GET or HEAD\n");
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
  return text(conn, MHD_HTTP_NOT_FOUND,
              "404 not found: try /, /metrics, /api/state, /healthz or "
              "/readyz\n");
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

static int
is_loopback(const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

    return (ntohl(in->sin_addr.s_addr) >> 24) == 127u;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 =
        (const struct sockaddr_in6 *)(const void *)sa;
    const unsigned char *b = in6->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};

    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
      return 1;
    return memcmp(b, mapped, 12) == 0 && b[12] == 127u; /* ::ffff:127.x */
  }
  return 0;
}

/* Splits "host:port" / "[v6]:port" / ":port" / "port" (no host: loopback,
 * 127.0.0.1) and resolves it. Returns 0 with *res (free with freeaddrinfo)
 * or PACER_ECONFIG. */
static int
resolve(const char *listen, struct addrinfo **res, struct pacer_error *err)
{
  char host[HOST_MAX];
  const char *colon = strrchr(listen, ':'), *h = listen, *port;
  size_t hlen, i;
  unsigned long v;
  struct addrinfo hints;
  int rc;

  port = colon != NULL ? colon + 1 : listen;
  if (*port == '\0' || strspn(port, "0123456789") != strlen(port))
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics: \"%s\" is not host:port, e.g. "
                           "127.0.0.1:9464",
                           listen);
  /* getaddrinfo() would take a larger port modulo 65536 and bind that. */
  for (i = 0, v = 0; port[i] != '\0'; i++) {
    v = v * 10 + (unsigned long)(port[i] - '0');
    if (v > 65535)
      return pacer_error_set(err, PACER_ECONFIG,
                             "metrics: \"%s\": port %s is out of range: use "
                             "0 to 65535, e.g. 127.0.0.1:9464",
                             listen, port);
  }
  hlen = colon != NULL ? (size_t)(colon - listen) : 0;
  if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
    h = listen + 1;
    hlen -= 2;
  }
  if (hlen == 0) {
    h = "127.0.0.1"; /* loopback unless told otherwise */
    hlen = strlen(h);
  }
  if (hlen >= sizeof(host))
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics: \"%s\": the host part is too long "
                           "(use 127.0.0.1:PORT)",
                           listen);
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  rc = getaddrinfo(host, port, &hints, res);
  if (rc != 0)
    return pacer_error_set(err, PACER_ECONFIG, "metrics: \"%s\": %s", listen,
                           gai_strerror(rc));
  return 0;
}

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
  if ((rc = resolve(listen, &ai, err)) != 0)
    return rc;
  if ((token == NULL || token[0] == '\0') && !is_loopback(ai->ai_addr)) {
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
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S, MHD_OPTION_END);
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
  pthread_mutex_destroy(&h->mu);
  free(h->metrics);
  free(h->state);
  if (h->token != NULL)
    sodium_memzero(h->token, h->token_len);
  free(h->token);
  free(h);
}

int
pacer_metrics_token_read(const char *path, char **out, struct pacer_error *err)
{
  char buf[TOKEN_FILE_MAX + 1], ebuf[128];
  struct stat st;
  size_t len = 0;
  int fd, e;

  *out = NULL;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0) {
    e = errno;
    if (fd >= 0)
      close(fd);
    if (strerror_r(e, ebuf, sizeof(ebuf)) != 0)
      snprintf(ebuf, sizeof(ebuf), "error %d", e);
    return pacer_error_set(err, PACER_ECONFIG, "metrics token file: %s: %s",
                           path, ebuf);
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    close(fd);
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics token file: %s must be a regular file "
                           "that group and others cannot read (mode %04o); "
                           "chmod 600 %s",
                           path, (unsigned)(st.st_mode & 07777), path);
  }
  while (len < sizeof(buf) - 1) {
    ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  close(fd);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
                     buf[len - 1] == ' ' || buf[len - 1] == '\t'))
    len--;
  buf[len] = '\0';
  if (!pacer_config_metrics_token_ok(buf)) {
    sodium_memzero(buf, sizeof(buf));
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics token file: %s must hold one token of %d "
                           "to %d characters of A-Z a-z 0-9 - . _ ~ + / "
                           "(e.g. openssl rand -hex 32 > FILE)",
                           path, PACER_METRICS_TOKEN_MIN,
                           PACER_METRICS_TOKEN_MAX);
  }
  *out = copy(buf, len);
  sodium_memzero(buf, sizeof(buf));
  if (*out == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "metrics: out of memory");
  return 0;
}
