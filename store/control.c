/* Operator control of limit buckets: see control.h. */
#include "store/control.h"
#include "store/redis_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/script.h"

/* Copies s into out (size bytes) with SCAN MATCH's glob characters
 * escaped. Returns 0, or -1 when it does not fit. */
static int
glob_escape(char *out, size_t size, const char *s)
{
  size_t o = 0;

  for (; *s != '\0'; s++) {
    if (o + 3 > size)
      return -1;
    if (strchr("*?[]\\", *s) != NULL)
      out[o++] = '\\';
    out[o++] = *s;
  }
  out[o] = '\0';
  return 0;
}

int
pacer_control_buckets(redisContext *c, const char *prefix,
                      pacer_control_bucket_cb cb, void *arg,
                      struct pacer_error *err)
{
  char pat[600], esc[512], cursor[32] = "0";
  size_t off = strlen(prefix) + strlen(PACER_KEYS_LIMIT);
  int rc = 0;

  if (glob_escape(esc, sizeof(esc), prefix) != 0)
    return pacer_error_set(err, PACER_EINVAL, "prefix too long");
  snprintf(pat, sizeof(pat), "%s%s*", esc, PACER_KEYS_LIMIT);
  do {
    const char *argv[8] = {"SCAN",  cursor, "MATCH", pat,
                           "COUNT", "1000", "TYPE",  "hash"};
    redisReply *r =
        pacer_redis_sync_command(c, 8, argv, "SCAN limit buckets", err);
    size_t i;

    if (r == NULL)
      return PACER_EREDIS;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
      freeReplyObject(r);
      return pacer_error_set(err, PACER_EREDIS, "redis: SCAN: bad reply");
    }
    snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
    for (i = 0; rc == 0 && i < r->element[1]->elements; i++) {
      const redisReply *k = r->element[1]->element[i];

      if (k->type == REDIS_REPLY_STRING && k->len > off)
        rc = cb(arg, k->str + off);
    }
    freeReplyObject(r);
  } while (rc == 0 && strcmp(cursor, "0") != 0);
  return rc;
}

int
pacer_control_bucket_exists(redisContext *c, const char *prefix,
                            const char *bucket, struct pacer_error *err)
{
  char *key = pacer_keys_new(prefix, PACER_KEYS_LIMIT, bucket);
  const char *argv[2] = {"EXISTS", key};
  redisReply *r;
  int rc;

  if (key == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "out of memory");
  r = pacer_redis_sync_command(c, 2, argv, "EXISTS limit bucket", err);
  free(key);
  if (r == NULL)
    return PACER_EREDIS;
  rc = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
  freeReplyObject(r);
  return rc;
}

/* Runs limit_oppause.lua on bucket with args; *n gets an integer reply. */
static int
oppause(redisContext *c, const char *prefix, const char *bucket, int argc,
        const char **args, long long *n, struct pacer_error *err)
{
  char *key = pacer_keys_new(prefix, PACER_KEYS_LIMIT, bucket);
  const char *argv[8] = {"EVAL", pacer_lua_limit_oppause, "1", key};
  redisReply *r;
  int i;

  if (key == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "out of memory");
  for (i = 0; i < argc; i++)
    argv[4 + i] = args[i];
  r = pacer_redis_sync_command(c, 4 + argc, argv, "operator pause", err);
  free(key);
  if (r == NULL)
    return PACER_EREDIS;
  *n = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
  freeReplyObject(r);
  return 0;
}

int
pacer_control_pause(redisContext *c, const char *prefix, const char *bucket,
                    uint64_t for_ms, struct pacer_error *err)
{
  char f[24];
  const char *args[3] = {"pause", f, PACER_KEYS_OP_FOREVER_US};
  long long n;

  snprintf(f, sizeof(f), "%" PRIu64, for_ms);
  return oppause(c, prefix, bucket, 3, args, &n, err);
}

int
pacer_control_resume(redisContext *c, const char *prefix, const char *bucket,
                     struct pacer_error *err)
{
  const char *args[1] = {"resume"};
  long long n = 0;
  int rc = oppause(c, prefix, bucket, 1, args, &n, err);

  return rc != 0 ? rc : n > 0;
}

int
pacer_control_paused(redisContext *c, const char *prefix, const char *bucket,
                     uint64_t *until_unix_us, uint64_t *now_unix_us,
                     struct pacer_error *err)
{
  char *key = pacer_keys_new(prefix, PACER_KEYS_LIMIT, bucket);
  const char *argv[3] = {"HGET", key, PACER_KEYS_F_OP_UNTIL};
  const char *targv[1] = {"TIME"};
  redisReply *r;

