/* Unit tests for core/oauth_token.c: token responses (RFC 6749 §5.1,
 * §5.2), what an outcome means (a refusal, a 429 or 5xx), the expiry rule
 * (also without expires_in), JWT exp, and the refresh request (RFC 6749 §6,
 * §2.3.1, Appendix B). Table-driven: each row is one cmocka test named after
 * its input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/util.h"
#include "core/oauth_token.h"
#include "core/result.h"

/* 2025-12-31 23:58:00 GMT */
#define NOW_MS UINT64_C(1767225480000)
#define NOW_S  INT64_C(1767225480)

/* header {"alg":"RS256","typ":"JWT"} and payload {"sub":"x","exp":
 * 1767240000} (NOW + 14520 s), encoded independently of libsodium */
#define JWT_HEADER  "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
#define JWT_PAYLOAD "eyJzdWIiOiJ4IiwiZXhwIjoxNzY3MjQwMDAwfQ"
#define JWT_4H      JWT_HEADER "." JWT_PAYLOAD ".c2ln"
#define JWT_4H_EXP  INT64_C(1767240000)

/* ------------------------------------------------------------------------
 * pacer_oauth_token_parse
 * ------------------------------------------------------------------------ */

#define NO_EXP UINT64_C(0xdead) /* expires_in: expect none */

struct parse_row {
  const char *name; /* the input and the expectation */
  const char *body;
  int rc;
  const char *access_token; /* expected members, NULL = absent */
  const char *token_type;
  const char *refresh_token;
  const char *scope;
  uint64_t expires_in_s; /* NO_EXP: has_expires_in 0 */
  unsigned ignored;
  const char *error;
  const char *desc;
  const char *msg; /* expected err.msg when rc != 0 */
};

#define OK(n, b, at, tt, rt, sc, exp, ign)                                     \
  {                                                                            \
    n, b, 0, at, tt, rt, sc, exp, ign, NULL, NULL, NULL                        \
  }
#define ERR(n, b, e, d)                                                        \
  {                                                                            \
    n, b, 0, NULL, NULL, NULL, NULL, NO_EXP, 0, e, d, NULL                     \
  }
#define BAD(n, b, m)                                                           \
  {                                                                            \
    n, b, PACER_EINVAL, NULL, NULL, NULL, NULL, NO_EXP, 0, NULL, NULL, m       \
  }

#define IGN_EXP PACER_OAUTH_IGNORED_EXPIRES_IN
#define IGN_TT  PACER_OAUTH_IGNORED_TOKEN_TYPE
#define IGN_RT  PACER_OAUTH_IGNORED_REFRESH_TOKEN
#define IGN_SC  PACER_OAUTH_IGNORED_SCOPE

