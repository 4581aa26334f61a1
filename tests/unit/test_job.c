/* Unit tests for core/job.c: parsing, validation, redaction.
 *
 * The rejects are one table; each row runs as its own cmocka test named by
 * the row, and asserts the exact code and the exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "core/job.h"

/* A string literal and its length, so rows can hold NUL bytes. */
#define J(s) (s), (sizeof(s) - 1)

#define A16  "aaaaaaaaaaaaaaaa"
#define A128 A16 A16 A16 A16 A16 A16 A16 A16
#define D64  "1111111111111111111111111111111111111111111111111111111111111111"

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static struct pacer_job *
parse_ok(const char *json, const char *default_id)
{
  struct pacer_job *job = NULL;
  struct pacer_error err;
  int rc;

  rc = pacer_job_parse(json, strlen(json), default_id, NULL, &job, &err);
  if (rc != 0)
    print_error("unexpected error %s: %s\n", pacer_err_name(rc), err.msg);
  assert_int_equal(rc, 0);
  assert_non_null(job);
  return job;
}

static void
expect_reject(const char *json, size_t len, const char *default_id,
              const struct pacer_job_limits *limits, int code, const char *msg)
{
  struct pacer_job dummy;
  struct pacer_job *job = &dummy;
  struct pacer_error err;
  int rc;

  rc = pacer_job_parse(json, len, default_id, limits, &job, &err);
  assert_int_equal(rc, code);
  assert_int_equal(err.code, code);
  assert_string_equal(err.msg, msg);
  assert_null(job);
}

/* Returns an owned, NUL-terminated string: prefix, n copies of c, suffix. */
static char *
build(const char *prefix, size_t n, char c, const char *suffix)
{
  size_t a = strlen(prefix), b = strlen(suffix);
  char *s = malloc(a + n + b + 1);

  assert_non_null(s);
  memcpy(s, prefix, a);
  memset(s + a, c, n);
  memcpy(s + a + n, suffix, b + 1);
  return s;
}

