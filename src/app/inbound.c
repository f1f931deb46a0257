/* inbound.c -- a TikTok webhook becomes durable messages: verify, parse, fetch media, store. */
#include <stdio.h>
#include <string.h>

#include "app/internal.h"
#include "tiktok/client.h"
#include "tiktok/webhook.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_CHANNELS_PER_ACCOUNT 16

/*
 * Fetches an inbound image before the message is stored, so an acknowledged image is never
 * lost. A transient failure asks TikTok to deliver again (503); a definite one stores the
 * message without its bytes, because TikTok would only fail the same way again.
 */
static enum ttdm_err fetch_image(struct ttdm_app *app, const struct ttdm_channel *ch,
                                 const struct ttdm_webhook_event *ev, char *path, size_t path_size,
                                 char *mime, size_t mime_size, int64_t *size,
                                 struct ttdm_err_detail *detail)
{
    struct ttdm_tiktok_media media = {0};
    struct ttdm_tiktok_result res;
    enum ttdm_image_format fmt;
    char token[TTDM_TOKEN_MAX];
    enum ttdm_err rc;

    ttdm_app_token_open(app, ch->access_token, token, sizeof(token)); /* encrypted at rest */
    rc = ttdm_tiktok_download_media(ttdm_app_tiktok(app), token, ch->business_id,
                                    ev->conversation_id, ev->message_id, ev->media_id, "IMAGE",
                                    app->rules.image_max_bytes * 4, &media, &res);
    if (rc == TTDM_ERR_TIKTOK_UNAVAILABLE) {
        snprintf(detail->message, sizeof(detail->message),
                 "The image of message %s could not be fetched from TikTok yet (%s); deliver "
                 "the webhook again.",
                 ev->message_id, res.tiktok_message);
        return rc;
    }
    if (rc) {
        LOG_WARN("inbound", "channel=%lld message=%s: image not fetched: %s", (long long)ch->id,
                 ev->message_id, res.tiktok_message);
        if (rc == TTDM_ERR_TOKEN_EXPIRED) /* refresh, or reconnect_required */
            ttdm_app_token_expired(app, ch->workspace_id, ch->id, NULL, 0);
        return TTDM_OK;
    }
    fmt = ttdm_policy_sniff_image((const unsigned char *)media.data, media.len);
    rc = ttdm_app_media_save(app, (const unsigned char *)media.data, media.len, fmt, path,
                             path_size);
    if (rc == TTDM_OK) {
        ttdm_strlcpy(mime, fmt ? ttdm_image_format_mime(fmt) : media.content_type, mime_size);
        *size = (int64_t)media.len;
    }
    ttdm_tiktok_media_cleanup(&media);
    return rc;
}

/* TikTok's echo of a message this server sent through the API. */
static bool is_our_api_echo(const struct ttdm_webhook_event *ev)
{
    return ev->kind != TTDM_WEBHOOK_RECEIVE_MSG && strcmp(ev->source, "API") == 0;
}

/* The store's view of a message event for one channel; strings borrow from `ev`. */
static void build_inbound(int64_t channel_id, const struct ttdm_webhook_event *ev,
                          struct ttdm_inbound *in)
{
    bool from_customer = ev->kind == TTDM_WEBHOOK_RECEIVE_MSG;
    bool our_api_echo = is_our_api_echo(ev);

    memset(in, 0, sizeof(*in));
    in->channel_id = channel_id;
    ttdm_strlcpy(in->tiktok_conversation_id, ev->conversation_id,
                 sizeof(in->tiktok_conversation_id));
    ttdm_strlcpy(in->tiktok_message_id, ev->message_id, sizeof(in->tiktok_message_id));
    in->direction = from_customer ? TTDM_DIR_CUSTOMER : TTDM_DIR_BUSINESS;
    in->source = from_customer ? TTDM_SOURCE_CUSTOMER
                               : (our_api_echo ? TTDM_SOURCE_AGENT : TTDM_SOURCE_TIKTOK_APP);
    in->type = ttdm_webhook_msg_type(ev->type);
    in->text = ev->text;
    in->text_len = ev->text_len;
    in->share_url = ev->embed_url[0] ? ev->embed_url : NULL;
    in->raw_type = ev->type;
    ttdm_strlcpy(in->customer_user_id, ev->unique_identifier, sizeof(in->customer_user_id));
    ttdm_strlcpy(in->customer_username, from_customer ? ev->from : ev->to,
                 sizeof(in->customer_username));
    ttdm_strlcpy(in->customer_region, ev->customer_region, sizeof(in->customer_region));
    in->timestamp_ms = ev->timestamp_ms;
    in->received_at = ttdm_clock_now_ms();
}

/* Images are fetched from TikTok before storing, except our own sends (already on disk). */
static bool needs_fetch(const struct ttdm_webhook_event *ev)
{
    return ttdm_webhook_msg_type(ev->type) == TTDM_MSG_IMAGE && !is_our_api_echo(ev) &&
           ev->media_id[0];
}

