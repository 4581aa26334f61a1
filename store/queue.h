/* Redis queue: intake, finish, defer, requeue, delayed promotion, lease
 * takeover, all on the scheduler's libuv loop through hiredis async.
 *
 * Two connections, so a blocking XREADGROUP never holds up writes:
 *
 *   intake  EVAL intake round: XREADGROUP ... COUNT n STREAMS <one> >
 *             for high, normal, low, then high, normal again
 *           XREADGROUP ... COUNT 1 BLOCK 1000 STREAMS <all three> > > >
 *             (only after a round that found every stream empty)
 *   cmd     EVAL finish/defer/requeue/promote, XAUTOCLAIM, XCLAIM (renew),
 *           EVAL intake check (one per round's entries, queue_drop.c)
 *
 * Three intake streams, one per job priority: <prefix>jobs:high,
 * <prefix>jobs (normal) and <prefix>jobs:low. Each round splits the free
 * capacity 6:3:1 among them; a share a stream cannot use passes down.
 *
 * Each connection reconnects on its own with capped exponential backoff
 * (100 ms doubling to 5 s). Commands whose reply is lost to a disconnect
 * complete with PACER_EUNKNOWN ("outcome unknown"), never success; the
 * scripts are idempotent (they act only while XACK still finds the entry
 * pending), so the caller replays them after on_connected. Key layout and
 * fields: docs/REDIS.md.
 */
#ifndef PACER_STORE_QUEUE_H
#define PACER_STORE_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "core/config.h"

struct pacer_queue;

#define PACER_QUEUE_ATTEMPT_MAX 1000 /* largest valid "attempt" field */
#define PACER_QUEUE_SID_MAX     47   /* longest sid handed out, bytes */

/** One stream entry delivered to the scheduler, borrowed for the length of
 *  the on_entry call (copy what you keep). sid is opaque: pass it back as
 *  it is to finish, defer, requeue and the held list. It names the stream
 *  and the entry: "1764403200000-0" in <prefix>jobs, "h/1764403200000-0"
 *  in jobs:high, "l/1764403200000-0" in jobs:low. */
struct pacer_queue_entry {
  const char *sid;    /* opaque entry handle, <= PACER_QUEUE_SID_MAX bytes */
  const char *job;    /* job JSON text, or NULL when the payload is gone */
  size_t job_len;     /* bytes */
  const char *id;     /* "id" field, or NULL */
  unsigned attempt;   /* attempts already made (field "attempt") */
  unsigned throttled; /* 429s met so far ("attempt" = "<n>.<429s>") */
  uint64_t enqueued_unix_ms; /* when the job first entered a stream, unix
                                ms ("attempt" = "<n>.<429s>.<ms>", else
                                the entry id's time); 0 = unknown */
  int promoted;              /* came from the delayed set: skip not_before */
  int claimed;               /* taken over from another consumer (XAUTOCLAIM) */
  int bad_attempt;           /* the "attempt" field was malformed */
  int no_job_field;          /* the entry has no "job" field (job is "") */
  int dup_job_field;         /* the entry has the "job" field more than once */
};

/** Callbacks into the scheduler. All run on the scheduler thread. */
struct pacer_queue_cbs {
  /** A new entry (intake or takeover). */
  void (*on_entry)(struct pacer_queue *q, const struct pacer_queue_entry *e,
                   void *arg);
  /** The command connection is (re)established and the consumer group
   *  exists: replay commands that completed with PACER_EUNKNOWN. */
  void (*on_connected)(struct pacer_queue *q, void *arg);
  /** Free capacity: how many more entries the scheduler will take now. */
  size_t (*capacity)(struct pacer_queue *q, void *arg);
};

/** Completion of a script command: status 0 with applied=1 (done) or 0
 *  (entry no longer pending: someone else finished it, nothing written);
 *  PACER_EUNKNOWN when the connection dropped (replay later); PACER_EREDIS
 *  for an error reply (detail logged). Runs exactly once per call that
 *  returned 0, on the scheduler thread. */
typedef void (*pacer_queue_done_cb)(struct pacer_queue *q, int status,
                                    int applied, void *privdata);

struct redisReply;

/** Reply to pacer_queue_eval_reply: reply is borrowed for the call (copy
 *  what you keep), or NULL when the connection dropped (outcome unknown).
 *  Error replies are logged and passed on. Scheduler thread; runs exactly
 *  once per call that returned 0. */
typedef void (*pacer_queue_reply_cb)(struct pacer_queue *q,
                                     const struct redisReply *reply,
                                     void *privdata);

/** A field list for XADD: n name/value pairs, borrowed. */
struct pacer_fields {
  const char **argv; /* name0, value0, name1, value1, ... */
  size_t *lens;      /* byte length of each */
  size_t n;          /* number of strings (2 x pairs) */
};

