#!/usr/bin/env bash
# `pacer cancel ID...`: a job ends cancelled wherever it is, with exactly
# one result.
# A: held in a lane (its bucket paused): cancelled at once, never sent.
# B: delayed (not_before in a minute) and C: parked: made due, cancelled.
# D: running (GET /slow 20 s): the transfer is aborted within seconds.
# E: running POST without Idempotency-Key: outcome_unknown, not cancelled.
# F: looping on 429s: cancelled, one result.
# G: an id that finished, and an unknown id: exit 1, nothing changed.
. "$(dirname "$0")/lib.sh"

start_testapi --log "$TEST_TMP/req.jsonl"
write_config "$TEST_TMP/pacer.json" '"limits": [{"name": "acct", "key": "limit_key", "rate": "50/s"}]'
start_worker "$TEST_TMP/pacer.json"
cancel() { "$PACER" cancel --config "$TEST_TMP/pacer.json" "$@"; }
xadd() { rcli XADD "${PREFIX}jobs" '*' job "$1" >/dev/null; }
count_id() { results_ids | grep -cx "$1"; }
sent_path() { grep -c "\"path\":\"$1\"" "$TEST_TMP/req.jsonl"; }

# ---- A: in a lane, bucket paused
xadd "{\"id\":\"warm\",\"url\":\"$TESTAPI_URL/fast\",\"limit_key\":\"a1\"}"
wait_until 20 'test "$(result_of warm state)" = ok' || fail "A: warm-up"
"$PACER" pause --config "$TEST_TMP/pacer.json" acct:a1 >/dev/null || fail "A: pause"
xadd "{\"id\":\"c-lane\",\"url\":\"$TESTAPI_URL/fast?lane\",\"limit_key\":\"a1\"}"
wait_until 10 '"$PACER" jobs --config "$TEST_TMP/pacer.json" --state in_flight | grep -q c-lane' || fail "A: c-lane not held"
cancel c-lane >"$TEST_TMP/a.out" || fail "A: exit $?: $(cat "$TEST_TMP/a.out")"
grep -qx 'c-lane: cancelled' "$TEST_TMP/a.out" || fail "A: $(cat "$TEST_TMP/a.out")"
[ "$(result_of c-lane reason)" = cancelled ] || fail "A: reason $(result_of c-lane reason)"
"$PACER" resume --config "$TEST_TMP/pacer.json" acct:a1 >/dev/null
"$PACER" dead show --config "$TEST_TMP/pacer.json" c-lane >/dev/null || fail "A: no dead letter to retry"
echo "A: a job held in a paused lane: cancelled, never sent; its dead letter can be retried"

# ---- B: delayed
nb=$(( $(now_ms) + 60000 ))
xadd "{\"id\":\"c-delayed\",\"url\":\"$TESTAPI_URL/fast?d\",\"not_before\":$nb}"
wait_until 10 '"$PACER" jobs --config "$TEST_TMP/pacer.json" --state delayed | grep -q c-delayed' || fail "B: not delayed"
cancel c-delayed >"$TEST_TMP/b.out" || fail "B: exit $?: $(cat "$TEST_TMP/b.out")"
grep -qx 'c-delayed: cancelled' "$TEST_TMP/b.out" || fail "B: $(cat "$TEST_TMP/b.out")"
echo "B: a delayed job: cancelled without waiting for its due time"

# ---- C: parked
rcli ZADD "${PREFIX}delayed" 4503599627370496 "$(printf 'c-parked\n0\n{"id":"c-parked","url":"%s/fast?p","credential":"acme"}' "$TESTAPI_URL")" >/dev/null
cancel c-parked >"$TEST_TMP/c.out" || fail "C: exit $?: $(cat "$TEST_TMP/c.out")"
grep -qx 'c-parked: cancelled' "$TEST_TMP/c.out" || fail "C: $(cat "$TEST_TMP/c.out")"
echo "C: a parked job: cancelled"

# ---- D: running GET, aborted
xadd "{\"id\":\"c-slow\",\"url\":\"$TESTAPI_URL/slow?ms=20000\"}"
wait_until 10 '"$PACER" jobs --config "$TEST_TMP/pacer.json" --state in_flight | grep -q c-slow' || fail "D: not running"
t0=$(now_ms)
cancel c-slow >"$TEST_TMP/d.out" || fail "D: exit $?: $(cat "$TEST_TMP/d.out")"
took=$(( $(now_ms) - t0 ))
grep -qx 'c-slow: cancelled' "$TEST_TMP/d.out" || fail "D: $(cat "$TEST_TMP/d.out")"
[ "$took" -lt 5000 ] || fail "D: the abort took $took ms"
echo "D: a running GET aborted; cancelled after $took ms"

# ---- E: running POST without Idempotency-Key
xadd "{\"id\":\"c-post\",\"method\":\"POST\",\"url\":\"$TESTAPI_URL/slow?ms=20000\",\"body\":{\"a\":1}}"
wait_until 10 '"$PACER" jobs --config "$TEST_TMP/pacer.json" --state in_flight | grep -q c-post' || fail "E: not running"
cancel c-post >"$TEST_TMP/e.out" || fail "E: exit $?: $(cat "$TEST_TMP/e.out")"
grep -q '^c-post: outcome_unknown: cancelled by an operator' "$TEST_TMP/e.out" || fail "E: $(cat "$TEST_TMP/e.out")"
[ "$(result_of c-post state)" = outcome_unknown ] || fail "E: state $(result_of c-post state)"
echo "E: a running POST without Idempotency-Key ends outcome_unknown"

# ---- F: looping on 429s
xadd "{\"id\":\"c-429\",\"url\":\"$TESTAPI_URL/status/429?retry_after=1\"}"
wait_until 10 'test "$(sent_path /status/429)" -ge 2' || fail "F: not looping"
cancel c-429 >"$TEST_TMP/f.out" || fail "F: exit $?: $(cat "$TEST_TMP/f.out")"
grep -qx 'c-429: cancelled' "$TEST_TMP/f.out" || fail "F: $(cat "$TEST_TMP/f.out")"
n429=$(sent_path /status/429)
wait_until 3 'test "$(sent_path /status/429)" -gt '"$n429" && fail "F: still sent after the cancel"
echo "F: a job looping on 429s: cancelled after $n429 tries, no more sent"

# ---- G
cancel warm >/dev/null 2>"$TEST_TMP/g.err"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'warm: not waiting or running: it finished (state ok)' "$TEST_TMP/g.err" || fail "G: exit $rc: $(cat "$TEST_TMP/g.err")"
cancel nosuch >/dev/null 2>"$TEST_TMP/g.err"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'nosuch: not waiting or running (unknown id' "$TEST_TMP/g.err" || fail "G: unknown exit $rc"
[ "$(rcli ZCARD "${PREFIX}cancel")" -eq 0 ] || fail "G: cancel requests left: $(rcli ZRANGE "${PREFIX}cancel" 0 -1)"
for id in c-lane c-delayed c-parked c-slow c-post c-429 warm; do
  [ "$(count_id $id)" -eq 1 ] || fail "G: $id has $(count_id $id) results"
done
[ "$(sent_path /fast?lane)" -eq 0 ] && [ "$(grep -c 'fast?d\|fast?p' "$TEST_TMP/req.jsonl")" -eq 0 ] || fail "G: a cancelled waiting job was sent"
echo "G: finished and unknown ids exit 1; one result per id; no request left"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "worker did not stop"
pass "pacer cancel"
