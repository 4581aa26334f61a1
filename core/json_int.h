/* Reading JSON integers exactly. cJSON keeps numbers as doubles, so an
 * integer field must be checked for being integral and in range before it
 * is used. Pure; shared by the job and config parsers. */
#ifndef PACER_CORE_JSON_INT_H
#define PACER_CORE_JSON_INT_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/err.h"

/** Reads item (borrowed) as an integer in [lo, hi] (|lo|, |hi| < 2^53).
 *  Returns 0 and *out, or code (PACER_EJOB, PACER_ECONFIG, ...) with err
 *  "<name>: must be an integer" or "<name>: must be between LO and HI".
 *  name borrowed. Any thread. */
int pacer_json_get_int(const cJSON *item, const char *name, int64_t lo,
                       int64_t hi, int code, int64_t *out,
                       struct pacer_error *err);

#endif
