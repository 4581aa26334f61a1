/* Unit tests for core/result_fmt.c: one type per field in JSON output,
 * JSON bodies embedded as body_json, and RFC 4180 CSV rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "core/result_fmt.h"

#define F(n, v)                                                                \
  {                                                                            \
    n, sizeof(n) - 1, v, sizeof(v) - 1                                         \
  }

static cJSON *
json_of(const struct pacer_result_field *f, size_t n)
{
  char *text = pacer_result_json(f, n);
  cJSON *o;

  assert_non_null(text);
  o = cJSON_Parse(text);
  cJSON_free(text);
  assert_non_null(o);
  return o;
}

static void
numbers_are_numbers_and_truncated_is_a_boolean(void **state)
{
  static const struct pacer_result_field f[] = {
      F("id", "j1"),          F("state", "ok"),
      F("status", "200"),     F("attempts", "2"),
      F("throttled", "3"),    F("wait_ms", "1500"),
      F("duration_ms", "12"), F("finished_unix_ms", "1700000000000"),
      F("reason", ""),        F("body_truncated", "0"),
      F("headers", "{}"),     F("body", "plain"),
  };
  const char *nums[] = {"status",  "attempts",    "throttled",
                        "wait_ms", "duration_ms", "finished_unix_ms"};
  cJSON *o = json_of(f, sizeof(f) / sizeof(f[0]));
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, nums[i])));
  assert_int_equal(cJSON_GetObjectItem(o, "wait_ms")->valuedouble, 1500);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "body_truncated")));
  assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "id")));
  assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "reason")));
  assert_true(cJSON_IsObject(cJSON_GetObjectItem(o, "headers")));
  assert_string_equal(cJSON_GetObjectItem(o, "body")->valuestring, "plain");
  assert_null(cJSON_GetObjectItem(o, "body_json"));
  cJSON_Delete(o);
}

static void
a_json_body_is_embedded_as_body_json(void **state)
{
  static const struct pacer_result_field f[] = {
      F("id", "j2"),
      F("headers", "{\"content-type\":\"application/json; charset=utf-8\"}"),
      F("body", "{\"a\":[1,2]}"),
      F("body_truncated", "0"),
  };
  cJSON *o = json_of(f, sizeof(f) / sizeof(f[0])), *b;

  (void)state;
  assert_null(cJSON_GetObjectItem(o, "body"));
  b = cJSON_GetObjectItem(o, "body_json");
  assert_true(cJSON_IsObject(b));
  assert_true(cJSON_IsArray(cJSON_GetObjectItem(b, "a")));
  cJSON_Delete(o);
}

static void
a_truncated_or_invalid_json_body_stays_a_string(void **state)
{
  static const struct pacer_result_field cut[] = {
      F("headers", "{\"content-type\":\"application/json\"}"),
      F("body", "{\"a\":[1,"),
      F("body_truncated", "1"),
  };
  static const struct pacer_result_field bad[] = {
      F("headers", "{\"content-type\":\"application/problem+json\"}"),
      F("body", "not json"),
      F("body_truncated", "0"),
  };
  cJSON *o = json_of(cut, 3);

  (void)state;
  assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "body")));
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "body_truncated")));
  assert_null(cJSON_GetObjectItem(o, "body_json"));
  cJSON_Delete(o);
  o = json_of(bad, 3);
  assert_string_equal(cJSON_GetObjectItem(o, "body")->valuestring, "not json");
  cJSON_Delete(o);
}

static void
json_media_types(void **state)
{
  (void)state;
  assert_true(pacer_result_is_json_type("application/json"));
  assert_true(pacer_result_is_json_type("Application/JSON ; charset=utf-8"));
  assert_true(pacer_result_is_json_type("application/problem+json"));
  assert_false(pacer_result_is_json_type("text/html"));
  assert_false(pacer_result_is_json_type("application/jsonx"));
  assert_false(pacer_result_is_json_type("+json"));
  assert_false(pacer_result_is_json_type(""));
}

static void
csv_rows_follow_rfc4180(void **state)
{
  static const struct pacer_result_field f[] = {
      F("id", "a,b"),
      F("state", "failed"),
      F("status", "500"),
      F("reason", "http_500"),
      F("error", "said \"no\"\nbye"),
      F("attempts", "5"),
      F("throttled", "0"),
      F("wait_ms", "7"),
      F("body_truncated", "1"),
      F("body", "ignored,"),
  };
  char *row = pacer_result_csv(f, sizeof(f) / sizeof(f[0]));

  (void)state;
  assert_non_null(row);
  assert_string_equal(row,
                      "\"a,b\",failed,500,http_500,\"said \"\"no\"\"\nbye\","
                      "5,0,7,,,true");
  free(row);
  assert_string_equal(pacer_result_csv_header(),
                      "id,state,status,reason,error,attempts,throttled,"
                      "wait_ms,duration_ms,finished_unix_ms,body_truncated");
}

static void
nul_and_bad_utf8_become_replacement_characters(void **state)
{
  static const struct pacer_result_field f[] = {
      {"error", 5, "a\0b\xff", 4},
  };
  cJSON *o = json_of(f, 1);

  (void)state;
  assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring,
                      "a\xef\xbf\xbd"
                      "b\xef\xbf\xbd");
  cJSON_Delete(o);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(numbers_are_numbers_and_truncated_is_a_boolean),
      cmocka_unit_test(a_json_body_is_embedded_as_body_json),
      cmocka_unit_test(a_truncated_or_invalid_json_body_stays_a_string),
      cmocka_unit_test(json_media_types),
      cmocka_unit_test(csv_rows_follow_rfc4180),
      cmocka_unit_test(nul_and_bad_utf8_become_replacement_characters),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
