/* Cancel requests: see cancel.h. */
#include "store/cancel.h"
#include "store/redis_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/script.h"

int
pacer_cancel_request(redisContext *c, const char *prefix, const char *id,
                     int move, size_t *moved, struct pacer_error *err)
{
  char *ckey = pacer_keys_new(prefix, PACER_KEYS_CANCEL, NULL);
  char *dkey = pacer_keys_new(prefix, PACER_KEYS_DELAYED, NULL);
  char pat[2 * 256 + 8], cursor[32] = "0", now[32];
  size_t o = 0;
  const char *s;
  redisReply *r;
  int rc = 0;

  *moved = 0;
  if (ckey == NULL || dkey == NULL) {
    rc = pacer_error_set(err, PACER_ENOMEM, "out of memory");
    goto done;
  }
  {
    const char *argv[5] = {"EVAL", pacer_lua_cancel_request, "1", ckey, id};

    r = pacer_redis_sync_command(c, 5, argv, "cancel request", err);
  }
  if (r == NULL) {
    rc = PACER_EREDIS;
    goto done;
  }
  snprintf(now, sizeof(now), "%lld", r->integer);
  freeReplyObject(r);
  if (!move)
    goto done;
  /* SCAN MATCH pattern: the id with glob characters escaped, "\n*". */
  for (s = id; *s != '\0' && o + 4 < sizeof(pat); s++) {
    if (strchr("*?[]\\", *s) != NULL)
      pat[o++] = '\\';
    pat[o++] = *s;
  }
  memcpy(pat + o, "\n*", 3);
  do {
    const char *argv[6] = {"ZSCAN", dkey, cursor, "MATCH", pat, "COUNT"};
    const char *all[7] = {argv[0], argv[1], argv[2], argv[3],
                          argv[4], argv[5], "1000"};
    size_t i;

    r = pacer_redis_sync_command(c, 7, all, "ZSCAN delayed", err);
    if (r == NULL) {
      rc = PACER_EREDIS;
      break;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      freeReplyObject(r);
      rc = pacer_error_set(err, PACER_EREDIS, "redis: ZSCAN: bad reply");
      break;
    }
    snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
    for (i = 0; rc == 0 && i + 1 < r->element[1]->elements; i += 2) {
      const redisReply *m = r->element[1]->element[i];
      const char *zargv[5] = {"ZADD", dkey, "XX", now, m->str};
      size_t zlens[5] = {4, strlen(dkey), 2, strlen(now), m->len};
      redisReply *z = redisCommandArgv(c, 5, zargv, zlens);

      if (z == NULL || z->type == REDIS_REPLY_ERROR)
        rc = pacer_error_set(err, PACER_EREDIS, "redis: ZADD delayed: %s",
                             z != NULL ? z->str : c->errstr);
      else
        (*moved)++;
      if (z != NULL)
        freeReplyObject(z);
    }
    freeReplyObject(r);
  } while (rc == 0 && strcmp(cursor, "0") != 0);
done:
  free(ckey);
  free(dkey);
  return rc;
}

int
pacer_cancel_withdraw(redisContext *c, const char *prefix, const char *id,
                      struct pacer_error *err)
{
  char *ckey = pacer_keys_new(prefix, PACER_KEYS_CANCEL, NULL);
  const char *argv[3] = {"ZREM", ckey, id};
  redisReply *r;

  if (ckey == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "out of memory");
  r = pacer_redis_sync_command(c, 3, argv, "ZREM cancel", err);
  free(ckey);
  if (r == NULL)
    return PACER_EREDIS;
  freeReplyObject(r);
  return 0;
}

/* One poll in flight. */
struct poll_req {
  pacer_cancel_poll_cb cb;
  void *arg;
};

static void
on_poll(struct pacer_queue *q, const struct redisReply *reply, void *privdata)
{
  struct poll_req *p = privdata;
  const char **ids = NULL;
  size_t i, n = 0;

  (void)q;
  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
    p->cb(p->arg, PACER_EREDIS, NULL, 0);
    free(p);
    return;
  }
  if (reply->elements > 0)
    ids = malloc(reply->elements * sizeof(*ids));
  for (i = 0; ids != NULL && i < reply->elements; i++)
    if (reply->element[i]->type == REDIS_REPLY_STRING)
      ids[n++] = reply->element[i]->str;
  if (reply->elements > 0 && ids == NULL)
    p->cb(p->arg, PACER_ENOMEM, NULL, 0);
  else
    p->cb(p->arg, 0, ids, n);
  free(ids);
  free(p);
}

int
pacer_cancel_poll(struct pacer_queue *q, pacer_cancel_poll_cb cb, void *arg)
{
  char *key = pacer_keys_new(pacer_queue_prefix(q), PACER_KEYS_CANCEL, NULL);
  const char *keys[1] = {key}, *args[1];
  struct poll_req *p = malloc(sizeof(*p));
  char max[16];
  int rc;

  if (key == NULL || p == NULL) {
    free(key);
    free(p);
    return PACER_ENOMEM;
  }
  p->cb = cb;
  p->arg = arg;
  snprintf(max, sizeof(max), "%d", PACER_CANCEL_POLL_MAX);
  args[0] = max;
  rc = pacer_queue_eval_reply(q, pacer_lua_cancel_list, 1, keys, 1, args, NULL,
                              on_poll, p);
  free(key);
  if (rc != 0)
    free(p);
  return rc;
}
