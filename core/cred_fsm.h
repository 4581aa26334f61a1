/* The credential state machine: one OAuth2 credential's refresh, single
 * flight across every process that shares the Redis (docs/CREDENTIALS.md).
 * Pure: events in (a job needs the token at now_ms, a 401, a script reply,
 * the token endpoint's answer, an event from another process, a timer),
 * actions out through a caller's ops table (run a script, send the token
 * request, arm the timer, release or park the held jobs). No clock, no
 * I/O, no randomness of its own: the caller passes now_ms and random
 * values in, and scheduler/cred.c applies the actions with libuv and Redis.
 * tests/unit/test_cred_fsm.c drives it on a virtual clock.
 *
 *          need                 try reply 1: we hold the lock
 *   UNKNOWN ----> TRYING ---------------------------> REFRESHING
 *     ^  ^         | | \ reply 0: another process       |  |  |
 *     |  |         | |  `-----> WAITING <---------------'  |  | commit
 *     |  |         | |          | publish / lock expiry:   |  | fenced
 *     |  |         | | reply 3  | try again (need)        |  |
 *     |  |         | v          v                         |  | commit ok
 *     |  |        OK <------- adopt a newer token  <------+--'
 *     |  |         |  expiring / 401 (current generation): need
 *     |  |         |                                      | invalid_grant:
 *     |  | cred set (sync reply 4 or 6)                   | fail record,
 *     |  `------ REAUTH <-----------------------------------' then settle
 *     `-- fail record fenced by the generation (`pacer cred set` won)
 *
 * One script at a time per credential (script_out); a need that arrives
 * behind an outstanding script moves the credential to TRYING at once
 * (its jobs are held, the known-bad token is no longer handed out) and
 * the follow-up script runs as a need unless the reply already adopted a
 * newer generation (e2e_cred B). A 429/5xx/transport failure of the token
 * endpoint backs off with full jitter, Retry-After as a floor, and keeps
 * the lock and the refresh token.
 *
 * One refresh token, one POST (docs/CREDENTIALS.md): every token request
 * is fenced. Before each send the fence script checks, in Redis, that we
 * still hold the lock value we were given and counts the sends of the
 * stored refresh token whose outcome is unknown. A lost lock aborts before
 * sending (to WAITING, with a new lock value). A request that went out and
 * got no answer (timeout, reset after the request was written) is outcome
 * unknown: the machine waits until the request's token_timeout_ms has
 * passed, re-reads the stored state (the try script: someone may have
 * stored a token) and only then replays once; a second unknown outcome
 * parks the credential (REAUTH) rather than sending the token a third
 * time. An answer from the endpoint (any status) or a request that never
 * left (connect refused, TLS handshake failed) is a known outcome and
 * resets the count.
 */
#ifndef PACER_CORE_CRED_FSM_H
#define PACER_CORE_CRED_FSM_H

#include <stdint.h>

#define PACER_CRED_FSM_SCRIPT_RETRY_MS 200u       /* after a lost script, ms */
#define PACER_CRED_FSM_RETRY_BASE_MS   1000u      /* token backoff base, ms */
#define PACER_CRED_FSM_RETRY_CAP_MS    60000u     /* token backoff cap, ms */
#define PACER_CRED_FSM_WAIT_JITTER_MS  200u       /* lock takeover spread, ms */
#define PACER_CRED_FSM_NO_GEN          UINT64_MAX /* stale_gen: none */

/** Where a credential is. The metrics name TRYING "loading". */
enum pacer_cred_fsm_state {
  PACER_CRED_FSM_UNKNOWN = 0, /* nothing known: the next need loads */
  PACER_CRED_FSM_OK,          /* a token is held */
  PACER_CRED_FSM_TRYING,      /* a need's try script is out */
  PACER_CRED_FSM_REFRESHING,  /* we hold the lock: request out or backoff */
  PACER_CRED_FSM_WAITING,     /* another process holds the lock */
  PACER_CRED_FSM_REAUTH       /* refresh refused: park the jobs */
};

