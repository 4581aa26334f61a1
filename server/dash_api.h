/* The dashboard's actions and look-ups (docs/METRICS.md "Actions"), run on
 * the HTTP thread through the same store/ functions as the CLI:
 *
 *   GET  /api/dead              store/dead.h pacer_dead_list (newest 100)
 *   GET  /api/job?id=ID         store/job_index.h, store/dead.h,
 *                               store/job_list.h: the job's result, dead
 *                               letter, and where and why it waits; the
 *                               request with secrets redacted
 *                               (core/job.h pacer_job_redact)
 *   POST /api/dead/retry        {"ids":[...]} | {"all":true}: pacer_dead_retry
 *   POST /api/dead/delete       {"ids":[...]} | {"all":true}:
 *                               pacer_dead_delete | pacer_dead_purge
 *   POST /api/cancel            {"ids":[...], "move":bool}:
 *                               pacer_cancel_request
 *   POST /api/pause             {"bucket":B | "all":true, "for_ms":N (0: until
 *                               resumed, or 1 ms to 30 days)}
 *   POST /api/resume            {"bucket":B | "all":true}
 *                               store/control.h: pacer_control_pause /
 *                               _resume, or with "all" the pause of every
 *                               bucket, pacer_control_pause_all /
 *                               _resume_all (as `pacer pause --all`)
 *
 * Every answer is a JSON object; errors are {"error": "..."} with a 4xx or
 * 5xx status. One synchronous Redis connection, opened on first use and
 * again after an error. Authentication and CSRF checks are the caller's
 * (server/metrics_http.c).
 */
#ifndef PACER_SERVER_DASH_API_H
#define PACER_SERVER_DASH_API_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct pacer_dash_api;

/** Makes the API for Redis at redis_url (borrowed, copied; may hold a
 *  password, wiped on free) under prefix (borrowed, copied), connecting
 *  with timeout_ms (ms) per command. dead_ttl_ms is informative. Returns 0
 *  and *out (owned; free with pacer_dash_api_free), PACER_ECONFIG for a
 *  bad URL or PACER_ENOMEM, with err set. Does not connect. Any thread. */
int pacer_dash_api_new(const char *redis_url, const char *prefix,
                       uint32_t timeout_ms, struct pacer_dash_api **out,
                       struct pacer_error *err);

/** Closes the connection and frees a (NULL does nothing). */
void pacer_dash_api_free(struct pacer_dash_api *a);

/** Answers one request: method "GET" or "POST", path (borrowed, e.g.
 *  "/api/cancel"), query id (the "id" argument of GET, or NULL), body
 *  (borrowed, len bytes, the JSON of a POST). Sets *status (HTTP status)
 *  and *out (owned JSON text, free with free()). Returns 0, or
 *  PACER_ENOTFOUND when path is no API path (nothing set), or
 *  PACER_ENOMEM. HTTP thread (one caller at a time). */
int pacer_dash_api_handle(struct pacer_dash_api *a, const char *method,
                          const char *path, const char *id, const char *body,
                          size_t len, unsigned *status, char **out);

#endif
