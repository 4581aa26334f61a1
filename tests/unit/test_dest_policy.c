/* Unit tests for core/dest_policy.c: address classes, CIDR blocks and
 * the destination policy check (the SSRF guard; e2e_destination end to
 * end). */
/* cmocka.h needs these four first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/err.h"
#include "common/util.h"
#include "core/dest_policy.h"

struct row {
  const char *addr;
  enum pacer_addr_class cls;
};

/* Classifies text, an IPv4 or IPv6 address in inet_pton form. */
static enum pacer_addr_class
classify(const char *text)
{
  uint8_t a[16];

  if (inet_pton(AF_INET, text, a) == 1)
    return pacer_addr_classify(AF_INET, a);
  if (inet_pton(AF_INET6, text, a) == 1)
    return pacer_addr_classify(AF_INET6, a);
  fail_msg("not an address: %s", text);
  return PACER_ADDR_PUBLIC;
}

static void
check_rows(const struct row *rows, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    enum pacer_addr_class got = classify(rows[i].addr);

    if (got != rows[i].cls)
      fail_msg("%s: %s, want %s", rows[i].addr, pacer_addr_class_name(got),
               pacer_addr_class_name(rows[i].cls));
  }
}

static void
ipv4_special_blocks_have_their_class_and_neighbours_are_public(void **state)
{
  static const struct row rows[] = {
      {"127.0.0.1", PACER_ADDR_LOOPBACK},
      {"127.255.255.254", PACER_ADDR_LOOPBACK},
      {"126.255.255.255", PACER_ADDR_PUBLIC},
      {"128.0.0.0", PACER_ADDR_PUBLIC},
      {"10.0.0.1", PACER_ADDR_PRIVATE},
      {"10.255.255.255", PACER_ADDR_PRIVATE},
      {"11.0.0.0", PACER_ADDR_PUBLIC},
      {"9.255.255.255", PACER_ADDR_PUBLIC},
      {"172.16.0.1", PACER_ADDR_PRIVATE},
      {"172.31.255.255", PACER_ADDR_PRIVATE},
      {"172.15.255.255", PACER_ADDR_PUBLIC},
      {"172.32.0.0", PACER_ADDR_PUBLIC},
      {"192.168.0.1", PACER_ADDR_PRIVATE},
      {"192.169.0.1", PACER_ADDR_PUBLIC},
      {"169.254.169.254", PACER_ADDR_LINK_LOCAL},
      {"169.254.0.0", PACER_ADDR_LINK_LOCAL},
      {"169.253.255.255", PACER_ADDR_PUBLIC},
      {"169.255.0.0", PACER_ADDR_PUBLIC},
      {"0.0.0.0", PACER_ADDR_UNSPECIFIED},
      {"0.1.2.3", PACER_ADDR_UNSPECIFIED},
      {"1.0.0.0", PACER_ADDR_PUBLIC},
      {"100.64.0.1", PACER_ADDR_SHARED},
      {"100.127.255.255", PACER_ADDR_SHARED},
      {"100.63.255.255", PACER_ADDR_PUBLIC},
      {"100.128.0.0", PACER_ADDR_PUBLIC},
      {"224.0.0.1", PACER_ADDR_MULTICAST},
      {"239.255.255.250", PACER_ADDR_MULTICAST},
      {"255.255.255.255", PACER_ADDR_BROADCAST},
      {"240.0.0.1", PACER_ADDR_RESERVED},
      {"255.255.255.254", PACER_ADDR_RESERVED},
      {"192.0.0.8", PACER_ADDR_RESERVED},
      {"192.0.2.1", PACER_ADDR_RESERVED},
      {"192.88.99.1", PACER_ADDR_RESERVED},
      {"198.18.0.1", PACER_ADDR_RESERVED},
      {"198.19.255.255", PACER_ADDR_RESERVED},
      {"198.20.0.0", PACER_ADDR_PUBLIC},
      {"198.51.100.7", PACER_ADDR_RESERVED},
      {"203.0.113.9", PACER_ADDR_RESERVED},
      {"8.8.8.8", PACER_ADDR_PUBLIC},
      {"1.1.1.1", PACER_ADDR_PUBLIC},
      {"93.184.216.34", PACER_ADDR_PUBLIC},
      {"223.255.255.255", PACER_ADDR_PUBLIC},
  };

  (void)state;
  check_rows(rows, PACER_ARRAY_SIZE(rows));
}

