/* The operator pause of every limit bucket in Redis (`pacer pause --all`,
 * store/control.h): store/lua/limit_oppause_all.lua sets, reads and ends
 * <prefix>oppause, and store/lua/limit_take.lua honours it like a
 * bucket's own op_until, also for a bucket that has no state yet. The
 * very script text pacer embeds runs in the fixture redis-server; the
 * take gets a virtual clock (its trailing now_us). core/gcra.c does not
 * model operator pauses (test gcra_diff passes this key unset). Needs
 * REDIS_SOCK (tests/integration/CMakeLists.txt).
 */
/* cmocka.h needs these four first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "fixture_conn.h"

#include "common/util.h"
#include "store/lua_scripts.h"

#define T0_US      UINT64_C(1700000000000000) /* virtual start, unix us */
#define FOREVER_US "4503599627370496"         /* PACER_KEYS_OP_FOREVER_US */

/* One take from a 10/s bucket (burst 0), at virtual now_us (0: Redis'
 * own clock); returns the reply (owned), of any type. */
static redisReply *
take_raw(redisContext *c, const char *key, const char *akey, uint64_t now_us)
{
  char now[24];
  const char *take[] = {"EVAL",    pacer_lua_limit_take,
                        "2",       key,
                        akey,      "1",
                        "250000",  "100000",
                        "0",       "1",
                        "0",       "100000",
                        "1000000", now};
  redisReply *rep;

  snprintf(now, sizeof(now), "%" PRIu64, now_us);
  rep = redisCommandArgv(c, (int)PACER_ARRAY_SIZE(take), take, NULL);
  assert_non_null(rep);
  return rep;
}

/* The same, whose reply must be an array (slots, or a wait). */
static redisReply *
take_at(redisContext *c, const char *key, const char *akey, uint64_t now_us)
{
  redisReply *rep = take_raw(c, key, akey, now_us);

  assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
  return rep;
}

static void
take_waits_while_every_bucket_is_paused(void **state)
{
  /* `pacer pause --all` (<prefix>oppause, store/lua/limit_oppause_all.lua)
   * holds a bucket that has no state yet, like its own op_until: a wait
   * of at most 1 s (OP_RECHECK_US) with the operator's reason, and
   * nothing written. Its end, or its deletion, lets the take through. */
  redisContext *c = fixture_connect("oppause");
  char key[96], akey[96], until[24];
  const char *del[] = {"DEL", key, akey};
  const char *delall[] = {"DEL", akey};
  const char *set[] = {"SET", akey, until};
  const char *exists[] = {"EXISTS", key};
  redisReply *rep;
  uint64_t now = T0_US;

  (void)state;
  snprintf(key, sizeof(key), "pacer-oppause:%ld:limit:acct:new",
           (long)getpid());
  snprintf(akey, sizeof(akey), "pacer-oppause:%ld:oppause", (long)getpid());
  freeReplyObject(redisCommandArgv(c, 3, del, NULL));
  /* until resumed (2^52 us): a wait of 1 s, the bucket untouched */
  snprintf(until, sizeof(until), "4503599627370496");
  freeReplyObject(redisCommandArgv(c, 3, set, NULL));
  rep = take_at(c, key, akey, now);
  assert_int_equal(rep->elements, 3);
  assert_int_equal(rep->element[0]->integer, 0);
  assert_int_equal(rep->element[1]->integer, 1000000);
  assert_string_equal(rep->element[2]->str, "paused by an operator");
  freeReplyObject(rep);
  rep = redisCommandArgv(c, 2, exists, NULL);
  assert_int_equal(rep->integer, 0);
  freeReplyObject(rep);
  /* 300 ms left: a wait of exactly that */
  snprintf(until, sizeof(until), "%" PRIu64, now + 300000);
  freeReplyObject(redisCommandArgv(c, 3, set, NULL));
  rep = take_at(c, key, akey, now);
  assert_int_equal(rep->element[0]->integer, 0);
  assert_int_equal(rep->element[1]->integer, 300000);
  assert_string_equal(rep->element[2]->str, "paused by an operator");
  freeReplyObject(rep);
  /* at its end: one slot, now */
  rep = take_at(c, key, akey, now + 300000);
  assert_int_equal(rep->element[0]->integer, 1);
  assert_int_equal(rep->element[1]->integer, 0);
  freeReplyObject(rep);
  /* resumed (the key deleted) */
  freeReplyObject(redisCommandArgv(c, 2, delall, NULL));
  rep = take_at(c, key, akey, now + 400000);
  assert_int_equal(rep->element[0]->integer, 1);
  freeReplyObject(rep);
  freeReplyObject(redisCommandArgv(c, 3, del, NULL));
  redisFree(c);
}
/* Runs limit_oppause_all.lua with op and for_ms; returns the reply
 * (owned). */
static redisReply *
oppause_all(redisContext *c, const char *akey, const char *op,
            const char *for_ms)
{
  const char *argv[] = {
      "EVAL", pacer_lua_limit_oppause_all, "1", akey, op, for_ms, FOREVER_US};
  redisReply *rep =
      redisCommandArgv(c, (int)PACER_ARRAY_SIZE(argv), argv, NULL);

  assert_non_null(rep);
  assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
  return rep;
}

