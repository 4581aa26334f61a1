#!/usr/bin/env bash
# Hostile jobs, written straight into the stream as any client could. Each
# is rejected with a reason naming what was wrong, becomes one result
# (invalid_job) and one dead letter, no request reaches the upstream for it,
# and the worker goes on with the good jobs around them.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"concurrency": 16'
start_worker "$TEST_TMP/pacer.json"

U="$TESTAPI_URL"
# hostile ID JOB_JSON EXPECTED_ERROR_SUBSTRING
EXPECT="$TEST_TMP/expect.txt"
: >"$EXPECT"
hostile() {
  rcli XADD "${PREFIX}jobs" '*' job "$2" >/dev/null || fail "XADD $1"
  printf '%s\t%s\n' "$1" "$3" >>"$EXPECT"
}
good() {
  rcli XADD "${PREFIX}jobs" '*' job "{\"id\":\"$1\",\"url\":\"$U/fast\"}" >/dev/null
}

good g-1
hostile scheme-gopher '{"id":"scheme-gopher","url":"gopher://127.0.0.1:70/_x"}' 'url: scheme "gopher" is not allowed'
hostile scheme-file '{"id":"scheme-file","url":"FILE:///etc/passwd"}' 'is not allowed, use http or https'
hostile scheme-dict '{"id":"scheme-dict","url":"dict://127.0.0.1:11211/stat"}' 'is not allowed'
hostile hdr-crlf-value "{\"id\":\"hdr-crlf-value\",\"url\":\"$U/echo\",\"headers\":{\"X-A\":\"v\\r\\nX-Injected: 1\"}}" 'headers'
hostile hdr-crlf-name "{\"id\":\"hdr-crlf-name\",\"url\":\"$U/echo\",\"headers\":{\"X-A\\r\\nX-Injected\":\"1\"}}" 'headers'
hostile hdr-lf-only "{\"id\":\"hdr-lf-only\",\"url\":\"$U/echo\",\"headers\":{\"X-A\":\"v\\nX-Injected: 1\"}}" 'headers'
hostile url-crlf "{\"id\":\"url-crlf\",\"url\":\"$U/echo\\r\\nX-Injected: 1\"}" 'url'
hostile unknown-field "{\"id\":\"unknown-field\",\"url\":\"$U/fast\",\"mehtod\":\"GET\"}" 'mehtod'
hostile bad-method "{\"id\":\"bad-method\",\"url\":\"$U/fast\",\"method\":\"CONNECT\"}" 'method'
# Invalid UTF-8 (a lone continuation byte) inside a string.
bad_utf8=$(printf '{"id":"bad-utf8","url":"%s/fast","meta":"\x80"}' "$U")
hostile bad-utf8 "$bad_utf8" 'UTF-8'
# 200 levels of nesting in meta.
deep=$(printf '[%.0s' $(seq 1 200))$(printf ']%.0s' $(seq 1 200))
hostile deep "{\"id\":\"deep\",\"url\":\"$U/fast\",\"meta\":$deep}" 'nesting deeper than'
good g-2
# A job over job_max_bytes (1 MiB): a 2 MiB body string. Sent with
# redis-cli -x so the shell's argument limit does not matter.
{ printf '{"id":"oversized","url":"%s/echo","method":"POST","body":"' "$U"
  head -c 2097152 /dev/zero | tr '\0' 'a'
  printf '"}'; } >"$TEST_TMP/big.json"
rcli -x XADD "${PREFIX}jobs" '*' job <"$TEST_TMP/big.json" >/dev/null || fail "XADD oversized"
printf '%s\t%s\n' oversized 'exceeds the 1048576-byte limit' >>"$EXPECT"
# A header value of 200 KB (over the header cap) in an otherwise small job.
{ printf '{"id":"huge-header","url":"%s/echo","headers":{"X-Big":"' "$U"
  head -c 204800 /dev/zero | tr '\0' 'h'
  printf '"}}'; } >"$TEST_TMP/hdr.json"
rcli -x XADD "${PREFIX}jobs" '*' job <"$TEST_TMP/hdr.json" >/dev/null || fail "XADD huge-header"
printf '%s\t%s\n' huge-header 'over the 16384-byte limit' >>"$EXPECT"
good g-3

n_hostile=$(wc -l <"$EXPECT")
total=$(( n_hostile + 3 ))
wait_until 30 'test "$(results_count)" -ge '"$total" ||
  fail "only $(results_count) of $total results"
alive "$WORKER_PID" || fail "the worker died"
[ "$(results_ids | sort | uniq -d | wc -l)" -eq 0 ] || fail "duplicate results"
for g in g-1 g-2 g-3; do
  [ "$(result_of "$g" state)" = ok ] || fail "good job $g: $(result_of "$g" state)"
done
rcli --raw XRANGE "${PREFIX}dead" - + >"$TEST_TMP/dead.txt"
[ "$(rcli XLEN "${PREFIX}dead")" -eq "$n_hostile" ] ||
  fail "$(rcli XLEN "${PREFIX}dead") dead letters, want $n_hostile"
bad=0
while IFS=$'\t' read -r id want; do
  st=$(result_of "$id" state); rs=$(result_of "$id" reason); er=$(result_of "$id" error)
  if [ "$st" != failed ] || [ "$rs" != invalid_job ]; then
    echo "job $id: $st/$rs, want failed/invalid_job" >&2; bad=$((bad + 1))
  elif ! printf '%s' "$er" | grep -qF -- "$want"; then
    echo "job $id: error '$er' does not name '$want'" >&2; bad=$((bad + 1))
  fi
done <"$EXPECT"
[ "$bad" -eq 0 ] || fail "$bad hostile jobs not rejected as expected"
# Nothing hostile reached the upstream: only the 3 good jobs.
[ "$(testapi_stat .requests)" -eq 3 ] ||
  fail "the upstream saw $(testapi_stat .requests) requests, want 3"
# The injected header never went anywhere, not even into a result.
! grep -q 'X-Injected: 1' <(rcli --raw XRANGE "${PREFIX}results" - +) ||
  fail "an injected header line is in a result"
[ "$(rcli XPENDING "${PREFIX}jobs" pacer | head -1)" -eq 0 ] || fail "pending left"
kill -TERM "$WORKER_PID"
wait_until 20 '! alive "$WORKER_PID"' || fail "no exit after SIGTERM"
pass "$n_hostile hostile jobs each rejected with a named reason to the dead letters; 3 good jobs ok; upstream saw 3 requests"
