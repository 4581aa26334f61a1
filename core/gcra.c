/* GCRA reference model: see gcra.h for the model and its bounds, and
 * store/lua/limit_take.lua and store/lua/limit_pause.lua for the code it
 * models, line for line.
 *
 * The scripts compute in doubles. Sums and differences of integers below
 * 2^53 are exact in doubles, so the model checks every such value against
 * PACER_GCRA_EXACT_MAX and then uses plain integer arithmetic. The two
 * quotients the scripts round need more care:
 *  - math.ceil(base * 1000 / pm), integers a = base * 1000 < 2^53 and
 *    pm >= 1: when a / pm is not an integer its distance to the next
 *    integer down is at least 1 / pm, a relative distance of at least
 *    1 / a > 2^-53, more than one rounding can cover, and rounding never
 *    passes the integer above (it is a double). So the ceiling of the
 *    rounded quotient is the integer ceiling of a / pm.
 *  - math.floor((now - at) / 1000000 * 50) rounds twice, and at exact
 *    multiples of 20 ms the product can land just below the integer
 *    (580000 us gives 28.999999999999996, floor 28). lua_recovery() below
 *    repeats both IEEE 754 roundings (to nearest, ties to even) in
 *    integers; tests/unit/test_gcra.c compares it with the C doubles.
 */
#include "core/gcra.h"

#include <assert.h>

#define BUCKETS_MAX 16u /* buckets one take may name */

/* ------------------------------------------------------------------------
 * Lua's double roundings, in integers
 * ------------------------------------------------------------------------ */

#define TWO52 (UINT64_C(1) << 52)
#define TWO53 (UINT64_C(1) << 53)

/* fl(d / 1000000) for 1 <= d < 2^53 as m * 2^-*shift with m in [2^52,
 * 2^53): long division, one quotient bit at a time, then round to
 * nearest, ties to even, on the remainder (a tie needs d * 2^(shift + 1)
 * to be an odd multiple of 10^6 = 2^6 * 15625, so shift >= 19 rules it
 * out; the branch is kept for the IEEE rule's sake). */
static uint64_t
div_1e6(uint64_t d, unsigned *shift)
{
  uint64_t q = d / 1000000u, r = d % 1000000u;
  unsigned s = 0;

  while (q < TWO52) {
    r *= 2u;
    q = q * 2u + (r >= 1000000u);
    if (r >= 1000000u)
      r -= 1000000u;
    s++;
  }
  assert(q < TWO53);
  if (2u * r > 1000000u || (2u * r == 1000000u && (q & 1u))) {
    q++;
    if (q == TWO53) {
      q = TWO52;
      s--;
    }
  }
  *shift = s;
  return q;
}

/* math.floor(d / 1000000 * 50) in Lua, that is the floor of
 * fl(fl(d / 1000000) * 50), for 0 <= d < 2^53. */
static uint64_t
lua_recovery(uint64_t d)
{
  uint64_t m, p, m2, rem, half;
  unsigned s, t;

  if (d == 0)
    return 0;
  m = div_1e6(d, &s);
  p = m * 50u; /* < 2^59: exact; 2^57 < p, so 58 or 59 bits */
  t = p >= (UINT64_C(1) << 58) ? 6u : 5u;
  m2 = p >> t;
  rem = p & ((UINT64_C(1) << t) - 1u);
  half = UINT64_C(1) << (t - 1u);
  if (rem > half || (rem == half && (m2 & 1u))) {
    m2++;
    if (m2 == TWO53) {
      m2 = TWO52;
      t++;
    }
  }
  /* the value is m2 * 2^(t - s); s >= 19 > t since d < 2^53 */
  assert(s > t);
  return s - t >= 64u ? 0 : m2 >> (s - t);
}

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

static int
limit_valid(const struct pacer_gcra_limit *l)
{
  if (l->interval_us == 0 || l->burst > PACER_GCRA_BURST_MAX)
    return 0;
  return l->interval_us <= PACER_GCRA_SPAN_MAX_US / (l->burst + 1);
}

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

