/* test_policy.c -- TikTok's rules R1-R8 as pure decisions, including the seed's simulation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/model.h"
#include "core/policy.h"

#define MINUTE_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)
#define T0 INT64_C(1735689600000) /* 2025-01-01T00:00:00Z: hour 0 of every scenario */

static int64_t hour(int h)
{
    return T0 + h * HOUR_MS;
}

/* ---------------------------------------------------------------------------------------
 * A conversation as a list of stored messages, and the state a store derives from it.
 */

struct event {
    const char *message_id; /* TikTok's id: one stored row per id however often delivered */
    int64_t at;             /* TikTok's timestamp, ms */
    enum ttdm_direction dir;
    enum ttdm_msg_source source;
};

#define MAX_EVENTS 64

struct conversation_log {
    struct event events[MAX_EVENTS];
    size_t count;
};

static bool seen_before(const struct event *events, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (strcmp(events[j].message_id, events[i].message_id) == 0)
            return true;
    }
    return false;
}

/*
 * What a store keeps for R2/R3: the latest customer timestamp and the number of distinct
 * business messages with a later timestamp. It depends on the set of messages only, never
 * on the order they were delivered in, and a redelivered message id counts once.
 */
static void derive_state(const struct event *events, size_t n, struct ttdm_conversation_state *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        if (events[i].dir == TTDM_DIR_CUSTOMER && events[i].at > out->latest_customer_msg_at)
            out->latest_customer_msg_at = events[i].at;
    }
    for (size_t i = 0; i < n; i++) {
        if (events[i].dir == TTDM_DIR_BUSINESS && !seen_before(events, i) &&
            events[i].at > out->latest_customer_msg_at)
            out->replies_used++;
    }
}

static void log_add(struct conversation_log *log, const char *id, int64_t at,
                    enum ttdm_direction dir, enum ttdm_msg_source source)
{
    assert_true(log->count < MAX_EVENTS);
    log->events[log->count++] = (struct event){id, at, dir, source};
}

static struct ttdm_reply_budget budget_at(const struct ttdm_policy_rules *rules,
                                          const struct conversation_log *log, int64_t now)
{
    struct ttdm_conversation_state conv;
    struct ttdm_channel_state chan = {false, 100, 0};
    struct ttdm_reply_budget b;

    derive_state(log->events, log->count, &conv);
    ttdm_policy_budget(rules, &conv, &chan, now, &b);
    return b;
}

/* ---------------------------------------------------------------------------------------
 * Defaults
 */

static void test_rules_defaults(void **state)
{
    struct ttdm_policy_rules r;
    (void)state;

    memset(&r, 0xAB, sizeof(r));
    ttdm_policy_rules_default(&r);
    assert_int_equal(r.window_ms, INT64_C(48) * 3600 * 1000);
    assert_int_equal(r.replies_per_window, 10);
    assert_int_equal(r.daily_limit_min, 100);
    assert_int_equal(r.daily_limit_max, 200);
    assert_int_equal(r.day_offset_minutes, 0);
    assert_int_equal(r.text_max_chars, 6000);
    assert_int_equal(r.image_max_bytes, 3 * 1024 * 1024);
}

static void test_daily_limit_valid(void **state)
{
    struct ttdm_policy_rules r;
    (void)state;

    ttdm_policy_rules_default(&r);
    assert_false(ttdm_policy_daily_limit_valid(&r, 0));
    assert_false(ttdm_policy_daily_limit_valid(&r, 99));
    assert_true(ttdm_policy_daily_limit_valid(&r, 100));
    assert_true(ttdm_policy_daily_limit_valid(&r, 150));
    assert_true(ttdm_policy_daily_limit_valid(&r, 200));
    assert_false(ttdm_policy_daily_limit_valid(&r, 201));
    assert_false(ttdm_policy_daily_limit_valid(&r, -100));

    /* A rule change at TikTok is a configuration change. */
    r.daily_limit_min = 50;
    r.daily_limit_max = 500;
    assert_true(ttdm_policy_daily_limit_valid(&r, 50));
    assert_true(ttdm_policy_daily_limit_valid(&r, 500));
    assert_false(ttdm_policy_daily_limit_valid(&r, 501));
}

/* ---------------------------------------------------------------------------------------
 * The seed's simulation, hour by hour (PRODUCT.md).
 */

struct sim_row {
    int hour;
    int customer_msgs;
    int business_msgs;
    int replies_left;
    int closes_hour; /* 0: window closed, sending refused */
};

static const struct sim_row seed_simulation[] = {
    {1, 1, 0, 10, 49},  /* CM1 */
    {2, 0, 3, 7, 49},   /* BM1, BM2, BM3 */
    {4, 0, 1, 6, 49},   /* BM4 */
    {7, 1, 0, 10, 55},  /* CM2 */
    {8, 1, 0, 10, 56},  /* CM3 */
    {10, 0, 1, 9, 56},  /* BM */
    {39, 0, 1, 8, 56},  /* BM */
    {56, 0, 0, 0, 0},   /* nothing: window closed */
    {60, 1, 0, 10, 108} /* CM4 */
};

/* Message ids must outlive the log; one static pool is enough for a test. */
static char id_pool[MAX_EVENTS][16];

static const char *make_id(char prefix, size_t n)
{
    char *id = id_pool[n % MAX_EVENTS];
    /* snprintf: bounded, as everywhere in ttdm. */
    int rc = snprintf(id, sizeof(id_pool[0]), "%c%zu", prefix, n);
    assert_true(rc > 0 && (size_t)rc < sizeof(id_pool[0]));
    return id;
}

/* Plays the table into `log`; with `check`, asserts each row as an agent would see it. */
static void play_seed_simulation(const struct ttdm_policy_rules *rules,
                                 struct conversation_log *log, bool check)
{
    size_t n = 0;

    for (size_t r = 0; r < sizeof(seed_simulation) / sizeof(seed_simulation[0]); r++) {
        const struct sim_row *row = &seed_simulation[r];
        int64_t t = hour(row->hour);

        for (int i = 0; i < row->customer_msgs; i++, n++)
            log_add(log, make_id('c', n), t + i * 1000, TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER);
        for (int i = 0; i < row->business_msgs; i++, n++) {
            int64_t sent_at = t + i * 1000;
            /* The store asks the policy before it records a send. */
            if (check)
                assert_int_equal(budget_at(rules, log, sent_at).may_send, TTDM_OK);
            log_add(log, make_id('b', n), sent_at, TTDM_DIR_BUSINESS, TTDM_SOURCE_AGENT);
        }
        if (!check)
            continue;

        /* What the agent sees right after the hour's events (and at the full hour for the
         * row without events). */
        int64_t now = (row->customer_msgs + row->business_msgs) ? t + 30 * MINUTE_MS : t;
        struct ttdm_reply_budget b = budget_at(rules, log, now);
        assert_true(b.has_customer_message);
        assert_int_equal(b.replies_per_window, 10);
        if (row->closes_hour != 0) {
            if (b.replies_left != row->replies_left)
                fail_msg("H%d: %d replies left, expected %d", row->hour, b.replies_left,
                         row->replies_left);
            assert_true(b.window_open);
            assert_int_equal(b.window_closes_at, hour(row->closes_hour));
            assert_int_equal(b.may_send, TTDM_OK);
        } else {
            assert_false(b.window_open);
            assert_int_equal(b.replies_left, 0);
            assert_int_equal(b.may_send, TTDM_ERR_WINDOW_CLOSED);
        }
    }
}

