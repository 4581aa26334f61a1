/* libFuzzer target: WWW-Authenticate challenge parsing
 * (core/www_auth.h).
 *
 * The whole input is one field value (several challenges allowed); it is
 * also split at '\n' into field lines for pacer_www_auth_bearer_lines.
 *
 * Invariants checked beyond memory safety and UB:
 *   - the return is 0 or PACER_ENOTFOUND, and every string of the result
 *     is NUL-terminated inside its buffer with no control byte;
 *   - pacer_www_auth_says_invalid_token agrees with the parsed code;
 *   - one field line gives what pacer_www_auth_bearer gives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "core/www_auth.h"

#define MAX_LINES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s, size_t cap)
{
  size_t n = strnlen(s, cap);

  if (n >= cap)
    abort(); /* not NUL-terminated */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      abort();
}

static void
check(const struct pacer_bearer_challenge *c)
{
  check_str(c->error, sizeof(c->error));
  check_str(c->error_description, sizeof(c->error_description));
  check_str(c->scope, sizeof(c->scope));
  check_str(c->realm, sizeof(c->realm));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *v = (const char *)data;
  const char *lines[MAX_LINES];
  size_t lens[MAX_LINES], n = 0, start = 0;
  struct pacer_bearer_challenge a, b;
  int rc, rc1;

  rc = pacer_www_auth_bearer(v, size, NULL, &a);
  if (rc != 0 && rc != PACER_ENOTFOUND)
    abort();
  check(&a);
  if (pacer_www_auth_says_invalid_token(v, size, NULL) !=
      (rc == 0 && a.code == PACER_BEARER_ERR_INVALID_TOKEN))
    abort();
  rc1 = pacer_www_auth_bearer_lines(&v, &size, 1, NULL, &b);
  if (rc1 != rc || memcmp(&a, &b, sizeof(a)) != 0)
    abort();
  for (size_t i = 0; i <= size && n < MAX_LINES; i++) {
    if (i == size || v[i] == '\n') {
      lines[n] = v + start;
      lens[n] = i - start;
      n++;
      start = i + 1;
    }
  }
  rc = pacer_www_auth_bearer_lines(lines, lens, n, "bearer", &b);
  if (rc != 0 && rc != PACER_ENOTFOUND)
    abort();
  check(&b);
  return 0;
}
