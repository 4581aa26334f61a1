/* The queue's finish: results, dead letters and acks written by
 * store/lua/queue_finish.lua, for every finish asked for in one loop turn
 * in one script call (docs/REDIS.md "Finish: one call per loop turn").
 * Part of store/queue.h; state in store/queue_int.h.
 *
 * pacer_queue_finish copies its entry's keys and arguments into q->fin_buf
 * and starts q->fin_prepare. The prepare callback runs right before the
 * loop next polls for I/O, so the batch goes as one EVALSHA on the command
 * connection before the loop can block, in the same poll that would have
 * written a call sent at once:
 *
 *   outcomes (poll) -> finish x m -> prepare: EVALSHA (m entries)
 *                                               |
 *   cb x m, in order, from one reply  <---------+
 *
 * A batch is sent early when it is full (PACER_QUEUE_FINISH_MAX entries or
 * FIN_BATCH_BYTES of arguments), so one script call stays short. An entry
 * without the pending check (ack_required 0, payload_lost) goes alone,
 * because a whole call sent again would write it twice. The strings are
 * not kept after the send: a lost reply or an error reply is handed to
 * each entry's callback, whose owner sends that entry again (as it did
 * with one call per entry); the pending check makes the resend of an
 * entry already written a no-op. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/hist.h"
#include "common/log.h"
#include "common/util.h"
#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/queue_int.h"

#define FIN_BATCH_BYTES 262144u /* argument bytes of one call, about */
#define FIN_BUF_MIN     8192u   /* first size of q->fin_buf, bytes */
#define FIN_ENTRY_MAX   96u     /* arguments of one entry, at most */
#define FIN_SHARED_KEYS 7u      /* results dead cancel donemarks streams */
#define FIN_SHARED_ARGS 7u      /* group ... consumer */
#define FIN_ENTRY_KEYS  4u      /* done result deadjob claim */
#define FIN_ENTRY_FIXED 7u      /* stream id ack job mark nres ndead */

/* One call in flight: the callbacks of its entries, in order. */
struct fin_call {
  size_t n;
  struct pacer_queue_fin_ent e[];
};

int
pacer_queue_buf_grow(char **buf, size_t *cap, size_t len, size_t more,
                     size_t first)
{
  size_t c = *cap ? *cap : first;
  char *nb;

  if (*cap - len >= more)
    return 0;
  while (c - len < more)
    c *= 2;
  nb = realloc(*buf, c);
  if (nb == NULL)
    return PACER_ENOMEM;
  *buf = nb;
  *cap = c;
  return 0;
}

/* Makes room for more bytes in q->fin_buf. Returns 0 or PACER_ENOMEM. */
static int
buf_grow(struct pacer_queue *q, size_t more)
{
  return pacer_queue_buf_grow(&q->fin_buf, &q->fin_cap, q->fin_len, more,
                              FIN_BUF_MIN);
}

/* Makes room for more arguments in q->fin_arg. Returns 0 or
 * PACER_ENOMEM. */
static int
arg_grow(struct pacer_queue *q, size_t more)
{
  size_t cap = q->fin_arg_cap ? q->fin_arg_cap : 256u;
  struct pacer_queue_fin_str *ns;

  if (q->fin_arg_cap - q->fin_narg >= more)
    return 0;
  while (cap - q->fin_narg < more)
    cap *= 2;
  ns = realloc(q->fin_arg, cap * sizeof(*ns));
  if (ns == NULL)
    return PACER_ENOMEM;
  q->fin_arg = ns;
  q->fin_arg_cap = cap;
  return 0;
}

/* Appends "<a><b>" (al + bl bytes) to q->fin_buf and records it in *s.
 * Room was made by the caller. */
static void
put(struct pacer_queue *q, struct pacer_queue_fin_str *s, const char *a,
    size_t al, const char *b, size_t bl)
{
  s->off = q->fin_len;
  s->len = al + bl;
  memcpy(q->fin_buf + q->fin_len, a, al);
  memcpy(q->fin_buf + q->fin_len + al, b, bl);
  q->fin_len += al + bl;
}

/* Appends an argument of len bytes. */
static void
put_arg(struct pacer_queue *q, const char *s, size_t len)
{
  put(q, &q->fin_arg[q->fin_narg++], "", 0, s, len);
}

