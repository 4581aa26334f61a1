/* Reading <prefix>results from a client (`pacer submit --wait`, `pacer
 * run`) on a synchronous connection (store/redis_sync.h). Nothing here
 * writes; the scheduler writes results with store/lua/queue_finish.lua.
 *
 *   pacer_results_info       XINFO STREAM <key>: last-generated-id,
 *                            first-entry, length, entries-added
 *   pacer_results_read       XREAD COUNT 500 BLOCK <ms> STREAMS <key> <id>
 *   pacer_results_range      XRANGE <key> (<id> + COUNT 1000, until empty
 *   pacer_results_last_id    XREVRANGE <key> + - COUNT 1
 *   pacer_results_get        XRANGE <key> <id> <id>
 *
 * Entry fields: docs/REDIS.md, store/keys.h.
 */
#ifndef PACER_STORE_RESULTS_H
#define PACER_STORE_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/err.h"

/* Entries asked for per pacer_results_read. */
#define PACER_RESULTS_READ_COUNT 500

/** "<prefix>results" (owned, free with free), or NULL when out of
 *  memory. prefix borrowed. */
char *pacer_results_key_new(const char *prefix);

/** The fields of XINFO STREAM that a reader of results needs. */
struct pacer_results_info {
  char last_generated[64]; /* last-generated-id, "" if absent */
  char first_entry[64];    /* id of first-entry, "" when empty */
  int64_t length;          /* length, -1 if absent */
  int64_t added;           /* entries-added (Redis >= 7), -1 if absent */
};

/** Reads XINFO STREAM key into *info. Returns 1 with *info set, 0 when
 *  the stream does not exist, or PACER_EREDIS with err set ("redis: XINFO
 *  STREAM <key>: <reason>"). Calling thread. */
int pacer_results_info(redisContext *c, const char *key,
                       struct pacer_results_info *info,
                       struct pacer_error *err);

/** One field of an entry: name and value with their lengths (values may
 *  hold NUL bytes; both are NUL-terminated too). Borrowed for the call. */
struct pacer_results_field {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
};

/** Called for each entry, in stream order: entry_id (the stream id) and
 *  its nfields string fields, all borrowed for the call. A non-zero
 *  return stops the read and is returned by it. */
typedef int (*pacer_results_entry_cb)(void *arg, const char *entry_id,
                                      const struct pacer_results_field *f,
                                      size_t nfields);

/** Reads up to PACER_RESULTS_READ_COUNT entries after entry id after,
 *  blocking up to block_ms (> 0) for the first, calling cb for each;
 *  *got is set to the entries read. Returns 0 (also when BLOCK timed
 *  out), cb's non-zero return, PACER_EREDIS for an error reply, PACER_EIO
 *  when the connection was lost (c is unusable; reconnect), or
 *  PACER_ENOMEM; err set for the last three ("redis: XREAD <key>:
 *  <reason>"). Calling thread. */
int pacer_results_read(redisContext *c, const char *key, const char *after,
                       uint64_t block_ms, pacer_results_entry_cb cb, void *arg,
                       size_t *got, struct pacer_error *err);

/** Calls cb for every entry after entry id after, oldest first, 1000 per
 *  round trip, until the end of the stream. Returns 0, cb's non-zero
 *  return, or PACER_EREDIS with err set ("redis: XRANGE <key>: <reason>").
 *  Calling thread. */
int pacer_results_range(redisContext *c, const char *key, const char *after,
                        pacer_results_entry_cb cb, void *arg,
                        struct pacer_error *err);

/** Calls cb for one stream entry reply e ([id, [field, value, ...]],
 *  borrowed), string pairs only. Returns cb's result, 0 for a malformed
 *  entry, or PACER_ENOMEM. Calling thread. */
int pacer_results_entry_call(const redisReply *e, pacer_results_entry_cb cb,
                             void *arg);

/** Calls cb for the one entry entry_id (borrowed) of stream key (borrowed)
 *  when it exists (XRANGE key id id). Returns 1 after cb ran (cb's non-zero
 *  return instead, when it has one), 0 when there is no such entry, or
 *  PACER_EREDIS with err set ("redis: XRANGE <key>: <reason>"). Calling
 *  thread. */
int pacer_results_get(redisContext *c, const char *key, const char *entry_id,
                      pacer_results_entry_cb cb, void *arg,
                      struct pacer_error *err);

/** Writes the id of the newest entry of key into last (size bytes), "0-0"
 *  when the stream is empty or missing. Returns 0, or PACER_EREDIS when
 *  the connection failed (last is "0-0"). Calling thread. */
int pacer_results_last_id(redisContext *c, const char *key, char *last,
                          size_t size);

#endif
