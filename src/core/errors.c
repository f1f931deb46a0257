/* errors.c -- the table behind enum ttdm_err: stable code, HTTP status, sentence, TikTok code. */
#include "core/errors.h"

#include <stddef.h>
#include <string.h>

struct err_info {
    const char *code; /* public API: never rename */
    int http_status;
    int tiktok_code;     /* TikTok's envelope code for the same refusal, 0 if none */
    const char *message; /* why it failed and what to do */
};

/*
 * Indexed by the enum so that an entry can never drift onto the wrong value; a value left
 * out stays zero-filled, which the unit test for this table reports.
 *
 * Status choice: content the agent can fix (R5-R7) is 422; a refusal that depends on the
 * conversation's or channel's state (R1-R3, R8, reconnect) is 409; the daily limit is 429
 * because it goes away with time alone, like TikTok's "too fast" wording suggests.
 */
static const struct err_info err_table[TTDM_ERR__COUNT] = {
    [TTDM_OK] = {"ok", 200, 0, "OK."},

    [TTDM_ERR_NO_CUSTOMER_MESSAGE] =
        {"no_customer_message", 409, 0,
         "The customer has not written in this conversation yet, and TikTok only lets a "
         "business reply to customers who wrote first. Wait for the customer to send a "
         "message."},
    [TTDM_ERR_WINDOW_CLOSED] =
        {"window_closed", 409, 0,
         "The 48-hour reply window closed because the customer's latest message is more than "
         "48 hours old. You can reply again as soon as the customer writes."},
    [TTDM_ERR_REPLY_QUOTA_USED_UP] =
        {"reply_quota_used_up", 409, 0,
         "All replies allowed since the customer's latest message have been sent. You can "
         "reply again after the customer writes, which restores the full quota."},
    [TTDM_ERR_DAILY_LIMIT] =
        {"daily_conversation_limit", 429, 40064,
         "[40064] You are sending messages too fast. Take a rest. This TikTok account has "
         "already messaged its daily maximum of distinct conversations today; you can still "
         "reply in conversations already messaged today, or try again after the day changes."},
    [TTDM_ERR_CONTENT_TYPE] =
        {"unsupported_content_type", 422, 0,
         "TikTok messages can only be text or one image. Send text or attach a single JPEG or "
         "PNG image."},
    [TTDM_ERR_TEXT_EMPTY] = {"text_empty", 422, 0,
                             "The message text is empty or only whitespace. Type a message "
                             "before sending."},
    [TTDM_ERR_TEXT_TOO_LONG] =
        {"text_too_long", 422, 0,
         "The message text is longer than TikTok's limit of 6000 characters. Shorten it or "
         "split it into several messages."},
    [TTDM_ERR_TEXT_WITH_IMAGE] =
        {"text_with_image", 422, 0,
         "TikTok does not allow text and an image in one message. Send the image and the text "
         "as two separate messages."},
    [TTDM_ERR_IMAGE_FORMAT] =
        {"image_format", 422, 40908,
         "The image is not a JPEG or PNG file (judged by its content, not its name). Convert "
         "it to JPEG or PNG and send it again."},
    [TTDM_ERR_IMAGE_TOO_LARGE] =
        {"image_too_large", 422, 40907,
         "The image is larger than TikTok's limit of 3 MB. Resize or compress it and send it "
         "again."},
    [TTDM_ERR_IMAGE_REGION_BUSINESS] =
        {"image_region_business", 422, 0,
         "TikTok does not allow images for business accounts in this account's region. Send "
         "the information as text instead."},
    [TTDM_ERR_IMAGE_REGION_CUSTOMER] =
        {"image_region_customer", 422, 0,
         "TikTok does not allow images to customers in this customer's region. Send the "
         "information as text instead."},
    [TTDM_ERR_IMAGE_ACCOUNT_ORIGIN] =
        {"image_account_origin", 422, 0,
         "Only TikTok business accounts created in the TikTok mobile app may send images, and "
         "this one was not. Send the information as text instead."},
    [TTDM_ERR_TOKEN_EXPIRED] =
        {"access_token_expired", 409, 40102,
         "[40102] the access token has expired. An admin must reconnect this TikTok account "
         "with Reconnect Account on the channel's Overview tab, then send again."},
    [TTDM_ERR_RECONNECT_REQUIRED] =
        {"reconnect_required", 409, 0,
         "This TikTok channel must be reconnected because its access expired or its "
         "permissions changed. An admin must click Reconnect Account on the channel's "
         "Overview tab, then send again."},
    [TTDM_ERR_TIKTOK] = {"tiktok_error", 502, 0,
                         "TikTok refused the request. See the TikTok error code and text "
                         "for the reason; sending again unchanged will not help."},
    [TTDM_ERR_TIKTOK_UNAVAILABLE] =
        {"tiktok_unavailable", 503, 0,
         "TikTok could not be reached or had a temporary failure. ttdm retries queued "
         "messages by itself; otherwise try again in a few minutes."},

    [TTDM_ERR_BAD_REQUEST] = {"bad_request", 400, 0,
                              "The request is malformed or a field is missing or invalid. "
                              "Check the request against the API documentation."},
    [TTDM_ERR_INVALID_JSON] = {"invalid_json", 400, 0,
                               "The request body is not valid JSON. Fix the body and send the "
                               "request again."},
    [TTDM_ERR_INVALID_UTF8] = {"invalid_utf8", 400, 0,
                               "The text is not valid UTF-8. Send it encoded as UTF-8."},
    [TTDM_ERR_BODY_TOO_LARGE] = {"body_too_large", 413, 0,
                                 "The request body is larger than the server accepts. Send a "
                                 "smaller body."},
    [TTDM_ERR_UNAUTHORIZED] = {"unauthorized", 401, 0,
                               "You are not signed in or the API key is missing or invalid. "
                               "Sign in or send a valid API key."},
    [TTDM_ERR_BAD_SIGNATURE] = {"bad_signature", 401, 0,
                                "The request signature does not match its body. Sign the exact "
                                "raw body with the shared secret."},
    [TTDM_ERR_STALE_SIGNATURE] = {"stale_signature", 401, 0,
                                  "The request signature is too old or from the future. Sign "
                                  "with the current time and check the sender's clock."},
    [TTDM_ERR_FORBIDDEN] = {"forbidden", 403, 0,
                            "Your account is not allowed to do this. Ask an admin of the "
                            "workspace."},
    [TTDM_ERR_NOT_FOUND] = {"not_found", 404, 0,
                            "Nothing exists at this address, or it belongs to another "
                            "workspace. Check the id in the request."},
    [TTDM_ERR_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405, 0,
                                     "This address does not accept this HTTP method. Check the "
                                     "API documentation for the allowed methods."},
    [TTDM_ERR_CONFLICT] = {"conflict", 409, 0,
                           "The request conflicts with the current state, for example a "
                           "duplicate. Reload the current state and try again."},
    [TTDM_ERR_UNSUPPORTED_MEDIA_TYPE] = {"unsupported_media_type", 415, 0,
                                         "The request's Content-Type is not accepted here. "
                                         "Send application/json or the documented type."},
    [TTDM_ERR_INVALID_CREDENTIALS] = {"invalid_credentials", 401, 0,
                                      "The email or the password is wrong. Check both and sign "
                                      "in again."},
    [TTDM_ERR_CSRF] = {"csrf_token_invalid", 403, 0,
                       "This change was refused because the request did not carry the "
                       "session's CSRF token. Send the csrf_token from sign-in in the "
                       "X-CSRF-Token header."},
    [TTDM_ERR_OAUTH_DENIED] = {"oauth_access_denied", 400, 0,
                               "The TikTok login was cancelled or access was not granted, so "
                               "nothing was connected. Start Add TikTok Account again and "
                               "choose Continue."},
    [TTDM_ERR_OAUTH_SCOPE] = {"oauth_invalid_scope", 400, 0,
                              "TikTok did not grant the permissions ttdm needs, so nothing was "
                              "connected. Check the app's approved scopes and grant all of "
                              "them."},
    [TTDM_ERR_OAUTH_STATE] = {"oauth_state_invalid", 400, 0,
                              "This TikTok login link is unknown, already used, expired or "
                              "was started in another browser, so nothing was connected. "
                              "Start Add TikTok Account again."},
    [TTDM_ERR_OAUTH_CODE] = {"oauth_code_invalid", 400, 0,
                             "TikTok refused the authorization code, so nothing was "
                             "connected. Start Add TikTok Account again."},
    [TTDM_ERR_OAUTH_FAILED] = {"oauth_failed", 400, 0,
                               "TikTok ended the login with an error, so nothing was "
                               "connected. Start Add TikTok Account again."},
    [TTDM_ERR_ACCOUNT_MISMATCH] = {"reconnect_account_mismatch", 409, 0,
                                   "The TikTok account you logged in with is not the one "
                                   "connected to this channel, so nothing was changed. Log in "
                                   "to TikTok with the channel's account and reconnect again."},
    [TTDM_ERR_BADGE_FORMAT] = {"badge_format", 422, 0,
                               "The badge icon is not a PNG, JPEG or SVG file (judged by its "
                               "content, not its name). Upload one of those formats."},
    [TTDM_ERR_BADGE_TOO_LARGE] = {"badge_too_large", 422, 0,
                                  "The badge icon is larger than 256 KB. Upload a smaller "
                                  "image."},

    [TTDM_ERR_STORAGE] = {"storage_error", 500, 0,
                          "The server could not read or write its database. Try again; if it "
                          "keeps failing, the operator should check the server log."},
    [TTDM_ERR_INTERNAL] = {"internal_error", 500, 0,
                           "Something unexpected went wrong in the server. Try again; if it "
                           "keeps failing, the operator should check the server log."},
    [TTDM_ERR_UNAVAILABLE] = {"unavailable", 503, 0,
                              "The server is starting, stopping or overloaded. Try again in a "
                              "few seconds."},
};

