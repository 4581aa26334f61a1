/* The terminal states of a job, the reasons a result gives, and the ways
 * one HTTP attempt can end: one X-macro table each, generating the enums
 * and their names (README "Result entry", docs/REDIS.md results). Pure. */
#ifndef PACER_CORE_RESULT_H
#define PACER_CORE_RESULT_H

#include <stddef.h>

/* How one transfer ended (workers report it, the scheduler decides on it).
 * X(constant suffix, result name, result reason). The reason of OK is
 * parametric: "http_<status>" (pacer_reason_format). */
#define PACER_HTTP_RESULT_MAP(X)                                               \
  /* a complete response arrived (any status) */                               \
  X(OK, "ok", PACER_REASON_HTTP)                                               \
  /* body exceeded body_cap_bytes (decoded) */                                 \
  X(TOO_LARGE, "response_too_large", PACER_REASON_RESPONSE_TOO_LARGE)          \
  /* connect or total timeout */                                               \
  X(TIMEOUT, "timeout", PACER_REASON_TIMEOUT)                                  \
  /* DNS, refused, reset before response */                                    \
  X(CONNECT, "connect_error", PACER_REASON_CONNECT_ERROR)                      \
  /* other transport error (TLS, read, ...) */                                 \
  X(TRANSPORT, "transport_error", PACER_REASON_TRANSPORT_ERROR)                \
  /* the destination policy refused the address to connect to (first           \
   * request or a redirect hop); nothing was sent to it */                     \
  X(BLOCKED, "blocked_destination", PACER_REASON_BLOCKED_DESTINATION)          \
  /* the upstream said it never processed the request: HTTP/2                  \
   * REFUSED_STREAM, or a stream above a GOAWAY's last_stream_id (RFC 9113     \
   * §8.7, §6.8), on each of libcurl's own tries. Safe to send again, even   \
   * a POST (docs/WORKERS.md "HTTP/2") */                                      \
  X(REFUSED, "refused_stream", PACER_REASON_REFUSED_STREAM)                    \
  /* more redirects than the request allows (CURLE_TOO_MANY_REDIRECTS): the    \
   * same chain comes back every time, so it is final at once */               \
  X(TOO_MANY_REDIRECTS, "too_many_redirects", PACER_REASON_TOO_MANY_REDIRECTS) \
  /* a paced request that would have reached the wire more than its            \
   * late_max_us after its slot; nothing was sent: it takes a new slot         \
   * (docs/LIMITS.md "Against a strict limiter") */                            \
  X(MISSED_SLOT, "missed_slot", PACER_REASON_MISSED_SLOT)                      \
  /* pool shut down before completion (last) */                                \
  X(CANCELED, "canceled", PACER_REASON_CANCELED)

/** Why a transfer did not produce a usable response (PACER_HTTP_OK: it
 *  did, whatever its status). CANCELED is the last value. */
enum pacer_http_result {
#define PACER_X(c, name, reason) PACER_HTTP_##c,
  PACER_HTTP_RESULT_MAP(PACER_X)
#undef PACER_X
      PACER_HTTP_RESULTS /* count, not a result */
};

/* The terminal state of a job: X(constant suffix, state field text). */
#define PACER_JOB_STATE_MAP(X)                                                 \
  X(OK, "ok")                           /* a 2xx response */                   \
  X(FAILED, "failed")                   /* anything else, final */             \
  X(OUTCOME_UNKNOWN, "outcome_unknown") /* may have reached the server */      \
  X(CANCELLED, "cancelled")             /* `pacer cancel` before it ended */

/** A job's terminal state (the result's "state" field). */
enum pacer_job_state {
#define PACER_X(c, name) PACER_JOB_##c,
  PACER_JOB_STATE_MAP(PACER_X)
#undef PACER_X
      PACER_JOB_STATES /* count, not a state */
};

/* Why a job ended as it did: X(constant suffix, reason field text). HTTP
 * is parametric: "http_<status>". NONE is the reason of an ok job. */
#define PACER_REASON_MAP(X)                                                    \
  X(NONE, "")                                                                  \
  X(HTTP, "http_")                                                             \
  X(RESPONSE_TOO_LARGE, "response_too_large")                                  \
  X(TIMEOUT, "timeout")                                                        \
  X(CONNECT_ERROR, "connect_error")                                            \
  X(TRANSPORT_ERROR, "transport_error")                                        \
  X(BLOCKED_DESTINATION, "blocked_destination")                                \
  X(REFUSED_STREAM, "refused_stream")                                          \
  X(CANCELED, "canceled")                                                      \
  X(RATE_LIMITED, "rate_limited")                                              \
  X(INVALID_JOB, "invalid_job")                                                \
  X(PAYLOAD_LOST, "payload_lost")                                              \
  X(TAKEN_OVER, "taken_over")                                                  \
  X(UNAUTHORIZED, "unauthorized")                                              \
  X(UNAUTHORIZED_AFTER_REFRESH, "unauthorized_after_refresh")                  \
  X(INSUFFICIENT_SCOPE, "insufficient_scope")                                  \
  X(CREDENTIAL_ENVIRONMENT_MISMATCH, "credential_environment_mismatch")        \
  X(DEADLINE_EXCEEDED, "deadline_exceeded")                                    \
  X(TOO_MANY_REDIRECTS, "too_many_redirects")                                  \
  X(CANCELLED_BY_OPERATOR, "cancelled")                                        \
  X(REPORT_FAILED, "report_failed")                                            \
  X(POLL_DEADLINE, "poll_deadline")                                            \
  X(MISSED_SLOT, "missed_slot")

/** Why a job ended (the result's "reason" field). */
enum pacer_reason {
#define PACER_X(c, name) PACER_REASON_##c,
  PACER_REASON_MAP(PACER_X)
#undef PACER_X
      PACER_REASONS /* count, not a reason */
};

#define PACER_REASON_TEXT_MAX 32 /* "http_<status>" and the rest, bytes */

/** Returns a short stable name for r ("ok", "response_too_large",
 *  "timeout", "connect_error", "transport_error", "blocked_destination",
 *  "refused_stream", "too_many_redirects", "canceled"), static; "unknown"
 *  out of range. Any thread. */
const char *pacer_http_result_name(enum pacer_http_result r);

/** Returns the reason a job that ended with transfer result r gives
 *  (PACER_REASON_HTTP for PACER_HTTP_OK), PACER_REASON_TRANSPORT_ERROR out
 *  of range. Any thread. */
enum pacer_reason pacer_reason_of_result(enum pacer_http_result r);

/** Returns the "state" field text of st ("ok", "failed",
 *  "outcome_unknown"), static; "failed" out of range. Any thread. */
const char *pacer_job_state_name(enum pacer_job_state st);

/** Returns the "reason" field text of r, static ("http_" for the
 *  parametric PACER_REASON_HTTP: use pacer_reason_format), "" out of
 *  range. Any thread. */
const char *pacer_reason_name(enum pacer_reason r);

/** Writes the "reason" field text of r into buf (borrowed, size bytes,
 *  at least PACER_REASON_TEXT_MAX): "http_<status>" for PACER_REASON_HTTP,
 *  else pacer_reason_name(r). Returns buf. Any thread. */
const char *pacer_reason_format(enum pacer_reason r, long status, char *buf,
                                size_t size);

#endif
