#!/usr/bin/env bash
# bench/accuracy.sh [BUILD_DIR]
#
# Rate-limit accuracy (docs/LIMITS.md): for limits of 10/s, 100/s and 1,000/s
# against an upstream that enforces the same limit with burst 0, with 1 and
# with 4 `pacer worker` processes sharing the limit through one Redis, print
# achieved rate / limit and 429s per 1,000 requests.
# Aim: >= 97% of the limit and <= 1 429 per 1,000 requests.
#
#   BUILD_DIR  cmake build dir holding cli/pacer and
#              tests/upstream/pacer-testapi (default: <repo>/build)
#
# Per case: a private redis-server on a unix socket, a fresh pacer-testapi
# with `--rate LIMIT/s` (strict sliding 1 s window of admitted requests per
# account, counted at arrival, ms clock) and `--log` (one line per request),
# LIMIT x PACER_ACC_SECONDS jobs `PUT /v1/adaccounts/acc/campaigns` queued
# with `pacer submit` before any worker starts, then N workers sharing one
# config: one global limit of LIMIT/s, burst 0 (defaults otherwise:
# adaptive, pause_on_429). The case ends when every job has a result.
# Figures come from the upstream's own request log (arrival times, ms).
#
# Environment (optional):
#   PACER_ACC_LIMITS       limits, req/s (default "10 100 1000")
#   PACER_ACC_PROCS        process counts (default "1 4")
#   PACER_ACC_SECONDS      target seconds per case; jobs = limit x this
#                          (default 10)
#   PACER_ACC_LATENCY      upstream latency, ms, "A-B" or "0" (default
#                          "20-120", as scripts/demo; connections are then
#                          opened while the rate ramps up, as with a real API)
#   PACER_ACC_CONCURRENCY  requests in flight per process (default 256)
#   PACER_ACC_WORKERS      worker threads per process (default: pacer's,
#                          the online CPUs)
#   PACER_ACC_CEILING      1 (default) = first measure what one process
#                          reaches with no limit at all; 0 = skip
#   PACER_ACC_DETAIL       1 = after each case, the arrival-jitter profile
#                          (default 0)
#   PACER_ACC_KEEP         1 = keep the temp dir with every log (default 0)
#
# Every load is bounded: at most limit x seconds jobs per case, each case
# has a deadline (max(60, 5 x seconds) s), every process runs under
# timeout(1), and all traffic stays on 127.0.0.1 / a unix socket. Ctrl-C
# stops everything started here (trap). Not a ctest entry.
set -u -o pipefail

ME=accuracy.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
BUILD=${1:-$here/../build}
LIMITS=${PACER_ACC_LIMITS:-10 100 1000}
PROCS=${PACER_ACC_PROCS:-1 4}
SECS=${PACER_ACC_SECONDS:-10}
LATENCY=${PACER_ACC_LATENCY:-20-120}
CONC=${PACER_ACC_CONCURRENCY:-256}
WORKERS=${PACER_ACC_WORKERS:-}
CEILING=${PACER_ACC_CEILING:-1}
DETAIL=${PACER_ACC_DETAIL:-0}
KEEP=${PACER_ACC_KEEP:-0}
AIM_RATE=0.97   # achieved / limit, steady window
AIM_429=1       # 429s per 1,000 requests

PACER=$BUILD/cli/pacer
API=$BUILD/tests/upstream/pacer-testapi

for n in $LIMITS; do
  num_ok "$n" 1 100000 || die "limit \"$n\" is not a whole number 1..100000"
done
for n in $PROCS; do
  num_ok "$n" 1 16 || die "process count \"$n\" is not 1..16"
done
num_ok "$SECS" 1 600 || die "PACER_ACC_SECONDS \"$SECS\" is not 1..600"
num_ok "$CONC" 1 100000 ||
  die "PACER_ACC_CONCURRENCY \"$CONC\" is not 1..100000"
[[ -z $WORKERS ]] || num_ok "$WORKERS" 1 256 ||
  die "PACER_ACC_WORKERS \"$WORKERS\" is not 1..256"
