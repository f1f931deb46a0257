/* test_message_path.c -- a customer writes, an agent replies, TikTok has it, echo, read. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "util/httpc.h"
#include "util/str.h"

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

/* The business texts the simulator holds for a customer, in the order TikTok took them. */
static int sim_business_texts(struct h_env *env, const struct h_customer *c, char texts[][32],
                              int max)
{
    char path[512], enc[400];
    cJSON *j = NULL;
    const cJSON *m;
    int n = 0;

    assert_int_equal(ttdm_url_encode(c->conversation_id, enc, sizeof(enc)), 0);
    snprintf(path, sizeof(path), "/sim/conversations/%s/messages", enc);
    assert_int_equal(h_sim(env, "GET", path, NULL, &j), 200);
    cJSON_ArrayForEach(m, h_get(j, "messages"))
    {
        const cJSON *t = h_get(m, "text");
        if (n < max && cJSON_IsString(t) && strncmp(t->valuestring, "Reply ", 6) == 0)
            snprintf(texts[n++], 32, "%s", t->valuestring);
    }
    cJSON_Delete(j);
    return n;
}

/*
 * Replies posted one after the other reach TikTok in that order, although the outbox has
 * many senders: two conversations at once, eight replies each, and TikTok slow to take the
 * very first one (the others queue behind it instead of overtaking it).
 */
static void test_replies_keep_their_order(void **state)
{
    struct h_env env;
    struct h_customer cust[2];
    int64_t conv[2], last[2] = {0, 0};
    char texts[16][32], want[32];
    cJSON *j = NULL;

    h_env_start(&env, "order_shop", NULL);
    h_customer_new(&env, "olga", "SG", &cust[0]);
    h_customer_new(&env, "omar", "SG", &cust[1]);
    for (int c = 0; c < 2; c++) {
        assert_int_equal(h_customer_says(&env, &cust[c], "Hi", 1), 200);
        conv[c] = h_conversation_id(&env, &cust[c]);
    }
    assert_int_equal(h_sim(&env, "POST", "/sim/faults",
                           "{\"endpoint\":\"message/send\",\"kind\":\"delay\",\"count\":1,"
                           "\"delay_ms\":400}",
                           NULL),
                     200);
    for (int i = 1; i <= 8; i++) {
        for (int c = 0; c < 2; c++) {
            snprintf(want, sizeof(want), "Reply %d", i);
            assert_int_equal(h_reply(&env, conv[c], want, &j), 202);
            last[c] = h_int(j, "message.id");
            cJSON_Delete(j);
        }
    }
    for (int c = 0; c < 2; c++) {
        assert_true(h_wait_message_status(&env, last[c], "sent", 10000, NULL));
        assert_int_equal(sim_business_texts(&env, &cust[c], texts, 16), 8);
        for (int i = 0; i < 8; i++) {
            snprintf(want, sizeof(want), "Reply %d", i + 1);
            assert_string_equal(texts[i], want);
        }
    }
    h_env_stop(&env);
    (void)state;
}

/* A reply with an Idempotency-Key, as the API answers it on its event thread. */
static long reply_once(struct h_env *env, int64_t conv, const char *key, const char *text,
                       cJSON **json)
{
    char url[256], auth[256], idem[160], body[256];
    const char *headers[] = {auth, idem, "Content-Type: application/json", NULL};

    snprintf(url, sizeof(url), "%s/api/v1/conversations/%lld/messages", env->ttdm_url,
             (long long)conv);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", env->api_key);
    snprintf(idem, sizeof(idem), "Idempotency-Key: %s", key);
    snprintf(body, sizeof(body), "{\"text\":\"%s\"}", text);
    return h_http("POST", url, headers, body, 0, json);
}

/*
 * A text reply is reserved from the event thread once the API key is known: a retry with
 * the same Idempotency-Key answers the same message without using a reply, the same key
 * with other content is a conflict, and TikTok gets the message once.
 */
