/* server.c -- ttdm's HTTP front: route, parse and validate, one app call, render. */
#include "http/server.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "app/events.h"
#include "app/users.h"
#include "http/api_channels.h"
#include "http/render.h"
#include "http/static.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/httpd.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

struct ttdm_server {
    struct ttdm_app *app;
    struct ttdm_httpd *httpd;
};

#define MAX_SEGMENTS 8
#define PAGE_DEFAULT 50
#define PAGE_MAX 200

struct route_ctx {
    struct ttdm_server *srv;
    const struct ttdm_http_request *req;
    struct ttdm_http_response *resp;
    int64_t workspace_id;
    struct ttdm_principal who; /* the API key's or the session's; workspace_id is who's */
    const char *seg[MAX_SEGMENTS];
    size_t seg_len[MAX_SEGMENTS];
    size_t n_seg;
};

/* ---- error answers ----------------------------------------------------------------- */

static void reply_err(struct route_ctx *c, enum ttdm_err err, const char *specific,
                      const struct ttdm_err_detail *d)
{
    ttdm_render_error(c->resp, err, specific, d);
}

static void reply_bad_request(struct route_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reply_bad_request(struct route_ctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_err(c, TTDM_ERR_BAD_REQUEST, msg, NULL);
}

/* ---- routing helpers -------------------------------------------------------------- */

static void split_path(struct route_ctx *c, const char *path)
{
    const char *p = path;
    c->n_seg = 0;
    while (*p) {
        const char *start;
        while (*p == '/')
            p++;
        if (!*p)
            break;
        start = p;
        while (*p && *p != '/')
            p++;
        if (c->n_seg == MAX_SEGMENTS) {
            c->n_seg = MAX_SEGMENTS + 1; /* too deep: matches nothing */
            return;
        }
        c->seg[c->n_seg] = start;
        c->seg_len[c->n_seg] = (size_t)(p - start);
        c->n_seg++;
    }
}

/* Matches segments against a pattern like "api/v1/conversations/:/messages". */
static bool match(const struct route_ctx *c, const char *pattern)
{
    size_t i = 0;
    const char *p = pattern;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (i >= c->n_seg)
            return false;
        if (!(n == 1 && p[0] == ':') && !(n == c->seg_len[i] && memcmp(p, c->seg[i], n) == 0))
            return false;
        i++;
        p += n;
        if (*p == '/')
            p++;
    }
    return i == c->n_seg;
}

static int seg_id(const struct route_ctx *c, size_t i, int64_t *out)
{
    return ttdm_parse_i64(c->seg[i], c->seg_len[i], 1, INT64_MAX, out);
}

static bool is_method(const struct route_ctx *c, const char *m)
{
    return strcmp(c->req->method, m) == 0;
}

static int query_i64(struct route_ctx *c, const char *name, int64_t min, int64_t max, int64_t def,
                     int64_t *out)
{
    const char *v = ttdm_http_query(c->req, name);
    char msg[256];
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    if (ttdm_parse_i64(v, (size_t)-1, min, max, out) == 0)
        return 0;
    snprintf(msg, sizeof(msg), "Query parameter '%s' must be a whole number from %lld to %lld.",
             name, (long long)min, (long long)max);
    reply_err(c, TTDM_ERR_BAD_REQUEST, msg, NULL);
    return -1;
}

/*
 * Dashboard sessions: the session cookie (HttpOnly, SameSite=Strict). A state-changing
 * request must also carry the session's CSRF token in X-CSRF-Token, which another site can
 * neither read nor send without a CORS preflight that ttdm never grants.
 */
