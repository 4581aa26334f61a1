#!/usr/bin/env bash
# A server hint is a floor, never a reset (docs/LIMITS.md "Throttles"):
#  A. the upstream answers every request of account s1 with 429 and
#     "Retry-After: 0" for 8 s; pacer has a 50/s limit on the account. The
#     request rate to s1 falls to <= 2/s within 5 s of the first 429 and
#     every job still succeeds once the upstream recovers.
#  B. the same without any configured limit, with two worker processes:
#     the host's own throttle key, shared through Redis, slows every
#     request to it.
#  C. too many redirects end the job at once: too_many_redirects, one
#     attempt.
#  D. a job past its deadline ends deadline_exceeded, not after N 429s;
#     one read after its deadline is never sent.
#  E. pacer_bucket_deferred_jobs is a gauge of the jobs a bucket's lanes
#     have in the delayed set now: it follows the delayed set down instead
#     of counting every deferral until the last one is due; the lane's
#     line names which of its stacked limits binds.
#  F. store/lua/throttle_note.lua merges processes' views as
#     store/throttle.h says: the larger streak and the later end win, a
#     success takes one step off, a paid-back key is deleted.
. "$(dirname "$0")/lib.sh"

STORM_MS=8000
jobs_for() { # ACCOUNT N PREFIX [EXTRA_JSON]
  for i in $(seq 1 "$2"); do
    printf '{"id":"%s-%s-%04d","method":"PUT","url":"%s/v1/adaccounts/%s/campaigns","limit_key":"%s","body":{"n":%d}%s}\n' \
      "$3" "$1" "$i" "$TESTAPI_URL" "$1" "$1" "$i" "${4:-}"
  done
}
stop_workers() {
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do wait_until 30 '! alive '"$p" || fail "worker $p did not stop"; done
}
# storm ACCOUNT: every request of ACCOUNT gets 429 "Retry-After: 0" for
# STORM_MS from the first one.
storm() {
  curl -fsS -X POST "$TESTAPI_URL/admin/script" -d "[{\"path\":\"/v1/adaccounts/$1/campaigns\",\"status\":429,\"for_ms\":$STORM_MS,\"headers\":{\"Retry-After\":\"0\"}}]" >/dev/null
}
# window ACCOUNT FROM_MS TO_MS: requests of ACCOUNT that arrived between
# FROM_MS and TO_MS after its first request.
window() {
  curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
    jq --arg a "$1" --argjson f "$2" --argjson t "$3" '
      [.requests[] | select(.account == $a) | .t_ms] as $r |
      ($r | min) as $t0 | [$r[] | select(. >= $t0 + $f and . < $t0 + $t)] | length'
}
check_storm() { # PHASE ACCOUNT N
  local phase=$1 acct=$2 n=$3 late early
  wait_until 60 'test "$(results_count)" -ge '"$n" ||
    fail "$phase: $(results_count)/$n results after the storm"
  [ "$(stream_field results state | grep -cx ok)" -eq "$n" ] ||
    fail "$phase: not every job ok: $(stream_field results reason | sort | uniq -c)"
  early=$(window "$acct" 0 1000)
  late=$(window "$acct" 5000 $STORM_MS)
  # <= 2/s over the 3 s from 5 s into the storm to its end
  [ "$late" -le 6 ] ||
    fail "$phase: $late requests to $acct in 5..8 s of a 429 storm (> 2/s)"
  echo "$phase: $early requests in the storm's first second, $late in 5..8 s; $n/$n ok after it"
}

# ---- A: with a 50/s limit on the account
start_testapi
write_config "$TEST_TMP/pacer.json" \
  '"concurrency": 64, "limits": [{"name": "acct", "key": "limit_key", "rate": "50/s"}]'
storm s1
jobs_for s1 150 A >"$TEST_TMP/a.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/a.jsonl" 2>/dev/null || fail "submit A"
start_worker "$TEST_TMP/pacer.json" wa
check_storm A s1 150
# the backoff state is shared through Redis and shrank with the successes
[ "$(rcli HGET "${PREFIX}throttle:acct:s1" streak)" = "" ] ||
  fail "A: streak left after 150 successes: $(rcli HGETALL "${PREFIX}throttle:acct:s1")"
