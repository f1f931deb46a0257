/* sim_api.c -- the TikTok Business API endpoints the simulator serves (E6-E15), the media
 * downloads behind download_url, and fault injection in front of all of them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"
#include "sim_webhook.h"
#include "sim_wire.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define API_PREFIX "/open_api/v1.3/"
#define MEDIA_TTL_MS (30LL * 86400 * 1000)
#define LIST_WINDOW_MS (90LL * 86400 * 1000)
#define HISTORY_MAX 20

typedef void (*api_fn)(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                       struct ttdm_http_response *resp);

struct api_route {
    const char *method;
    const char *path;     /* after API_PREFIX */
    const char *endpoint; /* name used by faults and statistics */
    const char *alias;    /* a second fault name that also matches, or NULL */
    api_fn fn;
};

/* --- shared checks --- */

/* Checks the Access-Token header. Lock held. Returns 0 with *acc set, or TikTok's code with
 * msg filled. */
static int authenticate(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                        const char *scope, int64_t now, struct sim_account **acc, char *msg,
                        size_t msg_size)
{
    const char *value = ttdm_http_header(req, "Access-Token");
    struct sim_token *t;

    if (!value || !*value) {
        snprintf(msg, msg_size,
                 "Access token is null, you should set it in http header with "
                 "key Access-Token.");
        return 40104;
    }
    t = ttdm_sim_state_token_find(&sim->st, value);
    if (!t || t->is_refresh || t->revoked) {
        snprintf(msg, msg_size, "Access token is incorrect or has been revoked.");
        return 40105;
    }
    /* PRODUCT.md R8: TikTok's wording, as agents see it in failed messages. */
    if (now >= t->expires_ms) {
        snprintf(msg, msg_size, "the access token has expired");
        return 40102;
    }
    if (scope && !ttdm_sim_state_scope_has(t->scope, scope)) {
        snprintf(msg, msg_size, "No permission: the access token was not granted the scope %s.",
                 scope);
        return 40001;
    }
    *acc = t->account;
    return 0;
}

/* The business_id parameter must name the token's own account. */
static int check_business(const struct sim_account *acc, const char *business_id, char *msg,
                          size_t msg_size)
{
    if (!business_id || !*business_id) {
        snprintf(msg, msg_size, "Param business_id is required.");
        return 40002;
    }
    if (strcmp(business_id, acc->business_id) != 0) {
        snprintf(msg, msg_size,
                 "No permission to operate business_id %.80s with this access "
                 "token.",
                 business_id);
        return 40001;
    }
    return 0;
}

/* Conversation ids are base64-like; a space means a '+' that was not sent as %2B. */
static bool conversation_id_wellformed(const char *id)
{
    if (!*id)
        return false;
    for (const char *p = id; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '=' || c == '-' || c == '_' || c == '/' || c == '.'))
            return false;
    }
    return true;
}

/* Finds the conversation `param` names for acc. Lock held. */
static int find_conversation(struct ttdm_sim *sim, const struct sim_account *acc, const char *param,
                             const char *id, struct sim_conversation **out, char *msg,
                             size_t msg_size)
{
    struct sim_conversation *conv;
    if (!id || !*id) {
        snprintf(msg, msg_size, "Param %s is required.", param);
        return 40002;
    }
    if (!conversation_id_wellformed(id)) {
        snprintf(msg, msg_size, "Param %s is invalid.", param);
        return 40002;
    }
    conv = ttdm_sim_state_conversation_find(&sim->st, id);
    if (!conv || conv->account != acc) {
        snprintf(msg, msg_size, "The conversation does not exist.");
        return 40007;
    }
    *out = conv;
    return 0;
}

/* Parses a JSON array of strings given as a query parameter (fields=["a","b"]). */
static cJSON *json_array_param(const char *value)
{
    char err[128];
    cJSON *v;
    const cJSON *e;
    if (!value)
        return NULL;
    v = ttdm_json_parse(value, strlen(value), err, sizeof(err));
    if (!cJSON_IsArray(v)) {
        cJSON_Delete(v);
        return NULL;
    }
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e)) {
            cJSON_Delete(v);
            return NULL;
        }
    }
    return v;
}

static void profile_image_url(struct ttdm_sim *sim, const char *id, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/avatar/%s.png", sim->public_url, id);
}

/* --- E6 --- */

