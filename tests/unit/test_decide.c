/* Unit tests for core/decide.c: every branch of the retry decision, on a
 * virtual clock (NOW below; nothing here reads a clock). One table row per
 * behaviour; the few behaviours a row cannot state have tests of their
 * own below the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "core/decide.h"

#define NOW     UINT64_C(1700000000000) /* virtual wall clock, unix ms */
#define RA_MAX  UINT64_C(300000)        /* retry_after_max_ms */
#define DEFER   UINT64_C(30000)         /* defer_after_ms */
#define ANYTIME UINT64_MAX              /* expect: no bound on at_unix_ms */

/* One behaviour. Zeroed fields mean: GET, no headers, no credential,
 * counters 0, max_attempts 3, a lane with a 429 bucket. */
struct row {
  const char *name;
  /* the attempt */
  enum pacer_http_result result;
  long status;
  const char *headers; /* worker JSON, or NULL */
  int own_conn;
  const char *error;
  /* the job */
  enum pacer_method method;
  int idempotency_key, retry_unsafe, credential;
  const char *cred_scheme;
  unsigned max_attempts; /* 0: 3 */
  struct pacer_job_counts counts;
  int no_target; /* the lane has no bucket that pauses on 429 */
  struct pacer_backoff_state key; /* the throttle key's state before */
  uint64_t deadline_in;           /* job deadline NOW + this - 1, ms;
                                     0 = none */
  /* what must come out */
  enum pacer_decision_kind kind;
  enum pacer_job_state state; /* FINISH */
  enum pacer_reason reason;   /* FINISH, RETRY */
  const char *error_has;      /* FINISH: substring of error, or NULL */
  unsigned attempt, throttled, refusals, auth_replays; /* counts after */
  enum pacer_pause_cause cause;                        /* bucket pause */
  uint64_t pause_ms;                                   /* ANYTIME: any */
  uint64_t at_min, at_max; /* at_unix_ms bounds (0, 0: must be 0) */
  unsigned streak;         /* the key's streak after (when key_changed) */
  int key_changed;         /* the decision hands back a new key state */
};

#define BASE  UINT64_C(1000)   /* throttle_backoff_base_ms */
#define CAP   UINT64_C(300000) /* throttle_backoff_cap_ms (= RA_MAX) */
#define FLOOR UINT64_C(1000)   /* throttle_backoff_floor_ms */

