/* rediss:// for hiredis 0.14, which has no TLS (docs/REDIS.md "TLS"):
 * hiredis speaks plain RESP over one end of a local socket, a pump holds
 * the other end and the TLS session (OpenSSL) with the server. The worker's
 * pump runs on its libuv loop (store/redis_tls_uv.c); the commands' pump
 * is a helper thread (store/redis_tls.c). Used by store/redis_uv.c and
 * store/redis_sync.c only.
 */
#ifndef PACER_STORE_REDIS_TLS_H
#define PACER_STORE_REDIS_TLS_H

#include <stdint.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "common/err.h"
#include "core/redis_url.h"

/** Connects to addr (borrowed; TCP with addr->tls.on) over TLS within
 *  timeout_ms (connect and handshake; 0 = PACER_TLS_HANDSHAKE_MS), then
 *  hands hiredis a socket pair whose other end a detached helper thread
 *  pumps through the session until either side closes. Returns a blocking
 *  context (owned, redisFree; that ends the thread) or NULL with err:
 *  PACER_ECONFIG when the certificate, the name or a file is wrong (no
 *  retry helps), PACER_EREDIS otherwise, "redis: <host:port>: ...".
 *  Calling thread. */
redisContext *pacer_redis_tls_sync_connect(const struct pacer_redis_addr *addr,
                                           uint32_t timeout_ms,
                                           struct pacer_error *err);

/** Opens a hiredis async context for addr (borrowed; addr->tls.on) whose
 *  socket is a private unix socket held by a TLS pump on loop (borrowed).
 *  The context is not yet attached to the loop (pacer_redis_uv_attach).
 *  A failed TCP connect or handshake is logged (component redis, the
 *  reason from OpenSSL) and closes the socket, so hiredis sees the
 *  connection end and the owner's disconnect callback runs. Returns the
 *  context, or NULL with err (PACER_EREDIS, also for an unreadable CA,
 *  certificate or key file: the owners log it and retry; PACER_ENOMEM).
 *  Loop thread. */
redisAsyncContext *
pacer_redis_tls_async_connect(uv_loop_t *loop,
                              const struct pacer_redis_addr *addr,
                              struct pacer_error *err);

#endif
