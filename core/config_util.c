/* Small checks shared by the config parsers (core/config.c, limits.c,
 * config_cred.c), declared in config_int.h. */
#include "core/config_int.h"
#include "core/json_int.h"

#include <string.h>

/* Reads an integral JSON number in [lo, hi] (cJSON keeps doubles; range
 * first so the cast is defined). */
int
pacer_config_get_int(const cJSON *item, const char *name, int64_t lo,
                     int64_t hi, int64_t *out, struct pacer_error *err)
{
  return pacer_json_get_int(item, name, lo, hi, PACER_ECONFIG, out, err);
}

/* RFC 9110 §5.6.2: tchar, the characters of a header field name. */
int
pacer_config_is_tchar(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

int
pacer_config_is_host_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* 1 when s is all bytes in [lo, 0x7e] */
int
pacer_config_visible(const char *s, unsigned char lo)
{
  for (; *s != '\0'; s++) {
    if ((unsigned char)*s < lo || (unsigned char)*s > 0x7e)
      return 0;
  }
  return 1;
}

/* Parses a decimal in [lo, hi] from s[0..n); n > 0, digits only. */
int
pacer_config_parse_dec(const char *s, size_t n, long lo, long hi, long *out)
{
  long v = 0;
  size_t i;

  if (n == 0)
    return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    if (v > (hi - (s[i] - '0')) / 10)
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v < lo)
    return -1;
  *out = v;
  return 0;
}
