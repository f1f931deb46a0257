/* test_channels.c -- a channel's life end to end: connect through the TikTok login page,
 * connect twice, OAuth errors, silent refresh, and the seed's reconnect story. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"
#include "harness_web.h"

#define HOUR_MS INT64_C(3600000)

static int channel_count(struct h_env *env)
{
    cJSON *j = NULL;
    int n;
    assert_int_equal(h_api(env, "GET", "/api/v1/channels", NULL, &j), 200);
    n = cJSON_GetArraySize(h_get(j, "data"));
    cJSON_Delete(j);
    return n;
}

static cJSON *get_channel(struct h_env *env, int64_t id)
{
    char path[96];
    cJSON *j = NULL;
    snprintf(path, sizeof(path), "/api/v1/channels/%lld", (long long)id);
    assert_int_equal(h_api(env, "GET", path, NULL, &j), 200);
    return j;
}

/* True when `needle` occurs anywhere in the file's bytes. */
static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    size_t n = strlen(needle), cap = 1 << 16, len = 0;
    char *buf;
    bool found = false;

    if (!f)
        return false;
    buf = malloc(cap);
    for (;;) {
        size_t got;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        got = fread(buf + len, 1, cap - len, f);
        if (got == 0)
            break;
        len += got;
    }
    fclose(f);
    for (size_t i = 0; i + n <= len && !found; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

/* The simulator's current tokens of an account. */
static void sim_tokens(struct h_env *env, const char *business_id, char *access, char *refresh,
                       size_t size)
{
    char path[256];
    cJSON *j = NULL;
    snprintf(path, sizeof(path), "/sim/accounts/%s", business_id);
    assert_int_equal(h_sim(env, "GET", path, NULL, &j), 200);
    snprintf(access, size, "%s", h_str(j, "access_token"));
    snprintf(refresh, size, "%s", h_str(j, "refresh_token"));
    cJSON_Delete(j);
}

static void expire_tokens(struct h_env *env, const char *business_id, const char *which)
{
    char path[256], body[64];
    snprintf(path, sizeof(path), "/sim/accounts/%s/expire_token", business_id);
    snprintf(body, sizeof(body), "{\"which\":\"%s\"}", which);
    assert_int_equal(h_sim(env, "POST", path, body, NULL), 200);
}

/* Signed in as the environment's first admin. */
static void admin_browser(struct h_env *env, struct h_browser *b)
{
    h_browser_init(b);
    assert_int_equal(h_login(b, env, env->admin_email, env->admin_password), 200);
}

/* Connects `account` with the login page and returns the channel id. */
static int64_t connect_account(struct h_browser *b, struct h_env *env, const char *account)
{
    long st;
    int64_t id;
    cJSON *j = h_connect_account(b, env, 0, account, &st);
    if (st != 200) {
        char *s = j ? cJSON_PrintUnformatted(j) : NULL;
        fail_msg("connect answered %ld: %s", st, s ? s : "");
    }
    id = h_int(j, "channel.id");
    cJSON_Delete(j);
    return id;
}

/* ---- Connect ------------------------------------------------------------------------------ */

static void test_connect_through_login_page(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "acme_store"};
    struct h_browser b;
    struct h_resp r;
    char url[4096], callback[4096], access[512], refresh[512], path[600], value[256];
    struct stat st;
    cJSON *j;

    h_env_start_ex(&env, &o);
    assert_int_equal(channel_count(&env), 0);
    admin_browser(&env, &b);

    /* ttdm builds the authorize URL: client key, scopes, redirect URI and a state. */
    h_start_connect(&b, &env, 0, url, sizeof(url));
    assert_non_null(strstr(url, "client_key=ttdm-sandbox-app"));
    assert_non_null(strstr(url, "response_type=code"));
    assert_non_null(strstr(url, "message.list.send"));
    assert_non_null(strstr(url, "%2Foauth%2Ftiktok%2Fcallback"));
    assert_non_null(strstr(url, "&state="));

    /* The simulator's login page, Continue for the account, then back to ttdm. */
    h_tiktok_login(&b, url, "acme_store", callback, sizeof(callback));
    assert_true(strncmp(callback, env.ttdm_url, strlen(env.ttdm_url)) == 0);
    assert_non_null(strstr(callback, "code="));
    h_browser_do(&b, "GET", callback, NULL, NULL, 0, &r);
    /* The browser goes back to the dashboard's setup step of the new channel. */
    assert_int_equal(r.status, 303);
    assert_true(h_resp_header(&r, "Location", value, sizeof(value)));
    assert_true(strncmp(value, "/app/integration/tiktok/", 24) == 0);
    assert_non_null(strstr(value, "/setup?oauth=connected"));
    assert_non_null(strstr(r.body, "is connected"));
    assert_true(h_resp_header(&r, "Content-Type", value, sizeof(value)));
    assert_non_null(strstr(value, "text/html"));
    assert_true(h_resp_header(&r, "Cache-Control", value, sizeof(value)));
    assert_string_equal(value, "no-store");
    h_resp_cleanup(&r);

    /* The channel has the profile read from TikTok. */
    assert_int_equal(h_api(&env, "GET", "/api/v1/channels", NULL, &j), 200);
    assert_int_equal(cJSON_GetArraySize(h_get(j, "data")), 1);
    assert_string_equal(h_str(j, "data.0.business_id"), env.business_id);
    assert_string_equal(h_str(j, "data.0.username"), "acme_store");
    assert_string_equal(h_str(j, "data.0.display_name"), "acme_store shop");
    assert_string_equal(h_str(j, "data.0.region"), "SG");
    assert_string_equal(h_str(j, "data.0.account_origin"), "app");
    assert_string_equal(h_str(j, "data.0.status"), "connected");
    assert_true(h_int(j, "data.0.refresh_token_expires_at") >= h_int(j, "data.0.token_expires_at"));
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(h_get(j, "data"), 0), "access_token"));
    cJSON_Delete(j);

    /* Tokens are encrypted at rest: neither appears in the database files; the key file is
     * private. */
    sim_tokens(&env, env.business_id, access, refresh, sizeof(access));
    snprintf(path, sizeof(path), "%s/data/ttdm.db", env.dir);
    assert_false(file_contains(path, access));
    assert_false(file_contains(path, refresh));
    snprintf(path, sizeof(path), "%s/data/ttdm.db-wal", env.dir);
    assert_false(file_contains(path, access));
    assert_false(file_contains(path, refresh));
    snprintf(path, sizeof(path), "%s/ttdm.log", env.dir);
    assert_false(file_contains(path, access));
    assert_false(file_contains(path, refresh));
    snprintf(path, sizeof(path), "%s/data/secret.key", env.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* The connected channel works: a customer writes and an agent's reply is sent with the
     * decrypted token. */
    {
        struct h_customer c;
        int64_t conv, id;
        h_customer_new(&env, "dewi", "ID", &c);
        assert_int_equal(h_customer_says(&env, &c, "Hi shop!", 1), 200);
        conv = h_conversation_id(&env, &c);
        assert_int_equal(h_reply(&env, conv, "Hello Dewi", &j), 202);
        id = h_int(j, "message.id");
        cJSON_Delete(j);
        assert_true(h_wait_message_status(&env, id, "sent", 10000, NULL));
        assert_int_equal(h_sim_count_text(&env, &c, "Hello Dewi"), 1);
    }
    h_browser_cleanup(&b);
    h_env_stop(&env);
    (void)state;
}

