/* test_store.c -- the SQLite store: migrations, exactly-once inbound, rule state under any
 * webhook order, the seed's simulation, R4's daily set, outbox, paging, workspace isolation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store/migrations.h"
#include "store/store.h"
#include "util/alloc.h"

#define SECOND_MS INT64_C(1000)
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)
#define T0 INT64_C(1735689600000) /* 2025-01-01T00:00:00Z: hour 0 of every scenario */

static int64_t hour(int h)
{
    return T0 + h * HOUR_MS;
}

struct fixture {
    char dir[64];
    char path[128];
    struct ttdm_policy_rules rules;
    struct ttdm_store *s;
    int64_t ws;
    int64_t channel;
};

static struct ttdm_store *open_store(struct fixture *f)
{
    struct ttdm_store_options opt = {
        .path = f->path, .rules = &f->rules, .durable = true, .group_commit_max = 64};
    struct ttdm_store *s = NULL;
    char err[256] = "";

    if (ttdm_store_open(&opt, &s, err, sizeof(err)) != TTDM_OK)
        fail_msg("open failed: %s", err);
    return s;
}

static int64_t add_channel(struct fixture *f, int64_t ws, const char *business_id)
{
    struct ttdm_channel ch;
    int64_t id = 0;
    bool created = false;

    memset(&ch, 0, sizeof(ch));
    ch.workspace_id = ws;
    snprintf(ch.business_id, sizeof(ch.business_id), "%s", business_id);
    snprintf(ch.username, sizeof(ch.username), "shop");
    snprintf(ch.access_token, sizeof(ch.access_token), "token-%s", business_id);
    snprintf(ch.region, sizeof(ch.region), "SG");
    ch.origin = TTDM_ORIGIN_APP;
    assert_int_equal(ttdm_store_channel_upsert(f->s, &ch, &id, &created), TTDM_OK);
    assert_true(created);
    return id;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ttdm-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/ttdm.db", f->dir);
    ttdm_policy_rules_default(&f->rules);
    f->s = open_store(f);
    assert_int_equal(ttdm_store_workspace_create(f->s, "acme", &f->ws), TTDM_OK);
    f->channel = add_channel(f, f->ws, "biz-1");
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

/* ---- Helpers ------------------------------------------------------------------------------ */

/* A text "hello" from customer "user-<conv>" (alice, SG), received a second after ts. */
static void event_fill(struct ttdm_inbound *ev_out, int64_t channel, const char *conv,
                       const char *msg_id, enum ttdm_direction dir, enum ttdm_msg_source source,
                       int64_t ts)
{
    static const char text[] = "hello";
    struct ttdm_inbound ev;

    memset(&ev, 0, sizeof(ev));
    ev.channel_id = channel;
    snprintf(ev.tiktok_conversation_id, sizeof(ev.tiktok_conversation_id), "%s", conv);
    snprintf(ev.tiktok_message_id, sizeof(ev.tiktok_message_id), "%s", msg_id);
    ev.direction = dir;
    ev.source = source;
    ev.type = TTDM_MSG_TEXT;
    ev.text = text;
    ev.text_len = strlen(text);
    ev.raw_type = "text";
    snprintf(ev.customer_user_id, sizeof(ev.customer_user_id), "user-%s", conv);
    snprintf(ev.customer_username, sizeof(ev.customer_username), "alice");
    snprintf(ev.customer_region, sizeof(ev.customer_region), "SG");
    ev.timestamp_ms = ts;
    ev.received_at = ts + SECOND_MS;
    *ev_out = ev;
}

static struct ttdm_inbound_result inbound(struct fixture *f, int64_t channel, const char *conv,
                                          const char *msg_id, enum ttdm_direction dir,
                                          enum ttdm_msg_source source, int64_t ts)
{
    struct ttdm_inbound ev;
    struct ttdm_inbound_result res;

    memset(&res, 0, sizeof(res));
    event_fill(&ev, channel, conv, msg_id, dir, source, ts);
    assert_int_equal(ttdm_store_record_inbound(f->s, &ev, &res), TTDM_OK);
    return res;
}

static struct ttdm_inbound_result cm(struct fixture *f, const char *conv, const char *msg_id,
                                     int64_t ts)
{
    return inbound(f, f->channel, conv, msg_id, TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER, ts);
}

static struct ttdm_inbound_result echo(struct fixture *f, const char *conv, const char *msg_id,
                                       enum ttdm_msg_source source, int64_t ts)
{
    return inbound(f, f->channel, conv, msg_id, TTDM_DIR_BUSINESS, source, ts);
}

/* An agent's text reply to conv_id at now. */
static void text_request(struct ttdm_send_request *req, int64_t ws, int64_t conv_id, int64_t now,
                         const char *text)
{
    memset(req, 0, sizeof(*req));
    req->workspace_id = ws;
    req->conversation_id = conv_id;
    req->source = TTDM_SOURCE_AGENT;
    req->type = TTDM_MSG_TEXT;
    req->text = text;
    req->text_len = strlen(text);
    req->now_ms = now;
}

/* reserve_send of a text; *msg_id (may be NULL) gets the message id. */
static enum ttdm_err send_at(struct fixture *f, int64_t ws, int64_t conv_id, int64_t now,
                             const char *idem, const char *text, int64_t *msg_id,
                             struct ttdm_reply_budget *budget)
{
    struct ttdm_send_request req;
    struct ttdm_message m;
    enum ttdm_err rc;

    text_request(&req, ws, conv_id, now, text);
    req.idempotency_key = idem;
    rc = ttdm_store_reserve_send(f->s, &req, &m, budget);
    if (rc == TTDM_OK) {
        assert_int_equal(m.status, TTDM_STATUS_QUEUED);
        assert_int_equal(m.direction, TTDM_DIR_BUSINESS);
        if (idem == NULL) /* a repeated key returns the first message, stamped then */
            assert_int_equal(m.timestamp_ms, now);
        assert_string_equal(m.text, text);
    } else {
        assert_int_equal(m.id, 0);
        assert_null(m.text);
    }
    if (msg_id != NULL)
        *msg_id = m.id;
    ttdm_message_cleanup(&m);
    return rc;
}

static enum ttdm_err send(struct fixture *f, int64_t conv_id, int64_t now,
                          struct ttdm_reply_budget *budget)
{
    return send_at(f, f->ws, conv_id, now, NULL, "Thanks for writing!", NULL, budget);
}

static struct ttdm_reply_budget budget_at(struct fixture *f, int64_t conv_id, int64_t now)
{
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;

    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, conv_id, now, &v, &b), TTDM_OK);
    return b;
}

static size_t message_count(struct fixture *f, int64_t conv_id)
{
    struct ttdm_message *msgs = NULL;
    size_t n = 0;

    assert_int_equal(ttdm_store_message_list(f->s, f->ws, conv_id, 0, 1000, &msgs, &n), TTDM_OK);
    ttdm_messages_free(msgs, n);
    return n;
}

static void expect_budget(struct ttdm_reply_budget b, int replies_left, int64_t closes_at)
{
    if (b.replies_left != replies_left || b.window_closes_at != closes_at)
        fail_msg("expected %d replies left, closing at H%lld; got %d, closing at H%lld",
                 replies_left, (long long)((closes_at - T0) / HOUR_MS), b.replies_left,
                 (long long)((b.window_closes_at - T0) / HOUR_MS));
}

/* ---- Migrations, workspaces, keys, channels ----------------------------------------------- */

static int user_version(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_migrations_idempotent_on_reopen(void **state)
{
    struct fixture *f = *state;
    int64_t first = 0;
    int newest = ttdm_migrations[ttdm_migrations_count - 1].version;

    assert_true(ttdm_migrations_count >= 1);
    assert_int_equal(user_version(f->path), newest);
    for (int i = 0; i < 2; i++) {
        ttdm_store_close(f->s);
        f->s = open_store(f);
        assert_int_equal(user_version(f->path), newest);
    }
    /* Data survives: the schema was not recreated. */
    assert_int_equal(ttdm_store_workspace_first(f->s, &first), TTDM_OK);
    assert_int_equal(first, f->ws);
    {
        struct ttdm_channel ch;
        assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
        assert_string_equal(ch.business_id, "biz-1");
    }
}

static void test_newer_schema_is_refused(void **state)
{
    struct fixture *f = *state;
    struct ttdm_store_options opt = {.path = f->path, .rules = &f->rules, .durable = true};
    struct ttdm_store *s = NULL;
    sqlite3 *db = NULL;
    char err[256] = "";

    ttdm_store_close(f->s);
    f->s = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ttdm_store_open(&opt, &s, err, sizeof(err)), TTDM_ERR_STORAGE);
    assert_null(s);
    assert_non_null(strstr(err, "newer"));
}

