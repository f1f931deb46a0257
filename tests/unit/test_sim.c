/* test_sim.c -- ttdm-sim from the outside: its TikTok API, rules, webhooks, faults and OAuth,
 * started in-process on a free port and driven over HTTP. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../sim/sim.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/httpc.h"
#include "util/httpd.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define HOUR_MS 3600000LL
#define APP_ID "test-app"
#define APP_SECRET "test-secret-123"
#define MAX_EVENTS 256

/* A 1x1 PNG. */
static const unsigned char png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
    0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f, 0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47,
    0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

/* --- a webhook receiver that checks TikTok's signature like ttdm must --- */

struct event {
    char event[40];
    char user_openid[80];
    char client_key[64];
    char message_id[40];
    char conversation_id[80];
    char source[8];
    char type[24];
    char text[64];
    char from_role[32];
    char from_region[4];
    char to_id[80];
    int64_t last_read;
    bool signature_ok;
    bool fresh;
    int answered;
};

static struct receiver {
    pthread_mutex_t lock;
    struct ttdm_httpd *httpd;
    uint16_t port;
    int fail_next; /* answer 500 to this many more deliveries */
    int n;
    struct event ev[MAX_EVENTS];
} rx = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void copy_str(const cJSON *o, const char *key, char *dst, size_t size)
{
    const char *s = NULL;
    if (ttdm_json_get_str(o, key, size - 1, &s) == 0)
        ttdm_strlcpy(dst, s, size);
}

static void on_webhook(void *ud, const struct ttdm_http_request *req,
                       struct ttdm_http_response *resp)
{
    const char *h = ttdm_http_header(req, "TikTok-Signature");
    struct event e;
    char t[32] = "", s[80] = "", hex[65], err[128];
    int64_t t_val = 0;
    cJSON *env, *content = NULL;
    const char *inner = NULL;
    (void)ud;

    memset(&e, 0, sizeof(e));
    /* t=<seconds>,s=<hex>: match by name, not position. */
    for (const char *p = h; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n > 2 && p[0] == 't' && p[1] == '=')
            ttdm_strlcpy_n(t, sizeof(t), p + 2, n - 2);
        if (n > 2 && p[0] == 's' && p[1] == '=')
            ttdm_strlcpy_n(s, sizeof(s), p + 2, n - 2);
        p += n + (p[n] == ',');
    }
    if (*t && *s) {
        const char *parts[3] = {t, ".", req->body};
        size_t lens[3] = {strlen(t), 1, req->body_len};
        ttdm_hmac_sha256_hex(APP_SECRET, strlen(APP_SECRET), parts, lens, 3, hex);
        e.signature_ok = ttdm_const_eq(hex, 64, s, strlen(s));
        ttdm_parse_i64(t, (size_t)-1, 0, INT64_MAX, &t_val);
        e.fresh = llabs(t_val - ttdm_clock_now_ms() / 1000) <= 300;
    }
    env = ttdm_json_parse(req->body, req->body_len, err, sizeof(err));
    copy_str(env, "event", e.event, sizeof(e.event));
    copy_str(env, "user_openid", e.user_openid, sizeof(e.user_openid));
    copy_str(env, "client_key", e.client_key, sizeof(e.client_key));
    if (ttdm_json_get_str(env, "content", 1 << 20, &inner) == 0)
        content = ttdm_json_parse(inner, strlen(inner), err, sizeof(err));
    if (content) {
        const cJSON *from = cJSON_GetObjectItem(content, "from_user");
        copy_str(content, "message_id", e.message_id, sizeof(e.message_id));
        copy_str(content, "conversation_id", e.conversation_id, sizeof(e.conversation_id));
        copy_str(content, "type", e.type, sizeof(e.type));
        copy_str(cJSON_GetObjectItem(content, "message_tag"), "source", e.source, sizeof(e.source));
        copy_str(cJSON_GetObjectItem(content, "text"), "body", e.text, sizeof(e.text));
        copy_str(from, "role", e.from_role, sizeof(e.from_role));
        copy_str(from, "region", e.from_region, sizeof(e.from_region));
        copy_str(cJSON_GetObjectItem(content, "to_user"), "id", e.to_id, sizeof(e.to_id));
        ttdm_json_get_i64(cJSON_GetObjectItem(content, "read"), "last_read_timestamp", 0, INT64_MAX,
                          &e.last_read);
    }
    cJSON_Delete(content);
    cJSON_Delete(env);

    pthread_mutex_lock(&rx.lock);
    if (!e.signature_ok || !e.fresh)
        e.answered = 401;
    else if (rx.fail_next > 0) {
        rx.fail_next--;
        e.answered = 500;
    } else {
        e.answered = 200;
    }
    if (rx.n < MAX_EVENTS)
        rx.ev[rx.n++] = e;
    pthread_mutex_unlock(&rx.lock);
    ttdm_http_resp_bytes(resp, e.answered, "text/plain", "ok", 2);
}

/* Waits until `n` deliveries of event (any when NULL) for message_id (any when NULL) reached
 * the receiver; returns how many did. */
static int wait_events(const char *event, const char *message_id, int n, int answered)
{
    int found = 0;
    for (int tries = 0; tries < 300; tries++) {
        found = 0;
        pthread_mutex_lock(&rx.lock);
        for (int i = 0; i < rx.n; i++)
            if ((!event || strcmp(rx.ev[i].event, event) == 0) &&
                (!message_id || strcmp(rx.ev[i].message_id, message_id) == 0) &&
                (!answered || rx.ev[i].answered == answered))
                found++;
        pthread_mutex_unlock(&rx.lock);
        if (found >= n)
            return found;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return found;
}

static struct event find_event(const char *event, const char *message_id)
{
    struct event e;
    memset(&e, 0, sizeof(e));
    pthread_mutex_lock(&rx.lock);
    for (int i = 0; i < rx.n; i++)
        if (strcmp(rx.ev[i].event, event) == 0 &&
            (!message_id || strcmp(rx.ev[i].message_id, message_id) == 0))
            e = rx.ev[i];
    pthread_mutex_unlock(&rx.lock);
    return e;
}

/* --- the simulator under test and an HTTP helper --- */

static struct ttdm_sim *sim;
static struct ttdm_httpc *client;
static char base[128];

struct reply {
    long status;
    cJSON *json; /* NULL when the body is not JSON */
    char *body;  /* owned */
    size_t len;
    bool timed_out;
};

static void reply_free(struct reply *r)
{
    cJSON_Delete(r->json);
    ttdm_free(r->body);
    memset(r, 0, sizeof(*r));
}

static struct reply http(const char *method, const char *path, const char *token, const char *body,
                         long timeout_ms)
{
    char url[2048], tok[160];
    const char *headers[3] = {NULL, NULL, NULL};
    int nh = 0;
    struct ttdm_httpc_req req;
    struct ttdm_httpc_resp resp;
    struct reply r;
    char err[128];

    memset(&r, 0, sizeof(r));
    snprintf(url, sizeof(url), "%s%s", base, path);
    if (token) {
        snprintf(tok, sizeof(tok), "Access-Token: %s", token);
        headers[nh++] = tok;
    }
    if (body)
        headers[nh++] = ttdm_starts_with(body, "{") ? "Content-Type: application/json"
                                                    : "Content-Type: "
                                                      "application/x-www-form-urlencoded";
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.timeout_ms = timeout_ms;
    ttdm_httpc_do(client, &req, &resp);
    r.status = resp.status;
    r.timed_out = resp.timed_out;
    r.body = ttdm_buf_take(&resp.body, &r.len);
    if (!r.body)
        r.body = ttdm_strdup("");
    r.json = ttdm_json_parse(r.body, r.len, err, sizeof(err));
    ttdm_httpc_resp_cleanup(&resp);
    return r;
}

static cJSON *call(const char *method, const char *path, const char *token, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A JSON call that must answer 200 with JSON; returns the parsed body (caller deletes). */
static cJSON *call(const char *method, const char *path, const char *token, const char *fmt, ...)
{
    char body[8192];
    struct reply r;
    cJSON *out;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof(body), fmt, ap);
        va_end(ap);
    }
    r = http(method, path, token, fmt ? body : NULL, 0);
    if (r.status != 200 || !r.json)
        fail_msg("%s %s answered %ld: %s", method, path, r.status, r.body);
    out = r.json;
    r.json = NULL;
    reply_free(&r);
    return out;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsString(v))
        fail_msg("member %s is not a string", key);
    return v->valuestring;
}

