/* Redis queue glue: hiredis async on the scheduler's uv loop; this file
 * holds the connections and the lifecycle (store/queue_int.h lists the
 * others). See store/queue.h for the two-connection design and
 * docs/REDIS.md for the key layout. Every command goes through
 * redisAsyncCommandArgv with explicit lengths; job data never reaches a
 * format string. */
#include "store/queue.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "common/clock.h"
#include "common/hist.h"
#include "common/log.h"
#include "common/util.h"
#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/queue_int.h"
#include "store/redis_uv.h"
#include "store/script.h"

#define BACKOFF_MIN_MS 100u  /* first reconnect delay, ms */
#define BACKOFF_MAX_MS 5000u /* reconnect delay cap, ms */

/* Lua scripts: store/lua/queue_*.lua (pacer_lua_queue_* from
 * store/lua_scripts.h). Each write script acts only while the entry is
 * still pending and ours, so a replay after "outcome unknown" never writes
 * twice, and a consumer whose lease was lost is fenced off. */

/* ------------------------------------------------------------------ */
/* Helpers */

/* "<prefix>done:<job id>": the done-marker key (owned), or NULL. */
char *
pacer_queue_done_key(const struct pacer_queue *q, const char *job_id)
{
  return pacer_keys_new(q->cfg->prefix, PACER_KEYS_DONE, job_id);
}

/* Splits a sid handed out by this queue into its stream and the bare entry
 * id (borrowed from sid): "h/<id>" high, "l/<id>" low, "<id>" normal. A
 * stream entry id always starts with a digit, so the tags cannot clash. */
enum pacer_queue_stream
pacer_queue_sid_decode(const char *sid, const char **bare)
{
  if ((sid[0] == 'h' || sid[0] == 'l') && sid[1] == '/') {
    *bare = sid + 2;
    return sid[0] == 'h' ? PACER_QUEUE_HIGH : PACER_QUEUE_LOW;
  }
  *bare = sid;
  return PACER_QUEUE_NORMAL;
}

/* Writes the sid of entry id (len bytes) of stream s into out. Returns 0,
 * or -1 when it does not fit. */
int
pacer_queue_sid_encode(char *out, size_t size, enum pacer_queue_stream s,
                       const char *id, size_t len)
{
  size_t tl = strlen(pacer_keys_sid_tag((int)s));

  if (tl + len >= size)
    return -1;
  memcpy(out, pacer_keys_sid_tag((int)s), tl);
  memcpy(out + tl, id, len);
  out[tl + len] = '\0';
  return 0;
}

static void
free_keys(struct pacer_queue *q)
{
  int i;

  for (i = 0; i < PACER_KEYS_NSTREAMS; i++) {
    free(q->k_stream[i]);
    q->k_stream[i] = NULL;
  }
  free(q->k_delayed);
  free(q->k_results);
  free(q->k_dead);
  free(q->k_donemarks);
  q->k_donemarks = NULL;
  free(q->k_cancel);
  q->k_cancel = NULL;
  free(q->k_lanekey);
  q->k_delayed = q->k_results = q->k_dead = q->k_lanekey = NULL;
}

static const char *
conn_name(const struct pacer_queue_conn *c)
{
  return c->role == PACER_QUEUE_CONN_CMD ? "cmd" : "intake";
}

size_t
pacer_queue_capacity(struct pacer_queue *q)
{
  return q->cbs.capacity ? q->cbs.capacity(q, q->arg) : 0;
}

static void conn_connect(struct pacer_queue_conn *c);

struct pacer_queue *
pacer_queue_answered(struct pacer_queue_cmd *ctx, const void *reply)
{
  struct pacer_queue *q = ctx->c->q;

  ctx->c->pending--;
  if (reply != NULL)
    pacer_hist_observe(&q->rtt, uv_hrtime() / 1000u - ctx->sent_mono_us);
  return q;
}

