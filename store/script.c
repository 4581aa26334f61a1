/* Scripts called by SHA1: see store/script.h. */
#include "store/script.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "store/lua_scripts.h"

#define SHA1_HEX      40
#define ARGS_ON_STACK 64
#define MAX_SCRIPTS   64

/* Per script: 1 once this process has sent its text (EVAL loads it into
 * Redis's cache), 0 again after a NOSCRIPT. Until then a call goes as EVAL
 * with the text, so the first call needs no NOSCRIPT round trip, and the
 * one call at a clean stop (queue_delconsumer.lua) cannot meet NOSCRIPT on
 * a connection that is closing and can no longer resend. */
static atomic_int sent_text[MAX_SCRIPTS];

/* The index of text in pacer_lua_all, or -1. */
static int
script_index(const char *text)
{
  size_t i;

  for (i = 0; i < pacer_lua_count; i++)
    if (pacer_lua_all[i].text == text)
      return (int)i;
  return -1;
}

const char *
pacer_script_sha1(const char *text)
{
  int i = script_index(text);

  return i < 0 ? NULL : pacer_lua_all[i].sha1;
}

int
pacer_script_noscript(const redisReply *r)
{
  return r != NULL && r->type == REDIS_REPLY_ERROR && r->len >= 8 &&
         memcmp(r->str, "NOSCRIPT", 8) == 0;
}

/* Remembers that Redis lost the script text (NOSCRIPT). */
static void
forget_text(const char *text)
{
  int i = script_index(text);

  if (i >= 0 && i < MAX_SCRIPTS)
    atomic_store_explicit(&sent_text[i], 0, memory_order_relaxed);
}

/* The SHA1 to send when argv is the EVAL form of an embedded script whose
 * text this process has sent before, else NULL (send argv as it is; the
 * first EVAL of a script marks its text sent). */
static const char *
eval_sha1(int argc, const char **argv, const size_t *lens)
{
  int i;

  if (argc < 3 || strcmp(argv[0], "EVAL") != 0 ||
      (lens != NULL && lens[0] != 4))
    return NULL;
  i = script_index(argv[1]);
  if (i < 0)
    return NULL;
  if (i < MAX_SCRIPTS &&
      !atomic_exchange_explicit(&sent_text[i], 1, memory_order_relaxed))
    return NULL;
  return pacer_lua_all[i].sha1;
}

/* An async EVALSHA in flight: the caller's callback and the RESP text of
 * the arguments after the script (argv[2..]), kept for the EVAL resend. */
struct call {
  redisCallbackFn *fn;
  void *privdata;
  const char *text; /* the script (static) */
  int argc;
  int resent;
  size_t head; /* bytes of "*argc" + EVALSHA + sha at the start of cmd */
  size_t len;  /* bytes of cmd */
  char cmd[];  /* the formatted EVALSHA command */
};

/* RESP is written by hand below, not with snprintf: a finish has about 45
 * arguments, and two snprintf calls per argument were about 8 % of the
 * worker's CPU (perf, bench/throughput.sh). */

/* Number of decimal digits of n. */
static size_t
dec_len(size_t n)
{
  size_t d = 1;

  while (n >= 10) {
    n /= 10;
    d++;
  }
  return d;
}

/* Writes n in decimal at p; returns the end. */
static char *
put_dec(char *p, size_t n)
{
  char tmp[24];
  size_t i = 0;

  do {
    tmp[i++] = (char)('0' + n % 10);
    n /= 10;
  } while (n != 0);
  while (i > 0)
    *p++ = tmp[--i];
  return p;
}

/* Bytes of the bulk string of n bytes: "$<n>\r\n<bytes>\r\n". */
static size_t
bulk_len(size_t n)
{
  return 1 + dec_len(n) + 2 + n + 2;
}

