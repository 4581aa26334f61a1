/* Dashboard browser sessions. See dash_session.h. */
#include "server/dash_session.h"

#include <string.h>

#include <sodium.h>

void
pacer_dash_random_hex(char *hex)
{
  unsigned char b[PACER_DASH_SESSION_HEX / 2];

  randombytes_buf(b, sizeof(b));
  sodium_bin2hex(hex, PACER_DASH_SESSION_HEX + 1, b, sizeof(b));
  sodium_memzero(b, sizeof(b));
}

static void
drop(struct pacer_dash_session *s)
{
  sodium_memzero(s, sizeof(*s));
}

const struct pacer_dash_session *
pacer_dash_session_open(struct pacer_dash_sessions *t, uint64_t now_mono_ms)
{
  struct pacer_dash_session *pick = NULL;
  size_t i;

  for (i = 0; i < PACER_DASH_SESSION_MAX; i++) {
    struct pacer_dash_session *s = &t->s[i];

    if (s->id[0] != '\0' && s->expires_mono_ms <= now_mono_ms)
      drop(s);
    if (s->id[0] == '\0') {
      if (pick == NULL || pick->id[0] != '\0')
        pick = s;
    } else if (pick == NULL || (pick->id[0] != '\0' &&
                                s->expires_mono_ms < pick->expires_mono_ms)) {
      pick = s;
    }
  }
  drop(pick);
  pacer_dash_random_hex(pick->id);
  pacer_dash_random_hex(pick->csrf);
  pick->expires_mono_ms = now_mono_ms + PACER_DASH_SESSION_TTL_MS;
  return pick;
}

static struct pacer_dash_session *
lookup(struct pacer_dash_sessions *t, const char *id)
{
  size_t i;

  if (id == NULL || strlen(id) != PACER_DASH_SESSION_HEX)
    return NULL;
  for (i = 0; i < PACER_DASH_SESSION_MAX; i++)
    if (t->s[i].id[0] != '\0' &&
        sodium_memcmp(t->s[i].id, id, PACER_DASH_SESSION_HEX) == 0)
      return &t->s[i];
  return NULL;
}

const struct pacer_dash_session *
pacer_dash_session_find(struct pacer_dash_sessions *t, const char *id,
                        uint64_t now_mono_ms)
{
  struct pacer_dash_session *s = lookup(t, id);

  if (s != NULL && s->expires_mono_ms <= now_mono_ms) {
    drop(s);
    return NULL;
  }
  return s;
}

void
pacer_dash_session_close(struct pacer_dash_sessions *t, const char *id)
{
  struct pacer_dash_session *s = lookup(t, id);

  if (s != NULL)
    drop(s);
}

void
pacer_dash_sessions_wipe(struct pacer_dash_sessions *t)
{
  sodium_memzero(t, sizeof(*t));
}
