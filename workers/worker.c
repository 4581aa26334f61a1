/* worker: the pool of worker threads behind pacer_http.h.
 *
 *   scheduler thread                          worker thread k
 *   ----------------                          ---------------
 *   pacer_pool_submit:                        on_wake (w->async):
 *     lock w->mutex                             lock; pop w->in; unlock
 *     reserve w->out for one more outcome       ... until w->in is empty
 *     push outcome shell {req} on w->in         pacer_curl_uv_start
 *     uv_async_send(w->async)                 curl_uv done_cb -> post:
 *     unlock                                    lock; push w->out; unlock
 *   on_outcomes (pool->async):                  uv_async_send(pool->async)
 *     pop every w->out until all are empty
 *     outcome_cb(outcome)
 *
 * Only uv_async_send crosses threads. libuv merges sends, so
 * both async callbacks drain their queues until empty. The outcome shell is
 * allocated at submit time and w->out grows at submit time, so a worker
 * never needs memory to report an outcome: every submitted request gets
 * exactly one outcome even when malloc fails on the worker.
 *
 * Shutdown (pacer_pool_stop), per worker, in this order:
 *   stop intake (pool->stopping; submit returns PACER_ECANCELED)
 *   -> finish (cancel=0) or remove (cancel=1) every transfer
 *   -> curl_multi_cleanup -> close timer and async handles
 *   -> uv_run until the loop is empty -> assert(uv_loop_close() == 0)
 *   then the scheduler joins every thread, delivers what is left in the
 *   outcome queues synchronously and uv_close()s pool->async.
 *
 * pool->async is uv_unref()'d: it never keeps the scheduler's loop alive by
 * itself. The scheduler decides how long its loop runs (its own timers,
 * Redis connection, signal handles) and must keep something referenced
 * while it waits for outcomes.
 */
#include "workers/pacer_http.h"

#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "workers/curl_uv.h"
#include "workers/pace.h"

#define RING_FIRST_SLOTS 16   /* first queue allocation, entries */
#define MAX_WORKERS      1024 /* threads per pool */

/* What a worker has been told to do. */
enum stop_mode {
  RUNNING = 0,
  STOP_GRACEFUL, /* run what is queued and running, then close */
  STOP_CANCEL    /* cancel what is queued and running, then close */
};

/* A FIFO of pointers in a growable circular array. */
struct ring {
  void **items;
  size_t cap;   /* slots allocated */
  size_t head;  /* index of the oldest entry */
  size_t count; /* entries held */
};

struct pacer_worker {
  struct pacer_pool *pool; /* borrowed back-pointer */
  unsigned id;
  uv_thread_t thread;
  uv_sem_t ready; /* posted once the thread's loop is up */
  int start_rc;   /* worker_open result, read after ready */

  /* Shared, guarded by mutex. */
  uv_mutex_t mutex;
  struct ring in;  /* outcome shells to start, req inside */
  struct ring out; /* finished outcomes for the scheduler */
  int stop;        /* enum stop_mode */

  /* Worker thread only. */
  uv_loop_t loop;
  uv_async_t async;        /* new requests or a stop */
  struct pacer_curl_uv cu; /* the CURLM and its timer */
  struct pacer_pace pace;  /* requests held until their send time */
  int stop_seen;           /* enum stop_mode last seen by on_wake */
  int in_wake;             /* inside on_wake */
  int closing;             /* worker_close has run */
  unsigned pending_closes; /* handles whose close cb has not run */

  /* Scheduler thread only. */
  size_t in_flight; /* submitted here, outcome not delivered */
};

struct pacer_pool {
  uv_loop_t *loop;  /* borrowed scheduler loop */
  uv_async_t async; /* outcomes ready; on loop, unref'd */
  pacer_outcome_cb cb;
  void *arg;
  char *user_agent;             /* owned */
  uv_thread_t owner;            /* the scheduler thread */
  struct pacer_worker *workers; /* owned array of nworkers */
  unsigned nworkers;
  unsigned nlocks;   /* workers whose mutex and sem exist */
  unsigned nthreads; /* worker threads running */
  unsigned next;     /* where the least-busy scan starts */
  size_t in_flight;  /* submitted, outcome not delivered */
  unsigned in_cb;    /* outcome callbacks running */
  int stopping;      /* pacer_pool_stop has begun */
  int stopped;       /* pacer_pool_stop has returned */
  int closed;        /* async's close callback ran */
  int free_pending;  /* pacer_pool_free waits for that */
};

