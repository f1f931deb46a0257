/* sql.c -- SQLite connections of the store: pragmas, migrations, cached statements, helpers. */
#include "store/sql.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "store/migrations.h"
#include "store/walbuf.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/str.h"

#define LOG_MODULE "store"
#define BUSY_TIMEOUT_MS 10000
/* WAL frames between automatic checkpoints (SQLite's default is 1000, ~4 MB). Fewer, larger
 * checkpoints copy each hot page back once instead of several times; measured a little
 * faster for the webhook load, at the cost of a WAL of ~16 MB. */
#define CHECKPOINT_FRAMES 4000

/* Runs one statement that may return rows we do not need (PRAGMAs). */
static int exec_plain(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* journal_mode answers with the mode actually in effect, which may differ from the one asked
 * for (e.g. a read-only directory cannot hold the -wal file). */
static int set_wal(sqlite3 *db, char *err, size_t err_size)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        snprintf(err, err_size, "cannot set WAL mode: %s", sqlite3_errmsg(db));
        rc = -1;
        goto done;
    }
    if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        snprintf(err, err_size, "database refused WAL mode (got %s)",
                 (const char *)sqlite3_column_text(st, 0));
        rc = -1;
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(st);
    return rc;
}

enum ttdm_err ttdm_sql_open(const char *path, enum ttdm_sql_role role, bool durable,
                            const struct ttdm_policy_rules *rules, struct ttdm_sql_conn **out,
                            char *err, size_t err_size)
{
    struct ttdm_sql_conn *c = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    const char *vfs = NULL;
    int rc;

    *out = NULL;
    if (sqlite3_threadsafe() == 0) {
        snprintf(err, err_size, "the SQLite library was built without thread support");
        goto fail;
    }
    if (role == TTDM_SQL_WRITER)
        flags |= SQLITE_OPEN_CREATE;
    /* The writer of a durable store syncs the WAL at every commit, which is when the
     * buffering VFS writes the commit's frames (walbuf.h). */
    if (role == TTDM_SQL_WRITER && durable && ttdm_walbuf_register() == SQLITE_OK)
        vfs = TTDM_WALBUF_VFS;
    c = ttdm_calloc(1, sizeof(*c));
    c->rules = rules;
    rc = sqlite3_open_v2(path, &c->db, flags, vfs);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "cannot open database %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);

    if (role == TTDM_SQL_WRITER) {
        if (set_wal(c->db, err, err_size) != 0)
            goto fail;
        sqlite3_wal_autocheckpoint(c->db, CHECKPOINT_FRAMES);
    }
    /* Acknowledged must mean fsynced (MEASUREMENTS.md): FULL syncs the WAL at every commit,
     * NORMAL only at checkpoints and may lose the last commits on power loss. */
    rc = exec_plain(c->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    if (rc == SQLITE_OK)
        rc = exec_plain(c->db, "PRAGMA foreign_keys=ON");
    if (rc == SQLITE_OK)
        rc = exec_plain(c->db, "PRAGMA temp_store=MEMORY");
    /* Page caches are per connection and count in the process's memory: the writer, which
     * walks every index on each insert, gets most; readers lean on the OS page cache. */
    if (rc == SQLITE_OK)
        rc = exec_plain(c->db, role == TTDM_SQL_WRITER ? "PRAGMA cache_size=-12288"
                                                       : "PRAGMA cache_size=-4096");
    if (rc == SQLITE_OK && role == TTDM_SQL_READER)
        rc = exec_plain(c->db, "PRAGMA query_only=ON");
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "cannot configure database %s: %s", path, sqlite3_errmsg(c->db));
        goto fail;
    }
    *out = c;
    return TTDM_OK;
fail:
    ttdm_sql_close(c);
    return TTDM_ERR_STORAGE;
}

void ttdm_sql_close(struct ttdm_sql_conn *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < TTDM_SQL_STMT_SLOTS; i++) {
        if (c->slots[i].st != NULL)
            sqlite3_finalize(c->slots[i].st);
    }
    if (c->db != NULL)
        sqlite3_close_v2(c->db);
    ttdm_free(c);
}

