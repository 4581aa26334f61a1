/* Process configuration: defaults, one JSON file, PACER_REDIS_URL, and the
 * Redis address parser.
 *
 * Every field is optional; each one present is checked for type and range
 * and an error names it ("lease_ms: must be between 1000 and 86400000").
 * The Redis password never appears in an error message: messages about a
 * redis_url quote nothing from it except a scheme followed by "://".
 */
#include "scheduler/config.h"
#include "scheduler/json_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#include "common/util.h"
#include "scheduler/job.h"

#define CONFIG_MAX_BYTES       (1024u * 1024u) /* config file, bytes */
#define PREFIX_MAX             128             /* key prefix, bytes */
#define LOG_COMPONENTS_MAX     16              /* as common/log.c */
#define LOG_COMPONENT_NAME_MAX 15              /* bytes, as common/log.c */
#define UNIX_PATH_MAX          107             /* sun_path minus NUL, bytes */
#define REDIS_PORT_DEFAULT     6379
#define SHOW_MAX               40 /* user text shown in a message, bytes */

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Printable-ASCII copy of s for a message, cut at SHOW_MAX with "...". */
static const char *
show(const char *s, char *buf, size_t size)
{
  size_t i, o = 0;

  assert(size > SHOW_MAX + 4);
  (void)size;
  for (i = 0; s[i] != '\0' && o < SHOW_MAX; i++) {
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

static int
has_ctl(const char *s)
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

/* Reads an integral JSON number in [lo, hi] (cJSON keeps doubles; range
 * first so the cast is defined). */
static int
get_int(const cJSON *item, const char *name, int64_t lo, int64_t hi,
        int64_t *out, struct pacer_error *err)
{
  return pacer_json_get_int(item, name, lo, hi, PACER_ECONFIG, out, err);
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
    /* 1 s .. 7 days: a longer server hint is cut to this (C08) */
    {"retry_after_max_ms", offsetof(struct pacer_config, retry_after_max_ms),
     K_U32, 1000, 604800000},
    /* 0 = defer any wait; at most the default lease (a held job must not
     * outwait its lease) */
    {"defer_after_ms", offsetof(struct pacer_config, defer_after_ms), K_U32, 0,
     60000},
    /* 0 = no done-markers; at most 30 days */
    {"done_ttl_ms", offsetof(struct pacer_config, done_ttl_ms), K_U64, 0,
     INT64_C(2592000000)},
};

static int
set_int(struct pacer_config *cfg, const struct int_field *f, const cJSON *item,
        struct pacer_error *err)
{
  char *base = (char *)cfg;
  int64_t v = 0;
  int rc;

  if ((rc = get_int(item, f->name, f->lo, f->hi, &v, err)) != 0)
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
  if (has_ctl(item->valuestring))
    return pacer_error_set(err, PACER_ECONFIG,
                           "prefix: must not contain control characters");
  return replace_string(&cfg->prefix, item->valuestring, err);
}

static int
field_log_level(struct pacer_config *cfg, const cJSON *item,
                struct pacer_error *err)
{
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  char buf[SHOW_MAX + 8];
  size_t i;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG, "log_level: must be a string");
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (strcmp(item->valuestring, names[i]) == 0)
      return replace_string(&cfg->log_level, names[i], err);
  }
  return pacer_error_set(err, PACER_ECONFIG,
                         "log_level: \"%s\" is not one of debug, info, warn, "
                         "error, off",
                         show(item->valuestring, buf, sizeof(buf)));
}

/* "redis_eviction": what a worker does when Redis may evict keys (C14). */
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
  char buf[SHOW_MAX + 8];

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG, "log: must be a string");
  if (check_log_spec(item->valuestring) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "log: \"%s\" is not a component list such as "
                           "\"all,-redis\"",
                           show(item->valuestring, buf, sizeof(buf)));
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
 * (CASES C20, workers/dest_policy.h). */
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

static int parse_dec(const char *s, size_t n, long lo, long hi, long *out);

/* "metrics_listen": "[host]:port" or "port" of the metrics endpoint
 * (issue 6; no host = 127.0.0.1). The address itself is resolved by
 * `pacer worker`, which names it in its error. Checked here: a port
 * 0..65535 after the last colon, named in the error when it is above. */
static int
field_metrics_listen(struct pacer_config *cfg, const cJSON *item,
                     struct pacer_error *err)
{
  const char *v, *colon;
  char buf[SHOW_MAX + 8];
  size_t n;
  long port;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics_listen: must be a string");
  v = item->valuestring;
  colon = strrchr(v, ':');
  colon = colon != NULL ? colon + 1 : v;
  n = strlen(colon);
  if (strlen(v) > 300 || has_ctl(v) || n == 0 ||
      strspn(colon, "0123456789") != n)
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics_listen: must be \"host:port\", e.g. "
                           "\"127.0.0.1:9464\"");
  /* getaddrinfo() would take a larger port modulo 65536 and bind that. */
  if (parse_dec(colon, n, 0, 65535, &port) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics_listen: port %s is out of range: use 0 "
                           "to 65535, e.g. \"127.0.0.1:9464\"",
                           show(colon, buf, sizeof(buf)));
  return replace_string(&cfg->metrics_listen, v, err);
}

/* "metrics_token_file": where the metrics bearer token is (issue 6);
 * read by `pacer worker` with the checks of a secret file. */
static int
field_metrics_token_file(struct pacer_config *cfg, const cJSON *item,
                         struct pacer_error *err)
{
  if (!cJSON_IsString(item) || item->valuestring[0] == '\0' ||
      strlen(item->valuestring) > 4095 || has_ctl(item->valuestring))
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
 * Limits
 *
 *   "limits": [{"name": "ads-token",            required, unique
 *               "match": {"host": "*.ads.example", "path_prefix": "/v1/",
 *                         "methods": ["GET"]},   optional, {} = all
 *               "key": "header:Authorization",  default "global"
 *               "rate": "10/s",                 required: N/s, N/min, N/h
 *               "burst": 0, "max_in_flight": 8, "cost": 1,
 *               "adaptive": true, "pause_on_429": true}, ...]
 *
 * The list is parsed into a new array and replaces cfg->limits only when
 * every entry is valid. Messages name the entry by index: limits[2].rate.
 * ------------------------------------------------------------------------ */

#define LIMIT_FIELD_MAX 64 /* "limits[255].max_in_flight", bytes */

static int is_host_char(char c); /* Redis address section */

/* RFC 9110 §5.6.2: tchar, the characters of a header field name. */
static int
is_tchar(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static char
lower(char c)
{
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* "limits[<i>].<field>" into buf, for messages and get_int. */
static const char *
field_path(char *buf, size_t size, size_t index, const char *field)
{
  snprintf(buf, size, "limits[%zu].%s", index, field);
  return buf;
}

static int
limit_name(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
           struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
  const char *s;
  size_t n;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].name: must be a string", index);
  s = item->valuestring;
  n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789_.-");
  if (n == 0 || n > PACER_LIMIT_NAME_MAX || s[n] != '\0')
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].name: \"%s\" must be 1 to %d "
                           "characters from A-Z a-z 0-9 _ . -",
                           index, show(s, buf, sizeof(buf)),
                           PACER_LIMIT_NAME_MAX);
  memcpy(l->name, s, n + 1);
  return 0;
}

/* Parses "N/s", "N/min" or "N/h". 0 on success, -1 on bad syntax; *count
 * saturates above any valid value rather than wrapping. */
static int
parse_rate(const char *s, uint64_t *count, uint64_t *period_us)
{
  uint64_t v = 0;
  size_t i;

  for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
    if (v <= UINT64_C(1000000000000)) /* beyond 1e12 it is too fast anyway */
      v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (i == 0 || s[i] != '/')
    return -1;
  s += i + 1;
  if (strcmp(s, "s") == 0)
    *period_us = UINT64_C(1000000);
  else if (strcmp(s, "min") == 0)
    *period_us = UINT64_C(60000000);
  else if (strcmp(s, "h") == 0)
    *period_us = UINT64_C(3600000000);
  else
    return -1;
  *count = v;
  return 0;
}

