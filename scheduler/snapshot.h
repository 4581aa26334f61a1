/* The 1 s metrics snapshot of a worker process (docs/METRICS.md): reads what
 * only Redis knows (queue depths, dead letters, bucket pauses and AIMD rates),
 * then renders the counters, the lanes and the credentials into the
 * Prometheus text and the dashboard's JSON. Scheduler thread only; the
 * rendered text is handed to the HTTP thread by the caller.
 *
 *   tick --pacer_snapshot_read--> pacer_stats_depths_read: depths and
 *                                   dead letters
 *                                 pacer_stats_pauses_read: bucket pauses
 *                                   and AIMD (<= 60 buckets a call)
 *        <--done (all replies)--  m->redis, m->buckets[i].pause/permille
 *   --pacer_snapshot_build--> text (/metrics) + JSON (/api/state)
 *
 * The Redis reads live in the read-only stats view (store/stats_view.h,
 * nothing written); this file copies them into m and renders.
 */
#ifndef PACER_SCHEDULER_SNAPSHOT_H
#define PACER_SCHEDULER_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/lane.h"
#include "scheduler/cred.h"
#include "scheduler/metrics.h"
#include "store/queue.h"

/** Issues the Redis reads of one snapshot into m (borrowed; must outlive
 *  the reads, i.e. the queue's close). done(arg) runs once when every
 *  reply (or its loss to a disconnect) has arrived. Returns 0 (done will
 *  run) or PACER_EREDIS (not connected) / PACER_ENOMEM (done will not
 *  run). Scheduler thread. */
int pacer_snapshot_read(struct pacer_queue *q, const struct pacer_config *cfg,
                        struct pacer_metrics *m, void (*done)(void *arg),
                        void *arg);

/** What the scheduler hands to pacer_snapshot_build; all borrowed. */
struct pacer_snapshot_in {
  const struct pacer_config *cfg;
  const struct pacer_lanes *lanes;
  struct pacer_creds *creds;   /* may be NULL */
  const struct pacer_queue *q; /* may be NULL (closing) */
  const char *consumer;
  size_t held, ready, in_flight;
  uint64_t retried, deferred; /* totals */
  const size_t *cred_waiting; /* jobs waiting per cfg->creds[i] */
  size_t cred_waiting_total;
  uint64_t now_mono_us, now_unix_ms;
};

/** Advances m's rate windows and history by one tick, then renders the
 *  Prometheus text into *text and the /api/state JSON into *json
 *  (caller-owned, zero-initialised; free with pacer_text_free). Returns 0
 *  or PACER_ENOMEM. Scheduler thread. */
int pacer_snapshot_build(struct pacer_metrics *m,
                         const struct pacer_snapshot_in *in,
                         struct pacer_text *text, struct pacer_text *json);

#endif
