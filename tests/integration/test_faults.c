/* test_faults.c -- transient TikTok failures: the message is still sent, and only once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static void send_through_fault(const char *fault, const char *text, int min_attempts)
{
    struct h_env env;
    struct h_customer c;
    cJSON *j = NULL;
    int64_t conv, id;

    h_env_start(&env, "faulty_shop", NULL);
    h_customer_new(&env, "ivan", "SG", &c);
    assert_int_equal(h_customer_says(&env, &c, "hello", 1), 200);
    conv = h_conversation_id(&env, &c);
    assert_int_equal(h_sim(&env, "POST", "/sim/faults", fault, NULL), 200);
    assert_int_equal(h_reply(&env, conv, text, &j), 202);
    id = h_int(j, "message.id");
    cJSON_Delete(j);
    assert_true(h_wait_message_status(&env, id, "sent", 20000, &j));
    assert_true(h_int(j, "attempts") >= min_attempts);
    cJSON_Delete(j);
    assert_int_equal(h_sim_count_text(&env, &c, text), 1);
    h_env_stop(&env);
}

static void test_server_errors_retried(void **state)
{
    send_through_fault("{\"endpoint\":\"message/send\",\"kind\":\"http_500\",\"count\":2}",
                       "after two 500s", 3);
    (void)state;
}

static void test_system_error_retried(void **state)
{
    send_through_fault("{\"endpoint\":\"message/send\",\"kind\":\"51065\",\"count\":1}",
                       "after a 51065", 2);
    (void)state;
}

static void test_timeout_retried(void **state)
{
    send_through_fault(
        "{\"endpoint\":\"message/send\",\"kind\":\"timeout\",\"count\":1,\"delay_ms\":3000}",
        "after a timeout", 2);
    (void)state;
}

/*
 * TikTok fails every first attempt while more conversations wait than the outbox sends at
 * once: the failed sends hold their conversations until a worker has scheduled their retry,
 * the outbox takes no more than it has room for, and every reply is sent once in the end.
 */
static void test_outage_with_many_conversations(void **state)
{
    enum { CONVS = 12 };
    const char *const args[] = {"--outbox_inflight=3", "--outbox_workers=1",
                                "--outbox_retry_base_ms=50", NULL};
    struct h_env env;
    struct h_customer c[CONVS];
    int64_t ids[CONVS];
    cJSON *j = NULL;

    h_env_start(&env, "outage_shop", args);
    for (int i = 0; i < CONVS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cust%d", i);
        h_customer_new(&env, name, "SG", &c[i]);
        assert_int_equal(h_customer_says(&env, &c[i], "hello", 1), 200);
    }
    assert_int_equal(h_sim(&env, "POST", "/sim/faults",
                           "{\"endpoint\":\"message/send\",\"kind\":\"http_500\",\"count\":12}",
                           NULL),
                     200);
    for (int i = 0; i < CONVS; i++) {
        assert_int_equal(h_reply(&env, h_conversation_id(&env, &c[i]), "back soon", &j), 202);
        ids[i] = h_int(j, "message.id");
        cJSON_Delete(j);
    }
    for (int i = 0; i < CONVS; i++) {
        assert_true(h_wait_message_status(&env, ids[i], "sent", 20000, NULL));
        assert_int_equal(h_sim_count_text(&env, &c[i], "back soon"), 1);
    }
    h_env_stop(&env);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_errors_retried),
        cmocka_unit_test(test_system_error_retried),
        cmocka_unit_test(test_timeout_retried),
        cmocka_unit_test(test_outage_with_many_conversations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
