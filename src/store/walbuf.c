/* walbuf.c -- a SQLite VFS that writes a commit's WAL frames with one system call. */
#include "store/walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Larger than a webhook batch's frames (~350 KiB for 32 events); a transaction that writes
 * more is written in pieces of this size. */
#define BUF_SIZE (1024 * 1024)
/* The default VFS writes at most 128 KiB - 1 bytes per call (it masks the length: SQLite
 * itself never writes more than a page and its header at once). */
#define WRITE_MAX (124 * 1024)
/* SQLite's WAL write lock: slot 0 of the wal-index locks (wal.c, WAL_WRITE_LOCK). */
#define WAL_WRITE_LOCK 0

/*
 * Main database files and their -wal files are wrapped; the default VFS's own file object
 * lives in the space SQLite allocates after the wrapper (szOsFile covers both). Every other
 * file (journals, temporary files) is opened by the default VFS directly into SQLite's
 * allocation, with its own methods.
 *
 * The database file is wrapped for one reason: SQLite takes and releases its WAL write lock
 * through it (xShmLock), and nothing may stay gathered once that lock is released (a
 * rolled-back transaction's frames, written later, could land on another writer's commit).
 */
struct shim_file {
    sqlite3_file base;  /* pMethods: db_methods or wal_methods */
    sqlite3_file *real; /* the default VFS's file */
};

struct wal_file;

struct db_file {
    struct shim_file f;
    const char *name;     /* as SQLite passed it to xOpen: its -wal file finds us by it */
    struct wal_file *wal; /* our open -wal file, or NULL */
    struct db_file *next; /* the list of open database files */
};

struct wal_file {
    struct shim_file f;
    struct db_file *db;
    unsigned char *buf;  /* frames not yet written; NULL until the first write */
    size_t len;          /* bytes in buf */
    sqlite3_int64 start; /* file offset of buf[0] */
    /* A failed write dropped the bytes from lost_from on. Until the write transaction ends
     * (its lock released) every write and sync fails, and every read of those bytes, so
     * that no commit can include frames that never reached the file. */
    int lost_rc;
    sqlite3_int64 lost_from;
};

#define MAX2(a, b) ((a) > (b) ? (a) : (b))
/* Rounded so that the default VFS's file that follows is aligned for any type. */
#define SHIM_SIZE ((MAX2(sizeof(struct db_file), sizeof(struct wal_file)) + 15) & ~(size_t)15)

static sqlite3_vfs walbuf_vfs;
static sqlite3_vfs *real_vfs;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_rc;
static pthread_mutex_t open_dbs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct db_file *open_dbs;
static atomic_uint_fast64_t writes_asked, writes_done, bytes_written;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((struct shim_file *)f)->real;
}

static int write_run(sqlite3_file *real, const unsigned char *p, size_t n, sqlite3_int64 off)
{
    int rc = SQLITE_OK;

    while (n > 0 && rc == SQLITE_OK) {
        size_t piece = n < WRITE_MAX ? n : WRITE_MAX;

        rc = real->pMethods->xWrite(real, p, (int)piece, off);
        atomic_fetch_add_explicit(&writes_done, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&bytes_written, piece, memory_order_relaxed);
        p += piece;
        n -= piece;
        off += (sqlite3_int64)piece;
    }
    return rc;
}

/* Bytes from `from` on will never reach the file. */
static int lose(struct wal_file *w, sqlite3_int64 from, int rc)
{
    if (w->lost_rc == SQLITE_OK || from < w->lost_from)
        w->lost_from = from;
    /* SQLITE_FULL from a read would make SQLite undo only the statement and go on. */
    w->lost_rc = rc == SQLITE_FULL ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    return w->lost_rc;
}

static int flush(struct wal_file *w)
{
    int rc;

    if (w->len == 0)
        return SQLITE_OK;
    rc = write_run(w->f.real, w->buf, w->len, w->start);
    w->len = 0;
    return rc == SQLITE_OK ? SQLITE_OK : lose(w, w->start, rc);
}

/* ---- passed through for both --------------------------------------------------------- */

static int shim_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xRead(real_of(f), p, n, off);
}

static int shim_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xWrite(real_of(f), p, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

/* No memory map where the default VFS's file has none (methods older than version 3):
 * SQLite then reads instead. */
static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
    *out = NULL;
    if (real_of(f)->pMethods->iVersion < 3)
        return SQLITE_OK;
    return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}

static int shim_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int shim_unlock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int shim_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int shim_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int shim_device_characteristics(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int shim_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}

static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int shim_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    if (real_of(f)->pMethods->iVersion < 3)
        return SQLITE_OK;
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

/* ---- the -wal file ------------------------------------------------------------------- */

