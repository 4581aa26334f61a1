#!/usr/bin/env bash
# rediss:// against redis-server --tls-port with client certificates
# (--tls-auth-clients yes), certificates made here with the openssl CLI
# (docs/REDIS.md "TLS"):
# - pacer submit (the synchronous pump) and the worker (the pump on its
#   libuv loop) run a batch over TLS, with ca_file, cert_file, key_file and
#   server_name from the config's "redis_tls" (and from the URL for the
#   wrong CA and insecure=1);
# - a wrong CA: `pacer stats` and `pacer worker` stop at once with an error
#   that names the refused certificate and ca_file, without retrying;
# - mid-batch, the server rotates to a certificate from another CA and
#   drops its clients: the worker logs the refused certificate and backs
#   off (no retry storm: a bounded number of handshakes); rotated again to
#   a new certificate from the right CA, it reconnects and every job ends
#   with exactly one result;
# - insecure=1 is logged as a warning at every connect.
# Redis's unix socket is the test's own side door (rcli).
. "$(dirname "$0")/lib.sh"

REDIS_SOCK="$TEST_TMP/redis.sock"
C="$TEST_TMP/certs"
mkdir -p "$C"

# mkca NAME: a self-signed CA in $C/NAME.crt and .key.
mkca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$C/$1.key" -out "$C/$1.crt" -days 2 -subj "/CN=pacer test $1" \
    2>/dev/null || fail "openssl: CA $1"
}
# mkcert NAME CA CN [SAN]: a certificate signed by CA.
mkcert() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$C/$1.key" -out "$C/$1.csr" -subj "/CN=$3" 2>/dev/null ||
    fail "openssl: key $1"
  printf '%s\n' "${4:-extendedKeyUsage=clientAuth}" >"$C/$1.ext"
  openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.crt" -CAkey "$C/$2.key" \
    -CAcreateserial -out "$C/$1.crt" -days 2 -extfile "$C/$1.ext" \
    2>/dev/null || fail "openssl: sign $1"
}
SAN='subjectAltName=DNS:redis.test,IP:127.0.0.1'
mkca ca
mkca other
mkcert server ca redis.test "$SAN"
mkcert server2 ca redis.test "$SAN"
mkcert rogue other redis.test "$SAN"
mkcert client ca pacer-client

# A free TCP port for the TLS listener: a few random tries (redis-server
# cannot report a kernel-chosen one).
port=""
for try in 1 2 3 4 5 6 7 8 9 10; do
  p=$(( 20000 + (RANDOM * 7 + try) % 30000 ))
  redis-server --port 0 --tls-port "$p" --bind 127.0.0.1 \
    --tls-cert-file "$C/server.crt" --tls-key-file "$C/server.key" \
    --tls-ca-cert-file "$C/ca.crt" --tls-auth-clients yes \
    --unixsocket "$REDIS_SOCK" --unixsocketperm 700 --save "" \
    --appendonly no --dir "$TEST_TMP" --logfile "$TEST_TMP/redis-server.txt" \
    --maxmemory-policy noeviction --daemonize no &
  rpid=$!
  if wait_until 5 'redis-cli -s "$REDIS_SOCK" PING | grep -q PONG' &&
    alive "$rpid" && redis-cli --tls --cacert "$C/ca.crt" --cert "$C/client.crt" \
    --key "$C/client.key" -h 127.0.0.1 -p "$p" PING 2>/dev/null | grep -q PONG; then
    port=$p
    PIDS+=($rpid)
    break
  fi
  kill -9 "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null
  rm -f "$REDIS_SOCK"
done
[ -n "$port" ] || fail "no TLS redis-server after 10 tries (is redis built with TLS?)"

# host 127.0.0.1, name checked: redis.test (server_name)
BADURL="rediss://127.0.0.1:$port/0?ca_file=$C/other.crt&cert_file=$C/client.crt&key_file=$C/client.key&server_name=redis.test"
cfg() { # cfg FILE URL
  printf '{"redis_url": "%s", "prefix": "%s", "workers": 1, "concurrency": 16, "lease_ms": 5000}\n' \
    "$2" "$PREFIX" >"$1"
}
# The good config names the files in "redis_tls", the bad one in the URL.
printf '{"redis_url": "rediss://127.0.0.1:%s/0", "redis_tls": {"ca_file": "%s", "cert_file": "%s", "key_file": "%s", "server_name": "redis.test"}, "prefix": "%s", "workers": 1, "concurrency": 16, "lease_ms": 5000}\n' \
  "$port" "$C/ca.crt" "$C/client.crt" "$C/client.key" "$PREFIX" >"$TEST_TMP/pacer.json"
cfg "$TEST_TMP/bad.json" "$BADURL"

# 1. A wrong CA: a clear error at once, no retry.
t0=$(now_ms)
"$PACER" stats --config "$TEST_TMP/bad.json" >"$TEST_TMP/stats-bad.out" 2>&1 &&
  fail "stats ran with a wrong CA"
grep -q 'certificate refused.*check ca_file' "$TEST_TMP/stats-bad.out" ||
  fail "stats, wrong CA: unclear error: $(cat "$TEST_TMP/stats-bad.out")"
