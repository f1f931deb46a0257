/* store.h -- the one storage interface of ttdm; SQL never leaves the implementation. */
#ifndef TTDM_STORE_H
#define TTDM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/model.h"
#include "core/policy.h"

/*
 * Every operation is atomic (one transaction) and thread-safe: call it from any thread.
 * Operations return TTDM_OK, a rule refusal (reserve_send), TTDM_ERR_NOT_FOUND (also when
 * the row belongs to another workspace), TTDM_ERR_CONFLICT, or TTDM_ERR_STORAGE (logged).
 * Writes from concurrent callers are group-committed: many callers' operations share one
 * durable commit, each inside its own savepoint so one caller's failure never undoes
 * another's. Nothing is reported as done before it is durable.
 *
 * Strings in structs are NUL-terminated fixed arrays unless said otherwise; `text` members
 * are heap strings owned by the struct and freed by its cleanup function.
 */

struct ttdm_store;

struct ttdm_store_options {
    const char *path;                      /* database file, created if missing */
    const struct ttdm_policy_rules *rules; /* copied */
    bool durable;                          /* true: synchronous=FULL (acknowledged = fsynced) */
    int group_commit_max;                  /* most operations per transaction, e.g. 64 */
};

/* Opens (creating and migrating as needed). On failure returns TTDM_ERR_STORAGE, err says why. */
enum ttdm_err ttdm_store_open(const struct ttdm_store_options *opt, struct ttdm_store **out,
                              char *err, size_t err_size);
/* Waits for pending writes, closes. NULL is a no-op. */
void ttdm_store_close(struct ttdm_store *s);

/* ---- Workspaces and API keys ---------------------------------------------------------- */

enum ttdm_err ttdm_store_workspace_create(struct ttdm_store *s, const char *name, int64_t *id);
/* The oldest workspace, NOT_FOUND when there is none. */
enum ttdm_err ttdm_store_workspace_first(struct ttdm_store *s, int64_t *id);

/* Stores only the SHA-256 hex of a key; the key itself is shown once and never stored. */
enum ttdm_err ttdm_store_apikey_create(struct ttdm_store *s, int64_t workspace_id, const char *name,
                                       const char *key_sha256_hex, int64_t *id);
/* The same with the key's role (ttdm_store_apikey_create makes admin keys). */
enum ttdm_err ttdm_store_apikey_create_role(struct ttdm_store *s, int64_t workspace_id,
                                            const char *name, enum ttdm_role role,
                                            const char *key_sha256_hex, int64_t *id);
/* UNAUTHORIZED when no key has this hash (or it was revoked). */
enum ttdm_err ttdm_store_apikey_find(struct ttdm_store *s, const char *key_sha256_hex,
                                     int64_t *workspace_id);
/* The same, with the key's role. */
enum ttdm_err ttdm_store_apikey_lookup(struct ttdm_store *s, const char *key_sha256_hex,
                                       int64_t *workspace_id, enum ttdm_role *role);

/* ---- Users and sessions ------------------------------------------------------------------- */

#define TTDM_EMAIL_MAX 256
#define TTDM_PWHASH_MAX 256 /* crypto_pwhash_STRBYTES is 128 */
#define TTDM_HEX_TOKEN 65   /* 32 bytes as hex + NUL */

struct ttdm_user {
    int64_t id;
    int64_t workspace_id;
    char email[TTDM_EMAIL_MAX]; /* lower case */
    char name[TTDM_NAME_MAX];
    enum ttdm_role role;
    int64_t created_at;
};

/* CONFLICT when the email is taken (in any workspace: users sign in with it alone),
 * NOT_FOUND when the workspace does not exist. `password_hash` is stored as given. */
enum ttdm_err ttdm_store_user_create(struct ttdm_store *s, const struct ttdm_user *in,
                                     const char *password_hash, int64_t *id);
/* The user with this email and its password hash (hash may be NULL); NOT_FOUND when none. */
enum ttdm_err ttdm_store_user_find_by_email(struct ttdm_store *s, const char *email,
                                            struct ttdm_user *out, char *hash, size_t hash_size);
