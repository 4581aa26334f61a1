/* Job model: parse and validate one job, redact secrets from job text.
 *
 *   text --size--> scan (grammar, depth, UTF-8, NUL) --> cJSON tree
 *        --> top-level fields in document order --> cross-field checks
 *        --> struct pacer_job
 *
 * Why a scan of our own before cJSON: cJSON 1.7.15 accepts raw control
 * characters and invalid UTF-8 inside strings, turns "\u0000" (and even a
 * malformed "\uZZZZ") into a NUL that silently truncates the C string,
 * accepts numbers such as "01" and "1.", copies at most 63 characters of a
 * number, and recurses up to 1000 levels deep. The scan is iterative, keeps
 * a fixed 64-entry stack, and rejects all of the above with a byte offset,
 * so cJSON only ever sees text it parses exactly. The same scanner, in a
 * lenient mode, finds the spans pacer_job_redact replaces. JSON bodies and
 * "meta" are copied from the text (whitespace removed), not re-printed by
 * cJSON, so large integers and number spellings arrive unchanged.
 *
 * Byte offsets in messages count from 0 at the first byte of the text.
 *
 * Files: this one (the public API), core/job_scan.c (the scanner),
 * core/job_fields.c (the field checks), core/job_redact.c (secrets and
 * redaction); core/job_int.h between them.
 */
#include "core/job.h"
#include "core/job_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* Copies s[0..n) into buf (size bytes) for a message: printable ASCII is
 * kept, anything else (and '"' and '\\') becomes '?', and text longer than
 * PACER_JOB_SHOW_MAX bytes is cut with "...". User text never reaches a log
 * line raw.
 */
