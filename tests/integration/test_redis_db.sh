#!/usr/bin/env bash
# A redis_url with a database index (unix://...?db=7): the worker's async
# connections (store/redis_uv.c pacer_redis_async_connect: AUTH, SELECT)
# and the commands' sync one (store/redis_sync.c) all use that database.
# Jobs, a delayed job (promoted on the command connection), results and
# `pacer stats` live in db 7; db 0 holds none of this test's keys.
. "$(dirname "$0")/lib.sh"

DB=7
start_testapi
printf '{"redis_url": "unix://%s?db=%d", "prefix": "%s", "workers": 1}\n' \
  "$REDIS_SOCK" "$DB" "$PREFIX" >"$TEST_TMP/pacer.json"

due=$(( $(now_ms) + 1000 ))
{
  for i in 1 2 3 4 5; do
    printf '{"id":"db-%d","url":"%s/fast"}\n' "$i" "$TESTAPI_URL"
  done
  printf '{"id":"db-later","url":"%s/fast","not_before":%d}\n' \
    "$TESTAPI_URL" "$due"
} >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  2>"$TEST_TMP/submit.log" || fail "submit failed"
[ "$(rcli -n "$DB" XLEN "${PREFIX}jobs")" -eq 6 ] ||
  fail "submit did not queue 6 jobs in db $DB"

start_worker "$TEST_TMP/pacer.json"
wait_until 30 'test "$(rcli -n "$DB" XLEN "${PREFIX}results")" -ge 6' ||
  fail "only $(rcli -n "$DB" XLEN "${PREFIX}results") of 6 results in db $DB"
n=$(rcli -n "$DB" --raw EVAL "local n = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'state' and f[i + 1] == 'ok' then n = n + 1 end
  end
end
return n" 1 "${PREFIX}results")
[ "$n" -eq 6 ] || fail "$n of 6 results ok"
[ -z "$(rcli --scan --pattern "${PREFIX}*")" ] ||
  fail "keys in db 0: $(rcli --scan --pattern "${PREFIX}*" | head -3)"

"$PACER" stats --config "$TEST_TMP/pacer.json" --json >"$TEST_TMP/stats.out" \
  2>"$TEST_TMP/stats.log" || fail "stats failed"
[ "$(jq -r .results "$TEST_TMP/stats.out")" -eq 6 ] ||
  fail "stats: $(cat "$TEST_TMP/stats.out")"
[ "$(jq -r '.consumers | length' "$TEST_TMP/stats.out")" -ge 1 ] ||
  fail "stats shows no consumer: $(cat "$TEST_TMP/stats.out")"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "worker did not stop"
pass "jobs, delayed jobs, results and stats all in db $DB"
