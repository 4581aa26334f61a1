/* Secrets in job text and URLs: which headers carry one
 * (pacer_header_is_secret), the userinfo of a URL
 * (pacer_url_redact_userinfo), the secret values of a job
 * (pacer_job_secrets) and job text with them replaced
 * (pacer_job_redact, over the spans the lenient scan finds).
 */
#include "core/job_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#define REDACTED        "\"[redacted]\""
#define URL_REDACTED    "[redacted]"
#define SCRUB_MIN_BYTES 6 /* shorter secrets are not scrubbed */

/* ASCII-only case-insensitive substring search. */
static int
contains_ci(const char *hay, const char *needle)
{
  size_t n = strlen(needle);

  for (; *hay != '\0'; hay++) {
    if (strncasecmp(hay, needle, n) == 0)
      return 1;
  }
  return 0;
}

int
pacer_header_is_secret(const char *name)
{
  static const char *const exact[] = {"Authorization", "Proxy-Authorization",
                                      "Cookie", "X-Api-Key"};
  static const char *const parts[] = {"token", "secret", "key", "auth"};
  size_t i;

  for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
    if (strcasecmp(name, exact[i]) == 0)
      return 1;
  }
  for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
    if (contains_ci(name, parts[i]))
      return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * URL userinfo and the secrets a job carries
 * ------------------------------------------------------------------------ */

/* Finds the userinfo of u[0..n): u[*start..*at) with u[*at] the last '@'
 * of the authority. The authority is taken generously: after an optional
 * "scheme:" and any run of '/' or '\', up to the next '/', '\', '?' or
 * '#' (RFC 3986 §3.2; WHATWG URL parsers treat '\' as '/'), so no
 * spelling a URL parser might accept keeps its password. Returns 1 when
 * there is a userinfo. */
static int
find_userinfo(const char *u, size_t n, size_t *start, size_t *at)
{
  size_t i = 0, j;
  int found = 0;

  /* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
  while (i < n && (pacer_job_is_alpha((unsigned char)u[i]) ||
                   (i > 0 && (pacer_job_is_digit((unsigned char)u[i]) ||
                              u[i] == '+' || u[i] == '-' || u[i] == '.'))))
    i++;
  if (i > 0 && i < n && u[i] == ':')
    i++;
  else
    i = 0;
  while (i < n && (u[i] == '/' || u[i] == '\\'))
    i++;
  for (j = i;
       j < n && u[j] != '/' && u[j] != '\\' && u[j] != '?' && u[j] != '#';
       j++) {
    if (u[j] == '@') {
      *at = j;
      found = 1;
    }
  }
  *start = i;
  return found;
}

int
pacer_url_redact_userinfo(const char *url, size_t len, char **out,
                          size_t *out_len)
{
  size_t st, at, keep, n;
  const char *colon;
  char *p;

  *out = NULL;
  *out_len = 0;
  if (url == NULL || !find_userinfo(url, len, &st, &at))
    return 0;
  /* "user:password@" keeps "user:"; a lone name may be a token, so
   * "name@" keeps nothing (RFC 3986 §3.2.1 deprecates user:password). */
  colon = memchr(url + st, ':', at - st);
  keep = colon != NULL ? (size_t)(colon - url) + 1 : st;
  n = keep + sizeof(URL_REDACTED) - 1 + (len - at);
  p = malloc(n + 1);
  if (p == NULL)
    return PACER_ENOMEM;
  memcpy(p, url, keep);
  memcpy(p + keep, URL_REDACTED, sizeof(URL_REDACTED) - 1);
  memcpy(p + keep + sizeof(URL_REDACTED) - 1, url + at, len - at);
  p[n] = '\0';
  *out = p;
  *out_len = n;
  return 0;
}

