#!/usr/bin/env bash
# Priority intake streams (docs/REDIS.md): <prefix>jobs:high, <prefix>jobs
# (normal) and <prefix>jobs:low, read with weighted precedence (6:3:1) under
# the bounded prefetch. Two worker slots, requests slowed by the upstream.
#   A  300 low then 30 high: every high result is written while at least
#      200 low jobs are still unfinished (result stream order).
#   B  high never runs dry: low still gets its tenth (and normal its three
#      tenths); a clean stop hands held jobs back to their own streams and
#      deletes the consumer from all three.
#   C  a deferred high job comes back into jobs:high; old-format delayed
#      members still promote (to jobs); tagged low members go to jobs:low.
#   D  lease renewal and takeover work on jobs:high and jobs:low.
#   E  two streams deleted under a running worker (NOGROUP inside the
#      intake round): the groups are recreated and no job is lost.
. "$(dirname "$0")/lib.sh"

BASE_PREFIX=$PREFIX
STREAMS="jobs:high jobs jobs:low"

# use_phase NAME CONCURRENCY [EXTRA_JSON]: this phase's prefix and config
# file (prefetch_extra 2: the scheduler holds CONCURRENCY + 2 jobs).
use_phase() {
  PREFIX="${BASE_PREFIX}$1:"
  CFG="$TEST_TMP/$1.json"
  write_config "$CFG" "\"concurrency\": $2, \"prefetch_extra\": 2${3:+, }${3:-}"
}

# entries_added KEY: XINFO STREAM entries-added of this phase's KEY (every
# entry ever added, so a promotion shows even after the job finished).
entries_added() {
  rcli XINFO STREAM "${PREFIX}$1" |
    awk 'prev == "entries-added" { print; exit } { prev = $0 }'
}

# count_prefix P: how many of the ids on stdin start with P.
count_prefix() {
  grep -c "^$1" || true
}

stop_worker() {
  kill -TERM "$WORKER_PID"
  wait_until 30 '! alive "$WORKER_PID"' || fail "worker did not exit on SIGTERM"
  wait "$WORKER_PID"
  local rc=$?
  [ "$rc" -eq 0 ] || fail "worker exit status $rc after SIGTERM"
}

start_testapi

# ---- A: 300 low, then 30 high --------------------------------------------
use_phase a 2
for i in $(seq 1 300); do
  printf '{"id":"lo-%03d","priority":"low","url":"%s/slow?ms=40"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/a-low.jsonl"
for i in $(seq 1 30); do
  printf '{"id":"hi-%02d","priority":"high","url":"%s/slow?ms=40"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/a-high.jsonl"
start_worker "$CFG" a-worker
"$PACER" submit --config "$CFG" "$TEST_TMP/a-low.jsonl" 2>"$TEST_TMP/a-submit.log" ||
  fail "submit (low) failed"
"$PACER" submit --config "$CFG" "$TEST_TMP/a-high.jsonl" 2>>"$TEST_TMP/a-submit.log" ||
  fail "submit (high) failed"
wait_until 120 'test "$(results_count)" -ge 330' ||
  fail "only $(results_count) of 330 results"
results_ids >"$TEST_TMP/a-order.txt"
[ "$(sort -u "$TEST_TMP/a-order.txt" | wc -l)" -eq 330 ] || fail "A: ids not unique"
last_high=$(grep -n '^hi-' "$TEST_TMP/a-order.txt" | tail -1 | cut -d: -f1)
low_before=$(head -n "$last_high" "$TEST_TMP/a-order.txt" | count_prefix lo-)
[ "$low_before" -le 100 ] ||
  fail "A: $low_before low jobs finished before the last high one (want <= 100)"
[ "$(stream_field results state | grep -cx ok)" -eq 330 ] || fail "A: not all ok"
for s in $STREAMS; do
  [ "$(rcli XLEN "${PREFIX}$s")" -eq 0 ] || fail "A: $s not drained"
done
stop_worker
echo "A: all 30 high finished with $low_before of 300 low finished"

# ---- B: shares while every stream has a backlog ---------------------------
use_phase b 2
{
  for i in $(seq 1 300); do
    printf '{"id":"H-%03d","priority":"high","url":"%s/slow?ms=10"}\n' "$i" "$TESTAPI_URL"
  done
  for i in $(seq 1 150); do
    printf '{"id":"N-%03d","url":"%s/slow?ms=10"}\n' "$i" "$TESTAPI_URL"
    printf '{"id":"L-%03d","priority":"low","url":"%s/slow?ms=10"}\n' "$i" "$TESTAPI_URL"
  done
} >"$TEST_TMP/b.jsonl"
"$PACER" submit --config "$CFG" "$TEST_TMP/b.jsonl" 2>"$TEST_TMP/b-submit.log" ||
  fail "submit failed"
