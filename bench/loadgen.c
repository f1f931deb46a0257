/* loadgen.c -- the benchmarks' HTTP load: signed webhooks, the empty route, inbox pages. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "httpload.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/str.h"

#define REQ_MAX 2048
/* Pre-signed requests must still be fresh (webhook_tolerance_s = 300) when they are sent. */
#define PREBUILD_MAX_REQUESTS 400000
#define PREBUILD_MAX_SECONDS 240

enum mode { MODE_WEBHOOK, MODE_HEALTHZ, MODE_LIST };

struct source {
    enum mode mode;
    uint16_t port;
    char business_ids[BENCH_MAX_CHANNELS][BENCH_BUSINESS_ID_MAX];
    int n_channels;
    uint32_t n_conversations;
    uint64_t seq_base;
    int64_t ts_base_ms;
    const char *path;
    /* pre-built requests: offsets into one arena */
    char *arena;
    size_t *off;
    size_t *len;
    uint64_t n_built;
    /* built on demand (long runs) */
    char scratch[REQ_MAX];
    struct httpload_gate gate; /* sliced runs */
};

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen MODE --port P [options]\n"
            "modes:\n"
            "  webhook   POST /webhooks/tiktok: signed im_receive_msg events, distinct message\n"
            "            ids, spread over --conversations and the channels of --business-ids\n"
            "  healthz   POST /healthz with exactly the same requests (the empty route)\n"
            "  list      GET /api/v1/conversations pages from --cursors FILE (lines\n"
            "            '<channel_id> <cursor>|-') with --api-key KEY\n"
            "options:\n"
            "  --connections N (64)  --requests N (100000)  --duration SECONDS (10)\n"
            "  --warmup N (0)  --rate REQ_PER_S (0 = as fast as answered)\n"
            "  --business-ids FILE  --conversations N (10000)  --seq-base N (0)\n"
            "  --limit N (50, list page size)  --name PREFIX (figure names, default MODE)\n"
            "  --slices K --go FIFO --done FIFO  (K equal slices, each started by a line on\n"
            "            --go and followed by a line on --done; unpaced runs only)\n"
            "  --sched batch|normal (batch: the kernel's SCHED_BATCH, so that waking up for an\n"
            "            answer never preempts the server's threads; see docs/PERFORMANCE.md)\n");
}

/* Builds request seq of a webhook-shaped mode into out; returns its length (0 on error). */
static size_t build_webhook(struct source *s, uint64_t seq, int64_t ts_ms, char *out,
                            size_t out_size)
{
    struct bench_event ev;
    char body[1400];
    size_t body_len;

    bench_event_make(s->seq_base + seq, s->n_conversations, s->n_channels, ts_ms, &ev);
    body_len = bench_event_webhook_body(&ev, s->business_ids[ev.channel], bench_now_ms() / 1000,
                                        body, sizeof(body));
    if (!body_len)
        return 0;
    return bench_webhook_request(s->path, s->port, body, body_len, bench_now_ms() / 1000, out,
                                 out_size);
}

static bool next_request(void *ud, uint64_t seq, struct httpload_req *out)
{
    struct source *s = ud;
    if (s->arena) {
        if (seq >= s->n_built)
            return false;
        out->data = s->arena + s->off[seq];
        out->len = s->len[seq];
        return true;
    }
    /* Signed now, so the signature is fresh however long the run lasts. */
    out->len = build_webhook(s, seq, bench_now_ms(), s->scratch, sizeof(s->scratch));
    out->data = s->scratch;
    return out->len > 0;
}

/* Timestamps grow by 1 ms every 10 events and end about now: messages of one conversation
 * arrive in time order, as they do from TikTok. */
