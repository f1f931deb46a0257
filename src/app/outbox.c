/* outbox.c -- workers that send queued messages to TikTok, retrying what may still succeed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/internal.h"
#include "tiktok/client.h"
#include "util/httpc.h"
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

/* What a sent message needs once its mark_sent is committed. */
struct sent_note {
    struct ttdm_app *app;
    int64_t workspace_id, channel_id, conversation_id, message_id;
};

/* On the writer thread: the message is recorded as sent; tell live subscribers. */
static void on_marked_sent(void *ud, enum ttdm_err rc)
{
    struct sent_note *n = ud;

    if (rc == TTDM_OK)
        ttdm_app_publish_message(n->app, n->workspace_id, n->channel_id, n->conversation_id,
                                 n->message_id);
    else /* still leased: sent again once the lease ends, and TikTok's echo merges */
        LOG_WARN("outbox",
                 "message=%lld sent but not recorded (%s); it is retried after its "
                 "lease",
                 (long long)n->message_id, ttdm_err_code(rc));
    ttdm_free(n);
}

/*
 * TikTok accepted: recorded without waiting for the commit, so the sender goes on with the
 * next message. A crash before the commit re-sends after the lease, as it would have with a
 * wait (the window is one commit wide).
 */
static void mark_sent(struct ttdm_app *app, const struct ttdm_outbox_item *it,
                      const char *message_id)
{
    struct sent_note *n = ttdm_calloc(1, sizeof(*n));
    enum ttdm_err rc;

    *n = (struct sent_note){app, it->workspace_id, it->msg.channel_id, it->msg.conversation_id,
                            it->msg.id};
    rc = ttdm_store_mark_sent_async(app->store, it->msg.id, message_id, ttdm_clock_now_ms(),
                                    on_marked_sent, n);
    if (rc)
        on_marked_sent(n, rc);
}

/*
 * What becomes of an attempt: TikTok's answer `rc` (res, message_id) for the message. A
 * 40102 is refreshed and sent again here, so this may block: workers only.
 */
static void conclude(struct ttdm_app *app, struct ttdm_outbox_item *it, enum ttdm_err rc,
                     struct ttdm_tiktok_result *res, char message_id[TTDM_ID_MAX])
{
    char reason[TTDM_ERROR_TEXT_MAX];

    if (rc == TTDM_ERR_TOKEN_EXPIRED) {
        /* Refresh once and send again before declaring the channel reconnect_required. */
        enum ttdm_err refreshed = ttdm_app_token_expired(
            app, it->workspace_id, it->msg.channel_id, it->access_token, sizeof(it->access_token));
        if (refreshed == TTDM_OK) {
            memset(res, 0, sizeof(*res));
            rc = send_item(app, it, message_id, res);
        } else if (refreshed == TTDM_ERR_TIKTOK_UNAVAILABLE) {
            rc = refreshed;
        }
    }
    if (rc == TTDM_OK) {
        mark_sent(app, it, message_id);
        LOG_DEBUG("outbox", "message=%lld sent as %s", (long long)it->msg.id, message_id);
        return;
    }
    tiktok_reason(rc, res, reason, sizeof(reason));
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
                     (long long)it->msg.id, it->msg.attempts, res->tiktok_message,
                     (long long)delay);
            ttdm_store_schedule_retry(app->store, it->msg.id, ttdm_clock_now_ms() + delay, reason);
            publish(app, it);
            return;
        }
        /* Out of attempts: the reservation stays unless TikTok surely did not take it. */
        fail(app, it, rc, res->tiktok_code, reason, !res->uncertain);
        return;
    }
    fail(app, it, rc, res->tiktok_code, reason, true);
}

/* One attempt from start to end, on a worker: images, and a channel that needs reconnecting. */
static void process(struct ttdm_app *app, struct ttdm_outbox_item *it)
{
    struct ttdm_tiktok_result res;
    char message_id[TTDM_ID_MAX] = "";
    enum ttdm_err rc;

    if (it->channel_status == TTDM_CHANNEL_RECONNECT_REQUIRED) {
        fail(app, it, TTDM_ERR_TOKEN_EXPIRED, 40102, "[40102] the access token has expired", true);
        return;
    }
    ttdm_app_token_open_inplace(app, it->access_token, sizeof(it->access_token));
    memset(&res, 0, sizeof(res));
    rc = send_item(app, it, message_id, &res);
    conclude(app, it, rc, &res, message_id);
}