static const struct row rows[] = {
    /* ---- shutdown */
    {.name = "canceled POST on its own connection is outcome_unknown",
     .result = PACER_HTTP_CANCELED,
     .own_conn = 1,
     .method = PACER_METHOD_POST,
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OUTCOME_UNKNOWN,
     .reason = PACER_REASON_CANCELED,
     .error_has = "shutdown cut the request short",
     .attempt = 1},
    {.name = "canceled GET goes back to the stream without an attempt",
     .result = PACER_HTTP_CANCELED,
     .counts = {.attempt = 1},
     .kind = PACER_DECIDE_REQUEUE,
     .attempt = 1},
    /* ---- missed send slot (docs/LIMITS.md "Against a strict limiter") */
    {.name = "missed slot takes a new one without spending anything",
     .result = PACER_HTTP_MISSED_SLOT,
     .method = PACER_METHOD_POST,
     .counts = {.attempt = 2, .throttled = 1, .refusals = 3},
     .kind = PACER_DECIDE_REPLAY,
     .attempt = 2,
     .throttled = 1,
     .refusals = 3},
    {.name = "missed slot on the last attempt still takes a new one",
     .result = PACER_HTTP_MISSED_SLOT,
     .max_attempts = 1,
     .counts = {.attempt = 0},
     .kind = PACER_DECIDE_REPLAY},
    {.name = "missed slot past the deadline ends deadline_exceeded",
     .result = PACER_HTTP_MISSED_SLOT,
     .deadline_in = 1,
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_DEADLINE_EXCEEDED,
     .error_has = "waited for a send slot"},
    /* ---- refused streams (RFC 9113 §8.7) */
    {.name = "refused stream is replayed without spending an attempt",
     .result = PACER_HTTP_REFUSED,
     .method = PACER_METHOD_POST,
     .kind = PACER_DECIDE_REPLAY,
     .refusals = 1},
    {.name = "third refusal is still replayed",
     .result = PACER_HTTP_REFUSED,
     .counts = {.refusals = 2},
     .kind = PACER_DECIDE_REPLAY,
     .refusals = 3},
    {.name = "refusals past the free ones spend an attempt and back off",
     .result = PACER_HTTP_REFUSED,
     .method = PACER_METHOD_POST,
     .counts = {.refusals = 3},
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_REFUSED_STREAM,
     .attempt = 1,
     .refusals = 3,
     .at_min = NOW,
     .at_max = NOW + 500},
    {.name = "refusals on the last attempt fail refused_stream",
     .result = PACER_HTTP_REFUSED,
     .counts = {.attempt = 2, .refusals = 3},
     .error = "http2: the upstream refused",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_REFUSED_STREAM,
     .error_has = "http2: the upstream refused",
     .attempt = 3,
     .refusals = 3},
    /* ---- success */
    {.name = "2xx finishes ok",
     .status = 204,
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OK,
     .reason = PACER_REASON_NONE,
     .attempt = 1},
    {.name = "2xx shrinks the key's throttle streak by one",
     .status = 200,
     .key = {.streak = 3, .until_unix_ms = NOW - 1},
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OK,
     .attempt = 1,
     .streak = 2,
     .key_changed = 1},
    {.name = "2xx past its deadline is still ok",
     .status = 200,
     .deadline_in = 1,
     .counts = {.attempt = 1},
     .key = {.until_unix_ms = NOW + 5000},
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OK,
     .attempt = 2},
    {.name = "2xx with remaining 0 pauses the bucket until the reset",
     .status = 200,
     .headers = "{\"x-ratelimit-remaining\":\"0\",\"x-ratelimit-reset\":\"7\"}",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OK,
     .attempt = 1,
     .cause = PACER_PAUSE_RATELIMIT,
     .pause_ms = 7000},
    {.name = "2xx pause is capped at retry_after_max_ms",
     .status = 200,
     .headers = "{\"x-ratelimit-remaining\":\"0\",\"x-ratelimit-reset\":"
                "\"99999\"}",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OK,
     .attempt = 1,
     .cause = PACER_PAUSE_RATELIMIT,
     .pause_ms = RA_MAX},
    {.name = "2xx with remaining 0 but no 429 bucket pauses nothing",
     .status = 200,
     .no_target = 1,
     .headers = "{\"x-ratelimit-remaining\":\"0\",\"x-ratelimit-reset\":\"7\"}",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OK,
     .attempt = 1},
    {.name = "2xx with quota left pauses nothing",
     .status = 200,
     .headers = "{\"x-ratelimit-remaining\":\"5\",\"x-ratelimit-reset\":\"7\"}",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OK,
     .attempt = 1},
    /* ---- 429 and 503 with Retry-After (RFC 6585 §4, RFC 9110 §10.2.3) */
    {.name = "429 with Retry-After pauses, first in line, no attempt",
     .status = 429,
     .headers = "{\"retry-after\":\"5\"}",
     .counts = {.attempt = 1},
     .kind = PACER_DECIDE_PAUSE,
     .attempt = 1,
     .throttled = 1,
     .cause = PACER_PAUSE_RETRY_AFTER,
     .pause_ms = 5000,
     .streak = 1,
     .key_changed = 1},
    /* ---- a hint is a floor, never a reset (docs/LIMITS.md "Throttles") */
    {.name = "429 with Retry-After: 0 waits the backoff floor",
     .status = 429,
     .headers = "{\"retry-after\":\"0\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_BACKOFF,
     .pause_ms = FLOOR,
     .streak = 1,
     .key_changed = 1},
    {.name = "429 with a negative Retry-After waits the backoff floor",
     .status = 429,
     .headers = "{\"retry-after\":\"-3\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_BACKOFF,
     .pause_ms = FLOOR,
     .streak = 1,
     .key_changed = 1},
    {.name = "429 with a past HTTP-date waits the backoff floor",
     .status = 429,
     .headers = "{\"retry-after\":\"Tue, 14 Nov 2023 22:13:00 GMT\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_BACKOFF,
     .pause_ms = FLOOR,
     .streak = 1,
     .key_changed = 1},
    {.name = "429 whose reset already passed waits the backoff floor",
     .status = 429,
     .headers = "{\"x-ratelimit-remaining\":\"0\",\"x-ratelimit-reset\":"
                "\"1699999990\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_BACKOFF,
     .pause_ms = FLOOR,
     .streak = 1,
     .key_changed = 1},
    {.name = "429 with a short hint on a key throttled 4 times in a row "
             "waits the key's backoff",
     .status = 429,
     .headers = "{\"retry-after\":\"1\"}",
     .key = {.streak = 4, .until_unix_ms = NOW - 1},
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_BACKOFF,
     .pause_ms = ANYTIME, /* 8..16 s, checked below the table */
     .streak = 5,
     .key_changed = 1},
    {.name = "429 answering a request sent before the key's pause keeps "
             "the streak and the pause",
     .status = 429,
     .headers = "{\"retry-after\":\"0\"}",
     .key = {.streak = 2, .until_unix_ms = NOW + 1500},
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_BACKOFF,
     .pause_ms = 1500,
     .streak = 2,
     .key_changed = 1},
    {.name = "429 whose pause outlasts the job's deadline ends it",
     .status = 429,
     .headers = "{\"retry-after\":\"2\"}",
     .deadline_in = 1500,
     .counts = {.attempt = 1, .throttled = 7},
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_DEADLINE_EXCEEDED,
     .error_has = "the deadline passes",
     .attempt = 1,
     .throttled = 8,
     .cause = PACER_PAUSE_RETRY_AFTER,
     .pause_ms = 2000,
     .streak = 1,
     .key_changed = 1},
    {.name = "429 whose pause ends before the deadline waits",
     .status = 429,
     .headers = "{\"retry-after\":\"2\"}",
     .deadline_in = 2002,
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_RETRY_AFTER,
     .pause_ms = 2000,
     .streak = 1,
     .key_changed = 1},
    {.name = "500 whose retry would come after the deadline ends it",
     .status = 500,
     .deadline_in = 1,
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_DEADLINE_EXCEEDED,
     .error_has = "last: http_500",
     .attempt = 1},
    {.name = "too many redirects ends the job at once",
     .result = PACER_HTTP_TOO_MANY_REDIRECTS,
     .error = "Maximum (5) redirects followed",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_TOO_MANY_REDIRECTS,
     .error_has = "redirects",
     .attempt = 1},
    {.name = "429 with an HTTP-date Retry-After counts from now",
     .status = 429,
     /* NOW is Tue, 14 Nov 2023 22:13:20 GMT */
     .headers = "{\"retry-after\":\"Tue, 14 Nov 2023 22:13:32 GMT\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_RETRY_AFTER,
     .pause_ms = 12000},
    {.name = "429 with remaining 0 pauses until the reset",
     .status = 429,
     .headers = "{\"ratelimit\":\"\\\"default\\\";r=0;t=3\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_RATELIMIT,
     .pause_ms = 3000},
    {.name = "429 without a hint backs off from 1 s with full jitter",
     .status = 429,
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_BACKOFF,
     .pause_ms = ANYTIME},
    {.name = "429 with a junk Retry-After backs off",
     .status = 429,
     .headers = "{\"retry-after\":\"soon\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_BACKOFF,
     .pause_ms = ANYTIME},
    {.name = "429 asking longer than defer_after_ms waits in Redis",
     .status = 429,
     .headers = "{\"retry-after\":\"120\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_RETRY_AFTER,
     .pause_ms = 120000,
     .at_min = NOW + 120000,
     .at_max = NOW + 120000 + 12000},
    {.name = "429 asking more than retry_after_max_ms is capped",
     .status = 429,
     .headers = "{\"retry-after\":\"86400\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_RETRY_AFTER,
     .pause_ms = RA_MAX,
     .at_min = NOW + RA_MAX,
     .at_max = NOW + RA_MAX + RA_MAX / 10},
    {.name = "429 without a 429 bucket pauses nothing and waits in Redis",
     .status = 429,
     .headers = "{\"retry-after\":\"2\"}",
     .no_target = 1,
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .pause_ms = 2000,
     .at_min = NOW + 2000,
     .at_max = NOW + 2200},
    {.name = "the 1001st 429 of a job fails rate_limited (a backstop)",
     .status = 429,
     .headers = "{\"retry-after\":\"1\"}",
     .counts = {.attempt = 1, .throttled = 1000},
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_RATE_LIMITED,
     .error_has =
         "1001 responses asked to slow down; last: Retry-After 1000 ms",
     .attempt = 1,
     .throttled = 1001,
     .cause = PACER_PAUSE_RETRY_AFTER,
     .pause_ms = 1000},
    {.name = "503 with Retry-After is a slow-down, not a failure",
     .status = 503,
     .headers = "{\"retry-after\":\"4\"}",
     .kind = PACER_DECIDE_PAUSE,
     .throttled = 1,
     .cause = PACER_PAUSE_RETRY_AFTER,
     .pause_ms = 4000},
    {.name = "503 without Retry-After is retried with backoff",
     .status = 503,
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_HTTP,
     .attempt = 1,
     .at_min = NOW,
     .at_max = NOW + 500},
    /* ---- 401 with a credential (RFC 6750 §3.1) */
    {.name = "first 401 invalid_token refreshes without an attempt",
     .status = 401,
     .headers = "{\"www-authenticate\":\"Bearer error=\\\"invalid_token\\\"\"}",
     .credential = 1,
     .counts = {.cred_gen = 4},
     .kind = PACER_DECIDE_REFRESH,
     .auth_replays = 1},
    {.name = "401 invalid_token for the same generation refreshes again",
     .status = 401,
     .headers = "{\"www-authenticate\":\"Bearer error=\\\"invalid_token\\\"\"}",
     .credential = 1,
     .counts = {.cred_gen = 4, .gen_401 = 4, .auth_replays = 2},
     .kind = PACER_DECIDE_REFRESH,
     .auth_replays = 3},
    {.name = "401 invalid_token after a refreshed token fails",
     .status = 401,
     .headers = "{\"www-authenticate\":\"Bearer error=\\\"invalid_token\\\", "
                "error_description=\\\"revoked\\\"\"}",
     .credential = 1,
     .counts = {.cred_gen = 5, .gen_401 = 4, .auth_replays = 1},
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_UNAUTHORIZED_AFTER_REFRESH,
     .error_has = "a refresh cannot fix this: revoked",
     .attempt = 1,
     .auth_replays = 1},
    {.name = "fourth 401 invalid_token of one generation fails",
     .status = 401,
     .headers = "{\"www-authenticate\":\"Bearer error=\\\"invalid_token\\\"\"}",
     .credential = 1,
     .counts = {.cred_gen = 4, .gen_401 = 4, .auth_replays = 3},
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_UNAUTHORIZED_AFTER_REFRESH,
     .attempt = 1,
     .auth_replays = 3},
    {.name = "first 401 without invalid_token refreshes once",
     .status = 401,
     .credential = 1,
     .counts = {.cred_gen = 1},
     .kind = PACER_DECIDE_REFRESH,
     .auth_replays = 1},
    {.name = "second 401 without invalid_token fails unauthorized",
     .status = 401,
     .credential = 1,
     .counts = {.cred_gen = 1, .gen_401 = 1, .auth_replays = 1},
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_UNAUTHORIZED,
     .attempt = 1,
     .auth_replays = 1},
    {.name = "invalid_token under another scheme is not the credential's",
     .status = 401,
     .credential = 1,
     .cred_scheme = "DPoP",
     .headers = "{\"www-authenticate\":\"Bearer error=\\\"invalid_token\\\"\"}",
     .counts = {.cred_gen = 1, .gen_401 = 1, .auth_replays = 1},
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_UNAUTHORIZED,
     .attempt = 1,
     .auth_replays = 1},
    {.name = "invalid_token under the credential's own scheme refreshes",
     .status = 401,
     .credential = 1,
     .cred_scheme = "DPoP",
     .headers = "{\"www-authenticate\":\"DPoP error=\\\"invalid_token\\\"\"}",
     .counts = {.cred_gen = 1, .gen_401 = 1, .auth_replays = 1},
     .kind = PACER_DECIDE_REFRESH,
     .auth_replays = 2},
    /* ---- 401/403 insufficient_scope, and without a credential */
    {.name = "403 insufficient_scope fails naming the scope",
     .status = 403,
     .headers = "{\"www-authenticate\":\"Bearer error=\\\"insufficient_scope"
                "\\\", scope=\\\"repo:write\\\"\"}",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_INSUFFICIENT_SCOPE,
     .error_has = "required scope \"repo:write\"",
     .attempt = 1},
    {.name = "401 insufficient_scope without a credential fails so too",
     .status = 401,
     .headers = "{\"www-authenticate\":\"Bearer error=\\\"insufficient_scope"
                "\\\", scope=\\\"a b\\\"\"}",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_INSUFFICIENT_SCOPE,
     .attempt = 1},
    {.name = "401 without a credential fails http_401 at once",
     .status = 401,
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_HTTP,
     .error_has = "http_401",
     .attempt = 1},
    {.name = "403 without a challenge fails http_403 at once",
     .status = 403,
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_HTTP,
     .error_has = "http_403",
     .attempt = 1},
    /* ---- transport errors by method (RFC 9110 §9.2.2) */
    {.name = "GET timeout is retried",
     .result = PACER_HTTP_TIMEOUT,
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_TIMEOUT,
     .attempt = 1,
     .at_min = NOW,
     .at_max = NOW + 500},
    {.name = "PUT reset is retried",
     .result = PACER_HTTP_TRANSPORT,
     .method = PACER_METHOD_PUT,
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_TRANSPORT_ERROR,
     .attempt = 1,
     .at_min = NOW,
     .at_max = NOW + 500},
    {.name = "POST timeout without a key is outcome_unknown",
     .result = PACER_HTTP_TIMEOUT,
     .method = PACER_METHOD_POST,
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OUTCOME_UNKNOWN,
     .reason = PACER_REASON_TIMEOUT,
     .error_has = "may have reached the server",
     .attempt = 1},
    {.name = "PATCH reset without a key is outcome_unknown",
     .result = PACER_HTTP_TRANSPORT,
     .method = PACER_METHOD_PATCH,
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_OUTCOME_UNKNOWN,
     .reason = PACER_REASON_TRANSPORT_ERROR,
     .attempt = 1},
    {.name = "POST timeout with an Idempotency-Key is retried",
     .result = PACER_HTTP_TIMEOUT,
     .method = PACER_METHOD_POST,
     .idempotency_key = 1,
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_TIMEOUT,
     .attempt = 1,
     .at_min = NOW,
     .at_max = NOW + 500},
    {.name = "POST reset with retry_unsafe is retried",
     .result = PACER_HTTP_TRANSPORT,
     .method = PACER_METHOD_POST,
     .retry_unsafe = 1,
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_TRANSPORT_ERROR,
     .attempt = 1,
     .at_min = NOW,
     .at_max = NOW + 500},
    {.name = "POST connect error is retried: nothing reached the server",
     .result = PACER_HTTP_CONNECT,
     .method = PACER_METHOD_POST,
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_CONNECT_ERROR,
     .attempt = 1,
     .at_min = NOW,
     .at_max = NOW + 500},
    {.name = "blocked destination fails at once",
     .result = PACER_HTTP_BLOCKED,
     .error = "dest: 10.0.0.1 is private",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_BLOCKED_DESTINATION,
     .error_has = "dest: 10.0.0.1 is private",
     .attempt = 1},
    /* ---- redirects and body caps */
    {.name = "a 3xx not followed is final: http_302",
     .status = 302,
     .headers = "{\"location\":\"https://elsewhere/\"}",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_HTTP,
     .error_has = "http_302",
     .attempt = 1},
    {.name = "a body over its cap fails response_too_large at once",
     .result = PACER_HTTP_TOO_LARGE,
     .status = 200,
     .error = "response: body exceeds 1024 bytes",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_RESPONSE_TOO_LARGE,
     .error_has = "body exceeds 1024 bytes",
     .attempt = 1},
    /* ---- max_attempts and the backoff */
    {.name = "500 on the last attempt fails http_500",
     .status = 500,
     .counts = {.attempt = 2},
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_HTTP,
     .error_has = "http_500",
     .attempt = 3},
    {.name = "max_attempts 1 never retries",
     .status = 502,
     .max_attempts = 1,
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_HTTP,
     .attempt = 1},
    {.name = "the backoff ceiling doubles per attempt",
     .status = 504,
     .max_attempts = 9,
     .counts = {.attempt = 3},
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_HTTP,
     .attempt = 4,
     .at_min = NOW,
     .at_max = NOW + 4000},
    {.name = "the backoff ceiling stops at 60 s",
     .status = 408,
     .max_attempts = 99,
     .counts = {.attempt = 40},
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_HTTP,
     .attempt = 41,
     .at_min = NOW,
     .at_max = NOW + 60000},
    {.name = "a Retry-After above the backoff is its floor",
     .status = 500,
     .headers = "{\"retry-after\":\"10\"}",
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_HTTP,
     .attempt = 1,
     .at_min = NOW + 10000,
     .at_max = NOW + 10000},
    {.name = "a hint floor is capped at retry_after_max_ms",
     .status = 502,
     .headers = "{\"retry-after\":\"100000\"}",
     .kind = PACER_DECIDE_RETRY,
     .reason = PACER_REASON_HTTP,
     .attempt = 1,
     .at_min = NOW + RA_MAX,
     .at_max = NOW + RA_MAX},
    {.name = "a 404 is final whatever the headers say",
     .status = 404,
     .headers = "{\"retry-after\":\"1\"}",
     .kind = PACER_DECIDE_FINISH,
     .state = PACER_JOB_FAILED,
     .reason = PACER_REASON_HTTP,
     .error_has = "http_404",
     .attempt = 1},
};