enum ttdm_err ttdm_store_user_get(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                  struct ttdm_user *out);
/* The workspace's users, oldest first. *out is heap (ttdm_free). */
enum ttdm_err ttdm_store_user_list(struct ttdm_store *s, int64_t workspace_id,
                                   struct ttdm_user **out, size_t *n);
/* Users of every workspace. */
enum ttdm_err ttdm_store_user_count(struct ttdm_store *s, int64_t *n);

struct ttdm_session {
    int64_t id;
    int64_t workspace_id;
    int64_t user_id;
    enum ttdm_role role; /* the user's role now (read from the user row) */
    char csrf_token[TTDM_HEX_TOKEN];
    char oauth_binding_sha256[TTDM_HEX_TOKEN];
    int64_t created_at;
    int64_t expires_at;
};

/* Stores a session under the SHA-256 hex of its cookie value; also forgets expired sessions
 * and OAuth states. Uses in->workspace_id, user_id, csrf_token, oauth_binding_sha256,
 * created_at, expires_at. */
enum ttdm_err ttdm_store_session_create(struct ttdm_store *s, const struct ttdm_session *in,
                                        const char *token_sha256, int64_t *id);
/* UNAUTHORIZED when no session with this hash is alive at now_ms. */
enum ttdm_err ttdm_store_session_find(struct ttdm_store *s, const char *token_sha256,
                                      int64_t now_ms, struct ttdm_session *out);
/* Ends a session (sign out). Unknown ids are not an error. */
enum ttdm_err ttdm_store_session_delete(struct ttdm_store *s, int64_t id);

/* ---- OAuth states ------------------------------------------------------------------------- */

struct ttdm_oauth_state {
    int64_t workspace_id;
    int64_t user_id;
    int64_t session_id;
    int64_t channel_id; /* reconnect target; 0 for a new connection */
    int64_t created_at;
    int64_t expires_at;
    /* Filled by consume: the bound session, as it is now. */
    bool session_alive; /* the session exists and has not expired */
    char session_binding_sha256[TTDM_HEX_TOKEN];
    enum ttdm_role user_role;
};

/* Stores a pending login under the SHA-256 hex of its state value. */
enum ttdm_err ttdm_store_oauth_state_create(struct ttdm_store *s, const char *state_sha256,
                                            const struct ttdm_oauth_state *in);
/* Single use: deletes the state and returns it, whatever the caller then decides (expired,
 * another browser...). NOT_FOUND when unknown or already used. */
enum ttdm_err ttdm_store_oauth_state_consume(struct ttdm_store *s, const char *state_sha256,
                                             int64_t now_ms, struct ttdm_oauth_state *out);

/* ---- Channels ------------------------------------------------------------------------- */

#define TTDM_TOKEN_MAX 1024

struct ttdm_channel {
    int64_t id;
    int64_t workspace_id;
    char business_id[TTDM_ID_MAX]; /* TikTok open_id; unique per workspace */
    char username[TTDM_NAME_MAX];
    char display_name[TTDM_NAME_MAX];
    char avatar_url[TTDM_URL_MAX];
    char region[TTDM_REGION_LEN]; /* "" when unknown */
    enum ttdm_account_origin origin;
    enum ttdm_channel_status status;
    char access_token[TTDM_TOKEN_MAX]; /* as given by the app layer (which may encrypt) */
    char refresh_token[TTDM_TOKEN_MAX];
    int64_t token_expires_at;   /* ms */
    int64_t refresh_expires_at; /* ms; 0 when unknown */
    int daily_limit;
    int64_t created_at;
    /* Settings and state read with the channel (ignored by upsert and connect). */
    bool auto_reply_enabled; /* the text: ttdm_store_channel_auto_reply_text */
    char badge_path[512];    /* "" when there is no badge icon */
    char badge_mime[32];     /* image/png, image/jpeg, image/svg+xml */
    int64_t badge_size;
    char badge_sha256[TTDM_HEX_TOKEN];
    bool region_by_admin;   /* region set by an admin: a reconnect keeps it */
    bool origin_by_admin;   /* same for origin */
    char status_reason[48]; /* why a reconnect is required, "" otherwise */
    int64_t connected_at;   /* last connect or reconnect, 0 when unknown */
};