/* Sends argv on c; lens NULL means every argv[i] is a C string. privdata/cb
 * as in struct pacer_queue_cmd. Returns 0 or PACER_EREDIS (not connected; cb
 * will not run) or PACER_ENOMEM. */
int
pacer_queue_send(struct pacer_queue_conn *c, redisCallbackFn *fn,
                 pacer_queue_done_cb cb, void *privdata, int argc,
                 const char **argv, const size_t *lens)
{
  struct pacer_queue_cmd *ctx;
  size_t *own = NULL;
  int i, rc;

  if (c->ac == NULL || !c->up)
    return PACER_EREDIS;
  if (lens == NULL) {
    /* Our own C strings: hiredis still gets explicit lengths. */
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
  rc = pacer_script_async(c->ac, fn, ctx, argc, argv, lens);
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
  free(q->drop_buf);
  free(q->fin_buf);
  free(q->fin_arg);
  free(q->fin_argv);
  free(q->fin_lens);
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
  struct pacer_queue_conn *c =
      PACER_CONTAINER_OF(t, struct pacer_queue_conn, retry);

  conn_connect(c);
}

static void
schedule_reconnect(struct pacer_queue_conn *c)
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
  struct pacer_queue_conn *c = data;

  pacer_log(PACER_LOG_ERROR, "redis",
            "msg=\"connection setup refused\" conn=%s error=\"%.*s\"",
            conn_name(c), (int)len, error);
}

static void conn_ready(struct pacer_queue_conn *c);

static void
on_client_id_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
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
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue_conn *c = ctx->c;
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

/* GET <prefix>lanekey, after a SET NX of a fresh random one: the key of
 * lane names from secret headers (core/limits.h pacer_limit_key_keyed),
 * made once per deployment, shared by every process. Part of the intake
 * connection's setup, so no job is read before it is known. */
static void
on_lane_key_reply(redisAsyncContext *ac, void *r, void *priv)
{
  struct pacer_queue_cmd *ctx = priv;
  struct pacer_queue_conn *c = ctx->c;
  struct pacer_queue *q = c->q;
  redisReply *reply = r;
  size_t n = 0;

  (void)ac;
  c->pending--;
  free(ctx);
  if (reply == NULL)
    return; /* disconnected; the reconnect repeats this */
  if (c->groups_wait > 0)
    c->groups_wait--;
  if (reply->type != REDIS_REPLY_STRING || reply->len != 64 ||
      sodium_hex2bin(q->lane_key, sizeof(q->lane_key), reply->str, reply->len,
                     NULL, &n, NULL) != 0 ||
      n != sizeof(q->lane_key)) {
    pacer_log(PACER_LOG_ERROR, "redis",
              "msg=\"the lane-name key is not 64 hex digits; delete it to "
              "make a new one, retrying\" key=%s",
              q->k_lanekey);
    c->groups_err = 1;
    if (c->ac != NULL)
      redisAsyncDisconnect(c->ac);
    return;
  }
  q->lane_key_set = 1;
  if (c->groups_wait == 0 && !c->groups_err)
    conn_ready(c);
}

static int
request_lane_key(struct pacer_queue_conn *c)
{
  struct pacer_queue *q = c->q;
  unsigned char rnd[32];
  char hex[65];
  const char *set[] = {"SET", q->k_lanekey, hex, "NX"};
  const char *get[] = {"GET", q->k_lanekey};

  randombytes_buf(rnd, sizeof(rnd));
  sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
  sodium_memzero(rnd, sizeof(rnd));
  if (pacer_queue_send(c, on_group_reply, NULL, NULL, 4, set, NULL) != 0)
    return -1;
  c->groups_wait++;
  sodium_memzero(hex, sizeof(hex));
  if (pacer_queue_send(c, on_lane_key_reply, NULL, NULL, 2, get, NULL) != 0)
    return -1;
  c->groups_wait++;
  return 0;
}

/* Creates the group on every intake stream (after a connect, or when a
 * read finds it gone after a Redis reset), and reads the lane-name key on
 * the intake connection. On a failure to send, the connection is dropped
 * so that the reconnect loop tries again. */
