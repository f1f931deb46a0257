/* test_secrets.c -- tokens encrypted at rest: round trip, wrong key, tampering, key file;
 * secrets wiped from configuration copies. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "app/config.h"
#include "app/secrets.h"

static const unsigned char key_a[TTDM_SECRET_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const unsigned char key_b[TTDM_SECRET_KEY_BYTES] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

static void test_round_trip(void **state)
{
    const char *token = "act.62039a6f84c2b1e0d9f7a5b3c1e2d4f6a8b0c2e4";
    char sealed[1024], again[1024], plain[1024];
    (void)state;

    assert_int_equal(ttdm_secrets_seal(key_a, token, sealed, sizeof(sealed)), TTDM_OK);
    assert_null(strstr(sealed, "act."));
    assert_true(ttdm_secrets_looks_sealed(sealed));
    assert_false(ttdm_secrets_looks_sealed(token));
    assert_int_equal(ttdm_secrets_open(key_a, sealed, plain, sizeof(plain)), TTDM_OK);
    assert_string_equal(plain, token);
    /* A fresh nonce every time: the same token never seals to the same text. */
    assert_int_equal(ttdm_secrets_seal(key_a, token, again, sizeof(again)), TTDM_OK);
    assert_string_not_equal(again, sealed);
    /* No token stays no token. */
    assert_int_equal(ttdm_secrets_seal(key_a, "", sealed, sizeof(sealed)), TTDM_OK);
    assert_string_equal(sealed, "");
    assert_int_equal(ttdm_secrets_open(key_a, "", plain, sizeof(plain)), TTDM_OK);
    assert_string_equal(plain, "");
}

static void test_wrong_key_and_tampering(void **state)
{
    char sealed[1024], plain[1024];
    size_t mid;
    (void)state;

    assert_int_equal(ttdm_secrets_seal(key_a, "rft.secret-refresh-token", sealed, sizeof(sealed)),
                     TTDM_OK);
    assert_int_equal(ttdm_secrets_open(key_b, sealed, plain, sizeof(plain)), TTDM_ERR_UNAUTHORIZED);
    assert_string_equal(plain, "");
    mid = strlen(sealed) / 2;
    sealed[mid] = sealed[mid] == 'A' ? 'B' : 'A';
    assert_int_equal(ttdm_secrets_open(key_a, sealed, plain, sizeof(plain)), TTDM_ERR_UNAUTHORIZED);
    assert_int_equal(ttdm_secrets_open(key_a, "not base64 at all!", plain, sizeof(plain)),
                     TTDM_ERR_UNAUTHORIZED);
    assert_int_equal(ttdm_secrets_open(key_a, "AAAA", plain, sizeof(plain)), TTDM_ERR_UNAUTHORIZED);
}

static void test_small_buffers(void **state)
{
    char sealed[1024], tiny[8];
    (void)state;

    assert_int_equal(ttdm_secrets_seal(key_a, "a token", tiny, sizeof(tiny)), TTDM_ERR_INTERNAL);
    assert_string_equal(tiny, "");
    assert_int_equal(ttdm_secrets_seal(key_a, "a longer token", sealed, sizeof(sealed)), TTDM_OK);
    assert_int_equal(ttdm_secrets_open(key_a, sealed, tiny, sizeof(tiny)), TTDM_ERR_INTERNAL);
    assert_string_equal(tiny, "");
}

static void test_key_file(void **state)
{
    char dir[64], path[128], err[256];
    unsigned char k1[TTDM_SECRET_KEY_BYTES], k2[TTDM_SECRET_KEY_BYTES];
    struct stat st;
    bool created = false;
    FILE *f;
    (void)state;

    snprintf(dir, sizeof(dir), "/tmp/ttdm-secrets-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/secret.key", dir);

    /* First start: the file is created, private. */
    assert_int_equal(ttdm_secrets_load_key("", path, k1, &created, err, sizeof(err)), TTDM_OK);
    assert_true(created);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65); /* 64 hex digits and a newline */
    /* Next start: the same key. */
    assert_int_equal(ttdm_secrets_load_key(NULL, path, k2, &created, err, sizeof(err)), TTDM_OK);
    assert_false(created);
    assert_memory_equal(k1, k2, sizeof(k1));

    /* A key given in the configuration wins over the file. */
    assert_int_equal(
        ttdm_secrets_load_key("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                              path, k2, NULL, err, sizeof(err)),
        TTDM_OK);
    assert_int_equal(k2[0], 0x00);
    assert_int_equal(k2[31], 0x1f);
    assert_int_equal(ttdm_secrets_load_key("abc", path, k2, NULL, err, sizeof(err)),
                     TTDM_ERR_STORAGE);

    /* A damaged file is an error, never a silently new key. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a key\n", f);
    fclose(f);
    assert_int_equal(ttdm_secrets_load_key("", path, k2, NULL, err, sizeof(err)), TTDM_ERR_STORAGE);
    assert_non_null(strstr(err, "64 hex digits"));
    unlink(path);
    rmdir(dir);
}

/* A configuration copy that is no longer needed loses its secrets, and only those. */
static bool all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void test_config_wipe_secrets(void **state)
{
    struct ttdm_config cfg;
    char err[256];
    char *argv[] = {"ttdm",
                    "--tiktok_app_secret=app-secret-1",
                    "--secret_key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                    "--admin_password=a-long-password",
                    "--port=8123",
                    NULL};

    assert_int_equal(ttdm_config_load_all(&cfg, NULL, 5, argv, 1, err, sizeof(err)), 0);
    assert_string_equal(cfg.tiktok_app_secret, "app-secret-1");
    assert_string_equal(cfg.admin_password, "a-long-password");
    ttdm_config_wipe_secrets(&cfg);
    assert_true(all_zero(cfg.tiktok_app_secret, sizeof(cfg.tiktok_app_secret)));
    assert_true(all_zero(cfg.secret_key, sizeof(cfg.secret_key)));
    assert_true(all_zero(cfg.admin_password, sizeof(cfg.admin_password)));
    assert_int_equal(cfg.port, 8123);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),          cmocka_unit_test(test_wrong_key_and_tampering),
        cmocka_unit_test(test_small_buffers),       cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_config_wipe_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
