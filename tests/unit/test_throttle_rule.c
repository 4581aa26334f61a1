/* Unit tests for core/throttle_rule.c, core/throttle_rule_parse.c,
 * core/throttle_preset.c and core/json_pointer.c: durations, pointers,
 * config errors that name the field, and each preset against the
 * responses its API documents (docs/LIMITS.md "Presets"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "core/config.h"
#include "core/json_pointer.h"
#include "core/throttle_rule.h"

#define NOW UINT64_C(1700000000000) /* virtual wall clock, unix ms */

static void
durations_read_google_iso_and_suffixed_forms(void **state)
{
  static const struct {
    const char *s;
    int rc;
    uint64_t ms;
  } cases[] = {
      {"40591s", 0, 40591000},
      {"1.5s", 0, 1500},
      {"0.0001s", 0, 1},
      {"250ms", 0, 250},
      {"2m", 0, 120000},
      {"1h", 0, 3600000},
      {"PT47M", 0, 2820000},
      {"PT1.5S", 0, 1500},
      {"P1DT2H", 0, 93600000},
      {"PT1H30M", 0, 5400000},
      {"P2D", 0, 172800000},
      {"0s", 0, 0},
      {"", -1, 0},
      {"-1s", -1, 0},
      {"1.5", -1, 0},
      {"PT", -1, 0},
      {"P1Y", -1, 0},
      {"P1W", -1, 0},
      {"PT1M2H", -1, 0},
      {"1e3s", -1, 0},
      {"abc", -1, 0},
      {"1.s", -1, 0},
      {".5s", -1, 0},
      {"5 s", -1, 0},
      {"99999999999999999999s", -1, 0},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint64_t ms = 0;

    print_message("%s\n", cases[i].s);
    assert_int_equal(pacer_tr_duration_ms(cases[i].s, &ms), cases[i].rc);
    if (cases[i].rc == 0)
      assert_int_equal(ms, cases[i].ms);
  }
}

static int
collect(const cJSON *v, void *arg)
{
  double *sum = arg;

  *sum += cJSON_IsNumber(v) ? v->valuedouble : 1000;
  return 0;
}

static void
json_pointers_follow_rfc_6901_with_a_wildcard(void **state)
{
  struct pacer_error err;
  cJSON *doc = cJSON_Parse("{\"a/b\": 1, \"m~n\": 2, \"x\": [10, 20, "
                           "{\"y\": 300}], \"o\": {\"p\": {\"q\": 4}, "
                           "\"r\": {\"q\": 5}}, \"\": 7}");
  double sum;

  (void)state;
  assert_non_null(doc);
  assert_int_equal(pacer_json_pointer_check("/a~1b", "f", &err), 0);
  assert_int_equal(pacer_json_pointer_check("", "f", &err), 0);
  assert_int_equal(pacer_json_pointer_check("a", "f", &err), PACER_ECONFIG);
  assert_string_equal(err.msg, "f: a JSON pointer (RFC 6901) starts with "
                               "\"/\", e.g. \"/error/code\"");
  assert_int_equal(pacer_json_pointer_check("/a~2", "g", &err), PACER_ECONFIG);
  assert_non_null(strstr(err.msg, "g: \"~\" in a JSON pointer"));
  sum = 0;
  assert_int_equal(pacer_json_pointer_each(doc, "/a~1b", collect, &sum), 1);
  assert_true(sum == 1);
  sum = 0;
  assert_int_equal(pacer_json_pointer_each(doc, "/m~0n", collect, &sum), 1);
  assert_true(sum == 2);
  sum = 0;
  assert_int_equal(pacer_json_pointer_each(doc, "/x/1", collect, &sum), 1);
  assert_true(sum == 20);
  assert_int_equal(pacer_json_pointer_each(doc, "/x/01", collect, &sum), 0);
  assert_int_equal(pacer_json_pointer_each(doc, "/x/3", collect, &sum), 0);
  sum = 0;
  assert_int_equal(pacer_json_pointer_each(doc, "/x/2/y", collect, &sum), 1);
  assert_true(sum == 300);
  sum = 0; /* the wildcard: every member */
  assert_int_equal(pacer_json_pointer_each(doc, "/o/*/q", collect, &sum), 2);
  assert_true(sum == 9);
  sum = 0;
  assert_int_equal(pacer_json_pointer_each(doc, "/", collect, &sum), 1);
  assert_true(sum == 7); /* the member named "" */
  assert_int_equal(pacer_json_pointer_each(NULL, "", collect, &sum), 0);
  cJSON_Delete(doc);
}

