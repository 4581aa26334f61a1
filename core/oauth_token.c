/* OAuth2 token endpoint values: refresh request, response, outcome, expiry.
 *
 * Every heap buffer that may hold a secret goes through wipe_free, and
 * every cJSON tree built from a token response or JWT payload through
 * json_wipe_delete, because cJSON_Delete frees strings without clearing
 * them. base64 and base64url come from libsodium (constant-time codecs,
 * strict about padding and trailing bits).
 */
#include "core/oauth_token.h"
#include "core/oauth_int.h"

#include "core/result.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <sodium.h>

#define INPUT_MAX    PACER_OAUTH_TOKEN_MAX /* request inputs, bytes each */
#define JSON_INT_MAX 9007199254740992.0    /* 2^53, exact in a double */
#define REDACTED     "[redacted]"

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static void
wipe_free(char *s, size_t n)
{
  if (s == NULL)
    return;
  sodium_memzero(s, n);
  free(s);
}

static void
wipe_str(char **s)
{
  if (*s != NULL) {
    wipe_free(*s, strlen(*s));
    *s = NULL;
  }
}

void
pacer_json_wipe(cJSON *item)
{
  for (; item != NULL; item = item->next) {
    if (item->valuestring != NULL)
      sodium_memzero(item->valuestring, strlen(item->valuestring));
    if (item->child != NULL)
      pacer_json_wipe(item->child);
  }
}

static void
json_wipe_delete(cJSON *root)
{
  if (root == NULL)
    return;
  pacer_json_wipe(root);
  cJSON_Delete(root);
}

/* Parses exactly one JSON value filling text[0..len) (trailing JSON
 * whitespace allowed). NULL when it does not. */
static cJSON *
parse_json(const char *text, size_t len)
{
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);

  if (root == NULL)
    return NULL;
  while (end != NULL && end < text + len &&
         (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
    end++;
  if (end != text + len) {
    json_wipe_delete(root);
    return NULL;
  }
  return root;
}

/* 1 when s[0..n) is all bytes in [lo, 0x7e]. */
static int
all_in(const char *s, size_t n, unsigned char lo)
{
  size_t i;

  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c < lo || c > 0x7e)
      return 0;
  }
  return 1;
}

static int
is_tchar(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Printable-ASCII copy of s cut at max bytes (other bytes become '?'), for
 * text that may reach a log line. */
static char *
sanitised(const char *s, size_t max)
{
  size_t n = strlen(s), i;
  char *out;

  if (n > max)
    n = max;
  out = malloc(n + 1);
  if (out == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];

    out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  out[n] = '\0';
  return out;
}

/* ------------------------------------------------------------------------
 * Refresh request (RFC 6749 §6, §2.3.1, Appendix B)
 * ------------------------------------------------------------------------ */

/* Appendix B: application/x-www-form-urlencoded, byte by byte. Writes at
 * most 3 * strlen(s) bytes at out and returns the count (no NUL). */
size_t
pacer_oauth_form_encode(const char *s, char *out)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;

  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '*' || c == '-' || c == '.' ||
        c == '_') {
      out[o++] = (char)c;
    } else if (c == ' ') {
      out[o++] = '+';
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 0xf];
    }
  }
  return o;
}

/* Appends "&name=" (or "name=" at the start) and the encoded value. out
 * has room: the caller sized it with the 3x rule. */
static void
append_param(char *out, size_t *o, const char *name, const char *value)
{
  size_t n = strlen(name);

  if (*o > 0)
    out[(*o)++] = '&';
  memcpy(out + *o, name, n);
  *o += n;
  out[(*o)++] = '=';
  *o += pacer_oauth_form_encode(value, out + *o);
}

static int
check_input(const char *s, const char *what, int may_be_empty,
            struct pacer_error *err)
{
  if (s == NULL || (!may_be_empty && s[0] == '\0'))
    return pacer_error_set(err, PACER_EINVAL, "refresh request: %s is missing",
                           what);
  if (strlen(s) > INPUT_MAX)
    return pacer_error_set(err, PACER_EINVAL,
                           "refresh request: %s is longer than %d bytes", what,
                           INPUT_MAX);
  return 0;
}

