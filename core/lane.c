#include "core/lane.h"

#include <stdlib.h>
#include <string.h>

static unsigned
hash_id(const char *s)
{
  unsigned h = 2166136261u; /* FNV-1a */

  while (*s != '\0')
    h = (h ^ (unsigned char)*s++) * 16777619u;
  return h & 255u;
}

void
pacer_lanes_init(struct pacer_lanes *ls)
{
  memset(ls, 0, sizeof(*ls));
}

struct pacer_lane *
pacer_lanes_get(struct pacer_lanes *ls, const char *id,
                const struct pacer_limit_ref *refs, size_t nrefs)
{
  unsigned b = hash_id(id);
  struct pacer_lane *l;
  size_t i;

  for (l = ls->buckets[b]; l != NULL; l = l->hnext) {
    if (strcmp(l->id, id) == 0)
      return l;
  }
  if (strlen(id) > PACER_LANE_ID_MAX || nrefs > PACER_LIMITER_MAX_REFS)
    return NULL;
  l = calloc(1, sizeof(*l));
  if (l == NULL)
    return NULL;
  memcpy(l->id, id, strlen(id) + 1);
  for (i = 0; i < nrefs; i++) {
    l->refs[i] = refs[i];
    if (refs[i].cfg->max_in_flight != 0 &&
        (l->max_in_flight == 0 ||
         refs[i].cfg->max_in_flight < l->max_in_flight))
      l->max_in_flight = refs[i].cfg->max_in_flight;
  }
  l->nrefs = nrefs;
  l->hnext = ls->buckets[b];
  ls->buckets[b] = l;
  ls->count++;
  return l;
}

static void
ring_add(struct pacer_lanes *ls, struct pacer_lane *l)
{
  if (l->in_ring)
    return;
  l->in_ring = 1;
  if (ls->ring == NULL) {
    l->rnext = l->rprev = l;
    ls->ring = l;
    return;
  }
  /* Insert just before the next lane to serve: served last this round. */
  l->rnext = ls->ring;
  l->rprev = ls->ring->rprev;
  ls->ring->rprev->rnext = l;
  ls->ring->rprev = l;
}

static void
ring_remove(struct pacer_lanes *ls, struct pacer_lane *l)
{
  if (!l->in_ring)
    return;
  l->in_ring = 0;
  if (l->rnext == l) {
    ls->ring = NULL;
  } else {
    l->rprev->rnext = l->rnext;
    l->rnext->rprev = l->rprev;
    if (ls->ring == l)
      ls->ring = l->rnext;
  }
  l->rnext = l->rprev = NULL;
}

void
pacer_lane_push(struct pacer_lanes *ls, struct pacer_lane *l,
                struct pacer_lane_node *node, int front)
{
  int p = node->priority < 0 ? 0 : node->priority > 2 ? 2 : node->priority;

  if (front) {
    node->next = l->head[p];
    l->head[p] = node;
    if (l->tail[p] == NULL)
      l->tail[p] = node;
  } else {
    node->next = NULL;
    if (l->tail[p] != NULL)
      l->tail[p]->next = node;
    else
      l->head[p] = node;
    l->tail[p] = node;
  }
  l->queued++;
  ring_add(ls, l);
}

struct pacer_lane_node *
pacer_lane_pop(struct pacer_lanes *ls, struct pacer_lane *l)
{
  struct pacer_lane_node *n;
  int p;

  for (p = 0; p < 3; p++) {
    n = l->head[p];
    if (n == NULL)
      continue;
    l->head[p] = n->next;
    if (l->head[p] == NULL)
      l->tail[p] = NULL;
    n->next = NULL;
    l->queued--;
    if (l->queued == 0)
      ring_remove(ls, l);
    return n;
  }
  return NULL;
}

void
pacer_lane_add_slots(struct pacer_lane *l, uint64_t base_us,
                     const uint64_t *offs_us, size_t n)
{
  size_t i;

  /* Compact, then append what fits. */
  if (l->slot_head > 0) {
    memmove(l->slots_us, l->slots_us + l->slot_head,
            l->nslots * sizeof(l->slots_us[0]));
    l->slot_head = 0;
  }
  for (i = 0; i < n && l->nslots < PACER_LIMITER_MAX_SLOTS; i++)
    l->slots_us[l->nslots++] = base_us + offs_us[i];
}

size_t
pacer_lane_slots_wanted(const struct pacer_lane *l, uint64_t now_us,
                        uint64_t ahead_us)
{
  size_t room = PACER_LIMITER_MAX_SLOTS - l->nslots;

  if (l->queued <= l->nslots || room == 0)
    return 0;
  if (l->nslots > 0 &&
      (ahead_us == 0 ||
       l->slots_us[l->slot_head + l->nslots - 1] > now_us + ahead_us))
    return 0;
  return l->queued - l->nslots < room ? l->queued - l->nslots : room;
}

int
pacer_lane_take_slot(struct pacer_lane *l, uint64_t now_us, uint64_t stale_us,
                     uint64_t *next_us)
{
  uint64_t slot;

  return pacer_lane_take_slot_ahead(l, now_us, 0, stale_us, &slot, next_us);
}

int
pacer_lane_take_slot_ahead(struct pacer_lane *l, uint64_t now_us,
                           uint64_t lead_us, uint64_t stale_us,
                           uint64_t *slot_us, uint64_t *next_us)
{
  while (l->nslots > 0 && l->slots_us[l->slot_head] + stale_us < now_us) {
    l->slot_head++;
    l->nslots--;
  }
  if (l->nslots == 0) {
    l->slot_head = 0;
    *next_us = UINT64_MAX;
    return 0;
  }
  if (l->slots_us[l->slot_head] <= now_us + lead_us) {
    *slot_us = l->slots_us[l->slot_head];
    l->slot_head++;
    l->nslots--;
    *next_us = l->nslots > 0 ? l->slots_us[l->slot_head] : UINT64_MAX;
    return 1;
  }
  *next_us = l->slots_us[l->slot_head];
  return 0;
}

