# Queue jobs into pacer and read every one of their results, without a
# race: note where pacer:results ends BEFORE the first XADD and XREAD on
# from there. A result written before the read starts is still read;
# "XREAD ... STREAMS pacer:results $" would miss it.
# Run: python3 submit_and_read.py URL (PACER_REDIS_URL, PACER_PREFIX).
import json
import os
import sys

import redis  # Debian: python3-redis; pip: redis

prefix = os.environ.get("PACER_PREFIX", "pacer:")
url = os.environ.get("PACER_REDIS_URL", "redis://localhost:6379")
r = redis.Redis.from_url(url, decode_responses=True)
jobs = [{"id": f"py-{i}", "url": sys.argv[1]} for i in range(3)]

# 1. Where the results stream ends now ("0-0" when it is empty).
tail = r.xrevrange(prefix + "results", count=1)
last = tail[0][0] if tail else "0-0"
# 2. Queue the jobs.
for job in jobs:
    r.xadd(prefix + "jobs", {"job": json.dumps(job)})
# 3. Read on from there until every id has its result.
want = {job["id"] for job in jobs}
while want:
    reply = r.xread({prefix + "results": last}, count=100, block=5000)
    for _stream, entries in reply or []:
        for entry_id, fields in entries:
            last = entry_id
            if fields.get("id") in want:
                want.discard(fields["id"])
                print(fields["id"], fields["state"], fields["status"])
r.close()
