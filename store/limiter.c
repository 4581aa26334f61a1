/* Shared GCRA buckets in Redis. See store/limiter.h for the key layout. */
#include "store/limiter.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/log.h"
#include "core/gcra.h"
#include "store/keys.h"
#include "store/lua_scripts.h"

/* The GCRA that runs is store/lua/limit_take.lua and limit_pause.lua;
 * core/gcra.c is its reference model (test gcra_diff checks that they
 * agree), and pacer_gcra_args_init builds the per-bucket arguments for
 * both: the slot spacing margins (docs/LIMITS.md "Margin") and the
 * tolerance. AIMD constants live in the Lua text and in core/gcra.h. */

struct take_ctx {
  pacer_limiter_take_cb cb;
  void *arg;
};

static void
build_key(struct pacer_queue *q, const char *bucket, char *out, size_t size)
{
  snprintf(out, size, "%s" PACER_KEYS_LIMIT "%s", pacer_queue_prefix(q),
           bucket);
}

static void
on_take_reply(struct pacer_queue *q, const struct redisReply *reply,
              void *privdata)
{
  struct take_ctx *ctx = privdata;
  struct pacer_limiter_grant g;
  size_t i, n;

  (void)q;
  memset(&g, 0, sizeof(g));
  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
      reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_INTEGER) {
    ctx->cb(ctx->arg, reply == NULL ? PACER_EUNKNOWN : PACER_EREDIS, NULL);
    free(ctx);
    return;
  }
  n = (size_t)reply->element[0]->integer;
  if (n == 0) {
    if (reply->elements >= 2 && reply->element[1]->type == REDIS_REPLY_INTEGER)
      g.wait_us = (uint64_t)reply->element[1]->integer;
    if (reply->elements >= 3 && reply->element[2]->type == REDIS_REPLY_STRING)
      snprintf(g.reason, sizeof(g.reason), "%s", reply->element[2]->str);
  } else {
    for (i = 0; i < n && i < PACER_LIMITER_MAX_SLOTS && i + 1 < reply->elements;
         i++) {
      const struct redisReply *e = reply->element[i + 1];

      g.slot_us[i] = e->type == REDIS_REPLY_INTEGER && e->integer > 0
                         ? (uint64_t)e->integer
                         : 0;
    }
    g.nslots = i;
    if (reply->elements == n + 2 &&
        reply->element[n + 1]->type == REDIS_REPLY_INTEGER &&
        reply->element[n + 1]->integer > 0)
      g.now_unix_us = (uint64_t)reply->element[n + 1]->integer;
  }
  ctx->cb(ctx->arg, 0, &g);
  free(ctx);
}

/* Appends v as decimal text to the script arguments: numbuf[*na] holds
 * the text, args[*na] points at it. */
static void
arg_u64(char (*numbuf)[24], const char **args, size_t *na, uint64_t v)
{
  snprintf(numbuf[*na], sizeof(numbuf[0]), "%" PRIu64, v);
  args[*na] = numbuf[*na];
  (*na)++;
}

int
pacer_limiter_take(struct pacer_queue *q, const struct pacer_limit_ref *refs,
                   size_t nrefs, unsigned nslots, uint64_t horizon_us,
                   uint64_t lead_us, uint64_t guard_us, uint64_t taker,
                   pacer_limiter_take_cb cb, void *arg)
{
  char keybuf[PACER_LIMITER_MAX_REFS + 1][PACER_LIMIT_KEY_SIZE + 64];
  char numbuf[6 + 6 * PACER_LIMITER_MAX_REFS][24];
  const char *keys[PACER_LIMITER_MAX_REFS + 1];
  const char *args[6 + 6 * PACER_LIMITER_MAX_REFS];
  struct take_ctx *ctx;
  size_t i, na = 0;
  int rc;

  if (nrefs == 0 || nrefs > PACER_LIMITER_MAX_REFS || nslots == 0 ||
      nslots > PACER_LIMITER_MAX_SLOTS)
    return PACER_EINVAL;
  arg_u64(numbuf, args, &na, nslots);
  arg_u64(numbuf, args, &na, horizon_us);
  for (i = 0; i < nrefs; i++) {
    const struct pacer_limit_cfg *l = refs[i].cfg;
    struct pacer_gcra_args ga;

    build_key(q, refs[i].key, keybuf[i], sizeof(keybuf[i]));
    keys[i] = keybuf[i];
    pacer_gcra_args_init(&ga, &l->gcra, l->rate_period_us, l->cost,
                         l->adaptive);
    arg_u64(numbuf, args, &na, ga.interval_us);
    arg_u64(numbuf, args, &na, ga.tolerance_us);
    arg_u64(numbuf, args, &na, ga.cost);
    args[na++] = ga.adaptive ? "1" : "0";
    arg_u64(numbuf, args, &na, ga.warm_interval_us);
    arg_u64(numbuf, args, &na, ga.period_us);
  }
  /* The operator pause of every bucket (pacer pause --all), last. */
  if (pacer_keys_format(keybuf[nrefs], sizeof(keybuf[nrefs]),
                        pacer_queue_prefix(q), PACER_KEYS_OPPAUSE, NULL) < 0)
    return PACER_EINVAL;
  keys[nrefs] = keybuf[nrefs];
  args[na++] = "0"; /* now: Redis TIME */
  arg_u64(numbuf, args, &na, lead_us);
  arg_u64(numbuf, args, &na, guard_us);
  if (taker != 0)
    arg_u64(numbuf, args, &na, taker);
  else
    args[na++] = "";
  ctx = malloc(sizeof(*ctx));
  if (ctx == NULL)
    return PACER_ENOMEM;
  ctx->cb = cb;
  ctx->arg = arg;
  rc = pacer_queue_eval_reply(q, pacer_lua_limit_take, (int)nrefs + 1, keys,
                              (int)na, args, NULL, on_take_reply, ctx);
  if (rc != 0)
    free(ctx);
  return rc;
}

