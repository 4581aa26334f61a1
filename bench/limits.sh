#!/usr/bin/env bash
# bench/limits.sh [BUILD_DIR]
#
# pacer against a strict limiter nobody here wrote (docs/LIMITS.md "Against
# a strict limiter"): Debian's nginx limit_req at L r/s, burst 0, one
# bucket per X-Account header, 429 with `Retry-After: 1`
# (tests/upstream/nginx_limits.sh). pacer gets the limit exactly as
# written in the API: {"key": "header:X-Account", "rate": "L/s"}, every
# other setting its default. For each rate and each process count (the
# processes share the limit through one Redis) it prints, from nginx's own
# access log:
#   achieved / limit   admitted requests per second / L, first request to
#                      last admitted one
#   jobs/s             jobs finished per second of wall time (first worker
#                      start to last result)
#   429 per 1,000      refused requests per 1,000 sent
#   max 1 s            most admitted requests in any (t - 1 s, t] at nginx,
#                      and most arrivals of any status
# Aim: achieved >= 97% of L, <= 1 429 per 1,000, max 1 s admitted <= L.
#
# With PACER_LIM_BASELINE=PATH (a pacer binary, e.g. a build of main) each
# case runs with it first, and the table shows both and their ratio, in the
# same run on the same machine.
#
# Each rate also runs a plain timed sender first: bench/paced_raw, one
# libcurl client on one kept-alive connection sending on an absolute-clock
# grid at the spacing pacer keeps in steady state (1/L plus 2%), pausing
# for Retry-After after a 429 as pacer does, with no Redis and no
# scheduler. Its row ("grid") is what exact timing alone gets from this
# nginx on this machine in this run: a wake-up later than the 2% margin
# followed by one on time puts two requests too close, which pacer's
# spacing on the wire (docs/LIMITS.md item 2) prevents. The table's last
# column is pacer's achieved / limit over the grid's.
#
#   BUILD_DIR  cmake build dir holding cli/pacer (default: <repo>/build)
#
# Environment (optional):
#   PACER_LIM_RATES     limits, r/s (default "20 100 1000")
#   PACER_LIM_PROCS     process counts (default "1 4")
#   PACER_LIM_SECONDS   seconds of work per case: jobs = L x this, at least
#                       200 and at most 5,000 (default 20: 400, 2,000,
#                       5,000 jobs)
#   PACER_LIM_BASELINE  pacer binary to compare with (default: none)
#   PACER_LIM_PRIORITY  nginx's priority, "rt" (default: SCHED_FIFO when
#                       allowed, so a loaded machine does not wake nginx
#                       late; see tests/upstream/nginx_limits.sh) or ""
#   PACER_LIM_KEEP      1 = keep the temp dir with every log (default 0)
#
# Every load is bounded: at most 5,000 jobs per case, each case has a
# deadline (max(60, 4 x seconds) s), every process runs under timeout(1),
# all traffic stays on 127.0.0.1 / a unix socket. Ctrl-C stops everything
# started here (trap). Not a ctest entry.
set -u -o pipefail

ME=limits.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
BUILD=${1:-$here/../build}
RATES=${PACER_LIM_RATES:-20 100 1000}
PROCS=${PACER_LIM_PROCS:-1 4}
SECS=${PACER_LIM_SECONDS:-20}
BASE=${PACER_LIM_BASELINE:-}
KEEP=${PACER_LIM_KEEP:-0}
PRIO=${PACER_LIM_PRIORITY-rt}
NGX=$here/../tests/upstream/nginx_limits.sh
PACER_NEW=$BUILD/cli/pacer
GRID=$BUILD/bench/paced_raw

for n in $RATES; do
  num_ok "$n" 1 5000 || die "rate \"$n\" is not a whole number 1..5000"
done
for n in $PROCS; do
  num_ok "$n" 1 8 || die "process count \"$n\" is not 1..8"
done
num_ok "$SECS" 1 120 || die "PACER_LIM_SECONDS \"$SECS\" is not 1..120"
[[ -x $PACER_NEW ]] || die "$PACER_NEW: not built; run cmake --build $BUILD"
[[ -x $GRID ]] || die "$GRID: not built; run cmake --build $BUILD"
[[ -z $BASE || -x $BASE ]] || die "PACER_LIM_BASELINE $BASE: not executable"
[[ -x ${PACER_NGINX:-/usr/sbin/nginx} ]] ||
  die "nginx not found (apt-get install -y nginx-light)"
need_cmds "apt-get install -y redis-server redis-tools curl gawk coreutils" \
  redis-server redis-cli curl timeout awk

bench_tmp pacer-limits

calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }

