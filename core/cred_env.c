/* Environment mix-ups. See cred_env.h. */
#include "core/cred_env.h"

#include <string.h>

static int
find(char (*list)[PACER_CRED_ENV_HOST_MAX + 1], size_t n, const char *host)
{
  size_t i;

  for (i = 0; i < n; i++) {
    if (strcmp(list[i], host) == 0)
      return (int)i;
  }
  return -1;
}

static void
drop(char (*list)[PACER_CRED_ENV_HOST_MAX + 1], size_t *n, size_t i)
{
  memmove(list[i], list[i + 1], (*n - i - 1) * sizeof(list[0]));
  (*n)--;
}

static void
add(char (*list)[PACER_CRED_ENV_HOST_MAX + 1], size_t *n, const char *host)
{
  if (find(list, *n, host) >= 0)
    return;
  if (*n == PACER_CRED_ENV_HOSTS)
    drop(list, n, 0); /* the oldest goes */
  memcpy(list[*n], host, strlen(host) + 1);
  (*n)++;
}

void
pacer_cred_env_accepted(struct pacer_cred_env *env, const char *host)
{
  int i;

  if (host == NULL || strlen(host) > PACER_CRED_ENV_HOST_MAX)
    return;
  i = find(env->refused, env->nrefused, host);
  if (i >= 0)
    drop(env->refused, &env->nrefused, (size_t)i);
  add(env->accepted, &env->naccepted, host);
}

int
pacer_cred_env_mismatch(struct pacer_cred_env *env, const char *host,
                        int after_refresh)
{
  if (host == NULL || strlen(host) > PACER_CRED_ENV_HOST_MAX ||
      find(env->accepted, env->naccepted, host) >= 0)
    return 0;
  if (find(env->refused, env->nrefused, host) >= 0)
    return 1;
  if (!after_refresh)
    return 0;
  add(env->refused, &env->nrefused, host);
  return 1;
}
