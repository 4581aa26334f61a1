/* Browser sessions of the dashboard (docs/METRICS.md "Logging in"): a
 * table in memory of the HTTP thread, never in Redis and never holding the
 * metrics token.
 *
 *   slot: id (32 random bytes, hex; the HttpOnly cookie's value)
 *         csrf (32 random bytes, hex; sent back by the page in the
 *               X-Pacer-CSRF header of every POST)
 *         expires_mono_ms
 *
 * A full table drops the session that expires first. Ids are compared in
 * constant time (sodium_memcmp).
 */
#ifndef PACER_SERVER_DASH_SESSION_H
#define PACER_SERVER_DASH_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define PACER_DASH_SESSION_HEX    64 /* hex digits of an id or csrf token */
#define PACER_DASH_SESSION_MAX    64 /* sessions at once */
#define PACER_DASH_SESSION_TTL_MS (8ull * 3600 * 1000) /* life, ms */

/** One session; fields are NUL-terminated hex, "" when the slot is free. */
struct pacer_dash_session {
  char id[PACER_DASH_SESSION_HEX + 1];
  char csrf[PACER_DASH_SESSION_HEX + 1];
  uint64_t expires_mono_ms; /* monotonic clock, ms */
};

/** The table: zero it to start (memset or static storage). */
struct pacer_dash_sessions {
  struct pacer_dash_session s[PACER_DASH_SESSION_MAX];
};

/** Fills hex (PACER_DASH_SESSION_HEX + 1 bytes) with 32 random bytes from
 *  libsodium (randombytes_buf) in hex. Any thread (sodium_init first). */
void pacer_dash_random_hex(char *hex);

/** Opens a session at now_mono_ms (ms) living PACER_DASH_SESSION_TTL_MS and
 *  returns it (owned by t; valid until the next call on t). Drops expired
 *  sessions, or the one expiring first when the table is full. Never
 *  fails. HTTP thread. */
const struct pacer_dash_session *
pacer_dash_session_open(struct pacer_dash_sessions *t, uint64_t now_mono_ms);

/** The live session whose id is id (borrowed; the cookie's value), or NULL
 *  when unknown, malformed or expired at now_mono_ms. HTTP thread. */
const struct pacer_dash_session *
pacer_dash_session_find(struct pacer_dash_sessions *t, const char *id,
                        uint64_t now_mono_ms);

/** Ends the session whose id is id (borrowed), wiping it; unknown ids do
 *  nothing. HTTP thread. */
void pacer_dash_session_close(struct pacer_dash_sessions *t, const char *id);

/** Wipes every session. HTTP thread, or after it stopped. */
void pacer_dash_sessions_wipe(struct pacer_dash_sessions *t);

#endif
