/* Unit tests for core/cred_env.c: which 401s are an environment mix-up
 * (docs/CREDENTIALS.md, Environments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/cred_env.h"

static void
a_refreshed_token_refused_by_a_new_host_is_a_mismatch(void **state)
{
  struct pacer_cred_env *env = calloc(1, sizeof(*env));

  (void)state;
  assert_non_null(env);
  /* the first 401: refresh (it may just have expired) */
  assert_int_equal(pacer_cred_env_mismatch(env, "api.example", 7, 0), 0);
  /* 401 again with a refreshed token, never accepted: mismatch */
  assert_int_equal(pacer_cred_env_mismatch(env, "api.example", 7, 1), 1);
  /* from now on the first 401 says so at once: no refresh loop */
  assert_int_equal(pacer_cred_env_mismatch(env, "api.example", 7, 0), 1);
  /* another host is judged on its own */
  assert_int_equal(pacer_cred_env_mismatch(env, "other.example", 7, 0), 0);
  /* a host that accepts a token again is back to normal */
  pacer_cred_env_accepted(env, "api.example");
  assert_int_equal(pacer_cred_env_mismatch(env, "api.example", 7, 0), 0);
  assert_int_equal(pacer_cred_env_mismatch(env, "api.example", 7, 1), 0);
  free(env);
}

/* tests/integration/test_cred_env.sh case 4 in CI: five jobs, the first
 * 401s refreshed to generation 5, and a job first sent with generation 5
 * (not a replay) refreshed again, and so did the next: a refresh per
 * job instead of one. */
static void
a_newer_token_refused_by_a_suspect_host_is_a_mismatch(void **state)
{
  struct pacer_cred_env *env = calloc(1, sizeof(*env));

  (void)state;
  assert_non_null(env);
  /* two jobs in flight with generation 4: both just refresh */
  assert_int_equal(pacer_cred_env_mismatch(env, "api.example", 4, 0), 0);
  assert_int_equal(pacer_cred_env_mismatch(env, "api.example", 4, 0), 0);
  assert_int_equal(pacer_cred_env_refused(env, "api.example"), 0);
  /* a job first sent with the refreshed generation 5 is refused too */
  assert_int_equal(pacer_cred_env_mismatch(env, "api.example", 5, 0), 1);
  assert_int_equal(pacer_cred_env_refused(env, "api.example"), 1);
  /* an older generation at another host only makes it suspect */
  assert_int_equal(pacer_cred_env_mismatch(env, "other.example", 5, 0), 0);
  assert_int_equal(pacer_cred_env_mismatch(env, "other.example", 4, 0), 0);
  assert_int_equal(pacer_cred_env_refused(env, "other.example"), 0);
  /* accepted clears the suspicion, and a host that accepted is no mix-up */
  pacer_cred_env_accepted(env, "other.example");
  assert_int_equal(pacer_cred_env_mismatch(env, "other.example", 9, 0), 0);
  assert_int_equal(env->nsuspect, 0);
  free(env);
}

static void
a_host_that_accepted_a_token_is_never_a_mismatch(void **state)
{
  struct pacer_cred_env *env = calloc(1, sizeof(*env));

  (void)state;
  assert_non_null(env);
  pacer_cred_env_accepted(env, "api.example");
  assert_int_equal(pacer_cred_env_mismatch(env, "api.example", 7, 1), 0);
  assert_int_equal(pacer_cred_env_mismatch(env, NULL, 7, 1), 0);
  pacer_cred_env_accepted(env, NULL); /* ignored */
  free(env);
}

static void
the_lists_keep_the_newest_hosts(void **state)
{
  struct pacer_cred_env *env = calloc(1, sizeof(*env));
  char host[32];
  int i;

  (void)state;
  assert_non_null(env);
  for (i = 0; i < PACER_CRED_ENV_HOSTS + 3; i++) {
    snprintf(host, sizeof(host), "h%d.example", i);
    pacer_cred_env_accepted(env, host);
    pacer_cred_env_accepted(env, host); /* once */
  }
  assert_int_equal(env->naccepted, PACER_CRED_ENV_HOSTS);
  assert_int_equal(pacer_cred_env_mismatch(env, "h0.example", 7, 1), 1);
  snprintf(host, sizeof(host), "h%d.example", PACER_CRED_ENV_HOSTS + 2);
  assert_int_equal(pacer_cred_env_mismatch(env, host, 7, 1), 0);
  free(env);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_refreshed_token_refused_by_a_new_host_is_a_mismatch),
      cmocka_unit_test(a_newer_token_refused_by_a_suspect_host_is_a_mismatch),
      cmocka_unit_test(a_host_that_accepted_a_token_is_never_a_mismatch),
      cmocka_unit_test(the_lists_keep_the_newest_hosts),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
