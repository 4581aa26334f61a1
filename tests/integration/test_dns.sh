#!/usr/bin/env bash
# DNS must never stall the loop. With slow_dns.so preloaded, every lookup of
# *.slow.test takes 10 s and then fails (a resolver that never answers). 5
# jobs to such a host (timeout 3 s, one attempt) run beside 100 jobs to
# 127.0.0.1:
# - the 100 finish as if the slow lookups were not there (all within 4 s
#   of being queued, at 200 ms each and 64 in parallel);
# - each slow job ends at its own timeout (about 3 s), not after the 10 s
#   lookup, with reason timeout;
# - SIGTERM with a lookup still running exits once shutdown_grace_ms
#   (500 ms here) is over: cancelling the transfer does not wait for its
#   resolver thread.
# Env: SLOWDNS = path of the preload library (set by ctest).
. "$(dirname "$0")/lib.sh"

[ -n "${SLOWDNS:-}" ] && [ -f "$SLOWDNS" ] || fail "SLOWDNS not set to the preload library"
start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 64'
# The preload only affects names under .slow.test; ASan must not insist on
# coming first in the library list for that.
run_worker() { # run_worker NAME CONFIG
  LD_PRELOAD="$SLOWDNS" PACER_SLOWDNS_MS=10000 \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0" \
    "$PACER" worker --config "$2" --log-level info \
    >"$TEST_TMP/$1.out" 2>"$TEST_TMP/$1.log" &
  WORKER_PID=$!
  PIDS+=($WORKER_PID)
}
run_worker worker "$TEST_TMP/pacer.json"
{
  for i in 1 2 3 4 5; do
    printf '{"id":"slow-%d","url":"http://h%d.slow.test:%s/fast","timeout_ms":3000,"max_attempts":1}\n' \
      "$i" "$i" "$TESTAPI_PORT"
  done
  for i in $(seq 1 100); do
    printf '{"id":"fast-%03d","url":"%s/slow?ms=200"}\n' "$i" "$TESTAPI_URL"
  done
} >"$TEST_TMP/jobs.jsonl"
t0=$(now_ms)
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" 2>/dev/null || fail "submit"
wait_until 30 'test "$(results_count)" -ge 105' || fail "only $(results_count) of 105 results"
alive "$WORKER_PID" || fail "the worker died"

last_fast=0
for i in $(seq 1 100); do
  id=$(printf 'fast-%03d' "$i")
  [ "$(result_of "$id" state)" = ok ] || fail "$id: $(result_of "$id" state)"
  f=$(result_of "$id" finished_unix_ms)
  [ "$f" -gt "$last_fast" ] && last_fast=$f
done
[ $(( last_fast - t0 )) -le 4000 ] ||
  fail "the 100 loopback jobs took $(( last_fast - t0 )) ms: the loop waited for DNS"
for i in 1 2 3 4 5; do
  st=$(result_of "slow-$i" state); rs=$(result_of "slow-$i" reason)
  d=$(result_of "slow-$i" duration_ms)
  [ "$st" = failed ] && [ "$rs" = timeout ] || fail "slow-$i ended $st/$rs ($(result_of "slow-$i" error))"
  [ "$d" -ge 2500 ] && [ "$d" -le 5000 ] || fail "slow-$i took $d ms, want about 3000"
done

# SIGTERM while a lookup is still running: exit once the grace is over.
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "the first worker did not stop"
write_config "$TEST_TMP/stop.json" '"shutdown_grace_ms": 500'
run_worker stop "$TEST_TMP/stop.json"
printf '{"id":"stop-1","url":"http://x.slow.test:%s/fast","timeout_ms":20000}\n' "$TESTAPI_PORT" >"$TEST_TMP/stop.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/stop.jsonl" 2>/dev/null || fail "submit stop"
wait_until 10 'test "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -ge 1' || fail "stop-1 not taken"
t_stop=$(now_ms)
kill -TERM "$WORKER_PID"
wait_until 8 '! alive "$WORKER_PID"' || fail "SIGTERM waited for a 10 s lookup"
took=$(( $(now_ms) - t_stop ))
[ "$took" -le 3000 ] || fail "exit took $took ms after SIGTERM (grace 500 ms)"
pass "100 loopback jobs done $(( last_fast - t0 )) ms after queueing beside 5 lookups that never answer; those ended at their 3 s timeout; SIGTERM exit in ${took} ms"
