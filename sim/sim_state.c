/* sim_state.c -- the simulator's world in memory and its own judgement of R1-R7. */
#include "sim_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/crypto.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define AUTH_CODE_TTL_MS (10 * 60 * 1000)

/* 64 letters and digits without '/', so ids stay usable as one path segment. '+' is in the
 * alphabet on purpose: TikTok's conversation ids are base64-like and clients must send them
 * as %2B in query strings. */
static const char id_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+";

static void random_bytes(unsigned char *out, size_t n)
{
    char hex[129];
    while (n > 0) {
        size_t chunk = n > 64 ? 64 : n;
        ttdm_random_hex(chunk, hex);
        for (size_t i = 0; i < chunk; i++) {
            unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
            unsigned lo = (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0'
                                                           : hex[2 * i + 1] - 'a' + 10);
            out[i] = (unsigned char)(hi << 4 | lo);
        }
        out += chunk;
        n -= chunk;
    }
}

static void prefixed_hex_id(const char *prefix, size_t n_bytes, char *out, size_t out_size)
{
    /* Callers size out for the prefix, 2 * n_bytes hex digits and the NUL. */
    size_t p = strlen(prefix);
    char hex[129];
    ttdm_random_hex(n_bytes < 64 ? n_bytes : 64, hex);
    ttdm_strlcpy(out, prefix, out_size);
    if (p < out_size)
        ttdm_strlcpy(out + p, hex, out_size - p);
}

static uint64_t random_u64(void)
{
    unsigned char b[8];
    uint64_t v = 0;
    random_bytes(b, sizeof(b));
    for (size_t i = 0; i < sizeof(b); i++)
        v = v << 8 | b[i];
    return v;
}

static void new_conversation_id(struct sim_state *st, char out[SIM_ID_MAX])
{
    unsigned char b[22];
    size_t i;
    random_bytes(b, sizeof(b));
    for (i = 0; i < sizeof(b); i++)
        out[i] = id_alphabet[b[i] % 63];
    /* Every other conversation carries a '+' for certain, so a test's first conversation
     * always checks that clients encode it. */
    if (st->conversation_seq % 2 == 1)
        out[1 + b[0] % 20] = '+';
    out[i++] = '=';
    out[i++] = '=';
    out[i] = '\0';
}

static void new_message_id(struct sim_state *st, char out[SIM_ID_MAX])
{
    /* 19 decimal digits like TikTok's numeric ids: too big for a double, so a client that
     * parses them as numbers loses digits and the tests notice. */
    snprintf(out, SIM_ID_MAX, "%" PRIu64, st->next_message_id++);
}

static void seed_sequences(struct sim_state *st)
{
    st->next_message_id = 7000000000000000000ULL + (random_u64() % 100000000000000ULL) * 1000;
}

int ttdm_sim_state_init(struct sim_state *st, const struct ttdm_sim_config *cfg, char *err,
                        size_t err_size)
{
    memset(st, 0, sizeof(*st));
    st->cfg = cfg;
    if (ttdm_sim_rules_init(&st->rules, cfg->window_s, cfg->reply_quota, cfg->text_max_chars,
                            cfg->image_max_bytes, cfg->image_blocked_regions, err, err_size))
        return -1;
    pthread_mutex_init(&st->lock, NULL);
    ttdm_strlcpy(st->callback_url, cfg->callback_url, sizeof(st->callback_url));
    ttdm_sim_vec_init(&st->accounts);
    ttdm_sim_vec_init(&st->tokens);
    ttdm_sim_vec_init(&st->codes);
    ttdm_sim_vec_init(&st->customers);
    ttdm_sim_vec_init(&st->conversations);
    ttdm_sim_vec_init(&st->media);
    ttdm_sim_vec_init(&st->faults);
    ttdm_sim_map_init(&st->accounts_by_id);
    ttdm_sim_map_init(&st->accounts_by_name);
    ttdm_sim_map_init(&st->tokens_by_value);
    ttdm_sim_map_init(&st->codes_by_value);
    ttdm_sim_map_init(&st->customers_by_id);
    ttdm_sim_map_init(&st->conversations_by_id);
    ttdm_sim_map_init(&st->media_by_id);
    seed_sequences(st);
    return 0;
}

