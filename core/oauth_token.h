/* OAuth2 token endpoint: the refresh request, the response, what the
 * outcome means, and when the new access token expires.
 *
 * Pure core: no clock, no I/O. The current time is an argument,
 * the HTTP call is the worker's, and the Redis state belongs to the
 * credential glue. This file only turns values into values:
 *
 *   refresh token, client id/secret --pacer_oauth_refresh_request--> body +
 *     Authorization line (RFC 6749 §6, §2.3.1, Appendix B)
 *   HTTP status + body --pacer_oauth_token_parse--> struct pacer_oauth_token
 *     --pacer_oauth_classify--> OK / REAUTH / RETRY (RFC 6749 §5.1, §5.2)
 *   token + now --pacer_oauth_expiry--> expiry_unix_ms (also without
 *     expires_in)
 *
 * Secrets: every buffer that holds an access token, refresh token, client
 * secret or request body is wiped with sodium_memzero before it is freed,
 * including the strings inside cJSON trees (cJSON_Delete does not wipe). No
 * error message ever quotes a token or secret (docs/CREDENTIALS.md).
 *
 * libsodium: the base64 codecs and sodium_memzero used here work before
 * sodium_init, so nothing in this file calls it; pacer_oauth_global_init
 * exists for main, which calls it once before threads start (the Redis lock
 * values need libsodium's random numbers).
 */
#ifndef PACER_CORE_OAUTH_TOKEN_H
#define PACER_CORE_OAUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct cJSON;

/* Above PACER_OAUTH_EXPIRES_IN_MAX_S (10 years) expires_in is ignored. */
#define PACER_OAUTH_LIFETIME_DEFAULT_S 300       /* s, last-resort lifetime */
#define PACER_OAUTH_EXPIRES_IN_MAX_S   315360000 /* s */
#define PACER_OAUTH_TOKEN_MAX          16384  /* access/refresh token, bytes */
#define PACER_OAUTH_BODY_MAX           262144 /* token response, bytes */
#define PACER_OAUTH_ERROR_MAX          64     /* error code kept, bytes */
#define PACER_OAUTH_DESC_MAX           256    /* error_description, bytes */
#define PACER_OAUTH_CONTENT_TYPE                                               \
  "Content-Type: application/x-www-form-urlencoded" /* request header */

/* Bits of pacer_oauth_token.ignored: a member was present but unusable and
 * is treated as absent. */
#define PACER_OAUTH_IGNORED_EXPIRES_IN    0x1u
#define PACER_OAUTH_IGNORED_TOKEN_TYPE    0x2u
#define PACER_OAUTH_IGNORED_REFRESH_TOKEN 0x4u
#define PACER_OAUTH_IGNORED_SCOPE         0x8u

/** How the client authenticates to the token endpoint. */
enum pacer_oauth_auth {
  PACER_OAUTH_AUTH_BASIC = 0, /* client_secret_basic: Authorization: Basic
                                 (RFC 6749 §2.3.1), the default */
  PACER_OAUTH_AUTH_POST,      /* client_secret_post: id and secret in the
                                 body (RFC 6749 §2.3.1) */
  PACER_OAUTH_AUTH_NONE       /* public client: client_id in the body only
                                 (RFC 6749 §2.1, §3.2.1) */
};

/** A parsed token endpoint response: either a success (access_token set) or
 *  an error response (error set), never both. All strings are owned, NULL
 *  when absent; free the members with pacer_oauth_token_free.
 *  Source: RFC 6749 §5.1 (success), §5.2 (error). */
struct pacer_oauth_token {
  char *access_token;      /* secret; 1..PACER_OAUTH_TOKEN_MAX bytes of
                              %x21-7E; wiped on free */
  char *token_type;        /* e.g. "Bearer" (compare case-insensitively),
                              or NULL when absent (tolerated) */
  char *refresh_token;     /* secret, wiped on free; NULL when absent:
                              keep the refresh token you have (§6) */
  char *scope;             /* granted scope, or NULL (same as requested) */
  uint64_t expires_in_s;   /* s, valid when has_expires_in */
  int has_expires_in;      /* 1 when a usable expires_in came */
  unsigned ignored;        /* PACER_OAUTH_IGNORED_* bits */
  char *error;             /* §5.2 error code, or NULL; printable ASCII,
                              at most PACER_OAUTH_ERROR_MAX bytes */
  char *error_description; /* or NULL; printable ASCII (other bytes become
                              '?'), cut at PACER_OAUTH_DESC_MAX bytes. May
                              echo a secret: see pacer_oauth_token_redact */
};

/** What the caller should do after a token request. */
enum pacer_oauth_outcome {
  PACER_OAUTH_OK = 0, /* use the new token (and rotated refresh token) */
  PACER_OAUTH_REAUTH, /* refused: mark reauth_required, park the jobs, no
                         further token calls until a new refresh token */
  PACER_OAUTH_RETRY   /* temporary: back off (honour Retry-After), keep
                         the current refresh token */
};

