/* The scheduler's own shared state and helpers, for its files only:
 *
 *   intake.c   stream entry -> validated job -> its lane
 *   dispatch.c lane -> permit -> slot -> start (request.c builds it)
 *   outcome.c  outcome -> core/decide.c -> apply
 *   finish.c   result, dead letter, delay and requeue records -> Redis,
 *              replayed until Redis confirms them
 *   sched.c    lifecycle, stop, the lane and metrics snapshots
 *
 * Everything here runs on the scheduler thread (docs/ARCHITECTURE.md). */
#ifndef PACER_SCHEDULER_SCHED_INT_H
#define PACER_SCHEDULER_SCHED_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/lane.h"
#include "core/limit_ref.h"
#include "core/result.h"
#include "scheduler/sched.h"
#include "scheduler/throttle.h"
#include "workers/pacer_http.h"

/* strings in one XADD field list */
#define PACER_SCHED_MAX_FIELDS     40u
/* bytes of "job=.. lane=.. attempt=.. status=.." */
#define PACER_SCHED_JOB_FIELDS_MAX 640u
/* ms before an entry whose duplicate check Redis refused (a key of the
 * wrong type) is checked again, waiting in the delayed set (intake.c) */
#define PACER_SCHED_RECHECK_MS     5000u

struct pacer_cred;
struct pacer_queue;
struct pacer_queue_entry;

/** An owned XADD field list: names (static strings, not copied) at even
 * indexes, values at odd ones, copied one after the other into buf, each
 * NUL-terminated. view/lens/n are what pacer_fields reads; every value's
 * view is moved when buf grows. One allocation per growth of buf instead
 * of two per field (finish.c fb_add). */
struct pacer_fieldbuf {
  const char *view[PACER_SCHED_MAX_FIELDS];
  size_t lens[PACER_SCHED_MAX_FIELDS];
  size_t n;
  char *buf;        /* owned: the values */
  size_t used, cap; /* bytes of buf, used and allocated */
};

/** Where a held entry is. */
enum pacer_entry_state {
  PACER_ENTRY_READY = 0, /* in the ready FIFO */
  PACER_ENTRY_RUNNING,   /* request in a worker */
  PACER_ENTRY_CRED_WAIT, /* waits for its credential's token (s->cred_wait) */
  PACER_ENTRY_WRITING    /* a Redis script decides its fate */
};

/** The Redis write an entry waits on. */
enum pacer_entry_op {
  PACER_OP_NONE = 0,
  PACER_OP_FINISH,
  PACER_OP_DEFER,
  PACER_OP_REQUEUE
};

/** One held stream entry. */
struct pacer_entry {
  struct pacer_lane_node node;     /* in its lane while PACER_ENTRY_READY */
  struct pacer_lane *lane;         /* set once the job is valid */
  unsigned throttled;              /* 429s seen */
  uint64_t enqueued_unix_ms;       /* first entered a stream, unix ms */
  uint64_t deadline_unix_ms;       /* done by then, unix ms, 0 = none */
  uint64_t ready_mono_us;          /* when it last entered its lane */
  uint64_t wait_ms;                /* total time spent waiting in lanes, ms */
  struct pacer_sched *s;           /* owner */
  struct pacer_entry *prev, *next; /* held list */
  struct pacer_entry *rnext;       /* ready FIFO or replay list */
  char sid[48];                    /* stream entry id */
  char *text;                      /* job JSON text, owned */
  size_t text_len;                 /* bytes */
  char *given_id;                  /* stream field "id", owned, or NULL */
  unsigned attempt;                /* attempts made so far */
  long status;                     /* last HTTP status, 0 = none yet (logs) */
  int promoted;
  int ack_required;      /* 0 only for payload_lost from XAUTOCLAIM */
  int taken_over;        /* delivered by XAUTOCLAIM (another holder's lease
                            lapsed): it may have been sent already */
  struct pacer_job *job; /* parsed job, or NULL when invalid */
  char *host;            /* job->url's host, parsed once (curl_free), or
                            NULL */
  char *path;            /* job->url's path, likewise */
  enum pacer_entry_state state;
  /* The pending Redis write, kept until Redis confirms it, so it can be
   * replayed after an "outcome unknown" (docs/REDIS.md). */
  enum pacer_entry_op op;
  int ok;       /* PACER_OP_FINISH: state ok */
  int mx_state; /* PACER_OP_FINISH: enum pacer_metrics_job_state */
  struct pacer_fieldbuf res;
  struct pacer_fieldbuf dead;
  uint64_t due_unix_ms; /* PACER_OP_DEFER */
  char *member;         /* PACER_OP_DEFER, owned */
  size_t member_len;
  uint64_t cred_gen;     /* token generation the last request carried */
  uint64_t gen_401;      /* generation of the first 401 invalid_token */
  unsigned auth_replays; /* 401 invalid_token replays (no attempt used) */
  unsigned refusals;     /* refused-stream re-sends (no attempt used) */
  unsigned missed;       /* send slots missed (no attempt used) */
  char permit[PACER_LIMITER_TOKEN_SIZE]; /* in-flight permit held while running,
                                            "" = none */
  int cancel;                            /* `pacer cancel` asked while it ran */
  atomic_int abort_flag; /* set with cancel: the worker aborts the transfer
                            (the request's abort_flag, scheduler/cancel.h) */
  /* PACER_OP_FINISH of a page (scheduler/chain.h): its chain step, sent
   * before the result; owned, or NULL */
  struct pacer_sched_chain *chain;
};

