/* The finish script (store/lua/queue_finish.lua), as pacer embeds it, in
 * the fixture redis-server: n entries in one call (store/queue_finish.c),
 * each finished exactly as a call of its own: written (1), folded by its
 * job id's done-marker (2), no longer pending (0), fenced off because
 * another consumer owns it (-1), or its own error reply while the others
 * stand; and the whole call sent again (a lost reply) writes nothing
 * twice. Needs REDIS_SOCK (tests/integration/CMakeLists.txt).
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

#define MAXARGV 512
#define GROUP   "pacer"
#define ME      "me-1"

/* One entry of a call. */
struct ent {
  int stream;        /* 1 high, 2 normal, 3 low */
  char eid[64];      /* its entry id */
  const char *ack;   /* "1" or "0" */
  const char *jid;   /* job id */
  const char *state; /* "ok", "failed": a failed one gets a dead letter */
};

/* The test's keys: "<prefix><name>" in a static buffer of 8 slots. */
static char prefix[64];

static const char *
key(const char *name)
{
  static char buf[8][128];
  static int i;

  i = (i + 1) % 8;
  snprintf(buf[i], sizeof(buf[i]), "%s%s", prefix, name);
  return buf[i];
}

static redisReply *
cmd(redisContext *c, int argc, const char **argv)
{
  redisReply *r = redisCommandArgv(c, argc, argv, NULL);

  assert_non_null(r);
  return r;
}

static long long
cmd_int(redisContext *c, int argc, const char **argv)
{
  redisReply *r = cmd(c, argc, argv);
  long long v;

  assert_int_equal(r->type, REDIS_REPLY_INTEGER);
  v = r->integer;
  freeReplyObject(r);
  return v;
}

/* The stream key of stream index s. */
static const char *
stream_key(int s)
{
  return key(s == 1 ? "jobs:high" : s == 2 ? "jobs" : "jobs:low");
}

/* XADDs job jid to stream s and reads it as consumer who (NULL: not
 * read); the entry id goes to eid. */
static void
add(redisContext *c, int s, const char *jid, const char *who, char *eid)
{
  char job[128], sk[128];
  const char *xadd[] = {"XADD", sk, "*", "job", job, "id", jid};
  const char *rd[] = {"XREADGROUP", "GROUP",   GROUP, who, "COUNT",
                      "1",          "STREAMS", sk,    ">"};
  redisReply *r;

  snprintf(sk, sizeof(sk), "%s", stream_key(s));
  snprintf(job, sizeof(job), "{\"id\":\"%s\",\"url\":\"http://x/\"}", jid);
  r = cmd(c, 7, xadd);
  assert_int_equal(r->type, REDIS_REPLY_STRING);
  snprintf(eid, 64, "%s", r->str);
  freeReplyObject(r);
  if (who != NULL)
    freeReplyObject(cmd(c, 9, rd));
}

/* Runs the finish script on entries e[0..n); returns the reply (owned). */
static redisReply *
finish(redisContext *c, const struct ent *e, size_t n)
{
  const char *argv[MAXARGV];
  static char nk[16], bufs[64][8][256];
  int argc = 0;
  size_t i;

  snprintf(nk, sizeof(nk), "%zu", 7 + 4 * n);
  argv[argc++] = "EVAL";
  argv[argc++] = pacer_lua_queue_finish;
  argv[argc++] = nk;
  argv[argc++] = key("results");
  argv[argc++] = key("dead");
  argv[argc++] = key("cancel");
  argv[argc++] = key("donemarks:");
  argv[argc++] = key("jobs:high");
  argv[argc++] = key("jobs");
  argv[argc++] = key("jobs:low");
  for (i = 0; i < n; i++) {
    snprintf(bufs[i][0], 256, "%sdone:%s", prefix, e[i].jid);
    snprintf(bufs[i][1], 256, "%sresult:%s", prefix, e[i].jid);
    snprintf(bufs[i][2], 256, "%sdeadjob:%s", prefix, e[i].jid);
    snprintf(bufs[i][3], 256, "%sclaim:%s", prefix, e[i].jid);
    argv[argc++] = bufs[i][0];
    argv[argc++] = bufs[i][1];
    argv[argc++] = bufs[i][2];
    argv[argc++] = bufs[i][3];
  }
  argv[argc++] = GROUP;
  argv[argc++] = "1000";      /* results_maxlen */
  argv[argc++] = "1000";      /* dead_maxlen */
  argv[argc++] = "86400000";  /* done_ttl_ms */
  argv[argc++] = "86400000";  /* result_ttl_ms */
  argv[argc++] = "604800000"; /* dead_ttl_ms */
  argv[argc++] = ME;
  for (i = 0; i < n; i++) {
    int ok = strcmp(e[i].state, "ok") == 0;

    snprintf(bufs[i][4], 256, "%d", e[i].stream);
    argv[argc++] = bufs[i][4];
    argv[argc++] = e[i].eid;
    argv[argc++] = e[i].ack;
    argv[argc++] = e[i].jid;
    argv[argc++] = ok && strcmp(e[i].ack, "1") == 0 ? "1" : "0";
    argv[argc++] = "4";
    argv[argc++] = "id";
    argv[argc++] = e[i].jid;
    argv[argc++] = "state";
    argv[argc++] = e[i].state;
    argv[argc++] = ok ? "0" : "4";
    if (!ok) {
      argv[argc++] = "id";
      argv[argc++] = e[i].jid;
      argv[argc++] = "reason";
      argv[argc++] = "http_400";
    }
    assert_true(argc < MAXARGV - 32);
  }
  return cmd(c, argc, argv);
}

