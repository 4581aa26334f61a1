/* Unit tests for common/logfmt.c and the JSON log format of common/log.c
 * (e2e_logs end to end): escaping, ill-formed UTF-8, cut objects that stay
 * valid, and one real pacer_log line read back from stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/log.h"
#include "common/logfmt.h"
#include "common/utf8.h"

/* Renders the logfmt text line into a buffer of size bytes. */
static size_t
render(const char *line, char *out, size_t size)
{
  size_t n = pacer_logfmt_to_json(line, strlen(line), out, size);

  assert_true(n < size);
  assert_int_equal(out[n], '\0');
  return n;
}

#define RENDERS_AS(line, want)                                                 \
  do {                                                                         \
    char out_[1024];                                                           \
    render(line, out_, sizeof(out_));                                          \
    assert_string_equal(out_, want);                                           \
  } while (0)

/* Parses json (n bytes) with cJSON; fails the test when it is not one
 * valid object of well-formed UTF-8. Returns the owned object. */
static cJSON *
must_parse(const char *json, size_t n)
{
  const char *end = NULL;
  cJSON *o;

  assert_int_equal(pacer_utf8_valid_prefix_len(json, n), n);
  o = cJSON_ParseWithLengthOpts(json, n, &end, 0);
  if (o == NULL || end != json + n)
    fail_msg("not one valid JSON object: %s", json);
  assert_true(cJSON_IsObject(o));
  return o;
}

static void
plain_pairs_become_string_members_in_order(void **state)
{
  (void)state;
  RENDERS_AS("ts=2026-01-02T03:04:05.678Z level=info comp=sched "
             "msg=\"job finished\" job=c-1 attempt=2 status=503",
             "{\"ts\":\"2026-01-02T03:04:05.678Z\",\"level\":\"info\","
             "\"comp\":\"sched\",\"msg\":\"job finished\",\"job\":\"c-1\","
             "\"attempt\":\"2\",\"status\":\"503\"}");
  /* numbers stay strings, so a field never changes type between lines */
  RENDERS_AS("job=123", "{\"job\":\"123\"}");
  RENDERS_AS("", "{}");
  RENDERS_AS("   ", "{}");
}

static void
logfmt_escapes_are_undone_then_escaped_for_json(void **state)
{
  (void)state;
  /* \" \\ \n \t \r and \xNN (what pacer_log_quote writes) */
  RENDERS_AS("msg=\"a \\\"q\\\" b\\\\c\"", "{\"msg\":\"a \\\"q\\\" b\\\\c\"}");
  RENDERS_AS("e=\"x\\x01y\\x1fz\\x7f\"",
             "{\"e\":\"x\\u0001y\\u001fz\\u007f\"}");
  RENDERS_AS("e=\"l1\\nl2\\tt\\rr\"", "{\"e\":\"l1\\nl2\\tt\\rr\"}");
  /* a NUL byte in a value is escaped, not an end */
  RENDERS_AS("e=\"a\\x00b\"", "{\"e\":\"a\\u0000b\"}");
  /* an unknown escape is kept as written */
  RENDERS_AS("e=\"a\\qb\"", "{\"e\":\"a\\\\qb\"}");
}

static void
raw_control_bytes_and_quotes_are_escaped(void **state)
{
  (void)state;
  /* unquoted values and keys are escaped too */
  RENDERS_AS("k\"ey=v\"al", "{\"k\\\"ey\":\"v\\\"al\"}");
  RENDERS_AS("a=\x01\x08\x0c", "{\"a\":\"\\u0001\\b\\f\"}");
  RENDERS_AS("a=back\\slash", "{\"a\":\"back\\\\slash\"}");
}

static void
ill_formed_utf8_becomes_replacement_characters(void **state)
{
  (void)state;
  /* well-formed multi-byte text passes as it is */
  RENDERS_AS("m=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
             "{\"m\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}");
  /* a lone continuation byte, a truncated sequence, an overlong form, a
   * surrogate and bytes that are never UTF-8 */
  RENDERS_AS("m=a\x80z", "{\"m\":\"a\\ufffdz\"}");
  RENDERS_AS("m=a\xe2\x82z", "{\"m\":\"a\\ufffdz\"}");
  RENDERS_AS("m=\xc0\xaf", "{\"m\":\"\\ufffd\\ufffd\"}");
  RENDERS_AS("m=\xed\xa0\x80", "{\"m\":\"\\ufffd\\ufffd\\ufffd\"}");
  RENDERS_AS("m=\xff\xfe", "{\"m\":\"\\ufffd\\ufffd\"}");
  /* an invalid byte given as \xNN in a quoted value is caught as well */
  RENDERS_AS("m=\"\\xff\"", "{\"m\":\"\\ufffd\"}");
  /* a sequence cut by the end of the line */
  RENDERS_AS("m=\xf0\x9f\x98", "{\"m\":\"\\ufffd\"}");
}

