/* One check per top-level field of a job (core/job.h documents the
 * fields), run by pacer_job_parse on the cJSON tree of text the scanner
 * accepted (core/job_scan.c). Each message names its field.
 */
#include "core/job_int.h"
#include "core/json_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOT_BEFORE_MAX_UNIX_MS 9007199254740992.0 /* 2^53, unix ms */

/* Copies the JSON text s[0..n) without the whitespace between tokens.
 * s must be valid JSON (the scan checked it). Numbers and strings keep
 * their exact spelling: re-printing through cJSON's doubles would turn
 * 9007199254740993 into 9007199254740992 and 1.50 into 1.5. */
static char *
minify(const char *s, size_t n, size_t *out_len)
{
  char *p = malloc(n + 1);
  size_t i, o = 0;
  int in_string = 0;

  if (p == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    char c = s[i];

    if (in_string) {
      p[o++] = c;
      if (c == '\\' && i + 1 < n)
        p[o++] = s[++i]; /* the escaped byte, even if it is '"' */
      else if (c == '"')
        in_string = 0;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      p[o++] = c;
      in_string = c == '"';
    }
  }
  p[o] = '\0';
  *out_len = o;
  return p;
}

/* ------------------------------------------------------------------------
 * Field checks. Each takes the cJSON item of one top-level field.
 * ------------------------------------------------------------------------ */

/* Reads an integral JSON number in [lo, hi]. cJSON keeps numbers as
 * doubles, so integrality and range are checked on the double; the range
 * check comes first so the cast to int64_t is always defined. */
static int
get_int(const cJSON *item, const char *name, int64_t lo, int64_t hi,
        int64_t *out, struct pacer_error *err)
{
  return pacer_json_get_int(item, name, lo, hi, PACER_EJOB, out, err);
}

/* Job ids end up in Redis members "<id>\n<attempt>\n<json>" and in log
 * lines, so: 1..128 bytes of printable ASCII, no spaces. */
int
pacer_job_id_check(const char *id, struct pacer_error *err)
{
  size_t i, n = strlen(id);

  if (n == 0)
    return pacer_error_set(err, PACER_EJOB, "id: must not be empty");
  if (n > PACER_JOB_ID_MAX)
    return pacer_error_set(err, PACER_EJOB, "id: longer than %d bytes",
                           PACER_JOB_ID_MAX);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)id[i];

    if (c <= 0x20 || c >= 0x7f)
      return pacer_error_set(err, PACER_EJOB,
                             "id: must be printable ASCII without spaces");
  }
  return 0;
}

static int
field_id(struct pacer_job_parse_ctx *cx, const cJSON *item,
         struct pacer_error *err)
{
  int rc;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_EJOB, "id: must be a string");
  if ((rc = pacer_job_id_check(item->valuestring, err)) != 0)
    return rc;
  cx->job->id = strdup(item->valuestring);
  if (cx->job->id == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  cx->have_id = 1;
  return 0;
}

static int
field_method(struct pacer_job_parse_ctx *cx, const cJSON *item,
             struct pacer_error *err)
{
  char buf[PACER_JOB_SHOW_MAX + 8];
  int m;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_EJOB, "method: must be a string");
  /* RFC 9110 §9.1: method names are case-sensitive */
  for (m = PACER_METHOD_GET; m <= PACER_METHOD_HEAD; m++) {
    if (strcmp(item->valuestring, pacer_method_name((enum pacer_method)m)) ==
        0) {
      cx->job->method = (enum pacer_method)m;
      return 0;
    }
  }
  return pacer_error_set(
      err, PACER_EJOB,
      "method: \"%s\" is not supported, use GET, POST, PUT, PATCH, DELETE or "
      "HEAD",
      pacer_job_show(item->valuestring, strlen(item->valuestring), buf,
                     sizeof(buf)));
}

/* http(s) URL checks. Deliberately not a full RFC 3986 parser: curl parses
 * the URL again; here we only refuse what must never reach it. */
