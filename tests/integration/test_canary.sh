#!/usr/bin/env bash
# Canary test (docs/CREDENTIALS.md): plant secrets everywhere a job or a
# credential can carry one, drive jobs to results, retries and dead letters
# at --log-level debug with every component logging, then grep every output
# pacer produces for them. Expect 0 occurrences.
#
# Canaries:
#   AT-CANARY     access token in the credential store (Bearer on requests;
#                 /echo sends it back in response bodies)
#   RT-CANARY     refresh token (env and store); the token endpoint answers
#                 400 with a body that quotes it (a scripted reply)
#   CS-CANARY     client secret (env; Basic auth to the token endpoint)
#   JOB-CANARY    a job's own "Authorization: Bearer JOB-CANARY"
#   APIKEY-CANARY a job's X-Api-Key (a header pacer treats as secret)
#   PW-CANARY     a job URL's userinfo password (http://user:PW-CANARY@...)
# plus the base64 forms libcurl puts on the wire for the two Basic auths.
#
# Outputs searched: every worker and CLI stdout/stderr, `pacer stats`
# (text and --json), `pacer cred show --json`, every Redis key under the
# test prefix (streams, hashes, sets, strings, lane snapshots), and the
# worker's /metrics and /api/state when `pacer worker --help` offers
# --metrics. The only values exempt are the two fields of the credential
# hash (<prefix>cred:acme) that exist to hold tokens: access_token and
# refresh_token; they are checked to hold no canary at the end anyway,
# once `pacer cred set` replaced the refused refresh token.
. "$(dirname "$0")/lib.sh"

export PACER_CANARY_CS="CS-CANARY"
export PACER_CANARY_RT="RT-CANARY"
HASH="${PREFIX}cred:acme"
B64_PW=$(printf '%s' 'user:PW-CANARY' | base64)
B64_CS=$(printf '%s' 'pacer-canary:CS-CANARY' | base64)
CANARIES="AT-CANARY|RT-CANARY|CS-CANARY|JOB-CANARY|APIKEY-CANARY|PW-CANARY|$B64_PW|$B64_CS"

start_testapi
CFG="$TEST_TMP/pacer.json"
write_config "$CFG" "\"concurrency\": 16, \"log\": \"all\", \"credentials\": {
  \"acme\": {\"token_url\": \"$TESTAPI_URL/oauth2/access_token\",
             \"client_id\": \"pacer-canary\",
             \"client_secret_env\": \"PACER_CANARY_CS\",
             \"refresh_token_env\": \"PACER_CANARY_RT\",
             \"hosts\": [\"127.0.0.1\"]}}"
chmod 600 "$CFG"

# The credential store holds a live AT-CANARY (generation 1), as if a
# worker had refreshed it: jobs adopt it without a token request.
exp=$(( $(now_ms) + 3600 * 1000 ))
rcli HSET "$HASH" access_token AT-CANARY refresh_token RT-CANARY \
  expires_at_ms "$exp" lifetime_s 3600 generation 1 status ok \
  last_error "" updated_at_ms "$(now_ms)" >/dev/null

cli() { # NAME ARGS...: run the pacer CLI, its output kept for the grep
  local name=$1
  shift
  "$PACER" "$@" >"$TEST_TMP/cli-$name.out" 2>"$TEST_TMP/cli-$name.log"
}

scrape() { # NAME: the worker's /metrics and /api/state, when it has them
  local port tag=$1
  [ "$metrics" -eq 1 ] || return 0
  wait_until 10 'grep -q "metrics_port=[1-9]" "$TEST_TMP/worker.log"' ||
    fail "the worker logged no metrics_port"
  port=$(sed -n 's/.*metrics_port=\([0-9]*\).*/\1/p' "$TEST_TMP/worker.log" | head -1)
  # 503 until the worker has published its first snapshot (every second)
  wait_until 10 'curl -fsS "http://127.0.0.1:$port/metrics" >"$TEST_TMP/metrics-$tag.out"' ||
    fail "GET /metrics"
  wait_until 10 'curl -fsS "http://127.0.0.1:$port/api/state" >"$TEST_TMP/api-state-$tag.out"' ||
    fail "GET /api/state"
}

metrics=0
if "$PACER" worker --help 2>&1 | grep -q -- '--metrics'; then
  metrics=1
