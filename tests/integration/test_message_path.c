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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_customer_to_agent_and_back),
        cmocka_unit_test(test_app_echo_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