uint64_t
pacer_gcra_spaced_us(const struct pacer_gcra_limit *l, uint64_t period_us,
                     uint64_t jitter_us)
{
  uint64_t p = period_us ? period_us : 1u;

  return l->interval_us + (l->interval_us * jitter_us + p - 1) / p;
}

uint64_t
pacer_gcra_aimd_window_us(const struct pacer_gcra_limit *l)
{
  uint64_t w;

  if (l->interval_us >=
      PACER_GCRA_AIMD_RESUME_MAX_US / PACER_GCRA_AIMD_RESUME_SLOTS)
    return PACER_GCRA_AIMD_RESUME_MAX_US;
  w = l->interval_us * PACER_GCRA_AIMD_RESUME_SLOTS;
  return w > PACER_GCRA_AIMD_RESUME_MIN_US ? w : PACER_GCRA_AIMD_RESUME_MIN_US;
}

void
pacer_gcra_args_init(struct pacer_gcra_args *a,
                     const struct pacer_gcra_limit *l, uint64_t period_us,
                     uint32_t cost, int adaptive)
{
  a->interval_us = pacer_gcra_spaced_us(l, period_us, PACER_GCRA_JITTER_US);
  a->tolerance_us = l->burst * l->interval_us;
  a->cost = cost ? cost : 1u;
  a->adaptive = adaptive != 0;
  a->warm_interval_us =
      pacer_gcra_spaced_us(l, period_us, PACER_GCRA_JITTER_WARM_US);
  a->period_us = period_us;
}

/* ------------------------------------------------------------------------
 * The scripts
 * ------------------------------------------------------------------------ */

uint32_t
pacer_gcra_permille(uint32_t stored_permille, uint64_t aimd_at_unix_us,
                    uint64_t now_unix_us)
{
  uint64_t pm;

  if (stored_permille == 0)
    return PACER_GCRA_PERMILLE_FULL;
  /* limit_take.lua: pm = stored + math.floor(dt / 1000000 * 50), dt the
   * time since aimd_at, 0 before it */
  pm = stored_permille;
  if (now_unix_us > aimd_at_unix_us)
    pm += lua_recovery(now_unix_us - aimd_at_unix_us);
  return pm > PACER_GCRA_PERMILLE_FULL ? PACER_GCRA_PERMILLE_FULL
                                       : (uint32_t)pm;
}

/* x < 2^53, where the script's doubles are exact */
static int
exact(int64_t x)
{
  return x < (int64_t)PACER_GCRA_EXACT_MAX &&
         x > -(int64_t)PACER_GCRA_EXACT_MAX;
}

int
pacer_gcra_take(const struct pacer_gcra_args *a, struct pacer_gcra_state *st,
                size_t n, unsigned nslots, uint64_t horizon_us,
                uint64_t now_unix_us, struct pacer_gcra_take_result *r)
{
  return pacer_gcra_take_ext(a, st, n, nslots, horizon_us, 0, 0, 0, now_unix_us,
                             r);
}

int
pacer_gcra_take_ext(const struct pacer_gcra_args *a,
                    struct pacer_gcra_state *st, size_t n, unsigned nslots,
                    uint64_t horizon_us, uint64_t lead_us, uint64_t guard_us,
                    uint64_t taker, uint64_t now_unix_us,
                    struct pacer_gcra_take_result *r)
{
  int64_t tat[BUCKETS_MAX], since[BUCKETS_MAX], one[BUCKETS_MAX];
  int64_t iv[BUCKETS_MAX], now, pause = 0, end, lead = (int64_t)lead_us;
  size_t i, paused_by = SIZE_MAX;
  unsigned j, got = 0;

