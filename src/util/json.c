/* json.c -- cJSON helpers: strict parsing of peer input and bounded typed getters. */
#include "util/json.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/str.h"

#if defined(__SANITIZE_ADDRESS__)
#define JSON_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JSON_ARENA_ASAN 1
#endif
#endif
#ifdef JSON_ARENA_ASAN
/* Under AddressSanitizer the free part of an arena is poisoned and each allocation unpoisoned
 * to its exact size, so reading or writing past a node or string is still reported. */
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* The innermost arena scope of this thread, NULL outside any. */
static _Thread_local struct ttdm_json_arena *tls_arena;

static void *arena_malloc(size_t n)
{
    struct ttdm_json_arena *a = tls_arena;
    size_t need = (n + 15) & ~(size_t)15; /* malloc's alignment */

    if (a && need >= n && need <= a->cap - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        a->live++;
        ARENA_UNPOISON(p, n);
        return p;
    }
    return malloc(n);
}

static void arena_free(void *p)
{
    for (struct ttdm_json_arena *a = tls_arena; a; a = a->outer)
        if ((char *)p >= a->buf && (char *)p < a->buf + a->cap) {
            a->live--;
            return;
        }
    free(p);
}

/*
 * cJSON's allocator is process-wide, so it is set once, before main and any thread; outside
 * an arena scope it is malloc and free. (cJSON then grows print buffers by copying instead of
 * realloc; our printer, ttdm_json_print, does not use cJSON's.)
 */
__attribute__((constructor)) static void json_hooks_install(void)
{
    cJSON_Hooks hooks = {arena_malloc, arena_free};
    cJSON_InitHooks(&hooks);
}

void ttdm_json_arena_begin(struct ttdm_json_arena *a, void *buf, size_t cap)
{
    uintptr_t at = (uintptr_t)buf, aligned = (at + 15) & ~(uintptr_t)15;

    a->buf = (char *)aligned;
    a->cap = cap > aligned - at ? cap - (aligned - at) : 0;
    a->used = 0;
    a->live = 0;
    a->outer = tls_arena;
    tls_arena = a;
    ARENA_POISON(a->buf, a->cap);
}

void ttdm_json_arena_end(struct ttdm_json_arena *a)
{
    /* Checked in every build (one comparison per scope): a tree left in the buffer would be
     * used or freed after its memory is gone, which must stop here, not corrupt memory later. */
    if (tls_arena != a || a->live != 0) {
        fprintf(stderr, "fatal: JSON arena scope ended %s\n",
                tls_arena != a ? "out of order" : "with a tree still using it");
        abort();
    }
    tls_arena = a->outer;
    ARENA_UNPOISON(a->buf, a->cap); /* the buffer is the caller's again (often its stack) */
}

bool ttdm_utf8_valid(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            /* Webhook bodies are nearly all ASCII: eight bytes at a time while no byte has
             * its high bit set (this ran at 8 % of the event thread byte by byte). */
            uint64_t w;

            i++;
            while (len - i >= sizeof(w)) {
                memcpy(&w, s + i, sizeof(w));
                if ((w & UINT64_C(0x8080808080808080)) != 0)
                    break;
                i += sizeof(w);
            }
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

cJSON *ttdm_json_parse(const char *data, size_t len, char *err, size_t err_size)
{
    const char *end = NULL;
    cJSON *v;

    if (!ttdm_utf8_valid(data, len)) {
        snprintf(err, err_size, "body is not valid UTF-8");
        return NULL;
    }
    v = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!v) {
        size_t at = end && end >= data ? (size_t)(end - data) : 0;
        const char *where = cJSON_GetErrorPtr();
        if (where && where >= data && where <= data + len)
            at = (size_t)(where - data);
        snprintf(err, err_size, "invalid JSON near byte %zu", at);
        return NULL;
    }
    if (end) {
        while ((size_t)(end - data) < len &&
               (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
            end++;
        if ((size_t)(end - data) < len) {
            snprintf(err, err_size, "trailing data after JSON value at byte %zu",
                     (size_t)(end - data));
            cJSON_Delete(v);
            return NULL;
        }
    }
    return v;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *m;
    if (!cJSON_IsObject(obj))
        return NULL;
    m = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!m || cJSON_IsNull(m))
        return NULL;
    return m;
}

int ttdm_json_get_str(const cJSON *obj, const char *key, size_t max_len, const char **out)
{
    const cJSON *m = member(obj, key);
    if (!m)
        return 1;
    if (!cJSON_IsString(m) || !m->valuestring || strlen(m->valuestring) > max_len)
        return -1;
    *out = m->valuestring;
    return 0;
}

int ttdm_json_get_i64(const cJSON *obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
    const cJSON *m = member(obj, key);
    double d;
    if (!m)
        return 1;
    if (cJSON_IsString(m))
        return ttdm_parse_i64(m->valuestring, (size_t)-1, min, max, out) ? -1 : 0;
    if (!cJSON_IsNumber(m))
        return -1;
    d = m->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < -9007199254740992.0 || d > 9007199254740992.0)
        return -1;
    if ((int64_t)d < min || (int64_t)d > max)
        return -1;
    *out = (int64_t)d;
    return 0;
}

