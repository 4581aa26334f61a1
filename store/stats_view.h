/* The read-only stats view: what `pacer stats` (synchronous, one client
 * connection) and the worker's 1 s metrics snapshot (asynchronous, on the
 * queue's command connection) read from Redis. Nothing here writes.
 *
 *   pacer stats           pacer_stats_queue_read    XLEN, XPENDING, ZCARD,
 *                                                   XINFO CONSUMERS (one
 *                                                   pipeline)
 *                         pacer_stats_buckets_read  TIME, SCAN limit:* and
 *                                                   lanestat:*, HMGET, GET,
 *                                                   ZCOUNT inflight:*
 *                                                   GET oppause
 *   metrics, dashboard    pacer_stats_depths_read   stats_depths.lua
 *                         pacer_stats_pauses_read   stats_buckets.lua
 *
 * Keys and fields: store/keys.h. Before the first worker starts there is
 * no group "pacer": XPENDING then answers NOGROUP and XINFO answers NOGROUP
 * or "ERR no such key"; both read as 0 with group_exists 0.
 */
#ifndef PACER_STORE_STATS_VIEW_H
#define PACER_STORE_STATS_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "core/config.h"
#include "store/queue.h"

/* ------------------------------------------------------------------ */
/* Synchronous: `pacer stats` */

/** One consumer of the group on <prefix>jobs (XINFO CONSUMERS). */
struct pacer_stats_consumer {
  char *name; /* owned */
  long long pending;
  long long idle_ms;
};

/** Queue depths and consumers. */
struct pacer_stats_queue {
  long long jobs, pending, delayed, results, dead; /* entries */
  long long jobs_high, jobs_low; /* the priority streams, entries */
  int group_exists;
  struct pacer_stats_consumer *consumers; /* cap entries, nconsumers used */
  size_t nconsumers;
  size_t cap;
};

/** Reads the depths of the intake streams, the delayed set, results and
 *  dead, the pending count (all three streams) and the consumers of
 *  <prefix>jobs into st (zeroed by the caller), in one round trip on c
 *  (borrowed). Returns 0, or PACER_EREDIS / PACER_ENOMEM with err set
 *  ("redis: <command>: <reason>"); free st with pacer_stats_queue_free
 *  either way. Calling thread. */
int pacer_stats_queue_read(redisContext *c, const char *prefix,
                           struct pacer_stats_queue *st,
                           struct pacer_error *err);

/** Frees what st holds and zeroes its consumer list. */
void pacer_stats_queue_free(struct pacer_stats_queue *st);

/* Buckets shown at most. */
#define PACER_STATS_BUCKETS_MAX 200

/** One limit bucket: the shared state of <prefix>limit:<key> joined with
 *  what each worker process publishes about its lanes. */
struct pacer_stats_bucket {
  char key[PACER_LIMIT_KEY_SIZE + 8];    /* "<limit>[:<value>]" */
  double conf_rate;                      /* requests/s, 0 = unknown limit */
  double permille;                       /* AIMD effective share, 1..1000 */
  double next_slot_ms, paused_ms;        /* from Redis TIME */
  char reason[160];                      /* pause reason while paused */
  long long queued, in_flight, deferred; /* summed over processes */
  long long permits;                     /* in-flight permits, -1 = no cap */
  unsigned max_in_flight;                /* 0 = no cap */
  long long binds; /* lanes (over processes) whose pace this bucket sets
                      among their stacked limits */
};

/** The buckets found. */
struct pacer_stats_buckets {
  struct pacer_stats_bucket *b; /* owned, n used */
  size_t n;
  long long processes; /* lane snapshots read */
  double now_us;       /* Redis TIME when read, unix us */
  /* Left of the operator pause of every bucket (`pacer pause --all`,
   * store/control.h), ms; 0 = none. Every bucket above shows it too. */
  double all_paused_ms;
};

