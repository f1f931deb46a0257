/* test_tiktok_client.c -- the TikTok client against a canned in-test HTTP server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "tiktok/client.h"
#include "util/alloc.h"
#include "util/httpc.h"
#include "util/httpd.h"
#include "util/log.h"

#define BIZ "7123456789012345678"
#define TOKEN "act.sim-token_0123456789"
#define MAX_RECS 8

/* Query parameters worth recording, as the server decoded them. */
static const char *const QUERY_NAMES[] = {
    "business_id",       "fields", "capability_types", "conversation_id",
    "conversation_type", "app_id", "secret",           "event_type"};
#define N_QUERY (sizeof(QUERY_NAMES) / sizeof(QUERY_NAMES[0]))

struct rec {
    char method[8];
    char path[256];
    char *access_token; /* NULL when the header was absent */
    char *x_user;
    char *content_type;
    char *query[N_QUERY];
    char *body;
    size_t body_len;
};

static struct {
    pthread_mutex_t lock;
    struct ttdm_httpd *httpd;
    uint16_t port;
    struct rec recs[MAX_RECS];
    int n_recs;
    /* What /open_api/ answers. */
    int status;
    char reply[4096];
    int sleep_ms;
    /* What /cdn/ answers. */
    int cdn_status;
    const char *cdn_body;
    size_t cdn_len;
} srv;

static char api_base[128];

static char *dup_or_null(const char *s)
{
    return s ? ttdm_strdup(s) : NULL;
}

static void on_request(void *ud, const struct ttdm_http_request *req,
                       struct ttdm_http_response *resp)
{
    struct rec *r = NULL;
    int sleep_ms;
    (void)ud;

    pthread_mutex_lock(&srv.lock);
    if (srv.n_recs < MAX_RECS)
        r = &srv.recs[srv.n_recs++];
    if (r) {
        snprintf(r->method, sizeof(r->method), "%s", req->method);
        snprintf(r->path, sizeof(r->path), "%s", req->path);
        r->access_token = dup_or_null(ttdm_http_header(req, "Access-Token"));
        r->x_user = dup_or_null(ttdm_http_header(req, "x-user"));
        r->content_type = dup_or_null(ttdm_http_header(req, "Content-Type"));
        for (size_t i = 0; i < N_QUERY; i++)
            r->query[i] = dup_or_null(ttdm_http_query(req, QUERY_NAMES[i]));
        r->body = ttdm_malloc(req->body_len + 1);
        memcpy(r->body, req->body, req->body_len + 1);
        r->body_len = req->body_len;
    }
    sleep_ms = srv.sleep_ms;
    pthread_mutex_unlock(&srv.lock);

    if (sleep_ms) {
        struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&srv.lock);
    if (strncmp(req->path, "/cdn/", 5) == 0)
        ttdm_http_resp_bytes(resp, srv.cdn_status, "image/png", srv.cdn_body, srv.cdn_len);
    else
        ttdm_http_resp_bytes(resp, srv.status, "application/json", srv.reply, strlen(srv.reply));
    pthread_mutex_unlock(&srv.lock);
}

static void clear_recs(void)
{
    pthread_mutex_lock(&srv.lock);
    for (int i = 0; i < srv.n_recs; i++) {
        struct rec *r = &srv.recs[i];
        ttdm_free(r->access_token);
        ttdm_free(r->x_user);
        ttdm_free(r->content_type);
        for (size_t k = 0; k < N_QUERY; k++)
            ttdm_free(r->query[k]);
        ttdm_free(r->body);
        memset(r, 0, sizeof(*r));
    }
    srv.n_recs = 0;
    pthread_mutex_unlock(&srv.lock);
}

static void reply(int status, const char *body)
{
    pthread_mutex_lock(&srv.lock);
    srv.status = status;
    snprintf(srv.reply, sizeof(srv.reply), "%s", body);
    pthread_mutex_unlock(&srv.lock);
}

