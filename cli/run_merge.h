/* `pacer run --merge FILE`: the items of every page of every `paginate`
 * chain with an "items" pointer, one JSON line per item (docs/CHAINS.md).
 * Main thread of `pacer run`. */
#ifndef PACER_CLI_RUN_MERGE_H
#define PACER_CLI_RUN_MERGE_H

#include <stddef.h>
#include <stdio.h>

#include <hiredis/hiredis.h>

#include "common/err.h"

/** Reads the job lines of in (borrowed, rewound first; a file, not a
 *  pipe) for the chains' "items" pointers, then the results stream key
 *  after entry id after (both borrowed) on c, and writes every item of
 *  every page result of those chains to out (borrowed), in the order the
 *  pages finished. *items is set to the items written, *pages to the
 *  pages read. Returns 0, PACER_EINVAL when a page's body was cut or is
 *  not JSON (err names the page), or the error of the read, with err
 *  set. */
int pacer_run_merge(redisContext *c, const char *key, const char *after,
                    FILE *in, FILE *out, size_t *items, size_t *pages,
                    struct pacer_error *err);

struct pacer_config;

/** `pacer run --merge PATH` (PATH borrowed, NULL when not given): checks
 *  that the job file in (borrowed) can be read again (not standard
 *  input), opens PATH into *merged ("-": stdout), and raises cfg's
 *  result_body_max_bytes to response_max_bytes so pages are whole.
 *  Returns 0 (also without PATH, *merged NULL), or -1 after printing why. */
int pacer_run_merge_open(const char *path, FILE *in, FILE **merged,
                         struct pacer_config *cfg);

/** Writes the merged items (pacer_run_merge) into merged and prints how
 *  many. Returns 0, or -1 after printing why. */
int pacer_run_merge_finish(redisContext *c, const char *key, const char *after,
                           FILE *in, FILE *merged, const char *path);

#endif