/* "Authorization: Basic " + base64(urlencode(id) ":" urlencode(secret)) */
int
pacer_oauth_basic_header(const char *id, const char *secret, char **out)
{
  static const char prefix[] = "Authorization: Basic ";
  size_t cap = 3 * strlen(id) + 1 + 3 * strlen(secret), n, b64len;
  char *userpass = malloc(cap + 1), *line;

  *out = NULL;
  if (userpass == NULL)
    return PACER_ENOMEM;
  n = pacer_oauth_form_encode(id, userpass);
  userpass[n++] = ':';
  n += pacer_oauth_form_encode(secret, userpass + n);
  b64len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
  line = malloc(sizeof(prefix) - 1 + b64len);
  if (line == NULL) {
    wipe_free(userpass, cap + 1);
    return PACER_ENOMEM;
  }
  memcpy(line, prefix, sizeof(prefix) - 1);
  sodium_bin2base64(line + sizeof(prefix) - 1, b64len,
                    (const unsigned char *)userpass, n,
                    sodium_base64_VARIANT_ORIGINAL);
  wipe_free(userpass, cap + 1);
  *out = line;
  return 0;
}

int
pacer_oauth_refresh_request(struct pacer_oauth_request *req,
                            enum pacer_oauth_auth auth, const char *client_id,
                            const char *client_secret,
                            const char *refresh_token, const char *scope,
                            struct pacer_error *err)
{
  size_t cap, o = 0;
  char *body;
  int rc;

  memset(req, 0, sizeof(*req));
  pacer_error_clear(err);
  if ((rc = check_input(refresh_token, "refresh_token", 0, err)) != 0 ||
      (rc = check_input(client_id, "client_id", 0, err)) != 0)
    return rc;
  if (auth == PACER_OAUTH_AUTH_NONE)
    client_secret = NULL;
  else if ((rc = check_input(client_secret, "client_secret", 1, err)) != 0)
    return rc;
  if (scope != NULL && scope[0] == '\0')
    scope = NULL;
  if (scope != NULL && (rc = check_input(scope, "scope", 0, err)) != 0)
    return rc;

  /* every value grows at most 3x; names and separators are below 128 */
  cap = 128 + 3 * strlen(refresh_token) + 3 * strlen(client_id) +
        (client_secret != NULL ? 3 * strlen(client_secret) : 0) +
        (scope != NULL ? 3 * strlen(scope) : 0);
  body = malloc(cap + 1);
  if (body == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "refresh request: out of memory");
  append_param(body, &o, "grant_type", "refresh_token");
  append_param(body, &o, "refresh_token", refresh_token);
  if (scope != NULL)
    append_param(body, &o, "scope", scope); /* RFC 6749 §6 */
  if (auth == PACER_OAUTH_AUTH_POST || auth == PACER_OAUTH_AUTH_NONE)
    append_param(body, &o, "client_id", client_id);
  if (auth == PACER_OAUTH_AUTH_POST)
    append_param(body, &o, "client_secret", client_secret);
  assert(o <= cap);
  body[o] = '\0';
  if (auth == PACER_OAUTH_AUTH_BASIC &&
      pacer_oauth_basic_header(client_id, client_secret, &req->auth_header) !=
          0) {
    wipe_free(body, cap + 1);
    return pacer_error_set(err, PACER_ENOMEM, "refresh request: out of memory");
  }
  /* bytes past o were never written, so wiping body_len + 1 on free
   * clears every secret byte */
  req->body = body;
  req->body_len = o;
  return 0;
}

void
pacer_oauth_request_free(struct pacer_oauth_request *req)
{
  if (req == NULL)
    return;
  if (req->body != NULL)
    wipe_free(req->body, req->body_len + 1);
  wipe_str(&req->auth_header);
  memset(req, 0, sizeof(*req));
}

/* ------------------------------------------------------------------------
 * Token response (RFC 6749 §5.1, §5.2)
 * ------------------------------------------------------------------------ */

/* The members this parser reads; each may appear once. */
static const char *const known_members[] = {
    "access_token", "token_type", "expires_in",        "refresh_token",
    "scope",        "error",      "error_description",
};

