/* The secrets of the "credentials" map given as *_env or *_file
 * (docs/CREDENTIALS.md, Configuration): the checks on the bytes the caller
 * fetched, and where they go. No message quotes a secret value; env names
 * and paths are not secret. */
#include "core/config.h"
#include "core/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include <sodium.h>

#define CRED_WHERE_MAX  (12 + PACER_CRED_NAME_MAX + 1) /* "credentials.<n>" */
#define ENV_NAME_MAX    128                            /* bytes */
#define SECRET_PATH_MAX 4095                           /* bytes */

static int
cred_oom(struct pacer_error *err)
{
  return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
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

int
pacer_config_cred_secret(struct pacer_cred_secret *sec, const char *what,
                         enum pacer_secret_source src, const cJSON *item,
                         const char *where,
                         const struct pacer_config_src *cfg_src,
                         struct pacer_error *err)
{
  const char *suffix = source_suffix(src);
  const char *s;
  size_t n, i;

  if (sec->source != PACER_SECRET_NONE)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s.%s%s: %s is already given by %s%s; use only "
                           "one of %s_env, %s_file and %s",
                           where, what, suffix, what, what,
                           source_suffix(sec->source), what, what, what);
  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_ECONFIG, "%s.%s%s: must be a string",
                           where, what, suffix);
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
                             where, what,
                             strcmp(what, "client_secret") == 0
                                 ? "CLIENT_SECRET"
                                 : "REFRESH_TOKEN");
    break;
  case PACER_SECRET_FILE:
    if (n == 0 || n > SECRET_PATH_MAX || pacer_config_has_ctl(s))
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.%s_file: must be a file path of 1 to %d "
                             "bytes without control characters",
                             where, what, SECRET_PATH_MAX);
    break;
  default:
    /* RFC 6749 A.2, A.17: *VSCHAR; the value itself is never quoted */
    if (n == 0 || n > PACER_OAUTH_TOKEN_MAX || !pacer_config_visible(s, 0x20))
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.%s: must be a string of 1 to %d visible "
                             "ASCII characters",
                             where, what, PACER_OAUTH_TOKEN_MAX);
    if (cfg_src->from_file && (cfg_src->mode & (S_IRGRP | S_IROTH)) != 0)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s.%s: inline secret in a config file readable "
                             "by group or others (mode %04o); use %s_env or "
                             "%s_file, or chmod 600 the file",
                             where, what, (unsigned)(cfg_src->mode & 07777),
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

/* ------------------------------------------------------------------------
 * Secrets given as *_env or *_file
 * ------------------------------------------------------------------------ */

/* Checks the value of environment variable sec->ref (buf[0..len), owned,
 * NULL when unset) and hands it to *out. */
static int
env_value(const struct pacer_cred_secret *sec, const char *field, char *buf,
          size_t len, char **out, struct pacer_error *err)
{
  if (buf == NULL)
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: environment variable %s is not set", field,
                           sec->ref);
  if (len == 0 || buf[0] == '\0') {
    free(buf);
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: environment variable %s is empty", field,
                           sec->ref);
  }
  if (strlen(buf) > PACER_OAUTH_TOKEN_MAX || !pacer_config_visible(buf, 0x20)) {
    sodium_memzero(buf, len);
    free(buf);
    return pacer_error_set(err, PACER_ECONFIG,
                           "%s: environment variable %s must hold 1 to %d "
                           "visible ASCII characters",
                           field, sec->ref, PACER_OAUTH_TOKEN_MAX);
  }
  *out = buf;
  return 0;
}

/* Checks the content of file path (buf[0..len), owned, read up to
 * PACER_CRED_SECRET_READ_MAX bytes) and hands it to *out: trailing white
 * space is dropped before the size check, and a file that filled the
 * read is too large. */
static int
file_value(const char *path, const char *field, char *buf, size_t len,
           char **out, struct pacer_error *err)
{
  size_t n = len;

  while (n > 0 && n < PACER_CRED_SECRET_READ_MAX &&
         (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
          buf[n - 1] == '\t'))
    n--;
  buf[n] = '\0';
  if (n == 0 || n > PACER_OAUTH_TOKEN_MAX || memchr(buf, '\0', n) ||
      !pacer_config_visible(buf, 0x20)) {
    sodium_memzero(buf, len);
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
}

static int
fill_one(struct pacer_cred_secret *sec, const char *where, const char *what,
         const char *base_dir, pacer_secret_fetch_cb fetch, void *ctx,
         struct pacer_error *err)
{
  char field[CRED_WHERE_MAX + 32];
  char *buf = NULL, *value = NULL, *path = sec->ref;
  size_t len = 0;
  int rc;

  if (sec->source == PACER_SECRET_ENV) {
    snprintf(field, sizeof(field), "%s.%s_env", where, what);
    rc = fetch(ctx, sec->source, sec->ref, field, &buf, &len, err);
    if (rc == 0)
      rc = env_value(sec, field, buf, len, &value, err);
  } else if (sec->source == PACER_SECRET_FILE) {
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
    rc = fetch(ctx, sec->source, path, field, &buf, &len, err);
    if (rc == 0 && buf == NULL)
      rc = pacer_error_set(err, PACER_ECONFIG, "%s: %s is empty", field, path);
    else if (rc == 0)
      rc = file_value(path, field, buf, len, &value, err);
    if (path != sec->ref)
      free(path);
  } else {
    return 0;
  }
  if (rc != 0)
    return rc;
  pacer_config_wipe_string(&sec->value);
  sec->value = value;
  return 0;
}

int
pacer_config_fill_secrets(struct pacer_config *cfg, const char *base_dir,
                          pacer_secret_fetch_cb fetch, void *ctx,
                          struct pacer_error *err)
{
  char where[CRED_WHERE_MAX + 1];
  size_t i;
  int rc;

  pacer_error_clear(err);
  for (i = 0; i < cfg->ncreds; i++) {
    struct pacer_cred_cfg *c = &cfg->creds[i];

    snprintf(where, sizeof(where), "credentials.%s", c->name);
    if ((rc = fill_one(&c->client_secret, where, "client_secret", base_dir,
                       fetch, ctx, err)) != 0 ||
        (rc = fill_one(&c->refresh_token, where, "refresh_token", base_dir,
                       fetch, ctx, err)) != 0)
      return rc;
  }
  return 0;
}
