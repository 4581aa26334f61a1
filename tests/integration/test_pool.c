/* Integration tests for the worker pool (workers/pacer_http.h) against a
 * private pacer-testapi on loopback.
 *
 * Each test owns a uv loop and a pool, counts outcome callbacks, waits with
 * wait_for() (run the loop until the count is reached or a deadline timer
 * fires; never a sleep) and ends with uv_loop_close() == 0. Upstream
 * counters come from GET /stats, read with a blocking curl easy handle so
 * the pool under test never carries its own probes.
 */
/* cmocka.h needs these four first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <uv.h>

#include "common/err.h"
#include "common/util.h"
#include "workers/curl_uv.h"
#include "workers/pacer_http.h"

#ifndef PACER_TESTAPI_PATH
#error "PACER_TESTAPI_PATH must name the pacer-testapi binary"
#endif
#ifndef PACER_TESTAPI_H2_PATH
#error "PACER_TESTAPI_H2_PATH must name the pacer-testapi-h2 binary"
#endif

#define MAX_TAGS         1024  /* outcomes kept per test, by tag */
#define TESTAPI_START_MS 10000 /* wait for "listening port=N" */
#define UA               "pacer-test/1"

/* ASan keeps freed blocks in its quarantine and adds shadow memory, so the
 * RSS a bounded body costs is about three times what it is without. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_FACTOR 3
#else
#define RSS_FACTOR 1
#endif

extern char **environ;

/* ------------------------------------------------------------------ */
/* Fault injection                                                     */
/* ------------------------------------------------------------------ */

/* test_pool links with -Wl,--wrap=uv_poll_init_socket (CMakeLists.txt), so
 * curl_uv's calls land here; the names are fixed by GNU ld. */
int __real_uv_poll_init_socket(uv_loop_t *loop, uv_poll_t *handle,
                               uv_os_sock_t socket);
int __wrap_uv_poll_init_socket(uv_loop_t *loop, uv_poll_t *handle,
                               uv_os_sock_t socket);

static atomic_int poll_init_failures; /* next calls to fail with EMFILE */

int
__wrap_uv_poll_init_socket(uv_loop_t *loop, uv_poll_t *handle,
                           uv_os_sock_t socket)
{
  int left = atomic_load(&poll_init_failures);

  while (left > 0) {
    if (atomic_compare_exchange_weak(&poll_init_failures, &left, left - 1))
      return UV_EMFILE;
  }
  return __real_uv_poll_init_socket(loop, handle, socket);
}

/* ------------------------------------------------------------------ */
/* The upstream: one pacer-testapi for the whole group                 */
/* ------------------------------------------------------------------ */

/* One running pacer-testapi: its pid, the read end of its stdout and a
 * thread that drains that pipe after the port line. */
struct testapi {
  pid_t pid;
  int out;             /* read end of its stdout, or -1 */
  uv_thread_t drainer; /* reads its stdout after the first line */
  int drainer_started; /* drainer must be joined */
  char url[64];        /* "http://127.0.0.1:N" */
};

static struct testapi upstream = {.pid = -1, .out = -1}; /* the group's */
static struct testapi dropper = {.pid = -1, .out = -1};  /* --drop-rate */
static struct testapi hop = {.pid = -1, .out = -1};      /* --bind 127.0.0.2 */
static char base_url[64];                                /* upstream.url */

static void
drain_stdout(void *arg)
{
  const struct testapi *t = arg;
  char buf[4096];

  while (read(t->out, buf, sizeof(buf)) > 0)
    continue; /* keeps the pipe from filling up; ends at EOF */
}

/* Reads "listening port=N" from fd within TESTAPI_START_MS. */
static int
read_port(int fd, unsigned *port)
{
  char line[256];
  size_t n = 0;
  uint64_t end = uv_hrtime() / 1000000u + TESTAPI_START_MS;

  while (n + 1 < sizeof(line)) {
    struct pollfd p = {fd, POLLIN, 0};
    uint64_t now = uv_hrtime() / 1000000u;
    ssize_t r;

    if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
      return -1;
    r = read(fd, line + n, 1);
    if (r <= 0)
      return -1;
    if (line[n] == '\n') {
      const char *p0;
      char *rest;
      unsigned long v;

      line[n] = '\0';
      p0 = strstr(line, "port=");
      if (p0 == NULL)
        return -1;
      errno = 0;
      v = strtoul(p0 + 5, &rest, 10);
      if (errno != 0 || rest == p0 + 5 || v == 0 || v > 65535)
        return -1;
      *port = (unsigned)v;
      return 0;
    }
    n++;
  }
  return -1;
}

/* Stops t (SIGTERM, reap) and closes its pipe. Safe on a half-started t. */
static void
testapi_stop(struct testapi *t)
{
  int status;

  if (t->pid > 0) {
    kill(t->pid, SIGTERM);
    while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR)
      continue;
    t->pid = -1;
  }
  if (t->drainer_started)
    uv_thread_join(&t->drainer);
  t->drainer_started = 0;
  if (t->out >= 0)
    close(t->out);
  t->out = -1;
}

/* Starts the upstream binary at path (pacer-testapi or pacer-testapi-h2)
 * with --port 0 and the NULL-terminated extra flags (borrowed), its stderr
 * in log_path. Returns 0 with t->url set, or -1. */
static int
upstream_start(const char *path, struct testapi *t, const char *const *extra,
               const char *log_path)
{
  char *argv[16] = {(char *)(uintptr_t)path, "--port", "0"};
  posix_spawn_file_actions_t fa;
  size_t n = 3;
  int fds[2];
  unsigned port = 0;
  int rc;

  t->pid = -1;
  t->out = -1;
  t->drainer_started = 0;
  while (extra != NULL && *extra != NULL && n + 1 < PACER_ARRAY_SIZE(argv))
    argv[n++] = (char *)(uintptr_t)*extra++;
  argv[n] = NULL;
  if (pipe(fds) != 0)
    return -1;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log_path,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  rc = posix_spawn(&t->pid, path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  t->out = fds[0];
  if (rc != 0) {
    t->pid = -1;
    fprintf(stderr, "cannot start %s: error %d\n", path, rc);
    return -1;
  }
  if (read_port(t->out, &port) != 0) {
    fprintf(stderr, "%s printed no \"listening port=N\" line\n", path);
    return -1;
  }
  snprintf(t->url, sizeof(t->url), "http://127.0.0.1:%u", port);
  if (uv_thread_create(&t->drainer, drain_stdout, t) == 0)
    t->drainer_started = 1;
  return 0;
}

/* Starts pacer-testapi (see upstream_start). */
static int
testapi_start(struct testapi *t, const char *const *extra, const char *log_path)
{
  return upstream_start(PACER_TESTAPI_PATH, t, extra, log_path);
}

static int
group_setup(void **state)
{
  (void)state;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return -1;
  if (testapi_start(&upstream, NULL, "test_pool-testapi.log") != 0)
    return -1;
  snprintf(base_url, sizeof(base_url), "%s", upstream.url);
  return 0;
}

static int
group_teardown(void **state)
{
  (void)state;
  testapi_stop(&dropper); /* when a failed test left it running */
  testapi_stop(&hop);
  testapi_stop(&upstream);
  curl_global_cleanup();
  return 0;
}

static size_t
collect(char *data, size_t size, size_t n, void *userp)
{
  char **buf = userp;
  size_t old = *buf != NULL ? strlen(*buf) : 0;
  char *p = realloc(*buf, old + size * n + 1);

  if (p == NULL)
    return 0;
  memcpy(p + old, data, size * n);
  p[old + size * n] = '\0';
  *buf = p;
  return size * n;
}

/* Blocking GET of base + path with a plain easy handle. Returns the
 * parsed JSON body (cJSON_Delete) or NULL. */
static cJSON *
upstream_json(const char *base, const char *path)
{
  char url[256];
  char *body = NULL;
  const char *end = NULL;
  cJSON *doc = NULL;
  CURL *e = curl_easy_init();

  if (e == NULL)
    return NULL;
  snprintf(url, sizeof(url), "%s%s", base, path);
  if (curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK &&
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect) == CURLE_OK &&
      curl_easy_setopt(e, CURLOPT_WRITEDATA, &body) == CURLE_OK &&
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L) == CURLE_OK &&
      curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
      curl_easy_perform(e) == CURLE_OK && body != NULL)
    doc = cJSON_ParseWithLengthOpts(body, strlen(body), &end, 0);
  curl_easy_cleanup(e);
  free(body);
  return doc;
}