static void
expect_redact(const char *json, size_t len, size_t max_bytes, const char *want)
{
  char *got = pacer_job_redact(json, len, max_bytes);

  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

/* ------------------------------------------------------------------------
 * Rejects: malformed and hostile input, exact code and message
 * ------------------------------------------------------------------------ */

struct reject {
  const char *name; /* the behaviour, as a sentence */
  const char *json;
  size_t len;             /* bytes */
  const char *default_id; /* NULL for none */
  size_t max_bytes;       /* 0 for the default limit */
  int code;
  const char *msg;
};

#define DID "d-1"

static struct reject rejects[] = {
    /* JSON text */
    {"rejects_empty_text", J(""), DID, 0, PACER_EJOB,
     "job: invalid JSON at byte 0"},
    {"rejects_whitespace_only_text", J("  \n"), DID, 0, PACER_EJOB,
     "job: invalid JSON at byte 3"},
    {"rejects_truncated_object", J("{\"url\":\"http://a\""), DID, 0, PACER_EJOB,
     "job: invalid JSON at byte 17"},
    {"rejects_trailing_garbage_after_the_object", J("{\"url\":\"http://a\"} x"),
     DID, 0, PACER_EJOB, "job: invalid JSON at byte 19"},
    {"rejects_trailing_comma", J("{\"url\":\"http://a\",}"), DID, 0, PACER_EJOB,
     "job: invalid JSON at byte 18"},
    {"rejects_single_quoted_strings", J("{'url':'http://a'}"), DID, 0,
     PACER_EJOB, "job: invalid JSON at byte 1"},
    {"rejects_unquoted_field_names", J("{url:\"http://a\"}"), DID, 0,
     PACER_EJOB, "job: invalid JSON at byte 1"},
    {"rejects_numbers_with_leading_zeros", J("{\"timeout_ms\":0123}"), DID, 0,
     PACER_EJOB, "job: invalid JSON at byte 15"},
    {"rejects_nan_literal", J("{\"timeout_ms\":NaN}"), DID, 0, PACER_EJOB,
     "job: invalid JSON at byte 14"},
    {"rejects_unknown_escape", J("{\"url\":\"http://a\\x\"}"), DID, 0,
     PACER_EJOB, "job: invalid JSON at byte 17"},
    {"rejects_short_unicode_escape", J("{\"url\":\"\\u12\"}"), DID, 0,
     PACER_EJOB, "job: invalid JSON at byte 8"},
    {"rejects_top_level_array", J("[]"), DID, 0, PACER_EJOB,
     "job: must be a JSON object"},
    {"rejects_top_level_string", J("\"http://a\""), DID, 0, PACER_EJOB,
     "job: must be a JSON object"},
    {"rejects_top_level_null", J("null"), DID, 0, PACER_EJOB,
     "job: must be a JSON object"},
    {"rejects_text_over_the_configured_size_limit", J("{\"url\":\"http://a\"}"),
     DID, 16, PACER_ETOOLARGE, "job: 18 bytes exceeds the 16-byte limit"},
    /* Bytes inside strings */
    {"rejects_invalid_utf8_in_url", J("{\"url\":\"http://a/\xff\"}"), DID, 0,
     PACER_EJOB, "url: invalid UTF-8 at byte 17"},
    {"rejects_overlong_utf8_in_id",
     J("{\"id\":\"a\xc0\xaf"
       "b\",\"url\":\"http://a\"}"),
     DID, 0, PACER_EJOB, "id: invalid UTF-8 at byte 8"},
    {"rejects_utf8_encoded_surrogate_in_meta",
     J("{\"url\":\"http://a\",\"meta\":\"\xed\xa0\x80\"}"), DID, 0, PACER_EJOB,
     "meta: invalid UTF-8 at byte 26"},
    {"rejects_invalid_utf8_in_a_field_name", J("{\"\xff\":1}"), DID, 0,
     PACER_EJOB, "job: invalid UTF-8 in a field name at byte 2"},
    {"rejects_raw_nul_byte_in_url", J("{\"url\":\"http://a\0b\"}"), DID, 0,
     PACER_EJOB, "url: unescaped control character at byte 16"},
    {"rejects_raw_newline_in_url", J("{\"url\":\"http://a\nb\"}"), DID, 0,
     PACER_EJOB, "url: unescaped control character at byte 16"},
    {"rejects_escaped_nul_in_header_value",
     J("{\"url\":\"http://a\",\"headers\":{\"X-A\":\"a\\u0000b\"}}"), DID, 0,
     PACER_EJOB, "headers: \\u0000 (NUL) is not allowed at byte 37"},
    {"rejects_unpaired_high_surrogate_escape",
     J("{\"url\":\"http://a\",\"meta\":\"\\ud800x\"}"), DID, 0, PACER_EJOB,
     "meta: unpaired UTF-16 surrogate at byte 26"},
    {"rejects_lone_low_surrogate_escape",
     J("{\"id\":\"\\udc00\",\"url\":\"http://a\"}"), DID, 0, PACER_EJOB,
     "id: unpaired UTF-16 surrogate at byte 7"},
    {"rejects_numbers_longer_than_cjson_can_read",
     J("{\"url\":\"http://a\",\"meta\":" D64 "}"), DID, 0, PACER_EJOB,
     "meta: number longer than 63 characters at byte 25"},
    /* Top-level fields */
    {"rejects_unknown_field", J("{\"url\":\"http://a\",\"retries\":3}"), DID, 0,
     PACER_EJOB, "retries: unknown field"},
    {"rejects_field_names_in_the_wrong_case", J("{\"URL\":\"http://a\"}"), DID,
     0, PACER_EJOB, "URL: unknown field"},
    {"rejects_unknown_field_and_shows_its_name_safely", J("{\"a\\nb\\\"c\":1}"),
     DID, 0, PACER_EJOB, "a?b?c: unknown field"},
    {"rejects_empty_field_name", J("{\"\":1}"), DID, 0, PACER_EJOB,
     "\"\": unknown field"},
    {"rejects_duplicate_field",
     J("{\"url\":\"http://a\",\"url\":\"http://b\"}"), DID, 0, PACER_EJOB,
     "url: duplicate field"},
    {"rejects_job_without_url", J("{\"id\":\"x\"}"), DID, 0, PACER_EJOB,
     "url: required field is missing"},
    /* id */
    {"rejects_job_without_id_or_default_id", J("{\"url\":\"http://a\"}"), NULL,
     0, PACER_EJOB, "id: required when no default id is given"},
    {"rejects_empty_id", J("{\"id\":\"\",\"url\":\"http://a\"}"), DID, 0,
     PACER_EJOB, "id: must not be empty"},
    {"rejects_id_with_a_space", J("{\"id\":\"a b\",\"url\":\"http://a\"}"), DID,
     0, PACER_EJOB, "id: must be printable ASCII without spaces"},
    {"rejects_id_with_an_escaped_newline",
     J("{\"id\":\"a\\nb\",\"url\":\"http://a\"}"), DID, 0, PACER_EJOB,
     "id: must be printable ASCII without spaces"},
    {"rejects_id_with_non_ascii_characters",
     J("{\"id\":\"caf\\u00e9\",\"url\":\"http://a\"}"), DID, 0, PACER_EJOB,
     "id: must be printable ASCII without spaces"},
    {"rejects_id_longer_than_128_bytes",
     J("{\"id\":\"" A128 "a\",\"url\":\"http://a\"}"), DID, 0, PACER_EJOB,
     "id: longer than 128 bytes"},
    {"rejects_numeric_id", J("{\"id\":7,\"url\":\"http://a\"}"), DID, 0,
     PACER_EJOB, "id: must be a string"},
    {"rejects_invalid_default_id", J("{\"url\":\"http://a\"}"), "a b", 0,
     PACER_EJOB, "id: must be printable ASCII without spaces"},
    /* method */
    {"rejects_lowercase_method", J("{\"url\":\"http://a\",\"method\":\"get\"}"),
     DID, 0, PACER_EJOB,
     "method: \"get\" is not supported, use GET, POST, PUT, PATCH, DELETE or "
     "HEAD"},
    {"rejects_connect_method",
     J("{\"url\":\"http://a\",\"method\":\"CONNECT\"}"), DID, 0, PACER_EJOB,
     "method: \"CONNECT\" is not supported, use GET, POST, PUT, PATCH, DELETE "
     "or HEAD"},
    {"rejects_non_string_method", J("{\"url\":\"http://a\",\"method\":1}"), DID,
     0, PACER_EJOB, "method: must be a string"},
    /* url */
    {"rejects_file_url", J("{\"url\":\"file:///etc/passwd\"}"), DID, 0,
     PACER_EJOB, "url: scheme \"file\" is not allowed, use http or https"},
    {"rejects_javascript_url", J("{\"url\":\"javascript:alert(1)\"}"), DID, 0,
     PACER_EJOB,
     "url: scheme \"javascript\" is not allowed, use http or https"},
    {"rejects_gopher_url_in_upper_case", J("{\"url\":\"GOPHER://a/\"}"), DID, 0,
     PACER_EJOB, "url: scheme \"GOPHER\" is not allowed, use http or https"},
    {"rejects_url_without_scheme", J("{\"url\":\"example.com/x\"}"), DID, 0,
     PACER_EJOB, "url: must start with http:// or https://"},
    {"rejects_url_with_one_slash", J("{\"url\":\"http:/a\"}"), DID, 0,
     PACER_EJOB, "url: must start with http:// or https://"},
    {"rejects_url_with_empty_host", J("{\"url\":\"http:///x\"}"), DID, 0,
     PACER_EJOB, "url: host is empty"},
    {"rejects_url_with_userinfo_and_no_host", J("{\"url\":\"http://user@/x\"}"),
     DID, 0, PACER_EJOB, "url: host is empty"},
    {"rejects_url_with_a_space", J("{\"url\":\"http://a/b c\"}"), DID, 0,
     PACER_EJOB, "url: contains whitespace or a control character at byte 10"},
    {"rejects_url_with_crlf_injection",
     J("{\"url\":\"http://a/\\r\\nHost: evil\"}"), DID, 0, PACER_EJOB,
     "url: contains whitespace or a control character at byte 9"},
    {"rejects_url_with_c1_control_character",
     J("{\"url\":\"http://a/\\u0085\"}"), DID, 0, PACER_EJOB,
     "url: contains whitespace or a control character at byte 9"},
    {"rejects_url_port_above_65535", J("{\"url\":\"http://a:65536/\"}"), DID, 0,
     PACER_EJOB, "url: port must be a number between 1 and 65535"},
    {"rejects_url_port_zero", J("{\"url\":\"http://a:0/\"}"), DID, 0,
     PACER_EJOB, "url: port must be a number between 1 and 65535"},
    {"rejects_url_non_numeric_port", J("{\"url\":\"http://a:b@c:x/\"}"), DID, 0,
     PACER_EJOB, "url: port must be a number between 1 and 65535"},
    {"rejects_ipv6_url_without_closing_bracket",
     J("{\"url\":\"http://[::1/\"}"), DID, 0, PACER_EJOB,
     "url: IPv6 host has no closing \"]\""},
    {"rejects_empty_url", J("{\"url\":\"\"}"), DID, 0, PACER_EJOB,
     "url: must not be empty"},
    {"rejects_non_string_url", J("{\"url\":[\"http://a\"]}"), DID, 0,
     PACER_EJOB, "url: must be a string"},
    /* headers */
    {"rejects_headers_given_as_array",
     J("{\"url\":\"http://a\",\"headers\":[\"X-A: 1\"]}"), DID, 0, PACER_EJOB,
     "headers: must be an object"},
    {"rejects_header_name_with_a_space",
     J("{\"url\":\"http://a\",\"headers\":{\"X A\":\"1\"}}"), DID, 0,
     PACER_EJOB, "headers: \"X A\" is not a valid header name"},
    {"rejects_http2_pseudo_header",
     J("{\"url\":\"http://a\",\"headers\":{\":authority\":\"b\"}}"), DID, 0,
     PACER_EJOB, "headers: \":authority\" is not a valid header name"},
    {"rejects_empty_header_name",
     J("{\"url\":\"http://a\",\"headers\":{\"\":\"1\"}}"), DID, 0, PACER_EJOB,
     "headers: \"\" is not a valid header name"},
    {"rejects_crlf_in_header_name",
     J("{\"url\":\"http://a\",\"headers\":{\"A\\r\\nB\":\"1\"}}"), DID, 0,
     PACER_EJOB, "headers: \"A??B\" is not a valid header name"},
    {"rejects_crlf_in_header_value",
     J("{\"url\":\"http://a\",\"headers\":{\"X-A\":\"1\\r\\nEvil: 1\"}}"), DID,
     0, PACER_EJOB,
     "headers: value of \"X-A\" contains CR or LF (header injection)"},
    {"rejects_bare_lf_in_header_value",
     J("{\"url\":\"http://a\",\"headers\":{\"X-A\":\"1\\nEvil: 1\"}}"), DID, 0,
     PACER_EJOB,
     "headers: value of \"X-A\" contains CR or LF (header injection)"},
    {"rejects_control_character_in_header_value",
     J("{\"url\":\"http://a\",\"headers\":{\"X-A\":\"\\u0007\"}}"), DID, 0,
     PACER_EJOB, "headers: value of \"X-A\" contains a control character"},
    {"rejects_non_string_header_value",
     J("{\"url\":\"http://a\",\"headers\":{\"X-A\":5}}"), DID, 0, PACER_EJOB,
     "headers: value of \"X-A\" must be a string"},
    {"rejects_content_length_header",
     J("{\"url\":\"http://a\",\"headers\":{\"Content-Length\":\"5\"}}"), DID, 0,
     PACER_EJOB,
     "headers: \"Content-Length\" is computed from the body and cannot be "
     "set"},
    {"rejects_transfer_encoding_header_in_any_case",
     J("{\"url\":\"http://"
       "a\",\"headers\":{\"transfer-encoding\":\"chunked\"}}"),
     DID, 0, PACER_EJOB,
     "headers: \"transfer-encoding\" is managed by the HTTP client and cannot "
     "be set"},
    {"rejects_connection_header",
     J("{\"url\":\"http://a\",\"headers\":{\"Connection\":\"close\"}}"), DID, 0,
     PACER_EJOB,
     "headers: \"Connection\" is managed by the HTTP client and cannot be "
     "set"},
    {"rejects_header_names_repeated_in_another_case",
     J("{\"url\":\"http://a\",\"headers\":{\"X-A\":\"1\",\"x-a\":\"2\"}}"), DID,
     0, PACER_EJOB, "headers: \"x-a\" is given more than once"},
    /* body */
    {"rejects_numeric_body", J("{\"url\":\"http://a\",\"body\":5}"), DID, 0,
     PACER_EJOB, "body: must be an object, array, string or null"},
    {"rejects_boolean_body", J("{\"url\":\"http://a\",\"body\":true}"), DID, 0,
     PACER_EJOB, "body: must be an object, array, string or null"},
    {"rejects_body_with_head",
     J("{\"body\":\"x\",\"method\":\"HEAD\",\"url\":\"http://a\"}"), DID, 0,
     PACER_EJOB, "body: not allowed with HEAD"},
    /* integers */
    {"rejects_zero_timeout", J("{\"url\":\"http://a\",\"timeout_ms\":0}"), DID,
     0, PACER_EJOB, "timeout_ms: must be between 1 and 86400000"},
    {"rejects_fractional_timeout",
     J("{\"url\":\"http://a\",\"timeout_ms\":1.5}"), DID, 0, PACER_EJOB,
     "timeout_ms: must be an integer"},
    {"rejects_timeout_given_as_string",
     J("{\"url\":\"http://a\",\"timeout_ms\":\"100\"}"), DID, 0, PACER_EJOB,
     "timeout_ms: must be an integer"},
    {"rejects_timeout_that_overflows_a_double_range",
     J("{\"url\":\"http://a\",\"timeout_ms\":1e300}"), DID, 0, PACER_EJOB,
     "timeout_ms: must be between 1 and 86400000"},
    {"rejects_timeout_over_a_day",
     J("{\"url\":\"http://a\",\"timeout_ms\":86400001}"), DID, 0, PACER_EJOB,
     "timeout_ms: must be between 1 and 86400000"},
    {"rejects_zero_max_attempts",
     J("{\"url\":\"http://a\",\"max_attempts\":0}"), DID, 0, PACER_EJOB,
     "max_attempts: must be between 1 and 100"},
    {"rejects_max_attempts_over_100",
     J("{\"url\":\"http://a\",\"max_attempts\":101}"), DID, 0, PACER_EJOB,
     "max_attempts: must be between 1 and 100"},
    {"rejects_zero_deadline", J("{\"url\":\"http://a\",\"deadline_ms\":0}"),
     DID, 0, PACER_EJOB, "deadline_ms: must be between 1 and 9007199254740992"},
    {"rejects_string_deadline",
     J("{\"url\":\"http://a\",\"deadline_ms\":\"1h\"}"), DID, 0, PACER_EJOB,
     "deadline_ms: must be an integer"},
    {"rejects_negative_not_before",
     J("{\"url\":\"http://a\",\"not_before\":-1}"), DID, 0, PACER_EJOB,
     "not_before: must be between 0 and 9007199254740992"},
    {"rejects_not_before_above_2_pow_53",
     J("{\"url\":\"http://a\",\"not_before\":9007199254740994}"), DID, 0,
     PACER_EJOB, "not_before: must be between 0 and 9007199254740992"},
    {"rejects_fractional_not_before",
     J("{\"url\":\"http://a\",\"not_before\":1.5}"), DID, 0, PACER_EJOB,
     "not_before: must be an integer"},
    {"rejects_null_not_before", J("{\"url\":\"http://a\",\"not_before\":null}"),
     DID, 0, PACER_EJOB, "not_before: must be an integer"},
    /* names */
    {"rejects_empty_limit_key", J("{\"url\":\"http://a\",\"limit_key\":\"\"}"),
     DID, 0, PACER_EJOB, "limit_key: must be 1 to 128 bytes"},
    {"rejects_limit_key_over_128_bytes",
     J("{\"url\":\"http://a\",\"limit_key\":\"" A128 "a\"}"), DID, 0,
     PACER_EJOB, "limit_key: must be 1 to 128 bytes"},
    {"rejects_non_string_credential",
     J("{\"url\":\"http://a\",\"credential\":{}}"), DID, 0, PACER_EJOB,
     "credential: must be a string"},
    {"rejects_credential_with_a_control_character",
     J("{\"url\":\"http://a\",\"credential\":\"a\\tb\"}"), DID, 0, PACER_EJOB,
     "credential: must not contain control characters"},
};

static void
run_reject(void **state)
{
  const struct reject *r = *state;
  struct pacer_job_limits lim;

  pacer_job_limits_default(&lim);
  lim.max_bytes = r->max_bytes;
  expect_reject(r->json, r->len, r->default_id, &lim, r->code, r->msg);
}

/* ------------------------------------------------------------------------
 * Rejects that need generated input
 * ------------------------------------------------------------------------ */

static void
job_rejects_text_over_the_default_1_mib_limit(void **state)
{
  size_t n = PACER_JOB_MAX_BYTES_DEFAULT + 1;
  char *s = build("", n, ' ', "");

  (void)state;
  expect_reject(s, n, DID, NULL, PACER_ETOOLARGE,
                "job: 1048577 bytes exceeds the 1048576-byte limit");
  free(s);
}

static void
job_accepts_text_of_exactly_1_mib(void **state)
{
  const char *pre = "{\"url\":\"http://a\",\"body\":\"";
  size_t n = PACER_JOB_MAX_BYTES_DEFAULT - strlen(pre) - 2;
  char *s = build(pre, n, 'x', "\"}");
  struct pacer_job *job;

  (void)state;
  assert_int_equal(strlen(s), PACER_JOB_MAX_BYTES_DEFAULT);
  job = parse_ok(s, DID);
  assert_int_equal(job->body_len, n);
  pacer_job_free(job);
  free(s);
}

static void
job_rejects_nesting_deeper_than_64_levels(void **state)
{
  /* the object is level 1, so the 64th "[" opens level 65 at byte 25+63 */
  char *s = build("{\"url\":\"http://a\",\"meta\":", 64, '[', "");

  (void)state;
  expect_reject(s, strlen(s), DID, NULL, PACER_EJOB,
                "meta: nesting deeper than 64 levels at byte 88");
  free(s);
}

static void
job_accepts_nesting_of_exactly_64_levels(void **state)
{
  char *open = build("{\"url\":\"http://a\",\"meta\":", 63, '[', "");
  char *close = build(open, 63, ']', "}");
  struct pacer_job *job;

  (void)state;
  job = parse_ok(close, DID);
  assert_non_null(job->meta_json);
  assert_int_equal(strlen(job->meta_json), 126);
  pacer_job_free(job);
  free(open);
  free(close);
}

static void
job_survives_100000_open_brackets_without_recursing(void **state)
{
  char *s = build("", 100000, '[', "");

  (void)state;
  expect_reject(s, strlen(s), DID, NULL, PACER_EJOB,
                "job: nesting deeper than 64 levels at byte 64");
  free(s);
}

static void
job_rejects_url_over_8192_bytes(void **state)
{
  char *url = build("http://a/", 8193 - 9, 'x', "");
  char *json = malloc(strlen(url) + 32);

  (void)state;
  assert_non_null(json);
  snprintf(json, strlen(url) + 32, "{\"url\":\"%s\"}", url);
  expect_reject(json, strlen(json), DID, NULL, PACER_EJOB,
                "url: 8193 bytes exceeds the 8192-byte limit");
  free(url);
  free(json);
}

static void
job_accepts_url_of_exactly_8192_bytes(void **state)
{
  char *json = build("{\"url\":\"http://a/", 8192 - 9, 'x', "\"}");
  struct pacer_job *job;

  (void)state;
  job = parse_ok(json, DID);
  assert_int_equal(strlen(job->url), 8192);
  pacer_job_free(job);
  free(json);
}

/* Returns owned text of a job with n headers X-0 .. X-(n-1). */
static char *
job_with_headers(size_t n)
{
  size_t cap = 64 + n * 16, o;
  char *s = malloc(cap);
  size_t i;

  assert_non_null(s);
  o = (size_t)snprintf(s, cap, "{\"url\":\"http://a\",\"headers\":{");
  for (i = 0; i < n; i++)
    o += (size_t)snprintf(s + o, cap - o, "%s\"X-%zu\":\"v\"", i ? "," : "", i);
  snprintf(s + o, cap - o, "}}");
  return s;
}

/* Header sizes: a value over 16 KiB, a name over 256 bytes and 64 KiB of
 * headers in all are rejected before sending; a value of exactly 16 KiB is
 * accepted. */
static void
job_rejects_oversized_header_names_values_and_totals(void **state)
{
  char *s;
  struct pacer_job *job;
  size_t i, o;

  (void)state;
  s = build("{\"url\":\"http://h/\",\"headers\":{\"X-Big\":\"", 16385, 'v',
            "\"}}");
  expect_reject(s, strlen(s), DID, NULL, PACER_EJOB,
                "headers: value of \"X-Big\" is 16385 bytes, over the "
                "16384-byte limit");
  free(s);
  s = build("{\"url\":\"http://h/\",\"headers\":{\"X-Big\":\"", 16384, 'v',
            "\"}}");
  job = parse_ok(s, DID);
  assert_int_equal(strlen(pacer_job_header_get(job, "X-Big")), 16384);
  pacer_job_free(job);
  free(s);
  s = build("{\"url\":\"http://h/\",\"headers\":{\"X", 256, 'n', "\":\"v\"}}");
  {
    struct pacer_job dummy;
    struct pacer_job *j = &dummy;
    struct pacer_error err;

    assert_int_equal(pacer_job_parse(s, strlen(s), DID, NULL, &j, &err),
                     PACER_EJOB);
    assert_non_null(strstr(err.msg, "is longer than 256 bytes"));
    assert_null(j);
  }
  free(s);
  /* five 15 KiB values: 75 KiB in all */
  s = malloc(100000);
  assert_non_null(s);
  o = (size_t)snprintf(s, 100000, "{\"url\":\"http://h/\",\"headers\":{");
  for (i = 0; i < 5; i++) {
    o += (size_t)snprintf(s + o, 100000 - o, "%s\"X-%zu\":\"", i ? "," : "", i);
    memset(s + o, 'v', 15360);
    o += 15360;
    s[o++] = '"';
  }
  memcpy(s + o, "}}", 3);
  expect_reject(s, strlen(s), DID, NULL, PACER_EJOB,
                "headers: more than 65536 bytes of names and values in all");
  free(s);
}

static void
job_rejects_more_than_64_headers(void **state)
{
  char *s = job_with_headers(65);

  (void)state;
  expect_reject(s, strlen(s), DID, NULL, PACER_EJOB,
                "headers: more than 64 headers");
  free(s);
}

static void
job_accepts_64_headers(void **state)
{
  char *s = job_with_headers(64);
  struct pacer_job *job;

  (void)state;
  job = parse_ok(s, DID);
  assert_int_equal(job->nheaders, 64);
  assert_string_equal(job->headers[63].name, "X-63");
  pacer_job_free(job);
  free(s);
}

static void
job_rejects_meta_over_64_kib(void **state)
{
  /* 65536 characters plus two quotes serialise to 65538 bytes */
  char *s = build("{\"url\":\"http://a\",\"meta\":\"", 65536, 'm', "\"}");

  (void)state;
  expect_reject(s, strlen(s), DID, NULL, PACER_EJOB,
                "meta: 65538 bytes exceeds the 65536-byte limit");
  free(s);
}

static void
job_accepts_meta_of_exactly_64_kib(void **state)
{
  char *s = build("{\"url\":\"http://a\",\"meta\":\"", 65534, 'm', "\"}");
  struct pacer_job *job;

  (void)state;
  job = parse_ok(s, DID);
  assert_int_equal(strlen(job->meta_json), 65536);
  pacer_job_free(job);
  free(s);
}

/* ------------------------------------------------------------------------
 * Valid jobs
 * ------------------------------------------------------------------------ */

static void
job_minimal_job_takes_every_default(void **state)
{
  struct pacer_job *job = parse_ok("{\"url\":\"http://example.com\"}", "1-0");

  (void)state;
  assert_string_equal(job->id, "1-0");
  assert_int_equal(job->method, PACER_METHOD_GET);
  assert_string_equal(job->url, "http://example.com");
  assert_int_equal(job->nheaders, 0);
  assert_null(job->headers);
  assert_null(job->body);
  assert_int_equal(job->body_len, 0);
  assert_int_equal(job->body_is_json, 0);
  assert_null(job->credential);
  assert_null(job->limit_key);
  assert_int_equal(job->max_attempts, 5);
  assert_int_equal(job->timeout_ms, 30000);
  assert_int_equal(job->not_before_unix_ms, 0);
  assert_null(job->meta_json);
  assert_null(pacer_job_content_type(job));
  pacer_job_free(job);
}

static void
job_limits_supply_defaults_for_absent_fields(void **state)
{
  const char *text = "{\"url\":\"http://a\"}";
  struct pacer_job_limits lim = {0, 5000, 3};
  struct pacer_job *job = NULL;
  struct pacer_error err;

  (void)state;
  assert_int_equal(pacer_job_parse(text, strlen(text), DID, &lim, &job, &err),
                   0);
  assert_int_equal(job->timeout_ms, 5000);
  assert_int_equal(job->max_attempts, 3);
  pacer_job_free(job);
}

static void
job_priority_and_retry_unsafe_are_read(void **state)
{
  static const char text[] =
      "{\"url\":\"https://a.example/\",\"priority\":\"high\","
      "\"retry_unsafe\":true}";
  struct pacer_job *job = NULL;
  struct pacer_error err;

  (void)state;
  assert_int_equal(pacer_job_parse(text, strlen(text), "d-1", NULL, &job, &err),
                   0);
  assert_int_equal(job->priority, PACER_PRIORITY_HIGH);
  assert_true(job->retry_unsafe);
  pacer_job_free(job);
}

static void
job_bad_priority_names_the_field(void **state)
{
  static const char text[] =
      "{\"url\":\"https://a.example/\",\"priority\":\"urgent\"}";
  struct pacer_job *job = NULL;
  struct pacer_error err;

  (void)state;
  assert_int_equal(pacer_job_parse(text, strlen(text), "d-1", NULL, &job, &err),
                   PACER_EJOB);
  assert_string_equal(err.msg,
                      "priority: must be \"high\", \"normal\" or \"low\"");
  assert_null(job);
}

/* The HTTP version a job asks for (docs/WORKERS.md), default unchanged. */
static void
job_http_version_is_read_and_defaults_to_2tls(void **state)
{
  static const char *const texts[] = {
      "{\"url\":\"http://a/\"}",
      "{\"url\":\"http://a/\",\"http_version\":\"1.1\"}",
      "{\"url\":\"http://a/\",\"http_version\":\"2\"}",
      "{\"url\":\"http://a/\",\"http_version\":\"2-prior-knowledge\"}"};
  static const enum pacer_job_http want[] = {
      PACER_JOB_HTTP_DEFAULT, PACER_JOB_HTTP_1_1, PACER_JOB_HTTP_2,
      PACER_JOB_HTTP_2_PRIOR_KNOWLEDGE};
  struct pacer_error err;
  size_t i;

  (void)state;
  for (i = 0; i < 4; i++) {
    struct pacer_job *job = NULL;

    assert_int_equal(
        pacer_job_parse(texts[i], strlen(texts[i]), "d-1", NULL, &job, &err),
        0);
    assert_int_equal(job->http_version, want[i]);
    pacer_job_free(job);
  }
}

static void
job_bad_http_version_names_the_field(void **state)
{
  static const char *const texts[] = {
      "{\"url\":\"http://a/\",\"http_version\":\"3\"}",
      "{\"url\":\"http://a/\",\"http_version\":2}",
      "{\"url\":\"http://a/\",\"http_version\":null}"};
  struct pacer_error err;
  size_t i;

  (void)state;
  for (i = 0; i < 3; i++) {
    struct pacer_job *job = NULL;

    assert_int_equal(
        pacer_job_parse(texts[i], strlen(texts[i]), "d-1", NULL, &job, &err),
        PACER_EJOB);
    assert_string_equal(err.msg, "http_version: must be \"1.1\", \"2\" or "
                                 "\"2-prior-knowledge\"");
    assert_null(job);
  }
}

static void
job_limits_default_is_1_mib_30_s_and_five_attempts(void **state)
{
  struct pacer_job_limits lim;

  (void)state;
  pacer_job_limits_default(&lim);
  assert_int_equal(lim.max_bytes, 1048576);
  assert_int_equal(lim.default_timeout_ms, 30000);
  assert_int_equal(lim.default_max_attempts, 5);
}

static void
job_parses_every_field(void **state)
{
  struct pacer_job *job = parse_ok(
      "{\"id\":\"c-123\",\"method\":\"PUT\","
      "\"url\":\"https://api.example/v1/x?q=1\","
      "\"headers\":{\"Content-Type\":\"text/plain\",\"X-Req\":\"a\\tb\"},"
      "\"body\":\"hello\",\"credential\":\"acme\",\"limit_key\":\"acct-42\","
      "\"max_attempts\":5,\"timeout_ms\":1e3,\"not_before\":1764403200000,"
      "\"meta\":{\"k\":[1,true,null]}}",
      "ignored");

  (void)state;
  assert_string_equal(job->id, "c-123");
  assert_int_equal(job->method, PACER_METHOD_PUT);
  assert_string_equal(job->url, "https://api.example/v1/x?q=1");
  assert_int_equal(job->nheaders, 2);
  assert_string_equal(job->headers[0].name, "Content-Type");
  assert_string_equal(job->headers[0].value, "text/plain");
  assert_string_equal(job->headers[1].name, "X-Req");
  assert_string_equal(job->headers[1].value, "a\tb");
  assert_string_equal(job->body, "hello");
  assert_int_equal(job->body_len, 5);
  assert_int_equal(job->body_is_json, 0);
  assert_string_equal(job->credential, "acme");
  assert_string_equal(job->limit_key, "acct-42");
  assert_int_equal(job->max_attempts, 5);
  assert_int_equal(job->timeout_ms, 1000);
  assert_true(job->not_before_unix_ms == UINT64_C(1764403200000));
  assert_string_equal(job->meta_json, "{\"k\":[1,true,null]}");
  pacer_job_free(job);
}

static void
job_given_id_wins_over_default_id(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"id\":\"mine\",\"url\":\"http://a\"}", "1700000000000-0");

  (void)state;
  assert_string_equal(job->id, "mine");
  pacer_job_free(job);
}

