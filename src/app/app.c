/* app.c -- life cycle of the app, authentication, sending, reads and the sandbox clock. */
#include "app/app.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "app/channels.h"
#include "app/events.h"
#include "app/internal.h"
#include "core/policy.h"
#include "core/regions.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

static int mkdir_p(const char *path)
{
    char tmp[TTDM_PATH_MAX];
    if (ttdm_strlcpy(tmp, path, sizeof(tmp)))
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) && errno != EEXIST)
        return -1;
    return 0;
}

enum ttdm_err ttdm_app_start(const struct ttdm_config *cfg, struct ttdm_app **out, char *err,
                             size_t err_size)
{
    struct ttdm_app *app = ttdm_calloc(1, sizeof(*app));
    struct ttdm_store_options so;
    enum ttdm_err rc;
    int64_t ws;

    app->cfg = *cfg;
    ttdm_config_rules(cfg, &app->rules);
    pthread_mutex_init(&app->pwhash_lock, NULL);
    pthread_cond_init(&app->pwhash_cond, NULL);
    pthread_mutex_init(&app->refresh_lock, NULL);
    pthread_mutex_init(&app->refresher_lock, NULL);
    pthread_cond_init(&app->refresher_cond, NULL);
    pthread_mutex_init(&app->ingest_pool_lock, NULL);
    ttdm_lcache_init(&app->routes, TTDM_ROUTES_SLOTS, TTDM_ROUTES_TTL_MS);
    ttdm_lcache_init(&app->apikeys, TTDM_APIKEYS_SLOTS, TTDM_APIKEYS_TTL_MS);
    if (ttdm_crypto_init()) {
        snprintf(err, err_size,
                 "the crypto libraries (libsodium, libcrypto) could not be initialised");
        rc = TTDM_ERR_INTERNAL;
        goto fail;
    }
    ttdm_hmac_key_init(&app->webhook_key, cfg->tiktok_app_secret, strlen(cfg->tiktok_app_secret));
    if (cfg->sandbox)
        ttdm_clock_set_offset_ms(cfg->clock_offset_ms);
    if (snprintf(app->media_dir, sizeof(app->media_dir), "%s/media", cfg->data_dir) >=
            (int)sizeof(app->media_dir) ||
        snprintf(app->badge_dir, sizeof(app->badge_dir), "%s/badges", cfg->data_dir) >=
            (int)sizeof(app->badge_dir) ||
        mkdir_p(cfg->data_dir) || mkdir_p(app->media_dir) || mkdir_p(app->badge_dir)) {
        snprintf(err, err_size, "cannot create the data directory %s: %s", cfg->data_dir,
                 strerror(errno));
        rc = TTDM_ERR_STORAGE;
        goto fail;
    }
    rc =
        ttdm_secrets_load_key(cfg->secret_key, cfg->key_file, app->secret_key, NULL, err, err_size);
    if (rc)
        goto fail;
    memset(&so, 0, sizeof(so));
    so.path = cfg->db_path;
    so.rules = &app->rules;
    so.durable = cfg->durable;
    so.group_commit_max = (int)cfg->group_commit_max;
    app->events = ttdm_events_new();
    rc = ttdm_store_open(&so, &app->store, err, err_size);
    if (rc)
        goto fail;
    /* A fresh database gets its first workspace, so keys and channels have a home. */
    if (ttdm_store_workspace_first(app->store, &ws) == TTDM_ERR_NOT_FOUND) {
        rc = ttdm_store_workspace_create(app->store, "Default", &ws);
        if (rc) {
            snprintf(err, err_size, "cannot create the first workspace");
            goto fail;
        }
    }
    ttdm_app_tiktok_init(app);
    ttdm_app_secrets_migrate(app);
    rc = ttdm_app_outbox_start(app);
    if (rc) {
        snprintf(err, err_size, "cannot start the outbox workers");
        goto fail;
    }
    *out = app;
    return TTDM_OK;
fail:
    ttdm_app_stop(app);
    return rc;
}

