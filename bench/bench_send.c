/* bench_send.c -- agent sends through ttdm's API, measured until the simulator has them. */
#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "httpload.h"
#include "util/alloc.h"
#include "util/httpc.h"
#include "util/json.h"
#include "util/str.h"

#define REPLY_PREFIX "Bench reply "
/* How long ttdm may take to mark every accepted message sent once the POSTs are done. */
#define DRAIN_TIMEOUT_MS 120000

/* One conversation known to the simulator (a customer who wrote) and to ttdm. */
struct conv {
    int channel;
    char customer_id[64];
    char tiktok_conversation_id[64];
    int64_t ttdm_id;
};

/* Pre-built requests of one phase. */
struct reqset {
    char *arena;
    size_t used, cap;
    size_t *off, *len;
    uint64_t n, n_cap;
};

struct bench {
    uint16_t sim_port, ttdm_port;
    int64_t sim_pid, ttdm_pid; /* optional: CPU per message of each server */
    const char *api_key;
    const char *trace_path; /* optional: each paced message's due time and latency */
    char business_ids[BENCH_MAX_CHANNELS][BENCH_BUSINESS_ID_MAX];
    int64_t channel_ids[BENCH_MAX_CHANNELS];
    int n_channels;
    struct conv *convs;
    uint64_t n_convs;
    int connections;
    /* per send */
    int *status;
    int64_t *start_wall_us;
    int64_t *accept_us; /* until ttdm's answer to the POST */
    int64_t *sim_ms;
    uint64_t n_sends;
    /* phase counters */
    uint64_t phase_ok, phase_bad;
    uint64_t seq_base; /* soak: numbering of sends continues across cycles */
};

static void reqset_add(struct reqset *rs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reqset_add(struct reqset *rs, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        fprintf(stderr, "bench_send: request too long\n");
        exit(1);
    }
    if (rs->used + (size_t)n > rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 1 << 20;
        rs->arena = ttdm_realloc(rs->arena, rs->cap);
    }
    if (rs->n == rs->n_cap) {
        rs->n_cap = rs->n_cap ? rs->n_cap * 2 : 1024;
        rs->off = ttdm_realloc(rs->off, rs->n_cap * sizeof(size_t));
        rs->len = ttdm_realloc(rs->len, rs->n_cap * sizeof(size_t));
    }
    memcpy(rs->arena + rs->used, buf, (size_t)n);
    rs->off[rs->n] = rs->used;
    rs->len[rs->n] = (size_t)n;
    rs->used += (size_t)n;
    rs->n++;
}

/* A POST with a JSON body to the simulator's control API. */
static void reqset_post(struct reqset *rs, uint16_t port, const char *path, const char *body)
{
    reqset_add(rs,
               "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: application/json\r\n"
               "Content-Length: %zu\r\n\r\n%s",
               path, (unsigned)port, strlen(body), body);
}

static void reqset_free(struct reqset *rs)
{
    ttdm_free(rs->arena);
    ttdm_free(rs->off);
    ttdm_free(rs->len);
    memset(rs, 0, sizeof(*rs));
}

static bool reqset_next(void *ud, uint64_t seq, struct httpload_req *out)
{
    struct reqset *rs = ud;
    if (seq >= rs->n)
        return false;
    out->data = rs->arena + rs->off[seq];
    out->len = rs->len[seq];
    return true;
}

/* Runs one phase; done may be NULL. Returns the number of 2xx answers. */
static uint64_t run_phase(struct bench *b, uint16_t port, struct reqset *rs, int connections,
                          double rate, double max_seconds, httpload_done_fn done, const char *what,
                          struct httpload_result *res_out)
{
    struct httpload_opts o;
    static struct httpload_result r;
    memset(&o, 0, sizeof(o));
    o.port = port;
    o.connections = connections;
    o.max_requests = rs->n;
    o.max_seconds = max_seconds;
    o.rate = rate;
    o.next = reqset_next;
    o.done = done;
    o.ud = rs;
    b->phase_ok = b->phase_bad = 0;
    httpload_run(&o, &r);
    if (r.bad_status || r.failed)
        fprintf(stderr, "bench_send: %s: %llu of %llu answered 2xx; first other: %d %s\n", what,
                (unsigned long long)r.ok, (unsigned long long)rs->n, r.first_bad_status,
                r.first_bad_body);
    if (res_out)
        *res_out = r;
    return r.ok;
}

