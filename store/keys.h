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

/* ---- credentials ---- */
/* OAuth2 credentials (docs/CREDENTIALS.md; store/cred_store.h runs the
 * commands):
 *
 *   <prefix>cred:<name>        hash, one per credential
 *     access_token             current access token ("" = none yet)
 *     expires_at_ms            its expiry, unix ms; 0 = no token
 *     generation               +1 for every new access or refresh token
 *     refresh_token            current refresh token (rotations replace it)
 *     status                   ok | refreshing | reauth_required
 *                              (absent: never used)
 *     last_error               short text, never a secret
 *     updated_at_ms            unix ms of the last change
 *     lifetime_s               lifetime of the last token, s
 *     committed_by             lock value of the last commit (replay check)
 *   <prefix>lock:cred:<name>   refresh lock: SET NX PX, a random hex value
 *   <prefix>credev:<name>      channel: "<generation>" after a new token,
 *                              "<generation>:<status>" after a change;
 *                              subscribers PSUBSCRIBE <prefix>credev:*
 *   parked jobs                <prefix>delayed at PACER_KEYS_PARK_SCORE_MS
 */
#define PACER_KEYS_CRED_HASH         "cred:"      /* + name: the state hash */
#define PACER_KEYS_CRED_LOCK         "lock:cred:" /* + name: the refresh lock */
#define PACER_KEYS_CRED_CHAN         "credev:"  /* + name: the event channel */
#define PACER_KEYS_CRED_PSUB         "credev:*" /* every credential's channel */
#define PACER_KEYS_CRED_F_ACCESS     "access_token"
#define PACER_KEYS_CRED_F_EXPIRES    "expires_at_ms"
#define PACER_KEYS_CRED_F_GENERATION "generation"
#define PACER_KEYS_CRED_F_REFRESH    "refresh_token"
#define PACER_KEYS_CRED_F_STATUS     "status"
#define PACER_KEYS_CRED_F_LAST_ERROR "last_error"
#define PACER_KEYS_CRED_F_UPDATED    "updated_at_ms"
#define PACER_KEYS_CRED_F_LIFETIME   "lifetime_s"
#define PACER_KEYS_CRED_LOCK_TTL_MS  15000u /* refresh lock lease, ms */

#endif