/* Writes code point cp as UTF-8 at o. Returns the bytes written. */
static size_t
put_utf8(char *o, unsigned cp)
{
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Decodes the JSON string literal raw[0..n) (quotes included; the scan
 * checked its escapes) into out, which has room for n bytes (escapes
 * never grow). NUL stays a byte; a lone surrogate becomes U+FFFD. Returns
 * the decoded length. RFC 8259 §7. */
static size_t
json_unquote(const char *raw, size_t n, char *out)
{
  const unsigned char *s = (const unsigned char *)raw;
  size_t i = 1, o = 0;

  while (i + 1 < n) {
    unsigned cp, lo;

    if (s[i] != '\\') {
      out[o++] = (char)s[i++];
      continue;
    }
    if (s[i + 1] != 'u') {
      static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
      const char *hit = strchr(from, s[i + 1]);

      out[o++] = hit != NULL ? to[hit - from] : (char)s[i + 1];
      i += 2;
      continue;
    }
    if (pacer_job_hex4(s + i + 2, n - i - 2, &cp) != 0)
      break; /* cannot happen after the scan */
    i += 6;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 6 <= n && s[i] == '\\' &&
        s[i + 1] == 'u' && pacer_job_hex4(s + i + 2, n - i - 2, &lo) == 0 &&
        lo >= 0xdc00 && lo <= 0xdfff) {
      cp = 0x10000 + (((cp & 0x3ff) << 10) | (lo & 0x3ff));
      i += 6;
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      cp = 0xfffd;
    }
    o += put_utf8(out + o, cp);
  }
  return o;
}

/* Returns s[0..n) as a JSON string literal (owned, *out_len set), or NULL
 * when out of memory. Bytes are kept as they are except '"', '\' and C0
 * controls (RFC 8259 §7). */
static char *
json_quote(const char *s, size_t n, size_t *out_len)
{
  char *p = malloc(n * 6 + 3);
  size_t i, o = 0;

  if (p == NULL)
    return NULL;
  p[o++] = '"';
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c == '"' || c == '\\') {
      p[o++] = '\\';
      p[o++] = (char)c;
    } else if (c < 0x20) {
      o += (size_t)snprintf(p + o, 7, "\\u%04x", c);
    } else {
      p[o++] = (char)c;
    }
  }
  p[o++] = '"';
  p[o] = '\0';
  *out_len = o;
  return p;
}

/* The replacement for a "url" span of the job text: the same string with
 * its userinfo redacted (owned, *len set), or NULL with *nomem 0 when the
 * URL has no userinfo. A string cut off by a syntax error is replaced
 * whole when it might hold one. */
static char *
url_span_text(const char *raw, size_t n, int kind, size_t *len, int *nomem)
{
  char *dec, *red = NULL, *out = NULL;
  size_t dlen, rlen;

  *nomem = 0;
  *len = 0;
  if (kind == 2) {
    if (memchr(raw, '@', n) == NULL && memchr(raw, '\\', n) == NULL)
      return NULL;
    out = strdup(REDACTED);
    *nomem = out == NULL;
    *len = out != NULL ? strlen(out) : 0;
    return out;
  }
  dec = malloc(n + 1);
  if (dec == NULL)
    goto nomem;
  dlen = json_unquote(raw, n, dec);
  if (pacer_url_redact_userinfo(dec, dlen, &red, &rlen) != 0)
    goto nomem;
  if (red != NULL) {
    out = json_quote(red, rlen, len);
    if (out == NULL)
      goto nomem;
  }
  sodium_memzero(dec, dlen);
  free(dec);
  free(red);
  return out;
nomem:
  if (dec != NULL)
    sodium_memzero(dec, n);
  free(dec);
  free(red);
  *nomem = 1;
  return NULL;
}

/* Percent-decodes s[0..n) (RFC 3986 §2.1); a '%' not followed by two hex
 * digits stays as it is. Returns owned text (*out_len set) or NULL. */
static char *
pct_decode(const char *s, size_t n, size_t *out_len)
{
  char *p = malloc(n + 1);
  size_t i, o = 0;
  unsigned v;

  if (p == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    char hex[4] = {'0', '0', 0, 0};

    if (s[i] == '%' && i + 2 < n) {
      hex[2] = s[i + 1];
      hex[3] = s[i + 2];
      if (pacer_job_hex4((const unsigned char *)hex, 4, &v) == 0) {
        p[o++] = (char)v;
        i += 2;
        continue;
      }
    }
    p[o++] = s[i];
  }
  p[o] = '\0';
  *out_len = o;
  return p;
}

struct secrets {
  char **v;
  size_t n, cap;
  int nomem;
};