static int
has_duplicate_known(const cJSON *root)
{
  const cJSON *a, *b;
  size_t i;

  cJSON_ArrayForEach(a, root)
  {
    for (i = 0; i < sizeof(known_members) / sizeof(known_members[0]); i++) {
      if (strcmp(a->string, known_members[i]) == 0)
        break;
    }
    if (i == sizeof(known_members) / sizeof(known_members[0]))
      continue;
    for (b = a->next; b != NULL; b = b->next) {
      if (strcmp(a->string, b->string) == 0)
        return 1;
    }
  }
  return 0;
}

/* expires_in: a JSON number or decimal digit string, 1..MAX. 0 when
 * usable, -1 otherwise. */
static int
read_expires_in(const cJSON *item, uint64_t *out)
{
  if (cJSON_IsNumber(item)) {
    double d = item->valuedouble;

    if (!isfinite(d) || d < 1.0 || d > (double)PACER_OAUTH_EXPIRES_IN_MAX_S)
      return -1;
    *out = (uint64_t)d; /* in range, so the cast is defined; drops any
                           fraction, which only shortens the lifetime */
    return 0;
  }
  if (cJSON_IsString(item)) {
    const char *s = item->valuestring;
    uint64_t v = 0;
    size_t i;

    for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
      v = v * 10 + (uint64_t)(s[i] - '0');
      if (v > PACER_OAUTH_EXPIRES_IN_MAX_S)
        return -1;
    }
    if (i == 0 || s[i] != '\0' || v < 1)
      return -1;
    *out = v;
    return 0;
  }
  return -1;
}

/* A secret-carrying string member: 1..PACER_OAUTH_TOKEN_MAX bytes in
 * [lo, 0x7e]. Returns 0 and a copy, 1 when unusable, PACER_ENOMEM. */
static int
copy_visible(const cJSON *item, unsigned char lo, char **out)
{
  size_t n;

  if (!cJSON_IsString(item))
    return 1;
  n = strlen(item->valuestring);
  if (n == 0 || n > PACER_OAUTH_TOKEN_MAX || !all_in(item->valuestring, n, lo))
    return 1;
  *out = malloc(n + 1);
  if (*out == NULL)
    return PACER_ENOMEM;
  memcpy(*out, item->valuestring, n + 1);
  return 0;
}

static int
parse_error_response(struct pacer_oauth_token *tok, const cJSON *root)
{
  const cJSON *desc =
      cJSON_GetObjectItemCaseSensitive(root, "error_description");

  tok->error =
      sanitised(cJSON_GetObjectItemCaseSensitive(root, "error")->valuestring,
                PACER_OAUTH_ERROR_MAX);
  if (tok->error == NULL)
    return PACER_ENOMEM;
  if (cJSON_IsString(desc)) {
    tok->error_description = sanitised(desc->valuestring, PACER_OAUTH_DESC_MAX);
    if (tok->error_description == NULL)
      return PACER_ENOMEM;
  }
  return 0;
}

static int
parse_success(struct pacer_oauth_token *tok, const cJSON *root,
              struct pacer_error *err)
{
  const cJSON *item;
  int rc;

  item = cJSON_GetObjectItemCaseSensitive(root, "access_token");
  if (item == NULL || cJSON_IsNull(item))
    return pacer_error_set(err, PACER_EINVAL,
                           "token response: neither access_token nor error");
  /* RFC 6749 A.12: 1*VSCHAR; space refused too, it would split the
   * Authorization header */
  rc = copy_visible(item, 0x21, &tok->access_token);
  if (rc == PACER_ENOMEM)
    return pacer_error_set(err, rc, "token response: out of memory");
  if (rc != 0)
    return pacer_error_set(err, PACER_EINVAL,
                           "token response: access_token must be a string of "
                           "1 to %d visible ASCII characters",
                           PACER_OAUTH_TOKEN_MAX);

  item = cJSON_GetObjectItemCaseSensitive(root, "token_type");
  if (item != NULL && !cJSON_IsNull(item)) {
    const char *s = cJSON_IsString(item) ? item->valuestring : "";
    size_t i, n = strlen(s);

    for (i = 0; i < n && is_tchar((unsigned char)s[i]); i++)
      ;
    if (n == 0 || n > 64 || i < n) {
      tok->ignored |= PACER_OAUTH_IGNORED_TOKEN_TYPE;
    } else if ((tok->token_type = strdup(s)) == NULL) {
      return pacer_error_set(err, PACER_ENOMEM,
                             "token response: out of memory");
    }
  }

