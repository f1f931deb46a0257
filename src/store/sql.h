/* sql.h -- SQLite connections of the store: pragmas, migrations, cached statements, helpers. */
#ifndef TTDM_SQL_H
#define TTDM_SQL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/policy.h"

/*
 * Only the store's own .c files include this header: the rest of ttdm never sees sqlite3.h.
 *
 * A connection is used by one thread at a time (the writer thread, or a reader borrowed
 * from the pool). Statements are prepared once per connection and kept, keyed by the
 * address of their SQL text, so call sites pass string literals and never prepare twice.
 */

#define TTDM_SQL_STMT_SLOTS 256 /* more than the store's distinct statements */

struct ttdm_sql_slot {
    const char *sql; /* key: the literal's address */
    sqlite3_stmt *st;
};

struct ttdm_sql_conn {
    sqlite3 *db;
    const struct ttdm_policy_rules *rules; /* the store's copy, borrowed */
    int bind_rc;                           /* first bind failure since the last step */
    struct ttdm_sql_conn *next_idle;       /* read pool's free list */
    struct ttdm_sql_slot slots[TTDM_SQL_STMT_SLOTS];
};

enum ttdm_sql_role {
    TTDM_SQL_WRITER, /* creates the file, sets WAL */
    TTDM_SQL_READER, /* query_only */
};

/*
 * Opens and configures a connection: WAL, synchronous FULL when `durable` else NORMAL,
 * busy timeout, foreign keys. On failure returns TTDM_ERR_STORAGE with err filled.
 * The caller owns *out (ttdm_sql_close).
 */
enum ttdm_err ttdm_sql_open(const char *path, enum ttdm_sql_role role, bool durable,
                            const struct ttdm_policy_rules *rules, struct ttdm_sql_conn **out,
                            char *err, size_t err_size);
/* Finalizes every cached statement and closes. NULL is a no-op. */
void ttdm_sql_close(struct ttdm_sql_conn *c);

/* Applies the embedded migrations newer than PRAGMA user_version, in one transaction. */
enum ttdm_err ttdm_sql_migrate(struct ttdm_sql_conn *c, char *err, size_t err_size);

/*
 * The cached statement for `sql` (a string literal: its address is the cache key), ready
 * to bind. Give it back with ttdm_sql_reset() when done, also on error paths.
 */
enum ttdm_err ttdm_sql_prepare(struct ttdm_sql_conn *c, const char *sql, sqlite3_stmt **out);
/* Resets and clears bindings so the statement ends its read and can be reused. NULL is ok. */
void ttdm_sql_reset(sqlite3_stmt *st);

/* Bind helpers remember the first failure in c->bind_rc; the next step reports it. */
void ttdm_sql_bind_i64(struct ttdm_sql_conn *c, sqlite3_stmt *st, int idx, int64_t v);
/* NULL binds SQL NULL. */
void ttdm_sql_bind_text(struct ttdm_sql_conn *c, sqlite3_stmt *st, int idx, const char *s);
void ttdm_sql_bind_text_n(struct ttdm_sql_conn *c, sqlite3_stmt *st, int idx, const char *s,
                          size_t len);
/* NULL or "" binds SQL NULL: "no id yet" is NULL so partial unique indexes ignore it. */
void ttdm_sql_bind_opt(struct ttdm_sql_conn *c, sqlite3_stmt *st, int idx, const char *s);

/*
 * Steps once: *row tells whether a row is available. Constraint violations map to
 * CONFLICT (unique) or NOT_FOUND (foreign key); other failures are logged, STORAGE.
 */
enum ttdm_err ttdm_sql_step(struct ttdm_sql_conn *c, sqlite3_stmt *st, bool *row);
/* Steps a statement that returns no row, then resets it. */
enum ttdm_err ttdm_sql_exec(struct ttdm_sql_conn *c, sqlite3_stmt *st);
/* Prepares (cached) and executes a statement without parameters, e.g. "BEGIN IMMEDIATE". */
enum ttdm_err ttdm_sql_exec_sql(struct ttdm_sql_conn *c, const char *sql);
/* Logs the connection's last error with `what` and returns TTDM_ERR_STORAGE. */
enum ttdm_err ttdm_sql_fail(struct ttdm_sql_conn *c, const char *what);

/* Column text, "" for NULL. Valid until the next step or reset. */
const char *ttdm_sql_col_text(sqlite3_stmt *st, int col);
/* Copies a text column into dst (cut to fit, NUL-terminated). */
void ttdm_sql_col_copy(sqlite3_stmt *st, int col, char *dst, size_t dst_size);

#endif /* TTDM_SQL_H */
