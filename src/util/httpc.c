/* httpc.c -- a small blocking HTTP client on libcurl, with reused connections per handle. */
#include "util/httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

struct ttdm_httpc {
    CURL *curl;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ttdm_httpc_global_init(void)
{
    pthread_once(&global_once, global_init_once);
}

struct ttdm_httpc *ttdm_httpc_new(void)
{
    struct ttdm_httpc *c = ttdm_calloc(1, sizeof(*c));
    ttdm_httpc_global_init();
    c->curl = curl_easy_init();
    if (!c->curl) {
        fprintf(stderr, "fatal: curl_easy_init failed\n");
        abort();
    }
    return c;
}

void ttdm_httpc_free(struct ttdm_httpc *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    ttdm_free(c);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct ttdm_buf *b = ud;
    size_t n = size * nmemb;
    if (ttdm_buf_append(b, ptr, n))
        return 0; /* makes curl fail with CURLE_WRITE_ERROR: response too big */
    return n;
}

int ttdm_httpc_do(struct ttdm_httpc *c, const struct ttdm_httpc_req *req,
                  struct ttdm_httpc_resp *resp)
{
    CURL *h = c->curl;
    struct curl_slist *hdrs = NULL;
    curl_mime *mime = NULL;
    CURLcode cc;
    int rc = 0;

    memset(resp, 0, sizeof(*resp));
    ttdm_buf_init(&resp->body, req->max_response ? req->max_response : 8u * 1024 * 1024);

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms ? req->timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp->body);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    /* Only plain HTTP(S); never follow redirects to somewhere we did not choose. */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    for (const char *const *p = req->headers; p && *p; p++)
        hdrs = curl_slist_append(hdrs, *p);
    /* Avoid "Expect: 100-continue" round trips on bodies over 1 KiB. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    if (req->n_parts) {
        mime = curl_mime_init(h);
        for (size_t i = 0; i < req->n_parts; i++) {
            const struct ttdm_httpc_part *pt = &req->parts[i];
            curl_mimepart *mp = curl_mime_addpart(mime);
            curl_mime_name(mp, pt->name);
            curl_mime_data(mp, pt->data, pt->len);
            if (pt->filename)
                curl_mime_filename(mp, pt->filename);
            if (pt->content_type)
                curl_mime_type(mp, pt->content_type);
        }
        curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
    } else if (req->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (req->method && strcmp(req->method, "GET") == 0 && !req->body && !req->n_parts)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    else if (req->method && strcmp(req->method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    else if (!req->body && !req->n_parts) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }

    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(cc));
        resp->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        resp->status = 0;
        rc = -1;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    }
    curl_slist_free_all(hdrs);
    curl_mime_free(mime);
    return rc;
}

void ttdm_httpc_resp_cleanup(struct ttdm_httpc_resp *resp)
{
    ttdm_buf_cleanup(&resp->body);
}