static void
job_accepts_id_of_128_printable_bytes(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"id\":\"" A128 "\",\"url\":\"http://a\"}", NULL);

  (void)state;
  assert_int_equal(strlen(job->id), 128);
  pacer_job_free(job);
}

static void
job_accepts_every_method(void **state)
{
  static const char *const names[] = {"GET",   "POST",   "PUT",
                                      "PATCH", "DELETE", "HEAD"};
  char text[128];
  size_t i;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(names); i++) {
    struct pacer_job *job;

    snprintf(text, sizeof(text), "{\"url\":\"http://a\",\"method\":\"%s\"}",
             names[i]);
    job = parse_ok(text, DID);
    assert_int_equal(job->method, (int)i);
    assert_string_equal(pacer_method_name(job->method), names[i]);
    pacer_job_free(job);
  }
}

static void
job_object_body_is_serialised_unformatted_and_marked_json(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"http://a\",\"method\":\"POST\","
               "\"body\": { \"a\" : [ 1 , 2.5 ] ,\n \"b\" : \"x\\\"y\" } }",
               DID);

  (void)state;
  assert_string_equal(job->body, "{\"a\":[1,2.5],\"b\":\"x\\\"y\"}");
  assert_int_equal(job->body_len, strlen(job->body));
  assert_int_equal(job->body_is_json, 1);
  assert_null(pacer_job_header_get(job, "Content-Type"));
  assert_string_equal(pacer_job_content_type(job), "application/json");
  pacer_job_free(job);
}

