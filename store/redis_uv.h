/* hiredis async <-> libuv glue, replacing hiredis 0.14's adapters/libuv.h.
 *
 * Why our own: when epoll reports POLLERR, libuv stops the uv_poll_t and
 * calls back with status UV_EBADF. The stock adapter returns on any
 * non-zero status without telling hiredis, so the context never learns
 * that the connection died and hangs forever (seen in e2e_redis_restart:
 * the intake connection never reconnected after Redis was killed). Here an
 * error status makes hiredis read (it sees EOF or the error and
 * disconnects) and, if the context is still alive after that, frees it so
 * the disconnect callback runs and the owner reconnects (C17).
 */
#ifndef PACER_STORE_REDIS_UV_H
#define PACER_STORE_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/** Attaches ac (borrowed; hiredis frees it, which closes our poll handle)
 *  to loop (borrowed). Returns REDIS_OK, or REDIS_ERR when ac is already
 *  attached or memory or uv_poll_init fails. Scheduler thread only.
 *  Source: hiredis adapters/libuv.h, with error statuses handled. */
int pacer_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
