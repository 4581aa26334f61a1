/* UTF-8 checks, cuts and repair for text that goes into JSON (RFC 8259
 * §8.1: JSON text exchanged between systems is UTF-8). Pure functions: no
 * I/O, no global state. Well-formed means RFC 3629 §4: no overlong forms,
 * no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. U+0000 (a NUL
 * byte) is well-formed. */
#ifndef PACER_COMMON_UTF8_H
#define PACER_COMMON_UTF8_H

#include <stddef.h>

/** Returns the length in bytes of the longest prefix of s (len bytes,
 *  borrowed, need not be NUL-terminated) that is well-formed UTF-8; len
 *  when all of s is. Any thread. Source: RFC 3629 §4. */
size_t pacer_utf8_valid_prefix_len(const char *s, size_t len);

/** Reads one unit at the start of s (len > 0 bytes, borrowed): a
 *  well-formed sequence (*ok = 1) or the maximal ill-formed subpart that
 *  one U+FFFD replaces (*ok = 0). Returns its length in bytes, 1..4. Any
 *  thread. Source: Unicode 15 §3.9, RFC 3629 §4. */
size_t pacer_utf8_unit(const char *s, size_t len, int *ok);

/** Returns where to cut s (len bytes, borrowed) to keep at most max_bytes
 *  without splitting a character: the largest n <= max_bytes, n <= len,
 *  such that s[0..n) does not end inside a well-formed multi-byte
 *  sequence. Ill-formed bytes are units of their own and may be cut
 *  between. Any thread. */
size_t pacer_utf8_cut_len(const char *s, size_t len, size_t max_bytes);

/** Returns a NUL-terminated copy of s (len bytes, borrowed) in which every
 *  maximal ill-formed subpart is replaced by U+FFFD (EF BF BD), with
 *  *out_len (may be NULL) set to its length without the terminator. NUL
 *  bytes are copied as they are (U+0000 is well-formed). Returns owned
 *  memory (free with free), or NULL when out of memory. Any thread.
 *  Source: Unicode 15 §3.9, "U+FFFD Substitution of Maximal Subparts". */
char *pacer_utf8_sanitize(const char *s, size_t len, size_t *out_len);

/** Length of the longest prefix of s[0..len) (borrowed) that is
 *  well-formed UTF-8 without control characters (C0, DEL, C1: U+0000 to
 *  U+001F, U+007F to U+009F): len when all of it is printable text. */
size_t pacer_utf8_printable_len(const char *s, size_t len);

#endif