/* Returns the number GET base/stats reports under name, or under
 * name.sub when sub is not NULL, or -1. */
static double
stat_at(const char *base, const char *name, const char *sub)
{
  cJSON *doc = upstream_json(base, "/stats");
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
  double out;

  if (sub != NULL)
    v = cJSON_GetObjectItemCaseSensitive(v, sub);
  out = cJSON_IsNumber(v) ? v->valuedouble : -1;
  cJSON_Delete(doc);
  return out;
}

/* Returns the number the group's upstream reports under name, or -1. */
static double
upstream_stat(const char *name)
{
  return stat_at(base_url, name, NULL);
}

/* ------------------------------------------------------------------ */
/* One loop + one pool per test                                        */
/* ------------------------------------------------------------------ */

struct ctx {
  uv_loop_t loop;
  uv_timer_t deadline; /* ends a wait that takes too long */
  struct pacer_pool *pool;
  int stopped;   /* pacer_pool_stop has run */
  int timed_out; /* the deadline fired */
  size_t want;   /* outcomes that end the current wait */
  size_t got;    /* outcomes delivered */
  size_t by_result[PACER_HTTP_CANCELED + 1];
  size_t status_200;            /* outcomes with status 200 */
  int keep;                     /* keep outcomes in kept[tag] */
  unsigned char seen[MAX_TAGS]; /* outcomes per tag */
  struct pacer_http_outcome *kept[MAX_TAGS];
};

static void
on_outcome(struct pacer_pool *pool, struct pacer_http_outcome *o, void *arg)
{
  struct ctx *c = arg;
  uint64_t tag = o->req->tag;

  assert_ptr_equal(pool, c->pool);
  assert_true(tag < MAX_TAGS);
  assert_true((unsigned)o->result <= PACER_HTTP_CANCELED);
  c->got++;
  c->by_result[o->result]++;
  if (o->status == 200)
    c->status_200++;
  if (c->seen[tag] < 255)
    c->seen[tag]++;
  /* every outcome carries a body and a JSON object, even when it failed */
  assert_non_null(o->body);
  assert_non_null(o->headers_json);
  if (c->keep && c->kept[tag] == NULL) {
    c->kept[tag] = o;
  } else {
    pacer_http_outcome_free(o);
  }
  if (c->got >= c->want)
    uv_stop(&c->loop);
}

static void
on_deadline(uv_timer_t *t)
{
  struct ctx *c = PACER_CONTAINER_OF(t, struct ctx, deadline);

  c->timed_out = 1;
  uv_stop(&c->loop);
}

/* Runs the loop until n outcomes have arrived or deadline_ms passed.
 * Returns non-zero when the count was reached. */
static int
wait_for(struct ctx *c, size_t n, uint64_t deadline_ms)
{
  c->timed_out = 0;
  if (c->got >= n)
    return 1;
  c->want = n;
  assert_int_equal(uv_timer_start(&c->deadline, on_deadline, deadline_ms, 0),
                   0);
  while (c->got < n && !c->timed_out)
    uv_run(&c->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_timer_stop(&c->deadline), 0);
  c->want = SIZE_MAX; /* outcomes outside a wait never stop the loop */
  return c->got >= n;
}

/* Runs the loop for ms (outcomes keep arriving meanwhile). */
static void
run_for(struct ctx *c, uint64_t ms)
{
  (void)wait_for(c, SIZE_MAX, ms);
}

/* Runs the loop until GET /stats reports name >= want, or deadline_ms. */
static int
wait_upstream(struct ctx *c, const char *name, double want,
              uint64_t deadline_ms)
{
  uint64_t end = uv_hrtime() / 1000000u + deadline_ms;

  for (;;) {
    if (upstream_stat(name) >= want)
      return 1;
    if (uv_hrtime() / 1000000u >= end)
      return 0;
    run_for(c, 20);
  }
}

static struct ctx *
ctx_new(unsigned nworkers)
{
  struct ctx *c = calloc(1, sizeof(*c));

  assert_non_null(c);
  c->want = SIZE_MAX;
  assert_int_equal(uv_loop_init(&c->loop), 0);
  assert_int_equal(uv_timer_init(&c->loop, &c->deadline), 0);
  assert_int_equal(
      pacer_pool_start(&c->loop, nworkers, UA, on_outcome, c, &c->pool), 0);
  return c;
}

static void
ctx_stop(struct ctx *c, int cancel)
{
  pacer_pool_stop(c->pool, cancel);
  c->stopped = 1;
  assert_int_equal(pacer_pool_in_flight(c->pool), 0);
}

static void
ctx_free(struct ctx *c)
{
  size_t i;

  if (!c->stopped)
    ctx_stop(c, 1);
  pacer_pool_free(c->pool); /* released in the async's close callback */
  uv_close((uv_handle_t *)&c->deadline, NULL);
  assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&c->loop), 0);
  for (i = 0; i < MAX_TAGS; i++)
    pacer_http_outcome_free(c->kept[i]);
  free(c);
}

/* Builds a request for base_url + path, or for path when it is a URL. */
static struct pacer_http_request *
request(uint64_t tag, const char *method, const char *path)
{
  char url[1024];
  struct pacer_http_request *req;

  if (path[0] == '/')
    snprintf(url, sizeof(url), "%s%s", base_url, path);
  else
    snprintf(url, sizeof(url), "%s", path);
  req = pacer_http_request_new(method, url);
  assert_non_null(req);
  req->tag = tag;
  req->timeout_ms = 30000;
  return req;
}

static void
submit(struct ctx *c, struct pacer_http_request *req)
{
  assert_int_equal(pacer_pool_submit(c->pool, req), 0);
}

static void
add_header(struct pacer_http_request *req, const char *line)
{
  assert_int_equal(pacer_http_request_add_header(req, line), 0);
}

/* Returns the parsed JSON body of o (cJSON_Delete). */
static cJSON *
body_json(const struct pacer_http_outcome *o)
{
  const char *end = NULL;
  cJSON *doc = cJSON_ParseWithLengthOpts(o->body, o->body_len, &end, 0);

  assert_non_null(doc);
  return doc;
}

