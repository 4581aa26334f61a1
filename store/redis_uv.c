#include "store/redis_uv.h"

#include <stdlib.h>

#include "common/log.h"

struct redis_uv {
  redisAsyncContext *ac; /* NULL once hiredis has freed the context */
  uv_poll_t poll;
  int events; /* UV_READABLE | UV_WRITABLE wanted by hiredis */
};

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
  ac->ev.addRead = add_read;
  ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write;
  ac->ev.delWrite = del_write;
  ac->ev.cleanup = cleanup;
  ac->ev.data = p;
  return REDIS_OK;
}
