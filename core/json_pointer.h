/* JSON Pointer (RFC 6901) over cJSON trees, for throttle rules that read a
 * value in a response body or in a JSON header value
 * (core/throttle_rule.h). Pure; any thread.
 *
 *   ""                       the whole document
 *   "/error/code"            member "code" of member "error"
 *   "/details/0/retryDelay"  an array index: "0" or digits without a
 *                            leading zero
 *   "/a~1b/m~0n"             members "a/b" and "m~n" (RFC 6901 §4)
 *   "/x/" "*" "/y"           pacer's extension (written apart here only
 *                            to keep this comment a comment): a token that
 *                            is exactly "*" selects every member or
 *                            element, so a pointer may select several
 *                            values (a member really named "*" cannot be
 *                            reached)
 */
#ifndef PACER_CORE_JSON_POINTER_H
#define PACER_CORE_JSON_POINTER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

#define PACER_JSON_POINTER_MAX 256 /* pointer text, bytes */

/** Checks pointer p (borrowed): "" or "/"-separated tokens in which "~"
 *  is followed by "0" or "1" (RFC 6901 §3), at most PACER_JSON_POINTER_MAX
 *  bytes. Returns 0, or PACER_ECONFIG with err "<field>: <reason>" (field
 *  borrowed, e.g. "throttle_rules[0].delay[1].body"). */
int pacer_json_pointer_check(const char *p, const char *field,
                             struct pacer_error *err);

/** Visits every value of root (borrowed, may be NULL) that pointer p
 *  (borrowed, checked) selects, calling visit(v, arg) for each; a visit
 *  returning non-zero stops the walk. Returns the number of values
 *  visited. Any thread. Source: RFC 6901 §4 (evaluation). */
size_t pacer_json_pointer_each(const cJSON *root, const char *p,
                               int (*visit)(const cJSON *v, void *arg),
                               void *arg);

/** The first value of root (borrowed, may be NULL) that p (borrowed,
 *  checked) selects, or NULL; borrowed from root. For the job fields that
 *  point into a response body (core/paginate.h, core/poll.h). Any
 *  thread. */
const cJSON *pacer_json_pointer_get(const cJSON *root, const char *p);

#endif
