/* `pacer cred authorize NAME`: sign in from pacer (docs/CREDENTIALS.md,
 * Signing in). The authorization-code grant with PKCE for a native app:
 *
 *   1. a PKCE verifier and a state from the system's random source
 *      (RFC 7636 §4.1; RFC 6749 §10.12);
 *   2. a listener on the loopback redirect URI
 *      http://127.0.0.1:<redirect_port>/callback (RFC 8252 §7.3; port 0 =
 *      a free one), libmicrohttpd on its own thread;
 *   3. the authorization URL printed and, when a desktop session and
 *      xdg-open exist, opened in the browser (RFC 8252 §4.1);
 *   4. the code from the redirect, or from the redirect URL pasted on
 *      stdin (--paste, for a host without a browser), its state checked;
 *   5. the code exchanged at token_url with the verifier (libcurl; RFC
 *      6749 §4.1.3, RFC 7636 §4.5), client authentication as for a
 *      refresh;
 *   6. the tokens stored in Redis as a refresh stores them, parked jobs
 *      released (store/cred_store.h, pacer_cred_store_authorize).
 *
 * The code, the verifier, the tokens and the client secret are never
 * printed and are wiped after use.
 */
#include "cli/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <sodium.h>

#include "common/clock.h"
#include "core/oauth_authz.h"
#include "core/oauth_token.h"
#include "store/cred_store.h"

#define EXIT_OK     0
#define EXIT_FAILED 1 /* the sign-in did not complete */
#define EXIT_USAGE  2 /* usage, config or Redis error */

#define WAIT_DEFAULT_S 300u  /* how long to wait for the redirect, s */
#define LINE_MAX_BYTES 16384 /* a pasted redirect URL, bytes */

extern char **environ;

static void
usage(FILE *out)
{
  fputs("usage: pacer cred authorize NAME [--paste] [--no-browser]\n"
        "                           [--wait S] [--config FILE] [--redis URL]\n"
        "\n"
        "Signs in to credential NAME's provider with the authorization-code\n"
        "grant and PKCE, and stores the tokens in Redis as a refresh does;\n"
        "the jobs parked while NAME needed re-authorisation are released.\n"
        "It prints the provider's sign-in address (and opens it with\n"
        "xdg-open when a desktop session has one), then waits for the\n"
        "browser to come back to http://127.0.0.1:PORT/callback.\n"
        "\n"
        "options:\n"
        "  --paste        also accept the address the browser was sent to,\n"
        "                 pasted on standard input (a host without a browser:\n"
        "                 sign in elsewhere, copy the address bar)\n"
        "  --no-browser   do not try to open a browser\n"
        "  --wait S       give up after S seconds (default 300)\n"
        "  --config FILE  the JSON config: NAME needs token_url, client_id,\n"
        "                 authorize_url; scopes (or scope) and redirect_port\n"
        "                 are optional\n"
        "  --redis URL    Redis to use (as for `pacer cred set`)\n"
        "\n"
        "exit status: 0 signed in, 1 the sign-in failed, 2 usage, config or\n"
        "Redis error.\n",
        out);
}

/* ------------------------------------------------------------------ */
/* The loopback redirect listener */

struct listener {
  struct MHD_Daemon *d;
  uint16_t port;
  int pipe_fd[2];     /* a byte on [1] once got is set */
  pthread_mutex_t mu; /* guards got */
  char *got;          /* the first /callback request's URI, owned */
  int answered;       /* the browser has the page for the callback */
  const char *cred;   /* borrowed, for the page */
};

/* libmicrohttpd's URI log callback: the raw request target, query and
 * all, kept as the request's context. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
  (void)cls;
  (void)con;
  return strdup(uri);
}

/* A request is over. Once the callback's page has gone out, the main
 * thread may stop the listener (stopping it earlier cut the browser's
 * connection before the page). */
static void
on_completed(void *cls, struct MHD_Connection *con, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
  struct listener *l = cls;
  char *uri = *req_cls;
  int wake = 0;

  (void)con;
  (void)toe;
  pthread_mutex_lock(&l->mu);
  if (l->got != NULL && !l->answered) {
    l->answered = 1;
    wake = 1;
  }
  pthread_mutex_unlock(&l->mu);
  if (wake) {
    char b = 1;

    if (write(l->pipe_fd[1], &b, 1) < 0) {
      /* the main thread polls with a deadline and sees answered anyway */
    }
  }
  if (uri != NULL) {
    sodium_memzero(uri, strlen(uri));
    free(uri);
    *req_cls = NULL;
  }
}