/*
 * Creates the channel, or updates the one with the same (workspace, business_id): the
 * same TikTok account is never connected twice. *created tells which happened.
 * A daily_limit of 0 keeps the channel's limit (a new channel gets rules->daily_limit_min).
 */
enum ttdm_err ttdm_store_channel_upsert(struct ttdm_store *s, const struct ttdm_channel *in,
                                        int64_t *id, bool *created);
enum ttdm_err ttdm_store_channel_get(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                     struct ttdm_channel *out);
/* All channels (any workspace) of a TikTok business id; *n may be 0. */
enum ttdm_err ttdm_store_channels_by_business(struct ttdm_store *s, const char *business_id,
                                              struct ttdm_channel *out, size_t max, size_t *n);
/* Every channel of a workspace (workspace_id 0: of all workspaces), oldest first.
 * *out is heap (ttdm_free). */
enum ttdm_err ttdm_store_channel_list(struct ttdm_store *s, int64_t workspace_id,
                                      struct ttdm_channel **out, size_t *n);
enum ttdm_err ttdm_store_channel_set_status(struct ttdm_store *s, int64_t channel_id,
                                            enum ttdm_channel_status status);

/*
 * The end of a TikTok login: profile and tokens of in->business_id for in->workspace_id.
 * reconnect_id 0 (Add TikTok Account): creates the channel, or updates the workspace's channel
 * of that account in place (*created false). reconnect_id > 0 (Reconnect Account): the channel
 * must hold the same account, else ACCOUNT_MISMATCH with its username in other_username and
 * nothing changed; NOT_FOUND when the channel is not in the workspace. Either way tokens and
 * profile are swapped in place (region and origin only where no admin set them), the status
 * becomes connected and the id, conversations, messages and analytics stay.
 * other_username may be NULL.
 */
enum ttdm_err ttdm_store_channel_connect(struct ttdm_store *s, const struct ttdm_channel *in,
                                         int64_t reconnect_id, int64_t *id, bool *created,
                                         char *other_username, size_t other_size);

/*
 * A refresh's result, in one transaction: access and refresh token (as given) and their
 * expiries. CONFLICT, and nothing written, when the stored refresh token is no longer
 * `expected_refresh` (another refresh won). refresh_expires_at 0 keeps the stored value.
 */
enum ttdm_err ttdm_store_channel_set_tokens(struct ttdm_store *s, int64_t channel_id,
                                            const char *expected_refresh, const char *access_token,
                                            const char *refresh_token, int64_t token_expires_at,
                                            int64_t refresh_expires_at);

/* Status reconnect_required with a reason ("access_token_expired", "refresh_failed"...). */
enum ttdm_err ttdm_store_channel_require_reconnect(struct ttdm_store *s, int64_t channel_id,
                                                   const char *reason);

/* What an admin changes on a channel; each member has a "leave as is" value. */
struct ttdm_channel_settings {
    int auto_reply_enabled;      /* -1 unchanged, 0 off, 1 on */
    const char *auto_reply_text; /* NULL unchanged; checked by the caller */
    int daily_limit;             /* 0 unchanged; checked by the caller */
    const char *region;          /* NULL unchanged, "" unknown, else ISO 3166-1 alpha-2 */
    int origin;                  /* -1 unchanged, else enum ttdm_account_origin */
};

/* NOT_FOUND when the channel is not in the workspace. */
enum ttdm_err ttdm_store_channel_update_settings(struct ttdm_store *s, int64_t workspace_id,
                                                 int64_t id,
                                                 const struct ttdm_channel_settings *set);
/* The auto-responder text as a heap string (ttdm_free), "" when none. */
enum ttdm_err ttdm_store_channel_auto_reply_text(struct ttdm_store *s, int64_t workspace_id,
                                                 int64_t id, char **text);
/* Sets the badge icon's file and metadata; path "" removes the badge. */
enum ttdm_err ttdm_store_channel_set_badge(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                           const char *path, const char *mime, int64_t size,
                                           const char *sha256_hex);

