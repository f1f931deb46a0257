/* log.h -- one-line leveled logging; the level is checked before anything is formatted. */
#ifndef TTDM_LOG_H
#define TTDM_LOG_H

enum ttdm_log_level {
    TTDM_LOG_DEBUG = 0,
    TTDM_LOG_INFO,
    TTDM_LOG_WARN,
    TTDM_LOG_ERROR,
    TTDM_LOG_OFF,
};

extern enum ttdm_log_level ttdm_log_threshold;

/* Sets the threshold from "debug", "info", "warn", "error" or "off"; returns 0 or -1. */
int ttdm_log_set_level(const char *name);

/* Writes one line: "2026-11-25T10:00:00.123Z INFO  module: message" to stderr. */
void ttdm_log_write(enum ttdm_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Never pass a token, a secret or a message body at INFO level or above. */
#define TTDM_LOG(level, module, ...)                                                               \
    do {                                                                                           \
        if ((level) >= ttdm_log_threshold)                                                         \
            ttdm_log_write((level), (module), __VA_ARGS__);                                        \
    } while (0)

#define LOG_DEBUG(module, ...) TTDM_LOG(TTDM_LOG_DEBUG, module, __VA_ARGS__)
#define LOG_INFO(module, ...) TTDM_LOG(TTDM_LOG_INFO, module, __VA_ARGS__)
#define LOG_WARN(module, ...) TTDM_LOG(TTDM_LOG_WARN, module, __VA_ARGS__)
#define LOG_ERROR(module, ...) TTDM_LOG(TTDM_LOG_ERROR, module, __VA_ARGS__)

#endif /* TTDM_LOG_H */