static void test_idempotent_reply(void **state)
{
    struct h_env env;
    struct h_customer c;
    cJSON *j = NULL;
    int64_t conv, id;

    h_env_start(&env, "idem_shop", NULL);
    h_customer_new(&env, "ines", "SG", &c);
    assert_int_equal(h_customer_says(&env, &c, "Hi", 1), 200);
    conv = h_conversation_id(&env, &c);

    assert_int_equal(reply_once(&env, conv, "reply-1", "Only once", &j), 202);
    id = h_int(j, "message.id");
    assert_int_equal(h_int(j, "reply_budget.replies_left"), 9);
    cJSON_Delete(j);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(reply_once(&env, conv, "reply-1", "Only once", &j), 202);
        assert_int_equal(h_int(j, "message.id"), id);
        assert_int_equal(h_int(j, "reply_budget.replies_left"), 9);
        cJSON_Delete(j);
    }
    assert_int_equal(reply_once(&env, conv, "reply-1", "Something else", &j), 409);
    assert_string_equal(h_str(j, "error.code"), "conflict");
    cJSON_Delete(j);
    assert_int_equal(h_reply(&env, conv + 1000, "Nobody", &j), 404);
    assert_string_equal(h_str(j, "error.code"), "not_found");
    cJSON_Delete(j);

    assert_true(h_wait_message_status(&env, id, "sent", 10000, NULL));
    assert_int_equal(h_sim_count_text(&env, &c, "Only once"), 1);
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

struct sse_reader {
    struct h_env *env;
    char body[8192];
};

/* Reads the event stream for 2.5 s (the transfer then times out, keeping what arrived). */
static void *read_events(void *arg)
{
    struct sse_reader *r = arg;
    struct ttdm_httpc *c = ttdm_httpc_new();
    struct ttdm_httpc_req req = {0};
    struct ttdm_httpc_resp resp;
    char url[256], auth[256];
    const char *headers[] = {auth, NULL};

    snprintf(url, sizeof(url), "%s/api/v1/events", r->env->ttdm_url);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", r->env->api_key);
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.timeout_ms = 2500;
    ttdm_httpc_do(c, &req, &resp);
    snprintf(r->body, sizeof(r->body), "%s", ttdm_buf_str(&resp.body));
    ttdm_httpc_resp_cleanup(&resp);
    ttdm_httpc_free(c);
    return NULL;
}

static void test_live_events(void **state)
{
    struct h_env env;
    struct h_customer cust;
    struct sse_reader reader;
    pthread_t t;
    cJSON *j = NULL;
    char expect[128];
    int64_t conv;

    h_env_start(&env, "live_shop", NULL);
    h_customer_new(&env, "lee", "SG", &cust);
    memset(&reader, 0, sizeof(reader));
    reader.env = &env;
    pthread_create(&t, NULL, read_events, &reader);
    h_sleep_ms(300); /* subscribed */
    assert_int_equal(h_customer_says(&env, &cust, "are you there?", 1), 200);
    conv = h_conversation_id(&env, &cust);
    assert_int_equal(h_reply(&env, conv, "yes!", &j), 202);
    cJSON_Delete(j);
    pthread_join(t, NULL);

    assert_non_null(strstr(reader.body, "retry: 2000"));
    snprintf(expect, sizeof(expect),
             "event: message\ndata: {\"channel_id\":%lld,"
             "\"conversation_id\":%lld,",
             (long long)env.channel_id, (long long)conv);
    /* The customer's message, our queued reply and its status change all reached us live. */
    {
        int n = 0;
        for (const char *p = reader.body; (p = strstr(p, expect)) != NULL; p++)
            n++;
        assert_true(n >= 3);
    }
    h_env_stop(&env);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_customer_to_agent_and_back),
        cmocka_unit_test(test_replies_keep_their_order),
        cmocka_unit_test(test_idempotent_reply),
        cmocka_unit_test(test_app_echo_counts),
        cmocka_unit_test(test_inbound_types),
        cmocka_unit_test(test_live_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
