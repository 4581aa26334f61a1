/* Counters for GET /stats: sliding 1 s windows, per-account and per-token
 * keys, and the ring of finished-request records. Everything here runs
 * under api->mu; nothing reads a clock (times come in as now_ms). */
#include "testapi_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Sliding window                                                      */
/* ------------------------------------------------------------------ */

void
pacer_testapi_window_init(struct pacer_testapi_window *w, uint32_t cap_max)
{
  memset(w, 0, sizeof(*w));
  w->cap_max = cap_max;
}

static int
window_grow(struct pacer_testapi_window *w)
{
  uint32_t ncap;
  uint32_t i;
  uint64_t *t;

  ncap = w->cap > 0 ? w->cap * 2 : 16;
  if (ncap > w->cap_max || ncap < w->cap)
    ncap = w->cap_max;
  if (ncap <= w->cap)
    return -1;
  t = malloc((size_t)ncap * sizeof(*t));
  if (t == NULL)
    return -1;
  for (i = 0; i < w->len; i++)
    t[i] = w->t_ms[(w->head + i) % w->cap];
  free(w->t_ms);
  w->t_ms = t;
  w->head = 0;
  w->cap = ncap;
  return 0;
}

uint32_t
pacer_testapi_window_trim(struct pacer_testapi_window *w, uint64_t now_ms)
{
  /* Window is (now - 1000, now]: an entry exactly 1000 ms old is out. */
  while (w->len > 0 && w->t_ms[w->head] + PACER_TESTAPI_WINDOW_MS <= now_ms) {
    w->head = (w->head + 1) % w->cap;
    w->len--;
  }
  return w->len;
}

uint32_t
pacer_testapi_window_push(struct pacer_testapi_window *w, uint64_t now_ms)
{
  pacer_testapi_window_trim(w, now_ms);
  if (w->len == w->cap && window_grow(w) != 0) {
    w->saturated = 1;
    if (w->cap == 0)
      return 0;
    /* Full at the bound: forget the oldest, so counts become lower
     * bounds (flagged as saturated in /stats). */
    w->head = (w->head + 1) % w->cap;
    w->len--;
  }
  w->t_ms[(w->head + w->len) % w->cap] = now_ms;
  w->len++;
  if (w->len > w->max_count)
    w->max_count = w->len;
  return w->len;
}

void
pacer_testapi_window_free(struct pacer_testapi_window *w)
{
  uint32_t cap_max = w->cap_max;

  free(w->t_ms);
  pacer_testapi_window_init(w, cap_max);
}

/* ------------------------------------------------------------------ */
/* Keymap                                                              */
/* ------------------------------------------------------------------ */

static uint32_t
hash_name(const char *s)
{
  uint32_t h = 2166136261u; /* FNV-1a */

  while (*s != '\0') {
    h ^= (unsigned char)*s++;
    h *= 16777619u;
  }
  return h;
}

static struct pacer_testapi_key *
key_new(const char *name, uint32_t admit_cap)
{
  struct pacer_testapi_key *k = calloc(1, sizeof(*k));

  if (k == NULL)
    return NULL;
  snprintf(k->name, sizeof(k->name), "%s", name);
  pacer_testapi_window_init(&k->seen, PACER_TESTAPI_SEEN_CAP);
  pacer_testapi_window_init(&k->admit, admit_cap);
  return k;
}

static void
key_free(struct pacer_testapi_key *k)
{
  if (k == NULL)
    return;
  pacer_testapi_window_free(&k->seen);
  pacer_testapi_window_free(&k->admit);
  free(k);
}

struct pacer_testapi_key *
pacer_testapi_keymap_get(struct pacer_testapi_keymap *m, const char *name,
                         uint32_t admit_cap)
{
  uint32_t i;
  uint32_t n;
  struct pacer_testapi_key *k;

  i = hash_name(name) % PACER_TESTAPI_KEYMAP_SLOTS;
  for (n = 0; n < PACER_TESTAPI_KEYMAP_SLOTS; n++) {
    k = m->slot[i];
    if (k == NULL)
      break;
    if (strncmp(k->name, name, sizeof(k->name) - 1) == 0)
      return k;
    i = (i + 1) % PACER_TESTAPI_KEYMAP_SLOTS;
  }
  if (m->count >= PACER_TESTAPI_KEYMAP_MAX) {
    /* Bounded memory: every further key shares one entry. */
    if (strcmp(name, "(overflow)") == 0)
      return NULL;
    return pacer_testapi_keymap_get(m, "(overflow)", admit_cap);
  }
  k = key_new(name, admit_cap);
  if (k == NULL)
    return NULL;
  m->slot[i] = k;
  m->count++;
  return k;
}

void
pacer_testapi_keymap_clear(struct pacer_testapi_keymap *m)
{
  uint32_t i;

  for (i = 0; i < PACER_TESTAPI_KEYMAP_SLOTS; i++) {
    key_free(m->slot[i]);
    m->slot[i] = NULL;
  }
  m->count = 0;
}