/* The done callbacks reach the bench through this pointer: one bench per process. */
static struct bench *current;

static void on_customer_created(void *ud, uint64_t seq, int status, const char *body, size_t len,
                                int64_t start_wall_us, int64_t latency_us)
{
    char err[128];
    cJSON *j;
    (void)ud;
    if (status != 200)
        return;
    j = ttdm_json_parse(body, len, err, sizeof(err));
    if (!j)
        return;
    ttdm_json_copy_str(j, "customer_id", current->convs[seq].customer_id,
                       sizeof(current->convs[seq].customer_id));
    ttdm_json_copy_str(j, "conversation_id", current->convs[seq].tiktok_conversation_id,
                       sizeof(current->convs[seq].tiktok_conversation_id));
    cJSON_Delete(j);
}

/* The simulator answers 200 even when ttdm did not take the webhook: check what ttdm said. */
static void on_customer_wrote(void *ud, uint64_t seq, int status, const char *body, size_t len,
                              int64_t start_wall_us, int64_t latency_us)
{
    char err[128];
    int64_t delivered = 0;
    cJSON *j;
    (void)ud;
    if (status == 200 && (j = ttdm_json_parse(body, len, err, sizeof(err))) != NULL) {
        ttdm_json_get_i64(j, "delivery_status", 0, 999, &delivered);
        cJSON_Delete(j);
    }
    if (delivered == 200)
        current->phase_ok++;
    else
        current->phase_bad++;
}

static void on_sent(void *ud, uint64_t seq, int status, const char *body, size_t len,
                    int64_t start_wall_us, int64_t latency_us)
{
    (void)ud;
    if (seq < current->n_sends) {
        current->status[seq] = status;
        current->start_wall_us[seq] = start_wall_us;
        current->accept_us[seq] = latency_us;
    }
}

static void on_sim_messages(void *ud, uint64_t seq, int status, const char *body, size_t len,
                            int64_t start_wall_us, int64_t latency_us)
{
    char err[128];
    const cJSON *m;
    cJSON *j;
    (void)ud;
    if (status != 200 || !(j = ttdm_json_parse(body, len, err, sizeof(err))))
        return;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(j, "messages"))
    {
        const char *text = NULL, *dir = NULL;
        int64_t ts = 0, n;
        size_t digits;
        if (ttdm_json_get_str(m, "direction", 16, &dir) || strcmp(dir, "outbound") != 0 ||
            ttdm_json_get_str(m, "text", 6000, &text) || !ttdm_starts_with(text, REPLY_PREFIX) ||
            ttdm_json_get_i64(m, "timestamp_ms", 0, INT64_MAX, &ts))
            continue;
        text += strlen(REPLY_PREFIX);
        digits = strspn(text, "0123456789");
        if (ttdm_parse_i64(text, digits, 0, INT64_MAX, &n) == 0 &&
            (uint64_t)n >= current->seq_base && (uint64_t)n - current->seq_base < current->n_sends)
            current->sim_ms[(uint64_t)n - current->seq_base] = ts;
    }
    cJSON_Delete(j);
}

