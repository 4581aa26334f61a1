/* Dead letters for `pacer dead`: see dead.h. */
#include "store/dead.h"
#include "store/redis_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys.h"
#include "store/lua_scripts.h"
#include "store/script.h"

#define PAGE      500 /* dead letters per XRANGE, and scripts per pipeline */
#define PAGE_TEXT "500"

/* The value of field name in entry reply e ([id, [k, v, ...]]), or NULL. */
static const redisReply *
entry_field(const redisReply *e, const char *name)
{
  const redisReply *f;
  size_t i, n = strlen(name);

  if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
    return NULL;
  f = e->element[1];
  if (f->type != REDIS_REPLY_ARRAY)
    return NULL;
  for (i = 0; i + 1 < f->elements; i += 2) {
    const redisReply *k = f->element[i], *v = f->element[i + 1];

    if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
        k->len == n && memcmp(k->str, name, n) == 0)
      return v;
  }
  return NULL;
}

/* The PTTL of each entry's kept original in page (an XRANGE reply),
 * pipelined, into ttl[] (page->elements entries; -2 when none). */
static int
page_ttls(redisContext *c, const char *prefix, const redisReply *page,
          long long *ttl, struct pacer_error *err)
{
  size_t i, sent = 0;
  int rc = 0;

  for (i = 0; i < page->elements; i++) {
    const redisReply *id = entry_field(page->element[i], "id");
    char *key;
    const char *argv[2];
    size_t lens[2];

    ttl[i] = -2;
    if (id == NULL)
      continue;
    key = pacer_keys_new(prefix, PACER_KEYS_DEADJOB, id->str);
    if (key == NULL)
      return pacer_error_set(err, PACER_ENOMEM, "dead: out of memory");
    argv[0] = "PTTL";
    argv[1] = key;
    lens[0] = 4;
    lens[1] = strlen(key);
    if (redisAppendCommandArgv(c, 2, argv, lens) != REDIS_OK) {
      free(key);
      return pacer_error_set(err, PACER_ENOMEM, "dead: out of memory");
    }
    free(key);
    ttl[i] = -3; /* reply pending */
    sent++;
  }
  for (i = 0; i < page->elements && sent > 0; i++) {
    void *v = NULL;
    redisReply *r;

    if (ttl[i] != -3)
      continue;
    sent--;
    if (redisGetReply(c, &v) != REDIS_OK || v == NULL)
      return pacer_error_set(err, PACER_EREDIS, "redis: PTTL: %s",
                             c->errstr[0] != '\0' ? c->errstr : "no reply");
    r = v;
    ttl[i] = r->type == REDIS_REPLY_INTEGER ? r->integer : -2;
    if (r->type == REDIS_REPLY_ERROR && rc == 0)
      rc = pacer_error_set(err, PACER_EREDIS, "redis: PTTL: %s", r->str);
    freeReplyObject(r);
  }
  return rc;
}

/* Adapts a pacer_dead_entry_cb to pacer_results_entry_call. */
struct one {
  pacer_dead_entry_cb cb;
  void *arg;
  long long ttl;
};

static int
call_one(void *arg, const char *entry_id, const struct pacer_results_field *f,
         size_t nfields)
{
  struct one *o = arg;

  return o->cb(o->arg, entry_id, f, nfields, o->ttl);
}

int
pacer_dead_list(redisContext *c, const char *prefix, int newest_first,
                pacer_dead_entry_cb cb, void *arg, struct pacer_error *err)
{
  char *key = pacer_keys_new(prefix, PACER_KEYS_DEAD, NULL);
  char from[80];
  long long ttl[PAGE];
  int rc = 0;

  if (key == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "dead: out of memory");
  snprintf(from, sizeof(from), "%s", newest_first ? "+" : "-");
  while (rc == 0) {
    const char *argv[6] = {newest_first ? "XREVRANGE" : "XRANGE",
                           key,
                           from,
                           newest_first ? "-" : "+",
                           "COUNT",
                           PAGE_TEXT};
    redisReply *r =
        pacer_redis_sync_command(c, 6, argv, "XRANGE dead letters", err);
    size_t i;

    if (r == NULL) {
      rc = err != NULL ? err->code : PACER_EREDIS;
      break;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
      freeReplyObject(r);
      break;
    }
    rc = page_ttls(c, prefix, r, ttl, err);
    for (i = 0; rc == 0 && i < r->elements; i++) {
      struct one o = {cb, arg, ttl[i]};
      const redisReply *e = r->element[i];

      if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
          e->element[0]->type != REDIS_REPLY_STRING)
        continue;
      snprintf(from, sizeof(from), "(%s", e->element[0]->str);
      rc = pacer_results_entry_call(e, call_one, &o);
    }
    i = r->elements;
    freeReplyObject(r);
    if (i < PAGE)
      break;
  }
  free(key);
  return rc;
}