static enum MHD_Result
reply(struct MHD_Connection *con, unsigned status, const char *page)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(page), (void *)(uintptr_t)page, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result rc;

  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  rc = MHD_queue_response(con, status, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *con, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **req_cls)
{
  struct listener *l = cls;
  const char *uri = *req_cls;

  (void)version;
  (void)upload;
  (void)upload_size;
  if (strcmp(method, "GET") != 0 || strcmp(url, "/callback") != 0 ||
      uri == NULL)
    return reply(con, MHD_HTTP_NOT_FOUND, "<p>Not found.</p>\n");
  pthread_mutex_lock(&l->mu);
  if (l->got == NULL)
    l->got = strdup(uri);
  pthread_mutex_unlock(&l->mu);
  return reply(con, MHD_HTTP_OK,
               "<!doctype html><title>pacer</title><p>pacer got the answer "
               "of the sign-in. You can close this window and return to the "
               "terminal.</p>\n");
}

static int
listener_start(struct listener *l, uint16_t port, struct pacer_error *err)
{
  struct sockaddr_in sa;
  const union MHD_DaemonInfo *info;

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (pipe(l->pipe_fd) != 0) {
    l->pipe_fd[0] = l->pipe_fd[1] = -1;
    return pacer_error_set(err, PACER_EIO,
                           "authorize: cannot make a pipe (errno %d)", errno);
  }
  pthread_mutex_init(&l->mu, NULL);
  l->d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, port, NULL, NULL,
      on_request, l, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, l, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  if (l->d == NULL)
    return pacer_error_set(err, PACER_EIO,
                           "authorize: cannot listen on 127.0.0.1:%u (in use? "
                           "set redirect_port to a free port, or 0)",
                           (unsigned)port);
  info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
  l->port = info != NULL ? info->port : port;
  return 0;
}

static void
listener_stop(struct listener *l)
{
  if (l->d != NULL)
    MHD_stop_daemon(l->d);
  l->d = NULL;
  if (l->got != NULL) {
    sodium_memzero(l->got, strlen(l->got));
    free(l->got);
    l->got = NULL;
  }
  if (l->pipe_fd[0] >= 0) {
    close(l->pipe_fd[0]);
    close(l->pipe_fd[1]);
    l->pipe_fd[0] = l->pipe_fd[1] = -1;
    pthread_mutex_destroy(&l->mu);
  }
}

/* Waits up to wait_s for the redirect (or, with paste, a line on stdin).
 * Returns an owned copy of what came, or NULL after the deadline. */
static char *
wait_for_redirect(struct listener *l, int paste, unsigned wait_s)
{
  uint64_t deadline = pacer_clock_mono_ms() + (uint64_t)wait_s * 1000u;
  char *line = NULL;
  size_t used = 0;
  int stdin_open = paste;

  for (;;) {
    struct pollfd p[2] = {{l->pipe_fd[0], POLLIN, 0}, {0, POLLIN, 0}};
    uint64_t now = pacer_clock_mono_ms();
    char *got;
    int n;

    pthread_mutex_lock(&l->mu);
    got = l->answered || now >= deadline ? l->got : NULL;
    if (got != NULL)
      l->got = NULL;
    pthread_mutex_unlock(&l->mu);
    if (got != NULL) {
      if (line != NULL) {
        sodium_memzero(line, LINE_MAX_BYTES);
        free(line);
      }
      return got;
    }
    if (now >= deadline)
      break;
    n = poll(p, stdin_open ? 2 : 1, (int)(deadline - now));
    if (n < 0 && errno != EINTR)
      break;
    if (stdin_open && n > 0 && (p[1].revents & (POLLIN | POLLHUP))) {
      ssize_t r;

      if (line == NULL && (line = calloc(1, LINE_MAX_BYTES)) == NULL)
        break;
      r = read(0, line + used, LINE_MAX_BYTES - 1 - used);
      if (r <= 0) {
        stdin_open = 0; /* end of input: keep waiting for the browser */
        continue;
      }
      used += (size_t)r;
      if (memchr(line, '\n', used) != NULL || used >= LINE_MAX_BYTES - 1) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '\0') {
          got = strdup(line);
          sodium_memzero(line, LINE_MAX_BYTES);
          free(line);
          return got;
        }
        used = 0;
      }
    }
  }
  if (line != NULL) {
    sodium_memzero(line, LINE_MAX_BYTES);
    free(line);
  }
  return NULL;
}

/* Opens url with xdg-open when a desktop session and xdg-open exist
 * (RFC 8252 §4.1: the system browser). Returns the child, or -1. */
