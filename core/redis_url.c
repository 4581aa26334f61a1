/* The Redis address (core/redis_url.h):
 *
 *   redis://[[user]:password@]host[:port][/db]     host may be [IPv6]
 *   rediss://... [?ca_file=&cert_file=&key_file=&server_name=&insecure=1]
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/name[/db]
 *   redis-cluster://[[user]:password@]host[:port][,host[:port]...][/]
 *   unix://[[user]:password@]/path/to.sock[?db=N]  (redis-py form)
 *   /path/to.sock
 *
 * No message quotes the password: only a scheme followed by "://" is ever
 * shown from a URL that does not parse.
 */
#include "core/redis_url.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "core/config_int.h"

#define UNIX_PATH_MAX      107 /* sun_path minus NUL, bytes */
#define REDIS_PORT_DEFAULT 6379

/* Percent-decodes s[0..n) into out (size bytes). RFC 3986 §2.1. Returns 0,
 * or -1 on a bad escape, a decoded NUL, or overflow. */
static int
pct_decode(const char *s, size_t n, char *out, size_t size)
{
  size_t i, o = 0;

  for (i = 0; i < n; i++) {
    int c = (unsigned char)s[i];

    if (c == '%') {
      int hi, lo;

      if (i + 2 >= n)
        return -1;
      hi = pacer_hex_digit(s[i + 1]);
      lo = pacer_hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      c = hi * 16 + lo;
      i += 2;
      if (c == 0)
        return -1;
    }
    if (o + 1 >= size)
      return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return 0;
}

static int
addr_fail(struct pacer_redis_addr *addr, struct pacer_error *err,
          const char *reason)
{
  explicit_bzero(addr, sizeof(*addr));
  return pacer_error_set(err, PACER_ECONFIG, "redis_url: %s", reason);
}

/* One "key=value" query parameter (k[0..kn), v[0..vn), not decoded). */
static int
parse_param(const char *k, size_t kn, const char *v, size_t vn,
            struct pacer_redis_addr *addr, struct pacer_error *err)
{
  static const struct {
    const char *name;
    size_t off;
  } files[] = {
      {"ca_file", offsetof(struct pacer_redis_tls, ca_file)},
      {"cert_file", offsetof(struct pacer_redis_tls, cert_file)},
      {"key_file", offsetof(struct pacer_redis_tls, key_file)},
      {"server_name", offsetof(struct pacer_redis_tls, server_name)},
  };
  char buf[PACER_CONFIG_SHOW_MAX + 8], name[PACER_CONFIG_SHOW_MAX + 1];
  size_t i;
  long db;

  if (kn == 2 && memcmp(k, "db", 2) == 0) {
    if (pacer_config_parse_dec(v, vn, 0, 2147483647L, &db) != 0)
      return addr_fail(addr, err, "db must be a number from 0 to 2147483647");
    addr->db = (int)db;
    return 0;
  }
  for (i = 0; i < PACER_ARRAY_SIZE(files); i++) {
    char *dst = (char *)&addr->tls + files[i].off;

    if (strlen(files[i].name) != kn || memcmp(k, files[i].name, kn) != 0)
      continue;
    if (!addr->tls.on) {
      explicit_bzero(addr, sizeof(*addr));
      return pacer_error_set(err, PACER_ECONFIG,
                             "redis_url: %s needs a rediss:// (TLS) URL",
                             files[i].name);
    }
    if (vn == 0 || pct_decode(v, vn, dst, 256) != 0) {
      explicit_bzero(addr, sizeof(*addr));
      return pacer_error_set(err, PACER_ECONFIG,
                             "redis_url: %s must be 1 to 255 bytes without "
                             "a bad %%-escape",
                             files[i].name);
    }
    return 0;
  }
  if (kn == 8 && memcmp(k, "insecure", 8) == 0) {
    if (!addr->tls.on)
      return addr_fail(addr, err, "insecure needs a rediss:// (TLS) URL");
    if (vn == 1 && (v[0] == '0' || v[0] == '1')) {
      addr->tls.insecure = v[0] == '1';
      return 0;
    }
    return addr_fail(addr, err, "insecure must be 0 or 1");
  }
  if (kn > PACER_CONFIG_SHOW_MAX)
    kn = PACER_CONFIG_SHOW_MAX;
  memcpy(name, k, kn);
  name[kn] = '\0';
  explicit_bzero(addr, sizeof(*addr));
  return pacer_error_set(err, PACER_ECONFIG,
                         "redis_url: unknown query parameter \"%s\"; known: "
                         "db, and with rediss:// ca_file, cert_file, "
                         "key_file, server_name, insecure",
                         pacer_config_show(name, buf, sizeof(buf)));
}

/* The query after "?": "key=value" pairs separated by "&". */
static int
parse_query(const char *q, struct pacer_redis_addr *addr,
            struct pacer_error *err)
{
  while (*q != '\0') {
    size_t n = strcspn(q, "&");
    const char *eq = memchr(q, '=', n);
    int rc;

    if (eq == NULL)
      return addr_fail(addr, err,
                       "query parameters are key=value, as in ?db=0");
    rc = parse_param(q, (size_t)(eq - q), eq + 1, (size_t)(q + n - eq - 1),
                     addr, err);
    if (rc != 0)
      return rc;
    q += n;
    if (*q == '&')
      q++;
  }
  if (addr->tls.key_file[0] != '\0' && addr->tls.cert_file[0] == '\0')
    return addr_fail(addr, err, "key_file needs cert_file");
  if (addr->tls.cert_file[0] != '\0' && addr->tls.key_file[0] == '\0')
    return addr_fail(addr, err, "cert_file needs key_file");
  return 0;
}

static int
parse_unix_path(const char *path, size_t n, struct pacer_redis_addr *addr,
                struct pacer_error *err)
{
  size_t i;

  if (n == 0 || path[0] != '/')
    return addr_fail(addr, err,
                     "unix socket path must be absolute, as in "
                     "unix:///run/redis/redis.sock");
  if (n > UNIX_PATH_MAX)
    return addr_fail(addr, err, "unix socket path is longer than 107 bytes");
  for (i = 0; i < n; i++) {
    if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
      return addr_fail(addr, err,
                       "unix socket path contains a control character");
  }
  memcpy(addr->path, path, n);
  addr->path[n] = '\0';
  return 0;
}

/* "[user]:password" in ui[0..n) (before the "@"), percent-decoded into
 * addr; form is the URL shape an error suggests. */
static int
parse_userinfo(const char *ui, size_t n, struct pacer_redis_addr *addr,
               struct pacer_error *err, const char *form)
{
  const char *colon = memchr(ui, ':', n);

  if (colon == NULL) {
    explicit_bzero(addr, sizeof(*addr));
    return pacer_error_set(err, PACER_ECONFIG,
                           "redis_url: a user name needs a password: use %s",
                           form);
  }
  if (pct_decode(ui, (size_t)(colon - ui), addr->user, sizeof(addr->user)) != 0)
    return addr_fail(addr, err, "user name is too long or has a bad %-escape");
  if (pct_decode(colon + 1, (size_t)(ui + n - colon - 1), addr->password,
                 sizeof(addr->password)) != 0)
    return addr_fail(addr, err, "password is too long or has a bad %-escape");
  return 0;
}

/* "unix://[[user]:password@]/path.sock[?db=N]" after the scheme (the
 * redis-py form). The path starts at the first "/"; what comes before it
 * is the user information and ends with "@". */
static int
parse_unix(const char *rest, struct pacer_redis_addr *addr,
           struct pacer_error *err)
{
  const char *path = rest;
  size_t alen = strcspn(rest, "/"), n;
  int rc;

  if (alen > 0 && rest[alen - 1] == '@') {
    rc = parse_userinfo(rest, alen - 1, addr, err,
                        "unix://user:password@/path.sock or "
                        "unix://:password@/path.sock");
    if (rc != 0)
      return rc;
    path = rest + alen;
  }
  n = strcspn(path, "?");
  rc = parse_unix_path(path, n, addr, err);
  if (rc == 0 && path[n] == '?')
    rc = parse_query(path + n + 1, addr, err);
  return rc;
}

/* "host[:port]" or "[v6][:port]" in host[0..end) into out (256 bytes)
 * and *port (left as it is when none is given). */
static int
parse_hostport(const char *host, const char *end, char *out, int *port,
               struct pacer_redis_addr *addr, struct pacer_error *err)
{
  const char *hend, *pstr = NULL, *p;
  long v;

  if (host < end && *host == '[') {
    const char *close = memchr(host, ']', (size_t)(end - host));

    if (close == NULL)
      return addr_fail(addr, err, "IPv6 host has no closing \"]\"");
    for (p = host + 1; p < close; p++) {
      if (!(pacer_config_is_host_char(*p) || *p == ':' || *p == '%'))
        return addr_fail(addr, err, "host is not a valid IPv6 address");
    }
    hend = close;
    host++;
    if (close + 1 < end) {
      if (close[1] != ':')
        return addr_fail(addr, err, "unexpected text after the IPv6 host");
      pstr = close + 2;
    }
  } else {
    const char *colon = memchr(host, ':', (size_t)(end - host));

    hend = colon != NULL ? colon : end;
    if (colon != NULL)
      pstr = colon + 1;
    for (p = host; p < hend; p++) {
      if (!pacer_config_is_host_char(*p))
        return addr_fail(addr, err,
                         "host must be a name or an address, as in "
                         "redis://127.0.0.1:6379/0");
    }
  }
  if (hend == host)
    return addr_fail(addr, err, "host is empty");
  if ((size_t)(hend - host) >= sizeof(addr->host))
    return addr_fail(addr, err, "host is longer than 255 bytes");
  memcpy(out, host, (size_t)(hend - host));
  out[hend - host] = '\0';
  if (pstr != NULL) {
    if (pacer_config_parse_dec(pstr, (size_t)(end - pstr), 1, 65535, &v) != 0)
      return addr_fail(addr, err, "port must be a number from 1 to 65535");
    *port = (int)v;
  }
  return 0;
}

/* "[user]:password@" at rest (ending before end at the last "@"): parsed
 * into addr; *host set past it. */
static int
parse_auth(const char *rest, const char *end, const char **host,
           struct pacer_redis_addr *addr, struct pacer_error *err)
{
  const char *at;

  *host = rest;
  for (at = rest; at < end; at++) {
    if (*at == '@')
      *host = at + 1; /* userinfo ends at the last "@" */
  }
  if (*host == rest)
    return 0;
  return parse_userinfo(rest, (size_t)(*host - 1 - rest), addr, err,
                        "redis://user:password@host or "
                        "redis://:password@host");
}

/* "/db" at *p (advanced past it), as in redis://host/db. */
static int
parse_db_path(const char **p, struct pacer_redis_addr *addr,
              struct pacer_error *err)
{
  const char *db = *p + 1;
  size_t n = strcspn(db, "?");
  long v;

  if (n > 0) {
    if (pacer_config_parse_dec(db, n, 0, 2147483647L, &v) != 0)
      return addr_fail(addr, err,
                       "database must be a number from 0 to 2147483647, "
                       "as in redis://host:6379/0");
    addr->db = (int)v;
  }
  *p = db + n;
  return 0;
}

static int
parse_tcp(const char *rest, struct pacer_redis_addr *addr,
          struct pacer_error *err)
{
  const char *end = rest + strcspn(rest, "/?"), *host;
  int rc = parse_auth(rest, end, &host, addr, err);

  if (rc == 0)
    rc = parse_hostport(host, end, addr->host, &addr->port, addr, err);
  if (rc == 0 && *end == '/')
    rc = parse_db_path(&end, addr, err);
  if (rc == 0 && *end == '?')
    rc = parse_query(end + 1, addr, err);
  return rc;
}

/* "h1[:p1][,h2[:p2]...]" in rest[0..end) into addr->seeds, default
 * port port. */
static int
parse_seeds(const char *rest, const char *end, int port,
            struct pacer_redis_addr *addr, struct pacer_error *err)
{
  const char *p;
  int rc = 0;

  for (p = rest; rc == 0 && p < end;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *hend = comma != NULL ? comma : end;
    struct pacer_redis_seed *s;

    if (addr->nseeds == PACER_REDIS_SEEDS_MAX)
      return addr_fail(addr, err, "more than 8 nodes");
    s = &addr->seeds[addr->nseeds++];
    s->port = port;
    rc = parse_hostport(p, hend, s->host, &s->port, addr, err);
    p = comma != NULL ? comma + 1 : end;
    if (rc == 0 && comma != NULL && p == end)
      return addr_fail(addr, err, "empty node after \",\"");
  }
  if (rc == 0 && addr->nseeds == 0)
    return addr_fail(addr, err, "host is empty");
  return rc;
}

/* "[[user]:password@]h1[:p1][,h2[:p2]...][/][?query]" after
 * "redis-cluster://": nodes to ask for the slot map. Cluster has db 0
 * only. */
static int
parse_cluster(const char *rest, struct pacer_redis_addr *addr,
              struct pacer_error *err)
{
  const char *end = rest + strcspn(rest, "/?"), *host;
  int rc;

  /* Set before parsing: a failure clears the whole address (addr_fail),
   * as the contract in core/redis_url.h promises. */
  addr->cluster = 1;
  rc = parse_auth(rest, end, &host, addr, err);
  if (rc == 0)
    rc = parse_seeds(host, end, REDIS_PORT_DEFAULT, addr, err);
  if (rc == 0 && *end == '/')
    end++;
  if (rc == 0 && *end != '\0' && *end != '?')
    return addr_fail(addr, err,
                     "a cluster URL has no path: Redis Cluster has db 0 only");
  if (rc == 0 && *end == '?')
    rc = parse_query(end + 1, addr, err);
  if (rc == 0 && addr->db != 0)
    return addr_fail(addr, err, "db must be 0: Redis Cluster has db 0 only");
  return rc;
}

/* "[[user]:password@]h1[:p1][,h2[:p2]...]/master[/db][?db=N]" after
 * "redis-sentinel://": the sentinels (default port 26379) and the name
 * they monitor the master under. The password is the data nodes'. */
static int
parse_sentinel(const char *rest, struct pacer_redis_addr *addr,
               struct pacer_error *err)
{
  const char *end = rest + strcspn(rest, "/?"), *host, *p, *name;
  size_t n;
  int rc = parse_auth(rest, end, &host, addr, err);

  if (rc == 0)
    rc = parse_seeds(host, end, PACER_REDIS_SENTINEL_PORT, addr, err);
  if (rc != 0)
    return rc;
  if (*end != '/' || end[1] == '/' || end[1] == '?' || end[1] == '\0')
    return addr_fail(addr, err,
                     "the master's name is missing, as in "
                     "redis-sentinel://127.0.0.1:26379/mymaster");
  name = end + 1;
  n = strcspn(name, "/?");
  if (n >= sizeof(addr->master))
    return addr_fail(addr, err, "the master's name is longer than 127 bytes");
  for (p = name; p < name + n; p++) {
    if (!pacer_config_is_host_char(*p) && *p != '_')
      return addr_fail(addr, err,
                       "the master's name may hold letters, digits, \".\", "
                       "\"-\" and \"_\"");
  }
  memcpy(addr->master, name, n);
  addr->master[n] = '\0';
  end = name + n;
  if (*end == '/')
    rc = parse_db_path(&end, addr, err);
  if (rc == 0 && *end == '?')
    rc = parse_query(end + 1, addr, err);
  return rc;
}

int
pacer_redis_addr_parse(const char *url, struct pacer_redis_addr *addr,
                       struct pacer_error *err)
{
  char buf[PACER_CONFIG_SHOW_MAX + 8];
  size_t slen;

  memset(addr, 0, sizeof(*addr));
  addr->port = REDIS_PORT_DEFAULT;
  addr->slot = -1;
  if (url == NULL || url[0] == '\0')
    return addr_fail(addr, err, "must not be empty");
  if (strncasecmp(url, "rediss://", 9) == 0) {
    addr->tls.on = 1;
    return parse_tcp(url + 9, addr, err);
  }
  if (strncasecmp(url, "redis://", 8) == 0)
    return parse_tcp(url + 8, addr, err);
  if (strncasecmp(url, "redis-sentinel://", 17) == 0)
    return parse_sentinel(url + 17, addr, err);
  if (strncasecmp(url, "redis-cluster://", 16) == 0)
    return parse_cluster(url + 16, addr, err);
  if (strncasecmp(url, "unix://", 7) == 0)
    return parse_unix(url + 7, addr, err);
  if (url[0] == '/')
    return parse_unix_path(url, strlen(url), addr, err);
  /* Quote the scheme only when it is clearly one ("xyz://"): anything else
   * might be a password typed without its scheme. */
  slen = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789+-.");
  if (slen > 0 && strncmp(url + slen, "://", 3) == 0) {
    char scheme[PACER_CONFIG_SHOW_MAX + 1];

    if (slen > PACER_CONFIG_SHOW_MAX)
      slen = PACER_CONFIG_SHOW_MAX;
    memcpy(scheme, url, slen);
    scheme[slen] = '\0';
    explicit_bzero(addr, sizeof(*addr));
    return pacer_error_set(err, PACER_ECONFIG,
                           "redis_url: scheme \"%s\" is not supported, use "
                           "redis://, rediss://, redis-sentinel://, "
                           "redis-cluster:// or unix://",
                           pacer_config_show(scheme, buf, sizeof(buf)));
  }
  return addr_fail(addr, err,
                   "must start with redis://, rediss://, unix:// or /, as in "
                   "redis://127.0.0.1:6379/0");
}

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial 0, no reflection, as
 * the Redis Cluster specification's appendix gives it. */
static unsigned
crc16(const char *buf, size_t n)
{
  unsigned crc = 0;
  size_t i;
  int b;

  for (i = 0; i < n; i++) {
    crc ^= (unsigned)(unsigned char)buf[i] << 8;
    for (b = 0; b < 8; b++)
      crc = (crc & 0x8000u) != 0 ? ((crc << 1) ^ 0x1021u) & 0xffffu
                                 : (crc << 1) & 0xffffu;
  }
  return crc;
}

/* The hash tag of key[0..n): *start and *len of the text between the first
 * "{" and the next "}", when not empty. Returns 1 when there is one. */
static int
hash_tag(const char *key, size_t n, size_t *start, size_t *len)
{
  const char *lb = memchr(key, '{', n), *rb;

  if (lb == NULL)
    return 0;
  rb = memchr(lb + 1, '}', (size_t)(key + n - lb - 1));
  if (rb == NULL || rb == lb + 1)
    return 0;
  *start = (size_t)(lb + 1 - key);
  *len = (size_t)(rb - lb - 1);
  return 1;
}

unsigned
pacer_redis_key_slot(const char *key, size_t n)
{
  size_t s, l;

  if (hash_tag(key, n, &s, &l))
    return crc16(key + s, l) % PACER_REDIS_SLOTS;
  return crc16(key, n) % PACER_REDIS_SLOTS;
}

int
pacer_redis_addr_route(struct pacer_redis_addr *addr, const char *prefix,
                       struct pacer_error *err)
{
  char buf[PACER_CONFIG_SHOW_MAX + 8];
  size_t s, l;

  if (!addr->cluster)
    return 0;
  if (prefix == NULL || !hash_tag(prefix, strlen(prefix), &s, &l))
    return pacer_error_set(
        err, PACER_ECONFIG,
        "prefix: \"%s\" has no hash tag; with "
        "redis-cluster:// every key of a queue must "
        "share one slot: use a prefix such as "
        "\"{pacer}:\" (docs/REDIS.md)",
        pacer_config_show(prefix != NULL ? prefix : "", buf, sizeof(buf)));
  addr->slot = (int)pacer_redis_key_slot(prefix, strlen(prefix));
  return 0;
}

/* ------------------------------------------------------------------------
 * "redis_tls" in the configuration
 * ------------------------------------------------------------------------ */

/* Appends "&name=<value percent-encoded>" to buf (size bytes, used *n). */
static int
put_param(char *buf, size_t size, size_t *n, const char *name,
          const char *value)
{
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *v = (const unsigned char *)value;
  int w = snprintf(buf + *n, size - *n, "%s%s=", *n > 0 ? "&" : "", name);

  if (w < 0 || (size_t)w >= size - *n)
    return -1;
  *n += (size_t)w;
  for (; *v != '\0'; v++) {
    int plain = (*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') ||
                (*v >= '0' && *v <= '9') || strchr("-._~/", *v) != NULL;

    if (*n + 4 > size)
      return -1;
    if (plain) {
      buf[(*n)++] = (char)*v;
    } else {
      buf[(*n)++] = '%';
      buf[(*n)++] = hex[*v >> 4];
      buf[(*n)++] = hex[*v & 15];
    }
  }
  buf[*n] = '\0';
  return 0;
}

int
pacer_config_parse_redis_tls(struct pacer_config *cfg, const cJSON *item,
                             struct pacer_error *err)
{
  static const char *const names[] = {"ca_file", "cert_file", "key_file",
                                      "server_name"};
  char q[4 * 4 * 256 + 64], buf[PACER_CONFIG_SHOW_MAX + 8];
  const cJSON *f;
  size_t n = 0, i;

  if (!cJSON_IsObject(item))
    return pacer_error_set(err, PACER_ECONFIG,
                           "redis_tls: must be an object such as "
                           "{\"ca_file\": \"/etc/ssl/redis-ca.pem\"}");
  q[0] = '\0';
  cJSON_ArrayForEach(f, item)
  {
    for (i = 0; i < PACER_ARRAY_SIZE(names); i++) {
      if (strcmp(f->string, names[i]) == 0)
        break;
    }
    if (i < PACER_ARRAY_SIZE(names)) {
      if (!cJSON_IsString(f) || f->valuestring[0] == '\0' ||
          strlen(f->valuestring) > 255 ||
          pacer_config_has_ctl(f->valuestring) ||
          (i < 3 && f->valuestring[0] != '/'))
        return pacer_error_set(err, PACER_ECONFIG,
                               "redis_tls.%s: must be %s of 1 to 255 bytes",
                               names[i], i < 3 ? "an absolute path" : "a name");
      if (put_param(q, sizeof(q), &n, names[i], f->valuestring) != 0)
        return pacer_error_set(err, PACER_ECONFIG, "redis_tls: too long");
    } else if (strcmp(f->string, "insecure") == 0) {
      if (!cJSON_IsBool(f))
        return pacer_error_set(err, PACER_ECONFIG,
                               "redis_tls.insecure: must be true or false");
      if (cJSON_IsTrue(f) && put_param(q, sizeof(q), &n, "insecure", "1") != 0)
        return pacer_error_set(err, PACER_ECONFIG, "redis_tls: too long");
    } else {
      return pacer_error_set(
          err, PACER_ECONFIG,
          "redis_tls.%s: unknown field; known: ca_file, cert_file, key_file, "
          "server_name, insecure",
          pacer_config_show(f->string, buf, sizeof(buf)));
    }
  }
  free(cfg->redis_tls);
  cfg->redis_tls = strdup(q);
  if (cfg->redis_tls == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "redis_tls: out of memory");
  return 0;
}

int
pacer_config_fold_redis_tls(struct pacer_config *cfg, int strict,
                            struct pacer_error *err)
{
  const char *url = cfg->redis_url, *qm;
  struct pacer_redis_addr a;
  size_t base, need;
  char *out;
  int rc;

  if (cfg->redis_tls == NULL || cfg->redis_tls[0] == '\0' || url == NULL)
    return 0;
  if (strncasecmp(url, "rediss://", 9) != 0)
    return strict ? pacer_error_set(err, PACER_ECONFIG,
                                    "redis_tls: needs a rediss:// redis_url")
                  : 0;
  qm = strchr(url, '?');
  base = qm != NULL ? (size_t)(qm - url) : strlen(url);
  need = strlen(url) + strlen(cfg->redis_tls) + 3;
  out = malloc(need);
  if (out == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "redis_tls: out of memory");
  /* the file's options first, the URL's own after them (they win) */
  snprintf(out, need, "%.*s?%s%s%s", (int)base, url, cfg->redis_tls,
           qm != NULL && qm[1] != '\0' ? "&" : "", qm != NULL ? qm + 1 : "");
  rc = pacer_redis_addr_parse(out, &a, err);
  explicit_bzero(&a, sizeof(a));
  if (rc != 0) {
    explicit_bzero(out, need);
    free(out);
    return rc;
  }
  explicit_bzero(cfg->redis_url, strlen(cfg->redis_url));
  free(cfg->redis_url);
  cfg->redis_url = out;
  return 0;
}
