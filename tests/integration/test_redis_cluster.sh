#!/usr/bin/env bash
# redis-cluster:// against a real 3-master Redis Cluster on loopback
# (redis-server --cluster-enabled yes, redis-cli --cluster create),
# docs/REDIS.md "Redis Cluster":
# - the prefix holds a hash tag ("{t<pid>}:"), so every key of the queue
#   is in one slot: submit, intake, finish, delayed promotion and stats
#   all run their scripts there (a script that mixed slots would fail
#   with CROSSSLOT, and the batch with it);
# - a prefix without a hash tag is refused with a clear error;
# - mid-batch the slot is migrated to another master (MIGRATING /
#   IMPORTING, MIGRATE, SETSLOT NODE): the worker follows ASK / TRYAGAIN /
#   MOVED by reconnecting to the node that serves the slot, and every job
#   ends with exactly one result.
. "$(dirname "$0")/lib.sh"

N=${CLUSTER_JOBS:-3000}
PREFIX="{t$$}:"

. "$(dirname "$0")/cluster_lib.sh"
start_cluster

rcli() { # follows MOVED (-c)
  redis-cli -c -p "${NODES[0]}" "$@"
}
SLOT=$(redis-cli -p "${NODES[0]}" CLUSTER KEYSLOT "${PREFIX}jobs")
owner() { # the port of the node that serves $SLOT
  redis-cli -p "${NODES[0]}" CLUSTER SLOTS | awk -v s="$SLOT" '
    NR % 1 == 0 { l[NR] = $0 }
    END {
      for (i = 1; i <= NR; i++)
        if (l[i] ~ /^[0-9]+$/ && l[i + 1] ~ /^[0-9]+$/ && l[i] + 0 <= s && s <= l[i + 1] + 0) {
          print l[i + 3]; exit
        }
    }'
}
SRC=$(owner)
[ -n "$SRC" ] || fail "no owner for slot $SLOT"

URL="redis-cluster://127.0.0.1:${NODES[0]},127.0.0.1:${NODES[1]},127.0.0.1:${NODES[2]}"
start_testapi
printf '{"redis_url": "%s", "prefix": "%s", "workers": 1, "concurrency": 32, "lease_ms": 3000}\n' \
  "$URL" "$PREFIX" >"$TEST_TMP/pacer.json"

# A prefix without a hash tag: refused, with the reason.
printf '{"redis_url": "%s", "prefix": "notag:"}\n' "$URL" >"$TEST_TMP/notag.json"
"$PACER" stats --config "$TEST_TMP/notag.json" >"$TEST_TMP/notag.out" 2>&1 &&
  fail "stats ran with a prefix without a hash tag"
grep -q 'has no hash tag' "$TEST_TMP/notag.out" ||
  fail "no clear error for a prefix without a hash tag: $(cat "$TEST_TMP/notag.out")"

t0=$(now_ms)
for i in $(seq 1 "$N"); do
  printf '{"id":"c-%05d","url":"%s/slow?ms=30"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
for i in 1 2 3; do # delayed jobs: the promote script runs on the cluster
  printf '{"id":"d-%d","url":"%s/fast","not_before":%d}\n' "$i" "$TESTAPI_URL" $(( t0 + 2000 * i ))
done >>"$TEST_TMP/jobs.jsonl"
TOTAL=$(( N + 3 ))
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  >"$TEST_TMP/submit.out" 2>"$TEST_TMP/submit.log" || fail "submit to the cluster failed: $(cat "$TEST_TMP/submit.log")"
[ "$(redis-cli -p "$SRC" XLEN "${PREFIX}jobs")" -eq "$TOTAL" ] ||
  fail "the jobs are not on the slot's node $SRC"
start_worker "$TEST_TMP/pacer.json"
wait_until 60 'test "$(rcli XLEN "${PREFIX}results")" -ge $(( N / 4 ))' ||
  fail "batch did not start: $(rcli XLEN "${PREFIX}results") results"

# The slot moves to another master mid-batch.
for p in "${NODES[@]}"; do [ "$p" != "$SRC" ] && { DST=$p; break; }; done
src_id=$(redis-cli -p "$SRC" CLUSTER MYID)
dst_id=$(redis-cli -p "$DST" CLUSTER MYID)
tm=$(now_ms)
redis-cli -p "$DST" CLUSTER SETSLOT "$SLOT" IMPORTING "$src_id" >/dev/null || fail "IMPORTING"
redis-cli -p "$SRC" CLUSTER SETSLOT "$SLOT" MIGRATING "$dst_id" >/dev/null || fail "MIGRATING"
moved_keys=0
while :; do
  keys=$(redis-cli -p "$SRC" CLUSTER GETKEYSINSLOT "$SLOT" 100)
  [ -z "$keys" ] && break
  # shellcheck disable=SC2086 # one key per word
  redis-cli -p "$SRC" MIGRATE 127.0.0.1 "$DST" "" 0 10000 KEYS $keys >/dev/null ||
    fail "MIGRATE"
  moved_keys=$(( moved_keys + $(echo "$keys" | wc -l) ))
done
for p in "${NODES[@]}"; do
  redis-cli -p "$p" CLUSTER SETSLOT "$SLOT" NODE "$dst_id" >/dev/null || fail "SETSLOT NODE on $p"
done
[ "$(owner)" = "$DST" ] || fail "the slot did not move"
tmd=$(now_ms)

wait_until 90 'test "$(redis-cli -p "$DST" XLEN "${PREFIX}results")" -ge '"$TOTAL" ||
  fail "only $(redis-cli -p "$DST" XLEN "${PREFIX}results") of $TOTAL results on the new node"
td=$(now_ms)
grep -q "connecting to the cluster node of the slot.*addr=127.0.0.1:$DST" "$TEST_TMP/worker.log" ||
  fail "the worker never connected to the slot's new node"
"$PACER" stats --config "$TEST_TMP/pacer.json" >"$TEST_TMP/stats.out" 2>&1 ||
  fail "stats on the cluster: $(cat "$TEST_TMP/stats.out")"
alive "$WORKER_PID" || fail "the worker died"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "the worker did not stop"

count=$(redis-cli -p "$DST" XLEN "${PREFIX}results")
uniq=$(redis-cli -p "$DST" --raw EVAL "local r, s = {}, 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  for i = 1, #f, 2 do if f[i] == 'id' then r[f[i + 1]] = 1 end end
end
for _ in pairs(r) do s = s + 1 end
return s" 1 "${PREFIX}results")
[ "$uniq" -eq "$TOTAL" ] || fail "$uniq distinct ids of $TOTAL"
[ "$count" -eq "$TOTAL" ] || fail "duplicate results: $count for $TOTAL jobs"
grep -q 'CROSSSLOT' "$TEST_TMP/worker.log" "$TEST_TMP/submit.log" && fail "a script mixed slots"
redirects=$(grep -c 'no longer serves these keys' "$TEST_TMP/worker.log")
pass "$TOTAL jobs, one result each; slot $SLOT ($moved_keys keys) moved $SRC -> $DST in $(( tmd - tm )) ms mid-batch; $redirects redirections followed; done $(( td - tmd )) ms later"