[[ $LATENCY =~ ^[0-9]+(-[0-9]+)?$ ]] ||
  die "PACER_ACC_LATENCY \"$LATENCY\" is not N or A-B"
need_built
need_cmds "apt-get install -y redis-server redis-tools jq coreutils gawk" \
  redis-server redis-cli jq timeout awk

bench_tmp pacer-accuracy

calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }

# conns: established TCP connections to the upstream's port right now.
conns() {
  awk -v p="$(printf ':%04X' "$PORT")" \
    'NR > 1 && $4 == "01" && substr($2, length($2) - 4) == p { n++ }
     END { print n + 0 }' /proc/net/tcp
}

# gen_jobs COUNT FILE: PUTs to one account; Idempotency-Key = job id, so the
# upstream's log names each job (a PUT is sent the same way with or without).
gen_jobs() {
  awk -v n="$1" -v url="http://127.0.0.1:$PORT/v1/adaccounts/acc/campaigns" \
    'BEGIN {
      for (i = 1; i <= n; i++)
        printf "{\"id\":\"a%d\",\"method\":\"PUT\",\"url\":\"%s\",\"headers\":{\"Idempotency-Key\":\"a%d\"},\"body\":{\"n\":%d}}\n",
          i, url, i, i
    }' >"$2"
}

# write_config FILE LIMIT: LIMIT 0 = no limit.
write_config() {
  local lim=''
  (($2 > 0)) && lim=", \"limits\": [{\"name\": \"acc\", \"key\": \"global\",
    \"rate\": \"$2/s\", \"burst\": 0}]"
  printf '{"redis_url": "%s", "concurrency": %d, "log_level": "info"%s%s}\n' \
    "$REDIS_URL" "$CONC" "${WORKERS:+, \"workers\": $WORKERS}" "$lim" >"$1"
}

# run_case LIMIT PROCS JOBS NAME: LIMIT 0 = no limit anywhere (ceiling).
# Leaves the upstream's request log in $TMP/NAME/api.jsonl and sets
# C_WALL (first worker start to last result), C_CONNS (peak connections),
# C_STATS (upstream /stats JSON), C_DONE (results written).
run_case() {
  local limit=$1 procs=$2 jobs=$3 dir=$TMP/$4 dl t0 done_n=0 c
  local wpids=() rate_args=() lat_args=()
  mkdir -p "$dir"
  dl=$((SECS * 5 > 60 ? SECS * 5 : 60))
  start_redis "$dir" $((dl + 60))
  ((limit > 0)) && rate_args=(--rate "$limit/s")
  [[ $LATENCY == 0 ]] || lat_args=(--latency-ms "$LATENCY")
  start_api "$dir" $((dl + 60)) "${rate_args[@]}" "${lat_args[@]}"
  write_config "$dir/pacer.json" "$limit"
  gen_jobs "$jobs" "$dir/jobs.jsonl"
  if ! timeout -k 5 60 "$PACER" submit --config "$dir/pacer.json" \
    "$dir/jobs.jsonl" >/dev/null 2>"$dir/submit.err"; then
    echo "accuracy.sh: pacer submit failed:" >&2
    tail -n 5 "$dir/submit.err" >&2
    exit 1
  fi
  t0=$EPOCHREALTIME
  start_workers "$procs" $((dl + 40)) "$dir"
  wpids=("${WPIDS[@]}")
  C_CONNS=0
  local deadline=$((SECONDS + dl))
  while ((SECONDS < deadline)); do
    done_n=$(redis-cli -s "$dir/redis.sock" XLEN pacer:results 2>/dev/null)
    [[ $done_n =~ ^[0-9]+$ ]] || done_n=0
    ((done_n >= jobs)) && break
    c=$(conns)
    ((c > C_CONNS)) && C_CONNS=$c
    sleep 0.2 # polling a condition with a deadline
  done
  C_WALL=$(calc "$EPOCHREALTIME - $t0")
  C_DONE=$done_n
  C_STATS=$(api_stats)
  stop_pids "${wpids[@]}"
  stop_pids "$API_PID" "$REDIS_PID"
  forget "${wpids[@]}" "$API_PID" "$REDIS_PID"
  if ((done_n < jobs)); then
    echo "accuracy.sh: case $4: only $done_n of $jobs results within" \
      "$dl s; figures cover what was sent" >&2
  fi
}

