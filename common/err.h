/* pacer error codes and error detail.
 *
 * Codes are negative ints. libuv codes (negated errno) pass straight through;
 * pacer's own codes live below -5000 so the two ranges never collide.
 */
#ifndef PACER_COMMON_ERR_H
#define PACER_COMMON_ERR_H

#include <stddef.h>

/* X-macro list: name, value, message. Generates the enum, pacer_strerror()
 * and pacer_err_name() from one table (libuv's UV_ERRNO_MAP pattern). */
#define PACER_ERRNO_MAP(X)                                                     \
  X(EINVAL, -5001, "invalid argument")                                         \
  X(ENOMEM, -5002, "out of memory")                                            \
  X(EJOB, -5003, "invalid job")                                                \
  X(ECONFIG, -5004, "invalid configuration")                                   \
  X(EREDIS, -5005, "redis error")                                              \
  X(ECANCELED, -5006, "operation canceled")                                    \
  X(ETOOLARGE, -5007, "too large")                                             \
  X(EHTTP, -5008, "http transfer error")                                       \
  X(ETIMEDOUT, -5009, "timed out")                                             \
  X(EIO, -5010, "input/output error")                                          \
  X(EUNKNOWN, -5011, "outcome unknown")                                        \
  X(ENOTFOUND, -5012, "not found")                                             \
  X(EBLOCKED, -5013, "destination blocked")                                    \
  X(ELIMIT, -5014, "rate limited")                                             \
  X(EAUTH, -5015, "authentication refused")

/** pacer's own error codes, all negative and below -5000.
 *  Source: libuv's X-macro error table. */
enum pacer_errno {
#define PACER_ERR_ENUM(name, val, msg) PACER_##name = (val),
  PACER_ERRNO_MAP(PACER_ERR_ENUM)
#undef PACER_ERR_ENUM
};

/** Caller-owned error detail: a code and a message formatted as
 *  "<field or operation>: <reason>". Never holds a secret. */
struct pacer_error {
  int code;      /* 0 or a negative PACER_E* / UV_E* code */
  char msg[256]; /* NUL-terminated human-readable detail */
};

/** Returns a static message for code (pacer, libuv or errno-style).
 *  Never NULL; unknown codes give "unknown error". Any thread. */
const char *pacer_strerror(int code);

/** Returns the symbolic name of code ("PACER_EJOB", "UV_ECONNREFUSED"),
 *  static storage, never NULL. Any thread. */
const char *pacer_err_name(int code);

/** Fills err (borrowed, may be NULL) with code and a printf-style message.
 *  Returns code, so callers can write `return pacer_error_set(...)`.
 *  Any thread. */
int pacer_error_set(struct pacer_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Clears err (borrowed, may be NULL) to code 0 and an empty message. */
void pacer_error_clear(struct pacer_error *err);

#endif
