/* `pacer cred set|show`: store a new refresh token for a credential and
 * release its parked jobs; show the shared state of the credentials.
 *
 * cred set runs one Lua script, so the new token, the generation bump, the
 * release of the parked jobs and the event happen as one step for every
 * worker process:
 *
 *   <prefix>cred:<name>   HINCRBY generation 1
 *                         HSET refresh_token <new> access_token ""
 *                              expires_at_ms 0 status ok last_error ""
 *                              updated_at_ms <Redis TIME>
 *   <prefix>delayed       parked members (score >= PARK_SCORE) whose job
 *                         JSON has "credential": <name>: ZADD <Redis TIME
 *                         ms>, due now; the queue's promote script moves
 *                         them back to their stream
 *   <prefix>credev:<name> PUBLISH <generation>
 *
 * The refresh lock (<prefix>lock:cred:<name>) is only looked at (PTTL):
 * the CLI never takes or deletes it. When a refresh was in flight, its
 * holder may still record its outcome, so the command says so.
 *
 * The token is read from a file that only its owner may read, or from an
 * environment variable; it is never printed, logged or put into an error
 * message, and the buffer that held it is wiped (field case C21).
 */
#include "cli/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "store/cred_state.h"
#include "store/keys.h"

#define EXIT_OK    0
#define EXIT_USAGE 2 /* usage, config or Redis error (as every command) */

#define TOKEN_MAX      4096            /* new refresh token, bytes */
#define CONFIG_MAX     (1024u * 1024u) /* config file, bytes */
#define TOKEN_BUF_SIZE (TOKEN_MAX + 3) /* token + "\r\n" + 1 to see excess */
#define SRC_MAX        320             /* token source in messages, bytes */

static void
usage(FILE *out)
{
  fputs("usage: pacer cred set NAME (--refresh-token-file FILE |\n"
        "                            --refresh-token-env VAR)\n"
        "                      [--config FILE] [--redis URL]\n"
        "       pacer cred show [NAME] [--json] [--config FILE] [--redis URL]\n"
        "       pacer cred refresh NAME [--config FILE] [--redis URL]\n"
        "\n"
        "set   stores a new refresh token for credential NAME in Redis, marks\n"
        "      the credential ok (a new access token is fetched on first use)\n"
        "      and releases the jobs parked while it needed re-authorisation.\n"
        "      FILE must be readable by its owner only (chmod 600); one\n"
        "      trailing newline is dropped. The token is never printed.\n"
        "show  status, generation, access token expiry, parked jobs and\n"
        "      refresh lock of each configured credential (or of NAME).\n"
        "      Tokens are shown only as \"set\" or \"none\". `list` is the\n"
        "      same as `show`.\n"
        "refresh  marks NAME's access token expired and tells the running\n"
        "      workers, so one of them renews it now (single flight); with\n"
        "      no worker running, the next one renews it before first use.\n"
        "\n"
        "options:\n"
        "  --config FILE  the JSON config holding the \"credentials\" map\n"
        "                 (its secrets are not read by these commands)\n"
        "  --redis URL    Redis to use; overrides PACER_REDIS_URL, which\n"
        "                 overrides redis_url from the config\n"
        "  --json         (show) print one JSON object instead of text\n"
        "  -h, --help     show this help\n"
        "\n"
        "exit status: 0 ok, 2 usage, config or Redis error.\n",
        out);
}

/* Reports an unknown option or an extra word without echoing what could
 * be a token typed in the wrong place: no value after '=', and no extra
 * positional argument. */
static void
bad_argument(const char *cmd, const char *arg)
{
  if (arg[0] == '-')
    fprintf(stderr, "%s: %.*s: unknown option\n", cmd, (int)strcspn(arg, "="),
            arg);
  else
    fprintf(stderr,
            "%s: unexpected extra argument (only NAME is "
            "positional)\n",
            cmd);
  usage(stderr);
}

/* What a cred subcommand was given. */
struct cred_args {
  const char *config_path, *redis_url, *name, *file, *env;
  int json;
};

#define ARG_JSON  1u /* --json allowed */
#define ARG_TOKEN 2u /* --refresh-token-file / --refresh-token-env allowed */

/* Parses argv (argv[0] is the subcommand, cmd its name for messages) into
 * *a, allowing the options in allow. Returns 0, EXIT_OK + 100 after
 * --help (printed), or EXIT_USAGE after a usage error (printed). */
