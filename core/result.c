/* Names of the result tables in core/result.h. */
#include "core/result.h"

#include <stdio.h>
#include <string.h>

static const char *const result_names[] = {
#define PACER_X(c, name, reason) name,
    PACER_HTTP_RESULT_MAP(PACER_X)
#undef PACER_X
};

static const enum pacer_reason result_reasons[] = {
#define PACER_X(c, name, reason) reason,
    PACER_HTTP_RESULT_MAP(PACER_X)
#undef PACER_X
};

static const char *const state_names[] = {
#define PACER_X(c, name) name,
    PACER_JOB_STATE_MAP(PACER_X)
#undef PACER_X
};

static const char *const reason_names[] = {
#define PACER_X(c, name) name,
    PACER_REASON_MAP(PACER_X)
#undef PACER_X
};

_Static_assert(sizeof(result_names) / sizeof(result_names[0]) ==
                   PACER_HTTP_RESULTS,
               "one name per enum pacer_http_result value");
_Static_assert(PACER_HTTP_CANCELED + 1 == PACER_HTTP_RESULTS,
               "CANCELED is the last transfer result");
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == PACER_JOB_STATES,
               "one name per enum pacer_job_state value");
_Static_assert(sizeof(reason_names) / sizeof(reason_names[0]) == PACER_REASONS,
               "one name per enum pacer_reason value");

const char *
pacer_http_result_name(enum pacer_http_result r)
{
  if ((unsigned)r >= PACER_HTTP_RESULTS)
    return "unknown";
  return result_names[r];
}

enum pacer_reason
pacer_reason_of_result(enum pacer_http_result r)
{
  if ((unsigned)r >= PACER_HTTP_RESULTS)
    return PACER_REASON_TRANSPORT_ERROR;
  return result_reasons[r];
}

const char *
pacer_job_state_name(enum pacer_job_state st)
{
  if ((unsigned)st >= PACER_JOB_STATES)
    return "failed";
  return state_names[st];
}

const char *
pacer_reason_name(enum pacer_reason r)
{
  if ((unsigned)r >= PACER_REASONS)
    return "";
  return reason_names[r];
}

const char *
pacer_reason_format(enum pacer_reason r, long status, char *buf, size_t size)
{
  const char *name;
  size_t n;

  if (r == PACER_REASON_HTTP) {
    snprintf(buf, size, "http_%ld", status);
    return buf;
  }
  if (size == 0)
    return buf;
  name = pacer_reason_name(r); /* a plain copy: once per finished job */
  n = strlen(name) < size - 1 ? strlen(name) : size - 1;
  memcpy(buf, name, n);
  buf[n] = '\0';
  return buf;
}
