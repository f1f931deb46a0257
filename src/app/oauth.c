/* oauth.c -- Add TikTok Account and Reconnect Account: the authorize URL with a state bound
 * to the admin's session, then the callback that checks it, exchanges the code, reads the
 * profile and creates, updates or reconnects the channel with encrypted tokens. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "app/channels.h"
#include "app/internal.h"
#include "tiktok/client.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

/* Without these three a channel cannot read or send messages, whatever else was granted. */
static const char *const needed_scopes[] = {"user.info.basic", "message.list.read",
                                            "message.list.send"};

const char *ttdm_oauth_result_name(enum ttdm_oauth_result r)
{
    switch (r) {
    case TTDM_OAUTH_CONNECTED:
        return "connected";
    case TTDM_OAUTH_UPDATED:
        return "updated";
    case TTDM_OAUTH_RECONNECTED:
        return "reconnected";
    default:
        return "unknown";
    }
}

enum ttdm_err ttdm_app_oauth_start(struct ttdm_app *app, const struct ttdm_principal *who,
                                   int64_t channel_id, char *url, size_t url_size,
                                   int64_t *expires_at, struct ttdm_err_detail *detail)
{
    struct ttdm_tiktok_config tc;
    struct ttdm_oauth_state st;
    struct ttdm_channel ch;
    char state[TTDM_HEX_TOKEN], hash[TTDM_HEX_TOKEN], redirect[TTDM_PATH_MAX + 32];
    int64_t now = ttdm_clock_now_ms();
    enum ttdm_err rc;

    memset(detail, 0, sizeof(*detail));
    if (who->role != TTDM_ROLE_ADMIN)
        return TTDM_ERR_FORBIDDEN;
    if (channel_id != 0) {
        rc = ttdm_store_channel_get(app->store, who->workspace_id, channel_id, &ch);
        sodium_memzero(&ch, sizeof(ch));
        if (rc)
            return rc;
    }
    if (who->session_id == 0) {
        /* The state is bound to the browser session that started it; an API key has no
         * browser, and a login link that anyone could finish would let a stranger's TikTok
         * account into this workspace. */
        snprintf(detail->message, sizeof(detail->message),
                 "Connecting a TikTok account needs an admin signed in to ttdm in the browser "
                 "that will log in to TikTok; an API key cannot do it.");
        return TTDM_ERR_FORBIDDEN;
    }
    memset(&st, 0, sizeof(st));
    st.workspace_id = who->workspace_id;
    st.user_id = who->user_id;
    st.session_id = who->session_id;
    st.channel_id = channel_id;
    st.created_at = now;
    st.expires_at = now + app->cfg.oauth_state_ttl_s * 1000;
    ttdm_random_hex(32, state);
    ttdm_sha256_hex(state, strlen(state), hash);

    memset(&tc, 0, sizeof(tc));
    tc.auth_base = app->cfg.tiktok_auth_base;
    tc.app_id = app->cfg.tiktok_app_id;
    ttdm_config_redirect_uri(&app->cfg, redirect, sizeof(redirect));
    rc = ttdm_tiktok_authorize_url(&tc, app->cfg.oauth_scopes, redirect, state, url, url_size);
    if (rc)
        return rc;
    rc = ttdm_store_oauth_state_create(app->store, hash, &st);
    if (rc) {
        url[0] = '\0';
        return rc;
    }
    if (expires_at)
        *expires_at = st.expires_at;
    LOG_INFO("oauth", "workspace=%lld user=%lld started a TikTok login (reconnect channel=%lld)",
             (long long)who->workspace_id, (long long)who->user_id, (long long)channel_id);
    return TTDM_OK;
}