/** Where pacer_oauth_expiry took the lifetime from. */
enum pacer_oauth_expiry_source {
  PACER_OAUTH_EXPIRY_EXPIRES_IN = 0, /* the response's expires_in */
  PACER_OAUTH_EXPIRY_JWT,            /* the access token's JWT exp claim */
  PACER_OAUTH_EXPIRY_LAST,           /* the last known lifetime */
  PACER_OAUTH_EXPIRY_DEFAULT         /* the configured or built-in default */
};

/** The refresh request to send: POST it to token_url with body, the
 *  PACER_OAUTH_CONTENT_TYPE header and, when set, auth_header. Both strings
 *  are owned secrets; free with pacer_oauth_request_free. */
struct pacer_oauth_request {
  char *body;        /* form body, NUL-terminated */
  size_t body_len;   /* bytes, excl. NUL */
  char *auth_header; /* "Authorization: Basic <base64>" line, or NULL */
};

/** Calls sodium_init once per process. Returns 0, or PACER_EIO when
 *  libsodium cannot initialise. Thread-safe and idempotent (libsodium >=
 *  1.0.11 serialises it); call it from main before threads start anyway.
 *  Not pure (libsodium opens its random device). */
int pacer_oauth_global_init(void);

/** Builds a refresh request: body "grant_type=refresh_token&refresh_token=
 *  RT[&scope=S]" plus, for PACER_OAUTH_AUTH_POST, "&client_id=ID&
 *  client_secret=SECRET", for PACER_OAUTH_AUTH_NONE "&client_id=ID", and for
 *  PACER_OAUTH_AUTH_BASIC the line "Authorization: Basic
 *  base64(urlencode(ID) ":" urlencode(SECRET))". Every value is
 *  application/x-www-form-urlencoded: bytes outside A-Z a-z 0-9 * - . _
 *  become %HH (upper-case hex) and space becomes "+".
 *
 *  refresh_token, client_id (non-empty), client_secret (may be "", must be
 *  non-NULL unless auth is NONE, ignored then) and scope (NULL or "" to
 *  leave it out) are borrowed NUL-terminated strings of at most
 *  PACER_OAUTH_TOKEN_MAX bytes. Fills *req (borrowed; zeroed first).
 *
 *  Returns 0; PACER_EINVAL with err "refresh request: <reason>" (never a
 *  secret) for a missing or oversized value; PACER_ENOMEM. On failure req
 *  holds nothing. Intermediate buffers are wiped. Pure; any thread.
 *  Source: RFC 6749 §6 (refresh), §2.3.1 (client password), Appendix B
 *  (form encoding); RFC 7617 (Basic); RFC 4648 §4 (base64). */
int pacer_oauth_refresh_request(struct pacer_oauth_request *req,
                                enum pacer_oauth_auth auth,
                                const char *client_id,
                                const char *client_secret,
                                const char *refresh_token, const char *scope,
                                struct pacer_error *err);

/** Wipes (sodium_memzero) and frees req's strings and zeroes it (not req
 *  itself). NULL does nothing. Any thread. */
void pacer_oauth_request_free(struct pacer_oauth_request *req);

/** Parses a token endpoint response body[0..len) (borrowed; need not be
 *  NUL-terminated; the caller wipes it) into *tok (borrowed; zeroed first).
 *
 *  A JSON object with a string "error" is an error response (error,
 *  error_description kept, sanitised and cut). Otherwise it is a success,
 *  which needs a string access_token of 1..PACER_OAUTH_TOKEN_MAX bytes of
 *  %x21-7E. The other members are read leniently, since refusing a 200
 *  would throw away a rotated refresh token: expires_in as a JSON number
 *  (fraction dropped) or decimal string, 1..PACER_OAUTH_EXPIRES_IN_MAX_S;
 *  token_type a token, refresh_token and scope strings of visible ASCII.
 *  A member of the wrong type or range is treated as absent and flagged in
 *  tok->ignored. A JSON null is absent. Unknown members are ignored (§5.1).
 *
 *  Returns 0; PACER_EINVAL with err "token response: <reason>" (the body is
 *  never quoted) when the body is empty, larger than PACER_OAUTH_BODY_MAX,
 *  not one JSON object, holds a NUL byte, repeats a member this parser
 *  reads, or has neither a usable access_token nor an error; PACER_ENOMEM.
 *  On failure tok holds nothing. Free with pacer_oauth_token_free.
 *  Pure; any thread. Source: RFC 6749 §5.1, §5.2, Appendix A. */
int pacer_oauth_token_parse(struct pacer_oauth_token *tok, const char *body,
                            size_t len, struct pacer_error *err);

/** Wipes (sodium_memzero) and frees tok's strings and zeroes it (not tok
 *  itself). NULL does nothing. Any thread. */
void pacer_oauth_token_free(struct pacer_oauth_token *tok);

/** Replaces every occurrence of each of secrets[0..n) (borrowed; NULL and
 *  "" skipped) in tok->error and tok->error_description with "[redacted]",
 *  for IdPs that echo the refresh token or client secret in an error.
 *  Returns 0 or PACER_ENOMEM (tok unchanged for the field being
 *  rewritten). Old strings are wiped before they are freed. Pure; any
 *  thread. Pinned by tests/unit/test_oauth_token.c. */
