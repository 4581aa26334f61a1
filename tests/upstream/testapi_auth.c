/* Access/refresh token store. Pure core: no clock, no I/O, no locking
 * (the caller holds api->mu). Tokens are "AT-<n>" / "RT-<n>"; slot n % SLOTS
 * holds token n, so memory is fixed and very old tokens become unknown. */
#include "testapi_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096u /* tokens of each kind remembered */

enum tok_state { TOK_ACTIVE = 0, TOK_ROTATED, TOK_REVOKED };

struct tok {
  uint64_t n;          /* token number */
  uint64_t family;     /* mint that started the chain */
  uint64_t expires_ms; /* access tokens: expiry, ms since start */
  int used;            /* slot holds token n */
  enum tok_state state;
};

struct pacer_testapi_tokens {
  uint64_t ttl_ms;      /* access-token lifetime */
  int rotate;           /* refresh grants issue a new refresh token */
  uint64_t next_n;      /* number of the next token */
  uint64_t next_family; /* id of the next mint */
  struct tok access[SLOTS];
  struct tok refresh[SLOTS];
  struct pacer_testapi_token_counts counts;
};

/* Parses "<prefix><decimal>" into *n. Returns 0 or -1. */
static int
parse_tok(const char *s, const char *prefix, uint64_t *n)
{
  size_t plen = strlen(prefix);
  uint64_t v = 0;
  const char *p;

  if (strncmp(s, prefix, plen) != 0)
    return -1;
  p = s + plen;
  if (*p < '0' || *p > '9' || strlen(p) > 19)
    return -1;
  for (; *p != '\0'; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *n = v;
  return 0;
}

static struct tok *
find(struct tok *table, const char *s, const char *prefix, uint64_t next_n)
{
  uint64_t n;
  struct tok *t;

  if (parse_tok(s, prefix, &n) != 0 || n >= next_n)
    return NULL;
  t = &table[n % SLOTS];
  if (!t->used || t->n != n)
    return NULL;
  return t;
}

static uint64_t
expires_in_s(uint64_t ttl_ms)
{
  /* RFC 6749 §5.1 expires_in is whole seconds; never advertise 0. */
  return ttl_ms >= 2000 ? ttl_ms / 1000 : 1;
}

static void
issue(struct pacer_testapi_tokens *t, uint64_t family, int with_refresh,
      uint64_t now_ms, struct pacer_testapi_grant *g)
{
  uint64_t n = t->next_n++;
  struct tok *a = &t->access[n % SLOTS];

  a->n = n;
  a->family = family;
  a->expires_ms = now_ms + t->ttl_ms;
  a->used = 1;
  a->state = TOK_ACTIVE;
  snprintf(g->access_token, sizeof(g->access_token), "AT-%llu",
           (unsigned long long)n);
  g->expires_in_s = expires_in_s(t->ttl_ms);
  if (with_refresh) {
    struct tok *r = &t->refresh[n % SLOTS];

    r->n = n;
    r->family = family;
    r->expires_ms = 0;
    r->used = 1;
    r->state = TOK_ACTIVE;
    snprintf(g->refresh_token, sizeof(g->refresh_token), "RT-%llu",
             (unsigned long long)n);
  }
}

struct pacer_testapi_tokens *
pacer_testapi_tokens_new(uint64_t ttl_ms, int rotate)
{
  struct pacer_testapi_tokens *t = calloc(1, sizeof(*t));

  if (t == NULL)
    return NULL;
  t->ttl_ms = ttl_ms;
  t->rotate = rotate;
  /* RT-0 is valid at start, with no access token yet. */
  t->refresh[0].used = 1;
  t->refresh[0].state = TOK_ACTIVE;
  t->next_n = 1;
  t->next_family = 1;
  t->counts.minted = 1;
  return t;
}

void
pacer_testapi_tokens_free(struct pacer_testapi_tokens *t)
{
  free(t);
}

enum pacer_testapi_tok
pacer_testapi_tokens_check(struct pacer_testapi_tokens *t, const char *access,
                           uint64_t now_ms)
{
  struct tok *a = find(t->access, access, "AT-", t->next_n);

  if (a == NULL)
    return PACER_TESTAPI_TOK_UNKNOWN;
  if (a->state == TOK_REVOKED)
    return PACER_TESTAPI_TOK_REVOKED;
  if (now_ms >= a->expires_ms)
    return PACER_TESTAPI_TOK_EXPIRED;
  return PACER_TESTAPI_TOK_OK;
}

static void
revoke_family(struct pacer_testapi_tokens *t, uint64_t family)
{
  uint32_t i;

  for (i = 0; i < SLOTS; i++) {
    if (t->access[i].used && t->access[i].family == family)
      t->access[i].state = TOK_REVOKED;
    if (t->refresh[i].used && t->refresh[i].family == family)
      t->refresh[i].state = TOK_REVOKED;
  }
}

enum pacer_testapi_tok
pacer_testapi_tokens_refresh(struct pacer_testapi_tokens *t,
                             const char *refresh, uint64_t now_ms,
                             struct pacer_testapi_grant *g)
{
  struct tok *r = find(t->refresh, refresh, "RT-", t->next_n);

  if (r == NULL) {
    t->counts.invalid_grant++;
    return PACER_TESTAPI_TOK_UNKNOWN;
  }
  if (r->state == TOK_REVOKED) {
    t->counts.invalid_grant++;
    return PACER_TESTAPI_TOK_REVOKED;
  }
  if (r->state == TOK_ROTATED) {
    /* Security BCP §4.14.2: reuse of a rotated token means theft;
     * revoke the whole family, the legitimate holder's tokens too. */
    revoke_family(t, r->family);
    t->counts.invalid_grant++;
    t->counts.family_revocations++;
    return PACER_TESTAPI_TOK_REUSED;
  }
  if (t->rotate) {
    r->state = TOK_ROTATED;
    issue(t, r->family, 1, now_ms, g);
  } else {
    issue(t, r->family, 0, now_ms, g);
    snprintf(g->refresh_token, sizeof(g->refresh_token), "%s", refresh);
  }
  t->counts.refreshed++;
  return PACER_TESTAPI_TOK_OK;
}

void
pacer_testapi_tokens_mint(struct pacer_testapi_tokens *t, uint64_t now_ms,
                          struct pacer_testapi_grant *g)
{
  issue(t, t->next_family++, 1, now_ms, g);
  t->counts.minted++;
}

void
pacer_testapi_tokens_revoke_all(struct pacer_testapi_tokens *t)
{
  uint32_t i;

  for (i = 0; i < SLOTS; i++) {
    t->access[i].state = TOK_REVOKED;
    t->refresh[i].state = TOK_REVOKED;
  }
}

void
pacer_testapi_tokens_expire_all(struct pacer_testapi_tokens *t, uint64_t now_ms)
{
  uint32_t i;

  for (i = 0; i < SLOTS; i++) {
    if (t->access[i].used && t->access[i].expires_ms > now_ms)
      t->access[i].expires_ms = now_ms;
  }
}

struct pacer_testapi_token_counts
pacer_testapi_tokens_counts(const struct pacer_testapi_tokens *t)
{
  return t->counts;
}
