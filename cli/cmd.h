/* The `pacer` command's subcommands and the helpers they share.
 * Each pacer_cmd_* takes argv after the subcommand name (argv[0] is the
 * subcommand itself) and returns the process exit status. */
#ifndef PACER_CLI_CMD_H
#define PACER_CLI_CMD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "core/config.h"
#include "store/redis_sync.h"

/** `pacer worker`: the daemon. Exit 0 after a clean SIGTERM/SIGINT drain. */
int pacer_cmd_worker(int argc, char **argv);
/** `pacer submit FILE.jsonl|- [--wait]`. Exit 0 when every line was queued
 *  (and, with --wait, every job finished ok). */
int pacer_cmd_submit(int argc, char **argv);
/** `pacer run FILE.jsonl [--out F]`: embedded one-shot batch. */
int pacer_cmd_run(int argc, char **argv);
/** `pacer stats`: queue depths. */
int pacer_cmd_stats(int argc, char **argv);
/** `pacer cred set|show`: store a new refresh token and release the
 *  credential's parked jobs; show credential state (cmd_cred.c). */
int pacer_cmd_cred(int argc, char **argv);
/** `pacer cred authorize NAME`: sign in with the authorization-code grant
 *  and PKCE, store the tokens, release parked jobs (cmd_cred_authorize.c).
 *  argv[0] is "authorize". Exit 0 signed in, 1 failed, 2 usage/config/
 *  Redis error. */
int pacer_cmd_cred_authorize(int argc, char **argv);
/** `pacer result ID... [--json]`: results by id (cmd_result.c). Exit 0
 *  when every result was found, 1 when some was not. */
int pacer_cmd_result(int argc, char **argv);
/** `pacer dead list|show|retry|delete|purge` (cmd_dead.c). Exit 1 when some
 *  id had no dead letter (retry: no kept original). */
int pacer_cmd_dead(int argc, char **argv);
/** `pacer pause|resume BUCKET...|--all [--for D]` (cmd_pause.c; argv[0]
 *  says which). Exit 1 when resume found a bucket not paused. */
int pacer_cmd_pause(int argc, char **argv);
/** `pacer jobs [--state S] [--lane L] [--limit N] [--json]` (cmd_jobs.c). */
int pacer_cmd_jobs(int argc, char **argv);
/** `pacer cancel ID... [--timeout S]` (cmd_cancel.c). */
int pacer_cmd_cancel(int argc, char **argv);

/** `pacer schedule add|list|show|remove|pause|resume|run-now`: recurring
 *  schedules in Redis (cmd_schedule.c, docs/CHAINS.md "Schedules"). */
int pacer_cmd_schedule(int argc, char **argv);

/** Set of job ids a batch waits for: an open-addressing hash set. */
struct pacer_idset;

/** Returns an owned empty set sized for n ids (free with
 *  pacer_idset_free), NULL on out of memory. */
struct pacer_idset *pacer_idset_new(size_t n);
/** Adds id (borrowed, copied). Returns 1 if added, 0 if already present,
 *  PACER_ENOMEM on failure. */
int pacer_idset_add(struct pacer_idset *set, const char *id);
/** Removes id when present. Returns 1 if it was present, else 0. */
int pacer_idset_remove(struct pacer_idset *set, const char *id);
/** Returns the number of ids in the set. */
size_t pacer_idset_count(const struct pacer_idset *set);
/** Frees set. NULL does nothing. */
void pacer_idset_free(struct pacer_idset *set);

/** Outcome of queueing a JSONL file. */
struct pacer_submit_stats {
  size_t lines;    /* non-blank lines read */
  size_t queued;   /* jobs XADDed */
  size_t rejected; /* lines refused (each reported on stderr) */
  size_t finished; /* not queued: the job id already finished within
                      done_ttl_ms (its done-marker exists) */
};

