/* The queue's intake check: the done-marker and claim of each entry an
 * intake round delivers (docs/REDIS.md "One job id at a time"), checked by
 * store/lua/queue_dropdone.lua for up to PACER_QUEUE_DROP_MAX entries per
 * call. Part of store/queue.h; state in store/queue_int.h.
 *
 * While a reply's entries are delivered (pacer_queue_drop_begin/_end
 * around the delivery, queue_intake.c and queue_lease.c), each check the
 * scheduler asks for waits in q->drop; at the end of the delivery they go
 * as one EVALSHA on the command connection, in delivery order:
 *
 *   round reply -> on_entry x n -> drop_if_done x m -> EVALSHA (m entries)
 *                                                        |
 *   cb x m, in order, from one reply  <------------------+
 *
 * A batch is sent early when it is full (PACER_QUEUE_DROP_MAX entries or
 * DROP_BATCH_BYTES of arguments), so one script call stays short. A check
 * asked for outside a delivery goes at once, alone. The per-call costs
 * (a round trip, hiredis formatting, reply parsing, Lua call set-up, a
 * callback context) are paid once per batch instead of once per job. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/hist.h"
#include "common/log.h"
#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/queue_int.h"

/* Arguments of one call: EVAL, script, numkeys; 5 shared keys; 4 shared
 * args; 2 keys and 3 args per entry. */
#define DROP_ARGC_MAX    (3u + 5u + 4u + 5u * PACER_QUEUE_DROP_MAX)
#define DROP_BATCH_BYTES 16384u /* argument bytes of one call, about */
#define DROP_BUF_MIN     4096u  /* first size of q->drop_buf, bytes */

/* One call: its entries in order, with a copy of their strings, so that
 * it can be sent again after a lost reply (pacer_queue_drop_replay). */
struct drop_call {
  struct drop_call *next; /* q->drop_replay */
  char *buf;              /* the entries' strings (owned) */
  size_t n;
  struct pacer_queue_drop_ent e[]; /* offsets into buf */
};

static void
call_free(struct drop_call *call)
{
  free(call->buf);
  free(call);
}

/* Puts call at the end of the calls to send again once the command
 * connection is up (pacer_queue_drop_replay). */
static void
call_park(struct pacer_queue *q, struct drop_call *call)
{
  struct drop_call **t = &q->drop_replay;

  while (*t != NULL)
    t = &(*t)->next;
  call->next = NULL;
  *t = call;
}

/* Makes room for more bytes in q->drop_buf. Returns 0 or PACER_ENOMEM. */
static int
buf_grow(struct pacer_queue *q, size_t more)
{
  return pacer_queue_buf_grow(&q->drop_buf, &q->drop_cap, q->drop_len, more,
                              DROP_BUF_MIN);
}

/* Appends "<prefix><name><suffix>" (store/keys.h; name "" for suffix
 * alone) and a NUL to q->drop_buf. Returns its offset with *len its
 * length, or (size_t)-1 when out of memory. */
static size_t
buf_put(struct pacer_queue *q, const char *prefix, const char *name,
        const char *suffix, size_t *len)
{
  size_t n = strlen(prefix) + strlen(name) + strlen(suffix), off;

  if (buf_grow(q, n + 1) != 0)
    return (size_t)-1;
  off = q->drop_len;
  pacer_keys_format(q->drop_buf + off, n + 1, prefix, name, suffix);
  q->drop_len += n + 1;
  *len = n;
  return off;
}

static void on_drop_reply(redisAsyncContext *ac, void *r, void *priv);

/* Empties the batch (its callbacks are someone else's now). */
static void
batch_reset(struct pacer_queue *q)
{
  q->ndrop = 0;
  q->drop_len = 0;
}

/* Sends call as one script call. Returns 0 (the call belongs to the
 * reply now), or PACER_EREDIS (the connection is down; nothing sent). */
static int
call_send(struct pacer_queue *q, struct drop_call *call)
{
  static const char *const sdigit[PACER_KEYS_NSTREAMS] = {"1", "2", "3"};
  const char *argv[DROP_ARGC_MAX];
  size_t lens[DROP_ARGC_MAX];
  char nk[16], ttl[24];
  int argc = 0, rc;
  size_t i, j;

  snprintf(nk, sizeof(nk), "%zu", 5 + 2 * call->n);
  snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)q->cfg->done_ttl_ms);