static int
cred_args_parse(const char *cmd, int argc, char **argv, unsigned allow,
                struct cred_args *a)
{
  struct pacer_error err;
  int i, rc;

  memset(a, 0, sizeof(*a));
  pacer_error_clear(&err);
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return EXIT_OK + 100;
    } else if ((allow & ARG_JSON) && strcmp(arg, "--json") == 0) {
      a->json = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--config",
                                         &a->config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis",
                                         &a->redis_url, &err)) != 0 ||
               ((allow & ARG_TOKEN) &&
                ((rc = pacer_cli_opt_value(argc, argv, &i,
                                           "--refresh-token-file", &a->file,
                                           &err)) != 0 ||
                 (rc =
                      pacer_cli_opt_value(argc, argv, &i, "--refresh-token-env",
                                          &a->env, &err)) != 0))) {
      if (rc < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        usage(stderr);
        return EXIT_USAGE;
      }
    } else if (arg[0] == '-' || a->name != NULL) {
      bad_argument(cmd, arg);
      return EXIT_USAGE;
    } else {
      a->name = arg;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * Configuration
 *
 * Parsed without resolving the credentials' secrets: the commands need the
 * names, the prefix and redis_url, and an operator fixing a credential
 * should not need the workers' client secrets in the environment.
 * ------------------------------------------------------------------------ */

static int
config_load(struct pacer_config *cfg, const char *path, const char *redis_url,
            struct pacer_error *err)
{
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  char ebuf[128];
  char *buf = NULL;
  size_t len = 0;
  FILE *f;
  int rc;

  rc = pacer_config_defaults(cfg, ncpu > 0 ? (unsigned)ncpu : 1u);
  if (rc != 0)
    return pacer_error_set(err, rc, "config: %s", pacer_strerror(rc));
  if (path != NULL) {
    f = fopen(path, "re");
    if (f == NULL) {
      int saved = errno;

      if (strerror_r(saved, ebuf, sizeof(ebuf)) != 0)
        snprintf(ebuf, sizeof(ebuf), "error %d", saved);
      return pacer_error_set(err, PACER_ECONFIG, "config: %s: %s", path, ebuf);
    }
    buf = malloc(CONFIG_MAX + 1);
    if (buf == NULL) {
      fclose(f);
      return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
    }
    len = fread(buf, 1, CONFIG_MAX + 1, f);
    rc = ferror(f) ? pacer_error_set(err, PACER_ECONFIG,
                                     "config: %s: read error", path)
         : len > CONFIG_MAX
             ? pacer_error_set(err, PACER_ECONFIG,
                               "config: %s: larger than the %u-byte limit",
                               path, CONFIG_MAX)
             : pacer_config_parse(cfg, buf, len, err);
    fclose(f);
    explicit_bzero(buf, len); /* may hold inline secrets */
    free(buf);
    if (rc != 0)
      return rc;
  }
  return pacer_cli_config_redis(cfg, redis_url, err);
}

/* "a, b, c" (cut when long), for the message about an unknown name. */
static void
cred_names(const struct pacer_config *cfg, char *buf, size_t size)
{
  size_t i, used = 0;

  buf[0] = '\0';
  for (i = 0; i < cfg->ncreds && used + 1 < size; i++) {
    int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "",
                     cfg->creds[i].name);

    if (n < 0)
      break;
    used += (size_t)n;
  }
  if (cfg->ncreds == 0)
    snprintf(buf, size, "none");
}

static int
unknown_name(const struct pacer_config *cfg, const char *config_path,
             const char *name, struct pacer_error *err)
{
  char names[128];

  if (config_path == NULL)
    return pacer_error_set(err, PACER_ENOTFOUND,
                           "credential \"%s\": no --config given; pass the "
                           "config file whose \"credentials\" define it",
                           name);
  cred_names(cfg, names, sizeof(names));
  return pacer_error_set(err, PACER_ENOTFOUND,
                         "credential \"%s\" is not in %s (configured: %s)",
                         name, config_path, names);
}

/* ------------------------------------------------------------------------
 * Reading the new refresh token
 * ------------------------------------------------------------------------ */

