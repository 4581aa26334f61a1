/* Rate-limit response headers. See ratelimit_hdr.h for the contract.
 *
 * Each header family is parsed into its own struct pacer_ratelimit; the
 * first family that states a remaining count or a reset is returned, else
 * the first that states anything. Structured Fields are read by a small
 * zero-allocation cursor (sf_next) that walks a List or a Dictionary one
 * member at a time; a field is first walked to the end to check it parses
 * (RFC 9651 §4.2: any failure discards the whole field) and then walked
 * again to use it.
 */
#include "core/ratelimit_hdr.h"

#include <string.h>

#define SF_INT_DIGITS   15 /* RFC 9651 §3.3.1: at most 15 digits */
#define SF_DEC_DIGITS   12 /* RFC 9651 §3.3.2: integer part digits */
#define SF_FRAC_DIGITS  3  /* RFC 9651 §3.3.2: fraction digits */
#define PLAIN_WHOLE_MAX UINT64_C(1000000000000000000) /* saturation */
#define MSG_MAX         64 /* bytes of a header value quoted in a message */

/* ------------------------------------------------------------------------
 * Characters and plain numbers
 * ------------------------------------------------------------------------ */

static int
is_ows(char c)
{
  return c == ' ' || c == '\t';
}

static int
is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static int
is_alpha(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_lcalpha(char c)
{
  return c >= 'a' && c <= 'z';
}

static const char *
skip_ows(const char *p, const char *end)
{
  while (p < end && is_ows(*p))
    p++;
  return p;
}

static int
quote_len(const char *p, const char *end)
{
  return (int)(end - p > MSG_MAX ? MSG_MAX : end - p);
}

static uint64_t
sat_ms(uint64_t ms)
{
  return ms > PACER_RATELIMIT_MAX_MS ? PACER_RATELIMIT_MAX_MS : ms;
}

/* A non-negative decimal: the whole part (saturating, never wrapping) and
 * the fraction in ms, rounded up so a reset is never early (0..1000). */
struct dec {
  uint64_t whole;   /* whole units, saturating at PLAIN_WHOLE_MAX */
  unsigned frac_ms; /* fraction of one unit, in thousandths, rounded up */
};

/* Plain field value "1*DIGIT [ "." 1*DIGIT ]" (the fraction only when
 * allow_frac) spanning exactly p..end. Returns 0 or -1. */
static int
plain_dec(const char *p, const char *end, int allow_frac, struct dec *d)
{
  unsigned nfrac = 0;
  int ndigits = 0;

  d->whole = 0;
  d->frac_ms = 0;
  for (; p < end && is_digit(*p); p++, ndigits++) {
    if (d->whole < PLAIN_WHOLE_MAX)
      d->whole = d->whole * 10 + (uint64_t)(*p - '0');
  }
  if (d->whole > PLAIN_WHOLE_MAX)
    d->whole = PLAIN_WHOLE_MAX;
  if (allow_frac && ndigits > 0 && p + 1 < end && *p == '.' && is_digit(p[1])) {
    int rest = 0;

    for (p++; p < end && is_digit(*p); p++, nfrac++) {
      if (nfrac < 3)
        d->frac_ms = d->frac_ms * 10 + (unsigned)(*p - '0');
      else
        rest |= *p != '0';
    }
    for (; nfrac < 3; nfrac++)
      d->frac_ms *= 10;
    d->frac_ms += (unsigned)rest;
  }
  return ndigits > 0 && p == end ? 0 : -1;
}

/* Delta seconds to ms, saturating. */
static uint64_t
dec_seconds_ms(const struct dec *d)
{
  if (d->whole >= PACER_RATELIMIT_MAX_MS / 1000)
    return PACER_RATELIMIT_MAX_MS;
  return sat_ms(d->whole * 1000 + d->frac_ms);
}

/* A reset that may be delta seconds, epoch seconds or epoch ms (see the
 * header), as a delay in ms from the response. */
static uint64_t
reset_delay_ms(const struct dec *d, const int64_t *date_s, uint64_t now_unix_ms)
{
  uint64_t at_ms;

  if (d->whole < PACER_RATELIMIT_EPOCH_S)
    return dec_seconds_ms(d);
  if (d->whole < PACER_RATELIMIT_EPOCH_MS)
    at_ms = d->whole * 1000 + d->frac_ms; /* < 10^15 + 1000 */
  else
    at_ms = d->whole + (d->frac_ms > 0); /* <= 10^18 + 1 */
  if (date_s != NULL) {
    /* Both on the server's clock: skew cancels. |*date_s| < 2^38. */
    int64_t delta = (int64_t)at_ms - *date_s * 1000;

    return delta > 0 ? sat_ms((uint64_t)delta) : 0;
  }
  return at_ms > now_unix_ms ? sat_ms(at_ms - now_unix_ms) : 0;
}

/* ------------------------------------------------------------------------
 * Structured Fields (RFC 9651), just enough: Lists and Dictionaries of
 * Items with Parameters. Inner Lists, Dates and Display Strings fail.
 * ------------------------------------------------------------------------ */

enum sf_type {
  SF_NONE = 0,
  SF_INT,
  SF_DEC,
  SF_STR,
  SF_TOKEN,
  SF_BYTES,
  SF_BOOL
};

struct sf_member {
  const char *key;    /* Dictionary key, or NULL in a List */
  size_t key_len;     /* bytes */
  enum sf_type type;  /* type of the bare item (the value in a Dictionary) */
  const char *text;   /* String (raw, escapes kept) or Token text */
  size_t text_len;    /* bytes */
  int64_t num;        /* Integer, or whole part of a Decimal, >= 0 if used */
  unsigned frac_ms;   /* Decimal fraction, thousandths (exact: 3 digits) */
  int negative;       /* the Integer or Decimal had a minus sign */
  int64_t r, t, q, w; /* parameters; -1 absent or not an Integer >= 0 */
};

struct sf_cursor {
  const char *p;   /* next byte */
  const char *end; /* one past the field value */
  int dict;        /* members are key[=value] */
  int started;     /* a member has been read */
};

static void
sf_open(struct sf_cursor *c, const char *value, int dict)
{
  c->p = value;
  c->end = value + strlen(value);
  while (c->end > c->p && is_ows(c->end[-1]))
    c->end--;
  c->p = skip_ows(c->p, c->end);
  c->dict = dict;
  c->started = 0;
}

static int
sf_key(struct sf_cursor *c, const char **key, size_t *len)
{
  const char *s = c->p;

  if (c->p == c->end || !(is_lcalpha(*c->p) || *c->p == '*'))
    return -1;
  for (c->p++; c->p < c->end; c->p++) {
    char ch = *c->p;

    if (!(is_lcalpha(ch) || is_digit(ch) || ch == '_' || ch == '-' ||
          ch == '.' || ch == '*'))
      break;
  }
  *key = s;
  *len = (size_t)(c->p - s);
  return 0;
}

static int
is_tchar(char c)
{
  return is_alpha(c) || is_digit(c) ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static int
is_base64(char c)
{
  return is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '=';
}

/* Bare Item into *type, *num, *frac_ms, *neg, *text. */
static int
sf_bare(struct sf_cursor *c, enum sf_type *type, int64_t *num,
        unsigned *frac_ms, int *neg, const char **text, size_t *text_len)
{
  const char *p = c->p, *end = c->end;

  *type = SF_NONE;
  *num = 0;
  *frac_ms = 0;
  *neg = 0;
  *text = NULL;
  *text_len = 0;
  if (p == end)
    return -1;
  if (*p == '-' || is_digit(*p)) {
    int ndigits = 0;

    if (*p == '-') {
      *neg = 1;
      p++;
    }
    for (; p < end && is_digit(*p); p++) {
      if (++ndigits > SF_INT_DIGITS)
        return -1;
      *num = *num * 10 + (*p - '0');
    }
    if (ndigits == 0)
      return -1;
    *type = SF_INT;
    if (p < end && *p == '.') {
      unsigned nfrac = 0;

      if (ndigits > SF_DEC_DIGITS)
        return -1;
      for (p++; p < end && is_digit(*p); p++) {
        if (++nfrac > SF_FRAC_DIGITS)
          return -1;
        *frac_ms = *frac_ms * 10 + (unsigned)(*p - '0');
      }
      if (nfrac == 0)
        return -1;
      for (; nfrac < SF_FRAC_DIGITS; nfrac++)
        *frac_ms *= 10;
      *type = SF_DEC;
    }
  } else if (*p == '"') {
    *text = ++p;
    for (; p < end && *p != '"'; p++) {
      if (*p == '\\') {
        if (p + 1 == end || (p[1] != '"' && p[1] != '\\'))
          return -1;
        p++;
      } else if (*p < 0x20 || *p > 0x7e) {
        return -1;
      }
    }
    if (p == end)
      return -1;
    *text_len = (size_t)(p - *text);
    p++;
    *type = SF_STR;
  } else if (is_alpha(*p) || *p == '*') {
    *text = p;
    for (p++; p < end && (is_tchar(*p) || *p == ':' || *p == '/'); p++)
      ;
    *text_len = (size_t)(p - *text);
    *type = SF_TOKEN;
  } else if (*p == ':') {
    for (p++; p < end && is_base64(*p); p++)
      ;
    if (p == end || *p != ':')
      return -1;
    p++;
    *type = SF_BYTES;
  } else if (*p == '?') {
    if (p + 1 == end || (p[1] != '0' && p[1] != '1'))
      return -1;
    p += 2;
    *type = SF_BOOL;
  } else {
    return -1; /* Inner List, Date, Display String: not used here */
  }
  c->p = p;
  return 0;
}

/* Parameters: *( ";" *SP key [ "=" bare-item ] ). Keeps r, t, q, w when
 * they are non-negative Integers. */
static int
sf_params(struct sf_cursor *c, struct sf_member *m)
{
  m->r = m->t = m->q = m->w = -1;
  while (c->p < c->end && *c->p == ';') {
    const char *key, *text;
    size_t key_len, text_len;
    enum sf_type type = SF_BOOL;
    int64_t num = 0;
    unsigned frac;
    int neg = 0;

    c->p++;
    while (c->p < c->end && *c->p == ' ')
      c->p++;
    if (sf_key(c, &key, &key_len) != 0)
      return -1;
    if (c->p < c->end && *c->p == '=') {
      c->p++;
      if (sf_bare(c, &type, &num, &frac, &neg, &text, &text_len) != 0)
        return -1;
    }
    if (key_len == 1 && strchr("rtqw", key[0]) != NULL) {
      int64_t v = type == SF_INT && !neg ? num : -1;

      /* RFC 9651 §3.1.2: a repeated key overrides the earlier one. */
      switch (key[0]) {
      case 'r':
        m->r = v;
        break;
      case 't':
        m->t = v;
        break;
      case 'q':
        m->q = v;
        break;
      default:
        m->w = v;
        break;
      }
    }
  }
  return 0;
}

/* Reads the next member. Returns 1, 0 at the end, -1 on a syntax error. */
static int
sf_next(struct sf_cursor *c, struct sf_member *m)
{
  if (c->started) {
    c->p = skip_ows(c->p, c->end);
    if (c->p == c->end)
      return 0;
    if (*c->p != ',')
      return -1;
    c->p = skip_ows(c->p + 1, c->end);
    if (c->p == c->end)
      return -1; /* trailing comma */
  } else if (c->p == c->end) {
    return 0; /* RFC 9651 §4.2: empty List or Dictionary */
  }
  c->started = 1;
  m->key = NULL;
  m->key_len = 0;
  if (c->dict) {
    if (sf_key(c, &m->key, &m->key_len) != 0)
      return -1;
    if (c->p == c->end || *c->p != '=') {
      m->type = SF_BOOL; /* "key" alone means ?1 */
      m->text = NULL;
      m->text_len = 0;
      m->num = 1;
      m->frac_ms = 0;
      m->negative = 0;
      return sf_params(c, m) == 0 ? 1 : -1;
    }
    c->p++;
  }
  if (sf_bare(c, &m->type, &m->num, &m->frac_ms, &m->negative, &m->text,
              &m->text_len) != 0)
    return -1;
  return sf_params(c, m) == 0 ? 1 : -1;
}

/* Walks the whole field: 0 when it is a valid List (dict 0) or Dictionary
 * (dict 1) with at least one member, else -1. */
static int
sf_check(const char *value, int dict)
{
  struct sf_cursor c;
  struct sf_member m;
  int rc, n = 0;

  sf_open(&c, value, dict);
  while ((rc = sf_next(&c, &m)) == 1)
    n++;
  return rc == 0 && n > 0 ? 0 : -1;
}

static int
sf_key_is(const struct sf_member *m, const char *key)
{
  return m->key != NULL && m->key_len == strlen(key) &&
         memcmp(m->key, key, m->key_len) == 0;
}

static uint64_t
known(int64_t v)
{
  return v >= 0 ? (uint64_t)v : PACER_RATELIMIT_UNKNOWN;
}

static uint64_t
known_s_ms(int64_t v)
{
  /* v has at most 15 digits (RFC 9651), so v * 1000 cannot wrap. */
  return v >= 0 ? sat_ms((uint64_t)v * 1000) : PACER_RATELIMIT_UNKNOWN;
}

/* ------------------------------------------------------------------------
 * Families
 * ------------------------------------------------------------------------ */

static void
clear(struct pacer_ratelimit *rl)
{
  rl->source = PACER_RATELIMIT_SRC_NONE;
  rl->remaining = PACER_RATELIMIT_UNKNOWN;
  rl->reset_ms = PACER_RATELIMIT_UNKNOWN;
  rl->limit = PACER_RATELIMIT_UNKNOWN;
  rl->window_ms = PACER_RATELIMIT_UNKNOWN;
}

static void
problem(struct pacer_error *first, const char *field, const char *value,
        const char *why)
{
  const char *end = value + strlen(value);

  if (first->code != 0)
    return;
  pacer_error_set(first, PACER_EINVAL, "%s: \"%.*s\" %s", field,
                  quote_len(value, end), value, why);
}

/* RateLimit-Policy without RateLimit: the quota and window of its only
 * policy, nothing about what is left. */
static void
policy_only(const char *policy, struct pacer_ratelimit *rl)
{
  struct sf_cursor c;
  struct sf_member m, more;

  if (policy == NULL || sf_check(policy, 0) != 0)
    return;
  sf_open(&c, policy, 0);
  if (sf_next(&c, &m) != 1 || (m.type != SF_STR && m.type != SF_TOKEN) ||
      m.q < 0 || sf_next(&c, &more) != 0)
    return;
  rl->source = PACER_RATELIMIT_SRC_IETF;
  rl->limit = known(m.q);
  rl->window_ms = known_s_ms(m.w);
}

/* 1. draft -08+: RateLimit: "name";r=R;t=T, ... with RateLimit-Policy:
 *    "name";q=Q;w=W, ... The binding item has the least r, then the latest
 *    t (an unknown t counts as earliest). */
static void
ietf_list(const struct pacer_ratelimit_headers *h, struct pacer_ratelimit *rl,
          struct pacer_error *first)
{
  struct sf_cursor c;
  struct sf_member m, best = {0};
  int have = 0;

  if (h->ratelimit == NULL) {
    policy_only(h->ratelimit_policy, rl);
    return;
  }
  if (sf_check(h->ratelimit, 0) != 0)
    return;
  sf_open(&c, h->ratelimit, 0);
  while (sf_next(&c, &m) == 1) {
    if ((m.type != SF_STR && m.type != SF_TOKEN) || m.r < 0)
      continue;
    if (!have || m.r < best.r || (m.r == best.r && m.t > best.t))
      best = m;
    have = 1;
  }
  if (!have) {
    problem(first, "RateLimit", h->ratelimit,
            "has no policy item with an integer \"r\" parameter");
    return;
  }
  rl->source = PACER_RATELIMIT_SRC_IETF;
  rl->remaining = known(best.r);
  rl->reset_ms = known_s_ms(best.t);
  if (h->ratelimit_policy == NULL || sf_check(h->ratelimit_policy, 0) != 0)
    return;
  sf_open(&c, h->ratelimit_policy, 0);
  while (sf_next(&c, &m) == 1) {
    /* Names compared as sent; both sides escape alike. */
    if ((m.type == SF_STR || m.type == SF_TOKEN) &&
        m.text_len == best.text_len &&
        memcmp(m.text, best.text, m.text_len) == 0) {
      rl->limit = known(m.q);
      rl->window_ms = known_s_ms(m.w);
      break;
    }
  }
}

/* Window of the integer-valued policy (drafts -00..-07: "Q;w=W") whose
 * quota is limit, or of the only policy when limit is unknown. */
static void
int_policy_window(const char *policy, uint64_t *limit, uint64_t *window_ms)
{
  struct sf_cursor c;
  struct sf_member m;
  int n = 0;
  int64_t only_q = -1, only_w = -1;

  if (policy == NULL || sf_check(policy, 0) != 0)
    return;
  sf_open(&c, policy, 0);
  while (sf_next(&c, &m) == 1) {
    if (m.type != SF_INT || m.negative)
      continue;
    if (*limit != PACER_RATELIMIT_UNKNOWN && (uint64_t)m.num == *limit &&
        m.w >= 0) {
      *window_ms = known_s_ms(m.w);
      return;
    }
    only_q = m.num;
    only_w = m.w;
    n++;
  }
  if (*limit == PACER_RATELIMIT_UNKNOWN && n == 1) {
    *limit = known(only_q);
    *window_ms = known_s_ms(only_w);
  }
}

/* 2. draft -07: RateLimit: limit=L, remaining=R, reset=T. */
static void
ietf_dict(const struct pacer_ratelimit_headers *h, struct pacer_ratelimit *rl,
          struct pacer_error *first)
{
  struct sf_cursor c;
  struct sf_member m;

  if (h->ratelimit == NULL || sf_check(h->ratelimit, 1) != 0) {
    if (h->ratelimit != NULL && sf_check(h->ratelimit, 0) != 0)
      problem(first, "RateLimit", h->ratelimit,
              "is neither a Structured Field List nor a Dictionary");
    return;
  }
  sf_open(&c, h->ratelimit, 1);
  while (sf_next(&c, &m) == 1) {
    int64_t v = m.type == SF_INT && !m.negative ? m.num : -1;

    if (sf_key_is(&m, "limit"))
      rl->limit = known(v);
    else if (sf_key_is(&m, "remaining"))
      rl->remaining = known(v);
    else if (sf_key_is(&m, "reset"))
      rl->reset_ms = known_s_ms(v);
  }
  if (rl->remaining == PACER_RATELIMIT_UNKNOWN &&
      rl->reset_ms == PACER_RATELIMIT_UNKNOWN &&
      rl->limit == PACER_RATELIMIT_UNKNOWN) {
    problem(first, "RateLimit", h->ratelimit,
            "has no integer limit, remaining or reset");
    return;
  }
  rl->source = PACER_RATELIMIT_SRC_IETF_DICT;
  int_policy_window(h->ratelimit_policy, &rl->limit, &rl->window_ms);
}

/* First member of a split-field List ("76;w=21600") as a number.
 * Returns 0, or -1 after noting the problem. */
static int
split_first(const char *field, const char *value, int allow_frac,
            struct sf_member *m, struct pacer_error *first)
{
  struct sf_cursor c;

  if (sf_check(value, 0) != 0) {
    problem(first, field, value, "is not a Structured Field List");
    return -1;
  }
  sf_open(&c, value, 0);
  if (sf_next(&c, m) != 1 || m->negative ||
      !(m->type == SF_INT || (allow_frac && m->type == SF_DEC))) {
    problem(first, field, value, "is not a non-negative number");
    return -1;
  }
  return 0;
}

/* 3. drafts -00..-06: RateLimit-Limit, RateLimit-Remaining,
 *    RateLimit-Reset (delta or epoch, see the header). */
static void
ietf_split(const struct pacer_ratelimit_headers *h, const int64_t *date_s,
           uint64_t now_unix_ms, struct pacer_ratelimit *rl,
           struct pacer_error *first)
{
  struct sf_member m;

  if (h->ratelimit_limit != NULL &&
      split_first("RateLimit-Limit", h->ratelimit_limit, 0, &m, first) == 0) {
    rl->limit = (uint64_t)m.num;
    if (m.w >= 0)
      rl->window_ms = known_s_ms(m.w);
    else /* "10, 10;w=1": the current quota, then its policies */
      int_policy_window(h->ratelimit_limit, &rl->limit, &rl->window_ms);
  }
  if (rl->window_ms == PACER_RATELIMIT_UNKNOWN)
    int_policy_window(h->ratelimit_policy, &rl->limit, &rl->window_ms);
  if (h->ratelimit_remaining != NULL &&
      split_first("RateLimit-Remaining", h->ratelimit_remaining, 0, &m,
                  first) == 0)
    rl->remaining = (uint64_t)m.num;
  if (h->ratelimit_reset != NULL &&
      split_first("RateLimit-Reset", h->ratelimit_reset, 1, &m, first) == 0) {
    struct dec d = {(uint64_t)m.num, m.frac_ms};

    rl->reset_ms = reset_delay_ms(&d, date_s, now_unix_ms);
  }
  if (rl->limit != PACER_RATELIMIT_UNKNOWN ||
      rl->remaining != PACER_RATELIMIT_UNKNOWN ||
      rl->reset_ms != PACER_RATELIMIT_UNKNOWN)
    rl->source = PACER_RATELIMIT_SRC_IETF_SPLIT;
}

/* A plain X-RateLimit-* value: one number, or comma-joined duplicates
 * that must agree. Returns 0, or -1 after noting the problem. */
static int
plain_value(const char *field, const char *value, int allow_frac,
            struct dec *out, struct pacer_error *first)
{
  const char *p = value, *end = value + strlen(value);
  int n = 0;

  for (;;) {
    const char *s = skip_ows(p, end), *comma, *e;
    struct dec d;

    comma = strchr(s, ','); /* value is NUL-terminated */
    e = comma == NULL ? end : comma;
    while (e > s && is_ows(e[-1]))
      e--;
    if (plain_dec(s, e, allow_frac, &d) != 0) {
      problem(first, field, value,
              allow_frac ? "is not a non-negative number of seconds"
                         : "is not a non-negative integer");
      return -1;
    }
    /* RFC 9110 §5.3: joined duplicates are only trusted when they agree. */
    if (n++ > 0 && (d.whole != out->whole || d.frac_ms != out->frac_ms)) {
      problem(first, field, value, "holds conflicting values");
      return -1;
    }
    *out = d;
    if (comma == NULL)
      break;
    p = comma + 1;
  }
  return 0;
}

/* 4. X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset. */
static void
x_family(const struct pacer_ratelimit_headers *h, const int64_t *date_s,
         uint64_t now_unix_ms, struct pacer_ratelimit *rl,
         struct pacer_error *first)
{
  struct dec d;

  if (h->x_limit != NULL &&
      plain_value("X-RateLimit-Limit", h->x_limit, 0, &d, first) == 0)
    rl->limit = d.whole;
  if (h->x_remaining != NULL &&
      plain_value("X-RateLimit-Remaining", h->x_remaining, 0, &d, first) == 0)
    rl->remaining = d.whole;
  if (h->x_reset != NULL &&
      plain_value("X-RateLimit-Reset", h->x_reset, 1, &d, first) == 0)
    rl->reset_ms = reset_delay_ms(&d, date_s, now_unix_ms);
  if (rl->limit != PACER_RATELIMIT_UNKNOWN ||
      rl->remaining != PACER_RATELIMIT_UNKNOWN ||
      rl->reset_ms != PACER_RATELIMIT_UNKNOWN)
    rl->source = PACER_RATELIMIT_SRC_X;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

static int
name_is(const char *name, const char *lower)
{
  for (; *name != '\0' && *lower != '\0'; name++, lower++) {
    char c = *name;

    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != *lower)
      return 0;
  }
  return *name == *lower;
}

static const char **
slot(struct pacer_ratelimit_headers *h, const char *name)
{
  if (name_is(name, "ratelimit"))
    return &h->ratelimit;
  if (name_is(name, "ratelimit-policy"))
    return &h->ratelimit_policy;
  if (name_is(name, "ratelimit-limit"))
    return &h->ratelimit_limit;
  if (name_is(name, "ratelimit-remaining"))
    return &h->ratelimit_remaining;
  if (name_is(name, "ratelimit-reset"))
    return &h->ratelimit_reset;
  if (name_is(name, "x-ratelimit-limit") || name_is(name, "x-rate-limit-limit"))
    return &h->x_limit;
  if (name_is(name, "x-ratelimit-remaining") ||
      name_is(name, "x-rate-limit-remaining"))
    return &h->x_remaining;
  if (name_is(name, "x-ratelimit-reset") || name_is(name, "x-rate-limit-reset"))
    return &h->x_reset;
  if (name_is(name, "retry-after"))
    return &h->retry_after;
  if (name_is(name, "date"))
    return &h->date;
  return NULL;
}

int
pacer_ratelimit_headers_set(struct pacer_ratelimit_headers *h, const char *name,
                            const char *value)
{
  const char **s = slot(h, name);

  if (s == NULL)
    return 0;
  if (*s != NULL)
    return PACER_EINVAL;
  *s = value;
  return 1;
}

int
pacer_ratelimit_parse(const struct pacer_ratelimit_headers *h,
                      uint64_t now_unix_ms, struct pacer_ratelimit *out,
                      struct pacer_error *err)
{
  struct pacer_ratelimit fam[4];
  struct pacer_error first;
  int64_t date_s;
  int have_date;
  size_t i;

  clear(out);
  pacer_error_clear(&first);
  if (h->ratelimit == NULL && h->ratelimit_policy == NULL &&
      h->ratelimit_limit == NULL && h->ratelimit_remaining == NULL &&
      h->ratelimit_reset == NULL && h->x_limit == NULL &&
      h->x_remaining == NULL && h->x_reset == NULL)
    return pacer_error_set(err, PACER_ENOTFOUND, "rate-limit headers: absent");
  have_date =
      pacer_retry_after_parse_date(h->date, now_unix_ms, &date_s, NULL) == 0;
  for (i = 0; i < 4; i++)
    clear(&fam[i]);
  ietf_list(h, &fam[0], &first);
  if (fam[0].source == PACER_RATELIMIT_SRC_NONE)
    ietf_dict(h, &fam[1], &first);
  ietf_split(h, have_date ? &date_s : NULL, now_unix_ms, &fam[2], &first);
  x_family(h, have_date ? &date_s : NULL, now_unix_ms, &fam[3], &first);
  /* Families are never mixed: their windows may differ. */
  for (i = 0; i < 4; i++) {
    if (fam[i].remaining != PACER_RATELIMIT_UNKNOWN ||
        fam[i].reset_ms != PACER_RATELIMIT_UNKNOWN) {
      *out = fam[i];
      pacer_error_clear(err);
      return 0;
    }
  }
  for (i = 0; i < 4; i++) {
    if (fam[i].source != PACER_RATELIMIT_SRC_NONE) {
      *out = fam[i];
      pacer_error_clear(err);
      return 0;
    }
  }
  if (first.code == 0)
    return pacer_error_set(err, PACER_EINVAL,
                           "rate-limit headers: no usable value");
  return pacer_error_set(err, PACER_EINVAL, "%s", first.msg);
}

enum pacer_ratelimit_pause
pacer_ratelimit_pause_ms(const uint64_t *retry_after_ms,
                         const struct pacer_ratelimit *rl, uint64_t *pause_ms)
{
  /* RFC 9110 §10.2.3: the server's explicit answer wins. */
  if (retry_after_ms != NULL) {
    *pause_ms = *retry_after_ms;
    return PACER_RATELIMIT_PAUSE_RETRY_AFTER;
  }
  /* draft -08 §4.1: r=0 means no quota until t. */
  if (rl != NULL && rl->remaining == 0 &&
      rl->reset_ms != PACER_RATELIMIT_UNKNOWN) {
    *pause_ms = rl->reset_ms;
    return PACER_RATELIMIT_PAUSE_EXHAUSTED;
  }
  *pause_ms = 0;
  return PACER_RATELIMIT_PAUSE_NONE;
}

const char *
pacer_ratelimit_source_name(enum pacer_ratelimit_source source)
{
  switch (source) {
  case PACER_RATELIMIT_SRC_IETF:
    return "RateLimit";
  case PACER_RATELIMIT_SRC_IETF_DICT:
    return "RateLimit (draft-07)";
  case PACER_RATELIMIT_SRC_IETF_SPLIT:
    return "RateLimit-Remaining";
  case PACER_RATELIMIT_SRC_X:
    return "X-RateLimit";
  case PACER_RATELIMIT_SRC_NONE:
    break;
  }
  return "none";
}
