/* `pacer run --out-dir DIR`: response bodies over PACER_RUN_BODY_FILE_MIN
 * bytes go to files of their own, and the result line names the file
 * (docs/CHAINS.md "Reports": a downloaded report is often megabytes). Main
 * thread of `pacer run`. */
#ifndef PACER_CLI_RUN_BODIES_H
#define PACER_CLI_RUN_BODIES_H

#include <stddef.h>

#include "common/err.h"
#include "store/results.h"

#define PACER_RUN_BODY_FILE_MIN 65536u /* bytes: larger bodies go to files */

/** Checks that dir (borrowed) is a writable directory. Returns 0, or
 *  PACER_EIO with err "--out-dir <dir>: <reason>". */
int pacer_run_bodies_check(const char *dir, struct pacer_error *err);

/** When f (nfields, borrowed) holds a "body" over PACER_RUN_BODY_FILE_MIN
 *  bytes, writes it to <dir>/<id>.body (id with every byte but
 *  [A-Za-z0-9._@#:-] made "_") and fills out (nfields + 1 entries,
 *  caller's) with f, its body emptied and a "body_file" field naming the
 *  file (path, caller's buffer of path_size bytes). Returns 1 (out filled,
 *  *nout set), 0 (no such body: use f), or PACER_EIO with err set. */
int pacer_run_body_to_file(const char *dir, const struct pacer_results_field *f,
                           size_t nfields, struct pacer_results_field *out,
                           size_t *nout, char *path, size_t path_size,
                           struct pacer_error *err);

#endif
