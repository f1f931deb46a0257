/* app.h -- ttdm's use cases: ingest a webhook, send a message, run the outbox, read. */
#ifndef TTDM_APP_H
#define TTDM_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/config.h"
#include "core/errors.h"
#include "core/model.h"
#include "core/policy.h"
#include "store/store.h"

/*
 * The app is the only layer that combines store, tiktok and core. Every function is
 * thread-safe. The HTTP layer calls exactly one of these per request.
 */
struct ttdm_app;

/* Opens the store, starts the outbox workers. `cfg` is copied. */
enum ttdm_err ttdm_app_start(const struct ttdm_config *cfg, struct ttdm_app **out, char *err,
                             size_t err_size);
/* Stops the workers and closes the store. NULL is a no-op. */
void ttdm_app_stop(struct ttdm_app *app);

const struct ttdm_config *ttdm_app_config(const struct ttdm_app *app);
const struct ttdm_policy_rules *ttdm_app_rules(const struct ttdm_app *app);

/* What went wrong in more detail than the error code, for the API's error body. */
struct ttdm_err_detail {
    char message[512]; /* a specific sentence when the generic one is not enough, else "" */
    char region[TTDM_REGION_LEN]; /* image region refusals: the blocked region */
    bool has_budget;
    struct ttdm_reply_budget budget; /* rule refusals: the budget that made the decision */
};

/* ---- Authentication ----------------------------------------------------------------- */

/* Creates an API key for the workspace (the default one when workspace_id is 0). The key
 * is written to key_out (at least 64 bytes) and is never stored, only its hash. */
enum ttdm_err ttdm_app_apikey_create(struct ttdm_app *app, int64_t workspace_id, const char *name,
                                     char *key_out, size_t key_size);
/* UNAUTHORIZED when the key is unknown. */
enum ttdm_err ttdm_app_apikey_check(struct ttdm_app *app, const char *key, int64_t *workspace_id);

/* ---- Inbound -------------------------------------------------------------------------- */

/*
 * Verifies, parses and durably stores one TikTok webhook. TTDM_OK means "answer 200":
 * stored (or already stored, or not for us). BAD_SIGNATURE / STALE_SIGNATURE -> 401,
 * INVALID_JSON / BAD_REQUEST -> 400 with detail->message naming the problem,
 * TIKTOK_UNAVAILABLE (an image could not be fetched yet) -> 503 so TikTok retries.
 */
enum ttdm_err ttdm_app_ingest_webhook(struct ttdm_app *app, const char *signature_header,
                                      const char *body, size_t body_len,
                                      struct ttdm_err_detail *detail);

/* Completion of an asynchronous ingest: rc as for ttdm_app_ingest_webhook. */
typedef void (*ttdm_app_ingest_done_fn)(void *ud, enum ttdm_err rc);

/* What became of an asynchronous ingest (or send). */
enum ttdm_ingest_state {
    TTDM_INGEST_DONE,    /* finished in the call: answer with its rc */
    TTDM_INGEST_PENDING, /* queued: done(ud, rc) runs once the commit is durable */
    TTDM_INGEST_BLOCKS,  /* may_block was false and the event needs a thread: call again
                            from one (nothing was stored) */
};

/*
 * The same, without holding the calling thread while the event is committed: when the event
 * only needs a durable write to one known channel, returns TTDM_OK with *state PENDING, and
 * done(ud, rc) runs later (on the store's writer thread; it must be quick) once the commit
 * is durable. Otherwise (errors, images to fetch, read receipts, an account not seen in the
 * last second) it works synchronously (DONE) -- or, when `may_block` is false (an event
 * loop calls), does nothing and answers BLOCKS. `body` need not outlive the call.
 */
enum ttdm_err ttdm_app_ingest_webhook_async(struct ttdm_app *app, const char *signature_header,
                                            const char *body, size_t body_len,
                                            struct ttdm_err_detail *detail,
                                            ttdm_app_ingest_done_fn done, void *ud, bool may_block,
                                            enum ttdm_ingest_state *state);

/* ---- Outbound ------------------------------------------------------------------------- */

struct ttdm_send_input {
    int64_t workspace_id;
    int64_t conversation_id;
    const char *text; /* may be NULL */
    size_t text_len;
    const unsigned char *image; /* may be NULL */
    size_t image_len;
    const char *idempotency_key; /* may be NULL */
    enum ttdm_msg_source source; /* AGENT or AUTO */
};

