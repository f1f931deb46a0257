/* policy.c -- TikTok's messaging rules R1-R8 as pure functions of their inputs and `now`. */
#include "core/policy.h"

#include <string.h>

#include "core/regions.h"

#define MS_PER_MINUTE INT64_C(60000)
#define MS_PER_DAY INT64_C(86400000)

void ttdm_policy_rules_default(struct ttdm_policy_rules *rules)
{
    rules->window_ms = INT64_C(48) * 60 * MS_PER_MINUTE;
    rules->replies_per_window = 10;
    rules->daily_limit_min = 100;
    rules->daily_limit_max = 200;
    rules->day_offset_minutes = 0;
    rules->text_max_chars = 6000;
    rules->image_max_bytes = (size_t)3 * 1024 * 1024;
}

/* Every function accepts NULL rules as "the seed's defaults", so callers that have no
 * configuration at hand (tools, tests) cannot get a zeroed rule set by accident. */
static const struct ttdm_policy_rules *rules_or_default(const struct ttdm_policy_rules *rules,
                                                        struct ttdm_policy_rules *fallback)
{
    if (rules != NULL)
        return rules;
    ttdm_policy_rules_default(fallback);
    return fallback;
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool ascii_equal_nocase(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (ascii_lower(*a) != ascii_lower(*b))
            return false;
    }
    return *a == *b;
}

const char *ttdm_account_origin_name(enum ttdm_account_origin origin)
{
    switch (origin) {
    case TTDM_ORIGIN_APP:
        return "app";
    case TTDM_ORIGIN_WEB:
        return "web";
    case TTDM_ORIGIN_UNKNOWN:
    default:
        return "unknown";
    }
}

enum ttdm_account_origin ttdm_account_origin_parse(const char *name)
{
    if (name == NULL)
        return TTDM_ORIGIN_UNKNOWN;
    if (ascii_equal_nocase(name, "app"))
        return TTDM_ORIGIN_APP;
    if (ascii_equal_nocase(name, "web"))
        return TTDM_ORIGIN_WEB;
    return TTDM_ORIGIN_UNKNOWN;
}

enum ttdm_image_format ttdm_policy_sniff_image(const unsigned char *data, size_t len)
{
    static const unsigned char jpeg_magic[3] = {0xFF, 0xD8, 0xFF};
    static const unsigned char png_magic[8] = {0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A};

    if (data == NULL)
        return TTDM_IMAGE_UNKNOWN;
    if (len >= sizeof(jpeg_magic) && memcmp(data, jpeg_magic, sizeof(jpeg_magic)) == 0)
        return TTDM_IMAGE_JPEG;
    if (len >= sizeof(png_magic) && memcmp(data, png_magic, sizeof(png_magic)) == 0)
        return TTDM_IMAGE_PNG;
    return TTDM_IMAGE_UNKNOWN;
}

const char *ttdm_image_format_mime(enum ttdm_image_format fmt)
{
    switch (fmt) {
    case TTDM_IMAGE_JPEG:
        return "image/jpeg";
    case TTDM_IMAGE_PNG:
        return "image/png";
    case TTDM_IMAGE_UNKNOWN:
    default:
        return NULL;
    }
}

/*
 * Decodes one code point per the Unicode well-formedness table (Unicode 15, table 3-7):
 * the second byte's range depends on the lead byte, which is what rules out overlongs,
 * surrogates and values above U+10FFFF without decoding first. Returns the number of bytes
 * consumed, or 0 when the sequence at `p` is ill-formed or truncated.
 */