/* Appends the key "<prefix><name><id>" (store/keys.h). */
static void
put_key(struct pacer_queue *q, const char *name, const char *id, size_t idl)
{
  struct pacer_queue_fin_str *s = &q->fin_key[q->fin_nkey++];
  size_t pl = strlen(q->cfg->prefix);

  memcpy(q->fin_buf + q->fin_len, q->cfg->prefix, pl);
  q->fin_len += pl;
  put(q, s, name, strlen(name), id, idl);
  s->off -= pl;
  s->len += pl;
}

/* Appends n in decimal as an argument. */
static void
put_num(struct pacer_queue *q, size_t n)
{
  char b[24];
  int l = snprintf(b, sizeof(b), "%zu", n);

  put_arg(q, b, (size_t)l);
}

static void on_finish_reply(redisAsyncContext *ac, void *r, void *priv);

/* Runs the callbacks of entries e[0..n) with status, in order. */
static void
run_cbs(struct pacer_queue *q, const struct pacer_queue_fin_ent *e, size_t n,
        int status)
{
  size_t i;

  for (i = 0; i < n; i++)
    e[i].cb(q, status, 0, e[i].privdata);
}

/* Empties the batch (its callbacks are someone else's now). */
static void
batch_reset(struct pacer_queue *q)
{
  q->nfin = 0;
  q->fin_len = 0;
  q->fin_nkey = 0;
  q->fin_narg = 0;
}

/* Makes q->fin_argv and q->fin_lens hold need entries. Returns 0 or
 * PACER_ENOMEM. */
static int
argv_grow(struct pacer_queue *q, size_t need)
{
  const char **na;
  size_t *nl;

  if (need <= q->fin_argv_cap)
    return 0;
  na = realloc(q->fin_argv, need * sizeof(*na));
  if (na == NULL)
    return PACER_ENOMEM;
  q->fin_argv = na;
  nl = realloc(q->fin_lens, need * sizeof(*nl));
  if (nl == NULL)
    return PACER_ENOMEM;
  q->fin_lens = nl;
  q->fin_argv_cap = need;
  return 0;
}

/* Sends the batch as one script call (a struct fin_call, owned by the
 * reply). Returns 0, or PACER_EREDIS / PACER_ENOMEM with nothing sent. */
static int
call_send(struct pacer_queue *q, struct fin_call *call)
{
  char nk[16], rmax[24], dmax[24], ttl[24], rttl[24], dttl[24];
  size_t argc = 0, need, k;
  const char **argv;
  size_t *lens;

  need = 3 + FIN_SHARED_KEYS + q->fin_nkey + FIN_SHARED_ARGS + q->fin_narg;
  if (argv_grow(q, need) != 0)
    return PACER_ENOMEM;
  argv = q->fin_argv;
  lens = q->fin_lens;
  snprintf(nk, sizeof(nk), "%zu", FIN_SHARED_KEYS + q->fin_nkey);
  snprintf(rmax, sizeof(rmax), "%llu",
           (unsigned long long)q->cfg->results_maxlen);
  snprintf(dmax, sizeof(dmax), "%llu", (unsigned long long)q->cfg->dead_maxlen);
  snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)q->cfg->done_ttl_ms);
  snprintf(rttl, sizeof(rttl), "%llu",
           (unsigned long long)q->cfg->result_ttl_ms);
  snprintf(dttl, sizeof(dttl), "%llu", (unsigned long long)q->cfg->dead_ttl_ms);
#define ARG(s, l) (argv[argc] = (s), lens[argc++] = (l))
  ARG("EVAL", 4);
  ARG(pacer_lua_queue_finish, strlen(pacer_lua_queue_finish));
  ARG(nk, strlen(nk));
  ARG(q->k_results, strlen(q->k_results));
  ARG(q->k_dead, strlen(q->k_dead));
  ARG(q->k_cancel, strlen(q->k_cancel));
  ARG(q->k_donemarks, strlen(q->k_donemarks));
  for (k = 0; k < PACER_KEYS_NSTREAMS; k++)
    ARG(q->k_stream[k], strlen(q->k_stream[k]));
  for (k = 0; k < q->fin_nkey; k++)
    ARG(q->fin_buf + q->fin_key[k].off, q->fin_key[k].len);
  ARG(PACER_KEYS_GROUP, strlen(PACER_KEYS_GROUP));
  ARG(rmax, strlen(rmax));
  ARG(dmax, strlen(dmax));
  ARG(ttl, strlen(ttl));
  ARG(rttl, strlen(rttl));
  ARG(dttl, strlen(dttl));
  ARG(q->consumer, strlen(q->consumer));
  for (k = 0; k < q->fin_narg; k++)
    ARG(q->fin_buf + q->fin_arg[k].off, q->fin_arg[k].len);
