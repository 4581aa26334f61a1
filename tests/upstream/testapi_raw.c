/* pacer-testapi --raw-port: broken HTTP that libmicrohttpd will not send.
 *
 * A plain TCP listener on 127.0.0.1, one detached thread per connection.
 * Each connection reads one request head (up to 16 KiB, 5 s) and answers
 * by the path of its request line with a scripted fault:
 *
 *   /raw/reset          RST (SO_LINGER 0) right after the request
 *   /raw/reset-body     200, Content-Length 100000, 1000 bytes, then RST
 *   /raw/short-body     200, Content-Length 1000, 10 bytes, then FIN
 *   /raw/bad-status     "HTTP/1.1 2x0 Nope"
 *   /raw/bad-header     a header line without a colon
 *   /raw/nul-header     a header value holding a NUL byte
 *   /raw/huge-header    one 1 MiB header line
 *   /raw/many-headers   200,000 small headers (about 4 MiB)
 *   /raw/bad-chunk      chunked body with chunk size "zz"
 *   /raw/dup-length     two different Content-Length headers
 *   /raw/http09         a body with no status line (HTTP/0.9)
 *   /raw/silent         reads the request, never answers (until the
 *                       client goes away or 60 s pass)
 *   anything else       200 "ok"
 *
 * A second listener ("blackhole") is never accepted from and its accept
 * queue is filled at start, so Linux drops every further SYN: a connect
 * to it times out, on loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testapi_int.h"

#define RAW_HEAD_MAX   16384
#define RAW_READ_MS    5000
#define RAW_SILENT_MS  60000
#define BLACKHOLE_FILL 8 /* connections parked in the blackhole's queue */

static int raw_fd = -1;
static int hole_fd = -1;
static int hole_fill[BLACKHOLE_FILL];

static int
send_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int
send_str(int fd, const char *s)
{
  return send_all(fd, s, strlen(s));
}

static void
reset_close(int fd)
{
  struct linger lg = {.l_onoff = 1, .l_linger = 0};

  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
}

/* Reads until the end of the request head; returns its length or -1. */
static ssize_t
read_head(int fd, char *buf, size_t size)
{
  size_t got = 0;

  while (got + 1 < size) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t r;

    if (poll(&p, 1, RAW_READ_MS) <= 0)
      return -1;
    r = recv(fd, buf + got, size - 1 - got, 0);
    if (r <= 0)
      return -1;
    got += (size_t)r;
    buf[got] = '\0';
    if (strstr(buf, "\r\n\r\n") != NULL)
      return (ssize_t)got;
  }
  return -1;
}

/* Waits until the peer closes or ms pass. */
static void
wait_peer(int fd, int ms)
{
  char sink[512];

  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};

    if (poll(&p, 1, ms) <= 0)
      return;
    if (recv(fd, sink, sizeof(sink), 0) <= 0)
      return;
  }
}