/* Parses text as the config's throttle_rules (with a limit "acct"). */
static int
parse(const char *rules_json, struct pacer_config *cfg, struct pacer_error *err)
{
  char text[4096];

  assert_int_equal(pacer_config_defaults(cfg, 1), 0);
  snprintf(text, sizeof(text),
           "{\"limits\": [{\"name\": \"acct\", \"key\": \"limit_key\", "
           "\"rate\": \"10/s\"}, {\"name\": \"dev\", \"rate\": \"10/s\"}], "
           "\"throttle_rules\": %s}",
           rules_json);
  return pacer_config_parse(cfg, text, strlen(text), err);
}

static void
bad_rules_are_config_errors_naming_the_field(void **state)
{
  static const struct {
    const char *rules, *msg;
  } cases[] = {
      {"{}", "throttle_rules: must be a list"},
      {"[{\"match\": {\"body\": {\"error/code\": {\"equals\": 1}}}}]",
       "throttle_rules[0].match.body[\"error/code\"]: a JSON pointer (RFC "
       "6901) starts with \"/\""},
      {"[{\"match\": {\"body\": {\"/e~x\": {\"equals\": 1}}}}]",
       "throttle_rules[0].match.body[\"/e~x\"]: \"~\" in a JSON pointer"},
      {"[{\"match\": {\"status\": 429}, \"delay\": [{\"fixed\": \"5 min\"}]}]",
       "throttle_rules[0].delay[0].fixed: \"5 min\" is not a duration"},
      {"[{\"match\": {\"status\": 429}, \"delay\": [{\"body\": \"/d\", "
       "\"unit\": \"sec\"}]}]",
       "throttle_rules[0].delay[0].unit: \"sec\" is not one of seconds"},
      {"[{\"match\": {\"status\": 429}, \"pause\": \"nope\"}]",
       "throttle_rules (throttle_rules[0]).pause: no limit is named "
       "\"nope\""},
      {"[{\"match\": {\"status\": [200, 99]}}]",
       "throttle_rules[0].match.status[1]: must be between 100 and 599"},
      {"[{\"match\": {}}]", "throttle_rules[0].match: needs a status or a "
                            "header or body condition"},
      {"[{\"match\": {\"status\": 429}, \"pause\": \"acct\"}, {\"preset\": "
       "\"linkedin\"}]",
       "throttle_rules[1].preset: \"linkedin\" is not a preset "
       "(meta-marketing, google-ads, snapchat-marketing, tiktok-business)"},
      {"[{\"match\": {\"headers\": {\"X-Mine\": {\"present\": true}}}}]",
       "throttle_rules[0].match.headers[\"X-Mine\"]: pacer does not keep "
       "the response header \"X-Mine\""},
      {"[{\"match\": {\"headers\": {\"X Y\": {\"present\": true}}}}]",
       "throttle_rules[0].match.headers[\"X Y\"]: \"X Y\" is not a header "
       "name"},
      {"[{\"match\": {\"body\": {\"/c\": {\"equals\": 1, \"contains\": "
       "2}}}}]",
       "throttle_rules[0].match.body[\"/c\"]: needs exactly one of present"},
      {"[{\"match\": {\"status\": 429}, \"colour\": 1}]",
       "throttle_rules[0].colour: unknown field"},
      {"[{\"preset\": \"google-ads\", \"limits\": {\"developer\": \"x\"}}]",
       "throttle_rules (google-ads.developer).pause: no limit is named "
       "\"x\""},
  };
  struct pacer_config cfg;
  struct pacer_error err;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    print_message("%s\n", cases[i].rules);
    assert_int_equal(parse(cases[i].rules, &cfg, &err), PACER_ECONFIG);
    if (strstr(err.msg, cases[i].msg) != err.msg)
      fail_msg("error \"%s\" does not start \"%s\"", err.msg, cases[i].msg);
    pacer_config_free(&cfg);
  }
}

