/* Credential state for `pacer cred show` and `pacer stats` (layout in
 * cred_state.h).
 *
 * Tokens never reach this process: the hash is read with HMGET for the
 * non-secret fields and HSTRLEN for access_token and refresh_token, so
 * nothing here can print, log or leak one (docs/CREDENTIALS.md). */
#include "store/cred_state.h"

#include <stdlib.h>
#include <string.h>

#include "store/keys.h"

#define PARK_PAGE 1000 /* parked members per ZRANGEBYSCORE, members */

/* HMGET fields, in reply order. */
enum hfield { H_STATUS = 0, H_GENERATION, H_EXPIRES, H_ERROR, H_UPDATED, H_N };

static const char *const hfields[H_N] = {
    PACER_KEYS_CRED_F_STATUS, PACER_KEYS_CRED_F_GENERATION,
    PACER_KEYS_CRED_F_EXPIRES, PACER_KEYS_CRED_F_LAST_ERROR,
    PACER_KEYS_CRED_F_UPDATED};

/* Replies per credential in the pipeline: HMGET, HSTRLEN x2, PTTL. */
#define PER_CRED 4

char *
pacer_cli_key(const char *prefix, const char *what, const char *name)
{
  size_t n = strlen(prefix) + strlen(what) + strlen(name) + 1;
  char *k = malloc(n);

  if (k != NULL)
    snprintf(k, n, "%s%s%s", prefix, what, name);
  return k;
}

/* Copies s[0..len) into out[0..size) with bytes outside %x20-7E as '?':
 * the text came from Redis and goes to a terminal. */
static void
copy_printable(char *out, size_t size, const char *s, size_t len)
{
  size_t i;

  if (len > size - 1)
    len = size - 1;
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];

    out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  out[len] = '\0';
}

static long long
reply_ll(const redisReply *r)
{
  if (r->type == REDIS_REPLY_INTEGER)
    return r->integer;
  if (r->type == REDIS_REPLY_STRING)
    return strtoll(r->str, NULL, 10);
  return 0;
}

static int
append(redisContext *c, int argc, const char **argv, struct pacer_error *err)
{
  size_t lens[8];
  int i;

  for (i = 0; i < argc; i++)
    lens[i] = strlen(argv[i]);
  if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK)
    return pacer_error_set(err, PACER_ENOMEM, "redis: %s: %s", argv[0],
                           c->errstr[0] != '\0' ? c->errstr : "out of memory");
  return 0;
}

/* Redis TIME in unix ms. */
static int
redis_now_ms(redisContext *c, long long *now_ms, struct pacer_error *err)
{
  redisReply *t = redisCommand(c, "TIME");

  if (t == NULL)
    return pacer_error_set(err, PACER_EREDIS, "redis: TIME: %s",
                           c->errstr[0] != '\0' ? c->errstr : "no reply");
  if (t->type != REDIS_REPLY_ARRAY || t->elements != 2 ||
      t->element[0]->type != REDIS_REPLY_STRING ||
      t->element[1]->type != REDIS_REPLY_STRING) {
    freeReplyObject(t);
    return pacer_error_set(err, PACER_EREDIS, "redis: TIME: unexpected reply");
  }
  *now_ms = strtoll(t->element[0]->str, NULL, 10) * 1000 +
            strtoll(t->element[1]->str, NULL, 10) / 1000;
  freeReplyObject(t);
  return 0;
}

/* Fills one credential from its four replies. */
static int
fill(struct pacer_cli_cred *cr, redisReply **r, long long now_ms,
     struct pacer_error *err)
{
  const redisReply *h = r[0];
  long long expires_at_ms;
  int i;

