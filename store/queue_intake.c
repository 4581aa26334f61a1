/* The queue's intake: rounds over the three priority streams
 * (docs/REDIS.md "Priority streams", store/lua/queue_intake.lua), the
 * blocking read when all are empty, and the delivery of entries to the
 * scheduler. Part of store/queue.h; state in store/queue_int.h. */
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

#define READ_BLOCK_MS "1000" /* XREADGROUP BLOCK, ms */

/* Intake shares of the three priority streams, in tenths of each round's
 * free capacity. 6:3:1 keeps every level well ahead of the next (high
 * gets twice normal's share and normal three times low's) while low keeps
 * a tenth of the intake however much high keeps coming, so it is never
 * starved. A share a stream cannot use passes down to the next one. */
#define PRIO_WEIGHT_HIGH   6u  /* tenths of each round */
#define PRIO_WEIGHT_NORMAL 3u  /* tenths of each round */
#define PRIO_WEIGHT_LOW    1u  /* tenths of each round */
#define PRIO_WEIGHT_SUM    10u /* the three above */
#define BLOCK_STREAMS_ARGC 15  /* argv of the blocking read over all three */

static const unsigned stream_weight[PACER_KEYS_NSTREAMS] = {
    PRIO_WEIGHT_HIGH, PRIO_WEIGHT_NORMAL, PRIO_WEIGHT_LOW};

static void on_read_reply(redisAsyncContext *ac, void *r, void *priv);
static void on_fetch_timer(uv_timer_t *t);

/* ------------------------------------------------------------------ */
/* Intake */

/* Parses 1..4 decimal digits at s[0..len), at most max. Returns the value
 * or -1 when malformed. */
static int
parse_small(const char *s, size_t len, int max)
{
  int v = 0;
  size_t i;

  if (len == 0 || len > 4)
    return -1;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v <= max ? v : -1;
}

/* True when the reply string k is exactly the field name (k->len counts,
 * so a name with a NUL byte never matches a shorter one). */
static int
field_is(const redisReply *k, const char *name)
{
  size_t n = strlen(name);

  return k->len == n && memcmp(k->str, name, n) == 0;
}

/* Parses the "attempt" field: "<attempts>", "<attempts>.<429s>" or
 * "<attempts>.<429s>.<first enqueue, unix ms>", attempts and 429s each 1..4
 * decimal digits, attempts at most PACER_QUEUE_ATTEMPT_MAX (the 429 count
 * and the first enqueue travel with the job through the delayed set, so
 * the 429 cap and a relative deadline hold). Returns 0, or -1 when
 * malformed. */
static int
parse_attempt(const char *s, size_t len, unsigned *attempt, unsigned *throttled,
              uint64_t *enqueued_unix_ms)
{
  const char *dot = memchr(s, '.', len), *dot2 = NULL;
  size_t alen = dot != NULL ? (size_t)(dot - s) : len, tlen = 0, i;
  int a = parse_small(s, alen, PACER_QUEUE_ATTEMPT_MAX), t = 0;
  uint64_t enq = 0;

  if (dot != NULL) {
    dot2 = memchr(dot + 1, '.', len - alen - 1);
    tlen = dot2 != NULL ? (size_t)(dot2 - dot - 1) : len - alen - 1;
    t = parse_small(dot + 1, tlen, 9999);
  }
  if (dot2 != NULL) {
    size_t n = len - (size_t)(dot2 + 1 - s);

    if (n == 0 || n > 15)
      return -1;
    for (i = 0; i < n; i++) {
      if (dot2[1 + i] < '0' || dot2[1 + i] > '9')
        return -1;
      enq = enq * 10 + (uint64_t)(dot2[1 + i] - '0');
    }
  }
  if (a < 0 || t < 0)
    return -1;
  *attempt = (unsigned)a;
  *throttled = (unsigned)t;
  if (enq != 0)
    *enqueued_unix_ms = enq;
  return 0;
}

/* The unix ms of a stream entry id "<ms>-<seq>" (Redis XADD * ids are the
 * Redis server's wall clock), 0 when it has none or one before 2001 (an id
 * a client chose, such as "1-1", is no time: the job then counts from when
 * it is read). */