uint64_t
pacer_lane_clock_map(struct pacer_lane_clock *c, uint64_t recv_mono_us,
                     uint64_t redis_now_unix_us)
{
  int64_t sample = (int64_t)recv_mono_us - (int64_t)redis_now_unix_us;
  int64_t est;

  if (!c->set) {
    c->set = 1;
    c->off_us = sample;
    c->at_mono_us = recv_mono_us;
  }
  est = c->off_us;
  if (recv_mono_us > c->at_mono_us)
    est += (int64_t)((recv_mono_us - c->at_mono_us) *
                     PACER_LANE_CLOCK_DRIFT_PPM / 1000000u);
  if (sample > est + (int64_t)PACER_LANE_CLOCK_STEP_US) {
    if (c->above == 0 || sample < c->above_min_us)
      c->above_min_us = sample;
    if (++c->above >= PACER_LANE_CLOCK_STEP_N) {
      c->above = 0;
      c->off_us = c->above_min_us;
      c->at_mono_us = recv_mono_us;
      est = c->off_us;
    }
  } else {
    c->above = 0;
    if (sample <= est) {
      c->off_us = sample;
      c->at_mono_us = recv_mono_us;
      est = sample;
    }
  }
  return (uint64_t)((int64_t)redis_now_unix_us + est);
}

/* FNV-1a, 64 bit; never 0 (0 means "no pace key"). */
static uint64_t
pace_hash(const char *s)
{
  uint64_t h = UINT64_C(14695981039346656037);

  for (; *s != '\0'; s++) {
    h ^= (unsigned char)*s;
    h *= UINT64_C(1099511628211);
  }
  return h != 0 ? h : 1u;
}

/* The widest burst-0 limit of l other than `not` (NULL: none excluded),
 * of the most shared key kind when `kind` (global before host before ...
 * header), else of any kind; NULL when there is none. *iv_out gets its
 * interval x cost, us. */
static const struct pacer_limit_ref *
pace_ref(const struct pacer_lane *l, const struct pacer_limit_ref * not,
         int kind, uint64_t *iv_out)
{
  const struct pacer_limit_ref *best = NULL;
  uint64_t widest = 0;
  size_t i;

  for (i = 0; i < l->nrefs; i++) {
    const struct pacer_limit_cfg *c = l->refs[i].cfg;
    uint64_t iv = c->gcra.interval_us * (c->cost ? c->cost : 1u);

    if (c->gcra.burst != 0 || &l->refs[i] == not )
      continue;
    if (best == NULL || (kind && c->key < best->cfg->key) ||
        ((!kind || c->key == best->cfg->key) && iv > widest)) {
      widest = iv;
      best = &l->refs[i];
    }
  }
  *iv_out = widest;
  return best;
}

void
pacer_lane_pace(const struct pacer_lane *l, uint64_t *key_out, uint64_t *gap_us)
{
  uint64_t widest;
  /* the most shared bucket (global before host before ... header): every
   * request through one clock, so a late one shifts all that follow
   * instead of squeezing a neighbour; then the widest */
  const struct pacer_limit_ref *best = pace_ref(l, NULL, 1, &widest);

  if (best == NULL) {
    *key_out = pace_hash(l->id);
    *gap_us = 0;
    return;
  }
  *key_out = pace_hash(best->key);
  *gap_us = widest + widest * PACER_LANE_GAP_MARGIN_PERMILLE / 1000u;
}

void
pacer_lane_pace_second(const struct pacer_lane *l, uint64_t *key_out,
                       uint64_t *gap_us)
{
  uint64_t iv;
  const struct pacer_limit_ref *first = pace_ref(l, NULL, 1, &iv);
  const struct pacer_limit_ref *second =
      first != NULL ? pace_ref(l, first, 0, &iv) : NULL;

  if (second == NULL) {
    *key_out = 0;
    *gap_us = 0;
    return;
  }
  *key_out = pace_hash(second->key);
  *gap_us = iv + iv * PACER_LANE_GAP_MARGIN_PERMILLE / 1000u;
}

void
pacer_lane_clear_slots(struct pacer_lane *l)
{
  l->slot_head = 0;
  l->nslots = 0;
}

static void
unlink_lane(struct pacer_lanes *ls, struct pacer_lane *l)
{
  struct pacer_lane **pp = &ls->buckets[hash_id(l->id)];

  while (*pp != NULL && *pp != l)
    pp = &(*pp)->hnext;
  if (*pp == l)
    *pp = l->hnext;
  ring_remove(ls, l);
  ls->count--;
}

int
pacer_lanes_release(struct pacer_lanes *ls, struct pacer_lane *l)
{
  if (l->queued > 0 || l->in_flight > 0 || l->taking || l->acquiring ||
      l->permit[0] != '\0' || l->deferred > 0)
    return 0;
  /* Unused slots are simply not used; a pause lives on in Redis. */
  unlink_lane(ls, l);
  free(l);
  return 1;
}

void
pacer_lanes_free_all(struct pacer_lanes *ls)
{
  size_t b;

  for (b = 0; b < 256; b++) {
    while (ls->buckets[b] != NULL) {
      struct pacer_lane *l = ls->buckets[b];

      ls->buckets[b] = l->hnext;
      free(l);
    }
  }
  ls->ring = NULL;
  ls->count = 0;
}
