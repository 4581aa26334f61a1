/* Recurring schedules (core/schedule.h). */
#include "core/schedule.h"
#include "core/job.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

int
pacer_schedule_name_check(const char *name, struct pacer_error *err)
{
  size_t i, n = strlen(name);

  if (n == 0 || n > PACER_SCHEDULE_NAME_MAX)
    return pacer_error_set(err, PACER_EINVAL,
                           "schedule: a name is 1 to %d bytes",
                           PACER_SCHEDULE_NAME_MAX);
  for (i = 0; i < n; i++) {
    char c = name[i];

    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return pacer_error_set(err, PACER_EINVAL,
                             "schedule: a name is made of A-Z a-z 0-9 _ . "
                             "and -");
  }
  return 0;
}

void
pacer_schedule_def_free(struct pacer_schedule_def *d)
{
  size_t i;

  if (d == NULL)
    return;
  for (i = 0; i < d->njobs; i++) {
    free(d->jobs[i]);
    free(d->job_ids[i]);
  }
  free(d->jobs);
  free(d->job_ids);
  free(d);
}

int
pacer_schedule_job_id(const char *name, const char *tag,
                      const struct pacer_schedule_def *d, size_t ix, char *out,
                      size_t size)
{
  int n;

  if (d->njobs == 1)
    n = snprintf(out, size, "%s@%s", name, tag);
  else if (d->job_ids[ix] != NULL)
    n = snprintf(out, size, "%s@%s:%s", name, tag, d->job_ids[ix]);
  else
    n = snprintf(out, size, "%s@%s:%zu", name, tag, ix);
  return n > 0 && (size_t)n < size ? 0 : PACER_EINVAL;
}

char *
pacer_schedule_job_text(const struct pacer_schedule_def *d, size_t ix,
                        const char *id)
{
  cJSON *j = cJSON_Parse(d->jobs[ix]);
  char *s = NULL;

  if (j == NULL)
    return NULL;
  cJSON_DeleteItemFromObjectCaseSensitive(j, "id");
  if (cJSON_AddStringToObject(j, "id", id) != NULL)
    s = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  return s;
}

static int
parse_tree(cJSON *root, struct pacer_schedule_def **out,
           struct pacer_error *err)
{
  const cJSON *cron = cJSON_GetObjectItemCaseSensitive(root, "cron");
  const cJSON *missed = cJSON_GetObjectItemCaseSensitive(root, "missed");
  const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(root, "jobs");
  const cJSON *tz;
  const cJSON *j;
  struct pacer_schedule_def *d;
  int rc;

  *out = NULL;
  if (!cJSON_IsString(cron) || !cJSON_IsArray(jobs) ||
      cJSON_GetArraySize(jobs) < 1)
    return pacer_error_set(err, PACER_EINVAL,
                           "schedule: a definition needs \"cron\" and "
                           "\"jobs\"");
  d = calloc(1, sizeof(*d));
  if (d == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "schedule: out of memory");
  if ((rc = pacer_cron_parse(cron->valuestring, &d->cron, err)) != 0) {
    free(d);
    return rc;
  }
  snprintf(d->cron_text, sizeof(d->cron_text), "%s", cron->valuestring);
  tz = cJSON_GetObjectItemCaseSensitive(root, "tz");
  snprintf(d->tz, sizeof(d->tz), "%s",
           cJSON_IsString(tz) && pacer_tz_name_check(tz->valuestring, NULL) == 0
               ? tz->valuestring
               : "UTC");
  d->missed = cJSON_IsString(missed) && strcmp(missed->valuestring, "skip") == 0
                  ? PACER_SCHEDULE_SKIP
                  : PACER_SCHEDULE_RUN_ONCE;
  d->paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "paused"));
  d->jobs = calloc((size_t)cJSON_GetArraySize(jobs), sizeof(*d->jobs));
  d->job_ids = calloc((size_t)cJSON_GetArraySize(jobs), sizeof(*d->job_ids));
  if (d->jobs == NULL || d->job_ids == NULL)
    goto nomem;
  cJSON_ArrayForEach(j, jobs)
  {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");

    d->jobs[d->njobs] = cJSON_PrintUnformatted(j);
    if (d->jobs[d->njobs] == NULL)
      goto nomem;
    if (cJSON_IsString(id)) {
      d->job_ids[d->njobs] = strdup(id->valuestring);
      if (d->job_ids[d->njobs] == NULL) {
        d->njobs++;
        goto nomem;
      }
    }
    d->njobs++;
  }
  *out = d;
  return 0;
nomem:
  pacer_schedule_def_free(d);
  return pacer_error_set(err, PACER_ENOMEM, "schedule: out of memory");
}

int
pacer_schedule_def_parse(const char *json, size_t len,
                         struct pacer_schedule_def **out,
                         struct pacer_error *err)
{
  cJSON *root = cJSON_ParseWithLength(json, len);
  int rc;