/* A blocking GET on ttdm's API; returns the parsed answer or NULL. */
static cJSON *api_get(struct ttdm_httpc *hc, struct bench *b, const char *path)
{
    char url[512], auth[200], err[128];
    const char *headers[] = {auth, NULL};
    struct ttdm_httpc_req req;
    struct ttdm_httpc_resp resp;
    cJSON *j = NULL;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)b->ttdm_port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", b->api_key);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.timeout_ms = 30000;
    req.max_response = 64u * 1024 * 1024;
    if (ttdm_httpc_do(hc, &req, &resp) == 0 && resp.status == 200)
        j = ttdm_json_parse(resp.body.data, resp.body.len, err, sizeof(err));
    else
        fprintf(stderr, "bench_send: GET %s: %ld %s\n", path, resp.status, resp.error);
    ttdm_httpc_resp_cleanup(&resp);
    return j;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Webhooks the simulator still has to deliver (TikTok's echoes of our sends); -1 unknown. */
static int64_t sim_webhooks_pending(struct bench *b)
{
    char url[128], err[128];
    struct ttdm_httpc *hc = ttdm_httpc_new();
    struct ttdm_httpc_req req;
    struct ttdm_httpc_resp resp;
    int64_t pending = -1;
    cJSON *j;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/sim/stats", (unsigned)b->sim_port);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.timeout_ms = 10000;
    if (ttdm_httpc_do(hc, &req, &resp) == 0 && resp.status == 200 &&
        (j = ttdm_json_parse(resp.body.data, resp.body.len, err, sizeof(err))) != NULL) {
        ttdm_json_get_i64(cJSON_GetObjectItemCaseSensitive(j, "webhooks"), "pending", 0, INT64_MAX,
                          &pending);
        cJSON_Delete(j);
    }
    ttdm_httpc_resp_cleanup(&resp);
    ttdm_httpc_free(hc);
    return pending;
}

/*
 * Waits (at most max_s) until the simulator has delivered every webhook it owes ttdm, so
 * that a run is not measured on top of the echoes of the one before.
 */
static void wait_webhooks_delivered(struct bench *b, int max_s)
{
    int64_t start = httpload_mono_us(), pending;
    while ((pending = sim_webhooks_pending(b)) > 0 &&
           httpload_mono_us() - start < (int64_t)max_s * 1000000)
        sleep_ms(100);
    if (pending != 0)
        fprintf(stderr, "bench_send: the simulator still has %lld webhooks to deliver\n",
                (long long)pending);
    else
        fprintf(stderr, "bench_send: every webhook delivered after %.1f s\n",
                (double)(httpload_mono_us() - start) / 1e6);
}

/* Sets up n_convs conversations in which the customer wrote, known to both sides. */
static int setup(struct bench *b, int per_channel)
{
    struct reqset rs;
    struct ttdm_httpc *hc = ttdm_httpc_new();
    cJSON *j;
    const cJSON *row;

    b->n_convs = (uint64_t)b->n_channels * (uint64_t)per_channel;
    b->convs = ttdm_calloc(b->n_convs, sizeof(*b->convs));

    /* ttdm's channel id of every business id */
    j = api_get(hc, b, "/api/v1/channels");
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(j, "data"))
    {
        const char *bid = NULL;
        int64_t id = 0;
        if (ttdm_json_get_str(row, "business_id", 200, &bid) ||
            ttdm_json_get_i64(row, "id", 1, INT64_MAX, &id))
            continue;
        for (int c = 0; c < b->n_channels; c++)
            if (strcmp(b->business_ids[c], bid) == 0)
                b->channel_ids[c] = id;
    }
    cJSON_Delete(j);
    ttdm_httpc_free(hc);
    for (int c = 0; c < b->n_channels; c++) {
        if (!b->channel_ids[c]) {
            fprintf(stderr, "bench_send: ttdm has no channel for %s\n", b->business_ids[c]);
            return -1;
        }
    }

    /* customers and their conversations on the simulator */
    memset(&rs, 0, sizeof(rs));
    for (uint64_t i = 0; i < b->n_convs; i++) {
        char body[256];
        b->convs[i].channel = (int)(i % (uint64_t)b->n_channels);
        snprintf(body, sizeof(body),
                 "{\"business_id\":\"%s\",\"username\":\"send_customer_%llu\",\"region\":\"SG\"}",
                 b->business_ids[b->convs[i].channel], (unsigned long long)i);
        reqset_post(&rs, b->sim_port, "/sim/customers", body);
    }
    run_phase(b, b->sim_port, &rs, 16, 0, 120, on_customer_created, "creating customers", NULL);
    reqset_free(&rs);
    for (uint64_t i = 0; i < b->n_convs; i++) {
        if (!b->convs[i].customer_id[0]) {
            fprintf(stderr, "bench_send: customer %llu was not created\n", (unsigned long long)i);
            return -1;
        }
    }
    return 0;
}

