#!/usr/bin/env bash
# Intake's check across lost connections (store/queue_drop.c,
# docs/REDIS.md "Intake's check: one call per round"): 600 unkeyed POSTs,
# each id XADDed twice (to jobs and jobs:low), answered in 200-600 ms,
# while the worker's Redis connections are killed every 0-40 ms for 8 s.
# A check whose reply was lost may have dropped or folded its entries
# already; it is sent again once reconnected (an entry no longer pending
# is left alone), and a check asked for while the connection is down
# waits for it. Running
# those entries instead sent a job id twice (1-4 ids in each of 3 runs).
# Asserts: no POST path reaches the upstream twice, and every id has a
# result.
. "$(dirname "$0")/lib.sh"

N=600
REDIS_SOCK="$TEST_TMP/redis.sock"
start_private_redis
start_testapi --latency-ms 200-600 --log "$TEST_TMP/req.jsonl"
write_config "$TEST_TMP/pacer.json" '"concurrency": 32, "prefetch_extra": 64,
  "lease_ms": 3000'
for i in $(seq 1 "$N"); do
  j="{\"id\":\"dr-$i\",\"method\":\"POST\",\"url\":\"$TESTAPI_URL/v1/adaccounts/dr$i/campaigns\",\"body\":{\"name\":\"c$i\"}}"
  rcli XADD "${PREFIX}jobs" '*' job "$j" >/dev/null
  rcli XADD "${PREFIX}jobs:low" '*' job "$j" >/dev/null
done
start_worker "$TEST_TMP/pacer.json"
wait_until 20 'grep -q "msg=.connected. conn=cmd" "$TEST_TMP/worker.log"' ||
  fail "the worker did not connect"
# load, not a wait: kill the worker's connections at random short gaps
end=$(( $(now_ms) + 8000 ))
kills=0
while [ "$(now_ms)" -lt "$end" ]; do
  rcli CLIENT KILL TYPE normal SKIPME yes >/dev/null 2>&1 && kills=$((kills + 1))
  sleep "0.0$((RANDOM % 4))$((RANDOM % 10))"
done
wait_until 180 'test "$(results_ids | sort -u | wc -l)" -ge '"$N" ||
  fail "only $(results_ids | sort -u | wc -l) of $N ids have a result"
wait_until 30 'test "$(rcli XLEN "${PREFIX}jobs")" -eq 0 && test "$(rcli XLEN "${PREFIX}jobs:low")" -eq 0' ||
  fail "entries left: $(rcli XLEN "${PREFIX}jobs") + $(rcli XLEN "${PREFIX}jobs:low")"
# Every id has a result; a second one for an id can still come under
# this storm (1 in 600 in some runs: an outcome_unknown next to its ok),
# which the closing figure reports but does not fail on.
extra=$(( $(results_count) - N ))
twice=$(jq -r 'select(.method == "POST") | .path' "$TEST_TMP/req.jsonl" | sort | uniq -d | wc -l)
sent=$(jq -r 'select(.method == "POST") | .path' "$TEST_TMP/req.jsonl" | wc -l)
[ "$twice" -eq 0 ] || fail "$twice job ids POSTed twice ($sent POSTs for $N ids, $kills kills)"
lost=$(grep -c 'done-check reply lost' "$TEST_TMP/worker.log")
echo "$kills kills: $N ids, $sent POSTs, none twice, a result each, $extra second results ($lost lost check replies sent again)"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive "$WORKER_PID"' || fail "worker did not stop"
pass "intake check across lost connections"
