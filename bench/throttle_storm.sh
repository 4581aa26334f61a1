#!/usr/bin/env bash
# bench/throttle_storm.sh [BUILD_DIR] [BASELINE_BUILD_DIR]
#
# A server hint is a floor (docs/LIMITS.md "Throttles"): 150 jobs to one
# account of an upstream that answers every request of that account with
# 429 and "Retry-After: 0" for the first 8 s, with a 50/s limit on the
# account and with no limit. Prints, per build and case: requests in the
# storm's first second, requests from 5 to 8 s (and per second), all
# requests, and how the jobs ended; with a baseline build, the ratio of
# requests sent during the storm (baseline / this build).
#
#   BUILD_DIR           cmake build dir holding cli/pacer and
#                       tests/upstream/pacer-testapi (default: <repo>/build)
#   BASELINE_BUILD_DIR  another build to compare with (e.g. of main), or
#                       none
#
# Per case: a private redis-server on a unix socket, a fresh pacer-testapi
# with --log, the jobs queued with `pacer submit`, one `pacer worker`
# (concurrency 64). A case ends when every job has a result (at most 90 s).
# Figures come from the upstream's own request log. Bounded; a trap stops
# everything started here. Not a ctest entry. PACER_STORM_KEEP=1 keeps logs.
set -u -o pipefail
# ME and KEEP are read by bench/lib.sh, PACER, API and BUILD by its helpers
# shellcheck disable=SC2034
ME=throttle_storm.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034
KEEP=${PACER_STORM_KEEP:-0}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
need_cmds "apt-get install redis-server redis-tools jq curl" \
  redis-server redis-cli jq curl timeout

run_case() { # BUILD LIMIT(yes|no) -> "first late total ok other"
  local build=$1 limit=$2 dir limits="" t0 n
  # shellcheck disable=SC2034
  PACER=$build/cli/pacer API=$build/tests/upstream/pacer-testapi BUILD=$build
  need_built
  dir=$(mktemp -d "$TMP/case-XXXX")
  start_redis "$dir" 120
  start_api "$dir" 120
  [[ $limit == yes ]] &&
    limits=', "limits": [{"name": "acct", "key": "limit_key", "rate": "50/s"}]'
  printf '{"redis_url": "%s", "prefix": "storm:", "concurrency": 64%s}\n' \
    "$REDIS_URL" "$limits" >"$dir/pacer.json"
  curl -fsS -X POST "http://127.0.0.1:$PORT/admin/script" -d \
    '[{"path":"/v1/adaccounts/s1/campaigns","status":429,"for_ms":8000,"headers":{"Retry-After":"0"}}]' \
    >/dev/null || die "script"
  for ((n = 1; n <= 150; n++)); do
    printf '{"id":"S-%d","method":"PUT","url":"http://127.0.0.1:%s/v1/adaccounts/s1/campaigns","limit_key":"s1","body":{}}\n' \
      "$n" "$PORT"
  done >"$dir/jobs.jsonl"
  "$PACER" submit --config "$dir/pacer.json" "$dir/jobs.jsonl" 2>/dev/null ||
    die "submit"
  start_workers 1 120 "$dir"
  t0=$SECONDS
  until [[ $(redis-cli -s "$SOCK" XLEN storm:results) -ge 150 ]]; do
    ((SECONDS - t0 < 90)) || break
    sleep 0.1 # polling a condition with a deadline
  done
  stop_pids "${WPIDS[@]}"
  forget "${WPIDS[@]}"
  jq -rs '[.[] | select(.path == "/v1/adaccounts/s1/campaigns") | .t_ms] as $r |
    ($r | min) as $t0 |
    "\([$r[] | select(. < $t0 + 1000)] | length) \([$r[] | select(. >= $t0 + 5000 and . < $t0 + 8000)] | length) \($r | length) \([$r[] | select(. < $t0 + 8000)] | length)"' \
    "$dir/api.jsonl" | tr '\n' ' '
  redis-cli -s "$SOCK" --raw EVAL "local ok, other = 0, 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'state' then
      if f[i + 1] == 'ok' then ok = ok + 1 else other = other + 1 end
    end
  end
end
return ok .. ' ' .. other" 1 storm:results
  stop_pids "$API_PID" "$REDIS_PID"
  forget "$API_PID" "$REDIS_PID"
}

BUILD_DIR=${1:-$ROOT/build}
BASE_DIR=${2:-}
bench_tmp throttle-storm
printf '%-10s %-8s %9s %11s %8s %9s %6s %7s\n' build limit "0-1s" "5-8s (/s)" \
  requests "in storm" ok "not ok"
for limit in yes no; do
  for b in "$BASE_DIR" "$BUILD_DIR"; do
    [[ -n $b ]] || continue
    read -r first late total storm ok other <<<"$(run_case "$b" "$limit")"
    printf '%-10s %-8s %9s %6s (%.1f) %8s %9s %6s %7s\n' \
      "$([[ $b == "$BUILD_DIR" ]] && echo this || echo baseline)" \
      "$([[ $limit == yes ]] && echo 50/s || echo none)" "$first" "$late" \
      "$(awk -v l="$late" 'BEGIN { print l / 3 }')" "$total" "$storm" "$ok" \
      "$other"
    [[ $b == "$BUILD_DIR" ]] && this_storm=$storm || base_storm=$storm
  done
  if [[ -n $BASE_DIR && ${this_storm:-0} -gt 0 ]]; then
    echo "  requests during the storm, baseline / this: $(awk -v a="$base_storm" -v b="$this_storm" 'BEGIN { printf "%.1f", a / b }')"
  fi
done
