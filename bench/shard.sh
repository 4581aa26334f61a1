#!/usr/bin/env bash
# bench/shard.sh [N] [BUILD_DIR]
#
# How many `pacer worker` processes one Redis shard carries, at what job
# rate (docs/DEPLOY.md). For each process count P in PACER_BENCH_PROCS
# (default "1 2 4"): N GET /fast jobs are queued with `pacer submit` into
# one private redis-server (unix socket, no persistence), P workers are
# started on the same queue, and the run ends when N results are in. It
# prints the job rate and the share of one core Redis used (INFO cpu), the
# figure that says how close the shard is to its limit.
#
#   N          jobs per run (default 20000)
#   BUILD_DIR  cmake build dir (default: <repo>/build)
#
# Environment (optional):
#   PACER_BENCH_PROCS        process counts to run (default "1 2 4")
#   PACER_BENCH_CONCURRENCY  transfers in flight per process (default 64)
#   PACER_BENCH_THREADS      worker threads per process (default 1)
#
# Bounded: every run has a 300 s deadline; everything is on 127.0.0.1.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${1:-20000}
BUILD=${2:-$here/../build}
PROCS=${PACER_BENCH_PROCS:-1 2 4}
CONC=${PACER_BENCH_CONCURRENCY:-64}
THREADS=${PACER_BENCH_THREADS:-1}
PACER=$BUILD/cli/pacer
API=$BUILD/tests/upstream/pacer-testapi

for n in "$N" "$CONC" "$THREADS" $PROCS; do
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 1000000)); then
    echo "shard.sh: \"$n\" is not a whole number from 1 to 1000000" >&2
    exit 2
  fi
done
for b in "$PACER" "$API"; do
  [[ -x $b ]] || { echo "shard.sh: $b: not built" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/pacer-shard-XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
sock=$tmp/redis.sock
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save "" \
  --appendonly no --dir "$tmp" --logfile "$tmp/redis.txt" \
  --maxmemory-policy noeviction --daemonize no &
pids+=($!)
"$API" --port 0 >"$tmp/api.out" 2>"$tmp/api.log" &
pids+=($!)
for _ in $(seq 1 200); do
  redis-cli -s "$sock" PING 2>/dev/null | grep -q PONG &&
    grep -q '^listening port=' "$tmp/api.out" && break
  sleep 0.05
done
port=$(sed -n 's/^listening port=\([0-9]*\).*/\1/p' "$tmp/api.out" | head -1)
[[ -n $port ]] || { echo "shard.sh: pacer-testapi did not start" >&2; exit 1; }
awk -v n="$N" -v p="$port" 'BEGIN { for (i = 1; i <= n; i++)
  printf "{\"id\":\"j%d\",\"url\":\"http://127.0.0.1:%s/fast\"}\n", i, p }' >"$tmp/jobs.jsonl"
cpu() { # Redis's user + sys CPU seconds so far
  redis-cli -s "$sock" INFO cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.3f", s }'
}

printf '%-6s %10s %10s %12s\n' procs jobs jobs/s redis_cpu
for P in $PROCS; do
  prefix="bench:$P:"
  cfg=$tmp/p$P.json
  printf '{"redis_url": "unix://%s", "prefix": "%s", "workers": %s, "concurrency": %s}\n' \
    "$sock" "$prefix" "$THREADS" "$CONC" >"$cfg"
  "$PACER" submit --config "$cfg" "$tmp/jobs.jsonl" 2>"$tmp/submit.log" ||
    { echo "shard.sh: submit failed: $(cat "$tmp/submit.log")" >&2; exit 1; }
  wp=()
  c0=$(cpu)
  t0=$(now_ms)
  for i in $(seq 1 "$P"); do
    "$PACER" worker --config "$cfg" --log-level warn 2>"$tmp/w$P.$i.log" &
    wp+=($!)
    pids+=($!)
  done
  deadline=$((t0 + 300000))
  while (($(redis-cli -s "$sock" XLEN "${prefix}results") < N)); do
    (($(now_ms) > deadline)) && { echo "shard.sh: P=$P: deadline" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(now_ms)
  c1=$(cpu)
  kill -TERM "${wp[@]}" 2>/dev/null
  wait "${wp[@]}" 2>/dev/null
  awk -v p="$P" -v n="$N" -v ms=$((t1 - t0)) -v c0="$c0" -v c1="$c1" 'BEGIN {
    printf "%-6d %10d %10.0f %11.0f%%\n", p, n, n * 1000 / ms, (c1 - c0) * 100000 / ms }'
  redis-cli -s "$sock" FLUSHALL >/dev/null
done
