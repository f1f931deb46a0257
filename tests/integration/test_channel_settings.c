/* test_channel_settings.c -- per-channel settings end to end: the auto-responder once per
 * window, the badge icon (PNG, SVG with a script, a renamed program), and analytics that
 * match the events sent. */
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

#define HOUR_MS INT64_C(3600000)
#define AUTO_TEXT "Thanks for writing to us! An agent will answer shortly."

static long patch_channel(struct h_env *env, int64_t id, const char *body, cJSON **json)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/channels/%lld", (long long)id);
    return h_api(env, "PATCH", path, body, json);
}

/* Polls the simulator until it holds `want` messages with `text` (up to 5 s). */
static int wait_sim_count(struct h_env *env, const struct h_customer *c, const char *text, int want)
{
    int n = 0;
    for (int i = 0; i < 250; i++) {
        n = h_sim_count_text(env, c, text);
        if (n >= want)
            break;
        h_sleep_ms(20);
    }
    return n;
}

/* ---- Auto-responder ------------------------------------------------------------------------ */

static void test_auto_responder_once_per_window(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "auto_store", .cli_channel = true};
    struct h_customer c;
    char path[128];
    int64_t conv;
    cJSON *j;

    h_env_start_ex(&env, &o);
    /* Settings are checked: turning it on without a text, a text TikTok would refuse. */
    assert_int_equal(
        patch_channel(&env, env.channel_id, "{\"auto_responder\":{\"enabled\":true}}", &j), 422);
    assert_string_equal(h_str(j, "error.code"), "text_empty");
    cJSON_Delete(j);
    assert_int_equal(
        patch_channel(&env, env.channel_id, "{\"auto_responder\":{\"text\":\"   \"}}", &j), 422);
    cJSON_Delete(j);
    assert_int_equal(
        patch_channel(&env, env.channel_id,
                      "{\"auto_responder\":{\"enabled\":true,\"text\":\"" AUTO_TEXT "\"}}", &j),
        200);
    assert_true(cJSON_IsTrue(h_get(j, "auto_responder.enabled")));
    assert_string_equal(h_str(j, "auto_responder.text"), AUTO_TEXT);
    cJSON_Delete(j);

    /* A new window: the first message gets the auto-response, the next ones do not. */
    h_customer_new(&env, "sari", "ID", &c);
    assert_int_equal(h_customer_says(&env, &c, "Hello?", 1), 200);
    assert_int_equal(h_customer_says(&env, &c, "Anyone there?", 1), 200);
    assert_int_equal(h_customer_says(&env, &c, "I want the blue one", 2), 200);
    assert_int_equal(wait_sim_count(&env, &c, AUTO_TEXT, 1), 1);
    h_sleep_ms(300);
    assert_int_equal(h_sim_count_text(&env, &c, AUTO_TEXT), 1);

    /* It counts like any business message, and shows as the auto-responder's. */
    conv = h_conversation_id(&env, &c);
    snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)conv);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    {
        int autos = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, h_get(j, "data"))
        {
            if (strcmp(h_str(m, "source"), "auto_responder") == 0) {
                autos++;
                assert_string_equal(h_str(m, "text"), AUTO_TEXT);
            }
        }
        assert_int_equal(autos, 1);
    }
    cJSON_Delete(j);

    /* 49 hours later the window has closed: the next message opens a new one. */
    h_set_clock(&env, 49 * HOUR_MS);
    assert_int_equal(h_customer_says(&env, &c, "Back again", 1), 200);
    assert_int_equal(wait_sim_count(&env, &c, AUTO_TEXT, 2), 2);
    assert_int_equal(h_customer_says(&env, &c, "Still me", 1), 200);
    h_sleep_ms(300);
    assert_int_equal(h_sim_count_text(&env, &c, AUTO_TEXT), 2);
    snprintf(path, sizeof(path), "/api/v1/conversations/%lld", (long long)conv);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_int_equal(h_int(j, "reply_budget.replies_left"), 10); /* reset by "Still me" */
    cJSON_Delete(j);

    /* Turned off: a new customer gets nothing. */
    assert_int_equal(
        patch_channel(&env, env.channel_id, "{\"auto_responder\":{\"enabled\":false}}", &j), 200);
    assert_string_equal(h_str(j, "auto_responder.text"), AUTO_TEXT); /* the text is kept */
    cJSON_Delete(j);
    {
        struct h_customer d;
        h_customer_new(&env, "dani", "SG", &d);
        assert_int_equal(h_customer_says(&env, &d, "Hi", 1), 200);
        h_sleep_ms(300);
        assert_int_equal(h_sim_count_text(&env, &d, AUTO_TEXT), 0);
    }
    h_env_stop(&env);
    (void)state;
}

