/* Scheduler, throttle keys: this process's copy of each key's throttle
 * backoff state (core/backoff.h), which core/decide.c reads, kept in step
 * with the shared hash in Redis (store/throttle.h). A key is the bucket key
 * of the lane's pause target, or "(host):<host>" when no limit pauses the
 * request (docs/LIMITS.md "Throttles"). Scheduler thread only.
 */
#ifndef PACER_SCHEDULER_THROTTLE_H
#define PACER_SCHEDULER_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/limit_ref.h"

struct pacer_queue;

#define PACER_THROTTLE_KEY_MAX (PACER_LIMIT_KEY_SIZE + 270) /* bytes */

/** One key's copy. */
struct pacer_throttle_key {
  struct pacer_throttle_key *next; /* hash chain */
  char key[PACER_THROTTLE_KEY_MAX];
  struct pacer_backoff_state st;
  unsigned pending; /* notes sent whose reply has not come */
};

/** Every key this process has seen throttled. Embed by value; zero it to
 *  initialise. */
struct pacer_throttles {
  struct pacer_throttle_key *buckets[256];
  size_t count;
  /* called with a key's shared state after each Redis reply, or NULL */
  void (*on_shared)(void *arg, const char *key,
                    const struct pacer_backoff_state *st);
  void *arg;
};

/** Writes the throttle key of a request into out (PACER_THROTTLE_KEY_MAX
 *  bytes): ref's bucket key (borrowed, may be NULL), else "(host):" and
 *  host (borrowed, may be NULL: "(host):"). */
void pacer_throttle_key_of(const struct pacer_limit_ref *ref, const char *host,
                           char *out);

/** Returns key's state (borrowed key), zero when never seen. */
struct pacer_backoff_state pacer_throttles_get(const struct pacer_throttles *t,
                                               const char *key);

/** Returns 1 when key (borrowed) has throttles not yet paid back by
 *  successes (its streak is above 0), else 0. */
int pacer_throttles_probation(const struct pacer_throttles *t, const char *key);

/** Stores st (borrowed) as key's state here and sends it to Redis through
 *  q: a throttle when throttle is non-zero, else a success. The reply
 *  replaces the copy with the shared state. Out of memory only loses the
 *  copy (the next decision starts from a fresh key). */
void pacer_throttles_note(struct pacer_throttles *t, struct pacer_queue *q,
                          const char *key, int throttle,
                          const struct pacer_backoff_state *st);

/** Frees every copy. Call only after every reply has run (the queue has
 *  closed). */
void pacer_throttles_free(struct pacer_throttles *t);

#endif