static void
job_array_body_is_serialised_and_marked_json(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"http://a\",\"body\":[ {} , [] ]}", DID);

  (void)state;
  assert_string_equal(job->body, "[{},[]]");
  assert_int_equal(job->body_is_json, 1);
  pacer_job_free(job);
}

static void
job_json_body_keeps_the_given_content_type(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"http://a\",\"body\":{},"
               "\"headers\":{\"content-type\":\"application/vnd.x+json\"}}",
               DID);

  (void)state;
  assert_string_equal(pacer_job_header_get(job, "Content-Type"),
                      "application/vnd.x+json");
  assert_string_equal(pacer_job_content_type(job), "application/vnd.x+json");
  pacer_job_free(job);
}

static void
job_string_body_is_passed_through_unchanged(void **state)
{
  struct pacer_job *job = parse_ok(
      "{\"url\":\"http://a\",\"body\":\"a=1&b=\\u00e9\\n{not json\"}", DID);

  (void)state;
  assert_string_equal(job->body, "a=1&b=\xc3\xa9\n{not json");
  assert_int_equal(job->body_len, 18);
  assert_int_equal(job->body_is_json, 0);
  assert_null(pacer_job_content_type(job));
  pacer_job_free(job);
}

static void
job_empty_string_body_is_an_empty_body(void **state)
{
  struct pacer_job *job = parse_ok("{\"url\":\"http://a\",\"body\":\"\"}", DID);

  (void)state;
  assert_non_null(job->body);
  assert_int_equal(job->body_len, 0);
  pacer_job_free(job);
}

