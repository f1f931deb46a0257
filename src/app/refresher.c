/* refresher.c -- channels stay connected: access tokens refreshed before they expire by a
 * timer, and once more after TikTok answers 40102; a refresh that fails for good asks an
 * admin to reconnect. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/channels.h"
#include "app/internal.h"
#include "tiktok/client.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

/* Why a channel needs a reconnect (channels.status_reason, shown by the API). */
#define REASON_REFRESH_EXPIRED "refresh_token_expired"
#define REASON_REFRESH_FAILED "refresh_failed"
#define REASON_NO_REFRESH "no_refresh_token"

static void count_tiktok_error(struct ttdm_app *app, int64_t channel_id, int code)
{
    char key[16];
    if (code == 0)
        return;
    snprintf(key, sizeof(key), "%d", code);
    ttdm_store_analytics_count(app->store, channel_id, ttdm_clock_now_ms(), "tiktok_error", key, 1);
}

static void require_reconnect(struct ttdm_app *app, const struct ttdm_channel *ch,
                              const char *reason)
{
    LOG_WARN("tokens", "channel=%lld business=%s needs a reconnect: %s", (long long)ch->id,
             ch->business_id, reason);
    ttdm_store_channel_require_reconnect(app->store, ch->id, reason);
}

/*
 * One refresh of `ch` (as read under app->refresh_lock). The new pair is stored with a
 * compare-and-set on the refresh token read, in one transaction.
 */
static enum ttdm_err refresh_locked(struct ttdm_app *app, const struct ttdm_channel *ch,
                                    char *access_out, size_t access_size)
{
    struct ttdm_tiktok_tokens tok;
    struct ttdm_tiktok_result res;
    char refresh[TTDM_TOKEN_MAX], sealed_access[TTDM_TOKEN_MAX], sealed_refresh[TTDM_TOKEN_MAX];
    int64_t now = ttdm_clock_now_ms();
    enum ttdm_err rc;

    memset(&tok, 0, sizeof(tok));
    memset(&res, 0, sizeof(res));
    if (ch->refresh_token[0] == '\0') {
        require_reconnect(app, ch, REASON_NO_REFRESH);
        return TTDM_ERR_TOKEN_EXPIRED;
    }
    if (ch->refresh_expires_at != 0 && now >= ch->refresh_expires_at) {
        require_reconnect(app, ch, REASON_REFRESH_EXPIRED);
        return TTDM_ERR_TOKEN_EXPIRED;
    }
    if (ttdm_app_token_open(app, ch->refresh_token, refresh, sizeof(refresh))) {
        require_reconnect(app, ch, REASON_REFRESH_FAILED);
        return TTDM_ERR_TOKEN_EXPIRED;
    }
    rc = ttdm_tiktok_refresh(ttdm_app_tiktok(app), refresh, &tok, &res);
    sodium_memzero(refresh, sizeof(refresh));
    if (rc == TTDM_ERR_TIKTOK_UNAVAILABLE) {
        LOG_INFO("tokens", "channel=%lld: TikTok could not refresh now (%s); trying later",
                 (long long)ch->id, res.tiktok_message);
        count_tiktok_error(app, ch->id, res.tiktok_code);
        return rc;
    }
    if (rc) {
        /* 40103 expired, 40107 invalid or already rotated, 40101 app credentials...: only a
         * new login helps. */
        count_tiktok_error(app, ch->id, res.tiktok_code);
        require_reconnect(
            app, ch, res.tiktok_code == 40103 ? REASON_REFRESH_EXPIRED : REASON_REFRESH_FAILED);
        LOG_INFO("tokens", "channel=%lld: refresh refused by TikTok [%d] %s", (long long)ch->id,
                 res.tiktok_code, res.tiktok_message);
        return TTDM_ERR_TOKEN_EXPIRED;
    }
    if (ttdm_app_token_seal(app, tok.access_token, sealed_access, sizeof(sealed_access)) ||
        ttdm_app_token_seal(app, tok.refresh_token[0] ? tok.refresh_token : "", sealed_refresh,
                            sizeof(sealed_refresh))) {
        rc = TTDM_ERR_INTERNAL;
        goto done;
    }
    rc = ttdm_store_channel_set_tokens(
        app->store, ch->id, ch->refresh_token, sealed_access,
        sealed_refresh[0] ? sealed_refresh : ch->refresh_token, now + tok.expires_in * 1000,
        tok.refresh_token_expires_in > 0 ? now + tok.refresh_token_expires_in * 1000 : 0);
    if (rc == TTDM_ERR_CONFLICT) {
        /* Another process refreshed between our read and our write; its pair is stored. */
        LOG_WARN("tokens", "channel=%lld: tokens changed during the refresh; keeping the newer",
                 (long long)ch->id);
    }
    if (rc)
        goto done;
    LOG_INFO("tokens", "channel=%lld: access token refreshed, valid %llds", (long long)ch->id,
             (long long)tok.expires_in);
    if (access_out != NULL && ttdm_strlcpy(access_out, tok.access_token, access_size))
        rc = TTDM_ERR_INTERNAL;
done:
    sodium_memzero(&tok, sizeof(tok));
    return rc;
}

