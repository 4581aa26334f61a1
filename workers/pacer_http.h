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

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/dest_policy.h"
#include "core/result.h"

#define PACER_HTTP_MAX_HEADERS      72 /* request headers per request */
#define PACER_HTTP_BODY_CAP_DEFAULT (8u * 1024u * 1024u) /* bytes */
#define PACER_HTTP_MAX_REDIRECTS    5                    /* hops */

/* enum pacer_http_result (how a transfer ended) and pacer_http_result_name
 * live in core/result.h, with the result reasons they map to. */

/** The HTTP version a request asks libcurl for (CURLOPT_HTTP_VERSION). */
enum pacer_http_version {
  PACER_HTTP_VERSION_DEFAULT = 0, /* CURL_HTTP_VERSION_2TLS: h2 by ALPN over
                                     https, HTTP/1.1 over http */
  PACER_HTTP_VERSION_1_1,         /* CURL_HTTP_VERSION_1_1 */
  PACER_HTTP_VERSION_2,           /* CURL_HTTP_VERSION_2_0: ALPN h2 over
                                     https; Upgrade: h2c (RFC 7540 §3.2)
                                     over http */
  PACER_HTTP_VERSION_2_PRIOR_KNOWLEDGE /* CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE:
                                          h2 from the first byte, also
                                          over http (RFC 9113 §3.3) */
};

/** A fully prepared request. The scheduler allocates it (pacer_http_request_new
 *  or by hand with malloc'd fields; a calloc'd request has follow_redirects
 *  0, so set it) and hands ownership to the pool with
 *  pacer_pool_submit; it comes back, still owned by the outcome, in
 *  outcome->req. Free with pacer_http_request_free. */
struct pacer_http_request {
  uint64_t tag;   /* opaque to workers: the scheduler's job ref */
  char *method;   /* "GET", "PUT", ... owned */
  char *url;      /* owned */
  char **headers; /* "Name: value" lines, owned, nheaders long */
  size_t nheaders;
  char *body;                  /* owned, or NULL */
  size_t body_len;             /* bytes */
  uint32_t connect_timeout_ms; /* ms, 0 = libcurl default */
  uint32_t timeout_ms;         /* total, ms, 0 = none */
  size_t body_cap_bytes;       /* max decoded response body kept, bytes;
                                  0 = PACER_HTTP_BODY_CAP_DEFAULT */
  int follow_redirects;        /* 1 = follow up to PACER_HTTP_MAX_REDIRECTS hops
                                  (pacer_http_request_new's default); 0 = a 3xx
                                  is the final response and its target is never
                                  contacted. libcurl strips only Authorization and
                                  Cookie on a cross-host hop, so the scheduler
                                  sets 0 for a job with any other secret header
                                  (X-Api-Key, ...). */
  int forbid_reuse;            /* 1 = a fresh connection, closed afterwards
                                  (CURLOPT_FRESH_CONNECT + CURLOPT_FORBID_REUSE).
                                  libcurl silently re-sends a request whose
                                  reused keep-alive connection died before the
                                  response; the scheduler sets 1 for POST/PATCH
                                  without Idempotency-Key so such a request is
                                  sent at most once per attempt. 0 = reuse. */
  enum pacer_http_version http_version; /* calloc'd: the default. Cleartext
                                  (http://) HTTP/2 with libcurl < 8.0.0 gets
                                  a connection of its own per request, as if
                                  forbid_reuse were 1: 7.88 breaks an h2c
                                  connection that a second transfer reuses
                                  (curl issue #10634) */
  const struct pacer_dest_policy *dest_policy; /* borrowed, read-only, may be
                                  shared by many requests and threads; must
                                  outlive the outcome. NULL (the default) or
                                  PACER_DEST_ANY: connect anywhere. Otherwise
                                  every address the transfer would connect
                                  to, after DNS and on every redirect hop, is
                                  checked before connect() (and a reused
                                  connection's peer before the request is
                                  sent); a refused one ends the transfer as
                                  PACER_HTTP_BLOCKED. Proxy environment
                                  variables are ignored then, because a proxy
                                  would be the address checked. */
  const atomic_int *abort_flag; /* borrowed, may be NULL; must outlive the
                                  outcome. The scheduler sets it to 1 to
                                  abort the transfer (`pacer cancel`); the
                                  worker checks it in libcurl's progress
                                  callback and ends the transfer with
                                  CURLE_ABORTED_BY_CALLBACK (a transport
                                  result) */
  uint64_t send_at_mono_us;     /* 0: at once. Otherwise the worker holds the
                                   request until uv_hrtime() / 1000 reaches it
                                   and hands it to curl then (send-time
                                   pacing, docs/LIMITS.md) */
  uint64_t pace_key;            /* 0: none. Requests with the same key go to
                                   the same worker thread and reach the wire
                                   at least pace_gap_us apart (workers/
                                   pace.h) */
  uint64_t pace_gap_us;         /* us, with pace_key */
  uint64_t pace_key2;           /* 0: none. A second bucket: in the thread
                                   pace_key routes it to, the request also
                                   reaches the wire at least pace_gap2_us
                                   after the last one of pace_key2 there
                                   (workers/pace.h) */
  uint64_t pace_gap2_us;        /* us, with pace_key2 */
  uint64_t late_max_us;         /* with send_at_mono_us: 0 = no limit.
                                   Otherwise a request that would reach the
                                   wire more than this after send_at is not
                                   sent and ends PACER_HTTP_MISSED_SLOT */
  uint64_t released_mono_us;    /* set by the worker: when it handed the
                                   request to curl, mono us */
};

