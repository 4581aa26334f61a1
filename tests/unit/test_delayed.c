/* Unit tests for store/delayed.c: the delayed-set member format of
 * store/keys.h, built and parsed in C as store/lua/queue_promote.lua reads
 * it in Redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "store/delayed.h"

static const char job[] = "{\"id\":\"a\",\"url\":\"http://x/\"}";

static void
builds_the_normal_member_without_a_tag(void **state)
{
  char *m;
  size_t len;

  (void)state;
  assert_int_equal(
      pacer_delayed_member_new("a", 2, 0, NULL, job, strlen(job), &m, &len), 0);
  assert_string_equal(m, "a\n2\n{\"id\":\"a\",\"url\":\"http://x/\"}");
  assert_int_equal(len, strlen(m));
  free(m);
}

static void
carries_429s_and_the_tag(void **state)
{
  char *m;
  size_t len;

  (void)state;
  assert_int_equal(pacer_delayed_member_new("b", 1, 3, "h", "{}", 2, &m, &len),
                   0);
  assert_string_equal(m, "b\n1.3\nh\n{}");
  free(m);
  assert_int_equal(
      pacer_delayed_member_new("b", 1, 123456, "l", "{}", 2, &m, &len), 0);
  assert_string_equal(m, "b\n1.9999\nl\n{}"); /* capped */
  free(m);
}

static void
refuses_an_id_with_a_newline(void **state)
{
  char *m = NULL;
  size_t len;

  (void)state;
  assert_int_equal(
      pacer_delayed_member_new("a\nb", 0, 0, "", "{}", 2, &m, &len),
      PACER_EINVAL);
  assert_null(m);
}

static void
parse_splits_what_new_builds(void **state)
{
  struct pacer_delayed_member p;
  const char *tags[] = {"", "h", "l"};
  size_t i;

  (void)state;
  for (i = 0; i < 3; i++) {
    char *m;
    size_t len;

    assert_int_equal(pacer_delayed_member_new("job-7", 4, 2, tags[i], job,
                                              strlen(job), &m, &len),
                     0);
    assert_int_equal(pacer_delayed_member_parse(m, len, &p), 0);
    assert_int_equal(p.id_len, 5);
    assert_memory_equal(p.id, "job-7", 5);
    assert_int_equal(p.attempt_len, 3);
    assert_memory_equal(p.attempt, "4.2", 3);
    assert_int_equal(p.tag, tags[i][0]);
    assert_int_equal(p.job_len, strlen(job));
    assert_memory_equal(p.job, job, p.job_len);
    free(m);
  }
}

static void
parse_refuses_a_bare_job(void **state)
{
  struct pacer_delayed_member p;

  (void)state;
  /* The oldest format: the job JSON alone, promoted to jobs as is. */
  assert_int_equal(pacer_delayed_member_parse(job, strlen(job), &p),
                   PACER_EINVAL);
  assert_int_equal(pacer_delayed_member_parse("a\n1", 3, &p), PACER_EINVAL);
}

static void
retag_matches_building_with_the_tag(void **state)
{
  char *plain, *tagged, *direct;
  size_t pl, tl, dl;

  (void)state;
  assert_int_equal(
      pacer_delayed_member_new("c", 9, 1, "", job, strlen(job), &plain, &pl),
      0);
  assert_int_equal(pacer_delayed_member_retag(plain, pl, "l", &tagged, &tl), 0);
  assert_int_equal(
      pacer_delayed_member_new("c", 9, 1, "l", job, strlen(job), &direct, &dl),
      0);
  assert_int_equal(tl, dl);
  assert_memory_equal(tagged, direct, dl);
  free(tagged);
  /* No tag, or no head: copied as is. */
  assert_int_equal(pacer_delayed_member_retag(plain, pl, "", &tagged, &tl), 0);
  assert_int_equal(tl, pl);
  assert_memory_equal(tagged, plain, pl);
  free(tagged);
  assert_int_equal(
      pacer_delayed_member_retag(job, strlen(job), "h", &tagged, &tl), 0);
  assert_string_equal(tagged, job);
  free(tagged);
  free(plain);
  free(direct);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(builds_the_normal_member_without_a_tag),
      cmocka_unit_test(carries_429s_and_the_tag),
      cmocka_unit_test(refuses_an_id_with_a_newline),
      cmocka_unit_test(parse_splits_what_new_builds),
      cmocka_unit_test(parse_refuses_a_bare_job),
      cmocka_unit_test(retag_matches_building_with_the_tag),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
