#!/usr/bin/env bash
# Trimming never drops a pending entry's payload silently. A worker is
# SIGKILLed with 10 requests in flight, then the stream is trimmed to
# nothing (XTRIM MAXLEN 0, as a careless MAXLEN on XADD would): the
# pending-entries list still names the 10 ids, but their payloads are gone.
# The next worker takes them over and ends each one as a payload_lost result
# and dead letter; nothing stays pending, nothing vanishes.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 10, "prefetch_extra": 0, "lease_ms": 2000'
for i in $(seq 1 10); do
  printf '{"id":"t-%02d","url":"%s/slow?ms=8000"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" 2>/dev/null || fail "submit"
start_worker "$TEST_TMP/pacer.json" a
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 10' || fail "never 10 in flight"
kill -9 "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null
[ "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 10 ] || fail "not 10 pending"
rcli XTRIM "${PREFIX}jobs" MAXLEN 0 >/dev/null
[ "$(rcli XLEN "${PREFIX}jobs")" -eq 0 ] || fail "trim left entries"

start_worker "$TEST_TMP/pacer.json" b
wait_until 30 'test "$(results_count)" -ge 10' || fail "only $(results_count) of 10 results"
[ "$(stream_field results reason | grep -cx payload_lost)" -eq 10 ] ||
  fail "reasons: $(stream_field results reason | sort | uniq -c | tr '\n' ' ')"
[ "$(rcli XLEN "${PREFIX}dead")" -eq 10 ] || fail "$(rcli XLEN "${PREFIX}dead") dead letters, want 10"
[ "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0 ] || fail "entries left pending"
alive "$WORKER_PID" || fail "worker b died"
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "no exit after SIGTERM"
pass "10 pending entries trimmed away after a SIGKILL: 10 payload_lost results and dead letters, none pending"
