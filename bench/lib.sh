# bench/lib.sh: helpers shared by bench/accuracy.sh and bench/refresh.sh.
# Sourced, not run. The caller sets ME (its name, for messages) before
# sourcing, and PACER, API, BUILD and KEEP before calling the helpers below.
#
# Process model: every process runs under timeout(1), started with bg;
# PIDS holds the wrappers still running, and the EXIT trap set by bench_tmp
# stops them all. Only pids this script started are ever signalled.
# Variables set here for the caller (REDIS_URL, API_PID, ...) and the
# caller's own (ME, PACER, KEEP, ...) are unknown to shellcheck one file at a
# time:
# shellcheck shell=bash disable=SC2034,SC2153,SC2154

if [[ -z ${EPOCHREALTIME-} ]]; then
  echo "$ME: needs bash >= 5 (EPOCHREALTIME)" >&2
  exit 2
fi

die() {
  echo "$ME: $*" >&2
  exit 2
}
# num_ok N MIN MAX: N is a whole number in MIN..MAX.
num_ok() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2 && $1 <= $3)); }

# need_built: PACER and API exist in BUILD.
need_built() {
  local b
  for b in "$PACER" "$API"; do
    [[ -x $b ]] || die "$b: not built; run cmake --build $BUILD first"
  done
}
# need_cmds HINT CMD...: every CMD is on PATH; HINT says how to install.
need_cmds() {
  local hint=$1 c
  shift
  for c in "$@"; do
    command -v "$c" >/dev/null || die "$c not on PATH ($hint)"
  done
}

# bench_tmp NAME: makes TMP (/tmp/NAME-XXXXXX), empties PIDS and sets the
# traps: on exit everything in PIDS is stopped and TMP removed (kept with
# KEEP=1); INT/TERM/HUP/PIPE exit through the EXIT trap.
bench_tmp() {
  TMP=$(mktemp -d "/tmp/$1-XXXXXX")
  PIDS=() # timeout(1) wrappers of everything running; each forwards TERM
  trap cleanup EXIT
  trap 'echo "$ME: interrupted" >&2; exit 130' INT TERM
  trap 'exit 129' HUP
  trap 'exit 141' PIPE # output closed (e.g. | head): still clean up
}
cleanup() {
  trap - EXIT INT TERM HUP PIPE
  ((${#PIDS[@]} == 0)) || stop_pids "${PIDS[@]}"
  PIDS=()
  if [[ $KEEP == 1 ]]; then
    echo "$ME: logs kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}

# stop_pids PID...: TERM, then wait_pids. Only pids this script started.
stop_pids() {
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  wait_pids "$@"
}
# wait_pids PID...: waits up to 40 s (pacer's shutdown grace is 30 s), then
# KILLs what is left: the wrapper's own child first, then the wrapper.
wait_pids() {
  local p deadline=$((SECONDS + 40))
  for p in "$@"; do
    while kill -0 "$p" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.05 # polling a condition with a deadline
    done
    if kill -0 "$p" 2>/dev/null; then
      pkill -KILL -P "$p" 2>/dev/null
      kill -KILL "$p" 2>/dev/null
    fi
    wait "$p" 2>/dev/null
  done
}

# bg DEADLINE_S OUT ERR CMD...: starts CMD under timeout(1) in the
# background, appends the wrapper's pid to PIDS and sets BG_PID.
bg() {
  local dl=$1 out=$2 err=$3
  shift 3
  timeout -k 5 "$dl" "$@" >"$out" 2>"$err" &
  BG_PID=$!
  PIDS+=("$BG_PID")
}
# forget PID...: drops stopped pids from PIDS.
forget() {
  local p q keep=()
  for p in "${PIDS[@]}"; do
    for q in "$@"; do [[ $p == "$q" ]] && continue 2; done
    keep+=("$p")
  done
  PIDS=("${keep[@]}")
}

# start_redis DIR DEADLINE: a private redis-server on DIR/redis.sock; sets
# REDIS_PID, SOCK and REDIS_URL.
start_redis() {
  local dir=$1 deadline
  bg "$2" "$dir/redis.out" "$dir/redis.err" redis-server --port 0 \
    --unixsocket "$dir/redis.sock" --unixsocketperm 700 --save "" \
    --appendonly no --dir "$dir" --logfile "$dir/redis.log" --daemonize no
  REDIS_PID=$BG_PID
  SOCK=$dir/redis.sock
  REDIS_URL=unix://$SOCK
  deadline=$((SECONDS + 10))
  until redis-cli -s "$SOCK" PING 2>/dev/null | grep -q PONG; do
    if ((SECONDS >= deadline)); then
      echo "$ME: redis-server did not start:" >&2
      tail -n 5 "$dir/redis.log" >&2
      exit 1
    fi
    sleep 0.02 # polling a condition with a deadline
  done
}

# start_api DIR DEADLINE ARGS...: pacer-testapi on a free loopback port,
# request log in DIR/api.jsonl; sets API_PID and PORT.
start_api() {
  local dir=$1 dl=$2 deadline
  shift 2
  bg "$dl" "$dir/api.out" "$dir/api.err" "$API" --port 0 --seed 1 \
    --log "$dir/api.jsonl" "$@"
  API_PID=$BG_PID
  PORT=
  deadline=$((SECONDS + 10))
  while [[ -z $PORT ]]; do
    PORT=$(sed -n 's/^listening port=\([0-9]*\)$/\1/p' "$dir/api.out" 2>/dev/null)
    [[ -n $PORT ]] && break
    if ((SECONDS >= deadline)); then
      echo "$ME: pacer-testapi did not start:" >&2
      cat "$dir/api.err" >&2
      exit 1
    fi
    sleep 0.02 # polling a condition with a deadline
  done
}

# start_workers N DEADLINE DIR: N `pacer worker --config DIR/pacer.json`,
# logs in DIR/workerI.log; sets WPIDS to their wrappers.
start_workers() {
  local i
  WPIDS=()
  for ((i = 1; i <= $1; i++)); do
    bg "$2" "$3/worker$i.out" "$3/worker$i.log" \
      "$PACER" worker --config "$3/pacer.json"
    WPIDS+=("$BG_PID")
  done
}

# api_stats: the upstream's /stats JSON ('{}' if it does not answer).
api_stats() { curl -fsS --max-time 5 "http://127.0.0.1:$PORT/stats" || echo '{}'; }

# AWK_STATS: awk functions to put in front of an awk program.
#   pct(a, n, p)   p-th percentile of the sorted a[1..n] (0 if n == 0)
#   qs(a, lo, hi)  sorts a[lo..hi] in place (mawk has no asort)
AWK_STATS='
    function pct(a, n, p,   i) { if (n == 0) return 0; i = int(p / 100 * (n - 1) + 0.5); return a[i + 1] }
    function qs(a, lo, hi,   i, j, x, y) {
      if (lo >= hi) return
      x = a[int((lo + hi) / 2)]; i = lo; j = hi
      while (i <= j) {
        while (a[i] < x) i++
        while (a[j] > x) j--
        if (i <= j) { y = a[i]; a[i] = a[j]; a[j] = y; i++; j-- }
      }
      qs(a, lo, j); qs(a, i, hi)
    }'
