/* GCRA, the generic cell rate algorithm: the reference model of the shared
 * limiter that runs in Redis (store/lua/limit_take.lua and
 * store/lua/limit_pause.lua). Integer-only, clock-free.
 *
 * A limit of `count` requests per `period` with burst b has an emission
 * interval T = ceil(period / count) microseconds. A bucket's state is the
 * theoretical arrival time (TAT), in unix microseconds, plus the fields of
 * the pacer:limit:<bucket> hash (store/limiter.h draws it), so it lives in
 * Redis and is compared with Redis TIME from any process.
 *
 *      allowed from here              TAT                      time (unix us)
 *   ----------|-------------------------|-------------------------------->
 *             |<--- tau = b * T ------->|
 *
 * A request of cost n may go at s >= TAT + (n - 1) * T' - tau, and then TAT
 * becomes max(TAT, s) + n * T' (ITU-T I.371 virtual scheduling, n units at
 * once). T' is T spaced wider to absorb send jitter (pacer_gcra_spaced_us,
 * docs/LIMITS.md "Margin"), wider still in the first period after a bucket
 * has been idle for a whole period (warm-up), and divided by the AIMD share
 * permille / 1000 after 429s. A take reserves up to nslots slots no further
 * than a horizon ahead, each the earliest time every bucket of the request
 * conforms after the slots before it: all buckets advance together or none.
 * A pause (429) blocks a bucket until pause_until and pushes its TAT so it
 * resumes at its pace without a burst.
 *
 * The scripts compute in Lua numbers (doubles). Every value here is an
 * integer below 2^53, where doubles are exact, and each rounding the
 * scripts do (math.floor / math.ceil of a quotient) is reproduced exactly
 * in integers (gcra.c says why each one is exact). A call whose values
 * would leave that range returns PACER_ETOOLARGE instead of guessing. Test
 * gcra_diff (tests/integration/test_gcra_diff.c) runs both on the same
 * random sequences and checks that they agree exactly.
 *
 * Pure core: no clock, no I/O, no allocation, no global state. The caller
 * passes `now`. Any thread.
 */
#ifndef PACER_CORE_GCRA_H
#define PACER_CORE_GCRA_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define PACER_GCRA_BURST_MAX          UINT64_C(1000000) /* requests beyond one */
#define PACER_GCRA_SPAN_MAX_US        UINT64_C(1000000000000000) /* (b+1)*T, us */
#define PACER_GCRA_EXACT_MAX          (UINT64_C(1) << 53) /* doubles exact below */
#define PACER_GCRA_SLOTS_MAX          32u      /* slots one take may reserve */
#define PACER_GCRA_STATE_TTL_MS       3600000u /* idle bucket state kept, ms */
/* Slot spacing margins, as send jitter absorbed per rate period: the
 * upstream counts arrivals in its own window, and a request that arrives
 * late next to one that arrives on time can squeeze rate + 1 requests into
 * a window. Measured on loopback (bench/README.md "accuracy"): lateness
 * differences stay under ~20 ms once a bucket is running and reach 20-32
 * ms in its first second, while connections open and processes start. So
 * the first period after a bucket wakes is spaced wider. As a share of the
 * rate: 2% steady and 6% warm-up at /s, 0.03% and 0.1% at /min. */
#define PACER_GCRA_JITTER_US          20000u /* absorbed per period, us */
#define PACER_GCRA_JITTER_WARM_US     60000u /* same, first period, us */
#define PACER_GCRA_PERMILLE_FULL      1000u  /* the configured rate */
#define PACER_GCRA_PERMILLE_MIN       50u    /* AIMD floor, 5% */
#define PACER_GCRA_RECOVER_US         20000u /* AIMD: +1 permille per, us */
/* AIMD: a 429 that comes within this many emission intervals after the
 * previous pause ended (at least PACER_GCRA_AIMD_RESUME_MIN_US, at most
 * PACER_GCRA_AIMD_RESUME_MAX_US) says the 429s keep coming: halve. */
#define PACER_GCRA_AIMD_RESUME_SLOTS  16u
#define PACER_GCRA_AIMD_RESUME_MIN_US 50000u     /* us */
#define PACER_GCRA_AIMD_RESUME_MAX_US 600000000u /* us, 10 min */
#define PACER_GCRA_AIMD_GAP_US        1000000u /* halve at most once per, us */
/* AIMD: halve from the this-many-th such 429 in a row; one alone is send
 * jitter as often as not (e2e_nginx_limits A) */
#define PACER_GCRA_AIMD_QUICK         2u

/** One rate limit. Plain value; build it with pacer_gcra_limit_init. Valid
 *  when 1 <= interval_us, burst <= PACER_GCRA_BURST_MAX and (burst + 1) *
 *  interval_us <= PACER_GCRA_SPAN_MAX_US. Source: GCRA (ITU-T I.371). */
