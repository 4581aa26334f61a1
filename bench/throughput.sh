#!/usr/bin/env bash
# bench/throughput.sh [N] [BUILD_DIR]
#
# End-to-end throughput of `pacer run` (Redis -> scheduler -> workers ->
# upstream -> results in Redis) against a raw-HTTP baseline measured in the
# same run on the same upstream: bench/raw_multi, a plain curl multi loop at
# the same concurrency. Then `pacer worker` on a pre-filled queue: jobs/s,
# CPU per job of pacer and of redis-server, and Redis bytes per finished
# job (INFO used_memory; the done-markers' part apart), with 1 and 2 worker
# threads and with 2 worker processes of 1 thread each. Allocations per job
# (all of pacer's malloc/calloc/realloc calls, start-up included) come from
# bench/alloc_count.so, LD_PRELOADed into pacer when it is built. Then the
# RSS check: peak RSS of `pacer run` with a 10k and a 200k backlog.
#
#   N          jobs per measured run (default 20000)
#   BUILD_DIR  cmake build dir holding cli/pacer, bench/raw_multi and
#              tests/upstream/pacer-testapi (default: <repo>/build)
#
# Environment (optional):
#   PACER_BENCH_CONCURRENCY  transfers in flight, both sides (default 64)
#   PACER_BENCH_RSS_SMALL    small backlog for the RSS check (default 10000)
#   PACER_BENCH_RSS_LARGE    large backlog for the RSS check (default 200000;
#                            0 skips the RSS check)
#
# Every load is bounded in count and time (each run has a deadline) and
# goes to 127.0.0.1 only. The private redis-server is the one `pacer run`
# starts itself. Nothing here runs under the default `ctest`.
set -u -o pipefail

if [[ -z ${EPOCHREALTIME-} ]]; then
  echo "throughput.sh: needs bash >= 5 (EPOCHREALTIME)" >&2
  exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${1:-20000}
BUILD=${2:-$here/../build}
CONC=${PACER_BENCH_CONCURRENCY:-64}
RSS_SMALL=${PACER_BENCH_RSS_SMALL:-10000}
RSS_LARGE=${PACER_BENCH_RSS_LARGE:-200000}
WARMUP=2000          # requests before measuring (upstream threads, caches)
RUN_DEADLINE_S=300   # any single pacer run or raw run, s

PACER=$BUILD/cli/pacer
RAW=$BUILD/bench/raw_multi
ALLOC_SO=$BUILD/bench/alloc_count.so # optional: allocations per job
API=$BUILD/tests/upstream/pacer-testapi

for n in "$N" "$CONC" "$RSS_SMALL" "$RSS_LARGE"; do
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n > 10000000)); then
    echo "throughput.sh: \"$n\" is not a whole number up to 10000000" >&2
    exit 2
  fi
done
if ((N == 0 || CONC == 0)); then
  echo "throughput.sh: N and the concurrency must be at least 1" >&2
  exit 2
fi
for b in "$PACER" "$RAW" "$API"; do
  if [[ ! -x $b ]]; then
    echo "throughput.sh: $b: not built; run cmake --build $BUILD first" >&2
    exit 2
  fi
done
if ! command -v redis-server >/dev/null; then
  echo "throughput.sh: redis-server not on PATH (apt-get install -y" \
    "redis-server)" >&2
  exit 2
fi
if ! command -v redis-cli >/dev/null; then
  echo "throughput.sh: redis-cli not on PATH (apt-get install -y" \
    "redis-tools)" >&2
  exit 2
fi
if ! command -v timeout >/dev/null; then
  echo "throughput.sh: timeout(1) missing (coreutils)" >&2
  exit 2
fi

