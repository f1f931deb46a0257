/* analytics.c -- pure helpers of the channel analytics: percentiles and calendar days. */
#include "core/analytics.h"

#include <stdbool.h>

#define LAST_DAY 2932896 /* 9999-12-31 */

int64_t ttdm_analytics_percentile(const int64_t *sorted, size_t n, int pct)
{
    int64_t scaled, lo, frac;

    if (n == 0)
        return -1;
    if (pct <= 0)
        return sorted[0];
    if (pct >= 100)
        return sorted[n - 1];
    /* Position pct/100 * (n - 1), kept in hundredths so the arithmetic stays exact. */
    scaled = (int64_t)pct * (int64_t)(n - 1);
    lo = scaled / 100;
    frac = scaled % 100;
    if (frac == 0 || (size_t)lo + 1 >= n)
        return sorted[lo];
    return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac / 100;
}

/* Howard Hinnant's days_from_civil / civil_from_days, for the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int digits(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int ttdm_analytics_parse_date(const char *s, size_t len, int64_t *day)
{
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t y, m, d, max;

    if (s == NULL || len != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &m) || digits(s + 8, 2, &d))
        return -1;
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return -1;
    max = month_days[m - 1] + (m == 2 && leap(y));
    if (d > max)
        return -1;
    *day = days_from_civil(y, m, d);
    return 0;
}

void ttdm_analytics_format_date(int64_t day, char out[11])
{
    int64_t z, era, doe, yoe, y, doy, mp, d, m;

    if (day < 0)
        day = 0;
    if (day > LAST_DAY)
        day = LAST_DAY;
    z = day + 719468;
    era = z / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    out[0] = (char)('0' + y / 1000 % 10);
    out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '-';
    out[8] = (char)('0' + d / 10);
    out[9] = (char)('0' + d % 10);
    out[10] = '\0';
}
