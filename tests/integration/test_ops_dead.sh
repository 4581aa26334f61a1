#!/usr/bin/env bash
# `pacer dead list|show|retry|delete|purge` against a real worker.
# A: jobs that fail (upstream down, 404) become dead letters; list shows
#    them with their kept original; show prints the redacted job, never
#    the secret (which stays server-side in <prefix>deadjob:<id>).
# B: after the cause is fixed (upstream back), retry ID queues the original
#    job with its secret intact under the same id: it ends ok and its dead
#    letter is gone; a second retry of the id queues nothing (exit 1).
# C: retry --all --reason R retries only matching letters, at the pace of
#    their limit (5/s: 8 jobs spread over >= 1.2 s), into their own
#    priority stream.
# D: two retries of one id at the same time queue it once; a job that
#    fails again has one dead letter.
# E: delete ID and purge remove letters and kept originals; bad arguments
#    exit 2 with a message.
. "$(dirname "$0")/lib.sh"

start_testapi
LIVE_URL=$TESTAPI_URL
start_testapi --log "$TEST_TMP/b.jsonl"
B_PORT=$TESTAPI_PORT B_URL=$TESTAPI_URL B_PID=$TESTAPI_PID
kill "$B_PID"; wait_until 10 '! alive "$B_PID"' || fail "testapi B did not stop"
write_config "$TEST_TMP/pacer.json" '"dead_ttl_ms": 600000,
  "limits": [{"name": "paced", "key": "host", "rate": "5/s",
              "match": {"path_prefix": "/fast"}}]'
start_worker "$TEST_TMP/pacer.json"
dead() { local s=$1; shift; "$PACER" dead "$s" --config "$TEST_TMP/pacer.json" "$@"; }
SECRET=Zq9dx7Kw # short: pacer-testapi logs tokens up to 8 characters whole
job() { # id url [priority]
  printf '{"id":"%s","url":"%s","max_attempts":1,"headers":{"Authorization":"Bearer %s"}%s}' \
    "$1" "$2" "$SECRET" "${3:+,\"priority\":\"$3\"}"
}
xadd() { rcli XADD "${PREFIX}$1" '*' job "$2" >/dev/null; }

# ---- A
xadd jobs "$(job d-1 "$B_URL/fast")"
xadd jobs "$(job d-2 "$B_URL/fast")"
xadd jobs:high "$(job d-3 "$B_URL/fast" high)"
xadd jobs "$(job d-404 "$LIVE_URL/status/404")"
wait_until 20 'test "$(rcli XLEN "${PREFIX}dead")" -eq 4' || fail "A: $(rcli XLEN "${PREFIX}dead") dead letters, want 4"
dead list >"$TEST_TMP/a.out" || fail "A: list exit $?"
[ "$(grep -c ' d-' "$TEST_TMP/a.out")" -eq 4 ] || fail "A: list: $(cat "$TEST_TMP/a.out")"
grep -E ' d-404 +http_404 +404 +1 +[0-9]+m$' "$TEST_TMP/a.out" >/dev/null || fail "A: list row: $(cat "$TEST_TMP/a.out")"
dead show d-1 >"$TEST_TMP/a.show" || fail "A: show exit $?"
grep -q 'connect_error' "$TEST_TMP/a.show" || fail "A: show: $(cat "$TEST_TMP/a.show")"
grep -q 'redacted' "$TEST_TMP/a.show" || fail "A: show has no redacted job: $(cat "$TEST_TMP/a.show")"
grep -q "$SECRET" "$TEST_TMP/a.show" && fail "A: show printed the secret"
dead list --json | grep -q "$SECRET" && fail "A: list --json printed the secret"
rcli --raw XRANGE "${PREFIX}dead" - + | grep -q "$SECRET" && fail "A: a dead letter holds the secret"
rcli --raw HGET "${PREFIX}deadjob:d-1" job | grep -q "$SECRET" || fail "A: the kept original lost its secret"
ttl=$(rcli PTTL "${PREFIX}deadjob:d-1")
[ "$ttl" -gt 590000 ] && [ "$ttl" -le 600000 ] || fail "A: kept original TTL $ttl"
echo "A: 4 dead letters listed; show redacts; the original is kept ${ttl} ms"

# ---- B: fix the cause, retry one
start_testapi --port "$B_PORT" --log "$TEST_TMP/b.jsonl"
[ "$TESTAPI_PORT" = "$B_PORT" ] || fail "B: testapi B came back on $TESTAPI_PORT"
dead retry d-1 >"$TEST_TMP/b.out" || fail "B: retry exit $?: $(cat "$TEST_TMP/b.out")"
grep -qx 'queued d-1' "$TEST_TMP/b.out" || fail "B: $(cat "$TEST_TMP/b.out")"
wait_until 20 'test "$("$PACER" result --json --config "$TEST_TMP/pacer.json" d-1 2>/dev/null | jq -r .state)" = ok' ||
  fail "B: d-1 did not end ok after retry"
grep -q "\"token\":\"$SECRET\"" "$TEST_TMP/b.jsonl" || fail "B: the retried request did not carry its secret: $(cat "$TEST_TMP/b.jsonl")"
dead show d-1 >/dev/null 2>&1 && fail "B: the dead letter of d-1 is still there"
[ "$(rcli EXISTS "${PREFIX}deadjob:d-1")" = 0 ] || fail "B: the kept original is still there"
dead retry d-1 >/dev/null 2>"$TEST_TMP/b.err"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'd-1: not queued' "$TEST_TMP/b.err" || fail "B: second retry exit $rc: $(cat "$TEST_TMP/b.err")"
echo "B: retry queued the original with its secret; ok; letter gone; a second retry queues nothing"