static void
run_row(const struct row *r, uint64_t seed, struct pacer_decision *d)
{
  struct pacer_resp_headers hdr;
  struct pacer_attempt a;
  struct pacer_decide_job job;
  struct pacer_decide_limits lim;
  uint64_t prng = seed;

  /* 0, or PACER_ENOTFOUND for headers the decision never reads */
  (void)pacer_resp_headers_parse(r->headers, &hdr);
  memset(&a, 0, sizeof(a));
  a.result = r->result;
  a.status = r->status;
  a.own_conn = r->own_conn;
  a.hdr = &hdr;
  a.error = r->error;
  memset(&job, 0, sizeof(job));
  job.method = r->method;
  job.idempotency_key = r->idempotency_key;
  job.retry_unsafe = r->retry_unsafe;
  job.max_attempts = r->max_attempts ? r->max_attempts : 3;
  job.credential = r->credential;
  job.cred_scheme = r->cred_scheme;
  job.counts = r->counts;
  job.deadline_unix_ms = r->deadline_in ? NOW + r->deadline_in - 1 : 0;
  memset(&lim, 0, sizeof(lim));
  lim.pause_target = !r->no_target;
  lim.retry_after_max_ms = RA_MAX;
  lim.defer_after_ms = DEFER;
  lim.backoff.base_ms = BASE;
  lim.backoff.cap_ms = CAP;
  lim.backoff.floor_ms = FLOOR;
  lim.key = r->key;
  pacer_decide(&a, &job, &lim, NOW, &prng, d);
  pacer_resp_headers_free(&hdr);
}

