#!/usr/bin/env bash
# A result write that Redis refuses (the results key has the wrong type)
# must not lose the job: the entry stays pending, the write is retried, and
# once the key is fixed the job gets its one result.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json"
rcli SET "${PREFIX}results" not-a-stream >/dev/null
start_worker "$TEST_TMP/pacer.json"
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"wt1\",\"url\":\"$TESTAPI_URL/fast\"}" >/dev/null
wait_until 20 'grep -q "WRONGTYPE" "$TEST_TMP/worker.log"' ||
  fail "the refused write was not reported"
[ "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 1 ] ||
  fail "the job is no longer pending after a refused write"
[ "$(rcli XLEN "${PREFIX}jobs")" -eq 1 ] || fail "the job entry was deleted"
rcli DEL "${PREFIX}results" >/dev/null
wait_until 20 'test "$(results_count)" -ge 1' || fail "no result after the fix"
[ "$(results_ids)" = wt1 ] || fail "wrong result"
[ "$(testapi_stat .requests)" -eq 1 ] || fail "the request was sent again"
wait_until 10 'test "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0' ||
  fail "still pending"
pass "refused write retried; one result, one request"
