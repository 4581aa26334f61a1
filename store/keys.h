/* The Redis schema: every key, field, group, score and member format pacer
 * uses, in one place. docs/REDIS.md describes each key in prose; this
 * header is what the code uses, and the scripts of store/lua/ are the scripts
 * that read and write them. Keys are <prefix><name> with the prefix from the
 * config (default "pacer:"); nothing outside store/ names a key.
 *
 * Redis Cluster: every key below, the limit and credential keys included,
 * starts with the prefix, so a prefix with a hash tag ("{pacer}:") puts all
 * of one queue's keys in one slot and every script stays in it; with
 * redis-cluster:// a prefix without one is refused
 * (pacer_redis_addr_route in core/redis_url.h, docs/REDIS.md "Redis
 * Cluster"). No key is shared between prefixes.
 *
 *   <prefix>jobs:high  stream, group "pacer"    intake, priority high
 *   <prefix>jobs       stream, group "pacer"    intake, priority normal
 *   <prefix>jobs:low   stream, group "pacer"    intake, priority low
 *     entry: job <JSON> [id <id>] [attempt <a>] [promoted 1]
 *       <a> = "<attempts>" | "<attempts>.<429s met>"
 *             | "<attempts>.<429s met>.<first enqueue, unix ms>"
 *     sid (the scheduler's opaque handle of an entry):
 *       "h/<entry id>" high, "<entry id>" normal, "l/<entry id>" low
 *
 *   <prefix>delayed    sorted set: retries, not_before, deferred and
 *                      parked jobs; score = due time, unix ms
 *     member:  +------+----+-----+----+-------+----+------------+
 *              | <id> | \n | <a> | \n | [tag  | \n]| <job JSON> |
 *              +------+----+-----+----+-------+----+------------+
 *       tag "h" -> jobs:high, "l" -> jobs:low, none -> jobs (a JSON text
 *       never starts with "h\n" or "l\n"); built and parsed by
 *       store/delayed.h, parsed in Lua by queue_promote.lua
 *     score >= PACER_KEYS_PARK_SCORE_MS: parked, waits for `pacer cred set`
 *
 *   <prefix>results    stream, MAXLEN ~ results_maxlen; one entry per
 *                      finished job (fields: docs/REDIS.md)
 *   <prefix>dead       stream, MAXLEN ~ dead_maxlen; dead letters
 *   <prefix>donemarks:<n>  hash, field job id, value "1": the job ids
 *                      that finished ok in bucket n = unix ms /
 *                      PACER_KEYS_DONE_BUCKET_MS (the done-markers);
 *                      PEXPIREAT the bucket's end + done_ttl_ms
 *   <prefix>done:<id>  string, PX done_ttl_ms: the done-marker of older
 *                      versions; still read, no longer written
 *   <prefix>claim:<id> string "<entry id> <stream key>" (or "z <due ms>
 *                      <sha1 of the delayed member>" while delayed), PX
 *                      PACER_KEYS_CLAIM_TTL_MS: the one entry of the job id
 *                      that may run; set at intake, deleted by its finish
 *                      (docs/REDIS.md "One job id at a time")
 *   <prefix>result:<id>  string "<results entry id>", PX result_ttl_ms:
 *                      the job id's last result (`pacer result`)
 *   <prefix>deadjob:<id> hash, PX dead_ttl_ms: the job's original entry
 *                      (secrets intact, never shown) for `pacer dead retry`
 *     job <JSON> [id <id>] stream <intake stream key> dead <dead entry id>
 *   <prefix>cancel     sorted set: member job id, score = when `pacer
 *                      cancel` asked, unix ms; removed with the id's
 *                      result, else after 24 h (store/cancel.h)
 *
 *   <prefix>chain:<root id>:<chain>  hash, one per chain of page jobs
 *     p<page> <entry id>       page <page> took its step (the next job
 *                              or the summary was written)
 *     pages <n> items <n>      counted once per page; PEXPIRE
 *                              PACER_KEYS_CHAIN_TTL_MS after each step
 *                              (store/lua/chain_step.lua, docs/CHAINS.md)
 *
 *   <prefix>schedules          hash, schedule name -> definition JSON
 *   <prefix>schedule:<name>    string, the last tick claimed, unix ms
 *
 *   <prefix>limit:<bucket>     hash, the shared GCRA state of one limit
 *     tat pause_until (unix us) pause_reason permille aimd_at (unix us)
 *     op_until (unix us: operator pause, `pacer pause`, store/control.h)
 *                              (store/limiter.h, docs/LIMITS.md)
 *   <prefix>oppause            string, the end of the operator pause of
 *                              every limit bucket (`pacer pause --all`),
 *                              unix us (PACER_KEYS_OP_FOREVER_US: until
 *                              `pacer resume --all`); with --for it expires
 *                              at its end. limit_take.lua reads it on every
 *                              take, also for a bucket with no hash yet
 *                              (store/control.h, docs/LIMITS.md)
 *   <prefix>throttle:<key>     hash, one key's throttle backoff: streak
 *     (consecutive throttles not paid back by successes), until (unix ms);
 *     <key> is a bucket key, or "(host):<host>" for requests no limit
 *     pauses (store/throttle.h, core/backoff.h, docs/LIMITS.md)
 *   <prefix>inflight:<bucket>  sorted set of permits, score = lease end ms
 *   <prefix>lanestat:<consumer> string, JSON {"lanes": [{lane, queued,
 *                              in_flight, deferred}, ...], "limits":
 *                              [{name, rate_per_s, max_in_flight}, ...]},
 *                              3 s TTL (the worker's effective limits, for
 *                              `pacer stats` without --config)
 */