TMP=$(mktemp -d /tmp/pacer-bench-XXXXXX)
API_PID=
cleanup() {
  if [[ -n $API_PID ]]; then
    kill "$API_PID" 2>/dev/null
    wait "$API_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------
# Helpers

# preload: the environment that counts pacer's allocations into
# $TMP/alloc.<pid> (bench/alloc_count.c), or nothing when not built.
preload() {
  if [[ -f $ALLOC_SO ]]; then
    echo "LD_PRELOAD=$ALLOC_SO PACER_ALLOC_COUNT_OUT=$TMP/alloc"
  fi
}

# allocs_per_job N: the allocations counted in $TMP/alloc.* per job (then
# removes the files), or "-" when nothing was counted.
allocs_per_job() {
  local f sum=0 any=
  for f in "$TMP"/alloc.*; do
    [[ -e $f ]] || continue
    sum=$((sum + $(kv allocs "$(cat "$f")")))
    any=1
    rm -f "$f"
  done
  if [[ -n $any ]]; then
    calc "$sum / $1" | awk '{ printf "%.0f", $1 }'
  else
    echo "-"
  fi
}

# now_s: wall clock in microseconds (EPOCHREALTIME); fine for phases of
# 10 ms and more.
now_s() { printf '%s\n' "$EPOCHREALTIME"; }

# calc EXPR: floating point through awk.
calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }

# kv KEY LINE: the value of KEY=value in a key=value line.
kv() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<" $2"; }

# upstream_cpu_s: CPU seconds used so far by pacer-testapi.
upstream_cpu_s() {
  local f
  read -r -a f <"/proc/$API_PID/stat" || return 1
  # fields 14 and 15 (utime, stime) in clock ticks; comm has no spaces here
  calc "(${f[13]} + ${f[14]}) / $(getconf CLK_TCK)"
}

# gen_jobs COUNT FILE: COUNT GET /fast jobs with ids j1..jCOUNT.
gen_jobs() {
  awk -v n="$1" -v url="http://127.0.0.1:$PORT/fast" 'BEGIN {
    for (i = 1; i <= n; i++)
      printf "{\"id\":\"j%d\",\"url\":\"%s\"}\n", i, url
  }' >"$2"
}

# stamp: prefixes each input line with the time it arrived.
stamp() {
  local line
  while IFS= read -r line; do
    printf '%s %s\n' "$EPOCHREALTIME" "$line"
  done
}

# first_stamp PATTERN FILE: arrival time of the first line matching.
first_stamp() { awk -v p="$1" 'index($0, p) { print $1; exit }' "$2"; }

# ------------------------------------------------------------------
# Upstream

"$API" --port 0 >"$TMP/api.out" 2>"$TMP/api.err" &
API_PID=$!
PORT=
deadline=$((SECONDS + 10))
while [[ -z $PORT ]] && ((SECONDS < deadline)); do
  PORT=$(sed -n 's/^listening port=\([0-9]*\)$/\1/p' "$TMP/api.out")
  [[ -n $PORT ]] || sleep 0.05 # polling a condition with a deadline
done
if [[ -z $PORT ]]; then
  echo "throughput.sh: pacer-testapi did not print its port within 10 s:" >&2
  cat "$TMP/api.err" >&2
  exit 2
fi
URL=http://127.0.0.1:$PORT/fast

echo "pacer throughput: N=$N concurrency=$CONC upstream=$URL" \
  "cpus=$(getconf _NPROCESSORS_ONLN)"
echo "  (pacer run: default config, workers = online CPUs; results to" \
  "/dev/null)"

gen_jobs "$N" "$TMP/jobs.jsonl"
"$RAW" --requests "$WARMUP" --concurrency "$CONC" "$URL" >/dev/null || {
  echo "throughput.sh: warm-up against $URL failed" >&2
  exit 1
}

# ------------------------------------------------------------------
# Raw baseline: the same N requests, same concurrency, same upstream.

# raw_run MODE_FLAG: sets RAW_LINE and RAW_UP_CPU.
raw_run() {
  local u0 u1
  u0=$(upstream_cpu_s)
  RAW_LINE=$(timeout -k 5 "$RUN_DEADLINE_S" "$RAW" --requests "$N" \
    --concurrency "$CONC" --deadline "$RUN_DEADLINE_S" "$@" "$URL") || {
    echo "throughput.sh: raw_multi $* failed: $RAW_LINE" >&2
    exit 1
  }
  u1=$(upstream_cpu_s)
  RAW_UP_CPU=$(calc "($u1 - $u0) * 1000 / $N")
}