static uint64_t
entry_ms(const char *id, size_t len)
{
  uint64_t v = 0;
  size_t i;

  for (i = 0; i < len && i < 15 && id[i] >= '0' && id[i] <= '9'; i++)
    v = v * 10 + (uint64_t)(id[i] - '0');
  return i < len && id[i] == '-' && v >= UINT64_C(1000000000000) ? v : 0;
}

/* Delivers one XREADGROUP/XAUTOCLAIM entry of stream s: [id, [f, v, ...]]
 * or [id, nil]. */
void
pacer_queue_deliver_entry(struct pacer_queue *q, const redisReply *e,
                          int claimed, enum pacer_queue_stream s)
{
  struct pacer_queue_entry ent;
  const redisReply *f;
  char sid[PACER_QUEUE_SID_MAX + 1];
  size_t i;

  if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
      e->element[0]->type != REDIS_REPLY_STRING ||
      pacer_queue_sid_encode(sid, sizeof(sid), s, e->element[0]->str,
                             e->element[0]->len) != 0)
    return;
  memset(&ent, 0, sizeof(ent));
  ent.sid = sid;
  ent.claimed = claimed;
  ent.enqueued_unix_ms = entry_ms(e->element[0]->str, e->element[0]->len);
  f = e->elements > 1 ? e->element[1] : NULL;
  if (f != NULL && f->type == REDIS_REPLY_ARRAY) {
    for (i = 0; i + 1 < f->elements; i += 2) {
      const redisReply *k = f->element[i], *v = f->element[i + 1];

      if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
        continue;
      if (field_is(k, PACER_KEYS_F_JOB)) {
        ent.dup_job_field |= ent.job != NULL; /* never "last one wins" */
        ent.job = v->str;
        ent.job_len = v->len;
      } else if (field_is(k, PACER_KEYS_F_ID)) {
        ent.id = v->str;
      } else if (field_is(k, PACER_KEYS_F_ATTEMPT)) {
        if (parse_attempt(v->str, v->len, &ent.attempt, &ent.throttled,
                          &ent.enqueued_unix_ms) != 0)
          ent.bad_attempt = 1;
      } else if (field_is(k, PACER_KEYS_F_PROMOTED)) {
        ent.promoted = v->len == 1 && v->str[0] == '1';
      }
    }
    if (ent.job == NULL) {
      /* An entry without a "job" field is malformed, not lost: hand it
       * over with an empty text so it is dead-lettered as invalid. */
      ent.job = "";
      ent.job_len = 0;
      ent.no_job_field = 1;
    }
  }
  q->cbs.on_entry(q, &ent, q->arg);
}

/* Delivers the entries of one stream of a reply ([entry...]) and returns
 * how many Redis handed over. */
static size_t
deliver_list(struct pacer_queue *q, const redisReply *list,
             enum pacer_queue_stream s)
{
  size_t j;

  if (list->type != REDIS_REPLY_ARRAY)
    return 0;
  for (j = 0; j < list->elements; j++)
    pacer_queue_deliver_entry(q, list->element[j], 0, s);
  return list->elements;
}

/* The stream whose key is name (len bytes), or -1. */
static int
stream_of_key(const struct pacer_queue *q, const char *name, size_t len)
{
  int i;

  for (i = 0; i < PACER_KEYS_NSTREAMS; i++)
    if (strlen(q->k_stream[i]) == len && memcmp(q->k_stream[i], name, len) == 0)
      return i;
  return -1;
}

/* Delivers every entry of an XREADGROUP reply ([[stream, [entry...]]...],
 * or nil) and returns how many entries Redis handed over. */
static size_t
deliver_read(struct pacer_queue *q, const redisReply *reply)
{
  size_t i, n = 0;

  if (reply->type != REDIS_REPLY_ARRAY)
    return 0;
  for (i = 0; i < reply->elements; i++) {
    const redisReply *st = reply->element[i];
    int s;

    if (st->type != REDIS_REPLY_ARRAY || st->elements < 2 ||
        st->element[0]->type != REDIS_REPLY_STRING)
      continue;
    s = stream_of_key(q, st->element[0]->str, st->element[0]->len);
    if (s >= 0)
      n += deliver_list(q, st->element[1], (enum pacer_queue_stream)s);
  }
  return n;
}

