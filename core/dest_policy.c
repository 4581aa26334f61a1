/* dest_policy: classify peer addresses and apply the destination policy.
 *
 * Two ordered rule tables, first match wins, so a more specific block is
 * listed before the block that contains it (255.255.255.255 before
 * 240.0.0.0/4, 2001:3::/32 before 2001::/23). IPv6 rules that carry an
 * IPv4 address say where it sits (embed_at) and the IPv4 table decides.
 *
 *   IPv6 address --rules6--> class
 *                 \--embed_at--> 4 bytes --rules4--> class
 *
 * Sources: IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC
 * 6890 and updates); an entry is blocked when the registry says "Globally
 * Reachable: False", and the whole of IPv6 outside 2000::/3 is blocked
 * because no public unicast host is numbered there.
 */
#include "core/dest_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

#define NO_EMBED   (-1) /* the IPv6 rule carries no IPv4 address */
#define TEXT_MAX   64   /* longest address text looked at, bytes */
#define SHOW_BYTES 50   /* config text quoted in a message, bytes */

struct rule4 {
  uint32_t net; /* host byte order */
  unsigned bits;
  enum pacer_addr_class cls;
};

struct rule6 {
  uint8_t net[16];
  unsigned bits;
  enum pacer_addr_class cls; /* when embed_at is NO_EMBED */
  int embed_at;              /* byte offset of an IPv4 address, or NO_EMBED */
};

#define V4(a, b, c, d)                                                         \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) |      \
   (uint32_t)(d))

static const struct rule4 rules4[] = {
    {V4(255, 255, 255, 255), 32, PACER_ADDR_BROADCAST}, /* RFC 919 */
    {V4(0, 0, 0, 0), 8, PACER_ADDR_UNSPECIFIED},        /* RFC 1122 §3.2.1.3 */
    {V4(10, 0, 0, 0), 8, PACER_ADDR_PRIVATE},           /* RFC 1918 */
    {V4(100, 64, 0, 0), 10, PACER_ADDR_SHARED},         /* RFC 6598 */
    {V4(127, 0, 0, 0), 8, PACER_ADDR_LOOPBACK},         /* RFC 1122 */
    {V4(169, 254, 0, 0), 16, PACER_ADDR_LINK_LOCAL},    /* RFC 3927 */
    {V4(172, 16, 0, 0), 12, PACER_ADDR_PRIVATE},        /* RFC 1918 */
    {V4(192, 0, 0, 0), 24, PACER_ADDR_RESERVED},        /* RFC 6890 */
    {V4(192, 0, 2, 0), 24, PACER_ADDR_RESERVED},        /* RFC 5737 */
    {V4(192, 88, 99, 0), 24, PACER_ADDR_RESERVED},      /* RFC 7526 */
    {V4(192, 168, 0, 0), 16, PACER_ADDR_PRIVATE},       /* RFC 1918 */
    {V4(198, 18, 0, 0), 15, PACER_ADDR_RESERVED},       /* RFC 2544 */
    {V4(198, 51, 100, 0), 24, PACER_ADDR_RESERVED},     /* RFC 5737 */
    {V4(203, 0, 113, 0), 24, PACER_ADDR_RESERVED},      /* RFC 5737 */
    {V4(224, 0, 0, 0), 4, PACER_ADDR_MULTICAST},        /* RFC 5771 */
    {V4(240, 0, 0, 0), 4, PACER_ADDR_RESERVED},         /* RFC 1112 §4 */
};

