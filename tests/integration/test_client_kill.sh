#!/usr/bin/env bash
# The worker's Redis connections are killed (CLIENT KILL) five times while
# hundreds of result writes, acks and reads are outstanding. Every pending
# callback runs once with NULL, is treated as "outcome unknown" and
# replayed; the worker lives (ASan build: no use-after-free) and every job
# has exactly one result.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 64'
for i in $(seq 1 1500); do
  printf '{"id":"ck-%04d","url":"%s/slow?ms=100"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" 2>/dev/null ||
  fail "submit failed"
start_worker "$TEST_TMP/pacer.json"
for k in 1 2 3 4 5; do
  # Kill only once the previous kill's reconnect is done and more results
  # have been written, so every kill hits live connections mid-stream.
  wait_until 60 'test "$(results_count)" -ge $(( k * 200 )) &&
    test "$(grep -c "msg=.connected. conn=cmd" "$TEST_TMP/worker.log")" -ge $k' ||
    fail "stalled at $(results_count) before kill $k"
  rcli CLIENT KILL TYPE normal SKIPME yes >/dev/null
done
wait_until 120 'test "$(results_count)" -ge 1500' ||
  fail "only $(results_count) of 1500 results"
[ "$(results_ids | sort -u | wc -l)" -eq 1500 ] || fail "ids not unique"
[ "$(results_count)" -eq 1500 ] || fail "duplicate results: $(results_count)"
alive "$WORKER_PID" || fail "worker died"
[ "$(grep -c 'msg="disconnected"' "$TEST_TMP/worker.log")" -ge 5 ] ||
  fail "disconnects not seen"
pass "1500 results, one each, across 5 connection kills"
