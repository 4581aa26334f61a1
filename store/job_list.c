/* What waits, for `pacer jobs`: see job_list.h. */
#include "store/job_list.h"
#include "store/redis_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/delayed.h"
#include "store/keys.h"

/* "<attempts>[.<429s>]" -> the two counts. */
static void
attempt_parse(const char *s, size_t len, unsigned *attempts,
              unsigned *throttled)
{
  char buf[32];
  char *dot;

  *attempts = *throttled = 0;
  if (len == 0 || len >= sizeof(buf))
    return;
  memcpy(buf, s, len);
  buf[len] = '\0';
  *attempts = (unsigned)strtoul(buf, &dot, 10);
  if (*dot == '.')
    *throttled = (unsigned)strtoul(dot + 1, NULL, 10);
}

/* Fills row from a stream entry reply [id, [k, v, ...]]. */
static void
row_from_entry(const redisReply *e, struct pacer_job_list_row *row)
{
  const redisReply *f;
  size_t i;

  row->entry = e->element[0]->str;
  row->id = "";
  row->id_len = 0;
  row->job = "";
  row->job_len = 0;
  f = e->elements > 1 ? e->element[1] : NULL;
  for (i = 0; f != NULL && f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements;
       i += 2) {
    const redisReply *k = f->element[i], *v = f->element[i + 1];

    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      continue;
    if (strcmp(k->str, PACER_KEYS_F_JOB) == 0) {
      row->job = v->str;
      row->job_len = v->len;
    } else if (strcmp(k->str, PACER_KEYS_F_ID) == 0) {
      row->id = v->str;
      row->id_len = v->len;
    } else if (strcmp(k->str, PACER_KEYS_F_ATTEMPT) == 0) {
      attempt_parse(v->str, v->len, &row->attempts, &row->throttled);
    }
  }
}

/* The group's last-delivered-id on stream key into last ("0-0" when the
 * group or stream does not exist). */
static int
last_delivered(redisContext *c, const char *key, char *last, size_t size,
               struct pacer_error *err)
{
  const char *argv[3] = {"XINFO", "GROUPS", key};
  size_t lens[3] = {5, 6, strlen(key)};
  redisReply *r = redisCommandArgv(c, 3, argv, lens);
  size_t i, j;

  snprintf(last, size, "0-0");
  if (r == NULL)
    return pacer_error_set(err, PACER_EREDIS, "redis: XINFO GROUPS: %s",
                           c->errstr);
  for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
    const redisReply *g = r->element[i];
    int ours = 0;

    for (j = 0; g->type == REDIS_REPLY_ARRAY && j + 1 < g->elements; j += 2)
      if (strcmp(g->element[j]->str, "name") == 0 &&
          g->element[j + 1]->type == REDIS_REPLY_STRING)
        ours = strcmp(g->element[j + 1]->str, PACER_KEYS_GROUP) == 0;
    for (j = 0; ours && j + 1 < g->elements; j += 2)
      if (strcmp(g->element[j]->str, "last-delivered-id") == 0 &&
          g->element[j + 1]->type == REDIS_REPLY_STRING)
        snprintf(last, size, "%s", g->element[j + 1]->str);
  }
  freeReplyObject(r); /* an error reply: no such key, nothing delivered */
  return 0;
}

static int
list_queued(redisContext *c, const char *key, int prio, size_t max,
            pacer_job_list_cb cb, void *arg, struct pacer_error *err)
{
  char last[80], count[24];
  redisReply *r;
  size_t i;
  int rc;

  if ((rc = last_delivered(c, key, last + 1, sizeof(last) - 1, err)) != 0)
    return rc;
  last[0] = '(';
  snprintf(count, sizeof(count), "%zu", max);
  {
    const char *argv[6] = {"XRANGE", key, last, "+", "COUNT", count};

    r = pacer_redis_sync_command(c, 6, argv, "XRANGE jobs", err);
  }
  if (r == NULL)
    return PACER_EREDIS;
  for (i = 0; rc == 0 && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
    struct pacer_job_list_row row;

    memset(&row, 0, sizeof(row));
    row.state = PACER_JOB_LIST_QUEUED;
    row.prio = prio;
    row_from_entry(r->element[i], &row);
    rc = cb(arg, &row);
  }
  freeReplyObject(r);
  return rc;
}

