/* Job model: one HTTP request job, parsed and validated from JSON.
 *
 * Wire form (only "url" is required):
 *   {"id": "c-123", "method": "PUT", "url": "https://api.example/v1/x",
 *    "headers": {"Content-Type": "application/json"}, "body": {...} | "text",
 *    "credential": "acme", "limit_key": "acct-42", "max_attempts": 5,
 *    "timeout_ms": 30000, "not_before": 1764403200000,
 *    "deadline_ms": 3600000, "meta": {...}}
 *
 * Pure core: no clock, no I/O. Every rejection names the field and the
 * reason, e.g. `url: scheme "file" is not allowed, use http or https`.
 */
#ifndef PACER_CORE_JOB_H
#define PACER_CORE_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define PACER_JOB_MAX_BYTES_DEFAULT  (1024u * 1024u) /* bytes */
#define PACER_JOB_ID_MAX             128             /* bytes, excl. NUL */
#define PACER_JOB_MAX_HEADERS        64              /* header count */
#define PACER_JOB_HEADER_NAME_MAX    256             /* bytes */
#define PACER_JOB_HEADER_VALUE_MAX   (16u * 1024u)   /* bytes */
#define PACER_JOB_HEADERS_MAX_BYTES  (64u * 1024u)   /* names + values */
#define PACER_JOB_MAX_ATTEMPTS_LIMIT 100             /* attempts */
#define PACER_JOB_TIMEOUT_MAX_MS     (24u * 3600u * 1000u) /* ms */
#define PACER_JOB_MAX_DEPTH          64   /* JSON nesting levels */
#define PACER_JOB_URL_MAX_BYTES      8192 /* bytes, excl. NUL */
#define PACER_JOB_NAME_MAX           128  /* limit_key, credential: bytes */
#define PACER_JOB_META_MAX_BYTES     (64u * 1024u) /* serialised meta, bytes */

struct pacer_paginate;
struct pacer_poll;

/** HTTP methods a job may use. */
enum pacer_method {
  PACER_METHOD_GET = 0,
  PACER_METHOD_POST,
  PACER_METHOD_PUT,
  PACER_METHOD_PATCH,
  PACER_METHOD_DELETE,
  PACER_METHOD_HEAD
};

/** HTTP version a job asks for ("http_version"); the worker maps it to
 *  CURLOPT_HTTP_VERSION. */
enum pacer_job_http {
  PACER_JOB_HTTP_DEFAULT = 0, /* absent: HTTP/2 over TLS (ALPN), else 1.1 */
  PACER_JOB_HTTP_1_1,         /* "1.1" */
  PACER_JOB_HTTP_2,           /* "2": ALPN h2, or Upgrade: h2c on http:// */
  PACER_JOB_HTTP_2_PRIOR_KNOWLEDGE /* "2-prior-knowledge": h2 from the first
                                      byte, also over http:// (h2c) */
};

/** Job priority: the order within a lane. */
enum pacer_priority {
  PACER_PRIORITY_HIGH = 0,
  PACER_PRIORITY_NORMAL = 1, /* default */
  PACER_PRIORITY_LOW = 2
};

/** Limits and defaults applied while parsing. Zero fields take the
 *  PACER_JOB_* defaults (see pacer_job_limits_default). */
struct pacer_job_limits {
  size_t max_bytes;              /* whole job JSON, bytes (default 1 MiB) */
  uint32_t default_timeout_ms;   /* total request timeout when absent, ms */
  uint32_t default_max_attempts; /* attempts when absent */
};

/** One header as given by the job: name and value, both NUL-terminated,
 *  owned by the job. */
struct pacer_job_header {
  char *name;
  char *value;
};

/** A parsed, validated job. Returned owned by pacer_job_parse; free with
 *  pacer_job_free. All strings are NUL-terminated and owned by the job. */
