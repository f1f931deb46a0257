/* test_analytics.c -- the pure analytics helpers: percentiles and calendar dates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/analytics.h"

static void test_percentiles(void **state)
{
    const int64_t one[] = {42};
    const int64_t two[] = {10, 30};
    const int64_t ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    (void)state;

    assert_int_equal(ttdm_analytics_percentile(NULL, 0, 50), -1);
    assert_int_equal(ttdm_analytics_percentile(one, 1, 50), 42);
    assert_int_equal(ttdm_analytics_percentile(one, 1, 90), 42);
    assert_int_equal(ttdm_analytics_percentile(two, 2, 50), 20);
    assert_int_equal(ttdm_analytics_percentile(two, 2, 90), 28);
    assert_int_equal(ttdm_analytics_percentile(two, 2, 0), 10);
    assert_int_equal(ttdm_analytics_percentile(two, 2, 100), 30);
    /* 1..10: the median falls between 5 and 6 (rounded down), p90 at 9.1. */
    assert_int_equal(ttdm_analytics_percentile(ten, 10, 50), 5);
    assert_int_equal(ttdm_analytics_percentile(ten, 10, 90), 9);
}

static void test_dates(void **state)
{
    int64_t day = -1;
    char out[11];
    (void)state;

    assert_int_equal(ttdm_analytics_parse_date("1970-01-01", 10, &day), 0);
    assert_int_equal(day, 0);
    assert_int_equal(ttdm_analytics_parse_date("2025-01-01", 10, &day), 0);
    assert_int_equal(day, 20089); /* 1735689600 / 86400 */
    ttdm_analytics_format_date(day, out);
    assert_string_equal(out, "2025-01-01");
    assert_int_equal(ttdm_analytics_parse_date("2024-02-29", 10, &day), 0);
    ttdm_analytics_format_date(day + 1, out);
    assert_string_equal(out, "2024-03-01");
    /* Every day of a few years round-trips. */
    for (int64_t d = 19000; d < 21000; d++) {
        int64_t back = -1;
        ttdm_analytics_format_date(d, out);
        assert_int_equal(ttdm_analytics_parse_date(out, strlen(out), &back), 0);
        assert_int_equal(back, d);
    }
    assert_int_equal(ttdm_analytics_parse_date("2023-02-29", 10, &day), -1);
    assert_int_equal(ttdm_analytics_parse_date("2024-13-01", 10, &day), -1);
    assert_int_equal(ttdm_analytics_parse_date("2024-00-10", 10, &day), -1);
    assert_int_equal(ttdm_analytics_parse_date("2024-1-10", 9, &day), -1);
    assert_int_equal(ttdm_analytics_parse_date("1969-12-31", 10, &day), -1);
    assert_int_equal(ttdm_analytics_parse_date("2024-01-3x", 10, &day), -1);
    assert_int_equal(ttdm_analytics_parse_date("2024/01/30", 10, &day), -1);
    assert_int_equal(ttdm_analytics_parse_date(NULL, 10, &day), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
