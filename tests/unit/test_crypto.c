/* test_crypto.c -- SHA-256 and HMAC-SHA256 against known answers, and a prepared key shared by
 * threads. (The RFC 4231 cases and the webhook signature are in test_webhook.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>

#include "util/crypto.h"

/* FIPS 180-2's examples: one block, two blocks, and the empty message. */
static void test_sha256_known_answers(void **state)
{
    static const struct {
        const char *msg, *want;
    } cases[] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char hex[65];
        ttdm_sha256_hex(cases[i].msg, strlen(cases[i].msg), hex);
        assert_string_equal(hex, cases[i].want);
    }
}

static void hmac_both_ways(const char *key, size_t key_len, const char *msg, char plain[65],
                           char prepared[65])
{
    const char *parts[1] = {msg};
    size_t lens[1] = {strlen(msg)};
    struct ttdm_hmac_key k;

    ttdm_hmac_sha256_hex(key, key_len, parts, lens, 1, plain);
    ttdm_hmac_key_init(&k, key, key_len);
    ttdm_hmac_sha256_hex_key(&k, parts, lens, 1, prepared);
    ttdm_hmac_key_wipe(&k);
    assert_null(k.inner);
    assert_null(k.outer);
}

/* Keys at the block's edge: 64 bytes are used as they are, 65 are hashed first; and the empty
 * key and message. The answers come from another implementation (Python's hmac module). */
static void test_hmac_key_lengths(void **state)
{
    static const struct {
        size_t key_len;
        const char *msg, *want;
    } cases[] = {
        {64, "a key at the block boundary",
         "b4d051349290381b4811a7d204ad2fdafb430ccd7c52ee31e582f4f27e0db2bb"},
        {65, "a key at the block boundary",
         "427f1700f0da12f59f0ad9b32cac92703697a9e4fa1c31c100502fa14a8861b5"},
        {0, "", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char key[65], plain[65], prepared[65];
        memset(key, 0x0b, sizeof(key));
        hmac_both_ways(key, cases[i].key_len, cases[i].msg, plain, prepared);
        assert_string_equal(plain, cases[i].want);
        assert_string_equal(prepared, cases[i].want);
    }
}

#define THREADS 4
#define ROUNDS 300

struct shared_use {
    const struct ttdm_hmac_key *key;
    int id;
    int mismatches;
};

static void *use_shared_key(void *arg)
{
    struct shared_use *u = arg;
    char body[48], with_key[65], fresh[65];

    for (int i = 0; i < ROUNDS; i++) {
        const char *parts[1] = {body};
        size_t lens[1];
        snprintf(body, sizeof(body), "{\"thread\":%d,\"n\":%d}", u->id, i);
        lens[0] = strlen(body);
        ttdm_hmac_sha256_hex_key(u->key, parts, lens, 1, with_key);
        ttdm_hmac_sha256_hex("shared", 6, parts, lens, 1, fresh);
        if (strcmp(with_key, fresh) != 0)
            u->mismatches++;
    }
    return NULL;
}

/* The server's event threads share the app secret's prepared key: digests made at the same
 * time from several threads all match ones made with a fresh key. */
static void test_prepared_key_shared_by_threads(void **state)
{
    struct ttdm_hmac_key key;
    struct shared_use uses[THREADS];
    pthread_t th[THREADS];

    (void)state;
    ttdm_hmac_key_init(&key, "shared", 6);
    for (int t = 0; t < THREADS; t++) {
        uses[t] = (struct shared_use){.key = &key, .id = t};
        assert_int_equal(pthread_create(&th[t], NULL, use_shared_key, &uses[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(uses[t].mismatches, 0);
    }
    ttdm_hmac_key_wipe(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known_answers),
        cmocka_unit_test(test_hmac_key_lengths),
        cmocka_unit_test(test_prepared_key_shared_by_threads),
    };
    if (ttdm_crypto_init())
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
