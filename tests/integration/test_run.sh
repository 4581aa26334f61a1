#!/usr/bin/env bash
# `pacer run`: the embedded default. Starts its own private redis-server,
# runs every job to a terminal result, writes JSON lines, prints a summary,
# stops the private Redis, and exits 0 only when all succeeded.
. "$(dirname "$0")/lib.sh"

start_testapi
for i in $(seq 1 200); do
  printf '{"id":"run-%03d","method":"PUT","url":"%s/v1/adaccounts/act_%d/campaigns","body":{"n":%d}}\n' \
    "$i" "$TESTAPI_URL" $(( i % 3 )) "$i"
done >"$TEST_TMP/ok.jsonl"
cd "$TEST_TMP"
"$PACER" run ok.jsonl --out out.jsonl >run.out 2>run.log || fail "run exit $?"
[ "$(wc -l <out.jsonl)" -eq 200 ] || fail "expected 200 result lines"
[ "$(jq -r .state out.jsonl | sort | uniq -c | awk '{print $1, $2}')" = "200 ok" ] ||
  fail "not all ok"
[ "$(jq -r .id out.jsonl | sort -u | wc -l)" -eq 200 ] || fail "ids not unique"
[ "$(jq -r 'select(.id=="run-007") | .status == 200 and (.body | fromjson | .ok)' out.jsonl)" = true ] ||
  fail "result body missing"
grep -q '^done: 200 jobs, ok 200, failed 0' run.out || fail "no summary line"
ls /tmp/pacer-run-* >/dev/null 2>&1 && pgrep -f "pacer-run-.*redis.sock" >/dev/null &&
  fail "private redis-server left running"

# A failing job and a rejected line: exit 1, reported in the summary.
{ head -5 ok.jsonl | sed 's/run-/again-/'
  printf '{"id":"gone","url":"%s/status/404"}\n' "$TESTAPI_URL"
  printf '{"id":"nope","url":"ftp://example/"}\n'; } >mixed.jsonl
"$PACER" run mixed.jsonl --out mixed.out >mixed.sum 2>mixed.log && fail "run should fail"
grep -q 'mixed.jsonl:7: url: scheme "ftp" is not allowed' mixed.log || fail "reject not reported"
grep -q '^done: 6 jobs, ok 5, failed 1' mixed.sum || fail "wrong summary"
[ "$(jq -r 'select(.id=="gone") | .state == "failed" and .reason == "http_404"' mixed.out)" = true ] ||
  fail "404 not recorded"
pass "run: 200 ok; mixed batch exits 1 with the failure and the reject reported"