static void message_free(struct sim_message *m)
{
    if (!m)
        return;
    ttdm_free(m->text);
    cJSON_Delete(m->extra);
    ttdm_free(m);
}

static void free_world(struct sim_state *st)
{
    size_t i;
    for (i = 0; i < st->accounts.n; i++)
        ttdm_free(st->accounts.items[i]);
    for (i = 0; i < st->tokens.n; i++) {
        struct sim_token *t = st->tokens.items[i];
        ttdm_free(t->scope);
        ttdm_free(t);
    }
    for (i = 0; i < st->codes.n; i++) {
        struct sim_auth_code *c = st->codes.items[i];
        ttdm_free(c->scope);
        ttdm_free(c->redirect_uri);
        ttdm_free(c);
    }
    for (i = 0; i < st->customers.n; i++)
        ttdm_free(st->customers.items[i]);
    for (i = 0; i < st->conversations.n; i++) {
        struct sim_conversation *c = st->conversations.items[i];
        for (size_t k = 0; k < c->messages.n; k++)
            message_free(c->messages.items[k]);
        ttdm_sim_vec_cleanup(&c->messages);
        ttdm_free(c);
    }
    for (i = 0; i < st->media.n; i++) {
        struct sim_media *m = st->media.items[i];
        ttdm_free(m->data);
        ttdm_free(m);
    }
    for (i = 0; i < st->faults.n; i++)
        ttdm_free(st->faults.items[i]);
    ttdm_sim_vec_cleanup(&st->accounts);
    ttdm_sim_vec_cleanup(&st->tokens);
    ttdm_sim_vec_cleanup(&st->codes);
    ttdm_sim_vec_cleanup(&st->customers);
    ttdm_sim_vec_cleanup(&st->conversations);
    ttdm_sim_vec_cleanup(&st->media);
    ttdm_sim_vec_cleanup(&st->faults);
    ttdm_sim_map_cleanup(&st->accounts_by_id);
    ttdm_sim_map_cleanup(&st->accounts_by_name);
    ttdm_sim_map_cleanup(&st->tokens_by_value);
    ttdm_sim_map_cleanup(&st->codes_by_value);
    ttdm_sim_map_cleanup(&st->customers_by_id);
    ttdm_sim_map_cleanup(&st->conversations_by_id);
    ttdm_sim_map_cleanup(&st->media_by_id);
}

void ttdm_sim_state_cleanup(struct sim_state *st)
{
    free_world(st);
    pthread_mutex_destroy(&st->lock);
}

void ttdm_sim_state_reset(struct sim_state *st)
{
    free_world(st);
    /* Vectors and maps are reusable after cleanup (all-zero is their empty state). */
    ttdm_strlcpy(st->callback_url, st->cfg->callback_url, sizeof(st->callback_url));
    memset(&st->stats, 0, sizeof(st->stats));
    st->conversation_seq = 0;
    st->customer_seq = 0;
    seed_sequences(st);
}

/* --- accounts and tokens --- */

struct sim_account *ttdm_sim_state_account_create(struct sim_state *st,
                                                  const struct sim_account_spec *spec,
                                                  int64_t now_ms, char *err, size_t err_size)
{
    struct sim_account *acc;

    if (ttdm_sim_map_get(&st->accounts_by_name, spec->username)) {
        snprintf(err, err_size, "An account named '%s' already exists.", spec->username);
        return NULL;
    }
    if (spec->business_id && ttdm_sim_map_get(&st->accounts_by_id, spec->business_id)) {
        snprintf(err, err_size, "An account with business_id '%s' already exists.",
                 spec->business_id);
        return NULL;
    }
    acc = ttdm_calloc(1, sizeof(*acc));
    if (spec->business_id)
        ttdm_strlcpy(acc->business_id, spec->business_id, sizeof(acc->business_id));
    else
        prefixed_hex_id("biz-", 12, acc->business_id, sizeof(acc->business_id));
    ttdm_strlcpy(acc->username, spec->username, sizeof(acc->username));
    ttdm_strlcpy(acc->display_name, spec->display_name ? spec->display_name : spec->username,
                 sizeof(acc->display_name));
    ttdm_strlcpy(acc->region, spec->region ? spec->region : "SG", sizeof(acc->region));
    acc->origin_app = spec->origin_app != 0;
    acc->daily_limit = spec->daily_limit > 0 ? spec->daily_limit : st->cfg->daily_limit;
    acc->daily_day = ttdm_sim_rules_utc_day(now_ms);
    acc->daily_epoch = ++st->epoch_seq;
    acc->created_ms = now_ms;
    ttdm_sim_vec_push(&st->accounts, acc);
    ttdm_sim_map_put(&st->accounts_by_id, acc->business_id, acc);
    ttdm_sim_map_put(&st->accounts_by_name, acc->username, acc);
    return acc;
}