static int prebuild_webhooks(struct source *s, uint64_t n)
{
    size_t used = 0, cap = (size_t)n * 1024;

    s->arena = ttdm_malloc(cap);
    s->off = ttdm_malloc(n * sizeof(size_t));
    s->len = ttdm_malloc(n * sizeof(size_t));
    s->ts_base_ms = bench_now_ms() - (int64_t)(n / 10);
    for (uint64_t i = 0; i < n; i++) {
        size_t len =
            build_webhook(s, i, s->ts_base_ms + (int64_t)(i / 10), s->scratch, sizeof(s->scratch));
        if (!len) {
            fprintf(stderr, "loadgen: request %llu does not fit\n", (unsigned long long)i);
            return -1;
        }
        if (used + len > cap) {
            cap *= 2;
            s->arena = ttdm_realloc(s->arena, cap);
        }
        memcpy(s->arena + used, s->scratch, len);
        s->off[i] = used;
        s->len[i] = len;
        used += len;
    }
    s->n_built = n;
    return 0;
}

static int prebuild_list(struct source *s, const char *cursors, const char *api_key, int limit,
                         uint64_t n)
{
    char line[256];
    char(*lines)[128] = NULL;
    size_t n_lines = 0, cap = 0;
    FILE *f = fopen(cursors, "r");

    if (!f) {
        fprintf(stderr, "loadgen: cannot read %s\n", cursors);
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (n_lines == cap) {
            cap = cap ? cap * 2 : 1024;
            lines = ttdm_realloc(lines, cap * sizeof(*lines));
        }
        ttdm_strlcpy(lines[n_lines++], line, sizeof(lines[0]));
    }
    fclose(f);
    if (n_lines == 0) {
        fprintf(stderr, "loadgen: %s holds no cursor\n", cursors);
        ttdm_free(lines);
        return -1;
    }
    s->arena = ttdm_malloc(n * REQ_MAX);
    s->off = ttdm_malloc(n * sizeof(size_t));
    s->len = ttdm_malloc(n * sizeof(size_t));
    for (uint64_t i = 0; i < n; i++) {
        const char *l = lines[i % n_lines];
        const char *sp = strchr(l, ' ');
        char chan[32], cursor_q[160] = "";
        int len;
        if (!sp || ttdm_strlcpy_n(chan, sizeof(chan), l, (size_t)(sp - l))) {
            fprintf(stderr, "loadgen: bad cursor line '%s'\n", l);
            ttdm_free(lines);
            return -1;
        }
        if (strcmp(sp + 1, "-") != 0)
            snprintf(cursor_q, sizeof(cursor_q), "&cursor=%s", sp + 1);
        len = snprintf(s->arena + i * REQ_MAX, REQ_MAX,
                       "GET /api/v1/conversations?channel_id=%s&limit=%d%s HTTP/1.1\r\n"
                       "Host: 127.0.0.1:%u\r\nAuthorization: Bearer %s\r\n"
                       "Accept: application/json\r\n\r\n",
                       chan, limit, cursor_q, (unsigned)s->port, api_key);
        if (len <= 0 || len >= REQ_MAX) {
            ttdm_free(lines);
            return -1;
        }
        s->off[i] = i * REQ_MAX;
        s->len[i] = (size_t)len;
    }
    s->n_built = n;
    ttdm_free(lines);
    return 0;
}

/* "--name value" or "--name=value"; advances *i past a separate value. */
static const char *arg_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int parse_number(const char *v, const char *name, int64_t min, int64_t max, int64_t *out)
{
    if (ttdm_parse_i64(v, (size_t)-1, min, max, out)) {
        fprintf(stderr, "loadgen: %s must be a whole number from %lld to %lld\n", name,
                (long long)min, (long long)max);
        return -1;
    }
    return 0;
}

/* Between two slices: says the last one is over, waits for the next. */
static bool pause_between(void *ud, int slices_done)
{
    struct source *s = ud;
    httpload_gate_done(&s->gate, slices_done);
    return httpload_gate_wait(&s->gate);
}

