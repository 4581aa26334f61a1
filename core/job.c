/* Job model: parse and validate one job, redact secrets from job text.
 *
 *   text --size--> scan (grammar, depth, UTF-8, NUL) --> cJSON tree
 *        --> top-level fields in document order --> cross-field checks
 *        --> struct pacer_job
 *
 * Why a scan of our own before cJSON: cJSON 1.7.15 accepts raw control
 * characters and invalid UTF-8 inside strings, turns "\u0000" (and even a
 * malformed "\uZZZZ") into a NUL that silently truncates the C string,
 * accepts numbers such as "01" and "1.", copies at most 63 characters of a
 * number, and recurses up to 1000 levels deep. The scan is iterative, keeps
 * a fixed 64-entry stack, and rejects all of the above with a byte offset,
 * so cJSON only ever sees text it parses exactly. The same scanner, in a
 * lenient mode, finds the spans pacer_job_redact replaces. JSON bodies and
 * "meta" are copied from the text (whitespace removed), not re-printed by
 * cJSON, so large integers and number spellings arrive unchanged.
 *
 * Byte offsets in messages count from 0 at the first byte of the text.
 */
#include "core/job.h"
#include "core/json_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <sodium.h>

#define NUMBER_MAX_CHARS       63  /* chars cJSON copies of a number */
#define SCAN_KEY_MAX           255 /* decoded key bytes kept by the scanner */
#define SHOW_MAX               40  /* user text shown in a message, bytes */
#define NOT_BEFORE_MAX_UNIX_MS 9007199254740992.0 /* 2^53, unix ms */
#define REDACTED               "\"[redacted]\""
#define URL_REDACTED           "[redacted]"
#define SCRUB_MIN_BYTES        6 /* shorter secrets are not scrubbed */

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* Copies s[0..n) into buf (size bytes) for a message: printable ASCII is
 * kept, anything else (and '"' and '\\') becomes '?', and text longer than
 * SHOW_MAX bytes is cut with "...". User text never reaches a log line raw.
 */
