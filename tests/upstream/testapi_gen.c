/* Streamed response bodies. None of them holds the body in memory, so a
 * 2 GB /big or a 64 GB gzip bomb costs the server a few kilobytes.
 *
 * Gzip bomb layout (RFC 1952 around raw deflate, RFC 1951):
 *
 *   +--------+-------+-------+-----+-------+---------------+-------+-------+
 *   | header | seg   | seg   | ... | seg   | tail (BFINAL) | CRC32 | ISIZE |
 *   | 10 B   | 1 MiB of zeros each        | r zeros       | LE    | LE    |
 *   +--------+-------+-------+-----+-------+---------------+-------+-------+
 *
 * seg is 1 MiB of zeros deflated by a fresh stream and ended with
 * Z_FULL_FLUSH: byte-aligned, non-final, and with no back-reference before
 * its own start, so copies of it concatenate into a valid stream. Computed
 * once at start; the CRC of N zeros comes from crc32_combine. */
#include "testapi_int.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SEG_IN_BYTES  1048576u /* zeros per gzip segment */
#define BLOCK_BYTES   65536u   /* MHD read block */
#define PATTERN_BYTES 65536u   /* copy unit of the /big pattern */

static unsigned char zeros[SEG_IN_BYTES]; /* all zero */
static char pattern[PATTERN_BYTES + 26];  /* "abc...zabc..." */
static unsigned char *seg;                /* deflated segment */
static size_t seg_len;                    /* its length, bytes */
static uint32_t seg_crc;                  /* CRC32 of the zeros */

int
pacer_testapi_gen_init(void)
{
  z_stream z;
  size_t i;
  size_t bound;

  for (i = 0; i < sizeof(pattern); i++)
    pattern[i] = (char)('a' + i % 26);
  memset(&z, 0, sizeof(z));
  /* -15: raw deflate; we write the gzip wrapper ourselves. */
  if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  bound = deflateBound(&z, SEG_IN_BYTES) + 64;
  seg = malloc(bound);
  if (seg == NULL)
    goto fail;
  z.next_in = zeros;
  z.avail_in = SEG_IN_BYTES;
  z.next_out = seg;
  z.avail_out = (uInt)bound;
  if (deflate(&z, Z_FULL_FLUSH) != Z_OK || z.avail_in != 0 || z.avail_out == 0)
    goto fail;
  seg_len = bound - z.avail_out;
  seg_crc = (uint32_t)crc32(0, zeros, SEG_IN_BYTES);
  /* The stream is deliberately left unfinished, for which deflateEnd
   * reports Z_DATA_ERROR; only Z_STREAM_ERROR means a real problem. */
  if (deflateEnd(&z) == Z_STREAM_ERROR) {
    free(seg);
    seg = NULL;
    return -1;
  }
  return 0;
fail:
  (void)deflateEnd(&z); /* already failing; its result adds nothing */
  free(seg);
  seg = NULL;
  return -1;
}

/* ------------------------------------------------------------------ */
/* /big and /big-chunked                                               */
/* ------------------------------------------------------------------ */

struct big {
  uint64_t bytes; /* body length */
};

static ssize_t
big_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct big *b = cls;
  size_t out = 0;
  size_t n;

  if (pos >= b->bytes)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (max > b->bytes - pos)
    max = (size_t)(b->bytes - pos);
  while (out < max) {
    n = max - out < PATTERN_BYTES ? max - out : PATTERN_BYTES;
    memcpy(buf + out, pattern + (pos + out) % 26, n);
    out += n;
  }
  return (ssize_t)out;
}

struct MHD_Response *
pacer_testapi_gen_big(uint64_t bytes, int chunked)
{
  struct big *b = malloc(sizeof(*b));
  struct MHD_Response *r;

  if (b == NULL)
    return NULL;
  b->bytes = bytes;
  r = MHD_create_response_from_callback(chunked ? MHD_SIZE_UNKNOWN : bytes,
                                        BLOCK_BYTES, big_read, b, free);
  if (r == NULL) {
    free(b);
    return NULL;
  }
  return r;
}

/* ------------------------------------------------------------------ */
/* /gzip-bomb                                                          */
/* ------------------------------------------------------------------ */

struct gz {
  uint64_t segs;          /* full 1 MiB segments */
  uint64_t total;         /* compressed body length */
  unsigned char head[10]; /* gzip member header */
  unsigned char *tail;    /* final deflate block + CRC32 + ISIZE, owned */
  size_t tail_len;
};

static void
gz_free(void *cls)
{
  struct gz *g = cls;

  free(g->tail);
  free(g);
}