/* Adds a copy of s[0..n) when it is long enough to scrub and new. */
static void
secret_add(struct secrets *sc, const char *s, size_t n)
{
  size_t i;
  char *copy;

  if (sc->nomem || n < SCRUB_MIN_BYTES || memchr(s, '\0', n) != NULL)
    return;
  for (i = 0; i < sc->n; i++) {
    if (strlen(sc->v[i]) == n && memcmp(sc->v[i], s, n) == 0)
      return;
  }
  if (sc->n == sc->cap) {
    size_t ncap = sc->cap ? sc->cap * 2 : 8;
    char **nv = realloc(sc->v, ncap * sizeof(*nv));

    if (nv == NULL) {
      sc->nomem = 1;
      return;
    }
    sc->v = nv;
    sc->cap = ncap;
  }
  copy = pacer_job_dup_bytes(s, n);
  if (copy == NULL) {
    sc->nomem = 1;
    return;
  }
  sc->v[sc->n++] = copy;
}

/* The URL's userinfo as written, percent-decoded, and as libcurl sends it:
 * "Authorization: Basic " base64(user ":" password), both decoded. */
static void
url_secrets(struct secrets *sc, const char *url)
{
  size_t st, at, ulen, plen, dulen = 0, dplen = 0, blen;
  const char *colon;
  char *du = NULL, *dp = NULL, *pair = NULL, *b64 = NULL;

  if (url == NULL || !find_userinfo(url, strlen(url), &st, &at))
    return;
  colon = memchr(url + st, ':', at - st);
  ulen = (size_t)((colon != NULL ? colon : url + at) - (url + st));
  plen = colon != NULL ? (size_t)(url + at - colon - 1) : 0;
  if (colon != NULL)
    secret_add(sc, colon + 1, plen);
  else
    secret_add(sc, url + st, ulen); /* a lone name may be a token */
  du = pct_decode(url + st, ulen, &dulen);
  dp = pct_decode(colon != NULL ? colon + 1 : "", plen, &dplen);
  if (du == NULL || dp == NULL)
    goto nomem;
  secret_add(sc, colon != NULL ? dp : du, colon != NULL ? dplen : dulen);
  pair = malloc(dulen + 1 + dplen + 1);
  if (pair == NULL)
    goto nomem;
  memcpy(pair, du, dulen);
  pair[dulen] = ':';
  memcpy(pair + dulen + 1, dp, dplen);
  blen = sodium_base64_ENCODED_LEN(dulen + 1 + dplen,
                                   sodium_base64_VARIANT_ORIGINAL);
  b64 = malloc(blen);
  if (b64 == NULL)
    goto nomem;
  sodium_bin2base64(b64, blen, (const unsigned char *)pair, dulen + 1 + dplen,
                    sodium_base64_VARIANT_ORIGINAL);
  secret_add(sc, b64, strlen(b64));
  goto done;
nomem:
  sc->nomem = 1;
done:
  if (du != NULL)
    sodium_memzero(du, dulen);
  if (dp != NULL)
    sodium_memzero(dp, dplen);
  if (pair != NULL)
    sodium_memzero(pair, dulen + 1 + dplen);
  if (b64 != NULL)
    sodium_memzero(b64, strlen(b64));
  free(du);
  free(dp);
  free(pair);
  free(b64);
}

int
pacer_job_secrets(const struct pacer_job *job, char ***out, size_t *n)
{
  struct secrets sc;
  size_t i;

  memset(&sc, 0, sizeof(sc));
  *out = NULL;
  *n = 0;
  for (i = 0; i < job->nheaders; i++) {
    const char *v = job->headers[i].value;
    const char *sp = strchr(v, ' ');

    if (!pacer_header_is_secret(job->headers[i].name))
      continue;
    /* RFC 9110 §11.4: credentials = auth-scheme [ 1*SP token68 / ... ]:
     * scrubbing the part after the scheme leaves "Bearer [redacted]". */
    if (sp != NULL) {
      while (*sp == ' ')
        sp++;
      v = *sp != '\0' ? sp : v;
    }
    secret_add(&sc, v, strlen(v));
  }
  url_secrets(&sc, job->url);
  if (sc.nomem) {
    pacer_job_secrets_free(sc.v, sc.n);
    return PACER_ENOMEM;
  }
  *out = sc.v;
  *n = sc.n;
  return 0;
}

