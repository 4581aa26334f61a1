#!/usr/bin/env bash
# Regenerates examples/reporting-pull.jsonl: 300 campaign stats GETs
# (large JSON bodies) across 5 ad accounts. Usage: gen-reporting-pull.sh > FILE
set -eu
base=${1:-http://127.0.0.1:8787}
accounts=(act_1001 act_1002 act_1003 act_1004 act_1005)
for i in $(seq 1 300); do
  a=${accounts[$(( i % 5 ))]}
  printf '{"id":"stats-%04d","url":"%s/v1/campaigns/%d/stats?account=%s&date_preset=last_7d&fields=impressions,clicks,spend,ctr","limit_key":"%s","max_attempts":3,"meta":{"report":"weekly","campaign":%d}}\n' \
    "$i" "$base" $(( 238400000 + i )) "$a" "$a" $(( 238400000 + i ))
done
