#!/usr/bin/env bash
# Destination policy (the SSRF guard) end to end, through the real worker:
#  A. destination_policy public_only: jobs to the loopback upstream, in
#     every spelling (127.0.0.1, localhost, 2130706433, 0x7f.1,
#     [::ffff:127.0.0.1], 0), fail blocked_destination with a dead letter,
#     are not retried, and the upstream counts no request. A credential's
#     token request (the operator's own token_url) is not checked.
#  B. destination_allow ["127.0.0.1/32"]: the upstream is reachable; a 302
#     to a second upstream on 127.0.0.2 is blocked on that hop, which never
#     sees a request.
#  C. config errors name the field: an allow list without public_only, a
#     CIDR with host bits set.
. "$(dirname "$0")/lib.sh"

export PACER_TEST_SECRET="dest-client-secret"
export PACER_TEST_RT="RT-0"
start_testapi
# A second upstream on another loopback address, for the redirect hop.
"$TESTAPI" --port 0 --bind 127.0.0.2 >"$TEST_TMP/hop.out" 2>"$TEST_TMP/hop.log" &
PIDS+=($!)
wait_until 10 'grep -q "^listening port=" "$TEST_TMP/hop.out"' || fail "hop upstream did not start"
HOP_URL="http://127.0.0.2:$(sed -n 's/^listening port=\([0-9]*\).*/\1/p' "$TEST_TMP/hop.out")"
P=$TESTAPI_PORT

stop_worker() {
  kill -TERM "$WORKER_PID"
  wait_until 30 '! alive "$WORKER_PID"' || fail "worker did not stop"
}

# ---- A: public_only, nothing allowed
write_config "$TEST_TMP/a.json" "\"destination_policy\": \"public_only\",
  \"credentials\": {\"acme\": {\"token_url\": \"$TESTAPI_URL/oauth2/access_token\",
    \"client_id\": \"pacer-test\", \"client_secret_env\": \"PACER_TEST_SECRET\",
    \"refresh_token_env\": \"PACER_TEST_RT\", \"hosts\": [\"127.0.0.1\"]}}"
chmod 600 "$TEST_TMP/a.json"
{
  printf '{"id":"a-ip","url":"http://127.0.0.1:%s/fast","max_attempts":3}\n' "$P"
  printf '{"id":"a-localhost","url":"http://localhost:%s/fast"}\n' "$P"
  printf '{"id":"a-decimal","url":"http://2130706433:%s/fast"}\n' "$P"
  printf '{"id":"a-hex","url":"http://0x7f.1:%s/fast"}\n' "$P"
  printf '{"id":"a-mapped","url":"http://[::ffff:127.0.0.1]:%s/fast"}\n' "$P"
  printf '{"id":"a-zero","url":"http://0:%s/fast"}\n' "$P"
  printf '{"id":"a-cred","url":"http://127.0.0.1:%s/fast","credential":"acme"}\n' "$P"
} >"$TEST_TMP/a.jsonl"
"$PACER" submit --config "$TEST_TMP/a.json" "$TEST_TMP/a.jsonl" 2>/dev/null || fail "submit A"
start_worker "$TEST_TMP/a.json" wa
wait_until 30 'test "$(results_count)" -ge 7' || fail "A: $(results_count)/7 results"
for id in a-ip a-localhost a-decimal a-hex a-mapped a-zero a-cred; do
  [ "$(result_of $id state)" = failed ] || fail "A: $id state $(result_of $id state)"
  [ "$(result_of $id reason)" = blocked_destination ] ||
    fail "A: $id reason $(result_of $id reason): $(result_of $id error)"
  [ "$(result_of $id attempts)" = 1 ] || fail "A: $id was retried ($(result_of $id attempts) attempts)"
done
[ "$(result_of a-ip error)" = "destination: 127.0.0.1 is loopback, blocked by destination_policy public_only" ] ||
  fail "A: error $(result_of a-ip error)"
[ "$(result_of a-zero error)" = "destination: 0.0.0.0 is unspecified, blocked by destination_policy public_only" ] ||
  fail "A: error $(result_of a-zero error)"