/* ------------------------------------------------------------------ */
/* Requests and outcomes */

struct pacer_http_request *
pacer_http_request_new(const char *method, const char *url)
{
  struct pacer_http_request *req = calloc(1, sizeof(*req));

  if (req == NULL)
    return NULL;
  req->method = strdup(method);
  req->url = strdup(url);
  req->body_cap_bytes = PACER_HTTP_BODY_CAP_DEFAULT;
  req->follow_redirects = 1;
  if (req->method == NULL || req->url == NULL) {
    pacer_http_request_free(req);
    return NULL;
  }
  return req;
}

int
pacer_http_request_add_header(struct pacer_http_request *req, const char *line)
{
  char **h;
  char *copy;

  if (strpbrk(line, "\r\n") != NULL || req->nheaders >= PACER_HTTP_MAX_HEADERS)
    return PACER_EINVAL;
  copy = strdup(line);
  if (copy == NULL)
    return PACER_ENOMEM;
  h = realloc(req->headers, (req->nheaders + 1) * sizeof(*h));
  if (h == NULL) {
    free(copy);
    return PACER_ENOMEM;
  }
  h[req->nheaders++] = copy;
  req->headers = h;
  return 0;
}

int
pacer_http_request_set_body(struct pacer_http_request *req, const void *body,
                            size_t len)
{
  char *p = malloc(len != 0 ? len : 1);

  if (p == NULL)
    return PACER_ENOMEM;
  if (len != 0)
    memcpy(p, body, len);
  free(req->body);
  req->body = p;
  req->body_len = len;
  return 0;
}

uint64_t
pacer_http_request_missed_us(const struct pacer_http_request *req,
                             uint64_t now_mono_us)
{
  if (req->late_max_us == 0 || req->send_at_mono_us == 0 ||
      now_mono_us <= req->send_at_mono_us + req->late_max_us)
    return 0;
  return now_mono_us - req->send_at_mono_us;
}

void
pacer_http_request_free(struct pacer_http_request *req)
{
  size_t i;

  if (req == NULL)
    return;
  /* Header lines carry Authorization, a body may carry a refresh token or
   * client secret: wipe before free. */
  for (i = 0; req->headers != NULL && i < req->nheaders; i++) {
    if (req->headers[i] != NULL)
      explicit_bzero(req->headers[i], strlen(req->headers[i]));
    free(req->headers[i]);
  }
  free(req->headers);
  free(req->method);
  free(req->url);
  if (req->body != NULL)
    explicit_bzero(req->body, req->body_len);
  free(req->body);
  free(req);
}

void
pacer_http_outcome_free(struct pacer_http_outcome *outcome)
{
  if (outcome == NULL)
    return;
  pacer_http_request_free(outcome->req);
  if (outcome->body != NULL) /* a token endpoint's answer holds tokens */
    explicit_bzero(outcome->body, outcome->body_len);
  free(outcome->body);
  free(outcome->headers_json);
  free(outcome);
}

/* ------------------------------------------------------------------ */
/* Queues */

/* Makes room for n entries in total. */
static int
ring_reserve(struct ring *r, size_t n)
{
  size_t cap = r->cap != 0 ? r->cap : RING_FIRST_SLOTS;
  size_t i;
  void **p;

  if (r->cap >= n)
    return 0;
  while (cap < n) {
    if (cap > SIZE_MAX / 2 / sizeof(*p))
      return PACER_ENOMEM;
    cap *= 2;
  }
  p = malloc(cap * sizeof(*p));
  if (p == NULL)
    return PACER_ENOMEM;
  for (i = 0; i < r->count; i++)
    p[i] = r->items[(r->head + i) % r->cap];
  free(r->items);
  r->items = p;
  r->cap = cap;
  r->head = 0;
  return 0;
}

/* Appends v; room was reserved beforehand, so this cannot fail. */
static void
ring_push(struct ring *r, void *v)
{
  assert(r->count < r->cap);
  r->items[(r->head + r->count) % r->cap] = v;
  r->count++;
}

/* Removes and returns the oldest entry, or NULL when empty. */
static void *
ring_pop(struct ring *r)
{
  void *v;

  if (r->count == 0)
    return NULL;
  v = r->items[r->head];
  r->head = (r->head + 1) % r->cap;
  r->count--;
  return v;
}

