#!/usr/bin/env bash
# Pagination (docs/CHAINS.md):
#  A. a 50-page chain (body next links) under a 25/s limit, its worker
#     SIGKILLed mid-chain: a second worker takes over and the chain ends
#     with exactly 50 page results (ids <root>#1..#50, parent, page) and
#     one summary (pages 50, items 100), at no more than the limit.
#  B. `pacer run` follows Link-header and cursor chains to their end, a
#     page that fails ends its chain with an error summary, max_pages ends
#     a chain, and a next link to another origin drops the Authorization
#     header; --merge writes every item of every page.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" \
  '"lease_ms": 2000, "limits": [{"name": "acct", "key": "limit_key", "rate": "25/s"}]'

# ---- A
printf '{"id":"big","url":"%s/v1/pages/body?n=50&per=2&account=a1","limit_key":"a1","paginate":{"next":"body:/paging/next","items":"/data"}}\n' \
  "$TESTAPI_URL" >"$TEST_TMP/a.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/a.jsonl" 2>/dev/null ||
  fail "submit failed"
start_worker "$TEST_TMP/pacer.json" first
wait_until 20 'test "$(results_count)" -ge 12' ||
  fail "A: fewer than 12 pages before the kill ($(results_count))"
kill -9 "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null
killed_at=$(results_count)
[ "$killed_at" -lt 50 ] || fail "A: the chain ended before the kill"
start_worker "$TEST_TMP/pacer.json" second
wait_until 60 '[ -n "$(result_of big pages)" ]' ||
  fail "A: no summary after takeover ($(results_count) results)"
# the last page's result is written right after the summary
wait_until 10 'test "$(results_count)" -ge 51' ||
  fail "A: only $(results_count) results"
n_pages=$(stream_field results parent | grep -cx big)
[ "$n_pages" -eq 50 ] || fail "A: $n_pages page results, want 50"
[ "$(results_ids | grep -c '^big#')" -eq 50 ] || fail "A: page ids"
[ "$(results_ids | grep '^big#' | sort -u | wc -l)" -eq 50 ] ||
  fail "A: a page has two results"
[ "$(results_ids | grep -cx big)" -eq 1 ] || fail "A: summaries: $(results_ids | grep -cx big)"
[ "$(results_count)" -eq 51 ] || fail "A: $(results_count) results, want 51"
for i in $(seq 1 50); do
  [ "$(result_of "big#$i" page)" = "$i" ] || fail "A: big#$i has page $(result_of "big#$i" page)"
done
[ "$(result_of big pages)" = 50 ] || fail "A: summary pages $(result_of big pages)"
[ "$(result_of big items)" = 100 ] || fail "A: summary items $(result_of big items)"
[ "$(result_of big ended)" = last_page ] || fail "A: ended $(result_of big ended)"
[ "$(result_of big state)" = ok ] || fail "A: summary state"
"$PACER" result big --config "$TEST_TMP/pacer.json" --json |
  jq -e '.summary == true and .pages == 50' >/dev/null ||
  fail "A: pacer result does not find the summary: $("$PACER" result big --config "$TEST_TMP/pacer.json" --json 2>&1 | head -c 300)"
# every page was requested once per run of it: at least 50, and pages run
# twice only when taken over after the kill
got=$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
  jq '[.requests[] | select(.account == "a1")] | length')
[ "$got" -ge 50 ] && [ "$got" -le 52 ] || fail "A: $got page requests"
# the most pages in any 1 s window: 25/s allows 25 (+1 at the window's edge)
rate=$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
  jq -r '[.requests[] | select(.account == "a1") | .t_ms] | sort as $t |
    [$t[] as $a | [$t[] | select(. >= $a and . < $a + 1000)] | length] | max')
[ "$rate" -le 26 ] || fail "A: $rate pages in one second, over the 25/s limit"
[ "$(rcli XLEN "${PREFIX}jobs")" -eq 0 ] || fail "A: jobs left in the stream"
grep -q 'took over job after lease' "$TEST_TMP/second.log" ||
  fail "A: no takeover logged"
echo "A: 50 pages + 1 summary after SIGKILL at $killed_at results, $got requests, at most $rate in any 1 s"
kill "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null

