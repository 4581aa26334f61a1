#!/usr/bin/env bash
# Metrics endpoint (docs/METRICS.md): a throttled batch against an upstream
# that answers 429, scraped while it runs and after it finished.
#  A. /metrics passes `promtool check metrics` (Debian's prometheus
#     package) mid-batch and at the end; /api/state shows the lanes with
#     their wait reason while jobs wait.
#  B. the counters are the real figures: pacer_jobs_total{state} equals
#     the results in Redis; requests by class and 429s equal what the
#     upstream counted; the latency histogram counts every request; the
#     per-bucket counters add up.
#  C. dead letters show with their reason, and a secret header value
#     reaches neither /metrics nor /api/state.
#  D. a non-loopback bind without a token is refused with a clear error;
#     with a token every request needs it (401 otherwise), unknown paths
#     are 404, other methods 405; a token file others may read is refused.
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null ||
  fail "promtool not installed: apt-get install -y prometheus (scripts/deps.sh)"

SECRET="sk-metrics-$$-do-not-leak"
murl() { echo "http://127.0.0.1:$MPORT$1"; }
metrics_port() { # LOGNAME -> the port the worker logged
  sed -n 's/.*metrics_port=\([1-9][0-9]*\).*/\1/p' "$TEST_TMP/$1.log" | head -1
}
scrape() { curl -fsS "$(murl /metrics)"; }
state() { curl -fsS "$(murl /api/state)"; }
# metric 'NAME{LABELS}': the sample's value in the last scrape (exact match).
metric() {
  awk -v s="$1" '$1 == s { v = $2 } END { print v }' "$TEST_TMP/scrape.txt"
}
# metric_sum NAME: the sum of every sample of NAME.
metric_sum() {
  awk -v n="$1" 'index($1, n "{") == 1 || $1 == n { t += $2 } END { print t + 0 }' \
    "$TEST_TMP/scrape.txt"
}
promcheck() { # FILE
  promtool check metrics <"$1" >"$TEST_TMP/promtool.out" 2>&1 ||
    fail "promtool check metrics: $(cat "$TEST_TMP/promtool.out")"
}

# ---- the throttled batch: pacer at twice the upstream's 20/s per account
start_testapi --rate 20/s --retry-after 1
write_config "$TEST_TMP/pacer.json" '"concurrency": 32,
  "metrics_listen": "127.0.0.1:0",
  "limits": [{"name": "acct", "key": "limit_key", "rate": "40/s"}]'
for a in m1 m2; do
  for i in $(seq 1 100); do
    printf '{"id":"M-%s-%03d","method":"PUT","url":"%s/v1/adaccounts/%s/campaigns","limit_key":"%s","body":{"n":%d}}\n' \
      "$a" "$i" "$TESTAPI_URL" "$a" "$a" "$i"
  done
done >"$TEST_TMP/jobs.jsonl"
for i in 1 2 3 4 5; do # dead letters: 404, with a secret header
  printf '{"id":"DL-%d","url":"%s/status/404","limit_key":"dl","headers":{"X-Api-Key":"%s"}}\n' \
    "$i" "$TESTAPI_URL" "$SECRET"
done >>"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  2>/dev/null || fail "submit"
start_worker "$TEST_TMP/pacer.json" wk
wait_until 15 'test -n "$(metrics_port wk)"' || fail "no metrics_port in the log"
MPORT=$(metrics_port wk)

# ---- A: mid-batch
lane_waits() {
  state | jq -e '.lanes[] | select(.lane == "acct:m1" and .queued > 0 and
    (.why | length) > 0 and .wait != "idle")' >/dev/null
}
wait_until 20 lane_waits || fail "A: /api/state never showed lane acct:m1 waiting: $(state)"
state | jq -c '.lanes[] | select(.lane == "acct:m1") | {wait, why, queued}'
scrape >"$TEST_TMP/mid.txt" || fail "A: scrape"
promcheck "$TEST_TMP/mid.txt"
curl -fsS -D "$TEST_TMP/h.txt" -o /dev/null "$(murl /metrics)"
grep -qi '^content-type: text/plain; version=0.0.4' "$TEST_TMP/h.txt" ||
  fail "A: /metrics content type: $(cat "$TEST_TMP/h.txt")"