static const char *
json_str(const cJSON *obj, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long
max_rss_kib(void)
{
  struct rusage ru;

  assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
  return ru.ru_maxrss;
}

static uint64_t
cpu_ms(void)
{
  struct rusage ru;

  assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
  return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000u +
         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000u;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* 20 decompression bombs (gzip, 256 MiB decoded each, half on a 500) with
 * a 1 MiB cap. Runs first so the peak-RSS figure starts near the baseline. */
static void
gzip_bombs_are_too_large_and_rss_stays_bounded(void **state)
{
  const size_t cap = 1u << 20;
  struct ctx *c = ctx_new(2);
  long rss0 = max_rss_kib(), grown_kib;
  size_t bound;
  unsigned i;

  (void)state;
  c->keep = 1;
  for (i = 0; i < 20; i++) {
    struct pacer_http_request *req =
        request(i, "GET",
                i % 2 ? "/gzip-bomb?bytes=268435456&status=500"
                      : "/gzip-bomb?bytes=268435456");

    req->body_cap_bytes = cap;
    submit(c, req);
  }
  assert_true(wait_for(c, 20, 60000));
  assert_int_equal(c->by_result[PACER_HTTP_TOO_LARGE], 20);
  for (i = 0; i < 20; i++) {
    const struct pacer_http_outcome *o = c->kept[i];

    assert_int_equal(o->status, i % 2 ? 500 : 200);
    assert_true(o->body_len <= cap);
    assert_string_equal(pacer_http_result_name(o->result),
                        "response_too_large");
    assert_non_null(strstr(o->error, "exceeds 1048576 bytes"));
  }
  /* growth < 20 x cap + 50 MB (uncapped, this is 5 GiB) */
  bound = RSS_FACTOR * 20 * cap + (50u << 20);
  grown_kib = max_rss_kib() - rss0;
  print_message("gzip bombs: peak RSS grew %ld KiB (bound %zu KiB)\n",
                grown_kib, bound / 1024);
  assert_true((size_t)grown_kib * 1024 < bound);
  ctx_free(c);
}

static void
echo_sees_the_exact_method_headers_and_body(void **state)
{
  static const char *const methods[] = {"PUT", "POST", "PATCH", "DELETE"};
  static const char body[] = "{\"campaign\":\"c-1\",\"budget\":100}";
  struct ctx *c = ctx_new(2);
  unsigned i;

  (void)state;
  c->keep = 1;
  for (i = 0; i < 4; i++) {
    struct pacer_http_request *req = request(i, methods[i], "/echo?x=1");

    add_header(req, "Content-Type: application/json");
    add_header(req, "X-Pacer-Test: yes");
    add_header(req, "Authorization: Bearer AT-CANARY");
    assert_int_equal(pacer_http_request_set_body(req, body, sizeof(body) - 1),
                     0);
    submit(c, req);
  }
  /* a body without Content-Type: libcurl must not invent a form type */
  {
    struct pacer_http_request *req = request(4, "PUT", "/echo");

    assert_int_equal(pacer_http_request_set_body(req, "raw", 3), 0);
    submit(c, req);
  }
  submit(c, request(5, "GET", "/echo"));
  submit(c, request(6, "POST", "/echo")); /* POST, no body */
  submit(c, request(7, "DELETE", "/echo"));
  submit(c, request(8, "HEAD", "/echo"));
  assert_true(wait_for(c, 9, 20000));
  assert_int_equal(c->by_result[PACER_HTTP_OK], 9);

  for (i = 0; i < 4; i++) {
    cJSON *doc = body_json(c->kept[i]);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(doc, "headers");

    assert_int_equal(c->kept[i]->status, 200);
    assert_string_equal(json_str(doc, "method"), methods[i]);
    assert_string_equal(json_str(doc, "body"), body);
    assert_string_equal(json_str(doc, "query"), "x=1");
    assert_string_equal(json_str(h, "content-type"), "application/json");
    assert_string_equal(json_str(h, "x-pacer-test"), "yes");
    assert_string_equal(json_str(h, "authorization"), "Bearer AT-CANARY");
    assert_string_equal(json_str(h, "user-agent"), UA);
    assert_string_equal(json_str(h, "content-length"), "31");
    assert_non_null(json_str(h, "accept-encoding"));
    assert_null(json_str(h, "expect"));
    assert_null(json_str(h, "transfer-encoding"));
    /* the response headers we keep */
    assert_non_null(strstr(c->kept[i]->headers_json,
                           "\"content-type\":\"application/json\""));
    cJSON_Delete(doc);
  }
  {
    cJSON *doc = body_json(c->kept[4]);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(doc, "headers");

    assert_string_equal(json_str(doc, "method"), "PUT");
    assert_string_equal(json_str(doc, "body"), "raw");
    assert_null(json_str(h, "content-type"));
    assert_string_equal(json_str(h, "content-length"), "3");
    cJSON_Delete(doc);
  }
  {
    cJSON *doc = body_json(c->kept[5]);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(doc, "headers");

    assert_string_equal(json_str(doc, "method"), "GET");
    assert_string_equal(json_str(doc, "body"), "");
    assert_null(json_str(h, "content-length"));
    cJSON_Delete(doc);
  }
  {
    cJSON *doc = body_json(c->kept[6]);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(doc, "headers");

    assert_string_equal(json_str(doc, "method"), "POST");
    assert_string_equal(json_str(h, "content-length"), "0");
    cJSON_Delete(doc);
  }
  {
    cJSON *doc = body_json(c->kept[7]);

    assert_string_equal(json_str(doc, "method"), "DELETE");
    assert_string_equal(json_str(doc, "body"), "");
    cJSON_Delete(doc);
  }
  assert_int_equal(c->kept[8]->status, 200);
  assert_int_equal(c->kept[8]->body_len, 0);
  assert_string_equal(c->kept[8]->body, "");
  ctx_free(c);
}

/* CURLMOPT_TIMERFUNCTION 0 / -1: idle multi handle, then 1,000 requests at
 * once, five times. Each burst gives exactly 1,000 outcomes (one per tag) and
 * exactly 1,000 requests at the upstream; idle periods cost (almost) no CPU. */
static void
bursts_of_1000_after_idle_give_exactly_1000_requests_each(void **state)
{
  struct ctx *c = ctx_new(2);
  unsigned cycle, i;

  (void)state;
  for (cycle = 0; cycle < 5; cycle++) {
    double before, after;
    uint64_t cpu0, idle_cpu_ms;
    size_t got0 = c->got, ok0 = c->by_result[PACER_HTTP_OK];
    size_t s200 = c->status_200;

    cpu0 = cpu_ms();
    run_for(c, 1500);
    idle_cpu_ms = cpu_ms() - cpu0;
    assert_true(idle_cpu_ms < 150); /* < 10 % of one core while idle */
    before = upstream_stat("requests");
    assert_true(before >= 0);
    memset(c->seen, 0, sizeof(c->seen));
    for (i = 0; i < 1000; i++)
      submit(c, request(i, "GET", "/fast"));
    assert_int_equal(pacer_pool_in_flight(c->pool), 1000);
    assert_true(wait_for(c, got0 + 1000, 60000));
    assert_int_equal(c->by_result[PACER_HTTP_OK] - ok0, 1000);
    assert_int_equal(c->status_200 - s200, 1000);
    for (i = 0; i < 1000; i++)
      assert_int_equal(c->seen[i], 1);
    assert_int_equal(pacer_pool_in_flight(c->pool), 0);
    after = upstream_stat("requests");
    assert_true(after - before == 1000.0);
    print_message("burst %u: idle cpu %llu ms, upstream +%.0f\n", cycle,
                  (unsigned long long)idle_cpu_ms, after - before);
  }
  ctx_free(c);
}

static void
body_over_the_cap_is_too_large_with_and_without_content_length(void **state)
{
  const size_t cap = 1u << 20;
  struct ctx *c = ctx_new(2);
  struct pacer_http_request *req;
  unsigned i;

  (void)state;
  c->keep = 1;
  req = request(0, "GET", "/big?bytes=2097152"); /* Content-Length > cap */
  req->body_cap_bytes = cap;
  submit(c, req);
  req = request(1, "GET", "/big-chunked?bytes=2097152"); /* no length */
  req->body_cap_bytes = cap;
  submit(c, req);
  req = request(2, "GET", "/big?bytes=1048576"); /* exactly the cap */
  req->body_cap_bytes = cap;
  submit(c, req);
  req = request(3, "GET", "/big-chunked?bytes=1048576");
  req->body_cap_bytes = cap;
  submit(c, req);
  req = request(4, "HEAD", "/big?bytes=2097152"); /* HEAD: no body at all */
  req->body_cap_bytes = cap;
  submit(c, req);
  assert_true(wait_for(c, 5, 20000));
  for (i = 0; i < 2; i++) {
    assert_int_equal(c->kept[i]->result, PACER_HTTP_TOO_LARGE);
    assert_true(c->kept[i]->body_len <= cap);
    assert_int_equal(c->kept[i]->status, 200);
  }
  for (i = 2; i < 5; i++) {
    assert_int_equal(c->kept[i]->result, PACER_HTTP_OK);
    assert_int_equal(c->kept[i]->status, 200);
  }
  assert_int_equal(c->kept[2]->body_len, cap);
  assert_int_equal(c->kept[3]->body_len, cap);
  assert_int_equal(c->kept[4]->body_len, 0);
  ctx_free(c);
}

static void
refused_connection_is_a_connect_error_without_request_headers(void **state)
{
  struct ctx *c = ctx_new(1);
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  struct pacer_http_request *req;
  char url[64];
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  (void)state;
  /* Bound but not listening: connecting gets a reset, nobody can take the
   * port while we hold it. */
  assert_true(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", ntohs(sa.sin_port));
  c->keep = 1;
  req = request(0, "GET", url);
  add_header(req, "Authorization: Bearer AT-CANARY");
  submit(c, req);
  assert_true(wait_for(c, 1, 20000));
  assert_int_equal(c->kept[0]->result, PACER_HTTP_CONNECT);
  assert_string_equal(pacer_http_result_name(c->kept[0]->result),
                      "connect_error");
  assert_int_equal(c->kept[0]->status, 0);
  assert_true(c->kept[0]->error[0] != '\0');
  assert_null(strstr(c->kept[0]->error, "CANARY"));
  close(fd);
  ctx_free(c);
}

static void
slow_response_times_out_at_about_the_requested_time(void **state)
{
  struct ctx *c = ctx_new(1);
  struct pacer_http_request *req;
  uint64_t t0 = uv_hrtime(), elapsed_ms;

  (void)state;
  c->keep = 1;
  req = request(0, "GET", "/slow?ms=5000");
  req->timeout_ms = 500;
  submit(c, req);
  assert_true(wait_for(c, 1, 10000));
  elapsed_ms = (uv_hrtime() - t0) / 1000000u;
  assert_int_equal(c->kept[0]->result, PACER_HTTP_TIMEOUT);
  assert_true(c->kept[0]->total_us >= 450000 && c->kept[0]->total_us < 1500000);
  assert_true(elapsed_ms >= 450 && elapsed_ms < 2000);
  assert_non_null(strstr(c->kept[0]->error, "timed out"));
  ctx_free(c);
}

/* SSRF guard: only http and https, for the first request and every hop. */
static void
redirects_to_file_or_gopher_and_non_http_urls_are_refused(void **state)
{
  struct ctx *c = ctx_new(1);
  unsigned i;

  (void)state;
  c->keep = 1;
  submit(c, request(0, "GET",
                    "/status/302?header=Location:%20file:///etc/passwd"));
  submit(c, request(1, "GET",
                    "/status/301?header=Location:%20gopher://127.0.0.1:1/_x"));
  submit(c, request(2, "GET", "file:///etc/passwd"));
  submit(c, request(3, "GET", "gopher://127.0.0.1:1/_x"));
  submit(c, request(4, "GET", "/status/302?header=Location:%20/fast"));
  assert_true(wait_for(c, 5, 20000));
  for (i = 0; i < 4; i++) {
    assert_int_equal(c->kept[i]->result, PACER_HTTP_TRANSPORT);
    assert_null(strstr(c->kept[i]->body, "root:"));
    assert_non_null(strstr(c->kept[i]->error, "rotocol"));
  }
  assert_int_equal(c->kept[0]->status, 302);
  assert_int_equal(c->kept[1]->status, 301);
  assert_int_equal(c->kept[2]->status, 0);
  /* an http hop is followed, and only the final response's headers stay */
  assert_int_equal(c->kept[4]->result, PACER_HTTP_OK);
  assert_int_equal(c->kept[4]->status, 200);
  assert_string_equal(c->kept[4]->body, "ok");
  assert_null(strstr(c->kept[4]->headers_json, "location"));
  ctx_free(c);
}

/* Redirects and secrets: with follow_redirects 0 the 3xx is the final
 * response, its Location is reported and its target is never contacted,
 * so a header libcurl would carry to another host (X-Api-Key) stays here.
 * The default (pacer_http_request_new) still follows. */
static void
redirect_is_the_final_response_when_follow_redirects_is_0(void **state)
{
  struct ctx *c = ctx_new(1);
  struct pacer_http_request *req;
  char path[256], location[128];
  double requests0, echo0;
  cJSON *doc;

  (void)state;
  c->keep = 1;
  snprintf(location, sizeof(location), "%s/echo", base_url);
  snprintf(path, sizeof(path), "/status/302?header=Location:%%20%s", location);
  requests0 = upstream_stat("requests");
  echo0 = stat_at(base_url, "by_path", "echo");
  assert_true(requests0 >= 0 && echo0 >= 0);
  req = request(0, "GET", path);
  assert_int_equal(req->follow_redirects, 1);
  req->follow_redirects = 0;
  add_header(req, "X-Api-Key: KEY-CANARY");
  submit(c, req);
  assert_true(wait_for(c, 1, 20000));
  assert_int_equal(c->kept[0]->result, PACER_HTTP_OK);
  assert_int_equal(c->kept[0]->status, 302);
  doc = cJSON_Parse(c->kept[0]->headers_json);
  assert_non_null(doc);
  assert_string_equal(json_str(doc, "location"), location);
  cJSON_Delete(doc);
  assert_true(upstream_stat("requests") - requests0 == 1.0);
  assert_true(stat_at(base_url, "by_path", "echo") - echo0 == 0.0);

  /* control: the same request with the default follows the hop */
  submit(c, request(1, "GET", path));
  assert_true(wait_for(c, 2, 20000));
  assert_int_equal(c->kept[1]->result, PACER_HTTP_OK);
  assert_int_equal(c->kept[1]->status, 200);
  assert_true(stat_at(base_url, "by_path", "echo") - echo0 == 1.0);
  ctx_free(c);
}

#define NOREUSE_POSTS 40 /* POSTs against the dropping upstream */
#define NOREUSE_WAVE  5  /* sent together; the next wave could reuse */

/* Submits NOREUSE_POSTS POSTs to url in waves, each wave after the last
 * one's outcomes, so pooled connections would be reused. Returns how many
 * requests the upstream at base counted meanwhile. */
static double
post_waves(struct ctx *c, const char *base, const char *url, int forbid_reuse)
{
  static const char body[] = "{\"name\":\"c\"}";
  double before = stat_at(base, "requests", NULL);
  size_t got0 = c->got;
  unsigned i, wave;

  assert_true(before >= 0);
  for (wave = 0; wave < NOREUSE_POSTS / NOREUSE_WAVE; wave++) {
    for (i = 0; i < NOREUSE_WAVE; i++) {
      struct pacer_http_request *req =
          request(wave * NOREUSE_WAVE + i, "POST", url);

      req->forbid_reuse = forbid_reuse;
      add_header(req, "Content-Type: application/json");
      assert_int_equal(pacer_http_request_set_body(req, body, sizeof(body) - 1),
                       0);
      submit(c, req);
    }
    assert_true(wait_for(c, got0 + (wave + 1u) * NOREUSE_WAVE, 30000));
  }
  return stat_at(base, "requests", NULL) - before;
}

/* libcurl silently re-sends a request whose reused keep-alive connection
 * died before the response. With forbid_reuse each POST gets a connection
 * of its own, so against an upstream that drops half of them, N POSTs are
 * exactly N upstream requests (dropped ones included) and every drop is
 * reported as a transport error. */
static void
forbid_reuse_sends_each_post_once_when_connections_drop(void **state)
{
  static const char *const flags[] = {"--drop-rate", "0.5", "--seed", "7",
                                      NULL};
  struct ctx *c;
  char url[128];
  double sent, dropped0, dropped, control;

  (void)state;
  assert_int_equal(testapi_start(&dropper, flags, "test_pool-testapi-drop.log"),
                   0);
  snprintf(url, sizeof(url), "%s/v1/adaccounts/a/campaigns", dropper.url);
  c = ctx_new(1);
  dropped0 = stat_at(dropper.url, "dropped", NULL);
  sent = post_waves(c, dropper.url, url, 1);
  dropped = stat_at(dropper.url, "dropped", NULL) - dropped0;
  print_message("forbid_reuse=1: %d POSTs, %.0f upstream requests, %.0f "
                "dropped\n",
                NOREUSE_POSTS, sent, dropped);
  assert_true(sent == (double)NOREUSE_POSTS);
  assert_true(dropped > 0);
  assert_true(c->by_result[PACER_HTTP_TRANSPORT] == (size_t)dropped);
  assert_int_equal(c->by_result[PACER_HTTP_OK] +
                       c->by_result[PACER_HTTP_TRANSPORT],
                   NOREUSE_POSTS);

  /* The default reuses connections; libcurl's hidden re-sends (if any on
   * this run) show up as more upstream requests than POSTs. */
  control = post_waves(c, dropper.url, url, 0);
  print_message("forbid_reuse=0: %d POSTs, %.0f upstream requests\n",
                NOREUSE_POSTS, control);
  assert_true(control >= (double)NOREUSE_POSTS);
  ctx_free(c);
  testapi_stop(&dropper);
}

static void
kept_response_headers_are_lower_case_json_joined_and_escaped(void **state)
{
  struct ctx *c = ctx_new(1);
  cJSON *doc;
  const char *end = NULL;
  const struct pacer_http_outcome *o;

  (void)state;
  c->keep = 1;
  submit(c, request(0, "GET",
                    "/status/429?retry_after=120&header=Retry-After:%20120"
                    "&header=X-RateLimit-Remaining:%200"
                    "&header=ETag:%20%22a%5C%22b%22"
                    "&header=WWW-Authenticate:%20Bearer%20error=%22invalid_"
                    "token%22&header=X-Other:%20dropped"));
  assert_true(wait_for(c, 1, 20000));
  o = c->kept[0];
  assert_int_equal(o->result, PACER_HTTP_OK);
  assert_int_equal(o->status, 429);
  doc = cJSON_ParseWithLengthOpts(o->headers_json, strlen(o->headers_json),
                                  &end, 0);
  assert_non_null(doc);
  assert_ptr_equal(end, o->headers_json + strlen(o->headers_json));
  assert_string_equal(json_str(doc, "retry-after"), "120, 120");
  assert_string_equal(json_str(doc, "x-ratelimit-remaining"), "0");
  assert_string_equal(json_str(doc, "etag"), "\"a\\\"b\"");
  assert_string_equal(json_str(doc, "www-authenticate"),
                      "Bearer error=\"invalid_token\"");
  assert_string_equal(json_str(doc, "content-type"), "application/json");
  assert_null(json_str(doc, "x-other"));
  assert_non_null(json_str(doc, "date"));
  cJSON_Delete(doc);
  ctx_free(c);
}

/* Secrets stay out of errors: a malformed request fails before the
 * network, and the error names the field, never the header text. */
static void
invalid_requests_fail_without_echoing_header_text(void **state)
{
  struct ctx *c = ctx_new(1);
  struct pacer_http_request *req;
  char *line;

  (void)state;
  c->keep = 1;
  req = request(0, "GET", "/fast");
  /* set by hand: add_header refuses CR/LF itself */
  line = strdup("Authorization: Bearer AT-CANARY\r\nX-Injected: 1");
  assert_non_null(line);
  req->headers = calloc(1, sizeof(char *));
  assert_non_null(req->headers);
  req->headers[0] = line;
  req->nheaders = 1;
  submit(c, req);
  submit(c, request(1, "GE T", "/fast"));
  req = request(2, "GET", "/fast");
  assert_int_equal(pacer_http_request_add_header(req, "A: b\r\nC: d"),
                   PACER_EINVAL);
  pacer_http_request_free(req);
  assert_true(wait_for(c, 2, 20000));
  assert_int_equal(c->kept[0]->result, PACER_HTTP_TRANSPORT);
  assert_string_equal(c->kept[0]->error,
                      "request.headers[0]: missing or contains CR/LF");
  assert_int_equal(c->kept[1]->result, PACER_HTTP_TRANSPORT);
  assert_string_equal(c->kept[1]->error, "request.method: not an HTTP token");
  ctx_free(c);
}

/* A socket libuv cannot watch fails its transfer (instead of hanging it
 * until the timeout) and leaves the worker usable. */
static void
unwatchable_socket_fails_its_transfer_and_the_pool_goes_on(void **state)
{
  struct ctx *c = ctx_new(1);

  (void)state;
  c->keep = 1;
  atomic_store(&poll_init_failures, 1);
  submit(c, request(0, "GET", "/fast"));
  assert_true(wait_for(c, 1, 10000));
  assert_int_equal(atomic_load(&poll_init_failures), 0);
  assert_int_equal(c->kept[0]->result, PACER_HTTP_TRANSPORT);
  assert_string_equal(c->kept[0]->error,
                      "poll: cannot watch socket: too many open files");
  submit(c, request(1, "GET", "/fast"));
  assert_true(wait_for(c, 2, 10000));
  assert_int_equal(c->kept[1]->result, PACER_HTTP_OK);
  assert_string_equal(c->kept[1]->body, "ok");
  ctx_free(c);
}

/* Shutdown with cancel=1 while 50 slow transfers run: 50 CANCELED
 * outcomes, delivered by pacer_pool_stop itself, within a second. */
static void
stop_with_cancel_returns_50_canceled_outcomes_promptly(void **state)
{
  struct ctx *c = ctx_new(2);
  double in_flight0 = upstream_stat("in_flight");
  uint64_t t0, stop_ms;
  unsigned i;

  (void)state;
  for (i = 0; i < 50; i++)
    submit(c, request(i, "GET", "/slow?ms=20000"));
  assert_true(wait_upstream(c, "in_flight", in_flight0 + 50, 10000));
  assert_int_equal(c->got, 0);
  t0 = uv_hrtime();
  ctx_stop(c, 1);
  stop_ms = (uv_hrtime() - t0) / 1000000u;
  print_message("stop(cancel=1) with 50 running took %llu ms\n",
                (unsigned long long)stop_ms);
  assert_true(stop_ms < 1000);
  assert_int_equal(c->got, 50);
  assert_int_equal(c->by_result[PACER_HTTP_CANCELED], 50);
  for (i = 0; i < 50; i++)
    assert_int_equal(c->seen[i], 1);
  ctx_free(c);
}

/* Graceful stop: running and queued transfers finish normally; later
 * submissions are refused and stay the caller's. */
static void
graceful_stop_finishes_running_transfers_then_refuses_more(void **state)
{
  struct ctx *c = ctx_new(2);
  struct pacer_http_request *late;
  unsigned i;

  (void)state;
  for (i = 0; i < 10; i++)
    submit(c, request(i, "GET", "/slow?ms=300"));
  ctx_stop(c, 0);
  assert_int_equal(c->got, 10);
  assert_int_equal(c->by_result[PACER_HTTP_OK], 10);
  late = request(10, "GET", "/fast");
  assert_int_equal(pacer_pool_submit(c->pool, late), PACER_ECANCELED);
  pacer_http_request_free(late);
  ctx_free(c);
}

/* ------------------------------------------------------------------ */
/* Destination policy (the SSRF guard)                                */
/* ------------------------------------------------------------------ */

/* A public_only policy whose allow list holds the NULL-terminated CIDRs. */
static void
policy_init(struct pacer_dest_policy *p, const char *const *allow)
{
  struct pacer_error err;

  memset(p, 0, sizeof(*p));
  p->mode = PACER_DEST_PUBLIC_ONLY;
  for (; allow != NULL && *allow != NULL; allow++)
    assert_int_equal(
        pacer_cidr_parse("allow", *allow, &p->allow[p->nallow++], &err), 0);
}

/* The port of the group's upstream, as text (":N" stripped of ':'). */
static const char *
upstream_port(void)
{
  return strrchr(base_url, ':') + 1;
}

/* With public_only, every spelling of the loopback upstream is refused
 * after resolution, before connect(): the upstream counts no request. The
 * same URL passes once 127.0.0.1 is allowed. */
static void
destination_policy_blocks_loopback_in_every_spelling_before_connect(
    void **state)
{
  static const char *const hosts[] = {
      "127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]",
      "0x7f.1",    "127.1",     "0",          "[::1]"};
  static const char *const allow[] = {"127.0.0.1/32", NULL};
  struct pacer_dest_policy blocked, allowed;
  struct ctx *c = ctx_new(2);
  double requests0;
  unsigned i;

  (void)state;
  c->keep = 1;
  policy_init(&blocked, NULL);
  policy_init(&allowed, allow);
  requests0 = upstream_stat("requests");
  assert_true(requests0 >= 0);
  for (i = 0; i < PACER_ARRAY_SIZE(hosts); i++) {
    char url[128];
    struct pacer_http_request *req;

    snprintf(url, sizeof(url), "http://%s:%s/fast", hosts[i], upstream_port());
    req = request(i, "GET", url);
    req->dest_policy = &blocked;
    submit(c, req);
  }
  assert_true(wait_for(c, PACER_ARRAY_SIZE(hosts), 20000));
  for (i = 0; i < PACER_ARRAY_SIZE(hosts); i++) {
    const struct pacer_http_outcome *o = c->kept[i];

    if (o->result != PACER_HTTP_BLOCKED)
      fail_msg("%s: %s (%s)", hosts[i], pacer_http_result_name(o->result),
               o->error);
    assert_int_equal(o->status, 0);
    assert_int_equal(o->body_len, 0);
    assert_non_null(strstr(o->error, "destination: "));
    assert_non_null(
        strstr(o->error, ", blocked by destination_policy public_only"));
  }
  assert_string_equal(c->kept[0]->error,
                      "destination: 127.0.0.1 is loopback, blocked by "
                      "destination_policy public_only");
  assert_string_equal(c->kept[3]->error,
                      "destination: ::ffff:127.0.0.1 is loopback, blocked by "
                      "destination_policy public_only");
  assert_string_equal(c->kept[6]->error,
                      "destination: 0.0.0.0 is unspecified, blocked by "
                      "destination_policy public_only");
  assert_string_equal(pacer_http_result_name(PACER_HTTP_BLOCKED),
                      "blocked_destination");
  /* nothing reached the upstream */
  assert_true(upstream_stat("requests") - requests0 == 0.0);

  /* control: the allow list lets exactly 127.0.0.1 through */
  {
    struct pacer_http_request *req = request(100, "GET", "/fast");

    req->dest_policy = &allowed;
    submit(c, req);
  }
  assert_true(wait_for(c, PACER_ARRAY_SIZE(hosts) + 1, 20000));
  assert_int_equal(c->kept[100]->result, PACER_HTTP_OK);
  assert_string_equal(c->kept[100]->body, "ok");
  assert_true(upstream_stat("requests") - requests0 == 1.0);
  ctx_free(c);
}

/* A redirect hop is checked on the address it would connect to: with only
 * 127.0.0.1 allowed, a 302 to a second upstream on 127.0.0.2 (or to ::1)
 * ends blocked, and the second upstream never sees a request. Allowing
 * 127.0.0.0/8 lets the same hop through. */
static void
destination_policy_blocks_a_redirect_hop_that_is_never_connected(void **state)
{
  static const char *const flags[] = {"--bind", "127.0.0.2", NULL};
  static const char *const one[] = {"127.0.0.1/32", NULL};
  static const char *const all[] = {"127.0.0.0/8", NULL};
  struct pacer_dest_policy only_first, whole_block;
  struct pacer_http_request *req;
  char hop_url[64], path[256];
  double first0, hop0;
  struct ctx *c;

  (void)state;
  assert_int_equal(testapi_start(&hop, flags, "test_pool-testapi-hop.log"), 0);
  snprintf(hop_url, sizeof(hop_url), "http://127.0.0.2%s",
           strrchr(hop.url, ':'));
  policy_init(&only_first, one);
  policy_init(&whole_block, all);
  c = ctx_new(1);
  c->keep = 1;
  first0 = upstream_stat("requests");
  hop0 = stat_at(hop_url, "requests", NULL);
  assert_true(first0 >= 0 && hop0 >= 0);

  snprintf(path, sizeof(path), "/status/302?header=Location:%%20%s/fast",
           hop_url);
  req = request(0, "GET", path);
  req->dest_policy = &only_first;
  submit(c, req);
  snprintf(path, sizeof(path),
           "/status/307?header=Location:%%20http://[::1]:%s/fast",
           upstream_port());
  req = request(1, "GET", path);
  req->dest_policy = &only_first;
  submit(c, req);
  assert_true(wait_for(c, 2, 20000));
  assert_int_equal(c->kept[0]->result, PACER_HTTP_BLOCKED);
  assert_int_equal(c->kept[0]->status, 302); /* the hop that was allowed */
  assert_string_equal(c->kept[0]->error,
                      "destination: 127.0.0.2 is loopback, blocked by "
                      "destination_policy public_only");
  assert_int_equal(c->kept[1]->result, PACER_HTTP_BLOCKED);
  assert_string_equal(c->kept[1]->error,
                      "destination: ::1 is loopback, blocked by "
                      "destination_policy public_only");
  assert_true(upstream_stat("requests") - first0 == 2.0); /* the 3xx */
  assert_true(stat_at(hop_url, "requests", NULL) - hop0 == 0.0);

  /* control: the same hop, allowed */
  snprintf(path, sizeof(path), "/status/302?header=Location:%%20%s/fast",
           hop_url);
  req = request(2, "GET", path);
  req->dest_policy = &whole_block;
  submit(c, req);
  assert_true(wait_for(c, 3, 20000));
  assert_int_equal(c->kept[2]->result, PACER_HTTP_OK);
  assert_int_equal(c->kept[2]->status, 200);
  assert_string_equal(c->kept[2]->body, "ok");
  assert_true(stat_at(hop_url, "requests", NULL) - hop0 == 1.0);
  ctx_free(c);
  testapi_stop(&hop);
}

/* A keep-alive connection opened by a request without a policy (as token
 * requests are) is not reused by a request with one: its peer is checked
 * before anything is sent on it. */
static void
destination_policy_checks_the_peer_of_a_reused_connection(void **state)
{
  struct pacer_dest_policy blocked;
  struct ctx *c = ctx_new(1);
  struct pacer_http_request *req;
  double requests0;

  (void)state;
  c->keep = 1;
  policy_init(&blocked, NULL);
  requests0 = upstream_stat("requests");
  submit(c, request(0, "GET", "/fast"));
  assert_true(wait_for(c, 1, 20000));
  assert_int_equal(c->kept[0]->result, PACER_HTTP_OK);
  req = request(1, "GET", "/fast");
  req->dest_policy = &blocked;
  submit(c, req);
  assert_true(wait_for(c, 2, 20000));
  assert_int_equal(c->kept[1]->result, PACER_HTTP_BLOCKED);
  assert_string_equal(c->kept[1]->error,
                      "destination: 127.0.0.1 is loopback, blocked by "
                      "destination_policy public_only");
  assert_true(upstream_stat("requests") - requests0 == 1.0);
  /* and the worker goes on: the connection is still good without one */
  submit(c, request(2, "GET", "/fast"));
  assert_true(wait_for(c, 3, 20000));
  assert_int_equal(c->kept[2]->result, PACER_HTTP_OK);
  ctx_free(c);
}

/* ------------------------------------------------------------------ */
/* HTTP/2: GOAWAY and REFUSED_STREAM (docs/WORKERS.md)                */
/* ------------------------------------------------------------------ */

/* Returns the number pacer-testapi-h2 at base reports under name in GET
 * /stats (fetched with prior knowledge), or -1. */
static double
h2_stat(const char *base, const char *name)
{
  char url[256];
  char *body = NULL;
  const char *end = NULL;
  const cJSON *v;
  cJSON *doc = NULL;
  double out = -1;
  CURL *e = curl_easy_init();

  if (e == NULL)
    return -1;
  snprintf(url, sizeof(url), "%s/stats", base);
  if (curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK &&
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                       (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) == CURLE_OK &&
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect) == CURLE_OK &&
      curl_easy_setopt(e, CURLOPT_WRITEDATA, &body) == CURLE_OK &&
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L) == CURLE_OK &&
      curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
      curl_easy_perform(e) == CURLE_OK && body != NULL)
    doc = cJSON_ParseWithLengthOpts(body, strlen(body), &end, 0);
  curl_easy_cleanup(e);
  free(body);
  v = cJSON_GetObjectItemCaseSensitive(doc, name);
  if (cJSON_IsNumber(v))
    out = v->valuedouble;
  cJSON_Delete(doc);
  return out;
}

/* Submits n requests to base: even tags GET, odd tags POST with a body and
 * forbid_reuse (as the scheduler sends a POST without Idempotency-Key),
 * all with HTTP/2 prior knowledge. */
static void
submit_h2(struct ctx *c, const char *base, unsigned n)
{
  unsigned i;

  for (i = 0; i < n; i++) {
    char url[128];
    struct pacer_http_request *req;

    snprintf(url, sizeof(url), "%s/r/%u", base, i);
    req = request(i, i % 2 ? "POST" : "GET", url);
    req->http_version = PACER_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    if (i % 2) {
      assert_int_equal(pacer_http_request_set_body(req, "{\"n\":1}", 7), 0);
      req->forbid_reuse = 1;
    }
    submit(c, req);
  }
}

/* Prior knowledge reaches an h2c upstream: every request answered once,
 * with the exact method and path. */
static void
h2_prior_knowledge_requests_are_answered_once(void **state)
{
  static const char *const flags[] = {NULL};
  struct testapi h2 = {.pid = -1, .out = -1};
  struct ctx *c;
  unsigned i;

  (void)state;
  assert_int_equal(upstream_start(PACER_TESTAPI_H2_PATH, &h2, flags,
                                  "test_pool-testapi-h2.log"),
                   0);
  c = ctx_new(2);
  c->keep = 1;
  submit_h2(c, h2.url, 20);
  assert_true(wait_for(c, 20, 20000));
  assert_int_equal(c->status_200, 20);
  for (i = 0; i < 20; i++) {
    cJSON *doc = body_json(c->kept[i]);
    char path[32];

    snprintf(path, sizeof(path), "/r/%u", i);
    assert_string_equal(json_str(doc, "method"), i % 2 ? "POST" : "GET");
    assert_string_equal(json_str(doc, "path"), path);
    cJSON_Delete(doc);
  }
  assert_true(h2_stat(h2.url, "requests") == 20);
  ctx_free(c);
  testapi_stop(&h2);
}

/* RST_STREAM(REFUSED_STREAM) on every stream: libcurl 7.88 re-sends each
 * request 5 times on new connections, then the pool reports
 * refused_stream; nothing was processed. */
static void
h2_refused_streams_end_as_refused_stream_and_are_never_processed(void **state)
{
  static const char *const flags[] = {"--refuse-all", NULL};
  struct testapi h2 = {.pid = -1, .out = -1};
  struct ctx *c;
  unsigned i;

  (void)state;
  assert_int_equal(upstream_start(PACER_TESTAPI_H2_PATH, &h2, flags,
                                  "test_pool-testapi-h2-refuse.log"),
                   0);
  c = ctx_new(2);
  c->keep = 1;
  submit_h2(c, h2.url, 10);
  assert_true(wait_for(c, 10, 20000));
  assert_int_equal(c->by_result[PACER_HTTP_REFUSED], 10);
  for (i = 0; i < 10; i++) {
    assert_string_equal(pacer_http_result_name(c->kept[i]->result),
                        "refused_stream");
    assert_int_equal(c->kept[i]->status, 0);
    assert_non_null(strstr(c->kept[i]->error, "never processed"));
  }
  assert_true(h2_stat(h2.url, "requests") == 0);
  assert_true(h2_stat(h2.url, "refused") == 60); /* 6 tries each */
  ctx_free(c);
  testapi_stop(&h2);
}

/* GOAWAY(last_stream_id = 0) on every connection: libcurl 7.88 reports
 * the stream as a bare CURLE_HTTP2 without a retry; the pool still reports
 * refused_stream, because the GOAWAY names a lower last_stream_id (RFC
 * 9113 §6.8). */
static void
h2_streams_above_goaway_last_stream_id_end_as_refused_stream(void **state)
{
  static const char *const flags[] = {"--goaway-refuse-every", "1", NULL};
  struct testapi h2 = {.pid = -1, .out = -1};
  struct ctx *c;

  (void)state;
  assert_int_equal(upstream_start(PACER_TESTAPI_H2_PATH, &h2, flags,
                                  "test_pool-testapi-h2-goaway.log"),
                   0);
  c = ctx_new(2);
  submit_h2(c, h2.url, 8);
  assert_true(wait_for(c, 8, 20000));
  assert_int_equal(c->by_result[PACER_HTTP_REFUSED], 8);
  assert_true(h2_stat(h2.url, "requests") == 0);
  assert_true(h2_stat(h2.url, "ignored") == 8); /* libcurl did not retry */
  ctx_free(c);
  testapi_stop(&h2);
}

/* GOAWAY(last_stream_id = the stream's own id) after every connection's
 * first stream: the stream is at, not above, last_stream_id, so it is
 * processed and answered (RFC 9113 §6.8), and a GOAWAY alone never makes
 * an outcome refused_stream. */
static void
h2_stream_at_goaway_last_stream_id_is_answered_not_refused(void **state)
{
  static const char *const flags[] = {"--goaway-after", "1", NULL};
  struct testapi h2 = {.pid = -1, .out = -1};
  struct ctx *c;

  (void)state;
  assert_int_equal(upstream_start(PACER_TESTAPI_H2_PATH, &h2, flags,
                                  "test_pool-testapi-h2-goaway-after.log"),
                   0);
  c = ctx_new(2);
  submit_h2(c, h2.url, 8);
  assert_true(wait_for(c, 8, 20000));
  assert_int_equal(c->by_result[PACER_HTTP_OK], 8);
  assert_int_equal(c->by_result[PACER_HTTP_REFUSED], 0);
  assert_true(h2_stat(h2.url, "requests") == 8);
  assert_true(h2_stat(h2.url, "goaways") >= 1);
  ctx_free(c);
  testapi_stop(&h2);
}

/* The one libcurl info line the GOAWAY check reads: both spellings libcurl
 * used before 8.5.0, nothing looser (a request header or a URL that merely
 * mentions GOAWAY is not it). */
static void
goaway_info_line_is_read_in_both_spellings_and_nothing_else(void **state)
{
  static const struct {
    const char *line;
    int rc;
    uint32_t last;
  } cases[] = {
      {"recveived GOAWAY, error=0, last_stream=0\n", 0, 0},
      {"received GOAWAY, error=0, last_stream=0\n", 0, 0},
      {"received GOAWAY, error=2, last_stream=2147483647", 0, 2147483647u},
      {"received GOAWAY, error=0, last_stream=2147483648\n", -1, 0},
      {"received GOAWAY, error=0, last_stream=\n", -1, 0},
      {"received GOAWAY, error=0, last_stream=1 (extra)\n", -1, 0},
      {"GOAWAY, error=0, last_stream=0\n", -1, 0},
      {"h2h3 [x-note: received GOAWAY, error=0, last_stream=0]\n", -1, 0},
      {"Received GOAWAY, error=0, last_stream=0\n", -1, 0},
      {"Using Stream ID: 1 (easy handle 0x1)\n", -1, 0},
      {"", -1, 0},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint32_t last = 77;
    int rc =
        pacer_curl_uv_goaway_text(cases[i].line, strlen(cases[i].line), &last);

    if (rc != cases[i].rc)
      fail_msg("\"%s\": %d, want %d", cases[i].line, rc, cases[i].rc);
    if (rc == 0)
      assert_int_equal(last, cases[i].last);
  }
}

/* A paced request that would leave more than late_max_us after its slot
 * is not sent (missed_slot, the upstream counts nothing), and it does not
 * push the next request of its key back: that one leaves at its own slot
 * instead of a pace gap after the missed one (workers/pace.c,
 * pacer_pace_missed). */
static void
missed_slot_is_not_sent_and_does_not_delay_the_next(void **state)
{
  struct ctx *c = ctx_new(1);
  uint64_t now = uv_hrtime() / 1000u;
  struct pacer_http_request *late = request(0, "GET", "/fast");
  struct pacer_http_request *next = request(1, "GET", "/fast");
  double before;

  (void)state;
  c->keep = 1;
  /* one request first, so the late one goes on a connection it reuses: a
   * late request on a connection it opened is sent (test below) */
  submit(c, request(2, "GET", "/fast"));
  assert_true(wait_for(c, 1, 30000));
  now = uv_hrtime() / 1000u;
  before = upstream_stat("requests");
  assert_true(before >= 0);
  late->send_at_mono_us = now - 50000u; /* 50 ms late already */
  late->late_max_us = 4000u;
  late->pace_key = 7;
  late->pace_gap_us = 300000u;
  /* spaced from the missed one it would leave ~300 ms late; at its own
   * slot it leaves well inside 150 ms */
  next->send_at_mono_us = now + 5000u;
  next->late_max_us = 150000u;
  next->pace_key = 7;
  next->pace_gap_us = 300000u;
  submit(c, late);
  submit(c, next);
  assert_true(wait_for(c, 3, 30000));
  assert_non_null(c->kept[0]);
  assert_non_null(c->kept[1]);
  assert_int_equal(c->kept[0]->result, PACER_HTTP_MISSED_SLOT);
  assert_int_equal(c->kept[0]->status, 0);
  assert_non_null(strstr(c->kept[0]->error, "after its slot"));
  assert_int_equal(c->kept[1]->result, PACER_HTTP_OK);
  assert_int_equal(c->kept[1]->status, 200);
  assert_true(upstream_stat("requests") - before == 1.0);
  ctx_free(c);
}

/* A paced request handed to its worker thread when it is already later
 * than late_max_us past its slot is given back at release, before curl
 * sees it: missed_slot, nothing reaches the upstream, and no connection is
 * opened or closed for it (workers/worker.c on_release). curl's
 * pre-request hook makes the same test for a request that became late
 * inside curl (workers/xfer_cb.c), except on a connection it opened
 * itself, since that abort closes the connection. */
static void
late_release_is_given_back_before_curl(void **state)
{
  struct ctx *c = ctx_new(1);
  struct pacer_http_request *late = request(0, "GET", "/fast");
  double before;

  (void)state;
  c->keep = 1;
  before = upstream_stat("requests");
  assert_true(before >= 0);
  late->send_at_mono_us = uv_hrtime() / 1000u - 50000u; /* 50 ms late */
  late->late_max_us = 4000u;
  late->pace_key = 7;
  late->pace_gap_us = 300000u;
  submit(c, late);
  assert_true(wait_for(c, 1, 30000));
  assert_non_null(c->kept[0]);
  assert_int_equal(c->kept[0]->result, PACER_HTTP_MISSED_SLOT);
  assert_int_equal(c->kept[0]->status, 0);
  assert_non_null(strstr(c->kept[0]->error, "released"));
  assert_true(upstream_stat("requests") - before == 0.0);
  ctx_free(c);
}

/* times_of(account, t_ms[], max): the upstream's arrival times (ms) of
 * the requests made with ?account=ACCOUNT, in order; returns how many. */
static int
times_of(const char *account, double *t_ms, int max)
{
  uint64_t since = 0;
  int n = 0;

  for (;;) { /* every record, a page at a time */
    char path[96];
    cJSON *doc, *r;
    const cJSON *next;
    int page = 0;

    snprintf(path, sizeof(path), "/admin/requests?since=%llu&limit=4096",
             (unsigned long long)since);
    doc = upstream_json(base_url, path);
    assert_non_null(doc);
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "requests"))
    {
      const cJSON *acct = cJSON_GetObjectItemCaseSensitive(r, "account");
      const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "t_ms");

      page++;
      if (!cJSON_IsString(acct) || strcmp(acct->valuestring, account) != 0)
        continue;
      assert_true(cJSON_IsNumber(t));
      assert_true(n < max);
      t_ms[n++] = t->valuedouble;
    }
    next = cJSON_GetObjectItemCaseSensitive(doc, "next");
    assert_true(cJSON_IsNumber(next));
    since = (uint64_t)next->valuedouble;
    cJSON_Delete(doc);
    if (page == 0)
      return n;
  }
}

