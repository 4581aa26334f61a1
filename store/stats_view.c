/* The read-only stats view: `pacer stats` and the metrics snapshot read
 * Redis here. See stats_view.h; keys in store/keys.h. */
#include "store/stats_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/gcra.h"
#include "store/keys.h"
#include "store/lua_scripts.h"

/* ------------------------------------------------------------------ */
/* Synchronous: `pacer stats` */

enum reply_slot {
  R_JOBS = 0,
  R_PENDING,
  R_DELAYED,
  R_RESULTS,
  R_DEAD,
  R_CONSUMERS,
  R_JOBS_HIGH,
  R_JOBS_LOW,
  R_PENDING_HIGH,
  R_PENDING_LOW,
  R_COUNT
};

static int
is_no_group(const redisReply *r)
{
  return r->type == REDIS_REPLY_ERROR &&
         (strncmp(r->str, "NOGROUP", 7) == 0 ||
          strncmp(r->str, "ERR no such key", 15) == 0);
}

static int
integer(const redisReply *r, const char *op, long long *out,
        struct pacer_error *err)
{
  if (r->type == REDIS_REPLY_ERROR)
    return pacer_error_set(err, PACER_EREDIS, "redis: %s: %s", op, r->str);
  if (r->type != REDIS_REPLY_INTEGER)
    return pacer_error_set(err, PACER_EREDIS,
                           "redis: %s: unexpected reply type %d", op, r->type);
  *out = r->integer;
  return 0;
}

/* XINFO CONSUMERS in RESP2: [[name, n, pending, n, idle, ms, ...], ...] */
static int
read_consumers(const redisReply *r, struct pacer_stats_queue *st,
               struct pacer_error *err)
{
  size_t i, j;

  if (r->type != REDIS_REPLY_ARRAY)
    return pacer_error_set(err, PACER_EREDIS,
                           "redis: XINFO CONSUMERS: unexpected reply type %d",
                           r->type);
  if (r->elements == 0)
    return 0;
  st->consumers = calloc(r->elements, sizeof(*st->consumers));
  if (st->consumers == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "stats: out of memory");
  st->cap = r->elements;
  for (i = 0; i < r->elements; i++) {
    const redisReply *c = r->element[i];
    struct pacer_stats_consumer *out = &st->consumers[st->nconsumers];

    if (c->type != REDIS_REPLY_ARRAY)
      continue;
    for (j = 0; j + 1 < c->elements; j += 2) {
      const redisReply *k = c->element[j], *v = c->element[j + 1];

      if (k->type != REDIS_REPLY_STRING)
        continue;
      if (strcmp(k->str, "name") == 0 && v->type == REDIS_REPLY_STRING) {
        free(out->name);
        out->name = strdup(v->str);
        if (out->name == NULL)
          return pacer_error_set(err, PACER_ENOMEM, "stats: out of memory");
      } else if (strcmp(k->str, "pending") == 0 &&
                 v->type == REDIS_REPLY_INTEGER) {
        out->pending = v->integer;
      } else if (strcmp(k->str, "idle") == 0 &&
                 v->type == REDIS_REPLY_INTEGER) {
        out->idle_ms = v->integer;
      }
    }
    if (out->name != NULL)
      st->nconsumers++;
  }
  return 0;
}

void
pacer_stats_queue_free(struct pacer_stats_queue *st)
{
  size_t i;

  for (i = 0; i < st->cap; i++)
    free(st->consumers[i].name);
  free(st->consumers);
  st->consumers = NULL;
  st->cap = 0;
  st->nconsumers = 0;
}

/* Appends a command of argc (<= 4) arguments to the pipeline. */
static int
append(redisContext *c, int argc, const char *a0, const char *a1,
       const char *a2, const char *a3, struct pacer_error *err)
{
  const char *argv[4] = {a0, a1, a2, a3};
  size_t argvlen[4] = {0, 0, 0, 0};
  int i;

  for (i = 0; i < argc; i++)
    argvlen[i] = strlen(argv[i]);
  if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK)
    return pacer_error_set(err, PACER_ENOMEM, "redis: %s: %s", a0,
                           c->errstr[0] != '\0' ? c->errstr : "out of memory");
  return 0;
}

