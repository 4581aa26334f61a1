#!/usr/bin/env bash
# Redis AUTH with a Redis 6 ACL user and password taken from redis_url
# (redis://user:pass@host:port/db), over TCP on loopback.
# - the worker and the CLI connect as the ACL user and run a batch;
# - a wrong password stops the worker with exit 2 and a message that names
#   the failure but never the password;
# - the password appears in no log, result or stats output;
# - the default user is refused (requirepass), so nothing connected without
#   the ACL user.
. "$(dirname "$0")/lib.sh"

ADMIN_PW="admin-$$-$RANDOM"
PW="PW-REDIS-CANARY-$RANDOM"
BAD="PW-WRONG-CANARY-$RANDOM"
REDIS_SOCK="$TEST_TMP/redis.sock"

# A free TCP port: try a few random ones (the kernel cannot pick one for
# redis-server and tell us). Bounded: 10 tries.
port=""
for try in 1 2 3 4 5 6 7 8 9 10; do
  p=$(( 20000 + (RANDOM * 7 + try) % 30000 ))
  redis-server --port "$p" --bind 127.0.0.1 --unixsocket "$REDIS_SOCK" \
    --unixsocketperm 700 --save "" --appendonly no --dir "$TEST_TMP" \
    --requirepass "$ADMIN_PW" --logfile "$TEST_TMP/redis-server.txt" \
    --daemonize no &
  rpid=$!
  if wait_until 5 'redis-cli -s "$REDIS_SOCK" --no-auth-warning -a "$ADMIN_PW" PING | grep -q PONG'; then
    if alive "$rpid" && redis-cli -p "$p" --no-auth-warning -a "$ADMIN_PW" PING 2>/dev/null | grep -q PONG; then
      port=$p
      PIDS+=($rpid)
      break
    fi
  fi
  kill -9 "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null
  rm -f "$REDIS_SOCK"
done
[ -n "$port" ] || fail "no free port for redis-server after 10 tries"

rcli() {
  redis-cli -s "$REDIS_SOCK" --no-auth-warning -a "$ADMIN_PW" "$@"
}
rcli ACL SETUSER pacer on ">$PW" '~*' '&*' '+@all' >/dev/null || fail "ACL SETUSER"

start_testapi
cfg() { # cfg FILE PASSWORD
  printf '{"redis_url": "redis://pacer:%s@127.0.0.1:%s/0", "prefix": "%s", "workers": 1}\n' \
    "$2" "$port" "$PREFIX" >"$1"
  chmod 600 "$1"
}
cfg "$TEST_TMP/good.json" "$PW"
cfg "$TEST_TMP/bad.json" "$BAD"

# Wrong password: exit 2, the failure named, the password nowhere.
"$PACER" worker --config "$TEST_TMP/bad.json" >"$TEST_TMP/bad.out" 2>"$TEST_TMP/bad.log" &
bpid=$!
PIDS+=($bpid)
wait_until 20 '! alive '"$bpid" || fail "the worker ran with a wrong password"
wait "$bpid"; rc=$?
[ "$rc" -eq 2 ] || fail "wrong password: exit $rc, want 2"
grep -qi 'auth' "$TEST_TMP/bad.log" || fail "wrong password: no reason given: $(cat "$TEST_TMP/bad.log")"

# The right ACL user: a batch runs through submit, worker and stats.
start_worker "$TEST_TMP/good.json"
for i in $(seq 1 20); do
  printf '{"id":"a-%02d","url":"%s/fast"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/good.json" "$TEST_TMP/jobs.jsonl" \
  >"$TEST_TMP/submit.out" 2>"$TEST_TMP/submit.log" || fail "submit as the ACL user"
wait_until 30 'test "$(rcli XLEN "${PREFIX}results")" -ge 20' ||
  fail "only $(rcli XLEN "${PREFIX}results") of 20 results"
"$PACER" stats --config "$TEST_TMP/good.json" --json >"$TEST_TMP/stats.out" \
  2>"$TEST_TMP/stats.log" || fail "stats as the ACL user"
jq -e . "$TEST_TMP/stats.out" >/dev/null || fail "stats --json did not parse"
clients=$(rcli CLIENT LIST | grep -c 'user=pacer')
[ "$clients" -ge 2 ] || fail "the worker is not connected as the ACL user ($clients connections)"
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "no exit after SIGTERM"

# The same ACL user over the unix socket (unix://user:pass@/path.sock, the
# redis-py form): the worker and submit --wait both AUTH.
UP="${PREFIX}u:"
printf '{"redis_url": "unix://pacer:%s@%s", "prefix": "%s", "workers": 1}\n' \
  "$PW" "$REDIS_SOCK" "$UP" >"$TEST_TMP/unix.json"
chmod 600 "$TEST_TMP/unix.json"
start_worker "$TEST_TMP/unix.json" unix-worker
for i in 1 2 3 4 5; do
  printf '{"id":"u-%d","url":"%s/fast"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/unix.jsonl"
timeout 60 "$PACER" submit --config "$TEST_TMP/unix.json" --wait \
  "$TEST_TMP/unix.jsonl" >"$TEST_TMP/unix-submit.out" \
  2>"$TEST_TMP/unix-submit.log" || fail "submit --wait over unix:// as the ACL user"
grep -q '^done: 5 jobs, ok 5, failed 0' "$TEST_TMP/unix-submit.out" ||
  fail "unix batch: $(cat "$TEST_TMP/unix-submit.out")"
[ "$(rcli CLIENT LIST | grep 'user=pacer' | grep -Ec 'flags=[A-Za-z]*U')" -ge 2 ] ||
  fail "the worker is not connected over the unix socket as the ACL user"
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "unix worker: no exit after SIGTERM"

# Neither password in any output or stored record.
rcli --raw XRANGE "${PREFIX}results" - + >"$TEST_TMP/results.dump"
for f in "$TEST_TMP"/*.log "$TEST_TMP"/*.out "$TEST_TMP/results.dump"; do
  if grep -qF -e "$PW" -e "$BAD" "$f"; then
    fail "a Redis password leaked into $(basename "$f")"
  fi
done
pass "ACL user from redis_url: 20 jobs, stats; wrong password exit 2 (reason named); no password in any output"
