/* The JSON scanner of the job model (core/job_int.h): one pass over the
 * text before cJSON sees it, strict for pacer_job_parse (RFC 8259
 * grammar, UTF-8, no raw control characters, no NUL, paired surrogates,
 * numbers cJSON copies whole, at most PACER_JOB_MAX_DEPTH levels) and
 * lenient for pacer_job_redact (the spans of secret values). Why a scan
 * of our own: see core/job.c.
 */
#include "core/job_int.h"

#include <stdlib.h>
#include <string.h>

#define NUMBER_MAX_CHARS 63 /* chars cJSON copies of a number */

/* Returns the length (2..4) of the well-formed UTF-8 sequence at s[0..n),
 * or 0 when it is not well formed (overlong, surrogate, > U+10FFFF,
 * truncated). Source: RFC 3629 §4 (UTF8-2/3/4 productions). */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
  unsigned char c = s[0];

  if (c >= 0xc2 && c <= 0xdf)
    return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
    unsigned char hi = c == 0xed ? 0x9f : 0xbf;

    if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
      return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;

    if (n < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 ||
        (s[3] & 0xc0) != 0x80)
      return 0;
    return 4;
  }
  return 0;
}

int
pacer_job_hex4(const unsigned char *s, size_t n, unsigned *out)
{
  unsigned v = 0;
  size_t i;

  if (n < 4)
    return -1;
  for (i = 0; i < 4; i++) {
    unsigned char c = s[i];

    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

/* ------------------------------------------------------------------------
 * JSON scanner
 *
 * One pass, no recursion, no allocation except the redaction span list.
 * States:
 *
 *   VALUE --'{'--> KEY --string--> ':' --> VALUE
 *         --'['--> VALUE
 *         --scalar--> AFTER --','--> KEY | VALUE
 *                           --'}' / ']'--> AFTER (one level up)
 *                           --end at depth 0--> done
 * ------------------------------------------------------------------------ */

enum scan_state { ST_VALUE, ST_KEY, ST_AFTER };

static int
scan_fail(struct pacer_job_scan *sc, enum pacer_job_scan_err e, size_t pos)
{
  sc->err = e;
  sc->err_pos = pos;
  return -1;
}

static void
skip_ws(struct pacer_job_scan *sc)
{
  while (sc->pos < sc->len) {
    unsigned char c = sc->s[sc->pos];

    /* RFC 8259 §2: ws = space, tab, LF, CR, nothing else */
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      break;
    sc->pos++;
  }
}

static void
key_put(struct pacer_job_scan *sc, const unsigned char *b, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    if (b[i] == '\0' || sc->key_len == PACER_JOB_SCAN_KEY_MAX) {
      sc->key_odd = 1;
      continue;
    }
    sc->key[sc->key_len++] = (char)b[i];
  }
}

static void
key_put_cp(struct pacer_job_scan *sc, unsigned cp)
{
  unsigned char b[4];
  size_t n;

  if (cp < 0x80) {
    b[0] = (unsigned char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (unsigned char)(0xc0 | (cp >> 6));
    b[1] = (unsigned char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (unsigned char)(0xe0 | (cp >> 12));
    b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    b[2] = (unsigned char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    b[0] = (unsigned char)(0xf0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (unsigned char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  key_put(sc, b, n);
}

/* Scans the string at sc->pos (a '"'); decodes it into sc->key when
 * capture is set. RFC 8259 §7. */
static int
scan_string(struct pacer_job_scan *sc, int capture)
{
  const unsigned char *s = sc->s;

  if (capture) {
    sc->key_len = 0;
    sc->key_odd = 0;
  }
  sc->pos++;
  for (;;) {
    size_t at = sc->pos;
    unsigned char c;

    if (at >= sc->len)
      return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->len);
    c = s[at];
    if (c == '"') {
      sc->pos++;
      break;
    }
    if (c == '\\') {
      unsigned cp, lo;
      unsigned char e;

      if (at + 1 >= sc->len)
        return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->len);
      e = s[at + 1];
      if (e != 'u') {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *hit = e != '\0' ? strchr(from, e) : NULL;

        if (hit == NULL)
          return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, at + 1);
        if (capture)
          key_put(sc, (const unsigned char *)&to[hit - from], 1);
        sc->pos += 2;
        continue;
      }
      if (pacer_job_hex4(s + at + 2, sc->len - at - 2, &cp) != 0)
        return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, at);
      sc->pos += 6;
      if (cp == 0 && sc->strict)
        return scan_fail(sc, PACER_JOB_SCAN_NUL, at);
      if (cp >= 0xdc00 && cp <= 0xdfff) {
        if (sc->strict)
          return scan_fail(sc, PACER_JOB_SCAN_SURROGATE, at);
        continue;
      }
      if (cp >= 0xd800 && cp <= 0xdbff) {
        /* RFC 8259 §7: a pair of \u escapes for one astral character */
        if (sc->pos + 1 < sc->len && s[sc->pos] == '\\' &&
            s[sc->pos + 1] == 'u' &&
            pacer_job_hex4(s + sc->pos + 2, sc->len - sc->pos - 2, &lo) == 0 &&
            lo >= 0xdc00 && lo <= 0xdfff) {
          sc->pos += 6;
          cp = 0x10000 + (((cp & 0x3ff) << 10) | (lo & 0x3ff));
        } else {
          if (sc->strict)
            return scan_fail(sc, PACER_JOB_SCAN_SURROGATE, at);
          continue;
        }
      }
      if (capture)
        key_put_cp(sc, cp);
      continue;
    }
    if (c < 0x20) {
      if (sc->strict)
        return scan_fail(sc, PACER_JOB_SCAN_CTRL, at);
    } else if (c >= 0x80) {
      size_t n = utf8_seq(s + at, sc->len - at);

      if (n == 0) {
        if (sc->strict)
          return scan_fail(sc, PACER_JOB_SCAN_UTF8, at);
        n = 1;
      }
      if (capture)
        key_put(sc, s + at, n);
      sc->pos += n;
      continue;
    }
    if (capture)
      key_put(sc, &c, 1);
    sc->pos++;
  }
  if (capture)
    sc->key[sc->key_len] = '\0';
  return 0;
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int
scan_number(struct pacer_job_scan *sc)
{
  const unsigned char *s = sc->s;
  size_t start = sc->pos, p = sc->pos, n = sc->len;

  if (p < n && s[p] == '-')
    p++;
  if (p >= n || !pacer_job_is_digit(s[p]))
    return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, p);
  if (s[p] == '0')
    p++;
  else
    while (p < n && pacer_job_is_digit(s[p]))
      p++;
  if (p < n && s[p] == '.') {
    p++;
    if (p >= n || !pacer_job_is_digit(s[p]))
      return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, p);
    while (p < n && pacer_job_is_digit(s[p]))
      p++;
  }
  if (p < n && (s[p] == 'e' || s[p] == 'E')) {
    p++;
    if (p < n && (s[p] == '+' || s[p] == '-'))
      p++;
    if (p >= n || !pacer_job_is_digit(s[p]))
      return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, p);
    while (p < n && pacer_job_is_digit(s[p]))
      p++;
  }
  if (sc->strict && p - start > NUMBER_MAX_CHARS)
    return scan_fail(sc, PACER_JOB_SCAN_NUMBER, start);
  sc->pos = p;
  return 0;
}

static int
scan_literal(struct pacer_job_scan *sc, const char *lit)
{
  size_t i;

  for (i = 0; lit[i] != '\0'; i++) {
    if (sc->pos + i >= sc->len || sc->s[sc->pos + i] != (unsigned char)lit[i])
      return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->pos + i);
  }
  sc->pos += i;
  return 0;
}

