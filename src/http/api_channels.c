/* api_channels.c -- HTTP handlers of sign-in and users and of a channel's life (connect,
 * reconnect, settings, badge icon, analytics, retry); docs/API.md describes every route. */
#include "http/api_channels.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/channels.h"
#include "app/users.h"
#include "core/analytics.h"
#include "http/render.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define ANALYTICS_DEFAULT_DAYS 30
#define ANALYTICS_MAX_DAYS 366
#define URL_MAX 4096

/* ---- Answers ------------------------------------------------------------------------------ */

static void reply_err(struct ttdm_api_call *c, enum ttdm_err err, const char *specific,
                      const struct ttdm_err_detail *d)
{
    ttdm_render_error(c->resp, err, specific, d);
}

static void reply_bad_request(struct ttdm_api_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reply_bad_request(struct ttdm_api_call *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_err(c, TTDM_ERR_BAD_REQUEST, msg, NULL);
}

static void reply_not_found(struct ttdm_api_call *c, enum ttdm_err rc, const char *what,
                            const struct ttdm_err_detail *d)
{
    if (rc == TTDM_ERR_NOT_FOUND && (!d || !d->message[0]))
        reply_err(c, rc, what, NULL);
    else
        reply_err(c, rc, NULL, d);
}

/*
 * The body as a JSON object; NULL (answered) when it is not one. An empty body reads as {}
 * where `empty_ok`.
 */
static cJSON *body_object(struct ttdm_api_call *c, bool empty_ok)
{
    char perr[160], msg[256];
    cJSON *body;

    if (empty_ok && c->req->body_len == 0)
        return cJSON_CreateObject();
    body = ttdm_json_parse(c->req->body, c->req->body_len, perr, sizeof(perr));
    if (!body) {
        snprintf(msg, sizeof(msg), "The body must be a JSON object: %s.", perr);
        reply_err(c, strstr(perr, "UTF-8") ? TTDM_ERR_INVALID_UTF8 : TTDM_ERR_INVALID_JSON, msg,
                  NULL);
        return NULL;
    }
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        reply_err(c, TTDM_ERR_INVALID_JSON, "The body must be a JSON object.", NULL);
        return NULL;
    }
    return body;
}

/* True when the request's Content-Type is `type` (parameters such as charset ignored). */
static bool content_type_is(const struct ttdm_api_call *c, const char *type)
{
    const char *ct = ttdm_http_header(c->req, "Content-Type");
    size_t n;
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    n = strcspn(ct, "; ");
    return ttdm_slice_ieq(ct, n, type);
}

/* Cookies are HttpOnly (no script reads them) and Secure when ttdm is served over https. */
static void set_cookie(struct ttdm_api_call *c, const char *name, const char *value,
                       const char *path, const char *same_site, int64_t max_age)
{
    const struct ttdm_config *cfg = ttdm_app_config(c->app);
    char header[512];
    snprintf(header, sizeof(header), "%s=%s; Path=%s; Max-Age=%lld; HttpOnly; SameSite=%s%s", name,
             value, path, (long long)max_age, same_site,
             ttdm_starts_with(cfg->public_url, "https://") ? "; Secure" : "");
    ttdm_http_resp_header(c->resp, "Set-Cookie", header);
}

/* ---- Shapes ------------------------------------------------------------------------------- */

static cJSON *render_user(const struct ttdm_user *u)
{
    cJSON *o = cJSON_CreateObject();
    ttdm_json_add_i64(o, "id", u->id);
    ttdm_json_add_i64(o, "workspace_id", u->workspace_id);
    cJSON_AddStringToObject(o, "email", u->email);
    cJSON_AddStringToObject(o, "name", u->name);
    cJSON_AddStringToObject(o, "role", ttdm_role_name(u->role));
    ttdm_json_add_i64(o, "created_at", u->created_at);
    return o;
}

cJSON *ttdm_api_render_channel(struct ttdm_app *app, const struct ttdm_channel *ch)
{
    cJSON *o = ttdm_render_channel(ch);
    cJSON *auto_reply = cJSON_GetObjectItemCaseSensitive(o, "auto_responder");
    char *text = NULL;

    if (ttdm_store_channel_auto_reply_text(ttdm_app_store(app), ch->workspace_id, ch->id, &text) ==
            TTDM_OK &&
        text && text[0])
        cJSON_AddStringToObject(auto_reply, "text", text);
    else
        cJSON_AddNullToObject(auto_reply, "text");
    ttdm_free(text);
    return o;
}

