/* Redis Sentinel discovery (store/sentinel.h, docs/REDIS.md "Sentinel"). */
#include "store/sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/log.h"

/* Where the next lookup starts: moved on when a sentinel's answer turned
 * out stale (pacer_sentinel_stale), so one sentinel that lags behind a
 * failover cannot keep every reconnect on a replica. */
static _Atomic unsigned first_sentinel;

/* Asks one sentinel. Returns 0 with out->host and out->port set, or
 * PACER_EREDIS with err. */
static int
ask(const struct pacer_redis_seed *s, const char *name, uint32_t timeout_ms,
    struct pacer_redis_addr *out, struct pacer_error *err)
{
  struct timeval tv = {(time_t)(timeout_ms / 1000),
                       (suseconds_t)((timeout_ms % 1000) * 1000)};
  const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", name};
  size_t lens[3] = {8, 23, strlen(name)};
  redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
  redisReply *r;
  int rc = PACER_EREDIS;

  if (c == NULL || c->err != 0) {
    pacer_error_set(err, PACER_EREDIS, "redis: sentinel %s:%d: %s", s->host,
                    s->port, c != NULL ? c->errstr : "out of memory");
    goto out;
  }
  redisSetTimeout(c, tv);
  r = redisCommandArgv(c, 3, argv, lens);
  if (r == NULL) {
    pacer_error_set(err, PACER_EREDIS, "redis: sentinel %s:%d: %s", s->host,
                    s->port, c->errstr[0] != '\0' ? c->errstr : "no reply");
    goto out;
  }
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
      r->element[0]->type == REDIS_REPLY_STRING &&
      r->element[1]->type == REDIS_REPLY_STRING &&
      r->element[0]->len < sizeof(out->host)) {
    long port = strtol(r->element[1]->str, NULL, 10);

    if (port >= 1 && port <= 65535) {
      memcpy(out->host, r->element[0]->str, r->element[0]->len);
      out->host[r->element[0]->len] = '\0';
      out->port = (int)port;
      rc = 0;
    }
  }
  if (rc != 0)
    pacer_error_set(err, PACER_EREDIS,
                    "redis: sentinel %s:%d: %s for master \"%s\"", s->host,
                    s->port,
                    r->type == REDIS_REPLY_ERROR ? r->str
                    : r->type == REDIS_REPLY_NIL ? "unknown master"
                                                 : "unexpected reply",
                    name);
  freeReplyObject(r);
out:
  if (c != NULL)
    redisFree(c);
  return rc;
}

int
pacer_sentinel_master(const struct pacer_redis_addr *addr, uint32_t timeout_ms,
                      struct pacer_redis_addr *out, struct pacer_error *err)
{
  int i;

  *out = *addr;
  out->nseeds = 0; /* out is a plain address now */
  out->master[0] = '\0';
  for (i = 0; i < addr->nseeds; i++) {
    if (ask(&addr->seeds[i], addr->master, timeout_ms, out, err) == 0) {
      pacer_log(PACER_LOG_DEBUG, "redis",
                "msg=\"sentinel named the master\" sentinel=%s:%d "
                "master=%s addr=%s:%d",
                addr->seeds[i].host, addr->seeds[i].port, addr->master,
                out->host, out->port);
      return 0;
    }
  }
  explicit_bzero(out, sizeof(*out));
  return PACER_EREDIS;
}

int
pacer_sentinel_role_is_master(const redisReply *r)
{
  return r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
         r->element[0]->type == REDIS_REPLY_STRING &&
         strcmp(r->element[0]->str, "master") == 0;
}

void
pacer_sentinel_stale(void)
{
  first_sentinel++;
}
