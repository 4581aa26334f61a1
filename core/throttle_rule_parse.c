/* Throttle rules, parsing: the "throttle_rules" list of the configuration
 * into struct pacer_throttle_rule, presets expanded (core/throttle_rule.h).
 * Every message names the field: throttle_rules[2].match.body["/x"].one_of.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_int.h"
#include "core/json_pointer.h"
#include "core/throttle_rule.h"

#define FIELD_MAX 400 /* a field path in a message, bytes */

/* snprintf for field paths: a path cut short is still a useful message. */
static void path(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
path(char *buf, size_t size, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  (void)vsnprintf(buf, size, fmt, ap);
  va_end(ap);
}

static const struct {
  const char *name;
  enum pacer_tr_unit unit;
} units[] = {
    {"seconds", PACER_TR_SECONDS},         {"ms", PACER_TR_MS},
    {"minutes", PACER_TR_MINUTES},         {"epoch_seconds", PACER_TR_EPOCH_S},
    {"epoch_ms", PACER_TR_EPOCH_MS},       {"http_date", PACER_TR_HTTP_DATE},
    {"retry_after", PACER_TR_RETRY_AFTER}, {"duration", PACER_TR_DURATION},
};

static void
rule_free(struct pacer_throttle_rule *t)
{
  size_t i;

  for (i = 0; i < t->nconds; i++) {
    free(t->conds[i].header);
    free(t->conds[i].pointer);
    cJSON_Delete(t->conds[i].values);
  }
  for (i = 0; i < t->ndelays; i++) {
    free(t->delays[i].header);
    free(t->delays[i].pointer);
  }
  memset(t, 0, sizeof(*t));
}

void
pacer_throttle_rules_free(struct pacer_throttle_rule *rules, size_t n)
{
  size_t i;

  if (rules == NULL)
    return;
  for (i = 0; i < n; i++)
    rule_free(&rules[i]);
  free(rules);
}

/* The response headers the workers keep (workers/xfer_cb.c kept_names,
 * workers/pacer_http.h): a rule can read no other. */
static const char *const kept[] = {"content-type",
                                   "date",
                                   "retry-after",
                                   "ratelimit",
                                   "ratelimit-policy",
                                   "x-ratelimit-limit",
                                   "x-ratelimit-remaining",
                                   "x-ratelimit-reset",
                                   "location",
                                   "etag",
                                   "www-authenticate",
                                   "x-business-use-case-usage",
                                   "x-ad-account-usage",
                                   "x-app-usage"};

/* A lower-cased copy of header name s, or NULL with err. */
static char *
header_name(const char *s, const char *field, struct pacer_error *err)
{
  char buf[PACER_CONFIG_SHOW_MAX + 8], *out;
  size_t i, n = strlen(s);

  for (i = 0; i < n; i++) {
    if (!pacer_config_is_tchar(s[i]))
      break;
  }
  if (n == 0 || n > 64 || i < n) {
    pacer_error_set(err, PACER_ECONFIG,
                    "%s: \"%s\" is not a header name (1 to 64 token "
                    "characters, RFC 9110 section 5.1)",
                    field, pacer_config_show(s, buf, sizeof(buf)));
    return NULL;
  }
  if ((out = malloc(n + 1)) == NULL) {
    pacer_error_set(err, PACER_ENOMEM, "%s: out of memory", field);
    return NULL;
  }
  for (i = 0; i <= n; i++)
    out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
  for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
    if (strcmp(out, kept[i]) == 0)
      return out;
  }
  pacer_error_set(err, PACER_ECONFIG,
                  "%s: pacer does not keep the response header \"%s\"; a "
                  "rule can read %s",
                  field, pacer_config_show(s, buf, sizeof(buf)),
                  "Retry-After, Date, Content-Type, RateLimit, "
                  "RateLimit-Policy, X-RateLimit-Limit, X-RateLimit-Remaining, "
                  "X-RateLimit-Reset, Location, ETag, WWW-Authenticate, "
                  "X-Business-Use-Case-Usage, X-Ad-Account-Usage, X-App-Usage");
  free(out);
  return NULL;
}

static char *
pointer_copy(const char *s, const char *field, struct pacer_error *err)
{
  char *out;

  if (pacer_json_pointer_check(s, field, err) != 0)
    return NULL;
  if ((out = strdup(s)) == NULL)
    pacer_error_set(err, PACER_ENOMEM, "%s: out of memory", field);
  return out;
}