static enum ttdm_err read_user_version(struct ttdm_sql_conn *c, int *version)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc;
    bool row = false;

    rc = ttdm_sql_prepare(c, "PRAGMA user_version", &st);
    if (rc)
        goto done;
    rc = ttdm_sql_step(c, st, &row);
    if (rc)
        goto done;
    *version = row ? sqlite3_column_int(st, 0) : 0;
done:
    ttdm_sql_reset(st);
    return rc;
}

enum ttdm_err ttdm_sql_migrate(struct ttdm_sql_conn *c, char *err, size_t err_size)
{
    enum ttdm_err rc;
    int current = 0;
    int newest = 0;
    bool in_tx = false;
    char *errmsg = NULL;

    for (size_t i = 0; i < ttdm_migrations_count; i++) {
        if (ttdm_migrations[i].version <= newest) {
            snprintf(err, err_size, "migration %s is out of order", ttdm_migrations[i].name);
            rc = TTDM_ERR_STORAGE;
            goto done;
        }
        newest = ttdm_migrations[i].version;
    }

    rc = ttdm_sql_exec_sql(c, "BEGIN IMMEDIATE");
    if (rc) {
        snprintf(err, err_size, "cannot lock database: %s", sqlite3_errmsg(c->db));
        goto done;
    }
    in_tx = true;
    rc = read_user_version(c, &current);
    if (rc) {
        snprintf(err, err_size, "cannot read schema version: %s", sqlite3_errmsg(c->db));
        goto done;
    }
    if (current > newest) {
        snprintf(err, err_size,
                 "database schema version %d is newer than this ttdm knows (%d): upgrade ttdm",
                 current, newest);
        rc = TTDM_ERR_STORAGE;
        goto done;
    }
    for (size_t i = 0; i < ttdm_migrations_count; i++) {
        const struct ttdm_migration *m = &ttdm_migrations[i];
        char pragma[64];

        if (m->version <= current)
            continue;
        if (sqlite3_exec(c->db, m->sql, NULL, NULL, &errmsg) != SQLITE_OK) {
            snprintf(err, err_size, "migration %s failed: %s", m->name,
                     errmsg ? errmsg : sqlite3_errmsg(c->db));
            rc = TTDM_ERR_STORAGE;
            goto done;
        }
        /* PRAGMA takes no bound parameters; the version is our own integer. */
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
        if (sqlite3_exec(c->db, pragma, NULL, NULL, &errmsg) != SQLITE_OK) {
            snprintf(err, err_size, "cannot record migration %s: %s", m->name,
                     errmsg ? errmsg : sqlite3_errmsg(c->db));
            rc = TTDM_ERR_STORAGE;
            goto done;
        }
        LOG_INFO(LOG_MODULE, "applied migration %s", m->name);
    }
    rc = ttdm_sql_exec_sql(c, "COMMIT");
    if (rc) {
        snprintf(err, err_size, "cannot commit migrations: %s", sqlite3_errmsg(c->db));
        goto done;
    }
    in_tx = false;
done:
    if (in_tx && !sqlite3_get_autocommit(c->db))
        exec_plain(c->db, "ROLLBACK");
    sqlite3_free(errmsg);
    return rc;
}

/* Fibonacci hashing of the literal's address; the low bits are alignment, so drop them. */
static size_t slot_of(const char *sql)
{
    uint64_t h = (uint64_t)(uintptr_t)sql >> 3;
    return (size_t)((h * UINT64_C(11400714819323198485)) >> 56) % TTDM_SQL_STMT_SLOTS;
}

enum ttdm_err ttdm_sql_prepare(struct ttdm_sql_conn *c, const char *sql, sqlite3_stmt **out)
{
    size_t i = slot_of(sql);

    *out = NULL;
    for (size_t probes = 0; probes < TTDM_SQL_STMT_SLOTS; probes++) {
        struct ttdm_sql_slot *slot = &c->slots[i];
        if (slot->sql == sql) {
            *out = slot->st;
            return TTDM_OK;
        }
        if (slot->sql == NULL) {
            if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->st, NULL) !=
                SQLITE_OK) {
                LOG_ERROR(LOG_MODULE, "cannot prepare \"%.60s\": %s", sql, sqlite3_errmsg(c->db));
                slot->st = NULL;
                return TTDM_ERR_STORAGE;
            }
            slot->sql = sql;
            *out = slot->st;
            return TTDM_OK;
        }
        i = (i + 1) % TTDM_SQL_STMT_SLOTS;
    }
    LOG_ERROR(LOG_MODULE, "statement cache full (%d): raise TTDM_SQL_STMT_SLOTS",
              TTDM_SQL_STMT_SLOTS);
    return TTDM_ERR_STORAGE;
}