struct sim_account *ttdm_sim_state_account_find(struct sim_state *st, const char *business_id)
{
    return ttdm_sim_map_get(&st->accounts_by_id, business_id);
}

struct sim_account *ttdm_sim_state_account_by_name(struct sim_state *st, const char *username)
{
    return ttdm_sim_map_get(&st->accounts_by_name, username);
}

static struct sim_token *token_new(struct sim_state *st, struct sim_account *acc, bool refresh,
                                   const char *scope, int64_t expires_ms)
{
    struct sim_token *t = ttdm_calloc(1, sizeof(*t));
    prefixed_hex_id(refresh ? "rft." : "act.", 24, t->value, sizeof(t->value));
    t->is_refresh = refresh;
    t->account = acc;
    t->expires_ms = expires_ms;
    t->scope = ttdm_strdup(scope);
    ttdm_sim_vec_push(&st->tokens, t);
    ttdm_sim_map_put(&st->tokens_by_value, t->value, t);
    return t;
}

void ttdm_sim_state_tokens_grant(struct sim_state *st, struct sim_account *acc, const char *scope,
                                 int64_t now_ms, struct sim_token **access,
                                 struct sim_token **refresh)
{
    const char *s = scope ? scope : st->cfg->allowed_scopes;
    struct sim_token *a = token_new(st, acc, false, s, now_ms + st->cfg->access_token_ttl_s * 1000);
    struct sim_token *r = token_new(st, acc, true, s, now_ms + st->cfg->refresh_token_ttl_s * 1000);
    ttdm_strlcpy(acc->access_token, a->value, sizeof(acc->access_token));
    ttdm_strlcpy(acc->refresh_token, r->value, sizeof(acc->refresh_token));
    if (access)
        *access = a;
    if (refresh)
        *refresh = r;
}

struct sim_token *ttdm_sim_state_token_find(struct sim_state *st, const char *value)
{
    return ttdm_sim_map_get(&st->tokens_by_value, value);
}

void ttdm_sim_state_tokens_expire(struct sim_state *st, struct sim_account *acc, bool access,
                                  bool refresh, int64_t now_ms)
{
    for (size_t i = 0; i < st->tokens.n; i++) {
        struct sim_token *t = st->tokens.items[i];
        if (t->account != acc || (t->is_refresh ? !refresh : !access))
            continue;
        if (t->expires_ms > now_ms)
            t->expires_ms = now_ms;
    }
}

