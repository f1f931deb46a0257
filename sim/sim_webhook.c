/* sim_webhook.c -- webhook delivery like TikTok's: signed POSTs, retries with backoff, a log. */
#include "sim_webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim_internal.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/httpc.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

/* Signatures this old are refused by any receiver that checks freshness (TikTok's sample
 * allows 5 s, common practice 300 s). */
#define STALE_SECONDS 600
/* The log keeps at most this many deliveries; the oldest finished ones go first. */
#define LOG_MAX 200000
#define MAX_BACKOFF_MS (3600 * 1000)

struct sim_delivery {
    int64_t id;
    char event[40];
    char business_id[SIM_ID_MAX];
    char conversation_id[SIM_ID_MAX];
    char message_id[SIM_ID_MAX];
    char *body; /* owned until the delivery is finished */
    size_t body_len;
    enum sim_signature sig;
    bool async;
    int attempts;
    long last_status;
    const char *state; /* static: created, pending, sending, retrying, delivered, dropped,
                          skipped */
    char last_error[128];
    int64_t created_ms;      /* simulator clock */
    int64_t last_attempt_ms; /* simulator clock */
    int64_t next_mono_ms;
};

struct sim_webhooks {
    struct ttdm_sim *sim;
    pthread_cond_t cond;     /* with sim->st.lock */
    struct ttdm_sim_vec log; /* struct sim_delivery *, owned, ids ascending */
    int64_t first_id;        /* id of log.items[0] */
    int64_t next_id;
    /* Deliveries waiting for a (re)try, not owned: a binary min-heap on next_mono_ms (ties
     * by id), so a worker finds the next one without walking a long backlog. */
    struct ttdm_sim_vec pending;
    int64_t sending; /* deliveries in state "sending" */
    int idle;        /* delivery threads waiting on cond */
    pthread_t *threads;
    size_t n_threads;
    bool stopping;
};

int ttdm_sim_webhook_signature_parse(const char *s, enum sim_signature *out)
{
    if (!s || strcmp(s, "valid") == 0)
        *out = SIM_SIG_VALID;
    else if (strcmp(s, "bad") == 0)
        *out = SIM_SIG_BAD;
    else if (strcmp(s, "stale") == 0)
        *out = SIM_SIG_STALE;
    else
        return -1;
    return 0;
}

static const char *sig_name(enum sim_signature s)
{
    return s == SIM_SIG_BAD ? "bad" : s == SIM_SIG_STALE ? "stale" : "valid";
}

/* The time TikTok's servers read: the simulator's clock, or the wall clock when the
 * receiver's clock is not moved together with the simulator's. */
static int64_t signing_now_ms(struct sim_webhooks *h)
{
    if (h->sim->cfg.webhook_wall_clock)
        return ttdm_sim_now_ms(h->sim) - atomic_load(&h->sim->clock_offset_ms);
    return ttdm_sim_now_ms(h->sim);
}

static struct sim_delivery *lookup(struct sim_webhooks *h, int64_t id)
{
    int64_t i = id - h->first_id;
    if (i < 0 || (size_t)i >= h->log.n)
        return NULL;
    return h->log.items[i];
}

/* --- the pending heap --- */

static bool due_before(const struct sim_delivery *a, const struct sim_delivery *b)
{
    return a->next_mono_ms < b->next_mono_ms ||
           (a->next_mono_ms == b->next_mono_ms && a->id < b->id);
}

static void heap_sift_up(struct sim_webhooks *h, size_t i)
{
    struct sim_delivery *d = h->pending.items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        struct sim_delivery *p = h->pending.items[parent];
        if (!due_before(d, p))
            break;
        h->pending.items[i] = p;
        i = parent;
    }
    h->pending.items[i] = d;
}

