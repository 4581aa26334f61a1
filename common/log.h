/* One-line key=value event log on stderr.
 *
 *   ts=2026-11-29T08:00:00.123Z level=info comp=redis msg="connected" ...
 *
 * or, with the JSON format, the same fields as one JSON object per line
 * (common/logfmt.h has the mapping):
 *
 *   {"ts":"2026-11-29T08:00:00.123Z","level":"info","comp":"redis",...}
 *
 * Every event is built once, as logfmt text from the caller's format, and
 * rendered in the chosen format. Components are switched with a spec string
 * as in curl's tracing: "all", "all,-redis", "sched,http". Secrets never go
 * through here: callers pass only ids, statuses and redacted text. */
#ifndef PACER_COMMON_LOG_H
#define PACER_COMMON_LOG_H

#include <stddef.h>

/** Severity, lowest first. */
enum pacer_log_level {
  PACER_LOG_DEBUG = 0,
  PACER_LOG_INFO = 1,
  PACER_LOG_WARN = 2,
  PACER_LOG_ERROR = 3,
  PACER_LOG_OFF = 4
};

/** Line format on stderr. */
enum pacer_log_format {
  PACER_LOG_FORMAT_LOGFMT = 0, /* key=value pairs (the default) */
  PACER_LOG_FORMAT_JSON = 1    /* one JSON object per line */
};

/** Sets the line format. Call before threads start. */
void pacer_log_set_format(enum pacer_log_format format);

/** Parses a format name ("logfmt", "json"). Returns 0 and sets *out, or
 *  PACER_EINVAL for an unknown name. Any thread. */
int pacer_log_format_parse(const char *name, enum pacer_log_format *out);

/** Sets the minimum level printed. Call before threads start. */
void pacer_log_set_level(enum pacer_log_level level);

/** Parses a level name ("debug", "info", "warn", "error", "off").
 *  Returns 0 and sets *out, or PACER_EINVAL for an unknown name. */
int pacer_log_level_parse(const char *name, enum pacer_log_level *out);

/** Sets the component filter from spec (borrowed), e.g. "all,-redis".
 *  Returns 0, or PACER_EINVAL when spec is malformed. Call before threads
 *  start. Source: curl's --trace-config syntax. */
int pacer_log_set_components(const char *spec);

/** Returns non-zero when an event at level for component would print. */
int pacer_log_enabled(enum pacer_log_level level, const char *component);

/** Writes one event line to stderr: ts, level, component, then the
 *  formatted fields, which must be logfmt key=value pairs (quote values
 *  with pacer_log_value or pacer_log_quote), in the format set by
 *  pacer_log_set_format. A logfmt line is cut at 2 KiB. Any thread (one
 *  write(2) per line, so lines from threads do not interleave). */
void pacer_log(enum pacer_log_level level, const char *component,
               const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Copies text (borrowed) into buf (size bytes, size >= 4) as the inside
 *  of a logfmt double-quoted value: `"` and `\` are backslash-escaped,
 *  control bytes become `\xNN`, and the copy is cut with "..." when buf is
 *  full. Returns buf. Any thread. Never pass secrets. */
char *pacer_log_quote(char *buf, size_t size, const char *text);

/** Copies text (borrowed) into buf (size bytes, size >= 8) as a whole
 *  logfmt value: as it is when it is non-empty and holds no space, `"`,
 *  `=`, `\`, control byte or DEL, otherwise in double quotes escaped as by
 *  pacer_log_quote. Cut with "..." when buf is full. Returns buf. Any
 *  thread. Never pass secrets. */
char *pacer_log_value(char *buf, size_t size, const char *text);

#endif
