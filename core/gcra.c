/* GCRA core: see gcra.h for the model and its bounds.
 *
 * Every public function validates its limit first; after that, all sums
 * stay below PACER_GCRA_NOW_MAX_US + 2 * PACER_GCRA_SPAN_MAX_US (< 2^54),
 * so no operation below can wrap.
 */
#include "core/gcra.h"

#include <assert.h>

static int
limit_valid(const struct pacer_gcra_limit *l)
{
  if (l->interval_us == 0 || l->burst > PACER_GCRA_BURST_MAX)
    return 0;
  return l->interval_us <= PACER_GCRA_SPAN_MAX_US / (l->burst + 1);
}

/* tau + T: how far past now a conforming history can leave the TAT. */
static uint64_t
span_us(const struct pacer_gcra_limit *l)
{
  return (l->burst + 1) * l->interval_us;
}

/* Conforming takes leave TAT <= now + span; more means the clock went back
 * (or the interval shrank). Read in real time, the pulled-back TAT is still
 * at least as strict as the unstepped one was, so nothing extra is granted,
 * and storing it lets the bucket drain on the new clock instead of waiting
 * for the old one (nginx limit_req likewise never counts time backwards). */
static uint64_t
pull_back(const struct pacer_gcra_limit *l, uint64_t tat, uint64_t now)
{
  uint64_t horizon = now + span_us(l);

  return tat > horizon ? horizon : tat;
}

/* The decision shared by take, peek and take_all: 0 with *new_tat the
 * advanced TAT; PACER_ELIMIT with *wait_us set and *new_tat the TAT to
 * store (the old one, pulled back); else another PACER_E* code with
 * *new_tat untouched. */
static int
decide(const struct pacer_gcra_limit *l, uint64_t tat, uint64_t now,
       uint32_t cost, uint64_t *new_tat, uint64_t *wait_us)
{
  uint64_t horizon, next;

  *wait_us = 0;
  if (!limit_valid(l) || cost == 0 || now > PACER_GCRA_NOW_MAX_US)
    return PACER_EINVAL;
  /* A cost above burst + 1 would need a TAT beyond the horizon even from
   * an idle bucket: waiting never helps, so it is not a wait. */
  if ((uint64_t)cost - 1 > l->burst)
    return PACER_ETOOLARGE;
  horizon = now + span_us(l);
  tat = pull_back(l, tat, now);
  next = (tat > now ? tat : now) + (uint64_t)cost * l->interval_us;
  /* ITU-T I.371 virtual scheduling: conforming when now >= TAT - tau,
   * here for n units at once: max(TAT, now) + n*T - (tau + T) <= now */
  if (next <= horizon) {
    *new_tat = next;
    return 0;
  }
  *new_tat = tat;
  *wait_us = next - horizon;
  assert(*wait_us <= (uint64_t)cost * l->interval_us);
  return PACER_ELIMIT;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

int
pacer_gcra_limit_init(struct pacer_gcra_limit *l, uint64_t count,
                      uint64_t period_us, uint64_t burst)
{
  struct pacer_gcra_limit v;

  if (count == 0 || period_us == 0 || count > period_us)
    return PACER_EINVAL;
  /* round up: the granted rate may be a hair slower, never faster */
  v.interval_us = period_us / count + (period_us % count != 0);
  v.burst = burst;
  if (!limit_valid(&v))
    return PACER_EINVAL;
  *l = v;
  return 0;
}

int
pacer_gcra_scale(const struct pacer_gcra_limit *l, uint32_t permille,
                 struct pacer_gcra_limit *out)
{
  uint64_t scaled, cap;

  if (!limit_valid(l))
    return PACER_EINVAL;
  if (permille < PACER_GCRA_PERMILLE_MIN)
    permille = PACER_GCRA_PERMILLE_MIN;
  if (permille > PACER_GCRA_PERMILLE_FULL)
    permille = PACER_GCRA_PERMILLE_FULL;
  /* interval <= 1e15, so interval * 1000 < 2^60 */
  scaled =
      (l->interval_us * PACER_GCRA_PERMILLE_FULL + permille - 1) / permille;
  cap = PACER_GCRA_SPAN_MAX_US / (l->burst + 1);
  out->burst = l->burst;
  out->interval_us = scaled < cap ? scaled : cap;
  return 0;
}

int
pacer_gcra_take(const struct pacer_gcra_limit *l, uint64_t *tat_unix_us,
                uint64_t now_unix_us, uint32_t cost, uint64_t *wait_us)
{
  uint64_t next = 0, wait = 0;
  int rc = decide(l, *tat_unix_us, now_unix_us, cost, &next, &wait);

  if (rc == 0 || rc == PACER_ELIMIT)
    *tat_unix_us = next;
  if (wait_us != NULL)
    *wait_us = wait;
  return rc;
}

int
pacer_gcra_peek(const struct pacer_gcra_limit *l, uint64_t tat_unix_us,
                uint64_t now_unix_us, uint32_t cost, uint64_t *wait_us)
{
  uint64_t next = 0, wait = 0;
  int rc = decide(l, tat_unix_us, now_unix_us, cost, &next, &wait);

  if (wait_us != NULL)
    *wait_us = wait;
  return rc;
}

int
pacer_gcra_take_all(const struct pacer_gcra_limit *limits,
                    uint64_t *tats_unix_us, const uint32_t *costs, size_t n,
                    uint64_t now_unix_us, uint64_t *wait_us)
{
  uint64_t next = 0, wait = 0, max_wait = 0;
  int rc, limited = 0;
  size_t i;

  if (wait_us != NULL)
    *wait_us = 0;
  /* Pass 1 decides every bucket without writing; pass 2 repeats the same
   * (deterministic) decisions and writes, so no scratch array is needed
   * for any n. */
  for (i = 0; i < n; i++) {
    rc = decide(&limits[i], tats_unix_us[i], now_unix_us, costs[i], &next,
                &wait);
    if (rc == PACER_ELIMIT) {
      limited = 1;
      if (wait > max_wait)
        max_wait = wait;
    } else if (rc != 0) {
      return rc;
    }
  }
  for (i = 0; i < n; i++) {
    if (limited) {
      /* nothing taken; only a TAT beyond its horizon is pulled back */
      tats_unix_us[i] = pull_back(&limits[i], tats_unix_us[i], now_unix_us);
      continue;
    }
    rc = decide(&limits[i], tats_unix_us[i], now_unix_us, costs[i], &next,
                &wait);
    assert(rc == 0);
    (void)rc;
    tats_unix_us[i] = next;
  }
  if (wait_us != NULL)
    *wait_us = max_wait;
  return limited ? PACER_ELIMIT : 0;
}
