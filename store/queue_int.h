/* Inside the queue (store/queue.h): the state its files share. Not for
 * use outside store/queue*.c.
 *
 *   queue.c         connections (connect, AUTH/SELECT via store/redis_uv.h,
 *                   consumer groups, reconnect), the lifecycle, helpers
 *   queue_intake.c  intake rounds over the three priority streams
 *   queue_write.c   the write scripts (finish, defer, requeue) and
 *                   delayed promotion
 *   queue_drop.c    intake's done-check and claim, one script call per
 *                   intake round (store/lua/queue_dropdone.lua)
 *   queue_finish.c  results and acks, one script call per loop turn
 *                   (store/lua/queue_finish.lua)
 *   queue_lease.c   lease takeover (XAUTOCLAIM) and renewal
 */
#ifndef PACER_STORE_QUEUE_INT_H
#define PACER_STORE_QUEUE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "common/hist.h"
#include "core/config.h"
#include "store/keys.h"
#include "store/queue.h"

#define PACER_QUEUE_READ_MAX   1000u /* entries per intake read or claim */
#define PACER_QUEUE_DROP_MAX   64u   /* entries per done-check script call */
#define PACER_QUEUE_FINISH_MAX 64u   /* entries per finish script call */

/* Intake streams in order of precedence; the index of store/keys.h's
 * pacer_keys_stream, _sid_tag and _member_tag. The normal stream keeps
 * bare ids and untagged members, as before. */
enum pacer_queue_stream {
  PACER_QUEUE_HIGH = 0,
  PACER_QUEUE_NORMAL = 1,
  PACER_QUEUE_LOW = 2
};

/** The two connections: intake reads, cmd runs everything else. */
enum pacer_queue_role { PACER_QUEUE_CONN_INTAKE = 0, PACER_QUEUE_CONN_CMD = 1 };

/** One connection and its reconnect state. */
struct pacer_queue_conn {
  struct pacer_queue *q;
  redisAsyncContext *ac; /* NULL while disconnected */
  enum pacer_queue_role role;
  int up;              /* connected, AUTH/SELECT sent, group ensured */
  int groups_wait;     /* XGROUP CREATE replies still to come */
  int groups_err;      /* one of them failed: reconnecting */
  uv_timer_t retry;    /* reconnect timer */
  uint32_t backoff_ms; /* next reconnect delay, ms */
  size_t pending;      /* commands awaiting a reply */
  uint64_t connects;   /* times it became ready (metrics) */
};

/** One entry of the done-check batch (queue_drop.c): its callback and its
 *  strings in drop_buf, as offsets (the buffer may move as it grows). */
struct pacer_queue_drop_ent {
  pacer_queue_done_cb cb;
  void *privdata;
  int stream;    /* enum pacer_queue_stream of the entry */
  size_t off[4]; /* done key, claim key, entry id, job id: bytes into buf */
  size_t len[4]; /* their lengths, bytes */
};

struct drop_call; /* one intake check call (queue_drop.c) */

/** One entry of the finish batch (queue_finish.c): its callback. */
struct pacer_queue_fin_ent {
  pacer_queue_done_cb cb;
  void *privdata;
};

/** One string of the finish batch: bytes into q->fin_buf (which may move
 *  as it grows). */
struct pacer_queue_fin_str {
  size_t off; /* bytes */
  size_t len; /* bytes */
};

/** Sends the finishes waiting (pacer_queue_finish) now, as one script
 *  call; when it cannot go, their callbacks run now with PACER_EREDIS.
 *  Called by the loop's prepare handle, and by the close. Scheduler
 *  thread. */
void pacer_queue_finish_flush(struct pacer_queue *q);

/** Sends again, in order, the intake check calls whose reply was lost or
 *  that could not go while the command connection was down (their entries
 *  wait; a call that fails again waits for the next connect). Called when
 *  the command connection is up. Scheduler thread. */
void pacer_queue_drop_replay(struct pacer_queue *q);

/** Ends every intake check call still waiting to be sent: each callback
 *  runs once with PACER_EUNKNOWN (the entries stay pending in Redis and
 *  return through the lease), in order. For the close. Scheduler
 *  thread. */
void pacer_queue_drop_abandon(struct pacer_queue *q);