static void reply_channel(struct ttdm_api_call *c, int status, const struct ttdm_channel *ch)
{
    ttdm_http_resp_json(c->resp, status, ttdm_api_render_channel(c->app, ch));
}

/* ---- Sign-in ------------------------------------------------------------------------------ */

void ttdm_api_login(struct ttdm_api_call *c)
{
    const struct ttdm_config *cfg = ttdm_app_config(c->app);
    const char *email = NULL, *password = NULL;
    struct ttdm_login login;
    cJSON *body, *root;
    enum ttdm_err rc;

    /* A cross-site form cannot send application/json without a CORS preflight, which ttdm
     * never grants: this keeps other sites from signing a browser in to an account of theirs. */
    if (!content_type_is(c, "application/json")) {
        reply_err(c, TTDM_ERR_UNSUPPORTED_MEDIA_TYPE,
                  "Sign in with a JSON body {\"email\": ..., \"password\": ...} and "
                  "Content-Type: application/json.",
                  NULL);
        return;
    }
    body = body_object(c, false);
    if (!body)
        return;
    if (ttdm_json_get_str(body, "email", TTDM_EMAIL_MAX, &email) != 0 ||
        ttdm_json_get_str(body, "password", TTDM_PASSWORD_MAX, &password) != 0) {
        cJSON_Delete(body);
        reply_bad_request(c, "%s", "Fields 'email' and 'password' must be strings.");
        return;
    }
    rc = ttdm_app_login(c->app, email, password, &login);
    cJSON_Delete(body);
    if (rc) {
        reply_err(c, rc, NULL, NULL);
        return;
    }
    set_cookie(c, TTDM_SESSION_COOKIE, login.session_token, "/", "Strict", cfg->session_ttl_s);
    set_cookie(c, TTDM_OAUTH_COOKIE, login.oauth_binding, "/oauth/tiktok/", "Lax",
               cfg->session_ttl_s);
    ttdm_http_resp_header(c->resp, "Cache-Control", "no-store");
    root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "user", render_user(&login.user));
    cJSON_AddStringToObject(root, "csrf_token", login.csrf_token);
    ttdm_json_add_i64(root, "expires_at", login.expires_at);
    memset(&login, 0, sizeof(login));
    ttdm_http_resp_json(c->resp, 200, root);
}

static void on_logout(struct ttdm_api_call *c)
{
    enum ttdm_err rc;

    if (c->who.session_id == 0) {
        reply_bad_request(c, "%s",
                          "Only a signed-in session can sign out; an API key stays valid until "
                          "it is revoked.");
        return;
    }
    rc = ttdm_app_logout(c->app, c->who.session_id);
    if (rc) {
        reply_err(c, rc, NULL, NULL);
        return;
    }
    set_cookie(c, TTDM_SESSION_COOKIE, "", "/", "Strict", 0);
    set_cookie(c, TTDM_OAUTH_COOKIE, "", "/oauth/tiktok/", "Lax", 0);
    ttdm_http_resp_json(c->resp, 200, cJSON_CreateObject());
}

static void on_me(struct ttdm_api_call *c)
{
    cJSON *root = cJSON_CreateObject();
    struct ttdm_user u;

    if (c->who.user_id && ttdm_store_user_get(ttdm_app_store(c->app), c->who.workspace_id,
                                              c->who.user_id, &u) == TTDM_OK)
        cJSON_AddItemToObject(root, "user", render_user(&u));
    else
        cJSON_AddNullToObject(root, "user");
    ttdm_json_add_i64(root, "workspace_id", c->who.workspace_id);
    cJSON_AddStringToObject(root, "role", ttdm_role_name(c->who.role));
    cJSON_AddStringToObject(root, "auth", c->who.session_id ? "session" : "api_key");
    if (c->who.session_id)
        cJSON_AddStringToObject(root, "csrf_token", c->who.csrf_token);
    else
        cJSON_AddNullToObject(root, "csrf_token");
    ttdm_http_resp_header(c->resp, "Cache-Control", "no-store");
    ttdm_http_resp_json(c->resp, 200, root);
}

