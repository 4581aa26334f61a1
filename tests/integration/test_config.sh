#!/usr/bin/env bash
# Config errors name FILE:LINE:COLUMN and the nearest known field for a
# typo (core/config_locate.h); a prefix that is not printable UTF-8 is a
# config error; `pacer stats` with a config that has no limits shows the
# rates the workers run with (published in <prefix>lanestat:*), not 0.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP"
printf '{\n  "workers": 2,\n  "concurency": 5\n}\n' >typo.json
"$PACER" stats --config typo.json >typo.out 2>typo.log && fail "typo accepted"
grep -qx 'stats: typo.json:3:3: concurency: unknown field; did you mean "concurrency"?' typo.log ||
  fail "typo: $(cat typo.log)"
printf '{"limits": [\n  {"name": "a", "key": "host",\n   "rate": "5/x"}]}\n' >rate.json
"$PACER" worker --config rate.json >rate.out 2>rate.log && fail "bad rate accepted"
grep -q 'rate.json:3:4: limits\[0\].rate: "5/x" is not N/s' rate.log ||
  fail "bad rate: $(cat rate.log)"
printf '{"prefix": "p\xff:"}' >prefix.json
"$PACER" stats --config prefix.json >prefix.out 2>prefix.log && fail "bad prefix accepted"
grep -q 'prefix.json:1:2: prefix: byte 1 is a control character or not UTF-8' prefix.log || fail "prefix: $(cat prefix.log)"

# Workers publish their limits; stats reads them without knowing them.
start_testapi
CFG=worker.json
write_config "$CFG" '"limits": [{"name": "acct", "key": "limit_key", "rate": "7/s"}]'
start_worker "$CFG"
write_config bare.json
for i in $(seq 1 40); do
  printf '{"id":"s-%02d","url":"%s/fast","limit_key":"a1"}\n' "$i" "$TESTAPI_URL"
done >jobs.jsonl
"$PACER" submit --config "$CFG" jobs.jsonl >submit.out 2>submit.log || fail "submit: $(cat submit.log)"
rate_seen() {
  "$PACER" stats --json --config bare.json |
    jq -e '.limits[] | select(.bucket == "acct:a1") | .rate_per_s == 7' >/dev/null
}
wait_until 20 rate_seen || fail "stats without the limits: $("$PACER" stats --json --config bare.json)"
"$PACER" stats --config bare.json >stats.txt || fail "stats"
grep -E '^  acct:a1 +7\.0 ' stats.txt >/dev/null || fail "stats text: $(cat stats.txt)"
pass "FILE:LINE:COL errors with a suggestion, UTF-8 prefix, stats shows the workers' rates"
