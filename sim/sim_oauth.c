/* sim_oauth.c -- TikTok's OAuth for business accounts as the simulator plays it: the login and
 * consent page (E1), code exchange (E2), refresh with rotation (E3), revoke (E4), token
 * introspection (E5). */
#include <stdio.h>
#include <string.h>

#include "sim_internal.h"
#include "sim_wire.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

/* The authorize request, from the query string (borrowed) or from a form post (owned). */
struct authz {
    const char *client_key;
    const char *response_type;
    const char *scope;
    const char *redirect_uri;
    const char *state;
    const char *account;
    bool auto_login;
    char *owned[6];
};

static void authz_cleanup(struct authz *a)
{
    for (size_t i = 0; i < sizeof(a->owned) / sizeof(a->owned[0]); i++)
        ttdm_free(a->owned[i]);
}

static void authz_from_query(const struct ttdm_http_request *req, struct authz *a)
{
    const char *autov = ttdm_http_query(req, "auto");
    memset(a, 0, sizeof(*a));
    a->client_key = ttdm_http_query(req, "client_key");
    a->response_type = ttdm_http_query(req, "response_type");
    a->scope = ttdm_http_query(req, "scope");
    a->redirect_uri = ttdm_http_query(req, "redirect_uri");
    a->state = ttdm_http_query(req, "state");
    a->account = ttdm_http_query(req, "account");
    a->auto_login = autov && (strcmp(autov, "1") == 0 || strcmp(autov, "true") == 0);
}

static void authz_from_form(const struct ttdm_http_request *req, struct authz *a)
{
    static const char *const names[6] = {"client_key",   "response_type", "scope",
                                         "redirect_uri", "state",         "account"};
    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i < 6; i++)
        a->owned[i] = ttdm_sim_wire_form_get(req->body, req->body_len, names[i]);
    a->client_key = a->owned[0];
    a->response_type = a->owned[1];
    a->scope = a->owned[2];
    a->redirect_uri = a->owned[3];
    a->state = a->owned[4];
    a->account = a->owned[5];
}

static void page_start(struct ttdm_buf *b, const char *title)
{
    ttdm_buf_append_str(b, "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
                           "<meta name=\"viewport\" content=\"width=device-width\">"
                           "<title>");
    ttdm_buf_append_html(b, title);
    ttdm_buf_append_str(
        b, "</title><style>"
           "body{font-family:system-ui,sans-serif;background:#f1f1f2;margin:0;padding:2em}"
           "main{max-width:34em;margin:auto;background:#fff;border-radius:12px;padding:1.5em 2em;"
           "box-shadow:0 2px 12px rgba(0,0,0,.08)}"
           "h1{font-size:1.3em}.acct{display:flex;align-items:center;justify-content:space-between;"
           "border:1px solid #e3e3e4;border-radius:8px;padding:.7em 1em;margin:.6em 0}"
           ".meta{color:#666;font-size:.85em}button{font-size:1em;border:0;border-radius:6px;"
           "padding:.5em 1.2em;cursor:pointer}.go{background:#fe2c55;color:#fff}"
           ".cancel{background:#e3e3e4}.note{color:#666;font-size:.85em}code{font-size:.9em}"
           "</style></head><body><main>\n");
}

static void error_page(struct ttdm_http_response *resp, int status, const char *message)
{
    struct ttdm_buf b;
    ttdm_buf_init(&b, 64 * 1024);
    page_start(&b, "TikTok login (simulator)");
    ttdm_buf_append_str(&b, "<h1>Something went wrong</h1><p>");
    ttdm_buf_append_html(&b, message);
    ttdm_buf_append_str(&b, "</p></main></body></html>\n");
    ttdm_http_resp_bytes(resp, status, "text/html; charset=utf-8", b.data, b.len);
    ttdm_buf_cleanup(&b);
}

