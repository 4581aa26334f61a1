/* Secret scrubbing of response text (core/scrub.h): an upstream that
 * echoes the request back must not carry a token or a secret header into
 * a result or a dead letter. */
#include "core/scrub.h"

#include <stdlib.h>
#include <string.h>

/* memmem without _GNU_SOURCE: the first needle[0..nl) in hay[0..hl). */
static const char *
find_bytes(const char *hay, size_t hl, const char *needle, size_t nl)
{
  while (nl > 0 && hl >= nl) {
    const char *p = memchr(hay, needle[0], hl - nl + 1);

    if (p == NULL)
      return NULL;
    if (memcmp(p, needle, nl) == 0)
      return p;
    hl -= (size_t)(p - hay) + 1;
    hay = p + 1;
  }
  return NULL;
}

/* Returns a copy of text[0..len) with every occurrence of secret replaced
 * by "[redacted]" (owned, *out_len set), or NULL when secret does not occur
 * (or memory ran out: the caller then drops the text). */
char *
pacer_scrub_secret(const char *text, size_t len, const char *secret,
                   size_t *out_len, int *failed)
{
  static const char mark[] = "[redacted]";
  size_t slen = strlen(secret), n = 0, cap, used = 0;
  const char *p = text, *hit;
  char *out;

  *failed = 0;
  if (slen == 0)
    return NULL;
  while ((hit = find_bytes(p, len - (size_t)(p - text), secret, slen)) !=
         NULL) {
    n++;
    p = hit + slen;
  }
  if (n == 0)
    return NULL;
  cap = len + n * sizeof(mark) + 1;
  out = malloc(cap);
  if (out == NULL) {
    *failed = 1;
    return NULL;
  }
  p = text;
  while ((hit = find_bytes(p, len - (size_t)(p - text), secret, slen)) !=
         NULL) {
    memcpy(out + used, p, (size_t)(hit - p));
    used += (size_t)(hit - p);
    memcpy(out + used, mark, sizeof(mark) - 1);
    used += sizeof(mark) - 1;
    p = hit + slen;
  }
  memcpy(out + used, p, len - (size_t)(p - text));
  used += len - (size_t)(p - text);
  out[used] = '\0';
  *out_len = used;
  return out;
}

/* Scrubs every secret the job carries itself (pacer_job_secrets: secret
 * header credentials, the URL password in each form libcurl sends it) from
 * *body and *headers_json, as finish_state does for a credential's token
 * (README.md "Result entry"). *sbody and *sheaders own the scrubbed copies; out
 * of memory drops the text rather than keep a secret. */
void
pacer_scrub_job_secrets(const struct pacer_job *job, const char **body,
                        size_t *body_len, char **sbody,
                        const char **headers_json, char **sheaders)
{
  char **sec = NULL;
  size_t nsec = 0, i, hlen;
  int failed = 0;

  if (pacer_job_secrets(job, &sec, &nsec) != 0) {
    *body = NULL;
    *body_len = 0;
    *headers_json = NULL;
    return;
  }
  for (i = 0; i < nsec; i++) {
    char *r;

    if (*body != NULL) {
      r = pacer_scrub_secret(*body, *body_len, sec[i], body_len, &failed);
      if (r != NULL || failed) {
        free(*sbody);
        *sbody = r;
        *body = r;
        if (r == NULL)
          *body_len = 0;
      }
    }
    if (*headers_json != NULL) {
      r = pacer_scrub_secret(*headers_json, strlen(*headers_json), sec[i],
                             &hlen, &failed);
      if (r != NULL || failed) {
        free(*sheaders);
        *sheaders = r;
        *headers_json = r;
      }
    }
  }
  pacer_job_secrets_free(sec, nsec);
}