/* {"present": true} | {"equals": V} | {"one_of": [V...]} |
 * {"contains": V} [+ "pointer" for a header]. */
static int
parse_cond(struct pacer_tr_cond *c, const cJSON *o, int header,
           const char *field, struct pacer_error *err)
{
  char f[FIELD_MAX];
  const cJSON *e;
  int nops = 0;

  if (!cJSON_IsObject(o))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: must be an object such as {\"equals\": 17}, "
                           "{\"one_of\": [17, 80004]}, {\"contains\": "
                           "\"limit\"} or {\"present\": true}",
                           field);
  cJSON_ArrayForEach(e, o)
  {
    path(f, sizeof(f), "%s.%s", field, e->string);
    if (strcmp(e->string, "pointer") == 0 && header) {
      if (!cJSON_IsString(e))
        return pacer_error_set(err, PACER_ECONFIG, "%s: must be a string", f);
      if ((c->pointer = pointer_copy(e->valuestring, f, err)) == NULL)
        return err->code;
      continue;
    }
    if (nops > 0)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s: needs exactly one of present, equals, "
                             "one_of, contains",
                             field);
    if (strcmp(e->string, "present") == 0) {
      if (!cJSON_IsTrue(e))
        return pacer_error_set(err, PACER_ECONFIG, "%s: must be true", f);
      c->op = PACER_TR_PRESENT;
    } else if (strcmp(e->string, "equals") == 0) {
      c->op = PACER_TR_EQUALS;
    } else if (strcmp(e->string, "one_of") == 0) {
      if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) == 0)
        return pacer_error_set(err, PACER_ECONFIG,
                               "%s: must be a non-empty array", f);
      c->op = PACER_TR_ONE_OF;
    } else if (strcmp(e->string, "contains") == 0) {
      c->op = PACER_TR_CONTAINS;
    } else {
      return pacer_error_set(err, PACER_ECONFIG, "%s: unknown field", f);
    }
    nops++;
    if (c->op != PACER_TR_PRESENT &&
        (c->values = cJSON_Duplicate(e, 1)) == NULL)
      return pacer_error_set(err, PACER_ENOMEM, "%s: out of memory", f);
  }
  if (nops != 1)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: needs exactly one of present, equals, "
                           "one_of, contains",
                           field);
  return 0;
}

static int
parse_statuses(struct pacer_throttle_rule *t, const cJSON *a, const char *field,
               struct pacer_error *err)
{
  const cJSON *e;
  int64_t v;
  char f[FIELD_MAX];

  if (cJSON_IsNumber(a)) { /* one status */
    if (pacer_config_get_int(a, field, 100, 599, &v, err) != 0)
      return err->code;
    t->statuses[t->nstatuses++] = (unsigned)v;
    return 0;
  }
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) == 0 ||
      cJSON_GetArraySize(a) > PACER_TR_STATUSES_MAX)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: must be a status or a list of 1 to %d", field,
                           PACER_TR_STATUSES_MAX);
  cJSON_ArrayForEach(e, a)
  {
    path(f, sizeof(f), "%s[%zu]", field, t->nstatuses);
    if (pacer_config_get_int(e, f, 100, 599, &v, err) != 0)
      return err->code;
    t->statuses[t->nstatuses++] = (unsigned)v;
  }
  return 0;
}

static int
parse_match(struct pacer_throttle_rule *t, const cJSON *o, const char *field,
            struct pacer_error *err)
{
  char f[FIELD_MAX], buf[PACER_CONFIG_SHOW_MAX + 8];
  const cJSON *e, *c;
  int rc;

