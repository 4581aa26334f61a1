/* The TLS link over memory BIOs (store/redis_tls_int.h) and the pump of
 * the synchronous connection: a blocking handshake in the caller's thread,
 * then a helper thread between hiredis's socket pair and the server. See
 * store/redis_tls.h and docs/REDIS.md "TLS". */
#define _GNU_SOURCE
#include "store/redis_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "store/redis_tls_int.h"

#define PUMP_BUF     16384 /* bytes moved per read */
/* Bytes waiting for hiredis before the server's side is read again. */
#define PUMP_BACKLOG (4u << 20)

/* ------------------------------------------------------------------------
 * The link
 * ------------------------------------------------------------------------ */

/* OpenSSL's first queued reason, or fallback. Clears the queue. */
static const char *
ssl_reason(char *buf, size_t size, const char *fallback)
{
  unsigned long e = ERR_get_error();

  if (e == 0) {
    snprintf(buf, size, "%s", fallback);
  } else {
    const char *r = ERR_reason_error_string(e);

    snprintf(buf, size, "%s", r != NULL ? r : fallback);
  }
  ERR_clear_error();
  return buf;
}

static int
is_ip(const char *s)
{
  unsigned char b[16];

  return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static int
load_files(SSL_CTX *ctx, const struct pacer_redis_tls *tls, const char *peer,
           struct pacer_error *err)
{
  char why[160];

  if (tls->ca_file[0] != '\0') {
    if (SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL) != 1)
      return pacer_error_set(
          err, PACER_ECONFIG, "redis: %s: TLS: cannot load ca_file %.80s: %s",
          peer, tls->ca_file, ssl_reason(why, sizeof(why), "unreadable"));
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return pacer_error_set(err, PACER_ECONFIG,
                           "redis: %s: TLS: cannot load the system trust "
                           "store: %s",
                           peer, ssl_reason(why, sizeof(why), "unreadable"));
  }
  if (tls->cert_file[0] != '\0') {
    if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) != 1)
      return pacer_error_set(
          err, PACER_ECONFIG, "redis: %s: TLS: cannot load cert_file %.80s: %s",
          peer, tls->cert_file, ssl_reason(why, sizeof(why), "unreadable"));
    if (SSL_CTX_use_PrivateKey_file(ctx, tls->key_file, SSL_FILETYPE_PEM) !=
            1 ||
        SSL_CTX_check_private_key(ctx) != 1)
      return pacer_error_set(err, PACER_ECONFIG,
                             "redis: %s: TLS: cannot load key_file %.80s or "
                             "it does not match cert_file: %s",
                             peer, tls->key_file,
                             ssl_reason(why, sizeof(why), "unreadable"));
  }
  return 0;
}

int
pacer_tls_link_init(struct pacer_tls_link *l,
                    const struct pacer_redis_addr *addr,
                    struct pacer_error *err)
{
  const struct pacer_redis_tls *tls = &addr->tls;
  const char *name =
      tls->server_name[0] != '\0' ? tls->server_name : addr->host;
  SSL_CTX *ctx;
  int rc;

  memset(l, 0, sizeof(*l));
  snprintf(l->peer, sizeof(l->peer), "%s:%d", addr->host, addr->port);
  ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "redis: %s: TLS: out of memory",
                           l->peer);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  rc = load_files(ctx, tls, l->peer, err);
  if (rc != 0) {
    SSL_CTX_free(ctx);
    return rc;
  }
  SSL_CTX_set_verify(ctx, tls->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                     NULL);
  l->ssl = SSL_new(ctx);
  SSL_CTX_free(ctx); /* the session holds its own reference */
  l->net_in = BIO_new(BIO_s_mem());
  l->net_out = BIO_new(BIO_s_mem());
  if (l->ssl == NULL || l->net_in == NULL || l->net_out == NULL) {
    BIO_free(l->net_in);
    BIO_free(l->net_out);
    SSL_free(l->ssl);
    memset(l, 0, sizeof(*l));
    return pacer_error_set(err, PACER_ENOMEM, "redis: %s: TLS: out of memory",
                           addr->host);
  }
  BIO_set_mem_eof_return(l->net_in, -1); /* empty means "more to come" */
  SSL_set_bio(l->ssl, l->net_in, l->net_out);
  SSL_set_connect_state(l->ssl);
  if (!is_ip(name))
    SSL_set_tlsext_host_name(l->ssl, name);
  if (tls->insecure) {
    pacer_log(PACER_LOG_WARN, "redis",
              "msg=\"TLS certificate and name checks are OFF (insecure=1): "
              "for tests only, anyone on the path can read and change "
              "this connection\" server=%s",
              l->peer);
  } else {
    X509_VERIFY_PARAM *vp = SSL_get0_param(l->ssl);

    if (is_ip(name))
      X509_VERIFY_PARAM_set1_ip_asc(vp, name);
    else
      SSL_set1_host(l->ssl, name);
  }
  return 0;
}