void
pacer_queue_ensure_group(struct pacer_queue_conn *c)
{
  struct pacer_queue *q = c->q;
  int i;

  c->groups_wait = 0;
  c->groups_err = 0;
  for (i = 0; i < PACER_KEYS_NSTREAMS; i++) {
    const char *argv[] = {"XGROUP",         "CREATE", q->k_stream[i],
                          PACER_KEYS_GROUP, "0",      "MKSTREAM"};

    if (pacer_queue_send(c, on_group_reply, NULL, NULL, 6, argv, NULL) != 0) {
      pacer_log(PACER_LOG_ERROR, "redis", "msg=\"cannot send XGROUP\" conn=%s",
                conn_name(c));
      c->groups_err = 1;
      if (c->ac != NULL)
        redisAsyncDisconnect(c->ac);
      return;
    }
    c->groups_wait++;
  }
  if (c->role == PACER_QUEUE_CONN_INTAKE && request_lane_key(c) != 0) {
    pacer_log(PACER_LOG_ERROR, "redis",
              "msg=\"cannot read the lane-name key\" conn=%s", conn_name(c));
    c->groups_err = 1;
    if (c->ac != NULL)
      redisAsyncDisconnect(c->ac);
  }
}

const unsigned char *
pacer_queue_lane_key(const struct pacer_queue *q)
{
  return q->lane_key_set ? q->lane_key : NULL;
}

static void
conn_ready(struct pacer_queue_conn *c)
{
  struct pacer_queue *q = c->q;

  c->backoff_ms = BACKOFF_MIN_MS;
  c->connects++;
  pacer_log(PACER_LOG_INFO, "redis", "msg=\"connected\" conn=%s consumer=%s",
            conn_name(c), q->consumer);
  if (c->role == PACER_QUEUE_CONN_INTAKE) {
    const char *argv[] = {"CLIENT", "ID"};

    /* Known so a stop can end a blocked read at once (CLIENT UNBLOCK). */
    pacer_queue_send(c, on_client_id_reply, NULL, NULL, 2, argv, NULL);
    pacer_queue_fetch(q);
    return;
  }
  /* Intake checks whose reply was lost, or that waited for this
   * connection, go first: their entries wait for them. */
  pacer_queue_drop_replay(q);
  if (q->cbs.on_connected != NULL)
    q->cbs.on_connected(q, q->arg);
  /* Re-arm delayed promotion from the stored schedule at once
   * (e2e_redis_restart). */
  pacer_queue_promote_now(q);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
  struct pacer_queue_conn *c = ac->data;

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
  pacer_queue_ensure_group(c);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
  struct pacer_queue_conn *c = ac->data;
  struct pacer_queue *q = c->q;

  c->ac = NULL; /* freed by hiredis after this callback: never touch it */
  c->up = 0;
  if (c->role == PACER_QUEUE_CONN_INTAKE)
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
conn_connect(struct pacer_queue_conn *c)
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
  if (rc == 0)
    rc = pacer_redis_addr_route(&q->addr, cfg->prefix, err);
  if (rc != 0) {
    free(q);
    return rc;
  }
  q->loop = loop;
  q->cfg = cfg;
  q->cbs = *cbs;
  q->arg = arg;
  q->consumer = strdup(consumer);
  for (i = 0; i < PACER_KEYS_NSTREAMS; i++) {
    q->k_stream[i] = pacer_keys_new(cfg->prefix, pacer_keys_stream(i), NULL);
    if (q->k_stream[i] == NULL)
      missing = 1;
    memcpy(q->claim_cursor[i], "0-0", 4);
  }
  q->k_delayed = pacer_keys_new(cfg->prefix, PACER_KEYS_DELAYED, NULL);
  q->k_results = pacer_keys_new(cfg->prefix, PACER_KEYS_RESULTS, NULL);
  q->k_dead = pacer_keys_new(cfg->prefix, PACER_KEYS_DEAD, NULL);
  q->k_donemarks = pacer_keys_new(cfg->prefix, PACER_KEYS_DONEMARKS, NULL);
  q->k_lanekey = pacer_keys_new(cfg->prefix, PACER_KEYS_LANE_KEY, NULL);
  q->k_cancel = pacer_keys_new(cfg->prefix, PACER_KEYS_CANCEL, NULL);
  if (missing || q->consumer == NULL || q->k_delayed == NULL ||
      q->k_cancel == NULL || q->k_results == NULL || q->k_dead == NULL ||
      q->k_lanekey == NULL || q->k_donemarks == NULL) {
    free(q->consumer);
    free_keys(q);
    free(q);
    return pacer_error_set(err, PACER_ENOMEM, "queue: out of memory");
  }
  q->intake.q = q;
  q->intake.role = PACER_QUEUE_CONN_INTAKE;
  q->intake.backoff_ms = BACKOFF_MIN_MS;
  q->cmd.q = q;
  q->cmd.role = PACER_QUEUE_CONN_CMD;
  q->cmd.backoff_ms = BACKOFF_MIN_MS;
  pacer_hist_init_redis(&q->rtt);
  uv_timer_init(loop, &q->intake.retry);
  uv_timer_init(loop, &q->cmd.retry);
  uv_timer_init(loop, &q->promote_timer);
  uv_timer_init(loop, &q->claim_timer);
  uv_timer_init(loop, &q->renew_timer);
  uv_timer_init(loop, &q->fetch_timer);
  uv_prepare_init(loop, &q->fin_prepare);
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
  uv_timer_start(&q->claim_timer, pacer_queue_on_claim_timer, claim_ms,
                 claim_ms);
  uv_timer_start(&q->renew_timer, pacer_queue_on_renew_timer, renew_ms,
                 renew_ms);
}