/* A refused auto-response is skipped and recorded, never retried. */
static void test_auto_responder_skipped_when_refused(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "skip_store", .cli_channel = true};
    struct h_customer c, d;
    char path[256];
    int64_t conv, id;
    cJSON *j;

    h_env_start_ex(&env, &o);
    assert_int_equal(
        patch_channel(&env, env.channel_id,
                      "{\"auto_responder\":{\"enabled\":true,\"text\":\"" AUTO_TEXT "\"}}", NULL),
        200);
    h_customer_new(&env, "gita", "ID", &c);
    assert_int_equal(h_customer_says(&env, &c, "Hello", 1), 200);
    assert_int_equal(wait_sim_count(&env, &c, AUTO_TEXT, 1), 1);
    conv = h_conversation_id(&env, &c);

    /* The channel (connected with a bare access token) loses its token: reconnect required. */
    snprintf(path, sizeof(path), "/sim/accounts/%s/expire_token", env.business_id);
    assert_int_equal(h_sim(&env, "POST", path, "{\"which\":\"access\"}", NULL), 200);
    assert_int_equal(h_reply(&env, conv, "This one fails", &j), 202);
    id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "failed", 10000, NULL));

    /* A new customer opens a window: the auto-response is refused, recorded, not sent. */
    h_customer_new(&env, "hana", "ID", &d);
    assert_int_equal(h_customer_says(&env, &d, "Hi!", 1), 200);
    h_sleep_ms(400);
    assert_int_equal(h_sim_count_text(&env, &d, AUTO_TEXT), 0);
    snprintf(path, sizeof(path), "/api/v1/channels/%lld/analytics", (long long)env.channel_id);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_int_equal(h_int(j, "totals.auto_responder_skipped.reconnect_required"), 1);
    assert_int_equal(h_int(j, "totals.business_messages.auto_responder"), 1);
    cJSON_Delete(j);
    h_env_stop(&env);
    (void)state;
}

/* ---- Badge icon ---------------------------------------------------------------------------- */

/* The smallest PNG: 1x1, one transparent pixel. */
static const unsigned char png_1x1[] = {
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82};

static const char svg_with_script[] =
    "<?xml version=\"1.0\"?>\n<!-- badge -->\n"
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"16\" height=\"16\">"
    "<script>fetch('/api/v1/users').then(r => r.text()).then(alert)</script>"
    "<circle cx=\"8\" cy=\"8\" r=\"7\" fill=\"#fe2c55\" onload=\"alert(1)\"/></svg>\n";

/* An ELF program's first bytes, sent as if it were a PNG. */
static const unsigned char elf_program[] = {0x7F, 'E', 'L', 'F', 2, 1, 1,    0, 0, 0, 0, 0,
                                            0,    0,   0,   0,   2, 0, 0x3E, 0, 1, 0, 0, 0};

static long put_badge(struct h_env *env, int64_t channel, const void *data, size_t len,
                      const char *type, struct h_resp *r)
{
    struct h_browser b;
    char url[256], auth[200], ct[96];
    const char *headers[] = {auth, ct, NULL};
    long st;

    h_browser_init(&b);
    snprintf(url, sizeof(url), "%s/api/v1/channels/%lld/badge", env->ttdm_url, (long long)channel);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", env->api_key);
    snprintf(ct, sizeof(ct), "Content-Type: %s", type);
    st = h_browser_do(&b, "PUT", url, headers, data, len, r);
    h_browser_cleanup(&b);
    return st;
}

static long get_badge(struct h_env *env, int64_t channel, struct h_resp *r)
{
    struct h_browser b;
    char url[256], auth[200];
    const char *headers[] = {auth, NULL};
    long st;

    h_browser_init(&b);
    snprintf(url, sizeof(url), "%s/api/v1/channels/%lld/badge", env->ttdm_url, (long long)channel);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", env->api_key);
    st = h_browser_do(&b, "GET", url, headers, NULL, 0, r);
    h_browser_cleanup(&b);
    return st;
}

