/* The credential store: every Redis command and script on a credential's
 * shared state (store/keys.h, credentials section; docs/CREDENTIALS.md).
 * The scheduler's side is asynchronous, on the queue's command connection
 * plus a subscriber connection of its own for the events; each reply is
 * parsed here and handed on as plain values. The scripts are
 * store/lua/cred_*.lua.
 */
#ifndef PACER_STORE_CRED_STORE_H
#define PACER_STORE_CRED_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "common/err.h"

#include "core/config.h"
#include "core/cred_fsm.h"
#include "store/queue.h"

#define PACER_CRED_KEY_MAX (PACER_CRED_NAME_MAX + 160) /* key bytes, max */

/** The keys of one credential, built by pacer_cred_keys_init. */
struct pacer_cred_keys {
  char hash[PACER_CRED_KEY_MAX]; /* <prefix>cred:<name> */
  char lock[PACER_CRED_KEY_MAX]; /* <prefix>lock:cred:<name> */
  char chan[PACER_CRED_KEY_MAX]; /* <prefix>credev:<name> */
};

/** Fills *k for credential name under prefix (both borrowed; longer
 *  values are cut, which config validation rules out). */
void pacer_cred_keys_init(struct pacer_cred_keys *k, const char *prefix,
                          const char *name);

/* ------------------------------------------------------------------ */
/* Asynchronous: the scheduler. Scheduler thread only. */

/** The try script's reply: r is the parsed reply (borrowed for the call),
 *  or NULL when the reply was lost or malformed. On code 1, rt (borrowed,
 *  rt_len bytes, not NUL-terminated; rt_len 0 = none stored) is the
 *  refresh token; on code 3, token (borrowed, token_len bytes) is the
 *  access token to adopt (r->adopted is 0: the callee sets it once it
 *  holds a copy). */
typedef void (*pacer_cred_store_try_cb)(void *privdata,
                                        struct pacer_cred_fsm_try *r,
                                        const char *rt, size_t rt_len,
                                        const char *token, size_t token_len);

/** An integer reply: kind, and value when kind is
 *  PACER_CRED_FSM_REPLY_INT. */
typedef void (*pacer_cred_store_int_cb)(void *privdata,
                                        enum pacer_cred_fsm_reply kind,
                                        int64_t value);

/** Runs store/lua/cred_try.lua: need 1 adopts a newer usable token or
 *  takes the lock lockval (hex, borrowed) for ttl_ms (lock_ttl_ms) and
 *  marks the hash refreshing; need 0 only reports what changed.
 *  stale_gen: a generation known bad (need) or held (sync), -1 none.
 *  skew_ms: refresh_skew_s in ms. Returns 0 (cb runs once), PACER_ENOMEM
 *  or PACER_EREDIS (not sent; cb does not run). */
int pacer_cred_store_try(struct pacer_queue *q, const struct pacer_cred_keys *k,
                         const char *lockval, uint32_t ttl_ms,
                         int64_t stale_gen, uint64_t skew_ms, int need,
                         pacer_cred_store_try_cb cb, void *privdata);

/** Renews the lock's lease to ttl_ms when it still holds lockval
 *  (store/lua/cred_keepalive.lua). cb gets 1 (renewed) or 0 (lost); cb
 *  may be NULL. Returns 0, PACER_ENOMEM or PACER_EREDIS. */
int pacer_cred_store_keepalive(struct pacer_queue *q,
                               const struct pacer_cred_keys *k,
                               const char *lockval, uint32_t ttl_ms,
                               pacer_cred_store_int_cb cb, void *privdata);

/** The send fence before token request attempt (from 1) of the lock
 *  lockval (store/lua/cred_send.lua): renews the lease to ttl_ms and
 *  counts the send when the lock holds lockval; known 1 restarts the count
 *  of sends with an unknown outcome. cb gets the count (1, 2 for the one
 *  replay), -1 (the lock is not ours: do not send) or -3 (the replay is
 *  spent). Returns 0, PACER_ENOMEM or PACER_EREDIS. */
int pacer_cred_store_send_fence(struct pacer_queue *q,
                                const struct pacer_cred_keys *k,
                                const char *lockval, unsigned attempt,
                                int known, uint32_t ttl_ms,
                                pacer_cred_store_int_cb cb, void *privdata);

/** The fenced commit (store/lua/cred_commit.lua): stores access_token
 *  (borrowed), its expiry (unix ms), refresh_token (borrowed; NULL keeps
 *  the stored one) and lifetime_s, generation + 1, status ok, drops the
 *  lock and publishes, only while the lock holds lockval and the
 *  generation is lock_gen. cb gets the new generation, -1 when the lock is
 *  not ours or -2 when the generation moved (the token is dropped).
 *  Returns 0, PACER_ENOMEM or PACER_EREDIS. */
