#!/usr/bin/env bash
# Reading results from another language without a race: the README's
# Python (redis-py, Debian python3-redis) and Node (ioredis, tests/node)
# clients are the files in examples/clients/, quoted verbatim by the
# README, and run here as written against a worker. The pattern they use
# (note the end of <prefix>results before the first XADD, XREAD on from
# there) is checked deterministically with redis-cli: a result written
# before the read starts is read, where "XREAD ... $" misses it.
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
CLIENTS=$SRC/examples/clients

# The README quotes the files exactly: the fenced block after the line
# "<!-- examples/clients/NAME -->" is NAME's text.
readme_block() {
  awk -v m="<!-- examples/clients/$1 -->" '
    $0 == m { on = 1; next }
    on == 1 && /^```/ { on = 2; next }
    on == 2 && /^```/ { exit }
    on == 2 { print }' "$SRC/README.md"
}
for f in submit_and_read.py submit_and_read.mjs; do
  diff <(readme_block "$f") "$CLIENTS/$f" >"$TEST_TMP/readme-$f.diff" ||
    fail "README block for $f differs from examples/clients/$f: $(cat "$TEST_TMP/readme-$f.diff")"
done

start_testapi
CFG="$TEST_TMP/worker.json"
write_config "$CFG"
start_worker "$CFG"
export PACER_REDIS_URL="unix://$REDIS_SOCK" PACER_PREFIX="$PREFIX"

# The pattern, with the race forced: the result is in the stream before
# the reader starts.
last=$(rcli --raw XREVRANGE "${PREFIX}results" + - COUNT 1 | head -1)
last=${last:-0-0}
rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"race-1\",\"url\":\"$TESTAPI_URL/fast\"}" >/dev/null
wait_until 20 '[ "$(result_of race-1 state)" = ok ]' || fail "race-1 did not finish"
rcli --raw XREAD BLOCK 100 STREAMS "${PREFIX}results" '$' >"$TEST_TMP/dollar.out"
grep -q race-1 "$TEST_TMP/dollar.out" && fail "XREAD \$ saw a result written before it"
rcli --raw XREAD COUNT 100 BLOCK 100 STREAMS "${PREFIX}results" "$last" >"$TEST_TMP/noted.out"
grep -qx race-1 "$TEST_TMP/noted.out" ||
  fail "XREAD from the id noted before XADD missed race-1: $(cat "$TEST_TMP/noted.out")"

# Python, as written (Debian's python3 has python3-redis).
PY=
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import redis' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || fail "no python3 with redis-py (Debian: apt-get install python3-redis)"
timeout 30 "$PY" "$CLIENTS/submit_and_read.py" "$TESTAPI_URL/fast" >"$TEST_TMP/py.out" \
  2>"$TEST_TMP/py.log" || fail "python client exit $?: $(cat "$TEST_TMP/py.log")"
[ "$(sort "$TEST_TMP/py.out")" = "$(printf 'py-0 ok 200\npy-1 ok 200\npy-2 ok 200')" ] ||
  fail "python client: $(cat "$TEST_TMP/py.out")"

# Node, as written: ESM resolves ioredis next to the file, so the copy
# runs beside a link to tests/node/node_modules. It must exit by itself.
[ -d "$SRC/tests/node/node_modules/ioredis" ] ||
  fail "ioredis missing: npm ci --prefix tests/node"
mkdir -p "$TEST_TMP/js"
cp "$CLIENTS/submit_and_read.mjs" "$TEST_TMP/js/"
ln -s "$SRC/tests/node/node_modules" "$TEST_TMP/js/node_modules"
timeout 30 node "$TEST_TMP/js/submit_and_read.mjs" "$TESTAPI_URL/fast" \
  >"$TEST_TMP/js.out" 2>"$TEST_TMP/js.log"
rc=$?
[ "$rc" -ne 124 ] || fail "node client did not exit within 30 s"
[ "$rc" -eq 0 ] || fail "node client exit $rc: $(cat "$TEST_TMP/js.log")"
[ "$(sort "$TEST_TMP/js.out")" = "$(printf 'js-0 ok 200\njs-1 ok 200\njs-2 ok 200')" ] ||
  fail "node client: $(cat "$TEST_TMP/js.out")"
pass "README clients run as written and read every result; XREAD from the noted id cannot miss one"