/*
 * The queue: one claimer leases due messages in batches; a reservation hands over the
 * message it leased itself (ttdm_app_outbox_take_leased). Text messages are sent by one
 * driver thread, many at once over one curl multi handle: it wakes once for all the
 * answers that are ready, instead of a thread per message waking for each. Images, and
 * every send TikTok did not accept (retries, the token refresh of a 40102), go to a few
 * worker threads, which may block. The queue is bounded, so no more is leased than can be
 * sent long before the lease ends.
 */
struct outbox_entry {
    struct ttdm_outbox_item it;
    /* a text send in flight, then its answer for a worker */
    size_t slot;
    bool driver; /* taken by the driver: counts in outbox_driver_held until done */
    struct ttdm_tiktok_pending *pending;
    enum ttdm_err rc;
    struct ttdm_tiktok_result res;
    char message_id[TTDM_ID_MAX];
    struct ttdm_app *app;
    struct outbox_entry *next;
};

static size_t queue_cap(const struct ttdm_app *app)
{
    size_t batch = (size_t)app->cfg.outbox_batch, inflight = (size_t)app->cfg.outbox_inflight;
    return 2 * batch > 2 * inflight ? 2 * batch : 2 * inflight;
}

/* Sent by the driver: a text, to a channel that needs no reconnect. */
static bool for_driver(const struct ttdm_outbox_item *it)
{
    return it->msg.type == TTDM_MSG_TEXT && it->channel_status != TTDM_CHANNEL_RECONNECT_REQUIRED;
}

/* Queued messages for the driver (driver true) or for the workers. Under the lock. */
static size_t queued_for(const struct ttdm_app *app, bool driver)
{
    return driver ? app->outbox_queued - app->outbox_queued_workers : app->outbox_queued_workers;
}

/*
 * Queues a leased message at the end, taking its heap parts (*it is left empty). Returns
 * whether it is the driver's. Under the lock.
 */
static bool queue_append(struct ttdm_app *app, struct ttdm_outbox_item *it)
{
    struct outbox_entry *e = ttdm_calloc(1, sizeof(*e));

    e->it = *it;
    memset(it, 0, sizeof(*it));
    if (app->outbox_tail)
        app->outbox_tail->next = e;
    else
        app->outbox_head = e;
    app->outbox_tail = e;
    app->outbox_queued++;
    if (!for_driver(&e->it))
        app->outbox_queued_workers++;
    return for_driver(&e->it);
}

/* Wakes whoever may take something now: the driver, the workers. Under the lock. */
static void outbox_notify(struct ttdm_app *app, bool driver, bool workers)
{
    if (workers)
        pthread_cond_broadcast(&app->outbox_ready);
    /* A driver that is not waiting looks at the queue before it waits again: no system
     * call for it (replies arrive by thousands a second, mostly while it is busy). */
    if (driver && app->outbox_multi && app->outbox_driver_waiting) {
        app->outbox_driver_waiting = false;
        ttdm_httpc_multi_wakeup(app->outbox_multi);
    }
}

