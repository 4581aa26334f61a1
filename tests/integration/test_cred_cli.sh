#!/usr/bin/env bash
# `pacer cred set`, `pacer cred show` and the credentials section of
# `pacer stats` against the fixture redis-server (no worker):
#  A. cred show before: reauth_required with the fix, parked counts, tokens
#     shown only as set/none.
#  B. cred set --refresh-token-file: hash fields, generation + 1, only the
#     credential's parked jobs become due now (other credential, malformed
#     and ordinary delayed members untouched), the event is published.
#  C. cred set --refresh-token-env: generation + 1 again, nothing to
#     release; a held refresh lock is left alone and reported.
#  D. refusals: a token file readable by group/others, an empty or
#     multi-line file, an unknown NAME, missing options, no Redis; none of
#     them changes the hash.
#  E. stats text and --json carry the credentials section.
#  F. no canary token appears in any output of these commands.
. "$(dirname "$0")/lib.sh"

PARK=4503599627370496
CANARY="canary-rt-$$-$RANDOM-7f3a"   # the new refresh token
CANARY2="canary-rt2-$$-$RANDOM-91bc" # the second new refresh token
OLD_RT="canary-oldrt-$$-$RANDOM"     # already in Redis before
OLD_AT="canary-oldat-$$-$RANDOM"     # access token in Redis before
HASH="${PREFIX}cred:acme"
DELAYED="${PREFIX}delayed"
OUT="$TEST_TMP/all-output.txt" # every stdout/stderr, for the canary scan

# run NAME ARGS...: runs pacer, keeps stdout in NAME.out and stderr in
# NAME.log (sanitizer scan), appends both to $OUT, sets RC.
run() {
  local name=$1
  shift
  "$PACER" "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.log"
  RC=$?
  cat "$TEST_TMP/$name.out" "$TEST_TMP/$name.log" >>"$OUT"
}
expect_rc() { [ "$RC" -eq "$1" ] || fail "$2: exit $RC, want $1"; }
has() { grep -qF -- "$2" "$TEST_TMP/$1" || fail "$1 lacks [$2]: $(cat "$TEST_TMP/$1")"; }
hget() { rcli --raw HGET "$HASH" "$1"; }
score() { rcli ZSCORE "$DELAYED" "$1"; }

# Config: two credentials, secrets from the environment (none inline),
# and the file private anyway, as an operator would keep it.
export ACME_CS="cs-acme" ACME_RT="rt-acme-initial" OTHER_CS="cs-other"
CFG="$TEST_TMP/pacer.json"
write_config "$CFG" '"credentials": {
  "acme": {"token_url": "http://127.0.0.1:9/token", "client_id": "pacer",
           "client_secret_env": "ACME_CS", "refresh_token_env": "ACME_RT",
           "hosts": ["api.example"]},
  "other": {"token_url": "http://127.0.0.1:9/token", "client_id": "pacer",
            "client_secret_env": "OTHER_CS", "hosts": ["other.example"]}}'
chmod 600 "$CFG"

# Shared state as the scheduler leaves it after invalid_grant.
past=$(( $(now_ms) - 60000 ))
rcli HSET "$HASH" access_token "$OLD_AT" expires_at_ms "$past" generation 4 \
  refresh_token "$OLD_RT" status reauth_required \
  last_error "invalid_grant: refresh token revoked" updated_at_ms "$past" \
  lifetime_s 3600 >/dev/null || fail "HSET"
rcli HSET "${PREFIX}cred:other" status ok generation 2 >/dev/null