/* Matches one response against the rules of cfg. */
static int
match(const struct pacer_config *cfg, long status, const char *host,
      const char *headers, const char *body, struct pacer_tr_match *m)
{
  struct pacer_tr_response r;
  cJSON *h = headers != NULL ? cJSON_Parse(headers) : NULL;
  int rc;

  memset(&r, 0, sizeof(r));
  r.status = status;
  r.host = host;
  r.path = "/v1/x";
  r.headers = h;
  r.body = body;
  r.body_len = body != NULL ? strlen(body) : 0;
  rc = pacer_throttle_rules_match(cfg->throttle_rules, cfg->nthrottle_rules, &r,
                                  NOW, m);
  cJSON_Delete(h);
  return rc;
}

static void
a_rule_matches_status_host_headers_and_body_values(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;
  struct pacer_tr_match m;

  (void)state;
  assert_int_equal(
      parse("[{\"name\": \"quota\", \"match\": {\"status\": [400, 403], "
            "\"host\": \"*.ads.test\", \"headers\": {\"Content-Type\": "
            "{\"equals\": "
            "\"quota\"}}, \"body\": {\"/error/code\": {\"one_of\": [17, "
            "80004]}, \"/error/message\": {\"contains\": \"limit\"}}}, "
            "\"pause\": \"acct\", \"delay\": [{\"header\": \"Retry-After\"}, "
            "{\"body\": \"/error/wait_ms\", \"unit\": \"ms\"}, {\"header\": "
            "\"X-App-Usage\", \"pointer\": \"/reset\", \"unit\": "
            "\"epoch_seconds\"}]}]",
            &cfg, &err),
      0);
  assert_int_equal(cfg.nthrottle_rules, 1);
  assert_string_equal(cfg.throttle_rules[0].pause, "acct");
  assert_int_equal(
      match(&cfg, 400, "api.ads.test",
            "{\"content-type\": \"quota\", \"retry-after\": \"2\"}",
            "{\"error\": {\"code\": 80004, \"message\": "
            "\"call limit reached\", \"wait_ms\": 4500}}",
            &m),
      1);
  assert_true(m.have_delay);
  assert_int_equal(m.delay_ms, 4500); /* the largest source */
  assert_string_equal(m.why, "rule quota: HTTP 400, delay 4500 ms");
  /* an epoch in a JSON header value */
  assert_int_equal(match(&cfg, 403, "api.ads.test",
                         "{\"content-type\": \"quota\", \"x-app-usage\": "
                         "\"{\\\"reset\\\": 1700000060}\"}",
                         "{\"error\": {\"code\": \"17\", \"message\": "
                         "\"limit\"}}",
                         &m),
                   1);
  assert_int_equal(m.delay_ms, 60000);
  /* each part must hold */
  assert_int_equal(
      match(&cfg, 429, "api.ads.test", "{\"content-type\": \"quota\"}",
            "{\"error\": {\"code\": 17, \"message\": \"limit\"}}", &m),
      0);
  assert_null(m.rule);
  assert_int_equal(match(&cfg, 400, "ads.test", "{\"content-type\": \"quota\"}",
                         "{\"error\": {\"code\": 17, \"message\": \"limit\"}}",
                         &m),
                   0);
  assert_int_equal(
      match(&cfg, 400, "a.ads.test", "{\"content-type\": \"other\"}",
            "{\"error\": {\"code\": 17, \"message\": \"limit\"}}", &m),
      0);
  assert_int_equal(match(&cfg, 400, "a.ads.test",
                         "{\"content-type\": \"quota\"}",
                         "{\"error\": {\"code\": 100, \"message\": "
                         "\"limit\"}}",
                         &m),
                   0);
  assert_int_equal(match(&cfg, 400, "a.ads.test",
                         "{\"content-type\": \"quota\"}", "not json", &m),
                   0);
  /* matched, but no source yielded a value: the key's backoff decides */
  assert_int_equal(
      match(&cfg, 400, "a.ads.test",
            "{\"content-type\": \"quota\", \"retry-after\": \"soon\"}",
            "{\"error\": {\"code\": 17, \"message\": \"limit\"}}", &m),
      1);
  assert_false(m.have_delay);
  assert_string_equal(m.why, "rule quota: HTTP 400, no delay given");
  pacer_config_free(&cfg);
}

