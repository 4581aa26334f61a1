/* See limit_ref.h. */
#include "core/limit_ref.h"

int
pacer_limiter_capped(const struct pacer_limit_ref *refs, size_t nrefs)
{
  size_t i;

  for (i = 0; i < nrefs; i++)
    if (refs[i].cfg->max_in_flight != 0)
      return 1;
  return 0;
}