static void test_seed_simulation(void **state)
{
    struct ttdm_policy_rules rules;
    struct conversation_log log = {.count = 0};
    (void)state;

    ttdm_policy_rules_default(&rules);
    play_seed_simulation(&rules, &log, true);
    assert_int_equal(log.count, 10); /* 4 CMs and 6 BMs */

    /* Around H56 in detail, with the messages up to H39 only. */
    struct conversation_log before = log;
    before.count = 9; /* drop CM4 */
    struct ttdm_reply_budget b = budget_at(&rules, &before, hour(56) - 1);
    assert_true(b.window_open);
    assert_int_equal(b.replies_left, 8);
    assert_int_equal(b.replies_used, 2);
    b = budget_at(&rules, &before, hour(56));
    assert_false(b.window_open);
    assert_int_equal(b.window_closes_at, hour(56));
    assert_int_equal(b.may_send, TTDM_ERR_WINDOW_CLOSED);
    assert_int_equal(budget_at(&rules, &before, hour(59)).may_send, TTDM_ERR_WINDOW_CLOSED);

    /* H60 - H108: a fresh quota of 10 for the whole new window. */
    b = budget_at(&rules, &log, hour(108) - 1);
    assert_int_equal(b.replies_left, 10);
    assert_int_equal(budget_at(&rules, &log, hour(108)).may_send, TTDM_ERR_WINDOW_CLOSED);
}