void ttdm_sql_reset(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void note_bind(struct ttdm_sql_conn *c, int rc)
{
    if (rc != SQLITE_OK && c->bind_rc == SQLITE_OK)
        c->bind_rc = rc;
}

void ttdm_sql_bind_i64(struct ttdm_sql_conn *c, sqlite3_stmt *st, int idx, int64_t v)
{
    note_bind(c, sqlite3_bind_int64(st, idx, (sqlite3_int64)v));
}

void ttdm_sql_bind_text(struct ttdm_sql_conn *c, sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        note_bind(c, sqlite3_bind_null(st, idx));
    else
        note_bind(c, sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC));
}

void ttdm_sql_bind_text_n(struct ttdm_sql_conn *c, sqlite3_stmt *st, int idx, const char *s,
                          size_t len)
{
    if (s == NULL)
        note_bind(c, sqlite3_bind_null(st, idx));
    else
        note_bind(c,
                  sqlite3_bind_text64(st, idx, s, (sqlite3_uint64)len, SQLITE_STATIC, SQLITE_UTF8));
}

void ttdm_sql_bind_opt(struct ttdm_sql_conn *c, sqlite3_stmt *st, int idx, const char *s)
{
    ttdm_sql_bind_text(c, st, idx, (s != NULL && s[0] != '\0') ? s : NULL);
}

enum ttdm_err ttdm_sql_step(struct ttdm_sql_conn *c, sqlite3_stmt *st, bool *row)
{
    int rc;

    *row = false;
    if (c->bind_rc != SQLITE_OK) {
        LOG_ERROR(LOG_MODULE, "cannot bind parameters of \"%.60s\": %s", sqlite3_sql(st),
                  sqlite3_errstr(c->bind_rc));
        c->bind_rc = SQLITE_OK;
        sqlite3_reset(st);
        return TTDM_ERR_STORAGE;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *row = true;
        return TTDM_OK;
    }
    if (rc == SQLITE_DONE)
        return TTDM_OK;
    /* Log before the reset, which may replace the connection's error message. */
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        LOG_DEBUG(LOG_MODULE, "conflict in \"%.60s\": %s", sqlite3_sql(st), sqlite3_errmsg(c->db));
        sqlite3_reset(st);
        return TTDM_ERR_CONFLICT;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        LOG_DEBUG(LOG_MODULE, "missing parent in \"%.60s\": %s", sqlite3_sql(st),
                  sqlite3_errmsg(c->db));
        sqlite3_reset(st);
        return TTDM_ERR_NOT_FOUND;
    default:
        LOG_ERROR(LOG_MODULE, "\"%.60s\" failed: %s (%d)", sqlite3_sql(st), sqlite3_errmsg(c->db),
                  rc);
        sqlite3_reset(st);
        return TTDM_ERR_STORAGE;
    }
}

enum ttdm_err ttdm_sql_exec(struct ttdm_sql_conn *c, sqlite3_stmt *st)
{
    bool row;
    enum ttdm_err rc = ttdm_sql_step(c, st, &row);

    ttdm_sql_reset(st);
    return rc;
}

enum ttdm_err ttdm_sql_exec_sql(struct ttdm_sql_conn *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    enum ttdm_err rc = ttdm_sql_prepare(c, sql, &st);

    if (rc)
        return rc;
    return ttdm_sql_exec(c, st);
}

enum ttdm_err ttdm_sql_fail(struct ttdm_sql_conn *c, const char *what)
{
    LOG_ERROR(LOG_MODULE, "%s: %s", what, sqlite3_errmsg(c->db));
    return TTDM_ERR_STORAGE;
}

const char *ttdm_sql_col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s != NULL ? (const char *)s : "";
}

void ttdm_sql_col_copy(sqlite3_stmt *st, int col, char *dst, size_t dst_size)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);

    if (s == NULL || len <= 0) {
        dst[0] = '\0';
        return;
    }
    ttdm_strlcpy_n(dst, dst_size, (const char *)s, (size_t)len);
}
