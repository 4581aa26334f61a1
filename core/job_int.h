/* Shared by the files of the job model: core/job.c (the public API and
 * small helpers), core/job_scan.c (the JSON scanner), core/job_fields.c
 * (one check per top-level field) and core/job_redact.c (secrets in job
 * text and URLs). Not a public API: include it only from those files.
 * Pure; any thread.
 */
#ifndef PACER_CORE_JOB_INT_H
#define PACER_CORE_JOB_INT_H

#include <stddef.h>

#include <cJSON.h>

#include "common/err.h"
#include "core/job.h"

#define PACER_JOB_SHOW_MAX     40  /* user text shown in a message, bytes */
#define PACER_JOB_SCAN_KEY_MAX 255 /* decoded key bytes kept by the scanner */

/** Why a scan stopped. */
enum pacer_job_scan_err {
  PACER_JOB_SCAN_OK = 0,
  PACER_JOB_SCAN_SYNTAX,    /* not JSON (RFC 8259 grammar) */
  PACER_JOB_SCAN_DEPTH,     /* deeper than PACER_JOB_MAX_DEPTH */
  PACER_JOB_SCAN_UTF8,      /* invalid UTF-8 inside a string */
  PACER_JOB_SCAN_CTRL,      /* raw control character inside a string */
  PACER_JOB_SCAN_NUL,       /* "\u0000" */
  PACER_JOB_SCAN_SURROGATE, /* "\uD800" without its pair, or a lone low half */
  PACER_JOB_SCAN_NUMBER,    /* number longer than NUMBER_MAX_CHARS */
  PACER_JOB_SCAN_NOMEM
};

/** A span of the scanned text. */
struct pacer_job_span {
  size_t start; /* byte offset */
  size_t end;   /* byte offset, exclusive */
  int url;      /* 1: a top-level "url" string, whose userinfo is redacted;
                   2: one cut off by a syntax error; 0: a secret value */
};

/** The state of one scan (core/job_scan.c): zero it, set s, len and
 *  strict or redact, run pacer_job_scan_run. */
struct pacer_job_scan {
  const unsigned char *s;
  size_t len; /* bytes */
  size_t pos; /* byte offset */
  int strict; /* 0: string contents and number lengths are not checked */
  unsigned char stack[PACER_JOB_MAX_DEPTH]; /* '{' or '[' per level */
  size_t depth;                             /* levels open */
  enum pacer_job_scan_err err;
  size_t err_pos;  /* byte offset of the error */
  int err_in_name; /* the error is inside a top-level field name */
  char key[PACER_JOB_SCAN_KEY_MAX + 1]; /* last key at depth 1 or 2, decoded */
  size_t key_len;                       /* bytes */
  int key_odd;                          /* key was cut, or held a NUL */
  char field[PACER_JOB_SCAN_KEY_MAX + 1]; /* current top-level field, decoded */
  int have_field;
  int field_odd;
  /* Spans of the top-level "body" and "meta" values (last one seen). */
  size_t value_start; /* byte offset of the current top-level value */
  struct pacer_job_span body;
  struct pacer_job_span meta;
  int have_body, have_meta;
  /* Redaction: spans of secret header values, in text order. */
  int redact;
  int in_headers;  /* depth-2 container is the top-level "headers" object */
  int secret_next; /* next depth-2 value belongs to a secret header */
  int span_open;
  size_t span_depth; /* depth at which the open span's value sits */
  size_t span_start;
  int url_open; /* the top-level "url" string value is being scanned */
  struct pacer_job_span *spans;
  size_t nspans, cap;
};

/** What the field checks of core/job_fields.c share while one job is
 *  parsed. */
struct pacer_job_parse_ctx {
  struct pacer_job *job;
  const char *text;                /* the job text, as scanned */
  const struct pacer_job_scan *sc; /* where "body" and "meta" lie in text */
  const struct pacer_job_limits *limits;
  int have_id;
  int have_url;
};

/** Copies s[0..n) (borrowed) into buf (size > PACER_JOB_SHOW_MAX + 4
 *  bytes) for a message: printable ASCII is kept, anything else (and '"'
 *  and '\\') becomes '?', text longer than PACER_JOB_SHOW_MAX bytes is cut
 *  with "...". Returns buf. core/job.c. */
const char *pacer_job_show(const char *s, size_t n, char *buf, size_t size);

/** Returns a malloc'd NUL-terminated copy of s[0..n), or NULL. */
char *pacer_job_dup_bytes(const char *s, size_t n);

/** Reads 4 hex digits at s[0..n) into *out. Returns 0, or -1 when n < 4
 *  or a byte is not a hex digit. core/job_scan.c. */
int pacer_job_hex4(const unsigned char *s, size_t n, unsigned *out);

/** Returns 1 for an ASCII digit, else 0. */
static inline int
pacer_job_is_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

/** Returns 1 for an ASCII letter, else 0. */
static inline int
pacer_job_is_alpha(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/** Scans sc->s[0..sc->len) once (RFC 8259 grammar; when sc->strict, also
 *  UTF-8, control characters, NUL, surrogates, number lengths and depth;
 *  when sc->redact, records the spans of secret values in sc->spans,
 *  owned by the caller). Returns 0, or -1 with sc->err and sc->err_pos.
 *  core/job_scan.c. */
int pacer_job_scan_run(struct pacer_job_scan *sc);

/** Turns a strict scan failure into "<field>: <reason> at byte N" in err.
 *  Returns PACER_EJOB or PACER_ENOMEM. core/job_scan.c. */
int pacer_job_scan_error(const struct pacer_job_scan *sc,
                         struct pacer_error *err);

/** Appends span [start, end) to sc->spans. Returns 0, or -1 (out of
 *  memory, sc->err set). core/job_scan.c. */
int pacer_job_span_add(struct pacer_job_scan *sc, size_t start, size_t end);

/** Checks the top-level fields of root (borrowed) in document order and
 *  fills cx->job. Returns 0, or PACER_EJOB / PACER_ETOOLARGE /
 *  PACER_ENOMEM with err naming the field. core/job_fields.c. */
int pacer_job_parse_fields(struct pacer_job_parse_ctx *cx, const cJSON *root,
                           const char *default_id, struct pacer_error *err);

/** The chain fields "paginate", "poll", "parent", "page", "chain",
 *  "poll_phase" and "poll_since", and what
 *  pacer_job_free releases of them. core/job_chain.c. */
int pacer_job_field_paginate(struct pacer_job_parse_ctx *cx, const cJSON *item,
                             struct pacer_error *err);
int pacer_job_field_parent(struct pacer_job_parse_ctx *cx, const cJSON *item,
                           struct pacer_error *err);
int pacer_job_field_page(struct pacer_job_parse_ctx *cx, const cJSON *item,
                         struct pacer_error *err);
int pacer_job_field_chain(struct pacer_job_parse_ctx *cx, const cJSON *item,
                          struct pacer_error *err);
int pacer_job_field_poll(struct pacer_job_parse_ctx *cx, const cJSON *item,
                         struct pacer_error *err);
int pacer_job_field_poll_phase(struct pacer_job_parse_ctx *cx,
                               const cJSON *item, struct pacer_error *err);
int pacer_job_field_poll_since(struct pacer_job_parse_ctx *cx,
                               const cJSON *item, struct pacer_error *err);
int pacer_job_chain_check(struct pacer_job_parse_ctx *cx,
                          struct pacer_error *err);
void pacer_job_chain_free(struct pacer_job *job);

#endif
