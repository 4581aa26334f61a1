/* Scripted replies: tests queue canned answers with POST /admin/script,
 * e.g. "the token endpoint answers 503 once, then behaves", and assert on
 * what the client did next (curl's sws pattern). Entry JSON:
 *
 *   {"path":"/oauth2/access_token", "method":"POST", "status":429,
 *    "times":2, "headers":{"Retry-After":"60"} | [["Retry-After","60"]],
 *    "body":"{...}", "delay_ms":0, "drop":false, "for_ms":0}
 *
 * With for_ms > 0 the entry answers every match for for_ms after its first
 * use (a storm: "everything gets 429 for 0.5 s"), then is dropped; times
 * does not count down then.
 *
 * path is the decoded path without query, matched exactly; method "" or
 * absent matches any method. Runs under api->mu. */
#include "testapi_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HEADERS_MAX  16u      /* headers per entry */
#define BODY_MAX     1048576u /* scripted body bytes */
#define DELAY_MAX_MS 60000u   /* scripted delay cap */
#define TIMES_MAX    1000000u /* uses per entry */
#define FOR_MAX_MS   600000u  /* scripted storm length cap */

struct pacer_testapi_script {
  struct pacer_testapi_script *next;
  char method[16]; /* "" = any */
  char path[256];  /* exact decoded path */
  unsigned int status;
  uint32_t times; /* uses left */
  uint32_t delay_ms;
  uint32_t for_ms;   /* answer every match this long after first use */
  uint64_t first_ms; /* first use, monotonic ms, 0 = unused */
  int drop;
  char *body; /* owned, NUL-terminated */
  size_t body_len;
  unsigned int nheaders;
  char *hname[HEADERS_MAX];  /* owned */
  char *hvalue[HEADERS_MAX]; /* owned */
};

static void
script_free(struct pacer_testapi_script *s)
{
  unsigned int i;

  if (s == NULL)
    return;
  for (i = 0; i < s->nheaders; i++) {
    free(s->hname[i]);
    free(s->hvalue[i]);
  }
  free(s->body);
  free(s);
}

static char *
dup_str(const char *s)
{
  size_t n = strlen(s);
  char *d = malloc(n + 1);

  if (d != NULL)
    memcpy(d, s, n + 1);
  return d;
}

static int
header_name_ok(const char *s)
{
  /* RFC 9110 §5.1: field-name is a token. */
  static const char extra[] = "!#$%&'*+-.^_`|~";

  if (*s == '\0')
    return 0;
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;

    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || strchr(extra, c) != NULL))
      return 0;
  }
  return 1;
}

static int
header_value_ok(const char *s)
{
  return strpbrk(s, "\r\n") == NULL;
}

static int
add_header(struct pacer_testapi_script *s, const char *name, const char *value,
           char *err, size_t err_len)
{
  if (s->nheaders >= HEADERS_MAX) {
    snprintf(err, err_len, "headers: more than %u", HEADERS_MAX);
    return -1;
  }
  if (!header_name_ok(name) || !header_value_ok(value)) {
    snprintf(err, err_len, "headers: invalid name or value for \"%.64s\"",
             name);
    return -1;
  }
  s->hname[s->nheaders] = dup_str(name);
  s->hvalue[s->nheaders] = dup_str(value);
  if (s->hname[s->nheaders] == NULL || s->hvalue[s->nheaders] == NULL) {
    free(s->hname[s->nheaders]);
    free(s->hvalue[s->nheaders]);
    snprintf(err, err_len, "headers: out of memory");
    return -1;
  }
  s->nheaders++;
  return 0;
}