static int
check_url(const char *url, struct pacer_error *err)
{
  char buf[PACER_JOB_SHOW_MAX + 8];
  size_t n = strlen(url), i, slen, alen, hlen;
  const char *auth, *host, *end, *at, *port = NULL;

  if (n == 0)
    return pacer_error_set(err, PACER_EJOB, "url: must not be empty");
  if (n > PACER_JOB_URL_MAX_BYTES)
    return pacer_error_set(err, PACER_EJOB,
                           "url: %zu bytes exceeds the %d-byte limit", n,
                           PACER_JOB_URL_MAX_BYTES);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)url[i];

    /* C0 controls, space, DEL, and C1 controls (U+0080..U+009F) */
    if (c <= 0x20 || c == 0x7f ||
        (c == 0xc2 && (unsigned char)url[i + 1] >= 0x80 &&
         (unsigned char)url[i + 1] <= 0x9f))
      return pacer_error_set(
          err, PACER_EJOB,
          "url: contains whitespace or a control character at byte %zu", i);
  }
  /* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
  for (slen = 0; slen < n; slen++) {
    unsigned char c = (unsigned char)url[slen];

    if (!(pacer_job_is_alpha(c) ||
          (slen > 0 &&
           (pacer_job_is_digit(c) || c == '+' || c == '-' || c == '.'))))
      break;
  }
  if (slen == 0 || url[slen] != ':')
    return pacer_error_set(err, PACER_EJOB,
                           "url: must start with http:// or https://");
  if (!((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
        (slen == 5 && strncasecmp(url, "https", 5) == 0)))
    return pacer_error_set(err, PACER_EJOB,
                           "url: scheme \"%s\" is not allowed, use http or "
                           "https",
                           pacer_job_show(url, slen, buf, sizeof(buf)));
  if (strncmp(url + slen, "://", 3) != 0)
    return pacer_error_set(err, PACER_EJOB,
                           "url: must start with http:// or https://");
  /* RFC 3986 §3.2: authority ends at "/", "?" or "#" */
  auth = url + slen + 3;
  alen = strcspn(auth, "/?#");
  end = auth + alen;
  host = auth;
  for (at = auth; at < end; at++) {
    if (*at == '@')
      host = at + 1; /* userinfo ends at the last "@" */
  }
  if (*host == '[') {
    const char *close = memchr(host, ']', (size_t)(end - host));

    if (close == NULL)
      return pacer_error_set(err, PACER_EJOB,
                             "url: IPv6 host has no closing \"]\"");
    hlen = (size_t)(close - host) - 1;
    if (close + 1 < end) {
      if (close[1] != ':')
        return pacer_error_set(err, PACER_EJOB,
                               "url: unexpected text after the IPv6 host");
      port = close + 2;
    }
  } else {
    const char *colon = memchr(host, ':', (size_t)(end - host));

    hlen = (size_t)((colon != NULL ? colon : end) - host);
    if (colon != NULL)
      port = colon + 1;
  }
  if (hlen == 0)
    return pacer_error_set(err, PACER_EJOB, "url: host is empty");
  if (port != NULL && port < end) {
    /* RFC 3986 §3.2.3: port = *DIGIT; an empty port means the default */
    unsigned long v = 0;
    const char *p;

    for (p = port; p < end; p++) {
      if (!pacer_job_is_digit((unsigned char)*p) || v > 65535)
        break;
      v = v * 10 + (unsigned long)(*p - '0');
    }
    if (p < end || v == 0 || v > 65535)
      return pacer_error_set(err, PACER_EJOB,
                             "url: port must be a number between 1 and 65535");
  }
  return 0;
}

static int
field_url(struct pacer_job_parse_ctx *cx, const cJSON *item,
          struct pacer_error *err)
{
  int rc;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_EJOB, "url: must be a string");
  if ((rc = check_url(item->valuestring, err)) != 0)
    return rc;
  cx->job->url = strdup(item->valuestring);
  if (cx->job->url == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  cx->have_url = 1;
  return 0;
}