static int authenticate_session(struct route_ctx *c, const char *token)
{
    const char *csrf;

    if (ttdm_app_session_check(c->srv->app, token, &c->who)) {
        reply_err(c, TTDM_ERR_UNAUTHORIZED,
                  "The session has ended or is not valid. Sign in again with POST "
                  "/api/v1/auth/login.",
                  NULL);
        return -1;
    }
    if (!is_method(c, "GET") && !is_method(c, "HEAD")) {
        csrf = ttdm_http_header(c->req, "X-CSRF-Token");
        if (!csrf ||
            !ttdm_const_eq(csrf, strlen(csrf), c->who.csrf_token, strlen(c->who.csrf_token))) {
            reply_err(c, TTDM_ERR_CSRF, NULL, NULL);
            return -1;
        }
    }
    c->workspace_id = c->who.workspace_id;
    return 0;
}

/* API keys come as "Authorization: Bearer <key>" or "X-Api-Key: <key>"; without one, the
 * session cookie. */
static int authenticate(struct route_ctx *c)
{
    const char *auth = ttdm_http_header(c->req, "Authorization");
    const char *key = ttdm_http_header(c->req, "X-Api-Key");
    const char *session = ttdm_http_cookie(c->req, TTDM_SESSION_COOKIE);
    enum ttdm_err rc;

    if (auth && ttdm_slice_ieq(auth, strlen(auth) < 7 ? strlen(auth) : 7, "Bearer "))
        key = auth + 7;
    if ((!key || !*key) && session && *session) {
        if (c->req->on_event_thread) {
            ttdm_http_to_worker(c->resp); /* sessions are read from the store */
            return -1;
        }
        return authenticate_session(c, session);
    }
    if (!key || !*key) {
        reply_err(c, TTDM_ERR_UNAUTHORIZED,
                  "This route needs an API key: send 'Authorization: Bearer <key>'. Create one "
                  "with 'ttdm apikey create'.",
                  NULL);
        return -1;
    }
    rc = ttdm_app_apikey_principal_ex(c->srv->app, key, &c->who, !c->req->on_event_thread);
    if (rc == TTDM_ERR_UNAVAILABLE && c->req->on_event_thread) {
        ttdm_http_to_worker(c->resp); /* a key not seen lately: read it on a worker */
        return -1;
    }
    if (rc) {
        reply_err(c, TTDM_ERR_UNAUTHORIZED,
                  "The API key is not valid. Check it, or create a new one with 'ttdm apikey "
                  "create'.",
                  NULL);
        return -1;
    }
    c->workspace_id = c->who.workspace_id;
    return 0;
}

/* ---- handlers ------------------------------------------------------------------------ */

/* Runs on the store's writer thread once the event is durable: answer and resume. */
static void on_webhook_stored(void *ud, enum ttdm_err rc)
{
    struct ttdm_http_deferred *d = ud;
    struct ttdm_http_response *resp = ttdm_http_deferred_response(d);
    if (rc)
        ttdm_render_error(resp, rc, NULL, NULL);
    else
        ttdm_http_resp_static(resp, 200, "application/json", "{}", 2);
    ttdm_http_finish(d);
}

static void on_webhook(struct route_ctx *c)
{
    struct ttdm_err_detail d;
    const struct ttdm_config *cfg = ttdm_app_config(c->srv->app);
    struct ttdm_http_deferred *deferred;
    enum ttdm_ingest_state state;
    enum ttdm_err rc;

    if ((int64_t)c->req->body_len > cfg->max_webhook_bytes) {
        reply_err(c, TTDM_ERR_BODY_TOO_LARGE, "The webhook body is larger than max_webhook_bytes.",
                  NULL);
        return;
    }
    /* Deferred before the call: the commit may complete before the call returns. */
    deferred = ttdm_http_defer(c->resp);
    rc = ttdm_app_ingest_webhook_async(c->srv->app, ttdm_http_header(c->req, "TikTok-Signature"),
                                       c->req->body, c->req->body_len, &d, on_webhook_stored,
                                       deferred, !c->req->on_event_thread, &state);
    if (state == TTDM_INGEST_PENDING)
        return;
    if (state == TTDM_INGEST_BLOCKS) {
        ttdm_http_to_worker(c->resp);
        return;
    }
    if (rc)
        ttdm_render_error(c->resp, rc, NULL, &d);
    else
        ttdm_http_resp_static(c->resp, 200, "application/json", "{}", 2);
    ttdm_http_finish(deferred);
}

