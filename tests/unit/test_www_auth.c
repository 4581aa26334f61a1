/* Unit tests for core/www_auth.c: WWW-Authenticate challenges per RFC
 * 9110 §11.6.1 and the Bearer parameters of RFC 6750 §3: the 401s and
 * 403s a refresh can fix and those it cannot. Table-driven: each row is one
 * cmocka test named after its input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "core/www_auth.h"

#define NONE     PACER_BEARER_ERR_NONE
#define INVALID  PACER_BEARER_ERR_INVALID_TOKEN
#define SCOPE    PACER_BEARER_ERR_INSUFFICIENT_SCOPE
#define REQUEST  PACER_BEARER_ERR_INVALID_REQUEST
#define OTHER    PACER_BEARER_ERR_OTHER
#define NOTFOUND PACER_ENOTFOUND

struct row {
  const char *name;  /* the input and the expectation */
  const char *value; /* field value */
  size_t len;        /* bytes of value; 0 means strlen(value) */
  int rc;            /* 0: challenge found, or PACER_ENOTFOUND */
  enum pacer_bearer_error code;
  const char *error; /* expected strings ("" when absent) */
  const char *desc;
  const char *scope;
  const char *realm;
  int malformed; /* expected out.malformed */
};

#define ROW(n, v, rc, code, e, d, s, r, m)                                     \
  {                                                                            \
    n, v, 0, rc, code, e, d, s, r, m                                           \
  }
#define MISSING(n, v, m) ROW(n, v, NOTFOUND, NONE, "", "", "", "", m)

