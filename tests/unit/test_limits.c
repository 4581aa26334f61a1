/* core/limits.c: the key kind table, one row per kind. Each kind is
 * parsed from its config spelling, printed back by
 * pacer_limit_key_kind_format, and names the bucket pacer_limit_key
 * builds from one fixed request; a kind left out of the table, or a row
 * with the wrong name or value source, fails here. Matching and escaping
 * are tested in test_config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/limits.h"

/* The request every row is asked about. */
#define HOST       "API.Example.COM."
#define CREDENTIAL "acme"
#define LIMIT_KEY  "acct/7"

static const char *
header_lookup(void *ctx, const char *name)
{
  (void)ctx;
  if (strcasecmp(name, "X-Account-Id") == 0)
    return "acct-42";
  if (strcasecmp(name, "Authorization") == 0)
    return "Bearer s3cret";
  return NULL;
}

/* One row per key kind, in enum order; the last rows are variants. */
static const struct {
  const char *key;                /* "key" in the config */
  enum pacer_limit_key_kind kind; /* what it parses to */
  const char *bucket;             /* pacer_limit_key for the request */
} rows[] = {
    {"global", PACER_LIMIT_KEY_GLOBAL, "l"},
    {"host", PACER_LIMIT_KEY_HOST, "l:api.example.com"},
    {"credential", PACER_LIMIT_KEY_CREDENTIAL, "l:acme"},
    {"limit_key", PACER_LIMIT_KEY_LIMIT_KEY, "l:acct%2F7"},
    {"header:X-Account-Id", PACER_LIMIT_KEY_HEADER, "l:acct-42"},
    /* a header that carries a secret is hashed, never shown */
    {"header:Authorization", PACER_LIMIT_KEY_HEADER, NULL},
};

static void
parse_limit(const char *key, struct pacer_config *cfg)
{
  char json[256];
  struct pacer_error err;

  snprintf(json, sizeof(json),
           "{\"limits\": [{\"name\": \"l\", \"rate\": \"1/s\", "
           "\"key\": \"%s\"}]}",
           key);
  assert_int_equal(pacer_config_defaults(cfg, 1), 0);
  assert_int_equal(pacer_config_parse(cfg, json, strlen(json), &err), 0);
  assert_int_equal(cfg->nlimits, 1);
}

static void
every_kind_parses_prints_back_and_names_its_bucket(void **state)
{
  char text[PACER_LIMIT_HEADER_MAX + 16], bucket[PACER_LIMIT_KEY_SIZE];
  size_t i;
  unsigned seen = 0;

  (void)state;
  for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct pacer_config cfg;
    const struct pacer_limit_cfg *l;

    parse_limit(rows[i].key, &cfg);
    l = &cfg.limits[0];
    assert_int_equal(l->key, rows[i].kind);
    seen |= 1u << l->key;
    assert_int_equal(pacer_limit_key_kind_format(l, text, sizeof(text)), 0);
    assert_string_equal(text, rows[i].key);
    assert_int_equal(pacer_limit_key(l, HOST, CREDENTIAL, LIMIT_KEY,
                                     header_lookup, NULL, bucket,
                                     sizeof(bucket)),
                     0);
    if (rows[i].bucket != NULL) {
      assert_string_equal(bucket, rows[i].bucket);
    } else {
      assert_int_equal(strlen(bucket), strlen("l:#") + 16);
      assert_memory_equal(bucket, "l:#", 3);
      assert_null(strstr(bucket, "s3cret"));
    }
    pacer_config_free(&cfg);
  }
  /* every kind of the enum has a row here */
  assert_int_equal(seen, (1u << PACER_LIMIT_KEY_KINDS) - 1);
}

/* The message lists every kind, from the table. */
static void
unknown_kind_lists_the_kinds(void **state)
{
  static const char json[] =
      "{\"limits\": [{\"name\": \"l\", \"rate\": \"1/s\", \"key\": \"ip\"}]}";
  struct pacer_config cfg;
  struct pacer_error err;

  (void)state;
  assert_int_equal(pacer_config_defaults(&cfg, 1), 0);
  assert_int_equal(pacer_config_parse(&cfg, json, strlen(json), &err),
                   PACER_ECONFIG);
  assert_string_equal(err.msg, "limits[0].key: \"ip\" is not global, host, "
                               "credential, limit_key or header:<Name>");
  pacer_config_free(&cfg);
}

/* "header:" needs a name, and a kind without one takes no suffix. */
static void
kind_spellings_are_exact(void **state)
{
  static const char *const bad[] = {"header:", "header",  "Host",
                                    "host:x",  "global ", "header:a b"};
  struct pacer_config cfg;
  struct pacer_error err;
  char json[256];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    snprintf(json, sizeof(json),
             "{\"limits\": [{\"name\": \"l\", \"rate\": \"1/s\", "
             "\"key\": \"%s\"}]}",
             bad[i]);
    assert_int_equal(pacer_config_defaults(&cfg, 1), 0);
    assert_int_equal(pacer_config_parse(&cfg, json, strlen(json), &err),
                     PACER_ECONFIG);
    assert_non_null(strstr(err.msg, "limits[0].key: "));
    pacer_config_free(&cfg);
  }
}

static void
kind_format_refuses_a_short_buffer(void **state)
{
  struct pacer_config cfg;
  char small[8];

  (void)state;
  parse_limit("header:X-Account-Id", &cfg);
  assert_int_equal(
      pacer_limit_key_kind_format(&cfg.limits[0], small, sizeof(small)),
      PACER_ETOOLARGE);
  assert_string_equal(small, "");
  pacer_config_free(&cfg);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_kind_parses_prints_back_and_names_its_bucket),
      cmocka_unit_test(unknown_kind_lists_the_kinds),
      cmocka_unit_test(kind_spellings_are_exact),
      cmocka_unit_test(kind_format_refuses_a_short_buffer),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