static void test_badge_icon(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "badge_store", .cli_channel = true};
    struct h_customer c;
    struct h_resp r;
    char value[512], badge_url[256];
    int64_t conv;
    cJSON *j;

    h_env_start_ex(&env, &o);

    /* A PNG: accepted, served back with its type and nosniff. */
    assert_int_equal(put_badge(&env, env.channel_id, png_1x1, sizeof(png_1x1), "image/png", &r),
                     200);
    j = h_resp_json(&r);
    snprintf(badge_url, sizeof(badge_url), "%s", h_str(j, "badge_url"));
    assert_true(strncmp(badge_url, "/api/v1/channels/", 17) == 0);
    cJSON_Delete(j);
    h_resp_cleanup(&r);
    assert_int_equal(get_badge(&env, env.channel_id, &r), 200);
    assert_int_equal(r.body_len, sizeof(png_1x1));
    assert_memory_equal(r.body, png_1x1, sizeof(png_1x1));
    assert_true(h_resp_header(&r, "Content-Type", value, sizeof(value)));
    assert_string_equal(value, "image/png");
    assert_true(h_resp_header(&r, "X-Content-Type-Options", value, sizeof(value)));
    assert_string_equal(value, "nosniff");
    h_resp_cleanup(&r);

    /* Shown in every conversation of the channel. */
    h_customer_new(&env, "indra", "ID", &c);
    assert_int_equal(h_customer_says(&env, &c, "Hi", 1), 200);
    conv = h_conversation_id(&env, &c);
    {
        char path[96];
        snprintf(path, sizeof(path), "/api/v1/conversations/%lld", (long long)conv);
        assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
        assert_string_equal(h_str(j, "channel.badge_url"), badge_url);
        assert_string_equal(h_str(j, "channel.username"), "badge_store");
        cJSON_Delete(j);
        assert_int_equal(h_api(&env, "GET", "/api/v1/conversations", NULL, &j), 200);
        assert_string_equal(h_str(j, "data.0.channel.badge_url"), badge_url);
        cJSON_Delete(j);
    }

    /* An SVG with a script inside: stored, but served so that nothing in it can run. */
    assert_int_equal(put_badge(&env, env.channel_id, svg_with_script, strlen(svg_with_script),
                               "image/svg+xml", &r),
                     200);
    j = h_resp_json(&r);
    assert_string_not_equal(h_str(j, "badge_url"), badge_url); /* a new version */
    cJSON_Delete(j);
    h_resp_cleanup(&r);
    assert_int_equal(get_badge(&env, env.channel_id, &r), 200);
    assert_true(h_resp_header(&r, "Content-Type", value, sizeof(value)));
    assert_string_equal(value, "image/svg+xml");
    assert_true(h_resp_header(&r, "X-Content-Type-Options", value, sizeof(value)));
    assert_string_equal(value, "nosniff");
    assert_true(h_resp_header(&r, "Content-Security-Policy", value, sizeof(value)));
    assert_non_null(strstr(value, "default-src 'none'"));
    assert_non_null(strstr(value, "sandbox"));
    assert_null(strstr(value, "script-src"));
    assert_null(strstr(value, "unsafe-eval"));
    h_resp_cleanup(&r);

    /* A renamed program, sent as a PNG: refused by its content. The badge stays the SVG. */
    assert_int_equal(
        put_badge(&env, env.channel_id, elf_program, sizeof(elf_program), "image/png", &r), 422);
    j = h_resp_json(&r);
    assert_string_equal(h_str(j, "error.code"), "badge_format");
    cJSON_Delete(j);
    h_resp_cleanup(&r);
    /* An HTML page is no SVG either. */
    assert_int_equal(put_badge(&env, env.channel_id, "<html><script>alert(1)</script></html>", 0,
                               "image/svg+xml", &r),
                     422);
    h_resp_cleanup(&r);
    /* Larger than 256 KB. */
    {
        size_t big = 256 * 1024 + 1;
        unsigned char *data = calloc(1, big);
        memcpy(data, png_1x1, sizeof(png_1x1));
        assert_int_equal(put_badge(&env, env.channel_id, data, big, "image/png", &r), 422);
        free(data);
        j = h_resp_json(&r);
        assert_string_equal(h_str(j, "error.code"), "badge_too_large");
        cJSON_Delete(j);
        h_resp_cleanup(&r);
    }
    /* Not an image type at all. */
    assert_int_equal(put_badge(&env, env.channel_id, "{}", 2, "application/json", &r), 415);
    h_resp_cleanup(&r);
    assert_int_equal(get_badge(&env, env.channel_id, &r), 200);
    assert_true(h_resp_header(&r, "Content-Type", value, sizeof(value)));
    assert_string_equal(value, "image/svg+xml");
    h_resp_cleanup(&r);

    /* Removed: the conversations show no badge. */
    {
        char path[96];
        snprintf(path, sizeof(path), "/api/v1/channels/%lld/badge", (long long)env.channel_id);
        assert_int_equal(h_api(&env, "DELETE", path, NULL, &j), 200);
        assert_true(cJSON_IsNull(h_get(j, "badge_url")));
        cJSON_Delete(j);
        assert_int_equal(get_badge(&env, env.channel_id, &r), 404);
        h_resp_cleanup(&r);
    }
    h_env_stop(&env);
    (void)state;
}

