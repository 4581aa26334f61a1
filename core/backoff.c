#include "core/backoff.h"

#include <stddef.h>

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

uint64_t
pacer_backoff_throttle(struct pacer_backoff_state *st,
                       const struct pacer_backoff_cfg *cfg, uint64_t hint_ms,
                       uint64_t now_unix_ms, uint64_t *prng, int *grew)
{
  uint64_t pause, ceiling = cfg->base_ms;
  unsigned n;

  if (grew != NULL)
    *grew = 0;
  if (now_unix_ms < st->until_unix_ms) {
    /* Sent before the pause began: it says nothing new about the key. */
    pause = st->until_unix_ms - now_unix_ms;
    if (hint_ms > pause)
      pause = hint_ms;
  } else {
    if (st->streak < PACER_BACKOFF_STREAK_MAX)
      st->streak++;
    if (grew != NULL)
      *grew = 1;
    for (n = st->streak - 1; n > 0 && ceiling < cfg->cap_ms; n--)
      ceiling = ceiling > cfg->cap_ms / 2 ? cfg->cap_ms : ceiling * 2;
    if (ceiling > cfg->cap_ms)
      ceiling = cfg->cap_ms;
    /* equal jitter: [ceiling/2, ceiling] */
    pause = ceiling - ceiling / 2 +
            (ceiling / 2 > 0 ? pacer_prng_next(prng) % (ceiling / 2 + 1) : 0);
    if (pause < cfg->floor_ms)
      pause = cfg->floor_ms;
    if (hint_ms > pause)
      pause = hint_ms;
  }
  if (now_unix_ms + pause > st->until_unix_ms)
    st->until_unix_ms = now_unix_ms + pause;
  return pause;
}

int
pacer_backoff_success(struct pacer_backoff_state *st)
{
  if (st->streak == 0)
    return 0;
  st->streak--;
  return 1;
}