/* Delivers the reply of pacer_lua_queue_intake ({s, entries, ...}) and returns
 * how many entries Redis handed over; *err is set to the error a stream's read
 * got, or NULL. */
static size_t
deliver_round(struct pacer_queue *q, const redisReply *reply,
              const redisReply **err)
{
  size_t i, n = 0;

  *err = NULL;
  if (reply->type != REDIS_REPLY_ARRAY)
    return 0;
  for (i = 0; i + 1 < reply->elements; i += 2) {
    const redisReply *s = reply->element[i];

    if (s->type == REDIS_REPLY_INTEGER && s->integer == 0 &&
        reply->element[i + 1]->type == REDIS_REPLY_STRING) {
      *err = reply->element[i + 1];
      continue;
    }
    if (s->type != REDIS_REPLY_INTEGER || s->integer < 1 ||
        s->integer > PACER_KEYS_NSTREAMS)
      continue;
    n += deliver_list(q, reply->element[i + 1],
                      (enum pacer_queue_stream)(s->integer - 1));
  }
  return n;
}

/* Splits units of intake among the streams by smooth weighted round-robin
 * (nginx upstream's algorithm), with its state kept across rounds: any 10
 * consecutive units go 6 high, 3 normal, 1 low. A per-round minimum of one
 * would break the prefetch bound whenever a round has fewer units than
 * streams, which is the common case (one unit per finished job); this
 * keeps the bound and still gives low one unit in ten. */
static void
round_plan(struct pacer_queue *q, size_t units,
           size_t plan[PACER_KEYS_NSTREAMS])
{
  size_t u;
  int i, best;

  /* A whole cycle of PRIO_WEIGHT_SUM units gives each stream exactly its
   * weight and leaves the state as it was. */
  for (i = 0; i < PACER_KEYS_NSTREAMS; i++)
    plan[i] = units / PRIO_WEIGHT_SUM * stream_weight[i];
  for (u = 0; u < units % PRIO_WEIGHT_SUM; u++) {
    best = 0;
    for (i = 0; i < PACER_KEYS_NSTREAMS; i++) {
      q->swrr[i] += (int)stream_weight[i];
      if (q->swrr[i] > q->swrr[best])
        best = i;
    }
    q->swrr[best] -= (int)PRIO_WEIGHT_SUM;
    plan[best]++;
  }
}

static int
intake_open(const struct pacer_queue *q)
{
  return q->started && !q->intake_stopped && !q->closing && q->intake.up;
}

/* The blocking read when a whole round found every stream empty: COUNT 1
 * per stream, so it may take up to PACER_KEYS_NSTREAMS - 1 entries beyond the
 * free capacity, and only when jobs reach two or three streams between the
 * empty round and this read (a read that really blocks wakes up for one
 * stream, with one entry). */
static void
read_blocking(struct pacer_queue *q)
{
  const char *argv[BLOCK_STREAMS_ARGC];
  int argc = 0, i;

  if (pacer_queue_capacity(q) == 0)
    return;
  argv[argc++] = "XREADGROUP";
  argv[argc++] = "GROUP";
  argv[argc++] = PACER_KEYS_GROUP;
  argv[argc++] = q->consumer;
  argv[argc++] = "COUNT";
  argv[argc++] = "1";
  argv[argc++] = "BLOCK";
  argv[argc++] = READ_BLOCK_MS;
  argv[argc++] = "STREAMS";
  for (i = 0; i < PACER_KEYS_NSTREAMS; i++)
    argv[argc++] = q->k_stream[i];
  for (i = 0; i < PACER_KEYS_NSTREAMS; i++)
    argv[argc++] = ">";
  assert(argc == BLOCK_STREAMS_ARGC);
  if (pacer_queue_send(&q->intake, on_read_reply, NULL, NULL, argc, argv,
                       NULL) != 0) {
    uv_timer_start(&q->fetch_timer, on_fetch_timer, 1000, 0); /* ENOMEM */
    return;
  }
  q->read_blocking = 1;
  q->reading = 1;
}