int
pacer_stats_queue_read(redisContext *c, const char *prefix,
                       struct pacer_stats_queue *st, struct pacer_error *err)
{
  static const char *const names[] = {
      PACER_KEYS_JOBS, PACER_KEYS_DELAYED,   PACER_KEYS_RESULTS,
      PACER_KEYS_DEAD, PACER_KEYS_JOBS_HIGH, PACER_KEYS_JOBS_LOW};
  char *keys[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
  redisReply *r[R_COUNT] = {NULL};
  int rc = 0, i;

  for (i = 0; i < 6; i++) {
    keys[i] = pacer_keys_new(prefix, names[i], NULL);
    if (keys[i] == NULL) {
      rc = pacer_error_set(err, PACER_ENOMEM, "stats: out of memory");
      goto out;
    }
  }

  if ((rc = append(c, 2, "XLEN", keys[0], NULL, NULL, err)) != 0 ||
      (rc = append(c, 3, "XPENDING", keys[0], PACER_KEYS_GROUP, NULL, err)) !=
          0 ||
      (rc = append(c, 2, "ZCARD", keys[1], NULL, NULL, err)) != 0 ||
      (rc = append(c, 2, "XLEN", keys[2], NULL, NULL, err)) != 0 ||
      (rc = append(c, 2, "XLEN", keys[3], NULL, NULL, err)) != 0 ||
      (rc = append(c, 4, "XINFO", "CONSUMERS", keys[0], PACER_KEYS_GROUP,
                   err)) != 0 ||
      (rc = append(c, 2, "XLEN", keys[4], NULL, NULL, err)) != 0 ||
      (rc = append(c, 2, "XLEN", keys[5], NULL, NULL, err)) != 0 ||
      (rc = append(c, 3, "XPENDING", keys[4], PACER_KEYS_GROUP, NULL, err)) !=
          0 ||
      (rc = append(c, 3, "XPENDING", keys[5], PACER_KEYS_GROUP, NULL, err)) !=
          0)
    goto out;

  for (i = 0; i < R_COUNT; i++) {
    if (redisGetReply(c, (void **)&r[i]) != REDIS_OK || r[i] == NULL) {
      rc = pacer_error_set(err, PACER_EREDIS, "redis: stats: %s",
                           c->errstr[0] != '\0' ? c->errstr : "no reply");
      goto out;
    }
  }

  if ((rc = integer(r[R_JOBS], "XLEN jobs", &st->jobs, err)) != 0 ||
      (rc = integer(r[R_DELAYED], "ZCARD delayed", &st->delayed, err)) != 0 ||
      (rc = integer(r[R_RESULTS], "XLEN results", &st->results, err)) != 0 ||
      (rc = integer(r[R_DEAD], "XLEN dead", &st->dead, err)) != 0 ||
      (rc = integer(r[R_JOBS_HIGH], "XLEN jobs:high", &st->jobs_high, err)) !=
          0 ||
      (rc = integer(r[R_JOBS_LOW], "XLEN jobs:low", &st->jobs_low, err)) != 0)
    goto out;
  /* Pending entries of the priority streams count with the normal one. */
  for (i = R_PENDING_HIGH; i <= R_PENDING_LOW; i++) {
    const redisReply *p = r[i];

    if (p->type == REDIS_REPLY_ARRAY && p->elements >= 1 &&
        p->element[0]->type == REDIS_REPLY_INTEGER)
      st->pending += p->element[0]->integer;
  }

  /* XPENDING summary: [count, smallest id, greatest id, [[name, n], ...]] */
  st->group_exists = !is_no_group(r[R_PENDING]);
  if (st->group_exists) {
    const redisReply *p = r[R_PENDING];

    if (p->type == REDIS_REPLY_ERROR) {
      rc = pacer_error_set(err, PACER_EREDIS, "redis: XPENDING: %s", p->str);
      goto out;
    }
    if (p->type != REDIS_REPLY_ARRAY || p->elements < 1 ||
        p->element[0]->type != REDIS_REPLY_INTEGER) {
      rc = pacer_error_set(err, PACER_EREDIS,
                           "redis: XPENDING: unexpected reply");
      goto out;
    }
    st->pending = p->element[0]->integer;
  }
  if (!is_no_group(r[R_CONSUMERS])) {
    if (r[R_CONSUMERS]->type == REDIS_REPLY_ERROR) {
      rc = pacer_error_set(err, PACER_EREDIS, "redis: XINFO CONSUMERS: %s",
                           r[R_CONSUMERS]->str);
      goto out;
    }
    rc = read_consumers(r[R_CONSUMERS], st, err);
  }

out:
  for (i = 0; i < R_COUNT; i++) {
    if (r[i] != NULL)
      freeReplyObject(r[i]);
  }
  for (i = 0; i < 6; i++)
    free(keys[i]);
  return rc;
}

/* The shared limit buckets (<prefix>limit:*) joined with what each worker
 * process publishes about its lanes (<prefix>lanestat:<consumer>, JSON,
 * refreshed every second with a 3 s TTL) and the cluster-wide permits
 * (<prefix>inflight:<bucket>). Bounded: at most PACER_STATS_BUCKETS_MAX
 * buckets. */
static struct pacer_stats_bucket *
bucket_get(struct pacer_stats_buckets *bs, const char *key, size_t len)
{
  size_t i;

  if (len == 0 || len >= sizeof(bs->b[0].key))
    return NULL;
  for (i = 0; i < bs->n; i++)
    if (strncmp(bs->b[i].key, key, len) == 0 && bs->b[i].key[len] == '\0')
      return &bs->b[i];
  if (bs->n >= PACER_STATS_BUCKETS_MAX)
    return NULL;
  memset(&bs->b[bs->n], 0, sizeof(bs->b[0]));
  memcpy(bs->b[bs->n].key, key, len);
  bs->b[bs->n].permille = 1000;
  bs->b[bs->n].permits = -1;
  return &bs->b[bs->n++];
}

/* Calls fn for every key matching pattern (SCAN, bounded rounds). */
static void
scan_keys(redisContext *c, const char *pattern,
          void (*fn)(redisContext *c, const redisReply *key, void *arg),
          void *arg)
{
  char cursor[32] = "0";
  size_t rounds = 0;

  do {
    const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
    size_t lens[] = {4, strlen(cursor), 5, strlen(pattern), 5, 4};
    redisReply *r = redisCommandArgv(c, 6, argv, lens);
    size_t i;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
      if (r != NULL)
        freeReplyObject(r);
      return;
    }
    snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
    for (i = 0; i < r->element[1]->elements; i++)
      if (r->element[1]->element[i]->type == REDIS_REPLY_STRING)
        fn(c, r->element[1]->element[i], arg);
    freeReplyObject(r);
  } while (strcmp(cursor, "0") != 0 && ++rounds < 100);
}

