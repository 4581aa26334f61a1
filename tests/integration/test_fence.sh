#!/usr/bin/env bash
# Exactly one terminal record per job id, also when a lease lapses while
# the job still runs.
# A: a job id that already finished is a no-op when it is delivered again
#    (a client or `pacer submit` retry XADDs it twice): skipped unsent, no
#    second result (the done-marker, docs/REDIS.md).
# B: two entries of one id at the same time: the second is folded into
#    the first at intake (its claim, docs/REDIS.md "One job id at a time"),
#    one result is written.
# D: `pacer submit` does not queue an id that already finished.
# E: a rejected or failed id can be sent again (only ok sets the marker).
# F: a POST without Idempotency-Key taken over from a dead worker ends
#    outcome_unknown (taken_over), never sent twice.
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
# The marker: field dup-1 of the 24 h bucket hash (store/keys.h), which
# lives 24 h past the bucket's end (24 h to 48 h from the finish).
bk=$(( $(now_ms) / 86400000 ))
[ "$(rcli HGET "${PREFIX}donemarks:$bk" dup-1)" = 1 ] ||
  bk=$(( bk - 1 )) # the finish fell in the previous bucket
[ "$(rcli HGET "${PREFIX}donemarks:$bk" dup-1)" = 1 ] || fail "A: no done-marker"
ttl=$(rcli PTTL "${PREFIX}donemarks:$bk")
[ "$ttl" -gt 86000000 ] && [ "$ttl" -le 172800000 ] ||
  fail "A: marker bucket TTL $ttl ms, want 24 h to 48 h"
echo "A: a finished id delivered again: skipped unsent, 1 result, 1 request"

# ---- B: two entries of one id at once
for i in 1 2; do
  rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"dup-2\",\"url\":\"$TESTAPI_URL/slow?ms=800\"}" >/dev/null
done
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"after-2\",\"url\":\"$TESTAPI_URL/slow?ms=1500\"}" >/dev/null
wait_until 20 'test "$(count_id after-2)" -eq 1' || fail "B: after-2 did not finish"
wait_until 10 'test "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0' || fail "B: entries left pending"
[ "$(count_id dup-2)" -eq 1 ] || fail "B: $(count_id dup-2) results for dup-2"
grep -q 'folded into it unsent" job=dup-2' "$TEST_TMP/worker.log" ||
  fail "B: the second entry was not folded into the first"
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

# ---- G: markers in older buckets and of older versions. done_ttl_ms is
# 24 h, so a marker of the previous 24 h bucket (n-1) and an older
# version's string done:<id> still block their ids; one in bucket n-2
# (more than 24 h past its end) no longer does. Both checks: `pacer
# submit` and intake.
bk=$(( $(now_ms) / 86400000 ))
rcli HSET "${PREFIX}donemarks:$(( bk - 1 ))" old-2 1 >/dev/null
rcli HSET "${PREFIX}donemarks:$(( bk - 2 ))" old-3 1 >/dev/null
rcli SET "${PREFIX}done:old-1" 1-0 PX 60000 >/dev/null
for i in 1 2 3; do
  printf '{"id":"old-%d","url":"%s/fast"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/g.jsonl"
timeout 30 "$PACER" submit --config "$TEST_TMP/pacer.json" --wait "$TEST_TMP/g.jsonl" \
  >"$TEST_TMP/g.out" 2>"$TEST_TMP/g.err" || fail "G: submit --wait failed: $(cat "$TEST_TMP/g.err")"
grep -q '2 job(s) not queued: their id already finished' "$TEST_TMP/g.err" ||
  fail "G: submit: $(cat "$TEST_TMP/g.err")"
[ "$(count_id old-3)" -eq 1 ] || fail "G: old-3 (marker past done_ttl_ms) did not run"
for i in 1 2; do
  rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"old-$i\",\"url\":\"$TESTAPI_URL/fast\"}" >/dev/null
  wait_until 20 "grep -q 'skipped unsent\" job=old-$i' \"\$TEST_TMP/worker.log\"" ||
    fail "G: intake ran old-$i despite its marker"
  [ "$(count_id old-$i)" -eq 0 ] || fail "G: old-$i has a result"
done
echo "G: markers of the previous bucket and of older versions count, older ones do not"

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

# ---- E: only a job that ended ok blocks its id: a rejected job and a
# failed one can be corrected and sent again under the same id.
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"fixme\",\"url\":\"htp://127.0.0.1:$TESTAPI_PORT/fast\"}" >/dev/null
wait_until 20 'test "$(count_id fixme)" -eq 1' || fail "E: the bad job got no result"
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"fixme\",\"url\":\"$TESTAPI_URL/fast\"}" >/dev/null
wait_until 20 'test "$(count_id fixme)" -eq 2' || fail "E: the corrected job did not run"
[ "$(stream_field results state | tail -1)" = ok ] || fail "E: the corrected job did not end ok"
printf '{"id":"gone-1","url":"%s/status/404"}\n' "$TESTAPI_URL" >"$TEST_TMP/e.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" --wait "$TEST_TMP/e.jsonl" >/dev/null 2>&1
[ $? -ne 0 ] || fail "E: a failed job reported success"
timeout 30 "$PACER" submit --config "$TEST_TMP/pacer.json" --wait "$TEST_TMP/e.jsonl" \
  >/dev/null 2>"$TEST_TMP/e2.err"
rc=$?
[ "$rc" -ne 0 ] || fail "E: the failed job was skipped as if it had finished ok"
grep -q 'queued 1 job' "$TEST_TMP/e2.err" || fail "E: the failed id was not queued again"
[ "$(count_id gone-1)" -eq 2 ] || fail "E: $(count_id gone-1) results for gone-1, want 2"
echo "E: a rejected and a failed id were sent again; an ok id would not be"

# ---- F: a POST without Idempotency-Key held by a worker that dies may
# have been sent: the worker that takes it over ends it outcome_unknown
# (taken_over) instead of sending it a second time.
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"unsafe-1\",\"method\":\"POST\",\"url\":\"$TESTAPI_URL/v1/adaccounts/act_u/campaigns\",\"body\":{\"name\":\"u\"}}" >/dev/null
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 1' || fail "F: the POST never started"
kill -9 "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null
start_worker "$TEST_TMP/pacer.json" f2
wait_until 30 'test "$(count_id unsafe-1)" -eq 1' || fail "F: unsafe-1 has no result"
[ "$(result_of unsafe-1 state)" = outcome_unknown ] && [ "$(result_of unsafe-1 reason)" = taken_over ] ||
  fail "F: unsafe-1 ended $(result_of unsafe-1 state)/$(result_of unsafe-1 reason)"
wait_until 10 'test "$(testapi_stat .in_flight)" -eq 0' || fail "F: upstream still busy"
n=$(jq -r 'select(.path == "/v1/adaccounts/act_u/campaigns") | .path' "$TEST_TMP/requests.jsonl" | wc -l)
[ "$n" -eq 1 ] || fail "F: the POST reached the upstream $n times, want 1"
echo "F: a POST without a key taken over after a SIGKILL: outcome_unknown (taken_over), sent once"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "no exit after SIGTERM"
pass "done-marker and fencing: one terminal result per id"