/** What came back. Owned by the scheduler inside outcome_cb; free with
 *  pacer_http_outcome_free (which also frees req). */
struct pacer_http_outcome {
  struct pacer_http_request *req; /* the request, returned, owned */
  enum pacer_http_result result;
  long status;        /* HTTP status, 0 when none */
  char *body;         /* response body (decoded), owned, NUL-term.
                         For results other than OK, what arrived
                         before the end (at most body_cap_bytes).
                         NULL only when memory ran out. */
  size_t body_len;    /* bytes */
  char *headers_json; /* selected response headers as a JSON object
                         (lower-case names: content-type, date,
                         retry-after, ratelimit*, x-ratelimit-*,
                         location, etag, www-authenticate, and the
                         x-business-use-case-usage, x-ad-account-usage
                         and x-app-usage of throttle rules, and link
                         for paginate), owned.
                         Final response only; a repeated header's
                         values are joined with ", ". NULL only
                         when memory ran out. */
  uint64_t total_us;  /* transfer time, microseconds */
  char error[256];    /* transport error text (curl errbuf), or "" */
};

struct pacer_pool;

/** Called on the scheduler loop's thread once per submitted request, with
 *  an outcome the callee owns. During pacer_pool_stop, requests not yet
 *  finished come back with result PACER_HTTP_CANCELED. */
typedef void (*pacer_outcome_cb)(struct pacer_pool *pool,
                                 struct pacer_http_outcome *outcome, void *arg);

/** Creates a pool of nworkers worker threads (each its own uv_loop_t and
 *  CURLM) whose outcomes are delivered on loop (borrowed; the scheduler's
 *  loop) through cb. user_agent borrowed, copied. Returns 0 and *out owned
 *  (stop with pacer_pool_stop, then free with pacer_pool_free after the loop
 *  has run the close callbacks), or a negative PACER_E* or UV_E* code.
 *  curl_global_init must have been called. Scheduler thread only. */
int pacer_pool_start(uv_loop_t *loop, unsigned nworkers, const char *user_agent,
                     pacer_outcome_cb cb, void *arg, struct pacer_pool **out);

/** Queues req (takes ownership) on the least busy worker, or, when
 *  req->pace_key is set, on the worker that key maps to. Returns 0, or
 *  PACER_ECANCELED once stopping (req is then NOT taken: caller frees).
 *  Scheduler thread only. */
int pacer_pool_submit(struct pacer_pool *pool, struct pacer_http_request *req);

/** Wakes every worker to end the transfers whose request's abort_flag was
 *  raised (`pacer cancel`); each still gets exactly one outcome. Scheduler
 *  thread only. */
void pacer_pool_wake_aborts(struct pacer_pool *pool);

/** Number of submitted requests whose outcome has not been delivered yet.
 *  Scheduler thread only. */
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

/** Frees a stopped pool. If the loop has not yet run the close callback
 *  of the pool's handle, the memory is released from that callback instead,
 *  so calling it from the close callback of the caller's own handles is
 *  safe whatever order libuv runs them in. NULL does nothing. Scheduler
 *  thread only; not from inside outcome_cb. */
void pacer_pool_free(struct pacer_pool *pool);

/** Returns a request for method and url (both borrowed, copied) with no
 *  headers or body, the default body cap, follow_redirects 1,
 *  forbid_reuse 0 and no dest_policy, owned (free with
 *  pacer_http_request_free), or NULL when out of memory. Any thread. */
struct pacer_http_request *pacer_http_request_new(const char *method,
                                                  const char *url);

/** Appends a "Name: value" line (borrowed, copied) to req's headers.
 *  Returns 0, PACER_EINVAL when line holds CR or LF or req already has
 *  PACER_HTTP_MAX_HEADERS lines, or PACER_ENOMEM. Any thread. */
int pacer_http_request_add_header(struct pacer_http_request *req,
                                  const char *line);

/** Sets req's body to a copy of len bytes at body (borrowed), replacing
 *  any body. len 0 sends an empty body (Content-Length: 0). Returns 0 or
 *  PACER_ENOMEM. Any thread. */
int pacer_http_request_set_body(struct pacer_http_request *req,
                                const void *body, size_t len);

/** How late (us) req would leave at now_mono_us (CLOCK_MONOTONIC, us)
 *  past its slot, when that is more than its late_max_us: the request is
 *  then not sent and ends PACER_HTTP_MISSED_SLOT (docs/LIMITS.md "Against
 *  a strict limiter", item 6). 0: on time, or no slot or no bound. Pure;
 *  any thread. */
uint64_t pacer_http_request_missed_us(const struct pacer_http_request *req,
                                      uint64_t now_mono_us);

/** Frees req and its fields, wiping header lines and body first (they may
 *  hold credentials). NULL does nothing. Any thread. */
void pacer_http_request_free(struct pacer_http_request *req);

/** Frees outcome, its fields and its req, wiping the body first. NULL
 *  does nothing. Any thread. */
void pacer_http_outcome_free(struct pacer_http_outcome *outcome);

#endif
