/* Environment mix-ups at run time (docs/CREDENTIALS.md, Environments): the
 * credential's record of hosts (core/cred_env.c) fed by the outcomes of
 * its jobs, and the advice when a host refuses its tokens. */
#include "scheduler/cred.h"

#include <stdio.h>

#include "common/log.h"
#include "core/cred_env.h"

void
pacer_cred_accepted(struct pacer_cred *c, const char *host)
{
  struct pacer_cred_env *env = pacer_cred_env_state(c);

  if (env != NULL)
    pacer_cred_env_accepted(env, host);
}

int
pacer_cred_environment_mismatch(struct pacer_cred *c, const char *host,
                                int after_refresh, char *why, size_t size)
{
  struct pacer_cred_env *env = pacer_cred_env_state(c);
  const struct pacer_cred_cfg *cfg = pacer_cred_cfg(c);
  int known;

  if (env == NULL || cfg->environment == NULL || host == NULL)
    return 0;
  known = pacer_cred_env_mismatch(env, host, 0);
  if (!pacer_cred_env_mismatch(env, host, after_refresh))
    return 0;
  snprintf(why, size,
           "credential %s (environment %s) was never accepted by %s, not "
           "even with a fresh token: is it a token from another environment "
           "(sandbox vs production)? Check credentials.%s.environment, "
           "token_url and hosts, then sign in again (pacer cred authorize "
           "%s)",
           cfg->name, cfg->environment, host, cfg->name, cfg->name);
  if (!known)
    pacer_log(PACER_LOG_ERROR, "cred",
              "msg=\"credential refused by a host that never accepted it; "
              "its jobs for that host fail without a refresh\" "
              "credential=%s environment=%s host=%s "
              "reason=credential_environment_mismatch",
              cfg->name, cfg->environment, host);
  return 1;
}