# analyse LOG LIMIT: one line of figures from the upstream's request log:
#   n ok n429 span_s whole steady max1s first429_s n429_first1s
#   gap_p1 gap_p50 gap_p99 gap_max bunched_pct spanL_min spanL_p1 spanL_p50
#   spanL_lt1000 spanL_min_at_s
# Times are arrival ms. whole = (ok-1)/(last ok - first ok) / limit;
# steady = the same over the 2xx in [first+1 s, last-1 s]; max1s = most
# arrivals (any status) in one (t-1000, t] window, as the upstream counts.
# gaps are between consecutive arrivals, in units of the nominal interval
# 1000/limit ms; bunched = gaps under half of it. spanL = t[k] - t[k-limit]
# over admitted (2xx) requests, ms: the upstream answers 429 exactly when
# this would be < 1000.
analyse() {
  jq -r 'select(.path | startswith("/v1/")) | "\(.t_ms) \(.status)"' "$1" |
    sort -n -k1,1 | awk -v L="$2" "$AWK_STATS"'
    { t[NR] = $1; s[NR] = $2
      if ($2 >= 200 && $2 < 300) { ok++; okt[ok] = $1 }
      else if ($2 == 429) { n429++; if (!f429) f429 = $1 } }
    END {
      n = NR
      if (n == 0 || ok < 2) { print "0 0 0 0 0 0 0 - 0 0 0 0 0 0 - - - 0 -"; exit }
      first = t[1]; last = t[n]
      span = (okt[ok] - okt[1]) / 1000
      whole = span > 0 ? (ok - 1) / span / L : 0
      lo = first + 1000; hi = last - 1000; c = 0
      for (i = 1; i <= ok; i++)
        if (okt[i] >= lo && okt[i] <= hi) { if (!c++) a = okt[i]; b = okt[i] }
      steady = c >= 2 && b > a ? (c - 1) / ((b - a) / 1000) / L : whole
      j = 1; mx = 0
      for (i = 1; i <= n; i++) {
        while (t[j] <= t[i] - 1000) j++
        if (i - j + 1 > mx) mx = i - j + 1
      }
      early = 0
      for (i = 1; i <= n; i++) if (s[i] == 429 && t[i] < first + 1000) early++
      iv = 1000 / L; g = 0; bunch = 0
      for (i = 2; i <= n; i++) { gap[++g] = (t[i] - t[i - 1]) / iv; if (gap[g] < 0.5) bunch++ }
      qs(gap, 1, g)
      m = 0; lt = 0
      mnd = -1
      for (k = L + 1; k <= ok; k++) {
        d = okt[k] - okt[k - L]; sp[++m] = d; if (d < 1000) lt++
        if (mnd < 0 || d < mnd) { mnd = d; mnat = okt[k] - first }
      }
      qs(sp, 1, m)
      printf "%d %d %d %.2f %.4f %.4f %d %s %d %.2f %.2f %.2f %.2f %.1f %s %s %s %d %s\n",
        n, ok, n429 + 0, span, whole, steady, mx,
        f429 ? sprintf("%.2f", (f429 - first) / 1000) : "-", early,
        pct(gap, g, 1), pct(gap, g, 50), pct(gap, g, 99), gap[g],
        100 * bunch / g, m ? sp[1] : "-", m ? pct(sp, m, 1) : "-",
        m ? pct(sp, m, 50) : "-", lt, m ? sprintf("%.2f", mnat / 1000) : "-"
    }'
}

# ------------------------------------------------------------------

echo "pacer rate-limit accuracy: limits [$LIMITS]/s, processes [$PROCS]," \
  "~${SECS} s per case, upstream latency ${LATENCY} ms, concurrency $CONC," \
  "cpus=$(getconf _NPROCESSORS_ONLN)"
echo "  upstream: pacer-testapi --rate L/s (strict sliding 1 s window of" \
  "admitted requests, counted at arrival); pacer: one global limit L/s, burst 0"