static void business_get(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp)
{
    const char *business_id = ttdm_http_query(req, "business_id");
    const char *fields = ttdm_http_query(req, "fields");
    struct sim_account *acc = NULL;
    cJSON *data = NULL, *parsed = NULL;
    char msg[256], url[512];
    int code;

    if (fields && !(parsed = json_array_param(fields))) {
        ttdm_sim_wire_envelope(resp, 40002,
                               "Param fields must be a JSON array of strings, e.g. "
                               "[\"username\",\"display_name\"].",
                               NULL);
        return;
    }
    cJSON_Delete(parsed);
    pthread_mutex_lock(&sim->st.lock);
    code = authenticate(sim, req, "user.info.basic", ttdm_sim_now_ms(sim), &acc, msg, sizeof(msg));
    if (!code)
        code = check_business(acc, business_id, msg, sizeof(msg));
    if (!code) {
        /* Every field is returned whatever `fields` asks: clients read what they need. */
        data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "username", acc->username);
        cJSON_AddStringToObject(data, "display_name", acc->display_name);
        profile_image_url(sim, acc->business_id, url, sizeof(url));
        cJSON_AddStringToObject(data, "profile_image", url);
        cJSON_AddBoolToObject(data, "is_business_account", 1);
        /* Simulator extensions: what R6 and R7 depend on. */
        cJSON_AddStringToObject(data, "region", acc->region);
        cJSON_AddStringToObject(data, "account_origin", acc->origin_app ? "app" : "web");
    }
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_sim_wire_envelope(resp, code, code ? msg : NULL, data);
}

/* --- E7 --- */

struct send_input {
    const char *business_id;
    const char *recipient_type;
    const char *recipient;
    const char *message_type;
    const char *text;
    const char *media_id;
    const char *sender_action;
};

static int parse_send(const cJSON *body, struct send_input *in, int64_t text_max, char *msg,
                      size_t msg_size)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(body, "text");
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(body, "image");

    memset(in, 0, sizeof(*in));
    if (ttdm_json_get_str(body, "business_id", 256, &in->business_id) < 0 ||
        ttdm_json_get_str(body, "recipient_type", 64, &in->recipient_type) < 0 ||
        ttdm_json_get_str(body, "recipient", 256, &in->recipient) < 0 ||
        ttdm_json_get_str(body, "message_type", 64, &in->message_type) < 0 ||
        ttdm_json_get_str(body, "sender_action", 64, &in->sender_action) < 0) {
        snprintf(msg, msg_size,
                 "Params business_id, recipient_type, recipient, message_type "
                 "and sender_action must be strings.");
        return 40002;
    }
    if (cJSON_GetObjectItemCaseSensitive(body, "direct_reply")) {
        snprintf(msg, msg_size, "Param direct_reply is not supported by this account.");
        return 40002;
    }
    if (!in->message_type) {
        snprintf(msg, msg_size, "Param message_type is required.");
        return 40002;
    }
    if (!in->recipient_type || strcmp(in->recipient_type, "CONVERSATION") != 0) {
        snprintf(msg, msg_size, "Param recipient_type must be CONVERSATION.");
        return 40002;
    }
    if (text && !cJSON_IsNull(text) && image && !cJSON_IsNull(image)) {
        snprintf(msg, msg_size, "A message carries text or one image, never both.");
        return 40002;
    }
    if (strcmp(in->message_type, "TEXT") == 0) {
        size_t chars;
        if (ttdm_json_get_str(text, "body", SIZE_MAX, &in->text) != 0) {
            snprintf(msg, msg_size, "Param text.body is required for message_type TEXT.");
            return 40002;
        }
        chars = ttdm_sim_rules_code_points(in->text, strlen(in->text));
        if (chars == 0 || (int64_t)chars > text_max) {
            snprintf(msg, msg_size,
                     "Param text.body must have 1 to %" PRId64 " characters (it has %zu).",
                     text_max, chars);
            return 40002;
        }
    } else if (strcmp(in->message_type, "IMAGE") == 0) {
        if (ttdm_json_get_str(image, "media_id", 256, &in->media_id) != 0 || !*in->media_id) {
            snprintf(msg, msg_size, "Param image.media_id is required for message_type IMAGE.");
            return 40002;
        }
    } else if (strcmp(in->message_type, "SENDER_ACTION") == 0) {
        if (!in->sender_action || (strcmp(in->sender_action, "TYPING") != 0 &&
                                   strcmp(in->sender_action, "MARK_READ") != 0)) {
            snprintf(msg, msg_size, "Param sender_action must be TYPING or MARK_READ.");
            return 40002;
        }
    } else {
        /* R5: only text and images are allowed for these accounts. */
        snprintf(msg, msg_size, "Param message_type %.40s is not supported: send TEXT or IMAGE.",
                 in->message_type);
        return 40002;
    }
    return 0;
}

