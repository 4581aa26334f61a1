#!/usr/bin/env bash
# store/ owns Redis (docs/REDIS.md, store/keys.h): no C file outside store/
# (tests/, fuzz/ and bench/ aside) sends a Redis command or carries a Lua
# script. Fails on a string literal that starts with a Redis command name
# ("XADD", "CONFIG GET ...") and on redis.call/redis.pcall or a hiredis
# command call (redisCommand, redisAppendCommand, redisGetReply,
# redisAsyncCommand). Usage: store_owns_redis.sh SOURCE_DIR
set -u
cd "$1" || exit 2


# Redis commands pacer uses or could; "GET" is left out (an HTTP method).
cmds='APPEND|AUTH|BLPOP|CLIENT|CONFIG|DEL|EVAL|EVALSHA|EXISTS|EXPIRE|HDEL'
cmds="$cmds|HGET|HGETALL|HINCRBY|HMGET|HSET|INCR|INFO|KEYS|MGET|MULTI|EXEC"
cmds="$cmds|PEXPIRE|PING|PUBLISH|PSUBSCRIBE|SCAN|SCRIPT|SELECT|SET"
cmds="$cmds|SUBSCRIBE|TIME|TYPE|UNLINK|XACK|XADD|XAUTOCLAIM|XCLAIM|XDEL"
cmds="$cmds|XGROUP|XINFO|XLEN|XPENDING|XRANGE|XREAD|XREADGROUP|XREVRANGE"
cmds="$cmds|XTRIM|ZADD|ZCARD|ZCOUNT|ZRANGE|ZRANGEBYSCORE|ZREM"
cmds="$cmds|ZREMRANGEBYSCORE|ZSCORE"
pattern="\"($cmds)( [^\"]*)?\"|redis\\.p?call|redis(Async)?Command"
pattern="$pattern|redisAppendCommand|redisGetReply"

status=0
while IFS= read -r f; do
  f=${f#./}
  if grep -nE "$pattern" "$f" >/dev/null; then
    grep -nE "$pattern" "$f" | sed "s|^|$f:|"
    status=1
  fi
done < <(find . \( -path ./.git -o -path './build*' -o -path ./store \
  -o -path ./tests -o -path ./fuzz -o -path ./bench \) -prune -o \
  -type f \( -name '*.c' -o -name '*.h' \) -print | sort)
if [ "$status" -ne 0 ]; then
  echo "store_owns_redis: Redis commands outside store/: move them into a" \
    "store/ function (keys in store/keys.h, scripts in store/lua/)"
fi
exit "$status"
