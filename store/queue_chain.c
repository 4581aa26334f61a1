/* The chain step script's caller (store/queue_chain.h). */
#include "store/queue_chain.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/delayed.h"
#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/queue_int.h"

#include "common/log.h"

#define NKEYS    7
#define MAX_ARGS 96u /* script arguments: a result and a dead letter */

/* The script's reply (hiredis runs it exactly once, NULL on a
 * disconnect): 1 or 2 written, 0 not pending, -1 fenced off. */
static void
on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue *q;
  const redisReply *r = reply;
  int status = 0, applied = 0;

  (void)ac;
  q = pacer_queue_answered(ctx, r);
  if (r == NULL) {
    status = PACER_EUNKNOWN;
  } else if (r->type != REDIS_REPLY_INTEGER) {
    status = PACER_EREDIS;
    pacer_log(PACER_LOG_ERROR, "redis",
              "msg=\"chain step failed\" error=\"%.*s\"",
              r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
              r->type == REDIS_REPLY_ERROR ? r->str : "");
  } else {
    applied = r->integer >= 1;
  }
  ctx->cb(q, status, applied, ctx->privdata);
  free(ctx);
}

int
pacer_queue_chain_step(struct pacer_queue *q, const char *sid,
                       const struct pacer_chain_step_args *a,
                       pacer_queue_done_cb cb, void *privdata)
{
  const char *id;
  enum pacer_queue_stream s = pacer_queue_sid_decode(sid, &id);
  const char *keys[NKEYS];
  const char *args[3 + NKEYS + MAX_ARGS];
  size_t lens[3 + NKEYS + MAX_ARGS], n = 0, i,
                                     nf = a->summary ? a->summary->n : 0;
  size_t nd = a->summary != NULL && a->dead != NULL ? a->dead->n : 0;
  char page[16], items[24], ttl[24], rmax[24], dttl[24], nfs[16], due[24];
  char dmax[24], nds[16], rttl[24];
  char *chain = NULL, *done = NULL, *target = NULL, *suffix = NULL;
  char *member = NULL, *ridx = NULL;
  size_t member_len = 0;
  char nk[8];
  size_t sl = strlen(a->root_id) + strlen(a->chain) + 2;
  int rc = PACER_ENOMEM;

  if (18 + nf + nd > MAX_ARGS || (a->next_job == NULL) == (a->summary == NULL))
    return PACER_EINVAL;
  suffix = malloc(sl);
  if (suffix == NULL)
    goto out;
  snprintf(suffix, sl, "%s:%s", a->root_id, a->chain);
  chain = pacer_keys_new(q->cfg->prefix, PACER_KEYS_CHAIN, suffix);
  done = pacer_queue_done_key(q, a->root_id);
  ridx = pacer_keys_new(q->cfg->prefix, PACER_KEYS_RESULT, a->root_id);
  if (a->next_job != NULL && a->next_due_ms > 0) {
    target = pacer_keys_new(q->cfg->prefix, PACER_KEYS_DELAYED, NULL);
    rc = pacer_delayed_member_new(
        a->next_id, 0, 0, pacer_keys_member_tag(a->next_prio), a->next_job,
        a->next_len, &member, &member_len);
    if (rc != 0)
      goto out;
    rc = PACER_ENOMEM;
  } else if (a->next_job != NULL) {
    target =
        pacer_keys_new(q->cfg->prefix, pacer_keys_stream(a->next_prio), NULL);
  } else {
    target = pacer_keys_new(q->cfg->prefix, PACER_KEYS_RESULTS, NULL);
  }
  if (chain == NULL || done == NULL || target == NULL || ridx == NULL)
    goto out;
  snprintf(nk, sizeof(nk), "%d", NKEYS);
  args[n] = "EVAL";
  lens[n++] = 4;
  args[n] = pacer_lua_chain_step;
  lens[n++] = strlen(pacer_lua_chain_step);
  args[n] = nk;
  lens[n++] = strlen(nk);
  keys[0] = q->k_stream[s];
  keys[1] = chain;
  keys[2] = target;
  keys[3] = done;
  keys[4] = q->k_dead;
  keys[5] = ridx;
  keys[6] = q->k_donemarks;
  for (i = 0; i < NKEYS; i++) {
    args[n] = keys[i];
    lens[n++] = strlen(keys[i]);
  }
  snprintf(page, sizeof(page), "%" PRIu32, a->page);
  snprintf(items, sizeof(items), "%" PRId64, a->items < 0 ? -1 : a->items);
  snprintf(ttl, sizeof(ttl), "%llu",
           (unsigned long long)PACER_KEYS_CHAIN_TTL_MS);
#define ARG(v, l) (args[n] = (v), lens[n++] = (l))
  ARG(PACER_KEYS_GROUP, strlen(PACER_KEYS_GROUP));
  ARG(id, strlen(id));
  ARG(q->consumer, strlen(q->consumer));
  ARG(page, strlen(page));
  ARG(items, strlen(items));
  ARG(ttl, strlen(ttl));
  ARG(a->ack ? "1" : "0", 1);
  ARG(a->count_name, strlen(a->count_name));
  if (member != NULL) {
    snprintf(due, sizeof(due), "%llu", (unsigned long long)a->next_due_ms);
    ARG("delay", 5);
    ARG(due, strlen(due));
    ARG(member, member_len);
  } else if (a->next_job != NULL) {
    ARG("next", 4);
    ARG(a->next_job, a->next_len);
  } else {
    snprintf(rmax, sizeof(rmax), "%llu",
             (unsigned long long)q->cfg->results_maxlen);
    snprintf(dttl, sizeof(dttl), "%llu",
             (unsigned long long)q->cfg->done_ttl_ms);
    snprintf(nfs, sizeof(nfs), "%zu", nf);
    ARG("end", 3);
    ARG(rmax, strlen(rmax));
    ARG(dttl, strlen(dttl));
    ARG(a->summary_ok ? "ok" : "failed", a->summary_ok ? 2 : 6);
    ARG(nfs, strlen(nfs));
    for (i = 0; i < nf; i++)
      ARG(a->summary->argv[i], a->summary->lens[i]);
    snprintf(dmax, sizeof(dmax), "%llu",
             (unsigned long long)q->cfg->dead_maxlen);
    snprintf(nds, sizeof(nds), "%zu", nd);
    ARG(dmax, strlen(dmax));
    ARG(nds, strlen(nds));
    for (i = 0; i < nd; i++)
      ARG(a->dead->argv[i], a->dead->lens[i]);
    snprintf(rttl, sizeof(rttl), "%llu",
             (unsigned long long)q->cfg->result_ttl_ms);
    ARG(rttl, strlen(rttl));
    ARG(a->root_id, strlen(a->root_id));
  }
#undef ARG
  /* hiredis copies the command out before this returns */
  rc = pacer_queue_send(&q->cmd, on_reply, cb, privdata, (int)n, args, lens);
out:
  free(member);
  free(suffix);
  free(chain);
  free(done);
  free(target);
  free(ridx);
  return rc;
}
