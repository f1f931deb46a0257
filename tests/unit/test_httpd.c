/* test_httpd.c -- the HTTP glue: limits, deferred answers, inline routes, streams woken from
 * other threads. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/httpc.h"
#include "util/httpd.h"

/* ---- a deferred answer finished by another thread ----------------------------------- */

static void *finish_later(void *arg)
{
    struct ttdm_http_deferred *d = arg;
    usleep(20000);
    ttdm_http_resp_bytes(ttdm_http_deferred_response(d), 201, "text/plain", "later", 5);
    ttdm_http_finish(d);
    return NULL;
}

/* A deferred answer that comes while the server stops: `late_ms` after it was asked. */
static int late_ms;
static atomic_int late_asked, late_finished;

static void *finish_late(void *arg)
{
    struct ttdm_http_deferred *d = arg;
    usleep((useconds_t)late_ms * 1000);
    ttdm_http_resp_bytes(ttdm_http_deferred_response(d), 201, "text/plain", "late", 4);
    atomic_store(&late_finished, 1); /* before: the answer may be sent before finish returns */
    ttdm_http_finish(d);
    return NULL;
}

/* The same, but the answer is written on the event thread by a render callback. */
static pthread_t finisher;
static int renders;

static void render_later(struct ttdm_http_response *resp, void *ud)
{
    assert_false(pthread_equal(pthread_self(), finisher)); /* not on the finishing thread */
    renders++;
    ttdm_http_resp_bytes(resp, 202, "text/plain", ud, strlen(ud));
}

static void *finish_render_later(void *arg)
{
    finisher = pthread_self();
    usleep(5000);
    ttdm_http_finish_render(arg, render_later, "rendered");
    return NULL;
}

/* Like the store's writer: one thread answers a whole batch of deferred requests at once. */
#define BATCH 32
static pthread_mutex_t batch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ttdm_http_deferred *batch[BATCH];
static int batch_n;

static void *finish_batch(void *arg)
{
    (void)arg;
    for (int i = 0; i < BATCH; i++) {
        ttdm_http_resp_bytes(ttdm_http_deferred_response(batch[i]), 201, "text/plain", "later", 5);
        ttdm_http_finish(batch[i]);
    }
    return NULL;
}

/* A stream that sends "tick N" each time it is woken, and ends after 3. */
struct ticker {
    pthread_mutex_t lock;
    int produced, sent;
    struct ttdm_http_stream *stream;
    int freed;
};
static struct ticker ticker = {PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, 0};

static long on_pull(void *ud, char *buf, size_t max, bool heartbeat)
{
    struct ticker *t = ud;
    long n = 0;
    pthread_mutex_lock(&t->lock);
    if (t->sent == 3)
        n = -1;
    else if (t->sent < t->produced)
        n = snprintf(buf, max, "tick %d\n", ++t->sent);
    pthread_mutex_unlock(&t->lock);
    return n;
}

static void on_stream_gone(void *ud)
{
    struct ticker *t = ud;
    pthread_mutex_lock(&t->lock);
    t->stream = NULL;
    t->freed++;
    pthread_mutex_unlock(&t->lock);
}

static void *produce(void *arg)
{
    struct ticker *t = arg;
    for (int i = 0; i < 3; i++) {
        usleep(30000);
        pthread_mutex_lock(&t->lock);
        t->produced++;
        if (t->stream)
            ttdm_http_stream_wake(t->stream);
        pthread_mutex_unlock(&t->lock);
    }
    return NULL;
}

static pthread_t producer;

/* A stream that says hello once and then waits forever for news that never comes. */
static int endless_sent, endless_freed;

static long on_pull_endless(void *ud, char *buf, size_t max, bool heartbeat)
{
    if (endless_sent)
        return 0;
    endless_sent = 1;
    return snprintf(buf, max, "hello\n");
}

static void on_endless_gone(void *ud)
{
    endless_freed++;
}