static void on_list_conversations(struct route_ctx *c)
{
    struct ttdm_conversation_view *rows = NULL;
    struct ttdm_reply_budget *budgets = NULL;
    size_t n = 0;
    int64_t channel_id, limit, before_activity = 0, before_id = 0;
    const char *cursor = ttdm_http_query(c->req, "cursor");
    enum ttdm_err rc;
    cJSON *root, *data;

    if (query_i64(c, "channel_id", 0, INT64_MAX, 0, &channel_id) ||
        query_i64(c, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &limit))
        return;
    if (cursor && *cursor) {
        const char *dot = strchr(cursor, '.');
        if (!dot ||
            ttdm_parse_i64(cursor, (size_t)(dot - cursor), 0, INT64_MAX, &before_activity) ||
            ttdm_parse_i64(dot + 1, (size_t)-1, 1, INT64_MAX, &before_id)) {
            reply_bad_request(c,
                              "Query parameter 'cursor' is not valid ('%s'): pass the "
                              "next_cursor of the previous page unchanged.",
                              cursor);
            return;
        }
    }
    rc = ttdm_store_conversation_list(ttdm_app_store(c->srv->app), c->workspace_id, channel_id,
                                      before_activity, before_id, (size_t)limit,
                                      ttdm_app_now(c->srv->app), &rows, &budgets, &n);
    if (rc) {
        reply_err(c, rc, NULL, NULL);
        return;
    }
    root = cJSON_CreateObject();
    data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(data, ttdm_render_conversation(&rows[i], &budgets[i]));
    if (n == (size_t)limit && n > 0) {
        char next[64];
        snprintf(next, sizeof(next), "%lld.%lld", (long long)rows[n - 1].last_activity_at,
                 (long long)rows[n - 1].id);
        cJSON_AddStringToObject(root, "next_cursor", next);
    } else {
        cJSON_AddNullToObject(root, "next_cursor");
    }
    ttdm_free(rows);
    ttdm_free(budgets);
    ttdm_http_resp_json(c->resp, 200, root);
}

static void on_get_conversation(struct route_ctx *c, int64_t id)
{
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;
    enum ttdm_err rc = ttdm_store_conversation_get(ttdm_app_store(c->srv->app), c->workspace_id, id,
                                                   ttdm_app_now(c->srv->app), &v, &b);
    if (rc) {
        reply_err(c, rc, rc == TTDM_ERR_NOT_FOUND ? "No conversation with this id." : NULL, NULL);
        return;
    }
    ttdm_http_resp_json(c->resp, 200, ttdm_render_conversation(&v, &b));
}

static void on_list_messages(struct route_ctx *c, int64_t conv_id)
{
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;
    struct ttdm_message *msgs = NULL;
    size_t n = 0;
    int64_t limit, before;
    enum ttdm_err rc;
    cJSON *root, *data;

    if (query_i64(c, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &limit) ||
        query_i64(c, "before", 0, INT64_MAX, 0, &before))
        return;
    rc = ttdm_store_conversation_get(ttdm_app_store(c->srv->app), c->workspace_id, conv_id,
                                     ttdm_app_now(c->srv->app), &v, &b);
    if (rc) {
        reply_err(c, rc, rc == TTDM_ERR_NOT_FOUND ? "No conversation with this id." : NULL, NULL);
        return;
    }
    rc = ttdm_store_message_list(ttdm_app_store(c->srv->app), c->workspace_id, conv_id, before,
                                 (size_t)limit, &msgs, &n);
    if (rc) {
        reply_err(c, rc, NULL, NULL);
        return;
    }
    root = cJSON_CreateObject();
    data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(data, ttdm_render_message(&msgs[i]));
    if (n == (size_t)limit && n > 0) {
        char next[32];
        snprintf(next, sizeof(next), "%lld", (long long)msgs[n - 1].id);
        cJSON_AddStringToObject(root, "next_cursor", next);
    } else {
        cJSON_AddNullToObject(root, "next_cursor");
    }
    cJSON_AddItemToObject(root, "reply_budget", ttdm_render_budget(&b));
    ttdm_messages_free(msgs, n);
    ttdm_http_resp_json(c->resp, 200, root);
}

