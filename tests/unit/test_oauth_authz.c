/* Unit tests for core/oauth_authz.c: PKCE (the RFC 7636 Appendix B
 * vector), the authorization URL, the redirect's code and state, and the
 * code's token request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/oauth_authz.h"

static void
pkce_matches_rfc7636_appendix_b(void **state)
{
  static const unsigned char rnd[32] = {116, 24,  223, 180, 151, 153, 224, 37,
                                        79,  250, 96,  125, 216, 173, 187, 186,
                                        22,  212, 37,  77,  105, 214, 191, 240,
                                        91,  88,  5,   88,  83,  132, 141, 121};
  char v[PACER_OAUTH_PKCE_LEN + 1], c[PACER_OAUTH_PKCE_LEN + 1];

  (void)state;
  pacer_oauth_pkce(rnd, v, c);
  assert_string_equal(v, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void
authorize_url_carries_every_parameter(void **state)
{
  struct pacer_error err;
  char *url = NULL;

  (void)state;
  assert_int_equal(
      pacer_oauth_authorize_url("https://idp.example/authorize", "pacer",
                                "http://127.0.0.1:8765/callback", "read write",
                                "abc", "E9M", &url, &err),
      0);
  assert_string_equal(url, "https://idp.example/authorize?response_type=code"
                           "&client_id=pacer&redirect_uri=http%3A%2F%2F127.0."
                           "0.1%3A8765%2Fcallback&scope=read+write&state=abc"
                           "&code_challenge=E9M&code_challenge_method=S256");
  free(url);
  /* the endpoint's own query is kept (RFC 6749 §3.1); no scope */
  assert_int_equal(pacer_oauth_authorize_url("https://idp/a?tenant=x", "p",
                                             "http://127.0.0.1:1/callback",
                                             NULL, "s", "c", &url, &err),
                   0);
  assert_string_equal(url, "https://idp/a?tenant=x&response_type=code"
                           "&client_id=p&redirect_uri=http%3A%2F%2F127.0.0.1"
                           "%3A1%2Fcallback&state=s&code_challenge=c"
                           "&code_challenge_method=S256");
  free(url);
  assert_int_equal(pacer_oauth_authorize_url("https://idp/a#x", "p", "r", NULL,
                                             "s", "c", &url, &err),
                   PACER_EINVAL);
  assert_string_equal(err.msg,
                      "authorize: authorize_url must not contain a #fragment");
  assert_null(url);
}

static void
callback_reads_code_state_and_errors(void **state)
{
  struct pacer_oauth_callback cb;
  struct pacer_error err;

  (void)state;
  assert_int_equal(
      pacer_oauth_callback_parse("http://127.0.0.1:8765/callback?code=a%2Bb+c"
                                 "&state=xyz&other=1#frag",
                                 &cb, &err),
      0);
  assert_string_equal(cb.code, "a+b c");
  assert_string_equal(cb.state, "xyz");
  assert_null(cb.error);
  pacer_oauth_callback_free(&cb);
  assert_int_equal(pacer_oauth_callback_parse(
                       "error=access_denied&error_description=user+said+no"
                       "&state=s",
                       &cb, &err),
                   0);
  assert_string_equal(cb.error, "access_denied");
  assert_string_equal(cb.error_description, "user said no");
  assert_null(cb.code);
  pacer_oauth_callback_free(&cb);
  assert_int_equal(pacer_oauth_callback_parse("/callback?state=s", &cb, &err),
                   PACER_EINVAL);
  assert_string_equal(err.msg,
                      "redirect: it has neither a code nor an error (paste "
                      "the whole address the browser was sent to)");
  assert_int_equal(pacer_oauth_callback_parse("?code=1&code=2", &cb, &err),
                   PACER_EINVAL);
  assert_string_equal(err.msg, "redirect: code is given twice");
  assert_int_equal(pacer_oauth_callback_parse("?code=a%0Ab", &cb, &err),
                   PACER_EINVAL);
  assert_string_equal(err.msg, "redirect: code is not a valid value");
  assert_int_equal(pacer_oauth_callback_parse("?code=a%4", &cb, &err),
                   PACER_EINVAL);
  assert_null(cb.code);
}

static void
code_request_authenticates_as_configured(void **state)
{
  struct pacer_oauth_request req;
  struct pacer_error err;

  (void)state;
  assert_int_equal(
      pacer_oauth_code_request(&req, PACER_OAUTH_AUTH_BASIC, "id", "s3", "c/1",
                               "http://127.0.0.1:1/callback", "v", &err),
      0);
  assert_string_equal(req.body, "grant_type=authorization_code&code=c%2F1"
                                "&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2F"
                                "callback&code_verifier=v");
  assert_string_equal(req.auth_header, "Authorization: Basic aWQ6czM=");
  pacer_oauth_request_free(&req);
  assert_int_equal(pacer_oauth_code_request(&req, PACER_OAUTH_AUTH_NONE, "id",
                                            NULL, "c", "r", "v", &err),
                   0);
  assert_string_equal(req.body, "grant_type=authorization_code&code=c"
                                "&redirect_uri=r&code_verifier=v&client_id=id");
  assert_null(req.auth_header);
  pacer_oauth_request_free(&req);
  assert_int_equal(pacer_oauth_code_request(&req, PACER_OAUTH_AUTH_POST, "id",
                                            "s", "c", "r", "v", &err),
                   0);
  assert_string_equal(req.body,
                      "grant_type=authorization_code&code=c&redirect_uri=r"
                      "&code_verifier=v&client_id=id&client_secret=s");
  pacer_oauth_request_free(&req);
  assert_int_equal(pacer_oauth_code_request(&req, PACER_OAUTH_AUTH_NONE, "id",
                                            NULL, "", "r", "v", &err),
                   PACER_EINVAL);
  assert_null(req.body);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pkce_matches_rfc7636_appendix_b),
      cmocka_unit_test(authorize_url_carries_every_parameter),
      cmocka_unit_test(callback_reads_code_state_and_errors),
      cmocka_unit_test(code_request_authenticates_as_configured),
  };

  if (sodium_init() < 0)
    return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
