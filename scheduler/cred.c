/* OAuth2 credentials at run time: the glue around the credential state
 * machine (core/cred_fsm.c). It feeds the machine its events (a job asks
 * for the token, a 401, script replies from store/cred_store.c, the token
 * endpoint's answer through a worker, events from other processes, uv
 * timers) and applies its actions. See cred.h for the protocol. */
#include "scheduler/cred.h"
#include "scheduler/cred_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "core/backoff.h"
#include "core/cred_env.h"
#include "core/cred_fsm.h"
#include "core/oauth_token.h"
#include "store/cred_store.h"

#define TOKEN_CONNECT_MS 5000u /* token request connect, ms, at most */
#define LAST_ERROR_MAX   160   /* bytes of last_error */

/* A fenced write (a commit or a failure record), kept for a replay after
 * a lost reply. */
struct rec {
  struct pacer_cred *c;
  int commit; /* 1 commit, 0 failure record */
  char *access_token, *refresh_token;
  uint64_t expires_ms, lifetime_s;
  int reauth; /* failure: status reauth_required (else refreshing) */
  char last_error[LAST_ERROR_MAX];
  int release;
  int known; /* failure: the request's outcome is known */
};

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

static void
rec_free(struct rec *x)
{
  wipe_free(x->access_token);
  wipe_free(x->refresh_token);
  free(x);
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
    if (strcmp(cs->creds[i]->cfg->name, name) == 0)
      return cs->creds[i];
  return NULL;
}

