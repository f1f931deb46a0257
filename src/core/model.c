/* model.c -- stable names of the product's enums, as stored in the database and the API. */
#include "core/model.h"

#include <stddef.h>
#include <string.h>

/* The names below are persisted and part of the API: never rename one. Out-of-range values
 * (a corrupted row, a bad cast) get "unknown" rather than NULL so callers can print them. */

const char *ttdm_channel_status_name(enum ttdm_channel_status s)
{
    switch (s) {
    case TTDM_CHANNEL_CONNECTED:
        return "connected";
    case TTDM_CHANNEL_RECONNECT_REQUIRED:
        return "reconnect_required";
    default:
        return "unknown";
    }
}

const char *ttdm_direction_name(enum ttdm_direction d)
{
    switch (d) {
    case TTDM_DIR_CUSTOMER:
        return "customer";
    case TTDM_DIR_BUSINESS:
        return "business";
    default:
        return "unknown";
    }
}

const char *ttdm_msg_source_name(enum ttdm_msg_source s)
{
    switch (s) {
    case TTDM_SOURCE_CUSTOMER:
        return "customer";
    case TTDM_SOURCE_AGENT:
        return "agent";
    case TTDM_SOURCE_AUTO:
        return "auto_responder";
    case TTDM_SOURCE_TIKTOK_APP:
        return "tiktok_app";
    default:
        return "unknown";
    }
}

const char *ttdm_msg_type_name(enum ttdm_msg_type t)
{
    switch (t) {
    case TTDM_MSG_TEXT:
        return "text";
    case TTDM_MSG_IMAGE:
        return "image";
    case TTDM_MSG_SHARE_POST:
        return "share_post";
    case TTDM_MSG_UNSUPPORTED:
        return "unsupported";
    default:
        return "unknown";
    }
}

const char *ttdm_msg_status_name(enum ttdm_msg_status s)
{
    switch (s) {
    case TTDM_STATUS_RECEIVED:
        return "received";
    case TTDM_STATUS_QUEUED:
        return "queued";
    case TTDM_STATUS_SENT:
        return "sent";
    case TTDM_STATUS_READ:
        return "read";
    case TTDM_STATUS_FAILED:
        return "failed";
    default:
        return "unknown";
    }
}

bool ttdm_msg_status_parse(const char *name, enum ttdm_msg_status *out)
{
    static const enum ttdm_msg_status all[] = {TTDM_STATUS_RECEIVED, TTDM_STATUS_QUEUED,
                                               TTDM_STATUS_SENT, TTDM_STATUS_READ,
                                               TTDM_STATUS_FAILED};

    if (name == NULL)
        return false;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(name, ttdm_msg_status_name(all[i])) == 0) {
            if (out != NULL)
                *out = all[i];
            return true;
        }
    }
    return false;
}

const char *ttdm_role_name(enum ttdm_role r)
{
    switch (r) {
    case TTDM_ROLE_AGENT:
        return "agent";
    case TTDM_ROLE_ADMIN:
        return "admin";
    default:
        return "unknown";
    }
}

bool ttdm_role_parse(const char *name, enum ttdm_role *out)
{
    if (name == NULL)
        return false;
    if (strcmp(name, "agent") == 0) {
        *out = TTDM_ROLE_AGENT;
        return true;
    }
    if (strcmp(name, "admin") == 0) {
        *out = TTDM_ROLE_ADMIN;
        return true;
    }
    return false;
}
