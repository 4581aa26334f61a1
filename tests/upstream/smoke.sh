#!/usr/bin/env bash
# Smoke test for pacer-testapi: starts it on port 0 (several times, with
# different flags), calls every endpoint once with curl, checks status,
# headers and body, and stops it with SIGTERM (must exit 0).
#
#   usage: smoke.sh PATH/TO/pacer-testapi
#
# Needs curl, jq and gzip. Traffic goes to 127.0.0.1 only. Every wait is a
# condition polled until a deadline, never a bare sleep.
set -u
set -o pipefail

BIN=${1:?usage: smoke.sh PATH/TO/pacer-testapi}
for tool in curl jq gzip; do
  command -v "$tool" >/dev/null ||
    { echo "smoke: $tool not found: apt-get install -y $tool" >&2; exit 1; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pacer-testapi-smoke.XXXXXX")
PIDS=()
FAILS=0
CHECKS=0

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# wait_until DEADLINE_MS CMD...: polls CMD every 20 ms until it succeeds;
# returns 1 when the deadline passes first.
wait_until() {
  local deadline=$(( $(now_ms) + $1 ))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -ge "$deadline" ] && return 1
    sleep 0.02
  done
}

# check NAME CMD...: one assertion.
check() {
  local name=$1
  shift
  CHECKS=$((CHECKS + 1))
  if "$@" >/dev/null 2>&1; then
    return 0
  fi
  FAILS=$((FAILS + 1))
  echo "FAIL: $name" >&2
  echo "  status=$(cat "$TMP/code" 2>/dev/null) body=$(head -c 300 \
"$TMP/body" 2>/dev/null)" >&2
}

# start [FLAGS...]: starts the server; sets PID, URL.
start() {
  # Emptied here, before the start, so the wait below never reads the
  # previous instance's "listening port=" (a background job's redirect
  # truncates only when it runs).
  : >"$TMP/out"
  "$BIN" --port 0 "$@" >"$TMP/out" 2>"$TMP/err" &
  PID=$!
  PIDS+=("$PID")
  if ! wait_until 10000 grep -q '^listening port=' "$TMP/out"; then
    echo "FAIL: pacer-testapi $* did not start:" >&2
    cat "$TMP/err" >&2
    exit 1
  fi
  check "first stdout line is 'listening port=N'" \
    grep -qE '^listening port=[0-9]+$' <(head -n 1 "$TMP/out")
  URL="http://127.0.0.1:$(sed -n 's/^listening port=//p' "$TMP/out")"
}

exited() {
  [ ! -e "/proc/$1" ] || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat"
}

# stop: SIGTERM, then the process must exit 0 within 5 s.
stop() {
  local rc
  kill -TERM "$PID"
  if ! wait_until 5000 exited "$PID"; then
    check "exits within 5 s of SIGTERM" false
    return
  fi
  wait "$PID"
  rc=$?
  check "exit status 0 after SIGTERM (got $rc)" test "$rc" = 0
}

# req [CURL ARGS...]: one request; leaves $TMP/code, $TMP/head, $TMP/body,
# $TMP/time (seconds) and $TMP/rc (curl's exit status).
req() {
  curl -sS -o "$TMP/body" -D "$TMP/head" \
    -w '%{http_code} %{time_total}' "$@" >"$TMP/w" 2>"$TMP/curlerr"
  echo $? >"$TMP/rc"
  cut -d' ' -f1 <"$TMP/w" >"$TMP/code"
  cut -d' ' -f2 <"$TMP/w" >"$TMP/time"
}

code_is() { [ "$(cat "$TMP/code")" = "$1" ]; }
body_is() { [ "$(cat "$TMP/body")" = "$1" ]; }
json_ok() { jq -e "$1" "$TMP/body"; }
header_has() { tr -d '\r' <"$TMP/head" | grep -qiF -- "$1"; }
size_is() { [ "$(stat -c %s "$TMP/body")" = "$1" ]; }
took_at_least() {
  awk -v t="$(cat "$TMP/time")" -v m="$1" 'BEGIN { exit !(t >= m) }'
}
stat_ok() { curl -fsS "$URL/stats" | jq -e "$1"; }

