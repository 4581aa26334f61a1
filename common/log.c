#include "common/log.h"
#include "common/err.h"
#include "common/logfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_COMPONENTS 16

#define LINE_MAX_BYTES 2048 /* a logfmt line, with its newline */
/* Its JSON rendering: escapes grow a byte to at most 6 ("\u001f"). */
#define JSON_MAX_BYTES 8192

static enum pacer_log_level min_level = PACER_LOG_INFO;
static enum pacer_log_format format = PACER_LOG_FORMAT_LOGFMT;
static int all_on = 1;
static char listed[MAX_COMPONENTS][16]; /* components named in the spec */
static int listed_on[MAX_COMPONENTS];
static int nlisted;

void
pacer_log_set_format(enum pacer_log_format f)
{
  format = f;
}

int
pacer_log_format_parse(const char *name, enum pacer_log_format *out)
{
  if (strcmp(name, "logfmt") == 0)
    *out = PACER_LOG_FORMAT_LOGFMT;
  else if (strcmp(name, "json") == 0)
    *out = PACER_LOG_FORMAT_JSON;
  else
    return PACER_EINVAL;
  return 0;
}

void
pacer_log_set_level(enum pacer_log_level level)
{
  min_level = level;
}

int
pacer_log_level_parse(const char *name, enum pacer_log_level *out)
{
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  int i;

  for (i = 0; i < 5; i++) {
    if (strcmp(name, names[i]) == 0) {
      *out = (enum pacer_log_level)i;
      return 0;
    }
  }
  return PACER_EINVAL;
}

int
pacer_log_set_components(const char *spec)
{
  const char *p = spec;
  int all = 0;

  nlisted = 0;
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    int on = 1;

    if (len > 0 && (*p == '-' || *p == '+')) {
      on = *p == '+';
      p++;
      len--;
    }
    if (len == 0 || len >= sizeof(listed[0]))
      return PACER_EINVAL;
    if (len == 3 && memcmp(p, "all", 3) == 0) {
      all = on;
    } else {
      if (nlisted == MAX_COMPONENTS)
        return PACER_EINVAL;
      memcpy(listed[nlisted], p, len);
      listed[nlisted][len] = '\0';
      listed_on[nlisted++] = on;
    }
    p += len;
    if (*p == ',')
      p++;
  }
  all_on = all;
  return 0;
}

int
pacer_log_enabled(enum pacer_log_level level, const char *component)
{
  int i;

  if (level < min_level)
    return 0;
  if (level >= PACER_LOG_WARN)
    return 1; /* warnings and errors are never filtered by component */
  for (i = 0; i < nlisted; i++) {
    if (strcmp(listed[i], component) == 0)
      return listed_on[i];
  }
  return all_on;
}

void
pacer_log(enum pacer_log_level level, const char *component, const char *fmt,
          ...)
{
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  char line[LINE_MAX_BYTES];
  char json[JSON_MAX_BYTES];
  struct timeval tv;
  struct tm tm;
  const char *out;
  size_t n;
  int w;
  va_list ap;

  if (!pacer_log_enabled(level, component))
    return;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
  w = snprintf(line + n, sizeof(line) - n, ".%03dZ level=%s comp=%s ",
               (int)(tv.tv_usec / 1000), names[level], component);
  if (w > 0)
    n += (size_t)w;
  va_start(ap, fmt);
  w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
  va_end(ap);
  if (w > 0)
    n += (size_t)w;
  if (n > sizeof(line) - 2)
    n = sizeof(line) - 2;
  if (format == PACER_LOG_FORMAT_JSON) {
    n = pacer_logfmt_to_json(line, n, json, sizeof(json) - 1);
    json[n++] = '\n';
    out = json;
  } else {
    line[n++] = '\n';
    out = line;
  }
  /* One write so lines from different threads never interleave. */
  if (write(STDERR_FILENO, out, n) < 0) {
    /* nothing sensible to do when stderr is gone */
  }
}

char *
pacer_log_quote(char *buf, size_t size, const char *text)
{
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;
  const unsigned char *p;

  for (p = (const unsigned char *)text; *p != '\0'; p++) {
    size_t need = (*p == '"' || *p == '\\')   ? 2
                  : (*p < 0x20 || *p == 0x7f) ? 4
                                              : 1;

    if (n + need + 4 > size) {
      memcpy(buf + n, "...", 3);
      n += 3;
      break;
    }
    if (need == 2) {
      buf[n++] = '\\';
      buf[n++] = (char)*p;
    } else if (need == 4) {
      buf[n++] = '\\';
      buf[n++] = 'x';
      buf[n++] = hex[*p >> 4];
      buf[n++] = hex[*p & 15];
    } else {
      buf[n++] = (char)*p;
    }
  }
  buf[n] = '\0';
  return buf;
}

char *
pacer_log_value(char *buf, size_t size, const char *text)
{
  const unsigned char *p;
  size_t len = strlen(text);

  for (p = (const unsigned char *)text; *p != '\0'; p++) {
    if (*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '=' || *p == '\\')
      break;
  }
  if (len > 0 && *p == '\0') {
    if (len < size) {
      memcpy(buf, text, len + 1);
    } else {
      memcpy(buf, text, size - 4);
      memcpy(buf + size - 4, "...", 4);
    }
    return buf;
  }
  buf[0] = '"';
  pacer_log_quote(buf + 1, size - 2, text);
  len = strlen(buf);
  buf[len] = '"';
  buf[len + 1] = '\0';
  return buf;
}
