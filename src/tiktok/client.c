/* client.c -- TikTok Business Messaging REST client: builds requests, decodes envelopes. */
#include "tiktok/client.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/httpc.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define MOD "tiktok"

/* Envelopes are small; anything bigger is not TikTok talking. */
#define ENVELOPE_MAX (1024u * 1024u)
/* Request URLs carry at most a few ids and a callback URL. */
#define URL_MAX (16u * 1024u)
#define DEFAULT_TIMEOUT_MS 10000L
#define MEDIA_DEFAULT_MAX (8u * 1024u * 1024u)

struct ttdm_tiktok_client {
    struct ttdm_httpc *http;
    char *api_base; /* without a trailing '/' */
    char *app_id;
    char *app_secret;
    long timeout_ms;
};

/* One call in flight: the request we build and the envelope we get back. */
struct call {
    const char *method;
    const char *path; /* "/business/get/": what the logs show, never the query */
    struct ttdm_buf url;
    struct ttdm_buf token_header;
    cJSON *json; /* request body, owned */
    const struct ttdm_httpc_part *parts;
    size_t n_parts;
    cJSON *envelope;   /* parsed answer, owned */
    const cJSON *data; /* envelope.data, borrowed from it; may be NULL */
};

void ttdm_tiktok_media_cleanup(struct ttdm_tiktok_media *m)
{
    if (!m)
        return;
    ttdm_free(m->data);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------------------------ */
/* Building requests */

static int append_encoded(struct ttdm_buf *b, const char *s)
{
    size_t n = strlen(s);
    char *tmp = ttdm_malloc(3 * n + 1);
    int rc = ttdm_url_encode(s, tmp, 3 * n + 1);
    if (!rc)
        rc = ttdm_buf_append(b, tmp, strlen(tmp));
    ttdm_free(tmp);
    return rc;
}

/* Appends "&key=value" (or "?key=value" for the first one), value percent-encoded. */
static int add_param(struct ttdm_buf *b, const char *key, const char *value)
{
    const char *sep = memchr(b->data ? b->data : "", '?', b->len) ? "&" : "?";
    if (ttdm_buf_append_str(b, sep) || ttdm_buf_append_str(b, key) || ttdm_buf_append_str(b, "="))
        return -1;
    return append_encoded(b, value ? value : "");
}

enum ttdm_err ttdm_tiktok_authorize_url(const struct ttdm_tiktok_config *cfg, const char *scope,
                                        const char *redirect_uri, const char *state, char *out,
                                        size_t out_size)
{
    struct ttdm_buf b;
    enum ttdm_err rc = TTDM_OK;

    ttdm_buf_init(&b, URL_MAX);
    if (ttdm_buf_append_str(&b, cfg->auth_base ? cfg->auth_base : "") ||
        add_param(&b, "client_key", cfg->app_id) || add_param(&b, "response_type", "code") ||
        add_param(&b, "scope", scope) || add_param(&b, "redirect_uri", redirect_uri) ||
        add_param(&b, "state", state) || ttdm_strlcpy(out, ttdm_buf_str(&b), out_size)) {
        if (out_size)
            out[0] = '\0';
        rc = TTDM_ERR_INTERNAL;
    }
    ttdm_buf_cleanup(&b);
    return rc;
}

struct ttdm_tiktok_client *ttdm_tiktok_client_new(const struct ttdm_tiktok_config *cfg)
{
    struct ttdm_tiktok_client *c = ttdm_calloc(1, sizeof(*c));
    size_t n = strlen(cfg->api_base ? cfg->api_base : "");

    c->http = ttdm_httpc_new();
    while (n && cfg->api_base[n - 1] == '/')
        n--;
    c->api_base = ttdm_strndup(cfg->api_base ? cfg->api_base : "", n);
    c->app_id = ttdm_strdup(cfg->app_id ? cfg->app_id : "");
    c->app_secret = ttdm_strdup(cfg->app_secret ? cfg->app_secret : "");
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    return c;
}

void ttdm_tiktok_client_free(struct ttdm_tiktok_client *c)
{
    if (!c)
        return;
    ttdm_httpc_free(c->http);
    ttdm_free(c->api_base);
    ttdm_free(c->app_id);
    if (c->app_secret) {
        memset(c->app_secret, 0, strlen(c->app_secret));
        ttdm_free(c->app_secret);
    }
    ttdm_free(c);
}

static void call_init(struct call *k, struct ttdm_tiktok_client *c, const char *method,
                      const char *path)
{
    memset(k, 0, sizeof(*k));
    k->method = method;
    k->path = path;
    ttdm_buf_init(&k->url, URL_MAX);
    ttdm_buf_init(&k->token_header, TTDM_TIKTOK_TOKEN_MAX + 32);
    /* Cannot fail: api_base came from our config and paths are literals. */
    ttdm_buf_append_str(&k->url, c->api_base);
    ttdm_buf_append_str(&k->url, path);
}

static void call_cleanup(struct call *k)
{
    ttdm_buf_cleanup(&k->url);
    ttdm_buf_cleanup(&k->token_header);
    cJSON_Delete(k->json);
    cJSON_Delete(k->envelope);
}

static void add_str(cJSON *obj, const char *key, const char *value)
{
    cJSON_AddItemToObject(obj, key, cJSON_CreateString(value ? value : ""));
}

static void set_message(struct ttdm_tiktok_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_message(struct ttdm_tiktok_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->tiktok_message, sizeof(res->tiktok_message), fmt, ap);
    va_end(ap);
}

/* A token goes into a header line: refuse anything that could end or fold the line. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static enum ttdm_err set_token(struct call *k, const char *header_name, const char *token,
                               struct ttdm_tiktok_result *res)
{
    if (!token || !*token || !header_safe(token) || strlen(token) >= TTDM_TIKTOK_TOKEN_MAX) {
        set_message(res, "the access token is empty or malformed");
        return TTDM_ERR_BAD_REQUEST;
    }
    ttdm_buf_append_str(&k->token_header, header_name);
    ttdm_buf_append_str(&k->token_header, ": ");
    ttdm_buf_append_str(&k->token_header, token);
    return TTDM_OK;
}

/* ------------------------------------------------------------------------------------ */
/* Decoding answers */

/*
 * Whether a failed transfer may still have been processed by TikTok. Only failures that
 * certainly happened before the request was written are "certain"; a timeout may have been
 * the connect phase, but we cannot tell, so it counts as uncertain.
 */
static bool may_have_reached(const struct ttdm_httpc_resp *hr)
{
    static const CURLcode before_send[] = {
        CURLE_COULDNT_RESOLVE_HOST,     CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT,
        CURLE_UNSUPPORTED_PROTOCOL,     CURLE_URL_MALFORMAT,         CURLE_SSL_CONNECT_ERROR,
        CURLE_PEER_FAILED_VERIFICATION,
    };
    if (hr->timed_out)
        return true;
    for (size_t i = 0; i < sizeof(before_send) / sizeof(before_send[0]); i++)
        if (strcmp(hr->error, curl_easy_strerror(before_send[i])) == 0)
            return false;
    return true;
}

static bool is_too_big(const struct ttdm_httpc_resp *hr)
{
    return strcmp(hr->error, curl_easy_strerror(CURLE_WRITE_ERROR)) == 0;
}

/*
 * Reads {"code","message","request_id","data"} into res. Returns 0 with *code set, or -1
 * when the body is not an envelope (res->tiktok_message then says why).
 */
static int read_envelope(struct call *k, const struct ttdm_httpc_resp *hr, int64_t *code,
                         struct ttdm_tiktok_result *res)
{
    char jerr[128];
    const char *s = NULL;

    k->envelope = ttdm_json_parse(ttdm_buf_str(&hr->body), hr->body.len, jerr, sizeof(jerr));
    if (!k->envelope) {
        set_message(res, "malformed response from TikTok: %s", jerr);
        return -1;
    }
    if (!cJSON_IsObject(k->envelope)) {
        set_message(res, "malformed response from TikTok: body is not a JSON object");
        return -1;
    }
    if (ttdm_json_get_i64(k->envelope, "code", INT_MIN, INT_MAX, code) != 0) {
        set_message(res, "malformed response from TikTok: no integer \"code\"");
        return -1;
    }
    res->tiktok_code = (int)*code;
    if (ttdm_json_get_str(k->envelope, "message", SIZE_MAX, &s) == 0)
        ttdm_strlcpy(res->tiktok_message, s, sizeof(res->tiktok_message));
    if (ttdm_json_get_str(k->envelope, "request_id", SIZE_MAX, &s) == 0)
        ttdm_strlcpy(res->request_id, s, sizeof(res->request_id));
    k->data = cJSON_GetObjectItemCaseSensitive(k->envelope, "data");
    return 0;
}

static enum ttdm_err code_to_err(int64_t code)
{
    enum ttdm_err rc = ttdm_err_from_tiktok((int)code);
    return rc == TTDM_OK ? TTDM_ERR_TIKTOK : rc;
}

static enum ttdm_err decode(struct call *k, struct ttdm_tiktok_client *c, int transport_rc,
                            const struct ttdm_httpc_resp *hr, struct ttdm_tiktok_result *res)
{
    int64_t code = 0;

    res->http_status = (int)hr->status;
    if (transport_rc) {
        res->uncertain = may_have_reached(hr);
        if (is_too_big(hr)) {
            /* An answer did arrive, it just is not an envelope. */
            set_message(res, "malformed response from TikTok: larger than %u bytes", ENVELOPE_MAX);
            return TTDM_ERR_TIKTOK;
        }
        if (hr->timed_out)
            set_message(res, "TikTok did not answer within %ld ms", c->timeout_ms);
        else
            set_message(res, "cannot reach TikTok: %s", hr->error);
        return TTDM_ERR_TIKTOK_UNAVAILABLE;
    }
    if (hr->status >= 500) {
        /* The code of an envelope, if any, is kept for the logs; 5xx itself is the answer. */
        if (read_envelope(k, hr, &code, res) || code == 0)
            set_message(res, "TikTok answered HTTP %ld", hr->status);
        return TTDM_ERR_TIKTOK_UNAVAILABLE;
    }
    if (hr->status >= 400) {
        /* TikTok reports errors with HTTP 200; a 4xx is a routing error unless it
         * carries an envelope, whose code then says more than the status. */
        if (read_envelope(k, hr, &code, res) == 0 && code != 0)
            return code_to_err(code);
        res->tiktok_code = 0;
        set_message(res, "TikTok answered HTTP %ld", hr->status);
        return TTDM_ERR_TIKTOK;
    }
    if (hr->status < 200 || hr->status >= 300) {
        set_message(res, "unexpected HTTP %ld from TikTok", hr->status);
        return TTDM_ERR_TIKTOK;
    }
    if (read_envelope(k, hr, &code, res)) {
        /* TikTok received the request and answered; whether it acted is unknown. */
        res->uncertain = true;
        return TTDM_ERR_TIKTOK;
    }
    return code ? code_to_err(code) : TTDM_OK;
}

/* The request of a call: *body (cJSON_free) and headers live as long as the request. */
static void call_request(struct ttdm_tiktok_client *c, struct call *k, struct ttdm_httpc_req *req,
                         const char *headers[3], char **body)
{
    size_t nh = 0;

    *body = NULL;
    if (k->token_header.len)
        headers[nh++] = ttdm_buf_str(&k->token_header);
    if (k->json) {
        headers[nh++] = "Content-Type: application/json";
        *body = ttdm_json_print(k->json);
    }
    headers[nh] = NULL;

    memset(req, 0, sizeof(*req));
    req->method = k->method;
    req->url = ttdm_buf_str(&k->url);
    req->headers = headers;
    req->body = *body;
    req->body_len = *body ? strlen(*body) : 0;
    req->parts = k->parts;
    req->n_parts = k->n_parts;
    req->timeout_ms = c->timeout_ms;
    req->max_response = ENVELOPE_MAX;
}

/* Decodes what arrived and logs the call; on TTDM_OK k->data is the envelope's data. */
static enum ttdm_err call_decode(struct ttdm_tiktok_client *c, struct call *k, int trc,
                                 const struct ttdm_httpc_resp *hr, int64_t started,
                                 struct ttdm_tiktok_result *res)
{
    enum ttdm_err rc = decode(k, c, trc, hr, res);
    if (rc)
        LOG_WARN(MOD, "%s %s failed after %lld ms: %s (http %d, code %d%s): %s", k->method, k->path,
                 (long long)(ttdm_clock_mono_ms() - started), ttdm_err_code(rc), res->http_status,
                 res->tiktok_code, res->uncertain ? ", uncertain" : "", res->tiktok_message);
    else
        LOG_DEBUG(MOD, "%s %s ok in %lld ms (request_id %s)", k->method, k->path,
                  (long long)(ttdm_clock_mono_ms() - started), res->request_id);
    return rc;
}

/* Runs the call; on TTDM_OK k->data is the envelope's data (possibly NULL). */
static enum ttdm_err perform(struct ttdm_tiktok_client *c, struct call *k,
                             struct ttdm_tiktok_result *res)
{
    struct ttdm_httpc_req req;
    struct ttdm_httpc_resp hr;
    const char *headers[3];
    char *body = NULL;
    int64_t started = ttdm_clock_mono_ms();
    enum ttdm_err rc;
    int trc;

    call_request(c, k, &req, headers, &body);
    trc = ttdm_httpc_do(c->http, &req, &hr);
    rc = call_decode(c, k, trc, &hr, started, res);
    ttdm_httpc_resp_cleanup(&hr);
    if (body)
        cJSON_free(body);
    return rc;
}

/* A required or optional string of the data object; a bad one makes the answer unreadable. */
static enum ttdm_err data_str(const cJSON *obj, const char *path, const char *key, char *dst,
                              size_t dst_size, bool required, struct ttdm_tiktok_result *res)
{
    const char *s = NULL;
    int r = ttdm_json_get_str(obj, key, dst_size - 1, &s);

    dst[0] = '\0';
    if (r == 0 && (!required || *s)) {
        memcpy(dst, s, strlen(s) + 1);
        return TTDM_OK;
    }
    if (r == 1 && !required)
        return TTDM_OK;
    if (r == 1)
        set_message(res, "malformed response from TikTok: %s%s missing", path, key);
    else if (r == 0)
        set_message(res, "malformed response from TikTok: %s%s is empty", path, key);
    else
        set_message(res,
                    "malformed response from TikTok: %s%s is not a string of at most %zu bytes",
                    path, key, dst_size - 1);
    res->uncertain = true;
    LOG_WARN(MOD, "%s", res->tiktok_message);
    return TTDM_ERR_TIKTOK;
}

static enum ttdm_err data_i64(const cJSON *obj, const char *path, const char *key, int64_t *out,
                              bool required, struct ttdm_tiktok_result *res)
{
    int r = ttdm_json_get_i64(obj, key, 0, INT64_C(1) << 40, out);
    if (r == 0)
        return TTDM_OK;
    *out = 0;
    if (r == 1 && !required)
        return TTDM_OK;
    set_message(res, "malformed response from TikTok: %s%s %s", path, key,
                r == 1 ? "missing" : "is not a non-negative integer");
    res->uncertain = true;
    LOG_WARN(MOD, "%s", res->tiktok_message);
    return TTDM_ERR_TIKTOK;
}

static struct ttdm_tiktok_result *result_or(struct ttdm_tiktok_result *res,
                                            struct ttdm_tiktok_result *scratch)
{
    res = res ? res : scratch;
    memset(res, 0, sizeof(*res));
    return res;
}

/* ------------------------------------------------------------------------------------ */
/* OAuth (E2, E3) */

static enum ttdm_err read_tokens(const cJSON *d, bool open_id_required,
                                 struct ttdm_tiktok_tokens *out, struct ttdm_tiktok_result *res)
{
    enum ttdm_err rc;

    rc = data_str(d, "data.", "access_token", out->access_token, sizeof(out->access_token), true,
                  res);
    if (!rc)
        rc = data_str(d, "data.", "refresh_token", out->refresh_token, sizeof(out->refresh_token),
                      true, res);
    if (!rc)
        rc = data_str(d, "data.", "open_id", out->open_id, sizeof(out->open_id), open_id_required,
                      res);
    if (!rc)
        rc = data_str(d, "data.", "scope", out->scope, sizeof(out->scope), false, res);
    if (!rc)
        rc = data_i64(d, "data.", "expires_in", &out->expires_in, true, res);
    if (!rc)
        rc = data_i64(d, "data.", "refresh_token_expires_in", &out->refresh_token_expires_in, false,
                      res);
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}

static enum ttdm_err token_call(struct ttdm_tiktok_client *c, const char *path, cJSON *body,
                                bool open_id_required, struct ttdm_tiktok_tokens *out,
                                struct ttdm_tiktok_result *res)
{
    struct call k;
    enum ttdm_err rc;

    memset(out, 0, sizeof(*out));
    call_init(&k, c, "POST", path);
    k.json = body;
    add_str(body, "client_id", c->app_id);
    add_str(body, "client_secret", c->app_secret);
    rc = perform(c, &k, res);
    if (!rc)
        rc = read_tokens(k.data, open_id_required, out, res);
    call_cleanup(&k);
    return rc;
}

enum ttdm_err ttdm_tiktok_exchange_code(struct ttdm_tiktok_client *c, const char *auth_code,
                                        const char *redirect_uri, struct ttdm_tiktok_tokens *out,
                                        struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;
    cJSON *body = cJSON_CreateObject();

    res = result_or(res, &scratch);
    add_str(body, "grant_type", "authorization_code");
    add_str(body, "auth_code", auth_code);
    add_str(body, "redirect_uri", redirect_uri);
    return token_call(c, "/tt_user/oauth2/token/", body, true, out, res);
}

enum ttdm_err ttdm_tiktok_refresh(struct ttdm_tiktok_client *c, const char *refresh_token,
                                  struct ttdm_tiktok_tokens *out, struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;
    cJSON *body = cJSON_CreateObject();

    res = result_or(res, &scratch);
    add_str(body, "grant_type", "refresh_token");
    add_str(body, "refresh_token", refresh_token);
    /* Chatwoot and ChatbotX read open_id from a refresh only when present. */
    return token_call(c, "/tt_user/oauth2/refresh_token/", body, false, out, res);
}

/* ------------------------------------------------------------------------------------ */
/* Business profile (E6) */

enum ttdm_err ttdm_tiktok_get_profile(struct ttdm_tiktok_client *c, const char *access_token,
                                      const char *business_id, struct ttdm_tiktok_profile *out,
                                      struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;
    struct call k;
    enum ttdm_err rc;

    res = result_or(res, &scratch);
    memset(out, 0, sizeof(*out));
    call_init(&k, c, "GET", "/business/get/");
    rc = set_token(&k, "Access-Token", access_token, res);
    if (rc)
        goto done;
    /* GET array parameters are JSON arrays in a string (tiktok-api.md section 1). */
    if (add_param(&k.url, "business_id", business_id) ||
        add_param(&k.url, "fields", "[\"username\",\"display_name\",\"profile_image\"]")) {
        set_message(res, "request URL too long");
        rc = TTDM_ERR_INTERNAL;
        goto done;
    }
    rc = perform(c, &k, res);
    if (!rc)
        rc =
            data_str(k.data, "data.", "username", out->username, sizeof(out->username), false, res);
    if (!rc)
        rc = data_str(k.data, "data.", "display_name", out->display_name, sizeof(out->display_name),
                      false, res);
    if (!rc)
        rc = data_str(k.data, "data.", "profile_image", out->profile_image,
                      sizeof(out->profile_image), false, res);
    if (!rc)
        rc = data_str(k.data, "data.", "region", out->region, sizeof(out->region), false, res);
    if (!rc)
        rc = data_str(k.data, "data.", "account_origin", out->account_origin,
                      sizeof(out->account_origin), false, res);
done:
    if (rc)
        memset(out, 0, sizeof(*out));
    call_cleanup(&k);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Sending (E7) */

/* An E7 call for `body` (owned by the call from here on); fails only on a bad token. */
static enum ttdm_err send_call(struct ttdm_tiktok_client *c, struct call *k,
                               const char *access_token, const char *business_id,
                               const char *conversation_id, cJSON *body,
                               struct ttdm_tiktok_result *res)
{
    call_init(k, c, "POST", "/business/message/send/");
    k->json = body;
    add_str(body, "business_id", business_id);
    add_str(body, "recipient_type", "CONVERSATION");
    add_str(body, "recipient", conversation_id);
    return set_token(k, "Access-Token", access_token, res);
}

/* The message id of an accepted send. */
static enum ttdm_err send_answer(struct call *k, char message_id[TTDM_ID_MAX],
                                 struct ttdm_tiktok_result *res)
{
    /* data.message.message_id, not data.message_id (tiktok-api.md section 4). */
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(k->data, "message");
    return data_str(msg, "data.message.", "message_id", message_id, TTDM_ID_MAX, true, res);
}

static enum ttdm_err send_message(struct ttdm_tiktok_client *c, const char *access_token,
                                  const char *business_id, const char *conversation_id, cJSON *body,
                                  char message_id[TTDM_ID_MAX], struct ttdm_tiktok_result *res)
{
    struct call k;
    enum ttdm_err rc;

    message_id[0] = '\0';
    rc = send_call(c, &k, access_token, business_id, conversation_id, body, res);
    if (rc == TTDM_OK)
        rc = perform(c, &k, res);
    if (rc == TTDM_OK)
        rc = send_answer(&k, message_id, res);
    call_cleanup(&k);
    return rc;
}

static cJSON *text_body(const char *text, const char *referenced_message_id)
{
    cJSON *body = cJSON_CreateObject();
    add_str(body, "message_type", "TEXT");
    add_str(cJSON_AddObjectToObject(body, "text"), "body", text);
    if (referenced_message_id && *referenced_message_id)
        add_str(cJSON_AddObjectToObject(body, "referenced_message_info"), "referenced_message_id",
                referenced_message_id);
    return body;
}

enum ttdm_err ttdm_tiktok_send_text(struct ttdm_tiktok_client *c, const char *access_token,
                                    const char *business_id, const char *conversation_id,
                                    const char *text, const char *referenced_message_id,
                                    char message_id[TTDM_ID_MAX], struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;

    res = result_or(res, &scratch);
    return send_message(c, access_token, business_id, conversation_id,
                        text_body(text, referenced_message_id), message_id, res);
}

struct ttdm_tiktok_pending {
    struct call k;
    const char *headers[3];
    char *body;
    int64_t started;
};

struct ttdm_tiktok_pending *
ttdm_tiktok_send_text_begin(struct ttdm_tiktok_client *c, const char *access_token,
                            const char *business_id, const char *conversation_id, const char *text,
                            struct ttdm_httpc_req *req, struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_pending *p = ttdm_calloc(1, sizeof(*p));

    memset(res, 0, sizeof(*res));
    if (send_call(c, &p->k, access_token, business_id, conversation_id, text_body(text, NULL),
                  res) != TTDM_OK) {
        call_cleanup(&p->k);
        ttdm_free(p);
        return NULL;
    }
    p->started = ttdm_clock_mono_ms();
    call_request(c, &p->k, req, p->headers, &p->body);
    return p;
}

enum ttdm_err ttdm_tiktok_send_finish(struct ttdm_tiktok_client *c, struct ttdm_tiktok_pending *p,
                                      int transport_rc, const struct ttdm_httpc_resp *hr,
                                      char message_id[TTDM_ID_MAX], struct ttdm_tiktok_result *res)
{
    enum ttdm_err rc = call_decode(c, &p->k, transport_rc, hr, p->started, res);

    message_id[0] = '\0';
    if (rc == TTDM_OK)
        rc = send_answer(&p->k, message_id, res);
    ttdm_tiktok_send_abandon(p);
    return rc;
}

void ttdm_tiktok_send_abandon(struct ttdm_tiktok_pending *p)
{
    if (!p)
        return;
    call_cleanup(&p->k);
    if (p->body)
        cJSON_free(p->body);
    ttdm_free(p);
}

enum ttdm_err ttdm_tiktok_send_image(struct ttdm_tiktok_client *c, const char *access_token,
                                     const char *business_id, const char *conversation_id,
                                     const char *media_id, char message_id[TTDM_ID_MAX],
                                     struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;
    cJSON *body = cJSON_CreateObject();

    res = result_or(res, &scratch);
    add_str(body, "message_type", "IMAGE");
    add_str(cJSON_AddObjectToObject(body, "image"), "media_id", media_id);
    return send_message(c, access_token, business_id, conversation_id, body, message_id, res);
}

/* ------------------------------------------------------------------------------------ */
/* Media (E8, E9) */

enum ttdm_err ttdm_tiktok_upload_image(struct ttdm_tiktok_client *c, const char *access_token,
                                       const char *business_id, const void *data, size_t len,
                                       const char *filename, const char *content_type,
                                       char media_id[TTDM_ID_MAX], struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;
    struct ttdm_httpc_part parts[3];
    struct call k;
    enum ttdm_err rc;

    res = result_or(res, &scratch);
    media_id[0] = '\0';
    call_init(&k, c, "POST", "/business/message/media/upload/");
    rc = set_token(&k, "Access-Token", access_token, res);
    if (rc)
        goto done;
    memset(parts, 0, sizeof(parts));
    parts[0].name = "business_id";
    parts[0].data = business_id ? business_id : "";
    parts[0].len = strlen(parts[0].data);
    parts[1].name = "media_type";
    parts[1].data = "IMAGE";
    parts[1].len = 5;
    parts[2].name = "file";
    parts[2].data = data;
    parts[2].len = len;
    parts[2].filename = filename && *filename ? filename : "image";
    parts[2].content_type =
        content_type && *content_type ? content_type : "application/octet-stream";
    k.parts = parts;
    k.n_parts = 3;
    rc = perform(c, &k, res);
    if (!rc)
        rc = data_str(k.data, "data.", "media_id", media_id, TTDM_ID_MAX, true, res);
done:
    call_cleanup(&k);
    return rc;
}

/*
 * The type comes from the bytes, not from the CDN's Content-Type: util/httpc does not
 * expose response headers, and a sniffed type is also the safer one to serve back to a
 * browser later.
 */
static const char *sniff_type(const unsigned char *p, size_t n)
{
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return "image/jpeg";
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return "image/gif";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return "image/webp";
    if (n >= 12 && memcmp(p + 4, "ftyp", 4) == 0) {
        if (memcmp(p + 8, "qt  ", 4) == 0)
            return "video/quicktime";
        if (memcmp(p + 8, "heic", 4) == 0 || memcmp(p + 8, "heix", 4) == 0 ||
            memcmp(p + 8, "mif1", 4) == 0)
            return "image/heic";
        return "video/mp4";
    }
    return "application/octet-stream";
}

static enum ttdm_err fetch_media(struct ttdm_tiktok_client *c, const char *url,
                                 const char *x_user_header, size_t max_bytes,
                                 struct ttdm_tiktok_media *out, struct ttdm_tiktok_result *res)
{
    struct ttdm_httpc_req req;
    struct ttdm_httpc_resp hr;
    const char *headers[2] = {x_user_header, NULL};
    enum ttdm_err rc = TTDM_OK;
    int trc;

    if (!max_bytes)
        max_bytes = MEDIA_DEFAULT_MAX;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.timeout_ms = c->timeout_ms;
    req.max_response = max_bytes;

    /* The envelope of E9 is done with: from here on the result describes the CDN. */
    res->tiktok_code = 0;
    res->tiktok_message[0] = '\0';
    trc = ttdm_httpc_do(c->http, &req, &hr);
    res->http_status = (int)hr.status;
    if (trc) {
        if (is_too_big(&hr)) {
            set_message(res, "the media file is larger than %zu bytes", max_bytes);
            rc = TTDM_ERR_TIKTOK;
        } else {
            res->uncertain = may_have_reached(&hr);
            set_message(res, "cannot download the media file: %s", hr.error);
            rc = TTDM_ERR_TIKTOK_UNAVAILABLE;
        }
    } else if (hr.status >= 500) {
        set_message(res, "the media server answered HTTP %ld", hr.status);
        rc = TTDM_ERR_TIKTOK_UNAVAILABLE;
    } else if (hr.status != 200) {
        set_message(res, "the media server answered HTTP %ld", hr.status);
        rc = TTDM_ERR_TIKTOK;
    } else if (hr.body.len == 0) {
        set_message(res, "the media file is empty");
        rc = TTDM_ERR_TIKTOK;
    } else {
        ttdm_strlcpy(out->content_type,
                     sniff_type((const unsigned char *)hr.body.data, hr.body.len),
                     sizeof(out->content_type));
        out->data = ttdm_buf_take(&hr.body, &out->len);
    }
    if (rc)
        LOG_WARN(MOD, "media download failed: %s (http %d): %s", ttdm_err_code(rc),
                 res->http_status, res->tiktok_message);
    ttdm_httpc_resp_cleanup(&hr);
    return rc;
}

enum ttdm_err ttdm_tiktok_download_media(struct ttdm_tiktok_client *c, const char *access_token,
                                         const char *business_id, const char *conversation_id,
                                         const char *message_id, const char *media_id,
                                         const char *media_type, size_t max_bytes,
                                         struct ttdm_tiktok_media *out,
                                         struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;
    char url[TTDM_URL_MAX];
    struct ttdm_buf x_user;
    struct call k;
    enum ttdm_err rc;

    res = result_or(res, &scratch);
    memset(out, 0, sizeof(*out));
    ttdm_buf_init(&x_user, TTDM_TIKTOK_TOKEN_MAX + 32);
    call_init(&k, c, "POST", "/business/message/media/download/");
    k.json = cJSON_CreateObject();
    rc = set_token(&k, "Access-Token", access_token, res);
    if (rc)
        goto done;
    add_str(k.json, "business_id", business_id);
    add_str(k.json, "conversation_id", conversation_id);
    add_str(k.json, "message_id", message_id);
    add_str(k.json, "media_id", media_id);
    add_str(k.json, "media_type", media_type && *media_type ? media_type : "IMAGE");
    rc = perform(c, &k, res);
    if (!rc)
        rc = data_str(k.data, "data.", "download_url", url, sizeof(url), true, res);
    if (rc)
        goto done;
    /* The CDN authenticates with the access token in `x-user`; 403 without it. */
    ttdm_buf_append_str(&x_user, "x-user: ");
    ttdm_buf_append_str(&x_user, access_token);
    rc = fetch_media(c, url, ttdm_buf_str(&x_user), max_bytes, out, res);
done:
    if (rc)
        ttdm_tiktok_media_cleanup(out);
    ttdm_buf_cleanup(&x_user);
    call_cleanup(&k);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Capabilities (E10) */

enum ttdm_err ttdm_tiktok_can_send_image(struct ttdm_tiktok_client *c, const char *access_token,
                                         const char *business_id, const char *conversation_id,
                                         bool *can_send_image, struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;
    const cJSON *infos, *it;
    struct call k;
    enum ttdm_err rc;

    res = result_or(res, &scratch);
    *can_send_image = false;
    call_init(&k, c, "GET", "/business/message/capabilities/get/");
    rc = set_token(&k, "Access-Token", access_token, res);
    if (rc)
        goto done;
    /* conversation_id may contain '+', which TikTok only accepts as %2B. */
    if (add_param(&k.url, "business_id", business_id) ||
        add_param(&k.url, "capability_types", "[\"IMAGE_SEND\"]") ||
        add_param(&k.url, "conversation_id", conversation_id) ||
        add_param(&k.url, "conversation_type", "SINGLE")) {
        set_message(res, "request URL too long");
        rc = TTDM_ERR_INTERNAL;
        goto done;
    }
    rc = perform(c, &k, res);
    if (rc)
        goto done;
    infos = cJSON_GetObjectItemCaseSensitive(k.data, "capability_infos");
    if (!cJSON_IsArray(infos))
        infos = NULL;
    rc = TTDM_ERR_TIKTOK;
    cJSON_ArrayForEach(it, infos)
    {
        const char *type = NULL;
        bool ok = false;
        if (ttdm_json_get_str(it, "capability_type", 64, &type) != 0 ||
            strcmp(type, "IMAGE_SEND") != 0)
            continue;
        if (ttdm_json_get_bool(it, "capability_result", &ok) != 0)
            break;
        *can_send_image = ok;
        rc = TTDM_OK;
        break;
    }
    if (rc) {
        set_message(res, "malformed response from TikTok: data.capability_infos has no "
                         "IMAGE_SEND entry with a boolean capability_result");
        LOG_WARN(MOD, "%s", res->tiktok_message);
    }
done:
    call_cleanup(&k);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Webhook subscription (E13, E14) */

enum ttdm_err ttdm_tiktok_webhook_update(struct ttdm_tiktok_client *c, const char *event_type,
                                         const char *callback_url, struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;
    struct call k;
    enum ttdm_err rc;

    res = result_or(res, &scratch);
    call_init(&k, c, "POST", "/business/webhook/update/");
    k.json = cJSON_CreateObject();
    add_str(k.json, "app_id", c->app_id);
    add_str(k.json, "secret", c->app_secret);
    add_str(k.json, "event_type", event_type);
    add_str(k.json, "callback_url", callback_url);
    rc = perform(c, &k, res);
    call_cleanup(&k);
    return rc;
}

enum ttdm_err ttdm_tiktok_webhook_list(struct ttdm_tiktok_client *c, const char *event_type,
                                       char *callback_url, size_t size,
                                       struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_result scratch;
    struct call k;
    enum ttdm_err rc;

    res = result_or(res, &scratch);
    if (size)
        callback_url[0] = '\0';
    call_init(&k, c, "GET", "/business/webhook/list/");
    /* This endpoint takes the secret in the query; `path` keeps it out of the logs. */
    if (add_param(&k.url, "app_id", c->app_id) || add_param(&k.url, "secret", c->app_secret) ||
        add_param(&k.url, "event_type", event_type)) {
        set_message(res, "request URL too long");
        rc = TTDM_ERR_INTERNAL;
        goto done;
    }
    rc = perform(c, &k, res);
    if (!rc && size)
        rc = data_str(k.data, "data.", "callback_url", callback_url, size, false, res);
done:
    call_cleanup(&k);
    return rc;
}
