/* Unit tests for scheduler/config.c: defaults, fields, errors, Redis URLs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "scheduler/config.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static int
setup_cfg(void **state)
{
  struct pacer_config *cfg = malloc(sizeof(*cfg));

  if (cfg == NULL || pacer_config_defaults(cfg, 4) != 0) {
    free(cfg);
    return -1;
  }
  *state = cfg;
  return 0;
}

static int
teardown_cfg(void **state)
{
  struct pacer_config *cfg = *state;

  pacer_config_free(cfg);
  free(cfg);
  return 0;
}

static int
parse(struct pacer_config *cfg, const char *json, struct pacer_error *err)
{
  return pacer_config_parse(cfg, json, strlen(json), err);
}

static void
expect_config_error(const char *json, const char *msg)
{
  struct pacer_config cfg;
  struct pacer_error err;

  assert_int_equal(pacer_config_defaults(&cfg, 2), 0);
  assert_int_equal(parse(&cfg, json, &err), PACER_ECONFIG);
  assert_int_equal(err.code, PACER_ECONFIG);
  assert_string_equal(err.msg, msg);
  pacer_config_free(&cfg);
}

static void
expect_addr_error(const char *url, const char *msg)
{
  struct pacer_redis_addr addr;
  struct pacer_error err;

  assert_int_equal(pacer_redis_addr_parse(url, &addr, &err), PACER_ECONFIG);
  assert_int_equal(err.code, PACER_ECONFIG);
  assert_string_equal(err.msg, msg);
  assert_string_equal(addr.password, "");
}

static void
parse_addr_ok(const char *url, struct pacer_redis_addr *addr)
{
  struct pacer_error err;
  int rc = pacer_redis_addr_parse(url, addr, &err);

  if (rc != 0)
    print_error("%s: %s\n", url, err.msg);
  assert_int_equal(rc, 0);
}

/* ------------------------------------------------------------------------
 * Defaults and fields
 * ------------------------------------------------------------------------ */

static void
config_defaults_fill_every_field(void **state)
{
  struct pacer_config *cfg = *state;

  assert_string_equal(cfg->redis_url, "redis://127.0.0.1:6379/0");
  assert_string_equal(cfg->prefix, "pacer:");
  assert_int_equal(cfg->workers, 4);
  assert_int_equal(cfg->concurrency, 256);
  assert_int_equal(cfg->prefetch_extra, 32);
  assert_int_equal(cfg->lease_ms, 60000);
  assert_int_equal(cfg->job_max_bytes, 1048576);
  assert_int_equal(cfg->response_max_bytes, 8388608);
  assert_int_equal(cfg->result_body_max_bytes, 65536);
  assert_int_equal(cfg->results_maxlen, 100000);
  assert_int_equal(cfg->dead_maxlen, 100000);
  assert_int_equal(cfg->connect_timeout_ms, 10000);
  assert_int_equal(cfg->default_timeout_ms, 30000);
  assert_int_equal(cfg->shutdown_grace_ms, 30000);
  assert_string_equal(cfg->log_level, "info");
  assert_string_equal(cfg->log, "all");
}

static void
config_defaults_use_at_least_one_worker(void **state)
{
  struct pacer_config cfg;

  (void)state;
  assert_int_equal(pacer_config_defaults(&cfg, 0), 0);
  assert_int_equal(cfg.workers, 1);
  pacer_config_free(&cfg);
}

static void
config_empty_object_keeps_every_default(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(parse(cfg, " { } \n", &err), 0);
  assert_string_equal(cfg->prefix, "pacer:");
  assert_int_equal(cfg->concurrency, 256);
}