# start_nginx DIR DEADLINE RATE: sets NGX_PID and PORT.
start_nginx() {
  local deadline
  : >"$1/nginx.out"
  bg "$2" "$1/nginx.out" "$1/nginx.err" "$NGX" "$1/nginx" --rate "$3" \
    --priority "$PRIO"
  NGX_PID=$BG_PID
  PORT=
  deadline=$((SECONDS + 15))
  until [[ -n $PORT ]]; do
    PORT=$(sed -n 's/^listening port=\([0-9]*\)$/\1/p' "$1/nginx.out")
    [[ -n $PORT ]] && break
    if ((SECONDS >= deadline)) || ! kill -0 "$NGX_PID" 2>/dev/null; then
      echo "$ME: nginx did not start:" >&2
      cat "$1/nginx.err" >&2
      exit 1
    fi
    sleep 0.02 # polling a condition with a deadline
  done
}

# run_case PACER RATE PROCS JOBS NAME: leaves nginx's log in
# $TMP/NAME/nginx/access.log; sets C_WALL and C_DONE.
run_case() {
  local bin=$1 rate=$2 procs=$3 jobs=$4 dir=$TMP/$5 dl t0 done_n=0 i
  local wpids=()
  mkdir -p "$dir"
  dl=$((SECS * 4 > 60 ? SECS * 4 : 60))
  start_redis "$dir" $((dl + 60))
  start_nginx "$dir" $((dl + 60)) "$rate"
  printf '{"redis_url": "%s", "limits": [{"name": "acct", "key": "header:X-Account", "rate": "%d/s"}]}\n' \
    "$REDIS_URL" "$rate" >"$dir/pacer.json"
  awk -v n="$jobs" -v url="http://127.0.0.1:$PORT/strict/campaigns" \
    'BEGIN {
      for (i = 1; i <= n; i++)
        printf "{\"id\":\"j%d\",\"url\":\"%s\",\"headers\":{\"X-Account\":\"acc-1\",\"X-Job\":\"j%d\"}}\n",
          i, url, i
    }' >"$dir/jobs.jsonl"
  if ! timeout -k 5 60 "$bin" submit --config "$dir/pacer.json" \
    "$dir/jobs.jsonl" >/dev/null 2>"$dir/submit.err"; then
    echo "$ME: pacer submit failed:" >&2
    tail -n 5 "$dir/submit.err" >&2
    exit 1
  fi
  t0=$EPOCHREALTIME
  for ((i = 1; i <= procs; i++)); do
    bg $((dl + 40)) "$dir/worker$i.out" "$dir/worker$i.log" \
      "$bin" worker --config "$dir/pacer.json"
    wpids+=("$BG_PID")
  done
  local deadline=$((SECONDS + dl))
  while ((SECONDS < deadline)); do
    done_n=$(redis-cli -s "$dir/redis.sock" XLEN pacer:results 2>/dev/null)
    [[ $done_n =~ ^[0-9]+$ ]] || done_n=0
    ((done_n >= jobs)) && break
    sleep 0.05 # polling a condition with a deadline
  done
  C_WALL=$(calc "$EPOCHREALTIME - $t0")
  C_DONE=$done_n
  stop_pids "${wpids[@]}"
  stop_pids "$NGX_PID" "$REDIS_PID"
  forget "${wpids[@]}" "$NGX_PID" "$REDIS_PID"
  ((done_n >= jobs)) ||
    echo "$ME: case $5: only $done_n of $jobs results within $dl s" >&2
}

# run_grid RATE JOBS NAME: bench/paced_raw at 1/RATE + 2% until JOBS
# answers were 200; leaves nginx's log in $TMP/NAME/nginx/access.log and
# sets C_WALL and C_DONE.
run_grid() {
  local rate=$1 jobs=$2 dir=$TMP/$3 dl iv out
  mkdir -p "$dir"
  dl=$((SECS * 4 > 60 ? SECS * 4 : 60))
  start_nginx "$dir" $((dl + 60)) "$rate"
  iv=$(((1000000 * 102 + rate * 100 - 1) / (rate * 100)))
  out=$(timeout -k 5 $((dl + 10)) "$GRID" \
    "http://127.0.0.1:$PORT/strict/campaigns" "X-Account: acc-1" \
    "$iv" "$jobs" "$dl" 2>"$dir/grid.err")
  echo "$out" >"$dir/grid.out"
  C_WALL=$(sed -n 's/.* wall_s=\([0-9.]*\).*/\1/p' <<<"$out")
  C_DONE=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$out")
  [[ -n $C_WALL && -n $C_DONE ]] || {
    C_WALL=1
    C_DONE=0
    echo "$ME: case $3: paced_raw failed:" >&2
    tail -n 3 "$dir/grid.err" >&2
  }
  stop_pids "$NGX_PID"
  forget "$NGX_PID"
}

