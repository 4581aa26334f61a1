#!/usr/bin/env bash
# Credentials against slow, stalled and refusing identity providers
# (docs/CREDENTIALS.md, One refresh token, one POST): 3 worker processes
# and a real OAuth2 server built on @node-oauth/oauth2-server
# (tests/node/oauth_server.js) whose refresh tokens rotate, with its
# counters of POSTs per refresh token and of reuses of a rotated one.
#  C. the lock holder is SIGSTOPped (in its backoff: the token port refused
#     the connect) past lock_ttl_ms, then resumed: another process takes
#     over; the resumed holder finds its lock lost and sends nothing.
#  A. the provider answers after IDP_DELAY_A_S (default 20 s, as in the
#     field): one POST, jobs succeed.
#  B. the provider rotates at once, then answers after IDP_DELAY_B_S
#     (default 5 s; token_timeout_ms and lock_ttl_ms scaled to it): one
#     POST, the rotated token is stored.
#  D. the provider refuses every refresh (invalid_grant): the credential
#     parks once (one reauth_required event), at most 3 POSTs while
#     IDP_OBSERVE_S (default 10 s) pass, and the idle workers use almost
#     no CPU.
# In every case: the refresh token was POSTed exactly once (C, A, B) and
# the reuse-of-rotated-token counter stays 0.
#  E. The documented exception: the provider rotates, then answers only
#     after token_timeout_ms (2 s). The outcome is unknown: pacer waits,
#     re-reads, replays once; this strict provider answers invalid_grant
#     (its reuse counter goes to 1) and the credential parks. Exactly 2
#     POSTs, never a third.
. "$(dirname "$0")/lib.sh"

NODE_DIR="$(cd "$(dirname "$0")/../node" && pwd)"
[ -d "$NODE_DIR/node_modules/@node-oauth/oauth2-server" ] ||
  fail "@node-oauth/oauth2-server is not installed: run npm ci --prefix tests/node"
command -v node >/dev/null || fail "node is not installed (Debian: nodejs)"

DELAY_A=${IDP_DELAY_A_S:-20}
DELAY_B=${IDP_DELAY_B_S:-5}
OBSERVE=${IDP_OBSERVE_S:-10}
export PACER_TEST_SECRET="client-secret-canary-7f3a9c"

node "$NODE_DIR/oauth_server.js" --port-file "$TEST_TMP/idp.json" \
  --secret "$PACER_TEST_SECRET" --token-closed >"$TEST_TMP/idp.out" 2>"$TEST_TMP/idp.log" &
IDP_PID=$!
PIDS+=($IDP_PID)
wait_until 15 'test -s "$TEST_TMP/idp.json"' || fail "the OAuth2 server did not start: $(cat "$TEST_TMP/idp.log")"
IDP="http://127.0.0.1:$(jq -r .port "$TEST_TMP/idp.json")"
TOKEN_URL="http://127.0.0.1:$(jq -r .token_port "$TEST_TMP/idp.json")/token"

idp() { curl -fsS "$IDP/admin/stats" | jq -r "$1"; }
knobs() { curl -fsS -X POST "$IDP/admin/config" -d "$1" >/dev/null || fail "knobs $1"; }
posts_of() { idp ".posts_per_rt[\"$1\"] // 0"; }
ok_count() { stream_field results state | grep -cx ok; }

# cred NAME TIMEOUT_MS LOCK_MS: one credential entry of the config.
cred() {
  printf '"%s": {"token_url": "%s", "client_id": "pacer-test",
    "client_secret_env": "PACER_TEST_SECRET", "hosts": ["127.0.0.1"],
    "token_timeout_ms": %s, "lock_ttl_ms": %s}' "$1" "$TOKEN_URL" "$2" "$3"
}
write_config "$TEST_TMP/pacer.json" "\"lease_ms\": 5000, \"credentials\": {
  $(cred c 2000 4000), $(cred a $(( (DELAY_A + 10) * 1000 )) $(( (DELAY_A + 12) * 1000 ))),
  $(cred b $(( (DELAY_B + 3) * 1000 )) $(( (DELAY_B + 5) * 1000 ))), $(cred d 3000 5000),
  $(cred e 2000 3000)}"
chmod 600 "$TEST_TMP/pacer.json"

# seed NAME: stores a fresh refresh token (a new grant) for NAME; prints it.
seed() {
  local rt
  rt=$(curl -fsS -X POST "$IDP/admin/mint" | jq -r .refresh_token)
  (umask 077; printf '%s\n' "$rt" >"$TEST_TMP/rt-$1")
  "$PACER" cred set "$1" --refresh-token-file "$TEST_TMP/rt-$1" \
    --config "$TEST_TMP/pacer.json" >/dev/null 2>&1 || fail "cred set $1"
  echo "$rt"
}
jobs_for() { # NAME N [ID_PREFIX]
  local i id=${3:-$1}
  for i in $(seq 1 "$2"); do
    printf '{"id":"%s-%02d","url":"%s/api/items/%d","credential":"%s"}\n' "$id" "$i" "$IDP" "$i" "$1"
  done >"$TEST_TMP/jobs-$id.jsonl"
  "$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs-$id.jsonl" 2>/dev/null || fail "submit $id"
}
start3() { # CASE: three worker processes
  W=()
  for n in 1 2 3; do start_worker "$TEST_TMP/pacer.json" "w$1$n"; W+=("$WORKER_PID"); done
}
stop3() {
  local p
  for p in "${W[@]}"; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
  for p in "${W[@]}"; do wait_until 30 '! alive '"$p" || fail "worker $p did not stop"; done
}
cpu_ticks() { # PID...: utime + stime of the processes, in clock ticks
  local p t=0
  for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done
  echo "$t"
}

