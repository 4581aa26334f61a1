/* `pacer worker --prefix A --prefix B`: one child process per prefix.
 *
 * The scheduler keeps process-wide state (the default libuv loop, signal
 * handlers, libcurl's global init, the log), so several prefixes run as
 * several `pacer worker` processes under this small supervisor rather
 * than as several schedulers in one process (docs/DEPLOY.md "Several
 * prefixes in one worker"). */
#include "cli/cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/log.h"

#define MAX_CHILDREN PACER_CLI_PREFIXES_MAX

static char arg_pacer[] = "pacer", arg_worker[] = "worker",
            arg_metrics[] = "--metrics", arg_off[] = "off",
            arg_prefix[] = "--prefix";
static pid_t children[MAX_CHILDREN];
static volatile sig_atomic_t nchildren;
static volatile sig_atomic_t stopping; /* a stop signal was forwarded */

/* Forwards signum to every live child. Async-signal-safe. */
static void
forward(int signum)
{
  for (sig_atomic_t i = 0; i < nchildren; i++)
    if (children[i] > 0)
      kill(children[i], signum);
}

static void
on_signal(int signum)
{
  int saved = errno;

  if (signum != SIGHUP)
    stopping = 1;
  forward(signum);
  errno = saved;
}

/* True for argv[i] being one of names (as "--x V" or "--x=V"); *skip is
 * then the number of argv entries it takes. */
static int
is_opt(char **argv, int argc, int i, const char *name, int *skip)
{
  size_t n = strlen(name);

  if (strncmp(argv[i], name, n) != 0)
    return 0;
  if (argv[i][n] == '=') {
    *skip = 1;
    return 1;
  }
  if (argv[i][n] != '\0')
    return 0;
  *skip = i + 1 < argc ? 2 : 1;
  return 1;
}

/* The child's argv: argv without --prefix (and, for all but the first
 * child, without --metrics/--metrics-token-file, adding --metrics off),
 * then --prefix P. Owned by the caller: free_argv. */
static char **
child_argv(int argc, char **argv, const char *prefix, int first)
{
  char **out = calloc((size_t)argc + 6, sizeof(*out));
  int i, n = 0, skip;

  if (out == NULL)
    return NULL;
  out[n++] = arg_pacer;
  out[n++] = arg_worker;
  for (i = 1; i < argc; i += skip) {
    skip = 1;
    if (is_opt(argv, argc, i, "--prefix", &skip))
      continue;
    if (!first && (is_opt(argv, argc, i, "--metrics-token-file", &skip) ||
                   is_opt(argv, argc, i, "--metrics", &skip)))
      continue;
    skip = 1;
    out[n++] = argv[i];
  }
  if (!first) {
    out[n++] = arg_metrics;
    out[n++] = arg_off;
  }
  out[n++] = arg_prefix;
  if ((out[n++] = strdup(prefix)) == NULL) {
    free(out);
    return NULL;
  }
  out[n] = NULL;
  return out;
}

static void
free_argv(char **a)
{
  int n = 0;

  while (a[n] != NULL)
    n++;
  free(a[n - 1]); /* the prefix copy */
  free(a);
}

/* A child's status as an exit code: its own, or 128 + the signal. A
 * child that a forwarded SIGINT/SIGTERM ended before it took the signal
 * over (still starting) stopped as asked: 0. */
static int
status_code(int st)
{
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st) && stopping &&
      (WTERMSIG(st) == SIGTERM || WTERMSIG(st) == SIGINT))
    return 0;
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return 1;
}

int
pacer_cli_worker_prefixes(int argc, char **argv, const char *const *prefixes,
                          int nprefixes)
{
  struct sigaction sa;
  sigset_t block, old;
  int i, worst = 0, live = 0;

  if (nprefixes > MAX_CHILDREN) {
    fprintf(stderr, "worker: --prefix: at most %d prefixes\n", MAX_CHILDREN);
    return 2;
  }
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  /* Hold the signals while forking so none is lost between a fork and
   * the child's pid being recorded. */
  sigprocmask(SIG_BLOCK, &block, &old);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  fflush(NULL);
  for (i = 0; i < nprefixes; i++) {
    char **cargv = child_argv(argc, argv, prefixes[i], i == 0);
    pid_t pid;

    if (cargv == NULL) {
      fprintf(stderr, "worker: out of memory\n");
      worst = 2;
      break;
    }
    pid = fork();
    if (pid == 0) {
      struct sigaction dfl;

      /* Own process group: a terminal's Ctrl-C reaches the supervisor
       * only, which forwards it once (a second signal means "exit now"
       * to a worker). */
      setpgid(0, 0);
      memset(&dfl, 0, sizeof(dfl));
      dfl.sa_handler = SIG_DFL;
      sigemptyset(&dfl.sa_mask);
      sigaction(SIGINT, &dfl, NULL);
      sigaction(SIGTERM, &dfl, NULL);
      dfl.sa_handler = SIG_IGN; /* the worker takes SIGHUP over itself */
      sigaction(SIGHUP, &dfl, NULL);
      sigprocmask(SIG_SETMASK, &old, NULL);
      execv("/proc/self/exe", cargv);
      fprintf(stderr, "worker: cannot start the worker for prefix %s: %s\n",
              prefixes[i], uv_strerror(-errno));
      _exit(2);
    }
    free_argv(cargv);
    if (pid < 0) {
      fprintf(stderr, "worker: fork: %s\n", uv_strerror(-errno));
      worst = 2;
      break;
    }
    children[i] = pid;
    nchildren = (sig_atomic_t)(i + 1);
    live++;
  }
  if (worst != 0)
    stopping = 1;
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (worst != 0)
    forward(SIGTERM);
  pacer_log(PACER_LOG_INFO, "main",
            "msg=\"serving several prefixes, one worker process each\" "
            "processes=%d",
            live);
  while (live > 0) {
    int st, code;
    pid_t pid = waitpid(-1, &st, 0);

    if (pid < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (i = 0; i < nchildren; i++) {
      if (children[i] != pid)
        continue;
      children[i] = 0;
      live--;
      code = status_code(st);
      if (code > worst)
        worst = code;
      if (!stopping) {
        /* One queue stopped on its own (refused config, lost Redis
         * credentials): stop the others so the service manager sees
         * the failure and restarts the whole set. */
        char q[320];

        pacer_log(PACER_LOG_ERROR, "main",
                  "msg=\"a prefix's worker exited; stopping the others\" "
                  "prefix=%s status=%d",
                  pacer_log_value(q, sizeof(q), prefixes[i]), code);
        sigprocmask(SIG_BLOCK, &block, NULL);
        stopping = 1;
        forward(SIGTERM);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (worst == 0)
          worst = 1;
      }
    }
  }
  return worst;
}
