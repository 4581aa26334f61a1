/* Throttle rules, matching: which rule a response meets and the delay it
 * asks for (core/throttle_rule.h). Parsing is core/throttle_rule_parse.c,
 * the presets core/throttle_preset.c; tests/unit/test_throttle_rule.c
 * pins both. */
#include "core/throttle_rule.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_int.h"
#include "core/json_pointer.h"
#include "core/retry_after.h"

#define DELAY_MAX_MS PACER_RETRY_AFTER_MAX_MS /* any delay saturates here */

/* ------------------------------------------------------------------------
 * Durations
 * ------------------------------------------------------------------------ */

/* Reads "<digits>[.<digits>]" from *p as thousandths of one unit, rounding
 * up beyond them; advances *p. Returns -1 when there are no digits. */
static int
decimal_milli(const char **p, uint64_t *milli)
{
  const char *s = *p;
  uint64_t whole = 0, frac = 0;
  int nd = 0, nf = 0, up = 0;

  for (; *s >= '0' && *s <= '9'; s++, nd++) {
    if (whole > UINT64_C(100000000000000000))
      return -1;
    whole = whole * 10 + (uint64_t)(*s - '0');
  }
  if (*s == '.') {
    s++;
    for (; *s >= '0' && *s <= '9'; s++, nf++) {
      if (nf < 3)
        frac = frac * 10 + (uint64_t)(*s - '0');
      else if (*s != '0')
        up = 1;
    }
    if (nf == 0)
      return -1;
  }
  if (nd == 0)
    return -1;
  for (; nf < 3; nf++)
    frac *= 10;
  *milli = whole * 1000 + frac + (uint64_t)up;
  *p = s;
  return 0;
}

/* value (thousandths of a unit of unit_ms) in ms, rounded up. */
static int
scaled(uint64_t milli, uint64_t unit_ms, uint64_t *ms)
{
  if (milli > DELAY_MAX_MS / unit_ms * 1000)
    return -1;
  *ms = (milli * unit_ms + 999) / 1000;
  return 0;
}

/* ISO 8601-1 §5.5.2.4: "P" [n "D"] ["T" [n "H"] [n "M"] [n "S"]], at least
 * one part, a fraction only on the last (seconds here). */
static int
iso_duration(const char *s, uint64_t *ms)
{
  static const struct {
    char c;
    uint64_t ms;
    int in_time; /* after "T" */
  } parts[] = {
      {'D', 86400000, 0}, {'H', 3600000, 1}, {'M', 60000, 1}, {'S', 1000, 1}};
  uint64_t total = 0, milli, v;
  size_t i = 0;
  int in_time = 0, any = 0;

  if (*s++ != 'P')
    return -1;
  while (*s != '\0') {
    if (*s == 'T' && !in_time) {
      in_time = 1;
      s++;
      if (*s == '\0')
        return -1;
      continue;
    }
    if (decimal_milli(&s, &milli) != 0)
      return -1;
    for (; i < sizeof(parts) / sizeof(parts[0]); i++) {
      if (parts[i].c == *s && parts[i].in_time == in_time)
        break;
    }
    if (i == sizeof(parts) / sizeof(parts[0]))
      return -1; /* out of order, Y/M/W, or a stray letter */
    if (scaled(milli, parts[i].ms, &v) != 0 || total > DELAY_MAX_MS - v)
      return -1;
    total += v;
    any = 1;
    i++;
    s++;
  }
  if (!any)
    return -1;
  *ms = total;
  return 0;
}

int
pacer_tr_duration_ms(const char *s, uint64_t *ms)
{
  uint64_t milli, unit;

  if (s == NULL || s[0] == '\0')
    return -1;
  if (s[0] == 'P')
    return iso_duration(s, ms);
  if (decimal_milli(&s, &milli) != 0)
    return -1;
  if (strcmp(s, "s") == 0)
    unit = 1000;
  else if (strcmp(s, "ms") == 0)
    unit = 1;
  else if (strcmp(s, "m") == 0)
    unit = 60000;
  else if (strcmp(s, "h") == 0)
    unit = 3600000;
  else
    return -1;
  return scaled(milli, unit, ms);
}

/* ------------------------------------------------------------------------
 * Values: numbers and numeric text
 * ------------------------------------------------------------------------ */

/* A non-negative number from v: a JSON number, or a string holding only a
 * decimal (surrounding spaces allowed). Returns 0 and *out as
 * thousandths, or -1. */