wait_until 90 'test "$(results_count)" -ge 205' || fail "$(results_count)/205 results"
nok=$(stream_field results state | grep -cx ok)
nfailed=$(stream_field results state | grep -cx failed)
[ "$nok" -eq 200 ] && [ "$nfailed" -eq 5 ] || fail "results: $nok ok, $nfailed failed"

# ---- B: the counters hold the real figures (the snapshot lags <= 1 s)
settled() {
  scrape >"$TEST_TMP/scrape.txt" &&
    [ "$(metric 'pacer_jobs_total{state="ok"}')" = "$nok" ] &&
    [ "$(metric 'pacer_jobs_total{state="failed"}')" = "$nfailed" ] &&
    [ "$(metric pacer_jobs_held)" = 0 ]
}
wait_until 10 settled || fail "B: counters never settled: $(grep -E '^pacer_jobs' "$TEST_TMP/scrape.txt")"
promcheck "$TEST_TMP/scrape.txt"
up200=$(testapi_stat '.by_status["200"] // 0')
up429=$(testapi_stat '.status_429')
up404=$(testapi_stat '.by_status["404"] // 0')
[ "$up429" -gt 0 ] || fail "B: the upstream sent no 429: nothing was throttled"
[ "$(metric 'pacer_requests_total{class="2xx"}')" = "$up200" ] ||
  fail "B: 2xx $(metric 'pacer_requests_total{class="2xx"}'), upstream sent $up200"
[ "$(metric 'pacer_requests_total{class="4xx"}')" = "$((up429 + up404))" ] ||
  fail "B: 4xx $(metric 'pacer_requests_total{class="4xx"}'), upstream sent $up429 429s + $up404 404s"
[ "$(metric pacer_throttled_total)" = "$up429" ] ||
  fail "B: pacer_throttled_total $(metric pacer_throttled_total), upstream sent $up429"
[ "$(metric_sum pacer_bucket_throttled_total)" = "$up429" ] ||
  fail "B: per-bucket 429s add up to $(metric_sum pacer_bucket_throttled_total), not $up429"
total=$((up200 + up429 + up404))
[ "$(metric pacer_request_duration_seconds_count)" = "$total" ] ||
  fail "B: latency histogram counted $(metric pacer_request_duration_seconds_count) of $total"
[ "$(metric 'pacer_request_duration_seconds_bucket{le="+Inf"}')" = "$total" ] ||
  fail "B: +Inf bucket is not the count"
[ "$(metric_sum pacer_bucket_requests_total)" = "$total" ] ||
  fail "B: per-bucket requests add up to $(metric_sum pacer_bucket_requests_total), not $total"
[ "$(metric 'pacer_bucket_rate_limit{limit="acct",bucket="acct:m1"}')" = 40 ] ||
  fail "B: configured rate of acct:m1"
[ "$(metric 'pacer_bucket_pauses_total{limit="acct",bucket="acct:m1",cause="retry_after"}')" -ge 1 ] ||
  fail "B: no Retry-After pause counted on acct:m1"
[ "$(metric 'pacer_queue_stream_entries{stream="normal"}')" = 0 ] ||
  fail "B: normal stream not drained"
[ "$(metric 'pacer_queue_dead_entries')" = 5 ] || fail "B: dead entries"
[ "$(metric 'pacer_redis_command_duration_seconds_count')" -gt 205 ] ||
  fail "B: Redis round trips not counted"
[ "$(metric 'pacer_redis_connected{conn="command"}')" = 1 ] || fail "B: redis_connected"
echo "B: $nok ok, $nfailed failed; $up200 2xx, $up429 429s, $up404 404s at the upstream, all counted"

# ---- C: dead letters and secrets
state >"$TEST_TMP/state.json" || fail "C: /api/state"
jq -e '[.dead_letters[] | select(.reason == "http_404" and .status == 404 and
  (.id | startswith("DL-")))] | length == 5' "$TEST_TMP/state.json" >/dev/null ||
  fail "C: dead letters: $(jq -c .dead_letters "$TEST_TMP/state.json")"
jq -e '.process.jobs.ok == 200 and .queue.valid and
  ([.buckets[] | select(.bucket == "acct:m1" and .rate_per_s == 40 and
     .requests > 0 and .throttled > 0)] | length == 1)' "$TEST_TMP/state.json" \
  >/dev/null || fail "C: /api/state: $(jq -c '{process, buckets}' "$TEST_TMP/state.json")"
grep -q -- "$SECRET" "$TEST_TMP/state.json" "$TEST_TMP/scrape.txt" "$TEST_TMP/mid.txt" &&
  fail "C: a secret header value reached the metrics endpoint"
