/* test_badge.c -- a badge icon is judged by its bytes: PNG, JPEG or an SVG document. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "app/channels.h"

static const char *sniff(const char *s)
{
    return ttdm_app_badge_sniff((const unsigned char *)s, strlen(s));
}

static void test_images(void **state)
{
    const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D};
    const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F'};
    const unsigned char elf[] = {0x7F, 'E', 'L', 'F', 2, 1, 1, 0};
    const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
    (void)state;

    assert_string_equal(ttdm_app_badge_sniff(png, sizeof(png)), "image/png");
    assert_string_equal(ttdm_app_badge_sniff(jpeg, sizeof(jpeg)), "image/jpeg");
    assert_null(ttdm_app_badge_sniff(elf, sizeof(elf)));
    assert_null(ttdm_app_badge_sniff(gif, sizeof(gif)));
    assert_null(ttdm_app_badge_sniff(png, 0));
    assert_null(ttdm_app_badge_sniff(NULL, 10));
}

static void test_svg(void **state)
{
    (void)state;
    assert_string_equal(sniff("<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), "image/svg+xml");
    assert_string_equal(sniff("<svg>"), "image/svg+xml");
    assert_string_equal(sniff("\xEF\xBB\xBF  <?xml version=\"1.0\"?>\n<!-- logo -->\n"
                              "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\">\n"
                              "<svg width=\"1\"></svg>"),
                        "image/svg+xml");
    assert_string_equal(sniff("<!DOCTYPE svg [ <!ENTITY a \"<b>\"> ]>\n<SVG\n/>"), "image/svg+xml");
    /* A script inside does not change what it is; serving it safely is the server's job. */
    assert_string_equal(sniff("<svg><script>alert(1)</script></svg>"), "image/svg+xml");

    assert_null(sniff("<html><body><svg></svg></body></html>"));
    assert_null(sniff("<svgx/>"));
    assert_null(sniff("<?xml version=\"1.0\"?><script>alert(1)</script>"));
    assert_null(sniff("<!-- never closed <svg>"));
    assert_null(sniff("hello <svg>"));
    assert_null(sniff("<svg\xff>"));
}

static void test_size_limit(void **state)
{
    size_t n = TTDM_BADGE_MAX_BYTES + 1;
    unsigned char *big = calloc(1, n);
    (void)state;

    memcpy(big, "\x89PNG\r\n\x1a\n", 8);
    assert_null(ttdm_app_badge_sniff(big, n));
    assert_string_equal(ttdm_app_badge_sniff(big, n - 1), "image/png");
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_svg),
        cmocka_unit_test(test_size_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
