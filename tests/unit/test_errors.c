/* test_errors.c -- the error table: complete, unique, stable codes and the seed's wording. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/errors.h"

/* Every value has a code, a sentence and a status: catches an entry left out of the table. */
static void test_every_value_is_described(void **state)
{
    (void)state;
    for (int i = 0; i < TTDM_ERR__COUNT; i++) {
        enum ttdm_err err = (enum ttdm_err)i;
        const char *code = ttdm_err_code(err);
        const char *msg = ttdm_err_message(err);
        int status = ttdm_err_http_status(err);

        assert_non_null(code);
        assert_non_null(msg);
        assert_true(strlen(code) > 0);
        assert_true(strlen(msg) > 0);
        assert_true(status >= 200 && status <= 599);
        if (err == TTDM_OK)
            assert_int_equal(status, 200);
        else
            assert_true(status >= 400);
        /* A sentence, not a fragment. */
        assert_int_equal(msg[strlen(msg) - 1], '.');
        /* Codes are snake_case: lower-case letters, digits and underscores. */
        for (const char *p = code; *p != '\0'; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
        /* Each one maps back to itself, which also proves uniqueness. A value missing from
         * the table reads as internal_error and fails here. */
        if (ttdm_err_from_code(code) != err)
            fail_msg("enum ttdm_err value %d has no table entry of its own (reads as %s)", i, code);
    }
}

static void test_codes_are_unique(void **state)
{
    (void)state;
    for (int i = 0; i < TTDM_ERR__COUNT; i++) {
        for (int j = i + 1; j < TTDM_ERR__COUNT; j++)
            assert_string_not_equal(ttdm_err_code((enum ttdm_err)i),
                                    ttdm_err_code((enum ttdm_err)j));
    }
}

/* The codes are public API (docs/API.md); this pins every one of them. */
static void test_codes_are_stable(void **state)
{
    static const struct {
        enum ttdm_err err;
        const char *code;
        int status;
    } expected[] = {
        {TTDM_OK, "ok", 200},
        {TTDM_ERR_NO_CUSTOMER_MESSAGE, "no_customer_message", 409},
        {TTDM_ERR_WINDOW_CLOSED, "window_closed", 409},
        {TTDM_ERR_REPLY_QUOTA_USED_UP, "reply_quota_used_up", 409},
        {TTDM_ERR_DAILY_LIMIT, "daily_conversation_limit", 429},
        {TTDM_ERR_CONTENT_TYPE, "unsupported_content_type", 422},
        {TTDM_ERR_TEXT_EMPTY, "text_empty", 422},
        {TTDM_ERR_TEXT_TOO_LONG, "text_too_long", 422},
        {TTDM_ERR_TEXT_WITH_IMAGE, "text_with_image", 422},
        {TTDM_ERR_IMAGE_FORMAT, "image_format", 422},
        {TTDM_ERR_IMAGE_TOO_LARGE, "image_too_large", 422},
        {TTDM_ERR_IMAGE_REGION_BUSINESS, "image_region_business", 422},
        {TTDM_ERR_IMAGE_REGION_CUSTOMER, "image_region_customer", 422},
        {TTDM_ERR_IMAGE_ACCOUNT_ORIGIN, "image_account_origin", 422},
        {TTDM_ERR_TOKEN_EXPIRED, "access_token_expired", 409},
        {TTDM_ERR_RECONNECT_REQUIRED, "reconnect_required", 409},
        {TTDM_ERR_TIKTOK, "tiktok_error", 502},
        {TTDM_ERR_TIKTOK_UNAVAILABLE, "tiktok_unavailable", 503},
        {TTDM_ERR_BAD_REQUEST, "bad_request", 400},
        {TTDM_ERR_INVALID_JSON, "invalid_json", 400},
        {TTDM_ERR_INVALID_UTF8, "invalid_utf8", 400},
        {TTDM_ERR_BODY_TOO_LARGE, "body_too_large", 413},
        {TTDM_ERR_UNAUTHORIZED, "unauthorized", 401},
        {TTDM_ERR_BAD_SIGNATURE, "bad_signature", 401},
        {TTDM_ERR_STALE_SIGNATURE, "stale_signature", 401},
        {TTDM_ERR_FORBIDDEN, "forbidden", 403},
        {TTDM_ERR_NOT_FOUND, "not_found", 404},
        {TTDM_ERR_METHOD_NOT_ALLOWED, "method_not_allowed", 405},
        {TTDM_ERR_CONFLICT, "conflict", 409},
        {TTDM_ERR_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415},
        {TTDM_ERR_INVALID_CREDENTIALS, "invalid_credentials", 401},
        {TTDM_ERR_CSRF, "csrf_token_invalid", 403},
        {TTDM_ERR_OAUTH_DENIED, "oauth_access_denied", 400},
        {TTDM_ERR_OAUTH_SCOPE, "oauth_invalid_scope", 400},
        {TTDM_ERR_OAUTH_STATE, "oauth_state_invalid", 400},
        {TTDM_ERR_OAUTH_CODE, "oauth_code_invalid", 400},
        {TTDM_ERR_OAUTH_FAILED, "oauth_failed", 400},
        {TTDM_ERR_ACCOUNT_MISMATCH, "reconnect_account_mismatch", 409},
        {TTDM_ERR_BADGE_FORMAT, "badge_format", 422},
        {TTDM_ERR_BADGE_TOO_LARGE, "badge_too_large", 422},
        {TTDM_ERR_STORAGE, "storage_error", 500},
        {TTDM_ERR_INTERNAL, "internal_error", 500},
        {TTDM_ERR_UNAVAILABLE, "unavailable", 503},
    };
    (void)state;

    assert_int_equal(sizeof(expected) / sizeof(expected[0]), TTDM_ERR__COUNT);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        assert_string_equal(ttdm_err_code(expected[i].err), expected[i].code);
        assert_int_equal(ttdm_err_http_status(expected[i].err), expected[i].status);
    }
}