int ttdm_json_get_bool(const cJSON *obj, const char *key, bool *out)
{
    const cJSON *m = member(obj, key);
    if (!m)
        return 1;
    if (!cJSON_IsBool(m))
        return -1;
    *out = cJSON_IsTrue(m);
    return 0;
}

int ttdm_json_copy_str(const cJSON *obj, const char *key, char *dst, size_t dst_size)
{
    const char *s = NULL;
    int rc = ttdm_json_get_str(obj, key, dst_size - 1, &s);
    if (rc == 0)
        ttdm_strlcpy(dst, s, dst_size);
    return rc;
}

void ttdm_json_add_i64(cJSON *obj, const char *key, int64_t v)
{
    cJSON_AddItemToObject(obj, key, cJSON_CreateNumber((double)v));
}

/*
 * A compact printer for cJSON trees, byte for byte what cJSON_PrintUnformatted prints. cJSON
 * formats every number above INT_MAX (our millisecond timestamps) with "%1.15g", reads it
 * back with sscanf and may format it again: that was a fifth of the event thread's time on
 * a reply's 202. Integral values below 10^15 are printed here with plain digits, which is
 * exactly what "%1.15g" prints for them (but -0); everything else as cJSON does. Where
 * cJSON fails (a raw item without text, an invalid item) this prints null. The C locale is
 * assumed, as everywhere in ttdm (no setlocale): "%g" then writes a '.'.
 */
static void put(struct ttdm_buf *b, const char *s, size_t n)
{
    if (ttdm_buf_append(b, s, n) != 0) {
        fprintf(stderr, "fatal: JSON too large to print\n");
        abort();
    }
}

static void put_number(struct ttdm_buf *b, const cJSON *item)
{
    char buf[32];
    double d = item->valuedouble, back;
    int n;

    if (isnan(d) || isinf(d)) {
        put(b, "null", 4);
        return;
    }
    if (d == floor(d) && fabs(d) < 1e15 && !(d == 0 && signbit(d))) {
        /* Exact in a double and in an int64; digits written backwards. */
        int64_t v = (int64_t)d;
        uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
        char *e = buf + sizeof(buf), *q = e;
        do {
            *--q = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *--q = '-';
        put(b, q, (size_t)(e - q));
        return;
    }
    n = snprintf(buf, sizeof(buf), "%1.15g", d);
    back = strtod(buf, NULL);
    if (fabs(back - d) > fmax(fabs(back), fabs(d)) * DBL_EPSILON)
        n = snprintf(buf, sizeof(buf), "%1.17g", d);
    put(b, buf, (size_t)n);
}

static void put_string(struct ttdm_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    put(b, "\"", 1);
    for (;;) {
        size_t run = 0;
        char esc[6] = {'\\', 'u', '0', '0', 0, 0};
        size_t esc_len = 2;

        /* The run of bytes that need no escape, copied at once. */
        while (p[run] >= 32 && p[run] != '"' && p[run] != '\\')
            run++;
        put(b, (const char *)p, run);
        p += run;
        if (*p == '\0')
            break;
        switch (*p) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            esc_len = 6;
            break;
        }
        put(b, esc, esc_len);
        p++;
    }
    put(b, "\"", 1);
}

static void put_value(struct ttdm_buf *b, const cJSON *item)
{
    int type = item->type & 0xFF;

    switch (type) {
    case cJSON_False:
        put(b, "false", 5);
        break;
    case cJSON_True:
        put(b, "true", 4);
        break;
    case cJSON_Number:
        put_number(b, item);
        break;
    case cJSON_String:
        put_string(b, item->valuestring);
        break;
    case cJSON_Raw:
        /* cJSON fails to print a raw item without text; null keeps the output JSON. */
        if (item->valuestring)
            put(b, item->valuestring, strlen(item->valuestring));
        else
            put(b, "null", 4);
        break;
    case cJSON_Array:
    case cJSON_Object:
        put(b, type == cJSON_Array ? "[" : "{", 1);
        for (const cJSON *child = item->child; child; child = child->next) {
            if (type == cJSON_Object) {
                put_string(b, child->string);
                put(b, ":", 1);
            }
            put_value(b, child);
            if (child->next)
                put(b, ",", 1);
        }
        put(b, type == cJSON_Array ? "]" : "}", 1);
        break;
    default:
        /* cJSON_NULL; cJSON_Invalid, which cJSON fails to print: null keeps it JSON. */
        put(b, "null", 4);
        break;
    }
}

char *ttdm_json_print(const cJSON *v)
{
    struct ttdm_buf b;

    ttdm_buf_init(&b, SIZE_MAX / 2);
    if (v != NULL)
        put_value(&b, v);
    return ttdm_buf_take(&b, NULL);
}