static void test_connect_same_account_twice(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "twice_store"};
    struct h_browser b;
    cJSON *j;
    long st;
    int64_t first;

    h_env_start_ex(&env, &o);
    admin_browser(&env, &b);
    j = h_connect_account(&b, &env, 0, "twice_store", &st);
    assert_int_equal(st, 200);
    assert_string_equal(h_str(j, "result"), "connected");
    first = h_int(j, "channel.id");
    cJSON_Delete(j);

    /* Adding the same TikTok account again updates its channel instead of adding one. */
    j = h_connect_account(&b, &env, 0, "twice_store", &st);
    assert_int_equal(st, 200);
    assert_string_equal(h_str(j, "result"), "updated");
    assert_int_equal(h_int(j, "channel.id"), first);
    assert_non_null(strstr(h_str(j, "message"), "already connected"));
    cJSON_Delete(j);
    assert_int_equal(channel_count(&env), 1);

    /* Any number of accounts per workspace. */
    h_sim_account(&env, "second_store", "ID", NULL, 0);
    j = h_connect_account(&b, &env, 0, "second_store", &st);
    assert_int_equal(st, 200);
    assert_true(h_int(j, "channel.id") != first);
    assert_string_equal(h_str(j, "channel.region"), "ID");
    cJSON_Delete(j);
    assert_int_equal(channel_count(&env), 2);
    h_browser_cleanup(&b);
    h_env_stop(&env);
    (void)state;
}