static void message_send(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp)
{
    char err[160], msg[512];
    cJSON *body = ttdm_sim_wire_body_object(req, err, sizeof(err));
    struct send_input in;
    struct sim_account *acc = NULL;
    struct sim_conversation *conv = NULL;
    struct sim_message *m = NULL;
    cJSON *data = NULL;
    int64_t now;
    int code;

    if (!body) {
        snprintf(msg, sizeof(msg), "Invalid request body: %s.", err);
        ttdm_sim_wire_envelope(resp, 40002, msg, NULL);
        return;
    }
    pthread_mutex_lock(&sim->st.lock);
    now = ttdm_sim_now_ms(sim);
    code = authenticate(sim, req, "message.list.send", now, &acc, msg, sizeof(msg));
    if (!code)
        code = parse_send(body, &in, sim->cfg.text_max_chars, msg, sizeof(msg));
    if (!code)
        code = check_business(acc, in.business_id, msg, sizeof(msg));
    if (!code)
        code = find_conversation(sim, acc, "recipient", in.recipient, &conv, msg, sizeof(msg));
    if (!code && in.media_id) {
        struct sim_media *media = ttdm_sim_state_media_find(&sim->st, in.media_id);
        if (!media || media->account != acc || media->conv) {
            snprintf(msg, sizeof(msg),
                     "Param image.media_id is invalid: upload the image "
                     "with media/upload first.");
            code = 40002;
        } else if (now - media->created_ms >= MEDIA_TTL_MS) {
            snprintf(msg, sizeof(msg), "Param image.media_id has expired (30 days).");
            code = 40002;
        }
    }
    if (!code && in.sender_action) {
        /* Typing indicators and "Seen" are not messages: no rules, no echo, no id. */
        data = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(data, "message"), "message_id", "");
    } else if (!code) {
        struct sim_outbound ob = {.image = in.media_id != NULL,
                                  .text = in.text,
                                  .media_id = in.media_id,
                                  .source = "API"};
        code = ttdm_sim_state_business_send(&sim->st, conv, &ob, now, &m, msg, sizeof(msg));
        if (!code) {
            data = cJSON_CreateObject();
            cJSON_AddStringToObject(cJSON_AddObjectToObject(data, "message"), "message_id",
                                    m->message_id);
            /* The echo is asynchronous, so it may reach the client before this answer. */
            ttdm_sim_webhook_create(sim->hooks, "im_send_msg", acc->business_id,
                                    conv->conversation_id, m->message_id,
                                    ttdm_sim_state_message_content(conv, m), SIM_SIG_VALID, true);
        }
    } else {
        char name[16];
        snprintf(name, sizeof(name), "%d", code);
        ttdm_sim_state_count(sim->st.stats.sends_refused, name);
    }
    pthread_mutex_unlock(&sim->st.lock);
    cJSON_Delete(body);
    if (data) /* the echo was queued: a delivery thread can take it now the lock is free */
        ttdm_sim_webhook_wake(sim->hooks);
    ttdm_sim_wire_envelope(resp, code, code ? msg : NULL, data);
}

/* --- E8 --- */

static void media_upload(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp)
{
    struct ttdm_sim_part parts[8];
    size_t n = 0;
    const struct ttdm_sim_part *bid, *type, *file;
    struct sim_account *acc = NULL;
    char business_id[SIM_ID_MAX] = "", msg[256];
    const char *content_type;
    unsigned char *bytes;
    cJSON *data = NULL;
    int code;

    /* The token first, as TikTok does, then the form. */
    pthread_mutex_lock(&sim->st.lock);
    code =
        authenticate(sim, req, "message.list.send", ttdm_sim_now_ms(sim), &acc, msg, sizeof(msg));
    pthread_mutex_unlock(&sim->st.lock);
    if (code)
        goto out;
    if (ttdm_sim_wire_multipart(ttdm_http_header(req, "Content-Type"), req->body, req->body_len,
                                parts, 8, &n)) {
        snprintf(msg, sizeof(msg),
                 "The request must be multipart/form-data with business_id, "
                 "media_type and file.");
        code = 40002;
        goto out;
    }
    bid = ttdm_sim_wire_part(parts, n, "business_id");
    type = ttdm_sim_wire_part(parts, n, "media_type");
    file = ttdm_sim_wire_part(parts, n, "file");
    if (bid)
        ttdm_strlcpy_n(business_id, sizeof(business_id), bid->data.ptr, bid->data.len);
    if (!type || type->data.len != 5 || memcmp(type->data.ptr, "IMAGE", 5) != 0) {
        snprintf(msg, sizeof(msg), "Param media_type must be IMAGE.");
        code = 40002;
        goto out;
    }
    if (!file || file->data.len == 0) {
        snprintf(msg, sizeof(msg), "Param file is required.");
        code = 40002;
        goto out;
    }
    if ((int64_t)file->data.len > sim->cfg.image_max_bytes) {
        snprintf(msg, sizeof(msg),
                 "The file is too large: images may have at most %" PRId64 " bytes (3 MB).",
                 sim->cfg.image_max_bytes);
        code = 40907;
        goto out;
    }
    /* By content, not by file name or declared type. */
    content_type = ttdm_sim_rules_image_type(file->data.ptr, file->data.len);
    if (!content_type) {
        snprintf(msg, sizeof(msg), "Unsupported file type: images must be JPG or PNG.");
        code = 40908;
        goto out;
    }
    bytes = ttdm_malloc(file->data.len);
    memcpy(bytes, file->data.ptr, file->data.len);
    pthread_mutex_lock(&sim->st.lock);
    /* Again under the same lock as the insert: a reset may have run in between. */
    code =
        authenticate(sim, req, "message.list.send", ttdm_sim_now_ms(sim), &acc, msg, sizeof(msg));
    if (!code)
        code = check_business(acc, business_id, msg, sizeof(msg));
    if (!code) {
        struct sim_media *m = ttdm_sim_state_media_add(&sim->st, acc, NULL, bytes, file->data.len,
                                                       content_type, ttdm_sim_now_ms(sim));
        data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "media_id", m->media_id);
        bytes = NULL;
    }
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_free(bytes);
out:
    ttdm_sim_wire_envelope(resp, code, code ? msg : NULL, data);
}

