/* webhook.c -- TikTok webhook signature check and DIRECT_MESSAGE event parsing; no I/O. */
#include "tiktok/webhook.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/json.h"
#include "util/str.h"

/* Latest second we accept in `t` (year 9999); keeps the freshness arithmetic far from overflow. */
#define T_MAX_S INT64_C(253402300799)
/* Same bound for millisecond timestamps in content. */
#define TS_MAX_MS (T_MAX_S * 1000 + 999)

/* ------------------------------------------------------------------------------------ */
/* Signature */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static struct ttdm_slice trim(const char *p, size_t n)
{
    struct ttdm_slice s;
    while (n && is_space(*p)) {
        p++;
        n--;
    }
    while (n && is_space(p[n - 1]))
        n--;
    s.ptr = p;
    s.len = n;
    return s;
}

static bool slice_eq(struct ttdm_slice s, const char *cstr)
{
    size_t n = strlen(cstr);
    return s.len == n && memcmp(s.ptr, cstr, n) == 0;
}

/*
 * Splits "t=..,s=.." into the two values. Returns false for anything malformed: a part
 * without '=', an empty value, or a key given twice (a second `s` could otherwise be used
 * to smuggle a digest past a parser that keeps the first one).
 */
static bool split_header(const char *header, struct ttdm_slice *t, struct ttdm_slice *s)
{
    bool have_t = false, have_s = false;
    const char *p = header;

    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        struct ttdm_slice part = trim(p, n);

        if (part.len) {
            const char *eq = memchr(part.ptr, '=', part.len);
            struct ttdm_slice key, val;
            if (!eq)
                return false;
            key = trim(part.ptr, (size_t)(eq - part.ptr));
            val = trim(eq + 1, part.len - (size_t)(eq - part.ptr) - 1);
            if (slice_eq(key, "t")) {
                if (have_t || !val.len)
                    return false;
                *t = val;
                have_t = true;
            } else if (slice_eq(key, "s")) {
                if (have_s || !val.len)
                    return false;
                *s = val;
                have_s = true;
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return have_t && have_s;
}

enum ttdm_err ttdm_webhook_verify(const char *header, const char *body, size_t body_len,
                                  const char *secret, size_t secret_len, int64_t now_s,
                                  int64_t tolerance_s)
{
    struct ttdm_hmac_key key;
    enum ttdm_err rc;

    if (!secret)
        return TTDM_ERR_BAD_SIGNATURE;
    ttdm_hmac_key_init(&key, secret, secret_len);
    rc = ttdm_webhook_verify_key(header, body, body_len, &key, now_s, tolerance_s);
    ttdm_hmac_key_wipe(&key);
    return rc;
}

enum ttdm_err ttdm_webhook_verify_key(const char *header, const char *body, size_t body_len,
                                      const struct ttdm_hmac_key *key, int64_t now_s,
                                      int64_t tolerance_s)
{
    struct ttdm_slice t = {0}, s = {0};
    char given[TTDM_HMAC_HEX_LEN];
    char expected[TTDM_HMAC_HEX_LEN + 1];
    const char *parts[3];
    size_t lens[3];
    int64_t t_s;
    uint64_t skew;

    if (!header || !key || (!body && body_len))
        return TTDM_ERR_BAD_SIGNATURE;
    if (!split_header(header, &t, &s))
        return TTDM_ERR_BAD_SIGNATURE;
    for (size_t i = 0; i < t.len; i++)
        if (t.ptr[i] < '0' || t.ptr[i] > '9')
            return TTDM_ERR_BAD_SIGNATURE;
    if (ttdm_parse_i64(t.ptr, t.len, 0, T_MAX_S, &t_s))
        return TTDM_ERR_BAD_SIGNATURE;
    if (s.len != TTDM_HMAC_HEX_LEN)
        return TTDM_ERR_BAD_SIGNATURE;
    /* Hex is case-insensitive; our digest is lower case. */
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        given[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }

    parts[0] = t.ptr;
    lens[0] = t.len;
    parts[1] = ".";
    lens[1] = 1;
    parts[2] = body ? body : "";
    lens[2] = body_len;
    ttdm_hmac_sha256_hex_key(key, parts, lens, 3, expected);
    if (!ttdm_const_eq(given, sizeof(given), expected, TTDM_HMAC_HEX_LEN))
        return TTDM_ERR_BAD_SIGNATURE;

    /*
     * Freshness only after authenticity, so STALE always means "TikTok signed it, but long
     * ago" (a replay or a delayed retry), never a forgery. The window is symmetric: a sender
     * clock ahead of ours by up to the tolerance is accepted as well.
     */
    if (tolerance_s < 0)
        tolerance_s = 0;
    skew = t_s >= now_s ? (uint64_t)t_s - (uint64_t)now_s : (uint64_t)now_s - (uint64_t)t_s;
    if (skew > (uint64_t)tolerance_s)
        return TTDM_ERR_STALE_SIGNATURE;
    return TTDM_OK;
}

void ttdm_webhook_sign(const char *secret, size_t secret_len, int64_t t_s, const char *body,
                       size_t body_len, char out[TTDM_WEBHOOK_SIGNATURE_MAX])
{
    char t[24];
    char hex[TTDM_HMAC_HEX_LEN + 1];
    const char *parts[3];
    size_t lens[3];
    int n = snprintf(t, sizeof(t), "%lld", (long long)t_s);

    parts[0] = t;
    lens[0] = (size_t)n;
    parts[1] = ".";
    lens[1] = 1;
    parts[2] = body ? body : "";
    lens[2] = body ? body_len : 0;
    ttdm_hmac_sha256_hex(secret, secret_len, parts, lens, 3, hex);
    snprintf(out, TTDM_WEBHOOK_SIGNATURE_MAX, "t=%s,s=%s", t, hex);
}

/* ------------------------------------------------------------------------------------ */
/* Parsing */

const char *ttdm_webhook_kind_name(enum ttdm_webhook_kind kind)
{
    switch (kind) {
    case TTDM_WEBHOOK_RECEIVE_MSG:
        return "receive_msg";
    case TTDM_WEBHOOK_SEND_MSG:
        return "send_msg";
    case TTDM_WEBHOOK_MARK_READ:
        return "mark_read";
    case TTDM_WEBHOOK_OTHER:
        break;
    }
    return "other";
}

/* Where a parse error goes; `path` prefixes field names ("content.", "content.text."). */
struct perr {
    char *buf;
    size_t size;
};

static enum ttdm_err fail(struct perr *pe, enum ttdm_err rc, const char *path, const char *key,
                          const char *what)
{
    if (pe->size)
        snprintf(pe->buf, pe->size, "%s%s %s", path, key, what);
    return rc;
}

/* The member, or NULL when absent or JSON null (TikTok sends both for "no value"). */
static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (m && !cJSON_IsNull(m)) ? m : NULL;
}

/*
 * Copies a string member into dst[dst_size]. Ids that arrive as JSON numbers are refused
 * rather than printed back: cJSON keeps only a double, which cannot hold 19-digit ids.
 */
static enum ttdm_err get_str(const cJSON *obj, const char *path, const char *key, char *dst,
                             size_t dst_size, bool required, struct perr *pe)
{
    const cJSON *m = member(obj, key);
    size_t n;

    dst[0] = '\0';
    if (!m)
        return required ? fail(pe, TTDM_ERR_BAD_REQUEST, path, key, "missing") : TTDM_OK;
    if (!cJSON_IsString(m) || !m->valuestring)
        return fail(pe, TTDM_ERR_BAD_REQUEST, path, key, "is not a string");
    n = strlen(m->valuestring);
    if (n >= dst_size) {
        char what[48];
        snprintf(what, sizeof(what), "longer than %zu bytes", dst_size - 1);
        return fail(pe, TTDM_ERR_BAD_REQUEST, path, key, what);
    }
    if (required && n == 0)
        return fail(pe, TTDM_ERR_BAD_REQUEST, path, key, "is empty");
    memcpy(dst, m->valuestring, n + 1);
    return TTDM_OK;
}

static enum ttdm_err get_int(const cJSON *obj, const char *path, const char *key, int64_t max,
                             int64_t *out, bool required, struct perr *pe)
{
    int r = ttdm_json_get_i64(obj, key, 0, max, out);
    if (r == 1) {
        *out = 0;
        return required ? fail(pe, TTDM_ERR_BAD_REQUEST, path, key, "missing") : TTDM_OK;
    }
    if (r < 0)
        return fail(pe, TTDM_ERR_BAD_REQUEST, path, key, "is not a valid timestamp");
    return TTDM_OK;
}

/* An object member; *out is NULL when absent and not required. */
static enum ttdm_err get_obj(const cJSON *obj, const char *path, const char *key, const cJSON **out,
                             bool required, struct perr *pe)
{
    const cJSON *m = member(obj, key);
    *out = NULL;
    if (!m)
        return required ? fail(pe, TTDM_ERR_BAD_REQUEST, path, key, "missing") : TTDM_OK;
    if (!cJSON_IsObject(m))
        return fail(pe, TTDM_ERR_BAD_REQUEST, path, key, "is not an object");
    *out = m;
    return TTDM_OK;
}

static enum ttdm_err get_user(const cJSON *content, const char *key, struct ttdm_webhook_user *u,
                              struct perr *pe)
{
    const cJSON *o = NULL;
    char path[48];
    enum ttdm_err rc;

    rc = get_obj(content, "content.", key, &o, true, pe);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "content.%s.", key);
    rc = get_str(o, path, "id", u->id, sizeof(u->id), true, pe);
    if (!rc)
        rc = get_str(o, path, "role", u->role, sizeof(u->role), false, pe);
    if (!rc)
        rc = get_str(o, path, "region", u->region, sizeof(u->region), false, pe);
    return rc;
}