/* "scope" of the token answer is a comma-separated list. */
static bool scope_granted(const char *granted, const char *want)
{
    size_t n = strlen(want);
    const char *p = granted;
    while (*p) {
        size_t len;
        while (*p == ',' || *p == ' ')
            p++;
        len = strcspn(p, ", ");
        if (len == n && strncmp(p, want, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* The OAuth error TikTok redirected with, as our error; the description is TikTok's text. */
static enum ttdm_err redirect_error(const struct ttdm_oauth_callback *cb,
                                    struct ttdm_err_detail *detail)
{
    const char *desc = cb->error_description ? cb->error_description : "";
    enum ttdm_err rc;

    if (strcmp(cb->error, "access_denied") == 0) {
        rc = TTDM_ERR_OAUTH_DENIED;
        snprintf(detail->message, sizeof(detail->message),
                 "The TikTok login was cancelled, so nothing was connected (TikTok said: "
                 "access_denied%s%.200s). Start again and choose Continue.",
                 desc[0] ? ", " : "", desc);
    } else if (strcmp(cb->error, "invalid_scope") == 0) {
        rc = TTDM_ERR_OAUTH_SCOPE;
        snprintf(detail->message, sizeof(detail->message),
                 "TikTok refused the permissions ttdm asks for, so nothing was connected "
                 "(TikTok said: invalid_scope%s%.200s). Check that the TikTok app is approved "
                 "for every scope in oauth_scopes.",
                 desc[0] ? ", " : "", desc);
    } else {
        rc = TTDM_ERR_OAUTH_FAILED;
        snprintf(detail->message, sizeof(detail->message),
                 "TikTok ended the login with the error %.64s%s%.200s, so nothing was "
                 "connected. Start again.",
                 cb->error, desc[0] ? ": " : "", desc);
    }
    return rc;
}

/* The state: known, unused (consumed now), unexpired, from this browser, of an admin. */
static enum ttdm_err check_state(struct ttdm_app *app, const struct ttdm_oauth_callback *cb,
                                 struct ttdm_oauth_state *st, struct ttdm_err_detail *detail)
{
    char hash[TTDM_HEX_TOKEN], binding[TTDM_HEX_TOKEN];
    int64_t now = ttdm_clock_now_ms();
    enum ttdm_err rc;

    if (!cb->state || !cb->state[0] || strlen(cb->state) > 128) {
        snprintf(detail->message, sizeof(detail->message),
                 "TikTok's answer has no valid state, so it cannot be matched to a login "
                 "started here; nothing was connected. Start again from ttdm.");
        return TTDM_ERR_OAUTH_STATE;
    }
    ttdm_sha256_hex(cb->state, strlen(cb->state), hash);
    rc = ttdm_store_oauth_state_consume(app->store, hash, now, st);
    if (rc == TTDM_ERR_NOT_FOUND) {
        snprintf(detail->message, sizeof(detail->message),
                 "This TikTok login link is unknown or was already used (each one works once), "
                 "so nothing was connected. Start again from ttdm.");
        return TTDM_ERR_OAUTH_STATE;
    }
    if (rc)
        return rc;
    if (now >= st->expires_at) {
        snprintf(detail->message, sizeof(detail->message),
                 "This TikTok login took longer than %lld minutes and expired, so nothing was "
                 "connected. Start again and finish within that time.",
                 (long long)(app->cfg.oauth_state_ttl_s / 60));
        return TTDM_ERR_OAUTH_STATE;
    }
    if (!st->session_alive) {
        snprintf(detail->message, sizeof(detail->message),
                 "The ttdm session that started this TikTok login has ended, so nothing was "
                 "connected. Sign in again and start again.");
        return TTDM_ERR_OAUTH_STATE;
    }
    if (!cb->binding || strlen(cb->binding) != TTDM_HEX_TOKEN - 1)
        binding[0] = '\0';
    else
        ttdm_sha256_hex(cb->binding, strlen(cb->binding), binding);
    if (!binding[0] || !ttdm_const_eq(binding, strlen(binding), st->session_binding_sha256,
                                      strlen(st->session_binding_sha256))) {
        snprintf(detail->message, sizeof(detail->message),
                 "This TikTok login was started in another browser, so nothing was connected. "
                 "Start it again in the browser you are signed in with.");
        return TTDM_ERR_OAUTH_STATE;
    }
    if (st->user_role != TTDM_ROLE_ADMIN) {
        snprintf(detail->message, sizeof(detail->message),
                 "Only an admin can connect TikTok accounts, and the user who started this "
                 "login no longer is one; nothing was connected.");
        return TTDM_ERR_FORBIDDEN;
    }
    return TTDM_OK;
}

/* A TikTok failure during the callback, in words for the page. */
static enum ttdm_err tiktok_failure(enum ttdm_err rc, const char *step,
                                    const struct ttdm_tiktok_result *res,
                                    struct ttdm_err_detail *detail)
{
    if (res->tiktok_code)
        snprintf(detail->message, sizeof(detail->message),
                 "TikTok refused to %s ([%d] %.200s), so nothing was connected. Start again.", step,
                 res->tiktok_code, res->tiktok_message);
    else
        snprintf(detail->message, sizeof(detail->message),
                 "TikTok could not %s (%.200s), so nothing was connected. Start again in a few "
                 "minutes.",
                 step, res->tiktok_message);
    return rc;
}

/* Profile and sealed tokens of the account that logged in, ready for the store. */
static enum ttdm_err build_channel(struct ttdm_app *app, int64_t workspace_id,
                                   const struct ttdm_tiktok_tokens *tok, struct ttdm_channel *out,
                                   struct ttdm_err_detail *detail)
{
    struct ttdm_tiktok_profile profile;
    struct ttdm_tiktok_result res;
    int64_t now = ttdm_clock_now_ms();
    enum ttdm_err rc;

    memset(out, 0, sizeof(*out));
    memset(&res, 0, sizeof(res));
    rc = ttdm_tiktok_get_profile(ttdm_app_tiktok(app), tok->access_token, tok->open_id, &profile,
                                 &res);
    if (rc)
        return tiktok_failure(rc == TTDM_ERR_TIKTOK_UNAVAILABLE ? rc : TTDM_ERR_TIKTOK,
                              "return the account's profile", &res, detail);
    out->workspace_id = workspace_id;
    ttdm_strlcpy(out->business_id, tok->open_id, sizeof(out->business_id));
    ttdm_strlcpy(out->username, profile.username, sizeof(out->username));
    ttdm_strlcpy(out->display_name, profile.display_name, sizeof(out->display_name));
    ttdm_strlcpy(out->avatar_url, profile.profile_image, sizeof(out->avatar_url));
    for (size_t i = 0; profile.region[i] && i < sizeof(out->region) - 1; i++)
        out->region[i] = (char)toupper((unsigned char)profile.region[i]);
    out->origin = ttdm_account_origin_parse(profile.account_origin);
    out->status = TTDM_CHANNEL_CONNECTED;
    out->token_expires_at = now + tok->expires_in * 1000;
    out->refresh_expires_at =
        tok->refresh_token_expires_in > 0 ? now + tok->refresh_token_expires_in * 1000 : 0;
    out->daily_limit = (int)app->cfg.rule_daily_limit_default;
    if (ttdm_app_token_seal(app, tok->access_token, out->access_token, sizeof(out->access_token)) ||
        ttdm_app_token_seal(app, tok->refresh_token, out->refresh_token,
                            sizeof(out->refresh_token)))
        return TTDM_ERR_INTERNAL;
    return TTDM_OK;
}

static void mismatch_message(const struct ttdm_channel *got, const struct ttdm_channel *want,
                             struct ttdm_err_detail *detail)
{
    snprintf(detail->message, sizeof(detail->message),
             "You logged in to TikTok as @%.64s (business id %.64s), but this channel is "
             "connected to @%.64s (business id %.64s). Nothing was changed: log in to TikTok "
             "as @%.64s and reconnect again.",
             got->username, got->business_id, want->username, want->business_id, want->username);
}

enum ttdm_err ttdm_app_oauth_callback(struct ttdm_app *app, const struct ttdm_oauth_callback *cb,
                                      struct ttdm_oauth_outcome *out,
                                      struct ttdm_err_detail *detail)
{
    struct ttdm_oauth_state st;
    struct ttdm_tiktok_tokens tok;
    struct ttdm_tiktok_result res;
    struct ttdm_channel ch, target;
    char redirect[TTDM_PATH_MAX + 32], other[TTDM_NAME_MAX] = "";
    bool created = false;
    enum ttdm_err rc;

    memset(detail, 0, sizeof(*detail));
    memset(out, 0, sizeof(*out));
    memset(&tok, 0, sizeof(tok));
    memset(&res, 0, sizeof(res));
    memset(&ch, 0, sizeof(ch));
    memset(&target, 0, sizeof(target));

    if (cb->error && cb->error[0]) {
        /* The state is spent all the same: a link works once, whatever happened. */
        if (cb->state && cb->state[0]) {
            struct ttdm_err_detail ignored;
            memset(&ignored, 0, sizeof(ignored));
            check_state(app, cb, &st, &ignored);
        }
        rc = redirect_error(cb, detail);
        LOG_INFO("oauth", "TikTok login ended with %s", ttdm_err_code(rc));
        return rc;
    }
    rc = check_state(app, cb, &st, detail);
    if (rc)
        goto done;
    if (st.channel_id != 0) {
        rc = ttdm_store_channel_get(app->store, st.workspace_id, st.channel_id, &target);
        if (rc == TTDM_ERR_NOT_FOUND)
            snprintf(detail->message, sizeof(detail->message),
                     "The channel to reconnect no longer exists; nothing was connected.");
        if (rc)
            goto done;
    }
    if (!cb->code || !cb->code[0] || strlen(cb->code) > 512) {
        snprintf(detail->message, sizeof(detail->message),
                 "TikTok's answer has no authorization code, so nothing was connected. Start "
                 "again.");
        rc = TTDM_ERR_OAUTH_CODE;
        goto done;
    }
    ttdm_config_redirect_uri(&app->cfg, redirect, sizeof(redirect));
    rc = ttdm_tiktok_exchange_code(ttdm_app_tiktok(app), cb->code, redirect, &tok, &res);
    if (rc == TTDM_ERR_TIKTOK_UNAVAILABLE) {
        rc = tiktok_failure(rc, "exchange the authorization code", &res, detail);
        goto done;
    }
    if (rc) {
        rc = tiktok_failure(TTDM_ERR_OAUTH_CODE, "accept the authorization code", &res, detail);
        goto done;
    }
    for (size_t i = 0; i < sizeof(needed_scopes) / sizeof(needed_scopes[0]); i++) {
        if (tok.scope[0] && !scope_granted(tok.scope, needed_scopes[i])) {
            snprintf(detail->message, sizeof(detail->message),
                     "The TikTok login did not grant the permission %s, which ttdm needs, so "
                     "nothing was connected. Log in again and allow every permission.",
                     needed_scopes[i]);
            rc = TTDM_ERR_OAUTH_SCOPE;
            goto done;
        }
    }
    if (!tok.open_id[0]) {
        snprintf(detail->message, sizeof(detail->message),
                 "TikTok did not say which account logged in (no open_id), so nothing was "
                 "connected. Start again.");
        rc = TTDM_ERR_TIKTOK;
        goto done;
    }
    rc = build_channel(app, st.workspace_id, &tok, &ch, detail);
    if (rc)
        goto done;
    if (st.channel_id != 0 && strcmp(ch.business_id, target.business_id) != 0) {
        mismatch_message(&ch, &target, detail);
        rc = TTDM_ERR_ACCOUNT_MISMATCH;
        goto done;
    }
    rc = ttdm_store_channel_connect(app->store, &ch, st.channel_id, &ch.id, &created, other,
                                    sizeof(other));
    ttdm_lcache_clear(&app->routes);
    if (rc == TTDM_ERR_ACCOUNT_MISMATCH) {
        /* The channel changed accounts between our read and the write: same answer. */
        ttdm_strlcpy(target.username, other, sizeof(target.username));
        mismatch_message(&ch, &target, detail);
    }
    if (rc)
        goto done;
    rc = ttdm_app_channel_get(app, st.workspace_id, ch.id, &out->channel, NULL);
    if (rc)
        goto done;
    if (st.channel_id != 0) {
        out->result = TTDM_OAUTH_RECONNECTED;
        snprintf(out->message, sizeof(out->message), "Your channel has been reconnected.");
    } else if (created) {
        out->result = TTDM_OAUTH_CONNECTED;
        snprintf(out->message, sizeof(out->message), "Your TikTok account @%.64s is connected.",
                 out->channel.username);
    } else {
        out->result = TTDM_OAUTH_UPDATED;
        snprintf(out->message, sizeof(out->message),
                 "Your TikTok account @%.64s was already connected; its channel was updated.",
                 out->channel.username);
    }
    LOG_INFO("oauth", "channel=%lld business=%s %s in workspace=%lld", (long long)out->channel.id,
             out->channel.business_id, ttdm_oauth_result_name(out->result),
             (long long)st.workspace_id);
done:
    if (rc) {
        LOG_INFO("oauth", "TikTok login refused: %s", ttdm_err_code(rc));
        /* A refused reconnect still names its channel, so the browser can return to it. */
        out->channel.id = st.channel_id;
    } else {
        ttdm_app_publish_channel(app, st.workspace_id, out->channel.id);
    }
    sodium_memzero(&tok, sizeof(tok));
    sodium_memzero(&ch, sizeof(ch));
    sodium_memzero(&target, sizeof(target));
    return rc;
}