/*
 * Checks R1-R8 and queues the message for the outbox. On success *out is the queued
 * message (cleanup with ttdm_message_cleanup) and *budget the budget after it.
 */
enum ttdm_err ttdm_app_send(struct ttdm_app *app, const struct ttdm_send_input *in,
                            struct ttdm_message *out, struct ttdm_reply_budget *budget,
                            struct ttdm_err_detail *detail);

/*
 * Completion of an asynchronous send, on the store's writer thread once the reservation is
 * durable (or refused): quick, no store calls. On success `msg` is the queued message and
 * `budget` the budget after it; otherwise `detail` says why, as ttdm_app_send's does. All
 * three are valid during the call only.
 */
typedef void (*ttdm_app_send_done_fn)(void *ud, enum ttdm_err rc, const struct ttdm_message *msg,
                                      const struct ttdm_reply_budget *budget,
                                      const struct ttdm_err_detail *detail);

/*
 * ttdm_app_send without holding the calling thread, for an event loop. A text message needs
 * no read before its reservation: it is queued to the writer's next group commit, the call
 * returns TTDM_OK with *state PENDING, and done(ud, ...) runs later, once. Whatever needs a
 * read or a file first (an image, a content refusal, which analytics count) does nothing
 * and answers BLOCKS: send it with ttdm_app_send from a thread. When the write cannot be
 * queued the state is DONE with the error. `in` need not outlive the call.
 */
enum ttdm_err ttdm_app_send_async(struct ttdm_app *app, const struct ttdm_send_input *in,
                                  ttdm_app_send_done_fn done, void *ud,
                                  enum ttdm_ingest_state *state);

/* ---- Channels --------------------------------------------------------------------------- */

/*
 * Creates (or updates, for an account already connected) a channel from an access token:
 * reads the profile from TikTok (business/get) and stores the channel. Used by the
 * command line until OAuth connects channels.
 */
enum ttdm_err ttdm_app_channel_create_with_token(struct ttdm_app *app, int64_t workspace_id,
                                                 const char *business_id, const char *access_token,
                                                 const char *refresh_token, int64_t expires_in_s,
                                                 struct ttdm_channel *out, bool *created,
                                                 struct ttdm_err_detail *detail);

/* ---- Reads ------------------------------------------------------------------------------ */

struct ttdm_store *ttdm_app_store(struct ttdm_app *app);

/* Media file of a message (image), as a path under the data directory. */
enum ttdm_err ttdm_app_media_path(struct ttdm_app *app, int64_t workspace_id, int64_t message_id,
                                  char *path, size_t path_size, char *mime, size_t mime_size);

/* The server listens on `port` now: a public_url derived from port 0 (and so the OAuth
 * redirect URI) gets it. Call before serving requests. */
void ttdm_app_set_bound_port(struct ttdm_app *app, unsigned port);

/* Current time of this process (sandbox clock offset included). */
int64_t ttdm_app_now(const struct ttdm_app *app);

/* Sandbox only: moves this process's clock. FORBIDDEN outside sandbox mode. */
enum ttdm_err ttdm_app_set_clock_offset(struct ttdm_app *app, int64_t offset_ms);

/* ---- Live events ------------------------------------------------------------------------ */

struct ttdm_events;
/* The event fan-out the server streams to /api/v1/events subscribers. */
struct ttdm_events *ttdm_app_events(struct ttdm_app *app);

/* "message": a message was stored or changed status. */
void ttdm_app_publish_message(struct ttdm_app *app, int64_t workspace_id, int64_t channel_id,
                              int64_t conversation_id, int64_t message_id);
/* "conversation": its budget, unread count or read receipts changed (id 0: some of the
 * channel's conversations; reload them). */
void ttdm_app_publish_conversation(struct ttdm_app *app, int64_t workspace_id, int64_t channel_id,
                                   int64_t conversation_id);
/* "channel": status, settings or tokens changed. */
void ttdm_app_publish_channel(struct ttdm_app *app, int64_t workspace_id, int64_t channel_id);

/* Wakes the outbox now (after a send). */
void ttdm_app_outbox_kick(struct ttdm_app *app);

#endif /* TTDM_APP_H */