[ "$(rcli XLEN "${PREFIX}jobs:high")" -eq 300 ] || fail "B: high not routed"
[ "$(rcli XLEN "${PREFIX}jobs")" -eq 150 ] || fail "B: normal not routed"
[ "$(rcli XLEN "${PREFIX}jobs:low")" -eq 150 ] || fail "B: low not routed"
start_worker "$CFG" b-first
wait_until 60 'test "$(results_count)" -ge 200' || fail "B: only $(results_count) results"
stop_worker
# The first 200 results: every stream still had a backlog all along.
rcli --raw EVAL "local r = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 200)) do
  local f = e[2]
  for i = 1, #f, 2 do if f[i] == 'id' then r[#r + 1] = f[i + 1] end end
end
return r" 1 "${PREFIX}results" >"$TEST_TMP/b-first200.txt"
nh=$(count_prefix H- <"$TEST_TMP/b-first200.txt")
nn=$(count_prefix N- <"$TEST_TMP/b-first200.txt")
nl=$(count_prefix L- <"$TEST_TMP/b-first200.txt")
# Nominal 120 / 60 / 20.
[ "$nl" -ge 14 ] || fail "B: low starved: $nl of the first 200 (want >= 14, nominal 20)"
[ "$nn" -ge 45 ] || fail "B: normal got $nn of the first 200 (nominal 60)"
[ "$nh" -ge 100 ] || fail "B: high got $nh of the first 200 (nominal 120)"
# Clean stop: nothing pending, no consumer left, held jobs back in their
# own stream.
n=$(results_count)
for s in $STREAMS; do
  [ "$(rcli XPENDING "${PREFIX}$s" pacer | head -1)" -eq 0 ] ||
    fail "B: entries left pending in $s after a clean stop"
  [ "$(rcli XINFO CONSUMERS "${PREFIX}$s" pacer | grep -c '^name$')" -eq 0 ] ||
    fail "B: consumer left behind in $s after a clean stop"
