/* Helpers of the metrics endpoint shared inside server/ (metrics_addr.c,
 * metrics_http.c). Not for other layers. */
#ifndef PACER_SERVER_METRICS_INT_H
#define PACER_SERVER_METRICS_INT_H

#include <netdb.h>
#include <sys/socket.h>

#include "common/err.h"

/** Returns 1 when sa (borrowed) is a loopback address (127.0.0.0/8, ::1,
 *  ::ffff:127.x), else 0. Pure. */
int pacer_metrics_is_loopback(const struct sockaddr *sa);

/** Splits "host:port" / "[v6]:port" / ":port" / "port" (no host:
 *  loopback, 127.0.0.1) of listen (borrowed) and resolves it. Returns 0
 *  with *res (free with freeaddrinfo) or PACER_ECONFIG with err set. Any
 *  thread (blocks in getaddrinfo). */
int pacer_metrics_resolve(const char *listen, struct addrinfo **res,
                          struct pacer_error *err);

#endif
