/* sim_control.c -- the control API under /sim/: scripts accounts, customers, tokens, the
 * clock and faults, and shows what the simulator holds (for tests, the demo, benchmarks). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim_internal.h"
#include "sim_webhook.h"
#include "sim_wire.h"
#include "util/alloc.h"
#include "util/httpc.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_SEGMENTS 4
#define SEGMENT_MAX 256
#define MAX_DELIVERIES 100
#define JS_MAX_MS 9007199254740992LL

struct route {
    const char *seg[MAX_SEGMENTS];
    size_t n;
    char buf[MAX_SEGMENTS][SEGMENT_MAX];
};

/* Splits "/sim/a/b/c" into {"a","b","c"}. False when there are too many or too long. */
static bool split_path(const char *path, struct route *r)
{
    const char *p = path + strlen("/sim");
    memset(r, 0, sizeof(*r));
    while (*p == '/')
        p++;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (r->n == MAX_SEGMENTS || n >= SEGMENT_MAX)
            return false;
        memcpy(r->buf[r->n], p, n);
        r->buf[r->n][n] = '\0';
        r->seg[r->n] = r->buf[r->n];
        r->n++;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

static bool is(const struct route *r, size_t n, const char *s0, const char *s2)
{
    if (r->n != n || strcmp(r->seg[0], s0) != 0)
        return false;
    return !s2 || (n > 2 && strcmp(r->seg[2], s2) == 0);
}

/* Usernames and given ids: letters, digits, '.', '_' and '-'. */
static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool type_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return false;
    return true;
}

static cJSON *parse_body(const struct ttdm_http_request *req, struct ttdm_http_response *resp)
{
    char err[160];
    cJSON *body = ttdm_sim_wire_body_object(req, err, sizeof(err));
    if (!body)
        ttdm_sim_wire_error(resp, 400, "bad_request", "Invalid JSON body: %s.", err);
    return body;
}

/* region member: absent -> def, else normalised; false (and 400 written) when invalid. */
static bool get_region(const cJSON *body, const char *def, char out[3],
                       struct ttdm_http_response *resp)
{
    const char *s = NULL;
    int rc = ttdm_json_get_str(body, "region", 8, &s);
    if (rc == 1) {
        ttdm_strlcpy(out, def, 3);
        return true;
    }
    if (rc < 0 || ttdm_sim_rules_region_normalize(s, out)) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "region must be an ISO 3166 alpha-2 code such as \"SG\".");
        return false;
    }
    return true;
}

/* origin member: -1 absent, 1 app, 0 web; -2 (and 400 written) when invalid. */
static int get_origin(const cJSON *body, struct ttdm_http_response *resp)
{
    const char *s = NULL;
    int rc = ttdm_json_get_str(body, "origin", 8, &s);
    if (rc == 1)
        return -1;
    if (rc == 0 && strcmp(s, "app") == 0)
        return 1;
    if (rc == 0 && strcmp(s, "web") == 0)
        return 0;
    ttdm_sim_wire_error(resp, 400, "bad_request", "origin must be \"app\" or \"web\".");
    return -2;
}

static bool get_deliveries(const cJSON *body, int64_t *n, enum sim_signature *sig,
                           struct ttdm_http_response *resp)
{
    const char *s = NULL;
    *n = 1;
    if (ttdm_json_get_i64(body, "deliveries", 0, MAX_DELIVERIES, n) < 0) {
        ttdm_sim_wire_error(resp, 400, "bad_request", "deliveries must be 0 to %d.",
                            MAX_DELIVERIES);
        return false;
    }
    if (ttdm_json_get_str(body, "signature", 16, &s) < 0 ||
        ttdm_sim_webhook_signature_parse(s, sig)) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "signature must be \"valid\", \"bad\" or \"stale\".");
        return false;
    }
    return true;
}

/* Makes the first attempt of each delivery (lock NOT held) and adds the statuses to out. */
static void deliver_all(struct ttdm_sim *sim, const int64_t *ids, int64_t n, cJSON *out)
{
    cJSON *arr = cJSON_AddArrayToObject(out, "delivery_statuses");
    struct ttdm_httpc *c = n > 0 ? ttdm_httpc_new() : NULL;
    long first = 0;
    for (int64_t i = 0; i < n; i++) {
        long status = ttdm_sim_webhook_deliver_now(sim->hooks, ids[i], c);
        if (i == 0)
            first = status;
        cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)status));
    }
    ttdm_httpc_free(c);
    cJSON_AddNumberToObject(out, "delivery_status", (double)first);
}

/* --- accounts --- */

static void accounts_create(struct ttdm_sim *sim, const cJSON *body,
                            struct ttdm_http_response *resp)
{
    struct sim_account_spec spec;
    const char *username = NULL, *display = NULL, *bid = NULL;
    char region[3], err[256];
    int64_t limit = 0;
    int origin;
    cJSON *out;

