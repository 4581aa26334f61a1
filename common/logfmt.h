/* logfmt lines read back, and rendered as JSON (e2e_logs).
 *
 * pacer_log builds every event once, as a logfmt line:
 *
 *   ts=2026-11-29T08:00:00.123Z level=info comp=sched msg="job finished"
 *   job=c-1 lane=acct:42 attempt=2 status=503
 *
 * With --log-format json the same line is rendered as one JSON object whose
 * members are the pairs in order, every value a JSON string:
 *
 *   {"ts":"2026-11-29T08:00:00.123Z","level":"info","comp":"sched",
 *    "msg":"job finished","job":"c-1","lane":"acct:42","attempt":"2",
 *    "status":"503"}
 *
 * Values are strings even when they look like numbers, so a field never
 * changes type between lines (job=123 and job=c-1 are both strings).
 * Quoted logfmt values are unescaped first (\" \\ \n \r \t \xNN, the
 * escapes of pacer_log_quote), then escaped for JSON (RFC 8259 §7): quote,
 * backslash, and every control byte and DEL as \uXXXX or a short escape.
 * Ill-formed UTF-8 becomes \ufffd, one per maximal ill-formed subpart. A
 * key seen twice gets "_2", "_3" ... appended. Pure functions: no I/O, no
 * allocation, no global state. */
#ifndef PACER_COMMON_LOGFMT_H
#define PACER_COMMON_LOGFMT_H

#include <stddef.h>

#define PACER_LOGFMT_JSON_MIN 64 /* smallest out buffer, bytes */

/** One key=value pair of a logfmt line; pointers into the line. */
struct pacer_logfmt_pair {
  const char *key; /* borrowed from the line */
  size_t key_len;  /* bytes */
  const char *val; /* borrowed; still escaped when quoted */
  size_t val_len;  /* bytes, without the quotes */
  int quoted;      /* the value was written "..." */
};

/** Reads the pair at line[*pos..len) (line borrowed, need not be
 *  NUL-terminated) and advances *pos past it. A word without "=" is a key
 *  with an empty value. A quoted value ends at the first unescaped `"`
 *  that is followed by the end of the line or by spaces and the next
 *  `key=`; an unquoted one at the next space. Returns 1 with *pair set, or
 *  0 when no pair is left. Any thread. */
int pacer_logfmt_next(const char *line, size_t len, size_t *pos,
                      struct pacer_logfmt_pair *pair);

/** Copies the value of pair (borrowed) into buf (size >= 1 bytes),
 *  unescaping a quoted value, and NUL-terminates it (the value may itself
 *  hold NUL bytes from \x00). Returns the value's length in bytes, cut to
 *  size - 1. Any thread. */
size_t pacer_logfmt_unescape(const struct pacer_logfmt_pair *pair, char *buf,
                             size_t size);

/** Renders the logfmt line[0..len) (borrowed) as one JSON object, without
 *  a newline, into out (size >= PACER_LOGFMT_JSON_MIN bytes) and
 *  NUL-terminates it. The object is always complete and valid: when out is
 *  full, the value being written is cut at a character boundary, later
 *  pairs are dropped and "truncated":"1" is added; so is a value longer
 *  than 2047 bytes, which is cut there. Returns the bytes
 *  written, without the NUL. Any thread. Source: RFC 8259 §7 (strings),
 *  Unicode 15 §3.9 (U+FFFD substitution). */
size_t pacer_logfmt_to_json(const char *line, size_t len, char *out,
                            size_t size);

#endif
