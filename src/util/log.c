/* log.c -- one-line leveled logging to stderr. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum ttdm_log_level ttdm_log_threshold = TTDM_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

int ttdm_log_set_level(const char *name)
{
    static const char *const lower[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i <= TTDM_LOG_OFF; i++) {
        if (strcmp(name, lower[i]) == 0) {
            ttdm_log_threshold = (enum ttdm_log_level)i;
            return 0;
        }
    }
    return -1;
}

void ttdm_log_write(enum ttdm_log_level level, const char *module, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s %s: ", ts.tv_nsec / 1000000L,
                          level_names[level], module);
    if (n < sizeof(line)) {
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
    }
    /* One fputs per line so concurrent threads do not interleave within a line. */
    fprintf(stderr, "%s\n", line);
}