int pacer_oauth_token_redact(struct pacer_oauth_token *tok,
                             const char *const *secrets, size_t n);

/** Decides what a token request's result means. http_status is the
 *  response status, or 0 when there was no response (transport error,
 *  timeout). parse_rc is what pacer_oauth_token_parse returned for the body
 *  and tok (borrowed, may be NULL when not parsed) what it filled.
 *
 *    2xx with a usable access token             PACER_OAUTH_OK
 *    2xx carrying a §5.2 refusal (invalid_grant, invalid_client,
 *      invalid_request, unauthorized_client, unsupported_grant_type,
 *      invalid_scope)                           PACER_OAUTH_REAUTH
 *    any other 2xx (unparseable, other error)   PACER_OAUTH_RETRY
 *    4xx except 408 and 429, whatever the body  PACER_OAUTH_REAUTH
 *    429, 408, 5xx, 0, 1xx, 3xx, >= 600         PACER_OAUTH_RETRY
 *
 *  408 Request Timeout is retried: it says the request was slow, not that
 *  the grant is bad. Pure; any thread. Source: RFC 6749 §5.2; RFC 6585 §4
 *  (429); RFC 9110 §15.5.9 (408). */
enum pacer_oauth_outcome
pacer_oauth_classify(int http_status, int parse_rc,
                     const struct pacer_oauth_token *tok);

/** Tells whether a token request that ended without a response
 *  (http_result, a PACER_HTTP_* of core/result.h; error: libcurl's text,
 *  borrowed, may be NULL) provably never reached the provider, so sending
 *  the same refresh token again cannot spend it twice: a refused or
 *  unresolvable connect (PACER_HTTP_CONNECT), an address the destination
 *  policy refused (BLOCKED), an HTTP/2 stream the upstream refused
 *  (REFUSED), a connect or DNS timeout ("Connection timed out after",
 *  "Resolving timed out after") and a failed TLS handshake ("SSL ...",
 *  "OpenSSL SSL_connect", "TLS connect error", "gnutls_handshake"). Every
 *  other timeout or transport error may have come after the request was
 *  written: outcome unknown. Returns 1 or 0. Pure; any thread. Source:
 *  RFC 9700 §4.14.2 (refresh token rotation and reuse). */
int pacer_oauth_never_sent(int http_result, const char *error);

/** Reads the `exp` claim of a JWT access token token[0..len) (borrowed):
 *  three dot-separated base64url segments (padding tolerated), the second
 *  decoding to a JSON object whose exp is a number (fraction dropped) in
 *  1..2^53. The signature is NOT verified: the value only schedules our own
 *  refresh, and a forged exp can only make us refresh early or late, as any
 *  wrong expiry would. Sets *exp_unix_s (s since the epoch). Returns 0,
 *  PACER_ENOTFOUND when token is not a JWT or has no exp, PACER_EINVAL when
 *  exp is not a usable number, PACER_ENOMEM. Decoded bytes are wiped.
 *  Pure; any thread. Source: RFC 7519 §4.1.4 (exp), §7.2; RFC 7515 §7.1
 *  (compact form); RFC 4648 §5 (base64url). */
int pacer_oauth_jwt_exp(const char *token, size_t len, int64_t *exp_unix_s);

/** Works out when tok's access token expires, in ms since the epoch, by
 *  the first rule that applies:
 *    1. now_unix_ms + tok->expires_in_s, when the response had it;
 *    2. the JWT exp of tok->access_token, when it is later than now and at
 *       most PACER_OAUTH_EXPIRES_IN_MAX_S ahead (an exp already past says
 *       our clocks disagree; refreshing again at once would not help);
 *    3. now_unix_ms + last_lifetime_s, when non-zero (the lifetime of the
 *       previous token, which the caller stores);
 *    4. now_unix_ms + default_lifetime_s, or PACER_OAUTH_LIFETIME_DEFAULT_S
 *       when that is 0.
 *  Lifetimes are capped at PACER_OAUTH_EXPIRES_IN_MAX_S and the sum
 *  saturates, never wraps. now_unix_ms should be the time the request was
 *  sent (expires_in counts from the response). tok borrowed, may be NULL
 *  (rules 3-4 only). Sets *expiry_unix_ms and returns the rule used. Pure;
 *  any thread. Source: RFC 6749 §5.1 (expires_in), RFC 7519 §4.1.4. */
enum pacer_oauth_expiry_source
pacer_oauth_expiry(const struct pacer_oauth_token *tok, uint64_t now_unix_ms,
                   uint64_t last_lifetime_s, uint64_t default_lifetime_s,
                   uint64_t *expiry_unix_ms);

/** Clears (sodium_memzero) every string in the cJSON tree starting at item
 *  and its siblings (borrowed; the caller still deletes it), for trees that
 *  held secrets: cJSON_Delete frees strings without clearing them. Depth is
 *  bounded by cJSON's own nesting limit, which its parser enforces. NULL
 *  does nothing. Any thread. */
void pacer_json_wipe(struct cJSON *item);

#endif
