/* crypto.c -- HMAC, hashes, randomness and constant-time compare, on libsodium. */
#include "util/crypto.h"

#include <sodium.h>
#include <string.h>

#include "util/alloc.h"
#include "util/str.h"

int ttdm_crypto_init(void)
{
    /* sodium_init is itself thread-safe and idempotent (returns 1 when already done). */
    return sodium_init() < 0 ? -1 : 0;
}

void ttdm_hmac_key_init(struct ttdm_hmac_key *k, const char *key, size_t key_len)
{
    crypto_auth_hmacsha256_init(&k->st, (const unsigned char *)key, key_len);
}

void ttdm_hmac_key_wipe(struct ttdm_hmac_key *k)
{
    sodium_memzero(k, sizeof(*k));
}

void ttdm_hmac_sha256_hex_key(const struct ttdm_hmac_key *k, const char *const parts[],
                              const size_t part_lens[], size_t n_parts, char out_hex[65])
{
    crypto_auth_hmacsha256_state st = k->st; /* the prepared state, continued on a copy */
    unsigned char mac[crypto_auth_hmacsha256_BYTES];

    for (size_t i = 0; i < n_parts; i++)
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)parts[i], part_lens[i]);
    crypto_auth_hmacsha256_final(&st, mac);
    ttdm_hex_encode(mac, sizeof(mac), out_hex);
    sodium_memzero(&st, sizeof(st));
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
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
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
