/* Pagination: the job field "paginate" and, after each page's response,
 * where the next page comes from or why the chain ends (docs/CHAINS.md).
 *
 *   {"next": "body:/paging/next"}       next URL at a body JSON pointer
 *   {"next": "link"}                    RFC 8288 Link: <...>; rel="next"
 *   {"cursor": "/paging/cursors/after", "param": "after"}
 *                                       body value -> query parameter
 *   optional: "items": "/data", "max_pages": 100, "keep_headers": true,
 *             "keep_credential": true, "keep_limit_key": true
 *
 * Pure: no clock, no I/O. Every rejection names the field. */
#ifndef PACER_CORE_PAGINATE_H
#define PACER_CORE_PAGINATE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/err.h"

#define PACER_PAGINATE_MAX_PAGES_DEFAULT 100u    /* pages */
#define PACER_PAGINATE_MAX_PAGES_LIMIT   100000u /* pages */
#define PACER_PAGINATE_PARAM_MAX         128     /* bytes, excl. NUL */
/* Page job ids are "<first job's id>#<page>": the first id must leave room
 * for "#" and six digits. */
#define PACER_PAGINATE_ROOT_ID_MAX       120 /* bytes */

/** Where the next page's URL comes from. */
enum pacer_paginate_kind {
  PACER_PAGINATE_BODY = 0, /* a URL at a body JSON pointer */
  PACER_PAGINATE_LINK,     /* the Link header's rel="next" (RFC 8288) */
  PACER_PAGINATE_CURSOR    /* a body value put into a query parameter */
};

/** A parsed "paginate" spec. Owned by its job; free with
 *  pacer_paginate_free. */
struct pacer_paginate {
  enum pacer_paginate_kind kind;
  char *next_ptr;      /* BODY and CURSOR: JSON pointer, owned */
  char *param;         /* CURSOR: query parameter name, owned */
  char *items_ptr;     /* JSON pointer to the page's item array, or NULL */
  uint32_t max_pages;  /* pages, 1..PACER_PAGINATE_MAX_PAGES_LIMIT */
  int keep_headers;    /* next page keeps the job's headers (default 1) */
  int keep_credential; /* ... its credential (default 1) */
  int keep_limit_key;  /* ... its limit_key (default 1) */
};

/** Parses the "paginate" value item (borrowed). Returns 0 with *out owned
 *  (free with pacer_paginate_free), or PACER_EJOB with err
 *  "paginate.<field>: <reason>", or PACER_ENOMEM. Pure; any thread. */
int pacer_paginate_parse(const cJSON *item, struct pacer_paginate **out,
                         struct pacer_error *err);

/** Frees p. NULL does nothing. */
void pacer_paginate_free(struct pacer_paginate *p);

/** Why a chain goes on or ends. */
enum pacer_page_end {
  PACER_PAGE_MORE = 0,      /* there is a next page */
  PACER_PAGE_END_LAST,      /* "last_page": no next link or cursor */
  PACER_PAGE_END_MAX_PAGES, /* "max_pages": the limit was reached */
  PACER_PAGE_END_ERROR      /* "error": a page failed or was unreadable */
};

/** "more", "last_page", "max_pages" or "error". Static storage. */
const char *pacer_page_end_name(enum pacer_page_end e);

/** What follows one page. */
struct pacer_page_step {
  enum pacer_page_end end;
  char *next;      /* PACER_PAGE_MORE: the next URL, owned (free with
                      pacer_page_step_clear); may be relative */
  int next_is_ref; /* next must be resolved against the page's URL
                      (RFC 3986 §5.2) */
  int64_t items;   /* items on this page; -1 without "items" */
  char error[200]; /* PACER_PAGE_END_ERROR: why, "" otherwise */
};

/** Decides what follows page number page (1 = the first job) of a chain
 *  with spec p (borrowed), from the page's URL (borrowed), its response
 *  headers (borrowed JSON object with lower-case names as in
 *  workers/pacer_http.h, may be NULL) and body[0..body_len) (borrowed, may
 *  be NULL). Fills *out (clear it with pacer_page_step_clear). Returns 0,
 *  or PACER_ENOMEM. Pure; any thread. Source: RFC 8288 §3 (Link), RFC 6901
 *  (pointers). */
int pacer_paginate_step(const struct pacer_paginate *p, uint32_t page,
                        const char *url, const char *headers_json,
                        const char *body, size_t body_len,
                        struct pacer_page_step *out);

/** Frees what s owns and zeroes it. */
void pacer_page_step_clear(struct pacer_page_step *s);

/** Finds the target of the first link with relation type rel (borrowed,
 *  compared case-insensitively) in a Link field value (borrowed; several
 *  lines joined with ", "). Returns 0 with *out owned (free with free()),
 *  PACER_ENOTFOUND, or PACER_ENOMEM. Pure. Source: RFC 8288 §3, §3.3. */
int pacer_link_find(const char *value, const char *rel, char **out);

/** Returns in *out (owned, free with free()) url (borrowed) with every
 *  query parameter called name removed and name=value appended, value
 *  percent-encoded (RFC 3986 §2.3 unreserved characters kept); the
 *  fragment is dropped. Returns 0 or PACER_ENOMEM. Pure. */
int pacer_url_with_param(const char *url, const char *name, const char *value,
                         char **out);

#endif