static const char *query(const struct rec *r, const char *name)
{
    for (size_t i = 0; i < N_QUERY; i++)
        if (strcmp(QUERY_NAMES[i], name) == 0)
            return r->query[i];
    fail_msg("query %s is not recorded", name);
    return NULL;
}

/* The recorded JSON body as a tree (caller deletes). */
static cJSON *body_json(const struct rec *r)
{
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    assert_non_null(j);
    return j;
}

static bool contains(const struct rec *r, const char *needle)
{
    return memmem(r->body, r->body_len, needle, strlen(needle)) != NULL;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsString(m));
    return m->valuestring;
}

static int group_setup(void **state)
{
    struct ttdm_httpd_config cfg;
    (void)state;
    ttdm_log_set_level("off");
    pthread_mutex_init(&srv.lock, NULL);
    ttdm_httpd_config_default(&cfg);
    cfg.workers = 2;
    cfg.max_body = 8 * 1024 * 1024;
    srv.httpd = ttdm_httpd_start(&cfg, on_request, NULL, NULL);
    if (!srv.httpd)
        return -1;
    srv.port = ttdm_httpd_port(srv.httpd);
    snprintf(api_base, sizeof(api_base), "http://127.0.0.1:%u/open_api/v1.3/", srv.port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ttdm_httpd_stop(srv.httpd);
    clear_recs();
    pthread_mutex_destroy(&srv.lock);
    return 0;
}

static struct ttdm_tiktok_config config(long timeout_ms)
{
    struct ttdm_tiktok_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.api_base = api_base;
    cfg.auth_base = "http://127.0.0.1:7071/v2/auth/authorize/";
    cfg.app_id = "app_key_1";
    cfg.app_secret = "app-secret-xyz";
    cfg.timeout_ms = timeout_ms;
    return cfg;
}

/* Each test gets a fresh client, an empty request log and a default success reply. */
static int setup(void **state)
{
    struct ttdm_tiktok_config cfg = config(3000);
    clear_recs();
    srv.sleep_ms = 0;
    srv.cdn_status = 200;
    reply(200, "{\"code\":0,\"message\":\"OK\",\"request_id\":\"req-1\",\"data\":{}}");
    *state = ttdm_tiktok_client_new(&cfg);
    return 0;
}

static int teardown(void **state)
{
    ttdm_tiktok_client_free(*state);
    return 0;
}

/* ------------------------------------------------------------------------------------ */

static void test_authorize_url(void **state)
{
    struct ttdm_tiktok_config cfg = config(0);
    char out[512], small[40];
    (void)state;

    assert_int_equal(ttdm_tiktok_authorize_url(&cfg, "user.info.basic,message.list.send",
                                               "https://ttdm.example/cb?x=1&y=a b", "st+/=", out,
                                               sizeof(out)),
                     TTDM_OK);
    assert_string_equal(out, "http://127.0.0.1:7071/v2/auth/authorize/?client_key=app_key_1"
                             "&response_type=code&scope=user.info.basic%2Cmessage.list.send"
                             "&redirect_uri=https%3A%2F%2Fttdm.example%2Fcb%3Fx%3D1%26y%3Da%20b"
                             "&state=st%2B%2F%3D");
    assert_int_equal(ttdm_tiktok_authorize_url(&cfg, "s", "r", "t", small, sizeof(small)),
                     TTDM_ERR_INTERNAL);
    assert_string_equal(small, "");

    /* A base that already has a query gets '&'. */
    cfg.auth_base = "http://h/authorize?lang=en";
    assert_int_equal(ttdm_tiktok_authorize_url(&cfg, "s", "r", "t", out, sizeof(out)), TTDM_OK);
    assert_string_equal(out, "http://h/authorize?lang=en&client_key=app_key_1&response_type=code"
                             "&scope=s&redirect_uri=r&state=t");
}

static void test_exchange_code(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_tokens tok;
    struct ttdm_tiktok_result res;
    const struct rec *r = &srv.recs[0];
    cJSON *b;

    reply(200, "{\"code\":0,\"message\":\"OK\",\"request_id\":\"r-42\",\"data\":{"
               "\"access_token\":\"act.A\",\"token_type\":\"Bearer\",\"scope\":"
               "\"user.info.basic,message.list.send\",\"expires_in\":86400,"
               "\"refresh_token\":\"rft.B\",\"refresh_token_expires_in\":31536000,"
               "\"open_id\":\"" BIZ "\"}}");
    assert_int_equal(ttdm_tiktok_exchange_code(c, "code-1", "https://ttdm.example/cb", &tok, &res),
                     TTDM_OK);
    assert_string_equal(tok.access_token, "act.A");
    assert_string_equal(tok.refresh_token, "rft.B");
    assert_string_equal(tok.open_id, BIZ);
    assert_string_equal(tok.scope, "user.info.basic,message.list.send");
    assert_int_equal(tok.expires_in, 86400);
    assert_int_equal(tok.refresh_token_expires_in, 31536000);
    assert_int_equal(res.http_status, 200);
    assert_int_equal(res.tiktok_code, 0);
    assert_string_equal(res.tiktok_message, "OK");
    assert_string_equal(res.request_id, "r-42");
    assert_false(res.uncertain);

    assert_int_equal(srv.n_recs, 1);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/open_api/v1.3/tt_user/oauth2/token/");
    assert_string_equal(r->content_type, "application/json");
    assert_null(r->access_token);
    b = body_json(r);
    assert_string_equal(jstr(b, "client_id"), "app_key_1");
    assert_string_equal(jstr(b, "client_secret"), "app-secret-xyz");
    assert_string_equal(jstr(b, "grant_type"), "authorization_code");
    assert_string_equal(jstr(b, "auth_code"), "code-1");
    assert_string_equal(jstr(b, "redirect_uri"), "https://ttdm.example/cb");
    cJSON_Delete(b);
}

static void test_refresh(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_tokens tok;
    struct ttdm_tiktok_result res;
    cJSON *b;

    /* No open_id in a refresh answer is fine; a missing refresh token is not. */
    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"access_token\":\"act.C\","
               "\"expires_in\":86400,\"refresh_token\":\"rft.D\"}}");
    assert_int_equal(ttdm_tiktok_refresh(c, "rft.B", &tok, &res), TTDM_OK);
    assert_string_equal(tok.access_token, "act.C");
    assert_string_equal(tok.refresh_token, "rft.D");
    assert_string_equal(tok.open_id, "");
    assert_int_equal(tok.refresh_token_expires_in, 0);
    assert_string_equal(srv.recs[0].path, "/open_api/v1.3/tt_user/oauth2/refresh_token/");
    b = body_json(&srv.recs[0]);
    assert_string_equal(jstr(b, "grant_type"), "refresh_token");
    assert_string_equal(jstr(b, "refresh_token"), "rft.B");
    assert_string_equal(jstr(b, "client_id"), "app_key_1");
    assert_string_equal(jstr(b, "client_secret"), "app-secret-xyz");
    cJSON_Delete(b);

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"access_token\":\"act.C\","
               "\"expires_in\":86400}}");
    assert_int_equal(ttdm_tiktok_refresh(c, "rft.B", &tok, &res), TTDM_ERR_TIKTOK);
    assert_string_equal(res.tiktok_message,
                        "malformed response from TikTok: data.refresh_token missing");
    assert_string_equal(tok.access_token, "");

    /* Exchange insists on open_id: it is the business id. */
    assert_int_equal(ttdm_tiktok_exchange_code(c, "x", "y", &tok, &res), TTDM_ERR_TIKTOK);

    reply(200, "{\"code\":40107,\"message\":\"invalid refresh token\",\"data\":{}}");
    assert_int_equal(ttdm_tiktok_refresh(c, "rft.B", &tok, &res), TTDM_ERR_TIKTOK);
    assert_int_equal(res.tiktok_code, 40107);
    assert_string_equal(res.tiktok_message, "invalid refresh token");
}