/** One job a lane sent to the delayed set, until it is due
 *  (scheduler/deferred.c). */
struct pacer_deferral {
  uint64_t due_unix_ms;    /* unix ms */
  struct pacer_lane *lane; /* kept alive by its deferred count */
};

/** A min-heap of deferrals by due time. */
struct pacer_deferrals {
  struct pacer_deferral *v; /* owned */
  size_t n, cap;
};

/** The scheduler (scheduler/sched.h), all of its state. */
struct pacer_sched {
  uv_loop_t *loop;
  const struct pacer_config *cfg;
  struct pacer_queue *queue;
  struct pacer_pool *pool;
  struct pacer_entry *held_head, *held_tail;
  struct pacer_lanes lanes;
  struct pacer_throttles throttles; /* throttle keys (scheduler/throttle.h) */
  struct pacer_deferrals deferrals; /* lanes' jobs in the delayed set */
  uv_timer_t pump_timer; /* next reserved slot or lane wait, one timer */
  uv_timer_t stat_timer; /* publishes the lane snapshot */
  uv_timer_t cron_timer; /* reads the schedules (scheduler/cron_tick.c) */
  int cron_busy;         /* a schedule read is outstanding */
  void *cron_seen;       /* cJSON object: schedule name -> last tick tried */
  void *cron_tz;         /* zones loaded for schedules (cron_tick.c) */
  uint64_t pump_at_us;   /* when pump_timer fires, mono us, 0 = idle */
  struct pacer_lane_clock redis_clock; /* Redis TIME on the mono clock */
  uint64_t taker; /* this process in the limiter's blocks, 1..2^52 */
  struct pacer_entry *replay_head;
  struct pacer_sched_stats st;
  uint64_t prng;
  char consumer[128];            /* this process's consumer name */
  uint64_t permit_seq;           /* permit tokens: "<consumer>:<seq>" */
  size_t acquiring;              /* permit acquires outstanding */
  struct pacer_creds *creds;     /* OAuth2 credentials (docs/CREDENTIALS.md) */
  struct pacer_entry *cred_wait; /* entries waiting for a token, via rnext */
  size_t ncred_wait;
  uv_timer_t replay_timer;
  uv_timer_t grace_timer;
  uv_timer_t stop_timer; /* re-checks stop progress from a clean stack */
  int stopping;
  int canceled;     /* pool cancel requested */
  int pool_stopped; /* pacer_pool_stop has run */
  int closing;      /* queue/pool teardown begun */
  int pending_closes;
  pacer_sched_terminal_cb on_terminal;
  void *terminal_arg;
  void (*on_stopped)(void *arg);
  void *stopped_arg;
  struct pacer_metrics *mx;       /* counters (docs/METRICS.md), owned */
  pacer_sched_publish_cb publish; /* metrics snapshot receiver, or NULL */
  void *publish_arg;
  int mx_reading;          /* a snapshot's Redis reads are out */
  uv_timer_t cancel_timer; /* polls cancel requests (scheduler/cancel.c) */
  char **cancel_ids;       /* sorted ids the last poll saw, owned */
  size_t ncancel_ids;
  int cancel_polling; /* a poll is out */
};

/** Returns the lane of throttle key tkey (borrowed, "(host):<host>") for
 *  requests no limit covers, created when missing, set from the key's
 *  state: one request in flight while its streak is above 0, none sent
 *  before its pause ends (outcome.c). NULL when out of memory. */
struct pacer_lane *pacer_sched_host_lane(struct pacer_sched *s,
                                         const char *tkey);

/** The shared state of throttle key key (borrowed) came back from Redis
 *  (scheduler/throttle.h on_shared; arg is the scheduler): a host's lane
 *  takes it. */
void pacer_sched_on_throttle_shared(void *arg, const char *key,
                                    const struct pacer_backoff_state *st);

/** Counts one job lane l sent to the delayed set, due at due_unix_ms, in
 *  l->deferred until it is due (scheduler/deferred.c). */
void pacer_sched_deferred_add(struct pacer_sched *s, struct pacer_lane *l,
                              uint64_t due_unix_ms);

/** Drops every deferral due at now_unix_ms from its lane's count. */
void pacer_sched_deferred_expire(struct pacer_sched *s, uint64_t now_unix_ms);

/** Frees the deferral heap (after the lanes are gone). */
void pacer_sched_deferred_free(struct pacer_sched *s);

/** Returns the monotonic clock in microseconds (uv_hrtime). */
static inline uint64_t
pacer_sched_mono_us(void)
{
  return uv_hrtime() / 1000u;
}

/* ------------------------------------------------------------------ */
/* finish.c: entries and their Redis records */

