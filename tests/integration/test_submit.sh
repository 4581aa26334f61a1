#!/usr/bin/env bash
# Integration test for `pacer submit` and `pacer stats` against a private
# redis-server on a unix socket.
#
#   usage: test_submit.sh PATH/TO/pacer
#
# Every wait is a deadline loop (wait_until), never a bare sleep. Each case
# uses its own key prefix (t1: .. t5:).
set -u

PACER=${1:?usage: test_submit.sh PATH/TO/pacer}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pacer-submit.XXXXXX")
SOCK=$TMP/redis.sock
REDIS_PID=
FAILS=0

cleanup() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# wait_until DEADLINE_MS CMD...: polls CMD until it succeeds or the
# deadline (milliseconds from now) passes.
wait_until() {
  local deadline=$(( $(now_ms) + $1 ))
  shift
  until "$@"; do
    if [ "$(now_ms)" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.02
  done
}

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

# check NAME ACTUAL EXPECTED
check() {
  if [ "$2" == "$3" ]; then
    pass "$1"
  else
    fail "$1: expected [$3], got [$2]"
  fi
}

# contains NAME FILE STRING: FILE has a line containing STRING (fixed).
contains() {
  if grep -qF -- "$3" "$2"; then
    pass "$1"
  else
    fail "$1: [$3] not in $2:"
    sed 's/^/    /' "$2" >&2
  fi
}

rcli() { redis-cli -s "$SOCK" "$@"; }
socket_up() { [ -S "$SOCK" ] && rcli PING 2>/dev/null | grep -q PONG; }
xlen_is() { [ "$(rcli XLEN "$1")" == "$2" ]; }

# --- private redis-server --------------------------------------------------
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 \
  --save "" --appendonly no --dir "$TMP" --pidfile "$TMP/redis.pid" \
  >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
if ! wait_until 10000 socket_up; then
  echo "redis-server did not come up:" >&2
  cat "$TMP/redis.log" >&2
  exit 1
fi
export PACER_REDIS_URL="unix://$SOCK"

# --- command line ----------------------------------------------------------
"$PACER" --version >"$TMP/version" 2>&1
check "--version exit" $? 0
for lib in "pacer " "libcurl " "libuv " "hiredis " "cJSON "; do
  contains "--version names $lib" "$TMP/version" "$lib"
done
"$PACER" bogus >/dev/null 2>"$TMP/err"
check "unknown command exit" $? 2
contains "unknown command usage on stderr" "$TMP/err" "usage: pacer <command>"
"$PACER" submit --help >"$TMP/help" 2>&1
check "submit --help exit" $? 0
for opt in --config --redis --wait --timeout; do
  contains "submit --help describes $opt" "$TMP/help" "  $opt"
done
"$PACER" submit >/dev/null 2>"$TMP/err"
check "submit without FILE exit" $? 2
"$PACER" submit --timeout x "$TMP/none.jsonl" >/dev/null 2>"$TMP/err"
check "submit --timeout x exit" $? 2
"$PACER" submit "$TMP/missing.jsonl" >/dev/null 2>"$TMP/err"
check "submit missing file exit" $? 2
contains "submit missing file message" "$TMP/err" "missing.jsonl: "

# A password in the URL never shows up in errors.
PACER_REDIS_URL="redis://:s3cr3t-pw@127.0.0.1:1/0" \
  "$PACER" stats >/dev/null 2>"$TMP/err"
check "stats unreachable redis exit" $? 2
contains "stats unreachable redis message" "$TMP/err" "redis: 127.0.0.1:1: "
if grep -q "s3cr3t-pw" "$TMP/err"; then
  fail "password appears in the error"
else
  pass "password not in the error"
fi

# --- t1: submit with rejects, generated id, stats ---------------------------
echo '{"prefix": "t1:"}' >"$TMP/t1.json"
cat >"$TMP/jobs.jsonl" <<'EOF'
# comment: skipped
{"id": "a-1", "url": "https://api.example/v1/a"}

{"id": "a-2", "method": "PUT", "url": "http://api.example/v1/b", "body": {"x": 1}}
{"id": "bad-json", "url": "https://api.example/v1/c"
{"id": "a-3", "url": "file:///etc/passwd"}
{"url": "https://api.example/v1/no-id", "meta": {"k": "v"}}
EOF
"$PACER" submit --config "$TMP/t1.json" "$TMP/jobs.jsonl" \
  >"$TMP/out" 2>"$TMP/err"
check "submit with rejects exit" $? 1
contains "malformed line reported" "$TMP/err" \
  "$TMP/jobs.jsonl:5: job: invalid JSON at byte "
contains "file:// url reported" "$TMP/err" \
  "$TMP/jobs.jsonl:6: url: scheme \"file\" is not allowed, use http or https"
check "exactly two rejects" "$(grep -c "^$TMP/jobs.jsonl:" "$TMP/err")" 2
check "XLEN t1:jobs" "$(rcli XLEN t1:jobs)" 3
# Fields of the entries, one per line: "field value" pairs flattened.
rcli --raw XRANGE t1:jobs - + >"$TMP/entries"
ids=$(awk 'prev == "id" { print } { prev = $0 }' "$TMP/entries")
check "one generated id field" "$(printf '%s\n' "$ids" | grep -c .)" 1
if printf '%s\n' "$ids" | grep -Eq '^[0-9a-f]{8}-7$'; then
  pass "generated id is <8 hex>-<line>"
else
  fail "generated id [$ids] is not <8 hex>-7"
fi
contains "job text is the line" "$TMP/entries" \
  '{"id": "a-2", "method": "PUT", "url": "http://api.example/v1/b", "body": {"x": 1}}'

"$PACER" stats --config "$TMP/t1.json" --json >"$TMP/stats" 2>"$TMP/err"
check "stats --json exit" $? 0
check "stats --json before the group exists" "$(cat "$TMP/stats")" \
  '{"prefix":"t1:","jobs":3,"jobs_high":0,"jobs_low":0,"pending":0,"group_created":false,"delayed":0,"results":0,"dead":0,"consumers":[],"limits":[],"all_buckets":{"paused_ms":0,"paused_until_unix_ms":0,"pause_reason":""},"credentials":[]}'

rcli XGROUP CREATE t1:jobs pacer 0 >/dev/null
rcli XREADGROUP GROUP pacer c1 COUNT 2 STREAMS t1:jobs '>' >/dev/null
rcli ZADD t1:delayed 1 x >/dev/null
rcli XADD t1:dead '*' id a-9 reason http_404 >/dev/null
rcli XADD t1:results '*' id a-8 state ok >/dev/null
rcli XADD t1:results '*' id a-7 state ok >/dev/null
"$PACER" stats --config "$TMP/t1.json" --json >"$TMP/stats" 2>"$TMP/err"
check "stats --json exit (group)" $? 0
check "stats --json with a group" \
  "$(sed -E 's/"idle_ms":[0-9]+/"idle_ms":N/' "$TMP/stats")" \
  '{"prefix":"t1:","jobs":3,"jobs_high":0,"jobs_low":0,"pending":2,"group_created":true,"delayed":1,"results":2,"dead":1,"consumers":[{"name":"c1","pending":2,"idle_ms":N}],"limits":[],"all_buckets":{"paused_ms":0,"paused_until_unix_ms":0,"pause_reason":""},"credentials":[]}'
"$PACER" stats --redis "unix://$SOCK" --config "$TMP/t1.json" \
  >"$TMP/stats" 2>"$TMP/err"
check "stats text exit" $? 0
check "stats text pending line" "$(grep '^pending' "$TMP/stats" | tr -s ' ')" \
  "pending 2"
contains "stats text lists the consumer" "$TMP/stats" "  c1 "

# --- t2: submit --wait, results faked by redis-cli ------------------------
echo '{"prefix": "t2:"}' >"$TMP/t2.json"
cat >"$TMP/wait.jsonl" <<'EOF'
{"id": "w-1", "url": "https://api.example/1"}
{"id": "w-2", "url": "https://api.example/2"}
{"url": "https://api.example/3"}
EOF
# A result for w-1 from before this batch must not count.
rcli XADD t2:results '*' id w-1 state failed >/dev/null

# fake_results PREFIX N STATE: once PREFIX jobs has N entries, XADD a
# result with STATE for every job id (JSON "id" or the `id` field), plus a
# duplicate and an unrelated id.
fake_results() {
  local p=$1 n=$2 state=$3 id
  wait_until 20000 xlen_is "${p}jobs" "$n" || return 1
  rcli --raw XRANGE "${p}jobs" - + |
    awk 'prev == "id" { print } prev == "job" && match($0, /"id": "[^"]*"/) {
           print substr($0, RSTART + 7, RLENGTH - 8) } { prev = $0 }' \
    >"$TMP/${p%:}.ids"
  rcli XADD "${p}results" '*' id unrelated state ok >/dev/null
  while read -r id; do
    rcli XADD "${p}results" '*' id "$id" state "$state" status 200 >/dev/null
  done <"$TMP/${p%:}.ids"
  # duplicates of the first id: must not be counted twice
  id=$(head -n 1 "$TMP/${p%:}.ids")
  rcli XADD "${p}results" '*' id "$id" state "$state" >/dev/null
}

fake_results t2: 3 ok &
FAKER=$!
"$PACER" submit --config "$TMP/t2.json" --wait --timeout 60 \
  "$TMP/wait.jsonl" >"$TMP/out" 2>"$TMP/err"
check "submit --wait exit" $? 0
wait "$FAKER"
check "faker found the jobs" $? 0
check "faker saw three ids" "$(grep -c . "$TMP/t2.ids")" 3
if grep -Eq '^done: 3 jobs, ok 3, failed 0 in [0-9]+\.[0-9]{2} s \([0-9]+ jobs/s\)$' \
  "$TMP/out"; then
  pass "submit --wait summary line"
else
  fail "submit --wait summary line:"
  cat "$TMP/out" "$TMP/err" >&2
fi

# --- t3: a failed job, jobs from stdin --------------------------------------
echo '{"prefix": "t3:"}' >"$TMP/t3.json"
fake_results t3: 1 failed &
FAKER=$!
echo '{"id": "f-1", "url": "https://api.example/f"}' |
  "$PACER" submit --config "$TMP/t3.json" --wait - >"$TMP/out" 2>"$TMP/err"
check "submit --wait with a failed job exit" $? 1
wait "$FAKER"
contains "failed summary" "$TMP/out" "done: 1 jobs, ok 0, failed 1 in "

# --- t4: --timeout ----------------------------------------------------------
echo '{"prefix": "t4:"}' >"$TMP/t4.json"
start=$(now_ms)
"$PACER" submit --config "$TMP/t4.json" --timeout 1 "$TMP/wait.jsonl" \
  >"$TMP/out" 2>"$TMP/err"
check "submit --timeout exit" $? 3
elapsed=$(( $(now_ms) - start ))
contains "timeout message" "$TMP/err" "3 of 3 job(s) still unfinished"
contains "timeout summary" "$TMP/out" "done: 0 jobs, ok 0, failed 0 in "
if [ "$elapsed" -lt 5000 ]; then
  pass "timeout returned in ${elapsed} ms"
else
  fail "timeout took ${elapsed} ms"
fi
check "timed-out jobs stay queued" "$(rcli XLEN t4:jobs)" 3

# --- t6: the connection drops during --wait ---------------------------------
# CLIENT KILL ends pacer's connection while it waits. It reconnects and
# reads on from the last result it saw: results added before and after the
# kill are all counted, and it exits 0.
echo '{"prefix": "t6:"}' >"$TMP/t6.json"
cat >"$TMP/t6.jsonl" <<'EOF'
{"id": "k-1", "url": "https://api.example/1"}
{"id": "k-2", "url": "https://api.example/2"}
{"id": "k-3", "url": "https://api.example/3"}
EOF
seen_one() { grep -q 'ok 1 failed 0' "$TMP/err"; }
client_killer() {
  wait_until 20000 xlen_is t6:jobs 3 || return 1
  rcli XADD t6:results '*' id k-1 state ok >/dev/null
  wait_until 20000 seen_one || return 1
  [ "$(rcli CLIENT KILL TYPE normal)" -ge 1 ] || return 1
  rcli XADD t6:results '*' id k-2 state ok >/dev/null
  rcli XADD t6:results '*' id k-3 state ok >/dev/null
}
client_killer &
KILLER=$!
"$PACER" submit --config "$TMP/t6.json" --wait --timeout 60 "$TMP/t6.jsonl" \
  >"$TMP/out" 2>"$TMP/err"
check "submit --wait across CLIENT KILL exit" $? 0
wait "$KILLER"
check "client killer ran" $? 0
contains "connection loss reported" "$TMP/err" "reconnecting (for up to 30 s)"
contains "reconnect reported" "$TMP/err" "submit: reconnected to redis"
contains "all counted after the reconnect" "$TMP/out" "done: 3 jobs, ok 3, failed 0 in "

# --- t5: a long line and a pipeline larger than one batch ------------------
echo '{"prefix": "t5:"}' >"$TMP/t5.json"
{
  for i in $(seq 1 600); do
    echo "{\"id\": \"b-$i\", \"url\": \"https://api.example/$i\"}"
  done
  printf '{"id": "long", "url": "https://api.example/x", "body": "%s"}\n' \
    "$(head -c 200000 /dev/zero | tr '\0' a)"
} >"$TMP/big.jsonl"
"$PACER" submit --config "$TMP/t5.json" "$TMP/big.jsonl" \
  >"$TMP/out" 2>"$TMP/err"
check "submit 601 jobs exit" $? 0
check "XLEN t5:jobs" "$(rcli XLEN t5:jobs)" 601

# --- t7: Redis goes away during --wait --------------------------------------
# pacer keeps reconnecting until --timeout expires, then says how many jobs
# are unfinished. Runs last: it stops the redis-server.
echo '{"prefix": "t7:"}' >"$TMP/t7.json"
redis_down() {
  wait_until 20000 xlen_is t7:jobs 3 || return 1
  kill "$REDIS_PID"
}
redis_down &
DOWNER=$!
start=$(now_ms)
"$PACER" submit --config "$TMP/t7.json" --timeout 3 "$TMP/t6.jsonl" \
  >"$TMP/out" 2>"$TMP/err"
check "submit --wait with redis gone exit" $? 3
wait "$DOWNER"
check "redis-server stopped" $? 0
wait "$REDIS_PID" 2>/dev/null
REDIS_PID=
elapsed=$(( $(now_ms) - start ))
contains "redis loss reported" "$TMP/err" "reconnecting (for up to 30 s)"
contains "unfinished jobs reported" "$TMP/err" "3 of 3 job(s) still unfinished"
if [ "$elapsed" -lt 8000 ]; then
  pass "--timeout ends the reconnects (${elapsed} ms)"
else
  fail "--timeout did not end the reconnects: ${elapsed} ms"
fi

if [ "$FAILS" -ne 0 ]; then
  echo "$FAILS check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