[ "$(stream_field dead reason | grep -cx blocked_destination)" -eq 7 ] || fail "A: not 7 blocked dead letters"
# Nothing reached the upstream but the credential's own token request.
[ "$(testapi_stat .token_posts)" -eq 1 ] || fail "A: $(testapi_stat .token_posts) token POSTs, want 1 (token_url is not checked)"
[ "$(testapi_stat .requests)" -eq 1 ] || fail "A: the upstream saw $(testapi_stat .requests) requests, want only the token POST"
grep -q 'reason=blocked_destination' "$TEST_TMP/wa.log" || fail "A: the log does not say blocked_destination"
echo "A: 7 jobs to loopback in 6 spellings: blocked_destination, dead-lettered, not retried; 0 requests sent"
stop_worker

# ---- B: 127.0.0.1 allowed, a redirect hop to 127.0.0.2 blocked
rcli DEL "${PREFIX}results" "${PREFIX}dead" >/dev/null
write_config "$TEST_TMP/b.json" '"destination_policy": "public_only", "destination_allow": ["127.0.0.1/32"]'
{
  printf '{"id":"b-ok","url":"%s/fast"}\n' "$TESTAPI_URL"
  printf '{"id":"b-hop","url":"%s/status/302?header=Location:%%20%s/fast"}\n' "$TESTAPI_URL" "$HOP_URL"
  printf '{"id":"b-direct","url":"%s/fast"}\n' "$HOP_URL"
} >"$TEST_TMP/b.jsonl"
r0=$(testapi_stat .requests)
"$PACER" submit --config "$TEST_TMP/b.json" "$TEST_TMP/b.jsonl" 2>/dev/null || fail "submit B"
start_worker "$TEST_TMP/b.json" wb
wait_until 30 'test "$(results_count)" -ge 3' || fail "B: $(results_count)/3 results"
[ "$(result_of b-ok state)" = ok ] || fail "B: b-ok $(result_of b-ok reason) $(result_of b-ok error)"
[ "$(result_of b-hop reason)" = blocked_destination ] || fail "B: b-hop $(result_of b-hop reason)"
[ "$(result_of b-hop status)" = 302 ] || fail "B: b-hop status $(result_of b-hop status)"
result_of b-hop error | grep -q '^destination: 127.0.0.2 is loopback' || fail "B: b-hop error $(result_of b-hop error)"
[ "$(result_of b-direct reason)" = blocked_destination ] || fail "B: b-direct $(result_of b-direct reason)"
[ $(( $(testapi_stat .requests) - r0 )) -eq 2 ] || fail "B: the first upstream saw $(( $(testapi_stat .requests) - r0 )), want 2"
[ "$(curl -fsS "$HOP_URL/stats" | jq -r .requests)" -eq 0 ] || fail "B: the 127.0.0.2 upstream was reached"
echo "B: 127.0.0.1/32 allowed: a 302 to 127.0.0.2 is blocked on the hop, which never saw a request"
stop_worker

# ---- C: configuration errors name the field
write_config "$TEST_TMP/c1.json" '"destination_allow": ["10.1.0.0/16"]'
"$PACER" worker --config "$TEST_TMP/c1.json" >"$TEST_TMP/c1.out" 2>&1 && fail "C: an allow list without public_only was accepted"
grep -q 'destination_allow: has no effect unless destination_policy is "public_only"' "$TEST_TMP/c1.out" ||
  fail "C: $(cat "$TEST_TMP/c1.out")"
write_config "$TEST_TMP/c2.json" '"destination_policy": "public_only", "destination_allow": ["10.1.2.3/16"]'
"$PACER" worker --config "$TEST_TMP/c2.json" >"$TEST_TMP/c2.out" 2>&1 && fail "C: a CIDR with host bits was accepted"
grep -q 'destination_allow\[0\]: 10.1.2.3/16 has host bits set; write 10.1.0.0/16' "$TEST_TMP/c2.out" ||
  fail "C: $(cat "$TEST_TMP/c2.out")"
echo "C: config errors name the field"
pass "destination policy: blocked on every spelling and on a redirect hop, never connected"