/* Decodes {"image": {"base64": "..."}} into a heap buffer bounded by the image limit. */
static int decode_image(struct route_ctx *c, const cJSON *img, unsigned char **out, size_t *len)
{
    const char *b64 = NULL;
    const struct ttdm_policy_rules *rules = ttdm_app_rules(c->srv->app);
    size_t cap, b64_len;
    unsigned char *buf;

    if (!cJSON_IsObject(img) || ttdm_json_get_str(img, "base64", SIZE_MAX, &b64) != 0) {
        reply_bad_request(c, "%s",
                          "Field 'image' must be an object with a string 'base64' holding the "
                          "JPEG or PNG bytes.");
        return -1;
    }
    b64_len = strlen(b64);
    cap = b64_len / 4 * 3 + 3;
    /* One byte over the limit is enough to say "too large" without decoding everything. */
    if (cap > rules->image_max_bytes + 4)
        cap = rules->image_max_bytes + 4;
    buf = ttdm_malloc(cap);
    if (sodium_base642bin(buf, cap, b64, b64_len, " \r\n", len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        ttdm_free(buf);
        if (b64_len / 4 * 3 > rules->image_max_bytes) {
            reply_err(c, TTDM_ERR_IMAGE_TOO_LARGE, NULL, NULL);
            return -1;
        }
        reply_bad_request(c, "%s", "Field 'image.base64' is not valid base64.");
        return -1;
    }
    *out = buf;
    return 0;
}

/* The answer to a send, from a worker or from the writer's completion. */
static void render_send(struct ttdm_http_response *resp, enum ttdm_err rc,
                        const struct ttdm_message *msg, const struct ttdm_reply_budget *b,
                        const struct ttdm_err_detail *d)
{
    cJSON *root;

    if (rc) {
        struct ttdm_err_detail why = *d;
        if (rc == TTDM_ERR_NOT_FOUND && !why.message[0])
            snprintf(why.message, sizeof(why.message), "No conversation with this id.");
        ttdm_render_error(resp, rc, NULL, &why);
        return;
    }
    root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "message", ttdm_render_message(msg));
    cJSON_AddItemToObject(root, "reply_budget", ttdm_render_budget(b));
    ttdm_http_resp_json(resp, 202, root);
}

/* What an inline send's answer is made of, from the writer to the event thread. */
struct send_answer {
    enum ttdm_err rc;
    struct ttdm_message msg; /* text owned */
    struct ttdm_reply_budget budget;
    struct ttdm_err_detail detail;
};

/* On the event thread, just before the answer goes out. */
static void render_send_answer(struct ttdm_http_response *resp, void *ud)
{
    struct send_answer *a = ud;

    render_send(resp, a->rc, &a->msg, &a->budget, &a->detail);
    ttdm_message_cleanup(&a->msg);
    ttdm_free(a);
}

/*
 * On the store's writer thread: the reservation of an inline send is durable or refused.
 * The writer only copies the outcome; the JSON is written on the event thread.
 */
static void on_send_reserved(void *ud, enum ttdm_err rc, const struct ttdm_message *msg,
                             const struct ttdm_reply_budget *b, const struct ttdm_err_detail *d)
{
    struct send_answer *a = ttdm_malloc(sizeof(*a));

    a->rc = rc;
    ttdm_message_copy(&a->msg, msg);
    a->budget = *b;
    a->detail = *d;
    ttdm_http_finish_render(ud, render_send_answer, a);
}

/*
 * On the event thread a text send is queued to the writer and answered after its commit;
 * an image, a content refusal or anything else that reads first goes to a worker.
 */