static int
limit_rate(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
           struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
  uint64_t count = 0, period_us = 0;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].rate: must be a string such as "
                           "\"10/s\"",
                           index);
  show(item->valuestring, buf, sizeof(buf));
  if (parse_rate(item->valuestring, &count, &period_us) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].rate: \"%s\" is not N/s, N/min or N/h",
                           index, buf);
  if (count == 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].rate: \"%s\" must allow at least 1 "
                           "request",
                           index, buf);
  /* the GCRA works in whole microseconds per request */
  if (count > period_us)
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].rate: \"%s\" is faster than 1000000/s "
                           "(one request per microsecond)",
                           index, buf);
  l->rate_count = count;
  l->rate_period_us = period_us;
  return 0;
}

static int
limit_key_kind(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
               struct pacer_error *err)
{
  static const struct {
    const char *name;
    enum pacer_limit_key_kind kind;
  } kinds[] = {
      {"global", PACER_LIMIT_KEY_GLOBAL},
      {"host", PACER_LIMIT_KEY_HOST},
      {"credential", PACER_LIMIT_KEY_CREDENTIAL},
      {"limit_key", PACER_LIMIT_KEY_LIMIT_KEY},
  };
  char buf[SHOW_MAX + 8];
  const char *s, *h;
  size_t i, n;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].key: must be a string", index);
  s = item->valuestring;
  for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
    if (strcmp(s, kinds[i].name) == 0) {
      l->key = kinds[i].kind;
      return 0;
    }
  }
  if (strncmp(s, "header:", 7) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].key: \"%s\" is not global, host, "
                           "credential, limit_key or header:<Name>",
                           index, show(s, buf, sizeof(buf)));
  h = s + 7;
  for (n = 0; h[n] != '\0' && is_tchar(h[n]); n++)
    ;
  if (n == 0 || n > PACER_LIMIT_HEADER_MAX || h[n] != '\0')
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].key: \"%s\" needs a header name of 1 "
                           "to %d token characters, as in "
                           "\"header:X-Account-Id\"",
                           index, show(s, buf, sizeof(buf)),
                           PACER_LIMIT_HEADER_MAX);
  l->key = PACER_LIMIT_KEY_HEADER;
  memcpy(l->key_header, h, n + 1);
  return 0;
}

static int
limit_bool(int *out, const cJSON *item, size_t index, const char *field,
           struct pacer_error *err)
{
  if (!cJSON_IsBool(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].%s: must be true or false", index,
                           field);
  *out = cJSON_IsTrue(item) ? 1 : 0;
  return 0;
}

static int
limit_burst(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
            struct pacer_error *err)
{
  char name[LIMIT_FIELD_MAX];
  int64_t v = 0;
  int rc = get_int(item, field_path(name, sizeof(name), index, "burst"), 0,
                   PACER_LIMIT_BURST_MAX, &v, err);

  if (rc == 0)
    l->gcra.burst = (uint64_t)v;
  return rc;
}

static int
limit_max_in_flight(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
                    struct pacer_error *err)
{
  char name[LIMIT_FIELD_MAX];
  int64_t v = 0;
  int rc = get_int(item, field_path(name, sizeof(name), index, "max_in_flight"),
                   1, PACER_LIMIT_IN_FLIGHT_MAX, &v, err);

  if (rc == 0)
    l->max_in_flight = (uint32_t)v;
  return rc;
}

static int
limit_cost(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
           struct pacer_error *err)
{
  char name[LIMIT_FIELD_MAX];
  int64_t v = 0;
  int rc = get_int(item, field_path(name, sizeof(name), index, "cost"), 1,
                   PACER_LIMIT_BURST_MAX + 1, &v, err);

  if (rc == 0)
    l->cost = (uint32_t)v;
  return rc;
}

static int
limit_adaptive(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
               struct pacer_error *err)
{
  return limit_bool(&l->adaptive, item, index, "adaptive", err);
}

static int
limit_pause_on_429(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
                   struct pacer_error *err)
{
  return limit_bool(&l->pause_on_429, item, index, "pause_on_429", err);
}

/* "api.example.com", "*.example.com", "[2001:db8::1]" or "*" (any host).
 * Stores the lower-cased pattern ("" for "*"). 0, or -1 when invalid. */
static int
host_pattern(const char *s, char *out)
{
  const char *h = s;
  size_t i, n;

  if (strcmp(s, "*") == 0) {
    out[0] = '\0';
    return 0;
  }
  if (strncmp(s, "*.", 2) == 0)
    h = s + 2;
  n = strlen(s);
  if (n > PACER_LIMIT_HOST_MAX || h[0] == '\0')
    return -1;
  if (h[0] == '[') {
    /* an IPv6 literal as URLs write it (RFC 3986 §3.2.2); no glob */
    if (h != s || s[n - 1] != ']' || n < 3)
      return -1;
    for (i = 1; i + 1 < n; i++) {
      char c = lower(s[i]);

      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' ||
            c == '.'))
        return -1;
    }
  } else {
    /* dot-separated labels, none empty */
    for (i = 0; h[i] != '\0'; i++) {
      if (h[i] == '.' ? (i == 0 || h[i - 1] == '.' || h[i + 1] == '\0')
                      : !is_host_char(h[i]))
        return -1;
    }
  }
  for (i = 0; i <= n; i++)
    out[i] = lower(s[i]);
  return 0;
}

static int
match_host(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
           struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].match.host: must be a string", index);
  if (host_pattern(item->valuestring, l->match_host) != 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].match.host: \"%s\" is not a host name "
                           "or \"*.<domain>\"",
                           index, show(item->valuestring, buf, sizeof(buf)));
  return 0;
}

static int
match_path_prefix(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
                  struct pacer_error *err)
{
  const char *s;
  size_t i, n;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].match.path_prefix: must be a string",
                           index);
  s = item->valuestring;
  n = strlen(s);
  if (s[0] != '/')
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].match.path_prefix: must start with "
                           "\"/\"",
                           index);
  if (n > PACER_LIMIT_PATH_PREFIX_MAX)
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].match.path_prefix: must be at most %d "
                           "bytes",
                           index, PACER_LIMIT_PATH_PREFIX_MAX);
  for (i = 0; i < n; i++) {
    if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
      return pacer_error_set(err, PACER_ECONFIG,
                             "limits[%zu].match.path_prefix: must not contain "
                             "spaces or control characters",
                             index);
  }
  memcpy(l->match_path_prefix, s, n + 1);
  return 0;
}

/* Index of method name s in enum pacer_method, or -1. */
static int
method_index(const char *s)
{
  int m;

  for (m = PACER_METHOD_GET; m <= PACER_METHOD_HEAD; m++) {
    if (strcmp(s, pacer_method_name((enum pacer_method)m)) == 0)
      return m;
  }
  return -1;
}

static int
match_methods(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
              struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
  const cJSON *m;
  unsigned mask = 0;
  size_t i = 0;

  if (!cJSON_IsArray(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].match.methods: must be an array of "
                           "method names",
                           index);
  if (item->child == NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].match.methods: must list at least one "
                           "method (leave it out to match every method)",
                           index);
  cJSON_ArrayForEach(m, item)
  {
    int k;

    if (!cJSON_IsString(m))
      return pacer_error_set(err, PACER_ECONFIG,
                             "limits[%zu].match.methods[%zu]: must be a "
                             "string",
                             index, i);
    /* RFC 9110 §9.1: method names are case-sensitive */
    k = method_index(m->valuestring);
    if (k < 0)
      return pacer_error_set(err, PACER_ECONFIG,
                             "limits[%zu].match.methods[%zu]: \"%s\" is not "
                             "one of GET, POST, PUT, PATCH, DELETE, HEAD",
                             index, i, show(m->valuestring, buf, sizeof(buf)));
    mask |= 1u << k;
    i++;
  }
  l->match_methods = mask;
  return 0;
}

struct limit_field {
  const char *name;
  int (*set)(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
             struct pacer_error *err);
};

static const struct limit_field match_fields[] = {
    {"host", match_host},
    {"path_prefix", match_path_prefix},
    {"methods", match_methods},
};

/* Runs the setter for every member of obj, refusing duplicates and
 * unknown names; where is "limits[i]" or "limits[i].match". */