/* Every customer writes once, through the simulator, which delivers the webhook to ttdm. */
static int customers_write(struct bench *b, double rate, double max_seconds, uint64_t round)
{
    struct reqset rs;
    memset(&rs, 0, sizeof(rs));
    for (uint64_t i = 0; i < b->n_convs; i++) {
        char path[160], body[200];
        snprintf(path, sizeof(path), "/sim/customers/%s/messages", b->convs[i].customer_id);
        snprintf(body, sizeof(body),
                 "{\"type\":\"text\",\"text\":\"Hello, where is my order %llu? (message %llu)\"}",
                 (unsigned long long)i, (unsigned long long)round);
        reqset_post(&rs, b->sim_port, path, body);
    }
    run_phase(b, b->sim_port, &rs, b->connections, rate, max_seconds, on_customer_wrote,
              "customer messages", NULL);
    reqset_free(&rs);
    if (b->phase_bad) {
        fprintf(stderr, "bench_send: %llu customer messages were not taken by ttdm\n",
                (unsigned long long)b->phase_bad);
        return -1;
    }
    return 0;
}

/* ttdm's conversation id of each simulator conversation, from the API's list. */
static int map_conversations(struct bench *b)
{
    struct ttdm_httpc *hc = ttdm_httpc_new();
    uint64_t mapped = 0;

    for (int c = 0; c < b->n_channels; c++) {
        char cursor[64] = "";
        uint64_t want = 0, got = 0;
        for (uint64_t i = 0; i < b->n_convs; i++)
            want += b->convs[i].channel == c;
        while (got < want) {
            char path[256];
            const cJSON *row;
            const char *next = NULL;
            cJSON *j;
            snprintf(path, sizeof(path), "/api/v1/conversations?channel_id=%lld&limit=200%s%s",
                     (long long)b->channel_ids[c], cursor[0] ? "&cursor=" : "", cursor);
            j = api_get(hc, b, path);
            if (!j) {
                ttdm_httpc_free(hc);
                return -1;
            }
            cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(j, "data"))
            {
                const char *tid = NULL;
                int64_t id = 0;
                if (ttdm_json_get_str(row, "tiktok_conversation_id", 200, &tid) ||
                    ttdm_json_get_i64(row, "id", 1, INT64_MAX, &id))
                    continue;
                for (uint64_t i = c; i < b->n_convs; i += (uint64_t)b->n_channels) {
                    if (!b->convs[i].ttdm_id &&
                        strcmp(b->convs[i].tiktok_conversation_id, tid) == 0) {
                        b->convs[i].ttdm_id = id;
                        got++;
                        break;
                    }
                }
            }
            if (ttdm_json_get_str(j, "next_cursor", 60, &next) != 0) {
                cJSON_Delete(j);
                break;
            }
            ttdm_strlcpy(cursor, next, sizeof(cursor));
            cJSON_Delete(j);
        }
        mapped += got;
    }
    ttdm_httpc_free(hc);
    if (mapped != b->n_convs) {
        fprintf(stderr, "bench_send: ttdm shows %llu of %llu conversations\n",
                (unsigned long long)mapped, (unsigned long long)b->n_convs);
        return -1;
    }
    return 0;
}

/* `rounds` replies to every conversation, conversation after conversation. */
static void build_sends(struct bench *b, struct reqset *rs, uint64_t rounds)
{
    for (uint64_t s = 0; s < b->n_convs * rounds; s++) {
        const struct conv *cv = &b->convs[s % b->n_convs];
        char path[96], body[200];
        snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)cv->ttdm_id);
        snprintf(body, sizeof(body),
                 "{\"text\":\"" REPLY_PREFIX "%llu: thanks for your message, your parcel left "
                 "our warehouse today.\"}",
                 (unsigned long long)(b->seq_base + s));
        reqset_add(rs,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   path, (unsigned)b->ttdm_port, b->api_key, strlen(body), body);
    }
}