/* ------------------------------------------------------------------ */
/* Worker thread */

static void
wake(uv_async_t *async, const char *what)
{
  int rc = uv_async_send(async);

  if (rc != 0)
    pacer_log(PACER_LOG_ERROR, "http",
              "msg=\"uv_async_send failed\" to=%s error=%s", what,
              uv_err_name(rc));
}

/* Queues outcome o for the scheduler. Worker thread. */
static void
post(struct pacer_worker *w, struct pacer_http_outcome *o)
{
  uv_mutex_lock(&w->mutex);
  ring_push(&w->out, o); /* reserved by pacer_pool_submit */
  uv_mutex_unlock(&w->mutex);
  wake(&w->pool->async, "scheduler");
}

static void
on_worker_handle_closed(struct pacer_worker *w)
{
  assert(w->pending_closes > 0);
  w->pending_closes--;
}

static void
on_cu_closed(struct pacer_curl_uv *cu)
{
  on_worker_handle_closed(PACER_CONTAINER_OF(cu, struct pacer_worker, cu));
}

static void
on_pace_closed(struct pacer_pace *p)
{
  on_worker_handle_closed(PACER_CONTAINER_OF(p, struct pacer_worker, pace));
}

static void
on_async_closed(uv_handle_t *h)
{
  on_worker_handle_closed(
      PACER_CONTAINER_OF((uv_async_t *)h, struct pacer_worker, async));
}

/* Every transfer has ended: close the multi handle, then the uv handles,
 * after which uv_run returns in worker_main. */
static void
worker_close(struct pacer_worker *w)
{
  assert(pacer_curl_uv_running(&w->cu) == 0);
  assert(pacer_pace_held(&w->pace) == 0);
  w->closing = 1;
  w->pending_closes = 3;
  pacer_curl_uv_close(&w->cu, on_cu_closed);
  pacer_pace_close(&w->pace, on_pace_closed);
  uv_close((uv_handle_t *)&w->async, on_async_closed);
}

/* Nothing running and nothing held: a stopping worker may close. */
static int
idle(struct pacer_worker *w)
{
  return pacer_curl_uv_running(&w->cu) == 0 && pacer_pace_held(&w->pace) == 0;
}

/* The pacer releases a held request at its send time: start it. */
static void
on_release(struct pacer_pace *p, struct pacer_http_outcome *o)
{
  struct pacer_worker *w = PACER_CONTAINER_OF(p, struct pacer_worker, pace);
  const struct pacer_http_request *r = o->req;
  uint64_t missed = pacer_http_request_missed_us(r, uv_hrtime() / 1000u);

  if (missed != 0) {
    /* This thread ran too late to release it on time (descheduled, or a
     * long loop turn): it is not handed to curl, and takes a new slot.
     * The same test curl's pre-request hook makes (xfer_cb.c), made here
     * without a transfer: an abort there closes the connection, and the
     * next request then waits for a handshake next to the one after it
     * (docs/LIMITS.md "Against a strict limiter"). */
    char msg[sizeof(o->error)];

    snprintf(msg, sizeof(msg),
             "pacing: released %" PRIu64 " us after its slot, more than "
             "the %" PRIu64 " us allowed; not sent",
             missed, r->late_max_us);
    pacer_curl_uv_outcome_fail(o, PACER_HTTP_MISSED_SLOT, msg);
    pacer_pace_missed(p, r);
    post(w, o);
  } else if (pacer_curl_uv_start(&w->cu, o) != 0) {
    post(w, o); /* start filled in result and error */
  }
  /* The last held request of a graceful stop failed to start: nothing
   * else would wake on_wake to close. */
  if (w->stop_seen != RUNNING && !w->in_wake && idle(w))
    wake(&w->async, "self");
}

/* curl puts a paced request on the wire now. */
static void
on_sent(struct pacer_curl_uv *cu, const struct pacer_http_request *req)
{
  struct pacer_worker *w = PACER_CONTAINER_OF(cu, struct pacer_worker, cu);

  pacer_pace_sent(&w->pace, req, uv_hrtime() / 1000u);
}

/* A cancelling stop: a held request ends without being sent. */
static void
on_cancel_held(struct pacer_pace *p, struct pacer_http_outcome *o)
{
  struct pacer_worker *w = PACER_CONTAINER_OF(p, struct pacer_worker, pace);

  pacer_curl_uv_outcome_fail(o, PACER_HTTP_CANCELED,
                             "pool: stopped before the transfer started");
  post(w, o);
}