static void
on_fetch_timer(uv_timer_t *t)
{
  pacer_queue_fetch(t->data);
}

/* Reply to a round (pacer_lua_queue_intake) or to the blocking read. A round
 * that read anything is followed by another at once (until capacity runs out,
 * then the next poke starts one); a round that found nothing by the blocking
 * read. */
static void
on_read_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue *q = ctx->c->q;
  redisReply *reply = r;
  const redisReply *err = NULL;
  int blocking = q->read_blocking;
  size_t got = 0;

  (void)ac;
  ctx->c->pending--;
  free(ctx);
  q->read_blocking = 0;
  if (reply == NULL) {
    q->reading = 0;
    return; /* disconnected: reconnect resumes intake */
  }
  /* reading stays set while the entries go out, so a poke from on_entry
   * cannot start a second round in the middle of this one. */
  /* The round's done-checks go as one script call once all its entries
   * are out (store/queue_drop.c). */
  pacer_queue_drop_begin(q);
  if (reply->type == REDIS_REPLY_ERROR)
    err = reply;
  else if (blocking)
    got = deliver_read(q, reply);
  else
    got = deliver_round(q, reply, &err);
  pacer_queue_drop_end(q);
  q->reading = 0;
  if (err != NULL) {
    uint64_t now_mono_ms = uv_now(q->loop);

    /* At most once a second: a broken stream fails every round. */
    if (q->read_err_mono_ms == 0 || now_mono_ms >= q->read_err_mono_ms + 1000) {
      pacer_log(PACER_LOG_WARN, "redis",
                "msg=\"intake read failed\" error=\"%.*s\"", (int)err->len,
                err->str);
      q->read_err_mono_ms = now_mono_ms;
    }
    /* The stream or its group vanished (Redis reset, DEL): NOGROUP from a
     * read, UNBLOCKED from the blocking read. A script error keeps the
     * command's own code. */
    if ((strstr(err->str, "NOGROUP") != NULL ||
         strncmp(err->str, "UNBLOCKED", 9) == 0) &&
        q->intake.up) {
      pacer_queue_ensure_group(&q->intake);
      return;
    }
    if (got == 0) {
      if (!q->closing)
        uv_timer_start(&q->fetch_timer, on_fetch_timer, 1000, 0);
      return;
    }
  }
  if (blocking || got > 0)
    pacer_queue_fetch(q);
  else if (intake_open(q))
    read_blocking(q);
}

/* Starts an intake round over the free capacity. */
void
pacer_queue_fetch(struct pacer_queue *q)
{
  char num[PACER_KEYS_NSTREAMS][24];
  size_t want, plan[PACER_KEYS_NSTREAMS];
  const char *argv[3 + PACER_KEYS_NSTREAMS + 2 + PACER_KEYS_NSTREAMS];
  int argc = 0, i;

  if (!intake_open(q) || q->reading)
    return;
  want = pacer_queue_capacity(q);
  if (want == 0)
    return;
  if (want > PACER_QUEUE_READ_MAX)
    want = PACER_QUEUE_READ_MAX;
  round_plan(q, want, plan);
  argv[argc++] = "EVAL";
  argv[argc++] = pacer_lua_queue_intake;
  argv[argc++] = "3";
  for (i = 0; i < PACER_KEYS_NSTREAMS; i++)
    argv[argc++] = q->k_stream[i];
  argv[argc++] = PACER_KEYS_GROUP;
  argv[argc++] = q->consumer;
  for (i = 0; i < PACER_KEYS_NSTREAMS; i++) {
    snprintf(num[i], sizeof(num[i]), "%zu", plan[i]);
    argv[argc++] = num[i];
  }
  if (pacer_queue_send(&q->intake, on_read_reply, NULL, NULL, argc, argv,
                       NULL) != 0) {
    uv_timer_start(&q->fetch_timer, on_fetch_timer, 1000, 0); /* ENOMEM */
    return;
  }
  q->reading = 1;
}
