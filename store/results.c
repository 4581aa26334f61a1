/* Reading <prefix>results from a client: see results.h. */
#include "store/results.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys.h"

#define FIELDS_ON_STACK 64 /* fields of an entry without a malloc */
#define RANGE_COUNT     "1000"

char *
pacer_results_key_new(const char *prefix)
{
  return pacer_keys_new(prefix, PACER_KEYS_RESULTS, NULL);
}

int
pacer_results_info(redisContext *c, const char *key,
                   struct pacer_results_info *info, struct pacer_error *err)
{
  const char *argv[] = {"XINFO", "STREAM", key};
  size_t argvlen[] = {5, 6, strlen(key)};
  redisReply *reply;
  size_t i;

  info->last_generated[0] = '\0';
  info->first_entry[0] = '\0';
  info->length = -1;
  info->added = -1;
  reply = redisCommandArgv(c, 3, argv, argvlen);
  if (reply == NULL)
    return pacer_error_set(err, PACER_EREDIS, "redis: XINFO STREAM %s: %s", key,
                           c->errstr[0] != '\0' ? c->errstr : "no reply");
  if (reply->type == REDIS_REPLY_ERROR) {
    int rc =
        strstr(reply->str, "no such key") != NULL
            ? 0
            : pacer_error_set(err, PACER_EREDIS, "redis: XINFO STREAM %s: %s",
                              key, reply->str);

    freeReplyObject(reply);
    return rc;
  }
  /* A flat field/value list. */
  if (reply->type == REDIS_REPLY_ARRAY) {
    for (i = 0; i + 1 < reply->elements; i += 2) {
      const redisReply *f = reply->element[i], *v = reply->element[i + 1];

      if (f->type != REDIS_REPLY_STRING)
        continue;
      if (strcmp(f->str, "last-generated-id") == 0 &&
          v->type == REDIS_REPLY_STRING)
        snprintf(info->last_generated, sizeof(info->last_generated), "%s",
                 v->str);
      else if (strcmp(f->str, "length") == 0 && v->type == REDIS_REPLY_INTEGER)
        info->length = v->integer;
      else if (strcmp(f->str, "entries-added") == 0 &&
               v->type == REDIS_REPLY_INTEGER)
        info->added = v->integer;
      else if (strcmp(f->str, "first-entry") == 0 &&
               v->type == REDIS_REPLY_ARRAY && v->elements > 0 &&
               v->element[0]->type == REDIS_REPLY_STRING)
        snprintf(info->first_entry, sizeof(info->first_entry), "%s",
                 v->element[0]->str);
    }
  }
  freeReplyObject(reply);
  return 1;
}

/* Calls cb for one entry ([id, [field, value, ...]]); string pairs only.
 * Returns cb's result, 0 for a malformed entry, or PACER_ENOMEM. */
static int
entry(const redisReply *e, pacer_results_entry_cb cb, void *arg)
{
  struct pacer_results_field stack[FIELDS_ON_STACK] = {{0}}, *f = stack;
  const redisReply *fields;
  size_t i, n = 0, max;
  int rc;

  if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
      e->element[0]->type != REDIS_REPLY_STRING)
    return 0;
  fields = e->element[1];
  max = fields->type == REDIS_REPLY_ARRAY ? fields->elements / 2 : 0;
  if (max > FIELDS_ON_STACK) {
    f = malloc(max * sizeof(*f));
    if (f == NULL)
      return PACER_ENOMEM;
  }
  for (i = 0; i < max; i++) {
    const redisReply *k = fields->element[2 * i];
    const redisReply *v = fields->element[2 * i + 1];

    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      continue;
    f[n].name = k->str;
    f[n].name_len = k->len;
    f[n].value = v->str;
    f[n].value_len = v->len;
    n++;
  }
  rc = cb(arg, e->element[0]->str, f, n);
  if (f != stack)
    free(f);
  return rc;
}

int
pacer_results_entry_call(const redisReply *e, pacer_results_entry_cb cb,
                         void *arg)
{
  return entry(e, cb, arg);
}