/* Xorshift: deterministic shuffles, so a failure is reproducible. */
static uint32_t next_random(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* TikTok delivers late and twice (retries for up to 72 h): any order, any duplicates, same
 * answer. */
static void test_simulation_order_independent(void **state)
{
    struct ttdm_policy_rules rules;
    struct conversation_log log = {.count = 0};
    uint32_t seed = 0x2545F491u;
    (void)state;

    ttdm_policy_rules_default(&rules);
    play_seed_simulation(&rules, &log, false);

    /* Two snapshots: everything up to H39, and everything. */
    const struct {
        size_t count;
        int64_t now;
        int replies_left;
        int64_t closes_at;
    } snapshots[] = {{9, hour(40), 8, hour(56)}, {10, hour(61), 10, hour(108)}};

    for (size_t s = 0; s < sizeof(snapshots) / sizeof(snapshots[0]); s++) {
        for (int round = 0; round < 200; round++) {
            struct event delivered[MAX_EVENTS];
            size_t n = snapshots[s].count;

            memcpy(delivered, log.events, n * sizeof(delivered[0]));
            /* Redeliver a few messages. */
            int dups = (int)(next_random(&seed) % 4);
            for (int d = 0; d < dups; d++)
                delivered[n++] = log.events[next_random(&seed) % snapshots[s].count];
            /* Fisher-Yates. */
            for (size_t i = n - 1; i > 0; i--) {
                size_t j = next_random(&seed) % (i + 1);
                struct event tmp = delivered[i];
                delivered[i] = delivered[j];
                delivered[j] = tmp;
            }

            struct ttdm_conversation_state conv;
            struct ttdm_channel_state chan = {false, 100, 0};
            struct ttdm_reply_budget b;
            derive_state(delivered, n, &conv);
            ttdm_policy_budget(&rules, &conv, &chan, snapshots[s].now, &b);
            assert_int_equal(b.replies_left, snapshots[s].replies_left);
            assert_int_equal(b.window_closes_at, snapshots[s].closes_at);
            assert_int_equal(b.may_send, TTDM_OK);
        }
    }
}

/* A customer message whose timestamp is earlier than business messages already stored. */
static void test_late_customer_message(void **state)
{
    struct ttdm_policy_rules rules;
    struct conversation_log log = {.count = 0};
    (void)state;

    ttdm_policy_rules_default(&rules);
    log_add(&log, "cm1", hour(1), TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER);
    log_add(&log, "bm1", hour(2), TTDM_DIR_BUSINESS, TTDM_SOURCE_AGENT);
    log_add(&log, "bm2", hour(3), TTDM_DIR_BUSINESS, TTDM_SOURCE_AGENT);
    log_add(&log, "bm3", hour(5), TTDM_DIR_BUSINESS, TTDM_SOURCE_AGENT);

    struct ttdm_reply_budget b = budget_at(&rules, &log, hour(6));
    assert_int_equal(b.replies_left, 7);
    assert_int_equal(b.window_closes_at, hour(49));

    /* CM2 was written at H4 but reaches us at H6, after BM3 (H5) was stored. By TikTok's
     * timestamps only BM3 follows the latest customer message. */
    log_add(&log, "cm2", hour(4), TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER);
    b = budget_at(&rules, &log, hour(6));
    assert_int_equal(b.replies_used, 1);
    assert_int_equal(b.replies_left, 9);
    assert_int_equal(b.window_closes_at, hour(52));

    /* Redelivery of CM2 and a very late, older customer message change nothing. */
    log_add(&log, "cm2", hour(4), TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER);
    log_add(&log, "cm0", hour(0), TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER);
    b = budget_at(&rules, &log, hour(7));
    assert_int_equal(b.replies_left, 9);
    assert_int_equal(b.window_closes_at, hour(52));

    /* A late CM can reopen a window that looked closed. */
    struct conversation_log old = {.count = 0};
    log_add(&old, "cm1", hour(1), TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER);
    assert_int_equal(budget_at(&rules, &old, hour(50)).may_send, TTDM_ERR_WINDOW_CLOSED);
    log_add(&old, "cm9", hour(20), TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER);
    assert_int_equal(budget_at(&rules, &old, hour(50)).may_send, TTDM_OK);
}

/* Agent replies, auto-responses and replies typed in the TikTok app all use the quota. */
static void test_every_business_message_counts(void **state)
{
    struct ttdm_policy_rules rules;
    struct conversation_log log = {.count = 0};
    (void)state;

    ttdm_policy_rules_default(&rules);
    log_add(&log, "cm1", hour(1), TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER);
    log_add(&log, "auto1", hour(1) + 1000, TTDM_DIR_BUSINESS, TTDM_SOURCE_AUTO);
    assert_int_equal(budget_at(&rules, &log, hour(2)).replies_left, 9);

    log_add(&log, "app1", hour(2), TTDM_DIR_BUSINESS, TTDM_SOURCE_TIKTOK_APP);
    log_add(&log, "app2", hour(2) + 1, TTDM_DIR_BUSINESS, TTDM_SOURCE_TIKTOK_APP);
    assert_int_equal(budget_at(&rules, &log, hour(3)).replies_left, 7);

    /* TikTok echoes our own API sends too; the echo carries the same message id. */
    log_add(&log, "agent1", hour(3), TTDM_DIR_BUSINESS, TTDM_SOURCE_AGENT);
    log_add(&log, "agent1", hour(3), TTDM_DIR_BUSINESS, TTDM_SOURCE_AGENT);
    assert_int_equal(budget_at(&rules, &log, hour(4)).replies_left, 6);

    char ids[6][8];
    for (int i = 0; i < 6; i++) {
        int rc = snprintf(ids[i], sizeof(ids[i]), "app%d", 10 + i);
        assert_true(rc > 0);
        assert_int_equal(budget_at(&rules, &log, hour(5) + i).may_send, TTDM_OK);
        log_add(&log, ids[i], hour(5) + i, TTDM_DIR_BUSINESS, TTDM_SOURCE_TIKTOK_APP);
    }
    struct ttdm_reply_budget b = budget_at(&rules, &log, hour(6));
    assert_int_equal(b.replies_used, 10);
    assert_int_equal(b.replies_left, 0);
    assert_true(b.window_open);
    assert_int_equal(b.may_send, TTDM_ERR_REPLY_QUOTA_USED_UP);

    /* The customer writes again: back to 10. */
    log_add(&log, "cm2", hour(7), TTDM_DIR_CUSTOMER, TTDM_SOURCE_CUSTOMER);
    assert_int_equal(budget_at(&rules, &log, hour(7)).replies_left, 10);
}

/* ---------------------------------------------------------------------------------------
 * R1-R4 directly on conversation_state.
 */

static void test_window_boundary(void **state)
{
    struct ttdm_policy_rules rules;
    struct ttdm_conversation_state conv = {hour(1), 3, true};
    struct ttdm_channel_state chan = {false, 100, 1};
    struct ttdm_reply_budget b;
    int64_t closes = hour(1) + 48 * HOUR_MS;
    (void)state;

    ttdm_policy_rules_default(&rules);

    ttdm_policy_budget(&rules, &conv, &chan, closes - 1, &b);
    assert_true(b.window_open);
    assert_int_equal(b.window_closes_at, closes);
    assert_int_equal(b.replies_left, 7);
    assert_int_equal(b.may_send, TTDM_OK);

    ttdm_policy_budget(&rules, &conv, &chan, closes, &b);
    assert_false(b.window_open);
    assert_int_equal(b.window_closes_at, closes);
    assert_int_equal(b.replies_left, 0);
    assert_int_equal(b.replies_used, 3);
    assert_int_equal(b.may_send, TTDM_ERR_WINDOW_CLOSED);

    assert_int_equal(ttdm_policy_may_send(&rules, &conv, &chan, closes + 1, NULL),
                     TTDM_ERR_WINDOW_CLOSED);

    /* The window is a configuration value. */
    rules.window_ms = 24 * HOUR_MS;
    assert_int_equal(ttdm_policy_may_send(&rules, &conv, &chan, hour(25) - 1, NULL), TTDM_OK);
    assert_int_equal(ttdm_policy_may_send(&rules, &conv, &chan, hour(25), NULL),
                     TTDM_ERR_WINDOW_CLOSED);
}

static void test_no_customer_message(void **state)
{
    struct ttdm_conversation_state conv = {0, 0, false};
    struct ttdm_channel_state chan = {false, 100, 0};
    struct ttdm_reply_budget b;
    (void)state;

    ttdm_policy_budget(NULL, &conv, &chan, hour(1), &b);
    assert_false(b.has_customer_message);
    assert_false(b.window_open);
    assert_int_equal(b.window_closes_at, 0);
    assert_int_equal(b.replies_left, 0);
    assert_int_equal(b.replies_per_window, 10);
    assert_int_equal(b.may_send, TTDM_ERR_NO_CUSTOMER_MESSAGE);

    /* A business cannot open a conversation, not even at the start of time. */
    assert_int_equal(ttdm_policy_may_send(NULL, &conv, &chan, 0, NULL),
                     TTDM_ERR_NO_CUSTOMER_MESSAGE);
}

static void test_quota(void **state)
{
    struct ttdm_policy_rules rules;
    struct ttdm_conversation_state conv = {hour(1), 0, true};
    struct ttdm_channel_state chan = {false, 100, 1};
    struct ttdm_reply_budget b;
    (void)state;

    ttdm_policy_rules_default(&rules);
    for (int used = 0; used <= 12; used++) {
        conv.replies_used = used;
        ttdm_policy_budget(&rules, &conv, &chan, hour(2), &b);
        assert_int_equal(b.replies_left, used < 10 ? 10 - used : 0);
        assert_int_equal(b.may_send, used < 10 ? TTDM_OK : TTDM_ERR_REPLY_QUOTA_USED_UP);
    }

    /* A nonsensical negative count from a broken row never grants more than the quota. */
    conv.replies_used = -5;
    ttdm_policy_budget(&rules, &conv, &chan, hour(2), &b);
    assert_int_equal(b.replies_left, 10);
    assert_int_equal(b.replies_used, 0);

    rules.replies_per_window = 3;
    conv.replies_used = 2;
    ttdm_policy_budget(&rules, &conv, &chan, hour(2), &b);
    assert_int_equal(b.replies_left, 1);
    assert_int_equal(b.replies_per_window, 3);
}

static void test_check_order(void **state)
{
    struct ttdm_policy_rules rules;
    struct ttdm_reply_budget b;
    (void)state;

    ttdm_policy_rules_default(&rules);
    struct ttdm_channel_state broken = {true, 100, 100};
    struct ttdm_channel_state full = {false, 100, 100};
    struct ttdm_conversation_state none = {0, 0, false};
    struct ttdm_conversation_state open = {hour(1), 0, false};
    struct ttdm_conversation_state used_up = {hour(1), 10, false};

    /* Reconnect comes first, whatever else is wrong; the budget is still filled in. */
    assert_int_equal(ttdm_policy_may_send(&rules, &none, &broken, hour(2), NULL),
                     TTDM_ERR_RECONNECT_REQUIRED);
    assert_int_equal(ttdm_policy_may_send(&rules, &open, &broken, hour(60), NULL),
                     TTDM_ERR_RECONNECT_REQUIRED);
    assert_int_equal(ttdm_policy_may_send(&rules, &open, &broken, hour(2), &b),
                     TTDM_ERR_RECONNECT_REQUIRED);
    assert_int_equal(b.may_send, TTDM_ERR_RECONNECT_REQUIRED);
    assert_int_equal(b.replies_left, 10);
    assert_true(b.window_open);

    assert_int_equal(ttdm_policy_may_send(&rules, &none, &full, hour(2), NULL),
                     TTDM_ERR_NO_CUSTOMER_MESSAGE);
    assert_int_equal(ttdm_policy_may_send(&rules, &open, &full, hour(60), NULL),
                     TTDM_ERR_WINDOW_CLOSED);
    assert_int_equal(ttdm_policy_may_send(&rules, &used_up, &full, hour(2), NULL),
                     TTDM_ERR_REPLY_QUOTA_USED_UP);
    assert_int_equal(ttdm_policy_may_send(&rules, &open, &full, hour(2), NULL),
                     TTDM_ERR_DAILY_LIMIT);
}

/* ---------------------------------------------------------------------------------------
 * R4: daily conversations, derived from a ledger of sends as a store would.
 */

struct send {
    int conversation;
    int64_t at;
};

/* Distinct conversations sent to on the day of `now`, and whether `conversation` is one. */
static void derive_channel_day(const struct ttdm_policy_rules *rules, const struct send *sends,
                               size_t n, int conversation, int64_t now,
                               struct ttdm_channel_state *chan, bool *counted_today)
{
    int64_t today = ttdm_policy_day(rules, now);

    chan->daily_used = 0;
    *counted_today = false;
    for (size_t i = 0; i < n; i++) {
        if (ttdm_policy_day(rules, sends[i].at) != today)
            continue;
        bool first = true;
        for (size_t j = 0; j < i; j++) {
            if (sends[j].conversation == sends[i].conversation &&
                ttdm_policy_day(rules, sends[j].at) == today)
                first = false;
        }
        if (first)
            chan->daily_used++;
        if (sends[i].conversation == conversation)
            *counted_today = true;
    }
}

static enum ttdm_err may_send_to(const struct ttdm_policy_rules *rules, const struct send *sends,
                                 size_t n, int daily_limit, int conversation, int64_t now)
{
    struct ttdm_channel_state chan = {false, daily_limit, 0};
    /* Every conversation here has a fresh customer message. */
    struct ttdm_conversation_state conv = {now - MINUTE_MS, 0, false};

    derive_channel_day(rules, sends, n, conversation, now, &chan, &conv.counted_today);
    return ttdm_policy_may_send(rules, &conv, &chan, now, NULL);
}

static void test_daily_limit_simple(void **state)
{
    struct ttdm_conversation_state conv = {hour(1), 0, false};
    struct ttdm_channel_state chan = {false, 100, 99};
    struct ttdm_reply_budget b;
    (void)state;

    assert_int_equal(ttdm_policy_may_send(NULL, &conv, &chan, hour(2), &b), TTDM_OK);
    assert_int_equal(b.daily_used, 99);
    assert_int_equal(b.daily_limit, 100);
    assert_false(b.counted_today);

    chan.daily_used = 100;
    assert_int_equal(ttdm_policy_may_send(NULL, &conv, &chan, hour(2), &b), TTDM_ERR_DAILY_LIMIT);
    /* The limit does not consume the window's quota. */
    assert_int_equal(b.replies_left, 10);

    conv.counted_today = true;
    assert_int_equal(ttdm_policy_may_send(NULL, &conv, &chan, hour(2), &b), TTDM_OK);
    assert_true(b.counted_today);
}

#define LEDGER_MAX 400

static void test_daily_limit_utc_day_boundary(void **state)
{
    struct ttdm_policy_rules rules;
    static struct send sends[LEDGER_MAX];
    size_t n = 0;
    int64_t day_start = T0 + 10 * DAY_MS; /* 2025-01-11T00:00:00Z */
    (void)state;

    ttdm_policy_rules_default(&rules);
    /* A channel whose admin set the limit to 150: 150 conversations messaged that day,
     * some of them several times. */
    for (int c = 0; c < 150; c++) {
        sends[n++] = (struct send){c, day_start + 12 * HOUR_MS + c * 1000};
        if (c % 10 == 0)
            sends[n++] = (struct send){c, day_start + 20 * HOUR_MS + c};
    }
    int64_t last_ms = day_start + DAY_MS - 1; /* 23:59:59.999 */
    int64_t midnight = day_start + DAY_MS;    /* 00:00:00.000 next day */

    struct ttdm_channel_state chan = {false, 150, 0};
    bool counted;
    derive_channel_day(&rules, sends, n, 7, last_ms, &chan, &counted);
    assert_int_equal(chan.daily_used, 150);
    assert_true(counted);

    /* 23:59:59.999: a 151st conversation is refused, a counted one is not. */
    assert_int_equal(may_send_to(&rules, sends, n, 150, 150, last_ms), TTDM_ERR_DAILY_LIMIT);
    assert_int_equal(may_send_to(&rules, sends, n, 150, 7, last_ms), TTDM_OK);
    /* With the limit at 200 the same channel still has room. */
    assert_int_equal(may_send_to(&rules, sends, n, 200, 150, last_ms), TTDM_OK);
    /* 149 used of 150: room for one more. */
    assert_int_equal(may_send_to(&rules, sends, n - 1, 150, 150, last_ms), TTDM_OK);

    /* 00:00:00.000 UTC: a new day, nothing counted yet. */
    derive_channel_day(&rules, sends, n, 7, midnight, &chan, &counted);
    assert_int_equal(chan.daily_used, 0);
    assert_false(counted);
    assert_int_equal(may_send_to(&rules, sends, n, 150, 150, midnight), TTDM_OK);
    assert_int_equal(may_send_to(&rules, sends, n, 150, 7, midnight), TTDM_OK);
}

static void test_daily_limit_day_offset(void **state)
{
    struct ttdm_policy_rules rules;
    static struct send sends[LEDGER_MAX];
    size_t n = 0;
    int64_t utc_day = T0 + 10 * DAY_MS;
    (void)state;

    /* UTC+7 (Jakarta): the calendar day changes at 17:00 UTC. */
    ttdm_policy_rules_default(&rules);
    rules.day_offset_minutes = 7 * 60;
    for (int c = 0; c < 100; c++)
        sends[n++] = (struct send){c, utc_day + 5 * HOUR_MS + c}; /* 12:00 local */

    assert_int_equal(may_send_to(&rules, sends, n, 100, 500, utc_day + 17 * HOUR_MS - 1),
                     TTDM_ERR_DAILY_LIMIT);
    assert_int_equal(may_send_to(&rules, sends, n, 100, 500, utc_day + 17 * HOUR_MS), TTDM_OK);
    /* Midnight UTC is not a boundary for this channel. */
    assert_int_equal(may_send_to(&rules, sends, n, 100, 500, utc_day + DAY_MS - 1), TTDM_OK);

    /* UTC-5: the day changes at 05:00 UTC; sends at 12:00 UTC = 07:00 local. */
    rules.day_offset_minutes = -5 * 60;
    n = 0;
    for (int c = 0; c < 100; c++)
        sends[n++] = (struct send){c, utc_day + 12 * HOUR_MS + c};
    assert_int_equal(may_send_to(&rules, sends, n, 100, 500, utc_day + DAY_MS - 1),
                     TTDM_ERR_DAILY_LIMIT);
    assert_int_equal(may_send_to(&rules, sends, n, 100, 500, utc_day + DAY_MS), /* 19:00 */
                     TTDM_ERR_DAILY_LIMIT);
    assert_int_equal(may_send_to(&rules, sends, n, 100, 500, utc_day + DAY_MS + 5 * HOUR_MS - 1),
                     TTDM_ERR_DAILY_LIMIT);
    assert_int_equal(may_send_to(&rules, sends, n, 100, 500, utc_day + DAY_MS + 5 * HOUR_MS),
                     TTDM_OK);
}

static void test_day_numbers(void **state)
{
    struct ttdm_policy_rules r;
    (void)state;

    ttdm_policy_rules_default(&r);
    assert_int_equal(ttdm_policy_day(&r, 0), 0);
    assert_int_equal(ttdm_policy_day(&r, DAY_MS - 1), 0);
    assert_int_equal(ttdm_policy_day(&r, DAY_MS), 1);
    assert_int_equal(ttdm_policy_day(&r, T0), 20089); /* 2025-01-01 */
    assert_int_equal(ttdm_policy_day(&r, T0 - 1), 20088);
    /* Before 1970 the day is floored, not truncated toward zero. */
    assert_int_equal(ttdm_policy_day(&r, -1), -1);
    assert_int_equal(ttdm_policy_day(&r, -DAY_MS), -1);
    assert_int_equal(ttdm_policy_day(&r, -DAY_MS - 1), -2);

    r.day_offset_minutes = 60;
    assert_int_equal(ttdm_policy_day(&r, -HOUR_MS), 0);
    assert_int_equal(ttdm_policy_day(&r, -HOUR_MS - 1), -1);
    assert_int_equal(ttdm_policy_day(&r, DAY_MS - HOUR_MS - 1), 0);
    assert_int_equal(ttdm_policy_day(&r, DAY_MS - HOUR_MS), 1);
    r.day_offset_minutes = -60;
    assert_int_equal(ttdm_policy_day(&r, 0), -1);
    assert_int_equal(ttdm_policy_day(&r, HOUR_MS - 1), -1);
    assert_int_equal(ttdm_policy_day(&r, HOUR_MS), 0);

    /* Extremes do not overflow (the sanitizer build checks this). */
    r.day_offset_minutes = 0;
    assert_int_equal(ttdm_policy_day(&r, INT64_MIN), INT64_C(-106751991168));
    assert_int_equal(ttdm_policy_day(&r, INT64_MAX), INT64_C(106751991167));
    r.day_offset_minutes = 1440;
    assert_int_equal(ttdm_policy_day(&r, INT64_MIN), INT64_C(-106751991167));
    assert_int_equal(ttdm_policy_day(&r, INT64_MAX), INT64_C(106751991168));
    r.day_offset_minutes = -1440;
    assert_int_equal(ttdm_policy_day(&r, INT64_MIN), INT64_C(-106751991169));
    assert_int_equal(ttdm_policy_day(&r, INT64_MAX), INT64_C(106751991166));

    /* NULL rules are the defaults. */
    assert_int_equal(ttdm_policy_day(NULL, DAY_MS), 1);
}

static void test_budget_extremes(void **state)
{
    struct ttdm_conversation_state conv = {INT64_MAX - 1, 0, true};
    struct ttdm_channel_state chan = {false, 100, 0};
    struct ttdm_reply_budget b;
    (void)state;

    /* A corrupt timestamp near the end of time must not overflow. */
    ttdm_policy_budget(NULL, &conv, &chan, INT64_MAX - 1, &b);
    assert_int_equal(b.window_closes_at, INT64_MAX);
    assert_true(b.window_open);

    /* Same inputs, same answer. */
    struct ttdm_reply_budget again;
    conv = (struct ttdm_conversation_state){hour(1), 4, true};
    ttdm_policy_budget(NULL, &conv, &chan, hour(3), &b);
    ttdm_policy_budget(NULL, &conv, &chan, hour(3), &again);
    assert_int_equal(b.replies_left, again.replies_left);
    assert_int_equal(b.window_closes_at, again.window_closes_at);
    assert_int_equal(b.may_send, again.may_send);
    assert_int_equal(ttdm_policy_may_send(NULL, &conv, &chan, hour(3), NULL), b.may_send);
}

/* ---------------------------------------------------------------------------------------
 * R5: content.
 */

static const char emoji[] = "\xF0\x9F\x98\x80"; /* U+1F600, 4 bytes, 1 code point */
static const char e_acute[] = "e\xCC\x81";      /* e + U+0301: 2 code points */

static char *repeat(const char *unit, size_t times, const char *tail, size_t *len)
{
    size_t ulen = strlen(unit), tlen = strlen(tail);
    char *buf = malloc(ulen * times + tlen + 1);
    assert_non_null(buf);
    for (size_t i = 0; i < times; i++)
        memcpy(buf + i * ulen, unit, ulen);
    memcpy(buf + ulen * times, tail, tlen + 1);
    *len = ulen * times + tlen;
    return buf;
}

static enum ttdm_err check_text(const char *s, size_t len)
{
    enum ttdm_content_type type = TTDM_CONTENT_NONE;
    enum ttdm_err rc = ttdm_policy_check_content(NULL, s, len, NULL, 0, &type);
    assert_int_equal(type, rc == TTDM_OK ? TTDM_CONTENT_TEXT : TTDM_CONTENT_NONE);
    return rc;
}

static void test_text_length_in_code_points(void **state)
{
    size_t len;
    char *s;
    (void)state;

    s = repeat("a", 6000, "", &len);
    assert_int_equal(check_text(s, len), TTDM_OK);
    free(s);
    s = repeat("a", 6001, "", &len);
    assert_int_equal(check_text(s, len), TTDM_ERR_TEXT_TOO_LONG);
    free(s);

    /* 6000 emoji are 24000 bytes but 6000 characters. */
    s = repeat(emoji, 6000, "", &len);
    assert_int_equal(len, 24000);
    assert_int_equal(ttdm_utf8_count(s, len), 6000);
    assert_int_equal(check_text(s, len), TTDM_OK);
    free(s);
    s = repeat(emoji, 6001, "", &len);
    assert_int_equal(ttdm_utf8_count(s, len), 6001);
    assert_int_equal(check_text(s, len), TTDM_ERR_TEXT_TOO_LONG);
    free(s);

    /* A combining mark is its own code point: 3000 "é" written as e + U+0301 are 6000. */
    assert_int_equal(ttdm_utf8_count(e_acute, strlen(e_acute)), 2);
    s = repeat(e_acute, 3000, "", &len);
    assert_int_equal(ttdm_utf8_count(s, len), 6000);
    assert_int_equal(check_text(s, len), TTDM_OK);
    free(s);
    s = repeat(e_acute, 3000, "e", &len);
    assert_int_equal(ttdm_utf8_count(s, len), 6001);
    assert_int_equal(check_text(s, len), TTDM_ERR_TEXT_TOO_LONG);
    free(s);

    /* Mixed widths: 5999 ASCII + 1 emoji = 6000. */
    s = repeat("a", 5999, emoji, &len);
    assert_int_equal(check_text(s, len), TTDM_OK);
    free(s);
    s = repeat("a", 6000, emoji, &len);
    assert_int_equal(check_text(s, len), TTDM_ERR_TEXT_TOO_LONG);
    free(s);

    /* A ZWJ family emoji is one glyph but five code points. */
    static const char family[] = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D"
                                 "\xF0\x9F\x91\xA7";
    assert_int_equal(ttdm_utf8_count(family, strlen(family)), 5);

    /* The limit is a configuration value. */
    struct ttdm_policy_rules rules;
    ttdm_policy_rules_default(&rules);
    rules.text_max_chars = 3;
    assert_int_equal(ttdm_policy_check_content(&rules, "abc", 3, NULL, 0, NULL), TTDM_OK);
    assert_int_equal(ttdm_policy_check_content(&rules, "abcd", 4, NULL, 0, NULL),
                     TTDM_ERR_TEXT_TOO_LONG);
}

static void test_utf8_valid_edges(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        long count;
    } cases[] = {
        {"", 0, 0},
        {"hello", 5, 5},
        {"a\0b", 3, 3},             /* U+0000 is valid UTF-8 */
        {"\x7F", 1, 1},             /* last 1-byte */
        {"\xC2\x80", 2, 1},         /* first 2-byte */
        {"\xDF\xBF", 2, 1},         /* last 2-byte */
        {"\xE0\xA0\x80", 3, 1},     /* first 3-byte */
        {"\xED\x9F\xBF", 3, 1},     /* U+D7FF, just below the surrogates */
        {"\xEE\x80\x80", 3, 1},     /* U+E000, just above */
        {"\xEF\xBF\xBF", 3, 1},     /* U+FFFF */
        {"\xF0\x90\x80\x80", 4, 1}, /* U+10000 */
        {"\xF4\x8F\xBF\xBF", 4, 1}, /* U+10FFFF, the last code point */
        {"caf\xC3\xA9 \xE2\x82\xAC", 9, 6},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (ttdm_utf8_count(cases[i].s, cases[i].len) != cases[i].count)
            fail_msg("case %zu: counted %ld, expected %ld", i,
                     ttdm_utf8_count(cases[i].s, cases[i].len), cases[i].count);
    }
    assert_int_equal(ttdm_utf8_count(NULL, 0), 0);
}

