/* The Redis schema: every key, field, group, score and member format pacer
 * uses, in one place. docs/REDIS.md describes each key in prose; this
 * header is what the code uses. Keys are <prefix><name> with the prefix
 * from the config (default "pacer:").
 *
 *   <prefix>delayed   sorted set: retries, not_before, deferred and parked
 *                     jobs; score = due time, unix ms
 *     score >= PACER_KEYS_PARK_SCORE_MS: parked, waits for `pacer cred set`
 */
#ifndef PACER_STORE_KEYS_H
#define PACER_STORE_KEYS_H

/* Delayed-set score of a parked job: 2^52 ms, never due. An integer
 * constant, for "%lld" and exact comparisons; exact as a double too. */
#define PACER_KEYS_PARK_SCORE_MS   4503599627370496LL /* unix ms */
/* The same score as text, for Lua arguments and ZRANGEBYSCORE bounds. */
#define PACER_KEYS_PARK_SCORE_TEXT "4503599627370496"

#endif
