/* Request life cycle and endpoints of pacer-testapi.
 *
 * MHD calls, per request, on the connection's own thread:
 *
 *   on_uri        allocate struct request (raw URI kept for /echo)
 *   on_request #1 headers parsed: classify, count (begin)
 *   on_request #n upload chunks: buffer the body (bounded)
 *   on_request    last call: GET /fast answers at once (shared reply);
 *                 others: scripts, API gate, endpoint -> reply
 *   on_completed  in_flight--, free
 *
 * API endpoints (/v1/...) pass the gate in this order: scripted reply,
 * drop, auth (--require-auth), rate limit (--rate), fail (--fail-rate),
 * then the latency sleep, then the answer. */
#include "testapi_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define BODY_MAX_BYTES   8388608u       /* request body kept, larger -> 413 */
#define SLOW_MAX_MS      60000u         /* /slow cap */
#define BIG_MAX_BYTES    68719476736ull /* /big, /gzip-bomb cap: 64 GiB */
#define DRIP_MAX_BYTES   1048576u       /* /drip cap */
#define DRIP_MAX_MS      60000u         /* /drip interval cap */
#define FORM_VALUE_MAX   512u           /* token endpoint form values */
#define RECORD_LIMIT_MAX 4096u          /* /admin/requests page */

struct request {
  int started; /* first on_request call done */
  int counted; /* begin() ran: in_flight held */
  int scripts; /* scripts were queued at arrival */
  enum pacer_testapi_kind kind;
  uint64_t t_ms; /* arrival, ms since start */
  char account[PACER_TESTAPI_KEY_MAX];
  char item[PACER_TESTAPI_KEY_MAX];  /* campaign id from the path */
  char token[PACER_TESTAPI_KEY_MAX]; /* bearer, shown form */
  char refresh[PACER_TESTAPI_KEY_MAX];
  char client_id[PACER_TESTAPI_KEY_MAX];
  char idem[PACER_TESTAPI_KEY_MAX];
  char *body;         /* owned, NUL-terminated */
  size_t body_len;    /* bytes kept */
  size_t body_cap;    /* bytes allocated */
  uint64_t body_seen; /* bytes received */
  int body_over;      /* body exceeded BODY_MAX_BYTES */
  char uri[];         /* raw request target */
};

/* What one handler call works on. */
struct ctx {
  struct pacer_testapi *api;
  struct MHD_Connection *conn;
  struct request *rq;
  const char *url; /* decoded path, no query */
  const char *method;
};

static char ok_body[] = "ok";
static struct MHD_Response *fast_resp; /* shared by every GET /fast */

int
pacer_testapi_routes_init(void)
{
  fast_resp = MHD_create_response_from_buffer(sizeof(ok_body) - 1, ok_body,
                                              MHD_RESPMEM_PERSISTENT);
  if (fast_resp == NULL)
    return -1;
  if (MHD_add_response_header(fast_resp, "Content-Type", "text/plain") !=
      MHD_YES) {
    MHD_destroy_response(fast_resp);
    fast_resp = NULL;
    return -1;
  }
  return 0;
}

void
pacer_testapi_routes_free(void)
{
  if (fast_resp != NULL)
    MHD_destroy_response(fast_resp);
  fast_resp = NULL;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void
copy_str(char *dst, size_t dst_len, const char *src)
{
  snprintf(dst, dst_len, "%s", src != NULL ? src : "");
}

static int
parse_u64(const char *s, uint64_t *out)
{
  char *end;
  unsigned long long v;

  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = v;
  return 0;
}

/* Reads query argument name into *out: dflt when absent, -1 when present
 * but not an integer in [lo, hi]. */
static int
arg_u64(struct MHD_Connection *conn, const char *name, uint64_t dflt,
        uint64_t lo, uint64_t hi, uint64_t *out)
{
  const char *v =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);

  if (v == NULL) {
    *out = dflt;
    return 0;
  }
  if (parse_u64(v, out) != 0 || *out < lo || *out > hi)
    return -1;
  return 0;
}

static const char *
bearer_of(struct MHD_Connection *conn)
{
  const char *h =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");

  /* RFC 6750 §2.1: the scheme is case-insensitive. */
  if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
    return NULL;
  h += 7;
  while (*h == ' ')
    h++;
  return *h != '\0' ? h : NULL;
}

static int
is_method(const char *method, const char *want)
{
  return strcmp(method, want) == 0;
}

static int
is_get(const char *method)
{
  return is_method(method, "GET") || is_method(method, "HEAD");
}

static int
chance(struct pacer_testapi *api, uint32_t ppm)
{
  if (ppm == 0)
    return 0;
  return pacer_testapi_rng_next(&api->rng) % 1000000u < ppm;
}

/* ------------------------------------------------------------------ */
/* Classification and counting                                         */
/* ------------------------------------------------------------------ */

/* Copies the path segment at p (up to '/' or end) into out. Returns a
 * pointer past it, or NULL when it is empty or too long. */
static const char *
segment(const char *p, char *out, size_t out_len)
{
  size_t n = strcspn(p, "/");

  if (n == 0 || n >= out_len)
    return NULL;
  memcpy(out, p, n);
  out[n] = '\0';
  return p + n;
}

