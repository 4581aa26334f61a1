/* pacer-testapi internals: the test upstream that every integration test
 * talks to. One process, one struct pacer_testapi, one mutex for the
 * counters, token store and scripts (api->mu). The files split by concept:
 *
 *   testapi.c         CLI, daemon start/stop, signals, interruptible sleep
 *   testapi_routes.c  request life cycle and every endpoint
 *   testapi_stats.c   sliding windows, per-key counters, request records
 *   testapi_auth.c    access/refresh token store (pure: takes now_ms)
 *   testapi_script.c  scripted replies queued by POST /admin/script
 *   testapi_gen.c     streamed bodies: big, chunked, drip, gzip bomb
 */
#ifndef PACER_TESTS_UPSTREAM_TESTAPI_INT_H
#define PACER_TESTS_UPSTREAM_TESTAPI_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#define PACER_TESTAPI_WINDOW_MS    1000u    /* sliding window length, ms */
#define PACER_TESTAPI_KEY_MAX      64u      /* account/token key, bytes+NUL */
#define PACER_TESTAPI_TOKEN_SHOW   8u       /* chars shown of a longer token */
#define PACER_TESTAPI_KEYMAP_SLOTS 4096u    /* hash slots per keymap */
#define PACER_TESTAPI_KEYMAP_MAX   3000u    /* keys before "(overflow)" */
#define PACER_TESTAPI_SEEN_CAP     65536u   /* per-key window bound */
#define PACER_TESTAPI_OVERALL_CAP  1048576u /* overall window bound */
#define PACER_TESTAPI_RECORDS      4096u    /* request records kept */
#define PACER_TESTAPI_MAX_STATUS   600u     /* by_status array length */

/* ------------------------------------------------------------------ */
/* Configuration (set once in main before the daemon starts)           */
/* ------------------------------------------------------------------ */

struct pacer_testapi_config {
  unsigned int port;         /* 0 = let the kernel pick */
  uint32_t rate_per_s;       /* per account and per token; 0 = off */
  uint32_t token_rate_per_s; /* per token when set (--token-rate), else
                                rate_per_s; an app-wide limit above the
                                per-account one */
  uint64_t token_ttl_ms;     /* access-token lifetime */
  int rotate;                /* refresh-token rotation */
  int require_auth;          /* API endpoints need a valid bearer */
  uint32_t latency_min_ms;   /* uniform API latency, lower bound */
  uint32_t latency_max_ms;   /* upper bound, inclusive */
  uint32_t fail_ppm;         /* API 503 probability, parts per 1e6 */
  uint32_t drop_ppm;         /* API drop probability, parts per 1e6 */
  uint64_t body_bytes;       /* campaign stats body size */
  const char *retry_after;   /* 429 Retry-After; "" omits the header */
  uint64_t seed;             /* PRNG seed */
  const char *log_path;      /* JSON-lines request log, or NULL */
  int raw_port;              /* --raw-port: -1 off, 0 = free port */
  uint32_t bind_addr;        /* --bind, network byte order; 0 = 127.0.0.1 */
};

/** Starts the scripted broken-HTTP listener on 127.0.0.1:port (0 = free)
 *  and the blackhole listener (testapi_raw.c), each on a detached thread
 *  that lives until exit. Sets *raw_port and *blackhole_port. Returns 0,
 *  or -1 when a socket cannot be set up. Main thread, once. */
int pacer_testapi_raw_start(unsigned port, unsigned *raw_port,
                            unsigned *blackhole_port);

/* ------------------------------------------------------------------ */
/* Sliding 1 s window over request times                               */
/* ------------------------------------------------------------------ */

/* A ring of the timestamps inside the last PACER_TESTAPI_WINDOW_MS.
 * Timestamps are pushed in nondecreasing order (they are read under
 * api->mu), so expiring from the head is enough:
 *
 *   head                     head+len
 *    |  t0 <= t1 <= ... <= tn  |        window = (now - 1000, now]
 */