static void heap_sift_down(struct sim_webhooks *h, size_t i)
{
    size_t n = h->pending.n;
    struct sim_delivery *d = h->pending.items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        struct sim_delivery *c;
        if (child >= n)
            break;
        if (child + 1 < n && due_before(h->pending.items[child + 1], h->pending.items[child]))
            child++;
        c = h->pending.items[child];
        if (!due_before(c, d))
            break;
        h->pending.items[i] = c;
        i = child;
    }
    h->pending.items[i] = d;
}

/* Queues d for an attempt at d->next_mono_ms. */
static void pending_push(struct sim_webhooks *h, struct sim_delivery *d)
{
    ttdm_sim_vec_push(&h->pending, d);
    heap_sift_up(h, h->pending.n - 1);
}

void ttdm_sim_webhook_wake(struct sim_webhooks *h)
{
    /* Without a waiter this costs no system call. A thread that checked the heap before the
     * delivery was queued is already waiting, as the queueing happened under the lock. */
    pthread_cond_signal(&h->cond);
}

static struct sim_delivery *pending_pop(struct sim_webhooks *h)
{
    struct sim_delivery *top = h->pending.items[0];
    struct sim_delivery *last = h->pending.items[h->pending.n - 1];
    h->pending.n--;
    if (h->pending.n > 0) {
        h->pending.items[0] = last;
        heap_sift_down(h, 0);
    }
    return top;
}

static void finish_body(struct sim_delivery *d)
{
    ttdm_free(d->body);
    d->body = NULL;
    d->body_len = 0;
}

/* Drops the oldest finished deliveries once the log is over its bound. */
static void trim_log(struct sim_webhooks *h)
{
    size_t drop = 0;
    if (h->log.n <= LOG_MAX)
        return;
    while (drop < h->log.n && drop < LOG_MAX / 10) {
        struct sim_delivery *d = h->log.items[drop];
        if (d->body)
            break; /* still in flight or pending */
        ttdm_free(d);
        drop++;
    }
    if (drop == 0)
        return;
    memmove(h->log.items, h->log.items + drop, (h->log.n - drop) * sizeof(void *));
    h->log.n -= drop;
    h->first_id += (int64_t)drop;
}

int64_t ttdm_sim_webhook_create(struct sim_webhooks *h, const char *event, const char *business_id,
                                const char *conversation_id, const char *message_id, cJSON *content,
                                enum sim_signature sig, bool async)
{
    struct sim_delivery *d = ttdm_calloc(1, sizeof(*d));
    int64_t now = ttdm_sim_now_ms(h->sim);
    cJSON *env = cJSON_CreateObject();
    char *inner = ttdm_json_print(content);

    cJSON_Delete(content);
    /* TikTok serialises the event body into a string: receivers parse twice. */
    cJSON_AddStringToObject(env, "client_key", h->sim->cfg.app_id);
    cJSON_AddStringToObject(env, "event", event);
    ttdm_json_add_i64(env, "create_time", signing_now_ms(h) / 1000);
    cJSON_AddStringToObject(env, "user_openid", business_id);
    cJSON_AddStringToObject(env, "content", inner);
    cJSON_free(inner);
    {
        char *s = ttdm_json_print(env);
        d->body = ttdm_strdup(s);
        d->body_len = strlen(s);
        cJSON_free(s);
    }
    cJSON_Delete(env);

    d->id = h->next_id++;
    ttdm_strlcpy(d->event, event, sizeof(d->event));
    ttdm_strlcpy(d->business_id, business_id, sizeof(d->business_id));
    ttdm_strlcpy(d->conversation_id, conversation_id ? conversation_id : "",
                 sizeof(d->conversation_id));
    ttdm_strlcpy(d->message_id, message_id ? message_id : "", sizeof(d->message_id));
    d->sig = sig;
    d->async = async;
    d->created_ms = now;
    if (h->log.n == 0)
        h->first_id = d->id;
    ttdm_sim_vec_push(&h->log, d);
    if (async) {
        d->state = "pending";
        d->next_mono_ms = ttdm_clock_mono_ms();
        pending_push(h, d);
    } else {
        d->state = "created";
    }
    trim_log(h);
    return d->id;
}