/* Drops one trailing newline ("\n" or "\r\n") from tok[0..*len), then
 * checks 1..TOKEN_MAX bytes of %x20-7E (RFC 6749 Appendix A.17: VSCHAR).
 * src names the source in messages; never quotes the token. */
static int
token_check(char *tok, size_t *len, const char *src, struct pacer_error *err)
{
  size_t i;

  if (*len > 0 && tok[*len - 1] == '\n') {
    (*len)--;
    if (*len > 0 && tok[*len - 1] == '\r')
      (*len)--;
  }
  if (*len == 0)
    return pacer_error_set(err, PACER_EINVAL, "%s is empty", src);
  if (*len > TOKEN_MAX)
    return pacer_error_set(err, PACER_EINVAL, "%s is larger than %d bytes", src,
                           TOKEN_MAX);
  for (i = 0; i < *len; i++) {
    unsigned char ch = (unsigned char)tok[i];

    if (ch < 0x20 || ch > 0x7e)
      return pacer_error_set(err, PACER_EINVAL,
                             "%s must hold one line of visible ASCII "
                             "characters (byte %zu is not; one trailing "
                             "newline is allowed)",
                             src, i + 1);
  }
  tok[*len] = '\0';
  return 0;
}

/* Same checks as the config loader applies to refresh_token_file: a
 * regular file that neither group nor others may read. */
static int
token_from_file(const char *path, char *tok, size_t *len,
                struct pacer_error *err)
{
  char ebuf[128], src[SRC_MAX];
  struct stat st;
  int fd, saved;

  snprintf(src, sizeof(src), "--refresh-token-file: %s", path);
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || fstat(fd, &st) != 0)
    goto syserr;
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return pacer_error_set(err, PACER_EINVAL, "%s is not a regular file", src);
  }
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    close(fd);
    return pacer_error_set(err, PACER_EINVAL,
                           "%s is readable by group or others (mode %04o); "
                           "chmod 600 %s",
                           src, (unsigned)(st.st_mode & 07777), path);
  }
  *len = 0;
  while (*len < TOKEN_BUF_SIZE) {
    ssize_t r = read(fd, tok + *len, TOKEN_BUF_SIZE - *len);

    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      goto syserr;
    if (r == 0)
      break;
    *len += (size_t)r;
  }
  close(fd);
  if (*len == TOKEN_BUF_SIZE) /* more than a token and a newline */
    return pacer_error_set(err, PACER_EINVAL, "%s is larger than %d bytes", src,
                           TOKEN_MAX);
  return token_check(tok, len, src, err);

syserr:
  saved = errno;
  if (fd >= 0)
    close(fd);
  if (strerror_r(saved, ebuf, sizeof(ebuf)) != 0)
    snprintf(ebuf, sizeof(ebuf), "error %d", saved);
  return pacer_error_set(err, PACER_EINVAL, "%s: %s", src, ebuf);
}

static int
token_from_env(const char *var, char *tok, size_t *len, struct pacer_error *err)
{
  char src[SRC_MAX];
  const char *v = getenv(var);
  size_t n;

  snprintf(src, sizeof(src), "--refresh-token-env: environment variable %s",
           var);
  if (v == NULL)
    return pacer_error_set(err, PACER_EINVAL, "%s is not set", src);
  n = strlen(v);
  if (n >= TOKEN_BUF_SIZE)
    return pacer_error_set(err, PACER_EINVAL, "%s is larger than %d bytes", src,
                           TOKEN_MAX);
  memcpy(tok, v, n);
  *len = n;
  return token_check(tok, len, src, err);
}

/* ------------------------------------------------------------------------
 * cred set
 * ------------------------------------------------------------------------ */

/* KEYS: cred hash, delayed, refresh lock
 * ARGV: refresh token, name, park score, channel
 * Returns {generation, released, lock PTTL (-2: no refresh in flight)}. Types
 * are checked before the first write, because a script that fails half-way
 * keeps what it wrote. A parked member whose JSON part does not decode stays
 * parked: releasing it could not tell which credential it waits for. */