static void
config_parse_sets_every_field(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;
  int rc;

  rc = parse(cfg,
             "{\"redis_url\": \"redis://:pw@10.0.0.5:6380/2\", "
             "\"prefix\": \"{app}:\", \"workers\": 8, \"concurrency\": 1000, "
             "\"prefetch_extra\": 0, \"lease_ms\": 120000, "
             "\"job_max_bytes\": 2097152, \"response_max_bytes\": 1024, "
             "\"result_body_max_bytes\": 0, \"results_maxlen\": 5, "
             "\"dead_maxlen\": 9007199254740992, \"connect_timeout_ms\": 1, "
             "\"default_timeout_ms\": 86400000, \"shutdown_grace_ms\": 0, "
             "\"log_level\": \"debug\", \"log\": \"all,-redis,+http\"}",
             &err);
  if (rc != 0)
    print_error("%s\n", err.msg);
  assert_int_equal(rc, 0);
  assert_string_equal(cfg->redis_url, "redis://:pw@10.0.0.5:6380/2");
  assert_string_equal(cfg->prefix, "{app}:");
  assert_int_equal(cfg->workers, 8);
  assert_int_equal(cfg->concurrency, 1000);
  assert_int_equal(cfg->prefetch_extra, 0);
  assert_int_equal(cfg->lease_ms, 120000);
  assert_int_equal(cfg->job_max_bytes, 2097152);
  assert_int_equal(cfg->response_max_bytes, 1024);
  assert_int_equal(cfg->result_body_max_bytes, 0);
  assert_int_equal(cfg->results_maxlen, 5);
  assert_true(cfg->dead_maxlen == UINT64_C(9007199254740992));
  assert_int_equal(cfg->connect_timeout_ms, 1);
  assert_int_equal(cfg->default_timeout_ms, 86400000);
  assert_int_equal(cfg->shutdown_grace_ms, 0);
  assert_string_equal(cfg->log_level, "debug");
  assert_string_equal(cfg->log, "all,-redis,+http");
}

static void
config_parse_applies_over_previous_values(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(parse(cfg, "{\"workers\": 3}", &err), 0);
  assert_int_equal(parse(cfg, "{\"concurrency\": 7}", &err), 0);
  assert_int_equal(cfg->workers, 3);
  assert_int_equal(cfg->concurrency, 7);
}

static void
config_failure_keeps_valid_values(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(parse(cfg, "{\"prefix\": \"p:\", \"workers\": 0}", &err),
                   PACER_ECONFIG);
  assert_string_equal(cfg->prefix, "p:");
  assert_int_equal(cfg->workers, 4);
}

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

static void
config_rejects_unknown_field(void **state)
{
  (void)state;
  expect_config_error("{\"worker\": 2}", "worker: unknown field");
  expect_config_error("{\"Workers\": 2}", "Workers: unknown field");
  expect_config_error("{\"\": 2}", "\"\": unknown field");
}

static void
config_rejects_duplicate_field(void **state)
{
  (void)state;
  expect_config_error("{\"workers\": 2, \"workers\": 3}",
                      "workers: duplicate field");
}

static void
config_rejects_invalid_json(void **state)
{
  (void)state;
  expect_config_error("{\"workers\": 2,}", "config: invalid JSON at byte 14");
  expect_config_error("{\"workers\": 2} x", "config: invalid JSON at byte 15");
  expect_config_error("", "config: invalid JSON at byte 0");
}

static void
config_rejects_nul_bytes(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(pacer_config_parse(cfg, "{\"log\":\"a\0b\"}", 13, &err),
                   PACER_ECONFIG);
  assert_string_equal(err.msg, "config: NUL byte at byte 9");
}

static void
config_rejects_non_object(void **state)
{
  (void)state;
  expect_config_error("[1]", "config: must be a JSON object");
  expect_config_error("\"x\"", "config: must be a JSON object");
}

static void
config_rejects_wrong_types(void **state)
{
  (void)state;
  expect_config_error("{\"workers\": \"2\"}", "workers: must be an integer");
  expect_config_error("{\"lease_ms\": true}", "lease_ms: must be an integer");
  expect_config_error("{\"concurrency\": 1.5}",
                      "concurrency: must be an integer");
  expect_config_error("{\"dead_maxlen\": null}",
                      "dead_maxlen: must be an integer");
  expect_config_error("{\"prefix\": 1}", "prefix: must be a string");
  expect_config_error("{\"redis_url\": {}}", "redis_url: must be a string");
  expect_config_error("{\"log_level\": 3}", "log_level: must be a string");
  expect_config_error("{\"log\": [\"all\"]}", "log: must be a string");
}

