#!/usr/bin/env bash
# Regenerates examples/bulk-update.jsonl: 2,000 campaign updates (PUT)
# across 5 ad accounts, deterministic, against the test upstream on
# 127.0.0.1:8787 (the port scripts/demo uses). Usage: gen-bulk-update.sh > FILE
set -eu
base=${1:-http://127.0.0.1:8787}
accounts=(act_1001 act_1002 act_1003 act_1004 act_1005)
objectives=(OUTCOME_TRAFFIC OUTCOME_LEADS OUTCOME_SALES OUTCOME_AWARENESS)
statuses=(ACTIVE PAUSED)
for i in $(seq 1 2000); do
  a=${accounts[$(( i % 5 ))]}
  o=${objectives[$(( i % 4 ))]}
  s=${statuses[$(( (i / 7) % 2 ))]}
  budget=$(( 1000 + (i * 37) % 9000 ))
  bid=$(( 50 + (i * 13) % 450 ))
  printf '{"id":"cmp-upd-%05d","method":"PUT","url":"%s/v1/adaccounts/%s/campaigns","limit_key":"%s","max_attempts":5,"timeout_ms":15000,"headers":{"X-Request-Source":"pacer-example"},"body":{"campaign_id":"%d","name":"Spring sale %05d","status":"%s","objective":"%s","daily_budget":%d,"bid_amount":%d,"special_ad_categories":[],"targeting":{"geo_locations":{"countries":["US","CA"]},"age_min":21,"age_max":54,"publisher_platforms":["facebook","instagram"]},"start_time":"2026-12-01T00:00:00Z","end_time":"2027-01-15T23:59:59Z"},"meta":{"batch":"spring-sale","row":%d}}\n' \
    "$i" "$base" "$a" "$a" $(( 238400000 + i )) "$i" "$s" "$o" "$budget" "$bid" "$i"
done
