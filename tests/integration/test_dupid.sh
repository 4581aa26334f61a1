#!/usr/bin/env bash
# One job id, one request at a time (docs/REDIS.md "One job id at a
# time"): a client that retries its XADD makes two entries of one id; with
# 3 worker processes the second entry is folded into the first (acked
# unsent, no result of its own) while the first is queued or running.
# A: 10 unkeyed POSTs XADDed twice back to back.
# B: 10 unkeyed POSTs XADDed again while the first copies are in flight
#    against the slow route.
#    Both: the upstream sees each POST once, each id has one result, no
#    claim is left behind.
# C: a stale claim (its entry no longer pending, or naming no stream) does
#    not swallow a job: the job runs and takes the claim over.
# D: a copy that arrives while the first waits in the delayed set for its
#    retry (Retry-After: 2 on a 500) is folded at once, not run.
. "$(dirname "$0")/lib.sh"

start_testapi --log "$TEST_TMP/requests.jsonl"
write_config "$TEST_TMP/pacer.json" '"lease_ms": 3000, "concurrency": 4'
for w in w1 w2 w3; do start_worker "$TEST_TMP/pacer.json" "$w"; done
count_id() { results_ids | grep -cx "$1"; }
job() { printf '{"id":"%s","method":"POST","url":"%s/slow?ms=%s","body":{"n":1}}' "$1" "$TESTAPI_URL" "$2"; }
posts() { jq -r 'select(.method == "POST" and .path == "/slow") | .path' "$TEST_TMP/requests.jsonl" | wc -l; }
folded() { cat "$TEST_TMP"/w[123].log | grep -c 'folded into it unsent'; }
skipped() { cat "$TEST_TMP"/w[123].log | grep -c 'skipped unsent'; }
settled() {
  test "$(rcli XLEN "${PREFIX}jobs")" -eq 0 &&
    test "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0
}

# ---- A: back to back
for i in $(seq 1 10); do
  j=$(job "dupa-$i" 300)
  rcli XADD "${PREFIX}jobs" '*' job "$j" >/dev/null
  rcli XADD "${PREFIX}jobs" '*' job "$j" >/dev/null
done
wait_until 40 'test "$(results_count)" -ge 10 && settled' || fail "A: jobs did not finish"

# ---- B: the second copy while the first is in flight
for i in $(seq 1 10); do
  rcli XADD "${PREFIX}jobs" '*' job "$(job "dupb-$i" 2000)" >/dev/null
done
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 3' || fail "B: the first copies never started"
for i in $(seq 1 10); do
  rcli XADD "${PREFIX}jobs" '*' job "$(job "dupb-$i" 2000)" >/dev/null
done
wait_until 60 'test "$(results_count)" -ge 20 && settled' || fail "B: jobs did not finish"

for i in $(seq 1 10); do
  for id in "dupa-$i" "dupb-$i"; do
    [ "$(count_id "$id")" -eq 1 ] || fail "$(count_id "$id") results for $id, want 1"
    [ "$(result_of "$id" state)" = ok ] || fail "$id ended $(result_of "$id" state)"
  done
done
[ "$(results_count)" -eq 20 ] || fail "$(results_count) results, want 20"
[ "$(posts)" -eq 20 ] || fail "the upstream saw $(posts) POSTs, want 20 (one per id)"
[ $(( $(folded) + $(skipped) )) -eq 20 ] ||
  fail "$(folded) folded + $(skipped) skipped duplicate entries, want 20"
[ "$(folded)" -ge 10 ] || fail "only $(folded) duplicates folded, want >= 10 (B's were in flight)"
[ -z "$(rcli --scan --pattern "${PREFIX}claim:*")" ] || fail "claims left: $(rcli --scan --pattern "${PREFIX}claim:*")"
echo "A+B: 3 workers, 20 unkeyed POSTs XADDed twice: 20 requests, 20 results, $(folded) folded, $(skipped) skipped after the first finished"

# ---- C: stale claims
rcli SET "${PREFIX}claim:stale-1" "1-1 ${PREFIX}jobs" >/dev/null
rcli SET "${PREFIX}claim:stale-2" "1-1 elsewhere" >/dev/null
rcli XADD "${PREFIX}jobs" '*' job "$(job stale-1 10)" >/dev/null
rcli XADD "${PREFIX}jobs" '*' job "$(job stale-2 10)" >/dev/null
wait_until 20 'test "$(count_id stale-1)" -eq 1 && test "$(count_id stale-2)" -eq 1' ||
  fail "C: a stale claim swallowed a job"
[ "$(result_of stale-1 state)" = ok ] && [ "$(result_of stale-2 state)" = ok ] || fail "C: stale-claimed jobs did not end ok"
[ "$(posts)" -eq 22 ] || fail "C: the upstream saw $(posts) POSTs, want 22"
wait_until 10 '[ -z "$(rcli --scan --pattern "${PREFIX}claim:*")" ]' || fail "C: the taken-over claims were not deleted at finish"
echo "C: stale claims taken over, the jobs ran once"

# ---- D: the first copy waits in the delayed set
dj='{"id":"dlay-1","url":"'"$TESTAPI_URL"'/status/500?retry_after=2","max_attempts":2}'
rcli XADD "${PREFIX}jobs" '*' job "$dj" >/dev/null
s500() { jq -r 'select(.path == "/status/500") | .path' "$TEST_TMP/requests.jsonl" | wc -l; }
wait_until 20 'test "$(rcli ZCARD "${PREFIX}delayed")" -eq 1' || fail "D: the retry never reached the delayed set"
[ "$(s500)" -eq 1 ] || fail "D: $(s500) requests before the copy, want 1"
case "$(rcli GET "${PREFIX}claim:dlay-1")" in z\ *) ;; *) fail "D: the claim did not move with the job: $(rcli GET "${PREFIX}claim:dlay-1")";; esac
rcli XADD "${PREFIX}jobs" '*' job "$dj" >/dev/null
wait_until 10 'cat "$TEST_TMP"/w[123].log | grep -q "folded into it unsent\" job=dlay-1"' || fail "D: the copy was not folded: $(grep -h dlay-1 "$TEST_TMP"/w[123].log | tail -6) claim=$(rcli GET "${PREFIX}claim:dlay-1")"
[ "$(s500)" -eq 1 ] || fail "D: the copy ran ($(s500) requests) instead of being folded into the delayed job"
wait_until 20 'test "$(count_id dlay-1)" -eq 1 && settled' || fail "D: dlay-1 did not finish"
[ "$(s500)" -eq 2 ] || fail "D: $(s500) requests, want 2 (the job's two attempts)"
[ "$(count_id dlay-1)" -eq 1 ] || fail "D: $(count_id dlay-1) results"
echo "D: a copy arriving while the job waits for its retry is folded; 2 attempts, 1 result"

for p in "${PIDS[@]:1}"; do kill -TERM "$p"; done
for p in "${PIDS[@]:1}"; do wait_until 20 '! alive "$p"' || fail "no exit after SIGTERM"; done
pass "one job id, one request at a time"
