/* Helpers shared by the files of the configuration parser: core/config.c
 * (top level and plain fields), core/limits.c ("limits"),
 * core/config_cred.c ("credentials"), core/host_pattern.c (host patterns
 * of both) and core/redis_url.c ("redis_url").
 * Not a public API: include it only from those files. Pure; any thread.
 */
#ifndef PACER_CORE_CONFIG_INT_H
#define PACER_CORE_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/err.h"
#include "core/config.h"

#define PACER_CONFIG_SHOW_MAX 40 /* user text shown in a message, bytes */

/** Where the text given to the parser came from: a config file (whose
 *  mode decides whether inline secrets are allowed) or bare text. */
struct pacer_config_src {
  int from_file;
  unsigned mode; /* st_mode of the config file */
};

/** Printable-ASCII copy of s (borrowed) into buf (more than
 *  PACER_CONFIG_SHOW_MAX + 4 bytes) for a message, cut at
 *  PACER_CONFIG_SHOW_MAX with "..."; '"', '\\' and control bytes become
 *  '?'. Returns buf. */
const char *pacer_config_show(const char *s, char *buf, size_t size);

/** Returns 1 when s (borrowed) holds a byte below 0x20 or 0x7f, else 0. */
int pacer_config_has_ctl(const char *s);

/** Returns 1 when every byte of s (borrowed) is in [lo, 0x7e], else 0. */
int pacer_config_visible(const char *s, unsigned char lo);

/** Returns 1 for an RFC 9110 §5.6.2 tchar (a header name character). */
int pacer_config_is_tchar(char c);

/** Returns 1 for a host name character: A-Z a-z 0-9 . - _ */
int pacer_config_is_host_char(char c);

/** Parses a decimal in [lo, hi] from s[0..n) (borrowed; n > 0, digits
 *  only, no sign). Returns 0 and *out, or -1. */
int pacer_config_parse_dec(const char *s, size_t n, long lo, long hi,
                           long *out);

/** pacer_json_get_int with PACER_ECONFIG: an integral JSON number in
 *  [lo, hi], or an error naming name (borrowed). */
int pacer_config_get_int(const cJSON *item, const char *name, int64_t lo,
                         int64_t hi, int64_t *out, struct pacer_error *err);

/** Frees *s after wiping it (sodium_memzero) and sets it to NULL; *s may
 *  be NULL. */
void pacer_config_wipe_string(char **s);

/** Parses a host pattern s (borrowed): "api.example.com",
 *  "*.example.com", "[2001:db8::1]" or "*" (any host), into out
 *  (PACER_LIMIT_HOST_MAX + 1 bytes) lower-cased, "" for "*". Returns 0,
 *  or -1 when s is none of these. core/host_pattern.c. */
int pacer_config_host_pattern(const char *s, char *out);

/** Returns 1 when host (borrowed, may be NULL) matches pattern (from
 *  pacer_config_host_pattern, not ""): case-insensitive, one trailing dot
 *  ignored, "*.domain" covering names below domain only. core/host_pattern.c.
 */
int pacer_config_host_matches(const char *pattern, const char *host);

/** Parses the "limits" list item (borrowed) into a new array that
 *  replaces cfg->limits only when every entry is valid. Returns 0,
 *  PACER_ECONFIG or PACER_ENOMEM with err. core/limits.c. */
int pacer_config_parse_limits(struct pacer_config *cfg, const cJSON *item,
                              struct pacer_error *err);

/** Parses the "credentials" map item (borrowed) into a new array that
 *  replaces cfg->creds only when every entry is valid; inline secrets are
 *  refused when src says the file is readable by group or others.
 *  Returns 0, PACER_ECONFIG or PACER_ENOMEM with err.
 *  core/config_cred.c. */
int pacer_config_parse_creds(struct pacer_config *cfg, const cJSON *item,
                             const struct pacer_config_src *src,
                             struct pacer_error *err);

/** Frees arr[0..n) (owned; may be NULL) and their strings, wiping secrets.
 *  core/config_cred.c. */
void pacer_config_free_creds(struct pacer_cred_cfg *arr, size_t n);

/** Records one of the three ways to give secret `what` ("client_secret"
 *  or "refresh_token") of credentials.<name> (where, e.g.
 *  "credentials.acme"): src says which (the field's suffix), item is the
 *  JSON value (borrowed). An inline secret is refused when cfg_src is a
 *  file readable by group or others. Returns 0, or PACER_ECONFIG /
 *  PACER_ENOMEM with err naming the field, never quoting a secret
 *  (core/config_cred_secret.c). */
int pacer_config_cred_secret(struct pacer_cred_secret *sec, const char *what,
                             enum pacer_secret_source src, const cJSON *item,
                             const char *where,
                             const struct pacer_config_src *cfg_src,
                             struct pacer_error *err);

/** "redis_tls": {"ca_file", "cert_file", "key_file", "server_name":
 *  strings, "insecure": boolean}, stored in cfg->redis_tls as rediss://
 *  query parameters (percent-encoded). core/redis_url.c. */
int pacer_config_parse_redis_tls(struct pacer_config *cfg, const cJSON *item,
                                 struct pacer_error *err);

/** Adds cfg->redis_tls (when set) to cfg->redis_url when that is a
 *  rediss:// URL, before the URL's own parameters so that those win.
 *  With strict, a redis_url of another scheme is an error ("redis_tls:
 *  ..."); else it is left as it is. Returns 0, PACER_ECONFIG or
 *  PACER_ENOMEM. core/redis_url.c. */
int pacer_config_fold_redis_tls(struct pacer_config *cfg, int strict,
                                struct pacer_error *err);

#endif
