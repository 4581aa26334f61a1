/* Process configuration: defaults, the JSON text of one config file, and
 * PACER_REDIS_URL. The "limits" list is parsed in core/limits.c, the
 * "credentials" map in core/config_cred.c, a redis_url in
 * core/redis_url.c; reading the file and the secrets it names is
 * scheduler/config_load.c's.
 *
 * Every field is optional; each one present is checked for type and range
 * and an error names it ("lease_ms: must be between 1000 and 86400000").
 * The Redis password never appears in an error message: messages about a
 * redis_url quote nothing from it except a scheme followed by "://".
 */
#include "core/config.h"
#include "common/utf8.h"
#include "common/util.h"
#include "core/config_int.h"
#include "core/config_locate.h"
#include "core/json_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>
#include <sodium.h>

#include "core/job.h"

#define PREFIX_MAX             128 /* key prefix, bytes */
#define LOG_COMPONENTS_MAX     16  /* as common/log.c */
#define LOG_COMPONENT_NAME_MAX 15  /* bytes, as common/log.c */

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Printable-ASCII copy of s for a message, cut at PACER_CONFIG_SHOW_MAX with
 * "...". */
const char *
pacer_config_show(const char *s, char *buf, size_t size)
{
  size_t i, o = 0;

  assert(size > PACER_CONFIG_SHOW_MAX + 4);
  (void)size;
  for (i = 0; s[i] != '\0' && o < PACER_CONFIG_SHOW_MAX; i++) {
    unsigned char c = (unsigned char)s[i];

    buf[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
  }
  if (s[i] != '\0') {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = '\0';
  return buf;
}

int
pacer_config_has_ctl(const char *s)
{
  for (; *s != '\0'; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 1;
  }
  return 0;
}

/* Replaces *slot with a copy of value. The old string is freed only once
 * the copy exists, so cfg stays valid on PACER_ENOMEM. */
static int
replace_string(char **slot, const char *value, struct pacer_error *err)
{
  char *copy = strdup(value);

  if (copy == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
  free(*slot);
  *slot = copy;
  return 0;
}

/* ------------------------------------------------------------------------
 * Fields
 * ------------------------------------------------------------------------ */

enum kind { K_UNSIGNED, K_U32, K_SIZE, K_U64 };

/* Integer fields: name, where it lives, its type and its allowed range. */
struct int_field {
  const char *name;
  size_t offset; /* offsetof(struct pacer_config, field) */
  enum kind kind;
  int64_t lo, hi;
};

static const struct int_field int_fields[] = {
    {"workers", offsetof(struct pacer_config, workers), K_UNSIGNED, 1, 1024},
    {"concurrency", offsetof(struct pacer_config, concurrency), K_UNSIGNED, 1,
     100000},
    {"prefetch_extra", offsetof(struct pacer_config, prefetch_extra),
     K_UNSIGNED, 0, 100000},
    /* claims run every lease_ms / 4: under a second only adds churn */
    {"lease_ms", offsetof(struct pacer_config, lease_ms), K_U32, 1000,
     PACER_JOB_TIMEOUT_MAX_MS},
    {"job_max_bytes", offsetof(struct pacer_config, job_max_bytes), K_SIZE, 256,
     64 * 1024 * 1024},
    {"response_max_bytes", offsetof(struct pacer_config, response_max_bytes),
     K_SIZE, 1, 1024 * 1024 * 1024},
    {"result_body_max_bytes",
     offsetof(struct pacer_config, result_body_max_bytes), K_SIZE, 0,
     64 * 1024 * 1024},
    /* MAXLEN ~ 0 would trim every entry as soon as it is written */
    {"results_maxlen", offsetof(struct pacer_config, results_maxlen), K_U64, 1,
     INT64_C(9007199254740992)},
    {"dead_maxlen", offsetof(struct pacer_config, dead_maxlen), K_U64, 1,
     INT64_C(9007199254740992)},
    {"connect_timeout_ms", offsetof(struct pacer_config, connect_timeout_ms),
     K_U32, 1, PACER_JOB_TIMEOUT_MAX_MS},
    {"default_timeout_ms", offsetof(struct pacer_config, default_timeout_ms),
     K_U32, 1, PACER_JOB_TIMEOUT_MAX_MS},
    {"shutdown_grace_ms", offsetof(struct pacer_config, shutdown_grace_ms),
     K_U32, 0, PACER_JOB_TIMEOUT_MAX_MS},
    /* 1 s .. 7 days: a longer server hint is cut to this (docs/LIMITS.md) */
    {"retry_after_max_ms", offsetof(struct pacer_config, retry_after_max_ms),
     K_U32, 1000, 604800000},
    /* 0 = defer any wait; at most the default lease (a held job must not
     * outwait its lease) */
    {"defer_after_ms", offsetof(struct pacer_config, defer_after_ms), K_U32, 0,
     60000},
    /* 0 = no deadline; at most a year (docs/LIMITS.md "Deadlines") */
    {"default_deadline_ms", offsetof(struct pacer_config, default_deadline_ms),
     K_U64, 0, INT64_C(31536000000)},
    /* throttle backoff (docs/LIMITS.md "Throttles"): never under 100 ms,
     * so a hint of 0 never means "at once"; at most 7 days */
    {"throttle_backoff_base_ms",
     offsetof(struct pacer_config, throttle_backoff_base_ms), K_U32, 100,
     604800000},
    {"throttle_backoff_cap_ms",
     offsetof(struct pacer_config, throttle_backoff_cap_ms), K_U32, 100,
     604800000},
    {"throttle_backoff_floor_ms",
     offsetof(struct pacer_config, throttle_backoff_floor_ms), K_U32, 100,
     604800000},
    /* 0 = no done-markers; at most 30 days */
    {"done_ttl_ms", offsetof(struct pacer_config, done_ttl_ms), K_U64, 0,
     INT64_C(2592000000)},
    /* 0 = no result index / no dead job kept; at most 30 days */
    {"result_ttl_ms", offsetof(struct pacer_config, result_ttl_ms), K_U64, 0,
     INT64_C(2592000000)},
    {"dead_ttl_ms", offsetof(struct pacer_config, dead_ttl_ms), K_U64, 0,
     INT64_C(2592000000)},
};

static int
set_int(struct pacer_config *cfg, const struct int_field *f, const cJSON *item,
        struct pacer_error *err)
{
  char *base = (char *)cfg;
  int64_t v = 0;
  int rc;

  if ((rc = pacer_config_get_int(item, f->name, f->lo, f->hi, &v, err)) != 0)
    return rc;
  switch (f->kind) {
  case K_UNSIGNED: {
    unsigned u = (unsigned)v;

    memcpy(base + f->offset, &u, sizeof(u));
    break;
  }
  case K_U32: {
    uint32_t u = (uint32_t)v;

    memcpy(base + f->offset, &u, sizeof(u));
    break;
  }
  case K_SIZE: {
    size_t u = (size_t)v;

    memcpy(base + f->offset, &u, sizeof(u));
    break;
  }
  case K_U64: {
    uint64_t u = (uint64_t)v;

    memcpy(base + f->offset, &u, sizeof(u));
    break;
  }
  }
  return 0;
}

static int
field_redis_url(struct pacer_config *cfg, const cJSON *item,
                struct pacer_error *err)
{
  struct pacer_redis_addr addr;
  int rc;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG, "redis_url: must be a string");
  rc = pacer_redis_addr_parse(item->valuestring, &addr, err);
  explicit_bzero(&addr, sizeof(addr)); /* may hold the password */
  if (rc != 0)
    return rc;
  return replace_string(&cfg->redis_url, item->valuestring, err);
}

static int
field_prefix(struct pacer_config *cfg, const cJSON *item,
             struct pacer_error *err)
{
  size_t n;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG, "prefix: must be a string");
  n = strlen(item->valuestring);
  if (n == 0 || n > PREFIX_MAX)
    return pacer_error_set(err, PACER_ECONFIG, "prefix: must be 1 to %d bytes",
                           PREFIX_MAX);
  /* Key names are shown by redis-cli, logs, `pacer stats` and the
   * dashboard: printable UTF-8 only. */
  if (pacer_utf8_printable_len(item->valuestring, n) != n)
    return pacer_error_set(
        err, PACER_ECONFIG,
        "prefix: byte %zu is a control character or not UTF-8; use "
        "printable text such as \"pacer:\"",
        pacer_utf8_printable_len(item->valuestring, n));
  return replace_string(&cfg->prefix, item->valuestring, err);
}

static int
field_log_level(struct pacer_config *cfg, const cJSON *item,
                struct pacer_error *err)
{
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  char buf[PACER_CONFIG_SHOW_MAX + 8];
  size_t i;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG, "log_level: must be a string");
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (strcmp(item->valuestring, names[i]) == 0)
      return replace_string(&cfg->log_level, names[i], err);
  }
  return pacer_error_set(
      err, PACER_ECONFIG,
      "log_level: \"%s\" is not one of debug, info, warn, "
      "error, off",
      pacer_config_show(item->valuestring, buf, sizeof(buf)));
}