  for (i = 0; i < PER_CRED; i++) {
    if (r[i]->type == REDIS_REPLY_ERROR)
      return pacer_error_set(err, PACER_EREDIS, "redis: credential %s: %s",
                             cr->name, r[i]->str);
  }
  if (h->type != REDIS_REPLY_ARRAY || h->elements != H_N)
    return pacer_error_set(err, PACER_EREDIS,
                           "redis: credential %s: unexpected HMGET reply",
                           cr->name);
  if (h->element[H_STATUS]->type == REDIS_REPLY_STRING &&
      h->element[H_STATUS]->len > 0)
    copy_printable(cr->status, sizeof(cr->status), h->element[H_STATUS]->str,
                   h->element[H_STATUS]->len);
  else
    snprintf(cr->status, sizeof(cr->status), "unused");
  cr->generation = reply_ll(h->element[H_GENERATION]);
  expires_at_ms = reply_ll(h->element[H_EXPIRES]);
  if (h->element[H_ERROR]->type == REDIS_REPLY_STRING)
    copy_printable(cr->last_error, sizeof(cr->last_error),
                   h->element[H_ERROR]->str, h->element[H_ERROR]->len);
  cr->updated_at_ms = reply_ll(h->element[H_UPDATED]);
  cr->access_token_set = reply_ll(r[1]) > 0;
  cr->refresh_token_set = reply_ll(r[2]) > 0;
  /* PTTL: -2 no key, -1 no expiry (the lock always has one) */
  cr->lock_ttl_ms = reply_ll(r[3]);
  if (cr->lock_ttl_ms == -2)
    cr->lock_ttl_ms = -1;
  else if (cr->lock_ttl_ms < 0)
    cr->lock_ttl_ms = 0; /* held without expiry: shown as held */
  if (cr->access_token_set && expires_at_ms > 0) {
    long long left_ms = expires_at_ms - now_ms;

    cr->has_expiry = 1;
    /* round toward minus infinity: 0.5 s left is 0, 0.5 s ago is -1 */
    cr->expires_in_s =
        left_ms >= 0 ? left_ms / 1000 : -((999 - left_ms) / 1000);
  }
  return 0;
}

/* One pipeline for all credentials: PER_CRED commands each. */
static int
read_hashes(redisContext *c, const char *prefix, struct pacer_cli_creds *cs,
            long long now_ms, struct pacer_error *err)
{
  redisReply *r[PER_CRED];
  size_t i, got = 0, sent = 0;
  int rc = 0, j;

  for (i = 0; i < cs->n; i++) {
    char *hkey = pacer_cli_key(prefix, PACER_KEYS_CRED_HASH, cs->v[i].name);
    char *lkey = pacer_cli_key(prefix, PACER_KEYS_CRED_LOCK, cs->v[i].name);
    const char *hmget[2 + H_N];
    const char *at[3] = {"HSTRLEN", hkey, PACER_KEYS_CRED_F_ACCESS};
    const char *rt[3] = {"HSTRLEN", hkey, PACER_KEYS_CRED_F_REFRESH};
    const char *pttl[2] = {"PTTL", lkey};

    if (hkey == NULL || lkey == NULL) {
      rc = pacer_error_set(err, PACER_ENOMEM, "credentials: out of memory");
    } else {
      hmget[0] = "HMGET";
      hmget[1] = hkey;
      for (j = 0; j < H_N; j++)
        hmget[2 + j] = hfields[j];
      if ((rc = append(c, 2 + H_N, hmget, err)) == 0 &&
          (rc = append(c, 3, at, err)) == 0 &&
          (rc = append(c, 3, rt, err)) == 0)
        rc = append(c, 2, pttl, err);
    }
    free(hkey);
    free(lkey);
    if (rc != 0)
      break;
    sent++;
  }
  /* Read every reply that was sent, even after a failure, so the
   * connection stays in step. */
  for (got = 0; got < sent; got++) {
    int ok = 1;

    for (j = 0; j < PER_CRED; j++)
      r[j] = NULL;
    for (j = 0; j < PER_CRED; j++) {
      if (redisGetReply(c, (void **)&r[j]) != REDIS_OK || r[j] == NULL) {
        ok = 0;
        break;
      }
    }
    if (!ok) {
      if (rc == 0)
        rc = pacer_error_set(err, PACER_EREDIS, "redis: credentials: %s",
                             c->errstr[0] != '\0' ? c->errstr : "no reply");
    } else if (rc == 0) {
      rc = fill(&cs->v[got], r, now_ms, err);
    }
    for (j = 0; j < PER_CRED; j++) {
      if (r[j] != NULL)
        freeReplyObject(r[j]);
    }
    if (!ok)
      break; /* the connection is broken; nothing more will come */
  }
  return rc;
}

