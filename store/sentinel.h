/* Redis Sentinel: which node is the master now (docs/REDIS.md
 * "Sentinel"). Used by the two connection modules, store/redis_uv.c and
 * store/redis_sync.c, at every connect.
 */
#ifndef PACER_STORE_SENTINEL_H
#define PACER_STORE_SENTINEL_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "core/redis_url.h"

#define PACER_SENTINEL_ASK_MS                                                  \
  500u /* connect + reply bound per sentinel, ms                               \
        */

/** Asks the sentinels of addr (borrowed; addr->nseeds > 0), in the
 *  URL's order, for the address of the master named addr->master
 *  (SENTINEL get-master-addr-by-name); the first that names one wins.
 *  The list is tried from the sentinel after the one whose answer last
 *  proved stale (pacer_sentinel_stale), round the list.
 *  timeout_ms bounds each sentinel's connect and reply. Fills out (caller's
 *  storage: a copy of addr with host and port set; it holds the password,
 *  wipe it after use). Returns 0, or PACER_EREDIS with err "redis:
 *  sentinel <host:port>: <reason>" of the last sentinel asked. Blocking;
 *  any thread. Source: https://redis.io/docs/reference/sentinel-clients/
 *  (steps 1 and 2 of "Redis service discovery via Sentinel"). */
int pacer_sentinel_master(const struct pacer_redis_addr *addr,
                          uint32_t timeout_ms, struct pacer_redis_addr *out,
                          struct pacer_error *err);

/** Notes that the master a sentinel named was not one (ROLE): the next
 *  pacer_sentinel_master starts at the next sentinel of the list. Any
 *  thread. */
void pacer_sentinel_stale(void);

/** Returns 1 when r (borrowed; the reply to ROLE, may be NULL) says
 *  "master", else 0. Step 3 of the same document: a client checks the role
 *  of every node a sentinel named, since the answer may be stale. */
int pacer_sentinel_role_is_master(const redisReply *r);

#endif
