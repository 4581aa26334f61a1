/* What the two TLS pumps of rediss:// share (docs/REDIS.md "TLS"): the
 * OpenSSL client context built from the address's options, and one TLS
 * link over memory BIOs, so the pump that moves bytes (store/redis_tls_uv.c
 * on the libuv loop, store/redis_tls.c in a helper thread) decides where
 * they go. Internal to store/.
 */
#ifndef PACER_STORE_REDIS_TLS_INT_H
#define PACER_STORE_REDIS_TLS_INT_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "common/err.h"
#include "core/redis_url.h"

#define PACER_TLS_HANDSHAKE_MS 10000u /* TLS handshake deadline, ms */

/** One TLS client session whose ciphertext goes through memory: feed what
 *  the server sent with pacer_tls_link_feed, send what
 *  pacer_tls_link_take_out returns. */
struct pacer_tls_link {
  SSL *ssl;
  BIO *net_in;    /* from the server; owned by ssl */
  BIO *net_out;   /* to the server; owned by ssl */
  int handshaken; /* 1 once the handshake and the checks passed */
  char peer[300]; /* "host:port", for messages */
};

/** Sets up l (caller's storage) for addr (borrowed; addr->tls.on): builds
 *  the context (TLS 1.2 or later; CA file or the system trust store;
 *  client certificate and key; the server name checked against the
 *  certificate and sent as SNI unless it is an IP address; no checks with
 *  insecure, logged as a warning). Returns 0, or PACER_ECONFIG when a file
 *  cannot be loaded, PACER_ENOMEM, with err "redis: <peer>: TLS: ...".
 *  Any thread; l is then used by one thread at a time. */
int pacer_tls_link_init(struct pacer_tls_link *l,
                        const struct pacer_redis_addr *addr,
                        struct pacer_error *err);

/** Frees what l holds (not l). NULL-safe on a zeroed l. */
void pacer_tls_link_free(struct pacer_tls_link *l);

/** Gives l n bytes (borrowed) the server sent. Returns 0 or PACER_ENOMEM. */
int pacer_tls_link_feed(struct pacer_tls_link *l, const char *buf, size_t n);

/** Moves the handshake on. Returns 1 when it is done (l->handshaken), 0
 *  when it needs more from the server (send pacer_tls_link_take_out first),
 *  or PACER_ECONFIG (the certificate or name check failed: a CA or
 *  server_name problem) or PACER_EREDIS (any other failure) with err
 *  naming the peer and OpenSSL's reason. */
int pacer_tls_link_handshake(struct pacer_tls_link *l, struct pacer_error *err);

/** Encrypts n plaintext bytes (borrowed) into the outgoing buffer. Returns
 *  0 or PACER_EREDIS with err. */
int pacer_tls_link_write(struct pacer_tls_link *l, const char *buf, size_t n,
                         struct pacer_error *err);

/** Decrypts into buf (size bytes). Returns the bytes (> 0), 0 when more
 *  must come from the server first, PACER_EIO when the server closed the
 *  session, or PACER_EREDIS with err. */
ssize_t pacer_tls_link_read(struct pacer_tls_link *l, char *buf, size_t size,
                            struct pacer_error *err);

/** Bytes waiting to go to the server. */
size_t pacer_tls_link_out_len(struct pacer_tls_link *l);

/** Moves up to size waiting bytes into buf; returns how many. */
size_t pacer_tls_link_take_out(struct pacer_tls_link *l, char *buf,
                               size_t size);

#endif
