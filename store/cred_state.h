/* What `pacer cred show` and `pacer stats` report about OAuth2
 * credentials, read from Redis without ever fetching a token.
 *
 *   <prefix>cred:<name>        hash, the shared token state
 *     access_token             secret: only HSTRLEN is read ("set"/"none")
 *     refresh_token            secret: only HSTRLEN is read
 *     expires_at_ms            unix ms, 0 = no access token
 *     generation               +1 on every new access or refresh token
 *     status                   ok | refreshing | reauth_required;
 *                              absent = never used ("unused")
 *     last_error               short text, never a secret
 *     updated_at_ms            unix ms of the last write
 *     lifetime_s               last known access token lifetime, s
 *   <prefix>lock:cred:<name>   refresh lock (SET NX PX): only PTTL is read
 *   <prefix>delayed            sorted set; score >= PACER_KEYS_PARK_SCORE_MS =
 *                              parked (waits for `pacer cred set`), member
 *                              "<id>\n<attempt>\n[<tag>\n]<job JSON>"
 */
#ifndef PACER_STORE_CRED_STATE_H
#define PACER_STORE_CRED_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "core/config.h"

#define PACER_CLI_CRED_PARK_SCAN_MAX 100000 /* parked members read, max */
#define PACER_CLI_CRED_ERROR_MAX     200    /* last_error bytes shown */

/** One credential as the commands show it. Plain value, no pointers. */
struct pacer_cli_cred {
  char name[PACER_CRED_NAME_MAX + 1];
  char status[24];         /* ok | refreshing | reauth_required | unused,
                              or the hash's text when it is none of these */
  long long generation;    /* 0 when absent */
  int has_expiry;          /* 1 when an access token has an expiry */
  long long expires_in_s;  /* expires_at_ms - Redis TIME, s (< 0: expired);
                              valid when has_expiry */
  long long updated_at_ms; /* unix ms, 0 when absent */
  int access_token_set;    /* 1 when a non-empty access_token is stored */
  int refresh_token_set;   /* 1 when a non-empty refresh_token is stored */
  char last_error[PACER_CLI_CRED_ERROR_MAX + 1]; /* control bytes -> '?' */
  long long parked;                              /* parked jobs counted */
  long long lock_ttl_ms; /* refresh lock time left, ms; -1 = not held */
};

/** The credentials of one configuration. */
struct pacer_cli_creds {
  struct pacer_cli_cred *v; /* n entries, owned */
  size_t n;
  long long parked_total;     /* all parked members (ZCOUNT) */
  long long parked_unmatched; /* counted parked members whose job names no
                                 configured credential or does not parse */
  int parked_truncated;       /* 1 when more than
                                 PACER_CLI_CRED_PARK_SCAN_MAX were parked */
};

/** Size of a table cell pacer_cli_cred_cells fills, bytes. */
#define PACER_CLI_CRED_CELL 32

/** Fills the two table cells of cr (borrowed) shared by `pacer cred list`
 *  and `pacer stats`: exp ("-", "expired" or "<s>s") and lock ("-" or
 *  "held <ms>ms"), each PACER_CLI_CRED_CELL bytes, NUL-terminated. Main
 *  thread. */
void pacer_cli_cred_cells(const struct pacer_cli_cred *cr,
                          char exp[PACER_CLI_CRED_CELL],
                          char lock[PACER_CLI_CRED_CELL]);

/** Reads the state of every credential in cfg (borrowed), or only of
 *  only_name (borrowed, NULL = all; it must be configured), into *out
 *  (zeroed first). Uses TIME, one pipeline of HMGET/HSTRLEN/PTTL, ZCOUNT
 *  and ZRANGEBYSCORE in pages of 1000 up to PACER_CLI_CRED_PARK_SCAN_MAX
 *  parked members. Never reads a token's value. Returns 0, or
 *  PACER_EREDIS / PACER_ENOMEM / PACER_ENOTFOUND (only_name not
 *  configured) with err set. Free *out with pacer_cli_creds_free in
 *  either case. */
int pacer_cli_creds_collect(redisContext *c, const struct pacer_config *cfg,
                            const char *only_name, struct pacer_cli_creds *out,
                            struct pacer_error *err);

/** Returns prefix + what + name (all borrowed) as an owned string (free),
 *  or NULL when out of memory. E.g. ("pacer:", "cred:", "acme"). */
char *pacer_cli_key(const char *prefix, const char *what, const char *name);

/** Frees what pacer_cli_creds_collect filled in. NULL does nothing. */
void pacer_cli_creds_free(struct pacer_cli_creds *cs);

/** Prints a table, one line per credential, to out (borrowed), each line
 *  starting with indent (borrowed), then for each credential that needs
 *  re-authorisation the command that fixes it. Prints nothing when there
 *  are no credentials. */
void pacer_cli_creds_print_text(FILE *out, const struct pacer_cli_creds *cs,
                                const char *indent);

/** Adds the array "credentials" (one object per credential) to obj
 *  (borrowed). Returns 0 or PACER_ENOMEM. */
int pacer_cli_creds_add_json(cJSON *obj, const struct pacer_cli_creds *cs);

#endif
