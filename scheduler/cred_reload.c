/* Credentials after a config reload: see pacer_creds_reconfigured in
 * cred.h (docs/CREDENTIALS.md "Reload"). */
#include "scheduler/cred.h"
#include "scheduler/cred_int.h"

#include <stdlib.h>

#include "common/err.h"

#include "core/cred_env.h"

int
pacer_creds_reconfigured(struct pacer_creds *cs)
{
  size_t i;

  for (i = 0; cs != NULL && i < cs->n; i++) {
    struct pacer_cred *c = cs->creds[i];

    c->cfg = &cs->cfg->creds[i]; /* the array may have moved */
    c->fsm.refresh_skew_s = c->cfg->refresh_skew_s;
    if (c->cfg->environment != NULL && c->env == NULL)
      c->env = calloc(1, sizeof(*c->env)); /* NULL: no check, as at start */
  }
  for (; cs != NULL && i < cs->cfg->ncreds; i++)
    if (pacer_cred_add(cs, &cs->cfg->creds[i]) != 0)
      return PACER_ENOMEM;
  return 0;
}