static const char *
show(const char *s, size_t n, char *buf, size_t size)
{
  size_t i, o = 0;

  assert(size > SHOW_MAX + 4);
  (void)size;
  for (i = 0; i < n && o < SHOW_MAX; i++) {
    unsigned char c = (unsigned char)s[i];

    buf[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
  }
  if (i < n) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = '\0';
  return buf;
}

static char *
dup_bytes(const char *s, size_t n)
{
  char *p = malloc(n + 1);

  if (p == NULL)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

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

static int
hex4(const unsigned char *s, size_t n, unsigned *out)
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

enum scan_err {
  SCAN_OK = 0,
  SCAN_SYNTAX,    /* not JSON (RFC 8259 grammar) */
  SCAN_DEPTH,     /* deeper than PACER_JOB_MAX_DEPTH */
  SCAN_UTF8,      /* invalid UTF-8 inside a string */
  SCAN_CTRL,      /* raw control character inside a string */
  SCAN_NUL,       /* "\u0000" */
  SCAN_SURROGATE, /* "\uD800" without its pair, or a lone low half */
  SCAN_NUMBER,    /* number longer than NUMBER_MAX_CHARS */
  SCAN_NOMEM
};

enum scan_state { ST_VALUE, ST_KEY, ST_AFTER };

struct span {
  size_t start; /* byte offset */
  size_t end;   /* byte offset, exclusive */
  int url;      /* 1: a top-level "url" string, whose userinfo is redacted;
                   2: one cut off by a syntax error; 0: a secret value */
};

struct scan {
  const unsigned char *s;
  size_t len; /* bytes */
  size_t pos; /* byte offset */
  int strict; /* 0: string contents and number lengths are not checked */
  unsigned char stack[PACER_JOB_MAX_DEPTH]; /* '{' or '[' per level */
  size_t depth;                             /* levels open */
  enum scan_err err;
  size_t err_pos;               /* byte offset of the error */
  int err_in_name;              /* the error is inside a top-level field name */
  char key[SCAN_KEY_MAX + 1];   /* last key at depth 1 or 2, decoded */
  size_t key_len;               /* bytes */
  int key_odd;                  /* key was cut, or held a NUL */
  char field[SCAN_KEY_MAX + 1]; /* current top-level field, decoded */
  int have_field;
  int field_odd;
  /* Spans of the top-level "body" and "meta" values (last one seen). */
  size_t value_start; /* byte offset of the current top-level value */
  struct span body;
  struct span meta;
  int have_body, have_meta;
  /* Redaction: spans of secret header values, in text order. */
  int redact;
  int in_headers;  /* depth-2 container is the top-level "headers" object */
  int secret_next; /* next depth-2 value belongs to a secret header */
  int span_open;
  size_t span_depth; /* depth at which the open span's value sits */
  size_t span_start;
  int url_open; /* the top-level "url" string value is being scanned */
  struct span *spans;
  size_t nspans, cap;
};

static int
scan_fail(struct scan *sc, enum scan_err e, size_t pos)
{
  sc->err = e;
  sc->err_pos = pos;
  return -1;
}

static void
skip_ws(struct scan *sc)
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
key_put(struct scan *sc, const unsigned char *b, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    if (b[i] == '\0' || sc->key_len == SCAN_KEY_MAX) {
      sc->key_odd = 1;
      continue;
    }
    sc->key[sc->key_len++] = (char)b[i];
  }
}

static void
key_put_cp(struct scan *sc, unsigned cp)
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
scan_string(struct scan *sc, int capture)
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
      return scan_fail(sc, SCAN_SYNTAX, sc->len);
    c = s[at];
    if (c == '"') {
      sc->pos++;
      break;
    }
    if (c == '\\') {
      unsigned cp, lo;
      unsigned char e;

      if (at + 1 >= sc->len)
        return scan_fail(sc, SCAN_SYNTAX, sc->len);
      e = s[at + 1];
      if (e != 'u') {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *hit = e != '\0' ? strchr(from, e) : NULL;

        if (hit == NULL)
          return scan_fail(sc, SCAN_SYNTAX, at + 1);
        if (capture)
          key_put(sc, (const unsigned char *)&to[hit - from], 1);
        sc->pos += 2;
        continue;
      }
      if (hex4(s + at + 2, sc->len - at - 2, &cp) != 0)
        return scan_fail(sc, SCAN_SYNTAX, at);
      sc->pos += 6;
      if (cp == 0 && sc->strict)
        return scan_fail(sc, SCAN_NUL, at);
      if (cp >= 0xdc00 && cp <= 0xdfff) {
        if (sc->strict)
          return scan_fail(sc, SCAN_SURROGATE, at);
        continue;
      }
      if (cp >= 0xd800 && cp <= 0xdbff) {
        /* RFC 8259 §7: a pair of \u escapes for one astral character */
        if (sc->pos + 1 < sc->len && s[sc->pos] == '\\' &&
            s[sc->pos + 1] == 'u' &&
            hex4(s + sc->pos + 2, sc->len - sc->pos - 2, &lo) == 0 &&
            lo >= 0xdc00 && lo <= 0xdfff) {
          sc->pos += 6;
          cp = 0x10000 + (((cp & 0x3ff) << 10) | (lo & 0x3ff));
        } else {
          if (sc->strict)
            return scan_fail(sc, SCAN_SURROGATE, at);
          continue;
        }
      }
      if (capture)
        key_put_cp(sc, cp);
      continue;
    }
    if (c < 0x20) {
      if (sc->strict)
        return scan_fail(sc, SCAN_CTRL, at);
    } else if (c >= 0x80) {
      size_t n = utf8_seq(s + at, sc->len - at);

      if (n == 0) {
        if (sc->strict)
          return scan_fail(sc, SCAN_UTF8, at);
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

static int
is_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int
scan_number(struct scan *sc)
{
  const unsigned char *s = sc->s;
  size_t start = sc->pos, p = sc->pos, n = sc->len;

  if (p < n && s[p] == '-')
    p++;
  if (p >= n || !is_digit(s[p]))
    return scan_fail(sc, SCAN_SYNTAX, p);
  if (s[p] == '0')
    p++;
  else
    while (p < n && is_digit(s[p]))
      p++;
  if (p < n && s[p] == '.') {
    p++;
    if (p >= n || !is_digit(s[p]))
      return scan_fail(sc, SCAN_SYNTAX, p);
    while (p < n && is_digit(s[p]))
      p++;
  }
  if (p < n && (s[p] == 'e' || s[p] == 'E')) {
    p++;
    if (p < n && (s[p] == '+' || s[p] == '-'))
      p++;
    if (p >= n || !is_digit(s[p]))
      return scan_fail(sc, SCAN_SYNTAX, p);
    while (p < n && is_digit(s[p]))
      p++;
  }
  if (sc->strict && p - start > NUMBER_MAX_CHARS)
    return scan_fail(sc, SCAN_NUMBER, start);
  sc->pos = p;
  return 0;
}

static int
scan_literal(struct scan *sc, const char *lit)
{
  size_t i;

  for (i = 0; lit[i] != '\0'; i++) {
    if (sc->pos + i >= sc->len || sc->s[sc->pos + i] != (unsigned char)lit[i])
      return scan_fail(sc, SCAN_SYNTAX, sc->pos + i);
  }
  sc->pos += i;
  return 0;
}

static int
span_add(struct scan *sc, size_t start, size_t end)
{
  if (sc->nspans == sc->cap) {
    size_t ncap = sc->cap ? sc->cap * 2 : 8;
    struct span *n = realloc(sc->spans, ncap * sizeof(*n));

    if (n == NULL)
      return scan_fail(sc, SCAN_NOMEM, start);
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
at_headers_field(const struct scan *sc)
{
  return sc->depth == 1 && sc->stack[0] == '{' && sc->have_field &&
         !sc->field_odd && strcasecmp(sc->field, "headers") == 0;
}

/* Called with sc->pos at the first byte of a value. Opens a redaction span
 * for a secret header's value, or for a "headers" value that is not an
 * object (it may well be "Authorization: Bearer ..." as one string). */
static void
redact_value_start(struct scan *sc)
{
  int open = 0;

  if (!sc->redact || sc->span_open)
    return;
  if (sc->depth == 2 && sc->in_headers && sc->secret_next)
    open = 1;
  else if (at_headers_field(sc) && sc->s[sc->pos] != '{')
    open = 1;
  if (open) {
    sc->span_open = 1;
    sc->span_depth = sc->depth;
    sc->span_start = sc->pos;
  }
}

/* Called with sc->pos at the first byte of any value. A top-level "url"
 * (any case: a job with "URL" is dead-lettered with its text) that is a
 * string gets its userinfo redacted. */
static void
value_start(struct scan *sc)
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
value_end(struct scan *sc)
{
  if (sc->depth == 1 && sc->stack[0] == '{' && sc->have_field &&
      !sc->field_odd) {
    struct span v = {sc->value_start, sc->pos, 0};

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
    if (span_add(sc, sc->value_start, sc->pos) != 0)
      return -1;
    sc->spans[sc->nspans - 1].url = 1;
  }
  if (sc->redact && sc->span_open && sc->depth == sc->span_depth) {
    sc->span_open = 0;
    return span_add(sc, sc->span_start, sc->pos);
  }
  return 0;
}

static int
scan_open(struct scan *sc, unsigned char c)
{
  if (sc->depth == PACER_JOB_MAX_DEPTH)
    return scan_fail(sc, SCAN_DEPTH, sc->pos);
  if (sc->depth == 1)
    sc->in_headers = c == '{' && at_headers_field(sc);
  sc->stack[sc->depth++] = c;
  sc->pos++;
  return 0;
}

/* Scans s[0..len) as one JSON text (RFC 8259 §2). Returns 0, or -1 with
 * sc->err and sc->err_pos set. A leading UTF-8 BOM is skipped, as cJSON
 * does. */
static int
scan_run(struct scan *sc)
{
  enum scan_state st = ST_VALUE;

  if (sc->len >= 3 && memcmp(sc->s, "\xef\xbb\xbf", 3) == 0)
    sc->pos = 3;
  for (;;) {
    unsigned char c;

    skip_ws(sc);
    if (st == ST_VALUE) {
      if (sc->pos >= sc->len)
        return scan_fail(sc, SCAN_SYNTAX, sc->len);
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
      } else if (c == '-' || is_digit(c)) {
        if (scan_number(sc) != 0)
          return -1;
      } else if (c == 't' || c == 'f' || c == 'n') {
        if (scan_literal(sc, c == 't' ? "true" : c == 'f' ? "false" : "null"))
          return -1;
      } else {
        return scan_fail(sc, SCAN_SYNTAX, sc->pos);
      }
      if (value_end(sc) != 0)
        return -1;
      st = ST_AFTER;
    } else if (st == ST_KEY) {
      int top = sc->depth == 1;

      if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
        return scan_fail(sc, SCAN_SYNTAX, sc->pos);
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
        return scan_fail(sc, SCAN_SYNTAX, sc->pos);
      sc->pos++;
      st = ST_VALUE;
    } else {
      unsigned char top;

      if (sc->depth == 0) {
        if (sc->pos != sc->len)
          return scan_fail(sc, SCAN_SYNTAX, sc->pos);
        return 0;
      }
      if (sc->pos >= sc->len)
        return scan_fail(sc, SCAN_SYNTAX, sc->len);
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
        return scan_fail(sc, SCAN_SYNTAX, sc->pos);
      }
    }
  }
}

/* Turns a strict scan failure into "<field>: <reason> at byte N". */
static int
scan_error(const struct scan *sc, struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
  const char *field = "job";
  size_t at = sc->err_pos;

  switch (sc->err) {
  case SCAN_SYNTAX:
    return pacer_error_set(err, PACER_EJOB, "job: invalid JSON at byte %zu",
                           at);
  case SCAN_NOMEM:
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  default:
    break;
  }
  if (sc->err_in_name) {
    const char *what = sc->err == SCAN_UTF8   ? "invalid UTF-8"
                       : sc->err == SCAN_CTRL ? "unescaped control character"
                       : sc->err == SCAN_NUL  ? "\\u0000 (NUL)"
                                              : "unpaired UTF-16 surrogate";

    return pacer_error_set(err, PACER_EJOB,
                           "job: %s in a field name at byte %zu", what, at);
  }
  if (sc->depth >= 1 && sc->stack[0] == '{' && sc->have_field)
    field = show(sc->field, strlen(sc->field), buf, sizeof(buf));
  switch (sc->err) {
  case SCAN_DEPTH:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: nesting deeper than %d levels at byte %zu",
                           field, PACER_JOB_MAX_DEPTH, at);
  case SCAN_UTF8:
    return pacer_error_set(err, PACER_EJOB, "%s: invalid UTF-8 at byte %zu",
                           field, at);
  case SCAN_CTRL:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: unescaped control character at byte %zu", field,
                           at);
  case SCAN_NUL:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: \\u0000 (NUL) is not allowed at byte %zu",
                           field, at);
  case SCAN_SURROGATE:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: unpaired UTF-16 surrogate at byte %zu", field,
                           at);
  case SCAN_NUMBER:
    return pacer_error_set(err, PACER_EJOB,
                           "%s: number longer than %d characters at byte %zu",
                           field, NUMBER_MAX_CHARS, at);
  default:
    return pacer_error_set(err, PACER_EJOB, "job: invalid JSON at byte %zu",
                           at);
  }
}

