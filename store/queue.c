/* Redis queue glue: hiredis async on the scheduler's uv loop.
 * See store/queue.h for the two-connection design and docs/REDIS.md for the
 * key layout. Every command goes through redisAsyncCommandArgv with explicit
 * lengths; job data never reaches a format string. */
#include "store/queue.h"

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
#include "store/redis_uv.h"

#define GROUP               PACER_KEYS_GROUP
#define BACKOFF_MIN_MS      100u   /* first reconnect delay, ms */
#define BACKOFF_MAX_MS      5000u  /* reconnect delay cap, ms */
#define READ_BLOCK_MS       "1000" /* XREADGROUP BLOCK, ms */
#define READ_MAX_COUNT      1000u  /* entries per XREADGROUP */
#define PROMOTE_BATCH       "500"  /* delayed entries moved per script run */
#define PROMOTE_BATCH_N     500
#define PROMOTE_MAX_WAIT_MS 1000u /* poll delayed at least this often, ms */
#define RENEW_BATCH         500u  /* ids per XCLAIM renewal */
#define MAX_ARGS            64u   /* argv entries for one script call */

/* Intake shares of the three priority streams, in tenths of each round's
 * free capacity. 6:3:1 keeps every level well ahead of the next (high
 * gets twice normal's share and normal three times low's) while low keeps
 * a tenth of the intake however much high keeps coming, so it is never
 * starved. A share a stream cannot use passes down to the next one. */
#define PRIO_WEIGHT_HIGH   6u  /* tenths of each round */
#define PRIO_WEIGHT_NORMAL 3u  /* tenths of each round */
#define PRIO_WEIGHT_LOW    1u  /* tenths of each round */
#define PRIO_WEIGHT_SUM    10u /* the three above */
#define NSTREAMS           3   /* intake streams */
#define BLOCK_STREAMS_ARGC 15  /* argv of the blocking read over all three */

/* Intake streams in order of precedence. */
enum stream_ix { S_HIGH = 0, S_NORMAL = 1, S_LOW = 2 };

/* Key suffix, sid tag and delayed-member tag of each stream: store/keys.h
 * (pacer_keys_stream, _sid_tag, _member_tag, indexed like enum stream_ix).
 * The normal stream keeps bare ids and untagged members, as before. */
static const unsigned stream_weight[NSTREAMS] = {
    PRIO_WEIGHT_HIGH, PRIO_WEIGHT_NORMAL, PRIO_WEIGHT_LOW};

enum conn_role { CONN_INTAKE = 0, CONN_CMD = 1 };

struct conn {
  struct pacer_queue *q;
  redisAsyncContext *ac; /* NULL while disconnected */
  enum conn_role role;
  int up;              /* connected, AUTH/SELECT sent, group ensured */
  int groups_wait;     /* XGROUP CREATE replies still to come */
  int groups_err;      /* one of them failed: reconnecting */
  uv_timer_t retry;    /* reconnect timer */
  uint32_t backoff_ms; /* next reconnect delay, ms */
  size_t pending;      /* commands awaiting a reply */
  uint64_t connects;   /* times it became ready (metrics) */
};

struct pacer_queue {
  uv_loop_t *loop;
  const struct pacer_config *cfg;
  struct pacer_redis_addr addr;
  char *consumer;
  char *k_stream[NSTREAMS]; /* <prefix>jobs:high, <prefix>jobs, ...:low */
  char *k_delayed, *k_results, *k_dead;
  struct pacer_queue_cbs cbs;
  void *arg;
  struct conn intake;
  struct conn cmd;
  uv_timer_t promote_timer;
  uint64_t promote_at_unix_ms; /* when promote_timer fires, unix ms */
  uv_timer_t claim_timer;
  uv_timer_t renew_timer;
  uv_timer_t fetch_timer; /* delayed re-read after an error reply */
  size_t (*held_list)(void *arg, const char **sids, size_t max);
  void *held_arg;
  int started;
  int reading;   /* XREADGROUP outstanding */
  int promoting; /* promote script outstanding */
  int claiming;  /* XAUTOCLAIM outstanding */
  int intake_stopped;
  int closing;
  int pending_closes;        /* handles and connections still closing */
  int read_blocking;         /* the intake read in flight is the BLOCK one */
  uint64_t read_err_mono_ms; /* last intake error logged, uv_now ms */
  int swrr[NSTREAMS];        /* smooth weighted round-robin state, weights */
  enum stream_ix claim_ix;   /* stream of the XAUTOCLAIM in flight */
  char claim_cursor[NSTREAMS][64];
  long long intake_client_id; /* CLIENT ID of the intake connection, or 0 */
  struct pacer_hist rtt;      /* script round trips, command connection */
  void (*on_closed)(void *arg);
  void *closed_arg;
};

/* Per-command context; freed in the reply callback, which hiredis runs
 * exactly once (with NULL on disconnect). */
struct cmd_ctx {
  struct conn *c;
  pacer_queue_done_cb cb;
  pacer_queue_reply_cb reply_cb; /* pacer_queue_eval_reply only */
  void *privdata;
  uint64_t sent_mono_us; /* when it was sent, for the round-trip metric */
};

