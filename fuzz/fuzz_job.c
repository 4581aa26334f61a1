/* libFuzzer target: the job parser (core/job.h): pacer_job_parse,
 * pacer_job_peek_id and pacer_job_redact. The input is the job text as it
 * arrives in the stream field "job".
 *
 * Invariants checked beyond memory safety, UB and leaks:
 *   - the return is 0, PACER_EJOB or PACER_ETOOLARGE, never PACER_ENOMEM
 *     (the scan accepted the text, so cJSON must parse it); err mirrors it;
 *     *out is a job exactly on success;
 *   - a parsed job keeps every documented limit (id, url scheme, ranges,
 *     header bytes, body length, HEAD without body, Content-Type rule);
 *   - round trip: the job printed back to JSON parses to the same job;
 *   - redaction: the redacted text of a valid job is still a valid job,
 *     equal except that secret header values read "[redacted]"; a cut
 *     redaction is a prefix of the whole one, at most max_bytes long and
 *     never ends inside a UTF-8 sequence;
 *   - pacer_job_peek_id finds the id of every job that carries its own,
 *     and only ever returns an id that passes pacer_job_id_check.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "core/job.h"
#include "fuzz/fuzz_util.h"

#define DEFAULT_ID     "fuzz-default-id"
#define NO_ID_MSG      "id: required when no default id is given"
#define REDACTED       "[redacted]"
#define SCAN_KEY_MAX   255 /* header names job.c reads whole, bytes */
#define NOT_BEFORE_MAX UINT64_C(9007199254740992) /* 2^53, unix ms */
#define BIG_BYTES      (64u * 1024u * 1024u)      /* limit for re-parsed text */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses text[0..len) and checks the contract common to every call; err
 * (borrowed) gets the detail. */
static int
parse_checked(const char *text, size_t len, const char *default_id,
              size_t max_bytes, struct pacer_job **job, struct pacer_error *err)
{
  struct pacer_job_limits lim;
  int rc;

  pacer_job_limits_default(&lim);
  lim.max_bytes = max_bytes;
  memset(err, 0x5a, sizeof(*err));
  rc = pacer_job_parse(text, len, default_id, &lim, job, err);
  PACER_FUZZ_CHECK(rc == 0 || rc == PACER_EJOB || rc == PACER_ETOOLARGE);
  PACER_FUZZ_CHECK(err->code == rc);
  PACER_FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
  PACER_FUZZ_CHECK((rc == 0) == (*job != NULL));
  PACER_FUZZ_CHECK(rc == 0 ? err->msg[0] == '\0'
                           : strstr(err->msg, ": ") != NULL);
  return rc;
}

