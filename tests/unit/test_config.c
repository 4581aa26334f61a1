/* Unit tests for core/config.c: defaults, fields, errors, Redis URLs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/util.h"
#include "core/config.h"
#include "core/job.h"
#include "scheduler/config_load.h"

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
  assert_int_equal(cfg->retry_after_max_ms, 3600000);
  assert_int_equal(cfg->defer_after_ms, 2000);
  assert_int_equal(cfg->default_deadline_ms, 86400000);
  assert_int_equal(cfg->throttle_backoff_base_ms, 1000);
  assert_int_equal(cfg->throttle_backoff_cap_ms, 300000);
  assert_int_equal(cfg->throttle_backoff_floor_ms, 1000);
  assert_int_equal(cfg->eviction_refuse, 1);
  assert_string_equal(cfg->log_level, "info");
  assert_string_equal(cfg->log, "all");
  assert_null(cfg->limits);
  assert_int_equal(cfg->nlimits, 0);
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
             "\"retry_after_max_ms\": 60000, \"defer_after_ms\": 500, "
             "\"redis_eviction\": \"warn\", "
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
  assert_int_equal(cfg->retry_after_max_ms, 60000);
  assert_int_equal(cfg->defer_after_ms, 500);
  assert_int_equal(cfg->eviction_refuse, 0);
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
  expect_config_error("{\"worker\": 2}",
                      "worker: unknown field; did you mean \"workers\"?");
  expect_config_error("{\"Workers\": 2}",
                      "Workers: unknown field; did you mean \"workers\"?");
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
  expect_config_error("{\"retry_after_max_ms\": 999}",
                      "retry_after_max_ms: must be between 1000 and "
                      "604800000");
  expect_config_error("{\"defer_after_ms\": 60001}",
                      "defer_after_ms: must be between 0 and 60000");
  expect_config_error("{\"throttle_backoff_floor_ms\": 0}",
                      "throttle_backoff_floor_ms: must be between 100 and "
                      "604800000");
  expect_config_error("{\"throttle_backoff_base_ms\": 5000, "
                      "\"throttle_backoff_cap_ms\": 4000}",
                      "throttle_backoff_cap_ms: 4000 is below "
                      "throttle_backoff_base_ms 5000");
  expect_config_error("{\"throttle_backoff_floor_ms\": 500000}",
                      "throttle_backoff_floor_ms: 500000 is above "
                      "throttle_backoff_cap_ms 300000");
  expect_config_error("{\"default_deadline_ms\": 31536000001}",
                      "default_deadline_ms: must be between 0 and "
                      "31536000000");
  expect_config_error("{\"redis_eviction\": \"ignore\"}",
                      "redis_eviction: must be \"refuse\" or \"warn\"");
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
                      "prefix: byte 1 is a control character or not UTF-8; "
                      "use printable text such as \"pacer:\"");
  expect_config_error("{\"log_level\": \"verbose\"}",
                      "log_level: \"verbose\" is not one of debug, info, "
                      "warn, error, off");
  expect_config_error("{\"log\": \"all,,redis\"}",
                      "log: \"all,,redis\" is not a component list such as "
                      "\"all,-redis\"");
  expect_config_error("{\"log\": \"a-component-name-too-long\"}",
                      "log: \"a-component-name-too-long\" is not a component "
                      "list such as \"all,-redis\"");
  expect_config_error("{\"redis_url\": \"redis://h:6380?ca_file=/c\"}",
                      "redis_url: ca_file needs a rediss:// (TLS) URL");
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
config_redis_tls_joins_a_rediss_url(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_redis_addr a;
  struct pacer_error err;

  assert_int_equal(
      parse(cfg,
            "{\"redis_url\": \"rediss://:pw@h:6380/1?server_name=url.name\", "
            "\"redis_tls\": {\"ca_file\": \"/etc/ca x.pem\", \"cert_file\": "
            "\"/c.pem\", \"key_file\": \"/k.pem\", \"server_name\": "
            "\"file.name\", \"insecure\": false}}",
            &err),
      0);
  assert_string_equal(cfg->redis_url,
                      "rediss://:pw@h:6380/1?ca_file=/etc/ca%20x.pem&cert_file="
                      "/c.pem&key_file=/k.pem&server_name=file.name&server_"
                      "name=url.name");
  assert_int_equal(pacer_redis_addr_parse(cfg->redis_url, &a, &err), 0);
  assert_string_equal(a.tls.ca_file, "/etc/ca x.pem");
  assert_string_equal(a.tls.server_name, "url.name"); /* the URL's wins */
  assert_int_equal(a.db, 1);
  /* PACER_REDIS_URL / --redis: joined when rediss://, else left alone */
  assert_int_equal(pacer_config_apply_env(cfg, "rediss://o:1"), 0);
  assert_string_equal(cfg->redis_url,
                      "rediss://o:1?ca_file=/etc/ca%20x.pem&cert_file=/c.pem&"
                      "key_file=/k.pem&server_name=file.name");
  assert_int_equal(pacer_config_apply_env(cfg, "unix:///r.sock"), 0);
  assert_string_equal(cfg->redis_url, "unix:///r.sock");
}

static void
config_redis_tls_errors(void **state)
{
  (void)state;
  expect_config_error("{\"redis_url\": \"redis://h\", \"redis_tls\": "
                      "{\"ca_file\": \"/c\"}}",
                      "redis_tls: needs a rediss:// redis_url");
  expect_config_error("{\"redis_tls\": []}",
                      "redis_tls: must be an object such as {\"ca_file\": "
                      "\"/etc/ssl/redis-ca.pem\"}");
  expect_config_error("{\"redis_tls\": {\"ca_file\": \"rel.pem\"}}",
                      "redis_tls.ca_file: must be an absolute path of 1 to "
                      "255 bytes");
  expect_config_error("{\"redis_tls\": {\"insecure\": 1}}",
                      "redis_tls.insecure: must be true or false");
  expect_config_error("{\"redis_tls\": {\"cafile\": \"/c\"}}",
                      "redis_tls.cafile: unknown field; known: ca_file, "
                      "cert_file, key_file, server_name, insecure");
  expect_config_error("{\"redis_url\": \"rediss://h\", \"redis_tls\": "
                      "{\"key_file\": \"/k\"}}",
                      "redis_url: key_file needs cert_file");
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
  assert_null(cfg.limits);
  assert_int_equal(cfg.nlimits, 0);
  pacer_config_free(&cfg); /* twice is harmless */
}

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

static void
config_free_releases_the_limits(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;

  (void)state;
  assert_int_equal(pacer_config_defaults(&cfg, 1), 0);
  assert_int_equal(
      parse(&cfg, "{\"limits\": [{\"name\": \"a\", \"rate\": \"1/s\"}]}", &err),
      0);
  assert_int_equal(cfg.nlimits, 1);
  pacer_config_free(&cfg);
  assert_null(cfg.limits);
  assert_int_equal(cfg.nlimits, 0);
}

#define FULL_LIMITS                                                            \
  "{\"limits\": ["                                                             \
  "{\"name\": \"ads.app-1\", \"match\": {\"host\": \"*.Ads.Example\", "        \
  "\"path_prefix\": \"/v1/\", \"methods\": [\"GET\", \"POST\"]}, "             \
  "\"key\": \"header:X-Account-Id\", \"rate\": \"600/min\", \"burst\": 5, "    \
  "\"max_in_flight\": 8, \"cost\": 2, \"adaptive\": false, "                   \
  "\"pause_on_429\": false},"                                                  \
  "{\"name\": \"per_token\", \"rate\": \"5000/h\"},"                           \
  "{\"name\": \"h\", \"key\": \"host\", \"rate\": \"1/s\", \"match\": {}},"    \
  "{\"name\": \"c\", \"key\": \"credential\", \"rate\": \"1000000/s\"},"       \
  "{\"name\": \"k\", \"key\": \"limit_key\", \"rate\": \"10/s\", "             \
  "\"match\": {\"host\": \"[2001:DB8::1]\"}}"                                  \
  "]}"

/* Parses one limit (the object text obj) and copies it to *out. */
static void
parse_one_limit(const char *obj, struct pacer_limit_cfg *out)
{
  struct pacer_config cfg;
  struct pacer_error err;
  char json[1024];
  int rc;

  assert_true((size_t)snprintf(json, sizeof(json), "{\"limits\": [%s]}", obj) <
              sizeof(json));
  assert_int_equal(pacer_config_defaults(&cfg, 1), 0);
  rc = parse(&cfg, json, &err);
  if (rc != 0)
    print_error("%s: %s\n", obj, err.msg);
  assert_int_equal(rc, 0);
  assert_int_equal(cfg.nlimits, 1);
  *out = cfg.limits[0];
  pacer_config_free(&cfg);
}

static void
expect_limit_error(const char *obj, const char *msg)
{
  char json[1024];

  assert_true((size_t)snprintf(json, sizeof(json), "{\"limits\": [%s]}", obj) <
              sizeof(json));
  expect_config_error(json, msg);
}

struct headers {
  const char *name;
  const char *value;
  int calls;
};

static const char *
header_lookup(void *ctx, const char *name)
{
  struct headers *h = ctx;

  h->calls++;
  return strcasecmp(name, h->name) == 0 ? h->value : NULL;
}

static void
limits_full_example_sets_every_field(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;
  const struct pacer_limit_cfg *l;
  int rc;

  rc = parse(cfg, FULL_LIMITS, &err);
  if (rc != 0)
    print_error("%s\n", err.msg);
  assert_int_equal(rc, 0);
  assert_int_equal(cfg->nlimits, 5);
  l = &cfg->limits[0];
  assert_string_equal(l->name, "ads.app-1");
  assert_string_equal(l->match_host, "*.ads.example");
  assert_string_equal(l->match_path_prefix, "/v1/");
  assert_int_equal(l->match_methods,
                   (1u << PACER_METHOD_GET) | (1u << PACER_METHOD_POST));
  assert_int_equal(l->key, PACER_LIMIT_KEY_HEADER);
  assert_string_equal(l->key_header, "X-Account-Id");
  assert_int_equal(l->rate_count, 600);
  assert_int_equal(l->rate_period_us, 60000000);
  assert_int_equal(l->gcra.interval_us, 100000);
  assert_int_equal(l->gcra.burst, 5);
  assert_int_equal(l->max_in_flight, 8);
  assert_int_equal(l->cost, 2);
  assert_int_equal(l->adaptive, 0);
  assert_int_equal(l->pause_on_429, 0);
  l = &cfg->limits[1];
  assert_int_equal(l->gcra.interval_us, 720000);
  assert_int_equal(cfg->limits[2].key, PACER_LIMIT_KEY_HOST);
  assert_int_equal(cfg->limits[2].gcra.interval_us, 1000000);
  assert_int_equal(cfg->limits[3].key, PACER_LIMIT_KEY_CREDENTIAL);
  assert_int_equal(cfg->limits[3].gcra.interval_us, 1);
  assert_int_equal(cfg->limits[4].key, PACER_LIMIT_KEY_LIMIT_KEY);
  assert_string_equal(cfg->limits[4].match_host, "[2001:db8::1]");
}

static void
limits_take_defaults_for_optional_fields(void **state)
{
  struct pacer_limit_cfg l;

  (void)state;
  parse_one_limit("{\"name\": \"a\", \"rate\": \"10/s\"}", &l);
  assert_string_equal(l.name, "a");
  assert_string_equal(l.match_host, "");
  assert_string_equal(l.match_path_prefix, "");
  assert_int_equal(l.match_methods, 0);
  assert_int_equal(l.key, PACER_LIMIT_KEY_GLOBAL);
  assert_int_equal(l.rate_count, 10);
  assert_int_equal(l.rate_period_us, 1000000);
  assert_int_equal(l.gcra.interval_us, 100000);
  assert_int_equal(l.gcra.burst, 0);
  assert_int_equal(l.max_in_flight, 0);
  assert_int_equal(l.cost, 1);
  assert_int_equal(l.adaptive, 1);
  assert_int_equal(l.pause_on_429, 1);
}

