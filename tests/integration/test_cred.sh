#!/usr/bin/env bash
# OAuth2 credentials end to end (docs/CREDENTIALS.md) against pacer-testapi with
# --require-auth --rotate: every /v1 request needs a live Bearer token, and
# a rotated refresh token used twice revokes the whole family.
#  A. first use: one token POST; after the token expires (401
#     invalid_token) exactly one more, for 50 jobs at once (no refresh stampede); no job
#     spends an attempt on the 401; the rotated RT-2 is in Redis.
#  B. 4 processes, token expired: exactly one token POST across all of
#     them (a rotating refresh token is redeemed once), zero invalid_grant,
#     no family revoked.
#  C. the token endpoint answers 503 twice, then works: 3 POSTs, spaced by
#     backoff; every waiting job succeeds without spending attempts.
#  D. 403 insufficient_scope: no token POST, the job fails with the scope
#     recorded; a job the upstream always 401s is refreshed once, replayed
#     once, then dead-lettered unauthorized_after_refresh.
#  E. the refresh token is refused (revoked): the credential is marked
#     reauth_required after one POST, its jobs are parked, not failed,
#     while another credential's jobs succeed; `pacer cred set` with a
#     new refresh token releases them.
#  F. the refresh-lock holder is SIGKILLed mid-refresh: another process
#     takes over once the lock expires (lock_ttl_ms 5 s, token_timeout_ms
#     3 s) and the jobs finish.
#  G. `pacer cred refresh` with a worker running: one token POST, no 401.
#  H. rotation across processes and restarts, at volume: 3 processes x 4 threads, ~500 requests in flight,
#     token TTL 3 s renewed 1 s before expiry, 30 s: one token POST per
#     expiry, zero 401s, zero invalid_grant, zero failed jobs; then every
#     worker is SIGKILLed right after a refresh and restarted: the next
#     refresh uses the rotated refresh token (no invalid_grant).
#  Secrets (client secret, access and refresh tokens) appear in no log,
#  result or dead letter.
. "$(dirname "$0")/lib.sh"

export PACER_TEST_SECRET="client-secret-canary-7f3a9c"
export PACER_TEST_RT="RT-0"
HASH="${PREFIX}cred:acme"
start_testapi --require-auth --rotate --token-ttl 600s

write_config "$TEST_TMP/pacer.json" "\"concurrency\": 64, \"lease_ms\": 5000, \"credentials\": {
  \"acme\": {\"token_url\": \"$TESTAPI_URL/oauth2/access_token\",
             \"client_id\": \"pacer-test\",
             \"client_secret_env\": \"PACER_TEST_SECRET\",
             \"refresh_token_env\": \"PACER_TEST_RT\",
             \"token_timeout_ms\": 3000, \"lock_ttl_ms\": 5000,
             \"hosts\": [\"127.0.0.1\"]},
  \"other\": {\"token_url\": \"$TESTAPI_URL/oauth2/access_token\",
             \"client_id\": \"pacer-other\",
             \"client_secret_env\": \"PACER_TEST_SECRET\",
             \"hosts\": [\"127.0.0.1\"]}}"
chmod 600 "$TEST_TMP/pacer.json"

jobs_for() { # PREFIX N [PATH]
  local i
  for i in $(seq 1 "$2"); do
    printf '{"id":"%s-%03d","method":"PUT","url":"%s%s","credential":"acme","body":{"n":%d}}\n' \
      "$1" "$i" "$TESTAPI_URL" "${3:-/v1/adaccounts/a1/campaigns}" "$i"
  done
}
submit() { "$PACER" submit --config "$TEST_TMP/pacer.json" "$1" 2>/dev/null || fail "submit $1"; }
posts() { testapi_stat .token_posts; }
ok_count() { stream_field results state | grep -cx ok; }
stop_workers() {
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do wait_until 30 '! alive '"$p" || fail "worker $p did not stop"; done
}