static int
opt_equal(const char *a, const char *b)
{
  return (a == NULL && b == NULL) ||
         (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
check_name(const char *s)
{
  size_t i, n;

  if (s == NULL)
    return;
  n = strlen(s);
  PACER_FUZZ_CHECK(n >= 1 && n <= PACER_JOB_NAME_MAX);
  for (i = 0; i < n; i++)
    PACER_FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void
check_job(const struct pacer_job *job)
{
  const char *ct;
  size_t i;

  PACER_FUZZ_CHECK(job->id != NULL && pacer_job_id_check(job->id, NULL) == 0);
  PACER_FUZZ_CHECK(job->url != NULL);
  PACER_FUZZ_CHECK(strncasecmp(job->url, "http://", 7) == 0 ||
                   strncasecmp(job->url, "https://", 8) == 0);
  PACER_FUZZ_CHECK(strlen(job->url) <= PACER_JOB_URL_MAX_BYTES);
  PACER_FUZZ_CHECK(job->method <= PACER_METHOD_HEAD);
  PACER_FUZZ_CHECK(job->priority <= PACER_PRIORITY_LOW);
  PACER_FUZZ_CHECK(job->max_attempts >= 1 &&
                   job->max_attempts <= PACER_JOB_MAX_ATTEMPTS_LIMIT);
  PACER_FUZZ_CHECK(job->timeout_ms >= 1 &&
                   job->timeout_ms <= PACER_JOB_TIMEOUT_MAX_MS);
  PACER_FUZZ_CHECK(job->not_before_unix_ms <= NOT_BEFORE_MAX);
  PACER_FUZZ_CHECK(job->nheaders <= PACER_JOB_MAX_HEADERS);
  PACER_FUZZ_CHECK(job->nheaders == 0 || job->headers != NULL);
  for (i = 0; i < job->nheaders; i++) {
    const struct pacer_job_header *h = &job->headers[i];
    const char *s;

    PACER_FUZZ_CHECK(h->name != NULL && h->name[0] != '\0');
    PACER_FUZZ_CHECK(h->value != NULL);
    for (s = h->value; *s != '\0'; s++) {
      unsigned char c = (unsigned char)*s;

      PACER_FUZZ_CHECK((c >= 0x20 || c == '\t') && c != 0x7f);
    }
    /* names are unique case-insensitively, so the lookup finds this one */
    PACER_FUZZ_CHECK(pacer_job_header_get(job, h->name) == h->value);
  }
  if (job->body == NULL) {
    PACER_FUZZ_CHECK(job->body_len == 0 && !job->body_is_json);
  } else {
    PACER_FUZZ_CHECK(strlen(job->body) == job->body_len);
    PACER_FUZZ_CHECK(job->method != PACER_METHOD_HEAD);
  }
  check_name(job->credential);
  check_name(job->limit_key);
  PACER_FUZZ_CHECK(job->meta_json == NULL ||
                   strlen(job->meta_json) <= PACER_JOB_META_MAX_BYTES);
  ct = pacer_job_content_type(job);
  if (pacer_job_header_get(job, "Content-Type") != NULL)
    PACER_FUZZ_CHECK(ct == pacer_job_header_get(job, "Content-Type"));
  else if (job->body != NULL && job->body_is_json)
    PACER_FUZZ_CHECK(ct != NULL && strcmp(ct, "application/json") == 0);
  else
    PACER_FUZZ_CHECK(ct == NULL);
}

/* Returns url with its userinfo redacted as pacer_job_redact does
 * (owned), or NULL when it has none. */
static char *
redacted_url(const char *url)
{
  char *out = NULL;
  size_t n;

  PACER_FUZZ_CHECK(pacer_url_redact_userinfo(url, strlen(url), &out, &n) == 0);
  PACER_FUZZ_CHECK(out == NULL || strlen(out) == n);
  return out;
}

/* a and b are the same job; with redacted set, b's secret header values
 * may read "[redacted]" (and must, for names pacer_header_is_secret), and
 * b's url has its userinfo redacted. */
static void
check_same(const struct pacer_job *a, const struct pacer_job *b, int redacted)
{
  char *url = redacted ? redacted_url(a->url) : NULL;
  size_t i;

  PACER_FUZZ_CHECK(strcmp(a->id, b->id) == 0);
  PACER_FUZZ_CHECK(a->method == b->method);
  PACER_FUZZ_CHECK(strcmp(url != NULL ? url : a->url, b->url) == 0);
  free(url);
  PACER_FUZZ_CHECK(a->nheaders == b->nheaders);
  for (i = 0; i < a->nheaders; i++) {
    const struct pacer_job_header *ha = &a->headers[i], *hb = &b->headers[i];

    PACER_FUZZ_CHECK(strcmp(ha->name, hb->name) == 0);
    if (redacted && pacer_header_is_secret(ha->name))
      PACER_FUZZ_CHECK(strcmp(hb->value, REDACTED) == 0);
    else if (redacted && strlen(ha->name) > SCAN_KEY_MAX)
      /* a name too long to read whole is redacted to be safe */
      PACER_FUZZ_CHECK(strcmp(hb->value, ha->value) == 0 ||
                       strcmp(hb->value, REDACTED) == 0);
    else
      PACER_FUZZ_CHECK(strcmp(hb->value, ha->value) == 0);
  }
  PACER_FUZZ_CHECK(a->body_len == b->body_len);
  PACER_FUZZ_CHECK((a->body == NULL) == (b->body == NULL));
  PACER_FUZZ_CHECK(a->body == NULL ||
                   memcmp(a->body, b->body, a->body_len) == 0);
  PACER_FUZZ_CHECK(a->body_is_json == b->body_is_json);
  PACER_FUZZ_CHECK(opt_equal(a->credential, b->credential));
  PACER_FUZZ_CHECK(opt_equal(a->limit_key, b->limit_key));
  PACER_FUZZ_CHECK(a->max_attempts == b->max_attempts);
  PACER_FUZZ_CHECK(a->timeout_ms == b->timeout_ms);
  PACER_FUZZ_CHECK(a->not_before_unix_ms == b->not_before_unix_ms);
  PACER_FUZZ_CHECK(a->priority == b->priority);
  PACER_FUZZ_CHECK(a->retry_unsafe == b->retry_unsafe);
  PACER_FUZZ_CHECK(opt_equal(a->meta_json, b->meta_json));
}

/* Prints job back to JSON with cJSON (owned: free with cJSON_free). */
static char *
print_job(const struct pacer_job *job)
{
  static const char *const prio[] = {"high", "normal", "low"};
  cJSON *root = cJSON_CreateObject(), *h;
  char num[32], *text;
  size_t i;

  PACER_FUZZ_CHECK(root != NULL);
  PACER_FUZZ_CHECK(cJSON_AddStringToObject(root, "id", job->id) != NULL);
  PACER_FUZZ_CHECK(cJSON_AddStringToObject(
                       root, "method", pacer_method_name(job->method)) != NULL);
  PACER_FUZZ_CHECK(cJSON_AddStringToObject(root, "url", job->url) != NULL);
  if (job->nheaders > 0) {
    PACER_FUZZ_CHECK((h = cJSON_AddObjectToObject(root, "headers")) != NULL);
    for (i = 0; i < job->nheaders; i++)
      PACER_FUZZ_CHECK(cJSON_AddStringToObject(h, job->headers[i].name,
                                               job->headers[i].value) != NULL);
  }
  if (job->body != NULL)
    PACER_FUZZ_CHECK((job->body_is_json
                          ? cJSON_AddRawToObject(root, "body", job->body)
                          : cJSON_AddStringToObject(root, "body", job->body)) !=
                     NULL);
  PACER_FUZZ_CHECK(
      cJSON_AddNumberToObject(root, "timeout_ms", job->timeout_ms) != NULL);
  PACER_FUZZ_CHECK(
      cJSON_AddNumberToObject(root, "max_attempts", job->max_attempts) != NULL);
  /* Printed by hand: cJSON prints 15 significant digits only, so
   * 9007199254740992 would come back as 9007199254740990. */
  snprintf(num, sizeof(num), "%" PRIu64, job->not_before_unix_ms);
  PACER_FUZZ_CHECK(cJSON_AddRawToObject(root, "not_before", num) != NULL);
  if (job->limit_key != NULL)
    PACER_FUZZ_CHECK(
        cJSON_AddStringToObject(root, "limit_key", job->limit_key) != NULL);
  if (job->credential != NULL)
    PACER_FUZZ_CHECK(
        cJSON_AddStringToObject(root, "credential", job->credential) != NULL);
  if (job->meta_json != NULL)
    PACER_FUZZ_CHECK(cJSON_AddRawToObject(root, "meta", job->meta_json) !=
                     NULL);
  PACER_FUZZ_CHECK(
      cJSON_AddStringToObject(root, "priority", prio[job->priority]) != NULL);
  PACER_FUZZ_CHECK(
      cJSON_AddBoolToObject(root, "retry_unsafe", job->retry_unsafe) != NULL);
  text = cJSON_PrintUnformatted(root);
  PACER_FUZZ_CHECK(text != NULL);
  cJSON_Delete(root);
  return text;
}

static void
check_round_trip(const struct pacer_job *job)
{
  struct pacer_job *again = NULL;
  struct pacer_error err;
  char *text = print_job(job);

  PACER_FUZZ_CHECK(
      parse_checked(text, strlen(text), NULL, BIG_BYTES, &again, &err) == 0);
  check_same(job, again, 0);
  pacer_job_free(again);
  cJSON_free(text);
}

static void
check_redact(const char *text, size_t len, const char *default_id,
             const struct pacer_job *job, size_t cut_bytes)
{
  struct pacer_job *again = NULL;
  struct pacer_error err;
  char *full = pacer_job_redact(text, len, SIZE_MAX), *cut, *url;
  size_t full_len, cut_len;

  PACER_FUZZ_CHECK(full != NULL);
  full_len = strlen(full);
  url = redacted_url(job->url);
  /* "[redacted]" may make a URL at the length limit too long to parse */
  if (url == NULL || strlen(url) <= PACER_JOB_URL_MAX_BYTES) {
    PACER_FUZZ_CHECK(parse_checked(full, full_len, default_id, BIG_BYTES,
                                   &again, &err) == 0);
    check_same(job, again, 1);
    pacer_job_free(again);
  }
  free(url);

  /* A valid job is UTF-8 throughout, so the cut can always back up to a
   * sequence boundary, by at most three bytes. */
  cut = pacer_job_redact(text, len, cut_bytes);
  PACER_FUZZ_CHECK(cut != NULL);
  cut_len = strlen(cut);
  PACER_FUZZ_CHECK(cut_len <= cut_bytes && cut_len <= full_len);
  PACER_FUZZ_CHECK(memcmp(cut, full, cut_len) == 0);
  if (cut_len < full_len) {
    PACER_FUZZ_CHECK(cut_len + 3 >= cut_bytes);
    PACER_FUZZ_CHECK(((unsigned char)full[cut_len] & 0xc0) != 0x80);
  }
  free(cut);
  free(full);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  const char *default_id = NULL;
  struct pacer_job *job = NULL;
  struct pacer_error err;
  char id[PACER_JOB_ID_MAX + 1];
  size_t cut_bytes = size - size / 4;
  char *red;
  int rc, peek;

  /* Without a default id first, so a job that carries its own is known. */
  rc = parse_checked(text, size, NULL, PACER_JOB_MAX_BYTES_DEFAULT, &job, &err);
  if (rc == PACER_EJOB && strcmp(err.msg, NO_ID_MSG) == 0) {
    default_id = DEFAULT_ID;
    rc = parse_checked(text, size, default_id, PACER_JOB_MAX_BYTES_DEFAULT,
                       &job, &err);
    /* Only the HEAD-with-body check comes after the id. */
    PACER_FUZZ_CHECK(rc != 0
                         ? strcmp(err.msg, "body: not allowed with HEAD") == 0
                         : strcmp(job->id, DEFAULT_ID) == 0);
  }

  memset(id, 0x5a, sizeof(id));
  peek = pacer_job_peek_id(text, size, id, sizeof(id));
  PACER_FUZZ_CHECK(peek == 0 || peek == PACER_ENOTFOUND);
  if (peek == 0)
    PACER_FUZZ_CHECK(pacer_job_id_check(id, NULL) == 0);

  if (rc == 0) {
    check_job(job);
    check_round_trip(job);
    check_redact(text, size, default_id, job, cut_bytes);
    if (default_id == NULL)
      PACER_FUZZ_CHECK(peek == 0 && strcmp(id, job->id) == 0);
    pacer_job_free(job);
  } else {
    /* Any text at all: memory safety and the length bound. */
    red = pacer_job_redact(text, size, cut_bytes);
    PACER_FUZZ_CHECK(red != NULL);
    PACER_FUZZ_CHECK(strlen(red) <= cut_bytes);
    free(red);
  }
  return 0;
}