/* Asserts that reply r holds the codes want[0..n) (INT32_MIN: an error
 * reply in that place). */
static void
want_codes(const redisReply *r, const long long *want, size_t n)
{
  size_t i;

  assert_int_equal(r->type, REDIS_REPLY_ARRAY);
  assert_int_equal(r->elements, n);
  for (i = 0; i < n; i++) {
    if (want[i] == INT32_MIN) {
      assert_int_equal(r->element[i]->type, REDIS_REPLY_ERROR);
    } else {
      if (r->element[i]->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "entry %zu: %s\n", i + 1, r->element[i]->str);
      assert_int_equal(r->element[i]->type, REDIS_REPLY_INTEGER);
      assert_int_equal(r->element[i]->integer, want[i]);
    }
  }
}

/* Removes the test's keys. */
static void
cleanup(redisContext *c)
{
  const char *scan[] = {"KEYS", NULL};
  char pat[96];
  redisReply *r;
  size_t i;

  snprintf(pat, sizeof(pat), "%s*", prefix);
  scan[1] = pat;
  r = cmd(c, 2, scan);
  for (i = 0; i < r->elements; i++) {
    const char *del[] = {"DEL", r->element[i]->str};

    freeReplyObject(cmd(c, 2, del));
  }
  freeReplyObject(r);
}

static void
setup_streams(redisContext *c)
{
  int s;

  cleanup(c);
  for (s = 1; s <= 3; s++) {
    const char *g[] = {"XGROUP", "CREATE", stream_key(s),
                       GROUP,    "$",      "MKSTREAM"};

    freeReplyObject(cmd(c, 6, g));
  }
}

static long long
xlen(redisContext *c, const char *k)
{
  const char *a[] = {"XLEN", k};

  return cmd_int(c, 2, a);
}