/* --- E9 and the download itself --- */

static void media_download(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                           struct ttdm_http_response *resp)
{
    char err[160], msg[512];
    cJSON *body = ttdm_sim_wire_body_object(req, err, sizeof(err));
    const char *business_id = NULL, *conversation_id = NULL, *message_id = NULL, *media_id = NULL,
               *media_type = NULL;
    struct sim_account *acc = NULL;
    struct sim_conversation *conv = NULL;
    cJSON *data = NULL;
    int code = 0;

    if (!body) {
        snprintf(msg, sizeof(msg), "Invalid request body: %s.", err);
        ttdm_sim_wire_envelope(resp, 40002, msg, NULL);
        return;
    }
    ttdm_json_get_str(body, "business_id", 256, &business_id);
    ttdm_json_get_str(body, "conversation_id", 256, &conversation_id);
    ttdm_json_get_str(body, "message_id", 64, &message_id);
    ttdm_json_get_str(body, "media_id", 256, &media_id);
    ttdm_json_get_str(body, "media_type", 16, &media_type);

    pthread_mutex_lock(&sim->st.lock);
    code =
        authenticate(sim, req, "message.list.read", ttdm_sim_now_ms(sim), &acc, msg, sizeof(msg));
    if (!code)
        code = check_business(acc, business_id, msg, sizeof(msg));
    if (!code)
        code = find_conversation(sim, acc, "conversation_id", conversation_id, &conv, msg,
                                 sizeof(msg));
    if (!code &&
        (!media_type || (strcmp(media_type, "IMAGE") != 0 && strcmp(media_type, "VIDEO") != 0))) {
        snprintf(msg, sizeof(msg), "Param media_type must be IMAGE or VIDEO.");
        code = 40002;
    }
    if (!code && (!message_id || !media_id)) {
        snprintf(msg, sizeof(msg), "Params message_id and media_id are required.");
        code = 40002;
    }
    if (!code) {
        const struct sim_message *found = NULL;
        for (size_t i = 0; i < conv->messages.n && !found; i++) {
            const struct sim_message *m = conv->messages.items[i];
            if (strcmp(m->message_id, message_id) == 0)
                found = m;
        }
        if (!found) {
            snprintf(msg, sizeof(msg), "The message does not exist in this conversation.");
            code = 40007;
        } else if (strcmp(found->media_id, media_id) != 0 ||
                   !ttdm_sim_state_media_find(&sim->st, media_id)) {
            snprintf(msg, sizeof(msg), "Param media_id does not belong to the message.");
            code = 40002;
        } else {
            char url[512];
            snprintf(url, sizeof(url), "%s/media/%s", sim->public_url, media_id);
            data = cJSON_CreateObject();
            cJSON_AddStringToObject(data, "download_url", url);
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    cJSON_Delete(body);
    ttdm_sim_wire_envelope(resp, code, code ? msg : NULL, data);
}

/* GET /media/<id> with header x-user: <access token>, like TikTok's CDN (403 without it). */
static void media_get(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                      struct ttdm_http_response *resp)
{
    const char *media_id = req->path + strlen("/media/");
    const char *user = ttdm_http_header(req, "x-user");
    unsigned char *bytes = NULL;
    size_t len = 0;
    const char *type = NULL;
    bool found = false;

    pthread_mutex_lock(&sim->st.lock);
    {
        struct sim_media *m = ttdm_sim_state_media_find(&sim->st, media_id);
        struct sim_token *t = user ? ttdm_sim_state_token_find(&sim->st, user) : NULL;
        found = m != NULL;
        if (m && t && !t->is_refresh && !t->revoked && ttdm_sim_now_ms(sim) < t->expires_ms &&
            t->account == m->account) {
            bytes = ttdm_malloc(m->len ? m->len : 1);
            memcpy(bytes, m->data, m->len);
            len = m->len;
            type = m->content_type;
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    if (!found)
        ttdm_http_resp_bytes(resp, 404, "text/plain; charset=utf-8", "not found\n", 10);
    else if (!bytes)
        ttdm_http_resp_bytes(resp, 403, "text/plain; charset=utf-8", "forbidden\n", 10);
    else
        ttdm_http_resp_bytes(resp, 200, type, bytes, len);
    ttdm_free(bytes);
}

/* A 1x1 PNG for every profile_image URL. */
static const unsigned char avatar_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
    0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f, 0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47,
    0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

/* --- E10 --- */

static void capabilities_get(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                             struct ttdm_http_response *resp)
{
    const char *business_id = ttdm_http_query(req, "business_id");
    const char *types_param = ttdm_http_query(req, "capability_types");
    const char *conversation_id = ttdm_http_query(req, "conversation_id");
    cJSON *types = NULL, *data = NULL;
    struct sim_account *acc = NULL;
    struct sim_conversation *conv = NULL;
    const cJSON *e;
    char msg[256];
    int code;

    if (types_param) {
        types = json_array_param(types_param);
        if (!types) {
            ttdm_sim_wire_envelope(resp, 40002,
                                   "Param capability_types must be a JSON array, e.g. "
                                   "[\"IMAGE_SEND\"].",
                                   NULL);
            return;
        }
    } else {
        types = cJSON_CreateArray();
        cJSON_AddItemToArray(types, cJSON_CreateString("IMAGE_SEND"));
    }
    cJSON_ArrayForEach(e, types)
    {
        if (strcmp(e->valuestring, "IMAGE_SEND") != 0) {
            cJSON_Delete(types);
            ttdm_sim_wire_envelope(resp, 40002, "Param capability_types: unknown capability.",
                                   NULL);
            return;
        }
    }
    pthread_mutex_lock(&sim->st.lock);
    code =
        authenticate(sim, req, "message.list.send", ttdm_sim_now_ms(sim), &acc, msg, sizeof(msg));
    if (!code)
        code = check_business(acc, business_id, msg, sizeof(msg));
    if (!code)
        code = find_conversation(sim, acc, "conversation_id", conversation_id, &conv, msg,
                                 sizeof(msg));
    if (!code) {
        /* R7 and R6 on both sides, exactly what message/send would judge. */
        bool image_ok = acc->origin_app &&
                        !ttdm_sim_rules_region_blocked(&sim->st.rules, acc->region) &&
                        !ttdm_sim_rules_region_blocked(&sim->st.rules, conv->customer->region);
        cJSON *infos;
        data = cJSON_CreateObject();
        infos = cJSON_AddArrayToObject(data, "capability_infos");
        cJSON_ArrayForEach(e, types)
        {
            cJSON *info = cJSON_CreateObject();
            cJSON_AddStringToObject(info, "capability_type", e->valuestring);
            cJSON_AddBoolToObject(info, "capability_result", image_ok);
            cJSON_AddItemToArray(infos, info);
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    cJSON_Delete(types);
    ttdm_sim_wire_envelope(resp, code, code ? msg : NULL, data);
}

/* --- E11, E12 --- */

static int by_updated_desc(const void *a, const void *b)
{
    const struct sim_conversation *x = *(const struct sim_conversation *const *)a;
    const struct sim_conversation *y = *(const struct sim_conversation *const *)b;
    return x->updated_ms < y->updated_ms ? 1 : x->updated_ms > y->updated_ms ? -1 : 0;
}

static void conversation_list(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                              struct ttdm_http_response *resp)
{
    const char *business_id = ttdm_http_query(req, "business_id");
    const char *type = ttdm_http_query(req, "conversation_type");
    const char *limit_s = ttdm_http_query(req, "limit");
    const char *cursor_s = ttdm_http_query(req, "cursor");
    int64_t limit = 100, cursor = 0, now;
    struct sim_account *acc = NULL;
    struct sim_conversation **list = NULL;
    size_t n = 0;
    cJSON *data = NULL;
    char msg[256];
    int code;

    if ((limit_s && ttdm_parse_i64(limit_s, (size_t)-1, 1, 100, &limit)) ||
        (cursor_s && ttdm_parse_i64(cursor_s, (size_t)-1, 0, INT32_MAX, &cursor))) {
        ttdm_sim_wire_envelope(resp, 40002, "Param limit must be 1-100 and cursor >= 0.", NULL);
        return;
    }
    if (!type || (strcmp(type, "STRANGER") != 0 && strcmp(type, "SINGLE") != 0)) {
        ttdm_sim_wire_envelope(resp, 40002, "Param conversation_type must be STRANGER or SINGLE.",
                               NULL);
        return;
    }
    pthread_mutex_lock(&sim->st.lock);
    now = ttdm_sim_now_ms(sim);
    code = authenticate(sim, req, "message.list.read", now, &acc, msg, sizeof(msg));
    if (!code)
        code = check_business(acc, business_id, msg, sizeof(msg));
    if (!code) {
        bool single = strcmp(type, "SINGLE") == 0;
        cJSON *arr;
        list = ttdm_calloc(sim->st.conversations.n + 1, sizeof(*list));
        for (size_t i = 0; i < sim->st.conversations.n; i++) {
            struct sim_conversation *c = sim->st.conversations.items[i];
            if (c->account == acc && c->customer_wrote && c->business_replied == single &&
                now - c->updated_ms < LIST_WINDOW_MS)
                list[n++] = c;
        }
        qsort(list, n, sizeof(*list), by_updated_desc);
        data = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(data, "conversations");
        for (size_t i = (size_t)cursor; i < n && i < (size_t)(cursor + limit); i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "conversation_id", list[i]->conversation_id);
            ttdm_json_add_i64(o, "update_time", list[i]->updated_ms);
            cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddBoolToObject(data, "has_more", (size_t)(cursor + limit) < n);
        ttdm_json_add_i64(data, "cursor",
                          (size_t)(cursor + limit) < n ? cursor + limit : (int64_t)n);
    }
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_free(list);
    ttdm_sim_wire_envelope(resp, code, code ? msg : NULL, data);
}

static int by_timestamp(const void *a, const void *b)
{
    const struct sim_message *x = *(const struct sim_message *const *)a;
    const struct sim_message *y = *(const struct sim_message *const *)b;
    return x->timestamp_ms < y->timestamp_ms ? -1 : x->timestamp_ms > y->timestamp_ms ? 1 : 0;
}

static cJSON *party(const char *role, const char *id)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "role", role);
    cJSON_AddStringToObject(o, "id", id);
    return o;
}

static cJSON *history_message(const struct sim_conversation *conv, const struct sim_message *m)
{
    const struct sim_account *acc = conv->account;
    const struct sim_customer *cu = conv->customer;
    cJSON *o = cJSON_CreateObject();
    char type[33];
    size_t i;

    for (i = 0; m->type[i] && i + 1 < sizeof(type); i++)
        type[i] = (m->type[i] >= 'a' && m->type[i] <= 'z') ? (char)(m->type[i] - 32) : m->type[i];
    type[i] = '\0';
    cJSON_AddStringToObject(o, "message_id", m->message_id);
    cJSON_AddStringToObject(o, "conversation_id", conv->conversation_id);
    cJSON_AddStringToObject(o, "sender", m->inbound ? cu->username : acc->username);
    cJSON_AddStringToObject(o, "recipient", m->inbound ? acc->username : cu->username);
    ttdm_json_add_i64(o, "timestamp", m->timestamp_ms);
    cJSON_AddStringToObject(o, "message_type", type);
    if (m->text)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "text"), "body", m->text);
    if (m->media_id[0])
        cJSON_AddStringToObject(
            cJSON_AddObjectToObject(o, strcmp(m->type, "video") == 0 ? "video" : "image"),
            "media_id", m->media_id);
    cJSON_AddItemToObject(o, "from_user",
                          m->inbound ? party("PERSONAL_ACCOUNT", cu->customer_id)
                                     : party("BUSINESS_ACCOUNT", acc->business_id));
    cJSON_AddItemToObject(o, "to_user",
                          m->inbound ? party("BUSINESS_ACCOUNT", acc->business_id)
                                     : party("PERSONAL_ACCOUNT", cu->customer_id));
    if (!m->inbound)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "message_tag"), "source", m->source);
    return o;
}