/* clang-format off */
static struct parse_row parse_rows[] = {
  OK("full success with rotated refresh token",
     "{\"access_token\":\"AT-2\",\"token_type\":\"Bearer\",\"expires_in\":3600,"
     "\"refresh_token\":\"RT-2\",\"scope\":\"read write\"}",
     "AT-2", "Bearer", "RT-2", "read write", 3600, 0),
  OK("expires_in as a numeric string \"3600\"",
     "{\"access_token\":\"AT-2\",\"token_type\":\"bearer\","
     "\"expires_in\":\"3600\"}", "AT-2", "bearer", NULL, NULL, 3600, 0),
  OK("no refresh_token means keep the old one",
     "{\"access_token\":\"AT-2\",\"token_type\":\"Bearer\",\"expires_in\":60}",
     "AT-2", "Bearer", NULL, NULL, 60, 0),
  OK("refresh_token null is absent",
     "{\"access_token\":\"AT-2\",\"refresh_token\":null}", "AT-2", NULL, NULL,
     NULL, NO_EXP, 0),
  OK("no expires_in is absent, not an error",
     "{\"access_token\":\"AT-2\",\"token_type\":\"Bearer\"}", "AT-2",
     "Bearer", NULL, NULL, NO_EXP, 0),
  OK("negative expires_in is ignored",
     "{\"access_token\":\"AT-2\",\"expires_in\":-5}", "AT-2", NULL, NULL,
     NULL, NO_EXP, IGN_EXP),
  OK("expires_in 0 is ignored (it would refresh on every use)",
     "{\"access_token\":\"AT-2\",\"expires_in\":0}", "AT-2", NULL, NULL, NULL,
     NO_EXP, IGN_EXP),
  OK("non-finite expires_in 1e400 is ignored",
     "{\"access_token\":\"AT-2\",\"expires_in\":1e400}", "AT-2", NULL, NULL,
     NULL, NO_EXP, IGN_EXP),
  OK("huge expires_in 1e12 is ignored",
     "{\"access_token\":\"AT-2\",\"expires_in\":1000000000000}", "AT-2", NULL,
     NULL, NULL, NO_EXP, IGN_EXP),
  OK("expires_in just over ten years is ignored",
     "{\"access_token\":\"AT-2\",\"expires_in\":\"315360001\"}", "AT-2", NULL,
     NULL, NULL, NO_EXP, IGN_EXP),
  OK("expires_in of ten years exactly is kept",
     "{\"access_token\":\"AT-2\",\"expires_in\":315360000}", "AT-2", NULL,
     NULL, NULL, 315360000, 0),
  OK("fractional expires_in 3599.7 rounds down",
     "{\"access_token\":\"AT-2\",\"expires_in\":3599.7}", "AT-2", NULL, NULL,
     NULL, 3599, 0),
  OK("expires_in \"36 00\" with a space is ignored",
     "{\"access_token\":\"AT-2\",\"expires_in\":\"36 00\"}", "AT-2", NULL,
     NULL, NULL, NO_EXP, IGN_EXP),
  OK("expires_in \"-1\" string is ignored",
     "{\"access_token\":\"AT-2\",\"expires_in\":\"-1\"}", "AT-2", NULL, NULL,
     NULL, NO_EXP, IGN_EXP),
  OK("expires_in true is ignored",
     "{\"access_token\":\"AT-2\",\"expires_in\":true}", "AT-2", NULL, NULL,
     NULL, NO_EXP, IGN_EXP),
  OK("token_type of the wrong type is ignored",
     "{\"access_token\":\"AT-2\",\"token_type\":42}", "AT-2", NULL, NULL,
     NULL, NO_EXP, IGN_TT),
  OK("empty refresh_token is ignored, the old one is kept",
     "{\"access_token\":\"AT-2\",\"refresh_token\":\"\"}", "AT-2", NULL, NULL,
     NULL, NO_EXP, IGN_RT),
  OK("refresh_token with a control character is ignored",
     "{\"access_token\":\"AT-2\",\"refresh_token\":\"RT\\n2\"}", "AT-2", NULL,
     NULL, NULL, NO_EXP, IGN_RT),
  OK("scope as an array is ignored",
     "{\"access_token\":\"AT-2\",\"scope\":[\"a\"]}", "AT-2", NULL, NULL, NULL,
     NO_EXP, IGN_SC),
  OK("unknown members are ignored (RFC 6749 §5.1)",
     "{\"access_token\":\"AT-2\",\"id_token\":\"x\",\"ext\":{\"a\":[1,2]},"
     "\"x\":1,\"x\":2}", "AT-2", NULL, NULL, NULL, NO_EXP, 0),
  OK("surrounding JSON whitespace is fine",
     " \n{\"access_token\":\"AT-2\"}\r\n ", "AT-2", NULL, NULL, NULL, NO_EXP,
     0),
  /* §5.2 error responses */
  ERR("400 invalid_grant with a description",
      "{\"error\":\"invalid_grant\",\"error_description\":\"Token has been "
      "expired or revoked.\"}", "invalid_grant",
      "Token has been expired or revoked."),
  ERR("error without description",
      "{\"error\":\"invalid_client\"}", "invalid_client", NULL),
  ERR("control and non-ASCII bytes in a description become '?'",
      "{\"error\":\"invalid_request\",\"error_description\":\"a\\u0001b\\tc\xc3"
      "\xa9\"}", "invalid_request", "a?b?c??"),
  ERR("error and access_token together is an error response",
      "{\"error\":\"invalid_grant\",\"access_token\":\"AT-2\"}",
      "invalid_grant", NULL),
  ERR("error_description of the wrong type is dropped",
      "{\"error\":\"server_error\",\"error_description\":7}", "server_error",
      NULL),
  /* Refused bodies: messages never quote the body. */
  BAD("empty body", "", "token response: empty body"),
  BAD("HTML error page is not JSON",
      "<html><body>502 Bad Gateway</body></html>",
      "token response: not a JSON object"),
  BAD("legacy form-encoded body is not JSON",
      "access_token=AT-SECRET&token_type=bearer",
      "token response: not a JSON object"),
  BAD("JSON array is not an object", "[{\"access_token\":\"AT-2\"}]",
      "token response: not a JSON object"),
  BAD("trailing text after the object",
      "{\"access_token\":\"AT-2\"} {\"x\":1}",
      "token response: not a JSON object"),
  BAD("truncated JSON", "{\"access_token\":\"AT-SECR",
      "token response: not a JSON object"),
  BAD("neither access_token nor error", "{\"token_type\":\"Bearer\"}",
      "token response: neither access_token nor error"),
  BAD("access_token null is missing", "{\"access_token\":null}",
      "token response: neither access_token nor error"),
  BAD("empty access_token", "{\"access_token\":\"\"}",
      "token response: access_token must be a string of 1 to 16384 visible "
      "ASCII characters"),
  BAD("access_token with a space would split the header",
      "{\"access_token\":\"AT SECRET\"}",
      "token response: access_token must be a string of 1 to 16384 visible "
      "ASCII characters"),
  BAD("access_token as a number", "{\"access_token\":12345}",
      "token response: access_token must be a string of 1 to 16384 visible "
      "ASCII characters"),
  BAD("access_token given twice is ambiguous",
      "{\"access_token\":\"AT-2\",\"access_token\":\"AT-3\"}",
      "token response: a member appears twice"),
  BAD("refresh_token given twice is ambiguous",
      "{\"access_token\":\"AT-2\",\"refresh_token\":\"RT-2\","
      "\"refresh_token\":\"RT-3\"}", "token response: a member appears twice"),
  BAD("error that is not a string", "{\"error\":{\"code\":400}}",
      "token response: error must be a string"),
};
/* clang-format on */