# ---- C: the holder stopped past its lock's lease never sends
rt=$(seed c)
jobs_for c 10
start3 c
holder=""
find_holder() {
  local n
  for n in 1 2 3; do
    if grep -q 'msg="token refresh failed, retrying" credential=c' "$TEST_TMP/wc$n.log"; then
      holder=$n
      return 0
    fi
  done
  return 1
}
wait_until 20 find_holder || fail "C: no process tried the closed token port"
hpid=${W[$((holder - 1))]}
kill -STOP "$hpid"
t_stop=$(now_ms)
curl -fsS -X POST "$IDP/admin/token-listener" -d '{"open": true}' >/dev/null || fail "C: open the token port"
wait_until 30 'test "$(results_count)" -ge 10' || fail "C: $(results_count)/10 with the holder stopped"
done_ms=$(( $(now_ms) - t_stop ))
# The lock was last renewed at most a third of its 4 s lease before the stop.
[ "$done_ms" -ge 2600 ] || fail "C: the jobs finished ${done_ms} ms after the stop, before the lock expired"
wait_until 10 'test $(( $(now_ms) - t_stop )) -ge 5000'
stopped_ms=$(( $(now_ms) - t_stop ))
kill -CONT "$hpid"
wait_until 20 'grep -q "refresh lock lost" "$TEST_TMP/wc$holder.log"' ||
  fail "C: the resumed holder did not notice its lost lock"
[ "$(ok_count)" -eq 10 ] || fail "C: not all ok: $(stream_field results reason | sort | uniq -c)"
[ "$(posts_of "$rt")" -eq 1 ] || fail "C: the refresh token was POSTed $(posts_of "$rt") times"
[ "$(idp .reuse_of_rotated)" -eq 0 ] || fail "C: a rotated refresh token was reused"
# The resumed holder gets the new token from Redis: one more job through it.
rcli DEL "${PREFIX}results" >/dev/null
jobs_for c 6 c2
wait_until 20 'test "$(results_count)" -ge 6' || fail "C: $(results_count)/6 after the resume"
[ "$(ok_count)" -eq 6 ] || fail "C: jobs after the resume failed"
[ "$(posts_of "$rt")" -eq 1 ] && [ "$(idp .refresh_posts)" -eq 1 ] ||
  fail "C: $(idp .refresh_posts) refresh POSTs in all"
echo "C: holder (process $holder) stopped ${stopped_ms} ms past a 4 s lock; 1 POST, 16 jobs ok, lost lock logged"
stop3

# ---- A: the provider answers after DELAY_A s
rcli DEL "${PREFIX}results" >/dev/null
p0=$(idp .refresh_posts)
knobs "{\"delay_ms\": $(( DELAY_A * 1000 )), \"delay_mode\": \"before\"}"
rt=$(seed a)
jobs_for a 10
t0=$(now_ms)
start3 a
wait_until $(( DELAY_A + 20 )) 'test "$(results_count)" -ge 10' || fail "A: $(results_count)/10"
secs=$(( ($(now_ms) - t0) / 1000 ))
[ "$secs" -ge "$DELAY_A" ] || fail "A: done in $secs s, before the provider's $DELAY_A s delay"
[ "$(ok_count)" -eq 10 ] || fail "A: not all ok: $(stream_field results reason | sort | uniq -c)"
[ "$(posts_of "$rt")" -eq 1 ] || fail "A: the refresh token was POSTed $(posts_of "$rt") times"
[ $(( $(idp .refresh_posts) - p0 )) -eq 1 ] || fail "A: $(( $(idp .refresh_posts) - p0 )) refresh POSTs"
[ "$(idp .reuse_of_rotated)" -eq 0 ] || fail "A: a rotated refresh token was reused"
echo "A: provider answered after $DELAY_A s: 1 POST, 10 jobs ok in $secs s"
stop3

