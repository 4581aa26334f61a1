#!/usr/bin/env bash
# Regenerates examples/demo/jobs.jsonl, the batch scripts/demo runs: 1,000
# campaign updates (PUT) for 8 ad accounts of one app, against the test
# upstream on 127.0.0.1:8787, with the "demo" credential. act_1001 is the
# big account (300 updates); the others have 100 each. Three lines fail
# for real reasons: a malformed body (400), a job sent to an endpoint the
# token has no scope for (403) and a line that is not a valid job (the
# method). Usage: gen-jobs.sh > FILE
set -eu
base=${1:-http://127.0.0.1:8787}
accounts=(act_1002 act_1003 act_1004 act_1005 act_1006 act_1007 act_1008)
job() { # ID ACCOUNT N
  printf '{"id":"%s","method":"PUT","url":"%s/v1/adaccounts/%s/campaigns","limit_key":"%s","credential":"demo","body":{"campaign_id":"%d","status":"%s","daily_budget":%d},"meta":{"row":%d}}\n' \
    "$1" "$base" "$2" "$2" $((238400000 + $3)) "$([ $(($3 % 7)) -eq 0 ] && echo PAUSED || echo ACTIVE)" \
    $((1000 + ($3 * 37) % 9000)) "$3"
}
n=0
for i in $(seq 1 100); do
  for a in act_1001 "${accounts[@]}"; do
    n=$((n + 1))
    job "upd-$(printf %04d $n)" "$a" "$n"
  done
  # act_1001 has three times as many: it finishes last, on its own limit.
  for _ in 1 2; do
    n=$((n + 1))
    job "upd-$(printf %04d $n)" act_1001 "$n"
  done
  case $i in
  30) printf '{"id":"bad-body","method":"PUT","url":"%s/v1/adaccounts/act_1004/campaigns","limit_key":"act_1004","credential":"demo","headers":{"Content-Type":"application/json"},"body":"{\\"status\\": ACTIVE}"}\n' "$base" ;;
  50) printf '{"id":"no-scope","method":"POST","url":"%s/v1/scoped","limit_key":"act_1006","credential":"demo","body":{"status":"ACTIVE"}}\n' "$base" ;;
  70) printf '{"id":"bad-method","method":"FETCH","url":"%s/v1/adaccounts/act_1002/campaigns","limit_key":"act_1002","credential":"demo"}\n' "$base" ;;
  esac
done
