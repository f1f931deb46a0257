/* internal.h -- what the app's own files share; never included outside src/app. */
#ifndef TTDM_APP_INTERNAL_H
#define TTDM_APP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "app/app.h"

struct ttdm_tiktok_client;

struct ttdm_app {
    struct ttdm_config cfg;
    struct ttdm_policy_rules rules;
    struct ttdm_store *store;
    char media_dir[TTDM_PATH_MAX];

    /* TikTok clients are per thread (each keeps its own connections alive). */
    pthread_key_t client_key;
    bool client_key_ready;

    /* Outbox workers. */
    pthread_mutex_t outbox_lock;
    pthread_cond_t outbox_cond;
    bool outbox_stopping;
    unsigned outbox_kicks;
    pthread_t *outbox_threads;
    unsigned n_outbox_threads;
};

/* The calling thread's TikTok client, created on first use and freed when the thread ends. */
struct ttdm_tiktok_client *ttdm_app_tiktok(struct ttdm_app *app);
void ttdm_app_tiktok_init(struct ttdm_app *app);
void ttdm_app_tiktok_cleanup(struct ttdm_app *app);

/*
 * Stores bytes content-addressed under the media directory (same bytes, same file), durably
 * (written, fsynced, renamed). Writes the path into `path`.
 */
enum ttdm_err ttdm_app_media_save(struct ttdm_app *app, const unsigned char *data, size_t len,
                                  enum ttdm_image_format fmt, char *path, size_t path_size);
/* Reads a media file into a heap buffer of at most `max` bytes (ttdm_free). */
enum ttdm_err ttdm_app_media_load(const char *path, size_t max, unsigned char **data, size_t *len);

enum ttdm_err ttdm_app_outbox_start(struct ttdm_app *app);
void ttdm_app_outbox_stop(struct ttdm_app *app);

/* "Failed sending <preview> to customer with error: <reason>" into out. */
void ttdm_app_failure_text(const char *text, const char *reason, char *out, size_t out_size);

#endif /* TTDM_APP_INTERNAL_H */