static void
config_rejects_values_out_of_range(void **state)
{
  (void)state;
  expect_config_error("{\"workers\": 0}",
                      "workers: must be between 1 and 1024");
  expect_config_error("{\"workers\": 1025}",
                      "workers: must be between 1 and 1024");
  expect_config_error("{\"concurrency\": -1}",
                      "concurrency: must be between 1 and 100000");
  expect_config_error("{\"prefetch_extra\": 100001}",
                      "prefetch_extra: must be between 0 and 100000");
  expect_config_error("{\"lease_ms\": 999}",
                      "lease_ms: must be between 1000 and 86400000");
  expect_config_error("{\"job_max_bytes\": 255}",
                      "job_max_bytes: must be between 256 and 67108864");
  expect_config_error("{\"response_max_bytes\": 0}",
                      "response_max_bytes: must be between 1 and 1073741824");
  expect_config_error("{\"result_body_max_bytes\": 67108865}",
                      "result_body_max_bytes: must be between 0 and 67108864");
  expect_config_error("{\"results_maxlen\": 0}",
                      "results_maxlen: must be between 1 and 9007199254740992");
  expect_config_error("{\"dead_maxlen\": 1e300}",
                      "dead_maxlen: must be between 1 and 9007199254740992");
  expect_config_error("{\"connect_timeout_ms\": 0}",
                      "connect_timeout_ms: must be between 1 and 86400000");
  expect_config_error("{\"default_timeout_ms\": 86400001}",
                      "default_timeout_ms: must be between 1 and 86400000");
  expect_config_error("{\"shutdown_grace_ms\": -5}",
                      "shutdown_grace_ms: must be between 0 and 86400000");
}

static void
config_rejects_bad_strings(void **state)
{
  (void)state;
  expect_config_error("{\"prefix\": \"\"}", "prefix: must be 1 to 128 bytes");
  expect_config_error("{\"prefix\": \"a\\nb\"}",
                      "prefix: must not contain control characters");
  expect_config_error("{\"log_level\": \"verbose\"}",
                      "log_level: \"verbose\" is not one of debug, info, "
                      "warn, error, off");
  expect_config_error("{\"log\": \"all,,redis\"}",
                      "log: \"all,,redis\" is not a component list such as "
                      "\"all,-redis\"");
  expect_config_error("{\"log\": \"a-component-name-too-long\"}",
                      "log: \"a-component-name-too-long\" is not a component "
                      "list such as \"all,-redis\"");
  expect_config_error("{\"redis_url\": \"rediss://h:6380\"}",
                      "redis_url: rediss:// (TLS) is not supported by this "
                      "build; run a TLS tunnel such as stunnel or spiped and "
                      "point redis:// at it");
}

static void
config_accepts_off_level_and_empty_log_spec(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(parse(cfg, "{\"log_level\": \"off\", \"log\": \"\"}", &err),
                   0);
  assert_string_equal(cfg->log_level, "off");
  assert_string_equal(cfg->log, "");
}

static void
config_redis_url_error_never_shows_the_password(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(
      parse(cfg, "{\"redis_url\": \"redis://u:hunter2@h:99999/0\"}", &err),
      PACER_ECONFIG);
  assert_string_equal(err.msg,
                      "redis_url: port must be a number from 1 to 65535");
  assert_null(strstr(err.msg, "hunter2"));
  assert_string_equal(cfg->redis_url, "redis://127.0.0.1:6379/0");
}

/* ------------------------------------------------------------------------
 * Load and environment
 * ------------------------------------------------------------------------ */