#ifndef PACER_STORE_KEYS_H
#define PACER_STORE_KEYS_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- streams, group, sets ---- */

/* The consumer group of the three intake streams. */
#define PACER_KEYS_GROUP "pacer"

/* Key names after the prefix. */
#define PACER_KEYS_JOBS_HIGH      "jobs:high"  /* stream, priority high */
#define PACER_KEYS_JOBS           "jobs"       /* stream, priority normal */
#define PACER_KEYS_JOBS_LOW       "jobs:low"   /* stream, priority low */
#define PACER_KEYS_DELAYED        "delayed"    /* sorted set, score unix ms */
#define PACER_KEYS_RESULTS        "results"    /* stream of results */
#define PACER_KEYS_DEAD           "dead"       /* stream of dead letters */
#define PACER_KEYS_DONE           "done:"      /* + job id: older done-marker */
#define PACER_KEYS_DONEMARKS      "donemarks:" /* + bucket: done-marker hash */
/* Width of a done-marker bucket, ms (24 h); the Lua scripts that read and
 * write the buckets (queue_finish, queue_dropdone, submit_add, chain_step)
 * carry the same number. */
#define PACER_KEYS_DONE_BUCKET_MS 86400000ull
#define PACER_KEYS_RESULT         "result:" /* + job id: result index */
#define PACER_KEYS_CLAIM          "claim:"  /* + job id: the running entry */
/* Life of a claim, ms: far beyond any lease (leases are renewed while a
 * job is held, a claim is not) and any job's timeout; a claim whose entry
 * is gone is taken over at once anyway (store/lua/queue_dropdone.lua). */
#define PACER_KEYS_CLAIM_TTL_MS   "86400000"
#define PACER_KEYS_DEADJOB        "deadjob:"  /* + job id: original dead job */
#define PACER_KEYS_CANCEL         "cancel"    /* zset: cancel requests */
#define PACER_KEYS_LIMIT          "limit:"    /* + bucket: GCRA hash */
#define PACER_KEYS_OPPAUSE        "oppause"   /* string: pause of all, us */
#define PACER_KEYS_INFLIGHT       "inflight:" /* + bucket: permits zset */
#define PACER_KEYS_THROTTLE       "throttle:" /* + key: backoff hash */
#define PACER_KEYS_LANESTAT       "lanestat:" /* + consumer: lane JSON */
#define PACER_KEYS_LANE_KEY                                                    \
  "lanekey" /* string: 64 hex digits, the key                                  \
               of lane names from secrets,                                     \
               made once (store/queue.c) */