# ---- B: the provider rotates, then answers after DELAY_B s
rcli DEL "${PREFIX}results" >/dev/null
p0=$(idp .refresh_posts)
knobs "{\"delay_ms\": $(( DELAY_B * 1000 )), \"delay_mode\": \"after\"}"
rt=$(seed b)
jobs_for b 10
start3 b
wait_until $(( DELAY_B + 20 )) 'test "$(results_count)" -ge 10' || fail "B: $(results_count)/10"
[ "$(ok_count)" -eq 10 ] || fail "B: not all ok: $(stream_field results reason | sort | uniq -c)"
[ "$(posts_of "$rt")" -eq 1 ] || fail "B: the refresh token was POSTed $(posts_of "$rt") times"
[ $(( $(idp .refresh_posts) - p0 )) -eq 1 ] || fail "B: $(( $(idp .refresh_posts) - p0 )) refresh POSTs"
[ "$(idp .reuse_of_rotated)" -eq 0 ] || fail "B: a rotated refresh token was reused"
stored=$(rcli HGET "${PREFIX}cred:b" refresh_token)
[ -n "$stored" ] && [ "$stored" != "$rt" ] || fail "B: the rotated refresh token was not stored"
echo "B: provider rotated, then answered after $DELAY_B s: 1 POST, rotated token stored, 10 jobs ok"
stop3
knobs '{"delay_ms": 0}'

# ---- D: every refresh refused
rcli DEL "${PREFIX}results" >/dev/null
knobs '{"reject_refresh": true}'
p0=$(idp .refresh_posts)
rt=$(seed d)
redis-cli -s "$REDIS_SOCK" SUBSCRIBE "${PREFIX}credev:d" >"$TEST_TMP/events-d.txt" 2>&1 &
PIDS+=($!)
wait_until 5 'grep -q subscribe "$TEST_TMP/events-d.txt"' || fail "D: subscribe"
jobs_for d 10
start3 d
parked() { rcli ZCOUNT "${PREFIX}delayed" 4503599627370496 +inf; }
wait_until 20 'test "$(rcli HGET "${PREFIX}cred:d" status)" = reauth_required' || fail "D: status $(rcli HGET "${PREFIX}cred:d" status)"
wait_until 20 'test "$(parked)" -eq 10' || fail "D: $(parked)/10 parked"
c0=$(cpu_ticks "${W[@]}")
t0=$(now_ms)
wait_until $(( OBSERVE + 5 )) 'test $(( $(now_ms) - t0 )) -ge $(( OBSERVE * 1000 ))'
c1=$(cpu_ticks "${W[@]}")
hz=$(getconf CLK_TCK)
cpu_ms=$(( (c1 - c0) * 1000 / hz ))
posts=$(( $(idp .refresh_posts) - p0 ))
[ "$posts" -le 3 ] || fail "D: $posts refresh POSTs in ${OBSERVE} s"
[ "$(posts_of "$rt")" -ge 1 ] || fail "D: the refresh token was never tried"
parks=$(grep -c 'reauth_required' "$TEST_TMP/events-d.txt")
[ "$parks" -eq 1 ] || fail "D: reauth_required published $parks times"
[ "$(rcli HGET "${PREFIX}cred:d" status)" = reauth_required ] || fail "D: reauth_required did not stick"
[ "$(results_count)" -eq 0 ] || fail "D: parked jobs got results"
# 3 idle processes over OBSERVE s: well under 2% of one core.
[ "$cpu_ms" -le $(( OBSERVE * 20 )) ] || fail "D: ${cpu_ms} ms of CPU in ${OBSERVE} s (spinning?)"
[ "$(idp .reuse_of_rotated)" -eq 0 ] || fail "D: a rotated refresh token was reused"
echo "D: every refresh refused: parked once, $posts POST(s) in ${OBSERVE} s, ${cpu_ms} ms CPU for 3 processes"
stop3

# ---- E: no answer within token_timeout_ms: one replay, then park
rcli DEL "${PREFIX}results" >/dev/null
knobs '{"reject_refresh": false, "delay_ms": 4000, "delay_mode": "after", "delay_times": 1}'
r0=$(idp .reuse_of_rotated)
k0=$(parked) # D's jobs stay parked
rt=$(seed e)
jobs_for e 5
start3 e
wait_until 20 'test "$(rcli HGET "${PREFIX}cred:e" status)" = reauth_required' ||
  fail "E: status $(rcli HGET "${PREFIX}cred:e" status)"
wait_until 10 'test "$(parked)" -eq $(( k0 + 5 ))' || fail "E: $(( $(parked) - k0 ))/5 parked"
grep -q 'the one replay after an unknown outcome' "$TEST_TMP"/we*.log || fail "E: no replay logged"
t0=$(now_ms)
wait_until 5 'test $(( $(now_ms) - t0 )) -ge 3000'
[ "$(posts_of "$rt")" -eq 2 ] || fail "E: the refresh token was POSTed $(posts_of "$rt") times, want 2 (one replay)"
[ $(( $(idp .reuse_of_rotated) - r0 )) -eq 1 ] || fail "E: reuse counter moved by $(( $(idp .reuse_of_rotated) - r0 ))"
echo "E: no answer in 2 s: re-read, one replay, invalid_grant from the strict provider, parked; 2 POSTs"
stop3

# ---- secrets stay secret
for f in "$TEST_TMP"/w*.log "$TEST_TMP"/w*.out; do
  for s in "$PACER_TEST_SECRET" $(cat "$TEST_TMP"/rt-*); do
    if grep -F -- "$s" "$f" >/dev/null; then fail "a secret in $f"; fi
  done
done
pass "slow, stalled and refusing identity providers: one POST per refresh token (one replay after an unknown outcome), no reuse in A-D, parked once"