/* ------------------------------------------------------------------------
 * Field checks. Each takes the cJSON item of one top-level field.
 * ------------------------------------------------------------------------ */

struct parse_ctx {
  struct pacer_job *job;
  const char *text;      /* the job text, as scanned */
  const struct scan *sc; /* where "body" and "meta" lie in text */
  const struct pacer_job_limits *limits;
  int have_id;
  int have_url;
};

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
field_id(struct parse_ctx *cx, const cJSON *item, struct pacer_error *err)
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
field_method(struct parse_ctx *cx, const cJSON *item, struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
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
      show(item->valuestring, strlen(item->valuestring), buf, sizeof(buf)));
}

static int
is_alpha(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* http(s) URL checks. Deliberately not a full RFC 3986 parser: curl parses
 * the URL again; here we only refuse what must never reach it. */
static int
check_url(const char *url, struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
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

    if (!(is_alpha(c) ||
          (slen > 0 && (is_digit(c) || c == '+' || c == '-' || c == '.'))))
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
                           show(url, slen, buf, sizeof(buf)));
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
      if (!is_digit((unsigned char)*p) || v > 65535)
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
field_url(struct parse_ctx *cx, const cJSON *item, struct pacer_error *err)
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
  return is_alpha(c) || is_digit(c) ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
check_header(const struct pacer_job *job, const char *name, const cJSON *v,
             struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
  size_t i, n = strlen(name);
  const char *s;

  for (i = 0; i < n; i++) {
    if (!is_tchar((unsigned char)name[i]))
      break;
  }
  if (n == 0 || i < n)
    return pacer_error_set(err, PACER_EJOB,
                           "headers: \"%s\" is not a valid header name",
                           show(name, n, buf, sizeof(buf)));
  show(name, n, buf, sizeof(buf));
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
field_headers(struct parse_ctx *cx, const cJSON *item, struct pacer_error *err)
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
field_body(struct parse_ctx *cx, const cJSON *item, struct pacer_error *err)
{
  struct pacer_job *job = cx->job;

  if (cJSON_IsNull(item))
    return 0;
  if (cJSON_IsString(item)) {
    job->body_len = strlen(item->valuestring);
    job->body = dup_bytes(item->valuestring, job->body_len);
  } else if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
    const struct span *v = &cx->sc->body;

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
field_timeout_ms(struct parse_ctx *cx, const cJSON *item,
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
field_max_attempts(struct parse_ctx *cx, const cJSON *item,
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
field_not_before(struct parse_ctx *cx, const cJSON *item,
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
field_limit_key(struct parse_ctx *cx, const cJSON *item,
                struct pacer_error *err)
{
  return get_name(item, "limit_key", &cx->job->limit_key, err);
}

static int
field_credential(struct parse_ctx *cx, const cJSON *item,
                 struct pacer_error *err)
{
  return get_name(item, "credential", &cx->job->credential, err);
}

static int
field_meta(struct parse_ctx *cx, const cJSON *item, struct pacer_error *err)
{
  const struct span *v = &cx->sc->meta;
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
field_priority(struct parse_ctx *cx, const cJSON *item, struct pacer_error *err)
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
field_retry_unsafe(struct parse_ctx *cx, const cJSON *item,
                   struct pacer_error *err)
{
  if (!cJSON_IsBool(item))
    return pacer_error_set(err, PACER_EJOB,
                           "retry_unsafe: must be true or false");
  cx->job->retry_unsafe = cJSON_IsTrue(item);
  return 0;
}

static int
field_http_version(struct parse_ctx *cx, const cJSON *item,
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
  int (*check)(struct parse_ctx *cx, const cJSON *item,
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
    {"limit_key", field_limit_key},
    {"credential", field_credential},
    {"meta", field_meta},
    {"priority", field_priority},
    {"retry_unsafe", field_retry_unsafe},
    {"http_version", field_http_version},
};

static int
parse_fields(struct parse_ctx *cx, const cJSON *root, const char *default_id,
             struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
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
      return pacer_error_set(err, PACER_EJOB, "%s: unknown field",
                             show(name, strlen(name), buf, sizeof(buf)));
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
  return 0;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

void
pacer_job_limits_default(struct pacer_job_limits *limits)
{
  limits->max_bytes = PACER_JOB_MAX_BYTES_DEFAULT;
  limits->default_timeout_ms = 30000;
  limits->default_max_attempts = 5; /* issue 3: retries by default */
}

const char *
pacer_method_name(enum pacer_method method)
{
  switch (method) {
  case PACER_METHOD_GET:
    return "GET";
  case PACER_METHOD_POST:
    return "POST";
  case PACER_METHOD_PUT:
    return "PUT";
  case PACER_METHOD_PATCH:
    return "PATCH";
  case PACER_METHOD_DELETE:
    return "DELETE";
  case PACER_METHOD_HEAD:
    return "HEAD";
  }
  return "UNKNOWN";
}

int
pacer_job_parse(const char *json, size_t len, const char *default_id,
                const struct pacer_job_limits *limits, struct pacer_job **out,
                struct pacer_error *err)
{
  struct pacer_job_limits lim;
  struct scan sc;
  struct parse_ctx cx;
  const char *text = json, *end = NULL;
  size_t text_len = len;
  cJSON *root = NULL;
  int rc;

  assert(out != NULL);
  *out = NULL;
  pacer_error_clear(err);
  pacer_job_limits_default(&lim);
  if (limits != NULL) {
    if (limits->max_bytes > 0)
      lim.max_bytes = limits->max_bytes;
    if (limits->default_timeout_ms > 0)
      lim.default_timeout_ms = limits->default_timeout_ms;
    if (limits->default_max_attempts > 0)
      lim.default_max_attempts = limits->default_max_attempts;
  }
  if (len > lim.max_bytes)
    return pacer_error_set(err, PACER_ETOOLARGE,
                           "job: %zu bytes exceeds the %zu-byte limit", len,
                           lim.max_bytes);
  if (json == NULL)
    return pacer_error_set(err, PACER_EJOB, "job: invalid JSON at byte 0");

  memset(&sc, 0, sizeof(sc));
  sc.s = (const unsigned char *)json;
  sc.len = len;
  sc.strict = 1;
  if (scan_run(&sc) != 0)
    return scan_error(&sc, err);
  if (sc.pos > 0 && len >= 3 && memcmp(json, "\xef\xbb\xbf", 3) == 0) {
    text += 3; /* cJSON skips a BOM only when 5 or more bytes follow it */
    text_len -= 3;
  }

  /* The scan accepted the text, so cJSON can only fail for memory. */
  root = cJSON_ParseWithLengthOpts(text, text_len, &end, 0);
  if (root == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return pacer_error_set(err, PACER_EJOB, "job: must be a JSON object");
  }

  memset(&cx, 0, sizeof(cx));
  cx.limits = &lim;
  cx.text = json;
  cx.sc = &sc;
  cx.job = calloc(1, sizeof(*cx.job));
  if (cx.job == NULL) {
    cJSON_Delete(root);
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  }
  cx.job->method = PACER_METHOD_GET;
  cx.job->timeout_ms = lim.default_timeout_ms;
  cx.job->max_attempts = lim.default_max_attempts;
  cx.job->priority = PACER_PRIORITY_NORMAL;
  rc = parse_fields(&cx, root, default_id, err);
  cJSON_Delete(root);
  if (rc != 0) {
    pacer_job_free(cx.job);
    return rc;
  }
  *out = cx.job;
  return 0;
}

const char *
pacer_job_header_get(const struct pacer_job *job, const char *name)
{
  size_t i;

  for (i = 0; i < job->nheaders; i++) {
    /* RFC 9110 §5.1: field names are case-insensitive */
    if (strcasecmp(job->headers[i].name, name) == 0)
      return job->headers[i].value;
  }
  return NULL;
}

const char *
pacer_job_content_type(const struct pacer_job *job)
{
  const char *ct = pacer_job_header_get(job, "Content-Type");

  if (ct != NULL)
    return ct;
  return job->body != NULL && job->body_is_json ? "application/json" : NULL;
}

void
pacer_job_free(struct pacer_job *job)
{
  size_t i;

  if (job == NULL)
    return;
  for (i = 0; i < job->nheaders; i++) {
    free(job->headers[i].name);
    free(job->headers[i].value);
  }
  free(job->headers);
  free(job->id);
  free(job->url);
  free(job->body);
  free(job->credential);
  free(job->limit_key);
  free(job->meta_json);
  free(job);
}

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
  while (i < n && (is_alpha((unsigned char)u[i]) ||
                   (i > 0 && (is_digit((unsigned char)u[i]) || u[i] == '+' ||
                              u[i] == '-' || u[i] == '.'))))
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
    if (hex4(s + i + 2, n - i - 2, &cp) != 0)
      break; /* cannot happen after the scan */
    i += 6;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 6 <= n && s[i] == '\\' &&
        s[i + 1] == 'u' && hex4(s + i + 2, n - i - 2, &lo) == 0 &&
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
      if (hex4((const unsigned char *)hex, 4, &v) == 0) {
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
  copy = dup_bytes(s, n);
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
  struct scan sc;
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
    if (scan_run(&sc) != 0) {
      if (sc.err == SCAN_NOMEM) {
        free(sc.spans);
        return NULL;
      }
      /* Cut at the syntax error; a value still open there is a secret
       * whose end we never saw. */
      stop = sc.err_pos;
      if (sc.span_open && span_add(&sc, sc.span_start, stop) != 0) {
        free(sc.spans);
        return NULL;
      }
      if (sc.url_open && sc.value_start < stop) {
        if (span_add(&sc, sc.value_start, stop) != 0) {
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

int
pacer_job_peek_id(const char *json, size_t len, char *out, size_t size)
{
  const char *end = NULL;
  cJSON *root, *id;
  int rc = PACER_ENOTFOUND;

  if (len == 0 || len > (size_t)64 * 1024 * 1024)
    return PACER_ENOTFOUND;
  root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (root == NULL)
    return PACER_ENOTFOUND;
  id = cJSON_GetObjectItemCaseSensitive(root, "id");
  if (cJSON_IsString(id) && id->valuestring != NULL &&
      pacer_job_id_check(id->valuestring, NULL) == 0 &&
      strlen(id->valuestring) < size) {
    memcpy(out, id->valuestring, strlen(id->valuestring) + 1);
    rc = 0;
  }
  cJSON_Delete(root);
  return rc;
}
