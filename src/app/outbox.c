/* outbox.c -- workers that send queued messages to TikTok, retrying what may still succeed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/internal.h"
#include "tiktok/client.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define PREVIEW_CHARS 40

void ttdm_app_failure_text(const char *text, const char *reason, char *out, size_t out_size)
{
    char preview[PREVIEW_CHARS * 4 + 8];
    size_t n = 0, chars = 0;

    preview[0] = '\0';
    if (text) {
        /* Cut on a code point boundary so the sentence stays valid UTF-8. */
        while (text[n] && chars < PREVIEW_CHARS) {
            n++;
            while (((unsigned char)text[n] & 0xC0) == 0x80)
                n++;
            chars++;
        }
        ttdm_strlcpy_n(preview, sizeof(preview) - 4, text, n);
        if (text[n])
            memcpy(preview + strlen(preview), "...", 4);
    } else {
        ttdm_strlcpy(preview, "image", sizeof(preview));
    }
    snprintf(out, out_size, "Failed sending %s to customer with error: %s", preview, reason);
}

/* "[40064] You are sending messages too fast. Take a rest." from what TikTok answered. */
static void tiktok_reason(enum ttdm_err rc, const struct ttdm_tiktok_result *res, char *out,
                          size_t out_size)
{
    if (rc == TTDM_ERR_TOKEN_EXPIRED)
        snprintf(out, out_size, "[40102] the access token has expired");
    else if (res->tiktok_code)
        snprintf(out, out_size, "[%d] %s", res->tiktok_code, res->tiktok_message);
    else
        snprintf(out, out_size, "%s",
                 res->tiktok_message[0] ? res->tiktok_message : ttdm_err_message(rc));
}

static enum ttdm_err send_item(struct ttdm_app *app, const struct ttdm_outbox_item *it,
                               char message_id[TTDM_ID_MAX], struct ttdm_tiktok_result *res)
{
    struct ttdm_tiktok_client *c = ttdm_app_tiktok(app);
    const struct ttdm_message *m = &it->msg;
    unsigned char *data = NULL;
    size_t len = 0;
    char media_id[TTDM_ID_MAX];
    enum ttdm_err rc;

    if (m->type == TTDM_MSG_TEXT)
        return ttdm_tiktok_send_text(c, it->access_token, it->business_id,
                                     it->tiktok_conversation_id, m->text ? m->text : "", NULL,
                                     message_id, res);
    rc = ttdm_app_media_load(m->media_path, app->rules.image_max_bytes, &data, &len);
    if (rc) {
        memset(res, 0, sizeof(*res));
        snprintf(res->tiktok_message, sizeof(res->tiktok_message),
                 "the image file of this message is missing");
        return TTDM_ERR_STORAGE;
    }
    rc = ttdm_tiktok_upload_image(c, it->access_token, it->business_id, data, len,
                                  strcmp(m->media_mime, "image/png") == 0 ? "image.png"
                                                                          : "image.jpg",
                                  m->media_mime, media_id, res);
    ttdm_free(data);
    if (rc)
        return rc;
    return ttdm_tiktok_send_image(c, it->access_token, it->business_id, it->tiktok_conversation_id,
                                  media_id, message_id, res);
}

static void publish(struct ttdm_app *app, const struct ttdm_outbox_item *it)
{
    ttdm_app_publish_message(app, it->workspace_id, it->msg.channel_id, it->msg.conversation_id,
                             it->msg.id);
}

static void fail(struct ttdm_app *app, const struct ttdm_outbox_item *it, enum ttdm_err rc,
                 int tiktok_code, const char *reason, bool give_back)
{
    char text[TTDM_ERROR_TEXT_MAX];
    int64_t now = ttdm_clock_now_ms();
    ttdm_app_failure_text(it->msg.type == TTDM_MSG_TEXT ? it->msg.text : NULL, reason, text,
                          sizeof(text));
    LOG_INFO("outbox", "message=%lld failed code=%s tiktok=%d", (long long)it->msg.id,
             ttdm_err_code(rc), tiktok_code);
    ttdm_store_mark_failed(app->store, it->msg.id, rc, tiktok_code, text, give_back, now);
    publish(app, it);
}

/*
 * A worker's claimed batch: TikTok's acceptances are recorded without waiting for each
 * commit, and the worker waits once, for all of them, before claiming again. A crash in
 * between re-sends after the lease, as it would with one commit per message.
 */
