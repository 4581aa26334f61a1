#!/usr/bin/env bash
# The dashboard in a real browser (docs/METRICS.md): headless Chromium (Debian's
# chromium package) loads http://127.0.0.1:PORT/ from a worker while a
# throttled batch runs, and the page's own JavaScript must put real figures
# into the DOM: a lane by name with its wait reason and a non-zero send
# rate, the intake stream's depth, the credential and its status, the dead
# letters; never a secret. A screenshot of the page is kept as a test
# artifact: tests/integration/artifacts/dashboard.png in the build tree
# (PACER_ARTIFACTS=DIR to put it elsewhere).
#
# PACER_DASHBOARD_JOBS (jobs per account, default 120) and
# PACER_DASHBOARD_SHOT_AFTER (seconds of batch before the screenshot,
# default 0) make a longer run for docs/dashboard.png.
. "$(dirname "$0")/lib.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] ||
  fail "chromium not installed: apt-get install -y chromium (scripts/deps.sh)"
ART_DIR=${PACER_ARTIFACTS:-$PWD/artifacts}
NJOBS=${PACER_DASHBOARD_JOBS:-120}
SHOT_AFTER=${PACER_DASHBOARD_SHOT_AFTER:-0}
SECRET="sk-dashboard-$$-do-not-leak"
export PACER_TEST_SECRET="client-secret-dashboard-canary"
export PACER_TEST_RT="RT-0"

murl() { echo "http://127.0.0.1:$MPORT$1"; }
state() { curl -fsS "$(murl /api/state)"; }
browser() { # ARGS... : headless Chromium, bounded in time
  timeout 90 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu \
    --disable-dev-shm-usage --no-first-run --user-data-dir="$TEST_TMP/chrome" \
    --virtual-time-budget=4000 "$@" 2>>"$TEST_TMP/chromium.log"
}

# An ads API at 10 requests/s per account behind OAuth2; pacer is set to
# 15/s, so the upstream answers 429 and pacer pauses and slows down.
start_testapi --rate 10/s --retry-after 1 --require-auth --rotate \
  --latency-ms 20-80
write_config "$TEST_TMP/pacer.json" "\"concurrency\": 32,
  \"metrics_listen\": \"127.0.0.1:0\",
  \"limits\": [{\"name\": \"acct\", \"key\": \"limit_key\", \"rate\": \"15/s\"}],
  \"credentials\": {\"acme\": {\"token_url\": \"$TESTAPI_URL/oauth2/access_token\",
    \"client_id\": \"pacer-dashboard\", \"client_secret_env\": \"PACER_TEST_SECRET\",
    \"refresh_token_env\": \"PACER_TEST_RT\", \"hosts\": [\"127.0.0.1\"]}}"
chmod 600 "$TEST_TMP/pacer.json"
for a in east west north; do
  for i in $(seq 1 "$NJOBS"); do
    printf '{"id":"D-%s-%04d","method":"PUT","url":"%s/v1/adaccounts/%s/campaigns","limit_key":"%s","credential":"acme","body":{"status":"PAUSED","n":%d}}\n' \
      "$a" "$i" "$TESTAPI_URL" "$a" "$a" "$i"
  done
done >"$TEST_TMP/jobs.jsonl"
for i in 1 2 3; do
  printf '{"id":"D-gone-%d","url":"%s/status/404","limit_key":"misc","headers":{"X-Api-Key":"%s"}}\n' \
    "$i" "$TESTAPI_URL" "$SECRET"
done >>"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  2>/dev/null || fail "submit"
start_worker "$TEST_TMP/pacer.json" wk
t0=$(now_ms)
metrics_port() {
  sed -n 's/.*metrics_port=\([1-9][0-9]*\).*/\1/p' "$TEST_TMP/wk.log" | head -1
}
wait_until 15 'test -n "$(metrics_port)"' || fail "no metrics_port in the log"
MPORT=$(metrics_port)