static int
set_members(struct pacer_limit_cfg *l, const cJSON *obj, size_t index,
            const char *where, const struct limit_field *fields, size_t nfields,
            struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
  const cJSON *item, *prev;
  size_t i;
  int rc;

  cJSON_ArrayForEach(item, obj)
  {
    for (prev = obj->child; prev != item; prev = prev->next) {
      if (strcmp(prev->string, item->string) == 0)
        return pacer_error_set(err, PACER_ECONFIG, "%s.%s: duplicate field",
                               where, show(item->string, buf, sizeof(buf)));
    }
    for (i = 0; i < nfields; i++) {
      if (strcmp(item->string, fields[i].name) == 0)
        break;
    }
    if (i == nfields)
      return pacer_error_set(err, PACER_ECONFIG, "%s.%s: unknown field", where,
                             item->string[0] == '\0'
                                 ? "\"\""
                                 : show(item->string, buf, sizeof(buf)));
    if ((rc = fields[i].set(l, item, index, err)) != 0)
      return rc;
  }
  return 0;
}

static int
limit_match(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
            struct pacer_error *err)
{
  char where[LIMIT_FIELD_MAX];

  if (!cJSON_IsObject(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].match: must be an object", index);
  return set_members(
      l, item, index, field_path(where, sizeof(where), index, "match"),
      match_fields, sizeof(match_fields) / sizeof(match_fields[0]), err);
}

static const struct limit_field limit_fields[] = {
    {"name", limit_name},
    {"match", limit_match},
    {"key", limit_key_kind},
    {"rate", limit_rate},
    {"burst", limit_burst},
    {"max_in_flight", limit_max_in_flight},
    {"cost", limit_cost},
    {"adaptive", limit_adaptive},
    {"pause_on_429", limit_pause_on_429},
};

/* Parses limits[index] into *l; prev[0..index) are the entries before it,
 * for the uniqueness check. */
static int
parse_limit(struct pacer_limit_cfg *l, const cJSON *obj, size_t index,
            const struct pacer_limit_cfg *prev, struct pacer_error *err)
{
  char where[LIMIT_FIELD_MAX];
  uint64_t burst;
  size_t i;
  int rc;

  memset(l, 0, sizeof(*l));
  l->key = PACER_LIMIT_KEY_GLOBAL;
  l->cost = 1;
  l->adaptive = 1;
  l->pause_on_429 = 1;
  if (!cJSON_IsObject(obj))
    return pacer_error_set(err, PACER_ECONFIG, "limits[%zu]: must be an object",
                           index);
  snprintf(where, sizeof(where), "limits[%zu]", index);
  rc = set_members(l, obj, index, where, limit_fields,
                   sizeof(limit_fields) / sizeof(limit_fields[0]), err);
  if (rc != 0)
    return rc;
  if (l->name[0] == '\0')
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].name: required field is missing",
                           index);
  for (i = 0; i < index; i++) {
    if (strcmp(prev[i].name, l->name) == 0)
      return pacer_error_set(err, PACER_ECONFIG,
                             "limits[%zu].name: \"%s\" is already the name of "
                             "limits[%zu]",
                             index, l->name, i);
  }
  if (l->rate_count == 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].rate: required field is missing, as "
                           "in \"10/s\"",
                           index);
  /* Cost above burst + 1 can never conform (gcra.h): refuse it here rather
   * than park every matching job forever. */
  burst = l->gcra.burst;
  if ((uint64_t)l->cost > burst + 1)
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].cost: %" PRIu32 " is more than burst "
                           "+ 1 (%" PRIu64 "), so no request could ever be "
                           "sent; raise burst to at least %" PRIu32,
                           index, l->cost, burst + 1, l->cost - 1);
  /* Rates are at most 1/us and periods at most 1 h, and burst is at most
   * PACER_LIMIT_BURST_MAX, so (burst + 1) * interval is far inside the
   * GCRA span bound: this cannot fail. */
  rc = pacer_gcra_limit_init(&l->gcra, l->rate_count, l->rate_period_us, burst);
  assert(rc == 0);
  if (rc != 0)
    return pacer_error_set(err, PACER_ECONFIG, "%s.rate: out of range", where);
  return 0;
}

static int
field_limits(struct pacer_config *cfg, const cJSON *item,
             struct pacer_error *err)
{
  struct pacer_limit_cfg *arr = NULL;
  const cJSON *el;
  size_t n = 0, i = 0;
  int rc;

  if (!cJSON_IsArray(item))
    return pacer_error_set(err, PACER_ECONFIG, "limits: must be an array");
  cJSON_ArrayForEach(el, item)
  {
    if (++n > PACER_LIMITS_MAX)
      return pacer_error_set(err, PACER_ECONFIG, "limits: at most %d entries",
                             PACER_LIMITS_MAX);
  }
  if (n > 0) {
    arr = calloc(n, sizeof(*arr));
    if (arr == NULL)
      return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
  }
  cJSON_ArrayForEach(el, item)
  {
    if ((rc = parse_limit(&arr[i], el, i, arr, err)) != 0) {
      free(arr);
      return rc;
    }
    i++;
  }
  free(cfg->limits);
  cfg->limits = arr;
  cfg->nlimits = n;
  return 0;
}

/* ------------------------------------------------------------------------
 * Credentials
 *
 *   "credentials": {"acme": {"token_url": "https://idp/token",   required
 *                            "client_id": "pacer",               required
 *                            "client_secret_env": "VAR"    \  at most one
 *                            "client_secret_file": "path"   > of the three;
 *                            "client_secret": "inline"     /  none: public
 *                            "refresh_token_env" | _file | refresh_token,
 *                            "auth_method": "client_secret_basic",
 *                            "scope": "a b", "hosts": ["api.example"],
 *                            "refresh_skew_s": 300, "scheme": "Bearer",
 *                            "lifetime_default_s": 3600}}
 *
 * Parsed into a new array that replaces cfg->creds only when every entry
 * is valid. Messages name the entry by key: credentials.acme.token_url.
 * No message quotes a secret value; env names and paths are not secret.
 * ------------------------------------------------------------------------ */

/* Secret files: at most SECRET_READ_MAX bytes are read, and a file that
 * long is refused; trailing white space is dropped before the size check. */
#define CRED_WHERE_MAX  (12 + PACER_CRED_NAME_MAX + 1) /* "credentials.<n>" */
#define ENV_NAME_MAX    128                            /* bytes */
#define SECRET_PATH_MAX 4095                           /* bytes */
#define SECRET_READ_MAX (PACER_OAUTH_TOKEN_MAX + 64)   /* bytes */

/* How pacer_config_parse was called: from pacer_config_load (with the
 * file's mode) or on bare text. */
struct parse_src {
  int from_file;
  mode_t mode; /* st_mode of the config file */
};

/* Parse state of one credential beyond the struct itself. */
struct cred_state {
  const struct parse_src *src;
  const char *where; /* "credentials.<name>" */
  int auth_given;    /* auth_method was present */
};

static void
wipe_string(char **s)
{
  if (*s != NULL) {
    sodium_memzero(*s, strlen(*s));
    free(*s);
    *s = NULL;
  }
}

static void
cred_free(struct pacer_cred_cfg *c)
{
  size_t i;

  free(c->token_url);
  free(c->client_id);
  free(c->client_secret.ref);
  wipe_string(&c->client_secret.value);
  free(c->refresh_token.ref);
  wipe_string(&c->refresh_token.value);
  free(c->scope);
  for (i = 0; i < c->nhosts; i++)
    free(c->hosts[i]);
  free(c->hosts);
  memset(c, 0, sizeof(*c));
}

static void
creds_free(struct pacer_cred_cfg *arr, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    cred_free(&arr[i]);
  free(arr);
}

static int
cred_oom(struct pacer_error *err)
{
  return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
}

static int
cred_string(char **slot, const char *value, struct pacer_error *err)
{
  char *copy = strdup(value);

  if (copy == NULL)
    return cred_oom(err);
  free(*slot);
  *slot = copy;
  return 0;
}

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

/* True when the authority [auth, aend) has no port, or a port 1..65535.
 * An IPv6 literal's colons are inside its brackets. */