/** What a job that needs the token does now. */
enum pacer_cred_fsm_use {
  PACER_CRED_FSM_READY = 0, /* send with the held token */
  PACER_CRED_FSM_WAIT,      /* hold the job until the settled action */
  PACER_CRED_FSM_PARK       /* park the job until `pacer cred set` */
};

/** How a script's reply came back. */
enum pacer_cred_fsm_reply {
  PACER_CRED_FSM_REPLY_LOST = 0, /* no reply: connection lost */
  PACER_CRED_FSM_REPLY_OTHER,    /* a reply that is not an integer */
  PACER_CRED_FSM_REPLY_INT       /* an integer reply (value) */
};

/** What the token endpoint's answer means (RFC 6749 §5.1, §5.2). */
enum pacer_cred_fsm_answer {
  PACER_CRED_FSM_ANSWER_CANCELED = 0, /* the request was cancelled (stop) */
  PACER_CRED_FSM_ANSWER_OK,           /* a new access token */
  PACER_CRED_FSM_ANSWER_REAUTH,       /* invalid_grant or another 4xx */
  PACER_CRED_FSM_ANSWER_RETRY,        /* 429, 5xx, or never sent (connect
                                         refused, TLS failed): back off */
  PACER_CRED_FSM_ANSWER_UNKNOWN       /* sent, no answer (timeout, reset
                                         after the request was written) */
};

/** The reply of the try script (store/lua/cred_try.lua), as parsed by the
 *  caller. code 0: another process holds the lock, gen is its PTTL in ms;
 *  1: we hold the lock, gen is the hash's generation; 2: reauth_required;
 *  3: adopt gen/expires_unix_ms/lifetime_s (adopted: the caller took the
 *  token); 4: nothing newer (sync); 6: renew now (sync). */
struct pacer_cred_fsm_try {
  int code;                 /* 0, 1, 2, 3, 4, 6 as above */
  uint64_t gen;             /* generation, or the lock's PTTL (code 0), ms */
  uint64_t expires_unix_ms; /* code 3: the token's expiry, unix ms */
  uint64_t lifetime_s;      /* codes 1, 3: the stored lifetime, s, 0 none */
  int adopted;              /* code 3: the caller now holds that token */
};

/** The actions. arg is the ops' argument given to pacer_cred_fsm_init.
 *  The machine's state is updated before each call, so an action may
 *  call back into the machine (settled does: the scheduler asks for the
 *  token again). A rec is the caller's record of one fenced write (a
 *  commit or a failure record), opaque here; it is handed back exactly
 *  once to free_rec, or kept by the machine as the pending write
 *  (pacer_cred_fsm.pending) until then. */
struct pacer_cred_fsm_ops {
  /** Draws a new random lock value for a new refresh attempt. */
  void (*new_lockval)(void *arg);
  /** Runs the try script; need 1 may take the lock, 0 only syncs.
   *  stale_gen: ARGV "stale generation", -1 for none. Returns 0 when sent
   *  (one pacer_cred_fsm_try_reply follows), PACER_ENOMEM (given up, no
   *  retry) or another negative code (not sent: retried after
   *  PACER_CRED_FSM_SCRIPT_RETRY_MS). */
  int (*run_try)(void *arg, int need, int64_t stale_gen);
  /** Runs the send fence (store/lua/cred_send.lua) before token request
   *  attempt (from 1): checks that we hold our lock value, renews it, and
   *  counts a send of the stored refresh token whose outcome is unknown
   *  until answered. known 1: the previous request of this refresh had a
   *  known outcome (the count restarts). The same attempt asked twice
   *  (after a lost reply) counts once. Returns 0 when sent (one
   *  pacer_cred_fsm_fence_reply follows), else a negative code (asked
   *  again after PACER_CRED_FSM_SCRIPT_RETRY_MS). */
  int (*run_fence)(void *arg, unsigned attempt, int known);
  /** Sends the token request (RFC 6749 §6); attempt counts from 1; replay
   *  1: the one replay after an unknown outcome. Returns 0 when sent (one
   *  pacer_cred_fsm_answer follows), PACER_EAUTH when there is no refresh
   *  token, another negative code when it could not be sent (retried
   *  after PACER_CRED_FSM_RETRY_BASE_MS). */
  int (*send)(void *arg, unsigned attempt, int replay);
  /** Runs the fenced commit of rec with lock_gen, the generation seen when
   *  the lock was taken. Returns 0 when sent (one commit_reply follows). */
  int (*run_commit)(void *arg, void *rec, uint64_t lock_gen);
  /** Runs the failure record rec, fenced as run_commit. Returns 0 when
   *  sent (one fail_reply follows). */
  int (*run_fail)(void *arg, void *rec, uint64_t lock_gen);
  /** Makes a failure record: status reauth_required (reauth 1) or
   *  refreshing, last_error why (borrowed, copied), release 1 drops the
   *  lock, known 1: the request's outcome is known (the unknown-send count
   *  restarts). Returns the record, or NULL when out of memory. */
  void *(*new_fail)(void *arg, int reauth, const char *why, int release,
                    int known);
  /** Frees a record (commit or failure) the machine is done with. */
  void (*free_rec)(void *arg, void *rec);
  /** Arms the one timer in ms (replacing an armed one); when it fires,
   *  call pacer_cred_fsm_timer. */
  void (*arm_timer)(void *arg, uint64_t ms);
  /** Disarms the timer. */
  void (*stop_timer)(void *arg);
  /** Starts (on 1) or stops (0) renewing the refresh lock's lease. */
  void (*keepalive)(void *arg, int on);
  /** The credential left its waiting state (to OK, REAUTH or UNKNOWN):
   *  release or park the jobs held for it (ask pacer_cred_fsm_token). */
  void (*settled)(void *arg);
};

