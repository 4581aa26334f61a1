/* alloc_count: an LD_PRELOAD library for bench/throughput.sh that counts
 * the malloc, calloc and realloc calls of a `pacer` process (libcurl,
 * hiredis, libuv and pacer alike) and, at exit, writes
 * "allocs=<calls> alloc_bytes=<bytes requested>" to the file
 * $PACER_ALLOC_COUNT_OUT.<pid>. Processes of any other name write nothing.
 * pacer's children do not inherit it: the redis-server that `pacer run`
 * starts brings its own allocator (jemalloc), and a malloc from here freed
 * there crashes it.
 * The calls go on to glibc's own allocator (__libc_malloc and friends), so
 * nothing else changes. Counts include start-up and shutdown. Bench only;
 * never linked into pacer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

static atomic_size_t calls; /* malloc/calloc/realloc calls */
static atomic_size_t bytes; /* bytes requested by those calls */

static void
count(size_t n)
{
  atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&bytes, n, memory_order_relaxed);
}

void *
malloc(size_t size)
{
  count(size);
  return __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
  count(n * size);
  return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t size)
{
  count(size);
  return __libc_realloc(p, size);
}

/* Keeps the library out of pacer's children. */
__attribute__((constructor)) static void
start(void)
{
  if (strcmp(program_invocation_short_name, "pacer") == 0)
    unsetenv("LD_PRELOAD");
}

/* Writes the counts of a process named "pacer" at exit. */
__attribute__((destructor)) static void
report(void)
{
  const char *out = getenv("PACER_ALLOC_COUNT_OUT");
  char path[4096];
  FILE *f;
  int saved = errno;

  if (out == NULL || strcmp(program_invocation_short_name, "pacer") != 0)
    return;
  snprintf(path, sizeof(path), "%s.%ld", out, (long)getpid());
  f = fopen(path, "w");
  if (f != NULL) {
    fprintf(f, "allocs=%zu alloc_bytes=%zu\n",
            atomic_load_explicit(&calls, memory_order_relaxed),
            atomic_load_explicit(&bytes, memory_order_relaxed));
    fclose(f);
  }
  errno = saved;
}
