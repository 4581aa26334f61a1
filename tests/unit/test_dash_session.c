/* Unit tests for server/dash_session.c: the dashboard's browser sessions
 * (docs/METRICS.md "Logging in from a browser"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "server/dash_session.h"

static struct pacer_dash_sessions t;

static int
setup(void **state)
{
  (void)state;
  memset(&t, 0, sizeof(t));
  return sodium_init() < 0 ? -1 : 0;
}

/* A session has a 64-hex id and a different 64-hex CSRF token, and is
 * found by its id until it expires. */
static void
test_open_find_expire(void **state)
{
  const struct pacer_dash_session *s, *f;
  char id[PACER_DASH_SESSION_HEX + 1];

  (void)state;
  s = pacer_dash_session_open(&t, 1000);
  assert_int_equal(strlen(s->id), PACER_DASH_SESSION_HEX);
  assert_int_equal(strlen(s->csrf), PACER_DASH_SESSION_HEX);
  assert_int_equal(strspn(s->id, "0123456789abcdef"), PACER_DASH_SESSION_HEX);
  assert_string_not_equal(s->id, s->csrf);
  memcpy(id, s->id, sizeof(id));
  f = pacer_dash_session_find(&t, id, 2000);
  assert_ptr_equal(f, s);
  assert_null(
      pacer_dash_session_find(&t, id, 1000 + PACER_DASH_SESSION_TTL_MS));
  /* Expired is gone for good, even asked with an earlier clock. */
  assert_null(pacer_dash_session_find(&t, id, 2000));
}

/* Malformed, unknown, NULL and closed ids find nothing. */
static void
test_unknown_and_close(void **state)
{
  const struct pacer_dash_session *s;
  char id[PACER_DASH_SESSION_HEX + 1], other[PACER_DASH_SESSION_HEX + 1];

  (void)state;
  s = pacer_dash_session_open(&t, 0);
  memcpy(id, s->id, sizeof(id));
  assert_null(pacer_dash_session_find(&t, NULL, 1));
  assert_null(pacer_dash_session_find(&t, "", 1));
  assert_null(pacer_dash_session_find(&t, "abc", 1));
  memcpy(other, id, sizeof(other));
  other[0] = other[0] == 'a' ? 'b' : 'a';
  assert_null(pacer_dash_session_find(&t, other, 1));
  /* The CSRF token is not a session id. */
  assert_null(pacer_dash_session_find(&t, s->csrf, 1));
  pacer_dash_session_close(&t, id);
  assert_null(pacer_dash_session_find(&t, id, 1));
  pacer_dash_session_close(&t, id); /* twice: nothing */
}

/* A full table drops the session that expires first, and only it. */
static void
test_full_table(void **state)
{
  char ids[PACER_DASH_SESSION_MAX + 1][PACER_DASH_SESSION_HEX + 1];
  size_t i;

  (void)state;
  for (i = 0; i <= PACER_DASH_SESSION_MAX; i++)
    memcpy(ids[i], pacer_dash_session_open(&t, 10 + i)->id,
           PACER_DASH_SESSION_HEX + 1);
  assert_null(pacer_dash_session_find(&t, ids[0], 100));
  for (i = 1; i <= PACER_DASH_SESSION_MAX; i++)
    assert_non_null(pacer_dash_session_find(&t, ids[i], 100));
  pacer_dash_sessions_wipe(&t);
  assert_null(pacer_dash_session_find(&t, ids[1], 100));
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_open_find_expire, setup),
      cmocka_unit_test_setup(test_unknown_and_close, setup),
      cmocka_unit_test_setup(test_full_table, setup),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