static void
expect_str(const char *got, const char *want)
{
  if (want == NULL)
    assert_null(got);
  else
    assert_string_equal(got, want);
}

static void
parse_row(void **state)
{
  const struct parse_row *r = *state;
  struct pacer_oauth_token tok;
  struct pacer_error err;
  size_t len = strlen(r->body);
  char *copy = malloc(len + 1);
  int rc;

  assert_non_null(copy);
  memcpy(copy, r->body, len); /* no NUL: reads stay within len */
  rc = pacer_oauth_token_parse(&tok, copy, len, &err);
  assert_int_equal(rc, r->rc);
  assert_int_equal(err.code, r->rc);
  if (r->rc != 0) {
    assert_string_equal(err.msg, r->msg);
    assert_null(tok.access_token);
    assert_null(tok.error);
  } else {
    assert_string_equal(err.msg, "");
    expect_str(tok.access_token, r->access_token);
    expect_str(tok.token_type, r->token_type);
    expect_str(tok.refresh_token, r->refresh_token);
    expect_str(tok.scope, r->scope);
    assert_int_equal(tok.has_expires_in, r->expires_in_s != NO_EXP);
    if (r->expires_in_s != NO_EXP)
      assert_int_equal(tok.expires_in_s, r->expires_in_s);
    assert_int_equal(tok.ignored, r->ignored);
    expect_str(tok.error, r->error);
    expect_str(tok.error_description, r->desc);
  }
  assert_null(strstr(err.msg, "SECR")); /* never quotes the body */
  pacer_oauth_token_free(&tok);
  assert_null(tok.access_token);
  free(copy);
}

/* ------------------------------------------------------------------------
 * pacer_oauth_classify
 * ------------------------------------------------------------------------ */

struct classify_row {
  const char *name;
  int status;
  const char *body; /* parsed first; NULL: no body (transport error) */
  enum pacer_oauth_outcome want;
};

/* clang-format off */
static struct classify_row classify_rows[] = {
  {"200 with a token is OK", 200,
   "{\"access_token\":\"AT-2\",\"expires_in\":3600}", PACER_OAUTH_OK},
  {"201 with a token is OK", 201, "{\"access_token\":\"AT-2\"}",
   PACER_OAUTH_OK},
  {"200 with an unparseable body is retried", 200, "<html>",
   PACER_OAUTH_RETRY},
  {"200 carrying invalid_grant needs re-authorisation", 200,
   "{\"error\":\"invalid_grant\"}", PACER_OAUTH_REAUTH},
  {"200 carrying temporarily_unavailable is retried", 200,
   "{\"error\":\"temporarily_unavailable\"}", PACER_OAUTH_RETRY},
  {"400 invalid_grant needs re-authorisation", 400,
   "{\"error\":\"invalid_grant\"}", PACER_OAUTH_REAUTH},
  {"400 invalid_request for a revoked token needs re-authorisation",
   400, "{\"error\":\"invalid_request\"}", PACER_OAUTH_REAUTH},
  {"401 invalid_client needs re-authorisation", 401,
   "{\"error\":\"invalid_client\"}", PACER_OAUTH_REAUTH},
  {"400 unauthorized_client needs re-authorisation", 400,
   "{\"error\":\"unauthorized_client\"}", PACER_OAUTH_REAUTH},
  {"403 with an HTML body needs re-authorisation", 403, "<html>",
   PACER_OAUTH_REAUTH},
  {"404 from a wrong token_url needs attention, not a loop", 404, NULL,
   PACER_OAUTH_REAUTH},
  {"400 temporarily_unavailable is still a refusal (any 4xx)", 400,
   "{\"error\":\"temporarily_unavailable\"}", PACER_OAUTH_REAUTH},
  {"429 is retried with the refresh token kept", 429,
   "{\"error\":\"slow_down\"}", PACER_OAUTH_RETRY},
  {"408 request timeout is retried", 408, NULL, PACER_OAUTH_RETRY},
  {"500 is retried", 500, "{\"error\":\"server_error\"}", PACER_OAUTH_RETRY},
  {"502 without a body is retried", 502, NULL, PACER_OAUTH_RETRY},
  {"503 is retried", 503, "{\"error\":\"temporarily_unavailable\"}",
   PACER_OAUTH_RETRY},
  {"transport error (status 0) is retried", 0, NULL, PACER_OAUTH_RETRY},
  {"302 redirect is retried", 302, NULL, PACER_OAUTH_RETRY},
};
/* clang-format on */