  if (!cJSON_IsObject(o))
    return pacer_error_set(err, PACER_ECONFIG, "%s: must be an object", field);
  cJSON_ArrayForEach(e, o)
  {
    path(f, sizeof(f), "%s.%s", field, e->string);
    if (strcmp(e->string, "status") == 0) {
      if ((rc = parse_statuses(t, e, f, err)) != 0)
        return rc;
    } else if (strcmp(e->string, "host") == 0) {
      if (!cJSON_IsString(e) ||
          pacer_config_host_pattern(e->valuestring, t->host) != 0)
        return pacer_error_set(err, PACER_ECONFIG,
                               "%s: must be a host, \"*.domain\" or \"*\"", f);
    } else if (strcmp(e->string, "path_prefix") == 0) {
      if (!cJSON_IsString(e) || e->valuestring[0] != '/' ||
          strlen(e->valuestring) > PACER_LIMIT_PATH_PREFIX_MAX ||
          pacer_config_has_ctl(e->valuestring))
        return pacer_error_set(err, PACER_ECONFIG,
                               "%s: must be a path starting with \"/\"", f);
      snprintf(t->path_prefix, sizeof(t->path_prefix), "%s", e->valuestring);
    } else if (strcmp(e->string, "headers") == 0 ||
               strcmp(e->string, "body") == 0) {
      int header = e->string[0] == 'h';

      if (!cJSON_IsObject(e))
        return pacer_error_set(err, PACER_ECONFIG,
                               "%s: must be an object keyed by %s", f,
                               header ? "header name" : "JSON pointer");
      cJSON_ArrayForEach(c, e)
      {
        struct pacer_tr_cond *cd;
        char cf[FIELD_MAX];

        path(cf, sizeof(cf), "%s[\"%s\"]", f,
             pacer_config_show(c->string, buf, sizeof(buf)));
        if (t->nconds == PACER_TR_CONDS_MAX)
          return pacer_error_set(err, PACER_ECONFIG,
                                 "%s: more than %d conditions in one rule", cf,
                                 PACER_TR_CONDS_MAX);
        cd = &t->conds[t->nconds++];
        if (header) {
          if ((cd->header = header_name(c->string, cf, err)) == NULL)
            return err->code;
        } else if ((cd->pointer = pointer_copy(c->string, cf, err)) == NULL) {
          return err->code;
        }
        if ((rc = parse_cond(cd, c, header, cf, err)) != 0)
          return rc;
      }
    } else {
      return pacer_error_set(err, PACER_ECONFIG, "%s: unknown field", f);
    }
  }
  return 0;
}

static int
parse_unit(struct pacer_tr_delay *d, const cJSON *u, const char *field,
           struct pacer_error *err)
{
  char buf[PACER_CONFIG_SHOW_MAX + 8];
  size_t i;

  if (cJSON_IsString(u)) {
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
      if (strcmp(u->valuestring, units[i].name) == 0) {
        d->unit = units[i].unit;
        return 0;
      }
    }
  }
  return pacer_error_set(
      err, PACER_ECONFIG,
      "%s: \"%s\" is not one of seconds, ms, minutes, epoch_seconds, "
      "epoch_ms, http_date, retry_after, duration",
      field,
      cJSON_IsString(u) ? pacer_config_show(u->valuestring, buf, sizeof(buf))
                        : "(not a string)");
}

/* {"header": N [, "pointer": P], "unit": U} | {"body": P, "unit": U} |
 * {"fixed": "<duration>"} */
static int
parse_delay(struct pacer_tr_delay *d, const cJSON *o, const char *field,
            struct pacer_error *err)
{
  char f[FIELD_MAX], buf[PACER_CONFIG_SHOW_MAX + 8];
  const cJSON *e, *unit = NULL;
  int fixed = 0, src = 0;

  if (!cJSON_IsObject(o))
    return pacer_error_set(err, PACER_ECONFIG, "%s: must be an object", field);
  d->unit = PACER_TR_SECONDS;
  cJSON_ArrayForEach(e, o)
  {
    path(f, sizeof(f), "%s.%s", field, e->string);
    if (strcmp(e->string, "unit") == 0) {
      unit = e;
      continue;
    }
    if (!cJSON_IsString(e))
      return pacer_error_set(err, PACER_ECONFIG, "%s: must be a string", f);
    if (strcmp(e->string, "header") == 0) {
      if ((d->header = header_name(e->valuestring, f, err)) == NULL)
        return err->code;
      src++;
    } else if (strcmp(e->string, "body") == 0) {
      if ((d->pointer = pointer_copy(e->valuestring, f, err)) == NULL)
        return err->code;
      src++;
    } else if (strcmp(e->string, "pointer") == 0) {
      if (cJSON_GetObjectItemCaseSensitive(o, "header") == NULL)
        return pacer_error_set(err, PACER_ECONFIG,
                               "%s: goes with \"header\" (a JSON header "
                               "value); for the body write \"body\"",
                               f);
      if ((d->pointer = pointer_copy(e->valuestring, f, err)) == NULL)
        return err->code;
    } else if (strcmp(e->string, "fixed") == 0) {
      if (pacer_tr_duration_ms(e->valuestring, &d->fixed_ms) != 0)
        return pacer_error_set(
            err, PACER_ECONFIG,
            "%s: \"%s\" is not a duration such as "
            "\"1.5s\", \"250ms\", \"40591s\" or \"PT47M\"",
            f, pacer_config_show(e->valuestring, buf, sizeof(buf)));
      fixed = 1;
      src++;
    } else {
      return pacer_error_set(err, PACER_ECONFIG, "%s: unknown field", f);
    }
  }
  if (src != 1)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: needs exactly one of header, body, fixed",
                           field);
  if (unit != NULL) {
    path(f, sizeof(f), "%s.unit", field);
    if (fixed)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s: a fixed delay is a duration; no unit", f);
    return parse_unit(d, unit, f, err);
  }
  if (!fixed)
    d->unit = d->header != NULL && d->pointer == NULL ? PACER_TR_RETRY_AFTER
                                                      : PACER_TR_SECONDS;
  return 0;
}