static int64_t num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("member %s is not a number", key);
    return (int64_t)v->valuedouble;
}

static bool boolean(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsBool(v))
        fail_msg("member %s is not a boolean", key);
    return cJSON_IsTrue(v);
}

/* Percent-encodes s for a query string or a path segment. */
static const char *enc(const char *s)
{
    static char out[4][512];
    static int i;
    i = (i + 1) % 4;
    ttdm_url_encode(s, out[i], sizeof(out[i]));
    return out[i];
}

struct account {
    char business_id[80];
    char access_token[96];
    char refresh_token[96];
};

static struct account make_account(const char *username, const char *region, const char *origin)
{
    struct account a;
    cJSON *o = call("POST", "/sim/accounts", NULL,
                    "{\"username\":\"%s\",\"display_name\":\"Shop %s\",\"region\":\"%s\","
                    "\"origin\":\"%s\"}",
                    username, username, region, origin);
    ttdm_strlcpy(a.business_id, str(o, "business_id"), sizeof(a.business_id));
    ttdm_strlcpy(a.access_token, str(o, "access_token"), sizeof(a.access_token));
    ttdm_strlcpy(a.refresh_token, str(o, "refresh_token"), sizeof(a.refresh_token));
    assert_int_equal(num(o, "expires_in"), 86400);
    cJSON_Delete(o);
    return a;
}

struct customer {
    char customer_id[80];
    char conversation_id[80];
};

static struct customer make_customer(const struct account *a, const char *username,
                                     const char *region)
{
    struct customer c;
    cJSON *o = call("POST", "/sim/customers", NULL,
                    "{\"business_id\":\"%s\",\"username\":\"%s\",\"region\":\"%s\"}",
                    a->business_id, username, region);
    ttdm_strlcpy(c.customer_id, str(o, "customer_id"), sizeof(c.customer_id));
    ttdm_strlcpy(c.conversation_id, str(o, "conversation_id"), sizeof(c.conversation_id));
    cJSON_Delete(o);
    return c;
}

/* The customer writes; ts 0 means "now". Returns the message id in out. */
static long customer_says(const struct customer *c, const char *text, int64_t ts, char *out)
{
    char path[600], tsbuf[48] = "";
    cJSON *o;
    long status;
    snprintf(path, sizeof(path), "/sim/customers/%s/messages", c->customer_id);
    if (ts)
        snprintf(tsbuf, sizeof(tsbuf), ",\"timestamp_ms\":%" PRId64, ts);
    o = call("POST", path, NULL, "{\"type\":\"text\",\"text\":\"%s\"%s}", text, tsbuf);
    if (out)
        ttdm_strlcpy(out, str(o, "message_id"), 40);
    status = (long)num(o, "delivery_status");
    cJSON_Delete(o);
    return status;
}

/* E7 TEXT; returns the envelope code and copies the message id / message. */
static int send_text(const struct account *a, const char *conv, const char *text, char *id_out,
                     char *msg_out)
{
    cJSON *o = call("POST", "/open_api/v1.3/business/message/send/", a->access_token,
                    "{\"business_id\":\"%s\",\"recipient_type\":\"CONVERSATION\","
                    "\"recipient\":\"%s\",\"message_type\":\"TEXT\",\"text\":{\"body\":\"%s\"}}",
                    a->business_id, conv, text);
    int code = (int)num(o, "code");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "request_id")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(o, "data")));
    if (code == 0 && id_out)
        ttdm_strlcpy(
            id_out,
            str(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "message"), "message_id"), 40);
    if (msg_out)
        ttdm_strlcpy(msg_out, str(o, "message"), 256);
    cJSON_Delete(o);
    return code;
}

static int send_image(const struct account *a, const char *conv, const char *media_id,
                      char *msg_out)
{
    cJSON *o = call("POST", "/open_api/v1.3/business/message/send/", a->access_token,
                    "{\"business_id\":\"%s\",\"recipient_type\":\"CONVERSATION\","
                    "\"recipient\":\"%s\",\"message_type\":\"IMAGE\",\"image\":{\"media_id\":"
                    "\"%s\"}}",
                    a->business_id, conv, media_id);
    int code = (int)num(o, "code");
    if (msg_out)
        ttdm_strlcpy(msg_out, str(o, "message"), 256);
    cJSON_Delete(o);
    return code;
}

static cJSON *budget(const char *conv)
{
    char path[256];
    snprintf(path, sizeof(path), "/sim/conversations/%s/budget", enc(conv));
    return call("GET", path, NULL, NULL);
}

static void expect_budget(const char *conv, int64_t replies_left, int64_t closes_at)
{
    cJSON *b = budget(conv);
    if (num(b, "replies_left") != replies_left)
        fail_msg("replies_left %" PRId64 ", expected %" PRId64, num(b, "replies_left"),
                 replies_left);
    if (closes_at)
        assert_int_equal(num(b, "window_closes_at"), closes_at);
    cJSON_Delete(b);
}

static void set_offset(int64_t offset_ms)
{
    cJSON *o = call("POST", "/sim/clock", NULL, "{\"offset_ms\":%" PRId64 "}", offset_ms);
    assert_int_equal(num(o, "offset_ms"), offset_ms);
    cJSON_Delete(o);
}

static int64_t sim_now(void)
{
    cJSON *o = call("GET", "/sim/clock", NULL, NULL);
    int64_t now = num(o, "now_ms");
    cJSON_Delete(o);
    return now;
}

/* E3 with the account's refresh token; updates both tokens. */
static int refresh(struct account *a)
{
    cJSON *o = call("POST", "/open_api/v1.3/tt_user/oauth2/refresh_token/", NULL,
                    "{\"client_id\":\"" APP_ID "\",\"client_secret\":\"" APP_SECRET
                    "\",\"grant_type\":\"refresh_token\",\"refresh_token\":\"%s\"}",
                    a->refresh_token);
    int code = (int)num(o, "code");
    if (code == 0) {
        const cJSON *d = cJSON_GetObjectItem(o, "data");
        ttdm_strlcpy(a->access_token, str(d, "access_token"), sizeof(a->access_token));
        ttdm_strlcpy(a->refresh_token, str(d, "refresh_token"), sizeof(a->refresh_token));
        assert_string_equal(str(d, "open_id"), a->business_id);
        assert_string_equal(str(d, "token_type"), "Bearer");
        assert_int_equal(num(d, "refresh_token_expires_in"), 31536000);
    }
    cJSON_Delete(o);
    return code;
}

