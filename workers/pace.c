/* Send-time pacing in a worker thread: see pace.h. */
#include "workers/pace.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/util.h"

#define HELD_FIRST 16u /* first array allocation, entries */

int
pacer_pace_wanted(const struct pacer_http_outcome *o)
{
  return o->req->send_at_mono_us != 0 || o->req->pace_key != 0;
}

static uint64_t
now_us(void)
{
  return uv_hrtime() / 1000u;
}

/* Sleeps until t_us on CLOCK_MONOTONIC, uv_hrtime's clock on Linux. */
static void
sleep_until(uint64_t t_us)
{
  struct timespec ts;

  ts.tv_sec = (time_t)(t_us / 1000000u);
  ts.tv_nsec = (long)(t_us % 1000000u) * 1000L;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    continue;
}

/* The first entry of key's set of PACER_PACE_WAYS entries. */
static size_t
key_set(uint64_t key)
{
  return (size_t)(key % (PACER_PACE_KEYS / PACER_PACE_WAYS)) * PACER_PACE_WAYS;
}

/* Where key's entry is, or PACER_PACE_KEYS when the table has none. */
static size_t
key_find(const struct pacer_pace *p, uint64_t key)
{
  size_t set = key_set(key), w;

  for (w = 0; w < PACER_PACE_WAYS; w++)
    if (p->last[set + w].key == key)
      return set + w;
  return PACER_PACE_KEYS;
}

/* When the entry at k was last used, mono us. */
static uint64_t
key_used(const struct pacer_pace *p, size_t k)
{
  return p->last[k].released_mono_us > p->last[k].last_mono_us
             ? p->last[k].released_mono_us
             : p->last[k].last_mono_us;
}

/* Key's entry; when it has none, a new one with every time 0 (*fresh 1)
 * in a free way of its set or, with none free, the least recently used
 * (a key whose entry goes is not held back next time: the table is a
 * cache, see pace.h). */
static size_t
key_claim(struct pacer_pace *p, uint64_t key, int *fresh)
{
  size_t k = key_find(p, key), set = key_set(key), w;

  *fresh = k == PACER_PACE_KEYS;
  if (!*fresh)
    return k;
  k = set;
  for (w = 0; w < PACER_PACE_WAYS; w++) {
    if (p->last[set + w].key == 0) {
      k = set + w;
      break;
    }
    if (key_used(p, set + w) < key_used(p, k))
      k = set + w;
  }
  memset(&p->last[k], 0, sizeof(p->last[k]));
  p->last[k].key = key;
  return k;
}

/* The earliest time a request of key (non-zero) with gap may leave, at
 * least t: gap_us after the key's last request (a key whose slot another
 * key took is not held back: the table is a cache, see pace.h). */
static uint64_t
key_earliest(const struct pacer_pace *p, uint64_t key, uint64_t gap_us,
             uint64_t t)
{
  size_t k = key_find(p, key);

  if (k < PACER_PACE_KEYS) {
    uint64_t w = p->last[k].last_mono_us + gap_us;

    /* from the last one's departure, less the usual release-to-wire
     * time; and never sooner than the gap after its release (it may
     * not have left yet) */
    w = w > p->last[k].ovh_us ? w - p->last[k].ovh_us : 0;
    if (w > t)
      t = w;
    w = p->last[k].released_mono_us + gap_us;
    if (w > t)
      t = w;
  }
  return t;
}

/* The earliest time o may leave: its send time, and each of its keys' gap
 * after that key's last release. */
static uint64_t
earliest(const struct pacer_pace *p, const struct pacer_http_request *r)
{
  uint64_t t = r->send_at_mono_us;

  if (r->pace_key != 0)
    t = key_earliest(p, r->pace_key, r->pace_gap_us, t);
  if (r->pace_key2 != 0)
    t = key_earliest(p, r->pace_key2, r->pace_gap2_us, t);
  return t;
}

static void
key_released(struct pacer_pace *p, uint64_t key, uint64_t at_us)
{
  int fresh;
  size_t k = key_claim(p, key, &fresh);

  p->last[k].prev_mono_us = p->last[k].released_mono_us;
  p->last[k].released_mono_us = at_us;
}

