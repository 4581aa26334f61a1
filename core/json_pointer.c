/* JSON Pointer evaluation (core/json_pointer.h). */
#include "core/json_pointer.h"

#include <string.h>

int
pacer_json_pointer_check(const char *p, const char *field,
                         struct pacer_error *err)
{
  size_t i, n = strlen(p);

  if (n > PACER_JSON_POINTER_MAX)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: a JSON pointer of %zu bytes is longer than %d",
                           field, n, PACER_JSON_POINTER_MAX);
  /* RFC 6901 §3: json-pointer = *( "/" reference-token ) */
  if (n > 0 && p[0] != '/')
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: a JSON pointer (RFC 6901) starts with \"/\", "
                           "e.g. \"/error/code\"",
                           field);
  for (i = 0; i < n; i++) {
    if ((unsigned char)p[i] < 0x20)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s: control byte in a JSON pointer", field);
    if (p[i] == '~' && p[i + 1] != '0' && p[i + 1] != '1')
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s: \"~\" in a JSON pointer must be \"~0\" "
                             "(a ~) or \"~1\" (a /) (RFC 6901 section 3)",
                             field);
  }
  return 0;
}

/* The token starting at p (after a "/"), unescaped into buf; *next gets
 * the rest ("" or "/..."). */
static const char *
token(const char *p, char *buf, size_t size, const char **next)
{
  size_t o = 0;

  for (; *p != '\0' && *p != '/'; p++) {
    char c = *p;

    if (c == '~') { /* RFC 6901 §4: ~1 then ~0 */
      c = p[1] == '1' ? '/' : '~';
      p++;
    }
    if (o + 1 < size)
      buf[o++] = c;
  }
  buf[o] = '\0';
  *next = p;
  return buf;
}

/* RFC 6901 §4: an array index is "0" or digits without a leading zero. */
static int
index_of(const char *t, int *out)
{
  long v = 0;
  size_t i;

  if (t[0] == '\0' || (t[0] == '0' && t[1] != '\0'))
    return -1;
  for (i = 0; t[i] != '\0'; i++) {
    if (t[i] < '0' || t[i] > '9' || v > 100000000)
      return -1;
    v = v * 10 + (t[i] - '0');
  }
  *out = (int)v;
  return 0;
}

struct walk {
  int (*visit)(const cJSON *v, void *arg);
  void *arg;
  size_t n;
  int stop;
};

static void
walk(const cJSON *v, const char *p, struct walk *w)
{
  char tok[PACER_JSON_POINTER_MAX + 1];
  const char *next;
  const cJSON *c;
  int idx;

  if (v == NULL || w->stop)
    return;
  if (*p == '\0') {
    w->n++;
    if (w->visit(v, w->arg) != 0)
      w->stop = 1;
    return;
  }
  token(p + 1, tok, sizeof(tok), &next);
  if (strcmp(tok, "*") == 0 && (cJSON_IsObject(v) || cJSON_IsArray(v))) {
    cJSON_ArrayForEach(c, v) walk(c, next, w);
    return;
  }
  if (cJSON_IsObject(v)) {
    /* exact, case-sensitive member names (RFC 6901 §4) */
    cJSON_ArrayForEach(c, v)
    {
      if (c->string != NULL && strcmp(c->string, tok) == 0) {
        walk(c, next, w);
        return;
      }
    }
  } else if (cJSON_IsArray(v) && index_of(tok, &idx) == 0) {
    walk(cJSON_GetArrayItem(v, idx), next, w);
  }
}

size_t
pacer_json_pointer_each(const cJSON *root, const char *p,
                        int (*visit)(const cJSON *v, void *arg), void *arg)
{
  struct walk w = {visit, arg, 0, 0};

  walk(root, p, &w);
  return w.n;
}

static int
take_first(const cJSON *v, void *arg)
{
  *(const cJSON **)arg = v;
  return 1; /* stop: the first one */
}

const cJSON *
pacer_json_pointer_get(const cJSON *root, const char *p)
{
  const cJSON *v = NULL;

  (void)pacer_json_pointer_each(root, p, take_first, &v);
  return v;
}
