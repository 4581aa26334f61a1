/* Helpers shared by the client commands (submit, stats): option and
 * configuration handling, the id set a batch waits on, and the progress
 * display. */
#include "cli/cmd.h"
#include "scheduler/config_load.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Options and configuration
 * ------------------------------------------------------------------------ */

void
pacer_cli_pause_text(uint64_t left_ms, uint64_t end_unix_ms, const char *how,
                     char *buf, size_t size)
{
  time_t t = (time_t)(end_unix_ms / 1000u);
  struct tm tm;
  char at[32];

  if (left_ms == 0 || left_ms > PACER_CLI_PAUSE_FOREVER_MS) {
    snprintf(buf, size, "until `pacer resume%s`", how);
    return;
  }
  if (gmtime_r(&t, &tm) == NULL ||
      strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(at, sizeof(at), "?");
  snprintf(buf, size, "for %" PRIu64 " s (until %s)", (left_ms + 999) / 1000,
           at);
}

int
pacer_cli_opt_value(int argc, char **argv, int *i, const char *name,
                    const char **value, struct pacer_error *err)
{
  const char *arg = argv[*i];
  size_t n = strlen(name);

  if (strncmp(arg, name, n) != 0)
    return 0;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return 1;
  }
  if (arg[n] != '\0')
    return 0;
  if (*i + 1 >= argc)
    return pacer_error_set(err, PACER_EINVAL, "%s: needs a value", name);
  *i += 1;
  *value = argv[*i];
  return 1;
}

int
pacer_cli_duration_ms(const char *s, const char *name, uint64_t *ms,
                      struct pacer_error *err)
{
  static const struct {
    const char *unit;
    uint64_t ms;
  } units[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  unsigned long long v;
  char *end;
  size_t i;

  errno = 0;
  v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
  if (v > 0 && errno == 0) {
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
      if (strcmp(end, units[i].unit) == 0 &&
          v <= 30ull * 86400000 / units[i].ms) {
        *ms = (uint64_t)v * units[i].ms;
        return 0;
      }
    }
  }
  return pacer_error_set(err, PACER_EINVAL,
                         "%s: \"%.40s\" is not a duration of 1 ms to 30 days: "
                         "use N followed by ms, s, m, h or d, e.g. 15m",
                         name, s);
}

int
pacer_cli_config_load(struct pacer_config *cfg, const char *config_path,
                      const char *redis_url, struct pacer_error *err)
{
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int rc;

  rc = pacer_config_defaults(cfg, ncpu > 0 ? (unsigned)ncpu : 1u);
  if (rc != 0)
    return pacer_error_set(err, rc, "config: %s", pacer_strerror(rc));
  if (config_path != NULL) {
    rc = pacer_config_load(cfg, config_path, err);
    if (rc != 0)
      return rc;
  }
  return pacer_cli_config_redis(cfg, redis_url, err);
}

/* The config file of a command that needs no secret, bytes, max. */
#define NAMES_CONFIG_MAX (1024u * 1024u)

int
pacer_cli_config_load_names(struct pacer_config *cfg, const char *config_path,
                            const char *redis_url, struct pacer_error *err)
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
  if (config_path != NULL) {
    f = fopen(config_path, "re");
    if (f == NULL) {
      int saved = errno;

      if (strerror_r(saved, ebuf, sizeof(ebuf)) != 0)
        snprintf(ebuf, sizeof(ebuf), "error %d", saved);
      return pacer_error_set(err, PACER_ECONFIG, "config: %s: %s", config_path,
                             ebuf);
    }
    buf = malloc(NAMES_CONFIG_MAX + 1);
    if (buf == NULL) {
      fclose(f);
      return pacer_error_set(err, PACER_ENOMEM, "config: out of memory");
    }
    len = fread(buf, 1, NAMES_CONFIG_MAX + 1, f);
    rc = ferror(f) ? pacer_error_set(err, PACER_ECONFIG,
                                     "config: %s: read error", config_path)
         : len > NAMES_CONFIG_MAX
             ? pacer_error_set(err, PACER_ECONFIG,
                               "config: %s: larger than the %u-byte limit",
                               config_path, NAMES_CONFIG_MAX)
             : pacer_config_parse(cfg, buf, len, err);
    fclose(f);
    explicit_bzero(buf, len); /* may hold inline secrets */
    free(buf);
    if (rc != 0)
      return rc;
  }
  return pacer_cli_config_redis(cfg, redis_url, err);
}

int
pacer_cli_config_redis(struct pacer_config *cfg, const char *redis_url,
                       struct pacer_error *err)
{
  /* Precedence: --redis over PACER_REDIS_URL over the file. */
  int rc = pacer_config_apply_env(cfg, getenv("PACER_REDIS_URL"));

  if (rc == 0)
    rc = pacer_config_apply_env(cfg, redis_url);
  if (rc != 0)
    return pacer_error_set(err, rc, "config: %s", pacer_strerror(rc));
  return 0;
}

