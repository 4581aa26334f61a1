#!/usr/bin/env bash
# SIGHUP reloads throttle rules and credential settings in a running worker
# (README.md "Reload", docs/LIMITS.md "Throttle rules", docs/CREDENTIALS.md
# "Reload"), against pacer-testapi and the OAuth2 server of tests/node.
#  T. A rule is added by SIGHUP (the tiktok-business preset: HTTP 200 with
#     code 40100 is a throttle): before it, that answer is an ordinary ok;
#     after it, the next one is a throttle (no attempt spent, the limit
#     paused by the rule). 40 jobs run across the reload: each id has
#     exactly one result and one request.
#  X. Files with a bad throttle rule, then a bad credential, are refused
#     with `config reload refused: keeping the running config` and the
#     field; the rule keeps classifying and jobs keep flowing.
#  C. The credential's client secret (a file) and token_url change by
#     SIGHUP: after the access token expires, the next refresh goes to the
#     new token_url with the new secret (the provider accepts only it);
#     neither secret appears in the log or the results. A credential
#     added by the same SIGHUP is usable by the next job naming it (one
#     before the reload was refused: no such credential).
#  F. A refresh in flight when SIGHUP moves token_url back: it finishes at
#     the URL it was sent to, once (no replay, no reuse of a rotated
#     refresh token), and the next refresh goes to the new URL.
#  R. The rule removed by SIGHUP: the next such answer is ok again.
#  Z. A worker that started with no credentials gets its first one by
#     SIGHUP and uses it (its event subscriber starts then).
#  L. SIGHUP lowers lock_ttl_ms (9 s -> 2 s) while a refresh is in flight
#     (the provider answers after 6 s): the held lock is renewed with the
#     new lease at once and every third of it, so it never lapses under the
#     request; the answer is stored and the job is ok, one refresh POST.
#  H. The same SIGHUP takes "localhost" out of the credential's hosts: a
#     job to localhost that was waiting for that refresh (accepted before
#     the reload) is not sent with the token: it ends invalid_job.
. "$(dirname "$0")/lib.sh"

NODE_DIR="$(cd "$(dirname "$0")/../node" && pwd)"
[ -d "$NODE_DIR/node_modules/@node-oauth/oauth2-server" ] ||
  fail "@node-oauth/oauth2-server is not installed: run npm ci --prefix tests/node"
command -v node >/dev/null || fail "node is not installed (Debian: nodejs)"

S1="reload-secret-one-canary-51c2"
S2="reload-secret-two-canary-8d4e"
node "$NODE_DIR/oauth_server.js" --port-file "$TEST_TMP/idp.json" --secret "$S1" \
  >"$TEST_TMP/idp.out" 2>"$TEST_TMP/idp.log" &
PIDS+=($!)
wait_until 15 'test -s "$TEST_TMP/idp.json"' || fail "the OAuth2 server did not start: $(cat "$TEST_TMP/idp.log")"
IDP="http://127.0.0.1:$(jq -r .port "$TEST_TMP/idp.json")"
TOKEN_URL_T="http://127.0.0.1:$(jq -r .token_port "$TEST_TMP/idp.json")/token"
idp() { curl -fsS "$IDP/admin/stats" | jq -r "$1"; }
start_testapi --log "$TEST_TMP/req.jsonl"

CFG="$TEST_TMP/pacer.json"
TIKTOK='{"preset": "tiktok-business", "host": "127.0.0.1", "limits": {"app": "dev"}}'
# cfg RULES TOKEN_URL [CRED_EXTRA]: the worker's config file
cfg() {
  write_config "$CFG" "\"limits\": [{\"name\": \"dev\", \"rate\": \"20/s\"}],
  \"throttle_rules\": [$1],
  \"credentials\": {\"acme\": {\"token_url\": \"$2\", \"client_id\": \"pacer-test\",
    \"client_secret_file\": \"$TEST_TMP/secret\", \"hosts\": [\"127.0.0.1\"],
    \"token_timeout_ms\": 3000, \"lock_ttl_ms\": 5000${3:+, $3}}}"
  chmod 600 "$CFG"
}
(umask 077; printf '%s\n' "$S1" >"$TEST_TMP/secret")
cfg "" "$IDP/token"
rt=$(curl -fsS -X POST "$IDP/admin/mint" | jq -r .refresh_token)
(umask 077; printf '%s\n' "$rt" >"$TEST_TMP/rt")
"$PACER" cred set acme --refresh-token-file "$TEST_TMP/rt" --config "$CFG" >/dev/null 2>&1 ||
  fail "cred set acme"