static void test_get_profile(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_profile p;
    struct ttdm_tiktok_result res;
    const struct rec *r = &srv.recs[0];

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"username\":\"acme_store\","
               "\"display_name\":\"ACME \\u00c9\",\"profile_image\":\"https://p/img.jpg\","
               "\"region\":\"TH\",\"account_origin\":\"mobile_app\"}}");
    assert_int_equal(ttdm_tiktok_get_profile(c, TOKEN, BIZ, &p, &res), TTDM_OK);
    assert_string_equal(p.username, "acme_store");
    assert_string_equal(p.display_name, "ACME \xc3\x89");
    assert_string_equal(p.profile_image, "https://p/img.jpg");
    assert_string_equal(p.region, "TH");
    assert_string_equal(p.account_origin, "mobile_app");

    assert_string_equal(r->method, "GET");
    assert_string_equal(r->path, "/open_api/v1.3/business/get/");
    assert_string_equal(r->access_token, TOKEN);
    assert_string_equal(query(r, "business_id"), BIZ);
    assert_string_equal(query(r, "fields"), "[\"username\",\"display_name\",\"profile_image\"]");

    /* Simulator extensions absent: empty strings. */
    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"display_name\":\"ACME\"}}");
    assert_int_equal(ttdm_tiktok_get_profile(c, TOKEN, BIZ, &p, &res), TTDM_OK);
    assert_string_equal(p.display_name, "ACME");
    assert_string_equal(p.username, "");
    assert_string_equal(p.region, "");
    assert_string_equal(p.account_origin, "");
}