static void
classify_row(void **state)
{
  const struct classify_row *r = *state;
  struct pacer_oauth_token tok;
  int prc = PACER_EINVAL;

  memset(&tok, 0, sizeof(tok));
  if (r->body != NULL)
    prc = pacer_oauth_token_parse(&tok, r->body, strlen(r->body), NULL);
  assert_int_equal(pacer_oauth_classify(r->status, prc, &tok), r->want);
  if (r->body == NULL)
    assert_int_equal(pacer_oauth_classify(r->status, prc, NULL), r->want);
  pacer_oauth_token_free(&tok);
}

/* ------------------------------------------------------------------------
 * pacer_oauth_expiry
 * ------------------------------------------------------------------------ */

struct expiry_row {
  const char *name;
  const char *body; /* token response, or NULL for no token */
  uint64_t now_ms;
  uint64_t last_s;    /* last known lifetime */
  uint64_t default_s; /* configured default, 0 = built-in */
  enum pacer_oauth_expiry_source source;
  uint64_t expiry_ms;
};

#define SRC_IN   PACER_OAUTH_EXPIRY_EXPIRES_IN
#define SRC_JWT  PACER_OAUTH_EXPIRY_JWT
#define SRC_LAST PACER_OAUTH_EXPIRY_LAST
#define SRC_DEF  PACER_OAUTH_EXPIRY_DEFAULT

/* clang-format off */
static struct expiry_row expiry_rows[] = {
  {"expires_in 3600 expires an hour from now",
   "{\"access_token\":\"AT-2\",\"expires_in\":3600}", NOW_MS, 0, 0, SRC_IN,
   NOW_MS + 3600000},
  {"expires_in wins over a JWT exp",
   "{\"access_token\":\"" JWT_4H "\",\"expires_in\":60}", NOW_MS, 0, 0,
   SRC_IN, NOW_MS + 60000},
  {"no expires_in: the JWT exp 4 h ahead is used",
   "{\"access_token\":\"" JWT_4H "\"}", NOW_MS, 3600, 0, SRC_JWT,
   (uint64_t)JWT_4H_EXP * 1000},
  {"no expires_in, JWT exp already past: last lifetime instead",
   "{\"access_token\":\"" JWT_4H "\"}", (uint64_t)JWT_4H_EXP * 1000, 3600, 0,
   SRC_LAST, (uint64_t)JWT_4H_EXP * 1000 + 3600000},
  {"no expires_in, opaque token: last known lifetime 3600",
   "{\"access_token\":\"AT-2\"}", NOW_MS, 3600, 0, SRC_LAST,
   NOW_MS + 3600000},
  {"ignored expires_in falls back to the last lifetime",
   "{\"access_token\":\"AT-2\",\"expires_in\":-1}", NOW_MS, 1800, 0, SRC_LAST,
   NOW_MS + 1800000},
  {"nothing known: the conservative 300 s default",
   "{\"access_token\":\"AT-2\"}", NOW_MS, 0, 0, SRC_DEF, NOW_MS + 300000},
  {"nothing known: the configured lifetime_default_s",
   "{\"access_token\":\"AT-2\"}", NOW_MS, 0, 120, SRC_DEF, NOW_MS + 120000},
  {"no token at all: the default", NULL, NOW_MS, 0, 0, SRC_DEF,
   NOW_MS + 300000},
  {"huge last lifetime is capped at ten years",
   "{\"access_token\":\"AT-2\"}", NOW_MS, UINT64_MAX, 0, SRC_LAST,
   NOW_MS + UINT64_C(315360000000)},
  {"expiry saturates instead of wrapping",
   "{\"access_token\":\"AT-2\",\"expires_in\":3600}", UINT64_MAX - 5, 0, 0,
   SRC_IN, UINT64_MAX},
  {"a dotted opaque token that is no JWT is not read as one",
   "{\"access_token\":\"a.b.c\"}", NOW_MS, 0, 0, SRC_DEF, NOW_MS + 300000},
};
/* clang-format on */

