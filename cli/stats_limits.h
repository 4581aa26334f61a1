/* The limit buckets of `pacer stats` (cli/cmd_stats.c): the text table
 * and the JSON array "limits". The data comes from store/stats_view.h
 * pacer_stats_buckets_read. Printing only.
 */
#ifndef PACER_CLI_STATS_LIMITS_H
#define PACER_CLI_STATS_LIMITS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "store/stats_view.h"

/** Prints the bucket table of bs (borrowed) to stdout. */
void pacer_cli_limits_print(const struct pacer_stats_buckets *bs);

/** Adds the array "limits" of bs (borrowed) to o (borrowed). Returns 0,
 *  or -1 when out of memory (o may hold part of it). */
int pacer_cli_limits_add_json(cJSON *o, const struct pacer_stats_buckets *bs);

#endif