static char *base64(const unsigned char *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = ttdm_malloc(len / 3 * 4 + 5);
    size_t w = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[w++] = tbl[v >> 18 & 63];
        out[w++] = tbl[v >> 12 & 63];
        out[w++] = i + 1 < len ? tbl[v >> 6 & 63] : '=';
        out[w++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[w] = '\0';
    return out;
}

static struct reply upload(const struct account *a, const void *data, size_t len,
                           const char *filename)
{
    char url[256], tok[160], err[128];
    const char *headers[2] = {tok, NULL};
    struct ttdm_httpc_part parts[3] = {
        {"business_id", a->business_id, strlen(a->business_id), NULL, NULL},
        {"media_type", "IMAGE", 5, NULL, NULL},
        {"file", data, len, filename, "application/octet-stream"},
    };
    struct ttdm_httpc_req req;
    struct ttdm_httpc_resp resp;
    struct reply r;

    snprintf(url, sizeof(url), "%s/open_api/v1.3/business/message/media/upload/", base);
    snprintf(tok, sizeof(tok), "Access-Token: %s", a->access_token);
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.headers = headers;
    req.parts = parts;
    req.n_parts = 3;
    ttdm_httpc_do(client, &req, &resp);
    memset(&r, 0, sizeof(r));
    r.status = resp.status;
    r.body = ttdm_buf_take(&resp.body, &r.len);
    if (!r.body)
        r.body = ttdm_strdup("");
    r.json = ttdm_json_parse(r.body, r.len, err, sizeof(err));
    ttdm_httpc_resp_cleanup(&resp);
    return r;
}

static int envelope_code(const struct reply *r)
{
    assert_int_equal(r->status, 200);
    assert_non_null(r->json);
    return (int)num(r->json, "code");
}

/* --- fixtures --- */

static int group_setup(void **state)
{
    struct ttdm_httpd_config hc;
    (void)state;
    ttdm_log_set_level("warn");
    ttdm_crypto_init();
    ttdm_httpc_global_init();
    ttdm_httpd_config_default(&hc);
    hc.workers = 4;
    rx.httpd = ttdm_httpd_start(&hc, on_webhook, NULL, NULL);
    assert_non_null(rx.httpd);
    rx.port = ttdm_httpd_port(rx.httpd);
    client = ttdm_httpc_new();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ttdm_httpc_free(client);
    ttdm_httpd_stop(rx.httpd);
    return 0;
}

static int start_sim(void **state)
{
    struct ttdm_sim_config cfg;
    (void)state;
    ttdm_sim_config_defaults(&cfg);
    cfg.port = 0;
    ttdm_strlcpy(cfg.app_id, APP_ID, sizeof(cfg.app_id));
    ttdm_strlcpy(cfg.app_secret, APP_SECRET, sizeof(cfg.app_secret));
    snprintf(cfg.callback_url, sizeof(cfg.callback_url), "http://127.0.0.1:%u/webhooks/tiktok",
             (unsigned)rx.port);
    cfg.webhook_retry_base_ms = 20;
    cfg.webhook_max_attempts = 4;
    cfg.webhook_workers = 2;
    cfg.http_workers = 6;
    sim = ttdm_sim_start(&cfg);
    assert_non_null(sim);
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)ttdm_sim_port(sim));
    pthread_mutex_lock(&rx.lock);
    rx.n = 0;
    rx.fail_next = 0;
    pthread_mutex_unlock(&rx.lock);
    return 0;
}

static int stop_sim(void **state)
{
    (void)state;
    ttdm_sim_stop(sim);
    sim = NULL;
    return 0;
}

/* --- tests --- */

static void test_envelope_and_tokens(void **state)
{
    struct account a = make_account("shop", "SG", "app");
    char path[512], msg[256];
    struct reply r;
    (void)state;

    /* Wrong paths are plain 404s; the final '/' matters. */
    r = http("GET", "/open_api/v1.3/nothing/here/", NULL, NULL, 0);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    snprintf(path, sizeof(path), "/open_api/v1.3/business/get?business_id=%s", a.business_id);
    r = http("GET", path, a.access_token, NULL, 0);
    assert_int_equal(r.status, 404);
    reply_free(&r);

    /* Errors are HTTP 200 envelopes with an empty data object. */
    snprintf(path, sizeof(path), "/open_api/v1.3/business/get/?business_id=%s", a.business_id);
    r = http("GET", path, NULL, NULL, 0);
    assert_int_equal(envelope_code(&r), 40104);
    assert_string_equal(str(r.json, "message"),
                        "Access token is null, you should set it in http header with key "
                        "Access-Token.");
    assert_int_equal(strlen(str(r.json, "request_id")), 32);
    assert_null(cJSON_GetObjectItem(r.json, "data")->child);
    reply_free(&r);
    r = http("GET", path, "act.nonsense", NULL, 0);
    assert_int_equal(envelope_code(&r), 40105);
    reply_free(&r);

    /* E6 with the simulator's region and origin extensions. */
    r = http("GET", path, a.access_token, NULL, 0);
    assert_int_equal(envelope_code(&r), 0);
    assert_string_equal(str(r.json, "message"), "OK");
    {
        const cJSON *d = cJSON_GetObjectItem(r.json, "data");
        assert_string_equal(str(d, "username"), "shop");
        assert_string_equal(str(d, "display_name"), "Shop shop");
        assert_true(ttdm_starts_with(str(d, "profile_image"), "http://127.0.0.1:"));
        assert_true(boolean(d, "is_business_account"));
        assert_string_equal(str(d, "region"), "SG");
        assert_string_equal(str(d, "account_origin"), "app");
    }
    reply_free(&r);

    /* R8: an expired access token. */
    snprintf(path, sizeof(path), "/sim/accounts/%s/expire_token", a.business_id);
    cJSON_Delete(call("POST", path, NULL, "{\"which\":\"access\"}"));
    snprintf(path, sizeof(path), "/open_api/v1.3/business/get/?business_id=%s", a.business_id);
    r = http("GET", path, a.access_token, NULL, 0);
    assert_int_equal(envelope_code(&r), 40102);
    assert_string_equal(str(r.json, "message"), "the access token has expired");
    reply_free(&r);
    assert_int_equal(send_text(&a, "whatever", "hi", NULL, msg), 40102);
    assert_string_equal(msg, "the access token has expired");
    /* The refresh token still works and gives a working access token. */
    assert_int_equal(refresh(&a), 0);
    r = http("GET", path, a.access_token, NULL, 0);
    assert_int_equal(envelope_code(&r), 0);
    reply_free(&r);
    /* Another account's business_id is not ours. */
    snprintf(path, sizeof(path), "/open_api/v1.3/business/get/?business_id=someone-else");
    r = http("GET", path, a.access_token, NULL, 0);
    assert_int_equal(envelope_code(&r), 40001);
    reply_free(&r);
}

