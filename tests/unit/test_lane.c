/* Unit tests for core/lane.c: priorities, round-robin ring, slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/lane.h"

static void
pop_serves_high_priority_first_then_fifo(void **state)
{
  struct pacer_lanes ls;
  struct pacer_lane *l;
  struct pacer_lane_node n[4];

  (void)state;
  pacer_lanes_init(&ls);
  l = pacer_lanes_get(&ls, "acct:a", NULL, 0);
  assert_non_null(l);
  n[0].priority = 1;
  n[1].priority = 2;
  n[2].priority = 0;
  n[3].priority = 1;
  pacer_lane_push(&ls, l, &n[0], 0);
  pacer_lane_push(&ls, l, &n[1], 0);
  pacer_lane_push(&ls, l, &n[2], 0);
  pacer_lane_push(&ls, l, &n[3], 0);
  assert_int_equal(l->queued, 4);
  assert_ptr_equal(pacer_lane_pop(&ls, l), &n[2]);
  assert_ptr_equal(pacer_lane_pop(&ls, l), &n[0]);
  assert_ptr_equal(pacer_lane_pop(&ls, l), &n[3]);
  assert_ptr_equal(pacer_lane_pop(&ls, l), &n[1]);
  assert_null(pacer_lane_pop(&ls, l));
  assert_null(ls.ring); /* an empty lane leaves the ring */
  pacer_lanes_free_all(&ls);
}

static void
front_push_is_served_before_its_priority_peers(void **state)
{
  struct pacer_lanes ls;
  struct pacer_lane *l;
  struct pacer_lane_node a, b;

  (void)state;
  pacer_lanes_init(&ls);
  l = pacer_lanes_get(&ls, "x", NULL, 0);
  a.priority = b.priority = 1;
  pacer_lane_push(&ls, l, &a, 0);
  pacer_lane_push(&ls, l, &b, 1);
  assert_ptr_equal(pacer_lane_pop(&ls, l), &b);
  assert_ptr_equal(pacer_lane_pop(&ls, l), &a);
  pacer_lanes_free_all(&ls);
}

static void
same_id_returns_the_same_lane_and_release_frees_idle_lanes(void **state)
{
  struct pacer_lanes ls;
  struct pacer_lane *a, *b;
  struct pacer_lane_node n;

  (void)state;
  pacer_lanes_init(&ls);
  a = pacer_lanes_get(&ls, "k1", NULL, 0);
  b = pacer_lanes_get(&ls, "k1", NULL, 0);
  assert_ptr_equal(a, b);
  assert_int_equal(ls.count, 1);
  n.priority = 1;
  pacer_lane_push(&ls, a, &n, 0);
  assert_int_equal(pacer_lanes_release(&ls, a), 0); /* still queued */
  pacer_lane_pop(&ls, a);
  a->in_flight = 1;
  assert_int_equal(pacer_lanes_release(&ls, a), 0); /* still running */
  a->in_flight = 0;
  assert_int_equal(pacer_lanes_release(&ls, a), 1);
  assert_int_equal(ls.count, 0);
  pacer_lanes_free_all(&ls);
}

static void
ring_holds_each_lane_with_work_once(void **state)
{
  struct pacer_lanes ls;
  struct pacer_lane *a, *b;
  struct pacer_lane_node n[3];

  (void)state;
  pacer_lanes_init(&ls);
  a = pacer_lanes_get(&ls, "a", NULL, 0);
  b = pacer_lanes_get(&ls, "b", NULL, 0);
  n[0].priority = n[1].priority = n[2].priority = 1;
  pacer_lane_push(&ls, a, &n[0], 0);
  pacer_lane_push(&ls, a, &n[1], 0);
  pacer_lane_push(&ls, b, &n[2], 0);
  assert_ptr_equal(ls.ring, a);
  assert_ptr_equal(a->rnext, b);
  assert_ptr_equal(b->rnext, a);
  pacer_lane_pop(&ls, b);
  assert_ptr_equal(a->rnext, a);
  pacer_lanes_free_all(&ls);
}

static void
slots_are_used_in_order_and_stale_ones_dropped(void **state)
{
  struct pacer_lanes ls;
  struct pacer_lane *l;
  uint64_t offs[3] = {0, 20000, 40000}, next;

  (void)state;
  pacer_lanes_init(&ls);
  l = pacer_lanes_get(&ls, "s", NULL, 0);
  pacer_lane_add_slots(l, 1000000, offs, 3);
  /* before the first slot: nothing due, next is the first */
  assert_int_equal(pacer_lane_take_slot(l, 999999, 20000, &next), 0);
  assert_true(next == 1000000);
  assert_int_equal(pacer_lane_take_slot(l, 1000000, 20000, &next), 1);
  assert_true(next == 1020000);
  /* 30 ms late for the second: dropped as stale, the third is due */
  assert_int_equal(pacer_lane_take_slot(l, 1050000, 20000, &next), 1);
  assert_true(next == UINT64_MAX);
  assert_int_equal(l->nslots, 0);
  pacer_lane_add_slots(l, 2000000, offs, 3);
  pacer_lane_clear_slots(l);
  assert_int_equal(pacer_lane_take_slot(l, 3000000, 20000, &next), 0);
  pacer_lanes_free_all(&ls);
}

