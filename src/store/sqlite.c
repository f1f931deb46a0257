/* sqlite.c -- store.h on SQLite: rule state exact under any webhook order, writes
 * group-committed on one writer connection, reads on a pool of WAL reader connections. */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/group_commit.h"
#include "store/sql.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define LOG_MODULE "store"
#define READERS_MAX 4 /* WAL readers never block each other or the writer */
#define GROUP_COMMIT_DEFAULT 64
#define PAGE_MAX 1000     /* most rows one list call returns */
#define PREVIEW_CHARS 120 /* code points of text shown in a conversation list */
#define ENUM_SCAN 32      /* enum values tried when parsing a stored name */
#define MS_PER_MINUTE INT64_C(60000)
#define MS_PER_DAY INT64_C(86400000)
#define PREVIEW_SIZE sizeof(((struct ttdm_conversation_view *)0)->last_preview)

struct ttdm_store {
    struct ttdm_policy_rules rules;
    char *path;
    bool durable;
    struct ttdm_group_commit *gc; /* owns the writer connection */

    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cond;
    struct ttdm_sql_conn *idle; /* reader connections not in use */
    size_t readers_open;
};

/* ---- Small helpers ------------------------------------------------------------------------ */

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

/* Stored enums are the stable names of core/model.c; a name we do not know (a row written by
 * a newer ttdm) falls back to the given default rather than failing the whole read. */
static enum ttdm_direction direction_parse(const char *s)
{
    for (int i = 0; i < ENUM_SCAN; i++) {
        if (strcmp(s, ttdm_direction_name((enum ttdm_direction)i)) == 0)
            return (enum ttdm_direction)i;
    }
    return TTDM_DIR_CUSTOMER;
}

static enum ttdm_msg_source source_parse(const char *s)
{
    for (int i = 0; i < ENUM_SCAN; i++) {
        if (strcmp(s, ttdm_msg_source_name((enum ttdm_msg_source)i)) == 0)
            return (enum ttdm_msg_source)i;
    }
    return TTDM_SOURCE_CUSTOMER;
}

static enum ttdm_msg_type type_parse(const char *s)
{
    for (int i = 0; i < ENUM_SCAN; i++) {
        if (strcmp(s, ttdm_msg_type_name((enum ttdm_msg_type)i)) == 0)
            return (enum ttdm_msg_type)i;
    }
    return TTDM_MSG_UNSUPPORTED;
}

static enum ttdm_msg_status status_parse(const char *s)
{
    enum ttdm_msg_status st = TTDM_STATUS_RECEIVED;
    ttdm_msg_status_parse(s, &st);
    return st;
}

static enum ttdm_channel_status channel_status_parse(const char *s)
{
    for (int i = 0; i < ENUM_SCAN; i++) {
        if (strcmp(s, ttdm_channel_status_name((enum ttdm_channel_status)i)) == 0)
            return (enum ttdm_channel_status)i;
    }
    return TTDM_CHANNEL_CONNECTED;
}

static int64_t day_of(const struct ttdm_sql_conn *c, int64_t ms)
{
    return ttdm_policy_day(c->rules, ms);
}

/* [start, end) in ms of a calendar day as ttdm_policy_day() numbers it. */
static void day_bounds(const struct ttdm_sql_conn *c, int64_t day, int64_t *start, int64_t *end)
{
    *start = day * MS_PER_DAY - (int64_t)c->rules->day_offset_minutes * MS_PER_MINUTE;
    *end = *start + MS_PER_DAY;
}

/*
 * The start of a message as a conversation list shows it: at most PREVIEW_CHARS code points
 * and what fits in out_size, always cut between two UTF-8 sequences (never inside one).
 */
static void preview_of(enum ttdm_msg_type type, const char *text, size_t len, const char *raw_type,
                       char *out, size_t out_size)
{
    size_t end = 0;
    size_t chars = 0;

    switch (type) {
    case TTDM_MSG_IMAGE:
        ttdm_strlcpy(out, "[image]", out_size);
        return;
    case TTDM_MSG_SHARE_POST:
        ttdm_strlcpy(out, "[post]", out_size);
        return;
    case TTDM_MSG_UNSUPPORTED:
        snprintf(out, out_size, "[unsupported: %.64s]",
                 (raw_type != NULL && raw_type[0] != '\0') ? raw_type : "unknown");
        return;
    case TTDM_MSG_TEXT:
    default:
        break;
    }
    if (text == NULL)
        len = 0;
    while (end < len && chars < PREVIEW_CHARS) {
        size_t next = end + 1;
        while (next < len && ((unsigned char)text[next] & 0xC0) == 0x80)
            next++;
        if (next >= out_size)
            break;
        end = next;
        chars++;
    }
    if (end > 0)
        memcpy(out, text, end);
    out[end] = '\0';
}

/* Steps a one-value query (COUNT, MAX...) and resets it; *v is 0 when there is no row. */
static enum ttdm_err query_i64(struct ttdm_sql_conn *c, sqlite3_stmt *st, int64_t *v)
{
    bool row = false;
    enum ttdm_err rc = ttdm_sql_step(c, st, &row);

    *v = (rc == TTDM_OK && row) ? sqlite3_column_int64(st, 0) : 0;
    ttdm_sql_reset(st);
    return rc;
}

/* ---- Rows --------------------------------------------------------------------------------- */

#define MSG_COLS                                                                                   \
    "m.id, m.workspace_id, m.channel_id, m.conversation_id, m.direction, m.source, m.type, "       \
    "m.status, m.text, m.media_path, m.media_mime, m.media_size, m.share_url, m.raw_type, "        \
    "IFNULL(m.tiktok_message_id, ''), m.timestamp_ms, m.created_at, m.updated_at, m.attempts, "    \
    "m.error_code, m.error_text, m.tiktok_error_code"

static void message_read(sqlite3_stmt *st, int col, struct ttdm_message *m)
{
    memset(m, 0, sizeof(*m));
    m->id = sqlite3_column_int64(st, col + 0);
    m->workspace_id = sqlite3_column_int64(st, col + 1);
    m->channel_id = sqlite3_column_int64(st, col + 2);
    m->conversation_id = sqlite3_column_int64(st, col + 3);
    m->direction = direction_parse(ttdm_sql_col_text(st, col + 4));
    m->source = source_parse(ttdm_sql_col_text(st, col + 5));
    m->type = type_parse(ttdm_sql_col_text(st, col + 6));
    m->status = status_parse(ttdm_sql_col_text(st, col + 7));
    if (sqlite3_column_type(st, col + 8) != SQLITE_NULL) {
        const char *t = ttdm_sql_col_text(st, col + 8);
        m->text = ttdm_strndup(t, (size_t)sqlite3_column_bytes(st, col + 8));
    }
    ttdm_sql_col_copy(st, col + 9, m->media_path, sizeof(m->media_path));
    ttdm_sql_col_copy(st, col + 10, m->media_mime, sizeof(m->media_mime));
    m->media_size = sqlite3_column_int64(st, col + 11);
    ttdm_sql_col_copy(st, col + 12, m->share_url, sizeof(m->share_url));
    ttdm_sql_col_copy(st, col + 13, m->raw_type, sizeof(m->raw_type));
    ttdm_sql_col_copy(st, col + 14, m->tiktok_message_id, sizeof(m->tiktok_message_id));
    m->timestamp_ms = sqlite3_column_int64(st, col + 15);
    m->created_at = sqlite3_column_int64(st, col + 16);
    m->updated_at = sqlite3_column_int64(st, col + 17);
    m->attempts = sqlite3_column_int(st, col + 18);
    ttdm_sql_col_copy(st, col + 19, m->error_code, sizeof(m->error_code));
    ttdm_sql_col_copy(st, col + 20, m->error_text, sizeof(m->error_text));
    m->tiktok_error_code = sqlite3_column_int(st, col + 21);
}

/* One message by id; workspace_id 0 means any workspace. NOT_FOUND when absent. */
static enum ttdm_err message_load(struct ttdm_sql_conn *c, int64_t workspace_id, int64_t id,
                                  struct ttdm_message *out)
{
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT " MSG_COLS " FROM messages m"
                          " WHERE m.id = ?1 AND (?2 = 0 OR m.workspace_id = ?2)",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, id);
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    message_read(st, 0, out);
done:
    ttdm_sql_reset(st);
    return rc;
}

/* What a new message row holds; strings may be NULL. */
struct msg_new {
    int64_t workspace_id;
    int64_t channel_id;
    int64_t conversation_id;
    enum ttdm_direction direction;
    enum ttdm_msg_source source;
    enum ttdm_msg_type type;
    enum ttdm_msg_status status;
    const char *text;
    size_t text_len;
    const char *media_path;
    const char *media_mime;
    int64_t media_size;
    const char *share_url;
    const char *raw_type;
    const char *tiktok_message_id; /* NULL or "": none yet */
    int64_t timestamp_ms;
    bool counts;
    bool from_webhook;
    bool echo_seen;
    const char *idempotency_key; /* NULL or "": none */
    int attempts;                /* 1 when leased to a sender in the same transaction */
    int64_t now;
};

static enum ttdm_err message_insert(struct ttdm_sql_conn *c, const struct msg_new *m, int64_t *id)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(
        c,
        "INSERT INTO messages (workspace_id, channel_id, conversation_id, direction, source,"
        " type, status, text, media_path, media_mime, media_size, share_url, raw_type,"
        " tiktok_message_id, timestamp_ms, counts, from_webhook, echo_seen, idempotency_key,"
        " attempts, created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?21, ?20, ?20)",
        &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, m->workspace_id);
    ttdm_sql_bind_i64(c, st, 2, m->channel_id);
    ttdm_sql_bind_i64(c, st, 3, m->conversation_id);
    ttdm_sql_bind_text(c, st, 4, ttdm_direction_name(m->direction));
    ttdm_sql_bind_text(c, st, 5, ttdm_msg_source_name(m->source));
    ttdm_sql_bind_text(c, st, 6, ttdm_msg_type_name(m->type));
    ttdm_sql_bind_text(c, st, 7, ttdm_msg_status_name(m->status));
    ttdm_sql_bind_text_n(c, st, 8, m->text, m->text_len);
    ttdm_sql_bind_text(c, st, 9, nz(m->media_path));
    ttdm_sql_bind_text(c, st, 10, nz(m->media_mime));
    ttdm_sql_bind_i64(c, st, 11, m->media_size);
    ttdm_sql_bind_text(c, st, 12, nz(m->share_url));
    ttdm_sql_bind_text(c, st, 13, nz(m->raw_type));
    ttdm_sql_bind_opt(c, st, 14, m->tiktok_message_id);
    ttdm_sql_bind_i64(c, st, 15, m->timestamp_ms);
    ttdm_sql_bind_i64(c, st, 16, m->counts);
    ttdm_sql_bind_i64(c, st, 17, m->from_webhook);
    ttdm_sql_bind_i64(c, st, 18, m->echo_seen);
    ttdm_sql_bind_opt(c, st, 19, m->idempotency_key);
    ttdm_sql_bind_i64(c, st, 20, m->now);
    ttdm_sql_bind_i64(c, st, 21, m->attempts);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK)
        *id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

/* The message just inserted from `m` as row `id`, as message_load would read it back. */
static void message_from_new(const struct msg_new *m, int64_t id, struct ttdm_message *out)
{
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->workspace_id = m->workspace_id;
    out->channel_id = m->channel_id;
    out->conversation_id = m->conversation_id;
    out->direction = m->direction;
    out->source = m->source;
    out->type = m->type;
    out->status = m->status;
    if (m->text != NULL)
        out->text = ttdm_strndup(m->text, m->text_len);
    ttdm_strlcpy(out->media_path, nz(m->media_path), sizeof(out->media_path));
    ttdm_strlcpy(out->media_mime, nz(m->media_mime), sizeof(out->media_mime));
    out->media_size = m->media_size;
    ttdm_strlcpy(out->share_url, nz(m->share_url), sizeof(out->share_url));
    ttdm_strlcpy(out->raw_type, nz(m->raw_type), sizeof(out->raw_type));
    ttdm_strlcpy(out->tiktok_message_id, nz(m->tiktok_message_id), sizeof(out->tiktok_message_id));
    out->timestamp_ms = m->timestamp_ms;
    out->created_at = m->now;
    out->updated_at = m->now;
    out->attempts = m->attempts;
}

/* The rule state of a conversation as stored (see the schema: all derived from messages). */
struct conv_row {
    int64_t id;
    int64_t workspace_id;
    int64_t channel_id;
    int64_t customer_id; /* 0: none yet */
    int64_t latest_customer_msg_at;
    int replies_used;
    int64_t last_business_msg_at;
    int64_t last_activity_at;
    int unread_count;
    int64_t stored_activity_at; /* last_activity_at as read: conv_save moves the list
                                   indexes only when it changed */
};

#define CONV_ROW_COLS                                                                              \
    "c.id, c.workspace_id, c.channel_id, IFNULL(c.customer_id, 0), c.latest_customer_msg_at, "     \
    "c.replies_used, c.last_business_msg_at, c.last_activity_at, c.unread_count"
#define CONV_ROW_NCOLS 9

static void conv_row_read(sqlite3_stmt *st, struct conv_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->workspace_id = sqlite3_column_int64(st, 1);
    r->channel_id = sqlite3_column_int64(st, 2);
    r->customer_id = sqlite3_column_int64(st, 3);
    r->latest_customer_msg_at = sqlite3_column_int64(st, 4);
    r->replies_used = sqlite3_column_int(st, 5);
    r->last_business_msg_at = sqlite3_column_int64(st, 6);
    r->last_activity_at = sqlite3_column_int64(st, 7);
    r->unread_count = sqlite3_column_int(st, 8);
    r->stored_activity_at = r->last_activity_at;
}

static enum ttdm_err conv_load(struct ttdm_sql_conn *c, int64_t id, struct conv_row *r)
{
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c, "SELECT " CONV_ROW_COLS " FROM conversations c WHERE c.id = ?1", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    conv_row_read(st, r);
done:
    ttdm_sql_reset(st);
    return rc;
}

/* Writes the state back; `preview` NULL keeps the stored one. */
static enum ttdm_err conv_save(struct ttdm_sql_conn *c, const struct conv_row *r,
                               const char *preview, int64_t now)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    /* last_activity_at is in both list indexes: an UPDATE that names it moves the row in
     * both, even to the same place. customer_id is not named (conv_set_customer). */
    if (r->last_activity_at != r->stored_activity_at)
        rc = ttdm_sql_prepare(c,
                              "UPDATE conversations SET latest_customer_msg_at = ?2,"
                              " replies_used = ?3, last_business_msg_at = ?4,"
                              " last_activity_at = ?5, unread_count = ?6,"
                              " last_preview = IFNULL(?7, last_preview), updated_at = ?8"
                              " WHERE id = ?1",
                              &st);
    else
        rc = ttdm_sql_prepare(c,
                              "UPDATE conversations SET latest_customer_msg_at = ?2,"
                              " replies_used = ?3, last_business_msg_at = ?4, unread_count = ?6,"
                              " last_preview = IFNULL(?7, last_preview), updated_at = ?8"
                              " WHERE id = ?1 AND last_activity_at = ?5",
                              &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, r->id);
    ttdm_sql_bind_i64(c, st, 2, r->latest_customer_msg_at);
    ttdm_sql_bind_i64(c, st, 3, r->replies_used);
    ttdm_sql_bind_i64(c, st, 4, r->last_business_msg_at);
    ttdm_sql_bind_i64(c, st, 5, r->last_activity_at);
    ttdm_sql_bind_i64(c, st, 6, r->unread_count);
    ttdm_sql_bind_text(c, st, 7, preview);
    ttdm_sql_bind_i64(c, st, 8, now);
    return ttdm_sql_exec(c, st);
}

/* R3: counted business messages later than the latest customer message. */
static enum ttdm_err count_replies(struct ttdm_sql_conn *c, int64_t conv_id, int64_t after, int *n)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1"
                          " AND direction = 'business' AND counts = 1 AND timestamp_ms > ?2",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, conv_id);
    ttdm_sql_bind_i64(c, st, 2, after);
    rc = query_i64(c, st, &v);
    *n = (int)v;
    return rc;
}

static enum ttdm_err count_unread(struct ttdm_sql_conn *c, int64_t conv_id, int64_t after, int *n)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1"
                          " AND direction = 'customer' AND timestamp_ms > ?2",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, conv_id);
    ttdm_sql_bind_i64(c, st, 2, after);
    rc = query_i64(c, st, &v);
    *n = (int)v;
    return rc;
}

/* The time of the conversation's latest business message, 0 when none. */
static enum ttdm_err last_business_at(struct ttdm_sql_conn *c, int64_t conv_id, int64_t *at)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc = ttdm_sql_prepare(c,
                                        "SELECT IFNULL(MAX(timestamp_ms), 0) FROM messages"
                                        " WHERE conversation_id = ?1 AND direction = 'business'",
                                        &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, conv_id);
    return query_i64(c, st, at);
}

/*
 * Recomputes everything derived from business messages after one of them moved in time or
 * stopped counting. latest_customer_msg_at only depends on customer messages, which never
 * move, so it stays.
 */
static enum ttdm_err conv_recompute(struct ttdm_sql_conn *c, struct conv_row *r)
{
    enum ttdm_err rc;

    rc = count_replies(c, r->id, r->latest_customer_msg_at, &r->replies_used);
    if (rc)
        return rc;
    rc = last_business_at(c, r->id, &r->last_business_msg_at);
    if (rc)
        return rc;
    return count_unread(c, r->id, r->last_business_msg_at, &r->unread_count);
}

/* ---- R4: the daily conversation set ------------------------------------------------------- */