/* Conversations workspace 2's admin sees, and how many messages the first one has. */
static int conversations_seen(struct h_browser *b, struct h_env *env, int *messages)
{
    cJSON *j = NULL;
    int n;
    char path[128];

    assert_int_equal(h_browser_api(b, env, "GET", "/api/v1/conversations", NULL, &j), 200);
    n = cJSON_GetArraySize(h_get(j, "data"));
    *messages = 0;
    if (n > 0) {
        snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages",
                 (long long)h_int(j, "data.0.id"));
        cJSON_Delete(j);
        assert_int_equal(h_browser_api(b, env, "GET", path, NULL, &j), 200);
        *messages = cJSON_GetArraySize(h_get(j, "data"));
    }
    cJSON_Delete(j);
    return n;
}

/*
 * One account in two workspaces: once the second connects it, the very next webhook reaches
 * both (ttdm remembers which channel a business id goes to; connecting forgets that).
 */
static void test_account_in_two_workspaces(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "shared_store"};
    struct h_browser b, other;
    struct h_customer c;
    struct h_resp r;
    char out[512], url[4096], callback[4096];
    int messages = -1;
    const char *args[] = {"workspace",        "create",          "--name",
                          "Second",           "--admin-email",   "boss@two.example",
                          "--admin-password", "second password", NULL};

    h_env_start_ex(&env, &o);
    admin_browser(&env, &b);
    connect_account(&b, &env, "shared_store");
    assert_int_equal(h_ttdm_cli(&env, args, out, sizeof(out)), 0);
    h_browser_init(&other);
    assert_int_equal(h_login(&other, &env, "boss@two.example", "second password"), 200);

    /* Workspace 2 goes through TikTok's login page; meanwhile a customer writes, so the
     * account's one channel is what ttdm remembers. */
    h_start_connect(&other, &env, 0, url, sizeof(url));
    h_tiktok_login(&other, url, "shared_store", callback, sizeof(callback));
    h_customer_new(&env, "lina", "SG", &c);
    assert_int_equal(h_customer_says(&env, &c, "Before", 1), 200);
    assert_int_equal(conversations_seen(&other, &env, &messages), 0);

    h_browser_do(&other, "GET", callback, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 303);
    h_resp_cleanup(&r);
    assert_int_equal(h_customer_says(&env, &c, "After", 1), 200);
    assert_int_equal(conversations_seen(&other, &env, &messages), 1);
    assert_int_equal(messages, 1); /* "After" only: it was not connected before */
    h_browser_cleanup(&other);
    h_browser_cleanup(&b);
    h_env_stop(&env);
    (void)state;
}

/*
 * GETs the callback as a browser: it is sent back to the dashboard with the error's code in
 * the query (`status` is what the JSON form of the same answer would carry), and the page
 * says the sentence.
 */
static void expect_error_page(struct h_browser *b, const char *callback, int status,
                              const char *code, const char *words)
{
    struct h_resp r;
    char want[128], location[2048] = "";

    h_browser_do(b, "GET", callback, NULL, NULL, 0, &r);
    h_resp_header(&r, "Location", location, sizeof(location));
    snprintf(want, sizeof(want), "oauth_error=%s&", code);
    if (r.status != 303 || !strstr(location, want) || (words && !strstr(r.body, words)))
        fail_msg("expected 303 to ...%s (%s; JSON status %d), got %ld to %s: %.600s", want,
                 words ? words : "", status, r.status, location, r.body);
    assert_true(strncmp(location, "/app/integration/tiktok", 23) == 0);
    assert_non_null(strstr(location, "oauth_message="));
    h_resp_cleanup(&r);
}

