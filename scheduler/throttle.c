/* Scheduler, throttle keys: see scheduler/throttle.h. */
#include "scheduler/throttle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/throttle.h"

#define SWEEP_AT 4096 /* copies before idle ones are dropped */

static unsigned
hash(const char *s)
{
  unsigned h = 2166136261u; /* FNV-1a */

  for (; *s != '\0'; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h & 255u;
}

void
pacer_throttle_key_of(const struct pacer_limit_ref *ref, const char *host,
                      char *out)
{
  if (ref != NULL)
    snprintf(out, PACER_THROTTLE_KEY_MAX, "%s", ref->key);
  else
    snprintf(out, PACER_THROTTLE_KEY_MAX, "(host):%.260s",
             host != NULL ? host : "");
}

static struct pacer_throttle_key *
find(const struct pacer_throttles *t, const char *key)
{
  struct pacer_throttle_key *k;

  for (k = t->buckets[hash(key)]; k != NULL; k = k->next) {
    if (strcmp(k->key, key) == 0)
      return k;
  }
  return NULL;
}

struct pacer_backoff_state
pacer_throttles_get(const struct pacer_throttles *t, const char *key)
{
  struct pacer_throttle_key *k = find(t, key);
  struct pacer_backoff_state zero = {0, 0};

  return k != NULL ? k->st : zero;
}

int
pacer_throttles_probation(const struct pacer_throttles *t, const char *key)
{
  struct pacer_throttle_key *k = find(t, key);

  return k != NULL && k->st.streak > 0;
}

/* Drops copies with nothing to remember and no reply to wait for. */
static void
sweep(struct pacer_throttles *t)
{
  size_t b;

  for (b = 0; b < 256; b++) {
    struct pacer_throttle_key **pp = &t->buckets[b];

    while (*pp != NULL) {
      struct pacer_throttle_key *k = *pp;

      if (k->pending == 0 && k->st.streak == 0) {
        *pp = k->next;
        free(k);
        t->count--;
      } else {
        pp = &k->next;
      }
    }
  }
}

struct note {
  struct pacer_throttles *t;
  struct pacer_throttle_key *k;
};

static void
on_noted(void *arg, int status, const struct pacer_backoff_state *st)
{
  struct note *n = arg;
  struct pacer_throttles *t = n->t;
  struct pacer_throttle_key *k = n->k;

  free(n);
  k->pending--;
  if (status != 0)
    return;
  k->st = *st; /* every process's view, merged */
  if (t->on_shared != NULL)
    t->on_shared(t->arg, k->key, &k->st);
}

void
pacer_throttles_note(struct pacer_throttles *t, struct pacer_queue *q,
                     const char *key, int throttle,
                     const struct pacer_backoff_state *st)
{
  struct pacer_throttle_key *k = find(t, key);
  struct note *n;
  unsigned h;

  if (k == NULL) {
    if (t->count >= SWEEP_AT)
      sweep(t);
    k = calloc(1, sizeof(*k));
    if (k == NULL)
      return;
    snprintf(k->key, sizeof(k->key), "%s", key);
    h = hash(k->key);
    k->next = t->buckets[h];
    t->buckets[h] = k;
    t->count++;
  }
  k->st = *st;
  n = malloc(sizeof(*n));
  if (n != NULL) {
    n->t = t;
    n->k = k;
  }
  if (n != NULL &&
      pacer_throttle_note(q, key, throttle, st, on_noted, n) == 0) {
    k->pending++;
  } else {
    free(n);
    pacer_log(PACER_LOG_WARN, "sched",
              "msg=\"throttle state not shared\" key=%s", key);
  }
}

void
pacer_throttles_free(struct pacer_throttles *t)
{
  size_t b;

  for (b = 0; b < 256; b++) {
    while (t->buckets[b] != NULL) {
      struct pacer_throttle_key *k = t->buckets[b];

      t->buckets[b] = k->next;
      free(k);
    }
  }
  t->count = 0;
}
