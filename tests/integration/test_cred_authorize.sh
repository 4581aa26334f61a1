#!/usr/bin/env bash
# `pacer cred authorize` end to end (docs/CREDENTIALS.md, Signing in)
# against the authorization endpoint of a real OAuth2 server built on
# @node-oauth/oauth2-server (tests/node/oauth_server.js: a login and
# consent form, the authorization-code grant with PKCE, rotating refresh
# tokens), driven by curl as the user's browser.
#  1. A credential without any refresh token: its jobs park
#     (reauth_required). `cred authorize` prints the address; curl opens it,
#     fills in the login form, and follows the redirect to pacer's loopback
#     listener. pacer exchanges the code (with its PKCE verifier), stores
#     the tokens, releases the parked jobs; the running worker uses the new
#     access token without a refresh POST.
#  2. --paste: the redirect address is pasted on stdin instead (a host
#     without a browser); the generation moves on.
#  3. A redirect with another state (forged or stale) is refused, and so is
#     a denied consent: exit 1, nothing stored.
# The code, the tokens and the client secret appear in no output.
. "$(dirname "$0")/lib.sh"

NODE_DIR="$(cd "$(dirname "$0")/../node" && pwd)"
[ -d "$NODE_DIR/node_modules/@node-oauth/oauth2-server" ] ||
  fail "@node-oauth/oauth2-server is not installed: run npm ci --prefix tests/node"
command -v node >/dev/null || fail "node is not installed (Debian: nodejs)"
export PACER_TEST_SECRET="client-secret-canary-7f3a9c"

node "$NODE_DIR/oauth_server.js" --port-file "$TEST_TMP/idp.json" \
  --secret "$PACER_TEST_SECRET" >"$TEST_TMP/idp.out" 2>"$TEST_TMP/idp.log" &
PIDS+=($!)
wait_until 15 'test -s "$TEST_TMP/idp.json"' || fail "the OAuth2 server did not start: $(cat "$TEST_TMP/idp.log")"
IDP="http://127.0.0.1:$(jq -r .port "$TEST_TMP/idp.json")"
idp() { curl -fsS "$IDP/admin/stats" | jq -r "$1"; }

write_config "$TEST_TMP/pacer.json" "\"lease_ms\": 5000, \"credentials\": {
  \"acme\": {\"token_url\": \"$IDP/token\", \"authorize_url\": \"$IDP/authorize\",
             \"client_id\": \"pacer-test\", \"client_secret_env\": \"PACER_TEST_SECRET\",
             \"scopes\": [\"read\", \"offline_access\"], \"hosts\": [\"127.0.0.1\"],
             \"token_timeout_ms\": 5000, \"lock_ttl_ms\": 7000}}"
chmod 600 "$TEST_TMP/pacer.json"
HASH="${PREFIX}cred:acme"
ok_count() { stream_field results state | grep -cx ok; }
parked() { rcli ZCOUNT "${PREFIX}delayed" 4503599627370496 +inf; }

# authorize OUT [ARGS...]: starts the command in the background (stdin from
# the fifo $TEST_TMP/in.$OUT when --paste is given); sets AUTH_PID; waits
# for the printed address and sets AUTH_URL.
authorize() {
  local out=$1
  shift
  if [[ " $* " == *" --paste "* ]]; then
    mkfifo "$TEST_TMP/in.$out"
    "$PACER" cred authorize acme --config "$TEST_TMP/pacer.json" --no-browser \
      --wait 30 "$@" <"$TEST_TMP/in.$out" >"$TEST_TMP/$out.out" 2>"$TEST_TMP/$out.err" &
    AUTH_PID=$!
    exec 7>"$TEST_TMP/in.$out" # the command's stdin stays open until we write
  else
    "$PACER" cred authorize acme --config "$TEST_TMP/pacer.json" --no-browser \
      --wait 30 "$@" </dev/null >"$TEST_TMP/$out.out" 2>"$TEST_TMP/$out.err" &
    AUTH_PID=$!
  fi
  PIDS+=($AUTH_PID)
  wait_until 10 'grep -q "^  http" "$TEST_TMP/$out.out"' ||
    fail "$out: no address printed: $(cat "$TEST_TMP/$out.out" "$TEST_TMP/$out.err")"
  AUTH_URL=$(sed -n 's/^  \(http.*\)$/\1/p' "$TEST_TMP/$out.out")
}
# sign_in URL [ALLOWED]: the browser: opens the address, submits the login
# form; prints the address the provider redirects to (not followed).
sign_in() {
  local form args=() kv
  form=$(curl -fsS "$1") || fail "GET the authorization address"
  while IFS= read -r kv; do
    args+=(--data-urlencode "$(sed -E 's/^name="([^"]*)" value="([^"]*)"$/\1=\2/' <<<"$kv" |
      sed 's/&#38;/\&/g; s/&#34;/"/g; s/&#39;/'"'"'/g; s/&#60;/</g; s/&#62;/>/g')")
  done < <(grep -o 'name="[^"]*" value="[^"]*"' <<<"$form")
  curl -sS -o /dev/null -w '%{redirect_url}' "$IDP/authorize" "${args[@]}" \
    --data-urlencode username=alice --data-urlencode password=wonderland \
    --data-urlencode "allowed=${2:-true}"
}
finished() { ! alive "$AUTH_PID"; }
# auth_rc: the finished command's exit status, in AUTH_RC (not in a
# subshell: only this shell can wait for its child).
auth_rc() { wait "$AUTH_PID"; AUTH_RC=$?; }

