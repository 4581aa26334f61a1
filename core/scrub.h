/* Secret scrubbing: replaces every copy of a secret in response text by
 * "[redacted]" before it is written to a result or a dead letter
 * (README.md, "Result entry"). Pure: no clock, no I/O. */
#ifndef PACER_CORE_SCRUB_H
#define PACER_CORE_SCRUB_H

#include <stddef.h>

#include "core/job.h"

/** Returns a copy of text[0..len) (borrowed, need not be NUL-terminated)
 *  with every occurrence of secret (borrowed, NUL-terminated) replaced by
 *  "[redacted]", owned (free with free()), NUL-terminated, *out_len set.
 *  Returns NULL when secret is empty or does not occur (*failed 0), or
 *  when memory ran out (*failed 1: the caller then drops the text rather
 *  than keep a secret). Any thread. */
char *pacer_scrub_secret(const char *text, size_t len, const char *secret,
                         size_t *out_len, int *failed);

/** Scrubs every secret job (borrowed) carries itself (pacer_job_secrets:
 *  secret header values, the URL password in each form libcurl sends it)
 *  from *body (*body_len bytes) and *headers_json, either may be NULL.
 *  The pointers are moved to scrubbed copies that *sbody and *sheaders own
 *  (each freed and replaced as it is scrubbed again; the caller frees the
 *  last ones with free()). Out of memory drops the text (NULL, length 0)
 *  rather than keep a secret. Any thread. */
void pacer_scrub_job_secrets(const struct pacer_job *job, const char **body,
                             size_t *body_len, char **sbody,
                             const char **headers_json, char **sheaders);

#endif