bool ttdm_sim_state_scope_has(const char *scope, const char *want)
{
    size_t n = strlen(want);
    const char *p = scope;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == n && strncmp(p, want, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

struct sim_auth_code *ttdm_sim_state_code_create(struct sim_state *st, struct sim_account *acc,
                                                 const char *scope, const char *redirect_uri,
                                                 int64_t now_ms)
{
    struct sim_auth_code *c = ttdm_calloc(1, sizeof(*c));
    prefixed_hex_id("", 20, c->code, sizeof(c->code));
    c->account = acc;
    c->scope = ttdm_strdup(scope);
    c->redirect_uri = ttdm_strdup(redirect_uri);
    c->expires_ms = now_ms + AUTH_CODE_TTL_MS;
    ttdm_sim_vec_push(&st->codes, c);
    ttdm_sim_map_put(&st->codes_by_value, c->code, c);
    return c;
}

struct sim_auth_code *ttdm_sim_state_code_find(struct sim_state *st, const char *code)
{
    return ttdm_sim_map_get(&st->codes_by_value, code);
}

/* --- customers, conversations, messages --- */

struct sim_customer *ttdm_sim_state_customer_create(struct sim_state *st, struct sim_account *acc,
                                                    const char *username, const char *display_name,
                                                    const char *region, int64_t now_ms)
{
    struct sim_customer *cu = ttdm_calloc(1, sizeof(*cu));
    struct sim_conversation *conv = ttdm_calloc(1, sizeof(*conv));

    st->customer_seq++;
    prefixed_hex_id("usr-", 12, cu->customer_id, sizeof(cu->customer_id));
    if (username && *username)
        ttdm_strlcpy(cu->username, username, sizeof(cu->username));
    else
        snprintf(cu->username, sizeof(cu->username), "customer_%" PRId64, st->customer_seq);
    ttdm_strlcpy(cu->display_name, display_name && *display_name ? display_name : cu->username,
                 sizeof(cu->display_name));
    ttdm_strlcpy(cu->region, region ? region : "SG", sizeof(cu->region));
    cu->account = acc;
    cu->conv = conv;

    st->conversation_seq++;
    new_conversation_id(st, conv->conversation_id);
    conv->account = acc;
    conv->customer = cu;
    conv->counted_epoch = -1;
    conv->created_ms = now_ms;
    conv->updated_ms = now_ms;
    ttdm_sim_vec_init(&conv->messages);

    ttdm_sim_vec_push(&st->customers, cu);
    ttdm_sim_map_put(&st->customers_by_id, cu->customer_id, cu);
    ttdm_sim_vec_push(&st->conversations, conv);
    ttdm_sim_map_put(&st->conversations_by_id, conv->conversation_id, conv);
    return cu;
}

struct sim_customer *ttdm_sim_state_customer_find(struct sim_state *st, const char *customer_id)
{
    return ttdm_sim_map_get(&st->customers_by_id, customer_id);
}

struct sim_conversation *ttdm_sim_state_conversation_find(struct sim_state *st,
                                                          const char *conversation_id)
{
    return ttdm_sim_map_get(&st->conversations_by_id, conversation_id);
}

static struct sim_message *message_new(struct sim_state *st, bool inbound, const char *type,
                                       const char *text, const char *media_id, int64_t timestamp_ms)
{
    struct sim_message *m = ttdm_calloc(1, sizeof(*m));
    new_message_id(st, m->message_id);
    m->inbound = inbound;
    ttdm_strlcpy(m->type, type, sizeof(m->type));
    if (text)
        m->text = ttdm_strdup(text);
    if (media_id)
        ttdm_strlcpy(m->media_id, media_id, sizeof(m->media_id));
    m->timestamp_ms = timestamp_ms;
    return m;
}

/* Business messages of conv timed at or after since_ms (R3 counts them; kept in
 * conv->replies_used so a send does not walk the whole conversation). */
static int64_t count_replies_since(const struct sim_conversation *conv, int64_t since_ms)
{
    int64_t n = 0;
    for (size_t i = 0; i < conv->messages.n; i++) {
        const struct sim_message *m = conv->messages.items[i];
        if (!m->inbound && m->timestamp_ms >= since_ms)
            n++;
    }
    return n;
}

struct sim_message *ttdm_sim_state_record_inbound(struct sim_state *st,
                                                  struct sim_conversation *conv, const char *type,
                                                  const char *text, const char *media_id,
                                                  cJSON *extra, int64_t timestamp_ms)
{
    struct sim_message *m = message_new(st, true, type, text, media_id, timestamp_ms);
    m->extra = extra;
    ttdm_sim_vec_push(&conv->messages, m);
    /* The window and the quota follow the latest customer message by its timestamp, so a
     * late or replayed message never moves them backwards. */
    if (!conv->customer_wrote || timestamp_ms > conv->last_customer_ms) {
        conv->last_customer_ms = timestamp_ms;
        conv->replies_used = count_replies_since(conv, timestamp_ms);
    }
    conv->customer_wrote = true;
    if (timestamp_ms > conv->updated_ms)
        conv->updated_ms = timestamp_ms;
    st->stats.customer_messages++;
    return m;
}

static int64_t replies_used(const struct sim_conversation *conv)
{
    return conv->customer_wrote ? conv->replies_used : 0;
}

/* Rolls the account's R4 counter over when the UTC day of now differs from its day. */
static void daily_roll(struct sim_state *st, struct sim_account *acc, int64_t now_ms)
{
    int64_t today = ttdm_sim_rules_utc_day(now_ms);
    if (acc->daily_day != today) {
        acc->daily_day = today;
        acc->daily_epoch = ++st->epoch_seq;
        acc->daily_used = 0;
    }
}

void ttdm_sim_state_budget(struct sim_state *st, struct sim_conversation *conv, int64_t now_ms,
                           struct sim_budget_view *out)
{
    struct sim_account *acc = conv->account;
    memset(out, 0, sizeof(*out));
    ttdm_sim_rules_budget(&st->rules, conv->customer_wrote, conv->last_customer_ms,
                          replies_used(conv), now_ms, &out->b);
    daily_roll(st, acc, now_ms);
    out->daily_used = acc->daily_used;
    out->daily_limit = acc->daily_limit;
    out->counted_today = conv->counted_epoch == acc->daily_epoch;
}

static int refused(struct sim_state *st, const struct sim_outbound *ob, int code)
{
    char name[16];
    snprintf(name, sizeof(name), "%d", code);
    ttdm_sim_state_count(
        strcmp(ob->source, "APP") == 0 ? st->stats.app_refused : st->stats.sends_refused, name);
    return code;
}

int ttdm_sim_state_business_send(struct sim_state *st, struct sim_conversation *conv,
                                 const struct sim_outbound *ob, int64_t now_ms,
                                 struct sim_message **out, char *msg, size_t msg_size)
{
    struct sim_account *acc = conv->account;
    struct sim_customer *cu = conv->customer;
    struct sim_budget_view v;
    struct sim_message *m;

    ttdm_sim_state_budget(st, conv, now_ms, &v);
    /* R1: TikTok has no way to open a conversation or broadcast. */
    if (!v.b.customer_wrote) {
        snprintf(msg, msg_size,
                 "The customer has not sent a message in this conversation; a "
                 "business can only reply.");
        return refused(st, ob, 40064);
    }
    /* R2: closed at exactly window_closes_at. */
    if (!v.b.window_open) {
        snprintf(msg, msg_size,
                 "The messaging window of this conversation is closed: the customer's latest "
                 "message is more than %" PRId64 " hours old. Wait for the customer to write.",
                 st->rules.window_ms / 3600000);
        return refused(st, ob, 40064);
    }
    /* R3 */
    if (v.b.replies_left <= 0) {
        snprintf(msg, msg_size,
                 "All %" PRId64 " business messages allowed after the customer's latest message "
                 "have been sent. Wait for the customer to write.",
                 st->rules.reply_quota);
        return refused(st, ob, 40064);
    }
    if (ob->image) {
        /* R7, then R6 for each side. 40118 is TikTok's "not allow-listed or region not
         * supported"; it tells an image refusal apart from the rate-style 40064. */
        if (!acc->origin_app) {
            snprintf(msg, msg_size,
                     "This business account was not created in the TikTok "
                     "mobile app, so it cannot send images. Send text instead.");
            return refused(st, ob, 40118);
        }
        if (ttdm_sim_rules_region_blocked(&st->rules, acc->region)) {
            snprintf(msg, msg_size,
                     "Image messages are not supported for business accounts in region %s. "
                     "Send text instead.",
                     acc->region);
            return refused(st, ob, 40118);
        }
        if (ttdm_sim_rules_region_blocked(&st->rules, cu->region)) {
            snprintf(msg, msg_size,
                     "Image messages are not supported for customers in region %s. Send text "
                     "instead.",
                     cu->region);
            return refused(st, ob, 40118);
        }
    }
    /* R4: a conversation already counted today never hits the limit. */
    if (!v.counted_today && acc->daily_used >= acc->daily_limit) {
        snprintf(msg, msg_size, "You are sending messages too fast. Take a rest.");
        return refused(st, ob, 40064);
    }

    m = message_new(st, false, ob->image ? "image" : "text", ob->image ? NULL : ob->text,
                    ob->image ? ob->media_id : NULL, now_ms);
    ttdm_strlcpy(m->source, ob->source, sizeof(m->source));
    ttdm_sim_vec_push(&conv->messages, m);
    if (now_ms >= conv->last_customer_ms)
        conv->replies_used++;
    if (!v.counted_today) {
        conv->counted_epoch = acc->daily_epoch;
        acc->daily_used++;
    }
    conv->business_replied = true;
    if (now_ms > conv->updated_ms)
        conv->updated_ms = now_ms;
    if (strcmp(ob->source, "APP") == 0)
        st->stats.app_messages_accepted++;
    else
        st->stats.sends_accepted++;
    *out = m;
    return 0;
}

/* --- media --- */

struct sim_media *ttdm_sim_state_media_add(struct sim_state *st, struct sim_account *acc,
                                           struct sim_conversation *conv, unsigned char *data,
                                           size_t len, const char *content_type, int64_t now_ms)
{
    struct sim_media *m = ttdm_calloc(1, sizeof(*m));
    prefixed_hex_id("img-", 16, m->media_id, sizeof(m->media_id));
    m->data = data;
    m->len = len;
    m->content_type = content_type;
    m->account = acc;
    m->conv = conv;
    m->created_ms = now_ms;
    ttdm_sim_vec_push(&st->media, m);
    ttdm_sim_map_put(&st->media_by_id, m->media_id, m);
    return m;
}

struct sim_media *ttdm_sim_state_media_find(struct sim_state *st, const char *media_id)
{
    return ttdm_sim_map_get(&st->media_by_id, media_id);
}

/* --- webhook content --- */

static cJSON *user_json(const char *id, const char *role, const char *region)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "id", id);
    cJSON_AddStringToObject(u, "role", role);
    if (region)
        cJSON_AddStringToObject(u, "region", region);
    return u;
}