fi
if [ "$metrics" -eq 1 ]; then
  "$PACER" worker --config "$CFG" --log-level debug --log all \
    --metrics 127.0.0.1:0 >"$TEST_TMP/worker.out" 2>"$TEST_TMP/worker.log" &
else
  echo "pacer worker has no --metrics: /metrics and /api/state not checked"
  "$PACER" worker --config "$CFG" --log-level debug --log all \
    >"$TEST_TMP/worker.out" 2>"$TEST_TMP/worker.log" &
fi
WORKER_PID=$!
PIDS+=($WORKER_PID)

U="$TESTAPI_URL"
PW_URL="http://user:PW-CANARY@127.0.0.1:${TESTAPI_PORT}"
jobs="$TEST_TMP/jobs.jsonl"
{
  # the credential's token, echoed back; a 404 (dead letter); a 503 twice
  # (a retry, then a dead letter), each with Authorization on the wire
  printf '{"id":"cred-echo","url":"%s/echo","credential":"acme"}\n' "$U"
  printf '{"id":"cred-404","url":"%s/status/404","credential":"acme"}\n' "$U"
  printf '{"id":"cred-503","url":"%s/status/503","credential":"acme","max_attempts":2}\n' "$U"
  # the job's own secret headers, echoed back and dead-lettered
  printf '{"id":"job-echo","method":"POST","url":"%s/echo","headers":{"Authorization":"Bearer JOB-CANARY","X-Api-Key":"APIKEY-CANARY"},"body":{"x":1}}\n' "$U"
  printf '{"id":"job-404","url":"%s/status/404","headers":{"Authorization":"Bearer JOB-CANARY","X-Api-Key":"APIKEY-CANARY"}}\n' "$U"
  printf '{"id":"job-503","url":"%s/status/503","max_attempts":2,"headers":{"Authorization":"Bearer JOB-CANARY"}}\n' "$U"
  # a URL password: libcurl sends it as Basic auth, /echo sends that back
  printf '{"id":"pw-echo","url":"%s/echo"}\n' "$PW_URL"
  printf '{"id":"pw-404","url":"%s/status/404"}\n' "$PW_URL"
  printf '{"id":"pw-503","url":"%s/status/503","max_attempts":2}\n' "$PW_URL"
} >"$jobs"
cli submit submit --config "$CFG" "$jobs" || fail "submit: $(cat "$TEST_TMP/cli-submit.log")"

# Jobs pacer refuses, straight into the stream: their text goes to the
# dead letter, redacted.
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"inv-cred\",\"url\":\"$U/fast\",\"credential\":\"acme\",\"headers\":{\"Authorization\":\"Bearer JOB-CANARY\"}}" >/dev/null
rcli XADD "${PREFIX}jobs" '*' job '{"id":"inv-scheme","url":"ftp://user:PW-CANARY@127.0.0.1/x","headers":{"X-Api-Key":"APIKEY-CANARY"}}' >/dev/null
rcli XADD "${PREFIX}jobs" '*' job '{"id":"inv-port","url":"http://user:PW-CANARY@127.0.0.1:99999/"}' >/dev/null
rcli XADD "${PREFIX}jobs" '*' job '{"id":"inv-field","URL":"http://user:PW-CANARY@127.0.0.1/","Headers":{"Authorization":"Bearer JOB-CANARY"}}' >/dev/null
rcli XADD "${PREFIX}jobs" '*' id cut-hdr job '{"id":"cut-hdr","headers":{"Authorization":"Bearer JOB-CANARY' >/dev/null
rcli XADD "${PREFIX}jobs" '*' id cut-url job '{"id":"cut-url","url":"http://user:PW-CANARY@127.0.0.1' >/dev/null
N=15

wait_until 60 'test "$(results_count)" -ge $N' ||
  fail "only $(results_count) of $N results"
[ "$(results_count)" -eq $N ] || fail "$(results_count) results, want $N"
for id in cred-echo job-echo pw-echo; do
  [ "$(result_of $id state)" = ok ] || fail "$id: $(result_of $id state) $(result_of $id error)"
done
for id in cred-503 job-503 pw-503; do
  [ "$(result_of $id attempts)" = 2 ] || fail "$id: $(result_of $id attempts) attempts, want a retry"
