/* test_walbuf.c -- the WAL-buffering VFS: fewer writes, every commit readable by other
 * connections at once, and in the file when COMMIT returns. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
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

/* Runs `insert`, which selects from s(x), with s holding 1..n. */
static void exec_series(sqlite3 *db, int n, const char *insert)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < %d) %s", n,
             insert);
    exec_ok(db, sql);
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

static void assert_intact(sqlite3 *db)
{
    assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM pragma_integrity_check"
                                   " WHERE integrity_check <> 'ok'"),
                     0);
}

/* 2,000 rows of 500 bytes, then a transaction big enough to spill into the WAL with a
 * cache of 50 pages, rolled back: its last frames may still be gathered. */
static void fill_then_roll_back(sqlite3 *a, bool exclusive)
{
    exec_series(a, 2000, "INSERT INTO t (id, k, v) SELECT x, x, zeroblob(500) FROM s");
    exec_ok(a, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (exclusive)
        exec_ok(a, "PRAGMA locking_mode=EXCLUSIVE");
    exec_ok(a, "PRAGMA cache_size=50");
    exec_ok(a, "BEGIN IMMEDIATE");
    exec_series(a, 3000, "INSERT INTO t (k, v) SELECT x, randomblob(500) FROM s");
    exec_ok(a, "ROLLBACK");
}

/* Another writer (the sqlite3 shell, say) commits where those frames would go; r must read
 * its commit whole before and after the first connection reads and closes. */
static void other_writer_commits(sqlite3 *a, sqlite3 *b, sqlite3 *r)
{
    int64_t want;

    exec_ok(b, "BEGIN IMMEDIATE");
    exec_ok(b, "UPDATE t SET v = zeroblob(300) WHERE id % 3 = 0");
    exec_series(b, 3000, "INSERT INTO t (k, v) SELECT -x, zeroblob(400) FROM s");
    exec_ok(b, "COMMIT");
    want = query_i64(r, "SELECT SUM(length(v)) FROM t");
    assert_int_equal(want, 666 * 300 + 1334 * 500 + 3000 * 400);
    assert_int_equal(query_i64(a, "SELECT SUM(length(v)) FROM t"), want);
    sqlite3_close(a);
    assert_int_equal(query_i64(r, "SELECT SUM(length(v)) FROM t"), want);
    assert_intact(r);
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
    assert_intact(r);
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
    assert_intact(r);
    sqlite3_close(r);
}

/* ---- a disk that fails on demand: the default VFS's pwrite, swapped for the test ---- */

static int fail_writes;

static ssize_t failing_pwrite(int fd, const void *p, size_t n, off_t off)
{
    if (fail_writes) {
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, p, n, off);
}

static void swap_pwrite(bool failing)
{
    sqlite3_vfs *u = sqlite3_vfs_find("unix");
    sqlite3_syscall_ptr fn = failing ? (sqlite3_syscall_ptr)failing_pwrite : NULL;

    assert_non_null(u);
    /* NULL restores the default; the build uses one of the two names. */
    u->xSetSystemCall(u, "pwrite", fn);
    u->xSetSystemCall(u, "pwrite64", fn);
}

/* A write that fails while frames are gathered (here: the disk is full while a statement
 * reads back a page that spilled into the WAL) fails the transaction's commit, or leaves
 * it whole: never a commit over frames that did not reach the file. */
static void test_failed_write_fails_the_commit(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w, *r;
    int rc;
    int64_t n;

    swap_pwrite(true);
    w = open_writer(f->path);
    exec_ok(w, "PRAGMA foreign_keys=ON");
    exec_ok(w, "CREATE TABLE p (id INTEGER PRIMARY KEY)");
    exec_ok(w, "INSERT INTO p VALUES (1)");
    exec_ok(w, "CREATE TABLE c (id INTEGER PRIMARY KEY, k INTEGER UNIQUE,"
               " pid INTEGER REFERENCES p(id), v BLOB)");
    exec_ok(w, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec_ok(w, "PRAGMA cache_size=20");
    exec_ok(w, "BEGIN IMMEDIATE");
    exec_series(w, 3000, "INSERT INTO c (k, v) SELECT x, randomblob(300) FROM s");
    fail_writes = 1;
    rc = sqlite3_exec(w, "UPDATE c SET pid = 1 WHERE id <= 3", NULL, NULL, NULL);
    fail_writes = 0;
    assert_int_not_equal(rc, SQLITE_OK);
    if (!sqlite3_get_autocommit(w)) {
        sqlite3_exec(w, "INSERT INTO c (k, v) VALUES (-1, x'01')", NULL, NULL, NULL);
        rc = sqlite3_exec(w, "COMMIT", NULL, NULL, NULL);
        assert_int_not_equal(rc, SQLITE_OK);
        sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
    }
    /* The connection goes on: the next transaction commits. */
    exec_ok(w, "INSERT INTO c (k, v) VALUES (-2, x'02')");
    r = open_plain(f->path);
    n = query_i64(r, "SELECT COUNT(*) FROM c");
    assert_int_equal(n, 1);
    assert_intact(r);
    sqlite3_close(r);
    sqlite3_close(w);
    swap_pwrite(false);
}

/* A rolled-back transaction's frames that were still gathered never reach the file after
 * its write lock is gone, where another writer's commit may lie by then. */
static void test_rolled_back_frames_stay_out(void **state)
{
    struct fixture *f = *state;
    sqlite3 *a = open_writer(f->path);
    sqlite3 *b = open_plain(f->path);
    sqlite3 *r = open_plain(f->path);

    fill_then_roll_back(a, false);
    other_writer_commits(a, b, r);
    sqlite3_close(r);
    sqlite3_close(b);
}

/* Where the database does not promise power-safe overwrite (psow=0), SQLite pads the WAL
 * after its sync: the VFS then leaves the WAL alone, and every commit is readable. */
static void test_no_powersafe_overwrite_is_left_alone(void **state)
{
    struct fixture *f = *state;
    struct ttdm_walbuf_stats before, after;
    char uri[200];
    sqlite3 *w = NULL, *r;

    snprintf(uri, sizeof(uri), "file:%s?psow=0", f->path);
    assert_int_equal(sqlite3_open_v2(uri, &w,
                                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                                     TTDM_WALBUF_VFS),
                     SQLITE_OK);
    exec_ok(w, "PRAGMA journal_mode=WAL");
    exec_ok(w, "PRAGMA synchronous=FULL");
    exec_ok(w, "CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)");
    r = open_plain(f->path);
    ttdm_walbuf_stats(&before);
    for (int i = 0; i < 100; i++) {
        insert_rows(w, i, 1, 300 + i);
        assert_int_equal(query_i64(r, "SELECT COUNT(*) FROM t"), i + 1);
    }
    ttdm_walbuf_stats(&after);
    assert_int_equal(after.writes_asked, before.writes_asked);
    assert_intact(r);
    sqlite3_close(r);
    sqlite3_close(w);
}

/* A failed write stays failed for the rest of its transaction, even when SQLite's next
 * write lands before the lost bytes (a frame rewritten in place): the commit fails. */
static void test_loss_lasts_the_transaction(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w, *r;
    sqlite3_blob *blob = NULL;
    char buf[100];

    swap_pwrite(true);
    w = open_writer(f->path);
    exec_ok(w, "PRAGMA wal_autocheckpoint=0");
    exec_ok(w, "CREATE TABLE u (id INTEGER PRIMARY KEY, v BLOB)");
    exec_series(w, 600, "INSERT INTO t (id, k, v) SELECT x, x, randomblob(3000) FROM s");
    exec_ok(w, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec_ok(w, "INSERT INTO u VALUES (1, randomblob(200000))"); /* its pages in the WAL */
    exec_ok(w, "PRAGMA cache_size=10");
    exec_ok(w, "BEGIN IMMEDIATE");
    assert_int_equal(sqlite3_blob_open(w, "main", "u", "v", 1, 0, &blob), SQLITE_OK);
    exec_ok(w, "UPDATE t SET v = randomblob(3000) WHERE id <= 400"); /* spills */
    fail_writes = 1;
    assert_int_not_equal(sqlite3_blob_read(blob, buf, sizeof(buf), 150000), SQLITE_OK);
    fail_writes = 0;
    sqlite3_exec(w, "UPDATE t SET v = randomblob(3000) WHERE id = 1", NULL, NULL, NULL);
    sqlite3_db_cacheflush(w);
    assert_int_not_equal(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_blob_close(blob);
    r = open_plain(f->path);
    assert_int_equal(query_i64(r, "SELECT COUNT(*) FROM t"), 600);
    assert_intact(r);
    /* The transaction is over: the connection writes again. */
    exec_ok(w, "INSERT INTO t (k, v) VALUES (-1, x'01')");
    assert_int_equal(query_i64(r, "SELECT COUNT(*) FROM t"), 601);
    sqlite3_close(r);
    sqlite3_close(w);
    swap_pwrite(false);
}

/* A write that fails while a rolled-back transaction ends loses nothing that matters: the
 * connection reads and writes on, also after another writer committed past that point. */
static void test_failure_at_rollback_does_not_stick(void **state)
{
    struct fixture *f = *state;
    sqlite3 *a, *b;

    swap_pwrite(true);
    a = open_writer(f->path);
    exec_ok(a, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec_ok(a, "PRAGMA cache_size=20");
    exec_ok(a, "BEGIN IMMEDIATE");
    exec_series(a, 300, "INSERT INTO t (k, v) SELECT x, randomblob(3000) FROM s");
    fail_writes = 1;
    sqlite3_exec(a, "ROLLBACK", NULL, NULL, NULL);
    fail_writes = 0;
    b = open_plain(f->path);
    exec_series(b, 600, "INSERT INTO t (k, v) SELECT x, randomblob(3000) FROM s");
    assert_int_equal(query_i64(a, "SELECT COUNT(*) FROM t"), 600);
    exec_ok(a, "INSERT INTO t (k, v) VALUES (-1, x'01')");
    assert_int_equal(query_i64(b, "SELECT COUNT(*) FROM t"), 601);
    sqlite3_close(b);
    sqlite3_close(a);
    swap_pwrite(false);
}

/* In locking_mode=EXCLUSIVE the WAL write lock is kept without the wal-index: leaving that
 * mode ends it, and a rolled-back transaction's frames stay out of later commits. */
static void test_exclusive_locking_mode(void **state)
{
    struct fixture *f = *state;
    sqlite3 *a = open_writer(f->path);
    sqlite3 *b, *r;

    fill_then_roll_back(a, true);
    exec_ok(a, "PRAGMA locking_mode=NORMAL");
    assert_int_equal(query_i64(a, "SELECT COUNT(*) FROM t"), 2000); /* releases the lock */
    b = open_plain(f->path);
    r = open_plain(f->path);
    other_writer_commits(a, b, r);
    sqlite3_close(r);
    sqlite3_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commits_are_gathered_and_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_transaction_that_spills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commits_survive_an_abrupt_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_fails_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_frames_stay_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_powersafe_overwrite_is_left_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loss_lasts_the_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_at_rollback_does_not_stick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive_locking_mode, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
