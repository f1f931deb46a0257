/* errors.h -- the stable error vocabulary of ttdm: code, HTTP status, sentence, TikTok code. */
#ifndef TTDM_ERRORS_H
#define TTDM_ERRORS_H

/*
 * One enum for the whole project (curl's CURLcode). TTDM_OK is 0 so `if (rc)` means failure.
 * The string code of each value is part of the public API (docs/API.md): never rename one,
 * only add new values at the end of a group.
 */
enum ttdm_err {
    TTDM_OK = 0,

    /* Rules R1-R8: sending refused before TikTok sees it. */
    TTDM_ERR_NO_CUSTOMER_MESSAGE,   /* R1 */
    TTDM_ERR_WINDOW_CLOSED,         /* R2 */
    TTDM_ERR_REPLY_QUOTA_USED_UP,   /* R3 */
    TTDM_ERR_DAILY_LIMIT,           /* R4, TikTok 40064 */
    TTDM_ERR_CONTENT_TYPE,          /* R5: neither text nor image */
    TTDM_ERR_TEXT_EMPTY,            /* R5 */
    TTDM_ERR_TEXT_TOO_LONG,         /* R5: > 6000 code points */
    TTDM_ERR_TEXT_WITH_IMAGE,       /* R5 */
    TTDM_ERR_IMAGE_FORMAT,          /* R5: not JPEG/PNG by content, TikTok 40908 */
    TTDM_ERR_IMAGE_TOO_LARGE,       /* R5: > 3 MB, TikTok 40907 */
    TTDM_ERR_IMAGE_REGION_BUSINESS, /* R6: business account's region */
    TTDM_ERR_IMAGE_REGION_CUSTOMER, /* R6: customer's region */
    TTDM_ERR_IMAGE_ACCOUNT_ORIGIN,  /* R7 */
    TTDM_ERR_TOKEN_EXPIRED,         /* R8, TikTok 40102 */
    TTDM_ERR_RECONNECT_REQUIRED,    /* channel must be reconnected by an admin */
    TTDM_ERR_TIKTOK,                /* TikTok refused with another code */
    TTDM_ERR_TIKTOK_UNAVAILABLE,    /* transport failure or 5xx / 51065: retryable */

    /* Request problems. */
    TTDM_ERR_BAD_REQUEST,
    TTDM_ERR_INVALID_JSON,
    TTDM_ERR_INVALID_UTF8,
    TTDM_ERR_BODY_TOO_LARGE,
    TTDM_ERR_UNAUTHORIZED,
    TTDM_ERR_BAD_SIGNATURE,
    TTDM_ERR_STALE_SIGNATURE,
    TTDM_ERR_FORBIDDEN,
    TTDM_ERR_NOT_FOUND,
    TTDM_ERR_METHOD_NOT_ALLOWED,
    TTDM_ERR_CONFLICT,
    TTDM_ERR_UNSUPPORTED_MEDIA_TYPE,
    TTDM_ERR_INVALID_CREDENTIALS, /* login: unknown email or wrong password */
    TTDM_ERR_CSRF,                /* session request without its CSRF token */
    TTDM_ERR_OAUTH_DENIED,        /* the TikTok user cancelled (access_denied) */
    TTDM_ERR_OAUTH_SCOPE,         /* invalid_scope, or a needed scope not granted */
    TTDM_ERR_OAUTH_STATE,         /* unknown, reused, expired or foreign state */
    TTDM_ERR_OAUTH_CODE,          /* TikTok refused the authorization code */
    TTDM_ERR_OAUTH_FAILED,        /* any other OAuth error TikTok redirected with */
    TTDM_ERR_ACCOUNT_MISMATCH,    /* reconnect returned another TikTok account */
    TTDM_ERR_BADGE_FORMAT,        /* badge is not PNG, JPEG or SVG by content */
    TTDM_ERR_BADGE_TOO_LARGE,     /* badge over 256 KB */

    /* Our side. */
    TTDM_ERR_STORAGE,
    TTDM_ERR_INTERNAL,
    TTDM_ERR_UNAVAILABLE,

    TTDM_ERR__COUNT
};

/* Stable machine-readable code, e.g. "window_closed". Never NULL. */
const char *ttdm_err_code(enum ttdm_err err);

/* Human sentence: what went wrong and what to do. Never NULL. Static storage. */
const char *ttdm_err_message(enum ttdm_err err);

/* HTTP status the API answers with for this error (200 for TTDM_OK). */
int ttdm_err_http_status(enum ttdm_err err);

/* TikTok's numeric code for this refusal (40064, 40102, 40907, 40908), 0 if none applies. */
int ttdm_err_tiktok_code(enum ttdm_err err);

/* Reverse lookup of a stable code string; TTDM_ERR__COUNT when unknown. */
enum ttdm_err ttdm_err_from_code(const char *code);

/*
 * Maps a TikTok envelope code to our vocabulary: 40064 -> DAILY_LIMIT, 40102/40105 ->
 * TOKEN_EXPIRED, 40907 -> IMAGE_TOO_LARGE, 40908 -> IMAGE_FORMAT, 40100/50000/50002/51065 ->
 * TIKTOK_UNAVAILABLE (retryable), anything else non-zero -> TIKTOK.
 */
enum ttdm_err ttdm_err_from_tiktok(int tiktok_code);

/* True when a TikTok failure with this error may succeed if the same call is retried. */
int ttdm_err_is_retryable(enum ttdm_err err);

#endif /* TTDM_ERRORS_H */