static void test_utf8_invalid(void **state)
{
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"\x80", 1}, /* lone continuation byte */
        {"\xBF", 1},
        {"\xC0\xAF", 2},                 /* overlong '/' */
        {"\xC1\xBF", 2},                 /* overlong */
        {"\xE0\x80\xAF", 3},             /* overlong 3-byte */
        {"\xE0\x9F\xBF", 3},             /* overlong 3-byte, just below U+0800 */
        {"\xED\xA0\x80", 3},             /* U+D800, high surrogate */
        {"\xED\xBF\xBF", 3},             /* U+DFFF, low surrogate */
        {"\xED\xA0\xBD\xED\xB8\x80", 6}, /* CESU-8 surrogate pair for an emoji */
        {"\xF0\x80\x80\x80", 4},         /* overlong 4-byte */
        {"\xF0\x8F\xBF\xBF", 4},         /* overlong, just below U+10000 */
        {"\xF4\x90\x80\x80", 4},         /* U+110000 */
        {"\xF5\x80\x80\x80", 4},         /* lead byte beyond U+10FFFF */
        {"\xF8\x88\x80\x80\x80", 5},     /* old 5-byte form */
        {"\xFE", 1},
        {"\xFF", 1},
        {"\xC3", 1},         /* truncated 2-byte */
        {"\xE2\x82", 2},     /* truncated 3-byte */
        {"\xF0\x9F\x98", 3}, /* truncated emoji */
        {"ok\xC3", 3},       /* truncated at the end */
        {"\xC3\x28", 2},     /* bad continuation */
        {"\xE2\x28\xA1", 3},
        {"\xE2\x82\x28", 3},
        {"\xF0\x9F\x98\x80\x80", 5}, /* emoji + stray continuation */
        {"a\xF0\x9F\x98\x62", 5},    /* truncated sequence in the middle, then 'b' */
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (ttdm_utf8_count(cases[i].s, cases[i].len) != -1)
            fail_msg("case %zu should be invalid", i);
        assert_int_equal(check_text(cases[i].s, cases[i].len), TTDM_ERR_INVALID_UTF8);
    }
    /* NULL with a length is not a string. */
    assert_int_equal(ttdm_utf8_count(NULL, 3), -1);
}

