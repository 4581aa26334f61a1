/* Small shared macros. */
#ifndef PACER_COMMON_UTIL_H
#define PACER_COMMON_UTIL_H

#include <stddef.h>

/** Returns the struct of type `type` whose member `member` is at ptr
 *  (libuv handle -> owner). Source: Linux/libuv container_of. */
#define PACER_CONTAINER_OF(ptr, type, member)                                  \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/** Number of elements of a true array. */
#define PACER_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** The value 0..15 of the hexadecimal digit c (either case), or -1. Any
 *  thread. */
static inline int
pacer_hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

#endif