void ttdm_app_stop(struct ttdm_app *app)
{
    if (!app)
        return;
    ttdm_app_refresher_stop(app);
    ttdm_app_outbox_stop(app);
    ttdm_store_close(app->store);
    ttdm_app_outbox_free(app);
    ttdm_events_free(app->events);
    ttdm_app_tiktok_cleanup(app);
    ttdm_lcache_cleanup(&app->apikeys);
    ttdm_lcache_cleanup(&app->routes);
    ttdm_app_ingest_pool_free(app);
    pthread_mutex_destroy(&app->ingest_pool_lock);
    pthread_cond_destroy(&app->refresher_cond);
    pthread_mutex_destroy(&app->refresher_lock);
    pthread_mutex_destroy(&app->refresh_lock);
    pthread_cond_destroy(&app->pwhash_cond);
    pthread_mutex_destroy(&app->pwhash_lock);
    sodium_memzero(app->secret_key, sizeof(app->secret_key));
    ttdm_config_wipe_secrets(&app->cfg);
    ttdm_hmac_key_wipe(&app->webhook_key);
    ttdm_free(app);
}

const struct ttdm_config *ttdm_app_config(const struct ttdm_app *app)
{
    return &app->cfg;
}

const struct ttdm_policy_rules *ttdm_app_rules(const struct ttdm_app *app)
{
    return &app->rules;
}

struct ttdm_store *ttdm_app_store(struct ttdm_app *app)
{
    return app->store;
}

void ttdm_app_set_bound_port(struct ttdm_app *app, unsigned port)
{
    ttdm_config_set_bound_port(&app->cfg, port);
}

int64_t ttdm_app_now(const struct ttdm_app *app)
{
    return ttdm_clock_now_ms();
}

enum ttdm_err ttdm_app_set_clock_offset(struct ttdm_app *app, int64_t offset_ms)
{
    if (!app->cfg.sandbox)
        return TTDM_ERR_FORBIDDEN;
    ttdm_clock_set_offset_ms(offset_ms);
    LOG_INFO("app", "sandbox clock offset set to %lld ms", (long long)offset_ms);
    /* Every window and countdown moved at once: live clients read everything again. */
    ttdm_events_publish_all(app->events, "resync", "{}");
    return TTDM_OK;
}

/* ---- API keys ------------------------------------------------------------------------ */

#define APIKEY_PREFIX "ttdm_"

enum ttdm_err ttdm_app_apikey_create(struct ttdm_app *app, int64_t workspace_id, const char *name,
                                     char *key_out, size_t key_size)
{
    char random[65], hash[65];
    enum ttdm_err rc;
    int64_t id;

    if (key_size < sizeof(APIKEY_PREFIX) + 64)
        return TTDM_ERR_INTERNAL;
    if (!workspace_id) {
        rc = ttdm_store_workspace_first(app->store, &workspace_id);
        if (rc)
            return rc;
    }
    ttdm_random_hex(32, random);
    snprintf(key_out, key_size, "%s%s", APIKEY_PREFIX, random);
    ttdm_sha256_hex(key_out, strlen(key_out), hash);
    return ttdm_store_apikey_create(app->store, workspace_id, name, hash, &id);
}

enum ttdm_err ttdm_app_apikey_check(struct ttdm_app *app, const char *key, int64_t *workspace_id)
{
    char hash[65];
    size_t len = strlen(key);
    if (len < sizeof(APIKEY_PREFIX) || len > 128)
        return TTDM_ERR_UNAUTHORIZED;
    ttdm_sha256_hex(key, len, hash);
    return ttdm_store_apikey_find(app->store, hash, workspace_id);
}

/* ---- Sending ---------------------------------------------------------------------------- */

