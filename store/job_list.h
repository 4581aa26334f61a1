/* What waits, for `pacer jobs`, read on a synchronous connection
 * (store/redis_sync.h). Read only.
 *
 *   queued     entries of the three intake streams after the group's
 *              last-delivered-id (XINFO GROUPS, XRANGE): no worker has
 *              read them yet
 *   in_flight  entries pending in group "pacer" (XPENDING, XRANGE): a
 *              worker holds them, waiting in a lane or running
 *   delayed    <prefix>delayed below PACER_KEYS_PARK_SCORE_MS: retries,
 *              not_before and jobs deferred by their limits, by due time
 *   parked     <prefix>delayed at PACER_KEYS_PARK_SCORE_MS: waiting for
 *              `pacer cred set`
 */
#ifndef PACER_STORE_JOB_LIST_H
#define PACER_STORE_JOB_LIST_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/err.h"

/** The state a listed job waits in (bit values, for a mask). */
enum pacer_job_list_state {
  PACER_JOB_LIST_QUEUED = 1,
  PACER_JOB_LIST_IN_FLIGHT = 2,
  PACER_JOB_LIST_DELAYED = 4,
  PACER_JOB_LIST_PARKED = 8
};

/** One waiting job. Strings borrowed for the callback; job holds the job
 *  JSON with its secrets: never print it. */
struct pacer_job_list_row {
  enum pacer_job_list_state state;
  const char *id; /* the entry's id field or the member's id, or "" */
  size_t id_len;
  const char *job; /* job JSON text (secrets intact), job_len bytes */
  size_t job_len;
  int prio;             /* 0 high, 1 normal, 2 low */
  unsigned attempts;    /* attempts already made */
  unsigned throttled;   /* 429s met */
  uint64_t due_unix_ms; /* delayed: when it is due; else 0 */
  const char *consumer; /* in_flight: the worker holding it, else NULL */
  uint64_t idle_ms;     /* in_flight: since it was delivered or renewed */
  const char *entry;    /* stream entry id, or NULL for delayed/parked */
};

/** Called for each job; a non-zero return stops the walk and is returned. */
typedef int (*pacer_job_list_cb)(void *arg,
                                 const struct pacer_job_list_row *row);

/** Calls cb for up to max_per_state jobs of each state in mask (enum
 *  pacer_job_list_state bits) under prefix (borrowed): queued and
 *  in_flight by stream (high, normal, low) then entry id, delayed and
 *  parked by due time. Returns 0, cb's return, or PACER_EREDIS /
 *  PACER_ENOMEM with err set. Calling thread. */
int pacer_job_list(redisContext *c, const char *prefix, unsigned mask,
                   size_t max_per_state, pacer_job_list_cb cb, void *arg,
                   struct pacer_error *err);

/** Reads the deployment's key of lane names from secret headers
 *  (<prefix>lanekey, 64 hex digits, written by the first worker:
 *  store/queue.c) into key (32 bytes, core/limits.h
 *  PACER_LIMIT_HASH_KEY_BYTES), so lanes are named as the workers name
 *  them. Returns 1 when read, 0 when absent or malformed, or PACER_EREDIS
 *  with err set. Calling thread. */
int pacer_job_list_lane_key(redisContext *c, const char *prefix,
                            unsigned char key[32], struct pacer_error *err);

/** The pause of limit bucket (borrowed) in force now, the operator pause
 *  of every bucket (store/control.h) included: *left_ms is set to the
 *  time left (0: none) and why (size bytes) to its cause (the upstream's
 *  reason, "paused by an operator", or "paused by an operator (all
 *  buckets)"). Returns 0, or
 *  PACER_EREDIS / PACER_ENOMEM with err set. Calling thread. */
int pacer_job_list_bucket_pause(redisContext *c, const char *prefix,
                                const char *bucket, uint64_t *left_ms,
                                char *why, size_t size,
                                struct pacer_error *err);

#endif
