/* lcache.c -- a small lookup cache: string keys to two integers, trusted for a while. */
#include "util/lcache.h"

#include <string.h>

#include "util/alloc.h"
#include "util/clock.h"
#include "util/str.h"

struct ttdm_lcache_entry {
    char key[TTDM_LCACHE_KEY_MAX];
    int64_t a, b;
    int64_t read_ms; /* monotonic; 0: empty */
};

void ttdm_lcache_init(struct ttdm_lcache *c, size_t n_slots, int64_t ttl_ms)
{
    size_t n = 1;
    while (n < n_slots)
        n <<= 1;
    pthread_mutex_init(&c->lock, NULL);
    c->slots = ttdm_calloc(n, sizeof(*c->slots));
    c->n_slots = n;
    c->ttl_ms = ttl_ms;
    c->gen = 0;
}

void ttdm_lcache_cleanup(struct ttdm_lcache *c)
{
    if (!c->slots)
        return;
    ttdm_free(c->slots);
    c->slots = NULL;
    pthread_mutex_destroy(&c->lock);
}

static struct ttdm_lcache_entry *slot_of(struct ttdm_lcache *c, const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return &c->slots[h & (c->n_slots - 1)];
}

bool ttdm_lcache_get(struct ttdm_lcache *c, const char *key, int64_t *a, int64_t *b)
{
    struct ttdm_lcache_entry *e = slot_of(c, key);
    int64_t now = ttdm_clock_mono_ms();
    bool hit;

    pthread_mutex_lock(&c->lock);
    hit = e->read_ms != 0 && now - e->read_ms < c->ttl_ms && strcmp(e->key, key) == 0;
    if (hit) {
        *a = e->a;
        *b = e->b;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

uint64_t ttdm_lcache_gen(struct ttdm_lcache *c)
{
    uint64_t gen;
    pthread_mutex_lock(&c->lock);
    gen = c->gen;
    pthread_mutex_unlock(&c->lock);
    return gen;
}

void ttdm_lcache_put(struct ttdm_lcache *c, uint64_t gen, int64_t read_ms, const char *key,
                     int64_t a, int64_t b)
{
    struct ttdm_lcache_entry *e = slot_of(c, key);

    if (strlen(key) >= sizeof(e->key) || read_ms == 0)
        return;
    pthread_mutex_lock(&c->lock);
    if (gen == c->gen) {
        ttdm_strlcpy(e->key, key, sizeof(e->key));
        e->a = a;
        e->b = b;
        e->read_ms = read_ms;
    }
    pthread_mutex_unlock(&c->lock);
}

void ttdm_lcache_clear(struct ttdm_lcache *c)
{
    pthread_mutex_lock(&c->lock);
    memset(c->slots, 0, c->n_slots * sizeof(*c->slots));
    c->gen++;
    pthread_mutex_unlock(&c->lock);
}