  *until_unix_us = *now_unix_us = 0;
  if (key == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "out of memory");
  r = pacer_redis_sync_command(c, 3, argv, "HGET op_until", err);
  free(key);
  if (r == NULL)
    return PACER_EREDIS;
  if (r->type == REDIS_REPLY_STRING)
    *until_unix_us = strtoull(r->str, NULL, 10);
  freeReplyObject(r);
  r = pacer_redis_sync_command(c, 1, targv, "TIME", err);
  if (r == NULL)
    return PACER_EREDIS;
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
    *now_unix_us = strtoull(r->element[0]->str, NULL, 10) * 1000000u +
                   strtoull(r->element[1]->str, NULL, 10);
  freeReplyObject(r);
  if (*until_unix_us <= *now_unix_us)
    *until_unix_us = 0;
  return 0;
}

/* ------------------------------------------------------------------ */
/* The pause of every bucket (<prefix>oppause) */

/* Runs limit_oppause_all.lua with op (and for_ms); r gets the reply
 * (owned, free with freeReplyObject). */
static int
oppause_all(redisContext *c, const char *prefix, const char *op,
            uint64_t for_ms, redisReply **r, struct pacer_error *err)
{
  char *key = pacer_keys_new(prefix, PACER_KEYS_OPPAUSE, NULL);
  char f[24];
  const char *argv[7] = {"EVAL", pacer_lua_limit_oppause_all, "1", key, op,
                         f,      PACER_KEYS_OP_FOREVER_US};

  if (key == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "out of memory");
  snprintf(f, sizeof(f), "%" PRIu64, for_ms);
  *r = pacer_redis_sync_command(c, 7, argv, "operator pause of all buckets",
                                err);
  free(key);
  return *r != NULL ? 0 : PACER_EREDIS;
}

/* Reads the {until, now} reply of oppause_all. */
static int
until_now(redisReply *r, uint64_t *until_unix_us, uint64_t *now_unix_us,
          struct pacer_error *err)
{
  int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
           r->element[0]->type == REDIS_REPLY_INTEGER &&
           r->element[1]->type == REDIS_REPLY_INTEGER &&
           r->element[0]->integer >= 0 && r->element[1]->integer > 0;

  if (ok) {
    *until_unix_us = (uint64_t)r->element[0]->integer;
    *now_unix_us = (uint64_t)r->element[1]->integer;
  }
  freeReplyObject(r);
  return ok ? 0
            : pacer_error_set(err, PACER_EREDIS,
                              "redis: operator pause of all buckets: bad "
                              "reply");
}

int
pacer_control_pause_all(redisContext *c, const char *prefix, uint64_t for_ms,
                        uint64_t *until_unix_us, uint64_t *now_unix_us,
                        struct pacer_error *err)
{
  redisReply *r;
  int rc = oppause_all(c, prefix, "pause", for_ms, &r, err);

  *until_unix_us = *now_unix_us = 0;
  return rc != 0 ? rc : until_now(r, until_unix_us, now_unix_us, err);
}

int
pacer_control_paused_all(redisContext *c, const char *prefix,
                         uint64_t *until_unix_us, uint64_t *now_unix_us,
                         struct pacer_error *err)
{
  redisReply *r;
  int rc = oppause_all(c, prefix, "read", 0, &r, err);

  *until_unix_us = *now_unix_us = 0;
  return rc != 0 ? rc : until_now(r, until_unix_us, now_unix_us, err);
}

/* What pacer_control_resume_all does with each bucket. */
struct resume_each {
  redisContext *c;
  const char *prefix;
  pacer_control_bucket_cb cb;
  void *arg;
  struct pacer_error *err;
};

static int
resume_each(void *arg, const char *bucket)
{
  struct resume_each *re = arg;
  int rc = pacer_control_resume(re->c, re->prefix, bucket, re->err);

  if (rc < 0)
    return rc;
  return rc == 1 && re->cb != NULL ? re->cb(re->arg, bucket) : 0;
}

int
pacer_control_resume_all(redisContext *c, const char *prefix,
                         pacer_control_bucket_cb cb, void *arg, int *was_all,
                         struct pacer_error *err)
{
  struct resume_each re = {c, prefix, cb, arg, err};
  redisReply *r;
  int rc;

  *was_all = 0;
  rc = pacer_control_buckets(c, prefix, resume_each, &re, err);
  if (rc != 0)
    return rc;
  if ((rc = oppause_all(c, prefix, "resume", 0, &r, err)) != 0)
    return rc;
  *was_all = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  freeReplyObject(r);
  return 0;
}
