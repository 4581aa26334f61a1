/* The TLS pump of the worker's async connections, on its libuv loop (see
 * store/redis_tls.h and docs/REDIS.md "TLS").
 *
 * hiredis 0.14 has no way to adopt a socket for an async context, so the
 * pump makes it connect to a unix socket of its own: a listener in a fresh
 * mode-0700 directory (mkdtemp), accepted, unlinked and removed in the
 * same call, before the loop runs again; nobody else can reach it.
 *
 *   hiredis --plain RESP--> [unix socket] pump --TLS--> uv_tcp_t server
 *
 * Until the handshake has passed, the pump does not read hiredis's side:
 * AUTH, SELECT and whatever the owner queued wait in the socket. Any end
 * (handshake failure or deadline, server gone, hiredis freed its context)
 * closes both sides, so hiredis sees its connection end and the owner's
 * reconnect with backoff takes over. */
#define _GNU_SOURCE
#include "store/redis_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "store/redis_tls_int.h"

#define PUMP_BUF 16384 /* bytes per read */

struct tls_pump {
  uv_loop_t *loop;
  uv_pipe_t plain;  /* our end of hiredis's unix socket */
  uv_tcp_t net;     /* the server */
  uv_timer_t timer; /* handshake deadline */
  uv_getaddrinfo_t gai;
  uv_connect_t creq;
  struct addrinfo *res, *next; /* resolved addresses, the one to try next */
  struct pacer_tls_link link;
  int net_open, closing, handles; /* handles still to close */
  int resolving;                  /* gai in flight: free after it returns */
  int last_status;                /* why the last connect failed (UV_E*) */
  char port[16];
};

struct pump_write {
  uv_write_t req;
  char data[];
};

static void pump_close(struct tls_pump *p);

static void
pump_fail(struct tls_pump *p, const struct pacer_error *err)
{
  char q[sizeof(err->msg) + 16];

  pacer_log(PACER_LOG_ERROR, "redis",
            "msg=\"TLS connection failed\" error=\"%s\"",
            pacer_log_quote(q, sizeof(q), err->msg));
  pump_close(p);
}

static void
on_write(uv_write_t *req, int status)
{
  (void)status; /* a failed write shows up as a read error or EOF */
  free(req);
}

/* Queues n bytes (copied) on stream. Returns 0 or -1. */
static int
stream_send(uv_stream_t *s, const char *buf, size_t n)
{
  struct pump_write *w = malloc(sizeof(*w) + n);
  uv_buf_t b;

  if (w == NULL)
    return -1;
  memcpy(w->data, buf, n);
  b = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, s, &b, 1, on_write) != 0) {
    free(w);
    return -1;
  }
  return 0;
}

/* Sends what the link has for the server. Returns 0 or -1. */
static int
net_flush(struct tls_pump *p)
{
  size_t n = pacer_tls_link_out_len(&p->link);
  struct pump_write *w;
  uv_buf_t b;

  if (n == 0)
    return 0;
  w = malloc(sizeof(*w) + n);
  if (w == NULL)
    return -1;
  n = pacer_tls_link_take_out(&p->link, w->data, n);
  b = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&p->net, &b, 1, on_write) != 0) {
    free(w);
    return -1;
  }
  return 0;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void)h;
  (void)suggested;
  buf->base = malloc(PUMP_BUF);
  buf->len = buf->base != NULL ? PUMP_BUF : 0;
}

/* hiredis sent plaintext: encrypt and send it on. */
static void
on_plain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct tls_pump *p = s->data;
  struct pacer_error err;

  if (n > 0 && !p->closing &&
      (pacer_tls_link_write(&p->link, buf->base, (size_t)n, &err) != 0 ||
       net_flush(p) != 0))
    n = UV_EIO;
  free(buf->base);
  if (n < 0)
    pump_close(p); /* hiredis freed its context, or a write failed */
}

static void start_plain(struct tls_pump *p);

