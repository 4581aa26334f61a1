/* Schedules in Redis (docs/CHAINS.md "Schedules"): the scheduler's reads
 * and tick claims on the queue's command connection, and the synchronous
 * commands of `pacer schedule`. Keys: store/keys.h. */
#ifndef PACER_STORE_QUEUE_SCHEDULE_H
#define PACER_STORE_QUEUE_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "store/queue.h"

/** Reads every definition (store/lua/schedule_list.lua); cb gets the reply
 *  (an array name, definition, ...; NULL on a lost connection). Returns as
 *  pacer_queue_eval_reply. Scheduler thread. */
int pacer_queue_schedule_list(struct pacer_queue *q, pacer_queue_reply_cb cb,
                              void *privdata);

/** Claims tick tick_unix_ms of schedule name whose definition text is def
 *  (as read), queueing the n jobs texts[i] into the streams of prios[i]
 *  (all borrowed) if nobody claimed it or a later tick yet
 *  (store/lua/schedule_claim.lua). cb gets status 0 with applied 1
 *  (claimed) or 0 (taken, or the definition changed), PACER_EUNKNOWN or
 *  PACER_EREDIS. Returns 0 (cb runs once), PACER_EREDIS (not connected)
 *  or PACER_ENOMEM. Scheduler thread. */
int pacer_queue_schedule_claim(struct pacer_queue *q, const char *name,
                               const char *def, uint64_t tick_unix_ms,
                               const char *const *texts, const int *prios,
                               size_t n, pacer_queue_done_cb cb,
                               void *privdata);

/** `pacer schedule add`: stores definition def of name and marks
 *  start_tick_unix_ms as claimed, so only later ticks run. replace: may
 *  overwrite an existing one. Returns 0, PACER_EINVAL (it exists and not
 *  replace; err says so), or PACER_EREDIS with err set. Calling thread. */
int pacer_schedule_store_add(redisContext *c, const char *prefix,
                             const char *name, const char *def,
                             uint64_t start_tick_unix_ms, int replace,
                             struct pacer_error *err);

/** Reads name's definition into *def (owned, free with free()) and its
 *  last claimed tick into *last (0 = none). Returns 0, PACER_ENOTFOUND, or
 *  PACER_EREDIS with err set. Calling thread. */
int pacer_schedule_store_get(redisContext *c, const char *prefix,
                             const char *name, char **def, uint64_t *last,
                             struct pacer_error *err);

/** Replaces name's definition with def when it is still old (a
 *  compare-and-set, store/lua/schedule_swap.lua, so a concurrent change is
 *  not lost). Returns 1 (swapped), 0 (it changed: read it again),
 *  PACER_ENOTFOUND, or PACER_EREDIS. Calling thread. */
int pacer_schedule_store_swap(redisContext *c, const char *prefix,
                              const char *name, const char *old,
                              const char *def, struct pacer_error *err);

/** Removes name. Returns 0, PACER_ENOTFOUND, or PACER_EREDIS. */
int pacer_schedule_store_remove(redisContext *c, const char *prefix,
                                const char *name, struct pacer_error *err);

/** Calls cb for every schedule, in name order of the hash. Returns 0, cb's
 *  non-zero return, or PACER_EREDIS. Calling thread. */
int pacer_schedule_store_each(redisContext *c, const char *prefix,
                              int (*cb)(void *arg, const char *name,
                                        const char *def, uint64_t last),
                              void *arg, struct pacer_error *err);

/** Queues the n jobs texts[i] into the streams of prios[i] now (`pacer
 *  schedule run-now`). Returns 0 or PACER_EREDIS. Calling thread. */
int pacer_schedule_store_queue(redisContext *c, const char *prefix,
                               const char *const *texts, const int *prios,
                               size_t n, struct pacer_error *err);

#endif