static void
limits_accept_rates_per_second_minute_and_hour(void **state)
{
  struct pacer_limit_cfg l;

  (void)state;
  parse_one_limit("{\"name\": \"a\", \"rate\": \"3/s\"}", &l);
  assert_int_equal(l.gcra.interval_us, 333334); /* rounded up */
  parse_one_limit("{\"name\": \"a\", \"rate\": \"1/min\"}", &l);
  assert_int_equal(l.gcra.interval_us, 60000000);
  parse_one_limit("{\"name\": \"a\", \"rate\": \"1/h\", \"burst\": 100000}",
                  &l);
  assert_int_equal(l.gcra.interval_us, 3600000000u);
  assert_int_equal(l.gcra.burst, 100000);
  parse_one_limit("{\"name\": \"a\", \"rate\": \"3600000000/h\"}", &l);
  assert_int_equal(l.gcra.interval_us, 1);
  parse_one_limit("{\"name\": \"a\", \"rate\": \"010/s\", \"burst\": 2, "
                  "\"cost\": 3}",
                  &l);
  assert_int_equal(l.rate_count, 10);
  assert_int_equal(l.cost, 3);
  parse_one_limit("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                  "{\"host\": \"*\"}}",
                  &l);
  assert_string_equal(l.match_host, "");
}

static void
limits_replace_the_previous_list_or_keep_it_on_failure(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(parse(cfg, FULL_LIMITS, &err), 0);
  assert_int_equal(parse(cfg,
                         "{\"limits\": [{\"name\": \"x\", \"rate\": \"1/s\"}, "
                         "{\"name\": \"y\", \"rate\": \"2/s\"}]}",
                         &err),
                   0);
  assert_int_equal(cfg->nlimits, 2);
  assert_string_equal(cfg->limits[1].name, "y");
  assert_int_equal(parse(cfg,
                         "{\"limits\": [{\"name\": \"z\", \"rate\": \"1/s\"}, "
                         "{\"name\": \"w\", \"rate\": \"0/s\"}]}",
                         &err),
                   PACER_ECONFIG);
  assert_string_equal(err.msg,
                      "limits[1].rate: \"0/s\" must allow at least 1 request");
  assert_int_equal(cfg->nlimits, 2);
  assert_string_equal(cfg->limits[0].name, "x");
  assert_int_equal(parse(cfg, "{\"limits\": []}", &err), 0);
  assert_int_equal(cfg->nlimits, 0);
  assert_null(cfg->limits);
}

static void
limits_reject_a_bad_list(void **state)
{
  char *json = malloc(64 * 1024);
  size_t o, i;

  (void)state;
  assert_non_null(json);
  expect_config_error("{\"limits\": {}}", "limits: must be an array");
  expect_config_error("{\"limits\": [1]}", "limits[0]: must be an object");
  expect_config_error("{\"limits\": [{\"name\": \"a\", \"rate\": \"1/s\"}, "
                      "null]}",
                      "limits[1]: must be an object");
  o = (size_t)snprintf(json, 64, "{\"limits\": [");
  for (i = 0; i <= PACER_LIMITS_MAX; i++)
    o += (size_t)snprintf(json + o, 64 * 1024 - o,
                          "%s{\"name\": \"n%zu\", \"rate\": \"1/s\"}",
                          i > 0 ? "," : "", i);
  snprintf(json + o, 64 * 1024 - o, "]}");
  expect_config_error(json, "limits: at most 256 entries");
  free(json);
}

static void
limits_reject_unknown_and_duplicate_fields(void **state)
{
  (void)state;
  expect_limit_error("{\"name\": \"a\", \"rat\": \"1/s\"}",
                     "limits[0].rat: unknown field; did you mean \"rate\"?");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"\": 1}",
                     "limits[0].\"\": unknown field");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"rate\": \"2/s\"}",
                     "limits[0].rate: duplicate field");
  expect_limit_error(
      "{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
      "{\"hosts\": \"x\"}}",
      "limits[0].match.hosts: unknown field; did you mean \"host\"?");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"host\": \"x\", \"host\": \"y\"}}",
                     "limits[0].match.host: duplicate field");
}

static void
limits_reject_a_bad_or_repeated_name(void **state)
{
  (void)state;
  expect_limit_error("{\"rate\": \"1/s\"}",
                     "limits[0].name: required field is missing");
  expect_limit_error("{\"name\": 1, \"rate\": \"1/s\"}",
                     "limits[0].name: must be a string");
  expect_limit_error("{\"name\": \"\", \"rate\": \"1/s\"}",
                     "limits[0].name: \"\" must be 1 to 64 characters from "
                     "A-Z a-z 0-9 _ . -");
  expect_limit_error("{\"name\": \"a b\", \"rate\": \"1/s\"}",
                     "limits[0].name: \"a b\" must be 1 to 64 characters from "
                     "A-Z a-z 0-9 _ . -");
  expect_limit_error("{\"name\": \"a:b\", \"rate\": \"1/s\"}",
                     "limits[0].name: \"a:b\" must be 1 to 64 characters from "
                     "A-Z a-z 0-9 _ . -");
  expect_limit_error(
      "{\"name\": "
      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
      "\"rate\": \"1/s\"}",
      "limits[0].name: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" must be "
      "1 to 64 characters from A-Z a-z 0-9 _ . -");
  expect_config_error("{\"limits\": [{\"name\": \"a\", \"rate\": \"1/s\"}, "
                      "{\"name\": \"b\", \"rate\": \"1/s\"}, "
                      "{\"name\": \"a\", \"rate\": \"1/s\"}]}",
                      "limits[2].name: \"a\" is already the name of "
                      "limits[0]");
}

static void
limits_reject_impossible_rates(void **state)
{
  (void)state;
  expect_limit_error("{\"name\": \"a\"}",
                     "limits[0].rate: required field is missing, as in "
                     "\"10/s\"");
  expect_limit_error("{\"name\": \"a\", \"rate\": 10}",
                     "limits[0].rate: must be a string such as \"10/s\"");
  expect_config_error("{\"limits\": [{\"name\": \"a\", \"rate\": \"1/s\"}, "
                      "{\"name\": \"b\", \"rate\": \"1/s\"}, "
                      "{\"name\": \"c\", \"rate\": \"10/fortnight\"}]}",
                      "limits[2].rate: \"10/fortnight\" is not N/s, N/min or "
                      "N/h");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"10/m\"}",
                     "limits[0].rate: \"10/m\" is not N/s, N/min or N/h");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"10/S\"}",
                     "limits[0].rate: \"10/S\" is not N/s, N/min or N/h");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1.5/s\"}",
                     "limits[0].rate: \"1.5/s\" is not N/s, N/min or N/h");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"/s\"}",
                     "limits[0].rate: \"/s\" is not N/s, N/min or N/h");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"-1/s\"}",
                     "limits[0].rate: \"-1/s\" is not N/s, N/min or N/h");
  expect_limit_error("{\"name\": \"a\", \"rate\": \" 10/s\"}",
                     "limits[0].rate: \" 10/s\" is not N/s, N/min or N/h");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"10/s \"}",
                     "limits[0].rate: \"10/s \" is not N/s, N/min or N/h");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"0/h\"}",
                     "limits[0].rate: \"0/h\" must allow at least 1 request");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1000001/s\"}",
                     "limits[0].rate: \"1000001/s\" is faster than 1000000/s "
                     "(one request per microsecond)");
  expect_limit_error("{\"name\": \"a\", \"rate\": "
                     "\"99999999999999999999999999/min\"}",
                     "limits[0].rate: \"99999999999999999999999999/min\" is "
                     "faster than 1000000/s (one request per microsecond)");
}

static void
limits_reject_bad_numbers_and_flags(void **state)
{
  (void)state;
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"burst\": -1}",
                     "limits[0].burst: must be between 0 and 100000");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"burst\": 100001}",
                     "limits[0].burst: must be between 0 and 100000");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"burst\": \"3\"}",
                     "limits[0].burst: must be an integer");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"burst\": 1.5}",
                     "limits[0].burst: must be an integer");
  expect_limit_error(
      "{\"name\": \"a\", \"rate\": \"1/s\", \"max_in_flight\": 0}",
      "limits[0].max_in_flight: must be between 1 and 100000");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"cost\": 0}",
                     "limits[0].cost: must be between 1 and 100001");
  expect_limit_error("{\"name\": \"a\", \"cost\": 5, \"rate\": \"1/s\", "
                     "\"burst\": 2}",
                     "limits[0].cost: 5 is more than burst + 1 (3), so no "
                     "request could ever be sent; raise burst to at least 4");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"cost\": 2}",
                     "limits[0].cost: 2 is more than burst + 1 (1), so no "
                     "request could ever be sent; raise burst to at least 1");
  expect_limit_error(
      "{\"name\": \"a\", \"rate\": \"1/s\", \"adaptive\": \"yes\"}",
      "limits[0].adaptive: must be true or false");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"pause_on_429\": "
                     "1}",
                     "limits[0].pause_on_429: must be true or false");
}

static void
limits_reject_a_bad_key(void **state)
{
  (void)state;
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"key\": 3}",
                     "limits[0].key: must be a string");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"key\": "
                     "\"tenant\"}",
                     "limits[0].key: \"tenant\" is not global, host, "
                     "credential, limit_key or header:<Name>");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"key\": "
                     "\"Global\"}",
                     "limits[0].key: \"Global\" is not global, host, "
                     "credential, limit_key or header:<Name>");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"key\": "
                     "\"header:\"}",
                     "limits[0].key: \"header:\" needs a header name of 1 to "
                     "64 token characters, as in \"header:X-Account-Id\"");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"key\": "
                     "\"header:X Account\"}",
                     "limits[0].key: \"header:X Account\" needs a header name "
                     "of 1 to 64 token characters, as in "
                     "\"header:X-Account-Id\"");
}

static void
limits_reject_a_bad_match(void **state)
{
  (void)state;
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "\"*\"}",
                     "limits[0].match: must be an object");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"host\": 1}}",
                     "limits[0].match.host: must be a string");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"host\": \"api*.example.com\"}}",
                     "limits[0].match.host: \"api*.example.com\" is not a "
                     "host name or \"*.<domain>\"");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"host\": \"\"}}",
                     "limits[0].match.host: \"\" is not a host name or "
                     "\"*.<domain>\"");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"host\": \"*.\"}}",
                     "limits[0].match.host: \"*.\" is not a host name or "
                     "\"*.<domain>\"");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"host\": \"a..b\"}}",
                     "limits[0].match.host: \"a..b\" is not a host name or "
                     "\"*.<domain>\"");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"host\": \"api.example.com:443\"}}",
                     "limits[0].match.host: \"api.example.com:443\" is not a "
                     "host name or \"*.<domain>\"");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"host\": \"*.[::1]\"}}",
                     "limits[0].match.host: \"*.[::1]\" is not a host name or "
                     "\"*.<domain>\"");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"path_prefix\": \"v1/\"}}",
                     "limits[0].match.path_prefix: must start with \"/\"");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"path_prefix\": \"/a b\"}}",
                     "limits[0].match.path_prefix: must not contain spaces or "
                     "control characters");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"methods\": \"GET\"}}",
                     "limits[0].match.methods: must be an array of method "
                     "names");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"methods\": []}}",
                     "limits[0].match.methods: must list at least one method "
                     "(leave it out to match every method)");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"methods\": [\"GET\", \"get\"]}}",
                     "limits[0].match.methods[1]: \"get\" is not one of GET, "
                     "POST, PUT, PATCH, DELETE, HEAD");
  expect_limit_error("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                     "{\"methods\": [1]}}",
                     "limits[0].match.methods[0]: must be a string");
}