  if (root == NULL)
    return pacer_error_set(err, PACER_EINVAL,
                           "schedule: the definition is not JSON");
  rc = parse_tree(root, out, err);
  cJSON_Delete(root);
  return rc;
}

int
pacer_schedule_def_build(const char *name, const char *cron, const char *tz,
                         const char *missed, const char *const *jobs,
                         size_t njobs, char **out, struct pacer_error *err)
{
  struct pacer_schedule_def *d = NULL;
  struct pacer_cron cr;
  cJSON *root = NULL, *arr;
  char id[PACER_JOB_ID_MAX + 8], tag[24];
  size_t i;
  int rc;

  *out = NULL;
  if ((rc = pacer_schedule_name_check(name, err)) != 0)
    return rc;
  if ((rc = pacer_cron_parse(cron, &cr, err)) != 0)
    return rc;
  if (tz != NULL && (rc = pacer_tz_name_check(tz, err)) != 0)
    return rc;
  if (missed != NULL && strcmp(missed, "run_once") != 0 &&
      strcmp(missed, "skip") != 0)
    return pacer_error_set(err, PACER_EINVAL,
                           "--missed: must be run_once or skip");
  if (njobs == 0 || njobs > PACER_SCHEDULE_JOBS_MAX)
    return pacer_error_set(err, PACER_EINVAL,
                           "schedule: 1 to %d jobs per schedule",
                           PACER_SCHEDULE_JOBS_MAX);
  root = cJSON_CreateObject();
  arr = cJSON_AddArrayToObject(root, "jobs");
  if (root == NULL || arr == NULL ||
      cJSON_AddStringToObject(root, "cron", cron) == NULL ||
      cJSON_AddStringToObject(root, "tz", tz != NULL ? tz : "UTC") == NULL ||
      cJSON_AddStringToObject(root, "missed",
                              missed != NULL ? missed : "run_once") == NULL ||
      cJSON_AddFalseToObject(root, "paused") == NULL)
    goto nomem;
  for (i = 0; i < njobs; i++) {
    cJSON *j = cJSON_Parse(jobs[i]);

    if (!cJSON_IsObject(j)) {
      cJSON_Delete(j);
      cJSON_Delete(root);
      return pacer_error_set(err, PACER_EJOB, "jobs[%zu]: not a JSON object",
                             i);
    }
    cJSON_AddItemToArray(arr, j);
  }
  /* every job must be one intake accepts, with the longest id it gets */
  if ((rc = parse_tree(root, &d, err)) != 0)
    goto fail;
  snprintf(tag, sizeof(tag), "%" PRIu64, (uint64_t)9999999999999ull);
  for (i = 0; i < d->njobs; i++) {
    struct pacer_job *job = NULL;
    struct pacer_error e;
    char *text;

    if (pacer_schedule_job_id(name, tag, d, i, id, sizeof(id)) != 0 ||
        strlen(id) > PACER_JOB_ID_MAX) {
      rc = pacer_error_set(err, PACER_EJOB,
                           "jobs[%zu]: id: \"<name>@<tick>:<id>\" would be "
                           "longer than %d bytes",
                           i, PACER_JOB_ID_MAX);
      goto fail;
    }
    text = pacer_schedule_job_text(d, i, id);
    if (text == NULL)
      goto nomem;
    rc = pacer_job_parse(text, strlen(text), NULL, NULL, &job, &e);
    free(text);
    pacer_job_free(job);
    if (rc != 0) {
      rc = pacer_error_set(err, rc == PACER_ENOMEM ? PACER_ENOMEM : PACER_EJOB,
                           "jobs[%zu]: %s", i, e.msg);
      goto fail;
    }
  }
  *out = cJSON_PrintUnformatted(root);
  pacer_schedule_def_free(d);
  cJSON_Delete(root);
  return *out != NULL ? 0
                      : pacer_error_set(err, PACER_ENOMEM,
                                        "schedule: out of "
                                        "memory");
nomem:
  rc = pacer_error_set(err, PACER_ENOMEM, "schedule: out of memory");
fail:
  pacer_schedule_def_free(d);
  cJSON_Delete(root);
  return rc;
}

char *
pacer_schedule_def_set_paused(const char *json, int paused)
{
  cJSON *root = cJSON_Parse(json);
  char *s = NULL;

  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return NULL;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(root, "paused");
  if (cJSON_AddBoolToObject(root, "paused", paused) != NULL)
    s = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return s;
}

int
pacer_schedule_due(const struct pacer_schedule_def *d,
                   const struct pacer_tz *tz, uint64_t now_unix_ms,
                   uint64_t *tick_unix_ms)
{
  if (d->paused ||
      pacer_cron_prev(&d->cron, tz, now_unix_ms, tick_unix_ms) != 0)
    return 0;
  if (d->missed == PACER_SCHEDULE_SKIP &&
      now_unix_ms - *tick_unix_ms > PACER_SCHEDULE_SKIP_GRACE_MS)
    return 0;
  return 1;
}