static void
config_load_reads_a_file(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;
  char path[] = "/tmp/pacer-test-config-XXXXXX";
  const char *text = "{\"workers\": 6, \"prefix\": \"t:\"}\n";
  int fd = mkstemp(path);

  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  assert_int_equal(close(fd), 0);
  assert_int_equal(pacer_config_load(cfg, path, &err), 0);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(cfg->workers, 6);
  assert_string_equal(cfg->prefix, "t:");
}

static void
config_load_reports_a_missing_file(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(pacer_config_load(cfg, "/nonexistent/pacer.json", &err),
                   PACER_ECONFIG);
  assert_string_equal(err.msg, "config: /nonexistent/pacer.json: No such file "
                               "or directory");
}

static void
config_load_reports_a_directory(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(pacer_config_load(cfg, "/", &err), PACER_ECONFIG);
  assert_string_equal(err.msg, "config: /: Is a directory");
}

static void
config_env_overrides_redis_url(void **state)
{
  struct pacer_config *cfg = *state;

  assert_int_equal(pacer_config_apply_env(cfg, "redis://other:1/3"), 0);
  assert_string_equal(cfg->redis_url, "redis://other:1/3");
}

static void
config_env_empty_or_unset_changes_nothing(void **state)
{
  struct pacer_config *cfg = *state;

  assert_int_equal(pacer_config_apply_env(cfg, NULL), 0);
  assert_int_equal(pacer_config_apply_env(cfg, ""), 0);
  assert_string_equal(cfg->redis_url, "redis://127.0.0.1:6379/0");
}

static void
config_free_nulls_every_string(void **state)
{
  struct pacer_config cfg;

  (void)state;
  assert_int_equal(pacer_config_defaults(&cfg, 1), 0);
  pacer_config_free(&cfg);
  assert_null(cfg.redis_url);
  assert_null(cfg.prefix);
  assert_null(cfg.log_level);
  assert_null(cfg.log);
  pacer_config_free(&cfg); /* twice is harmless */
}

/* ------------------------------------------------------------------------
 * Redis addresses
 * ------------------------------------------------------------------------ */

static void
redis_addr_tcp_host_takes_default_port_and_db(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("redis://localhost", &a);
  assert_string_equal(a.host, "localhost");
  assert_int_equal(a.port, 6379);
  assert_int_equal(a.db, 0);
  assert_string_equal(a.path, "");
  assert_string_equal(a.user, "");
  assert_string_equal(a.password, "");
}

static void
redis_addr_tcp_with_port_and_db(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("REDIS://10.0.0.1:6380/15", &a);
  assert_string_equal(a.host, "10.0.0.1");
  assert_int_equal(a.port, 6380);
  assert_int_equal(a.db, 15);
  parse_addr_ok("redis://h:1/", &a);
  assert_int_equal(a.port, 1);
  assert_int_equal(a.db, 0);
}

static void
redis_addr_tcp_with_user_and_password(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("redis://alice:s3cr%40t@cache.internal:7000/3", &a);
  assert_string_equal(a.user, "alice");
  assert_string_equal(a.password, "s3cr@t");
  assert_string_equal(a.host, "cache.internal");
  assert_int_equal(a.port, 7000);
  assert_int_equal(a.db, 3);
}

static void
redis_addr_tcp_with_password_only(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("redis://:p@ss@h", &a);
  assert_string_equal(a.user, "");
  assert_string_equal(a.password, "p@ss");
  assert_string_equal(a.host, "h");
}

static void
redis_addr_ipv6_host_loses_its_brackets(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("redis://[::1]:6390", &a);
  assert_string_equal(a.host, "::1");
  assert_int_equal(a.port, 6390);
}

static void
redis_addr_db_may_be_a_query_parameter(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("redis://h?db=4", &a);
  assert_int_equal(a.db, 4);
}

static void
redis_addr_unix_url_with_db(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("unix:///run/redis/redis.sock?db=2", &a);
  assert_string_equal(a.path, "/run/redis/redis.sock");
  assert_string_equal(a.host, "");
  assert_int_equal(a.db, 2);
  parse_addr_ok("unix:///tmp/r.sock", &a);
  assert_string_equal(a.path, "/tmp/r.sock");
  assert_int_equal(a.db, 0);
}

