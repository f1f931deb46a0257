/* test_access.c -- who may call what: sign-in and sessions, CSRF, roles (admin, agent) and
 * workspace isolation, proved on every route of the API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "harness_web.h"

/* The ids of workspace 1's data every route is tried with. */
struct ids {
    int64_t channel;
    int64_t conversation;
    int64_t message;
    int64_t failed_message;
};

struct route {
    const char *method;
    const char *path; /* %1$ = channel, %2$ = conversation, %3$ = message, %4$ = failed one */
    const char *body;
    bool admin_only;
    bool list; /* answers the caller's own workspace's rows rather than 404 */
};

/* Every authenticated route of docs/API.md. */
static const struct route routes[] = {
    {"GET", "/api/v1/conversations", NULL, false, true},
    {"GET", "/api/v1/conversations/{conv}", NULL, false, false},
    {"GET", "/api/v1/conversations/{conv}/messages", NULL, false, false},
    {"POST", "/api/v1/conversations/{conv}/messages", "{\"text\":\"from the access test\"}", false,
     false},
    {"GET", "/api/v1/messages/{msg}", NULL, false, false},
    {"GET", "/api/v1/messages/{msg}/media", NULL, false, false},
    {"POST", "/api/v1/messages/{failed}/retry", "{}", false, false},
    {"GET", "/api/v1/channels", NULL, false, true},
    {"GET", "/api/v1/channels/{ch}", NULL, false, false},
    {"PATCH", "/api/v1/channels/{ch}", "{\"daily_conversation_limit\":120}", true, false},
    {"POST", "/api/v1/channels/{ch}/reconnect", "{}", true, false},
    {"PUT", "/api/v1/channels/{ch}/badge", NULL, true, false},
    {"GET", "/api/v1/channels/{ch}/badge", NULL, false, false},
    {"DELETE", "/api/v1/channels/{ch}/badge", NULL, true, false},
    {"GET", "/api/v1/channels/{ch}/analytics", NULL, false, false},
    {"POST", "/api/v1/channels/connect", "{}", true, true},
    {"GET", "/api/v1/users", NULL, false, true},
    {"POST", "/api/v1/users",
     "{\"email\":\"new.agent@example.com\",\"password\":\"new agent pw\",\"role\":\"agent\"}", true,
     true},
    {"POST", "/api/v1/api_keys", "{\"name\":\"crm\",\"role\":\"agent\"}", true, true},
    {"GET", "/api/v1/auth/me", NULL, false, true},
    {"POST", "/api/v1/sandbox/clock", "{\"offset_ms\":0}", false, true},
};

static void fill_path(const char *tmpl, const struct ids *ids, char *out, size_t size)
{
    static const struct {
        const char *name;
        size_t off;
    } vars[] = {{"{ch}", offsetof(struct ids, channel)},
                {"{conv}", offsetof(struct ids, conversation)},
                {"{msg}", offsetof(struct ids, message)},
                {"{failed}", offsetof(struct ids, failed_message)}};
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 24 < size;) {
        bool done = false;
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && !done; i++) {
            size_t n = strlen(vars[i].name);
            if (strncmp(p, vars[i].name, n) == 0) {
                int64_t v;
                memcpy(&v, (const char *)ids + vars[i].off, sizeof(v));
                o += (size_t)snprintf(out + o, size - o, "%lld", (long long)v);
                p += n;
                done = true;
            }
        }
        if (!done)
            out[o++] = *p++;
    }
    out[o] = '\0';
}