static void
ipv6_special_blocks_and_embedded_ipv4_forms_have_their_class(void **state)
{
  static const struct row rows[] = {
      {"::", PACER_ADDR_UNSPECIFIED},
      {"::1", PACER_ADDR_LOOPBACK},
      /* IPv4-mapped: the IPv4 address decides */
      {"::ffff:127.0.0.1", PACER_ADDR_LOOPBACK},
      {"::ffff:169.254.169.254", PACER_ADDR_LINK_LOCAL},
      {"::ffff:a9fe:a9fe", PACER_ADDR_LINK_LOCAL},
      {"::ffff:10.1.2.3", PACER_ADDR_PRIVATE},
      {"::ffff:0.0.0.0", PACER_ADDR_UNSPECIFIED},
      {"::ffff:100.64.0.1", PACER_ADDR_SHARED},
      {"::ffff:8.8.8.8", PACER_ADDR_PUBLIC},
      /* IPv4-compatible (deprecated) and IPv4-translated */
      {"::127.0.0.1", PACER_ADDR_LOOPBACK},
      {"::169.254.169.254", PACER_ADDR_LINK_LOCAL},
      {"::2", PACER_ADDR_UNSPECIFIED},
      {"::8.8.8.8", PACER_ADDR_PUBLIC},
      {"::ffff:0:127.0.0.1", PACER_ADDR_LOOPBACK},
      {"::ffff:0:8.8.8.8", PACER_ADDR_PUBLIC},
      /* NAT64 well-known prefix, local-use NAT64 */
      {"64:ff9b::127.0.0.1", PACER_ADDR_LOOPBACK},
      {"64:ff9b::a9fe:a9fe", PACER_ADDR_LINK_LOCAL},
      {"64:ff9b::8.8.8.8", PACER_ADDR_PUBLIC},
      {"64:ff9b:1::8.8.8.8", PACER_ADDR_PRIVATE},
      /* 6to4: 2002:a.b.c.d::/48 */
      {"2002:7f00:1::1", PACER_ADDR_LOOPBACK},
      {"2002:a9fe:a9fe::1", PACER_ADDR_LINK_LOCAL},
      {"2002:c0a8:101::1", PACER_ADDR_PRIVATE},
      {"2002:808:808::1", PACER_ADDR_PUBLIC},
      /* unique local, link-local, site-local, multicast */
      {"fc00::1", PACER_ADDR_PRIVATE},
      {"fd12:3456:789a::1", PACER_ADDR_PRIVATE},
      {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PACER_ADDR_PRIVATE},
      {"fe80::1", PACER_ADDR_LINK_LOCAL},
      {"febf:ffff::1", PACER_ADDR_LINK_LOCAL},
      {"fec0::1", PACER_ADDR_PRIVATE},
      {"ff02::1", PACER_ADDR_MULTICAST},
      {"ff0e::1", PACER_ADDR_MULTICAST},
      /* documentation, discard, IETF assignments, SRv6 */
      {"2001:db8::1", PACER_ADDR_RESERVED},
      {"3fff::1", PACER_ADDR_RESERVED},
      {"100::1", PACER_ADDR_RESERVED},
      {"2001::1", PACER_ADDR_RESERVED}, /* Teredo */
      {"2001:2::1", PACER_ADDR_RESERVED},
      {"2001:10::1", PACER_ADDR_RESERVED},
      {"2001:3::1", PACER_ADDR_PUBLIC},
      {"2001:4:112::1", PACER_ADDR_PUBLIC},
      {"2001:20::1", PACER_ADDR_PUBLIC},
      {"2001:1::1", PACER_ADDR_PUBLIC},
      {"2001:1::3", PACER_ADDR_RESERVED},
      {"5f00::1", PACER_ADDR_RESERVED},
      /* outside 2000::/3 nothing is public */
      {"1::1", PACER_ADDR_RESERVED},
      {"4000::1", PACER_ADDR_RESERVED},
      {"e000::1", PACER_ADDR_RESERVED},
      /* global unicast */
      {"2001:200::1", PACER_ADDR_PUBLIC},
      {"2001:4860:4860::8888", PACER_ADDR_PUBLIC},
      {"2606:4700:4700::1111", PACER_ADDR_PUBLIC},
      {"2a00:1450:4001::1", PACER_ADDR_PUBLIC},
      {"3ffe::1", PACER_ADDR_PUBLIC},
  };

  (void)state;
  check_rows(rows, PACER_ARRAY_SIZE(rows));
}