/* Fields shared by message and read events: who, where, when. */
static enum ttdm_err parse_participants(const cJSON *c, struct ttdm_webhook_event *ev,
                                        bool timestamp_required, struct perr *pe)
{
    const struct ttdm_webhook_user *customer;
    enum ttdm_err rc;

    rc = get_str(c, "content.", "conversation_id", ev->conversation_id, sizeof(ev->conversation_id),
                 true, pe);
    if (!rc)
        rc = get_int(c, "content.", "timestamp", TS_MAX_MS, &ev->timestamp_ms, timestamp_required,
                     pe);
    if (!rc)
        rc = get_str(c, "content.", "from", ev->from, sizeof(ev->from), false, pe);
    if (!rc)
        rc = get_str(c, "content.", "to", ev->to, sizeof(ev->to), false, pe);
    if (!rc)
        rc = get_user(c, "from_user", &ev->from_user, pe);
    if (!rc)
        rc = get_user(c, "to_user", &ev->to_user, pe);
    if (!rc)
        rc = get_str(c, "content.", "unique_identifier", ev->unique_identifier,
                     sizeof(ev->unique_identifier), false, pe);
    if (rc)
        return rc;

    /* In an echo the customer is the receiver; in the other events the sender. */
    customer = ev->kind == TTDM_WEBHOOK_SEND_MSG ? &ev->to_user : &ev->from_user;
    if (!ev->unique_identifier[0])
        memcpy(ev->unique_identifier, customer->id, sizeof(ev->unique_identifier));
    memcpy(ev->customer_region, customer->region, sizeof(ev->customer_region));
    return TTDM_OK;
}

