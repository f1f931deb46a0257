/* webhook.h -- TikTok webhook signature check and DIRECT_MESSAGE event parsing; no I/O. */
#ifndef TTDM_WEBHOOK_H
#define TTDM_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/model.h"
#include "util/crypto.h"

/* "t=<up to 20 digits>,s=<64 hex>" plus NUL fits in this many bytes. */
#define TTDM_WEBHOOK_SIGNATURE_MAX 96
/* Bounds on short webhook strings that are not ids: event names, types, roles, sources. */
#define TTDM_WEBHOOK_WORD_MAX 64

/*
 * Checks a `TikTok-Signature` header ("t=<unix seconds>,s=<64 hex>") against the raw body:
 * HMAC-SHA256 with `secret` over t + "." + body, t exactly as received. Keys are matched by
 * name (order and spaces around parts do not matter; unknown keys are ignored).
 * Returns TTDM_OK, TTDM_ERR_BAD_SIGNATURE (header NULL or malformed, t or s missing or
 * repeated, digest mismatch) or TTDM_ERR_STALE_SIGNATURE (authentic, but t is more than
 * tolerance_s away from now_s in either direction). Borrows everything; pure.
 */
enum ttdm_err ttdm_webhook_verify(const char *header, const char *body, size_t body_len,
                                  const char *secret, size_t secret_len, int64_t now_s,
                                  int64_t tolerance_s);
/* The same with the secret prepared once (ttdm_hmac_key_init), as the server does. */
enum ttdm_err ttdm_webhook_verify_key(const char *header, const char *body, size_t body_len,
                                      const struct ttdm_hmac_key *key, int64_t now_s,
                                      int64_t tolerance_s);

/*
 * Writes the header value TikTok would send for `body` at time `t_s` into
 * out[TTDM_WEBHOOK_SIGNATURE_MAX], NUL-terminated. For tests, benchmarks and the simulator.
 */
void ttdm_webhook_sign(const char *secret, size_t secret_len, int64_t t_s, const char *body,
                       size_t body_len, char out[TTDM_WEBHOOK_SIGNATURE_MAX]);

enum ttdm_webhook_kind {
    TTDM_WEBHOOK_RECEIVE_MSG = 0, /* im_receive_msg: customer -> business */
    TTDM_WEBHOOK_SEND_MSG,        /* im_send_msg: echo of a business message (API or app) */
    TTDM_WEBHOOK_MARK_READ,       /* im_mark_read_msg: the customer read the thread */
    TTDM_WEBHOOK_OTHER,           /* any other event; only the envelope is filled */
};

/* "receive_msg", "send_msg", "mark_read", "other". Static storage. */
const char *ttdm_webhook_kind_name(enum ttdm_webhook_kind kind);

/* One side of a message: `from_user` / `to_user` of the content. */
struct ttdm_webhook_user {
    char id[TTDM_ID_MAX];             /* business_id or the customer's unique_identifier */
    char role[TTDM_WEBHOOK_WORD_MAX]; /* "business_account" / "personal_account", "" absent */
    char region[TTDM_REGION_LEN];     /* simulator extension, "" when absent */
};

/*
 * A parsed webhook. Strings are NUL-terminated copies, "" when absent; `text` is owned by
 * the event (ttdm_webhook_event_cleanup frees it), every other member is embedded.
 */
struct ttdm_webhook_event {
    enum ttdm_webhook_kind kind;
    char event[TTDM_WEBHOOK_WORD_MAX]; /* envelope `event` as received */
    char client_key[TTDM_ID_MAX];      /* envelope `client_key` (our app id) */
    int64_t create_time_s;             /* envelope `create_time`, 0 when absent */
    char business_id[TTDM_ID_MAX];     /* envelope `user_openid` */

    /* Filled for RECEIVE_MSG, SEND_MSG and MARK_READ. */
    char conversation_id[TTDM_ID_MAX];
    int64_t timestamp_ms;     /* content.timestamp (required for messages, else 0 if absent) */
    char from[TTDM_NAME_MAX]; /* sender's username */
    char to[TTDM_NAME_MAX];   /* receiver's username */
    struct ttdm_webhook_user from_user;
    struct ttdm_webhook_user to_user;
    /*
     * The customer's stable id: content.unique_identifier, or when absent the id of the
     * customer side (from_user for RECEIVE_MSG and MARK_READ, to_user for SEND_MSG).
     */
    char unique_identifier[TTDM_ID_MAX];
    /* The customer's region: from_user.region, or to_user.region for SEND_MSG; "" absent. */
    char customer_region[TTDM_REGION_LEN];

    /* Filled for RECEIVE_MSG and SEND_MSG. */
    char message_id[TTDM_ID_MAX];
    char type[TTDM_WEBHOOK_WORD_MAX];   /* "text", "image", "share_post", "video", ... as sent */
    char *text;                         /* text.body when type is "text"; NULL otherwise */
    size_t text_len;                    /* bytes, without the NUL */
    char media_id[TTDM_ID_MAX];         /* image.media_id, or video.media_id for "video" */
    char embed_url[TTDM_URL_MAX];       /* share_post.embed_url */
    char source[TTDM_WEBHOOK_WORD_MAX]; /* message_tag.source: "API", "APP", ...; "" absent */
    char referenced_message_id[TTDM_ID_MAX]; /* referenced_message_info, "" when absent */

    /* Filled for MARK_READ: everything up to this time (ms) has been read. */
    int64_t last_read_timestamp_ms;
};

/*
 * Parses a webhook body (the raw bytes whose signature was checked) into `out`, which is
 * always initialised, so ttdm_webhook_event_cleanup may run whatever the result. `content`
 * is a JSON string parsed a second time. Over-long strings are refused, never truncated.
 * Returns TTDM_OK, TTDM_ERR_INVALID_UTF8 (body or content not UTF-8), TTDM_ERR_INVALID_JSON
 * (body or content not JSON) or TTDM_ERR_BAD_REQUEST (a field missing, of the wrong type
 * or too long); err receives a sentence naming the field, e.g. "content.message_id missing".
 * After an error the event may be partly filled (never `text`); do not use it.
 */
enum ttdm_err ttdm_webhook_parse(const char *body, size_t len, struct ttdm_webhook_event *out,
                                 char *err, size_t err_size);

/*
 * How the inbox shows a message of this webhook `type`: "text", "image", "share_post" map to
 * their own kind, every other type (video, sticker, emoji, ...) to TTDM_MSG_UNSUPPORTED.
 */
enum ttdm_msg_type ttdm_webhook_msg_type(const char *type);

/* Frees what the event owns (its text, then NULL); safe to call twice. The embedded members
 * keep their values: the next parse into the event initialises it anyway. */
void ttdm_webhook_event_cleanup(struct ttdm_webhook_event *ev);

#endif /* TTDM_WEBHOOK_H */
