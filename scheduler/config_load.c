/* Reading the configuration file and its secrets (scheduler/config_load.h).
 * The parsing and every check on the bytes are core/config.c's and
 * core/config_cred.c's; this file only opens, reads and looks up. */
#include "scheduler/config_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/file.h"
#include "core/config_locate.h"

/* For a message core/config_locate.h cannot place, such as a rule named
 * after its expansion ("throttle_rules (google-ads.developer).pause: ..."),
 * the place of its top-level field ("throttle_rules"). Returns 1 when
 * found. */
static int
locate_top(const char *buf, size_t len, const char *msg, unsigned *line,
           unsigned *col)
{
  char top[72];
  size_t k = strcspn(msg, " .[(:");

  if (k == 0 || k + sizeof(": x") > sizeof(top))
    return 0;
  memcpy(top, msg, k);
  memcpy(top + k, ": x", sizeof(": x"));
  return pacer_config_locate(buf, len, top, line, col);
}

int
pacer_config_load(struct pacer_config *cfg, const char *path,
                  struct pacer_error *err)
{
  unsigned mode = 0;
  char *buf, *dir;
  size_t len = 0;
  int rc;

  /* One byte past the limit, so an oversized file is noticed without
   * trusting st_size (pipes and /dev/stdin have none). */
  rc = pacer_file_read(path, "config", PACER_CONFIG_MAX_BYTES + 1, 0,
                       PACER_ECONFIG, &buf, &len, &mode, err);
  if (rc != 0)
    return rc;
  if (len > PACER_CONFIG_MAX_BYTES) {
    sodium_memzero(buf, len);
    free(buf);
    return pacer_error_set(err, PACER_ECONFIG,
                           "config: %s: larger than the %u-byte limit", path,
                           PACER_CONFIG_MAX_BYTES);
  }
  rc = pacer_config_parse_file(cfg, buf, len, mode, err);
  if (rc == PACER_ECONFIG && err != NULL) {
    /* FILE:LINE:COLUMN: what, like a compiler (core/config_locate.h) */
    char out[sizeof(err->msg)];
    unsigned line, col;
    int n;

    if ((pacer_config_locate(buf, len, err->msg, &line, &col) ||
         locate_top(buf, len, err->msg, &line, &col)) &&
        (n = snprintf(out, sizeof(out), "%s:%u:%u: ", path, line, col)) > 0 &&
        (size_t)n < sizeof(out)) {
      size_t m = strlen(err->msg), room = sizeof(out) - (size_t)n - 1;

      memcpy(out + n, err->msg, m < room ? m : room);
      out[(size_t)n + (m < room ? m : room)] = '\0';
      memcpy(err->msg, out, sizeof(out));
    }
  }
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
}

/* pacer_secret_fetch_cb over getenv and the file system (ctx unused). */
static int
fetch(void *ctx, enum pacer_secret_source source, const char *ref,
      const char *field, char **value, size_t *len, struct pacer_error *err)
{
  int rc;

  (void)ctx;
  *value = NULL;
  *len = 0;
  if (source == PACER_SECRET_ENV) {
    const char *v = getenv(ref);

    if (v == NULL)
      return 0;
    *value = strdup(v);
    if (*value == NULL)
      return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
    *len = strlen(v);
    return 0;
  }
  rc = pacer_file_read(ref, field, PACER_CRED_SECRET_READ_MAX,
                       PACER_FILE_REGULAR | PACER_FILE_PRIVATE, PACER_ECONFIG,
                       value, len, NULL, err);
  if (rc == PACER_ENOMEM)
    pacer_error_set(err, rc, "config: out of memory");
  return rc;
}

int
pacer_config_resolve_secrets(struct pacer_config *cfg, const char *base_dir,
                             struct pacer_error *err)
{
  return pacer_config_fill_secrets(cfg, base_dir, fetch, NULL, err);
}
