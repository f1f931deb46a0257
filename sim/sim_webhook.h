/* sim_webhook.h -- webhook delivery like TikTok's: signed POSTs, retries with backoff, a log. */
#ifndef TTDM_SIM_WEBHOOK_H
#define TTDM_SIM_WEBHOOK_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

struct ttdm_sim;
struct ttdm_httpc;
struct sim_webhooks;

enum sim_signature {
    SIM_SIG_VALID = 0,
    SIM_SIG_BAD,   /* HMAC with the wrong key */
    SIM_SIG_STALE, /* valid HMAC, but t is ten minutes old */
};

/* Parses "valid" / "bad" / "stale"; -1 for anything else. */
int ttdm_sim_webhook_signature_parse(const char *s, enum sim_signature *out);

/* Starts cfg.webhook_workers delivery threads. Never NULL. */
struct sim_webhooks *ttdm_sim_webhook_start(struct ttdm_sim *sim);
/* Stops the threads (waits for attempts in flight) and frees the log. NULL is a no-op. */
void ttdm_sim_webhook_stop(struct sim_webhooks *h);

/*
 * Creates one delivery of `event` for business_id with `content` (taken; serialised into
 * the envelope's "content" string). Lock held. With async the delivery threads make the
 * first attempt: call ttdm_sim_webhook_wake() once unlocked. Otherwise the caller makes it
 * with ttdm_sim_webhook_deliver_now() after unlocking. Returns the delivery id.
 */
int64_t ttdm_sim_webhook_create(struct sim_webhooks *h, const char *event, const char *business_id,
                                const char *conversation_id, const char *message_id, cJSON *content,
                                enum sim_signature sig, bool async);

/* Wakes a delivery thread for the async deliveries just created. Lock NOT held: a thread
 * woken while the lock is still held would only block on it again. */
void ttdm_sim_webhook_wake(struct sim_webhooks *h);

/*
 * Makes the first attempt of a synchronous delivery now, on the calling thread; a failure
 * is retried in the background. `c` may be NULL (a client is made for the call). Lock NOT
 * held. Returns the HTTP status the receiver answered, 0 when none (or no callback URL).
 */
long ttdm_sim_webhook_deliver_now(struct sim_webhooks *h, int64_t id, struct ttdm_httpc *c);

/* Forgets every delivery, pending ones included. Lock held. */
void ttdm_sim_webhook_reset(struct sim_webhooks *h);

/* The delivery log, newest last, filtered by event and message_id (NULL = any), at most
 * limit entries. Lock held. */
cJSON *ttdm_sim_webhook_log_json(struct sim_webhooks *h, const char *event, const char *message_id,
                                 int64_t limit);

/* Deliveries waiting for a (re)try. Lock held. */
int64_t ttdm_sim_webhook_pending(struct sim_webhooks *h);

#endif /* TTDM_SIM_WEBHOOK_H */