/* "redis_eviction": what a worker does when Redis may evict keys
 * (README "Configuration", e2e_eviction). */
static int
field_redis_eviction(struct pacer_config *cfg, const cJSON *item,
                     struct pacer_error *err)
{
  if (cJSON_IsString(item) && strcmp(item->valuestring, "refuse") == 0)
    cfg->eviction_refuse = 1;
  else if (cJSON_IsString(item) && strcmp(item->valuestring, "warn") == 0)
    cfg->eviction_refuse = 0;
  else
    return pacer_error_set(err, PACER_ECONFIG,
                           "redis_eviction: must be \"refuse\" or \"warn\"");
  return 0;
}

/* The component spec grammar of common/log.c (curl's --trace-config):
 * comma-separated names, each optionally prefixed by "+" or "-", at most
 * 15 bytes and 16 names besides "all". Checked here so a bad spec is a
 * config error, not a startup failure later. */
static int
check_log_spec(const char *spec)
{
  const char *p = spec;
  int named = 0;

  while (*p != '\0') {
    size_t len = strcspn(p, ","), i;

    if (len > 0 && (*p == '-' || *p == '+')) {
      p++;
      len--;
    }
    if (len == 0 || len > LOG_COMPONENT_NAME_MAX)
      return -1;
    for (i = 0; i < len; i++) {
      unsigned char c = (unsigned char)p[i];

      if (c <= 0x20 || c >= 0x7f)
        return -1;
    }
    if (!(len == 3 && memcmp(p, "all", 3) == 0) && ++named > LOG_COMPONENTS_MAX)
      return -1;
    p += len;
    if (*p == ',')
      p++;
  }
  return 0;
}

