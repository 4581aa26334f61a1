/* Unit tests for core/scrub.c: every copy of a secret leaves the text,
 * binary-safe, and a job's own secrets leave body and headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/job.h"
#include "core/scrub.h"

static void
every_copy_of_the_secret_is_replaced(void **state)
{
  static const char text[] = "tokABCDEFtok and ABCDEFABCDEF, end ABCDEF";
  size_t n = 0;
  int failed = 1;
  char *r;

  (void)state;
  r = pacer_scrub_secret(text, strlen(text), "ABCDEF", &n, &failed);
  assert_non_null(r);
  assert_int_equal(failed, 0);
  assert_string_equal(r, "tok[redacted]tok and [redacted][redacted], end "
                         "[redacted]");
  assert_int_equal(n, strlen(r));
  free(r);
}

static void
text_without_the_secret_gives_null_and_no_failure(void **state)
{
  size_t n = 99;
  int failed = 1;

  (void)state;
  assert_null(pacer_scrub_secret("hello", 5, "secret", &n, &failed));
  assert_int_equal(failed, 0);
  assert_null(pacer_scrub_secret("hello", 5, "", &n, &failed));
  assert_int_equal(failed, 0);
  assert_null(pacer_scrub_secret("", 0, "secret", &n, &failed));
}

/* Bodies are bytes: a NUL before the secret does not hide it, and the
 * length counts past it. */
static void
binary_text_is_scrubbed_past_nul_bytes(void **state)
{
  static const char text[] = {'a', '\0', 'S', 'E', 'C', 'R', 'E', 'T', 'z'};
  size_t n = 0;
  int failed = 0;
  char *r;

  (void)state;
  r = pacer_scrub_secret(text, sizeof(text), "SECRET", &n, &failed);
  assert_non_null(r);
  assert_int_equal(n, 2 + 10 + 1);
  assert_memory_equal(r, "a\0[redacted]z", n);
  free(r);
}

static void
a_jobs_own_secrets_leave_body_and_headers(void **state)
{
  static const char job_text[] =
      "{\"id\":\"j1\",\"url\":\"https://user:pa55w0rd-long@api.example/x\","
      "\"headers\":{\"X-Api-Key\":\"key-1234567890\"}}";
  static const char body_in[] =
      "echo: key-1234567890 and pa55w0rd-long and key-1234567890";
  static const char headers_in[] = "{\"etag\":\"key-1234567890\"}";
  struct pacer_job *job = NULL;
  struct pacer_error err;
  const char *body = body_in, *headers = headers_in;
  size_t body_len = strlen(body_in);
  char *sbody = NULL, *sheaders = NULL;

  (void)state;
  assert_int_equal(
      pacer_job_parse(job_text, strlen(job_text), NULL, NULL, &job, &err), 0);
  pacer_scrub_job_secrets(job, &body, &body_len, &sbody, &headers, &sheaders);
  assert_ptr_equal(body, sbody);
  assert_ptr_equal(headers, sheaders);
  assert_null(strstr(body, "key-1234567890"));
  assert_null(strstr(body, "pa55w0rd-long"));
  assert_null(strstr(headers, "key-1234567890"));
  assert_int_equal(body_len, strlen(body));
  assert_non_null(strstr(body, "echo: [redacted]"));
  free(sbody);
  free(sheaders);
  pacer_job_free(job);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_copy_of_the_secret_is_replaced),
      cmocka_unit_test(text_without_the_secret_gives_null_and_no_failure),
      cmocka_unit_test(binary_text_is_scrubbed_past_nul_bytes),
      cmocka_unit_test(a_jobs_own_secrets_leave_body_and_headers),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
