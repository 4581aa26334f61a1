/* Pagination (core/paginate.h, docs/CHAINS.md): the "paginate" spec and
 * the step after each page. */
#include "core/paginate.h"
#include "core/json_int.h"
#include "core/json_pointer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* The spec */

static int
get_bool(const cJSON *v, const char *name, int *out, struct pacer_error *err)
{
  if (!cJSON_IsBool(v))
    return pacer_error_set(err, PACER_EJOB,
                           "paginate.%s: must be true or "
                           "false",
                           name);
  *out = cJSON_IsTrue(v);
  return 0;
}

static int
get_ptr(const cJSON *v, const char *name, const char *text, char **out,
        struct pacer_error *err)
{
  char field[64];
  int rc;

  snprintf(field, sizeof(field), "paginate.%s", name);
  if (text == NULL) {
    if (!cJSON_IsString(v))
      return pacer_error_set(err, PACER_EJOB,
                             "%s: must be a JSON pointer string", field);
    text = v->valuestring;
  }
  if ((rc = pacer_json_pointer_check(text, field, err)) != 0) {
    if (err != NULL)
      err->code = PACER_EJOB; /* a job field, not the config */
    return PACER_EJOB;
  }
  *out = strdup(text);
  return *out != NULL ? 0
                      : pacer_error_set(err, PACER_ENOMEM,
                                        "job: out of "
                                        "memory");
}

static int
get_param(const cJSON *v, char **out, struct pacer_error *err)
{
  size_t i, n;

  if (!cJSON_IsString(v))
    return pacer_error_set(err, PACER_EJOB,
                           "paginate.param: must be a "
                           "string");
  n = strlen(v->valuestring);
  if (n == 0 || n > PACER_PAGINATE_PARAM_MAX)
    return pacer_error_set(err, PACER_EJOB,
                           "paginate.param: must be 1 to %d bytes",
                           PACER_PAGINATE_PARAM_MAX);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v->valuestring[i];

    /* RFC 3986 §3.4: kept as written, so no delimiters of its own */
    if (c <= 0x20 || c >= 0x7f || c == '&' || c == '=' || c == '#' ||
        c == '%' || c == '+')
      return pacer_error_set(err, PACER_EJOB,
                             "paginate.param: must be printable ASCII "
                             "without spaces, \"&\", \"=\", \"#\", \"%%\" "
                             "or \"+\"");
  }
  *out = strdup(v->valuestring);
  return *out != NULL ? 0
                      : pacer_error_set(err, PACER_ENOMEM,
                                        "job: out of "
                                        "memory");
}

static int
parse_member(struct pacer_paginate *p, const cJSON *v, int *have_next,
             struct pacer_error *err)
{
  const char *k = v->string;
  int64_t n = 0;
  int rc;

  if (strcmp(k, "next") == 0) {
    if (!cJSON_IsString(v))
      return pacer_error_set(err, PACER_EJOB,
                             "paginate.next: must be \"link\" or "
                             "\"body:<JSON pointer>\"");
    *have_next = 1;
    if (strcmp(v->valuestring, "link") == 0) {
      p->kind = PACER_PAGINATE_LINK;
      return 0;
    }
    if (strncmp(v->valuestring, "body:", 5) == 0) {
      p->kind = PACER_PAGINATE_BODY;
      return get_ptr(v, "next", v->valuestring + 5, &p->next_ptr, err);
    }
    return pacer_error_set(err, PACER_EJOB,
                           "paginate.next: must be \"link\" or "
                           "\"body:<JSON pointer>\"");
  }
  if (strcmp(k, "cursor") == 0) {
    p->kind = PACER_PAGINATE_CURSOR;
    *have_next = 2;
    return get_ptr(v, "cursor", NULL, &p->next_ptr, err);
  }
  if (strcmp(k, "param") == 0)
    return get_param(v, &p->param, err);
  if (strcmp(k, "items") == 0)
    return get_ptr(v, "items", NULL, &p->items_ptr, err);
  if (strcmp(k, "max_pages") == 0) {
    rc =
        pacer_json_get_int(v, "paginate.max_pages", 1,
                           PACER_PAGINATE_MAX_PAGES_LIMIT, PACER_EJOB, &n, err);
    p->max_pages = (uint32_t)n;
    return rc;
  }
  if (strcmp(k, "keep_headers") == 0)
    return get_bool(v, k, &p->keep_headers, err);
  if (strcmp(k, "keep_credential") == 0)
    return get_bool(v, k, &p->keep_credential, err);
  if (strcmp(k, "keep_limit_key") == 0)
    return get_bool(v, k, &p->keep_limit_key, err);
  return pacer_error_set(err, PACER_EJOB,
                         "paginate.%.40s: unknown field (use next, cursor, "
                         "param, items, max_pages, keep_headers, "
                         "keep_credential or keep_limit_key)",
                         k);
}

