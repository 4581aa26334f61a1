/* The limit buckets of `pacer stats`: see stats_limits.h. */
#include "cli/stats_limits.h"

#include <stdint.h>
#include <stdio.h>

#include "cli/cmd.h"
#include "store/keys.h"

void
pacer_cli_all_paused_text(const struct pacer_stats_buckets *bs, char *buf,
                          size_t size)
{
  char until[96];

  buf[0] = '\0';
  if (bs->all_paused_ms <= 0)
    return;
  pacer_cli_pause_text((uint64_t)bs->all_paused_ms + 1u,
                       (uint64_t)(bs->now_us / 1e3 + bs->all_paused_ms),
                       " --all", until, sizeof(until));
  snprintf(buf, size, "all limit buckets: " PACER_KEYS_OP_REASON " %s", until);
}

void
pacer_cli_limits_print(const struct pacer_stats_buckets *bs)
{
  char all[160];
  size_t i;

  pacer_cli_all_paused_text(bs, all, sizeof(all));
  if (all[0] != '\0')
    printf("%s\n", all);
  if (bs->n == 0)
    return;
  printf("limits (%lld worker processes reporting)\n", bs->processes);
  printf("  %-32s %8s %8s %9s %7s %9s %8s %10s  %s\n", "BUCKET", "RATE/S",
         "EFFECT/S", "NEXT_MS", "QUEUED", "IN_FLIGHT", "DEFERRED", "PAUSED_MS",
         "REASON");
  for (i = 0; i < bs->n; i++) {
    const struct pacer_stats_bucket *b = &bs->b[i];
    char inf[32], why[sizeof(b->reason)];

    if (b->permits >= 0)
      snprintf(inf, sizeof(inf), "%lld/%u", b->permits, b->max_in_flight);
    else
      snprintf(inf, sizeof(inf), "%lld", b->in_flight);
    if (b->paused_ms <= 0 && b->binds > 0) /* the stacked limit that binds */
      snprintf(why, sizeof(why), "binds %lld lane(s)", b->binds);
    else
      snprintf(why, sizeof(why), "%s", b->reason);
    /* An operator pause until `pacer resume` has no end to count down. */
    printf("  %-32s %8.1f %8.1f %9.0f %7lld %9s %8lld %10.0f  %s%s\n", b->key,
           b->conf_rate, b->conf_rate * b->permille / 1000.0, b->next_slot_ms,
           b->queued, inf, b->deferred,
           b->paused_ms > PACER_CLI_PAUSE_FOREVER_MS ? -1.0 : b->paused_ms, why,
           b->paused_ms > PACER_CLI_PAUSE_FOREVER_MS ? " (until resumed)" : "");
  }
}

int
pacer_cli_limits_add_json(cJSON *o, const struct pacer_stats_buckets *bs)
{
  cJSON *arr = cJSON_AddArrayToObject(o, "limits");
  cJSON *all = cJSON_AddObjectToObject(o, "all_buckets");
  size_t i;
  int ok = arr != NULL && all != NULL;

  /* the operator pause of every bucket (pacer pause --all) */
  ok = ok &&
       cJSON_AddNumberToObject(all, "paused_ms", bs->all_paused_ms) != NULL &&
       cJSON_AddNumberToObject(
           all, "paused_until_unix_ms",
           bs->all_paused_ms > 0
               ? (double)(long long)(bs->now_us / 1e3 + bs->all_paused_ms)
               : 0) != NULL &&
       cJSON_AddStringToObject(all, "pause_reason",
                               bs->all_paused_ms > 0 ? PACER_KEYS_OP_REASON
                                                     : "") != NULL;

  for (i = 0; ok && i < bs->n; i++) {
    const struct pacer_stats_bucket *b = &bs->b[i];
    cJSON *j = cJSON_CreateObject();

    ok = j != NULL && cJSON_AddItemToArray(arr, j);
    if (!ok) {
      cJSON_Delete(j);
      break;
    }
    ok = cJSON_AddStringToObject(j, "bucket", b->key) != NULL &&
         cJSON_AddNumberToObject(j, "rate_per_s", b->conf_rate) != NULL &&
         cJSON_AddNumberToObject(j, "effective_rate_per_s",
                                 b->conf_rate * b->permille / 1000.0) != NULL &&
         cJSON_AddNumberToObject(j, "next_slot_ms", b->next_slot_ms) != NULL &&
         cJSON_AddNumberToObject(j, "queued", (double)b->queued) != NULL &&
         cJSON_AddNumberToObject(
             j, "in_flight",
             (double)(b->permits >= 0 ? b->permits : b->in_flight)) != NULL &&
         cJSON_AddNumberToObject(j, "max_in_flight",
                                 (double)b->max_in_flight) != NULL &&
         cJSON_AddNumberToObject(j, "deferred", (double)b->deferred) != NULL &&
         cJSON_AddNumberToObject(j, "paused_ms", b->paused_ms) != NULL &&
         cJSON_AddNumberToObject(
             j, "paused_until_unix_ms",
             b->paused_ms > 0
                 ? (double)(long long)(bs->now_us / 1e3 + b->paused_ms)
                 : 0) != NULL &&
         cJSON_AddStringToObject(j, "pause_reason", b->reason) != NULL &&
         cJSON_AddNumberToObject(j, "binds_lanes", (double)b->binds) != NULL;
  }
  return ok ? 0 : -1;
}
