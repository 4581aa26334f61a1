/* WWW-Authenticate parsing (RFC 9110 §11.6.1) for the Bearer scheme (RFC
 * 6750 §3).
 *
 * One pass over the bytes, one list element at a time:
 *
 *   element := token BWS "=" ...        a parameter of the current challenge
 *            | token [ 1*SP rest ]      a new challenge; rest is a token68
 *                                       or its first parameter
 *
 * Anything else is skipped up to the next comma outside a quoted-string,
 * with `malformed` set. No recursion, no allocation; the input is read only
 * within [value, value + len).
 */
#include "core/www_auth.h"

#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------
 * Character classes (RFC 9110 §5.6.2, §11.2, §5.6.4)
 * ------------------------------------------------------------------------ */

static int
is_tchar(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static int
is_t68char(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '+' || c == '/';
}

static int
is_ws(unsigned char c)
{
  return c == ' ' || c == '\t';
}

/* qdtext and the second byte of a quoted-pair: HTAB, SP, VCHAR, obs-text */
static int
is_qchar(unsigned char c)
{
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* ------------------------------------------------------------------------
 * State
 * ------------------------------------------------------------------------ */

struct cursor {
  const unsigned char *p;   /* next byte */
  const unsigned char *end; /* one past the last byte */
};

struct search {
  const char *scheme;                /* wanted auth-scheme */
  size_t scheme_len;                 /* bytes */
  int in_challenge;                  /* parameters belong to a challenge */
  int in_target;                     /* ... and it is the wanted scheme */
  int found;                         /* best holds a challenge */
  int malformed;                     /* sticky, copied to the output */
  struct pacer_bearer_challenge cur; /* the challenge being read */
  struct pacer_bearer_challenge best;
};

static void
skip_ws(struct cursor *c)
{
  while (c->p < c->end && is_ws(*c->p))
    c->p++;
}

/* Skips from the current position to the next comma outside a
 * quoted-string (or the end), honouring quoted-pairs. */
static void
skip_element(struct cursor *c)
{
  int quoted = 0;

  while (c->p < c->end) {
    unsigned char ch = *c->p;

    if (quoted && ch == '\\' && c->p + 1 < c->end) {
      c->p += 2;
      continue;
    }
    if (ch == '"')
      quoted = !quoted;
    else if (ch == ',' && !quoted)
      return;
    c->p++;
  }
}

static size_t
read_token(struct cursor *c)
{
  const unsigned char *s = c->p;

  while (c->p < c->end && is_tchar(*c->p))
    c->p++;
  return (size_t)(c->p - s);
}

/* Where the parameter name[0..n) goes in a Bearer challenge, if anywhere. */
static unsigned
param_slot(struct pacer_bearer_challenge *ch, const char *name, size_t n,
           char **dest, size_t *cap)
{
  static const struct {
    const char *name;
    unsigned bit;
  } known[] = {
      {"error", PACER_BEARER_HAS_ERROR},
      {"error_description", PACER_BEARER_HAS_DESC},
      {"scope", PACER_BEARER_HAS_SCOPE},
      {"realm", PACER_BEARER_HAS_REALM},
  };
  size_t i;

  for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
    if (strlen(known[i].name) == n && strncasecmp(known[i].name, name, n) == 0)
      break;
  }
  if (i == sizeof(known) / sizeof(known[0]))
    return 0;
  switch (known[i].bit) {
  case PACER_BEARER_HAS_ERROR:
    *dest = ch->error;
    *cap = sizeof(ch->error);
    break;
  case PACER_BEARER_HAS_DESC:
    *dest = ch->error_description;
    *cap = sizeof(ch->error_description);
    break;
  case PACER_BEARER_HAS_SCOPE:
    *dest = ch->scope;
    *cap = sizeof(ch->scope);
    break;
  default:
    *dest = ch->realm;
    *cap = sizeof(ch->realm);
    break;
  }
  return known[i].bit;
}

/* Appends byte b to dest (cap bytes incl. NUL) at *o; sets *cut when full.
 * dest NULL only validates. */
static void
put(char *dest, size_t cap, size_t *o, unsigned char b, int *cut)
{
  if (dest == NULL)
    return;
  if (*o + 1 < cap)
    dest[(*o)++] = (char)b;
  else
    *cut = 1;
}

/* Parses auth-param = token BWS "=" BWS ( token / quoted-string ) at c.
 * Stores the value when it is one of the target challenge's known
 * parameters and not a repeat. Returns 0, or -1 with c anywhere when the
 * parameter is broken (the caller skips the element). */
static int
parse_param(struct search *s, struct cursor *c)
{
  struct pacer_bearer_challenge *ch = &s->cur;
  const char *name = (const char *)c->p;
  size_t n = read_token(c), cap = 0, o = 0;
  char *dest = NULL;
  unsigned bit = 0;
  int cut = 0;

  if (n == 0)
    return -1;
  skip_ws(c); /* BWS */
  if (c->p == c->end || *c->p != '=')
    return -1;
  c->p++;
  skip_ws(c); /* BWS */
  if (s->in_target) {
    bit = param_slot(ch, name, n, &dest, &cap);
    if (bit != 0 && (ch->present & bit) != 0) {
      /* RFC 9110 §11.2: a name occurs once per challenge; keep the first */
      s->malformed = 1;
      bit = 0;
      dest = NULL;
    }
  }
  if (c->p < c->end && *c->p == '"') {
    /* RFC 9110 §5.6.4: quoted-string with quoted-pairs */
    c->p++;
    for (;;) {
      unsigned char b;

      if (c->p == c->end)
        goto broken; /* unterminated */
      b = *c->p++;
      if (b == '"')
        break;
      if (b == '\\') {
        if (c->p == c->end)
          goto broken;
        b = *c->p++;
      }
      if (!is_qchar(b))
        goto broken;
      /* RFC 6750 §3: no value here holds a control byte; HTAB is one */
      put(dest, cap, &o, b == '\t' ? ' ' : b, &cut);
    }
  } else {
    const unsigned char *v = c->p;

    if (read_token(c) == 0)
      goto broken;
    for (; v < c->p; v++)
      put(dest, cap, &o, *v, &cut);
  }
  if (dest != NULL) {
    dest[o] = '\0';
    ch->present |= bit;
    if (cut)
      ch->truncated |= bit;
  }
  return 0;

broken:
  if (dest != NULL)
    dest[0] = '\0';
  return -1;
}

/* token68 followed by OWS and a comma or the end? Consumes it if so. */
static int
take_token68(struct cursor *c)
{
  const unsigned char *q = c->p;

  while (q < c->end && is_t68char(*q))
    q++;
  if (q == c->p)
    return 0;
  while (q < c->end && *q == '=')
    q++;
  while (q < c->end && is_ws(*q))
    q++;
  if (q < c->end && *q != ',')
    return 0;
  c->p = q;
  return 1;
}

static enum pacer_bearer_error
classify(const struct pacer_bearer_challenge *ch)
{
  if ((ch->present & PACER_BEARER_HAS_ERROR) == 0)
    return PACER_BEARER_ERR_NONE;
  if ((ch->truncated & PACER_BEARER_HAS_ERROR) != 0)
    return PACER_BEARER_ERR_OTHER;
  /* RFC 6750 §3.1 codes; matched leniently, as a wrong guess here costs at
   * most one refresh */
  if (strcasecmp(ch->error, "invalid_token") == 0)
    return PACER_BEARER_ERR_INVALID_TOKEN;
  if (strcasecmp(ch->error, "insufficient_scope") == 0)
    return PACER_BEARER_ERR_INSUFFICIENT_SCOPE;
  if (strcasecmp(ch->error, "invalid_request") == 0)
    return PACER_BEARER_ERR_INVALID_REQUEST;
  return PACER_BEARER_ERR_OTHER;
}

/* Ends the current challenge: a target one becomes the answer if there is
 * none yet, or if it has an error and the answer so far has not. */
static void
finish(struct search *s)
{
  if (s->in_target) {
    int has_error = (s->cur.present & PACER_BEARER_HAS_ERROR) != 0;
    int best_error = (s->best.present & PACER_BEARER_HAS_ERROR) != 0;

    if (!s->found || (has_error && !best_error)) {
      s->best = s->cur;
      s->found = 1;
    }
  }
  s->in_challenge = 0;
  s->in_target = 0;
}

static void
begin(struct search *s, const char *scheme, size_t n)
{
  finish(s);
  memset(&s->cur, 0, sizeof(s->cur));
  s->in_challenge = 1;
  s->in_target =
      n == s->scheme_len && strncasecmp(scheme, s->scheme, n) == 0 ? 1 : 0;
}

/* After a parameter or token68: OWS, then a comma or the end. */
static void
expect_separator(struct search *s, struct cursor *c)
{
  skip_ws(c);
  if (c->p < c->end && *c->p != ',') {
    s->malformed = 1;
    skip_element(c);
  }
}

static void
parse_field(struct search *s, const char *value, size_t len)
{
  struct cursor c;

  if (value == NULL || len == 0)
    return;
  c.p = (const unsigned char *)value;
  c.end = c.p + len;
  s->in_challenge = 0;
  s->in_target = 0;
  for (;;) {
    const unsigned char *start, *q;
    size_t n;

    /* RFC 9110 §5.6.1: empty list elements are ignored */
    while (c.p < c.end && (is_ws(*c.p) || *c.p == ','))
      c.p++;
    if (c.p == c.end)
      break;
    start = c.p;
    n = read_token(&c);
    if (n == 0) {
      s->malformed = 1;
      skip_element(&c);
      continue;
    }
    q = c.p;
    while (q < c.end && is_ws(*q))
      q++;
    if (q < c.end && *q == '=') {
      /* "name =": a parameter, of the current challenge if any */
      c.p = start;
      if (!s->in_challenge || parse_param(s, &c) != 0) {
        s->malformed = 1;
        c.p = start;
        skip_element(&c);
        continue;
      }
      expect_separator(s, &c);
      continue;
    }
    begin(s, (const char *)start, n);
    if (c.p == c.end || *c.p == ',')
      continue; /* a scheme alone */
    if (!is_ws(*c.p)) {
      /* "Bearer\"x\"" and the like: not a challenge at all */
      s->malformed = 1;
      s->in_challenge = 0;
      s->in_target = 0;
      skip_element(&c);
      continue;
    }
    skip_ws(&c); /* 1*SP; HTAB tolerated */
    if (c.p == c.end || *c.p == ',')
      continue;
    if (take_token68(&c)) {
      /* Bearer defines no token68 form: a challenge with no parameters,
       * and none may follow a token68 */
      s->in_challenge = 0;
      continue;
    }
    start = c.p;
    if (parse_param(s, &c) != 0) {
      s->malformed = 1;
      c.p = start;
      skip_element(&c);
      continue;
    }
    expect_separator(s, &c);
  }
  finish(s);
}

static void
search_init(struct search *s, const char *scheme)
{
  memset(s, 0, sizeof(*s));
  s->scheme = scheme != NULL ? scheme : "Bearer";
  s->scheme_len = strlen(s->scheme);
}

static int
search_done(struct search *s, struct pacer_bearer_challenge *out)
{
  if (s->found) {
    *out = s->best;
    out->code = classify(out);
  } else {
    memset(out, 0, sizeof(*out));
  }
  out->malformed = s->malformed;
  return s->found ? 0 : PACER_ENOTFOUND;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

int
pacer_www_auth_bearer(const char *value, size_t len, const char *scheme,
                      struct pacer_bearer_challenge *out)
{
  struct search s;

  search_init(&s, scheme);
  parse_field(&s, value, len);
  return search_done(&s, out);
}

int
pacer_www_auth_bearer_lines(const char *const *values, const size_t *lens,
                            size_t n, const char *scheme,
                            struct pacer_bearer_challenge *out)
{
  struct search s;
  size_t i;

  search_init(&s, scheme);
  for (i = 0; values != NULL && lens != NULL && i < n; i++)
    parse_field(&s, values[i], lens[i]);
  return search_done(&s, out);
}

int
pacer_www_auth_says_invalid_token(const char *value, size_t len,
                                  const char *scheme)
{
  struct pacer_bearer_challenge ch;

  return pacer_www_auth_bearer(value, len, scheme, &ch) == 0 &&
         ch.code == PACER_BEARER_ERR_INVALID_TOKEN;
}
