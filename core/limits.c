/* Rate limits: parsing the "limits" list of the configuration, matching a
 * request to its limits, and the bucket key it takes from.
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
 */
#include "core/limits.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <sodium.h>

#include "core/config.h"
#include "core/config_int.h"
#include "core/config_locate.h"
#include "core/job.h"

#define LIMIT_FIELD_MAX 64 /* "limits[255].max_in_flight", bytes */

/* ------------------------------------------------------------------------
 * Key kinds: one row each
 *
 *   "key": "<name>"            bucket "<limit>:<value>" ("<limit>" for a
 *   "key": "header:<Header>"   kind without a value), the value escaped
 *                              or hashed by pacer_limit_key
 *
 * A new kind is an enum pacer_limit_key_kind constant, a row below and,
 * when its value comes from somewhere new, a field of struct key_req and
 * a parameter of pacer_limit_key. Parsing, messages, pacer_limit_key and
 * pacer_limit_key_kind_format all read this table.
 * ------------------------------------------------------------------------ */

/* What pacer_limit_key knows about the request. */
struct key_req {
  const char *host, *credential, *limit_key;
  pacer_limit_header_cb header;
  void *header_ctx;
};

#define KEY_FOLD                                                               \
  1u /* case-insensitive value: lower-cased, one trailing                      \
        dot dropped (RFC 3986 §3.2.2, a host) */
#define KEY_HEADER                                                             \
  2u /* "<name><Header>": the value is that request                            \
        header's, hashed when it carries a secret                              \
        (pacer_header_is_secret) */

static const char *
value_host(const struct pacer_limit_cfg *l, const struct key_req *r)
{
  (void)l;
  return r->host;
}

static const char *
value_credential(const struct pacer_limit_cfg *l, const struct key_req *r)
{
  (void)l;
  return r->credential;
}

static const char *
value_limit_key(const struct pacer_limit_cfg *l, const struct key_req *r)
{
  (void)l;
  return r->limit_key;
}

static const char *
value_header(const struct pacer_limit_cfg *l, const struct key_req *r)
{
  return r->header != NULL ? r->header(r->header_ctx, l->key_header) : NULL;
}

static const struct key_kind {
  enum pacer_limit_key_kind kind;
  const char *name; /* as written in "key" */
  unsigned flags;   /* KEY_* */
  const char *(*value)(const struct pacer_limit_cfg *l,
                       const struct key_req *r); /* NULL: one bucket */
} kinds[] = {
    {PACER_LIMIT_KEY_GLOBAL, "global", 0, NULL},
    {PACER_LIMIT_KEY_HOST, "host", KEY_FOLD, value_host},
    {PACER_LIMIT_KEY_CREDENTIAL, "credential", 0, value_credential},
    {PACER_LIMIT_KEY_LIMIT_KEY, "limit_key", 0, value_limit_key},
    {PACER_LIMIT_KEY_HEADER, "header:", KEY_HEADER, value_header},
};

_Static_assert(sizeof(kinds) / sizeof(kinds[0]) == PACER_LIMIT_KEY_KINDS,
               "one kinds[] row per enum pacer_limit_key_kind constant");

/* The row of kind k (rows are in enum order). */
static const struct key_kind *
kind_row(enum pacer_limit_key_kind k)
{
  assert((size_t)k < sizeof(kinds) / sizeof(kinds[0]));
  assert(kinds[k].kind == k);
  return &kinds[k];
}

