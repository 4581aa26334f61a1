/* The shared redis-server of the integration tests (redis_fixture.sh,
 * tests/integration/CMakeLists.txt sets REDIS_SOCK), for cmocka tests that
 * run Lua scripts in it: test_gcra_diff.c, test_oppause.c. Include after
 * cmocka.h and hiredis.h. */
#ifndef PACER_TESTS_FIXTURE_CONN_H
#define PACER_TESTS_FIXTURE_CONN_H

#include <stdio.h>
#include <stdlib.h>

/* Connects to the fixture's unix socket $REDIS_SOCK; fails the test (with
 * what, on stderr, prefixed by who) when it is unset or refuses. Returns
 * the context (owned: redisFree). */
static redisContext *
fixture_connect(const char *who)
{
  const char *sock = getenv("REDIS_SOCK");
  redisContext *c;

  if (sock == NULL || sock[0] == '\0') {
    fprintf(stderr, "%s: REDIS_SOCK is not set\n", who);
    fail();
  }
  c = redisConnectUnix(sock);
  assert_non_null(c);
  if (c->err) {
    fprintf(stderr, "%s: %s: %s\n", who, sock, c->errstr);
    fail();
  }
  return c;
}

#endif
