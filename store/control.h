/* Operator control of limit buckets for `pacer pause` and `pacer resume`,
 * on a synchronous connection (store/redis_sync.h):
 *
 *   <prefix>limit:<bucket>   hash (store/limiter.h): op_until, unix us,
 *                            the end of an operator pause of one bucket
 *                            (PACER_KEYS_OP_FOREVER_US: until resumed)
 *   <prefix>oppause          string, unix us: the end of the operator
 *                            pause of every bucket, those without state
 *                            yet included (`pause --all`)
 *
 * limit_take.lua grants no send slot from a bucket before its op_until or
 * <prefix>oppause, in every process, and `pacer stats`, the metrics and
 * the dashboard show the pause with the cause PACER_KEYS_OP_REASON. The
 * two are independent: ending one leaves the other. The state is in
 * Redis, so it survives worker restarts (docs/LIMITS.md "Operator
 * pause").
 */
#ifndef PACER_STORE_CONTROL_H
#define PACER_STORE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/err.h"

/** Called with each bucket name (borrowed for the call) under prefix. A
 *  non-zero return stops the walk and is returned. */
typedef int (*pacer_control_bucket_cb)(void *arg, const char *bucket);

/** Walks every limit bucket in Redis under prefix (SCAN MATCH
 *  <prefix>limit:*). Returns 0, cb's return, or PACER_EREDIS with err
 *  set. Calling thread. */
int pacer_control_buckets(redisContext *c, const char *prefix,
                          pacer_control_bucket_cb cb, void *arg,
                          struct pacer_error *err);

/** Returns 1 when the bucket (borrowed) has state in Redis, 0 when not,
 *  or PACER_EREDIS with err set. Calling thread. */
int pacer_control_bucket_exists(redisContext *c, const char *prefix,
                                const char *bucket, struct pacer_error *err);

/** Pauses bucket (borrowed) for for_ms from Redis' now, or until a resume
 *  when for_ms is 0 (store/lua/limit_oppause.lua). Returns 0, or
 *  PACER_EREDIS / PACER_ENOMEM with err set. Calling thread. */
int pacer_control_pause(redisContext *c, const char *prefix, const char *bucket,
                        uint64_t for_ms, struct pacer_error *err);

/** Ends the operator pause of bucket (borrowed); an upstream pause (429)
 *  stays. Returns 1 when it was paused, 0 when not, or PACER_EREDIS /
 *  PACER_ENOMEM with err set. Calling thread. */
int pacer_control_resume(redisContext *c, const char *prefix,
                         const char *bucket, struct pacer_error *err);

/** Pauses every limit bucket under prefix (borrowed), also buckets that
 *  have no state yet, for for_ms from Redis' now, or until
 *  pacer_control_resume_all when for_ms is 0; it replaces an earlier
 *  pause of all (store/lua/limit_oppause_all.lua). Buckets' own pauses
 *  stay as they are. *until_unix_us is set to its end (unix us;
 *  PACER_KEYS_OP_FOREVER_US when for_ms is 0) and *now_unix_us to Redis
 *  TIME. Returns 0, or PACER_EREDIS / PACER_ENOMEM with err set. Calling
 *  thread. */
int pacer_control_pause_all(redisContext *c, const char *prefix,
                            uint64_t for_ms, uint64_t *until_unix_us,
                            uint64_t *now_unix_us, struct pacer_error *err);

/** Ends every operator pause under prefix (borrowed): the own pause of
 *  each bucket in Redis first, calling cb (may be NULL) with each one that
 *  was paused, then the pause of all (pacer_control_pause_all), so no
 *  bucket starts before the others. *was_all is set to 1 when the pause
 *  of all was on, else 0. An upstream pause (429) stays. Returns 0, cb's
 *  non-zero return (the pause of all then stays), or PACER_EREDIS /
 *  PACER_ENOMEM with err set. Calling thread. */
int pacer_control_resume_all(redisContext *c, const char *prefix,
                             pacer_control_bucket_cb cb, void *arg,
                             int *was_all, struct pacer_error *err);

/** The operator pause of every bucket (pacer_control_pause_all):
 *  *until_unix_us is set to its end (0: not on) and *now_unix_us to Redis
 *  TIME. Returns 0, or PACER_EREDIS / PACER_ENOMEM with err set. Calling
 *  thread. */
int pacer_control_paused_all(redisContext *c, const char *prefix,
                             uint64_t *until_unix_us, uint64_t *now_unix_us,
                             struct pacer_error *err);

/** The operator pause of bucket (borrowed): *until_unix_us is set to its
 *  end (0: not paused) and *now_unix_us to Redis TIME. Returns 0, or
 *  PACER_EREDIS / PACER_ENOMEM with err
 *  set. Calling thread. */
int pacer_control_paused(redisContext *c, const char *prefix,
                         const char *bucket, uint64_t *until_unix_us,
                         uint64_t *now_unix_us, struct pacer_error *err);

#endif
