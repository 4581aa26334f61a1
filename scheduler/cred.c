/* OAuth2 credentials at run time. See cred.h for the protocol. */
#include "scheduler/cred.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "core/backoff.h"
#include "core/oauth_token.h"
#include "store/redis_uv.h"

#define KEEPALIVE_MS     (PACER_CRED_LOCK_TTL_MS / 3u) /* lock renewal */
#define TOKEN_TIMEOUT_MS 10000u /* token request, total, ms */
#define TOKEN_CONNECT_MS 5000u  /* token request connect, ms */
#define RETRY_BASE_MS    1000u  /* token endpoint backoff base, ms */
#define RETRY_CAP_MS     60000u /* token endpoint backoff cap, ms */
#define SCRIPT_RETRY_MS  200u   /* after a lost script reply, ms */
#define SUB_RECONNECT_MS 1000u  /* subscriber reconnect, ms */
#define WAIT_JITTER_MS   200u   /* spread of lock-expiry takeovers, ms */
#define LAST_ERROR_MAX   160    /* bytes of last_error */

/* clang-format off */

/* KEYS: hash lock  ARGV: lockval ttl_ms stale_gen skew_ms channel mode
 * mode "need": adopt a newer usable token, or take the lock (or find we
 * hold it already, after a lost reply) and mark the hash refreshing.
 * mode "sync": only report what changed, never lock.
 * Replies: {1, gen, refresh_token, lifetime_s}  we hold the lock: refresh
 *          {0, lock_pttl_ms}                    someone else refreshes
 *          {2, gen, last_error}                 reauth_required
 *          {3, gen, access_token, expires_at_ms, lifetime_s}  adopt
 *          {4, gen, status}                     nothing to adopt (sync)
 *          {6, gen}        the stored token expires within skew, or a
 *                          newer generation has no token yet (sync;
 *                          `pacer cred refresh` / `cred set`): renew
 * skew is refresh_skew_s, at most half the stored lifetime, so a token
 * that lives no longer than the skew is still used (not refreshed in a
 * loop). In sync mode ARGV[3] is the generation we hold. */
static const char try_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "local f = {}\n"
    "for i = 1, #h, 2 do f[h[i]] = h[i + 1] end\n"
    "local gen = tonumber(f.generation or '0')\n"
    "local life = tonumber(f.lifetime_s or '0')\n"
    "local skew = tonumber(ARGV[4])\n"
    "if life > 0 and skew > life * 500 then skew = life * 500 end\n"
    "if f.status == 'reauth_required' then\n"
    "  return {2, gen, f.last_error or ''}\n"
    "end\n"
    "local held = redis.call('GET', KEYS[2])\n"
    "if held and held == ARGV[1] then\n"
    "  return {1, gen, f.refresh_token or '', life}\n"
    "end\n"
    "local exp = tonumber(f.expires_at_ms or '0')\n"
    "if not held and (f.access_token or '') ~= '' and\n"
    "   gen > tonumber(ARGV[3]) and exp > now + skew then\n"
    "  return {3, gen, f.access_token, exp, life}\n"
    "end\n"
    "if held then return {0, redis.call('PTTL', KEYS[2])} end\n"
    "if ARGV[6] ~= 'need' then\n"
    "  if (f.access_token or '') == '' and gen > tonumber(ARGV[3]) then\n"
    "    return {6, gen}\n"
    "  end\n"
    "  if (f.access_token or '') ~= '' and exp <= now + skew then\n"
    "    return {6, gen}\n"
    "  end\n"
    "  return {4, gen, f.status or ''}\n"
    "end\n"
    "redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('HSET', KEYS[1], 'status', 'refreshing', 'updated_at_ms', now)\n"
    "redis.call('PUBLISH', ARGV[5], gen .. ':refreshing')\n"
    "return {1, gen, f.refresh_token or '', life}\n";

/* KEYS: lock  ARGV: lockval ttl_ms */
static const char keepalive_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* KEYS: hash lock
 * ARGV: lockval access_token expires_at_ms refresh_token('' = keep)
 *       lifetime_s channel lock_generation
 * The fenced write, before any job uses the token. The fence is the
 * generation seen when we took the lock: while it is unchanged nobody else
 * has stored a token, so ours (and its rotated refresh token, which the
 * provider has already issued) must land even if our lock expired meanwhile
 * (a Redis outage, a stall); dropping it would leave only a spent refresh
 * token (C03). A changed generation means another token or `pacer cred
 * set` won: ours is dropped. A replay after a lost reply finds its own
 * commit (committed_by) and answers the generation again.
 * Returns the new generation, or -2 when the generation moved. */
static const char commit_lua[] =
    "if redis.call('HGET', KEYS[1], 'committed_by') == ARGV[1] then\n"
    "  return tonumber(redis.call('HGET', KEYS[1], 'generation'))\n"
    "end\n"
    "local held = redis.call('GET', KEYS[2])\n"
    "if tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') ~=\n"
    "   tonumber(ARGV[7]) then\n"
    "  if held == ARGV[1] then redis.call('DEL', KEYS[2]) end\n"
    "  return -2\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local gen = redis.call('HINCRBY', KEYS[1], 'generation', 1)\n"
    "redis.call('HSET', KEYS[1], 'access_token', ARGV[2],\n"
    "           'expires_at_ms', ARGV[3], 'lifetime_s', ARGV[5],\n"
    "           'status', 'ok', 'last_error', '', 'updated_at_ms', now,\n"
    "           'committed_by', ARGV[1])\n"
    "if ARGV[4] ~= '' then\n"
    "  redis.call('HSET', KEYS[1], 'refresh_token', ARGV[4])\n"
    "end\n"
    "if held == ARGV[1] then redis.call('DEL', KEYS[2]) end\n"
    "redis.call('PUBLISH', ARGV[6], gen)\n"
    "return gen\n";