    memset(&spec, 0, sizeof(spec));
    if (ttdm_json_get_str(body, "username", SIM_NAME_MAX - 1, &username) != 0 ||
        !name_ok(username, SIM_NAME_MAX - 1)) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "username is required: 1 to 64 letters, digits, '.', '_' or '-'.");
        return;
    }
    if (ttdm_json_get_str(body, "display_name", SIM_DISPLAY_MAX - 1, &display) < 0) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "display_name must be a string of at "
                            "most 128 bytes.");
        return;
    }
    if (ttdm_json_get_str(body, "business_id", SIM_ID_MAX - 1, &bid) < 0 ||
        (bid && !name_ok(bid, SIM_ID_MAX - 1))) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "business_id must be letters, digits, '.', '_' or '-'.");
        return;
    }
    if (ttdm_json_get_i64(body, "daily_limit", 1, 10000000, &limit) < 0) {
        ttdm_sim_wire_error(resp, 400, "bad_request", "daily_limit must be 1 to 10000000.");
        return;
    }
    if (!get_region(body, "SG", region, resp) || (origin = get_origin(body, resp)) == -2)
        return;
    spec.username = username;
    spec.display_name = display;
    spec.business_id = bid;
    spec.region = region;
    spec.origin_app = origin;
    spec.daily_limit = limit;
    pthread_mutex_lock(&sim->st.lock);
    out = ttdm_sim_account_create_json(sim, &spec, err, sizeof(err));
    pthread_mutex_unlock(&sim->st.lock);
    if (!out) {
        ttdm_sim_wire_error(resp, 409, "conflict", "%s", err);
        return;
    }
    LOG_INFO("sim", "account %s created", username);
    ttdm_http_resp_json(resp, 200, out);
}

static void accounts_list(struct ttdm_sim *sim, struct ttdm_http_response *resp)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out, "accounts");
    pthread_mutex_lock(&sim->st.lock);
    for (size_t i = 0; i < sim->st.accounts.n; i++)
        cJSON_AddItemToArray(arr, ttdm_sim_state_account_json(&sim->st, sim->st.accounts.items[i],
                                                              ttdm_sim_now_ms(sim)));
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_http_resp_json(resp, 200, out);
}

static void account_get_or_update(struct ttdm_sim *sim, const char *bid, const cJSON *body,
                                  struct ttdm_http_response *resp)
{
    char region[3] = "";
    const char *display = NULL;
    int64_t limit = 0;
    int origin = -1;
    cJSON *out = NULL;

    if (body) {
        if (ttdm_json_get_i64(body, "daily_limit", 1, 10000000, &limit) < 0) {
            ttdm_sim_wire_error(resp, 400, "bad_request", "daily_limit must be 1 to 10000000.");
            return;
        }
        if (ttdm_json_get_str(body, "display_name", SIM_DISPLAY_MAX - 1, &display) < 0) {
            ttdm_sim_wire_error(resp, 400, "bad_request", "display_name must be a string.");
            return;
        }
        if (!get_region(body, "", region, resp) || (origin = get_origin(body, resp)) == -2)
            return;
    }
    pthread_mutex_lock(&sim->st.lock);
    {
        struct sim_account *acc = ttdm_sim_state_account_find(&sim->st, bid);
        if (acc) {
            if (region[0])
                memcpy(acc->region, region, 3);
            if (origin >= 0)
                acc->origin_app = origin == 1;
            if (limit > 0)
                acc->daily_limit = limit;
            if (display)
                ttdm_strlcpy(acc->display_name, display, sizeof(acc->display_name));
            out = ttdm_sim_state_account_json(&sim->st, acc, ttdm_sim_now_ms(sim));
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    if (!out) {
        ttdm_sim_wire_error(resp, 404, "not_found", "No account with business_id %s.", bid);
        return;
    }
    ttdm_http_resp_json(resp, 200, out);
}

static void account_expire_token(struct ttdm_sim *sim, const char *bid, const cJSON *body,
                                 struct ttdm_http_response *resp)
{
    const char *which = "access";
    bool access, refresh, found = false;
    cJSON *out;

    if (ttdm_json_get_str(body, "which", 16, &which) < 0 ||
        (strcmp(which, "access") != 0 && strcmp(which, "refresh") != 0 &&
         strcmp(which, "both") != 0)) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "which must be \"access\", \"refresh\" or \"both\".");
        return;
    }
    access = strcmp(which, "refresh") != 0;
    refresh = strcmp(which, "access") != 0;
    pthread_mutex_lock(&sim->st.lock);
    {
        struct sim_account *acc = ttdm_sim_state_account_find(&sim->st, bid);
        if (acc) {
            found = true;
            ttdm_sim_state_tokens_expire(&sim->st, acc, access, refresh, ttdm_sim_now_ms(sim));
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    if (!found) {
        ttdm_sim_wire_error(resp, 404, "not_found", "No account with business_id %s.", bid);
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "business_id", bid);
    cJSON_AddStringToObject(out, "expired", which);
    ttdm_http_resp_json(resp, 200, out);
}

static void account_tokens(struct ttdm_sim *sim, const char *bid, struct ttdm_http_response *resp)
{
    cJSON *out = NULL;
    pthread_mutex_lock(&sim->st.lock);
    {
        struct sim_account *acc = ttdm_sim_state_account_find(&sim->st, bid);
        if (acc) {
            struct sim_token *a, *r;
            ttdm_sim_state_tokens_grant(&sim->st, acc, NULL, ttdm_sim_now_ms(sim), &a, &r);
            out = cJSON_CreateObject();
            cJSON_AddStringToObject(out, "business_id", bid);
            cJSON_AddStringToObject(out, "access_token", a->value);
            cJSON_AddStringToObject(out, "refresh_token", r->value);
            ttdm_json_add_i64(out, "expires_in", sim->cfg.access_token_ttl_s);
            ttdm_json_add_i64(out, "refresh_token_expires_in", sim->cfg.refresh_token_ttl_s);
            cJSON_AddStringToObject(out, "scope", a->scope);
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    if (!out) {
        ttdm_sim_wire_error(resp, 404, "not_found", "No account with business_id %s.", bid);
        return;
    }
    ttdm_http_resp_json(resp, 200, out);
}

/* Decodes image_base64 and checks it like TikTok checks an upload (R5). NULL with the
 * response written when it is not acceptable. */
static unsigned char *decode_image(struct ttdm_sim *sim, const char *b64, size_t *len,
                                   const char **type, struct ttdm_http_response *resp)
{
    unsigned char *bytes =
        ttdm_sim_wire_base64_decode(b64, strlen(b64), (size_t)sim->cfg.image_max_bytes, len);
    if (!bytes) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "image_base64 must be base64 of at most %" PRId64 " bytes.",
                            sim->cfg.image_max_bytes);
        return NULL;
    }
    *type = ttdm_sim_rules_image_type(bytes, *len);
    if (!*type) {
        ttdm_free(bytes);
        ttdm_sim_wire_error(resp, 400, "bad_request", "image_base64 must be a JPEG or PNG image.");
        return NULL;
    }
    return bytes;
}

static void account_app_message(struct ttdm_sim *sim, const char *bid, const cJSON *body,
                                struct ttdm_http_response *resp)
{
    const char *conv_id = NULL, *text = NULL, *b64 = NULL, *type = NULL;
    unsigned char *bytes = NULL;
    size_t len = 0;
    int64_t n_deliveries, ids[MAX_DELIVERIES];
    enum sim_signature sig;
    char msg[512], message_id[SIM_ID_MAX] = "";
    int64_t ts = 0;
    int code = 0, status = 0;
    const char *err_code = NULL;
    cJSON *out;

    if (ttdm_json_get_str(body, "conversation_id", SIM_ID_MAX - 1, &conv_id) != 0 ||
        ttdm_json_get_str(body, "text", SIZE_MAX, &text) < 0 ||
        ttdm_json_get_str(body, "image_base64", SIZE_MAX, &b64) < 0 || (!text == !b64)) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "conversation_id and exactly one of text or image_base64 are "
                            "required.");
        return;
    }
    if (!get_deliveries(body, &n_deliveries, &sig, resp))
        return;
    if (text) {
        size_t chars = ttdm_sim_rules_code_points(text, strlen(text));
        if (chars == 0 || (int64_t)chars > sim->cfg.text_max_chars) {
            ttdm_sim_wire_error(resp, 422, "40002",
                                "text must have 1 to %" PRId64 " characters (it has %zu).",
                                sim->cfg.text_max_chars, chars);
            return;
        }
    } else if (!(bytes = decode_image(sim, b64, &len, &type, resp))) {
        return;
    }

