/* channels.h -- a channel's life: TikTok login (connect, reconnect), token refresh, settings,
 * badge icon, analytics, and sending failed messages again. */
#ifndef TTDM_APP_CHANNELS_H
#define TTDM_APP_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "app/users.h"
#include "store/store.h"

#define TTDM_BADGE_MAX_BYTES (256 * 1024)

/* ---- TikTok login ----------------------------------------------------------------------- */

/*
 * Starts a TikTok login for a signed-in admin: a single-use state bound to the admin's
 * session and valid oauth_state_ttl_s, and the authorize URL to send the browser to.
 * channel_id 0 adds an account; otherwise it reconnects that channel (NOT_FOUND when it is not
 * in the workspace). FORBIDDEN without a session (an API key cannot complete a browser login)
 * or for an agent. *expires_at (may be NULL) is when the state stops being accepted.
 */
enum ttdm_err ttdm_app_oauth_start(struct ttdm_app *app, const struct ttdm_principal *who,
                                   int64_t channel_id, char *url, size_t url_size,
                                   int64_t *expires_at, struct ttdm_err_detail *detail);

/* The query of TikTok's redirect back, and the browser's binding cookie (all may be NULL). */
struct ttdm_oauth_callback {
    const char *code;
    const char *state;
    const char *error;
    const char *error_description;
    const char *binding; /* value of the TTDM_OAUTH_COOKIE cookie */
};

enum ttdm_oauth_result {
    TTDM_OAUTH_CONNECTED = 0, /* a new channel */
    TTDM_OAUTH_UPDATED,       /* the account was already connected: its channel was updated */
    TTDM_OAUTH_RECONNECTED,   /* Reconnect Account succeeded */
};
const char *ttdm_oauth_result_name(enum ttdm_oauth_result r); /* "connected", ... */

struct ttdm_oauth_outcome {
    enum ttdm_oauth_result result;
    struct ttdm_channel channel; /* tokens blanked */
    char message[256];           /* "Your channel has been reconnected." ... */
};

/*
 * Ends a TikTok login: checks the state (known, unused, unexpired, bound to this browser's
 * session of an admin), exchanges the code, reads the profile, stores the tokens encrypted
 * and creates, updates or reconnects the channel. On any error nothing is created or
 * changed and detail->message says what happened: OAUTH_DENIED, OAUTH_SCOPE, OAUTH_STATE,
 * OAUTH_CODE, OAUTH_FAILED, ACCOUNT_MISMATCH (naming both accounts), TIKTOK(_UNAVAILABLE).
 */
enum ttdm_err ttdm_app_oauth_callback(struct ttdm_app *app, const struct ttdm_oauth_callback *cb,
                                      struct ttdm_oauth_outcome *out,
                                      struct ttdm_err_detail *detail);

/* ---- Tokens ------------------------------------------------------------------------------ */

/* Starts and stops the thread that refreshes access tokens token_refresh_ahead_s before they
 * expire (checked every token_refresh_interval_ms). The server runs it; commands do not. */
enum ttdm_err ttdm_app_refresher_start(struct ttdm_app *app);
void ttdm_app_refresher_stop(struct ttdm_app *app);

/*
 * Refreshes one channel's tokens now (E3) and stores the rotated pair in one transaction;
 * `access_out` (may be NULL) gets the new access token in clear. Returns TTDM_OK,
 * TIKTOK_UNAVAILABLE (try later; nothing changed), or TOKEN_EXPIRED when the refresh failed
 * for good: the channel is then reconnect_required.
 */
enum ttdm_err ttdm_app_channel_refresh(struct ttdm_app *app, int64_t workspace_id,
                                       int64_t channel_id, char *access_out, size_t access_size);

/* ---- Settings ---------------------------------------------------------------------------- */

/* What a PATCH asks to change; NULL / -1 / 0 members are left as they are. */
struct ttdm_channel_patch {
    int auto_reply_enabled;      /* -1, 0, 1 */
    const char *auto_reply_text; /* NULL: unchanged */
    int64_t daily_limit;         /* 0: unchanged */
    const char *region;          /* NULL: unchanged; "" unknown */
    const char *origin;          /* NULL: unchanged; "app", "web", "unknown" */
};

/*
 * Checks and applies an admin's changes: the auto-responder text obeys R5 like any message
 * (and may only be empty while the auto-responder is off), the daily limit lies within the
 * rules' bounds, the region is two letters. *out is the channel afterwards.
 */
enum ttdm_err ttdm_app_channel_update(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                      const struct ttdm_channel_patch *patch,
                                      struct ttdm_channel *out, struct ttdm_err_detail *detail);

/* The channel as the API shows it (tokens blanked) and its auto-responder text (heap, may
 * be NULL when not wanted; ttdm_free). */
enum ttdm_err ttdm_app_channel_get(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                   struct ttdm_channel *out, char **auto_reply_text);

/* ---- Badge icon -------------------------------------------------------------------------- */

/*
 * Judges an uploaded badge by its bytes: PNG, JPEG or SVG (an XML document whose root is
 * <svg>), at most TTDM_BADGE_MAX_BYTES. Returns the MIME type or NULL; pure.
 */
const char *ttdm_app_badge_sniff(const unsigned char *data, size_t len);

/* Stores the icon (content-addressed under DATA_DIR/badges/) and sets it on the channel.
 * BADGE_TOO_LARGE, BADGE_FORMAT. */
enum ttdm_err ttdm_app_badge_set(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                 const unsigned char *data, size_t len, struct ttdm_channel *out,
                                 struct ttdm_err_detail *detail);
/* The icon's bytes (heap, ttdm_free), type and SHA-256; NOT_FOUND when there is none. */
enum ttdm_err ttdm_app_badge_get(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                 unsigned char **data, size_t *len, char *mime, size_t mime_size,
                                 char sha256[TTDM_HEX_TOKEN]);
/* Removes the channel's badge (the file stays: another channel may show the same bytes). */
enum ttdm_err ttdm_app_badge_delete(struct ttdm_app *app, int64_t workspace_id, int64_t id);

/* ---- Analytics --------------------------------------------------------------------------- */

/* The channel's days from..to (ttdm_policy_day numbers, at most 366 days); see
 * ttdm_store_channel_analytics. Free with ttdm_analytics_days_free. */
enum ttdm_err ttdm_app_channel_analytics(struct ttdm_app *app, int64_t workspace_id, int64_t id,
                                         int64_t from_day, int64_t to_day,
                                         struct ttdm_analytics_day **days, size_t *n);

/* Today's day number (calendar of R4). */
int64_t ttdm_app_today(const struct ttdm_app *app);

/* ---- Failed messages --------------------------------------------------------------------- */

/*
 * Sends a failed business message again: every rule is checked anew (content, images,
 * R1-R4 and the channel's state) and the same message is queued. CONFLICT when the message
 * is not a failed business message. Like ttdm_app_send otherwise.
 */
enum ttdm_err ttdm_app_retry_message(struct ttdm_app *app, int64_t workspace_id, int64_t message_id,
                                     struct ttdm_message *out, struct ttdm_reply_budget *budget,
                                     struct ttdm_err_detail *detail);

#endif /* TTDM_APP_CHANNELS_H */
