/* Redis Cluster: which node serves the slot of a queue's hash tag
 * (docs/REDIS.md "Redis Cluster"). Used by the two connection modules,
 * store/redis_uv.c and store/redis_sync.c, at every connect.
 */
#ifndef PACER_STORE_CLUSTER_H
#define PACER_STORE_CLUSTER_H

#include <stdint.h>

#include "common/err.h"
#include "core/redis_url.h"

/** Asks the nodes of addr (borrowed; addr->cluster, addr->slot set by
 *  pacer_redis_addr_route), in the URL's order, for the slot map
 *  (CLUSTER SLOTS, after AUTH when addr has a password; over TLS with
 *  rediss options), and fills out (caller's storage: a copy of addr with
 *  host and port of the master that serves addr->slot and no seeds; it
 *  holds the password, wipe it after use). timeout_ms bounds each node's
 *  connect and reply. Returns 0, or PACER_EREDIS (PACER_ECONFIG when the
 *  slot was never set) with err "redis: cluster node <host:port>: ..." of
 *  the last node asked. Blocking; any thread. Source: Redis Cluster
 *  specification, "Client and Server roles" and CLUSTER SLOTS. */
int pacer_cluster_node(const struct pacer_redis_addr *addr, uint32_t timeout_ms,
                       struct pacer_redis_addr *out, struct pacer_error *err);

#endif
