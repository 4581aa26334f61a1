#!/usr/bin/env bash
# `pacer pause` / `pacer resume`: an operator pause of a limit bucket for
# every worker in every process, kept in Redis.
# A: pause acct:a1: with two worker processes, a1's jobs send nothing
#    while a2's run; `pacer stats --json` and /api/state show the cause
#    "paused by an operator".
# B: the pause survives restarting both workers.
# C: resume: a1's waiting jobs run, each once.
# D: --for 1s ends by itself; an unknown bucket changes nothing and exits
#    2.
# E: pause --all holds every bucket, also one that had no state before the
#    pause (acct:n1, a new limit_key value): its 5 jobs reach the worker
#    but send 0 requests, also across a worker restart; `resume acct:a1`
#    does not lift it (and says so); stats, /api/state, /metrics and
#    `pacer jobs` show the cause; resume --all: all 6 run, one result
#    each, 6 requests.
# F: pause --all --for 2s ends by itself: 3 jobs of another new bucket
#    finish no sooner than its end.
# G: a job whose deadline_ms passes while it is held by a pause is not
#    sent at resume: it ends deadline_exceeded, 0 requests.
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
ctl pause nolimit:x >/dev/null 2>"$TEST_TMP/d.err"; rc=$?
[ "$rc" -eq 2 ] && grep -q "nolimit:x: no such limit bucket in Redis (known: " "$TEST_TMP/d.err" ||
  fail "D: unknown bucket exit $rc: $(cat "$TEST_TMP/d.err")"
ctl pause acct:a1 --for 5x >/dev/null 2>&1; [ $? -eq 2 ] || fail "D: bad --for"
echo "D: --for ends by itself ($((t1 - t0)) ms); bad input exits 2"

# ---- E: pause --all, a bucket first used after it
ones() { local id; for id in "$@"; do [ "$(results_ids | grep -cx "$id")" -eq 1 ] || return 1; done; }
# the worker's own view of a lane: why it waits (its /api/state)
lane_why() { curl -fsS "http://127.0.0.1:$(mport "$1")/api/state" | jq -r --arg l "$2" '.lanes[] | select(.lane == $l) | .why'; }
[ "$(rcli EXISTS "${PREFIX}limit:acct:n1")" -eq 0 ] || fail "E: acct:n1 has state before the pause"
ctl pause --all >"$TEST_TMP/e.out" || fail "E: pause --all exit $?"
grep -qx 'paused all limit buckets, also those first used later, until `pacer resume --all`' "$TEST_TMP/e.out" ||
  fail "E: $(cat "$TEST_TMP/e.out")"
base=$(sent)
for i in 1 2 3 4 5; do job e-$i n1; done
job e-a1 a1
# The worker holds the jobs and says why (a wait it was told, not one
# that merely has not happened yet) ...
wait_until 15 'lane_why w3 acct:n1 | grep -q "paused by an operator on all buckets (pause --all), until resumed"' ||
  fail "E: w3 does not hold acct:n1 as paused ($(( $(sent) - base )) requests sent): $(lane_why w3 acct:n1)"
# ... and sends nothing: checked over 2 s after that
wait_until 2 'test "$(sent)" -gt "$base"' && fail "E: $(( $(sent) - base )) requests under pause --all"
ctl stats --json >"$TEST_TMP/e.json" || fail "E: stats"
jq -e '.all_buckets.pause_reason == "paused by an operator" and .all_buckets.paused_ms > 1e11' "$TEST_TMP/e.json" >/dev/null ||
  fail "E: stats all_buckets: $(jq -c .all_buckets "$TEST_TMP/e.json")"
jq -e '.limits[] | select(.bucket == "acct:n1") | select(.pause_reason == "paused by an operator")' "$TEST_TMP/e.json" >/dev/null ||
  fail "E: stats acct:n1: $(jq -c '.limits[] | select(.bucket == "acct:n1")' "$TEST_TMP/e.json")"
ctl stats | grep -qx 'all limit buckets: paused by an operator until `pacer resume --all`' || fail "E: stats text: $(ctl stats)"
curl -fsS "http://127.0.0.1:$(mport w3)/metrics" | grep -qx 'pacer_paused_all 1' || fail "E: /metrics has no pacer_paused_all 1"
ctl jobs --lane acct:n1 | grep -q 'bucket acct:n1 paused by an operator (all buckets) (until resumed)$' ||
  fail "E: jobs: $(ctl jobs --lane acct:n1)"
