/* OAuth2 credentials at run time: one refresh per expiry across every
 * worker and process (docs/CREDENTIALS.md).
 *
 * The decisions are the credential state machine (core/cred_fsm.h); the
 * Redis keys, scripts and the event subscriber are the credential store
 * (store/cred_store.h, store/keys.h). This module is the glue: uv timers,
 * the token request through a worker thread, the store's replies and
 * events fed to the machine, its actions applied.
 *
 * Single flight: a process that needs a new token runs one script that
 * re-reads the hash and either adopts a token someone else already got
 * (newer generation, not expiring) or takes the lock and marks the hash
 * "refreshing" (every process pauses that credential). Only the lock
 * holder calls the token endpoint (through a worker thread); it keeps the
 * lock alive meanwhile, and writes the new token, expiry, generation + 1
 * and rotated refresh token in one script fenced by the lock value,
 * before any job uses the token and before the lock goes. Others wait for
 * the PUBLISH on credev:<name> (a subscriber connection; no polling) and
 * take over only when the lock expires (holder died).
 *
 * Everything here runs on the scheduler thread.
 */
#ifndef PACER_SCHEDULER_CRED_H
#define PACER_SCHEDULER_CRED_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "store/keys.h"
#include "store/queue.h"
#include "workers/pacer_http.h"

#define PACER_CRED_TAG_BIT 1u /* request tag bit: a token request */

struct pacer_creds;
struct pacer_cred;

/** What a credential can do now. */
enum pacer_cred_state {
  PACER_CRED_READY = 0, /* a token is usable: send */
  PACER_CRED_WAIT,      /* loading or refreshing (here or elsewhere): hold */
  PACER_CRED_REAUTH     /* refresh refused: park the job in Redis */
};

/** Called when a credential leaves the WAIT state (to READY or REAUTH):
 *  the scheduler releases or parks the jobs it holds for it. */
typedef void (*pacer_creds_changed_cb)(void *arg, struct pacer_cred *c);

/** Creates the run-time state for every credential of cfg (borrowed, must
 *  outlive it), using q (borrowed) for Redis scripts and its own
 *  subscriber connection for events. submit hands a token request to the
 *  worker pool (the request's tag has PACER_CRED_TAG_BIT set; its outcome
 *  must come back through pacer_creds_on_outcome). Returns 0 or
 *  PACER_ENOMEM. */
int pacer_creds_new(uv_loop_t *loop, const struct pacer_config *cfg,
                    struct pacer_queue *q,
                    int (*submit)(void *arg, struct pacer_http_request *req),
                    pacer_creds_changed_cb changed, void *arg,
                    struct pacer_creds **out);

/** Connects the event subscriber. Call once after pacer_queue_start. */
void pacer_creds_start(struct pacer_creds *cs);

/** Stops refreshes and events, closes handles and frees cs once they are
 *  closed. Outstanding script callbacks must have run (close the queue
 *  first). */
void pacer_creds_close(struct pacer_creds *cs);

/** Takes the running config's credentials again after a config reload
 *  changed it in place (scheduler/reload.c): the credentials array may
 *  have moved, keeping the running ones at their indices; entries past
 *  them are new credentials, which get their run-time state here and are
 *  usable by the next job that names them. refresh_skew_s applies, and a
 *  record of hosts starts when an environment is now declared. Every
 *  other setting (token_url, client_id, secrets, timeouts, lock_ttl_ms,
 *  hosts) is read at its next use, so a token request already sent goes
 *  on as it was sent, and the next one uses the new settings. Returns 0
 *  or PACER_ENOMEM (the new credentials not added are unknown to jobs
 *  until a restart). Scheduler thread (scheduler/cred_reload.c). */
int pacer_creds_reconfigured(struct pacer_creds *cs);

/** Returns the credential called name, or NULL. */
struct pacer_cred *pacer_creds_get(struct pacer_creds *cs, const char *name);

