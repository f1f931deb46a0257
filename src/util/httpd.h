/* httpd.h -- libmicrohttpd glue: epoll loop, bounded bodies, handlers run on a worker pool. */
#ifndef TTDM_HTTPD_H
#define TTDM_HTTPD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/*
 * The event loop never blocks: a request whose handler may block (storage, upstream HTTP)
 * is suspended once its body is read, handed to a worker thread, and resumed when the
 * handler has filled the response. Routes the server declares inline run their handler on
 * the event thread: it must not block, but it may defer its answer (the connection waits,
 * suspended, for ttdm_http_finish) or hand the request to a worker (ttdm_http_to_worker).
 * Bodies over max_body are refused with 413 before the handler runs; their bytes are read
 * and dropped so the connection stays usable. Once stopping, requests still arriving on
 * open connections are answered 503.
 */

struct MHD_Connection;

struct ttdm_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL path, without the query string */
    const char *body;   /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    int64_t received_ms;  /* monotonic ms when the headers arrived */
    bool on_event_thread; /* an inline route's handler runs on the event loop: no blocking */
    struct MHD_Connection *conn;
};

#define TTDM_HTTP_MAX_RESP_HEADERS 8

struct ttdm_http_response {
    int status;              /* 200 by default */
    struct ttdm_buf body;    /* owned by the glue */
    const void *static_body; /* instead of body: set by ttdm_http_resp_static */
    size_t static_len;
    const char *content_type;        /* static string; "application/json" by default */
    struct ttdm_http_stream *stream; /* set by ttdm_http_resp_stream */
    int n_headers;
    char *header_names[TTDM_HTTP_MAX_RESP_HEADERS];  /* owned copies */
    char *header_values[TTDM_HTTP_MAX_RESP_HEADERS]; /* owned copies */
};

/* Fills `resp` for `req`. Called on a worker thread unless the route is inline (then
 * req->on_event_thread is true). */
typedef void (*ttdm_http_handler_fn)(void *ud, const struct ttdm_http_request *req,
                                     struct ttdm_http_response *resp);
/* Optional: true when (method, path) may be answered on the event thread. */
typedef bool (*ttdm_http_inline_fn)(void *ud, const char *method, const char *path);

struct ttdm_httpd_config {
    const char *bind_addr;  /* "127.0.0.1" */
    uint16_t port;          /* 0 = any free port (read it back with ttdm_httpd_port) */
    size_t max_body;        /* bytes; larger bodies get 413 */
    unsigned workers;       /* handler threads, >= 1 */
    unsigned event_threads; /* MHD epoll threads, >= 1 */
    unsigned connection_limit;
    unsigned timeout_s; /* idle connection timeout */
    /* libmicrohttpd's memory per connection: the request line and headers must fit in
     * about half of it, or get its 431 */
    size_t connection_memory_bytes;
    unsigned heartbeat_s;  /* keep-alive interval of streams */
    unsigned stop_wait_ms; /* how long ttdm_httpd_stop waits for deferred answers */
};

void ttdm_httpd_config_default(struct ttdm_httpd_config *cfg);

struct ttdm_httpd;

/* Starts serving; returns NULL (and logs why) when the port cannot be bound. */
struct ttdm_httpd *ttdm_httpd_start(const struct ttdm_httpd_config *cfg,
                                    ttdm_http_handler_fn handler, ttdm_http_inline_fn is_inline,
                                    void *ud);
uint16_t ttdm_httpd_port(const struct ttdm_httpd *h);
/*
 * Stops accepting, lets running handlers finish, ends streams, waits for deferred answers
 * (up to stop_wait_ms) and then up to 5 s for answers still being sent, frees everything.
 * NULL is a no-op. Requests that arrive while stopping are answered 503 without calling the
 * handler. A deferred answer still missing after stop_wait_ms (a commit that outlasts it)
 * cannot be dropped: libmicrohttpd aborts the process when stopped with a suspended
 * connection, and the late finish would touch freed memory. Then the daemon and its state
 * are left running until the process exits, so that the answer may still be sent, and an
 * error is logged.
 */