static void test_workspace_and_apikey(void **state)
{
    struct fixture *f = *state;
    int64_t key = 0, ws = 0, ws2 = 0, first = 0;
    const char *hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    assert_int_equal(ttdm_store_workspace_create(f->s, "second", &ws2), TTDM_OK);
    assert_true(ws2 > f->ws);
    assert_int_equal(ttdm_store_workspace_first(f->s, &first), TTDM_OK);
    assert_int_equal(first, f->ws);

    assert_int_equal(ttdm_store_apikey_create(f->s, ws2, "ci", hash, &key), TTDM_OK);
    assert_true(key > 0);
    assert_int_equal(ttdm_store_apikey_find(f->s, hash, &ws), TTDM_OK);
    assert_int_equal(ws, ws2);
    assert_int_equal(ttdm_store_apikey_find(f->s, "00", &ws), TTDM_ERR_UNAUTHORIZED);
    assert_int_equal(ttdm_store_apikey_create(f->s, f->ws, "again", hash, &key), TTDM_ERR_CONFLICT);
    assert_int_equal(ttdm_store_apikey_create(f->s, 424242, "nobody", "ab", &key),
                     TTDM_ERR_NOT_FOUND);
}

static void test_channel_upsert(void **state)
{
    struct fixture *f = *state;
    struct ttdm_channel ch, got, many[4];
    struct ttdm_channel *list = NULL;
    int64_t id = 0, ws2 = 0, other = 0;
    bool created = true;
    size_t n = 0;

    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &ch), TTDM_OK);
    assert_int_equal(ch.daily_limit, 100); /* rules' minimum when none is given */
    assert_int_equal(ch.origin, TTDM_ORIGIN_APP);
    assert_int_equal(ch.status, TTDM_CHANNEL_CONNECTED);
    assert_string_equal(ch.access_token, "token-biz-1");

    /* The same account again: reconnect in place. */
    snprintf(ch.access_token, sizeof(ch.access_token), "fresh-token");
    snprintf(ch.display_name, sizeof(ch.display_name), "Shop");
    ch.daily_limit = 0;
    assert_int_equal(ttdm_store_channel_upsert(f->s, &ch, &id, &created), TTDM_OK);
    assert_false(created);
    assert_int_equal(id, f->channel);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &got), TTDM_OK);
    assert_string_equal(got.access_token, "fresh-token");
    assert_string_equal(got.display_name, "Shop");
    assert_int_equal(got.daily_limit, 100);
    assert_int_equal(got.created_at, ch.created_at);
    ch.daily_limit = 150;
    assert_int_equal(ttdm_store_channel_upsert(f->s, &ch, &id, &created), TTDM_OK);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &got), TTDM_OK);
    assert_int_equal(got.daily_limit, 150);

    assert_int_equal(
        ttdm_store_channel_set_status(f->s, f->channel, TTDM_CHANNEL_RECONNECT_REQUIRED), TTDM_OK);
    assert_int_equal(ttdm_store_channel_get(f->s, f->ws, f->channel, &got), TTDM_OK);
    assert_int_equal(got.status, TTDM_CHANNEL_RECONNECT_REQUIRED);
    assert_int_equal(ttdm_store_channel_set_status(f->s, 9999, TTDM_CHANNEL_CONNECTED),
                     TTDM_ERR_NOT_FOUND);

    /* The same TikTok account in another workspace is another channel. */
    assert_int_equal(ttdm_store_workspace_create(f->s, "other", &ws2), TTDM_OK);
    other = add_channel(f, ws2, "biz-1");
    assert_true(other != f->channel);
    assert_int_equal(ttdm_store_channels_by_business(f->s, "biz-1", many, 4, &n), TTDM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(many[0].id, f->channel);
    assert_int_equal(many[1].id, other);
    assert_int_equal(ttdm_store_channels_by_business(f->s, "nobody", many, 4, &n), TTDM_OK);
    assert_int_equal(n, 0);

    assert_int_equal(ttdm_store_channel_list(f->s, f->ws, &list, &n), TTDM_OK);
    assert_int_equal(n, 1);
    ttdm_free(list);
    assert_int_equal(ttdm_store_channel_list(f->s, 0, &list, &n), TTDM_OK);
    assert_int_equal(n, 2);
    ttdm_free(list);
    assert_int_equal(ttdm_store_channel_get(f->s, ws2, f->channel, &got), TTDM_ERR_NOT_FOUND);
}

/* ---- Inbound ------------------------------------------------------------------------------ */

static void test_inbound_exactly_once(void **state)
{
    struct fixture *f = *state;
    struct ttdm_inbound_result r1, r2, r3;
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;

    r1 = cm(f, "conv-1", "msg-1", hour(1));
    r2 = cm(f, "conv-1", "msg-1", hour(1));
    r3 = cm(f, "conv-1", "msg-1", hour(1));
    assert_false(r1.duplicate);
    assert_true(r1.opened_window);
    assert_true(r2.duplicate);
    assert_true(r3.duplicate);
    assert_false(r2.opened_window);
    assert_int_equal(r2.message_id, r1.message_id);
    assert_int_equal(r3.conversation_id, r1.conversation_id);
    assert_int_equal(message_count(f, r1.conversation_id), 1);

    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r1.conversation_id, hour(2), &v, &b),
                     TTDM_OK);
    assert_int_equal(v.unread_count, 1);
    assert_string_equal(v.customer_user_id, "user-conv-1");
    assert_string_equal(v.customer_username, "alice");
    assert_string_equal(v.customer_region, "SG");
    assert_string_equal(v.business_id, "biz-1");
    assert_string_equal(v.business_region, "SG");
    assert_string_equal(v.last_preview, "hello");
    assert_int_equal(v.last_activity_at, hour(1));
    assert_int_equal(b.replies_left, 10);
    assert_int_equal(b.may_send, TTDM_OK);

    /* Another message of the same conversation: same conversation, one more unread. */
    r2 = cm(f, "conv-1", "msg-2", hour(1) + SECOND_MS);
    assert_int_equal(r2.conversation_id, r1.conversation_id);
    assert_false(r2.opened_window);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r1.conversation_id, hour(2), &v, &b),
                     TTDM_OK);
    assert_int_equal(v.unread_count, 2);

    /* Unknown channel. */
    {
        struct ttdm_inbound ev;
        struct ttdm_inbound_result res;
        memset(&ev, 0, sizeof(ev));
        ev.channel_id = 4242;
        snprintf(ev.tiktok_conversation_id, sizeof(ev.tiktok_conversation_id), "x");
        snprintf(ev.tiktok_message_id, sizeof(ev.tiktok_message_id), "y");
        ev.timestamp_ms = hour(1);
        assert_int_equal(ttdm_store_record_inbound(f->s, &ev, &res), TTDM_ERR_NOT_FOUND);
    }
}

/* A conversation first named by an event without a customer (the business's own message)
 * takes its customer from the first event that names one, and keeps them. */
static void test_customer_named_later(void **state)
{
    struct fixture *f = *state;
    struct ttdm_inbound ev;
    struct ttdm_inbound_result r1, r2;
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;

    event_fill(&ev, f->channel, "conv-later", "msg-biz-first", TTDM_DIR_BUSINESS,
               TTDM_SOURCE_TIKTOK_APP, hour(1));
    ev.customer_user_id[0] = ev.customer_username[0] = ev.customer_region[0] = '\0';
    assert_int_equal(ttdm_store_record_inbound(f->s, &ev, &r1), TTDM_OK);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r1.conversation_id, hour(2), &v, &b),
                     TTDM_OK);
    assert_string_equal(v.customer_user_id, "");

    r2 = cm(f, "conv-later", "msg-cust-1", hour(1) + 60 * SECOND_MS);
    assert_int_equal(r2.conversation_id, r1.conversation_id);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r1.conversation_id, hour(2), &v, &b),
                     TTDM_OK);
    assert_string_equal(v.customer_user_id, "user-conv-later");
    assert_string_equal(v.customer_username, "alice");
    assert_string_equal(v.last_preview, "hello");
    assert_int_equal(v.last_activity_at, hour(1) + 60 * SECOND_MS);
    assert_int_equal(v.unread_count, 1);

    /* A later message keeps them. */
    cm(f, "conv-later", "msg-cust-2", hour(1) + 120 * SECOND_MS);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r1.conversation_id, hour(2), &v, &b),
                     TTDM_OK);
    assert_string_equal(v.customer_user_id, "user-conv-later");
    assert_int_equal(v.unread_count, 2);
}

