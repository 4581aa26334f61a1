/* The credential store. See cred_store.h, and store/keys.h for the keys. */
#include "store/cred_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/redis_uv.h"
#include "store/script.h"

#define SUB_RECONNECT_MS 1000u /* subscriber reconnect, ms */

void
pacer_cred_keys_init(struct pacer_cred_keys *k, const char *prefix,
                     const char *name)
{
  snprintf(k->hash, sizeof(k->hash), "%s" PACER_KEYS_CRED_HASH "%s", prefix,
           name);
  snprintf(k->lock, sizeof(k->lock), "%s" PACER_KEYS_CRED_LOCK "%s", prefix,
           name);
  snprintf(k->chan, sizeof(k->chan), "%s" PACER_KEYS_CRED_CHAN "%s", prefix,
           name);
}

/* ------------------------------------------------------------------ */
/* Asynchronous scripts */

/* One call's callback, freed when the reply has been handed on. */
struct call {
  pacer_cred_store_try_cb try_cb;
  pacer_cred_store_int_cb int_cb;
  void *privdata;
};

static uint64_t
reply_u64(const redisReply *r)
{
  if (r->type == REDIS_REPLY_INTEGER)
    return r->integer > 0 ? (uint64_t)r->integer : 0;
  if (r->type == REDIS_REPLY_STRING)
    return strtoull(r->str, NULL, 10);
  return 0;
}

static void
on_try(struct pacer_queue *q, const redisReply *r, void *privdata)
{
  struct call cl = *(struct call *)privdata;
  struct pacer_cred_fsm_try t;
  const char *rt = NULL, *tok = NULL;
  size_t rt_len = 0, tok_len = 0;

  (void)q;
  free(privdata);
  if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
      r->element[0]->type != REDIS_REPLY_INTEGER) {
    cl.try_cb(cl.privdata, NULL, NULL, 0, NULL, 0);
    return;
  }
  memset(&t, 0, sizeof(t));
  t.code = (int)r->element[0]->integer;
  t.gen = reply_u64(r->element[1]); /* code 0: the lock's PTTL */
  switch (t.code) {
  case 1: /* {1, gen, refresh_token, lifetime_s} */
    if (r->elements >= 4 && r->element[2]->type == REDIS_REPLY_STRING &&
        r->element[2]->len > 0) {
      rt = r->element[2]->str;
      rt_len = r->element[2]->len;
    }
    if (r->elements >= 4)
      t.lifetime_s = reply_u64(r->element[3]);
    break;
  case 3: /* {3, gen, access_token, expires_at_ms, lifetime_s} */
    if (r->elements >= 5 && r->element[2]->type == REDIS_REPLY_STRING) {
      tok = r->element[2]->str;
      tok_len = r->element[2]->len;
      t.expires_unix_ms = reply_u64(r->element[3]);
      t.lifetime_s = reply_u64(r->element[4]);
    }
    break;
  default:
    break;
  }
  cl.try_cb(cl.privdata, &t, rt, rt_len, tok, tok_len);
}

static void
on_int(struct pacer_queue *q, const redisReply *r, void *privdata)
{
  struct call cl = *(struct call *)privdata;

  (void)q;
  free(privdata);
  if (cl.int_cb == NULL)
    return;
  if (r == NULL)
    cl.int_cb(cl.privdata, PACER_CRED_FSM_REPLY_LOST, 0);
  else if (r->type != REDIS_REPLY_INTEGER)
    cl.int_cb(cl.privdata, PACER_CRED_FSM_REPLY_OTHER, 0);
  else
    cl.int_cb(cl.privdata, PACER_CRED_FSM_REPLY_INT, (int64_t)r->integer);
}

static int
eval(struct pacer_queue *q, const char *script, int nkeys,
     const char *const *keys, int nargs, const char **args,
     pacer_cred_store_try_cb try_cb, pacer_cred_store_int_cb int_cb,
     void *privdata)
{
  struct call *cl = malloc(sizeof(*cl));

  if (cl == NULL)
    return PACER_ENOMEM;
  cl->try_cb = try_cb;
  cl->int_cb = int_cb;
  cl->privdata = privdata;
  if (pacer_queue_eval_reply(q, script, nkeys, keys, nargs, args, NULL,
                             try_cb != NULL ? on_try : on_int, cl) != 0) {
    free(cl);
    return PACER_EREDIS;
  }
  return 0;
}