struct pacer_testapi_window {
  uint64_t *t_ms;     /* ring storage, cap entries, ms since start */
  uint32_t head;      /* index of the oldest entry */
  uint32_t len;       /* entries inside the window */
  uint32_t cap;       /* allocated entries */
  uint32_t cap_max;   /* bound; a full ring drops its oldest entry */
  uint32_t max_count; /* most entries ever inside one window */
  int saturated;      /* the bound was hit: max_count is a lower bound */
};

/** Initialises w with an entry bound of cap_max. Allocates lazily. */
void pacer_testapi_window_init(struct pacer_testapi_window *w,
                               uint32_t cap_max);

/** Expires entries older than now_ms - 1000 and returns how many remain.
 *  Caller holds api->mu. */
uint32_t pacer_testapi_window_trim(struct pacer_testapi_window *w,
                                   uint64_t now_ms);

/** Records one event at now_ms (>= every earlier push) and returns the
 *  number of events in (now_ms - 1000, now_ms]. Caller holds api->mu. */
uint32_t pacer_testapi_window_push(struct pacer_testapi_window *w,
                                   uint64_t now_ms);

/** Frees the ring and resets w to empty with the same bound. */
void pacer_testapi_window_free(struct pacer_testapi_window *w);

/* ------------------------------------------------------------------ */
/* Per-key counters (accounts, tokens)                                 */
/* ------------------------------------------------------------------ */

struct pacer_testapi_key {
  char name[PACER_TESTAPI_KEY_MAX];
  uint64_t requests;                 /* requests that named this key */
  uint64_t limited;                  /* 429s from the server limiter */
  struct pacer_testapi_window seen;  /* every request (stats) */
  struct pacer_testapi_window admit; /* requests the limiter let in */
};

/* Open addressing, linear probing; keys past PACER_TESTAPI_KEYMAP_MAX all
 * land in the "(overflow)" key so memory stays bounded. */
struct pacer_testapi_keymap {
  struct pacer_testapi_key *slot[PACER_TESTAPI_KEYMAP_SLOTS];
  uint32_t count;
};

/** Returns the key named name (borrowed), creating it, or NULL when out of
 *  memory. admit_cap bounds the limiter window (the rate). Caller holds
 *  api->mu. */
struct pacer_testapi_key *
pacer_testapi_keymap_get(struct pacer_testapi_keymap *m, const char *name,
                         uint32_t admit_cap);

/** Frees every key. */
void pacer_testapi_keymap_clear(struct pacer_testapi_keymap *m);

/* ------------------------------------------------------------------ */
/* Counters and request records                                        */
/* ------------------------------------------------------------------ */

/** Path kinds, counted separately in GET /stats "by_path". */
enum pacer_testapi_kind {
  PACER_TESTAPI_KIND_FAST = 0,
  PACER_TESTAPI_KIND_CAMPAIGNS,
  PACER_TESTAPI_KIND_CAMPAIGN_STATS,
  PACER_TESTAPI_KIND_SCOPED,
  PACER_TESTAPI_KIND_TOKEN,
  PACER_TESTAPI_KIND_ECHO,
  PACER_TESTAPI_KIND_STATUS,
  PACER_TESTAPI_KIND_SLOW,
  PACER_TESTAPI_KIND_BIG,
  PACER_TESTAPI_KIND_BIG_CHUNKED,
  PACER_TESTAPI_KIND_GZIP_BOMB,
  PACER_TESTAPI_KIND_DRIP,
  PACER_TESTAPI_KIND_OTHER,
  PACER_TESTAPI_KIND_REPORTING, /* /v1/pages/..., /v1/reports... */
  PACER_TESTAPI_KIND_COUNT,
  PACER_TESTAPI_KIND_CONTROL /* /stats, /admin/...: never counted */
};

/** Returns the JSON name of kind, static storage. */
const char *pacer_testapi_kind_name(enum pacer_testapi_kind kind);