static void content_list(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp)
{
    const char *business_id = ttdm_http_query(req, "business_id");
    const char *conversation_id = ttdm_http_query(req, "conversation_id");
    struct sim_account *acc = NULL;
    struct sim_conversation *conv = NULL;
    cJSON *data = NULL;
    char msg[256];
    int code;

    pthread_mutex_lock(&sim->st.lock);
    code =
        authenticate(sim, req, "message.list.read", ttdm_sim_now_ms(sim), &acc, msg, sizeof(msg));
    if (!code)
        code = check_business(acc, business_id, msg, sizeof(msg));
    if (!code)
        code = find_conversation(sim, acc, "conversation_id", conversation_id, &conv, msg,
                                 sizeof(msg));
    if (!code) {
        size_t n = conv->messages.n, start;
        struct sim_message **sorted = ttdm_calloc(n + 1, sizeof(*sorted));
        cJSON *msgs, *parts, *p;
        char url[512];

        memcpy(sorted, conv->messages.items, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), by_timestamp);
        data = cJSON_CreateObject();
        msgs = cJSON_AddArrayToObject(data, "messages");
        /* TikTok gives the 20 most recent, without paging. */
        start = n > HISTORY_MAX ? n - HISTORY_MAX : 0;
        for (size_t i = start; i < n; i++)
            cJSON_AddItemToArray(msgs, history_message(conv, sorted[i]));
        ttdm_free(sorted);
        parts = cJSON_AddArrayToObject(data, "participants");
        p = party("BUSINESS_ACCOUNT", acc->business_id);
        cJSON_AddStringToObject(p, "display_name", acc->display_name);
        profile_image_url(sim, acc->business_id, url, sizeof(url));
        cJSON_AddStringToObject(p, "profile_image", url);
        cJSON_AddItemToArray(parts, p);
        p = party("PERSONAL_ACCOUNT", conv->customer->customer_id);
        cJSON_AddStringToObject(p, "display_name", conv->customer->display_name);
        profile_image_url(sim, conv->customer->customer_id, url, sizeof(url));
        cJSON_AddStringToObject(p, "profile_image", url);
        cJSON_AddBoolToObject(p, "is_follower", 0);
        cJSON_AddItemToArray(parts, p);
    }
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_sim_wire_envelope(resp, code, code ? msg : NULL, data);
}