/* Sleeps us microseconds (the test thread only). */
static void
sleep_us(long us)
{
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

  while (nanosleep(&ts, &ts) != 0)
    continue;
}

/* Sends N requests of one pace key with gap_us, due from 20 ms on, each
 * one gap after the one before, with ?account=account, and returns the
 * span of their arrivals at the upstream, ms. */
static double
paced_span_ms(const char *account, uint64_t gap_us)
{
  enum { N = 40 };
  struct ctx *c = ctx_new(1);
  uint64_t now = uv_hrtime() / 1000u;
  double t[N], first, last;
  char path[80];
  int i;

  snprintf(path, sizeof(path), "/fast?account=%s", account);
  for (i = 0; i < N; i++) {
    struct pacer_http_request *req = request((uint64_t)i, "GET", path);

    /* handed over one at a time, 5 ms before its slot, as the scheduler
     * does (scheduler/dispatch.c) */
    req->send_at_mono_us = now + 20000u + (uint64_t)i * gap_us;
    req->pace_key = 11;
    req->pace_gap_us = gap_us;
    while (uv_hrtime() / 1000u + 5000u < req->send_at_mono_us)
      sleep_us(200);
    submit(c, req);
  }
  assert_true(wait_for(c, N, 30000));
  assert_int_equal(times_of(account, t, N), N);
  first = last = t[0];
  for (i = 1; i < N; i++) {
    if (t[i] < first)
      first = t[i];
    if (t[i] > last)
      last = t[i];
  }
  ctx_free(c);
  return last - first;
}

