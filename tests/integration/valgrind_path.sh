#!/usr/bin/env bash
# The integration path under valgrind memcheck, run by scripts/valgrind; not
# a ctest entry (it needs valgrind and a normal, non-sanitizer build).
#   1. `pacer run` of a small mixed batch on its private redis-server:
#      retries through the delayed set, a timeout, bodies over the cap (one
#      a gzip bomb) and a redirect.
#   2. `pacer worker --workers 2` on the fixture Redis with a rate limit and
#      an OAuth2 credential whose 2 s token is renewed during the run:
#      jobs from `pacer submit` and hostile entries XADDed by hand, then
#      `pacer stats`, `pacer cred list`, and SIGTERM.
# Each pacer process runs under valgrind (VALGRIND: the command and its
# options, set by scripts/valgrind) and must end with 0 errors and no
# definite or indirect leaks; valgrind's --error-exitcode makes any of them
# a non-zero exit, and each log's ERROR SUMMARY is checked too.
. "$(dirname "$0")/lib.sh"

: "${VALGRIND:?set VALGRIND to the valgrind command line (scripts/valgrind)}"
REAL_PACER=$PACER
# pacer under valgrind, one log per process (%p: its pid).
PACER="$TEST_TMP/pacer-vg"
cat >"$PACER" <<EOF
#!/bin/sh
exec $VALGRIND --log-file="$TEST_TMP/vg-%p.txt" "$REAL_PACER" "\$@"
EOF
chmod +x "$PACER"

# vg_check LABEL: every valgrind log so far says 0 errors; removes them.
vg_check() {
  local f n=0
  for f in "$TEST_TMP"/vg-*.txt; do
    [ -f "$f" ] || continue
    # A forked child that exec'ed another program (`pacer run` starting
    # redis-server) leaves an empty log: --child-silent-after-fork.
    if [ ! -s "$f" ]; then
      rm -f "$f"
      continue
    fi
    n=$((n + 1))
    if ! grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
      echo "---- $f" >&2
      cat "$f" >&2
      fail "$1: valgrind reported errors or leaks"
    fi
    grep -E 'definitely lost|indirectly lost|ERROR SUMMARY' "$f" | sed "s/^/$1: /"
    rm -f "$f"
  done
  [ "$n" -gt 0 ] || fail "$1: no valgrind log"
}

export PACER_TEST_SECRET="client-secret-vg"
export PACER_TEST_RT="RT-0"
start_testapi --require-auth --token-ttl 2s --fail-rate 0.05 --latency-ms 0-20

# ---- 1. pacer run: embedded Redis, retries, a result file. The 503s carry
# no Retry-After: with one they are throttles, which spend no attempt and
# end only at the job's deadline (docs/LIMITS.md "Throttles").
for i in $(seq 1 60); do
  case $((i % 3)) in
  0) printf '{"id":"r-%02d","url":"%s/fast"}\n' "$i" "$TESTAPI_URL" ;;
  1) printf '{"id":"r-%02d","method":"POST","url":"%s/echo","headers":{"Idempotency-Key":"k-%d"},"body":{"n":%d},"meta":{"i":%d}}\n' \
    "$i" "$TESTAPI_URL" "$i" "$i" "$i" ;;
  2) printf '{"id":"r-%02d","url":"%s/status/503","max_attempts":2}\n' \
    "$i" "$TESTAPI_URL" ;;
  esac
done >"$TEST_TMP/run.jsonl"
# The worker's error paths: a timeout, a body over the cap with and without
# Content-Length (gzip), and a redirect that is followed.
cat >>"$TEST_TMP/run.jsonl" <<EOF
{"id":"r-timeout","url":"$TESTAPI_URL/slow?ms=3000","timeout_ms":300,"max_attempts":1}
{"id":"r-big","url":"$TESTAPI_URL/big?bytes=9000000","max_attempts":1}
{"id":"r-bomb","url":"$TESTAPI_URL/gzip-bomb?bytes=67108864","max_attempts":1}
{"id":"r-redirect","url":"$TESTAPI_URL/status/302?header=Location:/fast"}
EOF
rc=0
(cd "$TEST_TMP" && "$PACER" run run.jsonl --out run-out.jsonl --workers 2 \
  >run.out 2>run.log) || rc=$?