static void test_oauth_errors(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "err_store"};
    struct h_browser b, other;
    char url[4096], callback[4096], bad[4096 + 64];
    char *code;
    long st;
    cJSON *j;

    h_env_start_ex(&env, &o);
    admin_browser(&env, &b);

    /* Cancel on TikTok's page: access_denied. */
    h_start_connect(&b, &env, 0, url, sizeof(url));
    h_tiktok_login(&b, url, NULL, callback, sizeof(callback));
    assert_non_null(strstr(callback, "error=access_denied"));
    expect_error_page(&b, callback, 400, "oauth_access_denied", "cancelled");

    /* A state nobody issued, and no state at all. */
    snprintf(bad, sizeof(bad), "%s/oauth/tiktok/callback?code=abc&state=%064d", env.ttdm_url, 7);
    expect_error_page(&b, bad, 400, "oauth_state_invalid", "unknown or was already used");
    snprintf(bad, sizeof(bad), "%s/oauth/tiktok/callback?code=abc", env.ttdm_url);
    expect_error_page(&b, bad, 400, "oauth_state_invalid", NULL);

    /* A wrong code: TikTok refuses it (40110). */
    h_start_connect(&b, &env, 0, url, sizeof(url));
    h_tiktok_login(&b, url, "err_store", callback, sizeof(callback));
    code = strstr(callback, "code=");
    assert_non_null(code);
    code[5] = code[5] == 'f' ? '0' : 'f';
    expect_error_page(&b, callback, 400, "oauth_code_invalid", "40110");
    /* ...and its state was spent with it: used states are refused. */
    expect_error_page(&b, callback, 400, "oauth_state_invalid", "already used");

    /* A good login replayed: the state works once. */
    h_start_connect(&b, &env, 0, url, sizeof(url));
    h_tiktok_login(&b, url, "err_store", callback, sizeof(callback));
    /* ...but first another browser (no binding cookie) tries it: refused, state spent. */
    h_browser_init(&other);
    expect_error_page(&other, callback, 400, "oauth_state_invalid", "another browser");
    h_browser_cleanup(&other);
    expect_error_page(&b, callback, 400, "oauth_state_invalid", "already used");

    /* An expired state: more than 10 minutes between connect and callback. */
    h_start_connect(&b, &env, 0, url, sizeof(url));
    h_tiktok_login(&b, url, "err_store", callback, sizeof(callback));
    h_set_clock(&env, 11 * 60 * 1000);
    expect_error_page(&b, callback, 400, "oauth_state_invalid", "expired");
    h_set_clock(&env, 0);

    /* Nothing of the above created a channel. */
    assert_int_equal(channel_count(&env), 0);

    /* An agent may not connect; an API key cannot start a browser login. */
    {
        struct h_browser agent;
        assert_int_equal(h_browser_api(&b, &env, "POST", "/api/v1/users",
                                       "{\"email\":\"agent@example.com\",\"password\":\"agent "
                                       "password\",\"role\":\"agent\"}",
                                       NULL),
                         201);
        h_browser_init(&agent);
        assert_int_equal(h_login(&agent, &env, "agent@example.com", "agent password"), 200);
        assert_int_equal(
            h_browser_api(&agent, &env, "POST", "/api/v1/channels/connect", "{}", NULL), 403);
        h_browser_cleanup(&agent);
        assert_int_equal(h_api(&env, "POST", "/api/v1/channels/connect", "{}", &j), 403);
        assert_non_null(strstr(h_str(j, "error.message"), "signed in"));
        cJSON_Delete(j);
    }

    /* Scopes TikTok does not approve for the app: invalid_scope, nothing created. */
    {
        const char *args[] = {"--oauth_scopes=user.info.basic,message.list.send,no.such.scope",
                              NULL};
        h_env_restart_ttdm(&env, args);
        h_browser_cleanup(&b);
        admin_browser(&env, &b);
        h_start_connect(&b, &env, 0, url, sizeof(url));
        h_tiktok_login(&b, url, "err_store", callback, sizeof(callback));
        assert_non_null(strstr(callback, "error=invalid_scope"));
        expect_error_page(&b, callback, 400, "oauth_invalid_scope", NULL);
    }
    assert_int_equal(channel_count(&env), 0);

    /* The JSON form of the callback carries the same error. */
    {
        const char *args[] = {NULL};
        const char *headers[] = {"Accept: application/json", NULL};
        struct h_resp r;
        h_env_restart_ttdm(&env, args);
        h_browser_cleanup(&b);
        admin_browser(&env, &b);
        h_start_connect(&b, &env, 0, url, sizeof(url));
        h_tiktok_login(&b, url, NULL, callback, sizeof(callback));
        st = h_browser_do(&b, "GET", callback, headers, NULL, 0, &r);
        assert_int_equal(st, 400);
        j = h_resp_json(&r);
        assert_string_equal(h_str(j, "error.code"), "oauth_access_denied");
        cJSON_Delete(j);
        h_resp_cleanup(&r);
    }
    assert_int_equal(channel_count(&env), 0);
    h_browser_cleanup(&b);
    h_env_stop(&env);
    (void)state;
}