int
pacer_cred_store_try(struct pacer_queue *q, const struct pacer_cred_keys *k,
                     const char *lockval, uint32_t ttl_ms, int64_t stale_gen,
                     uint64_t skew_ms, int need, pacer_cred_store_try_cb cb,
                     void *privdata)
{
  const char *keys[2] = {k->hash, k->lock};
  const char *args[6];
  char ttl[24], stale[24], skew[24];

  snprintf(ttl, sizeof(ttl), "%" PRIu32, ttl_ms);
  snprintf(stale, sizeof(stale), "%" PRId64, stale_gen);
  snprintf(skew, sizeof(skew), "%" PRIu64, skew_ms);
  args[0] = lockval;
  args[1] = ttl;
  args[2] = stale;
  args[3] = skew;
  args[4] = k->chan;
  args[5] = need ? "need" : "sync";
  return eval(q, pacer_lua_cred_try, 2, keys, 6, args, cb, NULL, privdata);
}

int
pacer_cred_store_keepalive(struct pacer_queue *q,
                           const struct pacer_cred_keys *k, const char *lockval,
                           uint32_t ttl_ms, pacer_cred_store_int_cb cb,
                           void *privdata)
{
  const char *keys[1] = {k->lock};
  const char *args[2];
  char ttl[24];

  snprintf(ttl, sizeof(ttl), "%" PRIu32, ttl_ms);
  args[0] = lockval;
  args[1] = ttl;
  return eval(q, pacer_lua_cred_keepalive, 1, keys, 2, args, NULL, cb,
              privdata);
}

int
pacer_cred_store_send_fence(struct pacer_queue *q,
                            const struct pacer_cred_keys *k,
                            const char *lockval, unsigned attempt, int known,
                            uint32_t ttl_ms, pacer_cred_store_int_cb cb,
                            void *privdata)
{
  const char *keys[2] = {k->hash, k->lock};
  const char *args[4];
  char id[64], ttl[24];

  snprintf(id, sizeof(id), "%s:%u", lockval, attempt);
  snprintf(ttl, sizeof(ttl), "%" PRIu32, ttl_ms);
  args[0] = lockval;
  args[1] = id;
  args[2] = known ? "1" : "0";
  args[3] = ttl;
  return eval(q, pacer_lua_cred_send, 2, keys, 4, args, NULL, cb, privdata);
}

int
pacer_cred_store_commit(struct pacer_queue *q, const struct pacer_cred_keys *k,
                        const char *lockval, const char *access_token,
                        uint64_t expires_unix_ms, const char *refresh_token,
                        uint64_t lifetime_s, uint64_t lock_gen,
                        pacer_cred_store_int_cb cb, void *privdata)
{
  const char *keys[2] = {k->hash, k->lock};
  const char *args[7];
  char exp[24], life[24], lg[24];

  snprintf(lg, sizeof(lg), "%" PRIu64, lock_gen);
  snprintf(exp, sizeof(exp), "%" PRIu64, expires_unix_ms);
  snprintf(life, sizeof(life), "%" PRIu64, lifetime_s);
  args[0] = lockval;
  args[1] = access_token;
  args[2] = exp;
  args[3] = refresh_token != NULL ? refresh_token : "";
  args[4] = life;
  args[5] = k->chan;
  args[6] = lg;
  return eval(q, pacer_lua_cred_commit, 2, keys, 7, args, NULL, cb, privdata);
}

int
pacer_cred_store_fail(struct pacer_queue *q, const struct pacer_cred_keys *k,
                      const char *lockval, const char *status,
                      const char *last_error, int release, int known,
                      uint64_t lock_gen, pacer_cred_store_int_cb cb,
                      void *privdata)
{
  const char *keys[2] = {k->hash, k->lock};
  const char *args[7];
  char lg[24];

  snprintf(lg, sizeof(lg), "%" PRIu64, lock_gen);
  args[0] = lockval;
  args[1] = status;
  args[2] = last_error;
  args[3] = k->chan;
  args[4] = release ? "1" : "0";
  args[5] = lg;
  args[6] = known ? "1" : "0";
  return eval(q, pacer_lua_cred_fail, 2, keys, 7, args, NULL, cb, privdata);
}

/* ------------------------------------------------------------------ */
/* Events: PSUBSCRIBE <prefix>credev:* on a connection of our own */

struct pacer_cred_sub {
  uv_loop_t *loop;
  char pattern[PACER_CRED_KEY_MAX];
  struct pacer_redis_addr addr;
  pacer_cred_sub_event_cb on_event;
  pacer_cred_sub_up_cb on_up;
  void *arg;
  redisAsyncContext *ac;
  uv_timer_t timer; /* reconnect */
  int closing;
};

