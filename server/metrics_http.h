/* The worker's metrics endpoint (docs/METRICS.md): a libmicrohttpd server on
 * its own thread serving what the scheduler last published.
 *
 *   GET /            the dashboard page (embedded dashboard.html); with a
 *                    token and no login, 401 and the login form
 *   GET /metrics     Prometheus text format 0.0.4
 *   GET /api/state   the dashboard's JSON (docs/METRICS.md)
 *   GET /healthz     200 "ok": the process and this thread are alive
 *   GET /readyz      200 "ready" while the scheduler last reported (within
 *                    5 s) Redis reachable, intake running, not draining;
 *                    else 503 "not ready: <why>"
 *                    (both without a token: for systemd/Kubernetes probes)
 *   GET /login, POST /login (form field token), POST /logout
 *                    browser sessions (dash_session.h): an HttpOnly,
 *                    SameSite=Strict cookie holding a random session id
 *   GET /api/session the CSRF token for POSTs
 *   GET /api/dead, GET /api/job?id=, POST /api/dead/retry,
 *   POST /api/dead/delete, POST /api/cancel, POST /api/pause,
 *   POST /api/resume the actions (dash_api.h), after
 *                    pacer_metrics_http_set_store
 *   anything else    404; methods other than GET/HEAD/POST 405
 *
 * Every POST is checked against cross-site request forgery: an Origin
 * other than this server's or a cross-site Sec-Fetch-Site is refused
 * (403), and unless the request carries the bearer token it must carry
 * the CSRF token of /api/session in X-Pacer-CSRF (403) and, for /api/ paths,
 * Content-Type: application/json (415). Without a token only loopback
 * Host names are served (403 otherwise: DNS rebinding).
 *
 * The HTTP thread never reads scheduler state: the scheduler thread hands
 * a rendered copy over (pacer_metrics_http_publish) under a mutex, and a
 * request copies it out under the same mutex. With a token every request
 * but the health and login paths needs "Authorization: Bearer <token>" or
 * a session cookie (else 401); a bind to anything but loopback is refused
 * without one.
 */
#ifndef PACER_SERVER_METRICS_HTTP_H
#define PACER_SERVER_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct pacer_metrics_http;

/** Starts the server on listen (borrowed): "host:port" (":port" or "port":
 *  127.0.0.1) with a numeric or
 *  resolvable host ("127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464",
 *  "localhost:0"; port 0 picks a free one). token (borrowed, copied; NULL
 *  or "" = none) is required of every request when given, and must be
 *  given when the address is not loopback. Returns 0 and *out (owned; stop
 *  with pacer_metrics_http_stop), or PACER_ECONFIG (bad address, no token
 *  for a non-loopback bind), PACER_EIO (cannot listen) or PACER_ENOMEM,
 *  with err set. Starts one thread. Any thread. */
int pacer_metrics_http_start(const char *listen, const char *token,
                             struct pacer_metrics_http **out,
                             struct pacer_error *err);

/** Returns the bound TCP port (useful after port 0). Any thread. */
unsigned pacer_metrics_http_port(const struct pacer_metrics_http *h);

/** Replaces the served snapshot with copies of metrics[0..metrics_len)
 *  and state[0..state_len) (borrowed). arg is the server. Matches
 *  pacer_sched_publish_cb; out of memory keeps the previous snapshot.
 *  Any thread (takes the server's mutex). */
void pacer_metrics_http_publish(void *arg, const char *metrics,
                                size_t metrics_len, const char *state,
                                size_t state_len);

/** Records the scheduler's readiness: ready 1 or 0 with why (borrowed,
 *  copied; a short reason, never a secret). /readyz answers 503 when no
 *  report came for 5 s. Any thread (takes the server's mutex). */
void pacer_metrics_http_set_ready(struct pacer_metrics_http *h, int ready,
                                  const char *why);

/** Turns the dashboard's actions on (dash_api.h): Redis at redis_url
 *  (borrowed, copied; may hold a password) under prefix (borrowed,
 *  copied), timeout_ms (ms) per command, on one synchronous connection of
 *  the HTTP thread opened on first use. Only the first call counts.
 *  Returns 0, or PACER_ENOMEM with err set. Any thread. */
int pacer_metrics_http_set_store(struct pacer_metrics_http *h,
                                 const char *redis_url, const char *prefix,
                                 uint32_t timeout_ms, struct pacer_error *err);

/** Stops the thread, closes the socket and frees h. NULL does nothing. */
void pacer_metrics_http_stop(struct pacer_metrics_http *h);

/** Reads the metrics bearer token from path (borrowed): a regular file
 *  that group and others cannot read (mode & 044 == 0), trailing white
 *  space dropped, holding a token pacer_config_metrics_token_ok accepts.
 *  Returns 0 and *out (owned; wipe with explicit_bzero and free), or
 *  PACER_ECONFIG with err naming the path (never the content). */
int pacer_metrics_token_read(const char *path, char **out,
                             struct pacer_error *err);

#endif