int
pacer_creds_busy(const struct pacer_creds *cs)
{
  size_t i;

  for (i = 0; cs != NULL && i < cs->n; i++)
    if (pacer_cred_fsm_busy(&cs->creds[i]->fsm))
      return 1;
  return 0;
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

static void
log_reauth(const struct pacer_cred *c, const char *why)
{
  char q[LAST_ERROR_MAX + 32];

  if (why == NULL)
    pacer_log(PACER_LOG_ERROR, "cred",
              "msg=\"credential needs re-authorisation; its jobs are parked\""
              " credential=%s fix=\"pacer cred set %s --refresh-token-file "
              "FILE\"",
              c->cfg->name, c->cfg->name);
  else
    pacer_log(PACER_LOG_ERROR, "cred",
              "msg=\"credential needs re-authorisation; its jobs are parked\" "
              "credential=%s reason=\"%s\" fix=\"pacer cred set %s "
              "--refresh-token-file FILE\"",
              c->cfg->name, pacer_log_quote(q, sizeof(q), why), c->cfg->name);
}

/* ------------------------------------------------------------------ */
/* Script replies: events for the machine */

static void
on_try_reply(void *privdata, struct pacer_cred_fsm_try *r, const char *rt,
             size_t rt_len, const char *tok, size_t tok_len, int need)
{
  struct pacer_cred *c = privdata;

  if (c->cs->closing) {
    pacer_cred_fsm_try_reply(&c->fsm, need, NULL, 0);
    return;
  }
  if (r != NULL && r->code == 1 && rt != NULL) {
    wipe_free(c->rt);
    c->rt = dup_n(rt, rt_len);
  } else if (r != NULL && r->code == 2 && c->fsm.st != PACER_CRED_FSM_REAUTH) {
    log_reauth(c, NULL);
  } else if (r != NULL && r->code == 3 && tok != NULL) {
    char *t = dup_n(tok, tok_len);

    if (t != NULL) {
      wipe_free(c->token);
      c->token = t;
      r->adopted = 1;
      pacer_log(PACER_LOG_INFO, "cred",
                "msg=\"token in use\" credential=%s generation=%" PRIu64
                " expires_in_s=%" PRId64,
                c->cfg->name, r->gen,
                (int64_t)(r->expires_unix_ms - pacer_clock_unix_ms()) / 1000);
    }
  }
  pacer_cred_fsm_try_reply(&c->fsm, need, r, pacer_prng_next(&c->cs->prng));
}

static void
on_need_reply(void *privdata, struct pacer_cred_fsm_try *r, const char *rt,
              size_t rt_len, const char *tok, size_t tok_len)
{
  on_try_reply(privdata, r, rt, rt_len, tok, tok_len, 1);
}

static void
on_sync_reply(void *privdata, struct pacer_cred_fsm_try *r, const char *rt,
              size_t rt_len, const char *tok, size_t tok_len)
{
  on_try_reply(privdata, r, rt, rt_len, tok, tok_len, 0);
}

static void
on_commit_reply(void *privdata, enum pacer_cred_fsm_reply kind, int64_t value)
{
  struct rec *x = privdata;
  struct pacer_cred *c = x->c;
  uint64_t exp = x->expires_ms, life = x->lifetime_s;

  if (!c->cs->closing && kind == PACER_CRED_FSM_REPLY_INT) {
    if (value < 0) {
      pacer_log(PACER_LOG_WARN, "cred",
                "msg=\"token discarded: another token was stored "
                "meanwhile\" credential=%s",
                c->cfg->name);
    } else {
      wipe_free(c->token);
      c->token = x->access_token;
      x->access_token = NULL;
      pacer_log(PACER_LOG_INFO, "cred",
                "msg=\"token refreshed\" credential=%s generation=%" PRId64
                " expires_in_s=%" PRIu64 " rotated=%s",
                c->cfg->name, value, life,
                x->refresh_token != NULL ? "yes" : "no");
    }
  }
  pacer_cred_fsm_commit_reply(&c->fsm, x, kind, value, exp, life);
}

static void
on_fail_reply(void *privdata, enum pacer_cred_fsm_reply kind, int64_t value)
{
  struct rec *x = privdata;

  pacer_cred_fsm_fail_reply(&x->c->fsm, x, x->reauth, kind, value);
}

static void
on_keepalive_reply(void *privdata, enum pacer_cred_fsm_reply kind,
                   int64_t value)
{
  struct pacer_cred *c = privdata;

  if (kind == PACER_CRED_FSM_REPLY_INT && value == 0 &&
      c->fsm.st == PACER_CRED_FSM_REFRESHING)
    pacer_log(PACER_LOG_WARN, "cred",
              "msg=\"refresh lock lost (expired); nothing more is sent or "
              "written under it\" credential=%s",
              c->cfg->name);
}

void
pacer_cred_on_keepalive(uv_timer_t *t)
{
  struct pacer_cred *c = t->data;

  if (c->cs->closing || c->fsm.st != PACER_CRED_FSM_REFRESHING)
    return;
  (void)pacer_cred_store_keepalive(c->cs->q, &c->keys, c->lockval,
                                   c->cfg->lock_ttl_ms, on_keepalive_reply, c);
}

static void
on_fence_reply(void *privdata, enum pacer_cred_fsm_reply kind, int64_t value)
{
  struct pacer_cred *c = privdata;

  if (!c->cs->closing && kind == PACER_CRED_FSM_REPLY_INT && value == -1)
    pacer_log(PACER_LOG_WARN, "cred",
              "msg=\"refresh lock lost (expired); not sending the token "
              "request\" credential=%s",
              c->cfg->name);
  pacer_cred_fsm_fence_reply(&c->fsm, kind, value);
}

static void
on_cred_timer(uv_timer_t *t)
{
  struct pacer_cred *c = t->data;

  pacer_cred_fsm_timer(&c->fsm);
}

/* ------------------------------------------------------------------ */
/* Actions of the machine */

static void
act_new_lockval(void *arg)
{
  struct pacer_cred *c = arg;
  unsigned char rnd[16];

  randombytes_buf(rnd, sizeof(rnd));
  sodium_bin2hex(c->lockval, sizeof(c->lockval), rnd, sizeof(rnd));
}

static int
act_run_try(void *arg, int need, int64_t stale_gen)
{
  struct pacer_cred *c = arg;

  return pacer_cred_store_try(c->cs->q, &c->keys, c->lockval,
                              c->cfg->lock_ttl_ms, stale_gen,
                              (uint64_t)c->cfg->refresh_skew_s * 1000u, need,
                              need ? on_need_reply : on_sync_reply, c);
}

static int
act_run_fence(void *arg, unsigned attempt, int known)
{
  struct pacer_cred *c = arg;

  return pacer_cred_store_send_fence(c->cs->q, &c->keys, c->lockval, attempt,
                                     known, c->cfg->lock_ttl_ms, on_fence_reply,
                                     c);
}

static int
act_send(void *arg, unsigned attempt, int replay)
{
  struct pacer_cred *c = arg;
  const struct pacer_cred_cfg *cfg = c->cfg;
  const char *rt = c->rt != NULL ? c->rt : cfg->refresh_token.value;
  struct pacer_oauth_request form;
  struct pacer_http_request *req;
  struct pacer_error err;
  int rc;

  if (rt == NULL || rt[0] == '\0') {
    pacer_log(PACER_LOG_ERROR, "cred",
              "msg=\"no refresh token; re-authorisation needed\" "
              "credential=%s fix=\"pacer cred set %s --refresh-token-file "
              "FILE\"",
              cfg->name, cfg->name);
    return PACER_EAUTH;
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
    return PACER_ENOMEM;
  }
  pacer_oauth_request_free(&form);
  req->tag = (uint64_t)(uintptr_t)c | PACER_CRED_TAG_BIT;
  req->timeout_ms = cfg->token_timeout_ms;
  req->connect_timeout_ms = cfg->token_timeout_ms < TOKEN_CONNECT_MS
                                ? cfg->token_timeout_ms
                                : TOKEN_CONNECT_MS;
  /* Never re-sent by libcurl on its own: a rotated refresh token used
   * twice can revoke the whole family (RFC 9700 §4.14.2). */
  req->follow_redirects = 0;
  req->forbid_reuse = 1;
  c->sent_ms = pacer_clock_unix_ms();
  if (c->cs->submit(c->cs->arg, req) != 0) {
    pacer_http_request_free(req);
    return PACER_EIO;
  }
  pacer_log(replay ? PACER_LOG_WARN : PACER_LOG_INFO, "cred",
            "msg=\"refreshing token%s\" credential=%s attempt=%u",
            replay ? ": the one replay after an unknown outcome" : "",
            cfg->name, attempt);
  return 0;
}

static int
act_run_commit(void *arg, void *rec, uint64_t lock_gen)
{
  struct pacer_cred *c = arg;
  struct rec *x = rec;

  return pacer_cred_store_commit(
      c->cs->q, &c->keys, c->lockval, x->access_token, x->expires_ms,
      x->refresh_token, x->lifetime_s, lock_gen, on_commit_reply, x);
}

static int
act_run_fail(void *arg, void *rec, uint64_t lock_gen)
{
  struct pacer_cred *c = arg;
  struct rec *x = rec;

  return pacer_cred_store_fail(c->cs->q, &c->keys, c->lockval,
                               x->reauth ? "reauth_required" : "refreshing",
                               x->last_error, x->release, x->known, lock_gen,
                               on_fail_reply, x);
}

static void *
act_new_fail(void *arg, int reauth, const char *why, int release, int known)
{
  struct rec *x = calloc(1, sizeof(*x));

  if (x == NULL)
    return NULL;
  x->c = arg;
  x->reauth = reauth;
  snprintf(x->last_error, sizeof(x->last_error), "%s", why);
  x->release = release;
  x->known = known;
  return x;
}

static void
act_free_rec(void *arg, void *rec)
{
  (void)arg;
  rec_free(rec);
}

static void
act_arm_timer(void *arg, uint64_t ms)
{
  struct pacer_cred *c = arg;

  uv_timer_start(&c->timer, on_cred_timer, ms, 0);
}

static void
act_stop_timer(void *arg)
{
  struct pacer_cred *c = arg;

  uv_timer_stop(&c->timer);
}

static void
act_keepalive(void *arg, int on)
{
  struct pacer_cred *c = arg;

  if (on)
    uv_timer_start(&c->keepalive, pacer_cred_on_keepalive,
                   c->cfg->lock_ttl_ms / 3u, c->cfg->lock_ttl_ms / 3u);
  else
    uv_timer_stop(&c->keepalive);
}

static void
act_settled(void *arg)
{
  struct pacer_cred *c = arg;

  if (c->cs->changed != NULL && !c->cs->closing)
    c->cs->changed(c->cs->arg, c);
}

static const struct pacer_cred_fsm_ops ops = {
    .new_lockval = act_new_lockval,
    .run_try = act_run_try,
    .run_fence = act_run_fence,
    .send = act_send,
    .run_commit = act_run_commit,
    .run_fail = act_run_fail,
    .new_fail = act_new_fail,
    .free_rec = act_free_rec,
    .arm_timer = act_arm_timer,
    .stop_timer = act_stop_timer,
    .keepalive = act_keepalive,
    .settled = act_settled,
};

/* ------------------------------------------------------------------ */
/* The token endpoint's answer */

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
  struct rec *x = NULL;
  uint64_t delay;
  int prc = -1;

  (void)cs;
  memset(&tok, 0, sizeof(tok));
  pacer_error_clear(&err);
  if (c->cs->closing || o->result == PACER_HTTP_CANCELED) {
    pacer_cred_fsm_answer(&c->fsm, PACER_CRED_FSM_ANSWER_CANCELED, NULL, NULL,
                          0, 0);
    pacer_http_outcome_free(o);
    return;
  }
  if (o->result == PACER_HTTP_OK && o->body != NULL)
    prc = pacer_oauth_token_parse(&tok, o->body, o->body_len, &err);
  oc = o->result == PACER_HTTP_OK
           ? pacer_oauth_classify((int)o->status, prc, &tok)
           : PACER_OAUTH_RETRY;
  if (oc == PACER_OAUTH_OK) {
    uint64_t exp = 0;

    x = calloc(1, sizeof(*x));
    pacer_oauth_expiry(&tok, c->sent_ms, c->fsm.lifetime_s,
                       c->cfg->lifetime_default_s, &exp);
    if (x != NULL) {
      x->c = c;
      x->commit = 1;
      x->access_token = tok.access_token;
      tok.access_token = NULL;
      x->refresh_token = tok.refresh_token;
      tok.refresh_token = NULL;
      x->expires_ms = exp;
      x->lifetime_s = exp > c->sent_ms ? (exp - c->sent_ms) / 1000u : 0;
      /* The rotated refresh token goes to Redis in the commit (before any
       * job uses the new access token, docs/CREDENTIALS.md step 3); the one
       * we sent is spent. */
      wipe_free(c->rt);
      c->rt = NULL;
    }
    pacer_cred_fsm_answer(&c->fsm, PACER_CRED_FSM_ANSWER_OK, x, NULL, 0, 0);
  } else if (oc == PACER_OAUTH_REAUTH) {
    describe(why, sizeof(why), "token endpoint refused the refresh token",
             o->status, &tok);
    log_reauth(c, why);
    pacer_cred_fsm_answer(&c->fsm, PACER_CRED_FSM_ANSWER_REAUTH, NULL, why, 0,
                          0);
  } else if (o->result != PACER_HTTP_OK &&
             !pacer_oauth_never_sent((int)o->result, o->error)) {
    /* Sent, and no answer: the provider may have rotated the refresh
     * token. Wait out token_timeout_ms from the send, re-read, replay
     * once (docs/CREDENTIALS.md, One refresh token, one POST). */
    uint64_t now = pacer_clock_unix_ms(),
             until = c->sent_ms + c->cfg->token_timeout_ms;

    snprintf(why, sizeof(why), "token request outcome unknown: %s",
             pacer_http_result_name(o->result));
    delay = pacer_cred_fsm_answer(&c->fsm, PACER_CRED_FSM_ANSWER_UNKNOWN, NULL,
                                  why, until > now ? until - now : 0, 0);
    pacer_log(PACER_LOG_WARN, "cred",
              "msg=\"token request got no answer; outcome unknown\" "
              "credential=%s reason=\"%s\" reread_in_ms=%" PRIu64,
              c->cfg->name, pacer_log_quote(q, sizeof(q), why), delay);
  } else {
    if (o->result == PACER_HTTP_OK)
      describe(why, sizeof(why), "token endpoint failed", o->status, &tok);
    else
      describe(why, sizeof(why), pacer_http_result_name(o->result), 0, NULL);
    delay =
        pacer_cred_fsm_answer(&c->fsm, PACER_CRED_FSM_ANSWER_RETRY, NULL, why,
                              retry_hint_ms, pacer_prng_next(&c->cs->prng));
    pacer_log(PACER_LOG_WARN, "cred",
              "msg=\"token refresh failed, retrying\" credential=%s "
              "reason=\"%s\" wait_ms=%" PRIu64,
              c->cfg->name, pacer_log_quote(q, sizeof(q), why), delay);
  }
  pacer_oauth_token_free(&tok);
  pacer_http_outcome_free(o);
}

