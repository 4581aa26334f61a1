/* Unit tests for core/poll.c and the report fields of core/job_chain.c:
 * the "poll" spec, waits with backoff and Retry-After, and what follows
 * each response of a report chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/job.h"
#include "core/poll.h"

#define U   "https://api.example/v1/reports"
#define NOW 1764403200000ull /* unix ms */
#define SPEC                                                                   \
  "\"poll\":{\"url\":\"body:/status_url\",\"status\":\"/status\","             \
  "\"done\":[\"done\",2],\"failed\":\"failed\","                               \
  "\"interval_ms\":1000,\"backoff\":2,\"max_interval_ms\":5000,"               \
  "\"deadline_ms\":60000,\"download\":\"/file\"}"

static void
job_rejected(const char *json, const char *msg)
{
  struct pacer_job *job = NULL;
  struct pacer_error err;

  if (pacer_job_parse(json, strlen(json), NULL, NULL, &job, &err) != PACER_EJOB)
    fail_msg("accepted: %s", json);
  assert_string_equal(err.msg, msg);
}

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
poll_field_parses(void **state)
{
  struct pacer_job *j =
      job_ok("{\"id\":\"r\",\"method\":\"POST\",\"url\":\"" U "\"," SPEC "}");

  (void)state;
  assert_non_null(j->poll);
  assert_false(j->poll->from_location);
  assert_string_equal(j->poll->url_ptr, "/status_url");
  assert_int_equal(j->poll->ndone, 2);
  assert_string_equal(j->poll->done[1], "2");
  assert_int_equal(j->poll->nfailed, 1);
  assert_int_equal(j->poll->backoff_permille, 2000);
  assert_int_equal(j->poll_phase, PACER_POLL_CREATE);
  pacer_job_free(j);
  j = job_ok("{\"id\":\"r#3\",\"url\":\"" U "/1\",\"poll\":{\"url\":"
             "\"location\",\"status\":\"/s\",\"done\":true},\"parent\":\"r\","
             "\"page\":3,\"chain\":\"1-0\",\"poll_phase\":\"status\","
             "\"poll_since\":1764403200000}");
  assert_true(j->poll->from_location);
  assert_string_equal(j->poll->done[0], "true");
  assert_int_equal(j->poll_phase, PACER_POLL_STATUS);
  assert_int_equal(j->poll_since_unix_ms, NOW);
  assert_int_equal(j->poll->interval_ms, PACER_POLL_INTERVAL_DEFAULT);
  pacer_job_free(j);
}

static void
poll_errors_name_the_field(void **state)
{
  (void)state;
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":[]}",
               "poll: must be an object");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"status\":\"/s\","
               "\"done\":\"d\"}}",
               "poll.url: required (\"location\" or \"body:<JSON pointer>\")");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"header\"}}",
               "poll.url: must be \"location\" or \"body:<JSON pointer>\"");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"done\":\"d\"}}",
               "poll.status: required (the JSON pointer of the report's "
               "status)");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"s\"}}",
               "poll.status: a JSON pointer (RFC 6901) starts with \"/\", e.g. "
               "\"/error/code\"");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\"}}",
               "poll.done: required (the status values that mean done)");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\",\"done\":[]}}",
               "poll.done: must hold 1 to 16 values");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\",\"done\":[{}]}}",
               "poll.done: values must be strings of at most 128 bytes, "
               "integers or booleans");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\",\"done\":\"d\",\"interval_ms\":10}}",
               "poll.interval_ms: must be between 100 and 3600000");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\",\"done\":\"d\",\"backoff\":0.5}}",
               "poll.backoff: must be a number from 1 to 10");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\",\"done\":\"d\",\"interval_ms\":9000,"
               "\"max_interval_ms\":5000}}",
               "poll.max_interval_ms: must not be below interval_ms");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\",\"done\":\"d\",\"deadline_ms\":1}}",
               "poll.deadline_ms: must be between 1000 and 604800000");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\",\"done\":\"d\",\"every\":1}}",
               "poll.every: unknown field (use url, status, done, failed, "
               "interval_ms, backoff, max_interval_ms, deadline_ms or "
               "download)");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\",\"done\":\"d\"},\"paginate\":{\"next\":"
               "\"link\"}}",
               "poll: not allowed together with \"paginate\"");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll\":{\"url\":\"location\","
               "\"status\":\"/s\",\"done\":\"d\"},\"poll_phase\":\"status\"}",
               "poll_since: \"poll_phase\" and \"poll_since\" come with "
               "\"poll\", \"parent\", \"page\" and \"chain\" (pacer sets them "
               "on the report jobs it queues)");
  job_rejected("{\"id\":\"r\",\"url\":\"" U "\",\"poll_phase\":\"later\"}",
               "poll_phase: must be \"status\" or \"download\"");
}

static struct pacer_poll *
spec(void)
{
  cJSON *d = cJSON_Parse("{" SPEC "}");
  struct pacer_poll *p = NULL;
  struct pacer_error err;

  assert_int_equal(pacer_poll_parse(cJSON_GetObjectItem(d, "poll"), &p, &err),
                   0);
  cJSON_Delete(d);
  return p;
}

static void
waits_grow_by_backoff_to_the_cap(void **state)
{
  struct pacer_poll *p = spec();

  (void)state;
  assert_int_equal(pacer_poll_wait_ms(p, 1), 1000);
  assert_int_equal(pacer_poll_wait_ms(p, 2), 2000);
  assert_int_equal(pacer_poll_wait_ms(p, 3), 4000);
  assert_int_equal(pacer_poll_wait_ms(p, 4), 5000);
  assert_int_equal(pacer_poll_wait_ms(p, 400), 5000);
  pacer_poll_free(p);
}

