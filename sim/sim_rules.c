/* sim_rules.c -- TikTok's messaging rules as the simulator judges them: pure functions, no I/O. */
#include "sim_rules.h"

#include <stdio.h>
#include <string.h>

static bool is_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

int ttdm_sim_rules_region_normalize(const char *in, char out[3])
{
    if (!in || !is_letter(in[0]) || !is_letter(in[1]) || in[2] != '\0')
        return -1;
    out[0] = upper(in[0]);
    out[1] = upper(in[1]);
    out[2] = '\0';
    /* People write "UK"; ISO 3166 says GB. Treat them as one region. */
    if (strcmp(out, "UK") == 0)
        memcpy(out, "GB", 3);
    return 0;
}

int ttdm_sim_rules_init(struct ttdm_sim_rules *rules, int64_t window_s, int64_t reply_quota,
                        int64_t text_max_chars, int64_t image_max_bytes, const char *blocked_csv,
                        char *err, size_t err_size)
{
    const char *p = blocked_csv;

    memset(rules, 0, sizeof(*rules));
    rules->window_ms = window_s * 1000;
    rules->reply_quota = reply_quota;
    rules->text_max_chars = text_max_chars;
    rules->image_max_bytes = image_max_bytes;
    while (*p) {
        char code[3] = {0};
        char one[4] = {0};
        size_t n = 0;
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        while (p[n] && p[n] != ',' && p[n] != ' ')
            n++;
        if (n != 2) {
            snprintf(err, err_size, "image_blocked_regions: '%.*s' is not a two-letter region",
                     (int)n, p);
            return -1;
        }
        memcpy(one, p, 2);
        if (ttdm_sim_rules_region_normalize(one, code)) {
            snprintf(err, err_size, "image_blocked_regions: '%s' is not a two-letter region", one);
            return -1;
        }
        if (rules->n_blocked == SIM_MAX_BLOCKED_REGIONS) {
            snprintf(err, err_size, "image_blocked_regions: more than %d regions",
                     SIM_MAX_BLOCKED_REGIONS);
            return -1;
        }
        memcpy(rules->blocked[rules->n_blocked++], code, 3);
        p += n;
    }
    return 0;
}

bool ttdm_sim_rules_region_blocked(const struct ttdm_sim_rules *rules, const char *region)
{
    char code[3];
    if (ttdm_sim_rules_region_normalize(region, code))
        return false;
    for (size_t i = 0; i < rules->n_blocked; i++)
        if (memcmp(rules->blocked[i], code, 3) == 0)
            return true;
    return false;
}

size_t ttdm_sim_rules_code_points(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

const char *ttdm_sim_rules_image_type(const void *data, size_t len)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    const unsigned char *b = data;
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return "image/jpeg";
    if (len >= sizeof(png) && memcmp(b, png, sizeof(png)) == 0)
        return "image/png";
    return NULL;
}

int64_t ttdm_sim_rules_utc_day(int64_t ms)
{
    const int64_t day = 86400000;
    return ms >= 0 ? ms / day : -((-ms + day - 1) / day);
}

void ttdm_sim_rules_budget(const struct ttdm_sim_rules *rules, bool customer_wrote,
                           int64_t last_customer_ms, int64_t replies_used, int64_t now_ms,
                           struct ttdm_sim_budget *out)
{
    memset(out, 0, sizeof(*out));
    out->customer_wrote = customer_wrote;
    out->replies_used = replies_used;
    if (!customer_wrote)
        return;
    out->last_customer_ms = last_customer_ms;
    out->window_closes_at = last_customer_ms + rules->window_ms;
    out->window_open = now_ms < out->window_closes_at;
    if (out->window_open && replies_used < rules->reply_quota)
        out->replies_left = rules->reply_quota - replies_used;
}
