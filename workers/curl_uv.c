/* curl_uv: libcurl's multi_socket interface on a libuv loop. Shape of
 * curl's docs/examples/multi-uv.c, minus its shortcuts: every return value
 * checked, a socket context freed only in its close callback, no libcurl
 * call from inside a libcurl callback, and uv_poll_init failures turned
 * into a failed transfer instead of a hang. One transfer's setup, callbacks
 * and outcome are in workers/xfer.c and workers/xfer_cb.c.
 *
 * A transfer is "doomed" when its socket could not be watched (uv_poll_init
 * or uv_poll_start failed inside SOCKETFUNCTION). The socket callback only
 * marks it; the next drain, which runs right after curl_multi_socket_action
 * returns, removes it and reports PACER_HTTP_TRANSPORT.
 */
#include "workers/curl_uv.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "workers/curl_uv_int.h"

#define CURL_UV_MAXCONNECTS 1024L    /* idle connections kept per worker */
#define CURL_MIN_VERSION    0x075500 /* 7.85.0: CURLOPT_PROTOCOLS_STR */

/* One curl socket: a uv_poll_t watching fd. Freed in its close callback. */
struct pacer_sock {
  uv_poll_t poll;
  curl_socket_t fd;
  struct pacer_curl_uv *cu; /* borrowed owner */
  struct pacer_sock *prev;
  struct pacer_sock *next;
};

void
pacer_curl_uv_cancel_all(struct pacer_curl_uv *cu)
{
  while (cu->xfers != NULL)
    pacer_xfer_finish(cu->xfers, CURLE_OK, PACER_XFER_END_CANCELED);
}

void
pacer_curl_uv_abort_flagged(struct pacer_curl_uv *cu)
{
  struct pacer_xfer *x, *next;

  for (x = cu->xfers; x != NULL; x = next) {
    const atomic_int *f = x->outcome->req->abort_flag;

    next = x->next;
    if (f != NULL && atomic_load(f) != 0)
      pacer_xfer_finish(x, CURLE_ABORTED_BY_CALLBACK, PACER_XFER_END_DONE);
  }
}

size_t
pacer_curl_uv_running(const struct pacer_curl_uv *cu)
{
  return cu->nxfers;
}

/* ------------------------------------------------------------------ */
/* Driving the multi handle */

/* Reports every finished transfer. Runs after each
 * curl_multi_socket_action returns, never inside a libcurl callback
 * (docs/WORKERS.md, Sockets and timer). */
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
    pacer_xfer_finish((struct pacer_xfer *)(void *)priv, cc,
                      PACER_XFER_END_DONE);
  }
  for (x = cu->xfers; cu->ndoomed > 0 && x != NULL; x = next) {
    next = x->next;
    if (x->doomed_rc != 0)
      pacer_xfer_finish(x, CURLE_OK, PACER_XFER_END_DOOMED);
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
 * ms, so 0 runs curl_multi_socket_action from the loop, not from here:
 * libcurl is never re-entered from its own callback (docs/WORKERS.md,
 * Sockets and timer; test_pool). libuv before 1.45 runs a 0 ms timer that is
 * re-armed inside its own callback again in the same timer phase instead of the
 * next loop iteration; that is a loop, not recursion (the stack unwinds between
 * the calls), and it ends because libcurl asks for 0 only while it has work
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
  while (cu->nidle > 0)
    curl_easy_cleanup(cu->idle[--cu->nidle]);
  /* libcurl owes no more callbacks: close any socket it did not remove. */
  while (cu->socks != NULL)
    sock_close(cu->socks);
  uv_close((uv_handle_t *)&cu->timer, on_timer_closed);
}
