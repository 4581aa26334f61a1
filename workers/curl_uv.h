/* curl_uv: one CURLM driven by curl_multi_socket_action on one uv loop, and
 * the transfers (struct pacer_xfer) that run pacer_http_request on it.
 * Internal to workers/: worker.c owns one per worker thread.
 *
 *   libcurl                    curl_uv                      uv loop
 *   SOCKETFUNCTION(IN/OUT) --> sock_new + uv_poll_start      uv_poll_t/socket
 *   SOCKETFUNCTION(REMOVE) --> uv_close, free in close cb
 *   TIMERFUNCTION(-1)      --> uv_timer_stop                 uv_timer_t (one)
 *   TIMERFUNCTION(n >= 0)  --> uv_timer_start(n ms)
 *   poll cb / timer cb     --> curl_multi_socket_action, then drain
 *                              curl_multi_info_read --> done_cb(outcome)
 *
 * libcurl is never called from inside its own SOCKETFUNCTION/TIMERFUNCTION:
 * those only start or stop uv handles (docs/WORKERS.md,
 * Sockets and timer; test_pool).
 */
#ifndef PACER_WORKERS_CURL_UV_H
#define PACER_WORKERS_CURL_UV_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "common/util.h"
#include "workers/pacer_http.h"

struct pacer_curl_uv;
struct pacer_xfer;
struct pacer_sock;

/** Called once per started transfer, on the loop's thread, with the
 *  outcome filled in (takes ownership of outcome). cu may be used inside,
 *  except pacer_curl_uv_close. */
typedef void (*pacer_curl_uv_done_cb)(struct pacer_curl_uv *cu,
                                      struct pacer_http_outcome *outcome);

/** Called once when every uv handle of cu has closed. */
typedef void (*pacer_curl_uv_close_cb)(struct pacer_curl_uv *cu);
/** Called from inside libcurl (CURLOPT_PREREQFUNCTION) right before a
 *  request with a pace_key goes on the wire, once per try; req borrowed.
 *  Must not call back into libcurl. */
typedef void (*pacer_curl_uv_sent_cb)(struct pacer_curl_uv *cu,
                                      const struct pacer_http_request *req);

/** Easy handles kept per multi handle for the next transfers
 *  (workers/xfer.c, handle reuse): a handle costs libcurl about a hundred
 *  allocations to set up; kept ones are curl_easy_reset, which clears
 *  every option. One per transfer of the default concurrency. */
#define PACER_CURL_UV_IDLE_MAX 64

/** One multi handle on one loop. Embed by value; all fields private. */
struct pacer_curl_uv {
  uv_loop_t *loop;        /* borrowed; the thread's loop */
  CURLM *multi;           /* owned; NULL once closed */
  uv_timer_t timer;       /* libcurl's single timeout */
  const char *user_agent; /* borrowed; outlives cu */
  pacer_curl_uv_done_cb done_cb;
  pacer_curl_uv_close_cb close_cb;
  pacer_curl_uv_sent_cb sent_cb; /* NULL, or set by the owner after init */
  struct pacer_xfer *xfers;      /* transfers in multi, doubly linked */
  size_t nxfers;                 /* length of xfers */
  struct pacer_sock *socks;      /* open socket contexts, doubly linked */
  size_t ndoomed;                /* xfers marked failed by a socket callback */
  int closing;                   /* pacer_curl_uv_close has run */
  CURL *idle[PACER_CURL_UV_IDLE_MAX]; /* owned easy handles, reset */
  size_t nidle;                       /* used entries of idle */
};

/** Checks that the libcurl in use can run the pool: it needs the threaded
 *  (asynchronous) resolver, or one slow DNS answer stalls the loop
 *  (docs/WORKERS.md, DNS; e2e_dns), and 7.85.0 or later for the protocol
 *  allow-lists (docs/WORKERS.md, Protocols).
 *  Returns 0, or PACER_ECONFIG after logging what to install. Any thread. */
int pacer_curl_uv_check_features(void);

/** Fills a transfer that never ran or was cut short: result r, error msg
 *  (borrowed, copied, may be NULL), an empty body and "{}" headers where
 *  they are still NULL. Any thread. */
void pacer_curl_uv_outcome_fail(struct pacer_http_outcome *outcome,
                                enum pacer_http_result r, const char *msg);

/** Reads libcurl's info line about a received HTTP/2 GOAWAY (before 8.5.0:
 *  "<word> GOAWAY, error=<E>, last_stream=<L>", where the word is
 *  "recveived" in 7.88 and 8.0 and "received" in 8.1 to 8.4) from data[0..n)
 *  (borrowed, not NUL-terminated; a trailing line end allowed). Returns 0
 *  with *last set to L, or -1 for any other text. Pure; any thread.
 *  Source: RFC 9113 §6.8 (GOAWAY last_stream_id); lib/http2.c. */
int pacer_curl_uv_goaway_text(const char *data, size_t n, uint32_t *last);

/** Initialises cu on loop (borrowed) with user_agent (borrowed, must
 *  outlive cu) and done (called once per started transfer). Returns 0, or
 *  PACER_ENOMEM / a UV_E* code, and then nothing needs closing. Loop
 *  thread only. */
int pacer_curl_uv_init(uv_loop_t *loop, struct pacer_curl_uv *cu,
                       const char *user_agent, pacer_curl_uv_done_cb done);

/** Starts the request in outcome->req (borrowed until then). Returns 0:
 *  cu takes ownership of outcome and hands it to done_cb exactly once,
 *  later. Or a negative PACER_E* code: the caller keeps outcome, whose
 *  result and error are filled in, and done_cb never runs for it. Loop
 *  thread only. */
int pacer_curl_uv_start(struct pacer_curl_uv *cu,
                        struct pacer_http_outcome *outcome);

/** Aborts every running transfer: each one's done_cb runs now with result
 *  PACER_HTTP_CANCELED. Never blocks on a resolver thread: a lookup still
 *  running is left to finish on its own (CURLOPT_QUICK_EXIT; e2e_dns).
 *  Loop thread only. */
void pacer_curl_uv_cancel_all(struct pacer_curl_uv *cu);

/** Ends every running transfer whose request's abort_flag is raised: its
 *  done_cb runs now, as for CURLE_ABORTED_BY_CALLBACK (`pacer cancel`).
 *  Loop thread only, outside libcurl callbacks. */
void pacer_curl_uv_abort_flagged(struct pacer_curl_uv *cu);

/** Returns the number of running transfers. Loop thread only. */
size_t pacer_curl_uv_running(const struct pacer_curl_uv *cu);

/** Closes cu, which must have no running transfers: curl_multi_cleanup,
 *  then closes the timer and any socket left. cb (may be NULL) runs once
 *  the timer has closed. Loop thread only. */
void pacer_curl_uv_close(struct pacer_curl_uv *cu, pacer_curl_uv_close_cb cb);

#endif