static int
field_log(struct pacer_config *cfg, const cJSON *item, struct pacer_error *err)
{
  char buf[PACER_CONFIG_SHOW_MAX + 8];

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG, "log: must be a string");
  if (check_log_spec(item->valuestring) != 0)
    return pacer_error_set(
        err, PACER_ECONFIG,
        "log: \"%s\" is not a component list such as "
        "\"all,-redis\"",
        pacer_config_show(item->valuestring, buf, sizeof(buf)));
  return replace_string(&cfg->log, item->valuestring, err);
}

static int
field_log_format(struct pacer_config *cfg, const cJSON *item,
                 struct pacer_error *err)
{
  if (!cJSON_IsString(item) || (strcmp(item->valuestring, "logfmt") != 0 &&
                                strcmp(item->valuestring, "json") != 0))
    return pacer_error_set(err, PACER_ECONFIG,
                           "log_format: must be \"logfmt\" or \"json\"");
  return replace_string(&cfg->log_format, item->valuestring, err);
}

/* "destination_policy": which peer addresses job requests may connect to
 * (core/dest_policy.h, docs/WORKERS.md). */
static int
field_destination_policy(struct pacer_config *cfg, const cJSON *item,
                         struct pacer_error *err)
{
  if (cJSON_IsString(item) && strcmp(item->valuestring, "any") == 0)
    cfg->dest_policy.mode = PACER_DEST_ANY;
  else if (cJSON_IsString(item) &&
           strcmp(item->valuestring, "public_only") == 0)
    cfg->dest_policy.mode = PACER_DEST_PUBLIC_ONLY;
  else
    return pacer_error_set(err, PACER_ECONFIG,
                           "destination_policy: must be \"any\" or "
                           "\"public_only\"");
  return 0;
}