/* ---- Messages ------------------------------------------------------------------------- */

struct ttdm_message {
    int64_t id;
    int64_t workspace_id;
    int64_t channel_id;
    int64_t conversation_id;
    enum ttdm_direction direction;
    enum ttdm_msg_source source;
    enum ttdm_msg_type type;
    enum ttdm_msg_status status;
    char *text;           /* heap, owned; NULL when none */
    char media_path[512]; /* image file on disk, "" when none */
    char media_mime[32];
    int64_t media_size;
    char share_url[TTDM_URL_MAX];        /* post shares */
    char raw_type[32];                   /* TikTok's type name, for unsupported messages */
    char tiktok_message_id[TTDM_ID_MAX]; /* "" until TikTok gave one */
    int64_t timestamp_ms; /* TikTok's timestamp; ours: reservation time, then send time,
                             then TikTok's from the echo */
    int64_t created_at;
    int64_t updated_at;
    int attempts;
    char error_code[48]; /* ttdm_err_code() of the failure, "" when none */
    char error_text[TTDM_ERROR_TEXT_MAX];
    int tiktok_error_code; /* TikTok's code, 0 when none */
};

void ttdm_message_cleanup(struct ttdm_message *m);
/* *dst = *src with its own copy of the text; clean dst up with ttdm_message_cleanup. */
void ttdm_message_copy(struct ttdm_message *dst, const struct ttdm_message *src);
void ttdm_messages_free(struct ttdm_message *arr, size_t n);

/* ---- Inbound (webhooks) --------------------------------------------------------------- */

struct ttdm_inbound {
    int64_t channel_id;
    char tiktok_conversation_id[TTDM_ID_MAX];
    char tiktok_message_id[TTDM_ID_MAX];
    enum ttdm_direction direction; /* CUSTOMER for im_receive_msg, BUSINESS for echoes */
    enum ttdm_msg_source source;   /* CUSTOMER, TIKTOK_APP, or AGENT for our API echoes */
    enum ttdm_msg_type type;
    const char *text; /* may be NULL */
    size_t text_len;
    const char *media_path; /* may be NULL: stored image file */
    const char *media_mime;
    int64_t media_size;
    const char *share_url;              /* may be NULL */
    const char *raw_type;               /* TikTok's type name */
    char customer_user_id[TTDM_ID_MAX]; /* unique_identifier of the personal account */
    char customer_username[TTDM_NAME_MAX];
    char customer_region[TTDM_REGION_LEN]; /* "" when unknown */
    int64_t timestamp_ms;                  /* TikTok's message timestamp */
    int64_t received_at;                   /* our clock */
};

struct ttdm_inbound_result {
    bool duplicate;        /* (channel, tiktok message id) was already stored: nothing changed */
    bool matched_own_send; /* an echo of a message we sent */
    bool opened_window;    /* customer message that opened a new window (first ever, or the
                              first after the previous window had closed) */
    int64_t conversation_id;
    int64_t message_id;
    /* The channel's auto-responder, when the message opened a window and it is on: the
     * queued auto-response (0 when none), or the rule that refused it (then recorded in the
     * analytics as a skipped auto-response and not retried). */
    int64_t auto_reply_id;
    enum ttdm_err auto_reply_refused;
};

/*
 * Stores one webhook message exactly once per (channel, tiktok_message_id), creating the
 * customer and conversation as needed (and, in the same transaction, queueing the channel's
 * auto-response when the message opened a window and the rules allow it), and updates the
 * conversation state so that R2-R4 do not depend on arrival order: latest customer message time is
 * a max over customer messages; replies used is the number of counted business messages whose
 * timestamp is later than it; a business message adds its conversation to the daily set of the day
 * of its timestamp. An echo whose id matches a message we sent updates that message (its timestamp
 * becomes TikTok's) instead of adding one; an echo of our own API send that arrives before we
 * recorded the send is stored and merged later by mark_sent.
 */
enum ttdm_err ttdm_store_record_inbound(struct ttdm_store *s, const struct ttdm_inbound *ev,
                                        struct ttdm_inbound_result *out);

