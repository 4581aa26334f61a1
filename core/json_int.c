#include "core/json_int.h"

#include <inttypes.h>

int
pacer_json_get_int(const cJSON *item, const char *name, int64_t lo, int64_t hi,
                   int code, int64_t *out, struct pacer_error *err)
{
  double d;
  int64_t v = 0;

  if (!cJSON_IsNumber(item))
    return pacer_error_set(err, code, "%s: must be an integer", name);
  d = item->valuedouble;
  /* Checked before the cast: converting an out-of-range double is UB. */
  if (!(d >= (double)lo - 1.0 && d <= (double)hi + 1.0))
    goto range;
  v = (int64_t)d;
  if ((double)v != d)
    return pacer_error_set(err, code, "%s: must be an integer", name);
  if (v < lo || v > hi)
    goto range;
  *out = v;
  return 0;
range:
  return pacer_error_set(
      err, code, "%s: must be between %" PRId64 " and %" PRId64, name, lo, hi);
}
