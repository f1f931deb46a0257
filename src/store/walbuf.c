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
#define WRITE_MAX (124 * 1024)

/*
 * A buffered -wal file. The default VFS's own file object lives in the space SQLite
 * allocates after this one (szOsFile covers both). Files other than -wal files are opened
 * by the default VFS directly into SQLite's allocation, with its methods: they cost nothing.
 */
struct wal_file {
    sqlite3_file base;   /* pMethods = &wal_methods */
    sqlite3_file *real;  /* the default VFS's file */
    unsigned char *buf;  /* frames not yet written; NULL until the first write */
    size_t len;          /* bytes in buf */
    sqlite3_int64 start; /* file offset of buf[0] */
};

/* Rounded so that the default VFS's file that follows is aligned for any type. */
#define WAL_FILE_SIZE ((sizeof(struct wal_file) + 15) & ~(size_t)15)

static sqlite3_vfs walbuf_vfs;
static sqlite3_vfs *real_vfs;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_rc;
static atomic_uint_fast64_t writes_asked, writes_done, bytes_written;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((struct wal_file *)f)->real;
}

/* The default VFS writes at most 128 KiB - 1 bytes per call (it masks the length: SQLite
 * itself never writes more than a page and its header at once), so longer runs go in
 * pieces that stay under that. */
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

static int flush(struct wal_file *w)
{
    int rc;

    if (w->len == 0)
        return SQLITE_OK;
    rc = write_run(w->real, w->buf, w->len, w->start);
    /* On failure the bytes are dropped: SQLite sees the error in the sync, read or size that
     * asked for the flush, fails the transaction, and its frames are never published. */
    w->len = 0;
    return rc;
}

static int wal_close(sqlite3_file *f)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush(w);
    int rc2 = w->real->pMethods->xClose(w->real);

    sqlite3_free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    int rc = flush((struct wal_file *)f);

    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xRead(real_of(f), p, n, off);
}

/* Appends to the gathered run when the write continues it; anything else (SQLite
 * rewriting a frame of the same transaction, the header of a restarted WAL) writes the run
 * first, so the file sees every write in the order SQLite made it. */
static int wal_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc;

    atomic_fetch_add_explicit(&writes_asked, 1, memory_order_relaxed);
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
    if (w->buf == NULL || (size_t)n >= BUF_SIZE)
        return write_run(w->real, p, (size_t)n, off);
    memcpy(w->buf, p, (size_t)n);
    w->len = (size_t)n;
    w->start = off;
    return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush((struct wal_file *)f);

    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    int rc = flush((struct wal_file *)f);

    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((struct wal_file *)f);

    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int wal_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int wal_unlock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int wal_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

/* Some file controls look at the file's size or contents: all see it written. */
static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    int rc = flush((struct wal_file *)f);

    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int wal_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int wal_device_characteristics(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int wal_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}

static int wal_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void wal_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int wal_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

/* No memory map where the default VFS's file has none (methods older than version 3):
 * SQLite then reads instead. */
static int wal_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
    int rc;

    *out = NULL;
    if (real_of(f)->pMethods->iVersion < 3)
        return SQLITE_OK;
    rc = flush((struct wal_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}

static int wal_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    if (real_of(f)->pMethods->iVersion < 3)
        return SQLITE_OK;
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

static const sqlite3_io_methods wal_methods = {
    .iVersion = 3,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device_characteristics,
    .xShmMap = wal_shm_map,
    .xShmLock = wal_shm_lock,
    .xShmBarrier = wal_shm_barrier,
    .xShmUnmap = wal_shm_unmap,
    .xFetch = wal_fetch,
    .xUnfetch = wal_unfetch,
};

static int vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                    int *out_flags)
{
    struct wal_file *w = (struct wal_file *)f;
    sqlite3_file *real;
    int rc;

    (void)vfs;
    if ((flags & SQLITE_OPEN_WAL) == 0)
        return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
    real = (sqlite3_file *)((unsigned char *)f + WAL_FILE_SIZE);
    memset(w, 0, sizeof(*w));
    rc = real_vfs->xOpen(real_vfs, name, real, flags, out_flags);
    if (rc != SQLITE_OK)
        return rc; /* base.pMethods stays NULL: SQLite will not close it */
    /* Without power-safe overwrite SQLite pads the WAL to a sector after its sync, and
     * publishes frames written after that sync: those must reach the file at once. */
    if ((real->pMethods->xDeviceCharacteristics(real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE) == 0) {
        /* Move the default VFS's file to the start of the allocation and use it as is. */
        real->pMethods->xClose(real);
        return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
    }
    w->real = real;
    w->base.pMethods = &wal_methods;
    return SQLITE_OK;
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
        .szOsFile = (int)WAL_FILE_SIZE + real_vfs->szOsFile,
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