int
pacer_job_span_add(struct pacer_job_scan *sc, size_t start, size_t end)
{
  if (sc->nspans == sc->cap) {
    size_t ncap = sc->cap ? sc->cap * 2 : 8;
    struct pacer_job_span *n = realloc(sc->spans, ncap * sizeof(*n));

    if (n == NULL)
      return scan_fail(sc, PACER_JOB_SCAN_NOMEM, start);
    sc->spans = n;
    sc->cap = ncap;
  }
  sc->spans[sc->nspans].start = start;
  sc->spans[sc->nspans].end = end;
  sc->spans[sc->nspans].url = 0;
  sc->nspans++;
  return 0;
}

/* Case-insensitive on purpose: a job with "Headers" is rejected as an
 * unknown field and its text then goes to the dead stream. */
static int
at_headers_field(const struct pacer_job_scan *sc)
{
  return sc->depth == 1 && sc->stack[0] == '{' && sc->have_field &&
         !sc->field_odd && strcasecmp(sc->field, "headers") == 0;
}

/* Called with sc->pos at the first byte of a value. Opens a redaction span
 * for a secret header's value, or for a "headers" value that is not an
 * object (it may well be "Authorization: Bearer ..." as one string). */
static void
redact_value_start(struct pacer_job_scan *sc)
{
  int start = 0;

  if (!sc->redact || sc->span_open)
    return;
  if (sc->depth == 2 && sc->in_headers && sc->secret_next)
    start = 1;
  else if (at_headers_field(sc) && sc->s[sc->pos] != '{')
    start = 1;
  if (start) {
    sc->span_open = 1;
    sc->span_depth = sc->depth;
    sc->span_start = sc->pos;
  }
}