static char *
put_bulk(char *p, const char *s, size_t n)
{
  *p++ = '$';
  p = put_dec(p, n);
  *p++ = '\r';
  *p++ = '\n';
  memcpy(p, s, n);
  p += n;
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

/* Writes the array header "*<argc>\r\n" (at most 14 bytes for an int). */
static char *
put_array(char *p, int argc)
{
  *p++ = '*';
  p = put_dec(p, (size_t)argc);
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

/* On NOSCRIPT: the same call as EVAL with the text, once. */
static int
resend_eval(redisAsyncContext *ac, redisCallbackFn *cb, struct call *cl)
{
  size_t tl = strlen(cl->text), n;
  char *buf, *p;
  int rc;

  n = 24 + bulk_len(4) + bulk_len(tl) + (cl->len - cl->head);
  buf = malloc(n);
  if (buf == NULL)
    return REDIS_ERR;
  p = put_array(buf, cl->argc);
  p = put_bulk(p, "EVAL", 4);
  p = put_bulk(p, cl->text, tl);
  memcpy(p, cl->cmd + cl->head, cl->len - cl->head);
  p += cl->len - cl->head;
  rc = redisAsyncFormattedCommand(ac, cb, cl, buf, (size_t)(p - buf));
  free(buf);
  return rc;
}

static void
on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
  struct call *cl = privdata;

  if (!cl->resent && pacer_script_noscript(r)) {
    cl->resent = 1;
    forget_text(cl->text);
    if (resend_eval(ac, on_reply, cl) == REDIS_OK)
      return;
  }
  cl->fn(ac, r, cl->privdata);
  free(cl);
}

int
pacer_script_async(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata,
                   int argc, const char **argv, const size_t *lens)
{
  const char *sha = eval_sha1(argc, argv, lens);
  struct call *cl;
  size_t n, i;
  char *p;
  int rc;

  if (sha == NULL)
    return redisAsyncCommandArgv(ac, fn, privdata, argc, argv, lens);
  /* "*argc\r\n" (at most 14 bytes) + EVALSHA + sha + the rest */
  n = 16 + bulk_len(7) + bulk_len(SHA1_HEX);
  for (i = 2; i < (size_t)argc; i++)
    n += bulk_len(lens != NULL ? lens[i] : strlen(argv[i]));
  cl = malloc(sizeof(*cl) + n);
  if (cl == NULL)
    return REDIS_ERR;
  cl->fn = fn;
  cl->privdata = privdata;
  cl->text = argv[1];
  cl->argc = argc;
  cl->resent = 0;
  p = put_array(cl->cmd, argc);
  p = put_bulk(p, "EVALSHA", 7);
  p = put_bulk(p, sha, SHA1_HEX);
  cl->head = (size_t)(p - cl->cmd);
  for (i = 2; i < (size_t)argc; i++)
    p = put_bulk(p, argv[i], lens != NULL ? lens[i] : strlen(argv[i]));
  cl->len = (size_t)(p - cl->cmd);
  rc = redisAsyncFormattedCommand(ac, on_reply, cl, cl->cmd, cl->len);
  if (rc != REDIS_OK)
    free(cl);
  return rc;
}

redisReply *
pacer_script_command(redisContext *c, int argc, const char **argv,
                     const size_t *lens)
{
  const char *sha = eval_sha1(argc, argv, lens);
  const char *sv[ARGS_ON_STACK], **a = sv;
  size_t sl[ARGS_ON_STACK], *l = sl;
  redisReply *r;
  int i;

  if (sha == NULL)
    return redisCommandArgv(c, argc, argv, lens);
  if (argc > ARGS_ON_STACK) {
    a = malloc((size_t)argc * sizeof(*a));
    l = malloc((size_t)argc * sizeof(*l));
    if (a == NULL || l == NULL) {
      free(a);
      free(l);
      return NULL;
    }
  }
  a[0] = "EVALSHA";
  l[0] = 7;
  a[1] = sha;
  l[1] = SHA1_HEX;
  for (i = 2; i < argc; i++) {
    a[i] = argv[i];
    l[i] = lens != NULL ? lens[i] : strlen(argv[i]);
  }
  r = redisCommandArgv(c, argc, a, l);
  if (a != sv) {
    free(a);
    free(l);
  }
  if (pacer_script_noscript(r)) {
    forget_text(argv[1]);
    freeReplyObject(r);
    r = redisCommandArgv(c, argc, argv, lens);
  }
  return r;
}
