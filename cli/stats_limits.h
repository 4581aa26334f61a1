/* The limit buckets of `pacer stats` (cli/cmd_stats.c): the text table,
 * the JSON array "limits", and the operator pause of every bucket (`pacer
 * pause --all`, store/control.h) as a line and the JSON object
 * "all_buckets". The data comes from store/stats_view.h
 * pacer_stats_buckets_read. Printing only.
 */
#ifndef PACER_CLI_STATS_LIMITS_H
#define PACER_CLI_STATS_LIMITS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "store/stats_view.h"

/** Writes "all limit buckets: paused by an operator until ..." into buf
 *  (size bytes) while the pause of every bucket in bs (borrowed) is on,
 *  else "". */
void pacer_cli_all_paused_text(const struct pacer_stats_buckets *bs, char *buf,
                               size_t size);

/** Prints the pause of every bucket (when on) and the bucket table of bs
 *  (borrowed) to stdout. */
void pacer_cli_limits_print(const struct pacer_stats_buckets *bs);

/** Adds "all_buckets" {paused_ms, paused_until_unix_ms, pause_reason} and
 *  the array "limits" of bs (borrowed) to o (borrowed). Returns 0, or -1
 *  when out of memory (o may hold part of them). */
int pacer_cli_limits_add_json(cJSON *o, const struct pacer_stats_buckets *bs);

#endif