/* from/to identity fields shared by every DIRECT_MESSAGE event. */
static void add_parties(cJSON *c, const struct sim_conversation *conv, bool from_customer)
{
    const struct sim_customer *cu = conv->customer;
    const struct sim_account *acc = conv->account;
    cJSON *person = user_json(cu->customer_id, "personal_account", cu->region);
    cJSON *business = user_json(acc->business_id, "business_account", NULL);

    cJSON_AddStringToObject(c, "from", from_customer ? cu->username : acc->username);
    cJSON_AddStringToObject(c, "to", from_customer ? acc->username : cu->username);
    cJSON_AddItemToObject(c, "from_user", from_customer ? person : business);
    cJSON_AddItemToObject(c, "to_user", from_customer ? business : person);
    cJSON_AddStringToObject(c, "unique_identifier", cu->customer_id);
}

cJSON *ttdm_sim_state_message_content(const struct sim_conversation *conv,
                                      const struct sim_message *msg)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddStringToObject(c, "conversation_id", conv->conversation_id);
    cJSON_AddStringToObject(c, "message_id", msg->message_id);
    ttdm_json_add_i64(c, "timestamp", msg->timestamp_ms);
    cJSON_AddStringToObject(c, "type", msg->type);
    add_parties(c, conv, msg->inbound);
    if (msg->text) {
        cJSON *t = cJSON_AddObjectToObject(c, "text");
        cJSON_AddStringToObject(t, "body", msg->text);
    }
    if (msg->media_id[0]) {
        cJSON *o = cJSON_AddObjectToObject(c, strcmp(msg->type, "video") == 0 ? "video" : "image");
        cJSON_AddStringToObject(o, "media_id", msg->media_id);
    }
    if (!msg->inbound) {
        cJSON *tag = cJSON_AddObjectToObject(c, "message_tag");
        cJSON_AddStringToObject(tag, "source", msg->source);
    }
    for (const cJSON *e = msg->extra ? msg->extra->child : NULL; e; e = e->next) {
        if (!cJSON_GetObjectItemCaseSensitive(c, e->string))
            cJSON_AddItemToObject(c, e->string, cJSON_Duplicate(e, 1));
    }
    return c;
}