# ---- A: one refresh per expiry, replays spend no attempt
jobs_for A1 19 >"$TEST_TMP/a1.jsonl"
# An upstream that echoes the request (its Authorization header) back: the
# token must not reach the result (checked with the canaries at the end).
printf '{"id":"A1-echo","url":"%s/echo","credential":"acme"}\n' "$TESTAPI_URL" >>"$TEST_TMP/a1.jsonl"
submit "$TEST_TMP/a1.jsonl"
start_worker "$TEST_TMP/pacer.json" wa
wait_until 30 'test "$(results_count)" -ge 20' || fail "A: $(results_count)/20"
[ "$(ok_count)" -eq 20 ] || fail "A: not all ok: $(stream_field results reason | sort | uniq -c)"
[ "$(posts)" -eq 1 ] || fail "A: $(posts) token POSTs for the first token"
result_of A1-echo body | grep -q '\[redacted\]' || fail "A: the echoed token was not scrubbed from the result"
curl -fsS -X POST "$TESTAPI_URL/admin/expire" >/dev/null
jobs_for A2 50 >"$TEST_TMP/a2.jsonl"
submit "$TEST_TMP/a2.jsonl"
wait_until 30 'test "$(results_count)" -ge 70' || fail "A: $(results_count)/70"
[ "$(ok_count)" -eq 70 ] || fail "A: not all ok after expiry"
[ "$(posts)" -eq 2 ] || fail "A: $(posts) token POSTs, want 2 (one per expiry)"
[ "$(testapi_stat .status_401)" -ge 1 ] || fail "A: the expiry was never seen (no 401)"
bad=$(stream_field results attempts | grep -cvx 1)
[ "$bad" -eq 0 ] || fail "A: $bad jobs spent an attempt on a 401"
[ "$(rcli HGET "$HASH" refresh_token)" = "RT-2" ] || fail "A: Redis holds $(rcli HGET "$HASH" status) not RT-2"
[ "$(rcli HGET "$HASH" generation)" -eq 2 ] || fail "A: generation $(rcli HGET "$HASH" generation)"
echo "A: 70 jobs, 2 token POSTs (first use + one expiry), $(testapi_stat .status_401) 401s replayed"
stop_workers "$WORKER_PID"

# ---- B: four processes, one refresh
rcli DEL "${PREFIX}results" >/dev/null
pids=()
for w in 1 2 3 4; do start_worker "$TEST_TMP/pacer.json" wb$w; pids+=("$WORKER_PID"); done
jobs_for B0 8 >"$TEST_TMP/b0.jsonl"; submit "$TEST_TMP/b0.jsonl"
wait_until 30 'test "$(results_count)" -ge 8' || fail "B: warm-up $(results_count)/8"
p0=$(posts)
curl -fsS -X POST "$TESTAPI_URL/admin/expire" >/dev/null
jobs_for B 200 >"$TEST_TMP/b.jsonl"; submit "$TEST_TMP/b.jsonl"
wait_until 60 'test "$(results_count)" -ge 208' || fail "B: $(results_count)/208"
[ "$(ok_count)" -eq 208 ] || fail "B: not all ok"
[ $(( $(posts) - p0 )) -eq 1 ] || fail "B: $(( $(posts) - p0 )) token POSTs across 4 processes, want 1"
[ "$(testapi_stat .tokens.invalid_grant)" -eq 0 ] || fail "B: invalid_grant seen"
[ "$(testapi_stat .tokens.family_revocations)" -eq 0 ] || fail "B: a token family was revoked"
echo "B: 4 processes, 200 jobs after expiry, 1 token POST, 0 invalid_grant"
stop_workers "${pids[@]}"

# ---- C: token endpoint fails twice
rcli DEL "${PREFIX}results" >/dev/null
curl -fsS -X POST "$TESTAPI_URL/admin/script" -d \
  '[{"path":"/oauth2/access_token","status":503,"times":2,"body":"{\"error\":\"temporarily_unavailable\"}"}]' >/dev/null