static ssize_t
gz_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct gz *g = cls;
  uint64_t body_end = 10 + g->segs * seg_len;
  const unsigned char *src;
  size_t avail;
  size_t out = 0;
  size_t n;

  if (pos >= g->total)
    return MHD_CONTENT_READER_END_OF_STREAM;
  while (out < max && pos < g->total) {
    if (pos < 10) {
      src = g->head + pos;
      avail = (size_t)(10 - pos);
    } else if (pos < body_end) {
      size_t off = (size_t)((pos - 10) % seg_len);

      src = seg + off;
      avail = seg_len - off;
    } else {
      src = g->tail + (pos - body_end);
      avail = g->tail_len - (size_t)(pos - body_end);
    }
    n = avail < max - out ? avail : max - out;
    memcpy(buf + out, src, n);
    out += n;
    pos += n;
  }
  return (ssize_t)out;
}

static uint32_t
crc_zeros(uint64_t segs, size_t rest)
{
  uLong acc = seg_crc;
  z_off_t acc_len = SEG_IN_BYTES;
  uLong crc = 0;

  /* CRC(A || B) = crc32_combine(CRC(A), CRC(B), len(B)); square-and-add
   * over the segment count. */
  while (segs > 0) {
    if (segs & 1)
      crc = crc32_combine(crc, acc, acc_len);
    acc = crc32_combine(acc, acc, acc_len);
    acc_len *= 2;
    segs >>= 1;
  }
  return (uint32_t)crc32_combine(crc, crc32(0, zeros, (uInt)rest),
                                 (z_off_t)rest);
}

static void
put_le32(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static int
gz_tail(struct gz *g, uint64_t bytes)
{
  z_stream z;
  size_t rest = (size_t)(bytes % SEG_IN_BYTES);
  size_t bound;
  int rc;

  memset(&z, 0, sizeof(z));
  if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  bound = deflateBound(&z, rest) + 64 + 8;
  g->tail = malloc(bound);
  if (g->tail == NULL) {
    (void)deflateEnd(&z); /* nothing to report beyond ENOMEM */
    return -1;
  }
  z.next_in = zeros;
  z.avail_in = (uInt)rest;
  z.next_out = g->tail;
  z.avail_out = (uInt)(bound - 8);
  rc = deflate(&z, Z_FINISH);
  g->tail_len = bound - 8 - z.avail_out;
  if (deflateEnd(&z) != Z_OK || rc != Z_STREAM_END)
    return -1;
  /* RFC 1952 §2.3.1: CRC32, then ISIZE = length mod 2^32. */
  put_le32(g->tail + g->tail_len, crc_zeros(g->segs, rest));
  put_le32(g->tail + g->tail_len + 4, (uint32_t)bytes);
  g->tail_len += 8;
  return 0;
}

struct MHD_Response *
pacer_testapi_gen_gzip_zeros(uint64_t bytes)
{
  static const unsigned char head[10] = {
      0x1f, 0x8b, 8 /* deflate */, 0 /* flags */,     0,
      0,    0,    0 /* mtime */,   2 /* xfl: best */, 3 /* os: unix */};
  struct gz *g;
  struct MHD_Response *r;

  if (seg == NULL)
    return NULL;
  g = calloc(1, sizeof(*g));
  if (g == NULL)
    return NULL;
  memcpy(g->head, head, sizeof(head));
  g->segs = bytes / SEG_IN_BYTES;
  if (gz_tail(g, bytes) != 0) {
    gz_free(g);
    return NULL;
  }
  g->total = 10 + g->segs * seg_len + g->tail_len;
  r = MHD_create_response_from_callback(g->total, BLOCK_BYTES, gz_read, g,
                                        gz_free);
  if (r == NULL) {
    gz_free(g);
    return NULL;
  }
  return r;
}

/* ------------------------------------------------------------------ */
/* /drip                                                               */
/* ------------------------------------------------------------------ */

struct drip {
  struct pacer_testapi *api; /* borrowed, for the interruptible sleep */
  uint64_t bytes;            /* body length */
  uint32_t interval_ms;      /* pause before each byte after the first */
};

static ssize_t
drip_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct drip *d = cls;

  if (pos >= d->bytes)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (max == 0)
    return 0;
  /* Thread per connection: sleeping here holds up only this client. */
  if (pos > 0 && pacer_testapi_sleep_ms(d->api, d->interval_ms) != 0)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  buf[0] = 'd';
  return 1;
}

struct MHD_Response *
pacer_testapi_gen_drip(struct pacer_testapi *api, uint64_t bytes,
                       uint32_t interval_ms)
{
  struct drip *d = malloc(sizeof(*d));
  struct MHD_Response *r;

  if (d == NULL)
    return NULL;
  d->api = api;
  d->bytes = bytes;
  d->interval_ms = interval_ms;
  r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, drip_read, d,
                                        free);
  if (r == NULL) {
    free(d);
    return NULL;
  }
  return r;
}
