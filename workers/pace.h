/* Send-time pacing in a worker thread (docs/LIMITS.md "Against a strict
 * limiter"). A request whose send_at_mono_us lies ahead is held here and
 * released to curl at that moment, measured on the worker's own clock
 * right before curl_multi_add_handle, so the scheduler's timer, the thread
 * hand-off and queueing no longer add jitter to when it leaves. Requests
 * that share a pace_key (the scheduler routes them all to one thread) are
 * also released at least pace_gap_us apart, measured from the moment the
 * previous one was released: a request released late pushes the next one
 * back instead of bunching with it. A request may name a second key
 * (pace_key2, a second burst-0 bucket of its lane): it then also waits
 * pace_gap2_us after that key's last request in this thread, so one held
 * back for the first key's gap does not come closer to the second's next.
 *
 *   on_wake: pacer_pace_hold(o) --> held[] sorted by due --> timer fires
 *   about 1 ms early --> short clock_nanosleep to the exact due time -->
 *   release_cb(o) --> pacer_curl_uv_start
 *
 * libuv timers have 1 ms granularity, so the last stretch (at most
 * PACER_PACE_SPIN_US) is a clock_nanosleep that blocks the worker's loop;
 * other transfers of the thread wait that long at most.
 * Internal to workers/. Worker thread only.
 */
#ifndef PACER_WORKERS_PACE_H
#define PACER_WORKERS_PACE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "workers/pacer_http.h"

#define PACER_PACE_SPIN_US       2000u /* last stretch slept precisely, us */
#define PACER_PACE_KEYS          256u  /* pace keys remembered per thread */
#define PACER_PACE_WAYS          4u    /* entries a key may take (a set) */
#define PACER_PACE_SEND_SLACK_US 500u  /* release to wire, usual, us */

struct pacer_pace;

/** Called once for each request the pacer releases; takes ownership of
 *  o. Worker thread. */
typedef void (*pacer_pace_release_cb)(struct pacer_pace *p,
                                      struct pacer_http_outcome *o);
/** Called when the pacer's timer has closed. */
typedef void (*pacer_pace_close_cb)(struct pacer_pace *p);

/** The held requests of one worker thread and the last release time per
 *  pace key: a cache of PACER_PACE_KEYS entries in sets of
 *  PACER_PACE_WAYS, a key's set by its value, the least recently used
 *  entry of a full set replaced (a key whose entry went is not held back
 *  once). A direct-mapped table let an app bucket and one of its accounts
 *  share an entry and evict each other: the app's gap was lost after
 *  every request of that account (e2e_nginx_limits D). Embed it;
 *  initialise with pacer_pace_init. */
struct pacer_pace {
  uv_timer_t timer;
  pacer_pace_release_cb release;
  pacer_pace_close_cb close_cb;
  struct pacer_http_outcome **held; /* owned array, by due time */
  uint64_t *due_us;                 /* owned, due time of held[i], mono us */
  size_t nheld, cap;
  struct {
    uint64_t key;              /* pace_key, 0: free */
    uint64_t last_mono_us;     /* when its last request went on the wire */
    uint64_t ovh_us;           /* release to wire, the quickest lately, us */
    uint64_t released_mono_us; /* when its last request was released */
    uint64_t prev_mono_us;     /* released_mono_us before that one */
  } last[PACER_PACE_KEYS];
  int in_run; /* inside a release pass */
};

/** Initialises p on loop (borrowed) with release (required). Returns 0 or
 *  a UV_E* code (nothing to close then). Worker thread. */
int pacer_pace_init(uv_loop_t *loop, struct pacer_pace *p,
                    pacer_pace_release_cb release);

/** Returns 1 when o's request asks for pacing (send_at_mono_us or
 *  pace_key set), else 0. Any thread. */
int pacer_pace_wanted(const struct pacer_http_outcome *o);

/** Holds o (takes ownership) until its send time, then releases it through
 *  the release callback; a request already due is released before this
 *  returns. Returns 0, or PACER_ENOMEM: o is then released at once (it is
 *  never lost). Worker thread. */
int pacer_pace_hold(struct pacer_pace *p, struct pacer_http_outcome *o);

/** Records that req (borrowed; its pace_key non-zero, released by p) went
 *  on the wire at at_mono_us, for pace_key and pace_key2 (when set). The
 *  next request of such a key is released so that it reaches the wire
 *  the key's gap after this one: at at_mono_us + the gap
 *  less the quickest recent release-to-wire time of the key.
 *  So a request that left late (a connection being opened, the thread
 *  descheduled) pushes the next one back. Worker thread. */
void pacer_pace_sent(struct pacer_pace *p, const struct pacer_http_request *req,
                     uint64_t at_mono_us);

/** Records that req (borrowed; released by p) was not sent: it would
 *  have left more than its late_max_us after its slot
 *  (PACER_HTTP_MISSED_SLOT). Where it was a key's latest release (of
 *  pace_key and pace_key2), the next request of that key is spaced from
 *  the one before it instead, so
 *  one late request does not make the next one late too. Worker thread. */
void pacer_pace_missed(struct pacer_pace *p,
                       const struct pacer_http_request *req);

/** Hands every held request to fn (takes ownership), in due order, now;
 *  for a cancelling stop. Worker thread. */
void pacer_pace_drain(struct pacer_pace *p, pacer_pace_release_cb fn);

/** Returns how many requests are held. Worker thread. */
size_t pacer_pace_held(const struct pacer_pace *p);

/** Closes p's timer; p must hold nothing (drain it first). cb (may be
 *  NULL) runs once the timer has closed; the arrays are freed then.
 *  Worker thread. */
void pacer_pace_close(struct pacer_pace *p, pacer_pace_close_cb cb);

#endif
