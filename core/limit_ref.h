/* What one request takes from the shared limits: the bucket references a
 * lane is made of and the grant a take returns. Plain data shared by
 * core/lane.h and store/limiter.h, so the pure lane table does not depend
 * on the Redis limiter.
 */
#ifndef PACER_CORE_LIMIT_REF_H
#define PACER_CORE_LIMIT_REF_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define PACER_LIMITER_MAX_REFS  8  /* limits one request can take from */
#define PACER_LIMITER_MAX_SLOTS 32 /* slots reserved per take */
#define PACER_LIMITER_TOKEN_SIZE                                               \
  160 /* permit token buffer, bytes incl. NUL                                  \
       */

/** One bucket a request takes from: the limit and its bucket key (from
 *  pacer_limit_key). cfg borrowed from the configuration. */
struct pacer_limit_ref {
  const struct pacer_limit_cfg *cfg;
  char key[PACER_LIMIT_KEY_SIZE];
};

/** Result of a take. On success nslots > 0 and slot_us[i] are offsets from
 *  Redis' now (us, non-decreasing); otherwise nslots == 0 and wait_us says
 *  when to ask again, with reason set when a pause caused it. */
struct pacer_limiter_grant {
  size_t nslots;
  uint64_t slot_us[PACER_LIMITER_MAX_SLOTS];
  uint64_t wait_us;
  char reason[128];
  uint64_t now_unix_us; /* with slots: Redis TIME of the take, unix us;
                           0 when the reply did not say */
};

/** Returns non-zero when some bucket in refs[0..nrefs) (borrowed) caps
 *  requests in flight (max_in_flight), i.e. when a request needs a permit.
 *  Pure; any thread. */
int pacer_limiter_capped(const struct pacer_limit_ref *refs, size_t nrefs);

#endif
