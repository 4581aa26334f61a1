#!/usr/bin/env bash
# Result output (core/result_fmt.h): one JSON type per field, JSON bodies
# embedded as body_json, `pacer submit --out` writing each result as it
# arrives, and --format csv (RFC 4180) for `pacer submit` and `pacer run`.
. "$(dirname "$0")/lib.sh"

start_testapi
CFG="$TEST_TMP/worker.json"
write_config "$CFG"
start_worker "$CFG"
cd "$TEST_TMP"

{ printf '{"id":"r-json","method":"PUT","url":"%s/v1/adaccounts/act_1/campaigns","body":{"n":1}}\n' "$TESTAPI_URL"
  printf '{"id":"r-404","url":"%s/status/404"}\n' "$TESTAPI_URL"
  printf '{"id":"r-slow","url":"%s/slow?ms=2500"}\n' "$TESTAPI_URL"; } >jobs.jsonl

# --out: the fast results are in the file while the slow job still runs.
"$PACER" submit --config "$CFG" --out out.jsonl jobs.jsonl >submit.out 2>submit.log &
SUB=$!
PIDS+=("$SUB")
wait_until 20 'test "$(wc -l <out.jsonl)" -ge 2' || fail "fast results not written as they arrived"
alive "$SUB" || fail "submit ended before the slow job finished; cannot tell"
grep -q r-slow out.jsonl && fail "slow result written before it finished"
wait "$SUB"; rc=$?
[ "$rc" -eq 1 ] || fail "submit --out exit $rc, want 1 (one job failed)"
[ "$(wc -l <out.jsonl)" -eq 3 ] || fail "want 3 result lines: $(cat out.jsonl)"

# One type per field, on every line.
jq -e -s 'all(.[]; (.attempts|type) == "number" and (.throttled|type) ==
  "number" and (.wait_ms|type) == "number" and (.duration_ms|type) ==
  "number" and (.status|type) == "number" and (.finished_unix_ms|type) ==
  "number" and (.body_truncated|type) == "boolean" and (.headers|type) ==
  "object" and (.id|type) == "string" and (.reason|type) == "string")' \
  out.jsonl >/dev/null || fail "field types: $(cat out.jsonl)"
# A JSON response is embedded as JSON, not as an escaped string.
jq -e -s 'map(select(.id=="r-json"))[0] | (.body_json|type) == "object" and
  (has("body")|not) and (.headers["content-type"]|test("json"))' out.jsonl \
  >/dev/null || fail "JSON body not embedded: $(grep r-json out.jsonl)"

# --format csv: a header row and one row per job, RFC 4180.
sed 's/"r-/"c-/' jobs.jsonl | grep -v slow >csv.jsonl
"$PACER" submit --config "$CFG" --out out.csv --format csv csv.jsonl \
  >csv.out 2>csv.log
[ $? -eq 1 ] || fail "submit --format csv exit, want 1"
python3 - out.csv <<'PY' || fail "CSV: $(cat out.csv)"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert [r["id"] for r in sorted(rows, key=lambda r: r["id"])] == ["c-404", "c-json"], rows
by = {r["id"]: r for r in rows}
assert by["c-404"]["reason"] == "http_404" and by["c-404"]["status"] == "404", by
assert by["c-json"]["state"] == "ok" and by["c-json"]["attempts"] == "1", by
assert by["c-json"]["body_truncated"] == "false", by
assert int(by["c-json"]["wait_ms"]) >= 0 and int(by["c-json"]["duration_ms"]) >= 0
PY
"$PACER" submit --config "$CFG" --format xml csv.jsonl >/dev/null 2>fmt.log &&
  fail "--format xml accepted"
grep -q -- '--format: "xml" is not a format; use jsonl or csv' fmt.log ||
  fail "bad --format not explained: $(cat fmt.log)"

# pacer run --format csv (its own private Redis).
sed 's/"r-/"p-/' jobs.jsonl | grep -v slow >run.jsonl
"$PACER" run run.jsonl --format csv --out run.csv >run.sum 2>run.log
[ $? -eq 1 ] || fail "run --format csv exit, want 1: $(cat run.log)"
head -1 run.csv | grep -q '^id,state,status,reason,error,attempts,throttled,wait_ms,duration_ms,finished_unix_ms,body_truncated' ||
  fail "run csv header: $(head -1 run.csv)"
[ "$(wc -l <run.csv)" -eq 3 ] || fail "run csv rows: $(cat run.csv)"
pass "typed JSON fields, body_json, submit --out as results arrive, csv"
