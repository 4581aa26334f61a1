/* The member format of <prefix>delayed (store/keys.h draws it): the one
 * builder and the one parser in C. store/lua/queue_promote.lua reads the
 * same format in Redis.
 *
 *   "<id>\n<attempt>\n<job JSON>"          back to <prefix>jobs
 *   "<id>\n<attempt>\nh\n<job JSON>"       back to <prefix>jobs:high
 *   "<id>\n<attempt>\nl\n<job JSON>"       back to <prefix>jobs:low
 *   <attempt> = "<attempts>" | "<attempts>.<429s met>"   (429s > 0 only)
 *
 * The same job always makes the same member, so a replayed defer script
 * adds nothing twice.
 */
#ifndef PACER_STORE_DELAYED_H
#define PACER_STORE_DELAYED_H

#include <stddef.h>

/* 429s written at most in <attempt>. */
#define PACER_DELAYED_THROTTLED_MAX 9999u

/** A member split into its parts; pointers borrow the member text. */
struct pacer_delayed_member {
  const char *id; /* id_len bytes */
  size_t id_len;
  const char *attempt; /* "<attempts>[.<429s>]", attempt_len bytes */
  size_t attempt_len;
  char tag;        /* 'h', 'l', or 0 for the normal stream */
  const char *job; /* the job JSON, job_len bytes */
  size_t job_len;
};

/** Builds the member of a job: id (borrowed, no '\n'), attempt (attempts
 *  made), throttled (429s met; capped at PACER_DELAYED_THROTTLED_MAX, left
 *  out when 0), tag ("h", "l", or "" / NULL for the normal stream) and
 *  job[0..job_len) (borrowed). On success *out is the owned member (free
 *  with free; NUL-terminated) and *out_len its length. Returns 0, or
 *  PACER_ENOMEM / PACER_EINVAL (id holds a '\n'). Any thread. */
int pacer_delayed_member_new(const char *id, unsigned attempt,
                             unsigned throttled, const char *tag,
                             const char *job, size_t job_len, char **out,
                             size_t *out_len);

/** Splits m[0..len) (borrowed) into *out. Returns 0, or PACER_EINVAL when
 *  m has no "<id>\n<attempt>\n" head (a bare job JSON, which promotes to
 *  <prefix>jobs as is). Any thread. */
int pacer_delayed_member_parse(const char *m, size_t len,
                               struct pacer_delayed_member *out);

/** Rewrites member m[0..len) (borrowed, built without a tag) with tag
 *  ("h", "l", or "" to copy it as is). *out and *out_len as in
 *  pacer_delayed_member_new. Returns 0, or PACER_ENOMEM; a member without
 *  a head is copied as is. Any thread. */
int pacer_delayed_member_retag(const char *m, size_t len, const char *tag,
                               char **out, size_t *out_len);

#endif
