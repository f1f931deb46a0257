/* json.c -- cJSON helpers: strict parsing of peer input and bounded typed getters. */
#include "util/json.h"

#include <math.h>
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

char *ttdm_json_print(const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s) {
        fprintf(stderr, "fatal: out of memory printing JSON\n");
        abort();
    }
    return s;
}