/* Called with sc->pos at the first byte of any value. A top-level "url"
 * (any case: a job with "URL" is dead-lettered with its text) that is a
 * string gets its userinfo redacted. */
static void
value_start(struct pacer_job_scan *sc)
{
  if (sc->depth == 1) {
    sc->value_start = sc->pos;
    sc->url_open = sc->redact && sc->stack[0] == '{' && sc->have_field &&
                   strcasecmp(sc->field, "url") == 0 && sc->s[sc->pos] == '"';
  }
  redact_value_start(sc);
}

/* Called right after a complete value at depth sc->depth: records where
 * the top-level "body" and "meta" values lie, and closes a redaction
 * span. */
static int
value_end(struct pacer_job_scan *sc)
{
  if (sc->depth == 1 && sc->stack[0] == '{' && sc->have_field &&
      !sc->field_odd) {
    struct pacer_job_span v = {sc->value_start, sc->pos, 0};

    if (strcmp(sc->field, "body") == 0) {
      sc->body = v;
      sc->have_body = 1;
    } else if (strcmp(sc->field, "meta") == 0) {
      sc->meta = v;
      sc->have_meta = 1;
    }
  }
  if (sc->url_open && sc->depth == 1) {
    sc->url_open = 0;
    if (pacer_job_span_add(sc, sc->value_start, sc->pos) != 0)
      return -1;
    sc->spans[sc->nspans - 1].url = 1;
  }
  if (sc->redact && sc->span_open && sc->depth == sc->span_depth) {
    sc->span_open = 0;
    return pacer_job_span_add(sc, sc->span_start, sc->pos);
  }
  return 0;
}

static int
scan_open(struct pacer_job_scan *sc, unsigned char c)
{
  if (sc->depth == PACER_JOB_MAX_DEPTH)
    return scan_fail(sc, PACER_JOB_SCAN_DEPTH, sc->pos);
  if (sc->depth == 1)
    sc->in_headers = c == '{' && at_headers_field(sc);
  sc->stack[sc->depth++] = c;
  sc->pos++;
  return 0;
}

/* Scans s[0..len) as one JSON text (RFC 8259 §2). Returns 0, or -1 with
 * sc->err and sc->err_pos set. A leading UTF-8 BOM is skipped, as cJSON
 * does. */