# The reuse baseline is the ratio's denominator: median of three runs, as
# one short run on a shared 2-core machine easily loses a third.
reuse=()
for i in 1 2 3; do
  raw_run
  reuse+=("$(kv req_per_s "$RAW_LINE") $RAW_UP_CPU $RAW_LINE")
done
RAW_LINE=$(printf '%s\n' "${reuse[@]}" | sort -n | sed -n 2p)
RAW_REUSE_UP=$(cut -d' ' -f2 <<<"$RAW_LINE")
RAW_REUSE=$(cut -d' ' -f3- <<<"$RAW_LINE")
RAW_REUSE_ALL=$(printf '%s\n' "${reuse[@]}" | cut -d' ' -f1 | sort -n |
  paste -sd/)
raw_run --fresh
RAW_FRESH=$RAW_LINE
RAW_FRESH_UP=$RAW_UP_CPU

# ------------------------------------------------------------------
# pacer run, end to end, with phase stamps.
#
#   t0 ............ launch (private redis-server start, submit)
#   "run: queued" . submit done
#   msg="stopping"  last job terminal (scheduler starts to stop)
#   "done:" ....... scheduler and workers stopped
#   exit .......... results exported, private Redis stopped

# redis_of TOP: pid of the redis-server started below process TOP (the
# private Redis of the `pacer run` in that process tree), or nothing.
redis_of() {
  local top=$1 p q ppid i rest
  for p in $(pgrep -x redis-server); do
    q=$p
    for ((i = 0; i < 8; i++)); do
      read -r _ _ _ ppid rest <"/proc/$q/stat" 2>/dev/null || break
      if ((ppid == top)); then
        echo "$p"
        return
      fi
      ((ppid > 1)) || break
      q=$ppid
    done
  done
}

# watch_redis TOP OUT: while TOP lives, writes the VmHWM (peak RSS, KiB) of
# its private redis-server to OUT, every 0.1 s.
watch_redis() {
  local top=$1 out=$2 rp='' k v rest
  while kill -0 "$top" 2>/dev/null; do
    [[ -n $rp && -e /proc/$rp ]] || rp=$(redis_of "$top")
    if [[ -n $rp ]]; then
      while read -r k v rest; do
        [[ $k == VmHWM: ]] && echo "$v" >"$out"
      done <"/proc/$rp/status" 2>/dev/null
    fi
    sleep 0.1 # sampling period, not a wait for a condition
  done
}

# pacer_run FILE [watch]: runs `pacer run FILE` and sets the P_* figures;
# with "watch", also P_REDIS_KIB (peak RSS of its private redis-server).
pacer_run() {
  local file=$1 watch=${2:-} log=$TMP/pacer.log t0 t1 times cpu_line job w
  rm -f "$TMP/redis.hwm" "$TMP"/alloc.*
  t0=$(now_s)
  {
    {
      TIMEFORMAT='%U %S'
      # shellcheck disable=SC2046 # preload prints words for env
      time env $(preload) timeout -k 10 "$RUN_DEADLINE_S" "$PACER" run "$file" \
        --concurrency "$CONC" --out /dev/null --log-level info 2>&1
    } 2>"$TMP/pacer.time" | stamp >"$log"
  } &
  job=$!
  w=
  if [[ -n $watch ]]; then
    watch_redis "$job" "$TMP/redis.hwm" &
    w=$!
  fi
  wait "$job"
  P_STATUS=$?
  t1=$(now_s)
  [[ -z $w ]] || wait "$w"
  P_REDIS_KIB=$(cat "$TMP/redis.hwm" 2>/dev/null || echo "?")
  times=$(tail -n 1 "$TMP/pacer.time")
  cpu_line=$(grep -m1 '^[0-9.]* run: cpu' "$log")
  P_T_QUEUED=$(first_stamp 'run: queued' "$log")
  P_T_STOPPING=$(first_stamp 'msg="stopping"' "$log")
  P_T_DONE=$(first_stamp ' done: ' "$log")
  P_WALL=$(calc "$t1 - $t0")
  P_SUBMIT=$(calc "${P_T_QUEUED:-$t0} - $t0")
  P_ACTIVE=$(calc "${P_T_STOPPING:-$t1} - ${P_T_QUEUED:-$t0}")
  P_TAIL=$(calc "${P_T_DONE:-$t1} - ${P_T_STOPPING:-$t1}")
  P_EXPORT=$(calc "$t1 - ${P_T_DONE:-$t1}")
  P_CPU=$(sed -n 's/.*run: cpu \([0-9.]*\) s.*/\1/p' <<<"$cpu_line")
  P_RSS=$(sed -n 's/.*peak rss \([0-9]*\) KiB.*/\1/p' <<<"$cpu_line")
  P_CPU_ALL=$(awk '{ printf "%.2f", $1 + $2 }' <<<"$times")
  P_ALLOCS=$(allocs_per_job "$(wc -l <"$file")")
  P_WROTE=$(sed -n 's/.*run: wrote \([0-9]*\) result.*/\1/p' "$log")
  P_SUMMARY=$(grep -m1 ' done: ' "$log" | cut -d' ' -f2-)
  if ((P_STATUS != 0)) || [[ -z $P_CPU ]]; then
    echo "throughput.sh: pacer run $file failed (exit $P_STATUS):" >&2
    sed 's/^[0-9.]* //' "$log" | tail -n 20 >&2
    exit 1
  fi
}

