/* `pacer worker`: the daemon. */
#include "cli/cmd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/log.h"
#include "common/utf8.h"
#include "scheduler/reload.h"
#include "scheduler/sched.h"
#include "server/metrics_http.h"

struct worker_ctx {
  struct pacer_sched *sched;
  uv_signal_t sigint, sigterm, sighup;
  uv_timer_t ready_timer;   /* reports readiness to /readyz, 1 s */
  struct pacer_config *cfg; /* the running config (reload: in place) */
  const struct pacer_cli_opts *opts;
  struct pacer_metrics_http *mh; /* or NULL */
  int signals;                   /* signals seen */
  int stopped;                   /* scheduler fully stopped */
};

static void
usage(FILE *out)
{
  fputs("usage: pacer worker [--config FILE] [--redis URL] [--workers N]\n"
        "                    [--concurrency N] [--log-level L] [--log SPEC]\n"
        "                    [--log-format logfmt|json]\n"
        "                    [--metrics HOST:PORT [--metrics-token-file F]]\n"
        "                    [--prefix P]...\n"
        "\n"
        "Runs the scheduler and N worker threads: takes jobs from\n"
        "<prefix>jobs:high, <prefix>jobs and <prefix>jobs:low (6:3:1,\n"
        "consumer group \"pacer\"), runs them, writes one result per job\n"
        "to <prefix>results and failures to <prefix>dead.\n"
        "\n"
        "options:\n"
        "  --config FILE     JSON config (see README \"Configuration\")\n"
        "  --redis URL       redis://[[user]:pass@]host[:port][/db] or\n"
        "                    unix://[[user]:pass@]/path.sock[?db=N];\n"
        "                    overrides PACER_REDIS_URL, which overrides\n"
        "                    the config\n"
        "  --workers N       worker threads (default: online CPUs)\n"
        "  --concurrency N   requests in flight per process (default 256)\n"
        "  --log-level L     debug, info (default), warn, error, off\n"
        "  --log SPEC        components to log, e.g. all,-redis (also\n"
        "                    --log-components SPEC); components: main,\n"
        "                    sched, redis, limit, cred, http\n"
        "  --log-format F    logfmt (default): key=value lines; json: one\n"
        "                    JSON object per line, every value a string\n"
        "  --metrics HOST:PORT\n"
        "                    serve /metrics (Prometheus), /api/state and\n"
        "                    the dashboard at / (config metrics_listen);\n"
        "                    e.g. 127.0.0.1:9464\n"
        "  --metrics-token-file F\n"
        "                    require Authorization: Bearer <token in F>\n"
        "                    (config metrics_token_file); needed for an\n"
        "                    address that is not loopback\n"
        "                    --metrics off: none, whatever the config says\n"
        "  --prefix P        serve the queue with key prefix P instead of\n"
        "                    the config's prefix; repeat it to serve several\n"
        "                    queues: one worker process per prefix, started\n"
        "                    and signalled by this one (docs/DEPLOY.md); only\n"
        "                    the first prefix's worker serves --metrics\n"
        "  -h, --help        show this help\n"
        "\n"
        "SIGHUP: reload the --config file (limits, throttle rules, credential\n"
        "settings, log level); an invalid file is refused and logged, the\n"
        "worker runs on (README.md \"Reload\" says what needs a restart).\n"
        "SIGINT/SIGTERM: stop taking jobs, hand unstarted jobs back, let\n"
        "in-flight requests finish (shutdown_grace_ms), exit 0. A second\n"
        "signal exits at once (status 1); its jobs return after the lease.\n",
        out);
}

/* Parses a positive integer option value. */
static int
parse_count(const char *name, const char *v, unsigned max, unsigned *out,
            struct pacer_error *err)
{
  char *end;
  unsigned long n = strtoul(v, &end, 10);

  if (*v == '\0' || *end != '\0' || n < 1 || n > max)
    return pacer_error_set(err, PACER_EINVAL,
                           "%s: \"%s\" is not a whole number from 1 to %u",
                           name, v, max);
  *out = (unsigned)n;
  return 0;
}

