/* harness_web.c -- a small browser for integration tests: cookies, CSRF token, redirects
 * seen (not followed), and the simulator's TikTok login page driven like a person would. */
#include "harness_web.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/str.h"

void h_browser_init(struct h_browser *b)
{
    memset(b, 0, sizeof(*b));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    b->curl = curl_easy_init();
    if (!b->curl)
        fail_msg("curl_easy_init failed");
    /* An empty file name turns the cookie engine on, in memory only. */
    curl_easy_setopt(b->curl, CURLOPT_COOKIEFILE, "");
}

void h_browser_cleanup(struct h_browser *b)
{
    if (b->curl)
        curl_easy_cleanup(b->curl);
    b->curl = NULL;
}

void h_resp_cleanup(struct h_resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

struct sink {
    char *data;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    char *grown = realloc(s->data, s->len + n + 1);
    if (!grown)
        return 0;
    s->data = grown;
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    s->data[s->len] = '\0';
    return n;
}

long h_browser_do(struct h_browser *b, const char *method, const char *url,
                  const char *const *headers, const char *body, size_t body_len, struct h_resp *out)
{
    CURL *h = b->curl;
    struct curl_slist *list = NULL;
    struct sink data = {0}, hdrs = {0};
    CURLcode cc;

    memset(out, 0, sizeof(*out));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &data);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hdrs);
    for (const char *const *p = headers; p && *p; p++)
        list = curl_slist_append(list, *p);
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(body ? (body_len ? body_len : strlen(body)) : 0));
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
    }
    cc = curl_easy_perform(h);
    curl_slist_free_all(list);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = data.data ? data.data : calloc(1, 1);
    out->body_len = data.len;
    out->headers = hdrs.data ? hdrs.data : calloc(1, 1);
    return out->status;
}

bool h_resp_header(const struct h_resp *r, const char *name, char *out, size_t out_size)
{
    size_t n = strlen(name);
    const char *p = r->headers;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n && p[n] == ':' && ttdm_slice_ieq(p, n, name)) {
            const char *v = p + n + 1;
            size_t vlen = len - n - 1;
            while (vlen && *v == ' ') {
                v++;
                vlen--;
            }
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            ttdm_strlcpy_n(out, out_size, v, vlen);
            return true;
        }
        p = eol ? eol + 1 : NULL;
    }
    if (out_size)
        out[0] = '\0';
    return false;
}

cJSON *h_resp_json(const struct h_resp *r)
{
    char err[128];
    return r->body_len ? ttdm_json_parse(r->body, r->body_len, err, sizeof(err)) : NULL;
}

long h_browser_api(struct h_browser *b, struct h_env *env, const char *method, const char *path,
                   const char *body, cJSON **json)
{
    char url[1024], csrf[200];
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", csrf,
                             NULL};
    struct h_resp r;
    long st;

    snprintf(url, sizeof(url), "%s%s", env->ttdm_url, path);
    snprintf(csrf, sizeof(csrf), "X-CSRF-Token: %s", b->csrf);
    if (!b->csrf[0])
        headers[2] = NULL;
    st = h_browser_do(b, method, url, headers, body, 0, &r);
    if (json)
        *json = h_resp_json(&r);
    h_resp_cleanup(&r);
    return st;
}

long h_login(struct h_browser *b, struct h_env *env, const char *email, const char *password)
{
    cJSON *body = cJSON_CreateObject(), *j = NULL;
    char *s;
    long st;

    cJSON_AddStringToObject(body, "email", email);
    cJSON_AddStringToObject(body, "password", password);
    s = cJSON_PrintUnformatted(body);
    b->csrf[0] = '\0';
    st = h_browser_api(b, env, "POST", "/api/v1/auth/login", s, &j);
    if (st == 200)
        ttdm_strlcpy(b->csrf, h_str(j, "csrf_token"), sizeof(b->csrf));
    cJSON_free(s);
    cJSON_Delete(body);
    cJSON_Delete(j);
    return st;
}

/* &amp; &lt; &gt; &quot; &#39; back to characters, in place. */
static void html_unescape(char *s)
{
    static const struct {
        const char *ent;
        char ch;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
    char *w = s;
    for (const char *r = s; *r;) {
        bool done = false;
        for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]) && !done; i++) {
            size_t n = strlen(ents[i].ent);
            if (strncmp(r, ents[i].ent, n) == 0) {
                *w++ = ents[i].ch;
                r += n;
                done = true;
            }
        }
        if (!done)
            *w++ = *r++;
    }
    *w = '\0';
}

/* The value of attribute `attr` inside tag text [p, end), into out. */
static bool attr_value(const char *p, const char *end, const char *attr, char *out, size_t size)
{
    char pat[64];
    const char *v, *q;
    snprintf(pat, sizeof(pat), "%s=\"", attr);
    v = strstr(p, pat);
    if (!v || v >= end)
        return false;
    v += strlen(pat);
    q = strchr(v, '"');
    if (!q || q > end)
        return false;
    ttdm_strlcpy_n(out, size, v, (size_t)(q - v));
    html_unescape(out);
    return true;
}

