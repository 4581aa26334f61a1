#!/usr/bin/env bash
# Structured logs: `pacer worker --log-format json` writes one JSON object
# per stderr line while it runs a batch with a retried job (a scripted 503,
# then 200), a dead-lettered job and an invalid job, both carrying an
# Authorization header with a canary value. Checks with jq:
#   - every stderr line parses, and has ts, level, comp and msg;
#   - every job line carries job, lane, attempt and status, and the retry,
#     deferral and failure lines say why the job waits;
#   - the canary appears in no log line and no output (only the redaction
#     path handles the job text: the dead letter holds "[redacted]").
# Then the config key "log_format": "json" with --log-components all,-redis
# hides the redis component, and a bad --log-format is a usage error.
. "$(dirname "$0")/lib.sh"

CANARY="CANARY-$$-7f3a9c"
start_testapi
write_config "$TEST_TMP/pacer.json" \
  '"limits": [{"name": "app", "key": "global", "rate": "500/s"}]'

# The first GET /fast is answered 503 (retried), later ones 200.
curl -fsS -X POST "$TESTAPI_URL/admin/script" \
  -d '[{"path":"/fast","status":503,"times":1}]' >/dev/null ||
  fail "cannot script the upstream"

jobs="$TEST_TMP/jobs.jsonl"
{
  printf '{"id":"retry-me","url":"%s/fast","max_attempts":3}\n' "$TESTAPI_URL"
  for i in $(seq 1 20); do
    printf '{"id":"ok-%02d","url":"%s/v1/campaigns/%d/stats"}\n' \
      "$i" "$TESTAPI_URL" "$i"
  done
  printf '{"id":"dead-1","url":"%s/status/404","headers":{"Authorization":"Bearer %s","X-Api-Key":"%s"}}\n' \
    "$TESTAPI_URL" "$CANARY" "$CANARY"
  printf '{"id":"later","url":"%s/fast","not_before":%s}\n' \
    "$TESTAPI_URL" "$(( $(now_ms) + 1500 ))"
} >"$jobs"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$jobs" \
  >"$TEST_TMP/submit.out" 2>"$TEST_TMP/submit.log" || fail "submit failed"
# Invalid (unknown method) and carrying the canary: rejected by the worker.
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"bad-1\",\"method\":\"FETCH\",\"url\":\"$TESTAPI_URL/fast\",\"headers\":{\"Authorization\":\"Bearer $CANARY\"}}" >/dev/null
total=24

"$PACER" worker --config "$TEST_TMP/pacer.json" --log-level debug \
  --log-format json >"$TEST_TMP/worker.out" 2>"$TEST_TMP/worker.log" &
WORKER_PID=$!
PIDS+=($WORKER_PID)
wait_until 60 'test "$(results_count)" -ge '$total ||
  fail "only $(results_count) of $total results"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '$WORKER_PID || fail "worker did not stop"
wait "$WORKER_PID"
[ $? -eq 0 ] || fail "worker exit status not 0"

log="$TEST_TMP/worker.log"
[ -s "$log" ] || fail "no log lines"

# 1. Every line is one JSON object with the four fixed fields.
bad=$(jq -R -r 'try (fromjson | if type == "object" and (.ts|type) ==
  "string" and (.level|type) == "string" and (.comp|type) == "string" and
  (.msg|type) == "string" then empty else "no-fields: \(.)" end)
  catch "not-json"' "$log" | head -5)
[ -z "$bad" ] || fail "lines that are not JSON log objects: $bad"
lines=$(wc -l <"$log")

# 2. Every job line carries job, lane, attempt and status; values are
#    strings (documented: a field never changes type).
bad=$(jq -r 'select(has("job")) | select((.lane|type) != "string" or
  (.attempt|type) != "string" or (.status|type) != "string") | .msg' "$log")