/* --- E13, E14, E15 --- */

static bool app_credentials_ok(struct ttdm_sim *sim, const char *app_id, const char *secret)
{
    return app_id && secret && strcmp(app_id, sim->cfg.app_id) == 0 &&
           ttdm_const_eq(secret, strlen(secret), sim->cfg.app_secret, strlen(sim->cfg.app_secret));
}

static cJSON *subscription_json(struct ttdm_sim *sim)
{
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "app_id", sim->cfg.app_id);
    cJSON_AddStringToObject(data, "event_type", "DIRECT_MESSAGE");
    cJSON_AddStringToObject(data, "callback_url", sim->st.callback_url);
    return data;
}

static void webhook_change(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                           struct ttdm_http_response *resp, bool delete)
{
    char err[160], msg[256];
    cJSON *body = ttdm_sim_wire_body_object(req, err, sizeof(err));
    const char *app_id = NULL, *secret = NULL, *event_type = NULL, *url = NULL;
    cJSON *data = NULL;
    int code = 0;

    if (!body) {
        snprintf(msg, sizeof(msg), "Invalid request body: %s.", err);
        ttdm_sim_wire_envelope(resp, 40002, msg, NULL);
        return;
    }
    ttdm_json_get_str(body, "app_id", 256, &app_id);
    ttdm_json_get_str(body, "secret", 256, &secret);
    ttdm_json_get_str(body, "event_type", 64, &event_type);
    ttdm_json_get_str(body, "callback_url", 1023, &url);
    if (!app_credentials_ok(sim, app_id, secret)) {
        snprintf(msg, sizeof(msg), "Invalid app_id or secret.");
        code = 40101;
    } else if (!event_type || strcmp(event_type, "DIRECT_MESSAGE") != 0) {
        snprintf(msg, sizeof(msg), "Param event_type must be DIRECT_MESSAGE.");
        code = 40002;
    } else if (!delete &&(!url || (!ttdm_starts_with(url, "http://") &&
                                   !ttdm_starts_with(url, "https://")))) {
        snprintf(msg, sizeof(msg), "Param callback_url must be an http(s) URL.");
        code = 40002;
    }
    if (!code) {
        pthread_mutex_lock(&sim->st.lock);
        ttdm_strlcpy(sim->st.callback_url, delete ? "" : url, sizeof(sim->st.callback_url));
        data = subscription_json(sim);
        pthread_mutex_unlock(&sim->st.lock);
        LOG_INFO("sim", "webhook callback %s", delete ? "deleted" : "updated");
    }
    cJSON_Delete(body);
    ttdm_sim_wire_envelope(resp, code, code ? msg : NULL, data);
}