/* One call with a session (CSRF sent unless `no_csrf`) or with an API key. */
static long call(struct h_env *env, struct h_browser *b, const char *api_key, const struct route *r,
                 const struct ids *ids, bool no_csrf, cJSON **json)
{
    char path[256], url[512], auth[200], csrf[200];
    const char *headers[4] = {NULL};
    const char *body = r->body;
    struct h_resp resp;
    int n = 0;
    long st;

    fill_path(r->path, ids, path, sizeof(path));
    snprintf(url, sizeof(url), "%s%s", env->ttdm_url, path);
    if (strstr(r->path, "/badge") && strcmp(r->method, "PUT") == 0) {
        headers[n++] = "Content-Type: image/svg+xml";
        body = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    } else {
        headers[n++] = "Content-Type: application/json";
    }
    if (api_key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", api_key);
        headers[n++] = auth;
    } else if (b && !no_csrf) {
        snprintf(csrf, sizeof(csrf), "X-CSRF-Token: %s", b->csrf);
        headers[n++] = csrf;
    }
    {
        struct h_browser anon;
        struct h_browser *use = b;
        if (!use) {
            h_browser_init(&anon);
            use = &anon;
        }
        st = h_browser_do(use, r->method, url, headers, body, 0, &resp);
        if (use == &anon)
            h_browser_cleanup(&anon);
    }
    if (json)
        *json = h_resp_json(&resp);
    h_resp_cleanup(&resp);
    return st;
}

static bool state_changing(const struct route *r)
{
    return strcmp(r->method, "GET") != 0;
}

/* Workspace 1 with a channel, a conversation, a sent and a failed message. */
static void setup_data(struct h_env *env, struct ids *ids)
{
    struct h_customer c;
    cJSON *j;

    ids->channel = env->channel_id;
    h_customer_new(env, "zara", "SG", &c);
    assert_int_equal(h_customer_says(env, &c, "Hello from workspace one", 1), 200);
    ids->conversation = h_conversation_id(env, &c);
    assert_int_equal(h_reply(env, ids->conversation, "A sent reply", &j), 202);
    ids->message = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(env, ids->message, "sent", 10000, NULL));
    assert_int_equal(h_sim(env, "POST", "/sim/faults",
                           "{\"endpoint\":\"message/send\",\"kind\":\"40001\"}", NULL),
                     200);
    assert_int_equal(h_reply(env, ids->conversation, "A failed reply", &j), 202);
    ids->failed_message = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(env, ids->failed_message, "failed", 10000, NULL));
}

static void test_sign_in_and_sessions(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "login_store", .cli_channel = true};
    struct h_browser b;
    struct h_resp r;
    char value[512];
    cJSON *j;

    h_env_start_ex(&env, &o);
    h_browser_init(&b);

    /* Wrong password and unknown email look the same. */
    assert_int_equal(h_login(&b, &env, env.admin_email, "wrong password"), 401);
    assert_int_equal(h_login(&b, &env, "nobody@example.com", "wrong password"), 401);
    /* Sign-in only takes JSON (no cross-site form can post it). */
    {
        char url[256];
        const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
        snprintf(url, sizeof(url), "%s/api/v1/auth/login", env.ttdm_url);
        assert_int_equal(
            h_browser_do(&b, "POST", url, headers, "email=admin%40example.com&password=x", 0, &r),
            415);
        h_resp_cleanup(&r);
    }
    /* No session yet. */
    assert_int_equal(h_browser_api(&b, &env, "GET", "/api/v1/auth/me", NULL, NULL), 401);

    /* The session cookie: HttpOnly, SameSite=Strict. Emails are not case-sensitive. */
    {
        char url[256];
        const char *headers[] = {"Content-Type: application/json", NULL};
        snprintf(url, sizeof(url), "%s/api/v1/auth/login", env.ttdm_url);
        h_browser_do(&b, "POST", url, headers,
                     "{\"email\":\" Admin@Example.com \",\"password\":\"correct horse battery\"}",
                     0, &r);
        assert_int_equal(r.status, 200);
        assert_true(h_resp_header(&r, "Set-Cookie", value, sizeof(value)));
        assert_non_null(strstr(r.headers, "ttdm_session="));
        assert_non_null(strstr(r.headers, "HttpOnly"));
        assert_non_null(strstr(r.headers, "SameSite=Strict"));
        j = h_resp_json(&r);
        snprintf(b.csrf, sizeof(b.csrf), "%s", h_str(j, "csrf_token"));
        assert_string_equal(h_str(j, "user.role"), "admin");
        cJSON_Delete(j);
        h_resp_cleanup(&r);
    }
    assert_int_equal(h_browser_api(&b, &env, "GET", "/api/v1/auth/me", NULL, &j), 200);
    assert_string_equal(h_str(j, "user.email"), "admin@example.com");
    assert_string_equal(h_str(j, "auth"), "session");
    assert_string_equal(h_str(j, "csrf_token"), b.csrf);
    cJSON_Delete(j);

    /* A state-changing request with the session but without its CSRF token is refused. */
    {
        char saved[128];
        snprintf(saved, sizeof(saved), "%s", b.csrf);
        snprintf(b.csrf, sizeof(b.csrf), "not-the-token");
        assert_int_equal(h_browser_api(&b, &env, "POST", "/api/v1/users",
                                       "{\"email\":\"x@example.com\",\"password\":\"password1\"}",
                                       &j),
                         403);
        assert_string_equal(h_str(j, "error.code"), "csrf_token_invalid");
        cJSON_Delete(j);
        b.csrf[0] = '\0';
        assert_int_equal(h_browser_api(&b, &env, "POST", "/api/v1/auth/logout", "{}", NULL), 403);
        snprintf(b.csrf, sizeof(b.csrf), "%s", saved);
    }
    /* API keys are not subject to CSRF and stay valid next to sessions. */
    assert_int_equal(h_api(&env, "PATCH", "/api/v1/channels/1", "{\"region\":\"SG\"}", NULL), 200);
    assert_int_equal(h_api(&env, "GET", "/api/v1/auth/me", NULL, &j), 200);
    assert_string_equal(h_str(j, "auth"), "api_key");
    assert_true(cJSON_IsNull(h_get(j, "user")));
    cJSON_Delete(j);

    /* Signing out ends the session. */
    assert_int_equal(h_browser_api(&b, &env, "POST", "/api/v1/auth/logout", "{}", NULL), 200);
    assert_int_equal(h_browser_api(&b, &env, "GET", "/api/v1/auth/me", NULL, NULL), 401);
    h_browser_cleanup(&b);
    h_env_stop(&env);
    (void)state;
}

