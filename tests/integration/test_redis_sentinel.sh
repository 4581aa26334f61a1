#!/usr/bin/env bash
# redis-sentinel:// against one master, one replica and three sentinels on
# loopback (redis-server --sentinel, what Debian's redis-sentinel runs),
# docs/REDIS.md "Sentinel":
# - pacer submit finds the master through the sentinels, queues 5,000
#   jobs and WAITs until the replica has them before it returns;
# - mid-batch the master is SIGKILLed; the sentinels promote the replica;
#   the worker follows (asks the sentinels again, checks ROLE) and every
#   job ends with exactly one result on the new master;
# - the old master comes back as a replica: pacer never writes to it
#   (ROLE check at connect, READONLY drops the connection), and
#   `pacer stats` reads the new master;
# - with that replica stopped, submit warns that WAIT timed out.
. "$(dirname "$0")/lib.sh"

N=${SENTINEL_JOBS:-5000}
MASTER=pacer-main

# ours PORT DIR: the server on PORT is the one this test started in DIR
# (not another test's that took the port first).
ours() {
  redis-cli -p "$1" CONFIG GET dir 2>/dev/null | tail -1 | grep -qx "$2"
}
# start_node PORT [ARGS]: a data node with its own dir; returns 1 when
# another process has the port.
start_node() {
  local port=$1
  shift
  mkdir -p "$TEST_TMP/n$port"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$TEST_TMP/n$port" --logfile "$TEST_TMP/n$port/redis.txt" \
    --maxmemory-policy noeviction --repl-diskless-sync-delay 0 \
    --daemonize no "$@" &
  NODE_PID=$!
  if wait_until 10 'ours '"$port"' "$TEST_TMP/n'"$port"'"'; then
    PIDS+=($NODE_PID)
    return 0
  fi
  kill -9 "$NODE_PID" 2>/dev/null; wait "$NODE_PID" 2>/dev/null
  return 1
}
# start_sentinel PORT: returns 1 when another process has the port.
start_sentinel() {
  local s=$1
  mkdir -p "$TEST_TMP/s$s"
  printf '%s\n' "port $s" "bind 127.0.0.1" "dir $TEST_TMP/s$s" \
    "logfile $TEST_TMP/s$s/sentinel.txt" \
    "sentinel monitor $MASTER 127.0.0.1 $PM 2" \
    "sentinel down-after-milliseconds $MASTER 1000" \
    "sentinel failover-timeout $MASTER 10000" \
    "sentinel parallel-syncs $MASTER 1" >"$TEST_TMP/s$s/sentinel.conf"
  redis-server "$TEST_TMP/s$s/sentinel.conf" --sentinel &
  SPIDS+=($!)
  wait_until 10 'redis-cli -p '"$s"' INFO server | grep -q "^config_file:$TEST_TMP/s'"$s"'/"'
}
# Five free ports in a row: random tries, each start checked, since other
# tests pick ports too.
started=0
for try in 1 2 3 4 5; do
  b=$(( 20000 + (RANDOM * 7 + try * 13) % 30000 ))
  busy=0
  for p in $b $((b + 1)) $((b + 2)) $((b + 3)) $((b + 4)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && busy=1
  done
  [ $busy -eq 0 ] || continue
  PM=$b PR=$((b + 1)) S1=$((b + 2)) S2=$((b + 3)) S3=$((b + 4))
  SPIDS=()
  start_node "$PM" || continue
  MASTER_PID=$NODE_PID
  if ! start_node "$PR" --replicaof 127.0.0.1 "$PM"; then
    kill -9 "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null
    continue
  fi
  ok=1
  for s in $S1 $S2 $S3; do start_sentinel "$s" || ok=0; done
  if [ $ok -eq 1 ]; then
    PIDS+=("${SPIDS[@]}")
    started=1
    break
  fi
  kill -9 "$MASTER_PID" "$NODE_PID" "${SPIDS[@]}" 2>/dev/null
  wait "$MASTER_PID" "$NODE_PID" "${SPIDS[@]}" 2>/dev/null
done
[ $started -eq 1 ] || fail "no master, replica and three sentinels after 5 tries"
# Ready when every sentinel knows the replica and the two other sentinels
# (they find each other through hello messages, every 2 s).
ready() {
  local s
  for s in $S1 $S2 $S3; do
    redis-cli -p "$s" SENTINEL master "$MASTER" | grep -A1 -x 'num-other-sentinels' | tail -1 | grep -qx 2 || return 1
    redis-cli -p "$s" SENTINEL master "$MASTER" | grep -A1 -x 'num-slaves' | tail -1 | grep -qx 1 || return 1
  done
}
wait_until 30 ready || fail "the sentinels did not find each other and the replica"
wait_until 30 'redis-cli -p "$PR" INFO replication | grep -q "^master_link_status:up"' ||
  fail "the replica did not sync"

rcli() { # the current master, as the sentinels say
  local m
  m=$(redis-cli -p "$S1" SENTINEL get-master-addr-by-name "$MASTER" | tail -1)
  redis-cli -p "$m" "$@"
}

URL="redis-sentinel://127.0.0.1:$S1,127.0.0.1:$S2,127.0.0.1:$S3/$MASTER"
start_testapi
printf '{"redis_url": "%s", "prefix": "%s", "workers": 1, "concurrency": 32, "lease_ms": 3000}\n' \
  "$URL" "$PREFIX" >"$TEST_TMP/pacer.json"
for i in $(seq 1 "$N"); do
  printf '{"id":"s-%05d","url":"%s/slow?ms=30"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  >"$TEST_TMP/submit.out" 2>"$TEST_TMP/submit.log" || fail "submit through the sentinels failed"
[ "$(redis-cli -p "$PM" XLEN "${PREFIX}jobs")" -eq "$N" ] || fail "submit queued $(redis-cli -p "$PM" XLEN "${PREFIX}jobs") of $N"
# submit WAITs for the replica before it returns (docs/REDIS.md
# "Sentinel": a failover loses what the replica had not received yet), so
# the replica has every job now, not a moment later.
[ "$(redis-cli -p "$PR" XLEN "${PREFIX}jobs")" -eq "$N" ] ||
  fail "submit returned before the replica had the jobs: $(redis-cli -p "$PR" XLEN "${PREFIX}jobs") of $N"
grep -q 'warning' "$TEST_TMP/submit.log" && fail "submit warned: $(cat "$TEST_TMP/submit.log")"

start_worker "$TEST_TMP/pacer.json"
wait_until 60 'test "$(redis-cli -p "$PM" XLEN "${PREFIX}results")" -ge $(( N / 5 ))' ||
  fail "batch did not start: $(redis-cli -p "$PM" XLEN "${PREFIX}results") results"

# The fault: the master dies mid-batch.
before=$(redis-cli -p "$PM" XLEN "${PREFIX}results")
kill -9 "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null
tk=$(now_ms)
wait_until 30 'redis-cli -p "$S1" SENTINEL get-master-addr-by-name "$MASTER" | tail -1 | grep -qx "$PR"' ||
  fail "the sentinels did not promote the replica"
tf=$(now_ms)
wait_until 90 'test "$(redis-cli -p "$PR" XLEN "${PREFIX}results")" -ge "$N"' ||
  fail "only $(redis-cli -p "$PR" XLEN "${PREFIX}results") of $N results on the new master"
td=$(now_ms)
grep -q "connecting to the master a sentinel named.*127.0.0.1:$PR" "$TEST_TMP/worker.log" ||
  fail "the worker never connected to the new master"

# The old master comes back; the sentinels make it a replica. The worker
# and the commands keep to the new master.
start_node "$PM" || fail "the old master did not restart on its port"
wait_until 30 'redis-cli -p "$PM" ROLE | head -1 | grep -qx slave' ||
  fail "the old master did not become a replica"
"$PACER" stats --config "$TEST_TMP/pacer.json" >"$TEST_TMP/stats.out" 2>&1 ||
  fail "stats through the sentinels: $(cat "$TEST_TMP/stats.out")"
# A replica that does not answer: submit says the jobs may be lost.
wait_until 30 'redis-cli -p "$PR" ROLE | grep -qx "$PM"' ||
  fail "the new master does not list the old one as its replica"
OLD_PID=$NODE_PID
kill -STOP "$OLD_PID"
printf '{"redis_url": "%s", "prefix": "%s", "connect_timeout_ms": 2000}\n' \
  "$URL" "${PREFIX}w:" >"$TEST_TMP/wait.json"
printf '{"id":"w-1","url":"%s/fast"}\n' "$TESTAPI_URL" |
  "$PACER" submit --config "$TEST_TMP/wait.json" - 2>"$TEST_TMP/wait.log" ||
  fail "submit with a stopped replica: $(cat "$TEST_TMP/wait.log")"
kill -CONT "$OLD_PID"
grep -q 'warning: 0 of 1 replica(s) have the jobs' "$TEST_TMP/wait.log" ||
  fail "no WAIT warning with a stopped replica: $(cat "$TEST_TMP/wait.log")"
alive "$WORKER_PID" || fail "the worker died"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "the worker did not stop"

REDIS_PORT_NEW=$PR
count=$(redis-cli -p "$REDIS_PORT_NEW" XLEN "${PREFIX}results")
uniq=$(redis-cli -p "$REDIS_PORT_NEW" --raw EVAL "local r, s = {}, 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  for i = 1, #f, 2 do if f[i] == 'id' then r[f[i + 1]] = 1 end end
end
for _ in pairs(r) do s = s + 1 end
return s" 1 "${PREFIX}results")
[ "$uniq" -eq "$N" ] || fail "$uniq distinct ids of $N"
[ "$count" -eq "$N" ] || fail "duplicate results: $count for $N jobs"
grep -q 'is not the master' "$TEST_TMP/worker.log" &&
  echo "note: the worker met a stale sentinel answer and asked again"
pass "$N jobs, $N results, one each; $before results before the kill; promoted after $(( tf - tk )) ms; batch done $(( td - tf )) ms later"