redisContext *
pacer_cli_redis_connect(const struct pacer_config *cfg, struct pacer_error *err)
{
  struct pacer_redis_addr addr;
  redisContext *c;

  if (pacer_redis_addr_parse(cfg->redis_url, &addr, err) != 0 ||
      pacer_redis_addr_route(&addr, cfg->prefix, err) != 0)
    return NULL;
  c = pacer_redis_sync_connect(&addr, cfg->connect_timeout_ms, err);
  explicit_bzero(addr.password, sizeof(addr.password));
  return c;
}

/* ------------------------------------------------------------------------
 * Id set: open addressing with linear probing
 *
 *   slots: [ NULL | TOMBSTONE | "id" ] x cap      cap is a power of two
 *
 * used = live ids + tombstones; the table is rebuilt (doubling when the
 * live ids alone fill half of it) before used would pass 3/4 of cap, so
 * a probe always meets a NULL slot.
 * ------------------------------------------------------------------------ */

struct pacer_idset {
  char **slots; /* NULL = empty, TOMBSTONE = removed */
  size_t cap;   /* slot count, power of two */
  size_t count; /* live ids */
  size_t used;  /* live ids + tombstones */
};

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

/* FNV-1a, 64 bit. */
static uint64_t
hash_id(const char *s)
{
  uint64_t h = UINT64_C(14695981039346656037);

  for (; *s != '\0'; s++) {
    h ^= (unsigned char)*s;
    h *= UINT64_C(1099511628211);
  }
  return h;
}

static int
rebuild(struct pacer_idset *set, size_t cap)
{
  char **slots;
  size_t i, j;

  slots = calloc(cap, sizeof(*slots));
  if (slots == NULL)
    return PACER_ENOMEM;
  for (i = 0; i < set->cap; i++) {
    char *id = set->slots[i];

    if (id == NULL || id == TOMBSTONE)
      continue;
    for (j = hash_id(id) & (cap - 1); slots[j] != NULL; j = (j + 1) & (cap - 1))
      ;
    slots[j] = id;
  }
  free(set->slots);
  set->slots = slots;
  set->cap = cap;
  set->used = set->count;
  return 0;
}

/* Returns the slot holding id, or the slot count when absent. */
static size_t
find(const struct pacer_idset *set, const char *id)
{
  size_t i;

  for (i = hash_id(id) & (set->cap - 1); set->slots[i] != NULL;
       i = (i + 1) & (set->cap - 1)) {
    if (set->slots[i] != TOMBSTONE && strcmp(set->slots[i], id) == 0)
      return i;
  }
  return set->cap;
}

struct pacer_idset *
pacer_idset_new(size_t n)
{
  struct pacer_idset *set;
  size_t cap = 16;

  while (cap / 2 < n && cap < SIZE_MAX / 4)
    cap *= 2;
  set = calloc(1, sizeof(*set));
  if (set == NULL)
    return NULL;
  set->slots = calloc(cap, sizeof(*set->slots));
  if (set->slots == NULL) {
    free(set);
    return NULL;
  }
  set->cap = cap;
  return set;
}

int
pacer_idset_add(struct pacer_idset *set, const char *id)
{
  size_t i, hole;
  char *copy;

  if (find(set, id) != set->cap)
    return 0;
  if ((set->used + 1) * 4 > set->cap * 3) {
    size_t cap = (set->count + 1) * 2 > set->cap ? set->cap * 2 : set->cap;

    if (cap < set->cap || rebuild(set, cap) != 0)
      return PACER_ENOMEM;
  }
  copy = strdup(id);
  if (copy == NULL)
    return PACER_ENOMEM;
  /* Reuse the first tombstone on the probe path, else the empty slot. */
  hole = set->cap;
  for (i = hash_id(id) & (set->cap - 1); set->slots[i] != NULL;
       i = (i + 1) & (set->cap - 1)) {
    if (set->slots[i] == TOMBSTONE && hole == set->cap)
      hole = i;
  }
  if (hole == set->cap) {
    hole = i;
    set->used++;
  }
  set->slots[hole] = copy;
  set->count++;
  return 1;
}

int
pacer_idset_remove(struct pacer_idset *set, const char *id)
{
  size_t i = find(set, id);

  if (i == set->cap)
    return 0;
  free(set->slots[i]);
  set->slots[i] = TOMBSTONE;
  set->count--;
  return 1;
}

size_t
pacer_idset_count(const struct pacer_idset *set)
{
  return set->count;
}

void
pacer_idset_free(struct pacer_idset *set)
{
  size_t i;

  if (set == NULL)
    return;
  for (i = 0; i < set->cap; i++) {
    if (set->slots[i] != NULL && set->slots[i] != TOMBSTONE)
      free(set->slots[i]);
  }
  free(set->slots);
  set->slots = NULL;
  free(set);
}

/* ------------------------------------------------------------------------
 * Progress display
 *
 *   tty (redrawn with \r, 10/s):
 *     [######....] 1234/2000 61% ok 1230 failed 4 429s 7 812 jobs/s ETA 3s
 *   otherwise (one line a second):
 *     progress: 1234/2000 61% ok 1230 failed 4 429s 7 812 jobs/s ETA 3s
 *
 * The ETA comes from the limit buckets' rates and pauses when the caller
 * sets it (pacer_progress_set_eta, core/progress.h), else from the
 * completion rate so far. Integer maths on monotonic milliseconds.
 * ------------------------------------------------------------------------ */

