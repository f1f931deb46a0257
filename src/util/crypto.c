/*
 * crypto.c -- HMAC, hashes, randomness and constant-time compare. SHA-256 and its HMAC run on
 * libcrypto (OpenSSL's EVP, which uses the CPU's SHA extensions where it has them: a 704-byte
 * webhook's HMAC takes about a fifth of the time of libsodium's portable SHA-256 here); the rest
 * on libsodium.
 */
#include "util/crypto.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/str.h"

#define SHA256_BYTES 32
#define SHA256_BLOCK 64

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* libcrypto fails here only when out of memory (or without its default provider): as with
 * ttdm_malloc, there is nothing sensible left to do. */
static void crypto_fail(const char *what)
{
    fprintf(stderr, "fatal: libcrypto: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    abort();
}

/* The SHA-256 implementation, fetched once: an implicit fetch per use costs about half as much
 * as hashing a webhook with the CPU's SHA extensions. Never freed: the threads that hash end
 * before the process does. */
static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    if (!sha256_md)
        crypto_fail("fetching SHA-256");
    return sha256_md;
}

int ttdm_crypto_init(void)
{
    /* sodium_init is itself thread-safe and idempotent (returns 1 when already done). */
    if (sodium_init() < 0)
        return -1;
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? 0 : -1;
}

static EVP_MD_CTX *md_ctx_new(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        crypto_fail("EVP_MD_CTX_new");
    return c;
}

static void md_update(EVP_MD_CTX *c, const void *data, size_t len)
{
    if (!EVP_DigestUpdate(c, data, len))
        crypto_fail("EVP_DigestUpdate");
}

/* SHA-256 of the key's block XOR `pad`, the state an HMAC continues (RFC 2104). */
static EVP_MD_CTX *padded_key_state(const unsigned char block[SHA256_BLOCK], unsigned char pad)
{
    unsigned char padded[SHA256_BLOCK];
    EVP_MD_CTX *c = md_ctx_new();

    for (size_t i = 0; i < SHA256_BLOCK; i++)
        padded[i] = block[i] ^ pad;
    if (!EVP_DigestInit_ex2(c, sha256(), NULL))
        crypto_fail("EVP_DigestInit_ex2");
    md_update(c, padded, sizeof(padded));
    OPENSSL_cleanse(padded, sizeof(padded));
    return c;
}

void ttdm_hmac_key_init(struct ttdm_hmac_key *k, const char *key, size_t key_len)
{
    unsigned char block[SHA256_BLOCK] = {0};

    /* A key longer than a block is replaced by its hash; a shorter one is padded with zeros. */
    if (key_len > SHA256_BLOCK) {
        if (!EVP_Digest(key, key_len, block, NULL, sha256(), NULL))
            crypto_fail("EVP_Digest");
    } else if (key_len) {
        memcpy(block, key, key_len);
    }
    k->inner = padded_key_state(block, 0x36);
    k->outer = padded_key_state(block, 0x5c);
    OPENSSL_cleanse(block, sizeof(block));
}

void ttdm_hmac_key_wipe(struct ttdm_hmac_key *k)
{
    /* libcrypto clears a digest's state when it frees it. */
    EVP_MD_CTX_free(k->inner);
    EVP_MD_CTX_free(k->outer);
    k->inner = k->outer = NULL;
}

static void md_copy(EVP_MD_CTX *to, const EVP_MD_CTX *from)
{
    if (!EVP_MD_CTX_copy_ex(to, from))
        crypto_fail("EVP_MD_CTX_copy_ex");
}

static void md_final(EVP_MD_CTX *c, unsigned char out[SHA256_BYTES])
{
    if (!EVP_DigestFinal_ex(c, out, NULL))
        crypto_fail("EVP_DigestFinal_ex");
}

void ttdm_hmac_sha256_hex_key(const struct ttdm_hmac_key *k, const char *const parts[],
                              const size_t part_lens[], size_t n_parts, char out_hex[65])
{
    /* The prepared states are continued on a copy, so the key itself is never changed. */
    EVP_MD_CTX *c = md_ctx_new();
    unsigned char inner[SHA256_BYTES], mac[SHA256_BYTES];

    md_copy(c, k->inner);
    for (size_t i = 0; i < n_parts; i++)
        md_update(c, parts[i], part_lens[i]);
    md_final(c, inner);
    md_copy(c, k->outer);
    md_update(c, inner, sizeof(inner));
    md_final(c, mac);
    EVP_MD_CTX_free(c);
    ttdm_hex_encode(mac, sizeof(mac), out_hex);
    OPENSSL_cleanse(inner, sizeof(inner));
}

void ttdm_hmac_sha256_hex(const char *key, size_t key_len, const char *const parts[],
                          const size_t part_lens[], size_t n_parts, char out_hex[65])
{
    struct ttdm_hmac_key k;

    ttdm_hmac_key_init(&k, key, key_len);
    ttdm_hmac_sha256_hex_key(&k, parts, part_lens, n_parts, out_hex);
    ttdm_hmac_key_wipe(&k);
}

void ttdm_sha256_hex(const void *data, size_t len, char out_hex[65])
{
    unsigned char h[SHA256_BYTES];
    if (!EVP_Digest(data, len, h, NULL, sha256(), NULL))
        crypto_fail("EVP_Digest");
    ttdm_hex_encode(h, sizeof(h), out_hex);
}

bool ttdm_const_eq(const void *a, size_t a_len, const void *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    if (a_len == 0)
        return true;
    return sodium_memcmp(a, b, a_len) == 0;
}

void ttdm_random_hex(size_t n_bytes, char *out)
{
    unsigned char stackbuf[64];
    unsigned char *p = n_bytes <= sizeof(stackbuf) ? stackbuf : ttdm_malloc(n_bytes);
    randombytes_buf(p, n_bytes);
    ttdm_hex_encode(p, n_bytes, out);
    if (p != stackbuf)
        ttdm_free(p);
}
