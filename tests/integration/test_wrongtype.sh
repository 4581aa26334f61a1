#!/usr/bin/env bash
# A result write that Redis refuses (the results key has the wrong type)
# must not lose the job: the entry stays pending, the write is retried, and
# once the key is fixed the job gets its one result.
# B: a job id whose claim key (<prefix>claim:<id>) has the wrong type cannot
# take its claim, so neither of two entries of that id is sent (running
# them could send the id twice); both wait in the delayed set and are
# checked again, and once the key is fixed the id is sent once, with one
# result.
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

# ---- B: the claim key of a job id has the wrong type
rcli RPUSH "${PREFIX}claim:wt2" not-a-claim >/dev/null
j="{\"id\":\"wt2\",\"method\":\"POST\",\"url\":\"$TESTAPI_URL/slow?ms=10\",\"body\":{}}"
rcli XADD "${PREFIX}jobs" '*' job "$j" >/dev/null
rcli XADD "${PREFIX}jobs" '*' job "$j" >/dev/null
refused() { grep -c 'duplicate check refused by Redis' "$TEST_TMP/worker.log"; }
# Each entry refused, then refused again after its wait in the delayed set.
wait_until 30 'test "$(refused)" -ge 4' || fail "B: refused checks not reported ($(refused))"
grep -q "WRONGTYPE ${PREFIX}claim:wt2 is a list" "$TEST_TMP/worker.log" ||
  fail "B: the error does not name the claim key"
[ "$(testapi_stat .requests)" -eq 1 ] || fail "B: a job of the refused id was sent"
[ "$(results_count)" -eq 1 ] || fail "B: a result was written for the refused id"
rcli DEL "${PREFIX}claim:wt2" >/dev/null
wait_until 30 'test "$(results_count)" -ge 2 &&
  test "$(rcli XLEN "${PREFIX}jobs")" -eq 0 &&
  test "$(rcli ZCARD "${PREFIX}delayed")" -eq 0' ||
  fail "B: the id did not finish once its claim key was fixed"
[ "$(testapi_stat .requests)" -eq 2 ] || fail "B: wt2 sent $(($(testapi_stat .requests) - 1)) times, want 1"
[ "$(results_ids | grep -cx wt2)" -eq 1 ] || fail "B: wt2 has $(results_ids | grep -cx wt2) results, want 1"
pass "refused write retried; one result, one request; a refused claim sends nothing until fixed, then once"