static void
redis_addr_bare_path_is_a_unix_socket(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("/var/run/redis.sock", &a);
  assert_string_equal(a.path, "/var/run/redis.sock");
  assert_string_equal(a.host, "");
}

static void
redis_addr_refuses_rediss_and_points_to_a_tunnel(void **state)
{
  (void)state;
  expect_addr_error("rediss://:secret@h:6380",
                    "redis_url: rediss:// (TLS) is not supported by this "
                    "build; run a TLS tunnel such as stunnel or spiped and "
                    "point redis:// at it");
}

static void
redis_addr_rejects_garbage(void **state)
{
  (void)state;
  expect_addr_error(NULL, "redis_url: must not be empty");
  expect_addr_error("", "redis_url: must not be empty");
  expect_addr_error("localhost:6379",
                    "redis_url: must start with redis://, unix:// or /, as "
                    "in redis://127.0.0.1:6379/0");
  expect_addr_error("http://h:6379",
                    "redis_url: scheme \"http\" is not supported, use "
                    "redis:// or unix://");
  expect_addr_error("redis://", "redis_url: host is empty");
  expect_addr_error("redis://:6379", "redis_url: host is empty");
  expect_addr_error("redis://h:0",
                    "redis_url: port must be a number from 1 to 65535");
  expect_addr_error("redis://h:65536",
                    "redis_url: port must be a number from 1 to 65535");
  expect_addr_error("redis://h:x",
                    "redis_url: port must be a number from 1 to 65535");
  expect_addr_error("redis://h/x",
                    "redis_url: database must be a number from 0 to "
                    "2147483647, as in redis://host:6379/0");
  expect_addr_error("redis://h/-1",
                    "redis_url: database must be a number from 0 to "
                    "2147483647, as in redis://host:6379/0");
  expect_addr_error("redis://h/99999999999",
                    "redis_url: database must be a number from 0 to "
                    "2147483647, as in redis://host:6379/0");
  expect_addr_error("redis://h?timeout=5",
                    "redis_url: the only query parameter is db, as in ?db=0");
  expect_addr_error("redis://h w",
                    "redis_url: host must be a name or an address, as in "
                    "redis://127.0.0.1:6379/0");
  expect_addr_error("redis://[::1",
                    "redis_url: IPv6 host has no closing \"]\"");
  expect_addr_error("unix://run/redis.sock",
                    "redis_url: unix socket path must be absolute, as in "
                    "unix:///run/redis/redis.sock");
  expect_addr_error("unix:///r.sock?db=x",
                    "redis_url: db must be a number from 0 to 2147483647");
}

static void
redis_addr_rejects_user_without_password_and_hides_it(void **state)
{
  struct pacer_redis_addr a;
  struct pacer_error err;

  (void)state;
  assert_int_equal(pacer_redis_addr_parse("redis://hunter2@h", &a, &err),
                   PACER_ECONFIG);
  assert_string_equal(err.msg,
                      "redis_url: a user name needs a password: use "
                      "redis://user:password@host or redis://:password@host");
  assert_null(strstr(err.msg, "hunter2"));
}

static void
redis_addr_rejects_bad_percent_escape_in_password(void **state)
{
  (void)state;
  expect_addr_error("redis://:pa%zzss@h",
                    "redis_url: password is too long or has a bad %-escape");
  expect_addr_error("redis://:pa%00ss@h",
                    "redis_url: password is too long or has a bad %-escape");
  expect_addr_error("redis://:pa%4@h",
                    "redis_url: password is too long or has a bad %-escape");
}

static void
redis_addr_rejects_unix_path_longer_than_sun_path(void **state)
{
  char url[200];

  (void)state;
  memset(url, 'a', sizeof(url));
  url[0] = '/';
  url[108] = '\0';
  expect_addr_error(url,
                    "redis_url: unix socket path is longer than 107 bytes");
  url[107] = '\0';
  {
    struct pacer_redis_addr a;

    parse_addr_ok(url, &a);
    assert_int_equal(strlen(a.path), 107);
  }
}