/** The queue (opaque in store/queue.h). */
struct pacer_queue {
  uv_loop_t *loop;
  const struct pacer_config *cfg;
  struct pacer_redis_addr addr;
  char *consumer;
  char *k_stream[PACER_KEYS_NSTREAMS]; /* <prefix>jobs:high, <prefix>jobs,
                                          ...:low */
  char *k_delayed, *k_results, *k_dead;
  char *k_donemarks;          /* <prefix>donemarks: (done-marker buckets) */
  char *k_cancel;             /* <prefix>cancel (cancel requests) */
  char *k_lanekey;            /* <prefix>lanekey */
  unsigned char lane_key[32]; /* the deployment's lane-name key */
  int lane_key_set;           /* lane_key was read from Redis */
  struct pacer_queue_cbs cbs;
  void *arg;
  struct pacer_queue_conn intake;
  struct pacer_queue_conn cmd;
  uv_timer_t promote_timer;
  uint64_t promote_at_unix_ms; /* when promote_timer fires, unix ms */
  uv_timer_t claim_timer;
  uv_timer_t renew_timer;
  uv_timer_t fetch_timer; /* delayed re-read after an error reply */
  size_t (*held_list)(void *arg, const char **sids, size_t max);
  void *held_arg;
  int started;
  int reading;   /* XREADGROUP outstanding */
  int promoting; /* promote script outstanding */
  int claiming;  /* XAUTOCLAIM outstanding */
  int intake_stopped;
  int closing;
  int pending_closes;        /* handles and connections still closing */
  int read_blocking;         /* the intake read in flight is the BLOCK one */
  uint64_t read_err_mono_ms; /* last intake error logged, uv_now ms */
  int swrr[PACER_KEYS_NSTREAMS]; /* smooth weighted round-robin state, weights
                                  */
  enum pacer_queue_stream claim_ix; /* stream of the XAUTOCLAIM in flight */
  char claim_cursor[PACER_KEYS_NSTREAMS][64];
  long long intake_client_id; /* CLIENT ID of the intake connection, or 0 */
  struct pacer_hist rtt;      /* script round trips, command connection */
  /* Intake's done-checks wait here while entries are delivered and go as
   * one script call per round (queue_drop.c). */
  struct pacer_queue_drop_ent drop[PACER_QUEUE_DROP_MAX];
  size_t ndrop;    /* entries in drop[] */
  char *drop_buf;  /* their strings (owned) */
  size_t drop_len; /* bytes of drop_buf in use */
  size_t drop_cap; /* bytes allocated */
  int delivering;  /* depth of pacer_queue_drop_begin: checks wait */
  struct drop_call *drop_replay; /* calls to send (again) once the command
                                    connection is up (queue_drop.c) */
  /* The finishes asked for in this loop turn wait here and go as one
   * script call right before the loop polls (queue_finish.c). */
  uv_prepare_t fin_prepare;
  struct pacer_queue_fin_ent fin[PACER_QUEUE_FINISH_MAX];
  size_t nfin; /* entries in fin[] */
  struct pacer_queue_fin_str
      fin_key[4 * PACER_QUEUE_FINISH_MAX]; /* their keys, 4 each */
  size_t fin_nkey;
  struct pacer_queue_fin_str *fin_arg; /* their arguments (owned) */
  size_t fin_narg, fin_arg_cap;
  char *fin_buf;         /* the strings (owned) */
  size_t fin_len;        /* bytes of fin_buf in use */
  size_t fin_cap;        /* bytes allocated */
  const char **fin_argv; /* one call's argv (owned; strings borrowed) */
  size_t *fin_lens;      /* and lengths (owned) */
  size_t fin_argv_cap;   /* entries of both */
  void (*on_closed)(void *arg);
  void *closed_arg;
};

/** Per-command context; freed in the reply callback, which hiredis runs
 * exactly once (with NULL on disconnect). */
struct pacer_queue_cmd {
  struct pacer_queue_conn *c;
  pacer_queue_done_cb cb;
  pacer_queue_reply_cb reply_cb; /* pacer_queue_eval_reply only */
  void *privdata;
  uint64_t sent_mono_us; /* when it was sent, for the round-trip metric */
};

/** "<prefix>done:<job id>": the done-marker key (owned), or NULL. */
char *pacer_queue_done_key(const struct pacer_queue *q, const char *job_id);

/** Splits sid into its stream and the bare entry id (borrowed from sid). */
enum pacer_queue_stream pacer_queue_sid_decode(const char *sid,
                                               const char **bare);

/** Writes the sid of entry id (len bytes) of stream s into out (size
 *  bytes). Returns 0, or -1 when it does not fit. */
int pacer_queue_sid_encode(char *out, size_t size, enum pacer_queue_stream s,
                           const char *id, size_t len);