static void test_send_text(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_result res;
    char mid[TTDM_ID_MAX];
    const struct rec *r = &srv.recs[0];
    cJSON *b;

    reply(200, "{\"code\":0,\"message\":\"OK\",\"request_id\":\"r7\",\"data\":{\"message\":"
               "{\"message_id\":\"7300000000000000001\"}}}");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "conv+1/x==", "Hello \"you\"\n\xc3\xa9",
                                           "m-quoted", mid, &res),
                     TTDM_OK);
    assert_string_equal(mid, "7300000000000000001");
    assert_false(res.uncertain);

    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/open_api/v1.3/business/message/send/");
    assert_string_equal(r->access_token, TOKEN);
    assert_string_equal(r->content_type, "application/json");
    b = body_json(r);
    assert_string_equal(jstr(b, "business_id"), BIZ);
    assert_string_equal(jstr(b, "recipient_type"), "CONVERSATION");
    assert_string_equal(jstr(b, "recipient"), "conv+1/x==");
    assert_string_equal(jstr(b, "message_type"), "TEXT");
    assert_string_equal(jstr(cJSON_GetObjectItem(b, "text"), "body"), "Hello \"you\"\n\xc3\xa9");
    assert_string_equal(
        jstr(cJSON_GetObjectItem(b, "referenced_message_info"), "referenced_message_id"),
        "m-quoted");
    assert_null(cJSON_GetObjectItem(b, "image"));
    cJSON_Delete(b);

    /* Without a quote there is no referenced_message_info at all. */
    clear_recs();
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, NULL), TTDM_OK);
    b = body_json(&srv.recs[0]);
    assert_null(cJSON_GetObjectItem(b, "referenced_message_info"));
    cJSON_Delete(b);
}

static void test_send_image(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_result res;
    char mid[TTDM_ID_MAX];
    cJSON *b;

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"message\":{\"message_id\":\"m9\"}}}");
    assert_int_equal(ttdm_tiktok_send_image(c, TOKEN, BIZ, "c1", "media-77", mid, &res), TTDM_OK);
    assert_string_equal(mid, "m9");
    b = body_json(&srv.recs[0]);
    assert_string_equal(jstr(b, "message_type"), "IMAGE");
    assert_string_equal(jstr(cJSON_GetObjectItem(b, "image"), "media_id"), "media-77");
    assert_string_equal(jstr(b, "recipient"), "c1");
    assert_null(cJSON_GetObjectItem(b, "text"));
    cJSON_Delete(b);
}