static int
token_url_port_ok(const char *auth, const char *aend)
{
  const char *p = auth, *colon = NULL;
  unsigned long port = 0;

  if (*p == '[') {
    p = memchr(auth, ']', (size_t)(aend - auth));
    if (p == NULL)
      return 1; /* not a port question: libcurl rejects it */
  }
  for (; p < aend; p++) {
    if (*p == ':')
      colon = p;
  }
  if (colon == NULL)
    return 1;
  if (colon + 1 == aend || aend - (colon + 1) > 5)
    return 0;
  for (p = colon + 1; p < aend; p++) {
    if (*p < '0' || *p > '9')
      return 0;
    port = port * 10 + (unsigned long)(*p - '0');
  }
  return port >= 1 && port <= 65535;
}

static int
cred_token_url(struct pacer_cred_cfg *c, const cJSON *item,
               struct cred_state *st, struct pacer_error *err)
{
  const char *s, *auth, *aend;
  size_t n;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.token_url: must be an http or https URL",
                           st->where);
  s = item->valuestring;
  n = strlen(s);
  if (strncasecmp(s, "https://", 8) == 0)
    auth = s + 8;
  else if (strncasecmp(s, "http://", 7) == 0)
    auth = s + 7;
  else
    auth = NULL;
  if (auth == NULL || n > PACER_CRED_URL_MAX || !visible(s, 0x21) ||
      auth[0] == '\0' || strchr("/?#:", auth[0]) != NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.token_url: must be an http or https URL",
                           st->where);
  aend = auth + strcspn(auth, "/?#");
  /* user:password@ would put a secret where logs show URLs; the URL is
   * therefore never quoted either */
  if (memchr(auth, '@', (size_t)(aend - auth)) != NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.token_url: must not contain user:password@; "
                           "use client_secret_env or client_secret_file",
                           st->where);
  /* RFC 6749 §3.2: the endpoint URI MUST NOT include a fragment */
  if (strchr(s, '#') != NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.token_url: must not contain a #fragment",
                           st->where);
  /* RFC 3986 §3.2.3 allows "host:" (the scheme's default port), so libcurl
   * goes to port 80 or 443; here it is always a port left out by mistake
   * (issue 17: a test wrote "http://127.0.0.1:/..." and refreshes got
   * connect_error from port 80). */
  if (!token_url_port_ok(auth, aend))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.token_url: the port after ':' must be a "
                           "number 1..65535 (leave out ':' for the "
                           "scheme's default port)",
                           st->where);
  return cred_string(&c->token_url, s, err);
}

static int
cred_client_id(struct pacer_cred_cfg *c, const cJSON *item,
               struct cred_state *st, struct pacer_error *err)
{
  size_t n;

  /* RFC 6749 A.1: client-id = *VSCHAR */
  if (!cJSON_IsString(item) || (n = strlen(item->valuestring)) == 0 ||
      n > PACER_CRED_CLIENT_ID_MAX || !visible(item->valuestring, 0x20))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.client_id: must be a string of 1 to %d "
                           "visible ASCII characters",
                           st->where, PACER_CRED_CLIENT_ID_MAX);
  return cred_string(&c->client_id, item->valuestring, err);
}

static const char *
source_suffix(enum pacer_secret_source src)
{
  switch (src) {
  case PACER_SECRET_ENV:
    return "_env";
  case PACER_SECRET_FILE:
    return "_file";
  default:
    return "";
  }
}

/* Records one of the three ways to give secret `what` (client_secret or
 * refresh_token). */
static int
cred_secret(struct pacer_cred_secret *sec, const char *what,
            enum pacer_secret_source src, const cJSON *item,
            struct cred_state *st, struct pacer_error *err)
{
  const char *suffix = source_suffix(src);
  const char *s;
  size_t n, i;

  if (sec->source != PACER_SECRET_NONE)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.%s%s: %s is already given by %s%s; use only "
                           "one of %s_env, %s_file and %s",
                           st->where, what, suffix, what, what,
                           source_suffix(sec->source), what, what, what);
  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG, "%s.%s%s: must be a string",
                           st->where, what, suffix);
  s = item->valuestring;
  n = strlen(s);
  switch (src) {
  case PACER_SECRET_ENV:
    for (i = 0; i < n; i++) {
      char ch = s[i];

      if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' ||
            (i > 0 && ch >= '0' && ch <= '9')))
        break;
    }
    if (n == 0 || n > ENV_NAME_MAX || i < n)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.%s_env: must be an environment variable "
                             "name such as ACME_%s",
                             st->where, what,
                             strcmp(what, "client_secret") == 0
                                 ? "CLIENT_SECRET"
                                 : "REFRESH_TOKEN");
    break;
  case PACER_SECRET_FILE:
    if (n == 0 || n > SECRET_PATH_MAX || has_ctl(s))
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.%s_file: must be a file path of 1 to %d "
                             "bytes without control characters",
                             st->where, what, SECRET_PATH_MAX);
    break;
  default:
    /* RFC 6749 A.2, A.17: *VSCHAR; the value itself is never quoted */
    if (n == 0 || n > PACER_OAUTH_TOKEN_MAX || !visible(s, 0x20))
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.%s: must be a string of 1 to %d visible "
                             "ASCII characters",
                             st->where, what, PACER_OAUTH_TOKEN_MAX);
    if (st->src->from_file && (st->src->mode & (S_IRGRP | S_IROTH)) != 0)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.%s: inline secret in a config file readable "
                             "by group or others (mode %04o); use %s_env or "
                             "%s_file, or chmod 600 the file",
                             st->where, what, (unsigned)(st->src->mode & 07777),
                             what, what);
    sec->value = strdup(s);
    if (sec->value == NULL)
      return cred_oom(err);
    sec->source = src;
    return 0;
  }
  sec->ref = strdup(s);
  if (sec->ref == NULL)
    return cred_oom(err);
  sec->source = src;
  return 0;
}

static int
cred_client_secret_env(struct pacer_cred_cfg *c, const cJSON *item,
                       struct cred_state *st, struct pacer_error *err)
{
  return cred_secret(&c->client_secret, "client_secret", PACER_SECRET_ENV, item,
                     st, err);
}

static int
cred_client_secret_file(struct pacer_cred_cfg *c, const cJSON *item,
                        struct cred_state *st, struct pacer_error *err)
{
  return cred_secret(&c->client_secret, "client_secret", PACER_SECRET_FILE,
                     item, st, err);
}

static int
cred_client_secret(struct pacer_cred_cfg *c, const cJSON *item,
                   struct cred_state *st, struct pacer_error *err)
{
  return cred_secret(&c->client_secret, "client_secret", PACER_SECRET_INLINE,
                     item, st, err);
}

static int
cred_refresh_token_env(struct pacer_cred_cfg *c, const cJSON *item,
                       struct cred_state *st, struct pacer_error *err)
{
  return cred_secret(&c->refresh_token, "refresh_token", PACER_SECRET_ENV, item,
                     st, err);
}

static int
cred_refresh_token_file(struct pacer_cred_cfg *c, const cJSON *item,
                        struct cred_state *st, struct pacer_error *err)
{
  return cred_secret(&c->refresh_token, "refresh_token", PACER_SECRET_FILE,
                     item, st, err);
}

static int
cred_refresh_token(struct pacer_cred_cfg *c, const cJSON *item,
                   struct cred_state *st, struct pacer_error *err)
{
  return cred_secret(&c->refresh_token, "refresh_token", PACER_SECRET_INLINE,
                     item, st, err);
}

static int
cred_auth_method(struct pacer_cred_cfg *c, const cJSON *item,
                 struct cred_state *st, struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.auth_method: must be a string", st->where);
  if (strcmp(item->valuestring, "client_secret_basic") == 0)
    c->auth_method = PACER_OAUTH_AUTH_BASIC;
  else if (strcmp(item->valuestring, "client_secret_post") == 0)
    c->auth_method = PACER_OAUTH_AUTH_POST;
  else
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.auth_method: \"%s\" is not client_secret_basic "
                           "or client_secret_post",
                           st->where,
                           show(item->valuestring, buf, sizeof(buf)));
  st->auth_given = 1;
  return 0;
}

