/* libFuzzer target: rate-limit response headers
 * (core/ratelimit_hdr.h), with Retry-After for the pause decision.
 *
 * Input, one item per line (fuzz_util.h): "now:<ms>", or a header line
 * "Name:value" fed to pacer_ratelimit_headers_set as the worker glue does
 * (the value verbatim after the first ':'; a repeated header is dropped,
 * as the glue joins repeats before it gets here).
 *
 * Invariants checked beyond memory safety and UB:
 *   - the return is 0, PACER_ENOTFOUND (exactly when none of the eight
 *     rate-limit headers is present) or PACER_EINVAL; err mirrors it;
 *   - *out is fully written: all unknown on failure; on success a family
 *     is named, something is known, times are at most
 *     PACER_RATELIMIT_MAX_MS and counts at most 10^18;
 *   - the family named had one of its headers present;
 *   - parsing twice gives the same answer;
 *   - the pause follows its rule: Retry-After wins, else remaining 0 with
 *     a known reset waits for the reset, else no pause.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ratelimit_hdr.h"
#include "core/retry_after.h"
#include "fuzz/fuzz_util.h"

#define UNKNOWN   PACER_RATELIMIT_UNKNOWN
#define COUNT_MAX UINT64_C(1000000000000000000) /* plain counts saturate */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_failed_out(const struct pacer_ratelimit *rl)
{
  PACER_FUZZ_CHECK(rl->source == PACER_RATELIMIT_SRC_NONE);
  PACER_FUZZ_CHECK(rl->remaining == UNKNOWN && rl->reset_ms == UNKNOWN &&
                   rl->limit == UNKNOWN && rl->window_ms == UNKNOWN);
}

static void
check_family(const struct pacer_ratelimit_headers *h,
             enum pacer_ratelimit_source source)
{
  switch (source) {
  case PACER_RATELIMIT_SRC_IETF:
    PACER_FUZZ_CHECK(h->ratelimit != NULL || h->ratelimit_policy != NULL);
    break;
  case PACER_RATELIMIT_SRC_IETF_DICT:
    PACER_FUZZ_CHECK(h->ratelimit != NULL);
    break;
  case PACER_RATELIMIT_SRC_IETF_SPLIT:
    PACER_FUZZ_CHECK(h->ratelimit_limit != NULL ||
                     h->ratelimit_remaining != NULL ||
                     h->ratelimit_reset != NULL || h->ratelimit_policy != NULL);
    break;
  case PACER_RATELIMIT_SRC_X:
    PACER_FUZZ_CHECK(h->x_limit != NULL || h->x_remaining != NULL ||
                     h->x_reset != NULL);
    break;
  default:
    PACER_FUZZ_CHECK(!"a successful parse names a family");
  }
}

static void
check_pause(const struct pacer_ratelimit_headers *h, uint64_t now_ms,
            const struct pacer_ratelimit *rl)
{
  enum pacer_ratelimit_pause why;
  uint64_t ra_ms = 0, pause_ms = 1;
  int have_ra = 0;

  if (h->retry_after != NULL)
    have_ra = pacer_retry_after_parse(&h->retry_after, 1, h->date, now_ms,
                                      &ra_ms, NULL) == 0;
  why = pacer_ratelimit_pause_ms(have_ra ? &ra_ms : NULL, rl, &pause_ms);
  if (have_ra) {
    PACER_FUZZ_CHECK(why == PACER_RATELIMIT_PAUSE_RETRY_AFTER);
    PACER_FUZZ_CHECK(pause_ms == ra_ms);
  } else if (rl != NULL && rl->remaining == 0 && rl->reset_ms != UNKNOWN) {
    PACER_FUZZ_CHECK(why == PACER_RATELIMIT_PAUSE_EXHAUSTED);
    PACER_FUZZ_CHECK(pause_ms == rl->reset_ms);
  } else {
    PACER_FUZZ_CHECK(why == PACER_RATELIMIT_PAUSE_NONE);
    PACER_FUZZ_CHECK(pause_ms == 0);
  }
  PACER_FUZZ_CHECK(pause_ms <= PACER_RATELIMIT_MAX_MS);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct pacer_ratelimit_headers h;
  struct pacer_ratelimit rl, again;
  struct pacer_error err;
  uint64_t now_ms = PACER_FUZZ_NOW_MS;
  const char *line, *cur, *v;
  char *buf = pacer_fuzz_lines(data, size);
  int rc, any;

  memset(&h, 0, sizeof(h));
  cur = buf;
  while ((line = pacer_fuzz_next_line(&cur, buf, size)) != NULL) {
    char *colon;
    int set;

    if ((v = pacer_fuzz_after(line, "now:")) != NULL) {
      now_ms = pacer_fuzz_u64(v);
      continue;
    }
    colon = strchr(buf + (line - buf), ':');
    if (colon == NULL)
      continue;
    *colon = '\0';
    set = pacer_ratelimit_headers_set(&h, line, colon + 1);
    PACER_FUZZ_CHECK(set == 0 || set == 1 || set == PACER_EINVAL);
  }
  any = h.ratelimit != NULL || h.ratelimit_policy != NULL ||
        h.ratelimit_limit != NULL || h.ratelimit_remaining != NULL ||
        h.ratelimit_reset != NULL || h.x_limit != NULL ||
        h.x_remaining != NULL || h.x_reset != NULL;

  memset(&rl, 0x5a, sizeof(rl)); /* must be fully written */
  memset(&err, 0x5a, sizeof(err));
  rc = pacer_ratelimit_parse(&h, now_ms, &rl, &err);
  PACER_FUZZ_CHECK(rc == 0 || rc == PACER_ENOTFOUND || rc == PACER_EINVAL);
  PACER_FUZZ_CHECK(err.code == rc);
  PACER_FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
  PACER_FUZZ_CHECK((rc == PACER_ENOTFOUND) == !any);
  PACER_FUZZ_CHECK(pacer_ratelimit_source_name(rl.source) != NULL);
  if (rc != 0) {
    PACER_FUZZ_CHECK(err.msg[0] != '\0');
    check_failed_out(&rl);
  } else {
    PACER_FUZZ_CHECK(err.msg[0] == '\0');
    check_family(&h, rl.source);
    PACER_FUZZ_CHECK(rl.remaining != UNKNOWN || rl.reset_ms != UNKNOWN ||
                     rl.limit != UNKNOWN || rl.window_ms != UNKNOWN);
    PACER_FUZZ_CHECK(rl.reset_ms == UNKNOWN ||
                     rl.reset_ms <= PACER_RATELIMIT_MAX_MS);
    PACER_FUZZ_CHECK(rl.window_ms == UNKNOWN ||
                     rl.window_ms <= PACER_RATELIMIT_MAX_MS);
    PACER_FUZZ_CHECK(rl.remaining == UNKNOWN || rl.remaining <= COUNT_MAX);
    PACER_FUZZ_CHECK(rl.limit == UNKNOWN || rl.limit <= COUNT_MAX);
  }

  memset(&again, 0xa5, sizeof(again));
  PACER_FUZZ_CHECK(pacer_ratelimit_parse(&h, now_ms, &again, NULL) == rc);
  PACER_FUZZ_CHECK(again.source == rl.source &&
                   again.remaining == rl.remaining &&
                   again.reset_ms == rl.reset_ms && again.limit == rl.limit &&
                   again.window_ms == rl.window_ms);

  check_pause(&h, now_ms, rc == 0 ? &rl : NULL);
  check_pause(&h, now_ms, &rl);
  free(buf);
  return 0;
}