/* "global, host, credential, limit_key or header:<Name>" into buf. */
static const char *
kind_list(char *buf, size_t size)
{
  size_t i, n = sizeof(kinds) / sizeof(kinds[0]), used = 0;

  buf[0] = '\0';
  for (i = 0; i < n && used < size; i++) {
    int w = snprintf(buf + used, size - used, "%s%s%s",
                     i == 0       ? ""
                     : i + 1 == n ? " or "
                                  : ", ",
                     kinds[i].name,
                     (kinds[i].flags & KEY_HEADER) != 0 ? "<Name>" : "");

    if (w < 0)
      break;
    used += (size_t)w;
  }
  return buf;
}

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

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
  char buf[PACER_CONFIG_SHOW_MAX + 8];
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
                           index, pacer_config_show(s, buf, sizeof(buf)),
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
  char buf[PACER_CONFIG_SHOW_MAX + 8];
  uint64_t count = 0, period_us = 0;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].rate: must be a string such as "
                           "\"10/s\"",
                           index);
  pacer_config_show(item->valuestring, buf, sizeof(buf));
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
  char buf[PACER_CONFIG_SHOW_MAX + 8], list[160];
  const struct key_kind *row = NULL;
  const char *s, *h;
  size_t i, n;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].key: must be a string", index);
  s = item->valuestring;
  for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && row == NULL; i++) {
    n = strlen(kinds[i].name);
    if ((kinds[i].flags & KEY_HEADER) != 0 ? strncmp(s, kinds[i].name, n) == 0
                                           : strcmp(s, kinds[i].name) == 0)
      row = &kinds[i];
  }
  if (row == NULL)
    return pacer_error_set(
        err, PACER_ECONFIG, "limits[%zu].key: \"%s\" is not %s", index,
        pacer_config_show(s, buf, sizeof(buf)), kind_list(list, sizeof(list)));
  if ((row->flags & KEY_HEADER) != 0) {
    h = s + strlen(row->name);
    for (n = 0; h[n] != '\0' && pacer_config_is_tchar(h[n]); n++)
      ;
    if (n == 0 || n > PACER_LIMIT_HEADER_MAX || h[n] != '\0')
      return pacer_error_set(err, PACER_ECONFIG,
                             "limits[%zu].key: \"%s\" needs a header name of 1 "
                             "to %d token characters, as in "
                             "\"header:X-Account-Id\"",
                             index, pacer_config_show(s, buf, sizeof(buf)),
                             PACER_LIMIT_HEADER_MAX);
    memcpy(l->key_header, h, n + 1);
  }
  l->key = row->kind;
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
  int rc =
      pacer_config_get_int(item, field_path(name, sizeof(name), index, "burst"),
                           0, PACER_LIMIT_BURST_MAX, &v, err);

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
  int rc = pacer_config_get_int(
      item, field_path(name, sizeof(name), index, "max_in_flight"), 1,
      PACER_LIMIT_IN_FLIGHT_MAX, &v, err);

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
  int rc =
      pacer_config_get_int(item, field_path(name, sizeof(name), index, "cost"),
                           1, PACER_LIMIT_BURST_MAX + 1, &v, err);

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