/* ------------------------------------------------------------------ */
/* Use */

enum pacer_cred_state
pacer_cred_token(struct pacer_cred *c, const char **token, uint64_t *generation)
{
  switch (pacer_cred_fsm_token(&c->fsm, pacer_clock_unix_ms())) {
  case PACER_CRED_FSM_READY:
    *token = c->token;
    *generation = c->fsm.gen;
    return PACER_CRED_READY;
  case PACER_CRED_FSM_PARK:
    return PACER_CRED_REAUTH;
  default:
    return PACER_CRED_WAIT;
  }
}

void
pacer_cred_get_metrics(const struct pacer_cred *c,
                       struct pacer_cred_metrics *out)
{
  out->status = pacer_cred_fsm_state_name(c->fsm.st);
  out->generation = c->token != NULL ? c->fsm.gen : 0;
  out->expires_unix_ms = c->token != NULL ? c->fsm.expires_unix_ms : 0;
  out->refresh_ok = c->fsm.n_ok;
  out->refresh_failed = c->fsm.n_failed;
  out->refresh_refused = c->fsm.n_refused;
}

const char *
pacer_cred_held_token(const struct pacer_cred *c)
{
  return c->token;
}

struct pacer_cred_env *
pacer_cred_env_state(struct pacer_cred *c)
{
  return c->env;
}