/* PRODUCT.md's table, judged by the simulator alone, with the clock moved forward. */
static void test_seed_simulation(void **state)
{
    struct account a = make_account("seed_shop", "SG", "app");
    struct customer c = make_customer(&a, "seed_customer", "SG");
    int64_t t0 = sim_now();
    char msg[256];
    cJSON *b, *list;
    (void)state;

    /* Webhooks are signed with the simulator's clock, hours ahead of the receiver's: switch
     * them off here, the webhook tests cover them. */
    cJSON_Delete(call("POST", "/sim/callback", NULL, "{\"callback_url\":\"\"}"));
#define H(k) (t0 + (k)*HOUR_MS)
    set_offset(1 * HOUR_MS);
    customer_says(&c, "CM1", H(1), NULL);
    expect_budget(c.conversation_id, 10, H(49));

    set_offset(2 * HOUR_MS);
    for (int i = 0; i < 3; i++)
        assert_int_equal(send_text(&a, c.conversation_id, "BM", NULL, NULL), 0);
    expect_budget(c.conversation_id, 7, H(49));

    set_offset(4 * HOUR_MS);
    assert_int_equal(send_text(&a, c.conversation_id, "BM4", NULL, NULL), 0);
    expect_budget(c.conversation_id, 6, H(49));

    set_offset(7 * HOUR_MS);
    customer_says(&c, "CM2", H(7), NULL);
    expect_budget(c.conversation_id, 10, H(55));

    set_offset(8 * HOUR_MS);
    customer_says(&c, "CM3", H(8), NULL);
    expect_budget(c.conversation_id, 10, H(56));

    set_offset(10 * HOUR_MS);
    assert_int_equal(send_text(&a, c.conversation_id, "BM at H10", NULL, NULL), 0);
    expect_budget(c.conversation_id, 9, H(56));

    /* 39 hours in, the 24-hour access token has expired: refresh it, as ttdm would. */
    set_offset(39 * HOUR_MS);
    assert_int_equal(send_text(&a, c.conversation_id, "BM at H39", NULL, NULL), 40102);
    assert_int_equal(refresh(&a), 0);
    assert_int_equal(send_text(&a, c.conversation_id, "BM at H39", NULL, NULL), 0);
    expect_budget(c.conversation_id, 8, H(56));

    /* H56: 48 h after CM3, the window is closed. */
    set_offset(56 * HOUR_MS);
    b = budget(c.conversation_id);
    assert_false(boolean(b, "window_open"));
    assert_int_equal(num(b, "replies_left"), 0);
    assert_false(boolean(b, "can_send"));
    cJSON_Delete(b);
    assert_int_equal(refresh(&a), 0);
    assert_int_equal(send_text(&a, c.conversation_id, "too late", NULL, msg), 40064);
    assert_non_null(strstr(msg, "window"));

    set_offset(60 * HOUR_MS);
    customer_says(&c, "CM4", H(60), NULL);
    expect_budget(c.conversation_id, 10, H(108));
    assert_int_equal(send_text(&a, c.conversation_id, "welcome back", NULL, NULL), 0);
    expect_budget(c.conversation_id, 9, H(108));
#undef H

    /* The simulator holds every accepted message: 4 CM and 7 BM. */
    {
        char path[256];
        snprintf(path, sizeof(path), "/sim/conversations/%s/messages", enc(c.conversation_id));
        list = call("GET", path, NULL, NULL);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(list, "messages")), 11);
        cJSON_Delete(list);
    }
}