static void
job_null_body_means_no_body(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"http://a\",\"method\":\"HEAD\",\"body\":null}", DID);

  (void)state;
  assert_null(job->body);
  assert_int_equal(job->body_is_json, 0);
  pacer_job_free(job);
}

static void
job_allows_a_body_with_get(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"http://a\",\"body\":\"q\"}", DID);

  (void)state;
  assert_int_equal(job->method, PACER_METHOD_GET);
  assert_string_equal(job->body, "q");
  pacer_job_free(job);
}

static void
job_meta_is_echoed_unformatted_with_escapes_kept(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"http://a\",\"meta\":{ \"order\" : 42 , \"tags\" : "
               "[ \"a\" , \"\\u00e9\" ] , \"n\" : null }}",
               DID);

  (void)state;
  assert_string_equal(job->meta_json,
                      "{\"order\":42,\"tags\":[\"a\",\"\\u00e9\"],\"n\":null}");
  pacer_job_free(job);
}

static void
job_scalar_meta_is_echoed(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"http://a\",\"meta\":\"x\"}", DID);

  (void)state;
  assert_string_equal(job->meta_json, "\"x\"");
  pacer_job_free(job);
}

static void
job_null_meta_means_no_meta(void **state)
{
  struct pacer_job *job = parse_ok("{\"url\":\"http://a\",\"meta\":null}", DID);

  (void)state;
  assert_null(job->meta_json);
  pacer_job_free(job);
}

static void
job_accepts_upper_case_scheme_and_userinfo_and_port(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"HTTPS://u:p@Example.COM:8443/a?b#c\"}", DID);

  (void)state;
  assert_string_equal(job->url, "HTTPS://u:p@Example.COM:8443/a?b#c");
  pacer_job_free(job);
}