void
pacer_cred_invalid(struct pacer_cred *c, uint64_t generation)
{
  if (c->fsm.st != PACER_CRED_FSM_OK || generation != c->fsm.gen)
    return; /* older generation, or a refresh is already under way */
  pacer_log(PACER_LOG_INFO, "cred",
            "msg=\"token rejected (invalid_token); refreshing\" "
            "credential=%s generation=%" PRIu64,
            c->cfg->name, generation);
  (void)pacer_cred_fsm_invalid(&c->fsm, generation);
}

/* ------------------------------------------------------------------ */
/* Events from other processes */

static void
on_sub_up(void *arg)
{
  struct pacer_creds *cs = arg;
  size_t i;

  if (cs->closing)
    return;
  for (i = 0; i < cs->n; i++)
    pacer_cred_fsm_resubscribed(&cs->creds[i]->fsm);
}

static void
on_sub_event(void *arg, const char *channel, const char *payload)
{
  struct pacer_creds *cs = arg;
  size_t i;

  if (cs->closing)
    return;
  for (i = 0; i < cs->n; i++) {
    struct pacer_cred *c = cs->creds[i];
    int plain = payload != NULL && strchr(payload, ':') == NULL;

    if (strcmp(c->keys.chan, channel) != 0)
      continue;
    pacer_cred_fsm_remote(&c->fsm, plain,
                          plain ? strtoull(payload, NULL, 10) : 0);
  }
}

