/* The delayed-set member format: see delayed.h. */
#include "store/delayed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* Joins head[0..hl) and tail[0..tl) into an owned, NUL-terminated text. */
static int
join(const char *head, size_t hl, const char *tail, size_t tl, char **out,
     size_t *out_len)
{
  char *m = malloc(hl + tl + 1);

  if (m == NULL)
    return PACER_ENOMEM;
  memcpy(m, head, hl);
  if (tl > 0)
    memcpy(m + hl, tail, tl);
  m[hl + tl] = '\0';
  *out = m;
  *out_len = hl + tl;
  return 0;
}

int
pacer_delayed_member_new(const char *id, unsigned attempt, unsigned throttled,
                         const char *tag, const char *job, size_t job_len,
                         char **out, size_t *out_len)
{
  size_t il = strlen(id), hl = il + 32;
  char *head;
  int n, rc;

  if (memchr(id, '\n', il) != NULL)
    return PACER_EINVAL;
  if (tag == NULL)
    tag = "";
  head = malloc(hl);
  if (head == NULL)
    return PACER_ENOMEM;
  if (throttled > PACER_DELAYED_THROTTLED_MAX)
    throttled = PACER_DELAYED_THROTTLED_MAX;
  n = throttled > 0 ? snprintf(head, hl, "%s\n%u.%u\n%s%s", id, attempt,
                               throttled, tag, tag[0] != '\0' ? "\n" : "")
                    : snprintf(head, hl, "%s\n%u\n%s%s", id, attempt, tag,
                               tag[0] != '\0' ? "\n" : "");
  if (n < 0 || (size_t)n >= hl) {
    free(head);
    return PACER_EINVAL;
  }
  rc = join(head, (size_t)n, job, job_len, out, out_len);
  free(head);
  return rc;
}

int
pacer_delayed_member_parse(const char *m, size_t len,
                           struct pacer_delayed_member *out)
{
  const char *a = memchr(m, '\n', len), *b;
  size_t rest;

  if (a == NULL)
    return PACER_EINVAL;
  b = memchr(a + 1, '\n', len - (size_t)(a + 1 - m));
  if (b == NULL)
    return PACER_EINVAL;
  out->id = m;
  out->id_len = (size_t)(a - m);
  out->attempt = a + 1;
  out->attempt_len = (size_t)(b - a - 1);
  out->tag = 0;
  out->job = b + 1;
  rest = len - (size_t)(b + 1 - m);
  /* As queue_promote.lua: a tag is "h\n" or "l\n" right after <attempt>. */
  if (rest >= 2 && (b[1] == 'h' || b[1] == 'l') && b[2] == '\n') {
    out->tag = b[1];
    out->job = b + 3;
    rest -= 2;
  }
  out->job_len = rest;
  return 0;
}

int
pacer_delayed_member_retag(const char *m, size_t len, const char *tag,
                           char **out, size_t *out_len)
{
  const char *a, *b;
  size_t hl, tl;
  char *r;

  a = memchr(m, '\n', len);
  b = a != NULL ? memchr(a + 1, '\n', len - (size_t)(a + 1 - m)) : NULL;
  if (tag == NULL || tag[0] == '\0' || b == NULL)
    return join(m, len, NULL, 0, out, out_len);
  /* "<id>\n<attempt>\n" + "<tag>\n" + the rest, as the defer script did. */
  hl = (size_t)(b + 1 - m);
  tl = strlen(tag);
  r = malloc(len + tl + 2);
  if (r == NULL)
    return PACER_ENOMEM;
  memcpy(r, m, hl);
  memcpy(r + hl, tag, tl);
  r[hl + tl] = '\n';
  memcpy(r + hl + tl + 1, m + hl, len - hl);
  r[len + tl + 1] = '\0';
  *out = r;
  *out_len = len + tl + 1;
  return 0;
}