#define PUBLISHED_MAX 64 /* limits taken from the workers' lanestat */

struct limits_ctx {
  struct pacer_stats_buckets *bs;
  const struct pacer_config *cfg;
  size_t prefix_len;
  double now_us;
  struct {
    char name[PACER_LIMIT_NAME_MAX + 1];
    double rate_per_s;
    unsigned max_in_flight;
  } pub[PUBLISHED_MAX]; /* the limits the workers run with */
  size_t npub;
};

/* Notes the limits one worker publishes ({"limits": [{name, rate_per_s,
 * max_in_flight}]}), for buckets the reader's own config does not name. */
static void
published_limits(struct limits_ctx *lc, const cJSON *doc)
{
  const cJSON *l;

  cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(doc, "limits"))
  {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(l, "name");
    size_t i;

    if (!cJSON_IsString(name) || lc->npub == PUBLISHED_MAX ||
        strlen(name->valuestring) > PACER_LIMIT_NAME_MAX)
      continue;
    for (i = 0; i < lc->npub; i++)
      if (strcmp(lc->pub[i].name, name->valuestring) == 0)
        break;
    if (i < lc->npub)
      continue; /* the first worker read wins */
    snprintf(lc->pub[i].name, sizeof(lc->pub[i].name), "%s", name->valuestring);
    lc->pub[i].rate_per_s =
        cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(l, "rate_per_s"));
    lc->pub[i].max_in_flight = (unsigned)cJSON_GetNumberValue(
        cJSON_GetObjectItemCaseSensitive(l, "max_in_flight"));
    if (lc->pub[i].rate_per_s != lc->pub[i].rate_per_s) /* NaN */
      lc->pub[i].rate_per_s = 0;
    lc->npub++;
  }
}