static void test_envelope_codes(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_result res;
    char mid[TTDM_ID_MAX];

    reply(200, "{\"code\":40064,\"message\":\"You are sending messages too fast. Take a rest.\","
               "\"request_id\":\"r-lim\",\"data\":{}}");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_DAILY_LIMIT);
    assert_int_equal(res.http_status, 200);
    assert_int_equal(res.tiktok_code, 40064);
    assert_string_equal(res.tiktok_message, "You are sending messages too fast. Take a rest.");
    assert_string_equal(res.request_id, "r-lim");
    assert_false(res.uncertain);
    assert_string_equal(mid, "");

    reply(200, "{\"code\":40102,\"message\":\"the access token has expired\",\"data\":{}}");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TOKEN_EXPIRED);
    assert_int_equal(res.tiktok_code, 40102);
    assert_string_equal(res.tiktok_message, "the access token has expired");

    reply(200, "{\"code\":40002,\"message\":\"Param conversation_id is invalid.\",\"data\":{}}");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK);
    assert_int_equal(res.tiktok_code, 40002);

    reply(200, "{\"code\":51065,\"message\":\"system error\",\"data\":{}}");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK_UNAVAILABLE);
    assert_false(res.uncertain);

    /* 5xx: the call never reached TikTok's logic. */
    reply(500, "Internal Server Error");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK_UNAVAILABLE);
    assert_int_equal(res.http_status, 500);
    assert_int_equal(res.tiktok_code, 0);
    assert_string_equal(res.tiktok_message, "TikTok answered HTTP 500");
    assert_false(res.uncertain);

    /* Plain 4xx (wrong path); 4xx with an envelope is decided by its code. */
    reply(404, "404 page not found");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK);
    assert_int_equal(res.http_status, 404);
    assert_string_equal(res.tiktok_message, "TikTok answered HTTP 404");
    reply(401, "{\"code\":40105,\"message\":\"invalid access token\",\"data\":{}}");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TOKEN_EXPIRED);
    assert_int_equal(res.http_status, 401);
    assert_int_equal(res.tiktok_code, 40105);

    /* 200 with something that is not an envelope: TikTok may have acted. */
    reply(200, "<html>gateway</html>");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK);
    assert_true(res.uncertain);
    assert_true(strncmp(res.tiktok_message, "malformed response from TikTok: invalid JSON", 44) ==
                0);
    reply(200, "{\"message\":\"OK\"}");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK);
    assert_string_equal(res.tiktok_message, "malformed response from TikTok: no integer \"code\"");
    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"message_id\":\"m1\"}}");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK);
    assert_string_equal(res.tiktok_message,
                        "malformed response from TikTok: data.message.message_id missing");
    assert_true(res.uncertain);
    /* Ids are never numbers. */
    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"message\":{\"message_id\":"
               "7300000000000000001}}}");
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK);
    assert_string_equal(mid, "");
}