/* ---- Users and API keys ------------------------------------------------------------------- */

static void on_list_users(struct ttdm_api_call *c)
{
    struct ttdm_user *users = NULL;
    size_t n = 0;
    cJSON *root, *data;
    enum ttdm_err rc =
        ttdm_store_user_list(ttdm_app_store(c->app), c->who.workspace_id, &users, &n);

    if (rc) {
        reply_err(c, rc, NULL, NULL);
        return;
    }
    root = cJSON_CreateObject();
    data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(data, render_user(&users[i]));
    ttdm_free(users);
    ttdm_http_resp_json(c->resp, 200, root);
}

/* "role" is optional ("agent" by default); -1 (answered) when it is not a role. */
static int role_field(struct ttdm_api_call *c, const cJSON *body, enum ttdm_role *role)
{
    const char *name = NULL;
    int jrc = ttdm_json_get_str(body, "role", 16, &name);

    *role = TTDM_ROLE_AGENT;
    if (jrc == 1)
        return 0;
    if (jrc < 0 || !ttdm_role_parse(name, role)) {
        reply_bad_request(c, "%s", "Field 'role' must be \"admin\" or \"agent\".");
        return -1;
    }
    return 0;
}

static void on_create_user(struct ttdm_api_call *c)
{
    const char *email = NULL, *password = NULL, *name = NULL;
    struct ttdm_err_detail d;
    struct ttdm_user u;
    enum ttdm_role role;
    cJSON *body = body_object(c, false);
    enum ttdm_err rc;

    if (!body)
        return;
    if (ttdm_json_get_str(body, "email", TTDM_EMAIL_MAX, &email) != 0 ||
        ttdm_json_get_str(body, "password", TTDM_PASSWORD_MAX, &password) != 0 ||
        ttdm_json_get_str(body, "name", TTDM_NAME_MAX - 1, &name) < 0) {
        reply_bad_request(c, "%s",
                          "Fields 'email' and 'password' are required strings; 'name' is an "
                          "optional string.");
        goto done;
    }
    if (role_field(c, body, &role))
        goto done;
    rc = ttdm_app_user_create(c->app, c->who.workspace_id, email, name, password, role, &u, &d);
    if (rc) {
        reply_err(c, rc, NULL, &d);
        goto done;
    }
    ttdm_http_resp_json(c->resp, 201, render_user(&u));
done:
    cJSON_Delete(body);
}

static void on_create_apikey(struct ttdm_api_call *c)
{
    const char *name = NULL;
    enum ttdm_role role;
    char key[128];
    cJSON *body = body_object(c, true), *root;
    enum ttdm_err rc;

    if (!body)
        return;
    if (ttdm_json_get_str(body, "name", 128, &name) < 0) {
        reply_bad_request(c, "%s", "Field 'name' must be a string of at most 128 characters.");
        goto done;
    }
    if (role_field(c, body, &role))
        goto done;
    rc = ttdm_app_apikey_create_role(c->app, c->who.workspace_id, name ? name : "api", role, key,
                                     sizeof(key));
    if (rc) {
        reply_err(c, rc, NULL, NULL);
        goto done;
    }
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "key", key);
    cJSON_AddStringToObject(root, "name", name ? name : "api");
    cJSON_AddStringToObject(root, "role", ttdm_role_name(role));
    ttdm_http_resp_header(c->resp, "Cache-Control", "no-store");
    ttdm_http_resp_json(c->resp, 201, root);
done:
    cJSON_Delete(body);
}

/* ---- Connect and reconnect ---------------------------------------------------------------- */

static void start_login(struct ttdm_api_call *c, int64_t channel_id)
{
    char url[URL_MAX];
    int64_t expires_at = 0;
    struct ttdm_err_detail d;
    cJSON *root;
    enum ttdm_err rc =
        ttdm_app_oauth_start(c->app, &c->who, channel_id, url, sizeof(url), &expires_at, &d);

    if (rc) {
        reply_not_found(c, rc, "No channel with this id.", &d);
        return;
    }
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "authorize_url", url);
    ttdm_json_add_i64(root, "expires_at", expires_at);
    if (channel_id)
        ttdm_json_add_i64(root, "channel_id", channel_id);
    ttdm_http_resp_header(c->resp, "Cache-Control", "no-store");
    ttdm_http_resp_json(c->resp, 200, root);
}

