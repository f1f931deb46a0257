/* json.h -- cJSON helpers: strict parsing of peer input and bounded typed getters. */
#ifndef TTDM_JSON_H
#define TTDM_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when data[0..len) is well-formed UTF-8 (cJSON does not check this itself). */
bool ttdm_utf8_valid(const char *data, size_t len);

/*
 * Parses exactly data[0..len) as one JSON value. On failure returns NULL and writes a
 * sentence naming the problem into err (e.g. "invalid JSON near byte 17",
 * "body is not valid UTF-8", "trailing data after JSON value at byte 30").
 * The caller owns the result (cJSON_Delete).
 */
cJSON *ttdm_json_parse(const char *data, size_t len, char *err, size_t err_size);

/*
 * A scope in which the cJSON nodes and strings that this thread allocates come from `buf`,
 * one bump each, instead of one malloc and one free each (a webhook is two parses of about
 * forty nodes). When `buf` is full, allocation falls back to malloc. Every tree allocated in
 * the scope must be deleted before ttdm_json_arena_end, which aborts otherwise (in every
 * build); a tree from outside the scope may be deleted inside it. Scopes nest. Whatever cJSON
 * allocates in a scope (cJSON_Print* included) is freed with cJSON_free, never free. Under
 * AddressSanitizer the unused part of the buffer is poisoned, so overflows stay visible.
 */
struct ttdm_json_arena {
    char *buf;
    size_t cap, used;
    size_t live; /* nodes and strings from buf not yet freed */
    struct ttdm_json_arena *outer;
};
void ttdm_json_arena_begin(struct ttdm_json_arena *a, void *buf, size_t cap);
void ttdm_json_arena_end(struct ttdm_json_arena *a);

/*
 * Typed getters on an object member. Each returns 0 when the member exists with the
 * right type and bounds, 1 when it is absent (or JSON null), -1 when it has the wrong type
 * or is out of bounds. Strings are borrowed from the cJSON tree.
 */
int ttdm_json_get_str(const cJSON *obj, const char *key, size_t max_len, const char **out);
int ttdm_json_get_i64(const cJSON *obj, const char *key, int64_t min, int64_t max, int64_t *out);
int ttdm_json_get_bool(const cJSON *obj, const char *key, bool *out);

/* Copy of a string member into dst (bounded); same return values as ttdm_json_get_str. */
int ttdm_json_copy_str(const cJSON *obj, const char *key, char *dst, size_t dst_size);

/* Adds an int64 as a JSON number (exact up to 2^53, which covers ms timestamps and row ids). */
void ttdm_json_add_i64(cJSON *obj, const char *key, int64_t v);

/* Serialises compactly, as cJSON_PrintUnformatted does (null where cJSON would fail); the
 * result is malloc'ed (never from an arena): the caller frees with cJSON_free or ttdm_free.
 * Never NULL (aborts on OOM). */
char *ttdm_json_print(const cJSON *v);

#endif /* TTDM_JSON_H */
