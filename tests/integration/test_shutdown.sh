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
wait_until 20 '! alive "$WORKER_PID"' || fail "P: no exit after SIGTERM"

# ---- Q: a second signal exits at once, and still loses nothing: the jobs
# it held come back through the lease (here 2 s) to the next worker.
rcli DEL "${PREFIX}results" >/dev/null
write_config "$TEST_TMP/q.json" '"concurrency": 10, "lease_ms": 2000, "shutdown_grace_ms": 30000'
for i in $(seq 1 30); do
  printf '{"id":"q-%03d","url":"%s/slow?ms=3000"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/q.jsonl"
"$PACER" submit --config "$TEST_TMP/q.json" "$TEST_TMP/q.jsonl" 2>/dev/null || fail "submit Q"
start_worker "$TEST_TMP/q.json" q1
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 10' || fail "Q: never 10 in flight"
kill -TERM "$WORKER_PID"
wait_until 10 'grep -q "signal received, draining" "$TEST_TMP/q1.log"' || fail "Q: first signal not seen"
t_sig=$(now_ms)
kill -TERM "$WORKER_PID"
wait_until 5 '! alive "$WORKER_PID"' || fail "Q: the second signal did not exit at once"
took=$(( $(now_ms) - t_sig ))
wait "$WORKER_PID"; rc=$?
[ "$rc" -ne 0 ] || fail "Q: exit status 0 after an abandoned drain"
grep -q 'second signal, exiting now' "$TEST_TMP/q1.log" || fail "Q: no message for the second signal"
[ "$(results_count)" -lt 30 ] || fail "Q: everything finished before the second signal; the test proves nothing"
start_worker "$TEST_TMP/q.json" q2
wait_until 60 'test "$(results_count)" -ge 30' || fail "Q: only $(results_count) of 30 after the lease"
[ "$(results_ids | sort -u | wc -l)" -eq 30 ] && [ "$(results_count)" -eq 30 ] ||
  fail "Q: $(results_count) results for $(results_ids | sort -u | wc -l) ids"
kill -TERM "$WORKER_PID"
pass "graceful stop: $n finished in flight, the rest handed back and finished; a cut POST ends outcome_unknown; a second signal exits in ${took} ms and the lease brings its jobs back (30 results, one each)"