static void on_connect(struct ttdm_api_call *c)
{
    start_login(c, 0);
}

static void on_reconnect(struct ttdm_api_call *c)
{
    start_login(c, c->id);
}

/* The page a browser lands on after TikTok's login, until the dashboard takes over. */
static void callback_page(struct ttdm_api_call *c, int status, const char *title,
                          const char *message, const char *detail_line)
{
    struct ttdm_buf b;

    ttdm_buf_init(&b, 64 * 1024);
    ttdm_buf_append_str(&b, "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
                            "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    ttdm_buf_append_html(&b, title);
    ttdm_buf_append_str(&b, " - ttdm</title><style>body{font-family:system-ui,sans-serif;"
                            "background:#f4f5f7;margin:0;padding:2em}main{max-width:36em;"
                            "margin:auto;background:#fff;border-radius:10px;padding:1.5em 2em}"
                            ".code{color:#666;font-size:.85em}</style></head><body><main><h1>");
    ttdm_buf_append_html(&b, title);
    ttdm_buf_append_str(&b, "</h1><p>");
    ttdm_buf_append_html(&b, message);
    ttdm_buf_append_str(&b, "</p>");
    if (detail_line && detail_line[0]) {
        ttdm_buf_append_str(&b, "<p class=\"code\">");
        ttdm_buf_append_html(&b, detail_line);
        ttdm_buf_append_str(&b, "</p>");
    }
    ttdm_buf_append_str(&b, "<p><a href=\"/\">Back to ttdm</a></p></main></body></html>\n");
    ttdm_http_resp_bytes(c->resp, status, "text/html; charset=utf-8", b.data ? b.data : "", b.len);
    ttdm_buf_cleanup(&b);
}

static bool wants_json(const struct ttdm_api_call *c)
{
    const char *accept = ttdm_http_header(c->req, "Accept");
    return accept && strstr(accept, "application/json") != NULL;
}

void ttdm_api_oauth_callback(struct ttdm_api_call *c)
{
    struct ttdm_oauth_callback cb;
    struct ttdm_oauth_outcome out;
    struct ttdm_err_detail d;
    enum ttdm_err rc;

    memset(&cb, 0, sizeof(cb));
    cb.code = ttdm_http_query(c->req, "code");
    cb.state = ttdm_http_query(c->req, "state");
    cb.error = ttdm_http_query(c->req, "error");
    cb.error_description = ttdm_http_query(c->req, "error_description");
    cb.binding = ttdm_http_cookie(c->req, TTDM_OAUTH_COOKIE);
    rc = ttdm_app_oauth_callback(c->app, &cb, &out, &d);

    /* The URL held a one-time code: no caching, no referrer, nothing to run on the page. */
    ttdm_http_resp_header(c->resp, "Cache-Control", "no-store");
    ttdm_http_resp_header(c->resp, "Referrer-Policy", "no-referrer");
    ttdm_http_resp_header(c->resp, "X-Content-Type-Options", "nosniff");
    ttdm_http_resp_header(c->resp, "Content-Security-Policy",
                          "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'");
    if (wants_json(c)) {
        cJSON *root;
        if (rc) {
            reply_err(c, rc, NULL, &d);
            return;
        }
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "result", ttdm_oauth_result_name(out.result));
        cJSON_AddStringToObject(root, "message", out.message);
        cJSON_AddItemToObject(root, "channel", ttdm_api_render_channel(c->app, &out.channel));
        ttdm_http_resp_json(c->resp, 200, root);
        return;
    }
    /* A browser goes back to the dashboard, which shows the outcome where it happened. */
    {
        char location[1024], msg[768];
        if (rc) {
            if (ttdm_url_encode(d.message[0] ? d.message : ttdm_err_message(rc), msg, sizeof(msg)))
                ttdm_url_encode(ttdm_err_message(rc), msg, sizeof(msg));
            if (out.channel.id)
                snprintf(location, sizeof(location),
                         "/app/integration/tiktok/%lld/overview?oauth_error=%s&oauth_message=%s",
                         (long long)out.channel.id, ttdm_err_code(rc), msg);
            else
                snprintf(location, sizeof(location),
                         "/app/integration/tiktok?oauth_error=%s&oauth_message=%s",
                         ttdm_err_code(rc), msg);
        } else if (out.result == TTDM_OAUTH_RECONNECTED) {
            snprintf(location, sizeof(location),
                     "/app/integration/tiktok/%lld/overview?oauth=reconnected",
                     (long long)out.channel.id);
        } else {
            snprintf(location, sizeof(location), "/app/integration/tiktok/%lld/setup?oauth=%s",
                     (long long)out.channel.id, ttdm_oauth_result_name(out.result));
        }
        ttdm_http_resp_header(c->resp, "Location", location);
        callback_page(c, 303, rc ? "The TikTok account was not connected" : out.message,
                      rc ? (d.message[0] ? d.message : ttdm_err_message(rc)) : out.message, NULL);
    }
}