/* ------------------------------------------------------------------ */
/* Stats                                                               */
/* ------------------------------------------------------------------ */

static const char *const kind_names[PACER_TESTAPI_KIND_COUNT] = {
    "fast",      "campaigns", "campaign_stats", "scoped",    "token",
    "echo",      "status",    "slow",           "big",       "big_chunked",
    "gzip_bomb", "drip",      "other",          "reporting",
};

const char *
pacer_testapi_kind_name(enum pacer_testapi_kind kind)
{
  if ((unsigned int)kind < PACER_TESTAPI_KIND_COUNT)
    return kind_names[kind];
  return "control";
}

int
pacer_testapi_stats_init(struct pacer_testapi_stats *s)
{
  memset(s, 0, sizeof(*s));
  pacer_testapi_window_init(&s->overall, PACER_TESTAPI_OVERALL_CAP);
  s->ring = calloc(PACER_TESTAPI_RECORDS, sizeof(*s->ring));
  if (s->ring == NULL)
    return -1;
  s->next_seq = 1;
  return 0;
}

void
pacer_testapi_stats_reset(struct pacer_testapi_stats *s)
{
  s->requests = 0;
  memset(s->by_status, 0, sizeof(s->by_status));
  memset(s->by_kind, 0, sizeof(s->by_kind));
  s->token_posts = 0;
  s->max_in_flight = s->in_flight;
  pacer_testapi_window_free(&s->overall);
  pacer_testapi_keymap_clear(&s->accounts);
  pacer_testapi_keymap_clear(&s->tokens);
  memset(s->ring, 0, PACER_TESTAPI_RECORDS * sizeof(*s->ring));
  /* next_seq keeps counting so a poller's `since` stays meaningful. */
}

void
pacer_testapi_stats_free(struct pacer_testapi_stats *s)
{
  pacer_testapi_window_free(&s->overall);
  pacer_testapi_keymap_clear(&s->accounts);
  pacer_testapi_keymap_clear(&s->tokens);
  free(s->ring);
  s->ring = NULL;
}

void
pacer_testapi_stats_record(struct pacer_testapi_stats *s,
                           const struct pacer_testapi_record *rec)
{
  struct pacer_testapi_record *dst;

  dst = &s->ring[s->next_seq % PACER_TESTAPI_RECORDS];
  *dst = *rec;
  dst->seq = s->next_seq++;
}

void
pacer_testapi_token_show(const char *token, char *out, size_t out_len)
{
  size_t n = strlen(token);

  /* Long tokens: a prefix plus a hash, so distinct tokens that share a
   * prefix (JWTs) stay distinct without printing the secret. */
  if (n > PACER_TESTAPI_TOKEN_SHOW)
    snprintf(out, out_len, "%.*s...%08x", (int)PACER_TESTAPI_TOKEN_SHOW, token,
             (unsigned int)hash_name(token));
  else
    snprintf(out, out_len, "%s", token);
}

static int
add_u64(cJSON *obj, const char *name, uint64_t v)
{
  /* cJSON numbers are doubles: exact up to 2^53, plenty for counters. */
  return cJSON_AddNumberToObject(obj, name, (double)v) != NULL ? 0 : -1;
}

static int
keymap_json(cJSON *parent, const char *name, struct pacer_testapi_keymap *m,
            uint64_t now_ms, uint32_t *max_out, int *saturated)
{
  cJSON *obj;
  cJSON *one;
  struct pacer_testapi_key *k;
  uint32_t i;
  int rc = 0;

  obj = cJSON_AddObjectToObject(parent, name);
  if (obj == NULL)
    return -1;
  for (i = 0; i < PACER_TESTAPI_KEYMAP_SLOTS; i++) {
    k = m->slot[i];
    if (k == NULL)
      continue;
    if (k->seen.max_count > *max_out)
      *max_out = k->seen.max_count;
    if (k->seen.saturated)
      *saturated = 1;
    one = cJSON_AddObjectToObject(obj, k->name);
    if (one == NULL)
      return -1;
    rc |= add_u64(one, "requests", k->requests);
    rc |= add_u64(one, "max_per_1s", k->seen.max_count);
    rc |=
        add_u64(one, "now_per_1s", pacer_testapi_window_trim(&k->seen, now_ms));
    rc |= add_u64(one, "limited", k->limited);
  }
  return rc;
}