static pid_t
open_browser(const char *url)
{
  posix_spawn_file_actions_t fa;
  char *argv[3];
  pid_t pid = -1;

  if (getenv("DISPLAY") == NULL && getenv("WAYLAND_DISPLAY") == NULL)
    return -1;
  argv[0] = "xdg-open";
  argv[1] = (char *)(uintptr_t)url;
  argv[2] = NULL;
  if (posix_spawn_file_actions_init(&fa) != 0)
    return -1;
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  if (posix_spawnp(&pid, "xdg-open", &fa, NULL, argv, environ) != 0)
    pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

/* ------------------------------------------------------------------ */
/* The token request */

struct body {
  char *buf;
  size_t len;
  int too_large;
};

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
  struct body *b = arg;
  size_t add = size * n;
  char *grown;

  if (b->len + add > PACER_OAUTH_BODY_MAX) {
    b->too_large = 1;
    return 0;
  }
  grown = realloc(b->buf, b->len + add + 1);
  if (grown == NULL)
    return 0;
  b->buf = grown;
  memcpy(b->buf + b->len, data, add);
  b->len += add;
  b->buf[b->len] = '\0';
  return add;
}

/* POSTs req to cfg's token_url. Returns the HTTP status (0 when none came)
 * with the body in *b (owned by the caller), or -1 with err set. */
static long
post_token(const struct pacer_cred_cfg *cfg,
           const struct pacer_oauth_request *req, struct body *b,
           struct pacer_error *err)
{
  struct curl_slist *h = NULL, *h2;
  char ebuf[CURL_ERROR_SIZE] = "";
  long status = 0;
  CURLcode cc;
  CURL *e;

  e = curl_easy_init();
  if (e == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "token request: out of memory");
  h2 = curl_slist_append(h, PACER_OAUTH_CONTENT_TYPE);
  h = h2 != NULL ? curl_slist_append(h2, "Accept: application/json") : NULL;
  if (h != NULL && req->auth_header != NULL)
    h = curl_slist_append(h, req->auth_header);
  if (h == NULL) {
    curl_slist_free_all(h2);
    curl_easy_cleanup(e);
    return pacer_error_set(err, PACER_ENOMEM, "token request: out of memory");
  }
  curl_easy_setopt(e, CURLOPT_URL, cfg->token_url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->token_timeout_ms);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
  cc = curl_easy_perform(e);
  if (cc == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  curl_slist_free_all(h); /* the Basic line is wiped by its owner, req */
  if (cc != CURLE_OK)
    return pacer_error_set(err, PACER_EIO, "token request: %s",
                           b->too_large ? "response too large"
                           : ebuf[0]    ? ebuf
                                        : curl_easy_strerror(cc));
  return status;
}

/* ------------------------------------------------------------------ */
/* The command */

struct authz_args {
  const char *config_path, *redis_url, *name;
  int paste, no_browser;
  unsigned wait_s;
};

static int
parse_args(int argc, char **argv, struct authz_args *a)
{
  struct pacer_error err;
  const char *wait = NULL;
  int i, rc;

  memset(a, 0, sizeof(*a));
  a->wait_s = WAIT_DEFAULT_S;
  pacer_error_clear(&err);
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return EXIT_OK + 100;
    } else if (strcmp(arg, "--paste") == 0) {
      a->paste = 1;
    } else if (strcmp(arg, "--no-browser") == 0) {
      a->no_browser = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--config",
                                         &a->config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis",
                                         &a->redis_url, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--wait", &wait,
                                         &err)) != 0) {
      if (rc < 0) {
        fprintf(stderr, "cred authorize: %s\n", err.msg);
        usage(stderr);
        return EXIT_USAGE;
      }
    } else if (arg[0] == '-' || a->name != NULL) {
      fprintf(stderr, "cred authorize: %.*s: unexpected argument\n",
              (int)strcspn(arg, "="), arg);
      usage(stderr);
      return EXIT_USAGE;
    } else {
      a->name = arg;
    }
  }
  if (wait != NULL) {
    char *end;
    unsigned long v = strtoul(wait, &end, 10);

    if (*end != '\0' || end == wait || v == 0 || v > 86400) {
      fprintf(stderr, "cred authorize: --wait: must be 1 to 86400 seconds\n");
      return EXIT_USAGE;
    }
    a->wait_s = (unsigned)v;
  }
  if (a->name == NULL) {
    fprintf(stderr, "cred authorize: NAME is missing\n");
    usage(stderr);
    return EXIT_USAGE;
  }
  return 0;
}

/* Checks the redirect and exchanges its code. Returns EXIT_OK with *tok
 * holding the tokens, or EXIT_FAILED after printing why. */
