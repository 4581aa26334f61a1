/* The chain step script's caller (store/queue_chain.h). */
#include "store/queue_chain.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/queue_int.h"

#define MAX_ARGS                                                               \
  56u /* script arguments (store/queue_write.c takes 64 with                   \
         EVAL, the script and its keys) */

struct step_ctx {
  pacer_queue_done_cb cb;
  void *privdata;
};

static void
on_reply(struct pacer_queue *q, const struct redisReply *r, void *privdata)
{
  struct step_ctx *ctx = privdata;
  int status = 0, applied = 0;

  if (r == NULL)
    status = PACER_EUNKNOWN;
  else if (r->type != REDIS_REPLY_INTEGER)
    status = PACER_EREDIS;
  else
    applied = r->integer >= 1;
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
  const char *keys[4];
  const char *args[MAX_ARGS];
  size_t lens[MAX_ARGS], n = 0, i, nf = a->summary ? a->summary->n : 0;
  char page[16], items[24], ttl[24], rmax[24], dttl[24], nfs[16];
  char *chain = NULL, *done = NULL, *target = NULL, *suffix = NULL;
  struct step_ctx *ctx = NULL;
  size_t sl = strlen(a->root_id) + strlen(a->chain) + 2;
  int rc = PACER_ENOMEM;

  if (12 + nf > MAX_ARGS || (a->next_job == NULL) == (a->summary == NULL))
    return PACER_EINVAL;
  suffix = malloc(sl);
  if (suffix == NULL)
    goto out;
  snprintf(suffix, sl, "%s:%s", a->root_id, a->chain);
  chain = pacer_keys_new(q->cfg->prefix, PACER_KEYS_CHAIN, suffix);
  done = pacer_queue_done_key(q, a->root_id);
  target = a->next_job != NULL
               ? pacer_keys_new(q->cfg->prefix, pacer_keys_stream(a->next_prio),
                                NULL)
               : pacer_keys_new(q->cfg->prefix, PACER_KEYS_RESULTS, NULL);
  ctx = malloc(sizeof(*ctx));
  if (chain == NULL || done == NULL || target == NULL || ctx == NULL)
    goto out;
  keys[0] = q->k_stream[s];
  keys[1] = chain;
  keys[2] = target;
  keys[3] = done;
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
  if (a->next_job != NULL) {
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
  }
#undef ARG
  ctx->cb = cb;
  ctx->privdata = privdata;
  rc = pacer_queue_eval_reply(q, pacer_lua_chain_step, 4, keys, (int)n, args,
                              lens, on_reply, ctx);
  if (rc == 0)
    ctx = NULL; /* on_reply frees it */
out:
  free(ctx);
  free(suffix);
  free(chain);
  free(done);
  free(target);
  return rc;
}
