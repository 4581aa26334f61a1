/* `pacer cred set|show|refresh`: argument parsing and printing. The work
 * is the credential store's (store/cred_store.h, store/cred_state.h):
 *
 * cred set runs one script (store/lua/cred_set.lua), so the new token, the
 * generation bump, the release of the parked jobs and the event happen as
 * one step for every worker process. The refresh lock is only looked at:
 * the CLI never takes or deletes it. When a refresh was in flight, its
 * holder may still record its outcome, so the command says so.
 *
 * The token is read from a file that only its owner may read, or from an
 * environment variable; it is never printed, logged or put into an error
 * message, and the buffer that held it is wiped (docs/CREDENTIALS.md,
 * "What is never shown or logged").
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
#include "store/cred_store.h"

#define EXIT_OK    0
#define EXIT_USAGE 2 /* usage, config or Redis error (as every command) */

#define TOKEN_MAX      4096            /* new refresh token, bytes */
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
        "       pacer cred authorize NAME [--paste] [--no-browser] [--wait S]\n"
        "                      [--config FILE] [--redis URL]\n"
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
        "authorize  signs in to NAME's provider (authorization code with\n"
        "      PKCE, a loopback redirect) and stores the tokens; see\n"
        "      `pacer cred authorize --help`.\n"
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
  struct pacer_cred_set_result res;
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

  if (pacer_cli_config_load_names(&cfg, config_path, redis_url, &err) != 0)
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
  if (pacer_cred_store_set(c, cfg.prefix, name, tok, tok_len, &res, &err) != 0)
    goto fail;
  generation = res.generation;
  released = res.released;
  refreshing = res.refreshing;
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

static int
cred_refresh(int argc, char **argv)
{
  struct cred_args a;
  struct pacer_config cfg;
  struct pacer_error err;
  redisContext *c = NULL;
  const char *config_path = NULL, *redis_url = NULL, *name = NULL;
  long long gen = 0;
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
  if (pacer_cli_config_load_names(&cfg, config_path, redis_url, &err) != 0)
    goto fail;
  if (pacer_config_credential(&cfg, name) == NULL) {
    unknown_name(&cfg, config_path, name, &err);
    goto fail;
  }
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL)
    goto fail;
  if (pacer_cred_store_refresh(c, cfg.prefix, name, &gen, &err) != 0)
    goto fail;
  if (gen == -1)
    printf("credential %s: no token stored yet; the first job that uses it "
           "fetches one\n",
           name);
  else if (gen == -2)
    printf("credential %s: needs re-authorisation; run pacer cred set %s "
           "--refresh-token-file FILE\n",
           name, name);
  else
    printf("credential %s: refresh requested (generation %lld); a running "
           "worker renews the token now\n",
           name, gen);
  status = gen == -2 ? EXIT_USAGE : EXIT_OK;
  goto out;

fail:
  fprintf(stderr, "cred refresh: %s\n", err.msg);
out:
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

  if (pacer_cli_config_load_names(&cfg, config_path, redis_url, &err) != 0)
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
  if (strcmp(argv[1], "authorize") == 0)
    return pacer_cmd_cred_authorize(argc - 1, argv + 1);
  fprintf(stderr,
          "cred: %s: unknown subcommand (set, show, list, refresh, "
          "authorize)\n\n",
          argv[1]);
  usage(stderr);
  return EXIT_USAGE;
}