static void send_inline(struct route_ctx *c, const struct ttdm_send_input *in)
{
    struct ttdm_http_deferred *deferred = ttdm_http_defer(c->resp);
    enum ttdm_ingest_state state;
    enum ttdm_err rc = ttdm_app_send_async(c->srv->app, in, on_send_reserved, deferred, &state);

    if (state == TTDM_INGEST_PENDING)
        return;
    if (state == TTDM_INGEST_BLOCKS) {
        ttdm_http_to_worker(c->resp);
        return;
    }
    reply_err(c, rc, NULL, NULL);
    ttdm_http_finish(deferred);
}

static void on_send(struct route_ctx *c, int64_t conv_id)
{
    char perr[160];
    cJSON *body = NULL;
    const cJSON *img;
    const char *text = NULL;
    unsigned char *image = NULL;
    size_t image_len = 0;
    struct ttdm_send_input in;
    struct ttdm_message msg;
    struct ttdm_reply_budget b;
    struct ttdm_err_detail d;
    enum ttdm_err rc;
    int jrc;

    memset(&msg, 0, sizeof(msg));
    memset(&d, 0, sizeof(d));
    body = ttdm_json_parse(c->req->body, c->req->body_len, perr, sizeof(perr));
    if (!body) {
        char msg_text[256];
        snprintf(msg_text, sizeof(msg_text),
                 "The body must be a JSON object like {\"text\": \"Hello\"}: %s.", perr);
        reply_err(c, strstr(perr, "UTF-8") ? TTDM_ERR_INVALID_UTF8 : TTDM_ERR_INVALID_JSON,
                  msg_text, NULL);
        return;
    }
    if (!cJSON_IsObject(body)) {
        reply_err(c, TTDM_ERR_INVALID_JSON,
                  "The body must be a JSON object like {\"text\": \"Hello\"}.", NULL);
        goto done;
    }
    jrc = ttdm_json_get_str(body, "text", SIZE_MAX, &text);
    if (jrc < 0) {
        reply_bad_request(c, "%s", "Field 'text' must be a string.");
        goto done;
    }
    img = cJSON_GetObjectItemCaseSensitive(body, "image");
    if (img && !cJSON_IsNull(img) && c->req->on_event_thread) {
        ttdm_http_to_worker(c->resp); /* decoded, checked and written on a worker */
        goto done;
    }
    if (img && !cJSON_IsNull(img) && decode_image(c, img, &image, &image_len))
        goto done;

    memset(&in, 0, sizeof(in));
    in.workspace_id = c->workspace_id;
    in.conversation_id = conv_id;
    in.text = text;
    in.text_len = text ? strlen(text) : 0;
    in.image = image;
    in.image_len = image_len;
    in.idempotency_key = ttdm_http_header(c->req, "Idempotency-Key");
    in.source = TTDM_SOURCE_AGENT;
    if (in.idempotency_key && strlen(in.idempotency_key) > 128) {
        reply_bad_request(c, "%s", "Header 'Idempotency-Key' must be at most 128 characters.");
        goto done;
    }
    if (c->req->on_event_thread) {
        send_inline(c, &in);
        goto done;
    }
    rc = ttdm_app_send(c->srv->app, &in, &msg, &b, &d);
    render_send(c->resp, rc, &msg, &b, &d);
done:
    ttdm_message_cleanup(&msg);
    ttdm_free(image);
    cJSON_Delete(body);
}

static void on_get_message(struct route_ctx *c, int64_t id)
{
    struct ttdm_message m;
    enum ttdm_err rc;
    memset(&m, 0, sizeof(m));
    rc = ttdm_store_message_get(ttdm_app_store(c->srv->app), c->workspace_id, id, &m);
    if (rc) {
        reply_err(c, rc, rc == TTDM_ERR_NOT_FOUND ? "No message with this id." : NULL, NULL);
        return;
    }
    ttdm_http_resp_json(c->resp, 200, ttdm_render_message(&m));
    ttdm_message_cleanup(&m);
}