/* pacer_dead_find's scan: calls the caller's cb for the letter of id. */
struct find {
  const char *id;
  pacer_dead_entry_cb cb;
  void *arg;
};

#define FOUND 1

static int
find_cb(void *arg, const char *entry_id, const struct pacer_results_field *f,
        size_t nfields, long long kept_ttl_ms)
{
  struct find *fd = arg;
  size_t i;
  int rc;

  for (i = 0; i < nfields; i++) {
    if (strcmp(f[i].name, "id") == 0 && strcmp(f[i].value, fd->id) == 0) {
      rc = fd->cb(fd->arg, entry_id, f, nfields, kept_ttl_ms);
      return rc != 0 ? rc : FOUND;
    }
  }
  return 0;
}

int
pacer_dead_find(redisContext *c, const char *prefix, const char *id,
                pacer_dead_entry_cb cb, void *arg, struct pacer_error *err)
{
  char *hkey = pacer_keys_new(prefix, PACER_KEYS_DEADJOB, id);
  char *dkey = pacer_keys_new(prefix, PACER_KEYS_DEAD, NULL);
  struct find fd = {id, cb, arg};
  redisReply *r = NULL;
  int rc = 0;

  if (hkey == NULL || dkey == NULL) {
    rc = pacer_error_set(err, PACER_ENOMEM, "dead: out of memory");
    goto done;
  }
  {
    const char *argv[3] = {"HGET", hkey, "dead"};

    r = pacer_redis_sync_command(c, 3, argv, "HGET deadjob", err);
  }
  if (r == NULL) {
    rc = PACER_EREDIS;
    goto done;
  }
  if (r->type == REDIS_REPLY_STRING) {
    const char *pargv[2] = {"PTTL", hkey};
    redisReply *t = pacer_redis_sync_command(c, 2, pargv, "PTTL deadjob", err);
    struct one o = {cb, arg, -2};

    if (t == NULL) {
      rc = PACER_EREDIS;
      goto done;
    }
    o.ttl = t->type == REDIS_REPLY_INTEGER ? t->integer : -2;
    freeReplyObject(t);
    rc = pacer_results_get(c, dkey, r->str, call_one, &o, err);
    if (rc != 0)
      goto done; /* found (1), or an error */
  }
  /* No kept original, or its letter is gone: look in the stream. */
  rc = pacer_dead_list(c, prefix, 1, find_cb, &fd, err);
  if (rc == FOUND)
    rc = 1;
done:
  if (r != NULL)
    freeReplyObject(r);
  free(hkey);
  free(dkey);
  return rc;
}

/* Sends n pipelined EVALs of script with keys built per id by mk, and
 * stores each reply's kind in out[i] (1 string or integer 1, else 0). */
typedef int (*keys_fn)(const char *prefix, const char *id, char **keys,
                       int *nkeys);

static void
keys_free(char **keys, int n)
{
  int i;

  for (i = 0; i < n; i++)
    free(keys[i]);
}

/* Builds in argv/lens (11 entries) the EVAL of script with the keys of id
 * (owned, in keys[8]; free with keys_free) and returns the count, or -1. */
static int
eval_argv(const char *prefix, const char *script, keys_fn mk, const char *id,
          char **keys, char *nk, const char **argv, size_t *lens)
{
  int nkeys = 0, k, a = 0;

  if (mk(prefix, id, keys, &nkeys) != 0)
    return -1;
  snprintf(nk, 8, "%d", nkeys);
  argv[a++] = "EVAL";
  argv[a++] = script;
  argv[a++] = nk;
  for (k = 0; k < nkeys; k++)
    argv[a++] = keys[k];
  for (k = 0; k < a; k++)
    lens[k] = strlen(argv[k]);
  return a;
}

/* Sends a pipeline of EVALSHAs (store/script.h); a call that finds the
 * script cache empty (NOSCRIPT) is sent again alone, through
 * pacer_script_command, once the page's replies are read. */