static void
other_families_are_reserved_and_class_names_are_stable(void **state)
{
  static const uint8_t zero[16];

  (void)state;
  assert_int_equal(pacer_addr_classify(AF_UNIX, zero), PACER_ADDR_RESERVED);
  assert_string_equal(pacer_addr_class_name(PACER_ADDR_PUBLIC), "public");
  assert_string_equal(pacer_addr_class_name(PACER_ADDR_LINK_LOCAL),
                      "link_local");
  assert_string_equal(pacer_addr_class_name(PACER_ADDR_SHARED), "shared");
  assert_string_equal(pacer_addr_class_name(PACER_ADDR_BROADCAST), "broadcast");
}

/* ------------------------------------------------------------------ */
/* CIDR blocks                                                         */
/* ------------------------------------------------------------------ */

static struct pacer_cidr
cidr(const char *text)
{
  struct pacer_cidr c;
  struct pacer_error err;

  if (pacer_cidr_parse("destination_allow[0]", text, &c, &err) != 0)
    fail_msg("%s: %s", text, err.msg);
  return c;
}

static int
contains(const struct pacer_cidr *c, const char *text)
{
  uint8_t a[16];

  if (inet_pton(AF_INET, text, a) == 1)
    return pacer_cidr_contains(c, AF_INET, a);
  assert_int_equal(inet_pton(AF_INET6, text, a), 1);
  return pacer_cidr_contains(c, AF_INET6, a);
}

static void
cidr_blocks_parse_and_contain_their_addresses(void **state)
{
  struct pacer_cidr c;

  (void)state;
  c = cidr("10.1.0.0/16");
  assert_int_equal(c.family, AF_INET);
  assert_int_equal(c.prefix_bits, 16);
  assert_true(contains(&c, "10.1.0.0"));
  assert_true(contains(&c, "10.1.255.255"));
  assert_false(contains(&c, "10.2.0.0"));
  assert_false(contains(&c, "10.0.255.255"));
  /* an IPv4 block covers the IPv4-mapped form of its addresses */
  assert_true(contains(&c, "::ffff:10.1.2.3"));
  assert_false(contains(&c, "::ffff:10.2.2.3"));
  assert_false(contains(&c, "::10.1.2.3"));

  c = cidr("127.0.0.1");
  assert_int_equal(c.prefix_bits, 32);
  assert_true(contains(&c, "127.0.0.1"));
  assert_false(contains(&c, "127.0.0.2"));

  c = cidr("0.0.0.0/0");
  assert_true(contains(&c, "255.255.255.255"));
  assert_false(contains(&c, "::1"));

  c = cidr("fd00::/8");
  assert_int_equal(c.family, AF_INET6);
  assert_true(contains(&c, "fd12::1"));
  assert_false(contains(&c, "fc00::1"));
  assert_false(contains(&c, "10.0.0.1"));

  c = cidr("fe80::/10");
  assert_true(contains(&c, "febf::1"));
  assert_false(contains(&c, "fec0::1"));

  c = cidr("::1");
  assert_int_equal(c.prefix_bits, 128);
  assert_true(contains(&c, "::1"));

  /* ::ffff:a.b.c.d/N is the IPv4 block a.b.c.d/(N - 96) */
  c = cidr("::ffff:10.1.0.0/112");
  assert_int_equal(c.family, AF_INET);
  assert_int_equal(c.prefix_bits, 16);
  assert_true(contains(&c, "10.1.9.9"));
}