void
pacer_tls_link_free(struct pacer_tls_link *l)
{
  if (l->ssl != NULL)
    SSL_free(l->ssl); /* frees both BIOs */
  l->ssl = NULL;
}

int
pacer_tls_link_feed(struct pacer_tls_link *l, const char *buf, size_t n)
{
  if (n > 0 && BIO_write(l->net_in, buf, (int)n) != (int)n)
    return PACER_ENOMEM;
  return 0;
}

int
pacer_tls_link_handshake(struct pacer_tls_link *l, struct pacer_error *err)
{
  char why[160];
  long vr;
  int rc, e;

  if (l->handshaken)
    return 1;
  rc = SSL_do_handshake(l->ssl);
  if (rc == 1) {
    l->handshaken = 1;
    return 1;
  }
  e = SSL_get_error(l->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return 0;
  vr = SSL_get_verify_result(l->ssl);
  if (vr != X509_V_OK) {
    ERR_clear_error();
    return pacer_error_set(err, PACER_ECONFIG,
                           "redis: %s: TLS: server certificate refused: %s "
                           "(check ca_file and server_name)",
                           l->peer, X509_verify_cert_error_string(vr));
  }
  return pacer_error_set(err, PACER_EREDIS,
                         "redis: %s: TLS handshake failed: %s", l->peer,
                         ssl_reason(why, sizeof(why), "connection closed"));
}

int
pacer_tls_link_write(struct pacer_tls_link *l, const char *buf, size_t n,
                     struct pacer_error *err)
{
  char why[160];

  while (n > 0) {
    int w = SSL_write(l->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);

    if (w <= 0)
      return pacer_error_set(err, PACER_EREDIS, "redis: %s: TLS write: %s",
                             l->peer, ssl_reason(why, sizeof(why), "failed"));
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

ssize_t
pacer_tls_link_read(struct pacer_tls_link *l, char *buf, size_t size,
                    struct pacer_error *err)
{
  char why[160];
  int r = SSL_read(l->ssl, buf, size > INT32_MAX ? INT32_MAX : (int)size);
  int e;

  if (r > 0)
    return r;
  e = SSL_get_error(l->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return 0;
  if (e == SSL_ERROR_ZERO_RETURN)
    return PACER_EIO;
  return pacer_error_set(err, PACER_EREDIS, "redis: %s: TLS read: %s", l->peer,
                         ssl_reason(why, sizeof(why), "failed"));
}

size_t
pacer_tls_link_out_len(struct pacer_tls_link *l)
{
  return BIO_ctrl_pending(l->net_out);
}

size_t
pacer_tls_link_take_out(struct pacer_tls_link *l, char *buf, size_t size)
{
  int n = BIO_read(l->net_out, buf, size > INT32_MAX ? INT32_MAX : (int)size);

  return n > 0 ? (size_t)n : 0;
}

/* ------------------------------------------------------------------------
 * The synchronous pump
 * ------------------------------------------------------------------------ */

static int64_t
mono_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd has events or deadline (mono ms; -1 = none) passes.
 * Returns 1, 0 on timeout, -1 on error. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
  for (;;) {
    struct pollfd p = {.fd = fd, .events = events};
    int64_t left = deadline < 0 ? -1 : deadline - mono_ms();
    int rc;

    if (deadline >= 0 && left <= 0)
      return 0;
    rc = poll(&p, 1, (int)left);
    if (rc < 0 && errno == EINTR)
      continue;
    return rc < 0 ? -1 : rc > 0;
  }
}

/* Writes all n bytes to fd (non-blocking or not) by deadline. Returns 0 or
 * -1. */
static int
send_all(int fd, const char *buf, size_t n, int64_t deadline)
{
  while (n > 0) {
    ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);

    if (w > 0) {
      buf += w;
      n -= (size_t)w;
    } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (wait_fd(fd, POLLOUT, deadline) != 1)
        return -1;
    } else {
      return -1;
    }
  }
  return 0;
}

static int
flush_out(struct pacer_tls_link *l, int fd, int64_t deadline)
{
  char buf[PUMP_BUF];
  size_t n;

  while ((n = pacer_tls_link_take_out(l, buf, sizeof(buf))) > 0) {
    if (send_all(fd, buf, n, deadline) != 0)
      return -1;
  }
  return 0;
}

/* A TCP connection to addr by deadline; returns the (non-blocking) fd or
 * -1 with err. */
static int
tcp_connect(const struct pacer_redis_addr *addr, const char *peer,
            int64_t deadline, struct pacer_error *err)
{
  struct addrinfo hints, *res = NULL, *ai;
  char port[16];
  int fd = -1, rc, saved = 0;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof(port), "%d", addr->port);
  rc = getaddrinfo(addr->host, port, &hints, &res);
  if (rc != 0) {
    pacer_error_set(err, PACER_EREDIS, "redis: %s: %s", peer, gai_strerror(rc));
    return -1;
  }
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                ai->ai_protocol);
    if (fd < 0)
      continue;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
      break;
    if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 1 &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
      break;
    saved = soerr != 0 ? soerr : errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    char b[128];

    pacer_error_set(err, PACER_EREDIS, "redis: %s: connect: %s", peer,
                    saved != 0 ? strerror_r(saved, b, sizeof(b)) : "timed out");
  }
  return fd;
}

