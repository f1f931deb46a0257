/* group_commit.c -- one writer thread that batches callers' write operations into one commit. */
#include "store/group_commit.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/alloc.h"
#include "util/log.h"

#define LOG_MODULE "store"

/*
 * Why a thread and not leader/follower: the writer connection is then only ever touched by
 * one thread, and a caller's savepoint always runs in a transaction that the same thread
 * opens and commits, which keeps the failure handling below simple. The price is one
 * wake-up per caller, small next to an fsync.
 *
 * Batching needs no timer: while one batch is being fsynced, new operations queue up, and
 * the next batch takes all of them (up to max_batch). Under light load a batch is one
 * operation and latency is one commit.
 *
 * Each caller sleeps on its own semaphore rather than on a condition variable of the queue:
 * a woken caller then does not have to take the queue mutex again, so waking a whole batch
 * does not pile its callers up on that mutex, and the writer never holds it while it wakes
 * anyone.
 *
 * Checkpoints stay SQLite's automatic ones, inside the writer's commit: a checkpointer
 * thread with its own connection was measured slower on 2 vCPUs (it competes for the CPU
 * the writer needs and copies the same pages more often).
 */

struct write_op {
    ttdm_write_fn fn;
    void *arg;
    enum ttdm_err result;
    ttdm_write_done_fn on_done; /* asynchronous op (heap): called instead of posting `done` */
    sem_t done;                 /* synchronous op (caller's stack): posted when result is final */
    struct write_op *next;
};

struct ttdm_group_commit {
    struct ttdm_sql_conn *conn;
    int max_batch;
    struct write_op **batch; /* max_batch slots, writer thread only */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the writer waits here for work */
    struct write_op *head;
    struct write_op *tail;
    bool writer_idle; /* waiting on `wake` */
    bool stopping;

    uint64_t commits;
    uint64_t ops;
    uint64_t largest_batch;
};

/* Marks ops[from, to) that had succeeded as failed: their transaction is gone. */
static void fail_succeeded(struct write_op **ops, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (ops[i]->result == TTDM_OK)
            ops[i]->result = TTDM_ERR_STORAGE;
    }
}

static void fail_all(struct write_op **ops, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        ops[i]->result = TTDM_ERR_STORAGE;
}

/*
 * A batch of asynchronous (replayable) operations only, without savepoints: they cost 9 %
 * of the writer under load, and failures are rare. True when committed with every result
 * TTDM_OK; otherwise nothing of it stays and the caller runs the batch with run_batch.
 */
static bool run_batch_fast(struct ttdm_group_commit *gc, struct write_op **ops, size_t n)
{
    struct ttdm_sql_conn *c = gc->conn;

    for (size_t i = 0; i < n; i++) {
        if (ops[i]->on_done == NULL)
            return false;
    }
    if (ttdm_sql_exec_sql(c, "BEGIN IMMEDIATE") != TTDM_OK)
        return false;
    for (size_t i = 0; i < n; i++) {
        ops[i]->result = ops[i]->fn(c, ops[i]->arg);
        if (ops[i]->result != TTDM_OK || sqlite3_get_autocommit(c->db)) {
            if (!sqlite3_get_autocommit(c->db))
                ttdm_sql_exec_sql(c, "ROLLBACK");
            return false;
        }
    }
    if (ttdm_sql_exec_sql(c, "COMMIT") == TTDM_OK)
        return true;
    if (!sqlite3_get_autocommit(c->db))
        ttdm_sql_exec_sql(c, "ROLLBACK");
    return false;
}