/*
 * record_inbound without blocking the calling thread, for a server that suspends the
 * webhook's connection and resumes it once the event is durable. Returns TTDM_OK when the
 * event is queued (or an error, and then `done` is never called); `done` then runs exactly
 * once, on the store's writer thread, after the commit: res is NULL unless rc is TTDM_OK.
 * `ev` and the strings it points to must stay valid until `done` runs. `done` must be quick
 * (it delays the next commit) and must not call the store.
 */
typedef void (*ttdm_store_inbound_done_fn)(void *ud, enum ttdm_err rc,
                                           const struct ttdm_inbound_result *res);
enum ttdm_err ttdm_store_record_inbound_async(struct ttdm_store *s, const struct ttdm_inbound *ev,
                                              ttdm_store_inbound_done_fn done, void *ud);

/* Marks business messages of the conversation sent up to `up_to_ms` as read. A receipt for
 * a conversation the store does not know marks nothing and is still TTDM_OK. */
enum ttdm_err ttdm_store_mark_read(struct ttdm_store *s, int64_t channel_id,
                                   const char *tiktok_conversation_id, int64_t up_to_ms,
                                   int *n_marked);

/* ---- Outbound -------------------------------------------------------------------------- */

struct ttdm_outbox_item;

struct ttdm_send_request {
    int64_t workspace_id;
    int64_t conversation_id;
    enum ttdm_msg_source source; /* AGENT or AUTO */
    enum ttdm_msg_type type;     /* TEXT or IMAGE (content already checked by the caller) */
    const char *text;            /* TEXT */
    size_t text_len;
    const char *media_path; /* IMAGE: file on disk */
    const char *media_mime;
    int64_t media_size;
    const char *idempotency_key; /* may be NULL; unique per conversation */
    int64_t now_ms;
    bool skip_policy; /* sandbox test setting: let TikTok be the judge */
    /*
     * Optional: with lease_ms > 0 and `leased` set, a new message is also leased for
     * lease_ms in the same transaction, as ttdm_store_claim_outbox would lease it, and
     * *leased is its outbox item (cleanup with ttdm_outbox_items_cleanup) -- unless an
     * older message of the conversation is still queued (leased->msg.id is then 0, and the
     * claims take both in order). The caller hands the item to its senders.
     */
    int64_t lease_ms;
    struct ttdm_outbox_item *leased;
};

/*
 * One transaction: reads the conversation and channel, asks core/policy at now_ms, and
 * either refuses with the rule's code (nothing written) or writes the message as queued,
 * counts it against the quota and the daily set, and puts it in the outbox.
 * A repeated idempotency key returns the first message (OK) without a new reservation,
 * CONFLICT when the content differs. `budget` (may be NULL) is the budget after the call.
 */
enum ttdm_err ttdm_store_reserve_send(struct ttdm_store *s, const struct ttdm_send_request *req,
                                      struct ttdm_message *out, struct ttdm_reply_budget *budget);

/*
 * The same reservation queued to the writer without waiting. `req` (and what it points to),
 * `out` and `budget` must stay valid until done(ud, rc) runs, once, on the writer thread
 * after the commit (quick, no store calls); *out and *budget are then as reserve_send
 * leaves them. Nothing is queued, and done never runs, when an error is returned here.
 */
typedef void (*ttdm_store_done_fn)(void *ud, enum ttdm_err rc);
enum ttdm_err ttdm_store_reserve_send_async(struct ttdm_store *s,
                                            const struct ttdm_send_request *req,
                                            struct ttdm_message *out,
                                            struct ttdm_reply_budget *budget,
                                            ttdm_store_done_fn done, void *ud);

struct ttdm_outbox_item {
    struct ttdm_message msg; /* owned: ttdm_message_cleanup */
    int64_t workspace_id;
    char business_id[TTDM_ID_MAX];
    char tiktok_conversation_id[TTDM_ID_MAX];
    char access_token[TTDM_TOKEN_MAX];
    enum ttdm_channel_status channel_status;
    int64_t lease_until; /* ms: nobody else takes it before; not to be sent after */
};

/*
 * Claims up to `max` queued messages due at `now_ms` (oldest first), leasing them for
 * `lease_ms` so no other worker or process takes them meanwhile. attempts is incremented.
 */
