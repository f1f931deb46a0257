/* walbuf.h -- a SQLite VFS that writes a commit's WAL frames with one system call. */
#ifndef TTDM_WALBUF_H
#define TTDM_WALBUF_H

#include <stdint.h>

/*
 * SQLite writes each WAL frame with two pwrite() calls, its 24-byte header and its page: a
 * webhook batch of 32 events dirties about 85 pages, so 170 calls per commit, each a trip
 * into the kernel that costs more on a virtual machine than the copy it does. This VFS
 * sits on top of the default one and gathers the contiguous writes to a -wal file in
 * memory until SQLite syncs, reads, truncates or sizes that file, or releases its WAL write
 * lock, then writes them at once. Every other file and call goes straight to the default
 * VFS (the database file is wrapped only to see that lock released).
 *
 * Durability is unchanged only where every commit syncs the WAL, which is what
 * PRAGMA synchronous=FULL does: the gathered frames reach the file in that sync, before
 * fdatasync and before SQLite publishes the commit to other connections in the wal-index.
 * So use it only for a connection that runs synchronous=FULL (or EXTRA). Nothing stays
 * gathered after a write transaction ends, so a rolled-back transaction's frames cannot land
 * on a later commit of another writer (also when leaving locking_mode=EXCLUSIVE). A write
 * that fails fails the rest of its transaction, its commit included. Where the database
 * does not promise power-safe overwrite (psow=0), SQLite pads the WAL after its sync and
 * the VFS leaves it unbuffered.
 */

#define TTDM_WALBUF_VFS "ttdm-walbuf"

/* Registers the VFS under TTDM_WALBUF_VFS, not as the default; safe to call from several
 * threads and more than once. Returns 0 or an SQLite error code. */
int ttdm_walbuf_register(void);

/* Counts since the process started, for tests and benchmarks. */
struct ttdm_walbuf_stats {
    uint64_t writes_asked;  /* writes SQLite asked for on buffered -wal files */
    uint64_t writes_done;   /* write system calls made for them */
    uint64_t bytes_written; /* bytes those calls wrote */
};

void ttdm_walbuf_stats(struct ttdm_walbuf_stats *out);

#endif /* TTDM_WALBUF_H */
