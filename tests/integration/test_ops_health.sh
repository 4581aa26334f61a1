#!/usr/bin/env bash
# /healthz, /readyz and SIGHUP reload of a running worker.
# A: /healthz and /readyz answer without the metrics token (probes carry
#    none); everything else still needs it.
# B: SIGHUP with an invalid file: refused with a log line, the worker keeps
#    running on the old config and keeps working.
# C: SIGHUP with a faster rate and log_level debug while 30 jobs wait at
#    2/s: applied and logged; the jobs finish at the new rate, each with
#    one result and one request (nothing dropped or run twice); a change
#    that needs a restart (workers) is logged as such.
# D: while draining after SIGTERM, /readyz is 503.
. "$(dirname "$0")/lib.sh"

start_testapi --log "$TEST_TMP/req.jsonl"
TOKEN=tok-health-0123456789abcdef
printf '%s\n' "$TOKEN" >"$TEST_TMP/m.token"; chmod 600 "$TEST_TMP/m.token"
cfg() { # RATE LOG_LEVEL WORKERS
  write_config "$TEST_TMP/pacer.json" "\"metrics_listen\": \"127.0.0.1:0\",
  \"metrics_token_file\": \"$TEST_TMP/m.token\", \"defer_after_ms\": 60000,
  \"log_level\": \"$2\",
  \"limits\": [{\"name\": \"acct\", \"key\": \"global\", \"rate\": \"$1\"}]"
  sed -i "s/\"workers\": 2/\"workers\": $3/" "$TEST_TMP/pacer.json"
}
cfg 2/s info 2
"$PACER" worker --config "$TEST_TMP/pacer.json" >"$TEST_TMP/worker.out" 2>"$TEST_TMP/worker.log" &
WORKER_PID=$!; PIDS+=($WORKER_PID)
wait_until 15 'grep -q "metrics_port=[1-9]" "$TEST_TMP/worker.log"' || fail "no metrics port"
MURL="http://127.0.0.1:$(sed -n 's/.*metrics_port=\([1-9][0-9]*\).*/\1/p' "$TEST_TMP/worker.log" | head -1)"
code() { curl -s -o "$TEST_TMP/body" -w '%{http_code}' "$MURL$1"; }

# ---- A
[ "$(code /healthz)" = 200 ] && grep -qx ok "$TEST_TMP/body" || fail "A: /healthz $(code /healthz)"
wait_until 10 'test "$(code /readyz)" = 200' || fail "A: /readyz $(code /readyz): $(cat "$TEST_TMP/body")"
grep -qx ready "$TEST_TMP/body" || fail "A: /readyz body $(cat "$TEST_TMP/body")"
[ "$(code /metrics)" = 401 ] || fail "A: /metrics without the token answered $(code /metrics)"
echo "A: /healthz 200 ok, /readyz 200 ready, both without the token; /metrics still 401"

# ---- B: an invalid file
cp "$TEST_TMP/pacer.json" "$TEST_TMP/good.json"
printf '{"limits": [{"name": "acct", "rate": "2/fortnight"}]}\n' >"$TEST_TMP/pacer.json"
kill -HUP "$WORKER_PID"
wait_until 10 'grep -q "config reload refused: keeping the running config" "$TEST_TMP/worker.log"' ||
  fail "B: no refusal logged"
grep 'config reload refused' "$TEST_TMP/worker.log" | grep -q 'fortnight' || fail "B: the refusal does not say why"
alive "$WORKER_PID" || fail "B: SIGHUP killed the worker"
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"b-1\",\"url\":\"$TESTAPI_URL/fast\"}" >/dev/null
wait_until 10 'test "$(result_of b-1 state)" = ok' || fail "B: the worker stopped working after a refused reload"
[ "$(code /readyz)" = 200 ] || fail "B: not ready after a refused reload"
echo "B: an invalid file is refused with its reason; the worker runs on"

# ---- C: 30 jobs at 2/s (15 s), then 200/s
cp "$TEST_TMP/good.json" "$TEST_TMP/pacer.json"
for i in $(seq 1 30); do
  printf 'XADD %sjobs * job '\''{"id":"c-%d","url":"%s/fast"}'\''\n' "$PREFIX" "$i" "$TESTAPI_URL"
done | rcli >/dev/null
wait_until 10 'test "$(results_ids | grep -c "^c-")" -ge 2' || fail "C: jobs did not start"
t0=$(now_ms)
cfg 200/s debug 3
sed -i 's/"defer_after_ms": 60000/"defer_after_ms": 59000/' "$TEST_TMP/pacer.json"
kill -HUP "$WORKER_PID"
wait_until 10 'grep -q "config reloaded" "$TEST_TMP/worker.log"' || fail "C: no reload logged"
line=$(grep 'config reloaded' "$TEST_TMP/worker.log" | tail -1)
echo "$line" | grep -q 'limits.acct.rate 2/1s -> 200/1s' || fail "C: $line"
echo "$line" | grep -q 'log_level info -> debug' || fail "C: $line"
echo "$line" | grep -q 'defer_after_ms 60000 -> 59000' || fail "C: $line"
echo "$line" | grep -q 'needs_restart="workers"' || fail "C: $line"
wait_until 10 'test "$(results_ids | grep -c "^c-")" -eq 30' || fail "C: $(results_ids | grep -c '^c-') of 30 done 10 s after the reload"
took=$(( $(now_ms) - t0 ))
[ "$(grep -c '"path":"/fast"' "$TEST_TMP/req.jsonl")" -eq 31 ] || fail "C: $(grep -c /fast "$TEST_TMP/req.jsonl") requests for 31 jobs"
[ "$(results_ids | sort | uniq -d | wc -l)" -eq 0 ] || fail "C: an id has two results"
grep -q 'level=debug' "$TEST_TMP/worker.log" || fail "C: log_level debug not applied"
alive "$WORKER_PID" || fail "C: the worker died"
echo "C: rate 2/s -> 200/s applied: the last 28 jobs took $took ms (15 s at the old rate); 31 requests, one result each"

# ---- D: draining
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"d-1\",\"url\":\"$TESTAPI_URL/slow?ms=3000\"}" >/dev/null
sleep_until_inflight() { curl -fsS -H "Authorization: Bearer $TOKEN" "$MURL/api/state" | jq -e '.. | objects | select(.in_flight? == 1)' >/dev/null; }
wait_until 10 sleep_until_inflight || fail "D: d-1 not in flight"
kill -TERM "$WORKER_PID"
wait_until 3 'test "$(code /readyz)" = 503' || fail "D: /readyz $(code /readyz) while draining"
grep -q 'not ready: draining' "$TEST_TMP/body" || fail "D: $(cat "$TEST_TMP/body")"
wait_until 20 '! alive "$WORKER_PID"' || fail "D: worker did not stop"
[ "$(result_of d-1 state)" = ok ] || fail "D: the in-flight job was dropped"
echo "D: /readyz 503 while draining; the in-flight job finished"
pass "healthz, readyz and SIGHUP reload"
