/* hiredis async <-> libuv glue, replacing hiredis 0.14's adapters/libuv.h.
 *
 * Why our own: when epoll reports POLLERR, libuv stops the uv_poll_t and
 * calls back with status UV_EBADF. The stock adapter returns on any
 * non-zero status without telling hiredis, so the context never learns
 * that the connection died and hangs forever (seen in e2e_redis_restart:
 * the intake connection never reconnected after Redis was killed). Here an
 * error status makes hiredis read (it sees EOF or the error and
 * disconnects) and, if the context is still alive after that, frees it so
 * the disconnect callback runs and the owner reconnects.
 */
#ifndef PACER_STORE_REDIS_UV_H
#define PACER_STORE_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

#include "common/err.h"
#include "core/config.h"

/** Attaches ac (borrowed; hiredis frees it, which closes our poll handle)
 *  to loop (borrowed). Returns REDIS_OK, or REDIS_ERR when ac is already
 *  attached or memory or uv_poll_init fails. Scheduler thread only.
 *  Source: hiredis adapters/libuv.h, with error statuses handled. */
int pacer_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

/** Called when Redis refuses AUTH or SELECT on a connection opened by
 *  pacer_redis_async_connect: data is the context's data, error (len
 *  bytes, borrowed for the call) Redis's text, which never holds the
 *  password. The connection is then dropped (the disconnect callback
 *  runs). */
typedef void (*pacer_redis_setup_error_cb)(void *data, const char *error,
                                           size_t len);

/** The one asynchronous connect of pacer: opens a hiredis async connection
 *  to addr (borrowed; TCP or unix socket), attaches it to loop (borrowed)
 *  with pacer_redis_uv_attach, sets ac->data = data and the connect and
 *  disconnect callbacks, and queues AUTH ([user] password, when addr has
 *  a password) and SELECT (when addr->db != 0) so they go out first once
 *  connected; commands the caller queues after this call follow them. A
 *  refused AUTH or SELECT calls on_setup_error (may be NULL) and drops the
 *  connection. Returns the context (hiredis owns and frees it after the
 *  disconnect callback, or after the connect callback on failure), or
 *  NULL with err set to hiredis's text ("out of memory" or the connect
 *  error) when nothing could be started: retry later, nothing to free.
 *  Loop thread. */
redisAsyncContext *pacer_redis_async_connect(
    uv_loop_t *loop, const struct pacer_redis_addr *addr, void *data,
    redisConnectCallback *on_connect, redisDisconnectCallback *on_disconnect,
    pacer_redis_setup_error_cb on_setup_error, struct pacer_error *err);

#endif