static void
unescaped_quote_inside_a_quoted_value_is_content(void **state)
{
  (void)state;
  /* a library message copied raw: the value ends at the quote that a new
   * pair (or the end) follows */
  RENDERS_AS("error=\"ERR \"x\" not found\" conn=cmd",
             "{\"error\":\"ERR \\\"x\\\" not found\",\"conn\":\"cmd\"}");
  /* an unclosed quote runs to the end of the line */
  RENDERS_AS("msg=\"cut off", "{\"msg\":\"cut off\"}");
}

static void
repeated_keys_get_a_numbered_suffix(void **state)
{
  (void)state;
  RENDERS_AS("a=1 b=2 a=3 a=4", "{\"a\":\"1\",\"b\":\"2\",\"a_2\":\"3\","
                                "\"a_3\":\"4\"}");
  /* a bare word is a key with an empty value */
  RENDERS_AS("flag x=1", "{\"flag\":\"\",\"x\":\"1\"}");
}

static void
a_full_buffer_still_gives_one_valid_object(void **state)
{
  char line[4096], out[256];
  size_t size, n, i;

  (void)state;
  /* escapes that grow six-fold, and multi-byte characters, near the cut */
  n = (size_t)snprintf(line, sizeof(line), "ts=x level=info msg=\"");
  for (i = 0; i < 100; i++)
    n += (size_t)snprintf(line + n, sizeof(line) - n, "\\x01\xc3\xa9\"");
  n += (size_t)snprintf(line + n, sizeof(line) - n, "\" after=1");
  for (size = PACER_LOGFMT_JSON_MIN; size <= sizeof(out); size++) {
    size_t w = pacer_logfmt_to_json(line, n, out, size);
    cJSON *o;

    assert_true(w < size);
    o = must_parse(out, w);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "truncated")),
        "1");
    cJSON_Delete(o);
  }
}

static void
a_value_longer_than_the_scratch_buffer_is_flagged_as_cut(void **state)
{
  static char line[3000], out[8192];
  size_t n, w;
  cJSON *o;

  (void)state;
  memcpy(line, "big=", 4);
  memset(line + 4, 'v', 2900);
  n = 2904;
  w = pacer_logfmt_to_json(line, n, out, sizeof(out));
  o = must_parse(out, w);
  assert_int_equal(
      strlen(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "big"))),
      2047);
  assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "truncated"));
  cJSON_Delete(o);
}

static void
random_bytes_always_render_to_valid_json(void **state)
{
  uint64_t x = 0x9e3779b97f4a7c15u;
  char line[600], out[1024];
  int round;

  (void)state;
  for (round = 0; round < 20000; round++) {
    size_t n = (size_t)(x % sizeof(line)), i, w, size;
    cJSON *o;

    for (i = 0; i < n; i++) {
      x ^= x << 13; /* xorshift64 */
      x ^= x >> 7;
      x ^= x << 17;
      /* bias towards the bytes that matter: = " \ space and high bytes */
      line[i] = (char)"=\"\\ x\x80\xc3\xa9\xff\x01"[x % 10];
      if (x % 3 == 0)
        line[i] = (char)(x >> 24);
    }
    size = PACER_LOGFMT_JSON_MIN + (size_t)(x % (sizeof(out) - 64));
    w = pacer_logfmt_to_json(line, n, out, size);
    assert_true(w < size);
    o = must_parse(out, w);
    cJSON_Delete(o);
  }
}

static void
log_value_quotes_only_when_needed(void **state)
{
  char buf[32];

  (void)state;
  assert_string_equal(pacer_log_value(buf, sizeof(buf), "c-1"), "c-1");
  assert_string_equal(pacer_log_value(buf, sizeof(buf), "acct:42|g"),
                      "acct:42|g");
  assert_string_equal(pacer_log_value(buf, sizeof(buf), ""), "\"\"");
  assert_string_equal(pacer_log_value(buf, sizeof(buf), "a b"), "\"a b\"");
  assert_string_equal(pacer_log_value(buf, sizeof(buf), "a=b"), "\"a=b\"");
  assert_string_equal(pacer_log_value(buf, sizeof(buf), "a\"b"), "\"a\\\"b\"");
  assert_string_equal(pacer_log_value(buf, sizeof(buf), "a\nb"), "\"a\\x0ab\"");
  /* cut, still one value */
  assert_string_equal(pacer_log_value(buf, 8, "abcdefghijkl"), "abcd...");
  pacer_log_value(buf, 10, "a b c d e f g h");
  assert_int_equal(buf[0], '"');
  assert_int_equal(buf[strlen(buf) - 1], '"');
  assert_true(strlen(buf) < 10);
}