static void
job_accepts_ipv6_host_and_empty_port(void **state)
{
  struct pacer_job *job = parse_ok("{\"url\":\"http://[::1]:/x\"}", DID);

  (void)state;
  assert_string_equal(job->url, "http://[::1]:/x");
  pacer_job_free(job);
}

static void
job_accepts_a_host_header_override(void **state)
{
  struct pacer_job *job = parse_ok(
      "{\"url\":\"http://10.0.0.1\",\"headers\":{\"Host\":\"a.b\"}}", DID);

  (void)state;
  assert_string_equal(pacer_job_header_get(job, "host"), "a.b");
  pacer_job_free(job);
}

static void
job_header_get_ignores_case_and_misses_return_null(void **state)
{
  struct pacer_job *job = parse_ok(
      "{\"url\":\"http://a\",\"headers\":{\"X-Trace-Id\":\"t1\",\"Accept\":"
      "\"\"}}",
      DID);

  (void)state;
  assert_string_equal(pacer_job_header_get(job, "x-trace-id"), "t1");
  assert_string_equal(pacer_job_header_get(job, "ACCEPT"), "");
  assert_null(pacer_job_header_get(job, "X-Trace"));
  pacer_job_free(job);
}

static void
job_not_before_accepts_2_pow_53(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"http://a\",\"not_before\":9007199254740992}", DID);

  (void)state;
  assert_true(job->not_before_unix_ms == UINT64_C(9007199254740992));
  pacer_job_free(job);
}

static void
job_integers_may_be_written_with_fraction_or_exponent(void **state)
{
  struct pacer_job *job = parse_ok(
      "{\"url\":\"http://a\",\"max_attempts\":1.0E2,\"timeout_ms\":86400000,"
      "\"not_before\":-0}",
      DID);

  (void)state;
  assert_int_equal(job->max_attempts, 100);
  assert_int_equal(job->timeout_ms, 86400000);
  assert_int_equal(job->not_before_unix_ms, 0);
  pacer_job_free(job);
}

static void
job_json_body_and_meta_keep_every_number_exactly(void **state)
{
  struct pacer_job *job =
      parse_ok("{\"url\":\"http://a\",\"method\":\"POST\",\"body\":{\"id\": "
               "9007199254740993, \"p\": 1.50, \"e\": 1E+3, \"z\": -0},"
               "\"meta\":[12345678901234567890, 0.1000]}",
               DID);

  (void)state;
  assert_string_equal(
      job->body, "{\"id\":9007199254740993,\"p\":1.50,\"e\":1E+3,\"z\":-0}");
  assert_string_equal(job->meta_json, "[12345678901234567890,0.1000]");
  pacer_job_free(job);
}

static void
job_accepts_utf8_and_escaped_astral_characters_in_meta(void **state)
{
  struct pacer_job *job = parse_ok(
      "{\"url\":\"http://a\",\"meta\":\"\xe2\x82\xac \\ud83d\\ude00\"}", DID);

  (void)state;
  assert_string_equal(job->meta_json, "\"\xe2\x82\xac \\ud83d\\ude00\"");
  pacer_job_free(job);
}

static void
job_skips_a_leading_utf8_bom(void **state)
{
  struct pacer_job *job = parse_ok("\xef\xbb\xbf{\"url\":\"http://a\"}", DID);

  (void)state;
  assert_string_equal(job->url, "http://a");
  pacer_job_free(job);
}

static void
job_reads_only_len_bytes_of_unterminated_input(void **state)
{
  /* the bytes after len would make the text invalid */
  const char text[] = "{\"url\":\"http://a\"}GARBAGE";
  struct pacer_job *job = NULL;
  struct pacer_error err;

  (void)state;
  assert_int_equal(pacer_job_parse(text, 18, DID, NULL, &job, &err), 0);
  assert_string_equal(job->url, "http://a");
  pacer_job_free(job);
}

static void
job_free_of_null_does_nothing(void **state)
{
  (void)state;
  pacer_job_free(NULL);
}

static void
job_method_name_of_unknown_value_is_unknown(void **state)
{
  (void)state;
  assert_string_equal(pacer_method_name((enum pacer_method)99), "UNKNOWN");
}

/* ------------------------------------------------------------------------
 * Secrets and redaction
 * ------------------------------------------------------------------------ */

static void
header_is_secret_matches_credential_headers(void **state)
{
  (void)state;
  assert_true(pacer_header_is_secret("Authorization"));
  assert_true(pacer_header_is_secret("proxy-authorization"));
  assert_true(pacer_header_is_secret("COOKIE"));
  assert_true(pacer_header_is_secret("X-Api-Key"));
  assert_true(pacer_header_is_secret("X-Auth-Token"));
  assert_true(pacer_header_is_secret("Private-Token"));
  assert_true(pacer_header_is_secret("X-Client-Secret"));
  assert_true(pacer_header_is_secret("Ocp-Apim-Subscription-Key"));
}

static void
header_is_secret_leaves_ordinary_headers_alone(void **state)
{
  (void)state;
  assert_false(pacer_header_is_secret("Accept"));
  assert_false(pacer_header_is_secret("Content-Type"));
  assert_false(pacer_header_is_secret("X-Request-Id"));
  assert_false(pacer_header_is_secret("Host"));
  assert_false(pacer_header_is_secret(""));
}

static void
redact_replaces_secret_header_values_only(void **state)
{
  const char *in =
      "{\"url\":\"http://a\",\"headers\":{\"Authorization\":\"Bearer abc\","
      "\"Accept\":\"text/plain\",\"X-Api-Key\":\"k1\"},"
      "\"meta\":{\"headers\":{\"Authorization\":\"kept\"}}}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"url\":\"http://a\",\"headers\":{\"Authorization\":"
                "\"[redacted]\",\"Accept\":\"text/plain\",\"X-Api-Key\":"
                "\"[redacted]\"},\"meta\":{\"headers\":{\"Authorization\":"
                "\"kept\"}}}");
}

/* Found by fuzz_job: the parser skips a leading UTF-8 BOM, so redaction
 * must too, or a BOM-prefixed job's token reached the dead letter. */
static void
redact_sees_past_a_leading_bom(void **state)
{
  const char *in = "\xef\xbb\xbf{\"url\":\"http://a\",\"headers\":"
                   "{\"Authorization\":\"Bearer abc\"}}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "\xef\xbb\xbf{\"url\":\"http://a\",\"headers\":"
                "{\"Authorization\":\"[redacted]\"}}");
}

static void
redact_keeps_the_original_formatting(void **state)
{
  const char *in = "{ \"headers\" : { \"Cookie\" : \"a=b\" } ,\n"
                   "  \"url\" : \"http://a\" , \"n\": 1.50 }";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{ \"headers\" : { \"Cookie\" : \"[redacted]\" } ,\n"
                "  \"url\" : \"http://a\" , \"n\": 1.50 }");
}

static void
redact_sees_through_escaped_header_names(void **state)
{
  const char *in = "{\"headers\":{\"Authoriz\\u0061tion\":\"x\"}}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"headers\":{\"Authoriz\\u0061tion\":\"[redacted]\"}}");
}

static void
redact_replaces_non_string_secret_values_whole(void **state)
{
  const char *in = "{\"headers\":{\"X-Token\":{\"a\":[1,2]},\"B\":\"c\"}}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"headers\":{\"X-Token\":\"[redacted]\",\"B\":\"c\"}}");
}

static void
redact_replaces_headers_that_are_not_an_object(void **state)
{
  const char *in = "{\"headers\":\"Authorization: Bearer abc\",\"url\":\"x\"}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"headers\":\"[redacted]\",\"url\":\"x\"}");
}

static void
redact_treats_headers_field_name_case_insensitively(void **state)
{
  const char *in = "{\"Headers\":{\"Authorization\":\"x\"},"
                   "\"headers\":{\"Cookie\":\"y\"}}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"Headers\":{\"Authorization\":\"[redacted]\"},"
                "\"headers\":{\"Cookie\":\"[redacted]\"}}");
}

