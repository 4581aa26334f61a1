#!/usr/bin/env bash
# The dashboard's login and its protection against cross-site request
# forgery, with curl (docs/METRICS.md "Logging in", "Actions"):
# A: POST /login with the token answers an HttpOnly, SameSite=Strict
#    session cookie that does not hold the token; a wrong token or a
#    foreign Origin gets no cookie.
# B: a state-changing POST authenticated by the cookie is refused (403)
#    without X-Pacer-CSRF, with a wrong one, with a foreign Origin or a
#    cross-site Sec-Fetch-Site, and (415) without a JSON body, and Redis
#    is unchanged; with them all right, it pauses the bucket.
# C: bearer scripts need no CSRF token, but a foreign Origin is refused
#    for them too; pause all sets the pause of every bucket in Redis
#    (store/control.h), a bucket's resume leaves it and says so, resume
#    all ends it; logout ends the session.
# D: GET /api/job shows a dead job's request with its secret redacted.
# E: without a token (loopback), POSTs still need the CSRF token, and a
#    Host that is not a loopback name is refused (DNS rebinding).
. "$(dirname "$0")/lib.sh"

SECRET="sk-csrf-$$-do-not-leak"
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
MPORT=$(metrics_port)
BASE="http://127.0.0.1:$MPORT"
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"c-dead\",\"url\":\"$TESTAPI_URL/status/404\",\"limit_key\":\"a1\",\"headers\":{\"X-Api-Key\":\"$SECRET\"}}" >/dev/null
wait_until 20 'test "$(rcli XLEN "${PREFIX}dead")" = 1' || fail "no dead letter"
wait_until 10 'test "$(rcli EXISTS "${PREFIX}limit:acct:a1")" = 1' || fail "no bucket state"
op() { rcli HGET "${PREFIX}limit:acct:a1" op_until; }
code() { curl -s -o "$TEST_TMP/body" -w '%{http_code}' "$@"; }

# ---- A
c=$(code -D "$TEST_TMP/h-bad" --data-urlencode "token=wrong$token" "$BASE/login")
[ "$c" = 303 ] || fail "A: wrong token: $c"
grep -qi '^set-cookie' "$TEST_TMP/h-bad" && fail "A: a wrong token got a cookie"
grep -qi '^location: /login?failed=1' "$TEST_TMP/h-bad" || fail "A: no way back to the form"
c=$(code -D "$TEST_TMP/h-x" -H "Origin: http://evil.example" \
  --data-urlencode "token=$token" "$BASE/login")
[ "$c" = 403 ] || fail "A: login from a foreign Origin: $c"
grep -qi '^set-cookie' "$TEST_TMP/h-x" && fail "A: a foreign Origin got a cookie"
[ "$(code "$BASE/")" = 401 ] || fail "A: / without login"
grep -q 'action="/login"' "$TEST_TMP/body" || fail "A: / without login shows no login form"
c=$(code -D "$TEST_TMP/h-ok" -H "Origin: $BASE" --data-urlencode "token=$token" "$BASE/login")
[ "$c" = 303 ] || fail "A: login: $c"
cookie=$(grep -i '^set-cookie:' "$TEST_TMP/h-ok" | tr -d '\r')
grep -q 'HttpOnly' <<<"$cookie" && grep -q 'SameSite=Strict' <<<"$cookie" ||
  fail "A: cookie flags: $cookie"
grep -q "$token" <<<"$cookie" && fail "A: the token is in the cookie"
sid=$(sed -n 's/.*pacer_session=\([0-9a-f]*\);.*/\1/p' <<<"$cookie")
[ "${#sid}" = 64 ] || fail "A: session id: '$sid'"
jar=(-H "Cookie: pacer_session=$sid")
[ "$(code "${jar[@]}" "$BASE/api/session")" = 200 ] || fail "A: the cookie does not authenticate"
csrf=$(jq -r .csrf "$TEST_TMP/body")
[ "${#csrf}" = 64 ] && [ "$csrf" != "$sid" ] || fail "A: csrf token: $csrf"
echo "A: login sets an HttpOnly SameSite=Strict session cookie; wrong token or Origin refused"

# ---- B
post() { # PATH BODY CURL-ARGS... -> status
  local p=$1 b=$2
  shift 2
  code -X POST -H 'Content-Type: application/json' --data "$b" "$@" "$BASE$p"
}
pause='{"bucket":"acct:a1"}'
before=$(op)
[ "$(post /api/pause "$pause" "${jar[@]}")" = 403 ] || fail "B: no CSRF token: not 403"
bad=$(tr '0-9a-f' '1-9a-f0' <<<"$csrf") # every digit changed
[ "$(post /api/pause "$pause" "${jar[@]}" -H "X-Pacer-CSRF: $bad")" = 403 ] ||
  fail "B: wrong CSRF token: not 403"
[ "$(post /api/pause "$pause" "${jar[@]}" -H "X-Pacer-CSRF: $sid")" = 403 ] ||
  fail "B: the session id as CSRF token: not 403"