const char *
pacer_job_show(const char *s, size_t n, char *buf, size_t size)
{
  size_t i, o = 0;

  assert(size > PACER_JOB_SHOW_MAX + 4);
  (void)size;
  for (i = 0; i < n && o < PACER_JOB_SHOW_MAX; i++) {
    unsigned char c = (unsigned char)s[i];

    buf[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
  }
  if (i < n) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = '\0';
  return buf;
}

char *
pacer_job_dup_bytes(const char *s, size_t n)
{
  char *p = malloc(n + 1);

  if (p == NULL)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

void
pacer_job_limits_default(struct pacer_job_limits *limits)
{
  limits->max_bytes = PACER_JOB_MAX_BYTES_DEFAULT;
  limits->default_timeout_ms = 30000;
  limits->default_max_attempts = 5; /* retries by default */
}

const char *
pacer_method_name(enum pacer_method method)
{
  switch (method) {
  case PACER_METHOD_GET:
    return "GET";
  case PACER_METHOD_POST:
    return "POST";
  case PACER_METHOD_PUT:
    return "PUT";
  case PACER_METHOD_PATCH:
    return "PATCH";
  case PACER_METHOD_DELETE:
    return "DELETE";
  case PACER_METHOD_HEAD:
    return "HEAD";
  }
  return "UNKNOWN";
}

int
pacer_job_parse(const char *json, size_t len, const char *default_id,
                const struct pacer_job_limits *limits, struct pacer_job **out,
                struct pacer_error *err)
{
  struct pacer_job_limits lim;
  struct pacer_job_scan sc;
  struct pacer_job_parse_ctx cx;
  const char *text = json, *end = NULL;
  size_t text_len = len;
  cJSON *root = NULL;
  int rc;

  assert(out != NULL);
  *out = NULL;
  pacer_error_clear(err);
  pacer_job_limits_default(&lim);
  if (limits != NULL) {
    if (limits->max_bytes > 0)
      lim.max_bytes = limits->max_bytes;
    if (limits->default_timeout_ms > 0)
      lim.default_timeout_ms = limits->default_timeout_ms;
    if (limits->default_max_attempts > 0)
      lim.default_max_attempts = limits->default_max_attempts;
  }
  if (len > lim.max_bytes)
    return pacer_error_set(err, PACER_ETOOLARGE,
                           "job: %zu bytes exceeds the %zu-byte limit", len,
                           lim.max_bytes);
  if (json == NULL)
    return pacer_error_set(err, PACER_EJOB, "job: invalid JSON at byte 0");

  memset(&sc, 0, sizeof(sc));
  sc.s = (const unsigned char *)json;
  sc.len = len;
  sc.strict = 1;
  if (pacer_job_scan_run(&sc) != 0)
    return pacer_job_scan_error(&sc, err);
  if (sc.pos > 0 && len >= 3 && memcmp(json, "\xef\xbb\xbf", 3) == 0) {
    text += 3; /* cJSON skips a BOM only when 5 or more bytes follow it */
    text_len -= 3;
  }

  /* The scan accepted the text, so cJSON can only fail for memory. */
  root = cJSON_ParseWithLengthOpts(text, text_len, &end, 0);
  if (root == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return pacer_error_set(err, PACER_EJOB, "job: must be a JSON object");
  }

  memset(&cx, 0, sizeof(cx));
  cx.limits = &lim;
  cx.text = json;
  cx.sc = &sc;
  cx.job = calloc(1, sizeof(*cx.job));
  if (cx.job == NULL) {
    cJSON_Delete(root);
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  }
  cx.job->method = PACER_METHOD_GET;
  cx.job->timeout_ms = lim.default_timeout_ms;
  cx.job->max_attempts = lim.default_max_attempts;
  cx.job->priority = PACER_PRIORITY_NORMAL;
  rc = pacer_job_parse_fields(&cx, root, default_id, err);
  cJSON_Delete(root);
  if (rc != 0) {
    pacer_job_free(cx.job);
    return rc;
  }
  *out = cx.job;
  return 0;
}

const char *
pacer_job_header_get(const struct pacer_job *job, const char *name)
{
  size_t i;

  for (i = 0; i < job->nheaders; i++) {
    /* RFC 9110 §5.1: field names are case-insensitive */
    if (strcasecmp(job->headers[i].name, name) == 0)
      return job->headers[i].value;
  }
  return NULL;
}

const char *
pacer_job_content_type(const struct pacer_job *job)
{
  const char *ct = pacer_job_header_get(job, "Content-Type");

  if (ct != NULL)
    return ct;
  return job->body != NULL && job->body_is_json ? "application/json" : NULL;
}

void
pacer_job_free(struct pacer_job *job)
{
  size_t i;

  if (job == NULL)
    return;
  for (i = 0; i < job->nheaders; i++) {
    free(job->headers[i].name);
    free(job->headers[i].value);
  }
  free(job->headers);
  free(job->id);
  free(job->url);
  free(job->body);
  free(job->credential);
  free(job->limit_key);
  free(job->meta_json);
  pacer_job_chain_free(job);
  free(job);
}

int
pacer_job_peek_id(const char *json, size_t len, char *out, size_t size)
{
  const char *end = NULL;
  cJSON *root, *id;
  int rc = PACER_ENOTFOUND;

  if (len == 0 || len > (size_t)64 * 1024 * 1024)
    return PACER_ENOTFOUND;
  root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (root == NULL)
    return PACER_ENOTFOUND;
  id = cJSON_GetObjectItemCaseSensitive(root, "id");
  if (cJSON_IsString(id) && id->valuestring != NULL &&
      pacer_job_id_check(id->valuestring, NULL) == 0 &&
      strlen(id->valuestring) < size) {
    memcpy(out, id->valuestring, strlen(id->valuestring) + 1);
    rc = 0;
  }
  cJSON_Delete(root);
  return rc;
}

uint64_t
pacer_job_deadline_unix_ms(const struct pacer_job *j, uint64_t enqueued_unix_ms,
                           uint64_t default_ms)
{
  uint64_t rel = j->deadline_ms != 0 ? j->deadline_ms : default_ms;

  if (rel >= PACER_JOB_DEADLINE_ABS_MIN_MS)
    return rel;
  if (rel == 0)
    return 0;
  return enqueued_unix_ms > UINT64_MAX - rel ? UINT64_MAX
                                             : enqueued_unix_ms + rel;
}