/* Rule refusals carry the budget that decided them; others keep has_budget false. */
static bool is_rule_refusal(enum ttdm_err rc)
{
    return rc == TTDM_ERR_NO_CUSTOMER_MESSAGE || rc == TTDM_ERR_WINDOW_CLOSED ||
           rc == TTDM_ERR_REPLY_QUOTA_USED_UP || rc == TTDM_ERR_DAILY_LIMIT ||
           rc == TTDM_ERR_RECONNECT_REQUIRED || rc == TTDM_ERR_TOKEN_EXPIRED;
}

/* A rule refusal shows the budget that decided it, read in the refused transaction. */
static void refusal_detail(enum ttdm_err rc, const struct ttdm_reply_budget *budget,
                           struct ttdm_err_detail *detail)
{
    if (!is_rule_refusal(rc))
        return;
    detail->budget = *budget;
    detail->has_budget = true;
}

/* The store's request for a message whose content R5 accepted as `type`. */
static void send_request(const struct ttdm_app *app, const struct ttdm_send_input *in,
                         enum ttdm_content_type type, const char *media_path,
                         enum ttdm_image_format fmt, int64_t now, struct ttdm_send_request *req)
{
    memset(req, 0, sizeof(*req));
    req->workspace_id = in->workspace_id;
    req->conversation_id = in->conversation_id;
    req->source = in->source;
    req->type = type == TTDM_CONTENT_IMAGE ? TTDM_MSG_IMAGE : TTDM_MSG_TEXT;
    req->text = type == TTDM_CONTENT_TEXT ? in->text : NULL;
    req->text_len = type == TTDM_CONTENT_TEXT ? in->text_len : 0;
    req->media_path = media_path[0] ? media_path : NULL;
    req->media_mime = fmt ? ttdm_image_format_mime(fmt) : NULL;
    req->media_size = (int64_t)in->image_len;
    req->idempotency_key = in->idempotency_key;
    req->now_ms = now;
    req->skip_policy = !app->cfg.enforce_rules;
}

/* Analytics count what TikTok's rules refused: R1-R8 and the channel's reconnect. */
static bool is_counted_refusal(enum ttdm_err rc)
{
    return rc >= TTDM_ERR_NO_CUSTOMER_MESSAGE && rc <= TTDM_ERR_RECONNECT_REQUIRED;
}

static enum ttdm_err send_checked(struct ttdm_app *app, const struct ttdm_send_input *in,
                                  struct ttdm_message *out, struct ttdm_reply_budget *budget,
                                  struct ttdm_err_detail *detail)
{
    struct ttdm_conversation_view conv;
    struct ttdm_reply_budget before;
    struct ttdm_send_request req;
    enum ttdm_content_type type = TTDM_CONTENT_NONE;
    enum ttdm_image_format fmt = TTDM_IMAGE_UNKNOWN;
    char media_path[TTDM_PATH_MAX] = "";
    enum ttdm_err rc;
    int64_t now = ttdm_app_now(app);

