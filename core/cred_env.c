/* Environment mix-ups. See cred_env.h. */
#include "core/cred_env.h"

#include <string.h>

/* Index of host among the n rows of a list (rows: the whole array, read
 * as bytes), or -1. */
static int
find(const char *rows, size_t n, const char *host)
{
  size_t i;

  for (i = 0; i < n; i++) {
    if (strcmp(rows + i * (PACER_CRED_ENV_HOST_MAX + 1), host) == 0)
      return (int)i;
  }
  return -1;
}

/* Drops entry i of list (and of gens, when not NULL: its parallel array). */
static void
drop(char (*list)[PACER_CRED_ENV_HOST_MAX + 1], uint64_t *gens, size_t *n,
     size_t i)
{
  memmove(list[i], list[i + 1], (*n - i - 1) * sizeof(list[0]));
  if (gens != NULL)
    memmove(&gens[i], &gens[i + 1], (*n - i - 1) * sizeof(gens[0]));
  (*n)--;
}

/* Adds host to list unless there; returns its index. */
static size_t
add(char (*list)[PACER_CRED_ENV_HOST_MAX + 1], uint64_t *gens, size_t *n,
    const char *host)
{
  int i = find((const char *)list, *n, host);

  if (i >= 0)
    return (size_t)i;
  if (*n == PACER_CRED_ENV_HOSTS)
    drop(list, gens, n, 0); /* the oldest goes */
  memcpy(list[*n], host, strlen(host) + 1);
  return (*n)++;
}

/* Removes host from list (and gens) when there. */
static void
forget(char (*list)[PACER_CRED_ENV_HOST_MAX + 1], uint64_t *gens, size_t *n,
       const char *host)
{
  int i = find((const char *)list, *n, host);

  if (i >= 0)
    drop(list, gens, n, (size_t)i);
}

static int
usable(const char *host)
{
  return host != NULL && strlen(host) <= PACER_CRED_ENV_HOST_MAX;
}

void
pacer_cred_env_accepted(struct pacer_cred_env *env, const char *host)
{
  if (!usable(host))
    return;
  forget(env->refused, NULL, &env->nrefused, host);
  forget(env->suspect, env->suspect_gen, &env->nsuspect, host);
  add(env->accepted, NULL, &env->naccepted, host);
}

int
pacer_cred_env_refused(const struct pacer_cred_env *env, const char *host)
{
  return usable(host) &&
         find((const char *)env->refused, env->nrefused, host) >= 0;
}

int
pacer_cred_env_mismatch(struct pacer_cred_env *env, const char *host,
                        uint64_t gen, int after_refresh)
{
  int i;

  if (!usable(host) ||
      find((const char *)env->accepted, env->naccepted, host) >= 0)
    return 0;
  if (find((const char *)env->refused, env->nrefused, host) >= 0)
    return 1;
  i = find((const char *)env->suspect, env->nsuspect, host);
  if (after_refresh || (i >= 0 && gen > env->suspect_gen[i])) {
    forget(env->suspect, env->suspect_gen, &env->nsuspect, host);
    add(env->refused, NULL, &env->nrefused, host);
    return 1;
  }
  if (i < 0) {
    i = (int)add(env->suspect, env->suspect_gen, &env->nsuspect, host);
    env->suspect_gen[i] = gen;
  }
  return 0;
}