static void
limits_reject_a_path_prefix_longer_than_255_bytes(void **state)
{
  char obj[512];
  char prefix[300];

  (void)state;
  memset(prefix, 'p', sizeof(prefix));
  prefix[0] = '/';
  prefix[256] = '\0';
  snprintf(obj, sizeof(obj),
           "{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
           "{\"path_prefix\": \"%s\"}}",
           prefix);
  expect_limit_error(obj, "limits[0].match.path_prefix: must be at most 255 "
                          "bytes");
  prefix[255] = '\0';
  snprintf(obj, sizeof(obj),
           "{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
           "{\"path_prefix\": \"%s\"}}",
           prefix);
  {
    struct pacer_limit_cfg l;

    parse_one_limit(obj, &l);
    assert_int_equal(strlen(l.match_path_prefix), 255);
  }
}

static void
limit_without_match_matches_every_request(void **state)
{
  struct pacer_limit_cfg l;

  (void)state;
  parse_one_limit("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": {}}", &l);
  assert_true(pacer_limit_matches(&l, "GET", "x.test", "/"));
  assert_true(pacer_limit_matches(&l, "DELETE", "y.test", "/a/b"));
  assert_true(pacer_limit_matches(&l, NULL, NULL, NULL));
}

static void
limit_matches_an_exact_host_case_insensitively(void **state)
{
  struct pacer_limit_cfg l;

  (void)state;
  parse_one_limit("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                  "{\"host\": \"API.example.com\"}}",
                  &l);
  assert_true(pacer_limit_matches(&l, "GET", "api.example.com", "/"));
  assert_true(pacer_limit_matches(&l, "GET", "Api.Example.COM", "/"));
  assert_true(pacer_limit_matches(&l, "GET", "api.example.com.", "/"));
  assert_false(pacer_limit_matches(&l, "GET", "x.api.example.com", "/"));
  assert_false(pacer_limit_matches(&l, "GET", "api.example.co", "/"));
  assert_false(pacer_limit_matches(&l, "GET", "api.example.com..", "/"));
  assert_false(pacer_limit_matches(&l, "GET", NULL, "/"));
}

static void
limit_glob_host_matches_subdomains_only(void **state)
{
  struct pacer_limit_cfg l;

  (void)state;
  parse_one_limit("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                  "{\"host\": \"*.example.com\"}}",
                  &l);
  assert_true(pacer_limit_matches(&l, "GET", "a.example.com", "/"));
  assert_true(pacer_limit_matches(&l, "GET", "a.b.EXAMPLE.com", "/"));
  assert_true(pacer_limit_matches(&l, "GET", "a.example.com.", "/"));
  assert_false(pacer_limit_matches(&l, "GET", "example.com", "/"));
  assert_false(pacer_limit_matches(&l, "GET", ".example.com", "/"));
  assert_false(pacer_limit_matches(&l, "GET", "badexample.com", "/"));
  assert_false(pacer_limit_matches(&l, "GET", "a.example.com.evil", "/"));
}

static void
limit_matches_path_prefix_and_methods(void **state)
{
  struct pacer_limit_cfg l;

  (void)state;
  parse_one_limit("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                  "{\"path_prefix\": \"/v1/\", \"methods\": [\"POST\", "
                  "\"PATCH\"]}}",
                  &l);
  assert_true(pacer_limit_matches(&l, "POST", "h", "/v1/orders"));
  assert_true(pacer_limit_matches(&l, "PATCH", "h", "/v1/"));
  assert_false(pacer_limit_matches(&l, "GET", "h", "/v1/orders"));
  assert_false(pacer_limit_matches(&l, "post", "h", "/v1/orders"));
  assert_false(pacer_limit_matches(&l, "OPTIONS", "h", "/v1/orders"));
  assert_false(pacer_limit_matches(&l, NULL, "h", "/v1/orders"));
  assert_false(pacer_limit_matches(&l, "POST", "h", "/v2/orders"));
  assert_false(pacer_limit_matches(&l, "POST", "h", "/v1"));
  assert_false(pacer_limit_matches(&l, "POST", "h", ""));
  parse_one_limit("{\"name\": \"a\", \"rate\": \"1/s\", \"match\": "
                  "{\"path_prefix\": \"/\"}}",
                  &l);
  assert_true(pacer_limit_matches(&l, "GET", "h", NULL));
  assert_true(pacer_limit_matches(&l, "GET", "h", ""));
}

static void
limit_key_names_the_bucket_of_each_kind(void **state)
{
  struct headers h = {"X-Account-Id", "acct-42", 0};
  struct pacer_limit_cfg l;
  char key[PACER_LIMIT_KEY_SIZE];

  (void)state;
  parse_one_limit("{\"name\": \"g\", \"rate\": \"1/s\"}", &l);
  assert_int_equal(pacer_limit_key(&l, "h.test", "cred", "lk", header_lookup,
                                   &h, key, sizeof(key)),
                   0);
  assert_string_equal(key, "g");
  assert_int_equal(h.calls, 0);
  parse_one_limit("{\"name\": \"by-host\", \"key\": \"host\", \"rate\": "
                  "\"1/s\"}",
                  &l);
  assert_int_equal(pacer_limit_key(&l, "API.Example.com.", NULL, NULL, NULL,
                                   NULL, key, sizeof(key)),
                   0);
  assert_string_equal(key, "by-host:api.example.com");
  parse_one_limit("{\"name\": \"c\", \"key\": \"credential\", \"rate\": "
                  "\"1/s\"}",
                  &l);
  assert_int_equal(
      pacer_limit_key(&l, "h", "Acme", "lk", NULL, NULL, key, sizeof(key)), 0);
  assert_string_equal(key, "c:Acme");
  parse_one_limit("{\"name\": \"k\", \"key\": \"limit_key\", \"rate\": "
                  "\"1/s\"}",
                  &l);
  assert_int_equal(
      pacer_limit_key(&l, "h", "Acme", "acct-7", NULL, NULL, key, sizeof(key)),
      0);
  assert_string_equal(key, "k:acct-7");
  parse_one_limit("{\"name\": \"hd\", \"key\": \"header:x-account-id\", "
                  "\"rate\": \"1/s\"}",
                  &l);
  assert_int_equal(
      pacer_limit_key(&l, "h", NULL, NULL, header_lookup, &h, key, sizeof(key)),
      0);
  assert_string_equal(key, "hd:acct-42");
  assert_int_equal(h.calls, 1);
}

static void
limit_key_escapes_bytes_unsafe_in_redis_keys(void **state)
{
  struct pacer_limit_cfg l;
  char key[PACER_LIMIT_KEY_SIZE];

  (void)state;
  parse_one_limit("{\"name\": \"k\", \"key\": \"limit_key\", \"rate\": "
                  "\"1/s\"}",
                  &l);
  assert_int_equal(pacer_limit_key(&l, NULL, NULL, "{a b}:x%\n\xc3\xa9", NULL,
                                   NULL, key, sizeof(key)),
                   0);
  assert_string_equal(key, "k:%7Ba%20b%7D%3Ax%25%0A%C3%A9");
  parse_one_limit("{\"name\": \"h\", \"key\": \"host\", \"rate\": \"1/s\"}",
                  &l);
  assert_int_equal(pacer_limit_key(&l, "[2001:DB8::1]", NULL, NULL, NULL, NULL,
                                   key, sizeof(key)),
                   0);
  assert_string_equal(key, "h:%5B2001%3Adb8%3A%3A1%5D");
}

/* Lane names from a secret header are keyed with the deployment's key
 * (docs/LIMITS.md): BLAKE2b-64 of the value under that key, not the
 * unkeyed hash anyone could compute from a guessed token. */
static void
limit_key_of_a_secret_header_is_keyed(void **state)
{
  struct headers h = {"Authorization", "Bearer abc", 0};
  struct pacer_limit_cfg l;
  unsigned char key[PACER_LIMIT_HASH_KEY_BYTES], key2[sizeof(key)], d[8];
  char plain[PACER_LIMIT_KEY_SIZE], keyed[PACER_LIMIT_KEY_SIZE],
      keyed2[PACER_LIMIT_KEY_SIZE], want[PACER_LIMIT_KEY_SIZE];

  (void)state;
  memset(key, 0x11, sizeof(key));
  memset(key2, 0x22, sizeof(key2));
  parse_one_limit("{\"name\": \"tok\", \"key\": \"header:Authorization\", "
                  "\"rate\": \"10/s\"}",
                  &l);
  assert_int_equal(pacer_limit_key(&l, NULL, NULL, NULL, header_lookup, &h,
                                   plain, sizeof(plain)),
                   0);
  assert_int_equal(pacer_limit_key_keyed(&l, NULL, NULL, NULL, header_lookup,
                                         &h, key, keyed, sizeof(keyed)),
                   0);
  assert_int_equal(pacer_limit_key_keyed(&l, NULL, NULL, NULL, header_lookup,
                                         &h, key2, keyed2, sizeof(keyed2)),
                   0);
  crypto_generichash(d, sizeof(d), (const unsigned char *)"Bearer abc", 10, key,
                     sizeof(key));
  snprintf(want, sizeof(want), "tok:#%02x%02x%02x%02x%02x%02x%02x%02x", d[0],
           d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
  assert_string_equal(keyed, want);
  assert_string_not_equal(keyed, plain);
  assert_string_not_equal(keyed, keyed2); /* another deployment */
  /* a value that is not secret is not hashed at all */
  parse_one_limit("{\"name\": \"acct\", \"key\": \"header:X-Account\", "
                  "\"rate\": \"10/s\"}",
                  &l);
  h.name = "X-Account";
  h.value = "a1";
  assert_int_equal(pacer_limit_key_keyed(&l, NULL, NULL, NULL, header_lookup,
                                         &h, key, keyed, sizeof(keyed)),
                   0);
  assert_string_equal(keyed, "acct:a1");
}

static void
limit_key_hashes_secret_headers_and_long_values(void **state)
{
  struct headers h = {"Authorization", "Bearer AT-CANARY", 0};
  struct headers h2 = {"Authorization", "Bearer AT-OTHER", 0};
  struct pacer_limit_cfg l;
  char key[PACER_LIMIT_KEY_SIZE], key2[PACER_LIMIT_KEY_SIZE];
  char long_value[200];

  (void)state;
  /* a per-token limit must not put the token into Redis or stats */
  parse_one_limit("{\"name\": \"tok\", \"key\": \"header:Authorization\", "
                  "\"rate\": \"10/s\"}",
                  &l);
  assert_int_equal(pacer_limit_key(&l, NULL, NULL, NULL, header_lookup, &h, key,
                                   sizeof(key)),
                   0);
  assert_null(strstr(key, "CANARY"));
  assert_int_equal(strlen(key), strlen("tok:#") + 16);
  assert_memory_equal(key, "tok:#", 5);
  assert_int_equal(pacer_limit_key(&l, NULL, NULL, NULL, header_lookup, &h2,
                                   key2, sizeof(key2)),
                   0);
  assert_string_not_equal(key, key2);
  assert_int_equal(pacer_limit_key(&l, NULL, NULL, NULL, header_lookup, &h,
                                   key2, sizeof(key2)),
                   0);
  assert_string_equal(key, key2); /* stable */
  /* a value whose escaped form exceeds 128 bytes is hashed too */
  parse_one_limit("{\"name\": \"k\", \"key\": \"limit_key\", \"rate\": "
                  "\"1/s\"}",
                  &l);
  memset(long_value, 'v', sizeof(long_value));
  long_value[128] = '\0';
  assert_int_equal(
      pacer_limit_key(&l, NULL, NULL, long_value, NULL, NULL, key, sizeof(key)),
      0);
  assert_int_equal(strlen(key), 2 + 128);
  long_value[128] = 'v';
  long_value[129] = '\0';
  assert_int_equal(
      pacer_limit_key(&l, NULL, NULL, long_value, NULL, NULL, key, sizeof(key)),
      0);
  assert_int_equal(strlen(key), strlen("k:#") + 16);
}

static void
limit_key_without_a_value_shares_one_bucket(void **state)
{
  struct headers h = {"X-Other", "1", 0};
  struct pacer_limit_cfg l;
  char key[PACER_LIMIT_KEY_SIZE];

  (void)state;
  parse_one_limit("{\"name\": \"c\", \"key\": \"credential\", \"rate\": "
                  "\"1/s\"}",
                  &l);
  assert_int_equal(
      pacer_limit_key(&l, "h", NULL, "lk", NULL, NULL, key, sizeof(key)), 0);
  assert_string_equal(key, "c:(none)");
  assert_int_equal(
      pacer_limit_key(&l, "h", "", "lk", NULL, NULL, key, sizeof(key)), 0);
  assert_string_equal(key, "c:(none)");
  /* a real value that reads "(none)" is escaped: it cannot share it */
  assert_int_equal(
      pacer_limit_key(&l, "h", "(none)", "lk", NULL, NULL, key, sizeof(key)),
      0);
  assert_string_equal(key, "c:%28none%29");
  parse_one_limit("{\"name\": \"hd\", \"key\": \"header:X-Account\", "
                  "\"rate\": \"1/s\"}",
                  &l);
  assert_int_equal(pacer_limit_key(&l, NULL, NULL, NULL, header_lookup, &h, key,
                                   sizeof(key)),
                   0);
  assert_string_equal(key, "hd:(none)");
  assert_int_equal(
      pacer_limit_key(&l, NULL, NULL, NULL, NULL, NULL, key, sizeof(key)), 0);
  assert_string_equal(key, "hd:(none)");
}

static void
limit_key_reports_a_buffer_too_small(void **state)
{
  struct pacer_limit_cfg l;
  char key[8];

  (void)state;
  parse_one_limit("{\"name\": \"k\", \"key\": \"limit_key\", \"rate\": "
                  "\"1/s\"}",
                  &l);
  assert_int_equal(
      pacer_limit_key(&l, NULL, NULL, "abcdef", NULL, NULL, key, sizeof(key)),
      PACER_ETOOLARGE);
  assert_string_equal(key, "");
  assert_int_equal(
      pacer_limit_key(&l, NULL, NULL, "abcde", NULL, NULL, key, sizeof(key)),
      0);
  assert_string_equal(key, "k:abcde");
  assert_int_equal(pacer_limit_key(&l, NULL, NULL, "a", NULL, NULL, NULL, 0),
                   PACER_ETOOLARGE);
}

static void
limit_key_fits_the_documented_size_at_the_longest(void **state)
{
  struct pacer_limit_cfg l;
  char key[PACER_LIMIT_KEY_SIZE], value[PACER_LIMIT_KEY_VALUE_MAX + 1];

  (void)state;
  parse_one_limit(
      "{\"name\": "
      "\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
      "nnnnn\", \"key\": \"limit_key\", \"rate\": \"1/s\"}",
      &l);
  assert_int_equal(strlen(l.name), PACER_LIMIT_NAME_MAX);
  memset(value, 'v', PACER_LIMIT_KEY_VALUE_MAX);
  value[PACER_LIMIT_KEY_VALUE_MAX] = '\0';
  assert_int_equal(
      pacer_limit_key(&l, NULL, NULL, value, NULL, NULL, key, sizeof(key)), 0);
  assert_int_equal(strlen(key), PACER_LIMIT_KEY_SIZE - 1);
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
  assert_string_equal(a.password, "");
}

static void
unix_url_takes_a_password_and_user_like_redis_py(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("unix://:pw@/tmp/x.sock", &a);
  assert_string_equal(a.path, "/tmp/x.sock");
  assert_string_equal(a.user, "");
  assert_string_equal(a.password, "pw");
  assert_string_equal(a.host, "");
  assert_int_equal(a.db, 0);
  parse_addr_ok("unix://pacer:s%2Fe%40c%3Fr@/run/redis/r@1.sock?db=3", &a);
  assert_string_equal(a.path, "/run/redis/r@1.sock");
  assert_string_equal(a.user, "pacer");
  assert_string_equal(a.password, "s/e@c?r");
  assert_int_equal(a.db, 3);
  /* userinfo ends at the last "@" before the path, as for redis:// */
  parse_addr_ok("unix://:p@ss@/tmp/x.sock", &a);
  assert_string_equal(a.password, "p@ss");
  assert_string_equal(a.path, "/tmp/x.sock");
}

static void
unix_url_userinfo_errors_hide_the_password(void **state)
{
  static const char *const urls[] = {
      "unix://:hunter2@tmp/x.sock", "unix://:hunter2@",
      "unix://:hunter2%zz@/x.sock", "unix://:hunter2@/x.sock?db=x",
      "unix://hunter2@/x.sock",
  };
  size_t i;

  (void)state;
  expect_addr_error("unix://hunter2@/tmp/x.sock",
                    "redis_url: a user name needs a password: use "
                    "unix://user:password@/path.sock or "
                    "unix://:password@/path.sock");
  expect_addr_error("unix://:pa%zz@/tmp/x.sock",
                    "redis_url: password is too long or has a bad %-escape");
  expect_addr_error("unix://:pw@", "redis_url: unix socket path must be "
                                   "absolute, as in "
                                   "unix:///run/redis/redis.sock");
  for (i = 0; i < PACER_ARRAY_SIZE(urls); i++) {
    struct pacer_redis_addr a;
    struct pacer_error err;

    assert_int_equal(pacer_redis_addr_parse(urls[i], &a, &err), PACER_ECONFIG);
    assert_null(strstr(err.msg, "hunter2"));
    assert_string_equal(a.password, "");
  }
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
redis_addr_rediss_takes_tls_options(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("rediss://:pw@cache.example:6380/2", &a);
  assert_int_equal(a.tls.on, 1);
  assert_int_equal(a.tls.insecure, 0);
  assert_string_equal(a.host, "cache.example");
  assert_int_equal(a.port, 6380);
  assert_int_equal(a.db, 2);
  assert_string_equal(a.password, "pw");
  assert_string_equal(a.tls.ca_file, "");
  parse_addr_ok("REDISS://[::1]/0?ca_file=/etc/ca%20x.pem&cert_file=/c.pem"
                "&key_file=/k.pem&server_name=redis.internal&db=3",
                &a);
  assert_int_equal(a.tls.on, 1);
  assert_string_equal(a.host, "::1");
  assert_int_equal(a.port, 6379);
  assert_int_equal(a.db, 3);
  assert_string_equal(a.tls.ca_file, "/etc/ca x.pem");
  assert_string_equal(a.tls.cert_file, "/c.pem");
  assert_string_equal(a.tls.key_file, "/k.pem");
  assert_string_equal(a.tls.server_name, "redis.internal");
  parse_addr_ok("rediss://h?insecure=1", &a);
  assert_int_equal(a.tls.insecure, 1);
  parse_addr_ok("redis://h", &a);
  assert_int_equal(a.tls.on, 0);
}

static void
redis_addr_sentinel_lists_sentinels_and_the_master(void **state)
{
  struct pacer_redis_addr a;

  (void)state;
  parse_addr_ok("redis-sentinel://:pw@10.0.0.1,10.0.0.2:26380,[::1]:7/mymaster"
                "/3",
                &a);
  assert_int_equal(a.nseeds, 3);
  assert_string_equal(a.seeds[0].host, "10.0.0.1");
  assert_int_equal(a.seeds[0].port, 26379);
  assert_string_equal(a.seeds[1].host, "10.0.0.2");
  assert_int_equal(a.seeds[1].port, 26380);
  assert_string_equal(a.seeds[2].host, "::1");
  assert_int_equal(a.seeds[2].port, 7);
  assert_string_equal(a.master, "mymaster");
  assert_string_equal(a.password, "pw");
  assert_string_equal(a.host, "");
  assert_int_equal(a.db, 3);
  parse_addr_ok("REDIS-SENTINEL://s1:1/pacer_main?db=2", &a);
  assert_int_equal(a.nseeds, 1);
  assert_string_equal(a.master, "pacer_main");
  assert_int_equal(a.db, 2);
  parse_addr_ok("redis://h", &a);
  assert_int_equal(a.nseeds, 0);
}

static void
redis_addr_sentinel_errors(void **state)
{
  (void)state;
  expect_addr_error("redis-sentinel://s1:26379",
                    "redis_url: the master's name is missing, as in "
                    "redis-sentinel://127.0.0.1:26379/mymaster");
  expect_addr_error("redis-sentinel://s1//0",
                    "redis_url: the master's name is missing, as in "
                    "redis-sentinel://127.0.0.1:26379/mymaster");
  expect_addr_error("redis-sentinel:///m", "redis_url: host is empty");
  expect_addr_error("redis-sentinel://s1,/m",
                    "redis_url: empty node after \",\"");
  expect_addr_error("redis-sentinel://s1,,s2/m", "redis_url: host is empty");
  expect_addr_error("redis-sentinel://s1:0/m",
                    "redis_url: port must be a number from 1 to 65535");
  expect_addr_error("redis-sentinel://a,b,c,d,e,f,g,h,i/m",
                    "redis_url: more than 8 nodes");
  expect_addr_error("redis-sentinel://s/m%20x",
                    "redis_url: the master's name may hold letters, digits, "
                    "\".\", \"-\" and \"_\"");
  expect_addr_error("redis-sentinel://s/m/x",
                    "redis_url: database must be a number from 0 to "
                    "2147483647, as in redis://host:6379/0");
}

static void
redis_addr_cluster_lists_nodes(void **state)
{
  struct pacer_redis_addr a;
  struct pacer_error err;

  (void)state;
  parse_addr_ok("redis-cluster://:pw@10.0.0.1:7000,10.0.0.2", &a);
  assert_int_equal(a.cluster, 1);
  assert_int_equal(a.nseeds, 2);
  assert_string_equal(a.seeds[0].host, "10.0.0.1");
  assert_int_equal(a.seeds[0].port, 7000);
  assert_int_equal(a.seeds[1].port, 6379);
  assert_string_equal(a.password, "pw");
  assert_int_equal(a.slot, -1);
  parse_addr_ok("redis-cluster://h/", &a);
  assert_int_equal(a.nseeds, 1);
  expect_addr_error("redis-cluster://h/1", "redis_url: a cluster URL has no "
                                           "path: Redis Cluster has db 0 "
                                           "only");
  expect_addr_error("redis-cluster://h?db=2",
                    "redis_url: db must be 0: Redis Cluster has db 0 only");
  /* the queue's keys share the prefix's hash tag */
  parse_addr_ok("redis-cluster://h", &a);
  assert_int_equal(pacer_redis_addr_route(&a, "{pacer}:", &err), 0);
  assert_int_equal(a.slot, (int)pacer_redis_key_slot("pacer", 5));
  assert_int_equal(pacer_redis_addr_route(&a, "pacer:", &err), PACER_ECONFIG);
  assert_string_equal(err.msg,
                      "prefix: \"pacer:\" has no hash tag; with "
                      "redis-cluster:// every key of a queue must share one "
                      "slot: use a prefix such as \"{pacer}:\" "
                      "(docs/REDIS.md)");
  assert_int_equal(pacer_redis_addr_route(&a, "{}:", &err), PACER_ECONFIG);
  parse_addr_ok("redis://h", &a);
  assert_int_equal(pacer_redis_addr_route(&a, "pacer:", &err), 0);
}

static void
redis_key_slot_matches_redis(void **state)
{
  (void)state;
  /* CLUSTER KEYSLOT answers of Redis 7 */
  assert_int_equal(pacer_redis_key_slot("foo", 3), 12182);
  assert_int_equal(pacer_redis_key_slot("bar", 3), 5061);
  assert_int_equal(pacer_redis_key_slot("hello", 5), 866);
  assert_int_equal(pacer_redis_key_slot("123456789", 9), 12739);
  assert_int_equal(pacer_redis_key_slot("{user1000}.following", 20), 3443);
  assert_int_equal(pacer_redis_key_slot("user1000", 8), 3443);
  assert_int_equal(pacer_redis_key_slot("{pacer}:jobs", 12), 6865);
  assert_int_equal(pacer_redis_key_slot("{pacer}:results", 15), 6865);
  /* an empty tag is no tag: the whole key counts */
  assert_int_equal(pacer_redis_key_slot("{}x", 3), 10595);
  assert_int_equal(pacer_redis_key_slot("", 0), 0);
}

static void
redis_addr_tls_options_are_checked(void **state)
{
  (void)state;
  expect_addr_error("redis://h?ca_file=/c",
                    "redis_url: ca_file needs a rediss:// (TLS) URL");
  expect_addr_error("unix:///r.sock?insecure=1",
                    "redis_url: insecure needs a rediss:// (TLS) URL");
  expect_addr_error("rediss://h?insecure=yes",
                    "redis_url: insecure must be 0 or 1");
  expect_addr_error("rediss://h?ca_file=",
                    "redis_url: ca_file must be 1 to 255 bytes without a bad "
                    "%-escape");
  expect_addr_error("rediss://h?key_file=/k",
                    "redis_url: key_file needs cert_file");
  expect_addr_error("rediss://h?cert_file=/c",
                    "redis_url: cert_file needs key_file");
  expect_addr_error("rediss://h?db",
                    "redis_url: query parameters are key=value, as in ?db=0");
  expect_addr_error("rediss://h?ssl_cert_reqs=none",
                    "redis_url: unknown query parameter \"ssl_cert_reqs\"; "
                    "known: db, and with rediss:// ca_file, cert_file, "
                    "key_file, server_name, insecure");
}

static void
redis_addr_rejects_garbage(void **state)
{
  (void)state;
  expect_addr_error(NULL, "redis_url: must not be empty");
  expect_addr_error("", "redis_url: must not be empty");
  expect_addr_error(
      "localhost:6379",
      "redis_url: must start with redis://, rediss://, unix:// or /, "
      "as "
      "in redis://127.0.0.1:6379/0");
  expect_addr_error("http://h:6379",
                    "redis_url: scheme \"http\" is not supported, use "
                    "redis://, rediss://, redis-sentinel://, "
                    "redis-cluster:// or unix://");
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
                    "redis_url: unknown query parameter \"timeout\"; known: "
                    "db, and with rediss:// ca_file, cert_file, key_file, "
                    "server_name, insecure");
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
      "redis://:hunter2%zz@h",   "rediss://:hunter2@h?insecure=2",
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

/* ------------------------------------------------------------------------
 * Credentials (docs/CREDENTIALS.md)
 * ------------------------------------------------------------------------ */

#define CRED_MIN                                                               \
  "\"token_url\": \"https://idp.up.test/token\", \"client_id\": \"pacer\", "   \
  "\"hosts\": [\"api.up.test\"]"

/* Writes text to a new file in dir (NULL: /tmp) with mode; returns its
 * path, owned (free). */
static char *
write_temp(const char *dir, const char *text, mode_t mode)
{
  char *path = malloc(4096);
  int fd;

  assert_non_null(path);
  snprintf(path, 4096, "%s/pacer-test-cred-XXXXXX", dir != NULL ? dir : "/tmp");
  fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  assert_int_equal(fchmod(fd, mode), 0);
  assert_int_equal(close(fd), 0);
  return path;
}

/* Loads a config file holding text with mode; returns pacer_config_load's
 * result with cfg filled (free it) and err set. */
static int
load_text(struct pacer_config *cfg, const char *text, mode_t mode,
          struct pacer_error *err)
{
  char *path = write_temp(NULL, text, mode);
  int rc;

  assert_int_equal(pacer_config_defaults(cfg, 1), 0);
  rc = pacer_config_load(cfg, path, err);
  assert_int_equal(unlink(path), 0);
  free(path);
  return rc;
}

static void
expect_load_error(const char *text, mode_t mode, const char *msg)
{
  struct pacer_config cfg;
  struct pacer_error err;

  const char *m;

  assert_int_equal(load_text(&cfg, text, mode, &err), PACER_ECONFIG);
  /* A parse error starts with FILE:LINE:COLUMN (core/config_locate.h). */
  m = err.msg;
  if (strncmp(m, "/", 1) == 0) {
    m = strstr(m, ": ");
    assert_non_null(m);
    m += 2;
  }
  assert_true(strncmp(m, msg, strlen(m)) == 0); /* maybe cut at 255 */
  assert_true(strlen(m) >= strlen(msg) || strlen(err.msg) == 255);
  assert_null(strstr(err.msg, "CANARY"));
  pacer_config_free(&cfg);
}

static void
credentials_full_example_sets_every_field(void **state)
{
  struct pacer_config *cfg = *state;
  const struct pacer_cred_cfg *c;
  struct pacer_error err;

  assert_int_equal(parse(cfg,
                         "{\"credentials\": {\"acme\": {"
                         "\"token_url\": \"https://idp.up.test/token\", "
                         "\"client_id\": \"pacer client\", "
                         "\"client_secret\": \"CS-CANARY\", "
                         "\"refresh_token_env\": \"ACME_REFRESH_TOKEN\", "
                         "\"auth_method\": \"client_secret_post\", "
                         "\"scope\": \"ads.read ads.write\", "
                         "\"hosts\": [\"API.up.test\", \"*.cdn.up.test\"], "
                         "\"refresh_skew_s\": 120, \"scheme\": \"OAuth\", "
                         "\"lifetime_default_s\": 3600, "
                         "\"token_timeout_ms\": 3000, \"lock_ttl_ms\": 4000, "
                         "\"authorize_url\": \"https://idp.up.test/auth?x=1\", "
                         "\"scopes\": [\"ads.read\", \"offline_access\"], "
                         "\"redirect_port\": 8765, "
                         "\"environment\": \"production\"}}}",
                         &err),
                   0);
  assert_int_equal(cfg->ncreds, 1);
  c = pacer_config_credential(cfg, "acme");
  assert_non_null(c);
  assert_string_equal(c->name, "acme");
  assert_string_equal(c->token_url, "https://idp.up.test/token");
  assert_string_equal(c->client_id, "pacer client");
  assert_int_equal(c->client_secret.source, PACER_SECRET_INLINE);
  assert_null(c->client_secret.ref);
  assert_string_equal(c->client_secret.value, "CS-CANARY");
  assert_int_equal(c->refresh_token.source, PACER_SECRET_ENV);
  assert_string_equal(c->refresh_token.ref, "ACME_REFRESH_TOKEN");
  assert_null(c->refresh_token.value); /* resolved only at load */
  assert_int_equal(c->auth_method, PACER_OAUTH_AUTH_POST);
  assert_string_equal(c->scope, "ads.read ads.write");
  assert_int_equal(c->nhosts, 2);
  assert_string_equal(c->hosts[0], "api.up.test");
  assert_string_equal(c->hosts[1], "*.cdn.up.test");
  assert_int_equal(c->refresh_skew_s, 120);
  assert_string_equal(c->scheme, "OAuth");
  assert_int_equal(c->lifetime_default_s, 3600);
  assert_int_equal(c->token_timeout_ms, 3000);
  assert_int_equal(c->lock_ttl_ms, 4000);
  assert_string_equal(c->authorize_url, "https://idp.up.test/auth?x=1");
  assert_string_equal(c->scopes, "ads.read offline_access");
  assert_int_equal(c->redirect_port, 8765);
  assert_string_equal(c->environment, "production");
}

static void
credentials_take_defaults_for_optional_fields(void **state)
{
  struct pacer_config *cfg = *state;
  const struct pacer_cred_cfg *c;
  struct pacer_error err;

  assert_int_equal(parse(cfg,
                         "{\"credentials\": {\"a-1.b_2\": {" CRED_MIN
                         ", \"client_secret_env\": \"A_SECRET\"}}}",
                         &err),
                   0);
  c = pacer_config_credential(cfg, "a-1.b_2");
  assert_non_null(c);
  assert_int_equal(c->auth_method, PACER_OAUTH_AUTH_BASIC);
  assert_int_equal(c->refresh_skew_s, 300);
  assert_string_equal(c->scheme, "Bearer");
  assert_int_equal(c->lifetime_default_s, 0);
  assert_int_equal(c->token_timeout_ms, 60000);
  assert_int_equal(c->lock_ttl_ms, 75000);
  assert_null(c->authorize_url);
  assert_null(c->scopes);
  assert_int_equal(c->redirect_port, 0);
  assert_null(c->scope);
  assert_int_equal(c->refresh_token.source, PACER_SECRET_NONE);
  assert_int_equal(c->client_secret.source, PACER_SECRET_ENV);
}

static void
credentials_without_a_secret_are_a_public_client(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(
      parse(cfg, "{\"credentials\": {\"pub\": {" CRED_MIN "}}}", &err), 0);
  assert_int_equal(pacer_config_credential(cfg, "pub")->auth_method,
                   PACER_OAUTH_AUTH_NONE);
  expect_config_error("{\"credentials\": {\"pub\": {" CRED_MIN
                      ", \"auth_method\": \"client_secret_basic\"}}}",
                      "credentials.pub.auth_method: needs a client secret: "
                      "set client_secret_env or client_secret_file");
}

static void
credentials_reject_missing_required_fields(void **state)
{
  (void)state;
  expect_config_error(
      "{\"credentials\": {\"acme\": {\"client_id\": \"c\", \"hosts\": "
      "[\"h\"]}}}",
      "credentials.acme.token_url: required field is missing");
  expect_config_error(
      "{\"credentials\": {\"acme\": {\"token_url\": \"https://i/t\", "
      "\"hosts\": [\"h\"]}}}",
      "credentials.acme.client_id: required field is missing");
  expect_config_error(
      "{\"credentials\": {\"acme\": {\"token_url\": \"https://i/t\", "
      "\"client_id\": \"c\"}}}",
      "credentials.acme.hosts: required field is missing: list the hosts "
      "this credential's token may be sent to");
}

static void
credentials_reject_a_bad_token_url(void **state)
{
  static const char *const urls[] = {
      "ftp://idp/token", "idp.up.test/token", "https://",
      "https:///token",  "http://idp/to ken", "",
  };
  char json[512];
  size_t i;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(urls); i++) {
    snprintf(json, sizeof(json),
             "{\"credentials\": {\"acme\": {\"token_url\": \"%s\", "
             "\"client_id\": \"c\", \"hosts\": [\"h\"]}}}",
             urls[i]);
    expect_config_error(json, "credentials.acme.token_url: must be an http or "
                              "https URL");
  }
  expect_config_error("{\"credentials\": {\"acme\": {\"token_url\": 7}}}",
                      "credentials.acme.token_url: must be an http or https "
                      "URL");
  expect_config_error(
      "{\"credentials\": {\"acme\": {\"token_url\": "
      "\"https://user:CANARY@idp/token\"}}}",
      "credentials.acme.token_url: must not contain user:password@; use "
      "client_secret_env or client_secret_file");
  expect_config_error(
      "{\"credentials\": {\"acme\": {\"token_url\": \"https://idp/t#x\"}}}",
      "credentials.acme.token_url: must not contain a #fragment");
}

/* "http://127.0.0.1:/token" went to port 80 (connect_error). */
static void
credentials_reject_a_token_url_with_an_empty_or_bad_port(void **state)
{
  static const char *const bad[] = {
      "http://127.0.0.1:/oauth2/access_token",
      "http://127.0.0.1:",
      "https://idp:?x=1",
      "http://idp:0/t",
      "http://idp:65536/t",
      "http://idp:80a/t",
      "http://[::1]:/t",
  };
  static const char *const good[] = {
      "http://127.0.0.1:8787/oauth2/access_token",
      "https://idp/t",
      "https://idp:443",
      "http://[::1]:8080/t",
      "http://[::1]/t",
  };
  char json[512];
  size_t i;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(bad); i++) {
    snprintf(json, sizeof(json),
             "{\"credentials\": {\"acme\": {\"token_url\": \"%s\", "
             "\"client_id\": \"c\", \"hosts\": [\"h\"]}}}",
             bad[i]);
    expect_config_error(json, "credentials.acme.token_url: the port after ':' "
                              "must be a number 1..65535 (leave out ':' for "
                              "the scheme's default port)");
  }
  for (i = 0; i < PACER_ARRAY_SIZE(good); i++) {
    struct pacer_config cfg;
    struct pacer_error err;

    snprintf(json, sizeof(json),
             "{\"credentials\": {\"acme\": {\"token_url\": \"%s\", "
             "\"client_id\": \"c\", \"refresh_token_env\": \"RT\", "
             "\"hosts\": [\"h\"]}}}",
             good[i]);
    assert_int_equal(pacer_config_defaults(&cfg, 2), 0);
    if (parse(&cfg, json, &err) != 0)
      fail_msg("%s: %s", good[i], err.msg);
    pacer_config_free(&cfg);
  }
}

static void
credentials_reject_bad_names_and_shapes(void **state)
{
  (void)state;
  expect_config_error("{\"credentials\": []}",
                      "credentials: must be an object mapping names to "
                      "credentials");
  expect_config_error("{\"credentials\": {\"bad name\": {}}}",
                      "credentials: \"bad name\" is not a valid name: use 1 "
                      "to 64 characters from A-Z a-z 0-9 _ . -");
  expect_config_error(
      "{\"credentials\": "
      "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaa\": {}}}",
      "credentials: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is not a "
      "valid name: use 1 to 64 characters from A-Z a-z 0-9 _ . -");
  expect_config_error("{\"credentials\": {\"\": {}}}",
                      "credentials: \"\" is not a valid name: use 1 to 64 "
                      "characters from A-Z a-z 0-9 _ . -");
  expect_config_error("{\"credentials\": {\"acme\": 1}}",
                      "credentials.acme: must be an object");
  expect_config_error("{\"credentials\": {\"acme\": {" CRED_MIN
                      "}, \"acme\": {" CRED_MIN "}}}",
                      "credentials.acme: duplicate name");
  expect_config_error("{\"credentials\": {\"acme\": {" CRED_MIN
                      ", \"token\": \"x\"}}}",
                      "credentials.acme.token: unknown field");
  expect_config_error("{\"credentials\": {\"acme\": {" CRED_MIN
                      ", \"client_id\": \"d\"}}}",
                      "credentials.acme.client_id: duplicate field");
}

static void
credentials_reject_bad_values(void **state)
{
  (void)state;
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"authorize_url\": \"https://idp/a#f\"}}}",
                      "credentials.a.authorize_url: must not contain a "
                      "#fragment");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"scopes\": [\"read\", \"a b\"]}}}",
                      "credentials.a.scopes[1]: must be a scope token "
                      "(visible ASCII without space, \" or \\)");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"scopes\": []}}}",
                      "credentials.a.scopes: must list 1 or more scope "
                      "tokens, at most 1024 bytes in all");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"environment\": \"prod env\"}}}",
                      "credentials.a.environment: must be a name of 1 to 32 "
                      "characters from A-Z a-z 0-9 _ . -, such as "
                      "production");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"redirect_port\": 65536}}}",
                      "credentials.a.redirect_port: must be between 0 and "
                      "65535");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"token_timeout_ms\": 999}}}",
                      "credentials.a.token_timeout_ms: must be between 1000 "
                      "and 600000");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"lock_ttl_ms\": 15000}}}",
                      "credentials.a.lock_ttl_ms: 15000 is too short for "
                      "token_timeout_ms 60000: the lock must outlive a token "
                      "request by at least 1000 ms (set lock_ttl_ms >= 61000 "
                      "or lower token_timeout_ms)");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"lock_ttl_ms\": 4000, \"token_timeout_ms\": "
                      "3500}}}",
                      "credentials.a.lock_ttl_ms: 4000 is too short for "
                      "token_timeout_ms 3500: the lock must outlive a token "
                      "request by at least 1000 ms (set lock_ttl_ms >= 4500 "
                      "or lower token_timeout_ms)");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"refresh_skew_s\": 86401}}}",
                      "credentials.a.refresh_skew_s: must be between 0 and "
                      "86400");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"refresh_skew_s\": -1}}}",
                      "credentials.a.refresh_skew_s: must be between 0 and "
                      "86400");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"lifetime_default_s\": 0}}}",
                      "credentials.a.lifetime_default_s: must be between 1 "
                      "and 315360000");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"auth_method\": \"private_key_jwt\"}}}",
                      "credentials.a.auth_method: \"private_key_jwt\" is not "
                      "client_secret_basic or client_secret_post");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"scheme\": \"Bear er\"}}}",
                      "credentials.a.scheme: must be an auth scheme token of "
                      "1 to 32 characters, such as Bearer");
  expect_config_error("{\"credentials\": {\"a\": {" CRED_MIN
                      ", \"scope\": \"a  b\"}}}",
                      "credentials.a.scope: must be scope tokens separated "
                      "by single spaces, at most 1024 bytes");
  expect_config_error("{\"credentials\": {\"a\": {\"client_id\": \"\"}}}",
                      "credentials.a.client_id: must be a string of 1 to 255 "
                      "visible ASCII characters");
  expect_config_error("{\"credentials\": {\"a\": {\"client_secret_env\": "
                      "\"1ACME\"}}}",
                      "credentials.a.client_secret_env: must be an "
                      "environment variable name such as "
                      "ACME_CLIENT_SECRET");
  expect_config_error("{\"credentials\": {\"a\": {\"refresh_token_file\": "
                      "\"\"}}}",
                      "credentials.a.refresh_token_file: must be a file path "
                      "of 1 to 4095 bytes without control characters");
}

