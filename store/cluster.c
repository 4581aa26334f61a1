/* Redis Cluster slot lookup (store/cluster.h, docs/REDIS.md "Redis
 * Cluster"). */
#include "store/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/log.h"
#include "store/redis_sync.h"

/* The master of slot in a CLUSTER SLOTS reply r into out; an empty host
 * means the node that answered (asked). Returns 0 or -1. */
static int
find_slot(const redisReply *r, int slot, const char *asked,
          struct pacer_redis_addr *out)
{
  size_t i;

  if (r->type != REDIS_REPLY_ARRAY)
    return -1;
  for (i = 0; i < r->elements; i++) {
    const redisReply *e = r->element[i], *m;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER ||
        e->element[2]->type != REDIS_REPLY_ARRAY)
      continue;
    if (slot < e->element[0]->integer || slot > e->element[1]->integer)
      continue;
    m = e->element[2];
    if (m->elements < 2 || m->element[0]->type != REDIS_REPLY_STRING ||
        m->element[1]->type != REDIS_REPLY_INTEGER ||
        m->element[1]->integer < 1 || m->element[1]->integer > 65535 ||
        m->element[0]->len >= sizeof(out->host))
      return -1;
    if (m->element[0]->len == 0 || strcmp(m->element[0]->str, "?") == 0)
      snprintf(out->host, sizeof(out->host), "%s", asked);
    else
      snprintf(out->host, sizeof(out->host), "%s", m->element[0]->str);
    out->port = (int)m->element[1]->integer;
    return 0;
  }
  return -1;
}

int
pacer_cluster_node(const struct pacer_redis_addr *addr, uint32_t timeout_ms,
                   struct pacer_redis_addr *out, struct pacer_error *err)
{
  int i;

  if (addr->slot < 0)
    return pacer_error_set(err, PACER_ECONFIG,
                           "redis: cluster: no slot (prefix not routed)");
  for (i = 0; i < addr->nseeds; i++) {
    const struct pacer_redis_seed *s = &addr->seeds[i];
    redisContext *c;
    redisReply *r;
    int found = -1;

    *out = *addr;
    out->nseeds = 0;
    out->cluster = 0; /* a plain address to one node */
    snprintf(out->host, sizeof(out->host), "%s", s->host);
    out->port = s->port;
    c = pacer_redis_sync_connect(out, timeout_ms, err);
    if (c == NULL)
      continue;
    r = redisCommandArgv(c, 2, (const char *[]){"CLUSTER", "SLOTS"},
                         (const size_t[]){7, 5});
    if (r != NULL && r->type != REDIS_REPLY_ERROR)
      found = find_slot(r, addr->slot, s->host, out);
    if (found != 0)
      pacer_error_set(err, PACER_EREDIS, "redis: cluster node %s:%d: %s",
                      s->host, s->port,
                      r == NULL                      ? c->errstr
                      : r->type == REDIS_REPLY_ERROR ? r->str
                                                     : "slot not served");
    if (r != NULL)
      freeReplyObject(r);
    redisFree(c);
    if (found == 0) {
      pacer_log(PACER_LOG_DEBUG, "redis",
                "msg=\"cluster slot owner\" slot=%d addr=%s:%d", addr->slot,
                out->host, out->port);
      return 0;
    }
  }
  explicit_bzero(out, sizeof(*out));
  return PACER_EREDIS;
}