static void
bad_cidr_blocks_are_refused_naming_the_field(void **state)
{
  static const char *const bad[] = {
      "",       "/8",         "10.1.0.0/",     "10.1.0.0/-1",  "10.1/16",
      "0x7f.1", "2130706433", "10.0.0.0/ 8",   "10.0.0.0/8 ",  "fe80::1%eth0",
      "[::1]",  "localhost",  "10.0.0.0/1000", "10.0.0.0/8/8", "::/abc",
  };
  struct pacer_cidr c;
  struct pacer_error err;
  size_t i;

  (void)state;
  for (i = 0; i < PACER_ARRAY_SIZE(bad); i++) {
    if (pacer_cidr_parse("destination_allow[3]", bad[i], &c, &err) !=
        PACER_ECONFIG)
      fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(err.code, PACER_ECONFIG);
    assert_non_null(strstr(err.msg, "destination_allow[3]: "));
  }
  assert_int_equal(
      pacer_cidr_parse("destination_allow[0]", "10.1.0.0/33", &c, &err),
      PACER_ECONFIG);
  assert_string_equal(err.msg,
                      "destination_allow[0]: prefix /33 is longer than 32 "
                      "bits");
  assert_int_equal(
      pacer_cidr_parse("destination_allow[0]", "fd00::/129", &c, &err),
      PACER_ECONFIG);
  assert_int_equal(
      pacer_cidr_parse("destination_allow[1]", "10.1.2.3/16", &c, &err),
      PACER_ECONFIG);
  assert_string_equal(err.msg, "destination_allow[1]: 10.1.2.3/16 has host "
                               "bits set; write 10.1.0.0/16");
  assert_int_equal(
      pacer_cidr_parse("destination_allow[2]", "fd00::1/8", &c, &err),
      PACER_ECONFIG);
  assert_string_equal(err.msg, "destination_allow[2]: fd00::1/8 has host "
                               "bits set; write fd00::/8");
  assert_int_equal(pacer_cidr_parse("destination_allow[0]", "nope", &c, &err),
                   PACER_ECONFIG);
  assert_string_equal(err.msg,
                      "destination_allow[0]: \"nope\" is not an address or "
                      "CIDR block such as 10.1.0.0/16 or fd00::/8");
}

/* ------------------------------------------------------------------ */
/* The check                                                           */
/* ------------------------------------------------------------------ */

/* Resolves a numeric host the way getaddrinfo does for a URL host (no DNS:
 * AI_NUMERICHOST), so every spelling glibc accepts is covered. */
static int
check_host(const struct pacer_dest_policy *p, const char *host, char *why,
           size_t why_size)
{
  struct addrinfo hints, *res = NULL;
  int rc;

  memset(&hints, 0, sizeof(hints));
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, "80", &hints, &res) != 0 || res == NULL)
    fail_msg("getaddrinfo(%s) failed", host);
  rc = pacer_dest_check(p, res->ai_addr, res->ai_addrlen, why, why_size);
  freeaddrinfo(res);
  return rc;
}

