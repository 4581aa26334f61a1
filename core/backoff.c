#include "core/backoff.h"

uint64_t
pacer_prng_next(uint64_t *state)
{
  uint64_t x = *state;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * UINT64_C(2685821657736338717);
}

uint64_t
pacer_backoff_full_jitter_ms(unsigned attempt, uint64_t base_ms,
                             uint64_t cap_ms, uint64_t *prng)
{
  uint64_t ceiling = base_ms;

  /* Double until the cap; stops before any shift could overflow. */
  while (attempt > 0 && ceiling < cap_ms) {
    ceiling = ceiling > cap_ms / 2 ? cap_ms : ceiling * 2;
    attempt--;
  }
  if (ceiling > cap_ms)
    ceiling = cap_ms;
  if (ceiling == 0)
    return 0;
  if (ceiling == UINT64_MAX)
    return pacer_prng_next(prng);
  return pacer_prng_next(prng) % (ceiling + 1);
}
