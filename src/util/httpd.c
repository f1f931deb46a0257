/* httpd.c -- libmicrohttpd glue: epoll loop, bounded bodies, handlers run on a worker pool. */
#include "util/httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"

/* Bodies declared at most this long are allocated at once (see on_access). */
#define BODY_RESERVE_MAX (64 * 1024)

enum req_state {
    REQ_READING = 0, /* body still arriving */
    REQ_QUEUED,      /* suspended, waiting for a worker */
    REQ_DONE,        /* response filled, ready to be queued to MHD */
};

struct req_ctx {
    struct ttdm_http_response resp; /* first: a deferred handle is the response's address */
    struct ttdm_http_request req;
    struct ttdm_httpd *h;
    struct ttdm_buf body;
    bool too_big;
    bool counted;   /* counted in ttdm_httpd.unanswered until on_completed */
    bool held;      /* counted in ttdm_httpd.held until its response is queued */
    bool deferred;  /* the handler called ttdm_http_defer */
    bool to_worker; /* an inline handler asked for a worker */
    /* With a deferred answer, both the worker's return and ttdm_http_finish must happen
     * before the connection is resumed (either may come first); the last one resumes. */
    atomic_int pending;
    enum req_state state;
    ttdm_http_render_fn render; /* ttdm_http_finish_render: writes resp on the event thread */
    void *render_ud;
    struct req_ctx *next;        /* worker queue link */
    struct req_ctx *resume_next; /* ttdm_httpd.resume link */
};

/* A render left by ttdm_http_finish_render runs once, here or when the connection ends. */
static void run_render(struct req_ctx *ctx)
{
    ttdm_http_render_fn render = ctx->render;
    if (!render)
        return;
    ctx->render = NULL;
    render(&ctx->resp, ctx->render_ud);
}

struct ttdm_http_stream {
    struct ttdm_httpd *h;
    struct MHD_Connection *conn;
    ttdm_http_pull_fn pull;
    ttdm_http_stream_free_fn on_free;
    void *ud;
    pthread_mutex_t lock; /* guards parked, woken, heartbeat */
    bool parked;          /* suspended until woken */
    bool woken;           /* a wake arrived while not parked */
    bool heartbeat;
    bool closing;                         /* the server stops: end the stream */
    struct ttdm_http_stream *prev, *next; /* h->streams list, under h->lock */
};

#define SHARED_RESPONSES 4

struct ttdm_httpd {
    struct MHD_Daemon *daemon;
    struct ttdm_httpd_config cfg;
    ttdm_http_handler_fn handler;
    ttdm_http_inline_fn is_inline;
    void *ud;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct req_ctx *head, *tail;
    bool stopping;
    /* Requests whose body has arrived, counted before `closing` is read. `held`: until
     * their response is queued (each may be suspended meanwhile, and libmicrohttpd aborts
     * when stopped under a suspended connection); `unanswered`: until on_completed (the
     * answer is sent or the connection gone). Stop waits for both. */
    atomic_int held;
    atomic_int unanswered;
    /* Set when stopping starts: requests that still arrive on open connections are
     * answered 503 on the event thread, so no new one is suspended. */
    atomic_bool closing;
    pthread_t *workers;
    unsigned n_workers;
    /* Connections answered on other threads, to be resumed by the event thread (see
     * resume_soon): NULL, RESUME_ARMED, or a list ending in RESUME_ARMED. */
    _Atomic(struct req_ctx *) resume;
    struct ttdm_http_stream *streams; /* live streams, under lock */
    unsigned n_streams;
    pthread_t heartbeat_thread;
    pthread_cond_t heartbeat_cond;
    bool heartbeat_started;
    /* Responses of ttdm_http_resp_static bodies, made on first use under shared_lock and
     * published by `mr` (set last, never changed until stop): read without a lock. */
    pthread_mutex_t shared_lock;
    struct shared_response {
        const void *data;
        size_t len;
        const char *content_type;
        _Atomic(struct MHD_Response *) mr;
    } shared[SHARED_RESPONSES];
};