/* The server sent ciphertext: move the handshake on, or decrypt. */
static void
on_net_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct tls_pump *p = s->data;
  struct pacer_error err;
  char out[PUMP_BUF];
  ssize_t r;

  if (n > 0 && pacer_tls_link_feed(&p->link, buf->base, (size_t)n) != 0)
    n = UV_ENOMEM;
  free(buf->base);
  if (p->closing)
    return;
  if (n < 0) {
    if (!p->link.handshaken) {
      pacer_error_set(&err, PACER_EREDIS,
                      "redis: %s: TLS handshake: the server closed the "
                      "connection (is it a TLS port?)",
                      p->link.peer);
      pump_fail(p, &err);
    } else {
      pump_close(p);
    }
    return;
  }
  if (!p->link.handshaken) {
    int rc = pacer_tls_link_handshake(&p->link, &err);

    if (rc < 0 || net_flush(p) != 0) {
      if (rc >= 0)
        pacer_error_set(&err, PACER_EREDIS, "redis: %s: TLS: send failed",
                        p->link.peer);
      pump_fail(p, &err);
      return;
    }
    if (rc == 0)
      return;
    uv_timer_stop(&p->timer);
    start_plain(p);
  }
  while ((r = pacer_tls_link_read(&p->link, out, sizeof(out), &err)) > 0) {
    if (stream_send((uv_stream_t *)&p->plain, out, (size_t)r) != 0) {
      r = PACER_ENOMEM;
      break;
    }
  }
  if (r < 0 || net_flush(p) != 0)
    pump_close(p); /* close_notify, an error, or out of memory */
}

static void
start_plain(struct tls_pump *p)
{
  if (uv_read_start((uv_stream_t *)&p->plain, on_alloc, on_plain_read) != 0)
    pump_close(p);
}

static void
on_deadline(uv_timer_t *t)
{
  struct tls_pump *p = t->data;
  struct pacer_error err;

  pacer_error_set(&err, PACER_EREDIS,
                  "redis: %s: TLS connect or handshake timed out after %u ms",
                  p->link.peer, PACER_TLS_HANDSHAKE_MS);
  pump_fail(p, &err);
}

static void try_next(struct tls_pump *p, int status);

static void
on_net_connect(uv_connect_t *req, int status)
{
  struct tls_pump *p = req->data;
  struct pacer_error err;

  if (p->closing)
    return;
  if (status != 0) {
    try_next(p, status);
    return;
  }
  uv_tcp_nodelay(&p->net, 1);
  if (uv_read_start((uv_stream_t *)&p->net, on_alloc, on_net_read) != 0 ||
      pacer_tls_link_handshake(&p->link, &err) < 0 || net_flush(p) != 0) {
    pacer_error_set(&err, PACER_EREDIS, "redis: %s: TLS: cannot start",
                    p->link.peer);
    pump_fail(p, &err);
  }
}

static void
on_net_closed_retry(uv_handle_t *h)
{
  struct tls_pump *p = h->data;

  p->handles--;
  if (p->closing) {
    pump_close(p);
    return;
  }
  try_next(p, p->last_status);
}

/* Connects to the next resolved address; status is why the last failed. */
static void
try_next(struct tls_pump *p, int status)
{
  struct pacer_error err;

  if (p->net_open) { /* a failed attempt: close it, then go on */
    p->net_open = 0; /* pump_close must not close it again */
    p->last_status = status;
    uv_close((uv_handle_t *)&p->net, on_net_closed_retry);
    return;
  }
  if (p->next == NULL) {
    pacer_error_set(&err, PACER_EREDIS, "redis: %s: connect: %s", p->link.peer,
                    status != 0 ? uv_strerror(status) : "no address");
    pump_fail(p, &err);
    return;
  }
  if (uv_tcp_init(p->loop, &p->net) != 0) {
    pacer_error_set(&err, PACER_ENOMEM, "redis: %s: out of memory",
                    p->link.peer);
    pump_fail(p, &err);
    return;
  }
  p->net.data = p;
  p->net_open = 1;
  p->handles++;
  p->creq.data = p;
  status = uv_tcp_connect(&p->creq, &p->net, p->next->ai_addr, on_net_connect);
  p->next = p->next->ai_next;
  if (status != 0)
    try_next(p, status);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
  struct tls_pump *p = req->data;
  struct pacer_error err;

  p->resolving = 0;
  p->res = res;
  p->next = res;
  if (p->closing) {
    pump_close(p);
    return;
  }
  if (status != 0) {
    pacer_error_set(&err, PACER_EREDIS, "redis: %s: %s", p->link.peer,
                    uv_strerror(status));
    pump_fail(p, &err);
    return;
  }
  try_next(p, 0);
}

static void
on_closed(uv_handle_t *h)
{
  struct tls_pump *p = h->data;

  if (h == (uv_handle_t *)&p->net)
    p->net_open = 0;
  p->handles--;
  pump_close(p);
}

/* Closes both sides; frees p once every handle is closed and the resolver
 * has returned. Idempotent. */