/* RFC 9110 §5.6.2: tchar */
static int
is_tchar(unsigned char c)
{
  return pacer_job_is_alpha(c) || pacer_job_is_digit(c) ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
check_header(const struct pacer_job *job, const char *name, const cJSON *v,
             struct pacer_error *err)
{
  char buf[PACER_JOB_SHOW_MAX + 8];
  size_t i, n = strlen(name);
  const char *s;

  for (i = 0; i < n; i++) {
    if (!is_tchar((unsigned char)name[i]))
      break;
  }
  if (n == 0 || i < n)
    return pacer_error_set(err, PACER_EJOB,
                           "headers: \"%s\" is not a valid header name",
                           pacer_job_show(name, n, buf, sizeof(buf)));
  pacer_job_show(name, n, buf, sizeof(buf));
  /* Servers refuse long header lines (431, RFC 6585 §5) or cut them; a
   * job that cannot be sent as written is rejected before it is sent. */
  if (n > PACER_JOB_HEADER_NAME_MAX)
    return pacer_error_set(err, PACER_EJOB,
                           "headers: name \"%s\" is longer than %d bytes", buf,
                           PACER_JOB_HEADER_NAME_MAX);
  if (strcasecmp(name, "Content-Length") == 0)
    return pacer_error_set(err, PACER_EJOB,
                           "headers: \"%s\" is computed from the body and "
                           "cannot be set",
                           buf);
  /* RFC 9110 §7.6.1 / RFC 9113 §8.2.2: connection-specific, owned by the
   * HTTP client */
  if (strcasecmp(name, "Transfer-Encoding") == 0 ||
      strcasecmp(name, "Connection") == 0)
    return pacer_error_set(err, PACER_EJOB,
                           "headers: \"%s\" is managed by the HTTP client and "
                           "cannot be set",
                           buf);
  for (i = 0; i < job->nheaders; i++) {
    if (strcasecmp(job->headers[i].name, name) == 0)
      return pacer_error_set(err, PACER_EJOB,
                             "headers: \"%s\" is given more than once", buf);
  }
  if (!cJSON_IsString(v))
    return pacer_error_set(err, PACER_EJOB,
                           "headers: value of \"%s\" must be a string", buf);
  if (strlen(v->valuestring) > PACER_JOB_HEADER_VALUE_MAX)
    return pacer_error_set(err, PACER_EJOB,
                           "headers: value of \"%s\" is %zu bytes, over the "
                           "%u-byte limit",
                           buf, strlen(v->valuestring),
                           PACER_JOB_HEADER_VALUE_MAX);
  /* RFC 9110 §5.5: CR, LF and NUL are never valid in a field value; CR or
   * LF would let the value start a header (or a body) of its own. */
  for (s = v->valuestring; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;

    if (c == '\r' || c == '\n')
      return pacer_error_set(err, PACER_EJOB,
                             "headers: value of \"%s\" contains CR or LF "
                             "(header injection)",
                             buf);
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return pacer_error_set(err, PACER_EJOB,
                             "headers: value of \"%s\" contains a control "
                             "character",
                             buf);
  }
  return 0;
}

static int
field_headers(struct pacer_job_parse_ctx *cx, const cJSON *item,
              struct pacer_error *err)
{
  struct pacer_job *job = cx->job;
  const cJSON *h;
  size_t total = 0;
  int count;
  int rc;

  if (!cJSON_IsObject(item))
    return pacer_error_set(err, PACER_EJOB, "headers: must be an object");
  count = cJSON_GetArraySize(item);
  if (count > PACER_JOB_MAX_HEADERS)
    return pacer_error_set(err, PACER_EJOB, "headers: more than %d headers",
                           PACER_JOB_MAX_HEADERS);
  if (count == 0)
    return 0;
  job->headers = calloc((size_t)count, sizeof(*job->headers));
  if (job->headers == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  cJSON_ArrayForEach(h, item)
  {
    struct pacer_job_header *jh = &job->headers[job->nheaders];

    if ((rc = check_header(job, h->string, h, err)) != 0)
      return rc;
    total += strlen(h->string) + strlen(h->valuestring);
    if (total > PACER_JOB_HEADERS_MAX_BYTES)
      return pacer_error_set(err, PACER_EJOB,
                             "headers: more than %u bytes of names and "
                             "values in all",
                             PACER_JOB_HEADERS_MAX_BYTES);
    jh->name = strdup(h->string);
    jh->value = strdup(h->valuestring);
    if (jh->name == NULL || jh->value == NULL) {
      free(jh->name);
      free(jh->value);
      jh->name = jh->value = NULL;
      return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
    }
    job->nheaders++;
  }
  return 0;
}

static int
field_body(struct pacer_job_parse_ctx *cx, const cJSON *item,
           struct pacer_error *err)
{
  struct pacer_job *job = cx->job;

  if (cJSON_IsNull(item))
    return 0;
  if (cJSON_IsString(item)) {
    job->body_len = strlen(item->valuestring);
    job->body = pacer_job_dup_bytes(item->valuestring, job->body_len);
  } else if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
    const struct pacer_job_span *v = &cx->sc->body;

    assert(cx->sc->have_body);
    job->body = minify(cx->text + v->start, v->end - v->start, &job->body_len);
    job->body_is_json = 1;
  } else {
    return pacer_error_set(err, PACER_EJOB,
                           "body: must be an object, array, string or null");
  }
  if (job->body == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  return 0;
}

static int
field_timeout_ms(struct pacer_job_parse_ctx *cx, const cJSON *item,
                 struct pacer_error *err)
{
  int64_t v = 0;
  int rc;

  rc = get_int(item, "timeout_ms", 1, PACER_JOB_TIMEOUT_MAX_MS, &v, err);
  if (rc == 0)
    cx->job->timeout_ms = (uint32_t)v;
  return rc;
}

static int
field_max_attempts(struct pacer_job_parse_ctx *cx, const cJSON *item,
                   struct pacer_error *err)
{
  int64_t v = 0;
  int rc;

  rc = get_int(item, "max_attempts", 1, PACER_JOB_MAX_ATTEMPTS_LIMIT, &v, err);
  if (rc == 0)
    cx->job->max_attempts = (uint32_t)v;
  return rc;
}

static int
field_not_before(struct pacer_job_parse_ctx *cx, const cJSON *item,
                 struct pacer_error *err)
{
  int64_t v = 0;
  int rc;

  /* 2^53: the largest integer every JSON implementation reads exactly */
  rc = get_int(item, "not_before", 0, (int64_t)NOT_BEFORE_MAX_UNIX_MS, &v, err);
  if (rc == 0)
    cx->job->not_before_unix_ms = (uint64_t)v;
  return rc;
}

/* "deadline_ms": relative (below PACER_JOB_DEADLINE_ABS_MIN_MS, from the
 * first enqueue) or an absolute unix time in ms (docs/LIMITS.md
 * "Deadlines"). */
static int
field_deadline(struct pacer_job_parse_ctx *cx, const cJSON *item,
               struct pacer_error *err)
{
  int64_t v = 0;
  int rc;

  rc =
      get_int(item, "deadline_ms", 1, (int64_t)NOT_BEFORE_MAX_UNIX_MS, &v, err);
  if (rc == 0)
    cx->job->deadline_ms = (uint64_t)v;
  return rc;
}

static int
get_name(const cJSON *item, const char *field, char **out,
         struct pacer_error *err)
{
  size_t i, n;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_EJOB, "%s: must be a string", field);
  n = strlen(item->valuestring);
  if (n == 0 || n > PACER_JOB_NAME_MAX)
    return pacer_error_set(err, PACER_EJOB, "%s: must be 1 to %d bytes", field,
                           PACER_JOB_NAME_MAX);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)item->valuestring[i];

    if (c < 0x20 || c == 0x7f)
      return pacer_error_set(err, PACER_EJOB,
                             "%s: must not contain control characters", field);
  }
  *out = strdup(item->valuestring);
  if (*out == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  return 0;
}

