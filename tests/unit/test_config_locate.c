/* Unit tests for core/config_locate.c: config errors point at line and
 * column, unknown field names get the nearest known one, and a prefix
 * must be printable UTF-8 (core/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/config_locate.h"

static void
expect_at(const char *json, const char *msg, unsigned line, unsigned col)
{
  unsigned l = 9, c = 9;

  assert_int_equal(pacer_config_locate(json, strlen(json), msg, &l, &c), 1);
  assert_int_equal(l, line);
  assert_int_equal(c, col);
}

static void
errors_point_at_their_key(void **state)
{
  static const char json[] =
      "{\n"
      "  \"workers\": 2,\n"
      "  \"concurency\": 5,\n"
      "  \"limits\": [\n"
      "    {\"name\": \"a\", \"key\": \"host\", \"rate\": \"5/s\"},\n"
      "    {\"name\": \"b\", \"rate\": \"5/x\",\n"
      "     \"match\": {\"hosts\": [\"x\"]}}],\n"
      "  \"credentials\": {\"acme\": {\"client_secret\": \"s\"}},\n"
      "  \"workers\": 3\n"
      "}\n";

  (void)state;
  expect_at(json, "concurency: unknown field", 3, 3);
  expect_at(json, "limits[1].rate: \"5/x\" is not N/s", 6, 19);
  expect_at(json, "limits[1].match.hosts: unknown field", 7, 16);
  expect_at(json, "credentials.acme.client_secret: inline secret", 8, 28);
  /* the second one is the duplicate */
  expect_at(json, "workers: duplicate field", 9, 3);
  expect_at(json, "limits[1]: must have a key", 6, 5);
}

static void
invalid_json_points_at_its_byte(void **state)
{
  static const char json[] = "{\n  \"w\": 2,,\n}";
  unsigned l, c;

  (void)state;
  expect_at(json, "config: invalid JSON at byte 11", 2, 10);
  /* "\xc3\xa9" is one column */
  expect_at("{\"\xc3\xa9\": x}", "config: invalid JSON at byte 7", 1, 7);
  assert_int_equal(
      pacer_config_locate(json, strlen(json), "nothing: here", &l, &c), 0);
  assert_int_equal(l, 0);
  assert_int_equal(
      pacer_config_locate(json, strlen(json), "config: too big", &l, &c), 0);
}

static void
typos_get_the_nearest_known_name(void **state)
{
  static const char *const names[] = {"workers", "concurrency", "prefix",
                                      "lease_ms", "log"};
  char hint[64];

  (void)state;
  assert_string_equal(pacer_config_did_you_mean("concurency", names, 5,
                                                sizeof(names[0]), hint,
                                                sizeof(hint)),
                      "; did you mean \"concurrency\"?");
  assert_string_equal(pacer_config_did_you_mean("prefx", names, 5,
                                                sizeof(names[0]), hint,
                                                sizeof(hint)),
                      "; did you mean \"prefix\"?");
  /* a transposition is one edit */
  assert_string_equal(pacer_config_did_you_mean("lease_sm", names, 5,
                                                sizeof(names[0]), hint,
                                                sizeof(hint)),
                      "; did you mean \"lease_ms\"?");
  assert_string_equal(pacer_config_did_you_mean("colour", names, 5,
                                                sizeof(names[0]), hint,
                                                sizeof(hint)),
                      "");
  /* a one-byte name is nobody's typo */
  assert_string_equal(pacer_config_did_you_mean("x", names, 5, sizeof(names[0]),
                                                hint, sizeof(hint)),
                      "");
}

static void
expect_prefix_error(const char *json, const char *msg)
{
  struct pacer_config cfg;
  struct pacer_error err;

  assert_int_equal(pacer_config_defaults(&cfg, 1), 0);
  assert_int_equal(pacer_config_parse(&cfg, json, strlen(json), &err),
                   PACER_ECONFIG);
  assert_string_equal(err.msg, msg);
  pacer_config_free(&cfg);
}

static void
a_prefix_must_be_printable_utf8(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;
  static const char ok[] = "{\"prefix\": \"caf\xc3\xa9:\"}";

  (void)state;
  expect_prefix_error("{\"prefix\": \"p\xff:\"}",
                      "prefix: byte 1 is a control character or not UTF-8; "
                      "use printable text such as \"pacer:\"");
  expect_prefix_error("{\"prefix\": \"ab\\u0085:\"}",
                      "prefix: byte 2 is a control character or not UTF-8; "
                      "use printable text such as \"pacer:\"");
  expect_prefix_error("{\"prefix\": \"p\\u0007:\"}",
                      "prefix: byte 1 is a control character or not UTF-8; "
                      "use printable text such as \"pacer:\"");
  assert_int_equal(pacer_config_defaults(&cfg, 1), 0);
  assert_int_equal(pacer_config_parse(&cfg, ok, strlen(ok), &err), 0);
  assert_string_equal(cfg.prefix, "caf\xc3\xa9:");
  pacer_config_free(&cfg);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(errors_point_at_their_key),
      cmocka_unit_test(invalid_json_points_at_its_byte),
      cmocka_unit_test(typos_get_the_nearest_known_name),
      cmocka_unit_test(a_prefix_must_be_printable_utf8),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