#undef ARG
  assert(argc == need);
  /* hiredis (store/script.c) has its own copy once this returns */
  return pacer_queue_send(&q->cmd, on_finish_reply, NULL, call, (int)argc, argv,
                          lens);
}

/* Sends the batch as one call and empties it. Returns 0, or PACER_EREDIS
 * / PACER_ENOMEM with nothing sent and the batch as it was. */
static int
batch_send(struct pacer_queue *q)
{
  struct fin_call *call;
  size_t n = q->nfin;
  int rc;

  call = malloc(sizeof(*call) + n * sizeof(call->e[0]));
  if (call == NULL)
    return PACER_ENOMEM;
  call->n = n;
  memcpy(call->e, q->fin, n * sizeof(call->e[0]));
  rc = call_send(q, call);
  if (rc != 0) {
    free(call);
    return rc;
  }
  pacer_log(PACER_LOG_DEBUG, "redis", "msg=\"finish sent\" entries=%zu", n);
  batch_reset(q);
  return 0;
}

void
pacer_queue_finish_flush(struct pacer_queue *q)
{
  struct pacer_queue_fin_ent e[PACER_QUEUE_FINISH_MAX];
  size_t n = q->nfin;

  if (n == 0 || batch_send(q) == 0)
    return;
  /* Not sent (the command connection went down, or out of memory): each
   * owner sends its entry again later, as after an error reply. Copied
   * out first: a callback may finish more. */
  memcpy(e, q->fin, n * sizeof(e[0]));
  batch_reset(q);
  run_cbs(q, e, n, PACER_EREDIS);
}

/* Right before the loop polls: the finishes of this turn go. */
static void
on_fin_prepare(uv_prepare_t *h)
{
  struct pacer_queue *q =
      PACER_CONTAINER_OF(h, struct pacer_queue, fin_prepare);
  int i;

  uv_prepare_stop(h);
  /* A callback of a batch that could not go may finish again: that goes
   * too, before the loop blocks (bounded: such callbacks resend later). */
  for (i = 0; i < 4 && q->nfin > 0; i++)
    pacer_queue_finish_flush(q);
}

int
pacer_queue_batch_reply(const redisReply *reply, const char *what)
{
  if (reply->type == REDIS_REPLY_ERROR) {
    pacer_log(PACER_LOG_ERROR, "redis", "msg=\"script failed\" error=\"%.*s\"",
              (int)reply->len, reply->str);
    return PACER_EREDIS;
  }
  if (reply->type != REDIS_REPLY_ARRAY) {
    pacer_log(PACER_LOG_ERROR, "redis",
              "msg=\"script failed\" error=\"%s: reply of type %d, not an "
              "array\"",
              what, reply->type);
    return PACER_EREDIS;
  }
  return 0;
}

int
pacer_queue_batch_code(const redisReply *reply, size_t i, size_t n,
                       const char *what, long long *code)
{
  const redisReply *e = i < reply->elements ? reply->element[i] : NULL;

  *code = 0;
  if (e == NULL) {
    pacer_log(PACER_LOG_ERROR, "redis",
              "msg=\"script failed\" error=\"%s: %zu codes for %zu "
              "entries\"",
              what, reply->elements, n);
    return PACER_EREDIS;
  }
  if (e->type == REDIS_REPLY_ERROR) {
    pacer_log(PACER_LOG_ERROR, "redis", "msg=\"script failed\" error=\"%.*s\"",
              (int)e->len, e->str);
    return PACER_EREDIS;
  }
  if (e->type == REDIS_REPLY_INTEGER)
    *code = e->integer;
  if (*code == -1)
    pacer_log(PACER_LOG_WARN, "redis",
              "msg=\"lease lost: another consumer owns the entry now; this "
              "process's write was fenced off\"");
  return 0;
}

/* The reply of one call: one code per entry, handed to each entry's
 * callback in order, as a call of its own would have. */
static void
on_finish_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue *q;
  struct fin_call *call = ctx->privdata;
  redisReply *reply = r;
  int all = 0;
  size_t i;

  (void)ac;
  q = pacer_queue_answered(ctx, reply);
  free(ctx);
  /* a lost reply is never success */
  all =
      reply == NULL ? PACER_EUNKNOWN : pacer_queue_batch_reply(reply, "finish");
  for (i = 0; i < call->n; i++) {
    long long code = 0;
    int status =
        all != 0 ? all
                 : pacer_queue_batch_code(reply, i, call->n, "finish", &code);

    if (status == 0 && code == 2)
      pacer_log(PACER_LOG_INFO, "redis",
                "msg=\"job id already finished (done-marker): no second "
                "result\"");
    call->e[i].cb(q, status, status == 0 && code == 1, call->e[i].privdata);
  }
  free(call);
}