struct sync_pump {
  struct pacer_tls_link link;
  int net;                       /* TCP to the server */
  int plain;                     /* our end of hiredis's socket pair */
  struct sync_pump *next, *prev; /* the running pumps (reg_head) */
};

/* The running pumps, so that the process's exit can end them first: a
 * thread still inside OpenSSL while exit() runs would race with the
 * atexit handlers (LeakSanitizer's check among them). */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static struct sync_pump *reg_head;
static int reg_hooked;

/* atexit: asks every running pump to end (shutdown of its plaintext end)
 * and waits up to 1 s for them to finish. */
static void
reap_pumps(void)
{
  struct timespec until;
  struct sync_pump *p;

  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 1;
  pthread_mutex_lock(&reg_mu);
  for (p = reg_head; p != NULL; p = p->next)
    shutdown(p->plain, SHUT_RDWR);
  while (reg_head != NULL &&
         pthread_cond_timedwait(&reg_cv, &reg_mu, &until) == 0)
    ;
  pthread_mutex_unlock(&reg_mu);
}

static void
reg_add(struct sync_pump *p)
{
  pthread_mutex_lock(&reg_mu);
  if (!reg_hooked)
    reg_hooked = atexit(reap_pumps) == 0;
  p->prev = NULL;
  p->next = reg_head;
  if (reg_head != NULL)
    reg_head->prev = p;
  reg_head = p;
  pthread_mutex_unlock(&reg_mu);
}

/* Takes p off the list; reg_mu held. */
static void
reg_del(struct sync_pump *p)
{
  if (p->prev != NULL)
    p->prev->next = p->next;
  else
    reg_head = p->next;
  if (p->next != NULL)
    p->next->prev = p->prev;
}

static void
pump_end(struct sync_pump *p)
{
  SSL_shutdown(p->link.ssl);
  flush_out(&p->link, p->net, mono_ms() + 100);
  pthread_mutex_lock(&reg_mu);
  reg_del(p);
  close(p->net);
  close(p->plain);
  pacer_tls_link_free(&p->link);
  free(p);
  /* OpenSSL's per-thread state (the error queue) would be freed by a
   * thread-exit destructor after the broadcast, racing with exit(). */
  OPENSSL_thread_stop();
  pthread_cond_broadcast(&reg_cv);
  pthread_mutex_unlock(&reg_mu);
}

/* Decrypted bytes waiting for hiredis: hiredis may be busy writing a long
 * pipeline and not read its replies until it is done, so the pump must
 * never block on that side, or both would wait for each other. */
struct plain_out {
  char *buf;
  size_t len, cap;
};

static int
plain_out_add(struct plain_out *o, const char *data, size_t n)
{
  if (o->len + n > o->cap) {
    size_t cap = o->cap > 0 ? o->cap : PUMP_BUF;
    char *b;

    while (cap < o->len + n)
      cap *= 2;
    b = realloc(o->buf, cap);
    if (b == NULL)
      return -1;
    o->buf = b;
    o->cap = cap;
  }
  memcpy(o->buf + o->len, data, n);
  o->len += n;
  return 0;
}