# analyse LOG RATE: "sent ok n429 achieved max1s_ok max1s_all" from nginx's
# access log (<msec> <status> ...), times in ms.
analyse() {
  awk -v L="$2" '$3 ~ /^\/strict\// {
      t = int($1 * 1000 + 0.5); n++; at[n] = t
      if ($2 == 200) { ok++; okt[ok] = t } else if ($2 == 429) n429++
    }
    END {
      if (ok < 2) { print n + 0, ok + 0, n429 + 0, 0, 0, 0; exit }
      # the log is in completion order; these answers are immediate, but
      # sort to be sure (insertion sort on nearly sorted data)
      for (i = 2; i <= n; i++) { x = at[i]; j = i - 1
        while (j > 0 && at[j] > x) { at[j + 1] = at[j]; j-- } at[j + 1] = x }
      for (i = 2; i <= ok; i++) { x = okt[i]; j = i - 1
        while (j > 0 && okt[j] > x) { okt[j + 1] = okt[j]; j-- } okt[j + 1] = x }
      span = (okt[ok] - at[1]) / 1000
      ach = span > 0 ? (ok - 1) / span / L : 0
      j = 1; m1 = 0
      for (i = 1; i <= ok; i++) {
        while (okt[j] <= okt[i] - 1000) j++
        if (i - j + 1 > m1) m1 = i - j + 1
      }
      j = 1; m2 = 0
      for (i = 1; i <= n; i++) {
        while (at[j] <= at[i] - 1000) j++
        if (i - j + 1 > m2) m2 = i - j + 1
      }
      printf "%d %d %d %.4f %d %d\n", n, ok, n429 + 0, ach, m1, m2
    }' "$1"
}

echo "pacer against nginx limit_req (burst 0, per X-Account, Retry-After: 1):" \
  "rates [$RATES] r/s, processes [$PROCS], ~$SECS s per case," \
  "cpus=$(getconf _NPROCESSORS_ONLN), $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //')"
echo "pacer limit: {\"key\": \"header:X-Account\", \"rate\": \"L/s\"}, defaults" \
  "otherwise. aim: >= 97% of L, <= 1 429 per 1,000, max admitted in 1 s <= L"
[[ -z $BASE ]] || echo "baseline: $BASE"
echo
hdr() { printf '%-8s %5s %5s  %-9s %8s %8s %8s %11s\n' "$@"; }
hdr rate procs jobs build "ach/lim" "jobs/s" "429/1000" "max 1 s"
ROWS=()
for r in $RATES; do
  jobs=$((r * SECS))
  ((jobs < 200)) && jobs=200
  ((jobs > 5000)) && jobs=5000
  run_grid "$r" "$jobs" "r${r}grid"
  read -r -a f < <(analyse "$TMP/r${r}grid/nginx/access.log" "$r")
  per1k=$(calc "${f[0]} > 0 ? ${f[2]} * 1000 / ${f[0]} : 0" |
    awk '{ printf "%.1f", $1 }')
  ach=$(calc "${f[3]} * 100" | awk '{ printf "%.1f%%", $1 }')
  jps=$(calc "$C_DONE / $C_WALL" | awk '{ printf "%.1f", $1 }')
  hdr "$r/s" 1 "$jobs" grid "$ach" "$jps" "$per1k" "${f[4]}/${f[5]}"
  grid=${f[3]}
  ROWS+=("| $r/s | grid | $jobs | $ach | $per1k | ${f[4]} / ${f[5]} | - | - |")
  for p in $PROCS; do
    prev=
    for which in base new; do
      [[ $which == base && -z $BASE ]] && continue
      bin=$PACER_NEW
      [[ $which == base ]] && bin=$BASE
      name="r${r}p${p}$which"
      run_case "$bin" "$r" "$p" "$jobs" "$name"
      read -r -a f < <(analyse "$TMP/$name/nginx/access.log" "$r")
      per1k=$(calc "${f[0]} > 0 ? ${f[2]} * 1000 / ${f[0]} : 0" |
        awk '{ printf "%.1f", $1 }')
      ach=$(calc "${f[3]} * 100" | awk '{ printf "%.1f%%", $1 }')
      jps=$(calc "$C_DONE / $C_WALL" | awk '{ printf "%.1f", $1 }')
      hdr "$r/s" "$p" "$jobs" "$which" "$ach" "$jps" "$per1k" \
        "${f[4]}/${f[5]}"
      if [[ $which == base ]]; then
        prev=${f[3]}
      else
        ratio=-
        [[ -n $prev ]] && ratio=$(calc "$prev > 0 ? ${f[3]} / $prev : 0" |
          awk '{ printf "%.2fx", $1 }')
        vc=$(calc "$grid > 0 ? ${f[3]} / $grid : 0" |
          awk '{ printf "%.2fx", $1 }')
        ROWS+=("| $r/s | $p | $jobs | $ach | $per1k | ${f[4]} / ${f[5]} | $ratio | $vc |")
      fi
    done
  done
done
echo
echo "nginx priority: $(sed -n 's/.*priority=\([a-z]*\).*/\1/p' \
  "$TMP"/*/nginx.err | sort -u | paste -sd, -)"
echo
echo "| limit | processes | jobs | achieved / limit | 429 per 1,000 | max in 1 s (admitted / all) | vs baseline | vs grid |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