static int
list_pending(redisContext *c, const char *key, int prio, size_t max,
             pacer_job_list_cb cb, void *arg, struct pacer_error *err)
{
  char count[24];
  redisReply *p, *e;
  size_t i;
  int rc = 0;

  snprintf(count, sizeof(count), "%zu", max);
  {
    const char *argv[6] = {"XPENDING", key, PACER_KEYS_GROUP, "-", "+", count};

    p = pacer_redis_sync_command(c, 6, argv, "XPENDING", err);
  }
  if (p == NULL) /* no stream or group yet: nothing pending */
    return strstr(err != NULL ? err->msg : "", "NOGROUP") != NULL
               ? 0
               : PACER_EREDIS;
  for (i = 0; rc == 0 && p->type == REDIS_REPLY_ARRAY && i < p->elements; i++) {
    const redisReply *x = p->element[i];
    struct pacer_job_list_row row;

    if (x->type != REDIS_REPLY_ARRAY || x->elements < 4)
      continue;
    {
      const char *argv[4] = {"XRANGE", key, x->element[0]->str,
                             x->element[0]->str};

      e = pacer_redis_sync_command(c, 4, argv, "XRANGE pending", err);
    }
    if (e == NULL) {
      rc = PACER_EREDIS;
      break;
    }
    memset(&row, 0, sizeof(row));
    row.state = PACER_JOB_LIST_IN_FLIGHT;
    row.prio = prio;
    row.entry = x->element[0]->str;
    row.id = row.job = "";
    if (e->type == REDIS_REPLY_ARRAY && e->elements > 0)
      row_from_entry(e->element[0], &row);
    row.consumer = x->element[1]->str;
    row.idle_ms = (uint64_t)x->element[2]->integer;
    rc = cb(arg, &row);
    freeReplyObject(e);
  }
  freeReplyObject(p);
  return rc;
}

static int
list_delayed(redisContext *c, const char *key, int parked, size_t max,
             pacer_job_list_cb cb, void *arg, struct pacer_error *err)
{
  char count[24], below[40];
  redisReply *r;
  size_t i;
  int rc = 0;

  snprintf(count, sizeof(count), "%zu", max);
  snprintf(below, sizeof(below), "(%s", PACER_KEYS_PARK_SCORE_TEXT);
  {
    const char *argv[9] = {"ZRANGEBYSCORE",
                           key,
                           parked ? PACER_KEYS_PARK_SCORE_TEXT : "-inf",
                           parked ? "+inf" : below,
                           "WITHSCORES",
                           "LIMIT",
                           "0",
                           count};

    r = pacer_redis_sync_command(c, 8, argv, "ZRANGEBYSCORE delayed", err);
  }
  if (r == NULL)
    return PACER_EREDIS;
  for (i = 0; rc == 0 && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
       i += 2) {
    const redisReply *m = r->element[i], *s = r->element[i + 1];
    struct pacer_delayed_member dm;
    struct pacer_job_list_row row;

    if (m->type != REDIS_REPLY_STRING ||
        pacer_delayed_member_parse(m->str, m->len, &dm) != 0)
      continue;
    memset(&row, 0, sizeof(row));
    row.state = parked ? PACER_JOB_LIST_PARKED : PACER_JOB_LIST_DELAYED;
    row.id = dm.id;
    row.id_len = dm.id_len;
    row.job = dm.job;
    row.job_len = dm.job_len;
    row.prio = dm.tag == 'h' ? 0 : dm.tag == 'l' ? 2 : 1;
    attempt_parse(dm.attempt, dm.attempt_len, &row.attempts, &row.throttled);
    row.due_unix_ms = parked ? 0 : strtoull(s->str, NULL, 10);
    rc = cb(arg, &row);
  }
  freeReplyObject(r);
  return rc;
}

int
pacer_job_list(redisContext *c, const char *prefix, unsigned mask,
               size_t max_per_state, pacer_job_list_cb cb, void *arg,
               struct pacer_error *err)
{
  char *key;
  int prio, rc = 0;

