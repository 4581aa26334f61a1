/* logfmt lines read back and rendered as JSON. See logfmt.h for the
 * mapping; this file holds the tokenizer and one bounded JSON writer. */
#include "common/logfmt.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"
#include "common/util.h"

#define KEYS_TRACKED 48 /* keys checked for duplicates, per line */
/* Room always kept at the end of out: `"` closing a cut value,
 * `,"truncated":"1"`, `}` and the NUL. */
#define TAIL_RESERVE 24 /* bytes */

static int
is_key_byte(unsigned char c)
{
  return c > 0x20 && c < 0x7f && c != '=' && c != '"';
}

/* Does line[i..len) start with spaces and then `key=` (or end)? That is
 * where a quoted value may close. */
static int
pair_follows(const char *line, size_t len, size_t i)
{
  size_t k;

  if (i == len)
    return 1;
  if (line[i] != ' ')
    return 0;
  while (i < len && line[i] == ' ')
    i++;
  if (i == len)
    return 1;
  for (k = i; k < len && is_key_byte((unsigned char)line[k]); k++)
    ;
  return k > i && k < len && line[k] == '=';
}

int
pacer_logfmt_next(const char *line, size_t len, size_t *pos,
                  struct pacer_logfmt_pair *pair)
{
  size_t i = *pos;

  while (i < len && line[i] == ' ')
    i++;
  if (i >= len) {
    *pos = len;
    return 0;
  }
  memset(pair, 0, sizeof(*pair));
  pair->key = line + i;
  while (i < len && line[i] != ' ' && line[i] != '=')
    i++;
  pair->key_len = (size_t)(line + i - pair->key);
  if (i >= len || line[i] != '=') {
    pair->val = line + i; /* a bare word: empty value */
    *pos = i;
    return 1;
  }
  i++; /* '=' */
  if (i < len && line[i] == '"') {
    size_t start = ++i;

    pair->quoted = 1;
    while (i < len) {
      if (line[i] == '\\' && i + 1 < len) {
        i += 2;
        continue;
      }
      /* An unescaped quote inside the text (raw library messages) is
       * content unless a new pair or the end comes next. */
      if (line[i] == '"' && pair_follows(line, len, i + 1))
        break;
      i++;
    }
    pair->val = line + start;
    pair->val_len = i - start;
    *pos = i < len ? i + 1 : len; /* an unclosed value runs to the end */
    return 1;
  }
  pair->val = line + i;
  while (i < len && line[i] != ' ')
    i++;
  pair->val_len = (size_t)(line + i - pair->val);
  *pos = i;
  return 1;
}

size_t
pacer_logfmt_unescape(const struct pacer_logfmt_pair *pair, char *buf,
                      size_t size)
{
  const char *v = pair->val;
  size_t i = 0, n = 0;

  assert(size >= 1);
  while (i < pair->val_len && n + 1 < size) {
    char c = v[i];

    if (!pair->quoted || c != '\\' || i + 1 >= pair->val_len) {
      buf[n++] = c;
      i++;
      continue;
    }
    c = v[i + 1];
    if (c == 'x' && i + 3 < pair->val_len && pacer_hex_digit(v[i + 2]) >= 0 &&
        pacer_hex_digit(v[i + 3]) >= 0) {
      buf[n++] =
          (char)(pacer_hex_digit(v[i + 2]) * 16 + pacer_hex_digit(v[i + 3]));
      i += 4;
      continue;
    }
    if (c == '"' || c == '\\')
      buf[n++] = c;
    else if (c == 'n')
      buf[n++] = '\n';
    else if (c == 'r')
      buf[n++] = '\r';
    else if (c == 't')
      buf[n++] = '\t';
    else {
      buf[n++] = '\\'; /* not an escape we write: keep it as it is */
      if (n + 1 < size)
        buf[n++] = c;
    }
    i += 2;
  }
  buf[n] = '\0';
  return n;
}

/* A JSON writer into a fixed buffer: cap leaves TAIL_RESERVE bytes for
 * the closing text, so a cut object can always be completed. */
struct jw {
  char *p;
  size_t n;   /* bytes written */
  size_t cap; /* bytes usable before the tail reserve */
  int full;   /* something did not fit */
};