static void on_get_media(struct route_ctx *c, int64_t id)
{
    char path[1024], mime[64];
    FILE *f = NULL;
    struct ttdm_buf data;
    char chunk[16384];
    size_t n;
    enum ttdm_err rc = ttdm_app_media_path(c->srv->app, c->workspace_id, id, path, sizeof(path),
                                           mime, sizeof(mime));
    if (rc) {
        reply_err(c, rc, rc == TTDM_ERR_NOT_FOUND ? "This message has no media." : NULL, NULL);
        return;
    }
    f = fopen(path, "rb");
    if (!f) {
        reply_err(c, TTDM_ERR_NOT_FOUND, "The media file of this message is missing on disk.",
                  NULL);
        return;
    }
    ttdm_buf_init(&data, 64u * 1024 * 1024);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (ttdm_buf_append(&data, chunk, n))
            break;
    fclose(f);
    ttdm_http_resp_bytes(c->resp, 200, strcmp(mime, "image/png") == 0 ? "image/png" : "image/jpeg",
                         data.data ? data.data : "", data.len);
    ttdm_http_resp_header(c->resp, "X-Content-Type-Options", "nosniff");
    ttdm_http_resp_header(c->resp, "Cache-Control", "private, max-age=86400");
    ttdm_buf_cleanup(&data);
}

static void on_list_channels(struct route_ctx *c)
{
    struct ttdm_channel *rows = NULL;
    size_t n = 0;
    cJSON *root, *data;
    enum ttdm_err rc =
        ttdm_store_channel_list(ttdm_app_store(c->srv->app), c->workspace_id, &rows, &n);
    if (rc) {
        reply_err(c, rc, NULL, NULL);
        return;
    }
    root = cJSON_CreateObject();
    data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(data, ttdm_api_render_channel(c->srv->app, &rows[i]));
    ttdm_free(rows);
    ttdm_http_resp_json(c->resp, 200, root);
}

static void on_get_channel(struct route_ctx *c, int64_t id)
{
    struct ttdm_channel ch;
    enum ttdm_err rc =
        ttdm_store_channel_get(ttdm_app_store(c->srv->app), c->workspace_id, id, &ch);
    if (rc) {
        reply_err(c, rc, rc == TTDM_ERR_NOT_FOUND ? "No channel with this id." : NULL, NULL);
        return;
    }
    ttdm_http_resp_json(c->resp, 200, ttdm_api_render_channel(c->srv->app, &ch));
}

static void on_sandbox_clock(struct route_ctx *c)
{
    char perr[160];
    cJSON *body, *root;
    int64_t offset = 0;
    enum ttdm_err rc;

    body = ttdm_json_parse(c->req->body, c->req->body_len, perr, sizeof(perr));
    if (!body || ttdm_json_get_i64(body, "offset_ms", -315360000000LL, 315360000000LL, &offset)) {
        cJSON_Delete(body);
        reply_bad_request(c, "%s", "The body must be {\"offset_ms\": <whole number>}.");
        return;
    }
    cJSON_Delete(body);
    rc = ttdm_app_set_clock_offset(c->srv->app, offset);
    if (rc) {
        reply_err(c, rc, "The clock can only be moved in sandbox mode (sandbox = true).", NULL);
        return;
    }
    root = cJSON_CreateObject();
    ttdm_json_add_i64(root, "offset_ms", offset);
    ttdm_json_add_i64(root, "now_ms", ttdm_app_now(c->srv->app));
    ttdm_http_resp_json(c->resp, 200, root);
}

static void not_found(struct route_ctx *c)
{
    reply_err(c, TTDM_ERR_NOT_FOUND,
              "No such route. The API lives under /api/v1/ (see docs/API.md).", NULL);
}

static void method_not_allowed(struct route_ctx *c, const char *allowed)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "This route accepts %s only.", allowed);
    ttdm_http_resp_header(c->resp, "Allow", allowed);
    reply_err(c, TTDM_ERR_METHOD_NOT_ALLOWED, msg, NULL);
}

/* API routes: pattern segments ":" take a positive id (passed to the handler). */
struct route {
    const char *method;
    const char *pattern;
    void (*handler)(struct route_ctx *c, int64_t id);
};

