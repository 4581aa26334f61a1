#!/usr/bin/env bash
# `pacer result ID`: a job's terminal result by id through the result index
# (<prefix>result:<id>, docs/REDIS.md), not a scan of the results stream.
# A: an ok job and a failed (404) job: text and --json output, exit 0; the
#    index key has the configured TTL.
# B: a fast job among many others: found without reading from a stream id
#    noted before (the race of reading the stream from "$").
# C: an unknown id and an id whose results entry was trimmed: exit 1, and a
#    message that says which; a bad id is a usage error (exit 2).
# D: the index follows the last result: a failed id sent again and ok
#    now shows ok.
# E: a stream entry with the field "job" twice is invalid_job (not "last
#    one wins"), and nothing is sent.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"result_ttl_ms": 600000'
start_worker "$TEST_TMP/pacer.json"
res() { "$PACER" result --config "$TEST_TMP/pacer.json" "$@"; }

# ---- A
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"r-ok\",\"url\":\"$TESTAPI_URL/fast\",\"meta\":{\"k\":1}}" >/dev/null
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"r-404\",\"url\":\"$TESTAPI_URL/status/404\"}" >/dev/null
wait_until 20 'res r-ok r-404 >/dev/null 2>&1' || fail "A: results not found: $(res r-ok r-404 2>&1)"
res r-ok >"$TEST_TMP/a.out" || fail "A: exit $?"
grep -qx 'state             ok' "$TEST_TMP/a.out" || fail "A: text: $(cat "$TEST_TMP/a.out")"
grep -qx 'status            200' "$TEST_TMP/a.out" || fail "A: text: $(cat "$TEST_TMP/a.out")"
grep -A1 -x 'body:' "$TEST_TMP/a.out" | grep -qx ok || fail "A: body: $(cat "$TEST_TMP/a.out")"
res --json r-404 >"$TEST_TMP/a.json" || fail "A: --json exit $?"
[ "$(jq -r .state "$TEST_TMP/a.json")" = failed ] || fail "A: json: $(cat "$TEST_TMP/a.json")"
[ "$(jq -r .status "$TEST_TMP/a.json")" = 404 ] || fail "A: json status: $(cat "$TEST_TMP/a.json")"
[ "$(jq -r '.attempts|type' "$TEST_TMP/a.json")" = number ] || fail "A: attempts not a number"
[ "$(res --json r-ok | jq -r .meta.k)" = 1 ] || fail "A: meta not embedded as JSON"
ttl=$(rcli PTTL "${PREFIX}result:r-ok")
[ "$ttl" -gt 590000 ] && [ "$ttl" -le 600000 ] || fail "A: index TTL $ttl ms, want about 600000"
echo "A: ok and failed results by id, text and --json; index TTL $ttl ms"

# ---- B: one fast job among 200 others, looked up by id only
for i in $(seq 1 200); do
  printf 'XADD %sjobs * job '\''{"id":"bulk-%d","url":"%s/fast"}'\''\n' "$PREFIX" "$i" "$TESTAPI_URL"
done | rcli >/dev/null
wait_until 30 'res bulk-137 >/dev/null 2>&1' || fail "B: bulk-137 not found"
[ "$(res --json bulk-137 | jq -r .id)" = bulk-137 ] || fail "B: wrong result"
mem=$(rcli MEMORY USAGE "${PREFIX}result:bulk-137")
echo "B: bulk-137 found by id among 200 jobs; index entry $mem bytes (MEMORY USAGE)"

# ---- C
res nosuch >"$TEST_TMP/c.out" 2>"$TEST_TMP/c.err"; rc=$?
[ "$rc" -eq 1 ] || fail "C: unknown id exit $rc"
grep -q 'nosuch: no result: not finished yet' "$TEST_TMP/c.err" || fail "C: $(cat "$TEST_TMP/c.err")"
[ "$(res --json nosuch 2>/dev/null | jq -r .state)" = null ] || fail "C: --json missing"
rcli XDEL "${PREFIX}results" "$(rcli GET "${PREFIX}result:bulk-5")" >/dev/null
res bulk-5 >/dev/null 2>"$TEST_TMP/c.err"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'trimmed from the results stream' "$TEST_TMP/c.err" ||
  fail "C: trimmed entry: exit $rc $(cat "$TEST_TMP/c.err")"
res 'bad id' >/dev/null 2>"$TEST_TMP/c.err"; rc=$?
[ "$rc" -eq 2 ] || fail "C: a bad id exit $rc"
echo "C: unknown, trimmed and bad ids: exit 1, 1, 2 with a message each"

# ---- D: sent again, the index names the newest result
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"r-404\",\"url\":\"$TESTAPI_URL/fast\"}" >/dev/null
wait_until 20 'test "$(res --json r-404 | jq -r .state)" = ok' || fail "D: index not updated"
echo "D: the index follows the newest result of an id"

# ---- E: the field "job" twice
before=$(testapi_stat .requests)
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"dup-field\",\"url\":\"$TESTAPI_URL/fast?first\"}" \
  job "{\"id\":\"dup-field\",\"url\":\"$TESTAPI_URL/fast?second\"}" >/dev/null
wait_until 20 'res dup-field >/dev/null 2>&1' || fail "E: no result for dup-field"
res --json dup-field >"$TEST_TMP/e.json"
[ "$(jq -r .reason "$TEST_TMP/e.json")" = invalid_job ] || fail "E: $(cat "$TEST_TMP/e.json")"
jq -r .error "$TEST_TMP/e.json" | grep -q 'the field "job" more than once' || fail "E: error $(jq -r .error "$TEST_TMP/e.json")"
[ "$(testapi_stat .requests)" -eq "$before" ] || fail "E: a request was sent"
echo "E: the field job twice: invalid_job, nothing sent"

kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "worker did not stop"
pass "pacer result finds results by id"
