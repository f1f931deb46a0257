/* clock.h -- the one clock of a process, in milliseconds, with a sandbox-only offset. */
#ifndef TTDM_CLOCK_H
#define TTDM_CLOCK_H

#include <stdint.h>

/* Wall-clock milliseconds since the Unix epoch, plus the offset set below. */
int64_t ttdm_clock_now_ms(void);

/* Monotonic milliseconds, for timeouts and latency; never affected by the offset. */
int64_t ttdm_clock_mono_ms(void);

/*
 * Moves this process's wall clock by `offset_ms` (sandbox only: callers check the mode).
 * Thread-safe; takes effect for every later ttdm_clock_now_ms().
 */
void ttdm_clock_set_offset_ms(int64_t offset_ms);
int64_t ttdm_clock_offset_ms(void);

#endif /* TTDM_CLOCK_H */