/* ------------------------------------------------------------------ */
/* Lua scripts: store/lua/queue_*.lua (pacer_lua_queue_* from
 * store/lua_scripts.h). Each write script acts only while the entry is
 * still pending and ours, so a replay after "outcome unknown" never writes
 * twice, and a consumer whose lease was lost is fenced off. */

/* ------------------------------------------------------------------ */
/* Helpers */

/* "<prefix>done:<job id>": the done-marker key (owned), or NULL. */
static char *
done_key(const struct pacer_queue *q, const char *job_id)
{
  return pacer_keys_new(q->cfg->prefix, PACER_KEYS_DONE, job_id);
}

/* Splits a sid handed out by this queue into its stream and the bare entry
 * id (borrowed from sid): "h/<id>" high, "l/<id>" low, "<id>" normal. A
 * stream entry id always starts with a digit, so the tags cannot clash. */
static enum stream_ix
sid_decode(const char *sid, const char **bare)
{
  if ((sid[0] == 'h' || sid[0] == 'l') && sid[1] == '/') {
    *bare = sid + 2;
    return sid[0] == 'h' ? S_HIGH : S_LOW;
  }
  *bare = sid;
  return S_NORMAL;
}

/* Writes the sid of entry id (len bytes) of stream s into out. Returns 0,
 * or -1 when it does not fit. */
static int
sid_encode(char *out, size_t size, enum stream_ix s, const char *id, size_t len)
{
  size_t tl = strlen(pacer_keys_sid_tag((int)s));

  if (tl + len >= size)
    return -1;
  memcpy(out, pacer_keys_sid_tag((int)s), tl);
  memcpy(out + tl, id, len);
  out[tl + len] = '\0';
  return 0;
}

/* The stream whose key is name (len bytes), or -1. */
static int
stream_of_key(const struct pacer_queue *q, const char *name, size_t len)
{
  int i;

  for (i = 0; i < NSTREAMS; i++)
    if (strlen(q->k_stream[i]) == len && memcmp(q->k_stream[i], name, len) == 0)
      return i;
  return -1;
}

static void
free_keys(struct pacer_queue *q)
{
  int i;

  for (i = 0; i < NSTREAMS; i++) {
    free(q->k_stream[i]);
    q->k_stream[i] = NULL;
  }
  free(q->k_delayed);
  free(q->k_results);
  free(q->k_dead);
  q->k_delayed = q->k_results = q->k_dead = NULL;
}

static const char *
conn_name(const struct conn *c)
{
  return c->role == CONN_CMD ? "cmd" : "intake";
}

static size_t
queue_capacity(struct pacer_queue *q)
{
  return q->cbs.capacity ? q->cbs.capacity(q, q->arg) : 0;
}

static void conn_connect(struct conn *c);
static void fetch(struct pacer_queue *q);
static void promote_now(struct pacer_queue *q);
static void on_read_reply(redisAsyncContext *ac, void *r, void *priv);
static void on_fetch_timer(uv_timer_t *t);

/* Sends argv on c; lens NULL means every argv[i] is a C string. privdata/cb
 * as in struct cmd_ctx. Returns 0 or PACER_EREDIS (not connected; cb will
 * not run) or PACER_ENOMEM. */
static int
send_argv(struct conn *c, redisCallbackFn *fn, pacer_queue_done_cb cb,
          void *privdata, int argc, const char **argv, const size_t *lens)
{
  struct cmd_ctx *ctx;
  size_t *own = NULL;
  int i, rc;

  if (c->ac == NULL || !c->up)
    return PACER_EREDIS;
  if (lens == NULL) {
    /* Our own C strings: hiredis still gets explicit lengths (STYLE 13). */
    own = malloc((size_t)argc * sizeof(*own));
    if (own == NULL)
      return PACER_ENOMEM;
    for (i = 0; i < argc; i++)
      own[i] = strlen(argv[i]);
    lens = own;
  }
  ctx = malloc(sizeof(*ctx));
  if (ctx == NULL) {
    free(own);
    return PACER_ENOMEM;
  }
  ctx->c = c;
  ctx->cb = cb;
  ctx->reply_cb = NULL;
  ctx->privdata = privdata;
  ctx->sent_mono_us = uv_hrtime() / 1000u;
  rc = redisAsyncCommandArgv(c->ac, fn, ctx, argc, argv, lens);
  free(own);
  if (rc != REDIS_OK) {
    free(ctx);
    return PACER_EREDIS;
  }
  c->pending++;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Connections */

static void
maybe_closed(struct pacer_queue *q)
{
  void (*fn)(void *);
  void *arg;

  if (!q->closing || q->pending_closes > 0)
    return;
  fn = q->on_closed;
  arg = q->closed_arg;
  free(q->consumer);
  free_keys(q);
  explicit_bzero(q->addr.password, sizeof(q->addr.password));
  free(q);
  if (fn != NULL)
    fn(arg);
}

static void
on_handle_closed(uv_handle_t *h)
{
  struct pacer_queue *q = h->data;

  q->pending_closes--;
  maybe_closed(q);
}

static void
on_retry(uv_timer_t *t)
{
  struct conn *c = PACER_CONTAINER_OF(t, struct conn, retry);

  conn_connect(c);
}

static void
schedule_reconnect(struct conn *c)
{
  if (c->q->closing)
    return;
  pacer_log(PACER_LOG_INFO, "redis", "msg=\"reconnecting\" conn=%s delay_ms=%u",
            conn_name(c), c->backoff_ms);
  uv_timer_start(&c->retry, on_retry, c->backoff_ms, 0);
  c->backoff_ms *= 2;
  if (c->backoff_ms > BACKOFF_MAX_MS)
    c->backoff_ms = BACKOFF_MAX_MS;
}

/* AUTH / SELECT refused: the connection is unusable; log (Redis's text
 * never holds the password) and let the reconnect loop try again (the
 * connect module drops the connection). */
static void
on_setup_error(void *data, const char *error, size_t len)
{
  struct conn *c = data;

  pacer_log(PACER_LOG_ERROR, "redis",
            "msg=\"connection setup refused\" conn=%s error=\"%.*s\"",
            conn_name(c), (int)len, error);
}

static void conn_ready(struct conn *c);

static void
on_client_id_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct cmd_ctx *ctx = priv;
  redisReply *reply = r;

  (void)ac;
  ctx->c->pending--;
  if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
    ctx->c->q->intake_client_id = reply->integer;
  free(ctx);
}