curl -fsS -X POST "$TESTAPI_URL/admin/expire" >/dev/null
p0=$(posts)
jobs_for C 40 >"$TEST_TMP/c.jsonl"; submit "$TEST_TMP/c.jsonl"
start_worker "$TEST_TMP/pacer.json" wc
wait_until 60 'test "$(results_count)" -ge 40' || fail "C: $(results_count)/40"
[ "$(ok_count)" -eq 40 ] || fail "C: not all ok"
[ $(( $(posts) - p0 )) -eq 3 ] || fail "C: $(( $(posts) - p0 )) token POSTs, want 3"
bad=$(stream_field results attempts | grep -cvx 1)
[ "$bad" -eq 0 ] || fail "C: $bad jobs spent attempts while the token endpoint failed"
grep -q 'msg="token refresh failed, retrying"' "$TEST_TMP/wc.log" || fail "C: no retry logged"
echo "C: token endpoint 503 twice: 3 POSTs, 40 jobs ok on their first attempt"

# ---- D: 401/403 that a refresh cannot fix
rcli DEL "${PREFIX}results" "${PREFIX}dead" >/dev/null
p0=$(posts)
printf '{"id":"D-scope","method":"PUT","url":"%s/v1/scoped","credential":"acme"}\n' "$TESTAPI_URL" >"$TEST_TMP/d1.jsonl"
submit "$TEST_TMP/d1.jsonl"
wait_until 30 'test "$(results_count)" -ge 1' || fail "D: scope job unfinished"
[ "$(result_of D-scope reason)" = insufficient_scope ] || fail "D: reason $(result_of D-scope reason)"
result_of D-scope error | grep -q 'x:write' || fail "D: the required scope is not recorded"
[ "$(posts)" -eq "$p0" ] || fail "D: a 403 insufficient_scope caused a token POST"
curl -fsS -X POST "$TESTAPI_URL/admin/script" -d \
  '[{"path":"/v1/adaccounts/j401/campaigns","status":401,"times":5,"headers":{"WWW-Authenticate":"Bearer error=\"invalid_token\""}}]' >/dev/null
jobs_for D 1 /v1/adaccounts/j401/campaigns >"$TEST_TMP/d2.jsonl"
jobs_for Dok 10 >>"$TEST_TMP/d2.jsonl"
submit "$TEST_TMP/d2.jsonl"
wait_until 30 'test "$(results_count)" -ge 12' || fail "D: $(results_count)/12"
[ "$(result_of D-001 reason)" = unauthorized_after_refresh ] || fail "D: J ended $(result_of D-001 reason)"
[ "$(posts)" -eq $(( p0 + 1 )) ] || fail "D: $(( $(posts) - p0 )) token POSTs for an unfixable 401, want 1"
[ "$(ok_count)" -eq 10 ] || fail "D: other jobs did not keep going"
[ "$(stream_field dead reason | grep -c unauthorized_after_refresh)" -eq 1 ] || fail "D: no dead letter"
echo "D: insufficient_scope fails without a refresh; an unfixable 401 is refreshed once, replayed once, dead-lettered"
stop_workers "$WORKER_PID"

# ---- E: refresh refused -> reauth_required, jobs parked, cred set releases
rcli DEL "${PREFIX}results" "${PREFIX}dead" >/dev/null
curl -fsS -X POST "$TESTAPI_URL/admin/revoke" >/dev/null
# A second credential with a live token family of its own.
curl -fsS -X POST "$TESTAPI_URL/admin/mint" | jq -r .refresh_token >"$TEST_TMP/rt-other.txt"
chmod 600 "$TEST_TMP/rt-other.txt"
"$PACER" cred set other --refresh-token-file "$TEST_TMP/rt-other.txt" --config "$TEST_TMP/pacer.json" \
  >/dev/null 2>&1 || fail "E: cred set other"
p0=$(posts)
jobs_for E 20 >"$TEST_TMP/e.jsonl"; submit "$TEST_TMP/e.jsonl"
start_worker "$TEST_TMP/pacer.json" we
jobs_for EO 10 | sed 's/"credential":"acme"/"credential":"other"/' >"$TEST_TMP/eo.jsonl"
submit "$TEST_TMP/eo.jsonl"
wait_until 30 'test "$(rcli HGET "$HASH" status)" = reauth_required' ||
  fail "E: status $(rcli HGET "$HASH" status)"