#define BAR_WIDTH         20   /* bar cells */
#define TTY_INTERVAL_MS   100  /* redraw period on a terminal, ms */
#define PLAIN_INTERVAL_MS 1000 /* line period otherwise, ms */

static uint64_t
elapsed_ms(const struct pacer_progress *p, uint64_t now_mono_ms)
{
  uint64_t ms =
      now_mono_ms > p->start_mono_ms ? now_mono_ms - p->start_mono_ms : 0;

  return ms > 0 ? ms : 1; /* no division by zero on an instant batch */
}

/* Formats the part after the bar into buf. */
static void
format_status(const struct pacer_progress *p, uint64_t now_mono_ms, char *buf,
              size_t size)
{
  uint64_t done = (uint64_t)p->ok + p->failed;
  uint64_t total = p->total;
  uint64_t ms = elapsed_ms(p, now_mono_ms);
  uint64_t pct = total > 0 ? done * 100 / total : 100;
  uint64_t rate_per_s = done * 1000 / ms;
  char eta[32];

  if (done >= total)
    snprintf(eta, sizeof(eta), "0s");
  else if (p->eta_set && !p->eta_known)
    snprintf(eta, sizeof(eta), "-");
  else if (p->eta_set)
    snprintf(eta, sizeof(eta), "%" PRIu64 "s",
             p->eta_at_mono_ms > now_mono_ms
                 ? (p->eta_at_mono_ms - now_mono_ms + 999) / 1000
                 : 0);
  else if (done == 0)
    snprintf(eta, sizeof(eta), "-");
  else /* remaining / (done / ms), rounded up to whole seconds */
    snprintf(eta, sizeof(eta), "%" PRIu64 "s",
             ((total - done) * ms / done + 999) / 1000);
  snprintf(buf, size,
           "%" PRIu64 "/%" PRIu64 " %" PRIu64
           "%% ok %zu failed %zu 429s %" PRIu64 " %" PRIu64 " jobs/s ETA %s",
           done, total, pct, p->ok, p->failed, p->throttled, rate_per_s, eta);
}

static void
draw(struct pacer_progress *p, uint64_t now_mono_ms)
{
  char status[192];
  char bar[BAR_WIDTH + 1];
  uint64_t done = (uint64_t)p->ok + p->failed;
  size_t fill, i;

  format_status(p, now_mono_ms, status, sizeof(status));
  if (!p->tty) {
    fprintf(stderr, "progress: %s\n", status);
    return;
  }
  fill = p->total > 0 ? (size_t)(done * BAR_WIDTH / p->total) : BAR_WIDTH;
  if (fill > BAR_WIDTH)
    fill = BAR_WIDTH;
  for (i = 0; i < BAR_WIDTH; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[BAR_WIDTH] = '\0';
  /* \033[K clears what a longer previous line left behind. */
  fprintf(stderr, "\r[%s] %s\033[K", bar, status);
  fflush(stderr);
}

void
pacer_progress_start(struct pacer_progress *p, size_t total,
                     uint64_t now_mono_ms)
{
  memset(p, 0, sizeof(*p));
  p->total = total;
  p->start_mono_ms = now_mono_ms;
  p->last_print_mono_ms = now_mono_ms;
  p->tty = isatty(STDERR_FILENO);
}

void
pacer_progress_set_eta(struct pacer_progress *p, int known, uint64_t eta_ms,
                       uint64_t now_mono_ms)
{
  p->eta_set = 1;
  p->eta_known = known;
  p->eta_at_mono_ms = now_mono_ms + eta_ms;
}

void
pacer_progress_update(struct pacer_progress *p, uint64_t now_mono_ms, int force)
{
  uint64_t interval_ms = p->tty ? TTY_INTERVAL_MS : PLAIN_INTERVAL_MS;

  if (!force && now_mono_ms - p->last_print_mono_ms < interval_ms)
    return;
  p->last_print_mono_ms = now_mono_ms;
  draw(p, now_mono_ms);
}

void
pacer_progress_finish(struct pacer_progress *p, uint64_t now_mono_ms)
{
  uint64_t done = (uint64_t)p->ok + p->failed;
  uint64_t ms = elapsed_ms(p, now_mono_ms);

  if (p->tty) {
    draw(p, now_mono_ms);
    fputc('\n', stderr);
  }
  fflush(stderr);
  /* The summary is the command's result: stdout unless told otherwise. */
  fprintf(p->summary ? p->summary : stdout,
          "done: %" PRIu64 " jobs, ok %zu, failed %zu in %" PRIu64 ".%02" PRIu64
          " s (%" PRIu64 " jobs/s)\n",
          done, p->ok, p->failed, ms / 1000, ms % 1000 / 10, done * 1000 / ms);
  fflush(p->summary ? p->summary : stdout);
}
