#!/usr/bin/env bash
# `pacer run`: the embedded default. Starts its own private redis-server,
# runs every job to a terminal result, writes JSON lines, prints a summary,
# stops the private Redis, and exits 0 only when all succeeded.
. "$(dirname "$0")/lib.sh"

start_testapi
for i in $(seq 1 200); do
  printf '{"id":"run-%03d","method":"PUT","url":"%s/v1/adaccounts/act_%d/campaigns","body":{"n":%d}}\n' \
    "$i" "$TESTAPI_URL" $(( i % 3 )) "$i"
done >"$TEST_TMP/ok.jsonl"
cd "$TEST_TMP"

# A redis-server first on PATH that records the pid and --dir of every
# private Redis `pacer run` starts, then becomes the real one (same pid), so
# leaks are checked for exactly our own Redis even while other runs go on.
REAL_REDIS=$(command -v redis-server) || fail "redis-server not installed"
mkdir -p bin
cat >bin/redis-server <<EOF
#!/bin/sh
prev= dir=
for a in "\$@"; do [ "\$prev" = --dir ] && dir=\$a; prev=\$a; done
echo "\$\$ \$dir" >>"$TEST_TMP/redis-spawned"
exec "$REAL_REDIS" "\$@"
EOF
chmod +x bin/redis-server
export PATH="$TEST_TMP/bin:$PATH"

# last_redis: sets RP and RDIR to the pid and temp dir of the private
# redis-server started last, once it serves its socket.
last_redis() {
  wait_until 20 'test -S "$(tail -n 1 redis-spawned | cut -d" " -f2)/redis.sock"' ||
    fail "private redis-server did not come up"
  RP=$(tail -n 1 redis-spawned | cut -d' ' -f1)
  RDIR=$(tail -n 1 redis-spawned | cut -d' ' -f2)
}

# gone LABEL: the private redis-server started last is stopped and its temp
# dir removed.
gone() {
  RP=$(tail -n 1 redis-spawned | cut -d' ' -f1)
  RDIR=$(tail -n 1 redis-spawned | cut -d' ' -f2)
  alive "$RP" && fail "$1: private redis-server $RP left running"
  [ -d "$RDIR" ] && fail "$1: $RDIR left behind"
  return 0
}

"$PACER" run ok.jsonl --out out.jsonl >run.out 2>run.log || fail "run exit $?"
[ "$(wc -l <out.jsonl)" -eq 200 ] || fail "expected 200 result lines"
[ "$(jq -r .state out.jsonl | sort | uniq -c | awk '{print $1, $2}')" = "200 ok" ] ||
  fail "not all ok"
[ "$(jq -r .id out.jsonl | sort -u | wc -l)" -eq 200 ] || fail "ids not unique"
[ "$(jq -r 'select(.id=="run-007") | .status == 200 and .body_json.ok' out.jsonl)" = true ] ||
  fail "result body missing"
grep -q '^done: 200 jobs, ok 200, failed 0' run.out || fail "no summary line"
gone "run"

# A failing job and a rejected line: exit 1, reported in the summary.
{ head -5 ok.jsonl | sed 's/run-/again-/'
  printf '{"id":"gone","url":"%s/status/404"}\n' "$TESTAPI_URL"
  printf '{"id":"nope","url":"ftp://example/"}\n'; } >mixed.jsonl
"$PACER" run mixed.jsonl --out mixed.out >mixed.sum 2>mixed.log && fail "run should fail"
grep -q 'mixed.jsonl:7: url: scheme "ftp" is not allowed' mixed.log || fail "reject not reported"
grep -q '^done: 6 jobs, ok 5, failed 1' mixed.sum || fail "wrong summary"
[ "$(jq -r 'select(.id=="gone") | .state == "failed" and .reason == "http_404"' mixed.out)" = true ] ||
  fail "404 not recorded"

# --out is opened before anything runs: a bad path fails at once, with the
# reason in words, and nothing is queued.
"$PACER" run ok.jsonl --out "$TEST_TMP/no-such-dir/out.jsonl" >bad-out.sum 2>bad-out.log &&
  fail "run with an unwritable --out should fail"
grep -q 'run: --out .*/no-such-dir/out.jsonl: cannot write: No such file or directory' bad-out.log ||
  fail "unwritable --out not explained"
grep -q 'queued' bad-out.log && fail "jobs were queued before --out was checked"

