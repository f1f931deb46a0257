/*
 * crypto.h -- HMAC, hashes, randomness and constant-time compare. SHA-256 and its HMAC run on
 * libcrypto, which uses the CPU's SHA extensions; the rest on libsodium.
 */
#ifndef TTDM_CRYPTO_H
#define TTDM_CRYPTO_H

#include <openssl/types.h>
#include <stdbool.h>
#include <stddef.h>

#define TTDM_HMAC_HEX_LEN 64 /* SHA-256 as lower-case hex, without NUL */

/* Initialises libsodium and libcrypto's SHA-256 once; safe to call from several threads.
 * Returns 0 or -1. */
int ttdm_crypto_init(void);

/*
 * HMAC-SHA256 of the concatenation of parts (so "t.body" needs no copy) with `key`,
 * written as 64 lower-case hex chars + NUL into out_hex.
 */
void ttdm_hmac_sha256_hex(const char *key, size_t key_len, const char *const parts[],
                          const size_t part_lens[], size_t n_parts, char out_hex[65]);

/*
 * An HMAC-SHA256 key prepared once: its two padded key blocks are hashed ahead, which saves
 * two of the about fifteen SHA-256 blocks of a webhook's signature. Not changed by use, so
 * threads may share one. It owns two libcrypto contexts: initialise it once, never copy it by
 * value, and wipe it once when done (it is as secret as the key; wiping frees the contexts).
 */
struct ttdm_hmac_key {
    EVP_MD_CTX *inner; /* SHA-256 after the key's inner padded block */
    EVP_MD_CTX *outer; /* and after its outer one */
};
void ttdm_hmac_key_init(struct ttdm_hmac_key *k, const char *key, size_t key_len);
void ttdm_hmac_key_wipe(struct ttdm_hmac_key *k);
/* ttdm_hmac_sha256_hex with a prepared key. */
void ttdm_hmac_sha256_hex_key(const struct ttdm_hmac_key *k, const char *const parts[],
                              const size_t part_lens[], size_t n_parts, char out_hex[65]);

/* SHA-256 of data as lower-case hex. */
void ttdm_sha256_hex(const void *data, size_t len, char out_hex[65]);

/* Constant-time equality of two byte strings (false when lengths differ). */
bool ttdm_const_eq(const void *a, size_t a_len, const void *b, size_t b_len);

/* `n_bytes` random bytes as hex into out (2*n_bytes+1). */
void ttdm_random_hex(size_t n_bytes, char *out);

#endif /* TTDM_CRYPTO_H */
