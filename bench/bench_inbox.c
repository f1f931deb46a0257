/* bench_inbox.c -- fills a database with a large inbox through the store API, for figure 6. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "httpload.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/str.h"

#define HOUR_MS (3600LL * 1000)
/* Conversations list pages of this size are walked to collect real cursors. */
#define WALK_PAGE 200

/*
 * The inbox of a shop that uses TikTok's daily allowance: conversation k starts at
 * span_start + k * spacing and is a ten-minute chat of `per_conv` messages, one a minute.
 * Message m of ten is a business message typed in the TikTok app (it reached ttdm as an
 * im_send_msg echo) when m is 3, 4, 7 or 8, otherwise a customer message. The spacing is
 * chosen so that each channel answers DAILY_CONVERSATIONS conversations a day, R4's default
 * limit, which TikTok enforces on app messages too: the daily sets are as large as they get
 * in practice, and the newest conversations have open windows. The current UTC day gets
 * its full allowance whatever the time, squeezed between midnight and now, so that the
 * figures do not depend on the hour the benchmark runs.
 */
#define DAILY_CONVERSATIONS 100
#define DAY_MS (24 * HOUR_MS)
#define MINUTE_MS (60LL * 1000)

static bool is_business(uint64_t m)
{
    uint64_t p = m % 10;
    return p == 3 || p == 4 || p == 7 || p == 8;
}

struct slot {
    struct bench_event ev;
    struct ttdm_inbound in;
    struct slot *next_free;
    struct filler *f;
};

struct filler {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct slot *free_slots;
    uint64_t submitted, completed, failed;
};

static void on_done(void *ud, enum ttdm_err rc, const struct ttdm_inbound_result *res)
{
    struct slot *sl = ud;
    struct filler *f = sl->f;
    (void)res;
    pthread_mutex_lock(&f->mu);
    f->completed++;
    if (rc)
        f->failed++;
    sl->next_free = f->free_slots;
    f->free_slots = sl;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mu);
}