/* Inline routes: "/inline/..." run on the event thread. */
static bool is_inline(void *ud, const char *method, const char *path)
{
    (void)ud;
    (void)method;
    return strncmp(path, "/inline/", 8) == 0;
}

/* 204 would drop the body. */
static const int static_status[] = {200, 201, 202, 203, 409, 410};

static void on_request(void *ud, const struct ttdm_http_request *req,
                       struct ttdm_http_response *resp)
{
    if (strcmp(req->path, "/inline/deferred") == 0) {
        /* Deferred on the event thread, finished by another one. */
        pthread_t t;
        struct ttdm_http_deferred *d = ttdm_http_defer(resp);
        assert_true(req->on_event_thread);
        pthread_create(&t, NULL, finish_later, d);
        pthread_detach(t);
        return;
    }
    if (strcmp(req->path, "/inline/batched") == 0) {
        /* Deferred until BATCH of them wait, then all finished by one thread. */
        pthread_t t;
        bool last;
        pthread_mutex_lock(&batch_lock);
        batch[batch_n++] = ttdm_http_defer(resp);
        last = batch_n == BATCH;
        if (last)
            batch_n = 0;
        pthread_mutex_unlock(&batch_lock);
        if (last) {
            pthread_create(&t, NULL, finish_batch, NULL);
            pthread_detach(t);
        }
        return;
    }
    if (strcmp(req->path, "/inline/rendered") == 0) {
        pthread_t t;
        struct ttdm_http_deferred *d = ttdm_http_defer(resp);
        pthread_create(&t, NULL, finish_render_later, d);
        pthread_join(t, NULL); /* finished before the handler returns: still rendered later */
        return;
    }
    if (strcmp(req->path, "/inline/finished") == 0) {
        /* Deferred and finished before the handler returns (a commit that was quick). */
        struct ttdm_http_deferred *d = ttdm_http_defer(resp);
        ttdm_http_resp_bytes(ttdm_http_deferred_response(d), 202, "text/plain", "quick", 5);
        ttdm_http_finish(d);
        return;
    }
    if (strcmp(req->path, "/inline/blocks") == 0) {
        /* Needs a thread: the first call hands it over, the worker answers. */
        if (req->on_event_thread) {
            ttdm_http_defer(resp);
            ttdm_http_resp_bytes(resp, 500, "text/plain", "not here", 8);
            ttdm_http_to_worker(resp);
            return;
        }
        ttdm_http_resp_bytes(resp, 200, "text/plain", "worker", 6);
        return;
    }
    if (strncmp(req->path, "/static/", 8) == 0) {
        /* Six distinct literal bodies: more than the server keeps ready-made responses for. */
        static const char *const bodies[] = {"{}", "one", "two", "three", "four", "five"};
        /* One body under two content types: two responses, each shared. */
        static const char empty_object[] = "{}";
        const char *which = req->path + 8;
        if (strcmp(which, "json") == 0) {
            ttdm_http_resp_static(resp, 200, "application/json", empty_object, 2);
        } else if (strcmp(which, "text") == 0) {
            ttdm_http_resp_static(resp, 200, "text/plain", empty_object, 2);
        } else if (strcmp(which, "header") == 0) {
            ttdm_http_resp_static(resp, 200, "application/json", "{}", 2);
            ttdm_http_resp_header(resp, "X-Static", "1");
        } else if (strcmp(which, "replaced") == 0) {
            ttdm_http_resp_static(resp, 200, "application/json", "{}", 2);
            ttdm_http_resp_bytes(resp, 409, "text/plain", "replaced", 8);
        } else if (strcmp(which, "deferred") == 0) {
            struct ttdm_http_deferred *d = ttdm_http_defer(resp);
            ttdm_http_resp_static(ttdm_http_deferred_response(d), 202, "text/plain", "later", 5);
            ttdm_http_finish(d);
        } else {
            int i = which[0] - '0';
            assert_true(i >= 0 && i < 6);
            ttdm_http_resp_static(resp, static_status[i], "text/plain", bodies[i],
                                  strlen(bodies[i]));
        }
        return;
    }
    if (strcmp(req->path, "/deferred") == 0 || strcmp(req->path, "/deferred/late") == 0) {
        pthread_t t;
        struct ttdm_http_deferred *d = ttdm_http_defer(resp);
        if (strcmp(req->path, "/deferred/late") == 0)
            atomic_store(&late_asked, 1); /* its connection is suspended already */
        pthread_create(&t, NULL, strcmp(req->path, "/deferred") == 0 ? finish_later : finish_late,
                       d);
        pthread_detach(t);
        return;
    }
    if (strcmp(req->path, "/stream") == 0) {
        pthread_mutex_lock(&ticker.lock);
        ticker.stream =
            ttdm_http_resp_stream(resp, "text/event-stream", on_pull, on_stream_gone, &ticker);
        pthread_mutex_unlock(&ticker.lock);
        pthread_create(&producer, NULL, produce, &ticker);
        return;
    }
    if (strcmp(req->path, "/cookie") == 0) {
        const char *cookie = ttdm_http_header(req, "Cookie");
        char len[32];
        int n = snprintf(len, sizeof(len), "%zu", cookie ? strlen(cookie) : 0);
        ttdm_http_resp_bytes(resp, 200, "text/plain", len, (size_t)n);
        return;
    }
    if (strcmp(req->path, "/endless") == 0) {
        ttdm_http_resp_stream(resp, "text/event-stream", on_pull_endless, on_endless_gone, NULL);
        return;
    }
    ttdm_http_resp_bytes(resp, 200, "text/plain", req->body, req->body_len);
}