#define B(s) (s), strlen(s)

static void
create_response_names_the_status_url(void **state)
{
  struct pacer_poll *p = spec();
  struct pacer_poll_step st;

  (void)state;
  assert_int_equal(pacer_poll_step(p, PACER_POLL_CREATE, 0, NOW, 202, NULL,
                                   B("{\"status_url\":\"/v1/reports/7\"}"), NOW,
                                   &st),
                   0);
  assert_int_equal(st.next, PACER_POLL_WAIT);
  assert_string_equal(st.url, "/v1/reports/7");
  assert_true(st.url_is_ref);
  assert_int_equal(st.due_unix_ms, NOW + 1000);
  pacer_poll_step_clear(&st);
  assert_int_equal(pacer_poll_step(p, PACER_POLL_CREATE, 0, NOW, 200, NULL,
                                   B("{}"), NOW, &st),
                   0);
  assert_int_equal(st.next, PACER_POLL_FAILED);
  assert_string_equal(st.error, "poll.url: no status URL in the response body");
  pacer_poll_step_clear(&st);
  pacer_poll_free(p);
}

static void
pending_polls_wait_and_honour_retry_after_on_202(void **state)
{
  struct pacer_poll *p = spec();
  struct pacer_poll_step st;

  (void)state;
  /* third poll: 4 s by backoff */
  assert_int_equal(pacer_poll_step(p, PACER_POLL_STATUS, 3, NOW, 200, NULL,
                                   B("{\"status\":\"running\"}"), NOW + 10,
                                   &st),
                   0);
  assert_int_equal(st.next, PACER_POLL_WAIT);
  assert_null(st.url);
  assert_int_equal(st.due_unix_ms, NOW + 10 + 5000);
  pacer_poll_step_clear(&st);
  /* RFC 9110 §10.2.3: Retry-After 30 on a 202 is a floor */
  assert_int_equal(pacer_poll_step(p, PACER_POLL_STATUS, 1, NOW, 202,
                                   "{\"retry-after\":\"30\"}",
                                   B("{\"status\":\"running\"}"), NOW, &st),
                   0);
  assert_int_equal(st.due_unix_ms, NOW + 30000);
  pacer_poll_step_clear(&st);
  /* ... but not on a 200 */
  assert_int_equal(pacer_poll_step(p, PACER_POLL_STATUS, 1, NOW, 200,
                                   "{\"retry-after\":\"30\"}",
                                   B("{\"status\":\"running\"}"), NOW, &st),
                   0);
  assert_int_equal(st.due_unix_ms, NOW + 2000);
  pacer_poll_step_clear(&st);
  /* the deadline, 60 s after the first response */
  assert_int_equal(pacer_poll_step(p, PACER_POLL_STATUS, 20, NOW, 200, NULL,
                                   B("{\"status\":\"running\"}"), NOW + 56000,
                                   &st),
                   0);
  assert_int_equal(st.next, PACER_POLL_EXPIRED);
  assert_string_equal(st.error,
                      "poll: the report was not done within deadline_ms 60000");
  pacer_poll_step_clear(&st);
  pacer_poll_free(p);
}

static void
done_fetches_the_download_and_failed_ends(void **state)
{
  struct pacer_poll *p = spec();
  struct pacer_poll_step st;

  (void)state;
  assert_int_equal(pacer_poll_step(p, PACER_POLL_STATUS, 2, NOW, 200, NULL,
                                   B("{\"status\":\"done\",\"file\":"
                                     "\"https://cdn.example/r.csv\"}"),
                                   NOW, &st),
                   0);
  assert_int_equal(st.next, PACER_POLL_FETCH);
  assert_string_equal(st.url, "https://cdn.example/r.csv");
  pacer_poll_step_clear(&st);
  /* integers compare as their JSON spelling */
  assert_int_equal(pacer_poll_step(p, PACER_POLL_STATUS, 2, NOW, 200, NULL,
                                   B("{\"status\":2}"), NOW, &st),
                   0);
  assert_int_equal(st.next, PACER_POLL_FAILED);
  assert_string_equal(
      st.error, "poll.download: the report is done but has no download URL");
  pacer_poll_step_clear(&st);
  assert_int_equal(pacer_poll_step(p, PACER_POLL_STATUS, 2, NOW, 200, NULL,
                                   B("{\"status\":\"failed\"}"), NOW, &st),
                   0);
  assert_int_equal(st.next, PACER_POLL_FAILED);
  assert_string_equal(st.error, "poll: the report failed (status \"failed\")");
  pacer_poll_step_clear(&st);
  assert_int_equal(pacer_poll_step(p, PACER_POLL_DOWNLOAD, 3, NOW, 200, NULL,
                                   B("a,b\n"), NOW, &st),
                   0);
  assert_int_equal(st.next, PACER_POLL_DONE);
  pacer_poll_step_clear(&st);
  pacer_poll_free(p);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(poll_field_parses),
      cmocka_unit_test(poll_errors_name_the_field),
      cmocka_unit_test(waits_grow_by_backoff_to_the_cap),
      cmocka_unit_test(create_response_names_the_status_url),
      cmocka_unit_test(pending_polls_wait_and_honour_retry_after_on_202),
      cmocka_unit_test(done_fetches_the_download_and_failed_ends),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