/* ---- Daily limit, region and origin --------------------------------------------------------- */

static void test_limit_region_origin(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "limit_store", .cli_channel = true};
    cJSON *j;

    h_env_start_ex(&env, &o);
    assert_int_equal(patch_channel(&env, env.channel_id, "{\"daily_conversation_limit\":99}", &j),
                     400);
    cJSON_Delete(j);
    assert_int_equal(patch_channel(&env, env.channel_id, "{\"daily_conversation_limit\":201}", &j),
                     400);
    cJSON_Delete(j);
    assert_int_equal(patch_channel(&env, env.channel_id, "{\"region\":\"Japan\"}", &j), 400);
    cJSON_Delete(j);
    assert_int_equal(patch_channel(&env, env.channel_id, "{\"account_origin\":\"moon\"}", &j), 400);
    cJSON_Delete(j);
    assert_int_equal(patch_channel(&env, env.channel_id, "{\"colour\":\"red\"}", &j), 400);
    cJSON_Delete(j);
    assert_int_equal(patch_channel(&env, env.channel_id,
                                   "{\"daily_conversation_limit\":150,\"region\":\"jp\","
                                   "\"account_origin\":\"web\"}",
                                   &j),
                     200);
    assert_int_equal(h_int(j, "daily_conversation_limit"), 150);
    assert_string_equal(h_str(j, "region"), "JP");
    assert_string_equal(h_str(j, "region_source"), "admin");
    assert_string_equal(h_str(j, "account_origin"), "web");
    cJSON_Delete(j);

    /* The budget of every conversation uses the new limit; images follow the new region. */
    {
        struct h_customer c;
        char path[96];
        int64_t conv;
        h_customer_new(&env, "kenji", "SG", &c);
        assert_int_equal(h_customer_says(&env, &c, "Hello", 1), 200);
        conv = h_conversation_id(&env, &c);
        snprintf(path, sizeof(path), "/api/v1/conversations/%lld", (long long)conv);
        assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
        assert_int_equal(h_int(j, "reply_budget.daily_conversation_limit"), 150);
        cJSON_Delete(j);
        snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)conv);
        assert_int_equal(h_api(&env, "POST", path, "{\"image\":{\"base64\":\"iVBORw0KGgo=\"}}", &j),
                         422);
        assert_string_equal(h_str(j, "error.code"), "image_region_business");
        cJSON_Delete(j);
    }
    h_env_stop(&env);
    (void)state;
}

/* ---- Analytics ----------------------------------------------------------------------------- */

