#!/usr/bin/env bash
# HTTP/2 GOAWAY and REFUSED_STREAM retries, bounded (docs/WORKERS.md), end
# to end through `pacer worker` against pacer-testapi-h2 (cleartext HTTP/2,
# "http_version": "2-prior-knowledge"):
#  A. GOAWAY: each connection ends with GOAWAY after 10 streams, and every
#     other connection refuses its first stream with GOAWAY(last_stream_id
#     = 0). 200 jobs, GET and POST without Idempotency-Key, concurrency
#     100: all 200 succeed with one attempt, and the upstream processed
#     exactly one request per job.
#  B. REFUSED_STREAM on every stream: each job ends failed "refused_stream"
#     after max_attempts, the upstream saw a bounded number of streams (no
#     spin), and the worker stays up.
# libcurl 7.88 gives each cleartext HTTP/2 request its own connection
# (docs/WORKERS.md "HTTP/2"), so streams here are not multiplexed.
. "$(dirname "$0")/lib.sh"

[ -n "${TESTAPI_H2:-}" ] && [ -x "$TESTAPI_H2" ] ||
  fail "TESTAPI_H2 must name the pacer-testapi-h2 binary"

# start_h2 NAME [ARGS...]: starts pacer-testapi-h2 on a free port with its
# request log in $TEST_TMP/NAME.jsonl; sets H2_PID and H2_URL.
start_h2() {
  local name=$1 out="$TEST_TMP/$1.out"
  shift
  "$TESTAPI_H2" --port 0 --log "$TEST_TMP/$name.jsonl" "$@" >"$out" \
    2>"$TEST_TMP/$name.log" &
  H2_PID=$!
  PIDS+=($H2_PID)
  wait_until 10 'grep -q "^listening port=" "$out"' ||
    fail "pacer-testapi-h2 did not start"
  H2_URL="http://127.0.0.1:$(sed -n 's/^listening port=\([0-9]*\).*/\1/p' "$out" | head -1)"
}
h2_stat() { # JQ_PATH: a value from the h2 upstream's GET /stats
  curl -fsS --http2-prior-knowledge "$H2_URL/stats" | jq -r "$1"
}
stop_worker() {
  kill -TERM "$WORKER_PID"
  wait_until 30 '! alive "$WORKER_PID"' || fail "worker did not exit on SIGTERM"
  wait "$WORKER_PID" || fail "worker exit status $? after SIGTERM"
}
# jobs N PREFIX URL [EXTRA_JSON]: N jobs, odd ones GET, even ones POST with
# a body and no Idempotency-Key, each with its own path.
jobs() {
  local i
  for i in $(seq 1 "$1"); do
    if [ $((i % 2)) -eq 0 ]; then
      printf '{"id":"%s-%03d","method":"POST","url":"%s/r/%s-%03d","body":{"n":%d},"http_version":"2-prior-knowledge"%s}\n' \
        "$2" "$i" "$3" "$2" "$i" "$i" "${4:-}"
    else
      printf '{"id":"%s-%03d","url":"%s/r/%s-%03d","http_version":"2-prior-knowledge"%s}\n' \
        "$2" "$i" "$3" "$2" "$i" "${4:-}"
    fi
  done
}

# The job field is checked and named.
printf '{"id":"bad-version","url":"http://127.0.0.1:1/","http_version":"3"}\n' \
  >"$TEST_TMP/bad.jsonl"

# ---- A. GOAWAY after 10 streams, and GOAWAY(0) on every other connection
start_h2 goaway --goaway-after 10 --goaway-refuse-every 2
write_config "$TEST_TMP/pacer.json" '"concurrency": 100'
jobs 200 ga "$H2_URL" >"$TEST_TMP/a.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/bad.jsonl" \
  2>"$TEST_TMP/submit-bad.log" && fail "submit took a bad http_version"
grep -q 'http_version: must be "1.1", "2" or "2-prior-knowledge"' \
  "$TEST_TMP/submit-bad.log" || fail "submit did not name http_version"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/a.jsonl" \
  2>"$TEST_TMP/submit.log" || fail "submit failed"
# The worker names the field too, for a job that skipped submit.
rcli XADD "${PREFIX}jobs" '*' job "$(cat "$TEST_TMP/bad.jsonl")" >/dev/null
start_worker "$TEST_TMP/pacer.json"
wait_until 120 'test "$(results_count)" -ge 201' ||
  fail "only $(results_count) of 201 results"