done
[ "$(rcli XLEN "${PREFIX}dead")" -eq 12 ] || fail "$(rcli XLEN "${PREFIX}dead") dead letters, want 12"
# The scrubbing and redaction actually happened (not just absent input).
result_of cred-echo body | grep -q 'Bearer \[redacted\]' ||
  fail "cred-echo: the echoed access token is not shown as Bearer [redacted]"
result_of job-echo body | grep -q 'Bearer \[redacted\]' ||
  fail "job-echo: the echoed job token is not shown as Bearer [redacted]"
result_of pw-echo body | grep -q 'Basic \[redacted\]' ||
  fail "pw-echo: the echoed URL password (Basic) is not redacted"
rcli --raw XRANGE "${PREFIX}dead" - + >"$TEST_TMP/dead.txt"
grep -q 'user:\[redacted\]@127.0.0.1' "$TEST_TMP/dead.txt" ||
  fail "no dead letter shows the URL as user:[redacted]@"
grep -q '"Authorization":"\[redacted\]"' "$TEST_TMP/dead.txt" ||
  fail "no dead letter shows a redacted Authorization header"
echo "A: $N jobs: 3 ok, 3 retried, 12 dead letters; echoes scrubbed, job texts redacted"

# ---- the refresh token refused with an error body that quotes it
curl -fsS -X POST "$U/admin/script" -d '[{"path":"/oauth2/access_token","method":"POST","status":400,
  "headers":{"Content-Type":"application/json"},
  "body":"{\"error\":\"invalid_grant\",\"error_description\":\"refresh token RT-CANARY of client pacer-canary (secret CS-CANARY) was revoked\"}"}]' \
  >/dev/null || fail "script"
cli refresh cred refresh acme --config "$CFG" || fail "cred refresh: $(cat "$TEST_TMP/cli-refresh.log")"
wait_until 30 'test "$(rcli HGET "$HASH" status)" = reauth_required' ||
  fail "status $(rcli HGET "$HASH" status) after the refused refresh"
[ "$(testapi_stat .token_posts)" -eq 1 ] || fail "$(testapi_stat .token_posts) token POSTs, want 1"
# What the store says about the refusal (the token fields aside).
rcli --raw HMGET "$HASH" status last_error generation >"$TEST_TMP/cred-reauth.out"
[ -n "$(rcli --raw HGET "$HASH" last_error)" ] || fail "no last_error recorded for the refusal"
scrape reauth
printf '{"id":"cred-parked","url":"%s/echo","credential":"acme"}\n' "$U" >"$TEST_TMP/parked.jsonl"
cli submit2 submit --config "$CFG" "$TEST_TMP/parked.jsonl" || fail "submit parked"
parked() { rcli ZCOUNT "${PREFIX}delayed" 4503599627370496 +inf; }
wait_until 30 'test "$(parked)" -eq 1' || fail "the credential job was not parked"
cli show cred show --json --config "$CFG" || fail "cred show"
cli stats1 stats --config "$CFG" || fail "stats"
cli stats1j stats --json --config "$CFG" || fail "stats --json"
# A new refresh token (RT-0, which the upstream accepts) releases the job.
printf 'RT-0\n' >"$TEST_TMP/rt.txt"
chmod 600 "$TEST_TMP/rt.txt"
cli set cred set acme --refresh-token-file "$TEST_TMP/rt.txt" --config "$CFG" ||
  fail "cred set: $(cat "$TEST_TMP/cli-set.log")"
wait_until 30 'test "$(results_count)" -ge $(( N + 1 ))' || fail "the parked job did not finish"
[ "$(result_of cred-parked state)" = ok ] || fail "cred-parked: $(result_of cred-parked error)"
echo "B: refresh refused (400 quoting the refresh token): reauth_required, job parked; cred set released it"