static void sub_connect(struct pacer_cred_sub *s);

static void
on_sub_timer(uv_timer_t *t)
{
  sub_connect(t->data);
}

static void
on_sub_message(redisAsyncContext *ac, void *reply, void *privdata)
{
  struct pacer_cred_sub *s = privdata;
  const redisReply *r = reply;

  (void)ac;
  if (s->closing || r == NULL || r->type != REDIS_REPLY_ARRAY ||
      r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
    return;
  if (strcmp(r->element[0]->str, "psubscribe") == 0) {
    s->on_up(s->arg);
    return;
  }
  if (strcmp(r->element[0]->str, "pmessage") != 0 || r->elements < 4 ||
      r->element[2]->type != REDIS_REPLY_STRING)
    return;
  s->on_event(s->arg, r->element[2]->str,
              r->element[3]->type == REDIS_REPLY_STRING ? r->element[3]->str
                                                        : NULL);
}

static void
on_sub_connect(const redisAsyncContext *ac, int status)
{
  struct pacer_cred_sub *s = ac->data;

  if (status != REDIS_OK) {
    s->ac = NULL; /* hiredis frees it */
    if (!s->closing)
      uv_timer_start(&s->timer, on_sub_timer, SUB_RECONNECT_MS, 0);
  }
}

static void
on_sub_disconnect(const redisAsyncContext *ac, int status)
{
  struct pacer_cred_sub *s = ac->data;

  (void)status;
  s->ac = NULL;
  if (!s->closing)
    uv_timer_start(&s->timer, on_sub_timer, SUB_RECONNECT_MS, 0);
}

static void
sub_connect(struct pacer_cred_sub *s)
{
  redisAsyncContext *ac;
  struct pacer_error err;
  const char *argv[2] = {"PSUBSCRIBE", s->pattern};
  size_t argvlen[2] = {10, strlen(s->pattern)};

  if (s->closing || s->ac != NULL)
    return;
  /* The one async connect (store/redis_uv.h): AUTH and SELECT go first. A
   * refused AUTH drops the connection, and the disconnect callback
   * reconnects after SUB_RECONNECT_MS. */
  ac = pacer_redis_async_connect(s->loop, &s->addr, s, on_sub_connect,
                                 on_sub_disconnect, NULL, &err);
  if (ac == NULL) {
    uv_timer_start(&s->timer, on_sub_timer, SUB_RECONNECT_MS, 0);
    return;
  }
  s->ac = ac;
  if (redisAsyncCommandArgv(ac, on_sub_message, s, 2, argv, argvlen) !=
      REDIS_OK) {
    s->ac = NULL;
    redisAsyncFree(ac); /* not connected yet: no disconnect callback */
    uv_timer_start(&s->timer, on_sub_timer, SUB_RECONNECT_MS, 0);
  }
}

int
pacer_cred_sub_new(uv_loop_t *loop, const char *redis_url, const char *prefix,
                   pacer_cred_sub_event_cb on_event, pacer_cred_sub_up_cb on_up,
                   void *arg, struct pacer_cred_sub **out)
{
  struct pacer_cred_sub *s = calloc(1, sizeof(*s));
  struct pacer_error err;

  *out = NULL;
  if (s == NULL)
    return PACER_ENOMEM;
  s->loop = loop;
  s->on_event = on_event;
  s->on_up = on_up;
  s->arg = arg;
  snprintf(s->pattern, sizeof(s->pattern), "%s" PACER_KEYS_CRED_PSUB, prefix);
  if (pacer_redis_addr_parse(redis_url, &s->addr, &err) != 0 ||
      pacer_redis_addr_route(&s->addr, prefix, &err) != 0)
    memset(&s->addr, 0, sizeof(s->addr));
  uv_timer_init(loop, &s->timer);
  s->timer.data = s;
  *out = s;
  return 0;
}

void
pacer_cred_sub_start(struct pacer_cred_sub *s)
{
  sub_connect(s);
}

static void
on_sub_closed(uv_handle_t *h)
{
  struct pacer_cred_sub *s = h->data;

  sodium_memzero(&s->addr, sizeof(s->addr));
  free(s);
}

void
pacer_cred_sub_close(struct pacer_cred_sub *s)
{
  if (s == NULL)
    return;
  s->closing = 1;
  if (s->ac != NULL) {
    redisAsyncContext *ac = s->ac;

    s->ac = NULL;
    redisAsyncFree(ac); /* runs on_sub_disconnect, which sees closing */
  }
  uv_close((uv_handle_t *)&s->timer, on_sub_closed);
}

/* ------------------------------------------------------------------ */
/* Synchronous: the commands */

/* Runs cred_set.lua: tok (tok_len bytes) is the refresh token; access
 * (NULL: none) its access token with expiry and lifetime. */
static int
run_set(redisContext *c, const char *prefix, const char *name, const char *tok,
        size_t tok_len, const char *access, uint64_t expires_unix_ms,
        uint64_t lifetime_s, struct pacer_cred_set_result *out,
        struct pacer_error *err)
{
  struct pacer_cred_keys k;
  char park[32], dkey[PACER_CRED_KEY_MAX], exp[24], life[24];
  const char *argv[13];
  size_t lens[13];
  redisReply *r;
  int rc = 0, i, argc = 10;

  pacer_cred_keys_init(&k, prefix, name);
  snprintf(dkey, sizeof(dkey), "%s" PACER_KEYS_DELAYED, prefix);
  snprintf(park, sizeof(park), "%lld", PACER_KEYS_PARK_SCORE_MS);
  snprintf(exp, sizeof(exp), "%" PRIu64, expires_unix_ms);
  snprintf(life, sizeof(life), "%" PRIu64, lifetime_s);
  argv[0] = "EVAL";
  argv[1] = pacer_lua_cred_set;
  argv[2] = "3";
  argv[3] = k.hash;
  argv[4] = dkey;
  argv[5] = k.lock;
  argv[6] = tok;
  argv[7] = name;
  argv[8] = park;
  argv[9] = k.chan;
  if (access != NULL) {
    argv[10] = access;
    argv[11] = exp;
    argv[12] = life;
    argc = 13;
  }
  for (i = 0; i < argc; i++)
    lens[i] = i == 6 ? tok_len : strlen(argv[i]);
  r = pacer_script_command(c, argc, argv, lens);
  if (r == NULL)
    return pacer_error_set(err, PACER_EREDIS, "redis: cred set: %s",
                           c->errstr[0] != '\0' ? c->errstr : "no reply");
  if (r->type == REDIS_REPLY_ERROR) {
    /* Redis does not echo script arguments, but make sure. */
    const char *text = strstr(r->str, tok) != NULL ||
                               (access != NULL && strstr(r->str, access))
                           ? "script failed"
                           : r->str;

    rc = pacer_error_set(err, PACER_EREDIS, "redis: cred set: %s", text);
  } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
             r->element[0]->type != REDIS_REPLY_INTEGER ||
             r->element[1]->type != REDIS_REPLY_INTEGER ||
             r->element[2]->type != REDIS_REPLY_INTEGER) {
    rc =
        pacer_error_set(err, PACER_EREDIS, "redis: cred set: unexpected reply");
  } else {
    out->generation = r->element[0]->integer;
    out->released = r->element[1]->integer;
    out->refreshing = r->element[2]->integer != -2;
  }
  freeReplyObject(r);
  return rc;
}

