/* One parse of the worker's response-header JSON per outcome. */
#include "core/resp_headers.h"

#include <string.h>

#include "common/err.h"

int
pacer_resp_headers_parse(const char *json, struct pacer_resp_headers *out)
{
  const cJSON *it;

  memset(out, 0, sizeof(*out));
  /* Most responses carry none of the headers read here: skip the parse
   * (every name kept below contains one of these). */
  if (json == NULL || (strstr(json, "retry-after") == NULL &&
                       strstr(json, "ratelimit") == NULL &&
                       strstr(json, "rate-limit") == NULL &&
                       strstr(json, "www-authenticate") == NULL))
    return PACER_ENOTFOUND;
  /* ParseWithLengthOpts: cJSON_GetErrorPtr would be global state */
  out->root = cJSON_ParseWithLengthOpts(json, strlen(json), NULL, 0);
  if (out->root == NULL)
    return PACER_ENOTFOUND; /* the worker built it: only out of memory */
  if (!cJSON_IsObject(out->root)) {
    pacer_resp_headers_free(out);
    return PACER_ENOTFOUND;
  }
  cJSON_ArrayForEach(it, out->root)
  {
    if (!cJSON_IsString(it) || it->string == NULL)
      continue;
    if (strcmp(it->string, "www-authenticate") == 0)
      out->www_authenticate = it->valuestring;
    else
      (void)pacer_ratelimit_headers_set(&out->rl, it->string, it->valuestring);
  }
  return 0;
}

void
pacer_resp_headers_free(struct pacer_resp_headers *h)
{
  if (h == NULL)
    return;
  cJSON_Delete(h->root);
  memset(h, 0, sizeof(*h));
}