static void
check_row(const struct row *r, const struct pacer_decision *d)
{
  assert_int_equal(d->kind, r->kind);
  assert_int_equal(d->counts.attempt, r->attempt);
  assert_int_equal(d->counts.throttled, r->throttled);
  assert_int_equal(d->counts.refusals, r->refusals);
  assert_int_equal(d->counts.auth_replays, r->auth_replays);
  assert_int_equal(d->pause.cause, r->cause);
  if (r->pause_ms == ANYTIME && r->key.streak == 4)
    assert_in_range(d->pause.ms, 8000, 16000);
  else if (r->pause_ms == ANYTIME)
    assert_true(d->pause.ms >= 1000 && d->pause.ms <= 2000);
  else if (r->pause_ms != 0)
    assert_int_equal(d->pause.ms, r->pause_ms);
  if (r->cause == PACER_PAUSE_NONE && r->kind != PACER_DECIDE_PAUSE)
    assert_int_equal(d->pause.ms, 0);
  assert_in_range(d->at_unix_ms, r->at_min, r->at_max);
  if (r->kind == PACER_DECIDE_FINISH) {
    assert_int_equal(d->state, r->state);
    assert_int_equal(d->reason, r->reason);
    assert_int_equal(d->status, r->status);
    if (r->error_has != NULL && strstr(d->error, r->error_has) == NULL)
      fail_msg("error \"%s\" lacks \"%s\"", d->error, r->error_has);
  }
  if (r->kind == PACER_DECIDE_RETRY)
    assert_int_equal(d->reason, r->reason);
  /* a throttle always hands back the key's state; rows that do not say
   * otherwise start from a fresh key, so the streak becomes 1 */
  if (d->throttled) {
    assert_true(d->key_changed);
    assert_int_equal(d->key.streak, r->key_changed ? r->streak : 1);
    assert_true(d->key.until_unix_ms >= NOW + FLOOR ||
                d->key.until_unix_ms == r->key.until_unix_ms);
  } else {
    assert_int_equal(d->key_changed, r->key_changed);
    if (r->key_changed)
      assert_int_equal(d->key.streak, r->streak);
  }
}