static void
presets_parse_and_map_their_roles_to_limits(void **state)
{
  static const char *const names[] = {"meta-marketing", "google-ads",
                                      "snapchat-marketing", "tiktok-business"};
  struct pacer_config cfg;
  struct pacer_error err;
  char rules[256];
  size_t i;

  (void)state;
  for (i = 0; i < 4; i++) {
    snprintf(rules, sizeof(rules),
             "[{\"preset\": \"%s\", \"limits\": {\"account\": \"acct\", "
             "\"developer\": \"dev\", \"app\": \"dev\", \"token\": "
             "\"acct\"}}]",
             names[i]);
    print_message("%s\n", names[i]);
    assert_int_equal(parse(rules, &cfg, &err), 0);
    assert_true(cfg.nthrottle_rules >= 1);
    assert_true(cfg.throttle_rules[0].host[0] != '\0');
    assert_true(strcmp(cfg.throttle_rules[0].pause, "acct") == 0 ||
                strcmp(cfg.throttle_rules[0].pause, "dev") == 0);
    pacer_config_free(&cfg);
  }
  /* unmapped roles pause the lane's own 429 bucket; host is overridable */
  assert_int_equal(
      parse("[{\"preset\": \"google-ads\", \"host\": \"127.0.0.1\"}]", &cfg,
            &err),
      0);
  assert_int_equal(cfg.nthrottle_rules, 2);
  assert_string_equal(cfg.throttle_rules[0].pause, "");
  assert_string_equal(cfg.throttle_rules[1].host, "127.0.0.1");
  pacer_config_free(&cfg);
}

