#!/usr/bin/env bash
# bench/refresh.sh [BUILD_DIR]
#
# OAuth2 refresh under load (docs/CREDENTIALS.md): P `pacer worker`
# processes x T worker threads share one credential whose access token lives
# 2 s, for 60 s, with the queue never empty. Prints:
#   - token POSTs per expiry            (aim: exactly 1.00)
#   - 401s per 1,000 requests
#   - invalid_grant, family revocations (aim: 0)
#   - failed jobs                       (aim: 0)
#   - the longest pause of a lane during a refresh
#                                       (aim: one token round trip + 10 ms)
#
#   BUILD_DIR  cmake build dir holding cli/pacer and
#              tests/upstream/pacer-testapi (default: <repo>/build)
#
# Per case (one per refresh_skew_s in PACER_REFRESH_SKEWS): a private
# redis-server on a unix socket in a temp dir; a fresh `pacer-testapi
# --require-auth --rotate --token-ttl TTLs --latency-ms LAT --log FILE`
# (every /v1 request needs a live Bearer token; a rotated refresh token used
# twice answers invalid_grant and revokes the whole family); one config
# (chmod 600) with one credential "acme" whose client secret and first
# refresh token come from environment variables; a feeder that tops
# `pacer:jobs` up with `pacer submit` batches of
# `PUT /v1/adaccounts/acc/campaigns` jobs (credential acme, Idempotency-Key =
# job id) whenever it falls under a low-water mark; then P workers for
# SECONDS. The feeder stops first, then the workers (SIGTERM: in-flight
# requests finish, held jobs go back to the queue).
#
# Figures:
#   - upstream /stats: token_posts, status_401, tokens{refreshed,
#     invalid_grant,family_revocations};
#   - upstream request log (arrival ms, path, status, token):
#       tokens used   distinct access tokens seen on successful /v1
#                     requests; each one is an expiry (or the first fetch)
#       POSTs/expiry  token POSTs / tokens used
#       pause (up)    per refresh: token POST arrival -> first /v1 arrival
#                     carrying the new token (token answer, commit script,
#                     publish, release, dispatch); it leaves out only the
#                     Redis round trip that takes the lock before the POST
#       silence       per refresh: last /v1 arrival before the token POST
#                     -> first /v1 arrival with the new token. It includes
#                     the lane's ordinary idle time before the refresh was
#                     triggered (a refresh starts at the first job start
#                     past expiry - skew), so compare it with:
#       gap           /v1 inter-arrival gaps outside the silences (the
#                     noise floor of this load on this machine)
#   - worker logs (ms timestamps, one file per process):
#       rtt           holder: msg="refreshing token" -> msg="token
#                     refreshed" (token round trip + the fenced commit
#                     script; the upstream log has no durations)
#       pause (log)   per process: holder's first "refreshing token" ->
#                     that process's "token refreshed" / "token in use"
#                     for the generation; the longest of the processes
#   The pause aim is checked per refresh on both pauses: <= rtt + SLACK.
#   - Redis: pacer:results states != ok, XLEN pacer:dead.
#
# Environment (optional):
#   PACER_REFRESH_PROCS        worker processes (default 3)
#   PACER_REFRESH_THREADS      worker threads per process (default 4)
#   PACER_REFRESH_SECONDS      seconds of load per case (default 60; 20 for
#                              a quick run)
#   PACER_REFRESH_TTL          access-token lifetime, whole s (default 2)
#   PACER_REFRESH_SKEWS        refresh_skew_s values, one case each
#                              (default "1 0"); each must be < TTL
#   PACER_REFRESH_LATENCY      upstream /v1 latency, ms, "A-B" or "0"
#                              (default "10-30")
#   PACER_REFRESH_CONCURRENCY  requests in flight per process (default 8)
#   PACER_REFRESH_BATCH        jobs per feeder batch, also the low-water
#                              mark of pacer:jobs (default 2000)
#   PACER_REFRESH_SLACK_MS     the pause aim's slack over the round trip
#                              (default 10)
#   PACER_REFRESH_KEEP         1 = keep the temp dir with every log
#
# Bounded: the load lasts SECONDS per case, each process runs under
# timeout(1), the feeder keeps at most ~2 x BATCH jobs queued, all traffic
# is on 127.0.0.1 or a unix socket. A trap stops everything started here
# on exit, Ctrl-C or SIGTERM. Not a ctest entry.
set -u -o pipefail