/* One signed POST to url. Lock NOT held. Returns the HTTP status or 0. */
static long post_once(struct sim_webhooks *h, struct ttdm_httpc *c, const char *url,
                      const char *body, size_t body_len, enum sim_signature sig, char *err,
                      size_t err_size)
{
    const struct ttdm_sim_config *cfg = &h->sim->cfg;
    int64_t t = signing_now_ms(h) / 1000;
    char t_str[24], hex[65], sig_header[160], logid[33], logid_header[64];
    const char *key = cfg->app_secret;
    char wrong_key[160];
    const char *parts[3];
    size_t lens[3];
    const char *headers[5];
    struct ttdm_httpc_req req;
    struct ttdm_httpc_resp resp;
    long status;

    if (sig == SIM_SIG_STALE)
        t -= STALE_SECONDS;
    snprintf(t_str, sizeof(t_str), "%" PRId64, t);
    if (sig == SIM_SIG_BAD) {
        snprintf(wrong_key, sizeof(wrong_key), "not-%s", cfg->app_secret);
        key = wrong_key;
    }
    /* TikTok signs "t.body" with the app secret; hex HMAC-SHA256. */
    parts[0] = t_str;
    lens[0] = strlen(t_str);
    parts[1] = ".";
    lens[1] = 1;
    parts[2] = body;
    lens[2] = body_len;
    ttdm_hmac_sha256_hex(key, strlen(key), parts, lens, 3, hex);
    snprintf(sig_header, sizeof(sig_header), "TikTok-Signature: t=%s,s=%s", t_str, hex);
    ttdm_random_hex(16, logid);
    snprintf(logid_header, sizeof(logid_header), "x-tt-logid: %s", logid);
    headers[0] = "Content-Type: application/json";
    headers[1] = sig_header;
    headers[2] = logid_header;
    headers[3] = "User-Agent: ttdm-sim";
    headers[4] = NULL;

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = body_len;
    req.timeout_ms = (long)cfg->webhook_timeout_ms;
    req.max_response = 64 * 1024;
    err[0] = '\0';
    if (ttdm_httpc_do(c, &req, &resp))
        snprintf(err, err_size, "%s", resp.error);
    status = resp.status;
    ttdm_httpc_resp_cleanup(&resp);
    return status;
}

/* Records the outcome of an attempt and schedules the retry. Lock held. */
static void record_attempt(struct sim_webhooks *h, int64_t id, long status, const char *err)
{
    struct sim_delivery *d = lookup(h, id);
    struct sim_stats *stats = &h->sim->st.stats;

    if (!d)
        return; /* forgotten by a reset while the POST was in flight */
    h->sending--;
    d->attempts++;
    d->last_status = status;
    d->last_attempt_ms = ttdm_sim_now_ms(h->sim);
    ttdm_strlcpy(d->last_error, err ? err : "", sizeof(d->last_error));
    /* Like TikTok, anything but 200 is a failed delivery. */
    if (status == 200) {
        d->state = "delivered";
        stats->webhooks_delivered++;
        finish_body(d);
        return;
    }
    stats->webhooks_failed_attempts++;
    if (d->attempts >= h->sim->cfg.webhook_max_attempts) {
        d->state = "dropped";
        stats->webhooks_dropped++;
        finish_body(d);
        LOG_WARN("sim", "webhook %s message=%s dropped after %d attempts (last status %ld%s%s)",
                 d->event, d->message_id, d->attempts, status, err && *err ? ", " : "",
                 err ? err : "");
        return;
    }
    {
        int shift = d->attempts - 1 < 30 ? d->attempts - 1 : 30;
        int64_t delay = h->sim->cfg.webhook_retry_base_ms << shift;
        if (delay > MAX_BACKOFF_MS || delay <= 0)
            delay = MAX_BACKOFF_MS;
        d->state = "retrying";
        d->next_mono_ms = ttdm_clock_mono_ms() + delay;
        pending_push(h, d);
        /* A thread that is not waiting looks at the heap before it waits again: wake one
         * only when some wait and the retry is the new earliest. */
        if (h->idle > 0 && h->pending.items[0] == d)
            pthread_cond_signal(&h->cond);
    }
}