static enum pacer_testapi_kind
classify(struct request *rq, const char *url)
{
  const char *p;

  if (strcmp(url, "/fast") == 0)
    return PACER_TESTAPI_KIND_FAST;
  if (strcmp(url, "/stats") == 0 || strncmp(url, "/admin/", 7) == 0)
    return PACER_TESTAPI_KIND_CONTROL;
  if (strncmp(url, "/v1/adaccounts/", 15) == 0) {
    p = segment(url + 15, rq->account, sizeof(rq->account));
    if (p != NULL && strcmp(p, "/campaigns") == 0)
      return PACER_TESTAPI_KIND_CAMPAIGNS;
    rq->account[0] = '\0';
    return PACER_TESTAPI_KIND_OTHER;
  }
  if (strncmp(url, "/v1/campaigns/", 14) == 0) {
    p = segment(url + 14, rq->item, sizeof(rq->item));
    if (p != NULL && strcmp(p, "/stats") == 0)
      return PACER_TESTAPI_KIND_CAMPAIGN_STATS;
    return PACER_TESTAPI_KIND_OTHER;
  }
  if (strcmp(url, "/v1/scoped") == 0)
    return PACER_TESTAPI_KIND_SCOPED;
  if (strcmp(url, "/oauth2/access_token") == 0)
    return PACER_TESTAPI_KIND_TOKEN;
  if (strcmp(url, "/echo") == 0 || strncmp(url, "/echo/", 6) == 0)
    return PACER_TESTAPI_KIND_ECHO;
  if (strncmp(url, "/status/", 8) == 0)
    return PACER_TESTAPI_KIND_STATUS;
  if (strcmp(url, "/slow") == 0)
    return PACER_TESTAPI_KIND_SLOW;
  if (strcmp(url, "/big") == 0)
    return PACER_TESTAPI_KIND_BIG;
  if (strcmp(url, "/big-chunked") == 0)
    return PACER_TESTAPI_KIND_BIG_CHUNKED;
  if (strcmp(url, "/gzip-bomb") == 0)
    return PACER_TESTAPI_KIND_GZIP_BOMB;
  if (strcmp(url, "/drip") == 0)
    return PACER_TESTAPI_KIND_DRIP;
  if (strncmp(url, "/v1/pages/", 10) == 0 ||
      strncmp(url, "/v1/reports", 11) == 0)
    return PACER_TESTAPI_KIND_REPORTING;
  return PACER_TESTAPI_KIND_OTHER;
}

static int
is_api(enum pacer_testapi_kind kind)
{
  return kind == PACER_TESTAPI_KIND_CAMPAIGNS ||
         kind == PACER_TESTAPI_KIND_CAMPAIGN_STATS ||
         kind == PACER_TESTAPI_KIND_SCOPED;
}

/* Counts the request at arrival. Returns non-zero when scripts are
 * queued (so the /fast shortcut must not skip them). */
static int
begin(struct pacer_testapi *api, struct MHD_Connection *conn,
      struct request *rq, const char *method)
{
  struct pacer_testapi_stats *s = &api->stats;
  struct pacer_testapi_key *k;
  const char *v;
  uint64_t now;
  int scripts;

  if (rq->account[0] == '\0') {
    v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "account");
    copy_str(rq->account, sizeof(rq->account), v);
  }
  v = bearer_of(conn);
  if (v != NULL)
    pacer_testapi_token_show(v, rq->token, sizeof(rq->token));
  v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
  copy_str(rq->idem, sizeof(rq->idem), v);

  pthread_mutex_lock(&api->mu);
  /* Read under the lock, so every window sees nondecreasing times. */
  now = pacer_testapi_now_ms(api);
  rq->t_ms = now;
  s->requests++;
  s->by_kind[rq->kind]++;
  if (++s->in_flight > s->max_in_flight)
    s->max_in_flight = s->in_flight;
  pacer_testapi_window_push(&s->overall, now);
  if (rq->account[0] != '\0') {
    k = pacer_testapi_keymap_get(&s->accounts, rq->account,
                                 api->cfg.rate_per_s);
    if (k != NULL) {
      k->requests++;
      pacer_testapi_window_push(&k->seen, now);
    }
  }
  if (rq->token[0] != '\0') {
    k = pacer_testapi_keymap_get(&s->tokens, rq->token,
                                 api->cfg.token_rate_per_s > 0
                                     ? api->cfg.token_rate_per_s
                                     : api->cfg.rate_per_s);
    if (k != NULL) {
      k->requests++;
      pacer_testapi_window_push(&k->seen, now);
    }
  }
  if (rq->kind == PACER_TESTAPI_KIND_TOKEN && is_method(method, "POST"))
    s->token_posts++;
  scripts = api->scripts.count > 0;
  pthread_mutex_unlock(&api->mu);
  rq->counted = 1;
  return scripts;
}

