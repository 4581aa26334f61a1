/* libFuzzer target: the redirect `pacer cred authorize` reads, from its
 * loopback listener or pasted on stdin (core/oauth_authz.h).
 *
 * The input is the text (a whole URL or a query), cut at the first NUL.
 *
 * Invariants checked beyond memory safety and UB:
 *   - the return is 0, PACER_EINVAL or PACER_ENOMEM, and on failure every
 *     field is NULL;
 *   - on success there is a non-empty code or an error, and every string
 *     is at most PACER_OAUTH_PARAM_MAX bytes without a control byte;
 *     error_description is printable ASCII;
 *   - the parse is deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "core/oauth_authz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s, int printable)
{
  size_t n;

  if (s == NULL)
    return;
  n = strlen(s);
  if (n > PACER_OAUTH_PARAM_MAX)
    abort();
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c < 0x20 || c == 0x7f || (printable && c > 0x7e))
      abort();
  }
}

static int
same(const char *a, const char *b)
{
  return (a == NULL && b == NULL) ||
         (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct pacer_oauth_callback cb, again;
  struct pacer_error err;
  char *text = malloc(size + 1);
  int rc, rc2;

  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  rc = pacer_oauth_callback_parse(text, &cb, &err);
  if (rc != 0 && rc != PACER_EINVAL && rc != PACER_ENOMEM)
    abort();
  if (rc != 0) {
    if (cb.code || cb.state || cb.error || cb.error_description)
      abort();
  } else {
    if ((cb.code == NULL || cb.code[0] == '\0') && cb.error == NULL)
      abort();
    check_str(cb.code, 0);
    check_str(cb.state, 0);
    check_str(cb.error, 0);
    check_str(cb.error_description, 1);
  }
  rc2 = pacer_oauth_callback_parse(text, &again, &err);
  if (rc2 != rc || !same(cb.code, again.code) || !same(cb.state, again.state) ||
      !same(cb.error, again.error) ||
      !same(cb.error_description, again.error_description))
    abort();
  pacer_oauth_callback_free(&cb);
  pacer_oauth_callback_free(&again);
  free(text);
  return 0;
}
