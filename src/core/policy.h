/* policy.h -- TikTok's messaging rules R1-R8 as pure decisions; time is always an argument. */
#ifndef TTDM_POLICY_H
#define TTDM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

/*
 * Every TikTok rule value is a named configuration value (PRODUCT.md): a rule change at
 * TikTok is a configuration change. ttdm_policy_rules_default() fills the seed's values.
 */
struct ttdm_policy_rules {
    int64_t window_ms;      /* R2: 48 h */
    int replies_per_window; /* R3: 10 */
    int daily_limit_min;    /* R4: 100, lowest per-channel limit an admin may set */
    int daily_limit_max;    /* R4: 200, highest */
    int day_offset_minutes; /* R4: calendar day offset from UTC, 0 = UTC days */
    size_t text_max_chars;  /* R5: 6000 Unicode code points */
    size_t image_max_bytes; /* R5: 3 MB = 3 * 1024 * 1024 */
};

void ttdm_policy_rules_default(struct ttdm_policy_rules *rules);

/* How the business account was created (R7). UNKNOWN lets TikTok decide. */
enum ttdm_account_origin {
    TTDM_ORIGIN_UNKNOWN = 0,
    TTDM_ORIGIN_APP, /* created in the TikTok mobile app: may send images */
    TTDM_ORIGIN_WEB, /* created any other way: may not */
};
const char *ttdm_account_origin_name(enum ttdm_account_origin origin); /* "unknown", "app", "web" */
enum ttdm_account_origin ttdm_account_origin_parse(const char *name);  /* UNKNOWN if unknown */

enum ttdm_content_type {
    TTDM_CONTENT_NONE = 0,
    TTDM_CONTENT_TEXT,
    TTDM_CONTENT_IMAGE,
};

enum ttdm_image_format {
    TTDM_IMAGE_UNKNOWN = 0,
    TTDM_IMAGE_JPEG,
    TTDM_IMAGE_PNG,
};

/* Sniffs JPEG (FF D8 FF) or PNG (89 50 4E 47 0D 0A 1A 0A) by content, never by name. */
enum ttdm_image_format ttdm_policy_sniff_image(const unsigned char *data, size_t len);
const char *ttdm_image_format_mime(enum ttdm_image_format fmt); /* "image/jpeg", ... or NULL */

/*
 * Counts Unicode code points of a UTF-8 string; returns -1 when the bytes are not valid
 * UTF-8 (overlongs, surrogates, > U+10FFFF, truncated sequences all invalid).
 */
long ttdm_utf8_count(const char *s, size_t len);

/*
 * R5 on what an agent asked to send. `text`/`text_len` may be NULL/0, `image`/`image_len`
 * may be NULL/0. Giving both is TEXT_WITH_IMAGE; giving neither is CONTENT_TYPE.
 * Text: INVALID_UTF8, TEXT_EMPTY (0 code points or only whitespace), TEXT_TOO_LONG.
 * Image: IMAGE_TOO_LARGE, IMAGE_FORMAT. On success *type (if not NULL) says which it is.
 */
enum ttdm_err ttdm_policy_check_content(const struct ttdm_policy_rules *rules, const char *text,
                                        size_t text_len, const unsigned char *image,
                                        size_t image_len, enum ttdm_content_type *type);

/*
 * R6 and R7 for an image between this business and this customer. Regions are ISO 3166-1
 * alpha-2 codes, any case; "" or NULL means unknown, which is not refused here (TikTok's
 * capabilities endpoint decides). Business region is checked before the customer's.
 */
enum ttdm_err ttdm_policy_check_image_parties(const char *business_region,
                                              const char *customer_region,
                                              enum ttdm_account_origin origin);

/* What the store knows about one conversation, derived from stored messages. */
struct ttdm_conversation_state {
    int64_t
        latest_customer_msg_at; /* TikTok ms timestamp of the latest customer message, 0: none */
    int replies_used;           /* business messages with timestamp > latest_customer_msg_at */
    bool counted_today;         /* the conversation already counts in today's daily total */
};

/* What the store knows about the channel for the current day. */
struct ttdm_channel_state {
    bool reconnect_required; /* token expired for good or permissions changed */
    int daily_limit;         /* 100..200 */
    int daily_used;          /* distinct conversations sent to on the current day */
};

/* The reply budget an agent sees. */
struct ttdm_reply_budget {
    bool has_customer_message;
    bool window_open; /* now < window_closes_at */
    int replies_left; /* 0..replies_per_window; 0 when the window is closed */
    int replies_used;
    int replies_per_window;
    int64_t window_closes_at; /* ms; 0 when there is no customer message */
    int64_t now;              /* the time the budget was computed for (ms) */
    int daily_used;
    int daily_limit;
    bool counted_today;
    enum ttdm_err may_send; /* TTDM_OK or why the next text reply would be refused */
};

/*
 * Computes the reply budget at `now_ms` (R1-R4, R8 via reconnect_required). Pure: the same
 * inputs always give the same answer. `out` is fully written.
 * may_send order of checks: RECONNECT_REQUIRED, NO_CUSTOMER_MESSAGE, WINDOW_CLOSED
 * (now >= latest + window), REPLY_QUOTA_USED_UP, DAILY_LIMIT (only when !counted_today and
 * daily_used >= daily_limit).
 */
void ttdm_policy_budget(const struct ttdm_policy_rules *rules,
                        const struct ttdm_conversation_state *conv,
                        const struct ttdm_channel_state *chan, int64_t now_ms,
                        struct ttdm_reply_budget *out);

/* Shorthand: returns budget.may_send; `out` may be NULL. */
enum ttdm_err ttdm_policy_may_send(const struct ttdm_policy_rules *rules,
                                   const struct ttdm_conversation_state *conv,
                                   const struct ttdm_channel_state *chan, int64_t now_ms,
                                   struct ttdm_reply_budget *out);

/*
 * The calendar day (R4) that `ms` falls in, as days since 1970-01-01 shifted by
 * rules->day_offset_minutes. Floors correctly for negative values.
 */
int64_t ttdm_policy_day(const struct ttdm_policy_rules *rules, int64_t ms);

/* True when a daily limit value is within the rules' bounds. */
bool ttdm_policy_daily_limit_valid(const struct ttdm_policy_rules *rules, int limit);

#endif /* TTDM_POLICY_H */