static void test_bad_token_sends_nothing(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_result res;
    char mid[TTDM_ID_MAX];

    assert_int_equal(
        ttdm_tiktok_send_text(c, "act.x\r\nX-Evil: 1", BIZ, "c", "hi", NULL, mid, &res),
        TTDM_ERR_BAD_REQUEST);
    assert_int_equal(ttdm_tiktok_send_text(c, "", BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_BAD_REQUEST);
    assert_int_equal(srv.n_recs, 0);
}

static const char PNG[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";

static void test_upload_multipart(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_result res;
    char media_id[TTDM_ID_MAX];
    const struct rec *r = &srv.recs[0];

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"media_id\":\"v0a1b2c3\"}}");
    assert_int_equal(ttdm_tiktok_upload_image(c, TOKEN, BIZ, PNG, sizeof(PNG) - 1, "photo.png",
                                              "image/png", media_id, &res),
                     TTDM_OK);
    assert_string_equal(media_id, "v0a1b2c3");

    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/open_api/v1.3/business/message/media/upload/");
    assert_string_equal(r->access_token, TOKEN);
    assert_non_null(r->content_type);
    assert_true(strncmp(r->content_type, "multipart/form-data; boundary=", 30) == 0);
    assert_true(
        contains(r, "Content-Disposition: form-data; name=\"business_id\"\r\n\r\n" BIZ "\r\n"));
    assert_true(contains(r, "Content-Disposition: form-data; name=\"media_type\"\r\n\r\n"
                            "IMAGE\r\n"));
    assert_true(contains(r, "Content-Disposition: form-data; name=\"file\"; "
                            "filename=\"photo.png\"\r\nContent-Type: image/png\r\n\r\n"));
    /* The file bytes, NULs included, arrive intact. */
    assert_non_null(memmem(r->body, r->body_len, PNG, sizeof(PNG) - 1));

    reply(200, "{\"code\":40908,\"message\":\"unsupported file type\",\"data\":{}}");
    assert_int_equal(
        ttdm_tiktok_upload_image(c, TOKEN, BIZ, "GIF89a", 6, "a.gif", "image/gif", media_id, &res),
        TTDM_ERR_IMAGE_FORMAT);
    assert_string_equal(media_id, "");
}

static void set_download_url(const char *path)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"code\":0,\"message\":\"OK\",\"data\":{\"download_url\":"
             "\"http://127.0.0.1:%u%s\"}}",
             srv.port, path);
    reply(200, body);
}

static void test_download_media(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_result res;
    struct ttdm_tiktok_media m;
    const struct rec *e9 = &srv.recs[0], *cdn = &srv.recs[1];
    cJSON *b;

    set_download_url("/cdn/img-1?x-expires=1&sig=abc");
    srv.cdn_body = PNG;
    srv.cdn_len = sizeof(PNG) - 1;
    assert_int_equal(ttdm_tiktok_download_media(c, TOKEN, BIZ, "conv+1", "msg-1", "media-1",
                                                "IMAGE", 1024, &m, &res),
                     TTDM_OK);
    assert_int_equal(m.len, sizeof(PNG) - 1);
    assert_memory_equal(m.data, PNG, m.len);
    assert_string_equal(m.content_type, "image/png");
    assert_int_equal(res.http_status, 200);

    assert_int_equal(srv.n_recs, 2);
    assert_string_equal(e9->method, "POST");
    assert_string_equal(e9->path, "/open_api/v1.3/business/message/media/download/");
    assert_string_equal(e9->access_token, TOKEN);
    assert_string_equal(e9->content_type, "application/json");
    b = body_json(e9);
    assert_string_equal(jstr(b, "business_id"), BIZ);
    assert_string_equal(jstr(b, "conversation_id"), "conv+1");
    assert_string_equal(jstr(b, "message_id"), "msg-1");
    assert_string_equal(jstr(b, "media_id"), "media-1");
    assert_string_equal(jstr(b, "media_type"), "IMAGE");
    cJSON_Delete(b);
    /* The CDN wants the token in x-user, not in Access-Token. */
    assert_string_equal(cdn->method, "GET");
    assert_string_equal(cdn->path, "/cdn/img-1");
    assert_string_equal(cdn->x_user, TOKEN);
    assert_null(cdn->access_token);
    ttdm_tiktok_media_cleanup(&m);
    assert_null(m.data);
    ttdm_tiktok_media_cleanup(&m);

    /* Exactly max_bytes fits; one byte less does not. */
    assert_int_equal(ttdm_tiktok_download_media(c, TOKEN, BIZ, "c", "m", "x", "IMAGE",
                                                sizeof(PNG) - 1, &m, &res),
                     TTDM_OK);
    ttdm_tiktok_media_cleanup(&m);
    assert_int_equal(ttdm_tiktok_download_media(c, TOKEN, BIZ, "c", "m", "x", "IMAGE",
                                                sizeof(PNG) - 2, &m, &res),
                     TTDM_ERR_TIKTOK);
    assert_null(m.data);
    assert_true(strstr(res.tiktok_message, "larger than") != NULL);

    /* Unknown bytes are octet-stream whatever the CDN says. */
    srv.cdn_body = "hello";
    srv.cdn_len = 5;
    assert_int_equal(ttdm_tiktok_download_media(c, TOKEN, BIZ, "c", "m", "x", NULL, 1024, &m, &res),
                     TTDM_OK);
    assert_string_equal(m.content_type, "application/octet-stream");
    ttdm_tiktok_media_cleanup(&m);

    srv.cdn_status = 403;
    assert_int_equal(
        ttdm_tiktok_download_media(c, TOKEN, BIZ, "c", "m", "x", "IMAGE", 1024, &m, &res),
        TTDM_ERR_TIKTOK);
    assert_int_equal(res.http_status, 403);
    assert_null(m.data);
    srv.cdn_status = 503;
    assert_int_equal(
        ttdm_tiktok_download_media(c, TOKEN, BIZ, "c", "m", "x", "IMAGE", 1024, &m, &res),
        TTDM_ERR_TIKTOK_UNAVAILABLE);

    /* E9 refused: no CDN request at all. */
    clear_recs();
    reply(200, "{\"code\":40007,\"message\":\"object does not exist\",\"data\":{}}");
    assert_int_equal(
        ttdm_tiktok_download_media(c, TOKEN, BIZ, "c", "m", "x", "IMAGE", 1024, &m, &res),
        TTDM_ERR_TIKTOK);
    assert_int_equal(res.tiktok_code, 40007);
    assert_int_equal(srv.n_recs, 1);
}