/* ---- Stay connected ----------------------------------------------------------------------- */

static void test_expired_access_token_refreshed_silently(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "fresh_store"};
    struct h_browser b;
    struct h_customer c;
    char before_access[512], before_refresh[512], after_access[512], after_refresh[512];
    int64_t ch, conv, id, expires_before;
    cJSON *j;

    h_env_start_ex(&env, &o);
    admin_browser(&env, &b);
    ch = connect_account(&b, &env, "fresh_store");
    h_customer_new(&env, "rani", "SG", &c);
    assert_int_equal(h_customer_says(&env, &c, "Hello", 1), 200);
    conv = h_conversation_id(&env, &c);
    j = get_channel(&env, ch);
    expires_before = h_int(j, "token_expires_at");
    cJSON_Delete(j);
    sim_tokens(&env, env.business_id, before_access, before_refresh, sizeof(before_access));

    /* TikTok says the access token expired: ttdm refreshes once and sends anyway. */
    expire_tokens(&env, env.business_id, "access");
    assert_int_equal(h_reply(&env, conv, "Sent after a refresh", &j), 202);
    id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "sent", 10000, NULL));
    assert_int_equal(h_sim_count_text(&env, &c, "Sent after a refresh"), 1);

    /* The rotated refresh token was stored: the simulator's newest pair is in use. */
    sim_tokens(&env, env.business_id, after_access, after_refresh, sizeof(after_access));
    assert_string_not_equal(after_refresh, before_refresh);
    j = get_channel(&env, ch);
    assert_string_equal(h_str(j, "status"), "connected");
    assert_true(h_int(j, "token_expires_at") >= expires_before);
    cJSON_Delete(j);

    /* A second send needs no refresh; the 40102 met on the way is in the analytics. */
    assert_int_equal(h_reply(&env, conv, "And one more", &j), 202);
    id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "sent", 10000, NULL));
    {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/channels/%lld/analytics", (long long)ch);
        assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
        assert_int_equal(h_int(j, "totals.tiktok_errors.40102"), 1);
        cJSON_Delete(j);
    }
    h_browser_cleanup(&b);
    h_env_stop(&env);
    (void)state;
}