static void
every_row_of_the_table_decides_as_stated(void **state)
{
  struct pacer_decision d;
  uint64_t seed;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    print_message("%s\n", rows[i].name);
    /* several seeds: the jittered bounds hold for any draw */
    for (seed = 1; seed < 200; seed += 7) {
      run_row(&rows[i], seed, &d);
      check_row(&rows[i], &d);
    }
  }
}

/* The metrics label "cause" of a pause comes from the decision's enum,
 * never from the text describing it: a rate-limit pause whose description
 * happens to begin with "Retry-After" or "HTTP " keeps its cause. */
static void
pause_cause_comes_from_the_decision_not_its_text(void **state)
{
  static const struct {
    const char *headers;
    enum pacer_pause_cause cause;
    const char *why;
  } cases[] = {
      {"{\"retry-after\":\"3\"}", PACER_PAUSE_RETRY_AFTER, "Retry-After 3000"},
      {"{\"ratelimit-remaining\":\"0\",\"ratelimit-reset\":\"3\"}",
       PACER_PAUSE_RATELIMIT, "RateLimit-Remaining remaining 0"},
      {"{\"x-ratelimit-remaining\":\"0\",\"x-ratelimit-reset\":\"2\"}",
       PACER_PAUSE_RATELIMIT, "X-RateLimit remaining 0, reset in 2000 ms"},
      {"{}", PACER_PAUSE_BACKOFF,
       "backoff 1000 ms (throttle 1 in a row): "
       "HTTP 429 without a usable Retry-After"},
      {"{\"retry-after\":\"0\"}", PACER_PAUSE_BACKOFF,
       "backoff 1000 ms (throttle 1 in a row) over Retry-After 0 ms"},
  };
  struct pacer_resp_headers hdr;
  struct pacer_attempt a = {.result = PACER_HTTP_OK, .status = 429};
  struct pacer_decide_job job = {.max_attempts = 3};
  struct pacer_decide_limits lim = {.pause_target = 1,
                                    .retry_after_max_ms = RA_MAX,
                                    .defer_after_ms = DEFER,
                                    .backoff = {BASE, CAP, FLOOR}};
  struct pacer_decision d;
  uint64_t prng = 5;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    (void)pacer_resp_headers_parse(cases[i].headers, &hdr);
    a.hdr = &hdr;
    pacer_decide(&a, &job, &lim, NOW, &prng, &d);
    assert_int_equal(d.pause.cause, cases[i].cause);
    if (strstr(d.pause.why, cases[i].why) != d.pause.why)
      fail_msg("why \"%s\" does not start \"%s\"", d.pause.why, cases[i].why);
    pacer_resp_headers_free(&hdr);
  }
  assert_string_equal(pacer_pause_cause_name(PACER_PAUSE_RETRY_AFTER),
                      "retry_after");
  assert_string_equal(pacer_pause_cause_name(PACER_PAUSE_RATELIMIT),
                      "ratelimit");
  assert_string_equal(pacer_pause_cause_name(PACER_PAUSE_BACKOFF), "backoff");
  assert_string_equal(pacer_pause_cause_name((enum pacer_pause_cause)99),
                      "none");
}

