/* clock.c -- wall and monotonic clocks in milliseconds; the sandbox offset is atomic. */
#include "util/clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t clock_offset_ms;

static int64_t read_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ttdm_clock_now_ms(void)
{
    return read_ms(CLOCK_REALTIME) + atomic_load(&clock_offset_ms);
}

int64_t ttdm_clock_mono_ms(void)
{
    return read_ms(CLOCK_MONOTONIC);
}

void ttdm_clock_set_offset_ms(int64_t offset_ms)
{
    atomic_store(&clock_offset_ms, offset_ms);
}

int64_t ttdm_clock_offset_ms(void)
{
    return atomic_load(&clock_offset_ms);
}