/* "destination_allow": CIDR blocks public_only still lets through (an
 * internal API). Replaces the previous list whole, only when every entry
 * is valid. */
static int
field_destination_allow(struct pacer_config *cfg, const cJSON *item,
                        struct pacer_error *err)
{
  struct pacer_cidr list[PACER_DEST_ALLOW_MAX];
  const cJSON *it;
  size_t n = 0;
  int rc;

  if (!cJSON_IsArray(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "destination_allow: must be an array of CIDR "
                           "strings such as \"10.1.0.0/16\"");
  cJSON_ArrayForEach(it, item)
  {
    char field[40];

    snprintf(field, sizeof(field), "destination_allow[%zu]", n);
    if (n == PACER_DEST_ALLOW_MAX)
      return pacer_error_set(err, PACER_ECONFIG,
                             "destination_allow: more than %d entries",
                             PACER_DEST_ALLOW_MAX);
    if (!cJSON_IsString(it))
      return pacer_error_set(err, PACER_ECONFIG, "%s: must be a string", field);
    if ((rc = pacer_cidr_parse(field, it->valuestring, &list[n], err)) != 0)
      return rc;
    n++;
  }
  memcpy(cfg->dest_policy.allow, list, n * sizeof(list[0]));
  cfg->dest_policy.nallow = n;
  return 0;
}

struct str_field {
  const char *name;
  int (*set)(struct pacer_config *cfg, const cJSON *item,
             struct pacer_error *err);
};

/* "metrics_listen": "[host]:port" or "port" of the metrics endpoint
 * (docs/METRICS.md; no host = 127.0.0.1). The address itself is resolved by
 * `pacer worker`, which names it in its error. Checked here: a port
 * 0..65535 after the last colon, named in the error when it is above. */
static int
field_metrics_listen(struct pacer_config *cfg, const cJSON *item,
                     struct pacer_error *err)
{
  const char *v, *colon;
  char buf[PACER_CONFIG_SHOW_MAX + 8];
  size_t n;
  long port;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics_listen: must be a string");
  v = item->valuestring;
  colon = strrchr(v, ':');
  colon = colon != NULL ? colon + 1 : v;
  n = strlen(colon);
  if (strlen(v) > 300 || pacer_config_has_ctl(v) || n == 0 ||
      strspn(colon, "0123456789") != n)
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics_listen: must be \"host:port\", e.g. "
                           "\"127.0.0.1:9464\"");
  /* getaddrinfo() would take a larger port modulo 65536 and bind that. */
  if (pacer_config_parse_dec(colon, n, 0, 65535, &port) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics_listen: port %s is out of range: use 0 "
                           "to 65535, e.g. \"127.0.0.1:9464\"",
                           pacer_config_show(colon, buf, sizeof(buf)));
  return replace_string(&cfg->metrics_listen, v, err);
}

/* "metrics_token_file": where the metrics bearer token is (docs/METRICS.md);
 * read by `pacer worker` with the checks of a secret file. */
static int
field_metrics_token_file(struct pacer_config *cfg, const cJSON *item,
                         struct pacer_error *err)
{
  if (!cJSON_IsString(item) || item->valuestring[0] == '\0' ||
      strlen(item->valuestring) > 4095 ||
      pacer_config_has_ctl(item->valuestring))
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics_token_file: must be a file path of 1 to "
                           "4095 bytes without control characters");
  return replace_string(&cfg->metrics_token_file, item->valuestring, err);
}

static const struct str_field str_fields[] = {
    {"redis_url", field_redis_url},
    {"prefix", field_prefix},
    {"log_level", field_log_level},
    {"redis_eviction", field_redis_eviction},
    {"destination_policy", field_destination_policy},
    {"log", field_log},
    {"log_format", field_log_format},
    {"metrics_listen", field_metrics_listen},
    {"metrics_token_file", field_metrics_token_file},
};

/* ------------------------------------------------------------------------
 * Top level
 * ------------------------------------------------------------------------ */

