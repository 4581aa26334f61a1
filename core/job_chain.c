/* The job fields of chains (docs/CHAINS.md): "paginate" (core/paginate.h),
 * "poll" (core/poll.h), and the "parent", "page", "chain", "poll_phase"
 * and "poll_since" fields pacer writes into the jobs it queues. */
#include "core/job_int.h"
#include "core/json_int.h"
#include "core/paginate.h"
#include "core/poll.h"

#include <stdlib.h>
#include <string.h>

int
pacer_job_field_paginate(struct pacer_job_parse_ctx *cx, const cJSON *item,
                         struct pacer_error *err)
{
  return pacer_paginate_parse(item, &cx->job->paginate, err);
}

int
pacer_job_field_parent(struct pacer_job_parse_ctx *cx, const cJSON *item,
                       struct pacer_error *err)
{
  struct pacer_error e;

  if (!cJSON_IsString(item))
    return pacer_error_set(err, PACER_EJOB, "parent: must be a string");
  if (pacer_job_id_check(item->valuestring, &e) != 0 ||
      strlen(item->valuestring) > PACER_PAGINATE_ROOT_ID_MAX)
    return pacer_error_set(err, PACER_EJOB,
                           "parent: must be a job id of 1 to %d printable "
                           "ASCII bytes without spaces",
                           PACER_PAGINATE_ROOT_ID_MAX);
  cx->job->parent = strdup(item->valuestring);
  return cx->job->parent != NULL
             ? 0
             : pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
}

int
pacer_job_field_page(struct pacer_job_parse_ctx *cx, const cJSON *item,
                     struct pacer_error *err)
{
  int64_t v = 0;
  int rc = pacer_json_get_int(item, "page", 2, PACER_PAGINATE_MAX_PAGES_LIMIT,
                              PACER_EJOB, &v, err);

  cx->job->page = (uint32_t)v;
  return rc;
}

int
pacer_job_field_chain(struct pacer_job_parse_ctx *cx, const cJSON *item,
                      struct pacer_error *err)
{
  struct pacer_error e;

  if (!cJSON_IsString(item) || pacer_job_id_check(item->valuestring, &e) != 0)
    return pacer_error_set(err, PACER_EJOB,
                           "chain: must be 1 to %d printable ASCII bytes "
                           "without spaces",
                           PACER_JOB_ID_MAX);
  cx->job->chain = strdup(item->valuestring);
  return cx->job->chain != NULL
             ? 0
             : pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
}

int
pacer_job_field_poll(struct pacer_job_parse_ctx *cx, const cJSON *item,
                     struct pacer_error *err)
{
  return pacer_poll_parse(item, &cx->job->poll, err);
}

int
pacer_job_field_poll_phase(struct pacer_job_parse_ctx *cx, const cJSON *item,
                           struct pacer_error *err)
{
  if (cJSON_IsString(item) && strcmp(item->valuestring, "status") == 0)
    cx->job->poll_phase = PACER_POLL_STATUS;
  else if (cJSON_IsString(item) && strcmp(item->valuestring, "download") == 0)
    cx->job->poll_phase = PACER_POLL_DOWNLOAD;
  else
    return pacer_error_set(err, PACER_EJOB,
                           "poll_phase: must be \"status\" or \"download\"");
  return 0;
}

int
pacer_job_field_poll_since(struct pacer_job_parse_ctx *cx, const cJSON *item,
                           struct pacer_error *err)
{
  int64_t v = 0;
  int rc = pacer_json_get_int(item, "poll_since", 1, 9007199254740992LL,
                              PACER_EJOB, &v, err);

  cx->job->poll_since_unix_ms = (uint64_t)v;
  return rc;
}

int
pacer_job_chain_check(struct pacer_job_parse_ctx *cx, struct pacer_error *err)
{
  struct pacer_job *j = cx->job;
  int n = (j->parent != NULL) + (j->page != 0) + (j->chain != NULL);
  int np = (j->poll_phase != 0) + (j->poll_since_unix_ms != 0);

  if (j->paginate != NULL && j->poll != NULL)
    return pacer_error_set(err, PACER_EJOB,
                           "poll: not allowed together with \"paginate\"");
  if (np != 0 && (np != 2 || n != 3 || j->poll == NULL))
    return pacer_error_set(err, PACER_EJOB,
                           "%s: \"poll_phase\" and \"poll_since\" come with "
                           "\"poll\", \"parent\", \"page\" and \"chain\" "
                           "(pacer sets them on the report jobs it queues)",
                           j->poll_phase == 0 ? "poll_phase" : "poll_since");
  if (n == 3 && j->poll != NULL && np != 2)
    return pacer_error_set(err, PACER_EJOB,
                           "poll_phase: required on a report chain's jobs");

  if (n != 0 && n != 3)
    return pacer_error_set(err, PACER_EJOB,
                           "%s: \"parent\", \"page\" and \"chain\" come "
                           "together (pacer sets them on the page jobs it "
                           "queues)",
                           j->parent == NULL ? "parent"
                           : j->page == 0    ? "page"
                                             : "chain");
  if (n == 3 && j->paginate == NULL && j->poll == NULL)
    return pacer_error_set(err, PACER_EJOB,
                           "page: a page job needs \"paginate\" or \"poll\"");
  if ((j->paginate != NULL || j->poll != NULL) && n == 0 &&
      strlen(j->id) > PACER_PAGINATE_ROOT_ID_MAX)
    return pacer_error_set(err, PACER_EJOB,
                           "id: at most %d bytes with \"%s\" (the chain's "
                           "ids are \"<id>#<n>\")",
                           PACER_PAGINATE_ROOT_ID_MAX,
                           j->poll != NULL ? "poll" : "paginate");
  return 0;
}

void
pacer_job_chain_free(struct pacer_job *job)
{
  pacer_paginate_free(job->paginate);
  pacer_poll_free(job->poll);
  free(job->parent);
  free(job->chain);
}