parked() { rcli ZCOUNT "${PREFIX}delayed" 4503599627370496 +inf; }
wait_until 30 'test "$(parked)" -eq 20' || fail "E: $(parked)/20 parked"
wait_until 30 'test "$(results_count)" -ge 10' || fail "E: the other credential's jobs: $(results_count)/10"
[ "$(results_count)" -eq 10 ] || fail "E: parked jobs have results: $(stream_field results reason)"
[ "$(ok_count)" -eq 10 ] || fail "E: the other credential's jobs did not succeed"
# One POST refused for acme, one for the other credential's first token.
[ $(( $(posts) - p0 )) -eq 2 ] || fail "E: $(( $(posts) - p0 )) token POSTs, want 1 refused + 1 for other"
grep -q 'needs re-authorisation' "$TEST_TMP/we.log" || fail "E: the log does not say re-authorisation is needed"
"$PACER" stats --config "$TEST_TMP/pacer.json" >"$TEST_TMP/stats.txt" 2>&1
grep -q 'reauth_required' "$TEST_TMP/stats.txt" || fail "E: pacer stats does not show reauth_required"
curl -fsS -X POST "$TESTAPI_URL/admin/mint" | jq -r .refresh_token >"$TEST_TMP/rt.txt"
chmod 600 "$TEST_TMP/rt.txt"
"$PACER" cred set acme --refresh-token-file "$TEST_TMP/rt.txt" --config "$TEST_TMP/pacer.json" \
  >"$TEST_TMP/credset.out" 2>&1 || fail "E: cred set: $(cat "$TEST_TMP/credset.out")"
wait_until 30 'test "$(results_count)" -ge 30' || fail "E: $(results_count)/30 after cred set"
[ "$(ok_count)" -eq 30 ] || fail "E: released jobs not all ok"
echo "E: refused refresh token: 20 jobs parked after 1 POST, the other credential's 10 ok; cred set released them, all ok"
stop_workers "$WORKER_PID"

# ---- F: the lock holder dies mid-refresh
rcli DEL "${PREFIX}results" >/dev/null
curl -fsS -X POST "$TESTAPI_URL/admin/script" -d \
  '[{"path":"/oauth2/access_token","status":503,"delay_ms":20000}]' >/dev/null
curl -fsS -X POST "$TESTAPI_URL/admin/expire" >/dev/null
jobs_for F 10 >"$TEST_TMP/f.jsonl"; submit "$TEST_TMP/f.jsonl"
start_worker "$TEST_TMP/pacer.json" wf1; f1=$WORKER_PID
wait_until 30 'rcli EXISTS "${PREFIX}lock:cred:acme" | grep -qx 1' || fail "F: no refresh lock taken"
kill -9 "$f1"
start_worker "$TEST_TMP/pacer.json" wf2
wait_until 60 'test "$(results_count)" -ge 10' || fail "F: $(results_count)/10 after the holder died"
[ "$(ok_count)" -eq 10 ] || fail "F: not all ok"
[ "$(testapi_stat .tokens.family_revocations)" -eq 0 ] || fail "F: a token family was revoked"
echo "F: holder killed mid-refresh; the other process took over after the lock expired"
stop_workers "$WORKER_PID"

# ---- G: pacer cred refresh
rcli DEL "${PREFIX}results" >/dev/null
start_worker "$TEST_TMP/pacer.json" wg
jobs_for G0 5 >"$TEST_TMP/g0.jsonl"; submit "$TEST_TMP/g0.jsonl"
wait_until 30 'test "$(results_count)" -ge 5' || fail "G: warm-up $(results_count)/5"
p0=$(posts); g0=$(rcli HGET "$HASH" generation); n401=$(testapi_stat .status_401)
"$PACER" cred refresh acme --config "$TEST_TMP/pacer.json" >"$TEST_TMP/credrefresh.out" 2>&1 ||
  fail "G: cred refresh: $(cat "$TEST_TMP/credrefresh.out")"
