/* Configuration differences for a reload: see config_diff.h. */
#include "core/config_diff.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

void
pacer_diff_add(char *buf, size_t size, int *count, const char *fmt, ...)
{
  size_t used = strlen(buf);
  va_list ap;

  (*count)++;
  if (used + 3 >= size)
    return;
  if (used > 0) {
    memcpy(buf + used, "; ", 3);
    used += 2;
  }
  va_start(ap, fmt);
  vsnprintf(buf + used, size - used, fmt, ap);
  va_end(ap);
}

/* 1 when both strings are NULL or equal. */
static int
str_eq(const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

static int
json_eq(const cJSON *a, const cJSON *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return cJSON_Compare(a, b, 1) != 0;
}

static int
cond_eq(const struct pacer_tr_cond *a, const struct pacer_tr_cond *b)
{
  return str_eq(a->header, b->header) && str_eq(a->pointer, b->pointer) &&
         a->op == b->op && json_eq(a->values, b->values);
}

static int
delay_eq(const struct pacer_tr_delay *a, const struct pacer_tr_delay *b)
{
  return str_eq(a->header, b->header) && str_eq(a->pointer, b->pointer) &&
         a->unit == b->unit && a->fixed_ms == b->fixed_ms;
}

int
pacer_throttle_rule_equal(const struct pacer_throttle_rule *a,
                          const struct pacer_throttle_rule *b)
{
  size_t i;

  if (strcmp(a->name, b->name) != 0 || a->nstatuses != b->nstatuses ||
      strcmp(a->host, b->host) != 0 ||
      strcmp(a->path_prefix, b->path_prefix) != 0 || a->nconds != b->nconds ||
      strcmp(a->pause, b->pause) != 0 || a->ndelays != b->ndelays)
    return 0;
  for (i = 0; i < a->nstatuses; i++)
    if (a->statuses[i] != b->statuses[i])
      return 0;
  for (i = 0; i < a->nconds; i++)
    if (!cond_eq(&a->conds[i], &b->conds[i]))
      return 0;
  for (i = 0; i < a->ndelays; i++)
    if (!delay_eq(&a->delays[i], &b->delays[i]))
      return 0;
  return 1;
}

/* Index of the first rule called name in r[0..n), or n. */
static size_t
find_rule(const struct pacer_throttle_rule *r, size_t n, const char *name)
{
  size_t i;

  for (i = 0; i < n && strcmp(r[i].name, name) != 0; i++)
    ;
  return i;
}

int
pacer_throttle_rules_diff(const struct pacer_throttle_rule *a, size_t na,
                          const struct pacer_throttle_rule *b, size_t nb,
                          char *buf, size_t size, int *count)
{
  int n = 0, order = na != nb;
  size_t i, j;

  for (i = 0; i < nb; i++) {
    j = find_rule(a, na, b[i].name);
    if (j == na) {
      pacer_diff_add(buf, size, count, "throttle_rules.%s added", b[i].name);
      n++;
    } else if (!pacer_throttle_rule_equal(&a[j], &b[i])) {
      pacer_diff_add(buf, size, count, "throttle_rules.%s changed", b[i].name);
      n++;
    }
  }
  for (i = 0; i < na; i++) {
    if (find_rule(b, nb, a[i].name) == nb) {
      pacer_diff_add(buf, size, count, "throttle_rules.%s removed", a[i].name);
      n++;
    }
  }
  for (i = 0; !order && i < na; i++)
    order = strcmp(a[i].name, b[i].name) != 0;
  if (n == 0 && order) {
    pacer_diff_add(buf, size, count, "throttle_rules order changed");
    n++;
  }
  return n;
}

static int
secret_eq(const struct pacer_cred_secret *a, const struct pacer_cred_secret *b)
{
  return a->source == b->source && str_eq(a->ref, b->ref) &&
         str_eq(a->value, b->value);
}

static int
hosts_eq(const struct pacer_cred_cfg *a, const struct pacer_cred_cfg *b)
{
  size_t i;

  if (a->nhosts != b->nhosts)
    return 0;
  for (i = 0; i < a->nhosts; i++)
    if (!str_eq(a->hosts[i], b->hosts[i]))
      return 0;
  return 1;
}

int
pacer_cred_cfg_diff(const struct pacer_cred_cfg *a,
                    const struct pacer_cred_cfg *b, char *buf, size_t size,
                    int *count)
{
  struct {
    int same;
    const char *field;
  } f[] = {
      {str_eq(a->token_url, b->token_url), "token_url"},
      {str_eq(a->client_id, b->client_id), "client_id"},
      {secret_eq(&a->client_secret, &b->client_secret), "client_secret"},
      {secret_eq(&a->refresh_token, &b->refresh_token), "refresh_token"},
      {a->auth_method == b->auth_method, "auth_method"},
      {str_eq(a->scope, b->scope), "scope"},
      {hosts_eq(a, b), "hosts"},
      {a->refresh_skew_s == b->refresh_skew_s, "refresh_skew_s"},
      {strcmp(a->scheme, b->scheme) == 0, "scheme"},
      {a->lifetime_default_s == b->lifetime_default_s, "lifetime_default_s"},
      {a->token_timeout_ms == b->token_timeout_ms, "token_timeout_ms"},
      {a->lock_ttl_ms == b->lock_ttl_ms, "lock_ttl_ms"},
      {str_eq(a->authorize_url, b->authorize_url), "authorize_url"},
      {str_eq(a->scopes, b->scopes), "scopes"},
      {a->redirect_port == b->redirect_port, "redirect_port"},
      {str_eq(a->environment, b->environment), "environment"},
  };
  size_t i;
  int n = 0;

  for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
    if (!f[i].same) {
      pacer_diff_add(buf, size, count, "credentials.%s.%s changed", a->name,
                     f[i].field);
      n++;
    }
  }
  return n;
}