    pthread_mutex_lock(&sim->st.lock);
    {
        int64_t now = ttdm_sim_now_ms(sim);
        struct sim_account *acc = ttdm_sim_state_account_find(&sim->st, bid);
        struct sim_conversation *conv = ttdm_sim_state_conversation_find(&sim->st, conv_id);
        if (!acc) {
            status = 404;
            err_code = "not_found";
            snprintf(msg, sizeof(msg), "No account with business_id %s.", bid);
        } else if (!conv || conv->account != acc) {
            status = 404;
            err_code = "not_found";
            snprintf(msg, sizeof(msg), "No conversation %s for this account.", conv_id);
        } else {
            struct sim_outbound ob = {.image = bytes != NULL, .text = text, .source = "APP"};
            struct sim_message *m = NULL;
            if (bytes) {
                ob.media_id =
                    ttdm_sim_state_media_add(&sim->st, acc, NULL, bytes, len, type, now)->media_id;
                bytes = NULL;
            }
            code = ttdm_sim_state_business_send(&sim->st, conv, &ob, now, &m, msg, sizeof(msg));
            if (!code) {
                ttdm_strlcpy(message_id, m->message_id, sizeof(message_id));
                ts = m->timestamp_ms;
                for (int64_t i = 0; i < n_deliveries; i++)
                    ids[i] = ttdm_sim_webhook_create(
                        sim->hooks, "im_send_msg", acc->business_id, conv->conversation_id,
                        m->message_id, ttdm_sim_state_message_content(conv, m), sig, false);
            }
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_free(bytes);
    if (status) {
        ttdm_sim_wire_error(resp, status, err_code, "%s", msg);
        return;
    }
    if (code) {
        /* The same refusal TikTok's app would show; the code is also given as a number. */
        char code_s[16];
        cJSON *extra = cJSON_CreateObject();
        snprintf(code_s, sizeof(code_s), "%d", code);
        cJSON_AddNumberToObject(extra, "tiktok_code", code);
        ttdm_http_resp_error(resp, 422, code_s, msg, extra);
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "message_id", message_id);
    cJSON_AddStringToObject(out, "conversation_id", conv_id);
    ttdm_json_add_i64(out, "timestamp_ms", ts);
    deliver_all(sim, ids, n_deliveries, out);
    ttdm_http_resp_json(resp, 200, out);
}

/* --- customers --- */

static cJSON *customer_json(const struct sim_customer *cu)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "customer_id", cu->customer_id);
    cJSON_AddStringToObject(o, "conversation_id", cu->conv->conversation_id);
    cJSON_AddStringToObject(o, "business_id", cu->account->business_id);
    cJSON_AddStringToObject(o, "username", cu->username);
    cJSON_AddStringToObject(o, "display_name", cu->display_name);
    cJSON_AddStringToObject(o, "region", cu->region);
    return o;
}

static void customers_create(struct ttdm_sim *sim, const cJSON *body,
                             struct ttdm_http_response *resp)
{
    const char *bid = NULL, *username = NULL, *display = NULL;
    char region[3];
    cJSON *out = NULL;