int
pacer_results_read(redisContext *c, const char *key, const char *after,
                   uint64_t block_ms, pacer_results_entry_cb cb, void *arg,
                   size_t *got, struct pacer_error *err)
{
  char block[24], count[16];
  const char *argv[8] = {"XREAD", "COUNT",   count, "BLOCK",
                         block,   "STREAMS", key,   after};
  size_t argvlen[8];
  redisReply *reply;
  size_t i, j;
  int rc = 0;

  *got = 0;
  snprintf(count, sizeof(count), "%d", PACER_RESULTS_READ_COUNT);
  snprintf(block, sizeof(block), "%" PRIu64, block_ms);
  for (i = 0; i < 8; i++)
    argvlen[i] = strlen(argv[i]);
  reply = redisCommandArgv(c, 8, argv, argvlen);
  if (reply == NULL) {
    pacer_error_set(err, PACER_EREDIS, "redis: XREAD %s: %s", key,
                    c->errstr[0] != '\0' ? c->errstr : "no reply");
    if (c->err == REDIS_ERR_OOM) {
      if (err != NULL)
        err->code = PACER_ENOMEM;
      return PACER_ENOMEM;
    }
    return PACER_EIO;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    rc = pacer_error_set(err, PACER_EREDIS, "redis: XREAD %s: %s", key,
                         reply->str);
    freeReplyObject(reply);
    return rc;
  }
  /* [[key, [entry, ...]]], or nil when BLOCK timed out */
  if (reply->type == REDIS_REPLY_ARRAY) {
    for (i = 0; rc == 0 && i < reply->elements; i++) {
      const redisReply *s = reply->element[i];

      if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 ||
          s->element[1]->type != REDIS_REPLY_ARRAY)
        continue;
      for (j = 0; rc == 0 && j < s->element[1]->elements; j++)
        rc = entry(s->element[1]->element[j], cb, arg);
      *got += s->element[1]->elements;
    }
  }
  freeReplyObject(reply);
  return rc;
}

int
pacer_results_range(redisContext *c, const char *key, const char *after,
                    pacer_results_entry_cb cb, void *arg,
                    struct pacer_error *err)
{
  char start[80];

  snprintf(start, sizeof(start), "(%s", after);
  for (;;) {
    const char *argv[] = {"XRANGE", key, start, "+", "COUNT", RANGE_COUNT};
    size_t lens[] = {6, strlen(key), strlen(start), 1, 5, strlen(RANGE_COUNT)};
    redisReply *r = redisCommandArgv(c, 6, argv, lens);
    size_t i;
    int rc = 0;

    if (r == NULL)
      return pacer_error_set(err, PACER_EREDIS, "redis: XRANGE %s: %s", key,
                             c->errstr);
    if (r->type != REDIS_REPLY_ARRAY) {
      freeReplyObject(r);
      return pacer_error_set(err, PACER_EREDIS, "redis: XRANGE %s: bad reply",
                             key);
    }
    if (r->elements == 0) {
      freeReplyObject(r);
      return 0;
    }
    for (i = 0; rc == 0 && i < r->elements; i++) {
      const redisReply *e = r->element[i];

      if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
        continue;
      snprintf(start, sizeof(start), "(%s", e->element[0]->str);
      rc = entry(e, cb, arg);
    }
    freeReplyObject(r);
    if (rc != 0)
      return rc;
  }
}

int
pacer_results_get(redisContext *c, const char *key, const char *entry_id,
                  pacer_results_entry_cb cb, void *arg, struct pacer_error *err)
{
  const char *argv[] = {"XRANGE", key, entry_id, entry_id};
  size_t lens[] = {6, strlen(key), strlen(entry_id), strlen(entry_id)};
  redisReply *r = redisCommandArgv(c, 4, argv, lens);
  int rc = 0;

  if (r == NULL)
    return pacer_error_set(err, PACER_EREDIS, "redis: XRANGE %s: %s", key,
                           c->errstr);
  if (r->type == REDIS_REPLY_ERROR)
    rc =
        pacer_error_set(err, PACER_EREDIS, "redis: XRANGE %s: %s", key, r->str);
  else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0)
    rc = entry(r->element[0], cb, arg);
  if (rc == 0 && r->type == REDIS_REPLY_ARRAY && r->elements > 0)
    rc = 1;
  freeReplyObject(r);
  return rc;
}

int
pacer_results_last_id(redisContext *c, const char *key, char *last, size_t size)
{
  const char *argv[] = {"XREVRANGE", key, "+", "-", "COUNT", "1"};
  size_t lens[] = {9, strlen(key), 1, 1, 5, 1};
  redisReply *r = redisCommandArgv(c, 6, argv, lens);

  snprintf(last, size, "0-0");
  if (r == NULL)
    return PACER_EREDIS;
  if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
      r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements > 0)
    snprintf(last, size, "%s", r->element[0]->element[0]->str);
  freeReplyObject(r);
  return 0;
}
