/* Lua scripts called by SHA1 (docs/REDIS.md "Scripts"). Every script call
 * of store/ is built in the EVAL form (argv[0] "EVAL", argv[1] the text of
 * an embedded script, pacer_lua_NAME from store/lua_scripts.h) and sent
 * through this file, which sends `EVALSHA <sha1> ...` instead, so Redis
 * neither receives nor hashes the text. When Redis answers NOSCRIPT (its
 * script cache is empty after a restart, a SCRIPT FLUSH or a failover),
 * the same call is sent once more as EVAL with the text, which also loads
 * the script again; the caller sees only that second reply. A script's
 * first call in a process, and its first call after a NOSCRIPT, go as
 * EVAL with the text. Source: Redis
 * documentation, EVALSHA and "Script cache". */
#ifndef PACER_STORE_SCRIPT_H
#define PACER_STORE_SCRIPT_H

#include <stddef.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

/** The lower-case hex SHA1 (40 characters, static) of text, when text is
 *  one of the embedded scripts (compared by address, pacer_lua_all), else
 *  NULL. Any thread. */
const char *pacer_script_sha1(const char *text);

/** 1 when r (borrowed, may be NULL) is Redis's NOSCRIPT error, else 0. */
int pacer_script_noscript(const redisReply *r);

/** Sends argc arguments argv (borrowed; lens their lengths, or NULL for C
 *  strings) on the async context ac like redisAsyncCommandArgv, fn/privdata
 *  as there. In the EVAL form of an embedded script it is sent as EVALSHA,
 *  and on NOSCRIPT once more as EVAL before fn sees the reply; any other
 *  command is passed through. fn runs exactly once (with NULL when the
 *  connection goes). Returns REDIS_OK or REDIS_ERR (not sent; fn will not
 *  run). Loop thread of ac. */
int pacer_script_async(redisAsyncContext *ac, redisCallbackFn *fn,
                       void *privdata, int argc, const char **argv,
                       const size_t *lens);

/** Like redisCommandArgv on the sync context c (argv, lens borrowed; lens
 *  may be NULL): an EVAL of an embedded script goes as EVALSHA, and on
 *  NOSCRIPT once more as EVAL. Returns the owned reply (freeReplyObject)
 *  or NULL on an I/O error (c->errstr). Calling thread. */
redisReply *pacer_script_command(redisContext *c, int argc, const char **argv,
                                 const size_t *lens);

#endif