static enum ttdm_err daily_add(struct ttdm_sql_conn *c, int64_t workspace_id, int64_t channel_id,
                               int64_t day, int64_t conv_id)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "INSERT OR IGNORE INTO daily_conversations"
                          " (channel_id, day, conversation_id, workspace_id)"
                          " VALUES (?1, ?2, ?3, ?4)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, channel_id);
    ttdm_sql_bind_i64(c, st, 2, day);
    ttdm_sql_bind_i64(c, st, 3, conv_id);
    ttdm_sql_bind_i64(c, st, 4, workspace_id);
    return ttdm_sql_exec(c, st);
}

/* Takes the conversation out of a day's set when no counted business message of it falls on
 * that day any more (a refusal given back, or a message whose timestamp moved). */
static enum ttdm_err daily_release_if_unused(struct ttdm_sql_conn *c, int64_t channel_id,
                                             int64_t conv_id, int64_t day)
{
    sqlite3_stmt *st = NULL;
    int64_t start, end, n = 0;
    enum ttdm_err rc;

    day_bounds(c, day, &start, &end);
    rc = ttdm_sql_prepare(c,
                          "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1"
                          " AND direction = 'business' AND counts = 1"
                          " AND timestamp_ms >= ?2 AND timestamp_ms < ?3",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, conv_id);
    ttdm_sql_bind_i64(c, st, 2, start);
    ttdm_sql_bind_i64(c, st, 3, end);
    rc = query_i64(c, st, &n);
    if (rc || n > 0)
        return rc;
    rc = ttdm_sql_prepare(c,
                          "DELETE FROM daily_conversations"
                          " WHERE channel_id = ?1 AND day = ?2 AND conversation_id = ?3",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, channel_id);
    ttdm_sql_bind_i64(c, st, 2, day);
    ttdm_sql_bind_i64(c, st, 3, conv_id);
    return ttdm_sql_exec(c, st);
}

/* daily_used of the channel on `day`, and whether the conversation is among them. */
static enum ttdm_err daily_state(struct ttdm_sql_conn *c, int64_t channel_id, int64_t day,
                                 int64_t conv_id, bool *counted, int *used)
{
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    *counted = false;
    *used = 0;
    /* Two key look-ups: daily_counts is kept by triggers (migration 0003). */
    rc = ttdm_sql_prepare(c,
                          "SELECT IFNULL((SELECT used FROM daily_counts"
                          "   WHERE channel_id = ?1 AND day = ?2), 0),"
                          " EXISTS(SELECT 1 FROM daily_conversations"
                          "   WHERE channel_id = ?1 AND day = ?2 AND conversation_id = ?3)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, channel_id);
    ttdm_sql_bind_i64(c, st, 2, day);
    ttdm_sql_bind_i64(c, st, 3, conv_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        *used = sqlite3_column_int(st, 0);
        *counted = sqlite3_column_int(st, 1) != 0;
    }
    ttdm_sql_reset(st);
    return rc;
}

/*
 * A business message's timestamp changed (TikTok's echo, or the send time): move it in the
 * daily set and recompute the quota, which compares timestamps.
 */
static enum ttdm_err business_moved(struct ttdm_sql_conn *c, int64_t conv_id, bool counts,
                                    int64_t old_ts, int64_t new_ts, int64_t now)
{
    struct conv_row r;
    enum ttdm_err rc;

    rc = conv_load(c, conv_id, &r);
    if (rc)
        return rc;
    /*
     * The common moves (a send: a little later; then TikTok's echo: a little earlier, its
     * time of acceptance) stay on the same day and after the customer's latest message.
     * They change no count: the message counts for R3 either way, the day's set is the same,
     * and nothing is unread after it. Only the latest business time may move. The
     * conversation's last activity stays when the reply was accepted (as an inbox shows
     * it): moving it would move the conversation in both list indexes for a few
     * milliseconds' difference, twice per reply.
     */
    if (day_of(c, old_ts) == day_of(c, new_ts) && old_ts > r.latest_customer_msg_at &&
        new_ts > r.latest_customer_msg_at) {
        int64_t last_business = r.last_business_msg_at;
        if (new_ts >= r.last_business_msg_at) {
            r.last_business_msg_at = new_ts;
        } else if (old_ts >= r.last_business_msg_at) {
            /* It was the latest and moved back: the latest is now it or another one. */
            rc = last_business_at(c, r.id, &r.last_business_msg_at);
            if (rc)
                return rc;
        }
        if (r.last_business_msg_at == last_business)
            return TTDM_OK;
        return conv_save(c, &r, NULL, now);
    }
    if (counts) {
        rc = daily_add(c, r.workspace_id, r.channel_id, day_of(c, new_ts), r.id);
        if (rc)
            return rc;
        if (day_of(c, old_ts) != day_of(c, new_ts)) {
            rc = daily_release_if_unused(c, r.channel_id, r.id, day_of(c, old_ts));
            if (rc)
                return rc;
        }
    }
    if (new_ts > r.last_activity_at)
        r.last_activity_at = new_ts;
    rc = conv_recompute(c, &r);
    if (rc)
        return rc;
    return conv_save(c, &r, NULL, now);
}

/* The policy's inputs for a conversation at now_ms. */
static enum ttdm_err policy_inputs(struct ttdm_sql_conn *c, const struct conv_row *r,
                                   int64_t now_ms, struct ttdm_conversation_state *cs,
                                   struct ttdm_channel_state *chs)
{
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    memset(cs, 0, sizeof(*cs));
    memset(chs, 0, sizeof(*chs));
    rc = ttdm_sql_prepare(c, "SELECT status, daily_limit FROM channels WHERE id = ?1", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, r->channel_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    chs->reconnect_required =
        channel_status_parse(ttdm_sql_col_text(st, 0)) == TTDM_CHANNEL_RECONNECT_REQUIRED;
    chs->daily_limit = sqlite3_column_int(st, 1);
    ttdm_sql_reset(st);
    st = NULL;
    rc = daily_state(c, r->channel_id, day_of(c, now_ms), r->id, &cs->counted_today,
                     &chs->daily_used);
    if (rc)
        goto done;
    cs->latest_customer_msg_at = r->latest_customer_msg_at;
    cs->replies_used = r->replies_used;
done:
    ttdm_sql_reset(st);
    return rc;
}

/* ---- Open and close ----------------------------------------------------------------------- */

enum ttdm_err ttdm_store_open(const struct ttdm_store_options *opt, struct ttdm_store **out,
                              char *err, size_t err_size)
{
    struct ttdm_store *s = NULL;
    struct ttdm_sql_conn *writer = NULL;
    enum ttdm_err rc;

    *out = NULL;
    if (opt == NULL || opt->path == NULL || opt->path[0] == '\0') {
        snprintf(err, err_size, "no database path given");
        return TTDM_ERR_STORAGE;
    }
    s = ttdm_calloc(1, sizeof(*s));
    if (opt->rules != NULL)
        s->rules = *opt->rules;
    else
        ttdm_policy_rules_default(&s->rules);
    s->path = ttdm_strdup(opt->path);
    s->durable = opt->durable;
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cond, NULL);

    rc = ttdm_sql_open(s->path, TTDM_SQL_WRITER, s->durable, &s->rules, &writer, err, err_size);
    if (rc)
        goto fail;
    rc = ttdm_sql_migrate(writer, err, err_size);
    if (rc)
        goto fail;
    s->gc = ttdm_group_commit_start(writer, opt->group_commit_max > 0 ? opt->group_commit_max
                                                                      : GROUP_COMMIT_DEFAULT);
    writer = NULL; /* owned by the group commit now, even when it failed to start */
    if (s->gc == NULL) {
        snprintf(err, err_size, "cannot start the database writer thread");
        rc = TTDM_ERR_STORAGE;
        goto fail;
    }
    *out = s;
    return TTDM_OK;
fail:
    ttdm_sql_close(writer);
    ttdm_store_close(s);
    return rc;
}

void ttdm_store_close(struct ttdm_store *s)
{
    if (s == NULL)
        return;
    /* Every reader is back in the pool: callers may not use a store they are closing.
     * Readers close first so that the writer is the last connection, the one that
     * checkpoints and removes the WAL. */
    while (s->idle != NULL) {
        struct ttdm_sql_conn *c = s->idle;
        s->idle = c->next_idle;
        ttdm_sql_close(c);
    }
    if (s->gc != NULL) {
        struct ttdm_store_stats st;
        ttdm_store_stats(s, &st);
        LOG_INFO("store", "closed after %llu writes in %llu commits (largest %llu)",
                 (unsigned long long)st.writes, (unsigned long long)st.commits,
                 (unsigned long long)st.largest_batch);
    }
    ttdm_group_commit_stop(s->gc);
    pthread_cond_destroy(&s->pool_cond);
    pthread_mutex_destroy(&s->pool_mu);
    ttdm_free(s->path);
    ttdm_free(s);
}

void ttdm_store_stats(struct ttdm_store *s, struct ttdm_store_stats *out)
{
    memset(out, 0, sizeof(*out));
    ttdm_group_commit_stats(s->gc, &out->commits, &out->writes, &out->largest_batch);
}

/* Borrows a reader connection, opening one when all are busy (up to READERS_MAX). */
static enum ttdm_err reader_get(struct ttdm_store *s, struct ttdm_sql_conn **out)
{
    struct ttdm_sql_conn *c = NULL;
    char err[256];
    enum ttdm_err rc;

    *out = NULL;
    pthread_mutex_lock(&s->pool_mu);
    while (s->idle == NULL && s->readers_open >= READERS_MAX)
        pthread_cond_wait(&s->pool_cond, &s->pool_mu);
    if (s->idle != NULL) {
        c = s->idle;
        s->idle = c->next_idle;
        c->next_idle = NULL;
        pthread_mutex_unlock(&s->pool_mu);
        *out = c;
        return TTDM_OK;
    }
    s->readers_open++;
    pthread_mutex_unlock(&s->pool_mu);

    rc = ttdm_sql_open(s->path, TTDM_SQL_READER, s->durable, &s->rules, &c, err, sizeof(err));
    if (rc) {
        LOG_ERROR(LOG_MODULE, "%s", err);
        pthread_mutex_lock(&s->pool_mu);
        s->readers_open--;
        pthread_cond_signal(&s->pool_cond);
        pthread_mutex_unlock(&s->pool_mu);
        return rc;
    }
    *out = c;
    return TTDM_OK;
}

static void reader_put(struct ttdm_store *s, struct ttdm_sql_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&s->pool_mu);
    c->next_idle = s->idle;
    s->idle = c;
    pthread_cond_signal(&s->pool_cond);
    pthread_mutex_unlock(&s->pool_mu);
}

/* ---- Workspaces and API keys -------------------------------------------------------------- */

struct workspace_args {
    const char *name;
    int64_t now;
    int64_t id;
};

static enum ttdm_err tx_workspace_create(struct ttdm_sql_conn *c, void *arg)
{
    struct workspace_args *a = arg;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c, "INSERT INTO workspaces (name, created_at) VALUES (?1, ?2)", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_text(c, st, 1, nz(a->name));
    ttdm_sql_bind_i64(c, st, 2, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK)
        a->id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

enum ttdm_err ttdm_store_workspace_create(struct ttdm_store *s, const char *name, int64_t *id)
{
    struct workspace_args a = {.name = name, .now = ttdm_clock_now_ms()};
    enum ttdm_err rc = ttdm_group_commit_run(s->gc, tx_workspace_create, &a);

    if (rc == TTDM_OK && id != NULL)
        *id = a.id;
    return rc;
}

enum ttdm_err ttdm_store_workspace_first(struct ttdm_store *s, int64_t *id)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(c, "SELECT id FROM workspaces ORDER BY id LIMIT 1", &st);
    if (rc)
        goto done;
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    *id = sqlite3_column_int64(st, 0);
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    return rc;
}

struct apikey_args {
    int64_t workspace_id;
    const char *name;
    const char *hash;
    int64_t now;
    int64_t id;
    enum ttdm_role role;
};

static enum ttdm_err tx_apikey_create(struct ttdm_sql_conn *c, void *arg)
{
    struct apikey_args *a = arg;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "INSERT INTO api_keys (workspace_id, name, key_sha256, created_at, role)"
                          " VALUES (?1, ?2, ?3, ?4, ?5)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->workspace_id);
    ttdm_sql_bind_text(c, st, 2, nz(a->name));
    ttdm_sql_bind_text(c, st, 3, a->hash);
    ttdm_sql_bind_i64(c, st, 4, a->now);
    ttdm_sql_bind_text(c, st, 5, ttdm_role_name(a->role));
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK)
        a->id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

enum ttdm_err ttdm_store_apikey_create(struct ttdm_store *s, int64_t workspace_id, const char *name,
                                       const char *key_sha256_hex, int64_t *id)
{
    return ttdm_store_apikey_create_role(s, workspace_id, name, TTDM_ROLE_ADMIN, key_sha256_hex,
                                         id);
}

enum ttdm_err ttdm_store_apikey_create_role(struct ttdm_store *s, int64_t workspace_id,
                                            const char *name, enum ttdm_role role,
                                            const char *key_sha256_hex, int64_t *id)
{
    struct apikey_args a = {.workspace_id = workspace_id,
                            .name = name,
                            .hash = key_sha256_hex,
                            .now = ttdm_clock_now_ms(),
                            .role = role};
    enum ttdm_err rc;

    if (key_sha256_hex == NULL || key_sha256_hex[0] == '\0')
        return TTDM_ERR_BAD_REQUEST;
    rc = ttdm_group_commit_run(s->gc, tx_apikey_create, &a);
    if (rc == TTDM_OK && id != NULL)
        *id = a.id;
    return rc;
}

enum ttdm_err ttdm_store_apikey_find(struct ttdm_store *s, const char *key_sha256_hex,
                                     int64_t *workspace_id)
{
    enum ttdm_role role;
    return ttdm_store_apikey_lookup(s, key_sha256_hex, workspace_id, &role);
}

enum ttdm_err ttdm_store_apikey_lookup(struct ttdm_store *s, const char *key_sha256_hex,
                                       int64_t *workspace_id, enum ttdm_role *role)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    if (key_sha256_hex == NULL)
        return TTDM_ERR_UNAUTHORIZED;
    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(c,
                          "SELECT workspace_id, role FROM api_keys"
                          " WHERE key_sha256 = ?1 AND revoked_at IS NULL",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_text(c, st, 1, key_sha256_hex);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_UNAUTHORIZED;
        goto done;
    }
    *workspace_id = sqlite3_column_int64(st, 0);
    /* An unknown role name (written by a newer ttdm) gets the lesser rights. */
    *role = TTDM_ROLE_AGENT;
    ttdm_role_parse(ttdm_sql_col_text(st, 1), role);
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    return rc;
}

/* ---- Users and sessions ------------------------------------------------------------------- */

#define USER_COLS "id, workspace_id, email, name, role, created_at"

static void user_read(sqlite3_stmt *st, struct ttdm_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = sqlite3_column_int64(st, 0);
    u->workspace_id = sqlite3_column_int64(st, 1);
    ttdm_sql_col_copy(st, 2, u->email, sizeof(u->email));
    ttdm_sql_col_copy(st, 3, u->name, sizeof(u->name));
    u->role = TTDM_ROLE_AGENT; /* an unknown stored role gets the lesser rights */
    ttdm_role_parse(ttdm_sql_col_text(st, 4), &u->role);
    u->created_at = sqlite3_column_int64(st, 5);
}

struct user_args {
    const struct ttdm_user *in;
    const char *hash;
    int64_t now;
    int64_t id;
};

static enum ttdm_err tx_user_create(struct ttdm_sql_conn *c, void *arg)
{
    struct user_args *a = arg;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "INSERT INTO users (workspace_id, email, name, role, password_hash,"
                          " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->in->workspace_id);
    ttdm_sql_bind_text(c, st, 2, a->in->email);
    ttdm_sql_bind_text(c, st, 3, a->in->name);
    ttdm_sql_bind_text(c, st, 4, ttdm_role_name(a->in->role));
    ttdm_sql_bind_text(c, st, 5, a->hash);
    ttdm_sql_bind_i64(c, st, 6, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK)
        a->id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

enum ttdm_err ttdm_store_user_create(struct ttdm_store *s, const struct ttdm_user *in,
                                     const char *password_hash, int64_t *id)
{
    struct user_args a = {in, password_hash, ttdm_clock_now_ms(), 0};
    enum ttdm_err rc;

    if (in->email[0] == '\0' || password_hash == NULL || password_hash[0] == '\0')
        return TTDM_ERR_BAD_REQUEST;
    rc = ttdm_group_commit_run(s->gc, tx_user_create, &a);
    if (rc == TTDM_OK && id != NULL)
        *id = a.id;
    return rc;
}

enum ttdm_err ttdm_store_user_find_by_email(struct ttdm_store *s, const char *email,
                                            struct ttdm_user *out, char *hash, size_t hash_size)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc =
        ttdm_sql_prepare(c, "SELECT " USER_COLS ", password_hash FROM users WHERE email = ?1", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_text(c, st, 1, nz(email));
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    user_read(st, out);
    if (hash != NULL)
        ttdm_sql_col_copy(st, 6, hash, hash_size);
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    return rc;
}

enum ttdm_err ttdm_store_user_get(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                  struct ttdm_user *out)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(c, "SELECT " USER_COLS " FROM users WHERE id = ?1 AND workspace_id = ?2",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, id);
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    user_read(st, out);
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    return rc;
}

enum ttdm_err ttdm_store_user_list(struct ttdm_store *s, int64_t workspace_id,
                                   struct ttdm_user **out, size_t *n)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    struct ttdm_user *arr = NULL;
    size_t cap = 0, count = 0;
    bool row = false;
    enum ttdm_err rc;

    *out = NULL;
    *n = 0;
    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(
        c, "SELECT " USER_COLS " FROM users WHERE workspace_id = ?1 ORDER BY id LIMIT ?2", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, workspace_id);
    ttdm_sql_bind_i64(c, st, 2, PAGE_MAX);
    for (;;) {
        rc = ttdm_sql_step(c, st, &row);
        if (rc || !row)
            break;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            arr = ttdm_realloc(arr, cap * sizeof(*arr));
        }
        user_read(st, &arr[count++]);
    }
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    if (rc) {
        ttdm_free(arr);
        return rc;
    }
    *out = arr != NULL ? arr : ttdm_calloc(1, sizeof(*arr));
    *n = count;
    return TTDM_OK;
}