static enum ttdm_err parse_message(const cJSON *c, struct ttdm_webhook_event *ev, struct perr *pe)
{
    const cJSON *o = NULL;
    enum ttdm_err rc;

    rc = parse_participants(c, ev, true, pe);
    if (!rc)
        rc = get_str(c, "content.", "message_id", ev->message_id, sizeof(ev->message_id), true, pe);
    if (!rc)
        rc = get_str(c, "content.", "type", ev->type, sizeof(ev->type), true, pe);
    if (!rc)
        rc = get_obj(c, "content.", "message_tag", &o, false, pe);
    if (!rc && o)
        rc =
            get_str(o, "content.message_tag.", "source", ev->source, sizeof(ev->source), false, pe);
    if (!rc)
        rc = get_obj(c, "content.", "referenced_message_info", &o, false, pe);
    if (!rc && o)
        rc = get_str(o, "content.referenced_message_info.", "referenced_message_id",
                     ev->referenced_message_id, sizeof(ev->referenced_message_id), false, pe);
    if (rc)
        return rc;

    if (strcmp(ev->type, "text") == 0) {
        const cJSON *b;
        rc = get_obj(c, "content.", "text", &o, true, pe);
        if (rc)
            return rc;
        b = member(o, "body");
        if (!b)
            return fail(pe, TTDM_ERR_BAD_REQUEST, "content.text.", "body", "missing");
        if (!cJSON_IsString(b) || !b->valuestring)
            return fail(pe, TTDM_ERR_BAD_REQUEST, "content.text.", "body", "is not a string");
        ev->text_len = strlen(b->valuestring);
        ev->text = ttdm_strndup(b->valuestring, ev->text_len);
    } else if (strcmp(ev->type, "image") == 0) {
        rc = get_obj(c, "content.", "image", &o, true, pe);
        if (!rc)
            rc = get_str(o, "content.image.", "media_id", ev->media_id, sizeof(ev->media_id), true,
                         pe);
    } else if (strcmp(ev->type, "share_post") == 0) {
        rc = get_obj(c, "content.", "share_post", &o, true, pe);
        if (!rc)
            rc = get_str(o, "content.share_post.", "embed_url", ev->embed_url,
                         sizeof(ev->embed_url), true, pe);
    } else if (strcmp(ev->type, "video") == 0) {
        /* Shown as unsupported, but the id lets a later version fetch it (E9 with VIDEO). */
        rc = get_obj(c, "content.", "video", &o, false, pe);
        if (!rc && o)
            rc = get_str(o, "content.video.", "media_id", ev->media_id, sizeof(ev->media_id), false,
                         pe);
    }
    return rc;
}

