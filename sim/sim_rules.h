/* sim_rules.h -- TikTok's messaging rules as the simulator judges them: pure functions, no I/O. */
#ifndef TTDM_SIM_RULES_H
#define TTDM_SIM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_BLOCKED_REGIONS 128

/* The rule values, taken from the configuration so a rule change at TikTok is a setting. */
struct ttdm_sim_rules {
    int64_t window_ms;                        /* R2 */
    int64_t reply_quota;                      /* R3 */
    int64_t text_max_chars;                   /* R5, code points */
    int64_t image_max_bytes;                  /* R5 */
    char blocked[SIM_MAX_BLOCKED_REGIONS][3]; /* R6, upper-case ISO 3166 alpha-2 */
    size_t n_blocked;
};

/*
 * Fills rules; `blocked_csv` is "AU,CO,..." (spaces allowed). Returns 0, or -1 with a
 * sentence in err when a region is not two letters or there are too many.
 */
int ttdm_sim_rules_init(struct ttdm_sim_rules *rules, int64_t window_s, int64_t reply_quota,
                        int64_t text_max_chars, int64_t image_max_bytes, const char *blocked_csv,
                        char *err, size_t err_size);

/*
 * Normalises a region code from a peer into out ("sg" -> "SG", "UK" -> "GB").
 * Returns 0, or -1 when it is not two ASCII letters.
 */
int ttdm_sim_rules_region_normalize(const char *in, char out[3]);

/* R6: true when DM images are refused for an account or customer in `region`. */
bool ttdm_sim_rules_region_blocked(const struct ttdm_sim_rules *rules, const char *region);

/* Number of code points of valid UTF-8 text (continuation bytes are not counted). */
size_t ttdm_sim_rules_code_points(const char *s, size_t len);

/* "image/jpeg" or "image/png" judged by the magic bytes, NULL otherwise. */
const char *ttdm_sim_rules_image_type(const void *data, size_t len);

/* The UTC calendar day of a millisecond timestamp (days since 1970-01-01, floor). */
int64_t ttdm_sim_rules_utc_day(int64_t ms);

/*
 * R2 and R3 from the facts of one conversation: the customer's latest message time and the
 * number of business messages at or after it. "After" includes the same millisecond, so a
 * reply written in the instant of the customer's message still counts.
 */
struct ttdm_sim_budget {
    bool customer_wrote;
    int64_t last_customer_ms;
    int64_t window_closes_at; /* last_customer_ms + window; 0 when the customer never wrote */
    bool window_open;         /* now < window_closes_at: at exactly +48 h it is closed */
    int64_t replies_used;
    int64_t replies_left; /* 0 when the window is closed */
};

void ttdm_sim_rules_budget(const struct ttdm_sim_rules *rules, bool customer_wrote,
                           int64_t last_customer_ms, int64_t replies_used, int64_t now_ms,
                           struct ttdm_sim_budget *out);

#endif /* TTDM_SIM_RULES_H */
