/* Lanes: ready jobs wait in one lane per bucket set (the limit keys a
 * request takes from), served round-robin so one tenant's backlog never
 * starves another. Each lane holds three priority FIFOs and the send slots
 * it has reserved from the shared limiter. Pure data structure: no clock,
 * no I/O; times are passed in (monotonic microseconds).
 *
 *   table (hash by id) --> lane --+-- fifo[high] -> node -> node
 *   ring of lanes with queued     +-- fifo[normal]
 *   work, rotated per round       +-- fifo[low]
 *                                 +-- slots[] (reserved send times, us)
 */
#ifndef PACER_CORE_LANE_H
#define PACER_CORE_LANE_H

#include <stddef.h>
#include <stdint.h>

#include "core/limit_ref.h"

#define PACER_LANE_ID_MAX 1024 /* bytes of a lane id, excl. NUL */

/** Intrusive queue node; embed it in the queued object. */
struct pacer_lane_node {
  struct pacer_lane_node *next;
  int priority; /* 0 high, 1 normal, 2 low */
};

/** One lane. Fields are read by the scheduler; change them only through
 *  the functions below, except the limiter state (taking, wait_until_us,
 *  in_flight), which the scheduler owns. */
struct pacer_lane {
  struct pacer_lane *hnext;         /* hash chain */
  struct pacer_lane *rnext, *rprev; /* ring of lanes with work */
  int in_ring;
  char id[PACER_LANE_ID_MAX + 1]; /* joined bucket keys, "" = none */
  struct pacer_limit_ref refs[PACER_LIMITER_MAX_REFS];
  size_t nrefs;           /* 0 = unlimited lane */
  uint32_t max_in_flight; /* 0 = no cap */
  struct pacer_lane_node *head[3], *tail[3];
  size_t queued;                              /* nodes in the FIFOs */
  size_t in_flight;                           /* requests running */
  uint64_t slots_us[PACER_LIMITER_MAX_SLOTS]; /* reserved, monotonic us */
  size_t slot_head, nslots;
  uint64_t wait_until_us;       /* no take before this, mono us */
  int taking;                   /* a take is outstanding */
  uint64_t defer_until_unix_ms; /* due time of the last job this lane sent to
                                   the delayed set, unix ms */
  char pause_reason[128];       /* last pause, for stats */
  size_t deferred; /* jobs this lane sent to the delayed set that are not
                      due yet (0 once defer_until_unix_ms has passed) */
  /* max_in_flight across processes (scheduler-owned): a lane holds at most
   * one unused permit, acquired before its next send. */
  int acquiring;                         /* a permit acquire is outstanding */
  char permit[PACER_LIMITER_TOKEN_SIZE]; /* unused permit, "" = none */
  uint64_t permit_wait_until_us;         /* no acquire before this, mono us */
};

/** All lanes of one scheduler. Caller-owned; init with pacer_lanes_init. */
struct pacer_lanes {
  struct pacer_lane *buckets[256]; /* hash table by id */
  struct pacer_lane *ring;         /* next lane to serve, or NULL */
  size_t count;                    /* lanes in the table */
};

/** Initialises an empty set. */
void pacer_lanes_init(struct pacer_lanes *ls);

/** Returns the lane with id (borrowed), creating it from refs[0..nrefs)
 *  (copied) when missing. NULL on out of memory. */
struct pacer_lane *pacer_lanes_get(struct pacer_lanes *ls, const char *id,
                                   const struct pacer_limit_ref *refs,
                                   size_t nrefs);

/** Appends node (borrowed; must stay valid while queued) at the back of
 *  its priority FIFO, or at the front when front is non-zero (a request
 *  put back after a 429). Puts the lane in the ring. */
void pacer_lane_push(struct pacer_lanes *ls, struct pacer_lane *l,
                     struct pacer_lane_node *node, int front);

/** Removes and returns the first node, highest priority first, or NULL. */
struct pacer_lane_node *pacer_lane_pop(struct pacer_lanes *ls,
                                       struct pacer_lane *l);

/** Stores reserved send slots at base_us + offs_us[i] (non-decreasing). */
void pacer_lane_add_slots(struct pacer_lane *l, uint64_t base_us,
                          const uint64_t *offs_us, size_t n);

#define PACER_LANE_GAP_MARGIN_PERMILLE 5u /* self-clock margin, 1/1000 */

/** Drops slots older than now_us - stale_us (a late send would bunch up
 *  with other processes' slots), then returns 1 and consumes the first slot
 *  when it is due (<= now_us), 0 when none is due; *next_us gets the next
 *  slot time or UINT64_MAX when there is none. */
int pacer_lane_take_slot(struct pacer_lane *l, uint64_t now_us,
                         uint64_t stale_us, uint64_t *next_us);