/* Checks the premise of the %2B assertion: a raw '+' reaches the handler as a space. */
static void raw_plus_premise(void)
{
    struct ttdm_httpc *h = ttdm_httpc_new();
    struct ttdm_httpc_req req;
    struct ttdm_httpc_resp resp;
    char url[160];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/raw?conversation_id=ab+cd", srv.port);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    assert_int_equal(ttdm_httpc_do(h, &req, &resp), 0);
    ttdm_httpc_resp_cleanup(&resp);
    ttdm_httpc_free(h);
    assert_int_equal(srv.n_recs, 2);
    assert_string_equal(query(&srv.recs[1], "conversation_id"), "ab cd");
}

static void test_capabilities(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_result res;
    const struct rec *r = &srv.recs[0];
    bool can = true;

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"capability_infos\":[{"
               "\"capability_type\":\"OTHER\",\"capability_result\":true},{"
               "\"capability_type\":\"IMAGE_SEND\",\"capability_result\":false}]}}");
    assert_int_equal(ttdm_tiktok_can_send_image(c, TOKEN, BIZ, "ab+cd/ef==", &can, &res), TTDM_OK);
    assert_false(can);

    assert_string_equal(r->method, "GET");
    assert_string_equal(r->path, "/open_api/v1.3/business/message/capabilities/get/");
    assert_string_equal(r->access_token, TOKEN);
    assert_string_equal(query(r, "business_id"), BIZ);
    assert_string_equal(query(r, "capability_types"), "[\"IMAGE_SEND\"]");
    assert_string_equal(query(r, "conversation_type"), "SINGLE");
    /* The server turns a raw '+' into a space; getting '+' back proves it went as %2B. */
    assert_string_equal(query(r, "conversation_id"), "ab+cd/ef==");
    raw_plus_premise();

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"capability_infos\":[{"
               "\"capability_type\":\"IMAGE_SEND\",\"capability_result\":true}]}}");
    assert_int_equal(ttdm_tiktok_can_send_image(c, TOKEN, BIZ, "c", &can, &res), TTDM_OK);
    assert_true(can);

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"capability_infos\":[]}}");
    assert_int_equal(ttdm_tiktok_can_send_image(c, TOKEN, BIZ, "c", &can, &res), TTDM_ERR_TIKTOK);
    assert_false(can);
}