/* The seed's simulation table (PRODUCT.md), hour by hour, through the store. */
static void test_seed_simulation(void **state)
{
    struct fixture *f = *state;
    struct ttdm_reply_budget b;
    struct ttdm_inbound_result r;
    int64_t conv;
    size_t before;

    r = cm(f, "sim", "cm1", hour(1));
    conv = r.conversation_id;
    assert_true(r.opened_window);
    expect_budget(budget_at(f, conv, hour(1)), 10, hour(49));

    for (int i = 0; i < 3; i++)
        assert_int_equal(send(f, conv, hour(2), &b), TTDM_OK);
    expect_budget(b, 7, hour(49));
    expect_budget(budget_at(f, conv, hour(2)), 7, hour(49));

    assert_int_equal(send(f, conv, hour(4), &b), TTDM_OK);
    expect_budget(b, 6, hour(49));
    expect_budget(budget_at(f, conv, hour(4)), 6, hour(49));

    r = cm(f, "sim", "cm2", hour(7));
    assert_false(r.opened_window);
    expect_budget(budget_at(f, conv, hour(7)), 10, hour(55));

    r = cm(f, "sim", "cm3", hour(8));
    assert_false(r.opened_window);
    expect_budget(budget_at(f, conv, hour(8)), 10, hour(56));

    assert_int_equal(send(f, conv, hour(10), &b), TTDM_OK);
    expect_budget(b, 9, hour(56));
    expect_budget(budget_at(f, conv, hour(10)), 9, hour(56));

    assert_int_equal(send(f, conv, hour(39), &b), TTDM_OK);
    expect_budget(b, 8, hour(56));
    expect_budget(budget_at(f, conv, hour(39)), 8, hour(56));

    /* Just before H56 it is still open; at H56 it is closed and nothing is written. */
    b = budget_at(f, conv, hour(56) - 1);
    assert_true(b.window_open);
    assert_int_equal(b.replies_left, 8);
    before = message_count(f, conv);
    assert_int_equal(send(f, conv, hour(56), &b), TTDM_ERR_WINDOW_CLOSED);
    assert_false(b.window_open);
    assert_int_equal(b.replies_left, 0);
    assert_int_equal(b.may_send, TTDM_ERR_WINDOW_CLOSED);
    assert_int_equal(message_count(f, conv), before);
    b = budget_at(f, conv, hour(56));
    assert_int_equal(b.may_send, TTDM_ERR_WINDOW_CLOSED);

    r = cm(f, "sim", "cm4", hour(60));
    assert_true(r.opened_window);
    expect_budget(budget_at(f, conv, hour(60)), 10, hour(108));
    assert_int_equal(budget_at(f, conv, hour(60)).may_send, TTDM_OK);
}

static void test_quota_used_up(void **state)
{
    struct fixture *f = *state;
    struct ttdm_reply_budget b;
    int64_t conv = cm(f, "q", "q1", hour(1)).conversation_id;

    for (int i = 0; i < 10; i++)
        assert_int_equal(send(f, conv, hour(2) + i, &b), TTDM_OK);
    assert_int_equal(b.replies_left, 0);
    assert_int_equal(b.may_send, TTDM_ERR_REPLY_QUOTA_USED_UP);
    assert_int_equal(send(f, conv, hour(3), &b), TTDM_ERR_REPLY_QUOTA_USED_UP);
    assert_int_equal(message_count(f, conv), 11);
    cm(f, "q", "q2", hour(4));
    assert_int_equal(send(f, conv, hour(5), &b), TTDM_OK);
    assert_int_equal(b.replies_left, 9);
}

static void test_refusal_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct ttdm_send_request req;
    struct ttdm_message m;
    struct ttdm_reply_budget b;
    struct ttdm_inbound_result r;

    /* A conversation only the business wrote in (from the TikTok app): R1 refuses. */
    r = echo(f, "r1", "e1", TTDM_SOURCE_TIKTOK_APP, hour(1));
    assert_int_equal(send(f, r.conversation_id, hour(2), &b), TTDM_ERR_NO_CUSTOMER_MESSAGE);
    assert_false(b.has_customer_message);
    assert_int_equal(message_count(f, r.conversation_id), 1);

    /* skip_policy lets TikTok be the judge. */
    memset(&req, 0, sizeof(req));
    req.workspace_id = f->ws;
    req.conversation_id = r.conversation_id;
    req.source = TTDM_SOURCE_AUTO;
    req.type = TTDM_MSG_TEXT;
    req.text = "hi";
    req.text_len = 2;
    req.now_ms = hour(2);
    req.skip_policy = true;
    assert_int_equal(ttdm_store_reserve_send(f->s, &req, &m, &b), TTDM_OK);
    assert_int_equal(m.source, TTDM_SOURCE_AUTO);
    ttdm_message_cleanup(&m);
    assert_int_equal(message_count(f, r.conversation_id), 2);

    /* A channel that must be reconnected refuses before anything else. */
    cm(f, "r1", "c1", hour(3));
    assert_int_equal(send(f, r.conversation_id, hour(4), &b), TTDM_OK);
    assert_int_equal(
        ttdm_store_channel_set_status(f->s, f->channel, TTDM_CHANNEL_RECONNECT_REQUIRED), TTDM_OK);
    assert_int_equal(send(f, r.conversation_id, hour(4), &b), TTDM_ERR_RECONNECT_REQUIRED);
    assert_int_equal(send(f, 987654, hour(4), &b), TTDM_ERR_NOT_FOUND);
}

/* R2/R3 from the set of messages, whatever order and however often they arrive. */
static void test_late_customer_message(void **state)
{
    struct fixture *f = *state;
    struct ttdm_reply_budget b;
    struct ttdm_inbound_result r;
    int64_t conv;

    conv = cm(f, "late", "cm-h1", hour(1)).conversation_id;
    assert_int_equal(send(f, conv, hour(2), &b), TTDM_OK);
    assert_int_equal(send(f, conv, hour(3), &b), TTDM_OK);
    assert_int_equal(send(f, conv, hour(5), &b), TTDM_OK);
    expect_budget(b, 7, hour(49));

    /* A customer message written at H4 reaches us after the H5 reply: only H5 counts. */
    r = cm(f, "late", "cm-h4", hour(4));
    assert_false(r.opened_window);
    expect_budget(budget_at(f, conv, hour(6)), 9, hour(52));

    /* Older than the latest: changes nothing. Redelivered: a duplicate. */
    r = cm(f, "late", "cm-h0", hour(0));
    assert_false(r.opened_window);
    assert_false(r.duplicate);
    expect_budget(budget_at(f, conv, hour(6)), 9, hour(52));
    assert_true(cm(f, "late", "cm-h4", hour(4)).duplicate);
    expect_budget(budget_at(f, conv, hour(6)), 9, hour(52));

    /* A late echo of a reply typed in the TikTok app at H4:30 counts too. */
    r = echo(f, "late", "app-1", TTDM_SOURCE_TIKTOK_APP, hour(4) + HOUR_MS / 2);
    assert_false(r.duplicate);
    assert_false(r.matched_own_send);
    expect_budget(budget_at(f, conv, hour(6)), 8, hour(52));
}

struct sim_event {
    const char *id;
    enum ttdm_direction dir;
    int64_t at;
};

static void replay(struct fixture *f, const char *conv, const struct sim_event *ev,
                   const size_t *order, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct sim_event *e = &ev[order[i]];
        inbound(f, f->channel, conv, e->id, e->dir,
                e->dir == TTDM_DIR_CUSTOMER ? TTDM_SOURCE_CUSTOMER : TTDM_SOURCE_TIKTOK_APP, e->at);
    }
}