/** The stream whose key is name (len bytes), or -1. */
int pacer_queue_stream_of_key(const struct pacer_queue *q, const char *name,
                              size_t len);

/** "intake" or "cmd", for logs. */
const char *pacer_queue_conn_name(const struct pacer_queue_conn *c);

/** The scheduler's free capacity (cbs.capacity), in jobs. */
size_t pacer_queue_capacity(struct pacer_queue *q);

/** Sends argv (lens NULL: C strings) on c with reply callback fn and a
 *  struct pacer_queue_cmd carrying cb/privdata. Returns 0, PACER_EREDIS
 *  (not connected; nothing runs) or PACER_ENOMEM. */
int pacer_queue_send(struct pacer_queue_conn *c, redisCallbackFn *fn,
                     pacer_queue_done_cb cb, void *privdata, int argc,
                     const char **argv, const size_t *lens);

/** Books the reply (NULL: the connection dropped) of a command sent with
 *  pacer_queue_send: one fewer pending on its connection, and its round
 *  trip in q->rtt. Returns the queue. ctx stays the caller's to free.
 *  Scheduler thread (queue.c). */
struct pacer_queue *pacer_queue_answered(struct pacer_queue_cmd *ctx,
                                         const void *reply);

/** Creates the consumer group on every intake stream (queue.c). */
void pacer_queue_ensure_group(struct pacer_queue_conn *c);

/** Delivers one XREADGROUP/XAUTOCLAIM entry of stream s (queue_intake.c). */
void pacer_queue_deliver_entry(struct pacer_queue *q, const redisReply *e,
                               int claimed, enum pacer_queue_stream s);

/** Starts an intake round over the free capacity (queue_intake.c). */
void pacer_queue_fetch(struct pacer_queue *q);

/** The blocking intake read (queue_intake.c). */
void pacer_queue_read_blocking(struct pacer_queue *q);

/** Reply callback of the intake reads (queue_intake.c). */
void pacer_queue_on_read_reply(redisAsyncContext *ac, void *r, void *priv);

/** The delayed re-read after an intake error (queue_intake.c). */
void pacer_queue_on_fetch_timer(uv_timer_t *t);

/** Entries are about to be delivered to the scheduler: done-checks
 *  (pacer_queue_drop_if_done) wait for pacer_queue_drop_end instead of
 *  going out one by one. Nests (queue_drop.c). */
void pacer_queue_drop_begin(struct pacer_queue *q);

/** The delivery is over: at the outermost end, sends the done-checks
 *  waiting as one script call (queue_drop.c). Their callbacks run with
 *  PACER_EREDIS now if it cannot be sent. */
void pacer_queue_drop_end(struct pacer_queue *q);

/** Runs the promote script now (queue_write.c). */
void pacer_queue_promote_now(struct pacer_queue *q);

/** Lease takeover and renewal timers (queue_lease.c). */
void pacer_queue_on_claim_timer(uv_timer_t *t);
void pacer_queue_on_renew_timer(uv_timer_t *t);

/** Makes room for more bytes after the first len of *buf (capacity *cap,
 *  bytes; first: the capacity of a buffer that has none yet), doubling;
 *  *buf and *cap are updated (owned by the caller). Returns 0 or
 *  PACER_ENOMEM (*buf unchanged). Any thread (queue_finish.c). */
int pacer_queue_buf_grow(char **buf, size_t *cap, size_t len, size_t more,
                         size_t first);

/** The reply of a batched script call (queue_finish.lua,
 *  queue_dropdone.lua) as a whole: 0 when it is an array of codes, else
 *  PACER_EREDIS, logged with what (the script's name in the log, static).
 *  reply borrowed, not NULL. Scheduler thread (queue_finish.c). */
int pacer_queue_batch_reply(const redisReply *reply, const char *what);

/** Entry i's code in a batched reply of n entries that
 *  pacer_queue_batch_reply accepted: 0 and *code set (0 when the element
 *  is not an integer), or PACER_EREDIS (logged) when the element is
 *  missing or an error reply of this entry alone. A code of -1 (another
 *  consumer owns the entry) is logged as a lost lease. Scheduler thread
 *  (queue_finish.c). */
int pacer_queue_batch_code(const redisReply *reply, size_t i, size_t n,
                           const char *what, long long *code);

/** Reply callback that only counts the reply (queue_lease.c). */
void pacer_queue_on_plain_reply(redisAsyncContext *ac, void *r, void *priv);

#endif