int
pacer_config_metrics_token_ok(const char *token)
{
  size_t n = token != NULL ? strlen(token) : 0, i = 0;

  /* RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
   * "+" / "/" ) *"=" */
  while (i < n && ((token[i] >= 'A' && token[i] <= 'Z') ||
                   (token[i] >= 'a' && token[i] <= 'z') ||
                   (token[i] >= '0' && token[i] <= '9') ||
                   strchr("-._~+/", token[i]) != NULL))
    i++;
  if (i == 0)
    return 0;
  while (i < n && token[i] == '=')
    i++;
  return i == n && n >= PACER_METRICS_TOKEN_MIN && n <= PACER_METRICS_TOKEN_MAX;
}

/* "metrics_token": the bearer token of the metrics endpoint, inline (a
 * secret: refused in a file group or others may read, never quoted). */
static int
field_metrics_token(struct pacer_config *cfg, const cJSON *item,
                    const struct pacer_config_src *src, struct pacer_error *err)
{
  char *copy;

  if (!cJSON_IsString(item) ||
      !pacer_config_metrics_token_ok(item->valuestring))
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics_token: must be %d to %d characters of "
                           "A-Z a-z 0-9 - . _ ~ + / (then any \"=\"), e.g. "
                           "from openssl rand -hex 32",
                           PACER_METRICS_TOKEN_MIN, PACER_METRICS_TOKEN_MAX);
  if (src->from_file && (src->mode & (S_IRGRP | S_IROTH)) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics_token: inline secret in a config file "
                           "readable by group or others (mode %04o); use "
                           "metrics_token_file, or chmod 600 the file",
                           (unsigned)(src->mode & 07777));
  copy = strdup(item->valuestring);
  if (copy == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
  pacer_config_wipe_string(&cfg->metrics_token);
  cfg->metrics_token = copy;
  return 0;
}

/* "; did you mean ..." for an unknown top-level field name, or "". */
static const char *
suggest(const char *name, char *hint, size_t size)
{
  static const char *const others[] = {"limits",         "credentials",
                                       "throttle_rules", "destination_allow",
                                       "metrics_token",  "redis_tls"};

  if (!*pacer_config_did_you_mean(name, int_fields,
                                  PACER_ARRAY_SIZE(int_fields),
                                  sizeof(int_fields[0]), hint, size) &&
      !*pacer_config_did_you_mean(name, str_fields,
                                  PACER_ARRAY_SIZE(str_fields),
                                  sizeof(str_fields[0]), hint, size))
    pacer_config_did_you_mean(name, others, PACER_ARRAY_SIZE(others),
                              sizeof(others[0]), hint, size);
  return hint;
}

static int
set_field(struct pacer_config *cfg, const cJSON *item,
          const struct pacer_config_src *src, struct pacer_error *err)
{
  char buf[PACER_CONFIG_SHOW_MAX + 8], hint[64];
  size_t i;

  for (i = 0; i < sizeof(int_fields) / sizeof(int_fields[0]); i++) {
    if (strcmp(item->string, int_fields[i].name) == 0)
      return set_int(cfg, &int_fields[i], item, err);
  }
  for (i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]); i++) {
    if (strcmp(item->string, str_fields[i].name) == 0)
      return str_fields[i].set(cfg, item, err);
  }
  if (strcmp(item->string, "limits") == 0)
    return pacer_config_parse_limits(cfg, item, err);
  if (strcmp(item->string, "credentials") == 0)
    return pacer_config_parse_creds(cfg, item, src, err);
  if (strcmp(item->string, "throttle_rules") == 0) {
    struct pacer_throttle_rule *rules = NULL;
    size_t n = 0;
    int rc = pacer_throttle_rules_parse(item, &rules, &n, err);

    if (rc != 0)
      return rc;
    pacer_throttle_rules_free(cfg->throttle_rules, cfg->nthrottle_rules);
    cfg->throttle_rules = rules;
    cfg->nthrottle_rules = n;
    return 0;
  }
  if (strcmp(item->string, "destination_allow") == 0)
    return field_destination_allow(cfg, item, err);
  if (strcmp(item->string, "metrics_token") == 0)
    return field_metrics_token(cfg, item, src, err);
  if (strcmp(item->string, "redis_tls") == 0)
    return pacer_config_parse_redis_tls(cfg, item, err);
  if (item->string[0] == '\0')
    return pacer_error_set(err, PACER_ECONFIG, "\"\": unknown field");
  return pacer_error_set(err, PACER_ECONFIG, "%s: unknown field%s",
                         pacer_config_show(item->string, buf, sizeof(buf)),
                         suggest(item->string, hint, sizeof(hint)));
}