static const char set_lua[] =
    "local th = redis.call('TYPE', KEYS[1]).ok\n"
    "local td = redis.call('TYPE', KEYS[2]).ok\n"
    "if th ~= 'hash' and th ~= 'none' then\n"
    "  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is not a hash')\n"
    "end\n"
    "if td ~= 'zset' and td ~= 'none' then\n"
    "  return redis.error_reply('WRONGTYPE ' .. KEYS[2] ..\n"
    "                           ' is not a sorted set')\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local gen = redis.call('HINCRBY', KEYS[1], 'generation', 1)\n"
    "redis.call('HSET', KEYS[1], 'refresh_token', ARGV[1],\n"
    "           'access_token', '', 'expires_at_ms', '0', 'status', 'ok',\n"
    "           'last_error', '', 'updated_at_ms', tostring(now))\n"
    "local released = 0\n"
    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[3],\n"
    "                              '+inf')) do\n"
    "  local a = string.find(m, '\\n', 1, true)\n"
    "  local b = a and string.find(m, '\\n', a + 1, true)\n"
    "  local j = string.find(m, '{', b and b + 1 or 1, true)\n"
    "  if j then\n"
    "    local ok, job = pcall(cjson.decode, string.sub(m, j))\n"
    "    if ok and type(job) == 'table' and job['credential'] == ARGV[2] then\n"
    "      redis.call('ZADD', KEYS[2], now, m)\n"
    "      released = released + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[4], tostring(gen))\n"
    "return {gen, released, redis.call('PTTL', KEYS[3])}\n";

/* Runs set_lua. tok (borrowed) is the validated token. */
static int
store(redisContext *c, const char *prefix, const char *name, const char *tok,
      size_t tok_len, long long *generation, long long *released,
      int *refreshing, struct pacer_error *err)
{
  char park[32];
  char *hkey = pacer_cli_key(prefix, "cred:", name);
  char *dkey = pacer_cli_key(prefix, "delayed", "");
  char *chan = pacer_cli_key(prefix, "credev:", name);
  char *lkey = pacer_cli_key(prefix, "lock:cred:", name);
  const char *argv[10];
  size_t lens[10];
  redisReply *r = NULL;
  int rc = 0, i;

  if (hkey == NULL || dkey == NULL || chan == NULL || lkey == NULL) {
    rc = pacer_error_set(err, PACER_ENOMEM, "cred set: out of memory");
    goto out;
  }
  snprintf(park, sizeof(park), "%lld", PACER_KEYS_PARK_SCORE_MS);
  argv[0] = "EVAL";
  argv[1] = set_lua;
  argv[2] = "3";
  argv[3] = hkey;
  argv[4] = dkey;
  argv[5] = lkey;
  argv[6] = tok;
  argv[7] = name;
  argv[8] = park;
  argv[9] = chan;
  for (i = 0; i < 10; i++)
    lens[i] = i == 6 ? tok_len : strlen(argv[i]);
  r = redisCommandArgv(c, 10, argv, lens);
  if (r == NULL) {
    rc = pacer_error_set(err, PACER_EREDIS, "redis: cred set: %s",
                         c->errstr[0] != '\0' ? c->errstr : "no reply");
    goto out;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    /* Redis does not echo script arguments, but make sure. */
    const char *text = strstr(r->str, tok) != NULL ? "script failed" : r->str;

    rc = pacer_error_set(err, PACER_EREDIS, "redis: cred set: %s", text);
    goto out;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
      r->element[0]->type != REDIS_REPLY_INTEGER ||
      r->element[1]->type != REDIS_REPLY_INTEGER ||
      r->element[2]->type != REDIS_REPLY_INTEGER) {
    rc =
        pacer_error_set(err, PACER_EREDIS, "redis: cred set: unexpected reply");
    goto out;
  }
  *generation = r->element[0]->integer;
  *released = r->element[1]->integer;
  *refreshing = r->element[2]->integer != -2;

out:
  if (r != NULL)
    freeReplyObject(r);
  free(hkey);
  free(dkey);
  free(chan);
  free(lkey);
  return rc;
}