"$PACER" worker --config "$TEST_TMP/bad.json" >"$TEST_TMP/bad.out" 2>"$TEST_TMP/bad.log" &
bpid=$!
PIDS+=($bpid)
wait_until 10 '! alive '"$bpid" || fail "the worker ran with a wrong CA"
wait "$bpid"; rc=$?
[ "$rc" -ne 0 ] || fail "worker, wrong CA: exit 0"
grep -q 'certificate refused' "$TEST_TMP/bad.log" ||
  fail "worker, wrong CA: unclear error: $(cat "$TEST_TMP/bad.log")"
grep -q 'waiting for Redis' "$TEST_TMP/bad.log" &&
  fail "worker, wrong CA: it waited and retried instead of stopping"
t_bad=$(( $(now_ms) - t0 ))

# 2. A batch over TLS: submit (sync pump), worker (uv pump).
start_testapi
N=400
for i in $(seq 1 $N); do
  printf '{"id":"t-%03d","url":"%s/slow?ms=40"}\n' "$i" "$TESTAPI_URL"
done >"$TEST_TMP/jobs.jsonl"
"$PACER" submit --config "$TEST_TMP/pacer.json" "$TEST_TMP/jobs.jsonl" \
  >"$TEST_TMP/submit.out" 2>"$TEST_TMP/submit.log" || fail "submit over TLS failed"
[ "$(rcli XLEN "${PREFIX}jobs")" -eq $N ] || fail "submit queued $(rcli XLEN "${PREFIX}jobs") of $N"
start_worker "$TEST_TMP/pacer.json"
wait_until 30 'test "$(results_count)" -ge 50' ||
  fail "no results over TLS: $(results_count)"

# 3. The server rotates to a certificate of another CA and drops every
# client: the worker must refuse it and back off.
rcli CONFIG SET tls-cert-file "$C/rogue.crt" tls-key-file "$C/rogue.key" >/dev/null ||
  fail "CONFIG SET rogue certificate"
r0=$(results_count)
rcli CLIENT KILL TYPE normal >/dev/null
rcli CLIENT KILL TYPE pubsub >/dev/null
wait_until 10 'grep -q "certificate refused" "$TEST_TMP/worker.log"' ||
  fail "the worker did not report the refused certificate"
# The outage: 8 s with the rogue certificate (the scenario, not a sync wait).
sleep 8
refused=$(grep -c 'TLS connection failed.*certificate refused' "$TEST_TMP/worker.log")
# Each connection (intake, cmd, credential events) backs off 100 ms, 200,
# ... up to 5 s: about 7 handshakes each in 8 s. A storm would be hundreds.
[ "$refused" -le 30 ] || fail "retry storm: $refused refused handshakes in 8 s"
[ "$(results_count)" -le $(( r0 + 16 )) ] ||
  fail "results kept coming with a refused certificate"
alive "$WORKER_PID" || fail "worker died with a refused certificate"

# 4. Rotated to a new certificate of the right CA: the worker reconnects
# (within its 5 s backoff cap) and finishes the batch.
rcli CONFIG SET tls-cert-file "$C/server2.crt" tls-key-file "$C/server2.key" >/dev/null ||
  fail "CONFIG SET server2 certificate"
tr0=$(now_ms)
wait_until 60 'test "$(results_count)" -ge '"$N" ||
  fail "only $(results_count) of $N results after the rotation"
t_rot=$(( $(now_ms) - tr0 ))
[ "$(results_ids | sort -u | wc -l)" -eq $N ] || fail "ids not unique"
[ "$(results_count)" -eq $N ] || fail "duplicate results: $(results_count)"
[ "$(stream_field results state | sort -u)" = ok ] || fail "not every job ok"
fp_now=$(openssl s_client -connect "127.0.0.1:$port" -cert "$C/client.crt" \
  -key "$C/client.key" -CAfile "$C/ca.crt" </dev/null 2>/dev/null |
  openssl x509 -noout -fingerprint -sha256)
fp2=$(openssl x509 -in "$C/server2.crt" -noout -fingerprint -sha256)
[ "$fp_now" = "$fp2" ] || fail "the server does not serve the rotated certificate"
"$PACER" stats --config "$TEST_TMP/pacer.json" >"$TEST_TMP/stats.out" 2>&1 ||
  fail "stats over TLS after the rotation: $(cat "$TEST_TMP/stats.out")"

# 5. insecure=1: works against the rogue-free server, loudly logged.
cfg "$TEST_TMP/insecure.json" "rediss://127.0.0.1:$port/0?insecure=1&cert_file=$C/client.crt&key_file=$C/client.key"
"$PACER" stats --config "$TEST_TMP/insecure.json" >"$TEST_TMP/insecure.out" 2>&1 ||
  fail "stats with insecure=1: $(cat "$TEST_TMP/insecure.out")"
grep -q 'level=warn.*checks are OFF (insecure=1)' "$TEST_TMP/insecure.out" ||
  fail "insecure=1 was not logged as a warning"

kill -TERM "$WORKER_PID"
wait_until 30 '! alive '"$WORKER_PID" || fail "worker did not stop"
pass "$N results over TLS, one each; wrong CA refused in ${t_bad} ms; $refused refused handshakes in 8 s with a rogue certificate; done ${t_rot} ms after the rotation"
