/* Queueing jobs from a client (`pacer submit`, `pacer run`): pipelined
 * commands on a synchronous connection (store/redis_sync.h), one per job,
 * to the intake stream of its priority (store/keys.h):
 *
 *   done_ttl_ms > 0   EVAL submit_add.lua 3 <stream> <prefix>done:<id>
 *                          <prefix>donemarks: <done_ttl_ms> <id>
 *                          job <text> [id <generated id>]
 *                     (queued unless the id already finished ok: nil)
 *   otherwise         XADD <stream> * job <text> [id <generated id>]
 *
 * The caller appends up to a round of commands, then reads one reply per
 * command in order.
 */
#ifndef PACER_STORE_SUBMIT_H
#define PACER_STORE_SUBMIT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/err.h"

/** One job to queue; all borrowed. */
struct pacer_submit_job {
  int priority;       /* enum pacer_priority: 0 high, 1 normal, 2 low */
  const char *job_id; /* the job's id, for the done-marker */
  const char *text;   /* the job JSON as given, len bytes */
  size_t len;
  const char *gen_id; /* sent as field "id" when not NULL (the JSON has
                         no "id") */
};

/** Appends the command that queues j to c's pipeline (nothing is sent
 *  until a reply is read); done_ttl_ms (the config's, ms) > 0 selects the
 *  done-marker check over that period. prefix borrowed. Returns 0, or
 * PACER_ENOMEM with err set ("redis: XADD: <reason>"). Calling thread. */
int pacer_submit_append(redisContext *c, const char *prefix,
                        uint64_t done_ttl_ms, const struct pacer_submit_job *j,
                        struct pacer_error *err);

/** Reads the reply of the oldest appended command. Returns 1 (queued), 0
 *  (not queued: the id already finished ok), PACER_EREDIS with err set
 *  ("redis: XADD: <error>"; the next replies can still be read), or
 *  PACER_EIO with err set ("redis: XADD: <reason>"; c is unusable).
 *  err may be NULL. Calling thread. */
int pacer_submit_reply(redisContext *c, struct pacer_error *err);

#endif