static void test_eleventh_reply_and_late_messages(void **state)
{
    struct account a = make_account("quota_shop", "SG", "app");
    struct customer c = make_customer(&a, "quota_customer", "SG");
    int64_t now = sim_now();
    char msg[256];
    (void)state;

    /* R1: nothing may be sent before the customer writes. */
    assert_int_equal(send_text(&a, c.conversation_id, "hello?", NULL, msg), 40064);
    customer_says(&c, "hi", now - 2 * HOUR_MS, NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(send_text(&a, c.conversation_id, "reply", NULL, NULL), 0);
    assert_int_equal(send_text(&a, c.conversation_id, "eleventh", NULL, msg), 40064);
    assert_non_null(strstr(msg, "10 business messages"));
    expect_budget(c.conversation_id, 0, now - 2 * HOUR_MS + 48 * HOUR_MS);

    /* An older customer message arriving late changes nothing. */
    customer_says(&c, "late", now - 3 * HOUR_MS, NULL);
    expect_budget(c.conversation_id, 0, now - 2 * HOUR_MS + 48 * HOUR_MS);
    assert_int_equal(send_text(&a, c.conversation_id, "still no", NULL, NULL), 40064);

    /* A newer one resets the quota. */
    customer_says(&c, "again", 0, NULL);
    assert_int_equal(send_text(&a, c.conversation_id, "yes", NULL, NULL), 0);
    {
        cJSON *b = budget(c.conversation_id);
        assert_int_equal(num(b, "replies_left"), 9);
        cJSON_Delete(b);
    }

    /* R5: text length in code points; empty text; unknown conversations. */
    {
        size_t n = 6000;
        char *long_text = ttdm_malloc(n * 3 + 4);
        char *body = ttdm_malloc(n * 3 + 512);
        struct reply r;
        for (size_t i = 0; i < n; i++)
            memcpy(long_text + i * 3, "\xe2\x82\xac", 3); /* the euro sign: 3 bytes */
        long_text[n * 3] = '\0';
        snprintf(body, n * 3 + 512,
                 "{\"business_id\":\"%s\",\"recipient_type\":\"CONVERSATION\",\"recipient\":"
                 "\"%s\",\"message_type\":\"TEXT\",\"text\":{\"body\":\"%s\"}}",
                 a.business_id, c.conversation_id, long_text);
        r = http("POST", "/open_api/v1.3/business/message/send/", a.access_token, body, 0);
        assert_int_equal(envelope_code(&r), 0);
        reply_free(&r);
        memcpy(long_text + n * 3, "x", 2);
        snprintf(body, n * 3 + 512,
                 "{\"business_id\":\"%s\",\"recipient_type\":\"CONVERSATION\",\"recipient\":"
                 "\"%s\",\"message_type\":\"TEXT\",\"text\":{\"body\":\"%s\"}}",
                 a.business_id, c.conversation_id, long_text);
        r = http("POST", "/open_api/v1.3/business/message/send/", a.access_token, body, 0);
        assert_int_equal(envelope_code(&r), 40002);
        reply_free(&r);
        ttdm_free(long_text);
        ttdm_free(body);
    }
    assert_int_equal(send_text(&a, c.conversation_id, "", NULL, NULL), 40002);
    assert_int_equal(send_text(&a, "NoSuchConversation==", "x", NULL, NULL), 40007);
}

struct racer {
    const struct account *a;
    const char *conv;
    int code;
};

static void *race_send(void *arg)
{
    struct racer *r = arg;
    struct ttdm_httpc *c = ttdm_httpc_new();
    char url[256], tok[160], body[512], err[128];
    const char *headers[3] = {tok, "Content-Type: application/json", NULL};
    struct ttdm_httpc_req req;
    struct ttdm_httpc_resp resp;
    cJSON *o;

    snprintf(url, sizeof(url), "%s/open_api/v1.3/business/message/send/", base);
    snprintf(tok, sizeof(tok), "Access-Token: %s", r->a->access_token);
    snprintf(body, sizeof(body),
             "{\"business_id\":\"%s\",\"recipient_type\":\"CONVERSATION\",\"recipient\":"
             "\"%s\",\"message_type\":\"TEXT\",\"text\":{\"body\":\"race\"}}",
             r->a->business_id, r->conv);
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = strlen(body);
    r->code = -1;
    if (ttdm_httpc_do(c, &req, &resp) == 0) {
        o = ttdm_json_parse(resp.body.data, resp.body.len, err, sizeof(err));
        if (o)
            r->code = (int)cJSON_GetObjectItem(o, "code")->valuedouble;
        cJSON_Delete(o);
    }
    ttdm_httpc_resp_cleanup(&resp);
    ttdm_httpc_free(c);
    return NULL;
}

/* Concurrent sends: the simulator's check and record are one step, so never 11 replies. */
static void test_concurrent_sends_never_exceed_quota(void **state)
{
    struct account a = make_account("race_shop", "SG", "app");
    struct customer c = make_customer(&a, "race_customer", "SG");
    enum { N = 24 };
    pthread_t th[N];
    struct racer r[N];
    int accepted = 0, refused = 0;
    (void)state;

    customer_says(&c, "hi", 0, NULL);
    for (int i = 0; i < N; i++) {
        r[i].a = &a;
        r[i].conv = c.conversation_id;
        pthread_create(&th[i], NULL, race_send, &r[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        accepted += r[i].code == 0;
        refused += r[i].code == 40064;
    }
    assert_int_equal(accepted, 10);
    assert_int_equal(refused, N - 10);
    expect_budget(c.conversation_id, 0, 0);
}

static void test_daily_limit(void **state)
{
    struct account a = make_account("daily_shop", "SG", "app");
    struct customer c[3];
    char path[256], msg[256];
    cJSON *o;
    struct reply r;
    (void)state;

    snprintf(path, sizeof(path), "/sim/accounts/%s", a.business_id);
    o = call("POST", path, NULL, "{\"daily_limit\":2}");
    assert_int_equal(num(o, "daily_limit"), 2);
    cJSON_Delete(o);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "daily_%d", i);
        c[i] = make_customer(&a, name, "SG");
        customer_says(&c[i], "hello", 0, NULL);
    }
    assert_int_equal(send_text(&a, c[0].conversation_id, "one", NULL, NULL), 0);
    assert_int_equal(send_text(&a, c[1].conversation_id, "two", NULL, NULL), 0);
    assert_int_equal(send_text(&a, c[2].conversation_id, "three", NULL, msg), 40064);
    assert_string_equal(msg, "You are sending messages too fast. Take a rest.");
    /* A conversation already counted today is not limited. */
    assert_int_equal(send_text(&a, c[0].conversation_id, "one again", NULL, NULL), 0);
    o = budget(c[2].conversation_id);
    assert_int_equal(num(o, "daily_used"), 2);
    assert_int_equal(num(o, "daily_limit"), 2);
    assert_false(boolean(o, "counted_today"));
    cJSON_Delete(o);

    /* Messages typed in the TikTok app count the same and are refused the same way. */
    snprintf(path, sizeof(path), "/sim/accounts/%s/app_message", a.business_id);
    {
        char body[512];
        snprintf(body, sizeof(body), "{\"conversation_id\":\"%s\",\"text\":\"from the app\"}",
                 c[2].conversation_id);
        r = http("POST", path, NULL, body, 0);
        assert_int_equal(r.status, 422);
        assert_string_equal(str(cJSON_GetObjectItem(r.json, "error"), "code"), "40064");
        assert_int_equal(num(cJSON_GetObjectItem(r.json, "error"), "tiktok_code"), 40064);
        reply_free(&r);
    }

    /* Next UTC day: a fresh count (and a fresh access token, 24 h later). */
    cJSON_Delete(call("POST", "/sim/clock", NULL, "{\"advance_ms\":%lld}", 24 * HOUR_MS));
    assert_int_equal(refresh(&a), 0);
    assert_int_equal(send_text(&a, c[2].conversation_id, "three", NULL, NULL), 0);
}

static void test_images(void **state)
{
    struct account a = make_account("img_shop", "SG", "app");
    struct account web = make_account("web_shop", "ID", "web");
    struct customer sg = make_customer(&a, "sg_customer", "SG");
    struct customer jp = make_customer(&a, "jp_customer", "jp");
    struct customer wc = make_customer(&web, "web_customer", "ID");
    char media_id[96], web_media[96], msg[256], path[512], body[1024], url[512];
    struct reply r;
    (void)state;

    customer_says(&sg, "hi", 0, NULL);
    customer_says(&jp, "hi", 0, NULL);
    customer_says(&wc, "hi", 0, NULL);

    r = upload(&a, png, sizeof(png), "pixel.jpg"); /* the name does not matter */
    assert_int_equal(envelope_code(&r), 0);
    ttdm_strlcpy(media_id, str(cJSON_GetObjectItem(r.json, "data"), "media_id"), sizeof(media_id));
    reply_free(&r);
    r = upload(&a, "GIF89a....", 10, "a.gif");
    assert_int_equal(envelope_code(&r), 40908);
    reply_free(&r);
    {
        size_t big = 3 * 1024 * 1024 + 1;
        unsigned char *data = ttdm_calloc(1, big);
        memcpy(data, png, sizeof(png));
        r = upload(&a, data, big, "big.png");
        assert_int_equal(envelope_code(&r), 40907);
        reply_free(&r);
        ttdm_free(data);
    }

    /* R6: a Japanese customer cannot receive images. */
    assert_int_equal(send_image(&a, jp.conversation_id, media_id, msg), 40118);
    assert_non_null(strstr(msg, "JP"));
    assert_int_equal(send_image(&a, sg.conversation_id, media_id, NULL), 0);
    assert_int_equal(send_image(&a, sg.conversation_id, "img-unknown", msg), 40002);

    /* R7: an account created on the web cannot send images. */
    r = upload(&web, png, sizeof(png), "p.png");
    assert_int_equal(envelope_code(&r), 0);
    ttdm_strlcpy(web_media, str(cJSON_GetObjectItem(r.json, "data"), "media_id"),
                 sizeof(web_media));
    reply_free(&r);
    assert_int_equal(send_image(&web, wc.conversation_id, web_media, msg), 40118);
    assert_non_null(strstr(msg, "mobile app"));
    /* Another account's media is not usable. */
    assert_int_equal(send_image(&a, sg.conversation_id, web_media, NULL), 40002);
    /* Text and image together is refused. */
    snprintf(body, sizeof(body),
             "{\"business_id\":\"%s\",\"recipient_type\":\"CONVERSATION\",\"recipient\":\"%s\","
             "\"message_type\":\"IMAGE\",\"image\":{\"media_id\":\"%s\"},\"text\":{\"body\":"
             "\"x\"}}",
             a.business_id, sg.conversation_id, media_id);
    r = http("POST", "/open_api/v1.3/business/message/send/", a.access_token, body, 0);
    assert_int_equal(envelope_code(&r), 40002);
    reply_free(&r);

    /* E10 answers what send would. */
    snprintf(path, sizeof(path),
             "/open_api/v1.3/business/message/capabilities/get/?business_id=%s"
             "&capability_types=%s&conversation_id=%s&conversation_type=SINGLE",
             a.business_id, enc("[\"IMAGE_SEND\"]"), enc(jp.conversation_id));
    r = http("GET", path, a.access_token, NULL, 0);
    assert_int_equal(envelope_code(&r), 0);
    assert_false(boolean(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "data"), "capability_infos"), 0),
        "capability_result"));
    reply_free(&r);
    snprintf(path, sizeof(path),
             "/open_api/v1.3/business/message/capabilities/get/?business_id=%s"
             "&capability_types=%s&conversation_id=%s&conversation_type=SINGLE",
             a.business_id, enc("[\"IMAGE_SEND\"]"), enc(sg.conversation_id));
    r = http("GET", path, a.access_token, NULL, 0);
    assert_true(boolean(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "data"), "capability_infos"), 0),
        "capability_result"));
    reply_free(&r);

    /* An image from the customer: E9 gives a URL that needs x-user. */
    {
        char *b64 = base64(png, sizeof(png));
        char in_media[96], in_msg[40];
        cJSON *o;
        snprintf(path, sizeof(path), "/sim/customers/%s/messages", sg.customer_id);
        o = call("POST", path, NULL, "{\"type\":\"image\",\"image_base64\":\"%s\"}", b64);
        ttdm_strlcpy(in_media, str(o, "media_id"), sizeof(in_media));
        ttdm_strlcpy(in_msg, str(o, "message_id"), sizeof(in_msg));
        cJSON_Delete(o);
        assert_int_equal(wait_events("im_receive_msg", in_msg, 1, 200), 1);
        assert_string_equal(find_event("im_receive_msg", in_msg).type, "image");

        o = call("POST", "/open_api/v1.3/business/message/media/download/", a.access_token,
                 "{\"business_id\":\"%s\",\"conversation_id\":\"%s\",\"message_id\":\"%s\","
                 "\"media_id\":\"%s\",\"media_type\":\"IMAGE\"}",
                 a.business_id, sg.conversation_id, in_msg, in_media);
        assert_int_equal(num(o, "code"), 0);
        ttdm_strlcpy(url, str(cJSON_GetObjectItem(o, "data"), "download_url"), sizeof(url));
        cJSON_Delete(o);
        assert_true(ttdm_starts_with(url, base));
        r = http("GET", url + strlen(base), NULL, NULL, 0);
        assert_int_equal(r.status, 403);
        reply_free(&r);
        {
            char tok[160];
            const char *headers[2] = {tok, NULL};
            struct ttdm_httpc_req req;
            struct ttdm_httpc_resp resp;
            snprintf(tok, sizeof(tok), "x-user: %s", a.access_token);
            memset(&req, 0, sizeof(req));
            req.method = "GET";
            req.url = url;
            req.headers = headers;
            ttdm_httpc_do(client, &req, &resp);
            assert_int_equal(resp.status, 200);
            assert_int_equal(resp.body.len, sizeof(png));
            assert_memory_equal(resp.body.data, png, sizeof(png));
            ttdm_httpc_resp_cleanup(&resp);
        }

        /* R6 both ways: a Japanese customer cannot send one either. */
        snprintf(path, sizeof(path), "/sim/customers/%s/messages", jp.customer_id);
        snprintf(body, sizeof(body), "{\"type\":\"image\",\"image_base64\":\"%s\"}", b64);
        r = http("POST", path, NULL, body, 0);
        assert_int_equal(r.status, 422);
        reply_free(&r);
        ttdm_free(b64);
    }
}

