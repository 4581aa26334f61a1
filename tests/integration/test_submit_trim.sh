#!/usr/bin/env bash
# `pacer submit --wait` whose results are trimmed before it reads them
# (results_maxlen 10, XADD MAXLEN ~) stops with exit 4 and says how many
# jobs are unaccounted for, instead of waiting forever. A submit that keeps
# up while the results it has read are trimmed still finishes with exit 0.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 64, "results_maxlen": 10'

# entries_added: XINFO STREAM entries-added of the results stream.
entries_added() {
  rcli XINFO STREAM "${PREFIX}results" 2>/dev/null |
    awk 'prev == "entries-added" { print; exit } { prev = $0 }'
}

for i in $(seq 1 300); do
  printf '{"id":"r-%03d","url":"%s/fast"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"

# Queued, then stopped while it waits; the worker finishes all 300 and the
# stream is trimmed to ~100 before submit reads on.
"$PACER" submit --config "$TEST_TMP/pacer.json" --wait "$TEST_TMP/jobs.jsonl" \
  >"$TEST_TMP/submit.out" 2>"$TEST_TMP/submit.log" &
SUBMIT_PID=$!
PIDS+=("$SUBMIT_PID")
wait_until 20 'grep -q "queued 300 job" "$TEST_TMP/submit.log"' ||
  fail "submit did not queue 300 jobs"
kill -STOP "$SUBMIT_PID"
start_worker "$TEST_TMP/pacer.json"
wait_until 60 'test "$(entries_added)" -ge 300' ||
  fail "only $(entries_added) of 300 results"
[ "$(rcli XLEN "${PREFIX}results")" -lt 300 ] || fail "results were not trimmed"
kill -CONT "$SUBMIT_PID"
wait_until 10 '! alive "$SUBMIT_PID"' || fail "submit still waits after SIGCONT"
rc=0
wait "$SUBMIT_PID" || rc=$?
[ "$rc" -eq 4 ] || fail "submit exited $rc, want 4: $(cat "$TEST_TMP/submit.log")"
grep -Eq 'stopped waiting: [0-9]+ of 300 job\(s\) unaccounted for' \
  "$TEST_TMP/submit.log" || fail "no count of unaccounted jobs"
grep -Eq "[0-9]+ result\(s\) were trimmed from ${PREFIX}results before they were read; raise results_maxlen" \
  "$TEST_TMP/submit.log" || fail "no trim explanation: $(cat "$TEST_TMP/submit.log")"

# Control, without a worker: results are faked with redis-cli. Trimming
# that takes only results submit has read (and older ones) loses nothing:
# it exits 0 once the rest arrive.
CP="${PREFIX}c:"
printf '{"redis_url": "unix://%s", "prefix": "%s"}\n' "$REDIS_SOCK" "$CP" \
  >"$TEST_TMP/ctl.json"
rcli XADD "${CP}results" '*' id old state ok >/dev/null
for i in 1 2 3; do
  printf '{"id":"k-%d","url":"http://127.0.0.1:9/x"}\n' "$i"
done >"$TEST_TMP/ctl.jsonl"
"$PACER" submit --config "$TEST_TMP/ctl.json" --wait --timeout 60 \
  "$TEST_TMP/ctl.jsonl" >"$TEST_TMP/ctl.out" 2>"$TEST_TMP/ctl.log" &
SUBMIT_PID=$!
PIDS+=("$SUBMIT_PID")
wait_until 20 'test "$(rcli XLEN "${CP}jobs")" -eq 3' || fail "control: not queued"
rcli XADD "${CP}results" '*' id k-1 state ok >/dev/null
wait_until 20 'grep -q "ok 1 failed 0" "$TEST_TMP/ctl.log"' ||
  fail "control: k-1 not read: $(cat "$TEST_TMP/ctl.log")"
rcli XTRIM "${CP}results" MAXLEN 0 >/dev/null
rcli XADD "${CP}results" '*' id k-2 state ok >/dev/null
rcli XADD "${CP}results" '*' id k-3 state ok >/dev/null
wait_until 20 '! alive "$SUBMIT_PID"' || fail "control: submit still waits"
rc=0
wait "$SUBMIT_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "control: submit exited $rc: $(cat "$TEST_TMP/ctl.log")"
grep -q '^done: 3 jobs, ok 3, failed 0 in ' "$TEST_TMP/ctl.out" ||
  fail "control summary: $(cat "$TEST_TMP/ctl.out")"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "worker did not stop"
pass "trimmed unread results end --wait with exit 4 and a count; trimming read ones does not"