static void test_timer_refreshes_before_expiry(void **state)
{
    /* Access tokens live 4 s and are refreshed 3 s before they expire. */
    const char *sim_args[] = {"--access_token_ttl_s=4", NULL};
    const char *ttdm_args[] = {"--token_refresh_ahead_s=3", "--token_refresh_interval_ms=100",
                               NULL};
    struct h_env env;
    struct h_env_opts o = {.username = "timer_store", .ttdm_args = ttdm_args, .sim_args = sim_args};
    struct h_browser b;
    struct h_customer c;
    char access0[512], refresh0[512], access1[512], refresh1[512], path[128];
    int64_t ch, conv, id;
    cJSON *j;

    h_env_start_ex(&env, &o);
    admin_browser(&env, &b);
    ch = connect_account(&b, &env, "timer_store");
    sim_tokens(&env, env.business_id, access0, refresh0, sizeof(access0));
    h_customer_new(&env, "tomo", "SG", &c);
    assert_int_equal(h_customer_says(&env, &c, "Hi", 1), 200);
    conv = h_conversation_id(&env, &c);

    /* Well after the first token's expiry, sending needs no 40102 at all. */
    h_sleep_ms(5500);
    sim_tokens(&env, env.business_id, access1, refresh1, sizeof(access1));
    assert_string_not_equal(access1, access0);
    assert_string_not_equal(refresh1, refresh0);
    assert_int_equal(h_reply(&env, conv, "On time", &j), 202);
    id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "sent", 10000, NULL));
    snprintf(path, sizeof(path), "/api/v1/channels/%lld/analytics", (long long)ch);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_null(h_get(j, "totals.tiktok_errors.40102"));
    cJSON_Delete(j);
    j = get_channel(&env, ch);
    assert_string_equal(h_str(j, "status"), "connected");
    cJSON_Delete(j);
    h_browser_cleanup(&b);
    h_env_stop(&env);
    (void)state;
}

/* ---- The seed's reconnect story ----------------------------------------------------------- */

/* The JSON of a GET, printed compactly without the named members (at the top and in every
 * object of data[]), for before/after comparisons. */
