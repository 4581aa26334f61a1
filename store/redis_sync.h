/* The synchronous Redis connection used by the client commands (the
 * worker uses the asynchronous one, store/redis_uv.h). */
#ifndef PACER_STORE_REDIS_SYNC_H
#define PACER_STORE_REDIS_SYNC_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "core/config.h"

/** Connects synchronously to addr (borrowed), runs AUTH/SELECT as needed.
 *  timeout_ms bounds connect and each command (ms). Returns an owned
 *  context (free with redisFree) or NULL with err set
 *  ("redis: <host>: <reason>", never the password). */
redisContext *pacer_redis_sync_connect(const struct pacer_redis_addr *addr,
                                       uint32_t timeout_ms,
                                       struct pacer_error *err);

/** Reads Redis's maxmemory-policy (CONFIG GET) on c (borrowed) into
 *  policy (size bytes, "" unless 0 is returned). Returns 0, PACER_EAUTH
 *  when Redis wants a password first (NOAUTH), or PACER_EREDIS when it
 *  cannot be read (CONFIG refused or renamed, I/O error). Calling
 *  thread. */
int pacer_redis_sync_maxmemory_policy(redisContext *c, char *policy,
                                      size_t size);

/** After a client's writes on c (borrowed): asks the master how many
 *  replicas it has (ROLE) and waits up to timeout_ms (ms) until all of
 *  them have those writes (WAIT), so that a failover cannot lose what the
 *  client was told is queued (docs/REDIS.md "Sentinel"). Sets *replicas
 *  and *acked (how many had them in time; 0 and 0 without replicas).
 *  Returns 0, or PACER_EREDIS when c is not a master or the commands
 *  failed. Calling thread; blocks up to timeout_ms. */
int pacer_redis_sync_wait_replicas(redisContext *c, uint32_t timeout_ms,
                                   long long *replicas, long long *acked);

/** Sends one command on c (borrowed; argv borrowed, NUL-terminated
 *  strings) through pacer_script_command (store/script.h), so an EVAL of
 *  an embedded script goes by SHA. what names the command in errors.
 *  Returns the owned reply (freeReplyObject), or NULL with err set to
 *  PACER_EREDIS ("redis: <what>: <reason>") on an I/O error or an error
 *  reply. Calling thread; blocks up to the context's timeout. */
redisReply *pacer_redis_sync_command(redisContext *c, int argc,
                                     const char **argv, const char *what,
                                     struct pacer_error *err);

#endif
