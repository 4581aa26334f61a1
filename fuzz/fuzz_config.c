/* libFuzzer target: the configuration parser (core/config.h):
 * pacer_config_parse over the defaults, the limits and credentials it
 * yields (pacer_limit_matches, pacer_limit_key, pacer_config_credential,
 * pacer_cred_host_allowed), and pacer_redis_addr_parse on the whole input
 * as a URL, and pacer_config_fill_secrets with a fetch that hands back
 * fixed bytes (pacer_config_load and pacer_config_resolve_secrets in
 * scheduler/config_load.c, which read files and the environment, are left
 * out).
 *
 * Invariants checked beyond memory safety, UB and leaks:
 *   - the return is 0 or PACER_ECONFIG, err mirrors it, and cfg holds
 *     valid values afterwards either way (every field in its documented
 *     range, redis_url parses, limits and credentials well formed);
 *   - round trip: a parsed configuration printed back to JSON parses to
 *     the same configuration;
 *   - every limit matches a request built from its own match fields, and
 *     its bucket keys are Redis- and log-safe and never show a secret
 *     header value; every credential is found by name and allows its own
 *     hosts;
 *   - neither the outcome nor the message depends on the letters of
 *     an inline client_secret or refresh_token;
 *   - a Redis URL that fails leaves the address all zero, and neither the
 *     outcome nor the message depends on the letters of the userinfo
 *     (the password never shows).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "core/config.h"
#include "core/gcra.h"
#include "core/job.h"
#include "core/oauth_token.h"
#include "fuzz/fuzz_util.h"

#define NCPU        4
#define MAXLEN_MAX  UINT64_C(9007199254740992) /* 2^53 */
#define TIMEOUT_MAX PACER_JOB_TIMEOUT_MAX_MS
#define SECRET      "Bearer s3cr3t/x" /* header value in bucket keys */
#define NAME_CHARS                                                             \
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
#define KEY_CHARS NAME_CHARS "~%#:"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------------------
 * Redis URL
 * ------------------------------------------------------------------------ */

