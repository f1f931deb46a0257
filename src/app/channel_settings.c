/* channel_settings.c -- what an admin sets on a channel: auto-responder, daily conversation
 * limit, region and account origin; and the channel as the API shows it. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "app/channels.h"
#include "app/internal.h"
#include "core/policy.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/str.h"

enum ttdm_err ttdm_app_channel_get(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                   struct ttdm_channel *out, char **auto_reply_text)
{
    enum ttdm_err rc;

    if (auto_reply_text)
        *auto_reply_text = NULL;
    rc = ttdm_store_channel_get(app->store, workspace_id, id, out);
    if (rc)
        return rc;
    /* Tokens never leave the app layer, not even encrypted. */
    sodium_memzero(out->access_token, sizeof(out->access_token));
    sodium_memzero(out->refresh_token, sizeof(out->refresh_token));
    if (auto_reply_text)
        rc = ttdm_store_channel_auto_reply_text(app->store, workspace_id, id, auto_reply_text);
    return rc;
}

/* "" or two ASCII letters, upper-cased into out. */
static int parse_region(const char *in, char out[TTDM_REGION_LEN])
{
    size_t n = strlen(in);
    if (n == 0) {
        out[0] = '\0';
        return 0;
    }
    if (n != 2 || !isalpha((unsigned char)in[0]) || !isalpha((unsigned char)in[1]))
        return -1;
    out[0] = (char)toupper((unsigned char)in[0]);
    out[1] = (char)toupper((unsigned char)in[1]);
    out[2] = '\0';
    return 0;
}

enum ttdm_err ttdm_app_channel_update(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                      const struct ttdm_channel_patch *patch,
                                      struct ttdm_channel *out, struct ttdm_err_detail *detail)
{
    struct ttdm_channel_settings set;
    struct ttdm_channel now;
    char region[TTDM_REGION_LEN];
    char *stored_text = NULL;
    bool enabled;
    enum ttdm_err rc;

    memset(detail, 0, sizeof(*detail));
    set.auto_reply_enabled = patch->auto_reply_enabled;
    set.auto_reply_text = patch->auto_reply_text;
    set.daily_limit = 0;
    set.region = NULL;
    set.origin = -1;
    rc = ttdm_app_channel_get(app, workspace_id, id, &now, &stored_text);
    if (rc)
        goto done;

    if (patch->auto_reply_text && patch->auto_reply_text[0]) {
        /* The auto-response is a message like any other: R5 applies to it now, not at the
         * moment a customer opens a window. */
        rc = ttdm_policy_check_content(&app->rules, patch->auto_reply_text,
                                       strlen(patch->auto_reply_text), NULL, 0, NULL);
        if (rc) {
            snprintf(detail->message, sizeof(detail->message),
                     "The auto-responder text cannot be sent on TikTok: %s", ttdm_err_message(rc));
            goto done;
        }
    }
    enabled =
        patch->auto_reply_enabled >= 0 ? patch->auto_reply_enabled != 0 : now.auto_reply_enabled;
    if (enabled && !(patch->auto_reply_text ? patch->auto_reply_text[0] : stored_text[0])) {
        snprintf(detail->message, sizeof(detail->message),
                 "The auto-responder needs a text before it can be turned on.");
        rc = TTDM_ERR_TEXT_EMPTY;
        goto done;
    }
    if (patch->daily_limit != 0) {
        if (patch->daily_limit > INT32_MAX ||
            !ttdm_policy_daily_limit_valid(&app->rules, (int)patch->daily_limit)) {
            snprintf(detail->message, sizeof(detail->message),
                     "The daily conversation limit must be a whole number from %d to %d.",
                     app->rules.daily_limit_min, app->rules.daily_limit_max);
            rc = TTDM_ERR_BAD_REQUEST;
            goto done;
        }
        set.daily_limit = (int)patch->daily_limit;
    }
    if (patch->region) {
        if (parse_region(patch->region, region)) {
            snprintf(detail->message, sizeof(detail->message),
                     "The region must be an ISO 3166-1 alpha-2 code such as SG or ID, or empty "
                     "when unknown.");
            rc = TTDM_ERR_BAD_REQUEST;
            goto done;
        }
        set.region = region;
    }
    if (patch->origin) {
        enum ttdm_account_origin o = ttdm_account_origin_parse(patch->origin);
        if (o == TTDM_ORIGIN_UNKNOWN && strcmp(patch->origin, "unknown") != 0) {
            snprintf(detail->message, sizeof(detail->message),
                     "The account origin must be app, web or unknown.");
            rc = TTDM_ERR_BAD_REQUEST;
            goto done;
        }
        set.origin = (int)o;
    }
    rc = ttdm_store_channel_update_settings(app->store, workspace_id, id, &set);
    if (rc)
        goto done;
    LOG_INFO("channel", "channel=%lld settings changed", (long long)id);
    rc = ttdm_app_channel_get(app, workspace_id, id, out, NULL);
done:
    ttdm_free(stored_text);
    return rc;
}
