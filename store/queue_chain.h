/* The durable step between the jobs of a chain (docs/CHAINS.md): after a
 * page's response, queue the next page's job or write the chain's summary
 * result, exactly once per page, in one script
 * (store/lua/chain_step.lua). */
#ifndef PACER_STORE_QUEUE_CHAIN_H
#define PACER_STORE_QUEUE_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "store/queue.h"

/** One chain step. All pointers borrowed for the call. */
struct pacer_chain_step_args {
  const char *root_id;    /* the first job's id */
  const char *chain;      /* the chain's identity (the first entry's sid) */
  uint32_t page;          /* the page that finished: 1, 2, ... */
  int64_t items;          /* items on it, or -1 when not counted */
  int ack;                /* also XACK and XDEL the entry (report chains) */
  const char *count_name; /* the end's count field: "pages" or "requests" */
  /* Either the next job (next_job != NULL) ... */
  const char *next_job; /* its JSON text */
  size_t next_len;      /* bytes */
  int next_prio;        /* enum pacer_priority: the stream it goes to */
  const char *next_id;  /* its id, for the delayed member */
  uint64_t next_due_ms; /* > 0: waits in the delayed set until then (unix
                           ms), else goes to its stream now */
  /* ... or the last result's fields (count_name and "items" are added). */
  const struct pacer_fields *summary;
  int summary_ok;                  /* sets the done-marker of root_id */
  const struct pacer_fields *dead; /* with summary: a dead letter, or NULL */
};

/** Runs the step for the entry sid (pending, ours) of the page that
 *  finished. cb gets status 0 with applied 1 (written, or written before
 *  by an earlier run of the same page) or 0 (the entry is no longer ours:
 *  nothing written), PACER_EUNKNOWN (connection dropped: send again) or
 *  PACER_EREDIS. Returns 0 (cb runs once), PACER_EREDIS (not connected;
 *  cb will not run), PACER_EINVAL or PACER_ENOMEM. Scheduler thread. */
int pacer_queue_chain_step(struct pacer_queue *q, const char *sid,
                           const struct pacer_chain_step_args *a,
                           pacer_queue_done_cb cb, void *privdata);

#endif