static int wal_close(sqlite3_file *f)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush(w);
    int rc2;

    pthread_mutex_lock(&open_dbs_mu);
    if (w->db != NULL)
        w->db->wal = NULL;
    pthread_mutex_unlock(&open_dbs_mu);
    rc2 = w->f.real->pMethods->xClose(w->f.real);
    sqlite3_free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush(w);

    if (rc != SQLITE_OK)
        return SQLITE_IOERR_WRITE;
    if (w->lost_rc != SQLITE_OK && off + n > w->lost_from)
        return SQLITE_IOERR_READ;
    return shim_read(f, p, n, off);
}

/* Appends to the gathered run when the write continues it; anything else (SQLite
 * rewriting a frame of the same transaction, the header of a restarted WAL) writes the run
 * first, so the file sees every write in the order SQLite made it. */
static int wal_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc;

    atomic_fetch_add_explicit(&writes_asked, 1, memory_order_relaxed);
    if (w->lost_rc != SQLITE_OK)
        return w->lost_rc;
    if (w->len > 0 && off == w->start + (sqlite3_int64)w->len && w->len + (size_t)n <= BUF_SIZE) {
        memcpy(w->buf + w->len, p, (size_t)n);
        w->len += (size_t)n;
        return SQLITE_OK;
    }
    rc = flush(w);
    if (rc != SQLITE_OK)
        return rc;
    if (w->buf == NULL && (size_t)n < BUF_SIZE)
        w->buf = sqlite3_malloc(BUF_SIZE);
    if (w->buf == NULL || (size_t)n >= BUF_SIZE) {
        rc = write_run(w->f.real, p, (size_t)n, off);
        return rc == SQLITE_OK ? SQLITE_OK : lose(w, off, rc);
    }
    memcpy(w->buf, p, (size_t)n);
    w->len = (size_t)n;
    w->start = off;
    return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush(w);

    if (w->lost_rc != SQLITE_OK && size <= w->lost_from)
        rc = w->lost_rc = SQLITE_OK; /* what was lost is cut off anyway */
    return rc != SQLITE_OK ? rc : shim_truncate(f, size);
}

/* With synchronous=FULL this runs at every commit, before SQLite publishes it. */
static int wal_sync(sqlite3_file *f, int flags)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush(w);

    if (rc == SQLITE_OK)
        rc = w->lost_rc;
    return rc != SQLITE_OK ? rc : shim_sync(f, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((struct wal_file *)f);

    return rc != SQLITE_OK ? rc : shim_file_size(f, size);
}

/* Some file controls look at the file's size or contents: all see it written. */
static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    int rc = flush((struct wal_file *)f);

    return rc != SQLITE_OK ? rc : shim_file_control(f, op, arg);
}

static int wal_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
    int rc = flush((struct wal_file *)f);

    *out = NULL;
    return rc != SQLITE_OK ? rc : shim_fetch(f, off, n, out);
}

/* The write transaction is over: a commit has written everything in its sync already, so
 * what is left is a rolled-back transaction's frames, written while the lock is still held
 * (they lie past the last commit, as they would without this VFS) and dropped if that
 * fails. Whatever was lost belonged to this transaction, which has failed or rolled back. */
static void end_of_transaction(struct wal_file *w)
{
    if (w->len > 0)
        write_run(w->f.real, w->buf, w->len, w->start);
    w->len = 0;
    w->lost_rc = SQLITE_OK;
}

/* ---- the database file: everything passes through, and the end of a write transaction
 * writes what its -wal file still holds ------------------------------------------------ */

static int db_close(sqlite3_file *f)
{
    struct db_file *d = (struct db_file *)f;

    pthread_mutex_lock(&open_dbs_mu);
    for (struct db_file **p = &open_dbs; *p != NULL; p = &(*p)->next) {
        if (*p == d) {
            *p = d->next;
            break;
        }
    }
    if (d->wal != NULL)
        d->wal->db = NULL;
    pthread_mutex_unlock(&open_dbs_mu);
    return real_of(f)->pMethods->xClose(real_of(f));
}

static int db_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    struct db_file *d = (struct db_file *)f;

    if (d->wal != NULL && offset <= WAL_WRITE_LOCK && offset + n > WAL_WRITE_LOCK &&
        flags == (SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE))
        end_of_transaction(d->wal);
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

/* In locking_mode=EXCLUSIVE SQLite keeps the WAL write lock without xShmLock; leaving that
 * mode unlocks the database file instead. */
