/* The "credentials" map of the configuration: OAuth2 clients whose access
 * tokens pacer renews (docs/CREDENTIALS.md), and the checks on the
 * secrets they name once the caller has fetched them.
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
 */
#include "core/config.h"
#include "core/config_int.h"
#include "core/config_locate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cJSON.h>
#include <sodium.h>

#define CRED_WHERE_MAX (12 + PACER_CRED_NAME_MAX + 1) /* "credentials.<n>" */

/* Parse state of one credential beyond the struct itself. */
struct cred_state {
  const struct pacer_config_src *src;
  const char *where; /* "credentials.<name>" */
  int auth_given;    /* auth_method was present */
};

void
pacer_config_wipe_string(char **s)
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
  pacer_config_wipe_string(&c->client_secret.value);
  free(c->refresh_token.ref);
  pacer_config_wipe_string(&c->refresh_token.value);
  free(c->scope);
  free(c->authorize_url);
  free(c->scopes);
  free(c->environment);
  for (i = 0; i < c->nhosts; i++)
    free(c->hosts[i]);
  free(c->hosts);
  memset(c, 0, sizeof(*c));
}

void
pacer_config_free_creds(struct pacer_cred_cfg *arr, size_t n)
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

/* An endpoint URL (token_url, authorize_url): http(s), no user:pass@, no
 * #fragment, a port 1..65535 when one is given. */
static int
cred_url(char **slot, const char *field, const cJSON *item,
         struct cred_state *st, struct pacer_error *err)
{
  const char *s, *auth, *aend;
  size_t n;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.%s: must be an http or https URL", st->where,
                           field);
  s = item->valuestring;
  n = strlen(s);
  if (strncasecmp(s, "https://", 8) == 0)
    auth = s + 8;
  else if (strncasecmp(s, "http://", 7) == 0)
    auth = s + 7;
  else
    auth = NULL;
  if (auth == NULL || n > PACER_CRED_URL_MAX ||
      !pacer_config_visible(s, 0x21) || auth[0] == '\0' ||
      strchr("/?#:", auth[0]) != NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.%s: must be an http or https URL", st->where,
                           field);
  aend = auth + strcspn(auth, "/?#");
  /* user:password@ would put a secret where logs show URLs; the URL is
   * therefore never quoted either */
  if (memchr(auth, '@', (size_t)(aend - auth)) != NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.%s: must not contain user:password@; "
                           "use client_secret_env or client_secret_file",
                           st->where, field);
  /* RFC 6749 §3.2: the endpoint URI MUST NOT include a fragment */
  if (strchr(s, '#') != NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.%s: must not contain a #fragment", st->where,
                           field);
  /* RFC 3986 §3.2.3 allows "host:" (the scheme's default port), so libcurl
   * goes to port 80 or 443; in a token_url it is always a port left out
   * by mistake (test_config.c:
   * credentials_reject_a_token_url_with_an_empty_or_bad_port). */
  if (!token_url_port_ok(auth, aend))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.%s: the port after ':' must be a "
                           "number 1..65535 (leave out ':' for the "
                           "scheme's default port)",
                           st->where, field);
  return cred_string(slot, s, err);
}

static int
cred_token_url(struct pacer_cred_cfg *c, const cJSON *item,
               struct cred_state *st, struct pacer_error *err)
{
  return cred_url(&c->token_url, "token_url", item, st, err);
}

/* RFC 6749 §3.1: the authorization endpoint may carry a query, never a
 * fragment; `pacer cred authorize` sends the user there. */
static int
cred_authorize_url(struct pacer_cred_cfg *c, const cJSON *item,
                   struct cred_state *st, struct pacer_error *err)
{
  return cred_url(&c->authorize_url, "authorize_url", item, st, err);
}

/* RFC 6749 §3.3: each scope-token is 1*NQCHAR (%x21 / %x23-5B / %x5D-7E);
 * stored joined by single spaces. */
static int
cred_scopes(struct pacer_cred_cfg *c, const cJSON *item, struct cred_state *st,
            struct pacer_error *err)
{
  const cJSON *el;
  size_t n = 0, len = 0, i;
  char *joined;