static void route_list_conversations(struct route_ctx *c, int64_t id)
{
    on_list_conversations(c);
}

static void route_list_channels(struct route_ctx *c, int64_t id)
{
    on_list_channels(c);
}

static void route_sandbox_clock(struct route_ctx *c, int64_t id)
{
    on_sandbox_clock(c);
}

/* ---- live events (Server-Sent Events) ----------------------------------------------- */

struct sse_client {
    struct ttdm_app *app;
    struct ttdm_subscriber *sub;
};

static long on_sse_pull(void *ud, char *buf, size_t max, bool heartbeat)
{
    struct sse_client *cl = ud;
    size_t n = ttdm_events_read(ttdm_app_events(cl->app), cl->sub, buf, max);
    /* A comment line keeps proxies from closing an idle stream and finds vanished clients. */
    if (n == 0 && heartbeat)
        n = (size_t)snprintf(buf, max, ": ping\n\n");
    return (long)n;
}

static void on_sse_wake(void *stream)
{
    ttdm_http_stream_wake(stream);
}

static void on_sse_free(void *ud)
{
    struct sse_client *cl = ud;
    ttdm_events_unsubscribe(ttdm_app_events(cl->app), cl->sub);
    ttdm_free(cl);
}

static void route_events(struct route_ctx *c, int64_t id)
{
    struct sse_client *cl = ttdm_calloc(1, sizeof(*cl));
    struct ttdm_http_stream *stream;

    cl->app = c->srv->app;
    stream = ttdm_http_resp_stream(c->resp, "text/event-stream", on_sse_pull, on_sse_free, cl);
    cl->sub =
        ttdm_events_subscribe(ttdm_app_events(c->srv->app), c->workspace_id, on_sse_wake, stream);
    ttdm_http_resp_header(c->resp, "X-Accel-Buffering", "no");
}

static const struct route api_routes[] = {
    {"GET", "api/v1/events", route_events},
    {"GET", "api/v1/conversations", route_list_conversations},
    {"GET", "api/v1/conversations/:", on_get_conversation},
    {"GET", "api/v1/conversations/:/messages", on_list_messages},
    {"POST", "api/v1/conversations/:/messages", on_send},
    {"GET", "api/v1/messages/:", on_get_message},
    {"GET", "api/v1/messages/:/media", on_get_media},
    {"GET", "api/v1/channels", route_list_channels},
    {"GET", "api/v1/channels/:", on_get_channel},
    {"POST", "api/v1/sandbox/clock", route_sandbox_clock},
};

static void dispatch_api(struct route_ctx *c)
{
    char allowed[128] = "";
    const struct route *hit = NULL;
    const struct ttdm_api_route *ext = NULL;
    int64_t id = 0;

    for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
        const struct route *r = &api_routes[i];
        if (!match(c, r->pattern))
            continue;
        if (is_method(c, r->method)) {
            hit = r;
            break;
        }
        {
            size_t used = strlen(allowed);
            snprintf(allowed + used, sizeof(allowed) - used, "%s%s", used ? ", " : "", r->method);
        }
    }
    /* Then the routes of api_channels.c (users, channel lifecycle). */
    for (size_t i = 0; !hit && i < ttdm_api_channel_routes_count; i++) {
        const struct ttdm_api_route *r = &ttdm_api_channel_routes[i];
        if (!match(c, r->pattern))
            continue;
        if (is_method(c, r->method)) {
            ext = r;
            break;
        }
        {
            size_t used = strlen(allowed);
            snprintf(allowed + used, sizeof(allowed) - used, "%s%s", used ? ", " : "", r->method);
        }
    }
    if (ext) {
        struct ttdm_api_call call = {c->srv->app, c->req, c->resp, c->who, 0};
        if (strchr(ext->pattern, ':') && seg_id(c, 3, &call.id)) {
            reply_err(c, TTDM_ERR_NOT_FOUND, "Ids in the path are positive whole numbers.", NULL);
            return;
        }
        ttdm_api_run(ext, &call);
        return;
    }
    if (!hit) {
        if (allowed[0])
            method_not_allowed(c, allowed);
        else
            not_found(c);
        return;
    }
    /* The id, when the pattern has one, is the fourth segment: api/v1/<things>/<id>. */
    if (strchr(hit->pattern, ':') && seg_id(c, 3, &id)) {
        reply_err(c, TTDM_ERR_NOT_FOUND, "Ids in the path are positive whole numbers.", NULL);
        return;
    }
    hit->handler(c, id);
}

