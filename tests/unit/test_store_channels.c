/* test_store_channels.c -- the store's channel lifecycle: users, sessions, OAuth states,
 * connect and reconnect in place, token rotation, settings, the auto-responder inside
 * record_inbound, sending a failed message again, analytics, and workspace isolation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"
#include "util/alloc.h"

#define SECOND_MS INT64_C(1000)
#define MINUTE_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)
#define T0 INT64_C(1735689600000) /* 2025-01-01T00:00:00Z */
#define DAY0 INT64_C(20089)       /* its day number */

struct fixture {
    char dir[64];
    char path[128];
    struct ttdm_policy_rules rules;
    struct ttdm_store *s;
    int64_t ws, ws2;
    int64_t channel;
};

static int64_t connect_account(struct fixture *f, int64_t ws, const char *business_id,
                               const char *username, int64_t reconnect_id, enum ttdm_err want,
                               bool *created)
{
    struct ttdm_channel ch;
    char other[TTDM_NAME_MAX] = "x";
    int64_t id = 0;
    bool c = false;

    memset(&ch, 0, sizeof(ch));
    ch.workspace_id = ws;
    snprintf(ch.business_id, sizeof(ch.business_id), "%s", business_id);
    snprintf(ch.username, sizeof(ch.username), "%s", username);
    snprintf(ch.display_name, sizeof(ch.display_name), "%s shop", username);
    snprintf(ch.region, sizeof(ch.region), "SG");
    ch.origin = TTDM_ORIGIN_APP;
    snprintf(ch.access_token, sizeof(ch.access_token), "sealed-access-%s", username);
    snprintf(ch.refresh_token, sizeof(ch.refresh_token), "sealed-refresh-%s", username);
    ch.token_expires_at = T0 + 24 * HOUR_MS;
    ch.refresh_expires_at = T0 + 365 * 24 * HOUR_MS;
    assert_int_equal(
        ttdm_store_channel_connect(f->s, &ch, reconnect_id, &id, &c, other, sizeof(other)), want);
    if (created)
        *created = c;
    if (want == TTDM_ERR_ACCOUNT_MISMATCH)
        assert_string_not_equal(other, "");
    else
        assert_string_equal(other, "");
    return id;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct ttdm_store_options opt;
    char err[256] = "";

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ttdm-storech-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/ttdm.db", f->dir);
    ttdm_policy_rules_default(&f->rules);
    memset(&opt, 0, sizeof(opt));
    opt.path = f->path;
    opt.rules = &f->rules;
    opt.durable = true;
    opt.group_commit_max = 64;
    if (ttdm_store_open(&opt, &f->s, err, sizeof(err)) != TTDM_OK)
        fail_msg("open failed: %s", err);
    assert_int_equal(ttdm_store_workspace_create(f->s, "one", &f->ws), TTDM_OK);
    assert_int_equal(ttdm_store_workspace_create(f->s, "two", &f->ws2), TTDM_OK);
    f->channel = connect_account(f, f->ws, "biz-1", "shop_one", 0, TTDM_OK, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[160];

    ttdm_store_close(f->s);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static struct ttdm_inbound_result customer_says(struct fixture *f, const char *conv,
                                                const char *msg_id, int64_t ts)
{
    struct ttdm_inbound ev;
    struct ttdm_inbound_result res;
    static const char text[] = "hello";

    memset(&ev, 0, sizeof(ev));
    ev.channel_id = f->channel;
    snprintf(ev.tiktok_conversation_id, sizeof(ev.tiktok_conversation_id), "%s", conv);
    snprintf(ev.tiktok_message_id, sizeof(ev.tiktok_message_id), "%s", msg_id);
    ev.direction = TTDM_DIR_CUSTOMER;
    ev.source = TTDM_SOURCE_CUSTOMER;
    ev.type = TTDM_MSG_TEXT;
    ev.text = text;
    ev.text_len = strlen(text);
    ev.raw_type = "text";
    snprintf(ev.customer_user_id, sizeof(ev.customer_user_id), "user-%s", conv);
    snprintf(ev.customer_username, sizeof(ev.customer_username), "alice");
    ev.timestamp_ms = ts;
    ev.received_at = ts + SECOND_MS;
    assert_int_equal(ttdm_store_record_inbound(f->s, &ev, &res), TTDM_OK);
    return res;
}

static enum ttdm_err send_text(struct fixture *f, int64_t conv, int64_t now, const char *text,
                               int64_t *id)
{
    struct ttdm_send_request req;
    struct ttdm_message m;
    enum ttdm_err rc;

    memset(&req, 0, sizeof(req));
    req.workspace_id = f->ws;
    req.conversation_id = conv;
    req.source = TTDM_SOURCE_AGENT;
    req.type = TTDM_MSG_TEXT;
    req.text = text;
    req.text_len = strlen(text);
    req.now_ms = now;
    rc = ttdm_store_reserve_send(f->s, &req, &m, NULL);
    if (rc == TTDM_OK && id)
        *id = m.id;
    ttdm_message_cleanup(&m);
    return rc;
}

static void test_users(void **state)
{
    struct fixture *f = *state;
    struct ttdm_user u, got, *list = NULL;
    char hash[TTDM_PWHASH_MAX];
    int64_t id = 0, n = 0;
    size_t count = 0;

    memset(&u, 0, sizeof(u));
    u.workspace_id = f->ws;
    u.role = TTDM_ROLE_ADMIN;
    snprintf(u.email, sizeof(u.email), "admin@example.com");
    assert_int_equal(ttdm_store_user_create(f->s, &u, "$argon2id$hash", &id), TTDM_OK);
    /* The email is the sign-in name: unique across workspaces. */
    u.workspace_id = f->ws2;
    assert_int_equal(ttdm_store_user_create(f->s, &u, "$argon2id$hash", NULL), TTDM_ERR_CONFLICT);
    snprintf(u.email, sizeof(u.email), "agent@two.example");
    u.role = TTDM_ROLE_AGENT;
    assert_int_equal(ttdm_store_user_create(f->s, &u, "$argon2id$other", NULL), TTDM_OK);
    u.workspace_id = 4242;
    snprintf(u.email, sizeof(u.email), "ghost@example.com");
    assert_int_equal(ttdm_store_user_create(f->s, &u, "x", NULL), TTDM_ERR_NOT_FOUND);

    assert_int_equal(
        ttdm_store_user_find_by_email(f->s, "admin@example.com", &got, hash, sizeof(hash)),
        TTDM_OK);
    assert_int_equal(got.id, id);
    assert_int_equal(got.role, TTDM_ROLE_ADMIN);
    assert_string_equal(hash, "$argon2id$hash");
    assert_int_equal(ttdm_store_user_find_by_email(f->s, "nobody@example.com", &got, NULL, 0),
                     TTDM_ERR_NOT_FOUND);
    assert_int_equal(ttdm_store_user_get(f->s, f->ws2, id, &got), TTDM_ERR_NOT_FOUND);
    assert_int_equal(ttdm_store_user_list(f->s, f->ws2, &list, &count), TTDM_OK);
    assert_int_equal(count, 1);
    assert_string_equal(list[0].email, "agent@two.example");
    ttdm_free(list);
    assert_int_equal(ttdm_store_user_count(f->s, &n), TTDM_OK);
    assert_int_equal(n, 2);
}

static void test_sessions_and_states(void **state)
{
    struct fixture *f = *state;
    struct ttdm_user u;
    struct ttdm_session se, got;
    struct ttdm_oauth_state st, out;
    int64_t uid = 0, sid = 0;

    memset(&u, 0, sizeof(u));
    u.workspace_id = f->ws;
    u.role = TTDM_ROLE_ADMIN;
    snprintf(u.email, sizeof(u.email), "a@example.com");
    assert_int_equal(ttdm_store_user_create(f->s, &u, "h", &uid), TTDM_OK);

    memset(&se, 0, sizeof(se));
    se.workspace_id = f->ws;
    se.user_id = uid;
    snprintf(se.csrf_token, sizeof(se.csrf_token), "csrf-1");
    snprintf(se.oauth_binding_sha256, sizeof(se.oauth_binding_sha256), "binding-hash");
    se.created_at = T0;
    se.expires_at = T0 + HOUR_MS;
    assert_int_equal(ttdm_store_session_create(f->s, &se, "token-hash", &sid), TTDM_OK);
    assert_int_equal(ttdm_store_session_find(f->s, "token-hash", T0 + 1, &got), TTDM_OK);
    assert_int_equal(got.id, sid);
    assert_int_equal(got.user_id, uid);
    assert_int_equal(got.role, TTDM_ROLE_ADMIN);
    assert_string_equal(got.csrf_token, "csrf-1");
    assert_int_equal(ttdm_store_session_find(f->s, "token-hash", T0 + HOUR_MS, &got),
                     TTDM_ERR_UNAUTHORIZED);
    assert_int_equal(ttdm_store_session_find(f->s, "other", T0, &got), TTDM_ERR_UNAUTHORIZED);

    /* A state is single use and tells whose session it was bound to. */
    memset(&st, 0, sizeof(st));
    st.workspace_id = f->ws;
    st.user_id = uid;
    st.session_id = sid;
    st.channel_id = f->channel;
    st.created_at = T0;
    st.expires_at = T0 + 10 * MINUTE_MS;
    assert_int_equal(ttdm_store_oauth_state_create(f->s, "state-hash", &st), TTDM_OK);
    assert_int_equal(ttdm_store_oauth_state_consume(f->s, "state-hash", T0 + MINUTE_MS, &out),
                     TTDM_OK);
    assert_int_equal(out.channel_id, f->channel);
    assert_int_equal(out.expires_at, st.expires_at);
    assert_true(out.session_alive);
    assert_string_equal(out.session_binding_sha256, "binding-hash");
    assert_int_equal(out.user_role, TTDM_ROLE_ADMIN);
    assert_int_equal(ttdm_store_oauth_state_consume(f->s, "state-hash", T0 + MINUTE_MS, &out),
                     TTDM_ERR_NOT_FOUND);

    /* Signed out: the state no longer has a live session. */
    st.channel_id = 0;
    assert_int_equal(ttdm_store_oauth_state_create(f->s, "state-2", &st), TTDM_OK);
    assert_int_equal(ttdm_store_session_delete(f->s, sid), TTDM_OK);
    assert_int_equal(ttdm_store_session_find(f->s, "token-hash", T0 + 1, &got),
                     TTDM_ERR_UNAUTHORIZED);
    assert_int_equal(ttdm_store_oauth_state_consume(f->s, "state-2", T0 + MINUTE_MS, &out),
                     TTDM_OK);
    assert_false(out.session_alive);
    assert_int_equal(out.channel_id, 0);
}

static void test_connect_and_reconnect_in_place(void **state)
{
    struct fixture *f = *state;
    struct ttdm_channel ch;
    struct ttdm_channel_settings set = {-1, NULL, 0, "JP", -1};
    bool created = true;
    int64_t other_ws, again;

    /* The same account again: the same channel, updated. */
    again = connect_account(f, f->ws, "biz-1", "shop_one_renamed", 0, TTDM_OK, &created);
    assert_int_equal(again, f->channel);
    assert_false(created);
    /* The same account in another workspace is that workspace's own channel. */
    other_ws = connect_account(f, f->ws2, "biz-1", "shop_one", 0, TTDM_OK, &created);
    assert_true(created);
    assert_true(other_ws != f->channel);

    /* Reconnecting with another account changes nothing. */
    assert_int_equal(ttdm_store_channel_require_reconnect(f->s, f->channel, "refresh_failed"),
                     TTDM_OK);
    connect_account(f, f->ws, "biz-2", "intruder", f->channel, TTDM_ERR_ACCOUNT_MISMATCH, NULL);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
    assert_string_equal(ch.business_id, "biz-1");
    assert_int_equal(ch.status, TTDM_CHANNEL_RECONNECT_REQUIRED);
    assert_string_equal(ch.status_reason, "refresh_failed");
    /* ...nor can another workspace reconnect it. */
    connect_account(f, f->ws2, "biz-1", "shop_one", f->channel, TTDM_ERR_NOT_FOUND, NULL);

    /* An admin's region survives a reconnect; the right account reconnects in place. */
    assert_int_equal(ttdm_store_channel_update_settings(f->s, f->ws, f->channel, &set), TTDM_OK);
    again = connect_account(f, f->ws, "biz-1", "shop_one", f->channel, TTDM_OK, &created);
    assert_int_equal(again, f->channel);
    assert_false(created);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
    assert_int_equal(ch.status, TTDM_CHANNEL_CONNECTED);
    assert_string_equal(ch.status_reason, "");
    assert_string_equal(ch.region, "JP");
    assert_true(ch.region_by_admin);
    assert_string_equal(ch.access_token, "sealed-access-shop_one");
    assert_true(ch.connected_at > 0);
}

static void test_token_rotation_is_compare_and_set(void **state)
{
    struct fixture *f = *state;
    struct ttdm_channel ch;

    assert_int_equal(ttdm_store_channel_set_tokens(f->s, f->channel, "sealed-refresh-shop_one",
                                                   "access-2", "refresh-2", T0 + 48 * HOUR_MS, 0),
                     TTDM_OK);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
    assert_string_equal(ch.access_token, "access-2");
    assert_string_equal(ch.refresh_token, "refresh-2");
    assert_int_equal(ch.token_expires_at, T0 + 48 * HOUR_MS);
    assert_int_equal(ch.refresh_expires_at, T0 + 365 * 24 * HOUR_MS); /* 0 keeps it */
    /* A refresher that read the old pair loses: nothing is overwritten. */
    assert_int_equal(ttdm_store_channel_set_tokens(f->s, f->channel, "sealed-refresh-shop_one",
                                                   "access-3", "refresh-3", T0, 0),
                     TTDM_ERR_CONFLICT);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
    assert_string_equal(ch.refresh_token, "refresh-2");
    assert_int_equal(ttdm_store_channel_set_tokens(f->s, 999, "x", "a", "r", T0, 0),
                     TTDM_ERR_NOT_FOUND);
}

static void test_settings(void **state)
{
    struct fixture *f = *state;
    struct ttdm_channel_settings set = {1, "Thanks, we will answer soon.", 150, "id",
                                        TTDM_ORIGIN_WEB};
    struct ttdm_channel ch;
    char *text = NULL;

    assert_int_equal(ttdm_store_channel_update_settings(f->s, f->ws2, f->channel, &set),
                     TTDM_ERR_NOT_FOUND);
    assert_int_equal(ttdm_store_channel_update_settings(f->s, f->ws, f->channel, &set), TTDM_OK);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
    assert_true(ch.auto_reply_enabled);
    assert_int_equal(ch.daily_limit, 150);
    assert_string_equal(ch.region, "id");
    assert_int_equal(ch.origin, TTDM_ORIGIN_WEB);
    assert_true(ch.origin_by_admin);
    assert_int_equal(ttdm_store_channel_auto_reply_text(f->s, f->ws, f->channel, &text), TTDM_OK);
    assert_string_equal(text, "Thanks, we will answer soon.");
    ttdm_free(text);
    assert_int_equal(ttdm_store_channel_auto_reply_text(f->s, f->ws2, f->channel, &text),
                     TTDM_ERR_NOT_FOUND);

    /* Unchanged members stay. */
    set.auto_reply_enabled = 0;
    set.auto_reply_text = NULL;
    set.daily_limit = 0;
    set.region = NULL;
    set.origin = -1;
    assert_int_equal(ttdm_store_channel_update_settings(f->s, f->ws, f->channel, &set), TTDM_OK);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
    assert_false(ch.auto_reply_enabled);
    assert_int_equal(ch.daily_limit, 150);

    assert_int_equal(ttdm_store_channel_set_badge(f->s, f->ws, f->channel, "/tmp/b.png",
                                                  "image/png", 68, "ab12"),
                     TTDM_OK);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
    assert_string_equal(ch.badge_mime, "image/png");
    assert_string_equal(ch.badge_sha256, "ab12");
    assert_int_equal(ttdm_store_channel_set_badge(f->s, f->ws2, f->channel, "", "", 0, ""),
                     TTDM_ERR_NOT_FOUND);
    assert_int_equal(ttdm_store_channel_set_badge(f->s, f->ws, f->channel, "", NULL, 0, NULL),
                     TTDM_OK);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
    assert_string_equal(ch.badge_path, "");
}

static void enable_auto_reply(struct fixture *f)
{
    struct ttdm_channel_settings set = {1, "Auto: thanks!", 0, NULL, -1};
    assert_int_equal(ttdm_store_channel_update_settings(f->s, f->ws, f->channel, &set), TTDM_OK);
}

static void test_auto_reply_once_per_window(void **state)
{
    struct fixture *f = *state;
    struct ttdm_inbound_result r;
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;
    struct ttdm_message m;

    enable_auto_reply(f);
    r = customer_says(f, "c1", "m1", T0);
    assert_true(r.opened_window);
    assert_true(r.auto_reply_id > 0);
    assert_int_equal(r.auto_reply_refused, TTDM_OK);
    assert_int_equal(ttdm_store_message_get(f->s, f->ws, r.auto_reply_id, &m), TTDM_OK);
    assert_int_equal(m.source, TTDM_SOURCE_AUTO);
    assert_int_equal(m.status, TTDM_STATUS_QUEUED);
    assert_string_equal(m.text, "Auto: thanks!");
    ttdm_message_cleanup(&m);
    /* It counts like any business message. */
    assert_int_equal(
        ttdm_store_conversation_get(f->s, f->ws, r.conversation_id, T0 + MINUTE_MS, &v, &b),
        TTDM_OK);
    assert_int_equal(b.replies_used, 1);
    assert_int_equal(b.daily_used, 1);

    /* Later messages of the same window, and a redelivery, get none. */
    r = customer_says(f, "c1", "m2", T0 + HOUR_MS);
    assert_false(r.opened_window);
    assert_int_equal(r.auto_reply_id, 0);
    r = customer_says(f, "c1", "m1", T0);
    assert_true(r.duplicate);
    assert_int_equal(r.auto_reply_id, 0);

    /* After the window closed, the next message opens a new one. */
    r = customer_says(f, "c1", "m3", T0 + HOUR_MS + 48 * HOUR_MS);
    assert_true(r.opened_window);
    assert_true(r.auto_reply_id > 0);
}

static void test_auto_reply_refused_is_recorded(void **state)
{
    struct fixture *f = *state;
    struct ttdm_inbound_result r;
    struct ttdm_analytics_day *days = NULL;
    size_t n = 0;
    bool seen = false;

    enable_auto_reply(f);
    assert_int_equal(ttdm_store_channel_require_reconnect(f->s, f->channel, "refresh_failed"),
                     TTDM_OK);
    r = customer_says(f, "c9", "m9", T0);
    assert_true(r.opened_window);
    assert_int_equal(r.auto_reply_id, 0);
    assert_int_equal(r.auto_reply_refused, TTDM_ERR_RECONNECT_REQUIRED);
    assert_int_equal(ttdm_store_channel_analytics(f->s, f->ws, f->channel, DAY0, DAY0, &days, &n),
                     TTDM_OK);
    assert_int_equal(n, 1);
    for (size_t i = 0; i < days[0].n_counts; i++) {
        if (strcmp(days[0].counts[i].metric, "auto_reply_skipped") == 0) {
            assert_string_equal(days[0].counts[i].key, "reconnect_required");
            assert_int_equal(days[0].counts[i].value, 1);
            seen = true;
        }
    }
    assert_true(seen);
    ttdm_analytics_days_free(days, n);
}

static void test_requeue_failed(void **state)
{
    struct fixture *f = *state;
    struct ttdm_inbound_result r = customer_says(f, "c2", "m1", T0);
    struct ttdm_message m;
    struct ttdm_reply_budget b;
    int64_t id = 0, other = 0;

    assert_int_equal(send_text(f, r.conversation_id, T0 + MINUTE_MS, "hello there", &id), TTDM_OK);
    /* Not failed yet: nothing to send again. */
    assert_int_equal(ttdm_store_requeue_failed(f->s, f->ws, id, T0 + 2 * MINUTE_MS, false, &m, &b),
                     TTDM_ERR_CONFLICT);
    /* An uncertain failure keeps counting; the requeue must not count it twice. */
    assert_int_equal(ttdm_store_mark_failed(f->s, id, TTDM_ERR_TIKTOK_UNAVAILABLE, 0, "timeout",
                                            false, T0 + 2 * MINUTE_MS),
                     TTDM_OK);
    assert_int_equal(ttdm_store_requeue_failed(f->s, f->ws2, id, T0 + 3 * MINUTE_MS, false, &m, &b),
                     TTDM_ERR_NOT_FOUND);
    assert_int_equal(ttdm_store_requeue_failed(f->s, f->ws, id, T0 + 3 * MINUTE_MS, false, &m, &b),
                     TTDM_OK);
    assert_int_equal(m.status, TTDM_STATUS_QUEUED);
    assert_int_equal(m.timestamp_ms, T0 + 3 * MINUTE_MS);
    assert_string_equal(m.error_code, "");
    assert_int_equal(m.attempts, 0);
    assert_int_equal(b.replies_used, 1);
    ttdm_message_cleanup(&m);

    /* Every rule again: 49 hours later the window is closed and nothing changes. */
    assert_int_equal(send_text(f, r.conversation_id, T0 + 4 * MINUTE_MS, "second", &other),
                     TTDM_OK);
    assert_int_equal(ttdm_store_mark_failed(f->s, other, TTDM_ERR_TIKTOK, 40001, "refused", true,
                                            T0 + 5 * MINUTE_MS),
                     TTDM_OK);
    assert_int_equal(
        ttdm_store_requeue_failed(f->s, f->ws, other, T0 + 49 * HOUR_MS, false, &m, &b),
        TTDM_ERR_WINDOW_CLOSED);
    assert_false(b.window_open);
    assert_int_equal(ttdm_store_message_get(f->s, f->ws, other, &m), TTDM_OK);
    assert_int_equal(m.status, TTDM_STATUS_FAILED);
    ttdm_message_cleanup(&m);
}

static void test_analytics(void **state)
{
    struct fixture *f = *state;
    struct ttdm_inbound_result a, b;
    struct ttdm_analytics_day *days = NULL;
    size_t n = 0;
    int64_t id1 = 0, id2 = 0;

    /* Day 0: a writes at T0 and T0+1m, the agent answers at T0+5m; b writes at T0+1h and is
     * answered at T0+1h+2m; one refusal and one TikTok error. */
    a = customer_says(f, "ca", "a1", T0);
    customer_says(f, "ca", "a2", T0 + MINUTE_MS);
    assert_int_equal(send_text(f, a.conversation_id, T0 + 5 * MINUTE_MS, "answer a", &id1),
                     TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, id1, "tt-1", T0 + 5 * MINUTE_MS), TTDM_OK);
    b = customer_says(f, "cb", "b1", T0 + HOUR_MS);
    assert_int_equal(
        send_text(f, b.conversation_id, T0 + HOUR_MS + 2 * MINUTE_MS, "answer b", &id2), TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, id2, "tt-2", T0 + HOUR_MS + 2 * MINUTE_MS),
                     TTDM_OK);
    assert_int_equal(send_text(f, b.conversation_id, T0 + HOUR_MS + 3 * MINUTE_MS, "fails", &id2),
                     TTDM_OK);
    assert_int_equal(ttdm_store_mark_failed(f->s, id2, TTDM_ERR_TIKTOK, 40001, "no", true,
                                            T0 + HOUR_MS + 3 * MINUTE_MS),
                     TTDM_OK);
    assert_int_equal(ttdm_store_analytics_count(f->s, f->channel, T0 + 2 * HOUR_MS, "refused",
                                                "window_closed", 1),
                     TTDM_OK);
    /* Day 1: one more customer message, unanswered. */
    customer_says(f, "cb", "b2", T0 + 25 * HOUR_MS);

    assert_int_equal(
        ttdm_store_channel_analytics(f->s, f->ws2, f->channel, DAY0, DAY0 + 1, &days, &n),
        TTDM_ERR_NOT_FOUND);
    assert_int_equal(
        ttdm_store_channel_analytics(f->s, f->ws, f->channel, DAY0, DAY0 + 400, &days, &n),
        TTDM_ERR_BAD_REQUEST);
    assert_int_equal(
        ttdm_store_channel_analytics(f->s, f->ws, f->channel, DAY0, DAY0 + 1, &days, &n), TTDM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(days[0].day, DAY0);
    assert_int_equal(days[0].customer_messages, 3);
    assert_int_equal(days[0].business_messages[TTDM_SOURCE_AGENT], 2);
    assert_int_equal(days[0].daily_conversations_used, 2);
    assert_int_equal(days[0].n_response, 2);
    assert_int_equal(days[0].response_ms[0], 2 * MINUTE_MS); /* sorted */
    assert_int_equal(days[0].response_ms[1], 5 * MINUTE_MS);
    {
        bool refused = false, error = false;
        for (size_t i = 0; i < days[0].n_counts; i++) {
            const struct ttdm_analytics_count *k = &days[0].counts[i];
            if (strcmp(k->metric, "refused") == 0 && strcmp(k->key, "window_closed") == 0)
                refused = k->value == 1;
            if (strcmp(k->metric, "tiktok_error") == 0 && strcmp(k->key, "40001") == 0)
                error = k->value == 1;
        }
        assert_true(refused);
        assert_true(error);
    }
    assert_int_equal(days[1].customer_messages, 1);
    assert_int_equal(days[1].n_response, 0);
    assert_int_equal(days[1].daily_conversations_used, 0);
    ttdm_analytics_days_free(days, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_and_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_and_reconnect_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_rotation_is_compare_and_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_reply_once_per_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_reply_refused_is_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requeue_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_analytics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
