/* raw_multi: the raw-HTTP baseline for bench/throughput.sh.
 *
 * A plain libcurl multi loop, with no Redis, no scheduler and no worker
 * threads: it keeps C transfers in flight against one URL until N have
 * finished, waiting in curl_multi_poll, and prints
 *
 *   raw_multi: mode=reuse requests=N ok=N failed=0 wall_s=... req_per_s=...
 *              cpu_s=... cpu_s_per_1000=... peak_rss_kib=...
 *              allocs_per_req=... alloc_bytes_per_req=...
 *
 * (one line on stdout, key=value). Modes: "reuse" (default) keeps C easy
 * handles and re-adds each one after it finishes, the fastest plain loop;
 * "fresh" (--fresh) creates and frees an easy handle per request, as the
 * pacer workers do. Allocations are counted through curl_global_init_mem:
 * calls and bytes requested of libcurl's own allocator, per request, over
 * the measured loop only.
 *
 * Exit status: 0 every request answered 2xx; 1 some failed or the overall
 * deadline passed; 2 usage or setup error. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>

#define DEFAULT_REQUESTS    20000u /* requests to finish */
#define DEFAULT_CONCURRENCY 64u    /* transfers in flight */
#define DEFAULT_DEADLINE_S  120u   /* whole run, s */
#define MAX_CONCURRENCY     4096u  /* transfers in flight, upper bound */
#define XFER_TIMEOUT_MS     30000L /* one request, ms */
#define POLL_TIMEOUT_MS     1000   /* curl_multi_poll wait, ms */

/* ------------------------------------------------------------------ */
/* Allocation counting (curl_global_init_mem) */

static atomic_size_t alloc_calls; /* malloc/calloc/realloc/strdup calls */
static atomic_size_t alloc_bytes; /* bytes requested by those calls */

static void
count(size_t bytes)
{
  atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&alloc_bytes, bytes, memory_order_relaxed);
}

static void *
count_malloc(size_t size)
{
  count(size);
  return malloc(size);
}

static void
count_free(void *p)
{
  free(p);
}

static void *
count_realloc(void *p, size_t size)
{
  count(size);
  return realloc(p, size);
}

static char *
count_strdup(const char *s)
{
  count(strlen(s) + 1);
  return strdup(s);
}

static void *
count_calloc(size_t n, size_t size)
{
  count(n * size);
  return calloc(n, size);
}

/* ------------------------------------------------------------------ */
/* Figures */

static uint64_t
mono_ns(void)
{
  struct timespec ts;

  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    return 0; /* cannot happen for CLOCK_MONOTONIC on Linux */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
cpu_s(long *maxrss_kib)
{
  struct rusage ru;

  if (getrusage(RUSAGE_SELF, &ru) != 0) {
    *maxrss_kib = 0;
    return 0.0;
  }
  *maxrss_kib = ru.ru_maxrss;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
         ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* ------------------------------------------------------------------ */
/* The loop */

struct run {
  CURLM *multi;
  const char *url;
  int fresh;           /* one easy handle per request */
  unsigned started;    /* requests added so far */
  unsigned done;       /* requests finished */
  unsigned ok;         /* finished with a 2xx */
  unsigned total;      /* requests to finish */
  uint64_t body_bytes; /* response body received, bytes */
  CURL **live;         /* one easy handle (or NULL) per in-flight slot */
};

static size_t
on_write(char *data, size_t size, size_t nmemb, void *arg)
{
  struct run *r = arg;

  (void)data;
  r->body_bytes += size * nmemb;
  return size * nmemb;
}

static CURL *
easy_new(struct run *r, size_t slot)
{
  CURL *e = curl_easy_init();
  CURLcode cc;

  if (e == NULL)
    return NULL;
  cc = curl_easy_setopt(e, CURLOPT_URL, r->url);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)&r->live[slot]);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, XFER_TIMEOUT_MS);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  if (cc != CURLE_OK) {
    fprintf(stderr, "raw_multi: curl_easy_setopt: %s\n",
            curl_easy_strerror(cc));
    curl_easy_cleanup(e);
    return NULL;
  }
  return e;
}

/* Starts the next request in slot: on the slot's handle (reuse) or on a
 * new one when the slot is empty. Returns 0 or -1 (message printed). */
