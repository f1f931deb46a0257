/* badge.c -- a channel's badge icon: PNG, JPEG or SVG judged by its bytes, stored
 * content-addressed on disk, shown next to every conversation of the channel. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/channels.h"
#include "app/internal.h"
#include "core/policy.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define MIME_SVG "image/svg+xml"

static bool starts_with_ci(const unsigned char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len >= n && ttdm_slice_ieq((const char *)p, n, lit);
}

/* The offset just after `end` at or after p[from], or len when it never comes. */
static size_t skip_past(const unsigned char *p, size_t len, size_t from, const char *end)
{
    size_t n = strlen(end);
    for (size_t i = from; i + n <= len; i++)
        if (memcmp(p + i, end, n) == 0)
            return i + n;
    return len;
}

/*
 * An SVG is UTF-8 text whose first element, after an optional byte order mark, XML
 * declaration, comments and document type, is <svg>. Anything else (an HTML page, a script,
 * a program) is not an icon, whatever its name says.
 */
static bool is_svg(const unsigned char *p, size_t len)
{
    size_t i = 0;

    if (!ttdm_utf8_valid((const char *)p, len))
        return false;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        i = 3;
    for (;;) {
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
            i++;
        if (starts_with_ci(p + i, len - i, "<?xml")) {
            i = skip_past(p, len, i, "?>");
        } else if (starts_with_ci(p + i, len - i, "<!--")) {
            i = skip_past(p, len, i + 4, "-->");
        } else if (starts_with_ci(p + i, len - i, "<!doctype")) {
            size_t close = skip_past(p, len, i, ">");
            size_t open = skip_past(p, len, i, "[");
            /* An internal subset [...] may hold '>' of its own. */
            i = open < close ? skip_past(p, len, open, "]>") : close;
        } else {
            break;
        }
        if (i >= len)
            return false;
    }
    return starts_with_ci(p + i, len - i, "<svg") && len - i > 4 &&
           (p[i + 4] == ' ' || p[i + 4] == '>' || p[i + 4] == '/' || p[i + 4] == '\t' ||
            p[i + 4] == '\r' || p[i + 4] == '\n');
}

const char *ttdm_app_badge_sniff(const unsigned char *data, size_t len)
{
    enum ttdm_image_format fmt;

    if (data == NULL || len == 0 || len > TTDM_BADGE_MAX_BYTES)
        return NULL;
    fmt = ttdm_policy_sniff_image(data, len);
    if (fmt != TTDM_IMAGE_UNKNOWN)
        return ttdm_image_format_mime(fmt);
    return is_svg(data, len) ? MIME_SVG : NULL;
}

static const char *extension(const char *mime)
{
    if (strcmp(mime, "image/png") == 0)
        return "png";
    if (strcmp(mime, "image/jpeg") == 0)
        return "jpg";
    return "svg";
}

static int write_file(const char *path, const unsigned char *data, size_t len)
{
    char tmp[TTDM_PATH_MAX + 160];
    int fd;
    size_t done = 0;

    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)gettid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done != len || fsync(fd) || close(fd) || rename(tmp, path)) {
        if (done != len)
            close(fd);
        unlink(tmp);
        return -1;
    }
    return 0;
}

enum ttdm_err ttdm_app_badge_set(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                 const unsigned char *data, size_t len, struct ttdm_channel *out,
                                 struct ttdm_err_detail *detail)
{
    struct ttdm_channel ch;
    char hash[TTDM_HEX_TOKEN], path[TTDM_PATH_MAX + 96];
    const char *mime;
    struct stat st;
    enum ttdm_err rc;

    memset(detail, 0, sizeof(*detail));
    rc = ttdm_app_channel_get(app, workspace_id, id, &ch, NULL);
    if (rc)
        return rc;
    if (len > TTDM_BADGE_MAX_BYTES)
        return TTDM_ERR_BADGE_TOO_LARGE;
    mime = ttdm_app_badge_sniff(data, len);
    if (mime == NULL)
        return TTDM_ERR_BADGE_FORMAT;
    ttdm_sha256_hex(data, len, hash);
    if (snprintf(path, sizeof(path), "%s/%s.%s", app->badge_dir, hash, extension(mime)) >=
        (int)sizeof(path))
        return TTDM_ERR_INTERNAL;
    /* Content-addressed: the same icon on several channels is one file. Files are not deleted
     * when a badge changes, since another channel may use the same bytes. */
    if (!(stat(path, &st) == 0 && (size_t)st.st_size == len) && write_file(path, data, len)) {
        LOG_ERROR("badge", "cannot store %s: %s", path, strerror(errno));
        return TTDM_ERR_STORAGE;
    }
    rc = ttdm_store_channel_set_badge(app->store, workspace_id, id, path, mime, (int64_t)len, hash);
    if (rc)
        return rc;
    LOG_INFO("badge", "channel=%lld badge set (%s, %zu bytes)", (long long)id, mime, len);
    return ttdm_app_channel_get(app, workspace_id, id, out, NULL);
}

enum ttdm_err ttdm_app_badge_get(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                 unsigned char **data, size_t *len, char *mime, size_t mime_size,
                                 char sha256[TTDM_HEX_TOKEN])
{
    struct ttdm_channel ch;
    enum ttdm_err rc;

    *data = NULL;
    *len = 0;
    rc = ttdm_app_channel_get(app, workspace_id, id, &ch, NULL);
    if (rc)
        return rc;
    if (!ch.badge_path[0])
        return TTDM_ERR_NOT_FOUND;
    rc = ttdm_app_media_load(ch.badge_path, TTDM_BADGE_MAX_BYTES, data, len);
    if (rc) {
        LOG_ERROR("badge", "channel=%lld: badge file %s cannot be read", (long long)id,
                  ch.badge_path);
        return TTDM_ERR_NOT_FOUND;
    }
    ttdm_strlcpy(mime, ch.badge_mime, mime_size);
    ttdm_strlcpy(sha256, ch.badge_sha256, TTDM_HEX_TOKEN);
    return TTDM_OK;
}

enum ttdm_err ttdm_app_badge_delete(struct ttdm_app *app, int64_t workspace_id, int64_t id)
{
    return ttdm_store_channel_set_badge(app->store, workspace_id, id, "", "", 0, "");
}
