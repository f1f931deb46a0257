/* client.h -- TikTok Business Messaging REST client: builds requests, decodes envelopes. */
#ifndef TTDM_TIKTOK_CLIENT_H
#define TTDM_TIKTOK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/model.h"

#define TTDM_TIKTOK_TOKEN_MAX 512   /* access / refresh token, with NUL */
#define TTDM_TIKTOK_SCOPE_MAX 512   /* comma-separated granted scopes, with NUL */
#define TTDM_TIKTOK_MESSAGE_MAX 256 /* envelope `message` kept in a result, with NUL */
#define TTDM_TIKTOK_WORD_MAX 64     /* short enum-like strings (account_origin, content type) */

/*
 * Where and as whom to talk to TikTok. Borrowed by the calls that take it;
 * ttdm_tiktok_client_new copies every string.
 */
struct ttdm_tiktok_config {
    const char *api_base;   /* "https://business-api.tiktok.com/open_api/v1.3" (a trailing '/'
                               is ignored) */
    const char *auth_base;  /* "https://www.tiktok.com/v2/auth/authorize/" */
    const char *app_id;     /* sent as client_key, client_id and app_id */
    const char *app_secret; /* sent as client_secret and secret; never logged */
    long timeout_ms;        /* whole request, per call; 0 = 10000 */
};

/*
 * What TikTok answered, filled by every call (also on success). Embedded; no ownership.
 * tiktok_message holds the envelope's `message` when one was read, otherwise a sentence of
 * ours saying what went wrong ("TikTok did not answer within 5000 ms"). Neither ever
 * contains a token, a secret or a message body.
 */
struct ttdm_tiktok_result {
    int http_status; /* 0 when no HTTP response arrived */
    int tiktok_code; /* envelope `code`; 0 when none was read */
    char tiktok_message[TTDM_TIKTOK_MESSAGE_MAX];
    char request_id[TTDM_TIKTOK_WORD_MAX]; /* envelope `request_id`, "" if none */
    /*
     * True when the request may have reached TikTok and taken effect although we report a
     * failure: a timeout or broken connection after connecting, or a 2xx answer we could
     * not read. A send that failed this way must not be assumed undone. False for failures
     * that certainly happened before sending (refused connection, unknown host) and for
     * definite answers (an envelope code, an HTTP error status).
     */
    bool uncertain;
};

/* Tokens from E2 (exchange) and E3 (refresh). Embedded. */
struct ttdm_tiktok_tokens {
    char access_token[TTDM_TIKTOK_TOKEN_MAX];
    char refresh_token[TTDM_TIKTOK_TOKEN_MAX];
    char open_id[TTDM_ID_MAX];         /* = business_id; "" when a refresh omits it */
    char scope[TTDM_TIKTOK_SCOPE_MAX]; /* comma-separated, "" when absent */
    int64_t expires_in;                /* seconds */
    int64_t refresh_token_expires_in;  /* seconds; 0 when absent */
};

/* Account profile from E6. Embedded; "" for absent fields. */
struct ttdm_tiktok_profile {
    char username[TTDM_NAME_MAX];
    char display_name[TTDM_NAME_MAX];
    char profile_image[TTDM_URL_MAX];
    char region[TTDM_REGION_LEN];              /* simulator extension */
    char account_origin[TTDM_TIKTOK_WORD_MAX]; /* simulator extension */
};

/* Downloaded media. `data` is owned by the struct: release with ttdm_tiktok_media_cleanup. */
struct ttdm_tiktok_media {
    char *data;
    size_t len;
    /*
     * Decided from the bytes (JPEG, PNG, GIF, WebP, MP4/QuickTime, HEIC), else
     * "application/octet-stream"; never copied from the CDN's header.
     */
    char content_type[TTDM_TIKTOK_WORD_MAX];
};
void ttdm_tiktok_media_cleanup(struct ttdm_tiktok_media *m);