/* Redirects back to the client with an OAuth error, as TikTok does. */
static void redirect_error(struct ttdm_http_response *resp, const struct authz *a,
                           const char *error, const char *description, const char *error_type)
{
    struct ttdm_buf url;
    ttdm_buf_init(&url, 16 * 1024);
    ttdm_buf_append_str(&url, a->redirect_uri);
    ttdm_sim_wire_url_param(&url, "error", error);
    ttdm_sim_wire_url_param(&url, "error_description", description);
    if (error_type)
        ttdm_sim_wire_url_param(&url, "error_type", error_type);
    ttdm_sim_wire_url_param(&url, "state", a->state ? a->state : "");
    ttdm_sim_wire_redirect(resp, ttdm_buf_str(&url));
    ttdm_buf_cleanup(&url);
}

/* Every requested scope must be allowed for the app; TikTok refuses the whole request
 * otherwise. Returns the first unknown scope in bad, or 0. */
static int scopes_allowed(struct ttdm_sim *sim, const char *scope, char *bad, size_t bad_size)
{
    const char *p = scope;
    while (*p) {
        size_t n;
        char one[128];
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        n = strcspn(p, ", ");
        ttdm_strlcpy_n(one, sizeof(one), p, n);
        if (!ttdm_sim_state_scope_has(sim->cfg.allowed_scopes, one)) {
            ttdm_strlcpy(bad, one, bad_size);
            return -1;
        }
        p += n;
    }
    return 0;
}

/* Checks an authorize request. True when it may proceed; otherwise resp is filled (an error
 * page when the client cannot be trusted with a redirect, else a redirect with error=). */
static bool authz_check(struct ttdm_sim *sim, const struct authz *a,
                        struct ttdm_http_response *resp)
{
    char bad[128], desc[256];

    if (!a->client_key || strcmp(a->client_key, sim->cfg.app_id) != 0) {
        error_page(resp, 400, "Unknown client_key: this app is not registered with TikTok.");
        return false;
    }
    if (!a->redirect_uri || (!ttdm_starts_with(a->redirect_uri, "http://") &&
                             !ttdm_starts_with(a->redirect_uri, "https://"))) {
        error_page(resp, 400, "redirect_uri is missing or is not an http(s) URL.");
        return false;
    }
    if (!a->response_type || strcmp(a->response_type, "code") != 0) {
        redirect_error(resp, a, "unsupported_response_type", "response_type must be code.", NULL);
        return false;
    }
    if (!a->scope || !*a->scope) {
        redirect_error(resp, a, "invalid_scope", "At least one scope is required.", "scope");
        return false;
    }
    if (scopes_allowed(sim, a->scope, bad, sizeof(bad))) {
        snprintf(desc, sizeof(desc), "The scope %s is not approved for this app.", bad);
        redirect_error(resp, a, "invalid_scope", desc, "scope");
        return false;
    }
    return true;
}

