/* Credentials after a config reload: see pacer_creds_reconfigured in
 * cred.h (docs/CREDENTIALS.md "Reload"). */
#include "scheduler/cred.h"
#include "scheduler/cred_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#include "core/cred_env.h"

/* The hosts that accepted or refused the credential's tokens are about
 * its environment, token URL and client id: when one of them changed, the
 * tokens to come are another provider's or client's, and a host that
 * refused the old ones says nothing of them (tests/integration/
 * test_reload.sh, E). No environment: no record, no check. */
static void
env_reconfigured(struct pacer_cred *c)
{
  char *id = pacer_cred_env_identity(c->cfg);

  if (id != NULL && c->env_of != NULL && strcmp(id, c->env_of) == 0) {
    free(id);
    return;
  }
  free(c->env);
  free(c->env_of);
  c->env = NULL;
  c->env_of = id;
  if (id != NULL)
    c->env = calloc(1, sizeof(*c->env)); /* NULL: no check, as at start */
}

int
pacer_creds_reconfigured(struct pacer_creds *cs)
{
  size_t i;

  for (i = 0; cs != NULL && i < cs->n; i++) {
    struct pacer_cred *c = cs->creds[i];

    c->cfg = &cs->cfg->creds[i]; /* the array may have moved */
    c->fsm.refresh_skew_s = c->cfg->refresh_skew_s;
    /* A lock held now is renewed with the new lock_ttl_ms at once, then
     * every third of it: kept at the old period, a shorter lease would
     * lapse under the token request in flight, and its answer be thrown
     * away (tests/integration/test_reload.sh, L). */
    if (uv_is_active((const uv_handle_t *)&c->keepalive) &&
        uv_timer_get_repeat(&c->keepalive) != c->cfg->lock_ttl_ms / 3u)
      uv_timer_start(&c->keepalive, pacer_cred_on_keepalive, 0,
                     c->cfg->lock_ttl_ms / 3u);
    env_reconfigured(c);
  }
  for (; cs != NULL && i < cs->cfg->ncreds; i++)
    if (pacer_cred_add(cs, &cs->cfg->creds[i]) != 0)
      return PACER_ENOMEM;
  return 0;
}