/** Creates the queue for cfg (borrowed; must outlive q) on loop (borrowed)
 *  with consumer name consumer (copied). Returns 0 and *out (owned; close
 *  with pacer_queue_close), or PACER_ECONFIG/PACER_ENOMEM with err set.
 *  Does not connect yet. Scheduler thread. */
int pacer_queue_new(uv_loop_t *loop, const struct pacer_config *cfg,
                    const char *consumer, const struct pacer_queue_cbs *cbs,
                    void *arg, struct pacer_queue **out,
                    struct pacer_error *err);

/** Connects both connections and starts intake, delayed promotion (timer
 *  re-armed from the earliest due score, at most 1 s apart, and again after
 *  every reconnect), lease takeover (every lease/4) and lease renewal of
 *  held entries (every lease/3). Scheduler thread. */
void pacer_queue_start(struct pacer_queue *q);

/** Asks for more intake now (after capacity grew). Cheap; idempotent. */
void pacer_queue_poke(struct pacer_queue *q);

/** Stops intake and takeover; entries already in flight from Redis are
 *  still delivered. Other commands keep working. */
void pacer_queue_stop_intake(struct pacer_queue *q);

/** Atomically acks sid, appends res to the results stream (MAXLEN ~) and,
 *  when dead is non-NULL, to the dead stream, sets the job id's
 *  done-marker when res says state ok (its "id" field; done_ttl_ms, 0 =
 *  none), then XDELs sid. Fenced: nothing is written unless sid is still
 *  pending and owned by this consumer (e2e_fence: after a lost lease the
 *  new owner's result is the one), and a job id that already finished
 *  within done_ttl_ms gets no second result (the entry is acked and
 *  deleted; applied=0). With ack_required=0 (payload_lost: the PEL entry
 *  is already gone) the records are written unconditionally.
 *  Batched: sid, res and dead (borrowed) are copied, and the finishes
 *  asked for in one loop turn go as one script call
 *  (store/lua/queue_finish.lua, at most PACER_QUEUE_FINISH_MAX = 64 per
 *  call) right before the loop next polls, so none waits past the turn;
 *  the callbacks run in call order from its one reply. An entry with
 *  ack_required=0 goes alone, at once. cb gets PACER_EUNKNOWN for a lost
 *  reply and PACER_EREDIS for an error reply (its own entry's, or the
 *  call's) or when the batch could not be sent; the entry is then
 *  pending as before, and sending it again is safe. cb never runs inside
 *  this call, except when a full batch could not be sent: then the
 *  callbacks of the entries before this one run with PACER_EREDIS first.
 *  Returns 0 (cb will run once), PACER_EREDIS when not connected or
 *  closing (cb will not run; retry after on_connected), PACER_EINVAL
 *  (too many fields) or PACER_ENOMEM. The scripts and key layout:
 *  docs/REDIS.md. Scheduler thread. */
int pacer_queue_finish(struct pacer_queue *q, const char *sid, int ack_required,
                       const struct pacer_fields *res,
                       const struct pacer_fields *dead, pacer_queue_done_cb cb,
                       void *privdata);

/** Atomically acks sid, adds member to the delayed set at due_unix_ms and
 *  XDELs sid. member is "<id>\n<attempt>\n<job JSON>" (docs/REDIS.md); for
 *  an entry of jobs:high or jobs:low the script stores it with a tag line
 *  after the attempt, so promotion puts the job back into the same stream.
 *  job_id (borrowed, may be NULL): when sid holds the id's claim, the
 *  claim moves with the job to the delayed set, so a copy of the id that
 *  arrives meanwhile is folded into it (docs/REDIS.md "One job id at a
 *  time"). Returns/callback as pacer_queue_finish. */
int pacer_queue_defer(struct pacer_queue *q, const char *sid,
                      uint64_t due_unix_ms, const char *member,
                      size_t member_len, const char *job_id,
                      pacer_queue_done_cb cb, void *privdata);

/** Atomically acks sid, re-adds fields as a new entry at the end of sid's
 *  stream and XDELs sid (hands an unstarted job back to other consumers
 *  at once). Returns/callback as pacer_queue_finish. */
int pacer_queue_requeue(struct pacer_queue *q, const char *sid,
                        const struct pacer_fields *fields,
                        pacer_queue_done_cb cb, void *privdata);

#define PACER_QUEUE_DROP_NOT_OURS 2 /* applied: not pending here any more */
#define PACER_QUEUE_DROP_REFUSED  4 /* applied: this entry's check failed */