static void test_text_empty(void **state)
{
    static const char *const blank[] = {
        "",
        " ",
        "   ",
        "\t\n\r \v\f",
        "\xC2\xA0",                  /* no-break space */
        "\xE3\x80\x80",              /* ideographic space */
        "\xE2\x80\x83 \xE2\x80\xAF", /* em space, narrow no-break space */
        "\xE2\x80\x8B",              /* zero-width space */
        "\xEF\xBB\xBF",              /* byte order mark */
        "\xE2\x80\xA8\xE2\x80\xA9",  /* line and paragraph separators */
    };
    (void)state;

    for (size_t i = 0; i < sizeof(blank) / sizeof(blank[0]); i++) {
        if (check_text(blank[i], strlen(blank[i])) != TTDM_ERR_TEXT_EMPTY)
            fail_msg("case %zu should be empty", i);
    }
    assert_int_equal(check_text(" a ", 3), TTDM_OK);
    assert_int_equal(check_text(".", 1), TTDM_OK);
    assert_int_equal(check_text(emoji, strlen(emoji)), TTDM_OK);
    assert_int_equal(check_text("\xCC\x81", 2), TTDM_OK); /* a lone combining mark is visible */

    /* Whitespace-only is empty even when it is over the length limit. */
    size_t len;
    char *s = repeat(" ", 7000, "", &len);
    assert_int_equal(check_text(s, len), TTDM_ERR_TEXT_EMPTY);
    free(s);
}

