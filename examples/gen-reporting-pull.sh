#!/usr/bin/env bash
# Regenerates examples/reporting-pull.jsonl, a daily reporting pull
# (docs/CHAINS.md): yesterday's paginated stats for 5 ad accounts (20 pages
# of 50 rows each, next link in the body, as Meta and Snapchat send it)
# and one asynchronous report (created, polled until done, downloaded).
# Usage: gen-reporting-pull.sh [BASE_URL] > FILE
set -eu
base=${1:-http://127.0.0.1:8787}
for a in act_1001 act_1002 act_1003 act_1004 act_1005; do
  printf '{"id":"stats-%s","url":"%s/v1/pages/body?n=20&per=50&account=%s","limit_key":"%s","max_attempts":3,"paginate":{"next":"body:/paging/next","items":"/data","max_pages":100},"meta":{"pull":"daily","account":"%s"}}\n' \
    "$a" "$base" "$a" "$a" "$a"
done
printf '{"id":"report-daily","method":"POST","url":"%s/v1/reports?polls=3&account=act_1001","limit_key":"act_1001","body":{"range":"yesterday","level":"ad"},"poll":{"url":"body:/status_url","status":"/status","done":"done","failed":"failed","interval_ms":1000,"deadline_ms":600000,"download":"/url"},"meta":{"pull":"daily","report":"ads"}}\n' \
  "$base"
