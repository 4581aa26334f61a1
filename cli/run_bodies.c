/* `pacer run --out-dir` (cli/run_bodies.h). */
#include "cli/run_bodies.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
pacer_run_bodies_check(const char *dir, struct pacer_error *err)
{
  struct stat st;
  char reason[128];

  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK) != 0) {
    if (errno == 0 || (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)))
      snprintf(reason, sizeof(reason), "not a directory");
    else if (strerror_r(errno, reason, sizeof(reason)) != 0)
      snprintf(reason, sizeof(reason), "error %d", errno);
    return pacer_error_set(err, PACER_EIO, "--out-dir %s: %s", dir, reason);
  }
  return 0;
}

int
pacer_run_body_to_file(const char *dir, const struct pacer_results_field *f,
                       size_t nfields, struct pacer_results_field *out,
                       size_t *nout, char *path, size_t path_size,
                       struct pacer_error *err)
{
  const struct pacer_results_field *body = NULL;
  const char *id = "result";
  char name[160], reason[128];
  size_t i, n;
  FILE *fp;

  for (i = 0; i < nfields; i++) {
    if (strcmp(f[i].name, "body") == 0)
      body = &f[i];
    else if (strcmp(f[i].name, "id") == 0)
      id = f[i].value;
  }
  if (body == NULL || body->value_len <= PACER_RUN_BODY_FILE_MIN)
    return 0;
  for (n = 0; id[n] != '\0' && n + 1 < sizeof(name); n++) {
    char c = id[n];

    name[n] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || strchr("._@#:-", c) != NULL
                  ? c
                  : '_';
  }
  name[n] = '\0';
  if (name[0] == '.')
    name[0] = '_'; /* never "." or ".." */
  snprintf(path, path_size, "%s/%s.body", dir, name);
  fp = fopen(path, "w");
  if (fp == NULL ||
      fwrite(body->value, 1, body->value_len, fp) != body->value_len ||
      fclose(fp) != 0) {
    if (strerror_r(errno, reason, sizeof(reason)) != 0)
      snprintf(reason, sizeof(reason), "error %d", errno);
    return pacer_error_set(err, PACER_EIO, "--out-dir: %s: %s", path, reason);
  }
  for (i = 0; i < nfields; i++) {
    out[i] = f[i];
    if (&f[i] == body) {
      out[i].value = "";
      out[i].value_len = 0;
    }
  }
  out[nfields].name = "body_file";
  out[nfields].name_len = strlen("body_file");
  out[nfields].value = path;
  out[nfields].value_len = strlen(path);
  *nout = nfields + 1;
  return 1;
}