static void
slots_are_taken_ahead_by_the_lead_and_say_when(void **state)
{
  struct pacer_lanes ls;
  struct pacer_lane *l;
  uint64_t offs[2] = {0, 10000}, slot = 0, next;

  (void)state;
  pacer_lanes_init(&ls);
  l = pacer_lanes_get(&ls, "s", NULL, 0);
  pacer_lane_add_slots(l, 1000000, offs, 2);
  /* 6 ms early with a 5 ms lead: not yet */
  assert_int_equal(
      pacer_lane_take_slot_ahead(l, 994000, 5000, 4000, &slot, &next), 0);
  assert_true(next == 1000000);
  /* 5 ms early: taken, with its own time */
  assert_int_equal(
      pacer_lane_take_slot_ahead(l, 995000, 5000, 4000, &slot, &next), 1);
  assert_true(slot == 1000000);
  assert_true(next == 1010000);
  /* 5 ms late for the second, over the 4 ms stale bound: dropped */
  assert_int_equal(
      pacer_lane_take_slot_ahead(l, 1015000, 5000, 4000, &slot, &next), 0);
  assert_true(next == UINT64_MAX);
  pacer_lanes_free_all(&ls);
}

static void
the_next_block_is_asked_for_before_the_last_slot_is_used(void **state)
{
  struct pacer_lanes ls;
  struct pacer_lane *l;
  uint64_t offs[PACER_LIMITER_MAX_SLOTS], slot, next;
  size_t i;

  (void)state;
  pacer_lanes_init(&ls);
  l = pacer_lanes_get(&ls, "s", NULL, 0);
  /* only the count of queued requests matters here */
  l->queued = 100;
  /* no slot held: one per queued request, at most a take's worth */
  assert_int_equal(pacer_lane_slots_wanted(l, 0, 0), PACER_LIMITER_MAX_SLOTS);
  l->queued = 5;
  assert_int_equal(pacer_lane_slots_wanted(l, 0, 25000), 5);
  l->queued = 100;
  for (i = 0; i < PACER_LIMITER_MAX_SLOTS; i++)
    offs[i] = i * 1000u; /* 1,000/s */
  pacer_lane_add_slots(l, 1000000, offs, PACER_LIMITER_MAX_SLOTS);
  /* the last slot (1.031 s) is 31 ms ahead: not yet, with a 25 ms window */
  assert_int_equal(pacer_lane_slots_wanted(l, 1000000, 25000), 0);
  /* without a window, never while slots are held */
  assert_int_equal(pacer_lane_slots_wanted(l, 1030000, 0), 0);
  /* 10 slots used (the queue shrinks with them): the last is 21 ms ahead;
   * the rest of the queue gets what fits beside the 22 held */
  for (i = 0; i < 10; i++) {
    assert_int_equal(pacer_lane_take_slot_ahead(l, 995000 + i * 1000u, 5000,
                                                4000, &slot, &next),
                     1);
    assert_true(slot == 1000000 + i * 1000u);
    l->queued--;
  }
  assert_int_equal(pacer_lane_slots_wanted(l, 1010000, 25000), 10);
  /* fewer queued than held plus room: only those without a slot */
  l->queued = 25;
  assert_int_equal(pacer_lane_slots_wanted(l, 1010000, 25000), 3);
  /* every queued request has a slot already */
  l->queued = 22;
  assert_int_equal(pacer_lane_slots_wanted(l, 1010000, 25000), 0);
  l->queued = 0;
  pacer_lanes_free_all(&ls);
}