# 23 jobs fail by design, so run exits 1 (99 would be valgrind's).
[ "$rc" -eq 1 ] || fail "pacer run exit $rc, want 1 (23 jobs fail by design)"
[ "$(wc -l <"$TEST_TMP/run-out.jsonl")" -eq 64 ] || fail "run: not 64 results"
[ "$(jq -r .state "$TEST_TMP/run-out.jsonl" | grep -cx ok)" -eq 41 ] ||
  fail "run: not 41 ok"
[ "$(jq -r 'select(.id == "r-bomb") | .reason' "$TEST_TMP/run-out.jsonl")" = \
  response_too_large ] || fail "run: the gzip bomb was not response_too_large"
vg_check "pacer run"

# ---- 2. pacer worker: limits, a credential with refreshes, dead letters.
write_config "$TEST_TMP/pacer.json" "\"concurrency\": 32, \"lease_ms\": 5000,
  \"limits\": [{\"name\": \"app\", \"key\": \"global\", \"rate\": \"400/s\"},
               {\"name\": \"acct\", \"key\": \"limit_key\", \"rate\": \"100/s\",
                \"max_in_flight\": 8}],
  \"credentials\": {
  \"acme\": {\"token_url\": \"$TESTAPI_URL/oauth2/access_token\",
             \"client_id\": \"pacer-test\",
             \"client_secret_env\": \"PACER_TEST_SECRET\",
             \"refresh_token_env\": \"PACER_TEST_RT\",
             \"hosts\": [\"127.0.0.1\"]}}"
chmod 600 "$TEST_TMP/pacer.json"
for i in $(seq 1 150); do
  case $((i % 5)) in
  0 | 1) printf '{"id":"w-%03d","method":"PUT","url":"%s/v1/adaccounts/act_%d/campaigns","credential":"acme","limit_key":"a%d","max_attempts":10,"body":{"n":%d}}\n' \
    "$i" "$TESTAPI_URL" $((i % 3)) $((i % 3)) "$i" ;;
  2) printf '{"id":"w-%03d","url":"%s/v1/campaigns/%d/stats","credential":"acme","max_attempts":10}\n' \
    "$i" "$TESTAPI_URL" "$i" ;;
  3) printf '{"id":"w-%03d","url":"%s/fast","priority":"high"}\n' "$i" "$TESTAPI_URL" ;;
  4) printf '{"id":"w-%03d","url":"%s/status/404","priority":"low"}\n' "$i" "$TESTAPI_URL" ;;
  esac
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  2>"$TEST_TMP/submit.log" || fail "submit failed"
vg_check "pacer submit"
rcli XADD "${PREFIX}jobs" '*' job '{"id":"bad-json", "url": ' >/dev/null
rcli XADD "${PREFIX}jobs" '*' job '{"id":"bad-scheme","url":"file:///etc/passwd"}' >/dev/null
rcli XADD "${PREFIX}jobs" '*' other field >/dev/null

start_worker "$TEST_TMP/pacer.json" worker
wait_until 240 'test "$(results_count)" -ge 153' ||
  fail "only $(results_count) of 153 results"
[ "$(stream_field results state | grep -cx ok)" -eq 120 ] ||
  fail "worker: $(stream_field results state | grep -cx ok) ok, want 120"
[ "$(testapi_stat .tokens.refreshed)" -ge 1 ] || fail "no token refresh"
"$PACER" stats --config "$TEST_TMP/pacer.json" --json >"$TEST_TMP/stats.json" ||
  fail "stats failed"
"$PACER" cred list --config "$TEST_TMP/pacer.json" >"$TEST_TMP/cred.txt" ||
  fail "cred list failed"
kill -TERM "$WORKER_PID"
wait_until 60 '! alive "$WORKER_PID"' || fail "worker did not exit on SIGTERM"
wait "$WORKER_PID"
rc=$?
if [ "$rc" -ne 0 ]; then
  vg_check "pacer worker, stats, cred list" # shows valgrind's report, if it made one
  fail "worker exit status $rc after SIGTERM (99: valgrind errors)"
fi
vg_check "pacer worker, stats, cred list"
pass "pacer run, submit, worker (SIGTERM), stats and cred list: 0 valgrind errors, no leaks"
