/* Throttle rule presets: how well-known marketing APIs say "slow down",
 * written from their public documentation (docs/LIMITS.md "Presets" cites
 * each source). Each preset is a JSON list of rules in the
 * "throttle_rules" syntax (core/throttle_rule.h) whose "pause" names a
 * role ("@account"); the config entry maps roles to its limits:
 *
 *   {"preset": "google-ads", "limits": {"developer": "gads-dev",
 *                                       "account": "gads-acct"},
 *    "host": "googleads.googleapis.com"}
 *
 * An unmapped role pauses the lane's own 429 bucket. tests/unit/
 * test_throttle_rule.c parses every preset and matches the documented
 * responses; e2e_throttle_rules plays them through pacer-testapi. */
#include <stddef.h>
#include <string.h>

#include "core/throttle_rule.h"

static const struct {
  const char *name;
  const char *rules;
} presets[] = {
    /* Meta Marketing API: errors come as HTTP 400 (some 403) with
     * {"error": {"code": N, ...}}. Code 4 is the app's limit; 17 (user),
     * 32 (page), 613 (calls within the hour) and the Business Use Case
     * codes 80000-80014 are per ad account or business object. When
     * access returns is in the X-Business-Use-Case-Usage header (JSON:
     * object id -> list of {type, call_count, ...,
     * estimated_time_to_regain_access} in minutes) and the
     * X-Ad-Account-Usage header (JSON: reset_time_duration in seconds). */
    {"meta-marketing",
     "[{\"name\": \"meta-marketing.app\", \"host\": \"graph.facebook.com\","
     "  \"match\": {\"status\": [400, 403, 429],"
     "             \"body\": {\"/error/code\": {\"one_of\": [4]}}},"
     "  \"pause\": \"@app\","
     "  \"delay\": [{\"header\": \"X-Business-Use-Case-Usage\","
     "              \"pointer\": \"/*/*/estimated_time_to_regain_access\","
     "              \"unit\": \"minutes\"}]},"
     " {\"name\": \"meta-marketing.account\","
     "  \"host\": \"graph.facebook.com\","
     "  \"match\": {\"status\": [400, 403, 429],"
     "             \"body\": {\"/error/code\": {\"one_of\": [17, 32, 613,"
     "               80000, 80001, 80002, 80003, 80004, 80005, 80006,"
     "               80008, 80009, 80014]}}},"
     "  \"pause\": \"@account\","
     "  \"delay\": [{\"header\": \"X-Business-Use-Case-Usage\","
     "              \"pointer\": \"/*/*/estimated_time_to_regain_access\","
     "              \"unit\": \"minutes\"},"
     "             {\"header\": \"X-Ad-Account-Usage\","
     "              \"pointer\": \"/reset_time_duration\","
     "              \"unit\": \"seconds\"}]}]"},
    /* Google Ads API (REST): 429 with {"error": {"status":
     * "RESOURCE_EXHAUSTED", "details": [{"errors": [{"errorCode":
     * {"quotaError": ...}, "details": {"quotaErrorDetails": {"rateScope":
     * "DEVELOPER" | "ACCOUNT", "rateName": ..., "retryDelay": "40591s"}}}]}]}}
     * and no Retry-After. The scope says which bucket is spent: the
     * developer token's (shared by every account) or the account's. */
    {"google-ads",
     "[{\"name\": \"google-ads.developer\","
     "  \"host\": \"googleads.googleapis.com\","
     "  \"match\": {\"status\": [429], \"body\": {"
     "    \"/error/details/*/errors/*/details/quotaErrorDetails/rateScope\":"
     "    {\"equals\": \"DEVELOPER\"}}},"
     "  \"pause\": \"@developer\","
     "  \"delay\": [{\"body\": "
     "    \"/error/details/*/errors/*/details/quotaErrorDetails/retryDelay\","
     "    \"unit\": \"duration\"}]},"
     " {\"name\": \"google-ads.account\","
     "  \"host\": \"googleads.googleapis.com\","
     "  \"match\": {\"status\": [429], \"body\": {"
     "    \"/error/status\": {\"equals\": \"RESOURCE_EXHAUSTED\"}}},"
     "  \"pause\": \"@account\","
     "  \"delay\": [{\"body\": "
     "    \"/error/details/*/errors/*/details/quotaErrorDetails/retryDelay\","
     "    \"unit\": \"duration\"}]}]"},
    /* Snapchat Marketing API: 20 requests/s per app and 10/s per access
     * token on average; over it, HTTP 429 with no rate-limit header. The
     * token is the narrower bucket. */
    {"snapchat-marketing", "[{\"name\": \"snapchat-marketing.token\","
                           "  \"host\": \"adsapi.snapchat.com\","
                           "  \"match\": {\"status\": [429]},"
                           "  \"pause\": \"@token\"}]"},
    /* TikTok API for Business: every answer is HTTP 200 with {"code": N,
     * "message", "request_id", "data"}; code 40100 means the app's QPS,
     * QPM or QPD limit was exceeded. No delay is given. */
    {"tiktok-business",
     "[{\"name\": \"tiktok-business.app\","
     "  \"host\": \"business-api.tiktok.com\","
     "  \"match\": {\"status\": [200, 429],"
     "             \"body\": {\"/code\": {\"equals\": 40100}}},"
     "  \"pause\": \"@app\"}]"},
};

const char *
pacer_throttle_preset(const char *name)
{
  size_t i;

  for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
    if (strcmp(presets[i].name, name) == 0)
      return presets[i].rules;
  }
  return NULL;
}

const char *
pacer_throttle_preset_names(void)
{
  return "meta-marketing, google-ads, snapchat-marketing, tiktok-business";
}
