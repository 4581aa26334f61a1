/* Scheduler, chains (docs/CHAINS.md): after the response of a job with
 * "paginate", the next page's job or the chain's summary, written through
 * store/queue_chain.h before the page's own result. For the scheduler's
 * files only; scheduler thread. */
#ifndef PACER_SCHEDULER_CHAIN_H
#define PACER_SCHEDULER_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "store/queue.h"

#define PACER_SCHED_CHAIN_SUMMARY_MAX 28u /* strings in a summary */

struct pacer_sched;
struct pacer_entry;
struct pacer_http_outcome;

/** The chain step of one finishing page, owned by its entry (e->chain)
 *  until the entry is freed. */
struct pacer_sched_chain {
  char *result_id; /* the page's result id "<root>#<page>", owned */
  char *root_id;   /* the first job's id, owned */
  char *chain;     /* the chain's identity, owned */
  uint32_t page;   /* 1, 2, ... */
  int64_t items;   /* items on this page, -1 when not counted */
  char *next_job;  /* the next page's job JSON, owned, or NULL at the end */
  size_t next_len; /* bytes */
  int next_prio;   /* enum pacer_priority */
  /* the summary at the end: name, value, ... owned; nsummary 0 before */
  char *summary[PACER_SCHED_CHAIN_SUMMARY_MAX];
  const char *summary_view[PACER_SCHED_CHAIN_SUMMARY_MAX]; /* the same */
  size_t summary_lens[PACER_SCHED_CHAIN_SUMMARY_MAX];      /* bytes */
  size_t nsummary;                                         /* strings */
  int summary_ok; /* the chain ended well */
  int stepped;    /* Redis confirmed the step */
  int ended;      /* the step writes the chain's last result */
  int acks;       /* report chain: the step acks the entry and its last
                     result is e->res (no result per request) */
  uint64_t next_due_unix_ms; /* > 0: the next job waits in the delayed set */
  char *next_id;             /* the next job's id, owned, or NULL */
};

/** Finishes e after outcome o (borrowed) with the decision's state st,
 *  status, reason r and error (borrowed), keeping the response when
 *  keep_response: as pacer_sched_finish for a plain job; for a job with
 *  "paginate" (core/paginate.c) or "poll" (core/poll.c) it first decides
 *  what follows and prepares e->chain, the next job or the chain's last
 *  result, which send_op writes first. Out of memory is logged and leaves
 *  the entry to its lease. */
void pacer_sched_chain_finish(struct pacer_sched *s, struct pacer_entry *e,
                              const struct pacer_http_outcome *o,
                              enum pacer_job_state st, long status,
                              enum pacer_reason r, const char *error,
                              uint64_t duration_ms, int keep_response,
                              uint64_t now_unix_ms);

/** Sends e's chain step (store/queue_chain.h); cb as pacer_queue_finish's.
 *  Returns as pacer_queue_chain_step. */
int pacer_sched_chain_send(struct pacer_sched *s, struct pacer_entry *e,
                           pacer_queue_done_cb cb);

/** The id of e's result: "<root>#<page>" for a page, else the entry id. */
const char *pacer_sched_result_id(const struct pacer_entry *e);

/** Frees c. NULL does nothing. */
void pacer_sched_chain_free(struct pacer_sched_chain *c);

#endif
