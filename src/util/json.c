/* json.c -- cJSON helpers: strict parsing of peer input and bounded typed getters. */
#include "util/json.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/str.h"

bool ttdm_utf8_valid(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            i++;
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
struct out {
    char *p;
    size_t len, cap;
};

static void out_reserve(struct out *o, size_t n)
{
    if (o->len + n + 1 <= o->cap)
        return;
    while (o->len + n + 1 > o->cap)
        o->cap = o->cap ? o->cap * 2 : 1024; /* a message or a webhook body fits at once */
    o->p = ttdm_realloc(o->p, o->cap);
}

static void out_bytes(struct out *o, const char *s, size_t n)
{
    out_reserve(o, n);
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void out_number(struct out *o, const cJSON *item)
{
    char buf[32];
    double d = item->valuedouble, back;
    int n;

    if (isnan(d) || isinf(d)) {
        out_bytes(o, "null", 4);
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
        out_bytes(o, q, (size_t)(e - q));
        return;
    }
    n = snprintf(buf, sizeof(buf), "%1.15g", d);
    back = strtod(buf, NULL);
    if (fabs(back - d) > fmax(fabs(back), fabs(d)) * DBL_EPSILON)
        n = snprintf(buf, sizeof(buf), "%1.17g", d);
    out_bytes(o, buf, (size_t)n);
}

static void out_string(struct out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t run;

    out_bytes(o, "\"", 1);
    for (;;) {
        /* The run of bytes that need no escape, copied at once. */
        for (run = 0; p[run] >= 32 && p[run] != '"' && p[run] != '\\'; run++)
            ;
        out_bytes(o, (const char *)p, run);
        p += run;
        if (*p == '\0')
            break;
        out_reserve(o, 6);
        o->p[o->len++] = '\\';
        switch (*p) {
        case '"':
            o->p[o->len++] = '"';
            break;
        case '\\':
            o->p[o->len++] = '\\';
            break;
        case '\b':
            o->p[o->len++] = 'b';
            break;
        case '\f':
            o->p[o->len++] = 'f';
            break;
        case '\n':
            o->p[o->len++] = 'n';
            break;
        case '\r':
            o->p[o->len++] = 'r';
            break;
        case '\t':
            o->p[o->len++] = 't';
            break;
        default:
            memcpy(o->p + o->len, "u00", 3);
            o->p[o->len + 3] = hex[*p >> 4];
            o->p[o->len + 4] = hex[*p & 15];
            o->len += 5;
            break;
        }
        p++;
    }
    out_bytes(o, "\"", 1);
}

static void out_value(struct out *o, const cJSON *item)
{
    const cJSON *child;

    switch (item->type & 0xFF) {
    case cJSON_NULL:
        out_bytes(o, "null", 4);
        break;
    case cJSON_False:
        out_bytes(o, "false", 5);
        break;
    case cJSON_True:
        out_bytes(o, "true", 4);
        break;
    case cJSON_Number:
        out_number(o, item);
        break;
    case cJSON_String:
        out_string(o, item->valuestring);
        break;
    case cJSON_Raw:
        /* cJSON fails to print a raw item without text; null keeps the output JSON. */
        if (item->valuestring)
            out_bytes(o, item->valuestring, strlen(item->valuestring));
        else
            out_bytes(o, "null", 4);
        break;
    case cJSON_Array:
        out_bytes(o, "[", 1);
        for (child = item->child; child; child = child->next) {
            out_value(o, child);
            if (child->next)
                out_bytes(o, ",", 1);
        }
        out_bytes(o, "]", 1);
        break;
    case cJSON_Object:
        out_bytes(o, "{", 1);
        for (child = item->child; child; child = child->next) {
            out_string(o, child->string);
            out_bytes(o, ":", 1);
            out_value(o, child);
            if (child->next)
                out_bytes(o, ",", 1);
        }
        out_bytes(o, "}", 1);
        break;
    default:
        /* cJSON_Invalid: cJSON fails to print it; null keeps the output JSON. */
        out_bytes(o, "null", 4);
        break;
    }
}

char *ttdm_json_print(const cJSON *v)
{
    struct out o = {NULL, 0, 0};

    out_reserve(&o, 0);
    if (v != NULL)
        out_value(&o, v);
    o.p[o.len] = '\0';
    return o.p;
}