script() { curl -fsS -X POST "$TESTAPI_URL/admin/script" -d "$1" >/dev/null || fail "script"; }
throttle_next() { # the next request to account t1 gets TikTok's "slow down"
  script '[{"path":"/v1/adaccounts/t1/campaigns","status":200,"body":"{\"code\":40100,\"message\":\"Too many requests.\",\"data\":{}}"}]'
}
add() { # ID URL [CREDENTIAL]
  rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"$1\",\"url\":\"$2\"${3:+,\"credential\":\"$3\"}}" >/dev/null
}
add_t() { # ID: a PUT to account t1 (pacer-testapi's campaigns)
  rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"$1\",\"method\":\"PUT\",\"url\":\"$TESTAPI_URL/v1/adaccounts/t1/campaigns\",\"body\":{}}" >/dev/null
}
reloads() { grep -c 'config reload' "$TEST_TMP/worker.log"; }
# hup: sends SIGHUP and waits for the worker's answer; prints its log line
hup() {
  local n
  n=$(reloads)
  kill -HUP "$WORKER_PID"
  wait_until 10 'test "$(reloads)" -gt '"$n" || fail "no answer to SIGHUP in the log"
  grep 'config reload' "$TEST_TMP/worker.log" | tail -1
}

start_worker "$CFG"

# ---- C1 (before any reload): the first token, from the old token_url
add C-1 "$IDP/api/one" acme
wait_until 15 'test "$(result_of C-1 state)" = ok' ||
  fail "C: C-1 $(result_of C-1 state) $(result_of C-1 reason)"
[ "$(idp .token_posts)" -eq 1 ] && [ "$(idp .token_port_posts)" -eq 0 ] ||
  fail "C: $(idp .token_posts) token POSTs, $(idp .token_port_posts) to the token port, before the reload"

# ---- T: a rule added by SIGHUP classifies the next answer
throttle_next
add_t T-1
wait_until 10 'test -n "$(result_of T-1 state)"' || fail "T: no result for T-1"
[ "$(result_of T-1 state)" = ok ] && [ "$(result_of T-1 throttled)" -eq 0 ] ||
  fail "T: without the rule, T-1 $(result_of T-1 state) throttled $(result_of T-1 throttled)"
for i in $(seq 1 40); do
  printf 'XADD %sjobs * job '\''{"id":"b-%d","url":"%s/fast"}'\''\n' "$PREFIX" "$i" "$TESTAPI_URL"
done | rcli >/dev/null
wait_until 10 'test "$(results_ids | grep -c "^b-")" -ge 2' || fail "T: the b- jobs did not start"
cfg "$TIKTOK" "$IDP/token"
line=$(hup)
echo "$line" | grep -q 'msg="config reloaded"' || fail "T: $line"
echo "$line" | grep -q 'throttle_rules.tiktok-business.app added' || fail "T: $line"
throttle_next
add_t T-2
wait_until 10 'test "$(result_of T-2 state)" = ok' || fail "T: T-2 $(result_of T-2 state) $(result_of T-2 reason)"
[ "$(result_of T-2 throttled)" -eq 1 ] || fail "T: after the reload, T-2 throttled $(result_of T-2 throttled)"
[ "$(result_of T-2 attempts)" -eq 1 ] || fail "T: the throttle spent an attempt"
rcli HGET "${PREFIX}limit:dev" pause_reason | grep -q "rule tiktok-business.app" ||
  fail "T: pause reason \"$(rcli HGET "${PREFIX}limit:dev" pause_reason)\""
