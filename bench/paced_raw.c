/* paced_raw: the plain timed sender of bench/limits.sh ("grid").
 *
 * What exact timing alone gets from a strict limiter on this machine: one
 * libcurl easy handle on one kept-alive connection, no Redis, no
 * scheduler, no threads. It sends GET URL with the header
 * HEADER (e.g. "X-Account: acc-1") at fixed spacing on an absolute
 * monotonic clock (clock_nanosleep TIMER_ABSTIME, so no drift), one
 * request at a time, until OK requests were answered 200. A request that
 * leaves late (the thread woke late, or the one before took longer than
 * INTERVAL_US) leaves at once and the next keeps its grid time: the
 * spacing of a perfect timer, with this machine's wake-up jitter. A 429 pauses
 * it for the answer's Retry-After (RFC 9110 section 10.2.3, delay-seconds only;
 * at least 1 s when absent or 0), the same floor pacer keeps (docs/LIMITS.md "A
 * server hint is a floor"), and the grid starts again after the pause. It
 * prints one line on stdout, key=value:
 *
 *   paced_raw: interval_us=... sent=... ok=... r429=... other=... wall_s=...
 *
 * Usage: paced_raw URL HEADER INTERVAL_US OK [DEADLINE_S]
 *   INTERVAL_US  spacing between requests, us (1..10000000)
 *   OK            200 answers to collect (1..1000000)
 *   DEADLINE_S   whole run, s (default 300)
 *
 * Exit status: 0 OK answers collected; 1 the deadline passed or a
 * transfer failed; 2 usage or setup error. Loopback only: bench/limits.sh
 * hands it nginx's 127.0.0.1 port. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define DEFAULT_DEADLINE_S 300L
#define XFER_TIMEOUT_MS    10000L /* one request, ms */
#define PAUSE_MIN_S        1L     /* a 429's pause at least, s */
#define PAUSE_MAX_S        60L    /* and at most, s */
#define NS_PER_S           1000000000L

/* Parses s as a whole number in [lo, hi] into *out; 0, or -1. */
static int
parse_num(const char *s, long lo, long hi, long *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
  (void)p;
  (void)arg;
  return size * n;
}

/* t += ns (ns may be negative). */
static void
ts_add(struct timespec *t, long long ns)
{
  long long v = (long long)t->tv_nsec + ns;
  long long sec = v / NS_PER_S, rem = v % NS_PER_S;

  if (rem < 0) { /* ns may be negative: keep tv_nsec in [0, 1 s) */
    rem += NS_PER_S;
    sec--;
  }
  t->tv_sec += (time_t)sec;
  t->tv_nsec = (long)rem;
}

static double
ts_diff_s(const struct timespec *a, const struct timespec *b)
{
  return (double)(a->tv_sec - b->tv_sec) +
         (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

int
main(int argc, char **argv)
{
  long interval_us, want, deadline_s = DEFAULT_DEADLINE_S;
  long sent = 0, ok = 0, r429 = 0, other = 0;
  struct curl_slist *hdrs;
  struct timespec t0, next, now;
  CURL *c;
  int rc = 0;

  if (argc < 5 || argc > 6 ||
      parse_num(argv[3], 1, 10000000L, &interval_us) != 0 ||
      parse_num(argv[4], 1, 1000000L, &want) != 0 ||
      (argc == 6 && parse_num(argv[5], 1, 86400L, &deadline_s) != 0)) {
    fputs("usage: paced_raw URL HEADER INTERVAL_US OK [DEADLINE_S]\n"
          "  INTERVAL_US 1..10000000, OK 1..1000000, DEADLINE_S 1..86400\n",
          stderr);
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
      (c = curl_easy_init()) == NULL ||
      (hdrs = curl_slist_append(NULL, argv[2])) == NULL) {
    fputs("paced_raw: libcurl set-up failed\n", stderr);
    return 2;
  }
  curl_easy_setopt(c, CURLOPT_URL, argv[1]);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, XFER_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  next = t0;
  while (ok < want) {
    long code = 0;
    curl_off_t ra = -1;
    CURLcode res;

    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (ts_diff_s(&now, &t0) > (double)deadline_s) {
      fprintf(stderr, "paced_raw: deadline of %ld s passed\n", deadline_s);
      rc = 1;
      break;
    }
    res = curl_easy_perform(c);
    sent++;
    if (res != CURLE_OK) {
      fprintf(stderr, "paced_raw: %s\n", curl_easy_strerror(res));
      rc = 1;
      break;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    ts_add(&next, (long long)interval_us * 1000);
    if (code == 200) {
      ok++;
    } else if (code == 429) {
      r429++;
      curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra);
      if (ra < PAUSE_MIN_S)
        ra = PAUSE_MIN_S;
      if (ra > PAUSE_MAX_S)
        ra = PAUSE_MAX_S;
      clock_gettime(CLOCK_MONOTONIC, &next);
      ts_add(&next, (long long)ra * NS_PER_S);
    } else {
      other++;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &now);
  printf("paced_raw: interval_us=%ld sent=%ld ok=%ld r429=%ld other=%ld "
         "wall_s=%.3f\n",
         interval_us, sent, ok, r429, other, ts_diff_s(&now, &t0));
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  curl_global_cleanup();
  return rc;
}
