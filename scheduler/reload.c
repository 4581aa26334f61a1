/* Config reload on SIGHUP and readiness: see reload.h. */
#include "scheduler/reload.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "core/config_diff.h"
#include "store/queue.h"

#include "scheduler/cred.h"
#include "scheduler/sched_int.h"

#define add pacer_diff_add

/* 1 when two limits split and match requests the same way. */
static int
same_shape(const struct pacer_limit_cfg *a, const struct pacer_limit_cfg *b)
{
  return strcmp(a->name, b->name) == 0 && a->key == b->key &&
         strcmp(a->key_header, b->key_header) == 0 &&
         strcmp(a->match_host, b->match_host) == 0 &&
         strcmp(a->match_path_prefix, b->match_path_prefix) == 0 &&
         a->match_methods == b->match_methods;
}

/* Applies limit i's run-time fields from n to c, noting each change. */
static void
limit_update(struct pacer_limit_cfg *c, const struct pacer_limit_cfg *n,
             struct pacer_reload_report *rep)
{
  if (c->rate_count != n->rate_count || c->rate_period_us != n->rate_period_us)
    add(rep->applied, sizeof(rep->applied), &rep->napplied,
        "limits.%s.rate %" PRIu64 "/%" PRIu64 "s -> %" PRIu64 "/%" PRIu64 "s",
        c->name, c->rate_count, c->rate_period_us / 1000000u, n->rate_count,
        n->rate_period_us / 1000000u);
  if (c->gcra.burst != n->gcra.burst)
    add(rep->applied, sizeof(rep->applied), &rep->napplied,
        "limits.%s.burst %" PRIu64 " -> %" PRIu64, c->name, c->gcra.burst,
        n->gcra.burst);
  if (c->max_in_flight != n->max_in_flight)
    add(rep->applied, sizeof(rep->applied), &rep->napplied,
        "limits.%s.max_in_flight %u -> %u", c->name, c->max_in_flight,
        n->max_in_flight);
  if (c->cost != n->cost || c->adaptive != n->adaptive ||
      c->pause_on_429 != n->pause_on_429)
    add(rep->applied, sizeof(rep->applied), &rep->napplied,
        "limits.%s cost/adaptive/pause_on_429", c->name);
  *c = *n; /* plain value: no pointers (core/limits.h) */
}

/* Notes a difference in a field that needs a restart. */
#define RESTART_IF(cond, name)                                                 \
  do {                                                                         \
    if (cond)                                                                  \
      add(rep->restart, sizeof(rep->restart), &rep->nrestart, "%s", name);     \
  } while (0)

/* Applies a number that is read at each use, noting the change. */
#define APPLY(field)                                                           \
  do {                                                                         \
    if (cur->field != next->field) {                                           \
      add(rep->applied, sizeof(rep->applied), &rep->napplied,                  \
          #field " %llu -> %llu", (unsigned long long)cur->field,              \
          (unsigned long long)next->field);                                    \
      cur->field = next->field;                                                \
    }                                                                          \
  } while (0)

static int
str_differ(const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return a != b;
  return strcmp(a, b) != 0;
}

/* Applies the throttle rules of next when they differ: the running
 * config takes next's list (next frees the old one). Rules are read when
 * an outcome is decided (scheduler/outcome.c), on this thread, so the
 * next outcome decided uses them; one decided already is not decided
 * again. Rules that name a limit the running config lacks (its limits
 * were not reloaded) wait for a restart. */
static void
rules_reload(struct pacer_config *cur, struct pacer_config *next,
             struct pacer_reload_report *rep)
{
  char items[PACER_RELOAD_TEXT_MAX] = "";
  struct pacer_throttle_rule *t = cur->throttle_rules;
  struct pacer_error err;
  size_t n = cur->nthrottle_rules;
  int count = 0;

  if (pacer_throttle_rules_diff(cur->throttle_rules, cur->nthrottle_rules,
                                next->throttle_rules, next->nthrottle_rules,
                                items, sizeof(items), &count) == 0)
    return;
  pacer_error_clear(&err);
  if (pacer_throttle_rules_check(next->throttle_rules, next->nthrottle_rules,
                                 cur->limits, cur->nlimits, &err) != 0) {
    add(rep->restart, sizeof(rep->restart), &rep->nrestart,
        "%s (the new rules name limits that need a restart)", items);
    return;
  }
  add(rep->applied, sizeof(rep->applied), &rep->napplied, "%s", items);
  rep->napplied += count - 1;
  cur->throttle_rules = next->throttle_rules;
  cur->nthrottle_rules = next->nthrottle_rules;
  next->throttle_rules = t;
  next->nthrottle_rules = n;
}

/* Moves into cur the credentials of next that cur lacks, appended in
 * next's order (the running state keeps creds[i] for cfg->creds[i],
 * scheduler/cred_int.h), noting each. Returns the number added, or -1
 * when none could be (too many, out of memory: listed for a restart). */
static int
creds_add(struct pacer_config *cur, struct pacer_config *next,
          struct pacer_reload_report *rep)
{
  struct pacer_cred_cfg *arr;
  size_t i, nadd = 0;

