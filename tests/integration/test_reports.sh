#!/usr/bin/env bash
# Asynchronous reports (docs/CHAINS.md "Reports"): a report job is created
# (202), polled while pending (202 with Retry-After: 1) with each wait in
# the delayed set, not in a lease, then its download is fetched, and it
# ends in exactly one result; a report that fails ends in one failed
# result (report_failed) and a dead letter.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"lease_ms": 2000'
cat >"$TEST_TMP/jobs.jsonl" <<JOBS
{"id":"rep","method":"POST","url":"$TESTAPI_URL/v1/reports?polls=3","poll":{"url":"body:/status_url","status":"/status","done":"done","failed":"failed","interval_ms":300,"download":"/url"}}
{"id":"repfail","method":"POST","url":"$TESTAPI_URL/v1/reports?polls=1&fail=1","poll":{"url":"location","status":"/status","done":["done"],"failed":["failed"],"interval_ms":300,"download":"/url"}}
JOBS
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" 2>/dev/null ||
  fail "submit failed"
start_worker "$TEST_TMP/pacer.json"

# While the reports are pending, they wait in the delayed set and no
# entry is pending (leased) in the stream.
wait_until 20 '[ "$(rcli ZCARD "${PREFIX}delayed")" -ge 1 ] &&
  [ "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0 ]' ||
  fail "never saw a poll waiting in the delayed set without a lease"
wait_until 30 '[ "$(results_count)" -ge 2 ]' ||
  fail "only $(results_count) results"
[ "$(results_count)" -eq 2 ] || fail "$(results_count) results, want 2"
[ "$(result_of rep state)" = ok ] || fail "rep: $(result_of rep state) $(result_of rep error)"
body=$(result_of rep body)
echo "$body" | grep -q '^row,r[0-9]*$' || fail "rep: body is not the download: $body"
[ "$(result_of rep requests)" = 6 ] ||
  fail "rep: $(result_of rep requests) requests, want create + 4 polls + download"
[ "$(result_of repfail state)" = failed ] || fail "repfail: $(result_of repfail state)"
[ "$(result_of repfail reason)" = report_failed ] || fail "repfail: reason $(result_of repfail reason)"
[ "$(stream_field dead id)" = repfail ] || fail "dead letters: $(stream_field dead id)"
"$PACER" result rep --config "$TEST_TMP/pacer.json" --json |
  jq -e '.state == "ok" and .requests == 6' >/dev/null ||
  fail "pacer result rep: $("$PACER" result rep --config "$TEST_TMP/pacer.json" --json 2>&1 | head -c 300)"
# the polls of rep, paced by Retry-After: 1 on each 202
k=$(echo "$body" | head -1 | sed 's/^row,//')
gaps=$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
  jq -r --arg p "/v1/reports/$k" '[.requests[] | select(.path == $p) | .t_ms] |
    [range(1; length) as $i | .[$i] - .[$i - 1]] | min')
[ "$gaps" -ge 950 ] || fail "polls $gaps ms apart, under Retry-After: 1"
n_polls=$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
  jq --arg p "/v1/reports/$k" '[.requests[] | select(.path == $p)] | length')
[ "$n_polls" -eq 4 ] || fail "$n_polls status polls, want 4"
[ "$(rcli ZCARD "${PREFIX}delayed")" -eq 0 ] || fail "delayed set not empty"
[ "$(rcli XLEN "${PREFIX}jobs")" -eq 0 ] || fail "jobs left in the stream"
# pacer run --out-dir: a 200 KB download goes to a file the result names
printf '{"id":"big/rep","method":"POST","url":"%s/v1/reports?polls=1&rows=20000","poll":{"url":"location","status":"/status","done":"done","interval_ms":100,"download":"/url"}}\n' \
  "$TESTAPI_URL" >"$TEST_TMP/big.jsonl"
mkdir "$TEST_TMP/bodies"
"$PACER" run "$TEST_TMP/big.jsonl" --out "$TEST_TMP/big.out" \
  --out-dir "$TEST_TMP/bodies" >"$TEST_TMP/run.log" 2>&1 || fail "run --out-dir failed"
f=$(jq -r '.body_file' "$TEST_TMP/big.out")
[ "$f" = "$TEST_TMP/bodies/big_rep.body" ] || fail "body_file is $f"
[ "$(jq -r '.body' "$TEST_TMP/big.out")" = "" ] || fail "the body stayed in the result line"
[ "$(wc -l <"$f")" -eq 20000 ] || fail "the body file has $(wc -l <"$f") rows"
"$PACER" run "$TEST_TMP/big.jsonl" --out-dir "$TEST_TMP/nope" >"$TEST_TMP/run2.log" 2>&1
[ $? -eq 2 ] && grep -q -- "--out-dir $TEST_TMP/nope: No such file" "$TEST_TMP/run2.log" ||
  fail "a missing --out-dir was not refused: $(cat "$TEST_TMP/run2.log")"
pass "report polled 4 times without a lease, downloaded, one result each; --out-dir"