/*
 * Resuming a connection costs its caller libmicrohttpd's lock and a write to its wake-up
 * descriptor, and the write wakes the event thread. The writer answers a whole commit's
 * webhooks at once, on its serial path, so other threads resume only the first connection
 * of a burst themselves; the event thread resumes the rest in its next callback, which that
 * first connection guarantees (libmicrohttpd calls on_access for its answer, or
 * on_completed when it is gone).
 */
#define RESUME_ARMED ((struct req_ctx *)(uintptr_t)1)

/* Resumes ctx's connection, now or from the event thread's next callback. Any thread. */
static void resume_soon(struct ttdm_httpd *h, struct req_ctx *ctx)
{
    struct req_ctx *old = atomic_load(&h->resume);
    for (;;) {
        if (old == NULL) {
            if (atomic_compare_exchange_weak(&h->resume, &old, RESUME_ARMED)) {
                MHD_resume_connection(ctx->req.conn);
                return;
            }
            continue;
        }
        ctx->resume_next = old;
        if (atomic_compare_exchange_weak(&h->resume, &old, ctx))
            return;
    }
}

/*
 * Resumes what resume_soon left, in the order it was answered; on the event thread, at the
 * start of every callback. It takes the list once: each connection it resumes brings
 * another callback, so later additions wait for that one instead of holding this one. Only
 * a callback that finds nothing left disarms.
 */
static void resume_pending(struct ttdm_httpd *h)
{
    struct req_ctx *list = atomic_load(&h->resume), *fifo = NULL;
    for (;;) {
        if (list == NULL)
            return;
        if (list == RESUME_ARMED) {
            if (atomic_compare_exchange_weak(&h->resume, &list, NULL))
                return;
            continue; /* something was added: take it */
        }
        if (atomic_compare_exchange_weak(&h->resume, &list, RESUME_ARMED))
            break;
    }
    while (list != RESUME_ARMED) { /* newest first: reverse it */
        struct req_ctx *next = list->resume_next;
        list->resume_next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        struct req_ctx *next = fifo->resume_next; /* fifo may be gone once resumed */
        MHD_resume_connection(fifo->req.conn);
        fifo = next;
    }
}

void ttdm_httpd_config_default(struct ttdm_httpd_config *cfg)
{
    cfg->bind_addr = "127.0.0.1";
    cfg->port = 0;
    cfg->max_body = 1024 * 1024;
    cfg->workers = 8;
    cfg->event_threads = 1;
    cfg->connection_limit = 1024;
    cfg->timeout_s = 60;
    /* libmicrohttpd zeroes all of it after every request: at 16 KiB instead of 32 the event
     * thread and the writer beside it do measurably less (PERFORMANCE.md, ninth round).
     * The request line and headers must fit in about half of it. */
    cfg->connection_memory_bytes = 16 * 1024;
    cfg->heartbeat_s = 15;
    cfg->stop_wait_ms = 60000;
}

static void resp_init(struct ttdm_http_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    resp->content_type = "application/json";
    /* Response bodies are ours (bounded by what we store), so the cap is generous. */
    ttdm_buf_init(&resp->body, 64u * 1024 * 1024);
}

static void resp_cleanup(struct ttdm_http_response *resp)
{
    if (resp->stream) { /* made but never sent (the connection failed first) */
        resp->stream->on_free(resp->stream->ud);
        pthread_mutex_destroy(&resp->stream->lock);
        ttdm_free(resp->stream);
        resp->stream = NULL;
    }
    ttdm_buf_cleanup(&resp->body);
    for (int i = 0; i < resp->n_headers; i++) {
        ttdm_free(resp->header_names[i]);
        ttdm_free(resp->header_values[i]);
    }
    resp->n_headers = 0;
}

void ttdm_http_resp_header(struct ttdm_http_response *resp, const char *name, const char *value)
{
    if (resp->n_headers >= TTDM_HTTP_MAX_RESP_HEADERS) {
        LOG_ERROR("httpd", "too many response headers, dropping %s", name);
        return;
    }
    resp->header_names[resp->n_headers] = ttdm_strdup(name);
    resp->header_values[resp->n_headers] = ttdm_strdup(value);
    resp->n_headers++;
}