enum ttdm_err ttdm_store_user_count(struct ttdm_store *s, int64_t *n)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    *n = 0;
    rc = reader_get(s, &c);
    if (rc)
        return rc;
    rc = ttdm_sql_prepare(c, "SELECT COUNT(*) FROM users", &st);
    if (rc == TTDM_OK)
        rc = query_i64(c, st, n);
    reader_put(s, c);
    return rc;
}

/* Expired sessions go when a new one starts; expired OAuth states after a day, so that a late
 * callback can still be told "expired" rather than "unknown". */
static enum ttdm_err forget_expired(struct ttdm_sql_conn *c, int64_t now)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c, "DELETE FROM sessions WHERE expires_at <= ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, now);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    rc = ttdm_sql_prepare(c, "DELETE FROM oauth_states WHERE expires_at <= ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, now - MS_PER_DAY);
    return ttdm_sql_exec(c, st);
}

struct session_args {
    const struct ttdm_session *in;
    const char *hash;
    int64_t id;
};

static enum ttdm_err tx_session_create(struct ttdm_sql_conn *c, void *arg)
{
    struct session_args *a = arg;
    const struct ttdm_session *in = a->in;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = forget_expired(c, in->created_at);
    if (rc)
        return rc;
    rc = ttdm_sql_prepare(c,
                          "INSERT INTO sessions (workspace_id, user_id, token_sha256,"
                          " oauth_binding_sha256, csrf_token, created_at, expires_at)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, in->workspace_id);
    ttdm_sql_bind_i64(c, st, 2, in->user_id);
    ttdm_sql_bind_text(c, st, 3, a->hash);
    ttdm_sql_bind_text(c, st, 4, in->oauth_binding_sha256);
    ttdm_sql_bind_text(c, st, 5, in->csrf_token);
    ttdm_sql_bind_i64(c, st, 6, in->created_at);
    ttdm_sql_bind_i64(c, st, 7, in->expires_at);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK)
        a->id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

enum ttdm_err ttdm_store_session_create(struct ttdm_store *s, const struct ttdm_session *in,
                                        const char *token_sha256, int64_t *id)
{
    struct session_args a = {in, token_sha256, 0};
    enum ttdm_err rc;

    if (token_sha256 == NULL || token_sha256[0] == '\0')
        return TTDM_ERR_BAD_REQUEST;
    rc = ttdm_group_commit_run(s->gc, tx_session_create, &a);
    if (rc == TTDM_OK && id != NULL)
        *id = a.id;
    return rc;
}

enum ttdm_err ttdm_store_session_find(struct ttdm_store *s, const char *token_sha256,
                                      int64_t now_ms, struct ttdm_session *out)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    memset(out, 0, sizeof(*out));
    rc = reader_get(s, &c);
    if (rc)
        goto done;
    /* The user must still belong to the session's workspace; the role is the user's now. */
    rc = ttdm_sql_prepare(c,
                          "SELECT se.id, se.workspace_id, se.user_id, u.role, se.csrf_token,"
                          " se.oauth_binding_sha256, se.created_at, se.expires_at"
                          " FROM sessions se JOIN users u ON u.id = se.user_id"
                          " AND u.workspace_id = se.workspace_id"
                          " WHERE se.token_sha256 = ?1 AND se.expires_at > ?2",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_text(c, st, 1, nz(token_sha256));
    ttdm_sql_bind_i64(c, st, 2, now_ms);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_UNAUTHORIZED;
        goto done;
    }
    out->id = sqlite3_column_int64(st, 0);
    out->workspace_id = sqlite3_column_int64(st, 1);
    out->user_id = sqlite3_column_int64(st, 2);
    out->role = TTDM_ROLE_AGENT;
    ttdm_role_parse(ttdm_sql_col_text(st, 3), &out->role);
    ttdm_sql_col_copy(st, 4, out->csrf_token, sizeof(out->csrf_token));
    ttdm_sql_col_copy(st, 5, out->oauth_binding_sha256, sizeof(out->oauth_binding_sha256));
    out->created_at = sqlite3_column_int64(st, 6);
    out->expires_at = sqlite3_column_int64(st, 7);
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    return rc;
}

static enum ttdm_err tx_session_delete(struct ttdm_sql_conn *c, void *arg)
{
    const int64_t *id = arg;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c, "DELETE FROM sessions WHERE id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, *id);
    return ttdm_sql_exec(c, st);
}

enum ttdm_err ttdm_store_session_delete(struct ttdm_store *s, int64_t id)
{
    return ttdm_group_commit_run(s->gc, tx_session_delete, &id);
}

/* ---- OAuth states ------------------------------------------------------------------------- */

struct state_args {
    const char *hash;
    const struct ttdm_oauth_state *in;
    int64_t now;
    struct ttdm_oauth_state out;
};

static enum ttdm_err tx_oauth_state_create(struct ttdm_sql_conn *c, void *arg)
{
    struct state_args *a = arg;
    const struct ttdm_oauth_state *in = a->in;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = forget_expired(c, in->created_at);
    if (rc)
        return rc;
    rc = ttdm_sql_prepare(c,
                          "INSERT INTO oauth_states (state_sha256, workspace_id, user_id,"
                          " session_id, channel_id, created_at, expires_at)"
                          " VALUES (?1, ?2, ?3, ?4, NULLIF(?5, 0), ?6, ?7)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_text(c, st, 1, a->hash);
    ttdm_sql_bind_i64(c, st, 2, in->workspace_id);
    ttdm_sql_bind_i64(c, st, 3, in->user_id);
    ttdm_sql_bind_i64(c, st, 4, in->session_id);
    ttdm_sql_bind_i64(c, st, 5, in->channel_id);
    ttdm_sql_bind_i64(c, st, 6, in->created_at);
    ttdm_sql_bind_i64(c, st, 7, in->expires_at);
    return ttdm_sql_exec(c, st);
}

enum ttdm_err ttdm_store_oauth_state_create(struct ttdm_store *s, const char *state_sha256,
                                            const struct ttdm_oauth_state *in)
{
    struct state_args a;

    memset(&a, 0, sizeof(a));
    a.hash = state_sha256;
    a.in = in;
    if (state_sha256 == NULL || state_sha256[0] == '\0')
        return TTDM_ERR_BAD_REQUEST;
    return ttdm_group_commit_run(s->gc, tx_oauth_state_create, &a);
}

static enum ttdm_err tx_oauth_state_consume(struct ttdm_sql_conn *c, void *arg)
{
    struct state_args *a = arg;
    struct ttdm_oauth_state *out = &a->out;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT st.workspace_id, st.user_id, st.session_id,"
                          " IFNULL(st.channel_id, 0), st.created_at, st.expires_at,"
                          " IFNULL(se.oauth_binding_sha256, ''), IFNULL(se.expires_at, 0),"
                          " IFNULL(u.role, '') FROM oauth_states st"
                          " LEFT JOIN sessions se ON se.id = st.session_id"
                          " AND se.user_id = st.user_id"
                          " LEFT JOIN users u ON u.id = st.user_id"
                          " WHERE st.state_sha256 = ?1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_text(c, st, 1, a->hash);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        out->workspace_id = sqlite3_column_int64(st, 0);
        out->user_id = sqlite3_column_int64(st, 1);
        out->session_id = sqlite3_column_int64(st, 2);
        out->channel_id = sqlite3_column_int64(st, 3);
        out->created_at = sqlite3_column_int64(st, 4);
        out->expires_at = sqlite3_column_int64(st, 5);
        ttdm_sql_col_copy(st, 6, out->session_binding_sha256, sizeof(out->session_binding_sha256));
        out->session_alive = sqlite3_column_int64(st, 7) > a->now;
        out->user_role = TTDM_ROLE_AGENT;
        ttdm_role_parse(ttdm_sql_col_text(st, 8), &out->user_role);
    }
    ttdm_sql_reset(st);
    if (rc)
        return rc;
    if (!row)
        return TTDM_ERR_NOT_FOUND;
    rc = ttdm_sql_prepare(c, "DELETE FROM oauth_states WHERE state_sha256 = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_text(c, st, 1, a->hash);
    return ttdm_sql_exec(c, st);
}

enum ttdm_err ttdm_store_oauth_state_consume(struct ttdm_store *s, const char *state_sha256,
                                             int64_t now_ms, struct ttdm_oauth_state *out)
{
    struct state_args a;
    enum ttdm_err rc;

    memset(&a, 0, sizeof(a));
    memset(out, 0, sizeof(*out));
    a.hash = nz(state_sha256);
    a.now = now_ms;
    rc = ttdm_group_commit_run(s->gc, tx_oauth_state_consume, &a);
    if (rc == TTDM_OK)
        *out = a.out;
    return rc;
}

/* ---- Channels ----------------------------------------------------------------------------- */

#define CHAN_COLS                                                                                  \
    "id, workspace_id, business_id, username, display_name, avatar_url, region, origin, status, "  \
    "access_token, refresh_token, token_expires_at, refresh_expires_at, daily_limit, created_at, " \
    "auto_reply_enabled, badge_path, badge_mime, badge_size, badge_sha256, region_by_admin, "      \
    "origin_by_admin, status_reason, connected_at"

static void channel_read(sqlite3_stmt *st, struct ttdm_channel *ch)
{
    memset(ch, 0, sizeof(*ch));
    ch->id = sqlite3_column_int64(st, 0);
    ch->workspace_id = sqlite3_column_int64(st, 1);
    ttdm_sql_col_copy(st, 2, ch->business_id, sizeof(ch->business_id));
    ttdm_sql_col_copy(st, 3, ch->username, sizeof(ch->username));
    ttdm_sql_col_copy(st, 4, ch->display_name, sizeof(ch->display_name));
    ttdm_sql_col_copy(st, 5, ch->avatar_url, sizeof(ch->avatar_url));
    ttdm_sql_col_copy(st, 6, ch->region, sizeof(ch->region));
    ch->origin = ttdm_account_origin_parse(ttdm_sql_col_text(st, 7));
    ch->status = channel_status_parse(ttdm_sql_col_text(st, 8));
    ttdm_sql_col_copy(st, 9, ch->access_token, sizeof(ch->access_token));
    ttdm_sql_col_copy(st, 10, ch->refresh_token, sizeof(ch->refresh_token));
    ch->token_expires_at = sqlite3_column_int64(st, 11);
    ch->refresh_expires_at = sqlite3_column_int64(st, 12);
    ch->daily_limit = sqlite3_column_int(st, 13);
    ch->created_at = sqlite3_column_int64(st, 14);
    ch->auto_reply_enabled = sqlite3_column_int(st, 15) != 0;
    ttdm_sql_col_copy(st, 16, ch->badge_path, sizeof(ch->badge_path));
    ttdm_sql_col_copy(st, 17, ch->badge_mime, sizeof(ch->badge_mime));
    ch->badge_size = sqlite3_column_int64(st, 18);
    ttdm_sql_col_copy(st, 19, ch->badge_sha256, sizeof(ch->badge_sha256));
    ch->region_by_admin = sqlite3_column_int(st, 20) != 0;
    ch->origin_by_admin = sqlite3_column_int(st, 21) != 0;
    ttdm_sql_col_copy(st, 22, ch->status_reason, sizeof(ch->status_reason));
    ch->connected_at = sqlite3_column_int64(st, 23);
}

struct channel_upsert_args {
    const struct ttdm_channel *in;
    int default_daily_limit;
    int64_t now;
    int64_t id;
    bool created;
};

/* Binds the columns an upsert sets, at parameters 2..12 of both statements below. */
static void bind_channel_fields(struct ttdm_sql_conn *c, sqlite3_stmt *st,
                                const struct ttdm_channel *in)
{
    ttdm_sql_bind_text(c, st, 2, in->username);
    ttdm_sql_bind_text(c, st, 3, in->display_name);
    ttdm_sql_bind_text(c, st, 4, in->avatar_url);
    ttdm_sql_bind_text(c, st, 5, in->region);
    ttdm_sql_bind_text(c, st, 6, ttdm_account_origin_name(in->origin));
    ttdm_sql_bind_text(c, st, 7, ttdm_channel_status_name(in->status));
    ttdm_sql_bind_text(c, st, 8, in->access_token);
    ttdm_sql_bind_text(c, st, 9, in->refresh_token);
    ttdm_sql_bind_i64(c, st, 10, in->token_expires_at);
    ttdm_sql_bind_i64(c, st, 11, in->refresh_expires_at);
}

static enum ttdm_err tx_channel_upsert(struct ttdm_sql_conn *c, void *arg)
{
    struct channel_upsert_args *a = arg;
    const struct ttdm_channel *in = a->in;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c, "SELECT id FROM channels WHERE workspace_id = ?1 AND business_id = ?2",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, in->workspace_id);
    ttdm_sql_bind_text(c, st, 2, in->business_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row)
        a->id = sqlite3_column_int64(st, 0);
    ttdm_sql_reset(st);
    if (rc)
        return rc;

    if (row) {
        /* Reconnecting swaps tokens and profile in place: the id, and so every
         * conversation, message and statistic, stays. A daily limit of 0 keeps the one set. */
        rc = ttdm_sql_prepare(c,
                              "UPDATE channels SET username = ?2, display_name = ?3,"
                              " avatar_url = ?4, region = ?5, origin = ?6, status = ?7,"
                              " access_token = ?8, refresh_token = ?9, token_expires_at = ?10,"
                              " refresh_expires_at = ?11,"
                              " daily_limit = CASE WHEN ?12 > 0 THEN ?12 ELSE daily_limit END,"
                              " updated_at = ?13 WHERE id = ?1",
                              &st);
        if (rc)
            return rc;
        ttdm_sql_bind_i64(c, st, 1, a->id);
        bind_channel_fields(c, st, in);
        ttdm_sql_bind_i64(c, st, 12, in->daily_limit);
        ttdm_sql_bind_i64(c, st, 13, a->now);
        a->created = false;
        return ttdm_sql_exec(c, st);
    }
    rc = ttdm_sql_prepare(c,
                          "INSERT INTO channels (workspace_id, username, display_name, avatar_url,"
                          " region, origin, status, access_token, refresh_token, token_expires_at,"
                          " refresh_expires_at, daily_limit, created_at, updated_at, business_id)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13,"
                          " ?14)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, in->workspace_id);
    bind_channel_fields(c, st, in);
    ttdm_sql_bind_i64(c, st, 12, in->daily_limit > 0 ? in->daily_limit : a->default_daily_limit);
    ttdm_sql_bind_i64(c, st, 13, a->now);
    ttdm_sql_bind_text(c, st, 14, in->business_id);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    a->id = sqlite3_last_insert_rowid(c->db);
    a->created = true;
    return TTDM_OK;
}

enum ttdm_err ttdm_store_channel_upsert(struct ttdm_store *s, const struct ttdm_channel *in,
                                        int64_t *id, bool *created)
{
    struct channel_upsert_args a = {
        .in = in, .default_daily_limit = s->rules.daily_limit_min, .now = ttdm_clock_now_ms()};
    enum ttdm_err rc;

    if (in->business_id[0] == '\0')
        return TTDM_ERR_BAD_REQUEST;
    rc = ttdm_group_commit_run(s->gc, tx_channel_upsert, &a);
    if (rc)
        return rc;
    if (id != NULL)
        *id = a.id;
    if (created != NULL)
        *created = a.created;
    return TTDM_OK;
}

enum ttdm_err ttdm_store_channel_get(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                     struct ttdm_channel *out)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(
        c, "SELECT " CHAN_COLS " FROM channels WHERE id = ?1 AND workspace_id = ?2", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, id);
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    channel_read(st, out);
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    return rc;
}

enum ttdm_err ttdm_store_channels_by_business(struct ttdm_store *s, const char *business_id,
                                              struct ttdm_channel *out, size_t max, size_t *n)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    *n = 0;
    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(
        c, "SELECT " CHAN_COLS " FROM channels WHERE business_id = ?1 ORDER BY id", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_text(c, st, 1, nz(business_id));
    while (*n < max) {
        rc = ttdm_sql_step(c, st, &row);
        if (rc || !row)
            break;
        channel_read(st, &out[(*n)++]);
    }
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    if (rc)
        *n = 0;
    return rc;
}

enum ttdm_err ttdm_store_channel_list(struct ttdm_store *s, int64_t workspace_id,
                                      struct ttdm_channel **out, size_t *n)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    struct ttdm_channel *arr = NULL;
    size_t cap = 0, count = 0;
    bool row = false;
    enum ttdm_err rc;

    *out = NULL;
    *n = 0;
    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(c,
                          "SELECT " CHAN_COLS " FROM channels"
                          " WHERE ?1 = 0 OR workspace_id = ?1 ORDER BY id",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, workspace_id);
    for (;;) {
        rc = ttdm_sql_step(c, st, &row);
        if (rc || !row)
            break;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            arr = ttdm_realloc(arr, cap * sizeof(*arr));
        }
        channel_read(st, &arr[count++]);
    }
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    if (rc) {
        ttdm_free(arr);
        return rc;
    }
    *out = arr != NULL ? arr : ttdm_calloc(1, sizeof(*arr));
    *n = count;
    return TTDM_OK;
}

struct channel_status_args {
    int64_t id;
    enum ttdm_channel_status status;
    int64_t now;
};