int
pacer_queue_finish(struct pacer_queue *q, const char *sid, int ack_required,
                   const struct pacer_fields *res,
                   const struct pacer_fields *dead, pacer_queue_done_cb cb,
                   void *privdata)
{
  const char *id, *job_id;
  enum pacer_queue_stream s = pacer_queue_sid_decode(sid, &id);
  size_t nd = dead ? dead->n : 0, bytes, nargs, i, idl, jl, pl;
  static const char *const sdigit[PACER_KEYS_NSTREAMS] = {"1", "2", "3"};
  struct pacer_queue_fin_ent *fe;
  int ok = 0, rc;

  if (q->closing || !q->cmd.up)
    return PACER_EREDIS; /* cb will not run; the caller sends it again */
  nargs = FIN_ENTRY_FIXED + res->n + nd;
  if (nargs > FIN_ENTRY_MAX)
    return PACER_EINVAL;
  /* The job id is the result's "id" field (the sid when it has none).
   * Only a job that ended ok sets its marker: a rejected or failed job
   * may be corrected and sent again under the same id. */
  idl = strlen(id);
  job_id = id;
  jl = idl;
  for (i = 0; i + 1 < res->n; i += 2) {
    if (res->lens[i] == strlen(PACER_KEYS_F_ID) &&
        memcmp(res->argv[i], PACER_KEYS_F_ID, res->lens[i]) == 0) {
      job_id = res->argv[i + 1];
      jl = res->lens[i + 1];
    } else if (res->lens[i] == strlen(PACER_KEYS_F_STATE) &&
               memcmp(res->argv[i], PACER_KEYS_F_STATE, res->lens[i]) == 0) {
      ok = res->lens[i + 1] == 2 && memcmp(res->argv[i + 1], "ok", 2) == 0;
    }
  }
  pl = strlen(q->cfg->prefix);
  bytes = FIN_ENTRY_KEYS * (pl + 16 + jl) + idl + jl + 2 * 24 + 8;
  for (i = 0; i < res->n; i++)
    bytes += res->lens[i];
  for (i = 0; i < nd; i++)
    bytes += dead->lens[i];
  /* Full, or an entry that must go alone: what waits goes first, so the
   * calls keep the order the finishes were asked in. */
  if (q->nfin == PACER_QUEUE_FINISH_MAX ||
      (q->nfin > 0 && (q->fin_len + bytes > FIN_BATCH_BYTES || !ack_required)))
    pacer_queue_finish_flush(q);
  if (buf_grow(q, bytes) != 0 || arg_grow(q, nargs) != 0)
    return PACER_ENOMEM;
  assert(q->fin_nkey + FIN_ENTRY_KEYS <=
         FIN_ENTRY_KEYS * PACER_QUEUE_FINISH_MAX);
  put_key(q, PACER_KEYS_DONE, job_id, jl);
  put_key(q, PACER_KEYS_RESULT, job_id, jl);
  put_key(q, PACER_KEYS_DEADJOB, job_id, jl);
  put_key(q, PACER_KEYS_CLAIM, job_id, jl);
  put_arg(q, sdigit[s], 1); /* KEYS[5..7]: high, normal, low */
  put_arg(q, id, idl);
  put_arg(q, ack_required ? "1" : "0", 1);
  put_arg(q, job_id, jl);
  put_arg(q, ack_required && ok ? "1" : "0", 1);
  put_num(q, res->n);
  for (i = 0; i < res->n; i++)
    put_arg(q, res->argv[i], res->lens[i]);
  put_num(q, nd);
  for (i = 0; i < nd; i++)
    put_arg(q, dead->argv[i], dead->lens[i]);
  fe = &q->fin[q->nfin++];
  fe->cb = cb;
  fe->privdata = privdata;
  if (!ack_required) {
    /* No pending check: it goes alone, so that no other entry's error
     * makes its owner send it again (a second result). */
    rc = batch_send(q);
    if (rc != 0)
      batch_reset(q); /* it held this entry only: cb will not run */
    return rc;
  }
  uv_prepare_start(&q->fin_prepare, on_fin_prepare);
  return 0;
}
