/* libFuzzer target: OAuth2 token responses and JWT expiry
 * (core/oauth_token.h).
 *
 * The input is a token endpoint body (RFC 6749 §5.1/§5.2); it is also
 * read as an access token for the JWT `exp` claim.
 *
 * Invariants checked beyond memory safety, UB and leaks:
 *   - a parse returns 0 with an access token or an error code (§5.2), or
 *     fails and holds nothing;
 *   - the outcome class is one of the three, for every status;
 *   - the expiry is never before now and never beyond now + the cap;
 *   - a JWT exp, when found, is in 1..2^53.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "core/oauth_token.h"

#define NOW_MS UINT64_C(1764403200000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const int statuses[] = {200, 400, 401, 408, 429, 500, 503};
  struct pacer_oauth_token tok;
  struct pacer_error err;
  uint64_t exp = 0;
  int64_t jexp = 0;
  int rc;

  memset(&tok, 0, sizeof(tok));
  rc = pacer_oauth_token_parse(&tok, (const char *)data, size, &err);
  if (rc == 0 ? tok.access_token == NULL && tok.error == NULL
              : tok.access_token != NULL || tok.error != NULL)
    abort();
  for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
    enum pacer_oauth_outcome oc = pacer_oauth_classify(statuses[i], rc, &tok);

    if (oc != PACER_OAUTH_OK && oc != PACER_OAUTH_REAUTH &&
        oc != PACER_OAUTH_RETRY)
      abort();
  }
  pacer_oauth_expiry(rc == 0 ? &tok : NULL, NOW_MS, 0, 0, &exp);
  if (exp < NOW_MS ||
      exp > NOW_MS + (uint64_t)PACER_OAUTH_EXPIRES_IN_MAX_S * 1000u)
    abort();
  pacer_oauth_token_free(&tok);
  if (pacer_oauth_jwt_exp((const char *)data, size, &jexp) == 0 &&
      (jexp < 1 || jexp > (INT64_C(1) << 53)))
    abort();
  return 0;
}