enum ttdm_err ttdm_app_channel_refresh(struct ttdm_app *app, int64_t workspace_id,
                                       int64_t channel_id, char *access_out, size_t access_size)
{
    struct ttdm_channel ch;
    enum ttdm_err rc;

    pthread_mutex_lock(&app->refresh_lock);
    rc = ttdm_store_channel_get(app->store, workspace_id, channel_id, &ch);
    if (rc == TTDM_OK && ch.status == TTDM_CHANNEL_RECONNECT_REQUIRED)
        rc = TTDM_ERR_TOKEN_EXPIRED;
    else if (rc == TTDM_OK)
        rc = refresh_locked(app, &ch, access_out, access_size);
    pthread_mutex_unlock(&app->refresh_lock);
    sodium_memzero(&ch, sizeof(ch));
    return rc;
}

enum ttdm_err ttdm_app_token_expired(struct ttdm_app *app, int64_t workspace_id, int64_t channel_id,
                                     char *token, size_t token_size)
{
    struct ttdm_channel ch;
    char stored[TTDM_TOKEN_MAX];
    enum ttdm_err rc;

    pthread_mutex_lock(&app->refresh_lock);
    rc = ttdm_store_channel_get(app->store, workspace_id, channel_id, &ch);
    if (rc)
        goto done;
    if (ch.status == TTDM_CHANNEL_RECONNECT_REQUIRED) {
        rc = TTDM_ERR_TOKEN_EXPIRED;
        goto done;
    }
    /* Another thread may have refreshed since this token was read: use its token. */
    if (token != NULL && ttdm_app_token_open(app, ch.access_token, stored, sizeof(stored)) == 0 &&
        stored[0] && strcmp(stored, token) != 0) {
        rc = ttdm_strlcpy(token, stored, token_size) ? TTDM_ERR_INTERNAL : TTDM_OK;
        goto done;
    }
    rc = refresh_locked(app, &ch, token, token_size);
    if (rc == TTDM_OK) {
        /* The call that met the expired token will now succeed: count TikTok's answer here,
         * since no failed message will carry it. */
        count_tiktok_error(app, channel_id, 40102);
    }
done:
    pthread_mutex_unlock(&app->refresh_lock);
    sodium_memzero(stored, sizeof(stored));
    sodium_memzero(&ch, sizeof(ch));
    return rc;
}

/* ---- The timer --------------------------------------------------------------------------- */

static void refresh_due(struct ttdm_app *app)
{
    struct ttdm_channel *chans = NULL;
    size_t n = 0;
    int64_t ahead = app->cfg.token_refresh_ahead_s * 1000;

    if (ttdm_store_channel_list(app->store, 0, &chans, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        const struct ttdm_channel *ch = &chans[i];
        int64_t now = ttdm_clock_now_ms();
        bool access_due = ch->token_expires_at != 0 && ch->token_expires_at - now <= ahead;
        bool refresh_gone = ch->refresh_expires_at != 0 && now >= ch->refresh_expires_at;

        /* Without a refresh token (a channel connected with a bare access token) nothing can
         * be done ahead of time; TikTok's 40102 will tell when it really expired. */
        if (ch->status != TTDM_CHANNEL_CONNECTED || ch->refresh_token[0] == '\0' ||
            (!access_due && !refresh_gone))
            continue;
        ttdm_app_channel_refresh(app, ch->workspace_id, ch->id, NULL, 0);
    }
    for (size_t i = 0; i < n; i++)
        sodium_memzero(&chans[i], sizeof(chans[i]));
    ttdm_free(chans);
}

static void *refresher_main(void *arg)
{
    struct ttdm_app *app = arg;

    pthread_setname_np(pthread_self(), "ttdm-refresher");
    for (;;) {
        struct timespec ts;
        bool stop;

        refresh_due(app);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += app->cfg.token_refresh_interval_ms / 1000;
        ts.tv_nsec += (long)(app->cfg.token_refresh_interval_ms % 1000) * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&app->refresher_lock);
        while (!app->refresher_stopping &&
               pthread_cond_timedwait(&app->refresher_cond, &app->refresher_lock, &ts) == 0)
            ;
        stop = app->refresher_stopping;
        pthread_mutex_unlock(&app->refresher_lock);
        if (stop)
            break;
    }
    return NULL;
}

enum ttdm_err ttdm_app_refresher_start(struct ttdm_app *app)
{
    if (app->refresher_running)
        return TTDM_OK;
    app->refresher_stopping = false;
    if (pthread_create(&app->refresher_thread, NULL, refresher_main, app))
        return TTDM_ERR_INTERNAL;
    app->refresher_running = true;
    return TTDM_OK;
}

void ttdm_app_refresher_stop(struct ttdm_app *app)
{
    if (!app->refresher_running)
        return;
    pthread_mutex_lock(&app->refresher_lock);
    app->refresher_stopping = true;
    pthread_cond_broadcast(&app->refresher_cond);
    pthread_mutex_unlock(&app->refresher_lock);
    pthread_join(app->refresher_thread, NULL);
    app->refresher_running = false;
}