/* ---- Settings ----------------------------------------------------------------------------- */

static bool known_key(const char *k, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, keys[i]) == 0)
            return true;
    return false;
}

/* Reads the auto_responder member; -1 when it is not {"enabled": bool, "text": string}. */
static int auto_responder_field(const cJSON *ar, struct ttdm_channel_patch *p)
{
    static const char *const keys[] = {"enabled", "text"};
    const cJSON *item;
    bool enabled;
    int jrc;

    if (!cJSON_IsObject(ar))
        return -1;
    cJSON_ArrayForEach(item, ar)
    {
        if (!known_key(item->string, keys, 2))
            return -1;
    }
    jrc = ttdm_json_get_bool(ar, "enabled", &enabled);
    if (jrc < 0)
        return -1;
    if (jrc == 0)
        p->auto_reply_enabled = enabled;
    jrc = ttdm_json_get_str(ar, "text", 64 * 1024, &p->auto_reply_text);
    if (jrc < 0)
        return -1;
    if (jrc == 1 && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ar, "text")))
        p->auto_reply_text = "";
    return 0;
}

static void on_patch_channel(struct ttdm_api_call *c)
{
    static const char *const keys[] = {"auto_responder", "daily_conversation_limit", "region",
                                       "account_origin"};
    struct ttdm_channel_patch p;
    struct ttdm_channel ch;
    struct ttdm_err_detail d;
    const cJSON *item;
    cJSON *body = body_object(c, false);
    enum ttdm_err rc;

    if (!body)
        return;
    memset(&p, 0, sizeof(p));
    p.auto_reply_enabled = -1;
    cJSON_ArrayForEach(item, body)
    {
        if (!known_key(item->string, keys, sizeof(keys) / sizeof(keys[0]))) {
            reply_bad_request(c,
                              "Unknown field '%.64s': a channel has auto_responder, "
                              "daily_conversation_limit, region and account_origin.",
                              item->string);
            goto done;
        }
    }
    item = cJSON_GetObjectItemCaseSensitive(body, "auto_responder");
    if (item && auto_responder_field(item, &p)) {
        reply_bad_request(c, "%s",
                          "Field 'auto_responder' must be an object like {\"enabled\": true, "
                          "\"text\": \"Thanks for your message!\"}.");
        goto done;
    }
    if (ttdm_json_get_i64(body, "daily_conversation_limit", 1, INT32_MAX, &p.daily_limit) < 0) {
        reply_bad_request(c, "%s", "Field 'daily_conversation_limit' must be a whole number.");
        goto done;
    }
    item = cJSON_GetObjectItemCaseSensitive(body, "region");
    if (item && cJSON_IsNull(item))
        p.region = "";
    else if (ttdm_json_get_str(body, "region", 8, &p.region) < 0) {
        reply_bad_request(c, "%s", "Field 'region' must be a two-letter code or null.");
        goto done;
    }
    if (ttdm_json_get_str(body, "account_origin", 16, &p.origin) < 0) {
        reply_bad_request(c, "%s",
                          "Field 'account_origin' must be \"app\", \"web\" or \"unknown\".");
        goto done;
    }
    rc = ttdm_app_channel_update(c->app, c->who.workspace_id, c->id, &p, &ch, &d);
    if (rc) {
        reply_not_found(c, rc, "No channel with this id.", &d);
        goto done;
    }
    reply_channel(c, 200, &ch);
done:
    cJSON_Delete(body);
}

/* ---- Badge icon --------------------------------------------------------------------------- */

