/* Exponential backoff with full jitter, and the PRNG it draws from.
 * Pure core: no clock, no global state. */
#ifndef PACER_CORE_BACKOFF_H
#define PACER_CORE_BACKOFF_H

#include <stdint.h>

/** Returns the next value of a xorshift64* generator whose state is *state
 *  (borrowed, must be non-zero; updated). Not for secrets.
 *  Source: Vigna, "An experimental exploration of Marsaglia's xorshift
 *  generators, scrambled" (2016). */
uint64_t pacer_prng_next(uint64_t *state);

/** Returns a delay in ms drawn uniformly from [0, min(cap_ms, base_ms *
 *  2^attempt)] ("full jitter"), computed without overflow for any attempt.
 *  attempt counts from 0 for the first retry. *prng as pacer_prng_next.
 *  Source: AWS Architecture Blog, "Exponential Backoff And Jitter" (2015). */
uint64_t pacer_backoff_full_jitter_ms(unsigned attempt, uint64_t base_ms,
                                      uint64_t cap_ms, uint64_t *prng);

/* Per-key throttle backoff (docs/LIMITS.md "Throttles"): how long a key
 * rests after the upstream asked it to slow down. A server hint
 * (Retry-After, a reset, a body field) is only a floor: the pause is the
 * larger of the hint and the key's own backoff, which doubles with each
 * consecutive throttle of the key and shrinks one step per success.
 *
 *   throttle while now >= until:  streak + 1, pause = max(hint,
 *                                 floor, jitter(min(cap, base*2^(streak-1))))
 *   throttle while now <  until:  an answer to a request sent before the
 *                                 pause began: streak kept, pause =
 *                                 max(hint, until - now)
 *   success:                      streak - 1 (never below 0)
 *
 * jitter(c) is "equal jitter", uniform in [c/2, c], so a crowd of keys does
 * not resume together but every pause keeps half its length. */

#define PACER_BACKOFF_STREAK_MAX 64u /* streak saturates here */

/** One key's throttle backoff state. Plain value; store/throttle.c keeps
 *  it in Redis so every process shares it (docs/REDIS.md). */
struct pacer_backoff_state {
  uint32_t streak;        /* consecutive throttles not yet paid back by
                             successes, 0..PACER_BACKOFF_STREAK_MAX */
  uint64_t until_unix_ms; /* the current pause ends, wall ms, 0 = none */
};

/** Throttle backoff settings, from the configuration. */
struct pacer_backoff_cfg {
  uint64_t base_ms;  /* ceiling of the first pause, ms, >= 1 */
  uint64_t cap_ms;   /* ceiling never exceeds this, ms, >= base_ms */
  uint64_t floor_ms; /* no pause is shorter, ms, <= cap_ms */
};

/** Applies one throttle of a key at now_unix_ms (wall ms) to *st
 *  (borrowed, updated) under cfg (borrowed). hint_ms is the pause the
 *  response asked for (0 when none, or when it asked for 0 or a time
 *  already passed: it never shortens the pause). *prng as pacer_prng_next.
 *  Returns the pause in ms from now_unix_ms (>= cfg->floor_ms when the
 *  streak grew); *grew (may be NULL) is set to 1 when the streak grew.
 *  Pure; any thread. Source: AWS Architecture Blog, "Exponential Backoff
 *  And Jitter" (2015), equal jitter; RFC 9110 §10.2.3 (a hint is the least
 *  the server wants). */
uint64_t pacer_backoff_throttle(struct pacer_backoff_state *st,
                                const struct pacer_backoff_cfg *cfg,
                                uint64_t hint_ms, uint64_t now_unix_ms,
                                uint64_t *prng, int *grew);

/** Applies one success of a key to *st (borrowed, updated): the streak
 *  shrinks by one. Returns 1 when it changed, else 0. Pure; any thread. */
int pacer_backoff_success(struct pacer_backoff_state *st);

#endif