static void
pace_names_the_most_shared_then_widest_burst_0_bucket(void **state)
{
  struct pacer_limit_cfg strict, wide, bursty;
  struct pacer_limit_ref refs[3];
  struct pacer_lanes ls;
  struct pacer_lane *l;
  uint64_t k1, k2, gap;

  (void)state;
  memset(&strict, 0, sizeof(strict));
  memset(refs, 0, sizeof(refs));
  wide = bursty = strict;
  assert_int_equal(pacer_gcra_limit_init(&strict.gcra, 100, 1000000, 0), 0);
  assert_int_equal(pacer_gcra_limit_init(&wide.gcra, 20, 1000000, 0), 0);
  assert_int_equal(pacer_gcra_limit_init(&bursty.gcra, 1, 1000000, 5), 0);
  strict.cost = wide.cost = bursty.cost = 1;
  refs[0].cfg = &strict;
  refs[1].cfg = &bursty;
  refs[2].cfg = &wide;
  snprintf(refs[0].key, sizeof(refs[0].key), "%s", "strict:a");
  snprintf(refs[1].key, sizeof(refs[1].key), "%s", "bursty:a");
  snprintf(refs[2].key, sizeof(refs[2].key), "%s", "wide:a");
  pacer_lanes_init(&ls);
  /* 20/s, burst 0, binds: its interval plus 0.5%, its bucket the key */
  l = pacer_lanes_get(&ls, "x", refs, 3);
  pacer_lane_pace(l, &k1, &gap);
  assert_true(k1 != 0);
  assert_true(gap == 50000 + 250);
  /* the same bucket from another lane: the same key */
  l = pacer_lanes_get(&ls, "y", &refs[2], 1);
  pacer_lane_pace(l, &k2, &gap);
  assert_true(k1 == k2);
  /* only a bursty limit: no gap, a key of the lane's own */
  l = pacer_lanes_get(&ls, "z", &refs[1], 1);
  pacer_lane_pace(l, &k2, &gap);
  assert_true(k2 != 0 && k2 != k1);
  assert_true(gap == 0);
  /* the second bucket: the other burst-0 one, 100/s; none with one */
  l = pacer_lanes_get(&ls, "x", refs, 3);
  pacer_lane_pace_second(l, &k2, &gap);
  assert_true(k2 != 0 && k2 != k1);
  assert_true(gap == 10000 + 50);
  l = pacer_lanes_get(&ls, "y", &refs[2], 1);
  pacer_lane_pace_second(l, &k2, &gap);
  assert_true(k2 == 0 && gap == 0);
  /* the 20/s split per header, the 100/s global: the global one, which
   * every request shares, paces; the account's 20/s is the second */
  wide.key = PACER_LIMIT_KEY_HEADER;
  l = pacer_lanes_get(&ls, "w", refs, 3);
  pacer_lane_pace(l, &k2, &gap);
  assert_true(gap == 10000 + 50);
  pacer_lane_pace_second(l, &k2, &gap);
  assert_true(k2 == k1);
  assert_true(gap == 50000 + 250);
  pacer_lanes_free_all(&ls);
}

static void
clock_map_keeps_the_quickest_reply(void **state)
{
  struct pacer_lane_clock c;

  (void)state;
  memset(&c, 0, sizeof(c));
  /* mono = unix - 1e9 + reply latency (300 us, then 50 us, then 3 ms) */
  assert_true(pacer_lane_clock_map(&c, 1000300, 1001000000) == 1000300);
  assert_true(pacer_lane_clock_map(&c, 2000050, 1002000000) == 2000050);
  /* a slow reply maps by the quickest one (50 us), plus drift allowance
   * of 20 ppm over the 1 s since: 20 us */
  assert_true(pacer_lane_clock_map(&c, 3003000, 1003000000) ==
              3000000 + 50 + 20);
  /* one reply 30 ms late is no clock step */
  assert_true(pacer_lane_clock_map(&c, 3130000, 1003100000) < 3100100);
}

static void
clock_map_follows_a_step_after_8_replies(void **state)
{
  struct pacer_lane_clock c;
  uint64_t m = 1000000, u = 1000000000, got = 0;
  int i;

  (void)state;
  memset(&c, 0, sizeof(c));
  (void)pacer_lane_clock_map(&c, m, u);
  /* Redis' clock steps 100 ms back: the samples jump up 100 ms */
  for (i = 1; i <= 8; i++)
    got = pacer_lane_clock_map(&c, m + (uint64_t)i * 1000,
                               u + (uint64_t)i * 1000 - 100000);
  assert_true(got == m + 8000);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pop_serves_high_priority_first_then_fifo),
      cmocka_unit_test(front_push_is_served_before_its_priority_peers),
      cmocka_unit_test(
          same_id_returns_the_same_lane_and_release_frees_idle_lanes),
      cmocka_unit_test(ring_holds_each_lane_with_work_once),
      cmocka_unit_test(slots_are_used_in_order_and_stale_ones_dropped),
      cmocka_unit_test(slots_are_taken_ahead_by_the_lead_and_say_when),
      cmocka_unit_test(
          the_next_block_is_asked_for_before_the_last_slot_is_used),
      cmocka_unit_test(pace_names_the_most_shared_then_widest_burst_0_bucket),
      cmocka_unit_test(clock_map_keeps_the_quickest_reply),
      cmocka_unit_test(clock_map_follows_a_step_after_8_replies),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