int
pacer_paginate_parse(const cJSON *item, struct pacer_paginate **out,
                     struct pacer_error *err)
{
  struct pacer_paginate *p;
  const cJSON *v;
  int have_next = 0, rc = 0;

  *out = NULL;
  if (!cJSON_IsObject(item))
    return pacer_error_set(err, PACER_EJOB, "paginate: must be an object");
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    return pacer_error_set(err, PACER_ENOMEM, "job: out of memory");
  p->max_pages = PACER_PAGINATE_MAX_PAGES_DEFAULT;
  p->keep_headers = p->keep_credential = p->keep_limit_key = 1;
  cJSON_ArrayForEach(v, item)
  {
    int before = have_next;

    if ((rc = parse_member(p, v, &have_next, err)) != 0)
      goto fail;
    if (before != 0 && have_next != before) {
      rc = pacer_error_set(err, PACER_EJOB,
                           "paginate: give either \"next\" or \"cursor\", "
                           "not both");
      goto fail;
    }
  }
  if (have_next == 0) {
    rc = pacer_error_set(err, PACER_EJOB,
                         "paginate.next: required (\"link\", \"body:<JSON "
                         "pointer>\"), or give \"cursor\" and \"param\"");
    goto fail;
  }
  if (p->kind == PACER_PAGINATE_CURSOR && p->param == NULL) {
    rc = pacer_error_set(err, PACER_EJOB,
                         "paginate.param: required with \"cursor\" (the "
                         "query parameter that carries it)");
    goto fail;
  }
  if (p->kind != PACER_PAGINATE_CURSOR && p->param != NULL) {
    rc = pacer_error_set(err, PACER_EJOB,
                         "paginate.param: only allowed with \"cursor\"");
    goto fail;
  }
  *out = p;
  return 0;
fail:
  pacer_paginate_free(p);
  return rc;
}

void
pacer_paginate_free(struct pacer_paginate *p)
{
  if (p == NULL)
    return;
  free(p->next_ptr);
  free(p->param);
  free(p->items_ptr);
  free(p);
}

/* ------------------------------------------------------------------ */
/* RFC 8288 Link */

