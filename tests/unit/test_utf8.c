/* Unit tests for common/utf8.c: well-formed prefixes, cuts that never
 * split a character, and U+FFFD repair of maximal ill-formed subparts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

#define FFFD "\xef\xbf\xbd"

/* Sanitizes the len bytes at in and checks the result against want. */
static void
check_sanitize(const char *in, size_t len, const char *want, size_t want_len)
{
  size_t out_len = 12345;
  char *out = pacer_utf8_sanitize(in, len, &out_len);

  assert_non_null(out);
  assert_int_equal(out_len, want_len);
  assert_memory_equal(out, want, want_len);
  assert_int_equal(out[out_len], '\0');
  /* the repaired text is well-formed through and through */
  assert_int_equal(pacer_utf8_valid_prefix_len(out, out_len), out_len);
  free(out);
}

#define SANITIZE(in, want)                                                     \
  check_sanitize(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void
well_formed_text_is_valid_to_the_end(void **state)
{
  static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"; /* aé€😀z */

  (void)state;
  assert_int_equal(pacer_utf8_valid_prefix_len(s, sizeof(s) - 1),
                   sizeof(s) - 1);
  assert_int_equal(pacer_utf8_valid_prefix_len("", 0), 0);
  /* U+0000 is well-formed, and the length is what counts, not the NUL */
  assert_int_equal(pacer_utf8_valid_prefix_len("a\0b", 3), 3);
  /* the boundaries of each range */
  assert_int_equal(pacer_utf8_valid_prefix_len("\x7f\xc2\x80\xdf\xbf", 5), 5);
  assert_int_equal(
      pacer_utf8_valid_prefix_len("\xe0\xa0\x80\xed\x9f\xbf\xef\xbf\xbf", 9),
      9);
  assert_int_equal(
      pacer_utf8_valid_prefix_len("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8), 8);
}

static void
valid_prefix_stops_at_the_first_ill_formed_byte(void **state)
{
  (void)state;
  assert_int_equal(pacer_utf8_valid_prefix_len("ab\xff", 3), 2);
  assert_int_equal(pacer_utf8_valid_prefix_len("ab\x80", 3), 2);
  /* overlong forms, surrogates, above U+10FFFF */
  assert_int_equal(pacer_utf8_valid_prefix_len("a\xc0\xaf", 3), 1);
  assert_int_equal(pacer_utf8_valid_prefix_len("a\xe0\x80\xaf", 4), 1);
  assert_int_equal(pacer_utf8_valid_prefix_len("a\xed\xa0\x80", 4), 1);
  assert_int_equal(pacer_utf8_valid_prefix_len("a\xf4\x90\x80\x80", 5), 1);
  assert_int_equal(pacer_utf8_valid_prefix_len("a\xf5\x80\x80\x80", 5), 1);
  /* a sequence cut short by the end of the buffer */
  assert_int_equal(pacer_utf8_valid_prefix_len("a\xe2\x82", 3), 1);
}

static void
cut_never_splits_a_multi_byte_character(void **state)
{
  static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* 1+2+3+4 */
  const size_t len = sizeof(s) - 1;

  (void)state;
  assert_int_equal(pacer_utf8_cut_len(s, len, 0), 0);
  assert_int_equal(pacer_utf8_cut_len(s, len, 1), 1);
  assert_int_equal(pacer_utf8_cut_len(s, len, 2), 1); /* inside é */
  assert_int_equal(pacer_utf8_cut_len(s, len, 3), 3);
  assert_int_equal(pacer_utf8_cut_len(s, len, 4), 3); /* inside € */
  assert_int_equal(pacer_utf8_cut_len(s, len, 5), 3);
  assert_int_equal(pacer_utf8_cut_len(s, len, 6), 6);
  assert_int_equal(pacer_utf8_cut_len(s, len, 9), 6); /* inside 😀 */
  assert_int_equal(pacer_utf8_cut_len(s, len, 10), 10);
  assert_int_equal(pacer_utf8_cut_len(s, len, 1000), 10); /* max past len */
}

static void
cut_may_split_ill_formed_bytes(void **state)
{
  (void)state;
  /* a lone lead byte and stray continuation bytes are one-byte units */
  assert_int_equal(pacer_utf8_cut_len("a\xe2\x82", 3, 2), 2);
  assert_int_equal(pacer_utf8_cut_len("\x80\x80\x80", 3, 2), 2);
  assert_int_equal(pacer_utf8_cut_len("\xff\xc3\xa9", 3, 2), 1);
}

static void
sanitize_keeps_well_formed_text_and_nul_bytes(void **state)
{
  (void)state;
  SANITIZE("", "");
  SANITIZE("plain ascii", "plain ascii");
  SANITIZE("a\xc3\xa9\xf0\x9f\x98\x80", "a\xc3\xa9\xf0\x9f\x98\x80");
  SANITIZE("a\0b", "a\0b");
}

static void
sanitize_replaces_each_maximal_subpart_with_one_fffd(void **state)
{
  size_t n = 0;
  char *out;

  (void)state;
  SANITIZE("a\xff"
           "b",
           "a" FFFD "b");
  SANITIZE("\x80\x80", FFFD FFFD);
  /* a truncated sequence is one subpart, then the next character */
  SANITIZE("\xe2\x82"
           "a",
           FFFD "a");
  SANITIZE("\xf0\x9f\x98", FFFD);
  /* overlong, surrogate, above U+10FFFF: the lead alone is the subpart,
   * each following byte is then a stray continuation byte */
  SANITIZE("\xc0\xaf", FFFD FFFD);
  SANITIZE("\xed\xa0\x80", FFFD FFFD FFFD);
  SANITIZE("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);
  /* Unicode 15 §3.9 Table 3-8 example */
  SANITIZE("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
           "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
  /* out_len may be NULL */
  out = pacer_utf8_sanitize("x\xff", 2, NULL);
  assert_non_null(out);
  assert_string_equal(out, "x" FFFD);
  free(out);
  out = pacer_utf8_sanitize("\xff\xff\xff\xff", 4, &n);
  assert_non_null(out);
  assert_int_equal(n, 12); /* grows: one byte becomes three */
  free(out);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(well_formed_text_is_valid_to_the_end),
      cmocka_unit_test(valid_prefix_stops_at_the_first_ill_formed_byte),
      cmocka_unit_test(cut_never_splits_a_multi_byte_character),
      cmocka_unit_test(cut_may_split_ill_formed_bytes),
      cmocka_unit_test(sanitize_keeps_well_formed_text_and_nul_bytes),
      cmocka_unit_test(sanitize_replaces_each_maximal_subpart_with_one_fffd),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