echo "  aim: achieved >= $(calc "$AIM_RATE * 100")% of the limit and" \
  "<= $AIM_429 429 per 1,000 requests"

CEIL_RATE=
if [[ $CEILING == 1 ]]; then
  max_l=0
  for l in $LIMITS; do ((l > max_l)) && max_l=$l; done
  cj=$((max_l * SECS < 2000 ? 2000 : max_l * SECS))
  ((cj > 20000)) && cj=20000
  run_case 0 1 "$cj" ceiling
  read -r -a f < <(analyse "$TMP/ceiling/api.jsonl" 1)
  CEIL_RATE=$(calc "${f[4]}" | awk '{ printf "%.0f", $1 }')
  echo
  echo "ceiling: 1 process, no limit anywhere, $cj jobs: $CEIL_RATE req/s at" \
    "the upstream (peak $C_CONNS connections)"
  for l in $LIMITS; do
    if ((CEIL_RATE * 100 < l * 110)); then
      echo "  NOTE: $l/s is above or within 10% of what one process reaches" \
        "here; its figures measure the machine, not the limiter"
    fi
  done
fi

echo
hdr() { printf '%7s %5s %6s %7s %8s %8s %8s %11s %6s\n' "$@"; }
hdr limit procs jobs seconds "ach/lim" "ach/lim" "429/1000" "max in 1 s" conns
hdr "req/s" "" "" "" whole steady "" "/ limit" peak
ROWS=()
DETAILS=()
for l in $LIMITS; do
  for p in $PROCS; do
    jobs=$((l * SECS))
    ((jobs < 20)) && jobs=20
    run_case "$l" "$p" "$jobs" "l${l}p${p}"
    read -r -a f < <(analyse "$TMP/l${l}p${p}/api.jsonl" "$l")
    per1k=$(calc "${f[2]} * 1000 / ${f[0]}")
    row=("$l" "$p" "$jobs" "${f[3]}" "$(calc "${f[4]} * 100" | awk '{ printf "%.1f%%", $1 }')"
      "$(calc "${f[5]} * 100" | awk '{ printf "%.1f%%", $1 }')"
      "$(awk -v x="$per1k" 'BEGIN { printf "%.1f", x }')"
      "${f[6]} / $l" "$C_CONNS")
    hdr "${row[@]}"
    verdict=met
    awk -v s="${f[5]}" -v q="$per1k" -v a="$AIM_RATE" -v b="$AIM_429" \
      'BEGIN { exit !(s >= a && q <= b) }' || verdict="NOT met"
    ROWS+=("| $l/s | $p | $jobs | ${f[3]} | ${row[4]} | ${row[5]} | ${row[6]} | ${f[6]} / $l | $verdict |")
    DETAILS+=("$l/s x$p: ${f[0]} requests, ${f[1]} 2xx, ${f[2]} 429 (first at ${f[7]} s, ${f[8]} in the first 1 s); gaps/interval p1 ${f[9]} p50 ${f[10]} p99 ${f[11]} max ${f[12]}, ${f[13]}% under half an interval; t[k]-t[k-$l] over 2xx: min ${f[14]} (at ${f[18]} s) p1 ${f[15]} p50 ${f[16]} ms, ${f[17]} under 1000 ms; upstream max_per_1s $(jq -r '.max_per_1s // "?"' <<<"$C_STATS"); wall ${C_WALL%.*} s, $C_DONE results")
    if [[ $DETAIL == 1 ]]; then
      echo "        ${DETAILS[-1]}"
    fi
  done
done

echo
echo "| limit | processes | jobs | seconds | achieved / limit | steady (drop 1st and last 1 s) | 429 per 1,000 | max in any 1 s | aim (>= $(calc "$AIM_RATE * 100")%, <= $AIM_429 429/1000) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
[[ -z $CEIL_RATE ]] ||
  echo "Ceiling (1 process, no limit, same upstream): $CEIL_RATE req/s."
if [[ $DETAIL != 1 ]]; then
  echo
  echo "Arrival profile per case (PACER_ACC_DETAIL=1 prints it as it goes):"
  printf '  %s\n' "${DETAILS[@]}"
fi
