/* UTF-8 checks, cuts and repair. One decoder step, unit(), serves all
 * three: it reads one well-formed sequence, or the maximal ill-formed
 * subpart that a single U+FFFD replaces.
 *
 *   lead byte   length  second byte       (RFC 3629 §4, Unicode Table 3-7)
 *   00..7F      1
 *   C2..DF      2       80..BF
 *   E0          3       A0..BF            no overlong forms
 *   E1..EC      3       80..BF
 *   ED          3       80..9F            no surrogates
 *   EE..EF      3       80..BF
 *   F0          4       90..BF            no overlong forms
 *   F1..F3      4       80..BF
 *   F4          4       80..8F            nothing above U+10FFFF
 *   80..C1, F5..FF      never a lead byte
 *   later bytes         80..BF
 */
#include "common/utf8.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
#define REPLACEMENT_BYTES 3

/* Reads one unit at s (n > 0 bytes). Returns its length in bytes and sets
 * *ok to 1 for a well-formed sequence, or 0 for a maximal ill-formed
 * subpart (at least one byte). */
static size_t
unit(const unsigned char *s, size_t n, int *ok)
{
  unsigned char c = s[0];
  unsigned char lo = 0x80, hi = 0xbf;
  size_t need, k;

  *ok = 1;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    need = 2;
  else if (c >= 0xe0 && c <= 0xef)
    need = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    need = 4;
  else {
    *ok = 0;
    return 1;
  }
  if (c == 0xe0)
    lo = 0xa0;
  else if (c == 0xed)
    hi = 0x9f;
  else if (c == 0xf0)
    lo = 0x90;
  else if (c == 0xf4)
    hi = 0x8f;
  for (k = 1; k < need; k++) {
    if (k >= n || s[k] < lo || s[k] > hi) {
      *ok = 0;
      return k; /* the lead and the continuation bytes that fitted */
    }
    lo = 0x80;
    hi = 0xbf;
  }
  return need;
}

size_t
pacer_utf8_unit(const char *s, size_t len, int *ok)
{
  assert(len > 0);
  return unit((const unsigned char *)s, len, ok);
}

size_t
pacer_utf8_valid_prefix_len(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;

  while (i < len) {
    int ok;
    size_t u = unit(p + i, len - i, &ok);

    if (!ok)
      break;
    i += u;
  }
  return i;
}

size_t
pacer_utf8_cut_len(const char *s, size_t len, size_t max_bytes)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;

  if (max_bytes > len)
    max_bytes = len;
  while (i < max_bytes) {
    int ok;
    size_t u = unit(p + i, len - i, &ok);

    /* an ill-formed subpart is cut byte by byte: nothing to keep whole */
    if (!ok)
      u = 1;
    if (u > max_bytes - i)
      break;
    i += u;
  }
  return i;
}

char *
pacer_utf8_sanitize(const char *s, size_t len, size_t *out_len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, o = 0, bad = 0;
  char *out;

  /* Count first: each replaced subpart is at least one byte and grows to
   * at most three, so the size is known before copying. */
  while (i < len) {
    int ok;
    size_t u = unit(p + i, len - i, &ok);

    assert(ok || u < 4); /* an ill-formed subpart is 1..3 bytes */
    if (!ok)
      bad += REPLACEMENT_BYTES - u;
    i += u;
  }
  if (len > SIZE_MAX - 1 - bad)
    return NULL;
  out = malloc(len + bad + 1);
  if (out == NULL)
    return NULL;
  for (i = 0; i < len;) {
    int ok;
    size_t u = unit(p + i, len - i, &ok);

    if (ok) {
      memcpy(out + o, s + i, u);
      o += u;
    } else {
      memcpy(out + o, replacement, REPLACEMENT_BYTES);
      o += REPLACEMENT_BYTES;
    }
    i += u;
  }
  out[o] = '\0';
  if (out_len != NULL)
    *out_len = o;
  return out;
}

size_t
pacer_utf8_printable_len(const char *s, size_t len)
{
  size_t ok = pacer_utf8_valid_prefix_len(s, len), i;

  for (i = 0; i < ok; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c < 0x20 || c == 0x7f ||
        (c == 0xc2 && i + 1 < ok && (unsigned char)s[i + 1] <= 0x9f))
      return i;
  }
  return ok;
}