# Take the page while the batch is in full swing: lanes hold work, the
# stream still has a backlog, requests flow, and the upstream said 429.
busy() {
  state | jq -e '([.lanes[] | select(.queued > 0 and .rate_per_s > 0)] |
      length) > 0 and .queue.jobs > 0 and .process.throttled > 0 and
    (.dead_letters | length) > 0' >/dev/null
}
wait_until 30 busy || fail "the batch never got busy: $(state | jq -c '{lanes, queue, process}')"
if [ "$SHOT_AFTER" -gt 0 ]; then # a longer history for the docs' picture
  wait_until "$((SHOT_AFTER + 5))" \
    'test "$(( $(now_ms) - t0 ))" -ge '"$((SHOT_AFTER * 1000))" ||
    fail "clock did not advance"
fi

browser --dump-dom "$(murl /)" >"$TEST_TMP/dom.html" ||
  fail "chromium --dump-dom failed: $(tail -5 "$TEST_TMP/chromium.log")"
dom="$TEST_TMP/dom.html"
grep -q 'id="live" class="ok"' "$dom" ||
  fail "the page never loaded /api/state: $(grep -o 'id="live"[^<]*<' "$dom")"
# A lane by name, with the reason its jobs wait.
grep -Eq 'data-lane="acct:(east|west|north)"' "$dom" || fail "no lane in the DOM"
grep -Eq 'data-k="why">(rate limit|paused by the upstream|sending|max_in_flight|process concurrency)' "$dom" ||
  fail "no wait reason in the DOM"
# A non-zero send rate in a lane row.
rates=$(grep -oE '<span class="rate">[0-9.,]+' "$dom" | sed 's/.*>//; s/,//g')
awk '$1 > 0 { found = 1 } END { exit !found }' <<<"$rates" ||
  fail "no non-zero lane rate in the DOM: $rates"
# The normal stream's depth is the real backlog.
depth=$(grep -oE 'id="card-jobs-normal"><div class="v">[0-9,]+' "$dom" |
  sed 's/.*>//; s/,//g')
[ -n "$depth" ] && [ "$depth" -gt 0 ] || fail "no queue depth in the DOM: '$depth'"
grep -q 'data-credential="acme"' "$dom" || fail "no credential row"
grep -Eq 'data-credential="acme".*badge b-(ok|refreshing|loading)' "$dom" ||
  fail "credential status missing"
grep -q 'D-gone-' "$dom" && grep -q 'http_404' "$dom" || fail "no dead letter in the DOM"
grep -q 'data-bucket="acct:east"' "$dom" || fail "no bucket row"
grep -q 'class="mark429"' "$dom" || fail "no 429 marked on the request-rate plot"
grep -q -- "$SECRET" "$dom" && fail "a secret header value reached the page"
grep -q "AT-[0-9]" "$dom" && fail "an access token reached the page"

browser --window-size=1280,900 --screenshot="$TEST_TMP/dashboard.png" \
  "$(murl /)" >/dev/null || fail "chromium --screenshot failed"
[ "$(head -c 8 "$TEST_TMP/dashboard.png" | od -An -tx1 | tr -d ' \n')" = \
  "89504e470d0a1a0a" ] || fail "the screenshot is not a PNG"
[ "$(stat -c %s "$TEST_TMP/dashboard.png")" -gt 20000 ] ||
  fail "the screenshot is suspiciously small"
mkdir -p "$ART_DIR" && cp "$TEST_TMP/dashboard.png" "$ART_DIR/dashboard.png" ||
  fail "cannot keep the screenshot in $ART_DIR"

kill -TERM "$WORKER_PID"
wait_until 60 '! alive '"$WORKER_PID" || fail "worker did not stop"
pass "Chromium shows lane rates ($(tr '\n' ' ' <<<"$rates")req/s), depth $depth, credential, dead letters; screenshot $ART_DIR/dashboard.png"