static int
number_milli(const cJSON *v, uint64_t *milli)
{
  const char *s;

  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;

    if (!(d >= 0) || d > 1e15)
      return -1;
    *milli = (uint64_t)(d * 1000.0);
    if ((double)*milli < d * 1000.0)
      (*milli)++; /* round up: never shorter than asked */
    return 0;
  }
  if (!cJSON_IsString(v))
    return -1;
  for (s = v->valuestring; *s == ' ' || *s == '\t'; s++)
    ;
  if (decimal_milli(&s, milli) != 0)
    return -1;
  while (*s == ' ' || *s == '\t')
    s++;
  return *s == '\0' ? 0 : -1;
}

/* The delay value v (borrowed) reads as, in unit, at now. Returns 0 with
 * *ms (0 for a in_time already passed), or -1 when v is not such a value. */
static int
value_delay(const cJSON *v, enum pacer_tr_unit unit, uint64_t now_unix_ms,
            uint64_t *ms)
{
  uint64_t milli, at_ms;
  int64_t unix_s;

  switch (unit) {
  case PACER_TR_SECONDS:
    return number_milli(v, &milli) == 0 ? scaled(milli, 1000, ms) : -1;
  case PACER_TR_MS:
    return number_milli(v, &milli) == 0 ? scaled(milli, 1, ms) : -1;
  case PACER_TR_MINUTES:
    return number_milli(v, &milli) == 0 ? scaled(milli, 60000, ms) : -1;
  case PACER_TR_EPOCH_S:
  case PACER_TR_EPOCH_MS:
    if (number_milli(v, &milli) != 0 ||
        scaled(milli, unit == PACER_TR_EPOCH_S ? 1000 : 1, &at_ms) != 0)
      return -1;
    *ms = at_ms > now_unix_ms ? at_ms - now_unix_ms : 0;
    return 0;
  case PACER_TR_HTTP_DATE:
    if (!cJSON_IsString(v) ||
        pacer_retry_after_parse_date(v->valuestring, now_unix_ms, &unix_s,
                                     NULL) != 0)
      return -1;
    at_ms = unix_s > 0 ? (uint64_t)unix_s * 1000u : 0;
    *ms = at_ms > now_unix_ms ? at_ms - now_unix_ms : 0;
    return 0;
  case PACER_TR_RETRY_AFTER: {
    const char *vals[1];

    if (!cJSON_IsString(v))
      return number_milli(v, &milli) == 0 ? scaled(milli, 1000, ms) : -1;
    vals[0] = v->valuestring;
    return pacer_retry_after_parse(vals, 1, NULL, now_unix_ms, ms, NULL) == 0
               ? 0
               : -1;
  }
  case PACER_TR_DURATION:
    if (cJSON_IsNumber(v))
      return number_milli(v, &milli) == 0 ? scaled(milli, 1000, ms) : -1;
    return cJSON_IsString(v) ? pacer_tr_duration_ms(v->valuestring, ms) : -1;
  }
  return -1;
}

/* ------------------------------------------------------------------------
 * Conditions
 * ------------------------------------------------------------------------ */

/* JSON equality; a number also equals a string holding its decimal text
 * (header values are text). */
static int
equal(const cJSON *a, const cJSON *b)
{
  uint64_t x, y;

  if (cJSON_IsNumber(a) && cJSON_IsString(b))
    return number_milli(b, &y) == 0 && number_milli(a, &x) == 0 && x == y;
  if (cJSON_IsString(a) && cJSON_IsNumber(b))
    return equal(b, a);
  return cJSON_Compare(a, b, 1);
}

static int
holds(const struct pacer_tr_cond *c, const cJSON *v)
{
  const cJSON *e;

  switch (c->op) {
  case PACER_TR_PRESENT:
    return 1;
  case PACER_TR_EQUALS:
    return equal(c->values, v);
  case PACER_TR_ONE_OF:
    cJSON_ArrayForEach(e, c->values)
    {
      if (equal(e, v))
        return 1;
    }
    return 0;
  case PACER_TR_CONTAINS:
    if (cJSON_IsString(v) && cJSON_IsString(c->values))
      return strstr(v->valuestring, c->values->valuestring) != NULL;
    if (cJSON_IsArray(v)) {
      cJSON_ArrayForEach(e, v)
      {
        if (equal(c->values, e))
          return 1;
      }
    }
    return 0;
  }
  return 0;
}

struct cond_walk {
  const struct pacer_tr_cond *c;
  int ok;
};

static int
visit_cond(const cJSON *v, void *arg)
{
  struct cond_walk *w = arg;

  if (holds(w->c, v))
    w->ok = 1;
  return w->ok; /* stop at the first value that holds */
}

/* The parsed body, or a header's JSON value: parsed on first use. */
struct lazy {
  const char *text;
  size_t len;
  int tried;
  cJSON *root; /* owned */
};

static const cJSON *
lazy_get(struct lazy *l)
{
  if (!l->tried && l->text != NULL && l->len > 0) {
    l->tried = 1;
    l->root = cJSON_ParseWithLengthOpts(l->text, l->len, NULL, 0);
  }
  l->tried = 1;
  return l->root;
}