void
pacer_queue_poke(struct pacer_queue *q)
{
  pacer_queue_fetch(q);
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
    pacer_queue_send(&q->cmd, pacer_queue_on_plain_reply, NULL, NULL, 3, argv,
                     NULL);
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
close_conn(struct pacer_queue *q, struct pacer_queue_conn *c)
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
  uv_handle_t *timers[7];
  int i;

  assert(!q->closing);
  /* Finishes asked for in this loop turn go before the clean stop's
   * commands; the disconnect waits for their reply. */
  pacer_queue_finish_flush(q);
  q->closing = 1;
  q->intake_stopped = 1;
  pacer_queue_drop_abandon(q);
  q->on_closed = on_closed;
  q->closed_arg = arg;
  timers[0] = (uv_handle_t *)&q->intake.retry;
  timers[1] = (uv_handle_t *)&q->cmd.retry;
  timers[2] = (uv_handle_t *)&q->promote_timer;
  timers[3] = (uv_handle_t *)&q->claim_timer;
  timers[4] = (uv_handle_t *)&q->renew_timer;
  timers[5] = (uv_handle_t *)&q->fetch_timer;
  timers[6] = (uv_handle_t *)&q->fin_prepare;
  q->pending_closes++; /* guard while we start closing */
  for (i = 0; i < 7; i++) {
    timers[i]->data = q;
    q->pending_closes++;
    uv_close(timers[i], on_handle_closed);
  }
  if (q->cmd.up) {
    const char *argv[] = {"EVAL",
                          pacer_lua_queue_delconsumer,
                          "3",
                          q->k_stream[PACER_QUEUE_HIGH],
                          q->k_stream[PACER_QUEUE_NORMAL],
                          q->k_stream[PACER_QUEUE_LOW],
                          PACER_KEYS_GROUP,
                          q->consumer};
    /* The disconnect below waits for this reply. */
    pacer_queue_send(&q->cmd, pacer_queue_on_plain_reply, NULL, NULL, 8, argv,
                     NULL);
  }
  close_conn(q, &q->intake);
  close_conn(q, &q->cmd);
  q->pending_closes--;
  maybe_closed(q);
}