static char *snapshot(struct h_env *env, const char *path, const char *const *drop)
{
    cJSON *j = NULL, *data, *item;
    char *s;
    assert_int_equal(h_api(env, "GET", path, NULL, &j), 200);
    data = cJSON_GetObjectItem(j, "data");
    cJSON_ArrayForEach(item, data)
    {
        for (const char *const *d = drop; d && *d; d++)
            cJSON_DeleteItemFromObject(item, *d);
    }
    for (const char *const *d = drop; d && *d; d++)
        cJSON_DeleteItemFromObject(j, *d);
    s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static void test_reconnect_story(void **state)
{
    /* Fields that describe the channel's state rather than the data itself. */
    const char *const conv_drop[] = {"channel_status", "channel", "reply_budget", NULL};
    struct h_env env;
    struct h_env_opts o = {.username = "seed_store"};
    struct h_browser b;
    struct h_customer c;
    char path[256], conv_path[256], ana_path[256], other_bid[128];
    char *convs_before, *msgs_before, *ana_before, *convs_after, *msgs_after, *ana_after;
    const char *text = "Yes! The blue tote is in stock and ships from Jakarta tomorrow morning.";
    int64_t ch, conv, ok_id, failed_id;
    cJSON *j;
    long st;

    h_env_start_ex(&env, &o);
    h_sim_account(&env, "other_store", "SG", other_bid, sizeof(other_bid));
    admin_browser(&env, &b);
    ch = connect_account(&b, &env, "seed_store");
    h_customer_new(&env, "ayu", "ID", &c);
    assert_int_equal(h_customer_says(&env, &c, "Is the blue tote in stock?", 1), 200);
    conv = h_conversation_id(&env, &c);
    assert_int_equal(h_reply(&env, conv, "Let me check.", &j), 202);
    ok_id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, ok_id, "sent", 10000, NULL));

    /* The refresh token expires too: the refresh fails for good. */
    expire_tokens(&env, env.business_id, "both");
    assert_int_equal(h_reply(&env, conv, text, &j), 202);
    failed_id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, failed_id, "failed", 10000, &j));
    assert_string_equal(h_str(j, "error.message"),
                        "Failed sending Yes! The blue tote is in stock and ships... to customer "
                        "with error: [40102] the access token has expired");
    assert_int_equal(h_int(j, "error.tiktok_code"), 40102);
    cJSON_Delete(j);

    /* "Reconnect required" everywhere the channel shows. */
    j = get_channel(&env, ch);
    assert_string_equal(h_str(j, "status"), "reconnect_required");
    assert_non_null(strstr(h_str(j, "status_message"), "Reconnect Account"));
    cJSON_Delete(j);
    assert_int_equal(h_api(&env, "GET", "/api/v1/channels", NULL, &j), 200);
    assert_string_equal(h_str(j, "data.0.status"), "reconnect_required");
    cJSON_Delete(j);
    snprintf(conv_path, sizeof(conv_path), "/api/v1/conversations/%lld", (long long)conv);
    assert_int_equal(h_api(&env, "GET", conv_path, NULL, &j), 200);
    assert_string_equal(h_str(j, "channel_status"), "reconnect_required");
    assert_string_equal(h_str(j, "channel.status"), "reconnect_required");
    assert_string_equal(h_str(j, "reply_budget.refusal.code"), "reconnect_required");
    cJSON_Delete(j);

    /* New sends are refused with that code. */
    assert_int_equal(h_reply(&env, conv, "Anyone?", &j), 409);
    assert_string_equal(h_str(j, "error.code"), "reconnect_required");
    cJSON_Delete(j);

    /* What must survive the reconnect, taken once TikTok's echo of the sent reply has been
     * stored (it updates that reply, and comes on its own time). */
    assert_true(h_sim_wait_delivered(&env, 10000));
    snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)conv);
    snprintf(ana_path, sizeof(ana_path), "/api/v1/channels/%lld/analytics", (long long)ch);
    convs_before = snapshot(&env, "/api/v1/conversations", conv_drop);
    msgs_before = snapshot(&env, path, (const char *const[]){"reply_budget", NULL});
    ana_before = snapshot(&env, ana_path, NULL);

    /* Reconnect with another TikTok account: refused, naming both, nothing changes. */
    j = h_connect_account(&b, &env, ch, "other_store", &st);
    assert_int_equal(st, 409);
    assert_string_equal(h_str(j, "error.code"), "reconnect_account_mismatch");
    assert_non_null(strstr(h_str(j, "error.message"), "@other_store"));
    assert_non_null(strstr(h_str(j, "error.message"), "@seed_store"));
    cJSON_Delete(j);
    assert_int_equal(channel_count(&env), 1);
    j = get_channel(&env, ch);
    assert_string_equal(h_str(j, "status"), "reconnect_required");
    assert_string_equal(h_str(j, "business_id"), env.business_id);
    cJSON_Delete(j);

    /* Reconnect with the right account, as the browser sees it. */
    {
        char url[4096], callback[4096];
        struct h_resp r;
        h_start_connect(&b, &env, ch, url, sizeof(url));
        h_tiktok_login(&b, url, "seed_store", callback, sizeof(callback));
        h_browser_do(&b, "GET", callback, NULL, NULL, 0, &r);
        assert_int_equal(r.status, 303);
        {
            char location[512], want[96];
            snprintf(want, sizeof(want), "/app/integration/tiktok/%lld/overview?oauth=reconnected",
                     (long long)ch);
            assert_true(h_resp_header(&r, "Location", location, sizeof(location)));
            assert_string_equal(location, want);
        }
        assert_non_null(strstr(r.body, "Your channel has been reconnected."));
        h_resp_cleanup(&r);
    }
    /* ... and once more with the JSON answer: the same message. */
    j = h_connect_account(&b, &env, ch, "seed_store", &st);
    assert_int_equal(st, 200);
    assert_string_equal(h_str(j, "result"), "reconnected");
    assert_string_equal(h_str(j, "message"), "Your channel has been reconnected.");
    assert_int_equal(h_int(j, "channel.id"), ch);
    assert_string_equal(h_str(j, "channel.status"), "connected");
    cJSON_Delete(j);

    /* Same channel, same conversations, messages and analytics; no new channel. */
    assert_int_equal(channel_count(&env), 1);
    convs_after = snapshot(&env, "/api/v1/conversations", conv_drop);
    msgs_after = snapshot(&env, path, (const char *const[]){"reply_budget", NULL});
    ana_after = snapshot(&env, ana_path, NULL);
    if (strcmp(convs_after, convs_before) || strcmp(msgs_after, msgs_before) ||
        strcmp(ana_after, ana_before)) {
        fprintf(stderr, "before:\n%s\n%s\n%s\nafter:\n%s\n%s\n%s\n", convs_before, msgs_before,
                ana_before, convs_after, msgs_after, ana_after);
        fail_msg("the reconnect changed conversations, messages or analytics");
    }
    cJSON_free(convs_before);
    cJSON_free(msgs_before);
    cJSON_free(ana_before);
    cJSON_free(convs_after);
    cJSON_free(msgs_after);
    cJSON_free(ana_after);
    assert_int_equal(h_api(&env, "GET", conv_path, NULL, &j), 200);
    assert_string_equal(h_str(j, "channel_status"), "connected");
    cJSON_Delete(j);

    /* Inbound flows again, and replies go out. */
    assert_int_equal(h_customer_says(&env, &c, "Still there?", 1), 200);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_string_equal(h_str(j, "data.0.text"), "Still there?");
    cJSON_Delete(j);
    assert_int_equal(h_reply(&env, conv, "We are!", &j), 202);
    ok_id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, ok_id, "sent", 10000, NULL));

    /* The failed message can be retried: every rule is checked again, then it is sent. */
    snprintf(path, sizeof(path), "/api/v1/messages/%lld/retry", (long long)failed_id);
    assert_int_equal(h_api(&env, "POST", path, "{}", &j), 202);
    assert_string_equal(h_str(j, "message.status"), "queued");
    assert_true(h_get(j, "message.error") != NULL && cJSON_IsNull(h_get(j, "message.error")));
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, failed_id, "sent", 10000, NULL));
    assert_int_equal(h_sim_count_text(&env, &c, text), 1);
    /* A sent message cannot be retried. */
    assert_int_equal(h_api(&env, "POST", path, "{}", &j), 409);
    cJSON_Delete(j);
    h_browser_cleanup(&b);
    h_env_stop(&env);
    (void)state;
}