/** One credential's machine. Fields are read-only outside cred_fsm.c;
 *  call pacer_cred_fsm_init before use. Not thread-safe: every call on
 *  one machine comes from one thread (the scheduler's). */
struct pacer_cred_fsm {
  const struct pacer_cred_fsm_ops *ops; /* borrowed */
  void *arg;                            /* passed to every op */
  uint32_t refresh_skew_s;              /* renew this long before expiry, s */
  enum pacer_cred_fsm_state st;
  int has_token;            /* the caller holds an access token */
  uint64_t gen;             /* its generation */
  uint64_t expires_unix_ms; /* its expiry, unix ms */
  uint64_t lifetime_s;      /* last known lifetime, s, 0 unknown */
  uint64_t stale_gen;       /* a generation known bad, or NO_GEN */
  uint64_t lock_gen;        /* hash generation when we took the lock */
  unsigned attempt;         /* token requests in this refresh */
  int last_known;           /* the last request's outcome is known */
  int reread;               /* an unknown outcome: re-read, then replay */
  int script_out;           /* a script awaits its reply */
  int fence_out;            /* the send fence awaits its reply */
  int http_out;             /* a token request is out */
  int sync_again;           /* an event came while a script was out */
  int need_again;           /* ...and a need came too */
  int closing;              /* stopping: no more actions */
  void *pending;            /* a write to run again, or NULL */
  int pending_commit;       /* pending is a commit (else a failure) */
  uint64_t n_ok;            /* token endpoint answers: a new token */
  uint64_t n_failed;        /* ... retried (429, 5xx, transport) */
  uint64_t n_refused;       /* ... refused (reauth needed) */
  uint64_t n_unknown;       /* ... no answer: outcome unknown */
  uint64_t n_lock_lost;     /* sends aborted: the lock was lost */
};

/** Sets f to UNKNOWN with no token. refresh_skew_s: config, s. ops and arg
 *  are borrowed and must outlive f. Any thread; no action runs. */
void pacer_cred_fsm_init(struct pacer_cred_fsm *f, uint32_t refresh_skew_s,
                         const struct pacer_cred_fsm_ops *ops, void *arg);

/** Returns refresh_skew_s in ms, at most half the known lifetime (a token
 *  that lives no longer than the skew is used, renewed half-way). */
uint64_t pacer_cred_fsm_skew_ms(const struct pacer_cred_fsm *f);

/** A job needs the token at now_unix_ms. READY: the held token is usable
 *  (not within the skew of its expiry). Otherwise a load or a proactive
 *  renewal starts when none is under way: WAIT; REAUTH: PARK. */