/* Takes d for an attempt: copies what the POST needs. False when there is no callback URL
 * (the delivery is then skipped, as TikTok has nowhere to send it). Lock held. */
static bool claim(struct sim_webhooks *h, struct sim_delivery *d, char **url, char **body,
                  size_t *body_len)
{
    if (h->sim->st.callback_url[0] == '\0') {
        d->state = "skipped";
        h->sim->st.stats.webhooks_skipped++;
        finish_body(d);
        return false;
    }
    d->state = "sending";
    h->sending++;
    *url = ttdm_strdup(h->sim->st.callback_url);
    *body = ttdm_strndup(d->body, d->body_len);
    *body_len = d->body_len;
    return true;
}

static void abs_mono(int64_t mono_ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_ms / 1000);
    ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

static void *delivery_main(void *arg)
{
    struct sim_webhooks *h = arg;
    struct sim_state *st = &h->sim->st;
    struct ttdm_httpc *c = ttdm_httpc_new();

    pthread_mutex_lock(&st->lock);
    while (!h->stopping) {
        struct sim_delivery *d;
        char *url = NULL, *body = NULL, err[256];
        size_t body_len = 0;
        enum sim_signature sig;
        int64_t id;
        long status;

        if (h->pending.n == 0) {
            h->idle++;
            pthread_cond_wait(&h->cond, &st->lock);
            h->idle--;
            continue;
        }
        d = h->pending.items[0];
        if (d->next_mono_ms > ttdm_clock_mono_ms()) {
            struct timespec ts;
            abs_mono(d->next_mono_ms, &ts);
            h->idle++;
            pthread_cond_timedwait(&h->cond, &st->lock, &ts);
            h->idle--;
            continue;
        }
        pending_pop(h);
        if (!claim(h, d, &url, &body, &body_len))
            continue;
        id = d->id;
        sig = d->sig;
        pthread_mutex_unlock(&st->lock);

        status = post_once(h, c, url, body, body_len, sig, err, sizeof(err));
        ttdm_free(url);
        ttdm_free(body);

        pthread_mutex_lock(&st->lock);
        record_attempt(h, id, status, err);
    }
    pthread_mutex_unlock(&st->lock);
    ttdm_httpc_free(c);
    return NULL;
}

long ttdm_sim_webhook_deliver_now(struct sim_webhooks *h, int64_t id, struct ttdm_httpc *c)
{
    struct sim_state *st = &h->sim->st;
    struct sim_delivery *d;
    struct ttdm_httpc *own = NULL;
    char *url = NULL, *body = NULL, err[256];
    size_t body_len = 0;
    enum sim_signature sig;
    long status;

    pthread_mutex_lock(&st->lock);
    d = lookup(h, id);
    if (!d || strcmp(d->state, "created") != 0 || !claim(h, d, &url, &body, &body_len)) {
        pthread_mutex_unlock(&st->lock);
        return 0;
    }
    sig = d->sig;
    pthread_mutex_unlock(&st->lock);

    if (!c)
        c = own = ttdm_httpc_new();
    status = post_once(h, c, url, body, body_len, sig, err, sizeof(err));
    ttdm_httpc_free(own);
    ttdm_free(url);
    ttdm_free(body);

    pthread_mutex_lock(&st->lock);
    record_attempt(h, id, status, err);
    pthread_mutex_unlock(&st->lock);
    return status;
}