static void
credentials_reject_bad_hosts(void **state)
{
  (void)state;
  expect_config_error("{\"credentials\": {\"a\": {\"hosts\": []}}}",
                      "credentials.a.hosts: must list 1 to 64 hosts this "
                      "credential's token may be sent to");
  expect_config_error("{\"credentials\": {\"a\": {\"hosts\": \"h\"}}}",
                      "credentials.a.hosts: must be an array of host names");
  expect_config_error("{\"credentials\": {\"a\": {\"hosts\": [\"h\", "
                      "\"*\"]}}}",
                      "credentials.a.hosts[1]: \"*\" would send the token to "
                      "any host; list the API's hosts");
  expect_config_error("{\"credentials\": {\"a\": {\"hosts\": [\"a b\"]}}}",
                      "credentials.a.hosts[0]: \"a b\" is not a host name or "
                      "\"*.<domain>\"");
  expect_config_error("{\"credentials\": {\"a\": {\"hosts\": [1]}}}",
                      "credentials.a.hosts[0]: must be a string");
}

static void
credentials_accept_one_source_per_secret(void **state)
{
  (void)state;
  expect_config_error("{\"credentials\": {\"a\": {\"client_secret_env\": "
                      "\"X\", \"client_secret_file\": \"/f\"}}}",
                      "credentials.a.client_secret_file: client_secret is "
                      "already given by client_secret_env; use only one of "
                      "client_secret_env, client_secret_file and "
                      "client_secret");
  expect_config_error("{\"credentials\": {\"a\": {\"refresh_token\": "
                      "\"RT-CANARY\", \"refresh_token_env\": \"X\"}}}",
                      "credentials.a.refresh_token_env: refresh_token is "
                      "already given by refresh_token; use only one of "
                      "refresh_token_env, refresh_token_file and "
                      "refresh_token");
}

