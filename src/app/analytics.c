/* analytics.c -- a channel's figures per day, as the store counts them. */
#include "app/channels.h"
#include "app/internal.h"
#include "core/policy.h"

int64_t ttdm_app_today(const struct ttdm_app *app)
{
    return ttdm_policy_day(&app->rules, ttdm_app_now(app));
}

enum ttdm_err ttdm_app_channel_analytics(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                         int64_t from_day, int64_t to_day,
                                         struct ttdm_analytics_day **days, size_t *n)
{
    return ttdm_store_channel_analytics(app->store, workspace_id, id, from_day, to_day, days, n);
}