static struct ttdm_httpd *start(void)
{
    struct ttdm_httpd_config cfg;
    struct ttdm_httpd *h;
    ttdm_httpd_config_default(&cfg);
    cfg.max_body = 1024;
    cfg.workers = 2;
    h = ttdm_httpd_start(&cfg, on_request, is_inline, NULL);
    assert_non_null(h);
    return h;
}

/* One request with optional extra headers ("Name: value", NULL-terminated); the answer's
 * body goes to out. */
static long request(struct ttdm_httpd *h, const char *method, const char *path,
                    const char *const *headers, const char *body, size_t body_len, char *out,
                    size_t out_size)
{
    struct ttdm_httpc *c = ttdm_httpc_new();
    struct ttdm_httpc_req req = {0};
    struct ttdm_httpc_resp resp;
    char url[128];
    long status;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)ttdm_httpd_port(h), path);
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = body_len;
    req.timeout_ms = 5000;
    ttdm_httpc_do(c, &req, &resp);
    status = resp.status;
    snprintf(out, out_size, "%s", ttdm_buf_str(&resp.body));
    ttdm_httpc_resp_cleanup(&resp);
    ttdm_httpc_free(c);
    return status;
}

static long get(struct ttdm_httpd *h, const char *method, const char *path, const char *body,
                size_t body_len, char *out, size_t out_size)
{
    return request(h, method, path, NULL, body, body_len, out, out_size);
}

static void test_body_limit_and_echo(void **state)
{
    struct ttdm_httpd *h = start();
    char out[4096], big[2048];
    assert_int_equal(get(h, "POST", "/echo", "hello", 5, out, sizeof(out)), 200);
    assert_string_equal(out, "hello");
    memset(big, 'a', sizeof(big));
    assert_int_equal(get(h, "POST", "/echo", big, sizeof(big), out, sizeof(out)), 413);
    assert_non_null(strstr(out, "body_too_large"));
    /* The connection logic still works after a refusal. */
    assert_int_equal(get(h, "POST", "/echo", "again", 5, out, sizeof(out)), 200);
    /* Exactly the maximum, allocated at once from Content-Length, comes back whole. */
    memset(big, 'b', 1024);
    assert_int_equal(get(h, "POST", "/echo", big, 1024, out, sizeof(out)), 200);
    assert_int_equal(strlen(out), 1024);
    assert_memory_equal(out, big, 1024);
    assert_int_equal(get(h, "POST", "/echo", "", 0, out, sizeof(out)), 200);
    assert_string_equal(out, "");
    ttdm_httpd_stop(h);
    (void)state;
}

