/* lcache.h -- a small lookup cache: string keys to two integers, trusted for a while. */
#ifndef TTDM_LCACHE_H
#define TTDM_LCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * For answers read from the database on a hot path (which channel a business id goes to,
 * whose an API key is). Fixed size, one entry per slot (a newer key replaces an older one),
 * thread-safe. An entry is trusted for ttl_ms after it was read, so a change made by another
 * process shows within that time; a change made by this one calls ttdm_lcache_clear.
 *
 * A reader that misses takes ttdm_lcache_gen() before it reads the database and passes it
 * to ttdm_lcache_put: if the cache was cleared in between, the read is not kept.
 */
#define TTDM_LCACHE_KEY_MAX 128

struct ttdm_lcache_entry;

struct ttdm_lcache {
    pthread_mutex_t lock;
    struct ttdm_lcache_entry *slots;
    size_t n_slots; /* a power of two */
    int64_t ttl_ms;
    uint64_t gen; /* bumped by every clear */
};

void ttdm_lcache_init(struct ttdm_lcache *c, size_t n_slots, int64_t ttl_ms);
void ttdm_lcache_cleanup(struct ttdm_lcache *c);
/* True with the values when `key` was put less than ttl_ms ago (monotonic clock). */
bool ttdm_lcache_get(struct ttdm_lcache *c, const char *key, int64_t *a, int64_t *b);
uint64_t ttdm_lcache_gen(struct ttdm_lcache *c);
/* Remembers what the database said at monotonic time `read_ms`, if nothing was cleared
 * since `gen` was taken. Keys of TTDM_LCACHE_KEY_MAX bytes or more are not kept. */
void ttdm_lcache_put(struct ttdm_lcache *c, uint64_t gen, int64_t read_ms, const char *key,
                     int64_t a, int64_t b);
void ttdm_lcache_clear(struct ttdm_lcache *c);

#endif /* TTDM_LCACHE_H */