  if (!cJSON_IsArray(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.scopes: must be an array of scope tokens",
                           st->where);
  cJSON_ArrayForEach(el, item)
  {
    const char *v = cJSON_IsString(el) ? el->valuestring : NULL;

    for (i = 0; v != NULL && v[i] != '\0'; i++) {
      unsigned char ch = (unsigned char)v[i];

      if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\')
        break;
    }
    if (v == NULL || i == 0 || v[i] != '\0')
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.scopes[%zu]: must be a scope token (visible "
                             "ASCII without space, \" or \\)",
                             st->where, n);
    len += i + 1;
    n++;
  }
  if (n == 0 || len > PACER_CRED_SCOPE_MAX)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.scopes: must list 1 or more scope tokens, at "
                           "most %d bytes in all",
                           st->where, PACER_CRED_SCOPE_MAX);
  joined = malloc(len);
  if (joined == NULL)
    return cred_oom(err);
  len = 0;
  cJSON_ArrayForEach(el, item)
  {
    size_t k = strlen(el->valuestring);

    if (len > 0)
      joined[len++] = ' ';
    memcpy(joined + len, el->valuestring, k);
    len += k;
  }
  joined[len] = '\0';
  free(c->scopes);
  c->scopes = joined;
  return 0;
}

/* The provider environment the credential's tokens come from ("sandbox",
 * "production"): shown in the mismatch advice (docs/CREDENTIALS.md). */
static int
cred_environment(struct pacer_cred_cfg *c, const cJSON *item,
                 struct cred_state *st, struct pacer_error *err)
{
  size_t n = cJSON_IsString(item) ? strlen(item->valuestring) : 0;

  if (n == 0 || n > 32 ||
      strspn(item->valuestring, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.environment: must be a name of 1 to 32 "
                           "characters from A-Z a-z 0-9 _ . -, such as "
                           "production",
                           st->where);
  return cred_string(&c->environment, item->valuestring, err);
}

/* RFC 8252 §7.3: the loopback redirect's port; 0 picks a free one. */
static int
cred_redirect_port(struct pacer_cred_cfg *c, const cJSON *item,
                   struct cred_state *st, struct pacer_error *err)
{
  char name[CRED_WHERE_MAX + 32];
  int64_t v = 0;
  int rc;

  snprintf(name, sizeof(name), "%s.redirect_port", st->where);
  rc = pacer_config_get_int(item, name, 0, 65535, &v, err);
  if (rc == 0)
    c->redirect_port = (uint16_t)v;
  return rc;
}

static int
cred_client_id(struct pacer_cred_cfg *c, const cJSON *item,
               struct cred_state *st, struct pacer_error *err)
{
  size_t n;

  /* RFC 6749 A.1: client-id = *VSCHAR */
  if (!cJSON_IsString(item) || (n = strlen(item->valuestring)) == 0 ||
      n > PACER_CRED_CLIENT_ID_MAX ||
      !pacer_config_visible(item->valuestring, 0x20))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.client_id: must be a string of 1 to %d "
                           "visible ASCII characters",
                           st->where, PACER_CRED_CLIENT_ID_MAX);
  return cred_string(&c->client_id, item->valuestring, err);
}

static int
cred_client_secret_env(struct pacer_cred_cfg *c, const cJSON *item,
                       struct cred_state *st, struct pacer_error *err)
{
  return pacer_config_cred_secret(&c->client_secret, "client_secret",
                                  PACER_SECRET_ENV, item, st->where, st->src,
                                  err);
}

static int
cred_client_secret_file(struct pacer_cred_cfg *c, const cJSON *item,
                        struct cred_state *st, struct pacer_error *err)
{
  return pacer_config_cred_secret(&c->client_secret, "client_secret",
                                  PACER_SECRET_FILE, item, st->where, st->src,
                                  err);
}

static int
cred_client_secret(struct pacer_cred_cfg *c, const cJSON *item,
                   struct cred_state *st, struct pacer_error *err)
{
  return pacer_config_cred_secret(&c->client_secret, "client_secret",
                                  PACER_SECRET_INLINE, item, st->where, st->src,
                                  err);
}

