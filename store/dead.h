/* Dead letters for `pacer dead` on a synchronous connection
 * (store/redis_sync.h):
 *
 *   <prefix>dead          stream of dead letters (redacted job, reason,
 *                         excerpt; fields in docs/REDIS.md)
 *   <prefix>deadjob:<id>  hash, PX dead_ttl_ms: the original entry (job
 *                         text with its secrets, id field, intake stream)
 *                         and the id of its dead letter, written by
 *                         store/lua/queue_finish.lua; never shown
 *
 *   pacer_dead_list    XRANGE/XREVRANGE <prefix>dead, PTTL of each kept
 *                      original (pipelined)
 *   pacer_dead_find    HGET deadjob dead + XRANGE, else a scan of the
 *                      stream newest first
 *   pacer_dead_retry   store/lua/dead_retry.lua per id (pipelined)
 *   pacer_dead_delete  store/lua/dead_delete.lua per id, then XDEL of
 *                      letters of those ids that had no kept original
 *   pacer_dead_purge   SCAN MATCH <prefix>deadjob:* + UNLINK, DEL dead
 */
#ifndef PACER_STORE_DEAD_H
#define PACER_STORE_DEAD_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "store/results.h"

/** Called for each dead letter: its stream entry id and fields (borrowed
 *  for the call), and kept_ttl_ms, the time left of its kept original in
 *  ms (-2 when none is kept, -1 when it has no expiry). A non-zero return
 *  stops the walk and is returned. */
typedef int (*pacer_dead_entry_cb)(void *arg, const char *entry_id,
                                   const struct pacer_results_field *f,
                                   size_t nfields, long long kept_ttl_ms);

/** Walks the dead letters under prefix (borrowed): newest first when
 *  newest_first, else oldest first, 500 per round trip, until cb returns
 *  non-zero or the stream ends. Returns 0, cb's return, or PACER_EREDIS /
 *  PACER_ENOMEM with err set ("redis: XRANGE <key>: <reason>"). Calling
 *  thread. */
int pacer_dead_list(redisContext *c, const char *prefix, int newest_first,
                    pacer_dead_entry_cb cb, void *arg, struct pacer_error *err);

/** Finds the dead letter of job id (borrowed) and calls cb once with it.
 *  Returns 1 after cb (or cb's non-zero return), 0 when there is none, or
 *  PACER_EREDIS / PACER_ENOMEM with err set. Calling thread. */
int pacer_dead_find(redisContext *c, const char *prefix, const char *id,
                    pacer_dead_entry_cb cb, void *arg, struct pacer_error *err);

/** Queues the kept originals of the n job ids (borrowed) again, each to the
 *  intake stream it came from, deleting its dead letter (one pipelined
 *  script per id, store/lua/dead_retry.lua). queued[i] is set to 1 when
 *  ids[i] was queued, 0 when no original was kept (never, expired, or
 *  already retried). Returns 0, or PACER_EREDIS with err set (ids before
 *  the failure may have been queued). Calling thread. */
int pacer_dead_retry(redisContext *c, const char *prefix,
                     const char *const *ids, size_t n, int *queued,
                     struct pacer_error *err);

/** Deletes the dead letters and kept originals of the n job ids
 *  (borrowed); *deleted is set to the ids that had any. Returns 0, or
 *  PACER_EREDIS / PACER_ENOMEM with err set. Calling thread. */
int pacer_dead_delete(redisContext *c, const char *prefix,
                      const char *const *ids, size_t n, size_t *deleted,
                      struct pacer_error *err);

/** Deletes every dead letter and every kept original under prefix:
 *  *letters and *kept are set to how many. Returns 0, or PACER_EREDIS /
 *  PACER_ENOMEM with err set. Calling thread. */
int pacer_dead_purge(redisContext *c, const char *prefix, long long *letters,
                     long long *kept, struct pacer_error *err);

#endif
