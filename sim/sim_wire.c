/* sim_wire.c -- wire helpers of the simulator: TikTok envelopes, forms, multipart, base64. */
#include "sim_wire.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/crypto.h"
#include "util/json.h"
#include "util/str.h"

void ttdm_sim_wire_envelope(struct ttdm_http_response *resp, int code, const char *message,
                            cJSON *data)
{
    cJSON *root = cJSON_CreateObject();
    char request_id[33];

    ttdm_random_hex(16, request_id);
    cJSON_AddNumberToObject(root, "code", code);
    cJSON_AddStringToObject(root, "message", message ? message : "OK");
    cJSON_AddStringToObject(root, "request_id", request_id);
    cJSON_AddItemToObject(root, "data", data ? data : cJSON_CreateObject());
    ttdm_http_resp_header(resp, "X-Tt-Logid", request_id);
    ttdm_http_resp_json(resp, 200, root);
}

void ttdm_sim_wire_error(struct ttdm_http_response *resp, int status, const char *code,
                         const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ttdm_http_resp_error(resp, status, code, msg, NULL);
}

cJSON *ttdm_sim_wire_body_object(const struct ttdm_http_request *req, char *err, size_t err_size)
{
    cJSON *v;
    size_t i = 0;

    while (i < req->body_len && (req->body[i] == ' ' || req->body[i] == '\n' ||
                                 req->body[i] == '\r' || req->body[i] == '\t'))
        i++;
    if (i == req->body_len)
        return cJSON_CreateObject();
    v = ttdm_json_parse(req->body, req->body_len, err, err_size);
    if (v && !cJSON_IsObject(v)) {
        snprintf(err, err_size, "the body must be a JSON object");
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

char *ttdm_sim_wire_form_get(const char *body, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    size_t i = 0;

    while (i < len) {
        size_t end = i, eq;
        while (end < len && body[end] != '&')
            end++;
        eq = i;
        while (eq < end && body[eq] != '=')
            eq++;
        if (eq - i == name_len && memcmp(body + i, name, name_len) == 0) {
            size_t vlen = eq < end ? end - eq - 1 : 0;
            char *v = ttdm_strndup(eq < end ? body + eq + 1 : "", vlen);
            long n = ttdm_url_decode(v, vlen, true);
            if (n < 0) {
                ttdm_free(v);
                return NULL;
            }
            v[n] = '\0';
            return v;
        }
        i = end + 1;
    }
    return NULL;
}

/* Value of a parameter like boundary="x" or name=x in a header value; 0 or -1. */
static int header_param(const char *h, size_t h_len, const char *param, struct ttdm_slice *out)
{
    size_t plen = strlen(param);
    size_t i = 0;

    while (i < h_len) {
        /* Parameters follow ';'. */
        while (i < h_len && h[i] != ';')
            i++;
        if (i >= h_len)
            return -1;
        i++;
        while (i < h_len && (h[i] == ' ' || h[i] == '\t'))
            i++;
        if (h_len - i > plen && ttdm_slice_ieq(h + i, plen, param) && h[i + plen] == '=') {
            size_t start = i + plen + 1, end;
            if (start < h_len && h[start] == '"') {
                start++;
                end = start;
                while (end < h_len && h[end] != '"')
                    end++;
            } else {
                end = start;
                while (end < h_len && h[end] != ';' && h[end] != ' ' && h[end] != '\r')
                    end++;
            }
            out->ptr = h + start;
            out->len = end - start;
            return 0;
        }
    }
    return -1;
}

int ttdm_sim_wire_multipart(const char *content_type, const char *body, size_t len,
                            struct ttdm_sim_part *parts, size_t max, size_t *n)
{
    struct ttdm_slice boundary;
    char delim[128];
    size_t dlen;
    const char *p, *end = body + len;

    *n = 0;
    if (!content_type || !ttdm_starts_with(content_type, "multipart/form-data") ||
        header_param(content_type, strlen(content_type), "boundary", &boundary) ||
        boundary.len == 0 || boundary.len > 70)
        return -1;
    /* Parts are separated by CRLF "--" boundary; the first one has no leading CRLF. */
    dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)boundary.len, boundary.ptr);
    if (len < dlen - 2 || memcmp(body, delim + 2, dlen - 2) != 0)
        return -1;
    p = body + dlen - 2;
    for (;;) {
        const char *headers, *hend, *data, *next;
        struct ttdm_sim_part part;

        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return -1;
        headers = p + 2;
        hend = memmem(headers, (size_t)(end - headers), "\r\n\r\n", 4);
        if (!hend)
            return -1;
        data = hend + 4;
        next = memmem(data, (size_t)(end - data), delim, dlen);
        if (!next)
            return -1;
        memset(&part, 0, sizeof(part));
        part.data.ptr = data;
        part.data.len = (size_t)(next - data);
        /* Content-Disposition: form-data; name="file"; filename="a.png" */
        for (const char *line = headers; line < hend;) {
            const char *eol = memmem(line, (size_t)(hend + 2 - line), "\r\n", 2);
            size_t llen = eol ? (size_t)(eol - line) : (size_t)(hend - line);
            if (llen > 20 && ttdm_slice_ieq(line, 20, "content-disposition:")) {
                header_param(line, llen, "name", &part.name);
                header_param(line, llen, "filename", &part.filename);
            }
            line += llen + 2;
        }
        if (*n == max)
            return -1;
        parts[(*n)++] = part;
        p = next + dlen;
    }
}

const struct ttdm_sim_part *ttdm_sim_wire_part(const struct ttdm_sim_part *parts, size_t n,
                                               const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (parts[i].name.len == len && memcmp(parts[i].name.ptr, name, len) == 0)
            return &parts[i];
    return NULL;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

unsigned char *ttdm_sim_wire_base64_decode(const char *in, size_t len, size_t max_out,
                                           size_t *out_len)
{
    unsigned char *out;
    uint32_t acc = 0;
    int bits = 0;
    size_t w = 0;
    bool padding = false;

    if (len / 4 * 3 > max_out + 3)
        return NULL;
    out = ttdm_malloc(len / 4 * 3 + 3);
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        int v;
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            padding = true;
            continue;
        }
        v = b64_value(c);
        if (v < 0 || padding)
            goto fail;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[w++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (bits >= 6 || w > max_out)
        goto fail;
    *out_len = w;
    return out;
fail:
    ttdm_free(out);
    return NULL;
}

void ttdm_sim_wire_redirect(struct ttdm_http_response *resp, const char *location)
{
    struct ttdm_buf b;
    ttdm_buf_init(&b, 64 * 1024);
    ttdm_buf_append_str(&b, "<!doctype html><title>Redirecting</title><p>Continue to <a href=\"");
    ttdm_buf_append_html(&b, location);
    ttdm_buf_append_str(&b, "\">");
    ttdm_buf_append_html(&b, location);
    ttdm_buf_append_str(&b, "</a></p>\n");
    ttdm_http_resp_bytes(resp, 302, "text/html; charset=utf-8", b.data, b.len);
    ttdm_http_resp_header(resp, "Location", location);
    ttdm_http_resp_header(resp, "Cache-Control", "no-store");
    ttdm_buf_cleanup(&b);
}

void ttdm_sim_wire_url_param(struct ttdm_buf *url, const char *key, const char *value)
{
    size_t cap = strlen(value) * 3 + 1;
    char *enc = ttdm_malloc(cap);
    ttdm_url_encode(value, enc, cap);
    ttdm_buf_printf(url, "%c%s=%s", strchr(ttdm_buf_str(url), '?') ? '&' : '?', key, enc);
    ttdm_free(enc);
}