/* The job JSON of a delayed member "<id>\n<attempt>\n[<tag>\n]<JSON>":
 * from the first '{' after the attempt line (an id may hold '{'). */
static const char *
member_json(const char *m, size_t len, size_t *jlen)
{
  const char *end = m + len, *p, *brace;

  p = memchr(m, '\n', len);
  if (p != NULL)
    p = memchr(p + 1, '\n', (size_t)(end - (p + 1)));
  p = p != NULL ? p + 1 : m;
  brace = memchr(p, '{', (size_t)(end - p));
  if (brace == NULL)
    return NULL;
  *jlen = (size_t)(end - brace);
  return brace;
}

/* Counts one parked member under its job's credential (one of cfg's that
 * cs does not show is skipped). */
static void
count_member(struct pacer_cli_creds *cs, const struct pacer_config *cfg,
             const redisReply *m)
{
  const cJSON *cred;
  const char *json;
  cJSON *doc = NULL;
  size_t jlen = 0, i;

  if (m->type == REDIS_REPLY_STRING &&
      (json = member_json(m->str, m->len, &jlen)) != NULL)
    doc = cJSON_ParseWithLengthOpts(json, jlen, NULL, 0);
  cred = cJSON_GetObjectItemCaseSensitive(doc, "credential");
  if (cJSON_IsString(cred)) {
    for (i = 0; i < cs->n; i++) {
      if (strcmp(cs->v[i].name, cred->valuestring) == 0) {
        cs->v[i].parked++;
        break;
      }
    }
    if (i == cs->n && pacer_config_credential(cfg, cred->valuestring) == NULL)
      cs->parked_unmatched++;
  } else {
    cs->parked_unmatched++;
  }
  cJSON_Delete(doc);
}

/* ZCOUNT, then the parked members page by page. */
static int
read_parked(redisContext *c, const struct pacer_config *cfg,
            struct pacer_cli_creds *cs, struct pacer_error *err)
{
  char park[32], off[32], page[16];
  char *dkey = pacer_cli_key(cfg->prefix, "delayed", "");
  long long seen = 0;
  redisReply *r;
  size_t i;
  int rc = 0;

  if (dkey == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "credentials: out of memory");
  snprintf(park, sizeof(park), "%lld", PACER_KEYS_PARK_SCORE_MS);
  snprintf(page, sizeof(page), "%d", PARK_PAGE);
  {
    const char *argv[4] = {"ZCOUNT", dkey, park, "+inf"};
    size_t lens[4] = {6, strlen(dkey), strlen(park), 4};

    r = redisCommandArgv(c, 4, argv, lens);
  }
  if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
    rc = pacer_error_set(err, PACER_EREDIS, "redis: ZCOUNT %s: %s", dkey,
                         r == NULL                      ? c->errstr
                         : r->type == REDIS_REPLY_ERROR ? r->str
                                                        : "unexpected reply");
    goto out;
  }
  cs->parked_total = r->integer;
  freeReplyObject(r);
  r = NULL;

  /* Offsets shift if members move meanwhile: the counts are a snapshot
   * per page, good enough for a status display. */
  while (seen < cs->parked_total && seen < PACER_CLI_CRED_PARK_SCAN_MAX) {
    const char *argv[7] = {"ZRANGEBYSCORE", dkey, park, "+inf",
                           "LIMIT",         off,  page};
    size_t lens[7];
    int k;

    snprintf(off, sizeof(off), "%lld", seen);
    for (k = 0; k < 7; k++)
      lens[k] = strlen(argv[k]);
    r = redisCommandArgv(c, 7, argv, lens);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
      rc = pacer_error_set(err, PACER_EREDIS, "redis: ZRANGEBYSCORE %s: %s",
                           dkey,
                           r == NULL                      ? c->errstr
                           : r->type == REDIS_REPLY_ERROR ? r->str
                                                          : "unexpected reply");
      goto out;
    }
    if (r->elements == 0)
      break;
    for (i = 0; i < r->elements && seen < PACER_CLI_CRED_PARK_SCAN_MAX;
         i++, seen++)
      count_member(cs, cfg, r->element[i]);
    freeReplyObject(r);
    r = NULL;
  }
  cs->parked_truncated = cs->parked_total > seen;