static int
exchange(const struct pacer_cred_cfg *cfg, const char *redirect,
         const char *state, const char *redirect_uri, const char *verifier,
         struct pacer_oauth_token *tok, uint64_t *sent_ms)
{
  struct pacer_oauth_callback cb;
  struct pacer_oauth_request req;
  struct pacer_error err;
  struct body b = {NULL, 0, 0};
  long status;
  int prc, rc = EXIT_FAILED;

  pacer_error_clear(&err);
  if (pacer_oauth_callback_parse(redirect, &cb, &err) != 0) {
    fprintf(stderr, "cred authorize: %s\n", err.msg);
    return EXIT_FAILED;
  }
  /* RFC 6749 §10.12: an answer to a request we did not make is dropped */
  if (cb.state == NULL || strlen(cb.state) != strlen(state) ||
      sodium_memcmp(cb.state, state, strlen(state)) != 0) {
    fprintf(stderr, "cred authorize: the redirect's state does not match this "
                    "sign-in (an old or forged answer); nothing stored\n");
    pacer_oauth_callback_free(&cb);
    return EXIT_FAILED;
  }
  if (cb.error != NULL) {
    fprintf(stderr, "cred authorize: the provider refused: %s%s%s\n", cb.error,
            cb.error_description ? ": " : "",
            cb.error_description ? cb.error_description : "");
    pacer_oauth_callback_free(&cb);
    return EXIT_FAILED;
  }
  if (pacer_oauth_code_request(&req, cfg->auth_method, cfg->client_id,
                               cfg->client_secret.value, cb.code, redirect_uri,
                               verifier, &err) != 0) {
    fprintf(stderr, "cred authorize: %s\n", err.msg);
    pacer_oauth_callback_free(&cb);
    return EXIT_FAILED;
  }
  pacer_oauth_callback_free(&cb);
  *sent_ms = pacer_clock_unix_ms();
  status = post_token(cfg, &req, &b, &err);
  pacer_oauth_request_free(&req);
  if (status < 0) {
    fprintf(stderr, "cred authorize: %s\n", err.msg);
  } else {
    prc = b.buf != NULL ? pacer_oauth_token_parse(tok, b.buf, b.len, &err)
                        : PACER_EINVAL;
    if (pacer_oauth_classify((int)status, prc, tok) != PACER_OAUTH_OK) {
      const char *secrets[1] = {cfg->client_secret.value};

      if (prc == 0)
        pacer_oauth_token_redact(tok, secrets, 1);
      fprintf(stderr,
              "cred authorize: the token endpoint refused the code: HTTP "
              "%ld%s%s%s%s\n",
              status, prc == 0 && tok->error ? " " : "",
              prc == 0 && tok->error ? tok->error : "",
              prc == 0 && tok->error_description ? ": " : "",
              prc == 0 && tok->error_description ? tok->error_description : "");
    } else if (tok->refresh_token == NULL) {
      fprintf(stderr,
              "cred authorize: the provider gave no refresh token, so pacer "
              "could not renew the access token; ask for offline access "
              "(for many providers a scope such as offline_access, in "
              "\"scopes\")\n");
    } else {
      rc = EXIT_OK;
    }
  }
  if (b.buf != NULL) {
    sodium_memzero(b.buf, b.len);
    free(b.buf);
  }
  return rc;
}

