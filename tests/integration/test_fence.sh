#!/usr/bin/env bash
# Issue 5 §1, C12: exactly one terminal record per job id.
# A: a job id that already finished is a no-op when it is delivered again
#    (a client or `pacer submit` retry XADDs it twice): skipped unsent, no
#    second result (the done-marker, docs/REDIS.md).
# B: two entries of one id running at the same time: both may be sent,
#    only one result is written.
# D: `pacer submit` does not queue an id that already finished.
# C: a lease really lost: while worker A's request runs, another consumer
#    takes the entry over (XCLAIM, as XAUTOCLAIM would after a stall). A's
#    renewal does not take it back, A's completion is fenced off (no
#    result), the entry comes back through the lease and runs again with
#    the same Idempotency-Key, and exactly one result is written.
. "$(dirname "$0")/lib.sh"

start_testapi --latency-ms 2500 --log "$TEST_TMP/requests.jsonl"
write_config "$TEST_TMP/pacer.json" '"lease_ms": 3000, "concurrency": 8'
start_worker "$TEST_TMP/pacer.json"
count_id() { results_ids | grep -cx "$1"; }

# ---- A: delivered again after it finished
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"dup-1\",\"url\":\"$TESTAPI_URL/fast\"}" >/dev/null
wait_until 20 'test "$(count_id dup-1)" -eq 1' || fail "A: dup-1 did not finish"
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"dup-1\",\"url\":\"$TESTAPI_URL/fast\"}" >/dev/null
wait_until 20 'grep -q "skipped unsent\" job=dup-1" "$TEST_TMP/worker.log"' ||
  fail "A: the second delivery of dup-1 was not skipped"
[ "$(count_id dup-1)" -eq 1 ] || fail "A: $(count_id dup-1) results for dup-1"
[ "$(testapi_stat .requests)" -eq 1 ] || fail "A: the upstream saw $(testapi_stat .requests) requests, want 1"
[ -n "$(rcli GET "${PREFIX}done:dup-1")" ] || fail "A: no done-marker"
ttl=$(rcli PTTL "${PREFIX}done:dup-1")
[ "$ttl" -gt 86000000 ] && [ "$ttl" -le 86400000 ] || fail "A: marker TTL $ttl ms, want about 24 h"
echo "A: a finished id delivered again: skipped unsent, 1 result, 1 request"

# ---- B: two entries of one id at once
for i in 1 2; do
  rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"dup-2\",\"url\":\"$TESTAPI_URL/slow?ms=800\"}" >/dev/null
done
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"after-2\",\"url\":\"$TESTAPI_URL/slow?ms=1500\"}" >/dev/null
wait_until 20 'test "$(count_id after-2)" -eq 1' || fail "B: after-2 did not finish"
wait_until 10 'test "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0' || fail "B: entries left pending"
[ "$(count_id dup-2)" -eq 1 ] || fail "B: $(count_id dup-2) results for dup-2"
grep -q 'no second result' "$TEST_TMP/worker.log" || fail "B: the second finish was not refused"
echo "B: two entries of one id at once: 1 result"

# ---- D: `pacer submit` does not queue an id that already finished, so
# --wait only waits for the new ones.
printf '{"id":"dup-1","url":"%s/fast"}\n{"id":"new-1","url":"%s/fast"}\n' \
  "$TESTAPI_URL" "$TESTAPI_URL" >"$TEST_TMP/d.jsonl"
timeout 30 "$PACER" submit --config "$TEST_TMP/pacer.json" --wait "$TEST_TMP/d.jsonl" \
  >"$TEST_TMP/d.out" 2>"$TEST_TMP/d.err" || fail "D: submit --wait failed: $(cat "$TEST_TMP/d.err")"
grep -q 'queued 1 job(s)' "$TEST_TMP/d.err" || fail "D: $(cat "$TEST_TMP/d.err")"
grep -q '1 job(s) not queued: their id already finished' "$TEST_TMP/d.err" ||
  fail "D: the finished id was not reported"
[ "$(count_id dup-1)" -eq 1 ] && [ "$(count_id new-1)" -eq 1 ] || fail "D: results wrong"
echo "D: submit skips an id that already finished and --wait returns"

# ---- C: lease lost mid-request
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"fence-1\",\"method\":\"POST\",\"url\":\"$TESTAPI_URL/v1/adaccounts/act_f/campaigns\",\"headers\":{\"Idempotency-Key\":\"idem-fence-1\"},\"body\":{\"name\":\"f\"}}" >/dev/null
owner() { rcli XPENDING "${PREFIX}jobs" pacer - + 10 | sed -n 2p; }
sid() { rcli XPENDING "${PREFIX}jobs" pacer - + 10 | sed -n 1p; }
wait_until 10 'test -n "$(owner)"' || fail "C: fence-1 was not taken"
a=$(owner)
t_claim=$(now_ms)
rcli XCLAIM "${PREFIX}jobs" pacer intruder 0 "$(sid)" JUSTID >/dev/null
[ "$(owner)" = intruder ] || fail "C: XCLAIM by hand did not move the entry"
# A's request (2.5 s of upstream latency) ends while the intruder owns the
# entry; A's renewals (every 1 s) must not take it back before that.
wait_until 10 'grep -q "fenced off" "$TEST_TMP/worker.log"' ||
  fail "C: worker A's completion was not fenced"
[ "$(count_id fence-1)" -eq 0 ] || fail "C: the stale owner wrote a result"
grep -q 'lease lost: entries taken over' "$TEST_TMP/worker.log" ||
  fail "C: renewal did not notice the lost lease"
# The intruder never finishes: after lease_ms idle the entry is taken over
# again (by A, the only live worker) and runs to one result.
wait_until 30 'test "$(count_id fence-1)" -eq 1' || fail "C: fence-1 never finished"
[ "$(result_of fence-1 state)" = ok ] || fail "C: fence-1 ended $(result_of fence-1 state)"
n=$(jq -r 'select(.idempotency_key == "idem-fence-1") | .idempotency_key' "$TEST_TMP/requests.jsonl" | wc -l)
[ "$n" -eq 2 ] || fail "C: $n requests carried idem-fence-1, want 2 (both attempts)"
wait_until 10 'test "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0' || fail "C: entry left pending"
[ "$(count_id fence-1)" -eq 1 ] || fail "C: $(count_id fence-1) results for fence-1"
echo "C: lease lost to another consumer ($a -> intruder): stale completion fenced, retaken after $(( $(now_ms) - t_claim )) ms, 1 result, both attempts with the same Idempotency-Key"
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "no exit after SIGTERM"
pass "done-marker and fencing: one terminal result per id"