# Without redis-server on PATH: exactly one message, exit 2.
PATH=/nonexistent "$PACER" run ok.jsonl --out noredis.out >noredis.sum 2>noredis.log &&
  fail "run without redis-server should fail"
[ "$(wc -l <noredis.log)" -eq 1 ] || fail "want one message without redis-server"
grep -q 'redis-server: it is not installed' noredis.log || fail "no install hint"

# Results are valid UTF-8 JSON whatever bytes the upstream sent: ill-formed
# bytes, NUL bytes (4 zero bytes from /gzip-bomb) and a body cut inside a
# character by result_body_max_bytes all become U+FFFD.
printf '[{"path":"/bytes","status":200,"times":10,"body":"ok \xff\xfe caf\xc3\xa9 \xe2\x82"},
  {"path":"/cut","status":200,"times":10,"body":"\xc3\xa9\xc3\xa9\xc3\xa9"}]' |
  curl -fsS -X POST --data-binary @- "$TESTAPI_URL/admin/script" >/dev/null ||
  fail "cannot script the upstream"
{ printf '{"id":"u-bad","url":"%s/bytes"}\n' "$TESTAPI_URL"
  printf '{"id":"u-nul","url":"%s/gzip-bomb?bytes=4"}\n' "$TESTAPI_URL"; } >utf8.jsonl
"$PACER" run utf8.jsonl --out utf8.out >utf8.sum 2>utf8.log || fail "utf8 run exit $?"
iconv -f UTF-8 -t UTF-8 utf8.out >/dev/null 2>&1 || fail "results are not valid UTF-8"
[ "$(jq -r 'select(.id=="u-bad") | .body == "ok \ufffd\ufffd caf\u00e9 \ufffd"' utf8.out)" = true ] ||
  fail "ill-formed bytes not replaced: $(jq -c 'select(.id=="u-bad") | .body' utf8.out)"
[ "$(jq -r 'select(.id=="u-nul") | .body == "\ufffd\ufffd\ufffd\ufffd"' utf8.out)" = true ] ||
  fail "NUL bytes not kept as U+FFFD: $(jq -c 'select(.id=="u-nul") | .body' utf8.out)"
echo '{"result_body_max_bytes": 5}' >cut.json
printf '{"id":"u-cut","url":"%s/cut"}\n' "$TESTAPI_URL" >cut.jsonl
"$PACER" run cut.jsonl --config cut.json --out cut.out >cut.sum 2>cut.log || fail "cut run exit $?"
iconv -f UTF-8 -t UTF-8 cut.out >/dev/null 2>&1 || fail "cut result is not valid UTF-8"
jq -e '.body | startswith("\u00e9\u00e9")' cut.out >/dev/null || fail "cut body: $(cat cut.out)"

for i in 1 2 3 4 5; do
  printf '{"id":"slow-%d","url":"%s/slow?ms=1500"}\n' "$i" "$TESTAPI_URL"
done >slow.jsonl

# Ctrl-C at a terminal signals the whole process group. The private
# redis-server has a session of its own, so it survives, the in-flight
# requests finish and their results are exported; then pacer stops it.
setsid "$PACER" run slow.jsonl --out ctrlc.out >ctrlc.sum 2>ctrlc.log &
PID=$!
PIDS+=("$PID")
last_redis
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 5' || fail "slow jobs not in flight"
kill -INT -- "-$(ps -o pgid= -p "$PID" | tr -d ' ')"
wait "$PID"; rc=$?
[ "$rc" -eq 130 ] || fail "Ctrl-C: exit $rc, want 130"
[ "$(jq -r .state ctrlc.out | grep -c '^ok$')" -eq 5 ] ||
  fail "Ctrl-C: in-flight results lost: $(wc -l <ctrlc.out) lines"
gone "Ctrl-C"