  item = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
  if (item != NULL && !cJSON_IsNull(item)) {
    if (read_expires_in(item, &tok->expires_in_s) == 0)
      tok->has_expires_in = 1;
    else
      tok->ignored |= PACER_OAUTH_IGNORED_EXPIRES_IN;
  }

  /* RFC 6749 A.17: refresh-token = 1*VSCHAR */
  item = cJSON_GetObjectItemCaseSensitive(root, "refresh_token");
  if (item != NULL && !cJSON_IsNull(item)) {
    rc = copy_visible(item, 0x21, &tok->refresh_token);
    if (rc == PACER_ENOMEM)
      return pacer_error_set(err, rc, "token response: out of memory");
    if (rc != 0)
      tok->ignored |= PACER_OAUTH_IGNORED_REFRESH_TOKEN;
  }

  /* RFC 6749 §3.3: scope tokens separated by spaces */
  item = cJSON_GetObjectItemCaseSensitive(root, "scope");
  if (item != NULL && !cJSON_IsNull(item)) {
    rc = copy_visible(item, 0x20, &tok->scope);
    if (rc == PACER_ENOMEM)
      return pacer_error_set(err, rc, "token response: out of memory");
    if (rc != 0)
      tok->ignored |= PACER_OAUTH_IGNORED_SCOPE;
  }
  return 0;
}

int
pacer_oauth_token_parse(struct pacer_oauth_token *tok, const char *body,
                        size_t len, struct pacer_error *err)
{
  const cJSON *error;
  cJSON *root;
  int rc;

  memset(tok, 0, sizeof(*tok));
  pacer_error_clear(err);
  if (body == NULL || len == 0)
    return pacer_error_set(err, PACER_EINVAL, "token response: empty body");
  if (len > PACER_OAUTH_BODY_MAX)
    return pacer_error_set(err, PACER_EINVAL,
                           "token response: body larger than %d bytes",
                           PACER_OAUTH_BODY_MAX);
  if (memchr(body, '\0', len) != NULL)
    return pacer_error_set(err, PACER_EINVAL,
                           "token response: body contains a NUL byte");
  root = parse_json(body, len);
  if (root == NULL || !cJSON_IsObject(root)) {
    json_wipe_delete(root);
    return pacer_error_set(err, PACER_EINVAL,
                           "token response: not a JSON object");
  }
  if (has_duplicate_known(root)) {
    json_wipe_delete(root);
    return pacer_error_set(err, PACER_EINVAL,
                           "token response: a member appears twice");
  }
  error = cJSON_GetObjectItemCaseSensitive(root, "error");
  if (cJSON_IsString(error)) {
    rc = parse_error_response(tok, root);
    if (rc != 0)
      pacer_error_set(err, rc, "token response: out of memory");
  } else if (error != NULL && !cJSON_IsNull(error)) {
    rc = pacer_error_set(err, PACER_EINVAL,
                         "token response: error must be a string");
  } else {
    rc = parse_success(tok, root, err);
  }
  json_wipe_delete(root);
  if (rc != 0)
    pacer_oauth_token_free(tok);
  return rc;
}

void
pacer_oauth_token_free(struct pacer_oauth_token *tok)
{
  if (tok == NULL)
    return;
  wipe_str(&tok->access_token);
  wipe_str(&tok->token_type);
  wipe_str(&tok->refresh_token);
  wipe_str(&tok->scope);
  wipe_str(&tok->error);
  wipe_str(&tok->error_description);
  memset(tok, 0, sizeof(*tok));
}

/* Returns a copy of s with every occurrence of secret replaced, or s
 * itself when there is none; NULL on ENOMEM. */