static void
on_limit_key(redisContext *c, const redisReply *k, void *arg)
{
  struct limits_ctx *lc = arg;
  const char *hargv[] = {"HMGET",
                         k->str,
                         PACER_KEYS_F_TAT,
                         PACER_KEYS_F_PAUSE_UNTIL,
                         PACER_KEYS_F_PERMILLE,
                         PACER_KEYS_F_PAUSE_REASON,
                         PACER_KEYS_F_AIMD_AT,
                         PACER_KEYS_F_OP_UNTIL};
  size_t hlens[8];
  size_t off = lc->prefix_len + strlen(PACER_KEYS_LIMIT);
  struct pacer_stats_bucket *b;
  redisReply *h;
  double tat, pause;
  size_t i;

  if (k->len <= off ||
      (b = bucket_get(lc->bs, k->str + off, k->len - off)) == NULL)
    return;
  for (i = 0; i < 8; i++)
    hlens[i] = i == 1 ? k->len : strlen(hargv[i]);
  h = redisCommandArgv(c, 8, hargv, hlens);
  if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements != 6) {
    if (h != NULL)
      freeReplyObject(h);
    return;
  }
  tat = h->element[0]->str ? strtod(h->element[0]->str, NULL) : 0;
  pause = h->element[1]->str ? strtod(h->element[1]->str, NULL) : 0;
  if (h->element[2]->str) {
    /* the share the take script applies now (AIMD recovery) */
    b->permille = pacer_gcra_permille(
        (uint32_t)strtoul(h->element[2]->str, NULL, 10),
        h->element[4]->str ? strtoull(h->element[4]->str, NULL, 10) : 0u,
        (uint64_t)lc->now_us);
  }
  b->next_slot_ms = tat > lc->now_us ? (tat - lc->now_us) / 1e3 : 0;
  b->paused_ms = pause > lc->now_us ? (pause - lc->now_us) / 1e3 : 0;
  if (b->paused_ms > 0 && h->element[3]->str)
    snprintf(b->reason, sizeof(b->reason), "%s", h->element[3]->str);
  /* an operator pause (store/control.h) that ends later wins */
  pause = h->element[5]->str ? strtod(h->element[5]->str, NULL) : 0;
  if (pause > lc->now_us && (pause - lc->now_us) / 1e3 > b->paused_ms) {
    b->paused_ms = (pause - lc->now_us) / 1e3;
    snprintf(b->reason, sizeof(b->reason), "%s", PACER_KEYS_OP_REASON);
  }
  freeReplyObject(h);
}

/* Adds one process's lane snapshot: every bucket of a lane ("a|b") gets
 * the lane's counts. Unlimited lanes ("~...") have no bucket. */
static void
on_lanestat_key(redisContext *c, const redisReply *k, void *arg)
{
  struct limits_ctx *lc = arg;
  redisReply *g = redisCommand(c, "GET %b", k->str, k->len);
  cJSON *doc = NULL, *lane;

  if (g != NULL && g->type == REDIS_REPLY_STRING)
    doc = cJSON_ParseWithLength(g->str, g->len);
  if (g != NULL)
    freeReplyObject(g);
  if (doc == NULL)
    return;
  lc->bs->processes++;
  published_limits(lc, doc);
  cJSON_ArrayForEach(lane, cJSON_GetObjectItemCaseSensitive(doc, "lanes"))
  {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(lane, "lane");
    const cJSON *binding = cJSON_GetObjectItemCaseSensitive(lane, "binding");
    const char *p, *bar;

    if (!cJSON_IsString(id) || id->valuestring[0] == '~')
      continue;
    for (p = id->valuestring; *p != '\0'; p = *bar ? bar + 1 : bar) {
      struct pacer_stats_bucket *b;

      bar = strchr(p, '|');
      if (bar == NULL)
        bar = p + strlen(p);
      b = bucket_get(lc->bs, p, (size_t)(bar - p));
      if (b == NULL)
        continue;
      b->queued += (long long)cJSON_GetNumberValue(
          cJSON_GetObjectItemCaseSensitive(lane, "queued"));
      b->in_flight += (long long)cJSON_GetNumberValue(
          cJSON_GetObjectItemCaseSensitive(lane, "in_flight"));
      b->deferred += (long long)cJSON_GetNumberValue(
          cJSON_GetObjectItemCaseSensitive(lane, "deferred"));
      if (cJSON_IsString(binding) &&
          strlen(binding->valuestring) == (size_t)(bar - p) &&
          memcmp(binding->valuestring, p, (size_t)(bar - p)) == 0)
        b->binds++;
    }
  }
  cJSON_Delete(doc);
}