/* Minimal file headers. */
static const unsigned char jpeg_head[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10,
                                          'J',  'F',  'I',  'F',  0x00};
static const unsigned char png_head[] = {0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A,
                                         0x00, 0x00, 0x00, 0x0D, 'I',  'H',  'D',  'R'};
static const unsigned char gif_head[] = {'G', 'I', 'F', '8', '9', 'a', 0x01, 0x00, 0x01, 0x00};
static const unsigned char elf_head[] = {0x7F, 'E', 'L', 'F', 0x02, 0x01, 0x01, 0x00};
static const unsigned char webp_head[] = {'R', 'I', 'F', 'F', 0x24, 0, 0, 0, 'W', 'E', 'B', 'P'};
static const unsigned char svg_head[] = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";

static void test_image_sniffing(void **state)
{
    /* A file's name is what an uploader claims; only the bytes count. */
    static const struct {
        const char *filename;
        const unsigned char *data;
        size_t len;
        enum ttdm_image_format format;
    } uploads[] = {
        {"photo.jpg", jpeg_head, sizeof(jpeg_head), TTDM_IMAGE_JPEG},
        {"photo.png", png_head, sizeof(png_head), TTDM_IMAGE_PNG},
        {"screenshot.jpg", png_head, sizeof(png_head), TTDM_IMAGE_PNG},
        {"scan.png", jpeg_head, sizeof(jpeg_head), TTDM_IMAGE_JPEG},
        {"funny.jpg", gif_head, sizeof(gif_head), TTDM_IMAGE_UNKNOWN},
        {"invoice.png", elf_head, sizeof(elf_head), TTDM_IMAGE_UNKNOWN},
        {"photo.webp", webp_head, sizeof(webp_head), TTDM_IMAGE_UNKNOWN},
        {"logo.png", svg_head, sizeof(svg_head) - 1, TTDM_IMAGE_UNKNOWN},
        {"short.jpg", jpeg_head, 2, TTDM_IMAGE_UNKNOWN}, /* FF D8 only */
        {"short.png", png_head, 7, TTDM_IMAGE_UNKNOWN},  /* signature cut short */
        {"magic.jpg", jpeg_head, 3, TTDM_IMAGE_JPEG},    /* the magic alone */
        {"magic.png", png_head, 8, TTDM_IMAGE_PNG},
        {"empty.jpg", jpeg_head, 0, TTDM_IMAGE_UNKNOWN},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(uploads) / sizeof(uploads[0]); i++) {
        enum ttdm_image_format got = ttdm_policy_sniff_image(uploads[i].data, uploads[i].len);
        if (got != uploads[i].format)
            fail_msg("%s sniffed as %d, expected %d", uploads[i].filename, (int)got,
                     (int)uploads[i].format);

        enum ttdm_content_type type = TTDM_CONTENT_NONE;
        enum ttdm_err rc =
            ttdm_policy_check_content(NULL, NULL, 0, uploads[i].data, uploads[i].len, &type);
        if (uploads[i].format == TTDM_IMAGE_UNKNOWN) {
            assert_int_equal(rc, TTDM_ERR_IMAGE_FORMAT);
            assert_int_equal(type, TTDM_CONTENT_NONE);
        } else {
            assert_int_equal(rc, TTDM_OK);
            assert_int_equal(type, TTDM_CONTENT_IMAGE);
        }
    }
    assert_int_equal(ttdm_policy_sniff_image(NULL, 10), TTDM_IMAGE_UNKNOWN);

    assert_string_equal(ttdm_image_format_mime(TTDM_IMAGE_JPEG), "image/jpeg");
    assert_string_equal(ttdm_image_format_mime(TTDM_IMAGE_PNG), "image/png");
    assert_null(ttdm_image_format_mime(TTDM_IMAGE_UNKNOWN));
}

