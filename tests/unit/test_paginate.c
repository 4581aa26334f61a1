/* Unit tests for core/paginate.c, core/json_pointer.c and the chain fields
 * of core/job_chain.c: the "paginate" spec, Link headers, cursors, and
 * what follows each page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/job.h"
#include "core/json_pointer.h"
#include "core/paginate.h"

#define U "https://api.example/v1/stats?n=3"

static struct pacer_job *
job_ok(const char *json)
{
  struct pacer_job *job = NULL;
  struct pacer_error err;
  int rc = pacer_job_parse(json, strlen(json), NULL, NULL, &job, &err);

  if (rc != 0)
    print_error("unexpected: %s\n", err.msg);
  assert_int_equal(rc, 0);
  return job;
}

static void
job_rejected(const char *json, const char *msg)
{
  struct pacer_job *job = NULL;
  struct pacer_error err;

  assert_int_equal(pacer_job_parse(json, strlen(json), NULL, NULL, &job, &err),
                   PACER_EJOB);
  assert_string_equal(err.msg, msg);
  assert_null(job);
}

static void
paginate_fields_parse_with_defaults(void **state)
{
  struct pacer_job *j;

  (void)state;
  j = job_ok("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
             "\"body:/paging/next\",\"items\":\"/data\"}}");
  assert_non_null(j->paginate);
  assert_int_equal(j->paginate->kind, PACER_PAGINATE_BODY);
  assert_string_equal(j->paginate->next_ptr, "/paging/next");
  assert_string_equal(j->paginate->items_ptr, "/data");
  assert_int_equal(j->paginate->max_pages, PACER_PAGINATE_MAX_PAGES_DEFAULT);
  assert_true(j->paginate->keep_headers && j->paginate->keep_credential &&
              j->paginate->keep_limit_key);
  pacer_job_free(j);
  j = job_ok("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"cursor\":"
             "\"/c\",\"param\":\"after\",\"max_pages\":7,"
             "\"keep_credential\":false},\"parent\":\"r\",\"page\":2,"
             "\"chain\":\"1-0\"}");
  assert_int_equal(j->paginate->kind, PACER_PAGINATE_CURSOR);
  assert_int_equal(j->paginate->max_pages, 7);
  assert_false(j->paginate->keep_credential);
  assert_string_equal(j->parent, "r");
  assert_int_equal(j->page, 2);
  pacer_job_free(j);
}

static void
paginate_errors_name_the_field(void **state)
{
  (void)state;
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":1}",
               "paginate: must be an object");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{}}",
               "paginate.next: required (\"link\", \"body:<JSON pointer>\"), "
               "or give \"cursor\" and \"param\"");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"header\"}}",
               "paginate.next: must be \"link\" or \"body:<JSON pointer>\"");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"body:paging\"}}",
               "paginate.next: a JSON pointer (RFC 6901) starts with \"/\", "
               "e.g. \"/error/code\"");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"body:/a~2\"}}",
               "paginate.next: \"~\" in a JSON pointer must be \"~0\" (a ~) "
               "or \"~1\" (a /) (RFC 6901 section 3)");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"cursor\":"
               "\"/c\"}}",
               "paginate.param: required with \"cursor\" (the query "
               "parameter that carries it)");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"cursor\":"
               "\"/c\",\"param\":\"a&b\"}}",
               "paginate.param: must be printable ASCII without spaces, "
               "\"&\", \"=\", \"#\", \"%\" or \"+\"");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"link\",\"cursor\":\"/c\",\"param\":\"p\"}}",
               "paginate: give either \"next\" or \"cursor\", not both");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"link\",\"param\":\"p\"}}",
               "paginate.param: only allowed with \"cursor\"");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"link\",\"max_pages\":0}}",
               "paginate.max_pages: must be between 1 and 100000");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"link\",\"keep_headers\":1}}",
               "paginate.keep_headers: must be true or false");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"link\",\"pages\":1}}",
               "paginate.pages: unknown field (use next, cursor, param, "
               "items, max_pages, keep_headers, keep_credential or "
               "keep_limit_key)");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"link\",\"items\":3}}",
               "paginate.items: must be a JSON pointer string");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"link\"},\"page\":2}",
               "parent: \"parent\", \"page\" and \"chain\" come together "
               "(pacer sets them on the page jobs it queues)");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"page\":1}",
               "page: must be between 2 and 100000");
  job_rejected("{\"id\":\"a\",\"url\":\"" U "\",\"parent\":\"r\",\"page\":2,"
               "\"chain\":\"c\"}",
               "page: a page job needs \"paginate\" or \"poll\"");
  job_rejected("{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaa\",\"url\":\"" U "\",\"paginate\":{\"next\":"
               "\"link\"}}",
               "id: at most 120 bytes with \"paginate\" (the chain's ids "
               "are \"<id>#<n>\")");
}

static void
json_pointer_follows_rfc6901(void **state)
{
  cJSON *d = cJSON_Parse("{\"a/b\":1,\"m~n\":2,\"x\":[10,{\"y\":\"z\"}],"
                         "\"\":3}");

  (void)state;
  assert_ptr_equal(pacer_json_pointer_get(d, ""), d);
  assert_int_equal(pacer_json_pointer_get(d, "/a~1b")->valueint, 1);
  assert_int_equal(pacer_json_pointer_get(d, "/m~0n")->valueint, 2);
  assert_int_equal(pacer_json_pointer_get(d, "/x/0")->valueint, 10);
  assert_string_equal(pacer_json_pointer_get(d, "/x/1/y")->valuestring, "z");
  assert_int_equal(pacer_json_pointer_get(d, "/")->valueint, 3);
  assert_null(pacer_json_pointer_get(d, "/x/01"));
  assert_null(pacer_json_pointer_get(d, "/x/-"));
  assert_null(pacer_json_pointer_get(d, "/x/2"));
  assert_null(pacer_json_pointer_get(d, "/nope/deeper"));
  cJSON_Delete(d);
}

static void
link_header_finds_rel_next(void **state)
{
  char *out = NULL;

  (void)state;
  assert_int_equal(pacer_link_find("<https://a/1>; rel=\"prev\", "
                                   "<https://a/3>; rel=\"next\"",
                                   "next", &out),
                   0);
  assert_string_equal(out, "https://a/3");
  free(out);
  /* RFC 8288 §3.3: a list of types, case-insensitive; unquoted */
  assert_int_equal(pacer_link_find("</p?x=1,2>;title=\"a, b\";rel=\"last "
                                   "NEXT\"",
                                   "next", &out),
                   0);
  assert_string_equal(out, "/p?x=1,2");
  free(out);
  assert_int_equal(pacer_link_find("<https://a/3>; rel=next", "next", &out), 0);
  assert_string_equal(out, "https://a/3");
  free(out);
  assert_int_equal(pacer_link_find("<https://a/1>; rel=\"prev\"", "next", &out),
                   PACER_ENOTFOUND);
  assert_int_equal(pacer_link_find("garbage", "next", &out), PACER_ENOTFOUND);
  assert_int_equal(pacer_link_find("<https://a/3; rel=next", "next", &out),
                   PACER_ENOTFOUND);
}