void ttdm_http_resp_bytes(struct ttdm_http_response *resp, int status, const char *content_type,
                          const void *data, size_t len)
{
    resp->status = status;
    resp->content_type = content_type;
    resp->static_body = NULL;
    ttdm_buf_reset(&resp->body);
    if (ttdm_buf_append(&resp->body, data, len)) {
        LOG_ERROR("httpd", "response of %zu bytes over the limit", len);
        resp->status = 500;
        ttdm_buf_reset(&resp->body);
    }
}

void ttdm_http_resp_static(struct ttdm_http_response *resp, int status, const char *content_type,
                           const void *data, size_t len)
{
    resp->status = status;
    resp->content_type = content_type;
    ttdm_buf_reset(&resp->body);
    resp->static_body = data;
    resp->static_len = len;
}

void ttdm_http_resp_json(struct ttdm_http_response *resp, int status, cJSON *json)
{
    char *s = ttdm_json_print(json);
    ttdm_http_resp_bytes(resp, status, "application/json", s, strlen(s));
    cJSON_free(s);
    cJSON_Delete(json);
}

void ttdm_http_resp_error(struct ttdm_http_response *resp, int status, const char *code,
                          const char *message, cJSON *extra)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", message);
    if (extra) {
        cJSON *child = extra->child;
        while (child) {
            cJSON *next = child->next;
            cJSON_AddItemToObject(err, child->string, cJSON_DetachItemViaPointer(extra, child));
            child = next;
        }
        cJSON_Delete(extra);
    }
    ttdm_http_resp_json(resp, status, root);
}

