/* The run-time state of the OAuth2 credentials, shared by scheduler/cred.c
 * (refreshes) and scheduler/cred_reload.c (a config reload). Scheduler
 * thread only. */
#ifndef PACER_SCHEDULER_CRED_INT_H
#define PACER_SCHEDULER_CRED_INT_H

#include <stdint.h>

#include <uv.h>

#include "core/cred_fsm.h"
#include "store/cred_store.h"

#include "scheduler/cred.h"

/** One credential: its configuration (in the running config, borrowed),
 *  Redis keys, state machine, held token and timers. */
struct pacer_cred {
  struct pacer_creds *cs;
  const struct pacer_cred_cfg *cfg;
  struct pacer_cred_keys keys;
  struct pacer_cred_fsm fsm;
  char *token;      /* current access token, owned, wiped */
  char lockval[33]; /* hex, when we hold or try the lock */
  char *rt;         /* refresh token of the request out, owned, wiped */
  uint64_t sent_ms; /* when the token request went out, unix ms */
  uv_timer_t timer; /* takeover wait / backoff / script retry */
  uv_timer_t keepalive;
  struct pacer_cred_env *env; /* hosts that took or refused it, owned */
  char *env_of; /* pacer_cred_env_identity env is about, owned; or NULL */
};

/** Sets up c's record of the hosts that accepted or refused its tokens
 *  (core/cred_env.h) for its configuration: none without an
 *  `environment`; a fresh one when c has none yet or its environment,
 *  token URL or client id changed (a reload: the tokens to come are
 *  another provider's or client's, docs/CREDENTIALS.md "Reload"); the
 *  one it has otherwise. No record (no check) on ENOMEM. Loop thread;
 *  scheduler/cred_env.c. */
void pacer_cred_env_configure(struct pacer_cred *c);

/** Every credential of the running config, and the hooks to the
 *  scheduler. */
struct pacer_creds {
  uv_loop_t *loop;
  const struct pacer_config *cfg;
  struct pacer_queue *q;
  int (*submit)(void *arg, struct pacer_http_request *req);
  pacer_creds_changed_cb changed;
  void *arg;
  struct pacer_cred **creds; /* n, each owned; creds[i] runs cfg->creds[i] */
  size_t n;
  int started, sub_started; /* pacer_creds_start called; subscriber too */
  uint64_t prng;
  struct pacer_cred_sub *sub; /* event subscriber */
  int closing;
  int pending_closes;
};

/** Adds the run-time state of credential cfg (borrowed: an entry of
 *  cs->cfg->creds, index cs->n) to cs, its subscriber started when cs
 *  runs. Returns 0 or PACER_ENOMEM (cs unchanged). Scheduler thread. */
int pacer_cred_add(struct pacer_creds *cs, const struct pacer_cred_cfg *cfg);

/** The keepalive timer's callback: renews the refresh lock c (t->data)
 *  holds for lock_ttl_ms, ms, of the running config while a token
 *  request is out (RFC 6749 §6 refresh, docs/CREDENTIALS.md "One refresh
 *  token, one POST"). Scheduler thread. */
void pacer_cred_on_keepalive(uv_timer_t *t);

#endif
