#!/usr/bin/env bash
# Rate-limit engine against pacer-testapi's own sliding-window limiter:
#  A. pacer at the upstream's 50/s per account, 3,000 jobs over 3 accounts:
#     at most 1 429 per 1,000 requests (the promise docs/LIMITS.md makes at
#     an exact limit; a loaded 2-core machine now and then wakes a sender a
#     few ms late) and each account served at >= 95% of 50/s.
#  B. fairness: account A's 5,000-job backlog does not hold up account B's
#     50 jobs beyond what B's own limit implies.
#  C. pacer misconfigured at 100/s against a 50/s upstream: every job
#     succeeds, 429s stay under 5% of requests, and no request reaches a
#     paused account while its Retry-After pause lasts.
#  D. 4 worker processes sharing one 100/s limit: no sliding 1 s window at
#     the upstream holds more than 100 requests.
#  E. stacked limits, 20/s per app and 10/s per token over 3 tokens:
#     neither is exceeded.
#  F. retry storm: 200 jobs, a burst of 200 allowed, and the upstream
#     answers everything 429 with Retry-After: 30 for 0.5 s; after the
#     pause the key resumes at its pace, not in a burst.
#  H. a junk Retry-After means backoff (>= 1 s), not "retry now"; the 429
#     count survives pauses spent in the delayed set (its cap holds).
#  G. max_in_flight shared by 2 processes: the upstream never sees more
#     than 4 requests at once on the capped key.
. "$(dirname "$0")/lib.sh"

acct_cfg() { # RATE -> a per-account limit keyed on the job's limit_key
  write_config "$TEST_TMP/pacer.json" \
    "\"concurrency\": 64, \"limits\": [{\"name\": \"acct\", \"key\": \"limit_key\", \"rate\": \"$1\"}]"
}
jobs_for() { # ACCOUNT N PREFIX
  for i in $(seq 1 "$2"); do
    printf '{"id":"%s-%s-%04d","method":"PUT","url":"%s/v1/adaccounts/%s/campaigns","limit_key":"%s","body":{"n":%d}}\n' \
      "$3" "$1" "$i" "$TESTAPI_URL" "$1" "$1" "$i"
  done
}
# rate_of ACCOUNT: requests/s between the account's first and last request
# at the upstream (its own request log).
rate_of() {
  curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" |
    jq -r --arg a "$1" '[.requests[] | select(.account == $a) | .t_ms] |
      if length < 2 then 0 else ((length - 1) * 1000 / (max - min)) end'
}
stop_workers() {
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do wait_until 30 '! alive '"$p" || fail "worker $p did not stop"; done
}

# ---- A: exact rate, at most 1 429 per 1,000 requests
start_testapi --rate 50/s --retry-after 1
acct_cfg 50/s
{ jobs_for a1 1000 A; jobs_for a2 1000 A; jobs_for a3 1000 A; } >"$TEST_TMP/a.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/a.jsonl" 2>/dev/null || fail "submit A"
start_worker "$TEST_TMP/pacer.json" wa
wait_until 90 'test "$(results_count)" -ge 3000' || fail "A: $(results_count)/3000 results"
a429=$(testapi_stat .status_429)
[ "$a429" -le 3 ] || fail "A: $a429 429s in 3,000 requests at the exact limit (want <= 3)"
for a in a1 a2 a3; do
  r=$(rate_of $a)
  awk -v r="$r" 'BEGIN { exit !(r >= 47.5 && r <= 50.5) }' ||
    fail "A: account $a served at $r/s, want 47.5..50.5"
done
echo "A: rates $(rate_of a1) $(rate_of a2) $(rate_of a3) /s, $a429 429s in 3,000 requests"
stop_workers "$WORKER_PID"

# ---- B: fairness
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
jobs_for big 5000 B >"$TEST_TMP/b.jsonl"
jobs_for small 50 B >>"$TEST_TMP/b.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/b.jsonl" 2>/dev/null || fail "submit B"
t0=$(now_ms)
start_worker "$TEST_TMP/pacer.json" wb
small_done() { stream_field results id | grep -c "^B-small-"; }
wait_until 30 'test "$(small_done)" -ge 50' ||
  fail "B: small account unfinished: $(small_done)/50"
tb=$(( $(now_ms) - t0 ))
# 50 jobs at 50/s take 1 s; allow start-up and one deferral round.
[ "$tb" -le 5000 ] || fail "B: small account took $tb ms behind a 5,000-job backlog"
big_done=$(stream_field results id | grep -c "^B-big-")
[ "$big_done" -lt 1000 ] || fail "B: $big_done backlog jobs went first"
[ "$(testapi_stat .status_429)" -eq 0 ] || fail "B: 429s seen"
echo "B: small account's 50 jobs done in $tb ms while big had $big_done/5000"
# pacer stats --json shows the backlog per bucket (docs/LIMITS.md): configured
# rate, and jobs queued in the lane or deferred to the delayed set.
big_stats() {
  "$PACER" stats --json --config "$TEST_TMP/pacer.json" |
    jq -e '.limits[] | select(.bucket == "acct:big") |
      .rate_per_s == 50 and .effective_rate_per_s == 50 and
      (.queued + .deferred) > 0' >/dev/null
}
wait_until 10 big_stats || fail "B: stats --json: $("$PACER" stats --json --config "$TEST_TMP/pacer.json")"
stop_workers "$WORKER_PID"
# The rest of the backlog is not needed: drop it before the next phase.
rcli DEL "${PREFIX}jobs" "${PREFIX}jobs:high" "${PREFIX}jobs:low" \
  "${PREFIX}delayed" >/dev/null