ME=refresh.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
BUILD=${1:-$here/../build}
PROCS=${PACER_REFRESH_PROCS:-3}
THREADS=${PACER_REFRESH_THREADS:-4}
SECS=${PACER_REFRESH_SECONDS:-60}
TTL=${PACER_REFRESH_TTL:-2}
SKEWS=${PACER_REFRESH_SKEWS:-1 0}
LATENCY=${PACER_REFRESH_LATENCY:-10-30}
CONC=${PACER_REFRESH_CONCURRENCY:-8}
BATCH=${PACER_REFRESH_BATCH:-2000}
SLACK=${PACER_REFRESH_SLACK_MS:-10}
KEEP=${PACER_REFRESH_KEEP:-0}

PACER=$BUILD/cli/pacer
API=$BUILD/tests/upstream/pacer-testapi

num_ok "$PROCS" 1 16 || die "PACER_REFRESH_PROCS \"$PROCS\" is not 1..16"
num_ok "$THREADS" 1 64 || die "PACER_REFRESH_THREADS \"$THREADS\" is not 1..64"
num_ok "$SECS" 5 600 || die "PACER_REFRESH_SECONDS \"$SECS\" is not 5..600"
num_ok "$TTL" 1 3600 || die "PACER_REFRESH_TTL \"$TTL\" is not 1..3600 (s)"
num_ok "$CONC" 1 4096 || die "PACER_REFRESH_CONCURRENCY \"$CONC\" is not 1..4096"
num_ok "$BATCH" 100 100000 || die "PACER_REFRESH_BATCH \"$BATCH\" is not 100..100000"
num_ok "$SLACK" 0 10000 || die "PACER_REFRESH_SLACK_MS \"$SLACK\" is not 0..10000"
[[ -n $SKEWS ]] || die "PACER_REFRESH_SKEWS is empty"
for s in $SKEWS; do
  num_ok "$s" 0 86400 || die "refresh_skew_s \"$s\" is not a whole number"
  ((s < TTL)) || die "refresh_skew_s $s is not below the TTL ($TTL s):" \
    "every use would refresh"
done
[[ $LATENCY =~ ^[0-9]+(-[0-9]+)?$ ]] ||
  die "PACER_REFRESH_LATENCY \"$LATENCY\" is not N or A-B"
need_built
need_cmds "apt-get install -y redis-server redis-tools jq coreutils gawk curl" \
  redis-server redis-cli jq timeout awk curl sort

bench_tmp pacer-refresh

# stop_workers WRAPPER...: TERM to each pacer process itself, once, then
# wait_pids. (TERM to the timeout(1) wrapper reaches pacer twice: timeout
# sends it to its child and to its process group, and pacer takes a
# second signal as "exit now", cutting its in-flight requests short.)
stop_workers() {
  local p c
  for p in "$@"; do
    c=$(pgrep -P "$p" 2>/dev/null | head -n 1)
    if [[ -n $c ]]; then kill -TERM "$c" 2>/dev/null; else kill -TERM "$p" 2>/dev/null; fi
  done
  wait_pids "$@"
}