/* clang-format off */
static struct row rows[] = {
  /* The 401 every marketing API sends when a token expires. */
  ROW("Bearer invalid_token with description is invalid_token",
      "Bearer error=\"invalid_token\", error_description=\"The access token "
      "expired\"", 0, INVALID, "invalid_token", "The access token expired", "",
      "", 0),
  ROW("bearer ERROR=invalid_token: scheme and name are case-insensitive",
      "bearer ERROR=invalid_token", 0, INVALID, "invalid_token", "", "", "", 0),
  ROW("BEARER Error=\"INVALID_TOKEN\": error value matched leniently",
      "BEARER Error=\"INVALID_TOKEN\"", 0, INVALID, "INVALID_TOKEN", "", "",
      "", 0),
  ROW("Basic then Bearer in one value picks the Bearer challenge",
      "Basic realm=\"x\", Bearer realm=\"y\", error=\"invalid_token\"", 0,
      INVALID, "invalid_token", "", "", "y", 0),
  MISSING("RFC 9110 Newauth and Basic example has no Bearer challenge",
          "Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", "
          "Basic realm=\"simple\"", 0),
  ROW("Newauth with escaped quotes, then Bearer, finds Bearer",
      "Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", "
      "Bearer realm=\"b\", error=invalid_token", 0, INVALID, "invalid_token",
      "", "", "b", 0),
  ROW("Bearer realm only has no error",
      "Bearer realm=\"example\"", 0, NONE, "", "", "", "example", 0),
  ROW("Bearer alone has no parameters", "Bearer", 0, NONE, "", "", "", "",
      0),
  ROW("insufficient_scope keeps the required scope",
      "Bearer error=\"insufficient_scope\", scope=\"x:write\"", 0, SCOPE,
      "insufficient_scope", "", "x:write", "", 0),
  ROW("invalid_request is classified",
      "Bearer error=\"invalid_request\"", 0, REQUEST, "invalid_request", "", "",
      "", 0),
  ROW("unknown error code is OTHER",
      "Bearer error=\"token_revoked\"", 0, OTHER, "token_revoked", "", "", "",
      0),
  ROW("RFC 6750 §3 full example with realm, error and description",
      "Bearer realm=\"example\", error=\"invalid_token\", "
      "error_description=\"The access token expired\"", 0, INVALID,
      "invalid_token", "The access token expired", "", "example", 0),
  ROW("scope with several tokens is kept verbatim",
      "Bearer scope=\"openid profile email\"", 0, NONE, "", "",
      "openid profile email", "", 0),
  ROW("quoted commas do not split the challenge",
      "Bearer realm=\"a, b\", error_description=\"x, y, z\", "
      "error=\"invalid_token\"", 0, INVALID, "invalid_token", "x, y, z", "",
      "a, b", 0),
  ROW("BWS around '=' is allowed",
      "Bearer error = \"invalid_token\" , realm\t=\tr", 0, INVALID,
      "invalid_token", "", "", "r", 0),
  ROW("empty list elements are ignored",
      ", , Bearer ,, error=\"invalid_token\",,", 0, INVALID, "invalid_token",
      "", "", "", 0),
  ROW("quoted-pair unescapes to the plain character",
      "Bearer error_description=\"say \\\"hi\\\" \\\\ \\a\"", 0, NONE, "",
      "say \"hi\" \\ a", "", "", 0),
  ROW("token68 challenge before Bearer is skipped",
      "Negotiate YIIBxxAGBisGAQUFAqCCAbAwggGsoB8wHQYJKoZIgvcSAQICBgUrBQEC+/==, "
      "Bearer error=\"invalid_token\"", 0, INVALID, "invalid_token", "", "",
      "", 0),
  ROW("Bearer with a token68 is a challenge without parameters",
      "Bearer abc.def/ghi==", 0, NONE, "", "", "", "", 0),
  ROW("first Bearer with an error wins over an earlier one without",
      "Bearer realm=\"one\", Bearer realm=\"two\", error=\"invalid_token\"", 0,
      INVALID, "invalid_token", "", "", "two", 0),
  ROW("of two Bearer challenges with errors the first wins",
      "Bearer error=\"insufficient_scope\", Bearer error=\"invalid_token\"", 0,
      SCOPE, "insufficient_scope", "", "", "", 0),
  ROW("repeated error keeps the first and is malformed",
      "Bearer error=\"invalid_token\", error=\"insufficient_scope\"", 0,
      INVALID, "invalid_token", "", "", "", 1),
  ROW("parameters of a later Basic challenge do not leak into Bearer",
      "Bearer realm=\"r\", Basic error=\"invalid_token\"", 0, NONE, "", "", "",
      "r", 0),
  ROW("'Bearer , error=x' keeps the parameter after an empty element",
      "Bearer , error=invalid_token", 0, INVALID, "invalid_token", "", "", "",
      0),
  /* Malformed input: never a crash, at most a challenge that says less. */
  MISSING("empty header has no challenge", "", 0),
  MISSING("whitespace and commas only have no challenge", " ,\t, ", 0),
  MISSING("garbage has no Bearer challenge", "@@@ ### !!!", 1),
  MISSING("a parameter with no challenge is malformed", "error=invalid_token",
          1),
  ROW("unterminated quote drops the parameter",
      "Bearer error=\"invalid_token", 0, NONE, "", "", "", "", 1),
  ROW("a quote closing in the next challenge swallows it, not invalid_token",
      "Bearer realm=\"r\", error=\"invalid_token, Basic realm=\"x\"", 0, OTHER,
      "invalid_token, Basic realm=", "", "", "r", 1),
  ROW("unterminated quote after a good parameter keeps the good one",
      "Bearer realm=\"r\", error=\"invalid_token, Basic realm=x", 0, NONE,
      "", "", "", "r", 1),
  ROW("control byte inside a quoted-string drops that parameter only",
      "Bearer error_description=\"a\001b\", error=invalid_token", 0, INVALID,
      "invalid_token", "", "", "", 1),
  ROW("missing comma between parameters skips the rest of that element",
      "Bearer realm=\"r\" error=\"invalid_token\"", 0, NONE, "", "", "", "r",
      1),
  ROW("'error=' alone is a token68, and parameters may not follow it",
      "Bearer error=, realm=r", 0, NONE, "", "", "", "", 1),
  ROW("parameter with an empty value is dropped",
      "Bearer realm=r, error=, scope=s", 0, NONE, "", "", "s", "r", 1),
  MISSING("scheme glued to a quote is not a challenge",
          "Bearer\"x\", error=\"invalid_token\"", 1),
  ROW("trailing backslash in a quote is unterminated",
      "Bearer error=\"invalid_token\\", 0, NONE, "", "", "", "", 1),
  ROW("a bad element before Bearer does not hide it",
      "\"junk\", Bearer error=invalid_token", 0, INVALID, "invalid_token", "",
      "", "", 1),
  MISSING("Bearerx is another scheme", "Bearerx error=invalid_token", 0),
  ROW("obs-text in a description is kept as bytes",
      "Bearer error_description=\"caf\xc3\xa9\"", 0, NONE, "", "caf\xc3\xa9",
      "", "", 0),
  ROW("HTAB inside a quoted description becomes a space",
      "Bearer error_description=\"a\tb\"", 0, NONE, "", "a b", "", "", 0),
  /* Length-bounded input: bytes past len are never read. */
  {"len stops before the error parameter",
   "Bearer realm=\"r\", error=\"invalid_token\"", 16, 0, NONE, "", "", "",
   "r", 0},
  {"len cutting a quoted value makes it unterminated",
   "Bearer error=\"invalid_token\"", 20, 0, NONE, "", "", "", "", 1},
};
/* clang-format on */

