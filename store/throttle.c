/* Shared throttle backoff state. See store/throttle.h. */
#include "store/throttle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "core/limit_ref.h"
#include "store/keys.h"
#include "store/lua_scripts.h"

struct note_ctx {
  pacer_throttle_cb cb;
  void *arg;
};

static void
on_note_reply(struct pacer_queue *q, const struct redisReply *reply,
              void *privdata)
{
  struct note_ctx *ctx = privdata;
  struct pacer_backoff_state st;

  (void)q;
  if (ctx->cb != NULL) {
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 2 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER) {
      ctx->cb(ctx->arg, reply == NULL ? PACER_EUNKNOWN : PACER_EREDIS, NULL);
    } else {
      long long s = reply->element[0]->integer, u = reply->element[1]->integer;

      st.streak = s < 0 ? 0
                  : s > (long long)PACER_BACKOFF_STREAK_MAX
                      ? PACER_BACKOFF_STREAK_MAX
                      : (uint32_t)s;
      st.until_unix_ms = u > 0 ? (uint64_t)u : 0;
      ctx->cb(ctx->arg, 0, &st);
    }
  }
  free(ctx);
}

int
pacer_throttle_note(struct pacer_queue *q, const char *key, int throttle,
                    const struct pacer_backoff_state *st, pacer_throttle_cb cb,
                    void *arg)
{
  char k[PACER_LIMIT_KEY_SIZE + 300], streak[24], until[24];
  const char *keys[1], *args[3];
  struct note_ctx *ctx;
  int rc;

  if (pacer_keys_format(k, sizeof(k), pacer_queue_prefix(q),
                        PACER_KEYS_THROTTLE, key) < 0)
    return PACER_EINVAL;
  ctx = malloc(sizeof(*ctx));
  if (ctx == NULL)
    return PACER_ENOMEM;
  ctx->cb = cb;
  ctx->arg = arg;
  snprintf(streak, sizeof(streak), "%" PRIu32, throttle ? st->streak : 0u);
  snprintf(until, sizeof(until), "%" PRIu64, throttle ? st->until_unix_ms : 0u);
  keys[0] = k;
  args[0] = throttle ? "throttle" : "ok";
  args[1] = streak;
  args[2] = until;
  rc = pacer_queue_eval_reply(q, pacer_lua_throttle_note, 1, keys, 3, args,
                              NULL, on_note_reply, ctx);
  if (rc != 0)
    free(ctx);
  return rc;
}