/* XGROUP CREATE ... MKSTREAM, one per intake stream; BUSYGROUP means it
 * exists already. The connection is ready once all three have answered. */
static void
on_group_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct cmd_ctx *ctx = priv;
  struct conn *c = ctx->c;
  redisReply *reply = r;

  (void)ac;
  c->pending--;
  free(ctx);
  if (reply == NULL)
    return; /* disconnected; the reconnect repeats this */
  if (c->groups_wait > 0)
    c->groups_wait--;
  if (reply->type == REDIS_REPLY_ERROR &&
      strncmp(reply->str, "BUSYGROUP", 9) != 0) {
    pacer_log(PACER_LOG_ERROR, "redis",
              "msg=\"cannot create consumer group, retrying\" conn=%s "
              "error=\"%.*s\"",
              conn_name(c), (int)reply->len, reply->str);
    /* e.g. WRONGTYPE: reconnect with backoff and try again. */
    c->groups_err = 1;
    if (c->ac != NULL)
      redisAsyncDisconnect(c->ac);
    return;
  }
  if (c->groups_wait == 0 && !c->groups_err)
    conn_ready(c);
}

/* Creates the group on every intake stream (after a connect, or when a
 * read finds it gone after a Redis reset). On a failure to send, the
 * connection is dropped so that the reconnect loop tries again. */
static void
ensure_group(struct conn *c)
{
  struct pacer_queue *q = c->q;
  int i;

  c->groups_wait = 0;
  c->groups_err = 0;
  for (i = 0; i < NSTREAMS; i++) {
    const char *argv[] = {"XGROUP", "CREATE", q->k_stream[i],
                          GROUP,    "0",      "MKSTREAM"};

    if (send_argv(c, on_group_reply, NULL, NULL, 6, argv, NULL) != 0) {
      pacer_log(PACER_LOG_ERROR, "redis", "msg=\"cannot send XGROUP\" conn=%s",
                conn_name(c));
      c->groups_err = 1;
      if (c->ac != NULL)
        redisAsyncDisconnect(c->ac);
      return;
    }
    c->groups_wait++;
  }
}

static void
conn_ready(struct conn *c)
{
  struct pacer_queue *q = c->q;

  c->backoff_ms = BACKOFF_MIN_MS;
  c->connects++;
  pacer_log(PACER_LOG_INFO, "redis", "msg=\"connected\" conn=%s consumer=%s",
            conn_name(c), q->consumer);
  if (c->role == CONN_INTAKE) {
    const char *argv[] = {"CLIENT", "ID"};

    /* Known so a stop can end a blocked read at once (CLIENT UNBLOCK). */
    send_argv(c, on_client_id_reply, NULL, NULL, 2, argv, NULL);
    fetch(q);
    return;
  }
  if (q->cbs.on_connected != NULL)
    q->cbs.on_connected(q, q->arg);
  /* Re-arm delayed promotion from the stored schedule at once
   * (e2e_redis_restart). */
  promote_now(q);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
  struct conn *c = ac->data;

  if (status != REDIS_OK) {
    pacer_log(PACER_LOG_WARN, "redis",
              "msg=\"connect failed\" conn=%s error=\"%s\"", conn_name(c),
              ac->errstr);
    c->ac = NULL; /* hiredis frees the context after this callback */
    c->up = 0;
    schedule_reconnect(c);
    return;
  }
  c->up = 1;
  ensure_group(c);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
  struct conn *c = ac->data;
  struct pacer_queue *q = c->q;

  c->ac = NULL; /* freed by hiredis after this callback: never touch it */
  c->up = 0;
  if (c->role == CONN_INTAKE)
    q->reading = 0;
  else
    q->promoting = q->claiming = 0;
  if (q->closing) {
    q->pending_closes--;
    maybe_closed(q);
    return;
  }
  pacer_log(PACER_LOG_WARN, "redis",
            "msg=\"disconnected\" conn=%s status=%d error=\"%s\"", conn_name(c),
            status, ac->errstr);
  schedule_reconnect(c);
}