# The feeder: tops pacer:jobs up with batches of BATCH jobs whenever its
# length (undelivered + held by workers) is under BATCH. Stopped by TERM.
cat >"$TMP/feeder.sh" <<'EOF'
#!/usr/bin/env bash
# feeder.sh PACER CONFIG SOCK URL BATCH DIR
set -u
pacer=$1 cfg=$2 sock=$3 url=$4 batch=$5 dir=$6
i=0
while :; do
  q=$(redis-cli -s "$sock" XLEN pacer:jobs 2>/dev/null)
  if [[ $q =~ ^[0-9]+$ ]] && ((q < batch)); then
    i=$((i + 1))
    awk -v n="$batch" -v b="$i" -v url="$url" 'BEGIN {
      for (k = 1; k <= n; k++)
        printf "{\"id\":\"r%d-%d\",\"method\":\"PUT\",\"url\":\"%s\",\"credential\":\"acme\",\"headers\":{\"Idempotency-Key\":\"r%d-%d\"},\"body\":{\"n\":%d}}\n",
          b, k, url, b, k, k
    }' >"$dir/batch.jsonl"
    if timeout -k 2 60 "$pacer" submit --config "$cfg" "$dir/batch.jsonl" \
      >/dev/null 2>>"$dir/feeder.err"; then
      echo "$((i * batch))" >"$dir/fed"
    else
      echo "submit of batch $i failed" >>"$dir/feeder.err"
    fi
  else
    sleep 0.1 # polling the queue length; the loop ends on TERM
  fi
done
EOF

# write_config FILE SKEW
write_config() {
  cat >"$1" <<EOF
{"redis_url": "unix://$SOCK", "workers": $THREADS, "concurrency": $CONC,
 "log_level": "info", "results_maxlen": 2000000,
 "credentials": {"acme": {
   "token_url": "http://127.0.0.1:$PORT/oauth2/access_token",
   "client_id": "pacer-bench",
   "client_secret_env": "PACER_REFRESH_BENCH_SECRET",
   "refresh_token_env": "PACER_REFRESH_BENCH_RT",
   "hosts": ["127.0.0.1"],
   "refresh_skew_s": $2}}}
EOF
  chmod 600 "$1"
}