struct pacer_job {
  char *id;                         /* job id (given, or default_id) */
  enum pacer_method method;         /* default GET */
  char *url;                        /* http:// or https:// only */
  struct pacer_job_header *headers; /* array of nheaders */
  size_t nheaders;
  char *body;                   /* request body bytes, or NULL for none */
  size_t body_len;              /* bytes */
  int body_is_json;             /* body came from an object/array */
  char *credential;             /* credential name, or NULL */
  char *limit_key;              /* lane key, or NULL */
  uint32_t max_attempts;        /* >= 1 */
  uint32_t timeout_ms;          /* total request timeout, ms, >= 1 */
  uint64_t not_before_unix_ms;  /* 0 = run now */
  uint64_t deadline_ms;         /* "deadline_ms" as given: 0 = absent (the
                                   config default applies); below
                                   PACER_JOB_DEADLINE_ABS_MIN_MS a time
                                   from the first enqueue, ms; else an
                                   absolute unix time, ms */
  enum pacer_priority priority; /* "priority", default normal */
  int retry_unsafe;             /* retry POST/PATCH after a transport error
                                   that may have reached the server */
  /* "http_version", default PACER_JOB_HTTP_DEFAULT */
  enum pacer_job_http http_version;
  char *meta_json; /* "meta" re-serialised (unformatted), or NULL */
  /* Chains (core/paginate.h, docs/CHAINS.md) */
  struct pacer_paginate *paginate; /* "paginate", or NULL */
  char *parent;  /* "parent": the first job's id, on page jobs pacer queues */
  uint32_t page; /* "page": 2, 3, ... on those, 0 otherwise */
  char *chain;   /* "chain": the chain's identity, on those, or NULL */
  struct pacer_poll *poll; /* "poll", or NULL (core/poll.h) */
  int poll_phase; /* "poll_phase": enum pacer_poll_phase, on report jobs
                     pacer queues; 0 (create) otherwise */
  uint64_t poll_since_unix_ms; /* "poll_since": the first response, unix ms */
};

/* A deadline_ms at or above this is an absolute unix time (2001-09-09),
 * below it a duration from the job's first enqueue (up to 31 years). */
#define PACER_JOB_DEADLINE_ABS_MIN_MS UINT64_C(1000000000000) /* ms */

/** Returns the wall time by which job j (borrowed) must be done, unix ms:
 *  j->deadline_ms when absolute, else enqueued_unix_ms (when the job first
 *  entered the queue, wall ms) plus j->deadline_ms or, when the job sets
 *  none, plus default_ms; 0 (no deadline) when both are 0. Saturates
 *  instead of wrapping. Pure; any thread. */
uint64_t pacer_job_deadline_unix_ms(const struct pacer_job *j,
                                    uint64_t enqueued_unix_ms,
                                    uint64_t default_ms);

/** Fills *limits with the defaults: 1 MiB, 30000 ms, 5 attempts. */
void pacer_job_limits_default(struct pacer_job_limits *limits);

/** Returns the method's name ("GET", ...), static storage. */
const char *pacer_method_name(enum pacer_method method);

/** Parses and validates the job text json[0..len) (borrowed; need not be
 *  NUL-terminated). default_id (borrowed, may be NULL) is used when the job
 *  has no "id"; with neither, parsing fails on "id". limits (borrowed, may be
 *  NULL for defaults).
 *  On success returns 0 and *out owns a new job (free with pacer_job_free).
 *  On failure returns PACER_EJOB (or PACER_ETOOLARGE for size, PACER_ENOMEM),
 *  sets *out to NULL and fills err with "<field>: <reason>" (byte offsets
 *  in messages, "at byte N", count from 0).
 *  Any thread (cJSON_ParseWithLengthOpts only; no global error state). */
int pacer_job_parse(const char *json, size_t len, const char *default_id,
                    const struct pacer_job_limits *limits,
                    struct pacer_job **out, struct pacer_error *err);

/** Returns the value of header name (case-insensitive) or NULL. Borrowed
 *  from job. */
const char *pacer_job_header_get(const struct pacer_job *job, const char *name);