static int
parse_headers(struct pacer_testapi_script *s, const cJSON *h, char *err,
              size_t err_len)
{
  const cJSON *it;

  if (cJSON_IsObject(h)) {
    cJSON_ArrayForEach(it, h)
    {
      if (!cJSON_IsString(it)) {
        snprintf(err, err_len, "headers: value of \"%.64s\" is not a string",
                 it->string);
        return -1;
      }
      if (add_header(s, it->string, it->valuestring, err, err_len) != 0)
        return -1;
    }
    return 0;
  }
  if (cJSON_IsArray(h)) {
    cJSON_ArrayForEach(it, h)
    {
      const cJSON *n = cJSON_GetArrayItem(it, 0);
      const cJSON *v = cJSON_GetArrayItem(it, 1);

      if (!cJSON_IsArray(it) || !cJSON_IsString(n) || !cJSON_IsString(v)) {
        snprintf(err, err_len, "headers: use [[\"Name\",\"value\"], ...]");
        return -1;
      }
      if (add_header(s, n->valuestring, v->valuestring, err, err_len) != 0)
        return -1;
    }
    return 0;
  }
  snprintf(err, err_len, "headers: expected an object or an array of pairs");
  return -1;
}

static int
get_uint(const cJSON *obj, const char *name, uint32_t dflt, uint32_t lo,
         uint32_t hi, uint32_t *out, char *err, size_t err_len)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

  if (v == NULL) {
    *out = dflt;
    return 0;
  }
  if (!cJSON_IsNumber(v) || v->valuedouble < (double)lo ||
      v->valuedouble > (double)hi) {
    snprintf(err, err_len, "%s: expected an integer in %u..%u", name, lo, hi);
    return -1;
  }
  *out = (uint32_t)v->valuedouble;
  return 0;
}

static struct pacer_testapi_script *
parse_entry(const cJSON *e, char *err, size_t err_len)
{
  struct pacer_testapi_script *s;
  const cJSON *v;
  uint32_t status;

  if (!cJSON_IsObject(e)) {
    snprintf(err, err_len, "entry: expected an object");
    return NULL;
  }
  s = calloc(1, sizeof(*s));
  if (s == NULL) {
    snprintf(err, err_len, "entry: out of memory");
    return NULL;
  }
  v = cJSON_GetObjectItemCaseSensitive(e, "path");
  if (!cJSON_IsString(v) || v->valuestring[0] != '/' ||
      strlen(v->valuestring) >= sizeof(s->path)) {
    snprintf(err, err_len, "path: expected \"/...\" shorter than %zu bytes",
             sizeof(s->path));
    goto fail;
  }
  snprintf(s->path, sizeof(s->path), "%s", v->valuestring);
  v = cJSON_GetObjectItemCaseSensitive(e, "method");
  if (v != NULL) {
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof(s->method)) {
      snprintf(err, err_len, "method: expected a short string");
      goto fail;
    }
    snprintf(s->method, sizeof(s->method), "%s", v->valuestring);
  }
  if (get_uint(e, "status", 200, 200, 599, &status, err, err_len) != 0 ||
      get_uint(e, "times", 1, 1, TIMES_MAX, &s->times, err, err_len) != 0 ||
      get_uint(e, "delay_ms", 0, 0, DELAY_MAX_MS, &s->delay_ms, err, err_len) !=
          0 ||
      get_uint(e, "for_ms", 0, 0, FOR_MAX_MS, &s->for_ms, err, err_len) != 0)
    goto fail;
  s->status = status;
  v = cJSON_GetObjectItemCaseSensitive(e, "drop");
  if (v != NULL && !cJSON_IsBool(v)) {
    snprintf(err, err_len, "drop: expected true or false");
    goto fail;
  }
  s->drop = cJSON_IsTrue(v);
  v = cJSON_GetObjectItemCaseSensitive(e, "body");
  if (v != NULL) {
    if (!cJSON_IsString(v) || strlen(v->valuestring) > BODY_MAX) {
      snprintf(err, err_len, "body: expected a string of at most %u bytes",
               BODY_MAX);
      goto fail;
    }
    s->body = dup_str(v->valuestring);
    if (s->body == NULL) {
      snprintf(err, err_len, "body: out of memory");
      goto fail;
    }
    s->body_len = strlen(s->body);
  }
  v = cJSON_GetObjectItemCaseSensitive(e, "headers");
  if (v != NULL && parse_headers(s, v, err, err_len) != 0)
    goto fail;
  return s;
fail:
  script_free(s);
  return NULL;
}