/* One rule object; roles is the preset's "limits" map (or NULL) for a
 * "pause" written "@role". */
static int
parse_rule(struct pacer_throttle_rule *t, const cJSON *o, const char *field,
           const char *default_name, const cJSON *roles,
           struct pacer_error *err)
{
  char f[FIELD_MAX], buf[PACER_CONFIG_SHOW_MAX + 8];
  const cJSON *e, *d;
  int rc;

  if (!cJSON_IsObject(o))
    return pacer_error_set(err, PACER_ECONFIG, "%s: must be an object", field);
  snprintf(t->name, sizeof(t->name), "%s", default_name);
  cJSON_ArrayForEach(e, o)
  {
    path(f, sizeof(f), "%s.%s", field, e->string);
    if (strcmp(e->string, "name") == 0) {
      if (!cJSON_IsString(e) || e->valuestring[0] == '\0' ||
          strlen(e->valuestring) > PACER_TR_NAME_MAX ||
          !pacer_config_visible(e->valuestring, 0x21))
        return pacer_error_set(err, PACER_ECONFIG,
                               "%s: must be 1 to %d visible characters", f,
                               PACER_TR_NAME_MAX);
      snprintf(t->name, sizeof(t->name), "%s", e->valuestring);
    } else if (strcmp(e->string, "match") == 0) {
      if ((rc = parse_match(t, e, f, err)) != 0)
        return rc;
    } else if (strcmp(e->string, "host") == 0 && roles != NULL) {
      /* a preset's documented host; the config entry may override it */
      if (!cJSON_IsString(e) ||
          pacer_config_host_pattern(e->valuestring, t->host) != 0)
        return pacer_error_set(err, PACER_ECONFIG, "%s: bad host", f);
    } else if (strcmp(e->string, "pause") == 0) {
      const char *lim = cJSON_IsString(e) ? e->valuestring : NULL;

      if (lim != NULL && lim[0] == '@') { /* a preset's role */
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(roles, lim + 1);

        lim = cJSON_IsString(m) ? m->valuestring : "";
      }
      if (lim == NULL || strlen(lim) > PACER_LIMIT_NAME_MAX)
        return pacer_error_set(err, PACER_ECONFIG,
                               "%s: must be the name of a limit", f);
      snprintf(t->pause, sizeof(t->pause), "%s", lim);
    } else if (strcmp(e->string, "delay") == 0) {
      if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) > PACER_TR_DELAYS_MAX)
        return pacer_error_set(err, PACER_ECONFIG,
                               "%s: must be a list of at most %d delay "
                               "sources",
                               f, PACER_TR_DELAYS_MAX);
      cJSON_ArrayForEach(d, e)
      {
        char df[FIELD_MAX];

        path(df, sizeof(df), "%s[%zu]", f, t->ndelays);
        if ((rc = parse_delay(&t->delays[t->ndelays++], d, df, err)) != 0)
          return rc;
      }
    } else {
      return pacer_error_set(err, PACER_ECONFIG, "%s: unknown field", f);
    }
  }
  if (t->nstatuses == 0 && t->nconds == 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.match: needs a status or a header or body "
                           "condition (a rule matching every response would "
                           "throttle successes too)",
                           field);
  (void)buf;
  return 0;
}

