#!/usr/bin/env bash
# Lane names from secret headers are keyed (docs/LIMITS.md): a limit keyed
# by header:Authorization names its buckets "<name>:#" + BLAKE2b-64 of the
# value under the deployment's key <prefix>lanekey, made once by the first
# worker and shared by every process. The unkeyed FNV-1a name anyone could
# compute from a guessed token ("tok:#0fcefa04ec83fc9c" for "Bearer abc")
# appears nowhere.
#  1. two workers: one bucket for one token (they agree on the key), the
#     key is 64 hex digits, the unkeyed name is in no Redis key, no result
#     and no stats output;
#  2. a restarted worker keeps the key (made once).
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 16, "limits": [
  {"name": "tok", "key": "header:Authorization", "rate": "200/s"}]'
for i in $(seq 1 20); do
  printf '{"id":"L-%02d","url":"%s/v1/campaigns/%d/stats?account=l","headers":{"Authorization":"Bearer abc"}}\n' \
    "$i" "$TESTAPI_URL" "$i"
done >"$TEST_TMP/l.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/l.jsonl" 2>/dev/null || fail "submit"
start_worker "$TEST_TMP/pacer.json" w1; p1=$WORKER_PID
start_worker "$TEST_TMP/pacer.json" w2; p2=$WORKER_PID
wait_until 30 'test "$(results_count)" -ge 20' || fail "1: $(results_count)/20"
[ "$(stream_field results state | grep -cx ok)" -eq 20 ] || fail "1: not all ok"
key=$(rcli GET "${PREFIX}lanekey")
[[ "$key" =~ ^[0-9a-f]{64}$ ]] || fail "1: lanekey is '$key'"
rcli --scan --pattern "${PREFIX}limit:tok:*" | sort -u >"$TEST_TMP/buckets.txt"
[ "$(wc -l <"$TEST_TMP/buckets.txt")" -eq 1 ] || fail "1: buckets: $(cat "$TEST_TMP/buckets.txt")"
grep -Eq ':tok:#[0-9a-f]{16}$' "$TEST_TMP/buckets.txt" || fail "1: bucket $(cat "$TEST_TMP/buckets.txt")"
"$PACER" stats --config "$TEST_TMP/pacer.json" --json >"$TEST_TMP/stats.json" 2>&1 || fail "1: stats"
for f in "$TEST_TMP/buckets.txt" "$TEST_TMP/stats.json" "$TEST_TMP"/w*.log; do
  if grep -q 0fcefa04ec83fc9c "$f"; then fail "1: the unkeyed name in $f"; fi
done
if rcli --scan --pattern "${PREFIX}*" | grep -q 0fcefa04ec83fc9c; then fail "1: the unkeyed name in Redis"; fi
echo "1: 2 workers, 20 jobs, one bucket $(sed 's/.*limit://' "$TEST_TMP/buckets.txt"), no unkeyed name"
kill -TERM "$p1" "$p2"
wait_until 30 '! alive '"$p1"' && ! alive '"$p2" || fail "workers did not stop"

start_worker "$TEST_TMP/pacer.json" w3
wait_until 10 'grep -q "msg=\"connected\" conn=intake" "$TEST_TMP/w3.log"' || fail "2: w3 did not connect"
[ "$(rcli GET "${PREFIX}lanekey")" = "$key" ] || fail "2: the key changed on restart"
echo "2: a restarted worker kept the key"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "w3 did not stop"
pass "lane names from secret headers are keyed per deployment"
