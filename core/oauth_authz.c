/* The authorization-code grant with PKCE. See oauth_authz.h. */
#include "core/oauth_authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/oauth_int.h"

static void
wipe_str(char **s)
{
  if (*s != NULL) {
    sodium_memzero(*s, strlen(*s));
    free(*s);
    *s = NULL;
  }
}

void
pacer_oauth_pkce(const unsigned char *rnd, char *verifier, char *challenge)
{
  unsigned char hash[crypto_hash_sha256_BYTES];
  char b64[PACER_OAUTH_PKCE_LEN + 2];

  sodium_bin2base64(b64, sizeof(b64), rnd, PACER_OAUTH_PKCE_RANDOM,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  memcpy(verifier, b64, PACER_OAUTH_PKCE_LEN + 1);
  crypto_hash_sha256(hash, (const unsigned char *)verifier,
                     PACER_OAUTH_PKCE_LEN);
  sodium_bin2base64(b64, sizeof(b64), hash, sizeof(hash),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  memcpy(challenge, b64, PACER_OAUTH_PKCE_LEN + 1);
  sodium_memzero(b64, sizeof(b64));
}

/* Appends "&name=" and the form-encoded value at out + *o. */
static void
add(char *out, size_t *o, const char *name, const char *value)
{
  size_t n = strlen(name);

  out[(*o)++] = '&';
  memcpy(out + *o, name, n);
  *o += n;
  out[(*o)++] = '=';
  *o += pacer_oauth_form_encode(value, out + *o);
}

int
pacer_oauth_authorize_url(const char *authorize_url, const char *client_id,
                          const char *redirect_uri, const char *scope,
                          const char *state, const char *challenge, char **out,
                          struct pacer_error *err)
{
  size_t cap, o;
  char *url;

  *out = NULL;
  if (strchr(authorize_url, '#') != NULL)
    return pacer_error_set(err, PACER_EINVAL,
                           "authorize: authorize_url must not contain a "
                           "#fragment");
  if (client_id[0] == '\0' || redirect_uri[0] == '\0' || state[0] == '\0' ||
      challenge[0] == '\0')
    return pacer_error_set(err, PACER_EINVAL, "authorize: a value is empty");
  if (scope != NULL && scope[0] == '\0')
    scope = NULL;
  cap = strlen(authorize_url) + 200 +
        3 * (strlen(client_id) + strlen(redirect_uri) + strlen(state) +
             strlen(challenge) + (scope != NULL ? strlen(scope) : 0));
  url = malloc(cap + 1);
  if (url == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "authorize: out of memory");
  o = strlen(authorize_url);
  memcpy(url, authorize_url, o);
  /* RFC 6749 §3.1: keep the endpoint's own query, add ours to it */
  if (strchr(authorize_url, '?') == NULL) {
    url[o++] = '?';
    memcpy(url + o, "response_type=code", 18);
    o += 18;
  } else {
    add(url, &o, "response_type", "code");
  }
  add(url, &o, "client_id", client_id);
  add(url, &o, "redirect_uri", redirect_uri);
  if (scope != NULL)
    add(url, &o, "scope", scope);
  add(url, &o, "state", state);
  add(url, &o, "code_challenge", challenge);
  add(url, &o, "code_challenge_method", "S256");
  url[o] = '\0';
  *out = url;
  return 0;
}

static int
hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Form-decodes s[0..n) into an owned string. Returns NULL when out of
 * memory, *bad 1 when it holds a bad escape or decodes to a control
 * byte (the result is NULL then too). */
static char *
form_decode(const char *s, size_t n, int *bad)
{
  char *d = malloc(n + 1);
  size_t i, o = 0;

  *bad = 0;
  if (d == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval(s[i + 2]) : -1;

      if (hi < 0 || lo < 0) {
        *bad = 1;
        break;
      }
      c = (unsigned char)(hi * 16 + lo);
      i += 2;
    }
    if (c < 0x20 || c == 0x7f) {
      *bad = 1;
      break;
    }
    d[o++] = (char)c;
  }
  if (*bad) {
    sodium_memzero(d, n + 1);
    free(d);
    return NULL;
  }
  d[o] = '\0';
  return d;
}

int
pacer_oauth_callback_parse(const char *text, struct pacer_oauth_callback *cb,
                           struct pacer_error *err)
{
  static const char *const names[] = {"code", "state", "error",
                                      "error_description"};
  const char *q = strchr(text, '?'), *end;
  char **slots[4];
  size_t i;

  memset(cb, 0, sizeof(*cb));
  slots[0] = &cb->code;
  slots[1] = &cb->state;
  slots[2] = &cb->error;
  slots[3] = &cb->error_description;
  q = q != NULL ? q + 1 : text;
  end = q + strcspn(q, "#\r\n");
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *pe = amp != NULL ? amp : end;
    const char *eq = memchr(q, '=', (size_t)(pe - q));
    size_t nlen = (size_t)((eq != NULL ? eq : pe) - q);

    for (i = 0; i < 4; i++) {
      if (strlen(names[i]) == nlen && memcmp(q, names[i], nlen) == 0)
        break;
    }
    if (i < 4) {
      const char *v = eq != NULL ? eq + 1 : pe;
      size_t vlen = (size_t)(pe - v);
      int bad;

      if (*slots[i] != NULL) {
        pacer_oauth_callback_free(cb);
        return pacer_error_set(err, PACER_EINVAL, "redirect: %s is given twice",
                               names[i]);
      }
      if (vlen > 3 * PACER_OAUTH_PARAM_MAX) {
        pacer_oauth_callback_free(cb);
        return pacer_error_set(err, PACER_EINVAL, "redirect: %s is too long",
                               names[i]);
      }
      *slots[i] = form_decode(v, vlen, &bad);
      if (*slots[i] == NULL) {
        pacer_oauth_callback_free(cb);
        return bad ? pacer_error_set(err, PACER_EINVAL,
                                     "redirect: %s is not a valid value",
                                     names[i])
                   : pacer_error_set(err, PACER_ENOMEM,
                                     "redirect: out of memory");
      }
      if (strlen(*slots[i]) > PACER_OAUTH_PARAM_MAX) {
        pacer_oauth_callback_free(cb);
        return pacer_error_set(err, PACER_EINVAL, "redirect: %s is too long",
                               names[i]);
      }
    }
    q = pe + (amp != NULL ? 1 : 0);
    if (amp == NULL)
      break;
  }
  if ((cb->code == NULL || cb->code[0] == '\0') && cb->error == NULL) {
    pacer_oauth_callback_free(cb);
    return pacer_error_set(err, PACER_EINVAL,
                           "redirect: it has neither a code nor an error "
                           "(paste the whole address the browser was sent "
                           "to)");
  }
  if (cb->error_description != NULL) {
    for (i = 0; cb->error_description[i] != '\0'; i++) {
      unsigned char c = (unsigned char)cb->error_description[i];

      if (c > 0x7e)
        cb->error_description[i] = '?';
    }
  }
  return 0;
}