/* A retry re-checks the rules: after the window closed, the retry is refused. */
static void test_retry_rechecks_rules(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "retry_store", .cli_channel = true};
    struct h_customer c;
    char path[128];
    int64_t conv, id;
    cJSON *j;

    h_env_start_ex(&env, &o);
    h_customer_new(&env, "budi", "ID", &c);
    assert_int_equal(h_customer_says(&env, &c, "Hi", 1), 200);
    conv = h_conversation_id(&env, &c);
    /* TikTok refuses the send for good (40001): the message fails. */
    assert_int_equal(h_sim(&env, "POST", "/sim/faults",
                           "{\"endpoint\":\"message/send\",\"kind\":\"40001\"}", NULL),
                     200);
    assert_int_equal(h_reply(&env, conv, "Refused once", &j), 202);
    id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "failed", 10000, NULL));

    /* 49 hours later the window is closed: the retry is refused and nothing changes. */
    h_set_clock(&env, 49 * HOUR_MS);
    snprintf(path, sizeof(path), "/api/v1/messages/%lld/retry", (long long)id);
    assert_int_equal(h_api(&env, "POST", path, "{}", &j), 409);
    assert_string_equal(h_str(j, "error.code"), "window_closed");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "failed", 0, NULL));

    /* The customer writes again: now the retry goes through. */
    assert_int_equal(h_customer_says(&env, &c, "Hello again", 1), 200);
    assert_int_equal(h_api(&env, "POST", path, "{}", &j), 202);
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "sent", 10000, NULL));
    assert_int_equal(h_sim_count_text(&env, &c, "Refused once"), 1);
    h_env_stop(&env);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_through_login_page),
        cmocka_unit_test(test_connect_same_account_twice),
        cmocka_unit_test(test_account_in_two_workspaces),
        cmocka_unit_test(test_oauth_errors),
        cmocka_unit_test(test_expired_access_token_refreshed_silently),
        cmocka_unit_test(test_timer_refreshes_before_expiry),
        cmocka_unit_test(test_reconnect_story),
        cmocka_unit_test(test_retry_rechecks_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
