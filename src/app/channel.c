/* channel.c -- connecting a TikTok account: profile from TikTok, channel in the store. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "app/internal.h"
#include "tiktok/client.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

enum ttdm_err ttdm_app_channel_create_with_token(struct ttdm_app *app, int64_t workspace_id,
                                                 const char *business_id, const char *access_token,
                                                 const char *refresh_token, int64_t expires_in_s,
                                                 struct ttdm_channel *out, bool *created,
                                                 struct ttdm_err_detail *detail)
{
    struct ttdm_tiktok_profile profile;
    struct ttdm_tiktok_result res;
    enum ttdm_err rc;
    int64_t now = ttdm_clock_now_ms();

    memset(detail, 0, sizeof(*detail));
    memset(out, 0, sizeof(*out));
    if (!workspace_id) {
        rc = ttdm_store_workspace_first(app->store, &workspace_id);
        if (rc)
            return rc;
    }
    if (ttdm_strlcpy(out->business_id, business_id, sizeof(out->business_id)) ||
        ttdm_strlcpy(out->access_token, access_token, sizeof(out->access_token)) ||
        ttdm_strlcpy(out->refresh_token, refresh_token, sizeof(out->refresh_token))) {
        snprintf(detail->message, sizeof(detail->message),
                 "The business id or a token is longer than ttdm accepts.");
        return TTDM_ERR_BAD_REQUEST;
    }
    rc = ttdm_tiktok_get_profile(ttdm_app_tiktok(app), access_token, business_id, &profile, &res);
    if (rc) {
        snprintf(detail->message, sizeof(detail->message),
                 "TikTok did not return the account's profile: %s%s%s", ttdm_err_message(rc),
                 res.tiktok_message[0] ? " TikTok said: " : "", res.tiktok_message);
        return rc;
    }
    out->workspace_id = workspace_id;
    ttdm_strlcpy(out->username, profile.username, sizeof(out->username));
    ttdm_strlcpy(out->display_name, profile.display_name, sizeof(out->display_name));
    ttdm_strlcpy(out->avatar_url, profile.profile_image, sizeof(out->avatar_url));
    for (size_t i = 0; profile.region[i] && i < sizeof(out->region) - 1; i++)
        out->region[i] = (char)toupper((unsigned char)profile.region[i]);
    out->origin = ttdm_account_origin_parse(profile.account_origin);
    out->status = TTDM_CHANNEL_CONNECTED;
    out->token_expires_at = now + expires_in_s * 1000;
    out->daily_limit = (int)app->cfg.rule_daily_limit_default;
    out->created_at = now;
    /* Tokens are stored encrypted (secrets.c); the clear ones are not kept in `out`. */
    if (ttdm_app_token_seal(app, access_token, out->access_token, sizeof(out->access_token)) ||
        ttdm_app_token_seal(app, refresh_token, out->refresh_token, sizeof(out->refresh_token)))
        return TTDM_ERR_INTERNAL;
    rc = ttdm_store_channel_upsert(app->store, out, &out->id, created);
    ttdm_lcache_clear(&app->routes);
    memset(out->access_token, 0, sizeof(out->access_token));
    memset(out->refresh_token, 0, sizeof(out->refresh_token));
    if (rc)
        return rc;
    LOG_INFO("channel", "%s channel=%lld business=%s", *created ? "connected" : "updated",
             (long long)out->id, out->business_id);
    return TTDM_OK;
}