/** One finished request, kept in a ring for GET /admin/requests. */
struct pacer_testapi_record {
  uint64_t seq;        /* 1, 2, ... in finish order */
  uint64_t t_ms;       /* arrival, ms since start */
  uint64_t body_bytes; /* request body received */
  unsigned int status; /* 0 = dropped without response */
  char method[16];
  char path[128];
  char account[PACER_TESTAPI_KEY_MAX];
  char token[PACER_TESTAPI_KEY_MAX];   /* shown form, see token_show */
  char refresh[PACER_TESTAPI_KEY_MAX]; /* token POSTs: refresh token */
  char client_id[PACER_TESTAPI_KEY_MAX];
  char idem[PACER_TESTAPI_KEY_MAX]; /* Idempotency-Key header */
};

struct pacer_testapi_stats {
  uint64_t requests;                            /* counted requests */
  uint64_t by_status[PACER_TESTAPI_MAX_STATUS]; /* [0] = dropped */
  uint64_t by_kind[PACER_TESTAPI_KIND_COUNT];
  uint64_t token_posts; /* POST access_token */
  uint64_t in_flight;   /* begun, not done */
  uint64_t max_in_flight;
  struct pacer_testapi_window overall;
  struct pacer_testapi_keymap accounts;
  struct pacer_testapi_keymap tokens;
  struct pacer_testapi_record *ring; /* RECORDS entries */
  uint64_t next_seq;                 /* seq of next record */
};

/** Initialises s. Returns 0 or -1 when out of memory. */
int pacer_testapi_stats_init(struct pacer_testapi_stats *s);

/** Clears every counter, window, key and record; keeps in_flight, since
 *  those requests are still running. Caller holds api->mu. */
void pacer_testapi_stats_reset(struct pacer_testapi_stats *s);

/** Frees everything s owns. */
void pacer_testapi_stats_free(struct pacer_testapi_stats *s);

/** Appends a copy of rec (borrowed) to the ring, setting its seq.
 *  Caller holds api->mu. */
void pacer_testapi_stats_record(struct pacer_testapi_stats *s,
                                const struct pacer_testapi_record *rec);

/** Returns the GET /stats document (owned, free with cJSON_Delete), or
 *  NULL when out of memory. Caller holds api->mu. */
cJSON *pacer_testapi_stats_json(struct pacer_testapi_stats *s, uint64_t now_ms);

/** Returns records with seq > since, at most limit of them, as
 *  {"next":seq,"requests":[...]} (owned, cJSON_Delete), or NULL when out
 *  of memory. Caller holds api->mu. */
cJSON *pacer_testapi_stats_records_json(struct pacer_testapi_stats *s,
                                        uint64_t since, uint32_t limit);

/** Returns a JSON object for rec (owned, cJSON_Delete), or NULL. */
cJSON *pacer_testapi_record_json(const struct pacer_testapi_record *rec);

/** Copies the shown form of a token (borrowed) into out: the token when
 *  it has at most PACER_TESTAPI_TOKEN_SHOW chars, else that many chars,
 *  "..." and an 8-hex-digit FNV-1a hash of the whole token. A canary
 *  value never appears whole in stats, records or the log. */
void pacer_testapi_token_show(const char *token, char *out, size_t out_len);

/* ------------------------------------------------------------------ */
/* Token store (pure core: every call takes now_ms)                    */
/* ------------------------------------------------------------------ */

/* Tokens are "AT-<n>" and "RT-<n>", n from one counter. A refresh token
 * belongs to a family (one per mint); with rotation a redeemed refresh
 * token turns ROTATED, and presenting it again revokes its family:
 *
 *   ACTIVE --refresh(rotate)--> ROTATED --reuse--> family REVOKED
 *   ACTIVE --/admin/revoke----> REVOKED
 *
 * Source: RFC 6749 §6 and §10.4; OAuth 2.0 Security BCP §4.14.2. */

