#!/usr/bin/env bash
# Throttle rules and presets (docs/LIMITS.md "Throttle rules", "Presets")
# against pacer-testapi's scripted answers, one preset per phase: the
# response each API documents for "slow down" is a throttle whatever its
# status, spends no attempt, pauses the limit the rule names for its
# delay, and shows as the pause's cause in Redis, pacer stats and metrics.
#  M. meta-marketing: HTTP 400 {"error": {"code": 80004}} with
#     X-Ad-Account-Usage reset_time_duration 2 s pauses the account.
#  G. google-ads: 429 RESOURCE_EXHAUSTED, rateScope DEVELOPER, retryDelay
#     "2s" pauses the developer bucket: another account waits too.
#  S. snapchat-marketing: a bare 429 pauses the token bucket >= 1 s.
#  T. tiktok-business: HTTP 200 {"code": 40100} is a throttle, not ok.
. "$(dirname "$0")/lib.sh"

# examples/throttle-rules.json is a valid configuration
PACER_REDIS_URL="unix://$REDIS_SOCK" "$PACER" stats \
  --config "$(dirname "$0")/../../examples/throttle-rules.json" >/dev/null 2>"$TEST_TMP/example.err" ||
  fail "examples/throttle-rules.json: $(cat "$TEST_TMP/example.err")"
start_testapi
stop_workers() {
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do wait_until 30 '! alive '"$p" || fail "worker $p did not stop"; done
}
job() { # ID ACCOUNT
  printf '{"id":"%s","method":"PUT","url":"%s/v1/adaccounts/%s/campaigns","limit_key":"%s","body":{}}\n' \
    "$1" "$TESTAPI_URL" "$2" "$2"
}
script() { curl -fsS -X POST "$TESTAPI_URL/admin/script" -d "$1" >/dev/null || fail "script"; }
# times_of ACCOUNT: the arrival times (ms) of ACCOUNT's requests, one a line
times_of() {
  curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
    jq -r --arg a "$1" '.requests[] | select(.account == $a) | .t_ms'
}
# phase NAME PRESET_ENTRY: a config with limits acct (per account) and dev
# (global, the developer token) and the one preset, for 127.0.0.1
phase() {
  curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
  rcli DEL "${PREFIX}results" >/dev/null
  write_config "$TEST_TMP/$1.json" "\"metrics_listen\": \"127.0.0.1:0\", \"limits\": [
    {\"name\": \"acct\", \"key\": \"limit_key\", \"rate\": \"50/s\"},
    {\"name\": \"dev\", \"rate\": \"100/s\"}],
    \"throttle_rules\": [$2]"
}
# run_jobs NAME N JOBS...: submits the jobs and waits for N results
run_jobs() {
  local name=$1 n=$2
  shift 2
  printf '%s\n' "$@" >"$TEST_TMP/$name.jsonl"
  start_worker "$TEST_TMP/$name.json" "w$name"
  "$PACER" submit --config "$TEST_TMP/$name.json" "$TEST_TMP/$name.jsonl" 2>/dev/null ||
    fail "$name: submit"
  wait_until 30 'test "$(results_count)" -ge '"$n" || fail "$name: $(results_count)/$n results"
}
check_job() { # ID: ok, one attempt, one throttle
  [ "$(result_of "$1" state)" = ok ] || fail "$1: $(result_of "$1" state) $(result_of "$1" reason)"
  [ "$(result_of "$1" attempts)" -eq 1 ] || fail "$1: a throttle spent an attempt"
  [ "$(result_of "$1" throttled)" -eq 1 ] || fail "$1: throttled $(result_of "$1" throttled)"
}
gap() { # ACCOUNT: ms between its first two requests
  times_of "$1" | head -2 | awk 'NR == 1 { a = $1 } NR == 2 { print $1 - a }'
}

# ---- M: Meta, a 400 with an error code in the body
phase m '{"preset": "meta-marketing", "host": "127.0.0.1", "limits": {"account": "acct", "app": "dev"}}'
script '[{"path":"/v1/adaccounts/m1/campaigns","status":400,
  "headers":{"X-Ad-Account-Usage":"{\"acc_id_util_pct\":100,\"reset_time_duration\":2}"},
  "body":"{\"error\":{\"message\":\"(#80004) There have been too many calls to this ad-account.\",\"type\":\"OAuthException\",\"code\":80004,\"error_subcode\":2446079}}"}]'
run_jobs m 2 "$(job M-1 m1)" "$(job M-2 m1)"
[ "$(stream_field results throttled | awk '{ s += $1 } END { print s }')" -eq 1 ] ||
  fail "M: one throttle expected: $(stream_field results throttled)"
[ "$(stream_field results attempts | sort -u)" = 1 ] || fail "M: a throttle spent an attempt"
[ "$(stream_field results state | grep -cx ok)" -eq 2 ] || fail "M: not both ok"
# the next request to the account after the 400 (one already on the wire,
# within 50 ms of it, does not count)
g=$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" | jq '
  [.requests[] | select(.account == "m1")] as $r |
  ([$r[] | select(.status == 400) | .t_ms] | min) as $t |
  ([$r[] | select(.t_ms > $t + 50) | .t_ms] | min) - $t')