static int
eval_many(redisContext *c, const char *prefix, const char *script,
          const char *what, keys_fn mk, const char *const *ids, size_t n,
          int *out, struct pacer_error *err)
{
  const char *sha = pacer_script_sha1(script);
  size_t base, i;
  int rc = 0;

  for (base = 0; base < n; base += PAGE) {
    size_t m = n - base < PAGE ? n - base : PAGE;
    int again[PAGE];

    for (i = 0; i < m; i++) {
      char *keys[8] = {0}, nk[8];
      const char *argv[11];
      size_t lens[11];
      int a, k;

      a = eval_argv(prefix, script, mk, ids[base + i], keys, nk, argv, lens);
      if (a < 0) {
        keys_free(keys, 8);
        return pacer_error_set(err, PACER_ENOMEM, "dead: out of memory");
      }
      if (sha != NULL) {
        argv[0] = "EVALSHA";
        lens[0] = 7;
        argv[1] = sha;
        lens[1] = strlen(sha);
      }
      k = redisAppendCommandArgv(c, a, argv, lens);
      keys_free(keys, 8);
      if (k != REDIS_OK)
        return pacer_error_set(err, PACER_ENOMEM, "dead: out of memory");
    }
    for (i = 0; i < m; i++) {
      void *v = NULL;
      redisReply *r;

      if (redisGetReply(c, &v) != REDIS_OK || v == NULL)
        return pacer_error_set(err, PACER_EREDIS, "redis: %s: %s", what,
                               c->errstr[0] != '\0' ? c->errstr : "no reply");
      r = v;
      again[i] = pacer_script_noscript(r);
      out[base + i] = r->type == REDIS_REPLY_STRING ||
                      (r->type == REDIS_REPLY_INTEGER && r->integer == 1);
      if (!again[i] && r->type == REDIS_REPLY_ERROR && rc == 0)
        rc = pacer_error_set(err, PACER_EREDIS, "redis: %s %s: %s", what,
                             ids[base + i], r->str);
      freeReplyObject(r);
    }
    for (i = 0; i < m && rc == 0; i++) {
      char *keys[8] = {0}, nk[8];
      const char *argv[11];
      size_t lens[11];
      redisReply *r;
      int a;

      if (!again[i])
        continue;
      a = eval_argv(prefix, script, mk, ids[base + i], keys, nk, argv, lens);
      r = a < 0 ? NULL : pacer_script_command(c, a, argv, lens);
      keys_free(keys, 8);
      if (r == NULL)
        return pacer_error_set(err, PACER_EREDIS, "redis: %s: %s", what,
                               c->errstr[0] != '\0' ? c->errstr : "no reply");
      out[base + i] = r->type == REDIS_REPLY_STRING ||
                      (r->type == REDIS_REPLY_INTEGER && r->integer == 1);
      if (r->type == REDIS_REPLY_ERROR)
        rc = pacer_error_set(err, PACER_EREDIS, "redis: %s %s: %s", what,
                             ids[base + i], r->str);
      freeReplyObject(r);
    }
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int
retry_keys(const char *prefix, const char *id, char **keys, int *nkeys)
{
  keys[0] = pacer_keys_new(prefix, PACER_KEYS_DEADJOB, id);
  keys[1] = pacer_keys_new(prefix, PACER_KEYS_DEAD, NULL);
  keys[2] = pacer_keys_new(prefix, PACER_KEYS_RESULT, id);
  keys[3] = pacer_keys_new(prefix, pacer_keys_stream(0), NULL);
  keys[4] = pacer_keys_new(prefix, pacer_keys_stream(1), NULL);
  keys[5] = pacer_keys_new(prefix, pacer_keys_stream(2), NULL);
  *nkeys = 6;
  return keys[0] && keys[1] && keys[2] && keys[3] && keys[4] && keys[5]
             ? 0
             : PACER_ENOMEM;
}

int
pacer_dead_retry(redisContext *c, const char *prefix, const char *const *ids,
                 size_t n, int *queued, struct pacer_error *err)
{
  return eval_many(c, prefix, pacer_lua_dead_retry, "dead retry", retry_keys,
                   ids, n, queued, err);
}

static int
delete_keys(const char *prefix, const char *id, char **keys, int *nkeys)
{
  keys[0] = pacer_keys_new(prefix, PACER_KEYS_DEADJOB, id);
  keys[1] = pacer_keys_new(prefix, PACER_KEYS_DEAD, NULL);
  *nkeys = 2;
  return keys[0] && keys[1] ? 0 : PACER_ENOMEM;
}

/* pacer_dead_delete's scan: the letters of ids without a kept original. */
struct del_scan {
  const char *const *ids;
  int *done; /* per id: 1 once deleted */
  size_t n;
  char (*entries)[64]; /* letters to XDEL */
  size_t nentries, cap;
};

static int
del_scan_cb(void *arg, const char *entry_id,
            const struct pacer_results_field *f, size_t nfields,
            long long kept_ttl_ms)
{
  struct del_scan *ds = arg;
  size_t i, j;

  (void)kept_ttl_ms;
  for (i = 0; i < nfields; i++) {
    if (strcmp(f[i].name, "id") != 0)
      continue;
    for (j = 0; j < ds->n; j++) {
      if (strcmp(ds->ids[j], f[i].value) != 0)
        continue;
      if (ds->nentries == ds->cap) {
        size_t cap = ds->cap ? 2 * ds->cap : 16;
        char(*e)[64] = realloc(ds->entries, cap * sizeof(*e));

        if (e == NULL)
          return PACER_ENOMEM;
        ds->entries = e;
        ds->cap = cap;
      }
      snprintf(ds->entries[ds->nentries++], 64, "%s", entry_id);
      ds->done[j] = 1;
    }
  }
  return 0;
}

int
pacer_dead_delete(redisContext *c, const char *prefix, const char *const *ids,
                  size_t n, size_t *deleted, struct pacer_error *err)
{
  struct del_scan ds = {ids, NULL, n, NULL, 0, 0};
  char *dkey = NULL;
  size_t i, missing = 0;
  int rc;

  *deleted = 0;
  ds.done = calloc(n > 0 ? n : 1, sizeof(*ds.done));
  dkey = pacer_keys_new(prefix, PACER_KEYS_DEAD, NULL);
  if (ds.done == NULL || dkey == NULL) {
    rc = pacer_error_set(err, PACER_ENOMEM, "dead: out of memory");
    goto done;
  }
  rc = eval_many(c, prefix, pacer_lua_dead_delete, "dead delete", delete_keys,
                 ids, n, ds.done, err);
  for (i = 0; rc == 0 && i < n; i++)
    missing += !ds.done[i];
  if (rc == 0 && missing > 0)
    rc = pacer_dead_list(c, prefix, 0, del_scan_cb, &ds, err);
  for (i = 0; rc == 0 && i < ds.nentries; i++) {
    const char *argv[3] = {"XDEL", dkey, ds.entries[i]};
    redisReply *r =
        pacer_redis_sync_command(c, 3, argv, "XDEL dead letter", err);

    if (r == NULL)
      rc = PACER_EREDIS;
    else
      freeReplyObject(r);
  }
  for (i = 0; rc == 0 && i < n; i++)
    *deleted += ds.done[i] != 0;
done:
  free(ds.done);
  free(ds.entries);
  free(dkey);
  return rc;
}

/* Copies s into out (size bytes) with the glob characters of SCAN MATCH
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
pacer_dead_purge(redisContext *c, const char *prefix, long long *letters,
                 long long *kept, struct pacer_error *err)
{
  char pat[600], esc[512], cursor[32] = "0";
  char *dkey = pacer_keys_new(prefix, PACER_KEYS_DEAD, NULL);
  redisReply *r;
  int rc = 0;

  *letters = *kept = 0;
  if (dkey == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "dead: out of memory");
  if (glob_escape(esc, sizeof(esc), prefix) != 0) {
    free(dkey);
    return pacer_error_set(err, PACER_EINVAL, "dead: prefix too long");
  }
  snprintf(pat, sizeof(pat), "%s%s*", esc, PACER_KEYS_DEADJOB);
  do {
    const char *argv[6] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
    size_t i;

    r = pacer_redis_sync_command(c, 6, argv, "SCAN deadjob", err);
    if (r == NULL) {
      rc = PACER_EREDIS;
      break;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
      freeReplyObject(r);
      rc = pacer_error_set(err, PACER_EREDIS, "redis: SCAN: bad reply");
      break;
    }
    snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
    for (i = 0; i < r->element[1]->elements; i++) {
      const char *uargv[2] = {"UNLINK", r->element[1]->element[i]->str};
      redisReply *u =
          pacer_redis_sync_command(c, 2, uargv, "UNLINK deadjob", err);

      if (u == NULL) {
        rc = PACER_EREDIS;
        break;
      }
      *kept += u->type == REDIS_REPLY_INTEGER ? u->integer : 0;
      freeReplyObject(u);
    }
    freeReplyObject(r);
  } while (rc == 0 && strcmp(cursor, "0") != 0);
  if (rc == 0) {
    const char *xargv[2] = {"XLEN", dkey};
    const char *dargv[2] = {"DEL", dkey};

    r = pacer_redis_sync_command(c, 2, xargv, "XLEN dead", err);
    if (r != NULL) {
      *letters = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
      freeReplyObject(r);
      r = pacer_redis_sync_command(c, 2, dargv, "DEL dead", err);
    }
    if (r == NULL)
      rc = PACER_EREDIS;
    else
      freeReplyObject(r);
  }
  free(dkey);
  return rc;
}