/* GET /cookie with a Cookie header of `len` bytes; the answer is what the server saw. */
static long get_with_cookie(struct ttdm_httpd *h, size_t len, char *out, size_t out_size)
{
    char *header = malloc(len + 9);
    const char *headers[2] = {header, NULL};
    long status;

    memcpy(header, "Cookie: ", 8);
    memset(header + 8, 'c', len);
    header[8 + len] = '\0';
    status = request(h, "GET", "/cookie", headers, NULL, 0, out, out_size);
    free(header);
    return status;
}

/* The request line and headers must fit in about half of a connection's memory: 7 KiB of
 * headers fit in the default 16 KiB, 9 KiB get 431 and the server goes on answering; with
 * 32 KiB, 12 KiB fit. */
static void test_header_limit(void **state)
{
    struct ttdm_httpd_config cfg;
    struct ttdm_httpd *h = start();
    char out[256];

    assert_int_equal(get_with_cookie(h, 7 * 1024, out, sizeof(out)), 200);
    assert_string_equal(out, "7168");
    assert_int_equal(get_with_cookie(h, 9 * 1024, out, sizeof(out)), 431);
    assert_int_equal(get_with_cookie(h, 100, out, sizeof(out)), 200);
    assert_string_equal(out, "100");
    ttdm_httpd_stop(h);

    ttdm_httpd_config_default(&cfg);
    cfg.workers = 2;
    cfg.connection_memory_bytes = 32 * 1024;
    h = ttdm_httpd_start(&cfg, on_request, is_inline, NULL);
    assert_non_null(h);
    assert_int_equal(get_with_cookie(h, 12 * 1024, out, sizeof(out)), 200);
    assert_string_equal(out, "12288");
    ttdm_httpd_stop(h);
    (void)state;
}

/* Static bodies: one made response per body, reused; more bodies than slots; headers; a
 * body replaced after it was set; a deferred answer. */
static void test_static_bodies(void **state)
{
    static const char *const bodies[] = {"{}", "one", "two", "three", "four", "five"};
    struct ttdm_httpd *h = start();
    char out[256], path[32];

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 6; i++) {
            snprintf(path, sizeof(path), "/static/%d", i);
            assert_int_equal(get(h, "GET", path, NULL, 0, out, sizeof(out)), static_status[i]);
            assert_string_equal(out, bodies[i]);
        }
        assert_int_equal(get(h, "GET", "/static/header", NULL, 0, out, sizeof(out)), 200);
        assert_string_equal(out, "{}");
        assert_int_equal(get(h, "GET", "/static/replaced", NULL, 0, out, sizeof(out)), 409);
        assert_string_equal(out, "replaced");
        assert_int_equal(get(h, "GET", "/static/deferred", NULL, 0, out, sizeof(out)), 202);
        assert_string_equal(out, "later");
    }
    ttdm_httpd_stop(h);
    (void)state;
}

/* The whole answer to a raw request (status line, headers, body), read until the server
 * closes: the HTTP client of the other tests shows neither headers nor HEAD. */
static void raw_request(struct ttdm_httpd *h, const char *method, const char *path, char *out,
                        size_t out_size)
{
    struct sockaddr_in a;
    char req[256];
    size_t got = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int n;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(ttdm_httpd_port(h));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                 method, path);
    assert_int_equal(send(fd, req, (size_t)n, 0), n);
    while (got + 1 < out_size && (n = (int)recv(fd, out + got, out_size - 1 - got, 0)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fd);
}

/* The shared responses carry their own Content-Type; headers added to a static body and HEAD
 * requests still work. */