int
pacer_cred_store_set(redisContext *c, const char *prefix, const char *name,
                     const char *tok, size_t tok_len,
                     struct pacer_cred_set_result *out, struct pacer_error *err)
{
  return run_set(c, prefix, name, tok, tok_len, NULL, 0, 0, out, err);
}

int
pacer_cred_store_authorize(redisContext *c, const char *prefix,
                           const char *name, const char *refresh_token,
                           const char *access_token, uint64_t expires_unix_ms,
                           uint64_t lifetime_s,
                           struct pacer_cred_set_result *out,
                           struct pacer_error *err)
{
  return run_set(c, prefix, name, refresh_token, strlen(refresh_token),
                 access_token, expires_unix_ms, lifetime_s, out, err);
}

int
pacer_cred_store_refresh(redisContext *c, const char *prefix, const char *name,
                         long long *generation, struct pacer_error *err)
{
  struct pacer_cred_keys k;
  const char *argv[5];
  redisReply *r;
  int rc = 0;

  pacer_cred_keys_init(&k, prefix, name);
  argv[0] = "EVAL";
  argv[1] = pacer_lua_cred_refresh;
  argv[2] = "2";
  argv[3] = k.hash;
  argv[4] = k.chan;
  r = pacer_script_command(c, 5, argv, NULL);
  if (r == NULL || r->type != REDIS_REPLY_INTEGER)
    rc = pacer_error_set(err, PACER_EREDIS, "redis: %s",
                         r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
                         : c->errstr[0]                            ? c->errstr
                                        : "unexpected reply");
  else
    *generation = r->integer;
  if (r != NULL)
    freeReplyObject(r);
  return rc;
}