/* The same inputs and PRNG state give the same decision: nothing but the
 * arguments (no clock, no global state) feeds it. A decision that draws
 * nothing leaves the PRNG alone. */
static void
decisions_depend_on_their_arguments_only(void **state)
{
  struct pacer_attempt a = {.result = PACER_HTTP_OK, .status = 429};
  struct pacer_decide_job job = {.max_attempts = 3};
  struct pacer_decide_limits lim = {.retry_after_max_ms = RA_MAX,
                                    .defer_after_ms = DEFER,
                                    .backoff = {BASE, CAP, FLOOR}};
  struct pacer_decision d1, d2;
  uint64_t p1 = 11, p2 = 11;

  (void)state;
  pacer_decide(&a, &job, &lim, NOW, &p1, &d1);
  pacer_decide(&a, &job, &lim, NOW, &p2, &d2);
  assert_int_equal(p1, p2);
  assert_int_equal(d1.at_unix_ms, d2.at_unix_ms);
  assert_int_equal(d1.pause.ms, d2.pause.ms);
  pacer_decide(&a, &job, &lim, NOW + 1000, &p1, &d1);
  pacer_decide(&a, &job, &lim, NOW, &p2, &d2);
  assert_int_equal(d1.at_unix_ms, d2.at_unix_ms + 1000);
  a.status = 200;
  p1 = 11;
  pacer_decide(&a, &job, &lim, NOW, &p1, &d1);
  assert_int_equal(p1, 11);
  a.hdr = NULL; /* no headers at all */
  a.status = 500;
  pacer_decide(&a, &job, &lim, NOW, &p1, &d1);
  assert_int_equal(d1.kind, PACER_DECIDE_RETRY);
  assert_string_equal(d1.wait_reason, "backoff");
}

/* A key answered 429 with "Retry-After: 0" every time, on a virtual
 * clock: each pause is at least the floor and its ceiling doubles per
 * throttle up to the cap, the hint never shortening it; answers to
 * requests sent before a pause do not grow it; successes shrink it one
 * step each. */
static void
key_backoff_grows_with_throttles_and_shrinks_with_successes(void **state)
{
  struct pacer_resp_headers hdr;
  struct pacer_attempt a = {.result = PACER_HTTP_OK, .status = 429};
  struct pacer_decide_job job = {.max_attempts = 3};
  struct pacer_decide_limits lim = {.pause_target = 1,
                                    .retry_after_max_ms = RA_MAX,
                                    .defer_after_ms = UINT64_MAX,
                                    .backoff = {BASE, 64000, FLOOR}};
  struct pacer_decision d;
  uint64_t prng = 3, now = NOW, ceiling = BASE;
  unsigned i;

  (void)state;
  assert_int_equal(pacer_resp_headers_parse("{\"retry-after\":\"0\"}", &hdr),
                   0);
  a.hdr = &hdr;
  for (i = 1; i <= 12; i++) {
    pacer_decide(&a, &job, &lim, now, &prng, &d);
    assert_int_equal(d.kind, PACER_DECIDE_PAUSE);
    assert_int_equal(d.key.streak, i);
    assert_true(d.key_grew);
    assert_in_range(d.pause.ms, ceiling / 2 > FLOOR ? ceiling / 2 : FLOOR,
                    ceiling);
    assert_int_equal(d.key.until_unix_ms, now + d.pause.ms);
    /* an answer to a request sent earlier, 1 ms later: same pause */
    lim.key = d.key;
    pacer_decide(&a, &job, &lim, now + 1, &prng, &d);
    assert_false(d.key_grew);
    assert_int_equal(d.key.streak, i);
    assert_int_equal(d.pause.ms, lim.key.until_unix_ms - now - 1);
    now = lim.key.until_unix_ms; /* the next request goes out then */
    ceiling = ceiling * 2 > 64000 ? 64000 : ceiling * 2;
  }
  assert_int_equal(ceiling, 64000); /* the cap was reached */
  a.status = 200;
  a.hdr = NULL;
  for (i = 12; i > 0; i--) {
    pacer_decide(&a, &job, &lim, now, &prng, &d);
    assert_true(d.key_changed);
    assert_int_equal(d.key.streak, i - 1);
    lim.key = d.key;
  }
  pacer_decide(&a, &job, &lim, now, &prng, &d);
  assert_false(d.key_changed);
  pacer_resp_headers_free(&hdr);
}

