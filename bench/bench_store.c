/* bench_store.c -- storage ceiling: the webhook rows stored through the store API, no HTTP. */
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

/*
 * The server keeps at most one webhook per connection in flight, so a load of 64
 * connections has at most 64 events waiting for the writer. The same bound here: 64 slots,
 * each holding one event until its commit is durable.
 */
struct bench;

struct slot {
    struct bench *b;
    struct bench_event ev;
    struct ttdm_inbound in;
    int64_t submitted_us;
    struct slot *next_free;
};

struct bench {
    struct ttdm_store *store;
    int64_t channel_ids[BENCH_MAX_CHANNELS];
    int n_channels;
    uint32_t n_conversations;
    uint64_t n_events;
    int64_t ts_base_ms;
    int64_t deadline_us;
    uint64_t next_seq;  /* under mu */
    uint64_t slice_end; /* the submitters stop at this sequence number */

    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct slot *free_slots;
    uint64_t submitted, completed, failed;
    int64_t first_submit_us, last_done_us; /* of the current slice */
    struct httpload_hist hist; /* touched by the writer thread only, read after the run */
};

/* Runs on the store's writer thread once the event is durable. */
static void on_done(void *ud, enum ttdm_err rc, const struct ttdm_inbound_result *res)
{
    struct slot *sl = ud;
    struct bench *b = sl->b;
    int64_t now = httpload_mono_us();
    (void)res;
    httpload_hist_add(&b->hist, now - sl->submitted_us);
    pthread_mutex_lock(&b->mu);
    b->completed++;
    if (rc)
        b->failed++;
    b->last_done_us = now;
    sl->next_free = b->free_slots;
    b->free_slots = sl;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

static void *submitter(void *arg)
{
    struct bench *b = arg;
    for (;;) {
        uint64_t seq;
        struct slot *sl;
        int64_t now;

        if (httpload_mono_us() >= b->deadline_us)
            break;
        pthread_mutex_lock(&b->mu);
        if (b->next_seq >= b->slice_end) {
            pthread_mutex_unlock(&b->mu);
            break;
        }
        seq = b->next_seq++;
        while (!b->free_slots)
            pthread_cond_wait(&b->cond, &b->mu);
        sl = b->free_slots;
        b->free_slots = sl->next_free;
        pthread_mutex_unlock(&b->mu);

        bench_event_make(seq, b->n_conversations, b->n_channels,
                         b->ts_base_ms + (int64_t)(seq / 10), &sl->ev);
        bench_event_inbound(&sl->ev, b->channel_ids[sl->ev.channel], bench_now_ms(), &sl->in);
        now = httpload_mono_us();
        sl->submitted_us = now;
        pthread_mutex_lock(&b->mu);
        if (b->first_submit_us == 0)
            b->first_submit_us = now;
        b->submitted++;
        pthread_mutex_unlock(&b->mu);
        if (ttdm_store_record_inbound_async(b->store, &sl->in, on_done, sl) != TTDM_OK) {
            fprintf(stderr, "bench_store: the store refused event %llu\n", (unsigned long long)seq);
            pthread_mutex_lock(&b->mu);
            b->submitted--;
            sl->next_free = b->free_slots;
            b->free_slots = sl;
            pthread_mutex_unlock(&b->mu);
            break;
        }
    }
    return NULL;
}

/* Bytes this process asked the kernel to write so far (/proc/self/io "wchar"), or -1. */
static int64_t written_bytes(void)
{
    char line[128];
    int64_t v = -1;
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "wchar: ", 7) == 0) {
            line[strcspn(line, "\n")] = '\0';
            if (ttdm_parse_i64(line + 7, (size_t)-1, 0, INT64_MAX, &v))
                v = -1;
        }
    }
    fclose(f);
    return v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_store --db FILE [--events N (150000)] [--duration S (60)]\n"
            "                   [--inflight N (64)] [--threads N (2)] [--conversations N (10000)]\n"
            "                   [--business-ids FILE | --channels N (20)] [--group-commit-max N "
            "(64)]\n"
            "                   [--durable 0|1 (1)] [--name PREFIX (storage_ceiling)]\n"
            "                   [--slices K --go FIFO --done FIFO] (K equal slices, each\n"
            "                   started by a line on --go and followed by one on --done)\n");
}