int
pacer_cmd_cred_authorize(int argc, char **argv)
{
  struct authz_args a;
  struct pacer_config cfg;
  struct pacer_error err;
  struct listener l;
  struct pacer_oauth_token tok;
  struct pacer_cred_set_result res;
  const struct pacer_cred_cfg *cc;
  unsigned char rnd[PACER_OAUTH_PKCE_RANDOM];
  char verifier[PACER_OAUTH_PKCE_LEN + 1], challenge[PACER_OAUTH_PKCE_LEN + 1];
  char state[PACER_OAUTH_STATE_LEN + 1], redirect_uri[64];
  char *url = NULL, *redirect = NULL;
  redisContext *c = NULL;
  uint64_t sent_ms = 0, exp = 0;
  pid_t browser = -1;
  int rc;

  if ((rc = parse_args(argc, argv, &a)) != 0)
    return rc == EXIT_OK + 100 ? EXIT_OK : rc;
  memset(&l, 0, sizeof(l));
  l.pipe_fd[0] = l.pipe_fd[1] = -1;
  memset(&tok, 0, sizeof(tok));
  pacer_error_clear(&err);
  if (pacer_oauth_global_init() != 0 ||
      curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
    fprintf(stderr, "cred authorize: cannot initialise libsodium or libcurl\n");
    return EXIT_USAGE;
  }
  if (pacer_cli_config_load(&cfg, a.config_path, a.redis_url, &err) != 0) {
    fprintf(stderr, "cred authorize: %s\n", err.msg);
    return EXIT_USAGE;
  }
  cc = pacer_config_credential(&cfg, a.name);
  if (cc == NULL || cc->authorize_url == NULL) {
    if (cc == NULL)
      fprintf(stderr, "cred authorize: credential \"%s\" is not in %s\n",
              a.name, a.config_path != NULL ? a.config_path : "the config");
    else
      fprintf(stderr,
              "cred authorize: credentials.%s.authorize_url: required for "
              "pacer cred authorize (the provider's authorization endpoint)\n",
              a.name);
    pacer_config_free(&cfg);
    return EXIT_USAGE;
  }
  /* Redis first: a sign-in whose tokens cannot be stored is wasted. */
  c = pacer_cli_redis_connect(&cfg, &err);
  if (c == NULL) {
    fprintf(stderr, "cred authorize: %s\n", err.msg);
    pacer_config_free(&cfg);
    return EXIT_USAGE;
  }
  rc = EXIT_USAGE;
  if (listener_start(&l, cc->redirect_port, &err) != 0) {
    fprintf(stderr, "cred authorize: %s\n", err.msg);
    goto out;
  }
  randombytes_buf(rnd, sizeof(rnd));
  pacer_oauth_pkce(rnd, verifier, challenge);
  sodium_memzero(rnd, sizeof(rnd));
  randombytes_buf(rnd, PACER_OAUTH_STATE_RANDOM);
  sodium_bin2hex(state, sizeof(state), rnd, PACER_OAUTH_STATE_RANDOM);
  snprintf(redirect_uri, sizeof(redirect_uri), "http://127.0.0.1:%u/callback",
           (unsigned)l.port);
  if (pacer_oauth_authorize_url(cc->authorize_url, cc->client_id, redirect_uri,
                                cc->scopes != NULL ? cc->scopes : cc->scope,
                                state, challenge, &url, &err) != 0) {
    fprintf(stderr, "cred authorize: %s\n", err.msg);
    goto out;
  }
  printf("To sign in to credential %s, open this address in a browser:\n\n"
         "  %s\n\n",
         a.name, url);
  if (!a.no_browser && (browser = open_browser(url)) > 0)
    printf("(opened it with xdg-open)\n");
  if (a.paste)
    printf("After signing in, the browser goes to %s?code=...; if that page "
           "does not load (another machine), copy the whole address from the "
           "address bar and paste it here, then press Enter:\n",
           redirect_uri);
  else
    printf("Waiting up to %u s for the browser to come back to %s ...\n",
           a.wait_s, redirect_uri);
  fflush(stdout);
  redirect = wait_for_redirect(&l, a.paste, a.wait_s);
  listener_stop(&l);
  rc = EXIT_FAILED;
  if (redirect == NULL) {
    fprintf(stderr,
            "cred authorize: no answer from the browser within %u s; "
            "nothing stored\n",
            a.wait_s);
    goto out;
  }
  rc = exchange(cc, redirect, state, redirect_uri, verifier, &tok, &sent_ms);
  if (rc != EXIT_OK)
    goto out;
  pacer_oauth_expiry(&tok, sent_ms, 0, cc->lifetime_default_s, &exp);
  if (pacer_cred_store_authorize(
          c, cfg.prefix, a.name, tok.refresh_token, tok.access_token, exp,
          exp > sent_ms ? (exp - sent_ms) / 1000u : 0, &res, &err) != 0) {
    fprintf(stderr,
            "cred authorize: %s (the sign-in worked; run the command "
            "again once Redis is back)\n",
            err.msg);
    rc = EXIT_USAGE;
    goto out;
  }
  printf("credential %s: signed in; tokens stored (generation %lld, access "
         "token valid for %" PRIu64 " s); %lld parked jobs released\n",
         a.name, res.generation, exp > sent_ms ? (exp - sent_ms) / 1000u : 0,
         res.released);
out:
  listener_stop(&l);
  if (browser > 0)
    waitpid(browser, NULL, WNOHANG);
  if (redirect != NULL) {
    sodium_memzero(redirect, strlen(redirect));
    free(redirect);
  }
  free(url);
  sodium_memzero(verifier, sizeof(verifier));
  pacer_oauth_token_free(&tok);
  redisFree(c);
  pacer_config_free(&cfg);
  curl_global_cleanup();
  return rc;
}
