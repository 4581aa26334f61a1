/* Environment mix-ups (docs/CREDENTIALS.md, Environments): a token minted
 * in a provider's sandbox and sent to production (or the reverse) gets 401
 * forever, and refreshing cannot help. For a credential that declares its
 * `environment`, this remembers which hosts have accepted one of its
 * tokens and which have refused a freshly refreshed one:
 *
 *   a response other than 401 from host H      H accepted (clears refused
 *                                               and suspect)
 *   401 with generation g, H never accepted     H suspect since g: refresh
 *   401 after a refreshed replay, or with a
 *   generation newer than H's suspect one,
 *   H never accepted                            H refused: mismatch
 *   a first 401 from a refused H                mismatch at once (no refresh)
 *
 * The generation rule catches a job that was first sent with the token
 * the refresh brought (not a replay): without it, each such 401 refreshed
 * again (tests/integration/test_cred_env.sh case 4).
 *
 * One credential's state in one process; pure, no clock. Not thread-safe:
 * the scheduler thread owns it.
 */
#ifndef PACER_CORE_CRED_ENV_H
#define PACER_CORE_CRED_ENV_H

#include <stddef.h>
#include <stdint.h>

#define PACER_CRED_ENV_HOSTS    32  /* hosts remembered per list */
#define PACER_CRED_ENV_HOST_MAX 255 /* host name, bytes */

/** The hosts seen. Zero it to start (nothing accepted, nothing refused). */
struct pacer_cred_env {
  char accepted[PACER_CRED_ENV_HOSTS][PACER_CRED_ENV_HOST_MAX + 1];
  char refused[PACER_CRED_ENV_HOSTS][PACER_CRED_ENV_HOST_MAX + 1];
  char suspect[PACER_CRED_ENV_HOSTS][PACER_CRED_ENV_HOST_MAX + 1];
  uint64_t suspect_gen[PACER_CRED_ENV_HOSTS]; /* of suspect[i]'s first 401 */
  size_t naccepted, nrefused, nsuspect;
};

/** Host (borrowed, compared exactly; NULL ignored) answered a request with
 *  one of the credential's tokens with something other than 401: its
 *  tokens work there. When the list is full the oldest entry goes. */
void pacer_cred_env_accepted(struct pacer_cred_env *env, const char *host);

/** A 401 from host for a request that carried the credential's token of
 *  generation gen (the shared token generation, docs/CREDENTIALS.md).
 *  after_refresh 1: the request was a replay with a refreshed token.
 *  Returns 1 when this is an environment mismatch: host never accepted a
 *  token of the credential, and a refreshed token was refused too (a
 *  replay, or a generation newer than host's first 401; host is then
 *  remembered as refused), or host refused one before. Returns 0
 *  otherwise (refresh, or fail as unauthorized_after_refresh); host is
 *  then suspect from gen on. */
int pacer_cred_env_mismatch(struct pacer_cred_env *env, const char *host,
                            uint64_t gen, int after_refresh);

/** 1 when host is remembered as refusing the credential's tokens (a first
 *  401 from it is a mismatch at once), else 0. Changes nothing. */
int pacer_cred_env_refused(const struct pacer_cred_env *env, const char *host);

#endif