static void
credentials_errors_never_quote_an_inline_secret(void **state)
{
  (void)state;
  expect_config_error("{\"credentials\": {\"a\": {\"client_secret\": "
                      "\"CS-CANARY\\u0001\"}}}",
                      "credentials.a.client_secret: must be a string of 1 to "
                      "16384 visible ASCII characters");
  expect_config_error("{\"credentials\": {\"a\": {\"refresh_token\": "
                      "\"\"}}}",
                      "credentials.a.refresh_token: must be a string of 1 to "
                      "16384 visible ASCII characters");
}

static void
credentials_lookup_is_exact_and_hosts_match_like_limits(void **state)
{
  struct pacer_config *cfg = *state;
  const struct pacer_cred_cfg *c;
  struct pacer_error err;

  assert_int_equal(parse(cfg,
                         "{\"credentials\": {\"a\": {" CRED_MIN
                         "}, \"b\": {\"token_url\": \"http://127.0.0.1:8080/"
                         "t\", \"client_id\": \"c\", \"hosts\": "
                         "[\"*.Up.Test\", \"[::1]\"]}}}",
                         &err),
                   0);
  assert_int_equal(cfg->ncreds, 2);
  assert_null(pacer_config_credential(cfg, "A"));
  assert_null(pacer_config_credential(cfg, "c"));
  assert_null(pacer_config_credential(cfg, NULL));
  c = pacer_config_credential(cfg, "a");
  assert_non_null(c);
  assert_true(pacer_cred_host_allowed(c, "api.up.test"));
  assert_true(pacer_cred_host_allowed(c, "API.UP.TEST."));
  assert_false(pacer_cred_host_allowed(c, "other.up.test"));
  assert_false(pacer_cred_host_allowed(c, "api.up.test.evil"));
  assert_false(pacer_cred_host_allowed(c, NULL));
  c = pacer_config_credential(cfg, "b");
  assert_true(pacer_cred_host_allowed(c, "x.api.up.test"));
  assert_false(pacer_cred_host_allowed(c, "up.test"));
  assert_true(pacer_cred_host_allowed(c, "[::1]"));
}