  if (n > BUCKETS_MAX || nslots == 0 || nslots > PACER_GCRA_SLOTS_MAX)
    return PACER_EINVAL;
  if (now_unix_us >= PACER_GCRA_EXACT_MAX ||
      horizon_us >= PACER_GCRA_EXACT_MAX - now_unix_us ||
      lead_us >= PACER_GCRA_EXACT_MAX - now_unix_us ||
      guard_us >= PACER_GCRA_EXACT_MAX || taker >= PACER_GCRA_EXACT_MAX)
    return PACER_ETOOLARGE;
  now = (int64_t)now_unix_us;
  end = now + (int64_t)horizon_us;
  for (i = 0; i < n; i++) {
    uint64_t base, pm;
    int64_t p;

    if (a[i].cost == 0)
      return PACER_EINVAL;
    if (st[i].tat_unix_us >= PACER_GCRA_EXACT_MAX ||
        st[i].since_unix_us >= PACER_GCRA_EXACT_MAX ||
        st[i].pause_until_unix_us >= PACER_GCRA_EXACT_MAX ||
        st[i].aimd_at_unix_us >= PACER_GCRA_EXACT_MAX ||
        a[i].period_us >= PACER_GCRA_EXACT_MAX - st[i].tat_unix_us ||
        a[i].tolerance_us >= PACER_GCRA_EXACT_MAX)
      return PACER_ETOOLARGE;
    tat[i] = (int64_t)st[i].tat_unix_us;
    since[i] = (int64_t)st[i].since_unix_us;
    /* idle for a whole period: a new busy spell, warm-up from now */
    if (tat[i] + (int64_t)a[i].period_us < now)
      since[i] = now;
    base = now - since[i] < (int64_t)a[i].period_us ? a[i].warm_interval_us
                                                    : a[i].interval_us;
    pm = a[i].adaptive ? pacer_gcra_permille(st[i].permille,
                                             st[i].aimd_at_unix_us, now_unix_us)
                       : PACER_GCRA_PERMILLE_FULL;
    if (base >= PACER_GCRA_EXACT_MAX / PACER_GCRA_PERMILLE_FULL)
      return PACER_ETOOLARGE;
    /* math.ceil(base * 1000 / pm): exact, see the top of this file */
    one[i] = (int64_t)((base * PACER_GCRA_PERMILLE_FULL + pm - 1u) / pm);
    if ((uint64_t)one[i] > (PACER_GCRA_EXACT_MAX - 1u) / a[i].cost)
      return PACER_ETOOLARGE;
    iv[i] = one[i] * (int64_t)a[i].cost;
    /* the longest pause wins; its bucket's reason goes with it */
    p = (int64_t)st[i].pause_until_unix_us - now;
    if (p > pause) {
      pause = p;
      paused_by = i;
    }
  }
  r->nslots = 0;
  r->ttl_ms = 0;
  r->paused_by = SIZE_MAX;
  r->wait_us = 0;
  if (pause > 0) {
    r->wait_us = (uint64_t)pause;
    r->paused_by = paused_by;
    return 0;
  }
  for (j = 0; j < nslots; j++) {
    int64_t s = now + lead, e[BUCKETS_MAX], slowest = 0;

    /* slot j: the earliest time every bucket conforms (ITU-T I.371,
     * cost units at once: s >= TAT + (cost - 1) * T - tau); a block's
     * first slot keeps the guard from another taker's last one (the
     * script compares the stored taker text, "" when absent) */
    for (i = 0; i < n; i++) {
      if (!exact(tat[i] + iv[i]))
        return PACER_ETOOLARGE;
      e[i] = tat[i] + iv[i] - one[i] - (int64_t)a[i].tolerance_us;
      if (j == 0 && guard_us > 0 && st[i].taker != taker)
        e[i] += (int64_t)guard_us;
      if (e[i] < now + lead)
        e[i] = now + lead;
      if (e[i] > s)
        s = e[i];
    }
    if (!exact(s))
      return PACER_ETOOLARGE;
    if (s > end) {
      if (got == 0) {
        r->wait_us = (uint64_t)(s - now);
        return 0;
      }
      break;
    }
    /* No holes: a slot that a slower bucket puts later than a faster one
     * could give a slot would move the faster bucket's TAT past a whole
     * interval it could still give another lane (one TAT keeps no hole),
     * and stacked lanes sharing it would take turns. Such a slot is taken
     * only when it is lead_us away: until then, the wait for that. */
    for (i = 0; i < n; i++)
      if (e[i] == s && iv[i] > slowest)
        slowest = iv[i];
    for (i = 0; i < n; i++)
      if (iv[i] < slowest && s - e[i] >= iv[i])
        break;
    if (i < n) {
      if (got == 0) {
        r->wait_us = (uint64_t)(s - now - lead);
        return 0;
      }
      break;
    }
    if (j == 0 && guard_us > 0) { /* a block: horizon from its start */
      end = s + (int64_t)horizon_us;
      if (!exact(end))
        return PACER_ETOOLARGE;
    }
    for (i = 0; i < n; i++) {
      tat[i] = (tat[i] > s ? tat[i] : s) + iv[i];
      if (!exact(tat[i]))
        return PACER_ETOOLARGE;
    }
    r->slot_us[got++] = (uint64_t)(s - now);
  }
  for (i = 0; i < n; i++) {
    st[i].tat_unix_us = (uint64_t)tat[i];
    st[i].since_unix_us = (uint64_t)since[i];
    if (taker != 0)
      st[i].taker = taker;
  }
  r->nslots = got;
  r->ttl_ms = PACER_GCRA_STATE_TTL_MS;
  return 0;
}

