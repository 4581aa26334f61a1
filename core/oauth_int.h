/* What core/oauth_token.c shares with core/oauth_authz.c: the form
 * encoding and the client's Basic credentials. Internal to core/. */
#ifndef PACER_CORE_OAUTH_INT_H
#define PACER_CORE_OAUTH_INT_H

#include <stddef.h>

/** Writes s (borrowed, NUL-terminated) application/x-www-form-urlencoded at
 *  out: bytes outside A-Z a-z 0-9 * - . _ become %HH (upper-case hex),
 *  space becomes "+". out must have room for 3 * strlen(s) bytes; no NUL
 *  is written. Returns the bytes written. Pure. Source: RFC 6749
 *  Appendix B. */
size_t pacer_oauth_form_encode(const char *s, char *out);

/** Sets *out to the owned line "Authorization: Basic " + base64(
 *  urlencode(id) ":" urlencode(secret)) (a secret: wipe before free).
 *  Returns 0 or PACER_ENOMEM (*out NULL). Pure. Source: RFC 6749 §2.3.1,
 *  RFC 7617. */
int pacer_oauth_basic_header(const char *id, const char *secret, char **out);

#endif
