/* Schedules in Redis (store/queue_schedule.h). */
#include "store/queue_schedule.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/queue_int.h"
#include "store/script.h"

#define NSTREAMS PACER_KEYS_NSTREAMS

/* ------------------------------------------------------------------ */
/* Scheduler side (async) */

int
pacer_queue_schedule_list(struct pacer_queue *q, pacer_queue_reply_cb cb,
                          void *privdata)
{
  char *k = pacer_keys_new(q->cfg->prefix, PACER_KEYS_SCHEDULES, NULL);
  const char *keys[1];
  int rc;

  if (k == NULL)
    return PACER_ENOMEM;
  keys[0] = k;
  rc = pacer_queue_eval_reply(q, pacer_lua_schedule_list, 1, keys, 0, NULL,
                              NULL, cb, privdata);
  free(k);
  return rc;
}

/* The claim's reply: 1 claimed (applied), 0 or -1 not. */
static void
on_claim_reply(redisAsyncContext *ac, void *reply, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue *q = ctx->c->q;
  const redisReply *r = reply;
  int status = 0;

  (void)ac;
  ctx->c->pending--;
  if (r == NULL) {
    status = PACER_EUNKNOWN;
  } else if (r->type != REDIS_REPLY_INTEGER) {
    status = PACER_EREDIS;
    pacer_log(PACER_LOG_ERROR, "redis",
              "msg=\"schedule claim failed\" error=\"%.*s\"",
              r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
              r->type == REDIS_REPLY_ERROR ? r->str : "");
  }
  if (ctx->cb != NULL)
    ctx->cb(q, status, status == 0 && r->integer == 1, ctx->privdata);
  free(ctx);
}

int
pacer_queue_schedule_claim(struct pacer_queue *q, const char *name,
                           const char *def, uint64_t tick_unix_ms,
                           const char *const *texts, const int *prios, size_t n,
                           pacer_queue_done_cb cb, void *privdata)
{
  size_t argc = 3 + 5 + 4 + 2 * n, i, k = 0;
  const char **argv = calloc(argc, sizeof(*argv));
  size_t *lens = calloc(argc, sizeof(*lens));
  char *keys[2] = {NULL, NULL}, tick[24], nbuf[24], pr[NSTREAMS][4];
  int rc = PACER_ENOMEM;

  keys[0] = pacer_keys_new(q->cfg->prefix, PACER_KEYS_SCHEDULES, NULL);
  keys[1] = pacer_keys_new(q->cfg->prefix, PACER_KEYS_SCHEDULE, name);
  for (i = 0; i < NSTREAMS; i++)
    snprintf(pr[i], sizeof(pr[i]), "%zu", i);
  if (argv == NULL || lens == NULL || keys[0] == NULL || keys[1] == NULL)
    goto out;
  snprintf(tick, sizeof(tick), "%" PRIu64, tick_unix_ms);
  snprintf(nbuf, sizeof(nbuf), "%zu", n);
#define ARG(v) (argv[k] = (v), lens[k] = strlen(argv[k]), k++)
  ARG("EVAL");
  ARG(pacer_lua_schedule_claim);
  ARG("5");
  ARG(keys[0]);
  ARG(keys[1]);
  for (i = 0; i < NSTREAMS; i++)
    ARG(q->k_stream[i]);
  ARG(name);
  ARG(def);
  ARG(tick);
  ARG(nbuf);
  for (i = 0; i < n; i++) {
    ARG(pr[prios[i] >= 0 && prios[i] < NSTREAMS ? prios[i] : 1]);
    ARG(texts[i]);
  }
#undef ARG
  /* hiredis copies the command out before this returns */
  rc = pacer_queue_send(&q->cmd, on_claim_reply, cb, privdata, (int)k, argv,
                        lens);
out:
  free(keys[0]);
  free(keys[1]);
  free(argv);
  free(lens);
  return rc;
}

/* ------------------------------------------------------------------ */
/* `pacer schedule` (sync) */