struct sent_slot {
    struct sent_batch *batch;
    bool queued; /* mark_sent submitted */
    enum ttdm_err rc;
};

struct sent_batch {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    size_t pending;
};

static void on_marked_sent(void *ud, enum ttdm_err rc)
{
    struct sent_slot *slot = ud;
    struct sent_batch *b = slot->batch;

    pthread_mutex_lock(&b->mu);
    slot->rc = rc;
    if (--b->pending == 0)
        pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

static void mark_sent(struct ttdm_app *app, const struct ttdm_outbox_item *it,
                      const char *message_id, struct sent_slot *slot)
{
    struct sent_batch *b = slot->batch;
    enum ttdm_err rc;

    pthread_mutex_lock(&b->mu);
    b->pending++;
    pthread_mutex_unlock(&b->mu);
    slot->queued = true;
    rc = ttdm_store_mark_sent_async(app->store, it->msg.id, message_id, ttdm_clock_now_ms(),
                                    on_marked_sent, slot);
    if (rc) {
        pthread_mutex_lock(&b->mu);
        b->pending--;
        pthread_mutex_unlock(&b->mu);
        slot->rc = rc;
    }
}

/* Waits for the batch's mark_sent commits, then tells live subscribers. */
static void finish_batch(struct ttdm_app *app, struct sent_batch *b,
                         const struct ttdm_outbox_item *items, struct sent_slot *slots, size_t n)
{
    pthread_mutex_lock(&b->mu);
    while (b->pending > 0)
        pthread_cond_wait(&b->cond, &b->mu);
    pthread_mutex_unlock(&b->mu);
    for (size_t i = 0; i < n; i++) {
        if (!slots[i].queued)
            continue;
        if (slots[i].rc) {
            /* Still leased: sent again once the lease ends, and TikTok's echo merges. */
            LOG_WARN("outbox",
                     "message=%lld sent but not recorded (%s); it is retried after "
                     "its lease",
                     (long long)items[i].msg.id, ttdm_err_code(slots[i].rc));
            continue;
        }
        publish(app, &items[i]);
    }
}

static void process(struct ttdm_app *app, struct ttdm_outbox_item *it, struct sent_slot *slot)
{
    struct ttdm_tiktok_result res;
    char message_id[TTDM_ID_MAX] = "";
    char reason[TTDM_ERROR_TEXT_MAX];
    enum ttdm_err rc;

    if (it->channel_status == TTDM_CHANNEL_RECONNECT_REQUIRED) {
        fail(app, it, TTDM_ERR_TOKEN_EXPIRED, 40102, "[40102] the access token has expired", true);
        return;
    }
    ttdm_app_token_open_inplace(app, it->access_token, sizeof(it->access_token));
    memset(&res, 0, sizeof(res));
    rc = send_item(app, it, message_id, &res);
    if (rc == TTDM_ERR_TOKEN_EXPIRED) {
        /* Refresh once and send again before declaring the channel reconnect_required. */
        enum ttdm_err refreshed = ttdm_app_token_expired(
            app, it->workspace_id, it->msg.channel_id, it->access_token, sizeof(it->access_token));
        if (refreshed == TTDM_OK) {
            memset(&res, 0, sizeof(res));
            rc = send_item(app, it, message_id, &res);
        } else if (refreshed == TTDM_ERR_TIKTOK_UNAVAILABLE) {
            rc = refreshed;
        }
    }
    if (rc == TTDM_OK) {
        mark_sent(app, it, message_id, slot);
        LOG_DEBUG("outbox", "message=%lld sent as %s", (long long)it->msg.id, message_id);
        return;
    }
    tiktok_reason(rc, &res, reason, sizeof(reason));
    if (rc == TTDM_ERR_TOKEN_EXPIRED) {
        ttdm_store_channel_set_status(app->store, it->msg.channel_id,
                                      TTDM_CHANNEL_RECONNECT_REQUIRED);
        ttdm_app_publish_channel(app, it->workspace_id, it->msg.channel_id);
        fail(app, it, rc, 40102, reason, true);
        return;
    }
    if (ttdm_err_is_retryable(rc)) {
        if (it->msg.attempts < app->cfg.outbox_max_attempts) {
            int shift = it->msg.attempts > 20 ? 20 : it->msg.attempts - 1;
            int64_t delay = app->cfg.outbox_retry_base_ms << (shift < 0 ? 0 : shift);
            LOG_INFO("outbox", "message=%lld attempt %d failed (%s), retry in %lld ms",
                     (long long)it->msg.id, it->msg.attempts, res.tiktok_message, (long long)delay);
            ttdm_store_schedule_retry(app->store, it->msg.id, ttdm_clock_now_ms() + delay, reason);
            publish(app, it);
            return;
        }
        /* Out of attempts: the reservation stays unless TikTok surely did not take it. */
        fail(app, it, rc, res.tiktok_code, reason, !res.uncertain);
        return;
    }
    fail(app, it, rc, res.tiktok_code, reason, true);
}

static void *outbox_main(void *arg)
{
    struct ttdm_app *app = arg;
    size_t batch = (size_t)app->cfg.outbox_batch;
    struct ttdm_outbox_item *items = ttdm_calloc(batch, sizeof(*items));
    struct sent_slot *slots = ttdm_calloc(batch, sizeof(*slots));
    struct sent_batch sent;

    pthread_mutex_init(&sent.mu, NULL);
    pthread_cond_init(&sent.cond, NULL);
    sent.pending = 0;

    for (;;) {
        size_t n = 0;
        pthread_mutex_lock(&app->outbox_lock);
        if (!app->outbox_stopping && app->outbox_kicks == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(app->cfg.outbox_poll_ms % 1000) * 1000000L;
            ts.tv_sec += app->cfg.outbox_poll_ms / 1000 + ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&app->outbox_cond, &app->outbox_lock, &ts);
        }
        if (app->outbox_kicks)
            app->outbox_kicks--;
        if (app->outbox_stopping) {
            pthread_mutex_unlock(&app->outbox_lock);
            break;
        }
        pthread_mutex_unlock(&app->outbox_lock);

        if (ttdm_store_claim_outbox(app->store, ttdm_clock_now_ms(), app->cfg.outbox_lease_ms,
                                    items, batch, &n))
            continue;
        for (size_t i = 0; i < n; i++) {
            slots[i] = (struct sent_slot){.batch = &sent};
            process(app, &items[i], &slots[i]);
        }
        finish_batch(app, &sent, items, slots, n);
        ttdm_outbox_items_cleanup(items, n);
        if (n == batch)
            ttdm_app_outbox_kick(app); /* there may be more waiting */
    }
    pthread_cond_destroy(&sent.cond);
    pthread_mutex_destroy(&sent.mu);
    ttdm_free(slots);
    ttdm_free(items);
    return NULL;
}

