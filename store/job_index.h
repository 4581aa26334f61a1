/* Finding one job's records by its id, on a synchronous connection
 * (store/redis_sync.h), for `pacer result`: never a scan of a stream.
 *
 *   <prefix>result:<id>  string "<results entry id>", PX result_ttl_ms,
 *                        written by store/lua/queue_finish.lua with the
 *                        result (store/keys.h, docs/REDIS.md)
 *
 *   pacer_job_index_result   GET <prefix>result:<id>, then
 *                            XRANGE <prefix>results <entry> <entry>
 */
#ifndef PACER_STORE_JOB_INDEX_H
#define PACER_STORE_JOB_INDEX_H

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "store/results.h"

/** What pacer_job_index_result found. */
enum pacer_job_index_found {
  PACER_JOB_INDEX_NONE = 0,   /* no index entry: unknown id, not finished
                                 yet, or older than result_ttl_ms */
  PACER_JOB_INDEX_FOUND = 1,  /* cb was called with the result */
  PACER_JOB_INDEX_TRIMMED = 2 /* indexed, but the results entry was trimmed
                                 (results_maxlen) or deleted */
};

/** Looks up the last result of job id (borrowed) under prefix (borrowed)
 *  and calls cb once with its entry id and fields (borrowed for the call)
 *  when it is still in the results stream. Returns a non-negative enum
 *  pacer_job_index_found, cb's non-zero return, or PACER_EREDIS /
 *  PACER_ENOMEM with err set ("redis: GET <key>: <reason>"). Two round
 *  trips. Calling thread. */
int pacer_job_index_result(redisContext *c, const char *prefix, const char *id,
                           pacer_results_entry_cb cb, void *arg,
                           struct pacer_error *err);

#endif