# resume of one bucket leaves the pause of all
ctl resume acct:a1 >/dev/null 2>"$TEST_TMP/e.err"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'all limit buckets stay paused by an operator until `pacer resume --all`' "$TEST_TMP/e.err" ||
  fail "E: resume acct:a1 exit $rc: $(cat "$TEST_TMP/e.err")"
# a worker restarted under the pause stays paused
kill -TERM "$W3"
wait_until 20 '! alive "$W3"' || fail "E: w3 did not stop"
start_worker "$TEST_TMP/pacer.json" w4; W4=$WORKER_PID
wait_until 15 'lane_why w4 acct:n1 | grep -q "paused by an operator on all buckets"' ||
  fail "E: restarted w4 does not hold acct:n1 as paused: $(lane_why w4 acct:n1)"
wait_until 2 'test "$(sent)" -gt "$base"' && fail "E: $(( $(sent) - base )) requests after the restart"
ones e-1 && fail "E: e-1 has a result under the pause"
ctl resume --all >"$TEST_TMP/e2.out" || fail "E: resume --all exit $?"
grep -qx 'resumed all limit buckets (the pause of all)' "$TEST_TMP/e2.out" || fail "E: $(cat "$TEST_TMP/e2.out")"
wait_until 20 'ones e-1 e-2 e-3 e-4 e-5 e-a1' || fail "E: jobs did not finish once each after resume --all"
for i in 1 2 3 4 5 a1; do [ "$(res_state e-$i)" = ok ] || fail "E: e-$i $(res_state e-$i)"; done
[ "$(sent)" -eq $((base + 6)) ] || fail "E: $(( $(sent) - base )) requests, want 6"
[ "$(rcli EXISTS "${PREFIX}oppause")" -eq 0 ] || fail "E: ${PREFIX}oppause left after resume --all"
echo "E: pause --all: 6 jobs (5 of a bucket first used under it) sent 0 requests, also after a restart; resume --all: 6, one result each"

# ---- F: pause --all --for ends by itself
t0=$(now_ms)
ctl pause --all --for 2s >"$TEST_TMP/f.out" || fail "F: pause --all --for"
grep -q '^paused all limit buckets, also those first used later, for 2 s (until ' "$TEST_TMP/f.out" || fail "F: $(cat "$TEST_TMP/f.out")"
for i in 1 2 3; do job f-$i n2; done
wait_until 15 'ones f-1 f-2 f-3' || fail "F: jobs did not run after the 2 s pause of all"
for i in 1 2 3; do
  t1=$("$PACER" result --json --config "$TEST_TMP/pacer.json" f-$i | jq .finished_unix_ms)
  [ $((t1 - t0)) -ge 1900 ] || fail "F: f-$i finished $((t1 - t0)) ms after a 2 s pause of all"
done
[ "$(rcli EXISTS "${PREFIX}oppause")" -eq 0 ] || fail "F: ${PREFIX}oppause outlived its --for"
echo "F: pause --all --for 2s ended by itself; 3 jobs of a new bucket ran after it"

# ---- G: a deadline passes under the pause
ctl pause --all >/dev/null || fail "G: pause --all"
base=$(sent)
t0=$(now_ms)
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"g-1\",\"url\":\"$TESTAPI_URL/fast\",\"limit_key\":\"n3\",\"deadline_ms\":1500}" >/dev/null
wait_until 15 'lane_why w4 acct:n3 | grep -q "paused by an operator on all buckets"' ||
  fail "G: g-1's lane is not held by the pause: $(lane_why w4 acct:n3)"
wait_until 10 'test "$(now_ms)" -gt $((t0 + 1700))' || fail "G: clock"
ones g-1 && fail "G: g-1 ended before the resume: $(res_state g-1)"
ctl resume --all >/dev/null || fail "G: resume --all"
wait_until 15 'ones g-1' || fail "G: g-1 has no result after resume --all"
reason=$("$PACER" result --json --config "$TEST_TMP/pacer.json" g-1 | jq -r .reason)
[ "$(res_state g-1)" = failed ] && [ "$reason" = deadline_exceeded ] ||
  fail "G: g-1 $(res_state g-1) $reason, want failed deadline_exceeded"
[ "$(sent)" -eq "$base" ] || fail "G: $(( $(sent) - base )) requests for a job past its deadline"
echo "G: a job whose deadline passed under the pause ended deadline_exceeded at resume, unsent"

kill -TERM "$W4"
wait_until 20 '! alive "$W4"' || fail "worker did not stop"
pass "pacer pause / resume"
