/* Process life: what a running worker can change without a restart
 * (SIGHUP reloads the config file) and whether it is ready for work
 * (/readyz). docs/WORKERS.md "Reload and health". */
#ifndef PACER_SCHEDULER_RELOAD_H
#define PACER_SCHEDULER_RELOAD_H

#include <stddef.h>

#include "core/config.h"
#include "scheduler/sched.h"

#define PACER_RELOAD_TEXT_MAX 1024 /* each summary, bytes */

/** What pacer_sched_reload changed and what it left for a restart: "; "
 *  separated "field old -> new" items, "" when none. */
struct pacer_reload_report {
  char applied[PACER_RELOAD_TEXT_MAX];
  char restart[PACER_RELOAD_TEXT_MAX]; /* changed in the file, not applied */
  int napplied, nrestart;
};

/** Applies to cur (the running config, borrowed and changed in place) what
 *  next (a config freshly loaded and validated from the same file,
 *  borrowed; parts of it change hands with cur, so the caller frees it
 *  with pacer_config_free afterwards) changes and a running worker can
 *  take: log_level and log (unless log_level_fixed / log_fixed: given on
 *  the command line); each limit's rate, burst, cost, max_in_flight,
 *  adaptive and pause_on_429 when the limits keep their names, keys and
 *  matches in the same order (lanes and buckets are built from those);
 *  the throttle rules (added, removed, changed; presets expanded) when
 *  every limit they pause is running, used from the next outcome decided
 *  on; each credential's settings (token_url, client_id, client_secret,
 *  refresh_token, scope, hosts, timeouts, lock_ttl_ms, environment, ...;
 *  secrets as re-read from their variables and files) for credentials of
 *  the same name, used from the next token request on (one in flight
 *  goes on as sent); credentials added (usable by the next job naming
 *  them); and the numbers read at each use:
 *  retry_after_max_ms, defer_after_ms, result_body_max_bytes,
 *  default_timeout_ms, shutdown_grace_ms, done_ttl_ms, result_ttl_ms,
 *  dead_ttl_ms. Every other difference (limits added, removed or
 *  re-keyed, credentials removed (kept until then), prefix, redis_url,
 *  workers, concurrency, lease_ms, ...) is listed in rep->restart and
 *  left as it was. rep names fields, never a credential's values. s
 *  (borrowed, may be NULL) is the scheduler running cur: its credentials
 *  take their new settings. The log level and components take effect at
 *  once. Returns rep->napplied. Scheduler thread (limits, rules and
 *  credentials are read there), between two callbacks, so no decision
 *  sees half a change. */
int pacer_sched_reload(struct pacer_sched *s, struct pacer_config *cur,
                       struct pacer_config *next, int log_level_fixed,
                       int log_fixed, struct pacer_reload_report *rep);

/** Returns 1 when s (borrowed) is ready for work: both Redis connections
 *  up, not stopping; else 0 with why (size bytes) set ("redis: the intake
 *  connection is down", "draining: SIGTERM received"). NULL s (stopped):
 *  0. Scheduler thread. */
int pacer_sched_ready(const struct pacer_sched *s, char *why, size_t size);

#endif
