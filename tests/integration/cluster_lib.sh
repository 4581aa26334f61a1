# Sourced after lib.sh by the tests that need a real 3-master Redis Cluster
# on loopback (test_redis_cluster.sh, test_redis_prefixes.sh):
# start_cluster starts three cluster-enabled redis-servers on free ports,
# adds their pids to PIDS (stopped by lib.sh's cleanup), creates the
# cluster and waits until every node says cluster_state:ok. It sets
# NODES (the three ports).

# ours PORT DIR: the redis-server on PORT is the one this test started in
# DIR (not another test's that took the port first).
ours() {
  redis-cli -p "$1" CONFIG GET dir 2>/dev/null | tail -1 | grep -qx "$2"
}
# Three nodes on three free ports in a row (and their cluster bus ports,
# +10000): random tries, each checked, since other tests pick ports too.
start_nodes() {
  local b=$1 p pids=() ok=1
  NODES=($b $((b + 1)) $((b + 2)))
  for p in "${NODES[@]}"; do
    mkdir -p "$TEST_TMP/n$p"
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$TEST_TMP/n$p/nodes.conf" --cluster-node-timeout 5000 \
      --save "" --appendonly no --dir "$TEST_TMP/n$p" \
      --logfile "$TEST_TMP/n$p/redis.txt" --maxmemory-policy noeviction \
      --daemonize no &
    pids+=($!)
  done
  for p in "${NODES[@]}"; do
    wait_until 10 'ours '"$p"' "$TEST_TMP/n'"$p"'"' || ok=0
  done
  if [ $ok -eq 1 ]; then
    PIDS+=("${pids[@]}")
    return 0
  fi
  kill -9 "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
  return 1
}
cluster_ok() {
  local p
  for p in "${NODES[@]}"; do
    redis-cli -p "$p" CLUSTER INFO | grep -q '^cluster_state:ok' || return 1
  done
}
start_cluster() {
  local started try b busy p
  started=0
  for try in 1 2 3 4 5; do
    b=$(( 20000 + (RANDOM * 7 + try * 13) % 20000 ))
    busy=0
    for p in $b $((b + 1)) $((b + 2)) $((b + 10000)) $((b + 10001)) $((b + 10002)); do
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && busy=1
    done
    [ $busy -eq 0 ] && start_nodes "$b" && { started=1; break; }
  done
  [ $started -eq 1 ] || fail "no three cluster nodes after 5 tries: $(tail -3 "$TEST_TMP"/n*/redis.txt)"
  redis-cli --cluster create "127.0.0.1:${NODES[0]}" "127.0.0.1:${NODES[1]}" \
    "127.0.0.1:${NODES[2]}" --cluster-replicas 0 --cluster-yes \
    >"$TEST_TMP/create.out" 2>&1 || fail "cluster create: $(tail -5 "$TEST_TMP/create.out")"
  wait_until 30 cluster_ok || fail "the cluster did not come up"
}