/* KEYS: hash lock  ARGV: lockval status last_error channel release
 *       lock_generation
 * Records a failure (fenced by the lock and by the generation: a refresh
 * token stored by `pacer cred set` meanwhile is not marked refused).
 * release "1" also drops the lock. */
static const char fail_lua[] =
    "local held = redis.call('GET', KEYS[2])\n"
    "if held and held ~= ARGV[1] then return -1 end\n"
    "if tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') ~=\n"
    "   tonumber(ARGV[6]) then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  return -2\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], 'status', ARGV[2], 'last_error', ARGV[3],\n"
    "           'updated_at_ms', now)\n"
    "if ARGV[5] == '1' then redis.call('DEL', KEYS[2]) end\n"
    "local gen = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')\n"
    "redis.call('PUBLISH', ARGV[4], gen .. ':' .. ARGV[2])\n"
    "return gen\n";

/* clang-format on */

struct script_ctx;

enum cst {
  C_UNKNOWN = 0, /* nothing known: the next need loads */
  C_OK,          /* token usable */
  C_TRYING,      /* a try script is out */
  C_REFRESHING,  /* we hold the lock; token request out or backing off */
  C_WAITING,     /* another process holds the lock */
  C_REAUTH       /* refused: park jobs */
};

struct pacer_cred {
  struct pacer_creds *cs;
  const struct pacer_cred_cfg *cfg;
  char hash_key[PACER_CRED_NAME_MAX + 160];
  char lock_key[PACER_CRED_NAME_MAX + 160];
  char chan[PACER_CRED_NAME_MAX + 160];
  enum cst st;
  char *token;         /* current access token, owned, wiped */
  uint64_t gen;        /* its generation */
  uint64_t expires_ms; /* unix ms */
  uint64_t lifetime_s; /* last known lifetime */
  uint64_t stale_gen;  /* a generation we know is no good, or UINT64_MAX */
  uint64_t lock_gen;   /* hash generation when we took the lock */
  char lockval[33];    /* hex, when we hold or try the lock */
  char *rt;            /* refresh token of the request out, owned, wiped */
  uint64_t sent_ms;    /* when the token request went out, unix ms */
  unsigned attempt;    /* token endpoint attempts in this refresh */
  int script_out;      /* a script awaits its reply */
  int http_out;        /* a token request is out */
  int sync_again;      /* an event came while a script was out */
  int need_again;      /* ...and a need (401, expiry) came too: the
                          follow-up may take the lock */
  struct script_ctx *pending; /* commit or failure record to write again
                                 once Redis answers (never the refresh) */
  uv_timer_t timer;           /* takeover wait / backoff / script retry */
  uv_timer_t keepalive;
  uint64_t n_ok, n_failed, n_refused; /* token endpoint outcomes (metrics) */
};

struct pacer_creds {
  uv_loop_t *loop;
  const struct pacer_config *cfg;
  struct pacer_queue *q;
  int (*submit)(void *arg, struct pacer_http_request *req);
  pacer_creds_changed_cb changed;
  void *arg;
  struct pacer_cred *creds; /* cfg->ncreds */
  size_t n;
  uint64_t prng;
  struct pacer_redis_addr addr;
  redisAsyncContext *sub; /* event subscriber */
  uv_timer_t sub_timer;
  int sub_up;
  int closing;
  int pending_closes;
};

static void try_script(struct pacer_cred *c, int need);
static void retry_pending(struct pacer_cred *c);
static void send_token_request(struct pacer_cred *c);

static void
wipe_free(char *s)
{
  if (s != NULL) {
    sodium_memzero(s, strlen(s));
    free(s);
  }
}

