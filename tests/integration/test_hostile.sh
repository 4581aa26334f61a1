#!/usr/bin/env bash
# Hostile upstreams through the real worker (docs/WORKERS.md). One batch
# mixes 100 ordinary jobs with connection resets (before and during the
# body), a body cut short, broken status lines and headers, a 1 MiB header,
# 200,000 headers, a bad chunk, conflicting Content-Lengths, HTTP/0.9,
# a server that never answers, a connect that never completes (a full
# accept queue), a slow drip, a 5xx storm, bodies over the cap with and
# without Content-Length and gzip bombs on 200 and on 500.
# Each job ends in its documented state (state and reason), exactly one
# result per job, the worker lives, and its peak RSS stays under
# 20 x response_max_bytes + 50 MB with 20 oversized bodies at once
# (unbounded bodies and decompression bombs stay bounded; looser under ASan, whose shadow memory and quarantine are not ours).
. "$(dirname "$0")/lib.sh"

CAP=1048576
start_testapi --raw-port 0
RAW=$(sed -n 's/^raw port=\([0-9]*\) .*/\1/p' "$TESTAPI_OUT")
HOLE=$(sed -n 's/.* blackhole port=\([0-9]*\)$/\1/p' "$TESTAPI_OUT")
[ -n "$RAW" ] && [ -n "$HOLE" ] || fail "no raw port from pacer-testapi"
RAW_URL="http://127.0.0.1:$RAW"
write_config "$TEST_TMP/pacer.json" "\"concurrency\": 64, \"response_max_bytes\": $CAP, \"connect_timeout_ms\": 1000"

# job ID URL [EXTRA]: one GET job with 2 attempts and a 2 s timeout.
job() {
  printf '{"id":"%s","url":"%s","max_attempts":2,"timeout_ms":2000%s}\n' \
    "$1" "$2" "${3:+,$3}"
}
# expect ID STATE REASON, in a table the checks below walk.
EXPECT="$TEST_TMP/expect.txt"
: >"$EXPECT"
add() { # add ID URL STATE REASON
  job "$1" "$2" >>"$TEST_TMP/jobs.jsonl"
  echo "$1 $3 $4" >>"$EXPECT"
}
: >"$TEST_TMP/jobs.jsonl"
for i in 1 2; do
  add "reset-$i" "$RAW_URL/raw/reset" failed transport_error
  add "reset-body-$i" "$RAW_URL/raw/reset-body" failed transport_error
  add "short-body-$i" "$RAW_URL/raw/short-body" failed transport_error
  add "bad-status-$i" "$RAW_URL/raw/bad-status" failed transport_error
  add "bad-header-$i" "$RAW_URL/raw/bad-header" failed transport_error
  add "nul-header-$i" "$RAW_URL/raw/nul-header" failed transport_error
  add "huge-header-$i" "$RAW_URL/raw/huge-header" failed transport_error
  add "many-headers-$i" "$RAW_URL/raw/many-headers" failed transport_error
  add "bad-chunk-$i" "$RAW_URL/raw/bad-chunk" failed transport_error
  add "dup-length-$i" "$RAW_URL/raw/dup-length" failed transport_error
  add "http09-$i" "$RAW_URL/raw/http09" failed transport_error
  add "silent-$i" "$RAW_URL/raw/silent" failed timeout
  add "connect-$i" "http://127.0.0.1:$HOLE/x" failed timeout
  add "drip-$i" "$TESTAPI_URL/drip?bytes=1000&interval_ms=50" failed timeout
done
for i in $(seq 1 10); do
  add "storm-$i" "$TESTAPI_URL/status/503" failed http_503
done
for i in 1 2 3; do
  add "big-$i" "$TESTAPI_URL/big?bytes=$(( 50 * CAP ))" failed response_too_large
  add "chunked-$i" "$TESTAPI_URL/big-chunked?bytes=$(( 50 * CAP ))" failed response_too_large
done
for i in $(seq 1 7); do
  add "bomb200-$i" "$TESTAPI_URL/gzip-bomb?bytes=268435456" failed response_too_large
  add "bomb500-$i" "$TESTAPI_URL/gzip-bomb?bytes=268435456&status=500" failed response_too_large
done
for i in $(seq 1 100); do
  add "ok-$i" "$TESTAPI_URL/fast" ok ""
done
total=$(wc -l <"$TEST_TMP/jobs.jsonl")

start_worker "$TEST_TMP/pacer.json"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  >/dev/null 2>"$TEST_TMP/submit.log" || fail "submit"
wait_until 120 'test "$(results_count)" -ge '"$total" ||
  fail "only $(results_count) of $total results"
alive "$WORKER_PID" || fail "the worker died"
hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$WORKER_PID/status")

# Exactly one result per job, each in its documented state.
[ "$(results_ids | sort | uniq -d | wc -l)" -eq 0 ] || fail "duplicate results"
[ "$(results_ids | sort -u | wc -l)" -eq "$total" ] || fail "lost results"
bad=0
while read -r id want_state want_reason; do
  state=$(result_of "$id" state)
  reason=$(result_of "$id" reason)
  if [ "$state" != "$want_state" ] || [ "$reason" != "$want_reason" ]; then
    echo "job $id: $state/$reason, want $want_state/$want_reason ($(result_of "$id" error))" >&2
    bad=$((bad + 1))
  fi
done <"$EXPECT"
[ "$bad" -eq 0 ] || fail "$bad jobs ended in the wrong state"
# Retryable faults used both attempts; 5xx and connect faults too.
[ "$(result_of storm-1 attempts)" -eq 2 ] || fail "storm-1: $(result_of storm-1 attempts) attempts, want 2"
# Dead letters keep only a small excerpt of any body.
max_excerpt=$(stream_field dead excerpt | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
[ "$max_excerpt" -le 4096 ] || fail "a dead letter holds a $max_excerpt-byte excerpt"

# Peak RSS bound. ASan's shadow memory and freed-memory quarantine
# are not pacer's, so its build gets a wider bound. The build says which
# it is (PACER_BUILD_ASAN, set by CMake): probing with `ldd | grep -q`
# under pipefail failed when grep's early exit killed ldd with SIGPIPE,
# and applied the release bound to the ASan build.
case "${PACER_BUILD_ASAN:-}" in
1 | 0) ;;
*) fail "PACER_BUILD_ASAN is '${PACER_BUILD_ASAN:-}', want 1 or 0 (set by ctest)" ;;
esac
bound_kib=$(( (20 * CAP + 50 * 1048576) / 1024 ))
if [ "$PACER_BUILD_ASAN" = 1 ]; then
  bound_kib=$(( bound_kib + 400 * 1024 ))
fi
[ "$hwm_kib" -le "$bound_kib" ] ||
  fail "worker peak RSS ${hwm_kib} KiB over the bound ${bound_kib} KiB"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive "$WORKER_PID"' || fail "no exit after SIGTERM"
pass "$total jobs ($(( total - 100 )) hostile): each in its documented state, one result each; worker peak RSS $(( hwm_kib / 1024 )) MiB (bound $(( bound_kib / 1024 )) MiB)"