static int
match_host(struct pacer_limit_cfg *l, const cJSON *item, size_t index,
           struct pacer_error *err)
{
  char buf[PACER_CONFIG_SHOW_MAX + 8];

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "limits[%zu].match.host: must be a string", index);
  if (pacer_config_host_pattern(item->valuestring, l->match_host) != 0)
    return pacer_error_set(
        err, PACER_ECONFIG,
        "limits[%zu].match.host: \"%s\" is not a host name "
        "or \"*.<domain>\"",
        index, pacer_config_show(item->valuestring, buf, sizeof(buf)));
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
  char buf[PACER_CONFIG_SHOW_MAX + 8];
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
      return pacer_error_set(
          err, PACER_ECONFIG,
          "limits[%zu].match.methods[%zu]: \"%s\" is not "
          "one of GET, POST, PUT, PATCH, DELETE, HEAD",
          index, i, pacer_config_show(m->valuestring, buf, sizeof(buf)));
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
  char buf[PACER_CONFIG_SHOW_MAX + 8], hint[64];
  const cJSON *item, *prev;
  size_t i;
  int rc;

  cJSON_ArrayForEach(item, obj)
  {
    for (prev = obj->child; prev != item; prev = prev->next) {
      if (strcmp(prev->string, item->string) == 0)
        return pacer_error_set(
            err, PACER_ECONFIG, "%s.%s: duplicate field", where,
            pacer_config_show(item->string, buf, sizeof(buf)));
    }
    for (i = 0; i < nfields; i++) {
      if (strcmp(item->string, fields[i].name) == 0)
        break;
    }
    if (i == nfields)
      return pacer_error_set(
          err, PACER_ECONFIG, "%s.%s: unknown field%s", where,
          item->string[0] == '\0'
              ? "\"\""
              : pacer_config_show(item->string, buf, sizeof(buf)),
          pacer_config_did_you_mean(item->string, fields, nfields,
                                    sizeof(fields[0]), hint, sizeof(hint)));
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

int
pacer_config_parse_limits(struct pacer_config *cfg, const cJSON *item,
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
 * Matching and bucket keys
 * ------------------------------------------------------------------------ */

int
pacer_limit_matches(const struct pacer_limit_cfg *l, const char *method,
                    const char *host, const char *path)
{
  if (l->match_methods != 0) {
    int k = method != NULL ? method_index(method) : -1;

    if (k < 0 || (l->match_methods & (1u << k)) == 0)
      return 0;
  }
  if (l->match_host[0] != '\0' &&
      !pacer_config_host_matches(l->match_host, host))
    return 0;
  if (l->match_path_prefix[0] != '\0') {
    const char *p = (path != NULL && path[0] != '\0') ? path : "/";

    if (strncmp(p, l->match_path_prefix, strlen(l->match_path_prefix)) != 0)
      return 0;
  }
  return 1;
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

/* A secret header's value in a lane name: BLAKE2b keyed with the
 * deployment's key (libsodium crypto_generichash, 8 bytes), so names in
 * stats, metrics and Redis cannot be used to test guessed values offline
 * without the key; the unkeyed hash64 when there is no key. */
static uint64_t
secret_hash(const char *v, size_t n, const unsigned char *hash_key)
{
  unsigned char h[8];
  uint64_t x = 0;
  int i;

  if (hash_key == NULL)
    return hash64(v, n);
  crypto_generichash(h, sizeof(h), (const unsigned char *)v, n, hash_key,
                     PACER_LIMIT_HASH_KEY_BYTES);
  for (i = 0; i < 8; i++)
    x = x << 8 | h[i];
  return x;
}

int
pacer_limit_key(const struct pacer_limit_cfg *l, const char *host,
                const char *credential, const char *limit_key,
                pacer_limit_header_cb header, void *header_ctx, char *out,
                size_t size)
{
  return pacer_limit_key_keyed(l, host, credential, limit_key, header,
                               header_ctx, NULL, out, size);
}

int
pacer_limit_key_keyed(const struct pacer_limit_cfg *l, const char *host,
                      const char *credential, const char *limit_key,
                      pacer_limit_header_cb header, void *header_ctx,
                      const unsigned char *hash_key, char *out, size_t size)
{
  const struct key_req req = {host, credential, limit_key, header, header_ctx};
  const struct key_kind *row = kind_row(l->key);
  char value[PACER_LIMIT_KEY_VALUE_MAX + 1];
  int fold = (row->flags & KEY_FOLD) != 0, secret, n;
  const char *v;
  size_t len;

  if (row->value == NULL) {
    n = snprintf(out, size, "%s", l->name);
  } else {
    v = row->value(l, &req);
    secret =
        (row->flags & KEY_HEADER) != 0 && pacer_header_is_secret(l->key_header);
    len = v != NULL ? strlen(v) : 0;
    if (fold && len > 0 && v[len - 1] == '.')
      len--;
    if (len > 0 && secret)
      snprintf(value, sizeof(value), "#%016" PRIx64,
               secret_hash(v, len, hash_key));
    else if (len > 0 && escape_value(v, len, fold, value) != 0)
      snprintf(value, sizeof(value), "#%016" PRIx64, hash64(v, len));
    else if (len == 0) /* visible, and no real value escapes to it */
      snprintf(value, sizeof(value), "%s", PACER_LIMIT_KEY_NONE);
    n = snprintf(out, size, "%s:%s", l->name, value);
  }
  if (n < 0 || (size_t)n >= size) {
    if (size > 0)
      out[0] = '\0';
    return PACER_ETOOLARGE;
  }
  return 0;
}

int
pacer_limit_key_kind_format(const struct pacer_limit_cfg *l, char *out,
                            size_t size)
{
  const struct key_kind *row = kind_row(l->key);
  int n = snprintf(out, size, "%s%s", row->name,
                   (row->flags & KEY_HEADER) != 0 ? l->key_header : "");

  if (n < 0 || (size_t)n >= size) {
    if (size > 0)
      out[0] = '\0';
    return PACER_ETOOLARGE;
  }
  return 0;
}
