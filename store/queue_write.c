/* The queue's writes: the defer and requeue scripts (store/lua/queue_*.lua,
 * each fenced by the pending check; the finish is in queue_finish.c), scripts
 * run for others (pacer_queue_eval_reply), and delayed promotion. Part of
 * store/queue.h; state in store/queue_int.h. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/hist.h"
#include "common/log.h"
#include "common/util.h"
#include "store/delayed.h"
#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/queue_int.h"
#include "store/script.h"

#define PROMOTE_BATCH       "500" /* delayed entries moved per script run */
#define PROMOTE_BATCH_N     500
#define PROMOTE_MAX_WAIT_MS 1000u /* poll delayed at least this often, ms */
#define MAX_ARGS            96u   /* argv entries for one script call */

/* ------------------------------------------------------------------ */
/* Scripts: finish, defer, requeue */

static void
on_script_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue *q;
  redisReply *reply = r;
  int status = 0, applied = 0;

  (void)ac;
  q = pacer_queue_answered(ctx, reply);
  if (reply == NULL) {
    /* A lost reply is never success (e2e_client_kill). */
    status = PACER_EUNKNOWN;
  } else if (reply->type == REDIS_REPLY_ERROR) {
    pacer_log(PACER_LOG_ERROR, "redis", "msg=\"script failed\" error=\"%.*s\"",
              (int)reply->len, reply->str);
    status = PACER_EREDIS;
  } else if (reply->type == REDIS_REPLY_INTEGER) {
    applied = reply->integer == 1 ? 1 : 0;
    if (reply->integer == -1)
      pacer_log(PACER_LOG_WARN, "redis",
                "msg=\"lease lost: another consumer owns the entry now; "
                "this process's write was fenced off\"");
    else if (reply->integer == 2)
      pacer_log(PACER_LOG_INFO, "redis",
                "msg=\"job id already finished (done-marker): no second "
                "result\"");
  }
  if (ctx->cb != NULL)
    ctx->cb(q, status, applied, ctx->privdata);
  free(ctx);
}

/* Fills argv/lens (MAX_ARGS entries, checked by the caller) with
 * EVAL script nkeys keys... args... (all borrowed; nk is a 16-byte buffer
 * for the key count). Returns the number of entries. */
static int
eval_argv(const char *script, int nkeys, const char *const *keys, int nargs,
          const char **args, const size_t *arglens, char *nk, const char **argv,
          size_t *lens)
{
  int argc = 0, i;

  snprintf(nk, 16, "%d", nkeys);
  argv[argc] = "EVAL";
  lens[argc++] = 4;
  argv[argc] = script;
  lens[argc++] = strlen(script);
  argv[argc] = nk;
  lens[argc++] = strlen(nk);
  for (i = 0; i < nkeys; i++) {
    argv[argc] = keys[i];
    lens[argc++] = strlen(keys[i]);
  }
  for (i = 0; i < nargs; i++) {
    argv[argc] = args[i];
    lens[argc++] = arglens ? arglens[i] : strlen(args[i]);
  }
  return argc;
}

static int
eval(struct pacer_queue *q, const char *script, int nkeys,
     const char *const *keys, int nargs, const char **args,
     const size_t *arglens, pacer_queue_done_cb cb, void *privdata)
{
  const char *argv[MAX_ARGS];
  size_t lens[MAX_ARGS];
  char nk[16];
  int argc;

  if (3 + nkeys + nargs > (int)MAX_ARGS)
    return PACER_EINVAL;
  argc = eval_argv(script, nkeys, keys, nargs, args, arglens, nk, argv, lens);
  return pacer_queue_send(&q->cmd, on_script_reply, cb, privdata, argc, argv,
                          lens);
}

static void
on_raw_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue *q;
  redisReply *reply = r;

  (void)ac;
  q = pacer_queue_answered(ctx, reply);
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
    pacer_log(PACER_LOG_ERROR, "redis", "msg=\"script failed\" error=\"%.*s\"",
              (int)reply->len, reply->str);
  if (ctx->reply_cb != NULL)
    ctx->reply_cb(q, reply, ctx->privdata);
  free(ctx);
}