static char *
dup_n(const char *s, size_t n)
{
  char *d = malloc(n + 1);

  if (d != NULL) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

const char *
pacer_cred_name(const struct pacer_cred *c)
{
  return c->cfg->name;
}

const struct pacer_cred_cfg *
pacer_cred_cfg(const struct pacer_cred *c)
{
  return c->cfg;
}

struct pacer_cred *
pacer_creds_get(struct pacer_creds *cs, const char *name)
{
  size_t i;

  if (cs == NULL || name == NULL)
    return NULL;
  for (i = 0; i < cs->n; i++)
    if (strcmp(cs->creds[i].cfg->name, name) == 0)
      return &cs->creds[i];
  return NULL;
}

int
pacer_creds_busy(const struct pacer_creds *cs)
{
  size_t i;

  for (i = 0; cs != NULL && i < cs->n; i++)
    if (cs->creds[i].script_out || cs->creds[i].http_out)
      return 1;
  return 0;
}

/* Leaves the waiting states: tells the scheduler. */
static void
settle(struct pacer_cred *c, enum cst st)
{
  c->st = st;
  uv_timer_stop(&c->keepalive);
  if (c->cs->changed != NULL && !c->cs->closing)
    c->cs->changed(c->cs->arg, c);
}

static void
on_cred_timer(uv_timer_t *t)
{
  struct pacer_cred *c = t->data;

  if (c->cs->closing)
    return;
  if (c->pending != NULL) {
    retry_pending(c);
    return;
  }
  if (c->st == C_REFRESHING)
    send_token_request(c); /* backoff over */
  else
    try_script(c,
               c->st == C_WAITING || c->st == C_UNKNOWN || c->st == C_TRYING);
}

static void
timer_in(struct pacer_cred *c, uint64_t ms)
{
  uv_timer_start(&c->timer, on_cred_timer, ms, 0);
}

/* A printable, bounded, secret-free description for last_error. */
static void
describe(char *out, size_t size, const char *what, long status,
         const struct pacer_oauth_token *tok)
{
  char code[48] = "";
  size_t i, j = 0;

  if (tok != NULL && tok->error != NULL) {
    /* RFC 6749 §5.2 error codes are %x20-21 / %x23-5B / %x5D-7E; keep the
     * usual [A-Za-z0-9_.-] so nothing odd reaches logs or stats. */
    for (i = 0; tok->error[i] != '\0' && j + 1 < sizeof(code); i++) {
      char ch = tok->error[i];

      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.')
        code[j++] = ch;
    }
    code[j] = '\0';
  }
  if (status > 0)
    snprintf(out, size, "%s: HTTP %ld%s%s", what, status, code[0] ? " " : "",
             code);
  else
    snprintf(out, size, "%s", what);
}

/* ------------------------------------------------------------------ */
/* Scripts */

struct script_ctx {
  struct pacer_cred *c;
  int kind; /* 0 try-need, 1 try-sync, 2 commit, 3 fail, 4 keepalive */
  /* commit: kept for a replay after a lost reply */
  char *access_token, *refresh_token;
  uint64_t expires_ms, lifetime_s;
  char status[24];
  char last_error[LAST_ERROR_MAX];
  int release;
};

static void
ctx_free(struct script_ctx *x)
{
  wipe_free(x->access_token);
  wipe_free(x->refresh_token);
  free(x);
}

static int run_commit(struct script_ctx *x);
static int run_fail(struct script_ctx *x);

static uint64_t
reply_u64(const redisReply *r)
{
  if (r->type == REDIS_REPLY_INTEGER)
    return r->integer > 0 ? (uint64_t)r->integer : 0;
  if (r->type == REDIS_REPLY_STRING)
    return strtoull(r->str, NULL, 10);
  return 0;
}

static void
adopt(struct pacer_cred *c, const redisReply *r)
{
  /* {3, gen, access_token, expires_at_ms, lifetime_s} */
  char *tok;

  if (r->elements < 5 || r->element[2]->type != REDIS_REPLY_STRING)
    return;
  tok = dup_n(r->element[2]->str, r->element[2]->len);
  if (tok == NULL)
    return;
  wipe_free(c->token);
  c->token = tok;
  c->gen = reply_u64(r->element[1]);
  c->expires_ms = reply_u64(r->element[3]);
  if (reply_u64(r->element[4]) > 0)
    c->lifetime_s = reply_u64(r->element[4]);
  pacer_log(PACER_LOG_INFO, "cred",
            "msg=\"token in use\" credential=%s generation=%" PRIu64
            " expires_in_s=%" PRId64,
            c->cfg->name, c->gen,
            (int64_t)(c->expires_ms - pacer_clock_unix_ms()) / 1000);
}

static void
on_try_reply(struct pacer_queue *q, const redisReply *r, void *privdata)
{
  struct script_ctx *x = privdata;
  struct pacer_cred *c = x->c;
  int need = x->kind == 0;
  long long code;

  (void)q;
  free(x);
  c->script_out = 0;
  if (c->cs->closing)
    return;
  if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
      r->element[0]->type != REDIS_REPLY_INTEGER) {
    /* Lost or failed: ask again with the same lock value (a lock taken
     * by the lost call is found to be ours). */
    if (need || c->st == C_TRYING)
      timer_in(c, SCRIPT_RETRY_MS);
    return;
  }
  code = r->element[0]->integer;
  switch (code) {
  case 1: /* we hold the lock */
    c->lock_gen = reply_u64(r->element[1]);
    if (r->elements >= 4 && r->element[2]->type == REDIS_REPLY_STRING &&
        r->element[2]->len > 0) {
      wipe_free(c->rt);
      c->rt = dup_n(r->element[2]->str, r->element[2]->len);
    }
    if (reply_u64(r->element[3]) > 0)
      c->lifetime_s = reply_u64(r->element[3]);
    c->st = C_REFRESHING;
    c->attempt = 0;
    send_token_request(c);
    break;
  case 0: { /* someone else refreshes: wait for the event or the lock */
    uint64_t pttl = reply_u64(r->element[1]);

    c->st = C_WAITING;
    timer_in(c, (pttl > 0 ? pttl : 100u) + 50u +
                    pacer_prng_next(&c->cs->prng) % WAIT_JITTER_MS);
    break;
  }
  case 2: /* reauth_required */
    if (c->st != C_REAUTH)
      pacer_log(PACER_LOG_ERROR, "cred",
                "msg=\"credential needs re-authorisation; its jobs are parked\""
                " credential=%s fix=\"pacer cred set %s --refresh-token-file "
                "FILE\"",
                c->cfg->name, c->cfg->name);
    settle(c, C_REAUTH);
    break;
  case 3: /* adopt */
    adopt(c, r);
    uv_timer_stop(&c->timer);
    if (c->token != NULL)
      settle(c, C_OK);
    else
      timer_in(c, SCRIPT_RETRY_MS);
    break;
  case 6: /* expiring, or a new refresh token with no access token yet
           * (`pacer cred refresh`, `pacer cred set`): renew now */
    if (c->st == C_OK || c->st == C_WAITING) {
      c->stale_gen = c->gen;
      try_script(c, 1);
    } else if (c->st == C_REAUTH) {
      settle(c, C_UNKNOWN); /* jobs come back and load the token */
    }
    break;
  default: /* 4: nothing newer (sync) */
    if (c->st == C_REAUTH) {
      /* `pacer cred set` cleared it: load on next need. */
      c->st = C_UNKNOWN;
      settle(c, C_UNKNOWN);
    } else if (c->st == C_WAITING || c->st == C_TRYING) {
      /* The holder gave up without a token: try ourselves. */
      try_script(c, 1);
    }
    break;
  }
  if (c->sync_again && !c->script_out) {
    /* A need that came meanwhile still stands unless this reply already
     * answered it (a newer generation adopted) or nothing can (reauth). */
    int again = c->st == C_WAITING || c->st == C_UNKNOWN || c->st == C_TRYING ||
                (c->need_again && c->st == C_OK && c->gen == c->stale_gen);

    c->sync_again = 0;
    c->need_again = 0;
    try_script(c, again);
  }
}

