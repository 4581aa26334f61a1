/* Environment mix-ups at run time (docs/CREDENTIALS.md, Environments): the
 * credential's record of hosts (core/cred_env.c) fed by the outcomes of
 * its jobs, and the advice when a host refuses its tokens. */
#include "scheduler/cred.h"
#include "scheduler/cred_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/cred_env.h"

/* What the record is about: environment, token URL and client id joined
 * with US (0x1F), owned by the caller; NULL without an environment or on
 * ENOMEM. */
static char *
env_identity(const struct pacer_cred_cfg *cfg)
{
  const char *url = cfg->token_url ? cfg->token_url : "";
  const char *id = cfg->client_id ? cfg->client_id : "";
  size_t n;
  char *s;

  if (cfg->environment == NULL)
    return NULL;
  n = strlen(cfg->environment) + strlen(url) + strlen(id) + 3;
  s = malloc(n);
  if (s != NULL)
    snprintf(s, n, "%s\x1f%s\x1f%s", cfg->environment, url, id);
  return s;
}

void
pacer_cred_env_configure(struct pacer_cred *c)
{
  char *id = env_identity(c->cfg);

  if (id != NULL && c->env_of != NULL && strcmp(id, c->env_of) == 0) {
    free(id);
    return;
  }
  free(c->env);
  free(c->env_of);
  c->env = NULL;
  c->env_of = id;
  if (id != NULL)
    c->env = calloc(1, sizeof(*c->env)); /* NULL: no check */
}

void
pacer_cred_accepted(struct pacer_cred *c, const char *host)
{
  struct pacer_cred_env *env = pacer_cred_env_state(c);

  if (env != NULL)
    pacer_cred_env_accepted(env, host);
}

int
pacer_cred_environment_mismatch(struct pacer_cred *c, const char *host,
                                uint64_t gen, int after_refresh, char *why,
                                size_t size)
{
  struct pacer_cred_env *env = pacer_cred_env_state(c);
  const struct pacer_cred_cfg *cfg = pacer_cred_cfg(c);
  int known;

  if (env == NULL || cfg->environment == NULL || host == NULL)
    return 0;
  known = pacer_cred_env_refused(env, host);
  if (!pacer_cred_env_mismatch(env, host, gen, after_refresh))
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