static int
field_limit_key(struct pacer_job_parse_ctx *cx, const cJSON *item,
                struct pacer_error *err)
{
  return get_name(item, "limit_key", &cx->job->limit_key, err);
}

static int
field_credential(struct pacer_job_parse_ctx *cx, const cJSON *item,
                 struct pacer_error *err)
{
  return get_name(item, "credential", &cx->job->credential, err);
}

static int
field_meta(struct pacer_job_parse_ctx *cx, const cJSON *item,
           struct pacer_error *err)
{
  const struct pacer_job_span *v = &cx->sc->meta;
  size_t n = 0;

  if (cJSON_IsNull(item))
    return 0; /* same as absent: nothing to echo */
  assert(cx->sc->have_meta);
  cx->job->meta_json = minify(cx->text + v->start, v->end - v->start, &n);
  if (cx->job->meta_json == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  if (n > PACER_JOB_META_MAX_BYTES)
    return pacer_error_set(err, PACER_EJOB,
                           "meta: %zu bytes exceeds the %u-byte limit", n,
                           PACER_JOB_META_MAX_BYTES);
  return 0;
}

static int
field_priority(struct pacer_job_parse_ctx *cx, const cJSON *item,
               struct pacer_error *err)
{
  static const char *const names[] = {"high", "normal", "low"};
  int i;

