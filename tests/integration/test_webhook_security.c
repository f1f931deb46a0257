/* test_webhook_security.c -- bad signatures, stale timestamps, bad JSON, huge bodies: nothing
 * stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "util/alloc.h"
#include "util/crypto.h"

#define SECRET "ttdm-sandbox-secret"

static long post_webhook(struct h_env *env, const char *body, size_t len, long t,
                         const char *secret, cJSON **j)
{
    char url[128], ts[32], sig[160], header[220];
    const char *parts[3];
    size_t lens[3];
    const char *headers[] = {header, "Content-Type: application/json", NULL};

    snprintf(url, sizeof(url), "%s/webhooks/tiktok", env->ttdm_url);
    snprintf(ts, sizeof(ts), "%ld", t);
    parts[0] = ts;
    lens[0] = strlen(ts);
    parts[1] = ".";
    lens[1] = 1;
    parts[2] = body;
    lens[2] = len;
    ttdm_hmac_sha256_hex(secret, strlen(secret), parts, lens, 3, sig);
    snprintf(header, sizeof(header), "TikTok-Signature: t=%s,s=%s", ts, sig);
    return h_http("POST", url, headers, body, len, j);
}

static void make_event(struct h_env *env, char *out, size_t size, const char *message_id)
{
    char content[1024];
    cJSON *root = cJSON_CreateObject();
    char *s;
    snprintf(content, sizeof(content),
             "{\"conversation_id\":\"conv-sec-1\",\"message_id\":\"%s\",\"timestamp\":%lld,"
             "\"type\":\"text\",\"text\":{\"body\":\"hi\"},\"from\":\"mallory\",\"to\":\"x\","
             "\"from_user\":{\"id\":\"u-1\",\"role\":\"personal_account\"},"
             "\"to_user\":{\"id\":\"%s\",\"role\":\"business_account\"}}",
             message_id, (long long)time(NULL) * 1000, env->business_id);
    cJSON_AddStringToObject(root, "client_key", "ttdm-sandbox-app");
    cJSON_AddStringToObject(root, "event", "im_receive_msg");
    cJSON_AddNumberToObject(root, "create_time", (double)time(NULL));
    cJSON_AddStringToObject(root, "user_openid", env->business_id);
    cJSON_AddStringToObject(root, "content", content);
    s = cJSON_PrintUnformatted(root);
    snprintf(out, size, "%s", s);
    cJSON_free(s);
    cJSON_Delete(root);
}

static int conversation_count(struct h_env *env)
{
    cJSON *j = NULL;
    int n;
    assert_int_equal(h_api(env, "GET", "/api/v1/conversations", NULL, &j), 200);
    n = cJSON_GetArraySize(h_get(j, "data"));
    cJSON_Delete(j);
    return n;
}

static void test_refusals_store_nothing(void **state)
{
    struct h_env env;
    char body[4096];
    cJSON *j = NULL;
    long now = (long)time(NULL);

    h_env_start(&env, "secure_shop", NULL);
    make_event(&env, body, sizeof(body), "m-sec-1");

    assert_int_equal(post_webhook(&env, body, strlen(body), now, "wrong-secret", &j), 401);
    assert_string_equal(h_str(j, "error.code"), "bad_signature");
    cJSON_Delete(j);

    assert_int_equal(post_webhook(&env, body, strlen(body), now - 3600, SECRET, &j), 401);
    assert_string_equal(h_str(j, "error.code"), "stale_signature");
    cJSON_Delete(j);

    {
        char url[128];
        const char *headers[] = {"Content-Type: application/json", NULL};
        snprintf(url, sizeof(url), "%s/webhooks/tiktok", env.ttdm_url);
        assert_int_equal(h_http("POST", url, headers, body, 0, &j), 401);
        cJSON_Delete(j);
    }

    {
        const char bad[] = "{\"event\": \"im_receive_msg\", \"content\": ";
        assert_int_equal(post_webhook(&env, bad, strlen(bad), now, SECRET, &j), 400);
        assert_string_equal(h_str(j, "error.code"), "invalid_json");
        assert_non_null(strstr(h_str(j, "error.message"), "byte"));
        cJSON_Delete(j);
    }

    {
        size_t big = 200 * 1024;
        char *huge = ttdm_malloc(big + 1);
        memset(huge, 'a', big);
        huge[big] = '\0';
        huge[0] = '{';
        assert_int_equal(post_webhook(&env, huge, big, now, SECRET, &j), 413);
        assert_string_equal(h_str(j, "error.code"), "body_too_large");
        cJSON_Delete(j);
        ttdm_free(huge);
    }
    assert_int_equal(conversation_count(&env), 0);

    /* The same event, correctly signed, is stored. */
    assert_int_equal(post_webhook(&env, body, strlen(body), now, SECRET, &j), 200);
    cJSON_Delete(j);
    assert_int_equal(conversation_count(&env), 1);
    h_env_stop(&env);
    (void)state;
}

static void test_api_errors_are_clear(void **state)
{
    struct h_env env;
    cJSON *j = NULL;
    char url[128];

    h_env_start(&env, "api_shop", NULL);
    snprintf(url, sizeof(url), "%s/api/v1/conversations", env.ttdm_url);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, &j), 401);
    assert_string_equal(h_str(j, "error.code"), "unauthorized");
    cJSON_Delete(j);
    assert_int_equal(h_api(&env, "GET", "/api/v1/conversations/999", NULL, &j), 404);
    assert_string_equal(h_str(j, "error.code"), "not_found");
    cJSON_Delete(j);
    assert_int_equal(h_api(&env, "POST", "/api/v1/conversations/1/messages", "{\"text\":", &j),
                     400);
    assert_string_equal(h_str(j, "error.code"), "invalid_json");
    cJSON_Delete(j);
    assert_int_equal(h_api(&env, "GET", "/api/v1/conversations?limit=abc", NULL, &j), 400);
    assert_non_null(strstr(h_str(j, "error.message"), "limit"));
    cJSON_Delete(j);
    h_env_stop(&env);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_store_nothing),
        cmocka_unit_test(test_api_errors_are_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