/* Posts the form [form, form_end) of the page as a browser would; Location into callback. */
static void submit_form(struct h_browser *b, const char *base, const char *form,
                        const char *form_end, char *callback, size_t callback_size)
{
    struct ttdm_buf body;
    char action[256], url[512], name[128], value[4096], enc[8192];
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct h_resp r;

    if (!attr_value(form, form_end, "action", action, sizeof(action)))
        fail_msg("the login form has no action");
    ttdm_buf_init(&body, 64 * 1024);
    for (const char *in = strstr(form, "<input"); in && in < form_end;
         in = strstr(in + 1, "<input")) {
        const char *tag_end = strchr(in, '>');
        if (!attr_value(in, tag_end, "name", name, sizeof(name)) ||
            !attr_value(in, tag_end, "value", value, sizeof(value)))
            continue;
        if (ttdm_url_encode(value, enc, sizeof(enc)))
            fail_msg("form value too long");
        ttdm_buf_printf(&body, "%s%s=%s", body.len ? "&" : "", name, enc);
    }
    snprintf(url, sizeof(url), "%s%s", base, action);
    h_browser_do(b, "POST", url, headers, ttdm_buf_str(&body), body.len, &r);
    ttdm_buf_cleanup(&body);
    if (r.status != 302 || !h_resp_header(&r, "Location", callback, callback_size))
        fail_msg("the TikTok login page answered %ld without a redirect: %.300s", r.status, r.body);
    h_resp_cleanup(&r);
}

void h_tiktok_login(struct h_browser *b, const char *authorize_url, const char *account,
                    char *callback, size_t callback_size)
{
    struct h_resp page;
    char base[256], marker[256];
    const char *p, *form, *form_end;
    const char *slash;

    h_browser_do(b, "GET", authorize_url, NULL, NULL, 0, &page);
    if (page.status == 302) {
        /* TikTok refused the request itself (invalid_scope...): it redirects at once. */
        if (!h_resp_header(&page, "Location", callback, callback_size))
            fail_msg("redirect without Location");
        h_resp_cleanup(&page);
        return;
    }
    if (page.status != 200 || !strstr(page.body, "Continue"))
        fail_msg("no TikTok login page (HTTP %ld): %.300s", page.status, page.body);
    /* scheme://host:port of the page, for the forms' relative actions */
    slash = strchr(authorize_url + strlen("http://"), '/');
    ttdm_strlcpy_n(base, sizeof(base), authorize_url,
                   slash ? (size_t)(slash - authorize_url) : strlen(authorize_url));
    if (account)
        snprintf(marker, sizeof(marker), "name=\"account\" value=\"%s\"", account);
    else
        snprintf(marker, sizeof(marker), "action=\"/v2/auth/authorize/cancel\"");
    p = strstr(page.body, marker);
    if (!p)
        fail_msg("the TikTok login page has no %s", account ? account : "Cancel button");
    form = p;
    while (form > page.body && strncmp(form, "<form", 5) != 0)
        form--;
    form_end = strstr(p, "</form>");
    if (!form_end)
        fail_msg("unterminated form");
    submit_form(b, base, form, form_end, callback, callback_size);
    h_resp_cleanup(&page);
}

void h_start_connect(struct h_browser *b, struct h_env *env, int64_t channel_id, char *url,
                     size_t url_size)
{
    char path[128];
    cJSON *j = NULL;
    long st;

    if (channel_id)
        snprintf(path, sizeof(path), "/api/v1/channels/%lld/reconnect", (long long)channel_id);
    else
        snprintf(path, sizeof(path), "/api/v1/channels/connect");
    st = h_browser_api(b, env, "POST", path, "{}", &j);
    if (st != 200) {
        char *s = j ? cJSON_PrintUnformatted(j) : NULL;
        fail_msg("%s answered %ld: %s", path, st, s ? s : "");
    }
    ttdm_strlcpy(url, h_str(j, "authorize_url"), url_size);
    cJSON_Delete(j);
}

cJSON *h_connect_account(struct h_browser *b, struct h_env *env, int64_t channel_id,
                         const char *account, long *status)
{
    char url[4096], callback[4096];
    const char *headers[] = {"Accept: application/json", NULL};
    struct h_resp r;
    cJSON *j;

    h_start_connect(b, env, channel_id, url, sizeof(url));
    h_tiktok_login(b, url, account, callback, sizeof(callback));
    *status = h_browser_do(b, "GET", callback, headers, NULL, 0, &r);
    j = h_resp_json(&r);
    h_resp_cleanup(&r);
    return j;
}
