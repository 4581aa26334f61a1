/* The authorization-code grant with PKCE for a native app, as `pacer cred
 * authorize` runs it (docs/CREDENTIALS.md, Signing in):
 *
 *   pacer_oauth_pkce           verifier + S256 challenge   (RFC 7636 §4.1-4.2)
 *   pacer_oauth_authorize_url  the URL the user opens      (RFC 6749 §4.1.1,
 *                                                           RFC 7636 §4.3)
 *   pacer_oauth_callback_parse code and state from the loopback redirect or
 *                              a pasted redirect URL       (RFC 6749 §4.1.2)
 *   pacer_oauth_code_request   the token request body      (RFC 6749 §4.1.3,
 *                                                           RFC 7636 §4.5)
 *
 * Pure: the caller passes the random bytes in and does the I/O. The
 * redirect URI is a loopback one, http://127.0.0.1:PORT/callback (RFC 8252
 * §7.3). Secrets (verifier, code, client secret) are wiped before free.
 */
#ifndef PACER_CORE_OAUTH_AUTHZ_H
#define PACER_CORE_OAUTH_AUTHZ_H

#include <stddef.h>

#include "common/err.h"
#include "core/oauth_token.h"

#define PACER_OAUTH_PKCE_RANDOM  32   /* random bytes behind a verifier */
#define PACER_OAUTH_PKCE_LEN     43   /* verifier and challenge, chars */
#define PACER_OAUTH_STATE_RANDOM 16   /* random bytes behind a state */
#define PACER_OAUTH_STATE_LEN    32   /* state, hex chars */
#define PACER_OAUTH_PARAM_MAX    4096 /* code, state, error text, bytes */

/** Makes a PKCE pair from rnd (PACER_OAUTH_PKCE_RANDOM bytes, borrowed):
 *  verifier = base64url(rnd) without padding (43 characters of the
 *  unreserved set), challenge = base64url(SHA-256(verifier)). Both buffers
 *  need PACER_OAUTH_PKCE_LEN + 1 bytes and come back NUL-terminated.
 *  Pure; any thread. Source: RFC 7636 §4.1, §4.2 (S256). */
void pacer_oauth_pkce(const unsigned char *rnd, char *verifier,
                      char *challenge);

/** Sets *out to the owned authorization request URL: authorize_url
 *  (borrowed; its own query is kept, RFC 6749 §3.1) plus response_type=
 *  code, client_id, redirect_uri, scope (NULL or "" leaves it out), state,
 *  code_challenge and code_challenge_method=S256, each form-encoded.
 *  Returns 0, PACER_EINVAL with err "authorize: ..." when authorize_url has
 *  a #fragment or a value is empty, or PACER_ENOMEM. Pure; any thread. */
int pacer_oauth_authorize_url(const char *authorize_url, const char *client_id,
                              const char *redirect_uri, const char *scope,
                              const char *state, const char *challenge,
                              char **out, struct pacer_error *err);

/** What came back on the redirect URI. Strings owned, NULL when absent;
 *  free with pacer_oauth_callback_free. */
struct pacer_oauth_callback {
  char *code;              /* the authorization code (a secret) */
  char *state;             /* the state we sent, echoed */
  char *error;             /* RFC 6749 §4.1.2.1 error code */
  char *error_description; /* its text (printable ASCII, '?' otherwise) */
};

/** Parses the redirect the browser was sent to: a whole URL (anything up to
 *  '?' is skipped), or just its query. Reads code, state, error and
 *  error_description (form-decoded, each at most PACER_OAUTH_PARAM_MAX
 *  bytes); a #fragment is ignored. Fills *cb (zeroed first). Returns 0
 *  when it has a code or an error; PACER_EINVAL with err "redirect: ..."
 *  (the text is never quoted: it holds the code) when it has neither, a
 *  parameter repeats or is too long, or decodes to a control byte;
 *  PACER_ENOMEM. Pure; any thread. Source: RFC 6749 §4.1.2, §4.1.2.1. */
int pacer_oauth_callback_parse(const char *text,
                               struct pacer_oauth_callback *cb,
                               struct pacer_error *err);

/** Wipes and frees cb's strings and zeroes it. NULL does nothing. */
void pacer_oauth_callback_free(struct pacer_oauth_callback *cb);

/** Builds the token request for an authorization code: body "grant_type=
 *  authorization_code&code=C&redirect_uri=R&code_verifier=V", client
 *  authentication as pacer_oauth_refresh_request does (Basic header,
 *  client_id and client_secret in the body, or client_id alone for a
 *  public client). Every string borrowed, non-empty (client_secret may be
 *  "", ignored for AUTH_NONE). Returns 0, PACER_EINVAL with err "code
 *  request: ..." or PACER_ENOMEM; on failure req holds nothing. Free with
 *  pacer_oauth_request_free. Pure; any thread. Source: RFC 6749 §4.1.3,
 *  RFC 7636 §4.5. */
int pacer_oauth_code_request(struct pacer_oauth_request *req,
                             enum pacer_oauth_auth auth, const char *client_id,
                             const char *client_secret, const char *code,
                             const char *redirect_uri, const char *verifier,
                             struct pacer_error *err);

#endif
