/* Cancel requests (`pacer cancel ID`):
 *
 *   <prefix>cancel   sorted set, member = job id, score = when asked,
 *                    unix ms (store/keys.h). Answered (removed) by the
 *                    id's result (queue_finish.lua); dropped after 24 h.
 *
 * The command records the request and makes the id's delayed or parked
 * members due now, so that they come back to a stream and a worker sees
 * them (pacer_cancel_request, synchronous connection). Every worker polls
 * the set (pacer_cancel_poll, its queue's command connection) and ends the
 * job it holds or takes with state cancelled (scheduler/cancel.c).
 */
#ifndef PACER_STORE_CANCEL_H
#define PACER_STORE_CANCEL_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "store/queue.h"

#define PACER_CANCEL_POLL_MAX 10000 /* ids one poll reads, max */

/** Records a cancel request for job id (borrowed) under prefix
 *  (cancel_request.lua), then, with move, moves the id's members of
 *  <prefix>delayed (delayed or parked; ZSCAN MATCH "<id>\n*") to due now
 *  (ZADD XX), so they are promoted at once. Move only once the workers
 *  have polled the request (a second after it), or a worker may take the
 *  job before it knows. *moved is set to the members moved. Returns 0, or
 *  PACER_EREDIS / PACER_ENOMEM with err set. Calling thread. */
int pacer_cancel_request(redisContext *c, const char *prefix, const char *id,
                         int move, size_t *moved, struct pacer_error *err);

/** Withdraws the cancel request of id (ZREM). Returns 0, or PACER_EREDIS
 *  with err set. Calling thread. */
int pacer_cancel_withdraw(redisContext *c, const char *prefix, const char *id,
                          struct pacer_error *err);

/** Called with the ids asked for (ids[0..n), borrowed for the call), or
 *  status PACER_EREDIS (n 0) when the poll failed. Scheduler thread. */
typedef void (*pacer_cancel_poll_cb)(void *arg, int status,
                                     const char *const *ids, size_t n);

/** Reads the cancel requests of the last 24 h (up to
 *  PACER_CANCEL_POLL_MAX, cancel_list.lua) on q's command connection.
 *  Returns 0 (cb runs once) or a negative code (cb will not run).
 *  Scheduler thread. */
int pacer_cancel_poll(struct pacer_queue *q, pacer_cancel_poll_cb cb,
                      void *arg);

#endif