out:
  if (r != NULL)
    freeReplyObject(r);
  free(dkey);
  return rc;
}

void
pacer_cli_cred_cells(const struct pacer_cli_cred *cr,
                     char exp[PACER_CLI_CRED_CELL],
                     char lock[PACER_CLI_CRED_CELL])
{
  if (!cr->has_expiry)
    snprintf(exp, PACER_CLI_CRED_CELL, "-");
  else if (cr->expires_in_s < 0)
    snprintf(exp, PACER_CLI_CRED_CELL, "expired");
  else
    snprintf(exp, PACER_CLI_CRED_CELL, "%llds", cr->expires_in_s);
  if (cr->lock_ttl_ms < 0)
    snprintf(lock, PACER_CLI_CRED_CELL, "-");
  else
    snprintf(lock, PACER_CLI_CRED_CELL, "held %lldms", cr->lock_ttl_ms);
}

int
pacer_cli_creds_collect(redisContext *c, const struct pacer_config *cfg,
                        const char *only_name, struct pacer_cli_creds *out,
                        struct pacer_error *err)
{
  long long now_ms = 0;
  size_t i;
  int rc;

  memset(out, 0, sizeof(*out));
  if (only_name != NULL && pacer_config_credential(cfg, only_name) == NULL)
    return pacer_error_set(err, PACER_ENOTFOUND,
                           "credential \"%s\" is not in the configuration "
                           "(check --config)",
                           only_name);
  if (cfg->ncreds == 0)
    return 0;
  out->v = calloc(cfg->ncreds, sizeof(*out->v));
  if (out->v == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "credentials: out of memory");
  for (i = 0; i < cfg->ncreds; i++) {
    if (only_name != NULL && strcmp(cfg->creds[i].name, only_name) != 0)
      continue;
    snprintf(out->v[out->n].name, sizeof(out->v[0].name), "%s",
             cfg->creds[i].name);
    out->v[out->n].lock_ttl_ms = -1;
    out->n++;
  }
  if ((rc = redis_now_ms(c, &now_ms, err)) != 0 ||
      (rc = read_hashes(c, cfg->prefix, out, now_ms, err)) != 0)
    return rc;
  return read_parked(c, cfg, out, err);
}

void
pacer_cli_creds_free(struct pacer_cli_creds *cs)
{
  if (cs == NULL)
    return;
  free(cs->v);
  cs->v = NULL;
  cs->n = 0;
}

/* ------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------ */

static int
needs_reauth(const struct pacer_cli_cred *cr)
{
  return strcmp(cr->status, "reauth_required") == 0;
}