static void on_request(void *ud, const struct ttdm_http_request *req,
                       struct ttdm_http_response *resp)
{
    struct route_ctx c;

    memset(&c, 0, sizeof(c));
    c.srv = ud;
    c.req = req;
    c.resp = resp;
    split_path(&c, req->path);

    if (match(&c, "healthz")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "ok");
        ttdm_http_resp_json(resp, 200, o);
        return;
    }
    if (match(&c, "webhooks/tiktok")) {
        if (!is_method(&c, "POST")) {
            method_not_allowed(&c, "POST");
            return;
        }
        on_webhook(&c);
        return;
    }
    /* Public: signing in, and TikTok's redirect back (checked by its state and cookie). */
    if (match(&c, "api/v1/auth/login") || match(&c, "oauth/tiktok/callback")) {
        struct ttdm_api_call call = {c.srv->app, req, resp, {0}, 0};
        bool login = match(&c, "api/v1/auth/login");
        if (!is_method(&c, login ? "POST" : "GET")) {
            method_not_allowed(&c, login ? "POST" : "GET");
            return;
        }
        if (login)
            ttdm_api_login(&call);
        else
            ttdm_api_oauth_callback(&call);
        return;
    }
    if (c.n_seg >= 1 && c.seg_len[0] == 3 && memcmp(c.seg[0], "api", 3) == 0) {
        if (authenticate(&c) == 0)
            dispatch_api(&c);
        return;
    }
    if (ttdm_static_serve(req, resp))
        return;
    not_found(&c);
}

/*
 * Cheap routes are answered on the event thread, and so are TikTok's webhooks and agents'
 * text replies: their hot path (verify or authenticate from memory, parse, queue the write)
 * never blocks, and the rest goes to a worker (ttdm_http_to_worker). Everything else
 * touching storage runs on the workers.
 */
static bool on_is_inline(void *ud, const char *method, const char *path)
{
    struct route_ctx c;

    (void)ud;
    if (strcmp(path, "/healthz") == 0)
        return true;
    if (strcmp(method, "POST") != 0)
        return false;
    /* TikTok's webhooks, and an agent's reply (the id is checked by the route). */
    split_path(&c, path);
    return match(&c, "webhooks/tiktok") || match(&c, "api/v1/conversations/:/messages");
}

struct ttdm_server *ttdm_server_start(struct ttdm_app *app)
{
    const struct ttdm_config *cfg = ttdm_app_config(app);
    struct ttdm_httpd_config hc;
    struct ttdm_server *srv = ttdm_calloc(1, sizeof(*srv));

    ttdm_httpd_config_default(&hc);
    hc.bind_addr = cfg->listen_addr;
    hc.port = (uint16_t)cfg->port;
    hc.max_body = (size_t)cfg->max_body_bytes;
    hc.workers = (unsigned)cfg->http_workers;
    hc.event_threads = (unsigned)cfg->http_event_threads;
    hc.connection_memory_bytes = (size_t)cfg->http_connection_memory_bytes;
    srv->app = app;
    srv->httpd = ttdm_httpd_start(&hc, on_request, on_is_inline, srv);
    if (!srv->httpd) {
        ttdm_free(srv);
        return NULL;
    }
    return srv;
}

uint16_t ttdm_server_port(const struct ttdm_server *srv)
{
    return ttdm_httpd_port(srv->httpd);
}

void ttdm_server_stop(struct ttdm_server *srv)
{
    if (!srv)
        return;
    ttdm_httpd_stop(srv->httpd);
    ttdm_free(srv);
}