static void test_order_independent(void **state)
{
    struct fixture *f = *state;
    static const struct sim_event ev[] = {
        {"a", TTDM_DIR_CUSTOMER, INT64_C(1) * HOUR_MS},
        {"b", TTDM_DIR_BUSINESS, 2 * HOUR_MS},
        {"c", TTDM_DIR_BUSINESS, 3 * HOUR_MS},
        {"d", TTDM_DIR_CUSTOMER, 4 * HOUR_MS},
        {"e", TTDM_DIR_BUSINESS, 5 * HOUR_MS},
        {"f", TTDM_DIR_BUSINESS, 9 * HOUR_MS / 2},
        {"g", TTDM_DIR_CUSTOMER, 0},
        {"h", TTDM_DIR_BUSINESS, 4 * HOUR_MS},
    };
    static const size_t forward[] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const size_t backward[] = {7, 6, 5, 4, 3, 2, 1, 0};
    static const size_t shuffled[] = {4, 1, 4, 6, 3, 7, 0, 2, 3, 5, 1};
    const char *convs[] = {"fw", "bw", "sh"};
    struct sim_event at[8];

    for (size_t i = 0; i < 8; i++) {
        at[i] = ev[i];
        at[i].at += T0;
    }
    replay(f, "fw", at, forward, 8);
    replay(f, "bw", at, backward, 8);
    replay(f, "sh", at, shuffled, sizeof(shuffled) / sizeof(shuffled[0]));
    for (size_t i = 0; i < 3; i++) {
        struct ttdm_inbound_result r = cm(f, convs[i], "a", at[0].at); /* a duplicate */
        struct ttdm_conversation_view v;
        struct ttdm_reply_budget b;

        assert_true(r.duplicate);
        assert_int_equal(
            ttdm_store_conversation_get(f->s, f->ws, r.conversation_id, hour(6), &v, &b), TTDM_OK);
        /* Latest customer message H4; business messages after it: H4:30 and H5 (the one
         * at exactly H4 is not after it). */
        assert_int_equal(v.state.latest_customer_msg_at, hour(4));
        assert_int_equal(v.state.replies_used, 2);
        expect_budget(b, 8, hour(52));
        assert_int_equal(message_count(f, r.conversation_id), 8);
        assert_int_equal(v.unread_count, 0);
        assert_int_equal(v.last_activity_at, hour(5));
    }
}

static void test_app_echo_counts(void **state)
{
    struct fixture *f = *state;
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;
    struct ttdm_inbound_result r;
    int64_t conv = cm(f, "app", "c1", hour(1)).conversation_id;

    r = echo(f, "app", "typed-in-app", TTDM_SOURCE_TIKTOK_APP, hour(2));
    assert_false(r.duplicate);
    assert_int_equal(r.conversation_id, conv);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, conv, hour(2), &v, &b), TTDM_OK);
    assert_int_equal(b.replies_left, 9);
    assert_true(b.counted_today);
    assert_int_equal(b.daily_used, 1);
    assert_int_equal(v.unread_count, 0);
    assert_true(echo(f, "app", "typed-in-app", TTDM_SOURCE_TIKTOK_APP, hour(2)).duplicate);
    assert_int_equal(budget_at(f, conv, hour(2)).replies_left, 9);
    /* The day of the echo's timestamp is the day it counts on. */
    b = budget_at(f, conv, hour(26));
    assert_false(b.counted_today);
    assert_int_equal(b.daily_used, 0);
}

/* R4 with the default limit of 100 conversations per day. */
static void test_daily_limit(void **state)
{
    struct fixture *f = *state;
    struct ttdm_reply_budget b;
    int64_t convs[101];
    int64_t last_msg = 0;
    char conv[32], msg[32];

    for (int i = 0; i < 101; i++) {
        snprintf(conv, sizeof(conv), "d-%d", i);
        snprintf(msg, sizeof(msg), "d-%d-m", i);
        convs[i] = cm(f, conv, msg, hour(1)).conversation_id;
    }
    for (int i = 0; i < 100; i++)
        assert_int_equal(send(f, convs[i], hour(2), &b), TTDM_OK);
    assert_int_equal(b.daily_used, 100);

    assert_int_equal(send(f, convs[100], hour(3), &b), TTDM_ERR_DAILY_LIMIT);
    assert_int_equal(b.daily_used, 100);
    assert_int_equal(b.daily_limit, 100);
    assert_false(b.counted_today);
    assert_int_equal(message_count(f, convs[100]), 1);
    /* A conversation already counted today costs nothing more. */
    assert_int_equal(send(f, convs[0], hour(3), &b), TTDM_OK);
    assert_true(b.counted_today);
    assert_int_equal(b.daily_used, 100);

    /* A new UTC day starts from zero. */
    b = budget_at(f, convs[100], T0 + DAY_MS);
    assert_int_equal(b.daily_used, 0);
    assert_int_equal(b.may_send, TTDM_OK);
    assert_int_equal(send_at(f, f->ws, convs[100], T0 + DAY_MS, NULL, "next day", &last_msg, &b),
                     TTDM_OK);
    assert_int_equal(b.daily_used, 1);
    assert_int_equal(budget_at(f, convs[100], T0 + DAY_MS - 1).may_send, TTDM_ERR_DAILY_LIMIT);
}

static void test_give_back(void **state)
{
    struct fixture *f = *state;
    struct ttdm_reply_budget b;
    struct ttdm_message m;
    int64_t a = 0, second = 0, kept = 0;
    int64_t conv = cm(f, "gb", "c1", hour(1)).conversation_id;

    assert_int_equal(send_at(f, f->ws, conv, hour(2), NULL, "one", &a, &b), TTDM_OK);
    assert_int_equal(b.replies_left, 9);
    assert_int_equal(b.daily_used, 1);

    /* A definite refusal gives the reservation back, and the day's count with it. */
    assert_int_equal(
        ttdm_store_mark_failed(f->s, a, TTDM_ERR_TIKTOK, 40001, "refused", true, hour(2) + 1),
        TTDM_OK);
    b = budget_at(f, conv, hour(2));
    assert_int_equal(b.replies_left, 10);
    assert_int_equal(b.daily_used, 0);
    assert_false(b.counted_today);
    assert_int_equal(ttdm_store_message_get(f->s, f->ws, a, &m), TTDM_OK);
    assert_int_equal(m.status, TTDM_STATUS_FAILED);
    assert_string_equal(m.error_code, "tiktok_error");
    assert_string_equal(m.error_text, "refused");
    assert_int_equal(m.tiktok_error_code, 40001);
    ttdm_message_cleanup(&m);

    /* Two messages that day: giving one back keeps the conversation counted. */
    assert_int_equal(send_at(f, f->ws, conv, hour(3), NULL, "two", &second, &b), TTDM_OK);
    assert_int_equal(send_at(f, f->ws, conv, hour(4), NULL, "three", &kept, &b), TTDM_OK);
    assert_int_equal(b.replies_left, 8);
    assert_int_equal(ttdm_store_mark_failed(f->s, second, TTDM_ERR_TIKTOK, 0, "no", true, hour(4)),
                     TTDM_OK);
    b = budget_at(f, conv, hour(4));
    assert_int_equal(b.replies_left, 9);
    assert_true(b.counted_today);
    assert_int_equal(b.daily_used, 1);

    /* An uncertain outcome keeps the reservation. */
    assert_int_equal(ttdm_store_mark_failed(f->s, kept, TTDM_ERR_TIKTOK_UNAVAILABLE, 0, "timeout",
                                            false, hour(4)),
                     TTDM_OK);
    b = budget_at(f, conv, hour(4));
    assert_int_equal(b.replies_left, 9);
    assert_true(b.counted_today);
    assert_int_equal(ttdm_store_mark_failed(f->s, 999999, TTDM_ERR_TIKTOK, 0, "", true, 0),
                     TTDM_ERR_NOT_FOUND);
}

/* Our own API send echoed back before TikTok's HTTP answer reached us. */
/* The stored time of a message. */
static int64_t message_time(struct fixture *f, int64_t id)
{
    struct ttdm_message m;
    int64_t ts;

    assert_int_equal(ttdm_store_message_get(f->s, f->ws, id, &m), TTDM_OK);
    ts = m.timestamp_ms;
    ttdm_message_cleanup(&m);
    return ts;
}

