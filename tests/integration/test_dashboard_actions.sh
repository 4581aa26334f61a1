#!/usr/bin/env bash
# The dashboard's actions in a real browser (docs/METRICS.md "Actions"):
# headless Chromium (Debian's chromium) driven by playwright-core
# (tests/node/dashboard_actions.js) logs in through the form of a
# token-protected worker, pauses a bucket, retries a dead letter, finds
# and cancels a job, resumes, retries all dead letters after the page
# asks, and pauses and resumes all buckets (the pause of all, also of
# buckets first used later); after each click the script checks Redis. A failure leaves a
# screenshot in tests/integration/artifacts/ (PACER_ARTIFACTS=DIR).
. "$(dirname "$0")/lib.sh"

NODE_DIR="$(cd "$(dirname "$0")/../node" && pwd)"
[ -d "$NODE_DIR/node_modules/playwright-core" ] ||
  fail "playwright-core is not installed: run npm ci --prefix tests/node"
command -v node >/dev/null || fail "node is not installed (Debian: nodejs)"
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] ||
  fail "chromium not installed: apt-get install -y chromium (scripts/deps.sh)"
SECRET="sk-actions-$$-do-not-leak"
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$token" >"$TEST_TMP/token"
chmod 600 "$TEST_TMP/token"

start_testapi
write_config "$TEST_TMP/pacer.json" "\"metrics_listen\": \"127.0.0.1:0\",
  \"metrics_token_file\": \"$TEST_TMP/token\",
  \"limits\": [{\"name\": \"acct\", \"key\": \"limit_key\", \"rate\": \"50/s\"}]"
start_worker "$TEST_TMP/pacer.json" wk
metrics_port() {
  sed -n 's/.*metrics_port=\([1-9][0-9]*\).*/\1/p' "$TEST_TMP/wk.log" | head -1
}
wait_until 15 'test -n "$(metrics_port)"' || fail "no metrics_port in the log"
job() { rcli XADD "${PREFIX}jobs" '*' job "$1" >/dev/null; }
for i in 1 2; do
  job "{\"id\":\"d-$i\",\"url\":\"$TESTAPI_URL/status/404\",\"limit_key\":\"a1\",\"headers\":{\"X-Api-Key\":\"$SECRET\"}}"
done
job "{\"id\":\"c-1\",\"url\":\"$TESTAPI_URL/fast\",\"limit_key\":\"a2\",\"not_before\":$(( $(now_ms) + 600000 ))}"
wait_until 20 'test "$(rcli XLEN "${PREFIX}dead")" = 2' || fail "no dead letters"
wait_until 10 'test "$(rcli ZCARD "${PREFIX}delayed")" = 1' || fail "c-1 is not delayed"

BASE="http://127.0.0.1:$(metrics_port)" TOKEN="$token" REDIS_SOCK="$REDIS_SOCK" \
  PREFIX="$PREFIX" PACER="$PACER" CONFIG="$TEST_TMP/pacer.json" \
  ART_DIR="${PACER_ARTIFACTS:-$PWD/artifacts}" CHROMIUM="$CHROMIUM" \
  SECRET="$SECRET" timeout 60 node "$NODE_DIR/dashboard_actions.js" \
  >"$TEST_TMP/browser.out" 2>&1
rc=$?
cat "$TEST_TMP/browser.out"
[ "$rc" = 0 ] || fail "the browser run failed ($rc)"
grep -q "$token" "$TEST_TMP"/*.log && fail "the token reached a log"
grep -q -- "$SECRET" "$TEST_TMP"/*.log && fail "a secret reached a log"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "worker did not stop"
pass "Chromium logged in, paused, retried, cancelled, resumed, retried all, paused and resumed all; Redis agreed each time"
