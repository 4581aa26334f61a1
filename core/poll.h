/* Asynchronous reports: the job field "poll" and, after each response of
 * a report chain, what comes next (docs/CHAINS.md "Reports").
 *
 *   {"poll": {"url": "body:/status_url" | "location",
 *             "status": "/status", "done": ["done"], "failed": ["failed"],
 *             "interval_ms": 2000, "backoff": 1.5, "max_interval_ms": 60000,
 *             "deadline_ms": 3600000, "download": "/url"}}
 *
 * The first job creates the report; its response names the status URL.
 * Each poll waits in the delayed set (no lease, no worker) until due;
 * when the value at "status" is one of "done", the URL at "download" (if
 * given) is fetched, and the last response is the chain's one result.
 * Pure: no clock, no I/O. Every rejection names the field. */
#ifndef PACER_CORE_POLL_H
#define PACER_CORE_POLL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/err.h"

#define PACER_POLL_VALUES_MAX       16           /* done / failed values */
#define PACER_POLL_VALUE_MAX        128          /* bytes per value */
#define PACER_POLL_INTERVAL_DEFAULT 2000u        /* ms */
#define PACER_POLL_MAX_INTERVAL_DEF 60000u       /* ms */
#define PACER_POLL_DEADLINE_DEFAULT 3600000ull   /* ms, 1 h */
#define PACER_POLL_DEADLINE_MAX     604800000ull /* ms, 7 days */
#define PACER_POLL_BACKOFF_DEFAULT  1500u        /* permille: x1.5 */

/** A parsed "poll" spec. Owned by its job; free with pacer_poll_free. */
struct pacer_poll {
  int from_location;                 /* status URL from the Location header */
  char *url_ptr;                     /* ... or from this body pointer, owned */
  char *status_ptr;                  /* pointer to the status value, owned */
  char *done[PACER_POLL_VALUES_MAX]; /* values meaning done, owned */
  size_t ndone;
  char *failed[PACER_POLL_VALUES_MAX]; /* values meaning failed, owned */
  size_t nfailed;
  uint32_t interval_ms;      /* first wait, ms */
  uint32_t backoff_permille; /* each wait = the last x this / 1000 */
  uint32_t max_interval_ms;  /* longest wait, ms */
  uint64_t deadline_ms;      /* from the first response, ms */
  char *download_ptr;        /* pointer to the download URL, or NULL */
};

/** Parses the "poll" value item (borrowed). Returns 0 with *out owned
 *  (free with pacer_poll_free), or PACER_EJOB with err "poll.<field>:
 *  <reason>", or PACER_ENOMEM. Pure; any thread. */
int pacer_poll_parse(const cJSON *item, struct pacer_poll **out,
                     struct pacer_error *err);

/** Frees p. NULL does nothing. */
void pacer_poll_free(struct pacer_poll *p);

/** Which request of a report chain a response answers. */
enum pacer_poll_phase {
  PACER_POLL_CREATE = 0, /* the job itself */
  PACER_POLL_STATUS,     /* a status poll */
  PACER_POLL_DOWNLOAD    /* the download */
};

/** What follows a response. */
enum pacer_poll_next {
  PACER_POLL_WAIT = 0, /* poll url at due_unix_ms */
  PACER_POLL_FETCH,    /* fetch url (the download) now */
  PACER_POLL_DONE,     /* this response is the chain's result */
  PACER_POLL_FAILED,   /* the report failed (error) */
  PACER_POLL_EXPIRED   /* the deadline passed first (error) */
};

/** The step after one response. */
struct pacer_poll_step {
  enum pacer_poll_next next;
  char *url;            /* WAIT, FETCH: owned (pacer_poll_step_clear) */
  int url_is_ref;       /* resolve url against the request's (RFC 3986) */
  uint64_t due_unix_ms; /* WAIT: when to poll */
  char error[200];      /* FAILED, EXPIRED: why */
};

/** Decides what follows the response (status, headers_json as in
 *  workers/pacer_http.h, body[0..body_len); all borrowed, may be NULL) to
 *  request number polls + 1 of phase ph in a chain with spec p (borrowed)
 *  whose first response came at since_unix_ms. polls: status polls made
 *  so far (0 for the create response). Waits grow from interval_ms by
 *  backoff to max_interval_ms; a Retry-After on a 202 is a floor (RFC
 *  9110 §10.2.3, §15.3.3). Fills *out (clear with pacer_poll_step_clear).
 *  Returns 0 or PACER_ENOMEM. Pure; any thread. */
int pacer_poll_step(const struct pacer_poll *p, enum pacer_poll_phase ph,
                    uint32_t polls, uint64_t since_unix_ms, long status,
                    const char *headers_json, const char *body, size_t body_len,
                    uint64_t now_unix_ms, struct pacer_poll_step *out);

/** Frees what s owns and zeroes it. */
void pacer_poll_step_clear(struct pacer_poll_step *s);

/** The wait before status poll number n (1 = the first), in ms: interval
 *  x backoff^(n-1), capped at max_interval_ms. Pure. */
uint64_t pacer_poll_wait_ms(const struct pacer_poll *p, uint32_t n);

#endif
