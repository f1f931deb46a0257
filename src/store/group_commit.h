/* group_commit.h -- one writer thread that batches callers' write operations into one commit. */
#ifndef TTDM_GROUP_COMMIT_H
#define TTDM_GROUP_COMMIT_H

#include <stdint.h>

#include "core/errors.h"
#include "store/sql.h"

/*
 * The body of one write operation, run on the writer thread inside its own SAVEPOINT of
 * the current batch's transaction. Anything but TTDM_OK rolls the savepoint back, so a
 * refusal or failure leaves no trace and never undoes another caller's operation.
 */
typedef enum ttdm_err (*ttdm_write_fn)(struct ttdm_sql_conn *c, void *arg);

struct ttdm_group_commit;

/*
 * Starts the writer thread, which owns `conn` from now on (closed by _stop, also when the
 * start fails). `max_batch` is the most operations per transaction. Returns NULL when the
 * thread cannot start.
 */
struct ttdm_group_commit *ttdm_group_commit_start(struct ttdm_sql_conn *conn, int max_batch);

/*
 * Queues fn(conn, arg) and blocks until the transaction holding it is committed (durable
 * as the connection's synchronous setting makes it) or rolled back. Returns fn's result,
 * or TTDM_ERR_STORAGE when the commit itself failed. Any thread but the writer may call it.
 */
enum ttdm_err ttdm_group_commit_run(struct ttdm_group_commit *gc, ttdm_write_fn fn, void *arg);

/* Called on the writer thread once an asynchronous operation is committed or failed. */
typedef void (*ttdm_write_done_fn)(void *arg, enum ttdm_err result);

/*
 * Queues fn(conn, arg) and returns at once; on_done(arg, result) follows on the writer
 * thread after the commit (or the failure). Returns TTDM_OK when queued, and only then is
 * on_done called, exactly once. on_done must be quick and must not call the group commit.
 *
 * fn may run more than once before on_done: a batch made only of asynchronous operations
 * runs without a savepoint per operation, and if one of them fails the whole transaction
 * is rolled back and the batch run again the careful way. So fn must set its outputs from
 * scratch and have no effect outside the connection.
 */
enum ttdm_err ttdm_group_commit_submit(struct ttdm_group_commit *gc, ttdm_write_fn fn, void *arg,
                                       ttdm_write_done_fn on_done);

/* Counters since start: committed transactions, operations run, largest batch. */
void ttdm_group_commit_stats(struct ttdm_group_commit *gc, uint64_t *commits, uint64_t *ops,
                             uint64_t *largest_batch);

/* Runs what is queued, stops the thread, closes the connection. NULL is a no-op. */
void ttdm_group_commit_stop(struct ttdm_group_commit *gc);

#endif /* TTDM_GROUP_COMMIT_H */