enum pacer_testapi_tok {
  PACER_TESTAPI_TOK_OK = 0,
  PACER_TESTAPI_TOK_EXPIRED,
  PACER_TESTAPI_TOK_REVOKED,
  PACER_TESTAPI_TOK_UNKNOWN,
  PACER_TESTAPI_TOK_REUSED /* rotated refresh token presented again */
};

struct pacer_testapi_grant {
  char access_token[32];
  char refresh_token[32];
  uint64_t expires_in_s; /* what the token response advertises */
};

struct pacer_testapi_token_counts {
  uint64_t minted;             /* /admin/mint and RT-0 */
  uint64_t refreshed;          /* successful refresh grants */
  uint64_t invalid_grant;      /* refused refresh grants */
  uint64_t family_revocations; /* reuse detections */
};

struct pacer_testapi_tokens;

/** Returns a store holding RT-0 (valid, family 0), owned (free with
 *  pacer_testapi_tokens_free), or NULL when out of memory. */
struct pacer_testapi_tokens *pacer_testapi_tokens_new(uint64_t ttl_ms,
                                                      int rotate);

/** Frees t. NULL does nothing. */
void pacer_testapi_tokens_free(struct pacer_testapi_tokens *t);

/** Checks an access token at now_ms. Returns OK, EXPIRED, REVOKED or
 *  UNKNOWN. Caller holds api->mu. */
enum pacer_testapi_tok
pacer_testapi_tokens_check(struct pacer_testapi_tokens *t, const char *access,
                           uint64_t now_ms);

/** Redeems a refresh token: fills *g and returns OK, or returns UNKNOWN,
 *  REVOKED or REUSED (which revokes the family). Caller holds api->mu.
 *  Source: RFC 6749 §6. */
enum pacer_testapi_tok
pacer_testapi_tokens_refresh(struct pacer_testapi_tokens *t,
                             const char *refresh, uint64_t now_ms,
                             struct pacer_testapi_grant *g);

/** Mints a new family with a fresh access/refresh pair into *g. */
void pacer_testapi_tokens_mint(struct pacer_testapi_tokens *t, uint64_t now_ms,
                               struct pacer_testapi_grant *g);

/** Revokes every token issued so far. */
void pacer_testapi_tokens_revoke_all(struct pacer_testapi_tokens *t);

/** Makes every access token expire at now_ms. */
void pacer_testapi_tokens_expire_all(struct pacer_testapi_tokens *t,
                                     uint64_t now_ms);

/** Returns a copy of the counters. */
struct pacer_testapi_token_counts
pacer_testapi_tokens_counts(const struct pacer_testapi_tokens *t);

/* ------------------------------------------------------------------ */
/* Scripted replies (POST /admin/script)                               */
/* ------------------------------------------------------------------ */

struct pacer_testapi_script;

/* FIFO of canned replies; the first entry whose method and path match a
 * request answers it, `times` times. */
struct pacer_testapi_scripts {
  struct pacer_testapi_script *head;
  struct pacer_testapi_script *tail;
  uint32_t count;
};

#define PACER_TESTAPI_SCRIPTS_MAX 1024u /* queued entries */

/** Queues the entries in doc (borrowed: one object or an array of them).
 *  Returns the number queued, or -1 with err (size err_len) filled. Caller
 *  holds api->mu. */
int pacer_testapi_scripts_add(struct pacer_testapi_scripts *q, const cJSON *doc,
                              char *err, size_t err_len);

/** What a matched script asks for. resp is owned by the caller (NULL
 *  when drop is set or out of memory). */
struct pacer_testapi_script_hit {
  unsigned int status;       /* 200..599 */
  uint32_t delay_ms;         /* wait before answering */
  int drop;                  /* close the connection unanswered */
  struct MHD_Response *resp; /* the canned reply */
};

/** Consumes one use of the first entry matching method and path (both
 *  borrowed) and fills *hit. Returns 1 on a match, 0 otherwise. Caller
 *  holds api->mu. */
int pacer_testapi_scripts_match(struct pacer_testapi_scripts *q,
                                const char *method, const char *path,
                                struct pacer_testapi_script_hit *hit);