static enum ttdm_err tx_channel_set_status(struct ttdm_sql_conn *c, void *arg)
{
    struct channel_status_args *a = arg;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c, "UPDATE channels SET status = ?2, updated_at = ?3 WHERE id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    ttdm_sql_bind_text(c, st, 2, ttdm_channel_status_name(a->status));
    ttdm_sql_bind_i64(c, st, 3, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK && sqlite3_changes(c->db) == 0)
        rc = TTDM_ERR_NOT_FOUND;
    return rc;
}

enum ttdm_err ttdm_store_channel_set_status(struct ttdm_store *s, int64_t channel_id,
                                            enum ttdm_channel_status status)
{
    struct channel_status_args a = {channel_id, status, ttdm_clock_now_ms()};
    return ttdm_group_commit_run(s->gc, tx_channel_set_status, &a);
}

struct connect_args {
    const struct ttdm_channel *in;
    int64_t reconnect_id;
    int default_daily_limit;
    int64_t now;
    int64_t id;
    bool created;
    char other[TTDM_NAME_MAX];
};

/* The channel a login is for: the reconnect target (which must hold the same account), or
 * the workspace's channel of that account; a->id stays 0 when there is none. */
static enum ttdm_err connect_target(struct ttdm_sql_conn *c, struct connect_args *a)
{
    const struct ttdm_channel *in = a->in;
    sqlite3_stmt *st = NULL;
    bool row = false, same = true;
    enum ttdm_err rc;

    if (a->reconnect_id != 0)
        rc = ttdm_sql_prepare(c,
                              "SELECT id, business_id = ?3, username FROM channels"
                              " WHERE id = ?1 AND workspace_id = ?2",
                              &st);
    else
        rc = ttdm_sql_prepare(c,
                              "SELECT id, 1, username FROM channels"
                              " WHERE ?1 = 0 AND workspace_id = ?2 AND business_id = ?3",
                              &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->reconnect_id);
    ttdm_sql_bind_i64(c, st, 2, in->workspace_id);
    ttdm_sql_bind_text(c, st, 3, in->business_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        a->id = sqlite3_column_int64(st, 0);
        same = sqlite3_column_int(st, 1) != 0;
        ttdm_sql_col_copy(st, 2, a->other, sizeof(a->other));
    }
    ttdm_sql_reset(st);
    if (rc)
        return rc;
    if (a->reconnect_id != 0 && !row)
        return TTDM_ERR_NOT_FOUND;
    if (!same)
        return TTDM_ERR_ACCOUNT_MISMATCH;
    return TTDM_OK;
}

static enum ttdm_err tx_channel_connect(struct ttdm_sql_conn *c, void *arg)
{
    struct connect_args *a = arg;
    const struct ttdm_channel *in = a->in;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = connect_target(c, a);
    if (rc)
        return rc;
    if (a->id != 0) {
        /* Tokens and profile are swapped in place: the id, and with it every conversation,
         * message and statistic, stays. Region and origin set by an admin stay too. */
        rc = ttdm_sql_prepare(
            c,
            "UPDATE channels SET username = ?2, display_name = ?3, avatar_url = ?4,"
            " region = CASE WHEN region_by_admin = 1 THEN region ELSE ?5 END,"
            " origin = CASE WHEN origin_by_admin = 1 THEN origin ELSE ?6 END,"
            " status = 'connected', status_reason = '', access_token = ?7, refresh_token = ?8,"
            " token_expires_at = ?9, refresh_expires_at = ?10, connected_at = ?11,"
            " updated_at = ?11 WHERE id = ?1",
            &st);
        if (rc)
            return rc;
        ttdm_sql_bind_i64(c, st, 1, a->id);
    } else {
        rc = ttdm_sql_prepare(
            c,
            "INSERT INTO channels (workspace_id, username, display_name, avatar_url, region,"
            " origin, status, access_token, refresh_token, token_expires_at, refresh_expires_at,"
            " connected_at, created_at, updated_at, business_id, daily_limit)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'connected', ?7, ?8, ?9, ?10, ?11, ?11, ?11, ?12,"
            " ?13)",
            &st);
        if (rc)
            return rc;
        ttdm_sql_bind_i64(c, st, 1, in->workspace_id);
        ttdm_sql_bind_text(c, st, 12, in->business_id);
        ttdm_sql_bind_i64(c, st, 13,
                          in->daily_limit > 0 ? in->daily_limit : a->default_daily_limit);
    }
    ttdm_sql_bind_text(c, st, 2, in->username);
    ttdm_sql_bind_text(c, st, 3, in->display_name);
    ttdm_sql_bind_text(c, st, 4, in->avatar_url);
    ttdm_sql_bind_text(c, st, 5, in->region);
    ttdm_sql_bind_text(c, st, 6, ttdm_account_origin_name(in->origin));
    ttdm_sql_bind_text(c, st, 7, in->access_token);
    ttdm_sql_bind_text(c, st, 8, in->refresh_token);
    ttdm_sql_bind_i64(c, st, 9, in->token_expires_at);
    ttdm_sql_bind_i64(c, st, 10, in->refresh_expires_at);
    ttdm_sql_bind_i64(c, st, 11, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    if (a->id == 0) {
        a->id = sqlite3_last_insert_rowid(c->db);
        a->created = true;
    }
    return TTDM_OK;
}

enum ttdm_err ttdm_store_channel_connect(struct ttdm_store *s, const struct ttdm_channel *in,
                                         int64_t reconnect_id, int64_t *id, bool *created,
                                         char *other_username, size_t other_size)
{
    struct connect_args a;
    enum ttdm_err rc;

    memset(&a, 0, sizeof(a));
    a.in = in;
    a.reconnect_id = reconnect_id;
    a.default_daily_limit = s->rules.daily_limit_min;
    a.now = ttdm_clock_now_ms();
    if (in->business_id[0] == '\0' || in->workspace_id == 0)
        return TTDM_ERR_BAD_REQUEST;
    rc = ttdm_group_commit_run(s->gc, tx_channel_connect, &a);
    if (other_username != NULL && other_size > 0)
        ttdm_strlcpy(other_username, rc == TTDM_ERR_ACCOUNT_MISMATCH ? a.other : "", other_size);
    if (rc)
        return rc;
    if (id != NULL)
        *id = a.id;
    if (created != NULL)
        *created = a.created;
    return TTDM_OK;
}

struct tokens_args {
    int64_t id;
    const char *expected_refresh;
    const char *access;
    const char *refresh;
    int64_t expires_at;
    int64_t refresh_expires_at;
    int64_t now;
};

static enum ttdm_err tx_channel_set_tokens(struct ttdm_sql_conn *c, void *arg)
{
    struct tokens_args *a = arg;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    /* Compare-and-set on the refresh token: TikTok rotates it on every refresh, so a second
     * refresher that read the old one must not overwrite the newer pair. */
    rc = ttdm_sql_prepare(c,
                          "UPDATE channels SET access_token = ?2, refresh_token = ?3,"
                          " token_expires_at = ?4,"
                          " refresh_expires_at = CASE WHEN ?5 > 0 THEN ?5 ELSE refresh_expires_at"
                          " END, updated_at = ?6 WHERE id = ?1 AND refresh_token = ?7",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    ttdm_sql_bind_text(c, st, 2, a->access);
    ttdm_sql_bind_text(c, st, 3, a->refresh);
    ttdm_sql_bind_i64(c, st, 4, a->expires_at);
    ttdm_sql_bind_i64(c, st, 5, a->refresh_expires_at);
    ttdm_sql_bind_i64(c, st, 6, a->now);
    ttdm_sql_bind_text(c, st, 7, a->expected_refresh);
    rc = ttdm_sql_exec(c, st);
    if (rc || sqlite3_changes(c->db) > 0)
        return rc;
    rc = ttdm_sql_prepare(c, "SELECT 1 FROM channels WHERE id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    rc = ttdm_sql_step(c, st, &row);
    ttdm_sql_reset(st);
    if (rc)
        return rc;
    return row ? TTDM_ERR_CONFLICT : TTDM_ERR_NOT_FOUND;
}

enum ttdm_err ttdm_store_channel_set_tokens(struct ttdm_store *s, int64_t channel_id,
                                            const char *expected_refresh, const char *access_token,
                                            const char *refresh_token, int64_t token_expires_at,
                                            int64_t refresh_expires_at)
{
    struct tokens_args a = {channel_id,         nz(expected_refresh), nz(access_token),
                            nz(refresh_token),  token_expires_at,     refresh_expires_at,
                            ttdm_clock_now_ms()};
    return ttdm_group_commit_run(s->gc, tx_channel_set_tokens, &a);
}

struct reconnect_args {
    int64_t id;
    const char *reason;
    int64_t now;
};

static enum ttdm_err tx_channel_require_reconnect(struct ttdm_sql_conn *c, void *arg)
{
    struct reconnect_args *a = arg;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "UPDATE channels SET status = 'reconnect_required', status_reason = ?2,"
                          " updated_at = ?3 WHERE id = ?1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    ttdm_sql_bind_text(c, st, 2, a->reason);
    ttdm_sql_bind_i64(c, st, 3, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK && sqlite3_changes(c->db) == 0)
        rc = TTDM_ERR_NOT_FOUND;
    return rc;
}

enum ttdm_err ttdm_store_channel_require_reconnect(struct ttdm_store *s, int64_t channel_id,
                                                   const char *reason)
{
    struct reconnect_args a = {channel_id, nz(reason), ttdm_clock_now_ms()};
    return ttdm_group_commit_run(s->gc, tx_channel_require_reconnect, &a);
}

struct settings_args {
    int64_t workspace_id;
    int64_t id;
    const struct ttdm_channel_settings *set;
    int64_t now;
};

static enum ttdm_err tx_channel_update_settings(struct ttdm_sql_conn *c, void *arg)
{
    struct settings_args *a = arg;
    const struct ttdm_channel_settings *set = a->set;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(
        c,
        "UPDATE channels SET"
        " auto_reply_enabled = CASE WHEN ?3 >= 0 THEN ?3 ELSE auto_reply_enabled END,"
        " auto_reply_text = IFNULL(?4, auto_reply_text),"
        " daily_limit = CASE WHEN ?5 > 0 THEN ?5 ELSE daily_limit END,"
        " region = IFNULL(?6, region),"
        " region_by_admin = CASE WHEN ?6 IS NULL THEN region_by_admin ELSE 1 END,"
        " origin = IFNULL(?7, origin),"
        " origin_by_admin = CASE WHEN ?7 IS NULL THEN origin_by_admin ELSE 1 END,"
        " updated_at = ?8 WHERE id = ?1 AND workspace_id = ?2",
        &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    ttdm_sql_bind_i64(c, st, 2, a->workspace_id);
    ttdm_sql_bind_i64(c, st, 3, set->auto_reply_enabled < 0 ? -1 : set->auto_reply_enabled != 0);
    ttdm_sql_bind_text(c, st, 4, set->auto_reply_text);
    ttdm_sql_bind_i64(c, st, 5, set->daily_limit);
    ttdm_sql_bind_text(c, st, 6, set->region);
    ttdm_sql_bind_text(
        c, st, 7,
        set->origin < 0 ? NULL : ttdm_account_origin_name((enum ttdm_account_origin)set->origin));
    ttdm_sql_bind_i64(c, st, 8, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK && sqlite3_changes(c->db) == 0)
        rc = TTDM_ERR_NOT_FOUND;
    return rc;
}

enum ttdm_err ttdm_store_channel_update_settings(struct ttdm_store *s, int64_t workspace_id,
                                                 int64_t id,
                                                 const struct ttdm_channel_settings *set)
{
    struct settings_args a = {workspace_id, id, set, ttdm_clock_now_ms()};
    return ttdm_group_commit_run(s->gc, tx_channel_update_settings, &a);
}

enum ttdm_err ttdm_store_channel_auto_reply_text(struct ttdm_store *s, int64_t workspace_id,
                                                 int64_t id, char **text)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    *text = NULL;
    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(
        c, "SELECT auto_reply_text FROM channels WHERE id = ?1 AND workspace_id = ?2", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, id);
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    *text = ttdm_strndup(ttdm_sql_col_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    return rc;
}

struct badge_args {
    int64_t workspace_id;
    int64_t id;
    const char *path;
    const char *mime;
    int64_t size;
    const char *sha256;
    int64_t now;
};

static enum ttdm_err tx_channel_set_badge(struct ttdm_sql_conn *c, void *arg)
{
    struct badge_args *a = arg;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "UPDATE channels SET badge_path = ?3, badge_mime = ?4, badge_size = ?5,"
                          " badge_sha256 = ?6, updated_at = ?7"
                          " WHERE id = ?1 AND workspace_id = ?2",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    ttdm_sql_bind_i64(c, st, 2, a->workspace_id);
    ttdm_sql_bind_text(c, st, 3, a->path);
    ttdm_sql_bind_text(c, st, 4, a->mime);
    ttdm_sql_bind_i64(c, st, 5, a->size);
    ttdm_sql_bind_text(c, st, 6, a->sha256);
    ttdm_sql_bind_i64(c, st, 7, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK && sqlite3_changes(c->db) == 0)
        rc = TTDM_ERR_NOT_FOUND;
    return rc;
}

enum ttdm_err ttdm_store_channel_set_badge(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                           const char *path, const char *mime, int64_t size,
                                           const char *sha256_hex)
{
    bool clear = path == NULL || path[0] == '\0';
    struct badge_args a = {workspace_id,       id,
                           clear ? "" : path,  clear ? "" : nz(mime),
                           clear ? 0 : size,   clear ? "" : nz(sha256_hex),
                           ttdm_clock_now_ms()};
    return ttdm_group_commit_run(s->gc, tx_channel_set_badge, &a);
}

/* ---- Shared by sends, auto-responses and retries ------------------------------------------ */

/* lease_until 0: waiting for a claim; otherwise leased to a sender (its first attempt). */
static enum ttdm_err outbox_insert(struct ttdm_sql_conn *c, int64_t msg_id, int64_t workspace_id,
                                   int64_t now, int64_t lease_until)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "INSERT INTO outbox (message_id, workspace_id, next_attempt_at,"
                          " lease_until, attempts)"
                          " VALUES (?1, ?2, ?3, NULLIF(?4, 0), ?4 != 0)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, msg_id);
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    ttdm_sql_bind_i64(c, st, 3, now);
    ttdm_sql_bind_i64(c, st, 4, lease_until);
    return ttdm_sql_exec(c, st);
}

/*
 * A business message reserved at `now` counts at once, like every send: the day's set (unless
 * the conversation was already counted), the quota, unread and the list preview. Saves the
 * conversation.
 */
static enum ttdm_err count_reserved(struct ttdm_sql_conn *c, struct conv_row *r, int64_t now,
                                    bool was_counted, enum ttdm_msg_type type, const char *text,
                                    size_t text_len)
{
    char preview[PREVIEW_SIZE];
    bool newest;
    enum ttdm_err rc;

    if (!was_counted) {
        rc = daily_add(c, r->workspace_id, r->channel_id, day_of(c, now), r->id);
        if (rc)
            return rc;
    }
    if (now > r->latest_customer_msg_at)
        r->replies_used++;
    if (now > r->last_business_msg_at) {
        r->last_business_msg_at = now;
        if (now >= r->latest_customer_msg_at)
            r->unread_count = 0;
        else if ((rc = count_unread(c, r->id, now, &r->unread_count)) != TTDM_OK)
            return rc;
    }
    newest = now >= r->last_activity_at;
    if (newest) {
        r->last_activity_at = now;
        preview_of(type, text, text != NULL ? text_len : 0, NULL, preview, sizeof(preview));
    }
    return conv_save(c, r, newest ? preview : NULL, now);
}

/* Adds delta to one analytics counter of a channel's day (same transaction as its cause). */
static enum ttdm_err counter_add(struct ttdm_sql_conn *c, int64_t workspace_id, int64_t channel_id,
                                 int64_t day, const char *metric, const char *key, int64_t delta)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "INSERT INTO analytics_counters"
                          " (channel_id, day, metric, key, workspace_id, value)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                          " ON CONFLICT (channel_id, day, metric, key)"
                          " DO UPDATE SET value = value + excluded.value",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, channel_id);
    ttdm_sql_bind_i64(c, st, 2, day);
    ttdm_sql_bind_text(c, st, 3, metric);
    ttdm_sql_bind_text(c, st, 4, key);
    ttdm_sql_bind_i64(c, st, 5, workspace_id);
    ttdm_sql_bind_i64(c, st, 6, delta);
    return ttdm_sql_exec(c, st);
}

/* ---- Inbound ------------------------------------------------------------------------------ */

static enum ttdm_err customer_update(struct ttdm_sql_conn *c, int64_t id, const char *username,
                                     const char *region, int64_t now)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "UPDATE customers SET"
                          " username = CASE WHEN ?2 <> '' THEN ?2 ELSE username END,"
                          " region = CASE WHEN ?3 <> '' THEN ?3 ELSE region END,"
                          " updated_at = ?4 WHERE id = ?1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, id);
    ttdm_sql_bind_text(c, st, 2, username);
    ttdm_sql_bind_text(c, st, 3, region);
    ttdm_sql_bind_i64(c, st, 4, now);
    return ttdm_sql_exec(c, st);
}

/* True when the event brings a username or region that differs from the stored one. */
static bool customer_changed(const struct ttdm_inbound *ev, const char *username,
                             const char *region)
{
    return (ev->customer_username[0] != '\0' && strcmp(ev->customer_username, username) != 0) ||
           (ev->customer_region[0] != '\0' && strcmp(ev->customer_region, region) != 0);
}

