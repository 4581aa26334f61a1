#!/usr/bin/env bash
# Graceful stop: SIGTERM while 20 slow requests run and more jobs are held.
# In-flight requests finish and get their results, held-but-unstarted jobs
# go back to the stream at once (nothing left pending), exit status 0; a
# second worker finishes the rest. Each job ends with exactly one result.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 20, "prefetch_extra": 30'
for i in $(seq 1 100); do
  printf '{"id":"s-%03d","url":"%s/slow?ms=1500"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" 2>/dev/null ||
  fail "submit failed"
start_worker "$TEST_TMP/pacer.json" first
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 20' || fail "never 20 in flight"
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "no exit after SIGTERM"
wait "$WORKER_PID"; rc=$?
[ "$rc" -eq 0 ] || fail "exit status $rc"
n=$(results_count)
[ "$n" -ge 20 ] || fail "in-flight requests did not finish: $n results"
[ "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0 ] ||
  fail "entries left pending after a graceful stop"
# A clean stop removes its own consumer (it owns no pending entries).
[ "$(rcli XINFO CONSUMERS "${PREFIX}jobs" pacer | grep -c '^name$')" -eq 0 ] ||
  fail "consumer left behind after a clean stop"
[ "$(rcli XLEN "${PREFIX}jobs")" -eq $(( 100 - n )) ] ||
  fail "stream holds $(rcli XLEN "${PREFIX}jobs"), want $(( 100 - n ))"

start_worker "$TEST_TMP/pacer.json" second
wait_until 60 'test "$(results_count)" -ge 100' || fail "only $(results_count) results"
[ "$(results_ids | sort -u | wc -l)" -eq 100 ] || fail "ids not unique"
[ "$(results_count)" -eq 100 ] || fail "duplicates"
# A POST without Idempotency-Key cut short by the end of the grace period
# may have reached the server: it ends outcome_unknown, never sent twice.
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "second worker did not stop"
wait_until 20 'test "$(testapi_stat .in_flight)" -eq 0' || fail "upstream still busy"
rcli DEL "${PREFIX}results" >/dev/null
write_config "$TEST_TMP/p.json" '"shutdown_grace_ms": 500'
curl -fsS -X POST "$TESTAPI_URL/admin/script" -d \
  '[{"path":"/v1/adaccounts/p1/campaigns","method":"POST","status":200,"delay_ms":5000}]' >/dev/null
printf '{"id":"P-1","method":"POST","url":"%s/v1/adaccounts/p1/campaigns","body":{}}\n' \
  "$TESTAPI_URL" >"$TEST_TMP/p.jsonl"
"$PACER" submit --config "$TEST_TMP/p.json" "$TEST_TMP/p.jsonl" 2>/dev/null || fail "submit P"
before=$(testapi_stat .requests)
start_worker "$TEST_TMP/p.json" post1
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 1' || fail "P: the POST never started"
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "P: no exit after SIGTERM"
start_worker "$TEST_TMP/p.json" post2
wait_until 20 'test "$(results_count)" -ge 1' || fail "P: no result"
[ "$(result_of P-1 state)" = outcome_unknown ] || fail "P: ended $(result_of P-1 state)"
wait_until 10 'test "$(testapi_stat .in_flight)" -eq 0' || fail "P: upstream still busy"
[ $(( $(testapi_stat .requests) - before )) -eq 1 ] ||
  fail "P: the POST reached the upstream $(( $(testapi_stat .requests) - before )) times"
kill -TERM "$WORKER_PID"
pass "graceful stop: $n finished in flight, the rest handed back and finished; a cut POST ends outcome_unknown"