/*
 * Builds the consent URL (E1): auth_base?client_key=&response_type=code&scope=
 * &redirect_uri=&state=, every value percent-encoded. Pure. Returns TTDM_OK, or
 * TTDM_ERR_INTERNAL when out_size is too small (out is then "").
 */
enum ttdm_err ttdm_tiktok_authorize_url(const struct ttdm_tiktok_config *cfg, const char *scope,
                                        const char *redirect_uri, const char *state, char *out,
                                        size_t out_size);

/*
 * A client wraps one util/httpc handle and its kept-alive connections, so it belongs to
 * one thread at a time: give each worker thread its own. The caller owns it; free with
 * ttdm_tiktok_client_free (NULL is a no-op). Never NULL.
 */
struct ttdm_tiktok_client;
struct ttdm_tiktok_client *ttdm_tiktok_client_new(const struct ttdm_tiktok_config *cfg);
void ttdm_tiktok_client_free(struct ttdm_tiktok_client *c);

/*
 * Every call below: string arguments are borrowed; `res` may be NULL when the caller does
 * not need details. Errors:
 *   - HTTP 200 with a non-zero code -> ttdm_err_from_tiktok(code) (40064 DAILY_LIMIT,
 *     40102/40105 TOKEN_EXPIRED, 40100/5xxxx TIKTOK_UNAVAILABLE, other TIKTOK);
 *   - HTTP 5xx, connection failure, timeout -> TTDM_ERR_TIKTOK_UNAVAILABLE (res->uncertain
 *     when the request may have been processed);
 *   - HTTP 4xx -> TTDM_ERR_TIKTOK, or the mapping above when its body is an envelope with a
 *     non-zero code;
 *   - unreadable body or missing data field -> TTDM_ERR_TIKTOK, res->uncertain set;
 *   - a token with control characters -> TTDM_ERR_BAD_REQUEST (nothing is sent).
 * Output structs are only meaningful on TTDM_OK.
 */

/* E2: POST /tt_user/oauth2/token/ with the authorization code from the consent redirect. */
enum ttdm_err ttdm_tiktok_exchange_code(struct ttdm_tiktok_client *c, const char *auth_code,
                                        const char *redirect_uri, struct ttdm_tiktok_tokens *out,
                                        struct ttdm_tiktok_result *res);

/* E3: POST /tt_user/oauth2/refresh_token/. Store both returned tokens: the old ones die. */
enum ttdm_err ttdm_tiktok_refresh(struct ttdm_tiktok_client *c, const char *refresh_token,
                                  struct ttdm_tiktok_tokens *out, struct ttdm_tiktok_result *res);

/* E6: GET /business/get/ with fields username, display_name, profile_image. */
enum ttdm_err ttdm_tiktok_get_profile(struct ttdm_tiktok_client *c, const char *access_token,
                                      const char *business_id, struct ttdm_tiktok_profile *out,
                                      struct ttdm_tiktok_result *res);

/*
 * E7: POST /business/message/send/ with message_type TEXT. `text` is NUL-terminated UTF-8;
 * `referenced_message_id` (quote reply) may be NULL or "". On TTDM_OK message_id holds
 * data.message.message_id.
 */
enum ttdm_err ttdm_tiktok_send_text(struct ttdm_tiktok_client *c, const char *access_token,
                                    const char *business_id, const char *conversation_id,
                                    const char *text, const char *referenced_message_id,
                                    char message_id[TTDM_ID_MAX], struct ttdm_tiktok_result *res);

/*
 * The same text send in two halves, for many sends at once on a ttdm_httpc_multi: begin
 * builds the request into *req (valid until the pending send is finished or abandoned), or
 * returns NULL with res saying why (a malformed token: TTDM_ERR_BAD_REQUEST, nothing sent);
 * finish decodes what the transfer brought (rc and resp as ttdm_httpc_multi gives them),
 * as ttdm_tiktok_send_text would, and frees the pending send.
 */