/** Reads JSONL jobs from in (borrowed; path is only for messages),
 *  validates each with pacer_job_parse (cfg limits), reports each rejected
 *  line on stderr as "PATH:LINE: <field>: <reason>", and XADDs the good ones
 *  to the stream of their priority (<prefix>jobs, <prefix>jobs:high,
 *  <prefix>jobs:low) with pipelined commands: fields `job <text>` plus
 *  `id <generated>` when the job has none. Every queued id is added to ids
 *  (borrowed; may be NULL). Returns 0 with *stats filled, or a negative
 *  code with err set on a Redis/read failure (lines queued so far stay
 *  queued). */
int pacer_submit_stream(redisContext *c, const struct pacer_config *cfg,
                        FILE *in, const char *path, struct pacer_idset *ids,
                        struct pacer_submit_stats *stats,
                        struct pacer_error *err);

/** Progress display: a bar with rate and ETA on a terminal, a plain line
 *  per second otherwise, on stderr. */
struct pacer_progress {
  size_t total;           /* jobs expected */
  size_t ok;              /* finished ok */
  size_t failed;          /* finished failed */
  uint64_t start_mono_ms; /* when the batch started, monotonic ms */
  uint64_t last_print_mono_ms;
  int tty;                 /* stderr is a terminal */
  FILE *summary;           /* where the summary line goes; NULL = stdout */
  uint64_t throttled;      /* 429s (and 503 + Retry-After) met so far */
  int eta_set;             /* eta_at_mono_ms below replaces the completion
                              rate's estimate (pacer_progress_set_eta) */
  int eta_known;           /* with eta_set: an estimate exists */
  uint64_t eta_at_mono_ms; /* with eta_known: when the batch should end */
};

/** Sets the display's ETA from the buckets' rates (core/progress.h):
 *  eta_ms from now_mono_ms when known, or "-" when not. */
void pacer_progress_set_eta(struct pacer_progress *p, int known,
                            uint64_t eta_ms, uint64_t now_mono_ms);

/** Starts a progress display for total jobs at now_mono_ms. */
void pacer_progress_start(struct pacer_progress *p, size_t total,
                          uint64_t now_mono_ms);
/** Redraws when due (10/s on a tty, 1/s otherwise) or when force. */
void pacer_progress_update(struct pacer_progress *p, uint64_t now_mono_ms,
                           int force);
/** Ends the bar (newline on a tty) and prints the summary line:
 *  "done: N jobs, ok A, failed B in T s (R jobs/s)". */
void pacer_progress_finish(struct pacer_progress *p, uint64_t now_mono_ms);

/** Matches argv[*i] (borrowed) against the option name (e.g. "--config")
 *  that takes a value, as "--config VALUE" or "--config=VALUE". Returns 1
 *  with *value borrowed from argv (and *i advanced past a separate value),
 *  0 when argv[*i] is not this option, or PACER_EINVAL with err set
 *  ("--config: needs a value") when the value is missing. */
int pacer_cli_opt_value(int argc, char **argv, int *i, const char *name,
                        const char **value, struct pacer_error *err);

/** Parses a duration "N" followed by one unit of ms, s, m, h or d (e.g.
 *  "90s", "15m", "2h") into *ms. name (borrowed) is the option, for the
 *  message. Returns 0, or PACER_EINVAL with err set ("--for: \"5x\" is not
 *  a duration: use N followed by ms, s, m, h or d, e.g. 15m") for a bad,
 *  zero or over-30-day value. */
int pacer_cli_duration_ms(const char *s, const char *name, uint64_t *ms,
                          struct pacer_error *err);

/* Left of a pause beyond this is an operator pause until `pacer resume`
 * (its end is 2^52 us, in 2112; `--for` is at most 30 days), ms. */
#define PACER_CLI_PAUSE_FOREVER_MS 100000000000ull

/** Writes how long an operator pause lasts into buf (size bytes): "for N
 *  s (until <UTC time>)" with left_ms (ms) to go until end_unix_ms (unix
 *  ms), or "until `pacer resume<how>`" (how borrowed, e.g. " --all") when
 *  left_ms is 0 or over PACER_CLI_PAUSE_FOREVER_MS. */
void pacer_cli_pause_text(uint64_t left_ms, uint64_t end_unix_ms,
                          const char *how, char *buf, size_t size);

