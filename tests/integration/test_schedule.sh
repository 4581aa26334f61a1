#!/usr/bin/env bash
# Schedules (docs/CHAINS.md "Schedules"):
#  A. a schedule ticking every 2 s with 3 workers for 30 s: every tick runs
#     exactly once (one result per tick id, no tick skipped, one claim
#     logged per tick, one request per tick at the upstream);
#  B. ticks missed while no worker ran: with run_once, a worker that starts
#     runs the latest one once, not each of them;
#  C. pause stops the ticks, run-now queues the jobs at once, --tz takes an
#     IANA zone, and bad input is refused naming the option.
. "$(dirname "$0")/lib.sh"

start_testapi
write_config "$TEST_TMP/pacer.json" '"lease_ms": 5000'
cfg="$TEST_TMP/pacer.json"
printf '{"url":"%s/fast","meta":{"from":"schedule"}}\n' "$TESTAPI_URL" >"$TEST_TMP/tick.jsonl"

# ---- C (refusals first: nothing runs yet)
out=$("$PACER" schedule add bad --cron "*/2 * * *" "$TEST_TMP/tick.jsonl" --config "$cfg" 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q 'cron: 4 fields, want 5' ||
  fail "C: a 4-field cron was not refused: $out"
out=$("$PACER" schedule add bad --cron "* * * * *" --tz Mars/Olympus "$TEST_TMP/tick.jsonl" --config "$cfg" 2>&1)
echo "$out" | grep -q -- '--tz Mars/Olympus: .*No such file' || fail "C: --tz: $out"
out=$("$PACER" schedule add paris --cron "0 9 * * *" --tz Europe/Paris "$TEST_TMP/tick.jsonl" --config "$cfg" 2>&1) ||
  fail "C: --tz Europe/Paris: $out"
next=$("$PACER" schedule list --json --config "$cfg" | jq '.[] | select(.name == "paris") | .next_tick_unix_ms')
# 09:00 in Paris is 07:00 or 08:00 UTC
hour=$(( next / 1000 % 86400 / 3600 ))
[ "$hour" -eq 7 ] || [ "$hour" -eq 8 ] || fail "C: 09:00 Paris ticks at $hour:00 UTC"
"$PACER" schedule remove paris --config "$cfg" >/dev/null || fail "C: remove paris"
printf '{"url":"ftp://x"}\n' >"$TEST_TMP/badjob.jsonl"
out=$("$PACER" schedule add bad --cron "* * * * *" "$TEST_TMP/badjob.jsonl" --config "$cfg" 2>&1)
echo "$out" | grep -q 'jobs\[0\]: url: scheme "ftp"' || fail "C: bad job: $out"
out=$("$PACER" schedule add 'no space' --cron "* * * * *" "$TEST_TMP/tick.jsonl" --config "$cfg" 2>&1)
echo "$out" | grep -q 'schedule: a name is made of' || fail "C: bad name: $out"

# ---- A
"$PACER" schedule add every2 --cron "*/2 * * * * *" "$TEST_TMP/tick.jsonl" \
  --config "$cfg" >/dev/null || fail "A: schedule add failed"
for w in w1 w2 w3; do
  start_worker "$cfg" "$w"
  eval "pid_$w=$WORKER_PID"
done
wait_until 45 '[ "$(results_ids | grep -c "^every2@")" -ge 15 ]' ||
  fail "A: only $(results_ids | grep -c '^every2@') ticks in 45 s"
"$PACER" schedule pause every2 --config "$cfg" >/dev/null || fail "A: pause failed"
# a tick claimed just before the pause may still be running
sleep_until=$(( $(now_ms) + 2500 ))
wait_until 5 '[ "$(now_ms)" -ge '"$sleep_until"' ]'
ticks=$(results_ids | grep '^every2@' | sed 's/^every2@//' | sort -n)
n=$(echo "$ticks" | wc -l)
[ "$n" -eq "$(echo "$ticks" | sort -u | wc -l)" ] || fail "A: a tick ran twice"
gaps=$(echo "$ticks" | awk 'NR > 1 && $1 - prev != 2000 { print prev " -> " $1 } { prev = $1 }')
[ -z "$gaps" ] || fail "A: ticks skipped: $gaps"
claims=$(cat "$TEST_TMP"/w?.log | grep -c 'schedule tick queued')
[ "$claims" -eq "$n" ] || fail "A: $claims claims logged for $n ticks"
fast=$(testapi_stat '.by_path.fast')
[ "$fast" -eq "$n" ] || fail "A: $fast requests for $n ticks"
for w in w1 w2 w3; do
  echo "A: $w claimed $(grep -c 'schedule tick queued' "$TEST_TMP/$w.log") ticks"
done
winners=$(for w in w1 w2 w3; do grep -q 'schedule tick queued' "$TEST_TMP/$w.log" && echo "$w"; done | wc -l)
[ "$winners" -ge 2 ] || fail "A: one worker claimed every tick: no contention shown"
echo "A: $n ticks 2 s apart, each once, over 3 workers"

# ---- B: no worker runs while ticks pass
for w in w1 w2 w3; do
  eval "kill \$pid_$w"
  eval "wait \$pid_$w" 2>/dev/null
done
"$PACER" schedule resume every2 --config "$cfg" >/dev/null || fail "B: resume failed"
before=$(results_ids | grep -c '^every2@')
resumed=$(now_ms)
wait_until 10 '[ "$(now_ms)" -ge '"$(( resumed + 5000 ))"' ]'
start_worker "$cfg" w4
wait_until 5 '[ "$(results_ids | grep -c "^every2@")" -gt '"$before"' ]' ||
  fail "B: the missed tick did not run"
first=$(results_ids | grep '^every2@' | sed 's/^every2@//' | sort -n | tail -n +"$(( before + 1 ))" | head -1)
# the first tick run after the gap is the latest one due when w4 started,
# not the first one missed
[ "$first" -ge "$(( resumed + 3000 ))" ] ||
  fail "B: ran an old missed tick $first (resumed at $resumed)"
"$PACER" schedule pause every2 --config "$cfg" >/dev/null
echo "B: after 5 s without workers, the latest tick $first ran once"

# ---- C: run-now
out=$("$PACER" schedule run-now every2 --config "$cfg") || fail "C: run-now failed"
wait_until 10 '[ "$(results_ids | grep -c "^every2@now-")" -eq 1 ]' ||
  fail "C: run-now's job did not run: $out"
"$PACER" schedule list --json --config "$cfg" | jq -e '.[0].paused == true' >/dev/null ||
  fail "C: list does not show the pause"
"$PACER" schedule remove every2 --config "$cfg" >/dev/null || fail "C: remove"
"$PACER" schedule show every2 --config "$cfg" 2>/dev/null && fail "C: show after remove"
pass "schedule: $n ticks exactly once with 3 workers, missed tick once, run-now"