static enum ttdm_err parse_read(const cJSON *c, struct ttdm_webhook_event *ev, struct perr *pe)
{
    const cJSON *o = NULL;
    enum ttdm_err rc;

    rc = parse_participants(c, ev, false, pe);
    if (!rc)
        rc = get_obj(c, "content.", "read", &o, true, pe);
    if (!rc)
        rc = get_int(o, "content.read.", "last_read_timestamp", TS_MAX_MS,
                     &ev->last_read_timestamp_ms, true, pe);
    return rc;
}

enum ttdm_msg_type ttdm_webhook_msg_type(const char *type)
{
    if (strcmp(type, "text") == 0)
        return TTDM_MSG_TEXT;
    if (strcmp(type, "image") == 0)
        return TTDM_MSG_IMAGE;
    if (strcmp(type, "share_post") == 0)
        return TTDM_MSG_SHARE_POST;
    return TTDM_MSG_UNSUPPORTED;
}

static enum ttdm_webhook_kind kind_of(const char *event)
{
    if (strcmp(event, "im_receive_msg") == 0)
        return TTDM_WEBHOOK_RECEIVE_MSG;
    if (strcmp(event, "im_send_msg") == 0)
        return TTDM_WEBHOOK_SEND_MSG;
    if (strcmp(event, "im_mark_read_msg") == 0)
        return TTDM_WEBHOOK_MARK_READ;
    return TTDM_WEBHOOK_OTHER;
}