    if (ttdm_json_get_str(body, "business_id", SIM_ID_MAX - 1, &bid) != 0) {
        ttdm_sim_wire_error(resp, 400, "bad_request", "business_id is required.");
        return;
    }
    if (ttdm_json_get_str(body, "username", SIM_NAME_MAX - 1, &username) < 0 ||
        (username && !name_ok(username, SIM_NAME_MAX - 1))) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "username must be 1 to 64 letters, digits, '.', '_' or '-'.");
        return;
    }
    if (ttdm_json_get_str(body, "display_name", SIM_DISPLAY_MAX - 1, &display) < 0) {
        ttdm_sim_wire_error(resp, 400, "bad_request", "display_name must be a string.");
        return;
    }
    if (!get_region(body, "SG", region, resp))
        return;
    pthread_mutex_lock(&sim->st.lock);
    {
        struct sim_account *acc = ttdm_sim_state_account_find(&sim->st, bid);
        if (acc)
            out = customer_json(ttdm_sim_state_customer_create(&sim->st, acc, username, display,
                                                               region, ttdm_sim_now_ms(sim)));
    }
    pthread_mutex_unlock(&sim->st.lock);
    if (!out) {
        ttdm_sim_wire_error(resp, 404, "not_found", "No account with business_id %s.", bid);
        return;
    }
    ttdm_http_resp_json(resp, 200, out);
}

static void customers_list(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                           struct ttdm_http_response *resp)
{
    const char *bid = ttdm_http_query(req, "business_id");
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out, "customers");
    pthread_mutex_lock(&sim->st.lock);
    for (size_t i = 0; i < sim->st.customers.n; i++) {
        const struct sim_customer *cu = sim->st.customers.items[i];
        if (!bid || strcmp(bid, cu->account->business_id) == 0)
            cJSON_AddItemToArray(arr, customer_json(cu));
    }
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_http_resp_json(resp, 200, out);
}

/* Content extras for the types that carry more than text or an image. */
static cJSON *default_extra(struct ttdm_sim *sim, const char *type, const cJSON *body,
                            uint64_t salt)
{
    cJSON *extra = NULL;
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(body, "extra");
    char url[512], video_id[32];

    if (cJSON_IsObject(given))
        extra = cJSON_Duplicate(given, 1);
    if (strcmp(type, "share_post") == 0) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(body, "share_post");
        cJSON *o;
        if (!extra)
            extra = cJSON_CreateObject();
        if (cJSON_IsObject(sp)) {
            cJSON_AddItemToObject(extra, "share_post", cJSON_Duplicate(sp, 1));
        } else {
            snprintf(video_id, sizeof(video_id), "%" PRIu64,
                     (uint64_t)(7100000000000000000ULL + salt % 100000000000000000ULL));
            snprintf(url, sizeof(url), "https://www.tiktok.com/embed/v2/%s", video_id);
            o = cJSON_AddObjectToObject(extra, "share_post");
            cJSON_AddStringToObject(o, "embed_url", url);
            cJSON_AddStringToObject(o, "video_id", video_id);
        }
    } else if ((strcmp(type, "sticker") == 0 || strcmp(type, "emoji") == 0) &&
               !(extra && cJSON_GetObjectItemCaseSensitive(extra, type))) {
        if (!extra)
            extra = cJSON_CreateObject();
        snprintf(url, sizeof(url), "%s/avatar/%s-%" PRIu64 ".png", sim->public_url, type, salt);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(extra, type), "url", url);
    }
    return extra;
}

static void customer_message(struct ttdm_sim *sim, const char *cid, const cJSON *body,
                             struct ttdm_http_response *resp)
{
    const char *type = "text", *text = NULL, *b64 = NULL, *img_type = NULL;
    unsigned char *bytes = NULL;
    size_t len = 0;
    int64_t ts = 0, n_deliveries, ids[MAX_DELIVERIES];
    enum sim_signature sig;
    bool has_ts;
    char msg[256], message_id[SIM_ID_MAX] = "", conv_id[SIM_ID_MAX] = "", bid[SIM_ID_MAX] = "",
                   media_id[SIM_ID_MAX] = "";
    int status = 0;
    const char *err_code = NULL;
    cJSON *extra, *out;