# Lua: counts of state/reason over the whole results stream, in pages.
COUNT_LUA="local c, from = {}, '-'
while true do
  local page = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 5000)
  if #page == 0 then break end
  for _, e in ipairs(page) do
    local f, st, rs = e[2], '?', ''
    for i = 1, #f, 2 do
      if f[i] == 'state' then st = f[i + 1] elseif f[i] == 'reason' then rs = f[i + 1] end
    end
    local k = st .. '/' .. rs
    c[k] = (c[k] or 0) + 1
  end
  if #page < 5000 then break end
  from = '(' .. page[#page][1]
end
local r = {}
for k, v in pairs(c) do r[#r + 1] = k .. ' ' .. v end
return r"

# run_case SKEW NAME: leaves every log in $TMP/NAME and sets C_* figures.
run_case() {
  local skew=$1 dir=$TMP/$2 dl i q qmin=-1 t0 deadline
  local wpids=() lat_args=()
  mkdir -p "$dir"
  dl=$((SECS + 120))
  start_redis "$dir" $((dl + 60))
  [[ $LATENCY == 0 ]] || lat_args=(--latency-ms "$LATENCY")
  start_api "$dir" $((dl + 60)) --require-auth --rotate \
    --token-ttl "${TTL}s" "${lat_args[@]}"
  write_config "$dir/pacer.json" "$skew"
  bg $((dl + 20)) "$dir/feeder.out" "$dir/feeder.log" bash "$TMP/feeder.sh" \
    "$PACER" "$dir/pacer.json" "$SOCK" \
    "http://127.0.0.1:$PORT/v1/adaccounts/acc/campaigns" "$BATCH" "$dir"
  FEED_PID=$BG_PID
  deadline=$((SECONDS + 30))
  until [[ -s $dir/fed ]]; do # the queue holds a batch before workers start
    if ((SECONDS >= deadline)); then
      echo "refresh.sh: the feeder did not submit:" >&2
      tail -n 5 "$dir/feeder.err" >&2
      exit 1
    fi
    sleep 0.05 # polling a condition with a deadline
  done
  t0=$EPOCHREALTIME
  start_workers "$PROCS" "$dl" "$dir"
  wpids=("${WPIDS[@]}")
  deadline=$(awk -v a="$t0" -v s="$SECS" 'BEGIN { printf "%.6f", a + s }')
  while awk -v n="$EPOCHREALTIME" -v d="$deadline" 'BEGIN { exit !(n < d) }'; do
    q=$(redis-cli -s "$SOCK" XLEN pacer:jobs 2>/dev/null)
    [[ $q =~ ^[0-9]+$ ]] && { ((qmin < 0 || q < qmin)) && qmin=$q; }
    for ((i = 0; i < PROCS; i++)); do
      kill -0 "${wpids[i]}" 2>/dev/null || {
        echo "refresh.sh: worker $((i + 1)) exited early:" >&2
        tail -n 5 "$dir/worker$((i + 1)).log" >&2
        exit 1
      }
    done
    sleep 0.5 # sampling the queue until the deadline
  done
  C_QMIN=$qmin
  stop_pids "$FEED_PID"
  stop_workers "${wpids[@]}"
  C_STATS=$(api_stats)
  C_FED=$(cat "$dir/fed" 2>/dev/null || echo 0)
  C_RESULTS=$(redis-cli -s "$SOCK" XLEN pacer:results)
  C_DEAD=$(redis-cli -s "$SOCK" XLEN pacer:dead)
  redis-cli -s "$SOCK" --raw EVAL "$COUNT_LUA" 1 pacer:results \
    >"$dir/states.txt"
  C_FAILED=$(awk '$1 !~ /^ok\// { n += $2 } END { print n + 0 }' "$dir/states.txt")
  C_OKRES=$(awk '$1 ~ /^ok\// { n += $2 } END { print n + 0 }' "$dir/states.txt")
  grep -h 'second signal' "$dir"/worker*.log >&2
  C_FAILWHY=$(awk '$1 !~ /^ok\// { printf "%s%s=%d", s, $1, $2; s = " " }' \
    "$dir/states.txt")
  redis-cli -s "$SOCK" --raw HGET pacer:cred:acme generation >"$dir/gen.txt"
  stop_pids "$API_PID" "$REDIS_PID"
  forget "$FEED_PID" "${wpids[@]}" "$API_PID" "$REDIS_PID"
}

# api_tsv DIR: the upstream log as "t status kind token", by arrival.
# kind: v = /v1, T = token endpoint, o = other.
api_tsv() {
  jq -r '[.t_ms, .status,
          (if (.path | startswith("/v1/")) then "v"
           elif .path == "/oauth2/access_token" then "T" else "o" end),
          (.token // "-")] | @tsv' "$1/api.jsonl" | sort -n -s -k1,1
}

# analyse_api DIR: one line:
#   nv ok n401 posts posts200 tokens span_s switches silence_p50
#   silence_max pause_p50 pause_max gap_p50 gap_p999 gap_max
# A switch starts at a token POST after the first /v1 request and ends at
# the first /v1 arrival with a token never seen before. silence: last /v1
# arrival before that POST -> that arrival; pause: POST -> that arrival.
# gap: /v1 inter-arrival gaps outside the silences. Also writes
# DIR/switch.txt: "token_n silence_ms pause_ms posts_in_switch".
analyse_api() {
  api_tsv "$1" | awk -v out="$1/switch.txt" "$AWK_STATS"'
    $3 == "T" {
      posts++; if ($2 == 200) posts200++
      if (nv > 0) {
        if (!open) { open = 1; ws = lastv; wp = $1; wposts = 0 }
        wposts++
      }
      next
    }
    $3 != "v" { next }
    {
      nv++; vt[nv] = $1
      if ($2 >= 200 && $2 < 300) { ok++; if (!($4 in used)) { used[$4] = 1; ntok++ } }
      if ($2 == 401) n401++
      if ($4 != "-" && !($4 in seen)) {
        seen[$4] = 1
        if (open) {
          ns++; sw[ns] = $1 - ws; sl[ns] = $1 - wp; lo_[ns] = ws; hi_[ns] = $1
          tn = $4; sub(/^AT-/, "", tn)
          printf "%s %d %d %d\n", tn, $1 - ws, $1 - wp, wposts > out
          open = 0
        }
      }
      lastv = $1
    }
    END {
      close(out)
      k = 1; g = 0
      for (i = 2; i <= nv; i++) {
        while (k <= ns && hi_[k] < vt[i]) k++
        if (k <= ns && vt[i - 1] >= lo_[k] && vt[i] <= hi_[k]) continue
        gap[++g] = vt[i] - vt[i - 1]
      }
      qs(gap, 1, g)
      for (i = 1; i <= ns; i++) { a[i] = sw[i]; b[i] = sl[i] }
      qs(a, 1, ns); qs(b, 1, ns)
      printf "%d %d %d %d %d %d %.2f %d %d %d %d %d %d %d %d\n",
        nv, ok, n401, posts, posts200, ntok, (nv > 1 ? (vt[nv] - vt[1]) / 1000 : 0),
        ns, pct(a, ns, 50), ns ? a[ns] : 0, pct(b, ns, 50), ns ? b[ns] : 0,
        pct(gap, g, 50), pct(gap, g, 99.9), g ? gap[g] : 0
    }'
}

# analyse_logs DIR: from the worker logs, per generation after the first:
# "gen rtt_ms pause_ms holder procs_resumed", into DIR/gens.txt; prints
#   refreshes rtt_p50 rtt_max pause_p50 pause_max rejected discarded retried
analyse_logs() {
  awk -v out="$1/gens.txt" "$AWK_STATS"'
    function dfc(y, m, d,   era, yoe, doy, doe) {
      y -= (m <= 2); era = int(y / 400); yoe = y - era * 400
      doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
      doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
      return era * 146097 + doe - 719468
    }
    function tsms(s,   d, t) {
      # ts=YYYY-MM-DDTHH:MM:SS.mmmZ
      d = substr(s, 4, 10); t = substr(s, 15, 12)
      d = dfc(substr(d, 1, 4) + 0, substr(d, 6, 2) + 0, substr(d, 9, 2) + 0)
      t = substr(t, 1, 2) * 3600 + substr(t, 4, 2) * 60 + substr(t, 7, 2) + substr(t, 10, 3) / 1000
      return int((d * 86400 + t) * 1000 + 0.5)
    }
    function field(name,   i) {
      for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) return substr($i, length(name) + 2)
      return ""
    }
    FNR == 1 { f++ }
    /comp=cred/ {
      t = tsms($1)
      if (index($0, "msg=\"refreshing token\"")) {
        last[f] = t
        if (field("attempt") == "1") start[f] = t
      } else if (index($0, "msg=\"token refreshed\"")) {
        g = field("generation") + 0
        holder[g] = f; gs[g] = start[f]; rtt[g] = t - last[f]
        if (!((g, f) in res)) res[g, f] = t
        if (g > maxg) maxg = g
        if (ming == 0 || g < ming) ming = g
      } else if (index($0, "msg=\"token in use\"")) {
        g = field("generation") + 0
        if (!((g, f) in res)) res[g, f] = t # the first adoption only
      } else if (index($0, "msg=\"token rejected")) rejected++
      else if (index($0, "msg=\"token discarded")) discarded++
      else if (index($0, "msg=\"token refresh failed")) retried++
    }
    END {
      n = 0
      for (g = ming + 1; g <= maxg; g++) {
        if (!(g in holder)) continue
        p = 0; np = 0
        for (k = 1; k <= f; k++)
          if ((g, k) in res) { np++; d = res[g, k] - gs[g]; if (d > p) p = d }
        n++; r[n] = rtt[g]; q[n] = p
        printf "%d %d %d %d %d\n", g, rtt[g], p, holder[g], np > out
      }
      close(out)
      qs(r, 1, n); qs(q, 1, n)
      printf "%d %d %d %d %d %d %d %d\n", n, pct(r, n, 50), n ? r[n] : 0,
        pct(q, n, 50), n ? q[n] : 0, rejected + 0, discarded + 0, retried + 0
    }' "$1"/worker*.log
}

# over_aim DIR: refreshes whose pause (worker logs, or the upstream POST ->
# new token) exceeds that refresh's round trip + SLACK ms:
# "n_log n_upstream worst_excess".
over_aim() {
  awk -v s="$SLACK" '
    FILENAME ~ /gens.txt$/ { rtt[$1] = $2; if ($3 > $2 + s) nl++
                             if ($3 - $2 > w) w = $3 - $2; next }
    ($1 in rtt) { if ($3 > rtt[$1] + s) nu++; if ($3 - rtt[$1] > w) w = $3 - rtt[$1] }
    END { printf "%d %d %d\n", nl + 0, nu + 0, w + 0 }' "$1/gens.txt" "$1/switch.txt"
}

jqs() { jq -r "$1 // 0" <<<"$C_STATS"; }

# ------------------------------------------------------------------

export PACER_REFRESH_BENCH_SECRET
PACER_REFRESH_BENCH_SECRET=bench-secret-$RANDOM$RANDOM
export PACER_REFRESH_BENCH_RT=RT-0

echo "pacer OAuth2 refresh: $PROCS processes x $THREADS threads, token TTL" \
  "${TTL} s, ${SECS} s per case, refresh_skew_s [$SKEWS], upstream latency" \
  "${LATENCY} ms, concurrency $CONC per process, cpus=$(getconf _NPROCESSORS_ONLN)"
echo "  aims: 1.00 token POST per expiry, 0 invalid_grant, 0 failed jobs," \
  "lane pause <= token round trip + $SLACK ms"

ROWS=()
NOTES=()
for skew in $SKEWS; do
  name=p${PROCS}t${THREADS}s${skew}
  run_case "$skew" "$name"
  d=$TMP/$name
  read -r -a A < <(analyse_api "$d")
  read -r -a L < <(analyse_logs "$d")
  read -r -a O < <(over_aim "$d")
  posts=$(jqs .token_posts)
  s401=$(jqs .status_401)
  ig=$(jqs .tokens.invalid_grant)
  fam=$(jqs .tokens.family_revocations)
  refreshed=$(jqs .tokens.refreshed)
  ntok=${A[5]}
  ppe=$(awk -v p="$posts" -v t="$ntok" 'BEGIN { printf "%.2f", t ? p / t : 0 }')
  per1k=$(awk -v a="$s401" -v n="${A[0]}" 'BEGIN { printf "%.2f", n ? a * 1000 / n : 0 }')
  rps=$(awk -v n="${A[0]}" -v s="${A[6]}" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  exp_n=$(awk -v s="${A[6]}" -v t="$TTL" -v k="$skew" 'BEGIN { printf "%.0f", s / (t - k) }')
  verdict=met
  [[ $ppe == 1.00 ]] || verdict="NOT met"
  ((ig == 0 && fam == 0 && C_FAILED == 0 && C_DEAD == 0)) || verdict="NOT met"
  ((O[0] == 0 && O[1] == 0)) || verdict="NOT met"
  ROWS+=("$PROCS|$THREADS|$skew|${A[6]}|${A[0]}|$rps|$ntok|$exp_n|$posts|$ppe|$s401|$per1k|$ig|$fam|$C_FAILED|$C_DEAD|${L[1]}/${L[2]}|${L[3]}/${L[4]}|${A[10]}/${A[11]}|${A[8]}/${A[9]}|${A[12]}/${A[13]}/${A[14]}|${O[0]}+${O[1]}|$verdict")
  echo
  echo "case P=$PROCS T=$THREADS refresh_skew_s=$skew: ${A[6]} s of /v1 traffic"
  echo "  /v1 requests ${A[0]} (${rps}/s, ${A[1]} ok, ${A[2]} 401);" \
    "jobs fed $C_FED, results $C_RESULTS, queue min ${C_QMIN}"
  echo "  access tokens used $ntok (about $exp_n expected: seconds/(TTL-skew));" \
    "token POSTs $posts (${A[4]} answered 200; upstream refreshed $refreshed);" \
    "generation $(cat "$d/gen.txt")"
  echo "  POSTs per expiry $ppe; 401 per 1,000 $per1k; invalid_grant $ig;" \
    "family revocations $fam"
  echo "  failed jobs $C_FAILED${C_FAILWHY:+ ($C_FAILWHY)}; pacer:dead $C_DEAD;" \
    "2xx /v1 responses without an ok result $((A[1] - C_OKRES))"
  echo "  refreshes in the worker logs ${L[0]}: token round trip (+commit)" \
    "p50 ${L[1]} ms, max ${L[2]} ms; longest lane pause p50 ${L[3]} ms," \
    "max ${L[4]} ms"
  echo "  refreshes at the upstream ${A[7]}: token POST -> first /v1 with the" \
    "new token p50 ${A[10]} ms, max ${A[11]} ms; silence (last /v1 before" \
    "the POST -> first with the new token) p50 ${A[8]} ms, max ${A[9]} ms"
  echo "  /v1 arrival gaps outside the silences: p50 ${A[12]}, p99.9" \
    "${A[13]}, max ${A[14]} ms (noise floor)"
  echo "  refreshes with a pause over rtt + $SLACK ms: ${O[0]} (worker logs)," \
    "${O[1]} (upstream); worst excess over rtt ${O[2]} ms"
  echo "  worker logs: ${L[5]} token rejected (401 invalid_token), ${L[6]}" \
    "tokens discarded, ${L[7]} token-endpoint retries"
  ((C_QMIN >= 0 && C_QMIN <= PROCS * (CONC + 32))) &&
    NOTES+=("skew $skew: pacer:jobs fell to $C_QMIN; lanes may have run dry (raise PACER_REFRESH_BATCH)")
  ((PROCS * (CONC + 32) > BATCH)) &&
    NOTES+=("skew $skew: workers hold up to $((PROCS * (CONC + 32))) jobs, more than a batch")
done

echo
hdr() {
  printf '%5s %4s %4s %6s %6s %5s %6s %5s %4s %3s %6s %7s %7s %7s %7s %9s %5s %s\n' "$@"
}
hdr "PxT" skew secs "/v1" tokens token "POSTs/" "401/" "inv_" fam failed "rtt" "pause" "pause" silence "gap" "over" aims
hdr "" "s" "" reqs used POSTs expiry 1000 grnt rev "/dead" "" "log" "up" "" "p50/" "aim" ""
hdr "" "" "" "" "" "" "" "" "" "" "" "p50/max" "p50/max" "p50/max" "p50/max" "p99.9/max" "" ""
for r in "${ROWS[@]}"; do
  IFS='|' read -r -a f <<<"$r"
  hdr "${f[0]}x${f[1]}" "${f[2]}" "${f[3]%.*}" "${f[4]}" "${f[6]}" "${f[8]}" \
    "${f[9]}" "${f[11]}" "${f[12]}" "${f[13]}" "${f[14]}/${f[15]}" "${f[16]}" \
    "${f[17]}" "${f[18]}" "${f[19]}" "${f[20]}" "${f[21]}" "${f[22]}"
done
echo "(ms; rtt = token round trip + commit, worker logs; pause log = longest" \
  "lane pause, worker logs; pause up = token POST -> first /v1 with the new" \
  "token, upstream log; over aim = refreshes over rtt + $SLACK ms, logs+up)"
echo
echo "| P×T | skew s | s | /v1 req | tokens used | token POSTs | POSTs/expiry | 401/1000 | invalid_grant | family rev. | failed jobs | dead | rtt ms p50/max | lane pause ms p50/max (logs) | lane pause ms p50/max (upstream) | silence ms p50/max | gap ms p50/p99.9/max | over aim | aims |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${ROWS[@]}"; do
  IFS='|' read -r -a f <<<"$r"
  echo "| ${f[0]}×${f[1]} | ${f[2]} | ${f[3]} | ${f[4]} | ${f[6]} | ${f[8]} | ${f[9]} | ${f[11]} | ${f[12]} | ${f[13]} | ${f[14]} | ${f[15]} | ${f[16]} | ${f[17]} | ${f[18]} | ${f[19]} | ${f[20]} | ${f[21]} | ${f[22]} |"
done
for n in "${NOTES[@]}"; do echo "NOTE: $n"; done
exit 0
