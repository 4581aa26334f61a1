#!/usr/bin/env bash
# Running out of memory while taking in a stream entry is not the job's
# fault (scheduler/intake.c, pacer_sched_on_entry). With fail_strdup.so
# preloaded, the first strdup() of the stream field id "oom-strdup-1" fails
# with ENOMEM, as the copy of the given id does when malloc runs out:
# - no result with reason invalid_job is ever written for it (the old code
#   wrote one, with an error message nobody had set);
# - the entry stays pending after the failure and is delivered again once
#   lease_ms (1 s here) is over, this time to an intake that works;
# - the job then ends with exactly one result, state ok, and one request.
# Env: FAILSTRDUP = path of the preload library (set by ctest).
. "$(dirname "$0")/lib.sh"

[ -n "${FAILSTRDUP:-}" ] && [ -f "$FAILSTRDUP" ] ||
  fail "FAILSTRDUP not set to the preload library"
# A sanitizer runtime linked into pacer itself (clang's static ASan) defines
# strdup in the executable, which comes before any preload in the lookup
# order: the injection cannot take effect there (gcc's libasan.so can).
if command -v nm >/dev/null &&
  nm -D --defined-only "$PACER" | awk '$3 == "strdup" { f = 1 } END { exit !f }'; then
  echo "SKIP ${TEST_NAME}: $PACER defines strdup itself (static sanitizer runtime), LD_PRELOAD cannot interpose it"
  exit 77
fi
ID=oom-strdup-1
MARKS="$TEST_TMP/failstrdup.marks"
start_testapi
write_config "$TEST_TMP/pacer.json" '"lease_ms": 1000, "concurrency": 4'
# The id comes from the stream field, not from the job text, so that the
# strdup of qe->id is the copy that fails. /slow keeps the retaken entry
# pending for a while, long enough to see it delivered a second time.
sid=$(rcli XADD "${PREFIX}jobs" '*' id "$ID" \
  job "{\"url\":\"$TESTAPI_URL/slow?ms=1500\"}") || fail "XADD"
[ -n "$sid" ] || fail "XADD returned no id"

# The preload only affects strings starting with "oom-strdup-"; ASan must
# not insist on coming first in the library list for that.
LD_PRELOAD="$FAILSTRDUP" PACER_FAILSTRDUP_COUNT=1 PACER_FAILSTRDUP_LOG="$MARKS" \
  ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0" \
  "$PACER" worker --config "$TEST_TMP/pacer.json" --log-level info \
  >"$TEST_TMP/worker.out" 2>"$TEST_TMP/worker.log" &
WORKER_PID=$!
PIDS+=($WORKER_PID)

# delivery_count: times the entry has been delivered while pending (0 once
# it is acknowledged or when it was never read).
delivery_count() {
  rcli --raw XPENDING "${PREFIX}jobs" pacer "$sid" "$sid" 1 | sed -n 4p
}

wait_until 20 'test -s "$MARKS"' ||
  fail "the injected strdup failure never happened (preload not in effect?)"
[ "$(cat "$MARKS")" = "fail_strdup $ID" ] ||
  fail "unexpected injected failures: $(cat "$MARKS")"
# Second delivery while still pending: the failed intake left the entry
# pending (not acknowledged with a result), and the lease brought it back.
# A result before that means the failed intake finished the job itself.
wait_until 20 'test "$(delivery_count)" -ge 2 || test "$(results_count)" -ge 1' ||
  fail "entry $sid neither delivered again nor finished (delivery count '$(delivery_count)')"
dc=$(delivery_count)
[ "${dc:-0}" -ge 2 ] ||
  fail "entry $sid not left pending after the failed intake (delivery count '$dc', results: $(stream_field results reason | tr '\n' ' '))"
wait_until 20 'test "$(results_count)" -ge 1 && test -z "$(delivery_count)"' ||
  fail "no result after the retake ($(results_count) results, delivery count '$(delivery_count)')"
alive "$WORKER_PID" || fail "the worker died"

reasons=$(stream_field results reason | tr '\n' ' ')
case " $reasons " in
*" invalid_job "*) fail "an invalid_job result was written: $reasons" ;;
esac
[ "$(results_count)" -eq 1 ] ||
  fail "$(results_count) results, want exactly 1 (reasons: $reasons)"
[ "$(results_ids)" = "$ID" ] || fail "the result is for '$(results_ids)', want $ID"
st=$(result_of "$ID" state)
[ "$st" = ok ] || fail "$ID ended $st/$(result_of "$ID" reason): $(result_of "$ID" error)"
[ "$(testapi_stat .requests)" -eq 1 ] ||
  fail "$(testapi_stat .requests) requests sent, want 1"
! grep -q 'invalid job' "$TEST_TMP/worker.log" || fail "the worker logged an invalid job"
[ "$(wc -l <"$MARKS")" -eq 1 ] || fail "more than one injected failure"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "the worker did not stop"
wait "$WORKER_PID" || fail "the worker exited $?"
pass "strdup($ID) failed once at intake: no invalid_job result, entry left pending, retaken after the lease and ended ok with one result (attempts $(result_of "$ID" attempts))"