int
pacer_queue_eval_reply(struct pacer_queue *q, const char *script, int nkeys,
                       const char *const *keys, int nargs, const char **args,
                       const size_t *arglens, pacer_queue_reply_cb cb,
                       void *privdata)
{
  const char *argv[MAX_ARGS];
  size_t lens[MAX_ARGS];
  struct pacer_queue_cmd *ctx;
  char nk[16];
  int argc;

  if (3 + nkeys + nargs > (int)MAX_ARGS)
    return PACER_EINVAL;
  if (q->cmd.ac == NULL || !q->cmd.up)
    return PACER_EREDIS;
  argc = eval_argv(script, nkeys, keys, nargs, args, arglens, nk, argv, lens);
  ctx = malloc(sizeof(*ctx));
  if (ctx == NULL)
    return PACER_ENOMEM;
  ctx->c = &q->cmd;
  ctx->cb = NULL;
  ctx->reply_cb = cb;
  ctx->privdata = privdata;
  ctx->sent_mono_us = uv_hrtime() / 1000u;
  if (pacer_script_async(q->cmd.ac, on_raw_reply, ctx, argc, argv, lens) !=
      REDIS_OK) {
    free(ctx);
    return PACER_EREDIS;
  }
  q->cmd.pending++;
  return 0;
}

int
pacer_queue_lanestat_set(struct pacer_queue *q, const char *json, size_t len,
                         uint64_t ttl_ms, pacer_queue_reply_cb cb,
                         void *privdata)
{
  char *key = pacer_keys_new(q->cfg->prefix, PACER_KEYS_LANESTAT, q->consumer);
  const char *keys[1] = {key}, *args[2];
  size_t lens[2];
  char ttl[24];
  int rc;

  if (key == NULL)
    return PACER_ENOMEM;
  snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)ttl_ms);
  args[0] = json;
  lens[0] = len;
  args[1] = ttl;
  lens[1] = strlen(ttl);
  rc = pacer_queue_eval_reply(q, pacer_lua_queue_lanestat, 1, keys, 2, args,
                              lens, cb, privdata);
  free(key);
  return rc;
}

const struct pacer_hist *
pacer_queue_rtt(const struct pacer_queue *q)
{
  return &q->rtt;
}

void
pacer_queue_conn_stats(const struct pacer_queue *q, uint64_t reconnects[2],
                       int up[2])
{
  const struct pacer_queue_conn *c[2] = {&q->intake, &q->cmd};
  int i;

  for (i = 0; i < 2; i++) {
    reconnects[i] = c[i]->connects > 1 ? c[i]->connects - 1u : 0;
    up[i] = c[i]->up && c[i]->ac != NULL;
  }
}

const char *
pacer_queue_prefix(const struct pacer_queue *q)
{
  return q->cfg->prefix;
}

static void arm_promote(struct pacer_queue *q, uint64_t delay_ms);

int
pacer_queue_defer(struct pacer_queue *q, const char *sid, uint64_t due_unix_ms,
                  const char *member, size_t member_len, const char *job_id,
                  pacer_queue_done_cb cb, void *privdata)
{
  const char *id;
  enum pacer_queue_stream s = pacer_queue_sid_decode(sid, &id);
  const char *keys[3] = {q->k_stream[s], q->k_delayed, NULL};
  char due[24], *tagged, *claim = NULL;
  const char *args[6];
  size_t lens[6], tagged_len;
  int rc;

  /* The tag line names the stream promote puts the job back into. */
  rc = pacer_delayed_member_retag(
      member, member_len, pacer_keys_member_tag((int)s), &tagged, &tagged_len);
  if (rc != 0)
    return rc;
  if (job_id != NULL &&
      (claim = pacer_keys_new(q->cfg->prefix, PACER_KEYS_CLAIM, job_id)) ==
          NULL) {
    free(tagged);
    return PACER_ENOMEM;
  }
  keys[2] = claim;
  snprintf(due, sizeof(due), "%llu", (unsigned long long)due_unix_ms);
  /* Due before the promotion timer fires: fire then (the timer was armed
   * from an emptier set; waiting for it starved a lane, bench/accuracy).
   * The promote script runs after this defer on the same connection. */
  if (!q->promoting && due_unix_ms < q->promote_at_unix_ms) {
    uint64_t now = pacer_clock_unix_ms();

    arm_promote(q, due_unix_ms > now ? due_unix_ms - now : 0);
  }
  args[0] = PACER_KEYS_GROUP;
  lens[0] = strlen(PACER_KEYS_GROUP);
  args[1] = id;
  lens[1] = strlen(id);
  args[2] = due;
  lens[2] = strlen(due);
  args[3] = tagged;
  lens[3] = tagged_len;
  args[4] = PACER_KEYS_CLAIM_TTL_MS;
  lens[4] = strlen(PACER_KEYS_CLAIM_TTL_MS);
  args[5] = q->consumer;
  lens[5] = strlen(q->consumer);
  rc = eval(q, pacer_lua_queue_defer, claim != NULL ? 3 : 2, keys, 6, args,
            lens, cb, privdata);
  free(claim);
  free(tagged); /* hiredis has copied the command */
  return rc;
}