int
pacer_job_scan_run(struct pacer_job_scan *sc)
{
  enum scan_state st = ST_VALUE;

  if (sc->len >= 3 && memcmp(sc->s, "\xef\xbb\xbf", 3) == 0)
    sc->pos = 3;
  for (;;) {
    unsigned char c;

    skip_ws(sc);
    if (st == ST_VALUE) {
      if (sc->pos >= sc->len)
        return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->len);
      c = sc->s[sc->pos];
      value_start(sc);
      if (c == '{' || c == '[') {
        if (scan_open(sc, c) != 0)
          return -1;
        skip_ws(sc);
        if (sc->pos < sc->len && sc->s[sc->pos] == (c == '{' ? '}' : ']')) {
          sc->pos++;
          sc->depth--;
          if (value_end(sc) != 0)
            return -1;
          st = ST_AFTER;
        } else {
          st = c == '{' ? ST_KEY : ST_VALUE;
        }
        continue;
      }
      if (c == '"') {
        if (scan_string(sc, 0) != 0)
          return -1;
      } else if (c == '-' || pacer_job_is_digit(c)) {
        if (scan_number(sc) != 0)
          return -1;
      } else if (c == 't' || c == 'f' || c == 'n') {
        if (scan_literal(sc, c == 't' ? "true" : c == 'f' ? "false" : "null"))
          return -1;
      } else {
        return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->pos);
      }
      if (value_end(sc) != 0)
        return -1;
      st = ST_AFTER;
    } else if (st == ST_KEY) {
      int top = sc->depth == 1;

      if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
        return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->pos);
      sc->err_in_name = top;
      if (scan_string(sc, sc->depth <= 2) != 0)
        return -1;
      sc->err_in_name = 0;
      if (top) {
        memcpy(sc->field, sc->key, sc->key_len + 1);
        sc->field_odd = sc->key_odd;
        sc->have_field = 1;
      } else if (sc->depth == 2 && sc->in_headers) {
        /* A name we could not read whole is treated as secret. */
        sc->secret_next = sc->key_odd || pacer_header_is_secret(sc->key);
      }
      skip_ws(sc);
      if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
        return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->pos);
      sc->pos++;
      st = ST_VALUE;
    } else {
      unsigned char top;

      if (sc->depth == 0) {
        if (sc->pos != sc->len)
          return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->pos);
        return 0;
      }
      if (sc->pos >= sc->len)
        return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->len);
      c = sc->s[sc->pos];
      top = sc->stack[sc->depth - 1];
      if (c == ',') {
        sc->pos++;
        st = top == '{' ? ST_KEY : ST_VALUE;
      } else if ((c == '}' && top == '{') || (c == ']' && top == '[')) {
        sc->pos++;
        sc->depth--;
        if (value_end(sc) != 0)
          return -1;
      } else {
        return scan_fail(sc, PACER_JOB_SCAN_SYNTAX, sc->pos);
      }
    }
  }
}

/* Turns a strict scan failure into "<field>: <reason> at byte N". */
int
pacer_job_scan_error(const struct pacer_job_scan *sc, struct pacer_error *err)
{
  char buf[PACER_JOB_SHOW_MAX + 8];
  const char *field = "job";
  size_t at = sc->err_pos;

  switch (sc->err) {
  case PACER_JOB_SCAN_SYNTAX:
    return pacer_error_set(err, PACER_EJOB, "job: invalid JSON at byte %zu",
                           at);
  case PACER_JOB_SCAN_NOMEM:
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  default:
    break;
  }
  if (sc->err_in_name) {
    const char *what =
        sc->err == PACER_JOB_SCAN_UTF8   ? "invalid UTF-8"
        : sc->err == PACER_JOB_SCAN_CTRL ? "unescaped control character"
        : sc->err == PACER_JOB_SCAN_NUL  ? "\\u0000 (NUL)"
                                         : "unpaired UTF-16 surrogate";

    return pacer_error_set(err, PACER_EJOB,
                           "job: %s in a field name at byte %zu", what, at);
  }
  if (sc->depth >= 1 && sc->stack[0] == '{' && sc->have_field)
    field = pacer_job_show(sc->field, strlen(sc->field), buf, sizeof(buf));
  switch (sc->err) {
  case PACER_JOB_SCAN_DEPTH:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: nesting deeper than %d levels at byte %zu",
                           field, PACER_JOB_MAX_DEPTH, at);
  case PACER_JOB_SCAN_UTF8:
    return pacer_error_set(err, PACER_EJOB, "%s: invalid UTF-8 at byte %zu",
                           field, at);
  case PACER_JOB_SCAN_CTRL:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: unescaped control character at byte %zu", field,
                           at);
  case PACER_JOB_SCAN_NUL:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: \\u0000 (NUL) is not allowed at byte %zu",
                           field, at);
  case PACER_JOB_SCAN_SURROGATE:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: unpaired UTF-16 surrogate at byte %zu", field,
                           at);
  case PACER_JOB_SCAN_NUMBER:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: number longer than %d characters at byte %zu",
                           field, NUMBER_MAX_CHARS, at);
  default:
    return pacer_error_set(err, PACER_EJOB, "job: invalid JSON at byte %zu",
                           at);
  }
}