/* A fresh lock value for a new refresh attempt (a retry of a lost call
 * keeps its value, so a lock that call took is found to be ours). */
static void
new_lockval(struct pacer_cred *c)
{
  unsigned char rnd[16];

  randombytes_buf(rnd, sizeof(rnd));
  sodium_bin2hex(c->lockval, sizeof(c->lockval), rnd, sizeof(rnd));
}

/* Runs the try script: need=1 may take the lock, 0 only syncs. */
static void
try_script(struct pacer_cred *c, int need)
{
  struct script_ctx *x;
  const char *keys[2] = {c->hash_key, c->lock_key};
  const char *args[6];
  char ttl[24], stale[24], skew[24];

  if (c->cs->closing || c->st == C_REFRESHING)
    return;
  if (c->script_out) {
    /* One script at a time. A need must not be lost behind a sync that
     * is out (a 401 while an event's sync runs): remember it, and stop
     * handing out the token we know is bad meanwhile. */
    c->sync_again = 1;
    if (need) {
      c->need_again = 1;
      if (c->st != C_TRYING && c->st != C_WAITING) {
        new_lockval(c);
        c->st = C_TRYING;
      }
    }
    return;
  }
  x = calloc(1, sizeof(*x));
  if (x == NULL)
    return;
  x->c = c;
  x->kind = need ? 0 : 1;
  if (need && c->st != C_TRYING && c->st != C_WAITING)
    new_lockval(c);
  snprintf(ttl, sizeof(ttl), "%u", PACER_CRED_LOCK_TTL_MS);
  if (!need && c->token != NULL)
    snprintf(stale, sizeof(stale), "%" PRIu64, c->gen); /* ours */
  else if (!need || c->stale_gen == UINT64_MAX)
    snprintf(stale, sizeof(stale), "-1");
  else
    snprintf(stale, sizeof(stale), "%" PRIu64, c->stale_gen);
  snprintf(skew, sizeof(skew), "%" PRIu64,
           (uint64_t)c->cfg->refresh_skew_s * 1000u);
  args[0] = c->lockval;
  args[1] = ttl;
  args[2] = stale;
  args[3] = skew;
  args[4] = c->chan;
  args[5] = need ? "need" : "sync";
  if (pacer_queue_eval_reply(c->cs->q, try_lua, 2, keys, 6, args, NULL,
                             on_try_reply, x) != 0) {
    free(x);
    timer_in(c, SCRIPT_RETRY_MS);
    return;
  }
  c->script_out = 1;
  if (need && c->st != C_WAITING)
    c->st = C_TRYING;
}

static void
on_keepalive_reply(struct pacer_queue *q, const redisReply *r, void *privdata)
{
  struct pacer_cred *c = privdata;

  (void)q;
  if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0 &&
      c->st == C_REFRESHING)
    pacer_log(PACER_LOG_WARN, "cred",
              "msg=\"refresh lock lost (expired); the new token will be "
              "discarded\" credential=%s",
              c->cfg->name);
}

static void
on_keepalive(uv_timer_t *t)
{
  struct pacer_cred *c = t->data;
  const char *keys[1] = {c->lock_key};
  const char *args[2];
  char ttl[24];

  if (c->cs->closing || c->st != C_REFRESHING)
    return;
  snprintf(ttl, sizeof(ttl), "%u", PACER_CRED_LOCK_TTL_MS);
  args[0] = c->lockval;
  args[1] = ttl;
  (void)pacer_queue_eval_reply(c->cs->q, keepalive_lua, 1, keys, 2, args, NULL,
                               on_keepalive_reply, c);
}

static void
on_commit_reply(struct pacer_queue *q, const redisReply *r, void *privdata)
{
  struct script_ctx *x = privdata;
  struct pacer_cred *c = x->c;

  (void)q;
  c->script_out = 0;
  if (c->cs->closing) {
    ctx_free(x);
    return;
  }
  if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
    /* Lost reply or an error (Redis restarting): write it again, never
     * refresh again; the script finds its own commit. */
    if (r != NULL || run_commit(x) != 0) {
      c->pending = x;
      timer_in(c, SCRIPT_RETRY_MS);
    }
    return;
  }
  if (r->integer < 0) {
    pacer_log(PACER_LOG_WARN, "cred",
              "msg=\"token discarded: another token was stored "
              "meanwhile\" credential=%s",
              c->cfg->name);
    c->stale_gen = UINT64_MAX;
    ctx_free(x);
    c->st = C_WAITING;
    uv_timer_stop(&c->keepalive);
    try_script(c, 1);
    return;
  }
  wipe_free(c->token);
  c->token = x->access_token;
  x->access_token = NULL;
  c->gen = (uint64_t)r->integer;
  c->expires_ms = x->expires_ms;
  c->lifetime_s = x->lifetime_s;
  pacer_log(PACER_LOG_INFO, "cred",
            "msg=\"token refreshed\" credential=%s generation=%" PRIu64
            " expires_in_s=%" PRIu64 " rotated=%s",
            c->cfg->name, c->gen, x->lifetime_s,
            x->refresh_token != NULL ? "yes" : "no");
  ctx_free(x);
  settle(c, C_OK);
}