echo "C: 5 dead letters with reasons, no secret"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "worker did not stop"

# ---- D: binding beyond loopback
write_config "$TEST_TMP/open.json" '"metrics_listen": "0.0.0.0:0"'
rc=0
timeout 20 "$PACER" worker --config "$TEST_TMP/open.json" >/dev/null \
  2>"$TEST_TMP/open.log" || rc=$?
[ "$rc" -eq 2 ] || fail "D: a 0.0.0.0 bind without a token exited $rc, want 2"
grep -q 'not a loopback address' "$TEST_TMP/open.log" ||
  fail "D: unclear refusal: $(cat "$TEST_TMP/open.log")"
# A port above 65535 is refused by name, not bound modulo 65536.
rc=0
timeout 20 "$PACER" worker --config "$TEST_TMP/open.json" \
  --metrics 127.0.0.1:99999 >/dev/null 2>"$TEST_TMP/port.log" || rc=$?
[ "$rc" -eq 2 ] && grep -qF 'port 99999 is out of range' "$TEST_TMP/port.log" ||
  fail "D: --metrics 127.0.0.1:99999 exited $rc: $(cat "$TEST_TMP/port.log")"
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$token" >"$TEST_TMP/token"
chmod 644 "$TEST_TMP/token"
rc=0
timeout 20 "$PACER" worker --config "$TEST_TMP/open.json" \
  --metrics-token-file "$TEST_TMP/token" >/dev/null 2>"$TEST_TMP/open2.log" || rc=$?
[ "$rc" -eq 2 ] && grep -q 'chmod 600' "$TEST_TMP/open2.log" ||
  fail "D: a readable token file was accepted ($rc): $(cat "$TEST_TMP/open2.log")"
grep -q "$token" "$TEST_TMP/open2.log" && fail "D: the token reached the log"
chmod 600 "$TEST_TMP/token"
"$PACER" worker --config "$TEST_TMP/open.json" --metrics-token-file "$TEST_TMP/token" \
  >/dev/null 2>"$TEST_TMP/wa.log" &
WORKER_PID=$!
PIDS+=("$WORKER_PID")
wait_until 15 'test -n "$(metrics_port wa)"' || fail "D: worker with a token did not listen"
MPORT=$(metrics_port wa)
code() { # ARGS... -> HTTP status
  curl -s -o /dev/null -w '%{http_code}' "$@"
}
wait_until 10 'test "$(code -H "Authorization: Bearer $token" "$(murl /metrics)")" = 200' ||
  fail "D: no snapshot with the right token"
[ "$(code "$(murl /metrics)")" = 401 ] || fail "D: /metrics without a token"
[ "$(code "$(murl /api/state)")" = 401 ] || fail "D: /api/state without a token"
[ "$(code "$(murl /)")" = 401 ] || fail "D: / without a token"
[ "$(code "$(murl /nope)")" = 401 ] || fail "D: an unknown path without a token must be 401"
[ "$(code -H "Authorization: Bearer wrong-${token}" "$(murl /metrics)")" = 401 ] ||
  fail "D: a wrong token was accepted"
[ "$(code -H "Authorization: Basic $token" "$(murl /metrics)")" = 401 ] ||
  fail "D: a non-Bearer scheme was accepted"
curl -s -D "$TEST_TMP/h401.txt" -o /dev/null "$(murl /metrics)"
grep -qi '^www-authenticate: Bearer' "$TEST_TMP/h401.txt" || fail "D: no WWW-Authenticate"
auth=(-H "Authorization: bearer $token")
[ "$(code "${auth[@]}" "$(murl /api/state)")" = 200 ] || fail "D: /api/state with the token"
[ "$(code "${auth[@]}" "$(murl /)")" = 200 ] || fail "D: / with the token"
[ "$(code "${auth[@]}" "$(murl /nope)")" = 404 ] || fail "D: unknown path is not 404"
[ "$(code "${auth[@]}" -X POST "$(murl /metrics)")" = 405 ] || fail "D: POST is not 405"
grep -q "$token" "$TEST_TMP/wa.log" && fail "D: the token reached the log"
kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "D: worker did not stop"
echo "D: 0.0.0.0 refused without a token; 401 without it, 404/405 with it"

pass "promtool-clean metrics with real figures, lanes, dead letters, bearer auth"
