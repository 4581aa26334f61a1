/* Unit tests for scheduler/metrics.c (docs/METRICS.md): label escaping,
 * histogram buckets, bounded bucket labels, wait reasons, and the exposition
 * text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler/metrics.h"

static void
label_values_escape_backslash_quote_and_newline(void **state)
{
  char out[64];

  (void)state;
  assert_int_equal(pacer_prom_label_escape(out, sizeof(out), "a\\b\"c\nd"), 10);
  assert_string_equal(out, "a\\\\b\\\"c\\nd");
  assert_int_equal(pacer_prom_label_escape(out, 4, "abcd"), -1);
  assert_string_equal(out, "");
}

static void
histogram_counts_each_value_in_its_first_bound(void **state)
{
  struct pacer_hist h;

  (void)state;
  pacer_hist_init_request(&h);  /* 5 ms, 10 ms, ... */
  pacer_hist_observe(&h, 5000); /* le 0.005: bounds are inclusive */
  pacer_hist_observe(&h, 5001);
  pacer_hist_observe(&h, 120000000); /* beyond 60 s: +Inf */
  assert_int_equal(h.counts[0], 1);
  assert_int_equal(h.counts[1], 1);
  assert_int_equal(h.counts[h.nbounds], 1);
  assert_int_equal(h.count, 3);
  assert_int_equal(h.sum_us, 120010001);
}

static void
bucket_labels_are_bounded_then_other(void **state)
{
  struct pacer_metrics *m = pacer_metrics_new(0);
  struct pacer_metrics_bucket *b, *first;
  char key[32];
  int i;

  (void)state;
  assert_non_null(m);
  first = pacer_metrics_bucket(m, "acct:a0", NULL);
  for (i = 0; i < PACER_METRICS_BUCKETS_MAX + 10; i++) {
    snprintf(key, sizeof(key), "acct:a%d", i);
    b = pacer_metrics_bucket(m, key, NULL);
    b->sent++;
  }
  assert_int_equal(m->nbuckets, PACER_METRICS_BUCKETS_MAX);
  assert_ptr_equal(pacer_metrics_bucket(m, "acct:a0", NULL), first);
  assert_int_equal(first->sent, 1);
  b = pacer_metrics_bucket(m, "acct:a9999", NULL);
  assert_string_equal(b->key, "(other)");
  assert_int_equal(b->sent, 10); /* the overflow is counted, not lost */
  pacer_metrics_free(m);
}

static void
requests_are_counted_by_status_class(void **state)
{
  struct pacer_metrics *m = pacer_metrics_new(0);

  (void)state;
  assert_non_null(m);
  pacer_metrics_request(m, 0, 200, 1000);
  pacer_metrics_request(m, 0, 429, 1000);
  pacer_metrics_request(m, 0, 503, 1000);
  pacer_metrics_request(m, 2, 0, 1000); /* timeout: no response */
  assert_int_equal(m->requests[1], 1);
  assert_int_equal(m->requests[3], 1);
  assert_int_equal(m->requests[4], 1);
  assert_int_equal(m->requests[6], 1);
  assert_int_equal(m->errors[2], 1);
  assert_int_equal(m->latency.count, 4);
  pacer_metrics_free(m);
}

static void
lane_wait_names_the_pause_and_its_header(void **state)
{
  struct pacer_lane l;
  char text[PACER_METRICS_REASON_MAX];
  uint64_t ms;

  (void)state;
  memset(&l, 0, sizeof(l));
  l.queued = 3;
  assert_int_equal(pacer_metrics_lane_wait(&l, 1000, 0, 800, "acct:a",
                                           "Retry-After 1000 ms", &ms, text,
                                           sizeof(text)),
                   PACER_WAIT_PAUSED);
  assert_int_equal(ms, 800);
  assert_string_equal(text, "paused by the upstream on acct:a: Retry-After "
                            "1000 ms; 800 ms left");
  /* An operator pause: its own cause, "until resumed" when it has no
   * end (2112: over 1e11 ms left). */
  assert_int_equal(pacer_metrics_lane_wait(&l, 1000, 0, 2706998777853ull,
                                           "acct:a", "paused by an operator",
                                           &ms, text, sizeof(text)),
                   PACER_WAIT_PAUSED);
  assert_string_equal(text, "paused by an operator on acct:a, until resumed");
  assert_int_equal(pacer_metrics_lane_wait(&l, 1000, 0, 5000, "acct:a",
                                           "paused by an operator", &ms, text,
                                           sizeof(text)),
                   PACER_WAIT_PAUSED);
  assert_string_equal(text, "paused by an operator on acct:a; 5000 ms left");
  /* Without a pause, a full process comes next, then the rate slot. */
  assert_int_equal(
      pacer_metrics_lane_wait(&l, 1000, 1, 0, NULL, NULL, &ms, text, 64),
      PACER_WAIT_CONCURRENCY);
  l.slots_us[0] = 51000;
  l.nslots = 1;
  assert_int_equal(
      pacer_metrics_lane_wait(&l, 1000, 0, 0, NULL, NULL, &ms, text, 64),
      PACER_WAIT_RATE);
  assert_int_equal(ms, 50);
  assert_string_equal(text, "rate limit: next reserved slot in 50 ms");
  l.max_in_flight = 2;
  l.in_flight = 2;
  assert_int_equal(
      pacer_metrics_lane_wait(&l, 1000, 0, 0, NULL, NULL, &ms, text, 64),
      PACER_WAIT_IN_FLIGHT);
  l.queued = 0;
  l.in_flight = 0;
  l.deferred = 7;
  assert_int_equal(
      pacer_metrics_lane_wait(&l, 1000, 0, 0, NULL, NULL, &ms, text, 128),
      PACER_WAIT_DEFERRED);
  assert_string_equal(pacer_wait_name(PACER_WAIT_DEFERRED), "deferred");
}

