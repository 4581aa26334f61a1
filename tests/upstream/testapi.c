/* pacer-testapi: a marketing-API look-alike on 127.0.0.1 for pacer's
 * integration tests. See --help for flags and endpoints.
 *
 * Threads: libmicrohttpd runs one thread per connection (so /slow and
 * /drip may sleep without holding up anyone else) plus its listen thread.
 * The main thread only parses flags, starts the daemon, prints
 * "listening port=N" and waits in sigwait() for SIGINT/SIGTERM. */
#include "testapi_int.h"

#include "common/clock.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CONN_LIMIT     4096u /* concurrent connections */
#define CONN_TIMEOUT_S 120u  /* idle keep-alive connection timeout */
#define LISTEN_BACKLOG 1024u
#define THREAD_STACK   (512u * 1024u) /* bytes per connection thread */
#define BODY_BYTES_MAX 67108864u      /* --body-bytes cap */
#define LATENCY_MAX_MS 60000u

static const char usage[] =
    "usage: pacer-testapi [options]\n"
    "\n"
    "A test upstream that behaves like a rate-limited marketing API.\n"
    "Listens on 127.0.0.1 only; prints \"listening port=N\" first.\n"
    "\n"
    "  --port N            port, 0 = pick a free one (default 0)\n"
    "  --bind A            listen on A, inside 127.0.0.0/8 (default "
    "127.0.0.1)\n"
    "  --rate R[/s]        limit per account and per token, sliding 1 s\n"
    "                      window; excess -> 429 (default off)\n"
    "  --token-rate R[/s]  per-token limit instead of --rate: an app\n"
    "                      limit over the per-account one\n"
    "  --token-ttl D       access-token lifetime, D = N[ms|s|m] (default "
    "3600s)\n"
    "  --rotate            rotate refresh tokens; reuse revokes the family\n"
    "  --require-auth      /v1/... needs Authorization: Bearer AT-n\n"
    "  --latency-ms A[-B]  uniform random delay on /v1/... responses\n"
    "  --fail-rate P       fraction 0..1 of /v1/... answered 503\n"
    "  --drop-rate P       fraction 0..1 of /v1/... closed unanswered\n"
    "  --body-bytes N      campaign stats body size (default 512)\n"
    "  --retry-after V     literal Retry-After on 429s (\"\" = no header)\n"
    "  --seed N            PRNG seed (default: time and pid)\n"
    "  --log FILE          append one JSON line per request\n"
    "  --raw-port N        also serve scripted broken HTTP (/raw/reset,\n"
    "                      /raw/bad-header, /raw/silent, ...) on port N\n"
    "                      (0 = free) and a never-accepting blackhole\n"
    "                      port; prints \"raw port=N blackhole port=M\"\n"
    "  --help              this text\n"
    "\n"
    "Endpoints:\n"
    "  PUT|POST /v1/adaccounts/{id}/campaigns   JSON body -> 200 or 400\n"
    "  GET  /v1/campaigns/{id}/stats[?account=]  ~--body-bytes of JSON\n"
    "  ANY  /v1/scoped                  403 insufficient_scope\n"
    "  GET  /fast                       200 \"ok\"\n"
    "  GET  /status/{code}[?retry_after=V][&header=Name:V]\n"
    "  GET  /slow?ms=N                  answer after N ms (<= 60000)\n"
    "  GET  /big?bytes=N, /big-chunked?bytes=N [&status=S]\n"
    "  GET  /gzip-bomb?bytes=N[&status=S]  gzip of N zero bytes\n"
    "  GET  /drip?bytes=N&interval_ms=M  chunked, one byte per M ms\n"
    "  ANY  /echo                       JSON of the request\n"
    "  POST /oauth2/access_token        grant_type=refresh_token&...\n"
    "  GET  /stats                      counters; GET /admin/requests?since=\n"
    "  POST /admin/reset|revoke|mint|expire|script\n";

/* ------------------------------------------------------------------ */
/* Shared services                                                     */
/* ------------------------------------------------------------------ */