void
pacer_job_secrets_free(char **secrets, size_t n)
{
  size_t i;

  for (i = 0; secrets != NULL && i < n; i++) {
    sodium_memzero(secrets[i], strlen(secrets[i]));
    free(secrets[i]);
  }
  free(secrets);
}

/* Largest n' <= n that does not end inside a UTF-8 sequence of s. */
static size_t
utf8_cut(const char *s, size_t n, size_t len)
{
  size_t k = n;

  if (n >= len)
    return len;
  /* back up over continuation bytes to the start of the cut sequence */
  while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80 && n - k < 3)
    k--;
  return ((unsigned char)s[k] & 0xc0) == 0x80 ? n : k;
}

char *
pacer_job_redact(const char *json, size_t len, size_t max_bytes)
{
  struct pacer_job_scan sc;
  size_t stop = len, i, o = 0, at = 0, cap, *rlen = NULL;
  char *out = NULL, **repl = NULL;
  const char *p;

  if (json == NULL)
    len = 0;
  memset(&sc, 0, sizeof(sc));
  p = json;
  /* pacer_job_parse and scan_run skip a leading UTF-8 BOM, so it must not
   * hide the object (and its secret headers) from redaction. */
  if (len >= 3 && memcmp(json, "\xef\xbb\xbf", 3) == 0)
    p += 3;
  while (len > 0 && p < json + len &&
         (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  if (len > 0 && p < json + len && *p == '{') {
    sc.s = (const unsigned char *)json;
    sc.len = len;
    sc.redact = 1;
    if (pacer_job_scan_run(&sc) != 0) {
      if (sc.err == PACER_JOB_SCAN_NOMEM) {
        free(sc.spans);
        return NULL;
      }
      /* Cut at the syntax error; a value still open there is a secret
       * whose end we never saw. */
      stop = sc.err_pos;
      if (sc.span_open && pacer_job_span_add(&sc, sc.span_start, stop) != 0) {
        free(sc.spans);
        return NULL;
      }
      if (sc.url_open && sc.value_start < stop) {
        if (pacer_job_span_add(&sc, sc.value_start, stop) != 0) {
          free(sc.spans);
          return NULL;
        }
        sc.spans[sc.nspans - 1].url = 2;
      }
    }
  }

  /* Output: text[0..stop) with each secret span replaced by REDACTED and
   * each url span by the url without its password. */
  cap = stop + 1;
  repl = calloc(sc.nspans + 1, sizeof(*repl));
  rlen = calloc(sc.nspans + 1, sizeof(*rlen));
  if (repl == NULL || rlen == NULL)
    goto nomem;
  for (i = 0; i < sc.nspans; i++) {
    int nomem = 0;

    if (sc.spans[i].url == 0) {
      cap += sizeof(REDACTED);
      continue;
    }
    repl[i] = url_span_text(json + sc.spans[i].start,
                            sc.spans[i].end - sc.spans[i].start,
                            sc.spans[i].url, &rlen[i], &nomem);
    if (nomem)
      goto nomem;
    cap += rlen[i];
  }
  out = malloc(cap);
  if (out == NULL)
    goto nomem;
  for (i = 0; i < sc.nspans; i++) {
    const char *r = REDACTED;
    size_t rl = sizeof(REDACTED) - 1;

    if (sc.spans[i].url != 0) {
      r = repl[i] != NULL ? repl[i] : json + sc.spans[i].start;
      rl = repl[i] != NULL ? rlen[i] : sc.spans[i].end - sc.spans[i].start;
    }
    memcpy(out + o, json + at, sc.spans[i].start - at);
    o += sc.spans[i].start - at;
    memcpy(out + o, r, rl);
    o += rl;
    at = sc.spans[i].end;
  }
  if (stop > at) {
    memcpy(out + o, json + at, stop - at);
    o += stop - at;
  }
  o = utf8_cut(out, max_bytes, o);
  out[o] = '\0';
  goto done;
nomem:
  out = NULL;
done:
  for (i = 0; repl != NULL && i < sc.nspans; i++)
    free(repl[i]);
  free(repl);
  free(rlen);
  free(sc.spans);
  return out;
}
