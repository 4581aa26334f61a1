/* `pacer result ID... [--json]`: the terminal result of jobs by id, found
 * through the result index (store/job_index.h, docs/REDIS.md "Result
 * index"), never by scanning the results stream. */
#include "cli/cmd.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/run_report.h"
#include "core/job.h"
#include "store/job_index.h"

#define EXIT_OK       0
#define EXIT_NOTFOUND 1 /* some id has no result (yet) */
#define EXIT_USAGE    2 /* usage, config or Redis error (as every command) */

static void
usage(FILE *out)
{
  fputs("usage: pacer result ID... [--json] [--config FILE] [--redis URL]\n"
        "\n"
        "Prints the terminal result of each job ID: state, HTTP status,\n"
        "reason, attempts, timings, response headers and body (secrets were\n"
        "scrubbed when it was written). Results are found through an index\n"
        "kept for result_ttl_ms (default 24 h) after the job finished.\n"
        "\n"
        "options:\n"
        "  --json         one JSON object per line, as `pacer run --out`\n"
        "                 writes them (a missing result is\n"
        "                 {\"id\": ID, \"state\": null, \"error\": ...})\n"
        "  --config FILE  the JSON config (for prefix and redis_url)\n"
        "  --redis URL    Redis to use; overrides PACER_REDIS_URL, which\n"
        "                 overrides redis_url from the config\n"
        "  -h, --help     show this help\n"
        "\n"
        "exit status: 0 every result found, 1 some job has no result (not\n"
        "finished, unknown, or older than result_ttl_ms), 2 usage, config\n"
        "or Redis error.\n",
        out);
}

/* Writes len bytes of v to out with control bytes other than newline and
 * tab shown as '?', so a body cannot drive the terminal. */
static void
put_safe(FILE *out, const char *v, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)v[i];

    fputc(ch < 0x20 && ch != '\n' && ch != '\t' ? '?'
          : ch == 0x7f                          ? '?'
                                                : ch,
          out);
  }
}

/* What print_entry prints to. */
struct print_ctx {
  int json;
};

/* Prints one result (a pacer_results_entry_cb): "name: value" lines, the
 * body last, or one JSON line. */
static int
print_entry(void *arg, const char *entry_id,
            const struct pacer_results_field *f, size_t nfields)
{
  struct print_ctx *pc = arg;
  size_t i;

  if (pc->json) {
    char *line = pacer_run_entry_json(f, nfields);

    if (line == NULL)
      return PACER_ENOMEM;
    printf("%s\n", line);
    cJSON_free(line);
    return 0;
  }
  for (i = 0; i < nfields; i++) {
    if (strcmp(f[i].name, "body") == 0)
      continue;
    printf("%-17s ", f[i].name);
    put_safe(stdout, f[i].value, f[i].value_len);
    putchar('\n');
  }
  printf("%-17s %s\n", "result_entry", entry_id);
  for (i = 0; i < nfields; i++) {
    if (strcmp(f[i].name, "body") != 0)
      continue;
    printf("body:\n");
    put_safe(stdout, f[i].value, f[i].value_len);
    if (f[i].value_len > 0 && f[i].value[f[i].value_len - 1] != '\n')
      putchar('\n');
  }
  return 0;
}

/* Prints that id has no result: a JSON line with --json, else stderr. */
static void
print_missing(const char *id, int json, const char *why)
{
  if (json) {
    cJSON *o = cJSON_CreateObject();
    char *line = NULL;

    if (o != NULL && cJSON_AddStringToObject(o, "id", id) != NULL &&
        cJSON_AddNullToObject(o, "state") != NULL &&
        cJSON_AddStringToObject(o, "error", why) != NULL)
      line = cJSON_PrintUnformatted(o);
    if (line != NULL)
      printf("%s\n", line);
    cJSON_free(line);
    cJSON_Delete(o);
  }
  fprintf(stderr, "pacer result: %s: %s\n", id, why);
}

int
pacer_cmd_result(int argc, char **argv)
{
  const char *config_path = NULL, *redis_url = NULL;
  struct pacer_config cfg;
  struct pacer_error err;
  struct print_ctx pc = {0};
  redisContext *c = NULL;
  int i, rc, nids = 0, status = EXIT_OK;

  pacer_error_clear(&err);
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return EXIT_OK;
    } else if (strcmp(arg, "--json") == 0) {
      pc.json = 1;
    } else if ((rc = pacer_cli_opt_value(argc, argv, &i, "--config",
                                         &config_path, &err)) != 0 ||
               (rc = pacer_cli_opt_value(argc, argv, &i, "--redis", &redis_url,
                                         &err)) != 0) {
      if (rc < 0) {
        fprintf(stderr, "pacer result: %s\n", err.msg);
        return EXIT_USAGE;
      }
    } else if (arg[0] == '-' && arg[1] != '\0') {
      fprintf(stderr, "pacer result: %.*s: unknown option\n",
              (int)strcspn(arg, "="), arg);
      usage(stderr);
      return EXIT_USAGE;
    } else if (pacer_job_id_check(arg, &err) != 0) {
      fprintf(stderr, "pacer result: %s\n", err.msg);
      return EXIT_USAGE;
    } else {
      nids++;
    }
  }
  if (nids == 0) {
    fprintf(stderr, "pacer result: give at least one job ID\n");
    usage(stderr);
    return EXIT_USAGE;
  }
  rc = pacer_cli_config_load_names(&cfg, config_path, redis_url, &err);
  if (rc == 0 && (c = pacer_cli_redis_connect(&cfg, &err)) == NULL)
    rc = err.code != 0 ? err.code : PACER_EREDIS;
  if (rc != 0) {
    fprintf(stderr, "pacer result: %s\n", err.msg);
    pacer_config_free(&cfg);
    return EXIT_USAGE;
  }
  for (i = 1; i < argc && status != EXIT_USAGE; i++) {
    const char *arg = argv[i];

    if (arg[0] == '-' && arg[1] != '\0') {
      if (strcmp(arg, "--config") == 0 || strcmp(arg, "--redis") == 0)
        i++;
      continue;
    }
    rc = pacer_job_index_result(c, cfg.prefix, arg, print_entry, &pc, &err);
    if (rc == PACER_JOB_INDEX_NONE) {
      print_missing(arg, pc.json,
                    "no result: not finished yet, unknown id, or finished "
                    "longer ago than result_ttl_ms");
      status = EXIT_NOTFOUND;
    } else if (rc == PACER_JOB_INDEX_TRIMMED) {
      print_missing(arg, pc.json,
                    "the result was trimmed from the results stream "
                    "(raise results_maxlen to keep more)");
      status = EXIT_NOTFOUND;
    } else if (rc < 0) {
      fprintf(stderr, "pacer result: %s\n",
              rc == PACER_ENOMEM ? "out of memory" : err.msg);
      status = EXIT_USAGE;
    }
  }
  redisFree(c);
  pacer_config_free(&cfg);
  return status;
}