const char *ttdm_http_header(const struct ttdm_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *ttdm_http_query(const struct ttdm_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *ttdm_http_cookie(const struct ttdm_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

struct ttdm_http_stream *ttdm_http_resp_stream(struct ttdm_http_response *resp,
                                               const char *content_type, ttdm_http_pull_fn pull,
                                               ttdm_http_stream_free_fn on_free, void *ud)
{
    struct ttdm_http_stream *st = ttdm_calloc(1, sizeof(*st));
    st->pull = pull;
    st->on_free = on_free;
    st->ud = ud;
    pthread_mutex_init(&st->lock, NULL);
    resp->status = 200;
    resp->content_type = content_type;
    resp->stream = st;
    return st;
}

/* Resumes a parked stream; called with st->lock held. */
static void unpark(struct ttdm_http_stream *st)
{
    if (st->parked) {
        st->parked = false;
        MHD_resume_connection(st->conn);
    } else {
        st->woken = true;
    }
}

void ttdm_http_stream_wake(struct ttdm_http_stream *st)
{
    pthread_mutex_lock(&st->lock);
    unpark(st);
    pthread_mutex_unlock(&st->lock);
}

static ssize_t on_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct ttdm_http_stream *st = cls;
    bool heartbeat;
    long n;

    resume_pending(st->h);
    pthread_mutex_lock(&st->lock);
    if (st->closing) {
        pthread_mutex_unlock(&st->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    heartbeat = st->heartbeat;
    st->heartbeat = false;
    st->woken = false;
    pthread_mutex_unlock(&st->lock);

    /* pull runs unlocked: publishers hold their own lock while they wake us. */
    n = st->pull(st->ud, buf, max, heartbeat);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n == 0) {
        pthread_mutex_lock(&st->lock);
        /* A wake that came during pull set `woken`: then return 0 and be called again
         * at once; otherwise park without spinning until a publisher or the heartbeat. */
        if (!st->woken && !st->closing) {
            st->parked = true;
            MHD_suspend_connection(st->conn);
        }
        pthread_mutex_unlock(&st->lock);
    }
    return (ssize_t)n;
}

static void on_stream_free(void *cls)
{
    struct ttdm_http_stream *st = cls;
    struct ttdm_httpd *h = st->h;

    st->on_free(st->ud);
    pthread_mutex_lock(&h->lock);
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h->n_streams--;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_destroy(&st->lock);
    ttdm_free(st);
}

/* Wakes every stream: for a heartbeat, or for the end when the server stops. */
static void wake_streams(struct ttdm_httpd *h, bool closing)
{
    for (struct ttdm_http_stream *st = h->streams; st; st = st->next) {
        pthread_mutex_lock(&st->lock);
        if (closing)
            st->closing = true;
        else
            st->heartbeat = true;
        unpark(st);
        pthread_mutex_unlock(&st->lock);
    }
}

static void *heartbeat_main(void *arg)
{
    struct ttdm_httpd *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += h->cfg.heartbeat_s ? h->cfg.heartbeat_s : 15;
        pthread_cond_timedwait(&h->heartbeat_cond, &h->lock, &ts);
        wake_streams(h, h->stopping);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static enum MHD_Result queue_stream(struct ttdm_httpd *h, struct MHD_Connection *conn,
                                    struct req_ctx *ctx)
{
    struct ttdm_http_response *r = &ctx->resp;
    struct ttdm_http_stream *st = r->stream;
    struct MHD_Response *mr;
    enum MHD_Result ok;

    st->h = h;
    st->conn = conn;
    r->stream = NULL; /* owned by the MHD response from now on */
    pthread_mutex_lock(&h->lock);
    /* A stream that starts after stop has ended the others ends at its first read: nothing
     * would wake it once parked, and libmicrohttpd must not stop under a parked stream. */
    st->closing = h->stopping;
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    h->n_streams++;
    pthread_mutex_unlock(&h->lock);
    mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, on_stream_read, st,
                                           on_stream_free);
    if (!mr) {
        on_stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (int i = 0; i < r->n_headers; i++)
        MHD_add_response_header(mr, r->header_names[i], r->header_values[i]);
    ok = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ok;
}

/* A libmicrohttpd response of `r`: its static body (not copied) or its buffer (taken), with
 * its Content-Type and headers; NULL when libmicrohttpd cannot make one. */
static struct MHD_Response *new_response(struct ttdm_http_response *r)
{
    struct MHD_Response *mr;

    if (r->static_body) {
        mr = MHD_create_response_from_buffer(r->static_len, (void *)(uintptr_t)r->static_body,
                                             MHD_RESPMEM_PERSISTENT);
    } else {
        size_t len = 0;
        char *data = ttdm_buf_take(&r->body, &len);
        mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!mr)
            ttdm_free(data);
    }
    if (!mr)
        return NULL;
    if (r->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (int i = 0; i < r->n_headers; i++)
        MHD_add_response_header(mr, r->header_names[i], r->header_values[i]);
    return mr;
}

static bool shared_matches(const struct shared_response *s, const struct ttdm_http_response *r)
{
    return s->data == r->static_body && s->len == r->static_len &&
           s->content_type == r->content_type;
}

/* The one response object of a static body, made on first use; NULL when all slots hold
 * other bodies (the caller then makes a response of its own). */
static struct MHD_Response *shared_response(struct ttdm_httpd *h, struct ttdm_http_response *r)
{
    struct MHD_Response *mr = NULL;
    int i;

    for (i = 0; i < SHARED_RESPONSES; i++) {
        struct shared_response *s = &h->shared[i];
        struct MHD_Response *made = atomic_load_explicit(&s->mr, memory_order_acquire);
        if (!made)
            break; /* slots fill in order: the rest are empty */
        if (shared_matches(s, r))
            return made;
    }
    if (i == SHARED_RESPONSES)
        return NULL;
    pthread_mutex_lock(&h->shared_lock);
    for (; i < SHARED_RESPONSES && !mr; i++) {
        struct shared_response *s = &h->shared[i];
        struct MHD_Response *made = atomic_load_explicit(&s->mr, memory_order_relaxed);
        if (made) { /* filled meanwhile by another event thread */
            if (shared_matches(s, r))
                mr = made;
            continue;
        }
        made = new_response(r); /* no headers of its own: the caller checked */
        if (!made)
            break;
        s->data = r->static_body;
        s->len = r->static_len;
        s->content_type = r->content_type;
        atomic_store_explicit(&s->mr, made, memory_order_release);
        mr = made;
    }
    pthread_mutex_unlock(&h->shared_lock);
    return mr;
}

static enum MHD_Result queue_response(struct ttdm_httpd *h, struct MHD_Connection *conn,
                                      struct req_ctx *ctx)
{
    struct ttdm_http_response *r = &ctx->resp;
    struct MHD_Response *mr;
    enum MHD_Result ok;

    if (ctx->held) { /* not suspended (any more) */
        ctx->held = false;
        atomic_fetch_sub(&h->held, 1);
    }
    run_render(ctx);
    if (r->stream)
        return queue_stream(h, conn, ctx);
    if (r->static_body && r->n_headers == 0 && (mr = shared_response(h, r)))
        return MHD_queue_response(conn, (unsigned)r->status, mr);
    mr = new_response(r);
    if (!mr)
        return MHD_NO;
    ok = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ok;
}

static void *worker_main(void *arg)
{
    struct ttdm_httpd *h = arg;

    pthread_setname_np(pthread_self(), "http-worker");
    for (;;) {
        struct req_ctx *ctx;
        pthread_mutex_lock(&h->lock);
        while (!h->head && !h->stopping)
            pthread_cond_wait(&h->cond, &h->lock);
        if (!h->head) {
            pthread_mutex_unlock(&h->lock);
            return NULL;
        }
        ctx = h->head;
        h->head = ctx->next;
        if (!h->head)
            h->tail = NULL;
        pthread_mutex_unlock(&h->lock);

        h->handler(h->ud, &ctx->req, &ctx->resp);
        if (ctx->deferred) {
            if (atomic_fetch_sub(&ctx->pending, 1) == 1)
                resume_soon(h, ctx);
            continue;
        }
        ctx->state = REQ_DONE;
        resume_soon(h, ctx);
    }
}

struct ttdm_http_deferred *ttdm_http_defer(struct ttdm_http_response *resp)
{
    struct req_ctx *ctx = (struct req_ctx *)(void *)resp;
    ctx->deferred = true;
    atomic_store(&ctx->pending, 2);
    return (struct ttdm_http_deferred *)(void *)ctx;
}

void ttdm_http_to_worker(struct ttdm_http_response *resp)
{
    struct req_ctx *ctx = (struct req_ctx *)(void *)resp;
    ctx->to_worker = true;
    ctx->deferred = false;
    atomic_store(&ctx->pending, 0);
}

struct ttdm_http_response *ttdm_http_deferred_response(struct ttdm_http_deferred *d)
{
    return &((struct req_ctx *)(void *)d)->resp;
}

void ttdm_http_finish_render(struct ttdm_http_deferred *d, ttdm_http_render_fn render, void *ud)
{
    struct req_ctx *ctx = (struct req_ctx *)(void *)d;
    ctx->render = render;
    ctx->render_ud = ud;
    ttdm_http_finish(d);
}

void ttdm_http_finish(struct ttdm_http_deferred *d)
{
    struct req_ctx *ctx = (struct req_ctx *)(void *)d;
    ctx->state = REQ_DONE;
    if (atomic_fetch_sub(&ctx->pending, 1) == 1)
        resume_soon(ctx->h, ctx);
}

/* Answers 503 on the event thread: the server is stopping and takes no new work. */
static enum MHD_Result refuse_closing(struct ttdm_httpd *h, struct MHD_Connection *conn,
                                      struct req_ctx *ctx)
{
    resp_cleanup(&ctx->resp);
    resp_init(&ctx->resp);
    ttdm_http_resp_error(&ctx->resp, 503, "unavailable",
                         "The server is shutting down. Send the request again in a moment.", NULL);
    ctx->state = REQ_DONE;
    return queue_response(h, conn, ctx);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct ttdm_httpd *h = cls;
    struct req_ctx *ctx = *con_cls;

    resume_pending(h);
    if (!ctx) {
        const char *cl;
        ctx = ttdm_calloc(1, sizeof(*ctx));
        ctx->h = h;
        ctx->req.method = method;
        ctx->req.path = url;
        ctx->req.conn = conn;
        ctx->req.received_ms = ttdm_clock_mono_ms();
        ttdm_buf_init(&ctx->body, h->cfg.max_body);
        resp_init(&ctx->resp);
        *con_cls = ctx;
        /* Refuse early when the declared length is already too big. */
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            size_t n = strlen(cl);
            unsigned long long declared = n > 0 && n <= 19 ? strtoull(cl, NULL, 10) : 0;
            if (n > 19 || declared > h->cfg.max_body)
                ctx->too_big = true;
            /* Small bodies (webhooks, API calls) get one allocation of the declared size.
             * Larger ones grow as their bytes arrive, so that a declared length alone costs
             * no memory. */
            else if (declared > 0 && declared <= BODY_RESERVE_MAX)
                ttdm_buf_reserve(&ctx->body, (size_t)declared);
        }
        return MHD_YES;
    }

    if (ctx->state == REQ_READING && *upload_data_size) {
        if (!ctx->too_big && ttdm_buf_append(&ctx->body, upload_data, *upload_data_size))
            ctx->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (ctx->state == REQ_READING) {
        if (ctx->too_big) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "The request body is larger than %zu bytes. Send a smaller body.",
                     h->cfg.max_body);
            ttdm_http_resp_error(&ctx->resp, 413, "body_too_large", msg, NULL);
            ctx->state = REQ_DONE;
            return queue_response(h, conn, ctx);
        }
        /* Counted before `closing` is read (both sequentially consistent): either stop
         * sees this request, or this request sees that the server stops. */
        ctx->counted = ctx->held = true;
        atomic_fetch_add(&h->unanswered, 1);
        atomic_fetch_add(&h->held, 1);
        if (atomic_load(&h->closing))
            return refuse_closing(h, conn, ctx);
        ctx->req.body = ttdm_buf_str(&ctx->body);
        ctx->req.body_len = ctx->body.len;
        ctx->state = REQ_QUEUED;
        if (h->is_inline && h->is_inline(h->ud, method, url)) {
            ctx->req.on_event_thread = true;
            h->handler(h->ud, &ctx->req, &ctx->resp);
            ctx->req.on_event_thread = false;
            if (ctx->deferred) {
                /* ttdm_http_finish may already have run on another thread: whichever of
                 * it and this comes last resumes. */
                MHD_suspend_connection(conn);
                if (atomic_fetch_sub(&ctx->pending, 1) == 1)
                    MHD_resume_connection(conn);
                return MHD_YES;
            }
            if (!ctx->to_worker) {
                ctx->state = REQ_DONE;
                return queue_response(h, conn, ctx);
            }
            ctx->to_worker = false;
            resp_cleanup(&ctx->resp);
            resp_init(&ctx->resp);
        }
        pthread_mutex_lock(&h->lock);
        if (h->stopping) { /* the workers are gone or going */
            pthread_mutex_unlock(&h->lock);
            return refuse_closing(h, conn, ctx);
        }
        MHD_suspend_connection(conn);
        ctx->next = NULL;
        if (h->tail)
            h->tail->next = ctx;
        else
            h->head = ctx;
        h->tail = ctx;
        pthread_cond_signal(&h->cond);
        pthread_mutex_unlock(&h->lock);
        return MHD_YES;
    }

    if (ctx->state == REQ_DONE)
        return queue_response(h, conn, ctx);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct ttdm_httpd *h = cls;
    struct req_ctx *ctx = *con_cls;
    resume_pending(h);
    if (!ctx)
        return;
    if (ctx->held)
        atomic_fetch_sub(&h->held, 1);
    if (ctx->counted)
        atomic_fetch_sub(&h->unanswered, 1);
    run_render(ctx); /* an answer nobody will read: only to free what it holds */
    ttdm_buf_cleanup(&ctx->body);
    resp_cleanup(&ctx->resp);
    ttdm_free(ctx);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    LOG_DEBUG("httpd", "%s", line);
}

struct ttdm_httpd *ttdm_httpd_start(const struct ttdm_httpd_config *cfg,
                                    ttdm_http_handler_fn handler, ttdm_http_inline_fn is_inline,
                                    void *ud)
{
    struct ttdm_httpd *h = ttdm_calloc(1, sizeof(*h));
    struct sockaddr_in addr;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     MHD_USE_TURBO;

    h->cfg = *cfg;
    h->handler = handler;
    h->is_inline = is_inline;
    h->ud = ud;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->shared_lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    pthread_cond_init(&h->heartbeat_cond, NULL);

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(cfg->port);
    if (inet_pton(AF_INET, cfg->bind_addr, &addr.sin_addr) != 1) {
        LOG_ERROR("httpd", "bind address '%s' is not an IPv4 address", cfg->bind_addr);
        goto fail;
    }

    h->n_workers = cfg->workers ? cfg->workers : 1;
    h->workers = ttdm_calloc(h->n_workers, sizeof(pthread_t));
    for (unsigned i = 0; i < h->n_workers; i++)
        pthread_create(&h->workers[i], NULL, worker_main, h);

    /* A thread pool size of 0 or 1 makes libmicrohttpd complain; leave it out then. */
    h->daemon = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, on_access, h, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_LIMIT,
        cfg->connection_limit, MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->connection_memory_bytes,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        cfg->event_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, cfg->event_threads,
        MHD_OPTION_END);
    if (!h->daemon) {
        LOG_ERROR("httpd", "cannot listen on %s:%u (port in use?)", cfg->bind_addr,
                  (unsigned)cfg->port);
        goto fail;
    }
    if (pthread_create(&h->heartbeat_thread, NULL, heartbeat_main, h) == 0)
        h->heartbeat_started = true;
    return h;

fail:
    ttdm_httpd_stop(h);
    return NULL;
}

uint16_t ttdm_httpd_port(const struct ttdm_httpd *h)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

/* true once *n is 0; false after limit_ms. `what` names them in a warning after 5 s. */
static bool wait_zero(atomic_int *n, unsigned limit_ms, const char *what)
{
    int64_t start = ttdm_clock_mono_ms();
    bool warned = false;

    while (atomic_load(n) > 0) {
        int64_t waited = ttdm_clock_mono_ms() - start;
        if (waited >= (int64_t)limit_ms)
            return false;
        if (!warned && waited >= 5000) {
            LOG_WARN("httpd", "stopping: %d requests still wait for %s", atomic_load(n), what);
            warned = true;
        }
        usleep(10000);
    }
    return true;
}

void ttdm_httpd_stop(struct ttdm_httpd *h)
{
    if (!h)
        return;
    atomic_store(&h->closing, true);
    if (h->daemon)
        MHD_quiesce_daemon(h->daemon);
    /* Workers drain the queue before they exit, so every suspended request is resumed. */
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->cond);
    pthread_cond_broadcast(&h->heartbeat_cond);
    pthread_mutex_unlock(&h->lock);
    for (unsigned i = 0; h->workers && i < h->n_workers; i++)
        pthread_join(h->workers[i], NULL);
    if (h->heartbeat_started)
        pthread_join(h->heartbeat_thread, NULL);
    pthread_mutex_lock(&h->lock);
    wake_streams(h, true);
    pthread_mutex_unlock(&h->lock);
    /* Ended streams are closed by the event thread shortly; wait for it. */
    for (int i = 0; i < 500; i++) {
        unsigned n;
        pthread_mutex_lock(&h->lock);
        n = h->n_streams;
        pthread_mutex_unlock(&h->lock);
        if (n == 0)
            break;
        usleep(10000);
    }
    /* Deferred answers wait for their commit (the writer still runs); resumed connections
     * are taken back by the event thread shortly. */
    if (!wait_zero(&h->held, h->cfg.stop_wait_ms, "their answer (a commit)")) {
        LOG_ERROR("httpd",
                  "%d requests still wait for their answer after %u ms; the HTTP server is left "
                  "running until the process exits, so that their answers may still be sent",
                  atomic_load(&h->held), h->cfg.stop_wait_ms);
        return;
    }
    /* Answers queued but not yet written: a moment to send them, then they are cut off. */
    if (!wait_zero(&h->unanswered, 5000, "their answer to be sent"))
        LOG_WARN("httpd", "stopping: %d answers not yet sent are cut off",
                 atomic_load(&h->unanswered));
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    for (int i = 0; i < SHARED_RESPONSES; i++) {
        struct MHD_Response *mr = atomic_load(&h->shared[i].mr);
        if (mr)
            MHD_destroy_response(mr);
    }
    pthread_mutex_destroy(&h->shared_lock);
    ttdm_free(h->workers);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    pthread_cond_destroy(&h->heartbeat_cond);
    ttdm_free(h);
}
