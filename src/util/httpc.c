/* httpc.c -- a small blocking HTTP client on libcurl, with reused connections per handle. */
#include "util/httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
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

/*
 * Sets up `h` for `req` (after a reset), answering into `resp`. The header list and the
 * form are the caller's to free once the transfer is over. With copy_body the body is
 * copied into the handle (a transfer that outlives the request).
 */
static void easy_setup(CURL *h, const struct ttdm_httpc_req *req, struct ttdm_httpc_resp *resp,
                       struct curl_slist **hdrs_out, curl_mime **mime_out, bool copy_body)
{
    struct curl_slist *hdrs = NULL;
    curl_mime *mime = NULL;

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
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, copy_body ? CURLOPT_COPYPOSTFIELDS : CURLOPT_POSTFIELDS, req->body);
    }
    if (req->method && strcmp(req->method, "GET") == 0 && !req->body && !req->n_parts)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    else if (req->method && strcmp(req->method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    else if (!req->body && !req->n_parts) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    *hdrs_out = hdrs;
    *mime_out = mime;
}

/* The outcome of a finished transfer: 0 with the status, or -1 with the error. */
static int easy_result(CURL *h, CURLcode cc, struct ttdm_httpc_resp *resp)
{
    if (cc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(cc));
        resp->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        resp->status = 0;
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    return 0;
}

int ttdm_httpc_do(struct ttdm_httpc *c, const struct ttdm_httpc_req *req,
                  struct ttdm_httpc_resp *resp)
{
    struct curl_slist *hdrs = NULL;
    curl_mime *mime = NULL;
    int rc;

    easy_setup(c->curl, req, resp, &hdrs, &mime, false);
    rc = easy_result(c->curl, curl_easy_perform(c->curl), resp);
    curl_slist_free_all(hdrs);
    curl_mime_free(mime);
    return rc;
}

/* ---- many transfers on one thread ------------------------------------------------------ */

struct transfer {
    CURL *easy;
    struct curl_slist *hdrs;
    curl_mime *mime;
    struct ttdm_httpc_resp resp;
    ttdm_httpc_done_fn done;
    void *ud;
    struct transfer *next; /* free list */
};

struct ttdm_httpc_multi {
    CURLM *multi;
    struct transfer *free_list; /* finished transfers keep their easy handle for the next */
    int running;
};

struct ttdm_httpc_multi *ttdm_httpc_multi_new(long max_connections)
{
    struct ttdm_httpc_multi *m = ttdm_calloc(1, sizeof(*m));
    ttdm_httpc_global_init();
    m->multi = curl_multi_init();
    if (!m->multi) {
        fprintf(stderr, "fatal: curl_multi_init failed\n");
        abort();
    }
    /* Keep a connection for every transfer that may run at once: closing one to open
     * another costs a handshake (and, with TLS, far more) per request. */
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, max_connections > 0 ? max_connections : 8L);
    return m;
}

void ttdm_httpc_multi_free(struct ttdm_httpc_multi *m)
{
    if (!m)
        return;
    while (m->free_list) {
        struct transfer *t = m->free_list;
        m->free_list = t->next;
        curl_easy_cleanup(t->easy);
        ttdm_free(t);
    }
    curl_multi_cleanup(m->multi);
    ttdm_free(m);
}

int ttdm_httpc_multi_add(struct ttdm_httpc_multi *m, const struct ttdm_httpc_req *req,
                         ttdm_httpc_done_fn done, void *ud)
{
    struct transfer *t = m->free_list;

    if (t) {
        m->free_list = t->next;
    } else {
        t = ttdm_calloc(1, sizeof(*t));
        t->easy = curl_easy_init();
        if (!t->easy) {
            ttdm_free(t);
            return -1;
        }
    }
    easy_setup(t->easy, req, &t->resp, &t->hdrs, &t->mime, true);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    t->done = done;
    t->ud = ud;
    if (curl_multi_add_handle(m->multi, t->easy) != CURLM_OK) {
        curl_slist_free_all(t->hdrs);
        curl_mime_free(t->mime);
        ttdm_httpc_resp_cleanup(&t->resp);
        t->next = m->free_list;
        m->free_list = t;
        return -1;
    }
    m->running++;
    return 0;
}

int ttdm_httpc_multi_run(struct ttdm_httpc_multi *m, int timeout_ms)
{
    CURLMsg *msg;
    int still = 0, left = 0, finished = 0;

    /* Wait unless a transfer has just finished (a failed perform waits too: no spinning). */
    if (curl_multi_perform(m->multi, &still) != CURLM_OK || still >= m->running)
        curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(m->multi, &still);
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        struct transfer *t = NULL;
        int rc;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        rc = easy_result(t->easy, msg->data.result, &t->resp);
        curl_multi_remove_handle(m->multi, t->easy);
        curl_slist_free_all(t->hdrs);
        curl_mime_free(t->mime);
        t->hdrs = NULL;
        t->mime = NULL;
        m->running--;
        finished++;
        t->done(t->ud, rc, &t->resp);
        ttdm_httpc_resp_cleanup(&t->resp);
        t->next = m->free_list;
        m->free_list = t;
    }
    return finished;
}

int ttdm_httpc_multi_running(const struct ttdm_httpc_multi *m)
{
    return m->running;
}

void ttdm_httpc_multi_wakeup(struct ttdm_httpc_multi *m)
{
    curl_multi_wakeup(m->multi);
}

void ttdm_httpc_resp_cleanup(struct ttdm_httpc_resp *resp)
{
    ttdm_buf_cleanup(&resp->body);
}