# ---- C: misconfigured at 2x the upstream limit
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
acct_cfg 100/s
jobs_for c1 300 C >"$TEST_TMP/c.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/c.jsonl" 2>/dev/null || fail "submit C"
start_worker "$TEST_TMP/pacer.json" wc
wait_until 90 'test "$(results_count)" -ge 300' || fail "C: $(results_count)/300"
[ "$(stream_field results state | grep -cx ok)" -eq 300 ] || fail "C: not all ok"
n429=$(testapi_stat .status_429); total=$(testapi_stat .requests)
[ "$n429" -ge 1 ] || fail "C: no 429 at twice the limit?"
[ $(( n429 * 100 )) -le $(( total * 5 )) ] || fail "C: $n429 429s of $total requests (> 5%)"
# No admitted request on the account while a Retry-After: 1 pause lasted
# (50 ms after the 429 for requests already on the wire).
bad=$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" | jq '
  [.requests[] | select(.account == "c1")] as $r |
  [$r[] | select(.status == 429) | .t_ms] as $p |
  [$r[] | .t_ms as $t | select(any($p[]; $t > . + 50 and $t < . + 950))] | length')
[ "$bad" -eq 0 ] || fail "C: $bad requests reached the account during a pause"
"$PACER" stats --config "$TEST_TMP/pacer.json" >"$TEST_TMP/stats.txt" || fail "C: stats"
grep -E '^  acct:c1 +[0-9.]+ ' "$TEST_TMP/stats.txt" >/dev/null ||
  fail "C: pacer stats does not show the acct:c1 bucket"
echo "C: $n429 429s of $total requests, none during a pause"
stop_workers "$WORKER_PID"

# ---- D: four processes share one limit
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
write_config "$TEST_TMP/pacer.json" \
  '"concurrency": 32, "limits": [{"name": "app", "key": "global", "rate": "100/s"}]'
for a in d1 d2 d3 d4; do jobs_for $a 100 D; done >"$TEST_TMP/d.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/d.jsonl" 2>/dev/null || fail "submit D"
pids=()
for w in 1 2 3 4; do start_worker "$TEST_TMP/pacer.json" wd$w; pids+=("$WORKER_PID"); done
wait_until 60 'test "$(results_count)" -ge 400' || fail "D: $(results_count)/400"
maxw=$(testapi_stat .max_per_1s)
[ "$maxw" -le 100 ] || fail "D: $maxw requests in one sliding second across 4 processes"
[ "$maxw" -ge 50 ] || fail "D: only $maxw per second: the limit is not used"
echo "D: max $maxw requests in any 1 s window across 4 processes"
stop_workers "${pids[@]}"

# ---- E: stacked limits (one ads API: 20/s per app AND 10/s per token)
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
write_config "$TEST_TMP/pacer.json" '"concurrency": 32, "limits": [
  {"name": "app", "key": "global", "rate": "20/s"},
  {"name": "token", "key": "header:Authorization", "rate": "10/s"}]'
for t in 1 2 3; do
  for i in $(seq 1 30); do
    printf '{"id":"E-%d-%02d","url":"%s/v1/campaigns/%d/stats?account=e","headers":{"Authorization":"Bearer AT-%d"}}\n' \
      "$t" "$i" "$TESTAPI_URL" "$i" "$t"
  done
done >"$TEST_TMP/e.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/e.jsonl" 2>/dev/null || fail "submit E"
start_worker "$TEST_TMP/pacer.json" we
wait_until 60 'test "$(results_count)" -ge 90' || fail "E: $(results_count)/90"
app=$(testapi_stat .max_per_1s); tok=$(testapi_stat .max_per_1s_token)
[ "$app" -le 20 ] || fail "E: $app requests in one second, app limit 20/s"
[ "$tok" -le 10 ] || fail "E: $tok requests in one second for one token, limit 10/s"
[ "$app" -ge 15 ] || fail "E: only $app/s: the app limit is not used"
# The per-token bucket key never holds the token itself.
rcli --scan --pattern "${PREFIX}limit:*" >"$TEST_TMP/keys.txt"
grep -q 'AT-' "$TEST_TMP/keys.txt" && fail "E: a token reached a Redis key name"
echo "E: max $app/s for the app, $tok/s for one token"
stop_workers "$WORKER_PID"

# ---- F: retry storm
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
write_config "$TEST_TMP/pacer.json" \
  '"concurrency": 256, "limits": [{"name": "acct", "key": "limit_key", "rate": "20/s", "burst": 200}]'