[ "$(post /api/pause "$pause" "${jar[@]}" -H "X-Pacer-CSRF: $csrf" -H "Origin: http://evil.example")" = 403 ] ||
  fail "B: foreign Origin: not 403"
[ "$(post /api/pause "$pause" "${jar[@]}" -H "X-Pacer-CSRF: $csrf" -H "Origin: null")" = 403 ] ||
  fail "B: Origin null: not 403"
[ "$(post /api/pause "$pause" "${jar[@]}" -H "X-Pacer-CSRF: $csrf" -H "Sec-Fetch-Site: cross-site")" = 403 ] ||
  fail "B: cross-site Sec-Fetch-Site: not 403"
[ "$(code -X POST -H 'Content-Type: text/plain' --data "$pause" "${jar[@]}" -H "X-Pacer-CSRF: $csrf" "$BASE/api/pause")" = 415 ] ||
  fail "B: text/plain body: not 415"
[ "$(post /api/dead/retry '{"all":true}' "${jar[@]}" -H "Origin: http://evil.example")" = 403 ] ||
  fail "B: dead retry from a foreign Origin: not 403"
[ "$(post /api/dead/delete '{"all":true}' "${jar[@]}")" = 403 ] ||
  fail "B: dead delete without CSRF: not 403"
[ "$(post /api/cancel '{"ids":["c-dead"]}' "${jar[@]}")" = 403 ] ||
  fail "B: cancel without CSRF: not 403"
[ "$(post /api/pause "$pause")" = 401 ] || fail "B: no auth: not 401"
[ "$(op)" = "$before" ] || fail "B: a refused POST changed op_until: '$before' -> '$(op)'"
[ "$(rcli XLEN "${PREFIX}dead")" = 1 ] || fail "B: a refused POST changed the dead letters"
[ "$(rcli EXISTS "${PREFIX}deadjob:c-dead")" = 1 ] || fail "B: a refused POST dropped the kept job"
[ "$(rcli ZCARD "${PREFIX}cancel")" = 0 ] || fail "B: a refused POST asked a cancel"
c=$(post /api/pause "$pause" "${jar[@]}" -H "X-Pacer-CSRF: $csrf" -H "Origin: $BASE" -H "Sec-Fetch-Site: same-origin")
[ "$c" = 200 ] || fail "B: the right POST: $c $(cat "$TEST_TMP/body")"
[ "$(op)" = 4503599627370496 ] || fail "B: pause did not reach Redis: $(op)"
[ "$(post /api/pause '{"bucket":"acct:nope"}' "${jar[@]}" -H "X-Pacer-CSRF: $csrf")" = 404 ] ||
  fail "B: unknown bucket: not 404"
grep -q 'no limit bucket' "$TEST_TMP/body" || fail "B: unknown bucket: $(cat "$TEST_TMP/body")"
[ "$(post /api/cancel '{"ids":["bad id"]}' "${jar[@]}" -H "X-Pacer-CSRF: $csrf")" = 400 ] ||
  fail "B: a bad id: not 400"
echo "B: cookie POSTs without/with a wrong CSRF token, foreign Origin, cross-site: 403, Redis unchanged"

# ---- C
bearer=(-H "Authorization: Bearer $token")
[ "$(post /api/resume "$pause" "${bearer[@]}" -H "Origin: http://evil.example")" = 403 ] ||
  fail "C: bearer with a foreign Origin: not 403"
[ "$(op)" = 4503599627370496 ] || fail "C: a refused resume changed op_until"
[ "$(post /api/resume "$pause" "${bearer[@]}")" = 200 ] || fail "C: bearer resume: $(cat "$TEST_TMP/body")"
jq -e '.resumed == 1' "$TEST_TMP/body" >/dev/null || fail "C: $(cat "$TEST_TMP/body")"
case "$(op)" in "" | 0) ;; *) fail "C: resume did not reach Redis: $(op)" ;; esac
[ "$(post /api/pause '{"all":true}' "${bearer[@]}")" = 200 ] || fail "C: pause all: $(cat "$TEST_TMP/body")"
jq -e '.paused_all == true and .all_paused_until_ms == 4503599627370' "$TEST_TMP/body" >/dev/null ||
  fail "C: pause all: $(cat "$TEST_TMP/body")"
[ "$(rcli GET "${PREFIX}oppause")" = 4503599627370496 ] || fail "C: pause all did not reach Redis"
[ "$(post /api/resume "$pause" "${bearer[@]}")" = 200 ] || fail "C: resume under pause all"
jq -e '.resumed == 0 and .all_paused_until_ms == 4503599627370' "$TEST_TMP/body" >/dev/null ||
  fail "C: resume of a bucket under pause all: $(cat "$TEST_TMP/body")"
[ "$(post /api/resume '{"all":true}' "${bearer[@]}")" = 200 ] || fail "C: resume all"
jq -e '.resumed_all == true' "$TEST_TMP/body" >/dev/null || fail "C: resume all: $(cat "$TEST_TMP/body")"
[ "$(rcli EXISTS "${PREFIX}oppause")" = 0 ] || fail "C: resume all left the pause of all"
# a fraction of a ms was cut to 0, "until resumed"; over 30 days (the
# CLI's --for) or a for_ms on a resume: 400 and nothing in Redis
for body in '{"all":true,"for_ms":0.5}' '{"all":true,"for_ms":2592000001}' \
  '{"all":true,"for_ms":-1}' '{"all":true,"for_ms":"5s"}'; do
  [ "$(post /api/pause "$body" "${bearer[@]}")" = 400 ] ||
    fail "C: pause $body: not 400: $(cat "$TEST_TMP/body")"
  grep -q 'whole number of ms' "$TEST_TMP/body" || fail "C: pause $body: $(cat "$TEST_TMP/body")"
  [ "$(rcli EXISTS "${PREFIX}oppause")" = 0 ] || fail "C: a refused pause $body reached Redis"
done
[ "$(post /api/resume '{"all":true,"for_ms":5}' "${bearer[@]}")" = 400 ] ||
  fail "C: resume with for_ms: not 400: $(cat "$TEST_TMP/body")"
wait_until 10 'test "$(code "${bearer[@]}" "$BASE/metrics")" = 200' || fail "C: bearer /metrics"
[ "$(post /logout '{}' "${jar[@]}" -H "X-Pacer-CSRF: $csrf")" = 200 ] || fail "C: logout"
[ "$(code "${jar[@]}" "$BASE/api/session")" = 401 ] || fail "C: the session outlived logout"
echo "C: bearer needs no CSRF token but a foreign Origin is refused; pause all / resume all; logout ends the session"

# ---- D
[ "$(code "${bearer[@]}" "$BASE/api/job?id=c-dead")" = 200 ] || fail "D: /api/job: $(cat "$TEST_TMP/body")"
jq -e '.dead.reason == "http_404" and .result.state == "failed"' "$TEST_TMP/body" >/dev/null ||
  fail "D: $(cat "$TEST_TMP/body")"
jq -e '.dead.job | fromjson | .headers["X-Api-Key"] == "[redacted]"' "$TEST_TMP/body" >/dev/null ||
  fail "D: the request is not shown redacted: $(jq -c .dead "$TEST_TMP/body")"
grep -q -- "$SECRET" "$TEST_TMP/body" && fail "D: the secret reached /api/job"
[ "$(code "${bearer[@]}" "$BASE/api/job?id=no-such")" = 200 ] || fail "D: unknown id"
jq -e '.result == null and .dead == null and .waiting == []' "$TEST_TMP/body" >/dev/null ||
  fail "D: unknown id: $(cat "$TEST_TMP/body")"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "worker did not stop"
echo "D: /api/job shows the dead job's request redacted"

# ---- E: without a token (loopback only) POSTs still need the page's CSRF
# token, and a Host other than a loopback name is refused (DNS rebinding).
write_config "$TEST_TMP/open.json" '"metrics_listen": "127.0.0.1:0",
  "limits": [{"name": "acct", "key": "limit_key", "rate": "50/s"}]'
start_worker "$TEST_TMP/open.json" wo
oport() { sed -n 's/.*metrics_port=\([1-9][0-9]*\).*/\1/p' "$TEST_TMP/wo.log" | head -1; }
wait_until 15 'test -n "$(oport)"' || fail "E: no metrics_port"
BASE="http://127.0.0.1:$(oport)"
[ "$(post /api/pause "$pause")" = 403 ] || fail "E: open POST without CSRF: not 403"
[ "$(op)" = "$before" ] || fail "E: a refused POST changed op_until"
[ "$(code -H "Host: evil.example:$(oport)" "$BASE/api/session")" = 403 ] ||
  fail "E: a foreign Host was served"
[ "$(code -H "Host: localhost:$(oport)" "$BASE/api/session")" = 200 ] ||
  fail "E: localhost refused"
[ "$(code "$BASE/api/session")" = 200 ] || fail "E: /api/session"
ocsrf=$(jq -r .csrf "$TEST_TMP/body")
[ "$(post /api/pause "$pause" -H "X-Pacer-CSRF: $ocsrf" -H "Origin: http://evil.example")" = 403 ] ||
  fail "E: open POST from a foreign Origin: not 403"
[ "$(post /api/pause "$pause" -H "X-Pacer-CSRF: $ocsrf")" = 200 ] ||
  fail "E: open POST with the token: $(cat "$TEST_TMP/body")"
[ "$(op)" = 4503599627370496 ] || fail "E: pause did not reach Redis"
echo "E: without a token: CSRF token still needed, foreign Host refused"
grep -q "$token" "$TEST_TMP"/*.log && fail "the token reached a log"
pass "login cookie, CSRF and Origin refusals change nothing in Redis; bearer keeps working"