int main(int argc, char **argv)
{
    static struct bench b;
    char ids[BENCH_MAX_CHANNELS][BENCH_BUSINESS_ID_MAX];
    const char *db = NULL, *ids_file = NULL, *name = "storage_ceiling", *go = NULL, *done = NULL;
    struct httpload_gate gate = {0};
    int64_t slices = 1, measured_us = 0;
    int64_t events = 150000, inflight = 64, threads = 2, conversations = 10000, channels = 20;
    int64_t gc_max = 64, durable = 1, duration = 60, ws = 0;
    struct ttdm_store_options so;
    struct ttdm_policy_rules rules;
    struct ttdm_store_stats stats;
    struct slot *slots;
    pthread_t th[16];
    char err[256];
    double elapsed;
    int64_t written0;

    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t *num = NULL, min = 1, max = INT32_MAX;
        if (!v) {
            usage();
            return 2;
        }
        if (strcmp(k, "--db") == 0)
            db = v;
        else if (strcmp(k, "--business-ids") == 0)
            ids_file = v;
        else if (strcmp(k, "--name") == 0)
            name = v;
        else if (strcmp(k, "--go") == 0)
            go = v;
        else if (strcmp(k, "--done") == 0)
            done = v;
        else if (strcmp(k, "--slices") == 0)
            max = 1000, num = &slices;
        else if (strcmp(k, "--events") == 0)
            num = &events;
        else if (strcmp(k, "--duration") == 0)
            num = &duration;
        else if (strcmp(k, "--inflight") == 0)
            num = &inflight;
        else if (strcmp(k, "--threads") == 0)
            max = 16, num = &threads;
        else if (strcmp(k, "--conversations") == 0)
            max = 1000000, num = &conversations;
        else if (strcmp(k, "--channels") == 0)
            max = BENCH_MAX_CHANNELS, num = &channels;
        else if (strcmp(k, "--group-commit-max") == 0)
            max = 1024, num = &gc_max;
        else if (strcmp(k, "--durable") == 0)
            min = 0, max = 1, num = &durable;
        else {
            usage();
            return 2;
        }
        if (num && ttdm_parse_i64(v, (size_t)-1, min, max, num)) {
            fprintf(stderr, "bench_store: bad value for %s\n", k);
            return 2;
        }
        i++;
    }
    if (!db || (slices > 1 && (!go || !done || slices > events))) {
        usage();
        return 2;
    }
    if (ids_file) {
        channels = bench_read_business_ids(ids_file, ids, BENCH_MAX_CHANNELS);
        if (!channels)
            return 1;
    } else {
        for (int i = 0; i < channels; i++)
            snprintf(ids[i], sizeof(ids[i]), "biz-bench-store-%02d", i);
    }
    ttdm_log_set_level("warn");

    ttdm_policy_rules_default(&rules);
    memset(&so, 0, sizeof(so));
    so.path = db;
    so.rules = &rules;
    so.durable = durable != 0;
    so.group_commit_max = (int)gc_max;
    if (ttdm_store_open(&so, &b.store, err, sizeof(err))) {
        fprintf(stderr, "bench_store: %s\n", err);
        return 1;
    }
    if (ttdm_store_workspace_create(b.store, "Bench", &ws))
        return 1;
    for (int i = 0; i < channels; i++) {
        struct ttdm_channel ch;
        bool created;
        memset(&ch, 0, sizeof(ch));
        ch.workspace_id = ws;
        ttdm_strlcpy(ch.business_id, ids[i], sizeof(ch.business_id));
        snprintf(ch.username, sizeof(ch.username), "bench_shop_%02d", i);
        ttdm_strlcpy(ch.region, "SG", sizeof(ch.region));
        ch.origin = TTDM_ORIGIN_APP;
        ch.status = TTDM_CHANNEL_CONNECTED;
        ch.token_expires_at = bench_now_ms() + 86400000;
        if (ttdm_store_channel_upsert(b.store, &ch, &b.channel_ids[i], &created)) {
            fprintf(stderr, "bench_store: cannot create channel %d\n", i);
            return 1;
        }
    }

    b.n_channels = (int)channels;
    b.n_conversations = (uint32_t)conversations;
    b.n_events = (uint64_t)events;
    /* The same timestamps as loadgen's pre-built webhooks: 10 events per ms, ending now. */
    b.ts_base_ms = bench_now_ms() - events / 10;
    httpload_hist_init(&b.hist);
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cond, NULL);
    slots = ttdm_calloc((size_t)inflight, sizeof(*slots));
    for (int64_t i = 0; i < inflight; i++) {
        slots[i].b = &b;
        slots[i].next_free = b.free_slots;
        b.free_slots = &slots[i];
    }
    if (slices > 1 && httpload_gate_open(&gate, go, done))
        return 1;
    written0 = written_bytes();
    b.deadline_us = httpload_mono_us() + duration * 1000000;
    /* One slice, or K equal ones with pauses between them that are not measured. */
    for (int64_t k = 1; k <= slices; k++) {
        int64_t wait_from = httpload_mono_us();
        if (slices > 1 && !httpload_gate_wait(&gate))
            break;
        b.deadline_us += httpload_mono_us() - wait_from; /* a pause is not part of the run */
        pthread_mutex_lock(&b.mu);
        b.slice_end = (uint64_t)(events * k / slices);
        b.first_submit_us = b.last_done_us = 0;
        pthread_mutex_unlock(&b.mu);
        for (int64_t i = 0; i < threads; i++)
            pthread_create(&th[i], NULL, submitter, &b);
        for (int64_t i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        pthread_mutex_lock(&b.mu);
        while (b.completed < b.submitted)
            pthread_cond_wait(&b.cond, &b.mu);
        if (b.last_done_us > b.first_submit_us && b.first_submit_us)
            measured_us += b.last_done_us - b.first_submit_us;
        pthread_mutex_unlock(&b.mu);
        if (slices > 1)
            httpload_gate_done(&gate, (int)k);
        if (httpload_mono_us() >= b.deadline_us)
            break;
    }
    httpload_gate_close(&gate);
    ttdm_store_stats(b.store, &stats);
    /* Before the close, whose checkpoint copies the WAL into the database file. */
    if (written0 >= 0 && b.completed)
        fprintf(stderr, "bench_store: %.1f KiB written to the WAL per event\n",
                (double)(written_bytes() - written0) / 1024.0 / (double)b.completed);
    ttdm_store_close(b.store);

    elapsed = (double)measured_us / 1e6;
    fprintf(stderr,
            "bench_store: %llu events (%llu failed) in %.2f s, %llu commits, %.1f events per "
            "commit, largest %llu, %lld in flight, %lld submitting threads, durable=%lld\n",
            (unsigned long long)b.completed, (unsigned long long)b.failed, elapsed,
            (unsigned long long)stats.commits,
            stats.commits ? (double)stats.writes / (double)stats.commits : 0.0,
            (unsigned long long)stats.largest_batch, (long long)inflight, (long long)threads,
            (long long)durable);
    printf("%s_eps %.0f events/s\n", name,
           elapsed > 0 ? (double)(b.completed - b.failed) / elapsed : 0.0);
    printf("%s_p50_ms %.2f ms\n", name, httpload_hist_ms(&b.hist, 0.50));
    printf("%s_p99_ms %.2f ms\n", name, httpload_hist_ms(&b.hist, 0.99));
    printf("%s_events_per_commit %.1f events\n", name,
           stats.commits ? (double)stats.writes / (double)stats.commits : 0.0);
    printf("%s_errors %llu events\n", name, (unsigned long long)b.failed);
    ttdm_free(slots);
    return b.failed || b.completed == 0 ? 1 : 0;
}
