/* render.c -- JSON shapes of the public API; no secret (token) is ever rendered. */
#include "http/render.h"

#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/model.h"
#include "util/httpd.h"
#include "util/json.h"

static void add_str_or_null(cJSON *o, const char *key, const char *s)
{
    if (s && *s)
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

/* The badge's URL carries a version, so browsers may cache it and still see a new icon. */
static void add_badge_url(cJSON *o, int64_t channel_id, const char *sha256)
{
    char url[96];
    if (!sha256 || !sha256[0]) {
        cJSON_AddNullToObject(o, "badge_url");
        return;
    }
    snprintf(url, sizeof(url), "/api/v1/channels/%lld/badge?v=%.16s", (long long)channel_id,
             sha256);
    cJSON_AddStringToObject(o, "badge_url", url);
}

cJSON *ttdm_render_budget(const struct ttdm_reply_budget *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "may_send", b->may_send == TTDM_OK);
    cJSON_AddBoolToObject(o, "has_customer_message", b->has_customer_message);
    cJSON_AddBoolToObject(o, "window_open", b->window_open);
    cJSON_AddNumberToObject(o, "replies_left", b->replies_left);
    cJSON_AddNumberToObject(o, "replies_used", b->replies_used);
    cJSON_AddNumberToObject(o, "replies_per_window", b->replies_per_window);
    if (b->window_closes_at)
        ttdm_json_add_i64(o, "window_closes_at", b->window_closes_at);
    else
        cJSON_AddNullToObject(o, "window_closes_at");
    /* The server's clock, so a countdown stays right when the sandbox clock was moved. */
    ttdm_json_add_i64(o, "now", b->now);
    cJSON_AddNumberToObject(o, "daily_conversations_used", b->daily_used);
    cJSON_AddNumberToObject(o, "daily_conversation_limit", b->daily_limit);
    cJSON_AddBoolToObject(o, "counted_today", b->counted_today);
    if (b->may_send != TTDM_OK) {
        cJSON *r = cJSON_AddObjectToObject(o, "refusal");
        cJSON_AddStringToObject(r, "code", ttdm_err_code(b->may_send));
        cJSON_AddStringToObject(r, "message", ttdm_err_message(b->may_send));
    } else {
        cJSON_AddNullToObject(o, "refusal");
    }
    return o;
}

cJSON *ttdm_render_message(const struct ttdm_message *m)
{
    cJSON *o = cJSON_CreateObject();
    ttdm_json_add_i64(o, "id", m->id);
    ttdm_json_add_i64(o, "conversation_id", m->conversation_id);
    ttdm_json_add_i64(o, "channel_id", m->channel_id);
    cJSON_AddStringToObject(o, "direction", ttdm_direction_name(m->direction));
    cJSON_AddStringToObject(o, "source", ttdm_msg_source_name(m->source));
    cJSON_AddStringToObject(o, "type", ttdm_msg_type_name(m->type));
    cJSON_AddStringToObject(o, "status", ttdm_msg_status_name(m->status));
    add_str_or_null(o, "text", m->text);
    if (m->media_path[0]) {
        char url[96];
        snprintf(url, sizeof(url), "/api/v1/messages/%lld/media", (long long)m->id);
        cJSON_AddStringToObject(o, "media_url", url);
        cJSON_AddStringToObject(o, "media_type", m->media_mime);
        ttdm_json_add_i64(o, "media_size", m->media_size);
    } else {
        cJSON_AddNullToObject(o, "media_url");
    }
    add_str_or_null(o, "share_url", m->share_url);
    if (m->type == TTDM_MSG_UNSUPPORTED) {
        char note[96];
        snprintf(note, sizeof(note), "unsupported: open TikTok to see it (%s)",
                 m->raw_type[0] ? m->raw_type : "unknown type");
        cJSON_AddStringToObject(o, "unsupported_note", note);
    }
    add_str_or_null(o, "tiktok_message_id", m->tiktok_message_id);
    ttdm_json_add_i64(o, "timestamp", m->timestamp_ms);
    ttdm_json_add_i64(o, "created_at", m->created_at);
    ttdm_json_add_i64(o, "updated_at", m->updated_at);
    cJSON_AddNumberToObject(o, "attempts", m->attempts);
    if (m->error_code[0]) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "code", m->error_code);
        cJSON_AddStringToObject(e, "message", m->error_text);
        if (m->tiktok_error_code)
            cJSON_AddNumberToObject(e, "tiktok_code", m->tiktok_error_code);
    } else {
        cJSON_AddNullToObject(o, "error");
    }
    return o;
}