static void
format_names_parse(void **state)
{
  enum pacer_log_format f = PACER_LOG_FORMAT_JSON;

  (void)state;
  assert_int_equal(pacer_log_format_parse("logfmt", &f), 0);
  assert_int_equal(f, PACER_LOG_FORMAT_LOGFMT);
  assert_int_equal(pacer_log_format_parse("json", &f), 0);
  assert_int_equal(f, PACER_LOG_FORMAT_JSON);
  assert_int_not_equal(pacer_log_format_parse("JSON", &f), 0);
  assert_int_not_equal(pacer_log_format_parse("", &f), 0);
}

/* Runs one pacer_log call with stderr sent to a temp file; returns the
 * bytes written (owned, free with free). */
static char *
capture(enum pacer_log_format fmt, const char *spec, const char *comp,
        const char *text)
{
  char path[] = "/tmp/pacer-test-logfmt-XXXXXX", *buf;
  int fd = mkstemp(path), saved = dup(STDERR_FILENO);
  long n;
  FILE *f;

  assert_true(fd >= 0 && saved >= 0);
  unlink(path);
  assert_true(dup2(fd, STDERR_FILENO) >= 0);
  pacer_log_set_format(fmt);
  assert_int_equal(pacer_log_set_components(spec), 0);
  pacer_log(PACER_LOG_INFO, comp, "%s", text);
  pacer_log_set_format(PACER_LOG_FORMAT_LOGFMT);
  assert_int_equal(pacer_log_set_components("all"), 0);
  assert_true(dup2(saved, STDERR_FILENO) >= 0);
  close(saved);
  f = fdopen(fd, "r");
  assert_non_null(f);
  n = lseek(fd, 0, SEEK_END);
  assert_true(n >= 0);
  rewind(f);
  buf = calloc(1, (size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  return buf;
}

static void
pacer_log_writes_one_json_object_per_line(void **state)
{
  char *got;
  cJSON *o;

  (void)state;
  got = capture(PACER_LOG_FORMAT_JSON, "all", "sched",
                "msg=\"job finished\" job=c-1 lane=\"a b\" attempt=1 "
                "status=200 why=\"bad\\x01\xff\"");
  assert_int_equal(got[strlen(got) - 1], '\n');
  assert_ptr_equal(strchr(got, '\n'), got + strlen(got) - 1); /* one line */
  o = must_parse(got, strlen(got) - 1);
  assert_string_equal(
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "level")),
      "info");
  assert_string_equal(
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "comp")),
      "sched");
  assert_string_equal(
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "lane")), "a b");
  assert_string_equal(
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "why")),
      "bad\x01\xef\xbf\xbd");
  assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "ts"));
  cJSON_Delete(o);
  free(got);

  /* logfmt stays the default shape */
  got = capture(PACER_LOG_FORMAT_LOGFMT, "all", "sched", "msg=\"x\" a=1");
  assert_non_null(strstr(got, " level=info comp=sched msg=\"x\" a=1\n"));
  assert_true(strncmp(got, "ts=", 3) == 0);
  free(got);

  /* the component filter applies to both formats */
  got = capture(PACER_LOG_FORMAT_JSON, "all,-redis", "redis", "msg=\"x\"");
  assert_string_equal(got, "");
  free(got);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(plain_pairs_become_string_members_in_order),
      cmocka_unit_test(logfmt_escapes_are_undone_then_escaped_for_json),
      cmocka_unit_test(raw_control_bytes_and_quotes_are_escaped),
      cmocka_unit_test(ill_formed_utf8_becomes_replacement_characters),
      cmocka_unit_test(unescaped_quote_inside_a_quoted_value_is_content),
      cmocka_unit_test(repeated_keys_get_a_numbered_suffix),
      cmocka_unit_test(a_full_buffer_still_gives_one_valid_object),
      cmocka_unit_test(
          a_value_longer_than_the_scratch_buffer_is_flagged_as_cut),
      cmocka_unit_test(random_bytes_always_render_to_valid_json),
      cmocka_unit_test(log_value_quotes_only_when_needed),
      cmocka_unit_test(format_names_parse),
      cmocka_unit_test(pacer_log_writes_one_json_object_per_line),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