/* Issues a code for the account and redirects to the client. */
static void grant_code(struct ttdm_sim *sim, const struct authz *a, struct ttdm_http_response *resp)
{
    char code[SIM_ID_MAX] = "";
    struct ttdm_buf url;

    pthread_mutex_lock(&sim->st.lock);
    {
        struct sim_account *acc = ttdm_sim_state_account_by_name(&sim->st, a->account);
        if (acc) {
            struct sim_auth_code *c = ttdm_sim_state_code_create(
                &sim->st, acc, a->scope, a->redirect_uri, ttdm_sim_now_ms(sim));
            ttdm_strlcpy(code, c->code, sizeof(code));
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    if (!code[0]) {
        error_page(resp, 400, "There is no test account with that username.");
        return;
    }
    LOG_INFO("sim", "authorization code issued for %s", a->account);
    ttdm_buf_init(&url, 16 * 1024);
    ttdm_buf_append_str(&url, a->redirect_uri);
    ttdm_sim_wire_url_param(&url, "code", code);
    ttdm_sim_wire_url_param(&url, "state", a->state ? a->state : "");
    ttdm_sim_wire_redirect(resp, ttdm_buf_str(&url));
    ttdm_buf_cleanup(&url);
}

static void hidden(struct ttdm_buf *b, const char *name, const char *value)
{
    ttdm_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    ttdm_buf_append_html(b, value ? value : "");
    ttdm_buf_append_str(b, "\">");
}

static void hidden_params(struct ttdm_buf *b, const struct authz *a)
{
    hidden(b, "client_key", a->client_key);
    hidden(b, "response_type", a->response_type);
    hidden(b, "scope", a->scope);
    hidden(b, "redirect_uri", a->redirect_uri);
    hidden(b, "state", a->state);
}

static void login_page(struct ttdm_sim *sim, const struct authz *a, struct ttdm_http_response *resp)
{
    struct ttdm_buf b;
    size_t n;

    ttdm_buf_init(&b, 8 * 1024 * 1024);
    page_start(&b, "Log in to TikTok (simulator)");
    ttdm_buf_append_str(&b, "<h1>Log in to TikTok</h1>\n<p>The app <b>");
    ttdm_buf_append_html(&b, a->client_key);
    ttdm_buf_append_str(&b, "</b> asks for access to your TikTok business account:</p>\n"
                            "<p class=\"note\"><code>");
    ttdm_buf_append_html(&b, a->scope);
    ttdm_buf_append_str(&b, "</code></p>\n<p>Choose a test account:</p>\n");
    pthread_mutex_lock(&sim->st.lock);
    n = sim->st.accounts.n;
    for (size_t i = 0; i < n; i++) {
        const struct sim_account *acc = sim->st.accounts.items[i];
        ttdm_buf_append_str(&b, "<form class=\"acct\" method=\"post\" "
                                "action=\"/v2/auth/authorize/continue\"><div><b>");
        ttdm_buf_append_html(&b, acc->display_name);
        ttdm_buf_append_str(&b, "</b><div class=\"meta\">@");
        ttdm_buf_append_html(&b, acc->username);
        ttdm_buf_printf(&b, " &middot; region %s &middot; created in the %s</div></div>",
                        acc->region, acc->origin_app ? "app" : "web");
        hidden(&b, "account", acc->username);
        hidden_params(&b, a);
        ttdm_buf_append_str(&b, "<button class=\"go\" type=\"submit\">Continue</button></form>\n");
    }
    pthread_mutex_unlock(&sim->st.lock);
    if (n == 0)
        ttdm_buf_append_str(&b, "<p class=\"note\">There are no test accounts yet. Create one "
                                "with <code>POST /sim/accounts</code>.</p>\n");
    ttdm_buf_append_str(&b, "<form method=\"post\" action=\"/v2/auth/authorize/cancel\">");
    hidden_params(&b, a);
    ttdm_buf_append_str(&b, "<button class=\"cancel\" type=\"submit\">Cancel</button></form>\n"
                            "<p class=\"note\">ttdm-sim: a simulator of TikTok's login for the "
                            "sandbox. No password is asked.</p></main></body></html>\n");
    ttdm_http_resp_bytes(resp, 200, "text/html; charset=utf-8", b.data, b.len);
    ttdm_buf_cleanup(&b);
}

bool ttdm_sim_oauth_page(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp)
{
    const char *path = req->path;
    bool is_get = strcmp(req->method, "GET") == 0, is_post = strcmp(req->method, "POST") == 0;
    struct authz a;

    /* Clients use both spellings (with and without the final slash). */
    if (strcmp(path, "/v2/auth/authorize/") == 0 || strcmp(path, "/v2/auth/authorize") == 0) {
        if (!is_get)
            return false;
        authz_from_query(req, &a);
        if (authz_check(sim, &a, resp)) {
            /* Simulator extension: account=<username>&auto=1 skips the page. */
            if (a.auto_login && a.account)
                grant_code(sim, &a, resp);
            else
                login_page(sim, &a, resp);
        }
        return true;
    }
    if (strcmp(path, "/v2/auth/authorize/continue") == 0 && is_post) {
        authz_from_form(req, &a);
        if (authz_check(sim, &a, resp)) {
            if (!a.account)
                error_page(resp, 400, "Choose an account.");
            else
                grant_code(sim, &a, resp);
        }
        authz_cleanup(&a);
        return true;
    }
    if (strcmp(path, "/v2/auth/authorize/cancel") == 0 && is_post) {
        authz_from_form(req, &a);
        if (authz_check(sim, &a, resp))
            redirect_error(resp, &a, "access_denied", "The user cancelled the authorization.",
                           NULL);
        authz_cleanup(&a);
        return true;
    }
    return false;
}

/* --- E2 to E5 --- */

static bool client_ok(struct ttdm_sim *sim, const char *id, const char *secret)
{
    return id && secret && strcmp(id, sim->cfg.app_id) == 0 &&
           ttdm_const_eq(secret, strlen(secret), sim->cfg.app_secret, strlen(sim->cfg.app_secret));
}

static cJSON *token_data(struct ttdm_sim *sim, const struct sim_token *access,
                         const struct sim_token *refresh)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "access_token", access->value);
    cJSON_AddStringToObject(d, "token_type", "Bearer");
    cJSON_AddStringToObject(d, "scope", access->scope);
    ttdm_json_add_i64(d, "expires_in", sim->cfg.access_token_ttl_s);
    cJSON_AddStringToObject(d, "refresh_token", refresh->value);
    ttdm_json_add_i64(d, "refresh_token_expires_in", sim->cfg.refresh_token_ttl_s);
    cJSON_AddStringToObject(d, "open_id", access->account->business_id);
    return d;
}

