#!/usr/bin/env bash
# A worker killed with SIGKILL while 50 requests are in flight; a new worker
# takes the jobs over after the lease and finishes all of them, each with
# exactly one result.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"lease_ms": 2000, "concurrency": 64'
for i in $(seq 1 50); do
  printf '{"id":"k-%02d","url":"%s/slow?ms=4000"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" 2>/dev/null ||
  fail "submit failed"

start_worker "$TEST_TMP/pacer.json" first
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 50' ||
  fail "50 requests never in flight (saw $(testapi_stat .in_flight))"
kill -9 "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null
[ "$(results_count)" -eq 0 ] || fail "results before the kill"

start_worker "$TEST_TMP/pacer.json" second
wait_until 60 'test "$(results_count)" -ge 50' ||
  fail "only $(results_count) of 50 results after takeover"
[ "$(results_ids | sort -u | wc -l)" -eq 50 ] || fail "ids not unique"
[ "$(results_count)" -eq 50 ] || fail "more than one result per job"
[ "$(stream_field results state | grep -cx ok)" -eq 50 ] ||
  fail "not all ok"
[ "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0 ] || fail "pending left"
grep -q 'took over job after lease' "$TEST_TMP/second.log" ||
  fail "no takeover logged"
pass "50 jobs recovered after SIGKILL"
