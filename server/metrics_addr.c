/* The metrics endpoint's listen address and token file, split from
 * metrics_http.c. See metrics_http.h. */
#include "server/metrics_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/config.h"
#include "server/metrics_http.h"

#define HOST_MAX       256  /* host part of the listen address, bytes */
#define TOKEN_FILE_MAX 1024 /* bytes read from a token file */

int
pacer_metrics_is_loopback(const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

    return (ntohl(in->sin_addr.s_addr) >> 24) == 127u;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 =
        (const struct sockaddr_in6 *)(const void *)sa;
    const unsigned char *b = in6->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};

    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
      return 1;
    return memcmp(b, mapped, 12) == 0 && b[12] == 127u; /* ::ffff:127.x */
  }
  return 0;
}

/* Splits "host:port" / "[v6]:port" / ":port" / "port" (no host: loopback,
 * 127.0.0.1) and resolves it. Returns 0 with *res (free with freeaddrinfo)
 * or PACER_ECONFIG. */
int
pacer_metrics_resolve(const char *listen, struct addrinfo **res,
                      struct pacer_error *err)
{
  char host[HOST_MAX];
  const char *colon = strrchr(listen, ':'), *h = listen, *port;
  size_t hlen, i;
  unsigned long v;
  struct addrinfo hints;
  int rc;

  port = colon != NULL ? colon + 1 : listen;
  if (*port == '\0' || strspn(port, "0123456789") != strlen(port))
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics: \"%s\" is not host:port, e.g. "
                           "127.0.0.1:9464",
                           listen);
  /* getaddrinfo() would take a larger port modulo 65536 and bind that. */
  for (i = 0, v = 0; port[i] != '\0'; i++) {
    v = v * 10 + (unsigned long)(port[i] - '0');
    if (v > 65535)
      return pacer_error_set(err, PACER_ECONFIG,
                             "metrics: \"%s\": port %s is out of range: use "
                             "0 to 65535, e.g. 127.0.0.1:9464",
                             listen, port);
  }
  hlen = colon != NULL ? (size_t)(colon - listen) : 0;
  if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
    h = listen + 1;
    hlen -= 2;
  }
  if (hlen == 0) {
    h = "127.0.0.1"; /* loopback unless told otherwise */
    hlen = strlen(h);
  }
  if (hlen >= sizeof(host))
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics: \"%s\": the host part is too long "
                           "(use 127.0.0.1:PORT)",
                           listen);
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  rc = getaddrinfo(host, port, &hints, res);
  if (rc != 0)
    return pacer_error_set(err, PACER_ECONFIG, "metrics: \"%s\": %s", listen,
                           gai_strerror(rc));
  return 0;
}

int
pacer_metrics_token_read(const char *path, char **out, struct pacer_error *err)
{
  char buf[TOKEN_FILE_MAX + 1], ebuf[128];
  struct stat st;
  size_t len = 0;
  int fd, e;

  *out = NULL;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0) {
    e = errno;
    if (fd >= 0)
      close(fd);
    if (strerror_r(e, ebuf, sizeof(ebuf)) != 0)
      snprintf(ebuf, sizeof(ebuf), "error %d", e);
    return pacer_error_set(err, PACER_ECONFIG, "metrics token file: %s: %s",
                           path, ebuf);
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    close(fd);
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics token file: %s must be a regular file "
                           "that group and others cannot read (mode %04o); "
                           "chmod 600 %s",
                           path, (unsigned)(st.st_mode & 07777), path);
  }
  while (len < sizeof(buf) - 1) {
    ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  close(fd);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
                     buf[len - 1] == ' ' || buf[len - 1] == '\t'))
    len--;
  buf[len] = '\0';
  if (!pacer_config_metrics_token_ok(buf)) {
    sodium_memzero(buf, sizeof(buf));
    return pacer_error_set(err, PACER_ECONFIG,
                           "metrics token file: %s must hold one token of %d "
                           "to %d characters of A-Z a-z 0-9 - . _ ~ + / "
                           "(e.g. openssl rand -hex 32 > FILE)",
                           path, PACER_METRICS_TOKEN_MIN,
                           PACER_METRICS_TOKEN_MAX);
  }
  *out = strndup(buf, len);
  sodium_memzero(buf, sizeof(buf));
  if (*out == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "metrics: out of memory");
  return 0;
}