cJSON *ttdm_sim_state_read_content(const struct sim_conversation *conv, int64_t read_ms,
                                   int64_t now_ms)
{
    cJSON *c = cJSON_CreateObject();
    cJSON *r;
    cJSON_AddStringToObject(c, "conversation_id", conv->conversation_id);
    ttdm_json_add_i64(c, "timestamp", now_ms);
    add_parties(c, conv, true);
    r = cJSON_AddObjectToObject(c, "read");
    ttdm_json_add_i64(r, "last_read_timestamp", read_ms);
    return c;
}

/* --- faults --- */

struct sim_fault *ttdm_sim_state_fault_add(struct sim_state *st, const char *endpoint,
                                           const char *kind, int64_t count, int64_t delay_ms,
                                           bool process)
{
    struct sim_fault *f = ttdm_calloc(1, sizeof(*f));
    f->id = ++st->fault_seq;
    ttdm_strlcpy(f->endpoint, endpoint, sizeof(f->endpoint));
    ttdm_strlcpy(f->kind, kind, sizeof(f->kind));
    f->remaining = count;
    f->delay_ms = delay_ms;
    f->process = process;
    ttdm_sim_vec_push(&st->faults, f);
    return f;
}

bool ttdm_sim_state_fault_take(struct sim_state *st, const char *endpoint, struct sim_fault *out)
{
    /* First added, first used: a test that queues "500 then timeout" gets them in order. */
    for (size_t i = 0; i < st->faults.n; i++) {
        struct sim_fault *f = st->faults.items[i];
        if (strcmp(f->endpoint, "*") != 0 && strcmp(f->endpoint, endpoint) != 0)
            continue;
        f->hits++;
        *out = *f;
        if (f->remaining > 0 && --f->remaining == 0) {
            memmove(&st->faults.items[i], &st->faults.items[i + 1],
                    (st->faults.n - i - 1) * sizeof(void *));
            st->faults.n--;
            ttdm_free(f);
        }
        st->stats.faults_injected++;
        return true;
    }
    return false;
}

