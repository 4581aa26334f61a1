/* `pacer <command> [options]`: dispatches to the pacer_cmd_* functions.
 *
 * libcurl is initialised here, once, before anything else runs and before
 * any thread starts (curl_global_init is not thread-safe), and cleaned up at
 * exit so LeakSanitizer has nothing to report. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "cli/cmd.h"

/* Exit status for usage errors, shared by every subcommand. */
#define EXIT_USAGE 2

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
};

static const struct command commands[] = {
    {"worker", pacer_cmd_worker, "run the scheduler daemon (SIGTERM drains)"},
    {"submit", pacer_cmd_submit,
     "queue jobs from a JSONL file; --wait follows them"},
    {"run", pacer_cmd_run,
     "run a JSONL batch on a private, embedded redis-server"},
    {"stats", pacer_cmd_stats, "show queue depths and consumers"},
    {"schedule", pacer_cmd_schedule,
     "recurring schedules: add, list, show, remove, pause, resume, run-now"},
    {"cred", pacer_cmd_cred,
     "OAuth2 credentials: set a new refresh token, show state"},
    {"result", pacer_cmd_result, "show the result of jobs by id"},
    {"dead", pacer_cmd_dead, "dead letters: list, show, retry, delete"},
    {"pause", pacer_cmd_pause, "pause limit buckets in every process"},
    {"resume", pacer_cmd_pause, "end an operator pause"},
    {"jobs", pacer_cmd_jobs, "list waiting jobs and why they wait"},
    {"cancel", pacer_cmd_cancel, "cancel waiting or running jobs by id"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *out)
{
  size_t i;

  fputs("usage: pacer <command> [options]\n"
        "\n"
        "A rate-limit-aware HTTP job scheduler fed by a Redis queue.\n"
        "\n"
        "commands:\n",
        out);
  for (i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fputs("\n"
        "options:\n"
        "  -h, --help     show this help\n"
        "  --version      show the versions of pacer and its libraries\n"
        "\n"
        "Run `pacer <command> --help` for a command's options. Client\n"
        "commands find Redis through --redis URL, then PACER_REDIS_URL, then\n"
        "redis_url in the --config file (default redis://127.0.0.1:6379/0).\n",
        out);
}

static void
version(void)
{
  const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);

  printf("pacer %s\n", PACER_VERSION);
  printf("libcurl %s%s%s%s\n", curl->version,
         curl->ssl_version != NULL ? " (" : "",
         curl->ssl_version != NULL ? curl->ssl_version : "",
         curl->ssl_version != NULL ? ")" : "");
  printf("libuv %s\n", uv_version_string());
  /* hiredis 0.14 has no run-time version call: these are the headers'. */
  printf("hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
  printf("cJSON %s\n", cJSON_Version());
}

static int
dispatch(int argc, char **argv)
{
  size_t i;

  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    version();
    return 0;
  }
  for (i = 0; i < NCOMMANDS; i++) {
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  }
  fprintf(stderr, "pacer: %s: unknown command\n\n", argv[1]);
  usage(stderr);
  return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
  struct sigaction sa;
  CURLcode cc;
  int status;

  cc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (cc != CURLE_OK) {
    fprintf(stderr, "pacer: curl_global_init: %s\n", curl_easy_strerror(cc));
    return EXIT_USAGE;
  }
  /* A peer that goes away must give EPIPE on the write, not kill us. */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPIPE, &sa, NULL) != 0) {
    perror("pacer: sigaction SIGPIPE");
    curl_global_cleanup();
    return EXIT_USAGE;
  }

  status = dispatch(argc, argv);
  if (fflush(stdout) != 0 && status == 0)
    status = EXIT_USAGE; /* e.g. `pacer stats > /dev/full` */
  curl_global_cleanup();
  return status;
}