enum ttdm_err ttdm_store_claim_outbox(struct ttdm_store *s, int64_t now_ms, int64_t lease_ms,
                                      struct ttdm_outbox_item *items, size_t max, size_t *n);
void ttdm_outbox_items_cleanup(struct ttdm_outbox_item *items, size_t n);

/* TikTok accepted: status sent, TikTok id recorded, out of the outbox; merges an early echo. */
enum ttdm_err ttdm_store_mark_sent(struct ttdm_store *s, int64_t message_id,
                                   const char *tiktok_message_id, int64_t now_ms);
/*
 * The same, queued to the writer without waiting: `done` runs exactly once on the writer
 * thread after the commit (quick, no store calls), unless an error is returned here. The
 * TikTok id is copied.
 */
enum ttdm_err ttdm_store_mark_sent_async(struct ttdm_store *s, int64_t message_id,
                                         const char *tiktok_message_id, int64_t now_ms,
                                         ttdm_store_done_fn done, void *ud);

/*
 * Final failure: status failed with the reason, out of the outbox. `give_back` (a definite
 * refusal by TikTok or by our own re-check) returns the reservation: the message stops
 * counting against the quota and, if it was the conversation's only business message of
 * that day, the daily set. An uncertain outcome (timeout) must pass give_back = false.
 */
enum ttdm_err ttdm_store_mark_failed(struct ttdm_store *s, int64_t message_id, enum ttdm_err err,
                                     int tiktok_code, const char *error_text, bool give_back,
                                     int64_t now_ms);

/* Transient failure: stays queued, next attempt not before next_attempt_ms; lease released. */
enum ttdm_err ttdm_store_schedule_retry(struct ttdm_store *s, int64_t message_id,
                                        int64_t next_attempt_ms, const char *last_error);

/*
 * Sends a failed business message again, as a new reservation at now_ms: one transaction
 * that takes back whatever the failure left counted, asks core/policy as reserve_send does
 * and either refuses with the rule's code (nothing changes) or queues the same message again
 * (error cleared, timestamp now_ms). CONFLICT when the message is not a failed business
 * message; NOT_FOUND when it is not in the workspace. `out` and `budget` as reserve_send.
 */
enum ttdm_err ttdm_store_requeue_failed(struct ttdm_store *s, int64_t workspace_id,
                                        int64_t message_id, int64_t now_ms, bool skip_policy,
                                        struct ttdm_message *out, struct ttdm_reply_budget *budget);

/* ---- Reads for the API ------------------------------------------------------------------ */

struct ttdm_conversation_view {
    int64_t id;
    int64_t workspace_id;
    int64_t channel_id;
    char tiktok_conversation_id[TTDM_ID_MAX];
    int64_t customer_id;
    char customer_user_id[TTDM_ID_MAX];
    char customer_username[TTDM_NAME_MAX];
    char customer_region[TTDM_REGION_LEN];
    char business_id[TTDM_ID_MAX];
    char business_region[TTDM_REGION_LEN];
    enum ttdm_account_origin origin;
    enum ttdm_channel_status channel_status;
    char channel_username[TTDM_NAME_MAX];
    char channel_display_name[TTDM_NAME_MAX];
    char channel_badge_sha256[TTDM_HEX_TOKEN]; /* "" when the channel has no badge icon */
    struct ttdm_conversation_state state;      /* at the `now_ms` the read was made with */
    struct ttdm_channel_state channel_state;
    int64_t last_activity_at; /* ms of the newest message */
    char last_preview[256];   /* start of the newest message, UTF-8 safe cut */
    int unread_count;         /* customer messages since the last business reply */
    int64_t created_at;
};

/* One conversation with its state and budget at now_ms. */
enum ttdm_err ttdm_store_conversation_get(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                          int64_t now_ms, struct ttdm_conversation_view *out,
                                          struct ttdm_reply_budget *budget);

/*
 * A page of conversations, newest activity first. channel_id 0 = all channels of the
 * workspace. Cursor: (before_activity, before_id) of the last row of the previous page,
 * (0, 0) for the first page. *out and *budgets are heap arrays of *n (ttdm_free).
 */