static void test_static_headers(void **state)
{
    struct ttdm_httpd *h = start();
    char out[2048];

    for (int round = 0; round < 2; round++) {
        raw_request(h, "GET", "/static/json", out, sizeof(out));
        assert_non_null(strstr(out, "HTTP/1.1 200"));
        assert_non_null(strstr(out, "Content-Type: application/json\r\n"));
        assert_non_null(strstr(out, "\r\n\r\n{}"));
        raw_request(h, "GET", "/static/text", out, sizeof(out));
        assert_non_null(strstr(out, "Content-Type: text/plain\r\n"));
        assert_non_null(strstr(out, "\r\n\r\n{}"));
        raw_request(h, "GET", "/static/header", out, sizeof(out));
        assert_non_null(strstr(out, "X-Static: 1\r\n"));
        assert_non_null(strstr(out, "Content-Type: application/json\r\n"));
        raw_request(h, "HEAD", "/static/json", out, sizeof(out));
        assert_non_null(strstr(out, "HTTP/1.1 200"));
        assert_non_null(strstr(out, "Content-Length: 2\r\n"));
        assert_string_equal(strstr(out, "\r\n\r\n"), "\r\n\r\n"); /* no body */
    }
    ttdm_httpd_stop(h);
    (void)state;
}

static void test_deferred_answer(void **state)
{
    struct ttdm_httpd *h = start();
    char out[256];
    assert_int_equal(get(h, "GET", "/deferred", NULL, 0, out, sizeof(out)), 201);
    assert_string_equal(out, "later");
    ttdm_httpd_stop(h);
    (void)state;
}

static void test_inline_routes(void **state)
{
    struct ttdm_httpd *h = start();
    char out[256];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(get(h, "POST", "/inline/deferred", "x", 1, out, sizeof(out)), 201);
        assert_string_equal(out, "later");
        assert_int_equal(get(h, "POST", "/inline/finished", "x", 1, out, sizeof(out)), 202);
        assert_string_equal(out, "quick");
        assert_int_equal(get(h, "POST", "/inline/blocks", "x", 1, out, sizeof(out)), 200);
        assert_string_equal(out, "worker");
    }
    ttdm_httpd_stop(h);
    (void)state;
}

static void test_rendered_on_the_event_thread(void **state)
{
    struct ttdm_httpd *h = start();
    char out[256];
    renders = 0;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(get(h, "POST", "/inline/rendered", "x", 1, out, sizeof(out)), 202);
        assert_string_equal(out, "rendered");
    }
    assert_int_equal(renders, 5);
    ttdm_httpd_stop(h);
    (void)state;
}

/* Many transfers at once on one thread: 32 answers that each take 20 ms arrive together. */
static int multi_ok;

static void on_multi_done(void *ud, int rc, const struct ttdm_httpc_resp *resp)
{
    (void)ud;
    if (rc == 0 && resp->status == 201 && strcmp(ttdm_buf_str(&resp->body), "later") == 0)
        multi_ok++;
}

/* req: POST of the one-byte body "x" to path; url is its storage. */
static void post_x(struct ttdm_httpd *h, const char *path, char *url, size_t url_size,
                   struct ttdm_httpc_req *req)
{
    snprintf(url, url_size, "http://127.0.0.1:%u%s", (unsigned)ttdm_httpd_port(h), path);
    memset(req, 0, sizeof(*req));
    req->method = "POST";
    req->url = url;
    req->body = "x";
    req->body_len = 1;
    req->timeout_ms = 5000;
}

/* A batch answered at once by one thread: the first connection is resumed by that thread,
 * the event thread resumes the others; every answer arrives, twice in a row. */
