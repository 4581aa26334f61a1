/* dest_policy: may pacer connect to this peer address? The SSRF guard,
 * pinned by tests/unit/test_dest_policy.c and e2e_destination.
 *
 * The destination policy is checked on the address libcurl is about to
 * connect to, after name resolution, for the first request and for every
 * redirect hop (workers/curl_uv.c: CURLOPT_OPENSOCKETFUNCTION, plus
 * CURLOPT_PREREQFUNCTION for a reused connection). Checking the resolved
 * address, not the URL text, is what catches every spelling of an address
 * (http://2130706433/, http://0x7f.1/, http://0/,
 * http://[::ffff:169.254.169.254]/) and every name that resolves to one
 * (localhost, a rebinding DNS name).
 *
 *   peer address --classify--> public | loopback | private | link_local |
 *                               unspecified | shared | multicast |
 *                               broadcast | reserved
 *   policy any         --> always allowed
 *   policy public_only --> allowed when public, or inside an allow CIDR
 *
 * Pure core: no I/O, no libcurl, no libuv. This header is part of the one
 * meeting point of scheduler and workers (workers/pacer_http.h includes
 * it; struct pacer_dest_policy travels in struct pacer_http_request), and
 * the scheduler's pure config core includes it directly to parse
 * "destination_allow" without pulling in uv.h.
 */
#ifndef PACER_CORE_DEST_POLICY_H
#define PACER_CORE_DEST_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"

#define PACER_DEST_ALLOW_MAX 64  /* CIDRs in one allow list */
#define PACER_DEST_WHY_MAX   160 /* bytes of a refusal message, with NUL */

/** What kind of address a peer address is. Sources: IANA IPv4 and IPv6
 *  Special-Purpose Address Registries (RFC 6890), RFC 1918, RFC 6598,
 *  RFC 3927, RFC 4193, RFC 4291. */
enum pacer_addr_class {
  PACER_ADDR_PUBLIC = 0,  /* globally reachable unicast */
  PACER_ADDR_LOOPBACK,    /* 127.0.0.0/8, ::1 */
  PACER_ADDR_PRIVATE,     /* RFC 1918, fc00::/7 (ULA), fec0::/10,
                             64:ff9b:1::/48 (local NAT64) */
  PACER_ADDR_LINK_LOCAL,  /* 169.254.0.0/16 (cloud metadata), fe80::/10 */
  PACER_ADDR_UNSPECIFIED, /* 0.0.0.0/8 ("this network"), :: */
  PACER_ADDR_SHARED,      /* 100.64.0.0/10, carrier-grade NAT (RFC 6598) */
  PACER_ADDR_MULTICAST,   /* 224.0.0.0/4, ff00::/8 */
  PACER_ADDR_BROADCAST,   /* 255.255.255.255 */
  PACER_ADDR_RESERVED     /* documentation, benchmarking, 240.0.0.0/4,
                             IETF protocol assignments, anything outside
                             2000::/3 that no rule above names */
};

/** What the policy lets through ("destination_policy" in the config). */
enum pacer_dest_mode {
  PACER_DEST_ANY = 0,    /* "any": no check (default; tests use loopback) */
  PACER_DEST_PUBLIC_ONLY /* "public_only": PACER_ADDR_PUBLIC, or an
                            address inside one of the allow CIDRs */
};

/** One CIDR block: an address and a prefix length. Plain value. */
struct pacer_cidr {
  int family;           /* AF_INET or AF_INET6 */
  uint8_t addr[16];     /* network address, network byte order; IPv4 uses
                           the first 4 bytes; host bits are zero */
  unsigned prefix_bits; /* 0..32 (AF_INET) or 0..128 (AF_INET6) */
};

/** A destination policy. Plain value, no pointers: it can be copied and
 *  shared read-only between threads. A zeroed struct is PACER_DEST_ANY. */
struct pacer_dest_policy {
  enum pacer_dest_mode mode;
  size_t nallow;                                 /* entries in allow */
  struct pacer_cidr allow[PACER_DEST_ALLOW_MAX]; /* permitted even when not
                                                    public (public_only) */
};

/** Classifies the address at addr: 4 bytes for family AF_INET, 16 for
 *  AF_INET6, network byte order (borrowed). IPv6 forms that carry an IPv4
 *  address are classified by that address: IPv4-mapped ::ffff:0:0/96,
 *  IPv4-compatible ::/96 (RFC 4291 §2.5.5), IPv4-translated
 *  ::ffff:0:0:0/96 (RFC 2765), NAT64 64:ff9b::/96 (RFC 6052) and 6to4
 *  2002::/16 (RFC 3056). Any other family is PACER_ADDR_RESERVED. Pure;
 *  any thread. */
enum pacer_addr_class pacer_addr_classify(int family, const uint8_t *addr);

/** Returns a short stable name for c ("public", "loopback", "private",
 *  "link_local", "unspecified", "shared", "multicast", "broadcast",
 *  "reserved"), static storage. */
const char *pacer_addr_class_name(enum pacer_addr_class c);

/** Parses text (borrowed): "10.1.0.0/16", "fd00::/8", or a bare address
 *  for one host ("10.1.2.3" is 10.1.2.3/32). Addresses are strict
 *  inet_pton forms (dotted decimal, no 0x or short forms). field
 *  (borrowed) names the setting in messages. Returns 0 and *out, or
 *  PACER_ECONFIG with err "<field>: <reason>", e.g. "destination_allow[0]:
 *  10.1.2.3/16 has host bits set; write 10.1.0.0/16". Pure; any thread. */
int pacer_cidr_parse(const char *field, const char *text,
                     struct pacer_cidr *out, struct pacer_error *err);

/** Returns 1 when the address at addr (family and bytes as for
 *  pacer_addr_classify, borrowed) lies inside c (borrowed), else 0. An
 *  AF_INET block also covers the IPv4-mapped IPv6 form (::ffff:a.b.c.d)
 *  of its addresses, which reaches the same IPv4 host. Pure. */
int pacer_cidr_contains(const struct pacer_cidr *c, int family,
                        const uint8_t *addr);

/** Checks the peer address sa (borrowed, salen bytes; AF_INET or AF_INET6)
 *  against policy p (borrowed; NULL means PACER_DEST_ANY). Returns 0 when
 *  it may be connected, or PACER_EBLOCKED with why (why_size bytes,
 *  borrowed; PACER_DEST_WHY_MAX is enough) set to "destination: <address>
 *  is <class>, blocked by destination_policy public_only". Under
 *  public_only any other family, or a salen too short for its family, is
 *  blocked. Pure; any thread. */
int pacer_dest_check(const struct pacer_dest_policy *p,
                     const struct sockaddr *sa, size_t salen, char *why,
                     size_t why_size);

/** As pacer_dest_check for an address in text form (borrowed; "1.2.3.4",
 *  "::1", "[::1]", an IPv6 zone "%eth0" ignored), as libcurl reports the
 *  connected peer (CURLOPT_PREREQFUNCTION). Text that is not an address
 *  is blocked under public_only. Pure; any thread. */
int pacer_dest_check_text(const struct pacer_dest_policy *p, const char *ip,
                          char *why, size_t why_size);

#endif
