#include "store/redis_uv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/cluster.h"
#include "store/redis_tls.h"
#include "store/sentinel.h"

struct redis_uv {
  redisAsyncContext *ac; /* NULL once hiredis has freed the context */
  uv_poll_t poll;
  int events;           /* UV_READABLE | UV_WRITABLE wanted by hiredis */
  const char *readonly; /* a READONLY (a replica now) or cluster
                           redirection error came, or NULL */
  redisReplyObjectFunctions fn; /* hiredis's, createString wrapped */
  void *(*create_string)(const redisReadTask *, char *, size_t);
};

/* Every error reply passes here as hiredis builds it: READONLY means the
 * node was a master and is a replica now (a failover that did not close
 * our connection); MOVED, ASK, TRYAGAIN and CLUSTERDOWN that the queue's
 * slot is served elsewhere or is moving. Noted, and the connection is
 * dropped after the read (on_poll), so the owner reconnects and asks the
 * sentinels or the cluster again (docs/REDIS.md "Sentinel", "Redis
 * Cluster"). The reply itself still reaches its callback, as an error the
 * scheduler replays like a lost reply. */
static void *
create_string(const redisReadTask *task, char *str, size_t len)
{
  struct redis_uv *p = task->privdata;

  if (task->type == REDIS_REPLY_ERROR && p->readonly == NULL) {
    static const char *const moved[] = {"READONLY ", "MOVED ", "ASK ",
                                        "TRYAGAIN ", "CLUSTERDOWN "};
    size_t i;

    for (i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
      size_t n = strlen(moved[i]);

      if (len >= n && memcmp(str, moved[i], n) == 0)
        p->readonly = moved[i];
    }
  }
  return p->create_string(task, str, len);
}

/* Drops the connection after a READONLY or redirection reply. */
static void
check_readonly(struct redis_uv *p)
{
  if (p->ac == NULL || p->readonly == NULL)
    return;
  pacer_log(PACER_LOG_WARN, "redis",
            "msg=\"the node no longer serves these keys, reconnecting\" "
            "reply=%.*s",
            (int)strlen(p->readonly) - 1, p->readonly);
  p->readonly = NULL;
  redisAsyncFree(p->ac); /* pending callbacks run with NULL */
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
  struct redis_uv *p = h->data;

  if (p->ac == NULL)
    return;
  if (status < 0) {
    /* libuv has stopped the handle (POLLERR): let hiredis find the error,
     * and if it does not, drop the context so the owner reconnects. */
    pacer_log(PACER_LOG_WARN, "redis", "msg=\"socket error\" error=%s",
              uv_err_name(status));
    redisAsyncHandleRead(p->ac);
    if (p->ac != NULL)
      redisAsyncFree(p->ac);
    return;
  }
  if (events & (UV_READABLE | UV_DISCONNECT))
    redisAsyncHandleRead(p->ac);
  check_readonly(p);
  if (p->ac != NULL && (events & UV_WRITABLE))
    redisAsyncHandleWrite(p->ac);
}

static void
update(struct redis_uv *p)
{
  if (p->events != 0)
    uv_poll_start(&p->poll, p->events | UV_DISCONNECT, on_poll);
  else
    uv_poll_stop(&p->poll);
}

static void
add_read(void *privdata)
{
  struct redis_uv *p = privdata;

  p->events |= UV_READABLE;
  update(p);
}

static void
del_read(void *privdata)
{
  struct redis_uv *p = privdata;

  p->events &= ~UV_READABLE;
  update(p);
}

static void
add_write(void *privdata)
{
  struct redis_uv *p = privdata;

  p->events |= UV_WRITABLE;
  update(p);
}

static void
del_write(void *privdata)
{
  struct redis_uv *p = privdata;

  p->events &= ~UV_WRITABLE;
  update(p);
}

static void
on_close(uv_handle_t *h)
{
  free(h->data);
}

/* hiredis is freeing the context: never touch it again. */
static void
cleanup(void *privdata)
{
  struct redis_uv *p = privdata;

  p->ac = NULL;
  uv_close((uv_handle_t *)&p->poll, on_close);
}

int
pacer_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
  struct redis_uv *p;

  if (ac->ev.data != NULL)
    return REDIS_ERR;
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    return REDIS_ERR;
  if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
    free(p);
    return REDIS_ERR;
  }
  p->ac = ac;
  p->poll.data = p;
  if (ac->c.reader != NULL && ac->c.reader->fn != NULL) {
    p->fn = *ac->c.reader->fn;
    p->create_string = p->fn.createString;
    p->fn.createString = create_string;
    ac->c.reader->fn = &p->fn;
    ac->c.reader->privdata = p;
  }
  ac->ev.addRead = add_read;
  ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write;
  ac->ev.delWrite = del_write;
  ac->ev.cleanup = cleanup;
  ac->ev.data = p;
  return REDIS_OK;
}

/* ------------------------------------------------------------------ */
/* Connect, AUTH, SELECT */

/* One setup command in flight; freed in its reply callback, which hiredis
 * runs exactly once (with NULL when the context goes away). */
struct setup_cmd {
  pacer_redis_setup_error_cb on_error;
  int want_master; /* ROLE: the reply must say master */
  char label[420]; /* "host:port (master NAME)", for that message */
};