uint64_t
pacer_testapi_rng_next(uint64_t *state)
{
  /* xorshift64* (Vigna); state is never 0 (seeded through splitmix64). */
  uint64_t x = *state;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t
splitmix64(uint64_t x)
{
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

uint64_t
pacer_testapi_now_ms(const struct pacer_testapi *api)
{
  return pacer_clock_mono_ms() - api->start_mono_ms;
}

int
pacer_testapi_sleep_ms(struct pacer_testapi *api, uint64_t ms)
{
  struct timespec deadline;
  int stopped;

  if (clock_gettime(CLOCK_MONOTONIC, &deadline) != 0)
    return -1;
  deadline.tv_sec += (time_t)(ms / 1000);
  deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&api->stop_mu);
  while (!api->stopping) {
    if (pthread_cond_timedwait(&api->stop_cv, &api->stop_mu, &deadline) ==
        ETIMEDOUT)
      break;
  }
  stopped = api->stopping;
  pthread_mutex_unlock(&api->stop_mu);
  return stopped ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Flags                                                               */
/* ------------------------------------------------------------------ */

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
  char *end;
  unsigned long long v;

  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max)
    return -1;
  *out = v;
  return 0;
}

/* N, Nms, Ns or Nm; a bare number is seconds. */
static int
parse_duration_ms(const char *s, uint64_t *out)
{
  char num[24];
  size_t n = strspn(s, "0123456789");
  uint64_t v;
  uint64_t mult;

  if (n == 0 || n >= sizeof(num))
    return -1;
  memcpy(num, s, n);
  num[n] = '\0';
  if (parse_u64(num, UINT64_MAX / 60000u, &v) != 0)
    return -1;
  if (strcmp(s + n, "ms") == 0)
    mult = 1;
  else if (strcmp(s + n, "s") == 0 || s[n] == '\0')
    mult = 1000;
  else if (strcmp(s + n, "m") == 0)
    mult = 60000;
  else
    return -1;
  *out = v * mult;
  return *out > 0 ? 0 : -1;
}

static int
parse_rate(const char *s, uint32_t *out)
{
  char num[16];
  size_t n = strspn(s, "0123456789");
  uint64_t v;

  if (n == 0 || n >= sizeof(num) || (s[n] != '\0' && strcmp(s + n, "/s")))
    return -1;
  memcpy(num, s, n);
  num[n] = '\0';
  if (parse_u64(num, 1000000u, &v) != 0)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

static int
parse_prob_ppm(const char *s, uint32_t *out)
{
  char *end;
  double p;

  errno = 0;
  p = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(p >= 0.0 && p <= 1.0))
    return -1;
  *out = (uint32_t)lround(p * 1e6);
  return 0;
}

static int
parse_latency(const char *s, uint32_t *lo, uint32_t *hi)
{
  char num[24];
  const char *dash = strchr(s, '-');
  size_t n = dash != NULL ? (size_t)(dash - s) : strlen(s);
  uint64_t a;
  uint64_t b;

  if (n == 0 || n >= sizeof(num))
    return -1;
  memcpy(num, s, n);
  num[n] = '\0';
  if (parse_u64(num, LATENCY_MAX_MS, &a) != 0)
    return -1;
  b = a;
  if (dash != NULL && (parse_u64(dash + 1, LATENCY_MAX_MS, &b) != 0 || b < a))
    return -1;
  *lo = (uint32_t)a;
  *hi = (uint32_t)b;
  return 0;
}

static int
bad_flag(const char *flag, const char *value, const char *want)
{
  fprintf(stderr, "pacer-testapi: %s: invalid value \"%s\"; expected %s\n",
          flag, value != NULL ? value : "", want);
  return -1;
}

static int
takes_value(const char *flag)
{
  static const char *const flags[] = {
      "--port",      "--rate",      "--token-ttl",  "--latency-ms",
      "--fail-rate", "--drop-rate", "--body-bytes", "--retry-after",
      "--seed",      "--log",       "--raw-port",   "--bind",
      "--token-rate"};
  size_t i;

  for (i = 0; i < PACER_ARRAY_SIZE(flags); i++) {
    if (strcmp(flag, flags[i]) == 0)
      return 1;
  }
  return 0;
}