static const char *
skip_ws(const char *s)
{
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

/* Does the space-separated relation list r[0..n) hold rel? RFC 8288 §3.3:
 * relation types compare case-insensitively. */
static int
rel_has(const char *r, size_t n, const char *rel)
{
  size_t i = 0, rl = strlen(rel);

  while (i < n) {
    size_t j = i;

    while (j < n && r[j] != ' ' && r[j] != '\t')
      j++;
    if (j - i == rl && strncasecmp(r + i, rel, rl) == 0)
      return 1;
    i = j + 1;
  }
  return 0;
}

int
pacer_link_find(const char *value, const char *rel, char **out)
{
  const char *s = value;

  *out = NULL;
  while (s != NULL && *s != '\0') {
    const char *t0, *t1;
    int found = 0;

    s = skip_ws(s);
    if (*s == ',') {
      s++;
      continue;
    }
    /* RFC 8288 §3: link-value = "<" URI-Reference ">" *( OWS ";" OWS
     * link-param ) */
    if (*s != '<')
      return PACER_ENOTFOUND;
    t0 = s + 1;
    t1 = strchr(t0, '>');
    if (t1 == NULL)
      return PACER_ENOTFOUND;
    s = t1 + 1;
    for (;;) {
      const char *n0, *v0;
      size_t nl, vl;

      s = skip_ws(s);
      if (*s != ';')
        break;
      s = skip_ws(s + 1);
      n0 = s;
      while (*s != '\0' && *s != '=' && *s != ';' && *s != ',' && *s != ' ')
        s++;
      nl = (size_t)(s - n0);
      s = skip_ws(s);
      v0 = s;
      vl = 0;
      if (*s == '=') {
        s = skip_ws(s + 1);
        if (*s == '"') {
          v0 = ++s;
          while (*s != '\0' && *s != '"')
            s += s[0] == '\\' && s[1] != '\0' ? 2 : 1;
          vl = (size_t)(s - v0);
          if (*s == '"')
            s++;
        } else {
          v0 = s;
          while (*s != '\0' && *s != ';' && *s != ',' && *s != ' ')
            s++;
          vl = (size_t)(s - v0);
        }
      }
      if (nl == 3 && strncasecmp(n0, "rel", 3) == 0 && rel_has(v0, vl, rel))
        found = 1;
    }
    if (found) {
      size_t n = (size_t)(t1 - t0);

      *out = malloc(n + 1);
      if (*out == NULL)
        return PACER_ENOMEM;
      memcpy(*out, t0, n);
      (*out)[n] = '\0';
      return 0;
    }
    s = skip_ws(s);
    if (*s != ',' && *s != '\0')
      s = strchr(s, ','); /* skip what we do not understand */
  }
  return PACER_ENOTFOUND;
}

/* ------------------------------------------------------------------ */
/* Query parameters */

int
pacer_url_with_param(const char *url, const char *name, const char *value,
                     char **out)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t ul = strcspn(url, "#"), base = strcspn(url, "?#");
  size_t nl = strlen(name), vl = strlen(value), o, i;
  char *r = malloc(ul + nl + 3 * vl + 4);
  int first = 1;

  *out = NULL;
  if (r == NULL)
    return PACER_ENOMEM;
  memcpy(r, url, base);
  o = base;
  i = base < ul ? base + 1 : ul;
  while (i < ul) {
    size_t n = strcspn(url + i, "&#");

    if (n > ul - i)
      n = ul - i;
    if (n > 0 &&
        !(strncmp(url + i, name, nl) == 0 && (n == nl || url[i + nl] == '='))) {
      r[o++] = first ? '?' : '&';
      memcpy(r + o, url + i, n);
      o += n;
      first = 0;
    }
    i += n + 1;
  }
  r[o++] = first ? '?' : '&';
  memcpy(r + o, name, nl);
  o += nl;
  r[o++] = '=';
  for (i = 0; i < vl; i++) {
    unsigned char c = (unsigned char)value[i];

    /* RFC 3986 §2.3: unreserved characters go as they are */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      r[o++] = (char)c;
    } else {
      r[o++] = '%';
      r[o++] = hex[c >> 4];
      r[o++] = hex[c & 15];
    }
  }
  r[o] = '\0';
  *out = r;
  return 0;
}

/* ------------------------------------------------------------------ */
/* The step */

const char *
pacer_page_end_name(enum pacer_page_end e)
{
  switch (e) {
  case PACER_PAGE_MORE:
    return "more";
  case PACER_PAGE_END_LAST:
    return "last_page";
  case PACER_PAGE_END_MAX_PAGES:
    return "max_pages";
  case PACER_PAGE_END_ERROR:
    return "error";
  }
  return "error";
}

void
pacer_page_step_clear(struct pacer_page_step *s)
{
  free(s->next);
  memset(s, 0, sizeof(*s));
}

static void
set_error(struct pacer_page_step *out, const char *msg)
{
  out->end = PACER_PAGE_END_ERROR;
  snprintf(out->error, sizeof(out->error), "%s", msg);
}