/* Requests of one pace key due 2 ms apart reach the upstream spread over
 * their slots: the pacer lets curl send each one before it waits for the
 * next (workers/pace.c, run), instead of releasing them all inside one
 * wait and curl sending them together afterwards; and a request handed
 * over does not make the pacer sleep inside on_wake (run, may_sleep 0):
 * handed over one at a time, as the scheduler does, they reached the
 * upstream within 4 ms. */
static void
paced_requests_reach_the_upstream_spread_not_in_one_burst(void **state)
{
  (void)state;
  /* 39 gaps of 2 ms are 78 ms; sent in one burst they span a few ms */
  assert_true(paced_span_ms("pace-spread", 2000u) >= 50);
}

/* The same 1 ms apart (1,000/s). When each request handed over slept
 * in on_wake until its slot, on_wake ran as long as the next one came
 * meanwhile, the loop never ran curl, and all 40 left together once the
 * hand-overs ended: a span of 4-5 ms, every run (bench/limits.sh at
 * 1,000/s: 30 within 2 ms at nginx). */
static void
paced_requests_1_ms_apart_reach_the_upstream_spread(void **state)
{
  (void)state;
  /* 39 gaps of 1.005 ms are 39 ms */
  assert_true(paced_span_ms("pace-spread-1ms", 1005u) >= 25);
}

