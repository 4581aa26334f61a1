#!/usr/bin/env bash
# Redis (AOF, fsync always) is killed mid-batch and restarted from its AOF
# 15 s later. The worker lives, reconnects with capped backoff, re-arms the
# delayed timer from the stored schedule, and every job ends with exactly
# one result; delayed jobs are promoted within 1.5 s of their due time (or
# of the reconnect when overdue by then).
. "$(dirname "$0")/lib.sh"

REDIS_SOCK="$TEST_TMP/redis.sock"
start_redis() {
  redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
    --save "" --appendonly yes --appendfsync always --dir "$TEST_TMP" \
    --logfile "$TEST_TMP/redis-server.txt" --daemonize no &
  REDIS_PID=$!
  PIDS+=($REDIS_PID)
  wait_until 10 'redis-cli -s "$REDIS_SOCK" PING | grep -q PONG' ||
    fail "redis did not start"
}
start_redis
start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 32, "lease_ms": 5000'

t0=$(now_ms)
due1=$(( t0 + 2000 ))   # falls due while Redis is down
due2=$(( t0 + 22000 ))  # falls due after Redis is back
for i in $(seq 1 300); do
  printf '{"id":"r-%03d","url":"%s/slow?ms=50"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
printf '{"id":"due-1","url":"%s/fast","not_before":%d}\n' "$TESTAPI_URL" "$due1" >>"$TEST_TMP/jobs.jsonl"
printf '{"id":"due-2","url":"%s/fast","not_before":%d}\n' "$TESTAPI_URL" "$due2" >>"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" 2>/dev/null ||
  fail "submit failed"
start_worker "$TEST_TMP/pacer.json"
wait_until 30 'test "$(results_count)" -ge 20' || fail "batch did not start"

kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
wait_until 10 'grep -q "msg=.disconnected" "$TEST_TMP/worker.log"' ||
  fail "worker did not notice the outage"
# The outage itself: Redis stays down for 15 s (this is the scenario, not
# a synchronisation wait).
sleep 15
alive "$WORKER_PID" || fail "worker died while Redis was down"
back0=$(now_ms)
start_redis
back=$(now_ms)

wait_until 90 'test "$(results_count)" -ge 302' ||
  fail "only $(results_count) of 302 results after restart"
[ "$(results_ids | sort -u | wc -l)" -eq 302 ] || fail "ids not unique"
[ "$(results_count)" -eq 302 ] || fail "duplicate results: $(results_count)"
alive "$WORKER_PID" || fail "worker died"
f1=$(result_of due-1 finished_unix_ms); f2=$(result_of due-2 finished_unix_ms)
# The worker reconnects on its own capped backoff (up to 5 s after Redis
# is back): measure from its last "connected" line for the command link.
ts=$(grep 'msg="connected" conn=cmd' "$TEST_TMP/worker.log" | tail -1 |
  sed -n 's/^ts=\([^ ]*\) .*/\1/p')
reconn=$(date -d "$ts" +%s%3N) || fail "no reconnect time in the log"
[ "$reconn" -ge "$back0" ] || fail "reconnected before Redis was back?"
[ "$reconn" -le $(( back + 6000 )) ] ||
  fail "reconnect $(( reconn - back )) ms after Redis was back (cap 5 s)"
back=$reconn
# due-1 was overdue at reconnect: promoted within 1.5 s of the reconnect.
[ "$f1" -ge "$due1" ] || fail "due-1 ran early"
[ "$f1" -le $(( back + 1500 )) ] || fail "due-1 late: $(( f1 - back )) ms after reconnect"
# due-2 fell due after the reconnect: promoted within 1.5 s of its time.
[ "$f2" -ge "$due2" ] || fail "due-2 ran early"
[ "$f2" -le $(( due2 + 1500 )) ] || fail "due-2 late by $(( f2 - due2 )) ms"
grep -q 'msg="connected" conn=cmd' "$TEST_TMP/worker.log" || fail "no reconnect"
pass "302 results after a 15 s outage and a restart from AOF; reconnect +$(( reconn - back0 )) ms; due-1 +$(( f1 - back )) ms after reconnect, due-2 +$(( f2 - due2 )) ms"
