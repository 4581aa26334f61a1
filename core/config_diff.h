/* What changed between two configurations, for a config reload (SIGHUP,
 * scheduler/reload.h): throttle rules compared by name, a credential's
 * settings compared field by field. The reports name fields, never
 * values: a credential's text may hold secrets (docs/CREDENTIALS.md). */
#ifndef PACER_CORE_CONFIG_DIFF_H
#define PACER_CORE_CONFIG_DIFF_H

#include <stddef.h>

#include "core/config.h"
#include "core/throttle_rule.h"

/** Appends "; <item>" ("<item>" when buf is empty) to the NUL-terminated
 *  buf of size bytes, cut at its size, and counts it in *count. fmt is a
 *  printf format. Pure; any thread. */
void pacer_diff_add(char *buf, size_t size, int *count, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Returns 1 when rules a and b (borrowed) match the same responses the
 *  same way (name, statuses, host, path prefix, conditions, pause,
 *  delays), else 0. Pure; any thread. */
int pacer_throttle_rule_equal(const struct pacer_throttle_rule *a,
                              const struct pacer_throttle_rule *b);

/** Compares the rule lists a[0..na) (running) and b[0..nb) (new), both
 *  borrowed, by rule name (presets expanded: "tiktok-business.app"), and
 *  appends with pacer_diff_add to buf (size bytes) one item per
 *  difference: "throttle_rules.NAME added", "... removed", "... changed",
 *  and "throttle_rules order changed" when the same rules are listed in
 *  another order (the first match wins). *count is raised by the items.
 *  Returns the number of differences, 0 when the lists are equal. Pure;
 *  any thread. */
int pacer_throttle_rules_diff(const struct pacer_throttle_rule *a, size_t na,
                              const struct pacer_throttle_rule *b, size_t nb,
                              char *buf, size_t size, int *count);

/** Compares credential a (running) with b (new) of the same name, both
 *  borrowed, and appends "credentials.NAME.FIELD changed" to buf (size
 *  bytes) for each setting that differs: token_url, client_id,
 *  client_secret (its source, variable or file, or value), refresh_token,
 *  auth_method, scope, hosts, refresh_skew_s, scheme,
 *  lifetime_default_s, token_timeout_ms, lock_ttl_ms, authorize_url,
 *  scopes, redirect_port, environment. Never a value. *count is raised by
 *  the items. Returns the number of fields that differ. Pure; any
 *  thread. */
int pacer_cred_cfg_diff(const struct pacer_cred_cfg *a,
                        const struct pacer_cred_cfg *b, char *buf, size_t size,
                        int *count);

#endif
