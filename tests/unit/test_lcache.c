/* test_lcache.c -- the hot-path lookup cache: hits, expiry, clearing, reads overtaken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/clock.h"
#include "util/lcache.h"

static void test_put_then_get(void **state)
{
    struct ttdm_lcache c;
    int64_t a = 0, b = 0;

    ttdm_lcache_init(&c, 16, 60000);
    assert_false(ttdm_lcache_get(&c, "biz-1", &a, &b));
    ttdm_lcache_put(&c, ttdm_lcache_gen(&c), ttdm_clock_mono_ms(), "biz-1", 7, 3);
    assert_true(ttdm_lcache_get(&c, "biz-1", &a, &b));
    assert_int_equal(a, 7);
    assert_int_equal(b, 3);
    assert_false(ttdm_lcache_get(&c, "biz-2", &a, &b));
    ttdm_lcache_cleanup(&c);
    (void)state;
}

static void test_expires(void **state)
{
    struct ttdm_lcache c;
    int64_t a, b;

    ttdm_lcache_init(&c, 16, 30);
    ttdm_lcache_put(&c, ttdm_lcache_gen(&c), ttdm_clock_mono_ms(), "biz-1", 1, 1);
    assert_true(ttdm_lcache_get(&c, "biz-1", &a, &b));
    usleep(60000);
    assert_false(ttdm_lcache_get(&c, "biz-1", &a, &b));
    ttdm_lcache_cleanup(&c);
    (void)state;
}

static void test_clear_and_overtaken_read(void **state)
{
    struct ttdm_lcache c;
    int64_t a, b;
    uint64_t gen;

    ttdm_lcache_init(&c, 16, 60000);
    ttdm_lcache_put(&c, ttdm_lcache_gen(&c), ttdm_clock_mono_ms(), "biz-1", 1, 1);
    ttdm_lcache_clear(&c);
    assert_false(ttdm_lcache_get(&c, "biz-1", &a, &b));
    /* A read that began before a clear may be stale: it is not kept. */
    gen = ttdm_lcache_gen(&c);
    ttdm_lcache_clear(&c);
    ttdm_lcache_put(&c, gen, ttdm_clock_mono_ms(), "biz-1", 1, 1);
    assert_false(ttdm_lcache_get(&c, "biz-1", &a, &b));
    ttdm_lcache_cleanup(&c);
    (void)state;
}

static void test_collisions_and_long_keys(void **state)
{
    struct ttdm_lcache c;
    char key[32], long_key[200];
    int64_t a, b;
    int hits = 0;

    ttdm_lcache_init(&c, 2, 60000); /* two slots: most keys replace another */
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "biz-%d", i);
        ttdm_lcache_put(&c, ttdm_lcache_gen(&c), ttdm_clock_mono_ms(), key, i, -i);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "biz-%d", i);
        if (ttdm_lcache_get(&c, key, &a, &b)) {
            assert_int_equal(a, i); /* never another key's value */
            assert_int_equal(b, -i);
            hits++;
        }
    }
    assert_true(hits >= 1 && hits <= 2);
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    ttdm_lcache_put(&c, ttdm_lcache_gen(&c), ttdm_clock_mono_ms(), long_key, 1, 1);
    assert_false(ttdm_lcache_get(&c, long_key, &a, &b));
    ttdm_lcache_cleanup(&c);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_then_get),
        cmocka_unit_test(test_expires),
        cmocka_unit_test(test_clear_and_overtaken_read),
        cmocka_unit_test(test_collisions_and_long_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