static void
pause_all_keeps_its_end_and_resume_ends_it(void **state)
{
  redisContext *c = fixture_connect("oppause");
  char akey[96];
  const char *get[] = {"GET", akey};
  const char *pttl[] = {"PTTL", akey};
  redisReply *rep, *t;
  long long now;

  (void)state;
  snprintf(akey, sizeof(akey), "pacer-oppause:%ld:oppause", (long)getpid());
  /* until resumed: 2^52 us, no expiry; read gives it back */
  rep = oppause_all(c, akey, "pause", "0");
  assert_int_equal(rep->elements, 2);
  assert_int_equal(rep->element[0]->integer, 4503599627370496LL);
  freeReplyObject(rep);
  t = redisCommandArgv(c, 2, get, NULL);
  assert_string_equal(t->str, FOREVER_US);
  freeReplyObject(t);
  t = redisCommandArgv(c, 2, pttl, NULL);
  assert_int_equal(t->integer, -1);
  freeReplyObject(t);
  rep = oppause_all(c, akey, "read", "0");
  assert_int_equal(rep->element[0]->integer, 4503599627370496LL);
  freeReplyObject(rep);
  /* a later pause for 90 s replaces it: Redis now + 90 s, expiring then */
  rep = oppause_all(c, akey, "pause", "90000");
  now = rep->element[1]->integer;
  assert_int_equal(rep->element[0]->integer, now + 90000000LL);
  freeReplyObject(rep);
  t = redisCommandArgv(c, 2, pttl, NULL);
  assert_true(t->integer > 85000 && t->integer <= 90000);
  freeReplyObject(t);
  /* resume: 1 while on, then the key is gone, a second resume gives 0
   * and read gives 0 */
  rep = oppause_all(c, akey, "resume", "0");
  assert_int_equal(rep->integer, 1);
  freeReplyObject(rep);
  t = redisCommandArgv(c, 2, get, NULL);
  assert_int_equal(t->type, REDIS_REPLY_NIL);
  freeReplyObject(t);
  rep = oppause_all(c, akey, "resume", "0");
  assert_int_equal(rep->integer, 0);
  freeReplyObject(rep);
  rep = oppause_all(c, akey, "read", "0");
  assert_int_equal(rep->element[0]->integer, 0);
  freeReplyObject(rep);
  redisFree(c);
}

static void
a_wrong_type_oppause_key_is_named_and_resume_all_deletes_it(void **state)
{
  /* Not a key pacer wrote: every take answers an error that names it
   * (instead of a Lua line number), `pause --all` would replace it and
   * `resume --all` deletes it (and says a pause was on). */
  redisContext *c = fixture_connect("oppause");
  char key[96], akey[96];
  const char *del[] = {"DEL", key, akey};
  const char *hset[] = {"HSET", akey, "a", "b"};
  const char *read[] = {
      "EVAL", pacer_lua_limit_oppause_all, "1", akey, "read", "0", FOREVER_US};
  redisReply *rep;

  (void)state;
  snprintf(key, sizeof(key), "pacer-oppause:%ld:limit:acct:wt", (long)getpid());
  snprintf(akey, sizeof(akey), "pacer-oppause:%ld:oppause", (long)getpid());
  freeReplyObject(redisCommandArgv(c, 3, del, NULL));
  freeReplyObject(redisCommandArgv(c, 4, hset, NULL));
  rep = take_raw(c, key, akey, 0);
  assert_int_equal(rep->type, REDIS_REPLY_ERROR);
  assert_non_null(strstr(rep->str, akey));
  assert_non_null(strstr(rep->str, "is a hash"));
  freeReplyObject(rep);
  rep = redisCommandArgv(c, (int)PACER_ARRAY_SIZE(read), read, NULL);
  assert_non_null(rep);
  assert_int_equal(rep->type, REDIS_REPLY_ERROR);
  assert_non_null(strstr(rep->str, akey));
  freeReplyObject(rep);
  /* resume --all: deleted, and the take goes through */
  rep = oppause_all(c, akey, "resume", "0");
  assert_int_equal(rep->integer, 1);
  freeReplyObject(rep);
  rep = take_at(c, key, akey, T0_US);
  assert_int_equal(rep->element[0]->integer, 1);
  freeReplyObject(rep);
  /* pause --all over a wrong type replaces it */
  freeReplyObject(redisCommandArgv(c, 4, hset, NULL));
  rep = oppause_all(c, akey, "pause", "0");
  assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
  freeReplyObject(rep);
  rep = oppause_all(c, akey, "resume", "0");
  assert_int_equal(rep->integer, 1);
  freeReplyObject(rep);
  freeReplyObject(redisCommandArgv(c, 3, del, NULL));
  redisFree(c);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pause_all_keeps_its_end_and_resume_ends_it),
      cmocka_unit_test(take_waits_while_every_bucket_is_paused),
      cmocka_unit_test(
          a_wrong_type_oppause_key_is_named_and_resume_all_deletes_it),
  };

  return cmocka_run_group_tests_name("oppause", tests, NULL, NULL) != 0;
}