static void
expiry_row(void **state)
{
  const struct expiry_row *r = *state;
  struct pacer_oauth_token tok;
  uint64_t expiry = 0;

  memset(&tok, 0, sizeof(tok));
  if (r->body != NULL)
    assert_int_equal(
        pacer_oauth_token_parse(&tok, r->body, strlen(r->body), NULL), 0);
  assert_int_equal(pacer_oauth_expiry(r->body != NULL ? &tok : NULL, r->now_ms,
                                      r->last_s, r->default_s, &expiry),
                   r->source);
  assert_int_equal(expiry, r->expiry_ms);
  pacer_oauth_token_free(&tok);
}

/* ------------------------------------------------------------------------
 * pacer_oauth_jwt_exp
 * ------------------------------------------------------------------------ */

/* header.base64url(payload).sig into out */
static void
make_jwt(const char *payload, int padded, char *out, size_t size)
{
  size_t n = strlen(JWT_HEADER);
  int variant = padded ? sodium_base64_VARIANT_URLSAFE
                       : sodium_base64_VARIANT_URLSAFE_NO_PADDING;

  assert_true(size >
              n + 1 + sodium_base64_ENCODED_LEN(strlen(payload), variant) + 4);
  memcpy(out, JWT_HEADER ".", n + 1);
  sodium_bin2base64(out + n + 1, size - n - 1, (const unsigned char *)payload,
                    strlen(payload), variant);
  n = strlen(out);
  memcpy(out + n, ".sig", 5);
}

struct jwt_row {
  const char *name;
  const char *payload; /* JSON, encoded by make_jwt; or NULL to use raw */
  const char *raw;     /* the whole token when payload is NULL */
  int padded;
  int rc;
  int64_t exp;
};

/* clang-format off */
static struct jwt_row jwt_rows[] = {
  {"independently encoded JWT gives its exp", NULL, JWT_4H, 0, 0, JWT_4H_EXP},
  {"integer exp", "{\"exp\":1767240000,\"iat\":1767225480}", NULL, 0, 0,
   JWT_4H_EXP},
  {"fractional NumericDate exp is floored", "{\"exp\":1767240000.9}", NULL, 0,
   0, JWT_4H_EXP},
  {"padded base64url payload is tolerated", "{\"exp\":1767240000}", NULL, 1,
   0, JWT_4H_EXP},
  {"exp as a string is unusable", "{\"exp\":\"1767240000\"}", NULL, 0,
   PACER_EINVAL, 0},
  {"negative exp is unusable", "{\"exp\":-1}", NULL, 0, PACER_EINVAL, 0},
  {"exp beyond 2^53 is unusable", "{\"exp\":1e300}", NULL, 0, PACER_EINVAL,
   0},
  {"no exp claim", "{\"sub\":\"x\"}", NULL, 0, PACER_ENOTFOUND, 0},
  {"payload that is not JSON", "not json", NULL, 0, PACER_ENOTFOUND, 0},
  {"payload that is a JSON array", "[1767240000]", NULL, 0, PACER_ENOTFOUND,
   0},
  {"two segments are no JWT", NULL, JWT_HEADER "." JWT_PAYLOAD, 0,
   PACER_ENOTFOUND, 0},
  {"four segments are no JWT", NULL, JWT_4H ".x", 0, PACER_ENOTFOUND, 0},
  {"empty header segment is no JWT", NULL, "." JWT_PAYLOAD ".sig", 0,
   PACER_ENOTFOUND, 0},
  {"standard-base64 characters are no JWT", NULL,
   JWT_HEADER ".eyJ+/.sig", 0, PACER_ENOTFOUND, 0},
  {"opaque token without dots", NULL, "ya29.a0AfH6SMBx", 0, PACER_ENOTFOUND,
   0},
  {"unsecured JWT with an empty signature is read", NULL,
   JWT_HEADER "." JWT_PAYLOAD ".", 0, 0, JWT_4H_EXP},
};
/* clang-format on */

