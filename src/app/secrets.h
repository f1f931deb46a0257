/* secrets.h -- TikTok tokens encrypted at rest: libsodium secretbox under the server's key. */
#ifndef TTDM_SECRETS_H
#define TTDM_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/errors.h"

#define TTDM_SECRET_KEY_BYTES 32

/*
 * The key that encrypts tokens: from `hex_key` (64 hex digits) when it is not empty, else from
 * `key_file` (64 hex digits, or 32 raw bytes). A missing key file is created with a new random
 * key, mode 0600, written and fsynced before it is linked into place so that two processes
 * starting at once agree on one key. *created (may be NULL) tells whether that happened.
 * Returns TTDM_OK, or TTDM_ERR_STORAGE with a sentence in err. Never logs the key.
 */
enum ttdm_err ttdm_secrets_load_key(const char *hex_key, const char *key_file,
                                    unsigned char key[TTDM_SECRET_KEY_BYTES], bool *created,
                                    char *err, size_t err_size);

/*
 * Encrypts a NUL-terminated secret as base64(nonce || crypto_secretbox_easy(secret)) with a
 * fresh random nonce, into out. "" stays "" (no token). TTDM_ERR_INTERNAL when out is too
 * small (out is then "").
 */
enum ttdm_err ttdm_secrets_seal(const unsigned char key[TTDM_SECRET_KEY_BYTES], const char *plain,
                                char *out, size_t out_size);

/*
 * Decrypts what ttdm_secrets_seal wrote. "" stays "". TTDM_ERR_UNAUTHORIZED when the value was
 * not sealed with this key (or was altered), TTDM_ERR_INTERNAL when out is too small; out is
 * "" on failure.
 */
enum ttdm_err ttdm_secrets_open(const unsigned char key[TTDM_SECRET_KEY_BYTES], const char *sealed,
                                char *out, size_t out_size);

/* True when s has the shape of a sealed value (base64 of at least nonce + MAC bytes); a token
 * stored before encryption existed does not. */
bool ttdm_secrets_looks_sealed(const char *s);

#endif /* TTDM_SECRETS_H */