/* Reads the body and the client credentials shared by E2-E4. Returns the body or NULL with
 * the envelope already written. */
static cJSON *oauth_body(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp)
{
    char err[160], msg[256];
    const char *id = NULL, *secret = NULL;
    cJSON *body = ttdm_sim_wire_body_object(req, err, sizeof(err));
    if (!body) {
        snprintf(msg, sizeof(msg), "Invalid request body: %s.", err);
        ttdm_sim_wire_envelope(resp, 40002, msg, NULL);
        return NULL;
    }
    ttdm_json_get_str(body, "client_id", 256, &id);
    ttdm_json_get_str(body, "client_secret", 256, &secret);
    if (!client_ok(sim, id, secret)) {
        ttdm_sim_wire_envelope(resp, 40101, "Invalid client_id or client_secret.", NULL);
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

static bool grant_type_is(const cJSON *body, const char *want)
{
    const char *g = NULL;
    return ttdm_json_get_str(body, "grant_type", 64, &g) == 0 && strcmp(g, want) == 0;
}

void ttdm_sim_oauth_token(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                          struct ttdm_http_response *resp)
{
    cJSON *body = oauth_body(sim, req, resp), *data = NULL;
    const char *auth_code = NULL, *redirect_uri = NULL, *msg = NULL;
    int code = 0;

    if (!body)
        return;
    ttdm_json_get_str(body, "auth_code", 256, &auth_code);
    ttdm_json_get_str(body, "redirect_uri", 4096, &redirect_uri);
    if (!grant_type_is(body, "authorization_code")) {
        code = 40108;
        msg = "Invalid grant_type: use authorization_code.";
    } else if (!auth_code || !*auth_code) {
        code = 40002;
        msg = "Param auth_code is required.";
    } else {
        int64_t now;
        struct sim_auth_code *c;
        pthread_mutex_lock(&sim->st.lock);
        now = ttdm_sim_now_ms(sim);
        c = ttdm_sim_state_code_find(&sim->st, auth_code);
        if (!c || c->used || now >= c->expires_ms) {
            code = 40110;
            msg = "Invalid auth_code: it is unknown, already used or expired.";
        } else if (redirect_uri && strcmp(redirect_uri, c->redirect_uri) != 0) {
            code = 40110;
            msg = "Invalid auth_code: it was issued for another redirect_uri.";
        } else {
            struct sim_token *access, *refresh;
            c->used = true; /* single use */
            ttdm_sim_state_tokens_grant(&sim->st, c->account, c->scope, now, &access, &refresh);
            data = token_data(sim, access, refresh);
        }
        pthread_mutex_unlock(&sim->st.lock);
    }
    cJSON_Delete(body);
    ttdm_sim_wire_envelope(resp, code, msg, data);
}

void ttdm_sim_oauth_refresh(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                            struct ttdm_http_response *resp)
{
    cJSON *body = oauth_body(sim, req, resp), *data = NULL;
    const char *value = NULL, *msg = NULL;
    int code = 0;

    if (!body)
        return;
    ttdm_json_get_str(body, "refresh_token", 256, &value);
    if (!grant_type_is(body, "refresh_token")) {
        code = 40108;
        msg = "Invalid grant_type: use refresh_token.";
    } else if (!value || !*value) {
        code = 40002;
        msg = "Param refresh_token is required.";
    } else {
        int64_t now;
        struct sim_token *t;
        pthread_mutex_lock(&sim->st.lock);
        now = ttdm_sim_now_ms(sim);
        t = ttdm_sim_state_token_find(&sim->st, value);
        if (!t || !t->is_refresh || t->revoked) {
            code = 40107;
            msg = "Invalid refresh token.";
        } else if (now >= t->expires_ms) {
            code = 40103;
            msg = "The refresh token has expired. Authorize again.";
        } else {
            struct sim_token *access, *refresh;
            /* Rotation: the old refresh token stops working at once. */
            t->revoked = true;
            ttdm_sim_state_tokens_grant(&sim->st, t->account, t->scope, now, &access, &refresh);
            data = token_data(sim, access, refresh);
        }
        pthread_mutex_unlock(&sim->st.lock);
    }
    cJSON_Delete(body);
    ttdm_sim_wire_envelope(resp, code, msg, data);
}

void ttdm_sim_oauth_revoke(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                           struct ttdm_http_response *resp)
{
    cJSON *body = oauth_body(sim, req, resp);
    const char *value = NULL, *msg = NULL;
    int code = 0;

    if (!body)
        return;
    ttdm_json_get_str(body, "access_token", 256, &value);
    pthread_mutex_lock(&sim->st.lock);
    {
        struct sim_token *t = value ? ttdm_sim_state_token_find(&sim->st, value) : NULL;
        if (!t || t->is_refresh) {
            code = 40105;
            msg = "Access token is incorrect or has been revoked.";
        } else {
            t->revoked = true;
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    cJSON_Delete(body);
    ttdm_sim_wire_envelope(resp, code, msg, NULL);
}

void ttdm_sim_oauth_token_info(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                               struct ttdm_http_response *resp)
{
    char err[160], buf[256];
    cJSON *body = ttdm_sim_wire_body_object(req, err, sizeof(err)), *data = NULL;
    const char *app_id = NULL, *value = NULL, *msg = NULL;
    int code = 0;

    if (!body) {
        snprintf(buf, sizeof(buf), "Invalid request body: %s.", err);
        ttdm_sim_wire_envelope(resp, 40002, buf, NULL);
        return;
    }
    ttdm_json_get_str(body, "app_id", 256, &app_id);
    ttdm_json_get_str(body, "access_token", 256, &value);
    if (!app_id || strcmp(app_id, sim->cfg.app_id) != 0) {
        code = 40101;
        msg = "Invalid app_id.";
    } else {
        pthread_mutex_lock(&sim->st.lock);
        {
            struct sim_token *t = value ? ttdm_sim_state_token_find(&sim->st, value) : NULL;
            if (!t || t->is_refresh || t->revoked) {
                code = 40105;
                msg = "Access token is incorrect or has been revoked.";
            } else if (ttdm_sim_now_ms(sim) >= t->expires_ms) {
                code = 40102;
                msg = "the access token has expired";
            } else {
                data = cJSON_CreateObject();
                cJSON_AddStringToObject(data, "app_id", sim->cfg.app_id);
                cJSON_AddStringToObject(data, "scope", t->scope);
                cJSON_AddStringToObject(data, "creator_id", t->account->business_id);
            }
        }
        pthread_mutex_unlock(&sim->st.lock);
    }
    cJSON_Delete(body);
    ttdm_sim_wire_envelope(resp, code, msg, data);
}