static void
conn_connect(struct conn *c)
{
  struct pacer_queue *q = c->q;
  struct pacer_error err;
  redisAsyncContext *ac;

  if (q->closing || c->ac != NULL)
    return;
  /* AUTH and SELECT are queued by the connect and go out first. */
  pacer_error_clear(&err);
  ac = pacer_redis_async_connect(q->loop, &q->addr, c, on_connect,
                                 on_disconnect, on_setup_error, &err);
  if (ac == NULL) {
    if (err.code == PACER_EREDIS)
      pacer_log(PACER_LOG_WARN, "redis",
                "msg=\"connect failed\" conn=%s error=\"%s\"", conn_name(c),
                err.msg);
    schedule_reconnect(c);
    return;
  }
  c->ac = ac;
}

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

/* Parses the "attempt" field: "<attempts>" or "<attempts>.<429s>", each
 * 1..4 decimal digits, attempts at most PACER_QUEUE_ATTEMPT_MAX (the 429
 * count travels with the job through the delayed set, so its cap holds).
 * Returns 0, or -1 when malformed. */
static int
parse_attempt(const char *s, size_t len, unsigned *attempt, unsigned *throttled)
{
  const char *dot = memchr(s, '.', len);
  size_t alen = dot != NULL ? (size_t)(dot - s) : len;
  int a = parse_small(s, alen, PACER_QUEUE_ATTEMPT_MAX), t = 0;

  if (dot != NULL)
    t = parse_small(dot + 1, len - alen - 1, 9999);
  if (a < 0 || t < 0)
    return -1;
  *attempt = (unsigned)a;
  *throttled = (unsigned)t;
  return 0;
}

/* Delivers one XREADGROUP/XAUTOCLAIM entry of stream s: [id, [f, v, ...]]
 * or [id, nil]. */
static void
deliver_entry(struct pacer_queue *q, const redisReply *e, int claimed,
              enum stream_ix s)
{
  struct pacer_queue_entry ent;
  const redisReply *f;
  char sid[PACER_QUEUE_SID_MAX + 1];
  size_t i;

