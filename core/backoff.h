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

#endif