/* Counts agent messages above min_id by status, read-only on ttdm's database. */
static int db_counts(sqlite3 *db, int64_t min_id, int64_t *sent, int64_t *failed, int64_t *queued)
{
    sqlite3_stmt *st = NULL;
    int rc;
    *sent = *failed = *queued = 0;
    rc = sqlite3_prepare_v2(db,
                            "SELECT status, COUNT(*) FROM messages WHERE id > ?1"
                            " AND source = 'agent' GROUP BY status",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, min_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (strcmp(s, "sent") == 0 || strcmp(s, "read") == 0)
            *sent += n;
        else if (strcmp(s, "failed") == 0)
            *failed += n;
        else
            *queued += n;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int64_t db_max_id(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, "SELECT IFNULL(MAX(id), 0) FROM messages", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* CPU seconds (user + system) used so far by the process or thread whose stat file this
 * is; -1 when unknown. */
static double stat_cpu_s(const char *path)
{
    char buf[1024], *p;
    FILE *f;
    size_t n;
    double total = 0;

    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* After ") ": state is field 3; utime and stime are fields 14 and 15. */
    for (int field = 2; field <= 15 && p; field++) {
        if (field >= 14)
            total += strtod(p + 1, NULL);
        p = strchr(p + 1, ' ');
    }
    return total / (double)sysconf(_SC_CLK_TCK);
}

static double proc_cpu_s(int64_t pid)
{
    char path[64];

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
    return stat_cpu_s(path);
}

/* CPU seconds of ttdm's writer thread (the one named ttdm-writer); -1 when unknown. */
static double writer_cpu_s(int64_t pid)
{
    char path[96], comm[32];
    struct dirent *e;
    double v = -1;
    DIR *d;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%lld/task", (long long)pid);
    d = opendir(path);
    if (!d)
        return -1;
    while (v < 0 && (e = readdir(d)) != NULL) {
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%lld/task/%.20s/comm", (long long)pid, e->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f) && strncmp(comm, "ttdm-writer", 11) == 0) {
            snprintf(path, sizeof(path), "/proc/%lld/task/%.20s/stat", (long long)pid, e->d_name);
            v = stat_cpu_s(path);
        }
        fclose(f);
    }
    closedir(d);
    return v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_send --sim-port P --ttdm-port P --api-key KEY --business-ids FILE\n"
            "                  --db TTDM_DB [--per-channel N (100)] [--replies N (10)]\n"
            "                  [--ttdm-pid PID --sim-pid PID] (CPU per message)\n"
            "                  [--connections N (64)] [--duration S (60)]\n"
            "                  [--paced-rate N (5000; 0: no paced run)] [--trace FILE]\n"
            "                  [--soak SECONDS --rate REQ_PER_S]\n");
}

/* "<ms after the first POST was due> <latency ms> <of which until the POST's answer, ms>" per
 * message of the paced run, in the order they were due: where in the run the slow ones fall,
 * and whether they were slow to be accepted or to reach TikTok after. */
static void write_trace(struct bench *b, int64_t t0)
{
    FILE *f = fopen(b->trace_path, "w");

    if (!f) {
        fprintf(stderr, "bench_send: cannot write %s\n", b->trace_path);
        return;
    }
    for (uint64_t s = 0; s < b->n_sends; s++) {
        if (b->status[s] == 202 && b->sim_ms[s])
            fprintf(f, "%.3f %.3f %.3f\n", (double)(b->start_wall_us[s] - t0) / 1e3,
                    (double)(b->sim_ms[s] * 1000 - b->start_wall_us[s]) / 1e3,
                    (double)b->accept_us[s] / 1e3);
    }
    fclose(f);
}

/*
 * One measured run: every conversation gets `replies` replies, as fast as ttdm takes them
 * (rate 0: the most it carries, and the latency of that saturation), or evenly paced at
 * `rate` a second (the latency at that load, counted from when each POST was due).
 */
static int measure(struct bench *b, sqlite3 *db, uint64_t replies, double duration, double rate)
{
    struct reqset rs;
    struct httpload_result accept;
    struct httpload_hist to_sim;
    int64_t min_id = db_max_id(db), sent = 0, failed = 0, queued = 0, t0, t_done = 0;
    uint64_t accepted = 0, refused = 0, missing = 0;
    int64_t waited = 0, echo_backlog = -1;
    double ttdm_cpu0, sim_cpu0, own_cpu0, ttdm_cpu1 = -1, sim_cpu1 = -1, own_cpu1 = -1;
    double writer_cpu0, writer_cpu1 = -1;

    wait_webhooks_delivered(b, 300);
    b->n_sends = b->n_convs * replies;
    b->status = ttdm_calloc(b->n_sends, sizeof(int));
    b->start_wall_us = ttdm_calloc(b->n_sends, sizeof(int64_t));
    b->sim_ms = ttdm_calloc(b->n_sends, sizeof(int64_t));
    b->accept_us = ttdm_calloc(b->n_sends, sizeof(int64_t));
    memset(&rs, 0, sizeof(rs));
    build_sends(b, &rs, replies);

    ttdm_cpu0 = proc_cpu_s(b->ttdm_pid);
    writer_cpu0 = writer_cpu_s(b->ttdm_pid);
    sim_cpu0 = proc_cpu_s(b->sim_pid);
    own_cpu0 = proc_cpu_s((int64_t)getpid());
    t0 = httpload_wall_us();
    run_phase(b, b->ttdm_port, &rs, b->connections, rate, duration, on_sent, "sends", &accept);
    reqset_free(&rs);
    for (uint64_t s = 0; s < b->n_sends; s++) {
        if (b->status[s] == 202)
            accepted++;
        else if (b->status[s])
            refused++;
    }
    /* Done when ttdm has marked every accepted message sent (or failed). */
    for (;;) {
        if (db_counts(db, min_id, &sent, &failed, &queued)) {
            fprintf(stderr, "bench_send: cannot read %s\n", sqlite3_errmsg(db));
            return -1;
        }
        if ((uint64_t)(sent + failed) >= accepted) {
            t_done = httpload_wall_us();
            ttdm_cpu1 = proc_cpu_s(b->ttdm_pid);
            writer_cpu1 = writer_cpu_s(b->ttdm_pid);
            sim_cpu1 = proc_cpu_s(b->sim_pid);
            own_cpu1 = proc_cpu_s((int64_t)getpid());
            echo_backlog = sim_webhooks_pending(b);
            break;
        }
        if (waited >= DRAIN_TIMEOUT_MS) {
            fprintf(stderr, "bench_send: %lld messages still queued after %d s\n",
                    (long long)queued, DRAIN_TIMEOUT_MS / 1000);
            t_done = httpload_wall_us();
            break;
        }
        sleep_ms(10);
        waited += 10;
    }

    /* What the simulator holds, and when it recorded each message. */
    memset(&rs, 0, sizeof(rs));
    for (uint64_t i = 0; i < b->n_convs; i++) {
        char enc[200];
        ttdm_url_encode(b->convs[i].tiktok_conversation_id, enc, sizeof(enc));
        reqset_add(&rs, "GET /sim/conversations/%s/messages HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
                   enc, (unsigned)b->sim_port);
    }
    run_phase(b, b->sim_port, &rs, 8, 0, 120, on_sim_messages, "simulator messages", NULL);
    reqset_free(&rs);
    httpload_hist_init(&to_sim);
    for (uint64_t s = 0; s < b->n_sends; s++) {
        if (b->status[s] != 202)
            continue;
        if (!b->sim_ms[s]) {
            missing++;
            continue;
        }
        /* The simulator stamps in ms: the figure is at most 1 ms short, never long. */
        httpload_hist_add(&to_sim, b->sim_ms[s] * 1000 - b->start_wall_us[s]);
    }
    if (rate > 0 && b->trace_path != NULL)
        write_trace(b, t0);

    fprintf(stderr,
            "bench_send: %llu sends to %llu conversations (%s): %llu accepted, %llu refused, "
            "%lld sent, %lld failed, %llu not at the simulator; %.2f s until all were sent "
            "(POSTs took %.2f s)\n",
            (unsigned long long)b->n_sends, (unsigned long long)b->n_convs,
            rate > 0 ? "paced" : "as fast as taken", (unsigned long long)accepted,
            (unsigned long long)refused, (long long)sent, (long long)failed,
            (unsigned long long)missing, (double)(t_done - t0) / 1e6, accept.elapsed_s);
    if (rate > 0) {
        /* The latency the targets speak of: at a given load, not at saturation. */
        printf("send_paced_rate %.0f msg/s\n", rate);
        printf("send_paced_rps %.0f msg/s\n",
               t_done > t0 ? (double)sent * 1e6 / (double)(t_done - t0) : 0);
        printf("send_p50_ms %.2f ms\n", httpload_hist_ms(&to_sim, 0.50));
        printf("send_p99_ms %.2f ms\n", httpload_hist_ms(&to_sim, 0.99));
        printf("send_paced_max_ms %.2f ms\n", httpload_hist_ms(&to_sim, 1.0));
        printf("send_paced_accept_p99_ms %.2f ms\n", httpload_hist_ms(&accept.hist, 0.99));
        if (sent > 0 && own_cpu0 >= 0 && own_cpu1 >= 0)
            printf("send_paced_loadgen_cpu_us %.0f us/msg\n",
                   (own_cpu1 - own_cpu0) * 1e6 / (double)sent);
        /* How busy the serial part was while carrying the pace. */
        if (t_done > t0 && writer_cpu0 >= 0 && writer_cpu1 >= 0)
            printf("send_paced_writer_busy_pct %.0f %%\n",
                   (writer_cpu1 - writer_cpu0) * 1e8 / (double)(t_done - t0));
        printf("send_paced_echo_backlog %lld webhooks\n", (long long)echo_backlog);
        printf("send_paced_errors %llu messages\n",
               (unsigned long long)(refused + (uint64_t)failed + missing +
                                    (b->n_sends - accepted - refused)));
        return 0;
    }
    printf("send_rps %.0f msg/s\n", t_done > t0 ? (double)sent * 1e6 / (double)(t_done - t0) : 0);
    printf("send_max_load_p50_ms %.2f ms\n", httpload_hist_ms(&to_sim, 0.50));
    printf("send_max_load_p99_ms %.2f ms\n", httpload_hist_ms(&to_sim, 0.99));
    printf("send_accept_p50_ms %.2f ms\n", httpload_hist_ms(&accept.hist, 0.50));
    printf("send_accept_p99_ms %.2f ms\n", httpload_hist_ms(&accept.hist, 0.99));
    /* Where the machine's CPU went per message sent, from the first POST until the last
     * message was marked sent (the simulator's includes posting TikTok's echo webhooks). */
    if (sent > 0 && ttdm_cpu0 >= 0 && ttdm_cpu1 >= 0)
        printf("send_ttdm_cpu_us %.0f us/msg\n", (ttdm_cpu1 - ttdm_cpu0) * 1e6 / (double)sent);
    if (sent > 0 && writer_cpu0 >= 0 && writer_cpu1 >= 0)
        printf("send_writer_cpu_us %.0f us/msg\n",
               (writer_cpu1 - writer_cpu0) * 1e6 / (double)sent);
    if (sent > 0 && sim_cpu0 >= 0 && sim_cpu1 >= 0)
        printf("send_sim_cpu_us %.0f us/msg\n", (sim_cpu1 - sim_cpu0) * 1e6 / (double)sent);
    if (sent > 0 && own_cpu0 >= 0 && own_cpu1 >= 0)
        printf("send_loadgen_cpu_us %.0f us/msg\n", (own_cpu1 - own_cpu0) * 1e6 / (double)sent);
    /* TikTok's echoes of these sends that the simulator had not delivered yet when the last
     * one was marked sent: their work on ttdm's side is not in the CPU figures above. */
    printf("send_echo_backlog %lld webhooks\n", (long long)echo_backlog);
    printf("send_sent %lld messages\n", (long long)sent);
    printf("send_errors %llu messages\n",
           (unsigned long long)(refused + (uint64_t)failed + missing +
                                (b->n_sends - accepted - refused)));
    return 0;
}

/* Steady load for `seconds`: customers write, agents answer twice, again and again. */
static int soak(struct bench *b, double seconds, double rate)
{
    int64_t end = httpload_mono_us() + (int64_t)(seconds * 1e6);
    uint64_t rounds = 0, accepted = 0;
    while (httpload_mono_us() < end) {
        struct reqset rs;
        double left = (double)(end - httpload_mono_us()) / 1e6;
        if (customers_write(b, rate, left, rounds + 1))
            return -1;
        left = (double)(end - httpload_mono_us()) / 1e6;
        if (left <= 0)
            break;
        memset(&rs, 0, sizeof(rs));
        b->seq_base = rounds * b->n_convs * 2;
        build_sends(b, &rs, 2);
        accepted +=
            run_phase(b, b->ttdm_port, &rs, b->connections, rate, left, NULL, "soak sends", NULL);
        reqset_free(&rs);
        rounds++;
    }
    printf("soak_send_rounds %llu rounds\n", (unsigned long long)rounds);
    printf("soak_sends_accepted %llu messages\n", (unsigned long long)accepted);
    return 0;
}

int main(int argc, char **argv)
{
    static struct bench b;
    const char *ids_file = NULL, *db_path = NULL;
    int64_t sim_port = 0, ttdm_port = 0, per_channel = 100, replies = 10, connections = 64;
    int64_t duration = 60, soak_s = 0, rate = 500, paced_rate = 5000;
    sqlite3 *db = NULL;
    int rc;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        int64_t *num = NULL, min = 1, max = 1000000;
        if (strcmp(k, "--api-key") == 0)
            b.api_key = v;
        else if (strcmp(k, "--business-ids") == 0)
            ids_file = v;
        else if (strcmp(k, "--db") == 0)
            db_path = v;
        else if (strcmp(k, "--trace") == 0)
            b.trace_path = v;
        else if (strcmp(k, "--sim-port") == 0)
            num = &sim_port, max = 65535;
        else if (strcmp(k, "--ttdm-port") == 0)
            num = &ttdm_port, max = 65535;
        else if (strcmp(k, "--ttdm-pid") == 0)
            num = &b.ttdm_pid, max = INT32_MAX;
        else if (strcmp(k, "--sim-pid") == 0)
            num = &b.sim_pid, max = INT32_MAX;
        else if (strcmp(k, "--per-channel") == 0)
            num = &per_channel;
        else if (strcmp(k, "--replies") == 0)
            num = &replies, max = 1000;
        else if (strcmp(k, "--connections") == 0)
            num = &connections, max = 4096;
        else if (strcmp(k, "--duration") == 0)
            num = &duration, max = 3600;
        else if (strcmp(k, "--soak") == 0)
            num = &soak_s, max = 86400;
        else if (strcmp(k, "--rate") == 0)
            num = &rate;
        else if (strcmp(k, "--paced-rate") == 0)
            num = &paced_rate, min = 0;
        else {
            usage();
            return 2;
        }
        if (num && ttdm_parse_i64(v, (size_t)-1, min, max, num)) {
            fprintf(stderr, "bench_send: bad value for %s\n", k);
            return 2;
        }
    }
    if (!sim_port || !ttdm_port || !b.api_key || !ids_file || !db_path || argc % 2 == 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ttdm_httpc_global_init();
    current = &b;
    b.sim_port = (uint16_t)sim_port;
    b.ttdm_port = (uint16_t)ttdm_port;
    b.connections = (int)connections;
    b.n_channels = bench_read_business_ids(ids_file, b.business_ids, BENCH_MAX_CHANNELS);
    if (!b.n_channels)
        return 1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_send: cannot open %s\n", db_path);
        return 1;
    }
    if (setup(&b, (int)per_channel) || customers_write(&b, 0, 120, 0) || map_conversations(&b))
        return 1;
    if (soak_s)
        rc = soak(&b, (double)soak_s, (double)rate);
    else if ((rc = measure(&b, db, (uint64_t)replies, (double)duration, 0)) == 0 &&
             paced_rate > 0) {
        /* The same conversations again: each customer writes once more (a new reply
         * quota, R3), then the replies come at the paced rate. */
        b.seq_base = b.n_convs * (uint64_t)replies;
        ttdm_free(b.status);
        ttdm_free(b.start_wall_us);
        ttdm_free(b.sim_ms);
        ttdm_free(b.accept_us);
        rc = customers_write(&b, 0, 120, 1) ||
             measure(&b, db, (uint64_t)replies, (double)duration, (double)paced_rate);
    }
    sqlite3_close(db);
    return rc ? 1 : 0;
}