static redisReply *
run(redisContext *c, int argc, const char **argv, struct pacer_error *err)
{
  redisReply *r = pacer_script_command(c, argc, argv, NULL);

  if (r == NULL) {
    pacer_error_set(err, PACER_EREDIS, "redis: %s: %s", argv[0],
                    c->errstr[0] ? c->errstr : "connection lost");
    return NULL;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    pacer_error_set(err, PACER_EREDIS, "redis: %s: %.*s", argv[0], (int)r->len,
                    r->str);
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

int
pacer_schedule_store_add(redisContext *c, const char *prefix, const char *name,
                         const char *def, uint64_t start_tick_unix_ms,
                         int replace, struct pacer_error *err)
{
  char *hk = pacer_keys_new(prefix, PACER_KEYS_SCHEDULES, NULL);
  char *tk = pacer_keys_new(prefix, PACER_KEYS_SCHEDULE, name);
  char tick[24];
  const char *a[4];
  redisReply *r = NULL;
  int rc = PACER_ENOMEM;

  if (hk == NULL || tk == NULL)
    goto out;
  snprintf(tick, sizeof(tick), "%" PRIu64, start_tick_unix_ms);
  /* the tick first, so a worker never runs the current one */
  a[0] = "SET", a[1] = tk, a[2] = tick;
  if (!replace) {
    const char *x[3] = {"HEXISTS", hk, name};

    r = run(c, 3, x, err);
    if (r == NULL) {
      rc = PACER_EREDIS;
      goto out;
    }
    if (r->integer == 1) {
      rc = pacer_error_set(err, PACER_EINVAL,
                           "schedule %s exists; remove it first or use "
                           "--replace",
                           name);
      goto out;
    }
    freeReplyObject(r);
  }
  r = run(c, 3, a, err);
  if (r == NULL) {
    rc = PACER_EREDIS;
    goto out;
  }
  freeReplyObject(r);
  a[0] = "HSET", a[1] = hk, a[2] = name, a[3] = def;
  r = run(c, 4, a, err);
  rc = r != NULL ? 0 : PACER_EREDIS;
out:
  if (r != NULL)
    freeReplyObject(r);
  free(hk);
  free(tk);
  return rc;
}

int
pacer_schedule_store_get(redisContext *c, const char *prefix, const char *name,
                         char **def, uint64_t *last, struct pacer_error *err)
{
  char *hk = pacer_keys_new(prefix, PACER_KEYS_SCHEDULES, NULL);
  char *tk = pacer_keys_new(prefix, PACER_KEYS_SCHEDULE, name);
  const char *a[3];
  redisReply *r = NULL;
  int rc = PACER_ENOMEM;

  *def = NULL;
  *last = 0;
  if (hk == NULL || tk == NULL)
    goto out;
  a[0] = "HGET", a[1] = hk, a[2] = name;
  if ((r = run(c, 3, a, err)) == NULL) {
    rc = PACER_EREDIS;
    goto out;
  }
  if (r->type != REDIS_REPLY_STRING) {
    rc = pacer_error_set(err, PACER_ENOTFOUND, "schedule %s: not found", name);
    goto out;
  }
  *def = strdup(r->str);
  freeReplyObject(r);
  a[0] = "GET", a[1] = tk;
  if ((r = run(c, 2, a, err)) == NULL) {
    rc = PACER_EREDIS;
    goto out;
  }
  if (r->type == REDIS_REPLY_STRING)
    *last = strtoull(r->str, NULL, 10);
  rc = *def != NULL ? 0 : PACER_ENOMEM;
out:
  if (r != NULL)
    freeReplyObject(r);
  free(hk);
  free(tk);
  return rc;
}

int
pacer_schedule_store_swap(redisContext *c, const char *prefix, const char *name,
                          const char *old, const char *def,
                          struct pacer_error *err)
{
  char *hk = pacer_keys_new(prefix, PACER_KEYS_SCHEDULES, NULL);
  const char *a[7];
  redisReply *r;
  int rc;

  if (hk == NULL)
    return PACER_ENOMEM;
  a[0] = "EVAL", a[1] = pacer_lua_schedule_swap, a[2] = "1", a[3] = hk;
  a[4] = name, a[5] = old, a[6] = def;
  r = run(c, 7, a, err);
  free(hk);
  if (r == NULL)
    return PACER_EREDIS;
  rc = r->integer < 0 ? pacer_error_set(err, PACER_ENOTFOUND,
                                        "schedule %s: not found", name)
                      : (int)r->integer;
  freeReplyObject(r);
  return rc;
}

int
pacer_schedule_store_remove(redisContext *c, const char *prefix,
                            const char *name, struct pacer_error *err)
{
  char *hk = pacer_keys_new(prefix, PACER_KEYS_SCHEDULES, NULL);
  char *tk = pacer_keys_new(prefix, PACER_KEYS_SCHEDULE, name);
  const char *a[3];
  redisReply *r = NULL;
  int rc = PACER_ENOMEM;

  if (hk == NULL || tk == NULL)
    goto out;
  a[0] = "HDEL", a[1] = hk, a[2] = name;
  if ((r = run(c, 3, a, err)) == NULL) {
    rc = PACER_EREDIS;
    goto out;
  }
  if (r->integer == 0) {
    rc = pacer_error_set(err, PACER_ENOTFOUND, "schedule %s: not found", name);
    goto out;
  }
  freeReplyObject(r);
  a[0] = "DEL", a[1] = tk;
  r = run(c, 2, a, err);
  rc = r != NULL ? 0 : PACER_EREDIS;
out:
  if (r != NULL)
    freeReplyObject(r);
  free(hk);
  free(tk);
  return rc;
}

int
pacer_schedule_store_each(redisContext *c, const char *prefix,
                          int (*cb)(void *arg, const char *name,
                                    const char *def, uint64_t last),
                          void *arg, struct pacer_error *err)
{
  char *hk = pacer_keys_new(prefix, PACER_KEYS_SCHEDULES, NULL);
  const char *a[2];
  redisReply *r;
  size_t i;
  int rc = 0;

  if (hk == NULL)
    return PACER_ENOMEM;
  a[0] = "HGETALL", a[1] = hk;
  r = run(c, 2, a, err);
  free(hk);
  if (r == NULL)
    return PACER_EREDIS;
  for (i = 0; rc == 0 && i + 1 < r->elements; i += 2) {
    char *def = NULL;
    uint64_t last = 0;

    rc = pacer_schedule_store_get(c, prefix, r->element[i]->str, &def, &last,
                                  err);
    if (rc == PACER_ENOTFOUND) {
      rc = 0; /* removed meanwhile */
      continue;
    }
    if (rc == 0)
      rc = cb(arg, r->element[i]->str, def, last);
    free(def);
  }
  freeReplyObject(r);
  return rc;
}

int
pacer_schedule_store_queue(redisContext *c, const char *prefix,
                           const char *const *texts, const int *prios, size_t n,
                           struct pacer_error *err)
{
  size_t i;

  for (i = 0; i < n; i++) {
    char *k = pacer_keys_new(
        prefix,
        pacer_keys_stream(prios[i] >= 0 && prios[i] < NSTREAMS ? prios[i] : 1),
        NULL);
    const char *a[5] = {"XADD", k, "*", "job", texts[i]};
    redisReply *r;

    if (k == NULL)
      return PACER_ENOMEM;
    r = run(c, 5, a, err);
    free(k);
    if (r == NULL)
      return PACER_EREDIS;
    freeReplyObject(r);
  }
  return 0;
}
