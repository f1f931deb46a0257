/* sim_map.c -- string-keyed hash map and pointer vector for the simulator's in-memory state. */
#include "sim_map.h"

#include <stdint.h>
#include <string.h>

#include "util/alloc.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void ttdm_sim_map_init(struct ttdm_sim_map *m)
{
    memset(m, 0, sizeof(*m));
}

void ttdm_sim_map_cleanup(struct ttdm_sim_map *m)
{
    ttdm_free(m->slots);
    memset(m, 0, sizeof(*m));
}

static struct ttdm_sim_map_slot *find_slot(struct ttdm_sim_map_slot *slots, size_t cap,
                                           const char *key)
{
    size_t i = (size_t)hash(key) & (cap - 1);
    while (slots[i].key && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

void *ttdm_sim_map_get(const struct ttdm_sim_map *m, const char *key)
{
    struct ttdm_sim_map_slot *s;
    if (!key || m->cap == 0)
        return NULL;
    s = find_slot(m->slots, m->cap, key);
    return s->key ? s->value : NULL;
}

static void grow(struct ttdm_sim_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct ttdm_sim_map_slot *slots = ttdm_calloc(cap, sizeof(*slots));
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key)
            *find_slot(slots, cap, m->slots[i].key) = m->slots[i];
    }
    ttdm_free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

void ttdm_sim_map_put(struct ttdm_sim_map *m, const char *key, void *value)
{
    struct ttdm_sim_map_slot *s;
    /* Keep the load under one half so probe chains stay short. */
    if ((m->n + 1) * 2 > m->cap)
        grow(m);
    s = find_slot(m->slots, m->cap, key);
    if (!s->key)
        m->n++;
    s->key = key;
    s->value = value;
}

void ttdm_sim_vec_init(struct ttdm_sim_vec *v)
{
    memset(v, 0, sizeof(*v));
}

void ttdm_sim_vec_cleanup(struct ttdm_sim_vec *v)
{
    ttdm_free(v->items);
    memset(v, 0, sizeof(*v));
}

void ttdm_sim_vec_push(struct ttdm_sim_vec *v, void *item)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->items = ttdm_realloc(v->items, v->cap * sizeof(*v->items));
    }
    v->items[v->n++] = item;
}

void ttdm_sim_vec_swap_remove(struct ttdm_sim_vec *v, size_t i)
{
    if (i >= v->n)
        return;
    v->items[i] = v->items[v->n - 1];
    v->n--;
}
