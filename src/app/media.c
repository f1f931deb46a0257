/* media.c -- images on disk, content-addressed, written durably before they are referenced. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/internal.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/log.h"

static int write_all(int fd, const unsigned char *data, size_t len)
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

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

enum ttdm_err ttdm_app_media_save(struct ttdm_app *app, const unsigned char *data, size_t len,
                                  enum ttdm_image_format fmt, char *path, size_t path_size)
{
    char hash[65], dir[TTDM_PATH_MAX + 8], tmp[TTDM_PATH_MAX + 128];
    const char *ext = fmt == TTDM_IMAGE_PNG ? "png" : fmt == TTDM_IMAGE_JPEG ? "jpg" : "bin";
    struct stat st;
    int fd = -1;

    ttdm_sha256_hex(data, len, hash);
    if (snprintf(dir, sizeof(dir), "%s/%.2s", app->media_dir, hash) >= (int)sizeof(dir) ||
        snprintf(path, path_size, "%s/%s.%s", dir, hash, ext) >= (int)path_size)
        return TTDM_ERR_INTERNAL;
    if (stat(path, &st) == 0 && (size_t)st.st_size == len)
        return TTDM_OK; /* same bytes already stored */
    if (mkdir(dir, 0700) && errno != EEXIST)
        goto fail;
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)gettid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, data, len) || fsync(fd))
        goto fail;
    close(fd);
    fd = -1;
    if (rename(tmp, path))
        goto fail;
    fsync_dir(dir);
    return TTDM_OK;
fail:
    LOG_ERROR("media", "cannot store %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return TTDM_ERR_STORAGE;
}

enum ttdm_err ttdm_app_media_load(const char *path, size_t max, unsigned char **data, size_t *len)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return TTDM_ERR_NOT_FOUND;
    if (fstat(fd, &st) || st.st_size < 0 || (size_t)st.st_size > max) {
        close(fd);
        return TTDM_ERR_STORAGE;
    }
    buf = ttdm_malloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != (size_t)st.st_size) {
        ttdm_free(buf);
        return TTDM_ERR_STORAGE;
    }
    *data = buf;
    *len = got;
    return TTDM_OK;
}