int
pacer_queue_requeue(struct pacer_queue *q, const char *sid,
                    const struct pacer_fields *fields, pacer_queue_done_cb cb,
                    void *privdata)
{
  const char *id;
  enum pacer_queue_stream s = pacer_queue_sid_decode(sid, &id);
  const char *keys[1] = {q->k_stream[s]};
  const char *args[MAX_ARGS];
  size_t lens[MAX_ARGS];
  size_t n = 0, i;

  if (fields->n + 3 + 4 > MAX_ARGS)
    return PACER_EINVAL;
  args[n] = PACER_KEYS_GROUP;
  lens[n++] = strlen(PACER_KEYS_GROUP);
  args[n] = id;
  lens[n++] = strlen(id);
  for (i = 0; i < fields->n; i++) {
    args[n] = fields->argv[i];
    lens[n++] = fields->lens[i];
  }
  args[n] = q->consumer;
  lens[n++] = strlen(q->consumer);
  return eval(q, pacer_lua_queue_requeue, 1, keys, (int)n, args, lens, cb,
              privdata);
}

/* ------------------------------------------------------------------ */
/* Delayed promotion (e2e_redis_restart) */

static void on_promote_timer(uv_timer_t *t);

static void
arm_promote(struct pacer_queue *q, uint64_t delay_ms)
{
  if (q->closing)
    return;
  if (delay_ms > PROMOTE_MAX_WAIT_MS)
    delay_ms = PROMOTE_MAX_WAIT_MS;
  q->promote_at_unix_ms = pacer_clock_unix_ms() + delay_ms;
  uv_timer_start(&q->promote_timer, on_promote_timer, delay_ms, 0);
}

static void
on_promote_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue *q = ctx->c->q;
  redisReply *reply = r;
  long long moved = 0, wait = -1;

  (void)ac;
  ctx->c->pending--;
  free(ctx);
  q->promoting = 0;
  if (reply == NULL)
    return; /* the reconnect re-arms from the stored schedule */
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
      reply->element[0]->type == REDIS_REPLY_INTEGER &&
      reply->element[1]->type == REDIS_REPLY_INTEGER) {
    moved = reply->element[0]->integer;
    wait = reply->element[1]->integer;
  } else if (reply->type == REDIS_REPLY_ERROR) {
    pacer_log(PACER_LOG_ERROR, "redis", "msg=\"promote failed\" error=\"%.*s\"",
              (int)reply->len, reply->str);
  }
  if (moved > 0)
    pacer_log(PACER_LOG_DEBUG, "redis", "msg=\"promoted delayed jobs\" n=%lld",
              moved);
  if (moved >= PROMOTE_BATCH_N)
    arm_promote(q, 0);
  else if (wait < 0)
    arm_promote(q, PROMOTE_MAX_WAIT_MS);
  else
    arm_promote(q, (uint64_t)wait);
}

void
pacer_queue_promote_now(struct pacer_queue *q)
{
  const char *argv[8];

  if (q->promoting || q->closing || !q->cmd.up)
    return;
  argv[0] = "EVAL";
  argv[1] = pacer_lua_queue_promote;
  argv[2] = "4";
  argv[3] = q->k_stream[PACER_QUEUE_NORMAL];
  argv[4] = q->k_delayed;
  argv[5] = q->k_stream[PACER_QUEUE_HIGH];
  argv[6] = q->k_stream[PACER_QUEUE_LOW];
  argv[7] = PROMOTE_BATCH;
  if (pacer_queue_send(&q->cmd, on_promote_reply, NULL, NULL, 8, argv, NULL) ==
      0)
    q->promoting = 1;
}

static void
on_promote_timer(uv_timer_t *t)
{
  pacer_queue_promote_now(t->data);
}