static void
every_spelling_of_a_blocked_address_is_blocked_after_resolution(void **state)
{
  static const struct {
    const char *host;
    const char *why;
  } rows[] = {
      /* http://2852039166/ */
      {"2852039166", "destination: 169.254.169.254 is link_local, blocked "
                     "by destination_policy public_only"},
      /* http://0/ */
      {"0", "destination: 0.0.0.0 is unspecified, blocked by "
            "destination_policy public_only"},
      /* http://0x7f.1/ */
      {"0x7f.1", "destination: 127.0.0.1 is loopback, blocked by "
                 "destination_policy public_only"},
      {"2130706433", "destination: 127.0.0.1 is loopback, blocked by "
                     "destination_policy public_only"},
      {"0177.0.0.1", "destination: 127.0.0.1 is loopback, blocked by "
                     "destination_policy public_only"},
      {"127.1", "destination: 127.0.0.1 is loopback, blocked by "
                "destination_policy public_only"},
      {"0xa9.0xfe.0xa9.0xfe", "destination: 169.254.169.254 is link_local, "
                              "blocked by destination_policy public_only"},
      {"10.1", "destination: 10.0.0.1 is private, blocked by "
               "destination_policy public_only"},
      /* http://[::ffff:169.254.169.254]/ */
      {"::ffff:169.254.169.254", "destination: ::ffff:169.254.169.254 is "
                                 "link_local, blocked by destination_policy "
                                 "public_only"},
      {"::ffff:7f00:1", "destination: ::ffff:127.0.0.1 is loopback, blocked "
                        "by destination_policy public_only"},
      {"::1", "destination: ::1 is loopback, blocked by destination_policy "
              "public_only"},
      {"::", "destination: :: is unspecified, blocked by destination_policy "
             "public_only"},
      {"fe80::1", "destination: fe80::1 is link_local, blocked by "
                  "destination_policy public_only"},
      {"fd00::1", "destination: fd00::1 is private, blocked by "
                  "destination_policy public_only"},
      {"255.255.255.255", "destination: 255.255.255.255 is broadcast, "
                          "blocked by destination_policy public_only"},
      {"224.0.0.251", "destination: 224.0.0.251 is multicast, blocked by "
                      "destination_policy public_only"},
      {"100.100.100.200", "destination: 100.100.100.200 is shared, blocked "
                          "by destination_policy public_only"},
  };
  struct pacer_dest_policy p;
  char why[PACER_DEST_WHY_MAX];
  size_t i;

  (void)state;
  memset(&p, 0, sizeof(p));
  p.mode = PACER_DEST_PUBLIC_ONLY;
  for (i = 0; i < PACER_ARRAY_SIZE(rows); i++) {
    why[0] = '\0';
    if (check_host(&p, rows[i].host, why, sizeof(why)) != PACER_EBLOCKED)
      fail_msg("%s was not blocked", rows[i].host);
    if (strcmp(why, rows[i].why) != 0)
      fail_msg("%s: \"%s\", want \"%s\"", rows[i].host, why, rows[i].why);
  }
  assert_int_equal(check_host(&p, "8.8.8.8", why, sizeof(why)), 0);
  assert_int_equal(check_host(&p, "2606:4700:4700::1111", why, sizeof(why)), 0);
  assert_int_equal(check_host(&p, "::ffff:8.8.8.8", why, sizeof(why)), 0);
}

static void
any_policy_and_null_policy_allow_everything(void **state)
{
  struct pacer_dest_policy p;
  char why[PACER_DEST_WHY_MAX] = "";

  (void)state;
  memset(&p, 0, sizeof(p));
  assert_int_equal(p.mode, PACER_DEST_ANY);
  assert_int_equal(check_host(&p, "127.0.0.1", why, sizeof(why)), 0);
  assert_int_equal(check_host(NULL, "169.254.169.254", why, sizeof(why)), 0);
  assert_int_equal(pacer_dest_check_text(NULL, "127.0.0.1", why, sizeof(why)),
                   0);
  assert_string_equal(why, "");
}

static void
allow_list_permits_exactly_its_blocks(void **state)
{
  struct pacer_dest_policy p;
  char why[PACER_DEST_WHY_MAX];

  (void)state;
  memset(&p, 0, sizeof(p));
  p.mode = PACER_DEST_PUBLIC_ONLY;
  p.allow[p.nallow++] = cidr("127.0.0.1/32");
  p.allow[p.nallow++] = cidr("10.1.0.0/16");
  p.allow[p.nallow++] = cidr("fd00:1::/32");
  assert_int_equal(check_host(&p, "127.0.0.1", why, sizeof(why)), 0);
  assert_int_equal(check_host(&p, "::ffff:127.0.0.1", why, sizeof(why)), 0);
  assert_int_equal(check_host(&p, "127.0.0.2", why, sizeof(why)),
                   PACER_EBLOCKED);
  assert_string_equal(why, "destination: 127.0.0.2 is loopback, blocked by "
                           "destination_policy public_only");
  assert_int_equal(check_host(&p, "::1", why, sizeof(why)), PACER_EBLOCKED);
  assert_int_equal(check_host(&p, "10.1.200.3", why, sizeof(why)), 0);
  assert_int_equal(check_host(&p, "10.2.0.1", why, sizeof(why)),
                   PACER_EBLOCKED);
  assert_int_equal(check_host(&p, "fd00:1:2::3", why, sizeof(why)), 0);
  assert_int_equal(check_host(&p, "fd00:2::3", why, sizeof(why)),
                   PACER_EBLOCKED);
  /* public addresses need no allow entry */
  assert_int_equal(check_host(&p, "93.184.216.34", why, sizeof(why)), 0);
}