static int
start_one(struct run *r, size_t slot)
{
  CURLMcode mc;

  if (r->live[slot] == NULL)
    r->live[slot] = easy_new(r, slot);
  if (r->live[slot] == NULL)
    return -1;
  mc = curl_multi_add_handle(r->multi, r->live[slot]);
  if (mc != CURLM_OK) {
    fprintf(stderr, "raw_multi: curl_multi_add_handle: %s\n",
            curl_multi_strerror(mc));
    curl_easy_cleanup(r->live[slot]);
    r->live[slot] = NULL;
    return -1;
  }
  r->started++;
  return 0;
}

/* Counts every finished transfer and starts the next request on its handle
 * (reuse) or on a new one (fresh). Returns 0 or -1. */
static int
drain(struct run *r)
{
  CURLMsg *m;
  int left;

  while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
    CURL *e = m->easy_handle;
    CURL **live = NULL;
    long status = 0;

    if (m->msg != CURLMSG_DONE)
      continue;
    if (curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&live) != CURLE_OK ||
        live == NULL || *live != e) {
      fprintf(stderr, "raw_multi: finished transfer without its slot\n");
      return -1;
    }
    if (m->data.result == CURLE_OK &&
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status >= 200 && status < 300)
      r->ok++;
    else if (r->done - r->ok < 5) /* the first few failures only */
      fprintf(stderr, "raw_multi: request failed: %s status %ld\n",
              curl_easy_strerror(m->data.result), status);
    r->done++;
    if (curl_multi_remove_handle(r->multi, e) != CURLM_OK) {
      fprintf(stderr, "raw_multi: curl_multi_remove_handle failed\n");
      return -1;
    }
    if (r->fresh || r->started >= r->total) {
      curl_easy_cleanup(e);
      *live = NULL;
      if (r->started >= r->total)
        continue;
    }
    if (start_one(r, (size_t)(live - r->live)) != 0)
      return -1;
  }
  return 0;
}

static int
parse_uint(const char *opt, const char *s, unsigned lo, unsigned hi,
           unsigned *out)
{
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul(s, &end, 10);
  if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0' || v < lo ||
      v > hi) {
    fprintf(stderr,
            "raw_multi: %s: \"%s\" is not a whole number from %u to %u\n", opt,
            s, lo, hi);
    return -1;
  }
  *out = (unsigned)v;
  return 0;
}

static void
usage(FILE *out)
{
  fputs("usage: raw_multi [--requests N] [--concurrency C] [--fresh]\n"
        "                 [--deadline S] URL\n"
        "\n"
        "Plain libcurl multi loop: keeps C transfers (default 64) in flight\n"
        "against URL until N requests (default 20000) have finished, or S\n"
        "seconds (default 120) have passed, then prints one key=value line\n"
        "with requests/s, CPU seconds per 1000 requests, peak RSS and\n"
        "libcurl allocations per request. --fresh uses a new easy handle\n"
        "per request instead of re-adding the finished one.\n",
        out);
}