static void
redis_addr_errors_never_contain_the_password(void **state)
{
  static const char *const urls[] = {
      "redis://u:hunter2@h:bad", "redis://u:hunter2@/0",
      "redis://u:hunter2@h/db",  "redis://:hunter2@h w",
      "redis://:hunter2/x@h",    "redis://u:hunter2@h?x=1",
      "redis://:hunter2%zz@h",   "rediss://:hunter2@h",
      "redis://hunter2@h",
  };
  size_t i;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(urls); i++) {
    struct pacer_redis_addr a;
    struct pacer_error err;

    assert_int_equal(pacer_redis_addr_parse(urls[i], &a, &err), PACER_ECONFIG);
    assert_null(strstr(err.msg, "hunter2"));
    assert_string_equal(a.password, "");
  }
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(config_defaults_fill_every_field,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test(config_defaults_use_at_least_one_worker),
      cmocka_unit_test_setup_teardown(config_empty_object_keeps_every_default,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test_setup_teardown(config_parse_sets_every_field, setup_cfg,
                                      teardown_cfg),
      cmocka_unit_test_setup_teardown(config_parse_applies_over_previous_values,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test_setup_teardown(config_failure_keeps_valid_values,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test(config_rejects_unknown_field),
      cmocka_unit_test(config_rejects_duplicate_field),
      cmocka_unit_test(config_rejects_invalid_json),
      cmocka_unit_test_setup_teardown(config_rejects_nul_bytes, setup_cfg,
                                      teardown_cfg),
      cmocka_unit_test(config_rejects_non_object),
      cmocka_unit_test(config_rejects_wrong_types),
      cmocka_unit_test(config_rejects_values_out_of_range),
      cmocka_unit_test(config_rejects_bad_strings),
      cmocka_unit_test_setup_teardown(
          config_accepts_off_level_and_empty_log_spec, setup_cfg, teardown_cfg),
      cmocka_unit_test_setup_teardown(
          config_redis_url_error_never_shows_the_password, setup_cfg,
          teardown_cfg),
      cmocka_unit_test_setup_teardown(config_load_reads_a_file, setup_cfg,
                                      teardown_cfg),
      cmocka_unit_test_setup_teardown(config_load_reports_a_missing_file,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test_setup_teardown(config_load_reports_a_directory,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test_setup_teardown(config_env_overrides_redis_url, setup_cfg,
                                      teardown_cfg),
      cmocka_unit_test_setup_teardown(config_env_empty_or_unset_changes_nothing,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test(config_free_nulls_every_string),
      cmocka_unit_test(redis_addr_tcp_host_takes_default_port_and_db),
      cmocka_unit_test(redis_addr_tcp_with_port_and_db),
      cmocka_unit_test(redis_addr_tcp_with_user_and_password),
      cmocka_unit_test(redis_addr_tcp_with_password_only),
      cmocka_unit_test(redis_addr_ipv6_host_loses_its_brackets),
      cmocka_unit_test(redis_addr_db_may_be_a_query_parameter),
      cmocka_unit_test(redis_addr_unix_url_with_db),
      cmocka_unit_test(redis_addr_bare_path_is_a_unix_socket),
      cmocka_unit_test(redis_addr_refuses_rediss_and_points_to_a_tunnel),
      cmocka_unit_test(redis_addr_rejects_garbage),
      cmocka_unit_test(redis_addr_rejects_user_without_password_and_hides_it),
      cmocka_unit_test(redis_addr_rejects_bad_percent_escape_in_password),
      cmocka_unit_test(redis_addr_rejects_unix_path_longer_than_sun_path),
      cmocka_unit_test(redis_addr_errors_never_contain_the_password),
  };

  return cmocka_run_group_tests_name("config", tests, NULL, NULL) != 0;
}