int
pacer_cli_common_opt(int argc, char **argv, int *i, struct pacer_cli_opts *o,
                     struct pacer_error *err)
{
  const char *v = NULL;
  int rc;

  if ((rc = pacer_cli_opt_value(argc, argv, i, "--config", &o->config, err)))
    return rc;
  if ((rc = pacer_cli_opt_value(argc, argv, i, "--redis", &o->redis, err)))
    return rc;
  if ((rc = pacer_cli_opt_value(argc, argv, i, "--log-level", &o->log_level,
                                err)))
    return rc;
  if ((rc = pacer_cli_opt_value(argc, argv, i, "--log", &o->log, err)))
    return rc;
  if ((rc = pacer_cli_opt_value(argc, argv, i, "--log-components", &o->log,
                                err)))
    return rc;
  if ((rc = pacer_cli_opt_value(argc, argv, i, "--log-format", &o->log_format,
                                err)))
    return rc;
  if ((rc = pacer_cli_opt_value(argc, argv, i, "--workers", &v, err))) {
    if (rc < 0)
      return rc;
    rc = parse_count("--workers", v, 1024, &o->workers, err);
    return rc < 0 ? rc : 1;
  }
  if ((rc = pacer_cli_opt_value(argc, argv, i, "--concurrency", &v, err))) {
    if (rc < 0)
      return rc;
    rc = parse_count("--concurrency", v, 100000, &o->concurrency, err);
    return rc < 0 ? rc : 1;
  }
  return 0;
}

int
pacer_cli_setup(struct pacer_config *cfg, const struct pacer_cli_opts *o,
                struct pacer_error *err)
{
  enum pacer_log_level level;
  enum pacer_log_format format;
  const char *lv, *spec, *fmt;
  int rc;

  rc = pacer_cli_config_load(cfg, o->config, o->redis, err);
  if (rc != 0)
    return rc;
  if (o->prefix != NULL) {
    char *p = strdup(o->prefix);

    if (p == NULL)
      return pacer_error_set(err, PACER_ENOMEM, "--prefix: out of memory");
    free(cfg->prefix);
    cfg->prefix = p;
  }
  if (o->workers)
    cfg->workers = o->workers;
  if (o->concurrency)
    cfg->concurrency = o->concurrency;
  lv = o->log_level ? o->log_level : cfg->log_level;
  if (pacer_log_level_parse(lv, &level) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "log level: \"%s\" is not one of debug, info, warn, "
                           "error, off",
                           lv);
  pacer_log_set_level(level);
  fmt = o->log_format ? o->log_format : cfg->log_format;
  if (pacer_log_format_parse(fmt, &format) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "log format: \"%s\" is not logfmt or json", fmt);
  pacer_log_set_format(format);
  spec = o->log ? o->log : cfg->log;
  if (pacer_log_set_components(spec) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "log: \"%s\" is not a component list such as "
                           "all,-redis",
                           spec);
  return 0;
}

static void
on_stopped(void *arg)
{
  struct worker_ctx *w = arg;

  w->stopped = 1;
  w->sched = NULL;
  uv_close((uv_handle_t *)&w->sigint, NULL);
  uv_close((uv_handle_t *)&w->sigterm, NULL);
  uv_close((uv_handle_t *)&w->sighup, NULL);
  uv_close((uv_handle_t *)&w->ready_timer, NULL);
}

/* SIGHUP: reloads the config file; an invalid one is refused and the
 * running config kept (scheduler/reload.h says what can change). Never
 * stops the worker. */