static void
pump_close(struct tls_pump *p)
{
  if (!p->closing) {
    p->closing = 1;
    uv_close((uv_handle_t *)&p->plain, on_closed);
    uv_close((uv_handle_t *)&p->timer, on_closed);
    if (p->net_open) {
      if (p->link.handshaken) { /* close_notify, best effort */
        char buf[256];
        size_t n;

        SSL_shutdown(p->link.ssl);
        n = pacer_tls_link_take_out(&p->link, buf, sizeof(buf));
        if (n > 0) {
          uv_buf_t b = uv_buf_init(buf, (unsigned)n);

          uv_try_write((uv_stream_t *)&p->net, &b, 1);
        }
      }
      uv_close((uv_handle_t *)&p->net, on_closed);
    }
    if (p->resolving)
      uv_cancel((uv_req_t *)&p->gai);
    return;
  }
  if (p->handles > 0 || p->resolving || p->net_open)
    return;
  if (p->res != NULL)
    uv_freeaddrinfo(p->res);
  pacer_tls_link_free(&p->link);
  free(p);
}

/* A connected unix socket pair: *hiredis_ac connected to a private
 * listener, *fd our accepted end. Returns 0 or -1 with err. */
static int
private_pair(const struct pacer_redis_addr *addr, redisAsyncContext **out,
             int *fd, struct pacer_error *err)
{
  const char *tmp = getenv("TMPDIR");
  char dir[80], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  struct sockaddr_un sa;
  redisAsyncContext *ac = NULL;
  int lfd = -1, rc = -1;

  *out = NULL;
  *fd = -1;
  if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > 60)
    tmp = "/tmp";
  snprintf(dir, sizeof(dir), "%s/pacer-tls-XXXXXX", tmp);
  if (mkdtemp(dir) == NULL) {
    char b[128];

    pacer_error_set(err, PACER_EREDIS,
                    "redis: %s:%d: TLS: cannot make a private socket "
                    "directory in %s: %s",
                    addr->host, addr->port, tmp, strerror_r(errno, b, 128));
    return -1;
  }
  snprintf(path, sizeof(path), "%s/s", dir);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, sizeof(path));
  lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
      listen(lfd, 1) == 0) {
    ac = redisAsyncConnectUnix(path); /* queued in the backlog at once */
    if (ac != NULL && ac->err == 0)
      *fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (*fd >= 0)
      rc = 0;
  }
  if (lfd >= 0)
    close(lfd);
  unlink(path);
  rmdir(dir);
  if (rc != 0) {
    if (ac != NULL)
      redisAsyncFree(ac);
    pacer_error_set(err, PACER_EREDIS,
                    "redis: %s:%d: TLS: cannot set up the local socket",
                    addr->host, addr->port);
    return -1;
  }
  *out = ac;
  return 0;
}

redisAsyncContext *
pacer_redis_tls_async_connect(uv_loop_t *loop,
                              const struct pacer_redis_addr *addr,
                              struct pacer_error *err)
{
  struct addrinfo hints;
  struct tls_pump *p = calloc(1, sizeof(*p));
  redisAsyncContext *ac;
  int fd;

  if (p == NULL) {
    pacer_error_set(err, PACER_ENOMEM, "redis: out of memory");
    return NULL;
  }
  if (pacer_tls_link_init(&p->link, addr, err) != 0) {
    if (err != NULL && err->code == PACER_ECONFIG)
      err->code = PACER_EREDIS; /* the owners log these and retry */
    free(p);
    return NULL;
  }
  if (private_pair(addr, &ac, &fd, err) != 0) {
    pacer_tls_link_free(&p->link);
    free(p);
    return NULL;
  }
  p->loop = loop;
  uv_pipe_init(loop, &p->plain, 0);
  uv_timer_init(loop, &p->timer);
  p->plain.data = p->timer.data = p->gai.data = p;
  p->handles = 2;
  if (uv_pipe_open(&p->plain, fd) != 0) {
    close(fd);
    pacer_error_set(err, PACER_EREDIS,
                    "redis: %s: TLS: cannot watch the "
                    "local socket",
                    p->link.peer);
    pump_close(p);
    redisAsyncFree(ac);
    return NULL;
  }
  uv_timer_start(&p->timer, on_deadline, PACER_TLS_HANDSHAKE_MS, 0);
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(p->port, sizeof(p->port), "%d", addr->port);
  p->resolving = 1;
  if (uv_getaddrinfo(loop, &p->gai, on_resolved, addr->host, p->port, &hints) !=
      0) {
    p->resolving = 0;
    pacer_error_set(err, PACER_EREDIS, "redis: %s: cannot resolve",
                    p->link.peer);
    pump_close(p);
    redisAsyncFree(ac);
    return NULL;
  }
  return ac;
}