[ "$g" -ge 1900 ] || fail "M: the account was sent to $g ms after the throttle (delay 2 s)"
echo "M: 400 code 80004 paused acct:m1 for $g ms; both jobs ok"
stop_workers "$WORKER_PID"

# ---- G: Google Ads, the developer token's quota
phase g '{"preset": "google-ads", "host": "127.0.0.1", "limits": {"developer": "dev", "account": "acct"}}'
script '[{"path":"/v1/adaccounts/g1/campaigns","status":429,
  "body":"{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\",\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":\"type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure\",\"errors\":[{\"errorCode\":{\"quotaError\":\"RESOURCE_EXHAUSTED\"},\"message\":\"Too many requests.\",\"details\":{\"quotaErrorDetails\":{\"rateScope\":\"DEVELOPER\",\"rateName\":\"Number of operations for basic access\",\"retryDelay\":\"2s\"}}}]}]}}"}]'
printf '%s\n' "$(job G-1 g1)" >"$TEST_TMP/g1.jsonl"
start_worker "$TEST_TMP/g.json" wg
"$PACER" submit --config "$TEST_TMP/g.json" "$TEST_TMP/g1.jsonl" 2>/dev/null || fail "G: submit"
wait_until 10 'test -n "$(times_of g1)"' || fail "G: g1 never sent"
# the developer bucket's pause is in Redis, for every process
wait_until 10 'rcli HGET "${PREFIX}limit:dev" pause_reason | grep -q "rule google-ads.developer"' ||
  fail "G: no rule pause on the dev bucket: $(rcli HGETALL "${PREFIX}limit:dev")"
# the developer bucket is paused: another account's job waits as well
"$PACER" stats --config "$TEST_TMP/g.json" >"$TEST_TMP/g-stats.txt" 2>&1
printf '%s\n' "$(job G-2 g2)" >"$TEST_TMP/g2.jsonl"
"$PACER" submit --config "$TEST_TMP/g.json" "$TEST_TMP/g2.jsonl" 2>/dev/null || fail "G: submit 2"
wait_until 20 'test "$(results_count)" -ge 2' || fail "G: $(results_count)/2 results"
check_job G-1
t429=$(times_of g1 | head -1)
tg2=$(times_of g2 | head -1)
[ $((tg2 - t429)) -ge 1900 ] ||
  fail "G: account g2 was sent $((tg2 - t429)) ms after a developer-token throttle (retryDelay 2s)"
grep -q "rule google-ads.developer" "$TEST_TMP/g-stats.txt" ||
  fail "G: pacer stats does not name the rule: $(cat "$TEST_TMP/g-stats.txt")"
mport=$(sed -n 's/.*metrics_port=\([0-9]*\).*/\1/p' "$TEST_TMP/wg.log" | head -1)
[ -n "$mport" ] || fail "G: the worker logged no metrics_port"
# (whole text first: grep -q would cut curl off, and pipefail fail it)
metrics=$(curl -fsS "http://127.0.0.1:$mport/metrics") || fail "G: /metrics"
grep -q 'pacer_bucket_pauses_total{limit="dev",bucket="dev",cause="rule"} 1' <<<"$metrics" ||
  fail "G: metrics lack the rule pause: $(grep pauses_total <<<"$metrics")"
echo "G: 429 DEVELOPER paused the developer bucket; g2 waited $((tg2 - t429)) ms"
stop_workers "$WORKER_PID"

# ---- S: Snapchat, a bare 429
phase s '{"preset": "snapchat-marketing", "host": "127.0.0.1", "limits": {"token": "acct"}}'
script '[{"path":"/v1/adaccounts/s1/campaigns","status":429,"body":"{\"request_status\":\"ERROR\"}"}]'
run_jobs s 1 "$(job S-1 s1)"
check_job S-1
g=$(gap s1)
[ "$g" -ge 900 ] || fail "S: retried $g ms after a bare 429 (backoff floor 1 s)"
echo "S: bare 429 paused acct:s1 for $g ms"
stop_workers "$WORKER_PID"

# ---- T: TikTok, HTTP 200 with code 40100
phase t '{"preset": "tiktok-business", "host": "127.0.0.1", "limits": {"app": "dev"}}'
script '[{"path":"/v1/adaccounts/t1/campaigns","status":200,"body":"{\"code\":40100,\"message\":\"Too many requests. Please retry in some time.\",\"request_id\":\"x\",\"data\":{}}"}]'
run_jobs t 1 "$(job T-1 t1)"
check_job T-1
g=$(gap t1)
[ "$g" -ge 900 ] || fail "T: retried $g ms after code 40100"
rcli HGET "${PREFIX}limit:dev" pause_reason | grep -q "rule tiktok-business.app" ||
  fail "T: pause reason \"$(rcli HGET "${PREFIX}limit:dev" pause_reason)\""
echo "T: HTTP 200 code 40100 throttled, retried after $g ms, ok"
stop_workers "$WORKER_PID"
pass "throttle rules: Meta 400, Google Ads developer scope, Snapchat 429, TikTok 200"