wait_until 15 'test "$(results_ids | grep -c "^b-")" -ge 40' || fail "T: $(results_ids | grep -c '^b-') of 40 b- jobs"
[ "$(results_ids | grep '^b-' | sort -u | wc -l)" -eq 40 ] || fail "T: b- ids lost"
[ "$(results_ids | sort | uniq -d | wc -l)" -eq 0 ] || fail "T: an id has two results: $(results_ids | sort | uniq -d | head -3)"
[ "$(grep -c '"path":"/fast"' "$TEST_TMP/req.jsonl")" -eq 40 ] ||
  fail "T: $(grep -c '"path":"/fast"' "$TEST_TMP/req.jsonl") requests for 40 jobs"
echo "T: rule added by SIGHUP: 200 code 40100 ok before, a throttle after; 40 jobs across it, one result and one request each"

# ---- X: invalid files are refused; the running config stays
cp "$CFG" "$TEST_TMP/good.json"
cfg '{"preset": "tiktok-business", "limits": {"app": "nope"}}' "$IDP/token"
line=$(hup)
echo "$line" | grep -q 'config reload refused: keeping the running config' || fail "X: $line"
echo "$line" | grep -q 'pacer.json:[0-9]*:[0-9]*: throttle_rules (tiktok-business.app).pause' ||
  fail "X: the refusal does not name FILE:LINE:COL and the rule: $line"
echo "X: ${line#*comp=main }"
cfg "$TIKTOK" "ftp://127.0.0.1/token"
line=$(hup)
echo "$line" | grep -q 'config reload refused: keeping the running config' || fail "X: $line"
echo "$line" | grep -q 'credentials.acme.token_url' || fail "X: the refusal does not name the field: $line"
echo "$line" | grep -q 'pacer.json:[0-9]*:[0-9]*' || fail "X: the refusal does not name FILE:LINE:COL: $line"
echo "X: ${line#*comp=main }"
alive "$WORKER_PID" || fail "X: a refused reload killed the worker"
add X-1 "$TESTAPI_URL/fast"
throttle_next
add_t X-2
wait_until 10 'test "$(result_of X-1 state)" = ok && test "$(result_of X-2 state)" = ok' ||
  fail "X: jobs stopped after a refused reload: $(result_of X-1 state) $(result_of X-2 state)"
[ "$(result_of X-2 throttled)" -eq 1 ] || fail "X: the running rule was lost: X-2 throttled $(result_of X-2 throttled)"
echo "X: a bad rule and a bad credential are refused naming file and field; jobs flow, the rule still applies"

# ---- C2: new secret and token_url by SIGHUP; the next refresh uses both
add C-b0 "$IDP/api/b0" beta
wait_until 10 'test -n "$(result_of C-b0 state)"' || fail "C: no result for C-b0"
[ "$(result_of C-b0 state)" != ok ] || fail "C: a job named a credential not in the config and ran"
curl -fsS -X POST "$IDP/admin/config" -d "{\"secret\": \"$S2\"}" >/dev/null || fail "C: knobs"
(umask 077; printf '%s\n' "$S2" >"$TEST_TMP/secret")
rt=$(curl -fsS -X POST "$IDP/admin/mint" | jq -r .refresh_token)
(umask 077; printf '%s\n' "$rt" >"$TEST_TMP/rt-beta")
write_config "$CFG" "\"limits\": [{\"name\": \"dev\", \"rate\": \"20/s\"}],
  \"throttle_rules\": [$TIKTOK],
  \"credentials\": {\"acme\": {\"token_url\": \"$TOKEN_URL_T\", \"client_id\": \"pacer-test\",
    \"client_secret_file\": \"$TEST_TMP/secret\", \"hosts\": [\"127.0.0.1\"],
    \"token_timeout_ms\": 3000, \"lock_ttl_ms\": 5000},
   \"beta\": {\"token_url\": \"$IDP/token\", \"client_id\": \"pacer-test\",
    \"client_secret_file\": \"$TEST_TMP/secret\", \"refresh_token_file\": \"$TEST_TMP/rt-beta\",
    \"hosts\": [\"127.0.0.1\"]}}"