static void
on_hup(uv_signal_t *h, int signum)
{
  struct worker_ctx *w = h->data;
  struct pacer_reload_report rep;
  struct pacer_config next;
  struct pacer_error err;
  char q[sizeof(err.msg) + 16], a[PACER_RELOAD_TEXT_MAX + 16],
      r[PACER_RELOAD_TEXT_MAX + 16];

  (void)signum;
  if (w->opts->config == NULL) {
    pacer_log(PACER_LOG_WARN, "main",
              "msg=\"SIGHUP: no --config file to reload\"");
    return;
  }
  pacer_error_clear(&err);
  if (pacer_cli_config_load(&next, w->opts->config, w->opts->redis, &err) !=
      0) {
    pacer_log(PACER_LOG_ERROR, "main",
              "msg=\"config reload refused: keeping the running config\" "
              "error=\"%s\"",
              pacer_log_quote(q, sizeof(q), err.msg));
    pacer_config_free(&next);
    return;
  }
  if (w->opts->prefix != NULL) { /* --prefix wins over the file */
    char *p = strdup(w->opts->prefix);

    if (p == NULL) {
      pacer_log(PACER_LOG_ERROR, "main",
                "msg=\"config reload refused: out of memory\"");
      pacer_config_free(&next);
      return;
    }
    free(next.prefix);
    next.prefix = p;
  }
  pacer_sched_reload(w->sched, w->cfg, &next, w->opts->log_level != NULL,
                     w->opts->log != NULL, &rep);
  pacer_log(PACER_LOG_INFO, "main",
            "msg=\"config reloaded\" applied=%d changes=\"%s\" "
            "needs_restart=\"%s\"",
            rep.napplied, pacer_log_quote(a, sizeof(a), rep.applied),
            pacer_log_quote(r, sizeof(r), rep.restart));
  pacer_config_free(&next);
}

static void
on_ready_timer(uv_timer_t *t)
{
  struct worker_ctx *w = t->data;
  char why[160];
  int ready =
      pacer_sched_ready(w->signals > 0 ? NULL : w->sched, why, sizeof(why));

  if (w->signals > 0)
    snprintf(why, sizeof(why), "draining: stopping after a signal");
  pacer_metrics_http_set_ready(w->mh, ready, why);
}

static void
on_signal(uv_signal_t *h, int signum)
{
  struct worker_ctx *w = h->data;

  if (++w->signals > 1) {
    static const char msg[] = "pacer: second signal, exiting now; unfinished "
                              "jobs return to the queue after the lease\n";

    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
      /* nothing to do */
    }
    _exit(1);
  }
  pacer_log(PACER_LOG_INFO, "main",
            "msg=\"signal received, draining\" "
            "signal=%d",
            signum);
  if (w->mh != NULL)
    pacer_metrics_http_set_ready(w->mh, 0, "draining: stopping after a signal");
  if (w->sched != NULL)
    pacer_sched_stop(w->sched, on_stopped, w);
}

static volatile sig_atomic_t start_stop; /* a signal while waiting */

static void
on_start_signal(int signum)
{
  (void)signum;
  start_stop = 1;
}

/* Checks Redis at start, waiting for it (capped backoff, 0.1 s doubling
 * to 5 s) when it cannot be reached yet: systemd may start the worker
 * before Redis, and the checks below must not be skipped then.
 * - Redis refuses our credentials (wrong password, unknown or disabled
 *   ACL user, a password required but none given) or the db index: the
 *   start fails; the async connections would retry that forever.
 * - An evicting Redis silently loses jobs (streams, the delayed set,
 *   credential state are keys like any other), so maxmemory-policy must be
 *   noeviction unless redis_eviction is "warn" (e2e_eviction).
 * Returns 0 to go on, 1 when SIGINT/SIGTERM came while waiting (exit 0),
 * or -1 when the worker must refuse, with the reason logged. A CONFIG GET
 * refused for other reasons (renamed command, ACL) is reported, not held
 * against the worker. Main thread, before the loop starts. */