/** Returns the Content-Type the request must carry: the job's own
 *  Content-Type header (case-insensitive) when given, else
 *  "application/json" when body_is_json, else NULL (no header to add).
 *  Borrowed from job or static storage. Pure. */
const char *pacer_job_content_type(const struct pacer_job *job);

/** Checks a job id (borrowed): 1..PACER_JOB_ID_MAX bytes of printable
 *  ASCII without spaces, because ids go into Redis members and log lines.
 *  Returns 0, or PACER_EJOB with err "id: <reason>". Pure; any thread. */
int pacer_job_id_check(const char *id, struct pacer_error *err);

/** Best-effort id of a job text that failed to parse, so a rejection can
 *  still carry the client's id: copies a valid top-level "id" string
 *  (pacer_job_id_check) into out (size bytes, borrowed). json[0..len)
 *  borrowed. Returns 0, or PACER_ENOTFOUND when there is none (or the text
 *  is over 64 MiB). Any thread. */
int pacer_job_peek_id(const char *json, size_t len, char *out, size_t size);

/** Frees job and everything it owns. pacer_job_free(NULL) does nothing. */
void pacer_job_free(struct pacer_job *job);

/** Returns non-zero when header name (case-insensitive) carries a secret
 *  (Authorization, Proxy-Authorization, Cookie, X-Api-Key, or any name
 *  containing "token", "secret", "key" or "auth"). Pure. */
int pacer_header_is_secret(const char *name);

/** Returns a copy of the job text json[0..len) with the values of secret
 *  headers (pacer_header_is_secret) replaced by "[redacted]" and the
 *  userinfo of a top-level "url" string redacted as by
 *  pacer_url_redact_userinfo ("url" in any case, escapes decoded first);
 *  text that is not a JSON object is returned truncated to max_bytes with
 *  no change.
 *  Only the top-level "headers" is looked at; a "headers" value that is
 *  not an object is replaced whole. Text that starts as an object but is
 *  not valid JSON is cut at the first syntax error (secrets after it could
 *  not be found). Truncation never splits a UTF-8 sequence.
 *  Result is owned: free with free(). NULL on out of memory. */
char *pacer_job_redact(const char *json, size_t len, size_t max_bytes);

/** Redacts the userinfo of url[0..len) (borrowed; may hold NULs):
 *  "https://user:secret@host/x" becomes "https://user:[redacted]@host/x",
 *  and a userinfo without ':' (a token used as the user name) becomes
 *  "[redacted]@". The authority is read generously (optional "scheme:",
 *  any run of '/' or '\', up to '/', '\', '?' or '#'; the userinfo ends
 *  at its last '@'), so no spelling a URL parser might accept keeps the
 *  password. Returns 0 with *out owned (free with free(), NUL-terminated,
 *  *out_len bytes), or 0 with *out NULL when there is no userinfo, or
 *  PACER_ENOMEM. Pure; any thread. Source: RFC 3986 §3.2.1. */
int pacer_url_redact_userinfo(const char *url, size_t len, char **out,
                              size_t *out_len);

/** Returns in *out the *n secret strings of job (borrowed) that an
 *  upstream could send back (an echo endpoint, an error page), for
 *  scrubbing from results and dead letters (e2e_canary): the credentials
 *  of every secret header (the part after the auth scheme, so an echo
 *  reads "Bearer [redacted]", or the whole value), and the URL userinfo
 *  password as written, percent-decoded, and as libcurl sends it (base64
 *  of "user:password" in Basic auth), or the user name when there is no
 *  password. Strings shorter than 6 bytes are left out, since scrubbing
 *  them would mangle ordinary text. *out is owned: free with
 *  pacer_job_secrets_free (which wipes them). Returns 0, or PACER_ENOMEM
 *  with *out NULL and *n 0. Pure; any thread. */
int pacer_job_secrets(const struct pacer_job *job, char ***out, size_t *n);

/** Wipes and frees n strings returned by pacer_job_secrets. NULL does
 *  nothing. Any thread. */
void pacer_job_secrets_free(char **secrets, size_t n);

#endif