int main(int argc, char **argv)
{
    static struct source src;
    const char *go = NULL, *done = NULL;
    int64_t slices = 1;
    struct httpload_opts o;
    struct httpload_result r;
    const char *ids_file = NULL, *cursors = NULL, *api_key = NULL, *name = NULL;
    int64_t v, port = 0, requests = 100000, connections = 64, warmup = 0, conversations = 10000;
    int64_t seq_base = 0, limit = 50;
    int64_t duration = 10;
    double rate = 0;
    bool sched_batch = true;
    int rc;

    if (argc < 2) {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "webhook") == 0)
        src.mode = MODE_WEBHOOK;
    else if (strcmp(argv[1], "healthz") == 0)
        src.mode = MODE_HEALTHZ;
    else if (strcmp(argv[1], "list") == 0)
        src.mode = MODE_LIST;
    else {
        usage();
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *val;
        int bad = 0;
        if ((val = arg_value(argc, argv, &i, "--port")))
            bad = parse_number(val, "--port", 1, 65535, &port);
        else if ((val = arg_value(argc, argv, &i, "--connections")))
            bad = parse_number(val, "--connections", 1, 4096, &connections);
        else if ((val = arg_value(argc, argv, &i, "--requests")))
            bad = parse_number(val, "--requests", 1, INT64_MAX, &requests);
        else if ((val = arg_value(argc, argv, &i, "--warmup")))
            bad = parse_number(val, "--warmup", 0, INT64_MAX, &warmup);
        else if ((val = arg_value(argc, argv, &i, "--conversations")))
            bad = parse_number(val, "--conversations", 1, 1000000, &conversations);
        else if ((val = arg_value(argc, argv, &i, "--seq-base")))
            bad = parse_number(val, "--seq-base", 0, INT64_C(1000000000000), &seq_base);
        else if ((val = arg_value(argc, argv, &i, "--limit")))
            bad = parse_number(val, "--limit", 1, 200, &limit);
        else if ((val = arg_value(argc, argv, &i, "--duration")))
            bad = parse_number(val, "--duration", 1, 86400, &duration);
        else if ((val = arg_value(argc, argv, &i, "--rate"))) {
            bad = parse_number(val, "--rate", 0, 10000000, &v);
            rate = (double)v;
        } else if ((val = arg_value(argc, argv, &i, "--business-ids")))
            ids_file = val;
        else if ((val = arg_value(argc, argv, &i, "--cursors")))
            cursors = val;
        else if ((val = arg_value(argc, argv, &i, "--api-key")))
            api_key = val;
        else if ((val = arg_value(argc, argv, &i, "--name")))
            name = val;
        else if ((val = arg_value(argc, argv, &i, "--slices")))
            bad = parse_number(val, "--slices", 1, 1000, &slices);
        else if ((val = arg_value(argc, argv, &i, "--go")))
            go = val;
        else if ((val = arg_value(argc, argv, &i, "--done")))
            done = val;
        else if ((val = arg_value(argc, argv, &i, "--sched"))) {
            sched_batch = strcmp(val, "batch") == 0;
            if (!sched_batch && strcmp(val, "normal") != 0) {
                fprintf(stderr, "loadgen: --sched takes batch or normal, not %s\n", val);
                bad = 1;
            }
        } else {
            fprintf(stderr, "loadgen: unknown option %s\n", argv[i]);
            usage();
            return 2;
        }
        if (bad)
            return 2;
    }
    if (!port) {
        fprintf(stderr, "loadgen: --port is required\n");
        return 2;
    }
    if (slices > 1 && (!go || !done || rate > 0 || slices > requests)) {
        fprintf(stderr, "loadgen: --slices needs --go and --done, no --rate, and at most "
                        "--requests slices\n");
        return 2;
    }
    if (ttdm_crypto_init()) {
        fprintf(stderr,
                "loadgen: the crypto libraries (libsodium, libcrypto) could not be initialised\n");
        return 1;
    }
    /* The load stands in for TikTok's servers, which never share ttdm's CPUs. On the same
     * machine, a generator woken by each answer would preempt whichever server thread runs:
     * mostly the event thread in the middle of a burst of answers, sometimes the writer.
     * SCHED_BATCH keeps the generator's fair share of the CPUs and only gives up that
     * preemption; it needs no privilege. */
    if (sched_batch && sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){0}) != 0) {
        fprintf(stderr, "loadgen: cannot run as SCHED_BATCH (%s); use --sched normal\n",
                strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    src.port = (uint16_t)port;
    src.n_conversations = (uint32_t)conversations;
    src.seq_base = (uint64_t)seq_base;
    if (!name)
        name = argv[1];

    if (src.mode == MODE_LIST) {
        if (!cursors || !api_key) {
            fprintf(stderr, "loadgen: list needs --cursors and --api-key\n");
            return 2;
        }
        if (prebuild_list(&src, cursors, api_key, (int)limit, (uint64_t)requests))
            return 1;
    } else {
        if (!ids_file) {
            fprintf(stderr, "loadgen: %s needs --business-ids\n", argv[1]);
            return 2;
        }
        src.n_channels = bench_read_business_ids(ids_file, src.business_ids, BENCH_MAX_CHANNELS);
        if (src.n_channels == 0)
            return 1;
        src.path = src.mode == MODE_WEBHOOK ? "/webhooks/tiktok" : "/healthz";
        if (requests <= PREBUILD_MAX_REQUESTS && duration <= PREBUILD_MAX_SECONDS &&
            prebuild_webhooks(&src, (uint64_t)requests))
            return 1;
    }

    memset(&o, 0, sizeof(o));
    o.port = (uint16_t)port;
    o.connections = (int)connections;
    o.max_requests = (uint64_t)requests;
    o.max_seconds = (double)duration;
    o.rate = rate;
    o.warmup = (uint64_t)warmup;
    o.next = next_request;
    o.ud = &src;
    if (slices > 1) {
        o.slice = ((uint64_t)requests + (uint64_t)slices - 1) / (uint64_t)slices;
        o.pause = pause_between;
        if (httpload_gate_open(&src.gate, go, done))
            return 1;
        if (!httpload_gate_wait(&src.gate)) /* the first slice's go */
            return 1;
    }
    rc = httpload_run(&o, &r);
    if (slices > 1) {
        httpload_gate_done(&src.gate, (int)slices);
        httpload_gate_close(&src.gate);
    }
    fprintf(stderr,
            "loadgen %s: sent %llu, answered %llu, measured %llu (2xx %llu, other %llu), "
            "failed %llu, %.2f s, %lld connections\n",
            name, (unsigned long long)r.sent, (unsigned long long)r.answered,
            (unsigned long long)r.measured, (unsigned long long)r.ok,
            (unsigned long long)r.bad_status, (unsigned long long)r.failed, r.elapsed_s,
            (long long)connections);
    if (r.bad_status)
        fprintf(stderr, "loadgen %s: first non-2xx answer: %d %s\n", name, r.first_bad_status,
                r.first_bad_body);
    printf("%s_rps %.0f req/s\n", name, r.elapsed_s > 0 ? (double)r.ok / r.elapsed_s : 0.0);
    printf("%s_p50_ms %.2f ms\n", name, httpload_hist_ms(&r.hist, 0.50));
    printf("%s_p99_ms %.2f ms\n", name, httpload_hist_ms(&r.hist, 0.99));
    printf("%s_max_ms %.2f ms\n", name, (double)r.hist.max_us / 1000.0);
    printf("%s_ok %llu requests\n", name, (unsigned long long)r.ok);
    printf("%s_errors %llu requests\n", name, (unsigned long long)(r.bad_status + r.failed));
    fflush(stdout);
    ttdm_free(src.arena);
    ttdm_free(src.off);
    ttdm_free(src.len);
    return rc != 0 || r.ok == 0 ? 1 : 0;
}