/* Values outside the enum (a cast from an untrusted int) read as internal errors. */
static const struct err_info *lookup(enum ttdm_err err)
{
    if ((unsigned)err >= (unsigned)TTDM_ERR__COUNT || err_table[err].code == NULL)
        return &err_table[TTDM_ERR_INTERNAL];
    return &err_table[err];
}

const char *ttdm_err_code(enum ttdm_err err)
{
    return lookup(err)->code;
}

const char *ttdm_err_message(enum ttdm_err err)
{
    return lookup(err)->message;
}

int ttdm_err_http_status(enum ttdm_err err)
{
    return lookup(err)->http_status;
}

int ttdm_err_tiktok_code(enum ttdm_err err)
{
    return lookup(err)->tiktok_code;
}

enum ttdm_err ttdm_err_from_code(const char *code)
{
    if (code == NULL)
        return TTDM_ERR__COUNT;
    for (int i = 0; i < TTDM_ERR__COUNT; i++) {
        if (err_table[i].code != NULL && strcmp(err_table[i].code, code) == 0)
            return (enum ttdm_err)i;
    }
    return TTDM_ERR__COUNT;
}

enum ttdm_err ttdm_err_from_tiktok(int tiktok_code)
{
    switch (tiktok_code) {
    case 0:
        return TTDM_OK;
    case 40064:
        return TTDM_ERR_DAILY_LIMIT;
    /* Messaging endpoints are reported to answer 40105 rather than 40102 for an expired
     * token (tiktok-api.md section 12); both mean the same to an agent. */
    case 40102:
    case 40105:
        return TTDM_ERR_TOKEN_EXPIRED;
    case 40907:
        return TTDM_ERR_IMAGE_TOO_LARGE;
    case 40908:
        return TTDM_ERR_IMAGE_FORMAT;
    /* 40100 is TikTok's rate limit (10 QPS) and the 5xxxx codes are transient system
     * errors: the same call can succeed later. */
    case 40100:
    case 50000:
    case 50002:
    case 51065:
        return TTDM_ERR_TIKTOK_UNAVAILABLE;
    default:
        return TTDM_ERR_TIKTOK;
    }
}

int ttdm_err_is_retryable(enum ttdm_err err)
{
    return err == TTDM_ERR_TIKTOK_UNAVAILABLE;
}