static int
run_commit(struct script_ctx *x)
{
  struct pacer_cred *c = x->c;
  const char *keys[2] = {c->hash_key, c->lock_key};
  const char *args[7];
  char exp[24], life[24], lg[24];
  int rc;

  snprintf(lg, sizeof(lg), "%" PRIu64, c->lock_gen);
  snprintf(exp, sizeof(exp), "%" PRIu64, x->expires_ms);
  snprintf(life, sizeof(life), "%" PRIu64, x->lifetime_s);
  args[0] = c->lockval;
  args[1] = x->access_token;
  args[2] = exp;
  args[3] = x->refresh_token != NULL ? x->refresh_token : "";
  args[4] = life;
  args[5] = c->chan;
  args[6] = lg;
  rc = pacer_queue_eval_reply(c->cs->q, commit_lua, 2, keys, 7, args, NULL,
                              on_commit_reply, x);
  if (rc == 0)
    c->script_out = 1;
  return rc;
}

static void
on_fail_reply(struct pacer_queue *q, const redisReply *r, void *privdata)
{
  struct script_ctx *x = privdata;
  struct pacer_cred *c = x->c;

  (void)q;
  c->script_out = 0;
  if (c->cs->closing) {
    ctx_free(x);
    return;
  }
  if (r == NULL) {
    if (run_fail(x) == 0)
      return; /* replayed */
    if (strcmp(x->status, "reauth_required") == 0) {
      c->pending = x; /* write it once Redis is back */
      timer_in(c, SCRIPT_RETRY_MS);
      return;
    }
    ctx_free(x); /* a note on a retry: not worth keeping */
    return;
  }
  if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0 &&
      strcmp(x->status, "reauth_required") == 0) {
    ctx_free(x);
    settle(c, C_REAUTH);
    return;
  }
  if (r->type == REDIS_REPLY_INTEGER && r->integer == -1 &&
      strcmp(x->status, "reauth_required") == 0) {
    /* Our lock expired meanwhile: find out what the holder got. */
    ctx_free(x);
    c->st = C_WAITING;
    timer_in(c, SCRIPT_RETRY_MS);
    return;
  }
  if (r->type == REDIS_REPLY_INTEGER && r->integer == -2) {
    /* `pacer cred set` stored a new refresh token while ours failed: use
     * it instead of reporting the old one refused. */
    uv_timer_stop(&c->timer);
    c->st = C_UNKNOWN;
    c->stale_gen = UINT64_MAX;
    ctx_free(x);
    settle(c, C_UNKNOWN);
    return;
  }
  ctx_free(x);
}

static int
run_fail(struct script_ctx *x)
{
  struct pacer_cred *c = x->c;
  const char *keys[2] = {c->hash_key, c->lock_key};
  const char *args[6];
  char lg[24];
  int rc;

  snprintf(lg, sizeof(lg), "%" PRIu64, c->lock_gen);
  args[0] = c->lockval;
  args[1] = x->status;
  args[2] = x->last_error;
  args[3] = c->chan;
  args[4] = x->release ? "1" : "0";
  args[5] = lg;
  rc = pacer_queue_eval_reply(c->cs->q, fail_lua, 2, keys, 6, args, NULL,
                              on_fail_reply, x);
  if (rc == 0)
    c->script_out = 1;
  return rc;
}

/* Records a failure in the hash (fenced by our lock). */
static void
record_failure(struct pacer_cred *c, const char *status, const char *why,
               int release)
{
  struct script_ctx *x = calloc(1, sizeof(*x));

  if (x == NULL)
    return;
  x->c = c;
  x->kind = 3;
  snprintf(x->status, sizeof(x->status), "%s", status);
  snprintf(x->last_error, sizeof(x->last_error), "%s", why);
  x->release = release;
  if (run_fail(x) != 0) {
    if (strcmp(status, "reauth_required") == 0) {
      c->pending = x; /* write it once Redis is back */
      timer_in(c, SCRIPT_RETRY_MS);
    } else {
      ctx_free(x);
    }
  }
}

/* Writes the pending commit or failure record again (Redis was away). */
static void
retry_pending(struct pacer_cred *c)
{
  struct script_ctx *x = c->pending;
  int rc;

  c->pending = NULL;
  rc = x->kind == 2 ? run_commit(x) : run_fail(x);
  if (rc != 0) {
    c->pending = x;
    timer_in(c, SCRIPT_RETRY_MS);
  }
}

/* ------------------------------------------------------------------ */
/* Token request */