static void test_analytics_match_events(void **state)
{
    struct h_env env;
    struct h_env_opts o = {.username = "stats_store", .cli_channel = true};
    struct h_customer a, b;
    char path[256];
    int64_t conv_a, conv_b, id, replies[9], day;
    cJSON *j;

    h_env_start_ex(&env, &o);
    /* Both conversations must open on the same UTC day, minutes apart on the clock. */
    day = h_stay_on_one_day(&env, 10 * 60 * 1000);
    h_customer_new(&env, "lia", "ID", &a);
    h_customer_new(&env, "max", "SG", &b);

    /* Customer a writes twice; the agent answers a minute later. */
    assert_int_equal(h_customer_says(&env, &a, "Hi", 1), 200);
    assert_int_equal(h_customer_says(&env, &a, "Price?", 1), 200);
    conv_a = h_conversation_id(&env, &a);
    h_set_clock(&env, day + 60 * 1000);
    assert_int_equal(h_reply(&env, conv_a, "It is 10 dollars", &j), 202);
    id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "sent", 10000, NULL));

    /* Customer b writes; the answer comes three minutes later, from the TikTok app. */
    assert_int_equal(h_customer_says(&env, &b, "Hello", 1), 200);
    conv_b = h_conversation_id(&env, &b);
    h_set_clock(&env, day + 4 * 60 * 1000);
    {
        char body[256];
        snprintf(path, sizeof(path), "/sim/accounts/%s/app_message", env.business_id);
        snprintf(body, sizeof(body), "{\"conversation_id\":\"%s\",\"text\":\"From the app\"}",
                 b.conversation_id);
        assert_int_equal(h_sim(&env, "POST", path, body, NULL), 200);
    }

    /* Refusals by rule: empty text (R5) and a conversation that never wrote is impossible
     * here, so the 11th reply (R3). */
    assert_int_equal(h_reply(&env, conv_b, "   ", &j), 422);
    cJSON_Delete(j);
    for (int i = 0; i < 9; i++) {
        char text[32];
        snprintf(text, sizeof(text), "reply %d", i);
        assert_int_equal(h_reply(&env, conv_b, text, &j), 202);
        replies[i] = h_int(j, "message.id");
        cJSON_Delete(j);
        /* One at a time: the count must not depend on how echoes and sends interleave. */
        assert_true(h_wait_message_status(&env, replies[i], "sent", 10000, NULL));
    }
    assert_int_equal(h_reply(&env, conv_b, "one too many", &j), 409);
    assert_string_equal(h_str(j, "error.code"), "reply_quota_used_up");
    cJSON_Delete(j);

    /* A TikTok error: the next send is refused for good with 40001. */
    assert_int_equal(h_sim(&env, "POST", "/sim/faults",
                           "{\"endpoint\":\"message/send\",\"kind\":\"40001\"}", NULL),
                     200);
    assert_int_equal(h_reply(&env, conv_a, "Refused by TikTok", &j), 202);
    id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "failed", 10000, NULL));

    snprintf(path, sizeof(path), "/api/v1/channels/%lld/analytics", (long long)env.channel_id);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_int_equal(cJSON_GetArraySize(h_get(j, "days")), 30);
    assert_int_equal(h_int(j, "totals.new_conversations"), 2);
    assert_int_equal(h_int(j, "totals.customer_messages"), 3);
    assert_int_equal(h_int(j, "totals.business_messages.agent"), 10);
    assert_int_equal(h_int(j, "totals.business_messages.tiktok_app"), 1);
    assert_int_equal(h_int(j, "totals.business_messages.auto_responder"), 0);
    assert_int_equal(h_int(j, "totals.business_messages.total"), 11);
    assert_int_equal(h_int(j, "totals.refused.text_empty"), 1);
    assert_int_equal(h_int(j, "totals.refused.reply_quota_used_up"), 1);
    assert_int_equal(h_int(j, "totals.tiktok_errors.40001"), 1);
    assert_int_equal(h_int(j, "totals.daily_conversations_used_max"), 2);
    /* Two waits: about 60 s (a) and 180 s (b); the second message of a waited already. */
    assert_int_equal(h_int(j, "totals.first_response_ms.count"), 2);
    {
        int64_t median = h_int(j, "totals.first_response_ms.median");
        int64_t p90 = h_int(j, "totals.first_response_ms.p90");
        assert_true(median >= 120000 - 2000 && median <= 120000 + 4000);
        assert_true(p90 >= 168000 - 2000 && p90 <= 168000 + 4000);
    }
    cJSON_Delete(j);

    /* A range in the past is empty; malformed ranges are refused. */
    snprintf(path, sizeof(path), "/api/v1/channels/%lld/analytics?from=2020-01-01&to=2020-01-31",
             (long long)env.channel_id);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_int_equal(cJSON_GetArraySize(h_get(j, "days")), 31);
    assert_string_equal(h_str(j, "days.0.date"), "2020-01-01");
    assert_int_equal(h_int(j, "totals.customer_messages"), 0);
    assert_true(cJSON_IsNull(h_get(j, "totals.first_response_ms.median")));
    cJSON_Delete(j);
    snprintf(path, sizeof(path), "/api/v1/channels/%lld/analytics?from=2020-02-30",
             (long long)env.channel_id);
    assert_int_equal(h_api(&env, "GET", path, NULL, NULL), 400);
    snprintf(path, sizeof(path), "/api/v1/channels/%lld/analytics?from=2020-01-01&to=2021-12-31",
             (long long)env.channel_id);
    assert_int_equal(h_api(&env, "GET", path, NULL, NULL), 400);
    h_env_stop(&env);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_responder_once_per_window),
        cmocka_unit_test(test_auto_responder_skipped_when_refused),
        cmocka_unit_test(test_badge_icon),
        cmocka_unit_test(test_limit_region_origin),
        cmocka_unit_test(test_analytics_match_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