static void webhook_update(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                           struct ttdm_http_response *resp)
{
    webhook_change(sim, req, resp, false);
}

static void webhook_delete(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                           struct ttdm_http_response *resp)
{
    webhook_change(sim, req, resp, true);
}

static void webhook_list(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp)
{
    const char *event_type = ttdm_http_query(req, "event_type");
    cJSON *data;
    if (!app_credentials_ok(sim, ttdm_http_query(req, "app_id"), ttdm_http_query(req, "secret"))) {
        ttdm_sim_wire_envelope(resp, 40101, "Invalid app_id or secret.", NULL);
        return;
    }
    if (event_type && strcmp(event_type, "DIRECT_MESSAGE") != 0) {
        ttdm_sim_wire_envelope(resp, 40002, "Param event_type must be DIRECT_MESSAGE.", NULL);
        return;
    }
    pthread_mutex_lock(&sim->st.lock);
    data = subscription_json(sim);
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_sim_wire_envelope(resp, 0, NULL, data);
}

/* --- routing and faults --- */

static const struct api_route routes[] = {
    {"POST", "tt_user/oauth2/token/", "token", NULL, ttdm_sim_oauth_token},
    {"POST", "tt_user/oauth2/refresh_token/", "refresh_token", "token", ttdm_sim_oauth_refresh},
    {"POST", "tt_user/oauth2/revoke/", "revoke", NULL, ttdm_sim_oauth_revoke},
    {"POST", "tt_user/token_info/get/", "token_info", NULL, ttdm_sim_oauth_token_info},
    {"GET", "business/get/", "business/get", NULL, business_get},
    {"POST", "business/message/send/", "message/send", NULL, message_send},
    {"POST", "business/message/media/upload/", "media/upload", NULL, media_upload},
    {"POST", "business/message/media/download/", "media/download", NULL, media_download},
    {"GET", "business/message/capabilities/get/", "capabilities/get", NULL, capabilities_get},
    {"GET", "business/message/conversation/list/", "conversation/list", NULL, conversation_list},
    {"GET", "business/message/content/list/", "content/list", NULL, content_list},
    {"POST", "business/webhook/update/", "webhook/update", NULL, webhook_update},
    {"GET", "business/webhook/list/", "webhook/list", NULL, webhook_list},
    {"POST", "business/webhook/delete/", "webhook/delete", NULL, webhook_delete},
};

