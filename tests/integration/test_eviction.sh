#!/usr/bin/env bash
# A Redis that may evict keys loses jobs silently. pacer worker checks
# maxmemory-policy at start: it refuses to run unless it is noeviction (exit
# 2, saying why and how to fix it), or only warns with "redis_eviction":
# "warn".
. "$(dirname "$0")/lib.sh"

REDIS_SOCK="$TEST_TMP/redis.sock"
start_private_redis --maxmemory-policy allkeys-lru

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

# A worker started before Redis (systemd order) waits for it and still
# checks: here the Redis that comes up evicts, so the worker refuses.
LATE_SOCK="$TEST_TMP/late.sock"
printf '{"redis_url": "unix://%s", "prefix": "%s"}\n' "$LATE_SOCK" "$PREFIX" >"$TEST_TMP/late.json"
"$PACER" worker --config "$TEST_TMP/late.json" >"$TEST_TMP/late.out" 2>"$TEST_TMP/late.txt" &
lpid=$!
PIDS+=($lpid)
wait_until 10 'grep -q "waiting for Redis before starting" "$TEST_TMP/late.txt"' ||
  fail "late: the worker did not wait for Redis: $(cat "$TEST_TMP/late.txt")"
alive "$lpid" || fail "late: the worker gave up instead of waiting"
redis-server --port 0 --unixsocket "$LATE_SOCK" --unixsocketperm 700 \
  --save "" --appendonly no --dir "$TEST_TMP" --maxmemory-policy allkeys-lru \
  --logfile "$TEST_TMP/late-redis.txt" --daemonize no &
PIDS+=($!)
wait_until 20 '! alive '"$lpid" || fail "late: the worker ran on an evicting Redis that came up late"
wait "$lpid"; rc=$?
[ "$rc" -eq 2 ] || fail "late: exit status $rc, want 2"
grep -q 'maxmemory-policy is allkeys-lru' "$TEST_TMP/late.txt" || fail "late: no reason given"

# SIGTERM while waiting for Redis: a clean exit 0.
printf '{"redis_url": "unix://%s/none.sock", "prefix": "%s"}\n' "$TEST_TMP" "$PREFIX" >"$TEST_TMP/none.json"
"$PACER" worker --config "$TEST_TMP/none.json" >/dev/null 2>"$TEST_TMP/none.txt" &
npid=$!
PIDS+=($npid)
wait_until 10 'grep -q "waiting for Redis" "$TEST_TMP/none.txt"' || fail "none: no wait"
kill -TERM "$npid"
wait_until 10 '! alive '"$npid" || fail "none: SIGTERM did not stop the wait"
wait "$npid"; rc=$?
[ "$rc" -eq 0 ] || fail "none: exit status $rc after SIGTERM while waiting"

# A db index Redis refuses is a setup error, not an outage: exit 2 at once.
printf '{"redis_url": "unix://%s?db=99", "prefix": "%s"}\n' "$REDIS_SOCK" "$PREFIX" >"$TEST_TMP/db.json"
timeout 20 "$PACER" worker --config "$TEST_TMP/db.json" >/dev/null 2>"$TEST_TMP/db.txt"
rc=$?
[ "$rc" -eq 2 ] || fail "db: exit status $rc, want 2: $(cat "$TEST_TMP/db.txt")"
grep -q 'DB index is out of range' "$TEST_TMP/db.txt" || fail "db: reason not named"
pass "evicting Redis: refused (exit 2, reason and fix), also when it comes up after the worker; run with a warning when asked; SIGTERM while waiting exits 0; a bad db index exits 2"
