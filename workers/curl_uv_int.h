/* curl_uv_int: what workers/curl_uv.c (the libuv <-> curl multi glue),
 * workers/xfer.c (one transfer's setup and outcome) and workers/xfer_cb.c
 * (the callbacks libcurl calls during a transfer) share. Internal to those
 * three files; everything here runs on the loop's thread.
 */
#ifndef PACER_WORKERS_CURL_UV_INT_H
#define PACER_WORKERS_CURL_UV_INT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dest_policy.h"
#include "workers/curl_uv.h"

/* Number of response headers kept for the scheduler (kept_names in
 * workers/xfer_cb.c). */
#define PACER_XFER_NKEPT 15

/* One request in the multi handle: the easy handle, its request header
 * list, the response as it arrives, and why it failed if it did. Owned by
 * its struct pacer_curl_uv from pacer_curl_uv_start to pacer_xfer_finish. */
struct pacer_xfer {
  struct pacer_curl_uv *cu; /* borrowed owner */
  struct pacer_xfer *prev;
  struct pacer_xfer *next;
  struct pacer_http_outcome *outcome; /* owned; outcome->req is the request */
  CURL *easy;                         /* owned; PRIVATE points back here */
  struct curl_slist *headers;         /* owned request header list */
  char *buf;                          /* decoded response body, owned */
  size_t len;                         /* bytes used in buf */
  size_t alloc_bytes;                 /* bytes allocated for buf */
  size_t cap_bytes;                   /* body cap, bytes */
  char *kept[PACER_XFER_NKEPT];       /* latest response's kept headers */
  int too_large;                      /* write callback hit cap_bytes */
  int nomem;                          /* write callback could not grow buf */
  int doomed_rc;                      /* UV_E* from a socket callback */
  int own_conn;                       /* FRESH_CONNECT + FORBID_REUSE set */
  /* On a connection of its own before libcurl 8.5.0 (pacer_xfer_on_debug),
   * for the latest try only (pacer_xfer_on_prereq starts a try): */
  uint32_t goaway_last; /* last_stream_id of the GOAWAY received */
  int goaway_seen;      /* the try's connection received a GOAWAY */
  const struct pacer_dest_policy *policy; /* borrowed from the request */
  char blocked[PACER_DEST_WHY_MAX];       /* why the policy refused an
                                             address, or "" */
  uint64_t missed_us; /* late_max_us passed: this late at the wire, us */
  int sent_once;      /* a try has been sent (pacer_xfer_on_prereq) */
  char errbuf[CURL_ERROR_SIZE];
};

/* Why pacer_xfer_finish ends a transfer. */
enum pacer_xfer_end {
  PACER_XFER_END_DONE,     /* libcurl reported CURLMSG_DONE */
  PACER_XFER_END_CANCELED, /* pacer_curl_uv_cancel_all */
  PACER_XFER_END_DOOMED    /* its socket could not be watched */
};

/* Ends x: reads its figures, removes it from the multi handle, fills the
 * outcome (how x ended: why, and cc, libcurl's result for
 * PACER_XFER_END_DONE), hands it to done_cb and frees x. Never called from
 * a libcurl callback. workers/xfer.c. */
void pacer_xfer_finish(struct pacer_xfer *x, CURLcode cc,
                       enum pacer_xfer_end why);

/* Frees x->kept (the headers kept so far). workers/xfer_cb.c. */
void pacer_xfer_forget_headers(struct pacer_xfer *x);

/* Returns the headers kept from the final response as a JSON object in a
 * malloc'd string (free with free), or NULL when out of memory.
 * workers/xfer_cb.c. */
char *pacer_xfer_headers_json(const struct pacer_xfer *x);

/* libcurl callbacks for one transfer (workers/xfer_cb.c); the userp or
 * clientp set with each is the struct pacer_xfer. They never call libcurl.
 * CURLOPT_WRITEFUNCTION: appends decoded body bytes up to the body cap. */
size_t pacer_xfer_on_write(char *data, size_t size, size_t nmemb, void *userp);

/* CURLOPT_HEADERFUNCTION: keeps the final response's kept headers. */
size_t pacer_xfer_on_header(char *data, size_t size, size_t nitems,
                            void *userp);

/* CURLOPT_OPENSOCKETFUNCTION: refuses an address the destination policy
 * blocks, else makes the socket as libcurl would. */
curl_socket_t pacer_xfer_on_open_socket(void *clientp, curlsocktype purpose,
                                        struct curl_sockaddr *a);

/* CURLOPT_PREREQFUNCTION: starts a try; checks a reused connection's peer
 * against the destination policy. */
int pacer_xfer_on_prereq(void *clientp, char *primary_ip, char *local_ip,
                         int primary_port, int local_port);

/* CURLOPT_DEBUGFUNCTION: notes a received HTTP/2 GOAWAY's last_stream_id
 * (before libcurl 8.5.0); reads nothing else. */
int pacer_xfer_on_debug(CURL *easy, curl_infotype type, char *data, size_t n,
                        void *userp);

#endif