struct pacer_gcra_limit {
  uint64_t interval_us; /* emission interval T, us per unit of cost */
  uint64_t burst;       /* units allowed beyond one at once; tau = b * T */
};

/** Builds *l for `count` requests per period_us microseconds with `burst`
 *  extra requests allowed at once. interval_us = ceil(period_us / count):
 *  the rate may be rounded down, never up.
 *  Borrows nothing; writes *l only on success.
 *  Returns 0, or PACER_EINVAL when count or period_us is 0, count >
 *  period_us (faster than one per microsecond), burst > PACER_GCRA_BURST_MAX
 *  or (burst + 1) * interval exceeds PACER_GCRA_SPAN_MAX_US.
 *  Pure; any thread. Source: GCRA (ITU-T I.371). */
int pacer_gcra_limit_init(struct pacer_gcra_limit *l, uint64_t count,
                          uint64_t period_us, uint64_t burst);

/** Returns the emission interval of *l (borrowed, valid) widened so that
 *  one rate period of period_us absorbs jitter_us of send-time jitter:
 *  T + ceil(T * jitter_us / period_us), us. period_us 0 counts as 1.
 *  Pure; any thread. See docs/LIMITS.md "Margin". */
uint64_t pacer_gcra_spaced_us(const struct pacer_gcra_limit *l,
                              uint64_t period_us, uint64_t jitter_us);

/** Returns how soon after a pause ends a 429 on a bucket of limit *l
 *  (borrowed, valid) counts as one that keeps coming and halves the AIMD
 *  share: PACER_GCRA_AIMD_RESUME_SLOTS emission intervals, at least
 *  PACER_GCRA_AIMD_RESUME_MIN_US and at most PACER_GCRA_AIMD_RESUME_MAX_US,
 *  us. What store/limiter.c sends limit_pause.lua for an adaptive limit.
 *  Pure; any thread. See docs/LIMITS.md "How fast afterwards". */
uint64_t pacer_gcra_aimd_window_us(const struct pacer_gcra_limit *l);

/** What one bucket of a take is given: the per-key arguments of
 *  limit_take.lua, in its order. Build it with pacer_gcra_args_init. */
struct pacer_gcra_args {
  uint64_t interval_us;      /* T spaced by PACER_GCRA_JITTER_US, us */
  uint64_t tolerance_us;     /* tau = burst * T (configured T), us */
  uint32_t cost;             /* units per request, >= 1 */
  int adaptive;              /* 1: AIMD permille applies */
  uint64_t warm_interval_us; /* T spaced by PACER_GCRA_JITTER_WARM_US, us */
  uint64_t period_us;        /* the rate's period; idle this long: warm-up */
};

/** Builds *a for limit *l (borrowed, valid) of period_us with cost (0
 *  counts as 1) and adaptive (non-zero: AIMD), as store/limiter.c sends
 *  it to limit_take.lua. Pure; any thread. */
void pacer_gcra_args_init(struct pacer_gcra_args *a,
                          const struct pacer_gcra_limit *l, uint64_t period_us,
                          uint32_t cost, int adaptive);

/** The stored state of one bucket: the integer fields of the
 *  pacer:limit:<bucket> hash (store/limiter.h), 0 when a field is absent
 *  (the scripts read an absent field as 0, and never store permille 0).
 *  pause_reason is not here: the model says when it is written or read. */
struct pacer_gcra_state {
  uint64_t tat_unix_us;         /* GCRA theoretical arrival time */
  uint64_t since_unix_us;       /* start of the current busy spell */
  uint64_t pause_until_unix_us; /* no slot before this */
  uint64_t last_429_unix_us;    /* when the last 429 paused it */
  uint64_t aimd_at_unix_us;     /* when permille was last lowered */
  uint32_t permille;            /* AIMD share when lowered; 0: full rate */
  uint32_t quick;               /* 429s in a row that came right after the
                                   pause before them ended, at most
                                   PACER_GCRA_AIMD_QUICK */
  uint64_t taker;               /* who reserved the latest slots; 0: none */
};

/** The reply of a take. nslots > 0: slot_us[0..nslots) are the reserved
 *  send times as offsets from now, us, non-decreasing. nslots == 0: wait_us
 *  says when to ask again, and paused_by is the index of the bucket whose
 *  pause it is (its pause_reason is the reply's reason), or SIZE_MAX when
 *  the buckets are only busy (reason ""). ttl_ms is the expiry the take set
 *  on every bucket's hash (PACER_GCRA_STATE_TTL_MS), 0 when it wrote
 *  nothing. */
struct pacer_gcra_take_result {
  unsigned nslots;
  uint64_t slot_us[PACER_GCRA_SLOTS_MAX];
  uint64_t wait_us;
  size_t paused_by;
  uint64_t ttl_ms;
};