int pacer_cred_store_commit(struct pacer_queue *q,
                            const struct pacer_cred_keys *k,
                            const char *lockval, const char *access_token,
                            uint64_t expires_unix_ms, const char *refresh_token,
                            uint64_t lifetime_s, uint64_t lock_gen,
                            pacer_cred_store_int_cb cb, void *privdata);

/** The failure record (store/lua/cred_fail.lua): status and last_error
 *  (borrowed), release 1 drops the lock, known 1 restarts the count of
 *  sends with an unknown outcome; fenced by lockval and lock_gen, and
 *  never a note over reauth_required. cb gets the generation, -1 (the
 *  lock is not ours) or -2 (the generation moved). Returns 0,
 *  PACER_ENOMEM or PACER_EREDIS. */
int pacer_cred_store_fail(struct pacer_queue *q,
                          const struct pacer_cred_keys *k, const char *lockval,
                          const char *status, const char *last_error,
                          int release, int known, uint64_t lock_gen,
                          pacer_cred_store_int_cb cb, void *privdata);

struct pacer_cred_sub;

/** A credential event: channel and payload are borrowed for the call. */
typedef void (*pacer_cred_sub_event_cb)(void *arg, const char *channel,
                                        const char *payload);

/** (Re)subscribed: events may have been missed meanwhile. */
typedef void (*pacer_cred_sub_up_cb)(void *arg);

/** Creates the event subscriber: a connection of its own to redis_url
 *  (borrowed) that PSUBSCRIBEs <prefix>credev:* and reconnects every
 *  second while Redis is away. payload is NULL when it is not a string.
 *  Returns 0 or PACER_ENOMEM. */
int pacer_cred_sub_new(uv_loop_t *loop, const char *redis_url,
                       const char *prefix, pacer_cred_sub_event_cb on_event,
                       pacer_cred_sub_up_cb on_up, void *arg,
                       struct pacer_cred_sub **out);

/** Connects. Call once, after the queue has started. */
void pacer_cred_sub_start(struct pacer_cred_sub *s);

/** Disconnects and frees s once its timer is closed; no callback runs
 *  after this. NULL does nothing. */
void pacer_cred_sub_close(struct pacer_cred_sub *s);

/* ------------------------------------------------------------------ */
/* Synchronous: `pacer cred set|refresh`. Main thread. */

/** What pacer_cred_store_set did. */
struct pacer_cred_set_result {
  long long generation; /* the new generation */
  long long released;   /* parked jobs of the credential made due now */
  int refreshing;       /* 1 when a refresh lock was held meanwhile */
};

/** Stores tok (borrowed, tok_len bytes, a validated refresh token) as
 *  credential name's refresh token under prefix (both borrowed), in one
 *  script (store/lua/cred_set.lua): generation + 1, access token cleared,
 *  status ok, the credential's parked jobs due now, the new generation
 *  published. The lock is only looked at. Never echoes the token.
 *  Returns 0 with *out set, or PACER_EREDIS / PACER_ENOMEM with err set
 *  ("redis: cred set: ..."). */
int pacer_cred_store_set(redisContext *c, const char *prefix, const char *name,
                         const char *tok, size_t tok_len,
                         struct pacer_cred_set_result *out,
                         struct pacer_error *err);

/** Stores the tokens `pacer cred authorize` got for credential name under
 *  prefix, as a refresh's commit would, in the script of
 *  pacer_cred_store_set: refresh_token and access_token (borrowed,
 *  validated, NUL-terminated) with expires_unix_ms and lifetime_s,
 *  generation + 1, status ok (reauth_required cleared), the credential's
 *  parked jobs due now, the new generation published (workers adopt the
 *  token). Never echoes a token. Returns 0 with *out set, or PACER_EREDIS /
 *  PACER_ENOMEM with err set ("redis: cred set: ..."). */
int pacer_cred_store_authorize(redisContext *c, const char *prefix,
                               const char *name, const char *refresh_token,
                               const char *access_token,
                               uint64_t expires_unix_ms, uint64_t lifetime_s,
                               struct pacer_cred_set_result *out,
                               struct pacer_error *err);

/** Marks credential name's stored access token expired and announces it
 *  (store/lua/cred_refresh.lua), so one running worker renews it. Returns
 *  0 with *generation set: the generation, -1 when the credential was
 *  never used, -2 when it needs re-authorisation; or PACER_EREDIS /
 *  PACER_ENOMEM with err set ("redis: ..."). */
int pacer_cred_store_refresh(redisContext *c, const char *prefix,
                             const char *name, long long *generation,
                             struct pacer_error *err);

#endif
