/* Credentials after a config reload: see pacer_creds_reconfigured in
 * cred.h (docs/CREDENTIALS.md "Reload"). */
#include "scheduler/cred.h"
#include "scheduler/cred_int.h"

#include "common/err.h"

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
    pacer_cred_env_configure(c);
  }
  for (; cs != NULL && i < cs->cfg->ncreds; i++)
    if (pacer_cred_add(cs, &cs->cfg->creds[i]) != 0)
      return PACER_ENOMEM;
  return 0;
}