static const struct rule6 rules6[] = {
    /* RFC 4291 §2.5.2, §2.5.3 */
    {{0}, 128, PACER_ADDR_UNSPECIFIED, NO_EMBED},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
     128,
     PACER_ADDR_LOOPBACK,
     NO_EMBED},
    /* RFC 4291 §2.5.5.2 IPv4-mapped, §2.5.5.1 IPv4-compatible */
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, PACER_ADDR_PUBLIC, 12},
    {{0}, 96, PACER_ADDR_PUBLIC, 12},
    /* RFC 2765 IPv4-translated ::ffff:0:a.b.c.d */
    {{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, PACER_ADDR_PUBLIC, 12},
    /* RFC 6052 NAT64 well-known prefix; RFC 8215 local-use NAT64 */
    {{0, 0x64, 0xff, 0x9b}, 96, PACER_ADDR_PUBLIC, 12},
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, PACER_ADDR_PRIVATE, NO_EMBED},
    /* RFC 6666 discard-only */
    {{0x01, 0}, 64, PACER_ADDR_RESERVED, NO_EMBED},
    /* Globally reachable parts of 2001::/23 (IANA registry) */
    {{0x20, 0x01, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
     128,
     PACER_ADDR_PUBLIC,
     NO_EMBED},
    {{0x20, 0x01, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
     128,
     PACER_ADDR_PUBLIC,
     NO_EMBED},
    {{0x20, 0x01, 0, 0x03}, 32, PACER_ADDR_PUBLIC, NO_EMBED},
    {{0x20, 0x01, 0, 0x04, 0x01, 0x12}, 48, PACER_ADDR_PUBLIC, NO_EMBED},
    {{0x20, 0x01, 0, 0x20}, 28, PACER_ADDR_PUBLIC, NO_EMBED},
    {{0x20, 0x01, 0, 0x30}, 28, PACER_ADDR_PUBLIC, NO_EMBED},
    /* RFC 2928 IETF protocol assignments, incl. Teredo 2001::/32 */
    {{0x20, 0x01}, 23, PACER_ADDR_RESERVED, NO_EMBED},
    /* RFC 3849 and RFC 9637 documentation */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, PACER_ADDR_RESERVED, NO_EMBED},
    {{0x3f, 0xff}, 20, PACER_ADDR_RESERVED, NO_EMBED},
    /* RFC 3056 6to4: 2002:a.b.c.d::/48 */
    {{0x20, 0x02}, 16, PACER_ADDR_PUBLIC, 2},
    /* RFC 9602 SRv6 SIDs */
    {{0x5f, 0x00}, 16, PACER_ADDR_RESERVED, NO_EMBED},
    /* RFC 4193 ULA, RFC 4291 link-local, RFC 3879 site-local, multicast */
    {{0xfc}, 7, PACER_ADDR_PRIVATE, NO_EMBED},
    {{0xfe, 0x80}, 10, PACER_ADDR_LINK_LOCAL, NO_EMBED},
    {{0xfe, 0xc0}, 10, PACER_ADDR_PRIVATE, NO_EMBED},
    {{0xff}, 8, PACER_ADDR_MULTICAST, NO_EMBED},
    /* RFC 4291 §2.4: global unicast; the rest is unassigned */
    {{0x20}, 3, PACER_ADDR_PUBLIC, NO_EMBED},
    {{0}, 0, PACER_ADDR_RESERVED, NO_EMBED},
};

/* ------------------------------------------------------------------ */
/* Classification                                                      */
/* ------------------------------------------------------------------ */

/* 1 when the first bits of a and b are equal. */
static int
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
  unsigned full = bits / 8, rest = bits % 8;

  if (memcmp(a, b, full) != 0)
    return 0;
  if (rest == 0)
    return 1;
  return ((a[full] ^ b[full]) & (uint8_t)(0xffu << (8 - rest))) == 0;
}

