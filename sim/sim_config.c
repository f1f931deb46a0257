/* sim_config.c -- the table of every ttdm-sim setting: name, type, default, bounds, help. */
#include <stddef.h>
#include <string.h>

#include "sim.h"
#include "util/log.h"

#define S(field, def, help)                                                                        \
    {                                                                                              \
#field, TTDM_CFG_STR, def, 0, 0, offsetof(struct ttdm_sim_config, field),                  \
            sizeof(((struct ttdm_sim_config *)0)->field), help                                     \
    }
#define I(field, def, lo, hi, help)                                                                \
    {                                                                                              \
#field, TTDM_CFG_INT, def, lo, hi, offsetof(struct ttdm_sim_config, field), 0, help        \
    }
#define B(field, def, help)                                                                        \
    {                                                                                              \
#field, TTDM_CFG_BOOL, def, 0, 0, offsetof(struct ttdm_sim_config, field), 0, help         \
    }

/* The nine scopes Chatwoot requests (tiktok-api.md section 3.1). */
#define SIM_DEFAULT_SCOPES                                                                         \
    "user.info.basic,user.info.username,user.info.stats,user.info.profile,user.account.type,"      \
    "user.insights,message.list.read,message.list.send,message.list.manage"

/* R6: Australia, Colombia, the 27 EU member states, India, Iran, Japan, Nigeria, North Korea,
 * Philippines, Russia, South Korea, Turkey, Ukraine, United Kingdom, United States. */
#define SIM_DEFAULT_BLOCKED                                                                        \
    "AU,CO,AT,BE,BG,HR,CY,CZ,DK,EE,FI,FR,DE,GR,HU,IE,IT,LV,LT,LU,MT,NL,PL,PT,RO,SK,SI,ES,SE,"      \
    "IN,IR,JP,NG,KP,PH,RU,KR,TR,UA,GB,US"

const struct ttdm_cfg_entry ttdm_sim_config_table[] = {
    S(listen_addr, "127.0.0.1", "IPv4 address the simulator binds to"),
    I(port, "7071", 0, 65535, "HTTP port (0 picks a free one and prints it)"),
    S(app_id, "ttdm-sandbox-app", "the TikTok app id (client_key / client_id) ttdm uses"),
    S(app_secret, "ttdm-sandbox-secret", "the app secret: OAuth client_secret and webhook key"),
    S(callback_url, "", "webhook callback URL (also set by webhook/update or POST /sim/callback)"),
    S(public_url, "", "base URL in download_url and profile_image (default http://ADDR:PORT)"),
    I(clock_offset_ms, "0", -315360000000LL, 315360000000LL,
      "initial offset of the simulator's clock (POST /sim/clock moves it)"),
    I(webhook_retry_base_ms, "200", 1, 3600000, "first webhook retry delay; doubles per attempt"),
    I(webhook_max_attempts, "8", 1, 100, "webhook attempts before a delivery is dropped"),
    I(webhook_timeout_ms, "5000", 50, 120000, "timeout of one webhook POST"),
    I(webhook_workers, "4", 1, 64, "threads delivering webhooks in the background"),
    B(webhook_wall_clock, "false",
      "sign webhooks (t=, create_time) with the wall clock instead of the simulator's clock"),
    I(access_token_ttl_s, "86400", 1, 315360000, "access token lifetime (expires_in)"),
    I(refresh_token_ttl_s, "31536000", 1, 3153600000LL,
      "refresh token lifetime (refresh_token_expires_in)"),
    S(allowed_scopes, SIM_DEFAULT_SCOPES, "scopes the app may request, comma-separated"),
    B(seed_demo, "false", "create the account demo_shop at start and print its tokens"),
    I(window_s, "172800", 1, 31536000, "R2: seconds after the customer's latest message"),
    I(reply_quota, "10", 1, 100000, "R3: business messages after the customer's latest message"),
    I(daily_limit, "100", 1, 10000000, "R4: default daily conversations of a new account"),
    I(text_max_chars, "6000", 1, 1000000, "R5: longest text, in Unicode code points"),
    I(image_max_bytes, "3145728", 1, 33554432, "R5: largest image upload (3 MB)"),
    S(image_blocked_regions, SIM_DEFAULT_BLOCKED, "R6: regions where DM images are refused"),
    I(http_workers, "16", 1, 256, "threads running request handlers"),
    S(log_level, "info", "debug, info, warn, error or off"),
};

const size_t ttdm_sim_config_table_len =
    sizeof(ttdm_sim_config_table) / sizeof(ttdm_sim_config_table[0]);

void ttdm_sim_config_defaults(struct ttdm_sim_config *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof(*cfg));
    /* Only the built-in defaults: no file, no environment, no arguments. They are valid by
     * construction, so a failure here is a bug in the table. */
    if (ttdm_config_load(ttdm_sim_config_table, ttdm_sim_config_table_len, cfg, NULL, NULL, 0, NULL,
                         0, err, sizeof(err)))
        LOG_ERROR("sim", "built-in configuration is invalid: %s", err);
}
