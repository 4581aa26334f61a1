#!/usr/bin/env bash
# Environment mix-ups (docs/CREDENTIALS.md, Environments): two OAuth2
# servers built on @node-oauth/oauth2-server (tests/node/oauth_server.js),
# "sandbox" and "production", each accepting only its own tokens.
#  1. Credential "box" (environment sandbox) gets its tokens from the
#     sandbox but its jobs go to production: 401 invalid_token. One refresh
#     and one replay prove a fresh token is refused too; the jobs end
#     credential_environment_mismatch with advice, not
#     unauthorized_after_refresh.
#  2. More jobs for that host fail at their first 401, without another
#     refresh (no refresh loop).
#  3. Credential "prod" (environment production) whose tokens production
#     accepts is not affected.
#  4. SIGHUP moves "prod" to the sandbox (environment and token_url) and
#     `pacer cred set` gives it a sandbox grant: production accepted its
#     old tokens, which says nothing of the new ones, so its jobs to
#     production end credential_environment_mismatch after one refresh
#     (a record kept across the change made them unauthorized_after_refresh).
. "$(dirname "$0")/lib.sh"

NODE_DIR="$(cd "$(dirname "$0")/../node" && pwd)"
[ -d "$NODE_DIR/node_modules/@node-oauth/oauth2-server" ] ||
  fail "@node-oauth/oauth2-server is not installed: run npm ci --prefix tests/node"
command -v node >/dev/null || fail "node is not installed (Debian: nodejs)"
export PACER_TEST_SECRET="client-secret-canary-7f3a9c"

for env in sandbox production; do
  node "$NODE_DIR/oauth_server.js" --port-file "$TEST_TMP/$env.json" \
    --secret "$PACER_TEST_SECRET" >"$TEST_TMP/$env.out" 2>"$TEST_TMP/$env.log" &
  PIDS+=($!)
done
wait_until 15 'test -s "$TEST_TMP/sandbox.json" && test -s "$TEST_TMP/production.json"' ||
  fail "the OAuth2 servers did not start"
SANDBOX="http://127.0.0.1:$(jq -r .port "$TEST_TMP/sandbox.json")"
PROD="http://127.0.0.1:$(jq -r .port "$TEST_TMP/production.json")"
stat_of() { curl -fsS "$1/admin/stats" | jq -r "$2"; }

# cfg PROD_IDP PROD_ENV: the config, "prod" getting its tokens from PROD_IDP
cfg() {
  write_config "$TEST_TMP/pacer.json" "\"lease_ms\": 5000, \"credentials\": {
  \"box\": {\"token_url\": \"$SANDBOX/token\", \"client_id\": \"pacer-test\",
            \"client_secret_env\": \"PACER_TEST_SECRET\", \"environment\": \"sandbox\",
            \"hosts\": [\"127.0.0.1\"], \"token_timeout_ms\": 3000, \"lock_ttl_ms\": 5000},
  \"prod\": {\"token_url\": \"$1/token\", \"client_id\": \"pacer-test\",
            \"client_secret_env\": \"PACER_TEST_SECRET\", \"environment\": \"$2\",
            \"hosts\": [\"127.0.0.1\"], \"token_timeout_ms\": 3000, \"lock_ttl_ms\": 5000}}"
  chmod 600 "$TEST_TMP/pacer.json"
}
cfg "$PROD" production
seed() { # NAME IDP
  (umask 077; curl -fsS -X POST "$2/admin/mint" | jq -r .refresh_token >"$TEST_TMP/rt-$1")
  "$PACER" cred set "$1" --refresh-token-file "$TEST_TMP/rt-$1" \
    --config "$TEST_TMP/pacer.json" >/dev/null 2>&1 || fail "cred set $1"
}
jobs() { # CRED ID_PREFIX N
  local i
  for i in $(seq 1 "$3"); do
    printf '{"id":"%s-%02d","url":"%s/api/items/%d","credential":"%s"}\n' "$2" "$i" "$PROD" "$i" "$1"
  done >"$TEST_TMP/$2.jsonl"
  "$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/$2.jsonl" 2>/dev/null || fail "submit $2"
}
reasons() { stream_field results reason | sort | uniq -c | tr -s ' '; }

seed box "$SANDBOX"
seed prod "$PROD"
jobs box B1 10
start_worker "$TEST_TMP/pacer.json" w
wait_until 30 'test "$(results_count)" -ge 10' || fail "1: $(results_count)/10: $(reasons)"
[ "$(stream_field results reason | grep -cx credential_environment_mismatch)" -eq 10 ] ||
  fail "1: reasons: $(reasons)"
result_of B1-01 error | grep -q "environment sandbox) was never accepted by 127.0.0.1" ||
  fail "1: no advice: $(result_of B1-01 error)"
[ "$(stat_of "$SANDBOX" .refresh_posts)" -eq 2 ] ||
  fail "1: $(stat_of "$SANDBOX" .refresh_posts) refresh POSTs (want the first token and one refresh)"
grep -q 'reason=credential_environment_mismatch' "$TEST_TMP/w.log" || fail "1: not logged"
echo "1: a sandbox token sent to production: 10 jobs credential_environment_mismatch after one refresh"

jobs box B2 10
wait_until 30 'test "$(results_count)" -ge 20' || fail "2: $(results_count)/20"
[ "$(stream_field results reason | grep -cx credential_environment_mismatch)" -eq 20 ] ||
  fail "2: reasons: $(reasons)"
[ "$(stat_of "$SANDBOX" .refresh_posts)" -eq 2 ] ||
  fail "2: $(stat_of "$SANDBOX" .refresh_posts) refresh POSTs: a refresh loop"
echo "2: 10 more jobs failed at their first 401; still 2 token POSTs"

jobs prod P 10
wait_until 30 'test "$(results_count)" -ge 30' || fail "3: $(results_count)/30"
[ "$(stream_field results state | grep -cx ok)" -eq 10 ] || fail "3: reasons: $(reasons)"
echo "3: the production credential's 10 jobs ok"

cfg "$SANDBOX" sandbox
kill -HUP "$WORKER_PID"
wait_until 15 'grep -q "msg=\"config reloaded\".*credentials.prod.environment changed" "$TEST_TMP/w.log"' ||
  fail "4: no reload: $(grep config "$TEST_TMP/w.log" | tail -3)"
posts=$(stat_of "$SANDBOX" .refresh_posts)
seed prod "$SANDBOX"
jobs prod P2 5
wait_until 30 'test "$(results_count)" -ge 35' || fail "4: $(results_count)/35"
[ "$(stream_field results reason | grep -cx credential_environment_mismatch)" -eq 25 ] ||
  fail "4: reasons: $(reasons)"
result_of P2-01 error | grep -q "environment sandbox) was never accepted by 127.0.0.1" ||
  fail "4: no advice: $(result_of P2-01 error)"
[ "$(stat_of "$SANDBOX" .refresh_posts)" -eq $((posts + 2)) ] ||
  fail "4: $(( $(stat_of "$SANDBOX" .refresh_posts) - posts )) refresh POSTs (want the first token and one refresh)"
echo "4: moved to the sandbox by SIGHUP: 5 jobs to production credential_environment_mismatch"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "worker did not stop"
for s in "$PACER_TEST_SECRET" $(cat "$TEST_TMP"/rt-*); do
  if grep -F -- "$s" "$TEST_TMP"/w.* >/dev/null; then fail "a secret in the worker's output"; fi
done
pass "environment mix-ups end credential_environment_mismatch after one refresh, without a refresh loop"