static void
www_auth_row(void **state)
{
  const struct row *r = *state;
  struct pacer_bearer_challenge out;
  size_t len = r->len != 0 ? r->len : strlen(r->value);
  char *copy;
  int rc;

  /* a heap copy without NUL, so ASan sees any read past len */
  copy = malloc(len > 0 ? len : 1);
  assert_non_null(copy);
  memcpy(copy, r->value, len);
  memset(&out, 0x5a, sizeof(out));
  rc = pacer_www_auth_bearer(copy, len, NULL, &out);
  assert_int_equal(rc, r->rc);
  assert_int_equal(out.code, r->code);
  assert_string_equal(out.error, r->error);
  assert_string_equal(out.error_description, r->desc);
  assert_string_equal(out.scope, r->scope);
  assert_string_equal(out.realm, r->realm);
  assert_int_equal(out.malformed, r->malformed);
  assert_int_equal(pacer_www_auth_says_invalid_token(copy, len, "Bearer"),
                   r->rc == 0 && r->code == INVALID);
  free(copy);
}

/* ------------------------------------------------------------------------
 * Behaviours beyond one value
 * ------------------------------------------------------------------------ */

static void
null_value_with_zero_length_has_no_challenge(void **state)
{
  struct pacer_bearer_challenge out;

  (void)state;
  assert_int_equal(pacer_www_auth_bearer(NULL, 0, NULL, &out), PACER_ENOTFOUND);
  assert_int_equal(out.code, NONE);
  assert_int_equal(out.malformed, 0);
  assert_int_equal(pacer_www_auth_says_invalid_token(NULL, 0, NULL), 0);
}

static void
embedded_nul_is_a_bad_byte_not_the_end(void **state)
{
  static const char v[] = "Bearer realm=\"a\0b\", error=invalid_token";
  struct pacer_bearer_challenge out;

  (void)state;
  assert_int_equal(pacer_www_auth_bearer(v, sizeof(v) - 1, NULL, &out), 0);
  assert_int_equal(out.code, INVALID);
  assert_string_equal(out.realm, "");
  assert_int_equal(out.malformed, 1);
}

static void
several_header_lines_are_searched_in_order(void **state)
{
  const char *values[] = {"Basic realm=\"x\"", NULL, "Bearer realm=\"y\"",
                          "Bearer error=\"invalid_token\", realm=\"z\""};
  size_t lens[4];
  struct pacer_bearer_challenge out;
  size_t i;

  (void)state;
  for (i = 0; i < 4; i++)
    lens[i] = values[i] != NULL ? strlen(values[i]) : 0;
  assert_int_equal(pacer_www_auth_bearer_lines(values, lens, 4, NULL, &out), 0);
  assert_int_equal(out.code, INVALID);
  assert_string_equal(out.realm, "z");
  assert_int_equal(pacer_www_auth_bearer_lines(values, lens, 2, NULL, &out),
                   PACER_ENOTFOUND);
  /* a parameter at the start of a line does not join the previous line's
   * challenge */
  values[3] = "error=\"invalid_token\"";
  lens[3] = strlen(values[3]);
  assert_int_equal(pacer_www_auth_bearer_lines(values, lens, 4, NULL, &out), 0);
  assert_int_equal(out.code, NONE);
  assert_string_equal(out.realm, "y");
  assert_int_equal(out.malformed, 1);
}

static void
other_scheme_name_can_be_asked_for(void **state)
{
  static const char v[] = "Bearer realm=\"b\", DPoP error=\"invalid_token\", "
                          "algs=\"ES256\"";
  struct pacer_bearer_challenge out;

  (void)state;
  assert_int_equal(pacer_www_auth_bearer(v, strlen(v), "dpop", &out), 0);
  assert_int_equal(out.code, INVALID);
  assert_string_equal(out.realm, "");
  assert_int_equal(pacer_www_auth_says_invalid_token(v, strlen(v), "Bearer"),
                   0);
}