static void
answer(int fd, const char *path)
{
  static const char ok[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  char line[128];
  size_t i;

  if (strcmp(path, "/raw/reset") == 0) {
    reset_close(fd);
    return;
  }
  if (strcmp(path, "/raw/reset-body") == 0) {
    char body[1000];

    memset(body, 'r', sizeof(body));
    if (send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n") == 0)
      (void)send_all(fd, body, sizeof(body));
    reset_close(fd);
    return;
  }
  if (strcmp(path, "/raw/short-body") == 0) {
    (void)send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                       "0123456789");
  } else if (strcmp(path, "/raw/bad-status") == 0) {
    (void)send_str(fd, "HTTP/1.1 2x0 Nope\r\nContent-Length: 2\r\n\r\nok");
  } else if (strcmp(path, "/raw/bad-header") == 0) {
    (void)send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                       "this line has no colon\r\n\r\nok");
  } else if (strcmp(path, "/raw/nul-header") == 0) {
    static const char r[] = "HTTP/1.1 200 OK\r\nX-Nul: a\0b\r\n"
                            "Content-Length: 2\r\n\r\nok";

    (void)send_all(fd, r, sizeof(r) - 1);
  } else if (strcmp(path, "/raw/huge-header") == 0) {
    char *v = malloc(1u << 20);

    if (v != NULL) {
      memset(v, 'h', 1u << 20);
      if (send_str(fd, "HTTP/1.1 200 OK\r\nX-Huge: ") == 0 &&
          send_all(fd, v, 1u << 20) == 0)
        (void)send_str(fd, "\r\nContent-Length: 2\r\n\r\nok");
      free(v);
    }
  } else if (strcmp(path, "/raw/many-headers") == 0) {
    if (send_str(fd, "HTTP/1.1 200 OK\r\n") == 0) {
      for (i = 0; i < 200000; i++) {
        snprintf(line, sizeof(line), "X-H%zu: v\r\n", i);
        if (send_str(fd, line) != 0)
          break;
      }
      (void)send_str(fd, "Content-Length: 2\r\n\r\nok");
    }
  } else if (strcmp(path, "/raw/bad-chunk") == 0) {
    (void)send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "zz\r\nhello\r\n0\r\n\r\n");
  } else if (strcmp(path, "/raw/dup-length") == 0) {
    (void)send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                       "Content-Length: 7\r\n\r\nok");
  } else if (strcmp(path, "/raw/http09") == 0) {
    (void)send_str(fd, "hello from 1991\n");
  } else if (strcmp(path, "/raw/silent") == 0) {
    wait_peer(fd, RAW_SILENT_MS);
  } else {
    (void)send_str(fd, ok);
  }
  shutdown(fd, SHUT_WR);
  wait_peer(fd, 2000);
  close(fd);
}

static void *
conn_main(void *arg)
{
  int fd = (int)(intptr_t)arg;
  char head[RAW_HEAD_MAX], path[256];

  if (read_head(fd, head, sizeof(head)) < 0 ||
      sscanf(head, "%*s %255s", path) != 1) {
    close(fd);
    return NULL;
  }
  path[strcspn(path, "?")] = '\0';
  answer(fd, path);
  return NULL;
}

static void *
accept_main(void *arg)
{
  (void)arg;
  for (;;) {
    pthread_t t;
    pthread_attr_t a;
    int fd = accept(raw_fd, NULL, NULL);

    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
        continue;
      return NULL; /* closed at exit */
    }
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256u * 1024u);
    if (pthread_create(&t, &a, conn_main, (void *)(intptr_t)fd) != 0)
      close(fd);
    pthread_attr_destroy(&a);
  }
}

/* Listens on 127.0.0.1:port (0 = free) with backlog; returns the fd and
 * the bound port, or -1. */
static int
listen_on(unsigned port, int backlog, unsigned *bound)
{
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never beyond loopback */
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
      listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    close(fd);
    return -1;
  }
  *bound = ntohs(sa.sin_port);
  return fd;
}

int
pacer_testapi_raw_start(unsigned port, unsigned *raw_port,
                        unsigned *blackhole_port)
{
  pthread_t t;
  struct sockaddr_in sa;
  unsigned i;

  raw_fd = listen_on(port, 128, raw_port);
  if (raw_fd < 0)
    return -1;
  hole_fd = listen_on(0, 0, blackhole_port);
  if (hole_fd < 0)
    return -1;
  /* Fill the blackhole's accept queue (backlog 0 holds one; extra
   * non-blocking connects stay in SYN_SENT and change nothing). */
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)*blackhole_port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (i = 0; i < BLACKHOLE_FILL; i++) {
    hole_fill[i] =
        socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (hole_fill[i] >= 0)
      (void)connect(hole_fill[i], (struct sockaddr *)&sa, sizeof(sa));
  }
  if (pthread_create(&t, NULL, accept_main, NULL) != 0)
    return -1;
  pthread_detach(t);
  return 0;
}