# ------------------------------------------------------------------ CLI
"$BIN" --help >"$TMP/help"
check "--help exits 0 and lists --rate" grep -q -- '--rate' "$TMP/help"
"$BIN" --rate fast >/dev/null 2>&1
check "a bad flag value exits 2" test $? = 2

# ------------------------------------------------------ plain endpoints
start --body-bytes 2048 --seed 42

req "$URL/fast"
check "/fast 200" code_is 200
check "/fast body ok" body_is ok
curl -sS -o /dev/null -o /dev/null -w '%{num_connects}\n' \
  "$URL/fast" "$URL/fast" >"$TMP/conns"
check "/fast keeps the connection alive" test "$(tail -n 1 "$TMP/conns")" = 0

req -X PATCH "$URL/echo/x?a=1&b=two%20words&a=2" -H 'X-Test: yes' \
  -H 'Idempotency-Key: idem-1' --data-raw 'hello body'
check "/echo 200" code_is 200
check "/echo method" json_ok '.method == "PATCH"'
check "/echo path" json_ok '.path == "/echo/x"'
check "/echo raw query" json_ok '.query == "a=1&b=two%20words&a=2"'
check "/echo args" json_ok '.args.a == "1" and .args.b == "two words"'
check "/echo headers" json_ok '.headers["x-test"] == "yes"'
check "/echo header list" json_ok '[.header_list[][0]] | index("X-Test")'
check "/echo body" json_ok '.body == "hello body" and .body_bytes == 10'

req "$URL/status/503?retry_after=7&header=X-Why:%20test"
check "/status/503 status" code_is 503
check "/status Retry-After" header_has 'Retry-After: 7'
check "/status header=" header_has 'X-Why: test'
req "$URL/status/204"
check "/status/204" code_is 204
check "/status/204 empty body" size_is 0
req "$URL/status/42"
check "/status/42 rejected" code_is 400

req "$URL/slow?ms=200"
check "/slow 200" code_is 200
check "/slow body" json_ok '.slept_ms == 200'
check "/slow waited" took_at_least 0.2
req "$URL/slow?ms=60001"
check "/slow cap" code_is 400

req "$URL/big?bytes=100000"
check "/big 200" code_is 200
check "/big size" size_is 100000
check "/big Content-Length" header_has 'Content-Length: 100000'
check "/big pattern" test "$(head -c 5 "$TMP/body")" = abcde
req "$URL/big-chunked?bytes=300000&status=500"
check "/big-chunked status=" code_is 500
check "/big-chunked size" size_is 300000
check "/big-chunked chunked" header_has 'Transfer-Encoding: chunked'

req "$URL/gzip-bomb?bytes=10485760"
check "/gzip-bomb 200" code_is 200
check "/gzip-bomb Content-Encoding" header_has 'Content-Encoding: gzip'
check "/gzip-bomb is small on the wire" \
  test "$(stat -c %s "$TMP/body")" -lt 20000
check "/gzip-bomb valid gzip" gzip -t "$TMP/body"
check "/gzip-bomb inflates to N bytes" \
  test "$(gzip -dc "$TMP/body" | wc -c)" = 10485760
check "/gzip-bomb inflates to zeros" \
  test "$(gzip -dc "$TMP/body" | tr -d '\000' | wc -c)" = 0

req "$URL/drip?bytes=3&interval_ms=100"
check "/drip 200" code_is 200
check "/drip body" body_is ddd
check "/drip chunked" header_has 'Transfer-Encoding: chunked'
check "/drip is slow" took_at_least 0.2

req -X PUT "$URL/v1/adaccounts/ACCT-A/campaigns" \
  -H 'Content-Type: application/json' --data-raw '{"name":"c1"}'
check "PUT campaigns 200" code_is 200
check "PUT campaigns body" \
  json_ok '.ok and .account == "ACCT-A" and .received_bytes == 13 and
           (.campaign_id | type) == "number"'