[ -z "$bad" ] || fail "job lines without lane/attempt/status: $bad"
jq -e -s '[.[] | select(.msg == "job finished")] | length == 24' "$log" \
  >/dev/null || fail "expected 24 job finished lines (debug level)"

# 3. The retried job: a retry line with the 503 and why it waits, then
#    finished ok on attempt 2.
jq -e -s 'any(.[]; .msg == "retrying" and .job == "retry-me" and
  .status == "503" and .attempt == "1" and .lane == "app" and
  .reason == "http_503" and .wait_reason == "backoff" and
  (.wait_ms | test("^[0-9]+$")))' "$log" >/dev/null ||
  fail "no retry line for retry-me: $(grep retry-me "$log")"
jq -e -s 'any(.[]; .msg == "job finished" and .job == "retry-me" and
  .state == "ok" and .attempt == "2" and .status == "200")' "$log" \
  >/dev/null || fail "retry-me did not finish ok on attempt 2"

# 4. The dead-lettered job and the invalid one: info lines with the reason.
jq -e -s 'any(.[]; .msg == "job finished" and .job == "dead-1" and
  .level == "info" and .state == "failed" and .status == "404" and
  .reason == "http_404" and .attempt == "1")' "$log" >/dev/null ||
  fail "no failure line for dead-1: $(grep dead-1 "$log")"
jq -e -s 'any(.[]; .msg == "invalid job" and .job == "bad-1" and
  .lane == "-" and .attempt == "0" and .status == "0" and
  (.error | test("method")))' "$log" >/dev/null ||
  fail "no invalid job line for bad-1: $(grep bad-1 "$log")"

# 5. The not_before job says why it waited.
jq -e -s 'any(.[]; .msg == "deferred" and .job == "later" and
  .wait_reason == "not_before")' "$log" >/dev/null ||
  fail "no deferred line for later"

# 6. The canary never appears; the dead letters did carry the header.
for f in "$TEST_TMP"/*.log "$TEST_TMP"/*.out; do
  if grep -qF "$CANARY" "$f"; then
    fail "canary found in $(basename "$f"): $(grep -F "$CANARY" "$f" | head -2)"
  fi
done
rcli --raw XRANGE "${PREFIX}dead" - + >"$TEST_TMP/dead.txt"
grep -qF '"Authorization":"[redacted]"' "$TEST_TMP/dead.txt" ||
  fail "dead letter has no redacted Authorization"
grep -qF "$CANARY" "$TEST_TMP/dead.txt" && fail "canary in a dead letter"
rm -f "$TEST_TMP/dead.txt"

# 7. The config key, and the component filter from the command line.
write_config "$TEST_TMP/json.json" '"log_format": "json"'
"$PACER" worker --config "$TEST_TMP/json.json" --log-components all,-redis \
  >"$TEST_TMP/w2.out" 2>"$TEST_TMP/w2.log" &
W2=$!
PIDS+=($W2)
wait_until 20 'grep -q "\"msg\":\"started\"" "$TEST_TMP/w2.log"' ||
  fail "second worker did not start"
kill -TERM "$W2"
wait_until 30 '! alive '$W2 || fail "second worker did not stop"
jq -e -R 'fromjson | .comp != "redis" or .level == "warn" or
  .level == "error"' "$TEST_TMP/w2.log" >/dev/null ||
  fail "redis lines despite all,-redis"
jq -e -s 'any(.[]; .comp == "main")' "$TEST_TMP/w2.log" >/dev/null ||
  fail "no main lines"

# 8. A bad format is a usage error naming the option.
"$PACER" worker --config "$TEST_TMP/json.json" --log-format xml \
  >/dev/null 2>"$TEST_TMP/bad.out"
[ $? -eq 2 ] || fail "bad --log-format did not exit 2"
grep -q 'log format: "xml" is not logfmt or json' "$TEST_TMP/bad.out" ||
  fail "bad --log-format message: $(cat "$TEST_TMP/bad.out")"

pass "$lines JSON log lines, job lines carry job/lane/attempt/status, no canary"