static void
batch_of_mixed_outcomes_answers_each_entry_as_alone(void **state)
{
  /* ok (holding its claim, so its id's marker is not asked: written
   * although one exists), failed (dead letter, kept original, a cancel
   * request), folded by its done-marker (no claim), no longer pending,
   * owned by another consumer, ok from the high stream, and one without
   * the pending check (payload_lost): 1 1 2 0 -1 1 1, in one call. */
  redisContext *c = fixture_connect("finish_lua");
  struct ent e[7] = {
      {2, "", "1", "fa", "ok"},        {2, "", "1", "fb", "failed"},
      {2, "", "1", "fc", "ok"},        {2, "", "1", "fd", "ok"},
      {2, "", "1", "fe", "ok"},        {1, "", "1", "ff", "ok"},
      {3, "0-1", "0", "fg", "failed"},
  };
  static const long long want[7] = {1, 1, 2, 0, -1, 1, 1};
  char claim[128], bucket[128], t[24];
  const char *tm[] = {"TIME"};
  redisReply *r;

  (void)state;
  snprintf(prefix, sizeof(prefix), "pacer-finish:%ld:a:", (long)getpid());
  setup_streams(c);
  add(c, 2, "fa", ME, e[0].eid);
  add(c, 2, "fb", ME, e[1].eid);
  add(c, 2, "fc", ME, e[2].eid);
  add(c, 2, "fd", ME, e[3].eid);
  add(c, 2, "fe", "other", e[4].eid);
  add(c, 1, "ff", ME, e[5].eid);
  {
    const char *ack[] = {"XACK", key("jobs"), GROUP, e[3].eid};
    const char *setc[] = {"SET", key("claim:fa"), claim};
    const char *zadd[] = {"ZADD", key("cancel"), "1", "fb"};
    const char *hset[] = {"HSET", bucket, "fc", "1", "fa", "1"};

    assert_int_equal(cmd_int(c, 4, ack), 1);
    snprintf(claim, sizeof(claim), "%s %s", e[0].eid, key("jobs"));
    freeReplyObject(cmd(c, 3, setc));
    assert_int_equal(cmd_int(c, 4, zadd), 1);
    r = cmd(c, 1, tm);
    snprintf(t, sizeof(t), "%lld",
             strtoll(r->element[0]->str, NULL, 10) / 86400);
    freeReplyObject(r);
    snprintf(bucket, sizeof(bucket), "%sdonemarks:%s", prefix, t);
    assert_int_equal(cmd_int(c, 6, hset), 2);
  }
  r = finish(c, e, 7);
  want_codes(r, want, 7);
  freeReplyObject(r);
  /* fa, fb, ff and fg have a result; fb and fg a dead letter */
  assert_int_equal(xlen(c, key("results")), 4);
  assert_int_equal(xlen(c, key("dead")), 2);
  {
    const char *get[] = {"GET", key("result:fa")};
    const char *exists[] = {"EXISTS", key("claim:fa")};
    const char *zscore[] = {"ZSCORE", key("cancel"), "fb"};
    const char *hget[] = {"HGET", key("deadjob:fb"), "job"};
    const char *hex[] = {"HEXISTS", bucket, "fa"};
    const char *hexb[] = {"HEXISTS", bucket, "fb"};
    const char *pend[] = {"XPENDING", key("jobs"), GROUP};

    r = cmd(c, 2, get);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    assert_int_equal(cmd_int(c, 2, exists), 0);
    r = cmd(c, 3, zscore);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = cmd(c, 3, hget);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_non_null(strstr(r->str, "\"fb\""));
    freeReplyObject(r);
    assert_int_equal(cmd_int(c, 3, hex), 1);
    assert_int_equal(cmd_int(c, 3, hexb), 0);
    /* only fe, another consumer's, is still pending */
    r = cmd(c, 3, pend);
    assert_int_equal(r->element[0]->integer, 1);
    freeReplyObject(r);
  }
  /* fa fb fc deleted; fd (acked before) and fe stay */
  assert_int_equal(xlen(c, key("jobs")), 2);
  assert_int_equal(xlen(c, key("jobs:high")), 0);
  cleanup(c);
  redisFree(c);
}