static int
cred_refresh_token_env(struct pacer_cred_cfg *c, const cJSON *item,
                       struct cred_state *st, struct pacer_error *err)
{
  return pacer_config_cred_secret(&c->refresh_token, "refresh_token",
                                  PACER_SECRET_ENV, item, st->where, st->src,
                                  err);
}

static int
cred_refresh_token_file(struct pacer_cred_cfg *c, const cJSON *item,
                        struct cred_state *st, struct pacer_error *err)
{
  return pacer_config_cred_secret(&c->refresh_token, "refresh_token",
                                  PACER_SECRET_FILE, item, st->where, st->src,
                                  err);
}

static int
cred_refresh_token(struct pacer_cred_cfg *c, const cJSON *item,
                   struct cred_state *st, struct pacer_error *err)
{
  return pacer_config_cred_secret(&c->refresh_token, "refresh_token",
                                  PACER_SECRET_INLINE, item, st->where, st->src,
                                  err);
}

static int
cred_auth_method(struct pacer_cred_cfg *c, const cJSON *item,
                 struct cred_state *st, struct pacer_error *err)
{
  char buf[PACER_CONFIG_SHOW_MAX + 8];

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.auth_method: must be a string", st->where);
  if (strcmp(item->valuestring, "client_secret_basic") == 0)
    c->auth_method = PACER_OAUTH_AUTH_BASIC;
  else if (strcmp(item->valuestring, "client_secret_post") == 0)
    c->auth_method = PACER_OAUTH_AUTH_POST;
  else
    return pacer_error_set(
        err, PACER_ECONFIG,
        "%s.auth_method: \"%s\" is not client_secret_basic "
        "or client_secret_post",
        st->where, pacer_config_show(item->valuestring, buf, sizeof(buf)));
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
  char buf[PACER_CONFIG_SHOW_MAX + 8], pattern[PACER_LIMIT_HOST_MAX + 1];
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
    if (pacer_config_host_pattern(h->valuestring, pattern) != 0)
      return pacer_error_set(
          err, PACER_ECONFIG,
          "%s.hosts[%zu]: \"%s\" is not a host name or "
          "\"*.<domain>\"",
          st->where, c->nhosts,
          pacer_config_show(h->valuestring, buf, sizeof(buf)));
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
  rc = pacer_config_get_int(item, name, 0, PACER_CRED_SKEW_MAX_S, &v, err);
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
  rc = pacer_config_get_int(item, name, 1, PACER_OAUTH_EXPIRES_IN_MAX_S, &v,
                            err);
  if (rc == 0)
    c->lifetime_default_s = (uint32_t)v;
  return rc;
}

static int
cred_token_timeout(struct pacer_cred_cfg *c, const cJSON *item,
                   struct cred_state *st, struct pacer_error *err)
{
  char name[CRED_WHERE_MAX + 32];
  int64_t v = 0;
  int rc;

  snprintf(name, sizeof(name), "%s.token_timeout_ms", st->where);
  rc = pacer_config_get_int(item, name, PACER_CRED_TIMEOUT_MIN_MS,
                            PACER_CRED_TIMEOUT_MAX_MS, &v, err);
  if (rc == 0)
    c->token_timeout_ms = (uint32_t)v;
  return rc;
}

static int
cred_lock_ttl(struct pacer_cred_cfg *c, const cJSON *item,
              struct cred_state *st, struct pacer_error *err)
{
  char name[CRED_WHERE_MAX + 32];
  int64_t v = 0;
  int rc;

  snprintf(name, sizeof(name), "%s.lock_ttl_ms", st->where);
  rc = pacer_config_get_int(
      item, name, PACER_CRED_TIMEOUT_MIN_MS + PACER_CRED_LOCK_MIN_MARGIN_MS,
      PACER_CRED_LOCK_TTL_MAX_MS, &v, err);
  if (rc == 0)
    c->lock_ttl_ms = (uint32_t)v;
  return rc;
}

/* The lock must outlive a token request: a holder that stalls while its
 * request is out keeps the lock until the request has timed out, so no
 * other process sends the same refresh token before the first request's
 * outcome is known (docs/CREDENTIALS.md, One refresh token, one POST). */