curl -fsS -X POST "$TESTAPI_URL/admin/script" -d \
  '[{"path":"/v1/adaccounts/storm/campaigns","status":429,"for_ms":500,"headers":{"Retry-After":"30"}}]' >/dev/null
jobs_for storm 200 F >"$TEST_TMP/f.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/f.jsonl" 2>/dev/null || fail "submit F"
start_worker "$TEST_TMP/pacer.json" wf
wait_until 90 'test "$(results_count)" -ge 200' || fail "F: $(results_count)/200"
[ "$(stream_field results state | grep -cx ok)" -eq 200 ] || fail "F: not all ok"
read -r n429 during after < <(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" | jq -r '
  [.requests[] | select(.account == "storm")] as $r |
  [$r[] | select(.status == 429) | .t_ms] as $p |
  ($p | first) as $p0 | ($p | last) as $p1 |
  "\($p | length) \([$r[] | select(.t_ms > $p1 + 50 and .t_ms < $p0 + 29950)] | length) \([$r[] | select(.t_ms >= $p0 + 29950 and .t_ms < $p0 + 30950)] | length)"')
[ "$n429" -ge 20 ] || fail "F: only $n429 429s: no storm to recover from"
[ "$during" -eq 0 ] || fail "F: $during requests during the 30 s pause"
[ "$after" -le 21 ] || fail "F: $after requests in the first second after the pause (burst)"
[ "$after" -ge 1 ] || fail "F: nothing in the first second after the pause"
[ "$(result_of F-storm-0001 throttled)" -ge 0 ] || fail "F: no throttled field"
echo "F: $n429 429s at once, 0 requests during the 30 s pause, $after in the second after it"
stop_workers "$WORKER_PID"

# ---- G: max_in_flight shared across processes
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
write_config "$TEST_TMP/pacer.json" \
  '"concurrency": 32, "limits": [{"name": "conc", "key": "global", "rate": "1000/s", "max_in_flight": 4}]'
for i in $(seq 1 80); do
  printf '{"id":"G-%02d","url":"%s/slow?ms=100"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/g.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/g.jsonl" 2>/dev/null || fail "submit G"
pids=()
for w in 1 2; do start_worker "$TEST_TMP/pacer.json" wg$w; pids+=("$WORKER_PID"); done
wait_until 60 'test "$(results_count)" -ge 80' || fail "G: $(results_count)/80"
maxc=$(testapi_stat .max_in_flight)
[ "$maxc" -le 4 ] || fail "G: $maxc requests at once across 2 processes, max_in_flight 4"
[ "$maxc" -ge 3 ] || fail "G: only $maxc at once: the cap is not used"
[ "$(stream_field results state | grep -cx ok)" -eq 80 ] || fail "G: not all ok"
left=$(rcli ZCARD "${PREFIX}inflight:conc")
[ "$left" -eq 0 ] || fail "G: $left permits still held after the batch"
echo "G: at most $maxc requests at once across 2 processes (max_in_flight 4)"
stop_workers "${pids[@]}"
# ---- H: junk Retry-After, 429 count across the delayed set
curl -fsS -X POST "$TESTAPI_URL/admin/reset" >/dev/null
rcli DEL "${PREFIX}results" >/dev/null
acct_cfg 10/s
curl -fsS -X POST "$TESTAPI_URL/admin/script" -d '[
  {"path":"/v1/adaccounts/h1/campaigns","status":429,"headers":{"Retry-After":"abc"}},
  {"path":"/v1/adaccounts/h2/campaigns","status":429,"times":2,"headers":{"Retry-After":"3"}}]' >/dev/null
{ jobs_for h1 1 H; jobs_for h2 1 H; } >"$TEST_TMP/h.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/h.jsonl" 2>/dev/null || fail "submit H"
start_worker "$TEST_TMP/pacer.json" wh
wait_until 30 'test "$(results_count)" -ge 2' || fail "H: $(results_count)/2"
gap=$(curl -fsS "$TESTAPI_URL/admin/requests?since=0&limit=4096" | jq '
  [.requests[] | select(.account == "h1") | .t_ms] | .[1] - .[0]')
[ "$gap" -ge 900 ] || fail "H: a junk Retry-After was retried after $gap ms, want backoff >= 1 s"
[ "$(result_of H-h2-0001 state)" = ok ] || fail "H: h2 ended $(result_of H-h2-0001 state)"
[ "$(result_of H-h2-0001 throttled)" -eq 2 ] ||
  fail "H: h2 met 2 429s through the delayed set, result says $(result_of H-h2-0001 throttled)"
[ "$(result_of H-h2-0001 attempts)" -eq 1 ] || fail "H: 429s spent attempts"
echo "H: junk Retry-After waited $gap ms; 2 429s counted across the delayed set"
stop_workers "$WORKER_PID"
pass "rate limits: exact, fair, paused on 429, shared, stacked, no burst after a pause, in-flight capped"
