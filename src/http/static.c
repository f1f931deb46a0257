/* static.c -- the dashboard's files, embedded in the binary at build time, served over HTTP. */
#include "http/static.h"

#include <stdlib.h>
#include <string.h>

#include "web_assets.h"

/*
 * The dashboard loads nothing from elsewhere, runs no inline script or style and may not be
 * framed; images may be data: or blob: URLs because media and badge previews are fetched
 * with credentials and shown from memory.
 */
#define CSP                                                                                        \
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "        \
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'"

/* URLs /app/<path> map to web/<path>; "/" and the single-page routes get index.html. */
#define APP_PREFIX "/app/"
#define INDEX "index.html"

static int compare_path(const void *key, const void *elem)
{
    const struct ttdm_web_asset *a = elem;
    return strcmp(key, a->path);
}

static const struct ttdm_web_asset *find_asset(const char *rel)
{
    return bsearch(rel, ttdm_web_assets, ttdm_web_assets_count, sizeof(ttdm_web_assets[0]),
                   compare_path);
}

/* The path's last segment looks like a file name ("app.js"), not a page ("inbox"). */
static bool names_a_file(const char *path)
{
    const char *last = strrchr(path, '/');
    return strchr(last ? last + 1 : path, '.') != NULL;
}

/*
 * Which embedded file answers `path`: an asset by its exact name, else index.html for "/"
 * and for page routes under /app/ (the client-side router reads the path). NULL for a
 * missing file under /app/ (*ours is then true) and for paths that are not the dashboard's.
 */
static const struct ttdm_web_asset *resolve(const char *path, bool *ours)
{
    const struct ttdm_web_asset *a;

    *ours = false;
    if (strcmp(path, "/") == 0 || strcmp(path, "/app") == 0) {
        *ours = true;
        return find_asset(INDEX);
    }
    if (strncmp(path, APP_PREFIX, strlen(APP_PREFIX)) != 0)
        return NULL;
    *ours = true;
    a = find_asset(path + strlen(APP_PREFIX));
    if (a)
        return a;
    if (names_a_file(path))
        return NULL;
    return find_asset(INDEX);
}

/* True when If-None-Match lists `etag` (weak or strong) or is "*". */
static bool etag_matches(const char *if_none_match, const char *etag)
{
    const char *p = if_none_match;
    size_t etag_len = strlen(etag);

    while (p && *p) {
        size_t len;
        p += strspn(p, " \t,");
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        len = strcspn(p, " \t,");
        if ((len == 1 && *p == '*') || (len == etag_len && memcmp(p, etag, len) == 0))
            return true;
        p += len;
    }
    return false;
}

static void add_security_headers(struct ttdm_http_response *resp)
{
    ttdm_http_resp_header(resp, "Content-Security-Policy", CSP);
    ttdm_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
    ttdm_http_resp_header(resp, "Referrer-Policy", "no-referrer");
    ttdm_http_resp_header(resp, "X-Frame-Options", "DENY");
}

static void answer_text(struct ttdm_http_response *resp, int status, const char *text)
{
    ttdm_http_resp_bytes(resp, status, "text/plain; charset=utf-8", text, strlen(text));
    add_security_headers(resp);
}

bool ttdm_static_serve(const struct ttdm_http_request *req, struct ttdm_http_response *resp)
{
    bool ours, head = strcmp(req->method, "HEAD") == 0;
    const struct ttdm_web_asset *a = resolve(req->path, &ours);
    const char *inm;

    if (!ours)
        return false;
    if (!head && strcmp(req->method, "GET") != 0) {
        answer_text(resp, 405, "The dashboard's pages and files accept GET and HEAD only.\n");
        ttdm_http_resp_header(resp, "Allow", "GET, HEAD");
        return true;
    }
    if (!a) {
        answer_text(resp, 404, "No such file in the dashboard.\n");
        return true;
    }
    /*
     * File names carry no version, so browsers must ask again each time (no-cache); the
     * ETag, which changes with the bytes, turns that into a 304 without a body.
     */
    inm = ttdm_http_header(req, "If-None-Match");
    if (inm && etag_matches(inm, a->etag))
        ttdm_http_resp_bytes(resp, 304, a->content_type, "", 0);
    else
        ttdm_http_resp_bytes(resp, 200, a->content_type, a->data, a->len);
    ttdm_http_resp_header(resp, "ETag", a->etag);
    ttdm_http_resp_header(resp, "Cache-Control", "no-cache");
    add_security_headers(resp);
    return true;
}