  for (i = 0; i < next->ncreds; i++)
    nadd += pacer_config_credential(cur, next->creds[i].name) == NULL;
  if (nadd == 0)
    return 0;
  arr = cur->ncreds + nadd <= PACER_CREDS_MAX
            ? realloc(cur->creds, (cur->ncreds + nadd) * sizeof(*arr))
            : NULL;
  if (arr == NULL) {
    add(rep->restart, sizeof(rep->restart), &rep->nrestart,
        "credentials added (%zu; the running ones and the new ones would "
        "be over %d, or out of memory)",
        nadd, PACER_CREDS_MAX);
    return -1;
  }
  cur->creds = arr; /* the running state is re-pointed before any use */
  for (i = 0; i < next->ncreds; i++) {
    struct pacer_cred_cfg *n = &next->creds[i];

    if (pacer_config_credential(cur, n->name) != NULL)
      continue;
    add(rep->applied, sizeof(rep->applied), &rep->napplied,
        "credentials.%s added", n->name);
    cur->creds[cur->ncreds++] = *n; /* the owned strings change hands */
    memset(n, 0, sizeof(*n));
  }
  return (int)nadd;
}

/* Applies to each credential of cur the settings next gives the credential
 * of the same name, swapping the two entries (next frees the old
 * settings, wiping secrets), and adds the credentials next has and cur
 * lacks. A credential removed is listed for a restart and stays usable
 * until then: jobs queued for it are not stranded (docs/CREDENTIALS.md
 * "Reload"). Returns the number of credentials changed or added. */
static int
creds_reload(struct pacer_config *cur, struct pacer_config *next,
             struct pacer_reload_report *rep)
{
  size_t i;
  int changed = 0;

  for (i = 0; i < cur->ncreds; i++) {
    struct pacer_cred_cfg *c = &cur->creds[i], *n = NULL, tmp;
    size_t j;

    for (j = 0; j < next->ncreds && n == NULL; j++)
      if (strcmp(next->creds[j].name, c->name) == 0)
        n = &next->creds[j];
    if (n == NULL) {
      add(rep->restart, sizeof(rep->restart), &rep->nrestart,
          "credentials.%s removed (kept until a restart)", c->name);
      continue;
    }
    if (pacer_cred_cfg_diff(c, n, rep->applied, sizeof(rep->applied),
                            &rep->napplied) == 0)
      continue;
    tmp = *c; /* same name: the owned strings change hands */
    *c = *n;
    *n = tmp;
    changed++;
  }
  return changed + (creds_add(cur, next, rep) > 0);
}

int
pacer_sched_reload(struct pacer_sched *s, struct pacer_config *cur,
                   struct pacer_config *next, int log_level_fixed,
                   int log_fixed, struct pacer_reload_report *rep)
{
  enum pacer_log_level level;
  size_t i;
  int shape = cur->nlimits == next->nlimits;

  memset(rep, 0, sizeof(*rep));
  if (str_differ(cur->log_level, next->log_level)) {
    if (log_level_fixed) {
      RESTART_IF(1, "log_level (--log-level given)");
    } else if (pacer_log_level_parse(next->log_level, &level) == 0) {
      add(rep->applied, sizeof(rep->applied), &rep->napplied,
          "log_level %s -> %s", cur->log_level, next->log_level);
      pacer_log_set_level(level);
    }
  }
  if (str_differ(cur->log, next->log)) {
    if (log_fixed)
      RESTART_IF(1, "log (--log given)");
    else if (pacer_log_set_components(next->log) == 0)
      add(rep->applied, sizeof(rep->applied), &rep->napplied, "log %s -> %s",
          cur->log, next->log);
  }
  for (i = 0; shape && i < cur->nlimits; i++)
    shape = same_shape(&cur->limits[i], &next->limits[i]);
  if (shape) {
    for (i = 0; i < cur->nlimits; i++)
      limit_update(&cur->limits[i], &next->limits[i], rep);
  } else {
    RESTART_IF(1, "limits added, removed, renamed or re-keyed");
  }
  RESTART_IF(str_differ(cur->redis_url, next->redis_url), "redis_url");
  RESTART_IF(str_differ(cur->prefix, next->prefix), "prefix");
  RESTART_IF(cur->workers != next->workers, "workers");
  RESTART_IF(cur->concurrency != next->concurrency, "concurrency");
  rules_reload(cur, next, rep);
  if (creds_reload(cur, next, rep) > 0 && s != NULL &&
      pacer_creds_reconfigured(s->creds) != 0)
    add(rep->restart, sizeof(rep->restart), &rep->nrestart,
        "credentials added (out of memory: not usable until a restart)");
  /* Read at each use on this thread (outcome, lane wait, finish, intake,
   * the finish script's arguments), so they apply from the next job on. */
  APPLY(retry_after_max_ms);
  APPLY(defer_after_ms);
  APPLY(result_body_max_bytes);
  APPLY(default_timeout_ms);
  APPLY(shutdown_grace_ms);
  APPLY(done_ttl_ms);
  APPLY(result_ttl_ms);
  APPLY(dead_ttl_ms);
  RESTART_IF(cur->lease_ms != next->lease_ms, "lease_ms");
  RESTART_IF(str_differ(cur->metrics_listen, next->metrics_listen),
             "metrics_listen");
  RESTART_IF(str_differ(cur->log_format, next->log_format), "log_format");
  return rep->napplied;
}

int
pacer_sched_ready(const struct pacer_sched *s, char *why, size_t size)
{
  uint64_t reconnects[2];
  int up[2];

  if (s == NULL) {
    snprintf(why, size, "stopped");
    return 0;
  }
  if (s->stopping) {
    snprintf(why, size, "draining: stopping after a signal");
    return 0;
  }
  pacer_queue_conn_stats(s->queue, reconnects, up);
  if (!up[0] || !up[1]) {
    snprintf(why, size, "redis: the %s connection is down",
             !up[0] ? "intake" : "command");
    return 0;
  }
  why[0] = '\0';
  return 1;
}