struct sim_webhooks *ttdm_sim_webhook_start(struct ttdm_sim *sim)
{
    struct sim_webhooks *h = ttdm_calloc(1, sizeof(*h));
    pthread_condattr_t attr;

    h->sim = sim;
    h->next_id = 1;
    h->first_id = 1;
    ttdm_sim_vec_init(&h->log);
    ttdm_sim_vec_init(&h->pending);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &attr);
    pthread_condattr_destroy(&attr);
    h->n_threads = (size_t)sim->cfg.webhook_workers;
    h->threads = ttdm_calloc(h->n_threads, sizeof(pthread_t));
    for (size_t i = 0; i < h->n_threads; i++)
        pthread_create(&h->threads[i], NULL, delivery_main, h);
    return h;
}

static void free_log(struct sim_webhooks *h)
{
    for (size_t i = 0; i < h->log.n; i++) {
        struct sim_delivery *d = h->log.items[i];
        finish_body(d);
        ttdm_free(d);
    }
    h->log.n = 0;
    h->pending.n = 0;
    h->sending = 0;
    h->first_id = h->next_id;
}

void ttdm_sim_webhook_stop(struct sim_webhooks *h)
{
    struct sim_state *st;
    if (!h)
        return;
    st = &h->sim->st;
    pthread_mutex_lock(&st->lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&st->lock);
    for (size_t i = 0; i < h->n_threads; i++)
        pthread_join(h->threads[i], NULL);
    if (h->pending.n)
        LOG_INFO("sim", "stopping with %zu webhook deliveries pending; they are dropped",
                 h->pending.n);
    free_log(h);
    ttdm_sim_vec_cleanup(&h->log);
    ttdm_sim_vec_cleanup(&h->pending);
    pthread_cond_destroy(&h->cond);
    ttdm_free(h->threads);
    ttdm_free(h);
}

void ttdm_sim_webhook_reset(struct sim_webhooks *h)
{
    free_log(h);
}

int64_t ttdm_sim_webhook_pending(struct sim_webhooks *h)
{
    return (int64_t)h->pending.n + h->sending;
}

cJSON *ttdm_sim_webhook_log_json(struct sim_webhooks *h, const char *event, const char *message_id,
                                 int64_t limit)
{
    cJSON *arr = cJSON_CreateArray();
    size_t start = h->log.n;
    int64_t taken = 0;

    /* Walk back to find where the newest `limit` matches start, then emit oldest first. */
    while (start > 0 && taken < limit) {
        const struct sim_delivery *d = h->log.items[start - 1];
        start--;
        if ((event && strcmp(d->event, event) != 0) ||
            (message_id && strcmp(d->message_id, message_id) != 0))
            continue;
        taken++;
    }
    for (size_t i = start; i < h->log.n; i++) {
        const struct sim_delivery *d = h->log.items[i];
        cJSON *o;
        if ((event && strcmp(d->event, event) != 0) ||
            (message_id && strcmp(d->message_id, message_id) != 0))
            continue;
        o = cJSON_CreateObject();
        ttdm_json_add_i64(o, "id", d->id);
        cJSON_AddStringToObject(o, "event", d->event);
        cJSON_AddStringToObject(o, "business_id", d->business_id);
        cJSON_AddStringToObject(o, "conversation_id", d->conversation_id);
        cJSON_AddStringToObject(o, "message_id", d->message_id);
        cJSON_AddStringToObject(o, "signature", sig_name(d->sig));
        cJSON_AddBoolToObject(o, "async", d->async);
        cJSON_AddNumberToObject(o, "attempts", d->attempts);
        cJSON_AddNumberToObject(o, "last_status", (double)d->last_status);
        cJSON_AddStringToObject(o, "last_error", d->last_error);
        cJSON_AddStringToObject(o, "state", d->state);
        ttdm_json_add_i64(o, "created_ms", d->created_ms);
        ttdm_json_add_i64(o, "last_attempt_ms", d->last_attempt_ms);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}
