/* Reading a small file whole (common/file.h). */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "<what>: <path>: <the text of errno e>" */
static int
sys_error(int e, const char *path, const char *what, int code,
          struct pacer_error *err)
{
  char ebuf[128];

  if (strerror_r(e, ebuf, sizeof(ebuf)) != 0)
    snprintf(ebuf, sizeof(ebuf), "error %d", e);
  return pacer_error_set(err, code, "%s: %s: %s", what, path, ebuf);
}

int
pacer_file_read(const char *path, const char *what, size_t max_bytes,
                unsigned flags, int code, char **out, size_t *len,
                unsigned *mode, struct pacer_error *err)
{
  struct stat st;
  char *buf;
  size_t n = 0;
  int fd, e;

  *out = NULL;
  *len = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return sys_error(errno, path, what, code, err);
  if (fstat(fd, &st) != 0) {
    e = errno;
    close(fd);
    return sys_error(e, path, what, code, err);
  }
  if ((flags & PACER_FILE_REGULAR) != 0 && !S_ISREG(st.st_mode)) {
    close(fd);
    return pacer_error_set(err, code, "%s: %s is not a regular file", what,
                           path);
  }
  if ((flags & PACER_FILE_PRIVATE) != 0 &&
      (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    close(fd);
    return pacer_error_set(err, code,
                           "%s: %s is readable by group or others (mode "
                           "%04o); chmod 600 %s",
                           what, path, (unsigned)(st.st_mode & 07777), path);
  }
  buf = malloc(max_bytes + 1);
  if (buf == NULL) {
    close(fd);
    return pacer_error_set(err, PACER_ENOMEM, "%s: out of memory", what);
  }
  while (n < max_bytes) {
    ssize_t r = read(fd, buf + n, max_bytes - n);

    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      e = errno;
      explicit_bzero(buf, n);
      free(buf);
      close(fd);
      return sys_error(e, path, what, code, err);
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  if (mode != NULL)
    *mode = (unsigned)st.st_mode;
  return 0;
}
