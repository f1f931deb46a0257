/* buf.h -- growable byte buffer with a hard maximum (curl's dynbuf), and string slices. */
#ifndef TTDM_BUF_H
#define TTDM_BUF_H

#include <stdbool.h>
#include <stddef.h>

/* A view of bytes owned by someone else; not NUL-terminated unless said so. */
struct ttdm_slice {
    const char *ptr;
    size_t len;
};

/*
 * Embedded buffer: ttdm_buf_init() then append; data is always NUL-terminated (not counted
 * in len) so text can be used as a C string. Appends past `max` fail with -1 and leave the
 * buffer unchanged ("too big"), so peer input can never grow it without bound.
 */
struct ttdm_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max;
};

void ttdm_buf_init(struct ttdm_buf *b, size_t max);
void ttdm_buf_cleanup(struct ttdm_buf *b);
void ttdm_buf_reset(struct ttdm_buf *b); /* len = 0, keeps memory */
int ttdm_buf_append(struct ttdm_buf *b, const void *data, size_t len);
/* Room for `extra` more bytes (and the NUL) in one allocation of exactly that size, for when
 * the final size is known beforehand. Returns -1 (and changes nothing) past the maximum. */
int ttdm_buf_reserve(struct ttdm_buf *b, size_t extra);
int ttdm_buf_append_str(struct ttdm_buf *b, const char *s);
int ttdm_buf_printf(struct ttdm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with & < > " ' escaped for HTML text and attribute values; NULL appends nothing. */
int ttdm_buf_append_html(struct ttdm_buf *b, const char *s);
/* Hands the bytes to the caller (free with ttdm_free) and resets the buffer. */
char *ttdm_buf_take(struct ttdm_buf *b, size_t *len);
/* "" when empty, never NULL. */
const char *ttdm_buf_str(const struct ttdm_buf *b);

#endif /* TTDM_BUF_H */