# ---- C: retry --all --reason, paced by the limit
kill "$TESTAPI_PID"; wait_until 10 '! alive "$TESTAPI_PID"' || fail "C: testapi B did not stop"
for i in $(seq 1 6); do xadd jobs "$(job q-$i "$B_URL/fast")"; done
wait_until 20 'test "$(dead list --reason connect_error --limit 0 | grep -c " q-")" -eq 6' || fail "C: q jobs not dead"
start_testapi --port "$B_PORT" --log "$TEST_TMP/b2.jsonl"
before=$(rcli XLEN "${PREFIX}jobs:high")
dead retry --all --reason connect_error >"$TEST_TMP/c.out" 2>"$TEST_TMP/c.err" || fail "C: exit $?: $(cat "$TEST_TMP/c.err")"
grep -qx 'retried 8 of 8 dead letter(s)' "$TEST_TMP/c.out" || fail "C: $(cat "$TEST_TMP/c.out")"
for id in d-2 d-3 q-1 q-2 q-3 q-4 q-5 q-6; do
  wait_until 20 "\"\$PACER\" result --config \"\$TEST_TMP/pacer.json\" $id >/dev/null 2>&1" || fail "C: $id has no result"
done
dead show d-404 >/dev/null || fail "C: d-404 (http_404) was retried too"
spread=$(for id in d-2 d-3 q-1 q-2 q-3 q-4 q-5 q-6; do
  "$PACER" result --json --config "$TEST_TMP/pacer.json" $id | jq .finished_unix_ms; done |
  sort -n | awk 'NR==1{a=$1} {b=$1} END{print b-a}')
[ "$spread" -ge 1200 ] || fail "C: 8 retried jobs at 5/s finished within $spread ms, want >= 1200"
grep -c '"path":"/fast"' "$TEST_TMP/b2.jsonl" | grep -qx 8 || fail "C: upstream saw $(grep -c /fast "$TEST_TMP/b2.jsonl") requests"
echo "C: retry --all --reason retried 8 matching letters, paced over $spread ms"

# ---- D: two retries at once queue one job
xadd jobs "$(job d-404 "$LIVE_URL/status/404")" # d-404 fails again: one letter
wait_until 20 'test "$(dead list --json | jq -r .id | grep -cx d-404)" -eq 1 && test "$(rcli XLEN "${PREFIX}dead")" -ge 1' ||
  fail "D: d-404 letters: $(dead list --json | jq -r .id | grep -cx d-404)"
# With no worker running, so the job cannot fail again in between.
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "D: worker did not stop"
n0=$(rcli XLEN "${PREFIX}jobs")
dead retry d-404 >"$TEST_TMP/d1.out" 2>&1 &
p1=$!
dead retry d-404 >"$TEST_TMP/d2.out" 2>&1 &
p2=$!
wait $p1; wait $p2
[ "$(cat "$TEST_TMP/d1.out" "$TEST_TMP/d2.out" | grep -cx 'queued d-404')" -eq 1 ] ||
  fail "D: two retries: $(cat "$TEST_TMP/d1.out" "$TEST_TMP/d2.out")"
[ "$(rcli XLEN "${PREFIX}jobs")" -eq $((n0 + 1)) ] || fail "D: $(( $(rcli XLEN "${PREFIX}jobs") - n0 )) entries queued"
start_worker "$TEST_TMP/pacer.json" worker2
wait_until 20 'dead show d-404 >/dev/null 2>&1' || fail "D: d-404 did not fail again"
[ "$(dead list --json | jq -r .id | grep -cx d-404)" -eq 1 ] || fail "D: more than one letter for d-404"
echo "D: two concurrent retries queued d-404 once; one dead letter after it failed again"

# ---- E
dead delete d-404 nosuch >"$TEST_TMP/e.out"; rc=$?
[ "$rc" -eq 1 ] && grep -qx 'deleted the dead letters of 1 of 2 job id(s)' "$TEST_TMP/e.out" || fail "E: delete exit $rc: $(cat "$TEST_TMP/e.out")"
dead show d-404 >/dev/null 2>&1 && fail "E: d-404 still there"
xadd jobs "$(job e-1 "$LIVE_URL/status/404")"
xadd jobs "$(job e-2 "$LIVE_URL/status/410")"
wait_until 20 'test "$(rcli XLEN "${PREFIX}dead")" -ge 2' || fail "E: no letters to purge"
dead purge >"$TEST_TMP/e.out" || fail "E: purge exit $?"
grep -q 'purged 2 dead letter(s) and 2 kept original(s)' "$TEST_TMP/e.out" || fail "E: $(cat "$TEST_TMP/e.out")"
[ "$(rcli XLEN "${PREFIX}dead")" -eq 0 ] || fail "E: letters left"
[ -z "$(rcli --scan --pattern "${PREFIX}deadjob:*")" ] || fail "E: kept originals left"
dead list --since 5x >/dev/null 2>"$TEST_TMP/e.err"; rc=$?
[ "$rc" -eq 2 ] && grep -q -- '--since: "5x" is not a duration' "$TEST_TMP/e.err" || fail "E: bad --since exit $rc: $(cat "$TEST_TMP/e.err")"
dead retry >/dev/null 2>"$TEST_TMP/e.err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'give job IDs or --all' "$TEST_TMP/e.err" || fail "E: bare retry exit $rc"
echo "E: delete and purge remove letters and originals; bad arguments exit 2"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "worker did not stop"
pass "pacer dead list/show/retry/delete/purge"