static void
exposition_has_help_and_type_before_every_family(void **state)
{
  struct pacer_metrics *m = pacer_metrics_new(1700000000000u);
  struct pacer_metrics_view v;
  struct pacer_limit_cfg cfg;
  struct pacer_limit_ref ref;
  struct pacer_text t;
  const char *p;

  (void)state;
  assert_non_null(m);
  memset(&v, 0, sizeof(v));
  memset(&t, 0, sizeof(t));
  memset(&cfg, 0, sizeof(cfg));
  snprintf(cfg.name, sizeof(cfg.name), "acct");
  cfg.rate_count = 600;
  cfg.rate_period_us = 60000000;
  ref.cfg = &cfg;
  snprintf(ref.key, sizeof(ref.key), "acct:a\"1");
  pacer_metrics_sent(m, &ref, 1);
  pacer_metrics_throttled(m, &ref);
  pacer_metrics_job(m, PACER_MX_JOB_OK);
  /* held past its send slot, not sent (docs/LIMITS.md) */
  pacer_metrics_sent(m, &ref, 1);
  pacer_metrics_request(m, PACER_HTTP_MISSED_SLOT, 0, 0);
  pacer_metrics_unsent(m, &ref, 1);
  v.consumer = "c";
  v.now_unix_ms = 1700000001000u;
  pacer_metrics_tick(m, &v, 5000);
  assert_int_equal(pacer_metrics_render_text(m, &v, &t), 0);
  assert_non_null(strstr(t.buf, "pacer_jobs_total{state=\"ok\"} 1\n"));
  assert_non_null(strstr(
      t.buf,
      "pacer_bucket_throttled_total{limit=\"acct\",bucket=\"acct:a\\\"1\"} "
      "1\n"));
  assert_non_null(strstr(
      t.buf, "pacer_bucket_rate_limit{limit=\"acct\",bucket=\"acct:a\\\"1\"} "
             "10\n"));
  assert_non_null(
      strstr(t.buf, "pacer_request_errors_total{kind=\"missed_slot\"} 1\n"));
  /* ... and is no request: nothing reached the upstream */
  assert_non_null(strstr(t.buf, "pacer_request_duration_seconds_count 0\n"));
  assert_null(strstr(t.buf, "pacer_requests_total{class=\"none\"} 1\n"));
  assert_non_null(strstr(
      t.buf,
      "pacer_bucket_requests_total{limit=\"acct\",bucket=\"acct:a\\\"1\"} "
      "1\n"));
  /* Every sample line follows a "# TYPE" line of its family. */
  for (p = t.buf; *p != '\0'; p = strchr(p, '\n') + 1) {
    if (*p != '#') {
      char fam[96];
      size_t n = strcspn(p, "{ ");

      assert_true(n < sizeof(fam));
      memcpy(fam, p, n);
      fam[n] = '\0';
      if (strstr(fam, "_bucket") != NULL || strstr(fam, "_sum") != NULL ||
          strstr(fam, "_count") != NULL)
        continue; /* histogram series */
      {
        char want[128];

        snprintf(want, sizeof(want), "# TYPE %s ", fam);
        assert_non_null(strstr(t.buf, want));
      }
    }
  }
  pacer_text_free(&t);
  assert_int_equal(pacer_metrics_render_json(m, &v, &t), 0);
  assert_non_null(strstr(t.buf, "\"bucket\":\"acct:a\\\"1\""));
  assert_non_null(strstr(t.buf, "\"missed_slots\":1"));
  pacer_text_free(&t);
  pacer_metrics_free(m);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(label_values_escape_backslash_quote_and_newline),
      cmocka_unit_test(histogram_counts_each_value_in_its_first_bound),
      cmocka_unit_test(bucket_labels_are_bounded_then_other),
      cmocka_unit_test(requests_are_counted_by_status_class),
      cmocka_unit_test(lane_wait_names_the_pause_and_its_header),
      cmocka_unit_test(exposition_has_help_and_type_before_every_family),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