/* curl_uv reports a finished transfer. */
static void
on_done(struct pacer_curl_uv *cu, struct pacer_http_outcome *o)
{
  struct pacer_worker *w = PACER_CONTAINER_OF(cu, struct pacer_worker, cu);

  if (o->result == PACER_HTTP_MISSED_SLOT)
    pacer_pace_missed(&w->pace, o->req);
  post(w, o);
  /* The last transfer of a graceful stop: close from on_wake, never from
   * here, which runs inside curl_uv's drain of curl_multi_info_read. */
  if (w->stop_seen != RUNNING && !w->in_wake && idle(w))
    wake(&w->async, "self");
}

static void
on_wake(uv_async_t *h)
{
  struct pacer_worker *w = PACER_CONTAINER_OF(h, struct pacer_worker, async);
  struct pacer_http_outcome *o;
  int stop;

  assert(!w->closing);
  w->in_wake = 1;
  for (;;) {
    uv_mutex_lock(&w->mutex);
    o = ring_pop(&w->in);
    stop = w->stop;
    uv_mutex_unlock(&w->mutex);
    w->stop_seen = stop;
    if (o == NULL)
      break;
    if (stop == STOP_CANCEL) {
      pacer_curl_uv_outcome_fail(o, PACER_HTTP_CANCELED,
                                 "pool: stopped before the transfer started");
      post(w, o);
    } else if (pacer_pace_wanted(o)) {
      (void)pacer_pace_hold(&w->pace, o); /* on failure released at once */
    } else if (pacer_curl_uv_start(&w->cu, o) != 0) {
      post(w, o); /* start filled in result and error */
    }
  }
  if (stop == STOP_CANCEL) {
    pacer_pace_drain(&w->pace, on_cancel_held);
    pacer_curl_uv_cancel_all(&w->cu);
  } else {
    pacer_curl_uv_abort_flagged(&w->cu); /* pacer_pool_wake_aborts */
  }
  w->in_wake = 0;
  if (stop != RUNNING && idle(w))
    worker_close(w);
}

/* Sets up the thread's loop, async and multi handle. On failure nothing is
 * left open. */
static int
worker_open(struct pacer_worker *w)
{
  int rc = uv_loop_init(&w->loop);

  if (rc != 0)
    return rc;
  rc = uv_async_init(&w->loop, &w->async, on_wake);
  if (rc != 0)
    goto fail_loop;
  rc = pacer_pace_init(&w->loop, &w->pace, on_release);
  if (rc != 0)
    goto fail_async;
  rc = pacer_curl_uv_init(&w->loop, &w->cu, w->pool->user_agent, on_done);
  if (rc != 0)
    goto fail_pace;
  w->cu.sent_cb = on_sent;
  return 0;
fail_pace:
  pacer_pace_close(&w->pace, NULL);
fail_async:
  uv_close((uv_handle_t *)&w->async, NULL);
  if (uv_run(&w->loop, UV_RUN_DEFAULT) != 0)
    pacer_log(PACER_LOG_ERROR, "http", "msg=\"worker loop still alive\"");
fail_loop:
  if (uv_loop_close(&w->loop) != 0)
    pacer_log(PACER_LOG_ERROR, "http", "msg=\"worker loop busy\"");
  return rc;
}

static void
worker_main(void *arg)
{
  struct pacer_worker *w = arg;
  int rc = worker_open(w);

  w->start_rc = rc;
  uv_sem_post(&w->ready); /* after a failure the scheduler joins us now */
  if (rc != 0)
    return;
  rc = uv_run(&w->loop, UV_RUN_DEFAULT);
  assert(rc == 0);
  assert(w->pending_closes == 0);
  rc = uv_loop_close(&w->loop);
  if (rc != 0)
    pacer_log(PACER_LOG_ERROR, "http",
              "msg=\"worker loop not empty at exit\" worker=%u error=%s", w->id,
              uv_err_name(rc));
  assert(rc == 0);
}

/* ------------------------------------------------------------------ */
/* Pool (scheduler thread) */

#ifndef NDEBUG
static int
on_owner_thread(const struct pacer_pool *pool)
{
  uv_thread_t self = uv_thread_self();

  return uv_thread_equal(&self, &pool->owner);
}
#endif