static const char *
header_text(const struct pacer_tr_response *r, const char *name)
{
  const cJSON *h;

  if (r->headers == NULL)
    return NULL;
  h = cJSON_GetObjectItemCaseSensitive(r->headers, name);
  return cJSON_IsString(h) ? h->valuestring : NULL;
}

/* Evaluates pointer p over the JSON value of header text ht or over the
 * body, calling visit. */
static void
each_value(const struct pacer_tr_response *r, struct lazy *body,
           const char *header, const char *p,
           int (*visit)(const cJSON *v, void *arg), void *arg)
{
  const char *ht;
  cJSON *hv, text;

  if (header == NULL) {
    (void)pacer_json_pointer_each(lazy_get(body), p != NULL ? p : "", visit,
                                  arg);
    return;
  }
  if ((ht = header_text(r, header)) == NULL)
    return;
  if (p == NULL) { /* the header's text as a JSON string */
    memset(&text, 0, sizeof(text));
    text.type = cJSON_String;
    text.valuestring = (char *)(uintptr_t)ht;
    (void)visit(&text, arg);
    return;
  }
  hv = cJSON_Parse(ht);
  (void)pacer_json_pointer_each(hv, p, visit, arg);
  cJSON_Delete(hv);
}

static int
cond_holds(const struct pacer_tr_cond *c, const struct pacer_tr_response *r,
           struct lazy *body)
{
  struct cond_walk w = {c, 0};

  each_value(r, body, c->header, c->pointer, visit_cond, &w);
  return w.ok;
}

/* ------------------------------------------------------------------------
 * Delays
 * ------------------------------------------------------------------------ */

struct delay_walk {
  const struct pacer_tr_delay *d;
  uint64_t now_unix_ms;
  int found;
  uint64_t max_ms;
};

static int
visit_delay(const cJSON *v, void *arg)
{
  struct delay_walk *w = arg;
  uint64_t ms;

  if (value_delay(v, w->d->unit, w->now_unix_ms, &ms) == 0) {
    if (!w->found || ms > w->max_ms)
      w->max_ms = ms;
    w->found = 1;
  }
  return 0; /* the largest of all */
}

static int
status_ok(const struct pacer_throttle_rule *t, long status)
{
  size_t i;

  if (t->nstatuses == 0)
    return 1;
  for (i = 0; i < t->nstatuses; i++) {
    if ((long)t->statuses[i] == status)
      return 1;
  }
  return 0;
}

static int
place_ok(const struct pacer_throttle_rule *t, const struct pacer_tr_response *r)
{
  const char *path = r->path != NULL && r->path[0] != '\0' ? r->path : "/";

  if (t->host[0] != '\0' && !pacer_config_host_matches(t->host, r->host))
    return 0;
  return t->path_prefix[0] == '\0' ||
         strncmp(path, t->path_prefix, strlen(t->path_prefix)) == 0;
}

int
pacer_throttle_rules_match(const struct pacer_throttle_rule *rules, size_t n,
                           const struct pacer_tr_response *r,
                           uint64_t now_unix_ms, struct pacer_tr_match *m)
{
  struct lazy body = {r->body, r->body_len, 0, NULL};
  size_t i, j;

  memset(m, 0, sizeof(*m));
  for (i = 0; i < n && m->rule == NULL; i++) {
    const struct pacer_throttle_rule *t = &rules[i];

    if (!status_ok(t, r->status) || !place_ok(t, r))
      continue;
    for (j = 0; j < t->nconds; j++) {
      if (!cond_holds(&t->conds[j], r, &body))
        break;
    }
    if (j < t->nconds)
      continue;
    m->rule = t;
    for (j = 0; j < t->ndelays; j++) {
      const struct pacer_tr_delay *d = &t->delays[j];
      struct delay_walk w = {d, now_unix_ms, 0, 0};

      if (d->header == NULL && d->pointer == NULL) {
        w.found = 1;
        w.max_ms = d->fixed_ms;
      } else {
        each_value(r, &body, d->header, d->pointer, visit_delay, &w);
      }
      if (w.found && (!m->have_delay || w.max_ms > m->delay_ms))
        m->delay_ms = w.max_ms;
      m->have_delay |= w.found;
    }
    if (m->have_delay)
      snprintf(m->why, sizeof(m->why),
               "rule %s: HTTP %ld, delay %" PRIu64 " ms", t->name, r->status,
               m->delay_ms);
    else
      snprintf(m->why, sizeof(m->why), "rule %s: HTTP %ld, no delay given",
               t->name, r->status);
  }
  cJSON_Delete(body.root);
  return m->rule != NULL;
}