  if (!cJSON_IsString(item) || item->valuestring == NULL)
    return pacer_error_set(err, PACER_EJOB,
                           "priority: must be \"high\", \"normal\" or "
                           "\"low\"");
  for (i = 0; i < 3; i++) {
    if (strcmp(item->valuestring, names[i]) == 0) {
      cx->job->priority = (enum pacer_priority)i;
      return 0;
    }
  }
  return pacer_error_set(err, PACER_EJOB,
                         "priority: must be \"high\", \"normal\" or \"low\"");
}

static int
field_retry_unsafe(struct pacer_job_parse_ctx *cx, const cJSON *item,
                   struct pacer_error *err)
{
  if (!cJSON_IsBool(item))
    return pacer_error_set(err, PACER_EJOB,
                           "retry_unsafe: must be true or false");
  cx->job->retry_unsafe = cJSON_IsTrue(item);
  return 0;
}

static int
field_http_version(struct pacer_job_parse_ctx *cx, const cJSON *item,
                   struct pacer_error *err)
{
  static const char *const names[] = {"1.1", "2", "2-prior-knowledge"};
  int i;

  for (i = 0; cJSON_IsString(item) && item->valuestring != NULL && i < 3; i++) {
    if (strcmp(item->valuestring, names[i]) == 0) {
      cx->job->http_version = (enum pacer_job_http)(PACER_JOB_HTTP_1_1 + i);
      return 0;
    }
  }
  return pacer_error_set(err, PACER_EJOB,
                         "http_version: must be \"1.1\", \"2\" or "
                         "\"2-prior-knowledge\"");
}

struct field {
  const char *name;
  int (*check)(struct pacer_job_parse_ctx *cx, const cJSON *item,
               struct pacer_error *err);
};

static const struct field fields[] = {
    {"id", field_id},
    {"method", field_method},
    {"url", field_url},
    {"headers", field_headers},
    {"body", field_body},
    {"timeout_ms", field_timeout_ms},
    {"max_attempts", field_max_attempts},
    {"not_before", field_not_before},
    {"deadline_ms", field_deadline},
    {"limit_key", field_limit_key},
    {"credential", field_credential},
    {"meta", field_meta},
    {"priority", field_priority},
    {"retry_unsafe", field_retry_unsafe},
    {"http_version", field_http_version},
    {"paginate", pacer_job_field_paginate},
    {"parent", pacer_job_field_parent},
    {"page", pacer_job_field_page},
    {"chain", pacer_job_field_chain},
    {"poll", pacer_job_field_poll},
    {"poll_phase", pacer_job_field_poll_phase},
    {"poll_since", pacer_job_field_poll_since},
};

int
pacer_job_parse_fields(struct pacer_job_parse_ctx *cx, const cJSON *root,
                       const char *default_id, struct pacer_error *err)
{
  char buf[PACER_JOB_SHOW_MAX + 8];
  const cJSON *item, *prev;
  size_t i;
  int rc;

  cJSON_ArrayForEach(item, root)
  {
    const char *name = item->string;
    const struct field *f = NULL;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
      if (strcmp(fields[i].name, name) == 0) {
        f = &fields[i];
        break;
      }
    }
    if (f == NULL) {
      if (name[0] == '\0')
        return pacer_error_set(err, PACER_EJOB, "\"\": unknown field");
      return pacer_error_set(
          err, PACER_EJOB, "%s: unknown field",
          pacer_job_show(name, strlen(name), buf, sizeof(buf)));
    }
    /* RFC 8259 §4 leaves duplicates to the parser; cJSON keeps both, so
     * refuse them rather than guess which one the sender meant. */
    for (prev = root->child; prev != item; prev = prev->next) {
      if (strcmp(prev->string, name) == 0)
        return pacer_error_set(err, PACER_EJOB, "%s: duplicate field", name);
    }
    if ((rc = f->check(cx, item, err)) != 0)
      return rc;
  }
  if (!cx->have_url)
    return pacer_error_set(err, PACER_EJOB, "url: required field is missing");
  if (!cx->have_id) {
    if (default_id == NULL)
      return pacer_error_set(err, PACER_EJOB,
                             "id: required when no default id is given");
    if ((rc = pacer_job_id_check(default_id, err)) != 0)
      return rc;
    cx->job->id = strdup(default_id);
    if (cx->job->id == NULL)
      return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  }
  /* RFC 9110 §9.3.2: a HEAD response has no content, and a HEAD request
   * with content is refused by many servers. */
  if (cx->job->method == PACER_METHOD_HEAD && cx->job->body != NULL)
    return pacer_error_set(err, PACER_EJOB, "body: not allowed with HEAD");
  return pacer_job_chain_check(cx, err);
}