static int
cred_timeouts(struct pacer_cred_cfg *c, const char *where,
              struct pacer_error *err)
{
  if (c->token_timeout_ms == 0)
    c->token_timeout_ms = PACER_CRED_TIMEOUT_DEF_MS;
  if (c->lock_ttl_ms == 0) {
    c->lock_ttl_ms = c->token_timeout_ms + PACER_CRED_LOCK_MARGIN_MS;
    return 0;
  }
  if (c->lock_ttl_ms < c->token_timeout_ms + PACER_CRED_LOCK_MIN_MARGIN_MS)
    return pacer_error_set(
        err, PACER_ECONFIG,
        "%s.lock_ttl_ms: %u is too short for "
        "token_timeout_ms %u: the lock must outlive a "
        "token request by at least %d ms (set lock_ttl_ms "
        ">= %u or lower token_timeout_ms)",
        where, (unsigned)c->lock_ttl_ms, (unsigned)c->token_timeout_ms,
        PACER_CRED_LOCK_MIN_MARGIN_MS,
        (unsigned)(c->token_timeout_ms + PACER_CRED_LOCK_MIN_MARGIN_MS));
  return 0;
}

static int
cred_scheme(struct pacer_cred_cfg *c, const cJSON *item, struct cred_state *st,
            struct pacer_error *err)
{
  size_t i, n;

  if (cJSON_IsString(item)) {
    n = strlen(item->valuestring);
    for (i = 0; i < n && pacer_config_is_tchar(item->valuestring[i]); i++)
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
    {"token_timeout_ms", cred_token_timeout},
    {"lock_ttl_ms", cred_lock_ttl},
    {"authorize_url", cred_authorize_url},
    {"scopes", cred_scopes},
    {"redirect_port", cred_redirect_port},
    {"environment", cred_environment},
};

/* Parses credentials.<key> into *c (zeroed by the caller). */
static int
parse_cred(struct pacer_cred_cfg *c, const cJSON *obj,
           const struct pacer_config_src *src, struct pacer_error *err)
{
  char where[CRED_WHERE_MAX + 1], buf[PACER_CONFIG_SHOW_MAX + 8], hint[64];
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
                           pacer_config_show(key, buf, sizeof(buf)),
                           PACER_CRED_NAME_MAX);
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
        return pacer_error_set(
            err, PACER_ECONFIG, "%s.%s: duplicate field", where,
            pacer_config_show(item->string, buf, sizeof(buf)));
    }
    for (i = 0; i < sizeof(cred_fields) / sizeof(cred_fields[0]); i++) {
      if (strcmp(item->string, cred_fields[i].name) == 0)
        break;
    }
    if (i == sizeof(cred_fields) / sizeof(cred_fields[0]))
      return pacer_error_set(
          err, PACER_ECONFIG, "%s.%s: unknown field%s", where,
          item->string[0] == '\0'
              ? "\"\""
              : pacer_config_show(item->string, buf, sizeof(buf)),
          pacer_config_did_you_mean(
              item->string, cred_fields,
              sizeof(cred_fields) / sizeof(cred_fields[0]),
              sizeof(cred_fields[0]), hint, sizeof(hint)));
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
  return cred_timeouts(c, where, err);
}

int
pacer_config_parse_creds(struct pacer_config *cfg, const cJSON *item,
                         const struct pacer_config_src *src,
                         struct pacer_error *err)
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
        char buf[PACER_CONFIG_SHOW_MAX + 8];

        pacer_config_free_creds(arr, n);
        return pacer_error_set(err, PACER_ECONFIG,
                               "credentials.%s: duplicate name",
                               pacer_config_show(el->string, buf, sizeof(buf)));
      }
    }
    if ((rc = parse_cred(&arr[i], el, src, err)) != 0) {
      pacer_config_free_creds(arr, n);
      return rc;
    }
    i++;
  }
  pacer_config_free_creds(cfg->creds, cfg->ncreds);
  cfg->creds = arr;
  cfg->ncreds = n;
  return 0;
}

/* ------------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------------ */

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

int
pacer_cred_host_allowed(const struct pacer_cred_cfg *c, const char *host)
{
  size_t i;

  for (i = 0; i < c->nhosts; i++) {
    if (pacer_config_host_matches(c->hosts[i], host))
      return 1;
  }
  return 0;
}