static void test_roles_and_workspaces_on_every_route(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "iso_store", .cli_channel = true};
    struct h_browser admin, agent, other_admin;
    char out[512], other_key[128] = "", agent_key[128] = "";
    struct ids ids;
    cJSON *j;

    h_env_start_ex(&env, &o);
    setup_data(&env, &ids);

    /* Workspace 1: the admin, an agent (session) and an agent API key. */
    h_browser_init(&admin);
    assert_int_equal(h_login(&admin, &env, env.admin_email, env.admin_password), 200);
    assert_int_equal(h_browser_api(&admin, &env, "POST", "/api/v1/users",
                                   "{\"email\":\"agent@example.com\",\"password\":\"agent pw 1\","
                                   "\"role\":\"agent\",\"name\":\"Agent One\"}",
                                   &j),
                     201);
    assert_string_equal(h_str(j, "role"), "agent");
    cJSON_Delete(j);
    assert_int_equal(h_browser_api(&admin, &env, "POST", "/api/v1/users",
                                   "{\"email\":\"AGENT@example.com\",\"password\":\"agent pw 1\"}",
                                   NULL),
                     409);
    h_browser_init(&agent);
    assert_int_equal(h_login(&agent, &env, "agent@example.com", "agent pw 1"), 200);
    assert_int_equal(h_browser_api(&admin, &env, "POST", "/api/v1/api_keys",
                                   "{\"name\":\"bot\",\"role\":\"agent\"}", &j),
                     201);
    snprintf(agent_key, sizeof(agent_key), "%s", h_str(j, "key"));
    cJSON_Delete(j);

    /* Workspace 2, made by the operator while ttdm runs: its admin and an API key. */
    {
        const char *args[] = {"workspace",        "create",          "--name",
                              "Second",           "--admin-email",   "boss@two.example",
                              "--admin-password", "second password", NULL};
        const char *key_args[] = {"apikey", "create", "--workspace", "2", "--name", "two", NULL};
        assert_int_equal(h_ttdm_cli(&env, args, out, sizeof(out)), 0);
        assert_non_null(strstr(out, "workspace 2"));
        assert_int_equal(h_ttdm_cli(&env, key_args, other_key, sizeof(other_key)), 0);
        other_key[strcspn(other_key, "\n")] = '\0';
        assert_true(strncmp(other_key, "ttdm_", 5) == 0);
    }
    h_browser_init(&other_admin);
    assert_int_equal(h_login(&other_admin, &env, "boss@two.example", "second password"), 200);

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        long st;

        /* Nobody: 401. */
        st = call(&env, NULL, NULL, r, &ids, false, NULL);
        if (st != 401)
            fail_msg("%s %s without credentials answered %ld", r->method, r->path, st);

        /* Another workspace, as admin, by session and by key: workspace 1's rows do not
         * exist for it. */
        for (int k = 0; k < 2; k++) {
            st = call(&env, k ? NULL : &other_admin, k ? other_key : NULL, r, &ids, false, &j);
            if (r->list) {
                /* 403: an API key cannot start a browser login; 409: the new user's email is
                 * taken by the first of the two calls. */
                if (st >= 400 && !(st == 403 && strstr(r->path, "connect")) && st != 409)
                    fail_msg("%s %s from workspace 2 answered %ld", r->method, r->path, st);
                if (strcmp(r->method, "GET") == 0 && cJSON_IsArray(h_get(j, "data"))) {
                    const cJSON *row;
                    cJSON_ArrayForEach(row, h_get(j, "data"))
                    {
                        const cJSON *ws = h_get(row, "workspace_id");
                        if (h_int(row, "id") == ids.channel && h_get(row, "business_id"))
                            fail_msg("workspace 2 sees workspace 1's channel");
                        if (strstr(r->path, "conversations"))
                            fail_msg("workspace 2 sees a conversation");
                        if (ws && h_int(row, "workspace_id") != 2)
                            fail_msg("workspace 2 sees a user of workspace 1");
                    }
                }
                if (strcmp(r->path, "/api/v1/auth/me") == 0)
                    assert_int_equal(h_int(j, "workspace_id"), 2);
            } else if (st != 404) {
                fail_msg("%s %s from workspace 2 (%s) answered %ld, not 404", r->method, r->path,
                         k ? "API key" : "session", st);
            }
            cJSON_Delete(j);
        }

        /* An agent, by session and by key: 403 on admin routes, allowed elsewhere. */
        for (int k = 0; k < 2; k++) {
            st = call(&env, k ? NULL : &agent, k ? agent_key : NULL, r, &ids, false, &j);
            if (r->admin_only && st != 403)
                fail_msg("%s %s as agent (%s) answered %ld, not 403", r->method, r->path,
                         k ? "API key" : "session", st);
            if (!r->admin_only && (st == 401 || st == 403))
                fail_msg("%s %s as agent (%s) answered %ld", r->method, r->path,
                         k ? "API key" : "session", st);
            cJSON_Delete(j);
        }

        /* A session without the CSRF token cannot change anything. */
        if (state_changing(r)) {
            st = call(&env, &admin, NULL, r, &ids, true, &j);
            if (st != 403 || strcmp(h_str(j, "error.code"), "csrf_token_invalid") != 0)
                fail_msg("%s %s without CSRF token answered %ld", r->method, r->path, st);
            cJSON_Delete(j);
        }

        /* The admin of workspace 1 may do it all. */
        st = call(&env, &admin, NULL, r, &ids, false, &j);
        if (st == 401 || st == 403 ||
            (st == 404 && !strstr(r->path, "media") && !strstr(r->path, "badge")))
            fail_msg("%s %s as admin answered %ld", r->method, r->path, st);
        cJSON_Delete(j);
    }

    /* Nothing workspace 2 did reached workspace 1: still its one channel. */
    assert_int_equal(h_api(&env, "GET", "/api/v1/channels", NULL, &j), 200);
    assert_int_equal(cJSON_GetArraySize(h_get(j, "data")), 1);
    cJSON_Delete(j);
    h_browser_cleanup(&admin);
    h_browser_cleanup(&agent);
    h_browser_cleanup(&other_admin);
    h_env_stop(&env);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_in_and_sessions),
        cmocka_unit_test(test_roles_and_workspaces_on_every_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