/* Sends what hiredis will take now. Returns 0 or -1 (hiredis is gone). */
static int
plain_out_flush(struct plain_out *o, int fd)
{
  while (o->len > 0) {
    ssize_t w = send(fd, o->buf, o->len, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (w < 0)
      return errno == EAGAIN || errno == EINTR ? 0 : -1;
    memmove(o->buf, o->buf + w, o->len - (size_t)w);
    o->len -= (size_t)w;
  }
  return 0;
}

/* Moves bytes both ways until either side closes. The server's side is
 * read only while less than PUMP_BACKLOG bytes wait for hiredis (Redis
 * keeps the rest in its output buffer). */
static void *
pump_main(void *arg)
{
  struct sync_pump *p = arg;
  struct plain_out out = {NULL, 0, 0};
  char buf[PUMP_BUF];
  struct pacer_error err;

  for (;;) {
    struct pollfd fds[2] = {
        {.fd = p->plain, .events = POLLIN | (out.len > 0 ? POLLOUT : 0)},
        {.fd = p->net, .events = out.len < PUMP_BACKLOG ? POLLIN : 0}};
    ssize_t n;

    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if ((fds[0].revents & POLLOUT) && plain_out_flush(&out, p->plain) != 0)
      break;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      n = recv(p->plain, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
        break; /* hiredis closed: redisFree */
      if (n > 0 && (pacer_tls_link_write(&p->link, buf, (size_t)n, &err) != 0 ||
                    flush_out(&p->link, p->net, -1) != 0))
        break;
    }
    if (fds[1].revents != 0) {
      n = recv(p->net, buf, sizeof(buf), 0);
      if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
        break; /* the server closed */
      if (n > 0 && pacer_tls_link_feed(&p->link, buf, (size_t)n) != 0)
        break;
      while ((n = pacer_tls_link_read(&p->link, buf, sizeof(buf), &err)) > 0) {
        if (plain_out_add(&out, buf, (size_t)n) != 0)
          break;
      }
      if (n != 0 || flush_out(&p->link, p->net, -1) != 0 ||
          plain_out_flush(&out, p->plain) != 0)
        break;
    }
  }
  free(out.buf);
  pump_end(p);
  return NULL;
}

/* The handshake on p->net by deadline. Returns 0 or an error code. */
static int
sync_handshake(struct sync_pump *p, int64_t deadline, struct pacer_error *err)
{
  char buf[PUMP_BUF];

  for (;;) {
    int rc = pacer_tls_link_handshake(&p->link, err);
    ssize_t n;

    if (rc < 0)
      return rc;
    if (flush_out(&p->link, p->net, deadline) != 0)
      return pacer_error_set(err, PACER_EREDIS, "redis: %s: TLS: send failed",
                             p->link.peer);
    if (rc == 1)
      return 0;
    if (wait_fd(p->net, POLLIN, deadline) != 1)
      return pacer_error_set(err, PACER_EREDIS,
                             "redis: %s: TLS handshake timed out (is it a "
                             "TLS port?)",
                             p->link.peer);
    n = recv(p->net, buf, sizeof(buf), 0);
    if (n == 0)
      return pacer_error_set(err, PACER_EREDIS,
                             "redis: %s: TLS handshake: the server closed "
                             "the connection",
                             p->link.peer);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return pacer_error_set(err, PACER_EREDIS, "redis: %s: TLS handshake: %s",
                             p->link.peer, strerror_r(errno, buf, 128));
    if (n > 0 && pacer_tls_link_feed(&p->link, buf, (size_t)n) != 0)
      return pacer_error_set(err, PACER_ENOMEM, "redis: out of memory");
  }
}

redisContext *
pacer_redis_tls_sync_connect(const struct pacer_redis_addr *addr,
                             uint32_t timeout_ms, struct pacer_error *err)
{
  int64_t deadline =
      mono_ms() + (timeout_ms > 0 ? timeout_ms : PACER_TLS_HANDSHAKE_MS);
  struct sync_pump *p = calloc(1, sizeof(*p));
  redisContext *c;
  pthread_attr_t attr;
  pthread_t tid;
  int sv[2];

  if (p == NULL) {
    pacer_error_set(err, PACER_ENOMEM, "redis: out of memory");
    return NULL;
  }
  if (pacer_tls_link_init(&p->link, addr, err) != 0) {
    free(p);
    return NULL;
  }
  p->net = tcp_connect(addr, p->link.peer, deadline, err);
  if (p->net < 0)
    goto fail_link;
  if (sync_handshake(p, deadline, err) != 0)
    goto fail_net;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    pacer_error_set(err, PACER_EREDIS, "redis: %s: socketpair failed",
                    p->link.peer);
    goto fail_net;
  }
  p->plain = sv[1];
  c = redisConnectFd(sv[0]);
  if (c == NULL || c->err != 0) {
    pacer_error_set(err, PACER_ENOMEM, "redis: out of memory");
    if (c != NULL)
      redisFree(c); /* closes sv[0] */
    else
      close(sv[0]);
    close(sv[1]);
    goto fail_net;
  }
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  reg_add(p);
  if (pthread_create(&tid, &attr, pump_main, p) != 0) {
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&reg_mu);
    reg_del(p);
    pthread_mutex_unlock(&reg_mu);
    pacer_error_set(err, PACER_ENOMEM, "redis: %s: cannot start TLS thread",
                    p->link.peer);
    redisFree(c);
    close(sv[1]);
    goto fail_net;
  }
  pthread_attr_destroy(&attr);
  return c;

fail_net:
  close(p->net);
fail_link:
  pacer_tls_link_free(&p->link);
  free(p);
  return NULL;
}