/* RFC 6749 §3.3: scope-token *( SP scope-token ), scope-token = 1*NQCHAR */
static int
cred_scope(struct pacer_cred_cfg *c, const cJSON *item, struct cred_state *st,
           struct pacer_error *err)
{
  const char *s;
  size_t i, n;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG, "%s.scope: must be a string",
                           st->where);
  s = item->valuestring;
  n = strlen(s);
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];

    if (ch == ' ' ? (i == 0 || i + 1 == n || s[i + 1] == ' ')
                  : (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\'))
      break;
  }
  if (n == 0 || n > PACER_CRED_SCOPE_MAX || i < n)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.scope: must be scope tokens separated by "
                           "single spaces, at most %d bytes",
                           st->where, PACER_CRED_SCOPE_MAX);
  return cred_string(&c->scope, s, err);
}

static int
cred_hosts(struct pacer_cred_cfg *c, const cJSON *item, struct cred_state *st,
           struct pacer_error *err)
{
  char buf[SHOW_MAX + 8], pattern[PACER_LIMIT_HOST_MAX + 1];
  const cJSON *h;
  size_t n = 0;

  if (!cJSON_IsArray(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.hosts: must be an array of host names",
                           st->where);
  cJSON_ArrayForEach(h, item)
  {
    n++;
  }
  if (n == 0 || n > PACER_CRED_HOSTS_MAX)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.hosts: must list 1 to %d hosts this "
                           "credential's token may be sent to",
                           st->where, PACER_CRED_HOSTS_MAX);
  c->hosts = calloc(n, sizeof(*c->hosts));
  if (c->hosts == NULL)
    return cred_oom(err);
  cJSON_ArrayForEach(h, item)
  {
    if (!cJSON_IsString(h))
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.hosts[%zu]: must be a string", st->where,
                             c->nhosts);
    if (host_pattern(h->valuestring, pattern) != 0)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.hosts[%zu]: \"%s\" is not a host name or "
                             "\"*.<domain>\"",
                             st->where, c->nhosts,
                             show(h->valuestring, buf, sizeof(buf)));
    if (pattern[0] == '\0')
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.hosts[%zu]: \"*\" would send the token to "
                             "any host; list the API's hosts",
                             st->where, c->nhosts);
    c->hosts[c->nhosts] = strdup(pattern);
    if (c->hosts[c->nhosts] == NULL)
      return cred_oom(err);
    c->nhosts++;
  }
  return 0;
}

static int
cred_skew(struct pacer_cred_cfg *c, const cJSON *item, struct cred_state *st,
          struct pacer_error *err)
{
  char name[CRED_WHERE_MAX + 32];
  int64_t v = 0;
  int rc;

  snprintf(name, sizeof(name), "%s.refresh_skew_s", st->where);
  rc = get_int(item, name, 0, PACER_CRED_SKEW_MAX_S, &v, err);
  if (rc == 0)
    c->refresh_skew_s = (uint32_t)v;
  return rc;
}

static int
cred_lifetime(struct pacer_cred_cfg *c, const cJSON *item,
              struct cred_state *st, struct pacer_error *err)
{
  char name[CRED_WHERE_MAX + 32];
  int64_t v = 0;
  int rc;

  snprintf(name, sizeof(name), "%s.lifetime_default_s", st->where);
  rc = get_int(item, name, 1, PACER_OAUTH_EXPIRES_IN_MAX_S, &v, err);
  if (rc == 0)
    c->lifetime_default_s = (uint32_t)v;
  return rc;
}

static int
cred_scheme(struct pacer_cred_cfg *c, const cJSON *item, struct cred_state *st,
            struct pacer_error *err)
{
  size_t i, n;

  if (cJSON_IsString(item)) {
    n = strlen(item->valuestring);
    for (i = 0; i < n && is_tchar(item->valuestring[i]); i++)
      ;
    if (n > 0 && n <= PACER_CRED_SCHEME_MAX && i == n) {
      memcpy(c->scheme, item->valuestring, n + 1);
      return 0;
    }
  }
  return pacer_error_set(err, PACER_ECONFIG,
                         "%s.scheme: must be an auth scheme token of 1 to %d "
                         "characters, such as Bearer",
                         st->where, PACER_CRED_SCHEME_MAX);
}

struct cred_field {
  const char *name;
  int (*set)(struct pacer_cred_cfg *c, const cJSON *item, struct cred_state *st,
             struct pacer_error *err);
};

static const struct cred_field cred_fields[] = {
    {"token_url", cred_token_url},
    {"client_id", cred_client_id},
    {"client_secret_env", cred_client_secret_env},
    {"client_secret_file", cred_client_secret_file},
    {"client_secret", cred_client_secret},
    {"refresh_token_env", cred_refresh_token_env},
    {"refresh_token_file", cred_refresh_token_file},
    {"refresh_token", cred_refresh_token},
    {"auth_method", cred_auth_method},
    {"scope", cred_scope},
    {"hosts", cred_hosts},
    {"refresh_skew_s", cred_skew},
    {"scheme", cred_scheme},
    {"lifetime_default_s", cred_lifetime},
};

/* Parses credentials.<key> into *c (zeroed by the caller). */
static int
parse_cred(struct pacer_cred_cfg *c, const cJSON *obj,
           const struct parse_src *src, struct pacer_error *err)
{
  char where[CRED_WHERE_MAX + 1], buf[SHOW_MAX + 8];
  struct cred_state st;
  const cJSON *item, *prev;
  const char *key = obj->string;
  size_t i, n;
  int rc;

  n = strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789_.-");
  if (n == 0 || n > PACER_CRED_NAME_MAX || key[n] != '\0')
    return pacer_error_set(err, PACER_ECONFIG,
                           "credentials: \"%s\" is not a valid name: use 1 "
                           "to %d characters from A-Z a-z 0-9 _ . -",
                           show(key, buf, sizeof(buf)), PACER_CRED_NAME_MAX);
  memcpy(c->name, key, n + 1);
  snprintf(where, sizeof(where), "credentials.%s", key);
  if (!cJSON_IsObject(obj))
    return pacer_error_set(err, PACER_ECONFIG, "%s: must be an object", where);
  memset(&st, 0, sizeof(st));
  st.src = src;
  st.where = where;
  c->auth_method = PACER_OAUTH_AUTH_BASIC;
  c->refresh_skew_s = PACER_CRED_SKEW_DEFAULT_S;
  memcpy(c->scheme, "Bearer", sizeof("Bearer"));
  cJSON_ArrayForEach(item, obj)
  {
    for (prev = obj->child; prev != item; prev = prev->next) {
      if (strcmp(prev->string, item->string) == 0)
        return pacer_error_set(err, PACER_ECONFIG, "%s.%s: duplicate field",
                               where, show(item->string, buf, sizeof(buf)));
    }
    for (i = 0; i < sizeof(cred_fields) / sizeof(cred_fields[0]); i++) {
      if (strcmp(item->string, cred_fields[i].name) == 0)
        break;
    }
    if (i == sizeof(cred_fields) / sizeof(cred_fields[0]))
      return pacer_error_set(err, PACER_ECONFIG, "%s.%s: unknown field", where,
                             item->string[0] == '\0'
                                 ? "\"\""
                                 : show(item->string, buf, sizeof(buf)));
    if ((rc = cred_fields[i].set(c, item, &st, err)) != 0)
      return rc;
  }
  if (c->token_url == NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.token_url: required field is missing", where);
  if (c->client_id == NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.client_id: required field is missing", where);
  if (c->nhosts == 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.hosts: required field is missing: list the "
                           "hosts this credential's token may be sent to",
                           where);
  if (c->client_secret.source == PACER_SECRET_NONE) {
    /* RFC 6749 §2.1: a public client has no secret to present */
    if (st.auth_given)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.auth_method: needs a client secret: set "
                             "client_secret_env or client_secret_file",
                             where);
    c->auth_method = PACER_OAUTH_AUTH_NONE;
  }
  return 0;
}

static int
field_credentials(struct pacer_config *cfg, const cJSON *item,
                  const struct parse_src *src, struct pacer_error *err)
{
  struct pacer_cred_cfg *arr = NULL;
  const cJSON *el, *prev;
  size_t n = 0, i = 0;
  int rc;

  if (!cJSON_IsObject(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "credentials: must be an object mapping names to "
                           "credentials");
  cJSON_ArrayForEach(el, item)
  {
    if (++n > PACER_CREDS_MAX)
      return pacer_error_set(err, PACER_ECONFIG,
                             "credentials: at most %d entries",
                             PACER_CREDS_MAX);
  }
  if (n > 0) {
    arr = calloc(n, sizeof(*arr));
    if (arr == NULL)
      return cred_oom(err);
  }
  cJSON_ArrayForEach(el, item)
  {
    for (prev = item->child; prev != el; prev = prev->next) {
      if (strcmp(prev->string, el->string) == 0) {
        char buf[SHOW_MAX + 8];

        creds_free(arr, n);
        return pacer_error_set(err, PACER_ECONFIG,
                               "credentials.%s: duplicate name",
                               show(el->string, buf, sizeof(buf)));
      }
    }
    if ((rc = parse_cred(&arr[i], el, src, err)) != 0) {
      creds_free(arr, n);
      return rc;
    }
    i++;
  }
  creds_free(cfg->creds, cfg->ncreds);
  cfg->creds = arr;
  cfg->ncreds = n;
  return 0;
}

/* Reads a secret from path (the field's message names `field`). */
static int
read_secret_file(const char *path, const char *field, char **out,
                 struct pacer_error *err)
{
  char ebuf[128];
  struct stat st;
  char *buf = NULL;
  size_t len = 0;
  int fd, saved;

  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    goto syserr;
  if (fstat(fd, &st) != 0)
    goto syserr_close;
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return pacer_error_set(err, PACER_ECONFIG, "%s: %s is not a regular file",
                           field, path);
  }
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    close(fd);
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: %s is readable by group or others (mode "
                           "%04o); chmod 600 %s",
                           field, path, (unsigned)(st.st_mode & 07777), path);
  }
  buf = malloc(SECRET_READ_MAX + 1);
  if (buf == NULL) {
    close(fd);
    return cred_oom(err);
  }
  while (len < SECRET_READ_MAX) {
    ssize_t r = read(fd, buf + len, SECRET_READ_MAX - len);

    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      saved = errno;
      sodium_memzero(buf, SECRET_READ_MAX + 1);
      free(buf);
      errno = saved;
      goto syserr_close;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  close(fd);
  /* drop the final newline and any trailing white space */
  while (len > 0 && len < SECRET_READ_MAX &&
         (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
          buf[len - 1] == '\t'))
    len--;
  buf[len] = '\0';
  if (len == 0 || len > PACER_OAUTH_TOKEN_MAX || memchr(buf, '\0', len) ||
      !visible(buf, 0x20)) {
    size_t n = len;

    sodium_memzero(buf, SECRET_READ_MAX + 1);
    free(buf);
    if (n == 0)
      return pacer_error_set(err, PACER_ECONFIG, "%s: %s is empty", field,
                             path);
    if (n > PACER_OAUTH_TOKEN_MAX)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s: %s is larger than %d bytes", field, path,
                             PACER_OAUTH_TOKEN_MAX);
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: %s must hold visible ASCII characters only",
                           field, path);
  }
  *out = buf;
  return 0;