    if (ttdm_json_get_str(body, "type", 32, &type) < 0 || !type_ok(type)) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "type must be a webhook type such as text, image or share_post.");
        return;
    }
    if (ttdm_json_get_str(body, "text", SIZE_MAX, &text) < 0 ||
        ttdm_json_get_str(body, "image_base64", SIZE_MAX, &b64) < 0) {
        ttdm_sim_wire_error(resp, 400, "bad_request", "text and image_base64 must be strings.");
        return;
    }
    has_ts = ttdm_json_get_i64(body, "timestamp_ms", 1, JS_MAX_MS, &ts) == 0;
    if (!has_ts && cJSON_GetObjectItemCaseSensitive(body, "timestamp_ms") &&
        !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(body, "timestamp_ms"))) {
        ttdm_sim_wire_error(resp, 400, "bad_request", "timestamp_ms must be a positive integer.");
        return;
    }
    if (!get_deliveries(body, &n_deliveries, &sig, resp))
        return;
    if (strcmp(type, "text") == 0) {
        size_t chars = text ? ttdm_sim_rules_code_points(text, strlen(text)) : 0;
        if (chars == 0 || (int64_t)chars > sim->cfg.text_max_chars) {
            ttdm_sim_wire_error(resp, 400, "bad_request",
                                "type text needs text of 1 to %" PRId64 " characters.",
                                sim->cfg.text_max_chars);
            return;
        }
    } else {
        text = NULL;
    }
    if (strcmp(type, "image") == 0) {
        if (!b64) {
            ttdm_sim_wire_error(resp, 400, "bad_request", "type image needs image_base64.");
            return;
        }
        if (!(bytes = decode_image(sim, b64, &len, &img_type, resp)))
            return;
    } else if (strcmp(type, "video") == 0) {
        static const char placeholder[] = "ttdm-sim placeholder video";
        bytes = ttdm_malloc(sizeof(placeholder) - 1);
        memcpy(bytes, placeholder, sizeof(placeholder) - 1);
        len = sizeof(placeholder) - 1;
        img_type = "video/mp4";
    }

    pthread_mutex_lock(&sim->st.lock);
    {
        int64_t now = ttdm_sim_now_ms(sim);
        struct sim_customer *cu = ttdm_sim_state_customer_find(&sim->st, cid);
        if (!cu) {
            status = 404;
            err_code = "not_found";
            snprintf(msg, sizeof(msg), "No customer %s.", cid);
        } else if (strcmp(type, "image") == 0 &&
                   (ttdm_sim_rules_region_blocked(&sim->st.rules, cu->region) ||
                    ttdm_sim_rules_region_blocked(&sim->st.rules, cu->account->region))) {
            /* R6 holds both ways: the TikTok app would not let this image through. */
            status = 422;
            err_code = "image_region_unsupported";
            snprintf(msg, sizeof(msg),
                     "TikTok does not carry DM images between region %s (customer) and region "
                     "%s (business).",
                     cu->region, cu->account->region);
        } else {
            struct sim_conversation *conv = cu->conv;
            struct sim_message *m;
            if (bytes) {
                struct sim_media *media = ttdm_sim_state_media_add(&sim->st, cu->account, conv,
                                                                   bytes, len, img_type, now);
                bytes = NULL;
                ttdm_strlcpy(media_id, media->media_id, sizeof(media_id));
            }
            extra = default_extra(sim, type, body, sim->st.next_message_id);
            m = ttdm_sim_state_record_inbound(&sim->st, conv, type, text,
                                              media_id[0] ? media_id : NULL, extra,
                                              has_ts ? ts : now);
            ttdm_strlcpy(message_id, m->message_id, sizeof(message_id));
            ttdm_strlcpy(conv_id, conv->conversation_id, sizeof(conv_id));
            ttdm_strlcpy(bid, cu->account->business_id, sizeof(bid));
            ts = m->timestamp_ms;
            for (int64_t i = 0; i < n_deliveries; i++)
                ids[i] =
                    ttdm_sim_webhook_create(sim->hooks, "im_receive_msg", bid, conv_id, message_id,
                                            ttdm_sim_state_message_content(conv, m), sig, false);
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_free(bytes);
    if (status) {
        ttdm_sim_wire_error(resp, status, err_code, "%s", msg);
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "message_id", message_id);
    cJSON_AddStringToObject(out, "conversation_id", conv_id);
    cJSON_AddStringToObject(out, "customer_id", cid);
    cJSON_AddStringToObject(out, "business_id", bid);
    ttdm_json_add_i64(out, "timestamp_ms", ts);
    if (media_id[0])
        cJSON_AddStringToObject(out, "media_id", media_id);
    deliver_all(sim, ids, n_deliveries, out);
    ttdm_http_resp_json(resp, 200, out);
}

static void customer_read(struct ttdm_sim *sim, const char *cid, const cJSON *body,
                          struct ttdm_http_response *resp)
{
    int64_t read_ms = 0, n_deliveries, ids[MAX_DELIVERIES];
    enum sim_signature sig;
    char conv_id[SIM_ID_MAX] = "";
    bool found = false;
    cJSON *out;

    if (ttdm_json_get_i64(body, "timestamp_ms", 1, JS_MAX_MS, &read_ms) < 0) {
        ttdm_sim_wire_error(resp, 400, "bad_request", "timestamp_ms must be a positive integer.");
        return;
    }
    if (!get_deliveries(body, &n_deliveries, &sig, resp))
        return;
    pthread_mutex_lock(&sim->st.lock);
    {
        int64_t now = ttdm_sim_now_ms(sim);
        struct sim_customer *cu = ttdm_sim_state_customer_find(&sim->st, cid);
        if (cu) {
            struct sim_conversation *conv = cu->conv;
            found = true;
            if (read_ms == 0)
                read_ms = now;
            if (read_ms > conv->last_read_ms)
                conv->last_read_ms = read_ms;
            sim->st.stats.read_receipts++;
            ttdm_strlcpy(conv_id, conv->conversation_id, sizeof(conv_id));
            for (int64_t i = 0; i < n_deliveries; i++)
                ids[i] = ttdm_sim_webhook_create(
                    sim->hooks, "im_mark_read_msg", cu->account->business_id, conv_id, NULL,
                    ttdm_sim_state_read_content(conv, read_ms, now), sig, false);
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    if (!found) {
        ttdm_sim_wire_error(resp, 404, "not_found", "No customer %s.", cid);
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "conversation_id", conv_id);
    ttdm_json_add_i64(out, "last_read_timestamp", read_ms);
    deliver_all(sim, ids, n_deliveries, out);
    ttdm_http_resp_json(resp, 200, out);
}

/* --- conversations --- */

static void budget_into(struct ttdm_sim *sim, struct sim_conversation *conv, int64_t now, cJSON *o)
{
    struct sim_budget_view v;
    ttdm_sim_state_budget(&sim->st, conv, now, &v);
    cJSON_AddBoolToObject(o, "customer_wrote", v.b.customer_wrote);
    if (v.b.customer_wrote) {
        ttdm_json_add_i64(o, "last_customer_message_ms", v.b.last_customer_ms);
        ttdm_json_add_i64(o, "window_closes_at", v.b.window_closes_at);
    } else {
        cJSON_AddNullToObject(o, "last_customer_message_ms");
        cJSON_AddNullToObject(o, "window_closes_at");
    }
    cJSON_AddBoolToObject(o, "window_open", v.b.window_open);
    ttdm_json_add_i64(o, "replies_used", v.b.replies_used);
    ttdm_json_add_i64(o, "replies_left", v.b.replies_left);
    ttdm_json_add_i64(o, "reply_quota", sim->st.rules.reply_quota);
    ttdm_json_add_i64(o, "daily_used", v.daily_used);
    ttdm_json_add_i64(o, "daily_limit", v.daily_limit);
    cJSON_AddBoolToObject(o, "counted_today", v.counted_today);
    cJSON_AddBoolToObject(
        o, "can_send", v.b.replies_left > 0 && (v.counted_today || v.daily_used < v.daily_limit));
}

static void conversations_list(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                               struct ttdm_http_response *resp)
{
    const char *bid = ttdm_http_query(req, "business_id");
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out, "conversations");
    pthread_mutex_lock(&sim->st.lock);
    {
        int64_t now = ttdm_sim_now_ms(sim);
        for (size_t i = 0; i < sim->st.conversations.n; i++) {
            struct sim_conversation *c = sim->st.conversations.items[i];
            cJSON *o;
            if (bid && strcmp(bid, c->account->business_id) != 0)
                continue;
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "conversation_id", c->conversation_id);
            cJSON_AddStringToObject(o, "business_id", c->account->business_id);
            cJSON_AddStringToObject(o, "customer_id", c->customer->customer_id);
            cJSON_AddStringToObject(o, "customer_username", c->customer->username);
            cJSON_AddStringToObject(o, "customer_region", c->customer->region);
            ttdm_json_add_i64(o, "messages", (int64_t)c->messages.n);
            ttdm_json_add_i64(o, "updated_ms", c->updated_ms);
            budget_into(sim, c, now, o);
            cJSON_AddItemToArray(arr, o);
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_http_resp_json(resp, 200, out);
}

static void conversation_view(struct ttdm_sim *sim, const char *id, bool messages,
                              struct ttdm_http_response *resp)
{
    cJSON *out = NULL;
    pthread_mutex_lock(&sim->st.lock);
    {
        struct sim_conversation *conv = ttdm_sim_state_conversation_find(&sim->st, id);
        if (conv) {
            int64_t now = ttdm_sim_now_ms(sim);
            out = cJSON_CreateObject();
            cJSON_AddStringToObject(out, "conversation_id", conv->conversation_id);
            cJSON_AddStringToObject(out, "business_id", conv->account->business_id);
            cJSON_AddStringToObject(out, "customer_id", conv->customer->customer_id);
            ttdm_json_add_i64(out, "now_ms", now);
            if (messages) {
                cJSON *arr = cJSON_AddArrayToObject(out, "messages");
                for (size_t i = 0; i < conv->messages.n; i++)
                    cJSON_AddItemToArray(arr, ttdm_sim_state_message_json(conv->messages.items[i]));
                ttdm_json_add_i64(out, "last_read_ms", conv->last_read_ms);
            } else {
                budget_into(sim, conv, now, out);
            }
        }
    }
    pthread_mutex_unlock(&sim->st.lock);
    if (!out) {
        ttdm_sim_wire_error(resp, 404, "not_found", "No conversation %s.", id);
        return;
    }
    ttdm_http_resp_json(resp, 200, out);
}

/* --- faults, clock, webhooks, stats, reset --- */

static bool fault_kind_ok(const char *kind)
{
    int64_t v;
    if (strcmp(kind, "timeout") == 0 || strcmp(kind, "delay") == 0)
        return true;
    if (ttdm_starts_with(kind, "http_"))
        return ttdm_parse_i64(kind + 5, (size_t)-1, 100, 599, &v) == 0;
    return ttdm_parse_i64(kind, (size_t)-1, 10000, 99999, &v) == 0;
}

static cJSON *fault_json(const struct sim_fault *f)
{
    cJSON *o = cJSON_CreateObject();
    ttdm_json_add_i64(o, "id", f->id);
    cJSON_AddStringToObject(o, "endpoint", f->endpoint);
    cJSON_AddStringToObject(o, "kind", f->kind);
    ttdm_json_add_i64(o, "count", f->remaining);
    ttdm_json_add_i64(o, "delay_ms", f->delay_ms);
    cJSON_AddBoolToObject(o, "process", f->process);
    ttdm_json_add_i64(o, "hits", f->hits);
    return o;
}

static void faults_add(struct ttdm_sim *sim, const cJSON *body, struct ttdm_http_response *resp)
{
    const char *endpoint = NULL, *kind = NULL;
    int64_t count = 1, delay = 0;
    bool process = false;
    cJSON *out;

    if (ttdm_json_get_str(body, "endpoint", SIM_FAULT_ENDPOINT_MAX - 1, &endpoint) != 0 ||
        !ttdm_sim_api_endpoint_known(endpoint)) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "endpoint must name a TikTok endpoint such as \"message/send\", "
                            "\"media/upload\", \"token\", \"media\" or \"*\".");
        return;
    }
    if (ttdm_json_get_str(body, "kind", SIM_FAULT_KIND_MAX - 1, &kind) != 0 ||
        !fault_kind_ok(kind)) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "kind must be \"http_<status>\", \"timeout\", \"delay\" or a TikTok "
                            "code such as \"51065\".");
        return;
    }
    if (ttdm_json_get_i64(body, "count", -1, 1000000, &count) < 0 || count == 0 ||
        ttdm_json_get_i64(body, "delay_ms", 0, 600000, &delay) < 0 ||
        ttdm_json_get_bool(body, "process", &process) < 0) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "count must be 1 to 1000000 (or -1 for always), delay_ms 0 to "
                            "600000, process a boolean.");
        return;
    }
    pthread_mutex_lock(&sim->st.lock);
    out = fault_json(ttdm_sim_state_fault_add(&sim->st, endpoint, kind, count, delay, process));
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_http_resp_json(resp, 200, out);
}