/* Fills each bucket's configured rate and, for capped limits, the
 * cluster-wide permits in use. */
static void
limits_finish(redisContext *c, struct limits_ctx *lc)
{
  size_t i, j;

  for (i = 0; i < lc->bs->n; i++) {
    struct pacer_stats_bucket *b = &lc->bs->b[i];
    size_t nlen = strcspn(b->key, ":");

    for (j = 0; j < lc->npub; j++) {
      if (strlen(lc->pub[j].name) != nlen ||
          strncmp(lc->pub[j].name, b->key, nlen) != 0)
        continue;
      b->conf_rate = lc->pub[j].rate_per_s;
      b->max_in_flight = lc->pub[j].max_in_flight;
    }
    /* The reader's own config, when given, names them as it knows them. */
    for (j = 0; j < lc->cfg->nlimits; j++) {
      const struct pacer_limit_cfg *l = &lc->cfg->limits[j];

      if (strlen(l->name) != nlen || strncmp(l->name, b->key, nlen) != 0)
        continue;
      b->conf_rate = (double)l->rate_count * 1e6 / (double)l->rate_period_us;
      b->max_in_flight = l->max_in_flight;
    }
    if (b->max_in_flight != 0) {
      /* Permits whose lease ended do not count (the acquire script drops
       * them lazily). */
      char *key = pacer_keys_new(lc->cfg->prefix, PACER_KEYS_INFLIGHT, b->key);
      char min[32];
      const char *argv[4] = {"ZCOUNT", key, min, "+inf"};
      size_t lens[4] = {6, 0, 0, 4};
      redisReply *r = NULL;

      snprintf(min, sizeof(min), "%.0f", lc->now_us / 1e3);
      if (key != NULL) {
        lens[1] = strlen(key);
        lens[2] = strlen(min);
        r = redisCommandArgv(c, 4, argv, lens);
      }
      free(key);

      if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        b->permits = r->integer;
      if (r != NULL)
        freeReplyObject(r);
    }
  }
}

/* The operator pause of every bucket (<prefix>oppause): into
 * bs->all_paused_ms, and onto each bucket whose own pause ends sooner, as
 * limit_take.lua honours it. */
static void
pause_all(redisContext *c, const char *prefix, struct pacer_stats_buckets *bs)
{
  char *key = pacer_keys_new(prefix, PACER_KEYS_OPPAUSE, NULL);
  const char *argv[2] = {"GET", key};
  redisReply *r = key != NULL ? redisCommandArgv(c, 2, argv, NULL) : NULL;
  double until = 0;
  size_t i;

  free(key);
  if (r != NULL && r->type == REDIS_REPLY_STRING)
    until = strtod(r->str, NULL);
  if (r != NULL)
    freeReplyObject(r);
  if (until <= bs->now_us)
    return;
  bs->all_paused_ms = (until - bs->now_us) / 1e3;
  for (i = 0; i < bs->n; i++) {
    struct pacer_stats_bucket *b = &bs->b[i];

    if (bs->all_paused_ms > b->paused_ms) {
      b->paused_ms = bs->all_paused_ms;
      snprintf(b->reason, sizeof(b->reason), "%s", PACER_KEYS_OP_REASON);
    }
  }
}

int
pacer_stats_buckets_read(redisContext *c, const struct pacer_config *cfg,
                         struct pacer_stats_buckets *bs)
{
  char pattern[256];
  struct limits_ctx lc;
  redisReply *t = redisCommand(c, "TIME");

