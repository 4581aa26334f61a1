/* Reading a small file whole: a configuration file or a secret. Plain
 * POSIX (open, fstat, read), no other library, so every layer above can
 * use it; the pure cores in core/ never call it (they take the bytes).
 */
#ifndef PACER_COMMON_FILE_H
#define PACER_COMMON_FILE_H

#include <stddef.h>

#include "common/err.h"

#define PACER_FILE_REGULAR 1u /* refuse anything but a regular file */
#define PACER_FILE_PRIVATE                                                     \
  2u /* refuse a file group or others may read                                 \
        (mode & 044), as for a secret */

/** Reads at most max_bytes of path (borrowed) into a new buffer. Opens
 *  with O_CLOEXEC | O_NOCTTY. flags: PACER_FILE_REGULAR and/or
 *  PACER_FILE_PRIVATE, checked on the open file before any byte is read.
 *  A file longer than max_bytes is not an error: *len is then max_bytes,
 *  so a caller that wants to notice an oversized file asks for one byte
 *  more than it accepts (st_size is not trusted: pipes have none).
 *  Returns 0 with *out (owned, malloc'd, max_bytes + 1 bytes, NUL at
 *  [*len]; wipe it with explicit_bzero before free when it held a
 *  secret), *len and *mode (st_mode; mode may be NULL). Errors return
 *  code (the caller's, e.g. PACER_ECONFIG) with err, every message
 *  starting with what (borrowed, e.g. "config" or the field naming the
 *  file): "<what>: <path>: <strerror>", "<what>: <path> is not a regular
 *  file", "<what>: <path> is readable by group or others (mode 0640);
 *  chmod 600 <path>"; or PACER_ENOMEM with "<what>: out of memory". On
 *  error nothing is left allocated and bytes already read are wiped.
 *  Any thread (reentrant: strerror_r). */
int pacer_file_read(const char *path, const char *what, size_t max_bytes,
                    unsigned flags, int code, char **out, size_t *len,
                    unsigned *mode, struct pacer_error *err);

#endif