static void faults_list(struct ttdm_sim *sim, struct ttdm_http_response *resp)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out, "faults");
    pthread_mutex_lock(&sim->st.lock);
    for (size_t i = 0; i < sim->st.faults.n; i++)
        cJSON_AddItemToArray(arr, fault_json(sim->st.faults.items[i]));
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_http_resp_json(resp, 200, out);
}

static void faults_clear(struct ttdm_sim *sim, struct ttdm_http_response *resp)
{
    cJSON *out = cJSON_CreateObject();
    pthread_mutex_lock(&sim->st.lock);
    ttdm_json_add_i64(out, "cleared", (int64_t)sim->st.faults.n);
    ttdm_sim_state_faults_clear(&sim->st);
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_http_resp_json(resp, 200, out);
}

static void clock_json(struct ttdm_sim *sim, struct ttdm_http_response *resp)
{
    cJSON *out = cJSON_CreateObject();
    ttdm_json_add_i64(out, "now_ms", ttdm_sim_now_ms(sim));
    ttdm_json_add_i64(out, "offset_ms", atomic_load(&sim->clock_offset_ms));
    ttdm_http_resp_json(resp, 200, out);
}

static void clock_set(struct ttdm_sim *sim, const cJSON *body, struct ttdm_http_response *resp)
{
    const int64_t bound = 315360000000LL; /* ten years */
    int64_t offset = 0, advance = 0;
    int has_offset = ttdm_json_get_i64(body, "offset_ms", -bound, bound, &offset);
    int has_advance = ttdm_json_get_i64(body, "advance_ms", -bound, bound, &advance);

    if (has_offset < 0 || has_advance < 0 || (has_offset == 1 && has_advance == 1)) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "Give offset_ms or advance_ms (milliseconds, at most ten years).");
        return;
    }
    /* Under the lock, so a send never sees half of a clock change. */
    pthread_mutex_lock(&sim->st.lock);
    if (has_offset == 0)
        atomic_store(&sim->clock_offset_ms, offset);
    if (has_advance == 0) {
        int64_t next = atomic_load(&sim->clock_offset_ms) + advance;
        atomic_store(&sim->clock_offset_ms, next > bound ? bound : next < -bound ? -bound : next);
    }
    pthread_mutex_unlock(&sim->st.lock);
    LOG_INFO("sim", "clock offset now %" PRId64 " ms", atomic_load(&sim->clock_offset_ms));
    clock_json(sim, resp);
}