int
pacer_gcra_pause(struct pacer_gcra_state *st, uint64_t pause_ms,
                 uint64_t tolerance_us, uint64_t aimd_window_us,
                 uint64_t now_unix_us, uint64_t *ttl_ms)
{
  uint64_t untl, want, ended;
  int64_t now = (int64_t)now_unix_us;
  int quick;

  if (now_unix_us >= PACER_GCRA_EXACT_MAX ||
      pause_ms >= (PACER_GCRA_EXACT_MAX - now_unix_us) / 1000u ||
      tolerance_us >= PACER_GCRA_EXACT_MAX - now_unix_us - pause_ms * 1000u ||
      aimd_window_us >= PACER_GCRA_EXACT_MAX ||
      st->aimd_at_unix_us >= PACER_GCRA_EXACT_MAX ||
      st->pause_until_unix_us >= PACER_GCRA_EXACT_MAX)
    return PACER_ETOOLARGE;
  /* AIMD: an isolated 429 (send jitter at an exact limit) only pauses, and
   * so does one that arrives while the pause stands (sent before it). One
   * that comes soon after the previous pause ended, when the one before
   * it did too, says the 429s keep coming and the rate is too high:
   * halve it. */
  ended = st->pause_until_unix_us;
  quick = aimd_window_us > 0 && ended > 0 && now_unix_us >= ended &&
          now_unix_us - ended < aimd_window_us;
  if (quick && st->quick < PACER_GCRA_AIMD_QUICK)
    st->quick++;
  else if (!quick && aimd_window_us > 0 && now_unix_us >= ended)
    st->quick = 0; /* not during a pause: that one was sent before it */
  if (quick && st->quick >= PACER_GCRA_AIMD_QUICK &&
      now - (int64_t)st->aimd_at_unix_us >= (int64_t)PACER_GCRA_AIMD_GAP_US) {
    /* at least a second since aimd_at: the share is >= stored + 50 */
    uint32_t pm =
        pacer_gcra_permille(st->permille, st->aimd_at_unix_us, now_unix_us);

    pm /= 2;
    st->permille = pm > PACER_GCRA_PERMILLE_MIN ? pm : PACER_GCRA_PERMILLE_MIN;
    st->aimd_at_unix_us = now_unix_us;
  }
  st->last_429_unix_us = now_unix_us;
  untl = now_unix_us + pause_ms * 1000u;
  if (untl > st->pause_until_unix_us)
    st->pause_until_unix_us = untl;
  /* resume at the bucket's pace, without a burst */
  want = untl + tolerance_us;
  if (st->tat_unix_us < want)
    st->tat_unix_us = want;
  if (ttl_ms != NULL)
    *ttl_ms = pause_ms + PACER_GCRA_STATE_TTL_MS;
  return 0;
}