static int
cred_set(int argc, char **argv)
{
  struct cred_args a;
  struct pacer_config cfg;
  struct pacer_error err;
  char tok[TOKEN_BUF_SIZE];
  redisContext *c = NULL;
  const char *config_path = NULL, *redis_url = NULL, *file = NULL, *env = NULL,
             *name = NULL;
  long long generation = 0, released = 0;
  size_t tok_len = 0;
  int refreshing = 0;
  int status = EXIT_USAGE, rc;

  memset(&cfg, 0, sizeof(cfg));
  pacer_error_clear(&err);
  rc = cred_args_parse("cred set", argc, argv, ARG_TOKEN, &a);
  if (rc != 0)
    return rc == EXIT_OK + 100 ? EXIT_OK : rc;
  config_path = a.config_path;
  redis_url = a.redis_url;
  name = a.name;
  file = a.file;
  env = a.env;
  if (name == NULL || (file == NULL) == (env == NULL)) {
    fprintf(stderr, "cred set: %s\n",
            name == NULL ? "needs the credential NAME"
                         : "needs exactly one of --refresh-token-file FILE "
                           "and --refresh-token-env VAR");
    usage(stderr);
    return EXIT_USAGE;
  }

  if (config_load(&cfg, config_path, redis_url, &err) != 0)
    goto fail;
  if (pacer_config_credential(&cfg, name) == NULL) {
    unknown_name(&cfg, config_path, name, &err);
    goto fail;
  }
  if ((file != NULL ? token_from_file(file, tok, &tok_len, &err)
                    : token_from_env(env, tok, &tok_len, &err)) != 0)
    goto fail;
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL)
    goto fail;
  if (store(c, cfg.prefix, name, tok, tok_len, &generation, &released,
            &refreshing, &err) != 0)
    goto fail;
  printf("credential %s: new refresh token stored (generation %lld); %lld "
         "parked job%s released\n",
         name, generation, released, released == 1 ? "" : "s");
  /* A refresh that started with the old token may still record its own
   * outcome: say so rather than let a later reauth_required surprise. */
  if (refreshing)
    fprintf(stderr,
            "cred set: note: a refresh of %s was in progress; if `pacer cred "
            "show %s` reports reauth_required again, run this command "
            "again\n",
            name, name);
  status = fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
  goto out;

fail:
  fprintf(stderr, "cred set: %s\n", err.msg);
out:
  explicit_bzero(tok, sizeof(tok));
  if (c != NULL)
    redisFree(c);
  pacer_config_free(&cfg);
  return status;
}

/* ------------------------------------------------------------------------
 * cred refresh
 * ------------------------------------------------------------------------ */

/* KEYS: hash channel. Expires the stored access token and announces it:
 * every worker's sync finds it expiring and one renews it (the refresh
 * lock decides which). Returns the generation, or -1 when the credential
 * has never been used or needs re-authorisation. */
static const char refresh_lua[] =
    "if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return -1 end\n"
    "if redis.call('HGET', KEYS[1], 'status') == 'reauth_required' then\n"
    "  return -2\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'expires_at_ms', '1')\n"
    "local gen = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')\n"
    "redis.call('PUBLISH', KEYS[2], gen .. ':refresh')\n"
    "return gen\n";

static int
cred_refresh(int argc, char **argv)
{
  struct cred_args a;
  struct pacer_config cfg;
  struct pacer_error err;
  redisContext *c = NULL;
  redisReply *r = NULL;
  const char *config_path = NULL, *redis_url = NULL, *name = NULL;
  char *hkey = NULL, *chan = NULL;
  int status = EXIT_USAGE, rc;

  memset(&cfg, 0, sizeof(cfg));
  pacer_error_clear(&err);
  rc = cred_args_parse("cred refresh", argc, argv, 0, &a);
  if (rc != 0)
    return rc == EXIT_OK + 100 ? EXIT_OK : rc;
  config_path = a.config_path;
  redis_url = a.redis_url;
  name = a.name;
  if (name == NULL) {
    fprintf(stderr, "cred refresh: needs the credential NAME\n");
    usage(stderr);
    return EXIT_USAGE;
  }
  if (config_load(&cfg, config_path, redis_url, &err) != 0)
    goto fail;
  if (pacer_config_credential(&cfg, name) == NULL) {
    unknown_name(&cfg, config_path, name, &err);
    goto fail;
  }
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL)
    goto fail;
  hkey = pacer_cli_key(cfg.prefix, "cred:", name);
  chan = pacer_cli_key(cfg.prefix, "credev:", name);
  if (hkey == NULL || chan == NULL) {
    pacer_error_set(&err, PACER_ENOMEM, "out of memory");
    goto fail;
  }
  r = redisCommand(c, "EVAL %s 2 %s %s", refresh_lua, hkey, chan);
  if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
    pacer_error_set(&err, PACER_EREDIS, "redis: %s",
                    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
                    : c->errstr[0]                            ? c->errstr
                                   : "unexpected reply");
    goto fail;
  }
  if (r->integer == -1)
    printf("credential %s: no token stored yet; the first job that uses it "
           "fetches one\n",
           name);
  else if (r->integer == -2)
    printf("credential %s: needs re-authorisation; run pacer cred set %s "
           "--refresh-token-file FILE\n",
           name, name);
  else
    printf("credential %s: refresh requested (generation %lld); a running "
           "worker renews the token now\n",
           name, r->integer);
  status = r->integer == -2 ? EXIT_USAGE : EXIT_OK;
  goto out;