cJSON *ttdm_render_conversation(const struct ttdm_conversation_view *c,
                                const struct ttdm_reply_budget *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *cust;
    ttdm_json_add_i64(o, "id", c->id);
    ttdm_json_add_i64(o, "channel_id", c->channel_id);
    cJSON_AddStringToObject(o, "tiktok_conversation_id", c->tiktok_conversation_id);
    cust = cJSON_AddObjectToObject(o, "customer");
    ttdm_json_add_i64(cust, "id", c->customer_id);
    cJSON_AddStringToObject(cust, "tiktok_user_id", c->customer_user_id);
    cJSON_AddStringToObject(cust, "username", c->customer_username);
    add_str_or_null(cust, "region", c->customer_region);
    cJSON_AddStringToObject(o, "channel_status", ttdm_channel_status_name(c->channel_status));
    {
        /* What an agent needs to tell channels apart and to know whether it can send. */
        cJSON *ch = cJSON_AddObjectToObject(o, "channel");
        ttdm_json_add_i64(ch, "id", c->channel_id);
        cJSON_AddStringToObject(ch, "username", c->channel_username);
        cJSON_AddStringToObject(ch, "display_name", c->channel_display_name);
        cJSON_AddStringToObject(ch, "status", ttdm_channel_status_name(c->channel_status));
        add_badge_url(ch, c->channel_id, c->channel_badge_sha256);
    }
    ttdm_json_add_i64(o, "last_activity_at", c->last_activity_at);
    cJSON_AddStringToObject(o, "last_message_preview", c->last_preview);
    cJSON_AddNumberToObject(o, "unread_count", c->unread_count);
    ttdm_json_add_i64(o, "created_at", c->created_at);
    cJSON_AddItemToObject(o, "reply_budget", ttdm_render_budget(b));
    return o;
}

/* Why a reconnect is needed, in words, from channels.status_reason. */
static const char *reconnect_reason(const char *reason)
{
    if (strcmp(reason, "access_token_expired") == 0 || strcmp(reason, "no_refresh_token") == 0)
        return "TikTok answered [40102] the access token has expired";
    if (strcmp(reason, "refresh_token_expired") == 0)
        return "the refresh token expired, so the access token can no longer be renewed";
    if (strcmp(reason, "refresh_failed") == 0)
        return "TikTok refused to renew the access token";
    return "the access expired or its permissions changed";
}

cJSON *ttdm_render_channel(const struct ttdm_channel *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *auto_reply;
    ttdm_json_add_i64(o, "id", c->id);
    cJSON_AddStringToObject(o, "business_id", c->business_id);
    cJSON_AddStringToObject(o, "username", c->username);
    cJSON_AddStringToObject(o, "display_name", c->display_name);
    add_str_or_null(o, "avatar_url", c->avatar_url);
    add_str_or_null(o, "region", c->region);
    cJSON_AddStringToObject(o, "region_source", c->region_by_admin ? "admin" : "tiktok");
    cJSON_AddStringToObject(o, "account_origin", ttdm_account_origin_name(c->origin));
    cJSON_AddStringToObject(o, "account_origin_source", c->origin_by_admin ? "admin" : "tiktok");
    cJSON_AddStringToObject(o, "status", ttdm_channel_status_name(c->status));
    if (c->status == TTDM_CHANNEL_RECONNECT_REQUIRED) {
        char msg[320];
        snprintf(msg, sizeof(msg),
                 "Reconnect required: %s. An admin must click Reconnect Account on the "
                 "channel's Overview tab.",
                 reconnect_reason(c->status_reason));
        cJSON_AddStringToObject(o, "status_reason",
                                c->status_reason[0] ? c->status_reason : "unknown");
        cJSON_AddStringToObject(o, "status_message", msg);
    } else {
        cJSON_AddNullToObject(o, "status_reason");
        cJSON_AddNullToObject(o, "status_message");
    }
    ttdm_json_add_i64(o, "token_expires_at", c->token_expires_at);
    if (c->refresh_expires_at)
        ttdm_json_add_i64(o, "refresh_token_expires_at", c->refresh_expires_at);
    else
        cJSON_AddNullToObject(o, "refresh_token_expires_at");
    cJSON_AddNumberToObject(o, "daily_conversation_limit", c->daily_limit);
    auto_reply = cJSON_AddObjectToObject(o, "auto_responder");
    cJSON_AddBoolToObject(auto_reply, "enabled", c->auto_reply_enabled);
    add_badge_url(o, c->id, c->badge_sha256);
    if (c->connected_at)
        ttdm_json_add_i64(o, "connected_at", c->connected_at);
    else
        cJSON_AddNullToObject(o, "connected_at");
    ttdm_json_add_i64(o, "created_at", c->created_at);
    return o;
}

void ttdm_render_error(struct ttdm_http_response *resp, enum ttdm_err err, const char *specific,
                       const struct ttdm_err_detail *d)
{
    cJSON *extra = cJSON_CreateObject();
    int tiktok = ttdm_err_tiktok_code(err);

    if (tiktok)
        cJSON_AddNumberToObject(extra, "tiktok_code", tiktok);
    if (d && d->region[0])
        cJSON_AddStringToObject(extra, "region", d->region);
    if (d && d->has_budget)
        cJSON_AddItemToObject(extra, "reply_budget", ttdm_render_budget(&d->budget));
    if (!specific && d && d->message[0])
        specific = d->message;
    ttdm_http_resp_error(resp, ttdm_err_http_status(err), ttdm_err_code(err),
                         specific ? specific : ttdm_err_message(err), extra);
}