# ---- B
host_other="localhost:${TESTAPI_PORT}"
cat >"$TEST_TMP/b.jsonl" <<JOBS
{"id":"lk","url":"$TESTAPI_URL/v1/pages/link?n=4&per=3","paginate":{"next":"link","items":"/data"}}
{"id":"cu","url":"$TESTAPI_URL/v1/pages/cursor?n=9&per=1","paginate":{"cursor":"/paging/cursors/after","param":"after","items":"/data","max_pages":3}}
{"id":"bad","url":"$TESTAPI_URL/v1/pages/body?n=4&fail=3","max_attempts":1,"paginate":{"next":"body:/paging/next","items":"/data"}}
{"id":"xo","url":"$TESTAPI_URL/v1/pages/body?n=2&next_host=$host_other","headers":{"Authorization":"Bearer sekrit-token-123"},"paginate":{"next":"body:/paging/next"}}
JOBS
"$PACER" run "$TEST_TMP/b.jsonl" --out "$TEST_TMP/b.out" \
  --merge "$TEST_TMP/items.jsonl" >"$TEST_TMP/run.log" 2>&1
[ $? -eq 1 ] || fail "B: pacer run should exit 1 (one chain failed)"
o="$TEST_TMP/b.out"
[ "$(jq -s 'length' "$o")" -eq 16 ] || fail "B: $(jq -s 'length' "$o") lines, want 4+3+3+2 pages and 4 summaries"
jq -e -s '[.[] | select(.id == "lk")][0] | .summary and .pages == 4 and .items == 12 and .ended == "last_page"' "$o" >/dev/null ||
  fail "B: link chain summary: $(jq -c 'select(.id == "lk")' "$o")"
jq -e -s '[.[] | select(.id == "cu")][0] | .pages == 3 and .items == 3 and .ended == "max_pages"' "$o" >/dev/null ||
  fail "B: cursor chain summary: $(jq -c 'select(.id == "cu")' "$o")"
jq -e -s '[.[] | select(.id == "bad")][0] | .state == "failed" and .pages == 3 and .items == 4 and .ended == "error" and (.error | test("page 3 failed"))' "$o" >/dev/null ||
  fail "B: failed chain summary: $(jq -c 'select(.id == "bad")' "$o")"
jq -e -s '[.[] | select(.id == "bad#3")][0] | .state == "failed" and .page == 3' "$o" >/dev/null ||
  fail "B: the failed page's result"
# --merge: every item of every page, one line each (12 + 3 + 4 counted by
# the summaries; xo has no "items")
[ "$(wc -l <"$TEST_TMP/items.jsonl")" -eq 19 ] ||
  fail "B: --merge wrote $(wc -l <"$TEST_TMP/items.jsonl") items, want 19"
[ "$(jq -s '[.[] | select(.page == 4)] | length' "$TEST_TMP/items.jsonl")" -eq 3 ] ||
  fail "B: --merge lacks the last page of the link chain"
tokens=$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
  jq -r '[.requests[] | select(.path == "/v1/pages/body" and .account == null) | .token // "-"] | join(" ")')
echo "B: tokens seen on body pages: $tokens"
curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
  jq -e '[.requests[] | select(.path == "/v1/pages/body")] | map(select(.token != null and .token != "")) | length == 1' >/dev/null ||
  fail "B: the Authorization header went to the other origin"
# ---- C: the step script alone, on the window a SIGKILL may hit: a page
# whose step ran but whose result was not written runs again, and its
# second step queues nothing (store/lua/chain_step.lua, as embedded: the
# build writes the text it sends, lib_done.lua included, to PACER_LUA_DIR).
script="${PACER_LUA_DIR:?set by ctest: generated/store/lua in the build}/chain_step.lua"
[ -s "$script" ] || fail "C: $script is missing: build pacer first"
s="${PREFIX}c:jobs"
rcli XGROUP CREATE "$s" pacer '$' MKSTREAM >/dev/null
rcli XADD "$s" '*' job '{"url":"http://x/"}' >/dev/null
eid=$(rcli --raw XREADGROUP GROUP pacer me COUNT 1 STREAMS "$s" '>' | sed -n 2p)
step() {
  rcli --raw EVAL "$(cat "$script")" 6 "$s" "${PREFIX}c:chain" "$s" \
    "${PREFIX}c:done" "${PREFIX}c:dead" "${PREFIX}c:result" pacer "$eid" "$1" \
    1 2 60000 0 pages \
    next '{"id":"r#2","url":"http://x/?p=2"}'
}
[ "$(step me)" = 1 ] || fail "C: the first step did not run"
[ "$(step me)" = 2 ] || fail "C: the second step was not refused as done"
[ "$(step other)" = -1 ] || fail "C: a step by another consumer was not fenced off"
[ "$(rcli XLEN "$s")" -eq 2 ] || fail "C: $(rcli XLEN "$s") entries, want the page and one next page"
[ "$(rcli HGET "${PREFIX}c:chain" pages)" = 1 ] || fail "C: the page was counted twice"
echo "C: a step run twice queues the next page once"
pass "chains: 50 pages after SIGKILL, link, cursor, max_pages, failure, cross-origin, step once"