req -X POST "$URL/v1/adaccounts/ACCT-A/campaigns" --data-raw '{"name":'
check "POST campaigns bad JSON 400" code_is 400
check "POST campaigns bad JSON error" json_ok '.error == "invalid_json"'
req -X GET "$URL/v1/adaccounts/ACCT-A/campaigns"
check "GET campaigns 405" code_is 405
req "$URL/v1/campaigns/C-9/stats?account=ACCT-B"
check "campaign stats 200" code_is 200
check "campaign stats is --body-bytes long" size_is 2048
check "campaign stats JSON" \
  json_ok '.campaign_id == "C-9" and .account == "ACCT-B"'
req "$URL/v1/scoped"
check "/v1/scoped 403" code_is 403
check "/v1/scoped WWW-Authenticate" header_has \
  'WWW-Authenticate: Bearer error="insufficient_scope", scope="x:write"'
req "$URL/nope"
check "unknown path 404" code_is 404

check "/stats counts requests" stat_ok '.requests >= 15 and .by_path.fast >= 3'
check "/stats by status" \
  stat_ok '.by_status["404"] == 1 and .by_status["503"] == 1'
check "/stats by account" stat_ok '.by_account["ACCT-A"].requests == 3'
check "/stats windows" stat_ok '.max_per_1s >= 1 and .in_flight == 0'
req "$URL/admin/requests?since=0"
check "/admin/requests records echo" \
  json_ok '[.requests[] | select(.path == "/echo/x")][0].idempotency_key
           == "idem-1"'
req -X POST "$URL/admin/reset"
check "/admin/reset 200" code_is 200
check "/admin/reset clears" stat_ok '.requests == 0 and .by_status == {}'

req -X POST "$URL/admin/script" --data-raw \
  '[{"path":"/fast","status":502,"headers":{"X-S":"1"},"body":"{}"},
    {"path":"/fast","drop":true}]'
check "/admin/script queued" json_ok '.queued == 2'
req "$URL/fast"
check "scripted reply status" code_is 502
check "scripted reply header" header_has 'X-S: 1'
req "$URL/fast"
check "scripted drop closes" test "$(cat "$TMP/rc")" = 52
req "$URL/fast"
check "script used up" code_is 200

# Shutdown while a request sleeps: the sleeper is cut short, exit is 0.
curl -s -o /dev/null "$URL/slow?ms=30000" &
check "slow request in flight" wait_until 5000 stat_ok '.in_flight == 1'
stop
wait

# ------------------------------------- auth, rotation, rate limit, log
start --rate 3/s --require-auth --rotate --token-ttl 1s --retry-after abc \
  --log "$TMP/requests.jsonl"

req "$URL/v1/campaigns/1/stats"
check "no token 401" code_is 401
check "no token: no error code" header_has 'WWW-Authenticate: Bearer realm='
req -X POST "$URL/oauth2/access_token" \
  -d 'grant_type=refresh_token&refresh_token=RT-0&client_id=cid'
check "refresh RT-0 200" code_is 200
check "refresh RT-0 grant" json_ok '.access_token == "AT-1" and
  .refresh_token == "RT-1" and .token_type == "Bearer" and .expires_in == 1'
check "token response no-store" header_has 'Cache-Control: no-store'
req "$URL/v1/campaigns/1/stats?account=ACCT-A" -H 'Authorization: Bearer AT-1'
check "valid token 200" code_is 200

expired() {
  req "$URL/v1/campaigns/1/stats" -H 'Authorization: Bearer AT-1'
  code_is 401
}
check "AT-1 expires after --token-ttl" wait_until 5000 expired
check "expired WWW-Authenticate" header_has \
  'WWW-Authenticate: Bearer error="invalid_token", '\
'error_description="The access token expired"'

req -X POST "$URL/oauth2/access_token" -u cid:secret \
  -d 'grant_type=refresh_token&refresh_token=RT-1'
