/* events.h -- synthetic TikTok customer messages: the same rows for HTTP and store benchmarks. */
#ifndef TTDM_BENCH_EVENTS_H
#define TTDM_BENCH_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define BENCH_APP_ID "ttdm-sandbox-app"
#define BENCH_APP_SECRET "ttdm-sandbox-secret"
#define BENCH_MAX_CHANNELS 64
#define BENCH_BUSINESS_ID_MAX 64

/*
 * Customer message number `seq` of a run: its conversation is a permutation of seq over
 * n_conversations (so consecutive events hit different conversations, as real traffic
 * does), and conversation k belongs to channel k % n_channels. Ids are distinct per seq;
 * the TikTok message id has 19 digits like TikTok's.
 */
struct bench_event {
    int channel;           /* 0 .. n_channels-1 */
    uint32_t conversation; /* 0 .. n_conversations-1 */
    char conversation_id[40];
    char message_id[24];
    char customer_id[40];
    char customer_username[32];
    char text[160];
    size_t text_len;
    int64_t timestamp_ms;
};

void bench_event_make(uint64_t seq, uint32_t n_conversations, int n_channels, int64_t timestamp_ms,
                      struct bench_event *ev);

/*
 * The im_receive_msg webhook body TikTok would send for ev to business_id, in TikTok's
 * envelope (content is a JSON string). Returns its length, or 0 when out is too small.
 */
size_t bench_event_webhook_body(const struct bench_event *ev, const char *business_id,
                                int64_t create_time_s, char *out, size_t out_size);

/*
 * The complete HTTP request: POST `path` with the TikTok-Signature of `body` at t_s
 * (HMAC-SHA256 of "t.body" with the sandbox app secret). Returns its length, 0 if cut.
 */
size_t bench_webhook_request(const char *path, uint16_t port, const char *body, size_t body_len,
                             int64_t t_s, char *out, size_t out_size);

/*
 * The store's view of ev, exactly as src/app/inbound.c builds it from the parsed webhook.
 * Strings point into ev, which must outlive `in`.
 */
void bench_event_inbound(const struct bench_event *ev, int64_t channel_id, int64_t received_at,
                         struct ttdm_inbound *in);

/* Reads business ids, one per line, into ids; returns how many (0 on error, with a message). */
int bench_read_business_ids(const char *path, char ids[][BENCH_BUSINESS_ID_MAX], int max);

/* Wall clock in milliseconds. */
int64_t bench_now_ms(void);

#endif /* TTDM_BENCH_EVENTS_H */