# A second SIGINT exits at once, and still stops redis-server and removes
# its socket, log and temp dir.
"$PACER" run slow.jsonl --out twice.out >twice.sum 2>twice.log &
PID=$!
PIDS+=("$PID")
last_redis
# pacer's own handlers are up once the requests are out (a background job
# of a script starts with SIGINT ignored)
wait_until 20 'test "$(testapi_stat .in_flight)" -ge 5' || fail "slow jobs not in flight"
kill -INT "$PID"
wait_until 5 'grep -q "interrupted" twice.log' || fail "first SIGINT not seen"
kill -INT "$PID"
wait "$PID"; rc=$?
[ "$rc" -eq 130 ] || fail "second SIGINT: exit $rc, want 130"
gone "second SIGINT"
# The summary says what the limits did: requests per limit
# bucket against its limit, 429s, token refreshes, failures by reason. An
# upstream like scripts/demo's: tokens that live 2 s, a per-account limit
# above pacer's; two scripted 429s with Retry-After; one 404.
start_testapi --require-auth --rate 20/s --token-rate 50/s --token-ttl 2s
curl -fsS -X POST "$TESTAPI_URL/admin/script" -d '[{"path":
  "/v1/adaccounts/act_1/campaigns", "status": 429, "times": 2,
  "headers": {"Retry-After": "1"}}]' >/dev/null || fail "cannot script the upstream"
printf '%s\n' '{"limits": [{"name": "app", "key": "credential", "rate": "30/s"},' \
  '  {"name": "acct", "key": "limit_key", "rate": "10/s"}],' \
  ' "credentials": {"t": {"token_url": "'"$TESTAPI_URL"'/oauth2/access_token",' \
  '   "client_id": "c", "refresh_token_env": "PACER_TEST_RUN_RT",' \
  '   "refresh_skew_s": 1, "hosts": ["127.0.0.1"]}}}' >lim.json
for i in $(seq 1 90); do
  printf '{"id":"lim-%02d","method":"PUT","url":"%s/v1/adaccounts/act_%d/campaigns","limit_key":"act_%d","credential":"t","body":{"n":%d}}\n' \
    "$i" "$TESTAPI_URL" $((i % 3)) $((i % 3)) "$i"
done >lim.jsonl
printf '{"id":"lim-404","url":"%s/status/404","limit_key":"act_0","credential":"t"}\n' \
  "$TESTAPI_URL" >>lim.jsonl
PACER_TEST_RUN_RT=RT-0 "$PACER" run lim.jsonl --config lim.json --out lim.out \
  >lim.sum 2>lim.log && fail "limits run: want exit 1 (one 404)"
grep -q '^done: 91 jobs, ok 90, failed 1' lim.sum || fail "limits run: $(cat lim.sum lim.log)"
up429=$(testapi_stat .status_429)
posts=$(testapi_stat .token_posts)
[ "$up429" -ge 2 ] || fail "limits run: the upstream sent $up429 429s, want the 2 scripted"
grep -q "^429s: $up429 " lim.sum ||
  fail "limits run: want '429s: $up429' (the upstream's count): $(cat lim.sum)"
# Every send is counted on both of its buckets: 91 jobs and each 429.
app=$(awk '$1 == "app" && $2 == "app:t" { print $3 }' lim.sum)
[ "$app" = $((91 + up429)) ] ||
  fail "limits run: app:t shows '$app' requests, want $((91 + up429)): $(cat lim.sum)"
awk '$1 == "app" && $2 == "app:t" { exit !($6 == 30.0) }' lim.sum ||
  fail "limits run: app:t limit is not 30/s: $(cat lim.sum)"
for a in 0 1 2; do
  grep -qE "^  acct +acct:act_$a +[0-9]+ +[0-9.]+ +[0-9.]+ +10\.0 " lim.sum ||
    fail "limits run: no acct:act_$a row at 10/s: $(cat lim.sum)"
done
acct1_429=$(awk '$2 == "acct:act_1" { print $7 }' lim.sum)
[ "${acct1_429:-0}" -ge 2 ] || fail "limits run: the scripted 429s are not on acct:act_1: $(cat lim.sum)"
# The run takes 3 s or more (30 jobs at 10/s per account) and tokens
# live 2 s: at least one refresh, and the count is the upstream's.
[ "$posts" -ge 2 ] || fail "limits run: $posts token requests, want a refresh"
grep -qF "credential t: $((posts - 1)) refresh(es) ($posts token(s) fetched in all), 0 failed, 0 refused" lim.sum ||
  fail "limits run: refreshes do not match the upstream's $posts token requests: $(cat lim.sum)"
grep -q '^failed by reason: http_404 1$' lim.sum || fail "limits run: no failure by reason: $(cat lim.sum)"
grep -q '^retries after errors: 0$' lim.sum || fail "limits run: retries line: $(cat lim.sum)"

pass "run: 200 ok; mixed batch exits 1 with the failure and the reject reported; --out checked first; UTF-8 results; Ctrl-C and a second SIGINT stop the private Redis; the summary shows limits, 429s, refreshes and failures by reason"