static void
send_token_request(struct pacer_cred *c)
{
  const struct pacer_cred_cfg *cfg = c->cfg;
  const char *rt = c->rt != NULL ? c->rt : cfg->refresh_token.value;
  struct pacer_oauth_request form;
  struct pacer_http_request *req;
  struct pacer_error err;
  int rc;

  if (c->http_out || c->cs->closing)
    return;
  if (rt == NULL || rt[0] == '\0') {
    pacer_log(PACER_LOG_ERROR, "cred",
              "msg=\"no refresh token; re-authorisation needed\" "
              "credential=%s fix=\"pacer cred set %s --refresh-token-file "
              "FILE\"",
              cfg->name, cfg->name);
    record_failure(c, "reauth_required", "no refresh token", 1);
    return; /* REAUTH once Redis has it (on_fail_reply) */
  }
  memset(&form, 0, sizeof(form));
  pacer_error_clear(&err);
  rc = pacer_oauth_refresh_request(&form, cfg->auth_method, cfg->client_id,
                                   cfg->client_secret.value, rt, cfg->scope,
                                   &err);
  req = rc == 0 ? pacer_http_request_new("POST", cfg->token_url) : NULL;
  if (req == NULL ||
      pacer_http_request_add_header(
          req, "Content-Type: application/x-www-form-urlencoded") != 0 ||
      pacer_http_request_add_header(req, "Accept: application/json") != 0 ||
      (form.auth_header != NULL &&
       pacer_http_request_add_header(req, form.auth_header) != 0) ||
      pacer_http_request_set_body(req, form.body, form.body_len) != 0) {
    pacer_http_request_free(req);
    pacer_oauth_request_free(&form);
    timer_in(c, RETRY_BASE_MS);
    return;
  }
  pacer_oauth_request_free(&form);
  req->tag = (uint64_t)(uintptr_t)c | PACER_CRED_TAG_BIT;
  req->timeout_ms = TOKEN_TIMEOUT_MS;
  req->connect_timeout_ms = TOKEN_CONNECT_MS;
  /* Never re-sent by libcurl on its own: a rotated refresh token used
   * twice can revoke the whole family (RFC 9700 §4.14.2, C02). */
  req->follow_redirects = 0;
  req->forbid_reuse = 1;
  c->sent_ms = pacer_clock_unix_ms();
  if (c->cs->submit(c->cs->arg, req) != 0) {
    pacer_http_request_free(req);
    timer_in(c, RETRY_BASE_MS);
    return;
  }
  c->http_out = 1;
  c->attempt++;
  pacer_log(PACER_LOG_INFO, "cred",
            "msg=\"refreshing token\" credential=%s attempt=%u", cfg->name,
            c->attempt);
  uv_timer_start(&c->keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
}

void
pacer_creds_on_outcome(struct pacer_creds *cs, struct pacer_http_outcome *o,
                       uint64_t retry_hint_ms)
{
  struct pacer_cred *c =
      (struct pacer_cred *)(uintptr_t)(o->req->tag &
                                       ~(uint64_t)PACER_CRED_TAG_BIT);
  struct pacer_oauth_token tok;
  struct pacer_error err;
  enum pacer_oauth_outcome oc;
  char why[LAST_ERROR_MAX], q[LAST_ERROR_MAX + 32];
  int prc = -1;

  (void)cs;
  c->http_out = 0;
  memset(&tok, 0, sizeof(tok));
  pacer_error_clear(&err);
  if (c->cs->closing || o->result == PACER_HTTP_CANCELED) {
    pacer_http_outcome_free(o);
    return;
  }
  if (o->result == PACER_HTTP_OK && o->body != NULL)
    prc = pacer_oauth_token_parse(&tok, o->body, o->body_len, &err);
  oc = o->result == PACER_HTTP_OK
           ? pacer_oauth_classify((int)o->status, prc, &tok)
           : PACER_OAUTH_RETRY;
  if (oc == PACER_OAUTH_OK)
    c->n_ok++;
  else if (oc == PACER_OAUTH_REAUTH)
    c->n_refused++;
  else
    c->n_failed++;
  if (oc == PACER_OAUTH_OK) {
    struct script_ctx *x = calloc(1, sizeof(*x));
    uint64_t exp = 0;

    pacer_oauth_expiry(&tok, c->sent_ms, c->lifetime_s,
                       c->cfg->lifetime_default_s, &exp);
    if (x != NULL) {
      x->c = c;
      x->kind = 2;
      x->access_token = tok.access_token;
      tok.access_token = NULL;
      x->refresh_token = tok.refresh_token;
      tok.refresh_token = NULL;
      x->expires_ms = exp;
      x->lifetime_s = exp > c->sent_ms ? (exp - c->sent_ms) / 1000u : 0;
      /* The new refresh token is durable in Redis before any job uses the
       * new access token (C03). Redis down: keep it and write it again;
       * refreshing again would spend the rotated refresh token's
       * predecessor, which the provider may take as token theft. */
      wipe_free(c->rt);
      c->rt = NULL;
      if (run_commit(x) != 0) {
        c->pending = x;
        timer_in(c, SCRIPT_RETRY_MS);
      }
    }
  } else if (oc == PACER_OAUTH_REAUTH) {
    describe(why, sizeof(why), "token endpoint refused the refresh token",
             o->status, &tok);
    pacer_log(PACER_LOG_ERROR, "cred",
              "msg=\"credential needs re-authorisation; its jobs are parked\" "
              "credential=%s reason=\"%s\" fix=\"pacer cred set %s "
              "--refresh-token-file FILE\"",
              c->cfg->name, pacer_log_quote(q, sizeof(q), why), c->cfg->name);
    record_failure(c, "reauth_required", why, 1);
    /* REAUTH once Redis has it (on_fail_reply): a refresh token stored by
     * `pacer cred set` meanwhile wins, and no job is parked after the
     * command released the parked ones. */
  } else {
    uint64_t delay =
        pacer_backoff_full_jitter_ms(c->attempt > 0 ? c->attempt - 1 : 0,
                                     RETRY_BASE_MS, RETRY_CAP_MS, &c->cs->prng);

    if (retry_hint_ms > delay) /* Retry-After is a floor (C05) */
      delay = retry_hint_ms;
    if (o->result == PACER_HTTP_OK)
      describe(why, sizeof(why), "token endpoint failed", o->status, &tok);
    else
      describe(why, sizeof(why), pacer_http_result_name(o->result), 0, NULL);
    pacer_log(PACER_LOG_WARN, "cred",
              "msg=\"token refresh failed, retrying\" credential=%s "
              "reason=\"%s\" wait_ms=%" PRIu64,
              c->cfg->name, pacer_log_quote(q, sizeof(q), why), delay);
    record_failure(c, "refreshing", why, 0); /* keep the lock, note why */
    timer_in(c, delay);
  }
  pacer_oauth_token_free(&tok);
  pacer_http_outcome_free(o);
}

/* ------------------------------------------------------------------ */
/* Use */

/* refresh_skew_s in ms, at most half the token's lifetime: a token that
 * lives no longer than the skew is still used, renewed half-way. */
static uint64_t
skew_ms(const struct pacer_cred *c)
{
  uint64_t skew = (uint64_t)c->cfg->refresh_skew_s * 1000u;

  if (c->lifetime_s > 0 && skew > c->lifetime_s * 500u)
    skew = c->lifetime_s * 500u;
  return skew;
}

enum pacer_cred_state
pacer_cred_token(struct pacer_cred *c, const char **token, uint64_t *generation)
{
  uint64_t now = pacer_clock_unix_ms();

  switch (c->st) {
  case C_OK:
    if (c->token != NULL && now + skew_ms(c) < c->expires_ms) {
      *token = c->token;
      *generation = c->gen;
      return PACER_CRED_READY;
    }
    /* Proactive: renew skew before expiry, single flight. */
    c->stale_gen = c->gen;
    try_script(c, 1);
    return PACER_CRED_WAIT;
  case C_UNKNOWN:
    try_script(c, 1);
    return PACER_CRED_WAIT;
  case C_REAUTH:
    return PACER_CRED_REAUTH;
  default:
    return PACER_CRED_WAIT;
  }
}

void
pacer_cred_get_metrics(const struct pacer_cred *c,
                       struct pacer_cred_metrics *out)
{
  static const char *const names[] = {
      "unknown", "ok", "loading", "refreshing", "waiting", "reauth_required"};

  out->status = (unsigned)c->st < sizeof(names) / sizeof(names[0])
                    ? names[c->st]
                    : "unknown";
  out->generation = c->token != NULL ? c->gen : 0;
  out->expires_unix_ms = c->token != NULL ? c->expires_ms : 0;
  out->refresh_ok = c->n_ok;
  out->refresh_failed = c->n_failed;
  out->refresh_refused = c->n_refused;
}

const char *
pacer_cred_held_token(const struct pacer_cred *c)
{
  return c->token;
}

void
pacer_cred_invalid(struct pacer_cred *c, uint64_t generation)
{
  if (c->st != C_OK || generation != c->gen)
    return; /* older generation, or a refresh is already under way */
  pacer_log(PACER_LOG_INFO, "cred",
            "msg=\"token rejected (invalid_token); refreshing\" "
            "credential=%s generation=%" PRIu64,
            c->cfg->name, generation);
  c->stale_gen = generation;
  try_script(c, 1);
}

/* ------------------------------------------------------------------ */
/* Events: PSUBSCRIBE <prefix>credev:* on a connection of our own */

static void sub_connect(struct pacer_creds *cs);

static void
on_sub_timer(uv_timer_t *t)
{
  sub_connect(t->data);
}

static void
on_sub_message(redisAsyncContext *ac, void *reply, void *privdata)
{
  struct pacer_creds *cs = privdata;
  const redisReply *r = reply;
  size_t i;

  (void)ac;
  if (cs->closing || r == NULL || r->type != REDIS_REPLY_ARRAY ||
      r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
    return;
  if (strcmp(r->element[0]->str, "psubscribe") == 0) {
    /* (Re)subscribed: events may have been missed; sync everyone who is
     * not refreshing. */
    cs->sub_up = 1;
    for (i = 0; i < cs->n; i++)
      if (cs->creds[i].st != C_UNKNOWN && cs->creds[i].st != C_REFRESHING)
        try_script(&cs->creds[i], 0);
    return;
  }
  if (strcmp(r->element[0]->str, "pmessage") != 0 || r->elements < 4 ||
      r->element[2]->type != REDIS_REPLY_STRING)
    return;
  for (i = 0; i < cs->n; i++) {
    struct pacer_cred *c = &cs->creds[i];

    if (strcmp(c->chan, r->element[2]->str) != 0 || c->st == C_REFRESHING ||
        c->st == C_UNKNOWN)
      continue;
    /* A new token's generation we already hold (our own commit comes
     * back too): nothing to read. "<gen>:<status>" is a state change. */
    if (c->st == C_OK && r->element[3]->type == REDIS_REPLY_STRING &&
        strchr(r->element[3]->str, ':') == NULL &&
        strtoull(r->element[3]->str, NULL, 10) == c->gen)
      continue;
    try_script(c, 0);
  }
}

static void
on_sub_connect(const redisAsyncContext *ac, int status)
{
  struct pacer_creds *cs = ac->data;

  if (status != REDIS_OK) {
    cs->sub = NULL; /* hiredis frees it */
    if (!cs->closing)
      uv_timer_start(&cs->sub_timer, on_sub_timer, SUB_RECONNECT_MS, 0);
  }
}

static void
on_sub_disconnect(const redisAsyncContext *ac, int status)
{
  struct pacer_creds *cs = ac->data;

  (void)status;
  cs->sub = NULL;
  cs->sub_up = 0;
  if (!cs->closing)
    uv_timer_start(&cs->sub_timer, on_sub_timer, SUB_RECONNECT_MS, 0);
}

static void
sub_connect(struct pacer_creds *cs)
{
  redisAsyncContext *ac;
  char pattern[PACER_CRED_NAME_MAX + 160];

  if (cs->closing || cs->sub != NULL || cs->n == 0)
    return;
  ac = cs->addr.path[0] != '\0'
           ? redisAsyncConnectUnix(cs->addr.path)
           : redisAsyncConnect(cs->addr.host, cs->addr.port);
  if (ac == NULL || ac->err ||
      pacer_redis_uv_attach(ac, cs->loop) != REDIS_OK) {
    if (ac != NULL)
      redisAsyncFree(ac);
    uv_timer_start(&cs->sub_timer, on_sub_timer, SUB_RECONNECT_MS, 0);
    return;
  }
  ac->data = cs;
  redisAsyncSetConnectCallback(ac, on_sub_connect);
  redisAsyncSetDisconnectCallback(ac, on_sub_disconnect);
  cs->sub = ac;
  if (cs->addr.password[0] != '\0') {
    if (cs->addr.user[0] != '\0')
      redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", cs->addr.user,
                        cs->addr.password);
    else
      redisAsyncCommand(ac, NULL, NULL, "AUTH %s", cs->addr.password);
  }
  snprintf(pattern, sizeof(pattern), "%scredev:*", cs->cfg->prefix);
  redisAsyncCommand(ac, on_sub_message, cs, "PSUBSCRIBE %s", pattern);
}

/* ------------------------------------------------------------------ */
/* Lifecycle */

int
pacer_creds_new(uv_loop_t *loop, const struct pacer_config *cfg,
                struct pacer_queue *q,
                int (*submit)(void *arg, struct pacer_http_request *req),
                pacer_creds_changed_cb changed, void *arg,
                struct pacer_creds **out)
{
  struct pacer_creds *cs = calloc(1, sizeof(*cs));
  struct pacer_error err;
  size_t i;

  *out = NULL;
  if (cs == NULL)
    return PACER_ENOMEM;
  cs->loop = loop;
  cs->cfg = cfg;
  cs->q = q;
  cs->submit = submit;
  cs->changed = changed;
  cs->arg = arg;
  if (pacer_oauth_global_init() != 0) {
    free(cs);
    return PACER_ENOMEM;
  }
  randombytes_buf(&cs->prng, sizeof(cs->prng));
  cs->prng |= 1u;
  if (pacer_redis_addr_parse(cfg->redis_url, &cs->addr, &err) != 0)
    memset(&cs->addr, 0, sizeof(cs->addr));
  cs->n = cfg->ncreds;
  cs->creds = cs->n ? calloc(cs->n, sizeof(*cs->creds)) : NULL;
  if (cs->n && cs->creds == NULL) {
    free(cs);
    return PACER_ENOMEM;
  }
  for (i = 0; i < cs->n; i++) {
    struct pacer_cred *c = &cs->creds[i];

    c->cs = cs;
    c->cfg = &cfg->creds[i];
    c->stale_gen = UINT64_MAX;
    snprintf(c->hash_key, sizeof(c->hash_key), "%scred:%s", cfg->prefix,
             c->cfg->name);
    snprintf(c->lock_key, sizeof(c->lock_key), "%slock:cred:%s", cfg->prefix,
             c->cfg->name);
    snprintf(c->chan, sizeof(c->chan), "%scredev:%s", cfg->prefix,
             c->cfg->name);
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->keepalive);
    c->timer.data = c;
    c->keepalive.data = c;
  }
  uv_timer_init(loop, &cs->sub_timer);
  cs->sub_timer.data = cs;
  *out = cs;
  return 0;
}