static void
presets_match_the_responses_their_apis_document(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;
  struct pacer_tr_match m;

  (void)state;
  assert_int_equal(
      parse("[{\"preset\": \"meta-marketing\", \"limits\": {\"account\": "
            "\"acct\", \"app\": \"dev\"}},"
            " {\"preset\": \"google-ads\", \"limits\": {\"account\": "
            "\"acct\", \"developer\": \"dev\"}},"
            " {\"preset\": \"snapchat-marketing\", \"limits\": {\"token\": "
            "\"acct\"}},"
            " {\"preset\": \"tiktok-business\", \"limits\": {\"app\": "
            "\"dev\"}}]",
            &cfg, &err),
      0);
  /* Meta: an ad account over its call limit, with the BUC header */
  assert_int_equal(
      match(&cfg, 400, "graph.facebook.com",
            "{\"x-business-use-case-usage\": \"{\\\"1234\\\": [{\\\"type\\\": "
            "\\\"ads_management\\\", \\\"call_count\\\": 100, "
            "\\\"estimated_time_to_regain_access\\\": 19}, {\\\"type\\\": "
            "\\\"ads_insights\\\", \\\"estimated_time_to_regain_access\\\": "
            "3}]}\"}",
            "{\"error\": {\"message\": \"(#80004) There have been too many "
            "calls to this ad-account.\", \"type\": \"OAuthException\", "
            "\"code\": 80004, \"error_subcode\": 2446079}}",
            &m),
      1);
  assert_string_equal(m.rule->name, "meta-marketing.account");
  assert_string_equal(m.rule->pause, "acct");
  assert_int_equal(m.delay_ms, 19u * 60000u);
  assert_int_equal(
      match(&cfg, 400, "graph.facebook.com",
            "{\"x-ad-account-usage\": \"{\\\"acc_id_util_pct\\\": 100, "
            "\\\"reset_time_duration\\\": 97}\"}",
            "{\"error\": {\"code\": 17, \"message\": \"User request limit "
            "reached\"}}",
            &m),
      1);
  assert_int_equal(m.delay_ms, 97000);
  assert_int_equal(match(&cfg, 400, "graph.facebook.com", NULL,
                         "{\"error\": {\"code\": 4}}", &m),
                   1);
  assert_string_equal(m.rule->pause, "dev");
  assert_int_equal(match(&cfg, 400, "graph.facebook.com", NULL,
                         "{\"error\": {\"code\": 100}}", &m),
                   0); /* an invalid parameter is no throttle */
  /* Google Ads: the developer token's quota, with a body delay */
  assert_int_equal(
      match(&cfg, 429, "googleads.googleapis.com", NULL,
            "{\"error\": {\"code\": 429, \"status\": \"RESOURCE_EXHAUSTED\", "
            "\"details\": [{\"@type\": \"type.googleapis.com/google.ads."
            "googleads.v17.errors.GoogleAdsFailure\", \"errors\": "
            "[{\"errorCode\": {\"quotaError\": \"RESOURCE_EXHAUSTED\"}, "
            "\"details\": {\"quotaErrorDetails\": {\"rateScope\": "
            "\"DEVELOPER\", \"rateName\": \"Number of operations for basic "
            "access\", \"retryDelay\": \"40591s\"}}}]}]}}",
            &m),
      1);
  assert_string_equal(m.rule->name, "google-ads.developer");
  assert_string_equal(m.rule->pause, "dev");
  assert_int_equal(m.delay_ms, 40591000);
  assert_int_equal(
      match(&cfg, 429, "googleads.googleapis.com", NULL,
            "{\"error\": {\"status\": \"RESOURCE_EXHAUSTED\", \"details\": "
            "[{\"errors\": [{\"details\": {\"quotaErrorDetails\": "
            "{\"rateScope\": \"ACCOUNT\", \"retryDelay\": \"1.5s\"}}}]}]}}",
            &m),
      1);
  assert_string_equal(m.rule->name, "google-ads.account");
  assert_string_equal(m.rule->pause, "acct");
  assert_int_equal(m.delay_ms, 1500);
  /* Snapchat: a bare 429 pauses the token */
  assert_int_equal(match(&cfg, 429, "adsapi.snapchat.com", NULL, "", &m), 1);
  assert_string_equal(m.rule->pause, "acct");
  assert_false(m.have_delay);
  /* TikTok: HTTP 200 with code 40100 */
  assert_int_equal(match(&cfg, 200, "business-api.tiktok.com", NULL,
                         "{\"code\": 40100, \"message\": \"Too many "
                         "requests\", \"data\": {}}",
                         &m),
                   1);
  assert_string_equal(m.rule->name, "tiktok-business.app");
  assert_int_equal(match(&cfg, 200, "business-api.tiktok.com", NULL,
                         "{\"code\": 0, \"data\": {}}", &m),
                   0);
  /* a preset is scoped to its API's host */
  assert_int_equal(
      match(&cfg, 200, "example.com", NULL, "{\"code\": 40100}", &m), 0);
  pacer_config_free(&cfg);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(durations_read_google_iso_and_suffixed_forms),
      cmocka_unit_test(json_pointers_follow_rfc_6901_with_a_wildcard),
      cmocka_unit_test(bad_rules_are_config_errors_naming_the_field),
      cmocka_unit_test(a_rule_matches_status_host_headers_and_body_values),
      cmocka_unit_test(presets_parse_and_map_their_roles_to_limits),
      cmocka_unit_test(presets_match_the_responses_their_apis_document),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
