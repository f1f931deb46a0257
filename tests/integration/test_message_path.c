/* test_message_path.c -- a customer writes, an agent replies, TikTok has it, echo, read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static int count_direction(const cJSON *list, const char *direction)
{
    int n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, h_get(list, "data"))
    {
        if (strcmp(h_str(m, "direction"), direction) == 0)
            n++;
    }
    return n;
}

static void test_customer_to_agent_and_back(void **state)
{
    struct h_env env;
    struct h_customer cust;
    cJSON *j = NULL;
    char path[256];
    int64_t conv, msg_id;
    long st;

    h_env_start(&env, "path_shop", NULL);
    h_customer_new(&env, "alice", "SG", &cust);

    /* Delivered three times by TikTok, stored once. */
    assert_int_equal(h_customer_says(&env, &cust, "Hello, is my order shipped?", 3), 200);
    conv = h_conversation_id(&env, &cust);
    snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)conv);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_int_equal(count_direction(j, "customer"), 1);
    assert_string_equal(h_str(j, "data.0.text"), "Hello, is my order shipped?");
    assert_int_equal(h_int(j, "reply_budget.replies_left"), 10);
    cJSON_Delete(j);

    /* The agent replies: accepted, queued, then sent by the outbox. */
    st = h_reply(&env, conv, "Yes, it left the warehouse today.", &j);
    assert_int_equal(st, 202);
    assert_string_equal(h_str(j, "message.status"), "queued");
    assert_int_equal(h_int(j, "reply_budget.replies_left"), 9);
    msg_id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, msg_id, "sent", 10000, &j));
    assert_true(strlen(h_str(j, "tiktok_message_id")) > 0);
    cJSON_Delete(j);

    /* The simulator holds exactly one business message with that text. */
    assert_int_equal(h_sim_count_text(&env, &cust, "Yes, it left the warehouse today."), 1);

    /* The echo of our own send does not add a message. */
    h_sleep_ms(300);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_int_equal(count_direction(j, "business"), 1);
    assert_int_equal(count_direction(j, "customer"), 1);
    cJSON_Delete(j);

    /* The customer reads it. */
    {
        char rp[256];
        snprintf(rp, sizeof(rp), "/sim/customers/%s/read", cust.customer_id);
        assert_int_equal(h_sim(&env, "POST", rp, "{}", NULL), 200);
    }
    assert_true(h_wait_message_status(&env, msg_id, "read", 5000, NULL));

    h_env_stop(&env);
    (void)state;
}

static void test_app_echo_counts(void **state)
{
    struct h_env env;
    struct h_customer cust;
    cJSON *j = NULL;
    char path[256], body[512];
    int64_t conv;

    h_env_start(&env, "echo_shop", NULL);
    h_customer_new(&env, "bob", "SG", &cust);
    assert_int_equal(h_customer_says(&env, &cust, "hi", 1), 200);
    conv = h_conversation_id(&env, &cust);

    /* Someone answers in the TikTok app: it reaches ttdm as an echo and counts. */
    snprintf(path, sizeof(path), "/sim/accounts/%s/app_message", env.business_id);
    snprintf(body, sizeof(body), "{\"conversation_id\":\"%s\",\"text\":\"typed in the app\"}",
             cust.conversation_id);
    assert_int_equal(h_sim(&env, "POST", path, body, NULL), 200);
    snprintf(path, sizeof(path), "/api/v1/conversations/%lld", (long long)conv);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
        if (h_int(j, "reply_budget.replies_left") == 9)
            break;
        cJSON_Delete(j);
        j = NULL;
        h_sleep_ms(30);
    }
    assert_non_null(j);
    assert_int_equal(h_int(j, "reply_budget.replies_left"), 9);
    cJSON_Delete(j);

    snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)conv);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_string_equal(h_str(j, "data.0.source"), "tiktok_app");
    assert_string_equal(h_str(j, "data.0.text"), "typed in the app");
    cJSON_Delete(j);
    h_env_stop(&env);
    (void)state;
}

/* A 1x1 PNG. */
static const char PNG_B64[] = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9Q"
                              "DwADhgGAWjR9awAAAABJRU5ErkJggg==";

static void customer_sends(struct h_env *env, const struct h_customer *c, const char *body)
{
    char path[256];
    cJSON *j = NULL;
    snprintf(path, sizeof(path), "/sim/customers/%s/messages", c->customer_id);
    assert_int_equal(h_sim(env, "POST", path, body, &j), 200);
    assert_int_equal(h_int(j, "delivery_status"), 200);
    cJSON_Delete(j);
}

static void test_inbound_types(void **state)
{
    struct h_env env;
    struct h_customer cust;
    cJSON *j = NULL;
    char path[256], body[512], url[256];
    int64_t conv;

    h_env_start(&env, "types_shop", NULL);
    h_customer_new(&env, "kim", "SG", &cust);
    snprintf(body, sizeof(body), "{\"type\":\"image\",\"image_base64\":\"%s\"}", PNG_B64);
    customer_sends(&env, &cust, body);
    customer_sends(&env, &cust,
                   "{\"type\":\"share_post\",\"share_post\":{\"embed_url\":"
                   "\"https://www.tiktok.com/embed/v2/7\",\"video_id\":\"7\"}}");
    customer_sends(&env, &cust, "{\"type\":\"video\"}");
    conv = h_conversation_id(&env, &cust);

    snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)conv);
    assert_int_equal(h_api(&env, "GET", path, NULL, &j), 200);
    assert_int_equal(cJSON_GetArraySize(h_get(j, "data")), 3);
    /* Newest first: video, share_post, image. */
    assert_string_equal(h_str(j, "data.0.type"), "unsupported");
    assert_non_null(strstr(h_str(j, "data.0.unsupported_note"), "open TikTok to see it"));
    assert_string_equal(h_str(j, "data.1.type"), "share_post");
    assert_string_equal(h_str(j, "data.1.share_url"), "https://www.tiktok.com/embed/v2/7");
    assert_string_equal(h_str(j, "data.2.type"), "image");
    assert_string_equal(h_str(j, "data.2.media_type"), "image/png");
    snprintf(url, sizeof(url), "%s", h_str(j, "data.2.media_url"));
    cJSON_Delete(j);

    /* The image was fetched from TikTok and is served from ttdm's own disk. */
    {
        char full[512], auth[200];
        const char *headers[] = {auth, NULL};
        snprintf(full, sizeof(full), "%s%s", env.ttdm_url, url);
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", env.api_key);
        assert_int_equal(h_http("GET", full, headers, NULL, 0, NULL), 200);
    }
    h_env_stop(&env);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_customer_to_agent_and_back),
        cmocka_unit_test(test_app_echo_counts),
        cmocka_unit_test(test_inbound_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
