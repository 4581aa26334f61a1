/* Config error positions and field name suggestions: see
 * config_locate.h. The scanner only skips over JSON that cJSON already
 * accepted (or finds the byte of an error cJSON reported), so it never
 * validates. */
#include "core/config_locate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_PARTS 8
#define PART_MAX       128

/* One step of an error's path: a member name or an array index. */
struct part {
  char key[PART_MAX];
  long index; /* >= 0: an array index; -1: a member name */
};

struct scan {
  const char *p, *end;
  const struct part *path;
  size_t nparts;
  int want;          /* matches of the full path to skip + 1 */
  const char *found; /* the key (or element) found, NULL until found */
};

static void
ws(struct scan *s)
{
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

/* Skips a string at s->p ('"'); sets *b and *n to its raw contents. */
static void
str(struct scan *s, const char **b, size_t *n)
{
  const char *start = ++s->p;

  while (s->p < s->end && *s->p != '"')
    s->p += *s->p == '\\' && s->p + 1 < s->end ? 2 : 1;
  *b = start;
  *n = (size_t)(s->p - start);
  if (s->p < s->end)
    s->p++;
}

static void value(struct scan *s, size_t depth, int on_path);

/* An object or array at s->p; on_path: its depth of the path matched so
 * far, so members at path[depth] are looked for. */
static void
container(struct scan *s, size_t depth, int on_path)
{
  int obj = *s->p == '{';
  char close = obj ? '}' : ']';
  long index = 0;

  s->p++;
  for (;;) {
    const char *at, *k = NULL, *before = s->p;
    size_t kn = 0;
    int match = 0;

    ws(s);
    if (s->p >= s->end || *s->p == close) {
      s->p += s->p < s->end;
      return;
    }
    at = s->p;
    if (obj) {
      if (*s->p != '"')
        return;
      str(s, &k, &kn);
      ws(s);
      if (s->p < s->end && *s->p == ':')
        s->p++;
      ws(s);
    }
    if (on_path && depth < s->nparts) {
      const struct part *pt = &s->path[depth];

      match = obj ? pt->index < 0 && kn == strlen(pt->key) &&
                        memcmp(k, pt->key, kn) == 0
                  : pt->index == index;
    }
    if (match && depth + 1 == s->nparts && s->found == NULL && --s->want == 0)
      s->found = at;
    value(s, depth + 1, match);
    if (s->found != NULL)
      return;
    index++;
    ws(s);
    if (s->p < s->end && *s->p == ',')
      s->p++;
    else if (s->p == before || (s->p < s->end && *s->p != close))
      return; /* not JSON cJSON accepted: stop rather than loop */
  }
}

static void
value(struct scan *s, size_t depth, int on_path)
{
  const char *b;
  size_t n;

  ws(s);
  if (s->p >= s->end || s->found != NULL)
    return;
  if (*s->p == '{' || *s->p == '[') {
    if (depth > 1000) /* deeper than cJSON parses */
      return;
    container(s, depth, on_path);
  } else if (*s->p == '"') {
    str(s, &b, &n);
  } else {
    while (s->p < s->end && strchr(",]} \t\r\n", *s->p) == NULL)
      s->p++;
  }
}

/* Splits the path at the start of msg (up to ": ") into parts. Returns
 * the number of parts, 0 when msg names none. */
static size_t
split(const char *msg, struct part *parts)
{
  const char *end = strstr(msg, ": "), *p = msg;
  size_t n = 0;

  if (end == NULL || end == msg)
    return 0;
  while (p < end && n < PATH_MAX_PARTS) {
    size_t k = 0;

    if (*p == '[') {
      parts[n].key[0] = '\0';
      parts[n].index = strtol(p + 1, NULL, 10);
      p = memchr(p, ']', (size_t)(end - p));
      if (p == NULL)
        return 0;
      p++;
    } else {
      while (p < end && *p != '.' && *p != '[' && k + 1 < PART_MAX)
        parts[n].key[k++] = *p++;
      parts[n].key[k] = '\0';
      parts[n].index = -1;
    }
    n++;
    if (p < end && *p == '.')
      p++;
  }
  return p == end ? n : 0;
}

static void
line_col(const char *json, const char *at, unsigned *line, unsigned *col)
{
  const char *p;

  *line = 1;
  *col = 1;
  for (p = json; p < at; p++) {
    if (*p == '\n') {
      (*line)++;
      *col = 1;
    } else if (((unsigned char)*p & 0xc0) != 0x80) {
      (*col)++;
    }
  }
}

int
pacer_config_locate(const char *json, size_t len, const char *msg,
                    unsigned *line, unsigned *col)
{
  static const char bad[] = "config: invalid JSON at byte ";
  struct part parts[PATH_MAX_PARTS];
  struct scan s;

  *line = 0;
  *col = 0;
  if (json == NULL)
    return 0;
  if (strncmp(msg, bad, sizeof(bad) - 1) == 0) {
    size_t at = (size_t)strtoull(msg + sizeof(bad) - 1, NULL, 10);

    line_col(json, json + (at < len ? at : len), line, col);
    return 1;
  }
  memset(&s, 0, sizeof(s));
  s.nparts = split(msg, parts);
  if (s.nparts == 0 || strncmp(msg, "config: ", 8) == 0)
    return 0;
  s.p = json;
  s.end = json + len;
  s.path = parts;
  s.want = strstr(msg, ": duplicate field") != NULL ? 2 : 1;
  ws(&s);
  if (s.p < s.end && *s.p == '{')
    container(&s, 0, 1);
  if (s.found == NULL)
    return 0;
  line_col(json, s.found, line, col);
  return 1;
}

/* Optimal string alignment distance of a and b, stopping above max. */
static size_t
distance(const char *a, const char *b, size_t max)
{
  size_t la = strlen(a), lb = strlen(b), i, j, r;
  size_t *d;

  if (la > 64 || lb > 64)
    return max + 1;
  if ((la > lb ? la - lb : lb - la) > max)
    return max + 1;
  d = malloc((la + 1) * (lb + 1) * sizeof(*d));
  if (d == NULL)
    return max + 1;
#define D(x, y) d[(x) * (lb + 1) + (y)]
  for (i = 0; i <= la; i++)
    D(i, 0) = i;
  for (j = 0; j <= lb; j++)
    D(0, j) = j;
  for (i = 1; i <= la; i++) {
    for (j = 1; j <= lb; j++) {
      size_t cost = a[i - 1] != b[j - 1], v = D(i - 1, j) + 1;

      if (D(i, j - 1) + 1 < v)
        v = D(i, j - 1) + 1;
      if (D(i - 1, j - 1) + cost < v)
        v = D(i - 1, j - 1) + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          D(i - 2, j - 2) + 1 < v)
        v = D(i - 2, j - 2) + 1;
      D(i, j) = v;
    }
  }
  r = D(la, lb);
#undef D
  free(d);
  return r;
}

const char *
pacer_config_did_you_mean(const char *name, const void *table, size_t n,
                          size_t stride, char *buf, size_t size)
{
  size_t len = strlen(name), max = len <= 4 ? 1 : 2, best = SIZE_MAX, i;
  const char *pick = NULL;

  if (size > 0)
    buf[0] = '\0';
  if (max * 2 >= len)
    max = len > 1 ? (len - 1) / 2 : 0;
  for (i = 0; i < n && max > 0; i++) {
    const char *cand =
        *(const char *const *)(const void *)((const char *)table + i * stride);
    size_t d = distance(name, cand, max);

    if (d <= max && d < best) {
      best = d;
      pick = cand;
    }
  }
  if (pick != NULL && size > 0)
    snprintf(buf, size, "; did you mean \"%s\"?", pick);
  return buf;
}
