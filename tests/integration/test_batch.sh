#!/usr/bin/env bash
# 1,000 jobs submitted -> exactly 1,000 terminal results, one per id; a
# malformed job and a file:// job among them -> dead letters naming the
# field, others unaffected; a job XADDed by hand with redis-cli produces its
# result; not_before is honoured; SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 64'

jobs="$TEST_TMP/jobs.jsonl"
for i in $(seq 1 1000); do
  a=$(( i % 5 ))
  if [ $(( i % 2 )) -eq 0 ]; then
    printf '{"id":"j-%04d","method":"PUT","url":"%s/v1/adaccounts/act_%d/campaigns","body":{"name":"c%d","daily_budget":%d},"meta":{"row":%d}}\n' \
      "$i" "$TESTAPI_URL" "$a" "$i" "$i" "$i"
  else
    printf '{"id":"j-%04d","url":"%s/fast"}\n' "$i" "$TESTAPI_URL"
  fi
done >"$jobs"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$jobs" 2>"$TEST_TMP/submit.log" ||
  fail "submit failed"

# Hostile entries straight into the stream, as any client could.
rcli XADD "${PREFIX}jobs" '*' job '{"id":"bad-json", "url": ' >/dev/null
rcli XADD "${PREFIX}jobs" '*' job '{"id":"bad-scheme","url":"file:///etc/passwd"}' >/dev/null
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"by-hand\",\"method\":\"POST\",\"url\":\"$TESTAPI_URL/echo\",\"body\":{\"x\":1}}" >/dev/null
rcli XADD "${PREFIX}jobs" '*' job "{\"url\":\"$TESTAPI_URL/fast\"}" attempt junk >/dev/null
rcli XADD "${PREFIX}jobs" '*' job "{\"url\":\"$TESTAPI_URL/fast\"}" id 'has space' >/dev/null
rcli XADD "${PREFIX}jobs" '*' other field >/dev/null
due=$(( $(now_ms) + 1500 ))
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"later\",\"url\":\"$TESTAPI_URL/fast\",\"not_before\":$due}" >/dev/null

start_worker "$TEST_TMP/pacer.json"
wait_until 120 'test "$(results_count)" -ge 1007' ||
  fail "only $(results_count) of 1007 results"

[ "$(results_ids | sort | uniq | wc -l)" -eq 1007 ] || fail "ids not unique"
[ "$(results_ids | wc -l)" -eq 1007 ] || fail "extra results"
for i in 1 500 1000; do
  results_ids | grep -x "j-$(printf %04d $i)" >/dev/null || fail "missing j-$i"
done
ok=$(stream_field results state | grep -cx ok)
[ "$ok" -eq 1002 ] || fail "expected 1002 ok results, got $ok"
[ "$(rcli XLEN "${PREFIX}dead")" -eq 5 ] || fail "expected 5 dead letters"
rcli --raw XRANGE "${PREFIX}dead" - + >"$TEST_TMP/dead.txt"
grep -q '^invalid_job$' "$TEST_TMP/dead.txt" || fail "dead reason missing"
grep -q 'url: scheme "file" is not allowed, use http or https' "$TEST_TMP/dead.txt" ||
  fail "file:// rejection not named"
grep -q '^job: invalid JSON' "$TEST_TMP/dead.txt" || fail "bad JSON not named"
grep -q '^attempt: the stream field must be a whole number' "$TEST_TMP/dead.txt" ||
  fail "junk attempt field not named"
grep -q '^job: the stream entry has no "job" field' "$TEST_TMP/dead.txt" ||
  fail "missing job field not named"
grep -q '^id: must be printable ASCII without spaces' "$TEST_TMP/dead.txt" ||
  fail "bad id field not named"
# A rejected job still carries the client's own id.
[ "$(result_of bad-scheme reason)" = invalid_job ] || fail "bad-scheme id lost"
# The upstream saw exactly one request per good job.
[ "$(testapi_stat .requests)" -eq 1002 ] ||
  fail "upstream saw $(testapi_stat .requests) requests, want 1002"
# The not_before job did not run before its time.
fin=$(result_of later finished_unix_ms)
[ "$fin" -ge "$due" ] || fail "not_before job finished at $fin < $due"
# The stream is drained and nothing is pending.
[ "$(rcli XLEN "${PREFIX}jobs")" -eq 0 ] || fail "jobs stream not empty"
[ "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0 ] || fail "pending left"
# meta is echoed into the result.
[ "$(result_of j-0002 meta)" = '{"row":2}' ] || fail "meta not echoed"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "worker did not exit on SIGTERM"
wait "$WORKER_PID"; rc=$?
[ "$rc" -eq 0 ] || fail "worker exit status $rc after SIGTERM"
pass "1007 results, 5 dead letters, upstream saw 1002 requests"
