/* tiktok.c -- one TikTok client per thread, so each thread keeps its connections alive. */
#include "app/internal.h"
#include "tiktok/client.h"

static void on_thread_exit(void *client)
{
    ttdm_tiktok_client_free(client);
}

void ttdm_app_tiktok_init(struct ttdm_app *app)
{
    if (pthread_key_create(&app->client_key, on_thread_exit) == 0)
        app->client_key_ready = true;
}

void ttdm_app_tiktok_cleanup(struct ttdm_app *app)
{
    if (!app->client_key_ready)
        return;
    /* Threads that used a client have ended (their destructor ran); this one may hold one. */
    on_thread_exit(pthread_getspecific(app->client_key));
    pthread_setspecific(app->client_key, NULL);
    pthread_key_delete(app->client_key);
    app->client_key_ready = false;
}

struct ttdm_tiktok_client *ttdm_app_tiktok(struct ttdm_app *app)
{
    struct ttdm_tiktok_client *c = pthread_getspecific(app->client_key);
    if (!c) {
        struct ttdm_tiktok_config tc = {
            .api_base = app->cfg.tiktok_api_base,
            .auth_base = app->cfg.tiktok_auth_base,
            .app_id = app->cfg.tiktok_app_id,
            .app_secret = app->cfg.tiktok_app_secret,
            .timeout_ms = (long)app->cfg.tiktok_timeout_ms,
        };
        c = ttdm_tiktok_client_new(&tc);
        pthread_setspecific(app->client_key, c);
    }
    return c;
}