static void
release(struct pacer_pace *p, struct pacer_http_outcome *o, uint64_t at_us)
{
  const struct pacer_http_request *r = o->req;

  o->req->released_mono_us = at_us;
  if (r->pace_key != 0)
    key_released(p, r->pace_key, at_us);
  if (r->pace_key2 != 0)
    key_released(p, r->pace_key2, at_us);
  p->release(p, o);
}

/* Inserts o due at due_us, after every entry due at the same time or
 * earlier (FIFO among equals). Room must exist. */
static void
insert(struct pacer_pace *p, struct pacer_http_outcome *o, uint64_t due_us)
{
  size_t i = p->nheld;

  while (i > 0 && p->due_us[i - 1] > due_us) {
    p->held[i] = p->held[i - 1];
    p->due_us[i] = p->due_us[i - 1];
    i--;
  }
  p->held[i] = o;
  p->due_us[i] = due_us;
  p->nheld++;
}

static void
pop_head(struct pacer_pace *p)
{
  p->nheld--;
  memmove(p->held, p->held + 1, p->nheld * sizeof(*p->held));
  memmove(p->due_us, p->due_us + 1, p->nheld * sizeof(*p->due_us));
}

static void on_timer(uv_timer_t *t);

/* Releases every held request that is due, sleeping the last stretch of
 * at most PACER_PACE_SPIN_US for the exact time, then arms the timer
 * about 1 ms before the next one. After a release it never sleeps for the
 * next one: curl sends a released request only once the loop runs its
 * timer, so sleeping here would hold it back and then send both together
 * (at 1,000/s, a whole run of them in one burst; bench/limits.sh). It
 * returns to the loop for about 1 ms instead (at most that late).
 * may_sleep 0 (pacer_pace_hold, inside on_wake): it releases only what is
 * already due and leaves the rest to the timer. Sleeping there for each
 * request handed over kept on_wake busy as long as the scheduler handed
 * over one a millisecond, and the loop never ran curl: a whole run left
 * at once (test_pool paced_requests_1_ms_apart_reach_the_upstream_spread;
 * bench/limits.sh at 1,000/s: 30 within 2 ms at nginx). */
static void
run(struct pacer_pace *p, int may_sleep)
{
  int released = 0;

  p->in_run = 1;
  while (p->nheld > 0) {
    struct pacer_http_outcome *o = p->held[0];
    uint64_t now = now_us(), due = earliest(p, o->req);

    if (due != p->due_us[0]) { /* the key's last release moved it back */
      pop_head(p);
      insert(p, o, due);
      continue;
    }
    if (due > now + PACER_PACE_SPIN_US)
      break;
    if (due > now && released) {
      /* 1 ms from a fresh loop time: the loop polls its sockets first
       * (a 0 ms timer re-armed from a timer callback runs again before
       * the poll in libuv before 1.45, and curl needs the poll to connect
       * or to reuse a connection whose reply is unread) */
      uv_update_time(p->timer.loop);
      (void)uv_timer_start(&p->timer, on_timer, 1, 0);
      p->in_run = 0;
      return;
    }
    if (due > now && !may_sleep)
      break; /* pacer_pace_hold: the timer's turn, after the loop polls */
    if (due > now) {
      sleep_until(due);
      now = now_us();
    }
    pop_head(p);
    release(p, o, now);
    released = 1;
  }
  p->in_run = 0;
  if (p->nheld > 0) {
    uint64_t now = now_us();
    uint64_t ahead = p->due_us[0] > now + 1000u ? p->due_us[0] - now : 1000u;

    /* A uv timer counts whole ms from the loop's cached time: it fires
     * up to 1 ms early or late. ahead > PACER_PACE_SPIN_US (2 ms), so it
     * wakes at least about 0 ms before the due time, and then sleeps. */
    (void)uv_timer_start(&p->timer, on_timer, (ahead - 1000u) / 1000u, 0);
  } else {
    (void)uv_timer_stop(&p->timer);
  }
}

static void
on_timer(uv_timer_t *t)
{
  run(PACER_CONTAINER_OF(t, struct pacer_pace, timer), 1);
}

