#!/usr/bin/env bash
# `pacer jobs`: what waits and why, in each state.
# A: with no worker running: queued jobs, a delayed retry (due time,
#    attempts, 429s) and a parked job (its credential) are listed; --state
#    and --limit select; the job's secret is never printed.
# B: with a worker and a paused bucket: the held jobs are in_flight, in
#    lane acct:a1, and the why names the operator pause; --lane selects;
#    a lane keyed by a secret header is named as the worker names it
#    (keyed hash, <prefix>lanekey), never with the secret.
# C: bad options exit 2 with a message.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"limits": [{"name": "acct", "key": "limit_key", "rate": "50/s"},
  {"name": "tok", "key": "header:X-Api-Key", "rate": "50/s", "match": {"path_prefix": "/slow"}}]'
jobs() { "$PACER" jobs --config "$TEST_TMP/pacer.json" "$@"; }
SECRET=sk-jobs-$$-never-shown
job() { printf '{"id":"%s","url":"%s/fast","limit_key":"%s","headers":{"X-Api-Key":"%s"}}' "$1" "$TESTAPI_URL" "$2" "$SECRET"; }

# ---- A: no worker
for i in 1 2 3; do rcli XADD "${PREFIX}jobs" '*' job "$(job q-$i a1)" >/dev/null; done
rcli XADD "${PREFIX}jobs:high" '*' job "$(job q-h a2)" >/dev/null
due=$(( $(now_ms) + 60000 ))
rcli ZADD "${PREFIX}delayed" "$due" "$(printf 'r-1\n2.3\n%s' "$(job r-1 a1)")" >/dev/null
rcli ZADD "${PREFIX}delayed" 4503599627370496 "$(printf 'p-1\n0\n{"id":"p-1","url":"%s/fast","credential":"acme"}' "$TESTAPI_URL")" >/dev/null
jobs >"$TEST_TMP/a.out" || fail "A: exit $?"
grep -qE '^queued +q-1 +acct:a1 +0 +0  in a stream, not read by a worker yet$' "$TEST_TMP/a.out" || fail "A: $(cat "$TEST_TMP/a.out")"
grep -qE '^queued +q-h +acct:a2 ' "$TEST_TMP/a.out" || fail "A: high-priority job missing"
grep -qE '^delayed +r-1 +acct:a1 +2 +3  due in (59|60)\.[0-9] s$' "$TEST_TMP/a.out" || fail "A: delayed row: $(grep r-1 "$TEST_TMP/a.out")"
grep -qE '^parked +p-1 .*credential acme needs `pacer cred set acme`$' "$TEST_TMP/a.out" || fail "A: parked row: $(grep p-1 "$TEST_TMP/a.out")"
grep -q "$SECRET" "$TEST_TMP/a.out" && fail "A: a secret was printed"
jobs --json | grep -q "$SECRET" && fail "A: --json printed a secret"
[ "$(jobs --state delayed --json | jq -r .id)" = r-1 ] || fail "A: --state delayed"
[ "$(jobs --state queued --limit 2 --json | wc -l)" -eq 2 ] || fail "A: --limit 2"
[ "$(jobs --state delayed --json | jq .due_unix_ms)" -eq "$due" ] || fail "A: due_unix_ms"
echo "A: queued, delayed (due, attempts, 429s) and parked listed; --state, --limit; no secret"

# ---- B: a worker holds the jobs of a paused bucket
rcli ZREM "${PREFIX}delayed" "$(printf 'r-1\n2.3\n%s' "$(job r-1 a1)")" >/dev/null
start_worker "$TEST_TMP/pacer.json"
wait_until 20 'test "$(result_of q-h state)" = ok' || fail "B: q-h did not run"
wait_until 20 'test "$(result_of q-3 state)" = ok' || fail "B: q jobs did not run"
"$PACER" pause --config "$TEST_TMP/pacer.json" acct:a1 >/dev/null || fail "B: pause"
for i in 4 5; do rcli XADD "${PREFIX}jobs" '*' job "$(job q-$i a1)" >/dev/null; done
rcli XADD "${PREFIX}jobs" '*' job "$(job q-6 a2)" >/dev/null
wait_until 20 'test "$(result_of q-6 state)" = ok' || fail "B: q-6 did not run"
wait_until 10 'test "$(jobs --state in_flight --json | jq -r .id | sort | tr "\n" " ")" = "q-4 q-5 "' ||
  fail "B: in_flight: $(jobs --state in_flight)"
jobs --state in_flight --lane acct:a1 >"$TEST_TMP/b.out"
grep -qE '^in_flight +q-4 +acct:a1 .*held by .*; bucket acct:a1 paused by an operator \(until resumed\)$' "$TEST_TMP/b.out" ||
  fail "B: $(cat "$TEST_TMP/b.out")"
[ "$(jobs --lane acct:a2 --state in_flight --json | wc -l)" -eq 0 ] || fail "B: --lane acct:a2 listed a1's jobs"
"$PACER" resume --config "$TEST_TMP/pacer.json" acct:a1 >/dev/null
wait_until 20 'test "$(result_of q-5 state)" = ok' || fail "B: q-5 did not run after resume"
# A lane from a secret header: the same name as the worker's.
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"h-1\",\"url\":\"$TESTAPI_URL/slow?ms=3000\",\"headers\":{\"X-Api-Key\":\"$SECRET\"}}" >/dev/null
wait_until 10 'jobs --state in_flight --json | grep -q "\"h-1\""' || fail "B: h-1 not held"
hlane=$(jobs --state in_flight --json | jq -r 'select(.id == "h-1") | .lane')
wlanes() { rcli --raw GET "$(rcli --scan --pattern "${PREFIX}lanestat:*" | head -1)" | jq -r '.lanes[].lane'; }
case $hlane in *tok:*) ;; *) fail "B: h-1 lane $hlane" ;; esac
wait_until 5 'wlanes | grep -qxF "$hlane"' || fail "B: lane $hlane is not the worker's: $(wlanes)"
jobs --json | grep -q "$SECRET" && fail "B: a secret was printed"
wait_until 10 'test "$(result_of h-1 state)" = ok' || fail "B: h-1 did not finish"
echo "B: in_flight jobs of a paused bucket, with the pause as why; --lane"

# ---- C
jobs --state running >/dev/null 2>"$TEST_TMP/c.err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'is not queued, delayed, in_flight or parked' "$TEST_TMP/c.err" || fail "C: --state exit $rc"
jobs --limit 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "C: --limit 0"
echo "C: bad options exit 2"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "worker did not stop"
pass "pacer jobs"
