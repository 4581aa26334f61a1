/* common/file.c: pacer_file_read, the one reader of config and secret
 * files. Real files in a fresh temporary directory; each test names the
 * rule it pins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/file.h"

/* A file holding text with mode in a new directory; path owned. */
static char *
make_file(const char *text, mode_t mode)
{
  char dir[] = "/tmp/pacer-test-file-XXXXXX", *path;
  FILE *f;

  assert_non_null(mkdtemp(dir));
  path = malloc(strlen(dir) + 8);
  assert_non_null(path);
  snprintf(path, strlen(dir) + 8, "%s/f", dir);
  f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
  assert_int_equal(chmod(path, mode), 0);
  return path;
}

static void
remove_file(char *path)
{
  assert_int_equal(unlink(path), 0);
  *strrchr(path, '/') = '\0';
  assert_int_equal(rmdir(path), 0);
  free(path);
}

static void
reads_the_whole_file_with_its_mode(void **state)
{
  char *path = make_file("hello\n", 0640), *buf = NULL;
  struct pacer_error err;
  unsigned mode = 0;
  size_t len = 0;

  (void)state;
  assert_int_equal(
      pacer_file_read(path, "config", 100, 0, -1, &buf, &len, &mode, &err), 0);
  assert_int_equal(len, 6);
  assert_string_equal(buf, "hello\n");
  assert_int_equal(mode & 07777, 0640);
  assert_true(S_ISREG(mode));
  free(buf);
  remove_file(path);
}

/* A longer file fills max_bytes exactly: the caller asks for one byte
 * more than it accepts to notice. */
static void
stops_at_max_bytes(void **state)
{
  char *path = make_file("0123456789", 0600), *buf = NULL;
  struct pacer_error err;
  size_t len = 0;

  (void)state;
  assert_int_equal(pacer_file_read(path, "x", 4, 0, -1, &buf, &len, NULL, &err),
                   0);
  assert_int_equal(len, 4);
  assert_string_equal(buf, "0123");
  free(buf);
  remove_file(path);
}

static void
private_refuses_group_or_other_read(void **state)
{
  char *path = make_file("s3cret", 0640), *buf = (char *)1, msg[512];
  struct pacer_error err;
  size_t len = 1;

  (void)state;
  assert_int_equal(pacer_file_read(path, "credentials.a.refresh_token_file",
                                   100, PACER_FILE_PRIVATE, -77, &buf, &len,
                                   NULL, &err),
                   -77);
  assert_null(buf);
  assert_int_equal(len, 0);
  snprintf(msg, sizeof(msg),
           "credentials.a.refresh_token_file: %s is readable by group or "
           "others (mode 0640); chmod 600 %s",
           path, path);
  assert_string_equal(err.msg, msg);
  assert_int_equal(chmod(path, 0604), 0);
  assert_int_equal(pacer_file_read(path, "f", 100, PACER_FILE_PRIVATE, -77,
                                   &buf, &len, NULL, &err),
                   -77);
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(pacer_file_read(path, "f", 100, PACER_FILE_PRIVATE, -77,
                                   &buf, &len, NULL, &err),
                   0);
  assert_string_equal(buf, "s3cret");
  free(buf);
  remove_file(path);
}

static void
regular_refuses_a_directory(void **state)
{
  char *path = make_file("", 0600), *buf = NULL, msg[512];
  struct pacer_error err;
  size_t len = 0;

  (void)state;
  *strrchr(path, '/') = '\0';
  assert_int_equal(pacer_file_read(path, "f", 100, PACER_FILE_REGULAR, -77,
                                   &buf, &len, NULL, &err),
                   -77);
  snprintf(msg, sizeof(msg), "f: %s is not a regular file", path);
  assert_string_equal(err.msg, msg);
  /* without the flag the read itself fails, with errno's text */
  assert_int_equal(
      pacer_file_read(path, "config", 100, 0, -77, &buf, &len, NULL, &err),
      -77);
  snprintf(msg, sizeof(msg), "config: %s: Is a directory", path);
  assert_string_equal(err.msg, msg);
  path[strlen(path)] = '/';
  remove_file(path);
}

static void
missing_file_names_path_and_errno(void **state)
{
  struct pacer_error err;
  char *buf = NULL;
  size_t len = 0;

  (void)state;
  assert_int_equal(pacer_file_read("/nonexistent/pacer-f", "config", 100, 0,
                                   -77, &buf, &len, NULL, &err),
                   -77);
  assert_string_equal(err.msg, "config: /nonexistent/pacer-f: No such file "
                               "or directory");
  assert_null(buf);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reads_the_whole_file_with_its_mode),
      cmocka_unit_test(stops_at_max_bytes),
      cmocka_unit_test(private_refuses_group_or_other_read),
      cmocka_unit_test(regular_refuses_a_directory),
      cmocka_unit_test(missing_file_names_path_and_errno),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