void ttdm_sim_state_faults_clear(struct sim_state *st)
{
    for (size_t i = 0; i < st->faults.n; i++)
        ttdm_free(st->faults.items[i]);
    st->faults.n = 0;
}

/* --- statistics --- */

void ttdm_sim_state_count(struct sim_counter *slots, const char *name)
{
    for (size_t i = 0; i < SIM_STAT_SLOTS; i++) {
        if (slots[i].name[0] == '\0')
            ttdm_strlcpy(slots[i].name, name, sizeof(slots[i].name));
        if (strcmp(slots[i].name, name) == 0) {
            slots[i].n++;
            return;
        }
    }
    LOG_DEBUG("sim", "statistics table full, '%s' not counted", name);
}

cJSON *ttdm_sim_state_counters_json(const struct sim_counter *slots)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < SIM_STAT_SLOTS && slots[i].name[0]; i++)
        ttdm_json_add_i64(o, slots[i].name, slots[i].n);
    return o;
}

/* --- JSON views --- */

cJSON *ttdm_sim_state_account_json(const struct sim_state *st, const struct sim_account *acc,
                                   int64_t now_ms)
{
    cJSON *o = cJSON_CreateObject();
    bool today = acc->daily_day == ttdm_sim_rules_utc_day(now_ms);
    (void)st;
    cJSON_AddStringToObject(o, "business_id", acc->business_id);
    cJSON_AddStringToObject(o, "username", acc->username);
    cJSON_AddStringToObject(o, "display_name", acc->display_name);
    cJSON_AddStringToObject(o, "region", acc->region);
    cJSON_AddStringToObject(o, "origin", acc->origin_app ? "app" : "web");
    ttdm_json_add_i64(o, "daily_limit", acc->daily_limit);
    ttdm_json_add_i64(o, "daily_used", today ? acc->daily_used : 0);
    cJSON_AddStringToObject(o, "access_token", acc->access_token);
    cJSON_AddStringToObject(o, "refresh_token", acc->refresh_token);
    ttdm_json_add_i64(o, "created_ms", acc->created_ms);
    return o;
}

cJSON *ttdm_sim_state_message_json(const struct sim_message *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message_id", msg->message_id);
    cJSON_AddStringToObject(o, "direction", msg->inbound ? "inbound" : "outbound");
    cJSON_AddStringToObject(o, "type", msg->type);
    if (msg->text)
        cJSON_AddStringToObject(o, "text", msg->text);
    else
        cJSON_AddNullToObject(o, "text");
    if (msg->media_id[0])
        cJSON_AddStringToObject(o, "media_id", msg->media_id);
    else
        cJSON_AddNullToObject(o, "media_id");
    ttdm_json_add_i64(o, "timestamp_ms", msg->timestamp_ms);
    if (msg->source[0])
        cJSON_AddStringToObject(o, "source", msg->source);
    else
        cJSON_AddNullToObject(o, "source");
    if (msg->extra)
        cJSON_AddItemToObject(o, "extra", cJSON_Duplicate(msg->extra, 1));
    return o;
}
