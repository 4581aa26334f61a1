#!/usr/bin/env bash
# Intake's done-check and claim go as one script call per intake round, not
# one per job (store/queue_drop.c, store/lua/queue_dropdone.lua), with the
# same answer per entry as one call each (docs/REDIS.md "One job id at a
# time").
# A worker finishes 20 jobs (bd-*), stops; then 200 entries are queued
# while no worker runs: 160 new ids (bt-*), a second copy right after
# each of bt-1..bt-20 (folded into the first, in the same round), and the
# 20 finished ids again (dropped by their done-marker). A second worker
# reads them in one or a few rounds. Checked:
#   - every entry was checked exactly once, in at most 200/16 calls
#     (MONITOR: the calls naming the delayed set and the done-markers);
#   - scripts per entry (INFO commandstats, EVALSHA + EVAL) well below the
#     two of a check plus a finish each;
#   - 160 requests, one ok result per new id, none for a finished id, 20
#     folded, 20 skipped, nothing pending, no claim left.
# A private redis-server, so the command counts are this test's alone.
. "$(dirname "$0")/lib.sh"

REDIS_SOCK="$TEST_TMP/redis.sock"
start_private_redis
start_testapi
# Room for the whole backlog in one intake round (concurrency +
# prefetch_extra >= 200); no limits, so no lane defers part of it.
write_config "$TEST_TMP/pacer.json" '"concurrency": 16, "prefetch_extra": 200'
count_id() { results_ids | grep -cx "$1"; }
job() { printf '{"id":"%s","url":"%s/fast"}' "$1" "$TESTAPI_URL"; }
add() { rcli XADD "${PREFIX}jobs" '*' job "$(job "$1")" >/dev/null; }
settled() {
  test "$(rcli XLEN "${PREFIX}jobs")" -eq 0 &&
    test "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0
}

# ---- the finished ids
start_worker "$TEST_TMP/pacer.json" w1
for k in $(seq 1 20); do add "bd-$k"; done
wait_until 30 'test "$(results_count)" -ge 20 && settled' || fail "bd-* did not finish"
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "w1: no exit after SIGTERM"

# ---- 200 entries for the next worker
for i in $(seq 1 160); do
  add "bt-$i"
  [ "$i" -le 20 ] && add "bt-$i" # a copy in the same round
  [ $(( i % 8 )) -eq 0 ] && add "bd-$(( i / 8 ))" # finished before
done
[ "$(rcli XLEN "${PREFIX}jobs")" -eq 200 ] || fail "$(rcli XLEN "${PREFIX}jobs") entries queued, want 200"

rcli CONFIG RESETSTAT >/dev/null
rcli MONITOR >"$TEST_TMP/monitor.txt" 2>&1 &
PIDS+=($!)
wait_until 10 'grep -q "^OK" "$TEST_TMP/monitor.txt"' || fail "MONITOR did not start"
start_worker "$TEST_TMP/pacer.json" w2
wait_until 60 'test "$(results_count)" -ge 180 && settled' ||
  fail "only $(results_count) of 180 results, $(rcli XLEN "${PREFIX}jobs") entries left"
stats=$(rcli INFO commandstats | tr -d '\r')
calls() { sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" <<<"$stats"; }
n_evalsha=$(calls evalsha)
n_eval=$(calls eval)
scripts=$(( ${n_evalsha:-0} + ${n_eval:-0} ))

# The checks: top-level script calls (not the "[0 lua]" lines of what a
# script ran) that name both the delayed set and the done-marker buckets;
# no other script names both.
grep -E '^[0-9.]+ \[[0-9]+ (unix|[0-9.:]+)' "$TEST_TMP/monitor.txt" |
  grep -E '"(EVALSHA|EVAL)"' | grep -F "\"${PREFIX}delayed\"" |
  grep -F "\"${PREFIX}donemarks:\"" >"$TEST_TMP/checks.txt"
checks=$(wc -l <"$TEST_TMP/checks.txt")
checked=$(grep -oF "\"${PREFIX}claim:" "$TEST_TMP/checks.txt" | wc -l)
folded=$(grep -c 'folded into it unsent' "$TEST_TMP/w2.log")
skipped=$(grep -c 'skipped unsent' "$TEST_TMP/w2.log")
echo "200 entries: $checks done-check calls for $checked entries;" \
  "$scripts script calls in all; $folded folded, $skipped skipped"

[ "$checked" -eq 200 ] || fail "$checked entries checked, want each of the 200 once"
[ "$checks" -ge 1 ] && [ "$checks" -le $(( 200 / 16 )) ] ||
  fail "$checks done-check calls for 200 entries, want 1..$(( 200 / 16 ))"
# A check plus a finish per job would be 360 (200 + 160); batched about
# 160 finishes and a handful of checks, intake rounds and timers.
[ "$scripts" -lt $(( 200 * 5 / 4 )) ] ||
  fail "$scripts script calls for 200 entries, want < 250"
for i in $(seq 1 160); do
  [ "$(count_id "bt-$i")" -eq 1 ] || fail "$(count_id "bt-$i") results for bt-$i, want 1"
done
for k in $(seq 1 20); do
  [ "$(count_id "bd-$k")" -eq 1 ] || fail "$(count_id "bd-$k") results for bd-$k, want 1 (its first run)"
done
[ "$(results_count)" -eq 180 ] || fail "$(results_count) results, want 180"
ok=$(stream_field results state | grep -c '^ok$')
[ "$ok" -eq 180 ] || fail "$ok of 180 results ok"
[ "$(testapi_stat .requests)" -eq 180 ] ||
  fail "the upstream saw $(testapi_stat .requests) requests, want 180 (20 + 160)"
[ "$folded" -eq 20 ] || fail "$folded copies folded, want 20"
[ "$skipped" -eq 20 ] || fail "$skipped finished ids skipped, want 20"
[ -z "$(rcli --scan --pattern "${PREFIX}claim:*")" ] || fail "claims left: $(rcli --scan --pattern "${PREFIX}claim:*" | head -5)"
grep -E 'script failed|lease lost' "$TEST_TMP/w2.log" && fail "a check failed"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "w2: no exit after SIGTERM"
pass "intake checks 200 entries in $checks script calls; 20 folded, 20 done dropped, one result per id"
