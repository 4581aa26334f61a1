/* Where a config error is, and what a mistyped field name was meant to
 * be: `pacer_config_load` (scheduler/config_load.c) prefixes a parse
 * error with FILE:LINE:COLUMN, and the parsers add "did you mean" to an
 * unknown field. Pure; tests/unit/test_config_locate.c. */
#ifndef PACER_CORE_CONFIG_LOCATE_H
#define PACER_CORE_CONFIG_LOCATE_H

#include <stddef.h>

/** Finds in the JSON text json[0..len) (borrowed) where the error message
 *  msg (borrowed: "<path>: <reason>" from pacer_config_parse, the path as
 *  "prefix", "limits[1].rate" or "credentials.acme.client_secret"; or
 *  "config: invalid JSON at byte N") points: the key of the named member
 *  (its second occurrence for "duplicate field"), or byte N. Sets *line
 *  and *col (1-based; the column counts UTF-8 characters). Returns 1 when
 *  found, 0 otherwise (then *line and *col are 0). */
int pacer_config_locate(const char *json, size_t len, const char *msg,
                        unsigned *line, unsigned *col);

/** Writes "; did you mean \"NAME\"?" into buf (size bytes, always
 *  NUL-terminated) when one of the n names (a table of structs of stride
 *  bytes, each starting with its `const char *name`) is within a small
 *  edit distance of the unknown name (Damerau-Levenshtein: 1 for names
 *  up to 4 bytes, else 2, and less than half the name), "" otherwise.
 *  Returns buf. */
const char *pacer_config_did_you_mean(const char *name, const void *table,
                                      size_t n, size_t stride, char *buf,
                                      size_t size);

#endif