# used_memory SOCK: INFO used_memory of the redis-server on SOCK, bytes.
used_memory() {
  redis-cli -s "$1" INFO memory | tr -d '\r' | sed -n 's/^used_memory://p'
}

# proc_cpu_s PID: CPU seconds (user + system) used so far by PID.
proc_cpu_s() {
  local f
  read -r -a f <"/proc/$1/stat" 2>/dev/null || return 1
  calc "(${f[13]} + ${f[14]}) / $(getconf CLK_TCK)"
}

# worker_run COUNT FILE [THREADS [PROCS]]: queues FILE into a Redis of its
# own with `pacer submit`, runs PROCS `pacer worker` processes (default 1)
# with --workers THREADS (default: pacer's own, online CPUs) until the
# stream, pending list and delayed set are empty, and sets W_WALL (worker
# start to drained), W_RSS (VmHWM of the first worker, KiB), W_REDIS_KIB,
# W_CPU_PACER and W_CPU_REDIS (CPU s of the workers and of redis-server
# from the workers' start to drained), W_ALLOCS (allocations per job), and
# the
# Redis memory (INFO used_memory, bytes): W_MEM_GROWTH (drained minus
# before the submit: what the finished jobs leave behind, results stream
# and result index included) and W_MEM_MARKS (the done-markers' part: the
# drop when they are deleted afterwards).
worker_run() {
  local n=$1 file=$2 threads=${3:-0} procs=${4:-1} dir=$TMP/wr rpid url t0
  local st deadline wpids=() wflags=() i p live
  local jobs=unknown pend=unknown dly=unknown
  ((threads == 0)) || wflags=(--workers "$threads")
  rm -f "$TMP"/alloc.*
  mkdir -p "$dir"
  redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
    --save "" --appendonly no --dir "$dir" --logfile "$dir/redis.log" \
    --daemonize no >/dev/null 2>&1 &
  rpid=$!
  deadline=$((SECONDS + 10))
  until [[ -S $dir/redis.sock ]] || ((SECONDS >= deadline)); do
    sleep 0.02 # polling a condition with a deadline
  done
  url=unix://$dir/redis.sock
  local m0 m1 m2 c0 c1 p1
  m0=$(used_memory "$dir/redis.sock")
  if ! timeout -k 5 "$RUN_DEADLINE_S" "$PACER" submit --redis "$url" \
    "$file" >/dev/null 2>"$dir/submit.err"; then
    echo "throughput.sh: pacer submit failed:" >&2
    cat "$dir/submit.err" >&2
    kill "$rpid"
    wait "$rpid"
    exit 1
  fi
  # Script calls and Redis command time of the drain alone (INFO
  # commandstats), not of the submit.
  redis-cli -s "$dir/redis.sock" CONFIG RESETSTAT >/dev/null
  t0=$(now_s)
  c0=$(proc_cpu_s "$rpid")
  for ((i = 0; i < procs; i++)); do
    # shellcheck disable=SC2046 # preload prints words for env
    env $(preload) timeout -k 10 "$RUN_DEADLINE_S" "$PACER" worker \
      --redis "$url" --concurrency "$CONC" "${wflags[@]}" --log-level warn \
      2>>"$dir/worker.err" &
    wpids+=($!)
  done
  deadline=$((SECONDS + RUN_DEADLINE_S))
  live=1
  while ((SECONDS < deadline)) && ((live)); do
    for p in "${wpids[@]}"; do
      kill -0 "$p" 2>/dev/null || live=0
    done
    st=$("$PACER" stats --redis "$url" --json 2>/dev/null)
    jobs=$(sed -n 's/^[^[]*"jobs":\([0-9]*\).*/\1/p' <<<"$st")
    pend=$(sed -n 's/^[^[]*"pending":\([0-9]*\).*/\1/p' <<<"$st")
    dly=$(sed -n 's/^[^[]*"delayed":\([0-9]*\).*/\1/p' <<<"$st")
    [[ $jobs == 0 && $pend == 0 && $dly == 0 ]] && break
    sleep 0.2 # polling a condition with a deadline
  done
  W_WALL=$(calc "$(now_s) - $t0")
  c1=$(proc_cpu_s "$rpid")
  W_CPU_PACER=0
  for p in "${wpids[@]}"; do
    # the env/timeout(1) wrapper's child is the worker
    p1=$(proc_cpu_s "$(pgrep -P "$p" -x pacer)")
    W_CPU_PACER=$(calc "$W_CPU_PACER + ${p1:-0}")
  done
  W_CPU_REDIS=$(calc "$c1 - $c0")
  local cst
  cst=$(redis-cli -s "$dir/redis.sock" INFO commandstats | tr -d '\r')
  W_SCRIPTS=$(awk -F'[=,:]' '/^cmdstat_eval(sha)?:/ { n += $3 }
    END { print n + 0 }' <<<"$cst")
  # (scripts only: Redis 7 also counts the commands a script runs)
  W_CMD_USEC=$(awk -F'[=,:]' '/^cmdstat_eval(sha)?:/ { u += $5 }
    END { print u + 0 }' <<<"$cst")
  m1=$(used_memory "$dir/redis.sock")
  redis-cli -s "$dir/redis.sock" --scan --pattern 'pacer:done*' |
    xargs -r -n 1000 redis-cli -s "$dir/redis.sock" DEL >/dev/null
  m2=$(used_memory "$dir/redis.sock")
  W_MEM_GROWTH=$((m1 - m0))
  W_MEM_MARKS=$((m1 - m2))
  W_RSS=$(awk '/^VmHWM:/ { print $2 }' \
    "/proc/$(pgrep -P "${wpids[0]}" -x pacer)/status" 2>/dev/null)
  W_REDIS_KIB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$rpid/status")
  # SIGTERM to each worker itself: timeout(1) would pass a signal on to the
  # worker and to its process group, and a second signal makes pacer exit
  # at once, without writing its allocation count.
  for p in "${wpids[@]}"; do
    p1=$(pgrep -P "$p" -x pacer) && kill "$p1" 2>/dev/null
  done
  wait "${wpids[@]}"
  W_ALLOCS=$(allocs_per_job "$n")
  kill "$rpid" 2>/dev/null
  wait "$rpid"
  if [[ $jobs != 0 || $pend != 0 || -z $W_RSS ]]; then
    echo "throughput.sh: pacer worker did not drain $n jobs within" \
      "$RUN_DEADLINE_S s:" >&2
    tail -n 20 "$dir/worker.err" >&2
    exit 1
  fi
  rm -rf "$dir"
}

u0=$(upstream_cpu_s)
pacer_run "$TMP/jobs.jsonl"
u1=$(upstream_cpu_s)
P_UP=$(calc "($u1 - $u0) * 1000 / $N")

# ------------------------------------------------------------------
# Table

RAW_RATE=$(kv req_per_s "$RAW_REUSE")
scale=()
row() { printf '%-31s %8s %9s %11s %11s %10s %7s\n' "$@"; }
echo
row "" "wall s" "jobs/s" "CPU s/1000" "upstr s/1k" "peak RSS" "ratio"
row "" "" "" "(client)" "" "KiB" "/raw"
for line in "$RAW_REUSE" "$RAW_FRESH"; do
  mode=$(kv mode "$line")
  rate=$(kv req_per_s "$line")
  up=$RAW_REUSE_UP
  [[ $mode == fresh ]] && up=$RAW_FRESH_UP
  label="raw curl multi ($mode)"
  [[ $mode == reuse ]] && label="raw curl multi (reuse, median)"
  row "$label" "$(kv wall_s "$line")" "$rate" \
    "$(kv cpu_s_per_1000 "$line")" "$up" "$(kv peak_rss_kib "$line")" \
    "$(calc "$rate / $RAW_RATE" | awk '{ printf "%.2f", $1 }')"
done
e2e_rate=$(calc "$N / $P_WALL" | awk '{ printf "%.0f", $1 }')
act_rate=$(calc "$N / $P_ACTIVE" | awk '{ printf "%.0f", $1 }')
row "pacer run, end to end" "$(printf '%.3f' "$P_WALL")" "$e2e_rate" \
  "$(calc "$P_CPU * 1000 / $N" | awk '{ printf "%.4f", $1 }')" "$P_UP" \
  "$P_RSS" "$(calc "$e2e_rate / $RAW_RATE" | awk '{ printf "%.2f", $1 }')"
row "  same, CPU incl. redis-server" "" "" \
  "$(calc "$P_CPU_ALL * 1000 / $N" | awk '{ printf "%.4f", $1 }')" "" "" ""
row "pacer execution phase only" "$(printf '%.3f' "$P_ACTIVE")" "$act_rate" \
  "" "" "" "$(calc "$act_rate / $RAW_RATE" | awk '{ printf "%.2f", $1 }')"
echo
printf 'pacer phases: start+submit %.3f s, execution %.3f s, stop %.3f s,' \
  "$P_SUBMIT" "$P_ACTIVE" "$P_TAIL"
printf ' export %.3f s\n' "$P_EXPORT"
echo "pacer summary: $P_SUMMARY; exported $P_WROTE result(s)"
echo "raw (reuse) req/s over three runs: $RAW_REUSE_ALL"
echo "allocations (libcurl, raw): reuse $(kv allocs_per_req "$RAW_REUSE")" \
  "allocs $(kv alloc_bytes_per_req "$RAW_REUSE") B/req; fresh" \
  "$(kv allocs_per_req "$RAW_FRESH") allocs" \
  "$(kv alloc_bytes_per_req "$RAW_FRESH") B/req"
echo "aim: end to end >= 0.40 of raw (reuse):" \
  "$(calc "$e2e_rate / $RAW_RATE" | awk '{ print ($1 >= 0.40) ? "met" : "NOT met" }')"


# ------------------------------------------------------------------
# pacer worker on a pre-filled queue: CPU split and Redis bytes per job

echo
echo "pacer worker, $N jobs pre-filled with pacer submit, its own Redis;" \
  "pacer run from the table above"
echo "  (allocs: all malloc/calloc/realloc calls of pacer per job, start-up" \
  "included; Redis B: used_memory drained minus before the submit, results" \
  "stream and index included; marks: the done-markers' part)"
row3() { printf '%-22s %8s %6s %11s %11s %8s %9s %7s %8s %8s\n' "$@"; }
row3 "" "jobs/s" "ratio" "pacer CPU" "redis CPU" "allocs" "Redis B" "marks" \
  "scripts" "script"
row3 "" "" "/raw" "ms/job" "ms/job" "/job" "/job" "B/job" "/job" "us/job"
w1_rate=
for mode in "1 1" "2 1" "1 2"; do
  read -r threads procs <<<"$mode"
  worker_run "$N" "$TMP/jobs.jsonl" "$threads" "$procs"
  w_rate=$(calc "$N / $W_WALL" | awk '{ printf "%.0f", $1 }')
  [[ -n $w1_rate ]] || w1_rate=$w_rate
  label="worker, $threads thread(s)"
  ((procs == 1)) || label="worker, $procs processes"
  row3 "$label" "$w_rate" "$(calc "$w_rate / $RAW_RATE" |
    awk '{ printf "%.2f", $1 }')" \
    "$(calc "$W_CPU_PACER * 1000 / $N" | awk '{ printf "%.4f", $1 }')" \
    "$(calc "$W_CPU_REDIS * 1000 / $N" | awk '{ printf "%.4f", $1 }')" \
    "$W_ALLOCS" "$(calc "$W_MEM_GROWTH / $N" | awk '{ printf "%.0f", $1 }')" \
    "$(calc "$W_MEM_MARKS / $N" | awk '{ printf "%.0f", $1 }')" \
    "$(calc "$W_SCRIPTS / $N" | awk '{ printf "%.3f", $1 }')" \
    "$(calc "$W_CMD_USEC / $N" | awk '{ printf "%.1f", $1 }')"
  scale+=("$(calc "$w_rate / $w1_rate" | awk '{ printf "%.2f", $1 }')")
done
row3 "pacer run" "$e2e_rate" \
  "$(calc "$e2e_rate / $RAW_RATE" | awk '{ printf "%.2f", $1 }')" \
  "$(calc "$P_CPU * 1000 / $N" | awk '{ printf "%.4f", $1 }')" \
  "$(calc "($P_CPU_ALL - $P_CPU) * 1000 / $N" | awk '{ printf "%.4f", $1 }')" \
  "$P_ALLOCS" "-" "-" "-" "-"
echo "  (pacer run: its private Redis is gone at exit, so no Redis bytes;" \
  "its redis CPU is the children's CPU from time(1))"
echo "scaling over 1 thread: 2 threads ${scale[1]}, 2 processes" \
  "${scale[2]} (aim >= 1.6)"

# ------------------------------------------------------------------
# RSS as the backlog grows

if ((RSS_LARGE == 0)); then
  exit 0
fi
echo
echo "RSS with a growing backlog (the backlog itself lives in redis-server)"
echo "  pacer run: one process, private Redis, keeps the batch's job ids"
echo "  pacer worker: the daemon, after \`pacer submit\` queued the backlog"
row2() { printf '%-22s %8s %9s %11s %11s %10s\n' "$@"; }
row2 "" "wall s" "jobs/s" "pacer KiB" "redis KiB" "exported"

rss_run=()
rss_worker=()
for n in "$RSS_SMALL" "$RSS_LARGE"; do
  gen_jobs "$n" "$TMP/backlog.jsonl"
  pacer_run "$TMP/backlog.jsonl" watch
  rss_run+=("$P_RSS")
  row2 "pacer run $n" "$(printf '%.3f' "$P_WALL")" \
    "$(calc "$n / $P_WALL" | awk '{ printf "%.0f", $1 }')" "$P_RSS" \
    "$P_REDIS_KIB" "$P_WROTE"
  if ((P_WROTE < n)); then
    echo "  note: only $P_WROTE of $n results exported: the results stream" \
      "is capped (results_maxlen, default 100000) during the run"
  fi
  worker_run "$n" "$TMP/backlog.jsonl"
  rss_worker+=("$W_RSS")
  row2 "pacer worker $n" "$(printf '%.3f' "$W_WALL")" \
    "$(calc "$n / $W_WALL" | awk '{ printf "%.0f", $1 }')" "$W_RSS" \
    "$W_REDIS_KIB" "-"
done
rm -f "$TMP/backlog.jsonl"

# verdict SMALL LARGE: the ratio and whether it is within 1.25.
verdict() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    r = b / a
    printf "%.2f (%s, threshold 1.25)", r, r <= 1.25 ? "flat" : "NOT flat"
  }'
}
echo "peak RSS ratio ${RSS_LARGE}/${RSS_SMALL}: pacer run" \
  "$(verdict "${rss_run[0]}" "${rss_run[1]}"); pacer worker" \
  "$(verdict "${rss_worker[0]}" "${rss_worker[1]}")"