static void test_image_size(void **state)
{
    size_t max = 3 * 1024 * 1024;
    unsigned char *big = calloc(max + 1, 1);
    (void)state;

    assert_non_null(big);
    memcpy(big, jpeg_head, sizeof(jpeg_head));
    assert_int_equal(ttdm_policy_check_content(NULL, NULL, 0, big, max, NULL), TTDM_OK);
    assert_int_equal(ttdm_policy_check_content(NULL, NULL, 0, big, max + 1, NULL),
                     TTDM_ERR_IMAGE_TOO_LARGE);

    /* Size is judged before format, as TikTok would refuse the upload first. */
    memcpy(big, gif_head, sizeof(gif_head));
    assert_int_equal(ttdm_policy_check_content(NULL, NULL, 0, big, max + 1, NULL),
                     TTDM_ERR_IMAGE_TOO_LARGE);
    assert_int_equal(ttdm_policy_check_content(NULL, NULL, 0, big, max, NULL),
                     TTDM_ERR_IMAGE_FORMAT);

    struct ttdm_policy_rules rules;
    ttdm_policy_rules_default(&rules);
    rules.image_max_bytes = 1024;
    memcpy(big, png_head, sizeof(png_head));
    assert_int_equal(ttdm_policy_check_content(&rules, NULL, 0, big, 1024, NULL), TTDM_OK);
    assert_int_equal(ttdm_policy_check_content(&rules, NULL, 0, big, 1025, NULL),
                     TTDM_ERR_IMAGE_TOO_LARGE);
    free(big);
}

static void test_content_kind(void **state)
{
    enum ttdm_content_type type = TTDM_CONTENT_NONE;
    (void)state;

    assert_int_equal(ttdm_policy_check_content(NULL, NULL, 0, NULL, 0, &type),
                     TTDM_ERR_CONTENT_TYPE);
    assert_int_equal(type, TTDM_CONTENT_NONE);
    assert_int_equal(ttdm_policy_check_content(NULL, "hi", 2, jpeg_head, sizeof(jpeg_head), &type),
                     TTDM_ERR_TEXT_WITH_IMAGE);
    /* A caption that is present but empty is still text next to an image. */
    assert_int_equal(ttdm_policy_check_content(NULL, "", 0, jpeg_head, sizeof(jpeg_head), &type),
                     TTDM_ERR_TEXT_WITH_IMAGE);
    /* Both problems at once: the combination is reported, not the broken parts. */
    assert_int_equal(ttdm_policy_check_content(NULL, "\xFF", 1, gif_head, sizeof(gif_head), NULL),
                     TTDM_ERR_TEXT_WITH_IMAGE);
    /* An image pointer with no bytes is an image that is not JPEG or PNG. */
    assert_int_equal(ttdm_policy_check_content(NULL, NULL, 0, jpeg_head, 0, &type),
                     TTDM_ERR_IMAGE_FORMAT);
    assert_int_equal(type, TTDM_CONTENT_NONE);

    assert_int_equal(ttdm_policy_check_content(NULL, "hi", 2, NULL, 0, &type), TTDM_OK);
    assert_int_equal(type, TTDM_CONTENT_TEXT);
    assert_int_equal(ttdm_policy_check_content(NULL, NULL, 0, png_head, sizeof(png_head), &type),
                     TTDM_OK);
    assert_int_equal(type, TTDM_CONTENT_IMAGE);
    /* `type` is optional. */
    assert_int_equal(ttdm_policy_check_content(NULL, "hi", 2, NULL, 0, NULL), TTDM_OK);
}

/* ---------------------------------------------------------------------------------------
 * R6 and R7: who may exchange images.
 */