static void
credentials_replace_the_map_or_keep_it_on_failure(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(
      parse(cfg, "{\"credentials\": {\"a\": {" CRED_MIN "}}}", &err), 0);
  assert_int_equal(parse(cfg,
                         "{\"credentials\": {\"b\": {" CRED_MIN
                         ", \"client_secret\": \"CS-CANARY\"}, \"c\": "
                         "{\"hosts\": []}}}",
                         &err),
                   PACER_ECONFIG);
  assert_int_equal(cfg->ncreds, 1);
  assert_non_null(pacer_config_credential(cfg, "a"));
  assert_int_equal(
      parse(cfg, "{\"credentials\": {\"b\": {" CRED_MIN "}}}", &err), 0);
  assert_int_equal(cfg->ncreds, 1);
  assert_null(pacer_config_credential(cfg, "a"));
  assert_non_null(pacer_config_credential(cfg, "b"));
  assert_int_equal(parse(cfg, "{\"credentials\": {}}", &err), 0);
  assert_int_equal(cfg->ncreds, 0);
  assert_null(cfg->creds);
}

static void
credentials_free_releases_the_map(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;

  (void)state;
  assert_int_equal(pacer_config_defaults(&cfg, 1), 0);
  assert_int_equal(parse(&cfg,
                         "{\"credentials\": {\"a\": {" CRED_MIN
                         ", \"refresh_token\": \"RT-CANARY\"}}}",
                         &err),
                   0);
  pacer_config_free(&cfg);
  assert_null(cfg.creds);
  assert_int_equal(cfg.ncreds, 0);
  assert_null(pacer_config_credential(&cfg, "a"));
  pacer_config_free(&cfg);
}