/* A response a throttle rule matched is a throttle whatever its status:
 * no attempt spent, the bucket paused with cause "rule", for the larger of
 * the rule's delay and the key's backoff; a 2xx too (TikTok answers 200). */
static void
a_throttle_rule_makes_any_status_a_throttle(void **state)
{
  struct pacer_throttle_rule rule;
  struct pacer_tr_match m;
  struct pacer_attempt a = {.result = PACER_HTTP_OK, .status = 400};
  struct pacer_decide_job job = {.max_attempts = 1};
  struct pacer_decide_limits lim = {.pause_target = 1,
                                    .retry_after_max_ms = RA_MAX,
                                    .defer_after_ms = DEFER,
                                    .backoff = {BASE, CAP, FLOOR}};
  struct pacer_decision d;
  uint64_t prng = 5;

  (void)state;
  memset(&rule, 0, sizeof(rule));
  memset(&m, 0, sizeof(m));
  snprintf(rule.name, sizeof(rule.name), "quota");
  m.rule = &rule;
  m.have_delay = 1;
  m.delay_ms = 7000;
  snprintf(m.why, sizeof(m.why), "rule quota: HTTP 400, delay 7000 ms");
  a.rule = &m;
  pacer_decide(&a, &job, &lim, NOW, &prng, &d);
  assert_int_equal(d.kind, PACER_DECIDE_PAUSE);
  assert_int_equal(d.counts.attempt, 0);
  assert_int_equal(d.counts.throttled, 1);
  assert_int_equal(d.pause.cause, PACER_PAUSE_RULE);
  assert_int_equal(d.pause.ms, 7000);
  assert_string_equal(d.pause.why, "rule quota: HTTP 400, delay 7000 ms");
  assert_string_equal(pacer_pause_cause_name(PACER_PAUSE_RULE), "rule");
  /* a delay of 0 (a time passed) is a floor, never a reset */
  m.delay_ms = 0;
  a.status = 200;
  pacer_decide(&a, &job, &lim, NOW, &prng, &d);
  assert_int_equal(d.kind, PACER_DECIDE_PAUSE);
  assert_int_equal(d.pause.cause, PACER_PAUSE_RULE);
  assert_int_equal(d.pause.ms, FLOOR);
  assert_non_null(strstr(d.pause.why, "over rule quota"));
  /* past the deadline: deadline_exceeded, not http_400 */
  job.deadline_unix_ms = NOW + 10;
  pacer_decide(&a, &job, &lim, NOW, &prng, &d);
  assert_int_equal(d.kind, PACER_DECIDE_FINISH);
  assert_int_equal(d.reason, PACER_REASON_DEADLINE_EXCEEDED);
}

/* The wait reason a retry logs names the hint that set its floor. */
static void
retry_names_the_hint_that_set_its_floor(void **state)
{
  struct pacer_resp_headers hdr;
  struct pacer_attempt a = {.result = PACER_HTTP_OK, .status = 503};
  struct pacer_decide_job job = {.max_attempts = 3};
  struct pacer_decide_limits lim = {.pause_target = 1,
                                    .retry_after_max_ms = RA_MAX,
                                    .defer_after_ms = DEFER,
                                    .backoff = {BASE, CAP, FLOOR}};
  struct pacer_decision d;
  uint64_t prng = 9;

  (void)state;
  assert_int_equal(
      pacer_resp_headers_parse(
          "{\"x-ratelimit-remaining\":\"0\",\"x-ratelimit-reset\":\"20\"}",
          &hdr),
      0);
  a.hdr = &hdr;
  pacer_decide(&a, &job, &lim, NOW, &prng, &d);
  assert_int_equal(d.kind, PACER_DECIDE_RETRY);
  assert_int_equal(d.at_unix_ms, NOW + 20000);
  assert_string_equal(d.wait_reason,
                      "X-RateLimit remaining 0, reset in 20000 ms");
  pacer_resp_headers_free(&hdr);
}