# Parked and delayed members ("<id>\n<attempt>\n[tag\n]<json>").
M1=$'p-1\n0\n{"id":"p-1","url":"https://api.example/v1/a","credential":"acme"}'
M2=$'p-2\n1\nh\n{"id":"p-2","url":"https://api.example/v1/b","credential":"acme","priority":"high"}'
M3=$'p{3\n0\n{"id":"p{3","url":"https://api.example/v1/c","credential":"acme"}'
MO=$'p-4\n0\n{"id":"p-4","url":"https://other.example/v1/d","credential":"other"}'
MB=$'p-5\n0\n{"id":"p-5","credential":"acme",'
MD=$'d-1\n0\n{"id":"d-1","url":"https://api.example/v1/e","credential":"acme"}'
due_later=$(( $(now_ms) + 3600000 ))
rcli ZADD "$DELAYED" "$PARK" "$M1" "$PARK" "$M2" "$PARK" "$M3" \
  "$PARK" "$MO" "$PARK" "$MB" "$due_later" "$MD" >/dev/null || fail "ZADD"

# ---- A: cred show before
run show-a cred show --config "$CFG"
expect_rc 0 "A: cred show"
grep -E '^acme +reauth_required +4 +expired +set +set +3 +- +invalid_grant: refresh token revoked$' \
  "$TEST_TMP/show-a.out" >/dev/null || fail "A: acme line: $(cat "$TEST_TMP/show-a.out")"
grep -E '^other +ok +2 +- +none +none +1 ' "$TEST_TMP/show-a.out" >/dev/null ||
  fail "A: other line: $(cat "$TEST_TMP/show-a.out")"
has show-a.out "Fix: pacer cred set acme --refresh-token-file FILE"
has show-a.out "1 parked job names no configured credential or cannot be read"
run show-a-json cred show acme --json --config "$CFG"
expect_rc 0 "A: cred show --json"
j="$TEST_TMP/show-a-json.out"
[ "$(jq -r '.credentials | length' "$j")" = 1 ] || fail "A: json: one credential"
[ "$(jq -r '.credentials[0] | [.name, .status, .generation, .parked,
    .access_token, .refresh_token, .refresh_lock_held, (.expires_in_s < 0)] | @tsv' "$j")" = \
  "$(printf 'acme\treauth_required\t4\t3\tset\tset\tfalse\ttrue')" ] || fail "A: json fields: $(cat "$j")"
[ "$(jq -r '.credentials[0].fix' "$j")" = "pacer cred set acme --refresh-token-file FILE" ] ||
  fail "A: json fix"
[ "$(jq -r '.parked_total' "$j")" = 5 ] || fail "A: parked_total"

# A held refresh lock shows up (the CLI never takes it).
rcli SET "${PREFIX}lock:cred:acme" x PX 30000 >/dev/null
run show-lock cred show acme --json --config "$CFG"
[ "$(jq -r '.credentials[0].refresh_lock_held' "$TEST_TMP/show-lock.out")" = true ] ||
  fail "A: lock not shown"
rcli DEL "${PREFIX}lock:cred:acme" >/dev/null

# ---- B: cred set from a file, with a subscriber on the event channel
redis-cli -s "$REDIS_SOCK" SUBSCRIBE "${PREFIX}credev:acme" >"$TEST_TMP/sub.txt" 2>&1 &
PIDS+=($!)
wait_until 10 '[ "$(rcli PUBSUB NUMSUB "${PREFIX}credev:acme" | tail -1)" = 1 ]' ||
  fail "B: subscriber did not subscribe"
printf '%s\n' "$CANARY" >"$TEST_TMP/new.rt"
chmod 600 "$TEST_TMP/new.rt"
before=$(( $(now_ms) - 1000 ))
run set-b cred set acme --refresh-token-file "$TEST_TMP/new.rt" --config "$CFG"
expect_rc 0 "B: cred set"
[ "$(cat "$TEST_TMP/set-b.out")" = \
  "credential acme: new refresh token stored (generation 5); 3 parked jobs released" ] ||
  fail "B: output: $(cat "$TEST_TMP/set-b.out")"