enum ttdm_err ttdm_store_conversation_list(struct ttdm_store *s, int64_t workspace_id,
                                           int64_t channel_id, int64_t before_activity,
                                           int64_t before_id, size_t limit, int64_t now_ms,
                                           struct ttdm_conversation_view **out,
                                           struct ttdm_reply_budget **budgets, size_t *n);

/* A page of messages, newest first; before_id 0 = from the newest. Free with ttdm_messages_free.
 * NOT_FOUND when the conversation is not in the workspace. */
enum ttdm_err ttdm_store_message_list(struct ttdm_store *s, int64_t workspace_id,
                                      int64_t conversation_id, int64_t before_id, size_t limit,
                                      struct ttdm_message **out, size_t *n);
enum ttdm_err ttdm_store_message_get(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                     struct ttdm_message *out);

/* ---- Analytics ---------------------------------------------------------------------------- */

/* A counter of analytics_counters: metric "refused" (key: error code), "tiktok_error" (key:
 * TikTok's numeric code) or "auto_reply_skipped" (key: error code). */
struct ttdm_analytics_count {
    char metric[24];
    char key[48];
    int64_t value;
};

/* One channel's day. Arrays are heap, freed by ttdm_analytics_days_free. */
struct ttdm_analytics_day {
    int64_t day; /* ttdm_policy_day() */
    int64_t new_conversations;
    int64_t customer_messages;
    int64_t business_messages[4]; /* sent or read, indexed by enum ttdm_msg_source */
    int64_t daily_conversations_used;
    int64_t *response_ms; /* first-response times of waits that began this day, ascending */
    size_t n_response;
    struct ttdm_analytics_count *counts;
    size_t n_counts;
};
void ttdm_analytics_days_free(struct ttdm_analytics_day *days, size_t n);

/*
 * The channel's days from_day..to_day (inclusive, at most 366), one entry per day, oldest
 * first. A first response is the first business message from an agent or the TikTok app
 * (the auto-responder does not count) after a customer message that found nobody waiting;
 * it belongs to the day of that customer message. NOT_FOUND when the channel is not in the
 * workspace.
 */
enum ttdm_err ttdm_store_channel_analytics(struct ttdm_store *s, int64_t workspace_id,
                                           int64_t channel_id, int64_t from_day, int64_t to_day,
                                           struct ttdm_analytics_day **out, size_t *n);

/* Adds delta to a counter of the channel's day (`at_ms` names the day). */
enum ttdm_err ttdm_store_analytics_count(struct ttdm_store *s, int64_t channel_id, int64_t at_ms,
                                         const char *metric, const char *key, int64_t delta);

/*
 * Adds 1 to a counter of the conversation's channel and day (`at_ms` names the day);
 * NOT_FOUND when the conversation is not in the workspace. `metric` and `key` must be
 * static strings; a failure is also logged. The asynchronous form is queued to the writer
 * without waiting (callable from the writer's completion callbacks): done (may be NULL)
 * runs as for mark_sent_async; nothing is queued, and done never runs, when an error is
 * returned by the call itself.
 */
enum ttdm_err ttdm_store_count_conversation(struct ttdm_store *s, int64_t workspace_id,
                                            int64_t conversation_id, int64_t at_ms,
                                            const char *metric, const char *key);
enum ttdm_err ttdm_store_count_conversation_async(struct ttdm_store *s, int64_t workspace_id,
                                                  int64_t conversation_id, int64_t at_ms,
                                                  const char *metric, const char *key,
                                                  ttdm_store_done_fn done, void *ud);

/* ---- Diagnostics ------------------------------------------------------------------------ */

/* Group-commit counters since open (a backend without batching reports one op per commit). */
struct ttdm_store_stats {
    uint64_t commits;       /* write transactions committed */
    uint64_t writes;        /* write operations run (committed, refused or failed) */
    uint64_t largest_batch; /* most operations one transaction held */
};

void ttdm_store_stats(struct ttdm_store *s, struct ttdm_store_stats *out);

#endif /* TTDM_STORE_H */