/* The customer of (channel, ev->customer_user_id), created or refreshed. */
static enum ttdm_err customer_ensure(struct ttdm_sql_conn *c, int64_t workspace_id,
                                     const struct ttdm_inbound *ev, int64_t *id)
{
    sqlite3_stmt *st = NULL;
    bool row = false, changed = false;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT id, username, region FROM customers"
                          " WHERE channel_id = ?1 AND tiktok_user_id = ?2",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, ev->channel_id);
    ttdm_sql_bind_text(c, st, 2, ev->customer_user_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        *id = sqlite3_column_int64(st, 0);
        changed = customer_changed(ev, ttdm_sql_col_text(st, 1), ttdm_sql_col_text(st, 2));
    }
    ttdm_sql_reset(st);
    if (rc)
        return rc;
    if (row)
        return changed ? customer_update(c, *id, ev->customer_username, ev->customer_region,
                                         ev->received_at)
                       : TTDM_OK;

    rc = ttdm_sql_prepare(c,
                          "INSERT INTO customers (workspace_id, channel_id, tiktok_user_id,"
                          " username, region, created_at, updated_at)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, workspace_id);
    ttdm_sql_bind_i64(c, st, 2, ev->channel_id);
    ttdm_sql_bind_text(c, st, 3, ev->customer_user_id);
    ttdm_sql_bind_text(c, st, 4, ev->customer_username);
    ttdm_sql_bind_text(c, st, 5, ev->customer_region);
    ttdm_sql_bind_i64(c, st, 6, ev->received_at);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK)
        *id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

/* The conversation's first customer, written here rather than by conv_save: an UPDATE
 * naming customer_id checks its foreign key, and SQLite then keeps a statement journal (a
 * copy of every page the UPDATE touches) that every other message would pay for. */
static enum ttdm_err conv_set_customer(struct ttdm_sql_conn *c, struct conv_row *r,
                                       const struct ttdm_inbound *ev)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = customer_ensure(c, r->workspace_id, ev, &r->customer_id);
    if (rc)
        return rc;
    rc = ttdm_sql_prepare(c, "UPDATE conversations SET customer_id = ?2 WHERE id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, r->id);
    ttdm_sql_bind_i64(c, st, 2, r->customer_id);
    return ttdm_sql_exec(c, st);
}

/* The conversation an event belongs to, created (with its customer) when new. */
static enum ttdm_err conversation_for_event(struct ttdm_sql_conn *c, const struct ttdm_inbound *ev,
                                            struct conv_row *r)
{
    sqlite3_stmt *st = NULL;
    bool row = false;
    bool same_customer = false, changed = false;
    enum ttdm_err rc;

    memset(r, 0, sizeof(*r));
    rc = ttdm_sql_prepare(c,
                          "SELECT " CONV_ROW_COLS ", IFNULL(cu.tiktok_user_id, ''),"
                          " IFNULL(cu.username, ''), IFNULL(cu.region, '')"
                          " FROM conversations c LEFT JOIN customers cu ON cu.id = c.customer_id"
                          " WHERE c.channel_id = ?1 AND c.tiktok_conversation_id = ?2",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, ev->channel_id);
    ttdm_sql_bind_text(c, st, 2, ev->tiktok_conversation_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        conv_row_read(st, r);
        same_customer = strcmp(ttdm_sql_col_text(st, CONV_ROW_NCOLS), ev->customer_user_id) == 0;
        changed = customer_changed(ev, ttdm_sql_col_text(st, CONV_ROW_NCOLS + 1),
                                   ttdm_sql_col_text(st, CONV_ROW_NCOLS + 2));
    }
    ttdm_sql_reset(st);
    if (rc)
        return rc;

    if (row) {
        /* A conversation has one customer; an event naming someone else (an echo filled in
         * with the business's own id, say) must not replace them. */
        if (ev->customer_user_id[0] == '\0')
            return TTDM_OK;
        if (r->customer_id == 0)
            return conv_set_customer(c, r, ev);
        if (same_customer && changed)
            return customer_update(c, r->customer_id, ev->customer_username, ev->customer_region,
                                   ev->received_at);
        return TTDM_OK;
    }

    rc = ttdm_sql_prepare(c, "SELECT workspace_id FROM channels WHERE id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, ev->channel_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row)
        r->workspace_id = sqlite3_column_int64(st, 0);
    ttdm_sql_reset(st);
    if (rc)
        return rc;
    if (!row)
        return TTDM_ERR_NOT_FOUND;
    r->channel_id = ev->channel_id;
    if (ev->customer_user_id[0] != '\0') {
        rc = customer_ensure(c, r->workspace_id, ev, &r->customer_id);
        if (rc)
            return rc;
    }
    rc = ttdm_sql_prepare(c,
                          "INSERT INTO conversations (workspace_id, channel_id, customer_id,"
                          " tiktok_conversation_id, created_at, updated_at)"
                          " VALUES (?1, ?2, NULLIF(?3, 0), ?4, ?5, ?5)",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, r->workspace_id);
    ttdm_sql_bind_i64(c, st, 2, r->channel_id);
    ttdm_sql_bind_i64(c, st, 3, r->customer_id);
    ttdm_sql_bind_text(c, st, 4, ev->tiktok_conversation_id);
    ttdm_sql_bind_i64(c, st, 5, ev->received_at);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK)
        r->id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

struct inbound_args {
    const struct ttdm_inbound *ev;
    struct ttdm_inbound_result res;
};

/*
 * The channel's auto-response to a customer message that opened a window, reserved in the
 * same transaction as that message, exactly like an agent's send at `now` (every rule asked,
 * counted at once). This costs one row read per new window and nothing per other webhook. A
 * refusal is recorded as a skipped auto-response and never retried: the next chance is the
 * next window.
 */
static enum ttdm_err auto_reply(struct ttdm_sql_conn *c, struct conv_row *r, int64_t now,
                                struct ttdm_inbound_result *res)
{
    struct ttdm_conversation_state cs;
    struct ttdm_channel_state chs;
    struct ttdm_reply_budget budget;
    struct msg_new m;
    sqlite3_stmt *st = NULL;
    char *text = NULL;
    bool row = false, enabled = false;
    int64_t msg_id = 0;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(
        c, "SELECT auto_reply_enabled, auto_reply_text FROM channels WHERE id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, r->channel_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        enabled = sqlite3_column_int(st, 0) != 0;
        if (enabled)
            text = ttdm_strndup(ttdm_sql_col_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    }
    ttdm_sql_reset(st);
    if (rc || !enabled || text == NULL || text[0] == '\0')
        goto done;

    rc = policy_inputs(c, r, now, &cs, &chs);
    if (rc)
        goto done;
    ttdm_policy_budget(c->rules, &cs, &chs, now, &budget);
    if (budget.may_send != TTDM_OK) {
        res->auto_reply_refused = budget.may_send;
        rc = counter_add(c, r->workspace_id, r->channel_id, day_of(c, now), "auto_reply_skipped",
                         ttdm_err_code(budget.may_send), 1);
        if (rc == TTDM_OK)
            rc = counter_add(c, r->workspace_id, r->channel_id, day_of(c, now), "refused",
                             ttdm_err_code(budget.may_send), 1);
        goto done;
    }
    memset(&m, 0, sizeof(m));
    m.workspace_id = r->workspace_id;
    m.channel_id = r->channel_id;
    m.conversation_id = r->id;
    m.direction = TTDM_DIR_BUSINESS;
    m.source = TTDM_SOURCE_AUTO;
    m.type = TTDM_MSG_TEXT;
    m.status = TTDM_STATUS_QUEUED;
    m.text = text;
    m.text_len = strlen(text);
    /* It answers the customer's message, so it is after it even when TikTok's timestamp is a
     * little ahead of our clock: otherwise it would not count against the new quota. */
    m.timestamp_ms = now > r->latest_customer_msg_at ? now : r->latest_customer_msg_at + 1;
    m.counts = true;
    m.now = now;
    rc = message_insert(c, &m, &msg_id);
    if (rc == TTDM_OK)
        rc = outbox_insert(c, msg_id, r->workspace_id, now, 0);
    if (rc == TTDM_OK)
        rc =
            count_reserved(c, r, m.timestamp_ms, cs.counted_today, TTDM_MSG_TEXT, text, m.text_len);
    if (rc == TTDM_OK)
        res->auto_reply_id = msg_id;
done:
    ttdm_free(text);
    return rc;
}

/*
 * An event whose TikTok message id is already stored: a redelivery (nothing changes), or
 * the first echo of a message we sent, which brings TikTok's own timestamp for it.
 */
static enum ttdm_err inbound_known(struct ttdm_sql_conn *c, const struct ttdm_inbound *ev,
                                   struct ttdm_inbound_result *res, bool *found)
{
    sqlite3_stmt *st = NULL;
    bool row = false, ours = false, echo_seen = false, counts = false;
    int64_t old_ts = 0;
    enum ttdm_err rc;

    *found = false;
    rc = ttdm_sql_prepare(c,
                          "SELECT id, conversation_id, direction = 'business' AND from_webhook = 0,"
                          " echo_seen, timestamp_ms, counts FROM messages"
                          " WHERE channel_id = ?1 AND tiktok_message_id = ?2",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, ev->channel_id);
    ttdm_sql_bind_text(c, st, 2, ev->tiktok_message_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        res->message_id = sqlite3_column_int64(st, 0);
        res->conversation_id = sqlite3_column_int64(st, 1);
        ours = sqlite3_column_int(st, 2) != 0;
        echo_seen = sqlite3_column_int(st, 3) != 0;
        old_ts = sqlite3_column_int64(st, 4);
        counts = sqlite3_column_int(st, 5) != 0;
    }
    ttdm_sql_reset(st);
    if (rc || !row)
        return rc;
    *found = true;

    if (!ours || ev->direction != TTDM_DIR_BUSINESS) {
        res->duplicate = true;
        return TTDM_OK;
    }
    res->matched_own_send = true;
    if (echo_seen) {
        res->duplicate = true;
        return TTDM_OK;
    }
    rc = ttdm_sql_prepare(c,
                          "UPDATE messages SET echo_seen = 1, timestamp_ms = ?2, updated_at = ?3"
                          " WHERE id = ?1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, res->message_id);
    ttdm_sql_bind_i64(c, st, 2, ev->timestamp_ms);
    ttdm_sql_bind_i64(c, st, 3, ev->received_at);
    rc = ttdm_sql_exec(c, st);
    if (rc || old_ts == ev->timestamp_ms)
        return rc;
    return business_moved(c, res->conversation_id, counts, old_ts, ev->timestamp_ms,
                          ev->received_at);
}

/*
 * True when the conversation holds a send of ours that TikTok has not yet given an id: an
 * echo of our own API send that beats mark_sent is most likely that very message, which
 * already counts; mark_sent merges the two rows.
 */
static enum ttdm_err has_unsent_own(struct ttdm_sql_conn *c, int64_t conv_id, bool *pending)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    enum ttdm_err rc = ttdm_sql_prepare(c,
                                        "SELECT EXISTS(SELECT 1 FROM messages"
                                        " WHERE conversation_id = ?1 AND direction = 'business'"
                                        " AND from_webhook = 0 AND counts = 1"
                                        " AND tiktok_message_id IS NULL)",
                                        &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, conv_id);
    rc = query_i64(c, st, &v);
    *pending = v != 0;
    return rc;
}

static enum ttdm_err tx_record_inbound(struct ttdm_sql_conn *c, void *arg)
{
    struct inbound_args *a = arg;
    const struct ttdm_inbound *ev = a->ev;
    bool business = ev->direction == TTDM_DIR_BUSINESS;
    bool counts = business;
    int64_t ts = ev->timestamp_ms;
    struct conv_row r;
    struct msg_new m;
    char preview[PREVIEW_SIZE];
    bool found = false, newest;
    int64_t msg_id = 0;
    enum ttdm_err rc;

    memset(&a->res, 0, sizeof(a->res));
    if (ev->tiktok_message_id[0] != '\0') {
        rc = inbound_known(c, ev, &a->res, &found);
        if (rc || found)
            return rc;
    }
    rc = conversation_for_event(c, ev, &r);
    if (rc)
        return rc;
    if (business && ev->source == TTDM_SOURCE_AGENT) {
        bool pending = false;
        rc = has_unsent_own(c, r.id, &pending);
        if (rc)
            return rc;
        counts = !pending;
    }

    /* Every business message counts against the quota and the daily set, whoever sent it:
     * the TikTok app, our own API (an echo that beat mark_sent), the auto-responder. */
    memset(&m, 0, sizeof(m));
    m.workspace_id = r.workspace_id;
    m.channel_id = r.channel_id;
    m.conversation_id = r.id;
    m.direction = ev->direction;
    m.source = ev->source;
    m.type = ev->type;
    m.status = business ? TTDM_STATUS_SENT : TTDM_STATUS_RECEIVED;
    m.text = ev->text;
    m.text_len = ev->text != NULL ? ev->text_len : 0;
    m.media_path = ev->media_path;
    m.media_mime = ev->media_mime;
    m.media_size = ev->media_size;
    m.share_url = ev->share_url;
    m.raw_type = ev->raw_type;
    m.tiktok_message_id = ev->tiktok_message_id;
    m.timestamp_ms = ts;
    m.counts = counts;
    m.from_webhook = true;
    m.echo_seen = business;
    m.now = ev->received_at;
    rc = message_insert(c, &m, &msg_id);
    if (rc)
        return rc;

    /* The newest message takes the list preview. A reply's time moves after it is
     * accepted (its send time, then TikTok's), while the conversation's activity stays at
     * its acceptance; the latest business time is exact, so a message stamped between the
     * two is not the newest. */
    newest = ts >= r.last_activity_at && ts >= r.last_business_msg_at;
    if (business) {
        if (counts) {
            if (ts > r.latest_customer_msg_at)
                r.replies_used++;
            rc = daily_add(c, r.workspace_id, r.channel_id, day_of(c, ts), r.id);
            if (rc)
                return rc;
        }
        if (ts > r.last_business_msg_at) {
            r.last_business_msg_at = ts;
            if (ts >= r.latest_customer_msg_at)
                r.unread_count = 0;
            else if ((rc = count_unread(c, r.id, ts, &r.unread_count)) != TTDM_OK)
                return rc;
        }
    } else {
        if (ts > r.latest_customer_msg_at) {
            /* R2: a new window opens with the first customer message, or with the first
             * one at or after the previous window's end. A late, older message opens none. */
            a->res.opened_window = r.latest_customer_msg_at == 0 ||
                                   ts >= r.latest_customer_msg_at + c->rules->window_ms;
            r.latest_customer_msg_at = ts;
            rc = count_replies(c, r.id, ts, &r.replies_used);
            if (rc)
                return rc;
        }
        if (ts > r.last_business_msg_at)
            r.unread_count++;
    }
    if (ts > r.last_activity_at)
        r.last_activity_at = ts;
    if (newest)
        preview_of(ev->type, ev->text, m.text_len, ev->raw_type, preview, sizeof(preview));
    rc = conv_save(c, &r, newest ? preview : NULL, ev->received_at);
    if (rc)
        return rc;
    a->res.conversation_id = r.id;
    a->res.message_id = msg_id;
    if (a->res.opened_window)
        return auto_reply(c, &r, ev->received_at, &a->res);
    return TTDM_OK;
}

enum ttdm_err ttdm_store_record_inbound(struct ttdm_store *s, const struct ttdm_inbound *ev,
                                        struct ttdm_inbound_result *out)
{
    struct inbound_args a = {.ev = ev};
    enum ttdm_err rc;

    if (ev->tiktok_conversation_id[0] == '\0')
        return TTDM_ERR_BAD_REQUEST;
    rc = ttdm_group_commit_run(s->gc, tx_record_inbound, &a);
    if (rc == TTDM_OK && out != NULL)
        *out = a.res;
    return rc;
}

struct inbound_async {
    struct inbound_args a; /* first: the operation's argument is both &x->a and x */
    ttdm_store_inbound_done_fn done;
    void *ud;
};

static void on_inbound_committed(void *arg, enum ttdm_err rc)
{
    struct inbound_async *x = arg;

    x->done(x->ud, rc, rc == TTDM_OK ? &x->a.res : NULL);
    ttdm_free(x);
}

enum ttdm_err ttdm_store_record_inbound_async(struct ttdm_store *s, const struct ttdm_inbound *ev,
                                              ttdm_store_inbound_done_fn done, void *ud)
{
    struct inbound_async *x;
    enum ttdm_err rc;

    if (ev->tiktok_conversation_id[0] == '\0')
        return TTDM_ERR_BAD_REQUEST;
    x = ttdm_calloc(1, sizeof(*x));
    x->a.ev = ev;
    x->done = done;
    x->ud = ud;
    rc = ttdm_group_commit_submit(s->gc, tx_record_inbound, &x->a, on_inbound_committed);
    if (rc)
        ttdm_free(x);
    return rc;
}

struct mark_read_args {
    int64_t channel_id;
    const char *conversation;
    int64_t up_to;
    int64_t now;
    int n;
};

static enum ttdm_err tx_mark_read(struct ttdm_sql_conn *c, void *arg)
{
    struct mark_read_args *a = arg;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "UPDATE messages SET status = 'read', updated_at = ?4"
                          " WHERE conversation_id = (SELECT id FROM conversations"
                          "  WHERE channel_id = ?1 AND tiktok_conversation_id = ?2)"
                          " AND direction = 'business' AND status = 'sent' AND timestamp_ms <= ?3",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->channel_id);
    ttdm_sql_bind_text(c, st, 2, a->conversation);
    ttdm_sql_bind_i64(c, st, 3, a->up_to);
    ttdm_sql_bind_i64(c, st, 4, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK)
        a->n = sqlite3_changes(c->db);
    return rc;
}

/* A receipt for a conversation we do not know marks nothing and is not an error: TikTok
 * would otherwise redeliver it for days. */
enum ttdm_err ttdm_store_mark_read(struct ttdm_store *s, int64_t channel_id,
                                   const char *tiktok_conversation_id, int64_t up_to_ms,
                                   int *n_marked)
{
    struct mark_read_args a = {channel_id, nz(tiktok_conversation_id), up_to_ms,
                               ttdm_clock_now_ms(), 0};
    enum ttdm_err rc = ttdm_group_commit_run(s->gc, tx_mark_read, &a);

    if (n_marked != NULL)
        *n_marked = rc == TTDM_OK ? a.n : 0;
    return rc;
}

/* ---- Outbound ----------------------------------------------------------------------------- */

struct reserve_args {
    const struct ttdm_send_request *req;
    struct ttdm_message *out;
    struct ttdm_reply_budget budget;
};

/* A retried request must carry what the first one carried, or it is another message. */
static bool same_content(const struct ttdm_message *m, const struct ttdm_send_request *req)
{
    size_t stored_len = m->text != NULL ? strlen(m->text) : 0;
    size_t asked_len = req->text != NULL ? req->text_len : 0;

    if (m->type != req->type)
        return false;
    if ((m->text == NULL) != (req->text == NULL))
        return false;
    if (stored_len != asked_len || (asked_len > 0 && memcmp(m->text, req->text, asked_len) != 0))
        return false;
    return strcmp(m->media_path, nz(req->media_path)) == 0;
}

/* The message already stored under the request's idempotency key; NOT_FOUND when none. */
static enum ttdm_err find_by_idempotency(struct ttdm_sql_conn *c,
                                         const struct ttdm_send_request *req,
                                         struct ttdm_message *out)
{
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT " MSG_COLS " FROM messages m"
                          " WHERE m.conversation_id = ?1 AND m.idempotency_key = ?2",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, req->conversation_id);
    ttdm_sql_bind_text(c, st, 2, req->idempotency_key);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    message_read(st, 0, out);
done:
    ttdm_sql_reset(st);
    return rc;
}

