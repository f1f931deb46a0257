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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_errors_retried),
        cmocka_unit_test(test_system_error_retried),
        cmocka_unit_test(test_timeout_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
