/* test_walbuf.c -- the WAL-buffering VFS: fewer writes, every commit readable by other
 * connections at once, and in the file when COMMIT returns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store/walbuf.h"

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ttdm-walbuf-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    assert_int_equal(ttdm_walbuf_register(), SQLITE_OK);
    assert_int_equal(ttdm_walbuf_register(), SQLITE_OK); /* twice is fine */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char p[160];

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg != NULL ? msg : "?");
}

static int64_t query_i64(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The connection the store's writer is: this VFS, WAL, synchronous=FULL. */
static sqlite3 *open_writer(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, TTDM_WALBUF_VFS),
        SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL");
    exec_ok(db, "PRAGMA synchronous=FULL");
    exec_ok(db, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)");
    exec_ok(db, "CREATE INDEX IF NOT EXISTS t_k ON t(k)");
    return db;
}

static sqlite3 *open_plain(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return db;
}

/* rows rows of `size` bytes each, keys scattered so the index's pages change too. */
static void insert_rows(sqlite3 *db, int first, int rows, int size)
{
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO t (id, k, v) VALUES (?1, ?2, zeroblob(?3))",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (int i = first; i < first + rows; i++) {
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_int(st, 2, (int)(((unsigned)i * 2654435761u) % 100000u));
        sqlite3_bind_int(st, 3, size);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

/* Each commit's frames leave in a few writes, and a connection through the default VFS
 * sees every commit as soon as COMMIT returns, across WAL restarts. */
static void test_commits_are_gathered_and_visible(void **state)
{
    struct fixture *f = *state;
    struct ttdm_walbuf_stats before, after;
    sqlite3 *w = open_writer(f->path);
    sqlite3 *r = open_plain(f->path);

    ttdm_walbuf_stats(&before);
    for (int i = 0; i < 60; i++) {
        exec_ok(w, "BEGIN IMMEDIATE");
        insert_rows(w, i * 40, 40, 700);
        exec_ok(w, "COMMIT");
        assert_int_equal(query_i64(r, "SELECT COUNT(*) FROM t"), (i + 1) * 40);
        assert_int_equal(query_i64(r, "SELECT SUM(length(v)) FROM t"), (int64_t)(i + 1) * 40 * 700);
        if (i % 20 == 19) /* the next commit writes a new WAL header at offset 0 */
            exec_ok(w, "PRAGMA wal_checkpoint(RESTART)");
    }
    ttdm_walbuf_stats(&after);
    /* About ten pages per commit, two writes each, gathered into one or two. */
    assert_true(after.writes_asked - before.writes_asked >= 60 * 10);
    assert_true((after.writes_done - before.writes_done) * 5 <
                after.writes_asked - before.writes_asked);
    assert_string_equal((const char *)sqlite3_errmsg(w), "not an error");
    sqlite3_close(r);
    sqlite3_close(w);
}

/* A transaction bigger than the buffer, with a page cache so small that SQLite spills
 * pages to the WAL mid-transaction, reads them back and rewrites them in place. */
static void test_large_transaction_that_spills(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w = open_writer(f->path);
    sqlite3 *r;

    exec_ok(w, "PRAGMA cache_size=8");
    exec_ok(w, "BEGIN IMMEDIATE");
    insert_rows(w, 0, 3000, 1500); /* ~4.5 MB */
    exec_ok(w, "UPDATE t SET k = k + 1 WHERE id % 7 = 0");
    exec_ok(w, "UPDATE t SET v = zeroblob(900) WHERE id % 5 = 0");
    exec_ok(w, "COMMIT");
    r = open_plain(f->path);
    assert_int_equal(query_i64(r, "SELECT COUNT(*) FROM t"), 3000);
    assert_int_equal(query_i64(r, "SELECT SUM(length(v)) FROM t"), 600 * 900 + 2400 * 1500);
    assert_int_equal(query_i64(r, "SELECT COUNT(*) FROM t INDEXED BY t_k WHERE k >= 0"), 3000);
    assert_int_equal(query_i64(r, "SELECT SUM(k) FROM t"), query_i64(w, "SELECT SUM(k) FROM t"));
    assert_int_equal(query_i64(r, "SELECT COUNT(*) FROM pragma_integrity_check"
                                  " WHERE integrity_check <> 'ok'"),
                     0);
    sqlite3_close(r);
    sqlite3_close(w);
}

/* A process that ends right after its commits, without closing (no checkpoint, nothing
 * flushed at close), leaves every committed transaction in the file. */
static void test_commits_survive_an_abrupt_exit(void **state)
{
    struct fixture *f = *state;
    int status = 0;
    pid_t pid = fork();
    sqlite3 *r;

    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *w = open_writer(f->path);

        for (int i = 0; i < 50; i++) {
            exec_ok(w, "BEGIN IMMEDIATE");
            insert_rows(w, i * 30, 30, 600);
            exec_ok(w, "COMMIT");
        }
        /* One more, never committed: it must not appear. */
        exec_ok(w, "BEGIN IMMEDIATE");
        insert_rows(w, 100000, 30, 600);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    r = open_plain(f->path);
    assert_int_equal(query_i64(r, "SELECT COUNT(*) FROM t"), 50 * 30);
    assert_int_equal(query_i64(r, "SELECT MAX(id) FROM t"), 50 * 30 - 1);
    assert_int_equal(query_i64(r, "SELECT COUNT(*) FROM pragma_integrity_check"
                                  " WHERE integrity_check <> 'ok'"),
                     0);
    sqlite3_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commits_are_gathered_and_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_transaction_that_spills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commits_survive_an_abrupt_exit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