/* ------------------------------------------------------------------------
 * Public API: configuration
 * ------------------------------------------------------------------------ */

int
pacer_config_defaults(struct pacer_config *cfg, unsigned ncpu)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->workers = ncpu < 1 ? 1 : ncpu > 1024 ? 1024 : ncpu;
  cfg->concurrency = 256;
  cfg->prefetch_extra = 32;
  cfg->lease_ms = 60000;
  cfg->job_max_bytes = PACER_JOB_MAX_BYTES_DEFAULT;
  cfg->response_max_bytes = 8u * 1024u * 1024u;
  cfg->result_body_max_bytes = 65536;
  cfg->results_maxlen = 100000;
  cfg->dead_maxlen = 100000;
  cfg->connect_timeout_ms = 10000;
  cfg->default_timeout_ms = 30000;
  cfg->shutdown_grace_ms = 30000;
  cfg->retry_after_max_ms = 3600000;
  cfg->defer_after_ms = 2000;
  cfg->done_ttl_ms = 86400000;
  cfg->default_deadline_ms = 86400000;
  cfg->throttle_backoff_base_ms = 1000;
  cfg->throttle_backoff_cap_ms = 300000;
  cfg->throttle_backoff_floor_ms = 1000;
  cfg->result_ttl_ms = 86400000;
  cfg->dead_ttl_ms = 604800000;
  cfg->redis_url = strdup("redis://127.0.0.1:6379/0");
  cfg->prefix = strdup("pacer:");
  cfg->eviction_refuse = 1;
  cfg->log_level = strdup("info");
  cfg->log = strdup("all");
  cfg->log_format = strdup("logfmt");
  if (cfg->redis_url == NULL || cfg->prefix == NULL || cfg->log_level == NULL ||
      cfg->log == NULL || cfg->log_format == NULL) {
    pacer_config_free(cfg);
    return PACER_ENOMEM;
  }
  return 0;
}

