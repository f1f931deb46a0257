/* internal.h -- what the app's own files share; never included outside src/app. */
#ifndef TTDM_APP_INTERNAL_H
#define TTDM_APP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "app/app.h"
#include "app/secrets.h"
#include "util/crypto.h"
#include "util/lcache.h"

struct ttdm_tiktok_client;
struct ttdm_events;

/*
 * How long the hot-path caches trust an answer: a change made by another process (`ttdm
 * channel create` adding an account to a second workspace) shows within this time.
 */
#define TTDM_ROUTES_SLOTS 1024
#define TTDM_ROUTES_TTL_MS 1000
#define TTDM_APIKEYS_SLOTS 256
#define TTDM_APIKEYS_TTL_MS 5000

struct ttdm_app {
    struct ttdm_config cfg;
    struct ttdm_policy_rules rules;
    struct ttdm_store *store;
    struct ttdm_events *events; /* live events for /api/v1/events */
    char media_dir[TTDM_PATH_MAX];

    /* TikTok clients are per thread (each keeps its own connections alive). */
    pthread_key_t client_key;
    bool client_key_ready;

    /* The app secret prepared for webhook signatures (inbound.c). */
    struct ttdm_hmac_key webhook_key;

    /* Tokens are stored encrypted with this key (secrets.c). */
    unsigned char secret_key[TTDM_SECRET_KEY_BYTES];
    char badge_dir[TTDM_PATH_MAX];

    /* Password hashing (users.c): Argon2id takes 64 MiB, so at most a few at a time. */
    pthread_mutex_t pwhash_lock;
    pthread_cond_t pwhash_cond;
    int pwhash_busy;
    char dummy_hash[TTDM_PWHASH_MAX]; /* verified for unknown emails: same work, same time */

    /* Token refresh (refresher.c): one refresh at a time in this process, so two threads
     * never spend the same rotating refresh token. */
    pthread_mutex_t refresh_lock;
    pthread_mutex_t refresher_lock;
    pthread_cond_t refresher_cond;
    bool refresher_stopping;
    bool refresher_running;
    pthread_t refresher_thread;

    /* Which channel a business id's webhooks go to (inbound.c), so the hot path of a
     * webhook needs no database read. */
    struct ttdm_lcache routes; /* business id -> (channel id, workspace id); cleared when
                                  a channel is created or connected */
    /* Whose an API key is (users.c): sha256 -> (workspace id, role). */
    struct ttdm_lcache apikeys;

    /* Webhooks waiting for their commit (inbound.c) are reused: allocated on the event
     * thread, done on the writer, about 5 KiB each. */
    pthread_mutex_t ingest_pool_lock;
    struct pending_ingest *ingest_pool; /* a stack, linked through `next` */
    unsigned ingest_pool_n;

    /* Outbox workers. */
    pthread_mutex_t outbox_lock;
    pthread_cond_t outbox_cond;  /* the claimer waits: a kick, or room in the queue */
    pthread_cond_t outbox_ready; /* senders wait: queued messages */
    bool outbox_inited;          /* the three above, until ttdm_app_outbox_free */
    bool outbox_stopping;
    bool outbox_kicked; /* something may be due: the claimer should look */
    struct outbox_entry *outbox_head, *outbox_tail; /* claimed, not yet taken by a sender */
    size_t outbox_queued;
    size_t outbox_queued_workers; /* of those, images and channels to reconnect */
    pthread_t outbox_claimer;
    bool outbox_claimer_started;
    bool outbox_claimer_done;
    pthread_t *outbox_threads; /* the workers: images, and sends that failed */
    unsigned n_outbox_threads;
    pthread_t outbox_driver; /* text sends, many at once on outbox_multi */
    bool outbox_driver_started;
    bool outbox_driver_done;
    bool outbox_driver_waiting; /* in ttdm_httpc_multi_run: news must wake it */
    struct ttdm_httpc_multi *outbox_multi;
    size_t outbox_inflight;    /* transfers on outbox_multi (driver thread only) */
    size_t outbox_driver_held; /* taken by the driver and not done: in flight or failed */
    struct outbox_entry *outbox_failed_head, *outbox_failed_tail; /* for the workers */
    int64_t *outbox_busy; /* conversations being sent to (0: a free slot) */
    size_t n_outbox_busy;
};

/* Frees the reusable webhooks of inbound.c (at shutdown, when none is in flight). */
void ttdm_app_ingest_pool_free(struct ttdm_app *app);

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
/* After the store is closed: its last completions may still kick the outbox after stop. */
void ttdm_app_outbox_free(struct ttdm_app *app);
/*
 * The lease a reservation took for a new message: the senders take the item (moved out of
 * *it, which is left empty) without waiting for a claim. If the item is empty (no lease was
 * taken) or the outbox is not running (also after ttdm_app_outbox_stop, for a commit that
 * completes while the store closes), the claimer is kicked instead and a lease left behind
 * ends by itself (outbox_lease_ms), as after a crash.
 */
void ttdm_app_outbox_take_leased(struct ttdm_app *app, struct ttdm_outbox_item *it);
/* Whether the outbox runs and its queue is short enough to take a lease handed over. */
bool ttdm_app_outbox_has_room(struct ttdm_app *app);

/* "Failed sending <preview> to customer with error: <reason>" into out. */
void ttdm_app_failure_text(const char *text, const char *reason, char *out, size_t out_size);

/* A stored (encrypted) token in clear into out; "" when it cannot be decrypted (logged: a
 * wrong key_file, say). Tokens stored before encryption are sealed at start. */
enum ttdm_err ttdm_app_token_open(struct ttdm_app *app, const char *stored, char *out,
                                  size_t out_size);
/* The same in place: `token` holds the stored form on entry and the clear one on return. */
void ttdm_app_token_open_inplace(struct ttdm_app *app, char *token, size_t size);
/* Encrypts a token for the store. */
enum ttdm_err ttdm_app_token_seal(struct ttdm_app *app, const char *plain, char *out,
                                  size_t out_size);

/*
 * TikTok answered 40102 to a call made with `token` (in clear) for this channel: refresh once
 * -- unless another thread already did, then take its token -- and write the new access token
 * into `token`. TTDM_OK: call again with it. TIKTOK_UNAVAILABLE: no refresh possible right
 * now, try later. TOKEN_EXPIRED: the refresh failed for good and the channel is
 * reconnect_required. `token` may be NULL (size 0) when the caller will not call again.
 */
enum ttdm_err ttdm_app_token_expired(struct ttdm_app *app, int64_t workspace_id, int64_t channel_id,
                                     char *token, size_t token_size);

/* Seals tokens that a database from before encryption holds in clear (at start). */
void ttdm_app_secrets_migrate(struct ttdm_app *app);

/* Counts a refused send of the conversation in its channel's analytics (R1-R8 codes only). */
void ttdm_app_count_refusal(struct ttdm_app *app, int64_t workspace_id, int64_t conversation_id,
                            enum ttdm_err rc);

#endif /* TTDM_APP_INTERNAL_H */