int
pacer_testapi_scripts_add(struct pacer_testapi_scripts *q, const cJSON *doc,
                          char *err, size_t err_len)
{
  struct pacer_testapi_script *first = NULL;
  struct pacer_testapi_script *last = NULL;
  struct pacer_testapi_script *s;
  const cJSON *e;
  uint32_t n = 0;

  if (cJSON_IsObject(doc)) {
    first = last = parse_entry(doc, err, err_len);
    if (first == NULL)
      return -1;
    n = 1;
  } else if (cJSON_IsArray(doc)) {
    cJSON_ArrayForEach(e, doc)
    {
      s = parse_entry(e, err, err_len);
      if (s == NULL)
        goto fail;
      if (last != NULL)
        last->next = s;
      else
        first = s;
      last = s;
      n++;
    }
  } else {
    snprintf(err, err_len, "script: expected an object or an array");
    return -1;
  }
  if (q->count + n > PACER_TESTAPI_SCRIPTS_MAX) {
    snprintf(err, err_len, "script: more than %u entries queued",
             PACER_TESTAPI_SCRIPTS_MAX);
    goto fail;
  }
  if (first == NULL)
    return 0;
  if (q->tail != NULL)
    q->tail->next = first;
  else
    q->head = first;
  q->tail = last;
  q->count += n;
  return (int)n;
fail:
  while (first != NULL) {
    s = first->next;
    script_free(first);
    first = s;
  }
  return -1;
}

static struct MHD_Response *
build_response(const struct pacer_testapi_script *s)
{
  struct MHD_Response *r;
  unsigned int i;
  int has_type = 0;

  r = MHD_create_response_from_buffer(s->body_len, s->body,
                                      MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return NULL;
  for (i = 0; i < s->nheaders; i++) {
    if (strcasecmp(s->hname[i], "Content-Type") == 0)
      has_type = 1;
    if (MHD_add_response_header(r, s->hname[i], s->hvalue[i]) != MHD_YES)
      goto fail;
  }
  if (!has_type && s->body_len > 0 &&
      MHD_add_response_header(r, "Content-Type", "application/json") != MHD_YES)
    goto fail;
  return r;
fail:
  MHD_destroy_response(r);
  return NULL;
}

/* Removes and frees s, which follows prev (NULL: s is the head). */
static void
script_unlink(struct pacer_testapi_scripts *q,
              struct pacer_testapi_script *prev, struct pacer_testapi_script *s)
{
  if (prev != NULL)
    prev->next = s->next;
  else
    q->head = s->next;
  if (q->tail == s)
    q->tail = prev;
  q->count--;
  script_free(s);
}

int
pacer_testapi_scripts_match(struct pacer_testapi_scripts *q, const char *method,
                            const char *path,
                            struct pacer_testapi_script_hit *hit)
{
  struct pacer_testapi_script *prev = NULL;
  struct pacer_testapi_script *s, *next;
  struct timespec ts;
  uint64_t now;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1u;
  for (s = q->head; s != NULL; s = next) {
    next = s->next;
    if (s->for_ms > 0 && s->first_ms != 0 && now >= s->first_ms + s->for_ms) {
      script_unlink(q, prev, s); /* its storm is over */
      continue;
    }
    if (strcmp(s->path, path) != 0 ||
        (s->method[0] != '\0' && strcmp(s->method, method) != 0)) {
      prev = s;
      continue;
    }
    hit->status = s->status;
    hit->delay_ms = s->delay_ms;
    hit->drop = s->drop;
    hit->resp = s->drop ? NULL : build_response(s);
    if (s->first_ms == 0)
      s->first_ms = now;
    if (s->for_ms == 0 && --s->times == 0)
      script_unlink(q, prev, s);
    return 1;
  }
  return 0;
}

void
pacer_testapi_scripts_clear(struct pacer_testapi_scripts *q)
{
  struct pacer_testapi_script *s;

  while (q->head != NULL) {
    s = q->head->next;
    script_free(q->head);
    q->head = s;
  }
  q->tail = NULL;
  q->count = 0;
}