static void on_put_badge(struct ttdm_api_call *c)
{
    static const char *const types[] = {"image/png", "image/jpeg", "image/svg+xml",
                                        "application/octet-stream"};
    struct ttdm_channel ch;
    struct ttdm_err_detail d;
    bool type_ok = false;
    enum ttdm_err rc;

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        type_ok = type_ok || content_type_is(c, types[i]);
    if (!type_ok) {
        reply_err(c, TTDM_ERR_UNSUPPORTED_MEDIA_TYPE,
                  "Send the icon's bytes as the body with Content-Type image/png, image/jpeg "
                  "or image/svg+xml.",
                  NULL);
        return;
    }
    if (c->req->body_len == 0) {
        reply_bad_request(c, "%s", "The body is empty: send the icon's bytes.");
        return;
    }
    rc = ttdm_app_badge_set(c->app, c->who.workspace_id, c->id, (const unsigned char *)c->req->body,
                            c->req->body_len, &ch, &d);
    if (rc) {
        reply_not_found(c, rc, "No channel with this id.", &d);
        return;
    }
    reply_channel(c, 200, &ch);
}

static void on_get_badge(struct ttdm_api_call *c)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char mime[32], sha[TTDM_HEX_TOKEN], etag[TTDM_HEX_TOKEN + 2];
    enum ttdm_err rc = ttdm_app_badge_get(c->app, c->who.workspace_id, c->id, &data, &len, mime,
                                          sizeof(mime), sha);

    if (rc) {
        reply_err(c, rc, rc == TTDM_ERR_NOT_FOUND ? "This channel has no badge icon." : NULL, NULL);
        return;
    }
    ttdm_http_resp_bytes(c->resp, 200,
                         strcmp(mime, "image/png") == 0    ? "image/png"
                         : strcmp(mime, "image/jpeg") == 0 ? "image/jpeg"
                                                           : "image/svg+xml",
                         data, len);
    /* An SVG is a document that could hold script: never sniffed as something else, and
     * sandboxed with no source allowed, so that nothing in it ever runs. */
    ttdm_http_resp_header(c->resp, "X-Content-Type-Options", "nosniff");
    ttdm_http_resp_header(c->resp, "Content-Security-Policy",
                          "default-src 'none'; style-src 'unsafe-inline'; sandbox");
    ttdm_http_resp_header(c->resp, "Content-Disposition", "inline; filename=\"badge\"");
    ttdm_http_resp_header(c->resp, "Cache-Control", "private, max-age=86400");
    snprintf(etag, sizeof(etag), "\"%s\"", sha);
    ttdm_http_resp_header(c->resp, "ETag", etag);
    ttdm_free(data);
}

static void on_delete_badge(struct ttdm_api_call *c)
{
    struct ttdm_channel ch;
    enum ttdm_err rc = ttdm_app_badge_delete(c->app, c->who.workspace_id, c->id);

    if (rc == TTDM_OK)
        rc = ttdm_app_channel_get(c->app, c->who.workspace_id, c->id, &ch, NULL);
    if (rc) {
        reply_not_found(c, rc, "No channel with this id.", NULL);
        return;
    }
    reply_channel(c, 200, &ch);
}

/* ---- Analytics ---------------------------------------------------------------------------- */

/* Accumulates a day's figures into the totals. */
struct totals {
    int64_t new_conversations, customer_messages, business[4], daily_used_max;
    int64_t *response_ms;
    size_t n_response, cap;
    cJSON *refused, *tiktok_errors, *auto_skipped;
};

static void add_count(cJSON *obj, const char *key, int64_t value)
{
    cJSON *have = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (have)
        cJSON_SetNumberValue(have, have->valuedouble + (double)value);
    else
        ttdm_json_add_i64(obj, key, value);
}

static cJSON *render_response(const int64_t *sorted, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)n);
    if (n) {
        ttdm_json_add_i64(o, "median", ttdm_analytics_percentile(sorted, n, 50));
        ttdm_json_add_i64(o, "p90", ttdm_analytics_percentile(sorted, n, 90));
    } else {
        cJSON_AddNullToObject(o, "median");
        cJSON_AddNullToObject(o, "p90");
    }
    return o;
}