line=$(hup)
echo "$line" | grep -q 'msg="config reloaded"' || fail "C: $line"
echo "$line" | grep -q 'credentials.acme.token_url changed' || fail "C: $line"
echo "$line" | grep -q 'credentials.acme.client_secret changed' || fail "C: $line"
echo "$line" | grep -q 'credentials.beta added' || fail "C: $line"
echo "$line" | grep -q 'needs_restart=""' || fail "C: $line"
curl -fsS -X POST "$IDP/admin/expire" >/dev/null || fail "C: expire"
add C-2 "$IDP/api/two" acme
wait_until 15 'test "$(result_of C-2 state)" = ok' ||
  fail "C: C-2 $(result_of C-2 state) $(result_of C-2 reason); token port POSTs $(idp .token_port_posts), invalid_client $(idp .invalid_client)"
[ "$(idp .token_port_posts)" -eq 1 ] || fail "C: $(idp .token_port_posts) POSTs to the new token_url"
[ "$(idp .token_posts)" -eq 2 ] || fail "C: $(idp .token_posts) token POSTs in all"
add C-b1 "$IDP/api/b1" beta
wait_until 15 'test "$(result_of C-b1 state)" = ok' ||
  fail "C: the added credential: C-b1 $(result_of C-b1 state) $(result_of C-b1 reason)"
[ "$(idp .token_posts)" -eq 3 ] || fail "C: $(idp .token_posts) token POSTs after beta's first use"
[ "$(idp .invalid_client)" -eq 0 ] || fail "C: the old secret was sent $(idp .invalid_client) times"
[ "$(idp .invalid_grant)" -eq 0 ] || fail "C: invalid_grant $(idp .invalid_grant)"
for s in "$S1" "$S2"; do
  ! grep -qF "$s" "$TEST_TMP/worker.log" "$TEST_TMP/worker.out" || fail "C: a client secret is in the worker's log"
  ! rcli --raw XRANGE "${PREFIX}results" - + | grep -qF "$s" || fail "C: a client secret is in a result"
done
echo "C: after SIGHUP the refresh went to the new token_url with the new secret; the added credential works; no secret logged"

# ---- F: a refresh in flight across a reload
acme_url() { # TOKEN_URL: acme's token_url in the file
  sed -i "0,/\"token_url\": \"[^\"]*\"/s||\"token_url\": \"$1\"|" "$CFG"
}
tp0=$(idp .token_port_posts) rp0=$(idp .refresh_posts)
curl -fsS -X POST "$IDP/admin/config" -d '{"delay_ms": 2000, "delay_mode": "after", "delay_times": 1}' >/dev/null ||
  fail "F: knobs"
curl -fsS -X POST "$IDP/admin/expire" >/dev/null || fail "F: expire"
add F-1 "$IDP/api/f1" acme
wait_until 10 'test "$(idp .refresh_posts)" -gt '"$rp0" || fail "F: no refresh started"
acme_url "$IDP/token"
line=$(hup)
echo "$line" | grep -q 'credentials.acme.token_url changed' || fail "F: $line"
wait_until 10 'test "$(result_of F-1 state)" = ok' || fail "F: F-1 $(result_of F-1 state) $(result_of F-1 reason)"
[ "$(idp .refresh_posts)" -eq $((rp0 + 1)) ] || fail "F: $(( $(idp .refresh_posts) - rp0 )) refresh POSTs for one expiry"
[ "$(idp .token_port_posts)" -eq $((tp0 + 1)) ] || fail "F: the refresh in flight did not finish at the URL it was sent to"
[ "$(idp .reuse_of_rotated)" -eq 0 ] && [ "$(idp .invalid_grant)" -eq 0 ] ||
  fail "F: reuse_of_rotated $(idp .reuse_of_rotated), invalid_grant $(idp .invalid_grant)"
