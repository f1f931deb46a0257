/* secrets.c -- TikTok tokens encrypted at rest: libsodium secretbox under the server's key. */
#include "app/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/log.h"
#include "util/str.h"

#define KEY_HEX_LEN (TTDM_SECRET_KEY_BYTES * 2)
#define KEY_FILE_MAX 256 /* a key file is 64 hex digits and a newline, or 32 bytes */

static int hex_to_key(const char *hex, size_t len, unsigned char key[TTDM_SECRET_KEY_BYTES])
{
    size_t bin_len = 0;
    if (len != KEY_HEX_LEN)
        return -1;
    if (sodium_hex2bin(key, TTDM_SECRET_KEY_BYTES, hex, len, NULL, &bin_len, NULL) != 0 ||
        bin_len != TTDM_SECRET_KEY_BYTES)
        return -1;
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Creates the key file atomically: a private temporary file, then link(2), which never
 * replaces an existing file. EEXIST means another process won; the caller reads its key. */
static int create_key_file(const char *path, char *err, size_t err_size)
{
    unsigned char key[TTDM_SECRET_KEY_BYTES];
    char hex[KEY_HEX_LEN + 2], tmp[4096];
    int fd = -1, rc = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        snprintf(err, err_size, "key_file path is too long");
        return -1;
    }
    randombytes_buf(key, sizeof(key));
    sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
    hex[KEY_HEX_LEN] = '\n';
    hex[KEY_HEX_LEN + 1] = '\0';
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) || write_all(fd, hex, KEY_HEX_LEN + 1) || fsync(fd)) {
        snprintf(err, err_size, "cannot write the key file %s: %s", tmp, strerror(errno));
        goto done;
    }
    close(fd);
    fd = -1;
    if (link(tmp, path) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create the key file %s: %s", path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(hex, sizeof(hex));
    return rc;
}

static int read_key_file(const char *path, unsigned char key[TTDM_SECRET_KEY_BYTES], char *err,
                         size_t err_size)
{
    char buf[KEY_FILE_MAX + 1];
    struct stat st;
    size_t got = 0, len;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int rc = -1;

    if (fd < 0) {
        snprintf(err, err_size, "cannot open the key file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "the key file %s is not a regular file", path);
        goto done;
    }
    if (st.st_mode & 077)
        LOG_WARN("secrets", "key file %s is readable by other users; chmod 600 it", path);
    while (got < KEY_FILE_MAX) {
        ssize_t n = read(fd, buf + got, KEY_FILE_MAX - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    len = got;
    if (len == TTDM_SECRET_KEY_BYTES) {
        memcpy(key, buf, TTDM_SECRET_KEY_BYTES);
        rc = 0;
        goto done;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    if (hex_to_key(buf, len, key) != 0) {
        snprintf(err, err_size, "the key file %s must hold 64 hex digits (or 32 bytes)", path);
        goto done;
    }
    rc = 0;
done:
    sodium_memzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

enum ttdm_err ttdm_secrets_load_key(const char *hex_key, const char *key_file,
                                    unsigned char key[TTDM_SECRET_KEY_BYTES], bool *created,
                                    char *err, size_t err_size)
{
    struct stat st;

    if (created)
        *created = false;
    if (sodium_init() < 0) {
        snprintf(err, err_size, "libsodium could not be initialised");
        return TTDM_ERR_INTERNAL;
    }
    if (hex_key != NULL && hex_key[0] != '\0') {
        if (hex_to_key(hex_key, strlen(hex_key), key) != 0) {
            snprintf(err, err_size, "secret_key must be 64 hex digits (32 bytes)");
            return TTDM_ERR_STORAGE;
        }
        return TTDM_OK;
    }
    if (key_file == NULL || key_file[0] == '\0') {
        snprintf(err, err_size, "no key_file and no secret_key configured");
        return TTDM_ERR_STORAGE;
    }
    if (lstat(key_file, &st) != 0) {
        if (errno != ENOENT) {
            snprintf(err, err_size, "cannot read the key file %s: %s", key_file, strerror(errno));
            return TTDM_ERR_STORAGE;
        }
        if (create_key_file(key_file, err, err_size) != 0)
            return TTDM_ERR_STORAGE;
        if (created)
            *created = true;
        LOG_INFO("secrets", "created the token encryption key file %s (mode 0600)", key_file);
    }
    return read_key_file(key_file, key, err, err_size) == 0 ? TTDM_OK : TTDM_ERR_STORAGE;
}

enum ttdm_err ttdm_secrets_seal(const unsigned char key[TTDM_SECRET_KEY_BYTES], const char *plain,
                                char *out, size_t out_size)
{
    size_t len = plain != NULL ? strlen(plain) : 0;
    size_t box_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    unsigned char *box = NULL;

    if (out_size == 0)
        return TTDM_ERR_INTERNAL;
    out[0] = '\0';
    if (len == 0)
        return TTDM_OK;
    if (sodium_base64_ENCODED_LEN(box_len, sodium_base64_VARIANT_ORIGINAL) > out_size)
        return TTDM_ERR_INTERNAL;
    box = ttdm_malloc(box_len);
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len, box,
                          key);
    sodium_bin2base64(out, out_size, box, box_len, sodium_base64_VARIANT_ORIGINAL);
    ttdm_free(box);
    return TTDM_OK;
}

enum ttdm_err ttdm_secrets_open(const unsigned char key[TTDM_SECRET_KEY_BYTES], const char *sealed,
                                char *out, size_t out_size)
{
    size_t sealed_len = sealed != NULL ? strlen(sealed) : 0;
    size_t cap = sealed_len / 4 * 3 + 3, box_len = 0, plain_len;
    unsigned char *box = NULL;
    enum ttdm_err rc = TTDM_OK;

    if (out_size == 0)
        return TTDM_ERR_INTERNAL;
    out[0] = '\0';
    if (sealed_len == 0)
        return TTDM_OK;
    box = ttdm_malloc(cap);
    if (sodium_base642bin(box, cap, sealed, sealed_len, NULL, &box_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        box_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        rc = TTDM_ERR_UNAUTHORIZED;
        goto done;
    }
    plain_len = box_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    if (plain_len + 1 > out_size) {
        rc = TTDM_ERR_INTERNAL;
        goto done;
    }
    if (crypto_secretbox_open_easy((unsigned char *)out, box + crypto_secretbox_NONCEBYTES,
                                   box_len - crypto_secretbox_NONCEBYTES, box, key) != 0) {
        rc = TTDM_ERR_UNAUTHORIZED;
        goto done;
    }
    out[plain_len] = '\0';
    /* A token is text: an embedded NUL would silently cut it. */
    if (strlen(out) != plain_len)
        rc = TTDM_ERR_UNAUTHORIZED;
done:
    if (rc)
        sodium_memzero(out, out_size);
    ttdm_free(box);
    return rc;
}

bool ttdm_secrets_looks_sealed(const char *s)
{
    size_t len = s != NULL ? strlen(s) : 0;
    size_t min =
        sodium_base64_ENCODED_LEN(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 1,
                                  sodium_base64_VARIANT_ORIGINAL) -
        1;

    if (len < min || len % 4 != 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/' || ch == '='))
            return false;
    }
    return true;
}