  if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
      e->element[0]->type != REDIS_REPLY_STRING ||
      sid_encode(sid, sizeof(sid), s, e->element[0]->str, e->element[0]->len) !=
          0)
    return;
  memset(&ent, 0, sizeof(ent));
  ent.sid = sid;
  ent.claimed = claimed;
  f = e->elements > 1 ? e->element[1] : NULL;
  if (f != NULL && f->type == REDIS_REPLY_ARRAY) {
    for (i = 0; i + 1 < f->elements; i += 2) {
      const redisReply *k = f->element[i], *v = f->element[i + 1];

      if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
        continue;
      if (field_is(k, PACER_KEYS_F_JOB)) {
        ent.job = v->str;
        ent.job_len = v->len;
      } else if (field_is(k, PACER_KEYS_F_ID)) {
        ent.id = v->str;
      } else if (field_is(k, PACER_KEYS_F_ATTEMPT)) {
        if (parse_attempt(v->str, v->len, &ent.attempt, &ent.throttled) != 0)
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
deliver_list(struct pacer_queue *q, const redisReply *list, enum stream_ix s)
{
  size_t j;

  if (list->type != REDIS_REPLY_ARRAY)
    return 0;
  for (j = 0; j < list->elements; j++)
    deliver_entry(q, list->element[j], 0, s);
  return list->elements;
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
      n += deliver_list(q, st->element[1], (enum stream_ix)s);
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
        s->integer > NSTREAMS)
      continue;
    n += deliver_list(q, reply->element[i + 1],
                      (enum stream_ix)(s->integer - 1));
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
round_plan(struct pacer_queue *q, size_t units, size_t plan[NSTREAMS])
{
  size_t u;
  int i, best;

  /* A whole cycle of PRIO_WEIGHT_SUM units gives each stream exactly its
   * weight and leaves the state as it was. */
  for (i = 0; i < NSTREAMS; i++)
    plan[i] = units / PRIO_WEIGHT_SUM * stream_weight[i];
  for (u = 0; u < units % PRIO_WEIGHT_SUM; u++) {
    best = 0;
    for (i = 0; i < NSTREAMS; i++) {
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
 * per stream, so it may take up to NSTREAMS - 1 entries beyond the free
 * capacity, and only when jobs reach two or three streams between the
 * empty round and this read (a read that really blocks wakes up for one
 * stream, with one entry). */
static void
read_blocking(struct pacer_queue *q)
{
  const char *argv[BLOCK_STREAMS_ARGC];
  int argc = 0, i;

  if (queue_capacity(q) == 0)
    return;
  argv[argc++] = "XREADGROUP";
  argv[argc++] = "GROUP";
  argv[argc++] = GROUP;
  argv[argc++] = q->consumer;
  argv[argc++] = "COUNT";
  argv[argc++] = "1";
  argv[argc++] = "BLOCK";
  argv[argc++] = READ_BLOCK_MS;
  argv[argc++] = "STREAMS";
  for (i = 0; i < NSTREAMS; i++)
    argv[argc++] = q->k_stream[i];
  for (i = 0; i < NSTREAMS; i++)
    argv[argc++] = ">";
  assert(argc == BLOCK_STREAMS_ARGC);
  if (send_argv(&q->intake, on_read_reply, NULL, NULL, argc, argv, NULL) != 0) {
    uv_timer_start(&q->fetch_timer, on_fetch_timer, 1000, 0); /* ENOMEM */
    return;
  }
  q->read_blocking = 1;
  q->reading = 1;
}

static void
on_fetch_timer(uv_timer_t *t)
{
  fetch(t->data);
}

/* Reply to a round (pacer_lua_queue_intake) or to the blocking read. A round
 * that read anything is followed by another at once (until capacity runs out,
 * then the next poke starts one); a round that found nothing by the blocking
 * read. */
static void
on_read_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct cmd_ctx *ctx = priv;
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
  if (reply->type == REDIS_REPLY_ERROR)
    err = reply;
  else if (blocking)
    got = deliver_read(q, reply);
  else
    got = deliver_round(q, reply, &err);
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
      ensure_group(&q->intake);
      return;
    }
    if (got == 0) {
      if (!q->closing)
        uv_timer_start(&q->fetch_timer, on_fetch_timer, 1000, 0);
      return;
    }
  }
  if (blocking || got > 0)
    fetch(q);
  else if (intake_open(q))
    read_blocking(q);
}

/* Starts an intake round over the free capacity. */
static void
fetch(struct pacer_queue *q)
{
  char num[NSTREAMS][24];
  size_t want, plan[NSTREAMS];
  const char *argv[3 + NSTREAMS + 2 + NSTREAMS];
  int argc = 0, i;

  if (!intake_open(q) || q->reading)
    return;
  want = queue_capacity(q);
  if (want == 0)
    return;
  if (want > READ_MAX_COUNT)
    want = READ_MAX_COUNT;
  round_plan(q, want, plan);
  argv[argc++] = "EVAL";
  argv[argc++] = pacer_lua_queue_intake;
  argv[argc++] = "3";
  for (i = 0; i < NSTREAMS; i++)
    argv[argc++] = q->k_stream[i];
  argv[argc++] = GROUP;
  argv[argc++] = q->consumer;
  for (i = 0; i < NSTREAMS; i++) {
    snprintf(num[i], sizeof(num[i]), "%zu", plan[i]);
    argv[argc++] = num[i];
  }
  if (send_argv(&q->intake, on_read_reply, NULL, NULL, argc, argv, NULL) != 0) {
    uv_timer_start(&q->fetch_timer, on_fetch_timer, 1000, 0); /* ENOMEM */
    return;
  }
  q->reading = 1;
}

/* ------------------------------------------------------------------ */
/* Scripts: finish, defer, requeue */

static void
on_script_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct cmd_ctx *ctx = priv;
  struct pacer_queue *q = ctx->c->q;
  redisReply *reply = r;
  int status = 0, applied = 0;

  (void)ac;
  ctx->c->pending--;
  if (reply != NULL)
    pacer_hist_observe(&q->rtt, uv_hrtime() / 1000u - ctx->sent_mono_us);
  if (reply == NULL) {
    /* A lost reply is never success (e2e_client_kill). */
    status = PACER_EUNKNOWN;
  } else if (reply->type == REDIS_REPLY_ERROR) {
    pacer_log(PACER_LOG_ERROR, "redis", "msg=\"script failed\" error=\"%.*s\"",
              (int)reply->len, reply->str);
    status = PACER_EREDIS;
  } else if (reply->type == REDIS_REPLY_INTEGER) {
    applied = reply->integer == 1;
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
  return send_argv(&q->cmd, on_script_reply, cb, privdata, argc, argv, lens);
}

static void
on_raw_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct cmd_ctx *ctx = priv;
  struct pacer_queue *q = ctx->c->q;
  redisReply *reply = r;

  (void)ac;
  ctx->c->pending--;
  if (reply != NULL)
    pacer_hist_observe(&q->rtt, uv_hrtime() / 1000u - ctx->sent_mono_us);
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
  struct cmd_ctx *ctx;
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
  if (redisAsyncCommandArgv(q->cmd.ac, on_raw_reply, ctx, argc, argv, lens) !=
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
  const struct conn *c[2] = {&q->intake, &q->cmd};
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

int
pacer_queue_finish(struct pacer_queue *q, const char *sid, int ack_required,
                   const struct pacer_fields *res,
                   const struct pacer_fields *dead, pacer_queue_done_cb cb,
                   void *privdata)
{
  const char *id;
  enum stream_ix s = sid_decode(sid, &id);
  const char *keys[4] = {q->k_stream[s], q->k_results, q->k_dead, NULL};
  const char *args[MAX_ARGS];
  size_t lens[MAX_ARGS];
  char rmax[24], dmax[24], nres[16], ndead[16], ttl[24];
  const char *job_id = id;
  int ok = 0;
  size_t n = 0, i;
  size_t nd = dead ? dead->n : 0;
  char *done;
  int rc;

  if (8 + res->n + nd + 5 > MAX_ARGS)
    return PACER_EINVAL;
  /* The job id is the result's "id" field (the sid when it has none).
   * Only a job that ended ok sets its marker: a rejected or failed job
   * may be corrected and sent again under the same id. */
  for (i = 0; i + 1 < res->n; i += 2) {
    if (res->lens[i] == strlen(PACER_KEYS_F_ID) &&
        memcmp(res->argv[i], PACER_KEYS_F_ID, res->lens[i]) == 0)
      job_id = res->argv[i + 1];
    else if (res->lens[i] == 5 && memcmp(res->argv[i], "state", 5) == 0)
      ok = res->lens[i + 1] == 2 && memcmp(res->argv[i + 1], "ok", 2) == 0;
  }
  done = done_key(q, job_id);
  if (done == NULL)
    return PACER_ENOMEM;
  keys[3] = done;
  snprintf(ttl, sizeof(ttl), "%llu",
           ack_required && ok ? (unsigned long long)q->cfg->done_ttl_ms : 0ull);
  snprintf(rmax, sizeof(rmax), "%llu",
           (unsigned long long)q->cfg->results_maxlen);
  snprintf(dmax, sizeof(dmax), "%llu", (unsigned long long)q->cfg->dead_maxlen);
  snprintf(nres, sizeof(nres), "%zu", res->n);
  snprintf(ndead, sizeof(ndead), "%zu", nd);
#define ARG(s, l) (args[n] = (s), lens[n++] = (l))
  ARG(GROUP, strlen(GROUP));
  ARG(id, strlen(id));
  ARG(rmax, strlen(rmax));
  ARG(dmax, strlen(dmax));
  ARG(ack_required ? "1" : "0", 1);
  ARG(nres, strlen(nres));
  for (i = 0; i < res->n; i++)
    ARG(res->argv[i], res->lens[i]);
  ARG(ndead, strlen(ndead));
  for (i = 0; i < nd; i++)
    ARG(dead->argv[i], dead->lens[i]);
  ARG(ttl, strlen(ttl));
  ARG(q->consumer, strlen(q->consumer));
#undef ARG
  /* hiredis copies the command out before eval returns */
  rc = eval(q, pacer_lua_queue_finish, 4, keys, (int)n, args, lens, cb,
            privdata);
  free(done);
  return rc;
}

static void arm_promote(struct pacer_queue *q, uint64_t delay_ms);

int
pacer_queue_defer(struct pacer_queue *q, const char *sid, uint64_t due_unix_ms,
                  const char *member, size_t member_len, pacer_queue_done_cb cb,
                  void *privdata)
{
  const char *id;
  enum stream_ix s = sid_decode(sid, &id);
  const char *keys[2] = {q->k_stream[s], q->k_delayed};
  char due[24], *tagged;
  const char *args[5];
  size_t lens[5], tagged_len;
  int rc;

  /* The tag line names the stream promote puts the job back into. */
  rc = pacer_delayed_member_retag(
      member, member_len, pacer_keys_member_tag((int)s), &tagged, &tagged_len);
  if (rc != 0)
    return rc;
  snprintf(due, sizeof(due), "%llu", (unsigned long long)due_unix_ms);
  /* Due before the promotion timer fires: fire then (the timer was armed
   * from an emptier set; waiting for it starved a lane, bench/accuracy).
   * The promote script runs after this defer on the same connection. */
  if (!q->promoting && due_unix_ms < q->promote_at_unix_ms) {
    uint64_t now = pacer_clock_unix_ms();

    arm_promote(q, due_unix_ms > now ? due_unix_ms - now : 0);
  }
  args[0] = GROUP;
  lens[0] = strlen(GROUP);
  args[1] = id;
  lens[1] = strlen(id);
  args[2] = due;
  lens[2] = strlen(due);
  args[3] = tagged;
  lens[3] = tagged_len;
  args[4] = q->consumer;
  lens[4] = strlen(q->consumer);
  rc = eval(q, pacer_lua_queue_defer, 2, keys, 5, args, lens, cb, privdata);
  free(tagged); /* hiredis has copied the command */
  return rc;
}

int
pacer_queue_requeue(struct pacer_queue *q, const char *sid,
                    const struct pacer_fields *fields, pacer_queue_done_cb cb,
                    void *privdata)
{
  const char *id;
  enum stream_ix s = sid_decode(sid, &id);
  const char *keys[1] = {q->k_stream[s]};
  const char *args[MAX_ARGS];
  size_t lens[MAX_ARGS];
  size_t n = 0, i;

  if (fields->n + 3 + 4 > MAX_ARGS)
    return PACER_EINVAL;
  args[n] = GROUP;
  lens[n++] = strlen(GROUP);
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

int
pacer_queue_drop_if_done(struct pacer_queue *q, const char *sid,
                         const char *job_id, pacer_queue_done_cb cb,
                         void *privdata)
{
  const char *id;
  enum stream_ix s = sid_decode(sid, &id);
  const char *keys[2] = {q->k_stream[s], NULL};
  const char *args[3];
  size_t lens[3];
  char *done = done_key(q, job_id);
  int rc;

  if (done == NULL)
    return PACER_ENOMEM;
  keys[1] = done;
  args[0] = GROUP;
  lens[0] = strlen(GROUP);
  args[1] = id;
  lens[1] = strlen(id);
  args[2] = q->consumer;
  lens[2] = strlen(q->consumer);
  rc = eval(q, pacer_lua_queue_dropdone, 2, keys, 3, args, lens, cb, privdata);
  free(done);
  return rc;
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
  struct cmd_ctx *ctx = priv;
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

static void
promote_now(struct pacer_queue *q)
{
  const char *argv[8];

  if (q->promoting || q->closing || !q->cmd.up)
    return;
  argv[0] = "EVAL";
  argv[1] = pacer_lua_queue_promote;
  argv[2] = "4";
  argv[3] = q->k_stream[S_NORMAL];
  argv[4] = q->k_delayed;
  argv[5] = q->k_stream[S_HIGH];
  argv[6] = q->k_stream[S_LOW];
  argv[7] = PROMOTE_BATCH;
  if (send_argv(&q->cmd, on_promote_reply, NULL, NULL, 8, argv, NULL) == 0)
    q->promoting = 1;
}

static void
on_promote_timer(uv_timer_t *t)
{
  promote_now(t->data);
}

/* ------------------------------------------------------------------ */
/* Lease takeover and renewal (e2e_kill, e2e_fence) */

static void claim_send(struct pacer_queue *q);

static void
on_claim_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct cmd_ctx *ctx = priv;
  struct pacer_queue *q = ctx->c->q;
  redisReply *reply = r;
  enum stream_ix s = q->claim_ix;
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
        deliver_entry(q, e, 1, s);
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
            sid_encode(sid, sizeof(sid), s, id->str, id->len) != 0)
          continue;
        memset(&ent, 0, sizeof(ent));
        ent.sid = sid;
        ent.claimed = 2; /* payload gone and already out of the PEL */
        q->cbs.on_entry(q, &ent, q->arg);
      }
    }
  }
  /* The next stream, even after an error on this one (its group may be
   * missing until intake recreates it). */
  if (s + 1 < NSTREAMS) {
    q->claim_ix = (enum stream_ix)(s + 1);
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
  want = queue_capacity(q);
  if (want == 0)
    return;
  if (want > READ_MAX_COUNT)
    want = READ_MAX_COUNT;
  snprintf(idle, sizeof(idle), "%u", q->cfg->lease_ms);
  snprintf(count, sizeof(count), "%zu", want);
  argv[0] = "XAUTOCLAIM";
  argv[1] = q->k_stream[q->claim_ix];
  argv[2] = GROUP;
  argv[3] = q->consumer;
  argv[4] = idle;
  argv[5] = q->claim_cursor[q->claim_ix];
  argv[6] = "COUNT";
  argv[7] = count;
  if (send_argv(&q->cmd, on_claim_reply, NULL, NULL, 8, argv, NULL) == 0)
    q->claiming = 1;
}

/* Takes over the expired entries of dead consumers, stream by stream in
 * order of precedence, one XAUTOCLAIM at a time. */
static void
claim_now(struct pacer_queue *q)
{
  if (q->claiming)
    return;
  q->claim_ix = S_HIGH;
  claim_send(q);
}

static void
on_claim_timer(uv_timer_t *t)
{
  claim_now(t->data);
}

static void
on_plain_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct cmd_ctx *ctx = priv;
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
  struct cmd_ctx *ctx = priv;
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

static void
on_renew_timer(uv_timer_t *t)
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
  for (s = 0; s < NSTREAMS; s++) {
    argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = pacer_lua_queue_renew;
    argv[argc++] = "1";
    argv[argc++] = q->k_stream[s];
    argv[argc++] = GROUP;
    argv[argc++] = q->consumer;
    for (i = 0; i < n; i++) {
      const char *id;

      if (sid_decode(sids[i], &id) == (enum stream_ix)s)
        argv[argc++] = id;
    }
    if (argc == 6)
      continue;
    send_argv(&q->cmd, on_renew_reply, NULL, NULL, (int)argc, argv, NULL);
  }
}

/* ------------------------------------------------------------------ */
/* Public API */

int
pacer_queue_new(uv_loop_t *loop, const struct pacer_config *cfg,
                const char *consumer, const struct pacer_queue_cbs *cbs,
                void *arg, struct pacer_queue **out, struct pacer_error *err)
{
  struct pacer_queue *q;
  int rc, i, missing = 0;

  *out = NULL;
  q = calloc(1, sizeof(*q));
  if (q == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "queue: out of memory");
  rc = pacer_redis_addr_parse(cfg->redis_url, &q->addr, err);
  if (rc != 0) {
    free(q);
    return rc;
  }
  q->loop = loop;
  q->cfg = cfg;
  q->cbs = *cbs;
  q->arg = arg;
  q->consumer = strdup(consumer);
  for (i = 0; i < NSTREAMS; i++) {
    q->k_stream[i] = pacer_keys_new(cfg->prefix, pacer_keys_stream(i), NULL);
    if (q->k_stream[i] == NULL)
      missing = 1;
    memcpy(q->claim_cursor[i], "0-0", 4);
  }
  q->k_delayed = pacer_keys_new(cfg->prefix, PACER_KEYS_DELAYED, NULL);
  q->k_results = pacer_keys_new(cfg->prefix, PACER_KEYS_RESULTS, NULL);
  q->k_dead = pacer_keys_new(cfg->prefix, PACER_KEYS_DEAD, NULL);
  if (missing || q->consumer == NULL || q->k_delayed == NULL ||
      q->k_results == NULL || q->k_dead == NULL) {
    free(q->consumer);
    free_keys(q);
    free(q);
    return pacer_error_set(err, PACER_ENOMEM, "queue: out of memory");
  }
  q->intake.q = q;
  q->intake.role = CONN_INTAKE;
  q->intake.backoff_ms = BACKOFF_MIN_MS;
  q->cmd.q = q;
  q->cmd.role = CONN_CMD;
  q->cmd.backoff_ms = BACKOFF_MIN_MS;
  pacer_hist_init_redis(&q->rtt);
  uv_timer_init(loop, &q->intake.retry);
  uv_timer_init(loop, &q->cmd.retry);
  uv_timer_init(loop, &q->promote_timer);
  uv_timer_init(loop, &q->claim_timer);
  uv_timer_init(loop, &q->renew_timer);
  uv_timer_init(loop, &q->fetch_timer);
  q->promote_timer.data = q;
  q->claim_timer.data = q;
  q->renew_timer.data = q;
  q->fetch_timer.data = q;
  *out = q;
  return 0;
}

void
pacer_queue_start(struct pacer_queue *q)
{
  uint64_t claim_ms = q->cfg->lease_ms / 4, renew_ms = q->cfg->lease_ms / 3;

  if (claim_ms < 100)
    claim_ms = 100;
  if (renew_ms < 100)
    renew_ms = 100;
  q->started = 1;
  conn_connect(&q->cmd);
  conn_connect(&q->intake);
  uv_timer_start(&q->claim_timer, on_claim_timer, claim_ms, claim_ms);
  uv_timer_start(&q->renew_timer, on_renew_timer, renew_ms, renew_ms);
}

void
pacer_queue_poke(struct pacer_queue *q)
{
  fetch(q);
}

void
pacer_queue_stop_intake(struct pacer_queue *q)
{
  if (!q->intake_stopped && q->reading && q->read_blocking &&
      q->intake_client_id > 0 && q->cmd.up) {
    char id[24];
    const char *argv[] = {"CLIENT", "UNBLOCK", id};

    /* The blocked XREADGROUP returns now (nil) instead of after BLOCK. */
    snprintf(id, sizeof(id), "%lld", q->intake_client_id);
    send_argv(&q->cmd, on_plain_reply, NULL, NULL, 3, argv, NULL);
  }
  q->intake_stopped = 1;
  uv_timer_stop(&q->claim_timer);
  uv_timer_stop(&q->fetch_timer);
}

void
pacer_queue_set_held(struct pacer_queue *q,
                     size_t (*list)(void *arg, const char **sids, size_t max),
                     void *arg)
{
  q->held_list = list;
  q->held_arg = arg;
}

int
pacer_queue_reading(const struct pacer_queue *q)
{
  return q->reading;
}

int
pacer_queue_connected(const struct pacer_queue *q)
{
  return q->cmd.up;
}

size_t
pacer_queue_pending(const struct pacer_queue *q)
{
  return q->intake.pending + q->cmd.pending;
}

static void
close_conn(struct pacer_queue *q, struct conn *c)
{
  redisAsyncContext *ac = c->ac;

  if (ac == NULL)
    return;
  if (c->up) {
    /* The disconnect callback will run (now or after pending replies). */
    q->pending_closes++;
    redisAsyncDisconnect(ac);
  } else {
    /* Not connected yet: no disconnect callback will come. */
    c->ac = NULL;
    redisAsyncFree(ac);
  }
}

void
pacer_queue_close(struct pacer_queue *q, void (*on_closed)(void *arg),
                  void *arg)
{
  uv_handle_t *timers[6];
  int i;

  assert(!q->closing);
  q->closing = 1;
  q->intake_stopped = 1;
  q->on_closed = on_closed;
  q->closed_arg = arg;
  timers[0] = (uv_handle_t *)&q->intake.retry;
  timers[1] = (uv_handle_t *)&q->cmd.retry;
  timers[2] = (uv_handle_t *)&q->promote_timer;
  timers[3] = (uv_handle_t *)&q->claim_timer;
  timers[4] = (uv_handle_t *)&q->renew_timer;
  timers[5] = (uv_handle_t *)&q->fetch_timer;
  q->pending_closes++; /* guard while we start closing */
  for (i = 0; i < 6; i++) {
    timers[i]->data = q;
    q->pending_closes++;
    uv_close(timers[i], on_handle_closed);
  }
  if (q->cmd.up) {
    const char *argv[] = {"EVAL",
                          pacer_lua_queue_delconsumer,
                          "3",
                          q->k_stream[S_HIGH],
                          q->k_stream[S_NORMAL],
                          q->k_stream[S_LOW],
                          GROUP,
                          q->consumer};
    /* The disconnect below waits for this reply. */
    send_argv(&q->cmd, on_plain_reply, NULL, NULL, 8, argv, NULL);
  }
  close_conn(q, &q->intake);
  close_conn(q, &q->cmd);
  q->pending_closes--;
  maybe_closed(q);
}