void
pacer_oauth_callback_free(struct pacer_oauth_callback *cb)
{
  if (cb == NULL)
    return;
  wipe_str(&cb->code);
  wipe_str(&cb->state);
  wipe_str(&cb->error);
  wipe_str(&cb->error_description);
}

int
pacer_oauth_code_request(struct pacer_oauth_request *req,
                         enum pacer_oauth_auth auth, const char *client_id,
                         const char *client_secret, const char *code,
                         const char *redirect_uri, const char *verifier,
                         struct pacer_error *err)
{
  size_t cap, o;
  char *body;

  memset(req, 0, sizeof(*req));
  if (client_id == NULL || client_id[0] == '\0' || code == NULL ||
      code[0] == '\0' || redirect_uri == NULL || redirect_uri[0] == '\0' ||
      verifier == NULL || verifier[0] == '\0' ||
      (auth != PACER_OAUTH_AUTH_NONE && client_secret == NULL))
    return pacer_error_set(err, PACER_EINVAL,
                           "code request: a value is "
                           "missing");
  if (auth == PACER_OAUTH_AUTH_NONE)
    client_secret = NULL;
  cap = 160 + 3 * (strlen(client_id) + strlen(code) + strlen(redirect_uri) +
                   strlen(verifier) +
                   (client_secret != NULL ? strlen(client_secret) : 0));
  body = malloc(cap + 1);
  if (body == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "code request: out of memory");
  memcpy(body, "grant_type=authorization_code", 29);
  o = 29;
  add(body, &o, "code", code);
  add(body, &o, "redirect_uri", redirect_uri);
  add(body, &o, "code_verifier", verifier);
  if (auth != PACER_OAUTH_AUTH_BASIC)
    add(body, &o, "client_id", client_id);
  if (auth == PACER_OAUTH_AUTH_POST)
    add(body, &o, "client_secret", client_secret);
  body[o] = '\0';
  if (auth == PACER_OAUTH_AUTH_BASIC &&
      pacer_oauth_basic_header(client_id, client_secret, &req->auth_header) !=
          0) {
    sodium_memzero(body, cap + 1);
    free(body);
    return pacer_error_set(err, PACER_ENOMEM, "code request: out of memory");
  }
  req->body = body;
  req->body_len = o;
  return 0;
}
