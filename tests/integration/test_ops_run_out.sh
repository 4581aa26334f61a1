#!/usr/bin/env bash
# `pacer run --out F` writes its results to a temporary file next to F and
# renames it over F at the end.
# A: a run that fails early (Redis unreachable) leaves an existing F as it
#    was, and no temporary file.
# B: a run that completes replaces F with its results, with the mode a
#    plain create would give, and leaves no temporary file.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json"
printf '{"id":"o-1","url":"%s/fast"}\n{"id":"o-2","url":"%s/fast"}\n' \
  "$TESTAPI_URL" "$TESTAPI_URL" >"$TEST_TMP/jobs.jsonl"
OUT=$TEST_TMP/out/results.jsonl
mkdir -p "$TEST_TMP/out"
echo 'OLD RESULTS' >"$OUT"

# ---- A
timeout 30 "$PACER" run "$TEST_TMP/jobs.jsonl" --config "$TEST_TMP/pacer.json" \
  --redis "unix://$TEST_TMP/no-such.sock" --out "$OUT" >"$TEST_TMP/a.out" 2>&1 && fail "A: run succeeded"
[ "$(cat "$OUT")" = 'OLD RESULTS' ] || fail "A: the old results file changed: $(head -c 200 "$OUT")"
[ "$(ls "$TEST_TMP/out")" = results.jsonl ] || fail "A: left behind: $(ls "$TEST_TMP/out")"
echo "A: a run that failed early left the old file and no temporary file"

# ---- B
( umask 027; timeout 60 "$PACER" run "$TEST_TMP/jobs.jsonl" --config "$TEST_TMP/pacer.json" \
  --redis "unix://$REDIS_SOCK" --out "$OUT" >"$TEST_TMP/b.out" 2>&1 ) || fail "B: run failed: $(tail -5 "$TEST_TMP/b.out")"
[ "$(wc -l <"$OUT")" -eq 2 ] || fail "B: $(cat "$OUT")"
[ "$(jq -r .id "$OUT" | sort | tr '\n' ' ')" = "o-1 o-2 " ] || fail "B: ids $(jq -r .id "$OUT")"
[ "$(ls "$TEST_TMP/out")" = results.jsonl ] || fail "B: left behind: $(ls "$TEST_TMP/out")"
[ "$(stat -c %a "$OUT")" = 640 ] || fail "B: mode $(stat -c %a "$OUT"), want 640 under umask 027"
echo "B: a complete run replaced the file (mode 640 under umask 027), no temporary file"
pass "pacer run --out replaces the results file only at the end"