static uint32_t
load4(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static enum pacer_addr_class
classify4(const uint8_t *addr)
{
  uint32_t a = load4(addr);
  size_t i;

  for (i = 0; i < PACER_ARRAY_SIZE(rules4); i++) {
    uint32_t mask =
        rules4[i].bits == 0 ? 0 : ~(uint32_t)0 << (32 - rules4[i].bits);

    if ((a & mask) == rules4[i].net)
      return rules4[i].cls;
  }
  return PACER_ADDR_PUBLIC;
}

enum pacer_addr_class
pacer_addr_classify(int family, const uint8_t *addr)
{
  size_t i;

  if (family == AF_INET)
    return classify4(addr);
  if (family != AF_INET6)
    return PACER_ADDR_RESERVED;
  for (i = 0; i < PACER_ARRAY_SIZE(rules6); i++) {
    const struct rule6 *r = &rules6[i];

    if (!prefix_equal(addr, r->net, r->bits))
      continue;
    return r->embed_at == NO_EMBED ? r->cls : classify4(addr + r->embed_at);
  }
  return PACER_ADDR_RESERVED; /* not reached: the last rule is ::/0 */
}

const char *
pacer_addr_class_name(enum pacer_addr_class c)
{
  switch (c) {
  case PACER_ADDR_PUBLIC:
    return "public";
  case PACER_ADDR_LOOPBACK:
    return "loopback";
  case PACER_ADDR_PRIVATE:
    return "private";
  case PACER_ADDR_LINK_LOCAL:
    return "link_local";
  case PACER_ADDR_UNSPECIFIED:
    return "unspecified";
  case PACER_ADDR_SHARED:
    return "shared";
  case PACER_ADDR_MULTICAST:
    return "multicast";
  case PACER_ADDR_BROADCAST:
    return "broadcast";
  case PACER_ADDR_RESERVED:
    return "reserved";
  }
  return "reserved";
}

/* ------------------------------------------------------------------ */
/* CIDR blocks                                                         */
/* ------------------------------------------------------------------ */

/* 1 when addr is IPv4-mapped (::ffff:a.b.c.d, RFC 4291 §2.5.5.2). */
static int
is_mapped(const uint8_t *addr)
{
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

  return memcmp(addr, mapped, sizeof(mapped)) == 0;
}

/* Printable-ASCII copy of s for a message, cut with "...". */
static const char *
show(const char *s, char *buf, size_t size)
{
  size_t i, o = 0;

  for (i = 0; s[i] != '\0' && o + 4 < size && i < SHOW_BYTES; i++) {
    unsigned char c = (unsigned char)s[i];

    buf[o++] = (c > 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
  }
  if (s[i] != '\0' && o + 4 <= size) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = '\0';
  return buf;
}

int
pacer_cidr_parse(const char *field, const char *text, struct pacer_cidr *out,
                 struct pacer_error *err)
{
  char addr[TEXT_MAX], shown[SHOW_BYTES + 8], fixed[INET6_ADDRSTRLEN];
  const char *slash = strchr(text, '/');
  size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
  unsigned long bits = 0, max;
  struct pacer_cidr c;
  size_t i;

  memset(&c, 0, sizeof(c));
  if (alen == 0 || alen >= sizeof(addr))
    goto bad;
  memcpy(addr, text, alen);
  addr[alen] = '\0';
  if (inet_pton(AF_INET, addr, c.addr) == 1)
    c.family = AF_INET;
  else if (inet_pton(AF_INET6, addr, c.addr) == 1)
    c.family = AF_INET6;
  else
    goto bad;
  max = c.family == AF_INET ? 32 : 128;
  if (slash == NULL) {
    bits = max;
  } else {
    const char *p = slash + 1;

    /* decimal digits only: no sign, no space, at most three */
    if (*p == '\0' || strlen(p) > 3)
      goto bad;
    for (; *p != '\0'; p++) {
      if (*p < '0' || *p > '9')
        goto bad;
      bits = bits * 10 + (unsigned long)(*p - '0');
    }
    if (bits > max)
      return pacer_error_set(err, PACER_ECONFIG,
                             "%s: prefix /%lu is longer than %lu bits", field,
                             bits, max);
  }
  c.prefix_bits = (unsigned)bits;
  for (i = 0; i < max / 8; i++) {
    unsigned keep = c.prefix_bits > i * 8 ? c.prefix_bits - (unsigned)i * 8 : 0;
    uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xffu << (8 - keep));

    if ((c.addr[i] & (uint8_t)~mask) != 0) {
      c.addr[i] &= mask;
      for (i++; i < max / 8; i++)
        c.addr[i] = 0;
      if (inet_ntop(c.family, c.addr, fixed, sizeof(fixed)) == NULL)
        fixed[0] = '\0';
      return pacer_error_set(
          err, PACER_ECONFIG, "%s: %s has host bits set; write %s/%u", field,
          show(text, shown, sizeof(shown)), fixed, c.prefix_bits);
    }
  }
  /* ::ffff:a.b.c.d/N (N >= 96) is the IPv4 block a.b.c.d/(N - 96): the
   * same hosts, reached over IPv4 (RFC 4291 §2.5.5.2). */
  if (c.family == AF_INET6 && c.prefix_bits >= 96 && is_mapped(c.addr)) {
    memmove(c.addr, c.addr + 12, 4);
    memset(c.addr + 4, 0, 12);
    c.family = AF_INET;
    c.prefix_bits -= 96;
  }
  *out = c;
  return 0;
bad:
  return pacer_error_set(err, PACER_ECONFIG,
                         "%s: \"%s\" is not an address or CIDR block such as "
                         "10.1.0.0/16 or fd00::/8",
                         field, show(text, shown, sizeof(shown)));
}

int
pacer_cidr_contains(const struct pacer_cidr *c, int family, const uint8_t *addr)
{
  if (c->family == AF_INET && family == AF_INET6 && is_mapped(addr))
    return prefix_equal(addr + 12, c->addr, c->prefix_bits);
  if (c->family != family)
    return 0;
  return prefix_equal(addr, c->addr, c->prefix_bits);
}

/* ------------------------------------------------------------------ */
/* The check                                                           */
/* ------------------------------------------------------------------ */

static int
check_addr(const struct pacer_dest_policy *p, int family, const uint8_t *addr,
           char *why, size_t why_size)
{
  char text[INET6_ADDRSTRLEN];
  enum pacer_addr_class cls = pacer_addr_classify(family, addr);
  size_t i;

  if (cls == PACER_ADDR_PUBLIC)
    return 0;
  for (i = 0; i < p->nallow && i < PACER_DEST_ALLOW_MAX; i++) {
    if (pacer_cidr_contains(&p->allow[i], family, addr))
      return 0;
  }
  if (inet_ntop(family, addr, text, sizeof(text)) == NULL)
    snprintf(text, sizeof(text), "?");
  snprintf(why, why_size,
           "destination: %s is %s, blocked by destination_policy "
           "public_only",
           text, pacer_addr_class_name(cls));
  return PACER_EBLOCKED;
}

static int
block_other(char *why, size_t why_size, const char *what)
{
  snprintf(why, why_size,
           "destination: %s, blocked by destination_policy public_only", what);
  return PACER_EBLOCKED;
}

int
pacer_dest_check(const struct pacer_dest_policy *p, const struct sockaddr *sa,
                 size_t salen, char *why, size_t why_size)
{
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;

  if (p == NULL || p->mode == PACER_DEST_ANY)
    return 0;
  if (sa == NULL || salen < sizeof(sa_family_t))
    return block_other(why, why_size, "no peer address");
  /* sa may be a struct sockaddr of 16 bytes followed by the rest of a
   * larger one (libcurl's struct curl_sockaddr): copy by salen. */
  if (sa->sa_family == AF_INET && salen >= sizeof(in4)) {
    memcpy(&in4, sa, sizeof(in4));
    return check_addr(p, AF_INET, (const uint8_t *)&in4.sin_addr, why,
                      why_size);
  }
  if (sa->sa_family == AF_INET6 && salen >= sizeof(in6)) {
    memcpy(&in6, sa, sizeof(in6));
    return check_addr(p, AF_INET6, in6.sin6_addr.s6_addr, why, why_size);
  }
  return block_other(why, why_size, "not an IPv4 or IPv6 peer address");
}

int
pacer_dest_check_text(const struct pacer_dest_policy *p, const char *ip,
                      char *why, size_t why_size)
{
  char buf[TEXT_MAX];
  uint8_t addr[16];
  size_t n;

  if (p == NULL || p->mode == PACER_DEST_ANY)
    return 0;
  if (ip == NULL)
    return block_other(why, why_size, "no peer address");
  if (ip[0] == '[')
    ip++;
  n = strcspn(ip, "]%");
  if (n >= sizeof(buf))
    return block_other(why, why_size, "unreadable peer address");
  memcpy(buf, ip, n);
  buf[n] = '\0';
  if (inet_pton(AF_INET, buf, addr) == 1)
    return check_addr(p, AF_INET, addr, why, why_size);
  if (inet_pton(AF_INET6, buf, addr) == 1)
    return check_addr(p, AF_INET6, addr, why, why_size);
  return block_other(why, why_size, "unreadable peer address");
}