static void test_webhooks_signed_and_echoed(void **state)
{
    struct account a = make_account("hook_shop", "SG", "app");
    struct customer c = make_customer(&a, "hook_customer", "BR");
    char cm[40], bm[40], path[256];
    struct event e;
    cJSON *o;
    (void)state;

    assert_int_equal(customer_says(&c, "hello shop", 0, cm), 200);
    e = find_event("im_receive_msg", cm);
    assert_true(e.signature_ok);
    assert_string_equal(e.client_key, APP_ID);
    assert_string_equal(e.user_openid, a.business_id);
    assert_string_equal(e.conversation_id, c.conversation_id);
    assert_string_equal(e.type, "text");
    assert_string_equal(e.text, "hello shop");
    assert_string_equal(e.from_role, "personal_account");
    assert_string_equal(e.from_region, "BR");
    assert_string_equal(e.to_id, a.business_id);

    /* The API send is echoed asynchronously with source API and the same message id. */
    assert_int_equal(send_text(&a, c.conversation_id, "hi there", bm, NULL), 0);
    assert_int_equal(wait_events("im_send_msg", bm, 1, 200), 1);
    e = find_event("im_send_msg", bm);
    assert_true(e.signature_ok);
    assert_string_equal(e.source, "API");
    assert_string_equal(e.from_role, "business_account");

    /* Typed in the TikTok app: recorded, counted, echoed with source APP. */
    snprintf(path, sizeof(path), "/sim/accounts/%s/app_message", a.business_id);
    o = call("POST", path, NULL, "{\"conversation_id\":\"%s\",\"text\":\"from my phone\"}",
             c.conversation_id);
    assert_int_equal(num(o, "delivery_status"), 200);
    e = find_event("im_send_msg", str(o, "message_id"));
    assert_string_equal(e.source, "APP");
    cJSON_Delete(o);
    expect_budget(c.conversation_id, 8, 0);

    /* Read receipt. */
    snprintf(path, sizeof(path), "/sim/customers/%s/read", c.customer_id);
    o = call("POST", path, NULL, "{\"timestamp_ms\":1234567}");
    assert_int_equal(num(o, "delivery_status"), 200);
    cJSON_Delete(o);
    e = find_event("im_mark_read_msg", NULL);
    assert_true(e.signature_ok);
    assert_int_equal(e.last_read, 1234567);

    /* The delivery log. */
    snprintf(path, sizeof(path), "/sim/webhooks?message_id=%s", bm);
    o = call("GET", path, NULL, NULL);
    {
        const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "deliveries"), 0);
        assert_string_equal(str(d, "event"), "im_send_msg");
        assert_int_equal(num(d, "attempts"), 1);
        assert_int_equal(num(d, "last_status"), 200);
        assert_string_equal(str(d, "state"), "delivered");
    }
    cJSON_Delete(o);
}

static void test_deliveries_retries_and_bad_signatures(void **state)
{
    struct account a = make_account("retry_shop", "SG", "app");
    struct customer c = make_customer(&a, "retry_customer", "SG");
    char path[256], id[40];
    cJSON *o;
    (void)state;

    /* deliveries=3: the same event three times, for exactly-once tests. */
    snprintf(path, sizeof(path), "/sim/customers/%s/messages", c.customer_id);
    o = call("POST", path, NULL, "{\"text\":\"dup\",\"deliveries\":3}");
    ttdm_strlcpy(id, str(o, "message_id"), sizeof(id));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "delivery_statuses")), 3);
    cJSON_Delete(o);
    assert_int_equal(wait_events("im_receive_msg", id, 3, 200), 3);

    /* Failures are retried with backoff until a 200. */
    pthread_mutex_lock(&rx.lock);
    rx.fail_next = 2;
    pthread_mutex_unlock(&rx.lock);
    assert_int_equal(customer_says(&c, "retry me", 0, id), 500);
    assert_int_equal(wait_events("im_receive_msg", id, 1, 200), 1);
    assert_int_equal(wait_events("im_receive_msg", id, 3, 0), 3);
    snprintf(path, sizeof(path), "/sim/webhooks?message_id=%s", id);
    for (int tries = 0; tries < 100; tries++) {
        o = call("GET", path, NULL, NULL);
        if (strcmp(str(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "deliveries"), 0), "state"),
                   "delivered") == 0)
            break;
        cJSON_Delete(o);
        o = NULL;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_non_null(o);
    assert_int_equal(num(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "deliveries"), 0), "attempts"),
                     3);
    cJSON_Delete(o);

    /* A bad signature is refused by the receiver, retried, then dropped. */
    snprintf(path, sizeof(path), "/sim/customers/%s/messages", c.customer_id);
    o = call("POST", path, NULL, "{\"text\":\"forged\",\"signature\":\"bad\"}");
    assert_int_equal(num(o, "delivery_status"), 401);
    ttdm_strlcpy(id, str(o, "message_id"), sizeof(id));
    cJSON_Delete(o);
    assert_int_equal(wait_events("im_receive_msg", id, 4, 401), 4);
    assert_false(find_event("im_receive_msg", id).signature_ok);
    snprintf(path, sizeof(path), "/sim/webhooks?message_id=%s", id);
    for (int tries = 0; tries < 100; tries++) {
        o = call("GET", path, NULL, NULL);
        if (strcmp(str(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "deliveries"), 0), "state"),
                   "dropped") == 0)
            break;
        cJSON_Delete(o);
        o = NULL;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_non_null(o);
    cJSON_Delete(o);

    /* A stale timestamp with a valid HMAC. */
    snprintf(path, sizeof(path), "/sim/customers/%s/messages", c.customer_id);
    o = call("POST", path, NULL, "{\"text\":\"old\",\"signature\":\"stale\",\"deliveries\":1}");
    assert_int_equal(num(o, "delivery_status"), 401);
    {
        struct event e = find_event("im_receive_msg", str(o, "message_id"));
        assert_true(e.signature_ok);
        assert_false(e.fresh);
    }
    cJSON_Delete(o);

    o = call("GET", "/sim/stats", NULL, NULL);
    assert_true(num(cJSON_GetObjectItem(o, "webhooks"), "dropped") >= 1);
    assert_true(num(cJSON_GetObjectItem(o, "webhooks"), "delivered") >= 4);
    cJSON_Delete(o);
}