static void
jwt_row(void **state)
{
  const struct jwt_row *r = *state;
  char token[512];
  int64_t exp = 42;

  if (r->payload != NULL)
    make_jwt(r->payload, r->padded, token, sizeof(token));
  else
    snprintf(token, sizeof(token), "%s", r->raw);
  assert_int_equal(pacer_oauth_jwt_exp(token, strlen(token), &exp), r->rc);
  assert_int_equal(exp, r->rc == 0 ? r->exp : 42);
}

/* ------------------------------------------------------------------------
 * pacer_oauth_refresh_request
 * ------------------------------------------------------------------------ */

#define BASIC  PACER_OAUTH_AUTH_BASIC
#define POST   PACER_OAUTH_AUTH_POST
#define PUBLIC PACER_OAUTH_AUTH_NONE
#define GRANT  "grant_type=refresh_token&refresh_token="

struct request_row {
  const char *name;
  enum pacer_oauth_auth auth;
  const char *client_id, *client_secret, *refresh_token, *scope;
  int rc;
  const char *body;   /* expected body */
  const char *header; /* expected Authorization line, or NULL */
  const char *msg;    /* expected err.msg when rc != 0 */
};

/* clang-format off */
static struct request_row request_rows[] = {
  {"client_secret_basic puts id and secret in Authorization", BASIC,
   "client", "s3cret", "RT-1", NULL, 0, GRANT "RT-1",
   "Authorization: Basic Y2xpZW50OnMzY3JldA==", NULL},
  {"client_secret_basic form-encodes id and secret before base64", BASIC,
   "my client", "p@ss:w/rd~", "RT-1", NULL, 0, GRANT "RT-1",
   "Authorization: Basic bXkrY2xpZW50OnAlNDBzcyUzQXclMkZyZCU3RQ==", NULL},
  {"client_secret_basic with an empty secret", BASIC, "client", "", "RT-1",
   NULL, 0, GRANT "RT-1", "Authorization: Basic Y2xpZW50Og==", NULL},
  {"client_secret_post puts id and secret in the body", POST, "client",
   "s3cret", "RT-1", NULL, 0,
   GRANT "RT-1&client_id=client&client_secret=s3cret", NULL, NULL},
  {"client_secret_post encodes the secret", POST, "a&b", "x=y z", "RT-1",
   NULL, 0, GRANT "RT-1&client_id=a%26b&client_secret=x%3Dy+z", NULL, NULL},
  {"public client sends client_id only", PUBLIC, "client", "ignored", "RT-1",
   NULL, 0, GRANT "RT-1&client_id=client", NULL, NULL},
  {"scope is form-encoded with + for spaces", BASIC, "c", "s", "RT-1",
   "read write:all", 0, GRANT "RT-1&scope=read+write%3Aall",
   "Authorization: Basic Yzpz", NULL},
  {"empty scope is left out", POST, "c", "s", "RT-1", "", 0,
   GRANT "RT-1&client_id=c&client_secret=s", NULL, NULL},
  {"refresh token bytes outside the Appendix B set are %-encoded", POST,
   "c", "s", "a+b/c=d~e \xc3\xa9*-._", NULL, 0,
   GRANT "a%2Bb%2Fc%3Dd%7Ee+%C3%A9*-._&client_id=c&client_secret=s", NULL,
   NULL},
  {"missing refresh token is refused", BASIC, "c", "s", NULL, NULL,
   PACER_EINVAL, NULL, NULL, "refresh request: refresh_token is missing"},
  {"empty refresh token is refused", BASIC, "c", "s", "", NULL, PACER_EINVAL,
   NULL, NULL, "refresh request: refresh_token is missing"},
  {"missing client_id is refused", POST, "", "s", "RT-1", NULL, PACER_EINVAL,
   NULL, NULL, "refresh request: client_id is missing"},
  {"client_secret_basic without a secret is refused", BASIC, "c", NULL,
   "RT-1", NULL, PACER_EINVAL, NULL, NULL,
   "refresh request: client_secret is missing"},
};
/* clang-format on */

static void
request_row(void **state)
{
  const struct request_row *r = *state;
  struct pacer_oauth_request req;
  struct pacer_error err;

  assert_int_equal(
      pacer_oauth_refresh_request(&req, r->auth, r->client_id, r->client_secret,
                                  r->refresh_token, r->scope, &err),
      r->rc);
  if (r->rc == 0) {
    assert_string_equal(req.body, r->body);
    assert_int_equal(req.body_len, strlen(r->body));
    expect_str(req.auth_header, r->header);
  } else {
    assert_string_equal(err.msg, r->msg);
    assert_null(req.body);
    assert_null(req.auth_header);
  }
  pacer_oauth_request_free(&req);
  assert_null(req.body);
}