# ---- 1: a new credential: jobs park, sign in through the loopback redirect
for i in $(seq 1 8); do
  printf '{"id":"P-%02d","url":"%s/api/items/%d","credential":"acme"}\n' "$i" "$IDP" "$i"
done >"$TEST_TMP/p.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/p.jsonl" 2>/dev/null || fail "submit"
start_worker "$TEST_TMP/pacer.json" w1
wait_until 20 'test "$(parked)" -eq 8' || fail "1: $(parked)/8 parked without a refresh token"
[ "$(rcli HGET "$HASH" status)" = reauth_required ] || fail "1: status $(rcli HGET "$HASH" status)"
authorize a1
for p in response_type=code client_id=pacer-test state= code_challenge= code_challenge_method=S256 \
  'scope=read+offline_access' 'redirect_uri=http%3A%2F%2F127.0.0.1%3A'; do
  [[ "$AUTH_URL" == *"$p"* ]] || fail "1: the address lacks $p: $AUTH_URL"
done
loc=$(sign_in "$AUTH_URL")
[[ "$loc" == http://127.0.0.1:*/callback\?code=* ]] || fail "1: the provider redirected to '$loc'"
curl -fsS "$loc" | grep -q "You can close this window" || fail "1: the loopback listener did not answer"
wait_until 20 finished || fail "1: cred authorize did not finish: $(cat "$TEST_TMP/a1.out")"
auth_rc; [ "$AUTH_RC" -eq 0 ] || fail "1: exit status: $(cat "$TEST_TMP/a1.err")"
grep -q "credential acme: signed in; tokens stored (generation 1" "$TEST_TMP/a1.out" ||
  fail "1: $(cat "$TEST_TMP/a1.out")"
grep -q "; 8 parked jobs released" "$TEST_TMP/a1.out" || fail "1: $(tail -1 "$TEST_TMP/a1.out")"
[ "$(idp .code_exchanges)" -eq 1 ] || fail "1: $(idp .code_exchanges) code exchanges"
wait_until 20 'test "$(results_count)" -ge 8' || fail "1: $(results_count)/8 after sign-in"
[ "$(ok_count)" -eq 8 ] || fail "1: not all ok: $(stream_field results reason | sort | uniq -c)"
[ "$(idp .refresh_posts)" -eq 0 ] || fail "1: $(idp .refresh_posts) refresh POSTs: the stored access token was not used"
[ "$(rcli HGET "$HASH" status)" = ok ] || fail "1: status $(rcli HGET "$HASH" status)"
echo "1: signed in through the loopback redirect; 8 parked jobs released and ok, no refresh needed"

# ---- 2: --paste
authorize a2 --paste
loc=$(sign_in "$AUTH_URL")
printf '%s\n' "$loc" >&7
exec 7>&-
wait_until 20 finished || fail "2: cred authorize --paste did not finish"
auth_rc; [ "$AUTH_RC" -eq 0 ] || fail "2: exit status: $(cat "$TEST_TMP/a2.err")"
grep -q "signed in; tokens stored (generation 2" "$TEST_TMP/a2.out" || fail "2: $(cat "$TEST_TMP/a2.out")"
[ "$(idp .code_exchanges)" -eq 2 ] || fail "2: $(idp .code_exchanges) code exchanges"
echo "2: --paste: the pasted redirect address signed in (generation 2)"

# ---- 3: a foreign state and a denied consent change nothing
gen=$(rcli HGET "$HASH" generation)
authorize a3 --paste
loc=$(sign_in "$AUTH_URL")
printf '%s\n' "$(sed -E 's/state=[0-9a-f]+/state=00000000000000000000000000000000/' <<<"$loc")" >&7
exec 7>&-
wait_until 20 finished || fail "3: did not finish"
auth_rc; [ "$AUTH_RC" -eq 1 ] || fail "3: a foreign state was not refused: $(cat "$TEST_TMP/a3.out" "$TEST_TMP/a3.err")"
grep -q "state does not match" "$TEST_TMP/a3.err" || fail "3: $(cat "$TEST_TMP/a3.err")"
authorize a4
loc=$(sign_in "$AUTH_URL" false)
curl -fsS "$loc" >/dev/null || fail "4: the loopback listener did not answer"
wait_until 20 finished || fail "4: did not finish"
auth_rc; [ "$AUTH_RC" -eq 1 ] || fail "4: a denied consent was not refused"
grep -q "the provider refused: access_denied" "$TEST_TMP/a4.err" || fail "4: $(cat "$TEST_TMP/a4.err")"
[ "$(rcli HGET "$HASH" generation)" = "$gen" ] || fail "3: a refused sign-in changed the stored state"
[ "$(idp .code_exchanges)" -eq 2 ] || fail "3: a refused sign-in exchanged a code"
echo "3: a foreign state and a denied consent: exit 1, nothing stored"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "worker did not stop"

# ---- nothing secret in any output
rt=$(rcli HGET "$HASH" refresh_token)
at=$(rcli HGET "$HASH" access_token)
for f in "$TEST_TMP"/a*.out "$TEST_TMP"/a*.err "$TEST_TMP"/w1.*; do
  for s in "$PACER_TEST_SECRET" "$rt" "$at"; do
    if grep -F -- "$s" "$f" >/dev/null; then fail "a secret in $f"; fi
  done
  if grep -E 'code=[A-Za-z0-9]' "$f" >/dev/null; then fail "an authorization code in $f"; fi
done
pass "cred authorize: sign-in with PKCE through the loopback redirect and --paste; parked jobs released"