static int
parse_args(int argc, char **argv, struct pacer_testapi_config *cfg)
{
  int i;
  uint64_t v;

  for (i = 1; i < argc; i++) {
    const char *f = argv[i];
    const char *val = NULL;
    char name[32];
    const char *eq = strchr(f, '=');

    /* --flag value and --flag=value */
    if (eq != NULL && (size_t)(eq - f) < sizeof(name)) {
      memcpy(name, f, (size_t)(eq - f));
      name[eq - f] = '\0';
      f = name;
      val = eq + 1;
    }
    if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
      fputs(usage, stdout);
      exit(0);
    }
    if (strcmp(f, "--rotate") == 0) {
      cfg->rotate = 1;
      continue;
    }
    if (strcmp(f, "--require-auth") == 0) {
      cfg->require_auth = 1;
      continue;
    }
    if (!takes_value(f)) {
      fprintf(stderr, "pacer-testapi: unknown option %s (see --help)\n", f);
      return -1;
    }
    if (val == NULL) {
      if (i + 1 >= argc) {
        fprintf(stderr, "pacer-testapi: %s: missing value (see --help)\n", f);
        return -1;
      }
      val = argv[++i];
    }
    if (strcmp(f, "--port") == 0) {
      if (parse_u64(val, 65535, &v) != 0)
        return bad_flag(f, val, "0..65535");
      cfg->port = (unsigned int)v;
    } else if (strcmp(f, "--rate") == 0) {
      if (parse_rate(val, &cfg->rate_per_s) != 0)
        return bad_flag(f, val, "R/s with R in 0..1000000");
    } else if (strcmp(f, "--token-rate") == 0) {
      if (parse_rate(val, &cfg->token_rate_per_s) != 0)
        return bad_flag(f, val, "R/s with R in 0..1000000");
    } else if (strcmp(f, "--token-ttl") == 0) {
      if (parse_duration_ms(val, &cfg->token_ttl_ms) != 0)
        return bad_flag(f, val, "N[ms|s|m] above 0, e.g. 3s");
    } else if (strcmp(f, "--latency-ms") == 0) {
      if (parse_latency(val, &cfg->latency_min_ms, &cfg->latency_max_ms))
        return bad_flag(f, val, "MIN or MIN-MAX ms, at most 60000");
    } else if (strcmp(f, "--fail-rate") == 0) {
      if (parse_prob_ppm(val, &cfg->fail_ppm) != 0)
        return bad_flag(f, val, "a fraction 0..1");
    } else if (strcmp(f, "--drop-rate") == 0) {
      if (parse_prob_ppm(val, &cfg->drop_ppm) != 0)
        return bad_flag(f, val, "a fraction 0..1");
    } else if (strcmp(f, "--body-bytes") == 0) {
      if (parse_u64(val, BODY_BYTES_MAX, &cfg->body_bytes) != 0)
        return bad_flag(f, val, "0..67108864");
    } else if (strcmp(f, "--retry-after") == 0) {
      if (strpbrk(val, "\r\n") != NULL)
        return bad_flag(f, val, "a single-line header value");
      cfg->retry_after = val;
    } else if (strcmp(f, "--raw-port") == 0) {
      if (parse_u64(val, 65535, &v) != 0)
        return bad_flag(f, val, "0..65535");
      cfg->raw_port = (int)v;
    } else if (strcmp(f, "--bind") == 0) {
      struct in_addr a;

      /* loopback only: a second address for redirect-hop tests */
      if (inet_pton(AF_INET, val, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
        return bad_flag(f, val, "an IPv4 address in 127.0.0.0/8");
      cfg->bind_addr = a.s_addr;
    } else if (strcmp(f, "--seed") == 0) {
      if (parse_u64(val, UINT64_MAX, &cfg->seed) != 0)
        return bad_flag(f, val, "an unsigned integer");
    } else {
      cfg->log_path = val; /* --log, the last of takes_value() */
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

static void
raise_fd_limit(void)
{
  struct rlimit rl;

  /* 512+ keep-alive clients need more than the usual 1024 soft limit
   * once tests open logs and pipes too. Best effort. */
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 65536) {
    rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      fprintf(stderr, "pacer-testapi: could not raise RLIMIT_NOFILE\n");
  }
}

static int
api_init(struct pacer_testapi *api)
{
  pthread_condattr_t ca;
  char msg[128];

  api->start_mono_ms = pacer_clock_mono_ms();
  api->rng = splitmix64(api->cfg.seed);
  if (api->rng == 0)
    api->rng = 1;
  api->log_fd = -1;
  if (pthread_mutex_init(&api->mu, NULL) != 0 ||
      pthread_mutex_init(&api->stop_mu, NULL) != 0 ||
      pthread_mutex_init(&api->log_mu, NULL) != 0 ||
      pthread_condattr_init(&ca) != 0)
    return -1;
  if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
      pthread_cond_init(&api->stop_cv, &ca) != 0) {
    pthread_condattr_destroy(&ca);
    return -1;
  }
  pthread_condattr_destroy(&ca);
  if (pacer_testapi_stats_init(&api->stats) != 0)
    return -1;
  api->tokens =
      pacer_testapi_tokens_new(api->cfg.token_ttl_ms, api->cfg.rotate);
  if (api->tokens == NULL)
    return -1;
  if (pacer_testapi_gen_init() != 0 || pacer_testapi_routes_init() != 0)
    return -1;
  if (api->cfg.log_path != NULL) {
    api->log_fd = open(api->cfg.log_path,
                       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (api->log_fd < 0) {
      int e = errno;

      if (strerror_r(e, msg, sizeof(msg)) != 0)
        snprintf(msg, sizeof(msg), "errno %d", e);
      fprintf(stderr, "pacer-testapi: --log %s: %s\n", api->cfg.log_path, msg);
      return -1;
    }
  }
  return 0;
}

static void
api_free(struct pacer_testapi *api)
{
  pacer_testapi_routes_free();
  pacer_testapi_tokens_free(api->tokens);
  api->tokens = NULL;
  pacer_testapi_scripts_clear(&api->scripts);
  pacer_testapi_stats_free(&api->stats);
  if (api->log_fd >= 0 && close(api->log_fd) != 0)
    fprintf(stderr, "pacer-testapi: closing the log failed\n");
  api->log_fd = -1;
}

int
main(int argc, char **argv)
{
  static struct pacer_testapi api; /* large; keep it off the stack */
  struct MHD_Daemon *d;
  const union MHD_DaemonInfo *info;
  struct sockaddr_in sa;
  sigset_t sigs;
  int sig = 0;

  api.cfg.token_ttl_ms = 3600000;
  api.cfg.raw_port = -1;
  api.cfg.body_bytes = 512;
  api.cfg.seed = pacer_clock_unix_ms() ^ ((uint64_t)getpid() << 32);
  if (parse_args(argc, argv, &api.cfg) != 0)
    return 2;
  if (api_init(&api) != 0) {
    fprintf(stderr, "pacer-testapi: initialisation failed (out of memory "
                    "or zlib error)\n");
    api_free(&api);
    return 1;
  }
  raise_fd_limit();

  /* Every thread MHD starts inherits this mask, so only sigwait() below
   * sees SIGINT/SIGTERM. SIGPIPE from a vanished client is ignored. */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || sigemptyset(&sigs) != 0 ||
      sigaddset(&sigs, SIGINT) != 0 || sigaddset(&sigs, SIGTERM) != 0 ||
      pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
    fprintf(stderr, "pacer-testapi: signal setup failed\n");
    api_free(&api);
    return 1;
  }

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)api.cfg.port);
  /* never beyond loopback */
  sa.sin_addr.s_addr =
      api.cfg.bind_addr != 0 ? api.cfg.bind_addr : htonl(INADDR_LOOPBACK);
  d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                           MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL,
                       (uint16_t)api.cfg.port, NULL, NULL,
                       pacer_testapi_on_request, &api, MHD_OPTION_SOCK_ADDR,
                       (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                       CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                       CONN_TIMEOUT_S, MHD_OPTION_LISTEN_BACKLOG_SIZE,
                       LISTEN_BACKLOG, MHD_OPTION_THREAD_STACK_SIZE,
                       (size_t)THREAD_STACK, MHD_OPTION_URI_LOG_CALLBACK,
                       pacer_testapi_on_uri, &api, MHD_OPTION_NOTIFY_COMPLETED,
                       pacer_testapi_on_completed, &api, MHD_OPTION_END);
  if (d == NULL) {
    fprintf(stderr,
            "pacer-testapi: cannot listen on 127.0.0.1:%u (port in "
            "use? try --port 0)\n",
            api.cfg.port);
    api_free(&api);
    return 1;
  }
  info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  if (info == NULL || info->port == 0) {
    fprintf(stderr, "pacer-testapi: cannot read the bound port\n");
    MHD_stop_daemon(d);
    api_free(&api);
    return 1;
  }
  printf("listening port=%u\n", (unsigned int)info->port);
  if (api.cfg.raw_port >= 0) {
    unsigned raw = 0, hole = 0;

    if (pacer_testapi_raw_start((unsigned)api.cfg.raw_port, &raw, &hole) != 0) {
      fprintf(stderr, "pacer-testapi: cannot listen for --raw-port %d\n",
              api.cfg.raw_port);
      MHD_stop_daemon(d);
      api_free(&api);
      return 1;
    }
    printf("raw port=%u blackhole port=%u\n", raw, hole);
  }
  if (fflush(stdout) != 0) {
    MHD_stop_daemon(d);
    api_free(&api);
    return 1;
  }

  while (sigwait(&sigs, &sig) != 0)
    ;
  fprintf(stderr, "pacer-testapi: signal %d, stopping\n", sig);
  pthread_mutex_lock(&api.stop_mu);
  api.stopping = 1; /* wakes /slow, /drip and latency sleepers */
  pthread_cond_broadcast(&api.stop_cv);
  pthread_mutex_unlock(&api.stop_mu);
  MHD_stop_daemon(d);
  api_free(&api);
  return 0;
}