/* ------------------------------------------------------------------------
 * Single behaviours
 * ------------------------------------------------------------------------ */

static void
global_init_succeeds_twice(void **state)
{
  (void)state;
  assert_int_equal(pacer_oauth_global_init(), 0);
  assert_int_equal(pacer_oauth_global_init(), 0);
}

static void
oversized_refresh_token_is_refused_without_quoting_it(void **state)
{
  struct pacer_oauth_request req;
  struct pacer_error err;
  char *rt = malloc(PACER_OAUTH_TOKEN_MAX + 2);

  (void)state;
  assert_non_null(rt);
  memset(rt, 'R', PACER_OAUTH_TOKEN_MAX + 1);
  rt[PACER_OAUTH_TOKEN_MAX + 1] = '\0';
  assert_int_equal(
      pacer_oauth_refresh_request(&req, POST, "c", "s", rt, NULL, &err),
      PACER_EINVAL);
  assert_string_equal(err.msg,
                      "refresh request: refresh_token is longer than 16384 "
                      "bytes");
  rt[PACER_OAUTH_TOKEN_MAX] = '\0'; /* exactly the maximum is fine */
  assert_int_equal(
      pacer_oauth_refresh_request(&req, POST, "c", "s", rt, NULL, &err), 0);
  assert_int_equal(req.body_len, strlen(GRANT) + PACER_OAUTH_TOKEN_MAX +
                                     strlen("&client_id=c&client_secret=s"));
  pacer_oauth_request_free(&req);
  free(rt);
}

static void
body_with_nul_or_oversized_is_refused(void **state)
{
  static const char nul[] = "{\"access_token\":\"AT\0-2\"}";
  struct pacer_oauth_token tok;
  struct pacer_error err;
  char *big;

  (void)state;
  assert_int_equal(pacer_oauth_token_parse(&tok, nul, sizeof(nul) - 1, &err),
                   PACER_EINVAL);
  assert_string_equal(err.msg, "token response: body contains a NUL byte");
  big = malloc(PACER_OAUTH_BODY_MAX + 1);
  assert_non_null(big);
  memset(big, ' ', PACER_OAUTH_BODY_MAX + 1);
  assert_int_equal(
      pacer_oauth_token_parse(&tok, big, PACER_OAUTH_BODY_MAX + 1, &err),
      PACER_EINVAL);
  assert_string_equal(err.msg, "token response: body larger than 262144 bytes");
  free(big);
  assert_int_equal(pacer_oauth_token_parse(&tok, NULL, 0, &err), PACER_EINVAL);
}

static void
long_description_is_cut_and_long_token_kept(void **state)
{
  size_t n = PACER_OAUTH_TOKEN_MAX, o;
  char *body = malloc(n + 128);
  struct pacer_oauth_token tok;

  (void)state;
  assert_non_null(body);
  memcpy(body, "{\"error\":\"invalid_grant\",\"error_description\":\"", 46);
  memset(body + 46, 'd', 1000);
  memcpy(body + 1046, "\"}", 2);
  assert_int_equal(pacer_oauth_token_parse(&tok, body, 1048, NULL), 0);
  assert_int_equal(strlen(tok.error_description), PACER_OAUTH_DESC_MAX);
  pacer_oauth_token_free(&tok);

  memcpy(body, "{\"access_token\":\"", 17);
  memset(body + 17, 'A', n);
  o = 17 + n;
  memcpy(body + o, "\"}", 2);
  assert_int_equal(pacer_oauth_token_parse(&tok, body, o + 2, NULL), 0);
  assert_int_equal(strlen(tok.access_token), n);
  pacer_oauth_token_free(&tok);
  /* one byte more is refused */
  memset(body + 17, 'A', n + 1);
  memcpy(body + o + 1, "\"}", 2);
  assert_int_equal(pacer_oauth_token_parse(&tok, body, o + 3, NULL),
                   PACER_EINVAL);
  free(body);
}

static void
echoed_secrets_are_redacted_from_error_text(void **state)
{
  static const char body[] =
      "{\"error\":\"invalid_grant\",\"error_description\":\"refresh token "
      "RT-CANARY is unknown; RT-CANARY was revoked for CS-CANARY\"}";
  const char *secrets[] = {"RT-CANARY", NULL, "", "CS-CANARY"};
  struct pacer_oauth_token tok;

  (void)state;
  assert_int_equal(pacer_oauth_token_parse(&tok, body, strlen(body), NULL), 0);
  assert_int_equal(pacer_oauth_token_redact(&tok, secrets, 4), 0);
  assert_string_equal(tok.error_description,
                      "refresh token [redacted] is unknown; [redacted] was "
                      "revoked for [redacted]");
  assert_string_equal(tok.error, "invalid_grant");
  pacer_oauth_token_free(&tok);
  pacer_oauth_token_free(NULL);
  pacer_oauth_request_free(NULL);
}