static void deadline_in(int64_t ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    ts->tv_sec += ms / 1000 + ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

static void *claimer_main(void *arg)
{
    struct ttdm_app *app = arg;
    size_t batch = (size_t)app->cfg.outbox_batch, cap = queue_cap(app);
    struct ttdm_outbox_item *items = ttdm_calloc(batch, sizeof(*items));

    pthread_setname_np(pthread_self(), "ttdm-claimer");
    pthread_mutex_lock(&app->outbox_lock);
    for (;;) {
        size_t want, n = 0, texts = 0;

        /* Wait for a kick (or the poll for due retries) and for room in the queue. */
        while (!app->outbox_stopping && (!app->outbox_kicked || app->outbox_queued >= cap)) {
            struct timespec ts;
            if (app->outbox_queued >= cap) {
                pthread_cond_wait(&app->outbox_cond, &app->outbox_lock);
                continue;
            }
            deadline_in(app->cfg.outbox_poll_ms, &ts);
            if (pthread_cond_timedwait(&app->outbox_cond, &app->outbox_lock, &ts) == ETIMEDOUT)
                app->outbox_kicked = true;
        }
        if (app->outbox_stopping)
            break;
        app->outbox_kicked = false;
        want = cap - app->outbox_queued < batch ? cap - app->outbox_queued : batch;
        pthread_mutex_unlock(&app->outbox_lock);

        if (ttdm_store_claim_outbox(app->store, ttdm_clock_now_ms(), app->cfg.outbox_lease_ms,
                                    items, want, &n))
            n = 0;

        pthread_mutex_lock(&app->outbox_lock);
        for (size_t i = 0; i < n; i++)
            texts += queue_append(app, &items[i]);
        if (n > 0)
            outbox_notify(app, texts > 0, texts < n);
        if (n == want)
            app->outbox_kicked = true; /* there may be more due */
    }
    app->outbox_claimer_done = true;
    outbox_notify(app, true, true);
    pthread_mutex_unlock(&app->outbox_lock);
    ttdm_free(items);
    return NULL;
}

/* Whether a message of this conversation is being sent now. */
static bool conversation_busy(const struct ttdm_app *app, int64_t conversation_id)
{
    for (size_t i = 0; i < app->n_outbox_busy; i++) {
        if (app->outbox_busy[i] == conversation_id)
            return true;
    }
    return false;
}

/* A free busy slot, or n_outbox_busy when none (the driver and the workers hold at most
 * outbox_inflight + outbox_workers, so there always is one). */
static size_t free_slot(const struct ttdm_app *app)
{
    size_t slot = 0;
    while (slot < app->n_outbox_busy && app->outbox_busy[slot] != 0)
        slot++;
    return slot;
}

/* Conversations passed over in one look at the queue, at most. */
#define PASSED_MAX 256

/*
 * Unlinks the first queued message the caller sends (the driver: texts; a worker: the
 * rest) whose conversation has nothing in flight and nothing queued before it, or returns
 * NULL. A conversation's messages thus reach TikTok one after the other, in their order,
 * whoever sends them (TikTok stamps each when it accepts it). Under the lock.
 */
static struct outbox_entry *take_next(struct ttdm_app *app, bool driver)
{
    struct outbox_entry *prev = NULL;
    int64_t passed[PASSED_MAX]; /* conversations of the messages passed over */
    size_t n_passed = 0, slot = free_slot(app);

    if (slot == app->n_outbox_busy || queued_for(app, driver) == 0)
        return NULL;
    for (struct outbox_entry *e = app->outbox_head; e; prev = e, e = e->next) {
        int64_t conv = e->it.msg.conversation_id;
        bool held = false, seen = false;
        for (size_t i = 0; i < n_passed && !seen; i++)
            seen = passed[i] == conv;
        held = seen || for_driver(&e->it) != driver || conversation_busy(app, conv);
        if (held) {
            if (seen)
                continue;
            if (n_passed == PASSED_MAX)
                return NULL; /* far enough: the rest waits for the next look */
            passed[n_passed++] = conv;
            continue;
        }
        if (prev)
            prev->next = e->next;
        else
            app->outbox_head = e->next;
        if (app->outbox_tail == e)
            app->outbox_tail = prev;
        if (app->outbox_queued-- == queue_cap(app))
            pthread_cond_signal(&app->outbox_cond); /* room again for the claimer */
        if (!driver)
            app->outbox_queued_workers--;
        app->outbox_busy[slot] = conv;
        e->slot = slot;
        e->driver = driver;
        if (driver)
            app->outbox_driver_held++;
        return e;
    }
    return NULL;
}

/* The conversation may go on: whoever passed over its next message may take it now. */
static void entry_done(struct ttdm_app *app, struct outbox_entry *e, bool by_driver)
{
    app->outbox_busy[e->slot] = 0;
    if (e->driver)
        app->outbox_driver_held--;
    outbox_notify(app, !by_driver, queued_for(app, false) > 0);
}

/*
 * A message whose lease ends before its send could be over is left to the claimer, which
 * leases it again once this lease has ended: sending it now could make it go twice.
 */
#define LEASE_MARGIN_MS 1000

static bool lease_left(const struct outbox_entry *e)
{
    if (ttdm_clock_now_ms() + LEASE_MARGIN_MS < e->it.lease_until)
        return true;
    LOG_WARN("outbox",
             "message=%lld waited in the queue until its lease ended; it is sent "
             "once it is leased again",
             (long long)e->it.msg.id);
    return false;
}

static void entry_free(struct outbox_entry *e)
{
    ttdm_outbox_items_cleanup(&e->it, 1);
    ttdm_free(e);
}

/* A send TikTok did not accept goes to a worker, which decides what becomes of it. */
static void hand_to_worker(struct ttdm_app *app, struct outbox_entry *e)
{
    pthread_mutex_lock(&app->outbox_lock);
    e->next = NULL;
    if (app->outbox_failed_tail)
        app->outbox_failed_tail->next = e;
    else
        app->outbox_failed_head = e;
    app->outbox_failed_tail = e;
    pthread_cond_signal(&app->outbox_ready);
    pthread_mutex_unlock(&app->outbox_lock);
}

/* On the driver thread: TikTok answered a text send (or the transfer failed). */
static void on_text_sent(void *ud, int transport_rc, const struct ttdm_httpc_resp *hr)
{
    struct outbox_entry *e = ud;
    struct ttdm_app *app = e->app;

    e->rc = ttdm_tiktok_send_finish(ttdm_app_tiktok(app), e->pending, transport_rc, hr,
                                    e->message_id, &e->res);
    e->pending = NULL;
    app->outbox_inflight--;
    if (e->rc != TTDM_OK) {
        hand_to_worker(app, e);
        return;
    }
    mark_sent(app, &e->it, e->message_id);
    LOG_DEBUG("outbox", "message=%lld sent as %s", (long long)e->it.msg.id, e->message_id);
    pthread_mutex_lock(&app->outbox_lock);
    entry_done(app, e, true);
    pthread_mutex_unlock(&app->outbox_lock);
    entry_free(e);
}

/* On the driver thread: starts the transfer of a text message. */
static void start_text(struct ttdm_app *app, struct outbox_entry *e)
{
    struct ttdm_httpc_req req;
    const struct ttdm_message *m = &e->it.msg;

    if (!lease_left(e)) {
        pthread_mutex_lock(&app->outbox_lock);
        entry_done(app, e, true);
        pthread_mutex_unlock(&app->outbox_lock);
        entry_free(e);
        return;
    }
    ttdm_app_token_open_inplace(app, e->it.access_token, sizeof(e->it.access_token));
    e->app = app;
    e->pending = ttdm_tiktok_send_text_begin(ttdm_app_tiktok(app), e->it.access_token,
                                             e->it.business_id, e->it.tiktok_conversation_id,
                                             m->text ? m->text : "", &req, &e->res);
    if (!e->pending) {
        e->rc = TTDM_ERR_BAD_REQUEST;
        hand_to_worker(app, e);
        return;
    }
    if (ttdm_httpc_multi_add(app->outbox_multi, &req, on_text_sent, e)) {
        ttdm_tiktok_send_abandon(e->pending);
        e->pending = NULL;
        e->rc = TTDM_ERR_TIKTOK_UNAVAILABLE; /* nothing was sent: retried */
        snprintf(e->res.tiktok_message, sizeof(e->res.tiktok_message),
                 "cannot start a request to TikTok");
        hand_to_worker(app, e);
        return;
    }
    app->outbox_inflight++;
}

/* Sends the queued text messages; when stopping, drains the queue and the transfers first. */
static void *driver_main(void *arg)
{
    struct ttdm_app *app = arg;
    size_t max = (size_t)app->cfg.outbox_inflight;

    pthread_setname_np(pthread_self(), "ttdm-driver");
    pthread_mutex_lock(&app->outbox_lock);
    for (;;) {
        struct outbox_entry *e;
        bool idle;

        /* Failed sends waiting for a worker count too: they hold their conversation. */
        while (app->outbox_driver_held < max && (e = take_next(app, true)) != NULL) {
            pthread_mutex_unlock(&app->outbox_lock);
            start_text(app, e);
            pthread_mutex_lock(&app->outbox_lock);
        }
        idle = app->outbox_inflight == 0;
        if (idle && app->outbox_claimer_done && queued_for(app, true) == 0)
            break;
        /* Answers wake it, and so does news in the queue (outbox_notify): it has looked at
         * the queue under the lock, so news from now on wakes it. */
        app->outbox_driver_waiting = true;
        pthread_mutex_unlock(&app->outbox_lock);
        ttdm_httpc_multi_run(app->outbox_multi, idle ? (int)app->cfg.outbox_poll_ms : 1000);
        pthread_mutex_lock(&app->outbox_lock);
        app->outbox_driver_waiting = false;
    }
    app->outbox_driver_done = true;
    pthread_cond_broadcast(&app->outbox_ready);
    pthread_mutex_unlock(&app->outbox_lock);
    return NULL;
}

/* Images, channels to reconnect, and sends TikTok did not accept; when stopping, drains. */
static void *worker_main(void *arg)
{
    struct ttdm_app *app = arg;

    pthread_setname_np(pthread_self(), "ttdm-sender");
    pthread_mutex_lock(&app->outbox_lock);
    for (;;) {
        struct outbox_entry *e = app->outbox_failed_head;
        if (e) {
            app->outbox_failed_head = e->next;
            if (!app->outbox_failed_head)
                app->outbox_failed_tail = NULL;
            pthread_mutex_unlock(&app->outbox_lock);
            conclude(app, &e->it, e->rc, &e->res, e->message_id);
        } else if ((e = take_next(app, false)) != NULL) {
            pthread_mutex_unlock(&app->outbox_lock);
            if (lease_left(e))
                process(app, &e->it);
        } else if (app->outbox_claimer_done && app->outbox_driver_done && !app->outbox_head) {
            break;
        } else {
            pthread_cond_wait(&app->outbox_ready, &app->outbox_lock);
            continue;
        }
        pthread_mutex_lock(&app->outbox_lock);
        entry_done(app, e, false);
        pthread_mutex_unlock(&app->outbox_lock);
        entry_free(e);
        pthread_mutex_lock(&app->outbox_lock);
    }
    pthread_cond_broadcast(&app->outbox_ready); /* the next worker waiting for the end */
    pthread_mutex_unlock(&app->outbox_lock);
    return NULL;
}

void ttdm_app_outbox_take_leased(struct ttdm_app *app, struct ttdm_outbox_item *it)
{
    if (it->msg.id != 0 && app->outbox_inited) {
        pthread_mutex_lock(&app->outbox_lock);
        /* Not once stopping: the senders may have ended, and the item would stay queued. */
        if (!app->outbox_stopping) {
            /* Behind whatever is queued: a conversation's older messages go first. The
             * queue may pass its cap by the replies in flight; the claimer waits for room. */
            bool text = queue_append(app, it);
            outbox_notify(app, text, !text);
            pthread_mutex_unlock(&app->outbox_lock);
            return;
        }
        pthread_mutex_unlock(&app->outbox_lock);
    }
    ttdm_outbox_items_cleanup(it, 1);
    memset(it, 0, sizeof(*it));
    ttdm_app_outbox_kick(app);
}

bool ttdm_app_outbox_has_room(struct ttdm_app *app)
{
    bool room;

    if (!app->outbox_inited)
        return false;
    pthread_mutex_lock(&app->outbox_lock);
    room = !app->outbox_stopping && app->outbox_queued < queue_cap(app);
    pthread_mutex_unlock(&app->outbox_lock);
    return room;
}

void ttdm_app_outbox_kick(struct ttdm_app *app)
{
    pthread_mutex_lock(&app->outbox_lock);
    if (!app->outbox_kicked) {
        app->outbox_kicked = true;
        pthread_cond_signal(&app->outbox_cond);
    }
    pthread_mutex_unlock(&app->outbox_lock);
}

enum ttdm_err ttdm_app_outbox_start(struct ttdm_app *app)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&app->outbox_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&app->outbox_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&app->outbox_ready, NULL);
    app->outbox_inited = true;
    app->outbox_kicked = true; /* look once at start: messages queued before a restart */
    app->outbox_multi = ttdm_httpc_multi_new((long)app->cfg.outbox_inflight);
    app->n_outbox_threads = (unsigned)app->cfg.outbox_workers;
    app->outbox_threads = ttdm_calloc(app->n_outbox_threads, sizeof(pthread_t));
    app->n_outbox_busy = (size_t)app->cfg.outbox_inflight + app->n_outbox_threads;
    app->outbox_busy = ttdm_calloc(app->n_outbox_busy, sizeof(int64_t));
    if (pthread_create(&app->outbox_claimer, NULL, claimer_main, app)) {
        app->n_outbox_threads = 0;
        app->outbox_claimer_done = true;
        app->outbox_driver_done = true;
        return TTDM_ERR_INTERNAL;
    }
    app->outbox_claimer_started = true;
    if (pthread_create(&app->outbox_driver, NULL, driver_main, app)) {
        app->n_outbox_threads = 0;
        app->outbox_driver_done = true;
        return TTDM_ERR_INTERNAL;
    }
    app->outbox_driver_started = true;
    for (unsigned i = 0; i < app->n_outbox_threads; i++) {
        if (pthread_create(&app->outbox_threads[i], NULL, worker_main, app)) {
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
    if (app->outbox_claimer_started)
        pthread_join(app->outbox_claimer, NULL);
    /* The driver and the workers send what is still queued (it is leased), then end. */
    if (app->outbox_driver_started)
        pthread_join(app->outbox_driver, NULL);
    for (unsigned i = 0; i < app->n_outbox_threads; i++)
        pthread_join(app->outbox_threads[i], NULL);
    ttdm_free(app->outbox_threads);
    app->outbox_threads = NULL;
    ttdm_free(app->outbox_busy);
    app->outbox_busy = NULL;
    ttdm_httpc_multi_free(app->outbox_multi);
    app->outbox_multi = NULL;
}

void ttdm_app_outbox_free(struct ttdm_app *app)
{
    if (!app->outbox_inited)
        return;
    pthread_mutex_destroy(&app->outbox_lock);
    pthread_cond_destroy(&app->outbox_cond);
    pthread_cond_destroy(&app->outbox_ready);
    app->outbox_inited = false;
}