/** Intake's duplicate check: when job_id (borrowed, copied) has a
 *  done-marker (set by pacer_queue_finish for done_ttl_ms), acks and
 *  deletes sid (borrowed, copied) unsent and cb gets applied=1. Otherwise
 *  sid takes the id's claim (`<prefix>claim:<id>`, docs/REDIS.md "One job
 *  id at a time"), unless another entry that is still pending holds it:
 *  then sid is acked and deleted unsent, folded into that entry
 *  (applied=3). applied=PACER_QUEUE_DROP_NOT_OURS: the entry is no longer
 *  pending for this consumer (an earlier run of this very check, whose
 *  reply was lost, dropped or folded it; or another consumer took it over
 *  or finished it): do nothing with it. applied=0 means run the job (claim
 *  taken). A lost reply is not reported: the call is sent again once the
 *  command connection is back, and a check asked for while it is down
 *  waits for it, so an entry never runs unchecked. status PACER_EREDIS
 *  with applied=PACER_QUEUE_DROP_REFUSED: Redis refused this entry's own
 *  check (a key of the job id of the wrong type, or no such group; the
 *  text is logged here), or the reply held no code for it: the id's
 *  claim was not taken, so the entry must not run yet (the caller leaves
 *  it for a later check). Any other error (PACER_EREDIS for the whole
 *  call) or a close (PACER_EUNKNOWN) may be treated as "run it": the
 *  finish script's pending check and marker still keep the result single.
 *  Batched: called from on_entry while the queue delivers a reply's
 *  entries, the check waits and goes with the others of that delivery as
 *  one script call (store/lua/queue_dropdone.lua, at most
 *  PACER_QUEUE_DROP_MAX = 64 entries per call) when the delivery ends, and
 *  the callbacks run in call order from its one reply; called at any
 *  other time it goes at once. So cb never runs inside this call, except
 *  when a full batch could not be sent: then the callbacks of the
 *  entries before this one run with PACER_EREDIS first.
 *  Returns 0 (cb will run once) or PACER_EREDIS when the queue is
 *  closing, PACER_ENOMEM (cb will not run). Scheduler thread. */
int pacer_queue_drop_if_done(struct pacer_queue *q, const char *sid,
                             const char *job_id, pacer_queue_done_cb cb,
                             void *privdata);

/** Sets the stream ids whose lease is renewed (XCLAIM ... JUSTID) every
 *  lease/3: fn is called to list them. Borrowed strings. */
void pacer_queue_set_held(struct pacer_queue *q,
                          size_t (*list)(void *arg, const char **sids,
                                         size_t max),
                          void *arg);

/** Returns non-zero while an intake read (XREADGROUP) awaits its reply. */
int pacer_queue_reading(const struct pacer_queue *q);

/** Returns non-zero when the command connection is up. */
int pacer_queue_connected(const struct pacer_queue *q);

/** Returns the number of commands awaiting a reply on either connection. */
size_t pacer_queue_pending(const struct pacer_queue *q);

/** Runs EVAL script (borrowed; sent as text, Redis caches it) with nkeys
 *  keys and nargs args (borrowed; arglens may be NULL for C strings) on the
 *  command connection; cb gets the reply. Returns 0, PACER_EINVAL (too many
 *  arguments), PACER_EREDIS (not connected; cb will not run) or
 *  PACER_ENOMEM. Scheduler thread. */
int pacer_queue_eval_reply(struct pacer_queue *q, const char *script, int nkeys,
                           const char *const *keys, int nargs,
                           const char **args, const size_t *arglens,
                           pacer_queue_reply_cb cb, void *privdata);

/** Publishes this process's lane snapshot json (len bytes, borrowed) to
 *  <prefix>lanestat:<consumer> with a TTL of ttl_ms (store/keys.h;
 *  store/lua/queue_lanestat.lua), on the command connection; cb (may be
 *  NULL) gets the reply. Returns as pacer_queue_eval_reply. Scheduler
 *  thread. */
int pacer_queue_lanestat_set(struct pacer_queue *q, const char *json,
                             size_t len, uint64_t ttl_ms,
                             pacer_queue_reply_cb cb, void *privdata);

struct pacer_hist;

/** Returns the histogram of script round trips on the command connection
 *  (send to reply, replies lost to a disconnect not counted), borrowed
 *  from q. Scheduler thread. */
const struct pacer_hist *pacer_queue_rtt(const struct pacer_queue *q);

/** Fills reconnects[0] (intake) and [1] (command connection) with how
 *  often each connection became ready again after its first time, and
 *  up[] with 1 while it is ready. Scheduler thread. */
void pacer_queue_conn_stats(const struct pacer_queue *q, uint64_t reconnects[2],
                            int up[2]);

/** Returns the key prefix ("pacer:"), borrowed from the config. */
const char *pacer_queue_prefix(const struct pacer_queue *q);

/** The deployment's key of lane names from secret headers
 *  (<prefix>lanekey, 32 bytes; core/limits.h pacer_limit_key_keyed),
 *  borrowed, or NULL before the intake connection has read it (no job is
 *  read before). Scheduler thread. */
const unsigned char *pacer_queue_lane_key(const struct pacer_queue *q);

/** Disconnects both connections (outstanding callbacks run with
 *  PACER_EUNKNOWN), stops the timers and frees q once every handle has
 *  closed; on_closed (may be NULL) runs then. Scheduler thread. */
void pacer_queue_close(struct pacer_queue *q, void (*on_closed)(void *arg),
                       void *arg);

#endif
