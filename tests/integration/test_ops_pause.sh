#!/usr/bin/env bash
# `pacer pause` / `pacer resume`: an operator pause of a limit bucket for
# every worker in every process, kept in Redis.
# A: pause acct:a1: with two worker processes, a1's jobs send nothing
#    while a2's run; `pacer stats --json` and /api/state show the cause
#    "paused by an operator".
# B: the pause survives restarting both workers.
# C: resume: a1's waiting jobs run, each once.
# D: --for 1s ends by itself; --all pauses every bucket and resume --all
#    ends it; an unknown bucket changes nothing and exits 2.
. "$(dirname "$0")/lib.sh"

start_testapi --log "$TEST_TMP/req.jsonl"
write_config "$TEST_TMP/pacer.json" '"metrics_listen": "127.0.0.1:0",
  "limits": [{"name": "acct", "key": "limit_key", "rate": "50/s"}]'
ctl() { local s=$1; shift; "$PACER" "$s" --config "$TEST_TMP/pacer.json" "$@"; }
res_state() { "$PACER" result --json --config "$TEST_TMP/pacer.json" "$1" 2>/dev/null | jq -r .state; }
sent() { grep -c "\"path\":\"/fast\"" "$TEST_TMP/req.jsonl"; }
all_ok() { local i; for i in 1 2 3 4 5; do test "$(res_state $1-$i)" = ok || return 1; done; }
job() { rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"$1\",\"url\":\"$TESTAPI_URL/fast\",\"limit_key\":\"$2\"}" >/dev/null; }
start_worker "$TEST_TMP/pacer.json" w1; W1=$WORKER_PID
start_worker "$TEST_TMP/pacer.json" w2; W2=$WORKER_PID
job warm-1 a1; job warm-2 a2
wait_until 20 'test "$(res_state warm-1)" = ok && test "$(res_state warm-2)" = ok' || fail "warm-up jobs"

# ---- A
ctl pause acct:a1 >"$TEST_TMP/a.out" || fail "A: pause exit $?"
grep -q '^paused acct:a1 until `pacer resume`' "$TEST_TMP/a.out" || fail "A: $(cat "$TEST_TMP/a.out")"
base=$(sent)
for i in 1 2 3 4 5; do job a1-$i a1; job a2-$i a2; done
wait_until 20 'all_ok a2' || fail "A: a2 jobs did not run"
# a1 must still send nothing: checked over 2 s after a2 finished
wait_until 2 'test "$(sent)" -gt $((base + 5))' && fail "A: a paused bucket sent $(( $(sent) - base - 5 )) requests"
[ "$(res_state a1-1)" = null ] || [ -z "$(res_state a1-1)" ] || fail "A: a1-1 has a result"
ctl stats --json >"$TEST_TMP/a.json" || fail "A: stats"
jq -e '.. | objects | select(.bucket? == "acct:a1") | select(.pause_reason == "paused by an operator")' \
  "$TEST_TMP/a.json" >/dev/null || fail "A: stats: $(jq -c '.. | objects | select(.bucket? == "acct:a1")' "$TEST_TMP/a.json")"
# The worker that holds a1's jobs has its lane (each shows its own lanes).
mport() { sed -n 's/.*metrics_port=\([1-9][0-9]*\).*/\1/p' "$TEST_TMP/$1.log" | head -1; }
shows_cause() {
  local p
  for p in $(mport w1) $(mport w2); do
    curl -fsS "http://127.0.0.1:$p/api/state" | grep -q "paused by an operator" && return 0
  done
  return 1
}
wait_until 5 shows_cause || fail "A: /api/state does not show the cause"
echo "A: acct:a1 paused in both processes (a2 ran); cause shown in stats and /api/state"

# ---- B: restart both workers
kill -TERM "$W1" "$W2"
wait_until 20 '! alive "$W1" && ! alive "$W2"' || fail "B: workers did not stop"
start_worker "$TEST_TMP/pacer.json" w3; W3=$WORKER_PID
wait_until 10 'grep -q "msg=\"started\"" "$TEST_TMP/w3.log"' || fail "B: w3 did not start"
wait_until 2 'test "$(sent)" -gt $((base + 5))' && fail "B: after a restart the paused bucket sent"
echo "B: still paused after the workers restarted"

# ---- C
ctl resume acct:a1 >"$TEST_TMP/c.out" || fail "C: resume exit $?"
grep -qx 'resumed acct:a1' "$TEST_TMP/c.out" || fail "C: $(cat "$TEST_TMP/c.out")"
wait_until 20 'all_ok a1' || fail "C: a1 jobs did not run after resume"
[ "$(sent)" -eq $((base + 10)) ] || fail "C: $(( $(sent) - base )) requests, want 10"
ctl resume acct:a1 >/dev/null 2>"$TEST_TMP/c.err"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'was not paused' "$TEST_TMP/c.err" || fail "C: second resume exit $rc"
echo "C: resumed: the 5 waiting jobs ran once each"

# ---- D
t0=$(now_ms)
ctl pause acct:a2 --for 1s >/dev/null || fail "D: pause --for"
job d-1 a2
wait_until 10 'test "$(res_state d-1)" = ok' || fail "D: d-1 did not run after the 1 s pause"
t1=$("$PACER" result --json --config "$TEST_TMP/pacer.json" d-1 | jq .finished_unix_ms)
[ $((t1 - t0)) -ge 900 ] || fail "D: d-1 finished $((t1 - t0)) ms after a 1 s pause"
ctl pause --all >"$TEST_TMP/d.out" || fail "D: pause --all"
[ "$(grep -c '^paused acct:a[12] ' "$TEST_TMP/d.out")" -eq 2 ] || fail "D: $(cat "$TEST_TMP/d.out")"
job d-2 a1
wait_until 2 'test "$(res_state d-2)" = ok' && fail "D: d-2 ran under pause --all"
ctl resume --all >/dev/null || fail "D: resume --all"
wait_until 10 'test "$(res_state d-2)" = ok' || fail "D: d-2 did not run after resume --all"
ctl pause nolimit:x >/dev/null 2>"$TEST_TMP/d.err"; rc=$?
[ "$rc" -eq 2 ] && grep -q "nolimit:x: no such limit bucket in Redis (known: " "$TEST_TMP/d.err" ||
  fail "D: unknown bucket exit $rc: $(cat "$TEST_TMP/d.err")"
ctl pause acct:a1 --for 5x >/dev/null 2>&1; [ $? -eq 2 ] || fail "D: bad --for"
echo "D: --for ends by itself ($((t1 - t0)) ms); --all and resume --all; bad input exits 2"

kill -TERM "$W3"
wait_until 20 '! alive "$W3"' || fail "worker did not stop"
pass "pacer pause / resume"