  memset(bs, 0, sizeof(*bs));
  memset(&lc, 0, sizeof(lc));
  if (t == NULL || t->type != REDIS_REPLY_ARRAY || t->elements != 2) {
    if (t != NULL)
      freeReplyObject(t);
    return -1;
  }
  lc.now_us =
      strtod(t->element[0]->str, NULL) * 1e6 + strtod(t->element[1]->str, NULL);
  bs->now_us = lc.now_us;
  freeReplyObject(t);
  bs->b = calloc(PACER_STATS_BUCKETS_MAX, sizeof(*bs->b));
  if (bs->b == NULL)
    return -1;
  lc.bs = bs;
  lc.cfg = cfg;
  lc.prefix_len = strlen(cfg->prefix);
  pacer_keys_format(pattern, sizeof(pattern), cfg->prefix, PACER_KEYS_LIMIT,
                    "*");
  scan_keys(c, pattern, on_limit_key, &lc);
  pacer_keys_format(pattern, sizeof(pattern), cfg->prefix, PACER_KEYS_LANESTAT,
                    "*");
  scan_keys(c, pattern, on_lanestat_key, &lc);
  limits_finish(c, &lc);
  pause_all(c, cfg->prefix, bs);
  return 0;
}

void
pacer_stats_buckets_free(struct pacer_stats_buckets *bs)
{
  free(bs->b);
  bs->b = NULL;
  bs->n = 0;
}

/* ------------------------------------------------------------------ */
/* Asynchronous: the metrics snapshot */

#define DEAD_COUNT "20" /* PACER_STATS_DEAD_MAX */

struct depths_call {
  pacer_stats_depths_cb cb;
  void *arg;
};

struct pauses_call {
  pacer_stats_pauses_cb cb;
  void *arg;
  size_t n;
};

static uint64_t
reply_u64(const redisReply *r)
{
  if (r->type == REDIS_REPLY_INTEGER)
    return r->integer > 0 ? (uint64_t)r->integer : 0;
  if (r->type == REDIS_REPLY_STRING && r->len > 0)
    return strtoull(r->str, NULL, 10);
  return 0;
}

static int64_t
reply_i64(const redisReply *r)
{
  return r->type == REDIS_REPLY_INTEGER ? (int64_t)r->integer : -1;
}

static void
reply_str(const redisReply *r, char *out, size_t size)
{
  size_t n = 0;

  if (r->type == REDIS_REPLY_STRING) {
    n = r->len < size - 1 ? r->len : size - 1;
    memcpy(out, r->str, n);
  }
  out[n] = '\0';
}

/* Redis TIME {sec, usec} as unix us, or 0. */
static uint64_t
reply_time_us(const redisReply *r)
{
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
    return 0;
  return reply_u64(r->element[0]) * 1000000u + reply_u64(r->element[1]);
}

static void
on_depths(struct pacer_queue *q, const struct redisReply *reply, void *arg)
{
  struct depths_call *call = arg;
  struct pacer_stats_depths *d = NULL;
  const redisReply *dead;
  size_t i;

  (void)q;
  if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
      reply->elements == 12 && reply->element[10]->type == REDIS_REPLY_ARRAY)
    d = calloc(1, sizeof(*d));
  if (d != NULL) {
    d->at_unix_ms = reply_time_us(reply) / 1000u;
    for (i = 0; i < 3; i++)
      d->jobs[i] = reply_i64(reply->element[2 + i]);
    d->pending = reply_i64(reply->element[5]);
    d->delayed = reply_i64(reply->element[6]);
    d->parked = reply_i64(reply->element[7]);
    d->results = reply_i64(reply->element[8]);
    d->dead = reply_i64(reply->element[9]);
    d->all_paused_until_unix_ms = reply_u64(reply->element[11]) / 1000u;
    dead = reply->element[10];
    for (i = 0; i < dead->elements && d->ndead < PACER_STATS_DEAD_MAX; i++) {
      const redisReply *e = dead->element[i];
      struct pacer_stats_dead *o = &d->dead_letters[d->ndead];

      if (e->type != REDIS_REPLY_ARRAY || e->elements != 7)
        continue;
      reply_str(e->element[0], o->sid, sizeof(o->sid));
      reply_str(e->element[1], o->id, sizeof(o->id));
      reply_str(e->element[2], o->reason, sizeof(o->reason));
      reply_str(e->element[3], o->error, sizeof(o->error));
      o->status = reply_u64(e->element[4]);
      o->attempts = reply_u64(e->element[5]);
      o->failed_unix_ms = reply_u64(e->element[6]);
      d->ndead++;
    }
  }
  call->cb(d, call->arg);
  free(d);
  free(call);
}

