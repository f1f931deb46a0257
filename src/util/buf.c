/* buf.c -- growable byte buffer with a hard maximum. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

void ttdm_buf_init(struct ttdm_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void ttdm_buf_cleanup(struct ttdm_buf *b)
{
    ttdm_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void ttdm_buf_reset(struct ttdm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Room for `extra` more bytes and the NUL: doubling from 256 bytes, or exactly that much. */
static int grow(struct ttdm_buf *b, size_t extra, bool exact)
{
    size_t need, cap;

    if (extra > b->max || b->len > b->max - extra)
        return -1;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = need;
    if (!exact) {
        cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap *= 2;
        if (cap > b->max + 1)
            cap = b->max + 1;
    }
    b->data = ttdm_realloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int ttdm_buf_reserve(struct ttdm_buf *b, size_t extra)
{
    return grow(b, extra, true);
}

int ttdm_buf_append(struct ttdm_buf *b, const void *data, size_t len)
{
    if (grow(b, len, false))
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int ttdm_buf_append_str(struct ttdm_buf *b, const char *s)
{
    return ttdm_buf_append(b, s, strlen(s));
}

int ttdm_buf_printf(struct ttdm_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, (size_t)n, false))
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int ttdm_buf_append_html(struct ttdm_buf *b, const char *s)
{
    int rc = 0;
    for (; s && *s && rc == 0; s++) {
        switch (*s) {
        case '&':
            rc = ttdm_buf_append_str(b, "&amp;");
            break;
        case '<':
            rc = ttdm_buf_append_str(b, "&lt;");
            break;
        case '>':
            rc = ttdm_buf_append_str(b, "&gt;");
            break;
        case '"':
            rc = ttdm_buf_append_str(b, "&quot;");
            break;
        case '\'':
            rc = ttdm_buf_append_str(b, "&#39;");
            break;
        default:
            rc = ttdm_buf_append(b, s, 1);
        }
    }
    return rc;
}

char *ttdm_buf_take(struct ttdm_buf *b, size_t *len)
{
    char *p = b->data;
    if (!p)
        p = ttdm_strdup("");
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

const char *ttdm_buf_str(const struct ttdm_buf *b)
{
    return b->data ? b->data : "";
}
