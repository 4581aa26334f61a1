/* TZif (RFC 8536) for schedules in local time (core/tz.h). */
#include "core/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
pacer_tz_name_check(const char *name, struct pacer_error *err)
{
  size_t i, n = strlen(name);

  if (n == 0 || n > PACER_TZ_NAME_MAX)
    return pacer_error_set(err, PACER_EINVAL, "--tz: 1 to %d bytes",
                           PACER_TZ_NAME_MAX);
  if (name[0] == '/' || strstr(name, "..") != NULL || name[n - 1] == '/')
    return pacer_error_set(err, PACER_EINVAL,
                           "--tz: an IANA zone name such as Europe/Paris");
  for (i = 0; i < n; i++) {
    char c = name[i];

    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-' ||
          c == '/'))
      return pacer_error_set(err, PACER_EINVAL,
                             "--tz: an IANA zone name such as Europe/Paris");
  }
  return 0;
}

static uint32_t
be32(const unsigned char *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static int64_t
be64(const unsigned char *p)
{
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The counts of the header at b (44 bytes). */
struct counts {
  uint32_t isut, isstd, leap, ntime, type, chr;
};

static void
counts_of(const unsigned char *b, struct counts *c)
{
  c->isut = be32(b + 20);
  c->isstd = be32(b + 24);
  c->leap = be32(b + 28);
  c->ntime = be32(b + 32);
  c->type = be32(b + 36);
  c->chr = be32(b + 40);
}

int
pacer_tz_parse(const char *name, const unsigned char *b, size_t len,
               struct pacer_tz **out, struct pacer_error *err)
{
  struct counts c;
  const unsigned char *p, *idx, *types;
  struct pacer_tz *tz;
  size_t v1, need, i;

  *out = NULL;
  /* RFC 8536 §3.1: "TZif", a version, then six counts */
  if (len < 44 || memcmp(b, "TZif", 4) != 0 || b[4] < '2')
    return pacer_error_set(err, PACER_EINVAL,
                           "--tz %s: not a TZif file of version 2 or later",
                           name);
  counts_of(b, &c);
  v1 = 44 + (size_t)c.ntime * 5 + (size_t)c.type * 6 + c.chr +
       (size_t)c.leap * 8 + c.isstd + c.isut;
  if (c.ntime > 1000000 || c.type > 256 || c.chr > 65536 || c.leap > 65536 ||
      v1 + 44 > len || memcmp(b + v1, "TZif", 4) != 0)
    return pacer_error_set(err, PACER_EINVAL, "--tz %s: a damaged TZif file",
                           name);
  p = b + v1;
  counts_of(p, &c);
  /* RFC 8536 §3.2: the 64-bit data block */
  need = 44 + (size_t)c.ntime * 9 + (size_t)c.type * 6;
  if (c.ntime > PACER_TZ_TRANS_MAX || c.type == 0 || c.type > 256 ||
      v1 + need > len)
    return pacer_error_set(err, PACER_EINVAL, "--tz %s: a damaged TZif file",
                           name);
  idx = p + 44 + (size_t)c.ntime * 8;
  types = idx + c.ntime;
  tz = calloc(1, sizeof(*tz));
  if (tz == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "--tz: out of memory");
  tz->at = calloc(c.ntime + 1, sizeof(*tz->at));
  tz->off = calloc(c.ntime + 1, sizeof(*tz->off));
  if (tz->at == NULL || tz->off == NULL) {
    pacer_tz_free(tz);
    return pacer_error_set(err, PACER_ENOMEM, "--tz: out of memory");
  }
  snprintf(tz->name, sizeof(tz->name), "%s", name);
  tz->off0 = (int32_t)be32(types); /* local time type 0 */
  for (i = 0; i < c.ntime; i++) {
    unsigned t = idx[i];

    if (t >= c.type) {
      pacer_tz_free(tz);
      return pacer_error_set(err, PACER_EINVAL, "--tz %s: a damaged TZif file",
                             name);
    }
    tz->at[i] = be64(p + 44 + i * 8);
    tz->off[i] = (int32_t)be32(types + t * 6);
  }
  tz->n = c.ntime;
  *out = tz;
  return 0;
}

int32_t
pacer_tz_offset(const struct pacer_tz *tz, int64_t unix_s)
{
  size_t lo = 0, hi;

  if (tz == NULL || tz->n == 0 || unix_s < tz->at[0])
    return tz != NULL ? tz->off0 : 0;
  hi = tz->n;
  while (hi - lo > 1) { /* the last transition at or before unix_s */
    size_t mid = lo + (hi - lo) / 2;

    if (tz->at[mid] <= unix_s)
      lo = mid;
    else
      hi = mid;
  }
  return tz->off[lo];
}

void
pacer_tz_free(struct pacer_tz *tz)
{
  if (tz == NULL)
    return;
  free(tz->at);
  free(tz->off);
  free(tz);
}