static size_t utf8_decode(const unsigned char *p, size_t len, uint32_t *cp)
{
    unsigned char b0 = p[0];
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t need;
    uint32_t value;

    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
        value = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        value = b0 & 0x0Fu;
        if (b0 == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (b0 == 0xED)
            hi = 0x9F; /* UTF-16 surrogates U+D800..U+DFFF */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        value = b0 & 0x07u;
        if (b0 == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (b0 == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* stray continuation byte, C0/C1 overlong lead, or F5..FF */
    }

    if (len < need)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    value = (value << 6) | (p[1] & 0x3Fu);
    for (size_t i = 2; i < need; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
        value = (value << 6) | (p[i] & 0x3Fu);
    }
    *cp = value;
    return need;
}

/*
 * Characters a customer would see as nothing: Unicode's White_Space property, plus the
 * zero-width space, word joiner and byte order mark, which are not White_Space but render
 * as blank and are a common way to get around "message must not be empty" checks.
 */
static bool is_blank(uint32_t cp)
{
    if (cp == 0x20 || (cp >= 0x09 && cp <= 0x0D))
        return true;
    switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x180E:
    case 0x200B:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x2060:
    case 0x3000:
    case 0xFEFF:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

/* Counts code points of `s`; *all_blank tells whether every one of them is blank. -1 if the
 * bytes are not UTF-8. */
static long utf8_scan(const char *s, size_t len, bool *all_blank)
{
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;
    bool blank = true;

    if (len > 0 && s == NULL)
        return -1;
    for (size_t off = 0; off < len;) {
        uint32_t cp;
        size_t n = utf8_decode(p + off, len - off, &cp);
        if (n == 0)
            return -1;
        if (blank && !is_blank(cp))
            blank = false;
        off += n;
        count++;
    }
    if (all_blank != NULL)
        *all_blank = blank;
    return count;
}

long ttdm_utf8_count(const char *s, size_t len)
{
    return utf8_scan(s, len, NULL);
}

enum ttdm_err ttdm_policy_check_content(const struct ttdm_policy_rules *rules, const char *text,
                                        size_t text_len, const unsigned char *image,
                                        size_t image_len, enum ttdm_content_type *type)
{
    struct ttdm_policy_rules fallback;
    /* A non-NULL empty string is text that was given and is empty, not absent text. */
    bool has_text = text != NULL || text_len > 0;
    bool has_image = image != NULL || image_len > 0;

    rules = rules_or_default(rules, &fallback);
    if (has_text && has_image)
        return TTDM_ERR_TEXT_WITH_IMAGE;
    if (!has_text && !has_image)
        return TTDM_ERR_CONTENT_TYPE;

    if (has_text) {
        bool all_blank = true;
        long chars = utf8_scan(text, text_len, &all_blank);
        if (chars < 0)
            return TTDM_ERR_INVALID_UTF8;
        if (chars == 0 || all_blank)
            return TTDM_ERR_TEXT_EMPTY;
        if ((unsigned long)chars > rules->text_max_chars)
            return TTDM_ERR_TEXT_TOO_LONG;
        if (type != NULL)
            *type = TTDM_CONTENT_TEXT;
        return TTDM_OK;
    }

    if (image_len > rules->image_max_bytes)
        return TTDM_ERR_IMAGE_TOO_LARGE;
    if (ttdm_policy_sniff_image(image, image_len) == TTDM_IMAGE_UNKNOWN)
        return TTDM_ERR_IMAGE_FORMAT;
    if (type != NULL)
        *type = TTDM_CONTENT_IMAGE;
    return TTDM_OK;
}

enum ttdm_err ttdm_policy_check_image_parties(const char *business_region,
                                              const char *customer_region,
                                              enum ttdm_account_origin origin)
{
    if (ttdm_region_image_blocked(business_region))
        return TTDM_ERR_IMAGE_REGION_BUSINESS;
    if (ttdm_region_image_blocked(customer_region))
        return TTDM_ERR_IMAGE_REGION_CUSTOMER;
    if (origin == TTDM_ORIGIN_WEB)
        return TTDM_ERR_IMAGE_ACCOUNT_ORIGIN;
    return TTDM_OK;
}

/* a + b without signed overflow (undefined behaviour); saturates at the int64 range. */
static int64_t add_saturating(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

void ttdm_policy_budget(const struct ttdm_policy_rules *rules,
                        const struct ttdm_conversation_state *conv,
                        const struct ttdm_channel_state *chan, int64_t now_ms,
                        struct ttdm_reply_budget *out)
{
    struct ttdm_policy_rules fallback;
    static const struct ttdm_conversation_state no_conv = {0, 0, false};
    static const struct ttdm_channel_state no_chan = {false, 0, 0};

    rules = rules_or_default(rules, &fallback);
    if (conv == NULL)
        conv = &no_conv;
    if (chan == NULL)
        chan = &no_chan;

    memset(out, 0, sizeof(*out));
    out->now = now_ms;
    out->replies_per_window = rules->replies_per_window;
    out->replies_used = conv->replies_used > 0 ? conv->replies_used : 0;
    out->daily_used = chan->daily_used;
    out->daily_limit = chan->daily_limit;
    out->counted_today = conv->counted_today;
    out->has_customer_message = conv->latest_customer_msg_at != 0;

    if (out->has_customer_message) {
        out->window_closes_at = add_saturating(conv->latest_customer_msg_at, rules->window_ms);
        /* R2: at exactly latest + 48 h the window is already closed. */
        out->window_open = now_ms < out->window_closes_at;
        if (out->window_open && out->replies_used < rules->replies_per_window)
            out->replies_left = rules->replies_per_window - out->replies_used;
    }

    if (chan->reconnect_required)
        out->may_send = TTDM_ERR_RECONNECT_REQUIRED;
    else if (!out->has_customer_message)
        out->may_send = TTDM_ERR_NO_CUSTOMER_MESSAGE;
    else if (!out->window_open)
        out->may_send = TTDM_ERR_WINDOW_CLOSED;
    else if (out->replies_left <= 0)
        out->may_send = TTDM_ERR_REPLY_QUOTA_USED_UP;
    else if (!conv->counted_today && chan->daily_used >= chan->daily_limit)
        /* A conversation already messaged today costs nothing more, so only a new one can
         * hit the daily limit. */
        out->may_send = TTDM_ERR_DAILY_LIMIT;
    else
        out->may_send = TTDM_OK;
}

enum ttdm_err ttdm_policy_may_send(const struct ttdm_policy_rules *rules,
                                   const struct ttdm_conversation_state *conv,
                                   const struct ttdm_channel_state *chan, int64_t now_ms,
                                   struct ttdm_reply_budget *out)
{
    struct ttdm_reply_budget local;

    if (out == NULL)
        out = &local;
    ttdm_policy_budget(rules, conv, chan, now_ms, out);
    return out->may_send;
}

/* C division truncates toward zero; calendar days need floor (-1 ms is day -1). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int64_t ttdm_policy_day(const struct ttdm_policy_rules *rules, int64_t ms)
{
    struct ttdm_policy_rules fallback;
    rules = rules_or_default(rules, &fallback);

    /* Split first so that adding the offset can never overflow, even for extreme `ms`. */
    int64_t day = floor_div(ms, MS_PER_DAY);
    int64_t into_day = ms % MS_PER_DAY;
    if (into_day < 0)
        into_day += MS_PER_DAY;
    int64_t shifted = into_day + (int64_t)rules->day_offset_minutes * MS_PER_MINUTE;
    return day + floor_div(shifted, MS_PER_DAY);
}

bool ttdm_policy_daily_limit_valid(const struct ttdm_policy_rules *rules, int limit)
{
    struct ttdm_policy_rules fallback;
    rules = rules_or_default(rules, &fallback);
    return limit >= rules->daily_limit_min && limit <= rules->daily_limit_max;
}