/* ------------------------------------------------------------------ */
/* Lifecycle */

static void
creds_free(struct pacer_creds *cs)
{
  size_t i;

  for (i = 0; i < cs->n; i++) {
    wipe_free(cs->creds[i]->token);
    wipe_free(cs->creds[i]->rt);
    free(cs->creds[i]->env);
    free(cs->creds[i]->env_of);
    if (cs->creds[i]->fsm.pending != NULL)
      rec_free(cs->creds[i]->fsm.pending);
    free(cs->creds[i]);
  }
  free(cs->creds);
  free(cs);
}

int
pacer_creds_new(uv_loop_t *loop, const struct pacer_config *cfg,
                struct pacer_queue *q,
                int (*submit)(void *arg, struct pacer_http_request *req),
                pacer_creds_changed_cb changed, void *arg,
                struct pacer_creds **out)
{
  struct pacer_creds *cs = calloc(1, sizeof(*cs));
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
  if (pacer_cred_sub_new(loop, cfg->redis_url, cfg->prefix, on_sub_event,
                         on_sub_up, cs, &cs->sub) != 0) {
    free(cs);
    return PACER_ENOMEM;
  }
  for (i = 0; i < cfg->ncreds; i++) {
    if (pacer_cred_add(cs, &cfg->creds[i]) != 0) {
      pacer_creds_close(cs); /* closes what was added, frees cs */
      return PACER_ENOMEM;
    }
  }
  *out = cs;
  return 0;
}