/* {"preset": NAME, "limits": {role: limit name}}: its rules appended. */
static int
parse_preset(struct pacer_throttle_rule *arr, size_t *n, const cJSON *o,
             const char *field, struct pacer_error *err)
{
  char f[FIELD_MAX], name[PACER_TR_NAME_MAX + 1],
      buf[PACER_CONFIG_SHOW_MAX + 8];
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "preset"), *roles, *e,
              *r, *host;
  char hostpat[PACER_LIMIT_HOST_MAX + 1];
  const char *text;
  cJSON *rules;
  size_t k = 0;
  int rc = 0;

  cJSON_ArrayForEach(e, o)
  {
    if (strcmp(e->string, "preset") != 0 && strcmp(e->string, "limits") != 0 &&
        strcmp(e->string, "host") != 0)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.%s: unknown field (a preset entry has only "
                             "\"preset\", \"limits\" and \"host\")",
                             field, e->string);
  }
  host = cJSON_GetObjectItemCaseSensitive(o, "host");
  if (host != NULL &&
      (!cJSON_IsString(host) ||
       pacer_config_host_pattern(host->valuestring, hostpat) != 0))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.host: must be a host, \"*.domain\" or \"*\"",
                           field);
  path(f, sizeof(f), "%s.preset", field);
  if (!cJSON_IsString(p) ||
      (text = pacer_throttle_preset(p->valuestring)) == NULL)
    return pacer_error_set(
        err, PACER_ECONFIG, "%s: \"%s\" is not a preset (%s)", f,
        cJSON_IsString(p) ? pacer_config_show(p->valuestring, buf, sizeof(buf))
                          : "(not a string)",
        pacer_throttle_preset_names());
  roles = cJSON_GetObjectItemCaseSensitive(o, "limits");
  if (roles != NULL && !cJSON_IsObject(roles))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.limits: must be an object of role: limit name",
                           field);
  if (roles == NULL)
    roles = cJSON_GetObjectItemCaseSensitive(o, "preset"); /* no roles */
  rules = cJSON_Parse(text);
  if (rules == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "%s: out of memory", f);
  cJSON_ArrayForEach(r, rules)
  {
    if (*n == PACER_TR_MAX) {
      rc = pacer_error_set(err, PACER_ECONFIG,
                           "%s: more than %d rules with presets", f,
                           PACER_TR_MAX);
      break;
    }
    path(name, sizeof(name), "%s.%zu", p->valuestring, k);
    path(f, sizeof(f), "%s(preset %s)[%zu]", field, p->valuestring, k++);
    if ((rc = parse_rule(&arr[(*n)++], r, f, name, roles, err)) != 0)
      break;
    if (host != NULL)
      memcpy(arr[*n - 1].host, hostpat, sizeof(hostpat));
  }
  cJSON_Delete(rules);
  return rc;
}

int
pacer_throttle_rules_parse(const cJSON *item, struct pacer_throttle_rule **out,
                           size_t *nout, struct pacer_error *err)
{
  struct pacer_throttle_rule *arr;
  const cJSON *e;
  char f[FIELD_MAX], name[PACER_TR_NAME_MAX + 1];
  size_t n = 0, i = 0;
  int rc = 0;

  if (!cJSON_IsArray(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "throttle_rules: must be a list");
  arr = calloc(PACER_TR_MAX, sizeof(*arr));
  if (arr == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "throttle_rules: out of memory");
  cJSON_ArrayForEach(e, item)
  {
    path(f, sizeof(f), "throttle_rules[%zu]", i);
    path(name, sizeof(name), "throttle_rules[%zu]", i++);
    if (cJSON_IsObject(e) &&
        cJSON_GetObjectItemCaseSensitive(e, "preset") != NULL) {
      rc = parse_preset(arr, &n, e, f, err);
    } else if (n == PACER_TR_MAX) {
      rc = pacer_error_set(err, PACER_ECONFIG, "%s: more than %d rules", f,
                           PACER_TR_MAX);
    } else {
      rc = parse_rule(&arr[n++], e, f, name, NULL, err);
    }
    if (rc != 0)
      break;
  }
  if (rc != 0) {
    pacer_throttle_rules_free(arr, n);
    return rc;
  }
  *out = arr;
  *nout = n;
  return 0;
}

int
pacer_throttle_rules_check(const struct pacer_throttle_rule *rules, size_t n,
                           const struct pacer_limit_cfg *limits, size_t nlimits,
                           struct pacer_error *err)
{
  char buf[PACER_CONFIG_SHOW_MAX + 8];
  size_t i, j;

  for (i = 0; i < n; i++) {
    if (rules[i].pause[0] == '\0')
      continue;
    for (j = 0; j < nlimits; j++) {
      if (strcmp(limits[j].name, rules[i].pause) == 0)
        break;
    }
    if (j == nlimits)
      return pacer_error_set(
          err, PACER_ECONFIG,
          "throttle_rules (%s).pause: no limit is named \"%s\"", rules[i].name,
          pacer_config_show(rules[i].pause, buf, sizeof(buf)));
  }
  return 0;
}