  for (prio = 0; rc == 0 && prio < PACER_KEYS_NSTREAMS; prio++) {
    key = pacer_keys_new(prefix, pacer_keys_stream(prio), NULL);
    if (key == NULL)
      return pacer_error_set(err, PACER_ENOMEM, "out of memory");
    if (mask & PACER_JOB_LIST_QUEUED)
      rc = list_queued(c, key, prio, max_per_state, cb, arg, err);
    if (rc == 0 && (mask & PACER_JOB_LIST_IN_FLIGHT))
      rc = list_pending(c, key, prio, max_per_state, cb, arg, err);
    free(key);
  }
  if (rc != 0 || !(mask & (PACER_JOB_LIST_DELAYED | PACER_JOB_LIST_PARKED)))
    return rc;
  key = pacer_keys_new(prefix, PACER_KEYS_DELAYED, NULL);
  if (key == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "out of memory");
  if (mask & PACER_JOB_LIST_DELAYED)
    rc = list_delayed(c, key, 0, max_per_state, cb, arg, err);
  if (rc == 0 && (mask & PACER_JOB_LIST_PARKED))
    rc = list_delayed(c, key, 1, max_per_state, cb, arg, err);
  free(key);
  return rc;
}

int
pacer_job_list_lane_key(redisContext *c, const char *prefix,
                        unsigned char key[32], struct pacer_error *err)
{
  char *k = pacer_keys_new(prefix, PACER_KEYS_LANE_KEY, NULL);
  const char *argv[2] = {"GET", k};
  redisReply *r;
  size_t n = 0;
  int rc = 0;

  if (k == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "out of memory");
  r = pacer_redis_sync_command(c, 2, argv, "GET lanekey", err);
  free(k);
  if (r == NULL)
    return PACER_EREDIS;
  if (r->type == REDIS_REPLY_STRING &&
      sodium_hex2bin(key, 32, r->str, r->len, NULL, &n, NULL) == 0 && n == 32)
    rc = 1;
  freeReplyObject(r);
  return rc;
}

int
pacer_job_list_bucket_pause(redisContext *c, const char *prefix,
                            const char *bucket, uint64_t *left_ms, char *why,
                            size_t size, struct pacer_error *err)
{
  char *key = pacer_keys_new(prefix, PACER_KEYS_LIMIT, bucket);
  char *akey = pacer_keys_new(prefix, PACER_KEYS_OPPAUSE, NULL);
  const char *argv[5] = {"HMGET", key, PACER_KEYS_F_PAUSE_UNTIL,
                         PACER_KEYS_F_PAUSE_REASON, PACER_KEYS_F_OP_UNTIL};
  const char *aargv[2] = {"GET", akey};
  const char *targv[1] = {"TIME"};
  redisReply *r, *t;
  uint64_t now, pu = 0, op = 0, all = 0;

  *left_ms = 0;
  why[0] = '\0';
  if (key == NULL || akey == NULL) {
    free(key);
    free(akey);
    return pacer_error_set(err, PACER_ENOMEM, "out of memory");
  }
  /* the operator pause of every bucket (pacer pause --all) counts as the
   * bucket's own, as limit_take.lua honours it */
  r = pacer_redis_sync_command(c, 2, aargv, "GET oppause", err);
  free(akey);
  if (r == NULL) {
    free(key);
    return PACER_EREDIS;
  }
  if (r->type == REDIS_REPLY_STRING)
    all = strtoull(r->str, NULL, 10);
  freeReplyObject(r);
  r = pacer_redis_sync_command(c, 5, argv, "HMGET limit bucket", err);
  free(key);
  if (r == NULL)
    return PACER_EREDIS;
  t = pacer_redis_sync_command(c, 1, targv, "TIME", err);
  if (t == NULL) {
    freeReplyObject(r);
    return PACER_EREDIS;
  }
  now = strtoull(t->element[0]->str, NULL, 10) * 1000000u +
        strtoull(t->element[1]->str, NULL, 10);
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
    if (r->element[0]->type == REDIS_REPLY_STRING)
      pu = strtoull(r->element[0]->str, NULL, 10);
    if (r->element[2]->type == REDIS_REPLY_STRING)
      op = strtoull(r->element[2]->str, NULL, 10);
    if (op > now || all > now) {
      *left_ms = ((all > op ? all : op) - now) / 1000u;
      snprintf(why, size, "%s%s", PACER_KEYS_OP_REASON,
               all > op ? " (all buckets)" : "");
    } else if (pu > now) {
      *left_ms = (pu - now) / 1000u;
      snprintf(why, size, "%s",
               r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str
                                                         : "paused");
    }
  }
  freeReplyObject(t);
  freeReplyObject(r);
  return 0;
}
