/* The synchronous Redis connection of the client commands (submit, stats,
 * cred, run): connect with timeouts, AUTH and SELECT. See redis_sync.h.
 *
 * The commands are short-lived, single-threaded clients, so they use the
 * blocking hiredis API with timeouts; the worker uses the async API. */
#include "store/redis_sync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "store/cluster.h"
#include "store/redis_tls.h"
#include "store/script.h"
#include "store/sentinel.h"

/* ------------------------------------------------------------------------
 * Synchronous connection
 * ------------------------------------------------------------------------ */

/* "host:port" or the socket path, for messages; never the password. */
static void
addr_label(const struct pacer_redis_addr *addr, char *buf, size_t size)
{
  if (addr->path[0] != '\0')
    snprintf(buf, size, "%s", addr->path);
  else
    snprintf(buf, size, "%s:%d", addr->host, addr->port);
}

/* Runs one command given as argv; returns the reply (owned, free with
 * freeReplyObject) or NULL with err set. An error reply is turned into
 * PACER_EREDIS with Redis's own text, unless that text contains secret
 * (the AUTH password), in which case a fixed text replaces it. */
static redisReply *
run(redisContext *c, const char *label, const char *op, int argc,
    const char **argv, const size_t *argvlen, const char *secret,
    struct pacer_error *err)
{
  redisReply *reply;

  reply = redisCommandArgv(c, argc, argv, argvlen);
  if (reply == NULL) {
    pacer_error_set(err, PACER_EREDIS, "redis: %s: %s: %s", label, op,
                    c->errstr[0] != '\0' ? c->errstr : "no reply");
    return NULL;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    const char *text = reply->str;

    int code = PACER_EREDIS;

    if (secret != NULL && secret[0] != '\0' && strstr(text, secret) != NULL)
      text = "authentication failed";
    /* Redis answered and refused who we are: no retry fixes that. An
     * answered SELECT error (a db index out of range) is a config error. */
    if (strcmp(op, "AUTH") == 0 || strncmp(text, "WRONGPASS", 9) == 0 ||
        strncmp(text, "NOAUTH", 6) == 0 || strncmp(text, "NOPERM", 6) == 0)
      code = PACER_EAUTH;
    else if (strcmp(op, "SELECT") == 0)
      code = PACER_ECONFIG;
    pacer_error_set(err, code, "redis: %s: %s: %s", label, op, text);
    freeReplyObject(reply);
    return NULL;
  }
  return reply;
}

/* How long one sentinel or cluster node may take to answer, ms. */
static uint32_t
ask_bound(uint32_t timeout_ms)
{
  return timeout_ms > 0 && timeout_ms < PACER_SENTINEL_ASK_MS
             ? timeout_ms
             : PACER_SENTINEL_ASK_MS;
}

/* redis-sentinel://: the master the sentinels name, checked with ROLE
 * (docs/REDIS.md "Sentinel"). */
static redisContext *
sentinel_connect(const struct pacer_redis_addr *addr, uint32_t timeout_ms,
                 struct pacer_error *err)
{
  uint32_t ask_ms = ask_bound(timeout_ms);
  struct pacer_redis_addr m;
  redisContext *c;
  redisReply *r;

  if (pacer_sentinel_master(addr, ask_ms, &m, err) != 0)
    return NULL;
  c = pacer_redis_sync_connect(&m, timeout_ms, err);
  if (c != NULL) {
    r = redisCommandArgv(c, 1, (const char *[]){"ROLE"}, (const size_t[]){4});
    if (!pacer_sentinel_role_is_master(r)) {
      pacer_sentinel_stale();
      pacer_error_set(err, PACER_EREDIS,
                      "redis: %s:%d is not the master of %s (ROLE): the "
                      "sentinels have not finished a failover",
                      m.host, m.port, addr->master);
      redisFree(c);
      c = NULL;
    }
    if (r != NULL)
      freeReplyObject(r);
  }
  explicit_bzero(&m, sizeof(m));
  return c;
}

