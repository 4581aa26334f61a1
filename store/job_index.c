/* Finding one job's records by its id: see job_index.h. */
#include "store/job_index.h"

#include <stdlib.h>
#include <string.h>

#include "store/keys.h"

int
pacer_job_index_result(redisContext *c, const char *prefix, const char *id,
                       pacer_results_entry_cb cb, void *arg,
                       struct pacer_error *err)
{
  char *key = pacer_keys_new(prefix, PACER_KEYS_RESULT, id);
  char *results = pacer_keys_new(prefix, PACER_KEYS_RESULTS, NULL);
  char entry_id[64];
  redisReply *r = NULL;
  int rc = PACER_JOB_INDEX_NONE;

  if (key == NULL || results == NULL) {
    rc = pacer_error_set(err, PACER_ENOMEM, "result: out of memory");
    goto done;
  }
  {
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, strlen(key)};

    r = redisCommandArgv(c, 2, argv, lens);
  }
  if (r == NULL) {
    rc = pacer_error_set(err, PACER_EREDIS, "redis: GET %s: %s", key,
                         c->errstr[0] != '\0' ? c->errstr : "no reply");
    goto done;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    rc = pacer_error_set(err, PACER_EREDIS, "redis: GET %s: %s", key, r->str);
    goto done;
  }
  if (r->type != REDIS_REPLY_STRING)
    goto done; /* nil: no index entry */
  if (r->len == 0 || r->len >= sizeof(entry_id)) {
    rc = PACER_JOB_INDEX_TRIMMED; /* not an entry id: nothing to read */
    goto done;
  }
  memcpy(entry_id, r->str, r->len);
  entry_id[r->len] = '\0';
  rc = pacer_results_get(c, results, entry_id, cb, arg, err);
  if (rc == 1)
    rc = PACER_JOB_INDEX_FOUND;
  else if (rc == 0)
    rc = PACER_JOB_INDEX_TRIMMED;
done:
  if (r != NULL)
    freeReplyObject(r);
  free(key);
  free(results);
  return rc;
}