static cJSON *render_business(const int64_t *b)
{
    cJSON *o = cJSON_CreateObject();
    ttdm_json_add_i64(o, "total",
                      b[TTDM_SOURCE_AGENT] + b[TTDM_SOURCE_AUTO] + b[TTDM_SOURCE_TIKTOK_APP]);
    ttdm_json_add_i64(o, "agent", b[TTDM_SOURCE_AGENT]);
    ttdm_json_add_i64(o, "auto_responder", b[TTDM_SOURCE_AUTO]);
    ttdm_json_add_i64(o, "tiktok_app", b[TTDM_SOURCE_TIKTOK_APP]);
    return o;
}

static cJSON *render_day(const struct ttdm_analytics_day *d, struct totals *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *refused, *errors, *skipped;
    char date[11];

    ttdm_analytics_format_date(d->day, date);
    cJSON_AddStringToObject(o, "date", date);
    ttdm_json_add_i64(o, "new_conversations", d->new_conversations);
    ttdm_json_add_i64(o, "customer_messages", d->customer_messages);
    cJSON_AddItemToObject(o, "business_messages", render_business(d->business_messages));
    cJSON_AddItemToObject(o, "first_response_ms", render_response(d->response_ms, d->n_response));
    refused = cJSON_AddObjectToObject(o, "refused");
    errors = cJSON_AddObjectToObject(o, "tiktok_errors");
    skipped = cJSON_AddObjectToObject(o, "auto_responder_skipped");
    for (size_t i = 0; i < d->n_counts; i++) {
        const struct ttdm_analytics_count *k = &d->counts[i];
        cJSON *day_obj = NULL, *total_obj = NULL;
        if (strcmp(k->metric, "refused") == 0) {
            day_obj = refused;
            total_obj = t->refused;
        } else if (strcmp(k->metric, "tiktok_error") == 0) {
            day_obj = errors;
            total_obj = t->tiktok_errors;
        } else if (strcmp(k->metric, "auto_reply_skipped") == 0) {
            day_obj = skipped;
            total_obj = t->auto_skipped;
        }
        if (day_obj) {
            add_count(day_obj, k->key, k->value);
            add_count(total_obj, k->key, k->value);
        }
    }
    ttdm_json_add_i64(o, "daily_conversations_used", d->daily_conversations_used);

    t->new_conversations += d->new_conversations;
    t->customer_messages += d->customer_messages;
    for (int i = 0; i < 4; i++)
        t->business[i] += d->business_messages[i];
    if (d->daily_conversations_used > t->daily_used_max)
        t->daily_used_max = d->daily_conversations_used;
    for (size_t i = 0; i < d->n_response; i++) {
        if (t->n_response == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 64;
            t->response_ms = ttdm_realloc(t->response_ms, t->cap * sizeof(int64_t));
        }
        t->response_ms[t->n_response++] = d->response_ms[i];
    }
    return o;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* from/to as YYYY-MM-DD; -1 (answered) when malformed. */
static int date_param(struct ttdm_api_call *c, const char *name, int64_t def, int64_t *out)
{
    const char *v = ttdm_http_query(c->req, name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    if (ttdm_analytics_parse_date(v, strlen(v), out) == 0)
        return 0;
    reply_bad_request(c, "Query parameter '%s' must be a date like 2026-11-25 (got '%.32s').", name,
                      v);
    return -1;
}

static void on_analytics(struct ttdm_api_call *c)
{
    struct ttdm_analytics_day *days = NULL;
    struct ttdm_channel ch;
    struct totals t;
    size_t n = 0;
    int64_t today = ttdm_app_today(c->app), from, to;
    char date[11];
    cJSON *root, *arr, *tot;
    enum ttdm_err rc;

    if (date_param(c, "to", today, &to) ||
        date_param(c, "from", to - (ANALYTICS_DEFAULT_DAYS - 1), &from))
        return;
    if (from > to || to - from >= ANALYTICS_MAX_DAYS) {
        reply_bad_request(c, "The range from..to must go forward and span at most %d days.",
                          ANALYTICS_MAX_DAYS);
        return;
    }
    rc = ttdm_app_channel_get(c->app, c->who.workspace_id, c->id, &ch, NULL);
    if (rc == TTDM_OK)
        rc = ttdm_app_channel_analytics(c->app, c->who.workspace_id, c->id, from, to, &days, &n);
    if (rc) {
        reply_not_found(c, rc, "No channel with this id.", NULL);
        return;
    }
    memset(&t, 0, sizeof(t));
    root = cJSON_CreateObject();
    ttdm_json_add_i64(root, "channel_id", c->id);
    ttdm_analytics_format_date(from, date);
    cJSON_AddStringToObject(root, "from", date);
    ttdm_analytics_format_date(to, date);
    cJSON_AddStringToObject(root, "to", date);
    cJSON_AddNumberToObject(root, "daily_conversation_limit", ch.daily_limit);
    tot = cJSON_CreateObject();
    t.refused = cJSON_CreateObject();
    t.tiktok_errors = cJSON_CreateObject();
    t.auto_skipped = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(root, "days");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, render_day(&days[i], &t));
    if (t.n_response > 1)
        qsort(t.response_ms, t.n_response, sizeof(int64_t), cmp_i64);
    ttdm_json_add_i64(tot, "new_conversations", t.new_conversations);
    ttdm_json_add_i64(tot, "customer_messages", t.customer_messages);
    cJSON_AddItemToObject(tot, "business_messages", render_business(t.business));
    cJSON_AddItemToObject(tot, "first_response_ms", render_response(t.response_ms, t.n_response));
    cJSON_AddItemToObject(tot, "refused", t.refused);
    cJSON_AddItemToObject(tot, "tiktok_errors", t.tiktok_errors);
    cJSON_AddItemToObject(tot, "auto_responder_skipped", t.auto_skipped);
    ttdm_json_add_i64(tot, "daily_conversations_used_max", t.daily_used_max);
    cJSON_AddItemToObject(root, "totals", tot);
    ttdm_free(t.response_ms);
    ttdm_analytics_days_free(days, n);
    ttdm_http_resp_json(c->resp, 200, root);
}

/* ---- Failed messages ---------------------------------------------------------------------- */

static void on_retry(struct ttdm_api_call *c)
{
    struct ttdm_message msg;
    struct ttdm_reply_budget b;
    struct ttdm_err_detail d;
    cJSON *root;
    enum ttdm_err rc;

    memset(&msg, 0, sizeof(msg));
    rc = ttdm_app_retry_message(c->app, c->who.workspace_id, c->id, &msg, &b, &d);
    if (rc) {
        reply_not_found(c, rc, "No message with this id.", &d);
        return;
    }
    root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "message", ttdm_render_message(&msg));
    cJSON_AddItemToObject(root, "reply_budget", ttdm_render_budget(&b));
    ttdm_message_cleanup(&msg);
    ttdm_http_resp_json(c->resp, 202, root);
}