static void webhooks_list(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                          struct ttdm_http_response *resp)
{
    const char *limit_s = ttdm_http_query(req, "limit");
    int64_t limit = 1000;
    cJSON *out;

    if (limit_s && ttdm_parse_i64(limit_s, (size_t)-1, 1, 1000000, &limit)) {
        ttdm_sim_wire_error(resp, 400, "bad_request", "limit must be 1 to 1000000.");
        return;
    }
    out = cJSON_CreateObject();
    pthread_mutex_lock(&sim->st.lock);
    cJSON_AddStringToObject(out, "callback_url", sim->st.callback_url);
    ttdm_json_add_i64(out, "pending", ttdm_sim_webhook_pending(sim->hooks));
    cJSON_AddItemToObject(out, "deliveries",
                          ttdm_sim_webhook_log_json(sim->hooks, ttdm_http_query(req, "event"),
                                                    ttdm_http_query(req, "message_id"), limit));
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_http_resp_json(resp, 200, out);
}

static void callback_set(struct ttdm_sim *sim, const cJSON *body, struct ttdm_http_response *resp)
{
    const char *url = NULL;
    cJSON *out;
    if (ttdm_json_get_str(body, "callback_url", 1023, &url) != 0 ||
        (*url && !ttdm_starts_with(url, "http://") && !ttdm_starts_with(url, "https://"))) {
        ttdm_sim_wire_error(resp, 400, "bad_request",
                            "callback_url must be an http(s) URL, or \"\" to stop deliveries.");
        return;
    }
    out = cJSON_CreateObject();
    pthread_mutex_lock(&sim->st.lock);
    ttdm_strlcpy(sim->st.callback_url, url, sizeof(sim->st.callback_url));
    pthread_mutex_unlock(&sim->st.lock);
    cJSON_AddStringToObject(out, "callback_url", url);
    ttdm_http_resp_json(resp, 200, out);
}

static void stats_get(struct ttdm_sim *sim, struct ttdm_http_response *resp)
{
    cJSON *out = cJSON_CreateObject(), *wh;
    const struct sim_stats *s = &sim->st.stats;
    pthread_mutex_lock(&sim->st.lock);
    cJSON_AddItemToObject(out, "api_calls", ttdm_sim_state_counters_json(s->api_calls));
    ttdm_json_add_i64(out, "sends_accepted", s->sends_accepted);
    cJSON_AddItemToObject(out, "sends_refused", ttdm_sim_state_counters_json(s->sends_refused));
    ttdm_json_add_i64(out, "app_messages_accepted", s->app_messages_accepted);
    cJSON_AddItemToObject(out, "app_messages_refused",
                          ttdm_sim_state_counters_json(s->app_refused));
    ttdm_json_add_i64(out, "customer_messages", s->customer_messages);
    ttdm_json_add_i64(out, "read_receipts", s->read_receipts);
    ttdm_json_add_i64(out, "faults_injected", s->faults_injected);
    wh = cJSON_AddObjectToObject(out, "webhooks");
    ttdm_json_add_i64(wh, "delivered", s->webhooks_delivered);
    ttdm_json_add_i64(wh, "failed_attempts", s->webhooks_failed_attempts);
    ttdm_json_add_i64(wh, "dropped", s->webhooks_dropped);
    ttdm_json_add_i64(wh, "skipped", s->webhooks_skipped);
    ttdm_json_add_i64(wh, "pending", ttdm_sim_webhook_pending(sim->hooks));
    ttdm_json_add_i64(out, "accounts", (int64_t)sim->st.accounts.n);
    ttdm_json_add_i64(out, "conversations", (int64_t)sim->st.conversations.n);
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_http_resp_json(resp, 200, out);
}