static void
an_entry_error_stays_its_own_and_a_replay_writes_nothing_twice(void **state)
{
  /* The middle entry's kept-original key is a string: its HGET fails
   * before any write of it, the entries around it are written and acked.
   * The whole call sent again (as after a lost reply): 0 for those two,
   * the same error for the middle one, no second result. Once the key is
   * gone, the middle one goes through alone. */
  redisContext *c = fixture_connect("finish_lua");
  struct ent e[3] = {
      {2, "", "1", "ga", "ok"},
      {2, "", "1", "gb", "ok"},
      {2, "", "1", "gc", "failed"},
  };
  static const long long first[3] = {1, INT32_MIN, 1};
  static const long long replay[3] = {0, INT32_MIN, 0};
  static const long long fixed[3] = {0, 1, 0};
  static const long long again[3] = {0, 0, 0};
  const char *set[] = {"SET", NULL, "x"};
  const char *del[] = {"DEL", NULL};
  char dk[128];
  redisReply *r;

  (void)state;
  snprintf(prefix, sizeof(prefix), "pacer-finish:%ld:b:", (long)getpid());
  setup_streams(c);
  add(c, 2, "ga", ME, e[0].eid);
  add(c, 2, "gb", ME, e[1].eid);
  add(c, 2, "gc", ME, e[2].eid);
  snprintf(dk, sizeof(dk), "%s", key("deadjob:gb"));
  set[1] = dk;
  del[1] = dk;
  freeReplyObject(cmd(c, 3, set));
  r = finish(c, e, 3);
  want_codes(r, first, 3);
  assert_non_null(strstr(r->element[1]->str, "WRONGTYPE"));
  freeReplyObject(r);
  assert_int_equal(xlen(c, key("results")), 2);
  assert_int_equal(xlen(c, key("dead")), 1);
  r = finish(c, e, 3);
  want_codes(r, replay, 3);
  freeReplyObject(r);
  assert_int_equal(xlen(c, key("results")), 2);
  assert_int_equal(xlen(c, key("dead")), 1);
  assert_int_equal(cmd_int(c, 2, del), 1);
  r = finish(c, e, 3);
  want_codes(r, fixed, 3);
  freeReplyObject(r);
  r = finish(c, e, 3);
  want_codes(r, again, 3);
  freeReplyObject(r);
  assert_int_equal(xlen(c, key("results")), 3);
  assert_int_equal(xlen(c, key("dead")), 1);
  assert_int_equal(xlen(c, key("jobs")), 0);
  cleanup(c);
  redisFree(c);
}

static void
a_malformed_entry_runs_nothing_from_it_on(void **state)
{
  /* A stream index that is not 1, 2 or 3: that entry and those after it
   * get the error and are not run; the one before is written. */
  redisContext *c = fixture_connect("finish_lua");
  struct ent e[3] = {
      {2, "", "1", "ha", "ok"},
      {7, "", "1", "hb", "ok"},
      {2, "", "1", "hc", "ok"},
  };
  static const long long want[3] = {1, INT32_MIN, INT32_MIN};
  redisReply *r;

  (void)state;
  snprintf(prefix, sizeof(prefix), "pacer-finish:%ld:c:", (long)getpid());
  setup_streams(c);
  add(c, 2, "ha", ME, e[0].eid);
  add(c, 2, "hb", ME, e[1].eid);
  add(c, 2, "hc", ME, e[2].eid);
  r = finish(c, e, 3);
  want_codes(r, want, 3);
  freeReplyObject(r);
  assert_int_equal(xlen(c, key("results")), 1);
  assert_int_equal(xlen(c, key("jobs")), 2);
  cleanup(c);
  redisFree(c);
}

/* Today's marker bucket, <prefix>donemarks:<unix ms / 86400000>, in buf. */
static void
today_bucket(redisContext *c, char *buf, size_t size)
{
  const char *tm[] = {"TIME"};
  redisReply *r = cmd(c, 1, tm);

  snprintf(buf, size, "%sdonemarks:%lld", prefix,
           strtoll(r->element[0]->str, NULL, 10) / 86400);
  freeReplyObject(r);
}

static void
the_end_of_each_entry_is_sent_last_and_seen_by_those_after_it(void **state)
{
  /* The acks, deletes, claim deletions and markers go after the last
   * entry, but each entry sees those before it as if they were done: the
   * same entry twice in one call answers 0 the second time, and another
   * entry of the same job id (not holding the claim) is folded by the
   * marker the first one set (2). One result, nothing left pending. */
  redisContext *c = fixture_connect("finish_lua");
  struct ent e[3] = {
      {2, "", "1", "ia", "ok"},
      {2, "", "1", "ia", "ok"},
      {2, "", "1", "ia", "ok"},
  };
  static const long long want[3] = {1, 0, 2};
  char claim[128], bucket[128];
  const char *setc[] = {"SET", key("claim:ia"), claim};
  const char *pend[] = {"XPENDING", key("jobs"), GROUP};
  const char *hex[] = {"HEXISTS", bucket, "ia"};
  const char *exists[] = {"EXISTS", key("claim:ia")};
  redisReply *r;

  (void)state;
  snprintf(prefix, sizeof(prefix), "pacer-finish:%ld:d:", (long)getpid());
  setup_streams(c);
  setc[1] = key("claim:ia");
  exists[1] = key("claim:ia");
  pend[1] = key("jobs");
  add(c, 2, "ia", ME, e[0].eid);
  memcpy(e[1].eid, e[0].eid, sizeof(e[1].eid));
  add(c, 2, "ia", ME, e[2].eid);
  snprintf(claim, sizeof(claim), "%s %s", e[0].eid, key("jobs"));
  freeReplyObject(cmd(c, 3, setc));
  today_bucket(c, bucket, sizeof(bucket));
  r = finish(c, e, 3);
  want_codes(r, want, 3);
  freeReplyObject(r);
  assert_int_equal(xlen(c, key("results")), 1);
  assert_int_equal(xlen(c, key("jobs")), 0);
  assert_int_equal(cmd_int(c, 3, hex), 1);
  assert_int_equal(cmd_int(c, 2, exists), 0);
  r = cmd(c, 3, pend);
  assert_int_equal(r->element[0]->integer, 0);
  freeReplyObject(r);
  cleanup(c);
  redisFree(c);
}

