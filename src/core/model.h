/* model.h -- the product's nouns: channel, customer, conversation, message. No I/O. */
#ifndef TTDM_MODEL_H
#define TTDM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/policy.h"

/* Bounds on strings that come from TikTok; longer ones are refused at the edge. */
#define TTDM_ID_MAX 128   /* TikTok ids: open_id, conversation_id, message_id, media_id */
#define TTDM_NAME_MAX 256 /* usernames, display names */
#define TTDM_REGION_LEN 3 /* "JP" + NUL */
#define TTDM_URL_MAX 2048
#define TTDM_ERROR_TEXT_MAX 512

enum ttdm_channel_status {
    TTDM_CHANNEL_CONNECTED = 0,
    TTDM_CHANNEL_RECONNECT_REQUIRED,
};
const char *ttdm_channel_status_name(enum ttdm_channel_status s); /* "connected", ... */

/* What a user (or an API key) may do in its workspace: agents read and reply, admins also
 * connect, reconnect and configure channels and manage users. */
enum ttdm_role {
    TTDM_ROLE_AGENT = 0,
    TTDM_ROLE_ADMIN,
};
const char *ttdm_role_name(enum ttdm_role r); /* "agent", "admin" */
/* False (and *out untouched) when `name` is not a role name. */
bool ttdm_role_parse(const char *name, enum ttdm_role *out);

enum ttdm_direction {
    TTDM_DIR_CUSTOMER = 0, /* customer -> business (inbound) */
    TTDM_DIR_BUSINESS,     /* business -> customer (agent, auto-responder, TikTok app) */
};
const char *ttdm_direction_name(enum ttdm_direction d); /* "customer", "business" */

/* Where a business message came from. */
enum ttdm_msg_source {
    TTDM_SOURCE_CUSTOMER = 0, /* inbound messages */
    TTDM_SOURCE_AGENT,        /* sent by an agent or the API through ttdm */
    TTDM_SOURCE_AUTO,         /* auto-responder */
    TTDM_SOURCE_TIKTOK_APP,   /* typed in the TikTok app/web, reached us as an echo */
};
const char *
ttdm_msg_source_name(enum ttdm_msg_source s); /* "customer","agent","auto_responder","tiktok_app" */

enum ttdm_msg_type {
    TTDM_MSG_TEXT = 0,
    TTDM_MSG_IMAGE,
    TTDM_MSG_SHARE_POST,
    TTDM_MSG_UNSUPPORTED, /* any other TikTok type: "unsupported: open TikTok to see it" */
};
const char *
ttdm_msg_type_name(enum ttdm_msg_type t); /* "text","image","share_post","unsupported" */

enum ttdm_msg_status {
    TTDM_STATUS_RECEIVED = 0, /* inbound */
    TTDM_STATUS_QUEUED,       /* accepted, in the outbox */
    TTDM_STATUS_SENT,         /* TikTok answered with a message id */
    TTDM_STATUS_READ,         /* the customer read it */
    TTDM_STATUS_FAILED,       /* with error_code / error_text */
};
const char *
ttdm_msg_status_name(enum ttdm_msg_status s); /* "received","queued","sent","read","failed" */
bool ttdm_msg_status_parse(const char *name, enum ttdm_msg_status *out);

#endif /* TTDM_MODEL_H */
