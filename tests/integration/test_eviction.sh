#!/usr/bin/env bash
# C14: a Redis that may evict keys loses jobs silently. pacer worker checks
# maxmemory-policy at start: it refuses to run unless it is noeviction
# (exit 2, saying why and how to fix it), or only warns with
# "redis_eviction": "warn".
. "$(dirname "$0")/lib.sh"

REDIS_SOCK="$TEST_TMP/redis.sock"
redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
  --save "" --appendonly no --dir "$TEST_TMP" --maxmemory-policy allkeys-lru \
  --logfile "$TEST_TMP/redis-server.txt" --daemonize no &
PIDS+=($!)
wait_until 10 'redis-cli -s "$REDIS_SOCK" PING | grep -q PONG' || fail "redis did not start"

write_config "$TEST_TMP/refuse.json"
"$PACER" worker --config "$TEST_TMP/refuse.json" >"$TEST_TMP/refuse.out" 2>"$TEST_TMP/refuse.txt" &
pid=$!
PIDS+=($pid)
wait_until 20 '! alive '"$pid" || fail "the worker ran on an evicting Redis"
wait "$pid"; rc=$?
[ "$rc" -eq 2 ] || fail "exit status $rc, want 2"
grep -q 'maxmemory-policy is allkeys-lru' "$TEST_TMP/refuse.txt" || fail "no reason given: $(cat "$TEST_TMP/refuse.txt")"
grep -q 'set maxmemory-policy noeviction' "$TEST_TMP/refuse.txt" || fail "no fix given"

write_config "$TEST_TMP/warn.json" '"redis_eviction": "warn"'
start_testapi
start_worker "$TEST_TMP/warn.json" warn
printf '{"id":"e-1","url":"%s/fast"}\n' "$TESTAPI_URL" >"$TEST_TMP/e.jsonl"
"$PACER" submit --config "$TEST_TMP/warn.json" "$TEST_TMP/e.jsonl" 2>/dev/null || fail "submit"
wait_until 20 'test "$(results_count)" -ge 1' || fail "the warn-only worker did not run the job"
grep -q 'maxmemory-policy is allkeys-lru' "$TEST_TMP/warn.log" || fail "no warning logged"
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "no exit after SIGTERM"
pass "evicting Redis: refused (exit 2, reason and fix), or run with a warning when asked"