/* Loading: file modes, environment, secret files. */

static void
credentials_inline_secret_in_a_world_readable_file_is_refused(void **state)
{
  (void)state;
  expect_load_error("{\"credentials\": {\"acme\": {" CRED_MIN
                    ", \"client_secret\": \"CS-CANARY\"}}}",
                    0644,
                    "credentials.acme.client_secret: inline secret in a "
                    "config file readable by group or others (mode 0644); "
                    "use client_secret_env or client_secret_file, or chmod "
                    "600 the file");
  expect_load_error("{\"credentials\": {\"acme\": {" CRED_MIN
                    ", \"refresh_token\": \"RT-CANARY\"}}}",
                    0640,
                    "credentials.acme.refresh_token: inline secret in a "
                    "config file readable by group or others (mode 0640); "
                    "use refresh_token_env or refresh_token_file, or chmod "
                    "600 the file");
}

static void
credentials_inline_secret_in_a_private_file_is_accepted(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;
  const struct pacer_cred_cfg *c;

  (void)state;
  assert_int_equal(load_text(&cfg,
                             "{\"credentials\": {\"acme\": {" CRED_MIN
                             ", \"client_secret\": \"CS-1\", "
                             "\"refresh_token\": \"RT-1\"}}}",
                             0600, &err),
                   0);
  c = pacer_config_credential(&cfg, "acme");
  assert_non_null(c);
  assert_string_equal(c->client_secret.value, "CS-1");
  assert_string_equal(c->refresh_token.value, "RT-1");
  pacer_config_free(&cfg);
  /* a world-readable file without inline secrets is fine */
  assert_int_equal(load_text(&cfg,
                             "{\"credentials\": {\"acme\": {" CRED_MIN "}}}",
                             0644, &err),
                   0);
  pacer_config_free(&cfg);
}

static void
credentials_env_secrets_are_read_at_load(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;
  const struct pacer_cred_cfg *c;

  (void)state;
  assert_int_equal(setenv("PACER_TEST_CS", "CS-from-env", 1), 0);
  assert_int_equal(setenv("PACER_TEST_RT", "RT-from-env", 1), 0);
  assert_int_equal(load_text(&cfg,
                             "{\"credentials\": {\"acme\": {" CRED_MIN
                             ", \"client_secret_env\": \"PACER_TEST_CS\", "
                             "\"refresh_token_env\": \"PACER_TEST_RT\"}}}",
                             0644, &err),
                   0);
  c = pacer_config_credential(&cfg, "acme");
  assert_string_equal(c->client_secret.value, "CS-from-env");
  assert_string_equal(c->refresh_token.value, "RT-from-env");
  assert_string_equal(c->client_secret.ref, "PACER_TEST_CS");
  /* resolving again picks up a changed value */
  assert_int_equal(setenv("PACER_TEST_RT", "RT-2", 1), 0);
  assert_int_equal(pacer_config_resolve_secrets(&cfg, NULL, &err), 0);
  assert_string_equal(c->refresh_token.value, "RT-2");
  pacer_config_free(&cfg);
  assert_int_equal(unsetenv("PACER_TEST_CS"), 0);
  assert_int_equal(unsetenv("PACER_TEST_RT"), 0);
}

static void
credentials_env_must_be_set_non_empty_and_printable(void **state)
{
  (void)state;
  assert_int_equal(unsetenv("PACER_TEST_UNSET"), 0);
  expect_load_error("{\"credentials\": {\"acme\": {" CRED_MIN
                    ", \"client_secret_env\": \"PACER_TEST_UNSET\"}}}",
                    0600,
                    "credentials.acme.client_secret_env: environment "
                    "variable PACER_TEST_UNSET is not set");
  assert_int_equal(setenv("PACER_TEST_EMPTY", "", 1), 0);
  expect_load_error("{\"credentials\": {\"acme\": {" CRED_MIN
                    ", \"refresh_token_env\": \"PACER_TEST_EMPTY\"}}}",
                    0600,
                    "credentials.acme.refresh_token_env: environment "
                    "variable PACER_TEST_EMPTY is empty");
  assert_int_equal(setenv("PACER_TEST_CTL", "RT-CANARY\n", 1), 0);
  expect_load_error("{\"credentials\": {\"acme\": {" CRED_MIN
                    ", \"refresh_token_env\": \"PACER_TEST_CTL\"}}}",
                    0600,
                    "credentials.acme.refresh_token_env: environment "
                    "variable PACER_TEST_CTL must hold 1 to 16384 visible "
                    "ASCII characters");
  assert_int_equal(unsetenv("PACER_TEST_EMPTY"), 0);
  assert_int_equal(unsetenv("PACER_TEST_CTL"), 0);
}

static void
credentials_secret_files_are_read_and_trimmed(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;
  char json[8192];
  char *cs = write_temp(NULL, "CS-file\n", 0600);
  char *rt = write_temp(NULL, "RT-file \r\n\n", 0400);

  (void)state;
  snprintf(json, sizeof(json),
           "{\"credentials\": {\"acme\": {" CRED_MIN
           ", \"client_secret_file\": \"%s\", \"refresh_token_file\": "
           "\"%s\"}}}",
           cs, rt);
  assert_int_equal(load_text(&cfg, json, 0644, &err), 0);
  assert_string_equal(
      pacer_config_credential(&cfg, "acme")->client_secret.value, "CS-file");
  assert_string_equal(
      pacer_config_credential(&cfg, "acme")->refresh_token.value, "RT-file");
  pacer_config_free(&cfg);
  assert_int_equal(unlink(cs), 0);
  assert_int_equal(unlink(rt), 0);
  free(cs);
  free(rt);
}

static void
credentials_relative_secret_file_is_next_to_the_config(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;
  char dir[] = "/tmp/pacer-test-credd-XXXXXX";
  char json[8192], *rt, *conf;
  const char *base;

  (void)state;
  assert_non_null(mkdtemp(dir));
  rt = write_temp(dir, "RT-relative\n", 0600);
  base = strrchr(rt, '/') + 1;
  snprintf(json, sizeof(json),
           "{\"credentials\": {\"acme\": {" CRED_MIN
           ", \"refresh_token_file\": \"%s\"}}}",
           base);
  conf = write_temp(dir, json, 0644);
  assert_int_equal(pacer_config_defaults(&cfg, 1), 0);
  assert_int_equal(pacer_config_load(&cfg, conf, &err), 0);
  assert_string_equal(
      pacer_config_credential(&cfg, "acme")->refresh_token.value,
      "RT-relative");
  pacer_config_free(&cfg);
  assert_int_equal(unlink(rt), 0);
  assert_int_equal(unlink(conf), 0);
  assert_int_equal(rmdir(dir), 0);
  free(rt);
  free(conf);
}

static void
credentials_secret_file_readable_by_others_is_refused(void **state)
{
  char json[8192], msg[8192];
  char *rt = write_temp(NULL, "RT-CANARY\n", 0644);

  (void)state;
  snprintf(json, sizeof(json),
           "{\"credentials\": {\"acme\": {" CRED_MIN
           ", \"refresh_token_file\": \"%s\"}}}",
           rt);
  snprintf(msg, sizeof(msg),
           "credentials.acme.refresh_token_file: %s is readable by group or "
           "others (mode 0644); chmod 600 %s",
           rt, rt);
  expect_load_error(json, 0600, msg);
  assert_int_equal(chmod(rt, 0604), 0);
  snprintf(msg, sizeof(msg),
           "credentials.acme.refresh_token_file: %s is readable by group or "
           "others (mode 0604); chmod 600 %s",
           rt, rt);
  expect_load_error(json, 0600, msg);
  assert_int_equal(unlink(rt), 0);
  free(rt);
}

static void
credentials_secret_file_must_exist_be_regular_and_sized(void **state)
{
  char json[8192], msg[8192], *empty, *big, *content;

  (void)state;
  expect_load_error("{\"credentials\": {\"acme\": {" CRED_MIN
                    ", \"client_secret_file\": \"/nonexistent/cs\"}}}",
                    0600,
                    "credentials.acme.client_secret_file: /nonexistent/cs: "
                    "No such file or directory");
  expect_load_error("{\"credentials\": {\"acme\": {" CRED_MIN
                    ", \"client_secret_file\": \"/tmp\"}}}",
                    0600,
                    "credentials.acme.client_secret_file: /tmp is not a "
                    "regular file");
  empty = write_temp(NULL, "\n", 0600);
  snprintf(json, sizeof(json),
           "{\"credentials\": {\"acme\": {" CRED_MIN
           ", \"client_secret_file\": \"%s\"}}}",
           empty);
  snprintf(msg, sizeof(msg), "credentials.acme.client_secret_file: %s is empty",
           empty);
  expect_load_error(json, 0600, msg);
  content = malloc(PACER_OAUTH_TOKEN_MAX + 2);
  assert_non_null(content);
  memset(content, 'R', PACER_OAUTH_TOKEN_MAX + 1);
  content[PACER_OAUTH_TOKEN_MAX + 1] = '\0';
  big = write_temp(NULL, content, 0600);
  snprintf(json, sizeof(json),
           "{\"credentials\": {\"acme\": {" CRED_MIN
           ", \"client_secret_file\": \"%s\"}}}",
           big);
  snprintf(msg, sizeof(msg),
           "credentials.acme.client_secret_file: %s is larger than 16384 "
           "bytes",
           big);
  expect_load_error(json, 0600, msg);
  assert_int_equal(unlink(empty), 0);
  assert_int_equal(unlink(big), 0);
  free(empty);
  free(big);
  free(content);
}

static void
credentials_secret_file_with_binary_content_is_refused(void **state)
{
  char json[8192], msg[8192];
  char *f = write_temp(NULL, "RT-CANARY\001x\n", 0600);

  (void)state;
  snprintf(json, sizeof(json),
           "{\"credentials\": {\"acme\": {" CRED_MIN
           ", \"refresh_token_file\": \"%s\"}}}",
           f);
  snprintf(msg, sizeof(msg),
           "credentials.acme.refresh_token_file: %s must hold visible ASCII "
           "characters only",
           f);
  expect_load_error(json, 0600, msg);
  assert_int_equal(unlink(f), 0);
  free(f);
}