#define ARG(s, l) (argv[argc] = (s), lens[argc++] = (l))
  ARG("EVAL", 4);
  ARG(pacer_lua_queue_dropdone, strlen(pacer_lua_queue_dropdone));
  ARG(nk, strlen(nk));
  for (i = 0; i < PACER_KEYS_NSTREAMS; i++)
    ARG(q->k_stream[i], strlen(q->k_stream[i]));
  ARG(q->k_delayed, strlen(q->k_delayed));
  ARG(q->k_donemarks, strlen(q->k_donemarks));
  for (i = 0; i < call->n; i++)
    for (j = 0; j < 2; j++)
      ARG(call->buf + call->e[i].off[j], call->e[i].len[j]);
  ARG(PACER_KEYS_GROUP, strlen(PACER_KEYS_GROUP));
  ARG(ttl, strlen(ttl));
  ARG(PACER_KEYS_CLAIM_TTL_MS, strlen(PACER_KEYS_CLAIM_TTL_MS));
  ARG(q->consumer, strlen(q->consumer));
  for (i = 0; i < call->n; i++) {
    const struct pacer_queue_drop_ent *d = &call->e[i];

    ARG(call->buf + d->off[2], d->len[2]);
    ARG(sdigit[d->stream], 1);
    ARG(call->buf + d->off[3], d->len[3]);
  }
#undef ARG
  assert((size_t)argc <= DROP_ARGC_MAX);
  rc = pacer_queue_send(&q->cmd, on_drop_reply, NULL, call, argc, argv, lens);
  if (rc == 0)
    pacer_log(PACER_LOG_DEBUG, "redis", "msg=\"done-check sent\" entries=%zu",
              call->n);
  return rc;
}

/* Sends the batch as one script call; with the command connection down,
 * the call waits for it (pacer_queue_drop_replay): an entry is never run
 * unchecked, which could send a job id twice. Returns 0 (the batch's
 * callbacks belong to the call now), or PACER_ENOMEM with nothing sent
 * and the batch as it was. */
static int
batch_send(struct pacer_queue *q)
{
  struct drop_call *call;

  assert(q->ndrop > 0 && q->ndrop <= PACER_QUEUE_DROP_MAX);
  call = malloc(sizeof(*call) + q->ndrop * sizeof(call->e[0]));
  if (call == NULL)
    return PACER_ENOMEM;
  call->buf = malloc(q->drop_len);
  if (call->buf == NULL) {
    free(call);
    return PACER_ENOMEM;
  }
  memcpy(call->buf, q->drop_buf, q->drop_len);
  memcpy(call->e, q->drop, q->ndrop * sizeof(call->e[0]));
  call->n = q->ndrop;
  call->next = NULL;
  if (call_send(q, call) != 0) {
    pacer_log(PACER_LOG_WARN, "redis",
              "msg=\"done-check waits for the connection\" entries=%zu",
              call->n);
    call_park(q, call);
  }
  batch_reset(q);
  return 0;
}

/* Sends the batch; when it cannot go (out of memory), its callbacks run
 * now with the error (the jobs then run, as after an error reply: the
 * finish script still keeps the result single). */
static void
batch_flush(struct pacer_queue *q)
{
  struct pacer_queue_drop_ent d[PACER_QUEUE_DROP_MAX];
  size_t n = q->ndrop, i;
  int rc;

  if (n == 0)
    return;
  rc = batch_send(q);
  if (rc == 0)
    return;
  pacer_log(PACER_LOG_WARN, "redis",
            "msg=\"done-check not sent; the jobs run\" entries=%zu error=%s", n,
            pacer_err_name(rc));
  /* Copied out first: a callback may ask for a new check. */
  memcpy(d, q->drop, n * sizeof(d[0]));
  batch_reset(q);
  for (i = 0; i < n; i++)
    d[i].cb(q, PACER_EREDIS, 0, d[i].privdata);
}

void
pacer_queue_drop_replay(struct pacer_queue *q)
{
  struct drop_call *list = q->drop_replay, *call;

  q->drop_replay = NULL;
  while ((call = list) != NULL) {
    list = call->next;
    call->next = NULL;
    if (call_send(q, call) != 0) { /* down again: keep it and the rest */
      call_park(q, call);
      while ((call = list) != NULL) {
        list = call->next;
        call_park(q, call);
      }
    }
  }
}

