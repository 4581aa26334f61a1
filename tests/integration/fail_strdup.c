/* LD_PRELOAD fault injector for e2e_oom_entry: strdup(s) of a string that
 * starts with "oom-strdup-" returns NULL with errno ENOMEM for the first
 * PACER_FAILSTRDUP_COUNT (default 1) such calls in the process, as if
 * malloc had run out; every later call, and every other string, goes to
 * the real strdup (the next one in the lookup order: libc's, or the
 * sanitizer runtime's in an ASan build). When PACER_FAILSTRDUP_LOG names a
 * file, each injected failure appends one line "fail_strdup <s>" to it, so
 * the test knows the failure happened. Only the job ids the test chooses
 * are affected; the rest of the process allocates normally. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef char *(*strdup_fn)(const char *);

static void
note_failure(const char *s)
{
  const char *path = getenv("PACER_FAILSTRDUP_LOG");
  int fd;

  if (path == NULL || *path == '\0')
    return;
  /* No stdio: it allocates, and allocation is what is failing here. */
  fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return;
  if (write(fd, "fail_strdup ", 12) < 0 || write(fd, s, strlen(s)) < 0 ||
      write(fd, "\n", 1) < 0) {
    /* best effort: the test then reports the failure as not seen */
  }
  close(fd);
}

char *
strdup(const char *s)
{
  static const char prefix[] = "oom-strdup-";
  static long failed; /* injected failures so far, this process */
  strdup_fn real;

  if (strncmp(s, prefix, sizeof(prefix) - 1) == 0) {
    const char *v = getenv("PACER_FAILSTRDUP_COUNT");
    long max = v != NULL ? strtol(v, NULL, 10) : 1;

    if (__atomic_fetch_add(&failed, 1, __ATOMIC_SEQ_CST) < max) {
      note_failure(s);
      errno = ENOMEM;
      return NULL;
    }
  }
  real = (strdup_fn)(void (*)(void))dlsym(RTLD_NEXT, "strdup");
  if (real == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  return real(s);
}