syserr_close:
  saved = errno;
  close(fd);
  errno = saved;
syserr:
  saved = errno;
  if (strerror_r(saved, ebuf, sizeof(ebuf)) != 0)
    snprintf(ebuf, sizeof(ebuf), "error %d", saved);
  return pacer_error_set(err, PACER_ECONFIG, "%s: %s: %s", field, path, ebuf);
}

static int
resolve_one(struct pacer_cred_secret *sec, const char *where, const char *what,
            const char *base_dir, struct pacer_error *err)
{
  char field[CRED_WHERE_MAX + 32];
  char *value = NULL;
  int rc;

  if (sec->source == PACER_SECRET_ENV) {
    const char *v = getenv(sec->ref);

    snprintf(field, sizeof(field), "%s.%s_env", where, what);
    if (v == NULL)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s: environment variable %s is not set", field,
                             sec->ref);
    if (v[0] == '\0')
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s: environment variable %s is empty", field,
                             sec->ref);
    if (strlen(v) > PACER_OAUTH_TOKEN_MAX || !visible(v, 0x20))
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s: environment variable %s must hold 1 to %d "
                             "visible ASCII characters",
                             field, sec->ref, PACER_OAUTH_TOKEN_MAX);
    value = strdup(v);
    if (value == NULL)
      return cred_oom(err);
  } else if (sec->source == PACER_SECRET_FILE) {
    char *path = sec->ref;

    snprintf(field, sizeof(field), "%s.%s_file", where, what);
    if (sec->ref[0] != '/' && base_dir != NULL && base_dir[0] != '\0') {
      size_t blen = strlen(base_dir), rlen = strlen(sec->ref);

      path = malloc(blen + 1 + rlen + 1);
      if (path == NULL)
        return cred_oom(err);
      memcpy(path, base_dir, blen);
      path[blen] = '/';
      memcpy(path + blen + 1, sec->ref, rlen + 1);
    }
    rc = read_secret_file(path, field, &value, err);
    if (path != sec->ref)
      free(path);
    if (rc != 0)
      return rc;
  } else {
    return 0;
  }
  wipe_string(&sec->value);
  sec->value = value;
  return 0;
}

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
                    const struct parse_src *src, struct pacer_error *err)
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
  wipe_string(&cfg->metrics_token);
  cfg->metrics_token = copy;
  return 0;
}

static int
set_field(struct pacer_config *cfg, const cJSON *item,
          const struct parse_src *src, struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
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
    return field_limits(cfg, item, err);
  if (strcmp(item->string, "credentials") == 0)
    return field_credentials(cfg, item, src, err);
  if (strcmp(item->string, "destination_allow") == 0)
    return field_destination_allow(cfg, item, err);
  if (strcmp(item->string, "metrics_token") == 0)
    return field_metrics_token(cfg, item, src, err);
  if (item->string[0] == '\0')
    return pacer_error_set(err, PACER_ECONFIG, "\"\": unknown field");
  return pacer_error_set(err, PACER_ECONFIG, "%s: unknown field",
                         show(item->string, buf, sizeof(buf)));
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
           const struct parse_src *src, struct pacer_error *err)
{
  const char *end = NULL;
  const cJSON *item, *prev;
  cJSON *root;
  int rc = 0;

  pacer_error_clear(err);
  if (len > CONFIG_MAX_BYTES)
    return pacer_error_set(err, PACER_ECONFIG,
                           "config: %zu bytes exceeds the %u-byte limit", len,
                           CONFIG_MAX_BYTES);
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
      char buf[SHOW_MAX + 8];

      rc = pacer_error_set(err, PACER_ECONFIG, "%s: duplicate field",
                           show(item->string, buf, sizeof(buf)));
      break;
    }
    if ((rc = set_field(cfg, item, src, err)) != 0)
      break;
  }
  /* An allow list without public_only permits nothing new: say so rather
   * than let a reader believe the destinations are restricted. */
  if (rc == 0 && cfg->dest_policy.mode == PACER_DEST_ANY &&
      cfg->dest_policy.nallow > 0)
    rc = pacer_error_set(err, PACER_ECONFIG,
                         "destination_allow: has no effect unless "
                         "destination_policy is \"public_only\"");
  pacer_json_wipe(root); /* inline secrets */
  cJSON_Delete(root);
  return rc;
}

int
pacer_config_parse(struct pacer_config *cfg, const char *json, size_t len,
                   struct pacer_error *err)
{
  struct parse_src src = {0, 0};

  return parse_text(cfg, json, len, &src, err);
}