/* Chains (docs/CHAINS.md): "chain:" + root id ":" chain, a hash, kept
 * this long after its last step. */
#define PACER_KEYS_CHAIN        "chain:"
#define PACER_KEYS_CHAIN_TTL_MS (7ull * 24u * 3600u * 1000u) /* ms */

/* Schedules (docs/CHAINS.md "Schedules"): "schedules", a hash of name ->
 * definition JSON (core/schedule.h), and "schedule:" + name, the last
 * tick claimed (unix ms), written by store/lua/schedule_claim.lua. */
#define PACER_KEYS_SCHEDULES "schedules"
#define PACER_KEYS_SCHEDULE  "schedule:"

/* The intake streams, by enum pacer_priority (core/job.h): 0 high,
 * 1 normal, 2 low. */
#define PACER_KEYS_NSTREAMS 3

/** Key name (after the prefix) of the intake stream of priority prio
 *  (0 high, 1 normal, 2 low; anything else is normal). Static text. */
static inline const char *
pacer_keys_stream(int prio)
{
  return prio == 0   ? PACER_KEYS_JOBS_HIGH
         : prio == 2 ? PACER_KEYS_JOBS_LOW
                     : PACER_KEYS_JOBS;
}

/** The sid tag of the entries of stream prio (see the drawing): "h/",
 *  "" or "l/". Static text. */
static inline const char *
pacer_keys_sid_tag(int prio)
{
  return prio == 0 ? "h/" : prio == 2 ? "l/" : "";
}

/** The delayed-member tag line of stream prio: "h", "" or "l". Static
 *  text. */
static inline const char *
pacer_keys_member_tag(int prio)
{
  return prio == 0 ? "h" : prio == 2 ? "l" : "";
}

/** Writes "<prefix><name><suffix>" (suffix may be NULL) into out (size
 *  bytes). Returns its length, or -1 when it does not fit. Any thread. */
static inline int
pacer_keys_format(char *out, size_t size, const char *prefix, const char *name,
                  const char *suffix)
{
  int n =
      snprintf(out, size, "%s%s%s", prefix, name, suffix != NULL ? suffix : "");

  return n >= 0 && (size_t)n < size ? n : -1;
}

/** "<prefix><name><suffix>" (suffix may be NULL) as an owned string (free
 *  with free), or NULL when out of memory. Any thread. */
static inline char *
pacer_keys_new(const char *prefix, const char *name, const char *suffix)
{
  size_t n =
      strlen(prefix) + strlen(name) + (suffix != NULL ? strlen(suffix) : 0) + 1;
  char *k = malloc(n);

  if (k != NULL)
    pacer_keys_format(k, n, prefix, name, suffix);
  return k;
}

/* ---- intake stream entry fields ---- */
#define PACER_KEYS_F_JOB      "job"      /* the job JSON text */
#define PACER_KEYS_F_ID       "id"       /* id, when the JSON has none */
#define PACER_KEYS_F_ATTEMPT  "attempt"  /* "<attempts>[.<429s>[.<ms>]]" */
#define PACER_KEYS_F_PROMOTED "promoted" /* "1": came from delayed */

/* ---- results and dead-letter entry fields (docs/REDIS.md) ---- */
#define PACER_KEYS_F_STATE          "state" /* ok | failed | ... */
#define PACER_KEYS_F_STATUS         "status"
#define PACER_KEYS_F_REASON         "reason"
#define PACER_KEYS_F_ERROR          "error"
#define PACER_KEYS_F_ATTEMPTS       "attempts"
#define PACER_KEYS_F_HEADERS        "headers" /* JSON object */
#define PACER_KEYS_F_META           "meta"    /* JSON */
#define PACER_KEYS_F_DURATION_MS    "duration_ms"
#define PACER_KEYS_F_FINISHED_MS    "finished_unix_ms"
#define PACER_KEYS_F_BODY_TRUNCATED "body_truncated" /* 0 | 1 */
#define PACER_KEYS_F_FAILED_MS      "failed_unix_ms" /* dead letters */