static void
cursor_replaces_its_parameter(void **state)
{
  char *out = NULL;

  (void)state;
  assert_int_equal(pacer_url_with_param("https://a/x?after=c1&n=2#f", "after",
                                        "c 2/=", &out),
                   0);
  assert_string_equal(out, "https://a/x?n=2&after=c%202%2F%3D");
  free(out);
  assert_int_equal(pacer_url_with_param("https://a/x", "after", "c2", &out), 0);
  assert_string_equal(out, "https://a/x?after=c2");
  free(out);
  assert_int_equal(
      pacer_url_with_param("https://a/x?aft=1&after", "after", "z", &out), 0);
  assert_string_equal(out, "https://a/x?aft=1&after=z");
  free(out);
}

static struct pacer_paginate *
spec(const char *json)
{
  cJSON *d = cJSON_Parse(json);
  struct pacer_paginate *p = NULL;
  struct pacer_error err;

  assert_int_equal(pacer_paginate_parse(d, &p, &err), 0);
  cJSON_Delete(d);
  return p;
}

#define BODY(s) (s), strlen(s)

static void
body_next_link_goes_on_until_it_is_missing(void **state)
{
  struct pacer_paginate *p =
      spec("{\"next\":\"body:/paging/next\",\"items\":\"/data\"}");
  struct pacer_page_step st;

  (void)state;
  assert_int_equal(
      pacer_paginate_step(p, 1, U, NULL,
                          BODY("{\"data\":[1,2,3],\"paging\":{\"next\":"
                               "\"https://api.example/v1/stats?p=2\"}}"),
                          &st),
      0);
  assert_int_equal(st.end, PACER_PAGE_MORE);
  assert_string_equal(st.next, "https://api.example/v1/stats?p=2");
  assert_true(st.next_is_ref);
  assert_int_equal(st.items, 3);
  pacer_page_step_clear(&st);
  assert_int_equal(
      pacer_paginate_step(
          p, 2, U, NULL, BODY("{\"data\":[],\"paging\":{\"next\":null}}"), &st),
      0);
  assert_int_equal(st.end, PACER_PAGE_END_LAST);
  assert_string_equal(pacer_page_end_name(st.end), "last_page");
  assert_int_equal(st.items, 0);
  pacer_page_step_clear(&st);
  assert_int_equal(
      pacer_paginate_step(p, 2, U, NULL, BODY("{\"data\":[1]}"), &st), 0);
  assert_int_equal(st.end, PACER_PAGE_END_LAST);
  pacer_page_step_clear(&st);
  assert_int_equal(pacer_paginate_step(p, 2, U, NULL, BODY("<html>"), &st), 0);
  assert_int_equal(st.end, PACER_PAGE_END_ERROR);
  assert_string_equal(st.error, "paginate: the page's body is not JSON");
  pacer_page_step_clear(&st);
  assert_int_equal(pacer_paginate_step(p, 2, U, NULL,
                                       BODY("{\"paging\":{\"next\":5}}"), &st),
                   0);
  assert_int_equal(st.end, PACER_PAGE_END_ERROR);
  assert_string_equal(st.error,
                      "paginate.next: the value in the body is not a string");
  pacer_page_step_clear(&st);
  /* the same URL again would loop for ever */
  assert_int_equal(
      pacer_paginate_step(p, 2, U, NULL,
                          BODY("{\"paging\":{\"next\":\"" U "\"}}"), &st),
      0);
  assert_int_equal(st.end, PACER_PAGE_END_ERROR);
  pacer_page_step_clear(&st);
  pacer_paginate_free(p);
}