/** As pacer_lane_take_slot, but a slot due within lead_us (at or before
 *  now_us + lead_us) is taken, and *slot_us gets its time (mono us): the
 *  request is handed to a worker that early and leaves at *slot_us
 *  (send-time pacing, docs/LIMITS.md). *next_us gets the next slot time,
 *  not lowered by lead_us. */
int pacer_lane_take_slot_ahead(struct pacer_lane *l, uint64_t now_us,
                               uint64_t lead_us, uint64_t stale_us,
                               uint64_t *slot_us, uint64_t *next_us);

/** How many send slots a take should ask for now (the scheduler's take;
 *  store/limiter.h): with no slot left, one for each queued request, at
 *  most PACER_LIMITER_MAX_SLOTS. With slots left and ahead_us > 0, the
 *  next block is asked for before the last slot is used: once the last
 *  reserved slot is due within ahead_us of now_us (mono us), one for each
 *  queued request that has no slot yet, as many as fit beside the slots
 *  held. A lane whose take leads (its first slot comes no sooner than the
 *  lead after the take) would otherwise leave a gap of about the lead
 *  after every block: at 1,000/s, 10 ms after each 32 slots (docs/LIMITS.md
 *  "Against a strict limiter"). 0: no take now. Pure; scheduler thread. */
size_t pacer_lane_slots_wanted(const struct pacer_lane *l, uint64_t now_us,
                               uint64_t ahead_us);

/** How a worker spaces this lane's requests (send-time pacing,
 *  docs/LIMITS.md "Against a strict limiter"): *key_out (non-zero) names
 *  the bucket whose requests one worker thread releases in turn: of the
 *  burst-0 limits, the most shared key kind (global, then host,
 *  credential, limit_key, header), then the widest interval x cost. Its
 *  next request may arrive no sooner than that interval after the last
 *  one, and *gap_us gets that interval plus
 *  PACER_LANE_GAP_MARGIN_PERMILLE. Without a burst-0 limit *key_out names
 *  the lane and *gap_us is 0. Pure; any thread. */
void pacer_lane_pace(const struct pacer_lane *l, uint64_t *key_out,
                     uint64_t *gap_us);

/** The second bucket a worker spaces this lane's requests by: of its
 *  burst-0 limits other than pacer_lane_pace's, the widest interval x
 *  cost. *key_out (0 when there is none) names it and *gap_us gets that
 *  interval plus PACER_LANE_GAP_MARGIN_PERMILLE (0 without one). A
 *  request held back for the first bucket's gap would otherwise come
 *  closer to the next request of this one (docs/LIMITS.md item 5a).
 *  Pure; any thread. */
void pacer_lane_pace_second(const struct pacer_lane *l, uint64_t *key_out,
                            uint64_t *gap_us);

/** Where Redis' clock stands on this process's monotonic clock: the
 *  smallest recent (reply received, mono us) - (Redis TIME of the take,
 *  unix us). A take's reply arrives some time after the script ran; the
 *  quickest replies say best how the clocks relate, so a slow reply no
 *  longer shifts its whole batch of slots late, next to another process's
 *  batch on time (docs/LIMITS.md "Against a strict limiter"). */
struct pacer_lane_clock {
  int64_t off_us;      /* mono - unix, us */
  uint64_t at_mono_us; /* when off_us was last lowered or reset */
  int set;
  unsigned above;       /* samples in a row PACER_LANE_CLOCK_STEP_US above */
  int64_t above_min_us; /* the smallest of those */
};

#define PACER_LANE_CLOCK_DRIFT_PPM 20u    /* off_us may rise this fast */
#define PACER_LANE_CLOCK_STEP_US   20000u /* this far above ... */
#define PACER_LANE_CLOCK_STEP_N    8u     /* ... this many in a row: reset */

/** Feeds one take's reply, received at recv_mono_us for a script that ran
 *  at redis_now_unix_us, into *c and returns the mono time (us) that
 *  redis_now_unix_us maps to: redis_now_unix_us + the estimate, which is
 *  the smallest sample so far, allowed to rise by
 *  PACER_LANE_CLOCK_DRIFT_PPM of the time since (clock drift) and reset to
 *  the smallest of PACER_LANE_CLOCK_STEP_N samples in a row that were
 *  all PACER_LANE_CLOCK_STEP_US above it (a clock step; one slow reply
 *  under load is not one). Pure; any
 *  thread. */
uint64_t pacer_lane_clock_map(struct pacer_lane_clock *c, uint64_t recv_mono_us,
                              uint64_t redis_now_unix_us);

/** Forgets every reserved slot (the bucket was paused). */
void pacer_lane_clear_slots(struct pacer_lane *l);

/** Frees l when it is idle (nothing queued or running, no take or permit
 *  acquire out, no unused permit, no deferral still counted).
 *  Returns 1 when freed. */
int pacer_lanes_release(struct pacer_lanes *ls, struct pacer_lane *l);

/** Frees every lane regardless of state. */
void pacer_lanes_free_all(struct pacer_lanes *ls);

#endif