/* Tells live subscribers about a newly stored message (and the auto-reply it queued). */
static void publish_stored(struct ttdm_app *app, int64_t workspace_id, int64_t channel_id,
                           const struct ttdm_inbound_result *out)
{
    if (out->duplicate)
        return;
    ttdm_app_publish_message(app, workspace_id, channel_id, out->conversation_id, out->message_id);
    if (out->auto_reply_id)
        ttdm_app_publish_message(app, workspace_id, channel_id, out->conversation_id,
                                 out->auto_reply_id);
}

static enum ttdm_err ingest_message(struct ttdm_app *app, const struct ttdm_channel *ch,
                                    const struct ttdm_webhook_event *ev,
                                    struct ttdm_err_detail *detail)
{
    struct ttdm_inbound in;
    struct ttdm_inbound_result out;
    char path[TTDM_PATH_MAX] = "", mime[64] = "";
    int64_t size = 0;
    enum ttdm_err rc;

    build_inbound(ch->id, ev, &in);
    if (needs_fetch(ev)) {
        rc = fetch_image(app, ch, ev, path, sizeof(path), mime, sizeof(mime), &size, detail);
        if (rc)
            return rc;
        if (path[0]) {
            in.media_path = path;
            in.media_mime = mime;
            in.media_size = size;
        }
    }
    rc = ttdm_store_record_inbound(app->store, &in, &out);
    if (rc)
        return rc;
    publish_stored(app, ch->workspace_id, ch->id, &out);
    LOG_DEBUG("inbound", "channel=%lld conversation=%lld message=%lld %s%s", (long long)ch->id,
              (long long)out.conversation_id, (long long)out.message_id,
              out.duplicate ? "duplicate " : "", ev->event);
    return TTDM_OK;
}

/* An event waiting for its commit; freed when the store reports it durable. */
struct pending_ingest {
    struct pending_ingest *next; /* in app->ingest_pool while unused */
    struct ttdm_app *app;
    int64_t workspace_id;
    struct ttdm_webhook_event ev;
    struct ttdm_inbound in;
    ttdm_app_ingest_done_fn done;
    void *ud;
};

/* Enough for every connection of a busy server to have a webhook waiting for its commit. */
#define INGEST_POOL_MAX 256

/*
 * A webhook's state until its commit: about 5 KiB, allocated on the event thread and done on
 * the writer. Reusing them avoids a large allocation per webhook (glibc consolidates its
 * small free chunks for each) and freeing memory on another thread than the one that
 * allocated it. Not zeroed: the parser and build_inbound initialise what they fill.
 */
static struct pending_ingest *pending_get(struct ttdm_app *app)
{
    struct pending_ingest *p;

    pthread_mutex_lock(&app->ingest_pool_lock);
    p = app->ingest_pool;
    if (p) {
        app->ingest_pool = p->next;
        app->ingest_pool_n--;
    }
    pthread_mutex_unlock(&app->ingest_pool_lock);
    if (!p)
        p = ttdm_malloc(sizeof(*p));
    p->next = NULL;
    return p;
}

static void pending_put(struct ttdm_app *app, struct pending_ingest *p)
{
    ttdm_webhook_event_cleanup(&p->ev);
    pthread_mutex_lock(&app->ingest_pool_lock);
    if (app->ingest_pool_n < INGEST_POOL_MAX) {
        p->next = app->ingest_pool;
        app->ingest_pool = p;
        app->ingest_pool_n++;
        p = NULL;
    }
    pthread_mutex_unlock(&app->ingest_pool_lock);
    ttdm_free(p);
}

void ttdm_app_ingest_pool_free(struct ttdm_app *app)
{
    struct pending_ingest *p = app->ingest_pool, *next;
    for (; p; p = next) {
        next = p->next;
        ttdm_free(p);
    }
    app->ingest_pool = NULL;
    app->ingest_pool_n = 0;
}

static void on_stored(void *ud, enum ttdm_err rc, const struct ttdm_inbound_result *res)
{
    struct pending_ingest *p = ud;
    struct ttdm_app *app = p->app;
    if (rc == TTDM_OK && res)
        publish_stored(app, p->workspace_id, p->in.channel_id, res);
    p->done(p->ud, rc);
    pending_put(app, p);
}

/* Queues the event's durable write; the answer waits for the commit. */
static enum ttdm_err queue_stored(struct ttdm_app *app, struct pending_ingest *p,
                                  int64_t channel_id, int64_t workspace_id,
                                  ttdm_app_ingest_done_fn done, void *ud)
{
    p->done = done;
    p->ud = ud;
    p->app = app;
    p->workspace_id = workspace_id;
    build_inbound(channel_id, &p->ev, &p->in);
    return ttdm_store_record_inbound_async(app->store, &p->in, on_stored, p);
}

