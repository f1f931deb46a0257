/* test_regions.c -- R6: the regions where TikTok refuses DM images. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/regions.h"

/* The seed's list, written out independently of the implementation's table. */
static const char *const expected_blocked[] = {
    "AU", "CO",
    /* The 27 EU member states. */
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    /* The rest of the seed's list. */
    "IN", "IR", "JP", "NG", "KP", "PH", "RU", "KR", "TR", "UA", "GB", "US"};

#define EXPECTED_COUNT (sizeof(expected_blocked) / sizeof(expected_blocked[0]))

static void lower2(const char *code, char out[3])
{
    out[0] = (char)(code[0] - 'A' + 'a');
    out[1] = (char)(code[1] - 'A' + 'a');
    out[2] = '\0';
}

static void test_every_listed_region_is_blocked(void **state)
{
    (void)state;
    assert_int_equal(EXPECTED_COUNT, 41);
    for (size_t i = 0; i < EXPECTED_COUNT; i++) {
        const char *code = expected_blocked[i];
        char lower[3];
        char mixed[3] = {code[0], (char)(code[1] - 'A' + 'a'), '\0'};

        lower2(code, lower);
        assert_true(ttdm_region_valid(code));
        if (!ttdm_region_image_blocked(code))
            fail_msg("%s should be blocked", code);
        if (!ttdm_region_image_blocked(lower))
            fail_msg("%s should be blocked", lower);
        if (!ttdm_region_image_blocked(mixed))
            fail_msg("%s should be blocked", mixed);
    }
}

static void test_uk_alias(void **state)
{
    (void)state;
    assert_true(ttdm_region_image_blocked("UK"));
    assert_true(ttdm_region_image_blocked("uk"));
    assert_true(ttdm_region_image_blocked("Uk"));
    assert_true(ttdm_region_image_blocked("GB"));
}

static void test_allowed_regions(void **state)
{
    static const char *const allowed[] = {"SG", "ID", "VN", "BR", "sg", "id", "vn",
                                          "br", "TH", "MY", "MX", "CA", "CH", "NO",
                                          "AE", "SA", "EG", "NZ", "TW", "HK"};
    (void)state;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        assert_true(ttdm_region_valid(allowed[i]));
        if (ttdm_region_image_blocked(allowed[i]))
            fail_msg("%s should be allowed", allowed[i]);
    }
}

static void test_malformed_codes_are_not_blocked(void **state)
{
    (void)state;
    assert_false(ttdm_region_image_blocked(NULL));
    assert_false(ttdm_region_image_blocked(""));
    assert_false(ttdm_region_image_blocked("U"));
    assert_false(ttdm_region_image_blocked("USA"));
    assert_false(ttdm_region_image_blocked("US "));
    assert_false(ttdm_region_image_blocked(" US"));
    assert_false(ttdm_region_image_blocked("U1"));
    assert_false(ttdm_region_image_blocked("\xc3\x9cS")); /* "ÜS" */
    assert_false(ttdm_region_image_blocked("EU"));        /* the union is not a region code */

    assert_false(ttdm_region_valid(NULL));
    assert_false(ttdm_region_valid(""));
    assert_false(ttdm_region_valid("J"));
    assert_false(ttdm_region_valid("JPN"));
    assert_false(ttdm_region_valid("1P"));
    assert_false(ttdm_region_valid("J@"));
    assert_false(ttdm_region_valid("J["));
    assert_true(ttdm_region_valid("zz"));
    assert_true(ttdm_region_valid("ZZ"));
}

/* The exported list equals the seed's list: same size, upper case, no duplicates. */
static void test_exported_list(void **state)
{
    (void)state;
    assert_int_equal(ttdm_region_blocked_count(), EXPECTED_COUNT);
    assert_null(ttdm_region_blocked_at(ttdm_region_blocked_count()));

    for (size_t i = 0; i < ttdm_region_blocked_count(); i++) {
        const char *code = ttdm_region_blocked_at(i);
        assert_non_null(code);
        assert_int_equal(strlen(code), 2);
        assert_true(code[0] >= 'A' && code[0] <= 'Z');
        assert_true(code[1] >= 'A' && code[1] <= 'Z');
        assert_true(ttdm_region_image_blocked(code));

        bool listed = false;
        for (size_t j = 0; j < EXPECTED_COUNT; j++)
            listed = listed || strcmp(code, expected_blocked[j]) == 0;
        if (!listed)
            fail_msg("%s is blocked but not in the seed's list", code);
        for (size_t j = i + 1; j < ttdm_region_blocked_count(); j++)
            assert_string_not_equal(code, ttdm_region_blocked_at(j));
    }
}

/* Brute force over all two-letter codes: exactly the listed ones (and UK) are blocked. */
static void test_nothing_else_is_blocked(void **state)
{
    (void)state;
    size_t blocked = 0;
    for (char a = 'A'; a <= 'Z'; a++) {
        for (char b = 'A'; b <= 'Z'; b++) {
            char code[3] = {a, b, '\0'};
            if (ttdm_region_image_blocked(code))
                blocked++;
        }
    }
    assert_int_equal(blocked, EXPECTED_COUNT + 1); /* + the "UK" alias */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_listed_region_is_blocked),
        cmocka_unit_test(test_uk_alias),
        cmocka_unit_test(test_allowed_regions),
        cmocka_unit_test(test_malformed_codes_are_not_blocked),
        cmocka_unit_test(test_exported_list),
        cmocka_unit_test(test_nothing_else_is_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