enum ttdm_err ttdm_webhook_parse(const char *body, size_t len, struct ttdm_webhook_event *out,
                                 char *err, size_t err_size)
{
    struct perr pe = {err, err_size};
    cJSON *root = NULL, *content = NULL;
    const cJSON *cm;
    char jerr[128];
    enum ttdm_err rc;
    size_t clen;
    /* Both trees of a usual webhook fit (about 3 KiB); larger ones spill to malloc. */
    struct ttdm_json_arena arena;
    char arena_buf[8192];

    ttdm_json_arena_begin(&arena, arena_buf, sizeof(arena_buf));
    memset(out, 0, sizeof(*out));
    out->kind = TTDM_WEBHOOK_OTHER;
    if (err_size)
        err[0] = '\0';

    if (!body || !ttdm_utf8_valid(body, len)) {
        rc = fail(&pe, TTDM_ERR_INVALID_UTF8, "", "body", "is not valid UTF-8");
        goto done;
    }
    root = ttdm_json_parse(body, len, jerr, sizeof(jerr));
    if (!root) {
        if (err_size)
            snprintf(err, err_size, "body: %s", jerr);
        rc = TTDM_ERR_INVALID_JSON;
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rc = fail(&pe, TTDM_ERR_BAD_REQUEST, "", "body", "is not a JSON object");
        goto done;
    }

    rc = get_str(root, "", "event", out->event, sizeof(out->event), true, &pe);
    if (rc)
        goto done;
    out->kind = kind_of(out->event);
    rc = get_str(root, "", "client_key", out->client_key, sizeof(out->client_key), false, &pe);
    if (!rc)
        rc = get_int(root, "", "create_time", T_MAX_S, &out->create_time_s, false, &pe);
    if (!rc)
        rc = get_str(root, "", "user_openid", out->business_id, sizeof(out->business_id),
                     out->kind != TTDM_WEBHOOK_OTHER, &pe);
    /* Events we do not handle keep only their envelope, whatever their content looks like. */
    if (rc || out->kind == TTDM_WEBHOOK_OTHER)
        goto done;

    cm = member(root, "content");
    if (!cm) {
        rc = fail(&pe, TTDM_ERR_BAD_REQUEST, "", "content", "missing");
        goto done;
    }
    if (!cJSON_IsString(cm) || !cm->valuestring) {
        rc = fail(&pe, TTDM_ERR_BAD_REQUEST, "", "content", "is not a JSON string");
        goto done;
    }
    clen = strlen(cm->valuestring);
    if (!ttdm_utf8_valid(cm->valuestring, clen)) {
        rc = fail(&pe, TTDM_ERR_INVALID_UTF8, "", "content", "is not valid UTF-8");
        goto done;
    }
    content = ttdm_json_parse(cm->valuestring, clen, jerr, sizeof(jerr));
    if (!content) {
        if (err_size)
            snprintf(err, err_size, "content: %s", jerr);
        rc = TTDM_ERR_INVALID_JSON;
        goto done;
    }
    if (!cJSON_IsObject(content)) {
        rc = fail(&pe, TTDM_ERR_BAD_REQUEST, "", "content", "is not a JSON object");
        goto done;
    }

    if (out->kind == TTDM_WEBHOOK_MARK_READ)
        rc = parse_read(content, out, &pe);
    else
        rc = parse_message(content, out, &pe);

done:
    cJSON_Delete(content);
    cJSON_Delete(root);
    ttdm_json_arena_end(&arena);
    if (rc) {
        ttdm_free(out->text);
        out->text = NULL;
        out->text_len = 0;
    }
    return rc;
}

void ttdm_webhook_event_cleanup(struct ttdm_webhook_event *ev)
{
    if (!ev)
        return;
    /* Not zeroed whole: the server reuses events (4 KiB each) and parses into them again. */
    ttdm_free(ev->text);
    ev->text = NULL;
    ev->text_len = 0;
}