static char *
replace_all(char *s, const char *secret)
{
  size_t slen = strlen(secret), count = 0, n = strlen(s), o = 0;
  const char *p, *hit;
  char *out;

  for (p = s; (hit = strstr(p, secret)) != NULL; p = hit + slen)
    count++;
  if (count == 0)
    return s;
  out = malloc(n - count * slen + count * (sizeof(REDACTED) - 1) + 1);
  if (out == NULL)
    return NULL;
  for (p = s; (hit = strstr(p, secret)) != NULL; p = hit + slen) {
    memcpy(out + o, p, (size_t)(hit - p));
    o += (size_t)(hit - p);
    memcpy(out + o, REDACTED, sizeof(REDACTED) - 1);
    o += sizeof(REDACTED) - 1;
  }
  memcpy(out + o, p, strlen(p) + 1);
  return out;
}

int
pacer_oauth_token_redact(struct pacer_oauth_token *tok,
                         const char *const *secrets, size_t n)
{
  char **fields[2];
  size_t i, f;

  fields[0] = &tok->error;
  fields[1] = &tok->error_description;
  for (i = 0; i < n; i++) {
    if (secrets[i] == NULL || secrets[i][0] == '\0')
      continue;
    for (f = 0; f < 2; f++) {
      char *r;

      if (*fields[f] == NULL)
        continue;
      r = replace_all(*fields[f], secrets[i]);
      if (r == NULL)
        return PACER_ENOMEM;
      if (r != *fields[f]) {
        wipe_str(fields[f]);
        *fields[f] = r;
      }
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * Outcome
 * ------------------------------------------------------------------------ */

/* RFC 6749 §5.2: the codes that say the grant or client is refused. */
static int
is_refusal(const char *error)
{
  static const char *const codes[] = {
      "invalid_request",     "invalid_client",         "invalid_grant",
      "unauthorized_client", "unsupported_grant_type", "invalid_scope",
  };
  size_t i;

  for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    if (strcmp(error, codes[i]) == 0)
      return 1;
  }
  return 0;
}

enum pacer_oauth_outcome
pacer_oauth_classify(int http_status, int parse_rc,
                     const struct pacer_oauth_token *tok)
{
  if (http_status >= 200 && http_status <= 299) {
    if (parse_rc != 0 || tok == NULL)
      return PACER_OAUTH_RETRY;
    if (tok->error != NULL)
      return is_refusal(tok->error) ? PACER_OAUTH_REAUTH : PACER_OAUTH_RETRY;
    return tok->access_token != NULL ? PACER_OAUTH_OK : PACER_OAUTH_RETRY;
  }
  if (http_status >= 400 && http_status <= 499 && http_status != 408 &&
      http_status != 429)
    return PACER_OAUTH_REAUTH; /* whatever the error code says */
  return PACER_OAUTH_RETRY;
}

/* ------------------------------------------------------------------------
 * Expiry
 * ------------------------------------------------------------------------ */

static int
is_b64url(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '=';
}

int
pacer_oauth_jwt_exp(const char *token, size_t len, int64_t *exp_unix_s)
{
  const char *dot1, *dot2, *payload;
  unsigned char *bin;
  size_t plen, cap, binlen = 0, i;
  const cJSON *exp;
  cJSON *root;
  double d;
  int rc = PACER_ENOTFOUND;

  if (token == NULL || len == 0 || len > PACER_OAUTH_TOKEN_MAX)
    return PACER_ENOTFOUND;
  for (i = 0; i < len; i++) {
    if (token[i] != '.' && !is_b64url((unsigned char)token[i]))
      return PACER_ENOTFOUND;
  }
  /* RFC 7515 §7.1: header.payload.signature, exactly two dots */
  dot1 = memchr(token, '.', len);
  if (dot1 == NULL)
    return PACER_ENOTFOUND;
  dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
  if (dot2 == NULL ||
      memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
    return PACER_ENOTFOUND;
  payload = dot1 + 1;
  plen = (size_t)(dot2 - payload);
  if (dot1 == token || plen == 0)
    return PACER_ENOTFOUND;
  cap = plen / 4 * 3 + 3;
  bin = malloc(cap + 1);
  if (bin == NULL)
    return PACER_ENOMEM;
  /* base64url without padding (RFC 7515 §2); padded as a courtesy */
  if (sodium_base642bin(bin, cap, payload, plen, NULL, &binlen, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 &&
      sodium_base642bin(bin, cap, payload, plen, NULL, &binlen, NULL,
                        sodium_base64_VARIANT_URLSAFE) != 0)
    goto done;
  bin[binlen] = '\0';
  if (binlen == 0 || memchr(bin, '\0', binlen) != NULL)
    goto done;
  root = parse_json((const char *)bin, binlen);
  if (root == NULL || !cJSON_IsObject(root)) {
    json_wipe_delete(root);
    goto done;
  }
  exp = cJSON_GetObjectItemCaseSensitive(root, "exp");
  if (exp != NULL) {
    rc = PACER_EINVAL;
    d = cJSON_IsNumber(exp) ? exp->valuedouble : -1.0;
    /* RFC 7519 §2: NumericDate may have a fraction; drop it */
    if (isfinite(d) && d >= 1.0 && d <= JSON_INT_MAX) {
      *exp_unix_s = (int64_t)d;
      rc = 0;
    }
  }
  json_wipe_delete(root);
done:
  sodium_memzero(bin, cap + 1);
  free(bin);
  return rc;
}

static uint64_t
add_sat(uint64_t a, uint64_t b)
{
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t
capped_ms(uint64_t s)
{
  return (s > PACER_OAUTH_EXPIRES_IN_MAX_S ? PACER_OAUTH_EXPIRES_IN_MAX_S : s) *
         UINT64_C(1000);
}

enum pacer_oauth_expiry_source
pacer_oauth_expiry(const struct pacer_oauth_token *tok, uint64_t now_unix_ms,
                   uint64_t last_lifetime_s, uint64_t default_lifetime_s,
                   uint64_t *expiry_unix_ms)
{
  int64_t exp_s;

  if (tok != NULL && tok->has_expires_in) {
    *expiry_unix_ms = add_sat(now_unix_ms, capped_ms(tok->expires_in_s));
    return PACER_OAUTH_EXPIRY_EXPIRES_IN;
  }
  if (tok != NULL && tok->access_token != NULL &&
      pacer_oauth_jwt_exp(tok->access_token, strlen(tok->access_token),
                          &exp_s) == 0) {
    uint64_t exp_ms = (uint64_t)exp_s * UINT64_C(1000); /* < 2^63 */

    if (exp_ms > now_unix_ms &&
        exp_ms - now_unix_ms <= capped_ms(PACER_OAUTH_EXPIRES_IN_MAX_S)) {
      *expiry_unix_ms = exp_ms;
      return PACER_OAUTH_EXPIRY_JWT;
    }
  }
  if (last_lifetime_s > 0) {
    *expiry_unix_ms = add_sat(now_unix_ms, capped_ms(last_lifetime_s));
    return PACER_OAUTH_EXPIRY_LAST;
  }
  if (default_lifetime_s == 0)
    default_lifetime_s = PACER_OAUTH_LIFETIME_DEFAULT_S;
  *expiry_unix_ms = add_sat(now_unix_ms, capped_ms(default_lifetime_s));
  return PACER_OAUTH_EXPIRY_DEFAULT;
}

/* ------------------------------------------------------------------------
 * Process setup
 * ------------------------------------------------------------------------ */

int
pacer_oauth_global_init(void)
{
  /* 0: initialised now, 1: already was, -1: failure */
  return sodium_init() < 0 ? PACER_EIO : 0;
}

int
pacer_oauth_never_sent(int http_result, const char *error)
{
  static const char *const before_request[] = {"Connection timed out after",
                                               "Resolving timed out after",
                                               "Failed to connect",
                                               "SSL",
                                               "OpenSSL SSL_connect",
                                               "TLS connect error",
                                               "gnutls_handshake"};
  size_t i;

  if (http_result == PACER_HTTP_CONNECT || http_result == PACER_HTTP_BLOCKED ||
      http_result == PACER_HTTP_REFUSED)
    return 1;
  if ((http_result != PACER_HTTP_TIMEOUT &&
       http_result != PACER_HTTP_TRANSPORT) ||
      error == NULL)
    return 0;
  for (i = 0; i < sizeof(before_request) / sizeof(before_request[0]); i++) {
    if (strncmp(error, before_request[i], strlen(before_request[i])) == 0)
      return 1;
  }
  return 0;
}