/* ---- limit bucket hash fields (<prefix>limit:<bucket>) ---- */
#define PACER_KEYS_F_TAT          "tat"          /* unix us */
#define PACER_KEYS_F_PAUSE_UNTIL  "pause_until"  /* unix us */
#define PACER_KEYS_F_PAUSE_REASON "pause_reason" /* the header that paused */
#define PACER_KEYS_F_PERMILLE     "permille"     /* AIMD share, 1..1000 */
#define PACER_KEYS_F_AIMD_AT      "aimd_at"      /* last lowered, unix us */
#define PACER_KEYS_F_OP_UNTIL     "op_until"     /* operator pause, unix us */
/* The cause an operator pause shows (pacer pause, store/control.h). */
#define PACER_KEYS_OP_REASON      "paused by an operator"
/* op_until of a pause until `pacer resume`: 2^52 us (year 2112). */
#define PACER_KEYS_OP_FOREVER_US  "4503599627370496"

/* ---- delayed set scores ---- */

/* Delayed-set score of a parked job: 2^52 ms, never due. An integer
 * constant, for "%lld" and exact comparisons; exact as a double too. */
#define PACER_KEYS_PARK_SCORE_MS   4503599627370496LL /* unix ms */
/* The same score as text, for Lua arguments and ZRANGEBYSCORE bounds. */
#define PACER_KEYS_PARK_SCORE_TEXT "4503599627370496"

/* ---- credentials ---- */
/* OAuth2 credentials (docs/CREDENTIALS.md; store/cred_store.h runs the
 * commands):
 *
 *   <prefix>cred:<name>        hash, one per credential
 *     access_token             current access token ("" = none yet)
 *     expires_at_ms            its expiry, unix ms; 0 = no token
 *     generation               +1 for every new access or refresh token
 *     refresh_token            current refresh token (rotations replace it)
 *     status                   ok | refreshing | reauth_required
 *                              (absent: never used)
 *     last_error               short text, never a secret
 *     updated_at_ms            unix ms of the last change
 *     lifetime_s               lifetime of the last token, s
 *     committed_by             lock value of the last commit (replay check)
 *     rt_unknown               sends of refresh_token whose outcome is not
 *                              known (0..2; store/lua/cred_send.lua)
 *     send_id                  "<lock value>:<attempt>" of the last send
 *   <prefix>lock:cred:<name>   refresh lock: SET NX PX lock_ttl_ms (config),
 *                              a random hex value
 *   <prefix>credev:<name>      channel: "<generation>" after a new token,
 *                              "<generation>:<status>" after a change;
 *                              subscribers PSUBSCRIBE <prefix>credev:*
 *   parked jobs                <prefix>delayed at PACER_KEYS_PARK_SCORE_MS
 */
#define PACER_KEYS_CRED_HASH         "cred:"      /* + name: the state hash */
#define PACER_KEYS_CRED_LOCK         "lock:cred:" /* + name: the refresh lock */
#define PACER_KEYS_CRED_CHAN         "credev:"  /* + name: the event channel */
#define PACER_KEYS_CRED_PSUB         "credev:*" /* every credential's channel */
#define PACER_KEYS_CRED_F_ACCESS     "access_token"
#define PACER_KEYS_CRED_F_EXPIRES    "expires_at_ms"
#define PACER_KEYS_CRED_F_GENERATION "generation"
#define PACER_KEYS_CRED_F_REFRESH    "refresh_token"
#define PACER_KEYS_CRED_F_STATUS     "status"
#define PACER_KEYS_CRED_F_LAST_ERROR "last_error"
#define PACER_KEYS_CRED_F_UPDATED    "updated_at_ms"
#define PACER_KEYS_CRED_F_LIFETIME   "lifetime_s"

#endif
