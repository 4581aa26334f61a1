#!/usr/bin/env bash
# `pacer stats --watch` while a worker runs a throttled batch:
#   A. --json --count 3 --interval 0.2 prints exactly 3 JSON objects, one a
#      line, numbered 1..3, each a full snapshot with the lanes;
#   B. a lane paused by the upstream's 429s shows paused-until and the
#      header that caused it, in JSON and in the text table;
#   C. not a terminal: plain snapshots appended, no escape sequences;
#      on a terminal (script(1) gives a pty): redrawn in place;
#   D. SIGINT ends an unbounded watch with status 0;
#   E. usage errors: --count without --watch, a bad --interval.
. "$(dirname "$0")/lib.sh"

# The upstream admits 5/s per account; the config allows 20/s, so the
# upstream answers 429 with Retry-After: 2 and the lane pauses.
start_testapi --rate 5/s --retry-after 2
write_config "$TEST_TMP/pacer.json" \
  '"limits": [{"name": "acct", "key": "limit_key", "rate": "20/s", "adaptive": false}]'
jobs="$TEST_TMP/jobs.jsonl"
for i in $(seq 1 150); do
  printf '{"id":"w-%03d","url":"%s/v1/campaigns/%d/stats?account=a%d","limit_key":"a%d"}\n' \
    "$i" "$TESTAPI_URL" "$i" $((i % 2)) $((i % 2))
done >"$jobs"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$jobs" >/dev/null \
  2>"$TEST_TMP/submit.log" || fail "submit failed"
start_worker "$TEST_TMP/pacer.json"
wait_until 20 'test "$(results_count)" -ge 1' || fail "worker made no progress"

watch() {
  "$PACER" stats --config "$TEST_TMP/pacer.json" --watch "$@"
}

# ---- A: three JSON Lines objects
watch --json --count 3 --interval 0.2 >"$TEST_TMP/a.out" 2>"$TEST_TMP/a.log" ||
  fail "A: watch exit status $?"
[ "$(wc -l <"$TEST_TMP/a.out")" -eq 3 ] ||
  fail "A: expected 3 lines: $(cat "$TEST_TMP/a.out")"
jq -e -s 'length == 3 and ([.[].refresh] == [1, 2, 3]) and
  all(.[]; (.time_unix_ms | type) == "number" and (.jobs | type) ==
  "number" and (.limits | type) == "array" and (.credentials | type) ==
  "array" and (has("error") | not))' "$TEST_TMP/a.out" >/dev/null ||
  fail "A: not 3 snapshots: $(head -c 600 "$TEST_TMP/a.out")"
# the refreshes are --interval apart (on a steady clock, give or take)
span=$(jq -s '.[2].time_unix_ms - .[0].time_unix_ms' "$TEST_TMP/a.out")
[ "$span" -ge 300 ] && [ "$span" -le 3000 ] ||
  fail "A: 3 refreshes 0.2 s apart took ${span} ms"
echo "A: 3 JSON snapshots, ${span} ms from first to last"

# ---- B: a paused lane with its reason
paused_json='any(.limits[]; .paused_ms > 0 and .paused_until_unix_ms >
  0 and (.pause_reason | test("Retry-After")))'
wait_until 30 'watch --json --count 1 | jq -e "$paused_json"' ||
  fail "B: no paused lane with a reason: $(watch --json --count 1)"
wait_until 30 'watch --count 1 >"$TEST_TMP/b.out" &&
  grep -E "^acct:a[01] .*[0-9]{2}:[0-9]{2}:[0-9]{2}Z \+[0-9.]+s +Retry-After" \
  "$TEST_TMP/b.out"' || fail "B: text view: $(cat "$TEST_TMP/b.out")"
grep -q '^LANE .*RATE/LIMIT/S .*QUEUED .*INFLIGHT .*PAUSED_UNTIL .*REASON' \
  "$TEST_TMP/b.out" || fail "B: no lane table header: $(cat "$TEST_TMP/b.out")"
echo "B: paused lane shown with paused-until and Retry-After"

# ---- C: plain when not a terminal, in place on one
watch --count 2 --interval 0.2 >"$TEST_TMP/c.out" 2>&1 || fail "C: status"
[ "$(grep -c '^--- [0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$' "$TEST_TMP/c.out")" -eq 2 ] ||
  fail "C: expected 2 snapshots: $(cat "$TEST_TMP/c.out")"
if grep -q $'\033' "$TEST_TMP/c.out"; then
  fail "C: escape sequences on a pipe"
fi
TERM=xterm script -qec "$PACER stats --config $TEST_TMP/pacer.json --watch --count 2 --interval 0.2" \
  /dev/null >"$TEST_TMP/c-tty.out" 2>&1 </dev/null || fail "C: tty status"
grep -q $'\033\\[H' "$TEST_TMP/c-tty.out" && grep -q $'\033\\[K' "$TEST_TMP/c-tty.out" ||
  fail "C: no in-place redraw on a terminal: $(head -c 300 "$TEST_TMP/c-tty.out" | od -c | head)"
grep -q 'Ctrl-C quits' "$TEST_TMP/c-tty.out" || fail "C: no tty header"
# 80 columns: nothing wider, the reason on a line of its own
if tr -d '\r' <"$TEST_TMP/c-tty.out" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' |
  grep -q '.\{81\}'; then
  fail "C: lines wider than the terminal"
fi
echo "C: plain on a pipe, redrawn in place on a terminal"

# ---- D: SIGINT ends an unbounded watch with 0
# (not through the function: $! must be pacer itself, not a subshell)
"$PACER" stats --config "$TEST_TMP/pacer.json" --watch --json --interval 0.2 \
  >"$TEST_TMP/d.out" 2>"$TEST_TMP/d.log" &
wpid=$!
PIDS+=($wpid)
wait_until 10 'test "$(wc -l <"$TEST_TMP/d.out")" -ge 2' || fail "D: no output"
kill -INT "$wpid"
wait_until 10 '! alive '$wpid || fail "D: watch did not stop on SIGINT"
wait "$wpid"
st=$?
[ "$st" -eq 0 ] || fail "D: exit status $st after SIGINT"
jq -e . "$TEST_TMP/d.out" >/dev/null || fail "D: output not JSON"
echo "D: SIGINT -> exit 0 after $(wc -l <"$TEST_TMP/d.out") refreshes"

# ---- E: usage errors
"$PACER" stats --count 3 >/dev/null 2>"$TEST_TMP/e.out"
[ $? -eq 2 ] && grep -q -- '--count: only with --watch' "$TEST_TMP/e.out" ||
  fail "E: --count without --watch: $(cat "$TEST_TMP/e.out")"
"$PACER" stats --watch --interval 0 >/dev/null 2>"$TEST_TMP/e.out"
[ $? -eq 2 ] && grep -q -- '--interval: "0" is not a number of seconds' \
  "$TEST_TMP/e.out" || fail "E: --interval 0: $(cat "$TEST_TMP/e.out")"
"$PACER" stats --watch --count x >/dev/null 2>"$TEST_TMP/e.out"
[ $? -eq 2 ] || fail "E: --count x accepted"

kill -TERM "$WORKER_PID"
wait_until 30 '! alive '$WORKER_PID || fail "worker did not stop"
pass "stats --watch: JSON Lines, paused lanes with reasons, tty redraw, SIGINT exit 0"