/** Returns e's job id: the stream field "id", else the one in the job,
 *  else the stream entry id. Borrowed from e. */
const char *pacer_sched_entry_id(const struct pacer_entry *e);

/** Writes "job=.. lane=.. attempt=.. status=.." for e's log lines into buf
 *  (size bytes, at least PACER_SCHED_JOB_FIELDS_MAX); returns buf. */
const char *pacer_sched_job_fields(const struct pacer_entry *e, char *buf,
                                   size_t size);

/** Links e (owned by s from now on) into s's held list. */
void pacer_sched_held_link(struct pacer_sched *s, struct pacer_entry *e);

/** Unlinks e from the held list and frees it. */
void pacer_sched_entry_free(struct pacer_sched *s, struct pacer_entry *e);

/** pacer_queue's held-list callback: fills sids (max) with the stream ids
 *  s holds; returns how many. arg is s. */
size_t pacer_sched_held_list(void *arg, const char **sids, size_t max);

/** Resends every write whose outcome a lost connection left unknown. */
void pacer_sched_on_replay_timer(uv_timer_t *t);

/** Writes the terminal record of e: state st, reason r (with status for
 *  http_<status>), error (borrowed), the response (headers_json, body:
 *  borrowed, may be NULL; secrets scrubbed), stamped now_unix_ms; every
 *  state but ok also gets a dead letter. */
void pacer_sched_finish(struct pacer_sched *s, struct pacer_entry *e,
                        enum pacer_job_state st, long status,
                        enum pacer_reason r, const char *error,
                        uint64_t duration_ms, const char *headers_json,
                        const char *body, size_t body_len,
                        uint64_t now_unix_ms);

/** Ends e, unsent, as failed invalid_job with the error msg (borrowed,
 *  names the job field at fault, no secret): logs it at warn with the
 *  job's fields, then pacer_sched_finish at now_unix_ms. Loop thread. */
void pacer_sched_finish_invalid(struct pacer_sched *s, struct pacer_entry *e,
                                const char *msg, uint64_t now_unix_ms);

/** Moves e to the delayed set, due at due_unix_ms, recording attempts. */
void pacer_sched_defer(struct pacer_sched *s, struct pacer_entry *e,
                       uint64_t due_unix_ms);

/** Hands e, unstarted, back to the stream for any consumer. */
void pacer_sched_requeue(struct pacer_sched *s, struct pacer_entry *e);

/* ------------------------------------------------------------------ */
/* intake.c */

/** pacer_queue's capacity callback: how many more entries s may hold. */
size_t pacer_sched_capacity(struct pacer_queue *q, void *arg);

/** pacer_queue's entry callback: takes up one stream entry (validates it,
 *  finishes it invalid, defers it, or puts it in its lane). arg is s. */
void pacer_sched_on_entry(struct pacer_queue *q,
                          const struct pacer_queue_entry *qe, void *arg);

/** pacer_queue's (re)connect callback: replays unconfirmed writes. */
void pacer_sched_on_connected(struct pacer_queue *q, void *arg);

/** Puts e's valid job in its lane (front: first in line, as after a 429),
 *  or in the delayed set when its lane's backlog is long, at
 *  now_unix_ms. */
void pacer_sched_lane_enqueue(struct pacer_sched *s, struct pacer_entry *e,
                              int front, uint64_t now_unix_ms);

/* ------------------------------------------------------------------ */
/* request.c */

/** Returns the worker request for e's job with scheme and token (borrowed;
 *  token NULL: no Authorization), owned (pacer_http_request_free), or NULL
 *  when out of memory. */
struct pacer_http_request *pacer_sched_build_request(struct pacer_sched *s,
                                                     struct pacer_entry *e,
                                                     const char *scheme,
                                                     const char *token);

/* ------------------------------------------------------------------ */
/* dispatch.c */

/** Starts what the lanes allow now and sets the pump timer for the rest. */
void pacer_sched_pump(struct pacer_sched *s);

/** Gives back lane l's unused in-flight permit. */
void pacer_sched_lane_drop_permit(struct pacer_sched *s, struct pacer_lane *l);

/** Takes the next entry out of lane l, or NULL when it is empty. */
struct pacer_entry *pacer_sched_lane_pop_entry(struct pacer_sched *s,
                                               struct pacer_lane *l);

/** pacer_creds callback: credential c left its waiting state; releases
 *  (or parks) the entries that wait for it. arg is s. */
void pacer_sched_on_cred_changed(void *arg, struct pacer_cred *c);

/** pacer_creds callback: sends a token request through the pool. */
int pacer_sched_submit_token_request(void *arg, struct pacer_http_request *req);

/* ------------------------------------------------------------------ */
/* outcome.c */

/** The pool's outcome callback: decides (core/decide.c) and applies. */
void pacer_sched_on_outcome(struct pacer_pool *pool,
                            struct pacer_http_outcome *o, void *arg);

/* ------------------------------------------------------------------ */
/* sched.c */

/** Calls the stop callback once stopping has drained everything. */
void pacer_sched_check_stop(struct pacer_sched *s);

#endif