static void test_batch_answered_by_one_thread(void **state)
{
    struct ttdm_httpd *h = start();
    struct ttdm_httpc_multi *m = ttdm_httpc_multi_new(BATCH);
    struct ttdm_httpc_req req;
    char url[128];

    post_x(h, "/inline/batched", url, sizeof(url), &req);
    multi_ok = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < BATCH; i++)
            assert_int_equal(ttdm_httpc_multi_add(m, &req, on_multi_done, NULL), 0);
        while (ttdm_httpc_multi_running(m) > 0)
            ttdm_httpc_multi_run(m, 1000);
        assert_int_equal(multi_ok, (round + 1) * BATCH);
    }
    ttdm_httpc_multi_free(m);
    ttdm_httpd_stop(h);
    (void)state;
}

/* A connection to the server, with a 5 s limit on every read. */
static int raw_connect(struct ttdm_httpd *h)
{
    struct sockaddr_in addr = {0};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(ttdm_httpd_port(h));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* The first connection of the batch, the one its finishing thread resumes itself, is gone by
 * then: the event thread must still resume the others. */
static void test_batch_whose_first_client_left(void **state)
{
    static const char req[] =
        "POST /inline/batched HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx";
    struct ttdm_httpd *h = start();
    int fds[BATCH], waiting = 0;
    char buf[256];

    for (int i = 0; i < BATCH; i++)
        fds[i] = raw_connect(h);
    assert_int_equal(send(fds[0], req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
    for (int tries = 0; tries < 500 && waiting == 0; tries++) {
        usleep(2000);
        pthread_mutex_lock(&batch_lock);
        waiting = batch_n;
        pthread_mutex_unlock(&batch_lock);
    }
    assert_int_equal(waiting, 1);
    close(fds[0]);
    for (int i = 1; i < BATCH; i++)
        assert_int_equal(send(fds[i], req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
    for (int i = 1; i < BATCH; i++) {
        ssize_t n = recv(fds[i], buf, sizeof(buf) - 1, 0);
        assert_true(n > 12);
        buf[n] = '\0';
        assert_memory_equal(buf, "HTTP/1.1 201", 12);
        close(fds[i]);
    }
    ttdm_httpd_stop(h);
    (void)state;
}

static void test_many_transfers_on_one_thread(void **state)
{
    struct ttdm_httpd *h = start();
    struct ttdm_httpc_multi *m = ttdm_httpc_multi_new(32);
    struct ttdm_httpc_req req;
    struct timespec t0, t1;
    char url[128];
    double ms;

    post_x(h, "/inline/deferred", url, sizeof(url), &req);
    multi_ok = 0;
    for (int round = 0; round < 2; round++) { /* the second round reuses the connections */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < 32; i++)
            assert_int_equal(ttdm_httpc_multi_add(m, &req, on_multi_done, NULL), 0);
        assert_int_equal(ttdm_httpc_multi_running(m), 32);
        while (ttdm_httpc_multi_running(m) > 0)
            ttdm_httpc_multi_run(m, 1000);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        /* One after the other they would take 32 x 20 ms. */
        assert_true(ms < 32 * 20 / 2);
    }
    assert_int_equal(multi_ok, 64);
    ttdm_httpc_multi_free(m);
    ttdm_httpd_stop(h);
    (void)state;
}

static void test_stream_woken_from_another_thread(void **state)
{
    struct ttdm_httpd *h = start();
    char out[256];
    assert_int_equal(get(h, "GET", "/stream", NULL, 0, out, sizeof(out)), 200);
    assert_string_equal(out, "tick 1\ntick 2\ntick 3\n");
    pthread_join(producer, NULL);
    ttdm_httpd_stop(h);
    assert_int_equal(ticker.freed, 1);
    (void)state;
}

struct client_call {
    struct ttdm_httpd *h;
    long status;
    char out[256];
};

static void *call_endless(void *arg)
{
    struct client_call *cc = arg;
    cc->status = get(cc->h, "GET", "/endless", NULL, 0, cc->out, sizeof(cc->out));
    return NULL;
}

static void test_stop_ends_parked_streams(void **state)
{
    struct ttdm_httpd *h = start();
    struct client_call cc = {h, 0, ""};
    pthread_t t;
    struct timespec t0, t1;

    pthread_create(&t, NULL, call_endless, &cc);
    usleep(200000); /* the stream has said hello and is parked */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ttdm_httpd_stop(h);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(t, NULL);
    assert_true(t1.tv_sec - t0.tv_sec < 3);
    assert_int_equal(endless_freed, 1);
    assert_string_equal(cc.out, "hello\n");
    (void)state;
}

static void *call_late(void *arg)
{
    struct client_call *cc = arg;
    cc->status = get(cc->h, "GET", "/deferred/late", NULL, 0, cc->out, sizeof(cc->out));
    return NULL;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* A request whose answer comes 600 ms after it was asked, on a server with `stop_wait_ms`
 * stopped as soon as the request waits: the client gets the answer in every case. */
struct late_run {
    struct ttdm_httpd *h;
    struct client_call cc;
    double stop_ms;       /* how long ttdm_httpd_stop took */
    int finished_at_stop; /* the answer was finished when stop returned */
};

static void stop_during_late_answer(unsigned stop_wait_ms, struct late_run *run)
{
    struct ttdm_httpd_config cfg;
    struct timespec t0, t1;
    pthread_t client;

    ttdm_httpd_config_default(&cfg);
    cfg.stop_wait_ms = stop_wait_ms;
    run->h = ttdm_httpd_start(&cfg, on_request, is_inline, NULL);
    assert_non_null(run->h);
    run->cc.h = run->h;
    late_ms = 600;
    atomic_store(&late_asked, 0);
    atomic_store(&late_finished, 0);
    pthread_create(&client, NULL, call_late, &run->cc);
    for (int i = 0; i < 1000 && !atomic_load(&late_asked); i++)
        usleep(5000);
    assert_int_equal(atomic_load(&late_asked), 1); /* its answer is due in 600 ms */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ttdm_httpd_stop(run->h);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    run->stop_ms = ms_between(&t0, &t1);
    run->finished_at_stop = atomic_load(&late_finished);
    pthread_join(client, NULL);
    assert_int_equal(atomic_load(&late_finished), 1);
    assert_int_equal(run->cc.status, 201);
    assert_string_equal(run->cc.out, "late");
}

/* Within stop_wait_ms: stop waits for the answer. */
static void test_stop_waits_for_deferred_answers(void **state)
{
    struct late_run run = {0};
    stop_during_late_answer(5000, &run);
    assert_int_equal(run.finished_at_stop, 1);
    assert_true(run.stop_ms >= 300);
    (void)state;
}

/* After stop_wait_ms: stop returns without stopping libmicrohttpd (which aborts when
 * stopped with a suspended connection) or freeing what the answer needs, and the answer is
 * still sent. The server stays reachable from here, as it stays until a process exits. */
static struct late_run left_running;

static void test_stop_leaves_late_answers_a_server(void **state)
{
    stop_during_late_answer(100, &left_running);
    assert_int_equal(left_running.finished_at_stop, 0); /* stop did not wait for it */
    assert_true(left_running.stop_ms < 400);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_limit_and_echo),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_deferred_answer),
        cmocka_unit_test(test_static_bodies),
        cmocka_unit_test(test_static_headers),
        cmocka_unit_test(test_inline_routes),
        cmocka_unit_test(test_rendered_on_the_event_thread),
        cmocka_unit_test(test_many_transfers_on_one_thread),
        cmocka_unit_test(test_batch_answered_by_one_thread),
        cmocka_unit_test(test_batch_whose_first_client_left),
        cmocka_unit_test(test_stream_woken_from_another_thread),
        cmocka_unit_test(test_stop_ends_parked_streams),
        cmocka_unit_test(test_stop_waits_for_deferred_answers),
        cmocka_unit_test(test_stop_leaves_late_answers_a_server), /* last: leaves a server */
    };
    ttdm_httpc_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