static void
on_setup_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct setup_cmd *sc = priv;
  redisReply *reply = r;

  if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
    if (sc->on_error != NULL)
      sc->on_error(ac->data, reply->str, reply->len);
    redisAsyncDisconnect(ac);
  } else if (reply != NULL && sc->want_master &&
             !pacer_sentinel_role_is_master(reply)) {
    char msg[520];
    int n = snprintf(msg, sizeof(msg),
                     "%s is not the master (ROLE), asking the sentinels "
                     "again",
                     sc->label);

    pacer_sentinel_stale();
    if (sc->on_error != NULL)
      sc->on_error(ac->data, msg,
                   n < (int)sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    redisAsyncDisconnect(ac);
  }
  free(sc);
}

/* Queues one setup command of argc arguments. Returns 0 or -1. */
static int
setup_send(redisAsyncContext *ac, pacer_redis_setup_error_cb on_error,
           const char *label, int argc, const char **argv, const size_t *lens)
{
  struct setup_cmd *sc = calloc(1, sizeof(*sc));

  if (sc == NULL)
    return -1;
  sc->on_error = on_error;
  if (label != NULL) {
    sc->want_master = 1;
    snprintf(sc->label, sizeof(sc->label), "%s", label);
  }
  if (redisAsyncCommandArgv(ac, on_setup_reply, sc, argc, argv, lens) !=
      REDIS_OK) {
    free(sc);
    return -1;
  }
  return 0;
}

/* Opens and attaches a context to addr (a plain address: TLS, unix or
 * TCP). Returns it or NULL with err. */
static redisAsyncContext *
connect_to(uv_loop_t *loop, const struct pacer_redis_addr *addr,
           struct pacer_error *err)
{
  redisAsyncContext *ac;

  if (addr->tls.on) {
    ac = pacer_redis_tls_async_connect(loop, addr, err);
    if (ac == NULL)
      return NULL;
  } else if (addr->path[0] != '\0') {
    ac = redisAsyncConnectUnix(addr->path);
  } else {
    ac = redisAsyncConnect(addr->host, addr->port);
  }
  if (ac == NULL) {
    pacer_error_set(err, PACER_ENOMEM, "out of memory");
    return NULL;
  }
  if (ac->err) {
    pacer_error_set(err, PACER_EREDIS, "%s", ac->errstr);
    redisAsyncFree(ac);
    return NULL;
  }
  if (pacer_redis_uv_attach(ac, loop) != REDIS_OK) {
    pacer_error_set(err, PACER_ENOMEM, "cannot watch the socket");
    redisAsyncFree(ac);
    return NULL;
  }
  return ac;
}

redisAsyncContext *
pacer_redis_async_connect(uv_loop_t *loop, const struct pacer_redis_addr *addr,
                          void *data, redisConnectCallback *on_connect,
                          redisDisconnectCallback *on_disconnect,
                          pacer_redis_setup_error_cb on_setup_error,
                          struct pacer_error *err)
{
  struct pacer_redis_addr m; /* the master a sentinel named */
  const struct pacer_redis_addr *use = addr;
  redisAsyncContext *ac;
  char label[420] = "";
  int rc = 0;

  if (addr->cluster) {
    if (pacer_cluster_node(addr, PACER_SENTINEL_ASK_MS, &m, err) != 0)
      return NULL;
    use = &m;
  } else if (addr->master[0] != '\0') {
    if (pacer_sentinel_master(addr, PACER_SENTINEL_ASK_MS, &m, err) != 0)
      return NULL;
    use = &m;
  }
  ac = connect_to(loop, use, err);
  if (use == &m && addr->cluster) {
    if (ac != NULL)
      pacer_log(PACER_LOG_INFO, "redis",
                "msg=\"connecting to the cluster node of the slot\" "
                "slot=%d addr=%s:%d",
                addr->slot, m.host, m.port);
    explicit_bzero(&m, sizeof(m));
  } else if (use == &m) {
    snprintf(label, sizeof(label), "%s:%d (master %s)", m.host, m.port,
             addr->master);
    if (ac != NULL)
      pacer_log(PACER_LOG_INFO, "redis",
                "msg=\"connecting to the master a sentinel named\" "
                "addr=\"%s\"",
                label);
    explicit_bzero(&m, sizeof(m));
  }
  if (ac == NULL)
    return NULL;
  ac->data = data;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  /* Queued now, these go out first once connected. */
  if (addr->password[0] != '\0') {
    const char *argv[3] = {"AUTH", addr->user, addr->password};
    size_t lens[3] = {4, strlen(addr->user), strlen(addr->password)};

    if (addr->user[0] != '\0') /* Redis 6 ACL form: AUTH user pass */
      rc = setup_send(ac, on_setup_error, NULL, 3, argv, lens);
    else
      rc = setup_send(ac, on_setup_error, NULL, 2,
                      (const char *[]){"AUTH", addr->password},
                      (const size_t[]){4, lens[2]});
  }
  if (rc == 0 && addr->db != 0) {
    char db[16];
    int n = snprintf(db, sizeof(db), "%d", addr->db);

    rc = setup_send(ac, on_setup_error, NULL, 2, (const char *[]){"SELECT", db},
                    (const size_t[]){6, (size_t)n});
  }
  if (rc == 0 && addr->master[0] != '\0') {
    rc = setup_send(ac, on_setup_error, label, 1, (const char *[]){"ROLE"},
                    (const size_t[]){4});
  }
  if (rc != 0) {
    /* Not connected yet, so no disconnect callback runs; the queued setup
     * replies are called with NULL and freed. */
    redisAsyncFree(ac);
    pacer_error_set(err, PACER_ENOMEM, "out of memory");
    return NULL;
  }
  return ac;
}