static const char *fault_message(int64_t code)
{
    switch (code) {
    case 40064:
        return "You are sending messages too fast. Take a rest.";
    case 40100:
        return "Too many requests. Please retry in some time.";
    case 40102:
        return "the access token has expired";
    case 40105:
        return "Access token is incorrect or has been revoked.";
    case 50000:
    case 50002:
    case 51065:
        return "System error, please retry.";
    default:
        return "Injected fault.";
    }
}

/* Counts the call in the statistics, then applies the next fault queued for this endpoint
 * (one lock for both). True when the fault produced the response. */
static bool count_and_apply_fault(struct ttdm_sim *sim, const struct api_route *r,
                                  const struct ttdm_http_request *req,
                                  struct ttdm_http_response *resp)
{
    struct sim_fault f;
    bool found;
    int64_t code;

    pthread_mutex_lock(&sim->st.lock);
    if (req->on_event_thread && sim->st.faults.n > 0) {
        /* A fault may sleep: not on the event thread. The worker counts the call. */
        pthread_mutex_unlock(&sim->st.lock);
        ttdm_http_to_worker(resp);
        return true;
    }
    ttdm_sim_state_count(sim->st.stats.api_calls, r->endpoint);
    found = ttdm_sim_state_fault_take(&sim->st, r->endpoint, &f) ||
            (r->alias && ttdm_sim_state_fault_take(&sim->st, r->alias, &f));
    pthread_mutex_unlock(&sim->st.lock);
    if (!found)
        return false;
    LOG_INFO("sim", "fault %" PRId64 " (%s) injected on %s", f.id, f.kind, r->endpoint);
    if (strcmp(f.kind, "timeout") == 0) {
        int64_t delay = f.delay_ms > 0 ? f.delay_ms : 30000;
        /* With process the call takes effect and only the answer is late: the uncertain
         * outcome a client must not resend blindly. */
        if (f.process) {
            r->fn(sim, req, resp);
            ttdm_sim_sleep_ms(sim, delay);
            return true;
        }
        ttdm_sim_sleep_ms(sim, delay);
        ttdm_http_resp_bytes(resp, 500, "text/plain; charset=utf-8", "injected timeout\n", 17);
        return true;
    }
    if (f.delay_ms > 0)
        ttdm_sim_sleep_ms(sim, f.delay_ms);
    if (strcmp(f.kind, "delay") == 0)
        return false;
    if (ttdm_starts_with(f.kind, "http_") &&
        ttdm_parse_i64(f.kind + 5, (size_t)-1, 100, 599, &code) == 0) {
        ttdm_http_resp_bytes(resp, (int)code, "text/plain; charset=utf-8", "injected fault\n", 15);
        return true;
    }
    if (ttdm_parse_i64(f.kind, (size_t)-1, 1, 99999, &code) == 0) {
        ttdm_sim_wire_envelope(resp, (int)code, fault_message(code), NULL);
        return true;
    }
    return false;
}

bool ttdm_sim_api_is_inline(const char *method, const char *path)
{
    return strcmp(method, "POST") == 0 && ttdm_starts_with(path, API_PREFIX) &&
           strcmp(path + strlen(API_PREFIX), "business/message/send/") == 0;
}

bool ttdm_sim_api_endpoint_known(const char *name)
{
    if (strcmp(name, "*") == 0 || strcmp(name, "media") == 0)
        return true;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(name, routes[i].endpoint) == 0)
            return true;
    return false;
}

bool ttdm_sim_api_handle(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp)
{
    const char *path = req->path;

    if (ttdm_starts_with(path, API_PREFIX)) {
        const char *rest = path + strlen(API_PREFIX);
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
            const struct api_route *r = &routes[i];
            if (strcmp(rest, r->path) != 0)
                continue;
            if (strcmp(req->method, r->method) != 0) {
                ttdm_http_resp_bytes(resp, 405, "text/plain; charset=utf-8", "method not allowed\n",
                                     19);
                ttdm_http_resp_header(resp, "Allow", r->method);
                return true;
            }
            if (!count_and_apply_fault(sim, r, req, resp))
                r->fn(sim, req, resp);
            return true;
        }
        return false;
    }
    if (ttdm_starts_with(path, "/media/") && strcmp(req->method, "GET") == 0) {
        static const struct api_route media_route = {"GET", "", "media", NULL, media_get};
        const char *id = path + strlen("/media/");
        if (!*id || strchr(id, '/'))
            return false;
        if (!count_and_apply_fault(sim, &media_route, req, resp))
            media_get(sim, req, resp);
        return true;
    }
    if (ttdm_starts_with(path, "/avatar/") && strcmp(req->method, "GET") == 0) {
        ttdm_http_resp_bytes(resp, 200, "image/png", avatar_png, sizeof(avatar_png));
        return true;
    }
    return false;
}
