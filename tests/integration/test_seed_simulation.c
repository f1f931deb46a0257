/* test_seed_simulation.c -- the seed's 60-hour story replayed end to end with moved clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define HOUR 3600000LL

struct story {
    struct h_env env;
    struct h_customer cust;
    int64_t conv;
    int64_t last_cm_ts;
};

static void at_hour(struct story *s, int h)
{
    h_set_clock(&s->env, h * HOUR);
}

static void customer_writes(struct story *s, const char *text)
{
    char path[256];
    cJSON *j = NULL;
    snprintf(path, sizeof(path), "/sim/customers/%s/messages", s->cust.customer_id);
    {
        char body[256];
        snprintf(body, sizeof(body), "{\"type\":\"text\",\"text\":\"%s\"}", text);
        assert_int_equal(h_sim(&s->env, "POST", path, body, &j), 200);
    }
    assert_int_equal(h_int(j, "delivery_status"), 200);
    s->last_cm_ts = h_int(j, "timestamp_ms");
    cJSON_Delete(j);
    s->conv = h_conversation_id(&s->env, &s->cust);
}

static void business_replies(struct story *s, int n)
{
    for (int i = 0; i < n; i++) {
        cJSON *j = NULL;
        int64_t id;
        assert_int_equal(h_reply(&s->env, s->conv, "on it", &j), 202);
        id = h_int(j, "message.id");
        cJSON_Delete(j);
        /* Sent before the clock moves on, so TikTok judges it at the same hour. */
        assert_true(h_wait_message_status(&s->env, id, "sent", 10000, NULL));
    }
}

/* Checks the budget ttdm reports: replies left and the hour the window closes. */
static void expect(struct story *s, int replies_left, int closes_hour_after_cm)
{
    char path[128];
    cJSON *j = NULL;
    snprintf(path, sizeof(path), "/api/v1/conversations/%lld", (long long)s->conv);
    assert_int_equal(h_api(&s->env, "GET", path, NULL, &j), 200);
    assert_int_equal(h_int(j, "reply_budget.replies_left"), replies_left);
    assert_int_equal(h_int(j, "reply_budget.window_closes_at"),
                     s->last_cm_ts + closes_hour_after_cm * HOUR);
    assert_true(cJSON_IsTrue(h_get(j, "reply_budget.may_send")));
    cJSON_Delete(j);
}

static void test_seed_story(void **state)
{
    struct story s;
    cJSON *j = NULL;
    int64_t h1_ts, h8_ts;

    memset(&s, 0, sizeof(s));
    h_env_start(&s.env, "seed_shop", NULL);
    h_customer_new(&s.env, "carol", "ID", &s.cust);

    at_hour(&s, 1);
    customer_writes(&s, "CM1");
    h1_ts = s.last_cm_ts;
    expect(&s, 10, 48); /* closes at H49 */

    at_hour(&s, 2);
    business_replies(&s, 3);
    expect(&s, 7, 48);

    at_hour(&s, 4);
    business_replies(&s, 1);
    expect(&s, 6, 48);
    assert_int_equal(s.last_cm_ts, h1_ts);

    at_hour(&s, 7);
    customer_writes(&s, "CM2");
    expect(&s, 10, 48); /* H55 */

    at_hour(&s, 8);
    customer_writes(&s, "CM3");
    h8_ts = s.last_cm_ts;
    expect(&s, 10, 48); /* H56 */

    at_hour(&s, 10);
    business_replies(&s, 1);
    expect(&s, 9, 48);

    at_hour(&s, 39);
    business_replies(&s, 1);
    expect(&s, 8, 48);

    /* H56: 48 hours after CM3 the window is closed and sending is refused. */
    at_hour(&s, 56);
    assert_int_equal(h_reply(&s.env, s.conv, "too late", &j), 409);
    assert_string_equal(h_str(j, "error.code"), "window_closed");
    assert_int_equal(h_int(j, "error.reply_budget.window_closes_at"), h8_ts + 48 * HOUR);
    assert_int_equal(h_int(j, "error.reply_budget.replies_left"), 0);
    cJSON_Delete(j);

    /* H60: CM4 reopens the window with a fresh quota until H108. */
    at_hour(&s, 60);
    customer_writes(&s, "CM4");
    expect(&s, 10, 48);
    business_replies(&s, 1);
    expect(&s, 9, 48);

    h_env_stop(&s.env);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_story),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