/** Returns the AIMD share, in permille of the configured rate, that a take
 *  applies to a bucket whose stored permille (0: absent, the full rate)
 *  was lowered at aimd_at_unix_us: stored plus one permille per
 *  PACER_GCRA_RECOVER_US elapsed to now_unix_us, at most
 *  PACER_GCRA_PERMILLE_FULL, with the rounding of limit_take.lua
 *  (math.floor(dt / 1000000 * 50) in doubles: one short at some exact
 *  multiples of 20 ms). Before aimd_at (a clock that stepped back) it is
 *  the stored share. Times below PACER_GCRA_EXACT_MAX. Pure; any thread.
 *  The one AIMD recovery rule: the take, pacer stats and the metrics
 *  snapshot all use it. */
uint32_t pacer_gcra_permille(uint32_t stored_permille, uint64_t aimd_at_unix_us,
                             uint64_t now_unix_us);

/** Takes up to nslots (1..PACER_GCRA_SLOTS_MAX) slots no later than
 *  horizon_us after now_unix_us from buckets st[0..n) with arguments
 *  a[0..n), all buckets per slot or none, as limit_take.lua does: a
 *  bucket idle for its period starts a warm-up period (since = now) with
 *  warm_interval_us; an adaptive bucket's interval is divided by its AIMD
 *  share (pacer_gcra_permille); a pause in any bucket answers with the
 *  longest pause and takes nothing; otherwise every slot within the
 *  horizon is reserved (TATs advanced, since stored) and, when no slot is,
 *  the wait for the first one is returned and nothing is written.
 *  Borrows a; updates st (the caller stores it, as the script does in one
 *  atomic step); fills *r. Each bucket must appear once.
 *  Returns 0; PACER_EINVAL for n == 0, nslots out of range, a cost or
 *  interval of 0; PACER_ETOOLARGE when a value would reach
 *  PACER_GCRA_EXACT_MAX. On error nothing is changed. Pure; any thread. Source:
 * GCRA (ITU-T I.371). */
int pacer_gcra_take(const struct pacer_gcra_args *a,
                    struct pacer_gcra_state *st, size_t n, unsigned nslots,
                    uint64_t horizon_us, uint64_t now_unix_us,
                    struct pacer_gcra_take_result *r);

/** As pacer_gcra_take, with the script's optional arguments: no slot
 *  before now_unix_us + lead_us (a take's first slot on a bucket with
 *  room would otherwise be `now`, already past when the reply arrives,
 *  and go out late by the reply's latency); and with guard_us > 0 a block:
 *  the first slot keeps guard_us more distance from the last slot another
 *  taker reserved, and the later slots may reach horizon_us past the
 *  first. taker (< PACER_GCRA_EXACT_MAX; 0: none)
 *  names the caller and is stored with the slots. lead_us, guard_us and
 *  taker 0 are pacer_gcra_take. Same returns. See docs/LIMITS.md
 *  "Against a strict limiter". */
int pacer_gcra_take_ext(const struct pacer_gcra_args *a,
                        struct pacer_gcra_state *st, size_t n, unsigned nslots,
                        uint64_t horizon_us, uint64_t lead_us,
                        uint64_t guard_us, uint64_t taker, uint64_t now_unix_us,
                        struct pacer_gcra_take_result *r);

/** Pauses bucket *st for pause_ms from now_unix_us, as limit_pause.lua
 *  does: pause_until moves to now + pause_ms unless a later pause stands
 *  (the caller stores the reason exactly when pause_until changed); the
 *  TAT moves to at least pause_until + tolerance_us (tau: the bucket
 *  resumes at its pace without a burst); last_429 becomes now.
 *  aimd_window_us > 0 (adaptive; pacer_gcra_aimd_window_us): a 429 that
 *  comes less than aimd_window_us after the previous pause ended is
 *  quick, and `quick` counts them in a row (capped at
 *  PACER_GCRA_AIMD_QUICK); one that comes later sets it to 0, one while a
 *  pause stands (a request sent before it) leaves it. From the
 *  PACER_GCRA_AIMD_QUICK-th quick 429 in a row (the 429s keep coming once
 *  sending resumes) each quick one halves the AIMD share, at most once
 *  per PACER_GCRA_AIMD_GAP_US and never below PACER_GCRA_PERMILLE_MIN,
 *  and sets aimd_at to now. aimd_window_us 0: never halves, quick stays.
 *  Updates *st; *ttl_ms (may be NULL) gets the expiry the script sets,
 *  pause_ms + PACER_GCRA_STATE_TTL_MS.
 *  Returns 0, or PACER_ETOOLARGE (nothing changed) when a value would
 *  reach PACER_GCRA_EXACT_MAX. Pure; any thread. Source: RFC 6585 §4
 *  (429), AIMD (RFC 5681 §3.1 halving). */
int pacer_gcra_pause(struct pacer_gcra_state *st, uint64_t pause_ms,
                     uint64_t tolerance_us, uint64_t aimd_window_us,
                     uint64_t now_unix_us, uint64_t *ttl_ms);

#endif