struct ttdm_tiktok_pending;
struct ttdm_httpc_req;
struct ttdm_httpc_resp;
struct ttdm_tiktok_pending *
ttdm_tiktok_send_text_begin(struct ttdm_tiktok_client *c, const char *access_token,
                            const char *business_id, const char *conversation_id, const char *text,
                            struct ttdm_httpc_req *req, struct ttdm_tiktok_result *res);
enum ttdm_err ttdm_tiktok_send_finish(struct ttdm_tiktok_client *c, struct ttdm_tiktok_pending *p,
                                      int transport_rc, const struct ttdm_httpc_resp *hr,
                                      char message_id[TTDM_ID_MAX], struct ttdm_tiktok_result *res);
/* Frees a pending send whose transfer never started. NULL is a no-op. */
void ttdm_tiktok_send_abandon(struct ttdm_tiktok_pending *p);

/* E7 with message_type IMAGE and a media_id from ttdm_tiktok_upload_image. */
enum ttdm_err ttdm_tiktok_send_image(struct ttdm_tiktok_client *c, const char *access_token,
                                     const char *business_id, const char *conversation_id,
                                     const char *media_id, char message_id[TTDM_ID_MAX],
                                     struct ttdm_tiktok_result *res);

/*
 * E8: multipart POST /business/message/media/upload/ with business_id, media_type=IMAGE
 * and `file` (data[0..len), sent with `filename` and `content_type`, e.g. "image/png").
 * On TTDM_OK media_id holds data.media_id.
 */
enum ttdm_err ttdm_tiktok_upload_image(struct ttdm_tiktok_client *c, const char *access_token,
                                       const char *business_id, const void *data, size_t len,
                                       const char *filename, const char *content_type,
                                       char media_id[TTDM_ID_MAX], struct ttdm_tiktok_result *res);

/*
 * E9 then the CDN: asks /business/message/media/download/ for data.download_url, then GETs
 * it with `x-user: <access_token>` into out (at most max_bytes, 0 = 8 MiB; a bigger file
 * fails with TTDM_ERR_TIKTOK). media_type is "IMAGE" or "VIDEO". On success the caller owns
 * out->data (ttdm_tiktok_media_cleanup); on failure out is empty. The CDN's HTTP status is reported
 * in res->http_status like TikTok's.
 */
enum ttdm_err ttdm_tiktok_download_media(struct ttdm_tiktok_client *c, const char *access_token,
                                         const char *business_id, const char *conversation_id,
                                         const char *message_id, const char *media_id,
                                         const char *media_type, size_t max_bytes,
                                         struct ttdm_tiktok_media *out,
                                         struct ttdm_tiktok_result *res);

/*
 * E10: GET /business/message/capabilities/get/ for IMAGE_SEND in one conversation
 * (conversation_type SINGLE, as Chatwoot sends). *can_send_image is the capability_result.
 */
enum ttdm_err ttdm_tiktok_can_send_image(struct ttdm_tiktok_client *c, const char *access_token,
                                         const char *business_id, const char *conversation_id,
                                         bool *can_send_image, struct ttdm_tiktok_result *res);

/*
 * E13: POST /business/webhook/update/: points the app's subscription for `event_type`
 * ("DIRECT_MESSAGE") at callback_url. Authenticated with app_id + secret, no token.
 */
enum ttdm_err ttdm_tiktok_webhook_update(struct ttdm_tiktok_client *c, const char *event_type,
                                         const char *callback_url, struct ttdm_tiktok_result *res);

/*
 * E14: GET /business/webhook/list/: the callback URL currently registered for event_type
 * into callback_url[size] ("" when there is none).
 */
enum ttdm_err ttdm_tiktok_webhook_list(struct ttdm_tiktok_client *c, const char *event_type,
                                       char *callback_url, size_t size,
                                       struct ttdm_tiktok_result *res);

#endif /* TTDM_TIKTOK_CLIENT_H */