/* Tells every started worker to stop. The send happens under the mutex:
 * once a worker has seen the stop it may close its async, so no send may
 * follow the unlock. */
static void
signal_stop(struct pacer_pool *pool, int mode)
{
  unsigned i;

  for (i = 0; i < pool->nthreads; i++) {
    struct pacer_worker *w = &pool->workers[i];

    uv_mutex_lock(&w->mutex);
    w->stop = mode;
    wake(&w->async, "worker");
    uv_mutex_unlock(&w->mutex);
  }
}

static void
join_workers(struct pacer_pool *pool)
{
  unsigned i;

  for (i = 0; i < pool->nthreads; i++) {
    int rc = uv_thread_join(&pool->workers[i].thread);

    if (rc != 0)
      pacer_log(PACER_LOG_ERROR, "http",
                "msg=\"cannot join worker thread\" worker=%u error=%s", i,
                uv_err_name(rc));
  }
  pool->nthreads = 0;
}

static void
pool_destroy(struct pacer_pool *pool)
{
  unsigned i;

  for (i = 0; i < pool->nlocks; i++) {
    struct pacer_worker *w = &pool->workers[i];

    assert(w->in.count == 0 && w->out.count == 0);
    free(w->in.items);
    free(w->out.items);
    uv_sem_destroy(&w->ready);
    uv_mutex_destroy(&w->mutex);
  }
  free(pool->workers);
  free(pool->user_agent);
  free(pool);
}

/* Hands every queued outcome to cb, round-robin over the workers, until all
 * queues are empty. Safe against cb calling submit or stop. */
static void
deliver(struct pacer_pool *pool)
{
  int more = 1;

  while (more) {
    unsigned i;

    more = 0;
    for (i = 0; i < pool->nworkers; i++) {
      struct pacer_worker *w = &pool->workers[i];
      struct pacer_http_outcome *o;

      uv_mutex_lock(&w->mutex);
      o = ring_pop(&w->out);
      uv_mutex_unlock(&w->mutex);
      if (o == NULL)
        continue;
      more = 1;
      assert(w->in_flight > 0 && pool->in_flight > 0);
      w->in_flight--;
      pool->in_flight--;
      pool->in_cb++;
      pool->cb(pool, o, pool->arg);
      pool->in_cb--;
    }
  }
}

static void
on_outcomes(uv_async_t *h)
{
  deliver(PACER_CONTAINER_OF(h, struct pacer_pool, async));
}

static void
on_pool_closed(uv_handle_t *h)
{
  struct pacer_pool *pool =
      PACER_CONTAINER_OF((uv_async_t *)h, struct pacer_pool, async);

  pool->closed = 1;
  if (pool->free_pending)
    pool_destroy(pool);
}

int
pacer_pool_start(uv_loop_t *loop, unsigned nworkers, const char *user_agent,
                 pacer_outcome_cb cb, void *arg, struct pacer_pool **out)
{
  struct pacer_pool *pool;
  unsigned i;
  int rc;

  if (out == NULL)
    return PACER_EINVAL;
  *out = NULL;
  if (loop == NULL || cb == NULL || nworkers == 0 || nworkers > MAX_WORKERS)
    return PACER_EINVAL;
  rc = pacer_curl_uv_check_features();
  if (rc != 0)
    return rc;
  pool = calloc(1, sizeof(*pool));
  if (pool == NULL)
    return PACER_ENOMEM;
  pool->loop = loop;
  pool->cb = cb;
  pool->arg = arg;
  pool->owner = uv_thread_self();
  pool->nworkers = nworkers;
  pool->user_agent =
      strdup(user_agent != NULL ? user_agent : "pacer/" PACER_VERSION);
  pool->workers = calloc(nworkers, sizeof(*pool->workers));
  if (pool->user_agent == NULL || pool->workers == NULL) {
    rc = PACER_ENOMEM;
    goto fail;
  }
  for (i = 0; i < nworkers; i++) {
    struct pacer_worker *w = &pool->workers[i];

    w->pool = pool;
    w->id = i;
    rc = uv_mutex_init(&w->mutex);
    if (rc != 0)
      goto fail;
    rc = uv_sem_init(&w->ready, 0);
    if (rc != 0) {
      uv_mutex_destroy(&w->mutex);
      goto fail;
    }
    pool->nlocks++;
  }
  for (i = 0; i < nworkers; i++) {
    struct pacer_worker *w = &pool->workers[i];

    rc = uv_thread_create(&w->thread, worker_main, w);
    if (rc != 0)
      goto fail_threads;
    uv_sem_wait(&w->ready);
    if (w->start_rc != 0) {
      rc = w->start_rc;
      if (uv_thread_join(&w->thread) != 0)
        pacer_log(PACER_LOG_ERROR, "http", "msg=\"cannot join worker\"");
      goto fail_threads;
    }
    pool->nthreads++;
  }
  /* Last, so a failure above leaves no handle on the scheduler's loop. */
  rc = uv_async_init(loop, &pool->async, on_outcomes);
  if (rc != 0)
    goto fail_threads;
  uv_unref((uv_handle_t *)&pool->async);
  *out = pool;
  return 0;

fail_threads:
  signal_stop(pool, STOP_CANCEL); /* nothing was submitted: no outcomes */
  join_workers(pool);
fail:
  pacer_log(PACER_LOG_ERROR, "http",
            "msg=\"cannot start worker pool\" "
            "workers=%u error=%s",
            nworkers, pacer_err_name(rc));
  pool_destroy(pool);
  return rc;
}

