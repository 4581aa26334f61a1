#!/usr/bin/env bash
# One `pacer worker --prefix A --prefix B --prefix C` on a real 3-master
# Redis Cluster on loopback (docs/DEPLOY.md "Several prefixes in one
# worker", docs/REDIS.md "Redis Cluster"):
# - three prefixes whose hash tags live on three different masters, one
#   batch each, served by one supervisor with one child per prefix;
#   every job ends with exactly one result, in its own queue;
# - a prefix whose worker refuses to start (no hash tag) stops the set,
#   and the supervisor exits with that worker's status;
# - SIGHUP reaches every child (each logs its reload), SIGTERM stops them
#   all and the supervisor exits 0;
# - no script mixes tags: MONITOR on every node records each EVALSHA and
#   the commands its script ran ("[0 lua]" lines right after it, scripts
#   being atomic); every such group must touch keys of one tag only.
. "$(dirname "$0")/lib.sh"

N=${PREFIXES_JOBS:-200}

. "$(dirname "$0")/cluster_lib.sh"
start_cluster

owner() { # owner SLOT: the port of the node that serves it
  redis-cli -p "${NODES[0]}" CLUSTER SLOTS | awk -v s="$1" '
    { l[NR] = $0 }
    END {
      for (i = 1; i <= NR; i++)
        if (l[i] ~ /^[0-9]+$/ && l[i + 1] ~ /^[0-9]+$/ && l[i] + 0 <= s && s <= l[i + 1] + 0) {
          print l[i + 3]; exit
        }
    }'
}
# One prefix per master: tags q<pid>-<k>, the first whose slot each node
# serves.
declare -A PFX_OF # node port -> prefix
for k in $(seq 0 200); do
  p="{q$$-$k}:"
  node=$(owner "$(redis-cli -p "${NODES[0]}" CLUSTER KEYSLOT "${p}jobs")")
  [ -n "$node" ] && [ -z "${PFX_OF[$node]:-}" ] && PFX_OF[$node]=$p
  [ ${#PFX_OF[@]} -eq 3 ] && break
done
[ ${#PFX_OF[@]} -eq 3 ] || fail "no tag for each of the 3 masters"
PREFIXES=()
for node in "${NODES[@]}"; do PREFIXES+=("${PFX_OF[$node]}"); done

URL="redis-cluster://127.0.0.1:${NODES[0]},127.0.0.1:${NODES[1]},127.0.0.1:${NODES[2]}"
start_testapi
# The config's own prefix is none of the three: --prefix wins.
printf '{"redis_url": "%s", "prefix": "{unused%d}:", "workers": 1, "concurrency": 16}\n' \
  "$URL" $$ >"$TEST_TMP/pacer.json"

"$PACER" worker --config "$TEST_TMP/pacer.json" --prefix "${PREFIXES[0]}" \
  --prefix "${PREFIXES[0]}" >"$TEST_TMP/dup.out" 2>&1 && fail "a prefix given twice ran"
grep -q 'given twice' "$TEST_TMP/dup.out" || fail "no clear error for a repeated prefix: $(cat "$TEST_TMP/dup.out")"

# MONITOR every node for the whole batch.
MONS=()
for p in "${NODES[@]}"; do
  redis-cli -p "$p" MONITOR >"$TEST_TMP/mon$p.txt" 2>&1 &
  MONS+=($!)
  PIDS+=($!)
done

for i in "${!PREFIXES[@]}"; do
  p=${PREFIXES[$i]}
  for j in $(seq 1 "$N"); do
    printf '{"id":"p%d-%04d","url":"%s/fast"}\n' "$i" "$j" "$TESTAPI_URL"
  done >"$TEST_TMP/jobs$i.jsonl"
  printf '{"redis_url": "%s", "prefix": "%s"}\n' "$URL" "$p" >"$TEST_TMP/sub$i.json"
  "$PACER" submit --config "$TEST_TMP/sub$i.json" "$TEST_TMP/jobs$i.jsonl" \
    >/dev/null 2>"$TEST_TMP/submit$i.log" || fail "submit to $p: $(cat "$TEST_TMP/submit$i.log")"
done

t0=$(now_ms)
"$PACER" worker --config "$TEST_TMP/pacer.json" --log-level info \
  --prefix "${PREFIXES[0]}" --prefix "${PREFIXES[1]}" --prefix "${PREFIXES[2]}" \
  >"$TEST_TMP/worker.out" 2>"$TEST_TMP/worker.log" &
WORKER_PID=$!
PIDS+=($WORKER_PID)
all_done() {
  local i
  for i in "${!PREFIXES[@]}"; do
    [ "$(redis-cli -c -p "${NODES[0]}" XLEN "${PREFIXES[$i]}results")" -ge "$N" ] || return 1
  done
}
wait_until 45 all_done || fail "not every queue finished: $(for p in "${PREFIXES[@]}"; do
  printf '%s=%s ' "$p" "$(redis-cli -c -p "${NODES[0]}" XLEN "${p}results")"; done)"
td=$(now_ms)
kids=$(pgrep -P "$WORKER_PID" | wc -l)
[ "$kids" -eq 3 ] || fail "$kids worker processes under the supervisor, not 3"

# SIGHUP: each child reloads.
kill -HUP "$WORKER_PID"
wait_until 10 'test "$(grep -c "config reloaded" "$TEST_TMP/worker.log")" -ge 3' ||
  fail "SIGHUP did not reach the 3 workers: $(grep -c 'config reloaded' "$TEST_TMP/worker.log") reloads"

kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "the supervisor did not stop"
wait "$WORKER_PID"; st=$?
[ "$st" -eq 0 ] || fail "supervisor exit status $st: $(tail -5 "$TEST_TMP/worker.log")"
kill "${MONS[@]}" 2>/dev/null; wait "${MONS[@]}" 2>/dev/null

for i in "${!PREFIXES[@]}"; do
  p=${PREFIXES[$i]}
  node=${NODES[$i]}
  count=$(redis-cli -p "$node" XLEN "${p}results")
  uniq=$(redis-cli -p "$node" --raw EVAL "local r, s = {}, 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  for i = 1, #f, 2 do if f[i] == 'id' and string.sub(f[i + 1], 1, 3) == ARGV[1] then r[f[i + 1]] = 1 end end
end
for _ in pairs(r) do s = s + 1 end
return s" 1 "${p}results" "p$i-")
  [ "$uniq" -eq "$N" ] || fail "$p: $uniq distinct ids of its $N jobs"
  [ "$count" -eq "$N" ] || fail "$p: $count results for $N jobs"
done
grep -q 'CROSSSLOT\|do not hash to the same slot\|non local key' "$TEST_TMP/worker.log" &&
  fail "a script mixed slots: $(grep -m1 'CROSSSLOT\|same slot\|non local' "$TEST_TMP/worker.log")"

# One prefix's worker refuses to run (no hash tag): the supervisor stops
# the other one and fails with the child's status.
"$PACER" worker --config "$TEST_TMP/pacer.json" --prefix "${PREFIXES[0]}" \
  --prefix "notag$$:" >/dev/null 2>"$TEST_TMP/bad.log" &
bad=$!
PIDS+=($bad)
wait_until 30 '! alive '"$bad" || fail "the supervisor ran on with a refused prefix"
wait "$bad"; st=$?
[ "$st" -eq 2 ] || fail "supervisor status $st for a refused prefix, not 2: $(tail -3 "$TEST_TMP/bad.log")"
grep -q 'has no hash tag' "$TEST_TMP/bad.log" || fail "no reason for the refused prefix: $(tail -3 "$TEST_TMP/bad.log")"
grep -q "stopping the others.*notag$$:" "$TEST_TMP/bad.log" ||
  fail "the supervisor did not say which prefix failed: $(tail -3 "$TEST_TMP/bad.log")"

# Every script and the commands it ran: one tag. Tags are {...} in the
# quoted arguments.
scripts=0
for p in "${NODES[@]}"; do
  out=$(awk '
    function tags(line,   s, t, n) {
      s = line; n = 0
      while (match(s, /\{[^}"]*\}/)) {
        t = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        if (!(t in seen)) { seen[t] = 1; n++; list = list " " t }
      }
    }
    function flush() {
      if (inscript && cnt > 1) { print "MIXED" list ": " first; bad++ }
      inscript = 0; delete seen; cnt = 0; list = ""
    }
    / \[[0-9]+ lua\] / { if (inscript) { tags($0); cnt = length(seen) } ; next }
    { flush() }
    /"(EVALSHA|evalsha|EVAL|eval)"/ { inscript = 1; first = $0; tags($0); cnt = length(seen); scripts++ }
    END { flush(); print "SCRIPTS " scripts + 0 }
  ' "$TEST_TMP/mon$p.txt")
  echo "$out" | grep -q '^MIXED' && fail "node $p: a script touched several tags: $(echo "$out" | grep -m1 '^MIXED' | cut -c1-300)"
  scripts=$(( scripts + $(echo "$out" | awk '/^SCRIPTS/ { print $2 }') ))
done
[ "$scripts" -ge $(( 3 * N )) ] || fail "only $scripts scripts seen by MONITOR"
inner=$(cat "$TEST_TMP"/mon*.txt | grep -cE ' \[[0-9]+ lua\] ')
[ "$inner" -gt 0 ] || fail "MONITOR showed no command run by a script: the tag check saw nothing"
pass "3 prefixes on 3 masters, one worker (3 processes): $(( 3 * N )) jobs, one result each, in $(( td - t0 )) ms; $scripts script runs ($inner commands inside them), each on one tag"
