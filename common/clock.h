/* Clocks. Monotonic time for local intervals, unix time only for state that
 * is shared through Redis. Pure cores never call these; they take now_* as an
 * argument. */
#ifndef PACER_COMMON_CLOCK_H
#define PACER_COMMON_CLOCK_H

#include <stdint.h>

/** Returns monotonic milliseconds (CLOCK_MONOTONIC). Any thread. */
uint64_t pacer_clock_mono_ms(void);

/** Returns wall-clock unix milliseconds (CLOCK_REALTIME). Any thread.
 *  Use only for timestamps shared with other processes. */
uint64_t pacer_clock_unix_ms(void);

#endif
