/* Host patterns, shared by limits ("match": {"host": ...}) and
 * credentials ("hosts"): "api.example.com", "*.example.com" (every name
 * below example.com, not example.com itself), "[2001:db8::1]", or "*"
 * (any host, limits only). Compared case-insensitively with one trailing
 * dot ignored (RFC 3986 §3.2.2; RFC 6750 §5.3 for where a token may go).
 * Declared in core/config_int.h.
 */
#include <string.h>
#include <strings.h>

#include "core/config_int.h"

static char
lower(char c)
{
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* "api.example.com", "*.example.com", "[2001:db8::1]" or "*" (any host).
 * Stores the lower-cased pattern ("" for "*"). 0, or -1 when invalid. */
int
pacer_config_host_pattern(const char *s, char *out)
{
  const char *h = s;
  size_t i, n;

  if (strcmp(s, "*") == 0) {
    out[0] = '\0';
    return 0;
  }
  if (strncmp(s, "*.", 2) == 0)
    h = s + 2;
  n = strlen(s);
  if (n > PACER_LIMIT_HOST_MAX || h[0] == '\0')
    return -1;
  if (h[0] == '[') {
    /* an IPv6 literal as URLs write it (RFC 3986 §3.2.2); no glob */
    if (h != s || s[n - 1] != ']' || n < 3)
      return -1;
    for (i = 1; i + 1 < n; i++) {
      char c = lower(s[i]);

      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' ||
            c == '.'))
        return -1;
    }
  } else {
    /* dot-separated labels, none empty */
    for (i = 0; h[i] != '\0'; i++) {
      if (h[i] == '.' ? (i == 0 || h[i - 1] == '.' || h[i + 1] == '\0')
                      : !pacer_config_is_host_char(h[i]))
        return -1;
    }
  }
  for (i = 0; i <= n; i++)
    out[i] = lower(s[i]);
  return 0;
}

int
pacer_config_host_matches(const char *pattern, const char *host)
{
  size_t n, plen;

  if (host == NULL)
    return 0;
  n = strlen(host);
  if (n > 0 && host[n - 1] == '.')
    n--; /* "example.com." is the same name */
  if (pattern[0] == '*') {
    /* "*.example.com": at least one label before ".example.com" */
    plen = strlen(pattern + 1);
    return n > plen && strncasecmp(host + n - plen, pattern + 1, plen) == 0;
  }
  plen = strlen(pattern);
  return n == plen && strncasecmp(host, pattern, n) == 0;
}
