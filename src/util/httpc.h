/* httpc.h -- a small blocking HTTP client on libcurl, with reused connections per handle. */
#ifndef TTDM_HTTPC_H
#define TTDM_HTTPC_H

#include <stddef.h>

#include "util/buf.h"

/*
 * One handle per thread: it keeps its TCP connections alive between calls (libcurl's
 * connection cache), which is what makes talking to TikTok cheap. Not thread-safe.
 */
struct ttdm_httpc;

struct ttdm_httpc *ttdm_httpc_new(void);
void ttdm_httpc_free(struct ttdm_httpc *c);

/* One multipart form part: a plain field (data NUL-terminated, no filename) or a file. */
struct ttdm_httpc_part {
    const char *name;
    const char *data;
    size_t len;
    const char *filename;     /* NULL for a plain field */
    const char *content_type; /* NULL for a plain field */
};

struct ttdm_httpc_req {
    const char *method; /* "GET", "POST", ... */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" list, may be NULL */
    const char *body;           /* may be NULL */
    size_t body_len;
    const struct ttdm_httpc_part *parts; /* multipart/form-data when n_parts > 0 */
    size_t n_parts;
    long timeout_ms;     /* whole transfer; 0 = 10 s */
    size_t max_response; /* bytes; 0 = 8 MiB; larger responses fail */
};

struct ttdm_httpc_resp {
    long status;          /* HTTP status, 0 when no response arrived */
    struct ttdm_buf body; /* owned; cleanup with ttdm_httpc_resp_cleanup */
    char error[256];      /* transport error text when status == 0 */
    int timed_out;        /* 1 when the transfer hit its timeout */
};

/*
 * Performs the request. Returns 0 when an HTTP response arrived (any status), -1 on a
 * transport failure (connect refused, timeout, response too big), with resp->error set.
 * resp is initialised by this call; always clean it up.
 */
int ttdm_httpc_do(struct ttdm_httpc *c, const struct ttdm_httpc_req *req,
                  struct ttdm_httpc_resp *resp);
void ttdm_httpc_resp_cleanup(struct ttdm_httpc_resp *resp);

/*
 * Many transfers at once on one thread (libcurl's multi interface): the thread wakes once
 * for all the answers that are ready instead of once per request, and the connections are
 * kept alive between transfers as with a handle. Not thread-safe, except
 * ttdm_httpc_multi_wakeup.
 */
struct ttdm_httpc_multi;
/* A finished transfer: rc and resp as ttdm_httpc_do gives them (resp is freed after). */
typedef void (*ttdm_httpc_done_fn)(void *ud, int rc, const struct ttdm_httpc_resp *resp);

/* Up to max_connections idle connections are kept for later transfers. */
struct ttdm_httpc_multi *ttdm_httpc_multi_new(long max_connections);
void ttdm_httpc_multi_free(struct ttdm_httpc_multi *m); /* after every transfer finished */
/* Starts `req` (copied: it need not outlive the call); -1 when it cannot be started. */
int ttdm_httpc_multi_add(struct ttdm_httpc_multi *m, const struct ttdm_httpc_req *req,
                         ttdm_httpc_done_fn done, void *ud);
/*
 * Moves the transfers on, waiting up to timeout_ms for any of them (or for a wakeup), and
 * calls done for each finished one. Returns how many finished.
 */
int ttdm_httpc_multi_run(struct ttdm_httpc_multi *m, int timeout_ms);
int ttdm_httpc_multi_running(const struct ttdm_httpc_multi *m);
/* From any thread: ends the wait of ttdm_httpc_multi_run early. */
void ttdm_httpc_multi_wakeup(struct ttdm_httpc_multi *m);

/* Calls curl_global_init once; call from main before threads start. */
void ttdm_httpc_global_init(void);

#endif /* TTDM_HTTPC_H */