check "rotate RT-1 -> RT-2" json_ok '.refresh_token == "RT-2"'
req -X POST "$URL/oauth2/access_token" \
  -d 'grant_type=refresh_token&refresh_token=RT-1'
check "reused RT-1 400" code_is 400
check "reused RT-1 invalid_grant" json_ok '.error == "invalid_grant"'
req -X POST "$URL/oauth2/access_token" \
  -d 'grant_type=refresh_token&refresh_token=RT-2'
check "family revoked: RT-2 refused" json_ok '.error == "invalid_grant"'
check "token stats" stat_ok '.token_posts == 4 and
  .tokens.family_revocations == 1 and .tokens.invalid_grant == 2'

req -X POST "$URL/admin/mint"
check "/admin/mint" \
  json_ok '.access_token == "AT-3" and .refresh_token == "RT-3"'
req -X POST "$URL/admin/expire"
req "$URL/v1/scoped" -H 'Authorization: Bearer AT-3'
check "/admin/expire expires tokens" code_is 401

# Rate limit: 5 back-to-back requests, limit 3 per 1 s window.
req -X POST "$URL/admin/mint"
AT=$(jq -r .access_token "$TMP/body")
curl -sS -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
  -D "$TMP/bursthead" -w '%{http_code}\n' -H "Authorization: Bearer $AT" \
  "$URL/v1/campaigns/[1-5]/stats?account=ACCT-R" >"$TMP/codes"
check "limit admits 3" test "$(grep -c '^200$' "$TMP/codes")" = 3
check "limit refuses 2" test "$(grep -c '^429$' "$TMP/codes")" = 2
check "429 carries --retry-after" grep -qx 'Retry-After: abc.' \
  "$TMP/bursthead"
check "limit stats" stat_ok '.by_account["ACCT-R"].limited == 2 and
  .by_account["ACCT-R"].max_per_1s == 5'

req -X POST "$URL/admin/revoke"
req -X POST "$URL/oauth2/access_token" \
  -d 'grant_type=refresh_token&refresh_token=RT-4'
check "/admin/revoke revokes refresh tokens" code_is 400

check "log has one JSON line per request" \
  test "$(jq -c . "$TMP/requests.jsonl" | wc -l)" -ge 14
check "log lines carry status and token prefix" \
  jq -s -e 'map(select(.token == "AT-1" and .status == 200)) | length > 0' \
  "$TMP/requests.jsonl"
stop

# --token-rate: an app (per-token) limit over the per-account one. Five
# accounts, one request each, under 2/s per account: the token's 3/s
# admits 3 and refuses 2.
start --rate 2/s --token-rate 3/s --require-auth
req -X POST "$URL/admin/mint"
AT=$(jq -r .access_token "$TMP/body")
curl -sS -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
  -w '%{http_code}\n' -H "Authorization: Bearer $AT" \
  "$URL/v1/campaigns/1/stats?account=T-[1-5]" >"$TMP/codes"
check "token limit admits 3" test "$(grep -c '^200$' "$TMP/codes")" = 3
check "token limit refuses 2" test "$(grep -c '^429$' "$TMP/codes")" = 2
check "token limit stats" stat_ok "(.by_token[\"$AT\"].limited == 2) and
  ([.by_account[] | .limited] | add == 0)"
stop

# -------------------------------------------- injected failures, latency
start --fail-rate 1 --latency-ms 100-150 --seed 1
req "$URL/v1/campaigns/1/stats"
check "--fail-rate 1 gives 503" code_is 503
check "--latency-ms delays" took_at_least 0.1
stop

start --drop-rate 1
req "$URL/v1/campaigns/1/stats"
check "--drop-rate 1 closes without a response" test "$(cat "$TMP/rc")" = 52
check "drop counted" stat_ok '.dropped == 1 and .by_status["0"] == 1'
stop

if [ "$FAILS" -ne 0 ]; then
  echo "smoke: $FAILS of $CHECKS checks failed" >&2
  exit 1
fi
echo "smoke: all $CHECKS checks passed"