static uint64_t next_random(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

struct cursor {
    int64_t channel_id;
    int64_t activity;
    int64_t id;
};

static void usage(void)
{
    fprintf(stderr, "usage: bench_inbox --db FILE --business-ids-out FILE --cursors-out FILE\n"
                    "                   [--conversations N (100000)] [--messages N (1000000)]\n"
                    "                   [--channels N (20)] [--cursors N (500)]\n");
}

int main(int argc, char **argv)
{
    static struct filler f;
    const char *db = NULL, *ids_out = NULL, *cursors_out = NULL;
    int64_t conversations = 100000, messages = 1000000, channels = 20, n_cursors = 500, ws = 0;
    int64_t channel_ids[BENCH_MAX_CHANNELS];
    char ids[BENCH_MAX_CHANNELS][BENCH_BUSINESS_ID_MAX];
    struct ttdm_store_options so;
    struct ttdm_policy_rules rules;
    struct ttdm_store *store = NULL;
    struct slot *slots;
    struct cursor *all = NULL;
    size_t n_all = 0, cap_all = 0;
    int64_t t0, t1, start, spacing_ms, per_conv, today_start, today_spacing_ms, n_today;
    uint64_t seed = 0x2545f4914f6cdd1dULL;
    size_t n_slots = 1024;
    char err[256];
    FILE *out;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        int64_t *num = NULL, max = 100000000;
        if (strcmp(k, "--db") == 0)
            db = v;
        else if (strcmp(k, "--business-ids-out") == 0)
            ids_out = v;
        else if (strcmp(k, "--cursors-out") == 0)
            cursors_out = v;
        else if (strcmp(k, "--conversations") == 0)
            num = &conversations;
        else if (strcmp(k, "--messages") == 0)
            num = &messages;
        else if (strcmp(k, "--channels") == 0)
            num = &channels, max = BENCH_MAX_CHANNELS;
        else if (strcmp(k, "--cursors") == 0)
            num = &n_cursors, max = 1000000;
        else {
            usage();
            return 2;
        }
        if (num && ttdm_parse_i64(v, (size_t)-1, 1, max, num)) {
            fprintf(stderr, "bench_inbox: bad value for %s\n", k);
            return 2;
        }
    }
    if (!db || !ids_out || !cursors_out || argc % 2 == 0) {
        usage();
        return 2;
    }
    ttdm_log_set_level("warn");

    /* Not durable and large batches: this only prepares the data. */
    ttdm_policy_rules_default(&rules);
    memset(&so, 0, sizeof(so));
    so.path = db;
    so.rules = &rules;
    so.durable = false;
    so.group_commit_max = 1024;
    if (ttdm_store_open(&so, &store, err, sizeof(err))) {
        fprintf(stderr, "bench_inbox: %s\n", err);
        return 1;
    }
    if (ttdm_store_workspace_create(store, "Default", &ws))
        return 1;
    out = fopen(ids_out, "w");
    if (!out) {
        fprintf(stderr, "bench_inbox: cannot write %s\n", ids_out);
        return 1;
    }
    for (int i = 0; i < channels; i++) {
        struct ttdm_channel ch;
        bool created;
        memset(&ch, 0, sizeof(ch));
        ch.workspace_id = ws;
        snprintf(ids[i], sizeof(ids[i]), "biz-bench-inbox-%02d", i);
        ttdm_strlcpy(ch.business_id, ids[i], sizeof(ch.business_id));
        snprintf(ch.username, sizeof(ch.username), "inbox_shop_%02d", i);
        ttdm_strlcpy(ch.region, "SG", sizeof(ch.region));
        ch.origin = TTDM_ORIGIN_APP;
        ch.status = TTDM_CHANNEL_CONNECTED;
        ch.token_expires_at = bench_now_ms() + 86400000;
        if (ttdm_store_channel_upsert(store, &ch, &channel_ids[i], &created)) {
            fprintf(stderr, "bench_inbox: cannot create channel %d\n", i);
            return 1;
        }
        fprintf(out, "%s\n", ids[i]);
    }
    fclose(out);

    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cond, NULL);
    slots = ttdm_calloc(n_slots, sizeof(*slots));
    for (size_t i = 0; i < n_slots; i++) {
        slots[i].f = &f;
        slots[i].next_free = f.free_slots;
        f.free_slots = &slots[i];
    }
    per_conv = (messages + conversations - 1) / conversations;
    spacing_ms = DAY_MS / (channels * DAILY_CONVERSATIONS);
    today_start = bench_now_ms() / DAY_MS * DAY_MS;
    n_today = channels * DAILY_CONVERSATIONS < conversations ? channels * DAILY_CONVERSATIONS
                                                             : conversations;
    today_spacing_ms = (bench_now_ms() - today_start - per_conv * MINUTE_MS) / n_today;
    if (today_spacing_ms < 1)
        today_spacing_ms = 1;
    t0 = httpload_mono_us();
    for (uint64_t i = 0; i < (uint64_t)messages; i++) {
        uint64_t k = i / (uint64_t)per_conv; /* conversation */
        uint64_t m = i % (uint64_t)per_conv; /* its m-th message */
        struct slot *sl;

        pthread_mutex_lock(&f.mu);
        while (!f.free_slots)
            pthread_cond_wait(&f.cond, &f.mu);
        sl = f.free_slots;
        f.free_slots = sl->next_free;
        f.submitted++;
        pthread_mutex_unlock(&f.mu);

        /* Conversation k is event k of a run over `conversations`, so its ids are fixed;
         * the message id is made distinct per message. */
        if ((int64_t)k < conversations - n_today)
            start = today_start - (conversations - n_today - (int64_t)k) * spacing_ms;
        else
            start = today_start + ((int64_t)k - (conversations - n_today)) * today_spacing_ms;
        bench_event_make(k, (uint32_t)conversations, (int)channels, start + (int64_t)m * MINUTE_MS,
                         &sl->ev);
        snprintf(sl->ev.message_id, sizeof(sl->ev.message_id), "%llu",
                 7200000000000000000ULL + (unsigned long long)i);
        bench_event_inbound(&sl->ev, channel_ids[sl->ev.channel], bench_now_ms(), &sl->in);
        if (is_business(m)) {
            sl->in.direction = TTDM_DIR_BUSINESS;
            sl->in.source = TTDM_SOURCE_TIKTOK_APP;
        }
        if (ttdm_store_record_inbound_async(store, &sl->in, on_done, sl) != TTDM_OK) {
            fprintf(stderr, "bench_inbox: the store refused message %llu\n", (unsigned long long)i);
            return 1;
        }
        if (i % 100000 == 99999)
            fprintf(stderr, "bench_inbox: %llu messages queued, %.0f s\n",
                    (unsigned long long)i + 1, (double)(httpload_mono_us() - t0) / 1e6);
    }
    pthread_mutex_lock(&f.mu);
    while (f.completed < f.submitted)
        pthread_cond_wait(&f.cond, &f.mu);
    pthread_mutex_unlock(&f.mu);
    t1 = httpload_mono_us();
    fprintf(stderr, "bench_inbox: %llu messages (%llu failed) in %.1f s\n",
            (unsigned long long)f.completed, (unsigned long long)f.failed, (double)(t1 - t0) / 1e6);
    if (f.failed)
        return 1;

    /* Real cursors: every (last_activity_at, id) of every channel's list, newest first. */
    for (int c = 0; c < channels; c++) {
        int64_t before_activity = 0, before_id = 0;
        for (;;) {
            struct ttdm_conversation_view *rows = NULL;
            size_t n = 0;
            if (ttdm_store_conversation_list(store, ws, channel_ids[c], before_activity, before_id,
                                             WALK_PAGE, bench_now_ms(), &rows, NULL, &n)) {
                fprintf(stderr, "bench_inbox: cannot list conversations\n");
                return 1;
            }
            for (size_t j = 0; j < n; j++) {
                if (n_all == cap_all) {
                    cap_all = cap_all ? cap_all * 2 : 65536;
                    all = ttdm_realloc(all, cap_all * sizeof(*all));
                }
                all[n_all].channel_id = channel_ids[c];
                all[n_all].activity = rows[j].last_activity_at;
                all[n_all].id = rows[j].id;
                n_all++;
            }
            if (n > 0) {
                before_activity = rows[n - 1].last_activity_at;
                before_id = rows[n - 1].id;
            }
            ttdm_free(rows);
            if (n < WALK_PAGE)
                break;
        }
    }
    ttdm_store_close(store);
    fprintf(stderr, "bench_inbox: %zu conversations listed\n", n_all);
    if (n_all == 0)
        return 1;

    /* One page in ten is a first page, the rest start at a random conversation. */
    out = fopen(cursors_out, "w");
    if (!out) {
        fprintf(stderr, "bench_inbox: cannot write %s\n", cursors_out);
        return 1;
    }
    for (int64_t i = 0; i < n_cursors; i++) {
        const struct cursor *c = &all[next_random(&seed) % n_all];
        if (i % 10 == 0)
            fprintf(out, "%lld -\n", (long long)channel_ids[(size_t)(i / 10) % (size_t)channels]);
        else
            fprintf(out, "%lld %lld.%lld\n", (long long)c->channel_id, (long long)c->activity,
                    (long long)c->id);
    }
    fclose(out);
    ttdm_free(all);
    ttdm_free(slots);
    printf("inbox_fill_s %.1f s\n", (double)(t1 - t0) / 1e6);
    return 0;
}