/*
 * The sender's item around item->msg, a message leased until lease_until: its channel's
 * credentials and its conversation's TikTok id. On failure item->msg is cleaned up and the
 * item left empty.
 */
static enum ttdm_err outbox_item_fill(struct ttdm_sql_conn *c, int64_t lease_until,
                                      struct ttdm_outbox_item *item)
{
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT ch.business_id, ch.access_token, ch.status,"
                          " cv.tiktok_conversation_id FROM channels ch, conversations cv"
                          " WHERE ch.id = ?1 AND cv.id = ?2",
                          &st);
    if (rc == TTDM_OK) {
        ttdm_sql_bind_i64(c, st, 1, item->msg.channel_id);
        ttdm_sql_bind_i64(c, st, 2, item->msg.conversation_id);
        rc = ttdm_sql_step(c, st, &row);
    }
    if (rc == TTDM_OK && !row)
        rc = ttdm_sql_fail(c, "outbox message without its channel or conversation");
    if (rc == TTDM_OK) {
        item->workspace_id = item->msg.workspace_id;
        ttdm_sql_col_copy(st, 0, item->business_id, sizeof(item->business_id));
        ttdm_sql_col_copy(st, 1, item->access_token, sizeof(item->access_token));
        item->channel_status = channel_status_parse(ttdm_sql_col_text(st, 2));
        ttdm_sql_col_copy(st, 3, item->tiktok_conversation_id,
                          sizeof(item->tiktok_conversation_id));
        item->lease_until = lease_until;
    } else {
        ttdm_message_cleanup(&item->msg);
        memset(item, 0, sizeof(*item));
    }
    ttdm_sql_reset(st);
    return rc;
}

/* Whether a message of the conversation still waits in the outbox. */
static enum ttdm_err any_queued(struct ttdm_sql_conn *c, int64_t conversation_id, bool *found)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT 1 FROM messages WHERE conversation_id = ?1"
                          " AND status = 'queued' LIMIT 1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, conversation_id);
    rc = ttdm_sql_step(c, st, found);
    ttdm_sql_reset(st);
    return rc;
}

static enum ttdm_err tx_reserve_send(struct ttdm_sql_conn *c, void *arg)
{
    struct reserve_args *a = arg;
    const struct ttdm_send_request *req = a->req;
    int64_t now = req->now_ms;
    struct ttdm_conversation_state cs;
    struct ttdm_channel_state chs;
    struct conv_row r;
    struct msg_new m;
    int64_t msg_id = 0, lease_until = 0;
    bool was_counted;
    enum ttdm_err rc;

    rc = conv_load(c, req->conversation_id, &r);
    if (rc)
        return rc;
    if (r.workspace_id != req->workspace_id)
        return TTDM_ERR_NOT_FOUND;

    if (req->idempotency_key != NULL && req->idempotency_key[0] != '\0') {
        rc = find_by_idempotency(c, req, a->out);
        if (rc == TTDM_OK) {
            if (!same_content(a->out, req))
                return TTDM_ERR_CONFLICT;
            rc = policy_inputs(c, &r, now, &cs, &chs);
            if (rc == TTDM_OK)
                ttdm_policy_budget(c->rules, &cs, &chs, now, &a->budget);
            return rc;
        }
        if (rc != TTDM_ERR_NOT_FOUND)
            return rc;
    }

    rc = policy_inputs(c, &r, now, &cs, &chs);
    if (rc)
        return rc;
    ttdm_policy_budget(c->rules, &cs, &chs, now, &a->budget);
    if (a->budget.may_send != TTDM_OK && !req->skip_policy)
        return a->budget.may_send;
    was_counted = cs.counted_today;

    /* Leased to the sender in this very transaction when no older message of the
     * conversation waits (it would be sent first): its row is written once, already leased. */
    if (req->lease_ms > 0 && req->leased != NULL) {
        bool queued = false;
        rc = any_queued(c, r.id, &queued);
        if (rc)
            return rc;
        if (!queued)
            lease_until = now + req->lease_ms;
    }

    memset(&m, 0, sizeof(m));
    m.workspace_id = r.workspace_id;
    m.channel_id = r.channel_id;
    m.conversation_id = r.id;
    m.direction = TTDM_DIR_BUSINESS;
    m.source = req->source;
    m.type = req->type;
    m.status = TTDM_STATUS_QUEUED;
    m.text = req->text;
    m.text_len = req->text != NULL ? req->text_len : 0;
    m.media_path = req->media_path;
    m.media_mime = req->media_mime;
    m.media_size = req->media_size;
    m.timestamp_ms = now;
    m.counts = true;
    m.idempotency_key = req->idempotency_key;
    m.attempts = lease_until != 0;
    m.now = now;
    rc = message_insert(c, &m, &msg_id);
    if (rc)
        return rc;
    rc = outbox_insert(c, msg_id, r.workspace_id, now, lease_until);
    if (rc)
        return rc;
    rc = count_reserved(c, &r, now, was_counted, req->type, req->text, m.text_len);
    if (rc)
        return rc;

    cs.replies_used = r.replies_used;
    cs.counted_today = true;
    if (!was_counted)
        chs.daily_used++;
    ttdm_policy_budget(c->rules, &cs, &chs, now, &a->budget);
    /* What was just written is known: built here instead of read back. */
    message_from_new(&m, msg_id, a->out);
    if (lease_until == 0)
        return TTDM_OK;
    memset(req->leased, 0, sizeof(*req->leased));
    ttdm_message_copy(&req->leased->msg, a->out);
    return outbox_item_fill(c, lease_until, req->leased);
}

/* A lease that did not happen (or was rolled back): nothing to hand to the senders. */
static void lease_forget(struct ttdm_outbox_item *leased)
{
    if (leased == NULL)
        return;
    ttdm_outbox_items_cleanup(leased, 1);
    memset(leased, 0, sizeof(*leased));
}

/* True for the refusals reserve_send reports with a meaningful budget. */
static bool is_rule_refusal(enum ttdm_err rc)
{
    return rc > TTDM_OK && rc < TTDM_ERR_BAD_REQUEST;
}

/* Before a reservation runs: no message, no lease, no budget (whatever the caller's were). */
static void reserve_start(struct reserve_args *a)
{
    memset(a->out, 0, sizeof(*a->out));
    memset(&a->budget, 0, sizeof(a->budget));
    if (a->req->leased != NULL)
        memset(a->req->leased, 0, sizeof(*a->req->leased));
}

/*
 * What the caller gets: on failure no message and no lease; the budget on success and on a
 * rule refusal (budget may be NULL).
 */
static void reserve_outcome(struct reserve_args *a, enum ttdm_err rc,
                            struct ttdm_reply_budget *budget)
{
    if (rc != TTDM_OK) {
        ttdm_message_cleanup(a->out);
        memset(a->out, 0, sizeof(*a->out));
        lease_forget(a->req->leased);
    }
    if (budget == NULL)
        return;
    if (rc == TTDM_OK || is_rule_refusal(rc))
        *budget = a->budget;
    else
        memset(budget, 0, sizeof(*budget));
}

enum ttdm_err ttdm_store_reserve_send(struct ttdm_store *s, const struct ttdm_send_request *req,
                                      struct ttdm_message *out, struct ttdm_reply_budget *budget)
{
    struct ttdm_message local;
    struct reserve_args a = {.req = req, .out = out != NULL ? out : &local};
    enum ttdm_err rc;

    reserve_start(&a);
    rc = ttdm_group_commit_run(s->gc, tx_reserve_send, &a);
    reserve_outcome(&a, rc, budget);
    if (out == NULL)
        ttdm_message_cleanup(&local);
    return rc;
}

struct reserve_async {
    struct reserve_args a; /* first: the operation's argument is both &x->a and x */
    struct ttdm_reply_budget *budget;
    ttdm_store_done_fn done;
    void *ud;
};

/* The asynchronous form may run more than once (group_commit.h): each run starts afresh. */
static enum ttdm_err tx_reserve_send_fresh(struct ttdm_sql_conn *c, void *arg)
{
    struct reserve_async *x = arg;

    ttdm_message_cleanup(x->a.out);
    lease_forget(x->a.req->leased);
    reserve_start(&x->a);
    return tx_reserve_send(c, &x->a);
}

static void on_reserved(void *arg, enum ttdm_err rc)
{
    struct reserve_async *x = arg;

    reserve_outcome(&x->a, rc, x->budget);
    x->done(x->ud, rc);
    ttdm_free(x);
}

enum ttdm_err ttdm_store_reserve_send_async(struct ttdm_store *s,
                                            const struct ttdm_send_request *req,
                                            struct ttdm_message *out,
                                            struct ttdm_reply_budget *budget,
                                            ttdm_store_done_fn done, void *ud)
{
    struct reserve_async *x = ttdm_calloc(1, sizeof(*x));
    enum ttdm_err rc;

    x->a.req = req;
    x->a.out = out;
    x->budget = budget;
    x->done = done;
    x->ud = ud;
    reserve_start(&x->a);
    memset(budget, 0, sizeof(*budget));
    rc = ttdm_group_commit_submit(s->gc, tx_reserve_send_fresh, x, on_reserved);
    if (rc)
        ttdm_free(x);
    return rc;
}

struct claim_args {
    int64_t now;
    int64_t lease_ms;
    struct ttdm_outbox_item *items;
    size_t max;
    size_t n;
};

/* Leases a queued message (one more attempt) and loads it for a sender. */
static enum ttdm_err claim_one(struct ttdm_sql_conn *c, int64_t id, int64_t lease_until,
                               struct ttdm_outbox_item *item)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "UPDATE outbox SET lease_until = ?2, attempts = attempts + 1"
                          " WHERE message_id = ?1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, id);
    ttdm_sql_bind_i64(c, st, 2, lease_until);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    rc = ttdm_sql_prepare(c, "UPDATE messages SET attempts = attempts + 1 WHERE id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, id);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    memset(item, 0, sizeof(*item));
    rc = message_load(c, 0, id, &item->msg);
    if (rc == TTDM_ERR_NOT_FOUND)
        return ttdm_sql_fail(c, "outbox row without its message");
    if (rc)
        return rc;
    return outbox_item_fill(c, lease_until, item);
}

static enum ttdm_err tx_claim_outbox(struct ttdm_sql_conn *c, void *arg)
{
    struct claim_args *a = arg;
    sqlite3_stmt *st = NULL;
    int64_t *ids = ttdm_calloc(a->max, sizeof(*ids));
    size_t n_ids = 0;
    bool row = false;
    enum ttdm_err rc;

    a->n = 0;
    rc = ttdm_sql_prepare(c,
                          "SELECT message_id FROM outbox WHERE next_attempt_at <= ?1"
                          " AND (lease_until IS NULL OR lease_until < ?1)"
                          " ORDER BY next_attempt_at, message_id LIMIT ?2",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, a->now);
    ttdm_sql_bind_i64(c, st, 2, (int64_t)a->max);
    while (n_ids < a->max) {
        rc = ttdm_sql_step(c, st, &row);
        if (rc || !row)
            break;
        ids[n_ids++] = sqlite3_column_int64(st, 0);
    }
    ttdm_sql_reset(st);
    if (rc)
        goto done;
    for (size_t i = 0; i < n_ids; i++) {
        rc = claim_one(c, ids[i], a->now + a->lease_ms, &a->items[i]);
        if (rc)
            goto done;
        a->n = i + 1;
    }
done:
    ttdm_free(ids);
    return rc;
}

/* Polling workers mostly find nothing: answer that from a reader, without a write. */
static enum ttdm_err outbox_has_due(struct ttdm_store *s, int64_t now, bool *due)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    *due = true;
    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(c,
                          "SELECT 1 FROM outbox WHERE next_attempt_at <= ?1"
                          " AND (lease_until IS NULL OR lease_until < ?1) LIMIT 1",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, now);
    rc = ttdm_sql_step(c, st, due);
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    return rc;
}

enum ttdm_err ttdm_store_claim_outbox(struct ttdm_store *s, int64_t now_ms, int64_t lease_ms,
                                      struct ttdm_outbox_item *items, size_t max, size_t *n)
{
    struct claim_args a = {now_ms, lease_ms, items, max, 0};
    bool due = false;
    enum ttdm_err rc;

    *n = 0;
    if (max == 0)
        return TTDM_OK;
    rc = outbox_has_due(s, now_ms, &due);
    if (rc || !due)
        return rc;
    rc = ttdm_group_commit_run(s->gc, tx_claim_outbox, &a);
    if (rc) {
        ttdm_outbox_items_cleanup(items, a.n);
        return rc;
    }
    *n = a.n;
    return TTDM_OK;
}

struct sent_args {
    int64_t id;
    const char *tiktok_id;
    int64_t now;
};

/*
 * The row of an early echo of this send, if TikTok's echo beat our mark_sent: it is merged
 * into ours (its timestamp is TikTok's). *echo_id is 0 when there is none.
 */
static enum ttdm_err find_early_echo(struct ttdm_sql_conn *c, int64_t channel_id,
                                     const char *tiktok_id, int64_t own_id, int64_t *echo_id,
                                     int64_t *echo_ts, bool *echo_read)
{
    sqlite3_stmt *st = NULL;
    bool row = false, from_webhook = false;
    enum ttdm_err rc;

    *echo_id = 0;
    rc = ttdm_sql_prepare(c,
                          "SELECT id, timestamp_ms, from_webhook, status = 'read' FROM messages"
                          " WHERE channel_id = ?1 AND tiktok_message_id = ?2",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, channel_id);
    ttdm_sql_bind_text(c, st, 2, tiktok_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row && sqlite3_column_int64(st, 0) != own_id) {
        *echo_id = sqlite3_column_int64(st, 0);
        *echo_ts = sqlite3_column_int64(st, 1);
        from_webhook = sqlite3_column_int(st, 2) != 0;
        *echo_read = sqlite3_column_int(st, 3) != 0;
    }
    ttdm_sql_reset(st);
    if (rc == TTDM_OK && *echo_id != 0 && !from_webhook) {
        LOG_WARN(LOG_MODULE, "message %lld: TikTok id already belongs to our message %lld",
                 (long long)own_id, (long long)*echo_id);
        rc = TTDM_ERR_CONFLICT;
    }
    return rc;
}