static void
max_pages_ends_a_chain_that_has_more(void **state)
{
  struct pacer_paginate *p = spec("{\"next\":\"link\",\"max_pages\":2}");
  struct pacer_page_step st;
  const char *h = "{\"link\":\"</v1/stats?p=3>; rel=\\\"next\\\"\"}";

  (void)state;
  assert_int_equal(pacer_paginate_step(p, 1, U, h, NULL, 0, &st), 0);
  assert_int_equal(st.end, PACER_PAGE_MORE);
  assert_string_equal(st.next, "/v1/stats?p=3");
  assert_int_equal(st.items, -1);
  pacer_page_step_clear(&st);
  assert_int_equal(pacer_paginate_step(p, 2, U, h, NULL, 0, &st), 0);
  assert_int_equal(st.end, PACER_PAGE_END_MAX_PAGES);
  assert_null(st.next);
  pacer_page_step_clear(&st);
  assert_int_equal(pacer_paginate_step(p, 1, U, "{}", NULL, 0, &st), 0);
  assert_int_equal(st.end, PACER_PAGE_END_LAST);
  pacer_page_step_clear(&st);
  pacer_paginate_free(p);
}

static void
cursor_goes_into_the_query(void **state)
{
  struct pacer_paginate *p =
      spec("{\"cursor\":\"/paging/after\",\"param\":\"after\"}");
  struct pacer_page_step st;

  (void)state;
  assert_int_equal(pacer_paginate_step(p, 1, U, NULL,
                                       BODY("{\"paging\":{\"after\":"
                                            "\"QVFI\"}}"),
                                       &st),
                   0);
  assert_int_equal(st.end, PACER_PAGE_MORE);
  assert_false(st.next_is_ref);
  assert_string_equal(st.next, U "&after=QVFI");
  pacer_page_step_clear(&st);
  assert_int_equal(pacer_paginate_step(
                       p, 1, U, NULL, BODY("{\"paging\":{\"after\":42}}"), &st),
                   0);
  assert_string_equal(st.next, U "&after=42");
  pacer_page_step_clear(&st);
  assert_int_equal(pacer_paginate_step(p, 1, U, NULL,
                                       BODY("{\"paging\":{\"after\":\"\"}}"),
                                       &st),
                   0);
  assert_int_equal(st.end, PACER_PAGE_END_LAST);
  pacer_page_step_clear(&st);
  pacer_paginate_free(p);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(paginate_fields_parse_with_defaults),
      cmocka_unit_test(paginate_errors_name_the_field),
      cmocka_unit_test(json_pointer_follows_rfc6901),
      cmocka_unit_test(link_header_finds_rel_next),
      cmocka_unit_test(cursor_replaces_its_parameter),
      cmocka_unit_test(body_next_link_goes_on_until_it_is_missing),
      cmocka_unit_test(max_pages_ends_a_chain_that_has_more),
      cmocka_unit_test(cursor_goes_into_the_query),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