/** Drops every queued entry. Caller holds api->mu. */
void pacer_testapi_scripts_clear(struct pacer_testapi_scripts *q);

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

struct pacer_testapi {
  struct pacer_testapi_config cfg;
  uint64_t start_mono_ms; /* t_ms = mono - start_mono_ms */
  pthread_mutex_t mu;     /* guards everything down to the marker */
  uint64_t rng;           /* xorshift64* state */
  uint64_t next_campaign_id;
  struct pacer_testapi_stats stats;
  struct pacer_testapi_tokens *tokens;
  struct pacer_testapi_scripts scripts;
  /* --- end of api->mu --- */
  pthread_mutex_t stop_mu; /* guards stopping; stop_cv wakes sleepers */
  pthread_cond_t stop_cv;  /* CLOCK_MONOTONIC */
  int stopping;
  pthread_mutex_t log_mu; /* one write per line */
  int log_fd;             /* -1 without --log */
};

/** Sleeps ms unless the server is stopping. Returns 0 after the full
 *  sleep, -1 when woken by shutdown. Any thread. */
int pacer_testapi_sleep_ms(struct pacer_testapi *api, uint64_t ms);

/** Returns ms since the server started (monotonic). */
uint64_t pacer_testapi_now_ms(const struct pacer_testapi *api);

/** Returns the next xorshift64* value. Caller holds api->mu. */
uint64_t pacer_testapi_rng_next(uint64_t *state);

/** The MHD access handler. cls is the struct pacer_testapi. */
enum MHD_Result pacer_testapi_on_request(void *cls, struct MHD_Connection *conn,
                                         const char *url, const char *method,
                                         const char *version,
                                         const char *upload,
                                         size_t *upload_size, void **req_cls);

/** MHD URI log callback: allocates the per-request state (returned, owned
 *  by MHD until pacer_testapi_on_completed). */
void *pacer_testapi_on_uri(void *cls, const char *uri,
                           struct MHD_Connection *conn);

/** MHD completion callback: releases the per-request state. */
void pacer_testapi_on_completed(void *cls, struct MHD_Connection *conn,
                                void **req_cls,
                                enum MHD_RequestTerminationCode toe);

/** Answers the reporting endpoints (testapi_pages.c): path (decoded,
 *  no query) and method borrowed; sets *status. Returns an owned
 *  response, or NULL when out of memory. Any MHD thread. */
struct MHD_Response *pacer_testapi_pages(struct MHD_Connection *conn,
                                         const char *path, const char *method,
                                         unsigned *status);

/** Builds the shared responses. Returns 0, or -1 when out of memory.
 *  Call once before the daemon starts. */
int pacer_testapi_routes_init(void);

/** Releases the shared responses. */
void pacer_testapi_routes_free(void);

/* ------------------------------------------------------------------ */
/* Streamed bodies                                                     */
/* ------------------------------------------------------------------ */

/** Precomputes the gzip segment. Returns 0, or -1 on a zlib failure.
 *  Call once before the daemon starts. */
int pacer_testapi_gen_init(void);

/** Returns a response of bytes pattern bytes ('a'+pos%26), with
 *  Content-Length, or chunked when chunked is non-zero; NULL when out of
 *  memory. Owned by the caller. */
struct MHD_Response *pacer_testapi_gen_big(uint64_t bytes, int chunked);

/** Returns a gzip body that inflates to bytes zero bytes, with
 *  Content-Length of the compressed size; NULL on failure. */
struct MHD_Response *pacer_testapi_gen_gzip_zeros(uint64_t bytes);

/** Returns a chunked body of bytes 'd' characters, one per interval_ms
 *  (the first at once); NULL when out of memory. The reader sleeps through
 *  api (borrowed, must outlive the response). */
struct MHD_Response *pacer_testapi_gen_drip(struct pacer_testapi *api,
                                            uint64_t bytes,
                                            uint32_t interval_ms);

#endif