void
pacer_creds_start(struct pacer_creds *cs)
{
  sub_connect(cs);
}

/* Every handle closed here has data = the set (pacer_creds_close sets it).
 * Telling the handles apart by taking h->data as a set and comparing h with
 * its &sub_timer mistook a cred's keepalive for sub_timer whenever the two
 * offsets coincide, then decremented a counter past the creds array
 * (heap-buffer-overflow, double free at stop; issue 5 §7). */
static void
on_creds_closed(uv_handle_t *h)
{
  struct pacer_creds *cs = h->data;
  size_t i;

  if (--cs->pending_closes > 0)
    return;
  for (i = 0; i < cs->n; i++) {
    wipe_free(cs->creds[i].token);
    wipe_free(cs->creds[i].rt);
    if (cs->creds[i].pending != NULL)
      ctx_free(cs->creds[i].pending);
  }
  free(cs->creds);
  sodium_memzero(&cs->addr, sizeof(cs->addr));
  free(cs);
}

void
pacer_creds_close(struct pacer_creds *cs)
{
  size_t i;

  if (cs == NULL)
    return;
  cs->closing = 1;
  if (cs->sub != NULL) {
    redisAsyncContext *ac = cs->sub;

    cs->sub = NULL;
    redisAsyncFree(ac); /* runs on_sub_disconnect, which sees closing */
  }
  cs->pending_closes = (int)(1 + 2 * cs->n);
  for (i = 0; i < cs->n; i++) {
    /* Closed timers never call back again: data may name the set now. */
    cs->creds[i].timer.data = cs;
    cs->creds[i].keepalive.data = cs;
    uv_close((uv_handle_t *)&cs->creds[i].timer, on_creds_closed);
    uv_close((uv_handle_t *)&cs->creds[i].keepalive, on_creds_closed);
  }
  uv_close((uv_handle_t *)&cs->sub_timer, on_creds_closed);
}