static int
parse_text(struct pacer_config *cfg, const char *json, size_t len,
           const struct pacer_config_src *src, struct pacer_error *err)
{
  const char *end = NULL;
  const cJSON *item, *prev;
  cJSON *root;
  int rc = 0;

  pacer_error_clear(err);
  if (len > PACER_CONFIG_MAX_BYTES)
    return pacer_error_set(err, PACER_ECONFIG,
                           "config: %zu bytes exceeds the %u-byte limit", len,
                           PACER_CONFIG_MAX_BYTES);
  if (json == NULL || len == 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "config: invalid JSON at byte 0");
  /* cJSON turns a NUL (raw or "\u0000") into the end of a string; refuse
   * raw ones at least, the file is text. */
  if (memchr(json, '\0', len) != NULL)
    return pacer_error_set(
        err, PACER_ECONFIG, "config: NUL byte at byte %zu",
        (size_t)((const char *)memchr(json, '\0', len) - json));
  root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (root != NULL && end != NULL) {
    /* trailing text after the value */
    while (end < json + len &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
      end++;
    if (end != json + len) {
      cJSON_Delete(root);
      root = NULL;
    }
  }
  if (root == NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "config: invalid JSON at byte %zu",
                           end != NULL ? (size_t)(end - json) : (size_t)0);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return pacer_error_set(err, PACER_ECONFIG, "config: must be a JSON object");
  }
  cJSON_ArrayForEach(item, root)
  {
    for (prev = root->child; prev != item; prev = prev->next) {
      if (strcmp(prev->string, item->string) == 0)
        break;
    }
    if (prev != item) {
      char buf[PACER_CONFIG_SHOW_MAX + 8];

      rc = pacer_error_set(err, PACER_ECONFIG, "%s: duplicate field",
                           pacer_config_show(item->string, buf, sizeof(buf)));
      break;
    }
    if ((rc = set_field(cfg, item, src, err)) != 0)
      break;
  }
  /* An allow list without public_only permits nothing new: say so rather
   * than let a reader believe the destinations are restricted. */
  if (rc == 0)
    rc = pacer_throttle_rules_check(cfg->throttle_rules, cfg->nthrottle_rules,
                                    cfg->limits, cfg->nlimits, err);
  if (rc == 0 && cfg->throttle_backoff_cap_ms < cfg->throttle_backoff_base_ms)
    rc = pacer_error_set(err, PACER_ECONFIG,
                         "throttle_backoff_cap_ms: %" PRIu32
                         " is below throttle_backoff_base_ms %" PRIu32,
                         cfg->throttle_backoff_cap_ms,
                         cfg->throttle_backoff_base_ms);
  if (rc == 0 && cfg->throttle_backoff_cap_ms < cfg->throttle_backoff_floor_ms)
    rc = pacer_error_set(err, PACER_ECONFIG,
                         "throttle_backoff_floor_ms: %" PRIu32
                         " is above throttle_backoff_cap_ms %" PRIu32,
                         cfg->throttle_backoff_floor_ms,
                         cfg->throttle_backoff_cap_ms);
  if (rc == 0 && cfg->dest_policy.mode == PACER_DEST_ANY &&
      cfg->dest_policy.nallow > 0)
    rc = pacer_error_set(err, PACER_ECONFIG,
                         "destination_allow: has no effect unless "
                         "destination_policy is \"public_only\"");
  /* "redis_tls" joins the file's own rediss:// URL (docs/REDIS.md TLS). */
  if (rc == 0)
    rc = pacer_config_fold_redis_tls(
        cfg, cJSON_GetObjectItemCaseSensitive(root, "redis_url") != NULL, err);
  pacer_json_wipe(root); /* inline secrets */
  cJSON_Delete(root);
  return rc;
}

int
pacer_config_parse(struct pacer_config *cfg, const char *json, size_t len,
                   struct pacer_error *err)
{
  struct pacer_config_src src = {0, 0};

  return parse_text(cfg, json, len, &src, err);
}

int
pacer_config_parse_file(struct pacer_config *cfg, const char *json, size_t len,
                        unsigned file_mode, struct pacer_error *err)
{
  struct pacer_config_src src = {1, file_mode};

  return parse_text(cfg, json, len, &src, err);
}

int
pacer_config_apply_env(struct pacer_config *cfg, const char *value)
{
  char *copy;

  if (value == NULL || value[0] == '\0')
    return 0;
  copy = strdup(value);
  if (copy == NULL)
    return PACER_ENOMEM;
  free(cfg->redis_url);
  cfg->redis_url = copy;
  return pacer_config_fold_redis_tls(cfg, 0, NULL);
}

void
pacer_config_free(struct pacer_config *cfg)
{
  if (cfg == NULL)
    return;
  free(cfg->redis_url);
  cfg->redis_url = NULL;
  free(cfg->redis_tls);
  cfg->redis_tls = NULL;
  free(cfg->prefix);
  cfg->prefix = NULL;
  free(cfg->log_level);
  cfg->log_level = NULL;
  free(cfg->log);
  cfg->log = NULL;
  free(cfg->log_format);
  cfg->log_format = NULL;
  free(cfg->metrics_listen);
  cfg->metrics_listen = NULL;
  pacer_config_wipe_string(&cfg->metrics_token);
  free(cfg->metrics_token_file);
  cfg->metrics_token_file = NULL;
  free(cfg->limits);
  cfg->limits = NULL;
  cfg->nlimits = 0;
  pacer_config_free_creds(cfg->creds, cfg->ncreds);
  cfg->creds = NULL;
  cfg->ncreds = 0;
  pacer_throttle_rules_free(cfg->throttle_rules, cfg->nthrottle_rules);
  cfg->throttle_rules = NULL;
  cfg->nthrottle_rules = 0;
}