static void
long_values_are_truncated_and_flagged(void **state)
{
  size_t n = 100000, i, o = 0;
  char *v = malloc(n + 64);
  struct pacer_bearer_challenge out;

  (void)state;
  assert_non_null(v);
  memcpy(v, "Bearer error_description=\"", 26);
  o = 26;
  for (i = 0; i < n; i++)
    v[o++] = 'd';
  memcpy(v + o, "\", error=invalid_token", 22);
  o += 22;
  assert_int_equal(pacer_www_auth_bearer(v, o, NULL, &out), 0);
  assert_int_equal(out.code, INVALID);
  assert_int_equal(strlen(out.error_description), PACER_BEARER_DESC_MAX);
  assert_int_equal(out.truncated, PACER_BEARER_HAS_DESC);
  assert_int_equal(out.present, PACER_BEARER_HAS_DESC | PACER_BEARER_HAS_ERROR);
  free(v);
}

static void
long_error_value_is_other_not_invalid_token(void **state)
{
  char v[256];
  struct pacer_bearer_challenge out;

  (void)state;
  memcpy(v, "Bearer error=invalid_token", 26);
  memset(v + 26, 'x', 100);
  assert_int_equal(pacer_www_auth_bearer(v, 126, NULL, &out), 0);
  assert_int_equal(out.code, OTHER);
  assert_int_equal(out.truncated, PACER_BEARER_HAS_ERROR);
}

static void
many_challenges_and_garbage_parse_in_linear_time(void **state)
{
  size_t n = 1u << 20, o = 0;
  char *v = malloc(n + 64);
  struct pacer_bearer_challenge out;

  (void)state;
  assert_non_null(v);
  while (o + 16 < n) {
    memcpy(v + o, "Basic a=\"\\\",\", ", 15);
    o += 15;
  }
  memcpy(v + o, "Bearer error=invalid_token", 26);
  o += 26;
  assert_int_equal(pacer_www_auth_bearer(v, o, NULL, &out), 0);
  assert_int_equal(out.code, INVALID);
  /* one long unterminated quote, then nothing: no challenge, no crash */
  memset(v, '"', n);
  assert_int_equal(pacer_www_auth_bearer(v, n, NULL, &out), PACER_ENOTFOUND);
  assert_int_equal(out.malformed, 1);
  free(v);
}

static void
every_prefix_of_a_challenge_parses_without_crashing(void **state)
{
  static const char v[] =
      "Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", "
      "Bearer realm=\"r\", error=\"invalid_token\", scope=\"a b\"";
  struct pacer_bearer_challenge out;
  size_t len;
  int found = 0;

  (void)state;
  for (len = 0; len <= sizeof(v) - 1; len++) {
    char *copy = malloc(len > 0 ? len : 1);

    assert_non_null(copy);
    memcpy(copy, v, len);
    if (pacer_www_auth_bearer(copy, len, NULL, &out) == 0 &&
        out.code == INVALID)
      found++;
    free(copy);
  }
  /* from the closing quote of invalid_token on */
  assert_true(found >= 13);
}

#define EXTRA 8

int
main(void)
{
  struct CMUnitTest tests[PACER_ARRAY_SIZE(rows) + EXTRA] = {
      cmocka_unit_test(null_value_with_zero_length_has_no_challenge),
      cmocka_unit_test(embedded_nul_is_a_bad_byte_not_the_end),
      cmocka_unit_test(several_header_lines_are_searched_in_order),
      cmocka_unit_test(other_scheme_name_can_be_asked_for),
      cmocka_unit_test(long_values_are_truncated_and_flagged),
      cmocka_unit_test(long_error_value_is_other_not_invalid_token),
      cmocka_unit_test(many_challenges_and_garbage_parse_in_linear_time),
      cmocka_unit_test(every_prefix_of_a_challenge_parses_without_crashing),
  };
  size_t i;

  for (i = 0; i < PACER_ARRAY_SIZE(rows); i++) {
    struct CMUnitTest *t = &tests[EXTRA + i];

    t->name = rows[i].name;
    t->test_func = www_auth_row;
    t->setup_func = NULL;
    t->teardown_func = NULL;
    t->initial_state = &rows[i];
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