/*
 * A send stamped when TikTok answered (a second and a half after it was accepted), then
 * TikTok's echo with its own, earlier time: the reply moves back, the quota stays, and a
 * customer message that falls between the two times comes after the reply (it opens a new
 * window and is unread). A prompt send is stamped with its send time until its echo. The
 * conversation's last activity stays when the reply was accepted through both moves.
 */
static void test_echo_moves_reply_back(void **state)
{
    struct fixture *f = *state;
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;
    struct ttdm_inbound_result r;
    int64_t id = 0, prompt = 0;
    int64_t conv = cm(f, "back", "c1", hour(1)).conversation_id;

    assert_int_equal(send_at(f, f->ws, conv, hour(2), NULL, "hi", &id, &b), TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, id, "tt-back", hour(2) + 1500), TTDM_OK);
    assert_int_equal(message_time(f, id), hour(2) + 1500);
    r = echo(f, "back", "tt-back", TTDM_SOURCE_AGENT, hour(2) + 200);
    assert_true(r.matched_own_send);
    assert_int_equal(message_time(f, id), hour(2) + 200);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, conv, hour(2) + 2000, &v, &b),
                     TTDM_OK);
    assert_int_equal(b.replies_left, 9);
    assert_int_equal(v.unread_count, 0);
    assert_int_equal(v.last_activity_at, hour(2)); /* accepted at H2 */

    cm(f, "back", "c2", hour(2) + 300);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, conv, hour(2) + 2000, &v, &b),
                     TTDM_OK);
    assert_int_equal(b.replies_left, 10);
    assert_int_equal(v.unread_count, 1);

    /* Sent half a second after it was accepted: stamped with the send time until TikTok's
     * echo brings its own. */
    assert_int_equal(send_at(f, f->ws, conv, hour(3), NULL, "prompt", &prompt, &b), TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, prompt, "tt-prompt", hour(3) + 500), TTDM_OK);
    assert_int_equal(message_time(f, prompt), hour(3) + 500);
    r = echo(f, "back", "tt-prompt", TTDM_SOURCE_AGENT, hour(3) + 200);
    assert_true(r.matched_own_send);
    assert_int_equal(message_time(f, prompt), hour(3) + 200);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, conv, hour(3) + 1000, &v, &b),
                     TTDM_OK);
    assert_int_equal(b.replies_left, 9);
    assert_int_equal(v.last_activity_at, hour(3)); /* accepted at H3 */
}

/*
 * A customer message TikTok stamps between a reply's acceptance and its send time, arriving
 * after the send: the reply (sent later) stays the newest message and keeps the list
 * preview, nothing is unread, and the conversation's activity takes the customer's time
 * (the reply's stays its acceptance). The echo then moves the reply back, still after it.
 */
static void test_customer_between_accept_and_send(void **state)
{
    struct fixture *f = *state;
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;
    int64_t id = 0;
    int64_t conv = cm(f, "between", "c1", hour(1)).conversation_id;

    assert_int_equal(send_at(f, f->ws, conv, hour(2), NULL, "our reply", &id, &b), TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, id, "tt-between", hour(2) + 1500), TTDM_OK);
    cm(f, "between", "c2", hour(2) + 300);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, conv, hour(2) + 2000, &v, &b),
                     TTDM_OK);
    assert_string_equal(v.last_preview, "our reply");
    assert_int_equal(v.unread_count, 0);
    assert_int_equal(v.last_activity_at, hour(2) + 300);
    assert_true(
        echo(f, "between", "tt-between", TTDM_SOURCE_AGENT, hour(2) + 1200).matched_own_send);
    assert_int_equal(message_time(f, id), hour(2) + 1200);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, conv, hour(2) + 2000, &v, &b),
                     TTDM_OK);
    assert_string_equal(v.last_preview, "our reply");
    assert_int_equal(v.unread_count, 0);
    assert_int_equal(b.replies_left, 9); /* the reply counts against the newer message */
}

/*
 * A customer writes while a reply is on its way: sent promptly, the reply still moves to the
 * time TikTok answered, after the customer's message, and so counts in the new window.
 */
static void test_prompt_send_crossing_a_customer_message(void **state)
{
    struct fixture *f = *state;
    struct ttdm_reply_budget b;
    int64_t id = 0;
    int64_t conv = cm(f, "cross", "c1", hour(1)).conversation_id;

    assert_int_equal(send_at(f, f->ws, conv, hour(2), NULL, "on its way", &id, &b), TTDM_OK);
    cm(f, "cross", "c2", hour(2) + 100);
    assert_int_equal(budget_at(f, conv, hour(2) + 150).replies_left, 10);
    assert_int_equal(ttdm_store_mark_sent(f->s, id, "tt-cross", hour(2) + 300), TTDM_OK);
    assert_int_equal(message_time(f, id), hour(2) + 300);
    assert_int_equal(budget_at(f, conv, hour(2) + 400).replies_left, 9);
}

static void test_early_api_echo_merged(void **state)
{
    struct fixture *f = *state;
    struct ttdm_reply_budget b;
    struct ttdm_inbound_result r;
    struct ttdm_message m;
    struct ttdm_message *msgs = NULL;
    size_t n = 0, business = 0;
    int64_t id = 0, id2 = 0;
    int64_t conv = cm(f, "echo", "c1", hour(1)).conversation_id;

    assert_int_equal(send_at(f, f->ws, conv, hour(2), NULL, "hi", &id, &b), TTDM_OK);
    assert_int_equal(b.replies_left, 9);

    r = echo(f, "echo", "tt-1", TTDM_SOURCE_AGENT, hour(2) + 5 * SECOND_MS);
    assert_false(r.duplicate);
    assert_int_equal(message_count(f, conv), 3); /* until mark_sent merges it */
    /* The early echo is the queued send itself: it must not count a second time. */
    assert_int_equal(budget_at(f, conv, hour(2) + 6 * SECOND_MS).replies_left, 9);

    assert_int_equal(ttdm_store_mark_sent(f->s, id, "tt-1", hour(2) + 6 * SECOND_MS), TTDM_OK);
    assert_int_equal(ttdm_store_message_list(f->s, f->ws, conv, 0, 100, &msgs, &n), TTDM_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].direction != TTDM_DIR_BUSINESS)
            continue;
        business++;
        assert_int_equal(msgs[i].id, id);
        assert_int_equal(msgs[i].status, TTDM_STATUS_SENT);
        assert_string_equal(msgs[i].tiktok_message_id, "tt-1");
        assert_int_equal(msgs[i].timestamp_ms, hour(2) + 5 * SECOND_MS);
    }
    ttdm_messages_free(msgs, n);
    assert_int_equal(business, 1);
    assert_int_equal(budget_at(f, conv, hour(3)).replies_left, 9);

    /* TikTok delivers the echo again: matched, nothing changes. */
    r = echo(f, "echo", "tt-1", TTDM_SOURCE_AGENT, hour(2) + 5 * SECOND_MS);
    assert_true(r.duplicate);
    assert_true(r.matched_own_send);
    assert_int_equal(r.message_id, id);
    assert_int_equal(message_count(f, conv), 2);

    /* The usual order: sent first, then the echo brings TikTok's timestamp. */
    assert_int_equal(send_at(f, f->ws, conv, hour(3), NULL, "again", &id2, &b), TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, id2, "tt-2", hour(3) + SECOND_MS), TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, id2, "tt-2", hour(3) + SECOND_MS), TTDM_OK);
    r = echo(f, "echo", "tt-2", TTDM_SOURCE_AGENT, hour(3) + 2 * SECOND_MS);
    assert_false(r.duplicate);
    assert_true(r.matched_own_send);
    assert_int_equal(r.message_id, id2);
    assert_int_equal(ttdm_store_message_get(f->s, f->ws, id2, &m), TTDM_OK);
    assert_int_equal(m.timestamp_ms, hour(3) + 2 * SECOND_MS);
    assert_int_equal(m.status, TTDM_STATUS_SENT);
    ttdm_message_cleanup(&m);
    assert_true(echo(f, "echo", "tt-2", TTDM_SOURCE_AGENT, hour(3)).duplicate);
    assert_int_equal(message_count(f, conv), 3);
    assert_int_equal(budget_at(f, conv, hour(4)).replies_left, 8);

    /* Its echo moved a reply to after a customer message that arrived meanwhile. */
    cm(f, "echo", "c2", hour(3) + 2 * SECOND_MS - 1);
    assert_int_equal(budget_at(f, conv, hour(4)).replies_left, 9);
}

