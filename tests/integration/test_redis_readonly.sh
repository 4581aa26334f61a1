#!/usr/bin/env bash
# A master demoted to a replica under a running worker, with its clients
# left connected (REPLICAOF, as an operator or a manual failover does it;
# docs/REDIS.md "Sentinel"): the worker's next writes get READONLY, it
# drops the connection instead of going on writing to a replica, and when
# the node is a master again the batch finishes with exactly one result
# per job.
. "$(dirname "$0")/lib.sh"

N=400

ours() {
  redis-cli -p "$1" CONFIG GET dir 2>/dev/null | tail -1 | grep -qx "$2"
}
# start_node PORT [ARGS]: returns 1 when another process has the port.
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
started=0
for try in 1 2 3 4 5; do
  A=$(( 20000 + (RANDOM * 7 + try * 13) % 30000 ))
  B=$((A + 1))
  start_node "$A" || continue
  a_pid=$NODE_PID
  start_node "$B" --replicaof 127.0.0.1 "$A" && { started=1; break; }
  kill -9 "$a_pid"; wait "$a_pid" 2>/dev/null
done
[ $started -eq 1 ] || fail "no two redis-servers after 5 tries"
wait_until 30 'redis-cli -p "$B" INFO replication | grep -q "^master_link_status:up"' ||
  fail "the replica did not sync"
rcli() { redis-cli -p "$A" "$@"; }

start_testapi
printf '{"redis_url": "redis://127.0.0.1:%s/0", "prefix": "%s", "workers": 1, "concurrency": 8, "lease_ms": 3000}\n' \
  "$A" "$PREFIX" >"$TEST_TMP/pacer.json"
for i in $(seq 1 $N); do
  printf '{"id":"r-%03d","url":"%s/slow?ms=20"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  2>"$TEST_TMP/submit.log" || fail "submit failed"
start_worker "$TEST_TMP/pacer.json"
wait_until 30 'test "$(results_count)" -ge 50' || fail "batch did not start"

# Demote A: B becomes the master, A its replica; clients stay connected.
redis-cli -p "$B" REPLICAOF NO ONE >/dev/null
redis-cli -p "$A" REPLICAOF 127.0.0.1 "$B" >/dev/null
wait_until 10 'grep -q "no longer serves these keys, reconnecting\" reply=READONLY" "$TEST_TMP/worker.log"' ||
  fail "the worker did not react to READONLY"
wait_until 10 'redis-cli -p "$A" INFO replication | grep -q "^master_link_status:up"' ||
  fail "A did not sync from B"
# While A is a replica nothing can be written there, and pacer sends
# nothing to B (it was never told about B).
b_before=$(redis-cli -p "$B" XLEN "${PREFIX}results")
sleep 2 # the demotion lasts 2 s: the scenario, not a synchronisation wait
b_after=$(redis-cli -p "$B" XLEN "${PREFIX}results")
[ "$b_before" -eq "$b_after" ] || fail "results were written to B, which pacer does not know"
alive "$WORKER_PID" || fail "the worker died"

# A is the master again.
redis-cli -p "$A" REPLICAOF NO ONE >/dev/null
redis-cli -p "$B" REPLICAOF 127.0.0.1 "$A" >/dev/null
wait_until 60 'test "$(results_count)" -ge '"$N" ||
  fail "only $(results_count) of $N results after A is master again"
[ "$(results_ids | sort -u | wc -l)" -eq $N ] || fail "ids not unique"
[ "$(results_count)" -eq $N ] || fail "duplicate results: $(results_count)"
n_ro=$(grep -c 'reply=READONLY' "$TEST_TMP/worker.log")
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "the worker did not stop"
pass "$N results, one each, across a 2 s demotion; $n_ro READONLY connection drops"