/* ---- Routes ------------------------------------------------------------------------------- */

const struct ttdm_api_route ttdm_api_channel_routes[] = {
    {"POST", "api/v1/auth/logout", on_logout, false},
    {"GET", "api/v1/auth/me", on_me, false},
    {"GET", "api/v1/users", on_list_users, false},
    {"POST", "api/v1/users", on_create_user, true},
    {"POST", "api/v1/api_keys", on_create_apikey, true},
    {"POST", "api/v1/channels/connect", on_connect, true},
    {"POST", "api/v1/channels/:/reconnect", on_reconnect, true},
    {"PATCH", "api/v1/channels/:", on_patch_channel, true},
    {"PUT", "api/v1/channels/:/badge", on_put_badge, true},
    {"GET", "api/v1/channels/:/badge", on_get_badge, false},
    {"DELETE", "api/v1/channels/:/badge", on_delete_badge, true},
    {"GET", "api/v1/channels/:/analytics", on_analytics, false},
    {"POST", "api/v1/messages/:/retry", on_retry, false},
};
const size_t ttdm_api_channel_routes_count =
    sizeof(ttdm_api_channel_routes) / sizeof(ttdm_api_channel_routes[0]);

void ttdm_api_run(const struct ttdm_api_route *route, struct ttdm_api_call *call)
{
    if (route->admin_only && call->who.role != TTDM_ROLE_ADMIN) {
        reply_err(call, TTDM_ERR_FORBIDDEN,
                  "Only an admin of the workspace can do this; agents read conversations and "
                  "reply.",
                  NULL);
        return;
    }
    route->handler(call);
}