curl -fsS -X POST "$IDP/admin/expire" >/dev/null || fail "F: expire"
add F-2 "$IDP/api/f2" acme
wait_until 10 'test "$(result_of F-2 state)" = ok' || fail "F: F-2 $(result_of F-2 state) $(result_of F-2 reason)"
[ "$(idp .refresh_posts)" -eq $((rp0 + 2)) ] && [ "$(idp .token_port_posts)" -eq $((tp0 + 1)) ] ||
  fail "F: the refresh after the reload did not go to the new token_url"
echo "F: a refresh in flight finished at its URL, once; the next used the new token_url"
alive "$WORKER_PID" || fail "the worker died"

# ---- R: the rule removed
jq -c '.throttle_rules = []' "$CFG" >"$CFG.new" && mv "$CFG.new" "$CFG" && chmod 600 "$CFG"
line=$(hup)
echo "$line" | grep -q 'throttle_rules.tiktok-business.app removed' || fail "R: $line"
throttle_next
add_t R-1
wait_until 10 'test -n "$(result_of R-1 state)"' || fail "R: no result for R-1"
[ "$(result_of R-1 state)" = ok ] && [ "$(result_of R-1 throttled)" -eq 0 ] ||
  fail "R: with the rule removed, R-1 $(result_of R-1 state) throttled $(result_of R-1 throttled)"
echo "R: rule removed by SIGHUP: 200 code 40100 is an ordinary ok again"

# ---- Z: the first credential of a worker that had none
P2="${PREFIX}z:"
CFG2="$TEST_TMP/z.json"
write_config "$CFG2" ""
sed -i "s|\"prefix\": \"$PREFIX\"|\"prefix\": \"$P2\"|" "$CFG2"
"$PACER" worker --config "$CFG2" >"$TEST_TMP/z.out" 2>"$TEST_TMP/z.log" &
Z_PID=$!; PIDS+=($Z_PID)
wait_until 10 'grep -q "msg=\"started\"" "$TEST_TMP/z.log"' || fail "Z: the worker did not start"
rt=$(curl -fsS -X POST "$IDP/admin/mint" | jq -r .refresh_token)
(umask 077; printf '%s\n' "$rt" >"$TEST_TMP/rt-z")
write_config "$CFG2" "\"credentials\": {\"zed\": {\"token_url\": \"$IDP/token\",
  \"client_id\": \"pacer-test\", \"client_secret_file\": \"$TEST_TMP/secret\",
  \"refresh_token_file\": \"$TEST_TMP/rt-z\", \"hosts\": [\"127.0.0.1\"]}}"
sed -i "s|\"prefix\": \"$PREFIX\"|\"prefix\": \"$P2\"|" "$CFG2"
chmod 600 "$CFG2"
kill -HUP "$Z_PID"
wait_until 10 'grep -q "config reload" "$TEST_TMP/z.log"' || fail "Z: no answer to SIGHUP"
grep 'config reload' "$TEST_TMP/z.log" | grep -q 'credentials.zed added' || fail "Z: $(grep 'config reload' "$TEST_TMP/z.log")"
rcli XADD "${P2}jobs" '*' job "{\"id\":\"Z-1\",\"url\":\"$IDP/api/z\",\"credential\":\"zed\"}" >/dev/null
wait_until 15 'rcli XRANGE "${P2}results" - + | grep -q "^ok$"' ||
  fail "Z: Z-1 did not succeed: $(rcli XRANGE "${P2}results" - + | tr '\n' ' ')"
echo "Z: a worker started without credentials took its first by SIGHUP and used it"
kill -TERM "$Z_PID"
wait_until 20 '! alive "$Z_PID"' || fail "Z: the worker did not stop"

