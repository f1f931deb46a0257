/* test_store_concurrency.c -- the store under concurrent callers: R3 stays exact, every event
 * is stored exactly once, and group commit really batches. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"
#include "util/alloc.h"

#define HOUR_MS INT64_C(3600000)
#define T0 INT64_C(1735689600000) /* 2025-01-01T00:00:00Z */

struct fixture {
    char dir[64];
    char path[128];
    struct ttdm_policy_rules rules;
    struct ttdm_store *s;
    int64_t ws;
    int64_t channel;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct ttdm_store_options opt;
    struct ttdm_channel ch;
    bool created = false;
    char err[256] = "";

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ttdm-store-conc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/ttdm.db", f->dir);
    ttdm_policy_rules_default(&f->rules);
    opt = (struct ttdm_store_options){
        .path = f->path, .rules = &f->rules, .durable = true, .group_commit_max = 64};
    if (ttdm_store_open(&opt, &f->s, err, sizeof(err)) != TTDM_OK)
        fail_msg("open failed: %s", err);
    assert_int_equal(ttdm_store_workspace_create(f->s, "acme", &f->ws), TTDM_OK);
    memset(&ch, 0, sizeof(ch));
    ch.workspace_id = f->ws;
    snprintf(ch.business_id, sizeof(ch.business_id), "biz");
    assert_int_equal(ttdm_store_channel_upsert(f->s, &ch, &f->channel, &created), TTDM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm"};
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

static enum ttdm_err record(struct fixture *f, const char *conv, const char *msg,
                            enum ttdm_direction dir, int64_t ts, struct ttdm_inbound_result *res)
{
    struct ttdm_inbound ev;
    static const char text[] = "Hi, is this still available? I would like two of them.";

    memset(&ev, 0, sizeof(ev));
    ev.channel_id = f->channel;
    snprintf(ev.tiktok_conversation_id, sizeof(ev.tiktok_conversation_id), "%s", conv);
    snprintf(ev.tiktok_message_id, sizeof(ev.tiktok_message_id), "%s", msg);
    snprintf(ev.customer_user_id, sizeof(ev.customer_user_id), "u-%s", conv);
    ev.direction = dir;
    ev.source = dir == TTDM_DIR_CUSTOMER ? TTDM_SOURCE_CUSTOMER : TTDM_SOURCE_TIKTOK_APP;
    ev.type = TTDM_MSG_TEXT;
    ev.text = text;
    ev.text_len = strlen(text);
    ev.timestamp_ms = ts;
    ev.received_at = ts;
    return ttdm_store_record_inbound(f->s, &ev, res);
}

/* ---- 100 concurrent sends into one conversation ------------------------------------------- */

#define SENDERS 100

struct send_ctx {
    struct fixture *f;
    pthread_barrier_t *start;
    int64_t conv;
    int index;
    enum ttdm_err rc;
};

static void *sender_main(void *arg)
{
    struct send_ctx *ctx = arg;
    struct ttdm_send_request req;
    struct ttdm_message m;
    char text[32];

    snprintf(text, sizeof(text), "reply %d", ctx->index);
    memset(&req, 0, sizeof(req));
    req.workspace_id = ctx->f->ws;
    req.conversation_id = ctx->conv;
    req.source = TTDM_SOURCE_AGENT;
    req.type = TTDM_MSG_TEXT;
    req.text = text;
    req.text_len = strlen(text);
    req.now_ms = T0 + 2 * HOUR_MS + ctx->index;
    pthread_barrier_wait(ctx->start);
    ctx->rc = ttdm_store_reserve_send(ctx->f->s, &req, &m, NULL);
    ttdm_message_cleanup(&m);
    return NULL;
}

static void test_hundred_senders_one_conversation(void **state)
{
    struct fixture *f = *state;
    struct send_ctx ctx[SENDERS];
    pthread_t threads[SENDERS];
    pthread_barrier_t start;
    struct ttdm_inbound_result res;
    struct ttdm_conversation_view v;
    struct ttdm_reply_budget b;
    struct ttdm_message *msgs = NULL;
    size_t n = 0;
    int ok = 0, used_up = 0;

    assert_int_equal(record(f, "hot", "cm-1", TTDM_DIR_CUSTOMER, T0 + HOUR_MS, &res), TTDM_OK);
    pthread_barrier_init(&start, NULL, SENDERS);
    for (int i = 0; i < SENDERS; i++) {
        ctx[i] = (struct send_ctx){f, &start, res.conversation_id, i, TTDM_ERR_INTERNAL};
        assert_int_equal(pthread_create(&threads[i], NULL, sender_main, &ctx[i]), 0);
    }
    for (int i = 0; i < SENDERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);

    for (int i = 0; i < SENDERS; i++) {
        if (ctx[i].rc == TTDM_OK)
            ok++;
        else if (ctx[i].rc == TTDM_ERR_REPLY_QUOTA_USED_UP)
            used_up++;
        else
            fail_msg("sender %d: unexpected %s", i, ttdm_err_code(ctx[i].rc));
    }
    assert_int_equal(ok, 10);
    assert_int_equal(used_up, 90);

    assert_int_equal(
        ttdm_store_conversation_get(f->s, f->ws, res.conversation_id, T0 + 3 * HOUR_MS, &v, &b),
        TTDM_OK);
    assert_int_equal(v.state.replies_used, 10);
    assert_int_equal(b.replies_left, 0);
    assert_int_equal(ttdm_store_message_list(f->s, f->ws, res.conversation_id, 0, 1000, &msgs, &n),
                     TTDM_OK);
    assert_int_equal(n, 11); /* the customer message and ten replies, nothing refused */
    ttdm_messages_free(msgs, n);
}

/* ---- Many writers of distinct inbound events ---------------------------------------------- */

#define WRITERS 16
#define EVENTS_PER_WRITER 300
#define SHARED_EVENTS 50 /* delivered by every writer: stored once */

struct inbound_ctx {
    struct fixture *f;
    pthread_barrier_t *start;
    int index;
    int errors;
    int stored;
    int duplicates;
};

static void *writer_main(void *arg)
{
    struct inbound_ctx *ctx = arg;
    struct ttdm_inbound_result res;
    char conv[32], msg[48];

    snprintf(conv, sizeof(conv), "w-%d", ctx->index);
    pthread_barrier_wait(ctx->start);
    for (int i = 0; i < EVENTS_PER_WRITER; i++) {
        snprintf(msg, sizeof(msg), "w-%d-%d", ctx->index, i);
        if (record(ctx->f, conv, msg, i % 5 == 4 ? TTDM_DIR_BUSINESS : TTDM_DIR_CUSTOMER,
                   T0 + HOUR_MS + i * 1000, &res) != TTDM_OK) {
            ctx->errors++;
            continue;
        }
        ctx->stored += !res.duplicate;
        if (i < SHARED_EVENTS) {
            snprintf(msg, sizeof(msg), "shared-%d", i);
            if (record(ctx->f, "shared", msg, TTDM_DIR_CUSTOMER, T0 + HOUR_MS + i, &res) != TTDM_OK)
                ctx->errors++;
            else
                ctx->duplicates += res.duplicate;
        }
    }
    return NULL;
}

/* Reads run on their own connections while the writer commits. */
struct reader_ctx {
    struct fixture *f;
    atomic_int *stop;
    int errors;
    int reads;
};

static void *reader_main(void *arg)
{
    struct reader_ctx *ctx = arg;

    while (!atomic_load(ctx->stop)) {
        struct ttdm_conversation_view *page = NULL;
        struct ttdm_reply_budget *buds = NULL;
        size_t n = 0;

        if (ttdm_store_conversation_list(ctx->f->s, ctx->f->ws, 0, 0, 0, 20, T0 + 2 * HOUR_MS,
                                         &page, &buds, &n) != TTDM_OK)
            ctx->errors++;
        ttdm_free(page);
        ttdm_free(buds);
        ctx->reads++;
    }
    return NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_concurrent_inbound_group_commit(void **state)
{
    struct fixture *f = *state;
    struct inbound_ctx ctx[WRITERS];
    struct reader_ctx rctx;
    pthread_t threads[WRITERS], reader;
    pthread_barrier_t start;
    struct ttdm_store_stats stats;
    atomic_int stop = 0;
    int stored = 0, duplicates = 0;
    int64_t t_start, elapsed;
    char conv[32];

    rctx = (struct reader_ctx){f, &stop, 0, 0};
    pthread_barrier_init(&start, NULL, WRITERS);
    assert_int_equal(pthread_create(&reader, NULL, reader_main, &rctx), 0);
    t_start = mono_ms();
    for (int i = 0; i < WRITERS; i++) {
        ctx[i] = (struct inbound_ctx){f, &start, i, 0, 0, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &ctx[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(ctx[i].errors, 0);
        stored += ctx[i].stored;
        duplicates += ctx[i].duplicates;
    }
    elapsed = mono_ms() - t_start;
    atomic_store(&stop, 1);
    pthread_join(reader, NULL);
    pthread_barrier_destroy(&start);
    assert_int_equal(rctx.errors, 0);

    assert_int_equal(stored, WRITERS * EVENTS_PER_WRITER);
    assert_int_equal(duplicates, (WRITERS - 1) * SHARED_EVENTS);

    /* Count what is really stored, conversation by conversation. */
    for (int i = 0; i <= WRITERS; i++) {
        struct ttdm_conversation_view *page = NULL;
        struct ttdm_message *msgs = NULL;
        size_t n = 0, want = i < WRITERS ? EVENTS_PER_WRITER : SHARED_EVENTS;
        int64_t conv_id = 0;

        if (i < WRITERS)
            snprintf(conv, sizeof(conv), "w-%d", i);
        else
            snprintf(conv, sizeof(conv), "shared");
        assert_int_equal(ttdm_store_conversation_list(f->s, f->ws, f->channel, 0, 0, 100,
                                                      T0 + 2 * HOUR_MS, &page, NULL, &n),
                         TTDM_OK);
        assert_int_equal(n, WRITERS + 1);
        for (size_t k = 0; k < n; k++) {
            if (strcmp(page[k].tiktok_conversation_id, conv) == 0)
                conv_id = page[k].id;
        }
        ttdm_free(page);
        assert_true(conv_id > 0);
        assert_int_equal(ttdm_store_message_list(f->s, f->ws, conv_id, 0, 1000, &msgs, &n),
                         TTDM_OK);
        assert_int_equal(n, want);
        ttdm_messages_free(msgs, n);
    }

    ttdm_store_stats(f->s, &stats);
    print_message("%d events from %d threads in %lld ms (%.0f/s); %llu writes in %llu commits, "
                  "largest batch %llu; %d concurrent reads\n",
                  WRITERS * (EVENTS_PER_WRITER + SHARED_EVENTS), WRITERS, (long long)elapsed,
                  elapsed > 0 ? WRITERS * (EVENTS_PER_WRITER + SHARED_EVENTS) * 1000.0 / elapsed
                              : 0.0,
                  (unsigned long long)stats.writes, (unsigned long long)stats.commits,
                  (unsigned long long)stats.largest_batch, rctx.reads);
    assert_true(stats.largest_batch > 1);
    assert_true(stats.writes > stats.commits);
    assert_true(stats.largest_batch <= 64);
}

/* One failing operation in a batch never undoes the others sharing its commit. */
static void test_failure_isolated_in_batch(void **state)
{
    struct fixture *f = *state;
    struct ttdm_inbound_result res = {0};
    struct inbound_ctx ctx[WRITERS];
    pthread_t threads[WRITERS];
    pthread_barrier_t start;
    int stored = 0;

    /* Interleave failing operations (unknown conversation for a send) with writes. */
    pthread_barrier_init(&start, NULL, WRITERS);
    for (int i = 0; i < WRITERS; i++) {
        ctx[i] = (struct inbound_ctx){f, &start, i, 0, 0, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &ctx[i]), 0);
    }
    for (int k = 0; k < 200; k++) {
        struct ttdm_send_request req;
        struct ttdm_message m;
        memset(&req, 0, sizeof(req));
        req.workspace_id = f->ws;
        req.conversation_id = 1000000 + k;
        req.type = TTDM_MSG_TEXT;
        req.text = "x";
        req.text_len = 1;
        req.now_ms = T0;
        assert_int_equal(ttdm_store_reserve_send(f->s, &req, &m, NULL), TTDM_ERR_NOT_FOUND);
        /* A refused send into an existing conversation rolls back only itself. */
        if (k == 0)
            assert_int_equal(record(f, "lonely", "lonely-echo", TTDM_DIR_BUSINESS, T0, &res),
                             TTDM_OK);
        req.conversation_id = res.conversation_id;
        assert_int_equal(ttdm_store_reserve_send(f->s, &req, &m, NULL),
                         TTDM_ERR_NO_CUSTOMER_MESSAGE);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(ctx[i].errors, 0);
        stored += ctx[i].stored;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(stored, WRITERS * EVENTS_PER_WRITER);
    {
        struct ttdm_message *msgs = NULL;
        size_t n = 0;
        assert_int_equal(
            ttdm_store_message_list(f->s, f->ws, res.conversation_id, 0, 1000, &msgs, &n), TTDM_OK);
        assert_int_equal(n, 1);
        ttdm_messages_free(msgs, n);
    }
}

/* ---- Asynchronous inbound: one thread, no blocking, big batches --------------------------- */

#define ASYNC_EVENTS 3000

struct async_state {
    atomic_int done;
    atomic_int failed;
    atomic_int duplicates;
    sem_t all_done;
};

static void on_done(void *ud, enum ttdm_err rc, const struct ttdm_inbound_result *res)
{
    struct async_state *st = ud;

    if (rc != TTDM_OK || res == NULL || res->message_id <= 0)
        atomic_fetch_add(&st->failed, 1);
    else if (res->duplicate)
        atomic_fetch_add(&st->duplicates, 1);
    if (atomic_fetch_add(&st->done, 1) + 1 == ASYNC_EVENTS + 1)
        sem_post(&st->all_done);
}

static void test_async_inbound(void **state)
{
    struct fixture *f = *state;
    struct ttdm_inbound *evs = calloc(ASYNC_EVENTS + 1, sizeof(*evs));
    struct async_state st;
    struct ttdm_store_stats stats;
    struct ttdm_conversation_view *page = NULL;
    struct ttdm_message *msgs = NULL;
    size_t n = 0;
    int64_t t_start, elapsed;

    assert_non_null(evs);
    atomic_init(&st.done, 0);
    atomic_init(&st.failed, 0);
    atomic_init(&st.duplicates, 0);
    sem_init(&st.all_done, 0, 0);
    t_start = mono_ms();
    for (int i = 0; i <= ASYNC_EVENTS; i++) {
        struct ttdm_inbound *ev = &evs[i];
        /* The last one repeats the first: stored once. */
        int k = i < ASYNC_EVENTS ? i : 0;
        ev->channel_id = f->channel;
        snprintf(ev->tiktok_conversation_id, sizeof(ev->tiktok_conversation_id), "async");
        snprintf(ev->tiktok_message_id, sizeof(ev->tiktok_message_id), "a-%d", k);
        snprintf(ev->customer_user_id, sizeof(ev->customer_user_id), "u-async");
        ev->direction = TTDM_DIR_CUSTOMER;
        ev->type = TTDM_MSG_TEXT;
        ev->text = "hello";
        ev->text_len = 5;
        ev->timestamp_ms = T0 + k;
        ev->received_at = T0 + k;
        assert_int_equal(ttdm_store_record_inbound_async(f->s, ev, on_done, &st), TTDM_OK);
    }
    {
        struct ttdm_inbound bad;
        memset(&bad, 0, sizeof(bad));
        assert_int_equal(ttdm_store_record_inbound_async(f->s, &bad, on_done, &st),
                         TTDM_ERR_BAD_REQUEST);
    }
    while (sem_wait(&st.all_done) != 0)
        ;
    elapsed = mono_ms() - t_start;
    sem_destroy(&st.all_done);
    assert_int_equal(atomic_load(&st.failed), 0);
    assert_int_equal(atomic_load(&st.duplicates), 1);

    assert_int_equal(ttdm_store_conversation_list(f->s, f->ws, f->channel, 0, 0, 10, T0 + HOUR_MS,
                                                  &page, NULL, &n),
                     TTDM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ttdm_store_message_list(f->s, f->ws, page[0].id, 0, 1000, &msgs, &n), TTDM_OK);
    assert_int_equal(n, 1000); /* one full page */
    ttdm_messages_free(msgs, n);
    assert_int_equal(page[0].unread_count, ASYNC_EVENTS);
    ttdm_free(page);

    ttdm_store_stats(f->s, &stats);
    print_message("%d async events from one thread in %lld ms; %llu writes in %llu commits, "
                  "largest batch %llu\n",
                  ASYNC_EVENTS + 1, (long long)elapsed, (unsigned long long)stats.writes,
                  (unsigned long long)stats.commits, (unsigned long long)stats.largest_batch);
    assert_true(stats.largest_batch > 1);
    free(evs);
}

/* A failing operation in a batch of asynchronous ones: the batch runs again the careful
 * way, so the others are stored exactly once and only it fails. */
#define MIXED_EVENTS 600

struct mixed_state {
    atomic_int done, ok, failed, duplicates;
    sem_t all_done;
};

static void on_mixed_done(void *ud, enum ttdm_err rc, const struct ttdm_inbound_result *res)
{
    struct mixed_state *st = ud;

    if (rc != TTDM_OK)
        atomic_fetch_add(&st->failed, 1);
    else if (res->duplicate)
        atomic_fetch_add(&st->duplicates, 1);
    else
        atomic_fetch_add(&st->ok, 1);
    if (atomic_fetch_add(&st->done, 1) + 1 == MIXED_EVENTS)
        sem_post(&st->all_done);
}

static void test_async_batch_with_a_failure(void **state)
{
    struct fixture *f = *state;
    struct ttdm_inbound *evs = calloc(MIXED_EVENTS, sizeof(*evs));
    struct mixed_state st;
    struct ttdm_conversation_view *page = NULL;
    size_t n = 0;
    int bad = 0;

    assert_non_null(evs);
    atomic_init(&st.done, 0);
    atomic_init(&st.ok, 0);
    atomic_init(&st.failed, 0);
    atomic_init(&st.duplicates, 0);
    sem_init(&st.all_done, 0, 0);
    for (int i = 0; i < MIXED_EVENTS; i++) {
        struct ttdm_inbound *ev = &evs[i];
        /* Every 50th names a channel that does not exist: its insert fails. */
        bool fails = i % 50 == 7;
        bad += fails;
        ev->channel_id = fails ? f->channel + 1000 : f->channel;
        snprintf(ev->tiktok_conversation_id, sizeof(ev->tiktok_conversation_id), "mixed-%d", i % 5);
        snprintf(ev->tiktok_message_id, sizeof(ev->tiktok_message_id), "m-%d", i);
        snprintf(ev->customer_user_id, sizeof(ev->customer_user_id), "u-mixed-%d", i % 5);
        ev->direction = TTDM_DIR_CUSTOMER;
        ev->type = TTDM_MSG_TEXT;
        ev->text = "hi";
        ev->text_len = 2;
        ev->timestamp_ms = T0 + i;
        ev->received_at = T0 + i;
        assert_int_equal(ttdm_store_record_inbound_async(f->s, ev, on_mixed_done, &st), TTDM_OK);
    }
    while (sem_wait(&st.all_done) != 0)
        ;
    sem_destroy(&st.all_done);
    assert_int_equal(atomic_load(&st.failed), bad);
    assert_int_equal(atomic_load(&st.duplicates), 0);
    assert_int_equal(atomic_load(&st.ok), MIXED_EVENTS - bad);

    /* Each stored once: five conversations whose unread counts add up to the stored ones. */
    assert_int_equal(ttdm_store_conversation_list(f->s, f->ws, f->channel, 0, 0, 10, T0 + HOUR_MS,
                                                  &page, NULL, &n),
                     TTDM_OK);
    assert_int_equal(n, 5);
    {
        int unread = 0;
        for (size_t i = 0; i < n; i++)
            unread += page[i].unread_count;
        assert_int_equal(unread, MIXED_EVENTS - bad);
    }
    ttdm_free(page);
    free(evs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hundred_senders_one_conversation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_inbound_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_batch_with_a_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_isolated_in_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_inbound, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