int
pacer_pace_init(uv_loop_t *loop, struct pacer_pace *p,
                pacer_pace_release_cb release_cb)
{
  memset(p, 0, sizeof(*p));
  p->release = release_cb;
  return uv_timer_init(loop, &p->timer);
}

int
pacer_pace_hold(struct pacer_pace *p, struct pacer_http_outcome *o)
{
  if (p->nheld == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : HELD_FIRST;
    struct pacer_http_outcome **h = realloc(p->held, cap * sizeof(*h));
    uint64_t *d;

    if (h != NULL)
      p->held = h;
    d = h != NULL ? realloc(p->due_us, cap * sizeof(*d)) : NULL;
    if (d == NULL) {
      release(p, o, now_us());
      return PACER_ENOMEM;
    }
    p->due_us = d;
    p->cap = cap;
  }
  insert(p, o, earliest(p, o->req));
  if (!p->in_run)
    run(p, 0);
  return 0;
}

static void
key_sent(struct pacer_pace *p, uint64_t key, uint64_t released_mono_us,
         uint64_t at_mono_us)
{
  int fresh;
  size_t k = key_claim(p, key, &fresh);
  uint64_t ovh = at_mono_us > released_mono_us && released_mono_us
                     ? at_mono_us - released_mono_us
                     : 0;

  if (fresh) { /* its entry went to another key since */
    p->last[k].last_mono_us = at_mono_us;
    p->last[k].ovh_us = ovh;
    p->last[k].released_mono_us = released_mono_us;
    p->last[k].prev_mono_us = 0;
    return;
  }
  if (at_mono_us > p->last[k].last_mono_us)
    p->last[k].last_mono_us = at_mono_us;
  /* the quickest lately: a new low at once, else creeping up 1 us a
   * request, so one slow start does not hold every later one back */
  if (ovh < p->last[k].ovh_us + 1u)
    p->last[k].ovh_us = ovh;
  else
    p->last[k].ovh_us++;
}

void
pacer_pace_sent(struct pacer_pace *p, const struct pacer_http_request *req,
                uint64_t at_mono_us)
{
  key_sent(p, req->pace_key, req->released_mono_us, at_mono_us);
  if (req->pace_key2 != 0)
    key_sent(p, req->pace_key2, req->released_mono_us, at_mono_us);
}

/* 1 when the latest release of key was req's, now forgotten. */
static int
key_missed(struct pacer_pace *p, uint64_t key, uint64_t released_mono_us)
{
  size_t k = key != 0 ? key_find(p, key) : PACER_PACE_KEYS;

  if (k == PACER_PACE_KEYS || p->last[k].released_mono_us != released_mono_us)
    return 0;
  p->last[k].released_mono_us = p->last[k].prev_mono_us;
  return 1;
}

void
pacer_pace_missed(struct pacer_pace *p, const struct pacer_http_request *req)
{
  int k1 = key_missed(p, req->pace_key, req->released_mono_us);
  int k2 = key_missed(p, req->pace_key2, req->released_mono_us);

  /* the next one may be due sooner now: look again on the next loop
   * turn (not from here, inside curl's drain of finished transfers) */
  if ((k1 || k2) && !p->in_run && p->nheld > 0)
    (void)uv_timer_start(&p->timer, on_timer, 0, 0);
}

void
pacer_pace_drain(struct pacer_pace *p, pacer_pace_release_cb fn)
{
  while (p->nheld > 0) {
    struct pacer_http_outcome *o = p->held[0];

    pop_head(p);
    fn(p, o);
  }
  (void)uv_timer_stop(&p->timer);
}

size_t
pacer_pace_held(const struct pacer_pace *p)
{
  return p->nheld;
}

static void
on_closed(uv_handle_t *h)
{
  struct pacer_pace *p =
      PACER_CONTAINER_OF((uv_timer_t *)h, struct pacer_pace, timer);

  free(p->held);
  free(p->due_us);
  p->held = NULL;
  p->due_us = NULL;
  p->cap = 0;
  if (p->close_cb != NULL)
    p->close_cb(p);
}

void
pacer_pace_close(struct pacer_pace *p, pacer_pace_close_cb cb)
{
  assert(p->nheld == 0);
  p->close_cb = cb;
  uv_close((uv_handle_t *)&p->timer, on_closed);
}
