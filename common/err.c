/* strerrordesc_np and strerrorname_np (glibc >= 2.32) are GNU extensions:
 * the one place that needs _GNU_SOURCE, so common/ and core/ need no libuv
 * to name the negated-errno codes libuv hands us. */
#define _GNU_SOURCE 1
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define UV_EOF_CODE (-4095) /* libuv's UV_EOF, the one non-errno code seen */

const char *
pacer_strerror(int code)
{
  switch (code) {
#define PACER_ERR_MSG(name, val, msg)                                          \
  case (val):                                                                  \
    return (msg);
    PACER_ERRNO_MAP(PACER_ERR_MSG)
#undef PACER_ERR_MSG
  case 0:
    return "success";
  default:
    break;
  }
  if (code == UV_EOF_CODE)
    return "end of file";
  if (code < 0 && code > -5000 && strerrordesc_np(-code) != NULL)
    return strerrordesc_np(-code);
  return "unknown error";
}

const char *
pacer_err_name(int code)
{
  switch (code) {
#define PACER_ERR_NAME(name, val, msg)                                         \
  case (val):                                                                  \
    return "PACER_" #name;
    PACER_ERRNO_MAP(PACER_ERR_NAME)
#undef PACER_ERR_NAME
  case 0:
    return "OK";
  default:
    break;
  }
  if (code == UV_EOF_CODE)
    return "EOF";
  if (code < 0 && code > -5000 && strerrorname_np(-code) != NULL)
    return strerrorname_np(-code);
  return "UNKNOWN";
}

int
pacer_error_set(struct pacer_error *err, int code, const char *fmt, ...)
{
  va_list ap;

  if (err == NULL)
    return code;
  err->code = code;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
  return code;
}

void
pacer_error_clear(struct pacer_error *err)
{
  if (err == NULL)
    return;
  err->code = 0;
  err->msg[0] = '\0';
}
