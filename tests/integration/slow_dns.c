/* LD_PRELOAD fault injector for e2e_dns: getaddrinfo() for a name ending in
 * ".slow.test" sleeps PACER_SLOWDNS_MS (default 10000) ms and then fails
 * with EAI_AGAIN, like a DNS server that never answers. Every other name
 * goes to the real getaddrinfo. libcurl and its threaded resolver are the
 * real ones; only the name service is slowed down, the way a broken
 * resolv.conf would, without touching the machine's. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res);

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
            struct addrinfo **res)
{
  static const char suffix[] = ".slow.test";
  gai_fn real = (gai_fn)(void (*)(void))dlsym(RTLD_NEXT, "getaddrinfo");
  size_t n = node != NULL ? strlen(node) : 0;

  if (n >= sizeof(suffix) - 1 &&
      strcmp(node + n - (sizeof(suffix) - 1), suffix) == 0) {
    const char *v = getenv("PACER_SLOWDNS_MS");
    long ms = v != NULL ? strtol(v, NULL, 10) : 10000;
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
      ;
    return EAI_AGAIN;
  }
  if (real == NULL)
    return EAI_FAIL;
  return real(node, service, hints, res);
}