static void test_faults(void **state)
{
    struct account a = make_account("fault_shop", "SG", "app");
    struct customer c = make_customer(&a, "fault_customer", "SG");
    char path[256], body[512];
    struct reply r;
    cJSON *o;
    (void)state;

    customer_says(&c, "hi", 0, NULL);
    cJSON_Delete(call("POST", "/sim/faults", NULL,
                      "{\"endpoint\":\"message/send\",\"kind\":\"51065\",\"count\":1}"));
    assert_int_equal(send_text(&a, c.conversation_id, "x", NULL, NULL), 51065);
    assert_int_equal(send_text(&a, c.conversation_id, "x", NULL, NULL), 0);

    cJSON_Delete(call("POST", "/sim/faults", NULL,
                      "{\"endpoint\":\"message/send\",\"kind\":\"http_500\",\"count\":2}"));
    o = call("GET", "/sim/faults", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "faults")), 1);
    cJSON_Delete(o);
    snprintf(body, sizeof(body),
             "{\"business_id\":\"%s\",\"recipient_type\":\"CONVERSATION\",\"recipient\":\"%s\","
             "\"message_type\":\"TEXT\",\"text\":{\"body\":\"x\"}}",
             a.business_id, c.conversation_id);
    for (int i = 0; i < 2; i++) {
        r = http("POST", "/open_api/v1.3/business/message/send/", a.access_token, body, 0);
        assert_int_equal(r.status, 500);
        reply_free(&r);
    }

    /* A timeout: the client gives up; with process the message was sent all the same. */
    cJSON_Delete(call("POST", "/sim/faults", NULL,
                      "{\"endpoint\":\"message/send\",\"kind\":\"timeout\",\"delay_ms\":400,"
                      "\"process\":true}"));
    r = http("POST", "/open_api/v1.3/business/message/send/", a.access_token, body, 150);
    assert_int_equal(r.status, 0);
    assert_true(r.timed_out);
    reply_free(&r);
    snprintf(path, sizeof(path), "/sim/conversations/%s/messages", enc(c.conversation_id));
    o = call("GET", path, NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "messages")), 3);
    cJSON_Delete(o);
    cJSON_Delete(call("POST", "/sim/faults", NULL,
                      "{\"endpoint\":\"message/send\",\"kind\":\"timeout\",\"delay_ms\":300}"));
    r = http("POST", "/open_api/v1.3/business/message/send/", a.access_token, body, 2000);
    assert_int_equal(r.status, 500);
    reply_free(&r);

    /* "token" covers the refresh endpoint too; "*" every endpoint. */
    cJSON_Delete(call("POST", "/sim/faults", NULL, "{\"endpoint\":\"token\",\"kind\":\"50002\"}"));
    assert_int_equal(refresh(&a), 50002);
    assert_int_equal(refresh(&a), 0);
    cJSON_Delete(
        call("POST", "/sim/faults", NULL, "{\"endpoint\":\"*\",\"kind\":\"40100\",\"count\":-1}"));
    assert_int_equal(send_text(&a, c.conversation_id, "x", NULL, NULL), 40100);
    o = call("DELETE", "/sim/faults", NULL, NULL);
    assert_int_equal(num(o, "cleared"), 1);
    cJSON_Delete(o);
    assert_int_equal(send_text(&a, c.conversation_id, "x", NULL, NULL), 0);

    r = http("POST", "/sim/faults", NULL, "{\"endpoint\":\"nope\",\"kind\":\"http_500\"}", 0);
    assert_int_equal(r.status, 400);
    reply_free(&r);
}

/* The code in a redirect's body ("...code=<hex>&amp;state=..."). */
static void code_from(const char *body, char *out, size_t size)
{
    const char *p = strstr(body, "code=");
    size_t n = 0;
    assert_non_null(p);
    p += 5;
    while (p[n] && ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f')))
        n++;
    ttdm_strlcpy_n(out, size, p, n);
}

static void test_oauth(void **state)
{
    struct account a = make_account("oauth_shop", "SG", "app");
    const char *params = "client_key=" APP_ID "&response_type=code&scope=user.info.basic%2C"
                         "message.list.send%2Cmessage.list.read&redirect_uri=http%3A%2F%2F"
                         "127.0.0.1%3A9%2Fcallback&state=xyz";
    char path[1024], code[64], body[1024];
    struct reply r;
    cJSON *o;
    struct account b;
    (void)state;

    /* The login page lists the test accounts with a Continue button. */
    snprintf(path, sizeof(path), "/v2/auth/authorize/?%s", params);
    r = http("GET", path, NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "oauth_shop"));
    assert_non_null(strstr(r.body, "Continue"));
    assert_non_null(strstr(r.body, "Cancel"));
    reply_free(&r);
    r = http("GET",
             "/v2/auth/authorize?client_key=unknown&response_type=code&scope=x&"
             "redirect_uri=http%3A%2F%2Fx%2F",
             NULL, NULL, 0);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = http("GET",
             "/v2/auth/authorize/?client_key=" APP_ID "&response_type=code&scope=user.info.basic"
             "%2Cvideo.upload&redirect_uri=http%3A%2F%2Fx%2Fcb&state=s1",
             NULL, NULL, 0);
    assert_int_equal(r.status, 302);
    assert_non_null(strstr(r.body, "error=invalid_scope"));
    assert_non_null(strstr(r.body, "error_type=scope"));
    reply_free(&r);

    /* Continue (the form post) and Cancel. */
    snprintf(body, sizeof(body), "account=oauth_shop&%s", params);
    r = http("POST", "/v2/auth/authorize/continue", NULL, body, 0);
    assert_int_equal(r.status, 302);
    assert_non_null(strstr(r.body, "http://127.0.0.1:9/callback?code="));
    assert_non_null(strstr(r.body, "state=xyz"));
    code_from(r.body, code, sizeof(code));
    reply_free(&r);
    r = http("POST", "/v2/auth/authorize/cancel", NULL, params, 0);
    assert_int_equal(r.status, 302);
    assert_non_null(strstr(r.body, "error=access_denied"));
    reply_free(&r);

    /* E2: the code gives tokens for the same account, once. */
    snprintf(body, sizeof(body),
             "{\"client_id\":\"" APP_ID "\",\"client_secret\":\"wrong\",\"grant_type\":"
             "\"authorization_code\",\"auth_code\":\"%s\",\"redirect_uri\":"
             "\"http://127.0.0.1:9/callback\"}",
             code);
    r = http("POST", "/open_api/v1.3/tt_user/oauth2/token/", NULL, body, 0);
    assert_int_equal(envelope_code(&r), 40101);
    reply_free(&r);
    snprintf(body, sizeof(body),
             "{\"client_id\":\"" APP_ID "\",\"client_secret\":\"" APP_SECRET
             "\",\"grant_type\":\"authorization_code\",\"auth_code\":\"%s\",\"redirect_uri\":"
             "\"http://127.0.0.1:9/callback\"}",
             code);
    r = http("POST", "/open_api/v1.3/tt_user/oauth2/token/", NULL, body, 0);
    assert_int_equal(envelope_code(&r), 0);
    {
        const cJSON *d = cJSON_GetObjectItem(r.json, "data");
        assert_string_equal(str(d, "open_id"), a.business_id);
        assert_string_equal(str(d, "token_type"), "Bearer");
        assert_string_equal(str(d, "scope"), "user.info.basic,message.list.send,message.list.read");
        assert_int_equal(num(d, "expires_in"), 86400);
        assert_int_equal(num(d, "refresh_token_expires_in"), 31536000);
        ttdm_strlcpy(b.business_id, a.business_id, sizeof(b.business_id));
        ttdm_strlcpy(b.access_token, str(d, "access_token"), sizeof(b.access_token));
        ttdm_strlcpy(b.refresh_token, str(d, "refresh_token"), sizeof(b.refresh_token));
    }
    reply_free(&r);
    r = http("POST", "/open_api/v1.3/tt_user/oauth2/token/", NULL, body, 0);
    assert_int_equal(envelope_code(&r), 40110);
    reply_free(&r);

    /* The auto=1 extension skips the page. */
    snprintf(path, sizeof(path), "/v2/auth/authorize/?%s&account=oauth_shop&auto=1", params);
    r = http("GET", path, NULL, NULL, 0);
    assert_int_equal(r.status, 302);
    code_from(r.body, code, sizeof(code));
    assert_int_equal(strlen(code), 40);
    reply_free(&r);

    /* E3 rotates: the old refresh token stops working. */
    {
        char old[96];
        ttdm_strlcpy(old, b.refresh_token, sizeof(old));
        assert_int_equal(refresh(&b), 0);
        assert_string_not_equal(old, b.refresh_token);
        snprintf(body, sizeof(body),
                 "{\"client_id\":\"" APP_ID "\",\"client_secret\":\"" APP_SECRET
                 "\",\"grant_type\":\"refresh_token\",\"refresh_token\":\"%s\"}",
                 old);
        r = http("POST", "/open_api/v1.3/tt_user/oauth2/refresh_token/", NULL, body, 0);
        assert_int_equal(envelope_code(&r), 40107);
        reply_free(&r);
    }
    snprintf(path, sizeof(path), "/open_api/v1.3/business/get/?business_id=%s", b.business_id);
    r = http("GET", path, b.access_token, NULL, 0);
    assert_int_equal(envelope_code(&r), 0);
    reply_free(&r);

    /* An expired refresh token: the user must authorize again. */
    snprintf(path, sizeof(path), "/sim/accounts/%s/expire_token", a.business_id);
    o = call("POST", path, NULL, "{\"which\":\"both\"}");
    assert_string_equal(str(o, "expired"), "both");
    cJSON_Delete(o);
    assert_int_equal(refresh(&b), 40103);

    /* E13/E14: the webhook subscription. */
    o = call("POST", "/open_api/v1.3/business/webhook/update/", NULL,
             "{\"app_id\":\"" APP_ID "\",\"secret\":\"" APP_SECRET
             "\",\"event_type\":\"DIRECT_MESSAGE\",\"callback_url\":\"http://127.0.0.1:%u/"
             "webhooks/tiktok\"}",
             (unsigned)rx.port);
    assert_int_equal(num(o, "code"), 0);
    cJSON_Delete(o);
    o = call("GET",
             "/open_api/v1.3/business/webhook/list/?app_id=" APP_ID "&secret=" APP_SECRET
             "&event_type=DIRECT_MESSAGE",
             NULL, NULL);
    assert_int_equal(num(o, "code"), 0);
    assert_non_null(
        strstr(str(cJSON_GetObjectItem(o, "data"), "callback_url"), "/webhooks/tiktok"));
    cJSON_Delete(o);
    o = call("GET", "/open_api/v1.3/business/webhook/list/?app_id=" APP_ID "&secret=nope", NULL,
             NULL);
    assert_int_equal(num(o, "code"), 40101);
    cJSON_Delete(o);
}