static void test_read_receipts(void **state)
{
    struct fixture *f = *state;
    struct ttdm_message m;
    struct ttdm_reply_budget b;
    int64_t a = 0, c2 = 0, queued = 0;
    int n = -1;
    int64_t conv = cm(f, "rr", "c1", hour(1)).conversation_id;

    assert_int_equal(send_at(f, f->ws, conv, hour(2), NULL, "a", &a, &b), TTDM_OK);
    assert_int_equal(send_at(f, f->ws, conv, hour(3), NULL, "b", &c2, &b), TTDM_OK);
    assert_int_equal(send_at(f, f->ws, conv, hour(2), NULL, "c", &queued, &b), TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, a, "r-a", hour(2)), TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, c2, "r-b", hour(3)), TTDM_OK);

    assert_int_equal(ttdm_store_mark_read(f->s, f->channel, "rr", hour(2) + 1, &n), TTDM_OK);
    assert_int_equal(n, 1); /* a; b is later, c is still queued */
    assert_int_equal(ttdm_store_message_get(f->s, f->ws, a, &m), TTDM_OK);
    assert_int_equal(m.status, TTDM_STATUS_READ);
    ttdm_message_cleanup(&m);
    assert_int_equal(ttdm_store_message_get(f->s, f->ws, c2, &m), TTDM_OK);
    assert_int_equal(m.status, TTDM_STATUS_SENT);
    ttdm_message_cleanup(&m);
    assert_int_equal(ttdm_store_message_get(f->s, f->ws, queued, &m), TTDM_OK);
    assert_int_equal(m.status, TTDM_STATUS_QUEUED);
    ttdm_message_cleanup(&m);

    assert_int_equal(ttdm_store_mark_read(f->s, f->channel, "rr", hour(4), &n), TTDM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ttdm_store_mark_read(f->s, f->channel, "rr", hour(4), &n), TTDM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ttdm_store_mark_read(f->s, f->channel, "unknown", hour(4), &n), TTDM_OK);
    assert_int_equal(n, 0);
}

static void test_idempotency_key(void **state)
{
    struct fixture *f = *state;
    struct ttdm_reply_budget b;
    int64_t first = 0, again = 0, other = 0;
    int64_t conv = cm(f, "idem", "c1", hour(1)).conversation_id;

    assert_int_equal(send_at(f, f->ws, conv, hour(2), "key-1", "hello", &first, &b), TTDM_OK);
    assert_int_equal(b.replies_left, 9);
    assert_int_equal(send_at(f, f->ws, conv, hour(2) + 1, "key-1", "hello", &again, &b), TTDM_OK);
    assert_int_equal(again, first);
    assert_int_equal(b.replies_left, 9);
    assert_int_equal(message_count(f, conv), 2);
    assert_int_equal(send_at(f, f->ws, conv, hour(2) + 2, "key-1", "other text", &other, &b),
                     TTDM_ERR_CONFLICT);
    assert_int_equal(send_at(f, f->ws, conv, hour(2) + 3, "key-2", "other text", &other, &b),
                     TTDM_OK);
    assert_true(other != first);
    assert_int_equal(b.replies_left, 8);
}

/* A text reserved with a lease for this process's senders; *leased as the store filled it. */
/* Every field of two messages alike. */
static void expect_same_message(const struct ttdm_message *a, const struct ttdm_message *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->workspace_id, b->workspace_id);
    assert_int_equal(a->channel_id, b->channel_id);
    assert_int_equal(a->conversation_id, b->conversation_id);
    assert_int_equal(a->direction, b->direction);
    assert_int_equal(a->source, b->source);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->status, b->status);
    assert_true((a->text == NULL) == (b->text == NULL));
    if (a->text != NULL)
        assert_string_equal(a->text, b->text);
    assert_string_equal(a->media_path, b->media_path);
    assert_string_equal(a->media_mime, b->media_mime);
    assert_int_equal(a->media_size, b->media_size);
    assert_string_equal(a->share_url, b->share_url);
    assert_string_equal(a->raw_type, b->raw_type);
    assert_string_equal(a->tiktok_message_id, b->tiktok_message_id);
    assert_int_equal(a->timestamp_ms, b->timestamp_ms);
    assert_int_equal(a->created_at, b->created_at);
    assert_int_equal(a->updated_at, b->updated_at);
    assert_int_equal(a->attempts, b->attempts);
    assert_string_equal(a->error_code, b->error_code);
    assert_string_equal(a->error_text, b->error_text);
    assert_int_equal(a->tiktok_error_code, b->tiktok_error_code);
}

static enum ttdm_err send_leased(struct fixture *f, int64_t conv_id, int64_t now, const char *text,
                                 struct ttdm_outbox_item *leased, int64_t *msg_id)
{
    struct ttdm_send_request req;
    struct ttdm_message m;
    enum ttdm_err rc;

    text_request(&req, f->ws, conv_id, now, text);
    req.lease_ms = 30000;
    req.leased = leased;
    rc = ttdm_store_reserve_send(f->s, &req, &m, NULL);
    *msg_id = m.id;
    if (rc == TTDM_OK) {
        /* The reservation builds its answer and the sender's copy instead of reading them
         * back: both must be what is stored. */
        struct ttdm_message stored;
        assert_int_equal(ttdm_store_message_get(f->s, f->ws, m.id, &stored), TTDM_OK);
        expect_same_message(&m, &stored);
        if (leased->msg.id != 0)
            expect_same_message(&leased->msg, &stored);
        ttdm_message_cleanup(&stored);
    }
    ttdm_message_cleanup(&m);
    return rc;
}

/*
 * A reservation may lease its message at once, as a claim would: the claims then leave it
 * alone. A reply whose conversation still has an older queued message is not leased, so
 * the claims hand both out in order.
 */
