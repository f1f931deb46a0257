/* live.c -- what the app tells live subscribers: small events naming what changed. */
#include <stdio.h>

#include "app/events.h"
#include "app/internal.h"

struct ttdm_events *ttdm_app_events(struct ttdm_app *app)
{
    return app->events;
}

void ttdm_app_publish_message(struct ttdm_app *app, int64_t workspace_id, int64_t channel_id,
                              int64_t conversation_id, int64_t message_id)
{
    char data[160];
    if (!app->events || ttdm_events_count(app->events) == 0)
        return; /* nobody listens: no formatting, no lock (once per stored message) */
    snprintf(data, sizeof(data),
             "{\"channel_id\":%lld,\"conversation_id\":%lld,\"message_id\":%lld}",
             (long long)channel_id, (long long)conversation_id, (long long)message_id);
    ttdm_events_publish(app->events, workspace_id, "message", data);
}

void ttdm_app_publish_conversation(struct ttdm_app *app, int64_t workspace_id, int64_t channel_id,
                                   int64_t conversation_id)
{
    char data[128];
    if (!app->events)
        return;
    if (conversation_id)
        snprintf(data, sizeof(data), "{\"channel_id\":%lld,\"conversation_id\":%lld}",
                 (long long)channel_id, (long long)conversation_id);
    else
        snprintf(data, sizeof(data), "{\"channel_id\":%lld,\"conversation_id\":null}",
                 (long long)channel_id);
    ttdm_events_publish(app->events, workspace_id, "conversation", data);
}

void ttdm_app_publish_channel(struct ttdm_app *app, int64_t workspace_id, int64_t channel_id)
{
    char data[64];
    if (!app->events)
        return;
    snprintf(data, sizeof(data), "{\"channel_id\":%lld}", (long long)channel_id);
    ttdm_events_publish(app->events, workspace_id, "channel", data);
}