/* The next value from the body: a URL (BODY) or a cursor (CURSOR). A
 * missing, null or empty value means the last page. Returns 0, 1 when
 * there is none, or -1 (out->error set). */
static int
body_value(const struct pacer_paginate *p, const cJSON *root, char *num,
           size_t num_size, const char **val, struct pacer_page_step *out)
{
  const cJSON *v =
      root != NULL ? pacer_json_pointer_get(root, p->next_ptr) : NULL;

  *val = NULL;
  if (v == NULL || cJSON_IsNull(v) || cJSON_IsFalse(v))
    return 1;
  if (cJSON_IsString(v)) {
    if (v->valuestring[0] == '\0')
      return 1;
    *val = v->valuestring;
    return 0;
  }
  if (p->kind == PACER_PAGINATE_CURSOR && cJSON_IsNumber(v) &&
      v->valuedouble >= -9007199254740992.0 &&
      v->valuedouble <= 9007199254740992.0 &&
      (double)(int64_t)v->valuedouble == v->valuedouble) {
    snprintf(num, num_size, "%" PRId64, (int64_t)v->valuedouble);
    *val = num;
    return 0;
  }
  set_error(out, p->kind == PACER_PAGINATE_CURSOR
                     ? "paginate.cursor: the value in the body is not a "
                       "string or an integer"
                     : "paginate.next: the value in the body is not a "
                       "string");
  return -1;
}

int
pacer_paginate_step(const struct pacer_paginate *p, uint32_t page,
                    const char *url, const char *headers_json, const char *body,
                    size_t body_len, struct pacer_page_step *out)
{
  cJSON *root = NULL;
  const char *val = NULL, *end = NULL;
  char num[32];
  int rc = 0, r;

  memset(out, 0, sizeof(*out));
  out->items = -1;
  if (body != NULL && body_len > 0 &&
      (p->kind != PACER_PAGINATE_LINK || p->items_ptr != NULL))
    root = cJSON_ParseWithLengthOpts(body, body_len, &end, 0);
  if (p->items_ptr != NULL) {
    const cJSON *a =
        root != NULL ? pacer_json_pointer_get(root, p->items_ptr) : NULL;

    out->items = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
  }
  if (p->kind == PACER_PAGINATE_LINK) {
    cJSON *h = headers_json != NULL ? cJSON_Parse(headers_json) : NULL;
    const cJSON *link = cJSON_GetObjectItemCaseSensitive(h, "link");

    r = cJSON_IsString(link)
            ? pacer_link_find(link->valuestring, "next", &out->next)
            : PACER_ENOTFOUND;
    cJSON_Delete(h);
    if (r == PACER_ENOMEM) {
      rc = PACER_ENOMEM;
      goto done;
    }
    if (r != 0 || out->next[0] == '\0') {
      free(out->next);
      out->next = NULL;
      out->end = PACER_PAGE_END_LAST;
      goto done;
    }
    out->next_is_ref = 1; /* RFC 8288 §3.2: relative to the request URL */
  } else {
    if (root == NULL && body_len > 0) {
      set_error(out, "paginate: the page's body is not JSON");
      goto done;
    }
    r = body_value(p, root, num, sizeof(num), &val, out);
    if (r != 0) {
      if (r > 0)
        out->end = PACER_PAGE_END_LAST;
      goto done;
    }
    if (p->kind == PACER_PAGINATE_BODY) {
      out->next = strdup(val);
      out->next_is_ref = 1;
      if (out->next == NULL)
        rc = PACER_ENOMEM;
    } else {
      rc = pacer_url_with_param(url, p->param, val, &out->next);
    }
    if (rc != 0)
      goto done;
  }
  if (strcmp(out->next, url) == 0) {
    free(out->next);
    out->next = NULL;
    set_error(out, "paginate: the next page is this page again");
    goto done;
  }
  if (page >= p->max_pages) {
    free(out->next);
    out->next = NULL;
    out->end = PACER_PAGE_END_MAX_PAGES;
  }
done:
  cJSON_Delete(root);
  if (rc != 0)
    pacer_page_step_clear(out);
  return rc;
}