static void test_conversation_ids_and_history(void **state)
{
    struct account a = make_account("plus_shop", "SG", "app");
    struct customer c = make_customer(&a, "plus_customer", "SG");
    char path[1024], raw[1024];
    struct reply r;
    cJSON *o;
    (void)state;

    /* The first conversation of a fresh simulator always has a '+'. */
    assert_non_null(strchr(c.conversation_id, '+'));
    customer_says(&c, "hi", 0, NULL);
    snprintf(path, sizeof(path),
             "/open_api/v1.3/business/message/capabilities/get/?business_id=%s&conversation_id=%s"
             "&conversation_type=SINGLE",
             a.business_id, enc(c.conversation_id));
    r = http("GET", path, a.access_token, NULL, 0);
    assert_int_equal(envelope_code(&r), 0);
    reply_free(&r);
    /* An unencoded '+' reads as a space: TikTok calls the parameter invalid. */
    snprintf(raw, sizeof(raw),
             "/open_api/v1.3/business/message/capabilities/get/?business_id=%s&conversation_id=%s"
             "&conversation_type=SINGLE",
             a.business_id, c.conversation_id);
    r = http("GET", raw, a.access_token, NULL, 0);
    assert_int_equal(envelope_code(&r), 40002);
    assert_string_equal(str(r.json, "message"), "Param conversation_id is invalid.");
    reply_free(&r);

    /* E11 and E12. */
    snprintf(path, sizeof(path),
             "/open_api/v1.3/business/message/conversation/list/?business_id=%s"
             "&conversation_type=STRANGER",
             a.business_id);
    o = call("GET", path, a.access_token, NULL);
    assert_int_equal(num(o, "code"), 0);
    assert_string_equal(
        str(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "conversations"),
                               0),
            "conversation_id"),
        c.conversation_id);
    cJSON_Delete(o);
    assert_int_equal(send_text(&a, c.conversation_id, "answer", NULL, NULL), 0);
    snprintf(path, sizeof(path),
             "/open_api/v1.3/business/message/content/list/?business_id=%s&conversation_id=%s",
             a.business_id, enc(c.conversation_id));
    o = call("GET", path, a.access_token, NULL);
    assert_int_equal(num(o, "code"), 0);
    {
        const cJSON *msgs = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "messages");
        assert_int_equal(cJSON_GetArraySize(msgs), 2);
        assert_string_equal(str(cJSON_GetArrayItem(msgs, 1), "message_type"), "TEXT");
    }
    cJSON_Delete(o);

    /* Other types from the customer arrive as their own webhook types. */
    snprintf(path, sizeof(path), "/sim/customers/%s/messages", c.customer_id);
    o = call("POST", path, NULL, "{\"type\":\"share_post\"}");
    assert_int_equal(wait_events("im_receive_msg", str(o, "message_id"), 1, 200), 1);
    assert_string_equal(find_event("im_receive_msg", str(o, "message_id")).type, "share_post");
    cJSON_Delete(o);
    o = call("POST", path, NULL, "{\"type\":\"sticker\"}");
    cJSON_Delete(o);

    /* Reset forgets everything. */
    cJSON_Delete(call("POST", "/sim/reset", NULL, "{}"));
    o = call("GET", "/sim/accounts", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "accounts")), 0);
    cJSON_Delete(o);
    r = http("GET", "/sim/conversations/x/budget", NULL, NULL, 0);
    assert_int_equal(r.status, 404);
    reply_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_envelope_and_tokens, start_sim, stop_sim),
        cmocka_unit_test_setup_teardown(test_seed_simulation, start_sim, stop_sim),
        cmocka_unit_test_setup_teardown(test_eleventh_reply_and_late_messages, start_sim, stop_sim),
        cmocka_unit_test_setup_teardown(test_concurrent_sends_never_exceed_quota, start_sim,
                                        stop_sim),
        cmocka_unit_test_setup_teardown(test_daily_limit, start_sim, stop_sim),
        cmocka_unit_test_setup_teardown(test_images, start_sim, stop_sim),
        cmocka_unit_test_setup_teardown(test_webhooks_signed_and_echoed, start_sim, stop_sim),
        cmocka_unit_test_setup_teardown(test_deliveries_retries_and_bad_signatures, start_sim,
                                        stop_sim),
        cmocka_unit_test_setup_teardown(test_faults, start_sim, stop_sim),
        cmocka_unit_test_setup_teardown(test_oauth, start_sim, stop_sim),
        cmocka_unit_test_setup_teardown(test_conversation_ids_and_history, start_sim, stop_sim),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