static void test_webhook_subscription(void **state)
{
    struct ttdm_tiktok_client *c = *state;
    struct ttdm_tiktok_result res;
    char url[256];
    const struct rec *r;
    cJSON *b;

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"app_id\":\"app_key_1\","
               "\"event_type\":\"DIRECT_MESSAGE\",\"callback_url\":"
               "\"https://ttdm.example/webhooks/tiktok\"}}");
    assert_int_equal(ttdm_tiktok_webhook_update(c, "DIRECT_MESSAGE",
                                                "https://ttdm.example/webhooks/tiktok", &res),
                     TTDM_OK);
    r = &srv.recs[0];
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/open_api/v1.3/business/webhook/update/");
    assert_null(r->access_token);
    b = body_json(r);
    assert_string_equal(jstr(b, "app_id"), "app_key_1");
    assert_string_equal(jstr(b, "secret"), "app-secret-xyz");
    assert_string_equal(jstr(b, "event_type"), "DIRECT_MESSAGE");
    assert_string_equal(jstr(b, "callback_url"), "https://ttdm.example/webhooks/tiktok");
    cJSON_Delete(b);

    assert_int_equal(ttdm_tiktok_webhook_list(c, "DIRECT_MESSAGE", url, sizeof(url), &res),
                     TTDM_OK);
    assert_string_equal(url, "https://ttdm.example/webhooks/tiktok");
    r = &srv.recs[1];
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->path, "/open_api/v1.3/business/webhook/list/");
    assert_string_equal(query(r, "app_id"), "app_key_1");
    assert_string_equal(query(r, "secret"), "app-secret-xyz");
    assert_string_equal(query(r, "event_type"), "DIRECT_MESSAGE");

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{}}");
    assert_int_equal(ttdm_tiktok_webhook_list(c, "DIRECT_MESSAGE", url, sizeof(url), &res),
                     TTDM_OK);
    assert_string_equal(url, "");
}

static void test_timeout_is_uncertain(void **state)
{
    struct ttdm_tiktok_config cfg = config(300);
    struct ttdm_tiktok_client *c = ttdm_tiktok_client_new(&cfg);
    struct ttdm_tiktok_result res;
    char mid[TTDM_ID_MAX];
    (void)state;

    reply(200, "{\"code\":0,\"message\":\"OK\",\"data\":{\"message\":{\"message_id\":\"m1\"}}}");
    srv.sleep_ms = 1200;
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK_UNAVAILABLE);
    assert_true(res.uncertain);
    assert_int_equal(res.http_status, 0);
    assert_string_equal(res.tiktok_message, "TikTok did not answer within 300 ms");
    assert_string_equal(mid, "");
    /* The request did reach the server. */
    assert_int_equal(srv.n_recs, 1);

    /* The same client works again afterwards. */
    srv.sleep_ms = 0;
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res), TTDM_OK);
    assert_string_equal(mid, "m1");
    ttdm_tiktok_client_free(c);
}

static void test_connection_refused_is_certain(void **state)
{
    struct ttdm_tiktok_config cfg = config(2000);
    struct ttdm_tiktok_client *c;
    struct ttdm_tiktok_result res;
    char mid[TTDM_ID_MAX];
    (void)state;

    /* Port 1 on loopback: nothing listens there, the connection is refused. */
    cfg.api_base = "http://127.0.0.1:1/open_api/v1.3";
    c = ttdm_tiktok_client_new(&cfg);
    assert_int_equal(ttdm_tiktok_send_text(c, TOKEN, BIZ, "c", "hi", NULL, mid, &res),
                     TTDM_ERR_TIKTOK_UNAVAILABLE);
    assert_false(res.uncertain);
    assert_int_equal(res.http_status, 0);
    assert_true(strncmp(res.tiktok_message, "cannot reach TikTok: ", 21) == 0);
    ttdm_tiktok_client_free(c);
    ttdm_tiktok_client_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_authorize_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exchange_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_token_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_multipart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_download_media, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_subscription, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_is_uncertain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused_is_certain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
