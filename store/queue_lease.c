/* The queue's leases: takeover of the expired entries of dead consumers
 * (XAUTOCLAIM) and renewal of the entries this consumer holds
 * (store/lua/queue_renew.lua). Part of store/queue.h; state in
 * store/queue_int.h. */
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
#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/queue_int.h"

#define RENEW_BATCH 500u /* ids per XCLAIM renewal */

/* ------------------------------------------------------------------ */
/* Lease takeover and renewal (e2e_kill, e2e_fence) */

static void claim_send(struct pacer_queue *q);

static void
on_claim_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue *q = ctx->c->q;
  redisReply *reply = r;
  enum pacer_queue_stream s = q->claim_ix;
  char *cursor = q->claim_cursor[s];
  size_t i;

  (void)ac;
  ctx->c->pending--;
  free(ctx);
  q->claiming = 0;
  if (reply == NULL)
    return;
  if (reply->type == REDIS_REPLY_ERROR) {
    pacer_log(PACER_LOG_WARN, "redis",
              "msg=\"XAUTOCLAIM failed\" stream=%s error=\"%.*s\"",
              q->k_stream[s], (int)reply->len, reply->str);
  } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
    /* The done-checks of the entries taken over go as one script call
     * (store/queue_drop.c). */
    pacer_queue_drop_begin(q);
    if (reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[0]->len < sizeof(q->claim_cursor[s])) {
      memcpy(cursor, reply->element[0]->str, reply->element[0]->len);
      cursor[reply->element[0]->len] = '\0';
    }
    if (reply->element[1]->type == REDIS_REPLY_ARRAY) {
      for (i = 0; i < reply->element[1]->elements; i++) {
        const redisReply *e = reply->element[1]->element[i];

        if (e->type == REDIS_REPLY_NIL)
          continue;
        pacer_log(PACER_LOG_INFO, "redis",
                  "msg=\"took over job after lease\" sid=%s%.*s",
                  pacer_keys_sid_tag((int)s),
                  (int)(e->elements > 0 ? e->element[0]->len : 0),
                  e->elements > 0 ? e->element[0]->str : "");
        pacer_queue_deliver_entry(q, e, 1, s);
      }
    }
    /* Redis >= 7: ids whose payload was trimmed or deleted; XAUTOCLAIM has
     * already removed them from the PEL (payload_lost, e2e_trim). */
    if (reply->elements >= 3 && reply->element[2]->type == REDIS_REPLY_ARRAY) {
      for (i = 0; i < reply->element[2]->elements; i++) {
        const redisReply *id = reply->element[2]->element[i];
        struct pacer_queue_entry ent;
        char sid[PACER_QUEUE_SID_MAX + 1];

        if (id->type != REDIS_REPLY_STRING ||
            pacer_queue_sid_encode(sid, sizeof(sid), s, id->str, id->len) != 0)
          continue;
        memset(&ent, 0, sizeof(ent));
        ent.sid = sid;
        ent.claimed = 2; /* payload gone and already out of the PEL */
        q->cbs.on_entry(q, &ent, q->arg);
      }
    }
    pacer_queue_drop_end(q);
  }
  /* The next stream, even after an error on this one (its group may be
   * missing until intake recreates it). */
  if (s + 1 < PACER_KEYS_NSTREAMS) {
    q->claim_ix = (enum pacer_queue_stream)(s + 1);
    claim_send(q);
  }
}

/* Sends XAUTOCLAIM for stream q->claim_ix, bounded by the free capacity. */
static void
claim_send(struct pacer_queue *q)
{
  char idle[24], count[24];
  const char *argv[8];
  size_t want;

  if (q->claiming || q->closing || q->intake_stopped || !q->cmd.up)
    return;
  want = pacer_queue_capacity(q);
  if (want == 0)
    return;
  if (want > PACER_QUEUE_READ_MAX)
    want = PACER_QUEUE_READ_MAX;
  snprintf(idle, sizeof(idle), "%u", q->cfg->lease_ms);
  snprintf(count, sizeof(count), "%zu", want);
  argv[0] = "XAUTOCLAIM";
  argv[1] = q->k_stream[q->claim_ix];
  argv[2] = PACER_KEYS_GROUP;
  argv[3] = q->consumer;
  argv[4] = idle;
  argv[5] = q->claim_cursor[q->claim_ix];
  argv[6] = "COUNT";
  argv[7] = count;
  if (pacer_queue_send(&q->cmd, on_claim_reply, NULL, NULL, 8, argv, NULL) == 0)
    q->claiming = 1;
}

/* Takes over the expired entries of dead consumers, stream by stream in
 * order of precedence, one XAUTOCLAIM at a time. */
static void
claim_now(struct pacer_queue *q)
{
  if (q->claiming)
    return;
  q->claim_ix = PACER_QUEUE_HIGH;
  claim_send(q);
}

void
pacer_queue_on_claim_timer(uv_timer_t *t)
{
  claim_now(t->data);
}

void
pacer_queue_on_plain_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  redisReply *reply = r;

  (void)ac;
  ctx->c->pending--;
  free(ctx);
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
    pacer_log(PACER_LOG_WARN, "redis", "msg=\"command failed\" error=\"%.*s\"",
              (int)reply->len, reply->str);
}

/* Renewal reply: the ids another consumer owns now (our lease ran out
 * while we held them). Their results will be fenced off; say so. */
static void
on_renew_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  redisReply *reply = r;

  (void)ac;
  ctx->c->pending--;
  free(ctx);
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
    pacer_log(PACER_LOG_WARN, "redis",
              "msg=\"lease renewal failed\" "
              "error=\"%.*s\"",
              (int)reply->len, reply->str);
  else if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
           reply->elements > 0)
    pacer_log(PACER_LOG_WARN, "redis",
              "msg=\"lease lost: entries taken over by another consumer; "
              "their results from here will be fenced off\" entries=%zu",
              reply->elements);
}

void
pacer_queue_on_renew_timer(uv_timer_t *t)
{
  struct pacer_queue *q = t->data;
  const char *sids[RENEW_BATCH];
  const char *argv[RENEW_BATCH + 8];
  size_t n, i, argc;
  int s;

  if (q->held_list == NULL || !q->cmd.up || q->closing)
    return;
  /* Renews the first RENEW_BATCH held entries; the process holds at most
   * concurrency + prefetch_extra, and the list rotates oldest-first. */
  n = q->held_list(q->held_arg, sids, RENEW_BATCH);
  /* One renewal script per stream that has held entries. */
  for (s = 0; s < PACER_KEYS_NSTREAMS; s++) {
    argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = pacer_lua_queue_renew;
    argv[argc++] = "1";
    argv[argc++] = q->k_stream[s];
    argv[argc++] = PACER_KEYS_GROUP;
    argv[argc++] = q->consumer;
    for (i = 0; i < n; i++) {
      const char *id;

      if (pacer_queue_sid_decode(sids[i], &id) == (enum pacer_queue_stream)s)
        argv[argc++] = id;
    }
    if (argc == 6)
      continue;
    pacer_queue_send(&q->cmd, on_renew_reply, NULL, NULL, (int)argc, argv,
                     NULL);
  }
}