[ "$(hget refresh_token)" = "$CANARY" ] || fail "B: refresh_token not stored (trailing newline?)"
[ "$(hget access_token)" = "" ] || fail "B: access_token not cleared"
[ "$(hget expires_at_ms)" = 0 ] || fail "B: expires_at_ms"
[ "$(hget status)" = ok ] || fail "B: status $(hget status)"
[ "$(hget last_error)" = "" ] || fail "B: last_error"
[ "$(hget generation)" = 5 ] || fail "B: generation $(hget generation)"
[ "$(hget lifetime_s)" = 3600 ] || fail "B: lifetime_s changed"
upd=$(hget updated_at_ms)
[ "$upd" -ge "$before" ] && [ "$upd" -le $(( $(now_ms) + 1000 )) ] ||
  fail "B: updated_at_ms $upd"
for m in "$M1" "$M2" "$M3"; do
  s=$(score "$m")
  [ "$s" -ge "$before" ] && [ "$s" -le $(( $(now_ms) + 1000 )) ] ||
    fail "B: ${m%%$'\n'*} not due now (score $s)"
done
[ "$(score "$MO")" = "$PARK" ] || fail "B: other credential's job released"
[ "$(score "$MB")" = "$PARK" ] || fail "B: malformed member released"
[ "$(score "$MD")" = "$due_later" ] || fail "B: ordinary delayed member moved"
[ "$(rcli ZCARD "$DELAYED")" = 6 ] || fail "B: members lost or added"
wait_until 10 'grep -qx 5 "$TEST_TMP/sub.txt"' ||
  fail "B: no event with generation 5: $(cat "$TEST_TMP/sub.txt")"
[ "$(rcli HGET "${PREFIX}cred:other" generation)" = 2 ] || fail "B: other credential touched"

# ---- C: cred set from the environment; nothing left to release
export NEW_RT="$CANARY2"
rcli SET "${PREFIX}lock:cred:acme" x PX 30000 >/dev/null # a refresh in flight
run set-c cred set acme --refresh-token-env NEW_RT --config "$CFG"
expect_rc 0 "C: cred set env"
has set-c.log "a refresh of acme was in progress"
[ "$(rcli GET "${PREFIX}lock:cred:acme")" = x ] || fail "C: the lock was touched"
rcli DEL "${PREFIX}lock:cred:acme" >/dev/null
[ "$(cat "$TEST_TMP/set-c.out")" = \
  "credential acme: new refresh token stored (generation 6); 0 parked jobs released" ] ||
  fail "C: output: $(cat "$TEST_TMP/set-c.out")"
[ "$(hget refresh_token)" = "$CANARY2" ] || fail "C: refresh_token"
wait_until 10 'grep -qx 6 "$TEST_TMP/sub.txt"' || fail "C: no event with generation 6"
unset NEW_RT

