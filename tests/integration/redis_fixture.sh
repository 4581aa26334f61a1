#!/usr/bin/env bash
# ctest fixture: start|stop a private redis-server for the integration
# tests, on a unix socket in DIR (hiredis test.sh pattern): no port, no
# persistence, pidfile, waits for the socket with a deadline.
set -eu
cmd=$1
dir=$2

# stop_old: stops the redis-server of the pidfile and waits until it has
# exited: on its way out it removes the socket file and the pidfile, which
# by then may be the next fixture's (a stop followed at once by a start,
# as in back-to-back ctest runs).
stop_old() {
  local pid
  [ -f "$dir/redis.pid" ] || return 0
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 0
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
}

case "$cmd" in
start)
  mkdir -p "$dir"
  stop_old
  rm -f "$dir/redis.sock" "$dir/redis.pid"
  redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
    --save "" --appendonly no --dir "$dir" --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --daemonize yes --maxmemory-policy noeviction
  for _ in $(seq 1 200); do
    if redis-cli -s "$dir/redis.sock" PING 2>/dev/null | grep -q PONG; then
      echo "redis fixture ready: $dir/redis.sock"
      exit 0
    fi
    sleep 0.05
  done
  echo "redis-server did not come up; see $dir/redis.log" >&2
  exit 1
  ;;
stop)
  stop_old
  exit 0
  ;;
esac
echo "usage: $0 start|stop DIR" >&2
exit 2