stop_workers "$WORKER_PID"

# ---- B: no configured limit
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
write_config "$TEST_TMP/nolimit.json" '"concurrency": 64'
storm s2
jobs_for s2 150 B >"$TEST_TMP/b.jsonl"
"$PACER" submit --config "$TEST_TMP/nolimit.json" "$TEST_TMP/b.jsonl" 2>/dev/null || fail "submit B"
start_worker "$TEST_TMP/nolimit.json" wb
wb1=$WORKER_PID
start_worker "$TEST_TMP/nolimit.json" wb2
check_storm B s2 150
stop_workers "$wb1" "$WORKER_PID"

# ---- C: too many redirects
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
curl -fsS -X POST "$TESTAPI_URL/admin/script" -d "[{\"path\":\"/v1/loop\",\"status\":302,\"times\":100,\"headers\":{\"Location\":\"/v1/loop\"}}]" >/dev/null
printf '{"id":"C-1","url":"%s/v1/loop"}\n' "$TESTAPI_URL" >"$TEST_TMP/c.jsonl"
"$PACER" submit --config "$TEST_TMP/nolimit.json" "$TEST_TMP/c.jsonl" 2>/dev/null || fail "submit C"
start_worker "$TEST_TMP/nolimit.json" wc
wait_until 20 'test "$(results_count)" -ge 1' || fail "C: no result"
[ "$(result_of C-1 reason)" = too_many_redirects ] ||
  fail "C: reason $(result_of C-1 reason), want too_many_redirects"
[ "$(result_of C-1 attempts)" -eq 1 ] || fail "C: $(result_of C-1 attempts) attempts"
echo "C: too_many_redirects after 1 attempt"

# ---- D: deadline
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
curl -fsS -X POST "$TESTAPI_URL/admin/script" -d "[{\"path\":\"/v1/adaccounts/d1/campaigns\",\"status\":429,\"for_ms\":60000,\"headers\":{\"Retry-After\":\"1\"}}]" >/dev/null
jobs_for d1 1 D ',"deadline_ms":3000' >"$TEST_TMP/d.jsonl"
t0=$(now_ms)
"$PACER" submit --config "$TEST_TMP/nolimit.json" "$TEST_TMP/d.jsonl" 2>/dev/null || fail "submit D"
wait_until 20 'test "$(results_count)" -ge 1' || fail "D: no result"
td=$(( $(now_ms) - t0 ))
[ "$(result_of D-d1-0001 reason)" = deadline_exceeded ] ||
  fail "D: reason $(result_of D-d1-0001 reason), want deadline_exceeded"
[ "$td" -le 6000 ] || fail "D: ended after $td ms for a 3 s deadline"
echo "D: deadline_exceeded after $td ms, $(result_of D-d1-0001 throttled) 429s"
# an absolute deadline already passed when the job is read: never sent
printf '{"id":"D-late","url":"%s/v1/adaccounts/d2/campaigns","deadline_ms":%s}\n' \
  "$TESTAPI_URL" "$(( $(now_ms) - 1000 ))" >"$TEST_TMP/d2.jsonl"
"$PACER" submit --config "$TEST_TMP/nolimit.json" "$TEST_TMP/d2.jsonl" 2>/dev/null || fail "submit D2"
wait_until 20 'test "$(results_count)" -ge 2' || fail "D: no result for D-late"
[ "$(result_of D-late reason)" = deadline_exceeded ] ||
  fail "D: D-late reason $(result_of D-late reason)"
[ "$(result_of D-late attempts)" -eq 0 ] || fail "D: D-late was sent"
[ "$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
  jq '[.requests[] | select(.account == "d2")] | length')" -eq 0 ] ||
  fail "D: a job past its deadline reached the upstream"
stop_workers "$WORKER_PID"

# ---- E: the deferred gauge follows the delayed set
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
write_config "$TEST_TMP/gauge.json" \
  '"metrics_listen": "127.0.0.1:0", "limits": [{"name": "acct", "key": "limit_key", "rate": "20/s"},
    {"name": "app", "rate": "100/s"}]'