/** Builds a client command's configuration in cfg: defaults, then the file
 *  config_path (borrowed, NULL for none), then $PACER_REDIS_URL, then
 *  redis_url (borrowed, NULL for none: the --redis option). Returns 0, or
 *  PACER_ECONFIG / PACER_ENOMEM with err set. Free cfg with
 *  pacer_config_free in either case. */
int pacer_cli_config_load(struct pacer_config *cfg, const char *config_path,
                          const char *redis_url, struct pacer_error *err);

/** As pacer_cli_config_load, but the credentials' secrets are neither
 *  resolved nor checked: for `pacer cred`, which needs only the names,
 *  prefix and redis_url, so that an operator fixing a credential does not
 *  need the workers' client secrets in the environment. The file buffer
 *  is wiped. Returns 0, or PACER_ECONFIG / PACER_ENOMEM with err set. Free
 *  cfg with pacer_config_free in either case. */
int pacer_cli_config_load_names(struct pacer_config *cfg,
                                const char *config_path, const char *redis_url,
                                struct pacer_error *err);

/** Applies $PACER_REDIS_URL, then redis_url (borrowed, NULL for none: the
 *  --redis option) to cfg's redis_url. Returns 0, or PACER_ECONFIG /
 *  PACER_ENOMEM with err set. */
int pacer_cli_config_redis(struct pacer_config *cfg, const char *redis_url,
                           struct pacer_error *err);

/** Parses cfg->redis_url (cfg borrowed) and connects with
 *  pacer_redis_sync_connect, bounded by cfg->connect_timeout_ms. Returns an
 *  owned context (free with redisFree) or NULL with err set. */
redisContext *pacer_cli_redis_connect(const struct pacer_config *cfg,
                                      struct pacer_error *err);

/** Options shared by `pacer worker` and `pacer run`; strings borrowed from
 *  argv, zero/NULL when not given. */
struct pacer_cli_opts {
  const char *config;     /* --config FILE */
  const char *redis;      /* --redis URL */
  const char *log_level;  /* --log-level L */
  const char *log;        /* --log SPEC (or --log-components SPEC) */
  const char *log_format; /* --log-format logfmt|json */
  unsigned workers;       /* --workers N, 0 = config */
  unsigned concurrency;   /* --concurrency N, 0 = config */
  const char *prefix;     /* `pacer worker --prefix P` (one), or NULL */
};

/** Most prefixes one `pacer worker` serves (repeated --prefix). */
#define PACER_CLI_PREFIXES_MAX 64

/** `pacer worker` with two or more --prefix options: starts one
 *  `pacer worker ... --prefix P` child process per prefix (argv as given,
 *  minus its --prefix options; only the first child keeps --metrics, the
 *  others get --metrics off), forwards SIGINT, SIGTERM and SIGHUP to each
 *  once, and when one child exits unasked stops the others with SIGTERM.
 *  prefixes (borrowed, nprefixes of them, 2 to PACER_CLI_PREFIXES_MAX)
 *  are already checked. Returns the worst child exit status (128 + signal
 *  for a child killed by one, except by the SIGINT/SIGTERM forwarded to
 *  stop it), 2 when a child cannot be started. Main
 *  thread; blocks until every child has exited. */
int pacer_cli_worker_prefixes(int argc, char **argv,
                              const char *const *prefixes, int nprefixes);

/** Consumes one shared option at argv[*i] into o. Returns 1 when taken
 *  (*i advanced past a separate value), 0 when argv[*i] is not a shared
 *  option, or PACER_EINVAL with err set ("--workers: ..."). */
int pacer_cli_common_opt(int argc, char **argv, int *i,
                         struct pacer_cli_opts *o, struct pacer_error *err);

/** Loads cfg (pacer_cli_config_load) and applies o's overrides and the log
 *  level, components and format. Returns 0 or PACER_ECONFIG with err set.
 *  Free cfg with pacer_config_free in either case. Main thread, before
 *  threads start. */
int pacer_cli_setup(struct pacer_config *cfg, const struct pacer_cli_opts *o,
                    struct pacer_error *err);

#endif