void ttdm_httpd_stop(struct ttdm_httpd *h);

/* Request accessors (valid during the handler). NULL when absent. */
const char *ttdm_http_header(const struct ttdm_http_request *req, const char *name);
const char *ttdm_http_query(const struct ttdm_http_request *req, const char *name);
const char *ttdm_http_cookie(const struct ttdm_http_request *req, const char *name);

/*
 * Deferred answers: a handler may call ttdm_http_defer() and return at once; the
 * connection stays suspended until ttdm_http_finish() is called, from any thread, after the
 * response was filled. Exactly one finish per defer. The handle stays valid until finish.
 */
struct ttdm_http_deferred;
struct ttdm_http_deferred *ttdm_http_defer(struct ttdm_http_response *resp);
void ttdm_http_finish(struct ttdm_http_deferred *d);
/*
 * An inline handler that finds it would have to block calls this instead of answering
 * (and instead of finishing a defer it made): the request is handed to a worker, which
 * calls the handler again from the start with on_event_thread false.
 */
void ttdm_http_to_worker(struct ttdm_http_response *resp);
/*
 * ttdm_http_finish for an answer that takes time to build: the finishing thread (the
 * store's writer, say) only hands over ud, and render(resp, ud) writes the response on the
 * event thread just before it is sent. render runs exactly once, also when the connection
 * ended meanwhile (then only to free ud).
 */
typedef void (*ttdm_http_render_fn)(struct ttdm_http_response *resp, void *ud);
void ttdm_http_finish_render(struct ttdm_http_deferred *d, ttdm_http_render_fn render, void *ud);
/* The response a deferred handle fills. */
struct ttdm_http_response *ttdm_http_deferred_response(struct ttdm_http_deferred *d);

/*
 * Streaming answers (Server-Sent Events). A handler turns its response into a stream; the
 * event thread then calls pull() whenever it can send: pull returns the number of bytes it
 * wrote into buf (at most max), 0 when it has nothing now (the connection is parked, using
 * no CPU, until ttdm_http_stream_wake), or -1 to end the stream. wake() may be called from
 * any thread, but never after on_free(ud) has returned: on_free runs once, on the event
 * thread, when the connection ends, and must make sure nobody wakes the stream afterwards.
 * Every heartbeat_s seconds each stream is woken with *heartbeat set, so that pull can
 * write a keep-alive line and a vanished client is noticed.
 */
struct ttdm_http_stream;
typedef long (*ttdm_http_pull_fn)(void *ud, char *buf, size_t max, bool heartbeat);
typedef void (*ttdm_http_stream_free_fn)(void *ud);
struct ttdm_http_stream *ttdm_http_resp_stream(struct ttdm_http_response *resp,
                                               const char *content_type, ttdm_http_pull_fn pull,
                                               ttdm_http_stream_free_fn on_free, void *ud);
void ttdm_http_stream_wake(struct ttdm_http_stream *s);

/* Response helpers. */
void ttdm_http_resp_header(struct ttdm_http_response *resp, const char *name, const char *value);
/* Takes ownership of `json` (deletes it). */
void ttdm_http_resp_json(struct ttdm_http_response *resp, int status, cJSON *json);
/* {"error":{"code":code,"message":message}} plus optional extra members (owned, may be NULL). */
void ttdm_http_resp_error(struct ttdm_http_response *resp, int status, const char *code,
                          const char *message, cJSON *extra);
void ttdm_http_resp_bytes(struct ttdm_http_response *resp, int status, const char *content_type,
                          const void *data, size_t len);
/*
 * A body that lives as long as the program (a string literal): not copied, and the first
 * few distinct ones are answered from one response object made once, which saves building
 * a response per request on a hot route (the webhook's "{}"). Headers added with
 * ttdm_http_resp_header still go out; they only make the answer a response of its own.
 */
void ttdm_http_resp_static(struct ttdm_http_response *resp, int status, const char *content_type,
                           const void *data, size_t len);

#endif /* TTDM_HTTPD_H */
