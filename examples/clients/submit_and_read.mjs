// Queue jobs into pacer and read every one of their results, without a
// race: note where pacer:results ends BEFORE the first XADD and XREAD on
// from there. A result written before the read starts is still read;
// "XREAD ... STREAMS pacer:results $" would miss it.
// Run: node submit_and_read.mjs URL (PACER_REDIS_URL, PACER_PREFIX).
import Redis from "ioredis"; // npm install ioredis

const prefix = process.env.PACER_PREFIX ?? "pacer:";
const url = process.env.PACER_REDIS_URL ?? "redis://localhost:6379";
const r = url.startsWith("unix://")
  ? new Redis({ path: url.slice("unix://".length) })
  : new Redis(url);
const jobs = [0, 1, 2].map((i) => ({ id: `js-${i}`, url: process.argv[2] }));

// 1. Where the results stream ends now ("0-0" when it is empty).
const tail = await r.xrevrange(prefix + "results", "+", "-", "COUNT", 1);
let last = tail.length > 0 ? tail[0][0] : "0-0";
// 2. Queue the jobs.
for (const job of jobs) {
  await r.xadd(prefix + "jobs", "*", "job", JSON.stringify(job));
}
// 3. Read on from there until every id has its result.
const want = new Set(jobs.map((job) => job.id));
while (want.size > 0) {
  const reply = await r.xread("COUNT", 100, "BLOCK", 5000,
                              "STREAMS", prefix + "results", last);
  for (const [, entries] of reply ?? []) {
    for (const [entryId, flat] of entries) {
      last = entryId;
      const f = {};
      for (let i = 0; i < flat.length; i += 2) f[flat[i]] = flat[i + 1];
      if (want.delete(f.id)) console.log(f.id, f.state, f.status);
    }
  }
}
await r.quit(); // the open connection would keep node running