# ---- L: lock_ttl_ms lowered while the refresh lock is held
P3="${PREFIX}l:"
CFG3="$TEST_TMP/l.json"
cfg_l() { # TOKEN_TIMEOUT_MS LOCK_TTL_MS HOSTS
  write_config "$CFG3" "\"credentials\": {\"lk\": {\"token_url\": \"$IDP/token\",
    \"client_id\": \"pacer-test\", \"client_secret_file\": \"$TEST_TMP/secret\",
    \"refresh_token_file\": \"$TEST_TMP/rt-l\", \"hosts\": [$3],
    \"token_timeout_ms\": $1, \"lock_ttl_ms\": $2}}"
  sed -i "s|\"prefix\": \"$PREFIX\"|\"prefix\": \"$P3\"|" "$CFG3"
  chmod 600 "$CFG3"
}
rt=$(curl -fsS -X POST "$IDP/admin/mint" | jq -r .refresh_token)
(umask 077; printf '%s\n' "$rt" >"$TEST_TMP/rt-l")
cfg_l 8000 9000 '"127.0.0.1", "localhost"'
"$PACER" worker --config "$CFG3" >"$TEST_TMP/l.out" 2>"$TEST_TMP/l.log" &
L_PID=$!; PIDS+=($L_PID)
wait_until 10 'grep -q "msg=\"started\"" "$TEST_TMP/l.log"' || fail "L: the worker did not start"
rp0=$(idp .refresh_posts)
curl -fsS -X POST "$IDP/admin/config" -d '{"delay_ms": 6000, "delay_times": 1}' >/dev/null || fail "L: knobs"
rcli XADD "${P3}jobs" '*' job "{\"id\":\"L-1\",\"url\":\"$IDP/api/l\",\"credential\":\"lk\"}" >/dev/null
IDP_LH="http://localhost:${IDP##*:}"
rcli XADD "${P3}jobs" '*' job "{\"id\":\"H-1\",\"url\":\"$IDP_LH/api/h\",\"credential\":\"lk\"}" >/dev/null
wait_until 10 'test "$(idp .refresh_posts)" -gt "$rp0"' || fail "L: no refresh went out"
cfg_l 1000 2000 '"127.0.0.1"'
kill -HUP "$L_PID"
wait_until 10 'grep -q "config reload" "$TEST_TMP/l.log"' || fail "L: no answer to SIGHUP"
grep 'config reload' "$TEST_TMP/l.log" | grep -q 'credentials.lk.lock_ttl_ms changed' ||
  fail "L: $(grep 'config reload' "$TEST_TMP/l.log")"
l_result() { # ID FIELD: a field of the result of job ID in P3's results
  PREFIX=$P3 result_of "$1" "$2"
}
wait_until 15 'test -n "$(l_result L-1 state)" && test -n "$(l_result H-1 state)"' ||
  fail "L: no result for L-1 or H-1: $(grep comp=cred "$TEST_TMP/l.log")"
[ "$(l_result L-1 state)" = ok ] ||
  fail "L: L-1 $(l_result L-1 state): $(grep comp=cred "$TEST_TMP/l.log")"
[ "$(l_result H-1 state)" = failed ] && [ "$(l_result H-1 reason)" = invalid_job ] ||
  fail "H: H-1 to a host the reload took out of hosts: $(l_result H-1 state) $(l_result H-1 reason)"
l_result H-1 error | grep -q 'not in its "hosts" since a reload' || fail "H: $(l_result H-1 error)"
echo "H: a job waiting for the token to a host the reload removed ended invalid_job, unsent"
! grep -q 'lock lost\|token discarded' "$TEST_TMP/l.log" ||
  fail "L: the refresh lock lapsed under the request: $(grep comp=cred "$TEST_TMP/l.log")"
[ "$(idp .refresh_posts)" -eq $((rp0 + 1)) ] || fail "L: $(( $(idp .refresh_posts) - rp0 )) refresh POSTs for one refresh"
echo "L: lock_ttl_ms lowered under a refresh in flight: the lock held, the token stored, one POST"
kill -TERM "$L_PID"
wait_until 20 '! alive "$L_PID"' || fail "L: the worker did not stop"
pass "SIGHUP reloads throttle rules and credential settings; invalid files refused"
