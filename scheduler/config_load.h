/* Reading the configuration file and the secrets it names: the I/O half
 * of core/config.h, whose parser takes bytes and never opens a file or
 * reads the environment. Used by every `pacer` command at start-up, before
 * any thread starts (getenv is not thread-safe against setenv).
 */
#ifndef PACER_SCHEDULER_CONFIG_LOAD_H
#define PACER_SCHEDULER_CONFIG_LOAD_H

#include "common/err.h"
#include "core/config.h"

/** Reads path (borrowed) and parses it over cfg like pacer_config_parse
 *  (pacer_config_parse_file, with the file's mode), then resolves
 *  credential secrets with pacer_config_resolve_secrets, relative secret
 *  file paths being taken from the config file's directory. File errors
 *  come back as PACER_ECONFIG with "config: <path>: <strerror>"; a file
 *  over PACER_CONFIG_MAX_BYTES as "config: <path>: larger than the
 *  1048576-byte limit". An inline "client_secret" or "refresh_token" in a
 *  file that group or others may read (mode & 044) is refused:
 *  "credentials.<name>.client_secret: inline secret in a config file
 *  readable by group or others (mode 0644); use client_secret_env or
 *  client_secret_file, or chmod 600 the file". The file buffer and the
 *  JSON tree are wiped. Reads the environment: call before threads
 *  start. */
int pacer_config_load(struct pacer_config *cfg, const char *path,
                      struct pacer_error *err);

/** Reads every credential secret given as *_env or *_file into its
 *  value (pacer_config_fill_secrets with getenv and file reads),
 *  replacing (and wiping) any earlier value. Environment variables must
 *  be set and non-empty. A file path not starting with "/" is taken
 *  relative to base_dir (borrowed; NULL: the working directory); the file
 *  must be a regular file that neither group nor others may read (mode &
 *  044 == 0), at most PACER_OAUTH_TOKEN_MAX bytes once trailing white
 *  space (a final newline) is dropped, non-empty. Values must be %x20-7E.
 *  Returns 0, PACER_ECONFIG with err naming the field and the variable or
 *  path, e.g. "credentials.acme.refresh_token_file: /etc/pacer/rt is
 *  readable by group or others (mode 0640); chmod 600 /etc/pacer/rt"
 *  (never the secret), or PACER_ENOMEM. Buffers that held file content
 *  are wiped. Call before threads start. */
int pacer_config_resolve_secrets(struct pacer_config *cfg, const char *base_dir,
                                 struct pacer_error *err);

#endif