static void test_lease_at_reservation(void **state)
{
    struct fixture *f = *state;
    struct ttdm_outbox_item items[4], leased;
    int64_t now = hour(2), first = 0, second = 0, other = 0;
    int64_t conv = cm(f, "lease", "c1", hour(1)).conversation_id;
    int64_t conv2 = cm(f, "lease2", "c2", hour(1)).conversation_id;
    size_t n = 9;

    assert_int_equal(send_leased(f, conv, now, "first", &leased, &first), TTDM_OK);
    assert_int_equal(leased.msg.id, first);
    assert_int_equal(leased.msg.attempts, 1);
    assert_string_equal(leased.msg.text, "first");
    assert_string_equal(leased.business_id, "biz-1");
    assert_string_equal(leased.access_token, "token-biz-1");
    assert_string_equal(leased.tiktok_conversation_id, "lease");
    ttdm_outbox_items_cleanup(&leased, 1);
    assert_int_equal(ttdm_store_claim_outbox(f->s, now + 1000, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 0);
    /* Its lease (30 s) ends like a claim's: then a claim takes it, as its second attempt. */
    assert_int_equal(ttdm_store_claim_outbox(f->s, now + 30001, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].msg.id, first);
    assert_int_equal(items[0].msg.attempts, 2);
    ttdm_outbox_items_cleanup(items, n);

    /* The first is still queued (leased, not sent): the second waits for a claim. */
    assert_int_equal(send_leased(f, conv, now + 1, "second", &leased, &second), TTDM_OK);
    assert_int_equal(leased.msg.id, 0);
    assert_true(second > first);
    /* Another conversation is not held up by this one. */
    assert_int_equal(send_leased(f, conv2, now + 2, "other", &leased, &other), TTDM_OK);
    assert_int_equal(leased.msg.id, other);
    ttdm_outbox_items_cleanup(&leased, 1);
    assert_int_equal(ttdm_store_claim_outbox(f->s, now + 1000, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].msg.id, second);
    ttdm_outbox_items_cleanup(items, n);

    /* Once the first is sent, nothing older is queued: leased again at once. */
    assert_int_equal(ttdm_store_mark_sent(f->s, first, "lease-1", now + 2000), TTDM_OK);
    assert_int_equal(ttdm_store_mark_sent(f->s, second, "lease-2", now + 2001), TTDM_OK);
    assert_int_equal(send_leased(f, conv, now + 3000, "third", &leased, &second), TTDM_OK);
    assert_int_equal(leased.msg.id, second);
    ttdm_outbox_items_cleanup(&leased, 1);

    /* An image reserved (no lease): what comes back is what is stored, media included. */
    {
        struct ttdm_send_request req;
        struct ttdm_message m, stored;
        memset(&req, 0, sizeof(req));
        req.workspace_id = f->ws;
        req.conversation_id = conv2;
        req.source = TTDM_SOURCE_AGENT;
        req.type = TTDM_MSG_IMAGE;
        req.media_path = "/var/media/cd.png";
        req.media_mime = "image/png";
        req.media_size = 1234;
        req.now_ms = now + 3500;
        assert_int_equal(ttdm_store_reserve_send(f->s, &req, &m, NULL), TTDM_OK);
        assert_int_equal(ttdm_store_message_get(f->s, f->ws, m.id, &stored), TTDM_OK);
        assert_null(m.text);
        assert_string_equal(m.media_mime, "image/png");
        expect_same_message(&m, &stored);
        ttdm_message_cleanup(&m);
        ttdm_message_cleanup(&stored);
    }

    /* A refusal leases nothing. */
    for (int i = 0; i < 7; i++)
        assert_int_equal(send_at(f, f->ws, conv, now + 4000 + i, NULL, "more", NULL, NULL),
                         TTDM_OK);
    assert_int_equal(send_leased(f, conv, now + 5000, "eleventh", &leased, &other),
                     TTDM_ERR_REPLY_QUOTA_USED_UP);
    assert_int_equal(leased.msg.id, 0);
    assert_null(leased.msg.text);
}

static void test_outbox(void **state)
{
    struct fixture *f = *state;
    struct ttdm_outbox_item items[4];
    struct ttdm_reply_budget b;
    int64_t id = 0;
    size_t n = 9;
    int64_t now = hour(2);
    int64_t conv = cm(f, "ob", "c1", hour(1)).conversation_id;

    assert_int_equal(ttdm_store_claim_outbox(f->s, now, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(send_at(f, f->ws, conv, now, NULL, "queued text", &id, &b), TTDM_OK);

    assert_int_equal(ttdm_store_claim_outbox(f->s, now, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].msg.id, id);
    assert_int_equal(items[0].msg.attempts, 1);
    assert_string_equal(items[0].msg.text, "queued text");
    assert_string_equal(items[0].business_id, "biz-1");
    assert_string_equal(items[0].access_token, "token-biz-1");
    assert_string_equal(items[0].tiktok_conversation_id, "ob");
    assert_int_equal(items[0].channel_status, TTDM_CHANNEL_CONNECTED);
    assert_int_equal(items[0].workspace_id, f->ws);
    ttdm_outbox_items_cleanup(items, n);

    /* Leased: nobody else takes it until the lease ends. */
    assert_int_equal(ttdm_store_claim_outbox(f->s, now + 1000, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ttdm_store_claim_outbox(f->s, now + 30001, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].msg.attempts, 2);
    ttdm_outbox_items_cleanup(items, n);

    assert_int_equal(ttdm_store_schedule_retry(f->s, id, now + 90000, "TikTok unavailable"),
                     TTDM_OK);
    assert_int_equal(ttdm_store_claim_outbox(f->s, now + 89999, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ttdm_store_claim_outbox(f->s, now + 90000, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].msg.attempts, 3);
    ttdm_outbox_items_cleanup(items, n);

    assert_int_equal(ttdm_store_mark_sent(f->s, id, "ob-1", now + 90500), TTDM_OK);
    assert_int_equal(ttdm_store_claim_outbox(f->s, now + 999999, 30000, items, 4, &n), TTDM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ttdm_store_schedule_retry(f->s, id, now, "x"), TTDM_ERR_NOT_FOUND);
    assert_int_equal(ttdm_store_mark_sent(f->s, 777777, "x", now), TTDM_ERR_NOT_FOUND);

    /* Oldest first, at most max. */
    {
        int64_t ids[6];
        for (int i = 0; i < 6; i++)
            assert_int_equal(send_at(f, f->ws, conv, now + 100000 - i, NULL, "x", &ids[i], &b),
                             TTDM_OK);
        assert_int_equal(ttdm_store_claim_outbox(f->s, now + 200000, 1000, items, 4, &n), TTDM_OK);
        assert_int_equal(n, 4);
        for (int i = 0; i < 4; i++)
            assert_int_equal(items[i].msg.id, ids[5 - i]);
        ttdm_outbox_items_cleanup(items, n);
    }
}

static void test_preview_and_unread(void **state)
{
    struct fixture *f = *state;
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;
    struct ttdm_inbound ev;
    struct ttdm_inbound_result r;
    char text[1200];
    size_t len = 0;

    /* 300 three-byte characters: the preview keeps whole characters only. */
    for (int i = 0; i < 300; i++) {
        memcpy(text + len, "\xe2\x82\xac", 3); /* U+20AC EURO SIGN */
        len += 3;
    }
    memset(&ev, 0, sizeof(ev));
    ev.channel_id = f->channel;
    snprintf(ev.tiktok_conversation_id, sizeof(ev.tiktok_conversation_id), "pv");
    snprintf(ev.tiktok_message_id, sizeof(ev.tiktok_message_id), "pv-1");
    snprintf(ev.customer_user_id, sizeof(ev.customer_user_id), "u-pv");
    ev.direction = TTDM_DIR_CUSTOMER;
    ev.type = TTDM_MSG_TEXT;
    ev.text = text;
    ev.text_len = len;
    ev.timestamp_ms = hour(1);
    ev.received_at = hour(1);
    assert_int_equal(ttdm_store_record_inbound(f->s, &ev, &r), TTDM_OK);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r.conversation_id, hour(1), &v, &b),
                     TTDM_OK);
    assert_true(strlen(v.last_preview) > 0);
    assert_true(strlen(v.last_preview) < sizeof(v.last_preview));
    assert_int_equal(strlen(v.last_preview) % 3, 0);
    assert_true(strlen(v.last_preview) / 3 <= 120);
    assert_memory_equal(v.last_preview, text, strlen(v.last_preview));

    /* Short ASCII is cut at 120 characters. */
    memset(text, 'a', 200);
    ev.text_len = 200;
    snprintf(ev.tiktok_message_id, sizeof(ev.tiktok_message_id), "pv-2");
    ev.timestamp_ms = hour(1) + 1;
    assert_int_equal(ttdm_store_record_inbound(f->s, &ev, &r), TTDM_OK);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r.conversation_id, hour(1), &v, &b),
                     TTDM_OK);
    assert_int_equal(strlen(v.last_preview), 120);

    ev.type = TTDM_MSG_IMAGE;
    ev.text = NULL;
    ev.text_len = 0;
    ev.media_path = "/var/media/ab.jpg";
    ev.media_mime = "image/jpeg";
    ev.media_size = 1234;
    snprintf(ev.tiktok_message_id, sizeof(ev.tiktok_message_id), "pv-3");
    ev.timestamp_ms = hour(1) + 2;
    assert_int_equal(ttdm_store_record_inbound(f->s, &ev, &r), TTDM_OK);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r.conversation_id, hour(1), &v, &b),
                     TTDM_OK);
    assert_string_equal(v.last_preview, "[image]");
    assert_int_equal(v.unread_count, 3);
    {
        struct ttdm_message m;
        assert_int_equal(ttdm_store_message_get(f->s, f->ws, r.message_id, &m), TTDM_OK);
        assert_null(m.text);
        assert_int_equal(m.type, TTDM_MSG_IMAGE);
        assert_string_equal(m.media_path, "/var/media/ab.jpg");
        assert_string_equal(m.media_mime, "image/jpeg");
        assert_int_equal(m.media_size, 1234);
        ttdm_message_cleanup(&m);
    }

    ev.type = TTDM_MSG_UNSUPPORTED;
    ev.media_path = NULL;
    ev.raw_type = "sticker";
    snprintf(ev.tiktok_message_id, sizeof(ev.tiktok_message_id), "pv-4");
    ev.timestamp_ms = hour(1) + 3;
    assert_int_equal(ttdm_store_record_inbound(f->s, &ev, &r), TTDM_OK);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r.conversation_id, hour(1), &v, &b),
                     TTDM_OK);
    assert_string_equal(v.last_preview, "[unsupported: sticker]");

    ev.type = TTDM_MSG_SHARE_POST;
    ev.share_url = "https://www.tiktok.com/@shop/video/1";
    snprintf(ev.tiktok_message_id, sizeof(ev.tiktok_message_id), "pv-5");
    ev.timestamp_ms = hour(1) + 4;
    assert_int_equal(ttdm_store_record_inbound(f->s, &ev, &r), TTDM_OK);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r.conversation_id, hour(1), &v, &b),
                     TTDM_OK);
    assert_string_equal(v.last_preview, "[post]");
    assert_int_equal(v.unread_count, 5);

    /* Any business message resets unread; a later customer message starts again. */
    assert_int_equal(send(f, r.conversation_id, hour(2), &b), TTDM_OK);
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r.conversation_id, hour(2), &v, &b),
                     TTDM_OK);
    assert_int_equal(v.unread_count, 0);
    assert_string_equal(v.last_preview, "Thanks for writing!");
    assert_int_equal(v.last_activity_at, hour(2));
    cm(f, "pv", "pv-6", hour(3));
    assert_int_equal(ttdm_store_conversation_get(f->s, f->ws, r.conversation_id, hour(3), &v, &b),
                     TTDM_OK);
    assert_int_equal(v.unread_count, 1);
}