static void test_image_parties(void **state)
{
    (void)state;

    /* Allowed regions, and unknown ones (TikTok's capabilities endpoint decides). */
    assert_int_equal(ttdm_policy_check_image_parties("SG", "ID", TTDM_ORIGIN_APP), TTDM_OK);
    assert_int_equal(ttdm_policy_check_image_parties("vn", "br", TTDM_ORIGIN_APP), TTDM_OK);
    assert_int_equal(ttdm_policy_check_image_parties(NULL, NULL, TTDM_ORIGIN_APP), TTDM_OK);
    assert_int_equal(ttdm_policy_check_image_parties("", "", TTDM_ORIGIN_UNKNOWN), TTDM_OK);
    assert_int_equal(ttdm_policy_check_image_parties("SG", NULL, TTDM_ORIGIN_UNKNOWN), TTDM_OK);

    /* Either party in an unsupported region; the business is reported first. */
    assert_int_equal(ttdm_policy_check_image_parties("JP", "SG", TTDM_ORIGIN_APP),
                     TTDM_ERR_IMAGE_REGION_BUSINESS);
    assert_int_equal(ttdm_policy_check_image_parties("sg", "de", TTDM_ORIGIN_APP),
                     TTDM_ERR_IMAGE_REGION_CUSTOMER);
    assert_int_equal(ttdm_policy_check_image_parties("BR", "uk", TTDM_ORIGIN_APP),
                     TTDM_ERR_IMAGE_REGION_CUSTOMER);
    assert_int_equal(ttdm_policy_check_image_parties("US", "GB", TTDM_ORIGIN_WEB),
                     TTDM_ERR_IMAGE_REGION_BUSINESS);
    assert_int_equal(ttdm_policy_check_image_parties(NULL, "ph", TTDM_ORIGIN_UNKNOWN),
                     TTDM_ERR_IMAGE_REGION_CUSTOMER);

    /* R7: an account created on the web cannot send images; unknown origin is allowed. */
    assert_int_equal(ttdm_policy_check_image_parties("SG", "ID", TTDM_ORIGIN_WEB),
                     TTDM_ERR_IMAGE_ACCOUNT_ORIGIN);
    assert_int_equal(ttdm_policy_check_image_parties(NULL, NULL, TTDM_ORIGIN_WEB),
                     TTDM_ERR_IMAGE_ACCOUNT_ORIGIN);
    assert_int_equal(ttdm_policy_check_image_parties("SG", "ID", TTDM_ORIGIN_UNKNOWN), TTDM_OK);
}

static void test_account_origin_names(void **state)
{
    (void)state;
    assert_string_equal(ttdm_account_origin_name(TTDM_ORIGIN_UNKNOWN), "unknown");
    assert_string_equal(ttdm_account_origin_name(TTDM_ORIGIN_APP), "app");
    assert_string_equal(ttdm_account_origin_name(TTDM_ORIGIN_WEB), "web");
    assert_string_equal(ttdm_account_origin_name((enum ttdm_account_origin)42), "unknown");

    for (int o = TTDM_ORIGIN_UNKNOWN; o <= TTDM_ORIGIN_WEB; o++) {
        enum ttdm_account_origin origin = (enum ttdm_account_origin)o;
        assert_int_equal(ttdm_account_origin_parse(ttdm_account_origin_name(origin)), origin);
    }
    assert_int_equal(ttdm_account_origin_parse("APP"), TTDM_ORIGIN_APP);
    assert_int_equal(ttdm_account_origin_parse("Web"), TTDM_ORIGIN_WEB);
    assert_int_equal(ttdm_account_origin_parse("mobile"), TTDM_ORIGIN_UNKNOWN);
    assert_int_equal(ttdm_account_origin_parse("app "), TTDM_ORIGIN_UNKNOWN);
    assert_int_equal(ttdm_account_origin_parse(""), TTDM_ORIGIN_UNKNOWN);
    assert_int_equal(ttdm_account_origin_parse(NULL), TTDM_ORIGIN_UNKNOWN);
}

/* The model's names are stored and shown in the API; they must not drift. */
static void test_model_names(void **state)
{
    enum ttdm_msg_status st;
    (void)state;

    assert_string_equal(ttdm_channel_status_name(TTDM_CHANNEL_CONNECTED), "connected");
    assert_string_equal(ttdm_channel_status_name(TTDM_CHANNEL_RECONNECT_REQUIRED),
                        "reconnect_required");
    assert_string_equal(ttdm_direction_name(TTDM_DIR_CUSTOMER), "customer");
    assert_string_equal(ttdm_direction_name(TTDM_DIR_BUSINESS), "business");
    assert_string_equal(ttdm_msg_source_name(TTDM_SOURCE_CUSTOMER), "customer");
    assert_string_equal(ttdm_msg_source_name(TTDM_SOURCE_AGENT), "agent");
    assert_string_equal(ttdm_msg_source_name(TTDM_SOURCE_AUTO), "auto_responder");
    assert_string_equal(ttdm_msg_source_name(TTDM_SOURCE_TIKTOK_APP), "tiktok_app");
    assert_string_equal(ttdm_msg_type_name(TTDM_MSG_TEXT), "text");
    assert_string_equal(ttdm_msg_type_name(TTDM_MSG_IMAGE), "image");
    assert_string_equal(ttdm_msg_type_name(TTDM_MSG_SHARE_POST), "share_post");
    assert_string_equal(ttdm_msg_type_name(TTDM_MSG_UNSUPPORTED), "unsupported");
    assert_string_equal(ttdm_msg_type_name((enum ttdm_msg_type)99), "unknown");

    static const char *const statuses[] = {"received", "queued", "sent", "read", "failed"};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(ttdm_msg_status_name((enum ttdm_msg_status)i), statuses[i]);
        assert_true(ttdm_msg_status_parse(statuses[i], &st));
        assert_int_equal(st, i);
    }
    st = TTDM_STATUS_SENT;
    assert_false(ttdm_msg_status_parse("delivered", &st));
    assert_false(ttdm_msg_status_parse("SENT", &st));
    assert_false(ttdm_msg_status_parse("", &st));
    assert_false(ttdm_msg_status_parse(NULL, &st));
    assert_int_equal(st, TTDM_STATUS_SENT); /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_defaults),
        cmocka_unit_test(test_daily_limit_valid),
        cmocka_unit_test(test_seed_simulation),
        cmocka_unit_test(test_simulation_order_independent),
        cmocka_unit_test(test_late_customer_message),
        cmocka_unit_test(test_every_business_message_counts),
        cmocka_unit_test(test_window_boundary),
        cmocka_unit_test(test_no_customer_message),
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_daily_limit_simple),
        cmocka_unit_test(test_daily_limit_utc_day_boundary),
        cmocka_unit_test(test_daily_limit_day_offset),
        cmocka_unit_test(test_day_numbers),
        cmocka_unit_test(test_budget_extremes),
        cmocka_unit_test(test_text_length_in_code_points),
        cmocka_unit_test(test_utf8_valid_edges),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_text_empty),
        cmocka_unit_test(test_image_sniffing),
        cmocka_unit_test(test_image_size),
        cmocka_unit_test(test_content_kind),
        cmocka_unit_test(test_image_parties),
        cmocka_unit_test(test_account_origin_names),
        cmocka_unit_test(test_model_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