void
pacer_cli_creds_print_text(FILE *out, const struct pacer_cli_creds *cs,
                           const char *indent)
{
  size_t i, width = 4;

  if (cs->n == 0)
    return;
  for (i = 0; i < cs->n; i++) {
    size_t n = strlen(cs->v[i].name);

    if (n > width)
      width = n;
  }
  fprintf(out, "%s%-*s %-15s %5s %10s %6s %7s %7s %12s  %s\n", indent,
          (int)width, "NAME", "STATUS", "GEN", "EXPIRES_IN", "ACCESS",
          "REFRESH", "PARKED", "REFRESH_LOCK", "LAST_ERROR");
  for (i = 0; i < cs->n; i++) {
    const struct pacer_cli_cred *cr = &cs->v[i];
    char exp[PACER_CLI_CRED_CELL], lock[PACER_CLI_CRED_CELL];

    pacer_cli_cred_cells(cr, exp, lock);
    fprintf(out, "%s%-*s %-15s %5lld %10s %6s %7s %7lld %12s  %s\n", indent,
            (int)width, cr->name, cr->status, cr->generation, exp,
            cr->access_token_set ? "set" : "none",
            cr->refresh_token_set ? "set" : "none", cr->parked, lock,
            cr->last_error[0] != '\0' ? cr->last_error : "-");
  }
  for (i = 0; i < cs->n; i++) {
    if (needs_reauth(&cs->v[i]))
      fprintf(out,
              "%scredential %s needs re-authorisation; its jobs are parked. "
              "Fix: pacer cred set %s --refresh-token-file FILE (or sign "
              "in again: pacer cred authorize %s)\n",
              indent, cs->v[i].name, cs->v[i].name, cs->v[i].name);
  }
  if (cs->parked_unmatched > 0)
    fprintf(out,
            "%s%lld parked job%s no configured credential or cannot be "
            "read\n",
            indent, cs->parked_unmatched,
            cs->parked_unmatched == 1 ? " names" : "s name");
  if (cs->parked_truncated)
    fprintf(out, "%sonly the first %d of %lld parked jobs were counted\n",
            indent, PACER_CLI_CRED_PARK_SCAN_MAX, cs->parked_total);
}

static int
cred_json(cJSON *j, const struct pacer_cli_cred *cr)
{
  char fix[PACER_CRED_NAME_MAX + 64];
  int ok;

  /* cJSON numbers are doubles: exact below 2^53. */
  ok =
      cJSON_AddStringToObject(j, "name", cr->name) != NULL &&
      cJSON_AddStringToObject(j, "status", cr->status) != NULL &&
      cJSON_AddNumberToObject(j, "generation", (double)cr->generation) !=
          NULL &&
      (cr->has_expiry ? cJSON_AddNumberToObject(j, "expires_in_s",
                                                (double)cr->expires_in_s)
                      : cJSON_AddNullToObject(j, "expires_in_s")) != NULL &&
      cJSON_AddStringToObject(j, "access_token",
                              cr->access_token_set ? "set" : "none") != NULL &&
      cJSON_AddStringToObject(j, "refresh_token",
                              cr->refresh_token_set ? "set" : "none") != NULL &&
      cJSON_AddNumberToObject(j, "parked", (double)cr->parked) != NULL &&
      cJSON_AddBoolToObject(j, "refresh_lock_held", cr->lock_ttl_ms >= 0) !=
          NULL &&
      (cr->lock_ttl_ms >= 0
           ? cJSON_AddNumberToObject(j, "refresh_lock_ttl_ms",
                                     (double)cr->lock_ttl_ms)
           : cJSON_AddNullToObject(j, "refresh_lock_ttl_ms")) != NULL &&
      cJSON_AddStringToObject(j, "last_error", cr->last_error) != NULL &&
      cJSON_AddNumberToObject(j, "updated_at_ms", (double)cr->updated_at_ms) !=
          NULL;
  if (ok && needs_reauth(cr)) {
    snprintf(fix, sizeof(fix), "pacer cred set %s --refresh-token-file FILE",
             cr->name);
    ok = cJSON_AddStringToObject(j, "fix", fix) != NULL;
  }
  return ok;
}

int
pacer_cli_creds_add_json(cJSON *obj, const struct pacer_cli_creds *cs)
{
  cJSON *arr = cJSON_AddArrayToObject(obj, "credentials");
  size_t i;

  if (arr == NULL)
    return PACER_ENOMEM;
  for (i = 0; i < cs->n; i++) {
    cJSON *j = cJSON_CreateObject();

    if (j == NULL || !cJSON_AddItemToArray(arr, j)) {
      cJSON_Delete(j);
      return PACER_ENOMEM;
    }
    if (!cred_json(j, &cs->v[i]))
      return PACER_ENOMEM;
  }
  return 0;
}