cJSON *
pacer_testapi_stats_json(struct pacer_testapi_stats *s, uint64_t now_ms)
{
  cJSON *doc;
  cJSON *obj;
  char num[16];
  uint32_t max_acct = 0;
  uint32_t max_tok = 0;
  int saturated = s->overall.saturated;
  unsigned int i;
  int rc = 0;

  doc = cJSON_CreateObject();
  if (doc == NULL)
    return NULL;
  rc |= add_u64(doc, "uptime_ms", now_ms);
  rc |= add_u64(doc, "requests", s->requests);
  obj = cJSON_AddObjectToObject(doc, "by_status");
  if (obj == NULL)
    goto fail;
  for (i = 0; i < PACER_TESTAPI_MAX_STATUS; i++) {
    if (s->by_status[i] == 0)
      continue;
    snprintf(num, sizeof(num), "%u", i);
    rc |= add_u64(obj, num, s->by_status[i]);
  }
  obj = cJSON_AddObjectToObject(doc, "by_path");
  if (obj == NULL)
    goto fail;
  for (i = 0; i < PACER_TESTAPI_KIND_COUNT; i++)
    rc |= add_u64(obj, kind_names[i], s->by_kind[i]);
  rc |= keymap_json(doc, "by_account", &s->accounts, now_ms, &max_acct,
                    &saturated);
  rc |= keymap_json(doc, "by_token", &s->tokens, now_ms, &max_tok, &saturated);
  rc |= add_u64(doc, "token_posts", s->token_posts);
  rc |= add_u64(doc, "status_401", s->by_status[401]);
  rc |= add_u64(doc, "status_403", s->by_status[403]);
  rc |= add_u64(doc, "status_429", s->by_status[429]);
  rc |= add_u64(doc, "status_503", s->by_status[503]);
  rc |= add_u64(doc, "dropped", s->by_status[0]);
  rc |= add_u64(doc, "max_per_1s", s->overall.max_count);
  rc |= add_u64(doc, "now_per_1s",
                pacer_testapi_window_trim(&s->overall, now_ms));
  rc |= add_u64(doc, "max_per_1s_account", max_acct);
  rc |= add_u64(doc, "max_per_1s_token", max_tok);
  if (cJSON_AddBoolToObject(doc, "window_saturated", saturated) == NULL)
    goto fail;
  rc |= add_u64(doc, "in_flight", s->in_flight);
  rc |= add_u64(doc, "max_in_flight", s->max_in_flight);
  rc |= add_u64(doc, "last_seq", s->next_seq - 1);
  if (rc != 0)
    goto fail;
  return doc;
fail:
  cJSON_Delete(doc);
  return NULL;
}

cJSON *
pacer_testapi_record_json(const struct pacer_testapi_record *rec)
{
  cJSON *o = cJSON_CreateObject();
  int rc = 0;

  if (o == NULL)
    return NULL;
  rc |= add_u64(o, "seq", rec->seq);
  rc |= add_u64(o, "t_ms", rec->t_ms);
  rc |= cJSON_AddStringToObject(o, "method", rec->method) ? 0 : -1;
  rc |= cJSON_AddStringToObject(o, "path", rec->path) ? 0 : -1;
  rc |= add_u64(o, "status", rec->status);
  if (rec->account[0] != '\0')
    rc |= cJSON_AddStringToObject(o, "account", rec->account) ? 0 : -1;
  if (rec->token[0] != '\0')
    rc |= cJSON_AddStringToObject(o, "token", rec->token) ? 0 : -1;
  if (rec->refresh[0] != '\0')
    rc |= cJSON_AddStringToObject(o, "refresh_token", rec->refresh) ? 0 : -1;
  if (rec->client_id[0] != '\0')
    rc |= cJSON_AddStringToObject(o, "client_id", rec->client_id) ? 0 : -1;
  if (rec->idem[0] != '\0')
    rc |= cJSON_AddStringToObject(o, "idempotency_key", rec->idem) ? 0 : -1;
  rc |= add_u64(o, "body_bytes", rec->body_bytes);
  if (rc != 0) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

cJSON *
pacer_testapi_stats_records_json(struct pacer_testapi_stats *s, uint64_t since,
                                 uint32_t limit)
{
  cJSON *doc;
  cJSON *arr;
  cJSON *one;
  uint64_t first;
  uint64_t seq;
  uint64_t last = s->next_seq - 1;
  uint32_t n = 0;

  doc = cJSON_CreateObject();
  if (doc == NULL)
    return NULL;
  arr = cJSON_AddArrayToObject(doc, "requests");
  if (arr == NULL)
    goto fail;
  first = since + 1;
  if (last >= PACER_TESTAPI_RECORDS && first <= last - PACER_TESTAPI_RECORDS)
    first = last - PACER_TESTAPI_RECORDS + 1;
  for (seq = first; seq <= last && n < limit; seq++) {
    const struct pacer_testapi_record *r;

    r = &s->ring[seq % PACER_TESTAPI_RECORDS];
    if (r->seq != seq)
      continue; /* cleared by /admin/reset */
    one = pacer_testapi_record_json(r);
    if (one == NULL)
      goto fail;
    if (!cJSON_AddItemToArray(arr, one)) {
      cJSON_Delete(one);
      goto fail;
    }
    n++;
  }
  if (add_u64(doc, "next", seq - 1 > since ? seq - 1 : since) != 0)
    goto fail;
  if (add_u64(doc, "first_kept",
              last >= PACER_TESTAPI_RECORDS ? last - PACER_TESTAPI_RECORDS + 1
                                            : 1) != 0)
    goto fail;
  return doc;
fail:
  cJSON_Delete(doc);
  return NULL;
}