/* The seed quotes TikTok's texts; agents search for them, so they must appear verbatim. */
static void test_seed_wording(void **state)
{
    static const char daily[] = "[40064] You are sending messages too fast. Take a rest.";
    static const char token[] = "[40102] the access token has expired";
    (void)state;

    assert_memory_equal(ttdm_err_message(TTDM_ERR_DAILY_LIMIT), daily, strlen(daily));
    assert_memory_equal(ttdm_err_message(TTDM_ERR_TOKEN_EXPIRED), token, strlen(token));
}

static void test_tiktok_codes(void **state)
{
    (void)state;
    assert_int_equal(ttdm_err_tiktok_code(TTDM_ERR_DAILY_LIMIT), 40064);
    assert_int_equal(ttdm_err_tiktok_code(TTDM_ERR_TOKEN_EXPIRED), 40102);
    assert_int_equal(ttdm_err_tiktok_code(TTDM_ERR_IMAGE_TOO_LARGE), 40907);
    assert_int_equal(ttdm_err_tiktok_code(TTDM_ERR_IMAGE_FORMAT), 40908);
    for (int i = 0; i < TTDM_ERR__COUNT; i++) {
        enum ttdm_err err = (enum ttdm_err)i;
        if (err == TTDM_ERR_DAILY_LIMIT || err == TTDM_ERR_TOKEN_EXPIRED ||
            err == TTDM_ERR_IMAGE_TOO_LARGE || err == TTDM_ERR_IMAGE_FORMAT)
            continue;
        assert_int_equal(ttdm_err_tiktok_code(err), 0);
    }
}

