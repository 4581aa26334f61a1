/* Queueing jobs from a client: see submit.h. */
#include "store/submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys.h"
#include "store/lua_scripts.h"

int
pacer_submit_append(redisContext *c, const char *prefix, uint64_t done_ttl_ms,
                    const struct pacer_submit_job *j, struct pacer_error *err)
{
  const char *argv[13];
  size_t argvlen[13];
  char *stream, *done = NULL, *marks = NULL, ttl[24];
  int argc = 0, rc = 0, check_done = done_ttl_ms > 0;

  stream = pacer_keys_new(prefix, pacer_keys_stream(j->priority), NULL);
  if (check_done)
    done = pacer_keys_new(prefix, PACER_KEYS_DONE, j->job_id);
  if (check_done)
    marks = pacer_keys_new(prefix, PACER_KEYS_DONEMARKS, NULL);
  if (stream == NULL || (check_done && (done == NULL || marks == NULL))) {
    rc = pacer_error_set(err, PACER_ENOMEM, "submit: out of memory");
    goto out;
  }
  if (check_done) {
    /* Queued only when the id has not finished already (done-marker). */
    argv[argc] = "EVAL";
    argvlen[argc++] = 4;
    argv[argc] = pacer_lua_submit_add;
    argvlen[argc++] = strlen(pacer_lua_submit_add);
    argv[argc] = "3";
    argvlen[argc++] = 1;
    argv[argc] = stream;
    argvlen[argc++] = strlen(stream);
    argv[argc] = done;
    argvlen[argc++] = strlen(done);
    argv[argc] = marks;
    argvlen[argc++] = strlen(marks);
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)done_ttl_ms);
    argv[argc] = ttl;
    argvlen[argc++] = strlen(ttl);
    argv[argc] = j->job_id;
    argvlen[argc++] = strlen(j->job_id);
  } else {
    argv[argc] = "XADD";
    argvlen[argc++] = 4;
    argv[argc] = stream;
    argvlen[argc++] = strlen(stream);
    argv[argc] = "*";
    argvlen[argc++] = 1;
  }
  argv[argc] = PACER_KEYS_F_JOB;
  argvlen[argc++] = strlen(PACER_KEYS_F_JOB);
  argv[argc] = j->text;
  argvlen[argc++] = j->len;
  /* docs/REDIS.md: `id` is sent only when the JSON has none. */
  if (j->gen_id != NULL) {
    argv[argc] = PACER_KEYS_F_ID;
    argvlen[argc++] = strlen(PACER_KEYS_F_ID);
    argv[argc] = j->gen_id;
    argvlen[argc++] = strlen(j->gen_id);
  }
  /* hiredis formats (copies) the command here */
  if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK)
    rc = pacer_error_set(err, PACER_ENOMEM, "redis: XADD: %s",
                         c->errstr[0] != '\0' ? c->errstr : "out of memory");
out:
  free(stream);
  free(done);
  free(marks);
  return rc;
}

int
pacer_submit_reply(redisContext *c, struct pacer_error *err)
{
  redisReply *reply = NULL;
  int rc;

  if (redisGetReply(c, (void **)&reply) != REDIS_OK || reply == NULL) {
    pacer_error_set(err, PACER_EREDIS, "redis: XADD: %s",
                    c->errstr[0] != '\0' ? c->errstr : "no reply");
    return PACER_EIO;
  }
  if (reply->type == REDIS_REPLY_ERROR)
    rc = pacer_error_set(err, PACER_EREDIS, "redis: XADD: %s", reply->str);
  else if (reply->type == REDIS_REPLY_NIL)
    rc = 0; /* the id already finished: not queued */
  else
    rc = 1;
  freeReplyObject(reply);
  return rc;
}