static void
jwt_is_not_read_past_its_length(void **state)
{
  static const char token[] = JWT_4H;
  char *copy = malloc(sizeof(token) - 1);
  int64_t exp = 0;

  (void)state;
  assert_non_null(copy);
  memcpy(copy, token, sizeof(token) - 1);
  assert_int_equal(pacer_oauth_jwt_exp(copy, sizeof(token) - 1, &exp), 0);
  assert_int_equal(exp, JWT_4H_EXP);
  /* cut inside the payload: no longer three segments */
  assert_int_equal(pacer_oauth_jwt_exp(copy, 40, &exp), PACER_ENOTFOUND);
  free(copy);
}

/* ------------------------------------------------------------------------
 * Runner
 * ------------------------------------------------------------------------ */

#define EXTRA 6

#define ADD_ROWS(table, fn)                                                    \
  do {                                                                         \
    size_t i_;                                                                 \
    for (i_ = 0; i_ < PACER_ARRAY_SIZE(table); i_++) {                         \
      struct CMUnitTest *t_ = &tests[k++];                                     \
      t_->name = table[i_].name;                                               \
      t_->test_func = fn;                                                      \
      t_->setup_func = NULL;                                                   \
      t_->teardown_func = NULL;                                                \
      t_->initial_state = &table[i_];                                          \
    }                                                                          \
  } while (0)

/* A token request that ended without an answer may be sent again only
 * when it provably never reached the provider (docs/CREDENTIALS.md). */
static void
never_sent_only_before_the_request_was_written(void **state)
{
  (void)state;
  assert_int_equal(pacer_oauth_never_sent(PACER_HTTP_CONNECT, NULL), 1);
  assert_int_equal(pacer_oauth_never_sent(PACER_HTTP_BLOCKED, ""), 1);
  assert_int_equal(pacer_oauth_never_sent(PACER_HTTP_REFUSED, ""), 1);
  assert_int_equal(
      pacer_oauth_never_sent(PACER_HTTP_TIMEOUT,
                             "Connection timed out after 5001 milliseconds"),
      1);
  assert_int_equal(
      pacer_oauth_never_sent(PACER_HTTP_TRANSPORT,
                             "SSL certificate problem: self-signed "
                             "certificate"),
      1);
  assert_int_equal(
      pacer_oauth_never_sent(PACER_HTTP_TIMEOUT,
                             "Operation timed out after 60000 milliseconds "
                             "with 0 bytes received"),
      0);
  assert_int_equal(
      pacer_oauth_never_sent(PACER_HTTP_TRANSPORT,
                             "Recv failure: Connection reset by peer"),
      0);
  assert_int_equal(pacer_oauth_never_sent(PACER_HTTP_TIMEOUT, NULL), 0);
  assert_int_equal(pacer_oauth_never_sent(PACER_HTTP_TOO_LARGE, "SSL"), 0);
  assert_int_equal(pacer_oauth_never_sent(PACER_HTTP_OK, ""), 0);
}

int
main(void)
{
  struct CMUnitTest
      tests[EXTRA + PACER_ARRAY_SIZE(parse_rows) +
            PACER_ARRAY_SIZE(classify_rows) + PACER_ARRAY_SIZE(expiry_rows) +
            PACER_ARRAY_SIZE(jwt_rows) + PACER_ARRAY_SIZE(request_rows)] = {
          cmocka_unit_test(global_init_succeeds_twice),
          cmocka_unit_test(
              oversized_refresh_token_is_refused_without_quoting_it),
          cmocka_unit_test(body_with_nul_or_oversized_is_refused),
          cmocka_unit_test(long_description_is_cut_and_long_token_kept),
          cmocka_unit_test(echoed_secrets_are_redacted_from_error_text),
          cmocka_unit_test(jwt_is_not_read_past_its_length),
          cmocka_unit_test(never_sent_only_before_the_request_was_written),
      };
  size_t k = EXTRA;

  ADD_ROWS(parse_rows, parse_row);
  ADD_ROWS(classify_rows, classify_row);
  ADD_ROWS(expiry_rows, expiry_row);
  ADD_ROWS(jwt_rows, jwt_row);
  ADD_ROWS(request_rows, request_row);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
