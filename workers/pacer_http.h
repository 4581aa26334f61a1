/* The one meeting point of scheduler and workers: plain request/outcome
 * message structs and the functions that queue them.
 *
 *   scheduler thread                      worker thread k (uv_loop + CURLM)
 *   pacer_pool_submit(req) --mutex q + uv_async-->  curl_multi_add_handle
 *   outcome_cb(outcome)   <--mutex q + uv_async---  curl_multi_info_read
 *
 * Workers never decide policy: they run the request exactly as prepared and
 * report what happened. Workers never include scheduler headers.
 */
#ifndef PACER_WORKERS_PACER_HTTP_H
#define PACER_WORKERS_PACER_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define PACER_HTTP_MAX_HEADERS 72          /* request headers per request */
#define PACER_HTTP_BODY_CAP_DEFAULT (8u * 1024u * 1024u) /* bytes */
#define PACER_HTTP_MAX_REDIRECTS 5         /* hops */

/** Why a transfer did not produce a usable response. */
enum pacer_http_result {
  PACER_HTTP_OK = 0,          /* a complete response arrived (any status) */
  PACER_HTTP_TOO_LARGE,       /* body exceeded body_cap_bytes (decoded) */
  PACER_HTTP_TIMEOUT,         /* connect or total timeout */
  PACER_HTTP_CONNECT,         /* DNS, refused, reset before response */
  PACER_HTTP_TRANSPORT,       /* other transport error (TLS, read, ...) */
  PACER_HTTP_CANCELED         /* pool shut down before completion */
};

/** A fully prepared request. The scheduler allocates it (pacer_http_request_new
 *  or by hand with malloc'd fields) and hands ownership to the pool with
 *  pacer_pool_submit; it comes back, still owned by the outcome, in
 *  outcome->req. Free with pacer_http_request_free. */
struct pacer_http_request {
  uint64_t tag;               /* opaque to workers: the scheduler's job ref */
  char *method;               /* "GET", "PUT", ... owned */
  char *url;                  /* owned */
  char **headers;             /* "Name: value" lines, owned, nheaders long */
  size_t nheaders;
  char *body;                 /* owned, or NULL */
  size_t body_len;            /* bytes */
  uint32_t connect_timeout_ms; /* ms, 0 = libcurl default */
  uint32_t timeout_ms;        /* total, ms, 0 = none */
  size_t body_cap_bytes;      /* max decoded response body kept, bytes */
};

/** What came back. Owned by the scheduler inside outcome_cb; free with
 *  pacer_http_outcome_free (which also frees req). */
struct pacer_http_outcome {
  struct pacer_http_request *req; /* the request, returned, owned */
  enum pacer_http_result result;
  long status;                /* HTTP status, 0 when none */
  char *body;                 /* response body (decoded), owned, NUL-term. */
  size_t body_len;            /* bytes */
  char *headers_json;         /* selected response headers as a JSON object
                                 (lower-case names: content-type, date,
                                 retry-after, ratelimit*, x-ratelimit-*,
                                 location, etag, www-authenticate), owned */
  uint64_t total_us;          /* transfer time, microseconds */
  char error[256];            /* transport error text (curl errbuf), or "" */
};

struct pacer_pool;

/** Called on the scheduler loop's thread once per submitted request, with
 *  an outcome the callee owns. During pacer_pool_stop, requests not yet
 *  finished come back with result PACER_HTTP_CANCELED. */
typedef void (*pacer_outcome_cb)(struct pacer_pool *pool,
                                 struct pacer_http_outcome *outcome,
                                 void *arg);

/** Creates a pool of nworkers worker threads (each its own uv_loop_t and
 *  CURLM) whose outcomes are delivered on loop (borrowed; the scheduler's
 *  loop) through cb. user_agent borrowed, copied. Returns 0 and *out owned
 *  (stop with pacer_pool_stop, then free with pacer_pool_free after the loop
 *  has run the close callbacks), or a negative PACER_E* or UV_E* code.
 *  curl_global_init must have been called. Scheduler thread only. */
int pacer_pool_start(uv_loop_t *loop, unsigned nworkers,
                     const char *user_agent, pacer_outcome_cb cb, void *arg,
                     struct pacer_pool **out);

/** Queues req (takes ownership) on the least busy worker. Returns 0, or
 *  PACER_ECANCELED once stopping (req is then NOT taken: caller frees).
 *  Scheduler thread only. */
int pacer_pool_submit(struct pacer_pool *pool, struct pacer_http_request *req);

/** Number of submitted requests whose outcome has not been delivered yet. */
size_t pacer_pool_in_flight(const struct pacer_pool *pool);

/** Stops the pool: cancel=0 lets running transfers finish; cancel=1 aborts
 *  them (their outcomes carry PACER_HTTP_CANCELED). Blocks until every
 *  worker thread has exited, then calls cb synchronously for every outcome
 *  still undelivered (so each submitted request gets exactly one outcome),
 *  then uv_close()s the pool's handle on loop. Free the pool with
 *  pacer_pool_free after the loop has run that close callback. Graceful
 *  callers run the loop until pacer_pool_in_flight() is 0 first.
 *  Scheduler thread only. */
void pacer_pool_stop(struct pacer_pool *pool, int cancel);

/** Frees a stopped pool whose handles have closed. NULL does nothing. */
void pacer_pool_free(struct pacer_pool *pool);

/** Frees req and its fields. NULL does nothing. Any thread. */
void pacer_http_request_free(struct pacer_http_request *req);

/** Frees outcome, its fields and its req. NULL does nothing. Any thread. */
void pacer_http_outcome_free(struct pacer_http_outcome *outcome);

/** Returns a short stable name for r ("ok", "response_too_large",
 *  "timeout", "connect_error", "transport_error", "canceled"). */
const char *pacer_http_result_name(enum pacer_http_result r);

#endif