static void
a_marker_bucket_of_another_type_refuses_before_any_write(void **state)
{
  /* Today's bucket is a string: the ok entry, which would mark, gets the
   * WRONGTYPE error with nothing written and stays pending; the failed
   * one, which marks nothing, is written. Once the key is gone the call
   * sent again writes the ok one (1) and not the failed one twice (0). */
  redisContext *c = fixture_connect("finish_lua");
  struct ent e[2] = {
      {2, "", "1", "ja", "ok"},
      {2, "", "1", "jb", "failed"},
  };
  static const long long first[2] = {INT32_MIN, 1};
  static const long long fixed[2] = {1, 0};
  char bucket[128], claim[2][128];
  const char *set[] = {"SET", bucket, "x"};
  const char *del[] = {"DEL", bucket};
  const char *setc[] = {"SET", NULL, NULL};
  const char *exists[] = {"EXISTS", NULL};
  redisReply *r;
  int i;

  (void)state;
  snprintf(prefix, sizeof(prefix), "pacer-finish:%ld:e:", (long)getpid());
  setup_streams(c);
  add(c, 2, "ja", ME, e[0].eid);
  add(c, 2, "jb", ME, e[1].eid);
  for (i = 0; i < 2; i++) { /* each holds its claim, as after intake */
    snprintf(claim[i], sizeof(claim[i]), "%s %s", e[i].eid, key("jobs"));
    setc[1] = key(i == 0 ? "claim:ja" : "claim:jb");
    setc[2] = claim[i];
    freeReplyObject(cmd(c, 3, setc));
  }
  today_bucket(c, bucket, sizeof(bucket));
  freeReplyObject(cmd(c, 3, set));
  r = finish(c, e, 2);
  want_codes(r, first, 2);
  assert_non_null(strstr(r->element[0]->str, "WRONGTYPE"));
  assert_non_null(strstr(r->element[0]->str, "donemarks:"));
  freeReplyObject(r);
  assert_int_equal(xlen(c, key("results")), 1);
  assert_int_equal(xlen(c, key("jobs")), 1);
  /* the refused entry keeps its claim; the written one released its */
  exists[1] = key("claim:ja");
  assert_int_equal(cmd_int(c, 2, exists), 1);
  exists[1] = key("claim:jb");
  assert_int_equal(cmd_int(c, 2, exists), 0);
  assert_int_equal(cmd_int(c, 2, del), 1);
  r = finish(c, e, 2);
  want_codes(r, fixed, 2);
  freeReplyObject(r);
  assert_int_equal(xlen(c, key("results")), 2);
  assert_int_equal(xlen(c, key("jobs")), 0);
  exists[1] = key("claim:ja");
  assert_int_equal(cmd_int(c, 2, exists), 0);
  cleanup(c);
  redisFree(c);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(batch_of_mixed_outcomes_answers_each_entry_as_alone),
      cmocka_unit_test(
          an_entry_error_stays_its_own_and_a_replay_writes_nothing_twice),
      cmocka_unit_test(a_malformed_entry_runs_nothing_from_it_on),
      cmocka_unit_test(
          the_end_of_each_entry_is_sent_last_and_seen_by_those_after_it),
      cmocka_unit_test(
          a_marker_bucket_of_another_type_refuses_before_any_write),
  };

  return cmocka_run_group_tests_name("finish_lua", tests, NULL, NULL) != 0;
}
