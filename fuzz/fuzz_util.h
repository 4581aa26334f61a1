/* Helpers shared by the libFuzzer targets in fuzz/: an invariant check that
 * survives NDEBUG, and the line-oriented input format of the header
 * targets.
 *
 * Header targets read their input as lines ("\n"-separated, a trailing
 * "\r" kept as part of the value, since servers do send odd bytes):
 *
 *   now:1767225480000              wall clock, ms since the epoch
 *   Date: Wed, 31 Dec 2025 ...     the response Date
 *   <anything else>                target-specific (a header line)
 *
 * The seeds in fuzz/corpus/ are written in this format, so a crash input
 * can be read as text.
 */
#ifndef PACER_FUZZ_FUZZ_UTIL_H
#define PACER_FUZZ_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant the fuzzer must never break: abort() so libFuzzer records
 * the input as a crash. Not assert(): release builds define NDEBUG. */
#define PACER_FUZZ_CHECK(cond)                                                 \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* Wall clock used when the input has no "now:" line: 2025-12-31 23:58:00
 * GMT, the instant of the rate-limit unit tests. */
#define PACER_FUZZ_NOW_MS UINT64_C(1767225480000) /* ms since the epoch */

/** Returns an owned, NUL-terminated copy of data[0..size) with every '\n'
 *  turned into '\0', so each line is a C string (free with free()); walk
 *  it with pacer_fuzz_next_line. Aborts on out of memory. */
static inline char *
pacer_fuzz_lines(const uint8_t *data, size_t size)
{
  char *buf = malloc(size + 1);
  size_t i;

  PACER_FUZZ_CHECK(buf != NULL);
  if (size > 0)
    memcpy(buf, data, size);
  buf[size] = '\0';
  for (i = 0; i < size; i++) {
    if (buf[i] == '\n')
      buf[i] = '\0';
  }
  return buf;
}

/** Returns the line after *cur (a pointer into a pacer_fuzz_lines buffer
 *  of total length size + 1) and advances *cur; NULL past the last line. */
static inline const char *
pacer_fuzz_next_line(const char **cur, const char *buf, size_t size)
{
  const char *line = *cur;

  if (line >= buf + size)
    return NULL;
  *cur = line + strlen(line) + 1;
  return line;
}

/** Reads the digits of s as a saturating uint64_t (non-digits end it). */
static inline uint64_t
pacer_fuzz_u64(const char *s)
{
  uint64_t v = 0;

  for (; *s >= '0' && *s <= '9'; s++) {
    uint64_t d = (uint64_t)(*s - '0');

    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  return v;
}

/** Returns s without its prefix when s starts with prefix, else NULL. */
static inline const char *
pacer_fuzz_after(const char *s, const char *prefix)
{
  size_t n = strlen(prefix);

  return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

#endif