static void reset_all(struct ttdm_sim *sim, struct ttdm_http_response *resp)
{
    cJSON *out = cJSON_CreateObject();
    pthread_mutex_lock(&sim->st.lock);
    ttdm_sim_webhook_reset(sim->hooks);
    ttdm_sim_state_reset(&sim->st);
    atomic_store(&sim->clock_offset_ms, sim->cfg.clock_offset_ms);
    pthread_mutex_unlock(&sim->st.lock);
    LOG_INFO("sim", "reset: every account, conversation, token, fault and delivery forgotten");
    cJSON_AddBoolToObject(out, "reset", 1);
    ttdm_http_resp_json(resp, 200, out);
}

static void info_get(struct ttdm_sim *sim, struct ttdm_http_response *resp)
{
    cJSON *out = cJSON_CreateObject(), *rules;
    cJSON_AddStringToObject(out, "app_id", sim->cfg.app_id);
    cJSON_AddStringToObject(out, "public_url", sim->public_url);
    cJSON_AddNumberToObject(out, "port", sim->port);
    pthread_mutex_lock(&sim->st.lock);
    cJSON_AddStringToObject(out, "callback_url", sim->st.callback_url);
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_json_add_i64(out, "now_ms", ttdm_sim_now_ms(sim));
    ttdm_json_add_i64(out, "offset_ms", atomic_load(&sim->clock_offset_ms));
    cJSON_AddStringToObject(out, "allowed_scopes", sim->cfg.allowed_scopes);
    rules = cJSON_AddObjectToObject(out, "rules");
    ttdm_json_add_i64(rules, "window_s", sim->cfg.window_s);
    ttdm_json_add_i64(rules, "reply_quota", sim->cfg.reply_quota);
    ttdm_json_add_i64(rules, "daily_limit_default", sim->cfg.daily_limit);
    ttdm_json_add_i64(rules, "text_max_chars", sim->cfg.text_max_chars);
    ttdm_json_add_i64(rules, "image_max_bytes", sim->cfg.image_max_bytes);
    cJSON_AddStringToObject(rules, "image_blocked_regions", sim->cfg.image_blocked_regions);
    ttdm_http_resp_json(resp, 200, out);
}

/* --- router --- */

static void not_found(struct ttdm_http_response *resp, const struct ttdm_http_request *req)
{
    ttdm_sim_wire_error(resp, 404, "not_found", "No control call %s %s. See docs/SIMULATOR.md.",
                        req->method, req->path);
}

bool ttdm_sim_control_handle(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                             struct ttdm_http_response *resp)
{
    struct route r;
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0,
         del = strcmp(req->method, "DELETE") == 0;
    cJSON *body = NULL;

    if (!split_path(req->path, &r) || r.n == 0) {
        not_found(resp, req);
        return true;
    }
    if (post && !(body = parse_body(req, resp)))
        return true;

    if (get && is(&r, 1, "info", NULL))
        info_get(sim, resp);
    else if (post && is(&r, 1, "accounts", NULL))
        accounts_create(sim, body, resp);
    else if (get && is(&r, 1, "accounts", NULL))
        accounts_list(sim, resp);
    else if (get && is(&r, 2, "accounts", NULL))
        account_get_or_update(sim, r.seg[1], NULL, resp);
    else if (post && is(&r, 2, "accounts", NULL))
        account_get_or_update(sim, r.seg[1], body, resp);
    else if (post && is(&r, 3, "accounts", "expire_token"))
        account_expire_token(sim, r.seg[1], body, resp);
    else if (post && is(&r, 3, "accounts", "tokens"))
        account_tokens(sim, r.seg[1], resp);
    else if (post && is(&r, 3, "accounts", "app_message"))
        account_app_message(sim, r.seg[1], body, resp);
    else if (post && is(&r, 1, "customers", NULL))
        customers_create(sim, body, resp);
    else if (get && is(&r, 1, "customers", NULL))
        customers_list(sim, req, resp);
    else if (post && is(&r, 3, "customers", "messages"))
        customer_message(sim, r.seg[1], body, resp);
    else if (post && is(&r, 3, "customers", "read"))
        customer_read(sim, r.seg[1], body, resp);
    else if (get && is(&r, 1, "conversations", NULL))
        conversations_list(sim, req, resp);
    else if (get && is(&r, 3, "conversations", "messages"))
        conversation_view(sim, r.seg[1], true, resp);
    else if (get && is(&r, 3, "conversations", "budget"))
        conversation_view(sim, r.seg[1], false, resp);
    else if (post && is(&r, 1, "faults", NULL))
        faults_add(sim, body, resp);
    else if (get && is(&r, 1, "faults", NULL))
        faults_list(sim, resp);
    else if (del && is(&r, 1, "faults", NULL))
        faults_clear(sim, resp);
    else if (post && is(&r, 1, "clock", NULL))
        clock_set(sim, body, resp);
    else if (get && is(&r, 1, "clock", NULL))
        clock_json(sim, resp);
    else if (get && is(&r, 1, "webhooks", NULL))
        webhooks_list(sim, req, resp);
    else if (post && is(&r, 1, "callback", NULL))
        callback_set(sim, body, resp);
    else if (get && is(&r, 1, "stats", NULL))
        stats_get(sim, resp);
    else if (post && is(&r, 1, "reset", NULL))
        reset_all(sim, resp);
    else
        not_found(resp, req);
    cJSON_Delete(body);
    return true;
}