wait_until 20 'test "$(rcli HGET "$HASH" generation)" -gt "$g0"' || fail "G: no refresh after cred refresh"
[ "$(posts)" -eq $(( p0 + 1 )) ] || fail "G: $(( $(posts) - p0 )) token POSTs"
jobs_for G 5 >"$TEST_TMP/g.jsonl"; submit "$TEST_TMP/g.jsonl"
wait_until 30 'test "$(results_count)" -ge 10' || fail "G: $(results_count)/10"
[ "$(ok_count)" -eq 10 ] || fail "G: not all ok"
[ "$(testapi_stat .status_401)" -eq "$n401" ] || fail "G: 401s after a requested refresh"
echo "G: cred refresh: one token POST, generation $g0 -> $(rcli HGET "$HASH" generation), no 401"
# cred set while a worker holds a token: the worker switches to the new
# refresh token's family at once, without waiting for a 401 or expiry.
curl -fsS -X POST "$TESTAPI_URL/admin/mint" | jq -r .refresh_token >"$TEST_TMP/rt2.txt"
chmod 600 "$TEST_TMP/rt2.txt"
p0=$(posts)
"$PACER" cred set acme --refresh-token-file "$TEST_TMP/rt2.txt" --config "$TEST_TMP/pacer.json" \
  >/dev/null 2>&1 || fail "G: cred set"
wait_until 20 'test "$(posts)" -gt "$p0"' || fail "G: the worker kept the old token after cred set"
rt=$(cat "$TEST_TMP/rt2.txt")
last=$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" | jq -r \
  '[.requests[] | select(.path == "/oauth2/access_token")] | last | .refresh_token')
[ "$last" = "$rt" ] || fail "G: the refresh after cred set did not use the new refresh token"
echo "G: cred set with a worker running: it fetched a token with the new refresh token at once"
stop_workers "$WORKER_PID"

# ---- H: volume, proactive renewal, restart after a refresh
start_testapi --require-auth --rotate --token-ttl 3s
export PACER_TEST_RT2="RT-0"
printf '{"redis_url": "unix://%s", "prefix": "%s", %s}\n' "$REDIS_SOCK" "$PREFIX" "\"concurrency\": 170, \"workers\": 4, \"lease_ms\": 5000,
  \"limits\": [{\"name\": \"app\", \"key\": \"global\", \"rate\": \"300/s\", \"burst\": 100}],
  \"credentials\": {
  \"beta\": {\"token_url\": \"$TESTAPI_URL/oauth2/access_token\",
             \"client_id\": \"pacer-test\", \"auth_method\": \"client_secret_post\",
             \"client_secret_env\": \"PACER_TEST_SECRET\",
             \"refresh_token_env\": \"PACER_TEST_RT2\", \"refresh_skew_s\": 1,
             \"hosts\": [\"127.0.0.1\"]}}" >"$TEST_TMP/h.json"
chmod 600 "$TEST_TMP/h.json"
rcli DEL "${PREFIX}results" "${PREFIX}dead" >/dev/null
for i in $(seq 1 9000); do
  printf '{"id":"H-%04d","url":"%s/v1/campaigns/%d/stats?account=h","credential":"beta"}\n' \
    "$i" "$TESTAPI_URL" "$i"
done >"$TEST_TMP/h.jsonl"
"$PACER" submit --config "$TEST_TMP/h.json" "$TEST_TMP/h.jsonl" 2>/dev/null || fail "submit H"
t0=$(now_ms)
pids=()
for w in 1 2 3; do start_worker "$TEST_TMP/h.json" wh$w; pids+=("$WORKER_PID"); done
wait_until 90 'test "$(results_count)" -ge 9000' || fail "H: $(results_count)/9000"
secs=$(( ($(now_ms) - t0) / 1000 ))
posts_h=$(posts)
[ "$(ok_count)" -eq 9000 ] || fail "H: $(( 9000 - $(ok_count) )) jobs not ok: $(stream_field results reason | sort | uniq -c | head)"
[ "$(testapi_stat .tokens.invalid_grant)" -eq 0 ] || fail "H: invalid_grant"
[ "$(testapi_stat .tokens.family_revocations)" -eq 0 ] || fail "H: family revoked"
[ "$(testapi_stat .status_401)" -eq 0 ] || fail "H: $(testapi_stat .status_401) 401s despite proactive renewal"
# A token lives 3 s and is renewed 1 s early: one POST per ~2 s at most.
[ "$posts_h" -le $(( secs / 2 + 2 )) ] || fail "H: $posts_h token POSTs in $secs s (more than one per expiry)"
[ "$posts_h" -ge $(( secs / 3 )) ] || fail "H: only $posts_h token POSTs in $secs s: tokens outlived their TTL?"
echo "H: 9000 jobs over 3 processes x 4 threads in ${secs} s: $posts_h token POSTs, 0 401s, 0 invalid_grant"
gen=$(rcli HGET "${PREFIX}cred:beta" generation)
for i in $(seq 1 1500); do
  printf '{"id":"H2-%04d","url":"%s/v1/campaigns/%d/stats?account=h","credential":"beta"}\n' \
    "$i" "$TESTAPI_URL" "$i"