[ "$(result_of bad-version reason)" = invalid_job ] || fail "bad http_version accepted"
rcli --raw XRANGE "${PREFIX}dead" - + | grep -q '^http_version: must be "1.1", "2" or "2-prior-knowledge"$' ||
  fail "bad http_version not named in the dead letter"
ok=$(stream_field results state | grep -cx ok)
[ "$ok" -eq 200 ] || fail "A: $ok of 200 jobs ok"
# A refusal costs no attempt, up to 3 in a row (REFUSALS_MAX): an attempt
# beyond the first is only ever a 4th refusal's, logged as such.
paste <(stream_field results id) <(stream_field results attempts) |
  while read -r id n; do
    [ "$n" -le 1 ] && continue
    got=$(grep -c "msg=\"retrying\" job=$id .*reason=refused_stream" "$TEST_TMP/worker.log")
    [ "$got" -eq $((n - 1)) ] || { echo "$id: $n attempts, $got after refusals"; exit 1; }
  done >"$TEST_TMP/attempts.txt" || fail "A: an attempt was spent: $(cat "$TEST_TMP/attempts.txt")"
once=$(paste <(stream_field results id) <(stream_field results attempts) |
  awk '$1 ~ /^ga-/ && $2 == 1' | wc -l)
processed=$(jq -r 'select(.outcome == "processed") | .path' "$TEST_TMP/goaway.jsonl" | sort)
[ "$(printf '%s\n' "$processed" | wc -l)" -eq 200 ] ||
  fail "A: upstream processed $(printf '%s\n' "$processed" | wc -l) requests, want 200"
[ "$(printf '%s\n' "$processed" | uniq | wc -l)" -eq 200 ] ||
  fail "A: a job was processed twice: $(printf '%s\n' "$processed" | uniq -d | head -3)"
[ "$(h2_stat .requests)" -eq 200 ] || fail "A: /stats requests $(h2_stat .requests)"
posts=$(jq -r 'select(.outcome == "processed" and .method == "POST") | .path' \
  "$TEST_TMP/goaway.jsonl" | wc -l)
[ "$posts" -eq 100 ] || fail "A: $posts POSTs processed, want 100"
ignored=$(h2_stat .ignored)
[ "$ignored" -gt 0 ] || fail "A: no stream was refused by GOAWAY: the case did not run"
refusals=$(grep -c 'stream refused, sending again' "$TEST_TMP/worker.log")
stop_worker
echo "A: 200 ok, 200 processed once each, $once in 1 attempt; $ignored streams" \
  "refused by GOAWAY, $refusals re-sent by the scheduler"

# ---- B. every stream refused
start_h2 refuse --refuse-all
PREFIX="t:${TEST_NAME}:$$:b:"
write_config "$TEST_TMP/pacer-b.json" '"concurrency": 10'
jobs 10 rf "$H2_URL" ',"max_attempts":2' >"$TEST_TMP/b.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer-b.json" "$TEST_TMP/b.jsonl" \
  2>"$TEST_TMP/submit-b.log" || fail "submit B failed"
start_worker "$TEST_TMP/pacer-b.json" worker-b
wait_until 120 'test "$(results_count)" -ge 10' ||
  fail "B: only $(results_count) of 10 results"
[ "$(stream_field results state | grep -cx failed)" -eq 10 ] ||
  fail "B: want 10 failed, got: $(stream_field results state | sort | uniq -c)"
[ "$(stream_field results reason | grep -cx refused_stream)" -eq 10 ] ||
  fail "B: reasons: $(stream_field results reason | sort | uniq -c)"
[ "$(stream_field results attempts | grep -cx 2)" -eq 10 ] ||
  fail "B: attempts: $(stream_field results attempts | sort | uniq -c)"
# Per job: 2 attempts, each after at most 3 free re-sends, each of which
# libcurl 7.88 tried 6 times: at most 10 x 2 x 4 x 6 = 480 streams.
refused=$(h2_stat .refused)
[ "$refused" -le 480 ] && [ "$refused" -ge 120 ] ||
  fail "B: upstream refused $refused streams, want 120..480"
[ "$(h2_stat .requests)" -eq 0 ] || fail "B: a refused request was processed"
alive "$WORKER_PID" || fail "B: worker died"
# No spin: nothing more reaches the upstream once every job has ended.
wait_until 2 'test "$(h2_stat .refused)" -gt "$refused"' &&
  fail "B: requests went on after the last result"
stop_worker
pass "GOAWAY: 200 ok, processed once each; refuse-all: 10 failed refused_stream, $refused streams"