int
pacer_stats_depths_read(struct pacer_queue *q, const char *prefix,
                        pacer_stats_depths_cb cb, void *arg)
{
  static const char *const names[7] = {PACER_KEYS_JOBS_HIGH, PACER_KEYS_JOBS,
                                       PACER_KEYS_JOBS_LOW,  PACER_KEYS_DELAYED,
                                       PACER_KEYS_RESULTS,   PACER_KEYS_DEAD,
                                       PACER_KEYS_OPPAUSE};
  char keys[7][300];
  const char *kp[7];
  const char *args[3] = {PACER_KEYS_GROUP, PACER_KEYS_PARK_SCORE_TEXT,
                         DEAD_COUNT};
  struct depths_call *call;
  size_t i;
  int rc;

  if (!pacer_queue_connected(q))
    return PACER_EREDIS;
  for (i = 0; i < 7; i++) {
    if (pacer_keys_format(keys[i], sizeof(keys[i]), prefix, names[i], NULL) < 0)
      return PACER_EINVAL;
    kp[i] = keys[i];
  }
  call = malloc(sizeof(*call));
  if (call == NULL)
    return PACER_ENOMEM;
  call->cb = cb;
  call->arg = arg;
  rc = pacer_queue_eval_reply(q, pacer_lua_stats_depths, 7, kp, 3, args, NULL,
                              on_depths, call);
  if (rc != 0)
    free(call);
  return rc;
}

static void
on_pauses(struct pacer_queue *q, const struct redisReply *reply, void *arg)
{
  struct pauses_call *call = arg;
  struct pacer_stats_pause *p = NULL;
  uint64_t now_us;
  size_t i;

  (void)q;
  if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
      reply->elements == call->n + 2)
    p = calloc(call->n > 0 ? call->n : 1, sizeof(*p));
  if (p != NULL) {
    now_us = reply_time_us(reply);
    for (i = 0; i < call->n; i++) {
      const redisReply *h = reply->element[2 + i];

      if (h->type != REDIS_REPLY_ARRAY || h->elements != 4)
        continue;
      p[i].pause_until_unix_ms = reply_u64(h->element[0]) / 1000u;
      reply_str(h->element[1], p[i].pause_reason, sizeof(p[i].pause_reason));
      /* the share the take script applies now (AIMD recovery) */
      p[i].permille = pacer_gcra_permille(
          h->element[2]->len > 0 ? (uint32_t)reply_u64(h->element[2]) : 0u,
          reply_u64(h->element[3]), now_us);
      p[i].valid = 1;
    }
  }
  call->cb(p, call->n, call->arg);
  free(p);
  free(call);
}

int
pacer_stats_pauses_read(struct pacer_queue *q, const char *prefix,
                        const char *const *buckets, size_t n,
                        pacer_stats_pauses_cb cb, void *arg)
{
  char *keys[PACER_STATS_PAUSES_MAX + 1];
  const char *kp[PACER_STATS_PAUSES_MAX + 1] = {NULL};
  struct pauses_call *call;
  size_t i;
  int rc = PACER_ENOMEM;

  if (n > PACER_STATS_PAUSES_MAX)
    return PACER_EINVAL;
  call = malloc(sizeof(*call));
  if (call == NULL)
    return PACER_ENOMEM;
  memset(keys, 0, sizeof(keys));
  for (i = 0; i < n; i++) {
    keys[i] = pacer_keys_new(prefix, PACER_KEYS_LIMIT, buckets[i]);
    if (keys[i] == NULL)
      goto out;
    kp[i] = keys[i];
  }
  /* the pause of every bucket, last (stats_buckets.lua) */
  if ((keys[n] = pacer_keys_new(prefix, PACER_KEYS_OPPAUSE, NULL)) == NULL)
    goto out;
  kp[n] = keys[n];
  call->cb = cb;
  call->arg = arg;
  call->n = n;
  rc = pacer_queue_eval_reply(q, pacer_lua_stats_buckets, (int)n + 1, kp, 0,
                              NULL, NULL, on_pauses, call);
out:
  for (i = 0; i <= n; i++)
    free(keys[i]);
  if (rc != 0)
    free(call);
  return rc;
}