    memset(detail, 0, sizeof(*detail));
    /* R5 first: content problems are the agent's to fix whatever the conversation's state. */
    rc = ttdm_policy_check_content(&app->rules, in->text, in->text_len, in->image, in->image_len,
                                   &type);
    if (rc)
        return rc;
    /* R1-R4 and R8 are decided in the reservation's transaction; only an image needs the
     * conversation first (its regions, R6-R7). */
    if (type == TTDM_CONTENT_IMAGE) {
        rc = ttdm_store_conversation_get(app->store, in->workspace_id, in->conversation_id, now,
                                         &conv, &before);
        if (rc)
            return rc;
    }
    if (type == TTDM_CONTENT_IMAGE && app->cfg.enforce_rules) {
        rc = ttdm_policy_check_image_parties(conv.business_region, conv.customer_region,
                                             conv.origin);
        if (rc) {
            const char *region =
                rc == TTDM_ERR_IMAGE_REGION_BUSINESS ? conv.business_region : conv.customer_region;
            if (rc != TTDM_ERR_IMAGE_ACCOUNT_ORIGIN) {
                ttdm_strlcpy(detail->region, region, sizeof(detail->region));
                snprintf(detail->message, sizeof(detail->message),
                         "Images cannot be sent: the %s's region (%s) is one where TikTok does "
                         "not allow images in direct messages. Send text instead.",
                         rc == TTDM_ERR_IMAGE_REGION_BUSINESS ? "business account" : "customer",
                         region);
            }
            return rc;
        }
    }
    if (type == TTDM_CONTENT_IMAGE) {
        fmt = ttdm_policy_sniff_image(in->image, in->image_len);
        rc =
            ttdm_app_media_save(app, in->image, in->image_len, fmt, media_path, sizeof(media_path));
        if (rc)
            return rc;
    }
    /* No lease here: this thread hands over after the commit, later than the writer would,
     * and a newer reply of the conversation could be claimed and sent first. */
    send_request(app, in, type, media_path, fmt, now, &req);
    rc = ttdm_store_reserve_send(app->store, &req, out, budget);
    if (rc) {
        refusal_detail(rc, budget, detail);
        LOG_INFO("send", "refused conversation=%lld code=%s", (long long)in->conversation_id,
                 ttdm_err_code(rc));
        return rc;
    }
    LOG_DEBUG("send", "queued message=%lld conversation=%lld", (long long)out->id,
              (long long)in->conversation_id);
    ttdm_app_outbox_kick(app);
    ttdm_app_publish_message(app, in->workspace_id, out->channel_id, out->conversation_id, out->id);
    return TTDM_OK;
}

/* An asynchronous send: the request's strings are copies, the store fills msg and budget. */
struct send_async {
    struct ttdm_app *app;
    struct ttdm_send_request req;
    char *text;
    char *idempotency_key;
    struct ttdm_message msg;
    struct ttdm_reply_budget budget;
    struct ttdm_outbox_item leased;
    enum ttdm_err rc;
    ttdm_app_send_done_fn done;
    void *ud;
};

/* The caller's answer, then the end of the send. */
static void send_async_finish(struct send_async *x)
{
    struct ttdm_err_detail detail;

    memset(&detail, 0, sizeof(detail));
    if (x->rc != TTDM_OK)
        refusal_detail(x->rc, &x->budget, &detail);
    x->done(x->ud, x->rc, &x->msg, &x->budget, &detail);
    ttdm_outbox_items_cleanup(&x->leased, 1);
    ttdm_message_cleanup(&x->msg);
    ttdm_free(x->text);
    ttdm_free(x->idempotency_key);
    ttdm_free(x);
}

/* On the writer thread: the refusal is counted, so analytics show it once it is answered. */
static void on_refusal_counted(void *ud, enum ttdm_err rc)
{
    (void)rc; /* logged by the store; the refusal is answered all the same */
    send_async_finish(ud);
}

/* On the writer thread, once the reservation is durable or refused. */
static void on_send_reserved(void *ud, enum ttdm_err rc)
{
    struct send_async *x = ud;
    struct ttdm_app *app = x->app;

    x->rc = rc;
    if (rc == TTDM_OK) {
        LOG_DEBUG("send", "queued message=%lld conversation=%lld", (long long)x->msg.id,
                  (long long)x->req.conversation_id);
        ttdm_app_outbox_take_leased(app, &x->leased);
        ttdm_app_publish_message(app, x->req.workspace_id, x->msg.channel_id,
                                 x->msg.conversation_id, x->msg.id);
    } else {
        LOG_INFO("send", "refused conversation=%lld code=%s", (long long)x->req.conversation_id,
                 ttdm_err_code(rc));
        if (is_counted_refusal(rc) &&
            ttdm_store_count_conversation_async(
                app->store, x->req.workspace_id, x->req.conversation_id, x->req.now_ms, "refused",
                ttdm_err_code(rc), on_refusal_counted, x) == TTDM_OK)
            return;
    }
    send_async_finish(x);
}