static int
put(struct jw *w, const char *s, size_t k)
{
  if (w->full || w->n + k > w->cap) {
    w->full = 1;
    return -1;
  }
  memcpy(w->p + w->n, s, k);
  w->n += k;
  return 0;
}

/* Appends s[0..len) escaped as the inside of a JSON string, one whole
 * escape or character at a time (RFC 8259 §7). */
static int
put_escaped(struct jw *w, const char *s, size_t len)
{
  static const char hex[] = "0123456789abcdef";
  size_t i = 0;

  while (i < len) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    int rc;

    if (c >= 0x80) {
      int ok;
      size_t u = pacer_utf8_unit(s + i, len - i, &ok);

      rc = ok ? put(w, s + i, u) : put(w, "\\ufffd", 6);
      i += u;
    } else {
      const char *e = NULL;

      switch (c) {
      case '"':
        e = "\\\"";
        break;
      case '\\':
        e = "\\\\";
        break;
      case '\n':
        e = "\\n";
        break;
      case '\r':
        e = "\\r";
        break;
      case '\t':
        e = "\\t";
        break;
      case '\b':
        e = "\\b";
        break;
      case '\f':
        e = "\\f";
        break;
      default:
        break;
      }
      if (e != NULL) {
        rc = put(w, e, 2);
      } else if (c < 0x20 || c == 0x7f) {
        /* DEL needs no escape in JSON; escaped so a terminal never sees
         * a raw control byte. */
        memcpy(esc, "\\u00", 4);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        rc = put(w, esc, 6);
      } else {
        rc = put(w, s + i, 1);
      }
      i++;
    }
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Appends past cap, into the tail reserve. */
static void
put_tail(struct jw *w, const char *s)
{
  size_t k = strlen(s);

  memcpy(w->p + w->n, s, k);
  w->n += k;
}

size_t
pacer_logfmt_to_json(const char *line, size_t len, char *out, size_t size)
{
  /* Unescaped values are never longer than the logfmt text. */
  char val[2048];
  const char *keys[KEYS_TRACKED];
  size_t key_lens[KEYS_TRACKED], nkeys = 0, pos = 0, members = 0;
  struct pacer_logfmt_pair pair;
  struct jw w;
  int in_value = 0;

  assert(size >= PACER_LOGFMT_JSON_MIN);
  w.p = out;
  w.n = 0;
  w.cap = size - TAIL_RESERVE;
  w.full = 0;
  put(&w, "{", 1);
  while (!w.full && pacer_logfmt_next(line, len, &pos, &pair)) {
    size_t mark = w.n, vlen, dups = 1, k;
    char suffix[24];

    for (k = 0; k < nkeys; k++) {
      if (key_lens[k] == pair.key_len &&
          memcmp(keys[k], pair.key, pair.key_len) == 0)
        dups++;
    }
    if (nkeys < KEYS_TRACKED) {
      keys[nkeys] = pair.key;
      key_lens[nkeys++] = pair.key_len;
    }
    suffix[0] = '\0';
    if (dups > 1)
      snprintf(suffix, sizeof(suffix), "_%zu", dups);
    if (put(&w, members > 0 ? ",\"" : "\"", members > 0 ? 2 : 1) != 0 ||
        put_escaped(&w, pair.key, pair.key_len) != 0 ||
        put(&w, suffix, strlen(suffix)) != 0 || put(&w, "\":\"", 3) != 0) {
      w.n = mark; /* no half key: drop the whole member */
      break;
    }
    members++;
    in_value = 1;
    vlen = pacer_logfmt_unescape(&pair, val, sizeof(val));
    if (put_escaped(&w, val, vlen) != 0 || put(&w, "\"", 1) != 0)
      break;
    in_value = 0;
    if (vlen == sizeof(val) - 1)
      w.full = 1; /* the value was longer than val: say it was cut */
  }
  if (in_value)
    put_tail(&w, "\"");
  if (w.full)
    put_tail(&w, members > 0 ? ",\"truncated\":\"1\"" : "\"truncated\":\"1\"");
  put_tail(&w, "}");
  out[w.n] = '\0';
  return w.n;
}