int
main(int argc, char **argv)
{
  struct run r;
  unsigned conc = DEFAULT_CONCURRENCY, deadline_s = DEFAULT_DEADLINE_S, i;
  uint64_t t0, t1, deadline_ns;
  size_t calls0, bytes0, calls1, bytes1;
  long rss_kib;
  double cpu0, cpu1, wall;
  CURLcode cc;
  int status = 2, still = 0;

  memset(&r, 0, sizeof(r));
  r.total = DEFAULT_REQUESTS;
  for (i = 1; i < (unsigned)argc; i++) {
    const char *a = argv[i];
    int rc = 0;

    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--fresh") == 0) {
      r.fresh = 1;
    } else if (strcmp(a, "--requests") == 0 && i + 1 < (unsigned)argc) {
      rc = parse_uint(a, argv[++i], 1, 100000000u, &r.total);
    } else if (strcmp(a, "--concurrency") == 0 && i + 1 < (unsigned)argc) {
      rc = parse_uint(a, argv[++i], 1, MAX_CONCURRENCY, &conc);
    } else if (strcmp(a, "--deadline") == 0 && i + 1 < (unsigned)argc) {
      rc = parse_uint(a, argv[++i], 1, 86400, &deadline_s);
    } else if (a[0] == '-' || r.url != NULL) {
      fprintf(stderr, "raw_multi: %s: unknown or incomplete argument\n", a);
      usage(stderr);
      return 2;
    } else {
      r.url = a;
    }
    if (rc != 0)
      return 2;
  }
  if (r.url == NULL) {
    fprintf(stderr, "raw_multi: URL: missing\n");
    usage(stderr);
    return 2;
  }
  if (conc > r.total)
    conc = r.total;

  cc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, count_malloc, count_free,
                            count_realloc, count_strdup, count_calloc);
  if (cc != CURLE_OK) {
    fprintf(stderr, "raw_multi: curl_global_init_mem: %s\n",
            curl_easy_strerror(cc));
    return 2;
  }
  r.multi = curl_multi_init();
  r.live = calloc(conc, sizeof(*r.live));
  if (r.multi == NULL || r.live == NULL) {
    fprintf(stderr, "raw_multi: out of memory\n");
    goto out;
  }

  calls0 = atomic_load(&alloc_calls);
  bytes0 = atomic_load(&alloc_bytes);
  cpu0 = cpu_s(&rss_kib);
  t0 = mono_ns();
  deadline_ns = t0 + (uint64_t)deadline_s * 1000000000u;
  for (i = 0; i < conc; i++) {
    if (start_one(&r, i) != 0)
      goto out;
  }
  for (;;) {
    CURLMcode mc = curl_multi_perform(r.multi, &still);

    /* Drain before polling: transfers that perform just finished must be
     * replaced now, or the poll would wait on the remaining sockets only
     * (up to POLL_TIMEOUT_MS once none is left) with free slots idle. */
    if (mc == CURLM_OK && drain(&r) != 0)
      goto out;
    if (mc == CURLM_OK && r.done < r.total)
      mc = curl_multi_poll(r.multi, NULL, 0, POLL_TIMEOUT_MS, NULL);
    if (mc != CURLM_OK) {
      fprintf(stderr, "raw_multi: curl_multi: %s\n", curl_multi_strerror(mc));
      goto out;
    }
    if (r.done >= r.total)
      break;
    if (mono_ns() > deadline_ns) {
      fprintf(stderr,
              "raw_multi: deadline of %u s passed after %u of %u requests\n",
              deadline_s, r.done, r.total);
      break;
    }
  }
  t1 = mono_ns();
  cpu1 = cpu_s(&rss_kib);
  calls1 = atomic_load(&alloc_calls);
  bytes1 = atomic_load(&alloc_bytes);
  wall = (double)(t1 - t0) / 1e9;
  printf("raw_multi: mode=%s requests=%u ok=%u failed=%u concurrency=%u "
         "wall_s=%.3f req_per_s=%.0f cpu_s=%.3f cpu_s_per_1000=%.4f "
         "peak_rss_kib=%ld allocs_per_req=%.1f alloc_bytes_per_req=%.0f "
         "body_bytes=%" PRIu64 "\n",
         r.fresh ? "fresh" : "reuse", r.done, r.ok, r.done - r.ok, conc, wall,
         wall > 0 ? (double)r.done / wall : 0.0, cpu1 - cpu0,
         r.done ? (cpu1 - cpu0) * 1000.0 / (double)r.done : 0.0, rss_kib,
         r.done ? (double)(calls1 - calls0) / (double)r.done : 0.0,
         r.done ? (double)(bytes1 - bytes0) / (double)r.done : 0.0,
         r.body_bytes);
  status = r.done == r.total && r.ok == r.total ? 0 : 1;
out:
  /* Handles still in flight (deadline or error): remove and free them. */
  for (i = 0; r.live != NULL && i < conc; i++) {
    if (r.live[i] == NULL)
      continue;
    if (r.multi != NULL) /* teardown: nothing to do if it fails */
      (void)curl_multi_remove_handle(r.multi, r.live[i]);
    curl_easy_cleanup(r.live[i]);
  }
  free(r.live);
  if (r.multi != NULL)
    curl_multi_cleanup(r.multi);
  curl_global_cleanup();
  return status;
}