static int db_unlock(sqlite3_file *f, int level)
{
    struct db_file *d = (struct db_file *)f;

    if (d->wal != NULL)
        end_of_transaction(d->wal);
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static const sqlite3_io_methods wal_methods = {
    .iVersion = 3,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = shim_lock,
    .xUnlock = shim_unlock,
    .xCheckReservedLock = shim_check_reserved,
    .xFileControl = wal_file_control,
    .xSectorSize = shim_sector_size,
    .xDeviceCharacteristics = shim_device_characteristics,
    .xShmMap = shim_shm_map,
    .xShmLock = shim_shm_lock,
    .xShmBarrier = shim_shm_barrier,
    .xShmUnmap = shim_shm_unmap,
    .xFetch = wal_fetch,
    .xUnfetch = shim_unfetch,
};

static const sqlite3_io_methods db_methods = {
    .iVersion = 3,
    .xClose = db_close,
    .xRead = shim_read,
    .xWrite = shim_write,
    .xTruncate = shim_truncate,
    .xSync = shim_sync,
    .xFileSize = shim_file_size,
    .xLock = shim_lock,
    .xUnlock = db_unlock,
    .xCheckReservedLock = shim_check_reserved,
    .xFileControl = shim_file_control,
    .xSectorSize = shim_sector_size,
    .xDeviceCharacteristics = shim_device_characteristics,
    .xShmMap = shim_shm_map,
    .xShmLock = db_shm_lock,
    .xShmBarrier = shim_shm_barrier,
    .xShmUnmap = shim_shm_unmap,
    .xFetch = shim_fetch,
    .xUnfetch = shim_unfetch,
};

/* ---- the VFS ------------------------------------------------------------------------- */

static sqlite3_file *real_slot(sqlite3_file *f)
{
    return (sqlite3_file *)((unsigned char *)f + SHIM_SIZE);
}

static int open_db(sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
    struct db_file *d = (struct db_file *)f;
    sqlite3_file *real = real_slot(f);
    int rc;

    memset(d, 0, sizeof(*d));
    rc = real_vfs->xOpen(real_vfs, name, real, flags, out_flags);
    if (rc != SQLITE_OK)
        return rc; /* base.pMethods stays NULL: SQLite will not close it */
    d->f.real = real;
    d->name = name;
    d->f.base.pMethods = &db_methods;
    pthread_mutex_lock(&open_dbs_mu);
    d->next = open_dbs;
    open_dbs = d;
    pthread_mutex_unlock(&open_dbs_mu);
    return SQLITE_OK;
}

/*
 * Gathered only when its database file was opened here (for the write lock) and promises
 * power-safe overwrite: without it SQLite pads the WAL to a sector after its sync and
 * publishes frames written after that sync, which must then reach the file at once.
 */
static int open_wal(sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
    struct wal_file *w = (struct wal_file *)f;
    sqlite3_file *real = real_slot(f);
    const char *db_name = sqlite3_filename_database(name);
    struct db_file *d;
    int rc;

    pthread_mutex_lock(&open_dbs_mu);
    for (d = open_dbs; d != NULL; d = d->next) {
        if (d->name == db_name && d->wal == NULL)
            break;
    }
    if (d != NULL &&
        (shim_device_characteristics(&d->f.base) & SQLITE_IOCAP_POWERSAFE_OVERWRITE) == 0)
        d = NULL;
    if (d == NULL) {
        pthread_mutex_unlock(&open_dbs_mu);
        return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
    }
    memset(w, 0, sizeof(*w));
    rc = real_vfs->xOpen(real_vfs, name, real, flags, out_flags);
    if (rc == SQLITE_OK) {
        w->f.real = real;
        w->f.base.pMethods = &wal_methods;
        w->db = d;
        d->wal = w;
    }
    pthread_mutex_unlock(&open_dbs_mu);
    return rc; /* on failure base.pMethods stays NULL: SQLite will not close it */
}

static int vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                    int *out_flags)
{
    (void)vfs;
    if ((flags & SQLITE_OPEN_MAIN_DB) != 0 && name != NULL)
        return open_db(name, f, flags, out_flags);
    if ((flags & SQLITE_OPEN_WAL) != 0 && name != NULL)
        return open_wal(name, f, flags, out_flags);
    return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *vfs_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void vfs_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, lib, sym);
}

static void vfs_dl_close(sqlite3_vfs *vfs, void *lib)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, lib);
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int vfs_current_time_i64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static void register_vfs(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL || real_vfs->iVersion < 2) {
        register_rc = SQLITE_ERROR;
        return;
    }
    walbuf_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)SHIM_SIZE + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = TTDM_WALBUF_VFS,
        .xOpen = vfs_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_pathname,
        .xDlOpen = vfs_dl_open,
        .xDlError = vfs_dl_error,
        .xDlSym = vfs_dl_sym,
        .xDlClose = vfs_dl_close,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_last_error,
        .xCurrentTimeInt64 = vfs_current_time_i64,
    };
    register_rc = sqlite3_vfs_register(&walbuf_vfs, 0);
}

int ttdm_walbuf_register(void)
{
    pthread_once(&register_once, register_vfs);
    return register_rc;
}

void ttdm_walbuf_stats(struct ttdm_walbuf_stats *out)
{
    out->writes_asked = atomic_load_explicit(&writes_asked, memory_order_relaxed);
    out->writes_done = atomic_load_explicit(&writes_done, memory_order_relaxed);
    out->bytes_written = atomic_load_explicit(&bytes_written, memory_order_relaxed);
}
