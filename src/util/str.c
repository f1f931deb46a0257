/* str.c -- bounded parsing and formatting helpers. */
#include "util/str.h"

#include <string.h>

int ttdm_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    uint64_t acc = 0;
    uint64_t limit;

    if (!s)
        return -1;
    if (len == (size_t)-1)
        len = strlen(s);
    if (len == 0)
        return -1;
    if (s[0] == '-') {
        neg = true;
        i = 1;
        if (len == 1)
            return -1;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        d = (unsigned)(s[i] - '0');
        if (acc > (limit - d) / 10)
            return -1;
        acc = acc * 10 + d;
    }
    {
        int64_t v =
            neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
        if (v < min || v > max)
            return -1;
        *out = v;
    }
    return 0;
}

int ttdm_strlcpy_n(char *dst, size_t dst_size, const char *src, size_t src_len)
{
    size_t n;
    if (dst_size == 0)
        return -1;
    n = src_len < dst_size - 1 ? src_len : dst_size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n == src_len ? 0 : -1;
}

int ttdm_strlcpy(char *dst, const char *src, size_t dst_size)
{
    return ttdm_strlcpy_n(dst, dst_size, src, strlen(src));
}

void ttdm_hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool ttdm_slice_ieq(const char *s, size_t len, const char *cstr)
{
    size_t n = strlen(cstr);
    if (n != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (lower(s[i]) != lower(cstr[i]))
            return false;
    return true;
}

bool ttdm_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long ttdm_url_decode(char *s, size_t len, bool plus_is_space)
{
    size_t r = 0, w = 0;
    while (r < len) {
        if (s[r] == '%') {
            int hi, lo;
            if (r + 2 >= len)
                return -1;
            hi = hexval(s[r + 1]);
            lo = hexval(s[r + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            s[w++] = (char)(hi * 16 + lo);
            r += 3;
        } else if (s[r] == '+' && plus_is_space) {
            s[w++] = ' ';
            r++;
        } else {
            s[w++] = s[r++];
        }
    }
    if (w < len)
        s[w] = '\0';
    return (long)w;
}

int ttdm_url_encode(const char *s, char *out, size_t out_size)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t w = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        size_t need = keep ? 1 : 3;
        if (w + need >= out_size) {
            if (out_size)
                out[w < out_size ? w : out_size - 1] = '\0';
            return -1;
        }
        if (keep) {
            out[w++] = (char)c;
        } else {
            out[w++] = '%';
            out[w++] = digits[c >> 4];
            out[w++] = digits[c & 15];
        }
    }
    if (out_size)
        out[w] = '\0';
    return 0;
}