# ---- every output, while the worker still runs (lane snapshots live)
cli stats2 stats --config "$CFG" || fail "stats"
cli stats2j stats --json --config "$CFG" || fail "stats --json"
scrape end
# What an operator sees of dead letters: the redacted form only.
cli deadlist dead list --config "$CFG" || fail "dead list"
cli deadshow dead show job-404 --config "$CFG" || fail "dead show job-404"
grep -q 'job-404' "$TEST_TMP/cli-deadshow.out" || fail "dead show printed no job-404"
# Every key under the prefix, whole, except the credential hash's two
# token fields (listed on their own below) and the <prefix>deadjob:<id>
# hashes, which keep a dead job's original entry, secrets intact, for
# `pacer dead retry` (store/keys.h, docs/REDIS.md): their field names are
# dumped, their values never leave Redis.
dump="$TEST_TMP/redis-dump.out"
: >"$dump"
ndeadjob=0
rcli --scan --pattern "${PREFIX}*" >"$TEST_TMP/keys.txt"
[ -s "$TEST_TMP/keys.txt" ] || fail "no Redis keys under $PREFIX"
grep -qx "${PREFIX}lanestat:.*" "$TEST_TMP/keys.txt" ||
  echo "note: no lane snapshot key at dump time"
while IFS= read -r k; do
  t=$(rcli TYPE "$k")
  echo "== $k ($t)" >>"$dump"
  case "$t" in
  string) rcli --raw GET "$k" >>"$dump" ;;
  hash)
    if [ "${k#"${PREFIX}"deadjob:}" != "$k" ]; then
      ndeadjob=$((ndeadjob + 1))
      echo "(original entry kept for dead retry; fields:" \
        "$(rcli --raw HKEYS "$k" | tr '\n' ' '))" >>"$dump"
    elif [ "$k" = "$HASH" ]; then
      rcli --raw EVAL "local r = {}
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
  if h[i] ~= 'access_token' and h[i] ~= 'refresh_token' then
    r[#r + 1] = h[i]; r[#r + 1] = h[i + 1]
  end
end
return r" 1 "$k" >>"$dump"
    else
      rcli --raw HGETALL "$k" >>"$dump"
    fi
    ;;
  list) rcli --raw LRANGE "$k" 0 -1 >>"$dump" ;;
  set) rcli --raw SMEMBERS "$k" >>"$dump" ;;
  zset) rcli --raw ZRANGE "$k" 0 -1 WITHSCORES >>"$dump" ;;
  stream)
    rcli --raw XRANGE "$k" - + >>"$dump"
    rcli --raw XINFO GROUPS "$k" >>"$dump" 2>&1
    ;;
  *) echo "(type $t not dumped)" >>"$dump" ;;
  esac
done <"$TEST_TMP/keys.txt"
grep -q "^== ${PREFIX}results (stream)" "$dump" || fail "the dump has no results stream"
grep -q "^== ${PREFIX}dead (stream)" "$dump" || fail "the dump has no dead stream"
grep -q "^== $HASH (hash)" "$dump" || fail "the dump has no credential hash"
[ "$ndeadjob" -gt 0 ] || fail "no <prefix>deadjob: key: are dead jobs' originals kept?"
# The exempt fields hold tokens by design; after cred set they hold none of
# the canaries either.
rcli --raw HMGET "$HASH" access_token refresh_token >"$TEST_TMP/cred-token-fields.out"

kill -TERM "$WORKER_PID"
wait_until 30 '! alive "$WORKER_PID"' || fail "worker did not stop on SIGTERM"

# ---- the grep
[ "$(wc -l <"$TEST_TMP/worker.log")" -gt 30 ] || fail "the debug log is suspiciously short"
grep -q 'level=debug' "$TEST_TMP/worker.log" || fail "no debug lines: was --log-level debug applied?"
found=0
for f in "$TEST_TMP"/*.log "$TEST_TMP"/*.out; do
  case "$f" in
  */testapi.log | */testapi.out | */testapi.[0-9]*.log | */testapi.[0-9]*.out)
    continue ;; # the upstream's, not pacer's
  esac
  if grep -aEn "$CANARIES" "$f" >"$TEST_TMP/hits.txt"; then
    echo "canary in $f:" >&2
    head -5 "$TEST_TMP/hits.txt" >&2
    found=1
  fi
done
[ "$found" -eq 0 ] || fail "canaries found (see above)"
n=$(ls "$TEST_TMP"/*.log "$TEST_TMP"/*.out | grep -cv testapi)
pass "0 canaries in $n outputs (worker and CLI logs, stats, Redis keys$([ "$metrics" -eq 1 ] && echo ", /metrics, /api/state"))"
