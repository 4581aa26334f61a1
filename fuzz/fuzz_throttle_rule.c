/* libFuzzer target: throttle rules (core/throttle_rule.h) and JSON pointers
 * (core/json_pointer.h). An input starting with "[" is a "throttle_rules"
 * list for pacer_throttle_rules_parse; any other input is a response, the
 * bytes before the first NUL its header object (JSON, the worker's form)
 * and the rest its body, matched against every preset and a rule that
 * uses each delay unit and wildcard pointers. The whole input is also
 * read as a duration.
 *
 * Invariants checked beyond memory safety, UB and leaks:
 *   - parsing returns 0 or PACER_ECONFIG/PACER_ENOMEM, with a message that
 *     names "throttle_rules" on failure;
 *   - a match sets a rule exactly when it returns 1, its delay is at most
 *     10^15 ms and present only with have_delay, and its description
 *     starts "rule ";
 *   - a duration is at most 10^15 ms.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/throttle_rule.h"
#include "fuzz/fuzz_util.h"

#define DELAY_MAX UINT64_C(1000000000000000) /* ms */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules_text[] =
    "[{\"preset\": \"meta-marketing\", \"host\": \"*\"},"
    " {\"preset\": \"google-ads\", \"host\": \"*\"},"
    " {\"preset\": \"tiktok-business\", \"host\": \"*\"},"
    " {\"name\": \"all-units\", \"match\": {\"status\": [400, 429],"
    "   \"headers\": {\"Content-Type\": {\"contains\": \"json\"}},"
    "   \"body\": {\"/*/code\": {\"one_of\": [1, \"2\", true, null]}}},"
    "  \"delay\": [{\"header\": \"Retry-After\"},"
    "   {\"header\": \"X-App-Usage\", \"pointer\": \"/*/*\","
    "    \"unit\": \"epoch_seconds\"},"
    "   {\"body\": \"/a/*/b\", \"unit\": \"duration\"},"
    "   {\"body\": \"/s\", \"unit\": \"seconds\"},"
    "   {\"body\": \"/m\", \"unit\": \"minutes\"},"
    "   {\"body\": \"/ms\", \"unit\": \"ms\"},"
    "   {\"body\": \"/e\", \"unit\": \"epoch_ms\"},"
    "   {\"body\": \"/d\", \"unit\": \"http_date\"}]},"
    " {\"preset\": \"snapchat-marketing\", \"host\": \"*\"}]";

static struct pacer_throttle_rule *rules;
static size_t nrules;

static void
load_rules(void)
{
  struct pacer_error err;
  cJSON *j;

  if (rules != NULL)
    return;
  j = cJSON_Parse(rules_text);
  PACER_FUZZ_CHECK(j != NULL);
  PACER_FUZZ_CHECK(pacer_throttle_rules_parse(j, &rules, &nrules, &err) == 0);
  cJSON_Delete(j);
}

static void
fuzz_parse(const char *text, size_t len)
{
  struct pacer_throttle_rule *out = NULL;
  struct pacer_error err;
  size_t n = 0;
  cJSON *j = cJSON_ParseWithLength(text, len);
  int rc;

  if (j == NULL)
    return;
  memset(&err, 0, sizeof(err));
  rc = pacer_throttle_rules_parse(j, &out, &n, &err);
  PACER_FUZZ_CHECK(rc == 0 || rc == PACER_ECONFIG || rc == PACER_ENOMEM);
  if (rc == 0) {
    PACER_FUZZ_CHECK(n <= PACER_TR_MAX);
    pacer_throttle_rules_free(out, n);
  } else {
    PACER_FUZZ_CHECK(strncmp(err.msg, "throttle_rules", 14) == 0);
  }
  cJSON_Delete(j);
}

static void
fuzz_match(const char *text, size_t len)
{
  struct pacer_tr_response r;
  struct pacer_tr_match m;
  const char *nul = memchr(text, '\0', len);
  cJSON *h = NULL;
  long statuses[] = {200, 400, 429};
  size_t i;

  load_rules();
  memset(&r, 0, sizeof(r));
  if (nul != NULL) {
    h = cJSON_ParseWithLength(text, (size_t)(nul - text));
    r.body = nul + 1;
    r.body_len = len - (size_t)(nul - text) - 1;
  } else {
    r.body = text;
    r.body_len = len;
  }
  r.headers = cJSON_IsObject(h) ? h : NULL;
  r.host = "api.test";
  r.path = "/v1/x";
  for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
    int hit;

    r.status = statuses[i];
    hit = pacer_throttle_rules_match(rules, nrules, &r, PACER_FUZZ_NOW_MS, &m);
    PACER_FUZZ_CHECK((hit != 0) == (m.rule != NULL));
    PACER_FUZZ_CHECK(m.delay_ms <= DELAY_MAX);
    PACER_FUZZ_CHECK(m.have_delay || m.delay_ms == 0);
    PACER_FUZZ_CHECK(!hit || strncmp(m.why, "rule ", 5) == 0);
  }
  cJSON_Delete(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  uint64_t ms;

  if (text == NULL)
    return 0;
  if (size > 0)
    memcpy(text, data, size);
  text[size] = '\0';
  if (pacer_tr_duration_ms(text, &ms) == 0)
    PACER_FUZZ_CHECK(ms <= DELAY_MAX);
  if (size > 0 && text[0] == '[')
    fuzz_parse(text, size);
  else
    fuzz_match(text, size);
  free(text);
  return 0;
}