static enum ttdm_err tx_mark_sent(struct ttdm_sql_conn *c, void *arg)
{
    struct sent_args *a = arg;
    sqlite3_stmt *st = NULL;
    bool row = false, business = false, counts = false, echo_seen = false, echo_read = false;
    int64_t conv_id = 0, channel_id = 0, old_ts = 0, new_ts, echo_id = 0, echo_ts = 0;
    char old_tiktok_id[TTDM_ID_MAX] = "";
    enum ttdm_msg_status status = TTDM_STATUS_SENT;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT conversation_id, channel_id, direction = 'business',"
                          " timestamp_ms, counts, echo_seen, IFNULL(tiktok_message_id, '')"
                          " FROM messages WHERE id = ?1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        conv_id = sqlite3_column_int64(st, 0);
        channel_id = sqlite3_column_int64(st, 1);
        business = sqlite3_column_int(st, 2) != 0;
        old_ts = sqlite3_column_int64(st, 3);
        counts = sqlite3_column_int(st, 4) != 0;
        echo_seen = sqlite3_column_int(st, 5) != 0;
        ttdm_sql_col_copy(st, 6, old_tiktok_id, sizeof(old_tiktok_id));
    }
    ttdm_sql_reset(st);
    if (rc)
        return rc;
    if (!row)
        return TTDM_ERR_NOT_FOUND;
    if (!business)
        return TTDM_ERR_CONFLICT;

    if (old_tiktok_id[0] != '\0' && strcmp(old_tiktok_id, a->tiktok_id) == 0) {
        /* Already recorded (a worker retrying its own mark_sent): only the outbox row may
         * remain. */
        rc = ttdm_sql_prepare(c, "DELETE FROM outbox WHERE message_id = ?1", &st);
        if (rc)
            return rc;
        ttdm_sql_bind_i64(c, st, 1, a->id);
        return ttdm_sql_exec(c, st);
    }

    /* TikTok stamps a message when it accepts it, so until its echo tells us the exact
     * time, the send time is a better guess than the reservation time. (Keeping the
     * reservation time for a prompt send was tried: a text and the image sent right after
     * it then showed in the wrong order until both echoes had arrived.) */
    new_ts = a->now > old_ts ? a->now : old_ts;
    if (a->tiktok_id[0] != '\0') {
        rc = find_early_echo(c, channel_id, a->tiktok_id, a->id, &echo_id, &echo_ts, &echo_read);
        if (rc)
            return rc;
    }
    if (echo_id != 0) {
        rc = ttdm_sql_prepare(c, "DELETE FROM messages WHERE id = ?1", &st);
        if (rc)
            return rc;
        ttdm_sql_bind_i64(c, st, 1, echo_id);
        rc = ttdm_sql_exec(c, st);
        if (rc)
            return rc;
        new_ts = echo_ts;
        echo_seen = true;
        if (echo_read)
            status = TTDM_STATUS_READ;
    }

    /* Naming timestamp_ms would move the message in its conversation's time index even
     * to the same place. */
    if (new_ts != old_ts)
        rc = ttdm_sql_prepare(c,
                              "UPDATE messages SET status = ?2, tiktok_message_id = ?3,"
                              " timestamp_ms = ?4, echo_seen = ?5, updated_at = ?6 WHERE id = ?1",
                              &st);
    else
        rc =
            ttdm_sql_prepare(c,
                             "UPDATE messages SET status = ?2, tiktok_message_id = ?3,"
                             " echo_seen = ?5, updated_at = ?6 WHERE id = ?1 AND timestamp_ms = ?4",
                             &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    ttdm_sql_bind_text(c, st, 2, ttdm_msg_status_name(status));
    ttdm_sql_bind_opt(c, st, 3, a->tiktok_id);
    ttdm_sql_bind_i64(c, st, 4, new_ts);
    ttdm_sql_bind_i64(c, st, 5, echo_seen);
    ttdm_sql_bind_i64(c, st, 6, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    rc = ttdm_sql_prepare(c, "DELETE FROM outbox WHERE message_id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    if (echo_id == 0 && new_ts == old_ts)
        return TTDM_OK;
    return business_moved(c, conv_id, counts, old_ts, new_ts, a->now);
}

enum ttdm_err ttdm_store_mark_sent(struct ttdm_store *s, int64_t message_id,
                                   const char *tiktok_message_id, int64_t now_ms)
{
    struct sent_args a = {message_id, nz(tiktok_message_id), now_ms};
    return ttdm_group_commit_run(s->gc, tx_mark_sent, &a);
}

struct sent_async {
    struct sent_args a; /* first: the operation's argument is both &x->a and x */
    char tiktok_id[TTDM_ID_MAX];
    ttdm_store_done_fn done;
    void *ud;
};

static void on_sent_committed(void *arg, enum ttdm_err rc)
{
    struct sent_async *x = arg;

    x->done(x->ud, rc);
    ttdm_free(x);
}

enum ttdm_err ttdm_store_mark_sent_async(struct ttdm_store *s, int64_t message_id,
                                         const char *tiktok_message_id, int64_t now_ms,
                                         ttdm_store_done_fn done, void *ud)
{
    struct sent_async *x = ttdm_calloc(1, sizeof(*x));
    enum ttdm_err rc;

    ttdm_strlcpy(x->tiktok_id, nz(tiktok_message_id), sizeof(x->tiktok_id));
    x->a.id = message_id;
    x->a.tiktok_id = x->tiktok_id;
    x->a.now = now_ms;
    x->done = done;
    x->ud = ud;
    rc = ttdm_group_commit_submit(s->gc, tx_mark_sent, &x->a, on_sent_committed);
    if (rc)
        ttdm_free(x);
    return rc;
}

struct failed_args {
    int64_t id;
    enum ttdm_err err;
    int tiktok_code;
    const char *text;
    bool give_back;
    int64_t now;
};

static enum ttdm_err tx_mark_failed(struct ttdm_sql_conn *c, void *arg)
{
    struct failed_args *a = arg;
    sqlite3_stmt *st = NULL;
    bool row = false, counts = false;
    int64_t conv_id = 0, channel_id = 0, ts = 0, workspace_id = 0;
    struct conv_row r;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "SELECT conversation_id, channel_id, timestamp_ms, counts, workspace_id"
                          " FROM messages WHERE id = ?1 AND direction = 'business'",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        conv_id = sqlite3_column_int64(st, 0);
        channel_id = sqlite3_column_int64(st, 1);
        ts = sqlite3_column_int64(st, 2);
        counts = sqlite3_column_int(st, 3) != 0;
        workspace_id = sqlite3_column_int64(st, 4);
    }
    ttdm_sql_reset(st);
    if (rc)
        return rc;
    if (!row)
        return TTDM_ERR_NOT_FOUND;

    rc = ttdm_sql_prepare(c,
                          "UPDATE messages SET status = 'failed', error_code = ?2,"
                          " error_text = ?3, tiktok_error_code = ?4, counts = ?5,"
                          " updated_at = ?6 WHERE id = ?1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    ttdm_sql_bind_text(c, st, 2, a->err != TTDM_OK ? ttdm_err_code(a->err) : "");
    ttdm_sql_bind_text(c, st, 3, a->text);
    ttdm_sql_bind_i64(c, st, 4, a->tiktok_code);
    ttdm_sql_bind_i64(c, st, 5, counts && !a->give_back);
    ttdm_sql_bind_i64(c, st, 6, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    if (a->tiktok_code != 0) {
        char key[16];
        snprintf(key, sizeof(key), "%d", a->tiktok_code);
        rc = counter_add(c, workspace_id, channel_id, day_of(c, a->now), "tiktok_error", key, 1);
        if (rc)
            return rc;
    }
    rc = ttdm_sql_prepare(c, "DELETE FROM outbox WHERE message_id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    rc = ttdm_sql_exec(c, st);
    if (rc || !counts || !a->give_back)
        return rc;

    /* The reservation is given back: the quota and the day's set no longer include it. */
    rc = daily_release_if_unused(c, channel_id, conv_id, day_of(c, ts));
    if (rc)
        return rc;
    rc = conv_load(c, conv_id, &r);
    if (rc)
        return rc;
    rc = count_replies(c, r.id, r.latest_customer_msg_at, &r.replies_used);
    if (rc)
        return rc;
    return conv_save(c, &r, NULL, a->now);
}

enum ttdm_err ttdm_store_mark_failed(struct ttdm_store *s, int64_t message_id, enum ttdm_err err,
                                     int tiktok_code, const char *error_text, bool give_back,
                                     int64_t now_ms)
{
    struct failed_args a = {message_id, err, tiktok_code, nz(error_text), give_back, now_ms};
    return ttdm_group_commit_run(s->gc, tx_mark_failed, &a);
}

struct requeue_args {
    int64_t workspace_id;
    int64_t id;
    int64_t now;
    bool skip_policy;
    struct ttdm_message *out;
    struct ttdm_reply_budget budget;
};

/* A failed message that still counts (an uncertain outcome) stops counting, so that the new
 * reservation is judged like a fresh send and never counts twice. */
static enum ttdm_err uncount_failed(struct ttdm_sql_conn *c, int64_t id, int64_t now)
{
    sqlite3_stmt *st = NULL;
    bool row = false, counts = false;
    int64_t conv_id = 0, channel_id = 0, ts = 0;
    struct conv_row r;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(
        c, "SELECT counts, conversation_id, channel_id, timestamp_ms FROM messages WHERE id = ?1",
        &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row) {
        counts = sqlite3_column_int(st, 0) != 0;
        conv_id = sqlite3_column_int64(st, 1);
        channel_id = sqlite3_column_int64(st, 2);
        ts = sqlite3_column_int64(st, 3);
    }
    ttdm_sql_reset(st);
    if (rc || !row || !counts)
        return rc;
    rc = ttdm_sql_prepare(c, "UPDATE messages SET counts = 0 WHERE id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, id);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    rc = daily_release_if_unused(c, channel_id, conv_id, day_of(c, ts));
    if (rc)
        return rc;
    rc = conv_load(c, conv_id, &r);
    if (rc)
        return rc;
    rc = conv_recompute(c, &r);
    if (rc)
        return rc;
    return conv_save(c, &r, NULL, now);
}

static enum ttdm_err tx_requeue_failed(struct ttdm_sql_conn *c, void *arg)
{
    struct requeue_args *a = arg;
    struct ttdm_conversation_state cs;
    struct ttdm_channel_state chs;
    struct conv_row r;
    sqlite3_stmt *st = NULL;
    bool was_counted;
    enum ttdm_err rc;

    rc = message_load(c, a->workspace_id, a->id, a->out);
    if (rc)
        return rc;
    if (a->out->direction != TTDM_DIR_BUSINESS || a->out->status != TTDM_STATUS_FAILED)
        return TTDM_ERR_CONFLICT;
    rc = uncount_failed(c, a->id, a->now);
    if (rc)
        return rc;
    rc = conv_load(c, a->out->conversation_id, &r);
    if (rc)
        return rc;
    rc = policy_inputs(c, &r, a->now, &cs, &chs);
    if (rc)
        return rc;
    ttdm_policy_budget(c->rules, &cs, &chs, a->now, &a->budget);
    if (a->budget.may_send != TTDM_OK && !a->skip_policy)
        return a->budget.may_send;
    was_counted = cs.counted_today;

    rc = ttdm_sql_prepare(c,
                          "UPDATE messages SET status = 'queued', counts = 1, timestamp_ms = ?2,"
                          " error_code = '', error_text = '', tiktok_error_code = 0, attempts = 0,"
                          " echo_seen = 0, updated_at = ?2 WHERE id = ?1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    ttdm_sql_bind_i64(c, st, 2, a->now);
    rc = ttdm_sql_exec(c, st);
    if (rc)
        return rc;
    rc = outbox_insert(c, a->id, r.workspace_id, a->now, 0);
    if (rc)
        return rc;
    rc = count_reserved(c, &r, a->now, was_counted, a->out->type, a->out->text,
                        a->out->text != NULL ? strlen(a->out->text) : 0);
    if (rc)
        return rc;
    cs.replies_used = r.replies_used;
    cs.counted_today = true;
    if (!was_counted)
        chs.daily_used++;
    ttdm_policy_budget(c->rules, &cs, &chs, a->now, &a->budget);
    ttdm_message_cleanup(a->out);
    return message_load(c, 0, a->id, a->out);
}

enum ttdm_err ttdm_store_requeue_failed(struct ttdm_store *s, int64_t workspace_id,
                                        int64_t message_id, int64_t now_ms, bool skip_policy,
                                        struct ttdm_message *out, struct ttdm_reply_budget *budget)
{
    struct ttdm_message local;
    struct requeue_args a = {
        .workspace_id = workspace_id, .id = message_id, .now = now_ms, .skip_policy = skip_policy};
    enum ttdm_err rc;

    if (out == NULL)
        out = &local;
    memset(out, 0, sizeof(*out));
    if (workspace_id == 0)
        return TTDM_ERR_NOT_FOUND;
    a.out = out;
    rc = ttdm_group_commit_run(s->gc, tx_requeue_failed, &a);
    if (rc != TTDM_OK) {
        ttdm_message_cleanup(out);
        memset(out, 0, sizeof(*out));
    }
    if (budget != NULL) {
        if (rc == TTDM_OK || is_rule_refusal(rc))
            *budget = a.budget;
        else
            memset(budget, 0, sizeof(*budget));
    }
    if (out == &local)
        ttdm_message_cleanup(&local);
    return rc;
}

struct retry_args {
    int64_t id;
    int64_t next;
    const char *error;
};

static enum ttdm_err tx_schedule_retry(struct ttdm_sql_conn *c, void *arg)
{
    struct retry_args *a = arg;
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c,
                          "UPDATE outbox SET next_attempt_at = ?2, lease_until = NULL,"
                          " last_error = ?3 WHERE message_id = ?1",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->id);
    ttdm_sql_bind_i64(c, st, 2, a->next);
    ttdm_sql_bind_text(c, st, 3, a->error);
    rc = ttdm_sql_exec(c, st);
    if (rc == TTDM_OK && sqlite3_changes(c->db) == 0)
        rc = TTDM_ERR_NOT_FOUND;
    return rc;
}

enum ttdm_err ttdm_store_schedule_retry(struct ttdm_store *s, int64_t message_id,
                                        int64_t next_attempt_ms, const char *last_error)
{
    struct retry_args a = {message_id, next_attempt_ms, nz(last_error)};
    return ttdm_group_commit_run(s->gc, tx_schedule_retry, &a);
}

/* ---- Reads for the API -------------------------------------------------------------------- */

/*
 * A conversation as the inbox shows it. ?1 is the day the view is read on. CONV_VIEW_HEAD and
 * CONV_VIEW_TAIL surround the channel's count of conversations for R4 on that day.
 */
#define CONV_VIEW_HEAD                                                                             \
    "SELECT c.id, c.workspace_id, c.channel_id, c.tiktok_conversation_id,"                         \
    " IFNULL(c.customer_id, 0), IFNULL(cu.tiktok_user_id, ''), IFNULL(cu.username, ''),"           \
    " IFNULL(cu.region, ''), ch.business_id, ch.region, ch.origin, ch.status, ch.daily_limit,"     \
    " c.latest_customer_msg_at, c.replies_used, c.last_activity_at, c.last_preview,"               \
    " c.unread_count, c.created_at,"                                                               \
    " EXISTS (SELECT 1 FROM daily_conversations d WHERE d.channel_id = c.channel_id"               \
    "  AND d.day = ?1 AND d.conversation_id = c.id),"
#define CONV_VIEW_TAIL                                                                             \
    " ch.username, ch.display_name, ch.badge_sha256"                                               \
    " FROM conversations c JOIN channels ch ON ch.id = c.channel_id"                               \
    " LEFT JOIN customers cu ON cu.id = c.customer_id"

/*
 * Lists: ?2 is the workspace, ?7 the channel (0: every channel of the workspace). The
 * channel's count is computed once per query through the (channel, day) key rather than once
 * per listed conversation.
 */
#define CONV_VIEW_SELECT                                                                           \
    "WITH dc(channel_id, n) AS MATERIALIZED (SELECT d.channel_id, COUNT(*) FROM channels k"        \
    "  JOIN daily_conversations d ON d.channel_id = k.id AND d.day = ?1"                           \
    "  WHERE k.workspace_id = ?2 AND (?7 = 0 OR k.id = ?7) GROUP BY d.channel_id) " CONV_VIEW_HEAD \
    " IFNULL(dc.n, 0)," CONV_VIEW_TAIL " LEFT JOIN dc ON dc.channel_id = c.channel_id "

/* One conversation: only its own channel is counted (a send reads this first). */
#define CONV_VIEW_SELECT_ONE                                                                       \
    CONV_VIEW_HEAD                                                                                 \
    " (SELECT COUNT(*) FROM daily_conversations d WHERE d.channel_id = c.channel_id"               \
    "  AND d.day = ?1)," CONV_VIEW_TAIL " "

static void conv_view_read(sqlite3_stmt *st, const struct ttdm_policy_rules *rules, int64_t now,
                           struct ttdm_conversation_view *v, struct ttdm_reply_budget *budget)
{
    memset(v, 0, sizeof(*v));
    v->id = sqlite3_column_int64(st, 0);
    v->workspace_id = sqlite3_column_int64(st, 1);
    v->channel_id = sqlite3_column_int64(st, 2);
    ttdm_sql_col_copy(st, 3, v->tiktok_conversation_id, sizeof(v->tiktok_conversation_id));
    v->customer_id = sqlite3_column_int64(st, 4);
    ttdm_sql_col_copy(st, 5, v->customer_user_id, sizeof(v->customer_user_id));
    ttdm_sql_col_copy(st, 6, v->customer_username, sizeof(v->customer_username));
    ttdm_sql_col_copy(st, 7, v->customer_region, sizeof(v->customer_region));
    ttdm_sql_col_copy(st, 8, v->business_id, sizeof(v->business_id));
    ttdm_sql_col_copy(st, 9, v->business_region, sizeof(v->business_region));
    v->origin = ttdm_account_origin_parse(ttdm_sql_col_text(st, 10));
    v->channel_status = channel_status_parse(ttdm_sql_col_text(st, 11));
    v->channel_state.reconnect_required = v->channel_status == TTDM_CHANNEL_RECONNECT_REQUIRED;
    v->channel_state.daily_limit = sqlite3_column_int(st, 12);
    v->state.latest_customer_msg_at = sqlite3_column_int64(st, 13);
    v->state.replies_used = sqlite3_column_int(st, 14);
    v->last_activity_at = sqlite3_column_int64(st, 15);
    ttdm_sql_col_copy(st, 16, v->last_preview, sizeof(v->last_preview));
    v->unread_count = sqlite3_column_int(st, 17);
    v->created_at = sqlite3_column_int64(st, 18);
    v->state.counted_today = sqlite3_column_int(st, 19) != 0;
    v->channel_state.daily_used = sqlite3_column_int(st, 20);
    ttdm_sql_col_copy(st, 21, v->channel_username, sizeof(v->channel_username));
    ttdm_sql_col_copy(st, 22, v->channel_display_name, sizeof(v->channel_display_name));
    ttdm_sql_col_copy(st, 23, v->channel_badge_sha256, sizeof(v->channel_badge_sha256));
    if (budget != NULL)
        ttdm_policy_budget(rules, &v->state, &v->channel_state, now, budget);
}

enum ttdm_err ttdm_store_conversation_get(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                          int64_t now_ms, struct ttdm_conversation_view *out,
                                          struct ttdm_reply_budget *budget)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    bool row = false;
    enum ttdm_err rc;

    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc = ttdm_sql_prepare(c, CONV_VIEW_SELECT_ONE "WHERE c.workspace_id = ?2 AND c.id = ?3", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, ttdm_policy_day(&s->rules, now_ms));
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    ttdm_sql_bind_i64(c, st, 3, id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    conv_view_read(st, &s->rules, now_ms, out, budget);
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    return rc;
}

enum ttdm_err ttdm_store_conversation_list(struct ttdm_store *s, int64_t workspace_id,
                                           int64_t channel_id, int64_t before_activity,
                                           int64_t before_id, size_t limit, int64_t now_ms,
                                           struct ttdm_conversation_view **out,
                                           struct ttdm_reply_budget **budgets, size_t *n)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    struct ttdm_conversation_view *views = NULL;
    struct ttdm_reply_budget *buds = NULL;
    size_t count = 0;
    bool row = false;
    enum ttdm_err rc;

    *out = NULL;
    if (budgets != NULL)
        *budgets = NULL;
    *n = 0;
    if (limit > PAGE_MAX)
        limit = PAGE_MAX;
    if (before_activity == 0 && before_id == 0) {
        before_activity = INT64_MAX;
        before_id = INT64_MAX;
    }
    views = ttdm_calloc(limit ? limit : 1, sizeof(*views));
    buds = ttdm_calloc(limit ? limit : 1, sizeof(*buds));

    rc = reader_get(s, &c);
    if (rc)
        goto done;
    /* Two statements so each has the index made for it (see the schema). */
    if (channel_id != 0)
        rc = ttdm_sql_prepare(c,
                              CONV_VIEW_SELECT "WHERE c.workspace_id = ?2 AND c.channel_id = ?3"
                                               " AND (c.last_activity_at, c.id) < (?4, ?5)"
                                               " ORDER BY c.last_activity_at DESC, c.id DESC"
                                               " LIMIT ?6",
                              &st);
    else
        rc = ttdm_sql_prepare(c,
                              CONV_VIEW_SELECT "WHERE c.workspace_id = ?2 AND ?3 = 0"
                                               " AND (c.last_activity_at, c.id) < (?4, ?5)"
                                               " ORDER BY c.last_activity_at DESC, c.id DESC"
                                               " LIMIT ?6",
                              &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, ttdm_policy_day(&s->rules, now_ms));
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    ttdm_sql_bind_i64(c, st, 3, channel_id);
    ttdm_sql_bind_i64(c, st, 4, before_activity);
    ttdm_sql_bind_i64(c, st, 5, before_id);
    ttdm_sql_bind_i64(c, st, 6, (int64_t)limit);
    ttdm_sql_bind_i64(c, st, 7, channel_id);
    while (count < limit) {
        rc = ttdm_sql_step(c, st, &row);
        if (rc || !row)
            break;
        conv_view_read(st, &s->rules, now_ms, &views[count], &buds[count]);
        count++;
    }
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    if (rc) {
        ttdm_free(views);
        ttdm_free(buds);
        return rc;
    }
    *out = views;
    if (budgets != NULL)
        *budgets = buds;
    else
        ttdm_free(buds);
    *n = count;
    return TTDM_OK;
}

enum ttdm_err ttdm_store_message_list(struct ttdm_store *s, int64_t workspace_id,
                                      int64_t conversation_id, int64_t before_id, size_t limit,
                                      struct ttdm_message **out, size_t *n)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    struct ttdm_message *arr = NULL;
    size_t count = 0;
    bool row = false;
    enum ttdm_err rc;

    *out = NULL;
    *n = 0;
    if (limit > PAGE_MAX)
        limit = PAGE_MAX;
    if (before_id <= 0)
        before_id = INT64_MAX;
    arr = ttdm_calloc(limit ? limit : 1, sizeof(*arr));

    rc = reader_get(s, &c);
    if (rc)
        goto done;
    rc =
        ttdm_sql_prepare(c, "SELECT 1 FROM conversations WHERE id = ?1 AND workspace_id = ?2", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, conversation_id);
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    rc = ttdm_sql_step(c, st, &row);
    ttdm_sql_reset(st);
    st = NULL;
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    rc = ttdm_sql_prepare(c,
                          "SELECT " MSG_COLS " FROM messages m WHERE m.conversation_id = ?1"
                          " AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, conversation_id);
    ttdm_sql_bind_i64(c, st, 2, before_id);
    ttdm_sql_bind_i64(c, st, 3, (int64_t)limit);
    while (count < limit) {
        rc = ttdm_sql_step(c, st, &row);
        if (rc || !row)
            break;
        message_read(st, 0, &arr[count++]);
    }
done:
    ttdm_sql_reset(st);
    reader_put(s, c);
    if (rc) {
        ttdm_messages_free(arr, count);
        return rc;
    }
    *out = arr;
    *n = count;
    return TTDM_OK;
}

enum ttdm_err ttdm_store_message_get(struct ttdm_store *s, int64_t workspace_id, int64_t id,
                                     struct ttdm_message *out)
{
    struct ttdm_sql_conn *c = NULL;
    enum ttdm_err rc;

    memset(out, 0, sizeof(*out));
    if (workspace_id == 0)
        return TTDM_ERR_NOT_FOUND; /* 0 means "any" to message_load, never to a caller */
    rc = reader_get(s, &c);
    if (rc)
        return rc;
    rc = message_load(c, workspace_id, id, out);
    reader_put(s, c);
    return rc;
}

/* ---- Analytics ---------------------------------------------------------------------------- */

#define ANALYTICS_DAYS_MAX 366

struct count_args {
    int64_t channel_id;
    int64_t at;
    const char *metric;
    const char *key;
    int64_t delta;
};

static enum ttdm_err tx_analytics_count(struct ttdm_sql_conn *c, void *arg)
{
    struct count_args *a = arg;
    sqlite3_stmt *st = NULL;
    bool row = false;
    int64_t workspace_id = 0;
    enum ttdm_err rc;

    rc = ttdm_sql_prepare(c, "SELECT workspace_id FROM channels WHERE id = ?1", &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, a->channel_id);
    rc = ttdm_sql_step(c, st, &row);
    if (rc == TTDM_OK && row)
        workspace_id = sqlite3_column_int64(st, 0);
    ttdm_sql_reset(st);
    if (rc)
        return rc;
    if (!row)
        return TTDM_ERR_NOT_FOUND;
    return counter_add(c, workspace_id, a->channel_id, day_of(c, a->at), a->metric, a->key,
                       a->delta);
}

enum ttdm_err ttdm_store_analytics_count(struct ttdm_store *s, int64_t channel_id, int64_t at_ms,
                                         const char *metric, const char *key, int64_t delta)
{
    struct count_args a = {channel_id, at_ms, nz(metric), nz(key), delta};
    return ttdm_group_commit_run(s->gc, tx_analytics_count, &a);
}

struct conv_count {
    int64_t workspace_id;
    int64_t conversation_id;
    int64_t at;
    const char *metric; /* static strings */
    const char *key;
    ttdm_store_done_fn done; /* asynchronous form */
    void *ud;
};

static enum ttdm_err tx_conversation_count(struct ttdm_sql_conn *c, void *arg)
{
    struct conv_count *x = arg;
    struct conv_row r;
    enum ttdm_err rc = conv_load(c, x->conversation_id, &r);

    if (rc)
        return rc;
    if (r.workspace_id != x->workspace_id)
        return TTDM_ERR_NOT_FOUND;
    return counter_add(c, r.workspace_id, r.channel_id, day_of(c, x->at), x->metric, x->key, 1);
}

static void count_failed(const struct conv_count *x, enum ttdm_err rc)
{
    if (rc && rc != TTDM_ERR_NOT_FOUND)
        LOG_WARN(LOG_MODULE, "conversation=%lld: %s/%s could not be counted (%s)",
                 (long long)x->conversation_id, x->metric, x->key, ttdm_err_code(rc));
}

enum ttdm_err ttdm_store_count_conversation(struct ttdm_store *s, int64_t workspace_id,
                                            int64_t conversation_id, int64_t at_ms,
                                            const char *metric, const char *key)
{
    struct conv_count x = {workspace_id, conversation_id, at_ms, metric, key, NULL, NULL};
    enum ttdm_err rc = ttdm_group_commit_run(s->gc, tx_conversation_count, &x);

    count_failed(&x, rc);
    return rc;
}

static void on_conversation_counted(void *arg, enum ttdm_err rc)
{
    struct conv_count *x = arg;

    count_failed(x, rc);
    if (x->done != NULL)
        x->done(x->ud, rc);
    ttdm_free(x);
}

enum ttdm_err ttdm_store_count_conversation_async(struct ttdm_store *s, int64_t workspace_id,
                                                  int64_t conversation_id, int64_t at_ms,
                                                  const char *metric, const char *key,
                                                  ttdm_store_done_fn done, void *ud)
{
    struct conv_count *x = ttdm_calloc(1, sizeof(*x));
    enum ttdm_err rc;

    *x = (struct conv_count){workspace_id, conversation_id, at_ms, metric, key, done, ud};
    rc = ttdm_group_commit_submit(s->gc, tx_conversation_count, x, on_conversation_counted);
    if (rc)
        ttdm_free(x);
    return rc;
}

static void response_add(struct ttdm_analytics_day *d, size_t *cap, int64_t ms)
{
    if (d->n_response == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        d->response_ms = ttdm_realloc(d->response_ms, *cap * sizeof(*d->response_ms));
    }
    d->response_ms[d->n_response++] = ms;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/*
 * Counts messages per day and measures first responses, in one pass over the channel's
 * messages ordered by conversation and time. The pass starts one window before the first day
 * (so a customer already waiting is known) and ends one window after the last (a reply can
 * only come within the window, so every wait of the range is closed by then).
 */
static enum ttdm_err analytics_messages(struct ttdm_sql_conn *c, int64_t workspace_id,
                                        int64_t channel_id, int64_t from_day,
                                        struct ttdm_analytics_day *days, size_t n_days,
                                        size_t *caps)
{
    sqlite3_stmt *st = NULL;
    int64_t start, end, unused, conv = 0, waiting_since = 0;
    bool row = false;
    enum ttdm_err rc;

    day_bounds(c, from_day, &start, &unused);
    day_bounds(c, from_day + (int64_t)n_days - 1, &unused, &end);
    rc = ttdm_sql_prepare(c,
                          "SELECT m.conversation_id, m.direction, m.source, m.status,"
                          " m.timestamp_ms FROM conversations cv"
                          " JOIN messages m ON m.conversation_id = cv.id"
                          " WHERE cv.workspace_id = ?1 AND cv.channel_id = ?2"
                          " AND m.timestamp_ms >= ?3 AND m.timestamp_ms < ?4"
                          " ORDER BY m.conversation_id, m.timestamp_ms, m.id",
                          &st);
    if (rc)
        return rc;
    ttdm_sql_bind_i64(c, st, 1, workspace_id);
    ttdm_sql_bind_i64(c, st, 2, channel_id);
    ttdm_sql_bind_i64(c, st, 3, start - c->rules->window_ms);
    ttdm_sql_bind_i64(c, st, 4, end + c->rules->window_ms);
    for (;;) {
        int64_t conv_id, ts, idx;
        enum ttdm_direction dir;
        enum ttdm_msg_source source;
        enum ttdm_msg_status status;
        bool delivered;

        rc = ttdm_sql_step(c, st, &row);
        if (rc || !row)
            break;
        conv_id = sqlite3_column_int64(st, 0);
        dir = direction_parse(ttdm_sql_col_text(st, 1));
        source = source_parse(ttdm_sql_col_text(st, 2));
        status = status_parse(ttdm_sql_col_text(st, 3));
        ts = sqlite3_column_int64(st, 4);
        if (conv_id != conv) {
            conv = conv_id;
            waiting_since = 0;
        }
        delivered = status == TTDM_STATUS_SENT || status == TTDM_STATUS_READ;
        idx = day_of(c, ts) - from_day;
        if (idx >= 0 && (size_t)idx < n_days) {
            if (dir == TTDM_DIR_CUSTOMER)
                days[idx].customer_messages++;
            else if (delivered && (unsigned)source < 4)
                days[idx].business_messages[source]++;
        }
        if (dir == TTDM_DIR_CUSTOMER) {
            if (waiting_since == 0)
                waiting_since = ts;
        } else if (delivered && source != TTDM_SOURCE_AUTO && waiting_since != 0) {
            int64_t wait_idx = day_of(c, waiting_since) - from_day;
            if (wait_idx >= 0 && (size_t)wait_idx < n_days)
                response_add(&days[wait_idx], &caps[wait_idx], ts - waiting_since);
            waiting_since = 0;
        }
    }
    ttdm_sql_reset(st);
    return rc;
}

static enum ttdm_err analytics_other(struct ttdm_sql_conn *c, int64_t workspace_id,
                                     int64_t channel_id, int64_t from_day,
                                     struct ttdm_analytics_day *days, size_t n_days)
{
    sqlite3_stmt *st = NULL;
    int64_t start, end, unused, to_day = from_day + (int64_t)n_days - 1;
    size_t *caps = ttdm_calloc(n_days, sizeof(*caps));
    bool row = false;
    enum ttdm_err rc;

    day_bounds(c, from_day, &start, &unused);
    day_bounds(c, to_day, &unused, &end);
    rc = ttdm_sql_prepare(c,
                          "SELECT created_at FROM conversations WHERE workspace_id = ?1"
                          " AND channel_id = ?2 AND created_at >= ?3 AND created_at < ?4",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, workspace_id);
    ttdm_sql_bind_i64(c, st, 2, channel_id);
    ttdm_sql_bind_i64(c, st, 3, start);
    ttdm_sql_bind_i64(c, st, 4, end);
    while ((rc = ttdm_sql_step(c, st, &row)) == TTDM_OK && row) {
        int64_t idx = day_of(c, sqlite3_column_int64(st, 0)) - from_day;
        if (idx >= 0 && (size_t)idx < n_days)
            days[idx].new_conversations++;
    }
    ttdm_sql_reset(st);
    st = NULL;
    if (rc)
        goto done;

    rc = ttdm_sql_prepare(c,
                          "SELECT day, COUNT(*) FROM daily_conversations WHERE channel_id = ?1"
                          " AND day >= ?2 AND day <= ?3 GROUP BY day",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, channel_id);
    ttdm_sql_bind_i64(c, st, 2, from_day);
    ttdm_sql_bind_i64(c, st, 3, to_day);
    while ((rc = ttdm_sql_step(c, st, &row)) == TTDM_OK && row)
        days[sqlite3_column_int64(st, 0) - from_day].daily_conversations_used =
            sqlite3_column_int64(st, 1);
    ttdm_sql_reset(st);
    st = NULL;
    if (rc)
        goto done;

    rc = ttdm_sql_prepare(c,
                          "SELECT day, metric, key, value FROM analytics_counters"
                          " WHERE channel_id = ?1 AND workspace_id = ?2 AND day >= ?3"
                          " AND day <= ?4 ORDER BY day, metric, key",
                          &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, channel_id);
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    ttdm_sql_bind_i64(c, st, 3, from_day);
    ttdm_sql_bind_i64(c, st, 4, to_day);
    while ((rc = ttdm_sql_step(c, st, &row)) == TTDM_OK && row) {
        struct ttdm_analytics_day *d = &days[sqlite3_column_int64(st, 0) - from_day];
        struct ttdm_analytics_count *k;
        if (d->n_counts == caps[d - days]) {
            caps[d - days] = caps[d - days] ? caps[d - days] * 2 : 4;
            d->counts = ttdm_realloc(d->counts, caps[d - days] * sizeof(*d->counts));
        }
        k = &d->counts[d->n_counts++];
        memset(k, 0, sizeof(*k));
        ttdm_sql_col_copy(st, 1, k->metric, sizeof(k->metric));
        ttdm_sql_col_copy(st, 2, k->key, sizeof(k->key));
        k->value = sqlite3_column_int64(st, 3);
    }
    ttdm_sql_reset(st);
    st = NULL;
    if (rc)
        goto done;

    memset(caps, 0, n_days * sizeof(*caps));
    rc = analytics_messages(c, workspace_id, channel_id, from_day, days, n_days, caps);
done:
    ttdm_sql_reset(st);
    ttdm_free(caps);
    return rc;
}

enum ttdm_err ttdm_store_channel_analytics(struct ttdm_store *s, int64_t workspace_id,
                                           int64_t channel_id, int64_t from_day, int64_t to_day,
                                           struct ttdm_analytics_day **out, size_t *n)
{
    struct ttdm_sql_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    struct ttdm_analytics_day *days = NULL;
    size_t n_days;
    bool row = false;
    enum ttdm_err rc;

    *out = NULL;
    *n = 0;
    if (to_day < from_day || to_day - from_day >= ANALYTICS_DAYS_MAX)
        return TTDM_ERR_BAD_REQUEST;
    n_days = (size_t)(to_day - from_day + 1);
    rc = reader_get(s, &c);
    if (rc)
        return rc;
    rc = ttdm_sql_prepare(c, "SELECT 1 FROM channels WHERE id = ?1 AND workspace_id = ?2", &st);
    if (rc)
        goto done;
    ttdm_sql_bind_i64(c, st, 1, channel_id);
    ttdm_sql_bind_i64(c, st, 2, workspace_id);
    rc = ttdm_sql_step(c, st, &row);
    ttdm_sql_reset(st);
    if (rc)
        goto done;
    if (!row) {
        rc = TTDM_ERR_NOT_FOUND;
        goto done;
    }
    days = ttdm_calloc(n_days, sizeof(*days));
    for (size_t i = 0; i < n_days; i++)
        days[i].day = from_day + (int64_t)i;
    rc = analytics_other(c, workspace_id, channel_id, from_day, days, n_days);
    if (rc)
        goto done;
    for (size_t i = 0; i < n_days; i++)
        if (days[i].n_response > 1)
            qsort(days[i].response_ms, days[i].n_response, sizeof(int64_t), cmp_i64);
done:
    reader_put(s, c);
    if (rc) {
        ttdm_analytics_days_free(days, days != NULL ? n_days : 0);
        return rc;
    }
    *out = days;
    *n = n_days;
    return TTDM_OK;
}