static int
check_redis(const struct pacer_config *cfg)
{
  struct sigaction sa, old_int, old_term;
  struct pacer_error err;
  redisContext *c;
  char policy[64];
  uint64_t wait_ms = 100;
  int rc = 0, prc, waited = 0;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_start_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  for (;;) {
    char q[sizeof(err.msg) + 16];

    pacer_error_clear(&err);
    c = pacer_cli_redis_connect(cfg, &err);
    if (c != NULL || err.code == PACER_EAUTH || err.code == PACER_ECONFIG ||
        start_stop)
      break;
    if (!waited)
      pacer_log(PACER_LOG_WARN, "main",
                "msg=\"waiting for Redis before starting\" error=\"%s\"",
                pacer_log_quote(q, sizeof(q), err.msg));
    waited = 1;
    for (uint64_t slept = 0; slept < wait_ms && !start_stop; slept += 50) {
      struct timespec ts = {0, 50 * 1000 * 1000};

      nanosleep(&ts, NULL);
    }
    if (wait_ms < 5000)
      wait_ms *= 2;
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (start_stop) { /* also when it came as the connect succeeded */
    if (c != NULL)
      redisFree(c);
    return 1;
  }
  if (c == NULL) {
    char q[sizeof(err.msg) + 16];

    const char *why = "Redis refused the connection setup; check redis_url";

    if (err.code == PACER_EAUTH)
      why = "Redis refused our credentials; check the user and password in "
            "redis_url";
    else if (strncmp(err.msg, "redis_url:", 10) == 0)
      why = "redis_url cannot be used";
    pacer_log(PACER_LOG_ERROR, "main", "msg=\"%s\" error=\"%s\"", why,
              pacer_log_quote(q, sizeof(q), err.msg));
    return -1;
  }
  if (waited)
    pacer_log(PACER_LOG_INFO, "main", "msg=\"Redis is up\"");
  prc = pacer_redis_sync_maxmemory_policy(c, policy, sizeof(policy));
  if (prc == PACER_EAUTH) {
    pacer_log(PACER_LOG_ERROR, "main",
              "msg=\"Redis requires a password: put it in redis_url "
              "(redis://[user]:password@host or unix://[user]:password@/path)"
              "\"");
    rc = -1;
  } else if (prc != 0) {
    pacer_log(PACER_LOG_WARN, "main",
              "msg=\"cannot read Redis maxmemory-policy (CONFIG GET refused?); "
              "make sure it is noeviction\"");
  } else if (strcmp(policy, "noeviction") != 0) {
    char q[64];

    pacer_log(cfg->eviction_refuse ? PACER_LOG_ERROR : PACER_LOG_WARN, "main",
              "msg=\"Redis maxmemory-policy is %s: Redis may evict jobs and "
              "results under memory pressure; set maxmemory-policy "
              "noeviction%s\"",
              pacer_log_quote(q, sizeof(q), policy),
              cfg->eviction_refuse
                  ? " (or \\\"redis_eviction\\\": \\\"warn\\\" to run anyway)"
                  : "");
    rc = cfg->eviction_refuse ? -1 : 0;
  }
  redisFree(c);
  return rc;
}

/* The metrics token: --metrics-token-file, else the config's
 * metrics_token_file (relative to the config file's directory), else its
 * inline metrics_token. Returns 0 with *out (owned, wipe; NULL = none) or
 * PACER_ECONFIG. */
static int
metrics_token(const struct pacer_config *cfg, const char *config_path,
              const char *cli_file, char **out, struct pacer_error *err)
{
  const char *file = cli_file != NULL ? cli_file : cfg->metrics_token_file;
  char path[4096];
  const char *slash;
  int rc;

  *out = NULL;
  if (file == NULL) {
    if (cfg->metrics_token == NULL)
      return 0;
    *out = strdup(cfg->metrics_token);
    return *out != NULL
               ? 0
               : pacer_error_set(err, PACER_ENOMEM, "metrics: out of memory");
  }
  if (cli_file == NULL && file[0] != '/' && config_path != NULL &&
      (slash = strrchr(config_path, '/')) != NULL) {
    if ((size_t)snprintf(path, sizeof(path), "%.*s/%s",
                         (int)(slash - config_path), config_path,
                         file) >= sizeof(path))
      return pacer_error_set(err, PACER_ECONFIG,
                             "metrics_token_file: path too long");
    file = path;
  }
  rc = pacer_metrics_token_read(file, out, err);
  return rc;
}

/* Checks a --prefix value as the config checks "prefix". Returns 0 or
 * PACER_EINVAL with err set. */
static int
prefix_check(const char *p, struct pacer_error *err)
{
  size_t n = strlen(p);

  if (n == 0 || n > 128)
    return pacer_error_set(err, PACER_EINVAL,
                           "--prefix: must be 1 to 128 bytes");
  if (pacer_utf8_printable_len(p, n) != n)
    return pacer_error_set(err, PACER_EINVAL,
                           "--prefix: byte %zu is a control character or not "
                           "UTF-8; use printable text such as \"{orders}:\"",
                           pacer_utf8_printable_len(p, n));
  return 0;
}

/* Starts the metrics endpoint when asked for (--metrics or
 * metrics_listen). Returns 0 (*out NULL when not asked for) or a negative
 * code with err set: the worker then refuses to start. */
static int
metrics_start(const struct pacer_config *cfg, const char *config_path,
              const char *listen, const char *token_file,
              struct pacer_metrics_http **out, struct pacer_error *err)
{
  char *token = NULL, q[320];
  int rc;

  *out = NULL;
  if (listen != NULL && strcmp(listen, "off") == 0)
    return 0; /* --metrics off */
  if (listen == NULL)
    listen = cfg->metrics_listen;
  if (listen == NULL) {
    if (token_file != NULL)
      return pacer_error_set(err, PACER_ECONFIG,
                             "--metrics-token-file: needs --metrics "
                             "HOST:PORT (or metrics_listen)");
    return 0;
  }
  rc = metrics_token(cfg, config_path, token_file, &token, err);
  if (rc == 0)
    rc = pacer_metrics_http_start(listen, token, out, err);
  pacer_log(rc == 0 ? PACER_LOG_INFO : PACER_LOG_ERROR, "main",
            "msg=\"%s\" listen=%s metrics_port=%u auth=%s",
            rc == 0 ? "metrics listening" : "metrics endpoint refused",
            pacer_log_value(q, sizeof(q), listen),
            rc == 0 ? pacer_metrics_http_port(*out) : 0u,
            token != NULL ? "bearer" : "none");
  if (token != NULL) {
    explicit_bzero(token, strlen(token));
    free(token);
  }
  return rc;
}

int
pacer_cmd_worker(int argc, char **argv)
{
  struct pacer_cli_opts opts;
  struct pacer_config cfg;
  struct pacer_error err;
  struct worker_ctx w;
  struct pacer_metrics_http *mh = NULL;
  const char *metrics_listen = NULL, *metrics_token_file = NULL;
  const char *prefixes[PACER_CLI_PREFIXES_MAX];
  uv_loop_t *loop;
  int i, rc, nprefixes = 0;

  memset(&opts, 0, sizeof(opts));
  memset(&cfg, 0, sizeof(cfg));
  memset(&w, 0, sizeof(w));
  pacer_error_clear(&err);
  {
    /* SIGHUP's default kills the process: ignore it until the loop takes
     * it over (on_hup). */
    struct sigaction ign;

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGHUP, &ign, NULL);
  }
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    rc = pacer_cli_common_opt(argc, argv, &i, &opts, &err);
    if (rc == 0)
      rc = pacer_cli_opt_value(argc, argv, &i, "--metrics", &metrics_listen,
                               &err);
    if (rc == 0)
      rc = pacer_cli_opt_value(argc, argv, &i, "--metrics-token-file",
                               &metrics_token_file, &err);
    if (rc == 0 && (rc = pacer_cli_opt_value(argc, argv, &i, "--prefix",
                                             &opts.prefix, &err)) == 1) {
      rc = prefix_check(opts.prefix, &err);
      if (rc == 0 && nprefixes == PACER_CLI_PREFIXES_MAX)
        rc = pacer_error_set(&err, PACER_EINVAL, "--prefix: at most %d",
                             PACER_CLI_PREFIXES_MAX);
      for (int k = 0; rc == 0 && k < nprefixes; k++)
        if (strcmp(prefixes[k], opts.prefix) == 0)
          rc = pacer_error_set(&err, PACER_EINVAL,
                               "--prefix: \"%s\" given twice", opts.prefix);
      if (rc == 0) {
        prefixes[nprefixes++] = opts.prefix;
        rc = 1;
      }
    }
    if (rc < 0) {
      fprintf(stderr, "worker: %s\n", err.msg);
      return 2;
    }
    if (rc == 0) {
      fprintf(stderr, "worker: %s: unknown option\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (nprefixes > 1) {
    /* Check the config once here, so a bad file fails before any child
     * starts; each child loads it again with its own prefix. */
    rc = pacer_cli_setup(&cfg, &opts, &err);
    pacer_config_free(&cfg);
    if (rc != 0) {
      fprintf(stderr, "worker: %s\n", err.msg);
      return 2;
    }
    return pacer_cli_worker_prefixes(argc, argv, prefixes, nprefixes);
  }
  if (pacer_cli_setup(&cfg, &opts, &err) != 0) {
    fprintf(stderr, "worker: %s\n", err.msg);
    pacer_config_free(&cfg);
    return 2;
  }
  rc = check_redis(&cfg);
  if (rc == 1) { /* stopped while waiting for Redis */
    pacer_config_free(&cfg);
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "worker: refusing to run (see the log line above)\n");
    pacer_config_free(&cfg);
    return 2;
  }
  if (metrics_start(&cfg, opts.config, metrics_listen, metrics_token_file, &mh,
                    &err) != 0 ||
      (mh != NULL &&
       pacer_metrics_http_set_store(mh, cfg.redis_url, cfg.prefix,
                                    cfg.connect_timeout_ms, &err) != 0)) {
    fprintf(stderr, "worker: %s\n", err.msg);
    pacer_config_free(&cfg);
    return 2;
  }
  loop = uv_default_loop();
  if (pacer_sched_new(loop, &cfg, &w.sched, &err) != 0) {
    fprintf(stderr, "worker: %s\n", err.msg);
    pacer_metrics_http_stop(mh);
    pacer_config_free(&cfg);
    return 2;
  }
  if (mh != NULL)
    pacer_sched_set_publisher(w.sched, pacer_metrics_http_publish, mh);
  if (pacer_sched_start(w.sched, &err) != 0) {
    fprintf(stderr, "worker: %s\n", err.msg);
    pacer_metrics_http_stop(mh);
    pacer_config_free(&cfg);
    return 2;
  }
  uv_signal_init(loop, &w.sigint);
  uv_signal_init(loop, &w.sigterm);
  w.sigint.data = &w;
  w.sigterm.data = &w;
  uv_signal_start(&w.sigint, on_signal, SIGINT);
  uv_signal_start(&w.sigterm, on_signal, SIGTERM);
  w.cfg = &cfg;
  w.opts = &opts;
  w.mh = mh;
  uv_signal_init(loop, &w.sighup);
  w.sighup.data = &w;
  uv_signal_start(&w.sighup, on_hup, SIGHUP);
  uv_timer_init(loop, &w.ready_timer);
  w.ready_timer.data = &w;
  if (mh != NULL) {
    uv_timer_start(&w.ready_timer, on_ready_timer, 0, 1000);
    uv_unref((uv_handle_t *)&w.ready_timer);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  if (rc != 0)
    pacer_log(PACER_LOG_WARN, "main",
              "msg=\"loop not empty at exit\" "
              "error=%s",
              pacer_err_name(rc));
  pacer_log(PACER_LOG_INFO, "main", "msg=\"stopped\"");
  pacer_metrics_http_stop(mh); /* after the loop: nothing publishes now */
  pacer_config_free(&cfg);
  return w.stopped ? 0 : 1;
}
