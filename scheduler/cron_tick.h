/* Scheduler, schedules (scheduler/cron_tick.c, docs/CHAINS.md
 * "Schedules"). For the scheduler's files only; scheduler thread. */
#ifndef PACER_SCHEDULER_CRON_TICK_H
#define PACER_SCHEDULER_CRON_TICK_H

#define PACER_SCHED_CRON_POLL_MS                                               \
  500u /* schedules are read this often, +-20 %, ms */

struct pacer_sched;

/** Starts reading the schedules every PACER_SCHED_CRON_POLL_MS on
 *  s->cron_timer (initialised by pacer_sched_new). */
void pacer_sched_cron_start(struct pacer_sched *s);

/** Frees what the schedule reader keeps (the ticks it saw claimed). */
void pacer_sched_cron_free(struct pacer_sched *s);

#endif