/* Returns the worker with the fewest undelivered requests; ties go
 * round-robin so an idle pool spreads a burst over every thread. */
static struct pacer_worker *
least_busy(struct pacer_pool *pool)
{
  unsigned i, best = pool->next % pool->nworkers;

  for (i = 1; i < pool->nworkers; i++) {
    unsigned k = (pool->next + i) % pool->nworkers;

    if (pool->workers[k].in_flight < pool->workers[best].in_flight)
      best = k;
  }
  pool->next = (best + 1) % pool->nworkers;
  return &pool->workers[best];
}

int
pacer_pool_submit(struct pacer_pool *pool, struct pacer_http_request *req)
{
  struct pacer_http_outcome *o;
  struct pacer_worker *w;
  int rc;

  assert(on_owner_thread(pool));
  if (pool->stopping)
    return PACER_ECANCELED;
  if (req == NULL)
    return PACER_EINVAL;
  o = calloc(1, sizeof(*o));
  if (o == NULL)
    return PACER_ENOMEM;
  o->req = req;
  /* one thread per pace key, so its requests are spaced on one clock */
  w = req->pace_key != 0 ? &pool->workers[req->pace_key % pool->nworkers]
                         : least_busy(pool);
  uv_mutex_lock(&w->mutex);
  /* Room for this request's outcome now, so the worker never allocates to
   * report it: w->out never holds more than w->in_flight entries. */
  rc = ring_reserve(&w->out, w->in_flight + 1);
  if (rc == 0)
    rc = ring_reserve(&w->in, w->in.count + 1);
  if (rc == 0) {
    ring_push(&w->in, o);
    wake(&w->async, "worker");
  }
  uv_mutex_unlock(&w->mutex);
  if (rc != 0) {
    free(o); /* req stays the caller's */
    return rc;
  }
  w->in_flight++;
  pool->in_flight++;
  return 0;
}

void
pacer_pool_wake_aborts(struct pacer_pool *pool)
{
  unsigned i;

  assert(on_owner_thread(pool));
  if (pool->stopping)
    return;
  for (i = 0; i < pool->nworkers; i++)
    wake(&pool->workers[i].async, "worker");
}

size_t
pacer_pool_in_flight(const struct pacer_pool *pool)
{
  assert(on_owner_thread(pool));
  return pool->in_flight;
}

void
pacer_pool_stop(struct pacer_pool *pool, int cancel)
{
  assert(on_owner_thread(pool));
  if (pool->stopping)
    return; /* a second call, or one from an outcome_cb during stop */
  pool->stopping = 1;
  signal_stop(pool, cancel ? STOP_CANCEL : STOP_GRACEFUL);
  join_workers(pool);
  /* Every thread has exited, so every outcome is queued: hand them over. */
  deliver(pool);
  assert(pool->in_flight == 0);
  pool->stopped = 1;
  uv_close((uv_handle_t *)&pool->async, on_pool_closed);
}

void
pacer_pool_free(struct pacer_pool *pool)
{
  if (pool == NULL)
    return;
  assert(on_owner_thread(pool));
  assert(pool->stopped && pool->in_cb == 0);
  if (!pool->closed) {
    pool->free_pending = 1; /* on_pool_closed frees it */
    return;
  }
  pool_destroy(pool);
}
