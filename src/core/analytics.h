/* analytics.h -- pure helpers of the channel analytics: percentiles and calendar days. */
#ifndef TTDM_ANALYTICS_H
#define TTDM_ANALYTICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The pct-th percentile (0..100) of n values sorted ascending, by linear interpolation between
 * the closest ranks (the common "type 7" definition: the median of {10, 30} is 20), rounded
 * down to a whole number. Returns -1 when n is 0.
 */
int64_t ttdm_analytics_percentile(const int64_t *sorted, size_t n, int pct);

/*
 * Parses a calendar date "YYYY-MM-DD" (years 1970..9999, a real day of that month) from
 * s[0..len) into days since 1970-01-01. Returns 0, or -1 when it is not such a date.
 */
int ttdm_analytics_parse_date(const char *s, size_t len, int64_t *day);

/* Writes day (days since 1970-01-01, 0..2932896) as "YYYY-MM-DD" into out. */
void ttdm_analytics_format_date(int64_t day, char out[11]);

#endif /* TTDM_ANALYTICS_H */
