#!/usr/bin/env bash
# Scripts are called by SHA1 (store/script.h): the worker sends EVALSHA,
# and when Redis's script cache is emptied under it (SCRIPT FLUSH, as
# after a restart or a failover) the call that meets NOSCRIPT is sent once
# more as EVAL. Eight flushes while a batch runs lose nothing: every job
# ends with exactly one ok result, no script error is logged, each
# NOSCRIPT was answered with an EVAL, and the script text went over the
# wire only then (and on each script's first call). A client command
# (cancel, sync path) works right after a flush too.
. "$(dirname "$0")/lib.sh"

N=600
REDIS_SOCK="$TEST_TMP/redis.sock"
start_private_redis
start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 16'

for i in $(seq 1 "$N"); do
  printf '{"id":"f-%03d","url":"%s/slow?ms=20"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  2>"$TEST_TMP/submit.err" || fail "submit failed: $(cat "$TEST_TMP/submit.err")"
rcli CONFIG RESETSTAT >/dev/null
start_worker "$TEST_TMP/pacer.json"

# A flush each time another N/10 results are in.
for k in 1 2 3 4 5 6 7 8; do
  wait_until 60 "test \"\$(results_count)\" -ge $(( k * N / 10 ))" ||
    fail "only $(results_count) results before flush $k"
  rcli SCRIPT FLUSH | grep -q OK || fail "SCRIPT FLUSH refused"
done
wait_until 60 "test \"\$(results_count)\" -ge $N" ||
  fail "only $(results_count) of $N results after 8 flushes"
stats=$(rcli INFO commandstats | tr -d '\r')
calls() { sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" <<<"$stats"; }
evalsha=$(calls evalsha)
evals=$(calls eval)
# EVALSHAs refused: NOSCRIPT (Redis 7 counts them as failed_calls)
noscript=$(sed -n 's/^cmdstat_evalsha:.*failed_calls=\([0-9]*\).*/\1/p' <<<"$stats")
alive "$WORKER_PID" || fail "worker died"
[ "$(results_count)" -eq "$N" ] || fail "duplicate results: $(results_count)"
[ "$(results_ids | sort -u | wc -l)" -eq "$N" ] || fail "ids not unique"
ok=$(stream_field results state | grep -c '^ok$')
[ "$ok" -eq "$N" ] || fail "$ok of $N results ok"
if grep -E 'NOSCRIPT|script failed' "$TEST_TMP/worker.log"; then
  fail "a script call failed after a flush"
fi
# Each job's finish goes by SHA, in calls of at most 64 finishes
# (PACER_QUEUE_FINISH_MAX; how many share a call depends on timing), so
# at least N / 64 EVALSHA; the text goes only after a flush, once per call
# in flight then (at most concurrency x workers x a few scripts): fewer
# EVALs than half the EVALSHAs, and far below one per job.
[ "${evalsha:-0}" -ge $((N / 64)) ] ||
  fail "only ${evalsha:-0} EVALSHA for $N jobs"
[ "${evalsha:-0}" -ge $((2 * ${evals:-0})) ] ||
  fail "${evals:-0} EVAL with the script text against ${evalsha:-0} EVALSHA"
[ "${noscript:-0}" -ge 1 ] || fail "no NOSCRIPT seen after 8 flushes"
[ "${evals:-0}" -ge "$noscript" ] ||
  fail "$noscript NOSCRIPT replies but only $evals EVALs resent"
[ "${evals:-0}" -lt $(( N / 2 )) ] ||
  fail "$evals EVALs with the script text for $N jobs"

# Sync path: a client command's script (cancel_request.lua) right after a
# flush. f-001 has finished, so cancel answers 1 ("finished first"); a
# Redis or script error would be 2.
rcli SCRIPT FLUSH >/dev/null
"$PACER" cancel --config "$TEST_TMP/pacer.json" --timeout 1 f-001 \
  >"$TEST_TMP/cancel.out" 2>"$TEST_TMP/cancel.err"
rc=$?
[ "$rc" -eq 1 ] || fail "cancel after a flush: exit $rc: $(cat "$TEST_TMP/cancel.err")"
if grep -q NOSCRIPT "$TEST_TMP/cancel.err"; then
  fail "cancel after a flush: $(cat "$TEST_TMP/cancel.err")"
fi
pass "$N ok results, 8 flushes; $evalsha EVALSHA ($noscript NOSCRIPT), $evals EVAL"
