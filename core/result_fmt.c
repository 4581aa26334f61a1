/* A result entry as a JSON or CSV line: see result_fmt.h. */
#include "core/result_fmt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "common/utf8.h"

/* The CSV columns, in order: the flat fields of a result. */
static const char *const csv_cols[] = {"id",
                                       "state",
                                       "status",
                                       "reason",
                                       "error",
                                       "attempts",
                                       "throttled",
                                       "wait_ms",
                                       "duration_ms",
                                       "finished_unix_ms",
                                       "body_truncated"};
#define NCOLS (sizeof(csv_cols) / sizeof(csv_cols[0]))

/* Fields that are numbers in JSON output. */
static const char *const num_fields[] = {
    "status",           "attempts",       "throttled", "wait_ms", "duration_ms",
    "finished_unix_ms", "failed_unix_ms", "page",      "pages",   "items",
    "requests"};

const char *
pacer_result_csv_header(void)
{
  return "id,state,status,reason,error,attempts,throttled,wait_ms,"
         "duration_ms,finished_unix_ms,body_truncated";
}

/* True when the field name n (len bytes) is exactly name. */
static int
is_field(const char *n, size_t len, const char *name)
{
  return len == strlen(name) && memcmp(n, name, len) == 0;
}

static const struct pacer_result_field *
find(const struct pacer_result_field *f, size_t n, const char *name)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (is_field(f[i].name, f[i].name_len, name))
      return &f[i];
  return NULL;
}

/* Returns a NUL-terminated copy of the len bytes at s that is well-formed
 * UTF-8 without NUL bytes (ill-formed sequences and NULs become U+FFFD: a
 * cJSON string ends at its first NUL). Owned (free); NULL out of memory. */
static char *
clean_text(const char *s, size_t len)
{
  size_t n, i, o = 0, nuls = 0;
  char *clean = pacer_utf8_sanitize(s, len, &n), *text;

  if (clean == NULL)
    return NULL;
  for (i = 0; i < n; i++)
    nuls += clean[i] == '\0';
  if (nuls == 0)
    return clean;
  text = nuls <= (SIZE_MAX - 1 - n) / 2 ? malloc(n + 2 * nuls + 1) : NULL;
  if (text != NULL) {
    for (i = 0; i < n; i++) {
      if (clean[i] == '\0') {
        memcpy(text + o, "\xef\xbf\xbd", 3); /* U+FFFD */
        o += 3;
      } else {
        text[o++] = clean[i];
      }
    }
    text[o] = '\0';
  }
  free(clean);
  return text;
}

int
pacer_result_is_json_type(const char *ct)
{
  size_t len = strcspn(ct, ";");

  while (len > 0 && (ct[len - 1] == ' ' || ct[len - 1] == '\t'))
    len--;
  while (len > 0 && (*ct == ' ' || *ct == '\t'))
    ct++, len--;
  if (len == 16 && strncasecmp(ct, "application/json", 16) == 0)
    return 1;
  /* a structured syntax suffix: type/subtype+json (RFC 6839 §3.1) */
  return len > 5 && memchr(ct, '/', len) != NULL &&
         strncasecmp(ct + len - 5, "+json", 5) == 0;
}

/* True when the entry's headers field says the body is JSON. */
static int
body_is_json(const struct pacer_result_field *f, size_t n)
{
  const struct pacer_result_field *h = find(f, n, "headers");
  const struct pacer_result_field *t = find(f, n, "body_truncated");
  cJSON *doc;
  const cJSON *ct;
  int yes = 0;

  if (h == NULL || (t != NULL && t->value_len == 1 && t->value[0] == '1'))
    return 0;
  doc = cJSON_ParseWithLength(h->value, h->value_len);
  ct = cJSON_GetObjectItemCaseSensitive(doc, "content-type");
  if (cJSON_IsString(ct))
    yes = pacer_result_is_json_type(ct->valuestring);
  cJSON_Delete(doc);
  return yes;
}

/* The JSON value of field k = text (clean UTF-8): a number, boolean,
 * embedded JSON or string as result_fmt.h lists. NULL out of memory. */
static cJSON *
value_of(const char *k, size_t klen, const char *text)
{
  cJSON *item = NULL;
  size_t i;

  if (is_field(k, klen, "headers") || is_field(k, klen, "meta"))
    item = cJSON_ParseWithLength(text, strlen(text));
  else if (is_field(k, klen, "body_truncated") || is_field(k, klen, "summary"))
    item = cJSON_CreateBool(strcmp(text, "1") == 0);
  for (i = 0; item == NULL && i < sizeof(num_fields) / sizeof(*num_fields);
       i++) {
    if (is_field(k, klen, num_fields[i]))
      item = cJSON_CreateNumber(strtod(text, NULL));
  }
  return item != NULL ? item : cJSON_CreateString(text);
}

char *
pacer_result_json(const struct pacer_result_field *f, size_t n)
{
  cJSON *o = cJSON_CreateObject();
  int json_body = body_is_json(f, n);
  char *out;
  size_t i;

  if (o == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    const char *k = f[i].name;
    size_t klen = f[i].name_len;
    cJSON *item = NULL;
    char *name = clean_text(k, klen);
    char *text = clean_text(f[i].value, f[i].value_len);

    if (name == NULL || text == NULL) {
      free(name);
      free(text);
      goto fail;
    }
    if (json_body && is_field(k, klen, "body") &&
        (item = cJSON_ParseWithLength(text, strlen(text))) != NULL) {
      free(name);
      name = strdup("body_json");
    } else {
      item = value_of(k, klen, text);
    }
    free(text);
    if (name == NULL || item == NULL || !cJSON_AddItemToObject(o, name, item)) {
      cJSON_Delete(item);
      free(name);
      goto fail;
    }
    free(name);
  }
  out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return out;
fail:
  cJSON_Delete(o);
  return NULL;
}

/* Appends value (clean UTF-8) to buf at *o as one CSV field. buf holds at
 * least 2 * strlen(value) + 3 bytes past *o. */
static void
csv_field(char *buf, size_t *o, const char *value)
{
  int quote = strpbrk(value, ",\"\r\n") != NULL;
  const char *p;

  if (quote)
    buf[(*o)++] = '"';
  for (p = value; *p != '\0'; p++) {
    if (*p == '"')
      buf[(*o)++] = '"';
    buf[(*o)++] = *p;
  }
  if (quote)
    buf[(*o)++] = '"';
}

char *
pacer_result_csv(const struct pacer_result_field *f, size_t n)
{
  char *vals[NCOLS] = {0}, *row = NULL;
  size_t c, need = 1, o = 0;

  for (c = 0; c < NCOLS; c++) {
    const struct pacer_result_field *v = find(f, n, csv_cols[c]);

    vals[c] = v != NULL ? clean_text(v->value, v->value_len) : strdup("");
    if (vals[c] == NULL)
      goto out;
    if (strcmp(csv_cols[c], "body_truncated") == 0) {
      int yes = strcmp(vals[c], "1") == 0;

      free(vals[c]);
      vals[c] = strdup(v == NULL ? "" : yes ? "true" : "false");
      if (vals[c] == NULL)
        goto out;
    }
    need += 2 * strlen(vals[c]) + 3;
  }
  row = malloc(need);
  if (row == NULL)
    goto out;
  for (c = 0; c < NCOLS; c++) {
    if (c > 0)
      row[o++] = ',';
    csv_field(row, &o, vals[c]);
  }
  row[o] = '\0';
out:
  for (c = 0; c < NCOLS; c++)
    free(vals[c]);
  return row;
}