/* A request with a second pace key (its account's burst-0 bucket, under
 * an app bucket that routes and spaces every request) keeps that key's gap
 * from the account's last request too: account x's second request, due
 * 5 ms after its first, leaves 60 ms after it, not 2 ms after the
 * request of account y between them (workers/pace.c, earliest; stacked
 * limits at nginx, e2e_nginx_limits D). */
static void
second_pace_key_keeps_its_own_gap(void **state)
{
  struct ctx *c = ctx_new(1);
  uint64_t now = uv_hrtime() / 1000u;
  const char *path[] = {"/fast?account=pace2-x", "/fast?account=pace2-y",
                        "/fast?account=pace2-x"};
  const uint64_t key2[] = {21, 22, 21}, due[] = {20000, 22000, 25000};
  double tx[4], ty[4];
  int i;

  (void)state;
  for (i = 0; i < 3; i++) {
    struct pacer_http_request *req = request((uint64_t)i, "GET", path[i]);

    req->send_at_mono_us = now + due[i];
    req->pace_key = 20;
    req->pace_gap_us = 2000u;
    req->pace_key2 = key2[i];
    req->pace_gap2_us = 60000u;
    submit(c, req);
  }
  assert_true(wait_for(c, 3, 30000));
  assert_int_equal(times_of("pace2-x", tx, 4), 2);
  assert_int_equal(times_of("pace2-y", ty, 4), 1);
  /* y is not held back by x's key: it leaves near its own slot */
  assert_true(ty[0] - tx[0] < 45);
  /* 60 ms less the first one's release-to-wire time (a connect, a few ms
   * under ASan): well above the 5 ms of their slots */
  assert_true(tx[1] - tx[0] >= 50);
  ctx_free(c);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gzip_bombs_are_too_large_and_rss_stays_bounded),
      cmocka_unit_test(echo_sees_the_exact_method_headers_and_body),
      cmocka_unit_test(
          bursts_of_1000_after_idle_give_exactly_1000_requests_each),
      cmocka_unit_test(
          body_over_the_cap_is_too_large_with_and_without_content_length),
      cmocka_unit_test(
          refused_connection_is_a_connect_error_without_request_headers),
      cmocka_unit_test(slow_response_times_out_at_about_the_requested_time),
      cmocka_unit_test(
          redirects_to_file_or_gopher_and_non_http_urls_are_refused),
      cmocka_unit_test(
          redirect_is_the_final_response_when_follow_redirects_is_0),
      cmocka_unit_test(
          destination_policy_blocks_loopback_in_every_spelling_before_connect),
      cmocka_unit_test(
          destination_policy_blocks_a_redirect_hop_that_is_never_connected),
      cmocka_unit_test(
          destination_policy_checks_the_peer_of_a_reused_connection),
      cmocka_unit_test(forbid_reuse_sends_each_post_once_when_connections_drop),
      cmocka_unit_test(
          kept_response_headers_are_lower_case_json_joined_and_escaped),
      cmocka_unit_test(invalid_requests_fail_without_echoing_header_text),
      cmocka_unit_test(
          unwatchable_socket_fails_its_transfer_and_the_pool_goes_on),
      cmocka_unit_test(stop_with_cancel_returns_50_canceled_outcomes_promptly),
      cmocka_unit_test(
          graceful_stop_finishes_running_transfers_then_refuses_more),
      cmocka_unit_test(h2_prior_knowledge_requests_are_answered_once),
      cmocka_unit_test(
          h2_refused_streams_end_as_refused_stream_and_are_never_processed),
      cmocka_unit_test(
          h2_streams_above_goaway_last_stream_id_end_as_refused_stream),
      cmocka_unit_test(
          h2_stream_at_goaway_last_stream_id_is_answered_not_refused),
      cmocka_unit_test(
          goaway_info_line_is_read_in_both_spellings_and_nothing_else),
      cmocka_unit_test(missed_slot_is_not_sent_and_does_not_delay_the_next),
      cmocka_unit_test(late_release_is_given_back_before_curl),
      cmocka_unit_test(
          paced_requests_reach_the_upstream_spread_not_in_one_burst),
      cmocka_unit_test(paced_requests_1_ms_apart_reach_the_upstream_spread),
      cmocka_unit_test(second_pace_key_keeps_its_own_gap),
  };

  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