enum ttdm_err ttdm_app_send_async(struct ttdm_app *app, const struct ttdm_send_input *in,
                                  ttdm_app_send_done_fn done, void *ud,
                                  enum ttdm_ingest_state *state)
{
    enum ttdm_content_type type = TTDM_CONTENT_NONE;
    struct send_async *x;
    enum ttdm_err rc;

    *state = TTDM_INGEST_BLOCKS;
    /* A refusal here is counted with a read and a write, an image needs its regions read
     * and its file written: both go to a thread. */
    if (ttdm_policy_check_content(&app->rules, in->text, in->text_len, in->image, in->image_len,
                                  &type) != TTDM_OK ||
        type != TTDM_CONTENT_TEXT)
        return TTDM_OK;
    x = ttdm_calloc(1, sizeof(*x));
    x->app = app;
    x->done = done;
    x->ud = ud;
    x->text = ttdm_strndup(in->text, in->text_len);
    x->idempotency_key = in->idempotency_key ? ttdm_strdup(in->idempotency_key) : NULL;
    send_request(app, in, type, "", TTDM_IMAGE_UNKNOWN, ttdm_app_now(app), &x->req);
    x->req.text = x->text;
    x->req.idempotency_key = x->idempotency_key;
    /* The writer's completions run in commit order, so handing the lease over from there
     * keeps each conversation's replies in order. Only while the senders keep up. */
    if (ttdm_app_outbox_has_room(app)) {
        x->req.lease_ms = app->cfg.outbox_lease_ms;
        x->req.leased = &x->leased;
    }
    rc = ttdm_store_reserve_send_async(app->store, &x->req, &x->msg, &x->budget, on_send_reserved,
                                       x);
    if (rc) {
        ttdm_free(x->text);
        ttdm_free(x->idempotency_key);
        ttdm_free(x);
        *state = TTDM_INGEST_DONE;
        return rc;
    }
    *state = TTDM_INGEST_PENDING;
    return TTDM_OK;
}

enum ttdm_err ttdm_app_send(struct ttdm_app *app, const struct ttdm_send_input *in,
                            struct ttdm_message *out, struct ttdm_reply_budget *budget,
                            struct ttdm_err_detail *detail)
{
    enum ttdm_err rc = send_checked(app, in, out, budget, detail);
    if (rc)
        ttdm_app_count_refusal(app, in->workspace_id, in->conversation_id, rc);
    return rc;
}

void ttdm_app_count_refusal(struct ttdm_app *app, int64_t workspace_id, int64_t conversation_id,
                            enum ttdm_err rc)
{
    if (is_counted_refusal(rc))
        ttdm_store_count_conversation(app->store, workspace_id, conversation_id, ttdm_app_now(app),
                                      "refused", ttdm_err_code(rc));
}

/* ---- Sending a failed message again ------------------------------------------------------ */

/* R5-R7 on a stored message, as ttdm_app_send checks them on a new one. */
static enum ttdm_err recheck_content(struct ttdm_app *app, const struct ttdm_message *m,
                                     const struct ttdm_conversation_view *conv,
                                     struct ttdm_err_detail *detail)
{
    unsigned char *data = NULL;
    size_t len = 0;
    enum ttdm_err rc;