static void
redact_is_not_stopped_by_invalid_utf8_elsewhere(void **state)
{
  const char *in = "{\"url\":\"\xff\",\"headers\":{\"Cookie\":\"c\"}}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"url\":\"\xff\",\"headers\":{\"Cookie\":\"[redacted]\"}}");
}

static void
redact_cuts_malformed_object_at_the_syntax_error(void **state)
{
  const char *in =
      "{\"url\":\"http://a\",,\"headers\":{\"Authorization\":\"x\"}}";

  (void)state;
  expect_redact(in, strlen(in), 65536, "{\"url\":\"http://a\",");
}

static void
redact_hides_an_unterminated_secret_value(void **state)
{
  const char *in = "{\"headers\":{\"Authorization\":\"Bearer abc";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"headers\":{\"Authorization\":\"[redacted]\"");
}

static void
redact_returns_non_object_text_unchanged_but_truncated(void **state)
{
  const char *in = "[\"Authorization\",\"x\"]";

  (void)state;
  expect_redact(in, strlen(in), 65536, in);
  expect_redact(in, strlen(in), 5, "[\"Aut");
  expect_redact("not json", 8, 65536, "not json");
}

static void
redact_truncates_after_redacting_without_splitting_utf8(void **state)
{
  const char *in = "{\"meta\":\"\xc3\xa9\xc3\xa9\"}";

  (void)state;
  /* the first é is bytes 9..10 */
  expect_redact(in, strlen(in), 10, "{\"meta\":\"");
  expect_redact(in, strlen(in), 11, "{\"meta\":\"\xc3\xa9");
  expect_redact("{\"headers\":{\"Cookie\":\"abcdef\"}}", 31, 30,
                "{\"headers\":{\"Cookie\":\"[redacte");
}

static void
redact_of_empty_text_is_empty(void **state)
{
  (void)state;
  expect_redact("", 0, 65536, "");
  expect_redact(NULL, 0, 65536, "");
}

static void
redact_reads_only_len_bytes(void **state)
{
  const char text[] = "{\"headers\":{\"Cookie\":\"c\"}}{\"headers\":";

  (void)state;
  expect_redact(text, 26, 65536, "{\"headers\":{\"Cookie\":\"[redacted]\"}}");
}

/* A URL password never leaves the process. */
static void
redact_replaces_the_url_password_keeping_the_user(void **state)
{
  const char *in = "{\"url\":\"https://user:PW-CANARY@api.example/x?q=1\","
                   "\"method\":\"GET\"}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"url\":\"https://user:[redacted]@api.example/x?q=1\","
                "\"method\":\"GET\"}");
}

static void
redact_replaces_a_lone_url_user_name_as_a_token(void **state)
{
  const char *in = "{\"url\":\"https://ghp_abcdef@github.example/x\"}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"url\":\"https://[redacted]@github.example/x\"}");
}

static void
redact_url_userinfo_sees_through_escapes_and_field_case(void **state)
{
  /* "URL" is refused as an unknown field, so its text is dead-lettered;
   * \u0040 is '@' and \/ is '/'. */
  const char *in = "{\"URL\":\"https:\\/\\/u:p\\u0040ss@h\\/x\"}";
  const char *nul = "{\"url\":\"https://u:se\\u0000cret@h/\"}";
  const char *bs = "{\"url\":\"https:\\\\\\\\u:pw@h\\\\x\"}";

  (void)state;
  expect_redact(in, strlen(in), 65536,
                "{\"URL\":\"https://u:[redacted]@h/x\"}");
  expect_redact(nul, strlen(nul), 65536,
                "{\"url\":\"https://u:[redacted]@h/\"}");
  expect_redact(bs, strlen(bs), 65536,
                "{\"url\":\"https:\\\\\\\\u:[redacted]@h\\\\x\"}");
}

static void
redact_leaves_at_signs_outside_the_url_authority(void **state)
{
  const char *in =
      "{\"url\":\"https://registry.example/@scope/pkg?x=a:b@c#d@e\"}";
  const char *other = "{\"meta\":\"https://u:p@h/\",\"url\":7}";

  (void)state;
  expect_redact(in, strlen(in), 65536, in);
  expect_redact(other, strlen(other), 65536, other);
}

static void
redact_hides_an_unterminated_url_that_may_hold_a_password(void **state)
{
  const char *in = "{\"url\":\"https://u:secret@h";
  const char *plain = "{\"url\":\"https://h/x";

  (void)state;
  expect_redact(in, strlen(in), 65536, "{\"url\":\"[redacted]\"");
  expect_redact(plain, strlen(plain), 65536, plain);
}

static void
url_redact_userinfo_redacts_every_spelling_of_an_authority(void **state)
{
  static const struct {
    const char *in, *want;
  } rows[] = {
      {"https://user:secret@host/x", "https://user:[redacted]@host/x"},
      {"http://user:@host", "http://user:[redacted]@host"},
      {"http://:secret@host", "http://:[redacted]@host"},
      {"http://token@host:8080/", "http://[redacted]@host:8080/"},
      {"http://u:p@ss@host/", "http://u:[redacted]@host/"},
      {"HTTP://U:P@HOST", "HTTP://U:[redacted]@HOST"},
      {"http:u:p@host", "http:u:[redacted]@host"},
      {"//u:p@host/x", "//u:[redacted]@host/x"},
      {"http:\\\\u:p@host\\x", "http:\\\\u:[redacted]@host\\x"},
      {"http://u:p%40x@[::1]:80/", "http://u:[redacted]@[::1]:80/"},
      {"https://host/x", NULL},
      {"https://host/@me", NULL},
      {"https://host?a=@b", NULL},
      {"https://host#@b", NULL},
      {"", NULL},
  };
  size_t i, n;
  char *out;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(rows); i++) {
    assert_int_equal(
        pacer_url_redact_userinfo(rows[i].in, strlen(rows[i].in), &out, &n), 0);
    if (rows[i].want == NULL) {
      if (out != NULL)
        fail_msg("%s: redacted to %s", rows[i].in, out);
      assert_int_equal(n, 0);
      continue;
    }
    if (out == NULL)
      fail_msg("%s: not redacted", rows[i].in);
    assert_string_equal(out, rows[i].want);
    assert_int_equal(n, strlen(rows[i].want));
    free(out);
  }
}

static int
has_secret(char **v, size_t n, const char *s)
{
  size_t i;

  for (i = 0; i < n; i++) {
    if (strcmp(v[i], s) == 0)
      return 1;
  }
  return 0;
}

static void
job_secrets_are_header_credentials_and_the_url_password_in_every_form(
    void **state)
{
  struct pacer_job *job = parse_ok(
      "{\"url\":\"https://us%65r:PW%2DCANARY@h.example/x\","
      "\"headers\":{\"Authorization\":\"Bearer JOB-CANARY\","
      "\"X-Api-Key\":\"k1\",\"X-Secret-Header\":\"SECRET-HEADER-CANARY\","
      "\"Accept\":\"application/json\"}}",
      DID);
  char **v = NULL;
  size_t n = 0;

  (void)state;
  assert_int_equal(pacer_job_secrets(job, &v, &n), 0);
  assert_true(has_secret(v, n, "JOB-CANARY"));
  assert_true(has_secret(v, n, "SECRET-HEADER-CANARY"));
  assert_true(has_secret(v, n, "PW%2DCANARY"));
  assert_true(has_secret(v, n, "PW-CANARY"));
  /* what libcurl sends: Authorization: Basic base64("user:PW-CANARY") */
  assert_true(has_secret(v, n, "dXNlcjpQVy1DQU5BUlk="));
  /* too short to scrub; not secret */
  assert_false(has_secret(v, n, "k1"));
  assert_false(has_secret(v, n, "application/json"));
  assert_int_equal(n, 5);
  pacer_job_secrets_free(v, n);
  pacer_job_free(job);

  job = parse_ok("{\"url\":\"https://ghp_abcdef@h.example/\"}", DID);
  assert_int_equal(pacer_job_secrets(job, &v, &n), 0);
  assert_true(has_secret(v, n, "ghp_abcdef"));
  assert_true(has_secret(v, n, "Z2hwX2FiY2RlZjo="));
  assert_int_equal(n, 2);
  pacer_job_secrets_free(v, n);
  pacer_job_free(job);

  job = parse_ok("{\"url\":\"https://h.example/\"}", DID);
  assert_int_equal(pacer_job_secrets(job, &v, &n), 0);
  assert_int_equal(n, 0);
  pacer_job_secrets_free(v, n);
  pacer_job_secrets_free(NULL, 0);
  pacer_job_free(job);
}