int
pacer_config_load(struct pacer_config *cfg, const char *path,
                  struct pacer_error *err)
{
  struct parse_src src = {1, 0};
  char ebuf[128];
  struct stat st;
  char *buf, *dir;
  size_t len = 0;
  int fd, rc, saved;

  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    goto syserr;
  if (fstat(fd, &st) != 0) {
    saved = errno;
    close(fd);
    errno = saved;
    goto syserr;
  }
  src.mode = st.st_mode;
  buf = malloc(CONFIG_MAX_BYTES + 1);
  if (buf == NULL) {
    close(fd);
    return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
  }
  /* Read up to one byte past the limit, so an oversized file is noticed
   * without trusting st_size (pipes and /dev/stdin have none). */
  while (len <= CONFIG_MAX_BYTES) {
    ssize_t n = read(fd, buf + len, CONFIG_MAX_BYTES + 1 - len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      saved = errno;
      sodium_memzero(buf, len);
      free(buf);
      close(fd);
      errno = saved;
      goto syserr;
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  close(fd);
  if (len > CONFIG_MAX_BYTES) {
    sodium_memzero(buf, len);
    free(buf);
    return pacer_error_set(err, PACER_ECONFIG,
                           "config: %s: larger than the %u-byte limit", path,
                           CONFIG_MAX_BYTES);
  }
  rc = parse_text(cfg, buf, len, &src, err);
  sodium_memzero(buf, len); /* may hold inline secrets */
  free(buf);
  if (rc != 0)
    return rc;
  /* relative secret files live next to the config file */
  dir = strdup(path);
  if (dir == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
  if (strrchr(dir, '/') == NULL)
    dir[0] = '\0';
  else if (strrchr(dir, '/') == dir)
    dir[1] = '\0';
  else
    *strrchr(dir, '/') = '\0';
  rc = pacer_config_resolve_secrets(cfg, dir[0] != '\0' ? dir : NULL, err);
  free(dir);
  return rc;

syserr:
  saved = errno;
  if (strerror_r(saved, ebuf, sizeof(ebuf)) != 0)
    snprintf(ebuf, sizeof(ebuf), "error %d", saved);
  return pacer_error_set(err, PACER_ECONFIG, "config: %s: %s", path, ebuf);
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
  return 0;
}

void
pacer_config_free(struct pacer_config *cfg)
{
  if (cfg == NULL)
    return;
  free(cfg->redis_url);
  cfg->redis_url = NULL;
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
  wipe_string(&cfg->metrics_token);
  free(cfg->metrics_token_file);
  cfg->metrics_token_file = NULL;
  free(cfg->limits);
  cfg->limits = NULL;
  cfg->nlimits = 0;
  creds_free(cfg->creds, cfg->ncreds);
  cfg->creds = NULL;
  cfg->ncreds = 0;
}

int
pacer_config_resolve_secrets(struct pacer_config *cfg, const char *base_dir,
                             struct pacer_error *err)
{
  char where[CRED_WHERE_MAX + 1];
  size_t i;
  int rc;

  pacer_error_clear(err);
  for (i = 0; i < cfg->ncreds; i++) {
    struct pacer_cred_cfg *c = &cfg->creds[i];

    snprintf(where, sizeof(where), "credentials.%s", c->name);
    if ((rc = resolve_one(&c->client_secret, where, "client_secret", base_dir,
                          err)) != 0 ||
        (rc = resolve_one(&c->refresh_token, where, "refresh_token", base_dir,
                          err)) != 0)
      return rc;
  }
  return 0;
}

const struct pacer_cred_cfg *
pacer_config_credential(const struct pacer_config *cfg, const char *name)
{
  size_t i;

  if (cfg == NULL || name == NULL)
    return NULL;
  for (i = 0; i < cfg->ncreds; i++) {
    if (strcmp(cfg->creds[i].name, name) == 0)
      return &cfg->creds[i];
  }
  return NULL;
}

/* ------------------------------------------------------------------------
 * Public API: limits
 * ------------------------------------------------------------------------ */

static int
host_matches(const char *pattern, const char *host)
{
  size_t n, plen;

  if (host == NULL)
    return 0;
  n = strlen(host);
  if (n > 0 && host[n - 1] == '.')
    n--; /* "example.com." is the same name */
  if (pattern[0] == '*') {
    /* "*.example.com": at least one label before ".example.com" */
    plen = strlen(pattern + 1);
    return n > plen && strncasecmp(host + n - plen, pattern + 1, plen) == 0;
  }
  plen = strlen(pattern);
  return n == plen && strncasecmp(host, pattern, n) == 0;
}

int
pacer_limit_matches(const struct pacer_limit_cfg *l, const char *method,
                    const char *host, const char *path)
{
  if (l->match_methods != 0) {
    int k = method != NULL ? method_index(method) : -1;

    if (k < 0 || (l->match_methods & (1u << k)) == 0)
      return 0;
  }
  if (l->match_host[0] != '\0' && !host_matches(l->match_host, host))
    return 0;
  if (l->match_path_prefix[0] != '\0') {
    const char *p = (path != NULL && path[0] != '\0') ? path : "/";

    if (strncmp(p, l->match_path_prefix, strlen(l->match_path_prefix)) != 0)
      return 0;
  }
  return 1;
}

int
pacer_cred_host_allowed(const struct pacer_cred_cfg *c, const char *host)
{
  size_t i;

  for (i = 0; i < c->nhosts; i++) {
    if (host_matches(c->hosts[i], host))
      return 1;
  }
  return 0;
}

/* FNV-1a 64 with the MurmurHash3 fmix64 finaliser for diffusion. Not a
 * MAC: it only keeps secret values out of key names. */
static uint64_t
hash64(const char *s, size_t n)
{
  uint64_t h = UINT64_C(14695981039346656037);
  size_t i;

  for (i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= UINT64_C(1099511628211);
  }
  h ^= h >> 33;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 33;
  h *= UINT64_C(0xc4ceb9fe1a85ec53);
  h ^= h >> 33;
  return h;
}

/* %XX-escapes value[0..n) into out (PACER_LIMIT_KEY_VALUE_MAX + 1 bytes),
 * lower-casing when asked. Returns -1 when it does not fit. */
static int
escape_value(const char *value, size_t n, int fold, char *out)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t i, o = 0;

  for (i = 0; i < n; i++) {
    char c = fold ? lower(value[i]) : value[i];

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      if (o + 1 > PACER_LIMIT_KEY_VALUE_MAX)
        return -1;
      out[o++] = c;
    } else {
      if (o + 3 > PACER_LIMIT_KEY_VALUE_MAX)
        return -1;
      out[o++] = '%';
      out[o++] = hex[(unsigned char)c >> 4];
      out[o++] = hex[(unsigned char)c & 0xf];
    }
  }
  out[o] = '\0';
  return 0;
}

int
pacer_limit_key(const struct pacer_limit_cfg *l, const char *host,
                const char *credential, const char *limit_key,
                pacer_limit_header_cb header, void *header_ctx, char *out,
                size_t size)
{
  char value[PACER_LIMIT_KEY_VALUE_MAX + 1];
  const char *v = NULL;
  int fold = 0, secret = 0, n;
  size_t len;

  switch (l->key) {
  case PACER_LIMIT_KEY_GLOBAL:
    n = snprintf(out, size, "%s", l->name);
    goto done;
  case PACER_LIMIT_KEY_HOST:
    v = host;
    fold = 1; /* RFC 3986 §3.2.2: the host is case-insensitive */
    break;
  case PACER_LIMIT_KEY_CREDENTIAL:
    v = credential;
    break;
  case PACER_LIMIT_KEY_LIMIT_KEY:
    v = limit_key;
    break;
  case PACER_LIMIT_KEY_HEADER:
    v = header != NULL ? header(header_ctx, l->key_header) : NULL;
    secret = pacer_header_is_secret(l->key_header);
    break;
  }
  len = v != NULL ? strlen(v) : 0;
  if (fold && len > 0 && v[len - 1] == '.')
    len--;
  if (len > 0 && (secret || escape_value(v, len, fold, value) != 0))
    snprintf(value, sizeof(value), "#%016" PRIx64, hash64(v, len));
  else if (len == 0)
    value[0] = '\0';
  n = snprintf(out, size, "%s:%s", l->name, value);
done:
  if (n < 0 || (size_t)n >= size) {
    if (size > 0)
      out[0] = '\0';
    return PACER_ETOOLARGE;
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * Redis address
 *
 *   redis://[[user]:password@]host[:port][/db]     host may be [IPv6]
 *   unix://[[user]:password@]/path/to.sock[?db=N]  (redis-py form)
 *   /path/to.sock
 * ------------------------------------------------------------------------ */

/* Percent-decodes s[0..n) into out (size bytes). RFC 3986 §2.1. Returns 0,
 * or -1 on a bad escape, a decoded NUL, or overflow. */
static int
pct_decode(const char *s, size_t n, char *out, size_t size)
{
  size_t i, o = 0;

  for (i = 0; i < n; i++) {
    int c = (unsigned char)s[i];

    if (c == '%') {
      int hi, lo;

      if (i + 2 >= n)
        return -1;
      hi = pacer_hex_digit(s[i + 1]);
      lo = pacer_hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      c = hi * 16 + lo;
      i += 2;
      if (c == 0)
        return -1;
    }
    if (o + 1 >= size)
      return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return 0;
}

/* Parses a decimal in [lo, hi] from s[0..n); n > 0, digits only. */
static int
parse_dec(const char *s, size_t n, long lo, long hi, long *out)
{
  long v = 0;
  size_t i;

  if (n == 0)
    return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    if (v > (hi - (s[i] - '0')) / 10)
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v < lo)
    return -1;
  *out = v;
  return 0;
}

static int
addr_fail(struct pacer_redis_addr *addr, struct pacer_error *err,
          const char *reason)
{
  explicit_bzero(addr, sizeof(*addr));
  return pacer_error_set(err, PACER_ECONFIG, "redis_url: %s", reason);
}

/* "?db=N" (the only query parameter) into addr->db. */
static int
parse_query(const char *q, struct pacer_redis_addr *addr,
            struct pacer_error *err)
{
  long db;

  if (strncmp(q, "db=", 3) != 0)
    return addr_fail(addr, err, "the only query parameter is db, as in ?db=0");
  if (parse_dec(q + 3, strlen(q + 3), 0, 2147483647L, &db) != 0)
    return addr_fail(addr, err, "db must be a number from 0 to 2147483647");
  addr->db = (int)db;
  return 0;
}

static int
parse_unix_path(const char *path, size_t n, struct pacer_redis_addr *addr,
                struct pacer_error *err)
{
  size_t i;

  if (n == 0 || path[0] != '/')
    return addr_fail(addr, err,
                     "unix socket path must be absolute, as in "
                     "unix:///run/redis/redis.sock");
  if (n > UNIX_PATH_MAX)
    return addr_fail(addr, err, "unix socket path is longer than 107 bytes");
  for (i = 0; i < n; i++) {
    if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
      return addr_fail(addr, err,
                       "unix socket path contains a control character");
  }
  memcpy(addr->path, path, n);
  addr->path[n] = '\0';
  return 0;
}

/* "[user]:password" in ui[0..n) (before the "@"), percent-decoded into
 * addr; form is the URL shape an error suggests. */
static int
parse_userinfo(const char *ui, size_t n, struct pacer_redis_addr *addr,
               struct pacer_error *err, const char *form)
{
  const char *colon = memchr(ui, ':', n);

  if (colon == NULL) {
    explicit_bzero(addr, sizeof(*addr));
    return pacer_error_set(err, PACER_ECONFIG,
                           "redis_url: a user name needs a password: use %s",
                           form);
  }
  if (pct_decode(ui, (size_t)(colon - ui), addr->user, sizeof(addr->user)) != 0)
    return addr_fail(addr, err, "user name is too long or has a bad %-escape");
  if (pct_decode(colon + 1, (size_t)(ui + n - colon - 1), addr->password,
                 sizeof(addr->password)) != 0)
    return addr_fail(addr, err, "password is too long or has a bad %-escape");
  return 0;
}

/* "unix://[[user]:password@]/path.sock[?db=N]" after the scheme (the
 * redis-py form). The path starts at the first "/"; what comes before it
 * is the user information and ends with "@". */
static int
parse_unix(const char *rest, struct pacer_redis_addr *addr,
           struct pacer_error *err)
{
  const char *path = rest;
  size_t alen = strcspn(rest, "/"), n;
  int rc;

  if (alen > 0 && rest[alen - 1] == '@') {
    rc = parse_userinfo(rest, alen - 1, addr, err,
                        "unix://user:password@/path.sock or "
                        "unix://:password@/path.sock");
    if (rc != 0)
      return rc;
    path = rest + alen;
  }
  n = strcspn(path, "?");
  rc = parse_unix_path(path, n, addr, err);
  if (rc == 0 && path[n] == '?')
    rc = parse_query(path + n + 1, addr, err);
  return rc;
}

static int
is_host_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int
parse_tcp(const char *rest, struct pacer_redis_addr *addr,
          struct pacer_error *err)
{
  size_t alen = strcspn(rest, "/?");
  const char *auth = rest, *end = rest + alen, *host = rest, *at, *hend;
  const char *port = NULL, *p;
  long v;

  for (at = auth; at < end; at++) {
    if (*at == '@')
      host = at + 1; /* userinfo ends at the last "@" */
  }
  if (host != auth) {
    int rc = parse_userinfo(auth, (size_t)(host - 1 - auth), addr, err,
                            "redis://user:password@host or "
                            "redis://:password@host");

    if (rc != 0)
      return rc;
  }
  if (*host == '[') {
    const char *close = memchr(host, ']', (size_t)(end - host));

    if (close == NULL)
      return addr_fail(addr, err, "IPv6 host has no closing \"]\"");
    for (p = host + 1; p < close; p++) {
      if (!(is_host_char(*p) || *p == ':' || *p == '%'))
        return addr_fail(addr, err, "host is not a valid IPv6 address");
    }
    hend = close;
    host++;
    if (close + 1 < end) {
      if (close[1] != ':')
        return addr_fail(addr, err, "unexpected text after the IPv6 host");
      port = close + 2;
    }
  } else {
    const char *colon = memchr(host, ':', (size_t)(end - host));

    hend = colon != NULL ? colon : end;
    if (colon != NULL)
      port = colon + 1;
    for (p = host; p < hend; p++) {
      if (!is_host_char(*p))
        return addr_fail(addr, err,
                         "host must be a name or an address, as in "
                         "redis://127.0.0.1:6379/0");
    }
  }
  if (hend == host)
    return addr_fail(addr, err, "host is empty");
  if ((size_t)(hend - host) >= sizeof(addr->host))
    return addr_fail(addr, err, "host is longer than 255 bytes");
  memcpy(addr->host, host, (size_t)(hend - host));
  addr->host[hend - host] = '\0';
  if (port != NULL) {
    if (parse_dec(port, (size_t)(end - port), 1, 65535, &v) != 0)
      return addr_fail(addr, err, "port must be a number from 1 to 65535");
    addr->port = (int)v;
  }
  if (*end == '/') {
    const char *db = end + 1;
    size_t n = strcspn(db, "?");

    if (n > 0) {
      if (parse_dec(db, n, 0, 2147483647L, &v) != 0)
        return addr_fail(addr, err,
                         "database must be a number from 0 to 2147483647, "
                         "as in redis://host:6379/0");
      addr->db = (int)v;
    }
    end = db + n;
  }
  if (*end == '?')
    return parse_query(end + 1, addr, err);
  return 0;
}

int
pacer_redis_addr_parse(const char *url, struct pacer_redis_addr *addr,
                       struct pacer_error *err)
{
  char buf[SHOW_MAX + 8];
  size_t slen;

  memset(addr, 0, sizeof(*addr));
  addr->port = REDIS_PORT_DEFAULT;
  if (url == NULL || url[0] == '\0')
    return addr_fail(addr, err, "must not be empty");
  if (strncasecmp(url, "rediss://", 9) == 0)
    return addr_fail(addr, err,
                     "rediss:// (TLS) is not supported by this build; run a "
                     "TLS tunnel such as stunnel or spiped and point "
                     "redis:// at it");
  if (strncasecmp(url, "redis://", 8) == 0)
    return parse_tcp(url + 8, addr, err);
  if (strncasecmp(url, "unix://", 7) == 0)
    return parse_unix(url + 7, addr, err);
  if (url[0] == '/')
    return parse_unix_path(url, strlen(url), addr, err);
  /* Quote the scheme only when it is clearly one ("xyz://"): anything else
   * might be a password typed without its scheme. */
  slen = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789+-.");
  if (slen > 0 && strncmp(url + slen, "://", 3) == 0) {
    char scheme[SHOW_MAX + 1];

    if (slen > SHOW_MAX)
      slen = SHOW_MAX;
    memcpy(scheme, url, slen);
    scheme[slen] = '\0';
    explicit_bzero(addr, sizeof(*addr));
    return pacer_error_set(err, PACER_ECONFIG,
                           "redis_url: scheme \"%s\" is not supported, use "
                           "redis:// or unix://",
                           show(scheme, buf, sizeof(buf)));
  }
  return addr_fail(addr, err,
                   "must start with redis://, unix:// or /, as in "
                   "redis://127.0.0.1:6379/0");
}