struct permit_ctx {
  pacer_limiter_permit_cb cb;
  void *arg;
};

static void
on_acquire_reply(struct pacer_queue *q, const struct redisReply *reply,
                 void *privdata)
{
  struct permit_ctx *ctx = privdata;

  (void)q;
  if (reply == NULL)
    ctx->cb(ctx->arg, PACER_EUNKNOWN, 0);
  else if (reply->type != REDIS_REPLY_INTEGER)
    ctx->cb(ctx->arg, PACER_EREDIS, 0);
  else
    ctx->cb(ctx->arg, 0, reply->integer == 1);
  free(ctx);
}

/* Fills keys with the inflight sets of the capped buckets; returns how
 * many. */
static size_t
inflight_keys(struct pacer_queue *q, const struct pacer_limit_ref *refs,
              size_t nrefs, char (*keybuf)[PACER_LIMIT_KEY_SIZE + 64],
              const char **keys, char (*maxbuf)[16], const char **maxes)
{
  size_t i, n = 0;

  for (i = 0; i < nrefs && i < PACER_LIMITER_MAX_REFS; i++) {
    if (refs[i].cfg->max_in_flight == 0)
      continue;
    snprintf(keybuf[n], sizeof(keybuf[n]), "%s" PACER_KEYS_INFLIGHT "%s",
             pacer_queue_prefix(q), refs[i].key);
    keys[n] = keybuf[n];
    if (maxbuf != NULL) {
      snprintf(maxbuf[n], sizeof(maxbuf[n]), "%" PRIu32,
               refs[i].cfg->max_in_flight);
      maxes[n] = maxbuf[n];
    }
    n++;
  }
  return n;
}

int
pacer_limiter_acquire(struct pacer_queue *q, const struct pacer_limit_ref *refs,
                      size_t nrefs, const char *token, uint64_t lease_ms,
                      pacer_limiter_permit_cb cb, void *arg)
{
  char keybuf[PACER_LIMITER_MAX_REFS][PACER_LIMIT_KEY_SIZE + 64];
  char maxbuf[PACER_LIMITER_MAX_REFS][16], lease[24];
  const char *keys[PACER_LIMITER_MAX_REFS];
  const char *args[2 + PACER_LIMITER_MAX_REFS];
  struct permit_ctx *ctx;
  size_t n;
  int rc;

  n = inflight_keys(q, refs, nrefs, keybuf, keys, maxbuf, args + 2);
  if (n == 0)
    return PACER_EINVAL;
  snprintf(lease, sizeof(lease), "%" PRIu64, lease_ms);
  args[0] = token;
  args[1] = lease;
  ctx = malloc(sizeof(*ctx));
  if (ctx == NULL)
    return PACER_ENOMEM;
  ctx->cb = cb;
  ctx->arg = arg;
  rc = pacer_queue_eval_reply(q, pacer_lua_inflight_acquire, (int)n, keys,
                              (int)n + 2, args, NULL, on_acquire_reply, ctx);
  if (rc != 0)
    free(ctx);
  return rc;
}

static void
on_pause_reply(struct pacer_queue *q, const struct redisReply *reply,
               void *privdata)
{
  (void)q;
  (void)reply;
  (void)privdata;
}

int
pacer_limiter_release(struct pacer_queue *q, const struct pacer_limit_ref *refs,
                      size_t nrefs, const char *token)
{
  char keybuf[PACER_LIMITER_MAX_REFS][PACER_LIMIT_KEY_SIZE + 64];
  const char *keys[PACER_LIMITER_MAX_REFS];
  const char *args[1];
  size_t n;

  n = inflight_keys(q, refs, nrefs, keybuf, keys, NULL, NULL);
  if (n == 0)
    return PACER_EINVAL;
  args[0] = token;
  return pacer_queue_eval_reply(q, pacer_lua_inflight_release, (int)n, keys, 1,
                                args, NULL, on_pause_reply, NULL);
}

int
pacer_limiter_pause(struct pacer_queue *q, const struct pacer_limit_ref *ref,
                    uint64_t pause_ms, const char *reason)
{
  char key[PACER_LIMIT_KEY_SIZE + 64], ms[24], tol[24], win[24];
  const char *keys[1];
  const char *args[4];

  build_key(q, ref->key, key, sizeof(key));
  keys[0] = key;
  snprintf(ms, sizeof(ms), "%" PRIu64, pause_ms);
  snprintf(tol, sizeof(tol), "%" PRIu64,
           ref->cfg->gcra.burst * ref->cfg->gcra.interval_us);
  args[0] = ms;
  args[1] = reason;
  args[2] = tol;
  snprintf(win, sizeof(win), "%" PRIu64,
           ref->cfg->adaptive ? pacer_gcra_aimd_window_us(&ref->cfg->gcra)
                              : 0u);
  args[3] = win;
  pacer_log(PACER_LOG_INFO, "limit", "msg=\"pausing\" lane=%s wait_ms=%" PRIu64,
            ref->key, pause_ms);
  return pacer_queue_eval_reply(q, pacer_lua_limit_pause, 1, keys, 4, args,
                                NULL, on_pause_reply, NULL);
}