    if (m->type == TTDM_MSG_TEXT)
        return ttdm_policy_check_content(&app->rules, m->text, m->text ? strlen(m->text) : 0, NULL,
                                         0, NULL);
    if (m->type != TTDM_MSG_IMAGE)
        return TTDM_ERR_CONTENT_TYPE;
    rc = ttdm_app_media_load(m->media_path, app->rules.image_max_bytes + 1, &data, &len);
    if (rc == TTDM_ERR_STORAGE)
        return TTDM_ERR_IMAGE_TOO_LARGE;
    if (rc) {
        snprintf(detail->message, sizeof(detail->message),
                 "The image of this message is no longer on disk; send it again as a new "
                 "message.");
        return TTDM_ERR_NOT_FOUND;
    }
    rc = ttdm_policy_check_content(&app->rules, NULL, 0, data, len, NULL);
    ttdm_free(data);
    if (rc || !app->cfg.enforce_rules)
        return rc;
    rc =
        ttdm_policy_check_image_parties(conv->business_region, conv->customer_region, conv->origin);
    if (rc == TTDM_ERR_IMAGE_REGION_BUSINESS || rc == TTDM_ERR_IMAGE_REGION_CUSTOMER)
        ttdm_strlcpy(detail->region,
                     rc == TTDM_ERR_IMAGE_REGION_BUSINESS ? conv->business_region
                                                          : conv->customer_region,
                     sizeof(detail->region));
    return rc;
}

enum ttdm_err ttdm_app_retry_message(struct ttdm_app *app, int64_t workspace_id, int64_t message_id,
                                     struct ttdm_message *out, struct ttdm_reply_budget *budget,
                                     struct ttdm_err_detail *detail)
{
    struct ttdm_message m;
    struct ttdm_conversation_view conv;
    struct ttdm_reply_budget before;
    int64_t now = ttdm_app_now(app);
    enum ttdm_err rc;

    memset(detail, 0, sizeof(*detail));
    memset(&m, 0, sizeof(m));
    rc = ttdm_store_message_get(app->store, workspace_id, message_id, &m);
    if (rc)
        goto done;
    if (m.direction != TTDM_DIR_BUSINESS || m.status != TTDM_STATUS_FAILED) {
        snprintf(detail->message, sizeof(detail->message),
                 "Only a failed business message can be sent again; this one is %s.",
                 m.direction == TTDM_DIR_CUSTOMER ? "a customer's message"
                                                  : ttdm_msg_status_name(m.status));
        rc = TTDM_ERR_CONFLICT;
        goto done;
    }
    rc = ttdm_store_conversation_get(app->store, workspace_id, m.conversation_id, now, &conv,
                                     &before);
    if (rc)
        goto done;
    rc = recheck_content(app, &m, &conv, detail);
    if (rc)
        goto done;
    rc = ttdm_store_requeue_failed(app->store, workspace_id, message_id, now,
                                   !app->cfg.enforce_rules, out, budget);
    if (rc && is_rule_refusal(rc) && budget != NULL) {
        detail->budget = *budget;
        detail->has_budget = true;
    }
done:
    if (rc && rc != TTDM_ERR_NOT_FOUND)
        ttdm_app_count_refusal(app, workspace_id, m.conversation_id, rc);
    if (rc == TTDM_OK) {
        LOG_INFO("send", "message=%lld queued again", (long long)message_id);
        ttdm_app_outbox_kick(app);
        ttdm_app_publish_message(app, workspace_id, m.channel_id, m.conversation_id, message_id);
    }
    ttdm_message_cleanup(&m);
    return rc;
}

enum ttdm_err ttdm_app_media_path(struct ttdm_app *app, int64_t workspace_id, int64_t message_id,
                                  char *path, size_t path_size, char *mime, size_t mime_size)
{
    struct ttdm_message m;
    enum ttdm_err rc;

    memset(&m, 0, sizeof(m));
    rc = ttdm_store_message_get(app->store, workspace_id, message_id, &m);
    if (rc)
        return rc;
    if (!m.media_path[0]) {
        ttdm_message_cleanup(&m);
        return TTDM_ERR_NOT_FOUND;
    }
    ttdm_strlcpy(path, m.media_path, path_size);
    ttdm_strlcpy(mime, m.media_mime, mime_size);
    ttdm_message_cleanup(&m);
    return TTDM_OK;
}
