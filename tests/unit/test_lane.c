/* Unit tests for core/lane.c: priorities, round-robin ring, slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