/** Reads every limit bucket (SCAN <prefix>limit:*, at most
 *  PACER_STATS_BUCKETS_MAX), the lane snapshots of every worker process
 *  (<prefix>lanestat:*), for limits with max_in_flight the live permits,
 *  and the operator pause of every bucket (<prefix>oppause), into bs
 *  (zeroed here); cfg (borrowed) gives the prefix and the
 *  configured rates. Returns 0, or -1 when Redis TIME or memory failed;
 *  free bs with pacer_stats_buckets_free either way. Calling thread. */
int pacer_stats_buckets_read(redisContext *c, const struct pacer_config *cfg,
                             struct pacer_stats_buckets *bs);

/** Frees what bs holds. */
void pacer_stats_buckets_free(struct pacer_stats_buckets *bs);

/* ------------------------------------------------------------------ */
/* Asynchronous: the worker's metrics snapshot */

/* Dead letters returned at most, newest first. */
#define PACER_STATS_DEAD_MAX 20

/** A dead letter as shown on the dashboard: never the job or excerpt. */
struct pacer_stats_dead {
  char sid[48]; /* dead stream entry id */
  char id[129]; /* job id */
  char reason[64];
  char error[256];
  uint64_t status, attempts, failed_unix_ms;
};

/** What stats_depths.lua found (cluster-wide). */
struct pacer_stats_depths {
  uint64_t at_unix_ms;   /* Redis TIME of the read */
  int64_t jobs[3];       /* XLEN jobs:high, jobs, jobs:low; -1 wrong type */
  int64_t pending;       /* delivered, not finished, all three */
  int64_t delayed;       /* ZCARD delayed (incl. parked) */
  int64_t parked;        /* delayed at the park score */
  int64_t results, dead; /* XLEN */
  size_t ndead;          /* entries in dead_letters, newest first */
  struct pacer_stats_dead dead_letters[PACER_STATS_DEAD_MAX];
  /* End of the operator pause of every bucket (`pacer pause --all`),
   * unix ms; 0 = none on */
  uint64_t all_paused_until_unix_ms;
};

/** Receives the depths (borrowed for the call), or NULL when the read
 *  failed or the connection was lost. Runs exactly once. */
typedef void (*pacer_stats_depths_cb)(const struct pacer_stats_depths *d,
                                      void *arg);

/** Reads the depths, the newest dead letters and the end of the operator
 *  pause of every bucket on q's command connection (prefix borrowed).
 *  Returns 0 (cb will run once) or PACER_EREDIS (not connected) /
 *  PACER_EINVAL (prefix too long) / PACER_ENOMEM (cb will not run).
 *  Scheduler thread. */
int pacer_stats_depths_read(struct pacer_queue *q, const char *prefix,
                            pacer_stats_depths_cb cb, void *arg);

/* Buckets per pacer_stats_pauses_read call (one script). */
#define PACER_STATS_PAUSES_MAX 60

/** The pause and AIMD state of one bucket. */
struct pacer_stats_pause {
  int valid;                    /* the fields below were read */
  uint64_t pause_until_unix_ms; /* 0 = not paused */
  char pause_reason[128];       /* the header that caused the pause */
  uint32_t permille;            /* AIMD share now, recovery applied */
};

/** Receives n states (borrowed for the call), in the order of the keys,
 *  or NULL when the read failed. Runs exactly once. */
typedef void (*pacer_stats_pauses_cb)(const struct pacer_stats_pause *p,
                                      size_t n, void *arg);

/** Reads the pause and AIMD state (the operator pause of every bucket
 *  included) of the buckets buckets[0..n) (borrowed,
 *  "<limit>[:<value>]"; n <= PACER_STATS_PAUSES_MAX) on q's command
 *  connection. Returns 0 (cb will run once) or PACER_EINVAL /
 *  PACER_EREDIS / PACER_ENOMEM (cb will not run). Scheduler thread. */
int pacer_stats_pauses_read(struct pacer_queue *q, const char *prefix,
                            const char *const *buckets, size_t n,
                            pacer_stats_pauses_cb cb, void *arg);

#endif
