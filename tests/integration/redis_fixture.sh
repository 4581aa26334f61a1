#!/usr/bin/env bash
# ctest fixture: start|stop a private redis-server for the integration
# tests, on a unix socket in DIR (hiredis test.sh pattern): no port, no
# persistence, pidfile, waits for the socket with a deadline.
set -eu
cmd=$1
dir=$2
case "$cmd" in
start)
  mkdir -p "$dir"
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    kill "$(cat "$dir/redis.pid")" || true
  fi
  rm -f "$dir/redis.sock"
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
  if [ -f "$dir/redis.pid" ]; then
    kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  fi
  exit 0
  ;;
esac
echo "usage: $0 start|stop DIR" >&2
exit 2