done >"$TEST_TMP/h2.jsonl"
"$PACER" submit --config "$TEST_TMP/h.json" "$TEST_TMP/h2.jsonl" 2>/dev/null || fail "submit H2"
wait_until 20 'test "$(rcli HGET "${PREFIX}cred:beta" generation)" -gt "$gen"' || fail "H: no refresh to kill after"
kill -9 "${pids[@]}"
start_worker "$TEST_TMP/h.json" wh4
wait_until 60 'test "$(results_count)" -ge 10500' || fail "H: $(results_count)/10500 after the restart"
grep -q 'msg="token refreshed"' "$TEST_TMP/wh4.log" || fail "H: no refresh after the restart"
[ "$(ok_count)" -eq 10500 ] || fail "H: jobs failed around the restart"
[ "$(testapi_stat .tokens.invalid_grant)" -eq 0 ] || fail "H: the restart reused a spent refresh token"
echo "H: all workers killed after a refresh; after the restart the next refresh used the rotated token"
stop_workers "$WORKER_PID"

# ---- I: a token that lives no longer than refresh_skew_s (default 300 s)
# is used, not refreshed in a loop: the skew is at most half the lifetime.
start_testapi --require-auth --token-ttl 60s
export PACER_TEST_RT3="RT-0"
printf '{"redis_url": "unix://%s", "prefix": "%s", %s}\n' "$REDIS_SOCK" "$PREFIX" "\"credentials\": {
  \"gamma\": {\"token_url\": \"$TESTAPI_URL/oauth2/access_token\", \"client_id\": \"pacer-test\",
             \"client_secret_env\": \"PACER_TEST_SECRET\", \"refresh_token_env\": \"PACER_TEST_RT3\",
             \"hosts\": [\"127.0.0.1\"]}}" >"$TEST_TMP/i.json"
chmod 600 "$TEST_TMP/i.json"
rcli DEL "${PREFIX}results" >/dev/null
for i in $(seq 1 30); do
  printf '{"id":"I-%02d","url":"%s/v1/campaigns/%d/stats?account=i","credential":"gamma"}\n' "$i" "$TESTAPI_URL" "$i"
done >"$TEST_TMP/i.jsonl"
"$PACER" submit --config "$TEST_TMP/i.json" "$TEST_TMP/i.jsonl" 2>/dev/null || fail "submit I"
start_worker "$TEST_TMP/i.json" wi
wait_until 30 'test "$(results_count)" -ge 30' || fail "I: $(results_count)/30"
[ "$(ok_count)" -eq 30 ] || fail "I: not all ok"
[ "$(posts)" -eq 1 ] || fail "I: $(posts) token POSTs for a 60 s token with the default 300 s skew"
echo "I: a 60 s token with the default 300 s skew: 30 jobs, 1 token POST"
stop_workers "$WORKER_PID"

# ---- secrets stay secret (no token in any output)
for f in "$TEST_TMP"/w*.log "$TEST_TMP"/w*.out "$TEST_TMP/stats.txt" "$TEST_TMP/credset.out" "$TEST_TMP/credrefresh.out"; do
  if grep -E "$PACER_TEST_SECRET|AT-[0-9]|RT-[0-9]" "$f" >/dev/null; then
    fail "a secret in $f: $(grep -E "$PACER_TEST_SECRET|AT-[0-9]|RT-[0-9]" "$f" | head -3)"
  fi
done
for s in results dead; do
  if rcli --raw XRANGE "${PREFIX}$s" - + | grep -E "$PACER_TEST_SECRET|AT-[0-9]|RT-[0-9]" >/dev/null; then
    fail "a secret in the $s stream"
  fi
done
pass "credentials: one refresh per expiry across processes, backoff, parked on reauth, no secret leaked"
