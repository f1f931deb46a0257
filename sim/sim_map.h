/* sim_map.h -- string-keyed hash map and pointer vector for the simulator's in-memory state. */
#ifndef TTDM_SIM_MAP_H
#define TTDM_SIM_MAP_H

#include <stddef.h>

/*
 * Open-addressing map from a C string to a pointer. Keys are borrowed: they must live as
 * long as the entry (they are fields of the stored objects). Values are not owned. There is
 * no removal: the simulator forgets things only all at once (reset).
 */
struct ttdm_sim_map_slot {
    const char *key;
    void *value;
};

struct ttdm_sim_map {
    struct ttdm_sim_map_slot *slots;
    size_t cap; /* power of two, 0 before the first put */
    size_t n;
};

void ttdm_sim_map_init(struct ttdm_sim_map *m);
void ttdm_sim_map_cleanup(struct ttdm_sim_map *m);
/* NULL when absent (or key is NULL). */
void *ttdm_sim_map_get(const struct ttdm_sim_map *m, const char *key);
/* Inserts or replaces. */
void ttdm_sim_map_put(struct ttdm_sim_map *m, const char *key, void *value);

/* Growable array of pointers; items are not owned. */
struct ttdm_sim_vec {
    void **items;
    size_t n;
    size_t cap;
};

void ttdm_sim_vec_init(struct ttdm_sim_vec *v);
void ttdm_sim_vec_cleanup(struct ttdm_sim_vec *v);
void ttdm_sim_vec_push(struct ttdm_sim_vec *v, void *item);
/* Removes item i by moving the last one into its place (order is not kept). */
void ttdm_sim_vec_swap_remove(struct ttdm_sim_vec *v, size_t i);

#endif /* TTDM_SIM_MAP_H */