/* A message that needs nothing but a durable write (no image to fetch, not a receipt). */
static bool write_only(const struct ttdm_webhook_event *ev)
{
    return ev->kind != TTDM_WEBHOOK_MARK_READ && !needs_fetch(ev);
}

enum ttdm_err ttdm_app_ingest_webhook_async(struct ttdm_app *app, const char *signature_header,
                                            const char *body, size_t body_len,
                                            struct ttdm_err_detail *detail,
                                            ttdm_app_ingest_done_fn done, void *ud, bool may_block,
                                            enum ttdm_ingest_state *state)
{
    struct pending_ingest *p;
    struct ttdm_channel channels[MAX_CHANNELS_PER_ACCOUNT];
    size_t n = 0;
    int64_t channel_id, workspace_id, checked_ms;
    uint64_t gen;
    enum ttdm_err rc;

    *state = TTDM_INGEST_DONE;
    memset(detail, 0, sizeof(*detail));
    rc = ttdm_webhook_verify_key(signature_header, body, body_len, &app->webhook_key,
                                 ttdm_clock_now_ms() / 1000, app->cfg.webhook_tolerance_s);
    if (rc) {
        snprintf(detail->message, sizeof(detail->message), "%s",
                 rc == TTDM_ERR_STALE_SIGNATURE
                     ? "The TikTok-Signature timestamp is too far from now; the webhook was "
                       "refused and nothing was stored."
                     : "The TikTok-Signature header is missing or does not match the body; the "
                       "webhook was refused and nothing was stored.");
        return rc;
    }
    p = pending_get(app);
    rc = ttdm_webhook_parse(body, body_len, &p->ev, detail->message, sizeof(detail->message));
    if (rc)
        goto done;
    if (p->ev.kind == TTDM_WEBHOOK_OTHER) {
        LOG_DEBUG("inbound", "ignoring event %s", p->ev.event);
        goto done;
    }
    /*
     * The hot path -- one known channel, a message that needs nothing but a durable write --
     * is queued to the store and answered when its group commit is on disk, without holding
     * a thread and without reading the database. Read receipts, images, accounts connected
     * in several workspaces and accounts not seen lately take the blocking path.
     */
    if (done && write_only(&p->ev) &&
        ttdm_lcache_get(&app->routes, p->ev.business_id, &channel_id, &workspace_id)) {
        rc = queue_stored(app, p, channel_id, workspace_id, done, ud);
        if (rc == TTDM_OK) {
            *state = TTDM_INGEST_PENDING;
            return TTDM_OK;
        }
        goto done;
    }
    if (!may_block) {
        *state = TTDM_INGEST_BLOCKS;
        goto done;
    }
    gen = ttdm_lcache_gen(&app->routes);
    checked_ms = ttdm_clock_mono_ms();
    rc = ttdm_store_channels_by_business(app->store, p->ev.business_id, channels,
                                         MAX_CHANNELS_PER_ACCOUNT, &n);
    if (rc)
        goto done;
    if (n == 0) {
        /* Not ours (any more): answering 200 stops TikTok from retrying for 72 hours. */
        LOG_INFO("inbound", "event %s for an account that is not connected; ignored", p->ev.event);
        goto done;
    }
    if (n == 1) /* the hot path's answer from now on, for a while */
        ttdm_lcache_put(&app->routes, gen, checked_ms, channels[0].business_id, channels[0].id,
                        channels[0].workspace_id);
    if (done && n == 1 && write_only(&p->ev)) {
        rc = queue_stored(app, p, channels[0].id, channels[0].workspace_id, done, ud);
        if (rc == TTDM_OK) {
            *state = TTDM_INGEST_PENDING;
            return TTDM_OK;
        }
        goto done;
    }
    for (size_t i = 0; i < n && rc == TTDM_OK; i++) {
        if (p->ev.kind == TTDM_WEBHOOK_MARK_READ) {
            int marked = 0;
            rc = ttdm_store_mark_read(app->store, channels[i].id, p->ev.conversation_id,
                                      p->ev.last_read_timestamp_ms, &marked);
            if (rc == TTDM_OK && marked > 0)
                ttdm_app_publish_conversation(app, channels[i].workspace_id, channels[i].id, 0);
        } else {
            rc = ingest_message(app, &channels[i], &p->ev, detail);
        }
    }
done:
    pending_put(app, p);
    return rc;
}

enum ttdm_err ttdm_app_ingest_webhook(struct ttdm_app *app, const char *signature_header,
                                      const char *body, size_t body_len,
                                      struct ttdm_err_detail *detail)
{
    enum ttdm_ingest_state state;
    return ttdm_app_ingest_webhook_async(app, signature_header, body, body_len, detail, NULL, NULL,
                                         true, &state);
}