static void
other_families_and_short_addresses_are_blocked(void **state)
{
  struct pacer_dest_policy p;
  struct sockaddr_un un;
  struct sockaddr_in in4;
  char why[PACER_DEST_WHY_MAX];

  (void)state;
  memset(&p, 0, sizeof(p));
  p.mode = PACER_DEST_PUBLIC_ONLY;
  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  assert_int_equal(pacer_dest_check(&p, (const struct sockaddr *)&un,
                                    sizeof(un), why, sizeof(why)),
                   PACER_EBLOCKED);
  assert_string_equal(why, "destination: not an IPv4 or IPv6 peer address, "
                           "blocked by destination_policy public_only");
  memset(&in4, 0, sizeof(in4));
  in4.sin_family = AF_INET;
  in4.sin_addr.s_addr = htonl(0x08080808);
  assert_int_equal(pacer_dest_check(&p, (const struct sockaddr *)&in4,
                                    sizeof(in4), why, sizeof(why)),
                   0);
  assert_int_equal(
      pacer_dest_check(&p, (const struct sockaddr *)&in4, 4, why, sizeof(why)),
      PACER_EBLOCKED);
  assert_int_equal(pacer_dest_check(&p, NULL, 0, why, sizeof(why)),
                   PACER_EBLOCKED);
}

static void
text_addresses_as_libcurl_reports_them_are_checked(void **state)
{
  struct pacer_dest_policy p;
  char why[PACER_DEST_WHY_MAX];

  (void)state;
  memset(&p, 0, sizeof(p));
  p.mode = PACER_DEST_PUBLIC_ONLY;
  assert_int_equal(pacer_dest_check_text(&p, "127.0.0.1", why, sizeof(why)),
                   PACER_EBLOCKED);
  assert_string_equal(why, "destination: 127.0.0.1 is loopback, blocked by "
                           "destination_policy public_only");
  assert_int_equal(pacer_dest_check_text(&p, "[::1]", why, sizeof(why)),
                   PACER_EBLOCKED);
  assert_int_equal(pacer_dest_check_text(&p, "fe80::1%eth0", why, sizeof(why)),
                   PACER_EBLOCKED);
  assert_string_equal(why, "destination: fe80::1 is link_local, blocked by "
                           "destination_policy public_only");
  assert_int_equal(pacer_dest_check_text(&p, "8.8.8.8", why, sizeof(why)), 0);
  assert_int_equal(pacer_dest_check_text(&p, "2a00:1450::1", why, sizeof(why)),
                   0);
  assert_int_equal(pacer_dest_check_text(&p, "", why, sizeof(why)),
                   PACER_EBLOCKED);
  assert_int_equal(pacer_dest_check_text(&p, "example.com", why, sizeof(why)),
                   PACER_EBLOCKED);
  assert_string_equal(why, "destination: unreadable peer address, blocked "
                           "by destination_policy public_only");
  assert_int_equal(pacer_dest_check_text(&p, NULL, why, sizeof(why)),
                   PACER_EBLOCKED);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          ipv4_special_blocks_have_their_class_and_neighbours_are_public),
      cmocka_unit_test(
          ipv6_special_blocks_and_embedded_ipv4_forms_have_their_class),
      cmocka_unit_test(other_families_are_reserved_and_class_names_are_stable),
      cmocka_unit_test(cidr_blocks_parse_and_contain_their_addresses),
      cmocka_unit_test(bad_cidr_blocks_are_refused_naming_the_field),
      cmocka_unit_test(
          every_spelling_of_a_blocked_address_is_blocked_after_resolution),
      cmocka_unit_test(any_policy_and_null_policy_allow_everything),
      cmocka_unit_test(allow_list_permits_exactly_its_blocks),
      cmocka_unit_test(other_families_and_short_addresses_are_blocked),
      cmocka_unit_test(text_addresses_as_libcurl_reports_them_are_checked),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