static void
log_line(struct pacer_testapi *api, const struct pacer_testapi_record *rec)
{
  cJSON *o = pacer_testapi_record_json(rec);
  char *s;
  char *line;
  size_t n;
  size_t off = 0;
  ssize_t w;

  if (o == NULL)
    return;
  s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (s == NULL)
    return;
  n = strlen(s);
  line = malloc(n + 1);
  if (line != NULL) {
    memcpy(line, s, n);
    line[n] = '\n';
    pthread_mutex_lock(&api->log_mu);
    while (off < n + 1) {
      w = write(api->log_fd, line + off, n + 1 - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        break; /* a test log is best effort; never fail the request */
      off += (size_t)w;
    }
    pthread_mutex_unlock(&api->log_mu);
    free(line);
  }
  cJSON_free(s);
}

/* Records the outcome of a counted request; status 0 = dropped. */
static void
finish(struct ctx *c, unsigned int status)
{
  struct pacer_testapi *api = c->api;
  struct request *rq = c->rq;
  struct pacer_testapi_record rec;

  if (rq->kind == PACER_TESTAPI_KIND_CONTROL)
    return;
  memset(&rec, 0, sizeof(rec));
  rec.t_ms = rq->t_ms;
  rec.body_bytes = rq->body_seen;
  rec.status = status;
  copy_str(rec.method, sizeof(rec.method), c->method);
  copy_str(rec.path, sizeof(rec.path), c->url);
  copy_str(rec.account, sizeof(rec.account), rq->account);
  copy_str(rec.token, sizeof(rec.token), rq->token);
  copy_str(rec.refresh, sizeof(rec.refresh), rq->refresh);
  copy_str(rec.client_id, sizeof(rec.client_id), rq->client_id);
  copy_str(rec.idem, sizeof(rec.idem), rq->idem);
  pthread_mutex_lock(&api->mu);
  if (status < PACER_TESTAPI_MAX_STATUS)
    api->stats.by_status[status]++;
  rec.seq = api->stats.next_seq;
  pacer_testapi_stats_record(&api->stats, &rec);
  pthread_mutex_unlock(&api->mu);
  if (api->log_fd >= 0)
    log_line(api, &rec);
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* Adds a header; on failure destroys r and returns NULL. NULL in, NULL
 * out, so calls chain. */
static struct MHD_Response *
with_header(struct MHD_Response *r, const char *name, const char *value)
{
  if (r == NULL)
    return NULL;
  if (MHD_add_response_header(r, name, value) != MHD_YES) {
    MHD_destroy_response(r);
    return NULL;
  }
  return r;
}

/* Takes ownership of doc. */
static struct MHD_Response *
json_resp(cJSON *doc)
{
  char *s;
  struct MHD_Response *r;

  if (doc == NULL)
    return NULL;
  s = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  if (s == NULL)
    return NULL;
  r = MHD_create_response_from_buffer_with_free_callback(strlen(s), s,
                                                         cJSON_free);
  if (r == NULL) {
    cJSON_free(s);
    return NULL;
  }
  return with_header(r, "Content-Type", "application/json");
}

static struct MHD_Response *
error_resp(const char *error, const char *description)
{
  cJSON *doc = cJSON_CreateObject();

  if (doc == NULL)
    return NULL;
  if (cJSON_AddStringToObject(doc, "error", error) == NULL ||
      (description != NULL && cJSON_AddStringToObject(doc, "error_description",
                                                      description) == NULL)) {
    cJSON_Delete(doc);
    return NULL;
  }
  return json_resp(doc);
}

/* Queues resp (taking ownership) and records the outcome. A NULL resp
 * (out of memory) closes the connection. */
static enum MHD_Result
reply(struct ctx *c, unsigned int status, struct MHD_Response *resp)
{
  enum MHD_Result r;

  if (resp == NULL) {
    finish(c, 0);
    return MHD_NO;
  }
  r = MHD_queue_response(c->conn, status, resp);
  MHD_destroy_response(resp);
  finish(c, r == MHD_YES ? status : 0);
  return r;
}

static enum MHD_Result
reply_error(struct ctx *c, unsigned int status, const char *error,
            const char *description)
{
  return reply(c, status, error_resp(error, description));
}

static enum MHD_Result
reply_405(struct ctx *c, const char *allow)
{
  return reply(
      c, 405,
      with_header(error_resp("method_not_allowed", NULL), "Allow", allow));
}

/* ------------------------------------------------------------------ */
/* The API gate                                                        */
/* ------------------------------------------------------------------ */

/* Limiter: a strict sliding window of admitted requests per account and
 * per token; a request must fit both. Caller holds api->mu. */
static int
admit(struct pacer_testapi *api, struct request *rq, uint64_t now)
{
  struct pacer_testapi_stats *s = &api->stats;
  uint32_t rate = api->cfg.rate_per_s;
  uint32_t trate =
      api->cfg.token_rate_per_s > 0 ? api->cfg.token_rate_per_s : rate;
  struct pacer_testapi_key *a = NULL;
  struct pacer_testapi_key *t = NULL;
  int over_a;
  int over_t;

  if (rq->account[0] != '\0' && rate > 0)
    a = pacer_testapi_keymap_get(&s->accounts, rq->account, rate);
  if (rq->token[0] != '\0' && trate > 0)
    t = pacer_testapi_keymap_get(&s->tokens, rq->token, trate);
  over_a = a != NULL && pacer_testapi_window_trim(&a->admit, now) >= rate;
  over_t = t != NULL && pacer_testapi_window_trim(&t->admit, now) >= trate;
  if (over_a || over_t) {
    if (over_a)
      a->limited++;
    if (over_t)
      t->limited++;
    return 0;
  }
  if (a != NULL)
    pacer_testapi_window_push(&a->admit, now);
  if (t != NULL)
    pacer_testapi_window_push(&t->admit, now);
  return 1;
}

static enum MHD_Result
reply_401(struct ctx *c, int missing, enum pacer_testapi_tok why)
{
  static const char *const reason[] = {"ok", "expired", "revoked", "unknown",
                                       "reused"};

  if (missing) {
    /* RFC 6750 §3.1: no error code when the request carried no token. */
    return reply(c, 401,
                 with_header(error_resp("unauthorized", "no bearer token"),
                             "WWW-Authenticate",
                             "Bearer realm=\"pacer-testapi\""));
  }
  /* RFC 6750 §3.1 invalid_token. */
  return reply(c, 401,
               with_header(error_resp("invalid_token", reason[why]),
                           "WWW-Authenticate",
                           "Bearer error=\"invalid_token\", "
                           "error_description=\"The access token "
                           "expired\""));
}

static enum MHD_Result
reply_429(struct ctx *c)
{
  const char *ra = c->api->cfg.retry_after;
  struct MHD_Response *r;

  r = error_resp("rate_limited", "too many requests in the last second");
  /* RFC 6585 §4 and RFC 9110 §10.2.3; "" means no header at all. */
  if (ra == NULL)
    ra = "1";
  if (ra[0] != '\0')
    r = with_header(r, "Retry-After", ra);
  return reply(c, 429, r);
}

/* Returns 1 when the gate answered (result in *out), 0 to go on. */
static int
gate(struct ctx *c, enum MHD_Result *out)
{
  struct pacer_testapi *api = c->api;
  const struct pacer_testapi_config *cfg = &api->cfg;
  const char *bearer = bearer_of(c->conn);
  enum pacer_testapi_tok auth = PACER_TESTAPI_TOK_OK;
  uint64_t latency_ms = 0;
  uint64_t now;
  int drop;
  int deny = 0;
  int fail = 0;

  pthread_mutex_lock(&api->mu);
  now = pacer_testapi_now_ms(api);
  drop = chance(api, cfg->drop_ppm);
  if (!drop) {
    if (cfg->require_auth && bearer != NULL)
      auth = pacer_testapi_tokens_check(api->tokens, bearer, now);
    if (auth == PACER_TESTAPI_TOK_OK &&
        (bearer != NULL || !cfg->require_auth)) {
      if (cfg->rate_per_s > 0 || cfg->token_rate_per_s > 0)
        deny = !admit(api, c->rq, now);
      if (!deny)
        fail = chance(api, cfg->fail_ppm);
    }
    latency_ms = cfg->latency_min_ms;
    if (cfg->latency_max_ms > cfg->latency_min_ms)
      latency_ms += pacer_testapi_rng_next(&api->rng) %
                    (cfg->latency_max_ms - cfg->latency_min_ms + 1u);
  }
  pthread_mutex_unlock(&api->mu);

  if (drop || (latency_ms > 0 && pacer_testapi_sleep_ms(api, latency_ms))) {
    finish(c, 0);
    *out = MHD_NO; /* close without a response */
    return 1;
  }
  if (cfg->require_auth && (bearer == NULL || auth != PACER_TESTAPI_TOK_OK)) {
    *out = reply_401(c, bearer == NULL, auth);
    return 1;
  }
  if (deny) {
    *out = reply_429(c);
    return 1;
  }
  if (fail) {
    *out = reply_error(c, 503, "unavailable", "injected failure");
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* API endpoints                                                       */
/* ------------------------------------------------------------------ */

static enum MHD_Result
on_campaigns(struct ctx *c)
{
  struct request *rq = c->rq;
  const char *end = NULL;
  cJSON *doc;
  uint64_t id;
  char msg[96];

  if (!is_method(c->method, "PUT") && !is_method(c->method, "POST"))
    return reply_405(c, "PUT, POST");
  if (rq->body_over)
    return reply_error(c, 413, "body_too_large", "body over 8 MiB");
  doc = cJSON_ParseWithLengthOpts(rq->body != NULL ? rq->body : "",
                                  rq->body_len, &end, 0);
  if (doc == NULL) {
    snprintf(msg, sizeof(msg), "body is not valid JSON (at byte %zu)",
             end != NULL && rq->body != NULL ? (size_t)(end - rq->body) : 0);
    return reply_error(c, 400, "invalid_json", msg);
  }
  cJSON_Delete(doc);
  pthread_mutex_lock(&c->api->mu);
  id = ++c->api->next_campaign_id;
  pthread_mutex_unlock(&c->api->mu);
  doc = cJSON_CreateObject();
  if (doc == NULL || cJSON_AddBoolToObject(doc, "ok", 1) == NULL ||
      cJSON_AddStringToObject(doc, "account", rq->account) == NULL ||
      cJSON_AddNumberToObject(doc, "campaign_id", (double)id) == NULL ||
      cJSON_AddNumberToObject(doc, "received_bytes", (double)rq->body_len) ==
          NULL) {
    cJSON_Delete(doc);
    return reply(c, 500, NULL);
  }
  return reply(c, 200, json_resp(doc));
}

static uint32_t
mix(const char *s)
{
  uint32_t h = 2166136261u;

  while (*s != '\0') {
    h ^= (unsigned char)*s++;
    h *= 16777619u;
  }
  return h;
}

static enum MHD_Result
on_campaign_stats(struct ctx *c)
{
  struct request *rq = c->rq;
  uint32_t h = mix(rq->item);
  uint64_t want = c->api->cfg.body_bytes;
  cJSON *doc;
  char *s;
  char *pad;
  size_t n;
  size_t extra = sizeof(",\"pad\":\"\"") - 1;

  if (!is_get(c->method))
    return reply_405(c, "GET, HEAD");
  doc = cJSON_CreateObject();
  if (doc == NULL ||
      cJSON_AddStringToObject(doc, "campaign_id", rq->item) == NULL ||
      (rq->account[0] != '\0'
           ? cJSON_AddStringToObject(doc, "account", rq->account)
           : cJSON_AddNullToObject(doc, "account")) == NULL ||
      cJSON_AddNumberToObject(doc, "impressions", h % 1000000u) == NULL ||
      cJSON_AddNumberToObject(doc, "clicks", h % 10000u) == NULL ||
      cJSON_AddNumberToObject(doc, "spend_micros",
                              (double)(h % 99991u) * 1000.0) == NULL)
    goto oom;
  s = cJSON_PrintUnformatted(doc);
  if (s == NULL)
    goto oom;
  n = strlen(s);
  cJSON_free(s);
  if (want > n + extra) {
    /* Pad so the whole body is exactly --body-bytes long. */
    pad = malloc((size_t)(want - n - extra) + 1);
    if (pad == NULL)
      goto oom;
    memset(pad, 'x', (size_t)(want - n - extra));
    pad[want - n - extra] = '\0';
    if (cJSON_AddStringToObject(doc, "pad", pad) == NULL) {
      free(pad);
      goto oom;
    }
    free(pad);
  }
  return reply(c, 200, json_resp(doc));
oom:
  cJSON_Delete(doc);
  return reply(c, 500, NULL);
}

static enum MHD_Result
on_scoped(struct ctx *c)
{
  /* RFC 6750 §3.1 insufficient_scope: a refresh cannot fix this. */
  return reply(c, 403,
               with_header(error_resp("insufficient_scope", "needs x:write"),
                           "WWW-Authenticate",
                           "Bearer error=\"insufficient_scope\", "
                           "scope=\"x:write\""));
}

/* ------------------------------------------------------------------ */
/* Token endpoint                                                      */
/* ------------------------------------------------------------------ */

static int
hexval(char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* application/x-www-form-urlencoded: finds name in body and decodes its
 * value into out. Returns 1 when found, 0 otherwise. */
static int
form_get(const char *body, size_t len, const char *name, char *out,
         size_t out_len)
{
  size_t nlen = strlen(name);
  size_t i = 0;
  size_t o;

  while (i < len) {
    size_t end = i;

    while (end < len && body[end] != '&')
      end++;
    if (end - i > nlen && memcmp(body + i, name, nlen) == 0 &&
        body[i + nlen] == '=') {
      size_t j = i + nlen + 1;

      for (o = 0; j < end && o + 1 < out_len; j++) {
        if (body[j] == '+') {
          out[o++] = ' ';
        } else if (body[j] == '%' && j + 2 < end + 1 &&
                   hexval(body[j + 1]) >= 0 && hexval(body[j + 2]) >= 0) {
          out[o++] = (char)(hexval(body[j + 1]) * 16 + hexval(body[j + 2]));
          j += 2;
        } else {
          out[o++] = body[j];
        }
      }
      out[o] = '\0';
      return 1;
    }
    i = end + 1;
  }
  return 0;
}

static int
b64val(char ch)
{
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '+')
    return 62;
  if (ch == '/')
    return 63;
  return -1;
}

/* RFC 6749 §2.3.1: client_id from "Authorization: Basic b64(id:secret)". */
static void
basic_client_id(struct MHD_Connection *conn, char *out, size_t out_len)
{
  const char *h =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
  unsigned int acc = 0;
  int bits = 0;
  size_t o = 0;
  int v;
  char ch;

  if (h == NULL || strncasecmp(h, "Basic ", 6) != 0)
    return;
  for (h += 6; *h == ' '; h++)
    ;
  for (; *h != '\0' && *h != '=' && o + 1 < out_len; h++) {
    v = b64val(*h);
    if (v < 0) {
      o = 0; /* not base64: no client id */
      break;
    }
    acc = (acc << 6) | (unsigned int)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      ch = (char)((acc >> bits) & 0xffu);
      if (ch == ':')
        break;
      out[o++] = ch;
    }
  }
  out[o] = '\0';
}

/* Fills rq->refresh / rq->client_id from the token request, for records
 * (before scripts run, so scripted answers are recorded the same way). */
static void
token_facts(struct ctx *c, char *refresh, size_t refresh_len)
{
  struct request *rq = c->rq;
  const char *b = rq->body != NULL ? rq->body : "";

  refresh[0] = '\0';
  if (form_get(b, rq->body_len, "refresh_token", refresh, refresh_len))
    pacer_testapi_token_show(refresh, rq->refresh, sizeof(rq->refresh));
  if (!form_get(b, rq->body_len, "client_id", rq->client_id,
                sizeof(rq->client_id)))
    basic_client_id(c->conn, rq->client_id, sizeof(rq->client_id));
}

static enum MHD_Result
on_token(struct ctx *c, const char *refresh)
{
  struct request *rq = c->rq;
  struct pacer_testapi_grant g;
  enum pacer_testapi_tok rc;
  char grant_type[64];
  const char *b = rq->body != NULL ? rq->body : "";
  cJSON *doc;

  if (!is_method(c->method, "POST"))
    return reply_405(c, "POST");
  /* RFC 6749 §5.2 error codes. */
  if (!form_get(b, rq->body_len, "grant_type", grant_type, sizeof(grant_type)))
    return reply_error(c, 400, "invalid_request", "grant_type missing");
  if (strcmp(grant_type, "refresh_token") != 0)
    return reply_error(c, 400, "unsupported_grant_type", NULL);
  if (refresh[0] == '\0')
    return reply_error(c, 400, "invalid_request", "refresh_token missing");
  memset(&g, 0, sizeof(g));
  pthread_mutex_lock(&c->api->mu);
  rc = pacer_testapi_tokens_refresh(c->api->tokens, refresh,
                                    pacer_testapi_now_ms(c->api), &g);
  pthread_mutex_unlock(&c->api->mu);
  if (rc == PACER_TESTAPI_TOK_REUSED)
    return reply_error(c, 400, "invalid_grant",
                       "refresh token reused; token family revoked");
  if (rc != PACER_TESTAPI_TOK_OK)
    return reply_error(c, 400, "invalid_grant",
                       rc == PACER_TESTAPI_TOK_REVOKED
                           ? "refresh token revoked"
                           : "refresh token unknown");
  doc = cJSON_CreateObject();
  if (doc == NULL ||
      cJSON_AddStringToObject(doc, "access_token", g.access_token) == NULL ||
      cJSON_AddStringToObject(doc, "token_type", "Bearer") == NULL ||
      cJSON_AddNumberToObject(doc, "expires_in", (double)g.expires_in_s) ==
          NULL ||
      cJSON_AddStringToObject(doc, "refresh_token", g.refresh_token) == NULL) {
    cJSON_Delete(doc);
    return reply(c, 500, NULL);
  }
  /* RFC 6749 §5.1: token responses are not cached. */
  return reply(
      c, 200,
      with_header(with_header(json_resp(doc), "Cache-Control", "no-store"),
                  "Pragma", "no-cache"));
}

/* ------------------------------------------------------------------ */
/* Test endpoints                                                      */
/* ------------------------------------------------------------------ */

struct echo_acc {
  cJSON *obj;  /* lower-case name -> value (repeats joined by ", ") */
  cJSON *list; /* [[name, value], ...] in arrival order */
  int failed;
};

static enum MHD_Result
echo_header(void *cls, enum MHD_ValueKind kind, const char *key,
            const char *value)
{
  struct echo_acc *acc = cls;
  char lower[128];
  size_t i;
  cJSON *pair;
  cJSON *old;

  (void)kind;
  if (value == NULL)
    value = "";
  for (i = 0; key[i] != '\0' && i + 1 < sizeof(lower); i++)
    lower[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
  lower[i] = '\0';
  pair = cJSON_CreateArray();
  if (pair == NULL || !cJSON_AddItemToArray(pair, cJSON_CreateString(key)) ||
      !cJSON_AddItemToArray(pair, cJSON_CreateString(value)) ||
      !cJSON_AddItemToArray(acc->list, pair)) {
    cJSON_Delete(pair);
    acc->failed = 1;
    return MHD_NO;
  }
  old = cJSON_GetObjectItemCaseSensitive(acc->obj, lower);
  if (old == NULL) {
    if (cJSON_AddStringToObject(acc->obj, lower, value) == NULL)
      acc->failed = 1;
  } else {
    size_t n = strlen(old->valuestring) + 2 + strlen(value) + 1;
    char *joined = malloc(n);

    if (joined == NULL) {
      acc->failed = 1;
      return MHD_NO;
    }
    snprintf(joined, n, "%s, %s", old->valuestring, value);
    if (!cJSON_ReplaceItemInObjectCaseSensitive(acc->obj, lower,
                                                cJSON_CreateString(joined)))
      acc->failed = 1;
    free(joined);
  }
  return acc->failed ? MHD_NO : MHD_YES;
}

static enum MHD_Result
echo_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  struct echo_acc *acc = cls;

  (void)kind;
  if (cJSON_GetObjectItemCaseSensitive(acc->obj, key) != NULL)
    return MHD_YES; /* first wins; the raw "query" keeps every repeat */
  if (cJSON_AddStringToObject(acc->obj, key, value != NULL ? value : "") ==
      NULL) {
    acc->failed = 1;
    return MHD_NO;
  }
  return MHD_YES;
}

static enum MHD_Result
on_echo(struct ctx *c)
{
  struct request *rq = c->rq;
  const char *q = strchr(rq->uri, '?');
  struct echo_acc hdr = {NULL, NULL, 0};
  struct echo_acc args = {NULL, NULL, 0};
  cJSON *doc = cJSON_CreateObject();

  if (doc == NULL)
    return reply(c, 500, NULL);
  hdr.obj = cJSON_AddObjectToObject(doc, "headers");
  hdr.list = cJSON_AddArrayToObject(doc, "header_list");
  args.obj = cJSON_AddObjectToObject(doc, "args");
  if (hdr.obj == NULL || hdr.list == NULL || args.obj == NULL ||
      cJSON_AddStringToObject(doc, "method", c->method) == NULL ||
      cJSON_AddStringToObject(doc, "path", c->url) == NULL ||
      cJSON_AddStringToObject(doc, "uri", rq->uri) == NULL ||
      cJSON_AddStringToObject(doc, "query", q != NULL ? q + 1 : "") == NULL ||
      cJSON_AddStringToObject(doc, "body", rq->body != NULL ? rq->body : "") ==
          NULL ||
      cJSON_AddNumberToObject(doc, "body_bytes", (double)rq->body_seen) ==
          NULL ||
      cJSON_AddBoolToObject(doc, "body_truncated", rq->body_over) == NULL)
    goto oom;
  (void)MHD_get_connection_values(c->conn, MHD_HEADER_KIND, echo_header,
                                  &hdr); /* count unused; failed says all */
  (void)MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, echo_arg,
                                  &args);
  if (hdr.failed || args.failed)
    goto oom;
  return reply(c, 200, json_resp(doc));
oom:
  cJSON_Delete(doc);
  return reply(c, 500, NULL);
}

struct status_acc {
  struct MHD_Response *resp;
  int bad; /* a header value MHD refused, or a malformed header= */
};

static enum MHD_Result
status_arg(void *cls, enum MHD_ValueKind kind, const char *key,
           const char *value)
{
  struct status_acc *acc = cls;
  char name[128];
  const char *colon;
  size_t n;

  (void)kind;
  if (value == NULL)
    value = "";
  if (strcmp(key, "retry_after") == 0) {
    if (MHD_add_response_header(acc->resp, "Retry-After", value) != MHD_YES)
      acc->bad = 1;
  } else if (strcmp(key, "header") == 0) {
    colon = strchr(value, ':');
    n = colon != NULL ? (size_t)(colon - value) : 0;
    if (n == 0 || n >= sizeof(name)) {
      acc->bad = 1;
      return MHD_YES;
    }
    memcpy(name, value, n);
    name[n] = '\0';
    for (colon++; *colon == ' '; colon++)
      ;
    if (MHD_add_response_header(acc->resp, name, colon) != MHD_YES)
      acc->bad = 1;
  }
  return MHD_YES;
}

static enum MHD_Result
on_status(struct ctx *c)
{
  struct status_acc acc = {NULL, 0};
  uint64_t code;
  char body[32];

  if (parse_u64(c->url + 8, &code) != 0 || code < 200 || code > 599)
    return reply_error(c, 400, "bad_status", "use /status/200..599");
  if (code == 204 || code == 304) {
    acc.resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
  } else {
    snprintf(body, sizeof(body), "{\"status\":%u}", (unsigned int)code);
    acc.resp = with_header(MHD_create_response_from_buffer(
                               strlen(body), body, MHD_RESPMEM_MUST_COPY),
                           "Content-Type", "application/json");
  }
  if (acc.resp == NULL)
    return reply(c, 500, NULL);
  (void)MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, status_arg,
                                  &acc); /* count unused; bad says all */
  if (acc.bad) {
    MHD_destroy_response(acc.resp);
    return reply_error(c, 400, "bad_header",
                       "retry_after/header= value refused");
  }
  return reply(c, (unsigned int)code, acc.resp);
}

static enum MHD_Result
on_slow(struct ctx *c)
{
  uint64_t ms;
  char body[48];

  if (arg_u64(c->conn, "ms", 1000, 0, SLOW_MAX_MS, &ms) != 0)
    return reply_error(c, 400, "bad_ms", "ms must be 0..60000");
  /* Thread per connection: this sleep holds up only this client. */
  if (pacer_testapi_sleep_ms(c->api, ms) != 0) {
    finish(c, 0);
    return MHD_NO;
  }
  snprintf(body, sizeof(body), "{\"slept_ms\":%llu}", (unsigned long long)ms);
  return reply(c, 200,
               with_header(MHD_create_response_from_buffer(
                               strlen(body), body, MHD_RESPMEM_MUST_COPY),
                           "Content-Type", "application/json"));
}

static enum MHD_Result
on_generated(struct ctx *c)
{
  enum pacer_testapi_kind kind = c->rq->kind;
  struct MHD_Response *r;
  uint64_t bytes;
  uint64_t status;
  uint64_t interval;

  if (!is_get(c->method))
    return reply_405(c, "GET, HEAD");
  if (arg_u64(c->conn, "status", 200, 200, 599, &status) != 0)
    return reply_error(c, 400, "bad_status", "status must be 200..599");
  if (kind == PACER_TESTAPI_KIND_DRIP) {
    if (arg_u64(c->conn, "bytes", 10, 0, DRIP_MAX_BYTES, &bytes) != 0 ||
        arg_u64(c->conn, "interval_ms", 100, 0, DRIP_MAX_MS, &interval) != 0)
      return reply_error(c, 400, "bad_args",
                         "bytes 0..1048576, interval_ms 0..60000");
    r = with_header(pacer_testapi_gen_drip(c->api, bytes, (uint32_t)interval),
                    "Content-Type", "text/plain");
    return reply(c, (unsigned int)status, r);
  }
  if (arg_u64(c->conn, "bytes", 1048576, 0, BIG_MAX_BYTES, &bytes) != 0)
    return reply_error(c, 400, "bad_bytes", "bytes must be 0..2^36");
  if (kind == PACER_TESTAPI_KIND_GZIP_BOMB)
    r = with_header(pacer_testapi_gen_gzip_zeros(bytes), "Content-Encoding",
                    "gzip");
  else
    r = pacer_testapi_gen_big(bytes, kind == PACER_TESTAPI_KIND_BIG_CHUNKED);
  return reply(c, (unsigned int)status,
               with_header(r, "Content-Type", "application/octet-stream"));
}

/* ------------------------------------------------------------------ */
/* Control endpoints (not counted)                                     */
/* ------------------------------------------------------------------ */

static cJSON *
grant_json(const struct pacer_testapi_grant *g)
{
  cJSON *doc = cJSON_CreateObject();

  if (doc == NULL ||
      cJSON_AddStringToObject(doc, "access_token", g->access_token) == NULL ||
      cJSON_AddStringToObject(doc, "token_type", "Bearer") == NULL ||
      cJSON_AddNumberToObject(doc, "expires_in", (double)g->expires_in_s) ==
          NULL ||
      cJSON_AddStringToObject(doc, "refresh_token", g->refresh_token) == NULL) {
    cJSON_Delete(doc);
    return NULL;
  }
  return doc;
}

static cJSON *
ok_json(void)
{
  cJSON *doc = cJSON_CreateObject();

  if (doc != NULL && cJSON_AddBoolToObject(doc, "ok", 1) == NULL) {
    cJSON_Delete(doc);
    return NULL;
  }
  return doc;
}

static cJSON *
stats_doc(struct pacer_testapi *api)
{
  struct pacer_testapi_token_counts tc;
  cJSON *doc;
  cJSON *t;

  doc = pacer_testapi_stats_json(&api->stats, pacer_testapi_now_ms(api));
  if (doc == NULL)
    return NULL;
  tc = pacer_testapi_tokens_counts(api->tokens);
  t = cJSON_AddObjectToObject(doc, "tokens");
  if (t == NULL ||
      cJSON_AddNumberToObject(t, "minted", (double)tc.minted) == NULL ||
      cJSON_AddNumberToObject(t, "refreshed", (double)tc.refreshed) == NULL ||
      cJSON_AddNumberToObject(t, "invalid_grant", (double)tc.invalid_grant) ==
          NULL ||
      cJSON_AddNumberToObject(t, "family_revocations",
                              (double)tc.family_revocations) == NULL ||
      cJSON_AddNumberToObject(doc, "scripts_queued",
                              (double)api->scripts.count) == NULL) {
    cJSON_Delete(doc);
    return NULL;
  }
  return doc;
}

static enum MHD_Result
on_script(struct ctx *c)
{
  struct request *rq = c->rq;
  char err[200];
  cJSON *doc;
  cJSON *out;
  int n;

  if (rq->body_over)
    return reply_error(c, 413, "body_too_large", "script over 8 MiB");
  doc = cJSON_ParseWithLengthOpts(rq->body != NULL ? rq->body : "",
                                  rq->body_len, NULL, 0);
  if (doc == NULL)
    return reply_error(c, 400, "invalid_json", "script is not valid JSON");
  pthread_mutex_lock(&c->api->mu);
  n = pacer_testapi_scripts_add(&c->api->scripts, doc, err, sizeof(err));
  pthread_mutex_unlock(&c->api->mu);
  cJSON_Delete(doc);
  if (n < 0)
    return reply_error(c, 400, "invalid_script", err);
  out = ok_json();
  if (out != NULL && cJSON_AddNumberToObject(out, "queued", n) == NULL) {
    cJSON_Delete(out);
    out = NULL;
  }
  return reply(c, 200, json_resp(out));
}

static enum MHD_Result
on_control(struct ctx *c)
{
  struct pacer_testapi *api = c->api;
  const char *u = c->url;
  struct pacer_testapi_grant g;
  uint64_t since = 0;
  uint64_t limit = RECORD_LIMIT_MAX;
  cJSON *doc = NULL;
  int get = is_get(c->method);
  int post = is_method(c->method, "POST");

  if (strcmp(u, "/stats") == 0 || strcmp(u, "/admin/requests") == 0) {
    if (!get)
      return reply_405(c, "GET, HEAD");
    if (strcmp(u, "/admin/requests") == 0 &&
        (arg_u64(c->conn, "since", 0, 0, UINT64_MAX, &since) != 0 ||
         arg_u64(c->conn, "limit", RECORD_LIMIT_MAX, 1, RECORD_LIMIT_MAX,
                 &limit) != 0))
      return reply_error(c, 400, "bad_args", "since >= 0, limit 1..4096");
    pthread_mutex_lock(&api->mu);
    if (strcmp(u, "/stats") == 0)
      doc = stats_doc(api);
    else
      doc =
          pacer_testapi_stats_records_json(&api->stats, since, (uint32_t)limit);
    pthread_mutex_unlock(&api->mu);
    return reply(c, 200, json_resp(doc));
  }
  if (strcmp(u, "/admin/reset") != 0 && strcmp(u, "/admin/revoke") != 0 &&
      strcmp(u, "/admin/mint") != 0 && strcmp(u, "/admin/expire") != 0 &&
      strcmp(u, "/admin/script") != 0)
    return reply_error(c, 404, "not_found", NULL);
  if (!post)
    return reply_405(c, "POST");
  if (strcmp(u, "/admin/script") == 0)
    return on_script(c);
  pthread_mutex_lock(&api->mu);
  if (strcmp(u, "/admin/reset") == 0) {
    pacer_testapi_stats_reset(&api->stats);
    pacer_testapi_scripts_clear(&api->scripts);
    doc = ok_json();
  } else if (strcmp(u, "/admin/revoke") == 0) {
    pacer_testapi_tokens_revoke_all(api->tokens);
    doc = ok_json();
  } else if (strcmp(u, "/admin/expire") == 0) {
    pacer_testapi_tokens_expire_all(api->tokens, pacer_testapi_now_ms(api));
    doc = ok_json();
  } else {
    memset(&g, 0, sizeof(g));
    pacer_testapi_tokens_mint(api->tokens, pacer_testapi_now_ms(api), &g);
    doc = grant_json(&g);
  }
  pthread_mutex_unlock(&api->mu);
  return reply(c, 200, json_resp(doc));
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static enum MHD_Result
dispatch(struct ctx *c)
{
  struct pacer_testapi_script_hit hit;
  enum MHD_Result out;
  char refresh[FORM_VALUE_MAX];
  int matched;

  if (c->rq->kind == PACER_TESTAPI_KIND_CONTROL)
    return on_control(c);
  refresh[0] = '\0';
  if (c->rq->kind == PACER_TESTAPI_KIND_TOKEN)
    token_facts(c, refresh, sizeof(refresh));

  pthread_mutex_lock(&c->api->mu);
  matched =
      c->api->scripts.count > 0 &&
      pacer_testapi_scripts_match(&c->api->scripts, c->method, c->url, &hit);
  pthread_mutex_unlock(&c->api->mu);
  if (matched) {
    if (hit.drop || (hit.delay_ms > 0 &&
                     pacer_testapi_sleep_ms(c->api, hit.delay_ms) != 0)) {
      if (hit.resp != NULL)
        MHD_destroy_response(hit.resp);
      finish(c, 0);
      return MHD_NO;
    }
    return reply(c, hit.status, hit.resp);
  }

  if (is_api(c->rq->kind) && gate(c, &out))
    return out;
  switch (c->rq->kind) {
  case PACER_TESTAPI_KIND_FAST:
    if (!is_get(c->method))
      return reply_405(c, "GET, HEAD");
    return reply(c, 200,
                 MHD_create_response_from_buffer(sizeof(ok_body) - 1, ok_body,
                                                 MHD_RESPMEM_PERSISTENT));
  case PACER_TESTAPI_KIND_CAMPAIGNS:
    return on_campaigns(c);
  case PACER_TESTAPI_KIND_CAMPAIGN_STATS:
    return on_campaign_stats(c);
  case PACER_TESTAPI_KIND_SCOPED:
    return on_scoped(c);
  case PACER_TESTAPI_KIND_TOKEN:
    return on_token(c, refresh);
  case PACER_TESTAPI_KIND_ECHO:
    return on_echo(c);
  case PACER_TESTAPI_KIND_STATUS:
    return on_status(c);
  case PACER_TESTAPI_KIND_SLOW:
    return on_slow(c);
  case PACER_TESTAPI_KIND_BIG:
  case PACER_TESTAPI_KIND_BIG_CHUNKED:
  case PACER_TESTAPI_KIND_GZIP_BOMB:
  case PACER_TESTAPI_KIND_DRIP:
    return on_generated(c);
  case PACER_TESTAPI_KIND_REPORTING: {
    unsigned st = 500;
    struct MHD_Response *r =
        pacer_testapi_pages(c->conn, c->url, c->method, &st);

    return reply(c, st, r);
  }
  default:
    return reply_error(c, 404, "not_found", NULL);
  }
}

static void
consume(struct request *rq, const char *data, size_t n)
{
  size_t cap;
  char *b;

  rq->body_seen += n;
  if (rq->body_over)
    return;
  if (n > BODY_MAX_BYTES - rq->body_len) {
    /* Keep reading (the client is mid-send) but stop storing. */
    rq->body_over = 1;
    free(rq->body);
    rq->body = NULL;
    rq->body_len = 0;
    rq->body_cap = 0;
    return;
  }
  if (rq->body_len + n + 1 > rq->body_cap) {
    cap = rq->body_cap > 0 ? rq->body_cap : 4096;
    while (cap < rq->body_len + n + 1)
      cap *= 2;
    b = realloc(rq->body, cap);
    if (b == NULL) {
      rq->body_over = 1; /* treated like an oversized body: 413 */
      return;
    }
    rq->body = b;
    rq->body_cap = cap;
  }
  memcpy(rq->body + rq->body_len, data, n);
  rq->body_len += n;
  rq->body[rq->body_len] = '\0';
}

enum MHD_Result
pacer_testapi_on_request(void *cls, struct MHD_Connection *conn,
                         const char *url, const char *method,
                         const char *version, const char *upload,
                         size_t *upload_size, void **req_cls)
{
  struct ctx c;

  (void)version;
  c.api = cls;
  c.conn = conn;
  c.rq = *req_cls;
  c.url = url;
  c.method = method;
  if (c.rq == NULL)
    return MHD_NO; /* on_uri ran out of memory */
  if (!c.rq->started) {
    c.rq->started = 1;
    c.rq->kind = classify(c.rq, url);
    if (c.rq->kind == PACER_TESTAPI_KIND_CONTROL)
      return MHD_YES;
    c.rq->scripts = begin(c.api, conn, c.rq, method);
    /* Answer on the next call: a reply queued before MHD knows the body
     * is complete costs the keep-alive connection. */
    return MHD_YES;
  }
  if (*upload_size > 0) {
    consume(c.rq, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (c.rq->kind == PACER_TESTAPI_KIND_FAST && is_get(method) &&
      !c.rq->scripts) {
    /* The hot path: one lock in begin, one in finish, a shared reply. */
    enum MHD_Result r = MHD_queue_response(conn, 200, fast_resp);

    finish(&c, r == MHD_YES ? 200 : 0);
    return r;
  }
  return dispatch(&c);
}

void *
pacer_testapi_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
  size_t n = strlen(uri);
  struct request *rq = calloc(1, sizeof(*rq) + n + 1);

  (void)cls;
  (void)conn;
  if (rq == NULL)
    return NULL;
  memcpy(rq->uri, uri, n + 1);
  return rq;
}

void
pacer_testapi_on_completed(void *cls, struct MHD_Connection *conn,
                           void **req_cls, enum MHD_RequestTerminationCode toe)
{
  struct pacer_testapi *api = cls;
  struct request *rq = *req_cls;

  (void)conn;
  (void)toe;
  if (rq == NULL)
    return;
  if (rq->counted) {
    pthread_mutex_lock(&api->mu);
    api->stats.in_flight--;
    pthread_mutex_unlock(&api->mu);
  }
  free(rq->body);
  free(rq);
  *req_cls = NULL;
}