fail:
  fprintf(stderr, "cred refresh: %s\n", err.msg);
out:
  if (r != NULL)
    freeReplyObject(r);
  free(hkey);
  free(chan);
  if (c != NULL)
    redisFree(c);
  pacer_config_free(&cfg);
  return status;
}

/* ------------------------------------------------------------------------
 * cred show
 * ------------------------------------------------------------------------ */

static int
show_json(const struct pacer_cli_creds *cs, const char *prefix,
          struct pacer_error *err)
{
  cJSON *o = cJSON_CreateObject();
  char *text = NULL;
  int ok = o != NULL;

  ok = ok && cJSON_AddStringToObject(o, "prefix", prefix) != NULL;
  ok = ok && pacer_cli_creds_add_json(o, cs) == 0;
  ok = ok && cJSON_AddNumberToObject(o, "parked_total",
                                     (double)cs->parked_total) != NULL;
  ok = ok && cJSON_AddNumberToObject(o, "parked_unmatched",
                                     (double)cs->parked_unmatched) != NULL;
  ok = ok && cJSON_AddBoolToObject(o, "parked_truncated",
                                   cs->parked_truncated) != NULL;
  if (ok)
    text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (text == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "json: out of memory");
  printf("%s\n", text);
  cJSON_free(text);
  return 0;
}

static int
cred_show(int argc, char **argv)
{
  struct cred_args a;
  struct pacer_config cfg;
  struct pacer_error err;
  struct pacer_cli_creds cs;
  redisContext *c = NULL;
  const char *config_path = NULL, *redis_url = NULL, *name = NULL;
  int json = 0, status = EXIT_USAGE, rc;

  memset(&cfg, 0, sizeof(cfg));
  memset(&cs, 0, sizeof(cs));
  pacer_error_clear(&err);
  rc = cred_args_parse("cred show", argc, argv, ARG_JSON, &a);
  if (rc != 0)
    return rc == EXIT_OK + 100 ? EXIT_OK : rc;
  config_path = a.config_path;
  redis_url = a.redis_url;
  name = a.name;
  json = a.json;

  if (config_load(&cfg, config_path, redis_url, &err) != 0)
    goto fail;
  if (name != NULL && pacer_config_credential(&cfg, name) == NULL) {
    unknown_name(&cfg, config_path, name, &err);
    goto fail;
  }
  if (cfg.ncreds == 0 && !json) {
    printf("no credentials configured%s\n",
           config_path == NULL ? " (pass --config FILE)" : "");
    status = fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
    goto out;
  }
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL)
    goto fail;
  if (pacer_cli_creds_collect(c, &cfg, name, &cs, &err) != 0)
    goto fail;
  if (json) {
    if (show_json(&cs, cfg.prefix, &err) != 0)
      goto fail;
  } else {
    pacer_cli_creds_print_text(stdout, &cs, "");
  }
  status = fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
  goto out;

fail:
  fprintf(stderr, "cred show: %s\n", err.msg);
out:
  pacer_cli_creds_free(&cs);
  if (c != NULL)
    redisFree(c);
  pacer_config_free(&cfg);
  return status;
}

int
pacer_cmd_cred(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "set") == 0)
    return cred_set(argc - 1, argv + 1);
  if (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "list") == 0)
    return cred_show(argc - 1, argv + 1);
  if (strcmp(argv[1], "refresh") == 0)
    return cred_refresh(argc - 1, argv + 1);
  fprintf(stderr, "cred: %s: unknown subcommand (set, show, list, refresh)\n\n",
          argv[1]);
  usage(stderr);
  return EXIT_USAGE;
}