/** Returns the credential's name (borrowed). */
const char *pacer_cred_name(const struct pacer_cred *c);

/** Returns the credential's configuration (borrowed). */
const struct pacer_cred_cfg *pacer_cred_cfg(const struct pacer_cred *c);

/** Asks for a token to send now. READY: *token (borrowed until the next
 *  call into this module) and *generation are set. WAIT: a load or
 *  refresh is under way (started here when needed): hold the job until
 *  the changed callback. REAUTH: park the job. Proactive renewal: a token
 *  within refresh_skew_s of its expiry (unix ms, Redis-written) starts a
 *  refresh and answers WAIT. */
enum pacer_cred_state pacer_cred_token(struct pacer_cred *c, const char **token,
                                       uint64_t *generation);

/** Returns the access token this process holds for c (borrowed until the
 *  next call into this module), or NULL. For scrubbing only: an upstream
 *  that echoes a request back must not carry the token into a result. */
const char *pacer_cred_held_token(const struct pacer_cred *c);

/** Reports a 401 with Bearer error="invalid_token" for a request sent
 *  with generation. The current generation starts one single-flight
 *  refresh (RFC 6750 §3.1); an older one needs nothing (replay with the
 *  current token). */
void pacer_cred_invalid(struct pacer_cred *c, uint64_t generation);

struct pacer_cred_env;

/** Returns c's record of the hosts that accepted or refused its tokens
 *  (core/cred_env.h), owned by c; NULL when c declares no environment. */
struct pacer_cred_env *pacer_cred_env_state(struct pacer_cred *c);

/** host (borrowed, may be NULL) answered a request that carried c's token
 *  with something other than 401 (2xx, 3xx, 403): c's tokens work there
 *  (core/cred_env.h; scheduler/cred_env.c). */
void pacer_cred_accepted(struct pacer_cred *c, const char *host);

/** A 401 from host for a request with c's token of generation gen;
 *  after_refresh 1: a replay with a refreshed token. For a credential that
 *  declares its `environment`, returns 1 when this is an environment mix-up
 *  (host never accepted a token of c, and refused a refreshed one, now or
 *  before: a replay, or a generation newer than its first 401's) and
 *  writes the advice, without a secret, to why (size bytes); logs it once
 *  per host. Else, and for a credential without `environment`, returns
 *  0 (scheduler/cred_env.c). */
int pacer_cred_environment_mismatch(struct pacer_cred *c, const char *host,
                                    uint64_t gen, int after_refresh, char *why,
                                    size_t size);

/** Takes the outcome of a token request (owned; freed here; its body is
 *  wiped). retry_hint_ms: the server's Retry-After (or rate-limit reset)
 *  in ms, 0 = none; a floor for the backoff after a 429/5xx
 *  (RFC 9110 §10.2.3). */
void pacer_creds_on_outcome(struct pacer_creds *cs,
                            struct pacer_http_outcome *o,
                            uint64_t retry_hint_ms);

/** Returns non-zero when a token request is out or a script awaits its
 *  reply (stop waits for these). */
int pacer_creds_busy(const struct pacer_creds *cs);

/** What the metrics show of one credential: never a token. */
struct pacer_cred_metrics {
  const char *status;       /* "unknown", "loading", "ok", "refreshing",
                               "waiting" (another process refreshes),
                               "reauth_required"; static */
  uint64_t generation;      /* of the token held, 0 = none */
  uint64_t expires_unix_ms; /* its expiry, unix ms, 0 = no token */
  uint64_t refresh_ok;      /* token endpoint answers: a new token */
  uint64_t refresh_failed;  /* ... a failure that is retried (5xx, 429,
                               transport) */
  uint64_t refresh_refused; /* ... invalid_grant: re-authorisation needed */
};

/** Fills *out for c (borrowed). Scheduler thread. */
void pacer_cred_get_metrics(const struct pacer_cred *c,
                            struct pacer_cred_metrics *out);

#endif