redisContext *
pacer_redis_sync_connect(const struct pacer_redis_addr *addr,
                         uint32_t timeout_ms, struct pacer_error *err)
{
  char label[300];
  struct timeval tv;
  redisContext *c;
  redisReply *reply;

  if (addr->cluster) {
    struct pacer_redis_addr m;

    if (pacer_cluster_node(addr, ask_bound(timeout_ms), &m, err) != 0)
      return NULL;
    c = pacer_redis_sync_connect(&m, timeout_ms, err);
    explicit_bzero(&m, sizeof(m));
    return c;
  }
  if (addr->master[0] != '\0')
    return sentinel_connect(addr, timeout_ms, err);
  addr_label(addr, label, sizeof(label));
  tv.tv_sec = (time_t)(timeout_ms / 1000);
  tv.tv_usec = (suseconds_t)((timeout_ms % 1000) * 1000);

  if (addr->tls.on) {
    c = pacer_redis_tls_sync_connect(addr, timeout_ms, err);
    if (c == NULL)
      return NULL;
  } else if (addr->path[0] != '\0') {
    c = timeout_ms > 0 ? redisConnectUnixWithTimeout(addr->path, tv)
                       : redisConnectUnix(addr->path);
  } else {
    c = timeout_ms > 0 ? redisConnectWithTimeout(addr->host, addr->port, tv)
                       : redisConnect(addr->host, addr->port);
  }
  if (c == NULL) {
    pacer_error_set(err, PACER_ENOMEM, "redis: %s: out of memory", label);
    return NULL;
  }
  if (c->err != 0) {
    pacer_error_set(err, PACER_EREDIS,
                    "redis: %s: %s (is redis-server running there? set "
                    "redis_url, PACER_REDIS_URL or --redis)",
                    label, c->errstr);
    goto fail;
  }
  /* Bounds every later command, not just the connect. */
  if (timeout_ms > 0 && redisSetTimeout(c, tv) != REDIS_OK) {
    pacer_error_set(err, PACER_EREDIS, "redis: %s: set timeout: %s", label,
                    c->errstr);
    goto fail;
  }

  if (addr->password[0] != '\0') {
    const char *argv[3];
    size_t argvlen[3];
    int argc = 0;

    argv[argc] = "AUTH";
    argvlen[argc++] = 4;
    if (addr->user[0] != '\0') { /* Redis 6 ACL form: AUTH user pass */
      argv[argc] = addr->user;
      argvlen[argc++] = strlen(addr->user);
    }
    argv[argc] = addr->password;
    argvlen[argc++] = strlen(addr->password);
    reply = run(c, label, "AUTH", argc, argv, argvlen, addr->password, err);
    if (reply == NULL)
      goto fail;
    freeReplyObject(reply);
  }

  if (addr->db != 0) {
    char db[16];
    const char *argv[2];
    size_t argvlen[2];

    snprintf(db, sizeof(db), "%d", addr->db);
    argv[0] = "SELECT";
    argvlen[0] = 6;
    argv[1] = db;
    argvlen[1] = strlen(db);
    reply = run(c, label, "SELECT", 2, argv, argvlen, NULL, err);
    if (reply == NULL)
      goto fail;
    freeReplyObject(reply);
  }
  return c;

fail:
  redisFree(c);
  return NULL;
}

int
pacer_redis_sync_maxmemory_policy(redisContext *c, char *policy, size_t size)
{
  const char *argv[3] = {"CONFIG", "GET", "maxmemory-policy"};
  size_t argvlen[3] = {6, 3, 16};
  redisReply *r = redisCommandArgv(c, 3, argv, argvlen);
  int rc = PACER_EREDIS;

  policy[0] = '\0';
  if (r != NULL && r->type == REDIS_REPLY_ERROR &&
      strncmp(r->str, "NOAUTH", 6) == 0) {
    rc = PACER_EAUTH;
  } else if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[1]->type == REDIS_REPLY_STRING) {
    snprintf(policy, size, "%s", r->element[1]->str);
    rc = 0;
  }
  if (r != NULL)
    freeReplyObject(r);
  return rc;
}

int
pacer_redis_sync_wait_replicas(redisContext *c, uint32_t timeout_ms,
                               long long *replicas, long long *acked)
{
  redisReply *r =
      redisCommandArgv(c, 1, (const char *[]){"ROLE"}, (const size_t[]){4});
  char nr[24], ms[24];
  int k, n;

  *replicas = *acked = 0;
  if (r == NULL)
    return PACER_EREDIS;
  /* ROLE on a master: "master", offset, one array per replica */
  if (!pacer_sentinel_role_is_master(r) || r->elements < 3 ||
      r->element[2]->type != REDIS_REPLY_ARRAY) {
    freeReplyObject(r);
    return PACER_EREDIS;
  }
  *replicas = (long long)r->element[2]->elements;
  freeReplyObject(r);
  if (*replicas == 0)
    return 0;
  k = snprintf(nr, sizeof(nr), "%lld", *replicas);
  n = snprintf(ms, sizeof(ms), "%" PRIu32, timeout_ms);
  r = redisCommandArgv(c, 3, (const char *[]){"WAIT", nr, ms},
                       (const size_t[]){4, (size_t)k, (size_t)n});
  if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
    if (r != NULL)
      freeReplyObject(r);
    return PACER_EREDIS;
  }
  *acked = r->integer;
  freeReplyObject(r);
  return 0;
}

redisReply *
pacer_redis_sync_command(redisContext *c, int argc, const char **argv,
                         const char *what, struct pacer_error *err)
{
  redisReply *r = pacer_script_command(c, argc, argv, NULL);

  if (r == NULL) {
    pacer_error_set(err, PACER_EREDIS, "redis: %s: %s", what,
                    c->errstr[0] != '\0' ? c->errstr : "no reply");
    return NULL;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    pacer_error_set(err, PACER_EREDIS, "redis: %s: %s", what, r->str);
    freeReplyObject(r);
    return NULL;
  }
  return r;
}