static int
opt_equal(const char *a, const char *b)
{
  return (a == NULL && b == NULL) ||
         (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
all_zero(const void *p, size_t n)
{
  const unsigned char *b = p;
  size_t i;

  for (i = 0; i < n; i++) {
    if (b[i] != 0)
      return 0;
  }
  return 1;
}

static int
addr_checked(const char *url, struct pacer_redis_addr *addr,
             struct pacer_error *err)
{
  int rc;

  memset(addr, 0x5a, sizeof(*addr));
  memset(err, 0x5a, sizeof(*err));
  rc = pacer_redis_addr_parse(url, addr, err);
  PACER_FUZZ_CHECK(rc == 0 || rc == PACER_ECONFIG);
  if (rc != 0) {
    /* on success err is left as it was: the contract only fills it on
     * failure */
    PACER_FUZZ_CHECK(err->code == rc);
    PACER_FUZZ_CHECK(strncmp(err->msg, "redis_url: ", 11) == 0);
    PACER_FUZZ_CHECK(all_zero(addr, sizeof(*addr)));
    return rc;
  }
  PACER_FUZZ_CHECK(memchr(addr->host, '\0', sizeof(addr->host)) != NULL);
  PACER_FUZZ_CHECK(memchr(addr->path, '\0', sizeof(addr->path)) != NULL);
  PACER_FUZZ_CHECK(memchr(addr->user, '\0', sizeof(addr->user)) != NULL);
  PACER_FUZZ_CHECK(memchr(addr->password, '\0', sizeof(addr->password)) !=
                   NULL);
  PACER_FUZZ_CHECK(addr->nseeds > 0
                       ? addr->host[0] == '\0' &&
                             (addr->master[0] != '\0') != addr->cluster
                       : (addr->host[0] != '\0') != (addr->path[0] != '\0'));
  PACER_FUZZ_CHECK(addr->port >= 1 && addr->port <= 65535);
  PACER_FUZZ_CHECK(addr->db >= 0);
  return 0;
}

/* Shifts the letters g-z and G-Z of the userinfo of a redis:// URL by one
 * (never a hex digit, never a delimiter), so the URL keeps its shape.
 * Returns 1 when something changed. */
static int
shift_userinfo(char *url)
{
  char *auth, *at = NULL, *p;
  size_t alen;
  int changed = 0;

  if (strncasecmp(url, "redis://", 8) != 0)
    return 0;
  auth = url + 8;
  alen = strcspn(auth, "/?");
  for (p = auth; p < auth + alen; p++) {
    if (*p == '@')
      at = p;
  }
  if (at == NULL)
    return 0;
  for (p = auth; p < at; p++) {
    if (*p >= 'g' && *p <= 'z') {
      *p = (char)(*p == 'z' ? 'g' : *p + 1);
      changed = 1;
    } else if (*p >= 'G' && *p <= 'Z') {
      *p = (char)(*p == 'Z' ? 'G' : *p + 1);
      changed = 1;
    }
  }
  return changed;
}

static void
check_url(char *url)
{
  struct pacer_redis_addr a, b;
  struct pacer_error ea, eb;
  int rc = addr_checked(url, &a, &ea);

  if (!shift_userinfo(url))
    return;
  PACER_FUZZ_CHECK(addr_checked(url, &b, &eb) == rc);
  if (rc != 0)
    PACER_FUZZ_CHECK(strcmp(ea.msg, eb.msg) == 0);
  else
    PACER_FUZZ_CHECK(strcmp(a.host, b.host) == 0 && a.port == b.port &&
                     a.db == b.db && strcmp(a.path, b.path) == 0);
}

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

static const char *
header_cb(void *ctx, const char *name)
{
  (void)ctx;
  (void)name;
  return SECRET;
}

static void
check_key(const struct pacer_limit_cfg *l)
{
  char key[PACER_LIMIT_KEY_SIZE], small[8];
  size_t n = strlen(l->name), i;
  int rc;

  rc = pacer_limit_key(l, "API.Example.COM.", "cred 1", "acct/42", header_cb,
                       NULL, key, sizeof(key));
  PACER_FUZZ_CHECK(rc == 0);
  PACER_FUZZ_CHECK(strncmp(key, l->name, n) == 0);
  if (l->key == PACER_LIMIT_KEY_GLOBAL) {
    PACER_FUZZ_CHECK(key[n] == '\0');
  } else {
    PACER_FUZZ_CHECK(key[n] == ':');
    for (i = n + 1; key[i] != '\0'; i++)
      PACER_FUZZ_CHECK(strchr(KEY_CHARS, key[i]) != NULL && key[i] != ':');
  }
  if (l->key == PACER_LIMIT_KEY_HEADER && pacer_header_is_secret(l->key_header))
    PACER_FUZZ_CHECK(key[n + 1] == '#' && strlen(key + n + 1) == 17);
  /* too small a buffer: an error and an empty string, never a cut key */
  rc = pacer_limit_key(l, "h", NULL, NULL, NULL, NULL, small, sizeof(small));
  PACER_FUZZ_CHECK(rc == 0 || (rc == PACER_ETOOLARGE && small[0] == '\0'));
}

/* A request built from l's own match fields must match it. */
static void
check_match(const struct pacer_limit_cfg *l)
{
  static const char *const methods[] = {"GET",   "POST",   "PUT",
                                        "PATCH", "DELETE", "HEAD"};
  char host[PACER_LIMIT_HOST_MAX + 8];
  const char *method = "GET", *path = "/";
  int m;

  for (m = 0; m < 6; m++) {
    if (l->match_methods & (1u << m)) {
      method = methods[m];
      break;
    }
  }
  if (l->match_host[0] == '*')
    snprintf(host, sizeof(host), "x%s.", l->match_host + 1);
  else if (l->match_host[0] != '\0')
    snprintf(host, sizeof(host), "%s", l->match_host);
  else
    snprintf(host, sizeof(host), "any.example");
  if (l->match_path_prefix[0] != '\0')
    path = l->match_path_prefix;
  PACER_FUZZ_CHECK(pacer_limit_matches(l, method, host, path) == 1);
  if (l->match_host[0] == '*')
    PACER_FUZZ_CHECK(pacer_limit_matches(l, method, l->match_host + 2, path) ==
                     0);
  if (l->match_methods == 0 && l->match_host[0] == '\0' &&
      l->match_path_prefix[0] == '\0')
    PACER_FUZZ_CHECK(pacer_limit_matches(l, NULL, NULL, NULL) == 1);
}

static void
check_limit(const struct pacer_limit_cfg *l)
{
  struct pacer_gcra_limit g;
  size_t n = strlen(l->name), i;

  PACER_FUZZ_CHECK(n >= 1 && n <= PACER_LIMIT_NAME_MAX &&
                   strspn(l->name, NAME_CHARS) == n);
  PACER_FUZZ_CHECK(l->rate_period_us == UINT64_C(1000000) ||
                   l->rate_period_us == UINT64_C(60000000) ||
                   l->rate_period_us == UINT64_C(3600000000));
  PACER_FUZZ_CHECK(l->rate_count >= 1 && l->rate_count <= l->rate_period_us);
  PACER_FUZZ_CHECK(l->gcra.burst <= PACER_LIMIT_BURST_MAX);
  PACER_FUZZ_CHECK(l->cost >= 1 && l->cost <= l->gcra.burst + 1);
  PACER_FUZZ_CHECK(l->max_in_flight <= PACER_LIMIT_IN_FLIGHT_MAX);
  PACER_FUZZ_CHECK(l->adaptive == 0 || l->adaptive == 1);
  PACER_FUZZ_CHECK(l->pause_on_429 == 0 || l->pause_on_429 == 1);
  PACER_FUZZ_CHECK(l->match_methods < (1u << 6));
  PACER_FUZZ_CHECK(l->key <= PACER_LIMIT_KEY_HEADER);
  PACER_FUZZ_CHECK((l->key == PACER_LIMIT_KEY_HEADER) ==
                   (l->key_header[0] != '\0'));
  for (i = 0; l->match_host[i] != '\0'; i++)
    PACER_FUZZ_CHECK(!(l->match_host[i] >= 'A' && l->match_host[i] <= 'Z'));
  PACER_FUZZ_CHECK(l->match_path_prefix[0] == '\0' ||
                   l->match_path_prefix[0] == '/');
  PACER_FUZZ_CHECK(pacer_gcra_limit_init(&g, l->rate_count, l->rate_period_us,
                                         l->gcra.burst) == 0);
  PACER_FUZZ_CHECK(g.interval_us == l->gcra.interval_us &&
                   g.burst == l->gcra.burst);
  check_key(l);
  check_match(l);
}

/* ------------------------------------------------------------------------
 * Credentials
 * ------------------------------------------------------------------------ */

/* 1 when s is all bytes in [lo, 0x7e] */
static int
visible(const char *s, unsigned char lo)
{
  for (; *s != '\0'; s++) {
    if ((unsigned char)*s < lo || (unsigned char)*s > 0x7e)
      return 0;
  }
  return 1;
}

static void
check_secret(const struct pacer_cred_secret *sec)
{
  switch (sec->source) {
  case PACER_SECRET_NONE:
    PACER_FUZZ_CHECK(sec->ref == NULL && sec->value == NULL);
    break;
  case PACER_SECRET_INLINE:
    PACER_FUZZ_CHECK(sec->ref == NULL && sec->value != NULL);
    PACER_FUZZ_CHECK(sec->value[0] != '\0' &&
                     strlen(sec->value) <= PACER_OAUTH_TOKEN_MAX &&
                     visible(sec->value, 0x20));
    break;
  case PACER_SECRET_ENV:
  case PACER_SECRET_FILE:
    /* filled later, by pacer_config_fill_secrets */
    PACER_FUZZ_CHECK(sec->ref != NULL && sec->ref[0] != '\0');
    PACER_FUZZ_CHECK(sec->value == NULL);
    break;
  default:
    PACER_FUZZ_CHECK(!"a known secret source");
  }
}

static void
check_cred(const struct pacer_config *cfg, const struct pacer_cred_cfg *c)
{
  char host[PACER_LIMIT_HOST_MAX + 8];
  size_t n = strlen(c->name), i;

  PACER_FUZZ_CHECK(n >= 1 && n <= PACER_CRED_NAME_MAX &&
                   strspn(c->name, NAME_CHARS) == n);
  PACER_FUZZ_CHECK(pacer_config_credential(cfg, c->name) == c);
  PACER_FUZZ_CHECK(c->token_url != NULL);
  PACER_FUZZ_CHECK(strncasecmp(c->token_url, "http://", 7) == 0 ||
                   strncasecmp(c->token_url, "https://", 8) == 0);
  PACER_FUZZ_CHECK(strlen(c->token_url) <= PACER_CRED_URL_MAX &&
                   visible(c->token_url, 0x21) &&
                   strchr(c->token_url, '#') == NULL);
  PACER_FUZZ_CHECK(c->client_id != NULL && c->client_id[0] != '\0' &&
                   strlen(c->client_id) <= PACER_CRED_CLIENT_ID_MAX &&
                   visible(c->client_id, 0x20));
  check_secret(&c->client_secret);
  check_secret(&c->refresh_token);
  if (c->client_secret.source == PACER_SECRET_NONE)
    PACER_FUZZ_CHECK(c->auth_method == PACER_OAUTH_AUTH_NONE);
  else
    PACER_FUZZ_CHECK(c->auth_method == PACER_OAUTH_AUTH_BASIC ||
                     c->auth_method == PACER_OAUTH_AUTH_POST);
  PACER_FUZZ_CHECK(c->scope == NULL ||
                   (c->scope[0] != '\0' && c->scope[0] != ' ' &&
                    strlen(c->scope) <= PACER_CRED_SCOPE_MAX &&
                    visible(c->scope, 0x20)));
  PACER_FUZZ_CHECK(c->nhosts >= 1 && c->nhosts <= PACER_CRED_HOSTS_MAX &&
                   c->hosts != NULL);
  for (i = 0; i < c->nhosts; i++) {
    const char *h = c->hosts[i], *p;

    PACER_FUZZ_CHECK(h != NULL && h[0] != '\0');
    for (p = h; *p != '\0'; p++)
      PACER_FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
    if (h[0] == '*')
      snprintf(host, sizeof(host), "x%s.", h + 1);
    else
      snprintf(host, sizeof(host), "%s", h);
    PACER_FUZZ_CHECK(pacer_cred_host_allowed(c, host) == 1);
  }
  PACER_FUZZ_CHECK(c->refresh_skew_s <= PACER_CRED_SKEW_MAX_S);
  n = strlen(c->scheme);
  PACER_FUZZ_CHECK(n >= 1 && n <= PACER_CRED_SCHEME_MAX);
  PACER_FUZZ_CHECK(c->lifetime_default_s <= PACER_OAUTH_EXPIRES_IN_MAX_S);
}

/* ------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------ */

static void
check_config(const struct pacer_config *cfg)
{
  static const char *const levels[] = {"debug", "info", "warn", "error", "off"};
  struct pacer_redis_addr addr;
  struct pacer_error err;
  size_t i, j, n;
  int level = 0;

  PACER_FUZZ_CHECK(cfg->redis_url != NULL && cfg->prefix != NULL &&
                   cfg->log_level != NULL && cfg->log != NULL);
  PACER_FUZZ_CHECK(addr_checked(cfg->redis_url, &addr, &err) == 0);
  n = strlen(cfg->prefix);
  PACER_FUZZ_CHECK(n >= 1 && n <= 128);
  for (i = 0; i < n; i++)
    PACER_FUZZ_CHECK((unsigned char)cfg->prefix[i] >= 0x20 &&
                     cfg->prefix[i] != 0x7f);
  for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
    level |= strcmp(cfg->log_level, levels[i]) == 0;
  PACER_FUZZ_CHECK(level);
  PACER_FUZZ_CHECK(cfg->workers >= 1 && cfg->workers <= 1024);
  PACER_FUZZ_CHECK(cfg->concurrency >= 1 && cfg->concurrency <= 100000);
  PACER_FUZZ_CHECK(cfg->prefetch_extra <= 100000);
  PACER_FUZZ_CHECK(cfg->lease_ms >= 1000 && cfg->lease_ms <= TIMEOUT_MAX);
  PACER_FUZZ_CHECK(cfg->job_max_bytes >= 256 &&
                   cfg->job_max_bytes <= 64u * 1024u * 1024u);
  PACER_FUZZ_CHECK(cfg->response_max_bytes >= 1 &&
                   cfg->response_max_bytes <= 1024u * 1024u * 1024u);
  PACER_FUZZ_CHECK(cfg->result_body_max_bytes <= 64u * 1024u * 1024u);
  PACER_FUZZ_CHECK(cfg->results_maxlen >= 1 &&
                   cfg->results_maxlen <= MAXLEN_MAX);
  PACER_FUZZ_CHECK(cfg->dead_maxlen >= 1 && cfg->dead_maxlen <= MAXLEN_MAX);
  PACER_FUZZ_CHECK(cfg->connect_timeout_ms >= 1 &&
                   cfg->connect_timeout_ms <= TIMEOUT_MAX);
  PACER_FUZZ_CHECK(cfg->default_timeout_ms >= 1 &&
                   cfg->default_timeout_ms <= TIMEOUT_MAX);
  PACER_FUZZ_CHECK(cfg->shutdown_grace_ms <= TIMEOUT_MAX);
  PACER_FUZZ_CHECK(cfg->nlimits <= PACER_LIMITS_MAX);
  PACER_FUZZ_CHECK((cfg->limits == NULL) == (cfg->nlimits == 0));
  for (i = 0; i < cfg->nlimits; i++) {
    check_limit(&cfg->limits[i]);
    for (j = 0; j < i; j++)
      PACER_FUZZ_CHECK(strcmp(cfg->limits[i].name, cfg->limits[j].name) != 0);
  }
  PACER_FUZZ_CHECK(cfg->ncreds <= PACER_CREDS_MAX);
  PACER_FUZZ_CHECK((cfg->creds == NULL) == (cfg->ncreds == 0));
  PACER_FUZZ_CHECK(pacer_config_credential(cfg, NULL) == NULL);
  for (i = 0; i < cfg->ncreds; i++) {
    check_cred(cfg, &cfg->creds[i]);
    for (j = 0; j < i; j++)
      PACER_FUZZ_CHECK(strcmp(cfg->creds[i].name, cfg->creds[j].name) != 0);
  }
}

/* Integers are printed by hand: cJSON prints 15 significant digits only,
 * so 9007199254740992 would come back as 9007199254740990. */
static void
add_number(cJSON *obj, const char *name, uint64_t v)
{
  char num[32];

  snprintf(num, sizeof(num), "%" PRIu64, v);
  PACER_FUZZ_CHECK(cJSON_AddRawToObject(obj, name, num) != NULL);
}

static void
add_string(cJSON *obj, const char *name, const char *s)
{
  PACER_FUZZ_CHECK(cJSON_AddStringToObject(obj, name, s) != NULL);
}

static void
print_limit(cJSON *arr, const struct pacer_limit_cfg *l)
{
  static const char *const methods[] = {"GET",   "POST",   "PUT",
                                        "PATCH", "DELETE", "HEAD"};
  cJSON *o = cJSON_CreateObject(), *match, *ms;
  char buf[PACER_LIMIT_HEADER_MAX + 16];
  int m;

  PACER_FUZZ_CHECK(o != NULL && cJSON_AddItemToArray(arr, o));
  add_string(o, "name", l->name);
  if (l->match_methods != 0 || l->match_host[0] != '\0' ||
      l->match_path_prefix[0] != '\0') {
    PACER_FUZZ_CHECK((match = cJSON_AddObjectToObject(o, "match")) != NULL);
    if (l->match_host[0] != '\0')
      add_string(match, "host", l->match_host);
    if (l->match_path_prefix[0] != '\0')
      add_string(match, "path_prefix", l->match_path_prefix);
    if (l->match_methods != 0) {
      PACER_FUZZ_CHECK((ms = cJSON_AddArrayToObject(match, "methods")) != NULL);
      for (m = 0; m < 6; m++) {
        if (l->match_methods & (1u << m))
          PACER_FUZZ_CHECK(
              cJSON_AddItemToArray(ms, cJSON_CreateString(methods[m])));
      }
    }
  }
  PACER_FUZZ_CHECK(pacer_limit_key_kind_format(l, buf, sizeof(buf)) == 0);
  add_string(o, "key", buf);
  snprintf(buf, sizeof(buf), "%" PRIu64 "/%s", l->rate_count,
           l->rate_period_us == UINT64_C(1000000)    ? "s"
           : l->rate_period_us == UINT64_C(60000000) ? "min"
                                                     : "h");
  add_string(o, "rate", buf);
  add_number(o, "burst", l->gcra.burst);
  if (l->max_in_flight != 0)
    add_number(o, "max_in_flight", l->max_in_flight);
  add_number(o, "cost", l->cost);
  PACER_FUZZ_CHECK(cJSON_AddBoolToObject(o, "adaptive", l->adaptive) != NULL);
  PACER_FUZZ_CHECK(cJSON_AddBoolToObject(o, "pause_on_429", l->pause_on_429) !=
                   NULL);
}

static void
print_secret(cJSON *o, const char *what, const struct pacer_cred_secret *sec)
{
  char key[32];

  switch (sec->source) {
  case PACER_SECRET_INLINE:
    add_string(o, what, sec->value);
    break;
  case PACER_SECRET_ENV:
    snprintf(key, sizeof(key), "%s_env", what);
    add_string(o, key, sec->ref);
    break;
  case PACER_SECRET_FILE:
    snprintf(key, sizeof(key), "%s_file", what);
    add_string(o, key, sec->ref);
    break;
  default:
    break;
  }
}

static void
print_cred(cJSON *map, const struct pacer_cred_cfg *c)
{
  cJSON *o = cJSON_AddObjectToObject(map, c->name), *hosts;
  size_t i;

  PACER_FUZZ_CHECK(o != NULL);
  add_string(o, "token_url", c->token_url);
  add_string(o, "client_id", c->client_id);
  print_secret(o, "client_secret", &c->client_secret);
  print_secret(o, "refresh_token", &c->refresh_token);
  if (c->auth_method == PACER_OAUTH_AUTH_POST)
    add_string(o, "auth_method", "client_secret_post");
  else if (c->auth_method == PACER_OAUTH_AUTH_BASIC)
    add_string(o, "auth_method", "client_secret_basic");
  if (c->scope != NULL)
    add_string(o, "scope", c->scope);
  PACER_FUZZ_CHECK((hosts = cJSON_AddArrayToObject(o, "hosts")) != NULL);
  for (i = 0; i < c->nhosts; i++)
    PACER_FUZZ_CHECK(
        cJSON_AddItemToArray(hosts, cJSON_CreateString(c->hosts[i])));
  add_number(o, "refresh_skew_s", c->refresh_skew_s);
  add_string(o, "scheme", c->scheme);
  if (c->lifetime_default_s != 0)
    add_number(o, "lifetime_default_s", c->lifetime_default_s);
}

/* Prints cfg as a configuration file (owned: free with cJSON_free). */
static char *
print_config(const struct pacer_config *cfg)
{
  cJSON *root = cJSON_CreateObject(), *arr;
  char *text;
  size_t i;

  PACER_FUZZ_CHECK(root != NULL);
  add_string(root, "redis_url", cfg->redis_url);
  add_string(root, "prefix", cfg->prefix);
  add_number(root, "workers", cfg->workers);
  add_number(root, "concurrency", cfg->concurrency);
  add_number(root, "prefetch_extra", cfg->prefetch_extra);
  add_number(root, "lease_ms", cfg->lease_ms);
  add_number(root, "job_max_bytes", cfg->job_max_bytes);
  add_number(root, "response_max_bytes", cfg->response_max_bytes);
  add_number(root, "result_body_max_bytes", cfg->result_body_max_bytes);
  add_number(root, "results_maxlen", cfg->results_maxlen);
  add_number(root, "dead_maxlen", cfg->dead_maxlen);
  add_number(root, "connect_timeout_ms", cfg->connect_timeout_ms);
  add_number(root, "default_timeout_ms", cfg->default_timeout_ms);
  add_number(root, "shutdown_grace_ms", cfg->shutdown_grace_ms);
  add_number(root, "default_deadline_ms", cfg->default_deadline_ms);
  add_number(root, "throttle_backoff_base_ms", cfg->throttle_backoff_base_ms);
  add_number(root, "throttle_backoff_cap_ms", cfg->throttle_backoff_cap_ms);
  add_number(root, "throttle_backoff_floor_ms", cfg->throttle_backoff_floor_ms);
  add_string(root, "log_level", cfg->log_level);
  add_string(root, "log", cfg->log);
  if (cfg->nlimits > 0) {
    PACER_FUZZ_CHECK((arr = cJSON_AddArrayToObject(root, "limits")) != NULL);
    for (i = 0; i < cfg->nlimits; i++)
      print_limit(arr, &cfg->limits[i]);
  }
  if (cfg->ncreds > 0) {
    PACER_FUZZ_CHECK((arr = cJSON_AddObjectToObject(root, "credentials")) !=
                     NULL);
    for (i = 0; i < cfg->ncreds; i++)
      print_cred(arr, &cfg->creds[i]);
  }
  text = cJSON_PrintUnformatted(root);
  PACER_FUZZ_CHECK(text != NULL);
  cJSON_Delete(root);
  return text;
}

static void
check_same_secret(const struct pacer_cred_secret *a,
                  const struct pacer_cred_secret *b, int values)
{
  PACER_FUZZ_CHECK(a->source == b->source);
  PACER_FUZZ_CHECK(opt_equal(a->ref, b->ref));
  PACER_FUZZ_CHECK((a->value == NULL) == (b->value == NULL));
  if (values)
    PACER_FUZZ_CHECK(opt_equal(a->value, b->value));
}

/* a and b hold the same credentials; with values 0, inline secret values
 * may differ. */
static void
check_same_creds(const struct pacer_config *a, const struct pacer_config *b,
                 int values)
{
  size_t i, j;

  PACER_FUZZ_CHECK(a->ncreds == b->ncreds);
  for (i = 0; i < a->ncreds; i++) {
    const struct pacer_cred_cfg *x = &a->creds[i], *y = &b->creds[i];

    PACER_FUZZ_CHECK(strcmp(x->name, y->name) == 0);
    PACER_FUZZ_CHECK(strcmp(x->token_url, y->token_url) == 0);
    PACER_FUZZ_CHECK(strcmp(x->client_id, y->client_id) == 0);
    check_same_secret(&x->client_secret, &y->client_secret, values);
    check_same_secret(&x->refresh_token, &y->refresh_token, values);
    PACER_FUZZ_CHECK(x->auth_method == y->auth_method);
    PACER_FUZZ_CHECK(opt_equal(x->scope, y->scope));
    PACER_FUZZ_CHECK(x->nhosts == y->nhosts);
    for (j = 0; j < x->nhosts; j++)
      PACER_FUZZ_CHECK(strcmp(x->hosts[j], y->hosts[j]) == 0);
    PACER_FUZZ_CHECK(x->refresh_skew_s == y->refresh_skew_s);
    PACER_FUZZ_CHECK(strcmp(x->scheme, y->scheme) == 0);
    PACER_FUZZ_CHECK(x->lifetime_default_s == y->lifetime_default_s);
  }
}

static void
check_round_trip(const struct pacer_config *cfg)
{
  struct pacer_config again;
  struct pacer_error err;
  char *text = print_config(cfg);

  PACER_FUZZ_CHECK(pacer_config_defaults(&again, NCPU) == 0);
  PACER_FUZZ_CHECK(pacer_config_parse(&again, text, strlen(text), &err) == 0);
  PACER_FUZZ_CHECK(strcmp(again.redis_url, cfg->redis_url) == 0);
  PACER_FUZZ_CHECK(strcmp(again.prefix, cfg->prefix) == 0);
  PACER_FUZZ_CHECK(strcmp(again.log_level, cfg->log_level) == 0);
  PACER_FUZZ_CHECK(strcmp(again.log, cfg->log) == 0);
  PACER_FUZZ_CHECK(
      again.workers == cfg->workers && again.concurrency == cfg->concurrency &&
      again.prefetch_extra == cfg->prefetch_extra &&
      again.lease_ms == cfg->lease_ms &&
      again.job_max_bytes == cfg->job_max_bytes &&
      again.response_max_bytes == cfg->response_max_bytes &&
      again.result_body_max_bytes == cfg->result_body_max_bytes &&
      again.results_maxlen == cfg->results_maxlen &&
      again.dead_maxlen == cfg->dead_maxlen &&
      again.connect_timeout_ms == cfg->connect_timeout_ms &&
      again.default_timeout_ms == cfg->default_timeout_ms &&
      again.shutdown_grace_ms == cfg->shutdown_grace_ms &&
      again.default_deadline_ms == cfg->default_deadline_ms &&
      again.throttle_backoff_base_ms == cfg->throttle_backoff_base_ms &&
      again.throttle_backoff_cap_ms == cfg->throttle_backoff_cap_ms &&
      again.throttle_backoff_floor_ms == cfg->throttle_backoff_floor_ms);
  PACER_FUZZ_CHECK(again.nlimits == cfg->nlimits);
  /* plain values, zero-filled before parsing: padding compares too */
  PACER_FUZZ_CHECK(cfg->nlimits == 0 ||
                   memcmp(again.limits, cfg->limits,
                          cfg->nlimits * sizeof(*cfg->limits)) == 0);
  check_same_creds(cfg, &again, 1);
  pacer_config_free(&again);
  cJSON_free(text);
}

/* 1 when data[0..size) holds s (memmem is a GNU extension). */
static int
contains(const uint8_t *data, size_t size, const char *s)
{
  size_t n = strlen(s), i;

  for (i = 0; i + n <= size; i++) {
    if (memcmp(data + i, s, n) == 0)
      return 1;
  }
  return 0;
}

/* Shifts the letters g-z and G-Z of every inline client_secret and
 * refresh_token string under "credentials" by one: same length, same
 * character classes. Returns 1 when something changed. */
static int
shift_secrets(cJSON *root)
{
  cJSON *creds = cJSON_GetObjectItemCaseSensitive(root, "credentials");
  cJSON *c, *f;
  int changed = 0;
  char *p;

  if (!cJSON_IsObject(creds))
    return 0;
  cJSON_ArrayForEach(c, creds)
  {
    cJSON_ArrayForEach(f, c)
    {
      if (f->string == NULL || !cJSON_IsString(f) ||
          (strcmp(f->string, "client_secret") != 0 &&
           strcmp(f->string, "refresh_token") != 0))
        continue;
      for (p = f->valuestring; *p != '\0'; p++) {
        if (*p >= 'g' && *p <= 'z') {
          *p = (char)(*p == 'z' ? 'g' : *p + 1);
          changed = 1;
        } else if (*p >= 'G' && *p <= 'Z') {
          *p = (char)(*p == 'Z' ? 'G' : *p + 1);
          changed = 1;
        }
      }
    }
  }
  return changed;
}

/* Secrets stay out of messages: the input with other inline secrets parses to
 * the same outcome and the same message. Both sides are printed by cJSON so
 * that they differ in the secrets only. */
static void
check_secrets_unquoted(const uint8_t *data, size_t size)
{
  struct pacer_config a, b;
  struct pacer_error ea, eb;
  cJSON *root;
  char *ta, *tb;
  int rc;

  if (!contains(data, size, "credentials"))
    return;
  root = cJSON_ParseWithLength((const char *)data, size);
  if (root == NULL)
    return;
  ta = cJSON_PrintUnformatted(root);
  PACER_FUZZ_CHECK(ta != NULL);
  if (!shift_secrets(root)) {
    cJSON_free(ta);
    cJSON_Delete(root);
    return;
  }
  tb = cJSON_PrintUnformatted(root);
  PACER_FUZZ_CHECK(tb != NULL);
  PACER_FUZZ_CHECK(pacer_config_defaults(&a, NCPU) == 0);
  PACER_FUZZ_CHECK(pacer_config_defaults(&b, NCPU) == 0);
  rc = pacer_config_parse(&a, ta, strlen(ta), &ea);
  PACER_FUZZ_CHECK(pacer_config_parse(&b, tb, strlen(tb), &eb) == rc);
  PACER_FUZZ_CHECK(strcmp(ea.msg, eb.msg) == 0);
  check_same_creds(&a, &b, 0);
  pacer_config_free(&a);
  pacer_config_free(&b);
  cJSON_free(ta);
  cJSON_free(tb);
  cJSON_Delete(root);
}

/* pacer_secret_fetch_cb: every variable is set and every file holds
 * " tok-en~1 " and a newline (white space the check trims at the end
 * only). */
static int
fetch_fixed(void *ctx, enum pacer_secret_source source, const char *ref,
            const char *field, char **value, size_t *len,
            struct pacer_error *err)
{
  const char *v = source == PACER_SECRET_ENV ? "tok-en~1" : " tok-en~1 \n";

  (void)ctx;
  (void)err;
  PACER_FUZZ_CHECK(ref != NULL && ref[0] != '\0' && field != NULL);
  PACER_FUZZ_CHECK(source == PACER_SECRET_ENV || source == PACER_SECRET_FILE);
  *len = strlen(v);
  *value = malloc(PACER_CRED_SECRET_READ_MAX + 1);
  PACER_FUZZ_CHECK(*value != NULL);
  memcpy(*value, v, *len + 1);
  return 0;
}

/* Every *_env and *_file secret is filled, with the trailing white space
 * of a file dropped; inline secrets are left as they were. */
static void
check_fill(struct pacer_config *cfg)
{
  struct pacer_error err;
  size_t i;
  int k;

  PACER_FUZZ_CHECK(
      pacer_config_fill_secrets(cfg, "/base", fetch_fixed, NULL, &err) == 0);
  for (i = 0; i < cfg->ncreds; i++) {
    for (k = 0; k < 2; k++) {
      const struct pacer_cred_secret *sec =
          k == 0 ? &cfg->creds[i].client_secret : &cfg->creds[i].refresh_token;

      if (sec->source == PACER_SECRET_ENV)
        PACER_FUZZ_CHECK(strcmp(sec->value, "tok-en~1") == 0);
      if (sec->source == PACER_SECRET_FILE)
        PACER_FUZZ_CHECK(strcmp(sec->value, " tok-en~1") == 0);
    }
  }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct pacer_config cfg;
  struct pacer_error err;
  char *url;
  int rc;

  PACER_FUZZ_CHECK(pacer_config_defaults(&cfg, NCPU) == 0);
  memset(&err, 0x5a, sizeof(err));
  rc = pacer_config_parse(&cfg, (const char *)data, size, &err);
  PACER_FUZZ_CHECK(rc == 0 || rc == PACER_ECONFIG);
  PACER_FUZZ_CHECK(err.code == rc);
  PACER_FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
  PACER_FUZZ_CHECK(rc == 0 ? err.msg[0] == '\0'
                           : strstr(err.msg, ": ") != NULL);
  /* on failure cfg keeps valid values, possibly partly updated */
  check_config(&cfg);
  if (rc == 0) {
    check_round_trip(&cfg);
    check_fill(&cfg);
  }
  pacer_config_free(&cfg);
  check_secrets_unquoted(data, size);

  url = malloc(size + 1);
  PACER_FUZZ_CHECK(url != NULL);
  if (size > 0)
    memcpy(url, data, size);
  url[size] = '\0';
  check_url(url);
  free(url);
  return 0;
}
