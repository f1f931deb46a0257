/* test_faults.c -- transient TikTok failures: the message is still sent, and only once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static int sim_copies(struct h_env *env, const struct h_customer *c, const char *text)
{
    char path[256], enc[200];
    size_t w = 0;
    int n = 0;
    cJSON *j = NULL;
    const cJSON *m;
    for (const char *p = c->conversation_id; *p && w < sizeof(enc) - 4; p++) {
        if (*p == '+') {
            memcpy(enc + w, "%2B", 3);
            w += 3;
        } else {
            enc[w++] = *p;
        }
    }
    enc[w] = '\0';
    snprintf(path, sizeof(path), "/sim/conversations/%s/messages", enc);
    assert_int_equal(h_sim(env, "GET", path, NULL, &j), 200);
    cJSON_ArrayForEach(m, h_get(j, "messages"))
    {
        const cJSON *t = h_get(m, "text");
        if (cJSON_IsString(t) && strcmp(t->valuestring, text) == 0)
            n++;
    }
    cJSON_Delete(j);
    return n;
}

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
    assert_int_equal(sim_copies(&env, &c, text), 1);
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