int
pacer_cred_add(struct pacer_creds *cs, const struct pacer_cred_cfg *cfg)
{
  struct pacer_cred **a = realloc(cs->creds, (cs->n + 1) * sizeof(*a));
  struct pacer_cred *c = calloc(1, sizeof(*c));

  if (a != NULL)
    cs->creds = a;
  if (a == NULL || c == NULL) {
    free(c);
    return PACER_ENOMEM;
  }
  c->cs = cs;
  c->cfg = cfg;
  pacer_cred_fsm_init(&c->fsm, c->cfg->refresh_skew_s, &ops, c);
  pacer_cred_keys_init(&c->keys, cs->cfg->prefix, c->cfg->name);
  uv_timer_init(cs->loop, &c->timer);
  uv_timer_init(cs->loop, &c->keepalive);
  c->timer.data = c;
  c->keepalive.data = c;
  pacer_cred_env_configure(c);
  cs->creds[cs->n++] = c;
  if (cs->started && !cs->sub_started) {
    cs->sub_started = 1;
    pacer_cred_sub_start(cs->sub);
  }
  return 0;
}

void
pacer_creds_start(struct pacer_creds *cs)
{
  cs->started = 1;
  if (cs->n > 0 && !cs->sub_started) {
    cs->sub_started = 1;
    pacer_cred_sub_start(cs->sub);
  }
}

/* Every handle closed here has data = the set (pacer_creds_close sets it).
 * Telling the handles apart by taking h->data as a set and comparing h with
 * the address of another member mistook a cred's keepalive for it whenever
 * the two offsets coincided (heap-buffer-overflow, double free at stop). */
static void
on_creds_closed(uv_handle_t *h)
{
  struct pacer_creds *cs = h->data;

  if (--cs->pending_closes > 0)
    return;
  creds_free(cs);
}

void
pacer_creds_close(struct pacer_creds *cs)
{
  size_t i;

  if (cs == NULL)
    return;
  cs->closing = 1;
  pacer_cred_sub_close(cs->sub);
  cs->sub = NULL;
  for (i = 0; i < cs->n; i++)
    pacer_cred_fsm_close(&cs->creds[i]->fsm);
  if (cs->n == 0) {
    creds_free(cs);
    return;
  }
  cs->pending_closes = (int)(2 * cs->n);
  for (i = 0; i < cs->n; i++) {
    /* Closed timers never call back again: data may name the set now. */
    cs->creds[i]->timer.data = cs;
    cs->creds[i]->keepalive.data = cs;
    uv_close((uv_handle_t *)&cs->creds[i]->timer, on_creds_closed);
    uv_close((uv_handle_t *)&cs->creds[i]->keepalive, on_creds_closed);
  }
}