jobs_for e1 160 E >"$TEST_TMP/e.jsonl"
start_worker "$TEST_TMP/gauge.json" we
wait_until 10 'grep -q metrics_port= "$TEST_TMP/we.log"' || fail "E: no metrics port"
mport=$(sed -n 's/.*metrics_port=\([0-9]*\).*/\1/p' "$TEST_TMP/we.log" | head -1)
"$PACER" submit --config "$TEST_TMP/gauge.json" "$TEST_TMP/e.jsonl" 2>/dev/null || fail "submit E"
gauge() {
  curl -fsS "http://127.0.0.1:$mport/metrics" |
    sed -n 's/^pacer_bucket_deferred_jobs{[^}]*bucket="acct:e1"[^}]*} \([0-9]*\)$/\1/p'
}
wait_until 10 'test "$(rcli ZCARD "${PREFIX}delayed")" -gt 50' || fail "E: nothing deferred"
worst=0 samples=0
while [ "$(results_count)" -lt 150 ] && [ $samples -lt 40 ]; do
  g=$(gauge) z=$(rcli ZCARD "${PREFIX}delayed")
  [ -n "$g" ] || g=0
  # the gauge is a 1 s snapshot: allow 2 s of promotions at 20/s
  [ $((g - z)) -le 40 ] || fail "E: pacer_bucket_deferred_jobs $g while the delayed set holds $z"
  [ $((g - z)) -gt $worst ] && worst=$((g - z))
  samples=$((samples + 1))
  sleep 1 # the sampling interval (the gauge is a 1 s snapshot)
done
# the lane's line names which of its two stacked limits sets the pace
lane_state() {
  curl -fsS "http://127.0.0.1:$mport/api/state" |
    jq -e '.lanes[] | select(.lane == "acct:e1|app") |
      .binding == "acct:e1" and (.why | test("acct:e1 binds at 20/s"))' >/dev/null
}
wait_until 10 lane_state ||
  fail "E: lane line: $(curl -fsS "http://127.0.0.1:$mport/api/state" | jq -c '.lanes')"
binds() {
  "$PACER" stats --json --config "$TEST_TMP/gauge.json" |
    jq -e '[.limits[] | select(.bucket == "acct:e1") | .binds_lanes] == [1] and
      [.limits[] | select(.bucket == "app") | .binds_lanes] == [0]' >/dev/null
}
wait_until 10 binds ||
  fail "E: pacer stats: $("$PACER" stats --json --config "$TEST_TMP/gauge.json" | jq -c '.limits')"
"$PACER" stats --config "$TEST_TMP/gauge.json" | grep -E '^  acct:e1 .*binds 1 lane' >/dev/null ||
  fail "E: pacer stats does not say acct:e1 binds: $("$PACER" stats --config "$TEST_TMP/gauge.json")"
wait_until 30 'test "$(results_count)" -ge 160' || fail "E: $(results_count)/160"
wait_until 5 'test "$(gauge)" = 0' || fail "E: gauge $(gauge) after every job is done"
echo "E: deferred gauge within $worst of the delayed set over $samples samples, 0 at the end"
stop_workers "$WORKER_PID"
# ---- F: the shared state's merge rule
note() { # OP STREAK UNTIL_MS -> "streak until"
  rcli --raw EVAL "$(cat "${PACER_LUA_DIR:?}/throttle_note.lua")" 1 \
    "${PREFIX}throttle:f" "$@" | paste -sd' '
}
far=$(( $(now_ms) + 600000 ))
[ "$(note throttle 3 "$far")" = "3 $far" ] || fail "F: first note"
[ "$(note throttle 1 $((far - 5000)))" = "3 $far" ] ||
  fail "F: a smaller streak or an earlier end shortened the shared pause"
[ "$(note throttle 5 $((far + 1)))" = "5 $((far + 1))" ] || fail "F: a larger streak lost"
[ "$(note ok 0 0)" = "4 $((far + 1))" ] || fail "F: a success took more than one step"
rcli HSET "${PREFIX}throttle:f" streak 1 until 1 >/dev/null
[ "$(note ok 0 0)" = "0 1" ] || fail "F: paid back"
[ "$(rcli EXISTS "${PREFIX}throttle:f")" = 0 ] || fail "F: a paid-back key is kept"
echo "F: throttle_note merges by max and pays back one step per success"
pass "a hint is a floor: rate falls under a 429 storm, jobs recover, redirects and deadlines end jobs"
