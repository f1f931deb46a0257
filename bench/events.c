/* events.c -- synthetic TikTok customer messages: the same rows for HTTP and store benchmarks. */
#include "events.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tiktok/webhook.h"
#include "util/str.h"

/* A prime larger than any conversation count we use: seq * P mod n is then a permutation. */
#define SPREAD_PRIME 1000003ULL
/* TikTok message ids are 19 decimal digits. */
#define MESSAGE_ID_BASE 7100000000000000000ULL

int64_t bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bench_event_make(uint64_t seq, uint32_t n_conversations, int n_channels, int64_t timestamp_ms,
                      struct bench_event *ev)
{
    uint32_t k = (uint32_t)((seq * SPREAD_PRIME) % n_conversations);
    int n;

    memset(ev, 0, sizeof(*ev));
    ev->conversation = k;
    ev->channel = (int)(k % (uint32_t)n_channels);
    /* Shaped like TikTok's base64-ish conversation ids (24 characters). */
    snprintf(ev->conversation_id, sizeof(ev->conversation_id), "bnch%08uQ2hhdFJvb20==", k);
    snprintf(ev->message_id, sizeof(ev->message_id), "%llu",
             (unsigned long long)(MESSAGE_ID_BASE + seq));
    snprintf(ev->customer_id, sizeof(ev->customer_id), "usr-bench%015u", k);
    snprintf(ev->customer_username, sizeof(ev->customer_username), "customer_%u", k);
    n = snprintf(ev->text, sizeof(ev->text),
                 "Hi! Is the blue jacket from your last video still available in size M? "
                 "I would like two of them. Ref %llu",
                 (unsigned long long)seq);
    ev->text_len = n > 0 && (size_t)n < sizeof(ev->text) ? (size_t)n : strlen(ev->text);
    ev->timestamp_ms = timestamp_ms;
}

size_t bench_event_webhook_body(const struct bench_event *ev, const char *business_id,
                                int64_t create_time_s, char *out, size_t out_size)
{
    /* Our strings hold no quote or backslash, so the inner JSON needs only \" escapes. */
    int n = snprintf(
        out, out_size,
        "{\"client_key\":\"" BENCH_APP_ID "\",\"event\":\"im_receive_msg\",\"create_time\":%lld,"
        "\"user_openid\":\"%s\",\"content\":\"{\\\"conversation_id\\\":\\\"%s\\\","
        "\\\"message_id\\\":\\\"%s\\\",\\\"timestamp\\\":%lld,\\\"type\\\":\\\"text\\\","
        "\\\"from\\\":\\\"%s\\\",\\\"to\\\":\\\"bench_shop\\\",\\\"from_user\\\":{\\\"id\\\":"
        "\\\"%s\\\",\\\"role\\\":\\\"personal_account\\\",\\\"region\\\":\\\"SG\\\"},"
        "\\\"to_user\\\":{\\\"id\\\":\\\"%s\\\",\\\"role\\\":\\\"business_account\\\"},"
        "\\\"unique_identifier\\\":\\\"%s\\\",\\\"text\\\":{\\\"body\\\":\\\"%s\\\"}}\"}",
        (long long)create_time_s, business_id, ev->conversation_id, ev->message_id,
        (long long)ev->timestamp_ms, ev->customer_username, ev->customer_id, business_id,
        ev->customer_id, ev->text);
    if (n < 0 || (size_t)n >= out_size)
        return 0;
    return (size_t)n;
}

size_t bench_webhook_request(const char *path, uint16_t port, const char *body, size_t body_len,
                             int64_t t_s, char *out, size_t out_size)
{
    char sig[TTDM_WEBHOOK_SIGNATURE_MAX];
    int n;

    ttdm_webhook_sign(BENCH_APP_SECRET, strlen(BENCH_APP_SECRET), t_s, body, body_len, sig);
    n = snprintf(out, out_size,
                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: application/json\r\n"
                 "TikTok-Signature: %s\r\nx-tt-logid: bench\r\nContent-Length: %zu\r\n\r\n",
                 path, (unsigned)port, sig, body_len);
    if (n < 0 || (size_t)n + body_len >= out_size)
        return 0;
    memcpy(out + n, body, body_len);
    return (size_t)n + body_len;
}

void bench_event_inbound(const struct bench_event *ev, int64_t channel_id, int64_t received_at,
                         struct ttdm_inbound *in)
{
    memset(in, 0, sizeof(*in));
    in->channel_id = channel_id;
    ttdm_strlcpy(in->tiktok_conversation_id, ev->conversation_id,
                 sizeof(in->tiktok_conversation_id));
    ttdm_strlcpy(in->tiktok_message_id, ev->message_id, sizeof(in->tiktok_message_id));
    in->direction = TTDM_DIR_CUSTOMER;
    in->source = TTDM_SOURCE_CUSTOMER;
    in->type = ttdm_webhook_msg_type("text");
    in->text = ev->text;
    in->text_len = ev->text_len;
    in->raw_type = "text";
    ttdm_strlcpy(in->customer_user_id, ev->customer_id, sizeof(in->customer_user_id));
    ttdm_strlcpy(in->customer_username, ev->customer_username, sizeof(in->customer_username));
    ttdm_strlcpy(in->customer_region, "SG", sizeof(in->customer_region));
    in->timestamp_ms = ev->timestamp_ms;
    in->received_at = received_at;
}

int bench_read_business_ids(const char *path, char ids[][BENCH_BUSINESS_ID_MAX], int max)
{
    char line[256];
    int n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", path);
        return 0;
    }
    while (n < max && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (ttdm_strlcpy(ids[n], line, BENCH_BUSINESS_ID_MAX)) {
            fprintf(stderr, "%s: business id too long\n", path);
            fclose(f);
            return 0;
        }
        n++;
    }
    fclose(f);
    if (n == 0)
        fprintf(stderr, "%s holds no business id\n", path);
    return n;
}