static void test_conversation_paging(void **state)
{
    struct fixture *f = *state;
    int64_t other = add_channel(f, f->ws, "biz-2");
    struct ttdm_conversation_view *page = NULL;
    struct ttdm_reply_budget *buds = NULL;
    int64_t ids[8];
    int64_t seen[16];
    size_t n = 0, total = 0;
    int64_t cur_at = 0, cur_id = 0;
    char conv[16];

    /* Seven conversations on channel 1 with activity at H1..H6 and one more at H6 (a tie
     * broken by id), two on channel 2. */
    for (int i = 0; i < 7; i++) {
        snprintf(conv, sizeof(conv), "p-%d", i);
        ids[i] = cm(f, conv, conv, hour(i < 6 ? i + 1 : 6)).conversation_id;
    }
    inbound(f, other, "o-1", "o-1", TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER, hour(10));
    inbound(f, other, "o-2", "o-2", TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER, hour(0));

    /* Every page size, so that the H6 tie also falls across a page boundary. */
    for (size_t size = 1; size <= 4; size++) {
        total = 0;
        cur_at = 0;
        cur_id = 0;
        do {
            assert_int_equal(ttdm_store_conversation_list(f->s, f->ws, f->channel, cur_at, cur_id,
                                                          size, hour(11), &page, &buds, &n),
                             TTDM_OK);
            for (size_t i = 0; i < n; i++) {
                assert_true(total < 7);
                seen[total++] = page[i].id;
                assert_int_equal(page[i].channel_id, f->channel);
                assert_int_equal(buds[i].replies_left, 10);
            }
            if (n > 0) {
                cur_at = page[n - 1].last_activity_at;
                cur_id = page[n - 1].id;
            }
            ttdm_free(page);
            ttdm_free(buds);
        } while (n == size);
        assert_int_equal(total, 7);
        assert_int_equal(seen[0], ids[6]); /* H6, higher id first */
        assert_int_equal(seen[1], ids[5]);
        for (int i = 2; i < 7; i++)
            assert_int_equal(seen[i], ids[6 - i]);
    }

    /* All channels: the other channel's newest comes first, its oldest last. */
    assert_int_equal(
        ttdm_store_conversation_list(f->s, f->ws, 0, 0, 0, 100, hour(11), &page, &buds, &n),
        TTDM_OK);
    assert_int_equal(n, 9);
    assert_int_equal(page[0].channel_id, other);
    assert_int_equal(page[8].channel_id, other);
    for (size_t i = 1; i < n; i++)
        assert_true(page[i - 1].last_activity_at >= page[i].last_activity_at);
    ttdm_free(page);
    ttdm_free(buds);
}

static void test_message_paging(void **state)
{
    struct fixture *f = *state;
    struct ttdm_message *msgs = NULL;
    int64_t ids[5];
    int64_t before = 0;
    size_t n = 0, got = 0;
    char id[16];
    int64_t conv = 0;

    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "mp-%d", i);
        struct ttdm_inbound_result r = cm(f, "mp", id, hour(1) + i);
        ids[i] = r.message_id;
        conv = r.conversation_id;
    }
    do {
        assert_int_equal(ttdm_store_message_list(f->s, f->ws, conv, before, 2, &msgs, &n), TTDM_OK);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(msgs[i].id, ids[4 - got]);
            assert_string_equal(msgs[i].text, "hello");
            assert_int_equal(msgs[i].direction, TTDM_DIR_CUSTOMER);
            assert_int_equal(msgs[i].source, TTDM_SOURCE_CUSTOMER);
            assert_int_equal(msgs[i].status, TTDM_STATUS_RECEIVED);
            got++;
        }
        if (n > 0)
            before = msgs[n - 1].id;
        ttdm_messages_free(msgs, n);
    } while (n == 2);
    assert_int_equal(got, 5);
}

static void test_workspace_isolation(void **state)
{
    struct fixture *f = *state;
    struct ttdm_conversation_view v;
    struct ttdm_conversation_view *page = NULL;
    struct ttdm_reply_budget b;
    struct ttdm_reply_budget *buds = NULL;
    struct ttdm_message m;
    struct ttdm_message *msgs = NULL;
    struct ttdm_channel ch;
    struct ttdm_channel *chans = NULL;
    struct ttdm_inbound_result r = cm(f, "iso", "iso-1", hour(1));
    int64_t ws2 = 0;
    size_t n = 9;

    assert_int_equal(ttdm_store_workspace_create(f->s, "intruder", &ws2), TTDM_OK);
    assert_int_equal(ttdm_store_conversation_get(f->s, ws2, r.conversation_id, hour(2), &v, &b),
                     TTDM_ERR_NOT_FOUND);
    assert_int_equal(
        ttdm_store_conversation_list(f->s, ws2, 0, 0, 0, 50, hour(2), &page, &buds, &n), TTDM_OK);
    assert_int_equal(n, 0);
    ttdm_free(page);
    ttdm_free(buds);
    assert_int_equal(
        ttdm_store_conversation_list(f->s, ws2, f->channel, 0, 0, 50, hour(2), &page, &buds, &n),
        TTDM_OK);
    assert_int_equal(n, 0);
    ttdm_free(page);
    ttdm_free(buds);
    assert_int_equal(ttdm_store_message_list(f->s, ws2, r.conversation_id, 0, 50, &msgs, &n),
                     TTDM_ERR_NOT_FOUND);
    assert_null(msgs);
    assert_int_equal(ttdm_store_message_get(f->s, ws2, r.message_id, &m), TTDM_ERR_NOT_FOUND);
    assert_int_equal(ttdm_store_channel_get(f->s, ws2, f->channel, &ch), TTDM_ERR_NOT_FOUND);
    assert_int_equal(ttdm_store_channel_list(f->s, ws2, &chans, &n), TTDM_OK);
    assert_int_equal(n, 0);
    ttdm_free(chans);
    assert_int_equal(send_at(f, ws2, r.conversation_id, hour(2), NULL, "x", NULL, &b),
                     TTDM_ERR_NOT_FOUND);
    assert_int_equal(message_count(f, r.conversation_id), 1);
    /* The owner still sees everything. */
    assert_int_equal(ttdm_store_message_get(f->s, f->ws, r.message_id, &m), TTDM_OK);
    ttdm_message_cleanup(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations_idempotent_on_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workspace_and_apikey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_upsert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbound_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_customer_named_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_simulation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_used_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_customer_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_echo_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daily_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_give_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_api_echo_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_moves_reply_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_customer_between_accept_and_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prompt_send_crossing_a_customer_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_receipts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_at_reservation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preview_and_unread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conversation_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workspace_isolation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