void ttdm_app_outbox_kick(struct ttdm_app *app)
{
    pthread_mutex_lock(&app->outbox_lock);
    if (app->outbox_kicks < app->n_outbox_threads)
        app->outbox_kicks++;
    pthread_cond_signal(&app->outbox_cond);
    pthread_mutex_unlock(&app->outbox_lock);
}

enum ttdm_err ttdm_app_outbox_start(struct ttdm_app *app)
{
    pthread_condattr_t attr;
    pthread_mutex_init(&app->outbox_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_cond_init(&app->outbox_cond, &attr);
    pthread_condattr_destroy(&attr);
    app->n_outbox_threads = (unsigned)app->cfg.outbox_workers;
    app->outbox_threads = ttdm_calloc(app->n_outbox_threads, sizeof(pthread_t));
    for (unsigned i = 0; i < app->n_outbox_threads; i++) {
        if (pthread_create(&app->outbox_threads[i], NULL, outbox_main, app)) {
            app->n_outbox_threads = i;
            return TTDM_ERR_INTERNAL;
        }
    }
    return TTDM_OK;
}

void ttdm_app_outbox_stop(struct ttdm_app *app)
{
    if (!app->outbox_threads)
        return;
    pthread_mutex_lock(&app->outbox_lock);
    app->outbox_stopping = true;
    pthread_cond_broadcast(&app->outbox_cond);
    pthread_mutex_unlock(&app->outbox_lock);
    for (unsigned i = 0; i < app->n_outbox_threads; i++)
        pthread_join(app->outbox_threads[i], NULL);
    ttdm_free(app->outbox_threads);
    app->outbox_threads = NULL;
    pthread_mutex_destroy(&app->outbox_lock);
    pthread_cond_destroy(&app->outbox_cond);
}