/* deadline_ms below 10^12 counts from the first enqueue, at or above it
 * is a unix time; the config default applies only without one. */
static void
job_deadline_is_relative_or_absolute(void **state)
{
  struct pacer_job *j = NULL;
  struct pacer_error err;
  static const char rel[] = "{\"url\":\"http://a\",\"deadline_ms\":5000}";
  static const char abs_[] =
      "{\"url\":\"http://a\",\"deadline_ms\":1800000000000}";
  static const char none[] = "{\"url\":\"http://a\"}";

  (void)state;
  assert_int_equal(pacer_job_parse(rel, sizeof(rel) - 1, "d", NULL, &j, &err),
                   0);
  assert_int_equal(pacer_job_deadline_unix_ms(j, 1700000000000, 86400000),
                   1700000005000);
  pacer_job_free(j);
  assert_int_equal(pacer_job_parse(abs_, sizeof(abs_) - 1, "d", NULL, &j, &err),
                   0);
  assert_int_equal(pacer_job_deadline_unix_ms(j, 1700000000000, 86400000),
                   1800000000000);
  pacer_job_free(j);
  assert_int_equal(pacer_job_parse(none, sizeof(none) - 1, "d", NULL, &j, &err),
                   0);
  assert_int_equal(pacer_job_deadline_unix_ms(j, 1700000000000, 86400000),
                   1700086400000);
  assert_int_equal(pacer_job_deadline_unix_ms(j, 1700000000000, 0), 0);
  assert_int_equal(pacer_job_deadline_unix_ms(j, UINT64_MAX - 5, 86400000),
                   UINT64_MAX);
  pacer_job_free(j);
}

int
main(void)
{
  static struct CMUnitTest reject_tests[PACER_ARRAY_SIZE(rejects)];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(job_rejects_text_over_the_default_1_mib_limit),
      cmocka_unit_test(job_deadline_is_relative_or_absolute),
      cmocka_unit_test(job_accepts_text_of_exactly_1_mib),
      cmocka_unit_test(job_rejects_nesting_deeper_than_64_levels),
      cmocka_unit_test(job_accepts_nesting_of_exactly_64_levels),
      cmocka_unit_test(job_survives_100000_open_brackets_without_recursing),
      cmocka_unit_test(job_rejects_url_over_8192_bytes),
      cmocka_unit_test(job_accepts_url_of_exactly_8192_bytes),
      cmocka_unit_test(job_rejects_more_than_64_headers),
      cmocka_unit_test(job_rejects_oversized_header_names_values_and_totals),
      cmocka_unit_test(job_accepts_64_headers),
      cmocka_unit_test(job_rejects_meta_over_64_kib),
      cmocka_unit_test(job_accepts_meta_of_exactly_64_kib),
      cmocka_unit_test(job_minimal_job_takes_every_default),
      cmocka_unit_test(job_priority_and_retry_unsafe_are_read),
      cmocka_unit_test(job_http_version_is_read_and_defaults_to_2tls),
      cmocka_unit_test(job_bad_http_version_names_the_field),
      cmocka_unit_test(job_bad_priority_names_the_field),
      cmocka_unit_test(job_limits_supply_defaults_for_absent_fields),
      cmocka_unit_test(job_limits_default_is_1_mib_30_s_and_five_attempts),
      cmocka_unit_test(job_parses_every_field),
      cmocka_unit_test(job_given_id_wins_over_default_id),
      cmocka_unit_test(job_accepts_id_of_128_printable_bytes),
      cmocka_unit_test(job_accepts_every_method),
      cmocka_unit_test(
          job_object_body_is_serialised_unformatted_and_marked_json),
      cmocka_unit_test(job_array_body_is_serialised_and_marked_json),
      cmocka_unit_test(job_json_body_keeps_the_given_content_type),
      cmocka_unit_test(job_string_body_is_passed_through_unchanged),
      cmocka_unit_test(job_empty_string_body_is_an_empty_body),
      cmocka_unit_test(job_null_body_means_no_body),
      cmocka_unit_test(job_allows_a_body_with_get),
      cmocka_unit_test(job_meta_is_echoed_unformatted_with_escapes_kept),
      cmocka_unit_test(job_scalar_meta_is_echoed),
      cmocka_unit_test(job_null_meta_means_no_meta),
      cmocka_unit_test(job_accepts_upper_case_scheme_and_userinfo_and_port),
      cmocka_unit_test(job_accepts_ipv6_host_and_empty_port),
      cmocka_unit_test(job_accepts_a_host_header_override),
      cmocka_unit_test(job_header_get_ignores_case_and_misses_return_null),
      cmocka_unit_test(job_not_before_accepts_2_pow_53),
      cmocka_unit_test(job_integers_may_be_written_with_fraction_or_exponent),
      cmocka_unit_test(job_json_body_and_meta_keep_every_number_exactly),
      cmocka_unit_test(job_accepts_utf8_and_escaped_astral_characters_in_meta),
      cmocka_unit_test(job_skips_a_leading_utf8_bom),
      cmocka_unit_test(job_reads_only_len_bytes_of_unterminated_input),
      cmocka_unit_test(job_free_of_null_does_nothing),
      cmocka_unit_test(job_method_name_of_unknown_value_is_unknown),
      cmocka_unit_test(header_is_secret_matches_credential_headers),
      cmocka_unit_test(header_is_secret_leaves_ordinary_headers_alone),
      cmocka_unit_test(redact_replaces_secret_header_values_only),
      cmocka_unit_test(redact_keeps_the_original_formatting),
      cmocka_unit_test(redact_sees_through_escaped_header_names),
      cmocka_unit_test(redact_replaces_non_string_secret_values_whole),
      cmocka_unit_test(redact_replaces_headers_that_are_not_an_object),
      cmocka_unit_test(redact_treats_headers_field_name_case_insensitively),
      cmocka_unit_test(redact_is_not_stopped_by_invalid_utf8_elsewhere),
      cmocka_unit_test(redact_cuts_malformed_object_at_the_syntax_error),
      cmocka_unit_test(redact_hides_an_unterminated_secret_value),
      cmocka_unit_test(redact_returns_non_object_text_unchanged_but_truncated),
      cmocka_unit_test(redact_truncates_after_redacting_without_splitting_utf8),
      cmocka_unit_test(redact_of_empty_text_is_empty),
      cmocka_unit_test(redact_sees_past_a_leading_bom),
      cmocka_unit_test(redact_reads_only_len_bytes),
      cmocka_unit_test(redact_replaces_the_url_password_keeping_the_user),
      cmocka_unit_test(redact_replaces_a_lone_url_user_name_as_a_token),
      cmocka_unit_test(redact_url_userinfo_sees_through_escapes_and_field_case),
      cmocka_unit_test(redact_leaves_at_signs_outside_the_url_authority),
      cmocka_unit_test(
          redact_hides_an_unterminated_url_that_may_hold_a_password),
      cmocka_unit_test(
          url_redact_userinfo_redacts_every_spelling_of_an_authority),
      cmocka_unit_test(
          job_secrets_are_header_credentials_and_the_url_password_in_every_form),
  };
  size_t i;
  int failed;

  for (i = 0; i < PACER_ARRAY_SIZE(rejects); i++) {
    reject_tests[i].name = rejects[i].name;
    reject_tests[i].test_func = run_reject;
    reject_tests[i].initial_state = &rejects[i];
  }
  failed = cmocka_run_group_tests_name("job_rejects", reject_tests, NULL, NULL);
  failed += cmocka_run_group_tests_name("job", tests, NULL, NULL);
  return failed != 0;
}