/* The metrics endpoint's address and bearer token (docs/METRICS.md). */
static void
metrics_listen_and_token_are_checked(void **state)
{
  struct pacer_config cfg;
  struct pacer_error err;

  (void)state;
  assert_int_equal(pacer_config_defaults(&cfg, 2), 0);
  assert_null(cfg.metrics_listen); /* off unless asked for */
  assert_int_equal(parse(&cfg,
                         "{\"metrics_listen\": \"127.0.0.1:9464\", "
                         "\"metrics_token\": \"0123456789abcdef0123\", "
                         "\"metrics_token_file\": \"m.token\"}",
                         &err),
                   0);
  assert_string_equal(cfg.metrics_listen, "127.0.0.1:9464");
  assert_string_equal(cfg.metrics_token, "0123456789abcdef0123");
  assert_string_equal(cfg.metrics_token_file, "m.token");
  assert_int_equal(parse(&cfg, "{\"metrics_listen\": \":0\"}", &err), 0);
  assert_int_equal(parse(&cfg, "{\"metrics_listen\": \"9464\"}", &err), 0);
  assert_int_equal(parse(&cfg, "{\"metrics_listen\": \"[::1]:65535\"}", &err),
                   0);
  pacer_config_free(&cfg);
  /* Regression: getaddrinfo() took 99999 modulo 65536 and bound 34463. */
  expect_config_error("{\"metrics_listen\": \"127.0.0.1:70000\"}",
                      "metrics_listen: port 70000 is out of range: use 0 to "
                      "65535, e.g. \"127.0.0.1:9464\"");
  expect_config_error("{\"metrics_listen\": \"127.0.0.1:99999\"}",
                      "metrics_listen: port 99999 is out of range: use 0 to "
                      "65535, e.g. \"127.0.0.1:9464\"");
  expect_config_error("{\"metrics_listen\": \"18446744073709551617\"}",
                      "metrics_listen: port 18446744073709551617 is out of "
                      "range: use 0 to 65535, e.g. \"127.0.0.1:9464\"");
  expect_config_error("{\"metrics_listen\": \"127.0.0.1:-1\"}",
                      "metrics_listen: must be \"host:port\", e.g. "
                      "\"127.0.0.1:9464\"");
  expect_config_error("{\"metrics_listen\": \"127.0.0.1\"}",
                      "metrics_listen: must be \"host:port\", e.g. "
                      "\"127.0.0.1:9464\"");
  /* A short or odd token is refused without being quoted. */
  expect_config_error("{\"metrics_token\": \"short\"}",
                      "metrics_token: must be 16 to 256 characters of A-Z "
                      "a-z 0-9 - . _ ~ + / (then any \"=\"), e.g. from "
                      "openssl rand -hex 32");
  expect_config_error("{\"metrics_token\": \"0123456789 abcdef0123\"}",
                      "metrics_token: must be 16 to 256 characters of A-Z "
                      "a-z 0-9 - . _ ~ + / (then any \"=\"), e.g. from "
                      "openssl rand -hex 32");
  assert_true(pacer_config_metrics_token_ok("abcdefghijklmnop=="));
  assert_false(pacer_config_metrics_token_ok("abcdefghijklmnop=x"));
  assert_false(pacer_config_metrics_token_ok(NULL));
}

/* SSRF guard: "destination_policy" and "destination_allow". */
static void
destination_policy_defaults_to_any_and_reads_public_only_and_cidrs(void **state)
{
  struct pacer_config *cfg = *state;
  struct pacer_error err;

  assert_int_equal(cfg->dest_policy.mode, PACER_DEST_ANY);
  assert_int_equal(cfg->dest_policy.nallow, 0);
  assert_int_equal(parse(cfg,
                         "{\"destination_policy\": \"public_only\", "
                         "\"destination_allow\": [\"10.1.0.0/16\", "
                         "\"fd00:1::/32\", \"192.168.7.9\"]}",
                         &err),
                   0);
  assert_int_equal(cfg->dest_policy.mode, PACER_DEST_PUBLIC_ONLY);
  assert_int_equal(cfg->dest_policy.nallow, 3);
  assert_int_equal(cfg->dest_policy.allow[0].prefix_bits, 16);
  assert_int_equal(cfg->dest_policy.allow[1].prefix_bits, 32);
  assert_int_equal(cfg->dest_policy.allow[2].prefix_bits, 32);
  /* a later list replaces the earlier one whole */
  assert_int_equal(parse(cfg, "{\"destination_allow\": []}", &err), 0);
  assert_int_equal(cfg->dest_policy.nallow, 0);
  assert_int_equal(parse(cfg, "{\"destination_policy\": \"any\"}", &err), 0);
  assert_int_equal(cfg->dest_policy.mode, PACER_DEST_ANY);
}

static void
destination_policy_errors_name_the_field(void **state)
{
  char json[4096];
  size_t i, o;

  (void)state;
  expect_config_error("{\"destination_policy\": \"private\"}",
                      "destination_policy: must be \"any\" or "
                      "\"public_only\"");
  expect_config_error("{\"destination_policy\": true}",
                      "destination_policy: must be \"any\" or "
                      "\"public_only\"");
  expect_config_error("{\"destination_allow\": [\"10.0.0.0/8\"]}",
                      "destination_allow: has no effect unless "
                      "destination_policy is \"public_only\"");
  expect_config_error("{\"destination_policy\": \"public_only\", "
                      "\"destination_allow\": \"10.0.0.0/8\"}",
                      "destination_allow: must be an array of CIDR strings "
                      "such as \"10.1.0.0/16\"");
  expect_config_error("{\"destination_policy\": \"public_only\", "
                      "\"destination_allow\": [\"10.0.0.0/8\", 7]}",
                      "destination_allow[1]: must be a string");
  expect_config_error("{\"destination_policy\": \"public_only\", "
                      "\"destination_allow\": [\"10.1.2.3/16\"]}",
                      "destination_allow[0]: 10.1.2.3/16 has host bits set; "
                      "write 10.1.0.0/16");
  expect_config_error("{\"destination_policy\": \"public_only\", "
                      "\"destination_allow\": [\"2130706433\"]}",
                      "destination_allow[0]: \"2130706433\" is not an address "
                      "or CIDR block such as 10.1.0.0/16 or fd00::/8");
  o = (size_t)snprintf(json, sizeof(json),
                       "{\"destination_policy\": \"public_only\", "
                       "\"destination_allow\": [");
  for (i = 0; i <= PACER_DEST_ALLOW_MAX; i++)
    o += (size_t)snprintf(json + o, sizeof(json) - o, "%s\"10.0.%zu.0/24\"",
                          i ? ", " : "", i);
  snprintf(json + o, sizeof(json) - o, "]}");
  expect_config_error(json, "destination_allow: more than 64 entries");
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
      cmocka_unit_test_setup_teardown(config_redis_tls_joins_a_rediss_url,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test(config_redis_tls_errors),
      cmocka_unit_test_setup_teardown(config_env_empty_or_unset_changes_nothing,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test(config_free_nulls_every_string),
      cmocka_unit_test(config_free_releases_the_limits),
      cmocka_unit_test_setup_teardown(limits_full_example_sets_every_field,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test(limits_take_defaults_for_optional_fields),
      cmocka_unit_test(limits_accept_rates_per_second_minute_and_hour),
      cmocka_unit_test_setup_teardown(
          limits_replace_the_previous_list_or_keep_it_on_failure, setup_cfg,
          teardown_cfg),
      cmocka_unit_test(limits_reject_a_bad_list),
      cmocka_unit_test(limits_reject_unknown_and_duplicate_fields),
      cmocka_unit_test(limits_reject_a_bad_or_repeated_name),
      cmocka_unit_test(limits_reject_impossible_rates),
      cmocka_unit_test(limits_reject_bad_numbers_and_flags),
      cmocka_unit_test(limits_reject_a_bad_key),
      cmocka_unit_test(limits_reject_a_bad_match),
      cmocka_unit_test(limits_reject_a_path_prefix_longer_than_255_bytes),
      cmocka_unit_test(limit_without_match_matches_every_request),
      cmocka_unit_test(limit_matches_an_exact_host_case_insensitively),
      cmocka_unit_test(limit_glob_host_matches_subdomains_only),
      cmocka_unit_test(limit_matches_path_prefix_and_methods),
      cmocka_unit_test(limit_key_names_the_bucket_of_each_kind),
      cmocka_unit_test(limit_key_escapes_bytes_unsafe_in_redis_keys),
      cmocka_unit_test(limit_key_hashes_secret_headers_and_long_values),
      cmocka_unit_test(limit_key_of_a_secret_header_is_keyed),
      cmocka_unit_test(limit_key_without_a_value_shares_one_bucket),
      cmocka_unit_test(limit_key_reports_a_buffer_too_small),
      cmocka_unit_test(limit_key_fits_the_documented_size_at_the_longest),
      cmocka_unit_test(redis_addr_tcp_host_takes_default_port_and_db),
      cmocka_unit_test(redis_addr_tcp_with_port_and_db),
      cmocka_unit_test(redis_addr_tcp_with_user_and_password),
      cmocka_unit_test(redis_addr_tcp_with_password_only),
      cmocka_unit_test(redis_addr_ipv6_host_loses_its_brackets),
      cmocka_unit_test(redis_addr_db_may_be_a_query_parameter),
      cmocka_unit_test(redis_addr_unix_url_with_db),
      cmocka_unit_test(unix_url_takes_a_password_and_user_like_redis_py),
      cmocka_unit_test(unix_url_userinfo_errors_hide_the_password),
      cmocka_unit_test(redis_addr_bare_path_is_a_unix_socket),
      cmocka_unit_test(redis_addr_rediss_takes_tls_options),
      cmocka_unit_test(redis_addr_tls_options_are_checked),
      cmocka_unit_test(redis_addr_sentinel_lists_sentinels_and_the_master),
      cmocka_unit_test(redis_addr_sentinel_errors),
      cmocka_unit_test(redis_addr_cluster_lists_nodes),
      cmocka_unit_test(redis_key_slot_matches_redis),
      cmocka_unit_test(redis_addr_rejects_garbage),
      cmocka_unit_test(redis_addr_rejects_user_without_password_and_hides_it),
      cmocka_unit_test(redis_addr_rejects_bad_percent_escape_in_password),
      cmocka_unit_test(redis_addr_rejects_unix_path_longer_than_sun_path),
      cmocka_unit_test(redis_addr_errors_never_contain_the_password),
      cmocka_unit_test_setup_teardown(credentials_full_example_sets_every_field,
                                      setup_cfg, teardown_cfg),
      cmocka_unit_test_setup_teardown(
          credentials_take_defaults_for_optional_fields, setup_cfg,
          teardown_cfg),
      cmocka_unit_test_setup_teardown(
          credentials_without_a_secret_are_a_public_client, setup_cfg,
          teardown_cfg),
      cmocka_unit_test(credentials_reject_missing_required_fields),
      cmocka_unit_test(credentials_reject_a_bad_token_url),
      cmocka_unit_test(
          credentials_reject_a_token_url_with_an_empty_or_bad_port),
      cmocka_unit_test(credentials_reject_bad_names_and_shapes),
      cmocka_unit_test(credentials_reject_bad_values),
      cmocka_unit_test(credentials_reject_bad_hosts),
      cmocka_unit_test(credentials_accept_one_source_per_secret),
      cmocka_unit_test(credentials_errors_never_quote_an_inline_secret),
      cmocka_unit_test_setup_teardown(
          credentials_lookup_is_exact_and_hosts_match_like_limits, setup_cfg,
          teardown_cfg),
      cmocka_unit_test_setup_teardown(
          credentials_replace_the_map_or_keep_it_on_failure, setup_cfg,
          teardown_cfg),
      cmocka_unit_test(credentials_free_releases_the_map),
      cmocka_unit_test(
          credentials_inline_secret_in_a_world_readable_file_is_refused),
      cmocka_unit_test(credentials_inline_secret_in_a_private_file_is_accepted),
      cmocka_unit_test(credentials_env_secrets_are_read_at_load),
      cmocka_unit_test(credentials_env_must_be_set_non_empty_and_printable),
      cmocka_unit_test(credentials_secret_files_are_read_and_trimmed),
      cmocka_unit_test(credentials_relative_secret_file_is_next_to_the_config),
      cmocka_unit_test(credentials_secret_file_readable_by_others_is_refused),
      cmocka_unit_test(credentials_secret_file_must_exist_be_regular_and_sized),
      cmocka_unit_test(credentials_secret_file_with_binary_content_is_refused),
      cmocka_unit_test(metrics_listen_and_token_are_checked),
      cmocka_unit_test_setup_teardown(
          destination_policy_defaults_to_any_and_reads_public_only_and_cidrs,
          setup_cfg, teardown_cfg),
      cmocka_unit_test(destination_policy_errors_name_the_field),
  };

  return cmocka_run_group_tests_name("config", tests, NULL, NULL) != 0;
}