/* Runs one batch in one transaction; every op's result is set on return. */
static bool run_batch(struct ttdm_group_commit *gc, struct write_op **ops, size_t n)
{
    struct ttdm_sql_conn *c = gc->conn;
    size_t first = 0; /* first op of the open transaction */
    bool committed = false;

    if (ttdm_sql_exec_sql(c, "BEGIN IMMEDIATE") != TTDM_OK) {
        fail_all(ops, 0, n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        struct write_op *op = ops[i];

        if (ttdm_sql_exec_sql(c, "SAVEPOINT op") != TTDM_OK) {
            op->result = TTDM_ERR_STORAGE;
        } else {
            op->result = op->fn(c, op->arg);
            if (op->result == TTDM_OK) {
                if (ttdm_sql_exec_sql(c, "RELEASE op") != TTDM_OK)
                    op->result = TTDM_ERR_STORAGE;
            } else if (!sqlite3_get_autocommit(c->db)) {
                /* ROLLBACK TO keeps the savepoint open; RELEASE then closes it. */
                ttdm_sql_exec_sql(c, "ROLLBACK TO op");
                ttdm_sql_exec_sql(c, "RELEASE op");
            }
        }
        /* Some errors (I/O, disk full) make SQLite roll the whole transaction back: the
         * operations before this one in it are lost too. Start over for the rest. */
        if (sqlite3_get_autocommit(c->db)) {
            LOG_ERROR(LOG_MODULE, "transaction aborted by SQLite; failing %zu operation(s)",
                      i + 1 - first);
            fail_succeeded(ops, first, i + 1);
            first = i + 1;
            if (first < n && ttdm_sql_exec_sql(c, "BEGIN IMMEDIATE") != TTDM_OK) {
                fail_all(ops, first, n);
                return false;
            }
        }
    }
    if (first < n) {
        if (ttdm_sql_exec_sql(c, "COMMIT") == TTDM_OK) {
            committed = true;
        } else {
            ttdm_sql_fail(c, "commit failed");
            if (!sqlite3_get_autocommit(c->db))
                ttdm_sql_exec_sql(c, "ROLLBACK");
            fail_succeeded(ops, first, n);
        }
    }
    return committed;
}

static void *writer_main(void *arg)
{
    struct ttdm_group_commit *gc = arg;

    pthread_setname_np(pthread_self(), "ttdm-writer"); /* for top -H and profiles */
    pthread_mutex_lock(&gc->mu);
    for (;;) {
        size_t n = 0;
        bool committed;

        while (gc->head == NULL && !gc->stopping) {
            gc->writer_idle = true;
            pthread_cond_wait(&gc->wake, &gc->mu);
            gc->writer_idle = false;
        }
        if (gc->head == NULL)
            break; /* stopping and drained */
        while (gc->head != NULL && n < (size_t)gc->max_batch) {
            gc->batch[n++] = gc->head;
            gc->head = gc->head->next;
        }
        if (gc->head == NULL)
            gc->tail = NULL;
        pthread_mutex_unlock(&gc->mu);

        committed = run_batch_fast(gc, gc->batch, n);
        if (!committed)
            committed = run_batch(gc, gc->batch, n);
        /* A synchronous caller's op lives on its stack and is gone as soon as its semaphore
         * is posted: nothing may touch it after sem_post. */
        for (size_t i = 0; i < n; i++) {
            struct write_op *op = gc->batch[i];
            if (op->on_done != NULL) {
                op->on_done(op->arg, op->result);
                ttdm_free(op);
            } else {
                sem_post(&op->done);
            }
        }

        pthread_mutex_lock(&gc->mu);
        if (committed)
            gc->commits++;
        gc->ops += n;
        if (n > gc->largest_batch)
            gc->largest_batch = n;
    }
    pthread_mutex_unlock(&gc->mu);
    return NULL;
}

struct ttdm_group_commit *ttdm_group_commit_start(struct ttdm_sql_conn *conn, int max_batch)
{
    struct ttdm_group_commit *gc = ttdm_calloc(1, sizeof(*gc));

    gc->conn = conn;
    gc->max_batch = max_batch > 0 ? max_batch : 1;
    gc->batch = ttdm_calloc((size_t)gc->max_batch, sizeof(*gc->batch));
    pthread_mutex_init(&gc->mu, NULL);
    pthread_cond_init(&gc->wake, NULL);
    if (pthread_create(&gc->thread, NULL, writer_main, gc) != 0) {
        LOG_ERROR(LOG_MODULE, "cannot start the database writer thread");
        ttdm_group_commit_stop(gc);
        return NULL;
    }
    gc->thread_started = true;
    return gc;
}

/* Appends op to the queue; false when the store is closing. */
static bool enqueue(struct ttdm_group_commit *gc, struct write_op *op)
{
    pthread_mutex_lock(&gc->mu);
    if (gc->stopping) {
        pthread_mutex_unlock(&gc->mu);
        LOG_ERROR(LOG_MODULE, "write after the store was closed");
        return false;
    }
    if (gc->tail != NULL)
        gc->tail->next = op;
    else
        gc->head = op;
    gc->tail = op;
    if (gc->writer_idle)
        pthread_cond_signal(&gc->wake);
    pthread_mutex_unlock(&gc->mu);
    return true;
}

enum ttdm_err ttdm_group_commit_run(struct ttdm_group_commit *gc, ttdm_write_fn fn, void *arg)
{
    struct write_op op = {.fn = fn, .arg = arg, .result = TTDM_ERR_STORAGE};

    if (sem_init(&op.done, 0, 0) != 0) {
        LOG_ERROR(LOG_MODULE, "cannot create a semaphore");
        return TTDM_ERR_STORAGE;
    }
    if (!enqueue(gc, &op)) {
        sem_destroy(&op.done);
        return TTDM_ERR_STORAGE;
    }
    while (sem_wait(&op.done) != 0 && errno == EINTR)
        ;
    sem_destroy(&op.done);
    return op.result;
}

enum ttdm_err ttdm_group_commit_submit(struct ttdm_group_commit *gc, ttdm_write_fn fn, void *arg,
                                       ttdm_write_done_fn on_done)
{
    struct write_op *op = ttdm_calloc(1, sizeof(*op));

    op->fn = fn;
    op->arg = arg;
    op->result = TTDM_ERR_STORAGE;
    op->on_done = on_done;
    if (!enqueue(gc, op)) {
        ttdm_free(op);
        return TTDM_ERR_STORAGE;
    }
    return TTDM_OK;
}

void ttdm_group_commit_stats(struct ttdm_group_commit *gc, uint64_t *commits, uint64_t *ops,
                             uint64_t *largest_batch)
{
    pthread_mutex_lock(&gc->mu);
    if (commits != NULL)
        *commits = gc->commits;
    if (ops != NULL)
        *ops = gc->ops;
    if (largest_batch != NULL)
        *largest_batch = gc->largest_batch;
    pthread_mutex_unlock(&gc->mu);
}

void ttdm_group_commit_stop(struct ttdm_group_commit *gc)
{
    if (gc == NULL)
        return;
    if (gc->thread_started) {
        pthread_mutex_lock(&gc->mu);
        gc->stopping = true;
        pthread_cond_signal(&gc->wake);
        pthread_mutex_unlock(&gc->mu);
        pthread_join(gc->thread, NULL);
    }
    ttdm_sql_close(gc->conn);
    pthread_cond_destroy(&gc->wake);
    pthread_mutex_destroy(&gc->mu);
    ttdm_free(gc->batch);
    ttdm_free(gc);
}