enum pacer_cred_fsm_use pacer_cred_fsm_token(struct pacer_cred_fsm *f,
                                             uint64_t now_unix_ms);

/** A 401 with Bearer error="invalid_token" (RFC 6750 §3.1) for a request
 *  sent with generation. Returns 1 when that is the held generation and a
 *  refresh starts, 0 when nothing is needed (an older generation: replay
 *  with the current token; or a refresh is already under way). */
int pacer_cred_fsm_invalid(struct pacer_cred_fsm *f, uint64_t generation);

/** The timer armed by arm_timer fired. */
void pacer_cred_fsm_timer(struct pacer_cred_fsm *f);

/** The try script answered. need: the script was run as a need. r: the
 *  parsed reply (borrowed), or NULL when lost or malformed. rnd: a random
 *  value (for the takeover jitter). */
void pacer_cred_fsm_try_reply(struct pacer_cred_fsm *f, int need,
                              const struct pacer_cred_fsm_try *r, uint64_t rnd);

/** The commit of rec answered: kind, and value (INT: the new generation,
 *  or < 0 when the generation fence dropped our token). expires_unix_ms
 *  and lifetime_s are the committed token's (the caller already holds it
 *  when value >= 0). Takes rec. */
void pacer_cred_fsm_commit_reply(struct pacer_cred_fsm *f, void *rec,
                                 enum pacer_cred_fsm_reply kind, int64_t value,
                                 uint64_t expires_unix_ms, uint64_t lifetime_s);

/** The failure record rec answered: reauth as given to new_fail; value
 *  (INT): the generation, -1 another lock holder, -2 the generation
 *  moved (`pacer cred set`). Takes rec. */
void pacer_cred_fsm_fail_reply(struct pacer_cred_fsm *f, void *rec, int reauth,
                               enum pacer_cred_fsm_reply kind, int64_t value);

/** The send fence answered: kind, and value (INT): the sends of the stored
 *  refresh token with an unknown outcome, this one included (1, or 2 for
 *  the one replay), -1 the lock is not ours (abort: nothing is sent), -3
 *  a replay was already spent (park: re-authorisation needed). */
void pacer_cred_fsm_fence_reply(struct pacer_cred_fsm *f,
                                enum pacer_cred_fsm_reply kind, int64_t value);

/** The token endpoint answered. commit_rec (answer OK): the caller's
 *  commit record holding the new token, or NULL when out of memory; taken.
 *  why (REAUTH, RETRY, UNKNOWN): last_error text, never a secret;
 *  borrowed. retry_hint_ms: RETRY: Retry-After in ms, 0 none, a floor for
 *  the backoff (RFC 9110 §10.2.3); UNKNOWN: ms until token_timeout_ms has
 *  passed since the request was sent (0: it has). rnd: a random value for
 *  the jitter. Returns the wait in ms for RETRY and UNKNOWN, else 0. */
uint64_t pacer_cred_fsm_answer(struct pacer_cred_fsm *f,
                               enum pacer_cred_fsm_answer answer,
                               void *commit_rec, const char *why,
                               uint64_t retry_hint_ms, uint64_t rnd);

/** Another process changed the credential (a PUBLISH on credev:<name>).
 *  plain: the message was a bare "<generation>" (a new token), gen its
 *  value; 0: "<generation>:<status>" or unreadable. */
void pacer_cred_fsm_remote(struct pacer_cred_fsm *f, int plain, uint64_t gen);

/** The event subscription was (re)established: events may have been
 *  missed, so a credential that is neither unknown nor refreshing syncs. */
void pacer_cred_fsm_resubscribed(struct pacer_cred_fsm *f);

/** Stops: no action runs after this, replies only free their records.
 *  The caller frees f->pending (free_rec is not called). */
void pacer_cred_fsm_close(struct pacer_cred_fsm *f);

/** Returns non-zero while a script or a token request is out. */
int pacer_cred_fsm_busy(const struct pacer_cred_fsm *f);

/** Returns the metrics name of the state: "unknown", "ok", "loading",
 *  "refreshing", "waiting", "reauth_required". Static. */
const char *pacer_cred_fsm_state_name(enum pacer_cred_fsm_state st);

#endif