static void test_from_tiktok(void **state)
{
    (void)state;
    assert_int_equal(ttdm_err_from_tiktok(0), TTDM_OK);
    assert_int_equal(ttdm_err_from_tiktok(40064), TTDM_ERR_DAILY_LIMIT);
    assert_int_equal(ttdm_err_from_tiktok(40102), TTDM_ERR_TOKEN_EXPIRED);
    assert_int_equal(ttdm_err_from_tiktok(40105), TTDM_ERR_TOKEN_EXPIRED);
    assert_int_equal(ttdm_err_from_tiktok(40907), TTDM_ERR_IMAGE_TOO_LARGE);
    assert_int_equal(ttdm_err_from_tiktok(40908), TTDM_ERR_IMAGE_FORMAT);
    assert_int_equal(ttdm_err_from_tiktok(40100), TTDM_ERR_TIKTOK_UNAVAILABLE);
    assert_int_equal(ttdm_err_from_tiktok(50000), TTDM_ERR_TIKTOK_UNAVAILABLE);
    assert_int_equal(ttdm_err_from_tiktok(50002), TTDM_ERR_TIKTOK_UNAVAILABLE);
    assert_int_equal(ttdm_err_from_tiktok(51065), TTDM_ERR_TIKTOK_UNAVAILABLE);
    assert_int_equal(ttdm_err_from_tiktok(40001), TTDM_ERR_TIKTOK);
    assert_int_equal(ttdm_err_from_tiktok(40002), TTDM_ERR_TIKTOK);
    assert_int_equal(ttdm_err_from_tiktok(-1), TTDM_ERR_TIKTOK);

    /* The four codes we attach to errors round-trip. */
    for (int i = 0; i < TTDM_ERR__COUNT; i++) {
        int code = ttdm_err_tiktok_code((enum ttdm_err)i);
        if (code != 0)
            assert_int_equal(ttdm_err_from_tiktok(code), i);
    }
}

static void test_retryable(void **state)
{
    (void)state;
    assert_true(ttdm_err_is_retryable(TTDM_ERR_TIKTOK_UNAVAILABLE));
    assert_true(ttdm_err_is_retryable(ttdm_err_from_tiktok(51065)));
    assert_false(ttdm_err_is_retryable(TTDM_OK));
    assert_false(ttdm_err_is_retryable(TTDM_ERR_TIKTOK));
    assert_false(ttdm_err_is_retryable(TTDM_ERR_DAILY_LIMIT));
    assert_false(ttdm_err_is_retryable(TTDM_ERR_TOKEN_EXPIRED));
    assert_false(ttdm_err_is_retryable(TTDM_ERR_IMAGE_FORMAT));
    assert_false(ttdm_err_is_retryable(TTDM_ERR_WINDOW_CLOSED));
}

static void test_unknown_inputs(void **state)
{
    (void)state;
    assert_int_equal(ttdm_err_from_code(NULL), TTDM_ERR__COUNT);
    assert_int_equal(ttdm_err_from_code(""), TTDM_ERR__COUNT);
    assert_int_equal(ttdm_err_from_code("Window_Closed"), TTDM_ERR__COUNT);
    assert_int_equal(ttdm_err_from_code("no_such_error"), TTDM_ERR__COUNT);

    /* An out-of-range value (a bad cast) still yields printable, non-NULL answers. */
    enum ttdm_err bogus = (enum ttdm_err)9999;
    assert_non_null(ttdm_err_code(bogus));
    assert_non_null(ttdm_err_message(bogus));
    assert_int_equal(ttdm_err_http_status(bogus), 500);
    assert_non_null(ttdm_err_code(TTDM_ERR__COUNT));
    assert_int_equal(ttdm_err_tiktok_code(bogus), 0);
    assert_false(ttdm_err_is_retryable(bogus));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_value_is_described),
        cmocka_unit_test(test_codes_are_unique),
        cmocka_unit_test(test_codes_are_stable),
        cmocka_unit_test(test_seed_wording),
        cmocka_unit_test(test_tiktok_codes),
        cmocka_unit_test(test_from_tiktok),
        cmocka_unit_test(test_retryable),
        cmocka_unit_test(test_unknown_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
