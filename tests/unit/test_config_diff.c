/* Unit tests for core/config_diff.c: what a config reload reports as
 * changed in the throttle rules and credentials (scheduler/reload.c), and
 * that a credential's report never carries a value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "core/config.h"
#include "core/config_diff.h"

static void
parse(struct pacer_config *c, const char *json)
{
  struct pacer_error err;

  pacer_error_clear(&err);
  assert_int_equal(pacer_config_defaults(c, 1), 0);
  if (pacer_config_parse(c, json, strlen(json), &err) != 0)
    fail_msg("%s: %s", json, err.msg);
}

#define LIMITS "\"limits\": [{\"name\": \"dev\", \"rate\": \"10/s\"}], "

static const char *const TIKTOK =
    "{" LIMITS "\"throttle_rules\": [{\"preset\": \"tiktok-business\", "
    "\"limits\": {\"app\": \"dev\"}}]}";

static int
rules_diff(const char *a_json, const char *b_json, char *buf, size_t size)
{
  struct pacer_config a, b;
  int count = 0, n;

  parse(&a, a_json);
  parse(&b, b_json);
  buf[0] = '\0';
  n = pacer_throttle_rules_diff(a.throttle_rules, a.nthrottle_rules,
                                b.throttle_rules, b.nthrottle_rules, buf, size,
                                &count);
  assert_int_equal(n, count);
  pacer_config_free(&a);
  pacer_config_free(&b);
  return n;
}

static void
rules_added_removed_changed_and_equal(void **state)
{
  char buf[1024];

  (void)state;
  assert_int_equal(rules_diff(TIKTOK, TIKTOK, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "");
  assert_int_equal(
      rules_diff("{" LIMITS "\"log\": \"all\"}", TIKTOK, buf, sizeof(buf)), 1);
  assert_non_null(strstr(buf, "throttle_rules.tiktok-business"));
  assert_non_null(strstr(buf, " added"));
  assert_true(rules_diff(TIKTOK, "{" LIMITS "\"log\": \"all\"}", buf,
                         sizeof(buf)) >= 1);
  assert_non_null(strstr(buf, " removed"));
  /* the same name, another status: changed */
  assert_int_equal(rules_diff("{\"throttle_rules\": [{\"name\": \"r\", "
                              "\"match\": {\"status\": [400]}, "
                              "\"delay\": [{\"fixed\": \"1s\"}]}]}",
                              "{\"throttle_rules\": [{\"name\": \"r\", "
                              "\"match\": {\"status\": [418]}, "
                              "\"delay\": [{\"fixed\": \"1s\"}]}]}",
                              buf, sizeof(buf)),
                   1);
  assert_string_equal(buf, "throttle_rules.r changed");
  /* a condition's value (JSON) differs */
  assert_int_equal(
      rules_diff("{\"throttle_rules\": [{\"name\": \"r\", \"match\": "
                 "{\"body\": {\"/code\": {\"equals\": 1}}}}]}",
                 "{\"throttle_rules\": [{\"name\": \"r\", \"match\": "
                 "{\"body\": {\"/code\": {\"equals\": 2}}}}]}",
                 buf, sizeof(buf)),
      1);
  assert_string_equal(buf, "throttle_rules.r changed");
}

static void
rules_reordered(void **state)
{
  char buf[1024];

  (void)state;
  assert_int_equal(
      rules_diff("{\"throttle_rules\": [{\"name\": \"a\", "
                 "\"match\": {\"status\": [400]}}, {\"name\": \"b\", "
                 "\"match\": {\"status\": [418]}}]}",
                 "{\"throttle_rules\": [{\"name\": \"b\", "
                 "\"match\": {\"status\": [418]}}, {\"name\": \"a\", "
                 "\"match\": {\"status\": [400]}}]}",
                 buf, sizeof(buf)),
      1);
  assert_string_equal(buf, "throttle_rules order changed");
}

#define CRED(url, secret, timeout)                                             \
  "{\"credentials\": {\"acme\": {\"token_url\": \"" url "\", "                 \
  "\"client_id\": \"pacer\", \"client_secret\": \"" secret "\", "              \
  "\"token_timeout_ms\": " timeout ", \"hosts\": [\"api.example\"]}}}"

static void
cred_fields_named_never_values(void **state)
{
  struct pacer_config a, b;
  char buf[1024] = "";
  int count = 0;

  (void)state;
  parse(&a, CRED("https://idp.example/token", "s3cr3t-old-canary", "60000"));
  parse(&b, CRED("https://idp2.example/token", "s3cr3t-new-canary", "5000"));
  assert_int_equal(
      pacer_cred_cfg_diff(&a.creds[0], &a.creds[0], buf, sizeof(buf), &count),
      0);
  assert_int_equal(count, 0);
  assert_int_equal(
      pacer_cred_cfg_diff(&a.creds[0], &b.creds[0], buf, sizeof(buf), &count),
      4);
  assert_int_equal(count, 4);
  assert_string_equal(buf, "credentials.acme.token_url changed; "
                           "credentials.acme.client_secret changed; "
                           "credentials.acme.token_timeout_ms changed; "
                           "credentials.acme.lock_ttl_ms changed");
  assert_null(strstr(buf, "canary"));
  assert_null(strstr(buf, "idp"));
  pacer_config_free(&a);
  pacer_config_free(&b);
}

static void
diff_add_cuts_at_the_buffer(void **state)
{
  char buf[16] = "";
  int count = 0;

  (void)state;
  pacer_diff_add(buf, sizeof(buf), &count, "%s", "0123456789");
  pacer_diff_add(buf, sizeof(buf), &count, "%s", "abcdefghij");
  pacer_diff_add(buf, sizeof(buf), &count, "%s", "more");
  assert_int_equal(count, 3);
  assert_int_equal(strlen(buf), sizeof(buf) - 1);
  assert_memory_equal(buf, "0123456789; abc", 15);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rules_added_removed_changed_and_equal),
      cmocka_unit_test(rules_reordered),
      cmocka_unit_test(cred_fields_named_never_values),
      cmocka_unit_test(diff_add_cuts_at_the_buffer),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