# ---- D: refusals leave the hash alone (generation stays 6)
chmod 644 "$TEST_TMP/new.rt"
run set-d1 cred set acme --refresh-token-file "$TEST_TMP/new.rt" --config "$CFG"
expect_rc 2 "D: world-readable file"
has set-d1.log "is readable by group or others (mode 0644); chmod 600 $TEST_TMP/new.rt"
chmod 640 "$TEST_TMP/new.rt"
run set-d2 cred set acme --refresh-token-file "$TEST_TMP/new.rt" --config "$CFG"
expect_rc 2 "D: group-readable file"
has set-d2.log "(mode 0640)"
: >"$TEST_TMP/empty.rt" && chmod 600 "$TEST_TMP/empty.rt"
run set-d3 cred set acme --refresh-token-file "$TEST_TMP/empty.rt" --config "$CFG"
expect_rc 2 "D: empty file"
has set-d3.log "empty.rt is empty"
printf '%s\n%s\n' "$CANARY" "$CANARY" >"$TEST_TMP/two.rt" && chmod 600 "$TEST_TMP/two.rt"
run set-d4 cred set acme --refresh-token-file "$TEST_TMP/two.rt" --config "$CFG"
expect_rc 2 "D: two lines"
has set-d4.log "must hold one line of visible ASCII characters"
head -c 5000 /dev/zero | tr '\0' a >"$TEST_TMP/big.rt" && chmod 600 "$TEST_TMP/big.rt"
run set-d5 cred set acme --refresh-token-file "$TEST_TMP/big.rt" --config "$CFG"
expect_rc 2 "D: too large"
has set-d5.log "is larger than 4096 bytes"
chmod 600 "$TEST_TMP/new.rt"
run set-d6 cred set nosuch --refresh-token-file "$TEST_TMP/new.rt" --config "$CFG"
expect_rc 2 "D: unknown name"
has set-d6.log 'credential "nosuch" is not in '
has set-d6.log "(configured: acme, other)"
run set-d7 cred set acme --refresh-token-file "$TEST_TMP/new.rt"
expect_rc 2 "D: no config"
has set-d7.log "no --config given"
run set-d8 cred set acme --config "$CFG"
expect_rc 2 "D: no token option"
has set-d8.log "needs exactly one of --refresh-token-file FILE and --refresh-token-env VAR"
run set-d9 cred set acme --refresh-token-env UNSET_VAR_$$ --config "$CFG"
expect_rc 2 "D: unset env"
has set-d9.log "environment variable UNSET_VAR_$$ is not set"
run set-d10 cred set acme "$CANARY" --refresh-token-file "$TEST_TMP/new.rt" --config "$CFG"
expect_rc 2 "D: token typed as an argument"
has set-d10.log "unexpected extra argument"
run set-d11 cred set acme --refresh-token="$CANARY" --config "$CFG"
expect_rc 2 "D: unknown option with a value"
has set-d11.log "--refresh-token: unknown option"
run set-d12 cred set acme --refresh-token-file "$TEST_TMP/new.rt" --config "$CFG" \
  --redis "unix://$TEST_TMP/no.sock"
expect_rc 2 "D: no redis"
has set-d12.log "redis: $TEST_TMP/no.sock: "
run show-d cred show nosuch --config "$CFG"
expect_rc 2 "D: show unknown name"
[ "$(hget generation)" = 6 ] || fail "D: a refused set changed the generation"
[ "$(hget refresh_token)" = "$CANARY2" ] || fail "D: a refused set changed the token"

# ---- E: stats (reads the config like the worker: secrets from the env)
rcli HSET "$HASH" access_token "$OLD_AT" expires_at_ms $(( $(now_ms) + 120000 )) >/dev/null
run stats-e stats --config "$CFG"
expect_rc 0 "E: stats"
has stats-e.out "credentials"
grep -E '^  acme +ok +6 +1[12][0-9]s +set +set +0 +- +-$' "$TEST_TMP/stats-e.out" >/dev/null ||
  fail "E: stats acme line: $(cat "$TEST_TMP/stats-e.out")"
grep -E '^  other +ok +2 .* 1 ' "$TEST_TMP/stats-e.out" >/dev/null ||
  fail "E: stats other line: $(cat "$TEST_TMP/stats-e.out")"
run stats-e-json stats --config "$CFG" --json
expect_rc 0 "E: stats --json"
j="$TEST_TMP/stats-e-json.out"
[ "$(jq -r '[.credentials[].name] | join(",")' "$j")" = "acme,other" ] || fail "E: json names"
[ "$(jq -r '.credentials[0] | [.status, .generation, .parked, .access_token,
    (.expires_in_s > 100), (has("fix"))] | @tsv' "$j")" = \
  "$(printf 'ok\t6\t0\tset\ttrue\tfalse')" ] || fail "E: json acme: $(cat "$j")"
run show-e cred show --config "$CFG"
run show-e-json cred show --json --config "$CFG"

# ---- F: no token ever in any output
for s in "$CANARY" "$CANARY2" "$OLD_RT" "$OLD_AT" "$ACME_RT" "$ACME_CS"; do
  if grep -qF -- "$s" "$OUT"; then
    fail "F: a secret appears in the output: $(grep -lF -- "$s" "$TEST_TMP"/*.out "$TEST_TMP"/*.log)"
  fi
done
[ "$(wc -l <"$OUT")" -gt 30 ] || fail "F: too little output scanned"

pass "cred set/show and stats credentials"
