/* One result entry of <prefix>results (docs/REDIS.md "Result entry") as
 * a line of output: a JSON object (one type per field, README.md "Result
 * entry") or a CSV row of the flat fields (RFC 4180). Pure: bytes in,
 * text out. Used by `pacer run` and `pacer submit --wait --out`.
 *
 *   number   status attempts throttled wait_ms duration_ms
 *            finished_unix_ms failed_unix_ms (dead letters) page pages
 *            items requests (chains, docs/CHAINS.md)
 *   boolean  body_truncated, summary ("1" in the stream -> true)
 *   JSON     headers meta (embedded; a string when not valid JSON)
 *   body     a string; when headers' content-type is JSON (application/json
 *            or any +json type, RFC 6839 §3.1), the body was not truncated
 *            and it parses, "body_json" holds the parsed value instead of
 *            "body"
 *   string   everything else (id state reason error ...)
 */
#ifndef PACER_CORE_RESULT_FMT_H
#define PACER_CORE_RESULT_FMT_H

#include <stddef.h>

/** One field of a result entry: name and value with their lengths (a
 *  value may hold NUL bytes). Borrowed for the call. */
struct pacer_result_field {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
};

/** The CSV header line (no newline) naming the columns of
 *  pacer_result_csv, in order. Static. */
const char *pacer_result_csv_header(void);

/** The result entry f[0..n) (borrowed) as one JSON object, without a
 *  newline. Every name and value is made well-formed UTF-8 first (RFC 8259
 *  §8.1; ill-formed bytes and NULs become U+FFFD). Returns owned text
 *  (free with cJSON_free), or NULL when out of memory. Any thread. */
char *pacer_result_json(const struct pacer_result_field *f, size_t n);

/** The flat fields of the result entry f[0..n) (borrowed) as one CSV row
 *  (RFC 4180: a value with a comma, quote, CR or LF is quoted, quotes
 *  doubled), without a line break, in the columns of
 *  pacer_result_csv_header; a missing field is empty. Returns owned text
 *  (free with free), or NULL when out of memory. Any thread. */
char *pacer_result_csv(const struct pacer_result_field *f, size_t n);

/** True when the media type ct (borrowed, NUL-terminated; parameters after
 *  ';' ignored, case-insensitive) is application/json or a +json type
 *  (RFC 8259 §11, RFC 6839 §3.1). */
int pacer_result_is_json_type(const char *ct);

#endif