static void
hint_without_headers_is_not_found(void **state)
{
  struct pacer_pause_plan p;
  struct pacer_resp_headers hdr;

  (void)state;
  assert_int_equal(pacer_decide_hint(NULL, NOW, &p), PACER_ENOTFOUND);
  assert_int_equal(p.cause, PACER_PAUSE_NONE);
  assert_int_equal(pacer_resp_headers_parse(NULL, &hdr), PACER_ENOTFOUND);
  assert_int_equal(pacer_decide_hint(&hdr, NOW, &p), PACER_ENOTFOUND);
  assert_int_equal(pacer_resp_headers_parse("[\"retry-after\"]", &hdr),
                   PACER_ENOTFOUND);
  assert_null(hdr.root);
  /* none of the headers the decision reads: not even parsed */
  assert_int_equal(pacer_resp_headers_parse("{\"date\":\"x\"}", &hdr),
                   PACER_ENOTFOUND);
  assert_null(hdr.root);
  assert_int_equal(pacer_decide_hint(&hdr, NOW, &p), PACER_ENOTFOUND);
  /* the date alone hints nothing */
  assert_int_equal(
      pacer_resp_headers_parse("{\"date\":\"x\",\"ratelimit-policy\":"
                               "\"10;w=1\"}",
                               &hdr),
      0);
  assert_non_null(hdr.root);
  assert_int_equal(pacer_decide_hint(&hdr, NOW, &p), PACER_ENOTFOUND);
  pacer_resp_headers_free(&hdr);
  pacer_resp_headers_free(NULL);
}

/* core/result.h: one name per value, the parametric http_<status>, and
 * out-of-range values answered, not indexed. */
static void
result_tables_name_every_value(void **state)
{
  char buf[PACER_REASON_TEXT_MAX];
  int i;

  (void)state;
  assert_string_equal(pacer_job_state_name(PACER_JOB_OK), "ok");
  assert_string_equal(pacer_job_state_name(PACER_JOB_OUTCOME_UNKNOWN),
                      "outcome_unknown");
  assert_string_equal(pacer_job_state_name((enum pacer_job_state)9), "failed");
  assert_string_equal(
      pacer_reason_format(PACER_REASON_HTTP, 503, buf, sizeof(buf)),
      "http_503");
  assert_string_equal(
      pacer_reason_format(PACER_REASON_UNAUTHORIZED_AFTER_REFRESH, 401, buf,
                          sizeof(buf)),
      "unauthorized_after_refresh");
  assert_string_equal(pacer_reason_name(PACER_REASON_NONE), "");
  assert_string_equal(pacer_reason_name((enum pacer_reason) - 1), "");
  assert_string_equal(pacer_http_result_name(PACER_HTTP_REFUSED),
                      "refused_stream");
  assert_string_equal(pacer_http_result_name((enum pacer_http_result)99),
                      "unknown");
  for (i = 1; i < PACER_HTTP_RESULTS; i++)
    assert_string_equal(
        pacer_reason_name(pacer_reason_of_result((enum pacer_http_result)i)),
        pacer_http_result_name((enum pacer_http_result)i));
  assert_int_equal(pacer_reason_of_result(PACER_HTTP_OK), PACER_REASON_HTTP);
  for (i = 0; i < PACER_REASONS; i++)
    assert_non_null(pacer_reason_name((enum pacer_reason)i));
}

/* The 429 bucket of a lane: the most specific kind wins, later refs win
 * ties, limits that do not pause on 429 never, and a key kind beyond the
 * enum (a config from a newer build, memory gone bad) is ranked below all
 * rather than read past the rank table. */
static void
pause_target_is_the_most_specific_limit_and_bounded(void **state)
{
  struct pacer_limit_cfg cfg[5];
  struct pacer_limit_ref refs[5];
  size_t i;

  (void)state;
  memset(cfg, 0, sizeof(cfg));
  memset(refs, 0, sizeof(refs));
  for (i = 0; i < 5; i++) {
    cfg[i].pause_on_429 = 1;
    refs[i].cfg = &cfg[i];
  }
  cfg[0].key = PACER_LIMIT_KEY_HOST;
  cfg[1].key = PACER_LIMIT_KEY_HEADER;
  cfg[2].key = PACER_LIMIT_KEY_GLOBAL;
  cfg[3].key = PACER_LIMIT_KEY_CREDENTIAL;
  cfg[4].key = (enum pacer_limit_key_kind)1000000; /* out of range */
  assert_ptr_equal(pacer_decide_pause_target(refs, 5), &refs[1]);
  cfg[1].pause_on_429 = 0;
  assert_ptr_equal(pacer_decide_pause_target(refs, 5), &refs[3]);
  cfg[3].key = PACER_LIMIT_KEY_HOST; /* tie with refs[0]: the later wins */
  assert_ptr_equal(pacer_decide_pause_target(refs, 5), &refs[3]);
  assert_ptr_equal(pacer_decide_pause_target(&refs[4], 1), &refs[4]);
  cfg[4].key = (enum pacer_limit_key_kind) - 7;
  assert_ptr_equal(pacer_decide_pause_target(&refs[2], 3), &refs[3]);
  for (i = 0; i < 5; i++)
    cfg[i].pause_on_429 = 0;
  assert_null(pacer_decide_pause_target(refs, 5));
  assert_null(pacer_decide_pause_target(refs, 0));
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_row_of_the_table_decides_as_stated),
      cmocka_unit_test(pause_cause_comes_from_the_decision_not_its_text),
      cmocka_unit_test(decisions_depend_on_their_arguments_only),
      cmocka_unit_test(
          key_backoff_grows_with_throttles_and_shrinks_with_successes),
      cmocka_unit_test(retry_names_the_hint_that_set_its_floor),
      cmocka_unit_test(a_throttle_rule_makes_any_status_a_throttle),
      cmocka_unit_test(hint_without_headers_is_not_found),
      cmocka_unit_test(result_tables_name_every_value),
      cmocka_unit_test(pause_target_is_the_most_specific_limit_and_bounded),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