void
pacer_queue_drop_abandon(struct pacer_queue *q)
{
  struct drop_call *call;
  size_t i;

  while ((call = q->drop_replay) != NULL) {
    q->drop_replay = call->next;
    for (i = 0; i < call->n; i++)
      call->e[i].cb(q, PACER_EUNKNOWN, 0, call->e[i].privdata);
    call_free(call);
  }
}

/* The reply of one call: one code per entry, handed to each entry's
 * callback in order (store/queue.h pacer_queue_drop_if_done). */
static void
on_drop_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue *q;
  struct drop_call *call = ctx->privdata;
  redisReply *reply = r;
  int all = 0;
  size_t i;

  (void)ac;
  q = pacer_queue_answered(ctx, reply);
  free(ctx);
  if (reply == NULL && !q->closing) {
    /* Lost: the script may have run. Sent again once reconnected, it
     * tells the same (an entry it dropped or folded is no longer pending:
     * 2; one it claimed keeps its claim: 0), where running the entries
     * now would send a dropped or folded one again. */
    pacer_log(PACER_LOG_WARN, "redis",
              "msg=\"done-check reply lost; checked again once reconnected\" "
              "entries=%zu",
              call->n);
    call_park(q, call);
    return;
  }
  /* closing: the entries stay pending */
  all = reply == NULL ? PACER_EUNKNOWN
                      : pacer_queue_batch_reply(reply, "done-check");
  for (i = 0; i < call->n; i++) {
    long long code = 0;
    int status = all != 0 ? all
                          : pacer_queue_batch_code(reply, i, call->n,
                                                   "done-check", &code);
    /* 1 done-marker, 3 folded into the running entry of its job id, 2 no
     * longer pending (a replay of a call whose reply was lost, or another
     * consumer finished it), -1 another consumer owns it; an error of
     * this entry's own: refused, not run */
    int applied = all != 0                  ? 0
                  : status != 0             ? PACER_QUEUE_DROP_REFUSED
                  : code == 1               ? 1
                  : code == 3               ? 3
                  : code == 2 || code == -1 ? PACER_QUEUE_DROP_NOT_OURS
                                            : 0;

    call->e[i].cb(q, status, applied, call->e[i].privdata);
  }
  call_free(call);
}

void
pacer_queue_drop_begin(struct pacer_queue *q)
{
  q->delivering++;
}

void
pacer_queue_drop_end(struct pacer_queue *q)
{
  assert(q->delivering > 0);
  if (--q->delivering == 0)
    batch_flush(q);
}

int
pacer_queue_drop_if_done(struct pacer_queue *q, const char *sid,
                         const char *job_id, pacer_queue_done_cb cb,
                         void *privdata)
{
  const char *id;
  enum pacer_queue_stream s = pacer_queue_sid_decode(sid, &id);
  struct pacer_queue_drop_ent *d;
  size_t mark, need;
  int rc;

  if (q->closing)
    return PACER_EREDIS; /* as pacer_queue_send: nothing runs */
  assert(q->delivering > 0 || q->ndrop == 0);
  need = 2 * (strlen(q->cfg->prefix) + strlen(job_id) + 8) + strlen(id) +
         strlen(job_id) + 8;
  if (q->ndrop == PACER_QUEUE_DROP_MAX ||
      (q->ndrop > 0 && q->drop_len + need > DROP_BATCH_BYTES))
    batch_flush(q);
  mark = q->drop_len;
  d = &q->drop[q->ndrop];
  d->cb = cb;
  d->privdata = privdata;
  d->stream = (int)s;
  d->off[0] = buf_put(q, q->cfg->prefix, PACER_KEYS_DONE, job_id, &d->len[0]);
  d->off[1] = buf_put(q, q->cfg->prefix, PACER_KEYS_CLAIM, job_id, &d->len[1]);
  d->off[2] = buf_put(q, "", "", id, &d->len[2]);
  d->off[3] = buf_put(q, "", "", job_id, &d->len[3]);
  if (d->off[0] == (size_t)-1 || d->off[1] == (size_t)-1 ||
      d->off[2] == (size_t)-1 || d->off[3] == (size_t)-1) {
    q->drop_len = mark; /* this entry is not in the batch */
    return PACER_ENOMEM;
  }
  q->ndrop++;
  if (q->delivering > 0)
    return 0; /* goes with the others at pacer_queue_drop_end */
  rc = batch_send(q);
  if (rc != 0)
    batch_reset(q); /* it held this entry only: cb will not run */
  return rc;
}
