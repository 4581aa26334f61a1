# Shared helpers for the integration tests (bash). Sourced by test_*.sh.
#
# Environment (set by ctest, see CMakeLists.txt):
#   PACER        path to the pacer binary
#   TESTAPI      path to pacer-testapi
#   REDIS_SOCK   unix socket of the fixture redis-server
#   TEST_TMP     scratch dir for this test (created here)
set -u
set -o pipefail

TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
TEST_TMP=$(mktemp -d "/tmp/pacer-${TEST_NAME}-XXXXXX")
PREFIX="t:${TEST_NAME}:$$:"
PIDS=()

fail() {
  echo "FAIL ${TEST_NAME}: $*" >&2
  for f in "$TEST_TMP"/*.log; do
    [ -f "$f" ] || continue
    echo "---- $f (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}

# Sanitizer reports in any process log fail the test (ASan+UBSan build,
# TSan build).
check_sanitizers() {
  local f
  for f in "$TEST_TMP"/*.log "$TEST_TMP"/*.out; do
    [ -f "$f" ] || continue
    if grep -E 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$f" >/dev/null; then
      echo "sanitizer report in $f:" >&2
      head -n 40 "$f" >&2
      return 1
    fi
  done
  return 0
}

pass() {
  check_sanitizers || fail "sanitizer report"
  echo "PASS ${TEST_NAME}: $*"
}

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$TEST_TMP"
}
trap cleanup EXIT

rcli() {
  redis-cli -s "$REDIS_SOCK" "$@"
}

now_ms() {
  date +%s%3N
}

# wait_until DEADLINE_S 'CONDITION': evaluates the shell CONDITION (pass it
# in single quotes so it is re-evaluated each time) until it succeeds;
# returns 1 when DEADLINE_S seconds pass first. Polls every 50 ms (a
# condition with a deadline, never a bare sleep).
wait_until() {
  local deadline=$(( $(now_ms) + $1 * 1000 ))
  shift
  while ! eval "$*" >/dev/null 2>&1; do
    if [ "$(now_ms)" -gt "$deadline" ]; then
      return 1
    fi
    sleep 0.05
  done
  return 0
}

# start_private_redis [REDIS-SERVER ARGS...]: starts a redis-server of
# this test's own on $REDIS_SOCK (no TCP port, no persistence unless the
# arguments ask for it; they come last and win), sets REDIS_PID and waits
# until it answers PING. For tests whose command counts, config or restarts
# must not touch the shared fixture.
start_private_redis() {
  redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
    --save "" --appendonly no --dir "$TEST_TMP" \
    --logfile "$TEST_TMP/redis-server.txt" --daemonize no "$@" &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_until 10 'rcli PING | grep -q PONG' || fail "redis did not start"
}

# start_testapi [ARGS...]: starts pacer-testapi on a free port; sets
# TESTAPI_PORT, TESTAPI_URL, TESTAPI_PID and TESTAPI_OUT (its stdout).
# Each start gets output files of its own (testapi.out, then
# testapi.2.out, ...), created empty before the process starts, and the
# port is read from that file only: reusing one file let a second start
# read the first instance's "listening port=" line, or an empty port from
# the file the shell was just truncating (seen in e2e_cred H).
TESTAPI_STARTS=0
start_testapi() {
  local n out log
  TESTAPI_STARTS=$((TESTAPI_STARTS + 1))
  n=$TESTAPI_STARTS
  if [ "$n" -eq 1 ]; then
    out="$TEST_TMP/testapi.out" log="$TEST_TMP/testapi.log"
  else
    out="$TEST_TMP/testapi.$n.out" log="$TEST_TMP/testapi.$n.log"
  fi
  : >"$out"
  "$TESTAPI" --port 0 "$@" >"$out" 2>"$log" &
  PIDS+=($!)
  TESTAPI_PID=$!
  TESTAPI_OUT=$out
  wait_until 10 'grep -q "^listening port=[0-9]" "$out" || ! alive "$TESTAPI_PID"' ||
    fail "pacer-testapi did not start within 10 s: $(cat "$log")"
  alive "$TESTAPI_PID" || fail "pacer-testapi exited at start: $(cat "$log")"
  TESTAPI_PORT=$(sed -n 's/^listening port=\([0-9][0-9]*\).*/\1/p' "$out" | head -1)
  [ -n "$TESTAPI_PORT" ] || fail "pacer-testapi printed no port: $(head -c 200 "$out")"
  TESTAPI_URL="http://127.0.0.1:${TESTAPI_PORT}"
}

# write_config FILE [EXTRA_JSON_FIELDS]: a worker config for this test's
# prefix on the fixture redis.
write_config() {
  local file=$1 extra=${2:-}
  printf '{"redis_url": "unix://%s", "prefix": "%s", "workers": 2%s%s}\n' \
    "$REDIS_SOCK" "$PREFIX" "${extra:+, }" "$extra" >"$file"
}

# start_worker CONFIG [NAME]: starts `pacer worker` in the background; sets
# WORKER_PID.
start_worker() {
  local cfg=$1 name=${2:-worker}
  "$PACER" worker --config "$cfg" --log-level info >"$TEST_TMP/$name.out" \
    2>"$TEST_TMP/$name.log" &
  WORKER_PID=$!
  PIDS+=($WORKER_PID)
}

# results_count: entries in this test's results stream.
results_count() {
  rcli XLEN "${PREFIX}results"
}

# stream_field STREAM FIELD: the value of FIELD in every entry of STREAM
# (this test's prefix added), one per line, in stream order.
stream_field() {
  rcli --raw EVAL "local r = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == ARGV[1] then r[#r + 1] = f[i + 1] end
  end
end
return r" 1 "${PREFIX}$1" "$2"
}

# results_ids: the id field of every result, one per line.
results_ids() {
  stream_field results id
}

# result_of ID FIELD: FIELD of the (first) result for job ID.
result_of() {
  rcli --raw EVAL "for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f, id, v = e[2], nil, nil
  for i = 1, #f, 2 do
    if f[i] == 'id' then id = f[i + 1] end
    if f[i] == ARGV[2] then v = f[i + 1] end
  end
  if id == ARGV[1] then return v end
end
return nil" 1 "${PREFIX}results" "$1" "$2"
}

# testapi_stat JQ_PATH: a value from GET /stats, e.g. testapi_stat .requests
testapi_stat() {
  curl -fsS "${TESTAPI_URL}/stats" | jq -r "$1"
}

# alive PID: true while PID runs (a zombie child that exited counts as gone).
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != "Z" ]
}
