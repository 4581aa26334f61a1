/* The response headers one attempt brought back, parsed once per outcome
 * from the worker's JSON object (lower-case names, workers/pacer_http.h
 * headers_json) into the views the decision reads. Pure. */
#ifndef PACER_CORE_RESP_HEADERS_H
#define PACER_CORE_RESP_HEADERS_H

#include <cjson/cJSON.h>

#include "core/ratelimit_hdr.h"

/** Views into one parsed headers object. Every pointer is borrowed from
 *  root and lives until pacer_resp_headers_free. A zeroed struct is a
 *  valid "no headers". */
struct pacer_resp_headers {
  cJSON *root;                       /* owned parse tree, or NULL */
  struct pacer_ratelimit_headers rl; /* retry-after, date, rate-limit */
  const char *www_authenticate;      /* WWW-Authenticate, or NULL */
};

/** Parses json (borrowed, NUL-terminated, may be NULL) into *out once.
 *  Returns 0; PACER_ENOTFOUND when json is NULL, names none of these
 *  headers or is not a JSON object (out is then zeroed: no headers). Free with
 *  pacer_resp_headers_free either way. Any thread. */
int pacer_resp_headers_parse(const char *json, struct pacer_resp_headers *out);

/** Frees what pacer_resp_headers_parse kept in h and zeroes it. NULL does
 *  nothing. Any thread. */
void pacer_resp_headers_free(struct pacer_resp_headers *h);

#endif
