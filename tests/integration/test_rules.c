/* test_rules.c -- TikTok's rules enforced by ttdm, and by the simulator when ttdm steps aside. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define HOUR 3600000LL

/* A 1x1 PNG. */
static const char PNG_B64[] = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9Q"
                              "DwADhgGAWjR9awAAAABJRU5ErkJggg==";

static int64_t open_conversation(struct h_env *env, const char *name, const char *region,
                                 struct h_customer *c)
{
    h_customer_new(env, name, region, c);
    assert_int_equal(h_customer_says(env, c, "hello", 1), 200);
    return h_conversation_id(env, c);
}

static void test_eleventh_reply_refused_by_ttdm(void **state)
{
    struct h_env env;
    struct h_customer c;
    cJSON *j = NULL;
    int64_t conv;

    h_env_start(&env, "quota_shop", NULL);
    conv = open_conversation(&env, "dan", "SG", &c);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(h_reply(&env, conv, "reply", &j), 202);
        assert_int_equal(h_int(j, "reply_budget.replies_left"), 9 - i);
        cJSON_Delete(j);
    }
    assert_int_equal(h_reply(&env, conv, "eleventh", &j), 409);
    assert_string_equal(h_str(j, "error.code"), "reply_quota_used_up");
    assert_int_equal(h_int(j, "error.reply_budget.replies_left"), 0);
    cJSON_Delete(j);
    h_env_stop(&env);
    (void)state;
}

static void test_eleventh_reply_refused_by_tiktok(void **state)
{
    const char *const args[] = {"--enforce_rules=false", NULL};
    struct h_env env;
    struct h_customer c;
    cJSON *j = NULL;
    int64_t conv, id = 0;

    h_env_start(&env, "lenient_shop", args);
    conv = open_conversation(&env, "erin", "SG", &c);
    for (int i = 0; i < 11; i++) {
        assert_int_equal(h_reply(&env, conv, i < 10 ? "reply" : "eleventh reply", &j), 202);
        id = h_int(j, "message.id");
        cJSON_Delete(j);
        if (i < 10)
            assert_true(h_wait_message_status(&env, id, "sent", 10000, NULL));
    }
    assert_true(h_wait_message_status(&env, id, "failed", 10000, &j));
    assert_int_equal(h_int(j, "error.tiktok_code"), 40064);
    /* TikTok's own sentence reaches the agent, behind the seed's failure wording. */
    assert_non_null(strstr(h_str(j, "error.message"),
                           "Failed sending eleventh reply to customer with error: [40064] "));
    cJSON_Delete(j);
    h_env_stop(&env);
    (void)state;
}

static void test_window_closed(void **state)
{
    struct h_env env;
    struct h_customer c;
    cJSON *j = NULL;
    int64_t conv;

    h_env_start(&env, "window_shop", NULL);
    conv = open_conversation(&env, "fay", "SG", &c);
    h_set_clock(&env, 48 * HOUR + 1000);
    assert_int_equal(h_reply(&env, conv, "late", &j), 409);
    assert_string_equal(h_str(j, "error.code"), "window_closed");
    cJSON_Delete(j);
    h_env_stop(&env);
    (void)state;
}

static void test_daily_limit(void **state)
{
    struct h_env env;
    struct h_customer c[101];
    int64_t conv[101];
    cJSON *j = NULL;
    char name[32];

    h_env_start(&env, "busy_shop", NULL);
    /* The 101 conversations are counted per UTC day: all of them must fall on one. */
    h_stay_on_one_day(&env, 5 * 60 * 1000);
    for (int i = 0; i < 101; i++) {
        snprintf(name, sizeof(name), "cust%03d", i);
        conv[i] = open_conversation(&env, name, "SG", &c[i]);
    }
    for (int i = 0; i < 100; i++) {
        assert_int_equal(h_reply(&env, conv[i], "thanks for writing", &j), 202);
        cJSON_Delete(j);
    }
    /* The 101st distinct conversation of the day is refused with TikTok's words. */
    assert_int_equal(h_reply(&env, conv[100], "and you?", &j), 429);
    assert_string_equal(h_str(j, "error.code"), "daily_conversation_limit");
    assert_int_equal(h_int(j, "error.tiktok_code"), 40064);
    assert_non_null(strstr(h_str(j, "error.message"),
                           "[40064] You are sending messages too fast. Take a rest."));
    assert_int_equal(h_int(j, "error.reply_budget.daily_conversations_used"), 100);
    cJSON_Delete(j);
    /* A conversation already counted today may still get replies. */
    assert_int_equal(h_reply(&env, conv[0], "one more thing", &j), 202);
    cJSON_Delete(j);
    h_env_stop(&env);
    (void)state;
}

static long send_image(struct h_env *env, int64_t conv, cJSON **j)
{
    char path[128], body[512];
    snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)conv);
    snprintf(body, sizeof(body), "{\"image\":{\"base64\":\"%s\"}}", PNG_B64);
    return h_api(env, "POST", path, body, j);
}

static void test_images_and_regions(void **state)
{
    struct h_env env;
    struct h_customer jp, sg;
    cJSON *j = NULL;
    int64_t conv_jp, conv_sg, id;

    h_env_start(&env, "image_shop", NULL);
    conv_jp = open_conversation(&env, "gen", "JP", &jp);
    conv_sg = open_conversation(&env, "hui", "SG", &sg);

    assert_int_equal(send_image(&env, conv_jp, &j), 422);
    assert_string_equal(h_str(j, "error.code"), "image_region_customer");
    assert_string_equal(h_str(j, "error.region"), "JP");
    assert_non_null(strstr(h_str(j, "error.message"), "JP"));
    cJSON_Delete(j);

    assert_int_equal(send_image(&env, conv_sg, &j), 202);
    assert_string_equal(h_str(j, "message.type"), "image");
    id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "sent", 10000, NULL));

    /* Text and image together are refused before anything is stored. */
    {
        char path[128], body[512];
        snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)conv_sg);
        snprintf(body, sizeof(body), "{\"text\":\"look\",\"image\":{\"base64\":\"%s\"}}", PNG_B64);
        assert_int_equal(h_api(&env, "POST", path, body, &j), 422);
        assert_string_equal(h_str(j, "error.code"), "text_with_image");
        cJSON_Delete(j);
    }
    h_env_stop(&env);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eleventh_reply_refused_by_ttdm),
        cmocka_unit_test(test_eleventh_reply_refused_by_tiktok),
        cmocka_unit_test(test_window_closed),
        cmocka_unit_test(test_daily_limit),
        cmocka_unit_test(test_images_and_regions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
