/* WWW-Authenticate parsing: find the Bearer challenge of a 401 or 403.
 *
 * Pure core: no clock, no I/O, no allocation, no locale. Input is
 * pointer + length, so field values need no NUL and may contain one (a NUL
 * is a byte the grammar does not allow, nothing more). Output goes into a
 * caller-owned struct with fixed buffers: nothing to free.
 *
 * Grammar, RFC 9110 §11.6.1 and §5.6:
 *
 *   WWW-Authenticate = #challenge
 *   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *   token68    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 *
 * The comma both separates challenges and the parameters of one challenge:
 * after a comma, "name =" continues the current challenge and a bare token
 * starts the next one. Scheme and parameter names compare
 * case-insensitively; values keep their case (quoted-string escapes
 * removed). Examples and what they give for scheme "Bearer":
 *
 *   Bearer error="invalid_token", error_description="The access token
 *     expired"                            invalid_token, with description
 *   bearer ERROR=invalid_token            invalid_token (case, token value)
 *   Basic realm="x", Bearer realm="y", error="invalid_token"
 *                                         the second challenge, realm y
 *   Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm=
 *     "simple"                            no Bearer challenge
 *   Bearer error="insufficient_scope", scope="x:write"
 *                                         insufficient_scope, scope x:write
 *   "", "garbage", "Bearer error=\"inv"   no Bearer challenge / Bearer with
 *                                         no error (malformed set)
 *
 * Malformed input never stops the parse: the offending element is skipped
 * up to the next comma outside a quoted-string, `malformed` is set, and
 * parsing goes on with what follows. A parameter whose value is broken (an
 * unterminated quote, a control byte) is dropped, never half-used, so a
 * damaged header can only make a challenge say less, not something else.
 */
#ifndef PACER_CORE_WWW_AUTH_H
#define PACER_CORE_WWW_AUTH_H

#include <stddef.h>

#include "common/err.h"

#define PACER_BEARER_ERROR_MAX 63  /* error value kept, bytes excl. NUL */
#define PACER_BEARER_DESC_MAX  255 /* error_description kept, bytes */
#define PACER_BEARER_SCOPE_MAX 511 /* scope kept, bytes excl. NUL */
#define PACER_BEARER_REALM_MAX 255 /* realm kept, bytes excl. NUL */

/* Bits of pacer_bearer_challenge.present and .truncated. */
#define PACER_BEARER_HAS_ERROR 0x1u /* error */
#define PACER_BEARER_HAS_DESC  0x2u /* error_description */
#define PACER_BEARER_HAS_SCOPE 0x4u /* scope */
#define PACER_BEARER_HAS_REALM 0x8u /* realm */

/** The error code of a Bearer challenge, RFC 6750 §3.1. */
enum pacer_bearer_error {
  PACER_BEARER_ERR_NONE = 0,           /* no error parameter */
  PACER_BEARER_ERR_INVALID_REQUEST,    /* "invalid_request" (400) */
  PACER_BEARER_ERR_INVALID_TOKEN,      /* "invalid_token": expired, revoked,
                                          malformed: refresh may help (401) */
  PACER_BEARER_ERR_INSUFFICIENT_SCOPE, /* "insufficient_scope": a refresh
                                          cannot help (403) */
  PACER_BEARER_ERR_OTHER               /* any other or a truncated value */
};

/** What one Bearer challenge says. Plain value with in-struct buffers; all
 *  strings are NUL-terminated, "" when absent, unescaped, and may hold any
 *  byte the grammar allows (obs-text 0x80-0xFF included, never a control
 *  byte or NUL). A value longer than its buffer is cut at the buffer size
 *  and flagged in `truncated`. Source: RFC 6750 §3, RFC 9110 §11.6.1. */
struct pacer_bearer_challenge {
  enum pacer_bearer_error code; /* error, classified (case-insensitive) */
  unsigned present;   /* PACER_BEARER_HAS_* bits: parameter was given */
  unsigned truncated; /* PACER_BEARER_HAS_* bits: value was cut */
  int malformed;      /* 1 when anything in the field value(s) broke the
                         grammar or a parameter repeated (first one kept) */
  char error[PACER_BEARER_ERROR_MAX + 1];
  char error_description[PACER_BEARER_DESC_MAX + 1];
  char scope[PACER_BEARER_SCOPE_MAX + 1]; /* space-separated scope tokens */
  char realm[PACER_BEARER_REALM_MAX + 1];
};

/** Finds the challenge for auth scheme `scheme` in one WWW-Authenticate
 *  field value value[0..len), which may hold several challenges (and so
 *  may be several header lines joined with ", ", RFC 9110 §5.3).
 *
 *  scheme (borrowed, NUL-terminated; NULL means "Bearer") is matched
 *  case-insensitively. When several challenges use it, the first one that
 *  carries an error parameter wins, else the first one. A challenge with a
 *  token68 instead of parameters counts, with no parameters. value is
 *  borrowed and may be NULL when len is 0.
 *
 *  Fills *out (borrowed; always fully written, zeroed first). Returns 0
 *  when the scheme's challenge was found, PACER_ENOTFOUND when not (empty
 *  or absent header, other schemes only, garbage). out->malformed may be
 *  set in both cases.
 *
 *  Pure; any thread. Source: RFC 9110 §11.6.1 (challenge grammar), §5.6.2
 *  (token), §5.6.4 (quoted-string), §5.6.3 (BWS); RFC 6750 §3 (Bearer
 *  parameters; error, scope once per challenge). */
int pacer_www_auth_bearer(const char *value, size_t len, const char *scheme,
                          struct pacer_bearer_challenge *out);

/** Like pacer_www_auth_bearer over several header lines values[0..n) with
 *  lengths lens[0..n) (both borrowed; NULL entries with length 0 are
 *  skipped), as if they were joined with ", ". The first-with-error rule
 *  applies across lines. Returns 0 or PACER_ENOTFOUND. Pure; any thread.
 *  Source: RFC 9110 §5.3 (combining field lines), §11.6.1. */
int pacer_www_auth_bearer_lines(const char *const *values, const size_t *lens,
                                size_t n, const char *scheme,
                                struct pacer_bearer_challenge *out);

/** The question the scheduler asks of a 401: does value[0..len) (borrowed,
 *  may be NULL when len is 0) hold a `scheme` (NULL: "Bearer") challenge
 *  whose error is invalid_token? Returns 1 or 0, never an error. Pure; any
 *  thread. Source: RFC 6750 §3.1 invalid_token. */
int pacer_www_auth_says_invalid_token(const char *value, size_t len,
                                      const char *scheme);

#endif