done
results_ids >"$TEST_TMP/b-done.txt"
for c in H:jobs:high:300 N:jobs:150 L:jobs:low:150; do
  p=${c%%:*} rest=${c#*:}
  total=${rest##*:} key=${rest%:*}
  done_n=$(count_prefix "$p-" <"$TEST_TMP/b-done.txt")
  [ "$(rcli XLEN "${PREFIX}$key")" -eq $(( total - done_n )) ] ||
    fail "B: $key holds $(rcli XLEN "${PREFIX}$key"), want $(( total - done_n ))"
done
start_worker "$CFG" b-second
wait_until 60 'test "$(results_count)" -ge 600' || fail "B: only $(results_count) of 600"
[ "$(results_ids | sort -u | wc -l)" -eq 600 ] || fail "B: ids not unique"
[ "$(results_count)" -eq 600 ] || fail "B: duplicate results"
stop_worker
echo "B: first 200 results high $nh normal $nn low $nl; $n before the stop"

# ---- C: delayed jobs keep their stream ------------------------------------
use_phase c 2
start_worker "$CFG" c-worker
wait_until 10 'test "$(rcli EXISTS "${PREFIX}jobs:low")" -eq 1' ||
  fail "C: streams not created"
due=$(( $(now_ms) + 2500 ))
printf '{"id":"later-h","priority":"high","url":"%s/fast","not_before":%d}\n' \
  "$TESTAPI_URL" "$due" >"$TEST_TMP/c.jsonl"
"$PACER" submit --config "$CFG" "$TEST_TMP/c.jsonl" 2>"$TEST_TMP/c-submit.log" ||
  fail "submit failed"
wait_until 10 'test "$(rcli ZCARD "${PREFIX}delayed")" -eq 1' ||
  fail "C: the high job was not deferred"
# The member carries its stream: "<id>\n<attempt>\nh\n<job JSON>".
[ "$(rcli --raw ZRANGE "${PREFIX}delayed" 0 0 | sed -n 3p)" = h ] ||
  fail "C: delayed member has no high tag: $(rcli --raw ZRANGE "${PREFIX}delayed" 0 0)"
[ "$(entries_added jobs:high)" -eq 1 ] || fail "C: jobs:high entries-added not 1"
wait_until 20 'test -n "$(result_of later-h state)"' || fail "C: no result for later-h"
[ "$(result_of later-h state)" = ok ] || fail "C: later-h not ok"
[ "$(result_of later-h finished_unix_ms)" -ge "$due" ] || fail "C: later-h ran early"
[ "$(entries_added jobs:high)" -eq 2 ] ||
  fail "C: the promoted job did not come back into jobs:high"
[ "$(entries_added jobs)" -eq 0 ] || fail "C: the promoted job went to jobs"
# A member in the old format still promotes, to the normal stream; a
# tagged low member goes to jobs:low.
now=$(now_ms)
rcli ZADD "${PREFIX}delayed" "$now" "$(printf 'old-1\n0\n{"url":"%s/fast"}' "$TESTAPI_URL")" >/dev/null
rcli ZADD "${PREFIX}delayed" "$now" "$(printf 'low-1\n0\nl\n{"url":"%s/fast"}' "$TESTAPI_URL")" >/dev/null
wait_until 20 'test -n "$(result_of old-1 state)" && test -n "$(result_of low-1 state)"' ||
  fail "C: hand-made delayed members not promoted"
[ "$(result_of old-1 state)" = ok ] || fail "C: old-1 not ok"
[ "$(result_of low-1 state)" = ok ] || fail "C: low-1 not ok"
[ "$(entries_added jobs)" -eq 1 ] || fail "C: old-format member not in jobs"
[ "$(entries_added jobs:low)" -eq 1 ] || fail "C: tagged low member not in jobs:low"
stop_worker
echo "C: deferred high job came back through jobs:high"

# ---- E: a stream and its group vanish at run time -------------------------
use_phase e 2
start_worker "$CFG" e-worker
wait_until 10 'test "$(rcli EXISTS "${PREFIX}jobs:low")" -eq 1' ||
  fail "E: streams not created"
rcli DEL "${PREFIX}jobs:high" "${PREFIX}jobs:low" >/dev/null
for p in high normal low; do
  for i in 1 2 3 4 5; do
    printf '{"id":"e-%s-%d","priority":"%s","url":"%s/fast"}\n' "$p" "$i" "$p" "$TESTAPI_URL"
  done
done >"$TEST_TMP/e.jsonl"
"$PACER" submit --config "$CFG" "$TEST_TMP/e.jsonl" 2>"$TEST_TMP/e-submit.log" ||
  fail "submit failed"
wait_until 30 'test "$(results_count)" -ge 15' ||
  fail "E: only $(results_count) of 15 results after the streams were deleted"
[ "$(results_ids | sort -u | wc -l)" -eq 15 ] || fail "E: ids not unique"
grep -q 'intake read failed' "$TEST_TMP/e-worker.log" ||
  fail "E: the failed read was not reported"
for s in $STREAMS; do
  [ "$(rcli XPENDING "${PREFIX}$s" pacer | head -1)" -eq 0 ] ||
    fail "E: entries left pending in $s"
done
stop_worker
echo "E: groups recreated after the streams were deleted"

# ---- D: lease renewal and takeover on high and low ------------------------
curl -fsS -X POST "${TESTAPI_URL}/admin/reset" >/dev/null || fail "reset failed"
use_phase d 20 '"lease_ms": 2000'
for i in $(seq 1 10); do
  printf '{"id":"dh-%02d","priority":"high","url":"%s/slow?ms=3500"}\n' "$i" "$TESTAPI_URL"
  printf '{"id":"dl-%02d","priority":"low","url":"%s/slow?ms=3500"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/d1.jsonl"
# D1: two live workers; requests outlast the lease, so only renewal keeps
# the second one from taking the first one's jobs.
start_worker "$CFG" d-one
one=$WORKER_PID
start_worker "$CFG" d-two
two=$WORKER_PID
"$PACER" submit --config "$CFG" "$TEST_TMP/d1.jsonl" 2>"$TEST_TMP/d-submit.log" ||
  fail "submit failed"
wait_until 30 'test "$(results_count)" -ge 20' || fail "D1: only $(results_count) of 20"
[ "$(testapi_stat .requests)" -eq 20 ] ||
  fail "D1: upstream saw $(testapi_stat .requests) requests for 20 jobs (lease not renewed?)"
! grep -q 'took over job' "$TEST_TMP/d-one.log" "$TEST_TMP/d-two.log" ||
  fail "D1: a live worker's job was taken over"
WORKER_PID=$two; stop_worker
WORKER_PID=$one; stop_worker
# D2: SIGKILL with high and low jobs in flight; a new worker takes them
# over from both streams after the lease.
sed 's/"d\([hl]\)-/"k\1-/' "$TEST_TMP/d1.jsonl" >"$TEST_TMP/d2.jsonl"
"$PACER" submit --config "$CFG" "$TEST_TMP/d2.jsonl" 2>>"$TEST_TMP/d-submit.log" ||
  fail "submit failed"
start_worker "$CFG" d-killed
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 20' ||
  fail "D2: 20 requests never in flight (saw $(testapi_stat .in_flight))"
kill -9 "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null
start_worker "$CFG" d-takeover
wait_until 60 'test "$(results_count)" -ge 40' || fail "D2: only $(results_count) of 40"
[ "$(results_ids | sort -u | wc -l)" -eq 40 ] || fail "D2: ids not unique"
[ "$(results_count)" -eq 40 ] || fail "D2: duplicate results"
grep -q 'took over job after lease.*sid=h/' "$TEST_TMP/d-takeover.log" ||
  fail "D2: no takeover from jobs:high logged"
grep -q 'took over job after lease.*sid=l/' "$TEST_TMP/d-takeover.log" ||
  fail "D2: no takeover from jobs:low logged"
for s in $STREAMS; do
  [ "$(rcli XPENDING "${PREFIX}$s" pacer | head -1)" -eq 0 ] ||
    fail "D2: entries left pending in $s"
done
stop_worker
pass "A high before low ($low_before low done), B shares $nh/$nn/$nl, C delayed high -> jobs:high, E NOGROUP recovery, D renew + takeover on high/low"
