/* `pacer cancel` inside the scheduler (scheduler/ only): every
 * CANCEL_POLL_MS the worker reads the cancel requests (store/cancel.h) and
 * ends the jobs it holds with state cancelled, exactly once each:
 *
 *   in a lane (READY) or waiting for a token   finished at once
 *   running                                    its transfer is aborted
 *                                              (request abort_flag); the
 *                                              outcome then ends it
 *                                              cancelled, or
 *                                              outcome_unknown for a
 *                                              POST/PATCH that may have
 *                                              been sent (no
 *                                              Idempotency-Key), or as
 *                                              it ended when a 2xx came
 *                                              first
 *   read from a stream, or deferred, later     finished by the intake or
 *                                              defer hooks below
 *
 * Scheduler thread only. */
#ifndef PACER_SCHEDULER_CANCEL_H
#define PACER_SCHEDULER_CANCEL_H

#include <stdint.h>

#include "scheduler/sched_int.h"

/** Starts polling (sched.c, at start). */
void pacer_sched_cancel_start(struct pacer_sched *s);

/** Stops polling and frees the id set (sched.c, when stopping). */
void pacer_sched_cancel_stop(struct pacer_sched *s);

/** Returns 1 when job id (borrowed) has a cancel request the last poll
 *  saw, else 0. */
int pacer_sched_cancel_wanted(const struct pacer_sched *s, const char *id);

/** Ends e (not RUNNING) with state cancelled at now_unix_ms. */
void pacer_sched_cancel_finish(struct pacer_sched *s, struct pacer_entry *e,
                               uint64_t now_unix_ms);

/** For an outcome o of a RUNNING entry e whose cancel was asked (e->cancel):
 *  returns 0 when the transfer ended with a 2xx first (the caller goes on
 *  as usual), else finishes e (cancelled, or outcome_unknown for a
 *  POST/PATCH without Idempotency-Key that reached the network) and
 *  returns 1; o stays the caller's. */
int pacer_sched_cancel_outcome(struct pacer_sched *s, struct pacer_entry *e,
                               const struct pacer_http_outcome *o,
                               uint64_t now_unix_ms);

#endif
